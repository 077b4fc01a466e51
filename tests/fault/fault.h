/* fault.h -- what the fault scenarios share: a tend under test with its
 * output read as it comes, the client commands, raw connections, what
 * /proc says about a process, and the checks every scenario ends with.
 *
 * Each scenario runs in a process of its own (driver.c forks it), with its
 * own directory, socket and marker: every process it starts carries
 * FAULT_MARK=<marker> in its environment, so that whatever is left can be
 * found in /proc afterwards.  A scenario that fails a check jumps out
 * (fail), the driver's cleanup runs all the same.  Memory is not freed: a
 * scenario's process ends with the scenario.
 *
 * Every wait is on an event (a line of tend's output, a client's answer, a
 * pidfd) and bounded by a deadline; the only timed intervals are
 * measurements (CPU or RSS over a period) and the duration a scenario is
 * about (tend stopped "for a while", a slow drip). */
#ifndef TEND_FAULT_H
#define TEND_FAULT_H

#include <jansson.h>
#include <limits.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"

/* Seconds any one wait may take (a loaded 2-core machine must pass). */
#define WAIT 15.0

#define MARK_VAR "FAULT_MARK"

/* The binaries under test (set by the driver from its command line). */
extern const char *fault_tend;   /* build/tend */
extern const char *fault_child;  /* build/fault/fault-child */

/* What becomes of tend's stdout. */
enum outmode {
    OUT_KEEP,    /* read and kept (the last 4 MiB), like stderr */
    OUT_COUNT,   /* read as fast as it comes, counted, the last 64 KiB kept */
    OUT_UNREAD,  /* a pipe nobody reads */
    OUT_NULL,    /* /dev/null */
};

/* Bytes read from one of tend's streams: `p` holds the bytes from
 * absolute offset `base` to `total`. */
struct sbuf {
    char *p;
    size_t len, cap, keep;
    unsigned long long base, total;
};

struct tend {
    pid_t pid;
    int pidfd;
    int fd[2];           /* read ends of stdout and stderr, -1 when closed */
    int unread_fd;       /* OUT_UNREAD: our end, held open, never read */
    struct sbuf buf[2];  /* [0] stdout, [1] stderr */
    bool exited;
    int status;          /* wait status once exited */
};

struct topts {
    enum outmode out;
    long nofile;                /* > 0: RLIMIT_NOFILE soft and hard */
    long fsize;                 /* > 0: RLIMIT_FSIZE soft and hard */
    const char *const *wrap;    /* argv put before tend's (unshare, setpriv) */
    const char *const *args;    /* more arguments of `tend run` (--quiet) */
    const char *const *env;     /* VAR=VALUE added to tend's environment */
};

/* One scenario's state, in its own process. */
struct sc {
    const char *name;
    char dir[PATH_MAX];   /* its directory (removed by the driver) */
    char sock[PATH_MAX];  /* dir/tend.sock */
    char mark[128];       /* FAULT_MARK's value */
    struct tend *t;       /* the tend the end checks look at */
    struct tend *all[8];  /* every tend started, killed at cleanup */
    int ntends;
    int fds0;             /* tend's fd count at the baseline */
    const char *status_of;  /* the end check's `tend status` asks for this proc only */
    long rss0;            /* and its RSS, KiB */
    char done[1024], held[2048], leaks[1024], why[2048];
    int nleaks;
    bool failed, skipped;
    bool defect;          /* what failed is the known defect of the scenario */
    jmp_buf out;
};

/* ---- the row ---- */
void did(struct sc *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void held(struct sc *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A leak found: counted in the row's leaks column, and the scenario fails. */
void leak(struct sc *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Something that did not hold: recorded, and the scenario ends here. */
_Noreturn void fail(struct sc *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, for the check that shows the defect of tend the scenario was
 * kept for (its row then says DEFECT and names it). */
_Noreturn void defect(struct sc *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* What the scenario needs is not there (not root, no mount): a `skip` row
 * saying why; the scenario ends here. */
_Noreturn void skip(struct sc *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define need(s, cond, ...)        \
    do {                          \
        if (!(cond))              \
            fail((s), __VA_ARGS__); \
    } while (0)

/* ---- files ---- */
/* dir/name (a static slot; 8 of them in turn). */
const char *in_dir(struct sc *s, const char *name);
/* Write the policy file: "@D" stands for the directory, "@C" for the
 * fault-child path.  Its path. */
const char *policy(struct sc *s, const char *text);
/* The same, for a policy of any name. */
const char *policy_as(struct sc *s, const char *name, const char *text);

/* ---- tend ---- */
/* Start `tend run POLICY --socket SOCK` (SOCK NULL: s->sock) with the
 * scenario's marker; the first one started becomes s->t. */
struct tend *tend_up(struct sc *s, const char *policy_path, const char *sock,
                     const struct topts *o);
/* Read what tend has written, for at most `ms` (every tend of the
 * scenario); notices tend's exit. */
void pump(struct sc *s, int ms);
/* The bytes of stream (1 stdout, 2 stderr) read so far, from absolute
 * offset `from` (or what is still kept of them). */
const char *text_from(struct tend *t, int stream, unsigned long long from);
unsigned long long text_end(struct tend *t, int stream);
/* Wait until `needle` has appeared `n` times on the stream (counted from
 * offset `from`); whether it did within `timeout`.  Fails the scenario at
 * once if tend exits meanwhile, unless `may_exit`. */
bool expect_n(struct sc *s, struct tend *t, int stream, unsigned long long from,
              const char *needle, int n, double timeout);
/* expect_n for the whole stream, failing the scenario with `what` when it
 * does not come. */
void wait_for(struct sc *s, struct tend *t, int stream, const char *needle, int n,
              const char *what);
int count_from(struct tend *t, int stream, unsigned long long from, const char *needle);
/* Wait for tend's exit; its exit code (128+signal), or -1 on timeout. */
int tend_exit_wait(struct sc *s, struct tend *t, double timeout);
/* Wait until tend answers on `sock` (NULL: s->sock): the socket file
 * appears (inotify), then a status request is answered. */
void wait_up(struct sc *s, struct tend *t, const char *sock);
/* Read all that tend wrote before it answers a status request now (a
 * round trip, then its pipes drained): what it logged earlier is then in
 * the buffers, for count_from. */
void sync_output(struct sc *s);
/* Hold on for `secs` (a measurement interval), reading tend's output. */
void hold(struct sc *s, double secs);

/* ---- clients ---- */
struct cli {
    int code;    /* exit code, -1 when it did not end in time (killed) */
    char *out, *err;
    double secs; /* how long it took */
};
/* `tend ARGS... --socket SOCK` (NULL-terminated ARGS; SOCK NULL: s->sock)
 * with a deadline. */
struct cli cli(struct sc *s, const char *sock, double timeout, ...);
/* The same through a wrapper (NULL-terminated argv put before tend's:
 * setpriv ...). */
struct cli cli_as(struct sc *s, const char *const *wrap, const char *sock, double timeout, ...);
#define CLI(s, ...) cli((s), NULL, WAIT, __VA_ARGS__, (const char *)NULL)
/* `tend status --json [NAMES]`: the array (fails the scenario when tend
 * does not answer). */
json_t *statuses(struct sc *s, const char *sock);
json_t *status_of(json_t *all, const char *name);
const char *st_str(json_t *st, const char *field);
long long st_int(json_t *st, const char *field);  /* -1 when absent */
/* Whether `cause` is absent (not reported yet by this build) or `want`. */
bool cause_is(json_t *st, const char *want);

/* ---- raw connections ---- */
int raw_connect(struct sc *s, const char *sock);
bool raw_send_all(int fd, const void *p, size_t n, double timeout);
/* Read one reply line (NUL-terminated, without the newline) within
 * `timeout`, reading tend's output meanwhile; NULL on EOF or timeout. */
char *raw_reply(struct sc *s, int fd, double timeout);
/* Whether a reply line says {"ok": true}. */
bool reply_ok(const char *reply);
/* A status request on a new connection, answered within `timeout`:
 * whether it was, and how long it took (s). */
bool ping(struct sc *s, const char *sock, double timeout, double *secs);

/* ---- /proc ---- */
long rss_kib(pid_t pid);
long hwm_kib(pid_t pid);
int fd_count(pid_t pid);
/* What tend's fds point to, "N:target" a line (for a report). */
char *fd_list(pid_t pid);
long cpu_ticks(pid_t pid);  /* utime + stime */
double ticks_per_sec(void);
/* Processes carrying the scenario's marker, but for `except` (and us). */
int tagged(struct sc *s, pid_t *pids, int max, pid_t except);
/* "pid comm" of each, for a report. */
char *describe(const pid_t *pids, int n);
/* Zombie children of `parent`. */
int zombies_of(pid_t parent);
/* The pids listed one a line in a file, waiting until it exists. */
int pids_from(struct sc *s, const char *path, pid_t *pids, int max);
/* Wait until each pid is gone (pidfds); how many are still there. */
int wait_gone(struct sc *s, const pid_t *pids, int n, double timeout);
double now(void);

/* ---- the checks every scenario ends with ---- */
/* Record tend's fd count and RSS as the baseline. */
void baseline(struct sc *s);
/* tend answers `tend status`, holds no fd more than at the baseline (after
 * it has had the time to close what it should: round trips until it
 * does, within a deadline). */
void check_serving(struct sc *s);
/* SIGTERM to tend; it exits within the deadline with `code`. */
void check_shutdown(struct sc *s, int code);
/* Nothing carrying the marker is left. */
void check_no_tagged(struct sc *s);
/* Whether argv (a command of the system: unshare, setpriv) runs and exits
 * 0 within the deadline, its output discarded. */
bool runs_ok(const char *const *argv);
/* All three, in order. */
void finish(struct sc *s, int code);

/* ---- scenarios ---- */
struct scenario {
    const char *name;
    void (*run)(struct sc *s);
    double limit;  /* seconds before the driver gives up on it */
    const char *defect;  /* a defect of tend's it found, while it fails */
};

extern const struct scenario sc_children[], sc_os[], sc_tend[], sc_lua[], sc_ctl[];

#endif
