/* ctl_logs.c -- `tend logs`: the recent lines of a proc's rings, and a
 * follow that sends each new line as it arrives.  A follower that does not
 * keep up loses lines, counted, rather than growing its queue. */
#include "control/ctl_impl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/ring.h"
#include "control/statusjson.h"

#define FOLLOW_MAX (1024 * 1024)     /* a follower's lines are dropped above this */
#define LOGS_DEFAULT 20

/* logs -f: each new line of the proc (as its ring keeps it). */
static void follow_line(struct proc *p, int stream, const char *line, size_t len, void *data)
{
    struct conn *c = data;
    if (c->follow_stream >= 0 && stream != c->follow_stream)
        return;
    if (conn_out_len(c) > FOLLOW_MAX) {
        c->dropped++;  /* told once the client catches up */
        return;
    }
    const struct ring *r = proc_ring(p, stream);
    size_t k = r ? ring_count(r) : 0;
    size_t tlen;
    uint64_t seq;
    const char *text = k ? ring_line(r, k - 1, &tlen, &seq) : NULL;
    if (!text)
        return;
    json_t *msg = json_object();
    json_object_set_new(msg, "stream", json_string(stream ? "stderr" : "stdout"));
    json_t *s = json_stringn(text, tlen);
    json_object_set_new(msg, "text", s ? s : json_text("?"));
    conn_send(c, msg);
}

/* The newest `want` lines of `stream` (-1: both, merged in arrival order). */
static json_t *logs_lines(const struct proc *p, int stream, size_t want)
{
    const struct ring *r[2] = {proc_ring(p, 0), proc_ring(p, 1)};
    size_t left[2];
    for (int i = 0; i < 2; i++)
        left[i] = r[i] && (stream < 0 || stream == i) ? ring_count(r[i]) : 0;
    size_t total = left[0] + left[1];
    if (want > total)
        want = total;
    /* pick from the newest end of both rings, then emit oldest first */
    int *from = xcalloc(want ? want : 1, sizeof *from);
    size_t *idx = xcalloc(want ? want : 1, sizeof *idx);
    for (size_t k = 0; k < want; k++) {
        uint64_t seq[2] = {0, 0};
        size_t len;
        for (int i = 0; i < 2; i++)
            if (left[i])
                ring_line(r[i], left[i] - 1, &len, &seq[i]);
        int i = !left[0] ? 1 : !left[1] ? 0 : seq[1] > seq[0];
        from[want - 1 - k] = i;
        idx[want - 1 - k] = --left[i];
    }
    json_t *lines = json_array();
    for (size_t k = 0; k < want; k++) {
        size_t len;
        uint64_t seq;
        const char *text = ring_line(r[from[k]], idx[k], &len, &seq);
        json_t *o = json_object();
        json_object_set_new(o, "stream", json_string(from[k] ? "stderr" : "stdout"));
        json_t *s = json_stringn(text, len);
        json_object_set_new(o, "text", s ? s : json_text("?"));
        json_array_append_new(lines, o);
    }
    free(from);
    free(idx);
    return lines;
}

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
    size_t n;
    struct proc **procs = request_procs(c, req, "logs", false, &n);
    if (!procs)
        return;
    if (n != 1) {
        free(procs);
        conn_error(c, "logs: one proc at a time");
        return;
    }
    struct proc *p = procs[0];
    free(procs);
    conn_ok(c, logs_lines(p, stream, want));
    if (follow) {
        c->follow = p;
        c->follow_stream = stream;
        c->listener = proc_listen(p, follow_line, c);
    }
}


void logs_unfollow(struct conn *c)
{
    if (c->listener)
        proc_unlisten(c->follow, c->listener);
    c->follow = NULL;
    c->listener = NULL;
}

void logs_forget(struct conn *c, struct proc *p)
{
    if (c->follow != p)
        return;
    logs_unfollow(c);
    c->closing = true;  /* the follow is over: EOF after the lines */
    conn_touch(c);
    if (!ev_is_active(&c->ww))
        ev_io_start(c->ctl->loop, &c->ww);
}

void logs_catch_up(struct conn *c)
{
    if (c->follow && c->dropped && conn_out_len(c) < FOLLOW_MAX / 2) {
        json_t *d = json_object();
        json_object_set_new(d, "dropped", json_integer((json_int_t)c->dropped));
        c->dropped = 0;
        conn_send(c, d);
    }
}
