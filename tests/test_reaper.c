/* test_reaper.c -- `tend run --subreaper`: orphaned descendants are adopted
 * by tend and reaped by it, not left as zombies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* The parent pid of `pid` from /proc, or -1. */
static pid_t ppid_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *s = read_file(path);
    if (!s)
        return -1;
    const char *p = strstr(s, "\nPPid:");
    pid_t ppid = p ? (pid_t)atoi(p + 6) : -1;
    free(s);
    return ppid;
}

/* Wait until `pid` no longer exists at all (reaped, not a zombie).  There is
 * no event for another process's reaping, so this checks kill(pid, 0) with
 * a deadline. */
static bool wait_reaped(pid_t pid, double timeout)
{
    struct timespec tick = {0, 2000000};
    for (double waited = 0; waited < timeout; waited += 0.002) {
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return true;
        nanosleep(&tick, NULL);
    }
    return false;
}

static void test_subreaper_adopts_and_reaps_orphans(void **state)
{
    char *dir = tmpdir_new();
    char policy[4096];
    snprintf(policy, sizeof policy,
             "tend.proc { name = 'parent', cmd = { 'sh', '-c',\n"
             "  '(sleep 300 & echo $! > %s/orphan); exec sleep 300' } }\n", dir);
    char *path = write_file(dir, "policy.lua", policy);
    char orphan_file[4200];
    snprintf(orphan_file, sizeof orphan_file, "%s/orphan", dir);
    struct tend_run *t = tend_start((const char *[]){"run", "--subreaper", path, NULL});
    assert_true(file_wait_for(orphan_file, "\n", DEADLINE));
    pid_t orphan;
    assert_int_equal(read_pids(orphan_file, &orphan, 1), 1);
    /* its parent, the subshell, has exited: tend adopted it */
    double waited = 0;
    while (ppid_of(orphan) != t->pid && waited < DEADLINE) {
        struct timespec tick = {0, 2000000};
        nanosleep(&tick, NULL);
        waited += 0.002;
    }
    assert_int_equal(ppid_of(orphan), t->pid);
    /* when it dies, tend reaps it: no zombie stays behind */
    kill(orphan, SIGKILL);
    assert_true(wait_reaped(orphan, DEADLINE));
    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(path);
    tmpdir_free(dir);
}

static void test_an_unhandled_fatal_signal_leaves_no_orphans(void **state)
{
    char *dir = tmpdir_new();
    char policy[4400], pidfile[256];
    snprintf(pidfile, sizeof pidfile, "%s/gc", dir);
    snprintf(policy, sizeof policy,
             "tend.proc { name = 'p', cmd = { 'sh', '-c', 'sleep 300 & echo $! > %s; wait' } }\n",
             pidfile);
    char *path = write_file(dir, "policy.lua", policy);
    struct tend_run *t = tend_start((const char *[]){"run", path, NULL});
    assert_true(file_wait_for(pidfile, "\n", DEADLINE));
    pid_t gc;
    assert_int_equal(read_pids(pidfile, &gc, 1), 1);
    kill(t->pid, SIGUSR1);  /* tend does not handle it: it dies of it */
    assert_int_equal(tend_wait(t, DEADLINE), 128 + SIGUSR1);
    assert_true(pid_wait_gone(gc, DEADLINE));
    tend_free(t);
    free(path);
    tmpdir_free(dir);
}

static void test_a_proc_run_as_another_user_dies_with_tend(void **state)
{
    if (geteuid() != 0)
        skip();
    char *dir = tmpdir_new();
    char policy[4400], pidfile[256];
    snprintf(pidfile, sizeof pidfile, "%s/pid", dir);
    chmod(dir, 0777);
    snprintf(policy, sizeof policy,
             "tend.proc { name = 'p', user = 'nobody', cmd = { 'sh', '-c', 'echo $$ > %s; exec sleep 300' } }\n",
             pidfile);
    char *path = write_file(dir, "policy.lua", policy);
    struct tend_run *t = tend_start((const char *[]){"run", path, NULL});
    assert_true(file_wait_for(pidfile, "\n", DEADLINE));
    pid_t child;
    assert_int_equal(read_pids(pidfile, &child, 1), 1);
    kill(t->pid, SIGKILL);
    tend_wait(t, DEADLINE);
    assert_true(pid_wait_gone(child, DEADLINE));  /* PR_SET_PDEATHSIG survived setuid */
    tend_free(t);
    free(path);
    tmpdir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subreaper_adopts_and_reaps_orphans),
        cmocka_unit_test(test_an_unhandled_fatal_signal_leaves_no_orphans),
        cmocka_unit_test(test_a_proc_run_as_another_user_dies_with_tend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
