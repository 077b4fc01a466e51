/* cli.c -- the command line of every tend command: the table of the
 * commands and their options, read with getopt_long; their usage lines
 * and their --help. */
#include "control/cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* The columns --help fills. */
#define WIDTH 79

/* An option, whatever the command. */
static const struct option_def {
    int id;
    const char *name;   /* the long name, without "--" */
    const char *value;  /* its value in the usage and help; NULL: a flag */
} options[] = {
    {CLI_SOCKET, "socket", "PATH"},
    {CLI_CHECK, "check", NULL},
    {CLI_SUBREAPER, "subreaper", NULL},
    {CLI_TIMESTAMPS, "timestamps", NULL},
    {CLI_QUIET, "quiet", NULL},
    {CLI_LOG_FORMAT, "log-format", "text|json"},
    {CLI_JSON, "json", NULL},
    {CLI_TIMEOUT, "timeout", "SECONDS"},
    {CLI_READY, "ready", NULL},
    {CLI_EXIT, "exit", NULL},
    {CLI_LINES, "lines", "LINES"},
    {CLI_STREAM, "stream", "stdout|stderr"},
    {CLI_FOLLOW, "follow", NULL},
    {CLI_LINE_TIMES, "timestamps", NULL},
    {CLI_HELP, "help", NULL},
    {CLI_STAY, "stay", NULL},
    {CLI_METRICS, "metrics", "[ADDR:]PORT"},
    {CLI_NAMES, "names", NULL},
};

/* An option of a command, with what it does there. */
struct option_doc {
    int id;
    const char *help;
};

/* A command: its usage line, its options (--help is every command's and
 * not listed), and the texts of its --help and of `tend --help`. */
static const struct command {
    const char *name;
    const char *usage;
    const char *summary;  /* a line of `tend --help` */
    const char *about;    /* the paragraph of `tend CMD --help` */
    const char *exit;     /* its exit statuses, after "exit status: " */
    struct option_doc opts[10];
} commands[] = {
#define SOCKET_DEFAULT \
    "(default: $TEND_SOCKET, else $XDG_RUNTIME_DIR/tend.sock, else /tmp/tend-$UID/tend.sock)"
#define CLIENT_SOCKET {CLI_SOCKET, "the control socket of the running tend " SOCKET_DEFAULT}
#define CLIENT_EXIT                                                                 \
    "0 done, 1 an error from tend (or a wait that failed), 2 a bad command " \
    "line, 3 no tend reachable on the socket."
    {"run",
     "tend run POLICY.lua [--check] [--subreaper] [--timestamps] [--quiet] [--stay] "
     "[--log-format text|json] [--metrics [ADDR:]PORT] [--socket PATH]",
     "run a policy file in the foreground",
     "Run the policy file in the foreground: start the procs it declares in dependency "
     "order, restart them as their policy says, copy their output prefixed with their "
     "names, and stop them all, dependents first, on SIGTERM or SIGINT (a second one "
     "kills everything at once).",
     "0 when every proc ended with exit code 0 (or after a clean shutdown), "
     "1 otherwise, 2 when tend did not start (a bad command line or policy file, or the "
     "control socket is taken or cannot be made), 70 when the watchdog ended it (policy "
     "code stuck for TEND_WATCHDOG seconds, default 10).",
     {{CLI_CHECK, "load and check the policy file, print what would run, and exit"},
      {CLI_SUBREAPER, "accepted and ignored: tend is always its own subreaper"},
      {CLI_TIMESTAMPS, "put an ISO-8601 UTC time with milliseconds before each output line"},
      {CLI_QUIET, "log only warnings and errors"},
      {CLI_STAY, "stay up when the work is done, until a signal, tend shutdown or tend.exit()"},
      {CLI_LOG_FORMAT, "tend's own log lines as text (the default) or one JSON object a line"},
      {CLI_METRICS, "serve /metrics (Prometheus) and /status (JSON) over HTTP on PORT "
                    "(0: any free one), on 127.0.0.1 unless ADDR is given"},
      {CLI_SOCKET, "the control socket to serve " SOCKET_DEFAULT}}},
    {"status", "tend status [NAME...] [--json | --names] [--socket PATH]",
     "a table of the procs (--json: their statuses as JSON)",
     "A row for each proc (every proc, or the NAMEs), in declaration order: its state, "
     "pid, CPU% and memory (- where not read), uptime, restarts (every incarnation after "
     "the first) and, in words, why it is where it is: what it waits for (waiting for db "
     "(starting)), who ended it (by tend stop), how it ended (exit 3, 5s ago; SIGKILL "
     "after stop_timeout 10s), its health (health: failing 2/3) and STATUS= text, and "
     "what comes next (restart in 0.8s, gave up: ...). On a terminal the state is "
     "coloured, red only for what went wrong (not with NO_COLOR or TERM=dumb), and rows "
     "are cut to its width.",
     CLIENT_EXIT,
     {{CLI_JSON, "the statuses as a JSON array instead of the table"},
      {CLI_NAMES, "only the procs' names, one a line (for scripts and shell completion)"},
      CLIENT_SOCKET}},
    {"start", "tend start NAME... [--socket PATH]",
     "start procs; return once ready (exit 0) or ended (1)",
     "Want the procs up and start them; return once each is ready (exit 0) or has ended "
     "(exit 1). A proc already starting or running is left alone; during a shutdown this "
     "is an error.",
     CLIENT_EXIT, {CLIENT_SOCKET}},
    {"stop", "tend stop NAME... [--timeout SECONDS] [--socket PATH]",
     "want procs down and stop them (--timeout: before SIGKILL)",
     "Want the procs down (no restart) and stop them: their stop signal, then SIGKILL "
     "after their stop_timeout; return once each has ended.",
     CLIENT_EXIT,
     {{CLI_TIMEOUT, "seconds before SIGKILL, instead of the proc's stop_timeout"},
      CLIENT_SOCKET}},
    {"restart", "tend restart NAME... [--socket PATH]",
     "stop and start again; return once ready (exit 0) or ended (1)",
     "Stop the procs and start them again; return once each is ready (exit 0) or has "
     "ended (exit 1). The restart policy is not asked; the new incarnation waits for its after procs as start does.",
     CLIENT_EXIT, {CLIENT_SOCKET}},
    {"kill", "tend kill NAME... [--socket PATH]", "SIGKILL to the procs' process groups",
     "SIGKILL to each proc's process group now; return with their terminal statuses. The "
     "restart policy decides what follows, as for any exit. Every NAME must be running: "
     "otherwise nothing is sent.",
     CLIENT_EXIT, {CLIENT_SOCKET}},
    {"signal", "tend signal SIGNAL NAME... [--socket PATH]",
     "a signal to the procs' process groups",
     "Send SIGNAL (HUP, SIGHUP or 1) to each proc's process group; the restart policy "
     "decides what follows if one dies. Every NAME must be running: otherwise nothing is "
     "sent.",
     CLIENT_EXIT, {CLIENT_SOCKET}},
    {"logs",
     "tend logs [NAME...] [-n LINES] [--stream stdout|stderr] [-f] [-t] [--json] "
     "[--socket PATH]",
     "the procs' recent output lines (default 20); -f follows",
     "The last lines tend keeps of the procs' output (every proc, or the NAMEs), both "
     "streams of every proc merged in the order tend read them, across incarnations. "
     "Each line reads NAME | line (with a single NAME, the line alone); stdout lines go "
     "to stdout and stderr lines to stderr. tend keeps 1,024 lines a stream (fewer when "
     "they average over 256 bytes).",
     CLIENT_EXIT,
     {{CLI_LINES, "how many lines in all (default 20)"},
      {CLI_STREAM, "only the lines of that stream"},
      {CLI_FOLLOW, "then print each new line as it comes, until interrupted or tend exits"},
      {CLI_LINE_TIMES, "put the time tend read each line in front of it (ISO-8601 UTC)"},
      {CLI_JSON, "one JSON object a line, all on stdout: name, proc, stream, time, seq, "
                 "line"},
      CLIENT_SOCKET}},
    {"wait", "tend wait NAME... [--ready | --exit] [--timeout SECONDS] [--socket PATH]",
     "until procs are ready (default) or ended (--exit)",
     "Wait until each proc's current incarnation is ready (a pending proc: its first "
     "one), failing at once when one ends first; or, with --exit, until each has a "
     "terminal status (already terminal: at once).",
     CLIENT_EXIT,
     {{CLI_READY, "wait for ready (the default)"},
      {CLI_EXIT, "wait for a terminal status"},
      {CLI_TIMEOUT, "fail (exit 1) after SECONDS"},
      CLIENT_SOCKET}},
    {"scale", "tend scale NAME N [--socket PATH]",
     "set the number of replicas of a proc declared with replicas",
     "Set the number of replicas of NAME (declared with replicas = N) to N: the "
     "highest-numbered ones are stopped and removed, or new ones NAME@i started; return "
     "once the removed ones have ended and the new ones are ready (exit 0), or one of "
     "them ended first (exit 1). A reload sets N back to the policy file's.",
     CLIENT_EXIT, {CLIENT_SOCKET}},
    {"reload", "tend reload [--socket PATH]", "run the policy file again",
     "Run the policy file again, as SIGHUP does: a changed proc that is up is restarted "
     "with its new declaration, unchanged ones run on; a file that fails to load is "
     "reported and nothing changes.",
     CLIENT_EXIT, {CLIENT_SOCKET}},
    {"top", "tend top [--socket PATH]", "a live view of the procs, refreshed every second",
     "A table of the procs (state, pid, CPU %, memory, uptime, restarts, and what each "
     "waits for or how it ended), redrawn every second on the terminal's alternate "
     "screen. Keys: n, c, m sort by name (declaration order), CPU or memory; q (or "
     "Ctrl-C) quits and gives the terminal back.",
     "0 after q or a signal, 1 when tend goes away, 2 a bad command line or no "
     "terminal, 3 no tend reachable on the socket.",
     {CLIENT_SOCKET}},
    {"metrics", "tend metrics [--socket PATH]",
     "the procs' and tend's metrics in the Prometheus text format",
     "Print the metrics of every proc (state, up, ready, restarts, incarnation, last exit "
     "code, CPU, memory, start time; each with a proc label) and of tend itself, in the "
     "Prometheus text exposition format: what `tend run --metrics` serves at /metrics.",
     CLIENT_EXIT, {CLIENT_SOCKET}},
    {"shutdown", "tend shutdown [--socket PATH]",
     "stop everything and exit; returns once tend is done",
     "Stop every proc, dependents first, as SIGTERM does; return once every proc has "
     "ended and tend is on its way out.",
     CLIENT_EXIT, {CLIENT_SOCKET}},
#undef CLIENT_EXIT
#undef CLIENT_SOCKET
#undef SOCKET_DEFAULT
};

static const struct command *command(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_LEN(commands); i++)
        if (strcmp(name, commands[i].name) == 0)
            return &commands[i];
    return NULL;
}

static const struct option_def *option(int id)
{
    for (size_t i = 0; i < ARRAY_LEN(options); i++)
        if (options[i].id == id)
            return &options[i];
    abort();  /* the tables disagree */
}

bool cli_is_command(const char *name)
{
    return command(name) != NULL;
}

/* ---- printing ---- */

/* `text` word-wrapped, from column `col` on; continuation lines indented
 * by `indent`; a newline in the text ends a line; a newline at the end. */
static void wrap(FILE *f, const char *text, size_t col, size_t indent)
{
    size_t start = col;  /* the column the current line's text starts at */
    for (const char *p = text; *p;) {
        if (*p == '\n') {
            fputc('\n', f);
            start = col = 0;
            if (*++p && *p != '\n')
                col = start = (size_t)fprintf(f, "%*s", (int)indent, "");
            continue;
        }
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t len = strcspn(p, " \n");
        if (col > start && col + 1 + len > WIDTH) {
            col = start = (size_t)fprintf(f, "\n%*s", (int)indent, "") - 1;
        } else if (col > start) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, len, f);
        col += len;
        p += len;
    }
    fputc('\n', f);
}

/* A usage line after `prefix`, wrapped before a " [" when it is too long,
 * continuation lines lined up after "tend CMD ". */
static void print_usage(FILE *f, const char *prefix, const char *usage)
{
    const char *after_cmd = strchr(strchr(usage, ' ') + 1, ' ');
    size_t indent = strlen(prefix) + (size_t)(after_cmd - usage) + 1;
    size_t col = (size_t)fprintf(f, "%s", prefix);
    for (const char *p = usage; *p;) {
        const char *next = strstr(p + 1, " [");
        size_t len = next ? (size_t)(next - p) : strlen(p);
        if (p != usage && col + len > WIDTH) {
            col = (size_t)fprintf(f, "\n%*s", (int)indent, "") - 1;
            p++;  /* the space */
            len--;
        }
        fwrite(p, 1, len, f);
        col += len;
        p += len;
    }
    fputc('\n', f);
}

/* An option as --help shows it: "  -n, --lines LINES", "      --json". */
static void option_label(char *buf, size_t n, int id)
{
    const struct option_def *o = option(id);
    if (id < 256)
        snprintf(buf, n, "  -%c, --%s%s%s", id, o->name, o->value ? " " : "",
                 o->value ? o->value : "");
    else
        snprintf(buf, n, "      --%s%s%s", o->name, o->value ? " " : "",
                 o->value ? o->value : "");
}

static void print_help(const struct command *c)
{
    struct option_doc help = {CLI_HELP, "print this help and exit"};
    const struct option_doc *docs[ARRAY_LEN(c->opts) + 1];
    size_t n = 0, width = 0;
    for (size_t i = 0; i < ARRAY_LEN(c->opts) && c->opts[i].id; i++)
        docs[n++] = &c->opts[i];
    docs[n++] = &help;
    char label[64];
    for (size_t i = 0; i < n; i++) {
        option_label(label, sizeof label, docs[i]->id);
        if (strlen(label) > width)
            width = strlen(label);
    }
    print_usage(stdout, "usage: ", c->usage);
    putchar('\n');
    wrap(stdout, c->about, 0, 0);
    printf("\noptions:\n");
    for (size_t i = 0; i < n; i++) {
        option_label(label, sizeof label, docs[i]->id);
        printf("%-*s  ", (int)width, label);
        wrap(stdout, docs[i]->help, width + 2, width + 2);
    }
    putchar('\n');
    char *exit = xasprintf("exit status: %s", c->exit);
    wrap(stdout, exit, 0, 0);
    free(exit);
}

void cli_print_overview(void)
{
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        print_usage(stdout, i ? "       " : "usage: ", commands[i].usage);
    printf("       tend COMMAND --help\n"
           "       tend --help | --version\n\n");
    wrap(stdout,
         "tend supervises the processes a Lua policy file declares: it starts them in "
         "dependency order, restarts them as their policy says, prefixes their output "
         "with their names, and stops them all, dependents first, on SIGTERM or SIGINT "
         "(a second one kills everything at once).",
         0, 0);
    printf("\ncommands:\n");
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        printf("  %-10s%s\n", commands[i].name, commands[i].summary);
    putchar('\n');
    wrap(stdout,
         "Every command but run talks to a running tend through its control socket. "
         "Every command takes --socket PATH (default: $TEND_SOCKET, else "
         "$XDG_RUNTIME_DIR/tend.sock, else /tmp/tend-$UID/tend.sock), and --help, "
         "which describes it and its options.",
         0, 0);
    putchar('\n');
    /* commands[0] is run, commands[1] a client command */
    char *exit = xasprintf("exit status of run: %s\nOf the other commands: %s",
                           commands[0].exit, commands[1].exit);
    wrap(stdout, exit, 0, 0);
    free(exit);
}

int cli_misuse(const char *cmd, const char *fmt, ...)
{
    const struct command *c = command(cmd);
    va_list ap;
    va_start(ap, fmt);
    if (c)
        fprintf(stderr, "tend %s: ", c->name);
    else
        fprintf(stderr, "tend: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (c) {
        fprintf(stderr, "\nusage: %s\nsee tend %s --help\n", c->usage, c->name);
    } else {
        fprintf(stderr, "\nusage: tend {");
        for (size_t i = 0; i < ARRAY_LEN(commands); i++)
            fprintf(stderr, "%s%s", i ? "|" : "", commands[i].name);
        fprintf(stderr, "} ...\nsee tend --help\n");
    }
    return CLI_EXIT_USAGE;
}

/* ---- reading ---- */

/* What is wrong with the option getopt_long just refused (it returned
 * `r`, '?' or ':'), in `buf`. */
static void refusal(char *buf, size_t n, int r, char **argv, const struct option *longopts)
{
    const char *arg = argv[optind - 1];  /* for a long option, always */
    if (r == ':') {
        if (optopt < 256 && strncmp(arg, "--", 2) != 0)
            snprintf(buf, n, "-%c needs a value", optopt);
        else
            snprintf(buf, n, "--%s needs a value", option(optopt)->name);
        return;
    }
    if (optopt == 0) {  /* a long option unknown, or ambiguous (a prefix of two) */
        size_t len = strcspn(arg, "="), matches = 0;
        for (const struct option *o = longopts; o->name; o++)
            matches += strncmp(o->name, arg + 2, len - 2) == 0;
        snprintf(buf, n, "%s option %.*s", matches > 1 ? "ambiguous" : "unknown", (int)len,
                 arg);
        return;
    }
    for (const struct option *o = longopts; o->name; o++)
        if (o->val == optopt) {  /* a flag given a value: --json=yes */
            snprintf(buf, n, "--%s takes no value", o->name);
            return;
        }
    snprintf(buf, n, "unknown option -%c", optopt);
}

int cli_parse(int argc, char **argv, struct cli *out)
{
    const struct command *c = command(argv[0]);
    if (!c)
        return cli_misuse(NULL, "unknown command '%s'", argv[0]);

    /* getopt_long's tables for this command: "-" returns the operands in
     * order as 1 (options may follow them, whatever POSIXLY_CORRECT
     * says), ":" tells a missing value from an unknown option */
    struct option longopts[ARRAY_LEN(c->opts) + 2];
    char shortopts[2 * ARRAY_LEN(c->opts) + 8] = "-:h";
    size_t n = 0, s = strlen(shortopts);
    for (size_t i = 0; i < ARRAY_LEN(c->opts) && c->opts[i].id; i++) {
        const struct option_def *o = option(c->opts[i].id);
        longopts[n++] = (struct option){o->name, o->value ? required_argument : no_argument,
                                        NULL, o->id};
        if (o->id < 256) {
            shortopts[s++] = (char)o->id;
            if (o->value)
                shortopts[s++] = ':';
        }
    }
    longopts[n++] = (struct option){"help", no_argument, NULL, CLI_HELP};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    shortopts[s] = '\0';

    memset(out, 0, sizeof *out);
    out->cmd = c->name;
    out->opts = xcalloc((size_t)argc, sizeof *out->opts);
    out->args = xcalloc((size_t)argc, sizeof *out->args);
    bool help = false;
    char err[256] = "";
    int r;
    optind = 0;  /* start afresh */
    opterr = 0;  /* the messages are ours */
    while ((r = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (r == 1)
            out->args[out->nargs++] = optarg;
        else if (r == CLI_HELP)
            help = true;
        else if (r == '?' || r == ':') {
            if (!err[0])
                refusal(err, sizeof err, r, argv, longopts);
        } else
            out->opts[out->nopts++] = (struct cli_given){r, optarg};
    }
    while (optind < argc)  /* after "--" */
        out->args[out->nargs++] = argv[optind++];
    if (help) {
        cli_free(out);
        print_help(c);
        return -1;
    }
    if (err[0]) {
        cli_free(out);
        return cli_misuse(c->name, "%s", err);
    }
    return 0;
}

void cli_free(struct cli *c)
{
    free(c->opts);
    free(c->args);
    c->opts = NULL;
    c->args = NULL;
    c->nopts = c->nargs = 0;
}
