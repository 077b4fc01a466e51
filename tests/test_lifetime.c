/* test_lifetime.c -- when tend exits by itself (SPEC 2) and what `after`
 * does when a dependency fails (SPEC 3), through the real binary: procs
 * stopped on purpose and manual procs keep tend up, a dependency that ends
 * for good before it is ready leaves its dependent pending with cause
 * "after", `tend start` starts the stopped dependencies first, and tend
 * says in one line why it exits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char *dir;

static int setup(void **state)
{
    dir = tmpdir_with_socket();
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    tmpdir_with_socket_free(dir);
    return 0;
}

/* The status of `name` as JSON (the caller decrefs). */
static json_t *status_of(const char *name)
{
    json_t *all = cli_statuses(name);
    json_t *st = json_incref(json_array_get(all, 0));
    json_decref(all);
    return st;
}

static const char *field(json_t *st, const char *key)
{
    const char *v = json_string_value(json_object_get(st, key));
    return v ? v : "";
}

static void test_stopping_every_proc_keeps_tend_up_and_start_works(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'db', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'web', cmd = { 'sleep', '300' }, after = { 'db' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "web: started", DEADLINE));
    assert_int_equal(cli_code((const char *[]){"stop", "web", NULL}), 0);
    assert_int_equal(cli_code((const char *[]){"stop", "db", NULL}), 0);
    /* held down on purpose: tend is still there, and starts them again;
     * starting web starts db, its stopped dependency, first */
    assert_int_equal(cli_code((const char *[]){"start", "web", NULL}), 0);
    json_t *db = status_of("db"), *web = status_of("web");
    assert_string_equal(field(db, "state"), "ready");
    assert_string_equal(field(web, "state"), "ready");
    json_decref(db);
    json_decref(web);
    assert_false(t->exited);
    assert_int_equal(cli_code((const char *[]){"shutdown", NULL}), 0);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    assert_contains(t->err, "tend: exiting with code 0: shut down\n");
    /* a deliberate stop is logged as such, at info level, not as a crash */
    assert_contains(t->err, "tend: web: killed by signal TERM (cause: stop)\n");
    assert_lacks(t->err, "warning: web: killed");
    tend_free(t);
    free(policy);
}

static void test_a_policy_of_manual_procs_stays_up(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'job', cmd = { 'true' }, autostart = false }\n"
        "tend.task(function() tend.log.info('policy up') end)\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    /* the socket is open before the tasks run */
    assert_true(tend_expect(t, 2, "policy up", DEADLINE));
    json_t *st = status_of("job");  /* answered: tend is up */
    assert_string_equal(field(st, "state"), "pending");
    json_decref(st);
    assert_false(t->exited);
    /* once it has run and ended, the work is done */
    struct tend_run *c = tend_run_sync((const char *[]){"start", "job", NULL}, DEADLINE);
    tend_free(c);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    assert_contains(t->err, "tend: exiting with code 0: every proc has ended for good\n");
    tend_free(t);
    free(policy);
}

static void test_a_dependency_that_fails_before_ready_leaves_its_dependent_pending(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'migrate', cmd = { 'sh', '-c', 'exit 1' }, restart = 'never',\n"
        "            ready = tend.ready.log('migrated') }\n"
        "tend.proc { name = 'web', cmd = { 'sleep', '300' }, after = { 'migrate' } }\n"
        "tend.proc { name = 'other', cmd = { 'sleep', '300' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "web: not started: migrate ended for good without being ready",
                            DEADLINE));
    json_t *web = status_of("web");
    assert_string_equal(field(web, "state"), "pending");
    assert_string_equal(field(web, "want"), "down");
    assert_string_equal(field(web, "cause"), "after");
    json_t *w = json_object_get(web, "waiting_for");
    assert_int_equal(json_array_size(w), 1);
    assert_string_equal(json_string_value(json_array_get(w, 0)),
                        "migrate ready (it exited with code 1)");
    json_decref(web);
    assert_false(t->exited);  /* other still runs */
    assert_int_equal(cli_code((const char *[]){"stop", "other", NULL}), 0);
    assert_false(t->exited);  /* other is held down by the stop */
    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    assert_lacks(t->err, "web: started");
    tend_free(t);
    free(policy);
}

static void test_a_waiting_proc_says_what_it_waits_for(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'db', cmd = { 'sleep', '300' }, ready = tend.ready.log('never') }\n"
        "tend.proc { name = 'web', cmd = { 'sleep', '300' }, after = { 'db' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "db: started", DEADLINE));
    json_t *web = status_of("web");
    assert_string_equal(field(web, "state"), "pending");
    assert_string_equal(field(web, "want"), "up");
    assert_string_equal(json_string_value(json_array_get(json_object_get(web, "waiting_for"), 0)),
                        "db ready");
    json_decref(web);
    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
}

static void test_stay_keeps_tend_up_after_the_work_is_done(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'once', cmd = { 'true' }, restart = 'never' }\n");
    struct tend_run *t = tend_start((const char *[]){"run", "--stay", policy, NULL});
    assert_true(tend_expect(t, 2, "once: exited with code 0", DEADLINE));
    json_t *st = status_of("once");  /* still answered */
    assert_string_equal(field(st, "state"), "stopped");
    json_decref(st);
    assert_int_equal(cli_code((const char *[]){"shutdown", NULL}), 0);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    assert_contains(t->err, "tend: exiting with code 0: shut down\n");
    tend_free(t);
    free(policy);
}

/* The children get the open-file limit tend was started with, not the one
 * tend raised for itself (SPEC 9). */
static void test_children_get_the_open_file_limit_tend_started_with(void **state)
{
    struct rlimit saved, low;
    getrlimit(RLIMIT_NOFILE, &saved);
    if (saved.rlim_max <= 512)
        skip();  /* tend could not raise its own above ours anyway */
    low.rlim_cur = 256;
    low.rlim_max = saved.rlim_max;
    setrlimit(RLIMIT_NOFILE, &low);
    char limits[4200];
    snprintf(limits, sizeof limits, "%s/limits", dir);
    char text[8400];
    snprintf(text, sizeof text,
             "tend.proc { name = 'l', restart = 'never', cmd = { 'sh', '-c',\n"
             "  'ulimit -n > %.4000s' } }\n", limits);
    char *policy = write_file(dir, "p.lua", text);
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    setrlimit(RLIMIT_NOFILE, &saved);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    char *got = read_file(limits);
    assert_non_null(got);
    assert_string_equal(got, "256\n");  /* tend's own was raised to the hard limit */
    free(got);
    tend_free(t);
    free(policy);
}

/* One rule for paths (SPEC 3): the same policy, run from another
 * directory, finds its ./script, its io.open file and its own directory in
 * tend.dir; procs start there. */
static void test_relative_paths_follow_the_policy_file(void **state)
{
    char sub[4200], text[8400];
    snprintf(sub, sizeof sub, "%s/app", dir);
    mkdir(sub, 0755);
    char *script = write_file(sub, "hello.sh", "#!/bin/sh\necho hello from $(pwd)\n");
    chmod(script, 0755);
    free(write_file(sub, "app.env", "from the file\n"));
    snprintf(text, sizeof text,
             "local f = assert(io.open('app.env')) local line = f:read('l') f:close()\n"
             "assert(line == 'from the file', line)\n"
             "assert(tend.dir == '%s', tend.dir)\n"
             "tend.proc { name = 'hello', cmd = { './hello.sh' }, restart = 'never' }\n", sub);
    char *policy = write_file(sub, "policy.lua", text);
    /* started from elsewhere, with a relative path to the policy */
    char here[4200];
    assert_non_null(getcwd(here, sizeof here));
    assert_int_equal(chdir(dir), 0);
    struct tend_run *t = tend_start((const char *[]){"run", "app/policy.lua", NULL});
    assert_int_equal(chdir(here), 0);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    char want[4300];
    snprintf(want, sizeof want, "hello | hello from %s\n", sub);
    assert_contains(t->out, want);
    tend_free(t);
    free(policy);
    free(script);
}

/* after = { migrate = "succeeded" }: web waits for the one-shot's exit 0,
 * not for its start (SPEC 3). */
static void test_after_succeeded_waits_for_a_one_shot_to_exit_0(void **state)
{
    char *marker = NULL;
    assert_true(asprintf(&marker, "%s/migrated", dir) > 0);
    char *text = NULL;
    assert_true(asprintf(&text,
        "tend.proc { name = 'migrate', restart = 'never',\n"
        "            cmd = { 'sh', '-c', 'sleep 0.2; touch %s' } }\n"
        "tend.proc { name = 'web', after = { migrate = 'succeeded' },\n"
        "            cmd = { 'sh', '-c', 'test -e %s && echo schema-there; exec sleep 300' } }\n",
        marker, marker) > 0);
    char *policy = write_file(dir, "p.lua", text);
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 1, "web | schema-there", DEADLINE));
    const char *done = strstr(t->err, "migrate: exited with code 0");
    const char *web = strstr(t->err, "web: started");
    assert_non_null(done);
    assert_non_null(web);
    assert_true(done < web);
    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
    free(text);
    free(marker);
}

/* A one-shot that fails leaves its dependent pending with cause "after"
 * and says which condition failed; "ended" is met by any end, "started" by
 * a proc that never becomes ready. */
static void test_after_conditions_failed_ended_and_started(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'migrate', restart = 'never', cmd = { 'sh', '-c', 'exit 1' } }\n"
        "tend.proc { name = 'web', after = { migrate = 'succeeded' }, cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'cleanup', after = { migrate = 'ended' },\n"
        "            cmd = { 'sh', '-c', 'echo cleaning; exec sleep 300' } }\n"
        "tend.proc { name = 'db', cmd = { 'sleep', '300' }, ready = tend.ready.log('never') }\n"
        "tend.proc { name = 'client', after = { db = 'started' },\n"
        "            cmd = { 'sh', '-c', 'echo connecting; exec sleep 300' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2,
                            "web: not started: migrate ended for good without being succeeded",
                            DEADLINE));
    assert_true(tend_expect(t, 1, "cleanup | cleaning", DEADLINE));
    assert_true(tend_expect(t, 1, "client | connecting", DEADLINE));
    json_t *web = status_of("web");
    assert_string_equal(field(web, "state"), "pending");
    assert_string_equal(field(web, "want"), "down");
    assert_string_equal(field(web, "cause"), "after");
    assert_string_equal(json_string_value(json_array_get(json_object_get(web, "waiting_for"), 0)),
                        "migrate succeeded (it exited with code 1)");
    json_decref(web);
    json_t *db = status_of("db");
    assert_string_equal(field(db, "state"), "running");  /* never ready, yet client runs */
    json_decref(db);
    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
}

/* A failed migration and nothing else running: web stays pending, and
 * tend's work is done: it exits 1 (SPEC 2, 3). */
static void test_a_failed_one_shot_with_nothing_else_exits_1(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'migrate', restart = 'never', cmd = { 'sh', '-c', 'exit 1' } }\n"
        "tend.proc { name = 'web', after = { migrate = 'succeeded' }, cmd = { 'sleep', '300' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_int_equal(tend_wait(t, DEADLINE), 1);
    assert_contains(t->err, "web: not started: migrate ended for good without being succeeded");
    assert_contains(t->err, "exiting with code 1");
    assert_lacks(t->err, "web: started");
    tend_free(t);
    free(policy);
}

static void test_check_shows_after_conditions(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'db', cmd = { 'true' } }\n"
        "tend.proc { name = 'migrate', cmd = { 'true' } }\n"
        "tend.proc { name = 'web', cmd = { 'true' }, after = { 'db', migrate = 'succeeded' } }\n");
    struct tend_run *t = tend_run_sync((const char *[]){"run", "--check", policy, NULL}, DEADLINE);
    assert_int_equal(run_exit_code(t), 0);
    assert_contains(t->out, "; after db migrate (succeeded)");
    tend_free(t);
    free(policy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stopping_every_proc_keeps_tend_up_and_start_works,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_policy_of_manual_procs_stays_up, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_dependency_that_fails_before_ready_leaves_its_dependent_pending, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_a_waiting_proc_says_what_it_waits_for, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stay_keeps_tend_up_after_the_work_is_done, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_children_get_the_open_file_limit_tend_started_with,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_after_succeeded_waits_for_a_one_shot_to_exit_0,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_after_conditions_failed_ended_and_started, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_check_shows_after_conditions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_one_shot_with_nothing_else_exits_1, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_relative_paths_follow_the_policy_file, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
