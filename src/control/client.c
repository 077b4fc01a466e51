/* client.c -- the client commands: a request to the control socket, the
 * answer printed for a person (or as JSON). */
#include "control/client.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/cli.h"
#include "control/ctl.h"
#include "control/link.h"
#include "control/statustable.h"
#include "control/top.h"
#include "core/spec.h"
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
    bool names_only;      /* status --names */
    double timeout;       /* stop, wait; < 0: none */
    bool ready, exit;     /* wait */
    long lines;           /* logs -n; < 0: the default */
    const char *stream;   /* logs --stream */
    bool follow;          /* logs -f */
    long count;           /* scale N; < 0: none */
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
        case CLI_NAMES:
            a->names_only = true;
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
    a->count = -1;
    if (strcmp(cmd, "scale") == 0) {
        if (a->nnames != 2)
            return cli_misuse(cmd, "NAME and N expected");
        char *end;
        errno = 0;
        long n = strtol(a->names[1], &end, 10);
        if (end == a->names[1] || *end || errno || n < 1 || n > REPLICAS_MAX)
            return cli_misuse(cmd, "%s: a number of replicas from 1 to %d expected",
                              a->names[1], REPLICAS_MAX);
        a->count = n;
        a->nnames = 1;
    }
    if (strcmp(cmd, "signal") == 0) {
        if (a->nnames == 0)
            return cli_misuse(cmd, "which signal?");
        a->signal = a->names[0];
        a->names++;
        a->nnames--;
        if (signal_from_name(a->signal) < 0)
            return cli_misuse(cmd, "unknown signal %s", a->signal);
    }
    bool none = strcmp(cmd, "reload") == 0 || strcmp(cmd, "shutdown") == 0 ||
                strcmp(cmd, "metrics") == 0 || strcmp(cmd, "top") == 0;
    if (none && a->nnames)
        return cli_misuse(cmd, "takes no proc names (got %s)", a->names[0]);
    if (!none && strcmp(cmd, "status") != 0 && strcmp(cmd, "logs") != 0 && a->nnames == 0)
        return cli_misuse(cmd, "which proc?");
    if (a->json && a->names_only)
        return cli_misuse(cmd, "--json or --names, not both");
    if (a->ready && a->exit)
        return cli_misuse(cmd, "--ready or --exit, not both");
    return 0;
}

/* The request for the command line. */
static json_t *build_request(const struct args *a)
{
    json_t *req = json_object();
    json_object_set_new(req, "cmd", json_string(a->cmd));
    if (a->count >= 0) {
        json_object_set_new(req, "name", json_string(a->names[0]));
        json_object_set_new(req, "count", json_integer(a->count));
    } else if (a->nnames) {
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

static bool use_colour(void)
{
    const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
    return isatty(1) && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);
}

/* The columns of the terminal on stdout; 0 when it is not one. */
static size_t terminal_width(void)
{
    struct winsize ws;
    if (!isatty(1) || ioctl(1, TIOCGWINSZ, &ws) != 0)
        return 0;
    return ws.ws_col;
}

/* The table of `tend status` for `list`, printed.  A row waiting for procs
 * that were not asked for looks their states up in `all` (NULL: list). */
static void print_table(const json_t *list, const json_t *all)
{
    struct statustable_opts o = {now_mono(), use_colour(), terminal_width(), all};
    struct buf out = {0};
    statustable_render(&out, list, &o);
    fwrite(out.p, 1, out.len, stdout);
    free(out.p);
}

/* Whether `list` holds `name`: a status of that proc, or the string. */
static bool holds(const json_t *list, const char *name)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *v = json_array_get(list, i);
        const char *n = json_is_string(v) ? json_string_value(v)
                                           : json_string_value(json_object_get(v, "name"));
        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

/* The named rows of `list` may wait for procs not asked for: their
 * statuses, asked on the same connection, with list's; NULL when list
 * holds every one (or tend does not answer).  The caller frees. */
static json_t *with_deps(struct link *l, const json_t *list)
{
    json_t *names = json_array();
    char name[256];
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *wf = json_object_get(json_array_get(list, i), "waiting_for");
        for (size_t k = 0; k < json_array_size(wf); k++) {
            const char *cond = json_string_value(json_array_get(wf, k));
            if (cond && statustable_dep(cond, name, sizeof name) && !holds(list, name) &&
                !holds(names, name))
                json_array_append_new(names, json_string(name));
        }
    }
    if (json_array_size(names) == 0) {
        json_decref(names);
        return NULL;
    }
    json_t *req = json_pack("{s:s,s:o}", "cmd", "status", "names", names);
    bool sent = link_send(l, req);
    json_decref(req);
    json_t *reply = sent ? link_next(l) : NULL;
    json_t *deps = json_object_get(reply, "result");
    json_t *all = NULL;
    if (json_is_array(deps)) {
        all = json_copy((json_t *)list);
        json_array_extend(all, deps);
    }
    json_decref(reply);
    return all;
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
    if (strcmp(a.cmd, "top") == 0) {  /* a loop of its own, not one request */
        rc = top_run(path);
        free(path);
        cli_free(&a.cli);
        return rc;
    }
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
        if (a.names_only) {
            for (size_t i = 0; i < json_array_size(result); i++)
                printf("%s\n", json_string_value(json_object_get(json_array_get(result, i),
                                                                 "name")));
        } else if (a.json) {
            json_dumpf(result, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
            fputc('\n', stdout);
        } else {
            /* named procs may wait for others: their states come too */
            json_t *all = a.nnames ? with_deps(&l, result) : NULL;
            print_table(result, all);
            json_decref(all);
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
    } else if (strcmp(cmd, "metrics") == 0) {
        fputs(json_string_value(result) ? json_string_value(result) : "", stdout);
    } else if (strcmp(cmd, "reload") == 0) {
        if (json_string_value(result))  /* what changed */
            printf("reloaded: %s\n", json_string_value(result));
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
