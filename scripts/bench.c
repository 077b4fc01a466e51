/* bench.c -- `make bench`: tend against the physical baseline.
 *
 *   bench TEND_BINARY          (BENCH_QUICK=1 for a short run,
 *                               BENCH_STRICT=1 to exit 1 on a missed target,
 *                               BENCH_ONLY=churn-hook,latency,... for some only;
 *                               the names: churn, churn-hook, fan-out, idle,
 *                               latency, escalation, fan-out-10k, check-wakeups,
 *                               output, control)
 *   bench --stamp-exit         (as tend's child in the latency scenario: print
 *                               CLOCK_MONOTONIC seconds, exit 0 at once)
 *   bench --ignore-term        (as tend's child in the escalation scenario:
 *                               ignore SIGTERM, print "armed PID", pause)
 *   bench --write-bytes N      (the writer of the output scenario: N bytes of
 *                               80-byte lines on stdout in 64 KiB writes)
 *
 * Each scenario measures tend and, in the same run, what the machine itself
 * does for the same work with a bare posix_spawn/waitpid loop; it prints
 * both and their ratio.  These are benchmarks, not tests: the waits here
 * are measurement windows.  tend's own log on its stderr (read through a
 * pipe that is drained all the time) is the only thing observed of it.
 *
 * Every process started here is gone at the end of each scenario: the
 * bench is a child subreaper, so whatever tend leaves behind becomes our
 * child, is counted as a leftover, SIGKILLed and reaped.
 *
 * Every tend started here gets `--socket TMPDIR/tend.sock`, a control
 * socket of its own: a tend refuses to start on a socket another one holds,
 * and the run must not depend on whether a tend is running on the machine.
 */
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

static bool quick;
static char tmpdir[256];
static char sock_path[sizeof ((struct sockaddr_un *)0)->sun_path];  /* tend's --socket */
static const char *tend_bin;
static char self_bin[1024];     /* this program: the latency and escalation child */

/* For the emergency exit: what to kill if the bench itself is stopped. */
static volatile pid_t g_tend = -1, g_helper = -1;
static pid_t g_base[MAX_BASE];
static volatile int g_nbase;

/* ---- small things ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static char *read_text(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t len = 0;
    ssize_t n;
    while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = 0;
    return buf;
}

/* A "Key:   value" number from /proc/PID/status, or -1. */
static long status_field(pid_t pid, const char *key)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (!read_text(path, buf, sizeof buf))
        return -1;
    size_t klen = strlen(key);
    for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, key, klen) == 0 && l[klen] == ':')
            return strtol(l + klen + 1, NULL, 10);
    return -1;
}

/* Fields of /proc/PID/stat after the command name: k = field number - 3
 * (state is 0, ppid 1, utime 11, stime 12). */
static bool stat_fields(pid_t pid, char *state, long *ppid, long *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (!read_text(path, buf, sizeof buf))
        return false;
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    p += 2;
    long utime = 0, stime = 0;
    for (int k = 0; k <= 12 && *p; k++) {
        if (k == 0 && state)
            *state = *p;
        else if (k == 1 && ppid)
            *ppid = strtol(p, NULL, 10);
        else if (k == 11)
            utime = strtol(p, NULL, 10);
        else if (k == 12)
            stime = strtol(p, NULL, 10);
        p = strchr(p, ' ');
        if (!p)
            break;
        p++;
    }
    if (ticks)
        *ticks = utime + stime;
    return true;
}

/* CPU time in ns from /proc/PID/schedstat, or -1. */
static long long sched_ns(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
    if (!read_text(path, buf, sizeof buf))
        return -1;
    return strtoll(buf, NULL, 10);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* "median of N, LOW..HIGH s; " of reps (at most 8) timings, or "" for
 * one; v is left as it was. */
static void spread_note(char *out, size_t size, const double *v, int reps)
{
    out[0] = '\0';
    if (reps < 2)
        return;
    double a[8];
    memcpy(a, v, (size_t)reps * sizeof *a);
    qsort(a, (size_t)reps, sizeof *a, cmp_double);
    snprintf(out, size, "median of %d, %.3f..%.3f s; ", reps, a[0], a[reps - 1]);
}

/* ---- our children: the leftover check and the sweep ---- */

/* The children of this process other than `except`: how many are alive
 * (zombies counted in *zombies); the pids of both in out[], up to max. */
static int list_children(pid_t except, pid_t *out, int max, int *zombies)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    pid_t self = getpid();
    int alive = 0, dead = 0, k = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        char state = 0;
        long ppid = 0;
        if (pid == except || !stat_fields(pid, &state, &ppid, NULL) || ppid != self)
            continue;
        if (state == 'Z')
            dead++;
        else
            alive++;
        if (out && k < max)
            out[k++] = pid;
    }
    closedir(d);
    if (zombies)
        *zombies = dead;
    return alive;
}

/* SIGKILL and reap every child (what tend left to us, the baselines). */
static void sweep(void)
{
    for (int round = 0; round < 50; round++) {
        static pid_t kids[4096];
        int z = 0;
        int n = list_children(-1, kids, 4096, &z);
        for (int i = 0; i < n + z && i < 4096; i++)
            kill(kids[i], SIGKILL);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (n + z == 0)
            break;
        sleep_s(0.01);
    }
    g_nbase = 0;
    g_tend = g_helper = -1;
}

static void on_signal(int sig)
{
    if (g_tend > 0)
        kill(g_tend, SIGKILL);
    if (g_helper > 0)
        kill(-g_helper, SIGKILL);  /* the helper and its sleeps: one group */
    for (int i = 0; i < g_nbase; i++)
        kill(g_base[i], SIGKILL);
    static const char msg[] = "\nbench: interrupted; children killed\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(128 + sig);
}

/* ---- the file descriptor limit ---- */

static rlim_t fd_limit;

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("getrlimit: %s", strerror(errno));
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
            /* an "unlimited" hard limit: the kernel's nr_open is the most */
            char buf[64];
            if (read_text("/proc/sys/fs/nr_open", buf, sizeof buf)) {
                want.rlim_cur = (rlim_t)strtoull(buf, NULL, 10);
                setrlimit(RLIMIT_NOFILE, &want);
            }
        }
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    fd_limit = rl.rlim_cur;
}

/* tend holds the read ends of two pipes per proc, and an exec-confirm pipe
 * for each proc that is starting: 3 a proc at the peak, plus its own. */
static bool fd_limit_ok(const char *scenario, int procs, char *err, size_t errsz)
{
    rlim_t need = (rlim_t)procs * 3 + 64;
    if (fd_limit >= need)
        return true;
    snprintf(err, errsz,
             "%s: RLIMIT_NOFILE is %llu even after raising it to the hard limit; "
             "%d procs need at least %llu (raise the hard limit: ulimit -Hn, "
             "limits.conf or the container's nofile)",
             scenario, (unsigned long long)fd_limit, procs, (unsigned long long)need);
    return false;
}

/* ---- a tend run, its stderr read through a pipe ---- */

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

static void tend_line(struct tend *t, char *line)
{
    double tn = now();
    const char *s = strstr(line, ": started (pid ");
    if (s && strncmp(line, "tend: ", 6) == 0) {
        t->started++;
        if (t->started == 1)
            t->t_first = tn;
        if (t->target && t->started == t->target)
            t->t_target = tn;
        if (t->counting && t->started > 1)
            t->counted++;
        if (t->pids) {
            if (t->npids == t->cap) {
                t->cap *= 2;
                t->pids = realloc(t->pids, (size_t)t->cap * sizeof *t->pids);
                if (!t->pids)
                    die("out of memory");
            }
            t->pids[t->npids++] = (pid_t)atoi(s + 15);
        }
        return;
    }
    if (t->on_line)
        t->on_line(t, line, tn);
    if (strstr(line, ": exited with code ") || strstr(line, ": killed by signal ") ||
        strstr(line, ": failed: "))
        t->ends++;
    else
        t->other++;
    if (strstr(line, "warning: ") || strstr(line, "error: "))
        t->warnings++;
    const char *d = strstr(line, "tend: warning: ");
    if (d && strstr(line, " lines dropped"))
        t->dropped += atol(d + 15);
    /* keep some context for error messages (not the routine exits) */
    if (!strstr(line, ": exited with code 0") && !strstr(line, "killed by signal TERM")) {
        snprintf(t->last[t->nlast % 4], sizeof t->last[0], "%s", line);
        t->nlast++;
    }
}

static void tend_reap(struct tend *t)
{
    if (t->exited)
        return;
    /* a look at the zombie first: its own CPU time (not its children's) */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    double tn = now();
    if (waitid(P_PID, (id_t)t->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        si.si_pid == t->pid) {
        if (!stat_fields(t->pid, NULL, NULL, &t->exit_ticks))
            t->exit_ticks = -1;
        t->exit_ns = sched_ns(t->pid);
    }
    if (waitpid(t->pid, &t->wstatus, WNOHANG) == t->pid) {
        t->exited = true;
        t->t_exit = si.si_pid == t->pid ? tn : now();
        g_tend = -1;
        if (t->pidfd >= 0) {
            close(t->pidfd);
            t->pidfd = -1;
        }
    }
}

/* One round: wait up to `timeout` s for output or tend's exit, take in
 * everything there is. */
static void tend_pump(struct tend *t, double timeout)
{
    struct pollfd pf[2];
    int n = 0, ifd = -1, ipid = -1;
    if (t->fd >= 0) {
        ifd = n;
        pf[n++] = (struct pollfd){.fd = t->fd, .events = POLLIN};
    }
    if (!t->exited && t->pidfd >= 0) {
        ipid = n;
        pf[n++] = (struct pollfd){.fd = t->pidfd, .events = POLLIN};
    }
    /* without a pidfd, look for the exit every few ms */
    if (!t->exited && t->pidfd < 0 && timeout > 0.002)
        timeout = 0.002;
    int ms = timeout <= 0 ? 0 : (int)ceil(timeout * 1000);
    int r = n ? poll(pf, (nfds_t)n, ms) : (sleep_s(timeout), 0);
    if (r < 0 && errno != EINTR)
        die("poll: %s", strerror(errno));
    if (ifd >= 0 && r > 0 && pf[ifd].revents) {
        for (;;) {
            ssize_t k = read(t->fd, t->buf + t->len, sizeof t->buf - 1 - t->len);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0 && errno == EAGAIN)
                break;
            if (k <= 0) {
                close(t->fd);
                t->fd = -1;
                break;
            }
            t->len += (size_t)k;
            t->buf[t->len] = 0;
            char *start = t->buf, *nl;
            while ((nl = memchr(start, '\n', t->len - (size_t)(start - t->buf)))) {
                *nl = 0;
                tend_line(t, start);
                start = nl + 1;
            }
            t->len -= (size_t)(start - t->buf);
            memmove(t->buf, start, t->len);
            if (t->len == sizeof t->buf - 1) {  /* an overlong line */
                t->buf[t->len] = 0;
                tend_line(t, t->buf);
                t->len = 0;
            }
        }
    }
    if (ipid < 0 || (r > 0 && pf[ipid].revents))
        tend_reap(t);
}

static bool tend_spawn(struct tend *t, const char *policy, bool want_pids, char *err,
                       size_t errsz)
{
    memset(t, 0, sizeof *t);
    t->pid = -1;
    t->fd = t->pidfd = -1;
    t->exit_ticks = t->exit_ns = -1;
    if (want_pids) {
        t->cap = 1024;
        t->pids = malloc((size_t)t->cap * sizeof *t->pids);
        if (!t->pids)
            die("out of memory");
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(err, errsz, "pipe: %s", strerror(errno));
        return false;
    }
    fcntl(p[0], F_SETPIPE_SZ, 1 << 20);  /* best effort: room for bursts */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {(char *)tend_bin, "run", (char *)policy, "--socket", sock_path, NULL};
    t->t_spawn = now();
    pid_t pid;
    int rc = posix_spawn(&pid, tend_bin, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        snprintf(err, errsz, "cannot run %s: %s", tend_bin, strerror(rc));
        return false;
    }
    t->pid = pid;
    g_tend = pid;
    t->fd = p[0];
    fcntl(t->fd, F_SETFL, O_NONBLOCK);
#ifdef SYS_pidfd_open
    t->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
    return true;
}

/* Pump until `cond` holds or `timeout` passes; once tend has exited,
 * until its stderr is at EOF or 1 s later (a leftover process may hold the
 * pipe open: the leftover check reports that). */
static bool tend_until(struct tend *t, bool (*cond)(struct tend *), double timeout)
{
    double end = now() + timeout;
    while (!cond(t)) {
        double tn = now(), left = end - tn;
        if (t->exited && (t->fd < 0 || tn > t->t_exit + 1.0))
            return cond(t);
        if (left <= 0)
            return false;
        if (t->exited && left > t->t_exit + 1.0 - tn)
            left = t->t_exit + 1.0 - tn;
        tend_pump(t, left);
    }
    return true;
}

static bool reached_target(struct tend *t)
{
    return t->started >= t->target;
}

static bool has_exited(struct tend *t)
{
    return t->exited;
}

static bool at_eof(struct tend *t)
{
    return t->fd < 0;
}

/* SIGTERM, then wait for the exit (SIGKILL after `timeout`); the seconds
 * from SIGTERM to the exit, or -1 when it had to be killed. */
static double tend_stop(struct tend *t, double timeout)
{
    if (t->exited) {
        tend_until(t, at_eof, 1);
        return 0;
    }
    double t0 = now();
    kill(t->pid, SIGTERM);
    if (tend_until(t, has_exited, timeout)) {
        tend_until(t, at_eof, 1);  /* the last lines */
        return t->t_exit - t0;
    }
    kill(t->pid, SIGKILL);
    tend_until(t, has_exited, 5);
    return -1;
}

static void tend_free(struct tend *t)
{
    if (t->pid > 0 && !t->exited) {
        kill(t->pid, SIGKILL);
        waitpid(t->pid, &t->wstatus, 0);
        t->exited = true;
    }
    g_tend = -1;
    if (t->fd >= 0)
        close(t->fd);
    if (t->pidfd >= 0)
        close(t->pidfd);
    t->fd = t->pidfd = -1;
    free(t->pids);
    t->pids = NULL;
}

static void tend_context(const struct tend *t, char *err, size_t errsz)
{
    size_t len = strlen(err);
    int first = t->nlast > 4 ? t->nlast - 4 : 0;
    for (int i = first; i < t->nlast && len + 8 < errsz; i++) {
        snprintf(err + len, errsz - len, "\n      | %s", t->last[i % 4]);
        len = strlen(err);
    }
    if (t->exited && len + 64 < errsz)
        snprintf(err + len, errsz - len, "\n      | (tend exited: %s %d)",
                 WIFSIGNALED(t->wstatus) ? "signal" : "code",
                 WIFSIGNALED(t->wstatus) ? WTERMSIG(t->wstatus) : WEXITSTATUS(t->wstatus));
}

static char *write_policy(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        die("cannot write %s: %s", path, strerror(errno));
    return path;
}

static char *fanout_policy(int n)
{
    char text[256], name[64];
    snprintf(text, sizeof text,
             "for i = 1, %d do\n"
             "  tend.proc { name = \"s\" .. i, cmd = { \"sleep\", \"1000\" } }\n"
             "end\n", n);
    snprintf(name, sizeof name, "sleep%d.lua", n);
    return write_policy(name, text);
}

/* ---- baselines: a bare posix_spawn loop ---- */

static int spawn_bare(pid_t *pid, const char *file, char *const argv[])
{
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawnp(pid, file, NULL, &at, argv, environ);
    posix_spawnattr_destroy(&at);
    return rc;
}

/* ---- results ---- */

enum verdict { V_OK, V_MISS, V_ERROR, V_INFO /* a figure without a target */ };

struct result {
    const char *scenario, *metric, *unit;
    double tend, base, ratio;  /* NAN where it does not apply */
    const char *target;
    enum verdict v;
    char note[2048];
};

static struct result results[32];
static int nresults;

static const char *verdict_name(enum verdict v)
{
    return v == V_OK ? "ok" : v == V_MISS ? "MISS" : v == V_INFO ? "-" : "ERROR";
}

static struct result *new_result(const char *scenario, const char *metric,
                                 const char *unit, const char *target)
{
    struct result *r = &results[nresults++];
    memset(r, 0, sizeof *r);
    r->scenario = scenario;
    r->metric = metric;
    r->unit = unit;
    r->target = target;
    r->tend = r->base = r->ratio = NAN;
    r->v = V_ERROR;
    return r;
}

static void print_error(const struct result *r)
{
    printf("%-10s ERROR: %s\n", r->scenario, r->note);
    fflush(stdout);
}

/* ---- 1. churn, and churn with a Lua hook on every transition ---- */

struct churn {
    double rate, window, cpu;  /* restarts/s; s; share of a CPU */
    long counted;
    long hooks;                /* the last "hooks N" line of the policy, or -1 */
    long hooks_started;        /* `started` lines seen when it came */
};

/* "tend: hooks N": how many times the hook ran (logged by a task once a
 * second, so that the hook itself does nothing but count). */
static void churn_line(struct tend *t, const char *line, double tn)
{
    struct churn *c = t->user;
    const char *h = strstr(line, "tend: hooks ");
    if (h == line) {
        c->hooks = atol(h + 12);
        c->hooks_started = t->started;
    }
}

/* tend running `policy` (one instantly exiting proc): the `started` lines
 * from the first one on, for `secs`. */
static bool churn_tend(const char *policy, double secs, struct churn *c, char *err,
                       size_t errsz)
{
    memset(c, 0, sizeof *c);
    c->hooks = -1;
    struct tend t;
    bool ok = false;
    if (!tend_spawn(&t, policy, false, err, errsz))
        goto out;
    t.on_line = churn_line;
    t.user = c;
    t.target = 1;
    t.counting = true;
    if (!tend_until(&t, reached_target, 10)) {
        snprintf(err, errsz, "tend did not start the proc within 10 s");
        tend_context(&t, err, errsz);
        goto out;
    }
    /* count the `started` lines from the first one on for `secs`; read
     * in 10 ms batches so that the reader takes little CPU from tend
     * (tend buffers its log; it never waits for us) */
    double until = t.t_first + secs;
    long ticks0 = 0, ticks1 = 0;
    stat_fields(t.pid, NULL, NULL, &ticks0);
    double tn;
    while ((tn = now()) < until && !t.exited) {
        tend_pump(&t, 0);
        sleep_s(fmin(0.01, until - tn));
    }
    tend_pump(&t, 0);
    c->window = now() - t.t_first;
    t.counting = false;
    stat_fields(t.pid, NULL, NULL, &ticks1);
    if (t.exited) {
        snprintf(err, errsz, "tend exited during the churn");
        tend_context(&t, err, errsz);
        goto out;
    }
    double stop = tend_stop(&t, 15);
    if (stop < 0) {
        snprintf(err, errsz, "tend did not exit within 15 s of SIGTERM");
        goto out;
    }
    if (t.dropped) {
        snprintf(err, errsz, "tend dropped %ld log lines: the count is wrong", t.dropped);
        goto out;
    }
    c->counted = t.counted;
    c->rate = (double)t.counted / c->window;
    c->cpu = (double)(ticks1 - ticks0) / (double)sysconf(_SC_CLK_TCK) / c->window;
    ok = true;
out:
    tend_free(&t);
    sweep();
    return ok;
}

/* The baseline: posix_spawn + waitpid of /bin/true, back to back. */
static bool churn_base(double secs, double *rate, char *err, size_t errsz)
{
    char *argv[] = {"/bin/true", NULL};
    long spawns = 0;
    double tn, t0 = now(), end = t0 + secs;
    while ((tn = now()) < end) {
        pid_t pid;
        int rc = spawn_bare(&pid, "/bin/true", argv);
        if (rc != 0) {
            snprintf(err, errsz, "baseline: posix_spawn /bin/true: %s", strerror(rc));
            sweep();
            return false;
        }
        g_base[0] = pid;
        g_nbase = 1;
        waitpid(pid, NULL, 0);
        g_nbase = 0;
        spawns++;
    }
    *rate = (double)spawns / (tn - t0);
    return true;
}

#define CHURN_PROC                                                     \
    "tend.proc {\n"                                                    \
    "  name = \"t\", cmd = { \"/bin/true\" }, restart = \"always\",\n" \
    "  backoff = { initial = 0, factor = 1, max = 0, jitter = 0 },\n"  \
    "  give_up = false,\n"                                              \
    "}\n"

static void scenario_churn(double secs)
{
    struct result *r = new_result("churn", "restarts/s", "/s", ">= 0.8");
    char *policy = write_policy("churn.lua", CHURN_PROC);
    char *err = r->note;
    size_t errsz = sizeof r->note;
    struct churn c;
    double base;
    if (!churn_tend(policy, secs, &c, err, errsz) || !churn_base(secs, &base, err, errsz)) {
        print_error(r);
        return;
    }
    r->tend = c.rate;
    r->base = base;
    r->ratio = c.rate / base;
    r->v = r->ratio >= 0.8 ? V_OK : V_MISS;
    snprintf(r->note, sizeof r->note, "%ld restarts in %.2f s; tend itself used %.0f%% of a CPU",
             c.counted, c.window, c.cpu * 100);
    printf("%-10s tend %.0f restarts/s   baseline %.0f spawns/s   ratio %.3f  "
           "(target >= 0.8)  %s   [%s]\n",
           r->scenario, c.rate, base, r->ratio, verdict_name(r->v), r->note);
    fflush(stdout);
}

/* The same churn with a Lua hook on every transition (issue 3: >= 0.7;
 * issue 6: >= 0.8).  The hook only counts; a task logs the count once a
 * second, which shows that the hook ran for every transition. */
static void scenario_churn_hook(double secs)
{
    struct result *r3 = new_result("churn-hook", "restarts/s (#3)", "/s", ">= 0.7");
    struct result *r6 = new_result("churn-hook", "restarts/s (#6)", "/s", ">= 0.8");
    char *policy = write_policy(
        "churn-hook.lua",
        "local n = 0\n"
        "tend.on(\"*\", function(p, st, prev) n = n + 1 end)\n"
        CHURN_PROC
        "tend.task(function()\n"
        "  while true do tend.sleep(1); tend.log.info(\"hooks %d\", n) end\n"
        "end)\n");
    char err[2048] = "";
    struct churn c;
    double base;
    if (!churn_tend(policy, secs, &c, err, sizeof err) ||
        !churn_base(secs, &base, err, sizeof err)) {
        snprintf(r3->note, sizeof r3->note, "%s", err);
        snprintf(r6->note, sizeof r6->note, "%s", err);
        print_error(r3);
        return;
    }
    char hooks[160] = "the hook count was never logged";
    if (c.hooks >= 0 && c.hooks_started > 0)
        snprintf(hooks, sizeof hooks, "%.2f hook runs a restart (%ld for %ld starts)",
                 (double)c.hooks / (double)c.hooks_started, c.hooks, c.hooks_started);
    for (struct result *r = r3; r <= r6; r++) {
        r->tend = c.rate;
        r->base = base;
        r->ratio = c.rate / base;
        snprintf(r->note, sizeof r->note,
                 "%ld restarts in %.2f s; tend itself used %.0f%% of a CPU; %s", c.counted,
                 c.window, c.cpu * 100, hooks);
    }
    r3->v = r3->ratio >= 0.7 ? V_OK : V_MISS;
    r6->v = r6->ratio >= 0.8 ? V_OK : V_MISS;
    printf("%-10s tend %.0f restarts/s   baseline %.0f spawns/s   ratio %.3f  "
           "(target >= 0.7 #3: %s; >= 0.8 #6: %s)   [%s]\n",
           r3->scenario, c.rate, base, r3->ratio, verdict_name(r3->v),
           verdict_name(r6->v), r3->note);
    fflush(stdout);
}

/* ---- 2 and 3. fan-out, stop-all and memory ---- */

struct fan {
    double start, stop;    /* seconds */
    double rate_first, rate_last;  /* starts/s over the first and the last tenth */
    long rss_kib, hwm_kib;
    long leftovers, zombies, ends;
};

/* The spawn rate over the first and the last tenth of the children `pids`
 * (from their start times in /proc, in clock ticks: 10 ms or so). */
static void start_rates(const pid_t *pids, long n, double *first, double *last)
{
    double *st = malloc((size_t)(n > 0 ? n : 1) * sizeof *st);
    long m = 0;
    if (!st)
        die("out of memory");
    for (long i = 0; i < n; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pids[i]);
        if (!read_text(path, buf, sizeof buf))
            continue;
        char *p = strrchr(buf, ')');
        for (int k = 0; p && k < 20; k++)  /* to field 22, starttime */
            p = strchr(p + 1, ' ');
        if (p)
            st[m++] = strtod(p + 1, NULL);
    }
    *first = *last = 0;
    if (m >= 100) {
        qsort(st, (size_t)m, sizeof *st, cmp_double);
        double hz = (double)sysconf(_SC_CLK_TCK);
        long k = m / 10;
        *first = (double)(k - 1) / (fmax(st[k - 1] - st[0], 1) / hz);
        *last = (double)(k - 1) / (fmax(st[m - 1] - st[m - k], 1) / hz);
    }
    free(st);
}

/* One tend run with n idle procs: start, RSS, stop, leftovers. */
static bool fan_tend(int n, struct fan *f, char *err, size_t errsz)
{
    memset(f, 0, sizeof *f);
    char *policy = fanout_policy(n);
    struct tend t;
    bool ok = false;
    if (!tend_spawn(&t, policy, true, err, errsz))
        goto out;
    t.target = n;
    if (!tend_until(&t, reached_target, 60)) {
        snprintf(err, errsz, "only %ld of %d procs started within 60 s", t.started, n);
        tend_context(&t, err, errsz);
        goto out;
    }
    f->start = t.t_target - t.t_spawn;
    /* settle (still draining), then the memory of tend holding n procs */
    double settle = now() + 0.2;
    while (now() < settle && !t.exited)
        tend_pump(&t, settle - now());
    f->rss_kib = status_field(t.pid, "VmRSS");
    f->hwm_kib = status_field(t.pid, "VmHWM");
    /* tend logs `started` in bursts, after a whole batch of spawns: the
     * children's own start times say how fast the spawns went */
    if (n >= 100)
        start_rates(t.pids, t.npids, &f->rate_first, &f->rate_last);
    if (t.exited) {
        snprintf(err, errsz, "tend exited with its procs running");
        tend_context(&t, err, errsz);
        goto out;
    }
    long ends0 = t.ends;
    f->stop = tend_stop(&t, 60);
    if (f->stop < 0) {
        snprintf(err, errsz, "tend did not exit within 60 s of SIGTERM");
        goto out;
    }
    f->ends = t.ends - ends0;
    /* all gone?  tend is reaped; as subreaper we inherit what it left */
    int z = 0;
    f->leftovers = list_children(-1, NULL, 0, &z);
    f->zombies = z;
    /* and no `sleep 1000` of this run anywhere else */
    for (long i = 0; i < t.npids; i++) {
        char path[64], buf[64], state = 0;
        long ppid = 0;
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)t.pids[i]);
        if (read_text(path, buf, sizeof buf) && strcmp(buf, "sleep") == 0 &&
            strcmp(buf + 6, "1000") == 0 && stat_fields(t.pids[i], &state, &ppid, NULL) &&
            state != 'Z' && ppid != getpid())
            f->leftovers++;
    }
    if (f->leftovers || f->zombies || f->ends != n) {
        snprintf(err, errsz,
                 "after tend exited: %ld procs still running, %ld unreaped; "
                 "tend logged %ld of %d exits",
                 f->leftovers, f->zombies, f->ends, n);
        tend_context(&t, err, errsz);
        goto out;
    }
    ok = true;
out:
    tend_free(&t);
    sweep();
    return ok;
}

/* The baseline: posix_spawn n `sleep 1000`, then SIGTERM and reap them. */
static double base_rate_first, base_rate_last;  /* as struct fan's, of the last run */

static bool fan_base(int n, double *start, double *stop, char *err, size_t errsz)
{
    char *argv[] = {"sleep", "1000", NULL};
    bool ok = false;
    g_nbase = 0;
    double t0 = now(), tk1 = 0, tk2 = 0;
    int k = n / 10;
    for (int i = 0; i < n; i++) {
        if (i == k)
            tk1 = now();
        if (i == n - k)
            tk2 = now();
        int rc = spawn_bare(&g_base[i], "sleep", argv);
        if (rc != 0) {
            snprintf(err, errsz, "baseline: posix_spawn sleep #%d: %s", i + 1, strerror(rc));
            goto out;
        }
        g_nbase = i + 1;
    }
    double t1 = now();
    if (k > 0) {
        base_rate_first = k / (tk1 - t0);
        base_rate_last = k / (t1 - tk2);
    }
    for (int i = 0; i < n; i++)
        kill(g_base[i], SIGTERM);
    for (int i = 0; i < n; i++)
        waitpid(g_base[i], NULL, 0);
    double t2 = now();
    g_nbase = 0;
    *start = t1 - t0;
    *stop = t2 - t1;
    ok = true;
out:
    sweep();
    return ok;
}

/* `reps` rounds of tend and the bare loop with n procs, in alternating
 * order so that neither always runs on a fresh machine: start and stop
 * times of each, tend's largest RSS and high-water mark, and tend's last
 * round in *last. */
static bool fan_rounds(int n, int reps, double *ts, double *tk, double *bsv, double *bkv,
                       long *rss, long *hwm, struct fan *last, char *err, size_t errsz)
{
    struct fan f = {0};
    for (int i = 0; i < reps; i++) {
        if (i % 2 == 0) {
            if (!fan_tend(n, &f, err, errsz) || !fan_base(n, &bsv[i], &bkv[i], err, errsz))
                return false;
        } else {
            if (!fan_base(n, &bsv[i], &bkv[i], err, errsz) || !fan_tend(n, &f, err, errsz))
                return false;
        }
        ts[i] = f.start;
        tk[i] = f.stop;
        if (f.rss_kib > *rss)
            *rss = f.rss_kib;
        if (f.hwm_kib > *hwm)
            *hwm = f.hwm_kib;
    }
    *last = f;
    return true;
}

/* The start and stop results of a fan-out of n procs: medians of reps
 * runs against the baseline's, a ratio of at most `limit` to pass;
 * tail_s and tail_k end the two notes. */
static void fan_report(struct result *rs, struct result *rk, int n, int reps, double limit,
                       double *ts, double *tk, double *bsv, double *bkv, const char *tail_s,
                       const char *tail_k)
{
    char spread_s[64], spread_k[64];
    spread_note(spread_s, sizeof spread_s, ts, reps);
    spread_note(spread_k, sizeof spread_k, tk, reps);
    rs->tend = median(ts, reps);
    rs->base = median(bsv, reps);
    rs->ratio = rs->tend / rs->base;
    rs->v = rs->ratio <= limit ? V_OK : V_MISS;
    snprintf(rs->note, sizeof rs->note, "%sfrom exec of tend to the %dth `started`%s",
             spread_s, n, tail_s);
    printf("%-10s tend %.3f s to start %d   baseline %.3f s   ratio %.2f  "
           "(target <= %.1f)  %s   [%s]\n",
           rs->scenario, rs->tend, n, rs->base, rs->ratio, limit, verdict_name(rs->v),
           rs->note);

    rk->tend = median(tk, reps);
    rk->base = median(bkv, reps);
    rk->ratio = rk->tend / rk->base;
    rk->v = rk->ratio <= limit ? V_OK : V_MISS;
    snprintf(rk->note, sizeof rk->note,
             "%sSIGTERM to tend's exit; all %d exits logged, none left%s", spread_k, n,
             tail_k);
    printf("%-10s tend %.3f s to stop %d    baseline %.3f s   ratio %.2f  "
           "(target <= %.1f)  %s   [%s]\n",
           rk->scenario, rk->tend, n, rk->base, rk->ratio, limit, verdict_name(rk->v),
           rk->note);
}

static void scenario_fanout(int reps)
{
    struct result *rs = new_result("fan-out", "s to start 1000", "s", "<= 2.0");
    struct result *rk = new_result("stop-all", "s to stop 1000", "s", "<= 2.0");
    struct result *rm = new_result("memory", "RSS, 1000 procs", "MiB", "< 16 MiB");
    char err[2048] = "";
    if (!fd_limit_ok("fan-out", FANOUT_N, err, sizeof err))
        goto fail;

    /* a warm-up of both, not counted: page cache, PATH lookup, pid space */
    struct fan f;
    double bs, bk;
    if (!fan_base(50, &bs, &bk, err, sizeof err) || !fan_tend(50, &f, err, sizeof err))
        goto fail;

    double ts[8], tk[8], bsv[8], bkv[8];
    long rss = 0, hwm = 0;
    if (!fan_rounds(FANOUT_N, reps, ts, tk, bsv, bkv, &rss, &hwm, &f, err, sizeof err))
        goto fail;
    /* memory reference: the same policy with one proc */
    struct fan one;
    if (!fan_tend(1, &one, err, sizeof err))
        goto fail;

    fan_report(rs, rk, FANOUT_N, reps, 2.0, ts, tk, bsv, bkv, "", "");

    rm->tend = rss / 1024.0;
    rm->base = one.rss_kib / 1024.0;
    rm->ratio = rm->tend / rm->base;
    rm->v = rm->tend < 16 ? V_OK : V_MISS;
    snprintf(rm->note, sizeof rm->note,
             "baseline: tend with 1 proc; %.1f KiB a proc; VmHWM %.1f MiB",
             (double)(rss - one.rss_kib) / (FANOUT_N - 1), hwm / 1024.0);
    printf("%-10s tend %.1f MiB RSS with %d procs   baseline %.1f MiB   ratio %.2f  "
           "(target < 16 MiB)  %s   [%s]\n",
           rm->scenario, rm->tend, FANOUT_N, rm->base, rm->ratio, verdict_name(rm->v),
           rm->note);
    fflush(stdout);
    return;
fail:
    for (struct result *r = rs; r <= rm; r++) {
        snprintf(r->note, sizeof r->note, "%s", err);
        r->v = V_ERROR;
    }
    print_error(rs);
}

/* ---- 4. idle ---- */

static void scenario_idle(double secs)
{
    struct result *r = new_result("idle", "ctxsw+ticks", "", "0 and 0");
    char *err = r->note;
    size_t errsz = sizeof r->note;
    struct tend t;
    memset(&t, 0, sizeof t);
    t.fd = t.pidfd = -1;
    if (!fd_limit_ok("idle", IDLE_N, err, errsz))
        goto out;
    char *policy = fanout_policy(IDLE_N);
    if (!tend_spawn(&t, policy, false, err, errsz))
        goto out;
    t.target = IDLE_N;
    if (!tend_until(&t, reached_target, 30)) {
        snprintf(err, errsz, "only %ld of %d procs started within 30 s", t.started, IDLE_N);
        tend_context(&t, err, errsz);
        goto out;
    }

    /* the baseline, in the same window: a bare supervisor, blocked in
     * waitpid with the same number of idle children */
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) {
        snprintf(err, errsz, "pipe: %s", strerror(errno));
        goto out;
    }
    pid_t helper = fork();
    if (helper == 0) {
        setpgid(0, 0);
        close(ready[0]);
        char *argv[] = {"sleep", "1000", NULL};
        for (int i = 0; i < IDLE_N; i++) {
            pid_t pid;
            if (spawn_bare(&pid, "sleep", argv) != 0)
                _exit(1);
        }
        close(ready[1]);
        for (;;)
            waitpid(-1, NULL, 0);
    }
    close(ready[1]);
    if (helper < 0) {
        close(ready[0]);
        snprintf(err, errsz, "fork: %s", strerror(errno));
        goto out;
    }
    setpgid(helper, helper);
    g_helper = helper;
    char c;
    while (read(ready[0], &c, 1) < 0 && errno == EINTR)
        ;
    close(ready[0]);

    /* let both settle (tend finishes its writes and goes to sleep) */
    double settle = now() + 0.5;
    while (now() < settle && !t.exited)
        tend_pump(&t, settle - now());
    long lines0 = t.started + t.ends + t.other;
    long cs0 = status_field(t.pid, "voluntary_ctxt_switches");
    long ncs0 = status_field(t.pid, "nonvoluntary_ctxt_switches");
    long tk0 = 0, tk1 = 0, btk0 = 0, btk1 = 0;
    stat_fields(t.pid, NULL, NULL, &tk0);
    long long ns0 = sched_ns(t.pid);
    long bcs0 = status_field(helper, "voluntary_ctxt_switches");
    stat_fields(helper, NULL, NULL, &btk0);

    double end = now() + secs;
    while (now() < end && !t.exited)
        tend_pump(&t, end - now());

    long cs1 = status_field(t.pid, "voluntary_ctxt_switches");
    long ncs1 = status_field(t.pid, "nonvoluntary_ctxt_switches");
    stat_fields(t.pid, NULL, NULL, &tk1);
    long long ns1 = sched_ns(t.pid);
    long bcs1 = status_field(helper, "voluntary_ctxt_switches");
    stat_fields(helper, NULL, NULL, &btk1);
    if (t.exited || cs0 < 0 || cs1 < 0) {
        snprintf(err, errsz, "tend exited during the idle window");
        tend_context(&t, err, errsz);
        goto out;
    }
    long dcs = cs1 - cs0, dtk = tk1 - tk0, bdcs = bcs1 - bcs0, bdtk = btk1 - btk0;
    long dlines = t.started + t.ends + t.other - lines0;
    r->tend = (double)dcs;
    r->base = (double)bdcs;
    r->v = dcs == 0 && dtk == 0 ? V_OK : V_MISS;
    snprintf(r->note, sizeof r->note,
             "%d procs, %.0f s; tend: %ld ticks, %ld involuntary switches, %.0f us on CPU, "
             "%ld log lines; baseline: %ld ticks",
             IDLE_N, secs, dtk, ncs1 - ncs0, ns0 >= 0 && ns1 >= 0 ? (ns1 - ns0) / 1e3 : -1.0,
             dlines, bdtk);
    printf("%-10s tend %ld wakeups, %ld CPU ticks in %.0f s   baseline %ld, %ld   "
           "(target 0 and 0)  %s   [%s]\n",
           r->scenario, dcs, dtk, secs, bdcs, bdtk, verdict_name(r->v), r->note);
    fflush(stdout);
    tend_stop(&t, 30);
out:
    tend_free(&t);
    sweep();
    if (r->v == V_ERROR)
        print_error(r);
}

/* ---- 5. latency: child exit -> Lua hook ---- */

struct samples {
    double *v;
    int n, cap, bad;
    const char *tag;  /* the log line's prefix, "tend: lat " */
    char first_bad[256];
};

static void samples_line(struct tend *t, const char *line, double tn)
{
    struct samples *s = t->user;
    size_t k = strlen(s->tag);
    if (strncmp(line, s->tag, k) != 0)
        return;
    char *end;
    double v = strtod(line + k, &end);
    if (end == line + k || !isfinite(v)) {
        if (!s->bad++)
            snprintf(s->first_bad, sizeof s->first_bad, "%s", line);
    } else if (s->n < s->cap) {
        s->v[s->n++] = v;
    }
}

/* The nearest-rank percentile of sorted v[0..n-1]. */
static double pct(const double *v, int n, double p)
{
    int k = (int)ceil(p * n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static bool lua_safe_path(const char *s)
{
    return !strpbrk(s, "\"\\\n");
}

static void scenario_latency(void)
{
    struct result *r = new_result("latency", "p99 us", "us", "<= 1000");
    char *err = r->note;
    size_t errsz = sizeof r->note;
    const double delay = 0.002;  /* between incarnations: each exit meets a quiet tend */
    char text[4096];
    struct tend t;
    memset(&t, 0, sizeof t);
    t.fd = t.pidfd = -1;
    struct samples s = {.cap = LAT_N, .tag = "tend: lat "};
    s.v = calloc(LAT_N, sizeof *s.v);
    if (!s.v)
        die("out of memory");
    if (!lua_safe_path(self_bin)) {
        snprintf(err, errsz, "the bench's own path %.900s cannot go into a Lua string", self_bin);
        goto out;
    }
    /* the child prints its CLOCK_MONOTONIC time and exits at once; the hook
     * reads it back from the proc's stdout tail; tend.now() is
     * CLOCK_MONOTONIC too */
    snprintf(text, sizeof text,
             "local n, N = 0, %d\n"
             "local p = tend.proc {\n"
             "  name = \"lat\", cmd = { \"%s\", \"--stamp-exit\" }, restart = \"always\",\n"
             "  backoff = { initial = %g, factor = 1, max = %g, jitter = 0 },\n"
             "  give_up = false,\n"
             "}\n"
             "p:on(\"stopped\", function(p, st, prev)\n"
             "  local t = tend.now()\n"
             "  local line = p:tail(\"stdout\", 1)\n"
             "  local stamp = tonumber(line)\n"
             "  if stamp then\n"
             "    tend.log.info(\"lat %%.3f\", (t - stamp) * 1e6)\n"
             "  else\n"
             "    tend.log.info(\"lat bad stdout %%q\", line)\n"
             "  end\n"
             "  n = n + 1\n"
             "  if n >= N then tend.exit(0) end\n"
             "end)\n",
             LAT_N, self_bin, delay, delay);
    char *policy = write_policy("latency.lua", text);
    if (!tend_spawn(&t, policy, false, err, errsz))
        goto out;
    t.on_line = samples_line;
    t.user = &s;
    if (!tend_until(&t, has_exited, 120)) {
        snprintf(err, errsz, "tend did not finish %d exits within 120 s (%d samples)", LAT_N,
                 s.n);
        tend_context(&t, err, errsz);
        goto out;
    }
    tend_until(&t, at_eof, 1);
    int z = 0, left = list_children(-1, NULL, 0, &z);
    if (left || z) {
        snprintf(err, errsz, "after tend exited: %d processes still running, %d unreaped",
                 left, z);
        goto out;
    }
    if (!WIFEXITED(t.wstatus) || WEXITSTATUS(t.wstatus) != 0 || s.n + s.bad != LAT_N ||
        s.bad) {
        snprintf(err, errsz, "%d samples, %d unreadable (%s) of %d; tend's exit status %#x",
                 s.n, s.bad, s.first_bad, LAT_N, t.wstatus);
        tend_context(&t, err, errsz);
        goto out;
    }
    qsort(s.v, (size_t)s.n, sizeof *s.v, cmp_double);
    double p50 = pct(s.v, s.n, 0.5), p90 = pct(s.v, s.n, 0.9), p99 = pct(s.v, s.n, 0.99),
           mx = s.v[s.n - 1];
    long over = 0;
    for (int i = 0; i < s.n; i++)
        over += s.v[i] > 1000;
    r->tend = p99;
    r->v = p99 <= 1000 ? V_OK : V_MISS;
    snprintf(r->note, sizeof r->note,
             "%d exits, %.0f ms apart; p50 %.0f us, p90 %.0f us, p99 %.0f us, max %.0f us, "
             "min %.0f us; %ld over 1 ms; from the child's own stamp before exit to "
             "tend.now() first thing in a \"stopped\" hook",
             s.n, delay * 1e3, p50, p90, p99, mx, s.v[0], over);
    printf("%-10s tend p50 %.0f us, p99 %.0f us, max %.0f us   (target p99 <= 1000 us)  %s"
           "   [%s]\n",
           r->scenario, p50, p99, mx, verdict_name(r->v), r->note);
    fflush(stdout);
out:
    free(s.v);
    tend_free(&t);
    sweep();
    if (r->v == V_ERROR)
        print_error(r);
}

/* ---- 6. escalation: stop_timeout 200 ms on a child that ignores SIGTERM ---- */

struct esc {
    double el[ESC_N];  /* ms from proc:terminate(0.2) to its answer */
    int n, bad;
    char first_bad[256];
};

/* "tend: esc MS STATE SIGNAL" */
static void esc_line(struct tend *t, const char *line, double tn)
{
    struct esc *e = t->user;
    if (strncmp(line, "tend: esc ", 10) != 0)
        return;
    char state[32] = "", sig[32] = "";
    double ms;
    if (sscanf(line + 10, "%lf %31s %31s", &ms, state, sig) == 3 &&
        strcmp(state, "killed") == 0 && strcmp(sig, "KILL") == 0) {
        if (e->n < ESC_N)
            e->el[e->n++] = ms;
    } else if (!e->bad++) {
        snprintf(e->first_bad, sizeof e->first_bad, "%s", line);
    }
}

static void scenario_escalation(void)
{
    struct result *r = new_result("escalation", "max ms over 200", "ms", "<= 5");
    char *err = r->note;
    size_t errsz = sizeof r->note;
    char text[4096];
    struct tend t;
    memset(&t, 0, sizeof t);
    t.fd = t.pidfd = -1;
    struct esc e;
    memset(&e, 0, sizeof e);
    if (!lua_safe_path(self_bin)) {
        snprintf(err, errsz, "the bench's own path %.900s cannot go into a Lua string", self_bin);
        goto out;
    }
    /* The child sets SIGTERM to SIG_IGN, then prints "armed PID": the
     * task waits for that line of this incarnation before each stop, so a
     * TERM can never land before the child ignores it. */
    snprintf(text, sizeof text,
             "local N = %d\n"
             "local p = tend.proc {\n"
             "  name = \"esc\", cmd = { \"%s\", \"--ignore-term\" },\n"
             "  restart = \"never\", stop_timeout = 0.2,\n"
             "}\n"
             "tend.task(function()\n"
             "  for i = 1, N do\n"
             "    p:start()\n"
             "    local want = \"armed \" .. tostring(p:pid()) .. \"\\n\"\n"
             "    local t_arm = tend.now()\n"
             "    while p:tail(\"stdout\", 1) ~= want do\n"
             "      if tend.now() - t_arm > 5 then\n"
             "        tend.log.error(\"esc: the child never armed\")\n"
             "        tend.exit(3)\n"
             "      end\n"
             "      tend.sleep(0.001)\n"
             "    end\n"
             "    local t0 = tend.now()\n"
             "    local st = p:terminate(0.2)\n"
             "    local el = tend.now() - t0\n"
             "    tend.log.info(\"esc %%.3f %%s %%s\", el * 1e3, st.state, tostring(st.signal))\n"
             "  end\n"
             "  tend.exit(0)\n"
             "end)\n",
             ESC_N, self_bin);
    char *policy = write_policy("escalation.lua", text);
    if (!tend_spawn(&t, policy, false, err, errsz))
        goto out;
    t.on_line = esc_line;
    t.user = &e;
    if (!tend_until(&t, has_exited, 60)) {
        snprintf(err, errsz, "tend did not finish %d rounds within 60 s", ESC_N);
        tend_context(&t, err, errsz);
        goto out;
    }
    tend_until(&t, at_eof, 1);
    int z = 0, left = list_children(-1, NULL, 0, &z);
    if (left || z) {
        snprintf(err, errsz, "after tend exited: %d processes still running, %d unreaped",
                 left, z);
        goto out;
    }
    if (!WIFEXITED(t.wstatus) || WEXITSTATUS(t.wstatus) != 0 || e.n != ESC_N || e.bad) {
        snprintf(err, errsz,
                 "%d of %d rounds ended `killed` by KILL; %d otherwise (%s); tend's exit "
                 "status %#x",
                 e.n, ESC_N, e.bad, e.first_bad, t.wstatus);
        tend_context(&t, err, errsz);
        goto out;
    }
    double over[ESC_N];
    for (int i = 0; i < e.n; i++)
        over[i] = e.el[i] - 200;
    double med = median(over, e.n);  /* sorts */
    double mn = over[0], mx = over[e.n - 1];
    r->tend = mx;
    r->v = mx <= 5 && mn >= 0 ? V_OK : V_MISS;
    snprintf(r->note, sizeof r->note,
             "%d rounds of proc:terminate(0.2) on a child ignoring SIGTERM, each `killed` "
             "by KILL; elapsed - 200 ms: median %+.2f, min %+.2f, max %+.2f ms%s",
             e.n, med, mn, mx,
             mn < 0 ? "; a negative figure: SIGKILL came before the 200 ms were up" : "");
    printf("%-10s tend 200 ms %+.2f ms median, %+.2f ms max   (target 200 ms + at most 5 ms)  "
           "%s   [%s]\n",
           r->scenario, med, mx, verdict_name(r->v), r->note);
    fflush(stdout);
out:
    tend_free(&t);
    sweep();
    if (r->v == V_ERROR)
        print_error(r);
}

/* ---- 7. fan-out, stop-all and memory with 10,000 procs ---- */

/* The most idle procs, up to `want`, that tend can hold under the fd limit
 * (as fd_limit_ok counts, in hundreds); when fewer than `want`, a NOTE
 * saying why, printed and kept in `note`. */
static int procs_that_fit(const char *scenario, int want, char *note, size_t notesz)
{
    int n = want;
    note[0] = 0;
    rlim_t fits = fd_limit > 64 ? (fd_limit - 64) / 3 : 0;  /* as fd_limit_ok counts */
    if ((rlim_t)n > fits) {
        n = (int)(fits / 100 * 100);
        snprintf(note, notesz,
                 "RLIMIT_NOFILE is %llu and its hard limit cannot be raised here; "
                 "%d procs need %llu fds in tend (the stdout, stderr and exec-confirm pipes "
                 "of each proc while it starts); ran %d procs, the most that fit",
                 (unsigned long long)fd_limit, want, (unsigned long long)want * 3 + 64, n);
        printf("%s NOTE: %s\n", scenario, note);
    }
    return n;
}

static void scenario_fanout_big(int want, int reps)
{
    static char m_start[32], m_stop[32];
    char limit_note[512];
    int n = procs_that_fit("fan-out-10k", want, limit_note, sizeof limit_note);
    snprintf(m_start, sizeof m_start, "s to start %d", n);
    snprintf(m_stop, sizeof m_stop, "s to stop %d", n);
    struct result *rs = new_result("fan-out-10k", m_start, "s", "<= 1.5");
    struct result *rk = new_result("stop-10k", m_stop, "s", "<= 1.5");
    struct result *rp = new_result("memory-10k", "KiB a proc", "KiB", "<= 4 KiB");
    struct result *rm = new_result("memory-10k", "MiB, 10000 procs", "MiB", "<= 64 MiB");
    char err[2048] = "";
    if (n < 100) {
        snprintf(err, sizeof err, "%s", limit_note);
        goto fail;
    }
    if (!fd_limit_ok("fan-out-10k", n, err, sizeof err))
        goto fail;

    double ts[8], tk[8], bsv[8], bkv[8];
    long rss = 0, hwm = 0;
    struct fan f;
    if (!fan_rounds(n, reps, ts, tk, bsv, bkv, &rss, &hwm, &f, err, sizeof err))
        goto fail;
    /* the cost of a spawn as the number of procs grows (the last run) */
    char rates[200] = "";
    if (f.rate_first > 0 && base_rate_first > 0)
        snprintf(rates, sizeof rates,
                 "; starts/s over the first and last tenth: tend %.0f -> %.0f, "
                 "baseline %.0f -> %.0f",
                 f.rate_first, f.rate_last, base_rate_first, base_rate_last);
    struct fan one;
    if (!fan_tend(1, &one, err, sizeof err))
        goto fail;

    /* why fewer than 10,000: the quick mode, or the fd limit */
    const char *why = limit_note[0] ? "the fd limit (see the NOTE)" : "the quick mode";
    char count_note[128] = "";
    if (n != FANOUT_BIG)
        snprintf(count_note, sizeof count_note, "; %d procs, not %d: %s", n, FANOUT_BIG,
                 why);
    char start_tail[400];
    snprintf(start_tail, sizeof start_tail, "%s%s", rates, count_note);
    fan_report(rs, rk, n, reps, 1.5, ts, tk, bsv, bkv, start_tail, count_note);

    double per = (double)(rss - one.rss_kib) / (n - 1);
    double total = n == FANOUT_BIG ? rss / 1024.0
                                   : (one.rss_kib + per * (FANOUT_BIG - 1)) / 1024.0;
    rp->tend = per;
    rp->v = per <= 4 ? V_OK : V_MISS;
    snprintf(rp->note, sizeof rp->note,
             "(RSS with %d procs %.1f MiB - RSS with 1 proc %.1f MiB) / %d; VmHWM %.1f MiB",
             n, rss / 1024.0, one.rss_kib / 1024.0, n - 1, hwm / 1024.0);
    printf("%-10s tend %.2f KiB a proc   (target <= 4 KiB)  %s   [%s]\n", rp->scenario, per,
           verdict_name(rp->v), rp->note);
    rm->tend = total;
    rm->base = one.rss_kib / 1024.0;
    rm->ratio = rm->tend / rm->base;
    rm->v = total <= 64 ? V_OK : V_MISS;
    if (n == FANOUT_BIG)
        snprintf(rm->note, sizeof rm->note, "measured with %d procs; baseline: 1 proc", n);
    else
        snprintf(rm->note, sizeof rm->note,
                 "PROJECTED to %d procs from %d (1-proc RSS + %d x %.2f KiB), %d because of "
                 "%s; measured %.1f MiB with %d",
                 FANOUT_BIG, n, FANOUT_BIG - 1, per, n, why, rss / 1024.0, n);
    printf("%-10s tend %.1f MiB RSS with %d procs%s   baseline %.1f MiB (1 proc)  "
           "(target <= 64 MiB)  %s   [%s]\n",
           rm->scenario, total, FANOUT_BIG, n == FANOUT_BIG ? "" : " (projected)", rm->base,
           verdict_name(rm->v), rm->note);
    fflush(stdout);
    return;
fail:
    for (struct result *r = rs; r <= rm; r++) {
        snprintf(r->note, sizeof r->note, "%s", err);
        r->v = V_ERROR;
    }
    print_error(rs);
}

/* ---- 8. check-wakeups: a tcp readiness check, before and after ready ---- */

/* "tend: check-wakeups: ready", the policy's "ready" hook */
static void cw_line(struct tend *t, const char *line, double tn)
{
    double *t_ready = t->user;
    if (strcmp(line, "tend: check-wakeups: ready") == 0 && *t_ready == 0)
        *t_ready = tn;
}

static bool cw_is_ready(struct tend *t)
{
    return *(double *)t->user > 0;
}

/* The baseline, a bare checker: every 100 ms a non-blocking connect to
 * 127.0.0.1:port (waiting for its answer in poll), until one succeeds;
 * then nothing but pause().  The child of fork(): it never returns. */
static void cw_bare_checker(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (;;) {
        sleep_s(0.1);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            _exit(1);
        int err = 0;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                struct pollfd pf = {.fd = fd, .events = POLLOUT};
                socklen_t len = sizeof err;
                if (poll(&pf, 1, 5000) != 1 ||
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                    err = ETIMEDOUT;
            }
        }
        close(fd);
        if (err == 0)
            break;
    }
    for (;;)
        pause();
}

/* tend's and the bare checker's counters: voluntary context switches
 * (wakeups), involuntary ones, clock ticks, ns on the CPU */
struct cw_counts {
    long cs, ncs, ticks, bcs, bticks;
    long long ns;
};

static bool cw_sample(pid_t tend, pid_t helper, struct cw_counts *c)
{
    c->cs = status_field(tend, "voluntary_ctxt_switches");
    c->ncs = status_field(tend, "nonvoluntary_ctxt_switches");
    c->ns = sched_ns(tend);
    c->bcs = status_field(helper, "voluntary_ctxt_switches");
    c->ticks = c->bticks = 0;
    return stat_fields(tend, NULL, NULL, &c->ticks) &&
           stat_fields(helper, NULL, NULL, &c->bticks) && c->cs >= 0 && c->bcs >= 0;
}

/* Pump tend's log for `secs` (no sooner: the window is the measure). */
static void cw_pump_for(struct tend *t, double secs)
{
    double end = now() + secs;
    while (now() < end && !t->exited)
        tend_pump(t, end - now());
}

static void scenario_check_wakeups(double secs)
{
    struct result *rc = new_result("check-wakeups", "wakeups/s, closed", "wk/s", "about 10/s");
    struct result *rr = new_result("check-wakeups", "ctxsw+ticks, ready", "", "0 and 0");
    char err[2048] = "";
    const double settle = 0.3;
    struct tend t;
    memset(&t, 0, sizeof t);
    t.pid = -1;
    t.fd = t.pidfd = -1;
    double t_ready = 0;

    /* The port: bound by the bench, so that nobody else takes it, and not
     * listening, so that a connect is refused; listen() opens it later. */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t salen = sizeof sa;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0) {
        snprintf(err, sizeof err, "a free port on 127.0.0.1: %s", strerror(errno));
        goto fail;
    }
    int port = ntohs(sa.sin_port);

    char text[1024];
    snprintf(text, sizeof text,
             "local p = tend.proc {\n"
             "  name = \"cw\", cmd = { \"sleep\", \"1000\" },\n"
             "  ready = tend.ready.tcp(%d), ready_interval = 0.1,\n"
             "}\n"
             "p:on(\"ready\", function() tend.log.info(\"check-wakeups: ready\") end)\n",
             port);
    char *policy = write_policy("check-wakeups.lua", text);
    if (!tend_spawn(&t, policy, false, err, sizeof err))
        goto fail;
    t.on_line = cw_line;
    t.user = &t_ready;
    t.target = 1;
    if (!tend_until(&t, reached_target, 10)) {
        snprintf(err, sizeof err, "tend did not start the proc within 10 s");
        tend_context(&t, err, sizeof err);
        goto fail;
    }

    /* the baseline, in the same windows */
    pid_t helper = fork();
    if (helper == 0) {
        setpgid(0, 0);
        close(lfd);
        cw_bare_checker(port);
    }
    if (helper < 0) {
        snprintf(err, sizeof err, "fork: %s", strerror(errno));
        goto fail;
    }
    setpgid(helper, helper);
    g_helper = helper;

    /* window 1: the port is closed, tend checks every 100 ms */
    cw_pump_for(&t, settle);
    struct cw_counts a0, a1, b0, b1;
    long lines0 = t.started + t.ends + t.other;
    if (!cw_sample(t.pid, helper, &a0)) {
        snprintf(err, sizeof err, "tend or the bare checker is gone");
        tend_context(&t, err, sizeof err);
        goto fail;
    }
    double w0 = now();
    cw_pump_for(&t, secs);
    double w1 = now();
    bool got1 = cw_sample(t.pid, helper, &a1);
    long lines1 = t.started + t.ends + t.other;
    if (t.exited || !got1) {
        snprintf(err, sizeof err, "tend exited while the port was closed");
        tend_context(&t, err, sizeof err);
        goto fail;
    }
    if (t_ready > 0) {
        snprintf(err, sizeof err,
                 "tend said the proc was ready while nobody listened on port %d", port);
        tend_context(&t, err, sizeof err);
        goto fail;
    }

    /* the port opens: tend's next check succeeds and the checks stop */
    if (listen(lfd, 16) != 0) {
        snprintf(err, sizeof err, "listen on port %d: %s", port, strerror(errno));
        goto fail;
    }
    double t_listen = now();
    if (!tend_until(&t, cw_is_ready, 5)) {
        snprintf(err, sizeof err, "no \"check-wakeups: ready\" within 5 s of listen()");
        tend_context(&t, err, sizeof err);
        goto fail;
    }

    /* window 2: ready, nothing to check */
    cw_pump_for(&t, settle);
    long lines2 = t.started + t.ends + t.other;
    if (!cw_sample(t.pid, helper, &b0)) {
        snprintf(err, sizeof err, "tend or the bare checker is gone");
        tend_context(&t, err, sizeof err);
        goto fail;
    }
    double v0 = now();
    cw_pump_for(&t, secs);
    double v1 = now();
    bool got2 = cw_sample(t.pid, helper, &b1);
    long lines3 = t.started + t.ends + t.other;
    if (t.exited || !got2) {
        snprintf(err, sizeof err, "tend exited after the proc was ready");
        tend_context(&t, err, sizeof err);
        goto fail;
    }

    double span1 = w1 - w0, span2 = v1 - v0;
    long dcs1 = a1.cs - a0.cs, dtk1 = a1.ticks - a0.ticks, bdcs1 = a1.bcs - a0.bcs;
    long dcs2 = b1.cs - b0.cs, dtk2 = b1.ticks - b0.ticks, bdcs2 = b1.bcs - b0.bcs;
    double rate = dcs1 / span1, brate = bdcs1 / span1;
    rc->tend = rate;
    rc->base = brate;
    rc->ratio = brate > 0 ? rate / brate : NAN;
    rc->v = rate >= 5 && rate <= 20 ? V_OK : V_MISS;
    snprintf(rc->note, sizeof rc->note,
             "tend.ready.tcp(%d), ready_interval 0.1, nobody listening; %ld wakeups in "
             "%.2f s; tend: %ld ticks, %ld involuntary switches, %.0f us on CPU, %ld log "
             "lines; baseline: a bare connect every 100 ms, %ld wakeups, %ld ticks; "
             "ok between 5 and 20/s",
             port, dcs1, span1, dtk1, a1.ncs - a0.ncs,
             a0.ns >= 0 && a1.ns >= 0 ? (a1.ns - a0.ns) / 1e3 : -1.0, lines1 - lines0,
             bdcs1, a1.bticks - a0.bticks);
    printf("%-10s tend %.1f wakeups/s, %ld CPU ticks in %.0f s, port closed   baseline "
           "%.1f/s, %ld   (target about 10/s)  %s   [%s]\n",
           rc->scenario, rate, dtk1, secs, brate, a1.bticks - a0.bticks,
           verdict_name(rc->v), rc->note);

    rr->tend = (double)dcs2;
    rr->base = (double)bdcs2;
    rr->v = dcs2 == 0 && dtk2 == 0 ? V_OK : V_MISS;
    snprintf(rr->note, sizeof rr->note,
             "the bench listens on port %d; the \"ready\" hook logged %.0f ms after "
             "listen(); a %.2f s window from %.1f s after that; tend: %ld ticks, %ld "
             "involuntary switches, %.0f us on CPU, %ld log lines; baseline: %ld ticks",
             port, (t_ready - t_listen) * 1e3, span2, settle, dtk2, b1.ncs - b0.ncs,
             b0.ns >= 0 && b1.ns >= 0 ? (b1.ns - b0.ns) / 1e3 : -1.0, lines3 - lines2,
             b1.bticks - b0.bticks);
    printf("%-10s tend %ld wakeups, %ld CPU ticks in %.0f s, ready   baseline %ld, %ld   "
           "(target 0 and 0)  %s   [%s]\n",
           rr->scenario, dcs2, dtk2, secs, bdcs2, b1.bticks - b0.bticks,
           verdict_name(rr->v), rr->note);
    fflush(stdout);
    tend_stop(&t, 15);
    goto out;
fail:
    for (struct result *r = rc; r <= rr; r++) {
        snprintf(r->note, sizeof r->note, "%s", err);
        r->v = V_ERROR;
    }
    print_error(rc);
out:
    if (lfd >= 0)
        close(lfd);
    tend_free(&t);
    sweep();
}

/* ---- 9. output: 1 GiB through tend into a file ---- */

#define OUT_LINE 80             /* bytes a line, the newline included */
#define OUT_CHUNK (64 * 1024)   /* bytes a write */
#define OUT_BYTES (1ULL << 30)
#define OUT_BYTES_QUICK (256ULL << 20)

/* The byte at offset k of the writer's stream (the last one is always a
 * newline: tend would end an unfinished last line with one). */
static char out_byte(unsigned long long k)
{
    static const char text[] = "a line of eighty bytes, written by bench --write-bytes "
                               "for the output scenario ";
    int c = (int)(k % OUT_LINE);
    return c == OUT_LINE - 1 ? '\n' : text[c % (int)(sizeof text - 1)];
}

/* `bench --write-bytes N`: N bytes of 80-byte lines on stdout, in 64 KiB
 * writes (which, like stdio's, end anywhere in a line); the last byte is
 * a newline.  Exit 0 once all is written, 1 on a write error. */
static int child_write_bytes(const char *arg)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(arg, &end, 10);
    if (errno || end == arg || *end || n == 0)
        return 2;
    static char pat[OUT_CHUNK + OUT_LINE], last[OUT_CHUNK];
    for (size_t k = 0; k < sizeof pat; k++)
        pat[k] = out_byte(k);
    for (unsigned long long off = 0; off < n;) {
        size_t len = n - off < OUT_CHUNK ? (size_t)(n - off) : OUT_CHUNK;
        const char *p = pat + off % OUT_LINE;
        if (off + len == n) {  /* the last write: end in a newline */
            memcpy(last, p, len);
            last[len - 1] = '\n';
            p = last;
        }
        ssize_t w = write(1, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 1;
        off += (unsigned long long)w;
    }
    return 0;
}

/* The file the writer's stream went to: exactly `bytes`, the first and the
 * last line as written?  Else false with the reason. */
static bool out_check(const char *path, unsigned long long bytes, char *err, size_t errsz)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        return false;
    }
    if ((unsigned long long)sb.st_size != bytes) {
        snprintf(err, errsz, "%s has %lld bytes, not %llu", path, (long long)sb.st_size,
                 bytes);
        return false;
    }
    char head[OUT_LINE], tail[OUT_LINE];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head &&
              pread(fd, tail, sizeof tail, (off_t)(bytes - sizeof tail)) ==
                  (ssize_t)sizeof tail;
    if (fd >= 0)
        close(fd);
    for (unsigned long long k = 0; ok && k < OUT_LINE; k++) {
        unsigned long long at = bytes - OUT_LINE + k;
        ok = head[k] == out_byte(k) && tail[k] == (at == bytes - 1 ? '\n' : out_byte(at));
    }
    if (!ok)
        snprintf(err, errsz, "%s: the first or the last line is not what was written", path);
    return ok;
}

struct out_run {
    double secs;       /* wall time */
    double cpu;        /* s on the CPU: tend's own, or cat's */
    double wcpu;       /* the writer's (the baseline only) */
};

/* tend with one proc, the writer, `output` to a file; from tend's exec to
 * its exit (it exits once the proc has ended: restart "never"). */
/* Before each run, not timed: no file of an earlier run, and nothing of the
 * file system's left to write back (a flush of the last run's data would
 * fall into this one). */
static void out_clean(const char *file)
{
    unlink(file);
    int fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
}

static bool out_tend(unsigned long long bytes, const char *file, struct out_run *o, char *err,
                     size_t errsz)
{
    char text[2048];
    struct tend t;
    bool ok = false;
    memset(o, 0, sizeof *o);
    out_clean(file);
    snprintf(text, sizeof text,
             "tend.proc {\n"
             "  name = \"out\", cmd = { \"%s\", \"--write-bytes\", \"%llu\" },\n"
             "  restart = \"never\", output = \"%s\",\n"
             "}\n",
             self_bin, bytes, file);
    char *policy = write_policy("output.lua", text);
    if (!tend_spawn(&t, policy, false, err, errsz))
        goto out;
    if (!tend_until(&t, has_exited, 300)) {
        snprintf(err, errsz, "tend did not exit within 300 s (%llu bytes to write)", bytes);
        tend_context(&t, err, errsz);
        goto out;
    }
    tend_until(&t, at_eof, 1);
    if (!WIFEXITED(t.wstatus) || WEXITSTATUS(t.wstatus) != 0 || t.started != 1 ||
        t.ends != 1) {
        snprintf(err, errsz, "tend's exit status %#x, %ld started, %ld ended (want 0, 1, 1)",
                 t.wstatus, t.started, t.ends);
        tend_context(&t, err, errsz);
        goto out;
    }
    if (!out_check(file, bytes, err, errsz))
        goto out;
    o->secs = t.t_exit - t.t_spawn;
    o->cpu = t.exit_ns >= 0   ? t.exit_ns / 1e9
             : t.exit_ticks >= 0 ? (double)t.exit_ticks / (double)sysconf(_SC_CLK_TCK)
                                 : NAN;
    ok = true;
out:
    tend_free(&t);
    unlink(file);
    sweep();
    return ok;
}

static double ru_secs(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}

/* The baseline: the same writer piped into `cat > file`; from the spawn of
 * the writer to cat's exit. */
static bool out_base(unsigned long long bytes, const char *file, struct out_run *o, char *err,
                     size_t errsz)
{
    bool ok = false;
    memset(o, 0, sizeof *o);
    out_clean(file);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(err, errsz, "pipe: %s", strerror(errno));
        return false;
    }
    char nbuf[32];
    snprintf(nbuf, sizeof nbuf, "%llu", bytes);
    char *wargv[] = {self_bin, "--write-bytes", nbuf, NULL};
    char *cargv[] = {"cat", NULL};
    posix_spawn_file_actions_t fw, fc;
    posix_spawn_file_actions_init(&fw);
    posix_spawn_file_actions_addopen(&fw, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fw, p[1], 1);
    posix_spawn_file_actions_init(&fc);
    posix_spawn_file_actions_adddup2(&fc, p[0], 0);
    posix_spawn_file_actions_addopen(&fc, 1, file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t wpid = -1, cpid = -1;
    double t0 = now();
    int rc = posix_spawn(&wpid, self_bin, &fw, NULL, wargv, environ);
    if (rc == 0) {
        g_base[0] = wpid;
        g_nbase = 1;
        rc = posix_spawnp(&cpid, "cat", &fc, NULL, cargv, environ);
        if (rc == 0) {
            g_base[1] = cpid;
            g_nbase = 2;
        }
    }
    close(p[0]);
    close(p[1]);
    posix_spawn_file_actions_destroy(&fw);
    posix_spawn_file_actions_destroy(&fc);
    if (rc != 0) {
        snprintf(err, errsz, "baseline: posix_spawn %s: %s", wpid < 0 ? self_bin : "cat",
                 strerror(rc));
        goto out;
    }
    int cst = 0, wst = 0;
    struct rusage cru, wru;
    while (wait4(cpid, &cst, 0, &cru) < 0 && errno == EINTR)
        ;
    double t1 = now();
    while (wait4(wpid, &wst, 0, &wru) < 0 && errno == EINTR)
        ;
    g_nbase = 0;
    if (!WIFEXITED(cst) || WEXITSTATUS(cst) != 0 || !WIFEXITED(wst) ||
        WEXITSTATUS(wst) != 0) {
        snprintf(err, errsz, "baseline: cat's exit status %#x, the writer's %#x", cst, wst);
        goto out;
    }
    if (!out_check(file, bytes, err, errsz))
        goto out;
    o->secs = t1 - t0;
    o->cpu = ru_secs(&cru);
    o->wcpu = ru_secs(&wru);
    ok = true;
out:
    unlink(file);
    sweep();
    return ok;
}

static void scenario_output(unsigned long long bytes, int reps)
{
    struct result *r = new_result("output", "MB/s into a file", "MB/s", ">= 0.9");
    char *err = r->note;
    size_t errsz = sizeof r->note;
    char file[512];
    snprintf(file, sizeof file, "%s/out.log", tmpdir);
    if (!lua_safe_path(self_bin) || !lua_safe_path(file)) {
        snprintf(err, errsz, "the bench's path %.400s or %.400s cannot go into a Lua string",
                 self_bin, file);
        print_error(r);
        return;
    }
    /* a warm-up of both, not counted: page cache, the binaries */
    struct out_run o, b;
    if (!out_base(16 << 20, file, &b, err, errsz) || !out_tend(16 << 20, file, &o, err, errsz)) {
        print_error(r);
        return;
    }
    double ts[8], bs[8], tcpu[8], bcpu[8], wcpu[8];
    for (int i = 0; i < reps; i++) {
        /* alternate the order: neither always runs after the other */
        bool first_tend = i % 2 == 0;
        if (!(first_tend ? out_tend(bytes, file, &o, err, errsz)
                         : out_base(bytes, file, &b, err, errsz)) ||
            !(first_tend ? out_base(bytes, file, &b, err, errsz)
                         : out_tend(bytes, file, &o, err, errsz))) {
            print_error(r);
            return;
        }
        ts[i] = o.secs;
        bs[i] = b.secs;
        tcpu[i] = o.cpu;
        bcpu[i] = b.cpu;
        wcpu[i] = b.wcpu;
    }
    /* The figure is each side's best run.  The noise on this kind of
     * machine only ever slows a run down, and it is large and one-sided for
     * the baseline (a virtual machine's page cache: the same `cat` run takes
     * 0.5 s or 1.4 s a GiB), so a median compares tend with the machine's
     * bad luck; the medians are in the note. */
    int ti = 0, bi = 0;
    for (int i = 1; i < reps; i++) {
        if (ts[i] < ts[ti])
            ti = i;
        if (bs[i] < bs[bi])
            bi = i;
    }
    double tbest = ts[ti], bbest = bs[bi];
    double tmax = ts[0], bmax = bs[0];
    for (int i = 1; i < reps; i++) {
        tmax = fmax(tmax, ts[i]);
        bmax = fmax(bmax, bs[i]);
    }
    double tcb = tcpu[ti], bcb = bcpu[bi], wcb = wcpu[bi];
    double tm = median(ts, reps), bm = median(bs, reps);  /* (sorts) */
    double mb = (double)bytes / 1e6;
    r->tend = mb / tbest;
    r->base = mb / bbest;
    r->ratio = r->tend / r->base;
    r->v = r->ratio >= 0.9 ? V_OK : V_MISS;
    snprintf(r->note, sizeof r->note,
             "%llu MiB of %d-byte lines in %d KiB writes; best of %d runs each, in turn; "
             "tend %.3f s (worst %.3f) from its exec to its exit, output = \"<tmp>/out.log\", "
             "%.3f s on the CPU itself (%.0f%%); baseline %.3f s (worst %.3f) to cat's exit, "
             "cat %.3f s on the CPU, the writer %.3f s; medians: tend %.0f MB/s, baseline "
             "%.0f MB/s, ratio %.2f; the file's size and ends checked each run",
             bytes >> 20, OUT_LINE, OUT_CHUNK / 1024, reps, tbest, tmax, tcb,
             100 * tcb / tbest, bbest, bmax, bcb, wcb, mb / tm, mb / bm, bm / tm);
    printf("%-10s tend %.0f MB/s   baseline %.0f MB/s (writer | cat > file)   ratio %.3f  "
           "(target >= 0.9)  %s   [%s]\n",
           r->scenario, r->tend, r->base, r->ratio, verdict_name(r->v), r->note);
    fflush(stdout);
}

/* ---- 10. control: `tend status` with many procs ---- */

#define CTL_RUNS 5

/* `tend ARGS... --socket SOCK`, stdout to `out`: its wall time in s, from
 * the spawn to its exit; -1 with `err` when it failed. */
static double ctl_client(const char *const args[], const char *out, char *err, size_t errsz)
{
    const char *argv[16];
    int k = 0;
    argv[k++] = tend_bin;
    for (int i = 0; args[i] && k < 12; i++)
        argv[k++] = args[i];
    argv[k++] = "--socket";
    argv[k++] = sock_path;
    argv[k] = NULL;
    char errfile[512];
    snprintf(errfile, sizeof errfile, "%s/client.err", tmpdir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    double t0 = now();
    int rc = posix_spawn(&pid, tend_bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        snprintf(err, errsz, "cannot run %s: %s", tend_bin, strerror(rc));
        return -1;
    }
    g_base[0] = pid;
    g_nbase = 1;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    double t1 = now();
    g_nbase = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char msg[512] = "";
        read_text(errfile, msg, sizeof msg);
        msg[strcspn(msg, "\n")] = 0;
        snprintf(err, errsz, "`tend %s%s%s` exit status %#x: %s", args[0],
                 args[1] ? " " : "", args[1] ? args[1] : "", st, msg);
        return -1;
    }
    return t1 - t0;
}

/* tend's side alone: {"cmd":"status"} over the socket from here, to the
 * reply's newline (no client to exec, nothing to print).  Its wall time in
 * s and the reply's size, or -1 with `err`. */
static double ctl_raw(size_t *bytes, char *err, size_t errsz)
{
    double t0 = now();
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    static const char req[] = "{\"cmd\": \"status\"}\n";
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
        snprintf(err, errsz, "the status request on %s: %s", sock_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    static char buf[1 << 16];
    size_t total = 0;
    bool done = false, ok_reply = false;
    ssize_t n;
    while (!done && (n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (total == 0)  /* {"ok": true, ... */
            ok_reply = n >= 10 && memcmp(buf, "{\"ok\":", 6) == 0 &&
                       memmem(buf + 6, (size_t)(n < 16 ? n : 16) - 6, "true", 4);
        total += (size_t)n;
        done = buf[n - 1] == '\n';
    }
    double t1 = now();
    close(fd);
    if (!done || !ok_reply) {
        snprintf(err, errsz, "the status request on %s: %s after %zu bytes", sock_path,
                 done ? "not an ok reply" : "no complete reply", total);
        return -1;
    }
    *bytes = total;
    return t1 - t0;
}

/* How many times `needle` occurs in the file `path`, or -1. */
static long count_in_file(const char *path, const char *needle, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char *text = malloc((size_t)sb.st_size + 1);
    if (!text)
        die("out of memory");
    size_t len = 0;
    ssize_t n;
    while (len < (size_t)sb.st_size && (n = read(fd, text + len, (size_t)sb.st_size - len)) > 0)
        len += (size_t)n;
    close(fd);
    text[len] = 0;
    long count = 0;
    size_t k = strlen(needle);
    for (char *p = text; (p = strstr(p, needle)); p += k)
        count++;
    free(text);
    *size = len;
    return count;
}

static double spread_lo(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = fmin(m, v[i]);
    return m;
}

static double spread_hi(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = fmax(m, v[i]);
    return m;
}

/* One tend with n idle procs, all started: the client commands' times. */
struct ctl_fig {
    double json, table, one, raw, ver;        /* medians, ms */
    double json_lo, json_hi, table_lo, table_hi, one_lo, one_hi;
    size_t jsize, tsize, raw_bytes;
    long rss_kib, ticks;
};

static bool ctl_measure(int n, struct ctl_fig *f, char *err, size_t errsz)
{
    memset(f, 0, sizeof *f);
    struct tend t;
    bool ok = false;
    if (!tend_spawn(&t, fanout_policy(n), false, err, errsz))
        goto out;
    t.target = n;
    if (!tend_until(&t, reached_target, 60)) {
        snprintf(err, errsz, "only %ld of %d procs started within 60 s", t.started, n);
        tend_context(&t, err, errsz);
        goto out;
    }
    double settle = now() + 0.3;
    while (now() < settle && !t.exited)
        tend_pump(&t, settle - now());

    char out_json[512], out_table[512], out_one[512], last[32];
    snprintf(out_json, sizeof out_json, "%s/status.json", tmpdir);
    snprintf(out_table, sizeof out_table, "%s/status.txt", tmpdir);
    snprintf(out_one, sizeof out_one, "%s/status-one.txt", tmpdir);
    snprintf(last, sizeof last, "s%d", n);  /* the last declared: any lookup goes far */
    const char *a_json[] = {"status", "--json", NULL};
    const char *a_table[] = {"status", NULL};
    const char *a_one[] = {"status", last, NULL};
    const char *a_ver[] = {"--version", NULL};

    /* once with the output kept: is it all there? */
    size_t osize = 0;
    if (ctl_client(a_json, out_json, err, errsz) < 0 ||
        ctl_client(a_table, out_table, err, errsz) < 0 ||
        ctl_client(a_one, out_one, err, errsz) < 0)
        goto out;
    long jn = count_in_file(out_json, "\"state\": \"ready\"", &f->jsize);
    long tn = count_in_file(out_table, "\n", &f->tsize);
    long on = count_in_file(out_one, "\n", &osize);
    unlink(out_json);
    unlink(out_table);
    unlink(out_one);
    if (jn != n || tn != n + 1 || on != 2) {
        snprintf(err, errsz,
                 "the status output: %ld procs `ready` in --json, %ld lines in the table, "
                 "%ld for one NAME (want %d, %d, 2)",
                 jn, tn, on, n, n + 1);
        goto out;
    }
    /* the runs, round-robin so that drift touches all alike; a raw request
     * from here shows tend's side, `tend --version` the cost of the exec */
    double vj[CTL_RUNS], vt[CTL_RUNS], v1[CTL_RUNS], vr[CTL_RUNS], vv[CTL_RUNS];
    for (int i = 0; i < CTL_RUNS; i++) {
        tend_pump(&t, 0);
        if ((vj[i] = ctl_client(a_json, "/dev/null", err, errsz)) < 0 ||
            (vt[i] = ctl_client(a_table, "/dev/null", err, errsz)) < 0 ||
            (v1[i] = ctl_client(a_one, "/dev/null", err, errsz)) < 0 ||
            (vr[i] = ctl_raw(&f->raw_bytes, err, errsz)) < 0 ||
            (vv[i] = ctl_client(a_ver, "/dev/null", err, errsz)) < 0)
            goto out;
    }
    if (t.exited) {
        snprintf(err, errsz, "tend exited during the status requests");
        tend_context(&t, err, errsz);
        goto out;
    }
    stat_fields(t.pid, NULL, NULL, &f->ticks);
    f->rss_kib = status_field(t.pid, "VmRSS");
    f->json_lo = spread_lo(vj, CTL_RUNS) * 1e3;
    f->json_hi = spread_hi(vj, CTL_RUNS) * 1e3;
    f->table_lo = spread_lo(vt, CTL_RUNS) * 1e3;
    f->table_hi = spread_hi(vt, CTL_RUNS) * 1e3;
    f->one_lo = spread_lo(v1, CTL_RUNS) * 1e3;
    f->one_hi = spread_hi(v1, CTL_RUNS) * 1e3;
    f->json = median(vj, CTL_RUNS) * 1e3;
    f->table = median(vt, CTL_RUNS) * 1e3;
    f->one = median(v1, CTL_RUNS) * 1e3;
    f->raw = median(vr, CTL_RUNS) * 1e3;
    f->ver = median(vv, CTL_RUNS) * 1e3;
    if (tend_stop(&t, 60) < 0) {
        snprintf(err, errsz, "tend did not exit within 60 s of SIGTERM");
        goto out;
    }
    ok = true;
out:
    tend_free(&t);
    sweep();
    return ok;
}

/* The time with `want` procs from two sizes a and b: a line through them. */
static double ctl_project(double ya, int a, double yb, int b, int want)
{
    return yb + (yb - ya) / (b - a) * (want - b);
}

static void scenario_control(int want)
{
    static char m_json[40], m_table[40], m_one[40];
    char limit_note[512];
    int n = procs_that_fit("control", want, limit_note, sizeof limit_note);
    bool project = n < FANOUT_BIG;
    snprintf(m_json, sizeof m_json, "ms, --json, %d%s", project ? FANOUT_BIG : n,
             project ? " (proj)" : "");
    snprintf(m_table, sizeof m_table, "ms, table, %d", n);
    snprintf(m_one, sizeof m_one, "ms, one NAME, %d", n);
    struct result *rj = new_result("control", m_json, "ms", "<= 100 ms");
    struct result *rt = new_result("control", m_table, "ms", "-");
    struct result *r1 = new_result("control", m_one, "ms", "-");
    char err[2048] = "";
    if (n < 100) {
        snprintf(err, sizeof err, "%s", limit_note);
        goto fail;
    }
    if (!fd_limit_ok("control", n, err, sizeof err))
        goto fail;
    /* with fewer than 10,000 procs (the fd limit, the quick mode), a second
     * tend with half as many gives the cost a proc: the figure at 10,000
     * is projected along that line */
    struct ctl_fig f, h;
    int half = n / 2;
    if ((project && !ctl_measure(half, &h, err, sizeof err)) ||
        !ctl_measure(n, &f, err, sizeof err))
        goto fail;

    const char *why = limit_note[0] ? "the fd limit (see the NOTE)" : "the quick mode";
    char proj[400] = "";
    double fig = f.json;
    if (project) {
        fig = ctl_project(h.json, half, f.json, n, FANOUT_BIG);
        snprintf(proj, sizeof proj,
                 "PROJECTED to %d procs from %.1f ms with %d and %.1f ms with %d (%.1f us a "
                 "proc; tend's side alone %.1f and %.1f ms), %d because of %s; ",
                 FANOUT_BIG, h.json, half, f.json, n, (f.json - h.json) / (n - half) * 1e3,
                 h.raw, f.raw, n, why);
    }
    rj->tend = fig;
    rj->v = fig <= 100 ? V_OK : V_MISS;
    snprintf(rj->note, sizeof rj->note,
             "%s`tend status --json --socket PATH > /dev/null`, spawn to exit, median of %d; "
             "with %d procs %.1f ms (%.1f..%.1f), %zu bytes of JSON; tend's side alone (a "
             "raw {\"cmd\":\"status\"} from the bench to the reply's end, %zu bytes): %.1f ms; "
             "the exec floor (`tend --version`): %.1f ms",
             proj, CTL_RUNS, n, f.json, f.json_lo, f.json_hi, f.jsize, f.raw_bytes, f.raw,
             f.ver);
    printf("%-10s tend %.1f ms for `status --json` with %d procs%s   (target <= 100 ms)  %s"
           "   [%s]\n",
           rj->scenario, fig, project ? FANOUT_BIG : n, project ? " (projected)" : "",
           verdict_name(rj->v), rj->note);
    rt->tend = f.table;
    rt->v = V_INFO;
    snprintf(rt->note, sizeof rt->note,
             "`tend status`, median of %d, %.1f..%.1f ms; %zu bytes", CTL_RUNS, f.table_lo,
             f.table_hi, f.tsize);
    if (project)
        snprintf(rt->note + strlen(rt->note), sizeof rt->note - strlen(rt->note),
                 "; %.1f ms with %d procs; projected to %d: %.1f ms", h.table, half,
                 FANOUT_BIG, ctl_project(h.table, half, f.table, n, FANOUT_BIG));
    printf("%-10s tend %.1f ms for `status` (the table) with %d procs   (no target)   [%s]\n",
           rt->scenario, f.table, n, rt->note);
    r1->tend = f.one;
    r1->v = V_INFO;
    snprintf(r1->note, sizeof r1->note,
             "`tend status s%d` (the last declared of %d), median of %d, %.1f..%.1f ms; "
             "tend after all requests: RSS %.1f MiB, %ld CPU ticks in all",
             n, n, CTL_RUNS, f.one_lo, f.one_hi, f.rss_kib / 1024.0, f.ticks);
    if (project)
        snprintf(r1->note + strlen(r1->note), sizeof r1->note - strlen(r1->note),
                 "; with %d procs: %.1f ms", half, h.one);
    printf("%-10s tend %.1f ms for `status s%d` with %d procs   (no target)   [%s]\n",
           r1->scenario, f.one, n, n, r1->note);
    fflush(stdout);
    return;
fail:
    for (struct result *r = rj; r <= r1; r++) {
        snprintf(r->note, sizeof r->note, "%s", err);
        r->v = V_ERROR;
    }
    print_error(rj);
}

/* ---- the bench binary as a child of tend ---- */

/* --stamp-exit: print this moment's CLOCK_MONOTONIC seconds (the clock of
 * tend.now()) and exit at once. */
static int child_stamp_exit(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
    ssize_t w = write(1, buf, (size_t)n);
    _exit(w == n ? 0 : 1);
}

/* --ignore-term: ignore SIGTERM, say "armed PID", wait for SIGKILL. */
static void child_ignore_term(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGTERM, &sa, NULL);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "armed %d\n", (int)getpid());
    if (write(1, buf, (size_t)n) != n)
        _exit(1);
    for (;;)
        pause();
}

/* ---- the machine ---- */

static void print_machine(void)
{
    cpu_set_t set;
    int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                             : (int)sysconf(_SC_NPROCESSORS_ONLN);
    struct utsname u;
    uname(&u);
    char info[1 << 16], model[256] = "unknown CPU";
    if (read_text("/proc/cpuinfo", info, sizeof info)) {
        static const char *const keys[] = {"model name", "Hardware", "cpu model", "Model"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            char *l = strstr(info, keys[k]);
            char *c = l ? strchr(l, ':') : NULL;
            if (c) {
                c += 1 + strspn(c + 1, " \t");
                snprintf(model, sizeof model, "%.*s", (int)strcspn(c, "\n"), c);
                break;
            }
        }
    }
    char load[128] = "?";
    if (read_text("/proc/loadavg", load, sizeof load))
        load[strcspn(load, "\n")] = 0;
    printf("machine: %d cores, %s %s, %s\n", cores, u.sysname, u.release, model);
    printf("         load average %s; RLIMIT_NOFILE %llu; tend %s\n", load,
           (unsigned long long)fd_limit, tend_bin);
    if (atof(load) > cores)
        printf("         note: load %.2f on %d cores: other work will add noise\n",
               atof(load), cores);
}

static void print_summary(void)
{
    printf("\nsummary\n");
    printf("%-13s %-22s %12s %12s %7s  %-10s %s\n", "scenario", "metric", "tend",
           "baseline", "ratio", "target", "result");
    for (int i = 0; i < nresults; i++) {
        const struct result *r = &results[i];
        char a[32] = "-", b[32] = "-", c[32] = "-";
        int prec = strcmp(r->unit, "s") == 0     ? 3
                   : strcmp(r->unit, "ms") == 0  ? 2
                   : strcmp(r->unit, "KiB") == 0 ? 2
                   : strcmp(r->unit, "MiB") == 0 ? 1
                   : strcmp(r->unit, "wk/s") == 0 ? 1
                                                 : 0;
        if (!isnan(r->tend))
            snprintf(a, sizeof a, "%.*f", prec, r->tend);
        if (!isnan(r->base))
            snprintf(b, sizeof b, "%.*f", prec, r->base);
        if (!isnan(r->ratio))
            snprintf(c, sizeof c, "%.2f", r->ratio);
        printf("%-13s %-22s %12s %12s %7s  %-10s %s\n", r->scenario, r->metric, a, b, c,
               r->target, verdict_name(r->v));
    }
}

static void remove_tmpdir(void)
{
    if (!tmpdir[0])
        return;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        char path[600];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
                unlink(path);
            }
        closedir(d);
    }
    rmdir(tmpdir);
}

/* BENCH_ONLY=name,name: only those scenarios (for a closer look at one). */
static bool run_it(const char *name)
{
    const char *only = getenv("BENCH_ONLY");
    if (!only || !*only)
        return true;
    size_t k = strlen(name);
    for (const char *p = only; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ','))
        if (strncmp(p, name, k) == 0 && (p[k] == ',' || p[k] == 0))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    /* the child modes of the latency and escalation scenarios */
    if (argc == 2 && strcmp(argv[1], "--stamp-exit") == 0)
        return child_stamp_exit();
    if (argc == 2 && strcmp(argv[1], "--ignore-term") == 0)
        child_ignore_term();
    if (argc == 3 && strcmp(argv[1], "--write-bytes") == 0)
        return child_write_bytes(argv[2]);
    if (argc != 2 || argv[1][0] == '-')
        die("usage: bench TEND_BINARY   (BENCH_QUICK=1: short run)");
    tend_bin = argv[1];
    if (access(tend_bin, X_OK) != 0)
        die("%s: %s", tend_bin, strerror(errno));
    ssize_t sl = readlink("/proc/self/exe", self_bin, sizeof self_bin - 1);
    if (sl <= 0 || (size_t)sl >= sizeof self_bin - 1)
        die("cannot find this program's own path (/proc/self/exe)");
    self_bin[sl] = 0;
    const char *q = getenv("BENCH_QUICK");
    quick = q && *q && strcmp(q, "0") != 0;
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);  /* reset to default in every child */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
    raise_fd_limit();

    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/tend-bench-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir))
        die("mkdtemp %s: %s", tmpdir, strerror(errno));
    atexit(remove_tmpdir);
    /* tend's control socket: our own, never the default one */
    if ((size_t)snprintf(sock_path, sizeof sock_path, "%s/tend.sock", tmpdir) >=
        sizeof sock_path)
        die("%s/tend.sock is too long for a unix socket path (at most %zu bytes): "
            "set TMPDIR to a shorter directory", tmpdir, sizeof sock_path - 1);

    double window = quick ? 3 : 10;
    int reps = quick ? 3 : 5;
    int big = quick ? FANOUT_BIG_QUICK : FANOUT_BIG, big_reps = quick ? 1 : 3;
    print_machine();
    double cw_window = quick ? 1 : 2;
    unsigned long long out_bytes = quick ? OUT_BYTES_QUICK : OUT_BYTES;
    int out_reps = quick ? 3 : 5;
    printf("mode:    %s (churn and idle windows %.0f s, fan-out %d procs x %d, "
           "fan-out-10k %d procs x %d, latency %d exits, escalation %d rounds, "
           "check-wakeups windows %.0f s, output %llu MiB x %d, control up to %d procs)\n\n",
           quick ? "quick" : "full", window, FANOUT_N, reps, big, big_reps, LAT_N, ESC_N,
           cw_window, out_bytes >> 20, out_reps, big);

    if (run_it("churn"))
        scenario_churn(window);
    if (run_it("churn-hook"))
        scenario_churn_hook(window);
    if (run_it("fan-out"))
        scenario_fanout(reps);
    if (run_it("idle"))
        scenario_idle(window);
    if (run_it("latency"))
        scenario_latency();
    if (run_it("escalation"))
        scenario_escalation();
    if (run_it("fan-out-10k"))
        scenario_fanout_big(big, big_reps);
    if (run_it("check-wakeups"))
        scenario_check_wakeups(cw_window);
    if (run_it("output"))
        scenario_output(out_bytes, out_reps);
    if (run_it("control"))
        scenario_control(big);
    print_summary();

    int errors = 0, misses = 0, infos = 0;
    for (int i = 0; i < nresults; i++) {
        errors += results[i].v == V_ERROR;
        misses += results[i].v == V_MISS;
        infos += results[i].v == V_INFO;
    }
    printf("\n%d of %d targets met", nresults - infos - errors - misses, nresults - infos);
    if (misses)
        printf(", %d missed", misses);
    if (errors)
        printf(", %d could not be measured", errors);
    printf("\n");
    const char *strict = getenv("BENCH_STRICT");
    if (errors)
        return 1;
    return misses && strict && *strict && strcmp(strict, "0") != 0 ? 1 : 0;
}
