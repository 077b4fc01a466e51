/* harness.c -- waits with deadlines, tend runs, process watching. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "core/reap.h"

#include "core/manager.h"
#include "policy/policy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    *(bool *)w->data = true;
}

bool loop_until(struct ev_loop *loop, bool (*cond)(void *), void *arg, double timeout)
{
    bool expired = false;
    ev_timer t;
    ev_timer_init(&t, deadline_cb, timeout, 0);
    t.data = &expired;
    ev_timer_start(loop, &t);
    while (!cond(arg) && !expired)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &t);
    return cond(arg);
}

bool pid_alive(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

/* Without pidfds (a test program run under valgrind 3.19, which does not
 * know pidfd_open): whether `pid` is gone or a zombie, looked at every 10
 * ms up to the deadline.  Only there: everywhere else the pidfd is polled. */
static bool pid_wait_gone_polling(pid_t pid, double timeout)
{
    double end = mono() + timeout;
    for (;;) {
        if (!pid_alive(pid))
            return true;
        if (mono() >= end)
            return false;
        poll(NULL, 0, 10);
    }
}

bool pid_wait_gone(pid_t pid, double timeout)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0 && errno == ENOSYS)
        return pid_wait_gone_polling(pid, timeout);
    if (fd < 0)
        return errno == ESRCH;
    double end = mono() + timeout;
    bool gone = false;
    while (!gone) {
        /* a pidfd polls readable once the process has exited (zombie or
         * reaped) */
        double left = end - mono();
        if (left <= 0)
            break;
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (r > 0)
            gone = true;
        else if (r < 0 && errno != EINTR)
            break;
    }
    close(fd);
    return gone;
}

char *tmpdir_new(void)
{
    char tmpl[] = "/tmp/tend-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void tmpdir_free(char *dir)
{
    if (!dir)
        return;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

char *tmpdir_with_socket(void)
{
    char *dir = tmpdir_new();
    if (!dir)
        return NULL;
    char sock[PATH_MAX];
    snprintf(sock, sizeof sock, "%s/tend.sock", dir);
    setenv("TEND_SOCKET", sock, 1);
    return dir;
}

void tmpdir_with_socket_free(char *dir)
{
    unsetenv("TEND_SOCKET");
    tmpdir_free(dir);
}

int cli_code(const char *const *args)
{
    struct tend_run *c = tend_run_sync(args, DEADLINE);
    int code = run_exit_code(c);
    if (code != 0)
        fprintf(stderr, "client %s: %d\n%s%s", args[0], code, c->out, c->err);
    tend_free(c);
    return code;
}

json_t *cli_statuses(const char *name)
{
    struct tend_run *c = tend_run_sync((const char *[]){"status", "--json", name, NULL},
                                       DEADLINE);
    json_error_t err;
    json_t *all = json_loads(c->out, 0, &err);
    if (!all)
        fail_msg("status --json %s: %s\n%s", name, err.text, c->err);
    tend_free(c);
    return all;
}

char *write_file(const char *dir, const char *name, const char *text)
{
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        abort();
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
    return path;
}

char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static bool file_has(const char *path, const char *needle)
{
    char *s = read_file(path);
    bool yes = s && strstr(s, needle);
    free(s);
    return yes;
}

bool file_wait_for(const char *path, const char *needle, double timeout)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    inotify_add_watch(in, dir, IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO);
    double end = mono() + timeout;
    bool found;
    while (!(found = file_has(path, needle))) {
        double left = end - mono();
        if (left <= 0)
            break;
        struct pollfd pfd = {in, POLLIN, 0};
        if (poll(&pfd, 1, (int)(left * 1000) + 1) > 0) {
            char buf[4096];
            while (read(in, buf, sizeof buf) > 0)
                ;
        }
    }
    close(in);
    return found;
}

const char *tend_path(void)
{
    const char *p = getenv("TEND");
    return p && *p ? p : "build/tend";
}

struct tend_run *tend_start(const char *const *args)
{
    return tend_start_in(args, -1);
}

/* The directory of the per-run sockets, made on first use and removed at
 * exit. */
static char *sock_dir;

static void sock_dir_remove(void)
{
    tmpdir_free(sock_dir);
    sock_dir = NULL;
}

/* The environment of a run: ours, plus a TEND_SOCKET of its own unless
 * one is set.  The caller frees the array and its last added entry. */
static char **run_env(char **added)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    memcpy(env, environ, n * sizeof *env);
    *added = NULL;
    if (!getenv("TEND_SOCKET")) {
        static unsigned runs;
        if (!sock_dir) {
            char tmpl[] = "/tmp/tend-harness-XXXXXX";
            sock_dir = strdup(mkdtemp(tmpl) ? tmpl : "/tmp");
            atexit(sock_dir_remove);
        }
        if (asprintf(added, "TEND_SOCKET=%s/run-%u.sock", sock_dir, runs++) < 0)
            abort();
        env[n] = *added;
    }
    return env;
}

/* Spawn argv (argv[0] searched in PATH when `search`) with output
 * captured. */
static struct tend_run *spawn_captured(char **argv, int stdin_fd, bool search)
{
    struct tend_run *t = calloc(1, sizeof *t);
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
        fprintf(stderr, "harness: pipe2: %s\n", strerror(errno));
        abort();
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (stdin_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    /* tend gets its own process group, as under a shell */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    char *added;
    char **env = run_env(&added);
    int rc = search ? posix_spawnp(&t->pid, argv[0], &fa, &attr, argv, env)
                    : posix_spawn(&t->pid, argv[0], &fa, &attr, argv, env);
    if (rc != 0) {
        fprintf(stderr, "harness: cannot spawn %s: %s\n", argv[0], strerror(rc));
        abort();
    }
    free(env);
    free(added);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(out[1]);
    close(err[1]);
    t->out_fd = out[0];
    t->err_fd = err[0];
    t->out = calloc(1, 1);
    t->err = calloc(1, 1);
    return t;
}

struct tend_run *tend_start_in(const char *const *args, int stdin_fd)
{
    size_t n = 0;
    while (args[n])
        n++;
    char **argv = calloc(n + 2, sizeof *argv);
    argv[0] = (char *)tend_path();
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    struct tend_run *t = spawn_captured(argv, stdin_fd, false);
    free(argv);
    return t;
}

struct tend_run *prog_start(const char *const *argv)
{
    return spawn_captured((char **)argv, -1, true);
}

int run_exit_code(const struct tend_run *t)
{
    if (!t->exited)
        return -1;
    if (WIFEXITED(t->status))
        return WEXITSTATUS(t->status);
    return 128 + WTERMSIG(t->status);
}

/* Read whatever is ready within `ms`; false once both streams are closed. */
static bool pump(struct tend_run *t, int ms)
{
    struct pollfd pfd[2] = {{t->out_fd, POLLIN, 0}, {t->err_fd, POLLIN, 0}};
    if (t->out_fd < 0 && t->err_fd < 0)
        return false;
    if (poll(pfd, 2, ms) <= 0)
        return true;
    for (int i = 0; i < 2; i++) {
        if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char buf[65536];
        ssize_t r = read(pfd[i].fd, buf, sizeof buf);
        char **dst = i ? &t->err : &t->out;
        size_t *len = i ? &t->err_len : &t->out_len;
        int *fd = i ? &t->err_fd : &t->out_fd;
        if (r <= 0) {
            close(*fd);
            *fd = -1;
            continue;
        }
        *dst = realloc(*dst, *len + (size_t)r + 1);
        memcpy(*dst + *len, buf, (size_t)r);
        *len += (size_t)r;
        (*dst)[*len] = '\0';
    }
    return true;
}

int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* How often `needle` was seen on stream 1 or 2 (0: both). */
static int seen(const struct tend_run *t, int stream, const char *needle)
{
    return (stream != 2 ? count_of(t->out, needle) : 0) +
           (stream != 1 ? count_of(t->err, needle) : 0);
}

bool tend_expect_n(struct tend_run *t, int stream, const char *needle, int n, double timeout)
{
    double end = mono() + timeout;
    for (;;) {
        if (seen(t, stream, needle) >= n)
            return true;
        double left = end - mono();
        if (left <= 0 || !pump(t, (int)(left * 1000) + 1))
            return seen(t, stream, needle) >= n;
    }
}

bool tend_expect(struct tend_run *t, int stream, const char *needle, double timeout)
{
    return tend_expect_n(t, stream, needle, 1, timeout);
}

int tend_wait(struct tend_run *t, double timeout)
{
    double end = mono() + timeout;
    while (mono() < end && pump(t, (int)((end - mono()) * 1000) + 1))
        ;
    if (!t->exited) {
        /* both streams closed: tend is exiting; wait for it with a pidfd */
        if (!pid_wait_gone(t->pid, end - mono() > 0 ? end - mono() : 0.01))
            return -1;
        if (waitpid(t->pid, &t->status, 0) != t->pid)
            return -1;
        t->exited = true;
    }
    if (WIFEXITED(t->status))
        return WEXITSTATUS(t->status);
    return 128 + WTERMSIG(t->status);
}

void tend_free(struct tend_run *t)
{
    if (!t)
        return;
    if (!t->exited) {
        kill(t->pid, SIGKILL);
        waitpid(t->pid, &t->status, 0);
    }
    if (t->out_fd >= 0)
        close(t->out_fd);
    if (t->err_fd >= 0)
        close(t->err_fd);
    free(t->out);
    free(t->err);
    free(t);
}

struct tend_run *tend_run_sync(const char *const *args, double timeout)
{
    struct tend_run *t = tend_start(args);
    tend_wait(t, timeout);
    return t;
}

size_t read_pids(const char *path, pid_t *pids, size_t max)
{
    char *s = read_file(path);
    size_t n = 0;
    if (!s)
        return 0;
    for (char *p = s; *p && n < max;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        if (v > 0)
            pids[n++] = (pid_t)v;
        p = end;
    }
    free(s);
    return n;
}

int pid_watch(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

bool pidfd_wait_gone(int fd, double timeout)
{
    if (fd < 0)
        return true;
    double end = mono() + timeout;
    bool gone = false;
    for (;;) {
        double left = end - mono();
        if (left <= 0)
            break;
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (r > 0) {
            gone = true;
            break;
        }
        if (r < 0 && errno != EINTR)
            break;
    }
    close(fd);
    return gone;
}

/* Whether /proc/PID/environ holds the entry `want` ("VAR=VALUE"). */
static bool environ_has(pid_t pid, const char *want)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    while ((r = read(fd, buf + n, cap - n)) > 0) {
        n += (size_t)r;
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
    }
    close(fd);
    buf[n] = '\0';
    bool found = false;
    for (size_t i = 0; i < n && !found; i += strlen(buf + i) + 1)
        found = strcmp(buf + i, want) == 0;
    free(buf);
    return found;
}

size_t procs_kill_tagged(const char *var, const char *value, double timeout)
{
    char *want;
    if (asprintf(&want, "%s=%s", var, value) < 0)
        abort();
    double end = mono() + timeout;
    size_t killed = 0;
    for (;;) {
        pid_t pids[256];
        int fds[256];
        size_t n = 0;
        DIR *d = opendir("/proc");
        if (!d)
            break;
        struct dirent *e;
        while ((e = readdir(d)) && n < 256) {
            char *endp;
            long v = strtol(e->d_name, &endp, 10);
            if (*endp || v <= 0 || (pid_t)v == getpid())
                continue;
            if (pid_alive((pid_t)v) && environ_has((pid_t)v, want)) {
                fds[n] = pid_watch((pid_t)v);
                pids[n++] = (pid_t)v;
            }
        }
        closedir(d);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            if (fds[i] < 0)
                continue;
            if (getpgid(pids[i]) == pids[i])
                kill(-pids[i], SIGKILL);
            syscall(SYS_pidfd_send_signal, fds[i], SIGKILL, NULL, 0);
        }
        for (size_t i = 0; i < n; i++)
            pidfd_wait_gone(fds[i], end - mono() > 0 ? end - mono() : 0.01);
        killed += n;
        if (mono() >= end)
            break;
    }
    free(want);
    return killed;
}

static void policy_deadline_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    manager_shutdown(w->data, 124);
    manager_shutdown(w->data, 124);  /* and kill what is left */
}

int policy_run_text(struct ev_loop *loop, const char *dir, const char *text, char **err)
{
    char *path = write_file(dir, "policy.lua", text);
    struct policy *pol = policy_load(path, err);
    free(path);
    if (!pol)
        return -1;
    reap_start(loop);
    struct manager *m = manager_new(loop);
    policy_attach(pol, m, loop);
    manager_start(m);
    policy_run_tasks(pol);
    ev_timer deadline;
    ev_timer_init(&deadline, policy_deadline_cb, DEADLINE, 0);
    deadline.data = m;
    ev_timer_start(loop, &deadline);
    int code = manager_run(m);
    ev_timer_stop(loop, &deadline);
    policy_free(pol);
    manager_free(m);
    return code;
}
