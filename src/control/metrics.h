/* metrics.h -- the procs' statuses and tend's own figures in the Prometheus
 * text exposition format (version 0.0.4; SPEC 10), for `tend metrics` and
 * the HTTP endpoint (http.c).
 *
 * Every family has a `proc` label but tend's own (`process_*`,
 * `tend_cgroups`).  CPU and memory are read when the text is made (one scan
 * of /proc for every proc), never in between. */
#ifndef TEND_METRICS_H
#define TEND_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/manager.h"

/* The content type of the text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The metrics of `m`'s procs, in declaration order, and of tend itself; a
 * new NUL-terminated string (free it), its length in *len. */
char *metrics_text(struct manager *m, size_t *len);

/* A label value escaped as the format wants (backslash, double quote and
 * newline), appended to b. */
struct buf;
void metrics_label_value(struct buf *b, const char *v);

#endif
