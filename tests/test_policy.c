/* test_policy.c -- loading and checking policy files, without spawning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "policy.h"

static char *dir;

static int setup(void **state)
{
    dir = tmpdir_new();
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    tmpdir_free(dir);
    return 0;
}

/* Load `text` as policy.lua; the policy, or NULL with *err. */
static struct policy *load(const char *text, char **err)
{
    char *path = write_file(dir, "policy.lua", text);
    struct policy *pol = policy_load(path, err);
    free(path);
    return pol;
}

/* Loading `text` fails with a message holding every one of `parts`. */
static void assert_rejected(const char *text, const char *const *parts)
{
    char *err = NULL;
    struct policy *pol = load(text, &err);
    if (pol) {
        policy_free(pol);
        fail_msg("accepted: %s", text);
    }
    assert_non_null(err);
    for (const char *const *p = parts; *p; p++)
        if (!strstr(err, *p))
            fail_msg("message \"%s\" lacks \"%s\"", err, *p);
    free(err);
}

static void test_a_good_policy_loads_with_defaults(void **state)
{
    char *err = NULL;
    struct policy *pol = load(
        "local db = tend.proc { name = 'db', cmd = { 'sleep', 1 } }\n"
        "tend.proc { name = 'web', cmd = { 'sh', '-c', 'true' }, after = { db },\n"
        "  env = { A = 'x', N = 5, GONE = false }, cwd = 'sub', stop_signal = 'INT',\n"
        "  stop_timeout = 2.5, restart = 'always', autostart = false,\n"
        "  backoff = { initial = 1, max = 4 }, give_up = { restarts = 3, within = 9 } }\n"
        "tend.proc { name = 'free', cmd = { 'true' }, give_up = false }\n"
        "assert(db.name == 'db')\n",
        &err);
    if (!pol)
        fail_msg("%s", err);
    assert_int_equal(pol->n, 3);
    struct spec *db = pol->specs[0], *web = pol->specs[1];
    /* give_up: SPEC 3's default, or false for none */
    assert_int_equal(db->restart.give_up_restarts, 5);
    assert_true(db->restart.give_up_within == 10);
    assert_int_equal(pol->specs[2]->restart.give_up_restarts, 0);
    assert_string_equal(db->argv[1], "1");
    assert_int_equal(db->stop_signal, SIGTERM);
    assert_true(db->stop_timeout == 10);
    assert_int_equal(db->restart.mode, RESTART_ON_FAILURE);
    assert_true(db->restart.initial == 0.1 && db->restart.max == 30);
    assert_true(db->autostart);
    assert_string_equal(web->after[0], "db");
    assert_null(web->after[1]);
    assert_int_equal(web->stop_signal, SIGINT);
    assert_true(web->stop_timeout == 2.5);
    assert_int_equal(web->restart.mode, RESTART_ALWAYS);
    assert_true(web->restart.initial == 1 && web->restart.max == 4 && web->restart.factor == 2);
    assert_int_equal(web->restart.give_up_restarts, 3);
    assert_false(web->autostart);
    /* relative cwd: relative to the policy file's directory */
    char want[4096];
    snprintf(want, sizeof want, "%s/sub", dir);
    assert_string_equal(web->cwd, want);
    int seen = 0;
    for (char **e = web->env; *e; e++) {
        seen += strcmp(*e, "A=x") == 0;
        seen += strcmp(*e, "N=5") == 0;
        seen += strcmp(*e, "GONE") == 0;
    }
    assert_int_equal(seen, 3);
    assert_non_null(strstr(web->where, "policy.lua:2"));
    policy_free(pol);
}

static void test_require_tend_works(void **state)
{
    char *err = NULL;
    struct policy *pol = load("local t = require 'tend'\nassert(t == tend)\n"
                              "t.proc { name = 'a', cmd = { 'true' } }\n", &err);
    if (!pol)
        fail_msg("%s", err);
    assert_int_equal(pol->n, 1);
    policy_free(pol);
}

static void test_unknown_field(void **state)
{
    assert_rejected("tend.proc { name = 'web',\n cmd = { 'true' }, restrat = 'always' }\n",
                    (const char *[]){"policy.lua:1:", "proc 'web'", "field 'restrat'",
                                     "unknown field", NULL});
}

static void test_wrong_types(void **state)
{
    assert_rejected("\n\ntend.proc { name = 'w', cmd = { 'true' }, stop_timeout = 'x' }",
                    (const char *[]){"policy.lua:3:", "proc 'w'", "field 'stop_timeout'",
                                     "number expected, got string", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = 'echo hi' }",
                    (const char *[]){"proc 'w'", "field 'cmd'", "sh", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = {} }",
                    (const char *[]){"field 'cmd'", "at least 1", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, env = { A = true } }",
                    (const char *[]){"field 'env'", "A:", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, restart = 'sometimes' }",
                    (const char *[]){"field 'restart'", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, stop_signal = 'NOPE' }",
                    (const char *[]){"field 'stop_signal'", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, backoff = { inital = 1 } }",
                    (const char *[]){"field 'backoff.inital'", "unknown field", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, autostart = 1 }",
                    (const char *[]){"field 'autostart'", "boolean expected", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, user = 'no-such-user-x' }",
                    (const char *[]){"field 'user'", "no-such-user-x", NULL});
    assert_rejected("tend.proc { cmd = { 'true' } }",
                    (const char *[]){"policy.lua:1:", "field 'name'", NULL});
    assert_rejected("tend.proc { name = 'a b', cmd = { 'true' } }",
                    (const char *[]){"field 'name'", "'a b'", NULL});
    assert_rejected("tend.proc { name = 'w' }",
                    (const char *[]){"proc 'w'", "field 'cmd'", "required", NULL});
}

/* A string that becomes a C string is cut at its first NUL byte: { "ar\0g0" }
 * would run "ar".  Every such string of a declaration is refused, with the
 * file:line, the proc and the field (the value shown with its \0). */
static void test_nul_bytes_are_refused_naming_proc_and_field(void **state)
{
    static const struct {
        const char *decl;     /* the fields after name = 'w' */
        const char *field;    /* "field '...'" in the message */
        const char *detail;   /* and this */
    } cases[] = {
        {"cmd = { 'ar\\0g0' }", "cmd", "item 1: \"ar\\0g0\""},
        {"cmd = { 'echo', 'a', 'b\\0c' }", "cmd", "item 3: \"b\\0c\""},
        {"cmd = { 'true' }, env = { A = 'x\\0y' }", "env", "A: the value \"x\\0y\""},
        {"cmd = { 'true' }, env = { ['A\\0B'] = 'x' }", "env", "variable name \"A\\0B\""},
        {"cmd = { 'true' }, cwd = '/tmp\\0x'", "cwd", "\"/tmp\\0x\""},
        {"cmd = { 'true' }, user = 'root\\0x'", "user", "\"root\\0x\""},
        {"cmd = { 'true' }, output = 'w.log\\0x'", "output", "\"w.log\\0x\""},
        {"cmd = { 'true' }, output = { path = 'w.log\\0x' }", "output.path", "\"w.log\\0x\""},
        {"cmd = { 'true' }, ready = tend.ready.exec({ 'check', 'a\\0b' })", "ready",
         "argv item 2: \"a\\0b\""},
        {"cmd = { 'true' }, health = { check = tend.ready.exec({ 'c\\0d' }) }",
         "health.check", "argv item 1: \"c\\0d\""},
        {"cmd = { 'true' }, ready = tend.ready.tcp(80, '127.0.0.1\\0x')", "ready",
         "'host' \"127.0.0.1\\0x\""},
        {"cmd = { 'true' }, ready = tend.ready.log('listening\\0x')", "ready",
         "'pattern' \"listening\\0x\""},
        {"cmd = { 'true' }, after = { 'db\\0x' }", "after", "item 1: \"db\\0x\""},
        {"cmd = { 'true' }, stop_signal = 'TERM\\0x'", "stop_signal", "\"TERM\\0x\""},
        {"cmd = { 'true' }, restart = 'always\\0x'", "restart", "\"always\\0x\""},
        /* a field name cut at the NUL would pass for a known one */
        {"cmd = { 'true' }, ['cwd\\0x'] = '/'", "cwd\\0x", "unknown field"},
        {"cmd = { 'true' }, backoff = { ['max\\0x'] = 1 }", "backoff.max\\0x",
         "unknown field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512], field[128];
        snprintf(text, sizeof text,
                 "tend.proc { name = 'db', cmd = { 'true' } }\n"
                 "tend.proc { name = 'w', %s }\n", cases[i].decl);
        snprintf(field, sizeof field, "field '%s'", cases[i].field);
        assert_rejected(text, (const char *[]){"policy.lua:2:", "proc 'w'", field,
                                               cases[i].detail, "NUL byte", NULL});
    }
    /* the name itself: 'db\0x' would be db */
    assert_rejected("tend.proc { name = 'db\\0x', cmd = { 'true' } }\n",
                    (const char *[]){"policy.lua:1:", "field 'name'", "'db\\0x'",
                                     "NUL byte", NULL});
}

static void test_duplicate_name(void **state)
{
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' } }\n"
                    "tend.proc { name = 'a', cmd = { 'true' } }\n",
                    (const char *[]){"policy.lua:2:", "proc 'a'", "duplicate",
                                     "policy.lua:1", NULL});
}

static void test_after_cycle(void **state)
{
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' }, after = { 'b' } }\n"
                    "tend.proc { name = 'b', cmd = { 'true' }, after = { 'c' } }\n"
                    "tend.proc { name = 'c', cmd = { 'true' }, after = { 'a' } }\n",
                    (const char *[]){"policy.lua:1", "proc 'a'", "field 'after'",
                                     "cycle", "a -> b -> c -> a", NULL});
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' }, after = { 'a' } }\n",
                    (const char *[]){"proc 'a'", "field 'after'", "itself", NULL});
}

static void test_after_unknown_name(void **state)
{
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' } }\n"
                    "tend.proc { name = 'b', cmd = { 'true' }, after = { 'ab' } }\n",
                    (const char *[]){"policy.lua:2", "proc 'b'", "field 'after'",
                                     "unknown proc 'ab'", NULL});
}

static void test_syntax_and_runtime_errors(void **state)
{
    assert_rejected("tend.proc { name = 'a',, }\n",
                    (const char *[]){"policy.lua:1:", NULL});
    assert_rejected("\nerror('boom')\n", (const char *[]){"policy.lua:2:", "boom", NULL});
    assert_rejected("\n\nlocal x = nil; x.y = 1\n", (const char *[]){"policy.lua:3:", NULL});
}

static void test_missing_file_is_named(void **state)
{
    char *err = NULL;
    assert_null(policy_load("/no/such/policy.lua", &err));
    assert_non_null(strstr(err, "/no/such/policy.lua"));
    free(err);
}

static void test_blocking_calls_point_to_tend_exec(void **state)
{
    assert_rejected("os.execute('true')\n",
                    (const char *[]){"policy.lua:1:", "os.execute", "tend.exec", NULL});
    assert_rejected("io.popen('true')\n",
                    (const char *[]){"io.popen", "tend.exec", NULL});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_good_policy_loads_with_defaults),
        cmocka_unit_test(test_require_tend_works),
        cmocka_unit_test(test_unknown_field),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_nul_bytes_are_refused_naming_proc_and_field),
        cmocka_unit_test(test_duplicate_name),
        cmocka_unit_test(test_after_cycle),
        cmocka_unit_test(test_after_unknown_name),
        cmocka_unit_test(test_syntax_and_runtime_errors),
        cmocka_unit_test(test_missing_file_is_named),
        cmocka_unit_test(test_blocking_calls_point_to_tend_exec),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
