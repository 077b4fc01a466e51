/* harness.h -- what the tests share: waiting with deadlines (never
 * sleeping), running the tend binary like a user, and watching processes
 * that are not our children. */
#ifndef TEND_TEST_HARNESS_H
#define TEND_TEST_HARNESS_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Seconds every wait in the tests may take at most (generous: a loaded
 * 2-core machine must pass). */
#define DEADLINE 10.0

/* Run `loop` until cond(arg) holds or `timeout` seconds pass; whether it
 * holds. */
bool loop_until(struct ev_loop *loop, bool (*cond)(void *), void *arg, double timeout);

/* Whether process `pid` exists (and is not a zombie). */
bool pid_alive(pid_t pid);
/* Wait for `pid` (any process, not only a child) to be gone, via a pidfd;
 * whether it went within `timeout`. */
bool pid_wait_gone(pid_t pid, double timeout);

/* A temporary directory for one test, removed with rm -rf by tmpdir_free. */
char *tmpdir_new(void);
void tmpdir_free(char *dir);
/* The same, with $TEND_SOCKET set to DIR/tend.sock, so that the test's
 * tend has a control socket of its own; the _free unsets it. */
char *tmpdir_with_socket(void);
void tmpdir_with_socket_free(char *dir);
/* Write `text` to dir/name; the path (caller frees). */
char *write_file(const char *dir, const char *name, const char *text);
/* The contents of a file, or NULL; the caller frees. */
char *read_file(const char *path);
/* Wait until `path` exists and contains `needle` (inotify on its
 * directory, no polling); whether it did within `timeout`. */
bool file_wait_for(const char *path, const char *needle, double timeout);

/* A running `tend` binary with its stdout and stderr captured. */
struct tend_run {
    pid_t pid;
    int out_fd, err_fd;
    char *out, *err;  /* everything read so far, NUL-terminated */
    size_t out_len, err_len;
    int status;       /* wait status, once exited */
    bool exited;
};

/* Start `$TEND args...` (NULL-terminated) with stdin from /dev/null.
 * Unless TEND_SOCKET is set, each run gets a control socket of its own (in
 * a directory the harness removes at exit), so tends never meet on the
 * default socket. */
struct tend_run *tend_start(const char *const *args);
/* The same with `stdin_fd` as tend's stdin (-1: /dev/null). */
struct tend_run *tend_start_in(const char *const *args, int stdin_fd);
/* Start any program (`argv[0]` searched in PATH) with stdin from /dev/null
 * and its output captured, like a tend run. */
struct tend_run *prog_start(const char *const *argv);
/* The exit code of a finished run (128+signal when killed). */
int run_exit_code(const struct tend_run *t);

/* Read output until `needle` appears on stream 1 or 2 (0: either); whether
 * it did within `timeout`. */
bool tend_expect(struct tend_run *t, int stream, const char *needle, double timeout);
/* The same, until `needle` has appeared `n` times (counted over both
 * streams when stream is 0). */
bool tend_expect_n(struct tend_run *t, int stream, const char *needle, int n, double timeout);
/* How many times `needle` (not empty) occurs in `hay`, not overlapping. */
int count_of(const char *hay, const char *needle);
/* Wait for tend to exit, reading its output; its exit code (128+signal
 * when killed), or -1 on timeout. */
int tend_wait(struct tend_run *t, double timeout);
/* Kill (if still running), reap and free. */
void tend_free(struct tend_run *t);
/* Run `$TEND args...` to completion; its exit code, output in t. */
struct tend_run *tend_run_sync(const char *const *args, double timeout);

/* The path of the tend binary under test ($TEND, else build/tend). */
const char *tend_path(void);

/* In-process: write `text` to dir/policy.lua, load it, attach it to a new
 * manager on `loop`, run until tend would exit (at most DEADLINE, then a
 * shutdown with code 124) and free everything; the exit code, or -1 with
 * *err when the policy does not load. */
int policy_run_text(struct ev_loop *loop, const char *dir, const char *text, char **err);

/* cmocka checks that say what they looked for (use after <cmocka.h>). */
#define assert_contains(hay, needle)                                               \
    do {                                                                           \
        if (!strstr((hay), (needle)))                                              \
            fail_msg("%s:%d: \"%s\" not found in:\n%s", __FILE__, __LINE__,        \
                     (needle), (hay));                                             \
    } while (0)

#define assert_lacks(hay, needle)                                                  \
    do {                                                                           \
        if (strstr((hay), (needle)))                                               \
            fail_msg("%s:%d: \"%s\" unexpectedly found in:\n%s", __FILE__,         \
                     __LINE__, (needle), (hay));                                   \
    } while (0)

/* The pids listed one a line in a file. */
size_t read_pids(const char *path, pid_t *pids, size_t max);

/* A pidfd for `pid`, taken as soon as the pid is known so that a reused
 * pid cannot fool a later wait; -1 when the process is already gone. */
int pid_watch(pid_t pid);
/* Wait until the process of a pid_watch() fd has exited (-1: it had
 * already); whether it did within `timeout`.  Closes the fd. */
bool pidfd_wait_gone(int pidfd, double timeout);

/* SIGKILL every process (and its process group) whose environment holds
 * VAR=VALUE, until none is left or `timeout` passes; how many were
 * killed.  The cleanup of last resort for what a test started. */
size_t procs_kill_tagged(const char *var, const char *value, double timeout);

/* Run a client command (`tend ARGS...`) to its end: its exit code; its
 * output goes to stderr when that is not 0. */
int cli_code(const char *const *args);
/* `tend status --json NAME`, parsed (the caller decrefs); fails the test
 * when the output is not JSON. */
json_t *cli_statuses(const char *name);

#endif
