/* later.c -- running something after the current event. */
#include "base/later.h"

#include "base/util.h"

static void later_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    struct later *l = container_of(w, struct later, w);
    ev_idle_stop(loop, w);  /* once; the function may free the owner */
    l->fn(l);
}

void later_init(struct later *l, later_fn *fn)
{
    ev_idle_init(&l->w, later_cb);
    l->fn = fn;
}

void later_run(struct ev_loop *loop, struct later *l)
{
    ev_idle_start(loop, &l->w);
}

void later_cancel(struct ev_loop *loop, struct later *l)
{
    ev_idle_stop(loop, &l->w);
}
