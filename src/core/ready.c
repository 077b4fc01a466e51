/* ready.c -- when `running` becomes `ready`, and when a live incarnation
 * is terminated for its readiness, watchdog or health.
 *
 * Every check runs on the loop and only while it has something to do: a
 * tcp or exec readiness check wakes once per ready_interval until the proc
 * is ready, a health check once per interval; nothing is armed for a proc
 * without checks. */
#include "core/ready.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/check.h"
#include "base/log.h"
#include "base/pattern.h"
#include "base/util.h"

#define NOTIFY_MAX 4096  /* bytes of one sd_notify datagram */

static void start_health(struct proc *p, double after);

/* ---- the readiness fd (s6's notification-fd) ---- */

static void close_fd(struct proc *p)
{
    struct proc_ready *r = &p->ready;
    if (r->fd >= 0) {
        ev_io_stop(p->loop, &r->fd_w);
        close(r->fd);
        r->fd = -1;
    }
}

static void fd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct proc *p = container_of(w, struct proc, ready.fd_w);
    char buf[512];
    for (;;) {
        ssize_t n = read(p->ready.fd, buf, sizeof buf);
        if (n > 0) {
            if (memchr(buf, '\n', (size_t)n)) {
                close_fd(p);
                proc_report_ready(p);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        close_fd(p);  /* closed without a newline: never ready this way */
        return;
    }
}

/* ---- sd_notify ---- */

/* Whether the sender (by its credentials) belongs to the incarnation's
 * process group. */
static bool sender_is_ours(const struct proc *p, pid_t pid)
{
    if (!proc_alive(p) || p->st.pid <= 0 || pid <= 0)
        return false;
    return pid == p->st.pid || getpgid(pid) == p->st.pid;
}

/* STATUS= text as it is kept: a control character (an escape sequence a
 * child could aim at the operator's terminal: \e]0;...\a, \e[2J) becomes
 * \xNN, whoever shows the text later. */
static char *status_text_of(const char *s)
{
    size_t n = 0;
    for (const unsigned char *u = (const unsigned char *)s; *u; u++)
        n += *u < 0x20 || *u == 0x7f ? 4 : 1;
    char *out = xmalloc(n + 1), *o = out;
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if (*u < 0x20 || *u == 0x7f)
            o += sprintf(o, "\\x%02x", *u);
        else
            *o++ = (char)*u;
    }
    *o = '\0';
    return out;
}

/* Apply one datagram: READY=1, STATUS=, WATCHDOG=1, STOPPING=1. */
static void notify_apply(struct proc *p, char *msg)
{
    for (char *line = strtok(msg, "\n"); line; line = strtok(NULL, "\n")) {
        if (strcmp(line, "READY=1") == 0) {
            proc_report_ready(p);
        } else if (strncmp(line, "STATUS=", 7) == 0) {
            free(p->st.status_text);
            p->st.status_text = status_text_of(line + 7);
        } else if (strcmp(line, "WATCHDOG=1") == 0) {
            if (ev_is_active(&p->ready.watchdog))
                ev_timer_again(p->loop, &p->ready.watchdog);
        } else if (strcmp(line, "STOPPING=1") == 0) {
            if (proc_alive(p) && p->st.state != ST_STOPPING)
                proc_stopping(p, -1);
        }
        /* other fields are ignored */
    }
}

/* Read the notify socket: up to 16 datagrams.  `reaped`: the main process
 * has just been reaped, and its own last messages are still accepted. */
static void notify_read(struct proc *p, bool reaped)
{
    for (int rounds = 0; rounds < 16; rounds++) {
        char buf[NOTIFY_MAX + 1];
        union {
            struct cmsghdr h;
            char space[CMSG_SPACE(sizeof(struct ucred))];
        } ctl;
        struct iovec iov = {buf, NOTIFY_MAX};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = &ctl, .msg_controllen = sizeof ctl};
        ssize_t n = recvmsg(p->ready.notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
            return;  /* EAGAIN: all read */
        buf[n] = '\0';
        pid_t sender = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                struct ucred uc;
                memcpy(&uc, CMSG_DATA(c), sizeof uc);
                sender = uc.pid;
            }
        if (!sender_is_ours(p, sender) && !(reaped && sender == p->st.pid)) {
            log_warn(p->spec->name, "refused a notification from pid %d: not a live "
                     "process of the proc's process group", (int)sender);
            continue;
        }
        notify_apply(p, buf);
    }
}

static void notify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    notify_read(container_of(w, struct proc, ready.notify_w), false);
}

void ready_drain(struct proc *p)
{
    if (p->st.state != ST_RUNNING)
        return;
    if (p->ready.fd >= 0)
        fd_cb(p->loop, &p->ready.fd_w, EV_READ);
    if (p->ready.notify_fd >= 0 && p->st.state == ST_RUNNING)
        notify_read(p, true);
}

/* The proc's notify socket, made once: an abstract address that names tend
 * and the proc. */
static int notify_open(struct proc *p, char **reason)
{
    struct proc_ready *r = &p->ready;
    if (r->notify_fd >= 0)
        return 0;
    r->notify_name = xasprintf("tend/%d/%s", (int)getpid(), p->spec->name);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(r->notify_name);
    if (len + 1 > sizeof sa.sun_path) {
        *reason = xasprintf("notify socket: the name is too long");
        return -1;
    }
    memcpy(sa.sun_path + 1, r->notify_name, len);  /* sun_path[0] = 0: abstract */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int on = 1;
    if (fd < 0 ||
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
        *reason = xasprintf("notify socket @%s: %s", r->notify_name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    r->notify_fd = fd;
    ev_io_init(&r->notify_w, notify_cb, fd, EV_READ);
    ev_io_start(p->loop, &r->notify_w);
    return 0;
}

/* ---- tcp and exec checks, retried until ready ---- */

static void attempt_cb(bool ok, const char *why, void *data);

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proc *p = container_of(w, struct proc, ready.retry);
    p->ready.attempt = check_start(loop, &p->spec->ready, 5.0, attempt_cb, p);
}

static void attempt_cb(bool ok, const char *why, void *data)
{
    struct proc *p = data;
    p->ready.attempt = NULL;
    if (ok) {
        proc_report_ready(p);
        return;
    }
    ev_timer_set(&p->ready.retry, p->spec->ready_interval, 0);
    ev_timer_start(p->loop, &p->ready.retry);
}

/* ---- deadlines ---- */

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proc *p = container_of(w, struct proc, ready.timeout);
    if (p->st.state != ST_STARTING && p->st.state != ST_RUNNING)
        return;
    log_warn(p->spec->name, "not ready within its ready_timeout of %gs: terminating",
             p->spec->ready_timeout);
    proc_terminate(p, -1, CAUSE_READY_TIMEOUT);
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proc *p = container_of(w, struct proc, ready.watchdog);
    ev_timer_stop(loop, w);
    if (!proc_alive(p) || p->st.state == ST_STOPPING)
        return;
    log_warn(p->spec->name, "no WATCHDOG=1 within %gs: terminating", p->spec->watchdog);
    proc_terminate(p, -1, CAUSE_WATCHDOG);
}

/* ---- health ---- */

static void health_result(struct proc *p, bool ok, const char *why)
{
    struct proc_ready *r = &p->ready;
    r->health_running = false;
    ev_timer_stop(p->loop, &r->health_timer);
    if (!proc_alive(p) || p->st.state == ST_STOPPING)
        return;
    if (ok) {
        r->health_fails = 0;
        p->st.health_fails = 0;
        p->st.health = HEALTH_HEALTHY;
        free(p->st.health_failure);
        p->st.health_failure = NULL;
    } else {
        r->health_fails++;
        p->st.health_fails = (unsigned)r->health_fails;
        p->st.health = HEALTH_UNHEALTHY;
        free(p->st.health_failure);
        p->st.health_failure = xstrdup(why ? why : "failed");
        log_warn(p->spec->name, "health check failed (%d of %d): %s", r->health_fails,
                 p->spec->health_failures, p->st.health_failure);
        if (r->health_fails >= p->spec->health_failures) {
            log_warn(p->spec->name, "unhealthy: terminating");
            proc_terminate(p, -1, CAUSE_HEALTH);
            return;
        }
    }
    start_health(p, p->spec->health_interval);
}

static void health_attempt_cb(bool ok, const char *why, void *data)
{
    struct proc *p = data;
    p->ready.health_attempt = NULL;
    health_result(p, ok, why);
}

/* The health timer: time for a check, or (while one runs) its timeout. */
static void health_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proc *p = container_of(w, struct proc, ready.health_timer);
    struct proc_ready *r = &p->ready;
    const struct check *c = &p->spec->health;
    if (r->health_running) {
        /* only the owner's checks time out here; tcp and exec ones have
         * their own timeout */
        r->gen[CHECK_HEALTH]++;
        char *what = check_describe(c);
        char *why = xasprintf("%s: no answer within %gs", what, p->spec->health_timeout);
        health_result(p, false, why);
        free(what);
        free(why);
        return;
    }
    r->health_running = true;
    if (c->kind == CHECK_TCP || c->kind == CHECK_EXEC) {
        r->health_attempt = check_start(loop, c, p->spec->health_timeout,
                                        health_attempt_cb, p);
    } else if (p->owner.check) {
        ev_timer_set(w, p->spec->health_timeout, 0);
        ev_timer_start(loop, w);
        p->owner.check(p, CHECK_HEALTH, ++r->gen[CHECK_HEALTH], p->owner.data);
    }
}

static void start_health(struct proc *p, double after)
{
    ev_timer_set(&p->ready.health_timer, after, 0);
    ev_timer_start(p->loop, &p->ready.health_timer);
}

/* ---- the life of an incarnation ---- */

void ready_init(struct proc *p)
{
    struct proc_ready *r = &p->ready;
    r->fd = -1;
    r->notify_fd = -1;
    ev_io_init(&r->fd_w, fd_cb, -1, EV_READ);
    ev_timer_init(&r->retry, retry_cb, 0, 0);
    ev_timer_init(&r->timeout, timeout_cb, 0, 0);
    ev_timer_init(&r->watchdog, watchdog_cb, 0, 0);
    ev_timer_init(&r->health_timer, health_timer_cb, 0, 0);
}

int ready_prepare(struct proc *p, struct launch_opts *o, char **env_extra, char **reason)
{
    struct proc_ready *r = &p->ready;
    const struct spec *sp = p->spec;
    *env_extra = NULL;
    r->early = false;
    r->health_fails = 0;
    close_fd(p);  /* the last incarnation's, if it was never closed */
    if (sp->ready.kind == CHECK_FD) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) {
            *reason = xasprintf("readiness pipe: %s", strerror(errno));
            return -1;
        }
        r->fd = fds[0];
        fd_set_nonblock(r->fd, 1);
        o->pass_fd = fds[1];
        o->pass_as = sp->ready.fd;
    }
    if (sp->ready.kind == CHECK_NOTIFY) {
        if (notify_open(p, reason) != 0)
            return -1;
        /* sd_watchdog_enabled() reads WATCHDOG_USEC: without it a program
         * written for systemd would not ping */
        if (sp->watchdog > 0)
            *env_extra = xasprintf("NOTIFY_SOCKET=@%s\nWATCHDOG_USEC=%lld", r->notify_name,
                                   (long long)(sp->watchdog * 1e6));
        else
            *env_extra = xasprintf("NOTIFY_SOCKET=@%s", r->notify_name);
    }
    return 0;
}

void ready_spawned(struct proc *p, bool ok)
{
    p->st.health = p->spec->health.kind != CHECK_NONE ? HEALTH_UNKNOWN : HEALTH_NONE;
    p->st.health_fails = 0;
    p->st.health_limit = (unsigned)p->spec->health_failures;
    if (!ok) {
        close_fd(p);
        return;
    }
    if (p->ready.fd >= 0) {
        ev_io_set(&p->ready.fd_w, p->ready.fd, EV_READ);
        ev_io_start(p->loop, &p->ready.fd_w);
    }
    if (p->spec->ready_timeout > 0) {
        ev_timer_set(&p->ready.timeout, p->spec->ready_timeout, 0);
        ev_timer_start(p->loop, &p->ready.timeout);
    }
}

/* ---- log patterns (tend.ready.log) ---- */

/* Work a readiness pattern may do on one line (pattern.c's steps): a
 * pattern with catastrophic backtracking on a long line gives up there,
 * it cannot stall the loop. */
#define LOG_MATCH_BUDGET 2000000

/* Whether `line` matches the readiness pattern; a line that takes the
 * pattern too much work counts as not matching (said once a proc). */
static bool line_matches(struct proc *p, const char *line, size_t len, const char *pattern)
{
    long budget = LOG_MATCH_BUDGET;
    const char *err = NULL;
    int r = pattern_find(line, len, pattern, strlen(pattern), &budget, &err);
    if (r == PATTERN_TOO_COSTLY && !p->ready.pattern_costly) {
        p->ready.pattern_costly = true;
        log_error(p->spec->name, "readiness pattern '%s': too much work on a line of %zu bytes "
                  "(over %d steps); such lines do not match", pattern, len, LOG_MATCH_BUDGET);
    } else if (r == PATTERN_MALFORMED) {
        log_error(p->spec->name, "readiness pattern '%s': %s", pattern, err);
    }
    return r == PATTERN_MATCH;
}

/* The listener of a log-pattern check (its data: the check's gen): stops
 * at the first match or once the check no longer matters. */
static void log_line(struct proc *p, int stream, const char *line, size_t len, void *data)
{
    unsigned gen = *(unsigned *)data;
    const struct check *c = &p->spec->ready;
    struct proc_listener *self = NULL;
    for (struct proc_listener *l = p->listeners; l; l = l->next)
        if (l->data == data)
            self = l;
    if (gen != p->ready.gen[CHECK_READY]) {
        proc_unlisten(p, self);
        return;
    }
    if (c->stream >= 0 && c->stream != stream)
        return;
    if (line_matches(p, line, len, c->pattern)) {
        proc_unlisten(p, self);  /* frees data */
        proc_check_done(p, CHECK_READY, gen, true, NULL);
    }
}

/* Whether a line this incarnation already wrote matches (its output may
 * be read before its exec is confirmed). */
static bool log_seen(struct proc *p, const struct check *c)
{
    for (int st = 0; st < 2; st++) {
        const struct ring *r = p->out[st].ring;
        if (!r || (c->stream >= 0 && c->stream != st))
            continue;
        for (size_t i = 0; i < ring_count(r); i++) {
            size_t len;
            uint64_t seq;
            const char *line = ring_line(r, i, &len, &seq);
            if (seq >= p->inc_seq && line_matches(p, line, len, c->pattern))
                return true;
        }
    }
    return false;
}

static void log_check_start(struct proc *p)
{
    unsigned gen = ++p->ready.gen[CHECK_READY];
    if (log_seen(p, &p->spec->ready)) {
        proc_check_done(p, CHECK_READY, gen, true, NULL);
        return;
    }
    unsigned *data = xmalloc(sizeof *data);
    *data = gen;
    proc_listen(p, log_line, data)->own_data = true;
}

void ready_running(struct proc *p)
{
    struct proc_ready *r = &p->ready;
    const struct check *c = &p->spec->ready;
    if (c->kind == CHECK_NONE || r->early) {
        proc_report_ready(p);
        return;
    }
    if (c->kind == CHECK_TCP || c->kind == CHECK_EXEC)
        r->attempt = check_start(p->loop, c, 5.0, attempt_cb, p);
    else if (c->kind == CHECK_LOG)
        log_check_start(p);
    else if (c->kind == CHECK_FUNC && p->owner.check)
        p->owner.check(p, CHECK_READY, ++r->gen[CHECK_READY], p->owner.data);
}

/* Stop what only serves to become ready. */
/* Readiness no longer matters.  The fd form's pipe is closed unless the
 * program may still write to it (`keep_fd`): a late report must not get it
 * SIGPIPE; its pipe is closed when it has exited. */
static void stop_readiness(struct proc *p, bool keep_fd)
{
    struct proc_ready *r = &p->ready;
    if (keep_fd)
        ev_io_stop(p->loop, &r->fd_w);
    else
        close_fd(p);
    ev_timer_stop(p->loop, &r->retry);
    check_cancel(r->attempt);
    r->attempt = NULL;
    ev_timer_stop(p->loop, &r->timeout);
    r->gen[CHECK_READY]++;
}

void ready_reached(struct proc *p)
{
    stop_readiness(p, false);  /* as with s6: one report, then it is closed */
    if (p->spec->watchdog > 0 && p->spec->ready.kind == CHECK_NOTIFY) {
        p->ready.watchdog.repeat = p->spec->watchdog;
        ev_timer_again(p->loop, &p->ready.watchdog);
    }
    if (p->spec->health.kind != CHECK_NONE)
        start_health(p, p->spec->health_interval);
}

void ready_stop(struct proc *p, bool exited)
{
    struct proc_ready *r = &p->ready;
    stop_readiness(p, !exited);
    ev_timer_stop(p->loop, &r->watchdog);
    ev_timer_stop(p->loop, &r->health_timer);
    check_cancel(r->health_attempt);
    r->health_attempt = NULL;
    r->health_running = false;
    r->gen[CHECK_HEALTH]++;
}

void ready_free(struct proc *p)
{
    ready_stop(p, true);
    struct proc_ready *r = &p->ready;
    if (r->notify_fd >= 0) {
        ev_io_stop(p->loop, &r->notify_w);
        close(r->notify_fd);
        r->notify_fd = -1;
    }
    free(r->notify_name);
    r->notify_name = NULL;
}

void proc_report_ready(struct proc *p)
{
    if (p->st.state == ST_STARTING) {
        p->ready.early = true;  /* applied right after `running` */
    } else if (p->st.state == ST_RUNNING) {
        proc_hold(p);
        ready_reached(p);
        proc_move(p, ST_READY);
        proc_release(p);
    }
}

void proc_check_done(struct proc *p, enum check_purpose purpose, unsigned gen, bool ok,
                     const char *why)
{
    if (gen != p->ready.gen[purpose])
        return;  /* an answer to a check that no longer matters */
    if (purpose == CHECK_READY) {
        if (ok)
            proc_report_ready(p);
        else if (why)
            log_warn(p->spec->name, "readiness check: %s", why);
        return;
    }
    p->ready.gen[CHECK_HEALTH]++;
    health_result(p, ok, why);
}

void proc_rebind_checks(struct proc *p)
{
    struct proc_ready *r = &p->ready;
    enum check_kind rk = p->spec->ready.kind, hk = p->spec->health.kind;
    /* a log pattern runs in C and goes on; a function was the old VM's */
    if (p->st.state == ST_RUNNING && rk == CHECK_FUNC && p->owner.check)
        p->owner.check(p, CHECK_READY, ++r->gen[CHECK_READY], p->owner.data);
    if (r->health_running && (hk == CHECK_LOG || hk == CHECK_FUNC)) {
        r->gen[CHECK_HEALTH]++;
        r->health_running = false;
        start_health(p, p->spec->health_interval);
    }
}
