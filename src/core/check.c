/* check.c -- tcp connects and exec runs as checks. */
#include "core/check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/exec.h"
#include "base/resolve.h"
#include "base/later.h"
#include "base/util.h"

struct check_attempt {
    struct ev_loop *loop;
    check_done_fn *fn;
    void *data;
    const struct check *c;
    int fd;                 /* tcp: the connecting socket */
    ev_io w;
    ev_timer timer;         /* the attempt's timeout */
    double timeout;
    struct later report;    /* an immediate answer is told from the loop */
    struct exec_job *job;   /* exec */
    struct resolve *lookup; /* tcp to a host name: its address */
    bool ok;
    char *why;
};

static void attempt_free(struct check_attempt *a)
{
    if (a->fd >= 0) {
        ev_io_stop(a->loop, &a->w);
        close(a->fd);
    }
    ev_timer_stop(a->loop, &a->timer);
    later_cancel(a->loop, &a->report);
    exec_cancel(a->job);
    resolve_cancel(a->lookup);
    free(a->why);
    free(a);
}

static void finish(struct check_attempt *a, bool ok, char *why)
{
    check_done_fn *fn = a->fn;
    void *data = a->data;
    a->job = NULL;  /* if it was an exec, the job is ending by itself */
    attempt_free(a);
    fn(ok, why, data);
    free(why);
}

static void report_cb(struct later *l)
{
    struct check_attempt *a = container_of(l, struct check_attempt, report);
    char *why = a->why;
    a->why = NULL;
    finish(a, a->ok, why);
}

/* Answer from the next loop iteration. */
static void report_later(struct check_attempt *a, bool ok, char *why)
{
    a->ok = ok;
    a->why = why;
    later_run(a->loop, &a->report);
}

static void connected_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct check_attempt *a = container_of(w, struct check_attempt, w);
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    finish(a, err == 0, err ? xasprintf("connect %s: %s", a->c->target, strerror(err)) : NULL);
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct check_attempt *a = container_of(w, struct check_attempt, timer);
    char *what = check_describe(a->c);
    char *why = xasprintf("%s: no answer within %gs", what, a->timeout);
    free(what);
    if (a->job) {
        exec_cancel(a->job);
        a->job = NULL;
    }
    finish(a, false, why);
}

static void exec_done(const struct exec_result *r, void *data)
{
    struct check_attempt *a = data;
    char *why = NULL;
    if (r->state == ST_FAILED)
        why = xasprintf("%s", r->reason);
    else if (r->state == ST_KILLED)
        why = xasprintf("exec %s: killed by signal %s", a->c->argv[0], signal_name(r->signal));
    else if (r->exit_code != 0)
        why = xasprintf("exec %s: exit code %d", a->c->argv[0], r->exit_code);
    finish(a, why == NULL, why);
}

/* Connect, without waiting: the answer comes from the loop. */
static void tcp_connect(struct check_attempt *a, const struct sockaddr *sa, socklen_t len)
{
    a->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a->fd < 0) {
        report_later(a, false, xasprintf("socket: %s", strerror(errno)));
        return;
    }
    if (connect(a->fd, sa, len) == 0) {
        report_later(a, true, NULL);
    } else if (errno == EINPROGRESS) {
        ev_io_init(&a->w, connected_cb, a->fd, EV_WRITE);
        ev_io_start(a->loop, &a->w);
    } else {
        report_later(a, false, xasprintf("connect %s: %s", a->c->target, strerror(errno)));
    }
}

static void resolved(const struct sockaddr *sa, socklen_t len, const char *err, void *data)
{
    struct check_attempt *a = data;
    a->lookup = NULL;  /* done: resolve frees it */
    if (sa)
        tcp_connect(a, sa, len);
    else
        finish(a, false, xstrdup(err));
}

struct check_attempt *check_start(struct ev_loop *loop, const struct check *c,
                                  double timeout, check_done_fn *fn, void *data)
{
    struct check_attempt *a = xcalloc(1, sizeof *a);
    a->loop = loop;
    a->fn = fn;
    a->data = data;
    a->c = c;
    a->fd = -1;
    later_init(&a->report, report_cb);
    a->timeout = timeout;
    ev_timer_init(&a->timer, timeout_cb, timeout, 0);
    ev_timer_start(loop, &a->timer);
    if (c->kind == CHECK_EXEC) {
        a->job = exec_start(loop, c->argv, NULL, NULL, 0, exec_done, a);
        return a;
    }
    if (c->addrlen > 0) {
        tcp_connect(a, (const struct sockaddr *)&c->addr, c->addrlen);
        return a;
    }
    /* a host name: looked up afresh for each attempt, off the loop */
    char *err = NULL;
    a->lookup = resolve_start(loop, c->host, c->port, resolved, a, &err);
    if (!a->lookup)
        report_later(a, false, err);
    return a;
}

void check_cancel(struct check_attempt *a)
{
    if (a)
        attempt_free(a);
}
