/* test_examples.c -- every policy in examples/ run by the real binary with
 * short timings, checked the way a user would: its output, its exit code,
 * and no process left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Every pid tend logged as started ("started (pid N)"). */
static size_t started_pids(const struct tend_run *t, pid_t *pids, size_t max)
{
    size_t n = 0;
    for (const char *p = t->err; n < max && (p = strstr(p, "started (pid ")); p++)
        pids[n++] = (pid_t)atoi(p + strlen("started (pid "));
    return n;
}

/* After tend has exited: each proc it started is gone. */
static void assert_nothing_left(const struct tend_run *t)
{
    pid_t pids[256];
    size_t n = started_pids(t, pids, 256);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++)
        if (!pid_wait_gone(pids[i], DEADLINE))
            fail_msg("pid %d outlived tend", (int)pids[i]);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Read tend's output until `needle` has appeared `times` times on stream
 * 1 or 2, or the deadline passes. */
static bool expect_times(struct tend_run *t, int stream, const char *needle, size_t times)
{
    for (int i = 0; i < DEADLINE * 20; i++) {
        if (count(stream == 1 ? t->out : t->err, needle) >= times)
            return true;
        tend_expect(t, stream, "\001 (reads for 50 ms)", 0.05);
    }
    return count(stream == 1 ? t->out : t->err, needle) >= times;
}

static struct tend_run *run_example(const char *file)
{
    char path[256];
    snprintf(path, sizeof path, "examples/%s", file);
    return tend_start((const char *[]){"run", path, NULL});
}

/* Stop tend with `sig` and expect `code`. */
static void stop_and_expect(struct tend_run *t, int sig, int code)
{
    kill(t->pid, sig);
    int rc = tend_wait(t, DEADLINE);
    if (rc != code)
        fail_msg("exit code %d, expected %d; stderr:\n%s", rc, code, t->err);
}

static void test_hello_prefixes_output_and_stops_on_ctrl_c(void **state)
{
    struct tend_run *t = run_example("hello.lua");
    assert_true(tend_expect(t, 1, "hello | hello from hello\n", DEADLINE));
    assert_true(tend_expect(t, 2, "clock | ", DEADLINE));
    stop_and_expect(t, SIGINT, 0);
    assert_nothing_left(t);
    tend_free(t);
}

static void test_web_db_starts_web_after_db_and_stops_it_first(void **state)
{
    struct tend_run *t = run_example("web-db.lua");
    assert_true(tend_expect(t, 1, "web | web: serving on port 8080", DEADLINE));
    assert_true(tend_expect(t, 2, "web: started", DEADLINE));
    assert_non_null(strstr(t->err, "db: started"));
    assert_true(strstr(t->err, "db: started") < strstr(t->err, "web: started"));
    stop_and_expect(t, SIGTERM, 0);
    const char *web_end = strstr(t->err, "web: killed by signal TERM");
    const char *db_end = strstr(t->err, "db: killed by signal TERM");
    assert_non_null(web_end);
    assert_non_null(db_end);
    assert_true(web_end < db_end);
    assert_nothing_left(t);
    tend_free(t);
}

static void test_migrate_starts_web_only_after_the_migration_succeeded(void **state)
{
    struct tend_run *t = run_example("migrate.lua");
    assert_true(tend_expect(t, 1, "web | web: serving", DEADLINE));
    const char *ready = strstr(t->err, "db: ready (after");
    const char *migrated = strstr(t->err, "migrate: exited with code 0");
    const char *web = strstr(t->err, "web: started");
    assert_non_null(ready);
    assert_non_null(migrated);
    assert_non_null(web);
    assert_true(ready < strstr(t->err, "migrate: started"));
    assert_true(migrated < web);
    stop_and_expect(t, SIGTERM, 0);
    assert_nothing_left(t);
    tend_free(t);

    /* a failed migration: web never starts, tend stays up for the operator */
    setenv("MIGRATE_FAIL", "1", 1);
    t = run_example("migrate.lua");
    unsetenv("MIGRATE_FAIL");
    assert_true(tend_expect(t, 2, "web: not started: migrate ended for good without being "
                                  "succeeded (exited with code 1)", DEADLINE));
    assert_false(t->exited);
    stop_and_expect(t, SIGTERM, 0);
    assert_null(strstr(t->err, "web: started"));
    assert_nothing_left(t);
    tend_free(t);
}

static void test_replicas_start_the_dispatcher_after_every_worker_then_grow(void **state)
{
    setenv("GROW_AFTER", "0.2", 1);
    struct tend_run *t = run_example("replicas.lua");
    unsetenv("GROW_AFTER");
    for (int i = 1; i <= 3; i++) {
        char line[80];
        snprintf(line, sizeof line, "worker@%d | worker %d listening on port %d\n", i, i,
                 9000 + i);
        assert_true(tend_expect(t, 1, line, DEADLINE));
    }
    assert_true(tend_expect(t, 2, "5 workers: worker@1 worker@2 worker@3 worker@4 worker@5\n",
                            DEADLINE));
    const char *dispatcher = strstr(t->err, "dispatcher: started");
    assert_non_null(dispatcher);
    for (int i = 1; i <= 3; i++) {
        char line[40];
        snprintf(line, sizeof line, "worker@%d: started", i);
        assert_non_null(strstr(t->err, line));
        assert_true(strstr(t->err, line) < dispatcher);
    }
    assert_true(tend_expect(t, 1, "worker@5 | worker 5 listening on port 9005\n", DEADLINE));
    stop_and_expect(t, SIGTERM, 0);
    assert_nothing_left(t);
    tend_free(t);
}

static void test_crashloop_backs_off_then_gives_up(void **state)
{
    setenv("CRASH_DELAY", "0.01", 1);
    struct tend_run *t = run_example("crashloop.lua");
    int rc = tend_wait(t, DEADLINE);
    unsetenv("CRASH_DELAY");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(t->out, "flaky | attempt 5\n"));
    assert_null(strstr(t->out, "attempt 6"));
    assert_non_null(strstr(t->err, "flaky gave up (4 restarts within 60s)"));
    assert_non_null(strstr(t->err, "last words: cannot connect"));
    /* the delays grow */
    assert_non_null(strstr(t->err, "attempt 1 failed; next in 0.01"));
    assert_non_null(strstr(t->err, "attempt 2 failed; next in 0.02"));
    tend_free(t);
}

/* proc:usage() as PM2's max_memory_restart: the leaky proc passes its cap
 * and the task restarts it, again and again. */
static void test_memory_cap_restarts_the_proc_over_its_cap(void **state)
{
    setenv("MEMORY_EVERY", "0.1", 1);
    setenv("MEMORY_CAP", "12582912", 1);  /* 12 MiB: passed in its second second */
    struct tend_run *t = run_example("memory-cap.lua");
    unsetenv("MEMORY_EVERY");
    unsetenv("MEMORY_CAP");
    assert_true(expect_times(t, 2, "over its cap of 12 MiB: restarting", 2));
    assert_true(expect_times(t, 2, "leaky: started", 3));
    stop_and_expect(t, SIGTERM, 0);
    assert_nothing_left(t);
    tend_free(t);
}

static void test_group_restarts_every_member_when_one_dies(void **state)
{
    struct tend_run *t = run_example("group.lua");
    /* "started" is the exec, not the echo: a member killed by the group
     * restart before its shell ran would say "up" only once */
    assert_true(tend_expect(t, 1, "queue | queue up", DEADLINE));
    assert_true(tend_expect(t, 1, "worker | worker up", DEADLINE));
    assert_true(tend_expect(t, 1, "api | api up", DEADLINE));
    const char *p = strstr(t->err, "worker: started (pid ");
    assert_non_null(p);
    pid_t worker = (pid_t)atoi(p + strlen("worker: started (pid "));
    kill(worker, SIGKILL);
    assert_true(tend_expect(t, 2, "group: worker ended; one_for_all restarts 2", DEADLINE));
    /* tend's line for the transition comes before the hook's about it */
    assert_non_null(strstr(t->err, "worker: killed by signal KILL"));
    assert_true(strstr(t->err, "worker: killed by signal KILL") <
                strstr(t->err, "group: worker ended"));
    /* queue and api come back: each says "up" a second time */
    assert_true(expect_times(t, 1, "queue | queue up\n", 2));
    assert_true(expect_times(t, 1, "api | api up\n", 2));
    /* api is after worker: its restart waits until worker is back */
    const char *w2 = strstr(strstr(t->err, "worker: started") + 1, "worker: started");
    const char *a2 = strstr(strstr(t->err, "api: started") + 1, "api: started");
    assert_non_null(w2);
    assert_non_null(a2);
    assert_true(w2 < a2);
    stop_and_expect(t, SIGTERM, 0);
    assert_nothing_left(t);
    tend_free(t);
}

static void test_batch_exits_with_the_worst_code(void **state)
{
    setenv("WORKERS", "6", 1);
    struct tend_run *t = run_example("batch.lua");
    int rc = tend_wait(t, DEADLINE);
    unsetenv("WORKERS");
    assert_int_equal(rc, 3);  /* not 2: that is tend's code for a bad policy */
    for (int i = 1; i <= 6; i++) {
        char line[64];
        snprintf(line, sizeof line, "worker-%d | worker %d working\n", i, i);
        assert_non_null(strstr(t->out, line));
    }
    assert_non_null(strstr(t->err, "all 6 workers started"));
    assert_non_null(strstr(t->err, "all 6 workers done; worst exit code 3"));
    tend_free(t);
}

static void test_rolling_restart_replaces_one_at_a_time(void **state)
{
    setenv("REPLICAS", "3", 1);
    setenv("ROLL_AFTER", "0", 1);
    struct tend_run *t = run_example("rolling.lua");
    unsetenv("REPLICAS");
    unsetenv("ROLL_AFTER");
    assert_true(tend_expect(t, 2, "rolling restart done", DEADLINE));
    for (int i = 1; i <= 3; i++) {
        char line[96];
        snprintf(line, sizeof line, "replica-%d | replica replica-%d generation 2 up", i, i);
        assert_true(tend_expect(t, 1, line, DEADLINE));
    }
    /* one at a time: replica-1 is back before replica-2 goes */
    assert_true(strstr(t->err, "replica-1 replaced") < strstr(t->err, "replica-2: killed"));
    assert_true(strstr(t->err, "replica-2 replaced") < strstr(t->err, "replica-3: killed"));
    stop_and_expect(t, SIGTERM, 0);
    assert_nothing_left(t);
    tend_free(t);
}

static void test_watched_service_is_restarted_by_its_task(void **state)
{
    char *dir = tmpdir_new();
    char beat[300];
    snprintf(beat, sizeof beat, "%s/beat", dir);
    setenv("INTERVAL", "0.2", 1);
    setenv("BEAT_FILE", beat, 1);
    struct tend_run *t = run_example("watched.lua");
    unsetenv("INTERVAL");
    unsetenv("BEAT_FILE");
    assert_true(tend_expect(t, 2, "svc: check failed (2 in a row)", DEADLINE));
    assert_true(tend_expect(t, 2, "svc: restarted, now ready (incarnation 2)", DEADLINE));
    stop_and_expect(t, SIGTERM, 0);
    assert_nothing_left(t);
    tend_free(t);
    tmpdir_free(dir);
}

static void test_container_exits_when_the_critical_proc_gives_up(void **state)
{
    setenv("CRASH_DELAY", "0.01", 1);
    struct tend_run *t = run_example("container.lua");
    int rc = tend_wait(t, DEADLINE);
    unsetenv("CRASH_DELAY");
    assert_int_equal(rc, 3);
    assert_non_null(strstr(t->err, "critical proc app gave up after 2 restarts"));
    assert_non_null(strstr(t->err, "app: config missing"));
    assert_nothing_left(t);  /* the sidecar was stopped too */
    tend_free(t);
}

/* Whether every line of --check's stderr is about a cmd[1] not found or
 * not executable: the file itself loaded and checked. */
static bool only_cmd_errors(const char *err)
{
    bool any = false;
    for (const char *p = err; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n) {
            char line[4096];
            snprintf(line, sizeof line, "%.*s", (int)n, p);
            if (!strstr(line, "tend: error: ") || !strstr(line, ": field 'cmd': "))
                return false;
            any = true;
        }
        p += n + (nl != NULL);
    }
    return any;
}

/* Every policy under examples/ loads and checks.  One that names programs
 * this machine does not have (examples/kubernetes runs in its image) may
 * fail --check for those only (SPEC 3: a cmd[1] not found is an error
 * there). */
static void test_every_example_passes_check(void **state)
{
    glob_t g;
    assert_int_equal(glob("examples/*.lua", 0, NULL, &g), 0);
    assert_int_equal(glob("examples/*/*.lua", GLOB_APPEND, NULL, &g), 0);
    assert_true(g.gl_pathc >= 9);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct tend_run *t = tend_run_sync((const char *[]){"run", "--check", g.gl_pathv[i], NULL},
                                           DEADLINE);
        int code = tend_wait(t, DEADLINE);
        if (code == 2 && only_cmd_errors(t->err)) {
            tend_free(t);
            continue;
        }
        if (code != 0)
            fail_msg("%s: %s", g.gl_pathv[i], t->err);
        assert_non_null(strstr(t->out, ", ok\n"));
        tend_free(t);
    }
    globfree(&g);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_prefixes_output_and_stops_on_ctrl_c),
        cmocka_unit_test(test_web_db_starts_web_after_db_and_stops_it_first),
        cmocka_unit_test(test_migrate_starts_web_only_after_the_migration_succeeded),
        cmocka_unit_test(test_replicas_start_the_dispatcher_after_every_worker_then_grow),
        cmocka_unit_test(test_crashloop_backs_off_then_gives_up),
        cmocka_unit_test(test_memory_cap_restarts_the_proc_over_its_cap),
        cmocka_unit_test(test_group_restarts_every_member_when_one_dies),
        cmocka_unit_test(test_batch_exits_with_the_worst_code),
        cmocka_unit_test(test_rolling_restart_replaces_one_at_a_time),
        cmocka_unit_test(test_watched_service_is_restarted_by_its_task),
        cmocka_unit_test(test_container_exits_when_the_critical_proc_gives_up),
        cmocka_unit_test(test_every_example_passes_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
