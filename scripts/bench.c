/* bench.c -- `make bench`: tend against the physical baseline.
 *
 *   bench TEND_BINARY          (BENCH_QUICK=1 for a short run,
 *                               BENCH_STRICT=1 to exit 1 on a missed target)
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define FANOUT_N 1000
#define IDLE_N 100
#define MAX_BASE (FANOUT_N + 16)

static bool quick;
static char tmpdir[256];
static const char *tend_bin;

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
    if (waitpid(t->pid, &t->wstatus, WNOHANG) == t->pid) {
        t->exited = true;
        t->t_exit = now();
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
    if (want_pids) {
        t->cap = 1024;
        t->pids = malloc((size_t)t->cap * sizeof *t->pids);
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
    char *argv[] = {(char *)tend_bin, "run", (char *)policy, NULL};
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

enum verdict { V_OK, V_MISS, V_ERROR };

struct result {
    const char *scenario, *metric, *unit;
    double tend, base, ratio;  /* NAN where it does not apply */
    const char *target;
    enum verdict v;
    char note[2048];
};

static struct result results[8];
static int nresults;

static const char *verdict_name(enum verdict v)
{
    return v == V_OK ? "ok" : v == V_MISS ? "MISS" : "ERROR";
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

/* ---- 1. churn ---- */

static void scenario_churn(double secs)
{
    struct result *r = new_result("churn", "restarts/s", "/s", ">= 0.8");
    char *policy = write_policy(
        "churn.lua",
        "tend.proc {\n"
        "  name = \"t\", cmd = { \"/bin/true\" }, restart = \"always\",\n"
        "  backoff = { initial = 0, factor = 1, max = 0, jitter = 0 },\n"
        "}\n");
    struct tend t;
    char *err = r->note;
    size_t errsz = sizeof r->note;
    if (!tend_spawn(&t, policy, false, err, errsz))
        goto out;
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
    double window = now() - t.t_first;
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
    double rate = (double)t.counted / window;
    double cpu = (double)(ticks1 - ticks0) / (double)sysconf(_SC_CLK_TCK) / window;

    /* baseline: posix_spawn + waitpid of /bin/true, back to back */
    char *argv[] = {"/bin/true", NULL};
    long spawns = 0;
    double t0 = now(), end = t0 + secs;
    while ((tn = now()) < end) {
        pid_t pid;
        int rc = spawn_bare(&pid, "/bin/true", argv);
        if (rc != 0) {
            snprintf(err, errsz, "baseline: posix_spawn /bin/true: %s", strerror(rc));
            goto out;
        }
        g_base[0] = pid;
        g_nbase = 1;
        waitpid(pid, NULL, 0);
        g_nbase = 0;
        spawns++;
    }
    double base = (double)spawns / (tn - t0);

    r->tend = rate;
    r->base = base;
    r->ratio = rate / base;
    r->v = r->ratio >= 0.8 ? V_OK : V_MISS;
    snprintf(r->note, sizeof r->note, "%ld restarts in %.2f s; tend itself used %.0f%% of a CPU",
             t.counted, window, cpu * 100);
    printf("%-10s tend %.0f restarts/s   baseline %.0f spawns/s   ratio %.2f  "
           "(target >= 0.8)  %s   [%s]\n",
           r->scenario, rate, base, r->ratio, verdict_name(r->v), r->note);
    fflush(stdout);
out:
    tend_free(&t);
    sweep();
    if (r->v == V_ERROR)
        print_error(r);
}

/* ---- 2 and 3. fan-out, stop-all and memory ---- */

struct fan {
    double start, stop;    /* seconds */
    long rss_kib, hwm_kib;
    long leftovers, zombies, ends;
};

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
static bool fan_base(int n, double *start, double *stop, char *err, size_t errsz)
{
    char *argv[] = {"sleep", "1000", NULL};
    bool ok = false;
    g_nbase = 0;
    double t0 = now();
    for (int i = 0; i < n; i++) {
        int rc = spawn_bare(&g_base[i], "sleep", argv);
        if (rc != 0) {
            snprintf(err, errsz, "baseline: posix_spawn sleep #%d: %s", i + 1, strerror(rc));
            goto out;
        }
        g_nbase = i + 1;
    }
    double t1 = now();
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
    for (int i = 0; i < reps; i++) {
        /* alternate the order so that neither always runs on a fresh machine */
        if (i % 2 == 0) {
            if (!fan_tend(FANOUT_N, &f, err, sizeof err) ||
                !fan_base(FANOUT_N, &bsv[i], &bkv[i], err, sizeof err))
                goto fail;
        } else {
            if (!fan_base(FANOUT_N, &bsv[i], &bkv[i], err, sizeof err) ||
                !fan_tend(FANOUT_N, &f, err, sizeof err))
                goto fail;
        }
        ts[i] = f.start;
        tk[i] = f.stop;
        if (f.rss_kib > rss)
            rss = f.rss_kib;
        if (f.hwm_kib > hwm)
            hwm = f.hwm_kib;
    }
    /* memory reference: the same policy with one proc */
    struct fan one;
    if (!fan_tend(1, &one, err, sizeof err))
        goto fail;

    char spread_s[64] = "", spread_k[64] = "";
    if (reps > 1) {
        double a[8], b[8];
        memcpy(a, ts, sizeof a);
        memcpy(b, tk, sizeof b);
        qsort(a, (size_t)reps, sizeof *a, cmp_double);
        qsort(b, (size_t)reps, sizeof *b, cmp_double);
        snprintf(spread_s, sizeof spread_s, "median of %d, %.3f..%.3f s; ", reps, a[0],
                 a[reps - 1]);
        snprintf(spread_k, sizeof spread_k, "median of %d, %.3f..%.3f s; ", reps, b[0],
                 b[reps - 1]);
    }
    rs->tend = median(ts, reps);
    rs->base = median(bsv, reps);
    rs->ratio = rs->tend / rs->base;
    rs->v = rs->ratio <= 2.0 ? V_OK : V_MISS;
    snprintf(rs->note, sizeof rs->note, "%sfrom exec of tend to the %dth `started`",
             spread_s, FANOUT_N);
    printf("%-10s tend %.3f s to start %d   baseline %.3f s   ratio %.2f  "
           "(target <= 2.0)  %s   [%s]\n",
           rs->scenario, rs->tend, FANOUT_N, rs->base, rs->ratio, verdict_name(rs->v),
           rs->note);

    rk->tend = median(tk, reps);
    rk->base = median(bkv, reps);
    rk->ratio = rk->tend / rk->base;
    rk->v = rk->ratio <= 2.0 ? V_OK : V_MISS;
    snprintf(rk->note, sizeof rk->note,
             "%sSIGTERM to tend's exit; all %d exits logged, none left", spread_k,
             FANOUT_N);
    printf("%-10s tend %.3f s to stop %d    baseline %.3f s   ratio %.2f  "
           "(target <= 2.0)  %s   [%s]\n",
           rk->scenario, rk->tend, FANOUT_N, rk->base, rk->ratio, verdict_name(rk->v),
           rk->note);

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
    printf("%-10s %-18s %12s %12s %7s  %-9s %s\n", "scenario", "metric", "tend", "baseline",
           "ratio", "target", "result");
    for (int i = 0; i < nresults; i++) {
        const struct result *r = &results[i];
        char a[32] = "-", b[32] = "-", c[32] = "-";
        int prec = strcmp(r->unit, "s") == 0 ? 3 : strcmp(r->unit, "MiB") == 0 ? 1 : 0;
        if (!isnan(r->tend))
            snprintf(a, sizeof a, "%.*f", prec, r->tend);
        if (!isnan(r->base))
            snprintf(b, sizeof b, "%.*f", prec, r->base);
        if (!isnan(r->ratio))
            snprintf(c, sizeof c, "%.2f", r->ratio);
        printf("%-10s %-18s %12s %12s %7s  %-9s %s\n", r->scenario, r->metric, a, b, c,
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

int main(int argc, char **argv)
{
    if (argc != 2)
        die("usage: bench TEND_BINARY   (BENCH_QUICK=1: short run)");
    tend_bin = argv[1];
    if (access(tend_bin, X_OK) != 0)
        die("%s: %s", tend_bin, strerror(errno));
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

    double window = quick ? 3 : 10;
    int reps = quick ? 3 : 5;
    print_machine();
    printf("mode:    %s (churn and idle windows %.0f s, fan-out %d procs x %d)\n\n",
           quick ? "quick" : "full", window, FANOUT_N, reps);

    scenario_churn(window);
    scenario_fanout(reps);
    scenario_idle(window);
    print_summary();

    int errors = 0, misses = 0;
    for (int i = 0; i < nresults; i++) {
        errors += results[i].v == V_ERROR;
        misses += results[i].v == V_MISS;
    }
    printf("\n%d of %d targets met", nresults - errors - misses, nresults);
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
