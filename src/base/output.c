/* output.c -- line sinks for fds 1 and 2 that never block the loop. */
#include "base/output.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

#define SINK_SOFT (256 * 1024)       /* readers pause above this */
#define SINK_HARD (4 * 1024 * 1024)  /* lines are dropped above this */

struct sink {
    int fd;
    char *buf;
    size_t start, end, cap;
    size_t dropped;       /* lines dropped since the last notice */
    bool broken;          /* the fd refused a write for good (EPIPE...) */
    ev_io w;
};

static struct ev_loop *out_loop;
static struct sink sinks[2] = {{.fd = 1}, {.fd = 2}};
/* The file status flags fds 1 and 2 had before output_init set O_NONBLOCK,
 * or -1 where nothing was changed.  Apart from the sinks, so that a
 * fatal-signal handler can put them back (output_restore_flags): an
 * O_NONBLOCK left on a terminal's open file description breaks the shell
 * and every other program that shares it. */
static volatile sig_atomic_t saved_flags[2] = {-1, -1};
static bool timestamps;
static bool json_lines;       /* procs' lines as JSON objects (--log-format json) */
static bool colour[2];        /* prefixes coloured and aligned, per sink (a terminal) */
static size_t prefix_width;   /* the longest prefix seen or announced */
static struct output_waiter *waiters;
static ev_prepare flusher;  /* writes once per loop iteration, before it sleeps */

static void sink_flush(struct sink *s);

static size_t sink_len(const struct sink *s)
{
    return s->end - s->start;
}

/* Room for n more bytes, or false when the hard limit forbids it. */
static bool sink_reserve(struct sink *s, size_t n)
{
    if (s->end + n <= s->cap)
        return true;
    if (s->start > 0) {
        memmove(s->buf, s->buf + s->start, sink_len(s));
        s->end -= s->start;
        s->start = 0;
        if (s->end + n <= s->cap)
            return true;
    }
    if (s->end + n > SINK_HARD)
        return false;
    size_t cap = s->cap ? s->cap : 16384;
    while (cap < s->end + n)
        cap *= 2;
    s->buf = xrealloc(s->buf, cap);
    s->cap = cap;
    return true;
}

static void sink_append(struct sink *s, const char *p, size_t n)
{
    memcpy(s->buf + s->end, p, n);
    s->end += n;
}

static void wake_waiters(void)
{
    struct output_waiter *list = waiters;
    waiters = NULL;
    while (list && !output_congested()) {
        struct output_waiter *w = list;
        list = w->next;
        w->queued = false;
        w->next = NULL;
        w->wake(w);
    }
    /* whoever was not woken waits on */
    while (list) {
        struct output_waiter *w = list;
        list = w->next;
        w->queued = false;
        output_wait(w);
    }
}

static void writable_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sink *s = container_of(w, struct sink, w);
    sink_flush(s);
}

static void flusher_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    ev_prepare_stop(loop, w);
    sink_flush(&sinks[0]);
    sink_flush(&sinks[1]);
}

/* Write what the fd takes.  With no deadline (0): what it takes now, and
 * the write watcher waits for the rest.  With a deadline (monotonic, on
 * the way out): wait for the fd up to then, and drop what is left, so an
 * output nobody reads cannot keep tend from exiting. */
static void sink_write(struct sink *s, double deadline)
{
    while (sink_len(s) > 0 && !s->broken) {
        ssize_t n = write(s->fd, s->buf + s->start, sink_len(s));
        if (n > 0) {
            s->start += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        bool full = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        double left = deadline - now_mono();
        if (full && deadline > 0 && left > 0) {
            struct pollfd pfd = {.fd = s->fd, .events = POLLOUT};
            poll(&pfd, 1, (int)(left * 1000) + 1);
            continue;
        }
        if (full && deadline <= 0 && out_loop) {
            if (!ev_is_active(&s->w))
                ev_io_start(out_loop, &s->w);
            return;
        }
        s->broken = true;  /* closed, failing, or nobody reads it: drop */
        if (s == &sinks[0] && !sinks[1].broken && sink_reserve(&sinks[1], 160)) {
            /* said once, on stderr, which may still be read */
            char note[160];
            int k = snprintf(note, sizeof note,
                             "tend: warning: stdout is closed (%s): the procs' stdout "
                             "lines are dropped from now on\n",
                             n < 0 ? strerror(errno) : "nothing written");
            sink_append(&sinks[1], note, (size_t)k);
            if (out_loop && !ev_is_active(&flusher) && !ev_is_active(&sinks[1].w))
                ev_prepare_start(out_loop, &flusher);
        }
    }
    if (s->broken || sink_len(s) == 0) {
        s->start = s->end = 0;
        if (out_loop && ev_is_active(&s->w))
            ev_io_stop(out_loop, &s->w);
    }
    if (waiters && !output_congested())
        wake_waiters();
}

static void sink_flush(struct sink *s)
{
    sink_write(s, 0);
}

void output_init(struct ev_loop *loop)
{
    out_loop = loop;
    for (int i = 0; i < 2; i++) {
        struct sink *s = &sinks[i];
        struct stat sb;
        /* O_NONBLOCK on a regular file means nothing; on a pipe or a
         * terminal it is what keeps the loop from stalling.  The flag is
         * put back by output_finish. */
        if (fstat(s->fd, &sb) == 0 && !S_ISREG(sb.st_mode)) {
            int fl = fcntl(s->fd, F_GETFL);
            if (fl >= 0 && !(fl & O_NONBLOCK)) {
                /* saved before the change: a signal in between restores
                 * flags that are still right, which is harmless */
                saved_flags[i] = fl;
                if (fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) != 0)
                    saved_flags[i] = -1;
            }
        }
        ev_io_init(&s->w, writable_cb, s->fd, EV_WRITE);
    }
    ev_prepare_init(&flusher, flusher_cb);
    const char *term = getenv("TERM");
    bool may = !getenv("NO_COLOR") && !(term && strcmp(term, "dumb") == 0);
    colour[0] = may && isatty(1);
    colour[1] = may && isatty(2);
}

void output_set_json(bool on)
{
    json_lines = on;
}

void output_prefix_width(size_t width)
{
    if (width > prefix_width)
        prefix_width = width;
}

void output_set_timestamps(bool on)
{
    timestamps = on;
}

size_t output_time_iso(char *buf)
{
    return time_iso(now_wall(), buf);
}

/* "2026-11-26T16:45:01.123Z " into buf (at least 32 bytes); its length. */
static size_t format_time(char *buf)
{
    size_t n = output_time_iso(buf);
    buf[n++] = ' ';
    buf[n] = '\0';
    return n;
}

bool output_timestamps_on(void)
{
    return timestamps;
}

size_t output_timestamp(char *buf)
{
    return timestamps ? format_time(buf) : 0;
}

static void append_line(int fd, bool stamped, const char *prefix, const char *line,
                        size_t len);

/* A proc's line as {"time","proc","stream","line"} (jansson; bytes that
 * are not UTF-8 become U+FFFD). */
static void append_json(int fd, const char *proc, const char *line, size_t len)
{
    char when[32];
    output_time_iso(when);
    char *text = utf8_clean(line, len, &len);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s%}", "time", when, "proc", proc, "stream",
                          fd == 2 ? "stderr" : "stdout", "line", text, len);
    free(text);
    char *out = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (out) {
        append_line(fd, false, NULL, out, strlen(out));
        free(out);
    }
}

void output_line(int fd, const char *prefix, const char *line, size_t len)
{
    if (prefix && json_lines)
        append_json(fd, prefix, line, len);
    else
        append_line(fd, true, prefix, line, len);
}

/* The colour of a prefix on a terminal: one of six, by the name's hash, so
 * a proc keeps its colour across runs. */
static const char *prefix_colour(const char *prefix)
{
    static const char *const colours[] = {"\033[36m", "\033[33m", "\033[32m",
                                          "\033[35m", "\033[34m", "\033[31m"};
    unsigned h = 5381;
    for (const char *p = prefix; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return colours[h % ARRAY_LEN(colours)];
}

void output_line_plain(int fd, const char *line, size_t len)
{
    append_line(fd, false, NULL, line, len);
}

static void append_line(int fd, bool stamped, const char *prefix, const char *line,
                        size_t len)
{
    struct sink *s = &sinks[fd == 2 ? 1 : 0];
    char ts[32];
    size_t tlen = stamped ? output_timestamp(ts) : 0;
    size_t plen = prefix ? strlen(prefix) : 0;
    bool tty = prefix && colour[s == &sinks[1]];
    if (prefix)
        output_prefix_width(plen);
    /* on a terminal: the colour, the padding to the longest prefix, the reset */
    size_t pad = tty ? prefix_width - plen : 0;
    size_t need = tlen + (prefix ? plen + 3 : 0) + (tty ? 5 + pad + 4 : 0) + len + 1;

    if (s->broken)
        return;
    if (!sink_reserve(s, need)) {
        s->dropped++;
        return;
    }
    if (s->dropped && sink_reserve(s, need + 64)) {
        char note[64];
        int n = snprintf(note, sizeof note, "tend: warning: %zu lines dropped\n",
                         s->dropped);
        sink_append(s, note, (size_t)n);
        s->dropped = 0;
    }
    sink_append(s, ts, tlen);
    if (tty) {
        sink_append(s, prefix_colour(prefix), 5);
        sink_append(s, prefix, plen);
        memset(s->buf + s->end, ' ', pad);
        s->end += pad;
        sink_append(s, " |\033[0m ", 7);
    } else if (prefix) {
        sink_append(s, prefix, plen);
        sink_append(s, " | ", 3);
    }
    sink_append(s, line, len);
    sink_append(s, "\n", 1);
    if (!out_loop)
        sink_flush(s);
    else if (!ev_is_active(&flusher) && !ev_is_active(&s->w))
        ev_prepare_start(out_loop, &flusher);
}

bool output_congested_fd(int fd)
{
    return sink_len(&sinks[fd == 2 ? 1 : 0]) > SINK_SOFT;
}

bool output_congested(void)
{
    return sink_len(&sinks[0]) > SINK_SOFT || sink_len(&sinks[1]) > SINK_SOFT;
}

void output_wait(struct output_waiter *w)
{
    if (w->queued)
        return;
    w->queued = true;
    w->next = waiters;
    waiters = w;
}

void output_cancel(struct output_waiter *w)
{
    if (!w->queued)
        return;
    for (struct output_waiter **pp = &waiters; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    w->queued = false;
    w->next = NULL;
}

void output_restore_flags(void)
{
    int saved = errno;  /* a signal handler must leave errno as it was */
    for (int i = 0; i < 2; i++) {
        int fl = saved_flags[i];
        if (fl >= 0) {
            fcntl(sinks[i].fd, F_SETFL, fl);
            saved_flags[i] = -1;
        }
    }
    errno = saved;
}

/* How long the way out waits for a full stdout or stderr to drain. */
#define FINISH_DRAIN_SECONDS 2.0

void output_finish(void)
{
    for (int i = 0; i < 2; i++) {
        struct sink *s = &sinks[i];
        if (out_loop && ev_is_active(&s->w))
            ev_io_stop(out_loop, &s->w);
    }
    if (out_loop && ev_is_active(&flusher))
        ev_prepare_stop(out_loop, &flusher);
    if (out_loop) {  /* the fds are non-blocking: drain with a deadline */
        double deadline = now_mono() + FINISH_DRAIN_SECONDS;
        sink_write(&sinks[0], deadline);
        sink_write(&sinks[1], deadline);
    }
    output_restore_flags();
    out_loop = NULL;
    sink_flush(&sinks[0]);
    sink_flush(&sinks[1]);
    free(sinks[0].buf);
    free(sinks[1].buf);
    sinks[0].buf = sinks[1].buf = NULL;
    sinks[0].cap = sinks[1].cap = 0;
    sinks[0].start = sinks[0].end = sinks[1].start = sinks[1].end = 0;
}
