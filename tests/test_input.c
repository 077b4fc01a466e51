/* test_input.c -- policy files that load but give tend nothing to do
 * (SPEC 8), through the real binary: `tend run` must say why it exits at
 * once instead of exiting 0 without a word. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define NOTHING "no procs declared; nothing to supervise"

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

static void dump(const struct tend_run *t)
{
    fprintf(stderr, "---- stdout:\n%s\n---- stderr:\n%s\n----\n", t->out, t->err);
}

/* `tend run [option] NAME` on a file NAME holding `text`; the finished run. */
static struct tend_run *run_policy(const char *name, const char *text, const char *option)
{
    char *policy = write_file(dir, name, text);
    const char *args[] = {"run", option ? option : policy, option ? policy : NULL, NULL};
    struct tend_run *t = tend_run_sync(args, DEADLINE);
    free(policy);
    if (!t->exited) {
        dump(t);
        fail_msg("tend run %s still running after %gs", name, DEADLINE);
    }
    return t;
}

/* The line that says why, a warning of tend's naming the file, once; exit
 * code 0. */
static void assert_says_nothing_to_do(struct tend_run *t, const char *name)
{
    char want[4400];
    snprintf(want, sizeof want, "tend: warning: %s/%s: " NOTHING "\n", dir, name);
    if (run_exit_code(t) != 0 || count_of(t->err, want) != 1) {
        dump(t);
        fail_msg("want exit 0 and one \"%s\" on stderr (exit %d)", want, run_exit_code(t));
    }
    assert_string_equal(t->out, "");
}

static void test_an_empty_policy_says_there_is_nothing_to_supervise(void **state)
{
    struct tend_run *t = run_policy("empty.lua", "", NULL);
    assert_says_nothing_to_do(t, "empty.lua");
    tend_free(t);
}

static void test_a_policy_that_declares_no_proc_says_so_too(void **state)
{
    /* code that runs, registers a hook, even a task that ends at once:
     * still nothing to supervise */
    struct tend_run *t = run_policy("hooks.lua",
        "-- only comments and a hook\n"
        "local n = 1 + 1\n"
        "tend.on('*', function() end)\n"
        "tend.task(function() tend.log.info('task ran') end)\n", NULL);
    assert_says_nothing_to_do(t, "hooks.lua");
    assert_contains(t->err, "task ran");
    tend_free(t);
}

static void test_quiet_still_says_it(void **state)
{
    /* a warning: --quiet keeps warnings */
    struct tend_run *t = run_policy("quiet.lua", "\n", "--quiet");
    assert_says_nothing_to_do(t, "quiet.lua");
    tend_free(t);
}

static void test_a_task_that_declares_procs_later_is_not_empty(void **state)
{
    /* a task still running after the load may declare procs: no warning */
    struct tend_run *t = run_policy("later.lua",
        "tend.task(function()\n"
        "  tend.sleep(0.05)\n"
        "  tend.spawn { name = 'late', cmd = { 'echo', 'late-ran' }, restart = 'never' }\n"
        "end)\n", NULL);
    if (run_exit_code(t) != 0)
        dump(t);
    assert_int_equal(run_exit_code(t), 0);
    assert_contains(t->out, "late | late-ran");
    assert_lacks(t->err, NOTHING);
    tend_free(t);
}

static void test_a_policy_with_procs_does_not_say_it(void **state)
{
    struct tend_run *t = run_policy("one.lua",
        "tend.proc { name = 'one', cmd = { 'true' }, restart = 'never' }\n", NULL);
    assert_int_equal(run_exit_code(t), 0);
    assert_lacks(t->err, NOTHING);
    tend_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_empty_policy_says_there_is_nothing_to_supervise),
        cmocka_unit_test(test_a_policy_that_declares_no_proc_says_so_too),
        cmocka_unit_test(test_quiet_still_says_it),
        cmocka_unit_test(test_a_task_that_declares_procs_later_is_not_empty),
        cmocka_unit_test(test_a_policy_with_procs_does_not_say_it),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
