/* fuzz.c -- helpers shared by the fuzz targets (see fuzz.h). */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

static int report_fd = 2;
static char dir[PATH_MAX];
static bool debug;

uint8_t fin_u8(struct fin *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

uint16_t fin_u16(struct fin *in)
{
    uint16_t v = fin_u8(in);
    return (uint16_t)(v | fin_u8(in) << 8);
}

uint32_t fin_u32(struct fin *in)
{
    uint32_t v = fin_u16(in);
    return v | (uint32_t)fin_u16(in) << 16;
}

uint64_t fin_u64(struct fin *in)
{
    uint64_t v = fin_u32(in);
    return v | (uint64_t)fin_u32(in) << 32;
}

const uint8_t *fin_bytes(struct fin *in, size_t want, size_t *got)
{
    const uint8_t *p = in->p;
    *got = want < in->n ? want : in->n;
    in->p += *got;
    in->n -= *got;
    return p;
}

bool fin_empty(const struct fin *in)
{
    return in->n == 0;
}

static void rm_rf(const char *path)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fuzz_note("could not remove %s", path);
}

static void remove_dir(void)
{
    if (!dir[0] || getpid() != (pid_t)strtol(strrchr(dir, '-') + 1, NULL, 10))
        return;  /* a child of ours (fork) leaves it to its parent */
    rm_rf(dir);
}

/* A target that crashed could not remove its scratch directory: remove
 * those of targets that are gone. */
static void remove_stale(const char *base)
{
    DIR *d = opendir(base);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        const char *dash = strrchr(e->d_name, '-');
        if (strncmp(e->d_name, "tend-fuzz-", 10) != 0 || !dash || !dash[1] ||
            strspn(dash + 1, "0123456789") != strlen(dash + 1))
            continue;
        pid_t pid = (pid_t)strtol(dash + 1, NULL, 10);
        if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", base, e->d_name);
            rm_rf(path);
        }
    }
    if (d)
        closedir(d);
}

void fuzz_setup(const char *target)
{
    static bool done;
    if (done)
        return;
    done = true;
    int fd = fcntl(2, F_DUPFD_CLOEXEC, 10);
    if (fd >= 0)
        report_fd = fd;
    const char *d = getenv("FUZZ_DEBUG");
    debug = d && *d && strcmp(d, "0") != 0;
    /* tend's own log lines are noise here: what matters is what the
     * oracles see */
    if (!debug)
        log_set_level((enum log_level)(LOG_ERROR + 1));
    /* a tmpfs if there is one: the decl target writes a file per input */
    const char *base = getenv("FUZZ_TMPDIR");
    if (!base || !*base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    mkdir(base, 0700);
    remove_stale(base);
    snprintf(dir, sizeof dir, "%s/tend-fuzz-%s-%d", base, target, (int)getpid());
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fuzz_note("cannot create %s: %s", dir, strerror(errno));
        abort();
    }
    atexit(remove_dir);
}

const char *fuzz_dir(void)
{
    return dir;
}

static void vsay(const char *prefix, const char *fmt, va_list ap)
{
    char msg[8192];
    int n = snprintf(msg, sizeof msg, "%s", prefix);
    n += vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    if (n > (int)sizeof msg - 2)
        n = (int)sizeof msg - 2;
    msg[n++] = '\n';
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = write(report_fd, msg + off, (size_t)n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

void fuzz_fail(const char *cls, const char *fmt, ...)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "fuzz-oracle: %s: ", cls);
    va_list ap;
    va_start(ap, fmt);
    vsay(prefix, fmt, ap);
    va_end(ap);
    abort();
}

bool fuzz_skip(const char *cls)
{
    static char list[1024];
    static bool read;
    if (!read) {
        const char *e = getenv("FUZZ_SKIP");
        snprintf(list, sizeof list, ",%s,", e ? e : "");
        read = true;
    }
    char pat[128];
    snprintf(pat, sizeof pat, ",%s,", cls);
    return strstr(list, pat) != NULL;
}

void fuzz_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay("fuzz: ", fmt, ap);
    va_end(ap);
}

bool fuzz_debug(void)
{
    return debug;
}

const char *fuzz_show(const void *p, size_t n)
{
    static char bufs[2][400];
    static int which;
    char *b = bufs[which ^= 1];
    const unsigned char *s = p;
    size_t o = 0;
    b[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (o > sizeof bufs[0] - 16) {
            o += (size_t)snprintf(b + o, sizeof bufs[0] - o, "...(%zu bytes)", n);
            break;
        }
        if (s[i] == '"' || s[i] == '\\')
            o += (size_t)snprintf(b + o, sizeof bufs[0] - o, "\\%c", s[i]);
        else if (s[i] >= 0x20 && s[i] < 0x7f)
            b[o++] = (char)s[i];
        else
            o += (size_t)snprintf(b + o, sizeof bufs[0] - o, "\\x%02x", s[i]);
    }
    if (o < sizeof bufs[0] - 2)
        b[o++] = '"';
    b[o] = '\0';
    return b;
}
