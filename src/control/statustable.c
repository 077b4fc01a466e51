/* statustable.c -- the table of `tend status`.  Each row says where a proc
 * is and why, in the words an operator of systemd or supervisord would
 * use: what it waits for, who stopped it, how a stop ended, how its health
 * check is doing.  Red is kept for what went wrong. */
#include "control/statustable.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { C_NAME, C_STATE, C_PID, C_CPU, C_MEM, C_UPTIME, C_RESTARTS, C_INFO, NCOLS };

static const char *const heads[NCOLS] = {"NAME", "STATE",    "PID",     "CPU%",
                                         "MEM",  "UPTIME",   "RESTARTS", "INFO"};
/* numbers line up on the right, as in ps */
static const bool right[NCOLS] = {[C_PID] = true, [C_CPU] = true, [C_MEM] = true,
                                  [C_RESTARTS] = true};

/* Bytes a cell keeps at most (cut at a character's start). */
#define CELL_MAX 1024

/* ---- display width ---- */

/* The code point of the valid UTF-8 character of `len` bytes at s. */
static unsigned decode(const unsigned char *s, size_t len)
{
    static const unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    unsigned c = s[0] & lead_mask[len];
    for (size_t i = 1; i < len; i++)
        c = c << 6 | (s[i] & 0x3f);
    return c;
}

/* Columns a code point takes: 0 for combining marks and zero-width
 * characters, 2 for East Asian wide and fullwidth forms and emoji, else 1.
 * The ranges are the common blocks, not the whole of Unicode's tables:
 * enough to keep the columns of a table straight. */
static int cp_width(unsigned c)
{
    static const unsigned zero[][2] = {
        {0x0300, 0x036f}, {0x0483, 0x0489}, {0x0591, 0x05bd}, {0x0610, 0x061a},
        {0x064b, 0x065f}, {0x0e31, 0x0e31}, {0x0e34, 0x0e3a}, {0x1ab0, 0x1aff},
        {0x1dc0, 0x1dff}, {0x200b, 0x200f}, {0x202a, 0x202e}, {0x2060, 0x2064},
        {0x20d0, 0x20ff}, {0xfe00, 0xfe0f}, {0xfe20, 0xfe2f}, {0xfeff, 0xfeff},
        {0xe0100, 0xe01ef},
    };
    static const unsigned wide[][2] = {
        {0x1100, 0x115f},  {0x231a, 0x231b},  {0x2329, 0x232a},  {0x23e9, 0x23ec},
        {0x25fd, 0x25fe},  {0x2614, 0x2615},  {0x2648, 0x2653},  {0x26a1, 0x26a1},
        {0x26aa, 0x26ab},  {0x26bd, 0x26be},  {0x26c4, 0x26c5},  {0x26d4, 0x26d4},
        {0x26ea, 0x26ea},  {0x26f2, 0x26f5},  {0x26fa, 0x26fd},  {0x2705, 0x2705},
        {0x270a, 0x270b},  {0x2728, 0x2728},  {0x274c, 0x274c},  {0x2753, 0x2757},
        {0x2795, 0x2797},  {0x27b0, 0x27bf},  {0x2b1b, 0x2b1c},  {0x2b50, 0x2b55},
        {0x2e80, 0x303e},  {0x3041, 0x33ff},  {0x3400, 0x4dbf},  {0x4e00, 0x9fff},
        {0xa000, 0xa4cf},  {0xa960, 0xa97f},  {0xac00, 0xd7a3},  {0xf900, 0xfaff},
        {0xfe10, 0xfe19},  {0xfe30, 0xfe6f},  {0xff00, 0xff60},  {0xffe0, 0xffe6},
        {0x16fe0, 0x18aff}, {0x1b000, 0x1b2ff}, {0x1f004, 0x1f004}, {0x1f0cf, 0x1f0cf},
        {0x1f18e, 0x1f18e}, {0x1f191, 0x1f19a}, {0x1f200, 0x1f2ff}, {0x1f300, 0x1f64f},
        {0x1f680, 0x1f6ff}, {0x1f7e0, 0x1f7eb}, {0x1f900, 0x1f9ff}, {0x1fa70, 0x1faff},
        {0x20000, 0x2fffd}, {0x30000, 0x3fffd},
    };
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        if (c >= zero[i][0] && c <= zero[i][1])
            return 0;
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
        if (c >= wide[i][0] && c <= wide[i][1])
            return 2;
    return 1;
}

/* The bytes of the first character at s (an invalid byte is one) and, in
 * *w, its columns. */
static size_t next_char(const char *s, size_t n, int *w)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t bad, len = u[0] < 0x80 ? 1 : utf8_char(u, n, &bad);
    if (len == 0) {
        *w = 1;
        return 1;
    }
    *w = len == 1 ? 1 : cp_width(decode(u, len));
    return len;
}

size_t statustable_text_width(const char *s)
{
    size_t width = 0, n = strlen(s);
    for (size_t i = 0; i < n;) {
        int w;
        i += next_char(s + i, n - i, &w);
        width += (size_t)w;
    }
    return width;
}

/* The bytes of the longest start of s that fits in `cols` columns. */
static size_t fit(const char *s, size_t cols)
{
    size_t n = strlen(s), i = 0, used = 0;
    while (i < n) {
        int w;
        size_t len = next_char(s + i, n - i, &w);
        if (used + (size_t)w > cols)
            break;
        used += (size_t)w;
        i += len;
    }
    /* and the zero-width marks that belong to the last character */
    while (i < n) {
        int w;
        size_t len = next_char(s + i, n - i, &w);
        if (w != 0)
            break;
        i += len;
    }
    return i;
}

/* ---- cells ---- */

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static bool has(const json_t *o, const char *key)
{
    return json_object_get(o, key) != NULL;
}

static bool is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* A cell holding `s` as one line: no control character reaches the
 * terminal as it is (a child's STATUS= text or reason could otherwise
 * move the cursor or retitle the window): newlines and tabs become
 * spaces, other control bytes \xNN.  Cut at CELL_MAX bytes, never inside
 * a character. */
static char *cell_of(const char *s)
{
    struct buf b = {0};
    size_t n = strlen(s);
    for (size_t i = 0; i < n && b.len < CELL_MAX;) {
        unsigned char c = (unsigned char)s[i];
        int w;
        size_t len = next_char(s + i, n - i, &w);
        if (c == '\n' || c == '\t' || c == '\r')
            buf_put(&b, " ", 1);
        else if (c < 0x20 || c == 0x7f)
            buf_printf(&b, "\\x%02x", c);
        else
            buf_put(&b, s + i, len);
        i += len;
    }
    buf_put(&b, "", 1);
    return b.p;
}

/* "0:01:02", "3d 4:05:06". */
void statustable_duration(double s, char *buf, size_t n)
{
    long t = s > 0 ? (long)s : 0;
    long d = t / 86400, h = t / 3600 % 24, m = t / 60 % 60, sec = t % 60;
    if (d)
        snprintf(buf, n, "%ldd %ld:%02ld:%02ld", d, h, m, sec);
    else
        snprintf(buf, n, "%ld:%02ld:%02ld", h, m, sec);
}

/* "1.5s", "12s", "5m", "3h", "2d". */
static void fmt_short(double s, char *buf, size_t n)
{
    if (s < 0)
        s = 0;
    if (s < 10)
        snprintf(buf, n, "%.1fs", s);
    else if (s < 120)
        snprintf(buf, n, "%.0fs", s);
    else if (s < 7200)
        snprintf(buf, n, "%.0fm", s / 60);
    else if (s < 172800)
        snprintf(buf, n, "%.0fh", s / 3600);
    else
        snprintf(buf, n, "%.0fd", s / 86400);
}

/* A number of seconds as a declaration would give it: "10s", "0.3s". */
static void fmt_timeout(double s, char *buf, size_t n)
{
    snprintf(buf, n, "%.3gs", s);
}

/* Resident bytes as ps and top print them: "812K", "12.3M", "1.5G". */
void statustable_bytes(double v, char *buf, size_t n)
{
    static const char units[] = "KMGT";
    v /= 1024;
    int u = 0;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    if (v < 10 && u > 0)
        snprintf(buf, n, "%.1f%c", v, units[u]);
    else
        snprintf(buf, n, "%.0f%c", v, units[u]);
}

/* What ended (or is ending) an incarnation, in words; NULL for "exit"
 * (the program ended by itself: its exit code says the rest). */
static const char *cause_words(const char *cause)
{
    static const char *const words[][2] = {
        {"stop", "by tend stop"},
        {"restart", "by tend restart"},
        {"kill", "by tend kill"},
        {"terminate", "terminated by the policy"},
        {"signal", "by tend signal"},
        {"reload", "by a reload"},
        {"group", "by its group"},
        {"shutdown", "by the shutdown"},
        {"ready_timeout", "not ready within ready_timeout"},
        {"watchdog", "watchdog ping missed"},
        {"health", "health check failed"},
        {"oom", "out of memory (OOM killer)"},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (is(cause, words[i][0]))
            return words[i][1];
    return NULL;
}

/* Whether an end with this cause was asked for (an operator, the policy,
 * a reload, the shutdown) rather than something going wrong. */
static bool deliberate(const char *cause)
{
    static const char *const asked[] = {"stop",   "restart", "kill",  "terminate",
                                        "signal", "reload",  "group", "shutdown"};
    for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++)
        if (is(cause, asked[i]))
            return true;
    return false;
}

/* Whether the row of `st` tells of something that went wrong: a crash, a
 * failure, a give-up, a check that ended it, a dependency that did. */
static bool went_wrong(const json_t *st)
{
    const char *state = str(st, "state"), *cause = str(st, "cause");
    if (has(st, "gave_up") || is(state, "failed") || is(cause, "after"))
        return true;
    if (!is(state, "stopped") && !is(state, "killed"))
        return false;
    if (deliberate(cause))
        return false;
    if (cause_words(cause))
        return true;  /* ready_timeout, watchdog, health, oom */
    return is(state, "killed") || num(st, "exit_code") != 0;
}

/* The ANSI colour of a row's state, or NULL. */
static const char *state_colour(const json_t *st)
{
    const char *s = str(st, "state");
    if (went_wrong(st))
        return "31";  /* red */
    if (is(s, "ready") || is(s, "running"))
        return "32";  /* green */
    if (is(s, "starting") || is(s, "stopping") || json_is_true(json_object_get(st, "stop_timed_out")))
        return "33";  /* yellow: on its way, or a stop that needed SIGKILL */
    if (is(s, "pending"))
        return "2";   /* dim */
    return NULL;
}

/* The status of the proc named `name` in `all`, or NULL. */
static const json_t *find(const json_t *all, const char *name)
{
    for (size_t i = 0; i < json_array_size(all); i++)
        if (is(str(json_array_get(all, i), "name"), name))
            return json_array_get(all, i);
    return NULL;
}

const char *statustable_dep(const char *cond, char *name, size_t size)
{
    const char *sp = strrchr(cond, ' ');
    if (!sp || !is(sp + 1, "ready") || (size_t)(sp - cond) >= size)
        return NULL;
    memcpy(name, cond, (size_t)(sp - cond));
    name[sp - cond] = '\0';
    return name;
}

/* A pending proc: what it waits for, each dependency with its state
 * ("waiting for db (starting), cache (pending)"), or why it will not
 * start. */
static void why_pending(struct buf *b, const json_t *st, const json_t *all)
{
    const json_t *wf = json_object_get(st, "waiting_for");
    if (is(str(st, "cause"), "after")) {
        buf_printf(b, "not started: needs ");
        for (size_t i = 0; i < json_array_size(wf); i++)
            buf_printf(b, "%s%s", i ? ", " : "", json_string_value(json_array_get(wf, i)));
        return;
    }
    if (json_array_size(wf) == 0) {
        buf_printf(b, "%s", is(str(st, "want"), "down") ? "not started" : "-");
        return;
    }
    buf_printf(b, "waiting for ");
    for (size_t i = 0; i < json_array_size(wf); i++) {
        const char *cond = json_string_value(json_array_get(wf, i));
        cond = cond ? cond : "";
        /* "db ready": the dependency and where it is now */
        char name[256];
        const json_t *dep = statustable_dep(cond, name, sizeof name) ? find(all, name) : NULL;
        if (dep)
            buf_printf(b, "%s%s (%s)", i ? ", " : "", name, str(dep, "state"));
        else
            buf_printf(b, "%s%s", i ? ", " : "", cond);
    }
}

/* How the incarnation ended, by itself: "exit 3", "signal SEGV (core
 * dumped)". */
static void end_words(struct buf *b, const json_t *st)
{
    if (is(str(st, "state"), "stopped"))
        buf_printf(b, "exit %lld", (long long)json_integer_value(json_object_get(st, "exit_code")));
    else
        buf_printf(b, "signal %s%s", str(st, "signal"),
                json_is_true(json_object_get(st, "core_dumped")) ? " (core dumped)" : "");
}

/* A terminal status: why it ended, when, and what comes next. */
static void why_ended(struct buf *b, const json_t *st, double now)
{
    const char *state = str(st, "state"), *cause = str(st, "cause");
    const char *words = cause_words(cause);
    char d[32];
    if (is(state, "failed")) {
        buf_printf(b, "%s", str(st, "reason"));
    } else if (json_is_true(json_object_get(st, "stop_timed_out"))) {
        fmt_timeout(num(st, "stop_timeout"), d, sizeof d);
        buf_printf(b, "SIGKILL after stop_timeout %s", d);
        if (words)
            buf_printf(b, " (%s)", words);
    } else if (!words) {
        end_words(b, st);
    } else {
        buf_printf(b, "%s", words);
        /* a signal sent, or a check that ended it: how the program went */
        if (!deliberate(cause) || is(cause, "signal")) {
            buf_printf(b, " (");
            end_words(b, st);
            buf_printf(b, ")");
        }
    }
    if (has(st, "ended_at")) {
        fmt_short(now - num(st, "ended_at"), d, sizeof d);
        buf_printf(b, ", %s ago", d);
    }
    if (has(st, "restart_at")) {
        fmt_short(num(st, "restart_at") - now, d, sizeof d);
        buf_printf(b, "; restart in %s", d);
    } else if (has(st, "gave_up")) {
        buf_printf(b, "; gave up: %s", str(st, "gave_up"));
    }
}

/* A live incarnation: its health and its STATUS= text. */
static void why_live(struct buf *b, const json_t *st)
{
    const char *health = str(st, "health");
    size_t start = b->len;
    if (is(health, "healthy")) {
        buf_printf(b, "healthy");
    } else if (is(health, "unknown")) {
        buf_printf(b, "health: not checked yet");
    } else if (is(health, "unhealthy")) {
        buf_printf(b, "health: failing");
        if (has(st, "health_failures"))
            buf_printf(b, " %lld/%lld",
                    (long long)json_integer_value(json_object_get(st, "health_failures")),
                    (long long)json_integer_value(json_object_get(st, "health_failures_limit")));
        if (has(st, "health_failure"))
            buf_printf(b, " (%s)", str(st, "health_failure"));
    }
    if (has(st, "status_text"))
        buf_printf(b, "%s%s", b->len > start ? "; " : "", str(st, "status_text"));
}

/* The INFO cell: where the proc is and why, in words. */
char *statustable_info(const json_t *st, const json_t *all, double now)
{
    struct buf b = {0};
    const char *state = str(st, "state");
    if (is(state, "pending")) {
        why_pending(&b, st, all);
    } else if (is(state, "stopping")) {
        const char *words = cause_words(str(st, "cause"));
        char d[32];
        fmt_short(num(st, "deadline") - now, d, sizeof d);
        buf_printf(&b, "%s%sSIGKILL in %s", words ? words : "", words ? "; " : "", d);
    } else if (is(state, "stopped") || is(state, "killed") || is(state, "failed")) {
        why_ended(&b, st, now);
    } else {
        why_live(&b, st);
    }
    if (b.len == 0)
        buf_printf(&b, "-");
    buf_put(&b, "", 1);
    char *cell = cell_of(b.p);
    free(b.p);
    return cell;
}

/* The state a row shows: the status's own, except that an incarnation
 * that a stop asked for ended by its stop signal shows as `stopped`, as
 * systemd and supervisord show it (the JSON keeps `killed` and the
 * signal); a stop that needed SIGKILL stays `killed`. */
static const char *shown_state(const json_t *st)
{
    const char *state = str(st, "state"), *cause = str(st, "cause");
    if (is(state, "killed") && deliberate(cause) && !is(cause, "kill") &&
        !is(cause, "signal") && !json_is_true(json_object_get(st, "stop_timed_out")))
        return "stopped";
    return state;
}

/* The cells of one status row. */
static void row_cells(const json_t *st, const json_t *all, double now, char *cells[NCOLS])
{
    char text[64];
    const char *state = str(st, "state");
    bool alive = is(state, "starting") || is(state, "running") || is(state, "ready") ||
                 is(state, "stopping");
    cells[C_NAME] = cell_of(str(st, "name"));
    cells[C_STATE] = cell_of(shown_state(st));
    if (has(st, "pid"))
        snprintf(text, sizeof text, "%lld",
                 (long long)json_integer_value(json_object_get(st, "pid")));
    else
        strcpy(text, "-");
    cells[C_PID] = xstrdup(text);

    double since = alive && has(st, "started_at") ? num(st, "started_at")
                 : alive && has(st, "since")      ? num(st, "since") : 0;
    /* CPU% over the incarnation's life so far, as ps counts it */
    if (has(st, "cpu") && since > 0 && now - since > 0.001)
        snprintf(text, sizeof text, "%.1f", num(st, "cpu") / (now - since) * 100);
    else
        strcpy(text, "-");
    cells[C_CPU] = xstrdup(text);
    if (has(st, "memory"))
        statustable_bytes(num(st, "memory"), text, sizeof text);
    else
        strcpy(text, "-");
    cells[C_MEM] = xstrdup(text);
    if (since > 0)
        statustable_duration(now - since, text, sizeof text);
    else
        strcpy(text, "-");
    cells[C_UPTIME] = xstrdup(text);
    snprintf(text, sizeof text, "%lld",
             (long long)json_integer_value(json_object_get(st, "restarts")));
    cells[C_RESTARTS] = xstrdup(text);
    cells[C_INFO] = statustable_info(st, all, now);
}
/* Append `n` spaces. */
static void pad(struct buf *out, size_t n)
{
    while (n-- > 0)
        buf_put(out, " ", 1);
}

/* A cell, its state colour around it when it has one. */
static void put_text(struct buf *out, const char *cell, size_t len, const char *colour)
{
    if (colour)
        buf_printf(out, "\033[%sm%.*s\033[0m", colour, (int)len, cell);
    else
        buf_put(out, cell, len);
}

/* One line of the table: the cells padded to their columns' widths, and
 * nothing beyond `limit` columns (0: no limit).  A row too long loses the
 * end of its last column ("..."), or when even the columns before it do
 * not fit, what is past the limit (as ps cuts its lines). */
static void put_line(struct buf *out, char *const cells[NCOLS], const size_t width[NCOLS],
                     const char *colour, size_t limit)
{
    static const char more[] = "...";
    size_t used = 0;
    for (int c = 0; c < NCOLS; c++) {
        const char *cell = cells[c], *col_colour = c == C_STATE ? colour : NULL;
        size_t w = statustable_text_width(cell);
        size_t lead = right[c] && width[c] > w ? width[c] - w : 0;
        size_t left = limit ? limit - used : SIZE_MAX;
        if (lead + w > left) {  /* the end of the line: cut this cell */
            size_t room = left > lead ? left - lead : 0;
            bool dots = c == NCOLS - 1 && room >= 8;
            pad(out, lead < left ? lead : left);
            put_text(out, cell, fit(cell, dots ? room - (sizeof more - 1) : room), col_colour);
            if (dots)
                buf_put(out, more, sizeof more - 1);
            break;
        }
        pad(out, lead);
        put_text(out, cell, strlen(cell), col_colour);
        used += lead + w;
        if (c == NCOLS - 1)
            break;
        size_t gap = (right[c] || width[c] < w ? 0 : width[c] - w) + 2;
        if (limit && used + gap >= limit)
            break;  /* nothing more would fit */
        pad(out, gap);
        used += gap;
    }
    buf_put(out, "\n", 1);
}

void statustable_render(struct buf *out, const json_t *list, const struct statustable_opts *o)
{
    size_t n = json_is_array(list) ? json_array_size(list) : 0, width[NCOLS];
    const json_t *all = o->all ? o->all : list;
    char *(*rows)[NCOLS] = xcalloc(n ? n : 1, sizeof *rows);
    const char **colours = xcalloc(n ? n : 1, sizeof *colours);
    for (size_t i = 0; i < n; i++) {
        const json_t *st = json_array_get(list, i);
        row_cells(st, all, o->now, rows[i]);
        colours[i] = o->colour ? state_colour(st) : NULL;
    }
    for (int c = 0; c < NCOLS; c++) {
        width[c] = strlen(heads[c]);
        for (size_t i = 0; i < n; i++) {
            size_t w = statustable_text_width(rows[i][c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    put_line(out, (char *const *)heads, width, NULL, o->width);
    for (size_t i = 0; i < n; i++)
        put_line(out, rows[i], width, colours[i], o->width);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < NCOLS; c++)
            free(rows[i][c]);
    free(rows);
    free(colours);
}
