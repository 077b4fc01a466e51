/* fuzz_ctl.c -- the control protocol reader (ctl.c, SPEC 7).
 *
 * The real socket: for each input a manager (manager_new) with three procs
 * ("web" prints a few lines, one not UTF-8; "db" exits at once; "a@1"
 * sleeps), a control socket (ctl_open) on a scratch path and a client
 * connected to it.  The fuzzer's bytes are what the client writes: in one
 * piece or in chunks of a size the input picks, after an optional line of
 * over 64 KiB, and then the client half-closes, closes or stays; it reads
 * the replies or, as a client that never reads, does not.  The loop runs
 * between chunks and after the end until nothing more happens.  Only
 * ctl.h, manager.h and the socket are used, so the target survives changes
 * inside ctl.c.  The oracle is SPEC 7 and the README's protocol:
 *  - every line tend writes is one JSON object: {"ok": true|false, ...}
 *    with an "error" string when not ok; after a `logs` with follow,
 *    {"stream", "text"} lines or {"dropped": N};
 *  - requests are answered in order; an empty line gets no reply; a line
 *    that is not JSON, not an object, has no "cmd" string, names an
 *    unknown command or an unknown field, or is over 64 KiB gets an error
 *    reply and the connection stays usable (the SPEC's newer commands and
 *    option names are left unjudged: they may come);
 *  - when every request can be answered at once (no start, restart, stop,
 *    wait, shutdown or follow), a reading client that half-closes gets
 *    exactly one reply per non-empty line, then the end of the stream;
 *  - nothing crashes or leaks. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "control/ctl.h"
#include "fuzz.h"
#include "core/manager.h"
#include "core/reap.h"
#include "base/util.h"

#define REQUEST_MAX (64 * 1024)  /* SPEC 7: a longer line is an error */

static struct ev_loop *loop;
static char sockpath[PATH_MAX];
static const char *printf_prog, *sleep_prog, *true_prog;

/* The README's commands and the fields each takes (besides "cmd"). */
static const struct {
    const char *name;
    const char *fields[5];
    bool instant;  /* answered at once, whatever the procs do */
} commands[] = {
    {"status", {"names", "json"}, true},
    {"start", {"names"}, false},
    {"stop", {"names", "timeout"}, false},
    {"restart", {"names"}, false},
    {"kill", {"names"}, true},
    {"signal", {"names", "signal"}, true},
    {"logs", {"names", "lines", "stream", "follow"}, true},
    {"wait", {"names", "ready", "exit", "timeout"}, false},
    {"shutdown", {NULL}, false},
    {"reload", {NULL}, true},
};

static const char *first_of(const char *const *paths)
{
    for (; paths[1]; paths++)
        if (access(*paths, X_OK) == 0)
            break;
    return *paths;
}

static struct spec *mkspec(const char *name, const char *a0, const char *a1)
{
    struct spec *s = spec_new();
    s->name = xstrdup(name);
    s->argv = xcalloc(3, sizeof *s->argv);
    s->argv[0] = xstrdup(a0);
    if (a1)
        s->argv[1] = xstrdup(a1);
    s->output = OUTPUT_DISCARD;
    s->stop_timeout = 1;
    s->autostart = false;
    return s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_setup("ctl");
    loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
    reap_start(loop);
    snprintf(sockpath, sizeof sockpath, "%s/ctl.sock", fuzz_dir());
    static const char *const printfs[] = {"/usr/bin/printf", "/bin/printf", "printf", NULL};
    static const char *const sleeps[] = {"/bin/sleep", "/usr/bin/sleep", "sleep", NULL};
    static const char *const trues[] = {"/bin/true", "/usr/bin/true", "true", NULL};
    printf_prog = first_of(printfs);
    sleep_prog = first_of(sleeps);
    true_prog = first_of(trues);
    return 0;
}

/* The client's side of one input. */
struct client {
    int fd;
    bool reading;
    struct buf got;   /* what tend wrote */
    bool eof;         /* tend closed the connection */
};

static void pump(void)
{
    ev_run(loop, EVRUN_NOWAIT);
}

/* Read what tend wrote; whether anything came. */
static bool client_read(struct client *c)
{
    bool any = false;
    char b[65536];
    while (c->fd >= 0 && !c->eof) {
        ssize_t n = recv(c->fd, b, sizeof b, MSG_DONTWAIT);
        if (n > 0) {
            buf_put(&c->got, b, (size_t)n);
            any = true;
            continue;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            c->eof = true, any = true;
        break;
    }
    return any;
}

/* Send bytes; false when tend stopped taking them (it is busy answering
 * or a client that does not read has too much waiting). */
static bool client_send(struct client *c, const char *b, size_t n)
{
    int idle = 0;
    while (n > 0) {
        ssize_t w = send(c->fd, b, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
            b += w;
            n -= (size_t)w;
            idle = 0;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return false;  /* tend closed it */
        pump();
        if (c->reading)
            client_read(c);
        if (++idle > 50)
            return false;
    }
    return true;
}

/* What a request line must get, by the README's rules. */
enum expect { E_NONE, E_ERROR, E_ANY, E_BLOCKING };

static enum expect classify(const char *line, size_t len, bool *follow)
{
    *follow = false;
    if (len > REQUEST_MAX)
        return E_ERROR;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t skip = 0;
    while (skip < len && (line[skip] == ' ' || line[skip] == '\t'))
        skip++;
    if (skip == len)
        return E_NONE;
    json_error_t err;
    json_t *req = json_loadb(line + skip, len - skip, JSON_REJECT_DUPLICATES, &err);
    if (!req)
        return E_ERROR;
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    enum expect e = E_ERROR;
    size_t k = 0;
    while (cmd && k < ARRAY_LEN(commands) && strcmp(commands[k].name, cmd) != 0)
        k++;
    /* the SPEC's newer commands, and option names a newer command or
     * option may use: not judged either way */
    static const char *const spec_cmds[] = {"top", "metrics", "scale"};
    static const char *const spec_fields[] = {"json", "timeout", "lines", "stream", "follow",
                                              "exit", "ready", "signal", "names", "timestamps",
                                              "n", "count", "replicas", "stay"};
    for (size_t q = 0; cmd && q < ARRAY_LEN(spec_cmds); q++)
        if (json_is_object(req) && strcmp(cmd, spec_cmds[q]) == 0)
            e = E_BLOCKING;
    if (json_is_object(req) && cmd && k < ARRAY_LEN(commands)) {
        e = commands[k].instant ? E_ANY : E_BLOCKING;
        const char *key;
        json_t *v;
        json_object_foreach(req, key, v) {
            bool ok = strcmp(key, "cmd") == 0, spec = false;
            for (size_t f = 0; !ok && f < 5 && commands[k].fields[f]; f++)
                ok = strcmp(key, commands[k].fields[f]) == 0;
            for (size_t f = 0; !ok && f < ARRAY_LEN(spec_fields); f++)
                spec |= strcmp(key, spec_fields[f]) == 0;
            if (!ok && !spec)
                e = E_ERROR;
            else if (!ok && e != E_ERROR)
                e = E_BLOCKING;  /* an option the README does not give this command */
        }
        if (e == E_ANY && strcmp(cmd, "logs") == 0 && json_is_true(json_object_get(req, "follow")))
            *follow = true;
    }
    json_decref(req);
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fin in = {data, size};
    uint8_t h = fin_u8(&in), chunk = fin_u8(&in);
    bool long_first = (h & 0x31) == 0x31;
    size_t csize = h & 2 ? (size_t)(chunk & 0x3f) + 1 : SIZE_MAX;
    size_t body_len;
    const char *body = (const char *)fin_bytes(&in, SIZE_MAX, &body_len);

    struct manager *m = manager_new(loop);
    manager_add(m, mkspec("web", printf_prog, "one\\ntwo\\n\\377\\376 not UTF-8\\nlast"));
    manager_add(m, mkspec("db", true_prog, NULL));
    manager_add(m, mkspec("a@1", sleep_prog, "100000"));
    char *err = NULL;
    struct ctl *ctl = ctl_open(loop, m, sockpath, &err);
    if (!ctl)
        fuzz_fail("harness", "ctl_open %s: %s", sockpath, err ? err : "?");

    struct client c = {-1, (h & 4) != 0, {0}, false};
    c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sockpath);
    if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        fuzz_fail("harness", "connect %s: %s", sockpath, strerror(errno));
    pump();  /* accept */

    /* what was sent, for the oracle */
    struct buf sent = {0};
    bool all_sent = true;
    if (long_first) {
        /* a line over 64 KiB, then the input (its first line ends it) */
        size_t n = REQUEST_MAX + 1 + (size_t)chunk * 64;
        char *big = xmalloc(n);
        memset(big, 'x', n);
        all_sent = client_send(&c, big, n);
        buf_put(&sent, big, n);
        free(big);
        pump();
    }
    for (size_t at = 0; all_sent && at < body_len;) {
        size_t n = body_len - at < csize ? body_len - at : csize;
        all_sent = client_send(&c, body + at, n);
        buf_put(&sent, body + at, n);
        at += n;
        pump();
        if (c.reading)
            client_read(&c);
    }
    int end = h >> 6;  /* 0, 1: half-close; 2: close; 3: stay */
    if (end <= 1)
        shutdown(c.fd, SHUT_WR);
    else if (end == 2) {
        close(c.fd);
        c.fd = -1;
    }
    for (int idle = 0, k = 0; idle < 3 && k < 200 && !c.eof; k++) {
        pump();
        bool any = (c.reading || end <= 1) && client_read(&c);
        idle = any ? 0 : idle + 1;
    }

    /* every line tend wrote is a JSON object of the protocol */
    size_t nreplies = 0;
    bool following = false;
    enum expect want[256];
    size_t nwant = 0;
    bool judge_order = all_sent && c.fd >= 0 && (c.reading || end <= 1);
    bool complete = judge_order && end <= 1;
    bool follow_seen = false;
    /* the requests, as tend should see them */
    for (size_t at = 0; at < sent.len && nwant < ARRAY_LEN(want);) {
        const char *nl = memchr(sent.p + at, '\n', sent.len - at);
        if (!nl && end > 1)
            break;  /* a last line without its newline is a request at EOF only */
        size_t len = nl ? (size_t)(nl - (sent.p + at)) : sent.len - at;
        bool follow;
        enum expect e = classify(sent.p + at, len, &follow);
        at += len + 1;
        if (e == E_NONE)
            continue;
        want[nwant++] = e;
        if (e == E_BLOCKING)
            complete = false;
        if (follow) {
            complete = false;
            follow_seen = true;
            break;  /* a follow takes the connection over */
        }
    }
    if (nwant == ARRAY_LEN(want))
        complete = false;
    for (size_t at = 0; at < c.got.len;) {
        const char *nl = memchr(c.got.p + at, '\n', c.got.len - at);
        if (!nl) {
            if (c.eof)
                fuzz_fail("ctl-reply", "tend ended the connection in the middle of a line: %s",
                          fuzz_show(c.got.p + at, c.got.len - at));
            break;
        }
        size_t len = (size_t)(nl - (c.got.p + at));
        json_error_t jerr;
        json_t *r = json_loadb(c.got.p + at, len, 0, &jerr);
        if (!r || !json_is_object(r))
            fuzz_fail("ctl-reply", "a reply that is not a JSON object (%s): %s",
                      r ? "not an object" : jerr.text, fuzz_show(c.got.p + at, len));
        json_t *ok = json_object_get(r, "ok");
        if (following) {
            bool line = json_is_string(json_object_get(r, "stream")) &&
                        json_is_string(json_object_get(r, "text"));
            if (!line && !json_is_integer(json_object_get(r, "dropped")))
                fuzz_fail("ctl-reply", "a follow line that is neither a line nor dropped: %s",
                          fuzz_show(c.got.p + at, len));
        } else {
            if (!json_is_boolean(ok))
                fuzz_fail("ctl-reply", "a reply without a boolean \"ok\": %s",
                          fuzz_show(c.got.p + at, len));
            if (json_is_false(ok) && !json_is_string(json_object_get(r, "error")))
                fuzz_fail("ctl-reply", "an error reply without an \"error\" string: %s",
                          fuzz_show(c.got.p + at, len));
            if (judge_order && nreplies < nwant && want[nreplies] == E_ERROR && json_is_true(ok))
                fuzz_fail("ctl-order", "reply %zu is ok, but request %zu should have had an "
                          "error: %s", nreplies + 1, nreplies + 1, fuzz_show(c.got.p + at, len));
            nreplies++;
            if (follow_seen && nreplies == nwant && json_is_true(ok))
                following = true;
        }
        json_decref(r);
        at += len + 1;
    }
    if (fuzz_debug())
        fuzz_note("sent %zu bytes (all: %d), %zu requests, %zu replies, eof %d, complete %d:\n%.*s",
                  sent.len, all_sent, nwant, nreplies, c.eof, complete, (int)c.got.len, c.got.p);
    if (complete && nreplies != nwant)
        fuzz_fail("ctl-count", "%zu non-empty request lines that are answered at once, %zu "
                  "replies (the client half-closed and read everything)", nwant, nreplies);
    if (complete && !c.eof)
        fuzz_fail("ctl-eof", "every request was answered and the client half-closed, but "
                  "tend keeps the connection open");

    if (c.fd >= 0)
        close(c.fd);
    ctl_close(ctl);
    manager_free(m);
    for (int k = 0; k < 3; k++)
        pump();  /* reap what a start spawned */
    free(sent.p);
    free(c.got.p);
    free(err);
    return 0;
}
