/* ctl.c -- the control socket's server: the socket and its lock, the
 * connections (accept, the cap and eviction, idle timeouts), their input
 * split into request lines and their output queues.  What a request asks
 * is ctl_request.c's; `tend logs` is ctl_logs.c's. */
#include "control/ctl.h"
#include "control/ctl_impl.h"

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
#include "control/statusjson.h"
#include "base/util.h"

#define IN_HELD_MAX (CTL_REQUEST_MAX + 1)  /* input held while a request runs */
#define OUT_SOFT (64 * 1024)         /* no new request is read above this */
#define IDLE_SLACK 0.001             /* s: a connection this close to its timeout is due */

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

/* CTL_IDLE_TIMEOUT, or $TEND_CTL_IDLE (tests) */
static double idle_timeout(void)
{
    return env_seconds("TEND_CTL_IDLE", CTL_IDLE_TIMEOUT);
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
    manager_set_forget(m, request_forget_proc, c);
    return c;
fail:
    if (fd >= 0)
        close(fd);
    if (lock_fd >= 0)
        close(lock_fd);
    return NULL;
}

/* ---- output queue ---- */

size_t conn_out_len(const struct conn *c)
{
    return c->out.len - c->outstart;
}

/* The output buffer, to append about `need` bytes to; what was sent is
 * dropped first when that makes room. */
static struct buf *out_buf(struct conn *c, size_t need)
{
    if (c->outstart > 0 && c->out.cap - c->out.len < need) {
        memmove(c->out.p, c->out.p + c->outstart, conn_out_len(c));
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

void conn_send(struct conn *c, json_t *msg)
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

void conn_ok(struct conn *c, json_t *result)
{
    json_t *r = json_object();
    json_object_set_new(r, "ok", json_true());
    if (result)
        json_object_set_new(r, "result", result);
    conn_send(c, r);
}

void conn_error(struct conn *c, const char *fmt, ...)
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

/* ---- connections ---- */

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents);

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
void conn_touch(struct conn *c)
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
    return c->req || c->follow || conn_out_len(c) > OUT_SOFT || c->closing;
}

static void conn_resume(struct conn *c);
static bool conn_after_eof(struct conn *c);

/* No longer busy: the input held meanwhile, then more. */
static void conn_woken(struct later *l)
{
    struct conn *c = container_of(l, struct conn, wake);
    if (c->eof) {
        conn_after_eof(c);
        return;
    }
    conn_resume(c);
    if (!c->closing && !ev_is_active(&c->rw))
        ev_io_start(c->ctl->loop, &c->rw);
}

/* Come back to the held input from the loop (never from inside a proc's
 * dispatch). */
void conn_wake(struct conn *c)
{
    later_run(c->ctl->loop, &c->wake);
}

static void conn_close(struct conn *c)
{
    struct ctl *ctl = c->ctl;
    if (c->req)
        request_free(c->req);
    logs_unfollow(c);
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
    later_cancel(ctl->loop, &c->wake);
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
    ev_io_init(&c->rw, conn_read_cb, fd, EV_READ);
    ev_io_init(&c->ww, conn_write_cb, fd, EV_WRITE);
    c->rw.data = c->ww.data = c;
    later_init(&c->wake, conn_woken);
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
    while (conn_out_len(c) > 0) {
        ssize_t n = send(c->fd, c->out.p + c->outstart, conn_out_len(c), MSG_NOSIGNAL);
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
    if (conn_out_len(c) == 0) {
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
    logs_catch_up(c);
    if (!c->follow && !c->req && !c->closing && conn_out_len(c) <= OUT_SOFT &&
        (c->in.len || !ev_is_active(&c->rw)))
        conn_wake(c);
}

/* ---- request lines ---- */

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
            c->held = true;
            return;
        }
        if (c->held) {
            /* free again, but conn_woken has not run yet: the lines held
             * meanwhile come first (they are not the start of this one) */
            buf_put(&c->in, buf, n);
            conn_resume(c);
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
    c->held = false;
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
    if (conn_out_len(c) == 0) {
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
    request_run(c, line + skip, len - skip);
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
        if (conn_out_len(k) > 0)  /* a last answer, if the client takes it now */
            (void)!send(k->fd, k->out.p + k->outstart, conn_out_len(k), MSG_NOSIGNAL | MSG_DONTWAIT);
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
