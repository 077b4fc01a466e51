/* launch.c -- the one way tend starts a child. */
#include "core/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/spec.h"
#include "base/util.h"

extern char **environ;

static int devnull_fd = -1;

/* Whether `entry` ("KEY=VALUE" or "KEY") names one of the keys of the
 * NULL-terminated lists. */
static bool env_named(const char *entry, char *const *a, char *const *b)
{
    size_t klen = strcspn(entry, "=");
    char *const *lists[] = {a, b};
    for (int l = 0; l < 2; l++)
        for (char *const *k = lists[l]; k && *k; k++)
            if (strcspn(*k, "=") == klen && strncmp(entry, *k, klen) == 0)
                return true;
    return false;
}

char **launch_env(char **set_unset, char *const *more)
{
    size_t n = strv_len(environ) + strv_len(set_unset) + strv_len(more) + 1;
    char **env = xcalloc(n, sizeof *env);
    size_t k = 0;
    for (char **e = environ; *e; e++)
        if (!env_named(*e, set_unset, more))
            env[k++] = xstrdup(*e);
    for (char **e = set_unset; e && *e; e++)
        if (strchr(*e, '=') && !env_named(*e, NULL, more))
            env[k++] = xstrdup(*e);
    for (char *const *e = more; e && *e; e++)
        env[k++] = xstrdup(*e);
    env[k] = NULL;
    return env;
}

static const char *env_get(char **env, const char *key)
{
    size_t n = strlen(key);
    for (; *env; env++)
        if (strncmp(*env, key, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

/* RLIMIT_NOFILE as tend was started with (launch_keep_limits), which its
 * children get back: tend raises its own for its pipes, and a program
 * using select() breaks past FD_SETSIZE (systemd does the same). */
static struct rlimit started_nofile;
static bool keep_nofile;

void launch_keep_limits(void)
{
    keep_nofile = getrlimit(RLIMIT_NOFILE, &started_nofile) == 0;
}

static void close_from(int lo, int hi)
{
    if (lo > hi)
        return;
    if (close_range((unsigned)lo, (unsigned)hi, 0) == 0)
        return;
    struct rlimit rl;
    int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536
                  ? (int)rl.rlim_cur : 65536;
    for (int fd = lo; fd <= hi && fd < max; fd++)
        close(fd);
}

static void __attribute__((noreturn)) child_fail(int fd, int step, int err)
{
    struct exec_error e = {step, err};
    ssize_t r = write(fd, &e, sizeof e);
    (void)r;
    _exit(127);
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
child_exec(const struct launch_opts *o, pid_t parent, int nullfd, int outw, int errw,
           int execw)
{
    /* the raw system call: glibc's sigaction refuses its internal signals
     * (32, 33), which may arrive ignored (glibc's posix_spawn leaves them so) */
    struct { void (*handler)(int); unsigned long flags; void (*restorer)(void);
             uint64_t mask; } ksa;
    memset(&ksa, 0, sizeof ksa);
    ksa.handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof ksa.mask);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(127);  /* tend is already gone */
    /* into the incarnation's cgroup before it can start anything: what it
     * forks is born there ("0" moves the writer) */
    if (o->cgroup && write(o->cgroup_fd, "0", 1) != 1)
        child_fail(execw, STEP_CGROUP, errno);

    if (dup2(nullfd, 0) < 0 || dup2(outw, 1) < 0 || dup2(errw, 2) < 0)
        child_fail(execw, STEP_SETUP, errno);
    int keep = -1;  /* the readiness fd, under the number the policy chose */
    if (o->pass_as >= 3 && o->pass_fd >= 0) {
        if (execw == o->pass_as) {  /* move the exec pipe out of the way */
            int moved = fcntl(execw, F_DUPFD_CLOEXEC, o->pass_as + 1);
            if (moved < 0)
                child_fail(execw, STEP_SETUP, errno);
            execw = moved;
        }
        if (o->pass_fd == o->pass_as) {
            if (fcntl(o->pass_as, F_SETFD, 0) < 0)  /* keep it across exec */
                child_fail(execw, STEP_SETUP, errno);
        } else if (dup2(o->pass_fd, o->pass_as) < 0) {
            child_fail(execw, STEP_SETUP, errno);
        }
        keep = o->pass_as;
    }
    int lo = keep >= 0 && keep < execw ? keep : execw;
    int hi = keep >= 0 && keep > execw ? keep : execw;
    close_from(3, lo - 1);
    if (lo != hi)
        close_from(lo + 1, hi - 1);
    close_from(hi + 1, ~0U >> 1);
    if (keep_nofile)
        setrlimit(RLIMIT_NOFILE, &started_nofile);  /* lower than tend's: allowed */
    for (int i = 0; o->limits && i < LIMIT__RLIMITS; i++) {
        if (!o->limits->set[i])
            continue;
        struct rlimit rl = {(rlim_t)o->limits->value[i], (rlim_t)o->limits->value[i]};
        if (setrlimit(limit_rlimit_resource(i), &rl) != 0)
            child_fail(execw, STEP_LIMITS + i, errno);
    }

    if (o->cwd && chdir(o->cwd) != 0)
        child_fail(execw, STEP_CHDIR, errno);
    if (o->user) {
        /* the system calls, not libc's wrappers: once tend has had a thread
         * (users.c), glibc's setuid would set every thread's credentials,
         * walking tend's thread list from this child that shares its memory */
        if (syscall(SYS_setgroups, (size_t)o->ngroups, o->groups) != 0 ||
            syscall(SYS_setresgid, o->gid, o->gid, o->gid) != 0 ||
            syscall(SYS_setresuid, o->uid, o->uid, o->uid) != 0)
            child_fail(execw, STEP_USER, errno);
        /* a change of credentials clears the parent-death signal: again */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
    }

    const char *file = o->argv[0];
    if (strchr(file, '/')) {
        execve(file, o->argv, o->env);
        child_fail(execw, STEP_EXEC, errno);
    }
    /* search PATH as the child's environment gives it */
    const char *path = env_get(o->env, "PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    int err = ENOENT;
    char buf[4096];
    size_t flen = strlen(file);
    for (const char *d = path;; d++) {
        const char *end = strchr(d, ':');
        size_t dlen = end ? (size_t)(end - d) : strlen(d);
        if (dlen + flen + 2 <= sizeof buf) {
            memcpy(buf, d, dlen);
            size_t k = dlen;
            if (k == 0)
                buf[k++] = '.';
            buf[k++] = '/';
            memcpy(buf + k, file, flen + 1);
            execve(buf, o->argv, o->env);
            if (errno == EACCES)
                err = EACCES;
            else if (errno != ENOENT && errno != ENOTDIR)
                child_fail(execw, STEP_EXEC, errno);
        }
        if (!end)
            break;
        d = end;
    }
    child_fail(execw, STEP_EXEC, err);
}

/* ---- the fast path: fd slots and clone(CLONE_FILES) ----
 *
 * A vfork child gets a copy of tend's whole fd table, and closing what it
 * must not keep costs as much again: with thousands of pipes open, each
 * spawn costs time in proportion to them.  Instead the few fds a child
 * needs are put in fixed low slots, the child shares tend's table and, as
 * its first act, unshares only the fds below SLOT_END (close_range with
 * CLOSE_RANGE_UNSHARE), whatever tend holds above. */
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
enum { SLOT_OUT = 3, SLOT_ERR, SLOT_EXEC, SLOT_NULL, SLOT_PASS, SLOT_CGROUP, SLOT_END };

static bool slots_ready;

struct clone_arg {
    const struct launch_opts *o;
    pid_t parent;
};

static int clone_main(void *arg)
{
    struct clone_arg *a = arg;
    /* until this succeeds the table is tend's own: touch nothing */
    if (close_range(SLOT_END, ~0U, CLOSE_RANGE_UNSHARE) != 0)
        child_fail(SLOT_EXEC, STEP_SETUP, errno);
    child_exec(a->o, a->parent, SLOT_NULL, SLOT_OUT, SLOT_ERR, SLOT_EXEC);
}

/* Start the child on the fast path; its pid, or -1 with errno. */
static pid_t clone_child(const struct launch_opts *o, pid_t parent, int outw, int errw,
                         int execw)
{
    static char stack[64 * 1024] __attribute__((aligned(64)));
    struct launch_opts copy = *o;
    dup3(outw, SLOT_OUT, O_CLOEXEC);
    dup3(errw, SLOT_ERR, O_CLOEXEC);
    dup3(execw, SLOT_EXEC, O_CLOEXEC);
    if (copy.pass_fd >= 0) {
        dup3(copy.pass_fd, SLOT_PASS, O_CLOEXEC);
        copy.pass_fd = SLOT_PASS;
    }
    if (copy.cgroup) {
        dup3(copy.cgroup_fd, SLOT_CGROUP, O_CLOEXEC);
        copy.cgroup_fd = SLOT_CGROUP;
    }
    struct clone_arg a = {&copy, parent};
    /* CLONE_VFORK: tend waits until the child execs or exits, so one stack
     * serves every child */
    pid_t pid = clone(clone_main, stack + sizeof stack,
                      CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &a);
    int err = errno;
    /* the slots go back to /dev/null: the pipe ends live on in the child */
    dup3(SLOT_NULL, SLOT_OUT, O_CLOEXEC);
    dup3(SLOT_NULL, SLOT_ERR, O_CLOEXEC);
    dup3(SLOT_NULL, SLOT_EXEC, O_CLOEXEC);
    dup3(SLOT_NULL, SLOT_PASS, O_CLOEXEC);
    dup3(SLOT_NULL, SLOT_CGROUP, O_CLOEXEC);
    errno = err;
    return pid;
}

void launch_reserve_slots(void)
{
#ifdef __SANITIZE_ADDRESS__
    return;  /* AddressSanitizer does not follow a child on a stack of ours */
#endif
    /* nor does valgrind, which stops the program at such a clone(); its
     * preloaded libraries say it is there */
    const char *preload = getenv("LD_PRELOAD");
    if (preload && strstr(preload, "vgpreload"))
        return;
    /* the kernel must know CLOSE_RANGE_UNSHARE (Linux 5.9); on an unshared
     * table it closes nothing here */
    if (close_range(~0U, ~0U, CLOSE_RANGE_UNSHARE) != 0)
        return;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return;
    for (int fd = SLOT_OUT; fd < SLOT_END; fd++)
        if (fd != null && dup3(null, fd, O_CLOEXEC) != fd)
            return;
    if (null >= SLOT_END)
        close(null);
    slots_ready = true;
}

static void close_pair(int fds[2])
{
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    fds[0] = fds[1] = -1;
}

int launch_start(const struct launch_opts *o, struct launch_child *c, char **reason)
{
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, execp[2] = {-1, -1};
    if (devnull_fd < 0)
        devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    /* only the read ends are non-blocking: the child gets ordinary pipes */
    if (devnull_fd < 0 || pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC) ||
        pipe2(execp, O_CLOEXEC)) {
        *reason = xasprintf("pipe: %s", strerror(errno));
        goto fail;
    }
    /* vfork: the child borrows tend's memory until it execs, so nothing is
     * copied (a fork of a large supervisor costs page faults on both
     * sides).  The child only makes system calls and writes its own stack
     * frame, and ends in execve or _exit; every signal stays blocked until
     * it has reset the handlers, so no handler of tend's runs in it. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t parent = getpid();
    pid_t pid;
    if (slots_ready) {
        pid = clone_child(o, parent, outp[1], errp[1], execp[1]);
    } else {
        pid = vfork();
        if (pid == 0)
            child_exec(o, parent, devnull_fd, outp[1], errp[1], execp[1]);
    }
    int fork_err = errno;  /* meaningful only when the fork failed */
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        *reason = xasprintf("fork: %s", strerror(fork_err));
        goto fail;
    }
    setpgid(pid, pid);  /* also in the child: whichever runs first */
    close(outp[1]);
    close(errp[1]);
    close(execp[1]);
    /* a deeper pipe lets a fast writer run on while tend writes out what it
     * read, with fewer wakeups on both sides (the kernel allocates the
     * pages only as they fill) */
    fcntl(outp[0], F_SETPIPE_SZ, LAUNCH_PIPE_SIZE);
    fcntl(errp[0], F_SETPIPE_SZ, LAUNCH_PIPE_SIZE);
    c->pid = pid;
    c->out_fd = outp[0];
    c->err_fd = errp[0];
    c->exec_fd = execp[0];
    fd_set_nonblock(c->out_fd, 1);
    fd_set_nonblock(c->err_fd, 1);
    fd_set_nonblock(c->exec_fd, 1);
    return 0;

fail:
    close_pair(outp);
    close_pair(errp);
    close_pair(execp);
    return -1;
}

int launch_exec_read(int *fd, struct exec_error *e)
{
    ssize_t n;
    do
        n = read(*fd, e, sizeof *e);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return -1;
    close(*fd);
    *fd = -1;
    return n == (ssize_t)sizeof *e ? 0 : 1;
}

char *launch_reason(const struct launch_opts *o, const struct exec_error *e)
{
    switch (e->step) {
    case STEP_EXEC:
        return xasprintf("exec %s: %s", o->argv[0], strerror(e->err));
    case STEP_CHDIR:
        return xasprintf("chdir %s: %s", o->cwd, strerror(e->err));
    case STEP_USER:
        return xasprintf("user %s: %s", o->user, strerror(e->err));
    case STEP_CGROUP:
        return xasprintf("entering cgroup %s: %s", o->cgroup ? o->cgroup : "?",
                         strerror(e->err));
    default:
        if (e->step >= STEP_LIMITS && e->step < STEP_LIMITS + LIMIT__RLIMITS)
            return xasprintf("limits.%s: setrlimit: %s",
                             limit_rlimit_names[e->step - STEP_LIMITS], strerror(e->err));
        return xasprintf("setting up the child: %s", strerror(e->err));
    }
}
