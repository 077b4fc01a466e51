/* fuzz_notify.c -- sd_notify datagrams (ready.c, SPEC 4).
 *
 * The real path: a proc declared with ready = tend.ready.notify() and a
 * watchdog runs a live child (sleep), so tend's notify socket is open and
 * the incarnation is `running`; the socket's address is the NOTIFY_SOCKET
 * the child got (read from /proc/PID/environ).  The fuzzer's bytes are
 * datagrams, each sent to it with the credentials of a sender chosen by
 * the input: the child (SCM_CREDENTIALS naming its pid, which root may
 * do), the fuzzer itself, or init.  Between datagrams the loop may run, so
 * that the socket is read in the middle of a burst or after it.  The
 * oracle is SPEC 1 and 4 and the README:
 *  - a datagram is lines; READY=1 makes a `running` incarnation `ready`,
 *    STATUS=text is kept as status_text (the last one wins), STOPPING=1
 *    moves a live incarnation to `stopping`, WATCHDOG=1 pings, anything
 *    else is ignored; only what comes before a NUL byte counts;
 *  - a datagram from a process that is not of the proc's process group
 *    changes nothing;
 *  - the status belongs to the current incarnation (SPEC 1): a new one
 *    starts without the last one's status_text;
 *  - nothing crashes or leaks.
 * After an input that moved the proc on, a new incarnation is started
 * (kill, reap, start) before the next one, so every input starts from
 * `running`.  A datagram longer than the 4 KiB tend reads is sent too, but
 * what its cut-off part does is left unjudged (SPEC 4 does not say).  Only
 * the proc's public functions are used (proc.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "fuzz.h"
#include "core/proc.h"
#include "core/reap.h"
#include "base/util.h"

#define NOTIFY_READ_MAX 4096  /* what tend takes of one datagram */

static struct ev_loop *loop;
static struct proc *p;
static int tx = -1;
static bool forge = true;  /* whether we may send with the child's pid */
static struct sockaddr_un addr;  /* the proc's notify socket */
static socklen_t addrlen;

static void deadline_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    *(bool *)w->data = true;
}

/* Run the loop until cond() holds; false after 10 s. */
static bool run_until(bool (*cond)(void))
{
    bool late = false;
    ev_timer t;
    ev_timer_init(&t, deadline_cb, 10, 0);
    t.data = &late;
    ev_timer_start(loop, &t);
    while (!cond() && !late)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &t);
    return cond();
}

static bool ended(void)
{
    return !proc_alive(p);
}

static bool started(void)
{
    return proc_status(p)->state != ST_STARTING;
}

/* The NOTIFY_SOCKET the child was given ("@abstract" or a path). */
static void read_notify_socket(pid_t pid)
{
    char path[64], env[65536];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    ssize_t n = -1;
    /* empty while the exec is still setting up the new program (its
     * close-on-exec report may come first) */
    for (int tries = 0; n <= 0 && tries < 20000; tries++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        n = fd >= 0 ? read(fd, env, sizeof env - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (n <= 0)
            usleep(50);
    }
    if (n <= 0)
        fuzz_fail("harness", "cannot read %s", path);
    env[n] = '\0';
    for (char *e = env; e < env + n; e += strlen(e) + 1) {
        if (strncmp(e, "NOTIFY_SOCKET=", 14) != 0)
            continue;
        const char *v = e + 14;
        size_t len = strlen(v);
        if (len == 0 || len >= sizeof addr.sun_path)
            break;
        memset(&addr, 0, sizeof addr);
        addr.sun_family = AF_UNIX;
        memcpy(addr.sun_path, v, len);
        if (v[0] == '@')
            addr.sun_path[0] = '\0';  /* abstract */
        addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (v[0] != '@'));
        return;
    }
    fuzz_fail("harness", "the child has no NOTIFY_SOCKET");
}

/* Let tend read every datagram we sent (a datagram counts in our send
 * queue until its receiver has taken it). */
static void pump(void)
{
    for (int i = 0; i < 1000; i++) {
        int queued = 0;
        if (ioctl(tx, SIOCOUTQ, &queued) != 0 || queued == 0)
            return;
        ev_run(loop, EVRUN_NOWAIT);
    }
    fuzz_fail("notify-unread", "tend leaves datagrams unread on its notify socket");
}

/* A new incarnation, `running`. */
static void restart(void)
{
    if (proc_alive(p))
        proc_kill(p, CAUSE_KILL);
    if (!run_until(ended))
        fuzz_fail("harness", "the child did not end after SIGKILL (it is %s)",
                  status_state_name(proc_status(p)->state));
    pump();
    proc_start(p, false);
    const struct status *st = proc_status(p);
    if (!run_until(started) || st->state != ST_RUNNING)
        fuzz_fail("harness", "the child is %s, not running: %s", status_state_name(st->state),
                  st->reason ? st->reason : "");
    read_notify_socket(st->pid);
}

/* Send one datagram to the proc's socket as `pid`. */
static int send_as(pid_t pid, const void *data, size_t len)
{
    struct iovec iov = {(void *)data, len};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(struct ucred))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr mh = {.msg_name = &addr, .msg_namelen = addrlen,
                        .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = &ctl, .msg_controllen = sizeof ctl};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred uc = {pid, getuid(), getgid()};
    memcpy(CMSG_DATA(c), &uc, sizeof uc);
    for (int tries = 0;; tries++) {
        if (sendmsg(tx, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            return 0;
        if (errno == EAGAIN && tries < 100) {
            ev_run(loop, EVRUN_NOWAIT);  /* the socket's queue is full: let tend read */
            continue;
        }
        return -1;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_setup("notify");
    loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
    reap_start(loop);
    struct spec *s = spec_new();
    s->name = xstrdup("n");
    s->argv = xcalloc(3, sizeof *s->argv);
    s->argv[0] = xstrdup(access("/bin/sleep", X_OK) == 0 ? "/bin/sleep" : "sleep");
    s->argv[1] = xstrdup("100000");
    s->output = OUTPUT_DISCARD;
    s->ready.kind = CHECK_NOTIFY;
    s->watchdog = 1000;  /* armed at ready: WATCHDOG=1 resets it */
    s->stop_timeout = 1000;
    p = proc_new(loop, s, NULL);
    tx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (tx < 0)
        fuzz_fail("harness", "socket: %s", strerror(errno));
    restart();
    /* root may name another pid in SCM_CREDENTIALS; others only their own */
    if (send_as(proc_status(p)->pid, "X=1", 3) != 0) {
        forge = false;
        fuzz_note("notify: cannot send with the child's credentials (%s): not root? Only "
                  "refused datagrams are fuzzed", strerror(errno));
    }
    pump();
    return 0;
}

struct model {
    enum proc_state state;
    const char *text;  /* in the input, or NULL */
    size_t text_len;
    bool unsure;
};

/* SPEC 4: one datagram from a process of the proc's group. */
static void model_apply(struct model *m, const char *d, size_t len)
{
    if (len > NOTIFY_READ_MAX) {
        m->unsure = true;  /* what a cut datagram does is not said */
        return;
    }
    const char *nul = memchr(d, '\0', len);
    if (nul)
        len = (size_t)(nul - d);
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(d + at, '\n', len - at);
        size_t l = nl ? (size_t)(nl - (d + at)) : len - at;
        const char *line = d + at;
        at += l + 1;
        if (l == 7 && memcmp(line, "READY=1", 7) == 0) {
            if (m->state == ST_RUNNING)
                m->state = ST_READY;
        } else if (l >= 7 && memcmp(line, "STATUS=", 7) == 0) {
            m->text = line + 7;
            m->text_len = l - 7;
        } else if (l == 10 && memcmp(line, "STOPPING=1", 10) == 0) {
            if (m->state == ST_RUNNING || m->state == ST_READY)
                m->state = ST_STOPPING;
        }
    }
}

/* Whether s[0..n) has no control character (< 0x20, 0x7f): what tend
 * escapes as \xNN when it keeps a STATUS= text (other bytes are kept). */
static bool plain(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct status *st = proc_status(p);
    if (st->state != ST_RUNNING)
        restart();
    struct fin in = {data, size};
    /* a status text left by the last input (only when its check is off) */
    char *before = st->status_text ? xstrdup(st->status_text) : NULL;
    struct model m = {ST_RUNNING, before, before ? strlen(before) : 0, false};
    pid_t child = st->pid;
    for (int k = 0; k < 64 && !fin_empty(&in); k++) {
        uint8_t h = fin_u8(&in);
        size_t len = h & 8 ? fin_u16(&in) % 8192 : fin_u8(&in);
        size_t got;
        const uint8_t *d = fin_bytes(&in, len, &got);
        int who = h & 3;
        pid_t pid = who == 1 ? getpid() : who == 2 ? 1 : child;
        if (!forge)
            pid = getpid();
        if (send_as(pid, d, got) != 0)
            fuzz_fail("harness", "sendmsg as pid %d (%zu bytes): %s", (int)pid, got,
                      strerror(errno));
        if (pid == child)
            model_apply(&m, (const char *)d, got);
        if (h & 4)
            pump();
    }
    pump();

    if (!m.unsure) {
        if (st->state != m.state)
            fuzz_fail("notify-state", "the proc is %s, expected %s",
                      status_state_name(st->state), status_state_name(m.state));
        const char *got = st->status_text;
        if (!m.text) {
            if (got)
                fuzz_fail("notify-status", "status_text is %s; no accepted STATUS= was sent",
                          fuzz_show(got, strlen(got)));
        } else if (!got) {
            fuzz_fail("notify-status", "status_text is unset; expected %s",
                      fuzz_show(m.text, m.text_len));
        } else if (strlen(got) != m.text_len || memcmp(got, m.text, m.text_len) != 0) {
            /* control bytes may be escaped when kept (issue 10); the rest is
             * kept as sent */
            if (plain(m.text, m.text_len) || !plain(got, strlen(got)))
                fuzz_fail("notify-status", "status_text is %s; expected %s",
                          fuzz_show(got, strlen(got)), fuzz_show(m.text, m.text_len));
        }
    }
    free(before);

    /* moved on, or holding a status text: the next input gets a new
     * incarnation, which must not show the last one's text */
    if (st->state != ST_RUNNING || st->status_text) {
        restart();
        if (st->status_text && !fuzz_skip("notify-stale-status"))
            fuzz_fail("notify-stale-status", "a new incarnation shows the last one's "
                      "status_text %s", fuzz_show(st->status_text, strlen(st->status_text)));
    }
    return 0;
}
