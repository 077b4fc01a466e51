/* test_logs.c -- `tend logs` across procs (SPEC 2, 6), through the real
 * binary: every proc by default, both streams of every proc in the order
 * tend read them, -n, --stream, -t, --json, -f, and the lines a ring keeps.
 *
 * The procs here write a line when the test tells them to, through a fifo,
 * and the test waits for each line in tend's own output before it sends
 * the next: so the order of arrival is known, and nothing sleeps.  Each
 * test gets a fresh directory (its policy, socket and fifos); every
 * process it starts carries TEND_TEST_TAG=<that directory> and is
 * SIGKILLed at teardown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define TAG_VAR "TEND_TEST_TAG"
#define MAX_CLIENTS 16
#define MAX_PROCS 4

struct fx {
    char *dir;            /* this test's directory */
    char *sock;           /* dir/tend.sock */
    char *policy;         /* dir/policy.lua once written */
    struct tend_run *t;   /* the tend under test */
    struct tend_run *clients[MAX_CLIENTS];
    size_t nclients;
    int fifo[MAX_PROCS];  /* the write ends of the procs' fifos, or -1 */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tmpdir_new();
    if (!f->dir || asprintf(&f->sock, "%s/tend.sock", f->dir) < 0)
        return -1;
    for (int i = 0; i < MAX_PROCS; i++)
        f->fifo[i] = -1;
    setenv(TAG_VAR, f->dir, 1);
    setenv("TEND_SOCKET", f->sock, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < f->nclients; i++)
        tend_free(f->clients[i]);
    tend_free(f->t);
    for (int i = 0; i < MAX_PROCS; i++)
        if (f->fifo[i] >= 0)
            close(f->fifo[i]);
    procs_kill_tagged(TAG_VAR, f->dir, DEADLINE);
    unsetenv(TAG_VAR);
    unsetenv("TEND_SOCKET");
    tmpdir_free(f->dir);
    free(f->sock);
    free(f->policy);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static void dump(const struct tend_run *t)
{
    if (t)
        fprintf(stderr, "---- stdout:\n%s\n---- stderr:\n%s\n----\n", t->out, t->err);
}

#define expect_out(t, stream, needle)                                              \
    do {                                                                           \
        if (!tend_expect((t), (stream), (needle), DEADLINE)) {                     \
            dump(t);                                                               \
            fail_msg("%s:%d: not seen within %gs: \"%s\"", __FILE__, __LINE__,     \
                     DEADLINE, (needle));                                          \
        }                                                                          \
    } while (0)

/* Run a client command (NULL-terminated arguments) that must exit with
 * `code`. */
static struct tend_run *expect_cli_v(int code, struct fx *f, const char *const *args)
{
    assert_true(f->nclients < MAX_CLIENTS);
    struct tend_run *c = tend_run_sync(args, DEADLINE);
    f->clients[f->nclients++] = c;
    if (!c->exited || run_exit_code(c) != code) {
        dump(c);
        fail_msg("`tend %s`: exit code %d, want %d", args[0], run_exit_code(c), code);
    }
    return c;
}
#define expect_cli(code, f, ...) expect_cli_v((code), (f), (const char *[]){__VA_ARGS__, NULL})

/* The policy of the procs `names` (NULL-terminated, at most MAX_PROCS),
 * each writing what the test sends it: a line "o TEXT" on its fifo makes
 * it print TEXT on stdout, "e TEXT" on stderr.  The fifos are made on the
 * way; the proc named `changed` gets an env of its own (a reload restarts
 * it). */
static void talkers_policy(struct fx *f, const char *const *names, const char *changed)
{
    char text[4096];
    size_t n = 0;
    for (int i = 0; names[i]; i++) {
        assert_true(i < MAX_PROCS);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s.fifo", f->dir, names[i]);
        if (f->fifo[i] < 0) {
            assert_int_equal(mkfifo(path, 0600), 0);
            /* read-write: never blocks, and the proc never sees EOF */
            f->fifo[i] = open(path, O_RDWR | O_CLOEXEC);
            assert_true(f->fifo[i] >= 0);
        }
        bool env = changed && strcmp(changed, names[i]) == 0;
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "tend.proc { name = '%s', %s cmd = {'sh', '-c', [[\n"
                              "  echo up; while read -r s x; do\n"
                              "    if [ \"$s\" = e ]; then echo \"$x\" >&2; else echo \"$x\"; fi\n"
                              "  done < '%s']] } }\n",
                              names[i], env ? "env = { CHANGED = '1' }," : "", path);
    }
    free(f->policy);
    f->policy = write_file(f->dir, "policy.lua", text);
}

/* Start tend on talkers_policy(names) and wait until every one is up. */
static void start_talkers(struct fx *f, const char *const *names)
{
    talkers_policy(f, names, NULL);
    f->t = tend_start((const char *[]){"run", f->policy, NULL});
    for (int i = 0; names[i]; i++) {
        char up[64];
        snprintf(up, sizeof up, "%s | up\n", names[i]);
        expect_out(f->t, 1, up);
    }
}

/* Make proc number `i` write `text` on `stream` (1 stdout, 2 stderr) and
 * wait until tend has copied it to its own output as "NAME | text". */
static void say(struct fx *f, int i, const char *name, int stream, const char *text)
{
    char msg[256], seen[256];
    int n = snprintf(msg, sizeof msg, "%c %s\n", stream == 2 ? 'e' : 'o', text);
    assert_int_equal(write(f->fifo[i], msg, (size_t)n), n);
    snprintf(seen, sizeof seen, "%s | %s\n", name, text);
    expect_out(f->t, stream, seen);
}

/* The lines of `--json` output, each checked to be an object with the
 * fields of a line; "NAME/STREAM/LINE" each, joined by spaces. */
static char *json_lines_summary(const char *out)
{
    size_t cap = strlen(out) + 1, n = 0;
    char *sum = calloc(1, cap);
    for (const char *l = out; *l;) {
        const char *nl = strchr(l, '\n');
        assert_non_null(nl);
        json_error_t err;
        json_t *o = json_loadb(l, (size_t)(nl - l), 0, &err);
        if (!o)
            fail_msg("not a JSON line (%s): %.*s", err.text, (int)(nl - l), l);
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *proc = json_string_value(json_object_get(o, "proc"));
        const char *stream = json_string_value(json_object_get(o, "stream"));
        const char *line = json_string_value(json_object_get(o, "line"));
        assert_non_null(name);
        assert_non_null(proc);
        assert_string_equal(name, proc);
        assert_non_null(stream);
        assert_non_null(line);
        assert_true(json_is_string(json_object_get(o, "time")));
        assert_true(json_is_integer(json_object_get(o, "seq")));
        n += (size_t)snprintf(sum + n, cap - n, "%s%s/%s/%s", n ? " " : "", name,
                              strcmp(stream, "stderr") == 0 ? "err" : "out", line);
        json_decref(o);
        l = nl + 1;
    }
    return sum;
}

#define ISO "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"

/* Whether `s` matches the extended regular expression `re` as a whole. */
static bool matches(const char *s, const char *re)
{
    regex_t r;
    assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

/* ---- the tests ---- */

/* With no NAME every proc's lines come, merged across procs and streams
 * in the order they arrived; stdout lines on stdout, stderr on stderr. */
static void test_logs_merges_every_proc_in_arrival_order(void **state)
{
    struct fx *f = *state;
    start_talkers(f, (const char *[]){"a", "b", "c", NULL});
    say(f, 1, "b", 1, "b-1");
    say(f, 2, "c", 2, "c-2");
    say(f, 0, "a", 1, "a-3");
    say(f, 1, "b", 2, "b-4");
    say(f, 2, "c", 1, "c-5");
    say(f, 0, "a", 2, "a-6");

    struct tend_run *c = expect_cli(0, f, "logs", "--json", "-n", "6");
    char *sum = json_lines_summary(c->out);
    assert_string_equal(sum, "b/out/b-1 c/err/c-2 a/out/a-3 b/err/b-4 c/out/c-5 a/err/a-6");
    free(sum);
    assert_string_equal(c->err, "");

    c = expect_cli(0, f, "logs", "-n", "6");
    assert_string_equal(c->out, "b | b-1\na | a-3\nc | c-5\n");
    assert_string_equal(c->err, "c | c-2\nb | b-4\na | a-6\n");
}

/* -n counts lines across every proc (also written -nN); the default is
 * 20; the "up" lines are older than everything said. */
static void test_logs_n_counts_lines_across_procs(void **state)
{
    struct fx *f = *state;
    start_talkers(f, (const char *[]){"a", "b", NULL});
    char text[32];
    for (int i = 1; i <= 30; i++) {
        snprintf(text, sizeof text, "line-%d", i);
        say(f, i % 2, i % 2 ? "b" : "a", 1, text);
    }
    struct tend_run *c = expect_cli(0, f, "logs", "-n3");
    assert_string_equal(c->out, "a | line-28\nb | line-29\na | line-30\n");
    c = expect_cli(0, f, "logs");
    assert_int_equal(count_of(c->out, "\n"), 20);
    assert_true(strncmp(c->out, "b | line-11\n", 12) == 0);
    c = expect_cli(0, f, "logs", "--lines=0");
    assert_string_equal(c->out, "");
}

/* NAMEs choose the procs (several: still prefixed; one: the bare lines,
 * as before); --stream chooses the stream. */
static void test_logs_of_named_procs_and_one_stream(void **state)
{
    struct fx *f = *state;
    start_talkers(f, (const char *[]){"a", "b", "c", NULL});
    say(f, 0, "a", 1, "a-out");
    say(f, 1, "b", 2, "b-err");
    say(f, 2, "c", 1, "c-out");
    say(f, 0, "a", 2, "a-err");

    struct tend_run *c = expect_cli(0, f, "logs", "c", "a", "-n", "2");
    assert_string_equal(c->out, "c | c-out\n");
    assert_string_equal(c->err, "a | a-err\n");
    c = expect_cli(0, f, "logs", "a", "-n", "2");
    assert_string_equal(c->out, "a-out\n");
    assert_string_equal(c->err, "a-err\n");
    c = expect_cli(0, f, "logs", "--stream", "stderr", "-n", "2");
    assert_string_equal(c->out, "");
    assert_string_equal(c->err, "b | b-err\na | a-err\n");
    c = expect_cli(0, f, "logs", "--stream=stdout", "--json", "-n", "2");
    char *sum = json_lines_summary(c->out);
    assert_string_equal(sum, "a/out/a-out c/out/c-out");
    free(sum);
    c = expect_cli(1, f, "logs", "a", "nope");
    assert_string_equal(c->out, "");
    assert_true(strstr(c->err, "no proc named 'nope' (known: a, b, c)") != NULL);
}

/* A program that writes stdout, then stderr, then stdout... 1,000 times
 * over: the lines come back in the order written, and all of them are
 * kept (1,001 on stdout, 1,000 on stderr). */
static void test_logs_keep_the_order_of_alternating_streams(void **state)
{
    struct fx *f = *state;
    const char *h = getenv("TEND_HELPERS");
    char text[PATH_MAX + 128];
    snprintf(text, sizeof text, "tend.proc { name = 'alt', cmd = {'%s/helper-interleave', '1000'} }\n",
             h && *h ? h : "build/tests");
    f->policy = write_file(f->dir, "policy.lua", text);
    f->t = tend_start((const char *[]){"run", f->policy, NULL});
    expect_out(f->t, 1, "alt | done\n");

    struct tend_run *c = expect_cli(0, f, "logs", "alt", "--json", "-n", "5000");
    char *sum = json_lines_summary(c->out);
    size_t cap = 64 * 1024, n = 0;
    char *want = malloc(cap);
    for (int i = 1; i <= 1000; i++)
        n += (size_t)snprintf(want + n, cap - n, "%salt/out/out %d alt/err/err %d",
                              i > 1 ? " " : "", i, i);
    snprintf(want + n, cap - n, " alt/out/done");
    assert_string_equal(sum, want);
    free(want);
    free(sum);
}

/* -t puts the time tend read each line in front of it, ISO-8601 UTC with
 * milliseconds: a time kept with the line, the same however late asked. */
static void test_logs_timestamps_are_kept_with_lines(void **state)
{
    struct fx *f = *state;
    start_talkers(f, (const char *[]){"a", "b", NULL});
    time_t before = time(NULL);
    say(f, 0, "a", 1, "first");
    say(f, 1, "b", 2, "second");
    time_t after = time(NULL);

    struct tend_run *c = expect_cli(0, f, "logs", "-t", "-n", "2");
    if (!matches(c->out, "^" ISO " a \\| first\n$") || !matches(c->err, "^" ISO " b \\| second\n$")) {
        dump(c);
        fail_msg("-t lines are not TIME NAME | line");
    }
    struct tm tm;
    assert_non_null(strptime(c->out, "%Y-%m-%dT%H:%M:%S", &tm));
    time_t when = timegm(&tm);
    assert_true(when >= before && when <= after);

    /* say() waited for the line, so this is later: the time is the line's */
    say(f, 0, "a", 1, "third");
    struct tend_run *again = expect_cli(0, f, "logs", "--timestamps", "a", "-n", "2");
    size_t stamp = strlen("2026-11-26T16:45:01.123Z");
    assert_true(strlen(again->out) > stamp);
    assert_memory_equal(again->out, c->out, stamp);  /* "first", as before */

    /* --json has the same time */
    struct tend_run *j = expect_cli(0, f, "logs", "--json", "-n", "3");
    json_t *o = json_loadb(j->out, strcspn(j->out, "\n"), 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "line")), "first");
    assert_memory_equal(json_string_value(json_object_get(o, "time")), c->out, stamp);
    json_decref(o);
}

/* --json: one object a line with name, proc, stream, time, seq and line,
 * stderr lines too on stdout; seq grows with arrival across procs. */
static void test_logs_json_is_one_object_a_line_on_stdout(void **state)
{
    struct fx *f = *state;
    start_talkers(f, (const char *[]){"a", "b", NULL});
    say(f, 0, "a", 2, "quote \" and \\ back");
    say(f, 1, "b", 1, "plain");
    struct tend_run *c = expect_cli(0, f, "logs", "--json", "-n", "2");
    assert_string_equal(c->err, "");
    const char *second = strchr(c->out, '\n') + 1;
    json_t *o1 = json_loadb(c->out, (size_t)(second - 1 - c->out), 0, NULL);
    json_t *o2 = json_loads(second, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(o1);
    assert_non_null(o2);
    assert_string_equal(json_string_value(json_object_get(o1, "name")), "a");
    assert_string_equal(json_string_value(json_object_get(o1, "stream")), "stderr");
    assert_string_equal(json_string_value(json_object_get(o1, "line")), "quote \" and \\ back");
    assert_string_equal(json_string_value(json_object_get(o2, "name")), "b");
    assert_string_equal(json_string_value(json_object_get(o2, "stream")), "stdout");
    assert_true(json_integer_value(json_object_get(o2, "seq")) >
                json_integer_value(json_object_get(o1, "seq")));
    assert_true(matches(json_string_value(json_object_get(o1, "time")), "^" ISO "$"));
    json_decref(o1);
    json_decref(o2);
}

/* -f with no NAME follows every proc: new lines of any proc and stream,
 * as they come, each to the client's stream of its own. */
static void test_logs_follow_every_proc(void **state)
{
    struct fx *f = *state;
    start_talkers(f, (const char *[]){"a", "b", NULL});
    say(f, 0, "a", 1, "old");
    struct tend_run *fl = tend_start((const char *[]){"logs", "-f", "-n", "1", NULL});
    f->clients[f->nclients++] = fl;
    expect_out(fl, 1, "a | old\n");  /* the history came: the follow is on */
    say(f, 1, "b", 2, "new-1");
    say(f, 0, "a", 1, "new-2");
    expect_out(fl, 2, "b | new-1\n");
    expect_out(fl, 1, "a | old\na | new-2\n");
    assert_string_equal(fl->err, "b | new-1\n");
    assert_false(fl->exited);

    struct tend_run *js = tend_start((const char *[]){"logs", "b", "-f", "--json", "-n", "1", NULL});
    f->clients[f->nclients++] = js;
    expect_out(js, 1, "\"line\":\"new-1\"");  /* the history: the follow is on */
    say(f, 0, "a", 1, "not-b");
    say(f, 1, "b", 2, "for-b");
    expect_out(js, 1, "\"line\":\"for-b\"");
    assert_true(strstr(js->out, "not-b") == NULL);
}

/* A follow of every proc outlives a reload: it hears the proc that
 * replaced a changed one, and a new one. */
static void test_logs_follow_of_every_proc_outlives_a_reload(void **state)
{
    struct fx *f = *state;
    start_talkers(f, (const char *[]){"a", "b", NULL});
    say(f, 1, "b", 1, "before");
    struct tend_run *fl = tend_start((const char *[]){"logs", "-f", "-n", "1", NULL});
    f->clients[f->nclients++] = fl;
    expect_out(fl, 1, "b | before\n");  /* the history came: the follow is on */

    talkers_policy(f, (const char *[]){"a", "b", "c", NULL}, "a");
    expect_cli(0, f, "reload");
    if (!tend_expect_n(f->t, 1, "a | up\n", 2, DEADLINE)) {
        dump(f->t);
        fail_msg("a was not restarted by the reload");
    }
    expect_out(f->t, 1, "c | up\n");
    say(f, 0, "a", 1, "new-a");
    say(f, 2, "c", 2, "new-c");
    say(f, 1, "b", 1, "same-b");
    expect_out(fl, 1, "a | new-a\n");
    expect_out(fl, 2, "c | new-c\n");
    expect_out(fl, 1, "b | same-b\n");
    assert_false(fl->exited);
}

/* The ring keeps the last 1,024 lines of a stream: of 1,500 lines, lines
 * 477 to 1,500. */
static void test_logs_ring_keeps_a_thousand_lines(void **state)
{
    struct fx *f = *state;
    f->policy = write_file(f->dir, "policy.lua",
                           "tend.proc { name = 'many', cmd = {'sh', '-c',\n"
                           "  'seq 1 1500; echo end >&2; exec sleep 1000'} }\n");
    f->t = tend_start((const char *[]){"run", f->policy, NULL});
    expect_out(f->t, 1, "many | 1500\n");
    expect_out(f->t, 2, "many | end\n");
    struct tend_run *c = expect_cli(0, f, "logs", "many", "--stream", "stdout", "-n", "5000");
    assert_int_equal(count_of(c->out, "\n"), 1024);
    assert_true(strncmp(c->out, "477\n478\n", 8) == 0);
    size_t len = strlen(c->out);
    assert_true(len > 5 && strcmp(c->out + len - 5, "1500\n") == 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        T(test_logs_merges_every_proc_in_arrival_order),
        T(test_logs_n_counts_lines_across_procs),
        T(test_logs_of_named_procs_and_one_stream),
        T(test_logs_keep_the_order_of_alternating_streams),
        T(test_logs_timestamps_are_kept_with_lines),
        T(test_logs_json_is_one_object_a_line_on_stdout),
        T(test_logs_follow_every_proc),
        T(test_logs_follow_of_every_proc_outlives_a_reload),
        T(test_logs_ring_keeps_a_thousand_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
