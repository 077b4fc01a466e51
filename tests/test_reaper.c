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
#include <sys/wait.h>
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

/* Start `setsid sleep 60` as a child with pid `want` (ns_last_pid makes
 * the kernel hand out that id next); its pid, or -1 when another process
 * took the id first every time until `timeout`. */
static pid_t start_stranger_at(pid_t want, double timeout)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
        if (!f)
            return -1;
        fprintf(f, "%d", (int)want - 1);
        fclose(f);
        pid_t pid = fork();
        if (pid == 0) {
            setsid();
            execlp("sleep", "sleep", "60", (char *)NULL);
            _exit(127);
        }
        if (pid == want)
            return pid;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9 > timeout)
            return -1;
    }
}

/* What is left of a group after its main process exits is killed at the
 * stop deadline, but not once the group has emptied: by then its id may
 * belong to a stranger (here made to by ns_last_pid), who must survive. */
static void test_a_reused_group_id_is_not_killed_at_the_deadline(void **state)
{
    if (geteuid() != 0 || access("/proc/sys/kernel/ns_last_pid", W_OK) != 0)
        skip();  /* choosing the next pid takes root */
    char *dir = tmpdir_new();
    char policy[4400], mainfile[256], gcfile[256];
    snprintf(mainfile, sizeof mainfile, "%s/main", dir);
    snprintf(gcfile, sizeof gcfile, "%s/gc", dir);
    snprintf(policy, sizeof policy,
             "tend.proc { name = 'p', restart = 'never', stop_timeout = 3, cmd = { 'sh', '-c',\n"
             "  'echo $$ > %s; (trap \"\" TERM; exec sleep 1) & echo $! > %s; exit 0' } }\n"
             "tend.task(function() tend.sleep(4.5) tend.log.info('past the deadline') end)\n",
             mainfile, gcfile);
    char *path = write_file(dir, "policy.lua", policy);
    struct tend_run *t = tend_start((const char *[]){"run", path, NULL});
    assert_true(file_wait_for(gcfile, "\n", DEADLINE));
    pid_t group, gc;
    assert_int_equal(read_pids(mainfile, &group, 1), 1);
    assert_int_equal(read_pids(gcfile, &gc, 1), 1);
    assert_true(tend_expect(t, 2, "p: exited with code 0", DEADLINE));
    /* the leftover ignores SIGTERM and ends by itself before the deadline */
    assert_true(pid_wait_gone(gc, DEADLINE));
    pid_t stranger = start_stranger_at(group, DEADLINE);
    assert_int_equal(stranger, group);
    assert_true(tend_expect(t, 2, "past the deadline", DEADLINE));
    int status;
    assert_int_equal(waitpid(stranger, &status, WNOHANG), 0);  /* still running */
    kill(stranger, SIGKILL);
    waitpid(stranger, &status, 0);
    kill(t->pid, SIGTERM);
    tend_wait(t, DEADLINE);
    tend_free(t);
    free(path);
    tmpdir_free(dir);
}

/* A leftover that outlives the deadline is still killed then. */
static void test_a_leftover_past_the_deadline_is_killed(void **state)
{
    char *dir = tmpdir_new();
    char policy[4400], gcfile[256];
    snprintf(gcfile, sizeof gcfile, "%s/gc", dir);
    snprintf(policy, sizeof policy,
             "tend.proc { name = 'p', restart = 'never', stop_timeout = 0.2, cmd = { 'sh', '-c',\n"
             "  '(trap \"\" TERM; exec sleep 60) & echo $! > %s; exit 0' } }\n"
             "tend.task(function() tend.sleep(30) end)\n", gcfile);
    char *path = write_file(dir, "policy.lua", policy);
    struct tend_run *t = tend_start((const char *[]){"run", path, NULL});
    assert_true(file_wait_for(gcfile, "\n", DEADLINE));
    pid_t gc;
    assert_int_equal(read_pids(gcfile, &gc, 1), 1);
    int fd = pid_watch(gc);
    assert_true(pidfd_wait_gone(fd, DEADLINE));  /* SIGKILL at 0.2 s, not 60 s */
    kill(t->pid, SIGTERM);
    tend_wait(t, DEADLINE);
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
        cmocka_unit_test(test_a_reused_group_id_is_not_killed_at_the_deadline),
        cmocka_unit_test(test_a_leftover_past_the_deadline_is_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
