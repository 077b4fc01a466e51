/* test_check.c -- integration tests: what `tend run --check` and `tend
 * run` catch at load (SPEC 3, 8), env_file through the real binary, and
 * the messages for what a user plausibly wrote.
 *
 * Like test_cli.c: each test gets a fresh directory where its policy file
 * is written ("@D" stands for the directory, "@P" for the policy file);
 * every process a test starts carries TEND_TEST_TAG=<its directory>, and
 * the teardown SIGKILLs whatever still carries it.  Nothing sleeps: every
 * wait is on output, a file or an exit, bounded by DEADLINE. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define TAG_VAR "TEND_TEST_TAG"

struct fx {
    char *dir;
    char *policy;
    struct tend_run *t;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tmpdir_new();
    if (!f->dir)
        return -1;
    setenv(TAG_VAR, f->dir, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tend_free(f->t);
    procs_kill_tagged(TAG_VAR, f->dir, DEADLINE);
    unsetenv(TAG_VAR);
    tmpdir_free(f->dir);
    free(f->policy);
    free(f);
    return 0;
}

/* `text` with "@D" replaced by the test's directory and "@P" by the
 * policy file's path. */
static char *subst(const struct fx *f, const char *text)
{
    char policy[PATH_MAX];
    snprintf(policy, sizeof policy, "%s/policy.lua", f->dir);
    size_t cap = strlen(text) * 2 + 1024, n = 0;
    char *out = malloc(cap);
    for (const char *p = text; *p;) {
        const char *rep = NULL;
        if (p[0] == '@' && p[1] == 'D')
            rep = f->dir;
        else if (p[0] == '@' && p[1] == 'P')
            rep = policy;
        size_t add = rep ? strlen(rep) : 1;
        if (n + add + 1 > cap)
            out = realloc(out, cap = (n + add + 1) * 2);
        if (rep) {
            memcpy(out + n, rep, add);
            p += 2;
        } else {
            out[n] = *p++;
        }
        n += add;
    }
    out[n] = '\0';
    return out;
}

/* Write `name` in the test's directory (@D and @P substituted). */
static void file(struct fx *f, const char *name, const char *text)
{
    char *s = subst(f, text);
    free(write_file(f->dir, name, s));
    free(s);
}

static void policy(struct fx *f, const char *text)
{
    char *s = subst(f, text);
    free(f->policy);
    f->policy = write_file(f->dir, "policy.lua", s);
    free(s);
}

static const char *in_dir(const struct fx *f, const char *name)
{
    static char slots[8][PATH_MAX];
    static unsigned next;
    char *p = slots[next++ % 8];
    snprintf(p, PATH_MAX, "%s/%s", f->dir, name);
    return p;
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void dump(const struct tend_run *t)
{
    if (t)
        fprintf(stderr, "---- tend's stdout:\n%s\n---- tend's stderr:\n%s\n----\n", t->out,
                t->err);
}

/* Start tend on the policy with up to two options (before the file). */
static struct tend_run *run(struct fx *f, const char *opt1, const char *opt2)
{
    const char *args[] = {"run", opt1 ? opt1 : f->policy, opt1 ? f->policy : opt2,
                          opt1 ? opt2 : NULL, NULL};
    tend_free(f->t);
    f->t = tend_start(args);
    return f->t;
}

#define expect_out(t, stream, needle)                                              \
    do {                                                                           \
        if (!tend_expect((t), (stream), (needle), DEADLINE)) {                     \
            dump(t);                                                               \
            fail_msg("%s:%d: not seen on tend's output within %gs: \"%s\"",        \
                     __FILE__, __LINE__, DEADLINE, (needle));                      \
        }                                                                          \
    } while (0)

#define expect_exit(t, code)                                                       \
    do {                                                                           \
        int got_ = tend_wait((t), DEADLINE);                                       \
        if (got_ != (code)) {                                                      \
            dump(t);                                                               \
            fail_msg("%s:%d: tend's exit code: want %d, got %d", __FILE__,         \
                     __LINE__, (code), got_);                                      \
        }                                                                          \
    } while (0)

#define expect_file(path, needle)                                                  \
    do {                                                                           \
        if (!file_wait_for((path), (needle), DEADLINE)) {                          \
            char *s_ = read_file(path);                                            \
            dump(f->t);                                                            \
            fail_msg("%s:%d: %s never held \"%s\" (it holds \"%s\")", __FILE__,    \
                     __LINE__, (path), (needle), s_ ? s_ : "(no file)");          \
        }                                                                          \
    } while (0)

/* A proc that would leave @D/spawned if anything were spawned. */
#define MARKER_PROC \
    "tend.proc { name = 'marker', restart = 'never', cmd = {'sh', '-c', 'echo x > @D/spawned'} }\n"

/* `tend run OPT` (NULL: none; "--check") on `text` exits 2 before
 * spawning anything, and its stderr holds each of `needles` (@D, @P
 * substituted). */
static void rejected_by(struct fx *f, const char *opt, const char *text,
                        const char *const *needles)
{
    policy(f, text);
    struct tend_run *t = run(f, opt, NULL);
    expect_exit(t, 2);
    for (const char *const *n = needles; *n; n++) {
        char *s = subst(f, *n);
        assert_contains(t->err, s);
        free(s);
    }
    assert_lacks(t->err, "started");
    assert_string_equal(t->out, "");
    assert_false(exists(in_dir(f, "spawned")));
}

/* Rejected both by --check and by a plain `tend run`. */
static void rejected(struct fx *f, const char *text, const char *const *needles)
{
    rejected_by(f, "--check", text, needles);
    rejected_by(f, NULL, text, needles);
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- what --check catches (SPEC 3) ---- */

/* A cmd[1] not in PATH: an error under --check, exit 2, with file:line,
 * proc and field. */
static void test_check_rejects_a_program_not_in_path(void **state)
{
    struct fx *f = *state;
    rejected_by(f, "--check",
                MARKER_PROC "\ntend.proc { name = 'web', cmd = { 'no-such-program-x', '-v' } }\n",
                NEEDLES("tend: error: @P:3: proc 'web': field 'cmd': "
                        "'no-such-program-x' is not found in PATH ("));
}

/* With a slash: a path, relative to the proc's cwd (the policy's directory
 * here), that must exist and be executable. */
static void test_check_rejects_a_path_that_is_missing_or_not_executable(void **state)
{
    struct fx *f = *state;
    rejected_by(f, "--check", MARKER_PROC "tend.proc { name = 'a', cmd = { './run.sh' }, cwd = '.' }\n",
                NEEDLES("@P:2: proc 'a': field 'cmd': './run.sh'", "@D/run.sh: No such file"));
    file(f, "run.sh", "#!/bin/sh\necho hi\n");  /* not executable: 0644 */
    rejected_by(f, "--check", MARKER_PROC "tend.proc { name = 'a', cmd = { './run.sh' }, cwd = '.' }\n",
                NEEDLES("@P:2: proc 'a': field 'cmd':", "@D/run.sh is not executable"));
    rejected_by(f, "--check", MARKER_PROC "tend.proc { name = 'a', cmd = { '@D' } }\n",
                NEEDLES("@P:2: proc 'a': field 'cmd': @D is a directory"));
    /* made executable, it passes */
    assert_int_equal(chmod(in_dir(f, "run.sh"), 0755), 0);
    policy(f, "tend.proc { name = 'a', cmd = { './run.sh' }, cwd = '.' }\n");
    struct tend_run *t = run(f, "--check", NULL);
    expect_exit(t, 0);
    assert_contains(t->out, "a: ./run.sh  (restart on-failure;");
}

/* Every bad declaration is said, not only the first. */
static void test_check_names_every_missing_program(void **state)
{
    struct fx *f = *state;
    rejected_by(f, "--check",
                "tend.proc { name = 'a', cmd = { 'no-such-a' } }\n"
                "tend.proc { name = 'b', cmd = { 'true' } }\n"
                "tend.proc { name = 'c', cmd = { '/no/such/c' } }\n",
                NEEDLES("@P:1: proc 'a': field 'cmd':", "@P:3: proc 'c': field 'cmd': "
                        "/no/such/c: No such file or directory"));
}

/* Under `tend run` a missing program is only a warning, said before
 * anything starts: a proc it starts after may create it. */
static void test_run_only_warns_of_a_program_that_a_dependency_creates(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'maker', cmd = { 'sh', '-c',\n"
              "  [[printf '#!/bin/sh\\necho made\\n' > @D/tmp.sh && chmod +x @D/tmp.sh &&\n"
              "    mv @D/tmp.sh @D/later.sh; exec sleep 60]] },\n"
              "  ready = tend.ready.exec({ 'test', '-x', '@D/later.sh' }), ready_interval = 0.02 }\n"
              "tend.proc { name = 'user', cmd = { './later.sh' }, cwd = '.', restart = 'never',\n"
              "  after = { 'maker' } }\n"
              "tend.on('stopped', function(p) if p.name == 'user' then tend.exit(0) end end)\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_out(t, 1, "user | made\n");
    expect_exit(t, 0);
    char *w = subst(f, "tend: warning: @P:5: proc 'user': field 'cmd': './later.sh'");
    assert_contains(t->err, w);
    free(w);
    /* the warning came before any start */
    const char *warn = strstr(t->err, "field 'cmd'"), *started = strstr(t->err, "started");
    assert_non_null(started);
    assert_true(warn < started);
}

/* The same warning for a proc that a reload adds, and for one that
 * tend.spawn declares once the file has loaded. */
static void test_run_warns_at_reload_and_spawn_too(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'keep', cmd = { 'sh', '-c', 'echo up > @D/up; exec sleep 60' } }\n"
              "tend.task(function()\n"
              "  tend.spawn { name = 'late', cmd = { 'no-such-late-x' }, restart = 'never' }\n"
              "end)\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_out(t, 2, "proc 'late': field 'cmd': 'no-such-late-x' is not found in PATH");
    expect_file(in_dir(f, "up"), "up\n");
    policy(f, "tend.proc { name = 'keep', cmd = { 'sh', '-c', 'echo up > @D/up; exec sleep 60' } }\n"
              "tend.proc { name = 'new', cmd = { 'no-such-new-x' }, restart = 'never' }\n");
    kill(t->pid, SIGHUP);
    char *w = subst(f, "tend: warning: @P:2: proc 'new': field 'cmd': 'no-such-new-x'");
    expect_out(t, 2, w);
    free(w);
    expect_out(t, 2, "new: failed: exec no-such-new-x");
    kill(t->pid, SIGTERM);
    expect_exit(t, 0);
}

/* A cwd that is not a directory is an error for --check and for run. */
static void test_cwd_that_is_not_a_directory(void **state)
{
    struct fx *f = *state;
    rejected(f, MARKER_PROC "tend.proc { name = 'a', cmd = { 'true' }, cwd = 'nodir' }\n",
             NEEDLES("@P:2: proc 'a': field 'cwd': @D/nodir: No such file or directory"));
    file(f, "plain", "");
    rejected(f, MARKER_PROC "tend.proc { name = 'a', cmd = { 'true' }, cwd = '@D/plain' }\n",
             NEEDLES("@P:2: proc 'a': field 'cwd': @D/plain is not a directory"));
}

static void test_unknown_user(void **state)
{
    rejected(*state, MARKER_PROC "tend.proc { name = 'a', cmd = { 'true' }, user = 'no-such-user-x' }\n",
             NEEDLES("@P:2: proc 'a': field 'user': unknown user 'no-such-user-x'"));
}

static void test_ready_constructor_not_called(void **state)
{
    struct fx *f = *state;
    rejected(f, MARKER_PROC "tend.proc { name = 'web', cmd = { 'true' },\n"
                "  ready = tend.ready.tcp }\n",
             NEEDLES("@P:2: proc 'web': field 'ready': tend.ready.tcp must be called: "
                     "ready = tend.ready.tcp(PORT)"));
    rejected(f, MARKER_PROC "tend.proc { name = 'web', cmd = { 'true' },\n"
                "  health = { check = tend.ready.exec } }\n",
             NEEDLES("@P:2: proc 'web': field 'health.check': tend.ready.exec must be called: "
                     "health = { check = tend.ready.exec("));
}

static void test_health_given_a_check_says_where_it_goes(void **state)
{
    rejected(*state, MARKER_PROC "tend.proc { name = 'web', cmd = { 'true' },\n"
                     "  health = tend.ready.tcp(80) }\n",
             NEEDLES("@P:2: proc 'web': field 'health': a check goes in health's 'check': "
                     "health = { check = tend.ready.tcp(80) }"));
}

/* Already checked when the pattern is made: (still) an error at load. */
static void test_malformed_pattern(void **state)
{
    rejected(*state, MARKER_PROC "tend.proc { name = 'web', cmd = { 'true' },\n"
                     "  ready = tend.ready.log('(%d+') }\n",
             NEEDLES("@P:3:", "tend.ready.log: malformed pattern \"(%d+\": unfinished capture"));
}

/* ---- env_file ---- */

static void test_env_file_errors_name_the_file_and_line(void **state)
{
    struct fx *f = *state;
    rejected(f, MARKER_PROC "tend.proc { name = 'web', cmd = { 'true' }, env_file = 'app.env' }\n",
             NEEDLES("@P:2: proc 'web': field 'env_file': @D/app.env: No such file or directory"));
    file(f, "app.env", "# settings\nA=1\nB=\"unterminated\n");
    rejected(f, MARKER_PROC "tend.proc { name = 'web', cmd = { 'true' },\n"
                "  env_file = { 'app.env' } }\n",
             NEEDLES("@P:2: proc 'web': field 'env_file': @D/app.env:3: B: no closing \""));
    file(f, "app.env", "A=1\nPASSWORD='s3cret\n");
    policy(f, "tend.proc { name = 'web', cmd = { 'true' }, env_file = 'app.env' }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 2);
    assert_lacks(t->err, "s3cret");  /* a value is never shown */
}

/* A FIFO as an env file: refused at once, not read (which would block). */
static void test_env_file_fifo_does_not_hang(void **state)
{
    struct fx *f = *state;
    assert_int_equal(mkfifo(in_dir(f, "app.env"), 0600), 0);
    rejected(f, MARKER_PROC "tend.proc { name = 'web', cmd = { 'true' }, env_file = 'app.env' }\n",
             NEEDLES("field 'env_file': @D/app.env: not a regular file"));
}

/* The child gets tend's environment, then the files (a later one wins),
 * then env (which wins, and whose false unsets). */
static void test_child_env_from_env_files(void **state)
{
    struct fx *f = *state;
    setenv("CHECK_T_KEPT", "from-tend", 1);
    setenv("CHECK_T_FILE", "from-tend", 1);
    setenv("CHECK_T_GONE", "from-tend", 1);
    file(f, "base.env", "# base\nexport CHECK_T_FILE=base\nCHECK_T_TWO=base\n"
                        "CHECK_T_ENV=base\nCHECK_T_GONE=base\nCHECK_T_Q=\"a \\\"b\\\"\\nc\"\n"
                        "CHECK_T_S='$HOME # x'\n");
    file(f, "over.env", "CHECK_T_TWO=over\n");
    policy(f, "tend.proc { name = 'e', restart = 'never', env_file = { 'base.env', '@D/over.env' },\n"
              "  env = { CHECK_T_ENV = 'env', CHECK_T_GONE = false },\n"
              "  cmd = { 'sh', '-c', [[printf '%s|%s|%s|%s|%s|%s|%s|%s\\n' \"$CHECK_T_KEPT\" "
              "\"$CHECK_T_FILE\" \"$CHECK_T_TWO\" \"$CHECK_T_ENV\" \"${CHECK_T_GONE-unset}\" "
              "\"$CHECK_T_Q\" \"$CHECK_T_S\" \"$TEND_PROC\" > @D/env.out]] } }\n");
    struct tend_run *t = run(f, NULL, NULL);
    unsetenv("CHECK_T_KEPT");
    unsetenv("CHECK_T_FILE");
    unsetenv("CHECK_T_GONE");
    expect_exit(t, 0);
    expect_file(in_dir(f, "env.out"),
                "from-tend|base|over|env|unset|a \"b\"\nc|$HOME # x|e\n");
}

/* The files are read again at a reload: a changed file is a changed
 * declaration, and the proc starts again with the new values. */
static void test_env_file_read_again_at_reload(void **state)
{
    struct fx *f = *state;
    file(f, "app.env", "V=one\n");
    policy(f, "tend.proc { name = 'e', env_file = 'app.env',\n"
              "  cmd = { 'sh', '-c', 'echo \"V=$V\" >> @D/out; exec sleep 60' } }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_file(in_dir(f, "out"), "V=one\n");
    file(f, "app.env", "V=two\n");
    kill(t->pid, SIGHUP);
    expect_out(t, 2, "e: reload: declaration changed; restarting it");
    expect_file(in_dir(f, "out"), "V=one\nV=two\n");
    /* a bad file at a reload changes nothing */
    file(f, "app.env", "V two\n");
    kill(t->pid, SIGHUP);
    expect_out(t, 2, "app.env:1: KEY=VALUE expected");
    kill(t->pid, SIGTERM);
    expect_exit(t, 0);
    char *out = read_file(in_dir(f, "out"));
    assert_string_equal(out, "V=one\nV=two\n");
    free(out);
}

/* ---- the plan ---- */

static void test_check_plan_shows_the_declaration(void **state)
{
    struct fx *f = *state;
    mkdir(in_dir(f, "www"), 0755);
    file(f, "app.env", "A=1\n");
    policy(f, "tend.proc { name = 'db', cmd = { 'sh', '-c', 'exec sleep 60' },\n"
              "  ready = tend.ready.log('ready to accept', 'stderr') }\n"
              "tend.proc { name = 'web', cmd = { 'sh', '-c', \"echo 'hi there' $PORT\" },\n"
              "  after = { 'db' }, restart = 'always', cwd = 'www', user = 0,\n"
              "  env_file = 'app.env', output = 'web.log',\n"
              "  ready = tend.ready.tcp(8080), ready_timeout = 30,\n"
              "  health = { check = tend.ready.exec({ 'curl', '-fs', 'http://127.0.0.1:8080/' }),\n"
              "             interval = 5, failures = 2 } }\n"
              "tend.proc { name = 'job', cmd = { 'true' }, restart = 'never', output = 'discard',\n"
              "  autostart = false }\n");
    struct tend_run *t = run(f, "--check", NULL);
    expect_exit(t, 0);
    assert_contains(t->out, "db: sh -c 'exec sleep 60'  (restart on-failure; "
                            "ready log 'ready to accept' on stderr; output inherit)\n");
    char *want = subst(f, "web: sh -c 'echo '\\''hi there'\\'' $PORT'  (restart always; after db; "
                          "ready tcp 127.0.0.1:8080 within 30s; health exec curl -fs "
                          "http://127.0.0.1:8080/ every 5s, timeout 5s, 2 failures; "
                          "output @D/web.log; user root (uid 0, gid 0); cwd @D/www; "
                          "env_file @D/app.env)\n");
    assert_contains(t->out, want);
    free(want);
    assert_contains(t->out, "job: true  (restart never; output discard; autostart off)\n");
    char *ok = subst(f, "@P: 3 procs, ok\n");
    assert_contains(t->out, ok);
    free(ok);
    assert_string_equal(t->err, "");
}

/* ---- better messages ---- */

static void test_did_you_mean(void **state)
{
    struct fx *f = *state;
    rejected(f, MARKER_PROC "tend.proc { name = 'web', cmd = { 'true' }, restrat = 'always' }\n",
             NEEDLES("@P:2: proc 'web': field 'restrat': unknown field (did you mean 'restart'?)"));
    rejected(f, MARKER_PROC "tend.proc { name = 'web', cmd = { 'true' }, restart = 'on_failure' }\n",
             NEEDLES("@P:2: proc 'web': field 'restart': unknown mode 'on_failure' "
                     "(did you mean 'on-failure'?)"));
    rejected(f, MARKER_PROC "tend.proc { name = 'db', cmd = { 'true' } }\n"
                "tend.proc { name = 'web', cmd = { 'true' }, after = { 'bd' } }\n",
             NEEDLES("@P:3: proc 'web': field 'after': unknown proc 'bd' (did you mean 'db'?)"));
    rejected(f, MARKER_PROC "tend.proc { name = 'web', command = { 'true' } }\n",
             NEEDLES("@P:2: proc 'web': field 'command': unknown field (did you mean 'cmd'?)"));
}

static void test_colon_call(void **state)
{
    rejected(*state, MARKER_PROC "tend:proc { name = 'web', cmd = { 'true' } }\n",
             NEEDLES("@P:2: tend:proc{...} passes the tend table itself as the declaration: "
                     "write tend.proc{...}, with a dot"));
}

static void test_yaml_or_ini_policy_points_to_an_example(void **state)
{
    struct fx *f = *state;
    rejected(f, "services:\n  web:\n    command: ./web\n",
             NEEDLES("tend: error: @P:", "tend policy files are Lua, and this one looks like "
                     "YAML; see examples/hello.lua"));
    rejected(f, "[program:web]\ncommand=./web\n",
             NEEDLES("@P:1:", "looks like INI or TOML; see examples/hello.lua"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_check_rejects_a_program_not_in_path),
        T(test_check_rejects_a_path_that_is_missing_or_not_executable),
        T(test_check_names_every_missing_program),
        T(test_run_only_warns_of_a_program_that_a_dependency_creates),
        T(test_run_warns_at_reload_and_spawn_too),
        T(test_cwd_that_is_not_a_directory),
        T(test_unknown_user),
        T(test_ready_constructor_not_called),
        T(test_health_given_a_check_says_where_it_goes),
        T(test_malformed_pattern),
        T(test_env_file_errors_name_the_file_and_line),
        T(test_env_file_fifo_does_not_hang),
        T(test_child_env_from_env_files),
        T(test_env_file_read_again_at_reload),
        T(test_check_plan_shows_the_declaration),
        T(test_did_you_mean),
        T(test_colon_call),
        T(test_yaml_or_ini_policy_points_to_an_example),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
