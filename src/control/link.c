/* link.c -- a client's connection to the control socket. */
#include "control/link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/util.h"

int link_open(struct link *l, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    l->path = path;
    l->buf = NULL;
    l->start = l->len = l->cap = l->scanned = 0;
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "tend: cannot reach tend at %s: the path is too long\n", path);
        return LINK_UNREACHABLE;
    }
    strcpy(sa.sun_path, path);
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->fd < 0 || connect(l->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        fprintf(stderr, "tend: cannot reach tend at %s: %s%s\n", path, strerror(e),
                e == ENOENT || e == ECONNREFUSED
                    ? " (is it running? --socket PATH or $TEND_SOCKET choose the socket)"
                    : "");
        if (l->fd >= 0)
            close(l->fd);
        return LINK_UNREACHABLE;
    }
    return 0;
}

bool link_send(struct link *l, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    size_t n = strlen(s), off = 0;
    bool ok = true;
    while (ok && off <= n) {
        /* the request, then its newline */
        const char *p = off < n ? s + off : "\n";
        size_t k = off < n ? n - off : 1;
        ssize_t w = send(l->fd, p, k, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            ok = false;
        else
            off += (size_t)w;
    }
    free(s);
    return ok;
}

char *link_take(struct link *l, size_t *n)
{
    char *nl = l->len > l->scanned ? memchr(l->buf + l->scanned, '\n', l->len - l->scanned)
                                   : NULL;
    if (!nl) {
        l->scanned = l->len;
        return NULL;
    }
    char *line = l->buf + l->start;
    *n = (size_t)(nl - line);
    l->start = l->scanned = (size_t)(nl + 1 - l->buf);
    return line;
}

ssize_t link_fill(struct link *l, bool wait)
{
    if (l->start > 0) {  /* the lines taken make room */
        memmove(l->buf, l->buf + l->start, l->len - l->start);
        l->len -= l->start;
        l->scanned -= l->start;
        l->start = 0;
    }
    if (l->cap - l->len < 65536) {
        l->cap = l->cap ? l->cap * 2 : 65536;
        l->buf = xrealloc(l->buf, l->cap);
    }
    for (;;) {
        ssize_t r = recv(l->fd, l->buf + l->len, l->cap - l->len, wait ? 0 : MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && !wait && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r <= 0)
            return -1;
        l->len += (size_t)r;
        return r;
    }
}

char *link_line(struct link *l, size_t *n)
{
    char *line;
    while (!(line = link_take(l, n)))
        if (link_fill(l, true) < 0)
            return NULL;
    return line;
}

json_t *link_parse(const struct link *l, const char *line, size_t n)
{
    json_error_t err;
    json_t *msg = json_loadb(line, n, 0, &err);
    if (!msg)
        fprintf(stderr, "tend: a malformed answer from %s: %s\n", l->path, err.text);
    return msg;
}

json_t *link_next(struct link *l)
{
    size_t n;
    char *line = link_line(l, &n);
    return line ? link_parse(l, line, n) : NULL;
}

void link_close(struct link *l)
{
    close(l->fd);
    free(l->buf);
}
