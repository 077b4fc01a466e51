/* test_cli.c -- integration tests: the real `tend` binary driven like a
 * user drives it (SPEC 1, 2, 5, 6, 8, 9).
 *
 * Every wait is on something observable -- a line of tend's output, a
 * file's content, a process's end -- and bounded by DEADLINE; nothing
 * sleeps.  Children may sleep (that is what a supervised program does).
 *
 * Each test gets a fresh directory; its policy file is written there, with
 * "@D" standing for that directory and "@P" for the policy file's path.
 * Every process a test starts carries TEND_TEST_TAG=<its directory> in its
 * environment (tend inherits it, so do its children), and the teardown
 * SIGKILLs whatever still carries it -- even after a failed assertion. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define TAG_VAR "TEND_TEST_TAG"

struct fx {
    char *dir;            /* this test's directory */
    char *policy;         /* dir/policy.lua once written */
    struct tend_run *t;   /* the tend under test */
    struct tend_run *t2;  /* a second run (command-line tests) */
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
    tend_free(f->t2);
    procs_kill_tagged(TAG_VAR, f->dir, DEADLINE);
    unsetenv(TAG_VAR);
    tmpdir_free(f->dir);
    free(f->policy);
    free(f);
    return 0;
}

/* ---- helpers ---- */

/* `text` with every "@D" replaced by the test's directory and every "@P"
 * by the policy path. */
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

/* Write the policy file (lines joined by newlines); its path. */
static const char *policy(struct fx *f, const char *text)
{
    char *s = subst(f, text);
    free(f->policy);
    f->policy = write_file(f->dir, "policy.lua", s);
    free(s);
    return f->policy;
}

/* The path of `name` in the test's directory (one of a few static slots). */
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
    if (!t)
        return;
    fprintf(stderr, "---- tend's stdout (%zu bytes):\n%.*s\n---- tend's stderr:\n%s\n----\n",
            t->out_len, t->out_len > 4000 ? 4000 : (int)t->out_len, t->out, t->err);
}

/* Start tend on the test's policy file with extra arguments. */
static struct tend_run *run(struct fx *f, const char *opt1, const char *opt2)
{
    const char *args[] = {"run", f->policy, opt1, opt2, NULL};
    f->t = tend_start(args);
    return f->t;
}

#define expect_out(t, stream, needle)                                              \
    do {                                                                           \
        if (!tend_expect((t), (stream), (needle), DEADLINE)) {                     \
            dump(t);                                                               \
            fail_msg("%s:%d: not seen on tend's %s within %gs: \"%s\"", __FILE__,  \
                     __LINE__, (stream) == 1 ? "stdout" : (stream) == 2 ? "stderr" \
                     : "output", DEADLINE, (needle));                              \
        }                                                                          \
    } while (0)

#define expect_exit(t, code)                                                       \
    do {                                                                           \
        int got_ = tend_wait((t), DEADLINE);                                       \
        if (got_ != (code)) {                                                      \
            dump(t);                                                               \
            fail_msg("%s:%d: tend's exit code: want %d, got %d (-1: still running " \
                     "after %gs)", __FILE__, __LINE__, (code), got_, DEADLINE);    \
        }                                                                          \
    } while (0)

#define expect_file(path, needle)                                                  \
    do {                                                                           \
        if (!file_wait_for((path), (needle), DEADLINE)) {                          \
            char *s_ = read_file(path);                                            \
            if (f->t)                                                              \
                dump(f->t);                                                        \
            fail_msg("%s:%d: %s never held \"%s\" (it holds \"%s\")", __FILE__,    \
                     __LINE__, (path), (needle), s_ ? s_ : "(no file)");          \
        }                                                                          \
    } while (0)


/* Offset of `needle` in `hay`, or -1. */
static long offset_of(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);
    return p ? (long)(p - hay) : -1;
}

/* How many lines of `text` start with `prefix`. */
static size_t lines_starting(const char *text, const char *prefix)
{
    size_t n = 0, plen = strlen(prefix);
    for (const char *p = text; *p;) {
        if (strncmp(p, prefix, plen) == 0)
            n++;
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    return n;
}

/* The pids a child wrote to `path` (waits for the newline that ends the
 * file), each watched at once through a pidfd. */
static size_t wait_pids(struct fx *f, const char *path, pid_t *pids, int *fds, size_t want)
{
    expect_file(path, "\n");
    size_t n = read_pids(path, pids, want);
    assert_int_equal(n, want);
    for (size_t i = 0; i < n; i++) {
        fds[i] = pid_watch(pids[i]);
        assert_true(fds[i] >= 0);  /* the writer is still running */
    }
    return n;
}

#define assert_gone(fd, what)                                                      \
    do {                                                                           \
        if (!pidfd_wait_gone((fd), DEADLINE))                                      \
            fail_msg("%s:%d: %s still running %gs later", __FILE__, __LINE__,      \
                     (what), DEADLINE);                                            \
    } while (0)

/* A proc whose spawning would show (it writes dir/spawned): a rejected
 * policy must not spawn it. */
#define MARKER_PROC \
    "tend.proc { name = 'marker', restart = 'never', cmd = {'sh', '-c', 'echo x > @D/spawned'} }\n"

/* ---- output (SPEC 6) ---- */

/* Each line of a proc's stdout is on tend's stdout as "NAME | line". */
static void test_stdout_lines_prefixed_with_name(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'web', restart = 'never',\n"
              "  cmd = {'sh', '-c', 'echo one; echo \"two  three\"; echo'} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 0);
    assert_string_equal(t->out, "web | one\nweb | two  three\nweb | \n");
    assert_lacks(t->err, "web | ");
}

/* A proc's stderr goes to tend's stderr, prefixed the same way. */
static void test_stderr_lines_go_to_stderr_prefixed(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'db', restart = 'never',\n"
              "  cmd = {'sh', '-c', 'echo err-one >&2; echo err-two >&2'} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 0);
    assert_contains(t->err, "db | err-one\ndb | err-two\n");
    assert_string_equal(t->out, "");
}

/* A last line without a newline still appears, as a whole line. */
static void test_final_line_without_newline_appears(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'never',\n"
              "  cmd = {'printf', 'first\\nlast-without-newline'} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 0);
    assert_string_equal(t->out, "a | first\na | last-without-newline\n");
}

#define FLOOD_LINES 20000
#define FLOOD_TEXT "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789"

/* Two procs printing many lines at once (seq writes in 4 KiB blocks that
 * cut lines anywhere): every line of tend's stdout is one whole line of
 * one proc, and each proc's lines are all there, in order. */
static void test_concurrent_output_never_interleaves(void **state)
{
    struct fx *f = *state;
    char text[1024];
    snprintf(text, sizeof text,
             "for _, n in ipairs {'a', 'b'} do\n"
             "  tend.proc { name = n, restart = 'never',\n"
             "    cmd = {'seq', '-f', n .. ' %%06g " FLOOD_TEXT "', '1', '%d'} }\n"
             "end\n", FLOOD_LINES);
    policy(f, text);
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 0);

    long next[2] = {1, 1};
    size_t lineno = 0;
    for (char *p = t->out; *p; lineno++) {
        char *nl = strchr(p, '\n');
        if (!nl)
            fail_msg("stdout ends in an unfinished line: \"%.200s\"", p);
        *nl = '\0';
        int who = p[0] == 'a' ? 0 : p[0] == 'b' ? 1 : -1;
        char want[256];
        if (who >= 0)
            snprintf(want, sizeof want, "%c | %c %06ld " FLOOD_TEXT, p[0], p[0], next[who]);
        if (who < 0 || strcmp(p, want) != 0)
            fail_msg("stdout line %zu is \"%.300s\", want \"%s\"", lineno + 1, p,
                     who < 0 ? "(a|b) | ..." : want);
        next[who]++;
        *nl = '\n';
        p = nl + 1;
    }
    assert_int_equal(next[0], FLOOD_LINES + 1);
    assert_int_equal(next[1], FLOOD_LINES + 1);
}

/* Whether `line` (up to its newline) starts with an ISO-8601 UTC time with
 * milliseconds within 5 minutes of now, followed by `rest`. */
static bool stamped(const char *text, const char *rest)
{
    regex_t re;
    char pat[256];
    snprintf(pat, sizeof pat,
             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z %s$", rest);
    if (regcomp(&re, pat, REG_EXTENDED | REG_NEWLINE) != 0)
        abort();
    regmatch_t m;
    bool ok = regexec(&re, text, 1, &m, 0) == 0;
    regfree(&re);
    if (!ok)
        return false;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!strptime(text + m.rm_so, "%Y-%m-%dT%H:%M:%S", &tm))
        return false;
    double skew = difftime(timegm(&tm), time(NULL));
    return skew > -300 && skew < 300;
}

/* --timestamps puts "2026-11-26T16:45:01.123Z " (UTC, even where the local
 * time zone is not) before each line, on stdout and stderr. */
static void test_timestamps_prefix_iso8601_utc_millis(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'never',\n"
              "  cmd = {'sh', '-c', 'echo hello; echo oops >&2'} }\n");
    char *tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", "XST-5", 1);  /* local time is UTC+5 for tend */
    struct tend_run *t = run(f, "--timestamps", NULL);
    if (tz)
        setenv("TZ", tz, 1);
    else
        unsetenv("TZ");
    free(tz);
    expect_exit(t, 0);
    if (!stamped(t->out, "a \\| hello"))
        fail_msg("stdout is not a stamped \"a | hello\": \"%s\"", t->out);
    if (!stamped(t->err, "a \\| oops"))
        fail_msg("stderr has no stamped \"a | oops\": \"%s\"", t->err);
}

/* ---- exit codes and tend's log (SPEC 2) ---- */

/* Every proc ended with exit code 0: tend exits 0 by itself. */
static void test_all_procs_exit_zero_exits_zero(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'never', cmd = {'true'} }\n"
              "tend.proc { name = 'b', cmd = {'sh', '-c', 'echo done'} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 0);
    assert_string_equal(t->out, "b | done\n");
}

/* A proc exiting 7 (restart "never"): tend exits 1, and says why on its
 * stderr, every line of its own log prefixed "tend: ". */
static void test_proc_exit_code_7_exits_one_with_warning(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'never', cmd = {'sh', '-c', 'exit 7'} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 1);
    assert_contains(t->err, "tend: warning: a: exited with code 7\n");
    assert_int_equal(lines_starting(t->err, "tend: "), lines_starting(t->err, ""));
    assert_string_equal(t->out, "");
}

/* --quiet keeps tend's own log to warnings and errors. */
static void test_quiet_logs_only_warnings(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'never', cmd = {'true'} }\n"
              "tend.proc { name = 'b', restart = 'never', cmd = {'sh', '-c', 'echo hi; exit 3'} }\n");
    struct tend_run *t = run(f, "--quiet", NULL);
    expect_exit(t, 1);
    /* and the one line of tend's exit, which --quiet keeps too (SPEC 2) */
    assert_string_equal(t->err, "tend: warning: b: exited with code 3\n"
                                "tend: exiting with code 1: every proc has ended for good, "
                                "not all with exit code 0\n");
    assert_string_equal(t->out, "b | hi\n");
}

/* A program that cannot be executed fails with the exec error; tend keeps
 * supervising the others meanwhile, then exits 1. */
static void test_unexecutable_program_fails_others_keep_running(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'never', cmd = {'/nope'} }\n"
              "tend.proc { name = 'b', restart = 'never', cmd = {'sh', '-c',\n"
              "  'echo before; while [ ! -e @D/go ]; do sleep 0.02; done; echo after'} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_out(t, 2, "exec /nope: No such file or directory");
    expect_out(t, 1, "b | before\n");
    free(write_file(f->dir, "go", ""));
    expect_out(t, 1, "b | after\n");
    expect_exit(t, 1);
    assert_contains(t->err, "tend: warning: a: failed: exec /nope: No such file or directory\n");
    assert_contains(t->err, "tend: b: exited with code 0\n");
}

/* ---- bad input (SPEC 8) ---- */

/* Run tend on a bad policy: exit 2, nothing spawned, and stderr names
 * everything in `needles` (NULL-terminated; @D/@P substituted). */
static void check_rejected(struct fx *f, const char *text, const char *const *needles)
{
    policy(f, text);
    struct tend_run *t = run(f, NULL, NULL);
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

static void test_policy_unknown_field_rejected(void **state)
{
    check_rejected(*state,
                   MARKER_PROC
                   "tend.proc { name = 'b', cmd = {'true'}, colour = 'red' }\n",
                   (const char *[]){"@P:2:", "proc 'b'", "'colour'", "unknown field", NULL});
}

static void test_policy_wrong_type_rejected(void **state)
{
    check_rejected(*state,
                   MARKER_PROC
                   "tend.proc { name = 'a', cmd = {'true'},\n"
                   "  stop_timeout = 'x' }\n",
                   (const char *[]){"@P:2:", "proc 'a'", "'stop_timeout'", "number", NULL});
}

static void test_policy_duplicate_name_rejected(void **state)
{
    check_rejected(*state,
                   MARKER_PROC
                   "tend.proc { name = 'a', cmd = {'true'} }\n"
                   "tend.proc { name = 'a', cmd = {'false'} }\n",
                   (const char *[]){"@P:3:", "proc 'a'", "'name'", "duplicate", NULL});
}

static void test_policy_after_cycle_rejected(void **state)
{
    check_rejected(*state,
                   MARKER_PROC
                   "tend.proc { name = 'a', cmd = {'true'}, after = {'b'} }\n"
                   "tend.proc { name = 'b', cmd = {'true'}, after = {'a'} }\n",
                   (const char *[]){"@P:2:", "proc 'a'", "'after'", "cycle",
                                    "a -> b -> a", NULL});
}

static void test_policy_after_unknown_name_rejected(void **state)
{
    check_rejected(*state,
                   MARKER_PROC
                   "tend.proc { name = 'a', cmd = {'true'}, after = {'zz'} }\n",
                   (const char *[]){"@P:2:", "proc 'a'", "'after'", "'zz'", NULL});
}

static void test_policy_syntax_error_rejected(void **state)
{
    check_rejected(*state,
                   MARKER_PROC
                   "tend.proc { name = 'a', cmd = {'true'} }\n"
                   "local x = = 1\n",
                   (const char *[]){"@P:3:", NULL});
}

static void test_policy_runtime_error_rejected(void **state)
{
    check_rejected(*state,
                   MARKER_PROC
                   "tend.proc { name = 'a', cmd = {'true'} }\n"
                   "error('boom')\n",
                   (const char *[]){"@P:3:", "boom", NULL});
}

/* Errors that carry no position still name the file. */
static void test_policy_error_without_a_position_names_the_file(void **state)
{
    check_rejected(*state, MARKER_PROC "error({})\n",
                   (const char *[]){"tend: error: @P: ", "without a message (a table value)",
                                    NULL});
    struct fx *f = *state;
    tend_free(f->t);
    f->t = NULL;
    check_rejected(*state, MARKER_PROC "error('plain', 0)\n",
                   (const char *[]){"tend: error: @P: plain\n", NULL});
}

static void test_policy_cmd_string_rejected(void **state)
{
    check_rejected(*state,
                   MARKER_PROC
                   "tend.proc { name = 'a', cmd = 'echo hi' }\n",
                   (const char *[]){"@P:2:", "proc 'a'", "'cmd'", NULL});
}

/* What could hang tend at load ends it with exit 2 instead: a looping
 * finalizer, a loop of fresh coroutines, a binary chunk. */
static void test_policy_that_would_hang_or_crash_the_load_rejected(void **state)
{
    struct fx *f = *state;
    check_rejected(f, MARKER_PROC "setmetatable({}, { __gc = function() while true do end end })\n",
                   (const char *[]){"@P:2:", "__gc is not allowed", NULL});
    tend_free(f->t);
    f->t = NULL;
    check_rejected(f, MARKER_PROC "while true do coroutine.wrap(function() end)() end\n",
                   (const char *[]){"@P:2:", "instruction budget exceeded", NULL});
    tend_free(f->t);
    f->t = NULL;
    check_rejected(f, "\x1bLua\x54\x00garbage",
                   (const char *[]){"@P", "binary chunk", NULL});
}

/* The after graph is checked without recursion: a chain of 100,000 links
 * loads, and a cycle of 100,000 links is named, under a 1 MiB stack (the
 * check once recursed per link and crashed tend). */
static void test_a_long_after_chain_loads_and_a_long_cycle_is_named(void **state)
{
    if (getenv("TEND_UNDER_VALGRIND"))
        skip();  /* 100,000 declarations take minutes under valgrind */
    struct fx *f = *state;
    struct rlimit saved, small = {1 << 20, 1 << 20};
    getrlimit(RLIMIT_STACK, &saved);
    small.rlim_max = saved.rlim_max;
    setrlimit(RLIMIT_STACK, &small);  /* inherited by the tend started next */
    policy(f, "for i = 1, 100000 do\n"
              "  tend.proc { name = 'p' .. i, cmd = { 'true' }, autostart = false,\n"
              "              after = i > 1 and { 'p' .. (i - 1) } or nil }\n"
              "end\n");
    struct tend_run *t = run(f, "--check", NULL);
    expect_exit(t, 0);
    assert_contains(t->out, "100000 procs, ok");
    tend_free(f->t);
    f->t = NULL;
    policy(f, "local n = 100000\n"
              "for i = 1, n do\n"
              "  tend.proc { name = 'p' .. i, cmd = { 'true' }, after = { 'p' .. (i % n + 1) } }\n"
              "end\n");
    t = run(f, "--check", NULL);
    setrlimit(RLIMIT_STACK, &saved);
    expect_exit(t, 2);
    assert_contains(t->err, "dependency cycle: p1 -> p2 -> p3 -> p4 -> ... (99994 more) -> "
                            "p99999 -> p100000 -> p1\n");
}

/* The watchdog: a run of policy code that has not come back in
 * TEND_WATCHDOG seconds (here under a budget raised out of its way) ends
 * tend with exit 70, its traceback logged and every proc killed. */
static void test_the_watchdog_ends_a_stuck_run_with_its_traceback(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.limits { instructions = 2000000000 }\n"
              "tend.proc { name = 'p', cmd = { 'sh', '-c', 'echo $$ > @D/pid; exec sleep 60' } }\n"
              "tend.task(function()\n"
              "  while not io.open('@D/pid') do tend.sleep(0.01) end\n"
              "  local x = 0 while true do x = x + 1 end\n"
              "end)\n");
    setenv("TEND_WATCHDOG", "0.5", 1);
    struct tend_run *t = run(f, NULL, NULL);
    unsetenv("TEND_WATCHDOG");
    expect_exit(t, 70);
    assert_contains(t->err, "watchdog: policy code has used 0.5 s of CPU without returning");
    assert_contains(t->err, "stack traceback:");
    pid_t pid;
    char *pidfile = subst(f, "@D/pid");
    assert_int_equal(read_pids(pidfile, &pid, 1), 1);
    free(pidfile);
    assert_true(pid_wait_gone(pid, DEADLINE));
}

/* A FIFO as the policy file would block the load for good. */
static void test_policy_that_is_not_a_regular_file_rejected(void **state)
{
    struct fx *f = *state;
    const char *path = in_dir(f, "fifo.lua");
    assert_int_equal(mkfifo(path, 0600), 0);
    f->t = tend_run_sync((const char *[]){"run", path, NULL}, DEADLINE);
    expect_exit(f->t, 2);
    assert_contains(f->t->err, path);
    assert_contains(f->t->err, "not a regular file");
}

/* A policy file that does not exist: exit 2, its path in the message. */
static void test_policy_missing_file_exits_2_naming_it(void **state)
{
    struct fx *f = *state;
    const char *path = in_dir(f, "nope.lua");
    f->t = tend_run_sync((const char *[]){"run", path, NULL}, DEADLINE);
    expect_exit(f->t, 2);
    assert_contains(f->t->err, path);
}

/* --check prints one line per proc and exits 0 without spawning. */
static void test_check_prints_plan_without_spawning(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', cmd = {'sh', '-c', 'echo x > @D/spawned'} }\n"
              "tend.proc { name = 'b', cmd = {'true'}, after = {'a'}, restart = 'always' }\n");
    struct tend_run *t = run(f, "--check", NULL);
    expect_exit(t, 0);
    /* argv shell-quoted (SPEC 3: --check) */
    char *a_line = subst(f, "a: sh -c 'echo x > @D/spawned'  (restart on-failure");
    assert_int_equal(lines_starting(t->out, a_line), 1);
    free(a_line);
    assert_int_equal(lines_starting(t->out, "b: true "), 1);
    assert_contains(t->out, "after a");
    assert_int_equal(lines_starting(t->out, "a:") + lines_starting(t->out, "b:"), 2);
    assert_lacks(t->err, "started");
    assert_false(exists(in_dir(f, "spawned")));
}

/* ---- the command line (SPEC 2, 8) ---- */

/* The stderr of a misuse: exactly one line saying what is wrong, the one
 * usage line (starting with `usage`) and the hint, not the whole help. */
static void assert_misuse(const char *err, const char *usage, const char *hint)
{
    const char *l2 = strchr(err, '\n');
    const char *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
    if (!l2 || !l3 || strncmp(l2 + 1, usage, strlen(usage)) != 0 ||
        strncmp(l3 + 1, hint, strlen(hint)) != 0 || strcmp(l3 + 1 + strlen(hint), "\n") != 0)
        fail_msg("not one message line, \"%s...\" and \"%s\":\n%s", usage, hint, err);
    assert_int_equal(count_of(err, "usage:"), 1);
}

static void check_usage_error(struct fx *f, const char *const *args, const char *needle)
{
    f->t = tend_run_sync(args, DEADLINE);
    expect_exit(f->t, 2);
    if (args[0] && strcmp(args[0], "run") == 0)
        assert_misuse(f->t->err, "usage: tend run POLICY.lua ", "see tend run --help");
    else
        assert_misuse(f->t->err, "usage: tend {run|status|", "see tend --help");
    if (needle)
        assert_contains(f->t->err, needle);
    assert_string_equal(f->t->out, "");
}

static void test_no_command_is_usage_error(void **state)
{
    check_usage_error(*state, (const char *[]){NULL}, NULL);
}

static void test_unknown_command_is_usage_error(void **state)
{
    check_usage_error(*state, (const char *[]){"frobnicate", NULL}, "frobnicate");
}

static void test_run_without_file_is_usage_error(void **state)
{
    check_usage_error(*state, (const char *[]){"run", NULL}, "which policy file?");
}

static void test_unknown_option_is_usage_error(void **state)
{
    struct fx *f = *state;
    policy(f, MARKER_PROC);
    check_usage_error(f, (const char *[]){"run", f->policy, "--frobnicate", NULL},
                      "tend run: unknown option --frobnicate\n");
    assert_false(exists(in_dir(f, "spawned")));
}

static void test_help_prints_usage_to_stdout(void **state)
{
    struct fx *f = *state;
    f->t = tend_run_sync((const char *[]){"--help", NULL}, DEADLINE);
    expect_exit(f->t, 0);
    assert_contains(f->t->out, "usage: tend run");
    assert_string_equal(f->t->err, "");
}

/* A command run to its end (in f->t2), its exit code checked. */
#define command(f, code, ...)                                                      \
    ({                                                                             \
        tend_free((f)->t2);                                                        \
        (f)->t2 = tend_run_sync((__VA_ARGS__), DEADLINE);                          \
        expect_exit((f)->t2, (code));                                              \
        (f)->t2;                                                                   \
    })

/* Every command takes --help (and -h), wherever it stands, whatever else
 * the line holds: its own usage and options on stdout, exit 0. */
static void test_help_on_every_command(void **state)
{
    struct fx *f = *state;
    static const char *const cmds[] = {"run", "status", "start", "stop", "restart", "kill",
                                       "signal", "logs", "wait", "reload", "shutdown"};
    char usage[64];
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        struct tend_run *c = command(f, 0, (const char *[]){cmds[i], "--help", NULL});
        snprintf(usage, sizeof usage, "usage: tend %s ", cmds[i]);
        assert_true(strncmp(c->out, usage, strlen(usage)) == 0);
        assert_contains(c->out, "--socket PATH");
        assert_contains(c->out, "-h, --help");
        assert_string_equal(c->err, "");
    }
    struct tend_run *c = command(f, 0, (const char *[]){"run", "nope.lua", "--frob", "--help", NULL});
    assert_contains(c->out, "--log-format text|json");
    assert_contains(c->out, "--check");
    assert_contains(c->out, "exit status: 0 when every proc");
    c = command(f, 0, (const char *[]){"stop", "web", "-h", NULL});
    assert_true(strncmp(c->out, "usage: tend stop NAME... [--timeout SECONDS]", 44) == 0);
    assert_contains(c->out, "--timeout SECONDS");
    c = command(f, 0, (const char *[]){"logs", "--help", "web", NULL});
    assert_contains(c->out, "-n, --lines LINES");
    assert_contains(c->out, "-f, --follow");
    assert_contains(c->out, "--stream stdout|stderr");
    assert_lacks(c->out, "--timeout");
}

/* `tend run` takes `--opt=value` and `--opt value` (it took only the
 * second), and so do the client commands, options after the names too. */
static void test_options_as_opt_equals_value_and_opt_value(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'web', cmd = {'sh', '-c',\n"
              "  'for i in 1 2 3 4 5; do echo line$i; done; exec sleep 300'} }\n"
              "tend.proc { name = 'other', cmd = {'sleep', '300'} }\n");
    const char *sock = in_dir(f, "s.sock");
    char sock_opt[PATH_MAX + 16];
    snprintf(sock_opt, sizeof sock_opt, "--socket=%s", sock);
    /* the harness gives every run a TEND_SOCKET of its own: a client
     * reaches this tend only through the --socket it is given */
    f->t = tend_start((const char *[]){"run", sock_opt, f->policy, "--log-format", "json", NULL});
    expect_out(f->t, 1, "\"proc\":\"web\",\"stream\":\"stdout\",\"line\":\"line5\"");
    expect_out(f->t, 2, "\"message\":\"started (pid");  /* another pipe: not read yet, maybe */

    struct tend_run *c = command(f, 0, (const char *[]){"logs", "web", "-n", "2", "--socket", sock, NULL});
    assert_string_equal(c->out, "line4\nline5\n");
    c = command(f, 0, (const char *[]){"logs", "--lines=3", sock_opt, "web", NULL});
    assert_string_equal(c->out, "line3\nline4\nline5\n");
    c = command(f, 0, (const char *[]){"logs", "-n1", "web", sock_opt, NULL});
    assert_string_equal(c->out, "line5\n");
    c = command(f, 0, (const char *[]){"status", "--json", "--socket", sock, NULL});
    assert_contains(c->out, "\"name\": \"web\"");
    c = command(f, 0, (const char *[]){"stop", "web", "--timeout=5", sock_opt, NULL});
    assert_contains(c->out, "web: killed (signal TERM)");
    command(f, 2, (const char *[]){"stop", "web", "--timeout=soon", sock_opt, NULL});
    assert_contains(f->t2->err, "tend stop: --timeout soon: a number of seconds");
    command(f, 0, (const char *[]){"shutdown", sock_opt, NULL});
    expect_exit(f->t, 0);

    /* and run the other way round: --socket PATH, --log-format=json */
    tend_free(f->t);
    f->t = tend_start((const char *[]){"run", f->policy, "--log-format=json", "--socket", sock, NULL});
    expect_out(f->t, 1, "\"proc\":\"web\",\"stream\":\"stdout\",\"line\":\"line5\"");
    expect_out(f->t, 2, "\"message\":\"started (pid");  /* another pipe: not read yet, maybe */
    command(f, 0, (const char *[]){"shutdown", "--socket", sock, NULL});
    expect_exit(f->t, 0);
}

/* A misuse of any command: what is wrong, one usage line and the hint on
 * stderr, nothing on stdout, exit 2 -- not the whole help. */
static void test_misuse_is_one_usage_line_and_a_hint(void **state)
{
    struct fx *f = *state;
    struct tend_run *c = command(f, 2, (const char *[]){"stop", "web", "--frobnicate", NULL});
    assert_string_equal(c->err, "tend stop: unknown option --frobnicate\n"
                                "usage: tend stop NAME... [--timeout SECONDS] [--socket PATH]\n"
                                "see tend stop --help\n");
    assert_string_equal(c->out, "");
    c = command(f, 2, (const char *[]){"logs", "-n", NULL});
    assert_misuse(c->err, "usage: tend logs [NAME...] [-n LINES]", "see tend logs --help");
    assert_string_equal(c->out, "");
    policy(f, MARKER_PROC);
    c = command(f, 2, (const char *[]){"run", f->policy, "--log-format=xml", NULL});
    assert_misuse(c->err, "usage: tend run POLICY.lua [--check]", "see tend run --help");
    assert_contains(c->err, "--log-format xml: text or json");
    assert_lacks(c->err, "options:");
    assert_string_equal(c->out, "");
    assert_false(exists(in_dir(f, "spawned")));
}

/* An unknown option, a flag given a value and a missing value are named,
 * in the long or the short form given. */
static void test_unknown_option_and_missing_value_are_named(void **state)
{
    struct fx *f = *state;
    policy(f, MARKER_PROC);
    static const struct {
        const char *args[5];
        const char *said;
    } cases[] = {
        {{"run", "@P", "--socket"}, "tend run: --socket needs a value\n"},
        {{"run", "@P", "--check=yes"}, "tend run: --check takes no value\n"},
        {{"run", "@P", "-x"}, "tend run: unknown option -x\n"},
        {{"run", "@P", "--timeout", "3"}, "tend run: unknown option --timeout\n"},
        {{"stop", "web", "--timeout"}, "tend stop: --timeout needs a value\n"},
        {{"stop", "web", "--json"}, "tend stop: unknown option --json\n"},
        {{"logs", "web", "-n"}, "tend logs: -n needs a value\n"},
        {{"logs", "web", "--lines"}, "tend logs: --lines needs a value\n"},
        {{"logs", "web", "-q"}, "tend logs: unknown option -q\n"},
        {{"status", "--frob=1"}, "tend status: unknown option --frob\n"},
        {{"wait", "web", "--exit=now"}, "tend wait: --exit takes no value\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *args[6] = {0};
        for (size_t k = 0; k < 5 && cases[i].args[k]; k++)
            args[k] = strcmp(cases[i].args[k], "@P") == 0 ? f->policy : cases[i].args[k];
        struct tend_run *c = command(f, 2, args);
        if (strncmp(c->err, cases[i].said, strlen(cases[i].said)) != 0)
            fail_msg("tend %s ... %s: want \"%s\", got:\n%s", args[0], args[2] ? args[2] : "",
                     cases[i].said, c->err);
        assert_int_equal(count_of(c->err, "\n"), 3);
    }
    assert_false(exists(in_dir(f, "spawned")));
}

static void test_version_prints_version(void **state)
{
    struct fx *f = *state;
    f->t = tend_run_sync((const char *[]){"--version", NULL}, DEADLINE);
    expect_exit(f->t, 0);
    assert_true(strncmp(f->t->out, "tend 0.", 7) == 0);
    assert_int_equal(lines_starting(f->t->out, ""), 1);
}

/* ---- what a spawned program gets (SPEC 9) ---- */

/* env is merged into tend's environment: set, inherited, overridden,
 * and `false` unsets. */
static void test_child_env_merged_into_tends(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'never',\n"
              "  env = { FROM_POLICY = 'set', NUM = 42, TT_OVERRIDE = 'policy',\n"
              "          TT_UNSET = false },\n"
              "  cmd = {'sh', '-c', 'echo \"P=$FROM_POLICY N=$NUM I=$TT_INHERIT "
              "O=$TT_OVERRIDE U=${TT_UNSET-unset}\"'} }\n");
    setenv("TT_INHERIT", "inherited", 1);
    setenv("TT_OVERRIDE", "tend", 1);
    setenv("TT_UNSET", "still-there", 1);
    struct tend_run *t = run(f, NULL, NULL);
    unsetenv("TT_INHERIT");
    unsetenv("TT_OVERRIDE");
    unsetenv("TT_UNSET");
    expect_exit(t, 0);
    assert_string_equal(t->out, "a | P=set N=42 I=inherited O=policy U=unset\n");
}

/* TEND_PROC is the proc's name, TEND_INCARNATION its first incarnation. */
static void test_child_gets_tend_proc_and_incarnation(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'worker-1', restart = 'never',\n"
              "  cmd = {'sh', '-c', 'echo \"$TEND_PROC $TEND_INCARNATION\"'} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 0);
    assert_string_equal(t->out, "worker-1 | worker-1 1\n");
}

/* A relative cwd is relative to the policy file's directory, not to
 * tend's working directory. */
static void test_child_cwd_relative_to_policy_dir(void **state)
{
    struct fx *f = *state;
    assert_int_equal(mkdir(in_dir(f, "data"), 0700), 0);
    policy(f, "tend.proc { name = 'a', restart = 'never', cwd = 'data', cmd = {'pwd', '-P'} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 0);
    char real[PATH_MAX], want[PATH_MAX + 16];
    assert_non_null(realpath(in_dir(f, "data"), real));
    snprintf(want, sizeof want, "a | %s\n", real);
    assert_string_equal(t->out, want);
}

/* stdin is /dev/null, not tend's stdin (here a pipe). */
static void test_child_stdin_is_dev_null(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'never', cmd = {'readlink', '/proc/self/fd/0'} }\n");
    int in[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    const char *args[] = {"run", f->policy, NULL};
    f->t = tend_start_in(args, in[0]);
    close(in[0]);
    expect_exit(f->t, 0);
    close(in[1]);
    assert_string_equal(f->t->out, "a | /dev/null\n");
}

/* No fds beyond 0-2, even one that tend itself inherited.  (The shell
 * lists its own fds through a child ls; `; true` keeps it from exec'ing
 * ls in its place.) */
static void test_child_has_no_fds_beyond_stdio(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'never', cmd = {'sh', '-c', 'ls /proc/$$/fd; true'} }\n");
    int leak = open("/dev/null", O_RDONLY);  /* no O_CLOEXEC: tend inherits it */
    assert_true(leak > 2);
    struct tend_run *t = run(f, NULL, NULL);
    close(leak);
    expect_exit(t, 0);
    assert_string_equal(t->out, "a | 0\na | 1\na | 2\n");
}

/* More procs than the fd limit allows: said once at the start, with the
 * numbers, before any proc fails for it. */
static void test_too_few_fds_for_the_procs_is_said_at_start(void **state)
{
    if (getenv("TEND_UNDER_VALGRIND"))
        skip();  /* valgrind needs more fds than the limit this sets */
    struct fx *f = *state;
    policy(f, "for i = 1, 40 do\n"
              "  tend.proc { name = 'p' .. i, restart = 'never', cmd = {'true'} }\n"
              "end\n");
    const char *sock = in_dir(f, "fd.sock");
    f->t = prog_start((const char *[]){
        "sh", "-c", "ulimit -n 48 && exec \"$0\" run --socket \"$1\" \"$2\"",
        tend_path(), sock, f->policy, NULL});
    assert_true(tend_expect(f->t, 2, "RLIMIT_NOFILE is 48", DEADLINE));
    assert_int_not_equal(tend_wait(f->t, DEADLINE), -1);
    const char *warn = strstr(f->t->err, "40 procs need about 112 file descriptors");
    assert_non_null(warn);
    /* the first thing tend says */
    assert_ptr_equal(warn, f->t->err + strlen("tend: warning: "));
}

/* The signal mask and ignored signals are reset, even when tend was
 * started with a signal blocked and another ignored. */
static void test_child_signal_mask_and_ignores_reset(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'never',\n"
              "  cmd = {'grep', '-E', '^(SigBlk|SigIgn)', '/proc/self/status'} }\n");
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    struct sigaction ign = {.sa_handler = SIG_IGN}, oldact;
    sigaction(SIGUSR2, &ign, &oldact);
    struct tend_run *t = run(f, NULL, NULL);
    sigaction(SIGUSR2, &oldact, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    expect_exit(t, 0);
    assert_string_equal(t->out, "a | SigBlk:\t0000000000000000\n"
                                "a | SigIgn:\t0000000000000000\n");
}

/* Each proc runs in its own process group. */
static void test_child_runs_in_own_process_group(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'never',\n"
              "  cmd = {'sh', '-c', 'echo \"$(ps -o pgid= -p $$) $$\"'} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 0);
    long pgid = 0, pid = 0;
    if (sscanf(t->out, "a | %ld %ld", &pgid, &pid) != 2)
        fail_msg("unexpected output: \"%s\"", t->out);
    assert_true(pid > 0);
    assert_int_equal(pgid, pid);
}

/* ---- restarts ---- */

/* restart = "always": a proc that exits 0 runs again, and again, its
 * TEND_INCARNATION counting up. */
static void test_restart_always_restarts_after_exit_0(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'always',\n"
              "  backoff = { initial = 0.01, factor = 1, max = 0.01 },\n"
              "  cmd = {'sh', '-c', 'echo $TEND_INCARNATION >> @D/runs'} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_file(in_dir(f, "runs"), "1\n2\n3\n");
    kill(t->pid, SIGTERM);
    expect_exit(t, 0);
    char *runs = read_file(in_dir(f, "runs"));
    long k = 1;
    for (char *p = runs, *end; *p; p = end + 1, k++) {
        long v = strtol(p, &end, 10);
        if (v != k || *end != '\n')
            fail_msg("run %ld wrote \"%.20s\": %s", k, p, runs);
    }
    free(runs);
    assert_true(k > 3);
}

/* restart = "on-failure": exit 0 is the end; tend exits 0 by itself. */
static void test_restart_on_failure_not_after_exit_0(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'on-failure',\n"
              "  backoff = { initial = 0.01, factor = 1, max = 0.01 },\n"
              "  cmd = {'sh', '-c', 'echo $TEND_INCARNATION >> @D/runs'} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 0);
    char *runs = read_file(in_dir(f, "runs"));
    assert_non_null(runs);
    assert_string_equal(runs, "1\n");
    free(runs);
}

/* give_up = { restarts = 2 }: three runs, then tend gives up and exits 1. */
static void test_give_up_after_restarts_exits_one(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'always',\n"
              "  backoff = { initial = 0.01, factor = 1, max = 0.01 },\n"
              "  give_up = { restarts = 2, within = 60 },\n"
              "  cmd = {'sh', '-c', 'echo $TEND_INCARNATION >> @D/runs; exit 1'} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 1);
    char *runs = read_file(in_dir(f, "runs"));
    assert_non_null(runs);
    assert_string_equal(runs, "1\n2\n3\n");
    free(runs);
    assert_contains(t->err, "gave up");
    assert_int_equal(lines_starting(t->err, "tend: a: started"), 3);
}

/* ---- after ---- */

/* b after a: b starts only once a is started (and so ready).  a's program
 * does not exist at first, so a fails and retries until the test creates
 * it; b is declared first, so a tend that ignored `after` would start it at
 * once, long before a ever starts. */
static void test_after_starts_dependent_once_dependency_ready(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'b', restart = 'never', after = {'a'},\n"
              "  cmd = {'sh', '-c', 'echo b-line >&2'} }\n"
              "tend.proc { name = 'a', restart = 'on-failure', cmd = {'@D/a.sh'},\n"
              "  backoff = { initial = 0.05, factor = 1, max = 0.05 } }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_out(t, 2, "tend: warning: a: failed: exec ");
    /* any exec before the chmod fails too, and is retried */
    char *script = write_file(f->dir, "a.sh", "#!/bin/sh\nexit 0\n");
    assert_int_equal(chmod(script, 0755), 0);
    free(script);
    expect_out(t, 2, "b | b-line\n");
    expect_exit(t, 0);
    /* b's line may come before tend's "b: started": that is logged when
     * the exec is confirmed, and a slow tend (under valgrind) can read the
     * child's first output in the same round */
    long a = offset_of(t->err, "tend: a: started"), b = offset_of(t->err, "tend: b: started"),
         line = offset_of(t->err, "b | b-line\n");
    if (!(a >= 0 && a < b && a < line))
        fail_msg("want a started, then b started and b's line:\n%s", t->err);
}

/* A proc whose dependency fails never starts; tend exits 1.  (The
 * dependent is declared first: `after` may name a proc declared later.) */
static void test_after_failed_dependency_never_starts_dependent(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'b', restart = 'never', after = {'a'},\n"
              "  cmd = {'sh', '-c', 'echo x > @D/spawned; echo b-ran'} }\n"
              "tend.proc { name = 'a', restart = 'never', cmd = {'/nope'} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 1);
    assert_contains(t->err, "a: failed: exec /nope");
    assert_lacks(t->err, "b: started");
    assert_lacks(t->out, "b-ran");
    assert_false(exists(in_dir(f, "spawned")));
}

/* ---- shutdown (SPEC 5) ---- */

/* A proc that says goodbye on SIGTERM (to dir/bye) and is up once it
 * wrote dir/NAME.up. */
#define POLITE_CMD \
    "{'sh', '-c', [[trap 'echo \"bye $TEND_PROC\" >> @D/bye; exit 0' TERM; " \
    "echo up > @D/$TEND_PROC.up; sleep 300 & wait]]}"

static void check_signal_stops_gracefully(struct fx *f, int sig)
{
    policy(f, "tend.proc { name = 'a', cmd = " POLITE_CMD " }\n"
              "tend.proc { name = 'b', cmd = " POLITE_CMD " }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_file(in_dir(f, "a.up"), "up\n");
    expect_file(in_dir(f, "b.up"), "up\n");
    kill(t->pid, sig);
    expect_exit(t, 0);
    char *bye = read_file(in_dir(f, "bye"));
    assert_non_null(bye);
    if (strcmp(bye, "bye a\nbye b\n") != 0 && strcmp(bye, "bye b\nbye a\n") != 0)
        fail_msg("each proc should have said bye once: \"%s\"", bye);
    free(bye);
    assert_contains(t->err, "tend: a: exited with code 0 (cause: shutdown)\n");
    assert_contains(t->err, "tend: b: exited with code 0 (cause: shutdown)\n");
}

/* A program that reports readiness only once it is told to stop (a late
 * report, SPEC 1): the report is ignored, and it does not die of SIGPIPE
 * for it. */
static void test_a_late_readiness_report_is_ignored_not_fatal(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', ready = tend.ready.fd(3), cmd = {'sh', '-c',\n"
              "  [[trap 'echo >&3; echo reported > @D/late; exit 0' TERM; "
              "echo up > @D/a.up; sleep 300 & wait]]} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_file(in_dir(f, "a.up"), "up\n");
    kill(t->pid, SIGTERM);
    expect_exit(t, 0);
    expect_file(in_dir(f, "late"), "reported\n");
    assert_contains(t->err, "tend: a: exited with code 0 (cause: shutdown)\n");
    assert_lacks(t->err, "PIPE");
}

/* SIGTERM stops every proc with its stop signal; tend exits 0. */
static void test_sigterm_stops_every_proc_gracefully(void **state)
{
    check_signal_stops_gracefully(*state, SIGTERM);
}

/* SIGINT does the same. */
static void test_sigint_stops_like_sigterm(void **state)
{
    check_signal_stops_gracefully(*state, SIGINT);
}

/* web after db: web is stopped first, db only once web is gone (web takes
 * its time to stop, so stopping both at once would write db first). */
static void test_sigterm_stops_dependents_first(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'db', cmd = {'sh', '-c',\n"
              "  [[trap 'echo db >> @D/order; exit 0' TERM; echo up > @D/db.up; sleep 300 & wait]]} }\n"
              "tend.proc { name = 'web', after = {'db'}, cmd = {'sh', '-c',\n"
              "  [[trap 'sleep 0.3; echo web >> @D/order; exit 0' TERM; echo up > @D/web.up; "
              "sleep 300 & wait]]} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_file(in_dir(f, "db.up"), "up\n");
    expect_file(in_dir(f, "web.up"), "up\n");
    kill(t->pid, SIGTERM);
    expect_exit(t, 0);
    char *order = read_file(in_dir(f, "order"));
    assert_non_null(order);
    assert_string_equal(order, "web\ndb\n");
    free(order);
}

/* A hook on a proc's end that shuts tend down: the procs that depend on
 * db still stop before db (the one that ended is not waited for twice). */
static void test_shutdown_from_a_hook_still_stops_dependents_first(void **state)
{
    struct fx *f = *state;
    policy(f, "local db = tend.proc { name = 'db', cmd = {'sh', '-c',\n"
              "  [[trap 'echo db >> @D/order; exit 0' TERM; echo up > @D/db.up; sleep 300 & wait]]} }\n"
              "tend.proc { name = 'api', after = {'db'}, cmd = {'sh', '-c',\n"
              "  [[trap 'sleep 0.3; echo api >> @D/order; exit 0' TERM; echo up > @D/api.up; "
              "sleep 300 & wait]]} }\n"
              "local web = tend.proc { name = 'web', after = {'db'}, restart = 'never',\n"
              "  cmd = {'sh', '-c', [[while [ ! -e @D/api.up ]; do sleep 0.02; done; exit 1]]} }\n"
              "web:on('stopped', function() tend.exit(3) end)\n");
    struct tend_run *t = run(f, NULL, NULL);
    expect_exit(t, 3);
    char *order = read_file(in_dir(f, "order"));
    assert_non_null(order);
    assert_string_equal(order, "api\ndb\n");
    free(order);
    assert_contains(t->err, "tend: warning: web: exited with code 1");
}

/* A proc that ignores its stop signal is SIGKILLed after stop_timeout;
 * a shutdown that had to SIGKILL exits 1. */
static void test_stop_timeout_sigkills_and_exits_one(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', stop_timeout = 0.3, cmd = {'sh', '-c',\n"
              "  [[trap '' TERM; echo $$ > @D/a.pid; exec sleep 300]]} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    pid_t pid;
    int fd;
    wait_pids(f, in_dir(f, "a.pid"), &pid, &fd, 1);
    kill(t->pid, SIGTERM);
    expect_exit(t, 1);
    assert_gone(fd, "the proc");
    assert_contains(t->err, "a: still running after its stop timeout: SIGKILL");
    assert_contains(t->err, "a: killed by signal KILL");
}

/* A second SIGTERM kills everything at once, without waiting for the
 * stop timeout (30 s here). */
static void test_second_sigterm_kills_at_once(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', stop_timeout = 30, cmd = {'sh', '-c',\n"
              "  [[trap '' TERM; echo $$ > @D/a.pid; exec sleep 300]]} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    pid_t pid;
    int fd;
    wait_pids(f, in_dir(f, "a.pid"), &pid, &fd, 1);
    kill(t->pid, SIGTERM);
    expect_out(t, 2, "shutting down");
    kill(t->pid, SIGTERM);
    expect_exit(t, 1);
    assert_gone(fd, "the proc");
    assert_contains(t->err, "killing everything");
}

/* ---- no orphans (SPEC 5) ---- */

/* A grandchild that ignores SIGTERM is gone after a normal shutdown (its
 * stop timeout is long: tend must not wait for it, nor leave it). */
static void test_shutdown_leaves_no_grandchildren(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', stop_timeout = 30, cmd = {'sh', '-c',\n"
              "  [[sh -c 'trap \"\" TERM; echo $$ > @D/gc.pid; exec sleep 300' & wait]]} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    pid_t gc;
    int fd;
    wait_pids(f, in_dir(f, "gc.pid"), &gc, &fd, 1);
    kill(t->pid, SIGTERM);
    expect_exit(t, 0);
    assert_gone(fd, "the grandchild");
}

/* A fatal error in tend (SIGABRT): its handler SIGKILLs every group, so
 * the child and the grandchild are gone. */
static void test_sigabrt_kills_children_and_grandchildren(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', cmd = {'sh', '-c',\n"
              "  [[sleep 300 & echo \"$$ $!\" > @D/pids.tmp && mv @D/pids.tmp @D/pids; wait]]} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    pid_t pids[2];
    int fds[2];
    wait_pids(f, in_dir(f, "pids"), pids, fds, 2);
    kill(t->pid, SIGABRT);
    expect_exit(t, 128 + SIGABRT);
    assert_gone(fds[0], "the child");
    assert_gone(fds[1], "the grandchild");
}

/* tend SIGKILLed: its direct child is killed by the kernel
 * (PR_SET_PDEATHSIG).  The grandchild may survive: the teardown kills it. */
static void test_sigkill_of_tend_kills_direct_child(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', cmd = {'sh', '-c',\n"
              "  [[sleep 300 & echo \"$$ $!\" > @D/pids.tmp && mv @D/pids.tmp @D/pids; wait]]} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    pid_t pids[2];
    int fds[2];
    wait_pids(f, in_dir(f, "pids"), pids, fds, 2);
    close(fds[1]);
    kill(t->pid, SIGKILL);
    expect_exit(t, 128 + SIGKILL);
    assert_gone(fds[0], "the child");
}

/* The main process exits while a grandchild holds its stdout: tend
 * reports the exit at once (no waiting for the pipe to close), the
 * grandchild is stopped, and tend exits. */
static void test_grandchild_holding_stdout_does_not_delay_exit(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'a', restart = 'never', stop_timeout = 1, cmd = {'sh', '-c',\n"
              "  [[sleep 300 & echo $! > @D/gc.pid; echo bye; exit 3]]} }\n");
    struct tend_run *t = run(f, NULL, NULL);
    pid_t gc;
    /* the grandchild gets SIGTERM as soon as a has exited: it may be gone
     * before it is watched (pid_watch: -1, which counts as gone) */
    expect_file(in_dir(f, "gc.pid"), "\n");
    assert_int_equal(read_pids(in_dir(f, "gc.pid"), &gc, 1), 1);
    int fd = pid_watch(gc);
    expect_out(t, 2, "tend: warning: a: exited with code 3\n");
    expect_exit(t, 1);
    assert_gone(fd, "the grandchild");
    assert_string_equal(t->out, "a | bye\n");
}

int main(void)
{
    /* SIGABRT tests must not leave core files behind */
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    signal(SIGPIPE, SIG_IGN);

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_stdout_lines_prefixed_with_name),
        T(test_stderr_lines_go_to_stderr_prefixed),
        T(test_final_line_without_newline_appears),
        T(test_concurrent_output_never_interleaves),
        T(test_timestamps_prefix_iso8601_utc_millis),
        T(test_all_procs_exit_zero_exits_zero),
        T(test_proc_exit_code_7_exits_one_with_warning),
        T(test_quiet_logs_only_warnings),
        T(test_unexecutable_program_fails_others_keep_running),
        T(test_policy_unknown_field_rejected),
        T(test_policy_wrong_type_rejected),
        T(test_policy_duplicate_name_rejected),
        T(test_policy_after_cycle_rejected),
        T(test_policy_after_unknown_name_rejected),
        T(test_policy_syntax_error_rejected),
        T(test_policy_runtime_error_rejected),
        T(test_policy_error_without_a_position_names_the_file),
        T(test_policy_cmd_string_rejected),
        T(test_policy_that_would_hang_or_crash_the_load_rejected),
        T(test_policy_that_is_not_a_regular_file_rejected),
        T(test_a_long_after_chain_loads_and_a_long_cycle_is_named),
        T(test_the_watchdog_ends_a_stuck_run_with_its_traceback),
        T(test_policy_missing_file_exits_2_naming_it),
        T(test_check_prints_plan_without_spawning),
        T(test_no_command_is_usage_error),
        T(test_unknown_command_is_usage_error),
        T(test_run_without_file_is_usage_error),
        T(test_unknown_option_is_usage_error),
        T(test_help_prints_usage_to_stdout),
        T(test_help_on_every_command),
        T(test_options_as_opt_equals_value_and_opt_value),
        T(test_misuse_is_one_usage_line_and_a_hint),
        T(test_unknown_option_and_missing_value_are_named),
        T(test_version_prints_version),
        T(test_child_env_merged_into_tends),
        T(test_child_gets_tend_proc_and_incarnation),
        T(test_child_cwd_relative_to_policy_dir),
        T(test_child_stdin_is_dev_null),
        T(test_child_has_no_fds_beyond_stdio),
        T(test_too_few_fds_for_the_procs_is_said_at_start),
        T(test_child_signal_mask_and_ignores_reset),
        T(test_child_runs_in_own_process_group),
        T(test_restart_always_restarts_after_exit_0),
        T(test_restart_on_failure_not_after_exit_0),
        T(test_give_up_after_restarts_exits_one),
        T(test_after_starts_dependent_once_dependency_ready),
        T(test_after_failed_dependency_never_starts_dependent),
        T(test_sigterm_stops_every_proc_gracefully),
        T(test_shutdown_from_a_hook_still_stops_dependents_first),
        T(test_a_late_readiness_report_is_ignored_not_fatal),
        T(test_sigint_stops_like_sigterm),
        T(test_sigterm_stops_dependents_first),
        T(test_stop_timeout_sigkills_and_exits_one),
        T(test_second_sigterm_kills_at_once),
        T(test_shutdown_leaves_no_grandchildren),
        T(test_sigabrt_kills_children_and_grandchildren),
        T(test_sigkill_of_tend_kills_direct_child),
        T(test_grandchild_holding_stdout_does_not_delay_exit),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
