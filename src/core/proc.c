/* proc.c -- the proc handle: its status, the transitions it may make,
 * the subscribers that see each one in order, and its life (new, free).
 * What happens to an incarnation lives beside it: proc_spawn.c (start and
 * exec confirmation), proc_output.c (pipes, lines, rings), proc_end.c
 * (stop, kill, exit and leftovers), ready.c (readiness and health). */
#include "core/proc_impl.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "core/outfile.h"
#include "core/ready.h"
#include "core/reap.h"
#include "base/util.h"

static void dispatch(struct proc *p);
static void destroy(struct proc *p);

void proc_hold(struct proc *p)
{
    p->busy++;
}

void proc_release(struct proc *p)
{
    if (--p->busy == 0 && p->doomed)
        destroy(p);
}

/* ---- status and transitions ---- */

static bool alive_state(enum proc_state s)
{
    return s == ST_STARTING || s == ST_RUNNING || s == ST_READY || s == ST_STOPPING;
}

bool proc_alive(const struct proc *p)
{
    return alive_state(p->st.state);
}

const struct status *proc_status(const struct proc *p)
{
    return &p->st;
}

const char *proc_name(const struct proc *p)
{
    return p->spec->name;
}

const struct spec *proc_spec(const struct proc *p)
{
    return p->spec;
}

bool proc_sigkilled(const struct proc *p)
{
    return p->sigkilled;
}

struct restart_state *proc_restart_state(struct proc *p)
{
    return &p->restart;
}

const struct ring *proc_ring(const struct proc *p, int stream)
{
    return p->out[stream].ring;
}

void proc_want(struct proc *p, bool up)
{
    if (!up) {
        proc_want_down(p);
    } else {
        p->st.want_up = true;
        if (p->st.cause == CAUSE_AFTER)
            p->st.cause = CAUSE_NONE;  /* asked again: it waits again */
    }
}

void proc_set_waiting(struct proc *p, char **waiting_for)
{
    strv_free(p->st.waiting_for);
    p->st.waiting_for = waiting_for;
}

void proc_after_failed(struct proc *p, char **waiting_for)
{
    proc_want_down(p);
    p->st.cause = CAUSE_AFTER;
    proc_set_waiting(p, waiting_for);
}

/* Begin a move to `to`: check it, snapshot the previous status and set
 * the fields every such move sets.  NULL when refused. */
struct proc_event *proc_move_begin(struct proc *p, enum proc_state to)
{
    if (!status_can_move(p->st.state, to)) {
        log_warn(p->spec->name, "refused transition %s -> %s",
                 status_state_name(p->st.state), status_state_name(to));
        return NULL;
    }
    struct proc_event *ev = xcalloc(1, sizeof *ev);
    status_copy(&ev->prev, &p->st);
    double now = now_mono();
    struct status *st = &p->st;
    st->state = to;
    switch (to) {
    case ST_STARTING:
        status_clear(st);
        st->incarnation++;
        st->since = now;
        st->pid = 0;
        st->started_at = st->ready_at = st->deadline = st->ended_at = 0;
        st->restart_at = 0;
        st->exit_code = st->signal = 0;
        st->core_dumped = false;
        st->stop_timeout = 0;
        st->stop_timed_out = false;
        st->want_up = true;
        st->cause = CAUSE_NONE;
        break;
    case ST_RUNNING:
        st->started_at = now;
        break;
    case ST_READY:
        st->ready_at = now;
        break;
    case ST_STOPPING:
        st->cause = p->stop_cause != CAUSE_NONE ? p->stop_cause : CAUSE_EXIT;
        break;
    case ST_STOPPED:
    case ST_KILLED:
    case ST_FAILED:
        st->ended_at = now;
        st->pid = 0;
        free(st->cgroup);  /* given up with the incarnation */
        st->cgroup = NULL;
        st->cause = p->stop_cause != CAUSE_NONE ? p->stop_cause : CAUSE_EXIT;
        break;
    default:
        break;
    }
    return ev;
}

static void restart_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proc *p = container_of(w, struct proc, restart_timer);
    p->st.restart_at = 0;
    proc_start(p, true);
}

/* Finish a move: for a terminal status ask the owner what follows, then
 * publish the new status to every subscriber. */
void proc_move_commit(struct proc *p, struct proc_event *ev)
{
    struct status *st = &p->st;
    if (status_is_terminal(st->state)) {
        double delay = -1;
        if (st->want_up && p->owner.decide) {
            p->deciding = true;  /* a start from inside the decision is refused */
            delay = p->owner.decide(p, st, p->owner.data);
            p->deciding = false;
        }
        if (!isfinite(delay) || delay > 1e9)
            delay = -1;  /* "never", not an overflow */
        if (delay >= 0) {
            st->restart_at = st->ended_at + delay;
            ev_timer_set(&p->restart_timer, delay, 0);
            ev_timer_start(p->loop, &p->restart_timer);
        } else {
            st->want_up = false;
        }
    }
    ev->id = p->next_event++;
    status_copy(&ev->now, st);
    if (p->queue_tail)
        p->queue_tail->next = ev;
    else
        p->queue = ev;
    p->queue_tail = ev;
    dispatch(p);
}

bool proc_move(struct proc *p, enum proc_state to)
{
    struct proc_event *ev = proc_move_begin(p, to);
    if (!ev)
        return false;
    proc_move_commit(p, ev);
    return true;
}

static void event_free(struct proc_event *ev)
{
    status_clear(&ev->now);
    status_clear(&ev->prev);
    free(ev);
}

static void sub_free(struct proc_sub *s)
{
    if (s->own_data)
        free(s->data);
    free(s);
}

/* Deliver queued events in order.  A transition made by a subscriber is
 * queued and delivered after the current one has reached everybody. */
static void dispatch(struct proc *p)
{
    if (p->dispatching)
        return;
    p->dispatching = true;
    proc_hold(p);
    struct proc_event *ev;
    while ((ev = p->queue) && !p->doomed) {
        p->queue = ev->next;
        if (!p->queue)
            p->queue_tail = NULL;
        if (p->owner.announce)
            p->owner.announce(p, &ev->now, &ev->prev, p->owner.data);
        /* an event reaches every subscriber, even if one of them frees the
         * proc; only the events after it are dropped */
        for (struct proc_sub *s = p->subs; s; s = s->next)
            if (!s->dead && s->from <= ev->id)
                s->fn(p, &ev->now, &ev->prev, s->data);
        if (p->owner.saw)
            p->owner.saw(p, &ev->now, &ev->prev, p->owner.data);
        event_free(ev);
    }
    /* drop unsubscribed entries now that nobody walks the list */
    for (struct proc_sub **pp = &p->subs; *pp;) {
        struct proc_sub *s = *pp;
        if (s->dead) {
            *pp = s->next;
            sub_free(s);
        } else {
            pp = &s->next;
        }
    }
    p->dispatching = false;
    proc_release(p);
}

struct proc_sub *proc_subscribe(struct proc *p, proc_sub_fn *fn, void *data)
{
    struct proc_sub *s = xcalloc(1, sizeof *s);
    s->fn = fn;
    s->data = data;
    s->from = p->next_event;
    struct proc_sub **pp = &p->subs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = s;
    return s;
}

void proc_unsubscribe(struct proc *p, struct proc_sub *s)
{
    s->dead = true;
    if (!p->dispatching)
        dispatch(p);  /* nothing queued: just prunes the list */
}

struct await {
    proc_await_fn *fn;
    void *data;
    struct proc_sub *sub;
};

static void await_cb(struct proc *p, const struct status *now,
                     const struct status *prev, void *data)
{
    struct await *a = data;
    if (now->state != ST_READY && !status_is_terminal(now->state))
        return;
    proc_unsubscribe(p, a->sub);  /* frees `a` once the dispatch is over */
    a->fn(p, now->state == ST_READY, now, a->data);
}

struct proc_sub *proc_await_ready(struct proc *p, proc_await_fn *fn, void *data)
{
    if (p->st.state == ST_READY || status_is_terminal(p->st.state)) {
        fn(p, p->st.state == ST_READY, &p->st, data);
        return NULL;
    }
    struct await *a = xcalloc(1, sizeof *a);
    a->fn = fn;
    a->data = data;
    a->sub = proc_subscribe(p, await_cb, a);
    a->sub->own_data = true;
    return a->sub;
}

/* Publish a `failed` status with `reason` (taken over). */
void proc_fail(struct proc *p, char *reason)
{
    struct proc_event *ev = proc_move_begin(p, ST_FAILED);
    if (!ev) {
        free(reason);
        return;
    }
    p->st.reason = reason;
    proc_move_commit(p, ev);
}

void proc_want_down(struct proc *p)
{
    ev_timer_stop(p->loop, &p->restart_timer);
    p->st.want_up = false;
    p->st.restart_at = 0;
}

/* ---- life ---- */

struct proc *proc_new(struct ev_loop *loop, struct spec *spec,
                      const struct proc_owner *owner)
{
    struct proc *p = xcalloc(1, sizeof *p);
    p->spec = spec;
    p->loop = loop;
    if (owner)
        p->owner = *owner;
    p->st.state = ST_PENDING;
    p->st.want_up = spec->autostart;
    proc_spawn_init(p);
    proc_output_init(p);
    proc_end_init(p);
    ev_timer_init(&p->restart_timer, restart_cb, 0, 0);
    ready_init(p);
    return p;
}

static void destroy(struct proc *p)
{
    restart_state_free(&p->restart);
    while (p->queue) {
        struct proc_event *ev = p->queue;
        p->queue = ev->next;
        event_free(ev);
    }
    while (p->subs) {
        struct proc_sub *s = p->subs;
        p->subs = s->next;
        sub_free(s);
    }
    proc_output_free(p);
    ready_free(p);
    status_clear(&p->st);
    spec_free(p->spec);
    free(p);
}

void proc_free(struct proc *p)
{
    if (!p || p->doomed)
        return;
    p->doomed = true;
    proc_end_abandon(p);
    proc_exec_close(p);
    for (int i = 0; i < 2; i++)
        proc_stream_close(p, i);
    output_cancel(&p->ow);
    ready_free(p);  /* now, not at destroy: a successor may want the notify name */
    ev_timer_stop(p->loop, &p->restart_timer);
    proc_hold(p);
    proc_release(p);
}
