/* test_reload.c -- reloading the policy (SIGHUP) through the real binary:
 * an unchanged proc keeps its pid, a changed one is restarted, a removed one
 * is stopped, a new one is started, a broken file is rejected with the
 * running set intact, and the old VM's hooks end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char *dir;

static int setup(void **state)
{
    dir = tmpdir_with_socket();  /* each tend its own control socket */
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    tmpdir_with_socket_free(dir);
    return 0;
}

/* The pid tend last logged as started for `name`, or 0. */
static pid_t started_pid(const struct tend_run *t, const char *name)
{
    char needle[128];
    snprintf(needle, sizeof needle, "tend: %s: started (pid ", name);
    pid_t pid = 0;
    for (const char *p = t->err; (p = strstr(p, needle)); p++)
        pid = (pid_t)atoi(p + strlen(needle));
    return pid;
}

static void test_reload_keeps_restarts_stops_and_starts(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'keep', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'change', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'gone', cmd = { 'sleep', '300' } }\n"
        "tend.on('ready', function(p) tend.log.info('v1 saw %s ready', p.name) end)\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "v1 saw keep ready", DEADLINE));
    assert_true(tend_expect(t, 2, "v1 saw change ready", DEADLINE));
    assert_true(tend_expect(t, 2, "v1 saw gone ready", DEADLINE));
    pid_t keep = started_pid(t, "keep"), change = started_pid(t, "change");
    pid_t gone = started_pid(t, "gone");
    int gone_fd = pid_watch(gone), change_fd = pid_watch(change);

    free(write_file(dir, "p.lua",
        "tend.proc { name = 'keep', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'change', cmd = { 'sleep', '301' } }\n"
        "tend.proc { name = 'new', cmd = { 'sleep', '300' } }\n"
        "tend.on('ready', function(p) tend.log.info('v2 saw %s ready', p.name) end)\n"));
    kill(t->pid, SIGHUP);
    assert_true(tend_expect(t, 2, "v2 saw new ready", DEADLINE));
    assert_true(tend_expect(t, 2, "v2 saw change ready", DEADLINE));
    assert_true(pidfd_wait_gone(gone_fd, DEADLINE));      /* removed: stopped */
    assert_true(pidfd_wait_gone(change_fd, DEADLINE));    /* changed: restarted */
    assert_int_equal(started_pid(t, "keep"), keep);        /* unchanged: untouched */
    assert_true(pid_alive(keep));
    assert_true(started_pid(t, "change") != change);
    assert_true(pid_alive(started_pid(t, "new")));
    /* the old VM's hooks ended: no v1 line after the reload */
    const char *reloaded = strstr(t->err, "reloaded");
    assert_non_null(reloaded);
    assert_null(strstr(reloaded, "v1 saw"));

    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    assert_false(pid_alive(keep));
    tend_free(t);
    free(policy);
}

static void test_a_broken_file_is_rejected_and_the_running_set_kept(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'a', cmd = { 'sleep', '300' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "a: started (pid ", DEADLINE));
    pid_t a = started_pid(t, "a");
    free(write_file(dir, "p.lua",
        "tend.proc { name = 'a', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'b', cmd = { 'true' }, bogus = 1 }\n"));
    kill(t->pid, SIGHUP);
    assert_true(tend_expect(t, 2, "reload refused, the running set is kept", DEADLINE));
    assert_non_null(strstr(t->err, "p.lua:2:"));
    assert_non_null(strstr(t->err, "field 'bogus'"));
    assert_true(pid_alive(a));
    assert_null(strstr(t->err, "b: started"));
    /* a later good file still reloads */
    free(write_file(dir, "p.lua",
        "tend.proc { name = 'a', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'b', cmd = { 'sleep', '300' } }\n"));
    kill(t->pid, SIGHUP);
    assert_true(tend_expect(t, 2, "b: started", DEADLINE));
    assert_int_equal(started_pid(t, "a"), a);
    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
}

static void test_reload_of_changed_procs_not_running_and_twice_in_a_row(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'idle', cmd = { 'sleep', '1' }, autostart = false }\n"
        "tend.proc { name = 'slow', cmd = { 'sh', '-c', 'trap \"sleep 0.3; exit 0\" TERM;"
        " echo armed; while :; do sleep 0.05; done' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 1, "slow | armed", DEADLINE));  /* its trap is set */
    /* idle is not running: replaced at once; slow is stopping slowly */
    free(write_file(dir, "p.lua",
        "tend.proc { name = 'idle', cmd = { 'sleep', '2' }, autostart = false }\n"
        "tend.proc { name = 'slow', cmd = { 'sh', '-c', 'trap \"sleep 0.3; exit 0\" TERM;"
        " while :; do sleep 0.06; done' } }\n"));
    kill(t->pid, SIGHUP);
    assert_true(tend_expect(t, 2, "reloaded", DEADLINE));
    /* and again while the first slow is still on its way out */
    free(write_file(dir, "p.lua",
        "tend.proc { name = 'idle', cmd = { 'sleep', '3' }, autostart = false }\n"
        "tend.proc { name = 'slow', cmd = { 'sh', '-c', 'trap \"sleep 0.3; exit 0\" TERM;"
        " while :; do sleep 0.07; done' } }\n"));
    kill(t->pid, SIGHUP);
    assert_true(tend_expect(t, 2, "slow: exited with code 0", DEADLINE));
    /* then one new incarnation, after the old one ended */
    assert_true(tend_expect_n(t, 2, "slow: started", 2, DEADLINE));
    assert_non_null(strstr(strstr(t->err, "slow: exited with code 0"), "slow: started"));
    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
}

/* A changed proc that is down (stopped on purpose, or a job that has
 * finished) stays down with its new declaration; a running one restarts. */
static void test_changed_procs_that_are_down_stay_down(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'kept', cmd = { 'sleep', '1000' } }\n"
        "tend.proc { name = 'done', cmd = { 'true' }, restart = 'never' }\n"
        "tend.proc { name = 'live', cmd = { 'sleep', '1000' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "done: exited with code 0", DEADLINE));
    assert_true(tend_expect(t, 2, "live: started", DEADLINE));
    struct tend_run *c = tend_run_sync((const char *[]){"stop", "kept", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    tend_free(c);
    free(write_file(dir, "p.lua",
        "tend.proc { name = 'kept', cmd = { 'sleep', '1001' } }\n"
        "tend.proc { name = 'done', cmd = { 'true' }, restart = 'never', stop_timeout = 3 }\n"
        "tend.proc { name = 'live', cmd = { 'sleep', '1001' } }\n"));
    kill(t->pid, SIGHUP);
    assert_true(tend_expect(t, 2, "reloaded", DEADLINE));
    /* live's new incarnation starts once the old one has ended; the others
     * would have been started at the reload itself */
    assert_true(tend_expect(t, 2, "live: killed by signal TERM", DEADLINE));
    assert_true(tend_expect_n(t, 2, "live: started", 2, DEADLINE));
    assert_int_equal(count_of(t->err, "kept: started"), 1);
    assert_int_equal(count_of(t->err, "done: started"), 1);
    assert_contains(t->err, "tend: kept: reload: declaration changed; it stays down until started");
    assert_contains(t->err, "tend: done: reload: declaration changed; it stays down until started");
    assert_contains(t->err, "tend: live: reload: declaration changed; restarting it");
    /* and a start starts it with the new declaration */
    c = tend_run_sync((const char *[]){"start", "kept", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    tend_free(c);
    assert_true(tend_expect_n(t, 2, "kept: started", 2, DEADLINE));
    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
}

/* The give-up counters are the proc's: two reloads that leave its
 * declaration alone during a crash loop do not reset them, so it gives up
 * at the 5th end (give_up = { restarts = 4 }), not later. */
static void test_give_up_counters_survive_an_unchanged_reload(void **state)
{
    const char *text =
        "tend.proc { name = 'loop', cmd = { 'sh', '-c', 'exit 1' }, restart = 'always',\n"
        "  backoff = { initial = 0.3, factor = 1, jitter = 0 },\n"
        "  give_up = { restarts = 4, within = 60 } }\n"
        "tend.proc { name = 'idle', cmd = { 'sleep', '300' } }\n";
    char *policy = write_file(dir, "p.lua", text);
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect_n(t, 2, "loop: exited with code 1", 1, DEADLINE));
    kill(t->pid, SIGHUP);
    assert_true(tend_expect_n(t, 2, "reloaded", 1, DEADLINE));
    assert_true(tend_expect_n(t, 2, "loop: exited with code 1", 3, DEADLINE));
    kill(t->pid, SIGHUP);
    assert_true(tend_expect_n(t, 2, "reloaded", 2, DEADLINE));
    assert_true(tend_expect(t, 2, "gave up: 4 restarts within 60s", DEADLINE));
    assert_int_equal(count_of(t->err, "loop: exited with code 1"), 5);
    assert_int_equal(count_of(t->err, "loop: started"), 5);
    kill(t->pid, SIGTERM);
    tend_wait(t, DEADLINE);
    tend_free(t);
    free(policy);
}

/* Declaration order holds across a reload: a changed proc keeps its row
 * in `tend status`, it does not move to the end. */
static void test_status_keeps_declaration_order_after_a_reload(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'a', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'b', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'c', cmd = { 'sleep', '300' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    /* all three: b's first start may come after c's */
    assert_true(tend_expect(t, 2, "a: started", DEADLINE));
    assert_true(tend_expect(t, 2, "b: started", DEADLINE));
    assert_true(tend_expect(t, 2, "c: started", DEADLINE));
    free(write_file(dir, "p.lua",
        "tend.proc { name = 'a', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'b', cmd = { 'sleep', '301' } }\n"
        "tend.proc { name = 'c', cmd = { 'sleep', '300' } }\n"));
    kill(t->pid, SIGHUP);
    assert_true(tend_expect_n(t, 2, "b: started", 2, DEADLINE));
    struct tend_run *c = tend_run_sync((const char *[]){"status", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    const char *a = strstr(c->out, "\na "), *b = strstr(c->out, "\nb "),
               *cc = strstr(c->out, "\nc ");
    if (!a || !b || !cc || !(a < b && b < cc))
        fail_msg("not in declaration order:\n%s", c->out);
    tend_free(c);
    kill(t->pid, SIGTERM);
    tend_wait(t, DEADLINE);
    tend_free(t);
    free(policy);
}

/* A proc that a reload adds between two others is listed between them:
 * the order is the new file's. */
static void test_a_new_proc_takes_its_declared_place(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'a', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'c', cmd = { 'sleep', '300' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "a: started", DEADLINE));
    assert_true(tend_expect(t, 2, "c: started", DEADLINE));
    free(write_file(dir, "p.lua",
        "tend.proc { name = 'a', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'b', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'c', cmd = { 'sleep', '300' } }\n"));
    kill(t->pid, SIGHUP);
    assert_true(tend_expect(t, 2, "b: started", DEADLINE));
    struct tend_run *c = tend_run_sync((const char *[]){"status", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    const char *a = strstr(c->out, "\na "), *b = strstr(c->out, "\nb "),
               *cc = strstr(c->out, "\nc ");
    if (!a || !b || !cc || !(a < b && b < cc))
        fail_msg("not in declaration order:\n%s", c->out);
    tend_free(c);
    kill(t->pid, SIGTERM);
    tend_wait(t, DEADLINE);
    tend_free(t);
    free(policy);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_give_up_counters_survive_an_unchanged_reload),
        cmocka_unit_test(test_reload_keeps_restarts_stops_and_starts),
        cmocka_unit_test(test_a_broken_file_is_rejected_and_the_running_set_kept),
        cmocka_unit_test(test_reload_of_changed_procs_not_running_and_twice_in_a_row),
        cmocka_unit_test(test_changed_procs_that_are_down_stay_down),
        cmocka_unit_test(test_status_keeps_declaration_order_after_a_reload),
        cmocka_unit_test(test_a_new_proc_takes_its_declared_place),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
