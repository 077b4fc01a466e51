/* ctl_logs.c -- `tend logs`: the recent lines of the procs' rings merged in
 * arrival order, and a follow that sends each new line as it arrives.
 *
 * Every line a proc writes gets a number from one counter shared by every
 * proc and both streams (proc.c), so the newest N lines of any set of
 * rings are found by a merge on that number: a heap of one cursor a ring,
 * each walking its ring from the newest line back.  A line goes out as
 * {"name", "stream", "time", "seq", "text"}; time is when tend read it,
 * ISO-8601 UTC with milliseconds.  A follower that does not keep up loses
 * lines, counted, rather than growing its queue.
 *
 * A follow of every proc (no names) stays one across reloads: after a
 * reload (through the socket, or one that replaced or removed a followed
 * proc) it takes in the procs it does not hear yet. */
#include "control/ctl_impl.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/later.h"
#include "base/ring.h"
#include "control/statusjson.h"
#include "core/manager.h"

#define FOLLOW_MAX (1024 * 1024)     /* a follower's lines are dropped above this */
#define LOGS_DEFAULT 20
/* Bytes of line text one answer holds at most (its newest lines): with
 * thousands of procs, the rings together hold more than a reply should. */
#define LOGS_REPLY_MAX (16 * 1024 * 1024)

/* One proc a follow hears. */
struct followed {
    struct proc *p;
    struct proc_listener *listener;
};

struct logs_follow {
    struct conn *c;
    int stream;               /* 0 stdout, 1 stderr, -1 both */
    size_t dropped;           /* lines a slow follower missed, not yet told */
    struct followed *procs;
    size_t n, cap;
    bool all;                 /* every proc, those a reload adds too */
    struct later resync;      /* all: take in the procs not heard yet */
};

/* The i-th line of `p`'s ring of `stream` as a message. */
static json_t *line_json(const struct proc *p, int stream, const struct ring *r, size_t i)
{
    size_t len;
    uint64_t seq;
    const char *text = ring_line(r, i, &len, &seq);
    char when[40];
    time_iso(ring_line_time(r, i), when);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_text(proc_name(p)));
    json_object_set_new(o, "stream", json_string(stream ? "stderr" : "stdout"));
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "seq", json_integer((json_int_t)seq));
    json_t *s = json_stringn(text, len);  /* the ring keeps UTF-8 only */
    json_object_set_new(o, "text", s ? s : json_text("?"));
    return o;
}

/* ---- the newest lines of many rings ---- */

/* A ring read from its newest line back: `left` lines not taken yet. */
struct cursor {
    const struct proc *p;
    int stream;
    const struct ring *r;
    size_t left;
    uint64_t seq;             /* of line left - 1 */
};

/* Whether cursor a's next line is newer than b's. */
static bool newer(const struct cursor *a, const struct cursor *b)
{
    return a->seq > b->seq;
}

/* Restore the max-heap order below slot i. */
static void heap_down(struct cursor *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < n && newer(&h[l], &h[top]))
            top = l;
        if (r < n && newer(&h[r], &h[top]))
            top = r;
        if (top == i)
            return;
        struct cursor t = h[i];
        h[i] = h[top];
        h[top] = t;
        i = top;
    }
}

/* The sequence number of the line before the cursor's next. */
static void cursor_load(struct cursor *k)
{
    ring_line(k->r, k->left - 1, NULL, &k->seq);
}

/* The newest `want` lines of `stream` (-1: both) of the procs, oldest
 * first, as an array of messages; fewer when they hold more than
 * LOGS_REPLY_MAX bytes. */
static json_t *logs_lines(struct proc *const *procs, size_t n, int stream, size_t want)
{
    struct cursor *h = xcalloc(2 * n + 1, sizeof *h);
    size_t nh = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        for (int s = 0; s < 2; s++) {
            const struct ring *r = proc_ring(procs[i], s);
            if (!r || ring_count(r) == 0 || (stream >= 0 && s != stream))
                continue;
            h[nh] = (struct cursor){procs[i], s, r, ring_count(r), 0};
            cursor_load(&h[nh]);
            total += ring_count(r);
            nh++;
        }
    if (want > total)
        want = total;
    for (size_t i = nh / 2; i-- > 0;)
        heap_down(h, nh, i);
    /* take the newest `want` (taken[from..want)), then send them oldest
     * first */
    struct cursor *taken = xcalloc(want ? want : 1, sizeof *taken);
    size_t from = want, bytes = 0;
    while (from > 0) {
        size_t len;
        ring_line(h[0].r, h[0].left - 1, &len, NULL);
        if (bytes + len > LOGS_REPLY_MAX)
            break;
        bytes += len;
        taken[--from] = h[0];
        if (--h[0].left > 0)
            cursor_load(&h[0]);
        else
            h[0] = h[--nh];
        heap_down(h, nh, 0);
    }
    json_t *lines = json_array();
    for (size_t k = from; k < want; k++)
        json_array_append_new(lines, line_json(taken[k].p, taken[k].stream, taken[k].r,
                                               taken[k].left - 1));
    free(taken);
    free(h);
    return lines;
}

/* ---- following ---- */

/* logs -f: each new line of a followed proc (as its ring keeps it). */
static void follow_line(struct proc *p, int stream, const char *line, size_t len, void *data)
{
    struct logs_follow *f = data;
    struct conn *c = f->c;
    if (f->stream >= 0 && stream != f->stream)
        return;
    if (conn_out_len(c) > FOLLOW_MAX) {
        f->dropped++;  /* told once the client catches up */
        return;
    }
    /* the line was pushed into the ring just before the listeners run */
    const struct ring *r = proc_ring(p, stream);
    if (!r || ring_count(r) == 0)
        return;
    conn_send(c, line_json(p, stream, r, ring_count(r) - 1));
}

/* Hear `p` too. */
static void follow_add(struct logs_follow *f, struct proc *p)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 8;
        f->procs = xrealloc(f->procs, f->cap * sizeof *f->procs);
    }
    f->procs[f->n].p = p;
    f->procs[f->n].listener = proc_listen(p, follow_line, f);
    f->n++;
}

static void follow_end(struct conn *c);

/* A follow of every proc after a reload: the procs it does not hear yet
 * (new, or replacing one it heard) from now on; none left: the end. */
static void follow_resync(struct later *l)
{
    struct logs_follow *f = container_of(l, struct logs_follow, resync);
    struct manager *m = f->c->ctl->m;
    for (size_t i = 0; i < manager_count(m); i++) {
        struct proc *p = manager_at(m, i);
        bool heard = false;
        for (size_t j = 0; j < f->n && !heard; j++)
            heard = f->procs[j].p == p;
        if (!heard)
            follow_add(f, p);
    }
    if (f->n == 0)
        follow_end(f->c);
}

/* Follow `procs` (n of them; `all`: every proc there is) from now on. */
static void follow_start(struct conn *c, struct proc *const *procs, size_t n, int stream,
                         bool all)
{
    struct logs_follow *f = xcalloc(1, sizeof *f);
    f->c = c;
    f->stream = stream;
    f->all = all;
    later_init(&f->resync, follow_resync);
    for (size_t i = 0; i < n; i++)
        follow_add(f, procs[i]);
    c->follow = f;
    c->ctl->nfollows++;
}

void logs_unfollow(struct conn *c)
{
    struct logs_follow *f = c->follow;
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        proc_unlisten(f->procs[i].p, f->procs[i].listener);
    later_cancel(c->ctl->loop, &f->resync);
    free(f->procs);
    free(f);
    c->follow = NULL;
    c->ctl->nfollows--;
}

/* The follow is over: EOF once the lines queued are written. */
static void follow_end(struct conn *c)
{
    logs_unfollow(c);
    c->closing = true;
    conn_touch(c);
    if (!ev_is_active(&c->ww))
        ev_io_start(c->ctl->loop, &c->ww);
}

void logs_forget(struct conn *c, struct proc *p)
{
    struct logs_follow *f = c->follow;
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        if (f->procs[i].p == p) {
            proc_unlisten(p, f->procs[i].listener);
            f->procs[i] = f->procs[--f->n];
            break;
        }
    if (f->all)
        later_run(c->ctl->loop, &f->resync);  /* once the reload is done */
    else if (f->n == 0)
        follow_end(c);
}

void logs_reloaded(struct ctl *ctl)
{
    for (struct conn *c = ctl->conns, *next; c; c = next) {
        next = c->next;
        if (c->follow && c->follow->all) {
            later_cancel(ctl->loop, &c->follow->resync);  /* now, not later */
            follow_resync(&c->follow->resync);
        }
    }
}

void logs_catch_up(struct conn *c)
{
    struct logs_follow *f = c->follow;
    if (f && f->dropped && conn_out_len(c) < FOLLOW_MAX / 2) {
        json_t *d = json_object();
        json_object_set_new(d, "dropped", json_integer((json_int_t)f->dropped));
        f->dropped = 0;
        conn_send(c, d);
    }
}

/* ---- the command ---- */

void logs_cmd(struct conn *c, json_t *req)
{
    bool follow;
    int stream = -1;
    size_t want = LOGS_DEFAULT;
    if (!request_flag(c, req, "logs", "follow", &follow))
        return;
    json_t *v = json_object_get(req, "stream");
    if (v) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        stream = strcmp(s, "stdout") == 0 ? 0 : strcmp(s, "stderr") == 0 ? 1 : -2;
        if (stream == -2) {
            conn_error(c, "logs: \"stream\" must be \"stdout\" or \"stderr\"");
            return;
        }
    }
    if ((v = json_object_get(req, "lines"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            conn_error(c, "logs: \"lines\" must be a whole number (0 or more)");
            return;
        }
        want = (size_t)json_integer_value(v);
    }
    if (follow && c->ctl->nfollows >= CTL_FOLLOWS_MAX) {
        conn_error(c, "logs: too many followers (%d): the rest of the connections are kept "
                   "for other commands", CTL_FOLLOWS_MAX);
        return;
    }
    size_t n;
    struct proc **procs = request_procs(c, req, "logs", true, &n);
    if (!procs)
        return;
    bool all = json_array_size(json_object_get(req, "names")) == 0;
    conn_ok(c, logs_lines(procs, n, stream, want));
    if (follow && n > 0)
        follow_start(c, procs, n, stream, all);
    else if (follow)
        c->closing = true;  /* nothing to follow: the answer is all */
    free(procs);
}
