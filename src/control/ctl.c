/* ctl.c -- the control socket: requests in, replies out, on the loop. */
#include "control/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "core/proc.h"
#include "base/ring.h"
#include "control/metrics.h"
#include "control/statusjson.h"
#include "base/util.h"

#define IN_HELD_MAX (CTL_REQUEST_MAX + 1)  /* input held while a request runs */
#define OUT_SOFT (64 * 1024)         /* no new request is read above this */
#define FOLLOW_MAX (1024 * 1024)     /* a follower's lines are dropped above this */
#define LOGS_DEFAULT 20
#define IDLE_SLACK 0.001             /* s: a connection this close to its timeout is due */

struct conn;

/* One proc a request waits on. */
struct target {
    struct request *req;
    struct proc *p;
    struct proc_sub *sub;
    enum { T_READY, T_TERMINAL, T_RESTART } want;
    bool done, ok;
    const char *why;  /* a failure that is not the proc's own end */
    bool held;        /* holds tend up between the stop and the start */
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
    double timeout;
    ev_timer timer;   /* wait --timeout */
};

struct conn {
    struct ctl *ctl;
    int fd;
    ev_io rw, ww;
    struct buf in;            /* input held: a partial line, or lines that wait */
    bool skipping;            /* dropping an oversized line up to its newline */
    struct buf out;       /* replies not yet written: out.p[outstart..out.len) */
    size_t outstart;
    struct request *req;      /* the request being answered */
    struct proc *follow;      /* logs -f: the proc followed */
    struct proc_listener *listener;
    int follow_stream;        /* 0 stdout, 1 stderr, -1 both */
    size_t dropped;           /* lines a slow follower missed, not yet told */
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
    /* the idle connections, idle the longest first (so sorted by when they
     * time out); one timer for the first, stopped when there is none */
    struct conn *idle_head, *idle_tail;
    ev_timer idle_w;
    double idle_timeout;      /* CTL_IDLE_TIMEOUT, or $TEND_CTL_IDLE */
};

static char read_buf[64 * 1024];

/* ---- the socket path ---- */

char *ctl_socket_path(const char *opt)
{
    if (opt && *opt)
        return xstrdup(opt);
    const char *env = getenv("TEND_SOCKET");
    if (env && *env)
        return xstrdup(env);
    env = getenv("XDG_RUNTIME_DIR");
    if (env && *env)
        return xasprintf("%s/tend.sock", env);
    return xasprintf("/tmp/tend-%u/tend.sock", (unsigned)getuid());
}

/* Fill `sa` for `path`; false when the path does not fit. */
static bool sockaddr_for(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path)
        return false;
    strcpy(sa->sun_path, path);
    return true;
}

/* Create the directories of `path` that are missing, mode 0700.  Under
 * /tmp, where anybody may create a name first, the default directory must
 * be ours and closed to others (as tmux checks its own). */
static char *make_parent(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    char *err = NULL;
    if (!slash || slash == dir) {
        free(dir);
        return NULL;
    }
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            err = xasprintf("cannot create the directory %s: %s", dir, strerror(errno));
            break;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    char *tmpdefault = xasprintf("/tmp/tend-%u", (unsigned)getuid());
    struct stat sb;
    if (!err && strcmp(dir, tmpdefault) == 0) {
        if (lstat(dir, &sb) != 0)
            err = xasprintf("%s: %s", dir, strerror(errno));
        else if (!S_ISDIR(sb.st_mode) || sb.st_uid != getuid() || (sb.st_mode & 077))
            err = xasprintf("%s is not a directory of uid %u closed to others; "
                            "refusing to put the control socket there",
                            dir, (unsigned)getuid());
    }
    free(tmpdefault);
    free(dir);
    return err;
}

/* Whether a live server answers on `path`; false when nobody does. */
static bool socket_live(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool live = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 ||
                (errno != ECONNREFUSED && errno != ENOENT);
    close(fd);
    return live;
}

/* Bind `fd` to `path`, replacing a stale socket; NULL or a message. */
static char *bind_socket(int fd, const char *path, const struct sockaddr_un *sa)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        mode_t old = umask(0177);  /* the socket file is 0600 */
        int r = bind(fd, (const struct sockaddr *)sa, sizeof *sa);
        int e = errno;
        umask(old);
        if (r == 0)
            return NULL;
        if (e != EADDRINUSE || attempt > 0)
            return xasprintf("cannot bind the control socket %s: %s", path, strerror(e));
        struct stat sb;
        if (lstat(path, &sb) == 0 && !S_ISSOCK(sb.st_mode))
            return xasprintf("%s exists and is not a socket; refusing to replace it",
                             path);
        if (socket_live(sa))
            return xasprintf("another tend is running on the control socket %s "
                             "(use --socket PATH or $TEND_SOCKET for a second one)",
                             path);
        /* a dead tend left it behind */
        if (unlink(path) != 0 && errno != ENOENT)
            return xasprintf("cannot remove the stale socket %s: %s", path,
                             strerror(errno));
    }
    return NULL;
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents);
static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void forget_proc(struct proc *p, void *data);

/* CTL_IDLE_TIMEOUT, or $TEND_CTL_IDLE when it is a number of seconds > 0
 * (the tests' way to see a timeout without waiting 10 s). */
static double idle_timeout(void)
{
    const char *env = getenv("TEND_CTL_IDLE");
    if (env && *env) {
        char *end;
        double v = strtod(env, &end);
        if (*end == '\0' && isfinite(v) && v > 0)
            return v;
    }
    return CTL_IDLE_TIMEOUT;
}

struct ctl *ctl_open(struct ev_loop *loop, struct manager *m, const char *path,
                     char **err)
{
    struct sockaddr_un sa;
    struct ctl *c = NULL;
    int fd = -1, lock_fd = -1;
    *err = NULL;
    if (!sockaddr_for(&sa, path)) {
        *err = xasprintf("the control socket path %s is too long (at most %zu bytes)",
                         path, sizeof sa.sun_path - 1);
        goto fail;
    }
    if ((*err = make_parent(path)))
        goto fail;
    /* PATH.lock, held for tend's life, says whose socket it is: between a
     * bind and its listen, a second tend would otherwise find the socket
     * refusing, take it for a dead tend's, and replace it */
    char *lock_path = xasprintf("%s.lock", path);
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        *err = lock_fd >= 0 && e == EWOULDBLOCK
                   ? xasprintf("another tend is running on the control socket %s "
                               "(use --socket PATH or $TEND_SOCKET for a second one)", path)
                   : xasprintf("cannot lock %s: %s", lock_path, strerror(e));
        free(lock_path);
        goto fail;
    }
    free(lock_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = xasprintf("cannot create the control socket: %s", strerror(errno));
        goto fail;
    }
    if ((*err = bind_socket(fd, path, &sa)))
        goto fail;
    struct stat sb;
    if (listen(fd, 128) != 0 || stat(path, &sb) != 0) {
        *err = xasprintf("cannot listen on the control socket %s: %s", path,
                         strerror(errno));
        unlink(path);
        goto fail;
    }
    c = xcalloc(1, sizeof *c);
    c->loop = loop;
    c->m = m;
    c->path = xstrdup(path);
    c->fd = fd;
    c->lock_fd = lock_fd;
    c->dev = sb.st_dev;
    c->ino = sb.st_ino;
    ev_io_init(&c->accept_w, accept_cb, fd, EV_READ);
    c->accept_w.data = c;
    ev_io_start(loop, &c->accept_w);
    ev_timer_init(&c->retry_w, retry_cb, 0.1, 0);
    c->retry_w.data = c;
    c->idle_timeout = idle_timeout();
    ev_timer_init(&c->idle_w, idle_cb, c->idle_timeout, 0);
    c->idle_w.data = c;
    manager_set_forget(m, forget_proc, c);
    return c;
fail:
    if (fd >= 0)
        close(fd);
    if (lock_fd >= 0)
        close(lock_fd);
    return NULL;
}

/* ---- statuses as JSON ---- */

/* ---- output queue ---- */

static size_t out_len(const struct conn *c)
{
    return c->out.len - c->outstart;
}

/* The output buffer, to append about `need` bytes to; what was sent is
 * dropped first when that makes room. */
static struct buf *out_buf(struct conn *c, size_t need)
{
    if (c->outstart > 0 && c->out.cap - c->out.len < need) {
        memmove(c->out.p, c->out.p + c->outstart, out_len(c));
        c->out.len -= c->outstart;
        c->outstart = 0;
    }
    return &c->out;
}

/* The line appended to the output is complete: the write watcher sends it. */
static void out_ready(struct conn *c)
{
    buf_put(&c->out, "\n", 1);
    if (!ev_is_active(&c->ww))
        ev_io_start(c->ctl->loop, &c->ww);
}

/* Queue one message (taken over) as a line. */
static void conn_send(struct conn *c, json_t *msg)
{
    char *s = json_dumps(msg, STATUSJSON_DUMP_FLAGS);
    json_decref(msg);
    if (!s)
        s = xstrdup("{\"ok\": false, \"error\": \"cannot encode the reply\"}");
    size_t n = strlen(s);
    buf_put(out_buf(c, n + 1), s, n);
    free(s);
    out_ready(c);
}

static void conn_ok(struct conn *c, json_t *result)
{
    json_t *r = json_object();
    json_object_set_new(r, "ok", json_true());
    if (result)
        json_object_set_new(r, "result", result);
    conn_send(c, r);
}

static void conn_error(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An error reply. */
static void conn_error(struct conn *c, const char *fmt, ...)
{
    char *msg;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    json_t *r = json_object();
    json_object_set_new(r, "ok", json_false());
    json_object_set_new(r, "error", json_text(msg ? msg : "out of memory"));
    free(msg);
    conn_send(c, r);
}

/* A reply of statuses: {"ok":true,"result":[...]}, or with an error
 * (NULL: none) {"ok":false,"error":"...","result":[...]}. */
static void conn_statuses(struct conn *c, struct proc *const *procs, size_t n,
                          const char *err)
{
    json_t *r = json_object();
    json_object_set_new(r, "ok", json_boolean(!err));
    if (err)
        json_object_set_new(r, "error", json_text(err));
    json_object_set_new(r, "result", statuses_json(procs, n));
    conn_send(c, r);
}

/* ---- connections ---- */

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void request_free(struct request *r);

/* ---- idle connections ---- */

/* Time the first idle connection out when it is due; no timer when no
 * connection is idle. */
static void idle_arm(struct ctl *ctl)
{
    ev_timer_stop(ctl->loop, &ctl->idle_w);
    if (!ctl->idle_head)
        return;
    double after = ctl->idle_head->idle_at + ctl->idle_timeout - ev_now(ctl->loop);
    ev_timer_set(&ctl->idle_w, after > IDLE_SLACK ? after : IDLE_SLACK, 0);
    ev_timer_start(ctl->loop, &ctl->idle_w);
}

/* Off the idle list (if on it); the timer is armed again by the caller. */
static void idle_unlink(struct conn *c)
{
    struct ctl *ctl = c->ctl;
    if (!c->idle)
        return;
    if (c->idle_prev)
        c->idle_prev->idle_next = c->idle_next;
    else
        ctl->idle_head = c->idle_next;
    if (c->idle_next)
        c->idle_next->idle_prev = c->idle_prev;
    else
        ctl->idle_tail = c->idle_prev;
    c->idle = false;
    c->idle_prev = c->idle_next = NULL;
}

/* The connection was active (accepted, a request line, a write) or its
 * request or follow ended: idle from now on unless a request or a follow
 * holds it, then no timeout at all. */
static void conn_touch(struct conn *c)
{
    struct ctl *ctl = c->ctl;
    struct conn *head = ctl->idle_head;
    idle_unlink(c);
    if (!c->req && !c->follow) {
        c->idle = true;
        c->idle_at = ev_now(ctl->loop);
        c->idle_prev = ctl->idle_tail;
        if (ctl->idle_tail)
            ctl->idle_tail->idle_next = c;
        else
            ctl->idle_head = c;
        ctl->idle_tail = c;
    }
    if (ctl->idle_head != head || ctl->idle_head == c)
        idle_arm(ctl);  /* the first one is another, or due later */
}

static void conn_close(struct conn *c);

/* Close the connection idle the longest, to make room for a new one
 * (`why` there is none); whether there was one. */
static bool evict_idle(struct ctl *ctl, const char *why)
{
    if (!ctl->idle_head)
        return false;
    if (!ctl->evicting)
        log_warn(NULL, "control socket: %s: closing the connections idle the longest to "
                 "make room for new ones (said once until there is room again)", why);
    ctl->evicting = true;
    conn_close(ctl->idle_head);
    return true;
}

/* Close every connection whose idle time is up. */
static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ctl *ctl = w->data;
    double now = ev_now(loop);
    while (ctl->idle_head && ctl->idle_head->idle_at + ctl->idle_timeout <= now + IDLE_SLACK)
        conn_close(ctl->idle_head);
    idle_arm(ctl);
}

/* Whether the connection should not start a new request now. */
static bool conn_busy(const struct conn *c)
{
    return c->req || c->follow || out_len(c) > OUT_SOFT || c->closing;
}

/* Come back to the held input from the loop (never from inside a proc's
 * dispatch): the read callback handles EV_CUSTOM. */
static void conn_wake(struct conn *c)
{
    ev_feed_event(c->ctl->loop, &c->rw, EV_CUSTOM);
}

static void conn_close(struct conn *c)
{
    struct ctl *ctl = c->ctl;
    if (c->req)
        request_free(c->req);
    if (c->listener)
        proc_unlisten(c->follow, c->listener);
    if (c->idle) {
        bool first = ctl->idle_head == c;
        idle_unlink(c);
        if (first)
            idle_arm(ctl);
    }
    ev_io_stop(ctl->loop, &c->rw);
    ev_io_stop(ctl->loop, &c->ww);
    ev_clear_pending(ctl->loop, &c->rw);
    ev_clear_pending(ctl->loop, &c->ww);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        ctl->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ctl->nconns--;
    free(c->in.p);
    free(c->out.p);
    free(c);
}

/* A connection accepted into `fd`; `made_room`: an idle one was closed
 * for its fd. */
static void conn_new(struct ctl *ctl, int fd, bool made_room)
{
    if (ctl->nconns >= CTL_CONNS_MAX)
        evict_idle(ctl, "too many connections");  /* else the new one is refused below */
    else if (!made_room)
        ctl->evicting = false;  /* there was room */
    struct conn *c = xcalloc(1, sizeof *c);
    c->ctl = ctl;
    c->fd = fd;
    c->follow_stream = -1;
    ev_io_init(&c->rw, conn_read_cb, fd, EV_READ);
    ev_io_init(&c->ww, conn_write_cb, fd, EV_WRITE);
    c->rw.data = c->ww.data = c;
    c->next = ctl->conns;
    if (ctl->conns)
        ctl->conns->prev = c;
    ctl->conns = c;
    ctl->nconns++;
    conn_touch(c);

    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        conn_error(c, "cannot tell who you are: %s", strerror(errno));
        c->closing = true;
        return;
    }
    if (cred.uid != getuid() && cred.uid != 0) {
        log_warn(NULL, "control socket: refused a client of uid %u (pid %d)",
                 (unsigned)cred.uid, (int)cred.pid);
        conn_error(c, "permission denied: uid %u may not control this tend "
                   "(it runs as uid %u)", (unsigned)cred.uid, (unsigned)getuid());
        c->closing = true;
        return;
    }
    if (ctl->nconns > CTL_CONNS_MAX) {
        conn_error(c, "too many connections (%d, none idle)", CTL_CONNS_MAX);
        c->closing = true;
        return;
    }
    ev_io_start(ctl->loop, &c->rw);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct ctl *ctl = w->data;
    bool accepted = false, made_room = false;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            ctl->accept_failing = false;
            accepted = true;
            conn_new(ctl, fd, made_room);
            made_room = false;
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        bool out_of_fds = errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                          errno == ENOMEM;
        /* Linux takes the fd before it looks for a connection: after one
         * was accepted into the last fd, EMFILE does not mean that another
         * waits.  The listener says so if one does, on the next round. */
        if (out_of_fds && accepted)
            return;
        /* out of fds with idle connections: one makes room (as at the
         * cap), so that a new client, maybe `tend status`, gets through */
        if (errno == EMFILE && evict_idle(ctl, "out of file descriptors")) {
            made_room = true;
            continue;
        }
        if (out_of_fds) {
            /* out of fds: the listener would wake the loop in a spin */
            if (!ctl->accept_failing)
                log_warn(NULL, "control socket: cannot accept: %s; retrying every 0.1 s "
                         "(said once until it works again)", strerror(errno));
            ctl->accept_failing = true;
            ev_io_stop(loop, &ctl->accept_w);
            /* set again each time: a timer that has fired keeps its old
             * expiry, and restarting it as is made it fire at once, in a
             * busy loop */
            ev_timer_set(&ctl->retry_w, 0.1, 0);
            ev_timer_start(loop, &ctl->retry_w);
        }
        return;
    }
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ctl *ctl = w->data;
    ev_io_start(loop, &ctl->accept_w);
}

/* Write what the client takes; close once done and asked to. */
static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    while (out_len(c) > 0) {
        ssize_t n = send(c->fd, c->out.p + c->outstart, out_len(c), MSG_NOSIGNAL);
        if (n > 0) {
            c->outstart += (size_t)n;
            conn_touch(c);  /* the client takes what it is sent */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        conn_close(c);  /* the client went away */
        return;
    }
    if (out_len(c) == 0) {
        c->outstart = c->out.len = 0;
        if (c->out.cap > 64 * 1024) {  /* a big reply went out: give it back */
            free(c->out.p);
            c->out.p = NULL;
            c->out.cap = 0;
        }
        ev_io_stop(loop, &c->ww);
        if (c->closing) {
            conn_close(c);
            return;
        }
    }
    if (c->follow && c->dropped && out_len(c) < FOLLOW_MAX / 2) {
        json_t *d = json_object();
        json_object_set_new(d, "dropped", json_integer((json_int_t)c->dropped));
        c->dropped = 0;
        conn_send(c, d);
    }
    if (!c->follow && !c->req && !c->closing && out_len(c) <= OUT_SOFT &&
        (c->in.len || !ev_is_active(&c->rw)))
        conn_wake(c);
}

/* ---- requests ---- */

static void handle_line(struct conn *c, char *line, size_t len);

/* The held input, handed over (the caller frees it); nothing is held
 * after. */
static char *in_take(struct conn *c, size_t *n)
{
    char *p = c->in.p;
    *n = c->in.len;
    c->in = (struct buf){0};
    return p;
}

static void too_long(struct conn *c)
{
    conn_error(c, "request too long (over %d bytes)", CTL_REQUEST_MAX);
}

/* Take bytes from the client: whole lines are handled while the
 * connection is free, the rest is held. */
static void conn_take(struct conn *c, char *buf, size_t n)
{
    while (n > 0) {
        if (c->skipping) {
            char *nl = memchr(buf, '\n', n);
            if (!nl)
                return;
            c->skipping = false;
            n -= (size_t)(nl + 1 - buf);
            buf = nl + 1;
            continue;
        }
        if (conn_busy(c)) {
            buf_put(&c->in, buf, n);
            return;
        }
        char *nl = memchr(buf, '\n', n);
        if (!nl) {
            if (c->in.len + n > CTL_REQUEST_MAX) {
                too_long(c);
                c->in.len = 0;
                c->skipping = true;
            } else {
                buf_put(&c->in, buf, n);
            }
            return;
        }
        size_t len = (size_t)(nl - buf);
        if (c->in.len + len > CTL_REQUEST_MAX) {
            too_long(c);
            c->in.len = 0;
        } else if (c->in.len) {
            /* the held start of the line and its end make one request */
            buf_put(&c->in, buf, len);
            size_t llen;
            char *line = in_take(c, &llen);
            handle_line(c, line, llen);
            free(line);
        } else {
            handle_line(c, buf, len);
        }
        n -= len + 1;
        buf = nl + 1;
    }
}

/* Handle what was held while the connection was busy. */
static void conn_resume(struct conn *c)
{
    if (conn_busy(c) || c->in.len == 0)
        return;
    size_t n;
    char *held = in_take(c, &n);
    conn_take(c, held, n);
    free(held);
}

/* The client will send no more: a follower or a client that closed both
 * ways is gone; one that only shut down its writing side gets its answers
 * first.  Whether the connection was closed. */
static bool conn_after_eof(struct conn *c)
{
    conn_resume(c);
    if (!conn_busy(c) && c->in.len && !c->skipping) {
        /* a last request without its newline */
        size_t n;
        char *line = in_take(c, &n);
        handle_line(c, line, n);
        free(line);
    }
    if (conn_busy(c) && !c->closing)
        return false;  /* the answer wakes us again */
    c->closing = true;
    if (out_len(c) == 0) {
        conn_close(c);
        return true;
    }
    return false;
}

static bool conn_eof(struct conn *c)
{
    c->eof = true;
    ev_io_stop(c->ctl->loop, &c->rw);
    struct pollfd pfd = {c->fd, 0, 0};
    if (c->follow || (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR)))) {
        conn_close(c);
        return true;
    }
    return conn_after_eof(c);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    if (revents & EV_CUSTOM) {
        /* no longer busy: the input held meanwhile, then more */
        if (c->eof) {
            conn_after_eof(c);
            return;
        }
        conn_resume(c);
        if (!c->closing && !ev_is_active(&c->rw))
            ev_io_start(loop, &c->rw);
        return;
    }
    for (int rounds = 0; rounds < 4; rounds++) {
        size_t want = sizeof read_buf;
        if (conn_busy(c) && !c->follow) {
            /* hold what comes meanwhile, up to a bound; then wait */
            size_t room = c->in.len < IN_HELD_MAX ? IN_HELD_MAX - c->in.len : 0;
            if (room == 0) {
                ev_io_stop(loop, &c->rw);
                return;
            }
            if (want > room)
                want = room;
        }
        ssize_t n = recv(c->fd, read_buf, want, 0);
        if (n > 0) {
            if (!c->follow)  /* a follow takes the connection over */
                conn_take(c, read_buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n == 0)
            conn_eof(c);
        else
            conn_close(c);
        return;
    }
}

/* ---- waiting for states ---- */

static void request_answer(struct request *r);

/* Let tend exit again once this target is no longer about to start. */
static void target_unhold(struct target *t)
{
    if (t->held) {
        t->held = false;
        manager_hold(t->req->c->ctl->m, false);
    }
}

static void request_free(struct request *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->t[i].sub)
            proc_unsubscribe(r->t[i].p, r->t[i].sub);
        target_unhold(&r->t[i]);
        free(r->t[i].gone);
    }
    struct conn *c = r->c;
    ev_timer_stop(c->ctl->loop, &r->timer);
    c->req = NULL;
    free(r->t);
    free(r);
    conn_touch(c);  /* idle from the answer on */
}

/* Answer once every target is done (wait: once one has failed). */
static void request_check(struct request *r)
{
    if (r->setting_up)
        return;
    bool failed = false;
    for (size_t i = 0; i < r->n; i++)
        failed |= r->t[i].done && !r->t[i].ok;
    if (r->left == 0 || (r->fail_fast && failed))
        request_answer(r);
}

static void target_finish(struct target *t, bool ok)
{
    if (t->done)
        return;
    t->done = true;
    t->ok = ok;
    target_unhold(t);
    if (t->sub) {
        proc_unsubscribe(t->p, t->sub);
        t->sub = NULL;
    }
    t->req->left--;
    request_check(t->req);
}

static void target_cb(struct proc *p, const struct status *now,
                      const struct status *prev, void *data)
{
    struct target *t = data;
    bool terminal = status_is_terminal(now->state);
    switch (t->want) {
    case T_READY:
        if (now->state == ST_STARTING)
            target_unhold(t);
        if (now->state == ST_READY || terminal)
            target_finish(t, now->state == ST_READY);
        break;
    case T_TERMINAL:
        if (terminal)
            target_finish(t, true);
        break;
    case T_RESTART:
        /* stopped: now the new incarnation, and its readiness */
        if (terminal) {
            struct manager *m = t->req->c->ctl->m;
            t->want = T_READY;
            /* the hold ends once the manager has seen the new incarnation */
            if (!manager_start_now(m, p)) {
                t->why = "tend is shutting down";
                target_finish(t, false);
            }
        }
        break;
    }
}

/* Wait for `want` on t->p from now on. */
static void target_watch(struct target *t, int want)
{
    t->want = want;
    t->sub = proc_subscribe(t->p, target_cb, t);
    if (want == T_RESTART) {
        /* its stop may leave nothing alive: tend must not exit then */
        t->held = true;
        manager_hold(t->req->c->ctl->m, true);
    }
}

static void wait_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct request *r = w->data;
    r->timed_out = true;
    request_answer(r);
}

/* A request on `procs` (taken over); the caller sets up each target. */
static struct request *request_new(struct conn *c, const char *cmd,
                                   struct proc **procs, size_t n)
{
    struct request *r = xcalloc(1, sizeof *r);
    r->c = c;
    r->cmd = cmd;
    r->t = xcalloc(n ? n : 1, sizeof *r->t);
    r->n = r->left = n;
    r->setting_up = true;
    for (size_t i = 0; i < n; i++) {
        r->t[i].req = r;
        r->t[i].p = procs[i];
    }
    free(procs);
    ev_timer_init(&r->timer, wait_timeout_cb, 0, 0);
    r->timer.data = r;
    c->req = r;
    return r;
}

/* Set up done: answer now if everything is known already. */
static void request_go(struct request *r)
{
    r->setting_up = false;
    request_check(r);
}

static void request_answer(struct request *r)
{
    struct conn *c = r->c;
    struct proc **procs = xcalloc(r->n ? r->n : 1, sizeof *procs);
    size_t np = 0;
    char *err = NULL;
    for (size_t i = 0; i < r->n; i++) {
        struct target *t = &r->t[i];
        if (t->p)  /* one that was freed has no status to show */
            procs[np++] = t->p;
        if (t->done && t->ok)
            continue;
        char *what;
        if (!t->p)
            what = xasprintf("%s: %s", t->gone, t->why ? t->why : "removed");
        else if (!t->done)
            what = xasprintf("%s is %s", proc_spec(t->p)->name,
                             status_state_name(proc_status(t->p)->state));
        else if (t->why)
            what = xasprintf("%s: %s", proc_spec(t->p)->name, t->why);
        else {
            char end[256];
            status_describe_end(proc_status(t->p), end, sizeof end);
            what = xasprintf("%s %s before it was ready", proc_spec(t->p)->name, end);
        }
        char *joined = err ? xasprintf("%s; %s", err, what) : what;
        if (err) {
            free(err);
            free(what);
        }
        err = joined;
    }
    if (r->timed_out) {
        char *msg = xasprintf("timed out after %gs (%s)", r->timeout, err ? err : "?");
        free(err);
        err = msg;
    }
    conn_statuses(c, procs, np, err);
    free(procs);
    free(err);
    request_free(r);
    conn_wake(c);
}

/* ---- the commands ---- */

/* The comma-separated names of every proc, for error messages. */
static char *known_names(const struct manager *m)
{
    size_t n = manager_count(m);
    if (n == 0)
        return xstrdup("there are none");
    char *s = xstrdup("known: ");
    for (size_t i = 0; i < n; i++) {
        char *t = xasprintf("%s%s%s", s, i ? ", " : "", proc_name(manager_at(m, i)));
        free(s);
        s = t;
    }
    return s;
}

/* The procs of the request's "names", without repeats (every proc when
 * there are none and `all` allows it); NULL after an error reply.  One
 * unknown name and nothing is done. */
static struct proc **req_procs(struct conn *c, json_t *req, const char *cmd, bool all,
                               size_t *n)
{
    struct manager *m = c->ctl->m;
    json_t *names = json_object_get(req, "names");
    size_t k = names ? json_array_size(names) : 0;
    if (names && !json_is_array(names)) {
        conn_error(c, "%s: \"names\" must be an array of proc names", cmd);
        return NULL;
    }
    if (k == 0 && !all) {
        conn_error(c, "%s: which procs? (\"names\" is empty)", cmd);
        return NULL;
    }
    size_t total = k ? k : manager_count(m);
    struct proc **procs = xcalloc(total ? total : 1, sizeof *procs);
    *n = 0;
    if (k == 0) {
        for (size_t i = 0; i < total; i++)
            procs[(*n)++] = manager_at(m, i);
        return procs;
    }
    for (size_t i = 0; i < k; i++) {
        json_t *v = json_array_get(names, i);
        struct proc *p = json_is_string(v) ? manager_get(m, json_string_value(v)) : NULL;
        size_t nr = 0;
        struct proc **reps = json_is_string(v) && !p
                                 ? manager_replicas(m, json_string_value(v), &nr) : NULL;
        if (reps) {  /* a set's name: every replica (SPEC 3) */
            procs = xrealloc(procs, (total += nr) * sizeof *procs);
            for (size_t j = 0; j < nr; j++)
                procs[(*n)++] = reps[j];
            free(reps);
            continue;
        }
        if (!p) {
            char *known = known_names(m);
            if (json_is_string(v))
                conn_error(c, "no proc named '%s' (%s)", json_string_value(v), known);
            else
                conn_error(c, "%s: \"names\" must be an array of proc names", cmd);
            free(known);
            free(procs);
            return NULL;
        }
        procs[(*n)++] = p;
    }
    /* without repeats ("web web@2"), in the order first named */
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        bool seen = false;
        for (size_t j = 0; j < kept && !seen; j++)
            seen = procs[j] == procs[i];
        if (!seen)
            procs[kept++] = procs[i];
    }
    *n = kept;
    return procs;
}

/* The number under `key` (absent: `def`); false after an error reply. */
static bool req_seconds(struct conn *c, json_t *req, const char *cmd, const char *key,
                        double *out, double def)
{
    json_t *v = json_object_get(req, key);
    *out = def;
    if (!v)
        return true;
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1e9) {
        conn_error(c, "%s: \"%s\" must be a number of seconds (0 or more)", cmd, key);
        return false;
    }
    *out = json_number_value(v);
    return true;
}

/* The boolean under `key` (absent: false); false after an error reply. */
static bool req_flag(struct conn *c, json_t *req, const char *cmd, const char *key,
                     bool *out)
{
    json_t *v = json_object_get(req, key);
    *out = v && json_is_true(v);
    if (v && !json_is_boolean(v)) {
        conn_error(c, "%s: \"%s\" must be true or false", cmd, key);
        return false;
    }
    return true;
}

/* Every proc must be alive for kill and signal; false after an error
 * reply (then nothing was done). */
static bool all_alive(struct conn *c, struct proc **procs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!proc_alive(procs[i])) {
            conn_error(c, "%s is not running (it is %s)", proc_spec(procs[i])->name,
                       status_state_name(proc_status(procs[i])->state));
            free(procs);
            return false;
        }
    return true;
}

static void cmd_status(struct conn *c, json_t *req)
{
    /* `tend status --json` as a request: the socket always answers JSON */
    bool json;
    if (!req_flag(c, req, "status", "json", &json))
        return;
    size_t n;
    struct proc **procs = req_procs(c, req, "status", true, &n);
    if (!procs)
        return;
    conn_statuses(c, procs, n, NULL);
    free(procs);
}

/* start and restart: the new (or current) incarnation ready, or terminal. */
static void start_or_restart(struct conn *c, json_t *req, const char *cmd, bool restart)
{
    struct manager *m = c->ctl->m;
    size_t n;
    struct proc **procs = req_procs(c, req, cmd, false, &n);
    if (!procs)
        return;
    if (manager_shutting_down(m)) {
        free(procs);
        conn_error(c, "%s: tend is shutting down", cmd);
        return;
    }
    struct request *r = request_new(c, cmd, procs, n);
    for (size_t i = 0; i < n; i++) {
        struct target *t = &r->t[i];
        struct proc *p = t->p;
        enum proc_state s = proc_status(p)->state;
        if (proc_alive(p) && (restart || s == ST_STOPPING)) {
            target_watch(t, T_RESTART);
            manager_stop(m, p, -1, CAUSE_RESTART);
        } else if (s == ST_READY) {
            target_finish(t, true);  /* start: nothing to do */
        } else if (proc_alive(p)) {
            target_watch(t, T_READY);
        } else {
            target_watch(t, T_READY);
            manager_start_now(m, p);
        }
    }
    request_go(r);
}

static void cmd_start(struct conn *c, json_t *req)
{
    start_or_restart(c, req, "start", false);
}

static void cmd_restart(struct conn *c, json_t *req)
{
    start_or_restart(c, req, "restart", true);
}

static void cmd_stop(struct conn *c, json_t *req)
{
    struct manager *m = c->ctl->m;
    double timeout;
    size_t n;
    if (!req_seconds(c, req, "stop", "timeout", &timeout, -1))
        return;
    struct proc **procs = req_procs(c, req, "stop", false, &n);
    if (!procs)
        return;
    struct request *r = request_new(c, "stop", procs, n);
    for (size_t i = 0; i < n; i++) {
        struct target *t = &r->t[i];
        if (proc_alive(t->p)) {
            target_watch(t, T_TERMINAL);
            manager_stop(m, t->p, timeout, CAUSE_STOP);
        } else {
            manager_stop(m, t->p, timeout, CAUSE_STOP);  /* no restart either */
            target_finish(t, true);
        }
    }
    request_go(r);
}

static void cmd_kill(struct conn *c, json_t *req)
{
    size_t n;
    struct proc **procs = req_procs(c, req, "kill", false, &n);
    if (!procs || !all_alive(c, procs, n))
        return;
    struct request *r = request_new(c, "kill", procs, n);
    for (size_t i = 0; i < n; i++) {
        target_watch(&r->t[i], T_TERMINAL);
        proc_kill(r->t[i].p, CAUSE_KILL);
    }
    request_go(r);
}

static void cmd_signal(struct conn *c, json_t *req)
{
    json_t *v = json_object_get(req, "signal");
    int sig = -1;
    if (json_is_string(v))
        sig = signal_from_name(json_string_value(v));
    else if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < NSIG)
        sig = (int)json_integer_value(v);
    if (sig < 0) {
        conn_error(c, "signal: \"signal\" must be a signal name such as \"HUP\"");
        return;
    }
    size_t n;
    struct proc **procs = req_procs(c, req, "signal", false, &n);
    if (!procs || !all_alive(c, procs, n))
        return;
    for (size_t i = 0; i < n; i++) {
        if (proc_signal(procs[i], sig) != 0 && errno != ESRCH) {
            conn_error(c, "signal %s to %s: %s", signal_name(sig),
                       proc_spec(procs[i])->name, strerror(errno));
            free(procs);
            return;
        }
    }
    conn_statuses(c, procs, n, NULL);
    free(procs);
}

static void cmd_wait(struct conn *c, json_t *req)
{
    bool ready, exit;
    double timeout;
    if (!req_flag(c, req, "wait", "ready", &ready) || !req_flag(c, req, "wait", "exit", &exit) ||
        !req_seconds(c, req, "wait", "timeout", &timeout, -1))
        return;
    if (ready && exit) {
        conn_error(c, "wait: \"ready\" or \"exit\", not both");
        return;
    }
    size_t n;
    struct proc **procs = req_procs(c, req, "wait", false, &n);
    if (!procs)
        return;
    struct request *r = request_new(c, "wait", procs, n);
    r->fail_fast = true;
    for (size_t i = 0; i < n; i++) {
        struct target *t = &r->t[i];
        enum proc_state s = proc_status(t->p)->state;
        if (exit && status_is_terminal(s))
            target_finish(t, true);
        else if (!exit && (s == ST_READY || status_is_terminal(s)))
            target_finish(t, s == ST_READY);
        else
            target_watch(t, exit ? T_TERMINAL : T_READY);
    }
    if (timeout >= 0 && r->left > 0) {
        r->timeout = timeout;
        ev_timer_set(&r->timer, timeout, 0);
        ev_timer_start(c->ctl->loop, &r->timer);
    }
    request_go(r);
}

/* logs -f: each new line of the proc (as its ring keeps it). */
static void follow_line(struct proc *p, int stream, const char *line, size_t len, void *data)
{
    struct conn *c = data;
    if (c->follow_stream >= 0 && stream != c->follow_stream)
        return;
    if (out_len(c) > FOLLOW_MAX) {
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

static void cmd_logs(struct conn *c, json_t *req)
{
    bool follow;
    int stream = -1;
    size_t want = LOGS_DEFAULT;
    if (!req_flag(c, req, "logs", "follow", &follow))
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
    struct proc **procs = req_procs(c, req, "logs", false, &n);
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

static void cmd_metrics(struct conn *c, json_t *req)
{
    size_t len;
    char *text = metrics_text(c->ctl->m, &len);
    conn_ok(c, json_stringn(text, len));
    free(text);
}

static void cmd_shutdown(struct conn *c, json_t *req)
{
    /* a second request is not a second SIGTERM: it does not kill */
    if (!manager_shutting_down(c->ctl->m))
        manager_shutdown(c->ctl->m, -1);
    conn_ok(c, NULL);
}

static void cmd_reload(struct conn *c, json_t *req)
{
    char *err = NULL;
    if (manager_reload(c->ctl->m, &err) != 0)
        conn_error(c, "reload: %s", err ? err : "failed");
    else
        conn_ok(c, NULL);
    free(err);
}

/* scale NAME N: the replicas past N are removed (answered once they have
 * ended), new ones started (answered once they are ready). */
static void cmd_scale(struct conn *c, json_t *req)
{
    struct manager *m = c->ctl->m;
    json_t *name = json_object_get(req, "name"), *count = json_object_get(req, "count");
    if (!json_is_string(name)) {
        conn_error(c, "scale: \"name\" must be a proc name");
        return;
    }
    if (!json_is_integer(count) || json_integer_value(count) < 1 ||
        json_integer_value(count) > REPLICAS_MAX) {
        conn_error(c, "scale: \"count\" must be a whole number from 1 to %d", REPLICAS_MAX);
        return;
    }
    const char *set = json_string_value(name);
    int n = (int)json_integer_value(count);
    size_t had;
    struct proc **before = manager_replicas(m, set, &had);
    /* one target for each replica to go, then one for each new one (the
     * targets cannot move once watched) */
    size_t ngo = had > (size_t)n ? had - (size_t)n : 0;
    size_t nnew = (size_t)n > had && had > 0 ? (size_t)n - had : 0;
    struct proc **procs = xcalloc(ngo + nnew + 1, sizeof *procs);
    for (size_t i = 0; i < ngo; i++)
        procs[i] = before[(size_t)n + i];
    free(before);
    struct request *r = request_new(c, "scale", procs, ngo + nnew);
    /* the ones to go are watched before they go: one that is not alive
     * is freed at once */
    for (size_t i = 0; i < ngo; i++) {
        if (proc_alive(r->t[i].p))
            target_watch(&r->t[i], T_TERMINAL);
        else
            target_finish(&r->t[i], true);
    }
    char *err = NULL;
    if (manager_scale(m, set, n, &err) != 0) {
        request_free(r);
        conn_error(c, "scale: %s", err);
        free(err);
        return;
    }
    /* the new ones: each ready, or terminal */
    size_t now;
    struct proc **after = manager_replicas(m, set, &now);
    for (size_t i = 0; i < nnew; i++) {
        struct target *t = &r->t[ngo + i];
        t->p = had + i < now ? after[had + i] : NULL;
        enum proc_state st = t->p ? proc_status(t->p)->state : ST_STOPPED;
        if (!t->p) {
            t->gone = xasprintf("%s@%zu", set, had + i + 1);
            t->why = "not added";
            target_finish(t, false);
        } else if (st == ST_READY || status_is_terminal(st)) {
            target_finish(t, st == ST_READY);
        } else {
            target_watch(t, T_READY);
        }
    }
    free(after);
    request_go(r);
}

/* A reload retired `p` and is about to free it: waits on it fail, follows
 * of it end. */
static void forget_proc(struct proc *p, void *data)
{
    struct ctl *ctl = data;
    for (struct conn *c = ctl->conns; c; c = c->next) {
        if (c->follow == p) {
            proc_unlisten(p, c->listener);
            c->follow = NULL;
            c->listener = NULL;
            c->closing = true;  /* the follow is over: EOF after the lines */
            conn_touch(c);
            if (!ev_is_active(&c->ww))
                ev_io_start(ctl->loop, &c->ww);
        }
        struct request *r = c->req;
        for (size_t i = 0; r && i < r->n; i++) {
            if (r->t[i].p != p)
                continue;
            if (!r->t[i].done) {
                /* it ended on its way out: what stop and wait --exit want */
                bool ok = r->t[i].want == T_TERMINAL && status_is_terminal(proc_status(p)->state);
                r->t[i].why = ok ? NULL : "removed by a reload";
                r->setting_up = true;  /* answer once, after the loop */
                target_finish(&r->t[i], ok);
                r->setting_up = false;
            }
            /* the answer, if it comes later, must not read a freed proc */
            r->t[i].gone = xstrdup(proc_spec(p)->name);
            r->t[i].p = NULL;
        }
        if (r && c->req == r)
            request_check(r);
    }
}

typedef void cmd_fn(struct conn *c, json_t *req);

static const struct command {
    const char *name;
    const char *fields[5];  /* allowed besides "cmd" */
    cmd_fn *run;
} commands[] = {
    {"status", {"names", "json"}, cmd_status},
    {"start", {"names"}, cmd_start},
    {"stop", {"names", "timeout"}, cmd_stop},
    {"restart", {"names"}, cmd_restart},
    {"kill", {"names"}, cmd_kill},
    {"signal", {"names", "signal"}, cmd_signal},
    {"logs", {"names", "lines", "stream", "follow"}, cmd_logs},
    {"wait", {"names", "ready", "exit", "timeout"}, cmd_wait},
    {"shutdown", {NULL}, cmd_shutdown},
    {"reload", {NULL}, cmd_reload},
    {"scale", {"name", "count"}, cmd_scale},
    {"metrics", {NULL}, cmd_metrics},
};

/* One request (trimmed, not empty): parse it, check it and run its
 * command. */
static void run_request(struct conn *c, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req) {
        conn_error(c, "malformed request: %s (at byte %d)", jerr.text, jerr.position);
        return;
    }
    json_t *cmdv = json_object_get(req, "cmd");
    const char *cmd = json_string_value(cmdv);
    if (!json_is_object(req) || !cmd) {
        conn_error(c, "a request is a JSON object with a \"cmd\" string");
        json_decref(req);
        return;
    }
    const struct command *k = NULL;
    for (size_t i = 0; i < ARRAY_LEN(commands) && !k; i++)
        if (strcmp(commands[i].name, cmd) == 0)
            k = &commands[i];
    if (!k) {
        conn_error(c, "unknown command '%s'", cmd);
        json_decref(req);
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(req, key, val) {
        bool ok = strcmp(key, "cmd") == 0;
        for (size_t i = 0; !ok && i < ARRAY_LEN(k->fields) && k->fields[i]; i++)
            ok = strcmp(key, k->fields[i]) == 0;
        if (!ok) {
            conn_error(c, "%s: unknown field '%s'", cmd, key);
            json_decref(req);
            return;
        }
    }
    k->run(c, req);
    json_decref(req);
}

/* One request line; empty lines are ignored (they do not keep a
 * connection from being idle). */
static void handle_line(struct conn *c, char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t skip = 0;
    while (skip < len && (line[skip] == ' ' || line[skip] == '\t'))
        skip++;
    if (skip == len)
        return;
    run_request(c, line + skip, len - skip);
    conn_touch(c);  /* active; and held by a request or follow, or not */
}

void ctl_close(struct ctl *c)
{
    if (!c)
        return;
    while (c->conns) {
        struct conn *k = c->conns;
        if (k->req) {  /* wait, start, stop...: what they waited for never came */
            const char *cmd = k->req->cmd;
            request_free(k->req);
            conn_error(k, "%s: tend exited before it was done", cmd);
        }
        if (out_len(k) > 0)  /* a last answer, if the client takes it now */
            (void)!send(k->fd, k->out.p + k->outstart, out_len(k), MSG_NOSIGNAL | MSG_DONTWAIT);
        conn_close(k);
    }
    manager_set_forget(c->m, NULL, NULL);
    ev_io_stop(c->loop, &c->accept_w);
    ev_timer_stop(c->loop, &c->retry_w);
    ev_timer_stop(c->loop, &c->idle_w);
    close(c->fd);
    struct stat sb;
    if (stat(c->path, &sb) == 0 && sb.st_dev == c->dev && sb.st_ino == c->ino)
        unlink(c->path);
    free(c->path);
    close(c->lock_fd);  /* after the unlink: the next tend may have it */
    free(c);
}
