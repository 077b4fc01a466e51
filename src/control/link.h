/* link.h -- a client's connection to the control socket: one JSON object a
 * line each way (SPEC 7).  Reading blocks (link_line, link_next) for the
 * one-shot commands, or takes what is there (link_fill, link_take) for
 * `tend top`, which runs on a loop. */
#ifndef TEND_LINK_H
#define TEND_LINK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The exit code of a client that reaches no tend. */
#define LINK_UNREACHABLE 3

struct link {
    int fd;
    const char *path;
    char *buf;      /* buf[start..len) is what was read and not yet taken */
    size_t start, len, cap;
    size_t scanned; /* buf[start..scanned) holds no newline */
};

/* Connect to the socket at `path` (kept, not copied); 0, or
 * LINK_UNREACHABLE after saying why on stderr. */
int link_open(struct link *l, const char *path);
/* Send one message and its newline (blocking); whether it all went. */
bool link_send(struct link *l, json_t *msg);
/* A whole line already read, without its newline (*n bytes, valid until the
 * next call), or NULL when none is complete yet. */
char *link_take(struct link *l, size_t *n);
/* Read what the socket has (wait: block until something comes); the bytes
 * read, 0 when nothing was there (without wait), -1 at the end of the
 * connection or on an error. */
ssize_t link_fill(struct link *l, bool wait);
/* The next line, reading (blocking) until it is whole; NULL at the end of
 * the connection. */
char *link_line(struct link *l, size_t *n);
/* A line as a message; NULL, with a message on stderr, when it is not
 * JSON. */
json_t *link_parse(const struct link *l, const char *line, size_t n);
/* The next message, NULL at the end of the connection.  A line that is
 * not JSON ends it too, with a message. */
json_t *link_next(struct link *l);
void link_close(struct link *l);

#endif
