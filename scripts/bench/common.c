/* common.c -- the pieces every scenario of `make bench` uses. */
#include "bench.h"

bool quick;
char tmpdir[256];
char sock_path[SOCK_PATH_MAX];  /* tend's --socket */
const char *tend_bin;
char self_bin[1024];     /* this program: the latency and escalation child */

/* For the emergency exit: what to kill if the bench itself is stopped. */
volatile pid_t g_tend = -1, g_helper = -1;
pid_t g_base[MAX_BASE];
volatile int g_nbase;
const char *tend_extra_args[3];

/* ---- small things ---- */

double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

char *read_text(const char *path, char *buf, size_t size)
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
long status_field(pid_t pid, const char *key)
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
bool stat_fields(pid_t pid, char *state, long *ppid, long *ticks)
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
long long sched_ns(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
    if (!read_text(path, buf, sizeof buf))
        return -1;
    return strtoll(buf, NULL, 10);
}

int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* "median of N, LOW..HIGH s; " of reps (at most 8) timings, or "" for
 * one; v is left as it was. */
void spread_note(char *out, size_t size, const double *v, int reps)
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
int list_children(pid_t except, pid_t *out, int max, int *zombies)
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
void sweep(void)
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

void on_signal(int sig)
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

rlim_t fd_limit;

void raise_fd_limit(void)
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
bool fd_limit_ok(const char *scenario, int procs, char *err, size_t errsz)
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


void tend_line(struct tend *t, char *line)
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

void tend_reap(struct tend *t)
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
void tend_pump(struct tend *t, double timeout)
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

bool tend_spawn(struct tend *t, const char *policy, bool want_pids, char *err,
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
    char *argv[8] = {(char *)tend_bin, "run", (char *)policy, "--socket", sock_path};
    for (int i = 0; i < 2 && tend_extra_args[i]; i++)
        argv[5 + i] = (char *)tend_extra_args[i];
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
bool tend_until(struct tend *t, bool (*cond)(struct tend *), double timeout)
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

bool reached_target(struct tend *t)
{
    return t->started >= t->target;
}

bool has_exited(struct tend *t)
{
    return t->exited;
}

bool at_eof(struct tend *t)
{
    return t->fd < 0;
}

/* SIGTERM, then wait for the exit (SIGKILL after `timeout`); the seconds
 * from SIGTERM to the exit, or -1 when it had to be killed. */
double tend_stop(struct tend *t, double timeout)
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

void tend_free(struct tend *t)
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

void tend_context(const struct tend *t, char *err, size_t errsz)
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

char *write_policy(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        die("cannot write %s: %s", path, strerror(errno));
    return path;
}

char *fanout_policy(int n)
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

int spawn_bare(pid_t *pid, const char *file, char *const argv[])
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



struct result results[32];
int nresults;

const char *verdict_name(enum verdict v)
{
    return v == V_OK ? "ok" : v == V_MISS ? "MISS" : v == V_INFO ? "-" : "ERROR";
}

struct result *new_result(const char *scenario, const char *metric,
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

void print_error(const struct result *r)
{
    printf("%-10s ERROR: %s\n", r->scenario, r->note);
    fflush(stdout);
}

bool lua_safe_path(const char *s)
{
    return !strpbrk(s, "\"\\\n");
}

bool self_path_ok(char *err, size_t errsz)
{
    if (lua_safe_path(self_bin))
        return true;
    snprintf(err, errsz, "the bench's own path %.900s cannot go into a Lua string", self_bin);
    return false;
}

void results_fail(struct result *first, struct result *last, const char *err)
{
    for (struct result *r = first; r <= last; r++) {
        if (r->note != err)
            snprintf(r->note, sizeof r->note, "%s", err);
        r->v = V_ERROR;
    }
    print_error(first);
}

char *cgroups_off(void)
{
    const char *was = getenv("TEND_CGROUPS");
    char *saved = was ? strdup(was) : NULL;
    setenv("TEND_CGROUPS", "0", 1);
    return saved;
}

void cgroups_back(char *saved)
{
    if (saved)  /* the rest of the run as it was asked for */
        setenv("TEND_CGROUPS", saved, 1);
    else
        unsetenv("TEND_CGROUPS");
    free(saved);
}
