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

/* How many terminal columns `s` (UTF-8) takes: wide characters two,
 * combining marks none, an invalid byte one. */
size_t statustable_text_width(const char *s);

#endif
