/* launch.h -- fork and exec a program the way every child of tend starts:
 * its own process group (and cgroup, if asked), PR_SET_PDEATHSIG, default
 * signal dispositions and
 * an empty mask, stdin from /dev/null, stdout and stderr to fresh pipes, no
 * other fd of tend's, then cwd and user; exec is confirmed through a
 * close-on-exec pipe (SPEC 9). */
#ifndef TEND_LAUNCH_H
#define TEND_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

struct limits;

/* What a child that could not exec reports through the exec-confirm pipe. */
enum launch_step { STEP_EXEC, STEP_CHDIR, STEP_USER, STEP_SETUP, STEP_CGROUP, STEP_LIMITS };
struct exec_error {
    int step;
    int err;
};

/* The capacity tend gives a child's stdout and stderr pipes: at its exit,
 * up to this much is still to be read (proc_output.c reads all of it). */
#define LAUNCH_PIPE_SIZE (256 * 1024)

struct launch_opts {
    char *const *argv;    /* argv[0] searched in the env's PATH */
    char **env;           /* the complete environment (launch_env) */
    const char *cwd;      /* NULL: tend's */
    const char *user;     /* NULL: tend's; else uid, gid, groups apply */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    int ngroups;
    int pass_fd;          /* an fd of tend's the child gets ... */
    int pass_as;          /* ... as this number (>= 3); -1: none */
    const char *cgroup;   /* NULL: tend's; else the cgroup the child enters
                           * before anything else, ... */
    int cgroup_fd;        /* ... by writing to this fd, its cgroup.procs */
    const struct limits *limits;  /* rlimits set before exec, or NULL */
};

struct launch_child {
    pid_t pid;
    int out_fd, err_fd;   /* read ends: non-blocking, close-on-exec */
    int exec_fd;          /* the exec-confirm read end: non-blocking */
};

/* Take fds 3..8 as spawn slots, so that starting a child costs the same
 * however many fds tend holds (see launch.c).  Call before anything else
 * opens an fd; without it (or on an old kernel) launch_start still works,
 * by vfork. */
void launch_reserve_slots(void);
/* Remember the resource limits tend was started with, before it raises its
 * own: every child started after gets them back (SPEC 9). */
void launch_keep_limits(void);

/* Start the child.  0, or -1 with *reason ("fork: ...", "pipe: ...") and
 * nothing left open. */
int launch_start(const struct launch_opts *o, struct launch_child *c, char **reason);

/* Read the exec report: 1 exec succeeded, 0 it failed (*e says why), -1
 * nothing known yet.  On 1 or 0 the fd is closed. */
int launch_exec_read(int *fd, struct exec_error *e);

/* The `failed` reason for an exec report ("exec /nope: No such file or
 * directory"). */
char *launch_reason(const struct launch_opts *o, const struct exec_error *e);

/* tend's environment with `set_unset` applied ("K=V" sets, a bare "K"
 * unsets), then `more` ("K=V", winning over both); a new array. */
char **launch_env(char **set_unset, char *const *more);

#endif
