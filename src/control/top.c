/* top.c -- `tend top`: the live view.
 *
 * One loop (libev, the client's own): a 1 s timer sends a status request
 * when none is in flight, the socket's reader takes the answer and draws a
 * frame, stdin's reader takes keys, SIGWINCH redraws at the new size and
 * SIGINT, SIGTERM and SIGHUP quit.  CPU % is the growth of each proc's
 * `cpu` between two answers over the time between them. */
#include "control/top.h"

#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "base/util.h"
#include "control/link.h"
#include "control/statustable.h"

#define REFRESH 1.0

enum sort { SORT_NAME, SORT_CPU, SORT_MEM };

/* A proc's CPU seconds at the last answer, for the next one's CPU %. */
struct sample {
    char *name;
    double cpu, at;
};

struct top {
    struct ev_loop *loop;
    struct link link;
    ev_io in_w, sock_w;
    ev_timer tick;
    ev_signal sig_w[4];
    bool in_flight;        /* a request waits for its answer */
    json_t *statuses;      /* the last answer's array */
    double *pct;           /* CPU % of each of statuses, -1: not known */
    struct sample *prev;   /* the answer before */
    size_t nprev;
    enum sort sort;
    int rc;
    const char *why;       /* said after the terminal is back, or NULL */
};

/* ---- the terminal ---- */

static struct termios saved_tio;
static volatile sig_atomic_t term_changed;

#define ENTER "\033[?1049h\033[?25l"   /* the alternate screen, no cursor */
#define LEAVE "\033[?25h\033[?1049l"

/* Give the terminal its modes back: only write(2) and tcsetattr(3), so a
 * fatal signal's handler may call it.  Idempotent. */
static void term_restore(void)
{
    if (!term_changed)
        return;
    term_changed = 0;
    ssize_t w = write(STDOUT_FILENO, LEAVE, sizeof LEAVE - 1);
    (void)w;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
}

static void fatal_handler(int sig)
{
    term_restore();
    signal(sig, SIG_DFL);
    raise(sig);
}

static bool term_enter(void)
{
    if (tcgetattr(STDIN_FILENO, &saved_tio) != 0)
        return false;
    struct termios raw = saved_tio;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);  /* keys one by one, unechoed; ISIG stays */
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0)
        return false;
    term_changed = 1;
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGQUIT};
    for (size_t i = 0; i < ARRAY_LEN(fatal); i++)
        signal(fatal[i], fatal_handler);
    atexit(term_restore);
    ssize_t w = write(STDOUT_FILENO, ENTER, sizeof ENTER - 1);
    (void)w;
    return true;
}

static void term_size(int *rows, int *cols)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    } else {
        *rows = 24;
        *cols = 80;
    }
}

/* ---- drawing ---- */

static const char *field(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static double number(const json_t *o, const char *key, double missing)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : missing;
}

/* Append s, cut to `width` characters (UTF-8 sequences counted as one
 * column each), padded with spaces to it when `pad`. */
static void put_cell(struct buf *b, const char *s, int width, bool pad)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    int cols = 0;
    while (n > 0 && cols < width) {
        size_t bad = 0, k = utf8_char(p, n, &bad);
        if (!k)
            k = bad;
        if (*p >= 0x20 && *p != 0x7f)  /* no control bytes on the screen */
            buf_put(b, (const char *)p, k);
        else
            buf_put(b, "?", 1);
        p += k;
        n -= k;
        cols++;
    }
    for (; pad && cols < width; cols++)
        buf_put(b, " ", 1);
}

struct row {
    const json_t *st;
    double pct, mem;
    size_t order;
};

static int by_cpu(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->pct != y->pct)
        return x->pct < y->pct ? 1 : -1;
    return x->order < y->order ? -1 : 1;
}

static int by_mem(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->mem != y->mem)
        return x->mem < y->mem ? 1 : -1;
    return x->order < y->order ? -1 : 1;
}

static void draw(struct top *t)
{
    int rows, cols;
    term_size(&rows, &cols);
    size_t n = json_array_size(t->statuses);
    struct row *r = xcalloc(n ? n : 1, sizeof *r);
    size_t up = 0;
    for (size_t i = 0; i < n; i++) {
        r[i].st = json_array_get(t->statuses, i);
        r[i].pct = t->pct[i];
        r[i].mem = number(r[i].st, "memory", -1);
        r[i].order = i;
        up += number(r[i].st, "pid", 0) > 0;
    }
    if (t->sort == SORT_CPU)
        qsort(r, n, sizeof *r, by_cpu);
    else if (t->sort == SORT_MEM)
        qsort(r, n, sizeof *r, by_mem);

    struct buf b = {0};
    buf_put(&b, "\033[H", 3);
    char line[512];
    static const char *const sorts[] = {"name", "CPU", "memory"};
    snprintf(line, sizeof line, "tend top: %zu procs, %zu running; sorted by %s   "
             "n/c/m: sort by name/CPU/memory   q: quit", n, up, sorts[t->sort]);
    put_cell(&b, line, cols, false);
    buf_put(&b, "\033[K\n\033[K\n", 8);
    snprintf(line, sizeof line, "%-16s %-8s %7s %6s %8s %9s %8s  %s", "NAME", "STATE", "PID",
             "CPU%", "MEM", "UPTIME", "RESTARTS", "INFO");
    buf_put(&b, "\033[7m", 4);
    put_cell(&b, line, cols, true);
    buf_put(&b, "\033[0m\033[K\n", 8);
    double now = now_mono();
    for (size_t i = 0; i < n && (int)i < rows - 4; i++) {
        const json_t *st = r[i].st;
        char pid[24] = "-", pct[24] = "-", mem[24] = "-", upt[48] = "-", why[256];
        double p = number(st, "pid", 0);
        if (p > 0)
            snprintf(pid, sizeof pid, "%.0f", p);
        if (r[i].pct >= 0)
            snprintf(pct, sizeof pct, "%.1f", r[i].pct);
        if (r[i].mem >= 0)
            statustable_bytes(r[i].mem, mem, sizeof mem);
        double started = number(st, "started_at", 0);
        if (p > 0 && started > 0)
            statustable_duration(now - started, upt, sizeof upt);
        char *info = statustable_info(st, t->statuses, now);
        snprintf(why, sizeof why, "%s", info);
        free(info);
        snprintf(line, sizeof line, "%-16s %-8s %7s %6s %8s %9s %8.0f  %s", field(st, "name"),
                 field(st, "state"), pid, pct, mem, upt, number(st, "restarts", 0), why);
        put_cell(&b, line, cols, false);
        buf_put(&b, "\033[K\n", 4);
    }
    buf_put(&b, "\033[J", 3);  /* clear what is below */
    for (size_t off = 0; off < b.len;) {
        ssize_t w = write(STDOUT_FILENO, b.p + off, b.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    free(b.p);
    free(r);
}

/* ---- the answers ---- */

static double prev_cpu(const struct top *t, const char *name, double *at)
{
    for (size_t i = 0; i < t->nprev; i++)
        if (!strcmp(t->prev[i].name, name)) {
            *at = t->prev[i].at;
            return t->prev[i].cpu;
        }
    return -1;
}

/* Take a new array of statuses: CPU % against the previous one. */
static void take_statuses(struct top *t, json_t *statuses)
{
    double now = now_mono();
    size_t n = json_array_size(statuses);
    free(t->pct);
    t->pct = xcalloc(n ? n : 1, sizeof *t->pct);
    struct sample *next = xcalloc(n ? n : 1, sizeof *next);
    for (size_t i = 0; i < n; i++) {
        const json_t *st = json_array_get(statuses, i);
        const char *name = field(st, "name");
        double cpu = number(st, "cpu", -1), at = 0, before = prev_cpu(t, name, &at);
        t->pct[i] = cpu >= 0 && before >= 0 && now > at && cpu >= before
                        ? (cpu - before) / (now - at) * 100
                        : -1;
        next[i] = (struct sample){xstrdup(name), cpu, now};
    }
    for (size_t i = 0; i < t->nprev; i++)
        free(t->prev[i].name);
    free(t->prev);
    t->prev = next;
    t->nprev = n;
    json_decref(t->statuses);
    t->statuses = json_incref(statuses);
}

static void quit(struct top *t, int rc, const char *why)
{
    t->rc = rc;
    t->why = why;
    ev_break(t->loop, EVBREAK_ALL);
}

static void request(struct top *t)
{
    if (t->in_flight)
        return;
    json_t *req = json_pack("{s:s}", "cmd", "status");
    bool ok = link_send(&t->link, req);
    json_decref(req);
    if (!ok)
        quit(t, 1, "tend closed the connection");
    t->in_flight = true;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    request(container_of(w, struct top, tick));
}

static void sock_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct top *t = container_of(w, struct top, sock_w);
    if (link_fill(&t->link, false) < 0) {
        quit(t, 1, "tend closed the connection");
        return;
    }
    size_t n;
    char *line;
    while ((line = link_take(&t->link, &n))) {
        json_t *msg = link_parse(&t->link, line, n);
        if (!msg) {
            quit(t, 1, "a malformed answer from tend");
            return;
        }
        t->in_flight = false;
        json_t *result = json_object_get(msg, "result");
        if (json_is_true(json_object_get(msg, "ok")) && json_is_array(result)) {
            take_statuses(t, result);
            draw(t);
        }
        json_decref(msg);
    }
}

static void key_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct top *t = container_of(w, struct top, in_w);
    char keys[64];
    ssize_t n = read(STDIN_FILENO, keys, sizeof keys);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        quit(t, 0, NULL);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        switch (keys[i]) {
        case 'q':
        case 'Q':
            quit(t, 0, NULL);
            return;
        case 'n':
            t->sort = SORT_NAME;
            break;
        case 'c':
            t->sort = SORT_CPU;
            break;
        case 'm':
            t->sort = SORT_MEM;
            break;
        default:
            continue;
        }
        if (t->statuses)
            draw(t);
    }
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct top *t = w->data;
    if (w->signum == SIGWINCH) {
        if (t->statuses)
            draw(t);
        return;
    }
    quit(t, 0, NULL);
}

int top_run(const char *path)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "tend top: a live view needs a terminal on stdin and stdout "
                        "(tend status prints the table once)\n");
        return 2;
    }
    struct top t = {.rc = 0};
    int rc = link_open(&t.link, path);
    if (rc)
        return rc;
    t.loop = ev_loop_new(EVFLAG_AUTO);
    if (!t.loop || !term_enter()) {
        fprintf(stderr, "tend top: cannot set the terminal up: %s\n", strerror(errno));
        link_close(&t.link);
        return 1;
    }
    ev_io_init(&t.in_w, key_cb, STDIN_FILENO, EV_READ);
    ev_io_start(t.loop, &t.in_w);
    ev_io_init(&t.sock_w, sock_cb, t.link.fd, EV_READ);
    ev_io_start(t.loop, &t.sock_w);
    ev_timer_init(&t.tick, tick_cb, 0., REFRESH);
    ev_timer_start(t.loop, &t.tick);
    static const int sigs[4] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH};
    for (int i = 0; i < 4; i++) {
        ev_signal_init(&t.sig_w[i], signal_cb, sigs[i]);
        t.sig_w[i].data = &t;
        ev_signal_start(t.loop, &t.sig_w[i]);
    }
    ev_run(t.loop, 0);
    term_restore();
    if (t.why)
        fprintf(stderr, "tend top: %s\n", t.why);
    ev_loop_destroy(t.loop);
    link_close(&t.link);
    json_decref(t.statuses);
    free(t.pct);
    for (size_t i = 0; i < t.nprev; i++)
        free(t.prev[i].name);
    free(t.prev);
    return t.rc;
}
