/* client.c -- the client commands: a request to the control socket, the
 * answer printed for a person (or as JSON). */
#include "control/client.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/cli.h"
#include "control/ctl.h"
#include "base/util.h"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = CLI_EXIT_USAGE, EXIT_UNREACHABLE = 3 };

/* A command line, as read. */
struct args {
    struct cli cli;       /* the words, as cli.c read them */
    const char *cmd;
    const char *socket;
    char **names;
    size_t nnames;
    const char *signal;   /* signal */
    bool json;            /* status --json */
    double timeout;       /* stop, wait; < 0: none */
    bool ready, exit;     /* wait */
    long lines;           /* logs -n; < 0: the default */
    const char *stream;   /* logs --stream */
    bool follow;          /* logs -f */
    bool times;           /* logs -t */
};

bool client_is_command(const char *cmd)
{
    return strcmp(cmd, "run") != 0 && cli_is_command(cmd);
}

/* Seconds from `s`; false unless a finite number >= 0. */
static bool parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

/* Read the command line into `a` (cli.c knows which command takes which
 * option); 0, -1 after --help, or the exit code of a misuse. */
static int parse_args(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof *a);
    int rc = cli_parse(argc, argv, &a->cli);
    if (rc != 0)
        return rc;
    const char *cmd = a->cmd = a->cli.cmd;
    a->timeout = -1;
    a->lines = -1;
    for (size_t i = 0; i < a->cli.nopts; i++) {
        const char *v = a->cli.opts[i].value;
        switch (a->cli.opts[i].id) {
        case CLI_SOCKET:
            a->socket = v;
            break;
        case CLI_JSON:
            a->json = true;
            break;
        case CLI_TIMEOUT:
            if (!parse_seconds(v, &a->timeout))
                return cli_misuse(cmd, "--timeout %s: a number of seconds (0 or more) expected", v);
            break;
        case CLI_READY:
            a->ready = true;
            break;
        case CLI_EXIT:
            a->exit = true;
            break;
        case CLI_FOLLOW:
            a->follow = true;
            break;
        case CLI_LINE_TIMES:
            a->times = true;
            break;
        case CLI_LINES: {
            char *end;
            errno = 0;
            long n = strtol(v, &end, 10);
            if (!*v || *end || errno || n < 0)
                return cli_misuse(cmd, "-n %s: a number of lines (0 or more) expected", v);
            a->lines = n;
            break;
        }
        case CLI_STREAM:
            if (strcmp(v, "stdout") != 0 && strcmp(v, "stderr") != 0)
                return cli_misuse(cmd, "--stream %s: stdout or stderr expected", v);
            a->stream = v;
            break;
        }
    }
    a->names = a->cli.args;
    a->nnames = a->cli.nargs;
    if (strcmp(cmd, "signal") == 0) {
        if (a->nnames == 0)
            return cli_misuse(cmd, "which signal?");
        a->signal = a->names[0];
        a->names++;
        a->nnames--;
        if (signal_from_name(a->signal) < 0)
            return cli_misuse(cmd, "unknown signal %s", a->signal);
    }
    bool none = strcmp(cmd, "reload") == 0 || strcmp(cmd, "shutdown") == 0;
    if (none && a->nnames)
        return cli_misuse(cmd, "takes no proc names (got %s)", a->names[0]);
    if (!none && strcmp(cmd, "status") != 0 && strcmp(cmd, "logs") != 0 && a->nnames == 0)
        return cli_misuse(cmd, "which proc?");
    if (a->ready && a->exit)
        return cli_misuse(cmd, "--ready or --exit, not both");
    return 0;
}

/* The request for the command line. */
static json_t *build_request(const struct args *a)
{
    json_t *req = json_object();
    json_object_set_new(req, "cmd", json_string(a->cmd));
    if (a->nnames) {
        json_t *names = json_array();
        for (size_t i = 0; i < a->nnames; i++)
            json_array_append_new(names, json_string(a->names[i]));
        json_object_set_new(req, "names", names);
    }
    if (a->signal)
        json_object_set_new(req, "signal", json_string(a->signal));
    if (a->timeout >= 0)
        json_object_set_new(req, "timeout", json_real(a->timeout));
    if (a->exit)
        json_object_set_new(req, "exit", json_true());
    if (a->lines >= 0)
        json_object_set_new(req, "lines", json_integer(a->lines));
    if (a->stream)
        json_object_set_new(req, "stream", json_string(a->stream));
    if (a->follow)
        json_object_set_new(req, "follow", json_true());
    return req;
}

/* ---- the connection ---- */

struct link {
    int fd;
    const char *path;
    char *buf;      /* buf[start..len) is what was read and not yet taken */
    size_t start, len, cap;
    size_t scanned; /* buf[start..scanned) holds no newline */
};

/* Connect to the socket; 0, or exit code 3 after saying why. */
static int link_open(struct link *l, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    l->path = path;
    l->buf = NULL;
    l->start = l->len = l->cap = l->scanned = 0;
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "tend: cannot reach tend at %s: the path is too long\n", path);
        return EXIT_UNREACHABLE;
    }
    strcpy(sa.sun_path, path);
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->fd < 0 || connect(l->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        fprintf(stderr, "tend: cannot reach tend at %s: %s%s\n", path, strerror(e),
                e == ENOENT || e == ECONNREFUSED
                    ? " (is it running? --socket PATH or $TEND_SOCKET choose the socket)"
                    : "");
        if (l->fd >= 0)
            close(l->fd);
        return EXIT_UNREACHABLE;
    }
    return 0;
}

static bool link_send(struct link *l, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    size_t n = strlen(s), off = 0;
    bool ok = true;
    while (ok && off <= n) {
        /* the request, then its newline */
        const char *p = off < n ? s + off : "\n";
        size_t k = off < n ? n - off : 1;
        ssize_t w = send(l->fd, p, k, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            ok = false;
        else
            off += (size_t)w;
    }
    free(s);
    return ok;
}

/* The next line, without its newline: *n bytes at the pointer returned,
 * which stays valid until the next call.  NULL at the end of the
 * connection. */
static char *link_line(struct link *l, size_t *n)
{
    for (;;) {
        char *nl = l->len > l->scanned ? memchr(l->buf + l->scanned, '\n', l->len - l->scanned)
                                       : NULL;
        if (nl) {
            char *line = l->buf + l->start;
            *n = (size_t)(nl - line);
            l->start = l->scanned = (size_t)(nl + 1 - l->buf);
            return line;
        }
        l->scanned = l->len;
        if (l->start > 0) {  /* the lines taken make room */
            memmove(l->buf, l->buf + l->start, l->len - l->start);
            l->len -= l->start;
            l->scanned -= l->start;
            l->start = 0;
        }
        if (l->cap - l->len < 65536) {
            l->cap = l->cap ? l->cap * 2 : 65536;
            l->buf = xrealloc(l->buf, l->cap);
        }
        ssize_t r = read(l->fd, l->buf + l->len, l->cap - l->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return NULL;
        l->len += (size_t)r;
    }
}

/* A line as a message; NULL, with a message, when it is not JSON. */
static json_t *link_parse(const struct link *l, const char *line, size_t n)
{
    json_error_t err;
    json_t *msg = json_loadb(line, n, 0, &err);
    if (!msg)
        fprintf(stderr, "tend: a malformed answer from %s: %s\n", l->path, err.text);
    return msg;
}

/* The next message, NULL at the end of the connection.  A line that is
 * not JSON ends it too, with a message. */
static json_t *link_next(struct link *l)
{
    size_t n;
    char *line = link_line(l, &n);
    return line ? link_parse(l, line, n) : NULL;
}

static void link_close(struct link *l)
{
    close(l->fd);
    free(l->buf);
}

/* ---- printing ---- */

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* "0:01:02", "3d 4:05:06". */
static void fmt_duration(double s, char *buf, size_t n)
{
    long t = s > 0 ? (long)s : 0;
    long d = t / 86400, h = t / 3600 % 24, m = t / 60 % 60, sec = t % 60;
    if (d)
        snprintf(buf, n, "%ldd %ld:%02ld:%02ld", d, h, m, sec);
    else
        snprintf(buf, n, "%ld:%02ld:%02ld", h, m, sec);
}

/* "12s", "5m", "3h", "2d". */
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

/* One line a proc after start, stop, restart, kill and signal. */
static void print_outcome(const struct args *a, const json_t *list)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *st = json_array_get(list, i);
        const char *state = str(st, "state");
        printf("%s: %s", str(st, "name"), state);
        if (json_object_get(st, "pid"))
            printf(" (pid %lld)", (long long)json_integer_value(json_object_get(st, "pid")));
        else if (!strcmp(state, "stopped"))
            printf(" (exit code %lld)",
                   (long long)json_integer_value(json_object_get(st, "exit_code")));
        else if (!strcmp(state, "killed"))
            printf(" (signal %s)", str(st, "signal"));
        else if (!strcmp(state, "failed"))
            printf(" (%s)", str(st, "reason"));
        if (json_object_get(st, "restart_at"))
            printf("; restarting in %.2gs", num(st, "restart_at") - now_mono());
        if (!strcmp(a->cmd, "signal"))
            printf("; sent SIG%s", signal_name(signal_from_name(a->signal)));
        printf("\n");
    }
}

/* `text` on `out`.  On a terminal, a control character (but tab) is
 * shown as \xNN: a child's output must not drive the operator's terminal
 * (\e]0;...\a retitles it, \e[2J clears it).  Into a pipe or a file, the
 * bytes as the child wrote them. */
static void print_text(FILE *out, bool tty, const char *text)
{
    if (!tty) {
        fputs(text, out);
        return;
    }
    for (const unsigned char *u = (const unsigned char *)text; *u; u++) {
        if ((*u < 0x20 && *u != '\t') || *u == 0x7f)
            fprintf(out, "\\x%02x", *u);
        else
            fputc(*u, out);
    }
}

/* A line of `tend logs`: with --json one object on stdout; else
 * [TIME ][NAME | ]text on the stream it came from, the other stream
 * flushed first so that the two keep their order where they meet. */
static void print_line(const struct args *a, const json_t *line)
{
    static int tty[2] = {-1, -1};
    static FILE *last;
    if (a->json) {
        json_t *o = json_object();
        json_object_set(o, "name", json_object_get(line, "name"));
        json_object_set(o, "proc", json_object_get(line, "name"));
        json_object_set(o, "stream", json_object_get(line, "stream"));
        json_object_set(o, "time", json_object_get(line, "time"));
        json_object_set(o, "seq", json_object_get(line, "seq"));
        json_object_set(o, "line", json_object_get(line, "text"));
        json_dumpf(o, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(o);
        return;
    }
    int err = strcmp(str(line, "stream"), "stderr") == 0;
    FILE *out = err ? stderr : stdout;
    if (last && last != out)
        fflush(last);
    last = out;
    if (tty[err] < 0)
        tty[err] = isatty(err ? 2 : 1);
    if (a->times)
        fprintf(out, "%s ", str(line, "time"));
    if (a->nnames != 1) {  /* lines of several procs say whose they are */
        print_text(out, tty[err], str(line, "name"));
        fputs(" | ", out);
    }
    print_text(out, tty[err], str(line, "text"));
    fputc('\n', out);
}

/* ---- the table ---- */

/* `n` spaces. */
static void ob_pad(struct buf *b, size_t n)
{
    while (n-- > 0)
        buf_put(b, " ", 1);
}

/* Copy `s` into a cell (cut to CELL - 1 bytes): one line whatever it holds,
 * and no control character reaches the terminal as it is (a child's
 * STATUS= text or reason could otherwise move the cursor or retitle the
 * window): newlines and tabs become spaces, other control bytes \xNN. */
static void cell_text(char *cell, size_t size, const char *s)
{
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && k + 5 < size; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r')
            cell[k++] = ' ';
        else if (*p < 0x20 || *p == 0x7f)
            k += (size_t)snprintf(cell + k, size - k, "\\x%02x", *p);
        else
            cell[k++] = (char)*p;
    }
    cell[k] = '\0';
}

/* The ANSI colour of a state, or NULL. */
static const char *state_colour(const char *s, const json_t *st)
{
    if (!strcmp(s, "ready") || !strcmp(s, "running"))
        return "32";  /* green */
    if (!strcmp(s, "starting") || !strcmp(s, "stopping"))
        return "33";  /* yellow */
    if (!strcmp(s, "killed") || !strcmp(s, "failed") ||
        (!strcmp(s, "stopped") && num(st, "exit_code") != 0))
        return "31";  /* red */
    if (!strcmp(s, "pending"))
        return "2";   /* dim */
    return NULL;
}

static bool use_colour(void)
{
    const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
    return isatty(1) && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);
}

enum { C_NAME, C_STATE, C_PID, C_UPTIME, C_RESTARTS, C_INFO, C_NEXT, NCOLS };

#define CELL 256  /* bytes a cell holds, its NUL included */

/* The cells of one status row; its colour in *colour. */
static void status_row(const json_t *st, double now, char cells[NCOLS][CELL],
                       const char **colour)
{
    char text[CELL];
    const char *state = str(st, "state");
    *colour = state_colour(state, st);
    bool alive = !strcmp(state, "starting") || !strcmp(state, "running") ||
                 !strcmp(state, "ready") || !strcmp(state, "stopping");
    cell_text(cells[C_NAME], CELL, str(st, "name"));
    cell_text(cells[C_STATE], CELL, state);
    if (json_object_get(st, "pid"))
        snprintf(cells[C_PID], CELL, "%lld", (long long)json_integer_value(json_object_get(st, "pid")));
    else
        strcpy(cells[C_PID], "-");
    if (alive && json_object_get(st, "started_at"))
        fmt_duration(now - num(st, "started_at"), cells[C_UPTIME], CELL);
    else if (alive && json_object_get(st, "since"))
        fmt_duration(now - num(st, "since"), cells[C_UPTIME], CELL);
    else
        strcpy(cells[C_UPTIME], "-");
    snprintf(cells[C_RESTARTS], CELL, "%lld",
             (long long)json_integer_value(json_object_get(st, "restarts")));

    char ago[32] = "";
    if (json_object_get(st, "ended_at")) {
        char d[16];
        fmt_short(now - num(st, "ended_at"), d, sizeof d);
        snprintf(ago, sizeof ago, ", %s ago", d);
    }
    bool health = json_object_get(st, "health"), status_text = json_object_get(st, "status_text");
    if (!strcmp(state, "stopped"))
        snprintf(text, sizeof text, "exit %lld%s",
                 (long long)json_integer_value(json_object_get(st, "exit_code")), ago);
    else if (!strcmp(state, "killed"))
        snprintf(text, sizeof text, "signal %s%s%s", str(st, "signal"),
                 json_is_true(json_object_get(st, "core_dumped")) ? " (core dumped)" : "", ago);
    else if (!strcmp(state, "failed"))
        snprintf(text, sizeof text, "%s", str(st, "reason"));
    else if (health || status_text)
        snprintf(text, sizeof text, "%s%s%s", str(st, "health"),
                 health && status_text ? ": " : "", str(st, "status_text"));
    else
        strcpy(text, "-");
    cell_text(cells[C_INFO], CELL, text);

    if (json_object_get(st, "restart_at")) {
        char d[16];
        fmt_short(num(st, "restart_at") - now, d, sizeof d);
        snprintf(cells[C_NEXT], CELL, "restart in %s", d);
    } else if (json_object_get(st, "gave_up")) {
        snprintf(text, sizeof text, "gave up: %s", str(st, "gave_up"));
        cell_text(cells[C_NEXT], CELL, text);
    } else if (!strcmp(state, "stopping")) {
        char d[16];
        fmt_short(num(st, "deadline") - now, d, sizeof d);
        snprintf(cells[C_NEXT], CELL, "SIGKILL in %s", d);
    } else {
        strcpy(cells[C_NEXT], "-");
    }
}

/* The table of `tend status` for a list of statuses (anything else is an
 * empty list), printed. */
static void print_table(const json_t *list)
{
    static const char *const heads[NCOLS] = {"NAME", "STATE", "PID", "UPTIME",
                                             "RESTARTS", "INFO", "NEXT"};
    size_t n = json_is_array(list) ? json_array_size(list) : 0, width[NCOLS];
    char (*rows)[NCOLS][CELL] = xcalloc(n ? n : 1, sizeof *rows);
    const char **colours = xcalloc(n ? n : 1, sizeof *colours);
    double now = now_mono();
    bool colour = use_colour();
    for (int c = 0; c < NCOLS; c++)
        width[c] = strlen(heads[c]);
    for (size_t i = 0; i < n; i++) {
        status_row(json_array_get(list, i), now, rows[i], &colours[i]);
        for (int c = 0; c < NCOLS; c++)
            if (strlen(rows[i][c]) > width[c])
                width[c] = strlen(rows[i][c]);
    }
    struct buf out = {0};
    for (int c = 0; c < NCOLS - 1; c++) {
        buf_put(&out, heads[c], strlen(heads[c]));
        ob_pad(&out, width[c] - strlen(heads[c]) + 2);
    }
    buf_put(&out, heads[NCOLS - 1], strlen(heads[NCOLS - 1]));
    buf_put(&out, "\n", 1);
    for (size_t i = 0; i < n; i++) {
        const char *col = colour ? colours[i] : NULL;
        for (int c = 0; c < NCOLS; c++) {
            const char *cell = rows[i][c];
            size_t len = strlen(cell);
            if (c == C_STATE && col) {
                buf_put(&out, "\033[", 2);
                buf_put(&out, col, strlen(col));
                buf_put(&out, "m", 1);
                buf_put(&out, cell, len);
                buf_put(&out, "\033[0m", 4);
            } else {
                buf_put(&out, cell, len);
            }
            if (c == NCOLS - 1)
                buf_put(&out, "\n", 1);
            else
                ob_pad(&out, width[c] - len + 2);
        }
    }
    fwrite(out.p, 1, out.len, stdout);
    free(out.p);
    free(rows);
    free(colours);
}

/* ---- the commands ---- */

int client_main(int argc, char **argv)
{
    struct args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0) {
        cli_free(&a.cli);
        return rc < 0 ? EXIT_OK : rc;
    }
    char *path = ctl_socket_path(a.socket);
    struct link l;
    if ((rc = link_open(&l, path))) {
        free(path);
        cli_free(&a.cli);
        return rc;
    }
    json_t *req = build_request(&a);
    /* even when the request cannot be sent, tend may have said why first
     * (a refused uid) */
    link_send(&l, req);
    json_decref(req);
    json_t *reply = link_next(&l);
    if (!reply) {
        fprintf(stderr, "tend: %s: the connection ended before an answer\n", path);
        rc = EXIT_UNREACHABLE;
        goto out;
    }
    json_t *result = json_object_get(reply, "result");
    if (!json_is_true(json_object_get(reply, "ok"))) {
        const char *err = json_string_value(json_object_get(reply, "error"));
        fprintf(stderr, "tend: %s\n", err ? err : "the supervisor refused the request");
        rc = EXIT_ERROR;
        goto out;
    }
    const char *cmd = a.cmd;
    if (strcmp(cmd, "status") == 0) {
        if (a.json) {
            json_dumpf(result, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
            fputc('\n', stdout);
        } else {
            print_table(result);
        }
    } else if (strcmp(cmd, "logs") == 0) {
        for (size_t i = 0; i < json_array_size(result); i++)
            print_line(&a, json_array_get(result, i));
        fflush(stdout);
        json_t *msg;
        while (a.follow && (msg = link_next(&l))) {
            if (json_object_get(msg, "dropped")) {
                fflush(stdout);
                fprintf(stderr, "tend: %lld lines dropped (this client fell behind)\n",
                        (long long)json_integer_value(json_object_get(msg, "dropped")));
            } else {
                print_line(&a, msg);
            }
            fflush(stdout);
            json_decref(msg);
        }
    } else if (strcmp(cmd, "shutdown") == 0) {
        /* tend closes the connection on its way out */
        json_t *msg;
        while ((msg = link_next(&l)))
            json_decref(msg);
    } else if (strcmp(cmd, "wait") != 0 && strcmp(cmd, "reload") != 0) {
        print_outcome(&a, result);
    }
    rc = EXIT_OK;
out:
    json_decref(reply);
    link_close(&l);
    free(path);
    cli_free(&a.cli);
    return rc;
}
