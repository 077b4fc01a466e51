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
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "policy/policy.h"

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
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0755);  /* a cwd must be a directory (checked at load) */
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
        {"cmd = { 'true' }, after = { db = 'ready\\0x' }", "after",
         "condition for 'db': \"ready\\0x\""},
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

/* ---- env_file (SPEC 3) ---- */

/* The value `key` has in the spec's env: "=VALUE" as "VALUE", a bare KEY
 * (unset) as "(unset)", NULL when absent. */
static const char *env_of(const struct spec *s, const char *key)
{
    size_t n = strlen(key);
    for (char **e = s->env; e && *e; e++) {
        if (strncmp(*e, key, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
        if (strcmp(*e, key) == 0)
            return "(unset)";
    }
    return NULL;
}

static struct policy *load_ok(const char *text)
{
    char *err = NULL;
    struct policy *pol = load(text, &err);
    if (!pol)
        fail_msg("refused: %s", err);
    return pol;
}

/* A string or a list, relative to the policy's directory; later files win,
 * env wins over all of them and its false unsets what a file sets. */
static void test_env_file_merge_order(void **state)
{
    free(write_file(dir, "base.env", "# shared\nA=base\nB=base\nC=base\nD=base\n"));
    free(write_file(dir, "local.env", "export B=local\nC='local'\n"));
    struct policy *pol = load_ok(
        "tend.proc { name = 'one', cmd = { 'true' }, env_file = 'base.env' }\n"
        "tend.proc { name = 'two', cmd = { 'true' }, env_file = { 'base.env', 'local.env' },\n"
        "  env = { C = 'env', D = false, E = 5 } }\n");
    const struct spec *one = pol->specs[0], *two = pol->specs[1];
    assert_string_equal(env_of(one, "A"), "base");
    assert_string_equal(env_of(one, "C"), "base");
    assert_string_equal(env_of(two, "A"), "base");
    assert_string_equal(env_of(two, "B"), "local");   /* a later file wins */
    assert_string_equal(env_of(two, "C"), "env");     /* env wins */
    assert_string_equal(env_of(two, "D"), "(unset)"); /* env's false unsets */
    assert_string_equal(env_of(two, "E"), "5");
    assert_int_equal(strv_len(two->env), 5);          /* each key once */
    char want[4200];
    snprintf(want, sizeof want, "%s/local.env", dir);
    assert_string_equal(two->env_file[1], want);      /* absolute */
    assert_null(two->env_file[2]);
    policy_free(pol);
}

/* An empty list reads nothing; the files are read at each load (so a
 * reload sees a changed file, and the declaration then differs). */
static void test_env_file_is_read_at_each_load(void **state)
{
    free(write_file(dir, "app.env", "A=1\n"));
    const char *text = "tend.proc { name = 'a', cmd = { 'true' }, env_file = 'app.env' }\n"
                       "tend.proc { name = 'b', cmd = { 'true' }, env_file = {} }\n";
    struct policy *first = load_ok(text);
    assert_string_equal(env_of(first->specs[0], "A"), "1");
    assert_null(first->specs[1]->env[0]);
    free(write_file(dir, "app.env", "A=2\n"));
    struct policy *second = load_ok(text);
    assert_string_equal(env_of(second->specs[0], "A"), "2");
    assert_false(spec_equal(first->specs[0], second->specs[0]));
    assert_true(spec_equal(first->specs[1], second->specs[1]));
    policy_free(first);
    policy_free(second);
}

/* Each error names the policy's line, the proc, the field, and the env
 * file (with its line for a bad line). */
static void test_env_file_errors(void **state)
{
    char path[4200];
    assert_rejected("\ntend.proc { name = 'a', cmd = { 'true' }, env_file = 'none.env' }\n",
                    (const char *[]){"policy.lua:2:", "proc 'a'", "field 'env_file'",
                                     "none.env: No such file or directory", NULL});
    free(write_file(dir, "bad.env", "A=1\n\n# c\nB='open\n"));
    snprintf(path, sizeof path, "%s/bad.env:4: B: no closing '", dir);
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' }, env_file = { 'bad.env' } }\n",
                    (const char *[]){"policy.lua:1:", "proc 'a'", "field 'env_file'", path,
                                     NULL});
    /* a good file first does not hide a bad one after it */
    free(write_file(dir, "good.env", "A=1\n"));
    free(write_file(dir, "worse.env", "not a pair\n"));
    snprintf(path, sizeof path, "%s/worse.env:1: KEY=VALUE expected", dir);
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' },\n"
                    "  env_file = { 'good.env', 'worse.env' } }\n",
                    (const char *[]){"policy.lua:1:", "field 'env_file'", path, NULL});
    /* not a regular file: a directory, a FIFO (refused, not read: no hang) */
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' }, env_file = '.' }\n",
                    (const char *[]){"field 'env_file'", "not a regular file", NULL});
    snprintf(path, sizeof path, "%s/fifo.env", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' }, env_file = 'fifo.env' }\n",
                    (const char *[]){"field 'env_file'", "fifo.env: not a regular file", NULL});
    unlink(path);
    /* types */
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' }, env_file = 1 }\n",
                    (const char *[]){"field 'env_file'", "a file path or a list of paths", NULL});
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' }, env_file = { 'x', true } }\n",
                    (const char *[]){"field 'env_file'", "item 2", NULL});
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' }, env_file = '' }\n",
                    (const char *[]){"field 'env_file'", "empty path", NULL});
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' }, env_file = 'a\\0b' }\n",
                    (const char *[]){"field 'env_file'", "NUL byte", NULL});
}

/* ---- what --check catches at load ---- */

static void test_cwd_must_be_a_directory(void **state)
{
    free(write_file(dir, "file", ""));
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' }, cwd = 'nodir' }\n",
                    (const char *[]){"policy.lua:1:", "proc 'a'", "field 'cwd'",
                                     "nodir: No such file or directory", NULL});
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' }, cwd = 'file' }\n",
                    (const char *[]){"policy.lua:1:", "proc 'a'", "field 'cwd'",
                                     "file is not a directory", NULL});
}

static void test_unknown_user(void **state)
{
    assert_rejected("\ntend.proc { name = 'a', cmd = { 'true' }, user = 'no-such-user-x' }\n",
                    (const char *[]){"policy.lua:2:", "proc 'a'", "field 'user'",
                                     "unknown user 'no-such-user-x'", NULL});
    assert_rejected("tend.proc { name = 'a', cmd = { 'true' }, user = 4123456789 }\n",
                    (const char *[]){"field 'user'", "unknown user '4123456789'", NULL});
}

/* The warning of the proc declared first, asserted to hold every part;
 * NULL parts: no warning. */
static void assert_cmd_warning(const char *text, const char *const *parts)
{
    struct policy *pol = load_ok(text);
    const char *w = pol->specs[pol->n - 1]->warning;
    if (!parts[0]) {
        if (w)
            fail_msg("unexpected warning: %s", w);
    } else {
        if (!w)
            fail_msg("no warning for: %s", text);
        for (const char *const *p = parts; *p; p++)
            if (!strstr(w, *p))
                fail_msg("warning \"%s\" lacks \"%s\"", w, *p);
    }
    policy_free(pol);
}

/* A cmd[1] that is not there to run loads (tend run only warns: a proc it
 * starts after may create it), with the warning --check turns into an
 * error. */
static void test_cmd_not_found_or_not_executable(void **state)
{
    char bin[4200];
    snprintf(bin, sizeof bin, "%s/bin", dir);
    mkdir(bin, 0755);
    char *tool = write_file(bin, "tool", "#!/bin/sh\n");
    chmod(tool, 0755);
    free(tool);
    free(write_file(bin, "plain", "data\n"));  /* 0644 */
    char adir[4300];
    snprintf(adir, sizeof adir, "%s/adir", bin);
    mkdir(adir, 0755);
    assert_cmd_warning("tend.proc { name = 'a', cmd = { 'true' } }\n", (const char *[]){NULL});
    assert_cmd_warning("\ntend.proc { name = 'a', cmd = { 'no-such-program-x' } }\n",
                       (const char *[]){"policy.lua:2:", "proc 'a'", "field 'cmd'",
                                        "'no-such-program-x' is not found in PATH", NULL});
    /* with a slash: relative to the proc's cwd */
    assert_cmd_warning("tend.proc { name = 'a', cmd = { './tool' }, cwd = 'bin' }\n",
                       (const char *[]){NULL});
    assert_cmd_warning("tend.proc { name = 'a', cmd = { './nope' }, cwd = 'bin' }\n",
                       (const char *[]){"field 'cmd'", "'./nope'", "bin/nope",
                                        "No such file or directory", NULL});
    assert_cmd_warning("tend.proc { name = 'a', cmd = { 'bin/plain' }, cwd = '.' }\n",
                       (const char *[]){"field 'cmd'", "bin/plain is not executable", NULL});
    assert_cmd_warning("tend.proc { name = 'a', cmd = { '/' } }\n",
                       (const char *[]){"field 'cmd'", "/ is a directory", NULL});
    /* the PATH the child will have: env, or env_file, or tend's */
    char text[8400];
    snprintf(text, sizeof text, "tend.proc { name = 'a', cmd = { 'tool' }, env = { PATH = '%s' } }\n",
             bin);
    assert_cmd_warning(text, (const char *[]){NULL});
    snprintf(text, sizeof text, "PATH=/nowhere:%s\n", bin);
    free(write_file(dir, "path.env", text));
    assert_cmd_warning("tend.proc { name = 'a', cmd = { 'tool' }, env_file = 'path.env' }\n",
                       (const char *[]){NULL});
    assert_cmd_warning("tend.proc { name = 'a', cmd = { 'tool' } }\n",
                       (const char *[]){"'tool' is not found in PATH", NULL});
    snprintf(text, sizeof text, "tend.proc { name = 'a', cmd = { 'plain' }, env = { PATH = '%s' } }\n",
             bin);
    assert_cmd_warning(text, (const char *[]){"no executable 'plain' in PATH",
                                              "bin/plain is not executable", NULL});
    snprintf(text, sizeof text, "tend.proc { name = 'a', cmd = { 'adir' }, env = { PATH = '%s' } }\n",
             bin);
    assert_cmd_warning(text, (const char *[]){"adir is a directory", NULL});
    /* env unsets PATH: the child searches launch.c's default */
    assert_cmd_warning("tend.proc { name = 'a', cmd = { 'no-such-program-x' }, env = { PATH = false } }\n",
                       (const char *[]){"/usr/local/bin:/usr/bin:/bin, the default", NULL});
    assert_cmd_warning("tend.proc { name = 'a', cmd = { 'sh' }, env = { PATH = false } }\n",
                       (const char *[]){NULL});
}

/* The answers are remembered through a load, not from one load to the
 * next: a program that appears is seen by the next load (a reload). */
static void test_cmd_check_sees_a_program_appear_at_the_next_load(void **state)
{
    char text[8400];
    snprintf(text, sizeof text,
             "for i = 1, 3 do tend.proc { name = 'a' .. i, cmd = { 'later' }, env = { PATH = '%s' } } end\n",
             dir);
    struct policy *pol = load_ok(text);
    for (size_t i = 0; i < 3; i++)
        assert_non_null(pol->specs[i]->warning);
    policy_free(pol);
    char *p = write_file(dir, "later", "#!/bin/sh\n");
    chmod(p, 0755);
    free(p);
    pol = load_ok(text);
    for (size_t i = 0; i < 3; i++)
        assert_null(pol->specs[i]->warning);
    policy_free(pol);
}

/* A tend.ready constructor not called, or a check in the wrong place. */
static void test_ready_and_health_forms(void **state)
{
    static const struct {
        const char *decl, *field, *says;
    } cases[] = {
        {"ready = tend.ready.tcp", "ready",
         "tend.ready.tcp must be called: ready = tend.ready.tcp(PORT)"},
        {"ready = tend.ready.notify", "ready", "tend.ready.notify must be called: "
                                               "ready = tend.ready.notify()"},
        {"ready = tend.ready.fd", "ready", "tend.ready.fd must be called: ready = tend.ready.fd(FD)"},
        {"ready = tend.ready.log", "ready", "tend.ready.log must be called"},
        {"ready = tend.ready.exec", "ready", "tend.ready.exec must be called"},
        {"ready = tend.ready", "ready", "tend.ready is the table of checks"},
        {"ready = { check = tend.ready.tcp(8080) }", "ready",
         "ready takes the check itself, not a table: ready = tend.ready.tcp(8080)"},
        {"health = tend.ready.tcp(80)", "health",
         "health = { check = tend.ready.tcp(80) }"},
        {"health = tend.ready.tcp(80, 'db.example')", "health",
         "health = { check = tend.ready.tcp(80, \"db.example\") }"},
        {"health = tend.ready.tcp(5432, '::1')", "health",
         "health = { check = tend.ready.tcp(5432, \"::1\") }"},
        {"health = tend.ready.exec({ 'pg_isready', '-q' })", "health",
         "health = { check = tend.ready.exec({ \"pg_isready\", \"-q\" }) }"},
        {"health = tend.ready.tcp", "health",
         "tend.ready.tcp must be called, and a check goes in health's 'check': "
         "health = { check = tend.ready.tcp(PORT) }"},
        {"health = tend.ready.log('x')", "health", "a log check cannot be a health check"},
        {"health = function() return true end", "health",
         "health = { check = function(proc) ... end }"},
        {"health = { check = tend.ready.tcp }", "health.check",
         "tend.ready.tcp must be called: health = { check = tend.ready.tcp(PORT) }"},
        {"health = { check = tend.ready.notify }", "health.check",
         "tend.ready.notify cannot be a health check"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512], field[64];
        snprintf(text, sizeof text, "\ntend.proc { name = 'w', cmd = { 'true' }, %s }\n",
                 cases[i].decl);
        snprintf(field, sizeof field, "field '%s'", cases[i].field);
        assert_rejected(text, (const char *[]){"policy.lua:2:", "proc 'w'", field,
                                               cases[i].says, NULL});
    }
    /* a function of one's own is still a readiness or health function */
    struct policy *pol = load_ok("tend.proc { name = 'w', cmd = { 'true' },\n"
                                 "  ready = function() return true end,\n"
                                 "  health = { check = function() return true end } }\n");
    assert_int_equal(pol->specs[0]->ready.kind, CHECK_FUNC);
    assert_int_equal(pol->specs[0]->health.kind, CHECK_FUNC);
    policy_free(pol);
}

/* ---- better messages ---- */

static void test_did_you_mean(void **state)
{
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, restrat = 'always' }\n",
                    (const char *[]){"field 'restrat'", "unknown field (did you mean 'restart'?)",
                                     NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, env_files = 'x' }\n",
                    (const char *[]){"did you mean 'env_file'?", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, CMD = { 'x' } }\n",
                    (const char *[]){"field 'CMD'", "did you mean 'cmd'?", NULL});
    /* what other supervisors call a field */
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, command = 'x' }\n",
                    (const char *[]){"field 'command'", "did you mean 'cmd'?", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, depends_on = { 'x' } }\n",
                    (const char *[]){"did you mean 'after'?", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, working_dir = '/' }\n",
                    (const char *[]){"did you mean 'cwd'?", NULL});
    /* too far, or too short to guess: no guess */
    char *err = NULL;
    assert_null(load("tend.proc { name = 'w', cmd = { 'true' }, colour = 'red' }\n", &err));
    assert_non_null(strstr(err, "unknown field"));
    assert_null(strstr(err, "did you mean"));
    free(err);
    assert_null(load("tend.proc { name = 'w', cmd = { 'true' }, id = 1 }\n", &err));
    assert_null(strstr(err, "did you mean"));
    free(err);
    /* the keys of a sub-table */
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, backoff = { inital = 1 } }\n",
                    (const char *[]){"field 'backoff.inital'", "did you mean 'initial'?", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, give_up = { restart = 1 } }\n",
                    (const char *[]){"field 'give_up.restart'", "did you mean 'restarts'?", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' },\n"
                    "  health = { check = tend.ready.tcp(1), intervall = 1 } }\n",
                    (const char *[]){"field 'health.intervall'", "did you mean 'interval'?",
                                     NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, output = { path = 'x', keeps = 1 } }\n",
                    (const char *[]){"field 'output.keeps'", "did you mean 'keep'?", NULL});
    /* mode strings */
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, restart = 'on_failure' }\n",
                    (const char *[]){"field 'restart'", "unknown mode 'on_failure'",
                                     "did you mean 'on-failure'?", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, restart = 'Always' }\n",
                    (const char *[]){"did you mean 'always'?", NULL});
    assert_rejected("tend.proc { name = 'w', cmd = { 'true' }, restart = 'sometimes' }\n",
                    (const char *[]){"\"always\", \"on-failure\", \"never\" or a function", NULL});
    /* proc names in after, declared before or after */
    assert_rejected("tend.proc { name = 'database', cmd = { 'true' } }\n"
                    "tend.proc { name = 'web', cmd = { 'true' }, after = { 'databse' } }\n",
                    (const char *[]){"policy.lua:2", "proc 'web'", "field 'after'",
                                     "unknown proc 'databse' (did you mean 'database'?)", NULL});
    assert_rejected("tend.proc { name = 'web', cmd = { 'true' }, after = { 'cahce' } }\n"
                    "tend.proc { name = 'cache', cmd = { 'true' } }\n",
                    (const char *[]){"unknown proc 'cahce' (did you mean 'cache'?)", NULL});
}

static void test_suggest(void **state)
{
    static const char *const words[] = {"restart", "ready", "ready_timeout", "env", NULL};
    static const struct {
        const char *typo, *want;
    } cases[] = {
        {"restrat", "restart"},  /* a swap counts 1 */
        {"rstart", "restart"},   {"restartt", "restart"}, {"RESTART", "restart"},
        {"redy", "ready"},       {"ready_timout", "ready_timeout"},
        {"ev", "env"},           {"envv", "env"},
        {"x", NULL},             {"abc", NULL},           {"reboot", NULL},
        {"", NULL},              {"ready", NULL},  /* itself: nothing to suggest */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct suggest g;
        suggest_init(&g, cases[i].typo);
        for (const char *const *w = words; *w; w++)
            suggest_try(&g, *w);
        const char *got = suggest_best(&g);
        if ((got == NULL) != (cases[i].want == NULL) ||
            (got && strcmp(got, cases[i].want) != 0))
            fail_msg("'%s': got %s, want %s", cases[i].typo, got ? got : "none",
                     cases[i].want ? cases[i].want : "none");
    }
}

static void test_colon_call_says_use_a_dot(void **state)
{
    assert_rejected("\ntend:proc { name = 'w', cmd = { 'true' } }\n",
                    (const char *[]){"policy.lua:2:", "tend:proc{...}", "write tend.proc{...}",
                                     NULL});
    assert_rejected("tend:spawn { name = 'w', cmd = { 'true' } }\n",
                    (const char *[]){"tend:spawn{...}", "write tend.spawn{...}", NULL});
    assert_rejected("local t = require 'tend'\nt:proc { name = 'w', cmd = { 'true' } }\n",
                    (const char *[]){"policy.lua:2:", "write tend.proc{...}", NULL});
}

/* A file that is not Lua but YAML, INI or JSON says what policy files are. */
static void test_a_file_that_is_not_lua(void **state)
{
    static const struct {
        const char *text, *kind;
    } cases[] = {
        {"procs:\n  web:\n    cmd: ./web\n", "YAML"},
        {"# services\n\nweb:\n  command: ./web\n", "YAML"},
        {"---\n- name: web\n", "YAML"},
        {"[program:web]\ncommand=/usr/bin/web\n", "INI or TOML"},
        {"; supervisord\n[program:web]\ncommand=/usr/bin/web\n", "INI or TOML"},
        {"{ \"procs\": [] }\n", "JSON"},
        /* key = value lines are Lua assignments: the [section] is the error */
        {"title = \"app\"\nport = 8080\n\n[servers]\ncmd = \"./web\"\n", "INI or TOML"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char kind[64];
        snprintf(kind, sizeof kind, "looks like %s", cases[i].kind);
        assert_rejected(cases[i].text, (const char *[]){"policy.lua:", "policy files are Lua",
                                                        kind, "examples/hello.lua", NULL});
    }
    /* a Lua file with a syntax error is told only that */
    static const char *const lua[] = {
        "tend.proc { name = 'a',, }\n",
        "tend.proc { name: 'a' }\n",
        "local x = 1\nlocal y = 2\nlocal z = = 3\nweb: x\n",
        "local t = {}\n[1] = 2\n",
    };
    for (size_t i = 0; i < sizeof lua / sizeof lua[0]; i++) {
        char *err = NULL;
        assert_null(load(lua[i], &err));
        if (strstr(err, "policy files are Lua"))
            fail_msg("\"%s\": %s", lua[i], err);
        free(err);
    }
}

/* ---- the --check line ---- */

static void test_plan_line(void **state)
{
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/sub dir", dir);
    mkdir(sub, 0755);
    free(write_file(dir, "app.env", "A=1\n"));
    struct policy *pol = load_ok(
        "tend.proc { name = 'db', cmd = { 'true' } }\n"
        "tend.proc { name = 'web', cmd = { 'sh', '-c', \"echo it's $HOME\", '', 'a=b,c' },\n"
        "  after = { 'db' }, restart = 'always', cwd = 'sub dir', env_file = 'app.env',\n"
        "  ready = tend.ready.tcp(8080), ready_timeout = 5,\n"
        "  health = { check = tend.ready.exec({ 'curl', '-f', 'http://x/a b' }), interval = 2 },\n"
        "  output = { path = 'web.log', max_size = 2048, keep = 3 }, user = 0,\n"
        "  autostart = false }\n");
    char *line = spec_plan_line(pol->specs[0]);
    assert_string_equal(line, "db: true  (restart on-failure; output inherit)");
    free(line);
    line = spec_plan_line(pol->specs[1]);
    char want[8192];
    snprintf(want, sizeof want,
             "web: sh -c 'echo it'\\''s $HOME' '' a=b,c  (restart always; after db; "
             "ready tcp 127.0.0.1:8080 within 5s; health exec curl -f 'http://x/a b' every 2s, "
             "timeout 5s, 3 failures; output %s/web.log (rotated at 2048 bytes, 3 kept); "
             "user root (uid 0, gid 0); cwd '%s/sub dir'; env_file %s/app.env; autostart off)",
             dir, dir, dir);
    assert_string_equal(line, want);
    free(line);
    policy_free(pol);
    char *q = shell_quote("");
    assert_string_equal(q, "''");
    free(q);
    q = shell_quote("a'b");
    assert_string_equal(q, "'a'\\''b'");
    free(q);
}

/* Found by the fuzzer: a uid past uid_t wrapped to 0 (root), and an after
 * table with other keys than 1..n lost them silently (now they are the
 * map of conditions, checked as such). */
static void test_a_uid_out_of_range_and_a_bad_after_map_are_refused(void **state)
{
    assert_rejected("tend.proc { name = 'a', cmd = {'true'}, user = '4294967296' }\n",
                    (const char *const[]){"proc 'a'", "'user'", "out of range", NULL});
    assert_rejected("tend.proc { name = 'a', cmd = {'true'}, user = -1 }\n",
                    (const char *const[]){"proc 'a'", "'user'", NULL});
    assert_rejected("tend.proc { name = 'db', cmd = {'true'} }\n"
                    "tend.proc { name = 'a', cmd = {'true'}, after = { 'db', x = 1 } }\n",
                    (const char *const[]){"proc 'a'", "'after'", "condition for 'x'",
                                          "got number", NULL});
    assert_rejected("tend.proc { name = 'db', cmd = {'true'} }\n"
                    "tend.proc { name = 'a', cmd = {'true'}, after = { db = 'redy' } }\n",
                    (const char *const[]){"proc 'a'", "'after'", "condition for 'db'",
                                          "\"succeeded\"", "got 'redy'", NULL});
    assert_rejected("tend.proc { name = 'db', cmd = {'true'} }\n"
                    "tend.proc { name = 'a', cmd = {'true'}, after = { 'db', db = 'ended' } }\n",
                    (const char *const[]){"proc 'a'", "'after'",
                                          "'db' named twice, as ready and as ended", NULL});
    assert_rejected("tend.proc { name = 'db', cmd = {'true'} }\n"
                    "tend.proc { name = 'a', cmd = {'true'}, after = { [true] = 'ready' } }\n",
                    (const char *const[]){"proc 'a'", "'after'", "got a boolean key", NULL});
    assert_rejected("tend.proc { name = 'db', cmd = {'true'} }\n"
                    "tend.proc { name = 'a', cmd = {'true'}, after = { [1] = 'db', [3] = 'x' } }\n",
                    (const char *const[]){"proc 'a'", "'after'", NULL});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_uid_out_of_range_and_a_bad_after_map_are_refused),
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
        cmocka_unit_test(test_env_file_merge_order),
        cmocka_unit_test(test_env_file_is_read_at_each_load),
        cmocka_unit_test(test_env_file_errors),
        cmocka_unit_test(test_cwd_must_be_a_directory),
        cmocka_unit_test(test_unknown_user),
        cmocka_unit_test(test_cmd_not_found_or_not_executable),
        cmocka_unit_test(test_cmd_check_sees_a_program_appear_at_the_next_load),
        cmocka_unit_test(test_ready_and_health_forms),
        cmocka_unit_test(test_did_you_mean),
        cmocka_unit_test(test_suggest),
        cmocka_unit_test(test_colon_call_says_use_a_dot),
        cmocka_unit_test(test_a_file_that_is_not_lua),
        cmocka_unit_test(test_plan_line),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
