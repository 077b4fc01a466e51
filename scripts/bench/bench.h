/* bench.h -- what the files of `make bench` share: the tend runs they
 * drive, the baselines, the results table (common.c), and each scenario's
 * entry point (one file per scenario). */
#ifndef TEND_BENCH_H
#define TEND_BENCH_H

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define FANOUT_N 1000
#define FANOUT_BIG 10000        /* fan-out-10k and memory-10k (issue 6) */
#define FANOUT_BIG_QUICK 2000
#define IDLE_N 100
#define MAX_BASE (FANOUT_BIG + 16)
#define LAT_N 1000              /* latency: exits measured */
#define ESC_N 20                /* escalation: rounds */
#define OUT_BYTES (1ULL << 30)       /* output scenario: bytes through tend */
#define OUT_BYTES_QUICK (256ULL << 20)

/* sun_path's size */
#define SOCK_PATH_MAX sizeof ((struct sockaddr_un *)0)->sun_path

extern bool quick;
extern char tmpdir[256];
extern char sock_path[SOCK_PATH_MAX];  /* tend's --socket */
extern const char *tend_bin;
extern char self_bin[1024];     /* this program: the latency and escalation child */
extern volatile pid_t g_tend, g_helper;  /* for the emergency exit */
extern rlim_t fd_limit;
extern pid_t g_base[MAX_BASE];
extern volatile int g_nbase;
/* more arguments for the next tend_spawn (at most 2, NULL-terminated) */
extern const char *tend_extra_args[3];

struct tend {
    pid_t pid;
    int fd;        /* read end of tend's stderr, -1 after EOF */
    int pidfd;     /* -1 when not available */
    bool exited;
    int wstatus;
    double t_spawn, t_exit;
    long exit_ticks;         /* tend's own CPU ticks and ns at its exit (read */
    long long exit_ns;       /* while it was a zombie), -1 when not known */
    char buf[65536];
    size_t len;
    long started, ends, warnings, other;
    double t_first;          /* first `started` line */
    long target;             /* stop counting time at this many started */
    double t_target;
    bool counting;           /* churn: count the `started` lines after the first */
    long counted, dropped;
    pid_t *pids;             /* pids from `started` lines */
    long npids, cap;
    char last[4][256];       /* the last lines that were not `started` */
    int nlast;
    /* a scenario's own look at every line that is not `started` */
    void (*on_line)(struct tend *t, const char *line, double tn);
    void *user;
};

enum verdict { V_OK, V_MISS, V_ERROR, V_INFO /* a figure without a target */ };

struct result {
    const char *scenario, *metric, *unit;
    double tend, base, ratio;  /* NAN where it does not apply */
    const char *target;
    enum verdict v;
    char note[2048];
};

extern struct result results[32];  /* the summary's rows */
extern int nresults;

double now(void);
void sleep_s(double s);
void die(const char *fmt, ...);
char *read_text(const char *path, char *buf, size_t size);
long status_field(pid_t pid, const char *key);
bool stat_fields(pid_t pid, char *state, long *ppid, long *ticks);
long long sched_ns(pid_t pid);
int cmp_double(const void *a, const void *b);
double median(double *v, int n);
void spread_note(char *out, size_t size, const double *v, int reps);
int list_children(pid_t except, pid_t *out, int max, int *zombies);
void sweep(void);
void on_signal(int sig);
void raise_fd_limit(void);
bool fd_limit_ok(const char *scenario, int procs, char *err, size_t errsz);
void tend_line(struct tend *t, char *line);
void tend_reap(struct tend *t);
void tend_pump(struct tend *t, double timeout);
bool tend_spawn(struct tend *t, const char *policy, bool want_pids, char *err,
                size_t errsz);
bool tend_until(struct tend *t, bool (*cond)(struct tend *), double timeout);
bool reached_target(struct tend *t);
bool has_exited(struct tend *t);
bool at_eof(struct tend *t);
double tend_stop(struct tend *t, double timeout);
void tend_free(struct tend *t);
void tend_context(const struct tend *t, char *err, size_t errsz);
char *write_policy(const char *name, const char *text);
char *fanout_policy(int n);
int spawn_bare(pid_t *pid, const char *file, char *const argv[]);
const char *verdict_name(enum verdict v);
struct result *new_result(const char *scenario, const char *metric,
                          const char *unit, const char *target);
void print_error(const struct result *r);

/* Whether s may go inside a Lua string literal as it is. */
bool lua_safe_path(const char *s);
/* The tends started until cgroups_back run with cgroups off
 * (TEND_CGROUPS=0); what the variable was, for cgroups_back. */
char *cgroups_off(void);
void cgroups_back(char *saved);
/* Whether this program's path may go into a policy; false with err set. */
bool self_path_ok(char *err, size_t errsz);
/* Results first..last (one array, in order) could not be measured: err
 * for each, printed once. */
void results_fail(struct result *first, struct result *last, const char *err);
/* The most idle procs, up to `want`, that tend can hold under the fd limit
 * (fanout.c). */
int procs_that_fit(const char *scenario, int want, char *note, size_t notesz);

/* the scenarios */
void scenario_churn(double secs);
void scenario_churn_hook(double secs);
void scenario_fanout(int reps);
void scenario_fanout_nocg(int reps);
void scenario_fanout_big(int want, int reps);
void scenario_idle(double secs);
void scenario_latency(void);
void scenario_escalation(void);
void scenario_check_wakeups(double secs);
void scenario_output(unsigned long long bytes, int reps);
void scenario_control(int want);
void scenario_metrics(double secs);
/* the bench binary as a child of tend (output.c: --write-bytes) */
int child_write_bytes(const char *arg);

#endif
