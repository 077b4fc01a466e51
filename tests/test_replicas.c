/* test_replicas.c -- `replicas = N` and `tend scale` (SPEC 2, 3) through
 * the real binary: N procs NAME@1..N with TEND_PROC and TEND_REPLICA,
 * commands that name the set act on every replica, scale up and down
 * (the highest-numbered go), `after` naming the set waits for every
 * replica, a reload from 3 to 4 leaves the three untouched, the Lua set
 * object, and bad declarations refused at load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* The names and states of `tend status --json NAME`: "web@1 ready,web@2 stopped". */
static char *states(const char *name)
{
    json_t *all = cli_statuses(name);
    struct buf {
        char s[1024];
        size_t n;
    } b = {.n = 0};
    b.s[0] = '\0';
    for (size_t i = 0; i < json_array_size(all); i++) {
        json_t *st = json_array_get(all, i);
        b.n += (size_t)snprintf(b.s + b.n, sizeof b.s - b.n, "%s%s %s", i ? "," : "",
                                json_string_value(json_object_get(st, "name")),
                                json_string_value(json_object_get(st, "state")));
    }
    json_decref(all);
    return strdup(b.s);
}

static long pid_of(const char *name)
{
    json_t *all = cli_statuses(name);
    long pid = (long)json_integer_value(json_object_get(json_array_get(all, 0), "pid"));
    json_decref(all);
    return pid;
}

/* A policy of `web` with `n` replicas that say who they are, then wait. */
static char *web_policy(int n)
{
    char text[512];
    snprintf(text, sizeof text,
             "tend.proc { name = 'web', replicas = %d,\n"
             "  cmd = { 'sh', '-c', 'echo \"I am $TEND_PROC number $TEND_REPLICA\"; "
             "exec sleep 300' } }\n", n);
    return write_file(dir, "p.lua", text);
}

static void test_replicas_start_with_their_name_and_number(void **state)
{
    char *policy = web_policy(3);
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    for (int i = 1; i <= 3; i++) {
        char line[64];
        snprintf(line, sizeof line, "web@%d | I am web@%d number %d\n", i, i, i);
        assert_true(tend_expect(t, 1, line, DEADLINE));
    }
    assert_int_equal(cli_code((const char *[]){"wait", "web", NULL}), 0);
    char *s = states("web");
    assert_string_equal(s, "web@1 ready,web@2 ready,web@3 ready");
    free(s);
    assert_int_equal(cli_code((const char *[]){"shutdown", NULL}), 0);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
}

static void test_stop_of_the_set_stops_every_replica_and_of_one_just_it(void **state)
{
    char *policy = web_policy(3);
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "web@3: started", DEADLINE));
    assert_int_equal(cli_code((const char *[]){"wait", "web", NULL}), 0);
    assert_int_equal(cli_code((const char *[]){"stop", "web@2", NULL}), 0);
    char *s = states("web");
    assert_string_equal(s, "web@1 ready,web@2 killed,web@3 ready");
    free(s);
    assert_int_equal(cli_code((const char *[]){"stop", "web", NULL}), 0);
    s = states("web");
    assert_string_equal(s, "web@1 killed,web@2 killed,web@3 killed");
    free(s);
    /* and start of the set starts them all again */
    assert_int_equal(cli_code((const char *[]){"start", "web", NULL}), 0);
    s = states("web");
    assert_string_equal(s, "web@1 ready,web@2 ready,web@3 ready");
    free(s);
    assert_int_equal(cli_code((const char *[]){"shutdown", NULL}), 0);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
}

static void test_scale_up_then_down_removes_the_highest(void **state)
{
    char *policy = web_policy(3);
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "web@3: started", DEADLINE));
    assert_int_equal(cli_code((const char *[]){"wait", "web", NULL}), 0);
    long pid1 = pid_of("web@1"), pid2 = pid_of("web@2");
    assert_int_equal(cli_code((const char *[]){"scale", "web", "5", NULL}), 0);
    char *s = states("web");
    assert_string_equal(s, "web@1 ready,web@2 ready,web@3 ready,web@4 ready,web@5 ready");
    free(s);
    assert_true(tend_expect(t, 1, "web@5 | I am web@5 number 5\n", DEADLINE));
    int gone[3];
    for (int i = 3; i <= 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "web@%d", i);
        gone[i - 3] = pid_watch((pid_t)pid_of(name));
    }
    assert_int_equal(cli_code((const char *[]){"scale", "web", "2", NULL}), 0);
    /* returned once the removed ones had ended */
    for (int i = 0; i < 3; i++)
        assert_true(pidfd_wait_gone(gone[i], 0.01));  /* at once: already gone */
    s = states("web");
    assert_string_equal(s, "web@1 ready,web@2 ready");
    free(s);
    assert_int_equal(pid_of("web@1"), pid1);
    assert_int_equal(pid_of("web@2"), pid2);
    /* a removed replica is gone from the registry */
    assert_int_not_equal(cli_code((const char *[]){"status", "web@3", NULL}), 0);
    assert_true(tend_expect(t, 2, "web@5: scale: removed; stopping it", DEADLINE));
    assert_int_equal(cli_code((const char *[]){"shutdown", NULL}), 0);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
}

static void test_scale_refuses_a_proc_without_replicas_and_bad_counts(void **state)
{
    char *policy = write_file(dir, "p.lua", "tend.proc { name = 'solo', cmd = { 'sleep', '300' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "solo: started", DEADLINE));
    struct tend_run *c = tend_run_sync((const char *[]){"scale", "solo", "3", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 1);
    assert_contains(c->err, "proc 'solo' is not declared with replicas");
    tend_free(c);
    c = tend_run_sync((const char *[]){"scale", "solo", "0", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 2);
    assert_contains(c->err, "a number of replicas from 1 to 10000 expected");
    tend_free(c);
    assert_int_equal(cli_code((const char *[]){"shutdown", NULL}), 0);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
}

static void test_after_the_set_waits_for_every_replica(void **state)
{
    char fifo[1024];
    snprintf(fifo, sizeof fifo, "%s/go", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    /* replica 3 is ready only once the test writes to the fifo */
    char text[2048];
    snprintf(text, sizeof text,
             "tend.proc { name = 'web', replicas = 3, ready = tend.ready.log('^up$'),\n"
             "  cmd = { 'sh', '-c', 'if [ \"$TEND_REPLICA\" = 3 ]; then read x < %s; fi; "
             "echo up; exec sleep 300' } }\n"
             "tend.proc { name = 'api', after = { 'web' }, cmd = { 'sleep', '300' } }\n",
             fifo);
    char *policy = write_file(dir, "p.lua", text);
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "web@3: started", DEADLINE));
    assert_int_equal(cli_code((const char *[]){"wait", "web@1", "web@2", NULL}), 0);
    json_t *api = cli_statuses("api");
    char *dump = json_dumps(api, 0);
    assert_contains(dump, "\"state\": \"pending\"");
    assert_contains(dump, "web@3 ready");
    assert_lacks(dump, "web@1 ready");
    free(dump);
    json_decref(api);
    assert_lacks(t->err, "api: started");
    int fd = open(fifo, O_WRONLY);  /* web@3 has it open for reading */
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "go\n", 3), 3);
    close(fd);
    assert_int_equal(cli_code((const char *[]){"wait", "api", NULL}), 0);
    /* api started after the last replica was ready */
    assert_true(tend_expect(t, 2, "api: started", DEADLINE));
    const char *ready3 = strstr(t->err, "web@3: ready");
    assert_non_null(ready3);
    assert_non_null(strstr(ready3, "api: started"));
    assert_int_equal(cli_code((const char *[]){"shutdown", NULL}), 0);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
}

static void test_a_reload_from_3_to_4_leaves_the_three_untouched(void **state)
{
    char *policy = web_policy(3);
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "web@3: started", DEADLINE));
    assert_int_equal(cli_code((const char *[]){"wait", "web", NULL}), 0);
    long before[3];
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "web@%d", i + 1);
        before[i] = pid_of(name);
    }
    free(web_policy(4));
    assert_int_equal(cli_code((const char *[]){"reload", NULL}), 0);
    assert_true(tend_expect(t, 2, "web@4: started", DEADLINE));
    assert_int_equal(cli_code((const char *[]){"wait", "web", NULL}), 0);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "web@%d", i + 1);
        assert_int_equal(pid_of(name), before[i]);
    }
    char *s = states("web");
    assert_string_equal(s, "web@1 ready,web@2 ready,web@3 ready,web@4 ready");
    free(s);
    assert_lacks(t->err, "web@1: reload");
    /* and back to 2: the highest two go, the first two stay */
    free(web_policy(2));
    assert_int_equal(cli_code((const char *[]){"reload", NULL}), 0);
    assert_int_equal(cli_code((const char *[]){"wait", "web", NULL}), 0);
    s = states("web");
    assert_string_equal(s, "web@1 ready,web@2 ready");
    free(s);
    assert_int_equal(pid_of("web@1"), before[0]);
    assert_int_equal(cli_code((const char *[]){"shutdown", NULL}), 0);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
}

static void test_the_lua_set_lists_and_scales_its_replicas(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "local web = tend.proc { name = 'web', replicas = 2, cmd = { 'sleep', '300' } }\n"
        "tend.task(function()\n"
        "  assert(tend.get('web') == web, 'tend.get of the set')\n"
        "  assert(tend.get('web@2') == web:procs()[2], 'tend.get of a replica')\n"
        "  print('set', web.name, #web, #web:procs(), web:procs()[1].name, tostring(web))\n"
        "  print('up', web:scale(4), #web:procs(), #tend.procs(), web:procs()[4]:status().state)\n"
        "  local gone = web:procs()[4]\n"
        "  print('down', web:scale(1), #web:procs(), #tend.procs(), web:procs()[1].name)\n"
        "  print('gone', pcall(gone.status, gone))\n"
        "  tend.exit(0)\n"
        "end)\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    assert_contains(t->out, "set\tweb\t2\t2\tweb@1\ttend.set(web x2)\n");
    assert_contains(t->out, "up\ttrue\t4\t4\tready\n");
    assert_contains(t->out, "down\ttrue\t1\t1\tweb@1\n");
    assert_contains(t->out, "gone\tfalse\t");
    assert_contains(t->out, "proc 'web@4' has been removed");
    tend_free(t);
    free(policy);
}

/* `tend run --check` of a policy; its stderr in *err (the caller frees). */
static int check(const char *text, char **err)
{
    char *policy = write_file(dir, "p.lua", text);
    struct tend_run *c = tend_run_sync((const char *[]){"run", "--check", policy, NULL},
                                       DEADLINE);
    int code = run_exit_code(c);
    *err = strdup(c->err);
    tend_free(c);
    free(policy);
    return code;
}

static void test_bad_replicas_are_refused_at_load(void **state)
{
    const char *bad[] = {"0", "2.5", "10001", "-1", "'3'", "true"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[256], *err;
        snprintf(text, sizeof text,
                 "tend.proc { name = 'web', replicas = %s, cmd = { 'true' } }\n", bad[i]);
        assert_int_equal(check(text, &err), 2);
        assert_contains(err, "p.lua:1: proc 'web': field 'replicas'");
        free(err);
    }
    char *err;
    assert_int_equal(check("tend.proc { name = 'web@2', cmd = { 'true' } }\n", &err), 2);
    assert_contains(err, "p.lua:1:");
    assert_contains(err, "'@' are those of replicas");
    free(err);
    /* the set's name is taken */
    assert_int_equal(check("tend.proc { name = 'web', replicas = 2, cmd = { 'true' } }\n"
                           "tend.proc { name = 'web', cmd = { 'true' } }\n", &err), 2);
    assert_contains(err, "p.lua:2: proc 'web': field 'name': duplicate name");
    free(err);
    /* a replica cannot start after its own set */
    assert_int_equal(check("tend.proc { name = 'web', replicas = 2, after = { 'web' }, "
                           "cmd = { 'true' } }\n", &err), 2);
    assert_contains(err, "cannot start after itself");
    free(err);
}

static void test_check_prints_one_line_per_replica(void **state)
{
    char *policy = web_policy(3);
    struct tend_run *c = tend_run_sync((const char *[]){"run", "--check", policy, NULL},
                                       DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    assert_contains(c->out, "web@1: sh -c");
    assert_contains(c->out, "replica 1 of 3)\n");
    assert_contains(c->out, "replica 3 of 3)\n");
    assert_lacks(c->out, "web@4");
    tend_free(c);
    free(policy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replicas_start_with_their_name_and_number, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_stop_of_the_set_stops_every_replica_and_of_one_just_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scale_up_then_down_removes_the_highest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_scale_refuses_a_proc_without_replicas_and_bad_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_after_the_set_waits_for_every_replica, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_reload_from_3_to_4_leaves_the_three_untouched,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_lua_set_lists_and_scales_its_replicas, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_replicas_are_refused_at_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_prints_one_line_per_replica, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
