/* test_groups.c -- the last-resort killer: a tend that dies of a stack
 * overflow still kills every process group it started. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/groups.h"
#include "harness.h"
#include "policy/lvm.h"
#include "policy/policy.h"

/* Recurse until the stack runs out; the volatile buffer keeps each frame. */
static int overflow(int depth)
{
    volatile char frame[1024];
    frame[0] = (char)depth;
    if (depth == INT_MAX)
        return 0;
    return overflow(depth + 1) + frame[0];
}

static void test_a_stack_overflow_still_kills_the_groups(void **state)
{
    int pids[2];
    assert_int_equal(pipe(pids), 0);
    pid_t doomed = fork();
    assert_true(doomed >= 0);
    if (doomed == 0) {
        /* the "tend": one child in a group of its own, then an overflow */
        struct rlimit rl = {1 << 20, 1 << 20};
        setrlimit(RLIMIT_STACK, &rl);
        pid_t c = fork();
        if (c == 0) {
            setpgid(0, 0);
            execlp("sleep", "sleep", "60", (char *)NULL);
            _exit(127);
        }
        setpgid(c, c);
        static struct pgroup g;
        groups_add(&g, c);
        groups_install_fatal_handlers();
        if (write(pids[1], &c, sizeof c) != sizeof c)
            _exit(1);
        _exit(overflow(0));
    }
    close(pids[1]);
    pid_t child;
    assert_int_equal(read(pids[0], &child, sizeof child), sizeof child);
    close(pids[0]);
    int fd = pid_watch(child);
    int status;
    assert_int_equal(waitpid(doomed, &status, 0), doomed);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    /* its child was killed by the handler, not left to run 60 s */
    assert_true(pidfd_wait_gone(fd, DEADLINE));
}

/* Policy code stuck in C, where no hook runs: the watchdog ends the
 * process from its signal handler, every group killed, exit code 70. */
static void test_the_watchdog_ends_a_run_stuck_in_c(void **state)
{
    char *dir = tmpdir_new();
    char *path = write_file(dir, "policy.lua", "-- nothing\n");
    int errs[2];
    assert_int_equal(pipe(errs), 0);
    pid_t doomed = fork();
    assert_true(doomed >= 0);
    if (doomed == 0) {
        dup2(errs[1], 2);
        pid_t c = fork();
        if (c == 0) {
            setpgid(0, 0);
            execlp("sleep", "sleep", "60", (char *)NULL);
            _exit(127);
        }
        setpgid(c, c);
        static struct pgroup g;
        groups_add(&g, c);
        char *err = NULL;
        struct policy *pol = policy_load(path, &err);
        if (!pol)
            _exit(1);
        printf("%d\n", (int)c);
        fflush(stdout);
        lvm_watchdog_start(0.2);
        lvm_arm(pol->vm, pol->L);
        for (volatile unsigned long i = 0;; i++)  /* stuck: no Lua runs */
            ;
    }
    close(errs[1]);
    int status;
    assert_int_equal(waitpid(doomed, &status, 0), doomed);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), LVM_WATCHDOG_EXIT);
    char msg[512] = "";
    ssize_t n = read(errs[0], msg, sizeof msg - 1);
    close(errs[0]);
    msg[n > 0 ? n : 0] = '\0';
    assert_contains(msg, "watchdog: policy code has used over");
    assert_contains(msg, "killing every proc");
    tmpdir_free(dir);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_stack_overflow_still_kills_the_groups),
        cmocka_unit_test(test_the_watchdog_ends_a_run_stuck_in_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
