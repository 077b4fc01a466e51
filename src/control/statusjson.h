/* statusjson.h -- a status as a JSON object (jansson), for the control
 * socket: the fields of status_visit, each time also as wall-clock
 * ISO-8601 UTC under the same name with "_wall" appended (SPEC 1). */
#ifndef TEND_STATUSJSON_H
#define TEND_STATUSJSON_H

#include <jansson.h>

#include "base/status.h"

/* Dump flags for every reply: compact, and reals with 15 significant
 * digits (times are rounded to microseconds first, so they print as
 * 292.892748, not 292.89274834600002). */
#define STATUSJSON_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* A new object for the status of proc `name`; `wall_offset` is the wall
 * clock less the monotonic clock (now_wall() - now_mono()). */
json_t *status_json(const struct status *st, const char *name, double wall_offset);

/* [status,...] of `procs`, in that order, with the cpu and memory of the
 * live ones read now (one scan of /proc for all of them). */
struct proc;
json_t *statuses_json(struct proc *const *procs, size_t n);

/* A JSON string for `s` (NULL: ""); bytes that are not UTF-8 become '?'. */
json_t *json_text(const char *s);

#endif
