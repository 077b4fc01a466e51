/* cgroup.c -- cgroup v2 containment of incarnations (see cgroup.h). */
#include "core/cgroup.h"
#include "core/cgroup_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

struct cg_state cg_state = {.parent_fd = -1, .dir_fd = -1, .inotify_fd = -1};

/* ---- parsing ---- */

char *cgroup_parse_self(const char *text)
{
    for (const char *l = text; l && *l;) {
        size_t n = strcspn(l, "\n");
        if (n >= 3 && strncmp(l, "0::", 3) == 0 && n > 3)
            return xstrndup(l + 3, n - 3);
        l += n + (l[n] == '\n');
    }
    return NULL;
}

/* Field `i` (0-based, space-separated) of a mountinfo line, unescaped
 * (\040 and the like), as a new string; NULL if the line is shorter. */
static char *mi_field(const char *line, size_t len, int i)
{
    const char *p = line, *end = line + len;
    for (; i > 0; i--) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        if (!sp)
            return NULL;
        p = sp + 1;
    }
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    size_t n = sp ? (size_t)(sp - p) : (size_t)(end - p);
    char *out = xmalloc(n + 1), *o = out;
    for (size_t k = 0; k < n; k++) {
        if (p[k] == '\\' && k + 3 < n &&
            p[k + 1] >= '0' && p[k + 1] <= '3' && p[k + 2] >= '0' && p[k + 2] <= '7' &&
            p[k + 3] >= '0' && p[k + 3] <= '7') {
            *o++ = (char)((p[k + 1] - '0') * 64 + (p[k + 2] - '0') * 8 + (p[k + 3] - '0'));
            k += 3;
        } else {
            *o++ = p[k];
        }
    }
    *o = '\0';
    return out;
}

/* Whether the mount root `root` holds `path`: "/" holds all, "/a" holds
 * "/a" and "/a/...". */
static const char *below_root(const char *path, const char *root)
{
    if (strcmp(root, "/") == 0)
        return path;
    size_t n = strlen(root);
    if (strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/'))
        return path + n;
    return NULL;
}

char *cgroup_parse_mountinfo(const char *text, const char *path)
{
    for (const char *l = text; l && *l;) {
        size_t n = strcspn(l, "\n");
        const char *line = l;
        l += n + (l[n] == '\n');
        /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - TYPE SRC SUPER" */
        const char *sep = NULL;
        for (const char *s = line; s + 3 <= line + n; s++)
            if (s[0] == ' ' && s[1] == '-' && s[2] == ' ') {
                sep = s;
                break;
            }
        if (!sep || (size_t)(line + n - (sep + 3)) < 8 || strncmp(sep + 3, "cgroup2 ", 8) != 0)
            continue;
        char *root = mi_field(line, n, 3), *mnt = mi_field(line, n, 4);
        const char *rest = root && mnt ? below_root(path, root) : NULL;
        char *dir = NULL;
        if (rest) {
            while (*rest == '/')
                rest++;
            bool slash = *rest && !(mnt[0] && mnt[strlen(mnt) - 1] == '/');
            dir = xasprintf("%s%s%s", mnt, slash ? "/" : "", rest);
        }
        free(root);
        free(mnt);
        if (dir)
            return dir;
    }
    return NULL;
}

/* ---- small file helpers ---- */

char *cg_read_small(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap)
            buf = xrealloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return buf;
}

int cg_write_at(int dir, const char *name, const char *s)
{
    int fd = openat(dir, name, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, s, strlen(s));
    int e = errno;
    close(fd);
    errno = e;
    return n < 0 ? -1 : 0;
}

/* Remove the cgroup `name` under the directory fd `dir` with the cgroups
 * below it (a program may have made some: a nested tend that was
 * SIGKILLed cannot remove its own); 0, or -1 with errno (EBUSY: something
 * still runs there).  Only system calls (a signal handler uses it). */
static int rmdir_tree(int dir, const char *name, int depth)
{
    if (unlinkat(dir, name, AT_REMOVEDIR) == 0)
        return 0;  /* most have no cgroup below them */
    if (errno != EBUSY && errno != ENOTEMPTY)
        return -1;
    int fd = depth < 16 ? openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        char buf[512] __attribute__((aligned(8)));
        long n;
        while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
            for (long off = 0; off < n;) {
                struct dirent64 *e = (struct dirent64 *)(buf + off);
                off += e->d_reclen;
                if (e->d_type == DT_DIR && e->d_name[0] != '.')
                    rmdir_tree(fd, e->d_name, depth + 1);
            }
        }
        close(fd);
    }
    return unlinkat(dir, name, AT_REMOVEDIR);
}

/* ---- start ---- */

/* Remove what a tend that could not clean up (SIGKILLed) left under
 * `parent`: a tend-N cgroup whose tend N is gone and with nothing left
 * running anywhere in it.  (A tend that is starting has an empty one for
 * a moment: its pid is alive.) */
static void sweep_stale(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "tend-", 5) != 0 || e->d_type != DT_DIR)
            continue;
        long pid = strtol(e->d_name + 5, NULL, 10);
        if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char *events = xasprintf("%s/%s/cgroup.events", parent, e->d_name);
        char *text = cg_read_small(events);
        if (text && strstr(text, "populated 0"))
            rmdir_tree(dirfd(d), e->d_name, 0);
        free(text);
        free(events);
    }
    closedir(d);
}

static void inotify_cb(struct ev_loop *loop, ev_io *w, int revents);

/* Cgroups are off for `why` (a new string): said once. */
static void turn_off(char *why)
{
    cg_state.on = false;
    cg_state.why_not = why;
    log_info(NULL, "cgroups: not available (%s); using process groups", why);
}

void cgroup_init(struct ev_loop *loop)
{
    cg_state.loop = loop;
    const char *env = getenv("TEND_CGROUPS");
    if (env && strcmp(env, "0") == 0) {
        turn_off(xstrdup("turned off by TEND_CGROUPS=0"));
        return;
    }
    char *self = cg_read_small("/proc/self/cgroup");
    char *path = self ? cgroup_parse_self(self) : NULL;
    free(self);
    if (!path) {
        turn_off(xstrdup("no cgroup v2 hierarchy in /proc/self/cgroup"));
        return;
    }
    char *mi = cg_read_small("/proc/self/mountinfo");
    char *parent = mi ? cgroup_parse_mountinfo(mi, path) : NULL;
    free(mi);
    if (!parent) {
        turn_off(xasprintf("no cgroup2 mount holds tend's cgroup %s", path));
        free(path);
        return;
    }
    sweep_stale(parent);
    snprintf(cg_state.base, sizeof cg_state.base, "tend-%d", (int)getpid());
    char *dir = xasprintf("%s/%s", parent, cg_state.base);
    char *sup = xasprintf("%s/supervisor", dir);
    char *kill_file = xasprintf("%s/cgroup.kill", dir);
    char *why = NULL;
    bool made = false, made_sup = false;
    if (mkdir(dir, 0755) != 0) {
        why = xasprintf("mkdir %s: %s", dir, strerror(errno));
        goto fail;
    }
    made = true;
    if (access(kill_file, W_OK) != 0) {
        why = xasprintf("%s: %s (Linux 5.14 or later is needed)", kill_file, strerror(errno));
        goto fail;
    }
    if (mkdir(sup, 0755) != 0) {
        why = xasprintf("mkdir %s: %s", sup, strerror(errno));
        goto fail;
    }
    made_sup = true;
    cg_state.parent_fd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
    cg_state.dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cg_state.parent_fd < 0 || cg_state.dir_fd < 0) {
        why = xasprintf("open %s: %s", cg_state.parent_fd < 0 ? parent : dir, strerror(errno));
        goto fail;
    }
    /* writing "0" moves the writer: tend, into its leaf */
    if (cg_write_at(cg_state.dir_fd, "supervisor/cgroup.procs", "0") != 0) {
        why = xasprintf("moving tend into %s: %s", sup, strerror(errno));
        goto fail;
    }
    cg_state.moved = true;
    cg_enable_controllers(dir);
    cg_state.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (cg_state.inotify_fd < 0) {
        why = xasprintf("inotify: %s", strerror(errno));
        goto fail;
    }
    ev_io_init(&cg_state.inotify_w, inotify_cb, cg_state.inotify_fd, EV_READ);
    ev_io_start(loop, &cg_state.inotify_w);
    ev_unref(loop);  /* lingering cgroups hold the loop through their timers */
    cg_state.on = true;
    cg_state.dir = dir;
    cg_state.rel = xasprintf("%s%s%s", path, strcmp(path, "/") == 0 ? "" : "/", cg_state.base);
    log_info(NULL, "cgroups: %s", dir);
    free(sup);
    free(kill_file);
    free(parent);
    free(path);
    return;

fail:
    if (cg_state.moved)
        cg_write_at(cg_state.parent_fd, "cgroup.procs", "0");
    cg_state.moved = false;
    if (made_sup)
        rmdir(sup);
    if (made)
        rmdir(dir);
    if (cg_state.parent_fd >= 0)
        close(cg_state.parent_fd);
    if (cg_state.dir_fd >= 0)
        close(cg_state.dir_fd);
    cg_state.parent_fd = cg_state.dir_fd = -1;
    free(dir);
    free(sup);
    free(kill_file);
    free(parent);
    free(path);
    turn_off(why);
}

bool cgroup_enabled(void)
{
    return cg_state.on;
}

const char *cgroup_root(void)
{
    return cg_state.on ? cg_state.dir : NULL;
}

const char *cgroup_why_not(void)
{
    return cg_state.on ? NULL : cg_state.why_not;
}

/* ---- an incarnation's cgroup ---- */

static void link_cg(struct cgroup *cg)
{
    cg->prev = NULL;
    cg->next = cg_state.all;
    if (cg_state.all)
        cg_state.all->prev = cg;
    cg_state.all = cg;
}

static void unlink_cg(struct cgroup *cg)
{
    if (cg->prev)
        cg->prev->next = cg->next;
    else if (cg_state.all == cg)
        cg_state.all = cg->next;
    if (cg->next)
        cg->next->prev = cg->prev;
    cg->prev = cg->next = NULL;
}

struct cgroup *cgroup_new(const char *name, char **reason)
{
    struct cgroup *cg = xcalloc(1, sizeof *cg);
    /* the name as a directory may spell it: no '/', nothing odd */
    char clean[48];
    size_t k = 0;
    for (const char *s = name; *s && k < sizeof clean - 1; s++)
        clean[k++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                             (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'
                         ? *s : '_';
    clean[k] = '\0';
    snprintf(cg->name, sizeof cg->name, "%s-%lu", clean, ++cg_state.seq);
    cg->path = xasprintf("%s/%s", cg_state.dir, cg->name);
    cg->procs_fd = -1;
    cg->wd = -1;
    if (mkdirat(cg_state.dir_fd, cg->name, 0755) != 0) {
        *reason = xasprintf("cgroup %s: mkdir: %s", cg->path, strerror(errno));
        goto fail;
    }
    char rel[sizeof cg->name + 16];
    snprintf(rel, sizeof rel, "%s/cgroup.procs", cg->name);
    cg->procs_fd = openat(cg_state.dir_fd, rel, O_WRONLY | O_CLOEXEC);
    if (cg->procs_fd < 0) {
        *reason = xasprintf("cgroup %s: cgroup.procs: %s", cg->path, strerror(errno));
        unlinkat(cg_state.dir_fd, cg->name, AT_REMOVEDIR);
        goto fail;
    }
    link_cg(cg);
    return cg;

fail:
    free(cg->path);
    free(cg);
    return NULL;
}

const char *cgroup_path(const struct cgroup *cg)
{
    return cg->path;
}

int cgroup_procs_fd(const struct cgroup *cg)
{
    return cg->procs_fd;
}

void cgroup_spawned(struct cgroup *cg)
{
    if (cg->procs_fd >= 0)
        close(cg->procs_fd);
    cg->procs_fd = -1;
}

/* An fd of a file of the cgroup, or -1 with errno. */
static int open_in(const struct cgroup *cg, const char *file, int flags)
{
    char rel[sizeof cg->name + 32];
    snprintf(rel, sizeof rel, "%s/%s", cg->name, file);
    return openat(cg_state.dir_fd, rel, flags | O_CLOEXEC);
}

/* Whether process `pid` is in `cg` or below it now (a pid read from
 * cgroup.procs may have exited and its number been reused before its
 * pidfd was opened: then it is not). */
static bool member(const struct cgroup *cg, pid_t pid)
{
    char file[64];
    snprintf(file, sizeof file, "/proc/%d/cgroup", (int)pid);
    char *text = cg_read_small(file);
    char *path = text ? cgroup_parse_self(text) : NULL;
    free(text);
    size_t n = strlen(cg_state.rel), k = strlen(cg->name);
    bool in = path && strncmp(path, cg_state.rel, n) == 0 && path[n] == '/' &&
              strncmp(path + n + 1, cg->name, k) == 0 &&
              (path[n + 1 + k] == '\0' || path[n + 1 + k] == '/');
    free(path);
    return in;
}

/* `sig` to every process listed in the cgroup.procs open as `fd`; how
 * many got it.  `own`: a pid that cannot have been reused (tend's own
 * child, not reaped yet), signalled without the pidfd and the check. */
static int signal_listed(const struct cgroup *cg, int fd, int sig, bool cont, pid_t own)
{
    int sent = 0;
    char buf[4096];
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        have += (size_t)r;
        size_t used = 0;
        for (;;) {
            char *nl = memchr(buf + used, '\n', have - used);
            if (!nl)
                break;
            pid_t pid = (pid_t)strtol(buf + used, NULL, 10);
            used = (size_t)(nl - buf) + 1;
            if (pid > 0 && pid == own) {
                sent += kill(pid, sig) == 0;
                if (cont)
                    kill(pid, SIGCONT);
                continue;
            }
            /* a pidfd names one process, whatever its number becomes */
            int pfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
            if (pfd < 0)
                continue;
            if (member(cg, pid) && syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0) == 0) {
                sent++;
                if (cont)
                    syscall(SYS_pidfd_send_signal, pfd, SIGCONT, NULL, 0);
            }
            close(pfd);
        }
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    return sent;
}

/* `sig` to the processes of the cgroup directory `dir` (an fd, taken
 * over) and of the cgroups below it (a program may make its own: a
 * nested supervisor, a container runtime). */
static int signal_tree(const struct cgroup *cg, int dir, int sig, bool cont, pid_t own,
                       int depth)
{
    int sent = 0;
    int fd = openat(dir, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        sent += signal_listed(cg, fd, sig, cont, own);
        close(fd);
    } else if (depth == 0) {
        log_warn(NULL, "cgroup %s: reading cgroup.procs: %s", cg->path, strerror(errno));
    }
    /* a cgroup directory's link count is 2 and one per cgroup below it:
     * most have none, and reading the directory would cost more */
    struct stat sb;
    if (fstat(dir, &sb) == 0 && sb.st_nlink <= 2) {
        close(dir);
        return sent;
    }
    DIR *d = depth < 32 ? fdopendir(dir) : NULL;
    if (!d) {
        close(dir);
        return sent;
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_type == DT_DIR && e->d_name[0] != '.') {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (sub >= 0)
                sent += signal_tree(cg, sub, sig, cont, 0, depth + 1);
        }
    closedir(d);
    return sent;
}

int cgroup_signal(struct cgroup *cg, int sig, bool cont, pid_t own)
{
    int dir = openat(cg_state.dir_fd, cg->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        log_warn(NULL, "cgroup %s: %s", cg->path, strerror(errno));
        return 0;
    }
    return signal_tree(cg, dir, sig, cont, own, 0);
}

int cgroup_kill(struct cgroup *cg)
{
    char rel[sizeof cg->name + 16];
    snprintf(rel, sizeof rel, "%s/cgroup.kill", cg->name);
    return cg_write_at(cg_state.dir_fd, rel, "1");
}

/* Whether something is still in the cgroup ("populated 1" in
 * cgroup.events); true when that cannot be read. */
static bool populated(const struct cgroup *cg)
{
    int fd = open_in(cg, "cgroup.events", O_RDONLY);
    if (fd < 0)
        return errno != ENOENT;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    const char *p = strstr(buf, "populated ");
    return !p || p[10] != '0';
}

/* Free a cgroup whose directory is gone. */
static void free_cg(struct cgroup *cg)
{
    unlink_cg(cg);
    free(cg->path);
    free(cg);
}

/* Remove an empty cgroup and free it. */
static void remove_cg(struct cgroup *cg)
{
    if (cg->wd >= 0)
        inotify_rm_watch(cg_state.inotify_fd, cg->wd);
    if (cg->lingering) {
        ev_timer_stop(cg_state.loop, &cg->deadline);
        cg_state.nlingering--;
    }
    cgroup_spawned(cg);
    if (rmdir_tree(cg_state.dir_fd, cg->name, 0) != 0 && errno != ENOENT)
        log_warn(NULL, "cgroup %s: rmdir: %s", cg->path, strerror(errno));
    free_cg(cg);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cgroup *cg = container_of(w, struct cgroup, deadline);
    if (cgroup_kill(cg) != 0)
        log_warn(NULL, "cgroup %s: cgroup.kill: %s", cg->path, strerror(errno));
    /* removed once cgroup.events says it is empty */
}

void cgroup_linger(struct cgroup *cg, int sig, double timeout)
{
    cgroup_spawned(cg);
    /* the usual end, nothing left: the rmdir takes it (EBUSY says that
     * something is left, without reading cgroup.events first) */
    if (unlinkat(cg_state.dir_fd, cg->name, AT_REMOVEDIR) == 0) {
        free_cg(cg);
        return;
    }
    if (sig == SIGKILL) {
        if (cgroup_kill(cg) != 0)
            log_warn(NULL, "cgroup %s: cgroup.kill: %s", cg->path, strerror(errno));
    } else {
        /* a stopped member must see the signal */
        cgroup_signal(cg, sig, sig != SIGCONT, 0);
    }
    /* watch, then look: an emptying between the two is not missed */
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/cgroup.events", cg->path);
    cg->wd = inotify_add_watch(cg_state.inotify_fd, file, IN_MODIFY);
    if (cg->wd < 0)
        log_warn(NULL, "cgroup %s: watching cgroup.events: %s", cg->path, strerror(errno));
    if (!populated(cg)) {
        remove_cg(cg);
        return;
    }
    cg->lingering = true;
    cg_state.nlingering++;
    if (sig != SIGKILL) {
        ev_timer_init(&cg->deadline, deadline_cb, timeout, 0);
        ev_timer_start(cg_state.loop, &cg->deadline);
    } else {
        ev_timer_init(&cg->deadline, deadline_cb, 0, 0);  /* stopped: never fires */
    }
}

int cgroup_lingering(void)
{
    return cg_state.nlingering;
}

static void inotify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(cg_state.inotify_fd, buf, sizeof buf);
        if (n <= 0)
            return;  /* EAGAIN: all read */
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            p += sizeof *e + e->len;
            if (e->mask & IN_Q_OVERFLOW) {  /* events were lost: look at each */
                for (struct cgroup *cg = cg_state.all, *next; cg; cg = next) {
                    next = cg->next;
                    if (cg->lingering && !populated(cg))
                        remove_cg(cg);
                }
                continue;
            }
            if (!(e->mask & IN_MODIFY))
                continue;
            for (struct cgroup *cg = cg_state.all; cg; cg = cg->next) {
                if (cg->wd != e->wd)
                    continue;
                if (cg->lingering && !populated(cg))
                    remove_cg(cg);
                break;
            }
        }
    }
}

/* ---- the way out ---- */

/* Remove directory `name` under `dir`, waiting up to `until` (monotonic
 * seconds) for it to empty.  Only system calls. */
static int rmdir_wait(int dir, const char *name, double until)
{
    for (;;) {
        if (rmdir_tree(dir, name, 0) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return -1;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec + now.tv_nsec / 1e9 >= until)
            return -1;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

void cgroup_end_all(void)
{
    if (!cg_state.on)
        return;
    cg_state.on = false;  /* once, and nothing new after */
    int saved = errno;
    for (struct cgroup *cg = cg_state.all; cg; cg = cg->next)
        cgroup_kill(cg);
    /* back where tend started, so that its own leaf can go too, and what
     * else tend started there (tend.exec, checks) goes with it */
    if (cg_state.moved && cg_write_at(cg_state.parent_fd, "cgroup.procs", "0") == 0) {
        cg_state.moved = false;
        cg_write_at(cg_state.dir_fd, "supervisor/cgroup.kill", "1");
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double until = now.tv_sec + now.tv_nsec / 1e9 + 2;  /* a SIGKILLed process dies at once, unless stuck in the kernel */
    for (struct cgroup *cg = cg_state.all; cg; cg = cg->next)
        rmdir_wait(cg_state.dir_fd, cg->name, until);
    if (!cg_state.moved)
        rmdir_wait(cg_state.dir_fd, "supervisor", until);
    rmdir_wait(cg_state.parent_fd, cg_state.base, until);
    errno = saved;
}

void cgroup_close(void)
{
    cgroup_end_all();
    if (cg_state.inotify_fd >= 0) {
        ev_ref(cg_state.loop);
        ev_io_stop(cg_state.loop, &cg_state.inotify_w);
        close(cg_state.inotify_fd);
        cg_state.inotify_fd = -1;
    }
    while (cg_state.all) {
        struct cgroup *cg = cg_state.all;
        if (cg->lingering)
            ev_timer_stop(cg_state.loop, &cg->deadline);
        if (cg->procs_fd >= 0)
            close(cg->procs_fd);
        unlink_cg(cg);
        free(cg->path);
        free(cg);
    }
    cg_state.nlingering = 0;
    struct stat sb;
    if (cg_state.dir && stat(cg_state.dir, &sb) == 0)
        log_warn(NULL, "cgroup %s: could not be removed (something in it would not die)",
                 cg_state.dir);
    if (cg_state.parent_fd >= 0)
        close(cg_state.parent_fd);
    if (cg_state.dir_fd >= 0)
        close(cg_state.dir_fd);
    cg_state.parent_fd = cg_state.dir_fd = -1;
    free(cg_state.dir);
    free(cg_state.rel);
    free(cg_state.why_not);
    cg_state.dir = cg_state.rel = cg_state.why_not = NULL;
}
