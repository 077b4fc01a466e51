/* outfile.c -- output files, appended and rotated. */
#include "core/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "base/output.h"
#include "base/util.h"

struct outfile {
    char *path;
    int fd;
    off_t size;       /* bytes in the file as tend knows it */
    off_t max_size;   /* 0: never rotated by tend */
    int keep;
    bool failing;     /* a write failed and that was said: quiet until one works */
    bool cut;         /* a failed write left a line cut short at the end */
    size_t dropped;   /* lines dropped since the write that failed */
};

/* Open for appending; only a regular file will do (a FIFO or a device
 * could block the loop).  -1 with errno. */
static int open_append(const char *path, off_t *size)
{
    struct stat before;
    if (stat(path, &before) == 0 && !S_ISREG(before.st_mode)) {
        errno = EINVAL;  /* a FIFO, a device: refused before opening it */
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
    struct stat sb;
    if (fd < 0)
        return -1;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        errno = EINVAL;  /* "Invalid argument": not a regular file */
        return -1;
    }
    *size = sb.st_size;
    return fd;
}

struct outfile *outfile_open(const char *path, off_t max_size, int keep, char **err)
{
    off_t size;
    int fd = open_append(path, &size);
    if (fd < 0) {
        *err = xasprintf("output %s: %s", path,
                         errno == EINVAL ? "not a regular file" : strerror(errno));
        return NULL;
    }
    struct outfile *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(path);
    f->fd = fd;
    f->size = size;
    f->max_size = max_size;
    f->keep = keep;
    return f;
}

/* PATH.keep goes, PATH.k becomes PATH.k+1, PATH becomes PATH.1. */
static void rotate(struct outfile *f, const char *name)
{
    size_t n = strlen(f->path) + 16;
    char *from = xmalloc(n), *to = xmalloc(n);
    snprintf(to, n, "%s.%d", f->path, f->keep);
    unlink(to);
    for (int k = f->keep - 1; k >= 1; k--) {
        snprintf(from, n, "%s.%d", f->path, k);
        snprintf(to, n, "%s.%d", f->path, k + 1);
        rename(from, to);  /* a missing PATH.k is fine */
    }
    if (f->keep > 0) {
        snprintf(to, n, "%s.1", f->path);
        rename(f->path, to);
    } else {
        unlink(f->path);
    }
    free(from);
    free(to);
    outfile_reopen(f, name);
}

/* Whether the file is empty now (an operator truncated it, a rotation
 * made a new one): a cut line was left elsewhere. */
static bool file_empty(const struct outfile *f)
{
    struct stat sb;
    return fstat(f->fd, &sb) == 0 && sb.st_size == 0;
}

/* A write failed with `err` (0: it wrote nothing, without an error): the
 * `lines` it did not write are dropped.  The first failure is said, naming
 * the proc and the file; the next ones are counted until a write works
 * again.  A full disk (ENOSPC, EDQUOT) or a file at RLIMIT_FSIZE (EFBIG;
 * SIGXFSZ is ignored, groups.c) is a warning: it may pass, and tend goes
 * on supervising either way. */
static void write_failed(struct outfile *f, const char *name, int err, size_t lines)
{
    f->dropped += lines;
    if (f->failing)
        return;
    f->failing = true;
    bool full = err == ENOSPC || err == EDQUOT || err == EFBIG;
    log_msg(full ? LOG_WARN : LOG_ERROR, name,
            "output %s: %s; its lines are dropped until a write works again", f->path,
            err ? strerror(err) : "nothing written");
}

/* Append `cnt` pieces (cnt <= 3) that make whole lines, in one writev
 * unless the kernel takes less.  On a failure the rest is dropped
 * (write_failed); if the failure cut a line short, the next write that
 * works ends it first, so that it does not run into the next line. */
static void put(struct outfile *f, const char *name, const struct iovec *pieces, int cnt)
{
    if (f->fd < 0)
        return;
    struct iovec iov[4];
    int n = 0;
    bool ending_cut = f->cut && !file_empty(f);
    if (ending_cut)
        iov[n++] = (struct iovec){"\n", 1};
    for (int i = 0; i < cnt; i++)
        if (pieces[i].iov_len > 0)  /* writev returns 0 for empty pieces alone */
            iov[n++] = pieces[i];
    struct iovec *v = iov;
    bool wrote = false;
    char last = 0;  /* the last byte written */
    while (n > 0) {
        ssize_t w = writev(f->fd, v, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int err = w < 0 ? errno : 0;
            size_t lines = 0;
            for (int i = 0; i < n; i++) {
                if (ending_cut && v + i == iov)
                    continue;  /* the newline for the cut line is not a line */
                const char *p = v[i].iov_base, *end = p + v[i].iov_len;
                while ((p = memchr(p, '\n', (size_t)(end - p))))
                    lines++, p++;
            }
            if (wrote && last != '\n')
                f->cut = true;
            write_failed(f, name, err, lines);
            return;
        }
        wrote = true;
        f->size += w;
        for (size_t left = (size_t)w; left > 0;) {
            size_t take = left < v->iov_len ? left : v->iov_len;
            last = ((const char *)v->iov_base)[take - 1];
            left -= take;
            if (take == v->iov_len) {
                v++;
                n--;
            } else {
                v->iov_base = (char *)v->iov_base + take;
                v->iov_len -= take;
            }
        }
    }
    f->cut = false;
    if (f->failing) {
        log_warn(name, "output %s: written again; %zu line%s dropped", f->path, f->dropped,
                 f->dropped == 1 ? " was" : "s were");
        f->failing = false;
        f->dropped = 0;
    }
}

void outfile_line(struct outfile *f, const char *name, const char *line, size_t len)
{
    char ts[40];
    size_t tlen = output_timestamp(ts);
    size_t total = tlen + len + 1;
    if (f->max_size > 0 && f->size > 0 && f->size + (off_t)total > f->max_size)
        rotate(f, name);
    struct iovec iov[3] = {{ts, tlen}, {(void *)line, len}, {"\n", 1}};
    put(f, name, iov, 3);
}

bool outfile_takes_block(const struct outfile *f, size_t len)
{
    if (output_timestamps_on())
        return false;  /* each line gets its own time */
    return f->max_size == 0 || f->size + (off_t)len <= f->max_size;
}

void outfile_write(struct outfile *f, const char *name, const char *data, size_t len)
{
    struct iovec iov = {(void *)data, len};
    put(f, name, &iov, 1);
}

void outfile_reopen(struct outfile *f, const char *name)
{
    off_t size;
    int fd = open_append(f->path, &size);
    if (fd < 0) {
        log_error(name, "output %s: %s", f->path, strerror(errno));
        return;  /* keep writing to the old file */
    }
    if (f->fd >= 0)
        close(f->fd);
    f->fd = fd;
    f->size = size;
}

void outfile_close(struct outfile *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    free(f->path);
    free(f);
}
