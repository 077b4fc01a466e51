/* check.h -- one attempt of a tcp or exec check, on the loop: the readiness
 * checks retry attempts every ready_interval, the health checks run one
 * every interval.  An attempt reports once, from the loop. */
#ifndef TEND_CHECK_H
#define TEND_CHECK_H

#include <ev.h>
#include <stdbool.h>

#include "core/spec.h"

struct check_attempt;

/* ok, or not with a reason ("connect 127.0.0.1:80: Connection refused"). */
typedef void check_done_fn(bool ok, const char *why, void *data);

/* Start one attempt of a CHECK_TCP or CHECK_EXEC check; it gives up after
 * `timeout` seconds.  fn is called once, never from check_start itself. */
struct check_attempt *check_start(struct ev_loop *loop, const struct check *c,
                                  double timeout, check_done_fn *fn, void *data);
/* Abandon an attempt: fn is not called. */
void check_cancel(struct check_attempt *a);

#endif
