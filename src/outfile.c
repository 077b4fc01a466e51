/* outfile.c -- output files, appended and rotated. */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "output.h"
#include "util.h"

struct outfile {
    char *path;
    int fd;
    off_t size;       /* bytes in the file as tend knows it */
    off_t max_size;   /* 0: never rotated by tend */
    int keep;
    bool failing;     /* an error was logged; quiet until it works again */
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

void outfile_line(struct outfile *f, const char *name, const char *line, size_t len)
{
    char ts[40];
    size_t tlen = output_timestamp(ts);
    size_t total = tlen + len + 1;
    if (f->max_size > 0 && f->size > 0 && f->size + (off_t)total > f->max_size)
        rotate(f, name);
    if (f->fd < 0)
        return;
    struct iovec iov[3] = {{ts, tlen}, {(void *)line, len}, {"\n", 1}};
    ssize_t n = writev(f->fd, iov, 3);
    if (n < 0) {
        if (!f->failing)
            log_error(name, "output %s: %s", f->path, strerror(errno));
        f->failing = true;
        return;
    }
    f->failing = false;
    f->size += n;
}

bool outfile_takes_block(const struct outfile *f, size_t len)
{
    if (output_timestamps_on())
        return false;  /* each line gets its own time */
    return f->max_size == 0 || f->size + (off_t)len <= f->max_size;
}

void outfile_write(struct outfile *f, const char *name, const char *data, size_t len)
{
    while (len > 0 && f->fd >= 0) {
        ssize_t n = write(f->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (!f->failing)
                log_error(name, "output %s: %s", f->path, n < 0 ? strerror(errno) : "short write");
            f->failing = true;
            return;
        }
        f->failing = false;
        f->size += n;
        data += n;
        len -= (size_t)n;
    }
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
