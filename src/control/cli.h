/* cli.h -- the command line of every tend command, read one way: a table
 * of each command's options (cli.c) fed to getopt_long.  Options as
 * `--opt value` or `--opt=value`, the short forms the table gives, before
 * or after the operands (`--` ends the options), `--help` (or -h) on every
 * command; on misuse one usage line and a hint on stderr, exit code 2. */
#ifndef TEND_CLI_H
#define TEND_CLI_H

#include <stdbool.h>
#include <stddef.h>

/* The exit code of a bad command line, for every command. */
#define CLI_EXIT_USAGE 2

/* The options of every command; a short option's id is its letter. */
enum cli_opt {
    CLI_FOLLOW = 'f',
    CLI_HELP = 'h',
    CLI_LINES = 'n',
    CLI_LINE_TIMES = 't',  /* logs -t, --timestamps */
    CLI_SOCKET = 256,
    CLI_CHECK,
    CLI_SUBREAPER,
    CLI_TIMESTAMPS,
    CLI_QUIET,
    CLI_LOG_FORMAT,
    CLI_JSON,
    CLI_TIMEOUT,
    CLI_READY,
    CLI_EXIT,
    CLI_STREAM,
    CLI_STAY,
    CLI_METRICS,
    CLI_NAMES,
};

/* An option as given: its id, and its value (NULL for a flag). */
struct cli_given {
    int id;
    const char *value;
};

/* A command line, read: what the command's own code interprets. */
struct cli {
    const char *cmd;          /* the command's name */
    struct cli_given *opts;   /* the options, in the order given */
    size_t nopts;
    char **args;              /* the operands, in order */
    size_t nargs;
};

/* Whether `name` is a command: "run" or a client command. */
bool cli_is_command(const char *name);

/* Read argv[1..argc) as the options and operands of the command argv[0]
 * (one of cli_is_command's).  0: read into *out, to be cli_free'd.
 * -1: --help was asked for and printed on stdout (exit 0).
 * CLI_EXIT_USAGE: a misuse (an unknown option, a missing value), said on
 * stderr.  --help anywhere wins over a misuse. */
int cli_parse(int argc, char **argv, struct cli *out);
void cli_free(struct cli *c);

/* A misuse, said on stderr: "tend CMD: MESSAGE", the command's one-line
 * usage and "see tend CMD --help" (cmd NULL: the command line as a whole,
 * no command or an unknown one); returns CLI_EXIT_USAGE. */
int cli_misuse(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* `tend --help`: every command's usage and what it does, on stdout. */
void cli_print_overview(void);

#endif
