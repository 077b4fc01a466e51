/* driver.c -- `make fault`: runs each scenario in a process of its own,
 * cleans up after it whatever happened, and prints the table.
 *
 *   fault --tend BUILD/tend --child BUILD/fault/fault-child --out DIR [NAME...]
 *
 * NAMEs (or FAULT_ONLY=a,b) run only those scenarios; FAULT_SKIP=a,b skips
 * some.  The table goes to stdout (and DIR/results.txt, tab-separated);
 * progress to stderr.  Exit status 1 when a scenario failed. */
#include "fault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *fault_tend;
const char *fault_child;
static const char *fault_out = "build/fault";

double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int ms_left(double end)
{
    double left = end - now();
    return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

/* ---- the row ---- */

static void vappend(char *dst, size_t cap, const char *sep, const char *fmt, va_list ap)
{
    size_t n = strlen(dst);
    if (n && n + strlen(sep) < cap) {
        strcpy(dst + n, sep);
        n += strlen(sep);
    }
    if (n < cap)
        vsnprintf(dst + n, cap - n, fmt, ap);
}

void did(struct sc *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(s->done, sizeof s->done, "; ", fmt, ap);
    va_end(ap);
}

void held(struct sc *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(s->held, sizeof s->held, "; ", fmt, ap);
    va_end(ap);
}

void leak(struct sc *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(s->leaks, sizeof s->leaks, "; ", fmt, ap);
    va_end(ap);
    s->nleaks++;
}

void fail(struct sc *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(s->why, sizeof s->why, "; ", fmt, ap);
    va_end(ap);
    s->failed = true;
    longjmp(s->out, 1);
}

void defect(struct sc *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(s->why, sizeof s->why, "; ", fmt, ap);
    va_end(ap);
    s->failed = s->defect = true;
    longjmp(s->out, 1);
}

void skip(struct sc *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(s->why, sizeof s->why, "; ", fmt, ap);
    va_end(ap);
    s->skipped = true;
    longjmp(s->out, 1);
}

/* ---- files ---- */

const char *in_dir(struct sc *s, const char *name)
{
    static char slots[8][PATH_MAX + 64];
    static unsigned next;
    char *p = slots[next++ % 8];
    snprintf(p, PATH_MAX + 64, "%s/%s", s->dir, name);
    return p;
}

const char *policy_as(struct sc *s, const char *name, const char *text)
{
    size_t cap = strlen(text) * 4 + 4096, n = 0;
    char *out = malloc(cap);
    for (const char *p = text; *p;) {
        const char *sub = NULL;
        if (p[0] == '@' && p[1] == 'D')
            sub = s->dir;
        else if (p[0] == '@' && p[1] == 'C')
            sub = fault_child;
        if (sub) {
            size_t l = strlen(sub);
            if (n + l + 1 >= cap)
                out = realloc(out, cap = (cap + l) * 2);
            memcpy(out + n, sub, l);
            n += l;
            p += 2;
        } else {
            if (n + 2 >= cap)
                out = realloc(out, cap *= 2);
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    char *path = write_file(s->dir, name, out);
    free(out);
    return path;
}

const char *policy(struct sc *s, const char *text)
{
    return policy_as(s, "policy.lua", text);
}

/* ---- reading tend's output ---- */

static void sbuf_add(struct sbuf *b, const char *p, size_t n)
{
    b->total += n;
    if (b->len + n + 1 > b->cap) {
        if (b->keep && b->len + n > b->keep * 2) {
            /* keep the last `keep` bytes of what we hold and of p */
            size_t want = b->keep;
            if (n >= want) {
                b->base += b->len + (n - want);
                p += n - want;
                n = want;
                b->len = 0;
            } else {
                size_t drop = b->len + n - want;
                if (drop > b->len)
                    drop = b->len;
                memmove(b->p, b->p + drop, b->len - drop);
                b->len -= drop;
                b->base += drop;
            }
        }
        if (b->len + n + 1 > b->cap) {
            size_t cap = b->cap ? b->cap : 65536;
            while (cap < b->len + n + 1)
                cap *= 2;
            b->p = realloc(b->p, cap);
            b->cap = cap;
        }
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void notice_exit(struct tend *t)
{
    if (t->exited)
        return;
    int st;
    if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
        t->exited = true;
        t->status = st;
        if (t->pidfd >= 0)
            close(t->pidfd);
        t->pidfd = -1;
    }
}

/* Read what one stream has now (up to 64 MiB a call, so that a flood
 * cannot keep us here). */
static void drain(struct tend *t, int i)
{
    static char chunk[1 << 20];
    size_t got = 0;
    while (t->fd[i] >= 0 && got < (64u << 20)) {
        ssize_t r = read(t->fd[i], chunk, sizeof chunk);
        if (r > 0) {
            sbuf_add(&t->buf[i], chunk, (size_t)r);
            got += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        close(t->fd[i]);
        t->fd[i] = -1;
    }
}

/* Poll every tend of the scenario and `extra` for at most `ms`; the
 * revents of `extra` are left for the caller. */
static void pump_with(struct sc *s, struct pollfd *extra, int nextra, int ms)
{
    struct pollfd pfd[64];
    struct {
        struct tend *t;
        int what;  /* 0, 1: stream; 2: pidfd */
    } who[64];
    int n = 0;
    for (int k = 0; k < s->ntends; k++) {
        struct tend *t = s->all[k];
        for (int i = 0; i < 2; i++)
            if (t->fd[i] >= 0) {
                pfd[n] = (struct pollfd){t->fd[i], POLLIN, 0};
                who[n].t = t;
                who[n++].what = i;
            }
        if (!t->exited && t->pidfd >= 0) {
            pfd[n] = (struct pollfd){t->pidfd, POLLIN, 0};
            who[n].t = t;
            who[n++].what = 2;
        }
    }
    int base = n;
    for (int i = 0; i < nextra && n < 64; i++)
        pfd[n++] = extra[i];
    int r = poll(pfd, (nfds_t)n, ms);
    if (r <= 0) {
        for (int i = 0; i < nextra; i++)
            extra[i].revents = 0;
        return;
    }
    for (int i = 0; i < base; i++) {
        if (!pfd[i].revents)
            continue;
        if (who[i].what == 2)
            notice_exit(who[i].t);
        else
            drain(who[i].t, who[i].what);
    }
    for (int i = 0; i < nextra; i++)
        extra[i].revents = pfd[base + i].revents;
}

void pump(struct sc *s, int ms)
{
    pump_with(s, NULL, 0, ms);
}

const char *text_from(struct tend *t, int stream, unsigned long long from)
{
    struct sbuf *b = &t->buf[stream == 1 ? 0 : 1];
    if (!b->p)
        return "";
    if (from < b->base)
        from = b->base;
    if (from > b->total)
        from = b->total;
    return b->p + (from - b->base);
}

unsigned long long text_end(struct tend *t, int stream)
{
    return t->buf[stream == 1 ? 0 : 1].total;
}

int count_from(struct tend *t, int stream, unsigned long long from, const char *needle)
{
    struct sbuf *b = &t->buf[stream == 1 ? 0 : 1];
    const char *p = text_from(t, stream, from), *end = b->p ? b->p + b->len : p;
    size_t nl = strlen(needle);
    int n = 0;
    for (const char *q = p; (q = memmem(q, (size_t)(end - q), needle, nl)); q += nl)
        n++;
    return n;
}

bool expect_n(struct sc *s, struct tend *t, int stream, unsigned long long from,
              const char *needle, int n, double timeout)
{
    double end = now() + timeout;
    size_t nl = strlen(needle);
    unsigned long long pos = from;
    int cnt = 0;
    for (;;) {
        /* count what came since the last look (matches never overlap) */
        struct sbuf *b = &t->buf[stream == 1 ? 0 : 1];
        const char *p = text_from(t, stream, pos), *bend = b->p ? b->p + b->len : p;
        const char *last = NULL;
        for (const char *q = p; (q = memmem(q, (size_t)(bend - q), needle, nl)); q += nl) {
            cnt++;
            last = q + nl;
        }
        unsigned long long keep_from = b->total >= nl ? b->total - nl + 1 : 0;
        unsigned long long after = last ? b->base + (unsigned long long)(last - b->p) : 0;
        pos = after > keep_from ? after : keep_from;
        if (pos < from)
            pos = from;
        if (cnt >= n)
            return true;
        bool closed = t->fd[stream == 1 ? 0 : 1] < 0;
        if (now() >= end || (t->exited && closed))
            return false;
        pump(s, ms_left(end) < 200 ? ms_left(end) : 200);
    }
}

/* How tend ended, for a message. */
static const char *how_ended(struct tend *t)
{
    static char buf[64];
    if (!t->exited)
        return "still running";
    if (WIFEXITED(t->status))
        snprintf(buf, sizeof buf, "exited with code %d", WEXITSTATUS(t->status));
    else
        snprintf(buf, sizeof buf, "killed by signal %d", WTERMSIG(t->status));
    return buf;
}

/* The last `n` bytes of tend's stderr, on one line, for a message. */
static const char *err_tail(struct tend *t, size_t n)
{
    static char buf[1024];
    struct sbuf *b = &t->buf[1];
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    size_t len = b->len < n ? b->len : n;
    memcpy(buf, b->p ? b->p + b->len - len : "", len);
    buf[len] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    return buf;
}

void wait_for(struct sc *s, struct tend *t, int stream, const char *needle, int n,
              const char *what)
{
    if (!expect_n(s, t, stream, 0, needle, n, WAIT))
        fail(s, "%s: \"%s\" x%d not seen within %gs (tend %s; its stderr ends: %s)", what,
             needle, n, WAIT, how_ended(t), err_tail(t, 300));
}

int tend_exit_wait(struct sc *s, struct tend *t, double timeout)
{
    double end = now() + timeout;
    while (!t->exited) {
        if (now() >= end)
            return -1;
        pump(s, ms_left(end) < 200 ? ms_left(end) : 200);
    }
    /* what it wrote last */
    for (int i = 0; i < 2; i++)
        if (t->fd[i] >= 0)
            drain(t, i);
    if (WIFEXITED(t->status))
        return WEXITSTATUS(t->status);
    return 128 + WTERMSIG(t->status);
}

void wait_up(struct sc *s, struct tend *t, const char *sock)
{
    const char *path = sock ? sock : s->sock;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    inotify_add_watch(in, dir, IN_CREATE | IN_MOVED_TO);
    double end = now() + WAIT;
    for (;;) {
        if (t->exited || now() >= end) {
            close(in);
            fail(s, "tend did not answer on %s within %gs (tend %s; stderr ends: %s)", path,
                 WAIT, how_ended(t), err_tail(t, 300));
        }
        if (access(path, F_OK) != 0) {
            struct pollfd pfd = {in, POLLIN, 0};
            pump_with(s, &pfd, 1, ms_left(end) < 200 ? ms_left(end) : 200);
            char buf[4096];
            while (read(in, buf, sizeof buf) > 0)
                ;
            continue;
        }
        /* tend binds, then listens: between the two, a connection is
         * refused (a few microseconds; try again) */
        if (ping(s, sock, ms_left(end) / 1000.0, NULL))
            break;
        pump(s, 10);
    }
    close(in);
}

void sync_output(struct sc *s)
{
    if (s->t && !s->t->exited)
        ping(s, NULL, WAIT, NULL);
    for (int k = 0; k < s->ntends; k++)
        for (int i = 0; i < 2; i++)
            if (s->all[k]->fd[i] >= 0)
                drain(s->all[k], i);
}

void hold(struct sc *s, double secs)
{
    double end = now() + secs;
    while (now() < end)
        pump(s, ms_left(end));
}

/* ---- starting tend ---- */

static char **env_with(const char *const *add)
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (add && add[k])
        k++;
    char **env = calloc(n + k + 1, sizeof *env);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        if (!strncmp(e, "TEND_SOCKET=", 12) || !strncmp(e, "NOTIFY_SOCKET=", 14) ||
            !strncmp(e, MARK_VAR "=", strlen(MARK_VAR) + 1))
            continue;
        env[m++] = (char *)e;
    }
    for (size_t i = 0; i < k; i++)
        env[m++] = (char *)add[i];
    env[m] = NULL;
    return env;
}

struct tend *tend_up(struct sc *s, const char *policy_path, const char *sock,
                     const struct topts *o)
{
    static const struct topts defaults;
    if (!o)
        o = &defaults;
    if (s->ntends >= (int)(sizeof s->all / sizeof s->all[0]))
        fail(s, "too many tends in one scenario");
    const char *argv[64];
    int a = 0;
    for (const char *const *w = o->wrap; w && *w; w++)
        argv[a++] = *w;
    argv[a++] = fault_tend;
    argv[a++] = "run";
    argv[a++] = policy_path;
    argv[a++] = "--socket";
    argv[a++] = sock ? sock : s->sock;
    for (const char *const *x = o->args; x && *x; x++)
        argv[a++] = *x;
    argv[a] = NULL;

    const char *add[32];
    int k = 0;
    char *mark;
    if (asprintf(&mark, "%s=%s", MARK_VAR, s->mark) < 0)
        abort();
    add[k++] = mark;
    for (const char *const *e = o->env; e && *e; e++)
        add[k++] = *e;
    add[k] = NULL;
    char **env = env_with(add);

    int out[2] = {-1, -1}, err[2];
    if (pipe2(err, O_CLOEXEC) != 0)
        fail(s, "pipe2: %s", strerror(errno));
    if ((o->out != OUT_NULL) && pipe2(out, O_CLOEXEC) != 0)
        fail(s, "pipe2: %s", strerror(errno));
    struct tend *t = calloc(1, sizeof *t);
    t->buf[0].keep = o->out == OUT_COUNT ? 64 * 1024 : 4 << 20;
    t->buf[1].keep = 4 << 20;
    t->unread_fd = -1;
    pid_t pid = fork();
    if (pid < 0)
        fail(s, "fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);  /* a group of its own, as under a shell */
        /* gone with the scenario, whatever ends it (a wrapper that
         * changes credentials clears this: the driver's sweep remains) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(o->out == OUT_NULL ? null : out[1], 1);
        dup2(err[1], 2);
        struct rlimit rl;
        if (o->nofile > 0) {
            rl.rlim_cur = rl.rlim_max = (rlim_t)o->nofile;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (o->fsize > 0) {
            rl.rlim_cur = rl.rlim_max = (rlim_t)o->fsize;
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execvpe(argv[0], (char **)argv, env);
        dprintf(2, "fault: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(env);
    close(err[1]);
    if (out[1] >= 0)
        close(out[1]);
    t->pid = pid;
    t->pidfd = pid_watch(pid);
    t->fd[1] = err[0];
    t->fd[0] = -1;
    if (o->out == OUT_UNREAD)
        t->unread_fd = out[0];
    else if (o->out != OUT_NULL)
        t->fd[0] = out[0];
    for (int i = 0; i < 2; i++)
        if (t->fd[i] >= 0)
            fcntl(t->fd[i], F_SETFL, O_NONBLOCK);
    s->all[s->ntends++] = t;
    if (!s->t)
        s->t = t;
    return t;
}

/* ---- clients ---- */

static struct cli cli_v(struct sc *s, const char *const *wrap, const char *sock,
                        double timeout, va_list ap)
{
    const char *argv[80];
    int a = 0;
    for (const char *const *w = wrap; w && *w && a < 16; w++)
        argv[a++] = *w;
    argv[a++] = fault_tend;
    const char *x;
    while ((x = va_arg(ap, const char *)) && a < 76)
        argv[a++] = x;
    argv[a++] = "--socket";
    argv[a++] = sock ? sock : s->sock;
    argv[a] = NULL;

    struct cli c = {.code = -1, .out = calloc(1, 1), .err = calloc(1, 1)};
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
        fail(s, "pipe2: %s", strerror(errno));
    double t0 = now();
    char **env = env_with(NULL);
    pid_t pid = fork();
    if (pid < 0)
        fail(s, "fork: %s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execvpe(argv[0], (char **)argv, env);
        _exit(127);
    }
    free(env);
    close(out[1]);
    close(err[1]);
    int pidfd = pid_watch(pid);
    struct sbuf b[2] = {{0}, {0}};
    int fds[2] = {out[0], err[0]};
    bool ended = false;
    double end = now() + timeout;
    while ((fds[0] >= 0 || fds[1] >= 0 || !ended) && now() < end) {
        struct pollfd pfd[3] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0},
                                {ended ? -1 : pidfd, POLLIN, 0}};
        pump_with(s, pfd, 3, ms_left(end) < 200 ? ms_left(end) : 200);
        for (int i = 0; i < 2; i++) {
            if (!pfd[i].revents)
                continue;
            char chunk[65536];
            ssize_t r = read(fds[i], chunk, sizeof chunk);
            if (r > 0)
                sbuf_add(&b[i], chunk, (size_t)r);
            else if (r == 0 || errno != EINTR) {
                close(fds[i]);
                fds[i] = -1;
            }
        }
        if (pfd[2].revents)
            ended = true;
    }
    int st;
    if (!ended || fds[0] >= 0 || fds[1] >= 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        c.code = -1;
    } else {
        waitpid(pid, &st, 0);
        c.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (pidfd >= 0)
        close(pidfd);
    c.secs = now() - t0;
    if (b[0].p)
        c.out = b[0].p;
    if (b[1].p)
        c.err = b[1].p;
    return c;
}

struct cli cli(struct sc *s, const char *sock, double timeout, ...)
{
    va_list ap;
    va_start(ap, timeout);
    struct cli c = cli_v(s, NULL, sock, timeout, ap);
    va_end(ap);
    return c;
}

struct cli cli_as(struct sc *s, const char *const *wrap, const char *sock, double timeout, ...)
{
    va_list ap;
    va_start(ap, timeout);
    struct cli c = cli_v(s, wrap, sock, timeout, ap);
    va_end(ap);
    return c;
}

json_t *statuses(struct sc *s, const char *sock)
{
    struct cli c = cli(s, sock, WAIT, "status", "--json", (const char *)NULL);
    if (c.code != 0)
        fail(s, "tend status --json: exit %d within %gs: %s", c.code, WAIT, c.err);
    json_error_t e;
    json_t *j = json_loads(c.out, 0, &e);
    if (!j || !json_is_array(j))
        fail(s, "tend status --json: not a JSON array: %s", e.text);
    return j;
}

json_t *status_of(json_t *all, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v)
    {
        const char *n = json_string_value(json_object_get(v, "name"));
        if (n && strcmp(n, name) == 0)
            return v;
    }
    return NULL;
}

const char *st_str(json_t *st, const char *field)
{
    const char *v = json_string_value(json_object_get(st, field));
    return v ? v : "";
}

long long st_int(json_t *st, const char *field)
{
    json_t *v = json_object_get(st, field);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

bool cause_is(json_t *st, const char *want)
{
    json_t *v = json_object_get(st, "cause");
    return !v || (json_is_string(v) && strcmp(json_string_value(v), want) == 0);
}

/* ---- raw connections ---- */

int raw_connect(struct sc *s, const char *sock)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail(s, "socket: %s", strerror(errno));
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    const char *path = sock ? sock : s->sock;
    if (strlen(path) >= sizeof a.sun_path)
        fail(s, "socket path too long: %s", path);
    memcpy(a.sun_path, path, strlen(path) + 1);
    /* a connect to a full backlog blocks: not longer than a wait */
    struct timeval tv = {(time_t)WAIT, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    tv.tv_sec = 0;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

bool raw_send_all(int fd, const void *p, size_t n, double timeout)
{
    const char *c = p;
    double end = now() + timeout;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            c += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (now() >= end)
                return false;
            struct pollfd pfd = {fd, POLLOUT, 0};
            poll(&pfd, 1, ms_left(end) < 200 ? ms_left(end) : 200);
            continue;
        }
        return false;
    }
    return true;
}

/* What was read past the last reply line of each connection. */
#define RAW_FDS 65536
static struct sbuf *raw_rest[RAW_FDS];

char *raw_reply(struct sc *s, int fd, double timeout)
{
    if (fd < 0 || fd >= RAW_FDS)
        return NULL;
    if (!raw_rest[fd])
        raw_rest[fd] = calloc(1, sizeof(struct sbuf));
    struct sbuf *b = raw_rest[fd];
    double end = now() + timeout;
    for (;;) {
        char *nl = b->p ? memchr(b->p, '\n', b->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - b->p);
            char *line = malloc(n + 1);
            memcpy(line, b->p, n);
            line[n] = '\0';
            memmove(b->p, nl + 1, b->len - n - 1);
            b->len -= n + 1;
            b->p[b->len] = '\0';
            return line;
        }
        if (now() >= end)
            return NULL;
        struct pollfd pfd = {fd, POLLIN, 0};
        pump_with(s, &pfd, 1, ms_left(end) < 200 ? ms_left(end) : 200);
        if (!pfd.revents)
            continue;
        char chunk[65536];
        ssize_t r = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (r > 0)
            sbuf_add(b, chunk, (size_t)r);
        else if (r == 0 || (errno != EINTR && errno != EAGAIN))
            return NULL;
    }
}

static void raw_forget(int fd)
{
    if (fd >= 0 && fd < RAW_FDS && raw_rest[fd])
        raw_rest[fd]->len = 0;
}

bool reply_ok(const char *reply)
{
    if (!reply)
        return false;
    json_t *j = json_loads(reply, 0, NULL);
    bool ok = j && json_is_true(json_object_get(j, "ok"));
    json_decref(j);
    return ok;
}

bool ping(struct sc *s, const char *sock, double timeout, double *secs)
{
    double t0 = now();
    int fd = raw_connect(s, sock);
    if (fd < 0)
        return false;
    static const char req[] = "{\"cmd\": \"status\", \"names\": []}\n";
    bool ok = raw_send_all(fd, req, sizeof req - 1, timeout);
    char *r = ok ? raw_reply(s, fd, timeout - (now() - t0)) : NULL;
    ok = reply_ok(r);
    free(r);
    raw_forget(fd);
    close(fd);
    if (secs)
        *secs = now() - t0;
    return ok;
}

/* ---- /proc ---- */

static long status_field(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = atol(line + kl + 1);
            break;
        }
    fclose(f);
    return v;
}

long rss_kib(pid_t pid)
{
    return status_field(pid, "VmRSS");
}

long hwm_kib(pid_t pid)
{
    return status_field(pid, "VmHWM");
}

int fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

char *fd_list(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    size_t cap = 4096, n = 0;
    char *out = calloc(1, cap);
    if (!d)
        return out;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char link[PATH_MAX + 64], target[PATH_MAX];
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t r = readlink(link, target, sizeof target - 1);
        target[r > 0 ? r : 0] = '\0';
        if (n + strlen(target) + 32 > cap)
            out = realloc(out, cap *= 2);
        n += (size_t)sprintf(out + n, "%s%s:%s", n ? " " : "", e->d_name, target);
    }
    closedir(d);
    return out;
}

long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* after ") ": state is field 3; utime and stime are 14 and 15 */
    long ut = 0, stt = 0;
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
        field++;
        if (field == 14)
            ut = atol(tok);
        if (field == 15) {
            stt = atol(tok);
            break;
        }
    }
    return ut + stt;
}

double ticks_per_sec(void)
{
    return (double)sysconf(_SC_CLK_TCK);
}

static bool environ_has(pid_t pid, const char *want)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    static char buf[1 << 18];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
        if (strcmp(buf + i, want) == 0)
            return true;
    return false;
}

int tagged(struct sc *s, pid_t *pids, int max, pid_t except)
{
    char want[256];
    snprintf(want, sizeof want, "%s=%s", MARK_VAR, s->mark);
    DIR *d = opendir("/proc");
    int n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        char *endp;
        long v = strtol(e->d_name, &endp, 10);
        if (*endp || v <= 0 || (pid_t)v == getpid() || (pid_t)v == except)
            continue;
        if (pid_alive((pid_t)v) && environ_has((pid_t)v, want))
            pids[n++] = (pid_t)v;
    }
    closedir(d);
    return n;
}

char *describe(const pid_t *pids, int n)
{
    size_t cap = 64 + (size_t)n * 48, len = 0;
    char *out = calloc(1, cap);
    for (int i = 0; i < n && i < 12; i++) {
        char path[64], comm[64] = "?";
        snprintf(path, sizeof path, "/proc/%d/comm", (int)pids[i]);
        FILE *f = fopen(path, "re");
        if (f) {
            if (fgets(comm, sizeof comm, f))
                comm[strcspn(comm, "\n")] = '\0';
            fclose(f);
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%d %s", i ? ", " : "",
                                (int)pids[i], comm);
    }
    if (n > 12)
        snprintf(out + len, cap - len, ", ... (%d in all)", n);
    return out;
}

int zombies_of(pid_t parent)
{
    DIR *d = opendir("/proc");
    int n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *endp;
        long v = strtol(e->d_name, &endp, 10);
        if (*endp || v <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", v);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (r <= 0)
            continue;
        buf[r] = '\0';
        char *p = strrchr(buf, ')');
        char state;
        int ppid;
        if (p && sscanf(p + 1, " %c %d", &state, &ppid) == 2 && ppid == parent &&
            state == 'Z')
            n++;
    }
    closedir(d);
    return n;
}

int pids_from(struct sc *s, const char *path, pid_t *pids, int max)
{
    if (!file_wait_for(path, "\n", WAIT))
        fail(s, "%s did not appear within %gs", path, WAIT);
    return (int)read_pids(path, pids, (size_t)max);
}

int wait_gone(struct sc *s, const pid_t *pids, int n, double timeout)
{
    double end = now() + timeout;
    int left = 0;
    for (int i = 0; i < n; i++) {
        int fd = pid_watch(pids[i]);
        if (fd < 0)
            continue;
        for (;;) {
            struct pollfd pfd = {fd, POLLIN, 0};
            pump_with(s, &pfd, 1, ms_left(end) < 200 ? ms_left(end) : 200);
            if (pfd.revents)
                break;
            if (now() >= end) {
                left++;
                break;
            }
        }
        close(fd);
    }
    return left;
}

/* ---- the end checks ---- */

void baseline(struct sc *s)
{
    s->fds0 = fd_count(s->t->pid);
    s->rss0 = rss_kib(s->t->pid);
}

void check_serving(struct sc *s)
{
    struct tend *t = s->t;
    need(s, !t->exited, "tend %s (its stderr ends: %s)", how_ended(t), err_tail(t, 300));
    struct cli c = s->status_of ? CLI(s, "status", s->status_of) : CLI(s, "status");
    need(s, c.code == 0, "tend status: exit %d (%.2fs): %s", c.code, c.secs, c.err);
    /* tend closes a connection's fd once it has read its end: give it
     * round trips to get there */
    double end = now() + WAIT;
    int fds = fd_count(t->pid);
    while (fds > s->fds0 && now() < end) {
        ping(s, NULL, WAIT, NULL);
        fds = fd_count(t->pid);
    }
    if (fds > s->fds0)
        leak(s, "tend holds %d fds, %d at the start: %s", fds, s->fds0, fd_list(t->pid));
}

void check_shutdown(struct sc *s, int code)
{
    struct tend *t = s->t;
    need(s, !t->exited, "tend %s before its shutdown", how_ended(t));
    kill(t->pid, SIGTERM);
    int rc = tend_exit_wait(s, t, WAIT);
    need(s, rc >= 0, "tend did not exit within %gs of SIGTERM (stderr ends: %s)", WAIT,
         err_tail(t, 300));
    need(s, rc == code, "tend exited with %d after SIGTERM, want %d (stderr ends: %s)", rc,
         code, err_tail(t, 300));
}

void check_no_tagged(struct sc *s)
{
    pid_t pids[256];
    int n = tagged(s, pids, 256, 0);
    if (n > 0) {
        leak(s, "%d processes left: %s", n, describe(pids, n));
        procs_kill_tagged(MARK_VAR, s->mark, WAIT);
    }
}

bool runs_ok(const char *const *argv)
{
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execvp(argv[0], (char **)argv);
        _exit(127);
    }
    int fd = pid_watch(pid);
    bool ended = pidfd_wait_gone(fd, WAIT);
    if (!ended)
        kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    return ended && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

void finish(struct sc *s, int code)
{
    check_serving(s);
    check_shutdown(s, code);
    check_no_tagged(s);
}

/* ---- the runner ---- */

struct row {
    const struct scenario *sc;
    const char *verdict;
    double secs;
    char *done, *held, *leaks, *why;
    int nleaks;
};

/* One line of text: tabs and newlines become spaces, '|' is escaped for
 * the Markdown table. */
static char *flat(const char *in)
{
    char *out = malloc(strlen(in) * 2 + 1), *o = out;
    for (const char *p = in; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n' || c == '\t' || c == '\r')
            *o++ = ' ';
        else if (c == '|') {
            *o++ = '\\';
            *o++ = '|';
        } else if (c < 0x20 || c == 0x7f)
            *o++ = '?';
        else
            *o++ = (char)c;
    }
    *o = '\0';
    return out;
}

static void put_field(FILE *f, const char *s)
{
    size_t n = strlen(s);
    fwrite(&n, sizeof n, 1, f);
    fwrite(s, 1, n, f);
}

static char *get_field(const char **p, const char *end)
{
    size_t n;
    if ((size_t)(end - *p) < sizeof n)
        return strdup("");
    memcpy(&n, *p, sizeof n);
    *p += sizeof n;
    if ((size_t)(end - *p) < n)
        n = (size_t)(end - *p);
    char *s = malloc(n + 1);
    memcpy(s, *p, n);
    s[n] = '\0';
    *p += n;
    return s;
}

/* In the scenario's process: run it, clean up, report through `fd`. */
static _Noreturn void scenario_child(const struct scenario *scn, const char *dir,
                                     const char *mark, int fd)
{
    static struct sc s;
    s.name = scn->name;
    snprintf(s.dir, sizeof s.dir, "%s", dir);
    snprintf(s.sock, sizeof s.sock, "%s/tend.sock", dir);
    snprintf(s.mark, sizeof s.mark, "%s", mark);
    if (setjmp(s.out) == 0)
        scn->run(&s);
    for (int i = 0; i < s.ntends; i++) {
        struct tend *t = s.all[i];
        if (!t->exited) {
            kill(t->pid, SIGKILL);
            waitpid(t->pid, NULL, 0);
            t->exited = true;
        }
    }
    /* what each tend wrote, for whoever looks into a failure */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/logs", fault_out);
    mkdir(path, 0755);
    for (int i = 0; i < s.ntends; i++) {
        struct tend *t = s.all[i];
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "%s/logs/%s.%d.%s", fault_out, s.name, i + 1,
                     k ? "stderr" : "stdout");
            FILE *lf = fopen(path, "w");
            if (!lf)
                continue;
            if (t->buf[k].base)
                fprintf(lf, "[the first %llu bytes are not kept]\n", t->buf[k].base);
            if (t->buf[k].p)
                fwrite(t->buf[k].p, 1, t->buf[k].len, lf);
            fclose(lf);
        }
    }
    size_t left = procs_kill_tagged(MARK_VAR, s.mark, WAIT);
    if (left && !s.failed)
        leak(&s, "%zu processes carrying the marker were still there at the end", left);
    FILE *f = fdopen(fd, "w");
    int bad = s.defect ? 3 : s.failed || s.nleaks > 0 ? 1 : s.skipped ? 2 : 0;
    fwrite(&bad, sizeof bad, 1, f);
    fwrite(&s.nleaks, sizeof s.nleaks, 1, f);
    put_field(f, s.done);
    put_field(f, s.held);
    put_field(f, s.leaks);
    put_field(f, s.why);
    fclose(f);
    _exit(0);
}

static bool listed(const char *list, const char *name)
{
    if (!list || !*list)
        return false;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, name, n) == 0)
            return true;
        p += l + (e ? 1 : 0);
    }
    return false;
}

/* SIGINT or SIGTERM to the driver: the scenario running is cut short and
 * cleaned up like one that ran out of time, then the driver stops. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    interrupted = sig;
}

static void run_one(const struct scenario *scn, struct row *r)
{
    r->sc = scn;
    char tmpl[] = "/tmp/tend-fault-XXXXXX";
    char *dir = mkdtemp(tmpl);
    char mark[128];
    snprintf(mark, sizeof mark, "fault.%d.%s", (int)getpid(), scn->name);
    double t0 = now();
    int p[2];
    if (!dir || pipe2(p, O_CLOEXEC) != 0) {
        r->verdict = "FAIL";
        r->done = r->held = r->leaks = "";
        r->why = "cannot make a directory or a pipe";
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        close(p[0]);
        scenario_child(scn, dir, mark, p[1]);
    }
    close(p[1]);
    /* the report, within the scenario's limit */
    double end = t0 + scn->limit;
    struct sbuf b = {0};
    bool timed_out = false;
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    for (;;) {
        struct pollfd pfd = {p[0], POLLIN, 0};
        int left = ms_left(end);
        if (left == 0 || interrupted) {
            timed_out = true;
            break;
        }
        if (poll(&pfd, 1, left) <= 0)
            continue;
        char chunk[65536];
        ssize_t n = read(p[0], chunk, sizeof chunk);
        if (n > 0)
            sbuf_add(&b, chunk, (size_t)n);
        else if (n == 0 || (errno != EINTR && errno != EAGAIN))
            break;
    }
    close(p[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* whatever it left behind (tend included when it was cut short) */
    size_t swept = procs_kill_tagged(MARK_VAR, mark, WAIT);
    r->secs = now() - t0;
    int bad = 1;
    r->nleaks = 0;
    if (!timed_out && b.len >= sizeof bad + sizeof r->nleaks) {
        const char *q = b.p, *e = b.p + b.len;
        memcpy(&bad, q, sizeof bad);
        q += sizeof bad;
        memcpy(&r->nleaks, q, sizeof r->nleaks);
        q += sizeof r->nleaks;
        r->done = get_field(&q, e);
        r->held = get_field(&q, e);
        r->leaks = get_field(&q, e);
        r->why = get_field(&q, e);
    } else {
        r->done = r->held = r->leaks = strdup("");
        if (asprintf(&r->why, interrupted ? "interrupted"
                              : timed_out ? "did not finish within its limit of %gs"
                                          : "the scenario's process died (limit %gs)",
                     scn->limit) < 0)
            abort();
    }
    if (swept) {
        char *l;
        if (asprintf(&l, "%s%s%zu processes of the scenario swept up after it", r->leaks,
                     *r->leaks ? "; " : "", swept) < 0)
            abort();
        r->leaks = l;
        r->nleaks++;
        bad = 1;
    }
    r->verdict = bad == 3 ? "DEFECT" : bad == 1 ? "FAIL" : bad == 2 ? "skip" : "pass";
    tmpdir_free(strdup(dir));
}

static int passed_count(const struct row *rows, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += strcmp(rows[i].verdict, "pass") == 0;
    return k;
}

static const struct scenario *const groups[] = {sc_children, sc_os, sc_tend, sc_lua, sc_ctl};

int main(int argc, char **argv)
{
    const char *outdir = fault_out;
    const char *only = getenv("FAULT_ONLY"), *skip = getenv("FAULT_SKIP");
    char *names = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tend") && i + 1 < argc)
            fault_tend = argv[++i];
        else if (!strcmp(argv[i], "--child") && i + 1 < argc)
            fault_child = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            outdir = argv[++i];
        else {
            size_t l = names ? strlen(names) : 0;
            names = realloc(names, l + strlen(argv[i]) + 2);
            sprintf(names + l, "%s%s", l ? "," : "", argv[i]);
        }
    }
    if (names)
        only = names;
    fault_out = outdir;
    if (!fault_tend || !fault_child) {
        fprintf(stderr, "usage: fault --tend PATH --child PATH [--out DIR] [NAME...]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_interrupt};  /* no SA_RESTART: poll returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    unsetenv("TEND_SOCKET");
    unsetenv("NOTIFY_SOCKET");
    unsetenv("TEND_WATCHDOG");
    /* room for a thousand clients */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct row rows[128];
    int n = 0, failed = 0, total = 0;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (const struct scenario *scn = groups[g]; scn->name; scn++)
            if ((!only || listed(only, scn->name)) && !listed(skip, scn->name))
                total++;
    mkdir(outdir, 0755);
    char logs[PATH_MAX];
    snprintf(logs, sizeof logs, "rm -rf '%s/logs'", outdir);
    if (system(logs) != 0)
        fprintf(stderr, "fault: could not clear %s/logs\n", outdir);
    double t0 = now();
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (const struct scenario *scn = groups[g]; scn->name && n < 128; scn++) {
            if ((only && !listed(only, scn->name)) || listed(skip, scn->name) || interrupted)
                continue;
            struct row *r = &rows[n++];
            run_one(scn, r);
            if (strcmp(r->verdict, "pass") != 0 && strcmp(r->verdict, "skip") != 0)
                failed++;
            fprintf(stderr, "fault: [%2d/%d] %-22s %-6s %6.2fs%s%s\n", n, total, scn->name,
                    r->verdict, r->secs, *r->why ? "  " : "", r->why);
        }
    double secs = now() - t0;

    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/results.txt", outdir);
    FILE *f = fopen(path, "w");
    if (f)
        fprintf(f, "scenario\tresult\tseconds\tleaks\tdone\theld\tleaks_found\twhy\n");
    printf("\n| scenario | result | time | done | held | leaks |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        struct row *r = &rows[i];
        char *leaks = flat(r->leaks), *heldcol = flat(r->held);
        if (*r->why) {  /* what did not hold goes in the row too */
            char *both;
            if (asprintf(&both, "%s%s**not held:** %s", heldcol, *heldcol ? "; " : "",
                         flat(r->why)) < 0)
                abort();
            heldcol = both;
        }
        printf("| %s | %s | %.1fs | %s | %s | %d%s%s |\n", r->sc->name, r->verdict, r->secs,
               flat(r->done), heldcol, r->nleaks, *leaks ? ": " : "", leaks);
        if (f)
            fprintf(f, "%s\t%s\t%.2f\t%d\t%s\t%s\t%s\t%s\n", r->sc->name, r->verdict, r->secs,
                    r->nleaks, flat(r->done), flat(r->held), leaks, flat(r->why));
    }
    if (f)
        fclose(f);
    if (failed || n - failed != passed_count(rows, n)) {
        printf("\nWhat did not hold (or was not tried):\n");
        for (int i = 0; i < n; i++) {
            struct row *r = &rows[i];
            if (strcmp(r->verdict, "pass") == 0)
                continue;
            if (strcmp(r->verdict, "skip") == 0) {
                printf("- %s (skipped): %s\n", r->sc->name, flat(r->why));
                continue;
            }
            printf("- %s (%s): %s\n", r->sc->name, r->verdict, flat(r->why));
            if (r->sc->defect && !strcmp(r->verdict, "DEFECT"))
                printf("  known defect of tend: %s\n", r->sc->defect);
        }
    }
    int passed = passed_count(rows, n);
    printf("\nfault: %d scenarios: %d passed, %d failed, %d skipped; total time %.1f s "
           "(results in %s, tend's output in %s/logs)\n",
           n, passed, failed, n - passed - failed, secs, path, outdir);
    if (interrupted)
        return 128 + interrupted;
    return failed ? 1 : 0;
}
