/* proc.c -- spawning, reaping, output and stopping of one proc. */
#include "core/proc_impl.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "core/outfile.h"
#include "core/ready.h"
#include "core/reap.h"
#include "base/util.h"


/* Two read buffers, used in turn within a read burst, so the pending tail
 * of one block (defer_block) can stay where it was read while the next
 * block comes in.  As large as a pipe (LAUNCH_PIPE_SIZE): a fast writer's
 * whole backlog comes in one read, which (measured with `make bench`,
 * output) takes a third less time than four reads of 64 KiB. */
static char read_bufs[2][256 * 1024];

/* An unfinished line up to this long is copied in front of the next read
 * (stream_read_burst); a longer one is completed where it is kept. */
#define READ_CARRY_MAX 4096

static void dispatch(struct proc *p);
static void stream_close(struct proc *p, int i);

/* Keep p alive across a callback that may free it. */
static void hold(struct proc *p)
{
    p->busy++;
}

static void destroy(struct proc *p);

static void release(struct proc *p)
{
    if (--p->busy == 0 && p->doomed)
        destroy(p);
}

/* ---- transitions and subscribers ---- */

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
static struct proc_event *move_begin(struct proc *p, enum proc_state to)
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
static void move_commit(struct proc *p, struct proc_event *ev)
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
    struct proc_event *ev = move_begin(p, to);
    if (!ev)
        return false;
    move_commit(p, ev);
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
    hold(p);
    struct proc_event *ev;
    while ((ev = p->queue) && !p->doomed) {
        p->queue = ev->next;
        if (!p->queue)
            p->queue_tail = NULL;
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
    release(p);
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

/* ---- output ---- */

struct proc_listener *proc_listen(struct proc *p, proc_line_fn *fn, void *data)
{
    struct proc_listener *l = xcalloc(1, sizeof *l);
    l->fn = fn;
    l->data = data;
    struct proc_listener **pp = &p->listeners;
    while (*pp)
        pp = &(*pp)->next;
    *pp = l;
    return l;
}

/* Free the listeners marked dead, unless somebody walks the list. */
static void prune_listeners(struct proc *p)
{
    if (p->listening)
        return;
    for (struct proc_listener **pp = &p->listeners; *pp;) {
        struct proc_listener *l = *pp;
        if (l->dead) {
            *pp = l->next;
            if (l->own_data)
                free(l->data);
            free(l);
        } else {
            pp = &l->next;
        }
    }
}

void proc_unlisten(struct proc *p, struct proc_listener *l)
{
    l->dead = true;
    prune_listeners(p);
}

static void flush_pending(struct proc *p, int i);

/* Numbers the output lines of every proc, both streams, in the order they
 * arrive: `tend logs` merges rings by it. */
static uint64_t line_seq;

static void emit_line(struct proc *p, int i, const char *line, size_t len)
{
    struct proc_stream *s = &p->out[i];
    flush_pending(p, i);  /* the lines before this one go first */
    if (!s->ring)
        s->ring = ring_new();
    ring_push(s->ring, line_seq++, ev_now(p->loop), line, len);
    if (p->spec->output == OUTPUT_INHERIT)
        output_line(i ? 2 : 1, p->spec->name, line, len);
    else if (p->file)
        outfile_line(p->file, p->spec->name, line, len);
    if (p->listeners) {
        p->listening++;
        for (struct proc_listener *l = p->listeners; l; l = l->next)
            if (!l->dead)
                l->fn(p, i, line, len, l->data);
        p->listening--;
        prune_listeners(p);
    }
}

/* Append to the unfinished line; once it holds PROC_LINE_MAX bytes, the
 * next byte makes it a line of its own (split, SPEC 6), as emit_split
 * does: a line of exactly k * PROC_LINE_MAX bytes is k lines, whatever
 * the reads it came in. */
static void partial_append(struct proc *p, int i, const char *buf, size_t n)
{
    struct proc_stream *s = &p->out[i];
    while (n > 0) {
        if (s->plen == PROC_LINE_MAX) {
            emit_line(p, i, s->partial, s->plen);
            s->plen = 0;
        }
        size_t c = PROC_LINE_MAX - s->plen;
        if (c > n)
            c = n;
        if (!s->partial)
            s->partial = xmalloc(PROC_LINE_MAX);
        memcpy(s->partial + s->plen, buf, c);
        s->plen += c;
        buf += c;
        n -= c;
    }
}

/* A complete line, split into pieces of PROC_LINE_MAX bytes if longer. */
static void emit_split(struct proc *p, int i, const char *line, size_t len)
{
    for (; len > PROC_LINE_MAX; line += PROC_LINE_MAX, len -= PROC_LINE_MAX)
        emit_line(p, i, line, PROC_LINE_MAX);
    emit_line(p, i, line, len);
}

/* Whether a block of complete lines holds one longer than PROC_LINE_MAX,
 * i.e. PROC_LINE_MAX + 1 bytes in a row without a newline.  One memrchr
 * a window: the newline nearest a window's end starts the next window. */
static bool has_long_line(const char *buf, size_t n)
{
    size_t from = 0;  /* where the current line starts */
    while (n - from > PROC_LINE_MAX + 1) {
        const char *nl = memrchr(buf + from, '\n', PROC_LINE_MAX + 1);
        if (!nl)
            return true;
        from = (size_t)(nl - buf) + 1;
    }
    return false;
}

/* Emit the unfinished line, if any, and let its buffer go. */
static void partial_flush(struct proc *p, int i)
{
    struct proc_stream *s = &p->out[i];
    if (s->plen)
        emit_line(p, i, s->partial, s->plen);
    s->plen = 0;
    free(s->partial);
    s->partial = NULL;
}

/* Put the last `max` (at most RING_LINES) lines of a block of complete
 * lines (each ending in '\n') into the ring: the earlier ones would only be
 * pushed out again.  The sequence numbers skip the lines left out, which
 * keeps them in order. */
static void ring_tail_of_block(struct proc *p, int i, const char *buf, size_t n, size_t max)
{
    struct proc_stream *s = &p->out[i];
    if (n == 0)
        return;
    const char *starts[RING_LINES];
    size_t k = 0;
    const char *end = buf + n - 1;  /* the final newline */
    while (k < max && end >= buf) {
        const char *nl = end > buf ? memrchr(buf, '\n', (size_t)(end - buf)) : NULL;
        starts[k++] = nl ? nl + 1 : buf;
        if (!nl)
            break;
        end = nl;
    }
    if (!s->ring)
        s->ring = ring_new();
    line_seq += 1;  /* a gap: the lines before these were not kept */
    ring_stage(s->ring, line_seq, ev_now(p->loop), starts[k - 1],
               (size_t)(buf + n - starts[k - 1]), k);
    line_seq += k;
}

/* The ring takes the pending tail now. */
static void flush_pending(struct proc *p, int i)
{
    struct proc_stream *s = &p->out[i];
    if (s->pend_len) {
        size_t n = s->pend_len;
        s->pend_len = 0;
        ring_tail_of_block(p, i, s->pend, n, RING_LINES);
    }
}

/* Keep the tail of a block of complete lines for the ring, which takes it
 * once the current read burst is over (stream_read): when a program writes
 * fast, most blocks are superseded by the next before anybody could look. */
static void defer_block(struct proc *p, int i, const char *buf, size_t n)
{
    struct proc_stream *s = &p->out[i];
    /* the start of the last RING_LINES lines (or of the block) */
    size_t start = 0, pos = n - 1, lines = 0;  /* buf[n - 1] is a newline */
    bool whole_block = false;
    while (lines < RING_LINES) {
        const char *nl = memrchr(buf, '\n', pos);
        lines++;
        if (!nl) {
            start = 0;
            whole_block = true;
            break;
        }
        start = (size_t)(nl - buf) + 1;
        pos = (size_t)(nl - buf);
    }
    if (whole_block && lines < RING_LINES && s->pend_len) {
        /* too few lines here: the newest of the older ones still count */
        size_t older = s->pend_len;
        s->pend_len = 0;
        ring_tail_of_block(p, i, s->pend, older, RING_LINES - lines);
    }
    s->pend = buf + start;  /* in a read buffer, valid until the burst ends */
    s->pend_len = n - start;
}

/* A block of complete lines, each ending in '\n' and none longer than
 * PROC_LINE_MAX (stream_feed splits those).  Line by line where something needs each
 * line (listeners, prefixes, timestamps, a rotation inside the block);
 * else one write for the whole block. */
static void emit_block(struct proc *p, int i, const char *buf, size_t n)
{
    enum output_mode mode = p->spec->output;
    bool whole = !p->listeners && (mode == OUTPUT_DISCARD ||
                                   (mode == OUTPUT_FILE && p->file &&
                                    outfile_takes_block(p->file, n)));
    if (whole) {
        if (p->file)
            outfile_write(p->file, p->spec->name, buf, n);
        defer_block(p, i, buf, n);
        return;
    }
    if (!p->listeners && mode == OUTPUT_INHERIT) {
        for (const char *l = buf, *end = buf + n; l < end;) {
            const char *nl = memchr(l, '\n', (size_t)(end - l));
            output_line(i ? 2 : 1, p->spec->name, l, (size_t)(nl - l));
            l = nl + 1;
        }
        defer_block(p, i, buf, n);
        return;
    }
    for (const char *l = buf, *end = buf + n; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        emit_line(p, i, l, (size_t)(nl - l));
        l = nl + 1;
    }
}

/* Split what was read into lines: an unfinished line from before is
 * completed first, the complete lines go as one block, the rest waits. */
static void stream_feed(struct proc *p, int i, const char *buf, size_t n)
{
    struct proc_stream *s = &p->out[i];
    if (s->plen > 0) {
        const char *nl = memchr(buf, '\n', n);
        if (!nl) {
            partial_append(p, i, buf, n);
            return;
        }
        size_t len = (size_t)(nl - buf);
        partial_append(p, i, buf, len);
        partial_flush(p, i);
        buf = nl + 1;
        n -= len + 1;
    }
    const char *last = n ? memrchr(buf, '\n', n) : NULL;
    if (last) {
        size_t block = (size_t)(last - buf) + 1;
        if (block > PROC_LINE_MAX + 1 && has_long_line(buf, block)) {
            for (const char *l = buf, *end = buf + block; l < end;) {
                const char *nl = memchr(l, '\n', (size_t)(end - l));
                emit_split(p, i, l, (size_t)(nl - l));
                l = nl + 1;
            }
        } else {
            emit_block(p, i, buf, block);
        }
        buf += block;
        n -= block;
    }
    if (n)
        partial_append(p, i, buf, n);
}

static void stream_cb(struct ev_loop *loop, ev_io *w, int revents);

/* Read what the pipe holds.  Normally a few reads at a time (other procs
 * get their turn) and a pause while the output sink is congested; when
 * `draining` at exit, everything already there, up to a bound. */
static void stream_read_burst(struct proc *p, int i, bool draining);

/* Read a burst; the ring is up to date whenever the loop gets control. */
static void stream_read(struct proc *p, int i, bool draining)
{
    stream_read_burst(p, i, draining);
    flush_pending(p, i);
}

static void stream_read_burst(struct proc *p, int i, bool draining)
{
    struct proc_stream *s = &p->out[i];
    /* draining at exit: all a full pipe holds, and a little more */
    int rounds = draining ? (int)(LAUNCH_PIPE_SIZE / sizeof read_bufs[0]) + 4 : 4;
    while (s->fd >= 0 && rounds-- > 0) {
        /* only a stream copied to a congested sink waits: a proc writing to
         * a file, or discarding, is not slowed by tend's stdout */
        if (!draining && p->spec->output == OUTPUT_INHERIT && output_congested_fd(i ? 2 : 1)) {
            ev_io_stop(p->loop, &s->w);
            s->paused = true;
            output_wait(&p->ow);
            return;
        }
        char *buf = read_bufs[rounds & 1];
        /* the pending ring tail may still sit in this buffer: a read that
         * only lengthened an unfinished line came in between */
        if (s->pend_len && s->pend >= buf && s->pend < buf + sizeof read_bufs[0])
            flush_pending(p, i);
        /* a short unfinished line goes in front of what is read, so the
         * line it becomes is part of the block, not written on its own */
        size_t carry = s->plen <= READ_CARRY_MAX ? s->plen : 0;
        if (carry)
            memcpy(buf, s->partial, carry);
        ssize_t n = read(s->fd, buf + carry, sizeof read_bufs[0] - carry);
        if (n > 0) {
            s->plen -= carry;
            stream_feed(p, i, buf, carry + (size_t)n);
        } else if (n < 0 && errno == EINTR) {
            rounds++;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            if (n < 0)
                log_warn(p->spec->name, "reading %s: %s", i ? "stderr" : "stdout",
                         strerror(errno));
            stream_close(p, i);
        }
    }
}

static void stream_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    /* the watcher's data is the owner; its address says which stream */
    struct proc *owner = w->data;
    int i = w == &owner->out[1].w;
    hold(owner);
    /* both pipes became ready before one poll: libev calls the watchers
     * in the reverse of the order epoll reported them (its pending queue
     * is a stack), and epoll reports the first ready first, so the other
     * stream, still pending, holds the older lines: read it first, so
     * that a line on stdout then one on stderr are numbered in that order */
    ev_io *other = &owner->out[!i].w;
    if (ev_is_pending(other)) {
        ev_clear_pending(loop, other);
        stream_read(owner, !i, false);
    }
    stream_read(owner, i, false);
    release(owner);
}

static void stream_close(struct proc *p, int i)
{
    struct proc_stream *s = &p->out[i];
    if (s->fd < 0)
        return;
    flush_pending(p, i);
    partial_flush(p, i);
    ev_io_stop(p->loop, &s->w);
    close(s->fd);
    s->fd = -1;
    s->paused = false;
}

static void output_wake(struct output_waiter *w)
{
    struct proc *p = container_of(w, struct proc, ow);
    for (int i = 0; i < 2; i++) {
        struct proc_stream *s = &p->out[i];
        if (s->paused && s->fd >= 0) {
            s->paused = false;
            ev_io_start(p->loop, &s->w);
        }
    }
}

char *proc_tail(const struct proc *p, int stream, size_t lines,
                bool since_incarnation)
{
    const struct ring *r = p->out[stream ? 1 : 0].ring;
    if (!r)
        return xstrdup("");
    return ring_tail(r, lines, (size_t)-1, since_incarnation ? p->inc_seq : 0);
}

/* The `tail` of a terminal status: this incarnation's stderr, else its
 * stdout, at most PROC_TAIL_MAX bytes. */
static char *terminal_tail(const struct proc *p)
{
    for (int i = 1; i >= 0; i--) {
        const struct ring *r = p->out[i].ring;
        if (!r)
            continue;
        char *t = ring_tail(r, RING_LINES, PROC_TAIL_MAX, p->inc_seq);
        if (*t)
            return t;
        free(t);
    }
    return xstrdup("");
}

/* ---- spawning ---- */

static void exec_cb(struct ev_loop *loop, ev_io *w, int revents);
/* ---- reaping (reap.c reaps; the proc watches its main process) ---- */

static void main_exited(struct reap_watch *w, pid_t pid, int status);

/* How the spec's program is spawned, with `env` as its environment. */
static void launch_opts_of(const struct spec *sp, char **env, struct launch_opts *o)
{
    o->argv = sp->argv;
    o->env = env;
    o->cwd = sp->cwd;
    o->user = sp->user;
    o->uid = sp->uid;
    o->gid = sp->gid;
    o->groups = sp->groups;
    o->ngroups = sp->ngroups;
    o->pass_fd = o->pass_as = -1;
}

/* The child's environment: tend's, the spec's env, TEND_PROC,
 * TEND_INCARNATION, `extra` (NOTIFY_SOCKET) and, for `user`, HOME, USER
 * and LOGNAME. */
static char **build_env(const struct proc *p, const char *extra)
{
    const struct spec *sp = p->spec;
    char *more[8] = {
        xasprintf("TEND_PROC=%s", sp->name),
        xasprintf("TEND_INCARNATION=%u", p->st.incarnation),
    };
    int k = 2;
    /* extra: "KEY=VALUE" lines (NOTIFY_SOCKET, WATCHDOG_USEC) */
    for (const char *e = extra; e && *e && k < 4;) {
        size_t n = strcspn(e, "\n");
        more[k++] = xstrndup(e, n);
        e += n + (e[n] == '\n');
    }
    if (sp->user) {
        more[k++] = xasprintf("HOME=%s", sp->home ? sp->home : "/");
        more[k++] = xasprintf("USER=%s", sp->user);
        more[k++] = xasprintf("LOGNAME=%s", sp->user);
    }
    char **env = launch_env(sp->env, more);
    for (int i = 0; more[i]; i++)
        free(more[i]);
    return env;
}

/* Publish a `failed` status with `reason` (taken over). */
static void fail_with(struct proc *p, char *reason)
{
    struct proc_event *ev = move_begin(p, ST_FAILED);
    if (!ev) {
        free(reason);
        return;
    }
    p->st.reason = reason;
    move_commit(p, ev);
}

void proc_start(struct proc *p, bool by_policy)
{
    if (proc_alive(p) || p->doomed || p->deciding)
        return;
    ev_timer_stop(p->loop, &p->restart_timer);
    struct proc_event *ev = move_begin(p, ST_STARTING);
    if (!ev)
        return;
    if (by_policy)
        p->st.restarts++;
    p->inc_seq = line_seq;
    p->sigkilled = false;
    p->stop_cause = CAUSE_NONE;
    p->user_signal = 0;

    struct launch_opts o;
    struct launch_child c;
    char *reason = NULL, *extra = NULL;
    launch_opts_of(p->spec, NULL, &o);
    int rc = 0;
    if (p->spec->output == OUTPUT_FILE && !p->file) {
        p->file = outfile_open(p->spec->output_path, p->spec->output_max_size,
                               p->spec->output_keep, &reason);
        rc = p->file ? 0 : -1;
    }
    if (rc == 0)
        rc = ready_prepare(p, &o, &extra, &reason);
    if (rc == 0) {
        char **env = build_env(p, extra);
        o.env = env;
        rc = launch_start(&o, &c, &reason);
        strv_free(env);
    }
    free(extra);
    if (o.pass_fd >= 0)
        close(o.pass_fd);  /* the child's end of the readiness pipe */
    ready_spawned(p, rc == 0);
    if (rc != 0) {
        hold(p);
        move_commit(p, ev);  /* starting, with no pid */
        fail_with(p, reason);
        release(p);
        return;
    }
    groups_add(&p->group, c.pid);
    reap_watch(p->loop, &p->reaping, c.pid, main_exited);
    p->exec_fd = c.exec_fd;
    ev_io_set(&p->exec_w, p->exec_fd, EV_READ);
    ev_io_start(p->loop, &p->exec_w);
    int rd[2] = {c.out_fd, c.err_fd};
    for (int i = 0; i < 2; i++) {
        struct proc_stream *s = &p->out[i];
        s->fd = rd[i];
        ev_io_set(&s->w, s->fd, EV_READ);
        ev_io_start(p->loop, &s->w);
    }
    p->st.pid = c.pid;
    hold(p);
    move_commit(p, ev);
    /* The spawn waited until the child exec'd or failed (vfork), so the
     * answer is usually there already: taking it now keeps procs started
     * together `running` in the order they were started.  If the child's
     * end is not closed yet, the watcher brings the answer. */
    if (p->st.state == ST_STARTING && p->exec_fd >= 0 && !p->doomed)
        exec_cb(p->loop, &p->exec_w, EV_READ);
    release(p);
}

/* exec is confirmed: running, then ready as its readiness says. */
static void exec_confirmed(struct proc *p)
{
    if (p->st.state != ST_STARTING)
        return;  /* a stop came first: the report is late, ignore it */
    struct proc_event *ev = move_begin(p, ST_RUNNING);
    if (!ev)
        return;
    move_commit(p, ev);
    if (p->st.state == ST_RUNNING)
        ready_running(p);
}

void proc_report_ready(struct proc *p)
{
    if (p->st.state == ST_STARTING) {
        p->ready.early = true;  /* applied right after `running` */
    } else if (p->st.state == ST_RUNNING) {
        hold(p);
        ready_reached(p);
        proc_move(p, ST_READY);
        release(p);
    }
}

/* Read the exec-confirm pipe (see launch_exec_read); the watcher stops
 * once the answer is known. */
static int exec_read(struct proc *p, struct exec_error *e)
{
    ev_io_stop(p->loop, &p->exec_w);  /* before the fd may be closed */
    int r = launch_exec_read(&p->exec_fd, e);
    if (r < 0)
        ev_io_start(p->loop, &p->exec_w);
    return r;
}

static void exec_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct proc *p = container_of(w, struct proc, exec_w);
    struct exec_error e;
    int r = exec_read(p, &e);
    if (r < 0)
        return;
    hold(p);
    if (r == 0)
        p->exec_failure = e, p->exec_failed = true;  /* published at reap */
    else
        exec_confirmed(p);
    release(p);
}

/* The main process has exited; it is reaped once this returns, so its
 * group's id is still the group's while the leftovers are signalled. */
static void main_exited(struct reap_watch *w, pid_t pid, int rstatus)
{
    struct proc *p = container_of(w, struct proc, reaping);
    hold(p);

    /* In the order things happened: the exec report, the output already
     * written, then the exit. */
    if (p->exec_fd >= 0) {
        /* the child is gone, so its end is closed: the answer is there */
        struct exec_error e;
        int r = exec_read(p, &e);
        if (r < 0) {
            ev_io_stop(p->loop, &p->exec_w);
            close(p->exec_fd);
            p->exec_fd = -1;  /* no report after all: treat as exec'd */
        }
        if (r == 0)
            p->exec_failure = e, p->exec_failed = true;
        else
            exec_confirmed(p);
    }
    ready_drain(p);
    for (int i = 0; i < 2; i++) {
        if (p->out[i].fd >= 0)
            stream_read(p, i, true);
        stream_close(p, i);
    }
    ev_timer_stop(p->loop, &p->stop_timer);
    ready_stop(p, true);
    groups_remove(&p->group);
    reap_linger(pid, p->sigkilled ? SIGKILL : p->spec->stop_signal, p->spec->stop_timeout);

    if (p->exec_failed) {
        p->exec_failed = false;
        struct launch_opts o;
        launch_opts_of(p->spec, NULL, &o);
        fail_with(p, launch_reason(&o, &p->exec_failure));
    } else {
        enum proc_state to = WIFSIGNALED(rstatus) ? ST_KILLED : ST_STOPPED;
        struct proc_event *ev = move_begin(p, to);
        if (ev) {
            p->st.tail = terminal_tail(p);
            if (to == ST_KILLED) {
                p->st.signal = WTERMSIG(rstatus);
                p->st.core_dumped = WCOREDUMP(rstatus);
                /* it died of a signal an operator or the policy sent */
                if (p->stop_cause == CAUSE_NONE && p->user_signal == p->st.signal)
                    p->st.cause = CAUSE_SIGNAL;
            } else {
                p->st.exit_code = WEXITSTATUS(rstatus);
            }
            move_commit(p, ev);
        }
    }
    release(p);
}

/* ---- stopping ---- */

static void stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proc *p = container_of(w, struct proc, stop_timer);
    if (!proc_alive(p))
        return;
    log_warn(p->spec->name, "still running after its stop timeout: SIGKILL");
    proc_kill(p, CAUSE_NONE);  /* the stop's cause stays */
}

/* `sig` to the incarnation's process group. */
static int group_signal(struct proc *p, int sig)
{
    if (!proc_alive(p) || p->st.pid <= 0) {
        errno = ESRCH;
        return -1;
    }
    return kill(-p->st.pid, sig);
}

int proc_signal(struct proc *p, int sig)
{
    int rc = group_signal(p, sig);
    if (rc == 0)
        p->user_signal = sig;
    return rc;
}

/* The first cause of a stop is the incarnation's. */
static void note_cause(struct proc *p, enum cause why)
{
    if (p->stop_cause == CAUSE_NONE)
        p->stop_cause = why;
}

int proc_terminate(struct proc *p, double timeout, enum cause why)
{
    if (!proc_alive(p))
        return -1;
    note_cause(p, why);
    if (timeout < 0)
        timeout = p->spec->stop_timeout;
    double deadline = now_mono() + timeout;
    if (p->st.state == ST_STOPPING) {
        /* already on its way: only an earlier deadline changes anything */
        if (deadline < p->st.deadline) {
            p->st.deadline = deadline;
            ev_timer_stop(p->loop, &p->stop_timer);
            ev_timer_set(&p->stop_timer, timeout, 0);
            ev_timer_start(p->loop, &p->stop_timer);
        }
        return 0;
    }
    group_signal(p, p->spec->stop_signal);
    if (p->spec->stop_signal != SIGCONT && p->spec->stop_signal != SIGKILL)
        group_signal(p, SIGCONT);  /* a stopped program must see the signal */
    proc_stopping(p, timeout);
    return 0;
}

void proc_stopping(struct proc *p, double timeout)
{
    if (!proc_alive(p) || p->st.state == ST_STOPPING)
        return;
    if (timeout < 0)
        timeout = p->spec->stop_timeout;
    struct proc_event *ev = move_begin(p, ST_STOPPING);
    if (!ev)
        return;
    ready_stop(p, false);  /* a late readiness report is ignored from now on */
    p->st.deadline = now_mono() + timeout;
    ev_timer_set(&p->stop_timer, timeout, 0);
    ev_timer_start(p->loop, &p->stop_timer);
    move_commit(p, ev);
}

int proc_kill(struct proc *p, enum cause why)
{
    if (!proc_alive(p))
        return -1;
    note_cause(p, why);
    p->sigkilled = p->ever_sigkilled = true;
    ev_timer_stop(p->loop, &p->stop_timer);
    group_signal(p, SIGKILL);
    return 0;
}

void proc_reopen_output(struct proc *p)
{
    if (p->file)
        outfile_reopen(p->file, p->spec->name);
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
    p->exec_fd = -1;
    ev_io_init(&p->exec_w, exec_cb, -1, EV_READ);
    for (int i = 0; i < 2; i++) {
        p->out[i].fd = -1;
        ev_io_init(&p->out[i].w, stream_cb, -1, EV_READ);
        p->out[i].w.data = p;
    }
    ev_timer_init(&p->stop_timer, stop_timer_cb, 0, 0);
    ev_timer_init(&p->restart_timer, restart_cb, 0, 0);
    p->ow.wake = output_wake;
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
    while (p->listeners) {
        struct proc_listener *l = p->listeners;
        p->listeners = l->next;
        if (l->own_data)
            free(l->data);
        free(l);
    }
    for (int i = 0; i < 2; i++)
        ring_free(p->out[i].ring);
    ready_free(p);
    outfile_close(p->file);
    status_clear(&p->st);
    spec_free(p->spec);
    free(p);
}

void proc_free(struct proc *p)
{
    if (!p || p->doomed)
        return;
    p->doomed = true;
    if (proc_alive(p) && p->st.pid > 0)
        kill(-p->st.pid, SIGKILL);
    reap_unwatch(&p->reaping);
    if (p->exec_fd >= 0) {
        ev_io_stop(p->loop, &p->exec_w);
        close(p->exec_fd);
        p->exec_fd = -1;
    }
    for (int i = 0; i < 2; i++)
        stream_close(p, i);
    output_cancel(&p->ow);
    ready_free(p);  /* now, not at destroy: a successor may want the notify name */
    ev_timer_stop(p->loop, &p->stop_timer);
    ev_timer_stop(p->loop, &p->restart_timer);
    groups_remove(&p->group);
    hold(p);
    release(p);
}
