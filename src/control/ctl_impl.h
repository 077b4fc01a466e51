/* ctl_impl.h -- what the control socket's files share, and nobody else:
 * ctl.c (the server and its connections), ctl_request.c (requests parsed,
 * checked, dispatched and answered, the commands) and ctl_logs.c (`tend
 * logs` and its followers). */
#ifndef TEND_CTL_IMPL_H
#define TEND_CTL_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <ev.h>
#include <jansson.h>

#include "base/later.h"
#include "base/util.h"
#include "control/ctl.h"
#include "core/proc.h"

struct conn;
struct logs_follow;

/* One proc a request waits on. */
struct target {
    struct request *req;
    struct proc *p;
    struct proc_sub *sub;
    enum { T_READY, T_TERMINAL, T_RESTART } want;
    bool done, ok;
    const char *why;  /* a failure that is not the proc's own end */
    char *gone;       /* the proc's name once a reload or scale freed it
                       * (p is NULL then) */
};

/* A request that is answered once its procs reach a state. */
struct request {
    struct conn *c;
    const char *cmd;
    struct target *t;
    size_t n, left;
    bool setting_up;  /* targets may finish before every one is set up */
    bool fail_fast;   /* wait: the first failure answers */
    bool timed_out;
    bool reload;      /* a reload under way: the manager answers it */
    double timeout;
    ev_timer timer;   /* wait --timeout */
};

struct conn {
    struct ctl *ctl;
    int fd;
    ev_io rw, ww;
    struct later wake;        /* back to the held input, from the loop */
    struct buf in;            /* input held: a partial line, or lines that wait */
    bool skipping;            /* dropping an oversized line up to its newline */
    bool held;                /* in may hold whole lines (put there while busy) */
    struct buf out;       /* replies not yet written: out.p[outstart..out.len) */
    size_t outstart;
    struct request *req;      /* the request being answered */
    struct logs_follow *follow;  /* logs -f (ctl_logs.c), or NULL */
    bool eof;                 /* the client sends no more */
    bool closing;             /* close once the output is written */
    struct conn *prev, *next;
    /* idle (no request, no follow): on the ctl's idle list since idle_at */
    bool idle;
    double idle_at;           /* ev_now when it went idle or was last active */
    struct conn *idle_prev, *idle_next;
};

struct ctl {
    struct ev_loop *loop;
    struct manager *m;
    char *path;
    int fd;
    dev_t dev;                /* the socket file we bound, to remove only ours */
    ino_t ino;
    ev_io accept_w;
    ev_timer retry_w;         /* accept again after running out of fds */
    int lock_fd;              /* PATH.lock, flock'ed: the socket is ours */
    bool accept_failing;      /* said so; quiet until an accept works */
    bool evicting;            /* said so; quiet until there is room again */
    struct conn *conns;
    size_t nconns;
    size_t nfollows;          /* connections following (ctl_logs.c) */
    /* the idle connections, idle the longest first (so sorted by when they
     * time out); one timer for the first, stopped when there is none */
    struct conn *idle_head, *idle_tail;
    ev_timer idle_w;
    double idle_timeout;      /* CTL_IDLE_TIMEOUT, or $TEND_CTL_IDLE */
};
/* ---- ctl.c: a connection's output and state ---- */

/* Bytes queued for the client and not yet written. */
size_t conn_out_len(const struct conn *c);
/* Queue one message (taken over) as a line. */
void conn_send(struct conn *c, json_t *msg);
/* {"ok": true, "result": result} (result taken over; NULL: none). */
void conn_ok(struct conn *c, json_t *result);
/* {"ok": false, "error": message}. */
void conn_error(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The connection was active, or its request or follow ended: it is idle
 * from now on unless a request or a follow holds it. */
void conn_touch(struct conn *c);
/* Come back to the held input from the loop, never from inside a proc's
 * dispatch. */
void conn_wake(struct conn *c);

/* ---- ctl_request.c: requests ---- */

/* Parse, check and run one request line (trimmed, not empty). */
void request_run(struct conn *c, const char *line, size_t len);
/* Drop the request being answered, without an answer. */
void request_free(struct request *r);
/* A reload retired `p` and is about to free it: waits on it fail, follows
 * of it end (the manager's forget callback; data is the ctl). */
void request_forget_proc(struct proc *p, void *data);
/* The procs of the request's "names", without repeats (every proc when
 * there are none and `all` allows it); NULL after an error reply. */
struct proc **request_procs(struct conn *c, json_t *req, const char *cmd, bool all,
                            size_t *n);
/* The boolean under `key` (absent: false); false after an error reply. */
bool request_flag(struct conn *c, json_t *req, const char *cmd, const char *key,
                  bool *out);

/* ---- ctl_logs.c: `tend logs` ---- */

/* The logs command: the recent lines, then (-f) the new ones. */
void logs_cmd(struct conn *c, json_t *req);
/* Stop following (if the connection follows). */
void logs_unfollow(struct conn *c);
/* A reload retires `p`: it leaves a follow, which ends with its last
 * proc (a follow of every proc takes in what replaced it instead). */
void logs_forget(struct conn *c, struct proc *p);
/* A reload through the socket is done: follows of every proc take in the
 * procs it added. */
void logs_reloaded(struct ctl *ctl);
/* The client took what was queued: tell a follower how many lines it
 * missed, once it has caught up. */
void logs_catch_up(struct conn *c);

#endif
