/* later.h -- the one way to run something after the current event: an
 * answer that is known at once but must reach its caller from the loop
 * (the caller's call has not returned yet), a callback to run again.
 *
 * A `struct later` is embedded in its owner and recovered with
 * container_of.  It runs once per later_run, from the loop, once the
 * events already pending have been handled (libev's ev_idle: nothing waits
 * behind it, and an idle loop has none armed). */
#ifndef TEND_LATER_H
#define TEND_LATER_H

#include <ev.h>

struct later;
typedef void later_fn(struct later *l);

struct later {
    ev_idle w;
    later_fn *fn;
};

void later_init(struct later *l, later_fn *fn);
/* Run l's function from the loop, once (again if it ran already). */
void later_run(struct ev_loop *loop, struct later *l);
/* Not anymore (before the owner is freed). */
void later_cancel(struct ev_loop *loop, struct later *l);

#endif
