/* statustable.h -- the table of `tend status`: one row a proc that says in
 * words where it is and why, laid out in display columns. */
#ifndef TEND_STATUSTABLE_H
#define TEND_STATUSTABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

struct statustable_opts {
    double now;         /* the monotonic clock now (uptimes, "5s ago") */
    bool colour;        /* colour the state with ANSI escapes */
    size_t width;       /* the terminal's columns (the last column is cut
                         * to fit); 0: no limit */
    const json_t *all;  /* every proc's status, where a row looks up the
                         * state of what it waits for; NULL: the list */
};

/* The table for `list` (an array of statuses as `tend status --json`
 * has them; anything else is an empty list), appended to `out`. */
void statustable_render(struct buf *out, const json_t *list, const struct statustable_opts *o);

/* A row's INFO cell for status `st` (`all`: every status, or NULL), in
 * words: what a pending proc waits for, how an incarnation ended and what
 * follows, the health and STATUS= text of a live one; "-" for nothing.  A
 * new string. */
char *statustable_info(const json_t *st, const json_t *all, double now);
/* The proc a "waiting_for" entry shows with its state ("db ready": "db",
 * into name), or NULL when it names none that way. */
const char *statustable_dep(const char *cond, char *name, size_t size);
/* An uptime: "0:01:02", "3d 4:05:06". */
void statustable_duration(double s, char *buf, size_t n);
/* Resident bytes as ps and top print them: "812K", "12.3M", "1.5G". */
void statustable_bytes(double v, char *buf, size_t n);

/* How many terminal columns `s` (UTF-8) takes: wide characters two,
 * combining marks none, an invalid byte one. */
size_t statustable_text_width(const char *s);

#endif
