/* sc_ctl.c -- the control socket abused: random bytes, a line without
 * end, invalid UTF-8, a thousand clients that never read, more than tend
 * takes, a full cap of `logs -f` followers, half-closed connections, a
 * slow drip, a stranger. */
#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CTL_CAP 1024  /* connections tend takes at once (ctl.h's CTL_CONNS_MAX) */
#define CTL_FOLLOWS (CTL_CAP - 16)  /* followers at once (ctl.h's CTL_FOLLOWS_MAX) */

#define ANCHOR "tend.proc { name = \"anchor\", cmd = { \"@C\", \"pause\" } }\n"

static const char status_req[] = "{\"cmd\": \"status\", \"names\": [\"anchor\"]}\n";

/* tend with just the anchor, answering, baseline taken. */
static void up(struct sc *s)
{
    tend_up(s, policy(s, ANCHOR), NULL, NULL);
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    wait_up(s, s->t, NULL);
    baseline(s);
}

/* Read and count reply lines that are already there (non-blocking). */
static int drain_replies(int fd, int *oks)
{
    char buf[65536];
    int lines = 0;
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r <= 0)
            return lines;
        for (ssize_t i = 0; i < r; i++)
            lines += buf[i] == '\n';
        if (oks && memmem(buf, (size_t)r, "\"ok\":true", 9))
            (*oks)++;
    }
}

/* After abuse on `fd`: a good request gets an ok answer (error replies to
 * what came before are skipped). */
static bool still_usable(struct sc *s, int fd, int *errors)
{
    if (!raw_send_all(fd, "\n", 1, WAIT) ||
        !raw_send_all(fd, status_req, sizeof status_req - 1, WAIT))
        return false;
    for (;;) {
        char *r = raw_reply(s, fd, WAIT);
        if (!r)
            return false;
        if (reply_ok(r))
            return true;
        if (errors)
            (*errors)++;
    }
}

static void rss_held(struct sc *s, long before)
{
    long after = rss_kib(s->t->pid);
    need(s, after - before < 2048, "RSS %ld KiB before, %ld after", before, after);
    held(s, "RSS %ld KiB before, %ld after", before, after);
}

/* ---- random bytes ---- */

static void random_bytes(struct sc *s)
{
    up(s);
    long rss0 = rss_kib(s->t->pid);
    did(s, "8 connections send 256 KiB of random bytes each (NULs and newlines included), "
           "then a good request");
    enum { N = 8, SIZE = 256 * 1024 };
    int fds[N], replies = 0;
    unsigned seed = 10;
    char *junk = malloc(SIZE);
    for (int i = 0; i < N; i++) {
        fds[i] = raw_connect(s, NULL);
        need(s, fds[i] >= 0, "connect: %s", strerror(errno));
    }
    for (size_t off = 0; off < SIZE; off += 4096)
        for (int i = 0; i < N; i++) {
            for (size_t k = 0; k < 4096; k++)
                junk[off + k] = (char)(rand_r(&seed) & 0xff);
            need(s, raw_send_all(fds[i], junk + off, 4096, WAIT),
                 "tend stopped reading a connection that sends junk");
            replies += drain_replies(fds[i], NULL);
        }
    int usable = 0;
    for (int i = 0; i < N; i++) {
        usable += still_usable(s, fds[i], &replies);
        close(fds[i]);
    }
    need(s, usable == N, "%d of %d connections usable after the junk", usable, N);
    held(s, "%d error replies; every connection still answered a good request after", replies);
    rss_held(s, rss0);
    finish(s, 0);
}

/* ---- a 10 MiB line with no newline ---- */

static void huge_line(struct sc *s)
{
    up(s);
    long hwm0 = hwm_kib(s->t->pid), rss0 = rss_kib(s->t->pid);
    did(s, "a 10 MiB line without a newline, then a newline and a good request; another 10 "
           "MiB line and the connection closed");
    char *big = malloc(10 << 20);
    memset(big, '{', 10 << 20);
    int fd = raw_connect(s, NULL);
    double t0 = now();
    need(s, raw_send_all(fd, big, 10 << 20, WAIT), "tend stopped reading the long line");
    double secs = now() - t0;
    int errors = 0;
    need(s, still_usable(s, fd, &errors), "no answer after the long line");
    need(s, errors >= 1, "no error reply for the long line");
    close(fd);
    fd = raw_connect(s, NULL);
    need(s, raw_send_all(fd, big, 10 << 20, WAIT), "tend stopped reading the second line");
    close(fd);
    need(s, ping(s, NULL, WAIT, NULL), "tend does not answer");
    long hwm = hwm_kib(s->t->pid);
    need(s, hwm - hwm0 < 4096, "tend's peak RSS grew from %ld to %ld KiB", hwm0, hwm);
    held(s, "10 MiB taken in %.2f s, %d error reply, the connection usable after; peak RSS %ld "
            "-> %ld KiB",
         secs, errors, hwm0, hwm);
    rss_held(s, rss0);
    finish(s, 0);
}

/* ---- invalid UTF-8 and other bad requests ---- */

static void bad_requests(struct sc *s)
{
    up(s);
    long rss0 = rss_kib(s->t->pid);
    static const char *const reqs[] = {
        "{\"cmd\": \"status\", \"names\": [\"\xff\xfe\"]}",
        "{\"cmd\": \"status\", \"names\": [\"\xc0\xaf\"]}",
        "{\"cmd\": \"stat\xe2\x82\"}",
        "{\"cmd\": \"status\", \"names\": [\"\\ud800\"]}",
        "{\"cmd\": \"status\", \"names\": [\"an\\u0000chor\"]}",
        "{\"cmd\": \"stop\", \"names\": [\"anchor\xff\"]}",
        "{\"cmd\": \"signal\", \"names\": [\"anchor\"], \"signal\": \"\xed\xa0\x80\"}",
        "{\"cmd\": 5}",
        "{\"cmd\": \"status\", \"names\": \"anchor\"}",
        "{\"cmd\": \"logs\", \"names\": [\"anchor\"], \"lines\": -1}",
        "{\"cmd\": \"logs\", \"names\": [\"anchor\"], \"lines\": 1e300}",
        "{\"cmd\": \"stop\", \"names\": [\"anchor\"], \"timeout\": -1}",
        "{\"cmd\": \"status\", \"bogus\": true}",
        "[\"status\"]",
        "\"\xff\"",
        "{\"cmd\": \"status\"",
        "\xef\xbb\xbf{\"cmd\": \"status\"}",
    };
    enum { NREQ = sizeof reqs / sizeof reqs[0] };
    did(s, "%d bad requests on one connection: invalid UTF-8 in names, commands and values, "
           "surrogates, NUL, wrong types, negative and huge numbers, unknown fields, non-"
           "objects, a cut object; and JSON nested 100,000 deep",
        NREQ);
    int fd = raw_connect(s, NULL);
    int errors = 0;
    for (int i = 0; i < NREQ; i++) {
        need(s, raw_send_all(fd, reqs[i], strlen(reqs[i]), WAIT) &&
                    raw_send_all(fd, "\n", 1, WAIT),
             "send failed");
        char *r = raw_reply(s, fd, WAIT);
        need(s, r, "no reply to bad request %d", i + 1);
        json_t *j = json_loads(r, 0, NULL);
        need(s, j && json_is_false(json_object_get(j, "ok")) &&
                    json_is_string(json_object_get(j, "error")),
             "request %d: reply %s", i + 1, r);
        errors++;
    }
    /* deep nesting: over 64 KiB, so one error for the length; then 60 KiB */
    char *deep = malloc(200001);
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    deep[200000] = '\0';
    need(s, raw_send_all(fd, deep, 200000, WAIT) && raw_send_all(fd, "\n", 1, WAIT),
         "send failed");
    char *r = raw_reply(s, fd, WAIT);
    need(s, r && !reply_ok(r), "reply to 100,000-deep JSON: %s", r ? r : "(none)");
    memset(deep, '[', 30000);
    memset(deep + 30000, ']', 30000);
    need(s, raw_send_all(fd, deep, 60000, WAIT) && raw_send_all(fd, "\n", 1, WAIT),
         "send failed");
    r = raw_reply(s, fd, WAIT);
    need(s, r && !reply_ok(r), "reply to 30,000-deep JSON: %s", r ? r : "(none)");
    need(s, still_usable(s, fd, NULL), "the connection is not usable after the bad requests");
    close(fd);
    json_t *st = status_of(statuses(s, NULL), "anchor");
    need(s, !strcmp(st_str(st, "state"), "ready"), "anchor: %s", st_str(st, "state"));
    held(s, "one error reply ({\"ok\": false, \"error\": ...}) for each, the deep ones "
            "included; the connection usable after; nothing stopped");
    rss_held(s, rss0);
    finish(s, 0);
}

/* ---- a thousand clients that never read ---- */

static void thousand_clients(struct sc *s)
{
    /* a proc with output, so that `logs` replies are large */
    tend_up(s, policy(s, ANCHOR
        "tend.proc { name = \"talker\", cmd = { \"sh\", \"-c\", "
        "\"i=0; while [ $i -lt 120 ]; do printf '%01000d\\\\n' $i; i=$((i+1)); done; "
        "echo talked; exec sleep 100000\" } }\n"), NULL, NULL);
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    wait_for(s, s->t, 1, "talker | talked", 1, "the talker");
    wait_up(s, s->t, NULL);
    baseline(s);
    long rss0 = rss_kib(s->t->pid);
    did(s, "1,000 clients at once that never read: 500 silent, 495 that pipeline 40 status "
           "requests each, 5 that pipeline 100 `logs -n 1000` (about 120 KB a reply); then "
           "`tend status`; then they all go; five times");
    enum { SILENT = 500, PIPE = 495, HOGS = 5, ALL = SILENT + PIPE + HOGS };
    static int fds[ALL];
    char pipelined[40 * sizeof status_req];
    size_t plen = 0;
    for (int k = 0; k < 40; k++) {
        memcpy(pipelined + plen, status_req, sizeof status_req - 1);
        plen += sizeof status_req - 1;
    }
    static const char logs_req[] = "{\"cmd\": \"logs\", \"names\": [\"talker\"], \"lines\": 1000}\n";
    char hog[100 * sizeof logs_req];
    size_t hlen = 0;
    for (int k = 0; k < 100; k++) {
        memcpy(hog + hlen, logs_req, sizeof logs_req - 1);
        hlen += sizeof logs_req - 1;
    }
    enum { ROUNDS = 5 };
    long rss_round[ROUNDS + 1] = {rss0};
    double connect_secs = 0, status_secs = 0;
    long rss_with = 0;
    int fds_with = 0;
    for (int round = 1; round <= ROUNDS; round++) {
        double t0 = now();
        for (int i = 0; i < ALL; i++) {
            fds[i] = raw_connect(s, NULL);
            need(s, fds[i] >= 0, "client %d: connect: %s", i, strerror(errno));
            if (i >= SILENT + PIPE)
                need(s, raw_send_all(fds[i], hog, hlen, WAIT), "a hog could not send");
            else if (i >= SILENT)
                need(s, raw_send_all(fds[i], pipelined, plen, WAIT), "client %d could not send",
                     i);
            if (i % 100 == 99)
                pump(s, 0);
        }
        connect_secs = now() - t0;
        struct cli c = CLI(s, "status");
        need(s, c.code == 0, "tend status with 1,000 clients: exit %d (%.2fs): %s", c.code,
             c.secs, c.err);
        status_secs = c.secs > status_secs ? c.secs : status_secs;
        rss_with = rss_kib(s->t->pid);
        fds_with = fd_count(s->t->pid);
        need(s, fds_with >= s->fds0 + ALL - 5, "tend holds %d fds with %d clients (%d before)",
             fds_with, ALL, s->fds0);
        need(s, rss_with - rss0 < 64 * 1024, "RSS %ld KiB with the clients, %ld before",
             rss_with, rss0);
        for (int i = 0; i < ALL; i++)
            close(fds[i]);
        check_serving(s);  /* fds back where they were */
        rss_round[round] = rss_kib(s->t->pid);
    }
    held(s, "all connected in %.2f s; `tend status` answered in %.2f s at worst; tend held "
            "%d fds and %ld KiB RSS with them; after they went: fds back to %d, RSS %ld KiB "
            "before, %ld, %ld, %ld, %ld, %ld after rounds 1-5",
         connect_secs, status_secs, fds_with, rss_with, s->fds0, rss_round[0], rss_round[1],
         rss_round[2], rss_round[3], rss_round[4], rss_round[5]);
    /* malloc keeps what a thousand connections' buffers took, and takes
     * two or three rounds to settle, to within half a MiB (how many
     * replies wait at once depends on the scheduling); a leak adds at
     * every round: rounds 3 to 5 must not add a MiB (512 bytes a
     * connection would; smaller leaks are valgrind's to find) */
    need(s, rss_round[5] - rss_round[3] < 1024, "RSS grows with each round: %ld, %ld, %ld, %ld, "
         "%ld, %ld KiB", rss_round[0], rss_round[1], rss_round[2], rss_round[3], rss_round[4],
         rss_round[5]);
    need(s, rss_round[5] - rss0 < 16 * 1024, "RSS %ld KiB after the clients, %ld before",
         rss_round[5], rss0);
    check_shutdown(s, 0);
    check_no_tagged(s);
}

/* ---- more idle connections than tend takes ---- */

static void over_cap(struct sc *s)
{
    up(s);
    did(s, "1,100 connections that send nothing (tend takes 1,024 at once), then `tend status`");
    enum { N = 1100 };
    static int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = raw_connect(s, NULL);
        need(s, fds[i] >= 0, "client %d: connect: %s", i, strerror(errno));
        if (i % 100 == 99)
            pump(s, 0);
    }
    struct cli c = cli(s, NULL, 5, "status", (const char *)NULL);
    if (c.code != 0)
        defect(s, "`tend status` with 1,100 idle connections: exit %d after %.2f s: %s",
               c.code, c.secs, c.err);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    held(s, "`tend status` answered in %.2f s", c.secs);
    finish(s, 0);
}

/* ---- half-closed connections ---- */

static void half_closed(struct sc *s)
{
    up(s);
    long rss0 = rss_kib(s->t->pid);
    did(s, "50 each: a request then SHUT_WR; SHUT_WR at once; half a request then SHUT_WR; a "
           "`logs -f` then SHUT_WR; SHUT_RD then requests never read");
    enum { N = 50 };
    int answered = 0, closed = 0;
    for (int i = 0; i < N; i++) {
        int fd = raw_connect(s, NULL);
        need(s, raw_send_all(fd, status_req, sizeof status_req - 1, WAIT), "send failed");
        shutdown(fd, SHUT_WR);
        char *r = raw_reply(s, fd, WAIT);
        answered += reply_ok(r);
        char *eof = raw_reply(s, fd, WAIT);  /* then tend closes its side */
        closed += eof == NULL;
        close(fd);
    }
    need(s, answered == N && closed == N, "after a request and SHUT_WR: %d answered, %d closed "
         "by tend, of %d", answered, closed, N);
    int fds[4 * N], n = 0;
    for (int i = 0; i < N; i++) {
        int fd = raw_connect(s, NULL);
        shutdown(fd, SHUT_WR);
        fds[n++] = fd;
        fd = raw_connect(s, NULL);
        raw_send_all(fd, "{\"cmd\": \"sta", 12, WAIT);
        shutdown(fd, SHUT_WR);
        fds[n++] = fd;
        fd = raw_connect(s, NULL);
        static const char follow[] =
            "{\"cmd\": \"logs\", \"names\": [\"anchor\"], \"follow\": true}\n";
        raw_send_all(fd, follow, sizeof follow - 1, WAIT);
        shutdown(fd, SHUT_WR);
        fds[n++] = fd;
        fd = raw_connect(s, NULL);
        shutdown(fd, SHUT_RD);
        for (int k = 0; k < 10; k++)
            raw_send_all(fd, status_req, sizeof status_req - 1, WAIT);
        fds[n++] = fd;
    }
    need(s, ping(s, NULL, WAIT, NULL), "tend does not answer");
    /* the first two kinds are closed by tend: wait for each EOF */
    int eofs = 0;
    for (int i = 0; i < n; i += 4)
        for (int k = 0; k < 2; k++) {
            char *r;
            while ((r = raw_reply(s, fds[i + k], WAIT)))
                ;
            struct pollfd pfd = {fds[i + k], POLLIN, 0};
            char c;
            eofs += poll(&pfd, 1, 0) == 1 && recv(fds[i + k], &c, 1, MSG_DONTWAIT) == 0;
        }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    held(s, "a request then SHUT_WR: answered, then closed by tend (%d of %d); empty and "
            "half requests then SHUT_WR: closed by tend (%d of %d)",
         closed, N, eofs, 2 * N);
    need(s, eofs == 2 * N, "%d of %d half-closed connections closed by tend", eofs, 2 * N);
    rss_held(s, rss0);
    finish(s, 0);
}

/* ---- a slow drip ---- */

static void slow_drip(struct sc *s)
{
    up(s);
    long rss0 = rss_kib(s->t->pid);
    enum { N = 20 };
    did(s, "%d connections drip a status request one byte every 10 ms, in turn; a fresh "
           "client asks for the status after each round",
        N);
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = raw_connect(s, NULL);
    size_t len = sizeof status_req - 1;
    double worst = 0;
    for (size_t k = 0; k < len; k++) {
        for (int i = 0; i < N; i++)
            need(s, raw_send_all(fds[i], status_req + k, 1, WAIT), "send failed");
        double secs;
        need(s, ping(s, NULL, WAIT, &secs), "no answer during the drip");
        if (secs > worst)
            worst = secs;
        hold(s, 0.01);  /* the drip's pace */
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        ok += reply_ok(raw_reply(s, fds[i], WAIT));
        close(fds[i]);
    }
    need(s, ok == N, "%d of %d drips answered", ok, N);
    need(s, worst < 2, "a status took %.2f s during the drip", worst);
    held(s, "every drip answered once complete; the others' statuses answered within %.3f s "
            "at worst",
         worst);
    rss_held(s, rss0);
    finish(s, 0);
}

/* ---- another uid is refused, root is served ---- */

static void other_uid(struct sc *s)
{
    if (getuid() != 0)
        skip(s, "needs root, to become nobody");
    if (!runs_ok((const char *const[]){"setpriv", "--reuid=65534", "--regid=65534",
                                       "--clear-groups", "true", NULL}))
        skip(s, "setpriv (util-linux) cannot run here");
    up(s);
    chmod(s->dir, 0755);
    chmod(s->sock, 0666);  /* so that only tend's own check stands in the way */
    did(s, "`tend status` as uid 65534 on a socket opened to everyone; then as root");
    static const char *const nobody[] = {"setpriv", "--reuid=65534", "--regid=65534",
                                         "--clear-groups", NULL};
    struct cli c = cli_as(s, nobody, NULL, WAIT, "status", (const char *)NULL);
    need(s, c.code == 1, "as nobody: exit %d, want 1 (%s)", c.code, c.err);
    need(s, strstr(c.err, "permission denied") != NULL, "as nobody: %s", c.err);
    need(s, !strstr(c.out, "anchor"), "nobody was shown the procs");
    wait_for(s, s->t, 2, "refused a client of uid 65534", 1, "the warning");
    c = CLI(s, "status");
    need(s, c.code == 0, "as root: exit %d", c.code);
    held(s, "nobody refused (exit 1, \"permission denied\", a warning in tend's log); root "
            "served");
    finish(s, 0);
}

/* ---- as many `logs -f` followers as the cap allows ---- */

/* The next line on `fd` that is not an ok reply (a streamed line or a
 * drop notice), within the deadline; NULL if none came. */
static char *next_streamed(struct sc *s, int fd)
{
    double end = now() + WAIT;
    for (;;) {
        double left = end - now();
        char *r = left > 0 ? raw_reply(s, fd, left) : NULL;
        if (!r || !strstr(r, "\"ok\""))
            return r;
        free(r);
    }
}

/* One round: N followers join, are fed, `tend status` answers; with
 * `fill`, a last follower fills the cap and a status is tried; then they
 * all go and tend's fds come back.  What it saw in *rd. */
struct follow_round {
    double connect_secs, status_secs, full_secs;
    int full_code;
    int fds_with;
    long rss_with, rss_after;
};

static void follow_round(struct sc *s, int n, bool fill, struct follow_round *rd)
{
    static int fds[CTL_CAP];
    static const char follow[] =
        "{\"cmd\": \"logs\", \"names\": [\"talker\"], \"follow\": true, \"lines\": 1}\n";
    double t0 = now();
    for (int i = 0; i < n; i++) {
        fds[i] = raw_connect(s, NULL);
        need(s, fds[i] >= 0, "follower %d: connect: %s", i, strerror(errno));
        need(s, raw_send_all(fds[i], follow, sizeof follow - 1, WAIT),
             "follower %d could not send", i);
        if (i % 100 == 99)
            pump(s, 0);
    }
    int ok = 0;
    for (int i = 0; i < n; i++) {
        char *r = raw_reply(s, fds[i], WAIT);
        ok += reply_ok(r);
        free(r);
    }
    rd->connect_secs = now() - t0;
    need(s, ok == n, "%d of %d follow requests answered ok", ok, n);
    /* every follower gets the lines that come after it joined */
    int fed = 0;
    for (int i = 0; i < n; i++) {
        char *r = next_streamed(s, fds[i]);
        fed += r && strstr(r, "tick") != NULL;
        free(r);
    }
    need(s, fed == n, "%d of %d followers got a new line", fed, n);
    struct cli c = cli(s, NULL, 5, "status", (const char *)NULL);
    need(s, c.code == 0, "`tend status` with %d followers: exit %d after %.2f s: %s", n,
         c.code, c.secs, c.err);
    rd->status_secs = c.secs;
    rd->rss_with = rss_kib(s->t->pid);
    rd->fds_with = fd_count(s->t->pid);
    need(s, rd->fds_with >= s->fds0 + n, "tend holds %d fds with %d followers (%d before)",
         rd->fds_with, n, s->fds0);
    need(s, rd->rss_with - s->rss0 < 32 * 1024, "RSS %ld KiB with the followers, %ld before",
         rd->rss_with, s->rss0);
    if (fill) {
        /* one follower more is refused with a reason, so the slots kept
         * for other commands stay free: then the rest of the cap is filled
         * with idle connections, and `tend status` still gets through
         * (an idle one makes room) */
        fds[n] = raw_connect(s, NULL);
        need(s, fds[n] >= 0, "follower %d: connect: %s", n + 1, strerror(errno));
        need(s, raw_send_all(fds[n], follow, sizeof follow - 1, WAIT),
             "follower %d could not send", n + 1);
        char *r = raw_reply(s, fds[n], WAIT);
        need(s, r && strstr(r, "too many followers"), "follower %d: %s", n + 1,
             r ? r : "(no reply)");
        free(r);
        for (int k = n + 1; k < CTL_CAP; k++) {
            fds[k] = raw_connect(s, NULL);
            need(s, fds[k] >= 0, "idle connection %d: connect: %s", k, strerror(errno));
        }
        pump(s, 0);
        struct cli full = cli(s, NULL, 5, "status", (const char *)NULL);
        need(s, full.code == 0, "`tend status` with %d followers and the cap full: exit %d "
             "after %.2f s: %s", n, full.code, full.secs, full.err);
        need(s, full.secs < 2, "`tend status` with %d followers took %.2f s to be answered",
             n + 1, full.secs);
        rd->full_code = full.code;
        rd->full_secs = full.secs;
    }
    for (int i = 0; i < (fill ? CTL_CAP : n); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    check_serving(s);  /* fds back to the baseline */
    rd->rss_after = rss_kib(s->t->pid);
}

static void followers(struct sc *s)
{
    tend_up(s, policy(s, ANCHOR
        "tend.proc { name = \"talker\", cmd = { \"sh\", \"-c\", "
        "\"while :; do echo tick; sleep 0.2; done\" } }\n"), NULL, NULL);
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    wait_for(s, s->t, 1, "talker | tick", 1, "the talker");
    wait_up(s, s->t, NULL);
    baseline(s);
    /* tend takes CTL_CAP connections at once and makes room by closing an
     * idle one; a follower is never idle, so it takes CTL_FOLLOWS of them
     * at most and keeps the rest for other commands */
    enum { N = CTL_FOLLOWS, ROUNDS = 3 };
    did(s, "%d `logs -f` followers of a proc that prints 5 lines a second connect at once "
           "(the most tend takes), `tend status`, then they all go; three times, the first "
           "with one follower more (refused), the cap (%d) filled with idle connections and "
           "`tend status` again",
        N, CTL_CAP);
    struct follow_round rd[ROUNDS];
    for (int i = 0; i < ROUNDS; i++)
        follow_round(s, N, i == 0, &rd[i]);
    /* malloc keeps what the connections' buffers took (see ctl-1000-
     * clients); a leak adds at every round */
    need(s, rd[2].rss_after - rd[1].rss_after < 1024, "RSS grows with each round: %ld, %ld, "
         "%ld, %ld KiB", s->rss0, rd[0].rss_after, rd[1].rss_after, rd[2].rss_after);
    need(s, rd[2].rss_after - s->rss0 < 16 * 1024, "RSS %ld KiB after the followers, %ld "
         "before", rd[2].rss_after, s->rss0);
    held(s, "all followed in %.2f s, each got the new lines; `tend status` answered in "
            "%.2f s; tend held %d fds and %ld KiB RSS with them. One more follower was "
            "refused; with the cap (%d) full, `tend status` was answered in %.2f s. After "
            "they went: fds back to %d each time; RSS %ld KiB before, %ld, %ld, %ld after "
            "rounds 1-3",
         rd[0].connect_secs, rd[0].status_secs, rd[0].fds_with, rd[0].rss_with, CTL_CAP,
         rd[0].full_secs, s->fds0, s->rss0, rd[0].rss_after, rd[1].rss_after,
         rd[2].rss_after);
    finish(s, 0);
}

const struct scenario sc_ctl[] = {
    {"ctl-random-bytes", random_bytes, 30, NULL},
    {"ctl-10MiB-line", huge_line, 30, NULL},
    {"ctl-bad-requests", bad_requests, 30, NULL},
    {"ctl-1000-clients", thousand_clients, 40, NULL},
    {"ctl-over-cap", over_cap, 30,
     "issue 10 section 4 (fixed since): 1,024 idle connections locked `tend status` out "
     "until they closed"},
    {"ctl-followers-cap", followers, 60, NULL},
    {"ctl-half-closed", half_closed, 30, NULL},
    {"ctl-slow-drip", slow_drip, 30, NULL},
    {"ctl-other-uid", other_uid, 30, NULL},
    {NULL, NULL, 0, NULL},
};
