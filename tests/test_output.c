/* test_output.c -- output files (SPEC 6) through the real binary: both
 * streams appended unprefixed, --timestamps, rotation by tend, reopening on
 * SIGHUP after an outside rotator, a bad path refused at load, a file that
 * cannot grow (RLIMIT_FSIZE, as a full disk); and tend's own stdout and
 * stderr given their file status flags back when a fatal signal ends it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
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

static char *path_in(const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    return p;
}

static off_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : -1;
}

static void test_output_file_gets_both_streams_unprefixed_and_appended(void **state)
{
    char *log = path_in("out.log");
    FILE *f = fopen(log, "w");
    fputs("earlier\n", f);
    fclose(f);
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'w', cmd = { 'sh', '-c', 'echo to-stdout; echo to-stderr >&2' },\n"
        "  output = 'out.log', restart = 'never' }\n");
    struct tend_run *t = tend_run_sync((const char *[]){"run", policy, NULL}, DEADLINE);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    char *text = read_file(log);
    assert_non_null(strstr(text, "earlier\n"));
    assert_non_null(strstr(text, "to-stdout\n"));
    assert_non_null(strstr(text, "to-stderr\n"));
    assert_null(strstr(text, "w | "));
    assert_null(strstr(t->out, "to-stdout"));  /* not on tend's output */
    free(text);
    tend_free(t);
    free(policy);
    free(log);
}

/* output = { path, stderr = PATH2 }: each stream its own file; console =
 * true: the file and tend's output both (SPEC 6). */
static void test_stderr_file_and_console_copy(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 's', restart = 'never',\n"
        "  cmd = { 'sh', '-c', 'for i in 1 2 3; do echo out$i; echo err$i >&2; done' },\n"
        "  output = { path = 'o.log', stderr = 'e.log' } }\n"
        "tend.proc { name = 'c', restart = 'never',\n"
        "  cmd = { 'sh', '-c', 'echo both-out; echo both-err >&2' },\n"
        "  output = { path = 'c.log', console = true } }\n");
    struct tend_run *t = tend_run_sync((const char *[]){"run", policy, NULL}, DEADLINE);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    char *o = path_in("o.log"), *e = path_in("e.log"), *c = path_in("c.log");
    char *out = read_file(o), *err = read_file(e), *both = read_file(c);
    assert_non_null(out);
    assert_non_null(err);
    assert_string_equal(out, "out1\nout2\nout3\n");
    assert_string_equal(err, "err1\nerr2\nerr3\n");
    /* console: in the file unprefixed, and on tend's streams prefixed */
    assert_non_null(both);
    assert_contains(both, "both-out\n");
    assert_contains(both, "both-err\n");
    assert_contains(t->out, "c | both-out\n");
    assert_contains(t->err, "c | both-err\n");
    assert_lacks(t->out, "out1");  /* s is not on the console */
    free(out);
    free(err);
    free(both);
    free(o);
    free(e);
    free(c);
    tend_free(t);
    free(policy);

    /* --check shows both, and a stderr file in a missing directory is
     * refused with the field */
    policy = write_file(dir, "p.lua",
        "tend.proc { name = 's', cmd = { 'true' },\n"
        "  output = { path = 'o.log', stderr = 'nodir/e.log' } }\n");
    t = tend_run_sync((const char *[]){"run", "--check", policy, NULL}, DEADLINE);
    assert_int_equal(run_exit_code(t), 2);
    assert_contains(t->err, "field 'output.stderr'");
    assert_contains(t->err, "nodir/e.log: its directory");
    tend_free(t);
    free(policy);
}

static void test_every_byte_reaches_the_file_even_right_before_exit(void **state)
{
    /* 4 MiB of lines written as fast as possible, then exit at once: what
     * is still in the pipe at the exit must be read before it closes */
    char *log = path_in("all.log");
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'w', cmd = { 'sh', '-c',\n"
        "  'yes 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde | head -c 4194304' },\n"
        "  output = 'all.log', restart = 'never' }\n");
    struct tend_run *t = tend_run_sync((const char *[]){"run", policy, NULL}, DEADLINE);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    assert_int_equal(file_size(log), 4194304);
    tend_free(t);
    free(policy);
    free(log);
}

/* The lines of `text` have these lengths, in this order, and no others? */
static void assert_line_lengths(const char *text, const size_t *want, size_t n)
{
    size_t k = 0;
    for (const char *l = text; *l; k++) {
        const char *nl = strchr(l, '\n');
        assert_non_null(nl);
        assert_true(k < n);
        assert_int_equal((size_t)(nl - l), want[k]);
        l = nl + 1;
    }
    assert_int_equal(k, n);
}

static void test_long_lines_split_at_64_kib_however_they_are_read(void **state)
{
    /* A line of exactly 64 KiB stays one line; one of 200,000 bytes is
     * three of 64 KiB and the rest.  The same text comes from one proc in
     * big writes (cat: most of it in one read by tend) and from one in
     * 1000-byte writes (tend completes the long lines across reads); both
     * files must come out the same. */
    char *data = path_in("long.txt");
    char *cmd;
    if (asprintf(&cmd, "{ head -c 65536 /dev/zero | tr '\\0' a; echo;"
                       " head -c 200000 /dev/zero | tr '\\0' b; echo; echo end; } > '%s'",
                 data) < 0)
        abort();
    assert_int_equal(system(cmd), 0);
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'big', cmd = { 'cat', 'long.txt' }, cwd = '.',\n"
        "  output = 'big.log', restart = 'never' }\n"
        "tend.proc { name = 'small', cmd = { 'dd', 'if=long.txt', 'bs=1000', 'status=none' },\n"
        "  cwd = '.', output = 'small.log', restart = 'never' }\n");
    struct tend_run *t = tend_run_sync((const char *[]){"run", policy, NULL}, DEADLINE);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    const size_t want[] = {65536, 65536, 65536, 65536, 200000 - 3 * 65536, 3};
    const char *logs[] = {"big.log", "small.log"};
    for (int i = 0; i < 2; i++) {
        char *log = path_in(logs[i]);
        char *text = read_file(log);
        assert_non_null(text);
        assert_line_lengths(text, want, sizeof want / sizeof want[0]);
        assert_int_equal(text[0], 'a');
        assert_int_equal(text[65537], 'b');
        free(text);
        free(log);
    }
    tend_free(t);
    free(policy);
    free(cmd);
    free(data);
}

static void test_timestamps_in_output_files(void **state)
{
    char *log = path_in("ts.log");
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'w', cmd = { 'echo', 'stamped' }, output = 'ts.log',\n"
        "  restart = 'never' }\n");
    struct tend_run *t = tend_run_sync((const char *[]){"run", "--timestamps", policy, NULL},
                                       DEADLINE);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    char *text = read_file(log);
    /* 2026-11-26T16:45:01.123Z stamped */
    assert_int_equal(strlen(text), strlen("2026-11-26T16:45:01.123Z stamped\n"));
    assert_int_equal(text[10], 'T');
    assert_memory_equal(text + 23, "Z stamped\n", 10);
    free(text);
    tend_free(t);
    free(policy);
    free(log);
}

static void test_rotation_keeps_n_files_under_max_size(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'r', cmd = { 'sh', '-c',\n"
        "  'i=0; while [ $i -lt 1500 ]; do echo line-$i; i=$((i+1)); done' },\n"
        "  output = { path = 'rot.log', max_size = 2048, keep = 3 }, restart = 'never' }\n");
    struct tend_run *t = tend_run_sync((const char *[]){"run", policy, NULL}, DEADLINE);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    char *names[] = {"rot.log", "rot.log.1", "rot.log.2", "rot.log.3"};
    for (int i = 0; i < 4; i++) {
        char *p = path_in(names[i]);
        off_t size = file_size(p);
        assert_true(size > 0 && size <= 2048);
        free(p);
    }
    char *p4 = path_in("rot.log.4");
    assert_int_equal(file_size(p4), -1);  /* keep = 3 */
    free(p4);
    char *cur = path_in("rot.log"), *text = read_file(cur);
    assert_non_null(strstr(text, "line-1499\n"));  /* the newest is in PATH */
    free(text);
    free(cur);
    char *old = path_in("rot.log.1"), *t1 = read_file(old);
    assert_null(strstr(t1, "line-1499\n"));
    free(t1);
    free(old);
    tend_free(t);
    free(policy);
}

static void test_sighup_reopens_after_an_outside_rotator(void **state)
{
    char *log = path_in("hup.log"), *moved = path_in("hup.log.old");
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'w', cmd = { 'sh', '-c',\n"
        "  'i=0; while :; do echo tick-$i; i=$((i+1)); sleep 0.02; done' },\n"
        "  output = 'hup.log' }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(file_wait_for(log, "tick-3\n", DEADLINE));
    assert_int_equal(rename(log, moved), 0);  /* what logrotate does */
    kill(t->pid, SIGHUP);
    assert_true(tend_expect(t, 2, "reopening output files", DEADLINE));
    assert_true(file_wait_for(log, "tick-", DEADLINE));
    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    char *old = read_file(moved), *cur = read_file(log);
    assert_non_null(strstr(old, "tick-3\n"));
    assert_null(strstr(cur, "tick-0\n"));
    free(old);
    free(cur);
    tend_free(t);
    free(policy);
    free(log);
    free(moved);
}

static void test_an_output_path_that_cannot_be_written_is_refused_at_load(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'w', cmd = { 'true' },\n"
        "  output = '/no/such/dir/w.log' }\n");
    struct tend_run *t = tend_run_sync((const char *[]){"run", policy, NULL}, DEADLINE);
    assert_int_equal(tend_wait(t, DEADLINE), 2);
    assert_non_null(strstr(t->err, "p.lua:1:"));
    assert_non_null(strstr(t->err, "proc 'w'"));
    assert_non_null(strstr(t->err, "field 'output'"));
    assert_non_null(strstr(t->err, "/no/such/dir/w.log"));
    tend_free(t);
    free(policy);
}

static void test_log_format_json_gives_one_object_a_line(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'a', cmd = { 'sh', '-c', 'echo boom >&2; exit 3' },\n"
        "  restart = 'never' }\n");
    struct tend_run *t = tend_run_sync((const char *[]){"run", "--log-format", "json",
                                                        "--timestamps", policy, NULL}, DEADLINE);
    assert_int_equal(tend_wait(t, DEADLINE), 1);
    int objects = 0, exited = 0, proc_lines = 0;
    char *copy = strdup(t->err), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        if (!o)
            fail_msg("not JSON: %s", line);
        assert_true(json_is_string(json_object_get(o, "time")));
        assert_non_null(json_object_get(o, "proc"));
        if (json_object_get(o, "stream")) {
            /* the proc's own stderr line, as {"time","proc","stream","line"} */
            assert_string_equal(json_string_value(json_object_get(o, "proc")), "a");
            assert_string_equal(json_string_value(json_object_get(o, "stream")), "stderr");
            assert_string_equal(json_string_value(json_object_get(o, "line")), "boom");
            assert_null(json_object_get(o, "level"));
            proc_lines++;
        } else {
            assert_true(json_is_string(json_object_get(o, "level")));
            assert_true(json_is_string(json_object_get(o, "message")));
            const char *msg = json_string_value(json_object_get(o, "message"));
            if (strcmp(msg, "exited with code 3") == 0) {
                assert_string_equal(json_string_value(json_object_get(o, "proc")), "a");
                assert_string_equal(json_string_value(json_object_get(o, "level")), "warning");
                exited++;
            }
        }
        /* no timestamp prefix before the object, even with --timestamps */
        assert_int_equal(line[0], '{');
        json_decref(o);
        objects++;
    }
    free(copy);
    assert_true(objects >= 3);
    assert_int_equal(exited, 1);
    assert_int_equal(proc_lines, 1);
    tend_free(t);
    free(policy);
}

/* --log-format json: the procs' stdout lines are objects on stdout too, in
 * order, and bytes that are not UTF-8 arrive as U+FFFD, not as a lost line. */
static void test_log_format_json_turns_proc_lines_into_objects(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'w', restart = 'never',\n"
        "  cmd = { 'sh', '-c', [[for i in 1 2 3; do echo \"line $i\"; done; "
        "printf 'bad \\377 \"q\"\\n']] } }\n");
    struct tend_run *t =
        tend_run_sync((const char *[]){"run", "--log-format", "json", policy, NULL}, DEADLINE);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    static const char *const want[] = {"line 1", "line 2", "line 3", "bad \xEF\xBF\xBD \"q\""};
    int n = 0;
    char *copy = strdup(t->out), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        if (!o)
            fail_msg("not JSON on stdout: %s", line);
        assert_true(n < 4);
        assert_string_equal(json_string_value(json_object_get(o, "proc")), "w");
        assert_string_equal(json_string_value(json_object_get(o, "stream")), "stdout");
        assert_string_equal(json_string_value(json_object_get(o, "line")), want[n]);
        const char *time = json_string_value(json_object_get(o, "time"));
        assert_non_null(time);
        assert_int_equal(strlen(time), strlen("2026-11-26T16:45:01.123Z"));
        json_decref(o);
        n++;
    }
    free(copy);
    assert_int_equal(n, 4);
    tend_free(t);
    free(policy);
}

static void test_a_fifo_is_refused_as_an_output_file(void **state)
{
    char *fifo = path_in("fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'f', cmd = { 'echo', 'x' }, output = 'fifo', restart = 'never' }\n"
        "tend.proc { name = 'ok', cmd = { 'echo', 'still-served' }, restart = 'never' }\n");
    struct tend_run *t = tend_run_sync((const char *[]){"run", policy, NULL}, DEADLINE);
    assert_int_equal(tend_wait(t, DEADLINE), 1);  /* f failed; tend did not block */
    assert_non_null(strstr(t->err, "not a regular file"));
    assert_non_null(strstr(t->out, "ok | still-served"));
    tend_free(t);
    free(policy);
    free(fifo);
}

static void dump(const struct tend_run *t)
{
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

/* A client command (NULL-terminated arguments) that must exit 0. */
static void cli_ok(const char *const *args)
{
    struct tend_run *c = tend_run_sync(args, DEADLINE);
    if (run_exit_code(c) != 0) {
        dump(c);
        fail_msg("`tend %s %s` exited %d", args[0], args[1] ? args[1] : "",
                 run_exit_code(c));
    }
    tend_free(c);
}

/* 100-byte lines (99 and a newline), 3000 of them, then a 5-byte "tick"
 * every 20 ms: the first 64 KiB take the file to the limit in the middle
 * of a line, the ticks keep failing after it. */
#define FSIZE_LIMIT 65536
#define FLOOD_LINE "0123456789012345678901234567890123456789012345678901234567890123456789" \
                   "01234567890123456789012345678"

/* Start tend on a policy whose proc `w` writes more than FSIZE_LIMIT to
 * full.log, with tend's RLIMIT_FSIZE at FSIZE_LIMIT (set here around the
 * spawn: tend inherits it; its procs too, but they write to pipes); and a
 * proc `other` that answers SIGUSR1 with a line.  Returns once tend has
 * said that the file cannot be written, once. */
static struct tend_run *start_with_full_file(const char *log)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'w', cmd = { 'sh', '-c',\n"
        "  'yes " FLOOD_LINE " | head -n 3000; while :; do echo tick; sleep 0.02; done' },\n"
        "  output = 'full.log' }\n"
        "tend.proc { name = 'other', cmd = { 'sh', '-c',\n"
        "  'trap \"echo got-usr1\" USR1; echo other-up; while :; do sleep 0.02; done' } }\n");
    unlink(log);  /* from an earlier test */
    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = FSIZE_LIMIT;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    free(policy);

    char warning[4200];
    snprintf(warning, sizeof warning, "tend: warning: w: output %s: File too large; its "
             "lines are dropped until a write works again\n", log);
    if (!tend_expect(t, 2, warning, DEADLINE)) {
        dump(t);
        /* 128 + SIGXFSZ (25) when a write past the limit killed tend */
        fail_msg("no \"%s\" from tend (exit code %d, -1: still running)", warning,
                 tend_wait(t, t->out_fd < 0 && t->err_fd < 0 ? DEADLINE : 0.01));
    }
    expect_out(t, 1, "other | other-up");
    /* still supervising: it answers, and a proc still gets its signal and
     * has its output copied */
    cli_ok((const char *[]){"status", NULL});
    cli_ok((const char *[]){"signal", "USR1", "other", NULL});
    expect_out(t, 1, "other | got-usr1");
    /* the ticks go on failing (seen through the ring, which keeps them):
     * each is a failed write of the file, and none is said again */
    struct tend_run *follow = tend_start((const char *[]){"logs", "w", "-f", NULL});
    if (!tend_expect_n(follow, 1, "tick\n", 5, DEADLINE)) {
        dump(follow);
        fail_msg("no ticks followed");
    }
    tend_free(follow);
    assert_int_equal(file_size(log), FSIZE_LIMIT);  /* written up to the limit */
    return t;
}

/* Stop tend: it was alive all along (exit 0 after a clean shutdown, not a
 * death by SIGXFSZ); the warning was said once. */
static void stop_and_check(struct tend_run *t)
{
    kill(t->pid, SIGTERM);
    int code = tend_wait(t, DEADLINE);
    if (code != 0)
        dump(t);
    assert_int_equal(code, 0);
    assert_int_equal(count_of(t->err, "File too large"), 1);
    assert_int_equal(count_of(t->err, "written again"), 1);
}

static void test_a_file_past_rlimit_fsize_is_said_once_and_tend_carries_on(void **state)
{
    /* Then the limit is lifted (as space is freed on a full disk): writing
     * works again, that is said once, and the line the limit cut short is
     * ended first, so that the next line does not run into it. */
    char *log = path_in("full.log");
    struct tend_run *t = start_with_full_file(log);
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    struct rlimit lifted = {old.rlim_max, old.rlim_max};
    assert_int_equal(prlimit(t->pid, RLIMIT_FSIZE, &lifted, NULL), 0);
    expect_out(t, 2, "tend: warning: w: output ");
    expect_out(t, 2, ": written again; ");
    assert_true(file_wait_for(log, "tick\ntick\n", DEADLINE));
    stop_and_check(t);

    char *text = read_file(log);
    size_t whole = FSIZE_LIMIT / 100, rest = FSIZE_LIMIT % 100;
    for (size_t i = 0; i < whole; i++)
        assert_memory_equal(text + i * 100, FLOOD_LINE "\n", 100);
    /* the cut line, ended by a newline of tend's, then whole ticks */
    assert_memory_equal(text + whole * 100, FLOOD_LINE, rest);
    assert_memory_equal(text + FSIZE_LIMIT, "\ntick\n", 6);
    for (const char *l = text + FSIZE_LIMIT + 1; *l; l += 5)
        assert_memory_equal(l, "tick\n", 5);
    free(text);
    tend_free(t);
    free(log);
}

static void test_a_full_file_emptied_takes_lines_again_from_its_start(void **state)
{
    /* The file is emptied instead (an operator truncates it): writing works
     * again, and the cut line is elsewhere: no stray newline at the top. */
    char *log = path_in("full.log");
    struct tend_run *t = start_with_full_file(log);
    assert_int_equal(truncate(log, 0), 0);
    expect_out(t, 2, ": written again; ");
    assert_true(file_wait_for(log, "tick\ntick\n", DEADLINE));
    stop_and_check(t);
    char *text = read_file(log);
    assert_memory_equal(text, "tick\n", 5);
    free(text);
    tend_free(t);
    free(log);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read fd until `needle` has come; whether it did within `timeout`. */
static bool fd_wait_for(int fd, const char *needle, double timeout)
{
    char buf[65536];
    size_t n = 0;
    double end = mono() + timeout;
    while (n < sizeof buf - 1) {
        buf[n] = '\0';
        if (strstr(buf, needle))
            return true;
        double left = end - mono();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
            return false;
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r <= 0)
            return false;
        n += (size_t)r;
    }
    return false;
}

static void test_a_fatal_signal_gives_stdout_and_stderr_their_flags_back(void **state)
{
    /* tend sets O_NONBLOCK on its stdout and stderr (a pipe or a terminal),
     * which is a flag of the open file description it shares with its
     * shell.  Here tend's fds 1 and 2 are the write ends of two pipes, and
     * the test keeps those same descriptions open, so it sees their flags
     * after tend dies of a signal it does not handle (SIGUSR1). */
    extern char **environ;
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 's', cmd = { 'sh', '-c', 'echo s-up; exec sleep 100' } }\n");
    int out[2], err[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(pipe2(err, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    char *argv[] = {(char *)tend_path(), "run", policy, NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, argv[0], &fa, &attr, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    int pidfd = pid_watch(pid);

    if (!fd_wait_for(out[0], "s | s-up\n", DEADLINE)) {
        char buf[4096];
        ssize_t r = read(err[0], buf, sizeof buf - 1);
        fail_msg("no \"s | s-up\" from tend; its stderr: %.*s", (int)(r > 0 ? r : 0), buf);
    }
    assert_true(fcntl(out[1], F_GETFL) & O_NONBLOCK);  /* tend's doing */
    assert_true(fcntl(err[1], F_GETFL) & O_NONBLOCK);
    kill(pid, SIGUSR1);
    assert_true(pidfd_wait_gone(pidfd, DEADLINE));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGUSR1);
    assert_false(fcntl(out[1], F_GETFL) & O_NONBLOCK);
    assert_false(fcntl(err[1], F_GETFL) & O_NONBLOCK);
    for (int i = 0; i < 2; i++) {
        close(out[i]);
        close(err[i]);
    }
    free(policy);
}

/* When nobody reads tend's stdout any more, tend says so once on stderr
 * and carries on supervising. */
static void test_a_closed_stdout_is_said_once(void **state)
{
    extern char **environ;
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'c', cmd = { 'sh', '-c', "
        "'i=0; while [ $i -lt 200 ]; do echo chatter $i; i=$((i+1)); done; echo done >&2' },\n"
        "  restart = 'never' }\n");
    int out[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    close(out[0]);  /* nobody will read it */
    char *errpath = NULL;
    assert_true(asprintf(&errpath, "%s/err.txt", dir) > 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char *argv[] = {(char *)tend_path(), "run", policy, NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    int pidfd = pid_watch(pid);
    assert_true(pidfd_wait_gone(pidfd, DEADLINE));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *err = read_file(errpath);
    assert_non_null(err);
    assert_int_equal(count_of(err, "stdout is closed"), 1);
    assert_contains(err, "the procs' stdout lines are dropped from now on");
    assert_contains(err, "c | done");  /* stderr still works */
    assert_contains(err, "c: exited with code 0");
    free(err);
    free(errpath);
    free(policy);
}

/* On a terminal each proc's prefix has a colour of its own and the
 * prefixes are padded to the longest name; NO_COLOR turns both off. */
static void test_prefixes_coloured_and_aligned_on_a_terminal(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'a', cmd = { 'sh', '-c', 'echo one' }, restart = 'never' }\n"
        "tend.proc { name = 'longname', cmd = { 'sh', '-c', 'echo two' }, restart = 'never' }\n");
    for (int plain = 0; plain < 2; plain++) {
        int master;
        pid_t pid = forkpty(&master, NULL, NULL, NULL);
        assert_true(pid >= 0);
        if (pid == 0) {
            if (plain)
                setenv("NO_COLOR", "1", 1);
            setenv("TERM", "xterm", 1);
            execl(tend_path(), tend_path(), "run", policy, (char *)NULL);
            _exit(127);
        }
        struct buf b = {0};
        double end = now_mono() + DEADLINE;
        for (;;) {
            struct pollfd pfd = {master, POLLIN, 0};
            if (now_mono() > end || poll(&pfd, 1, 100) < 0)
                break;
            if (!(pfd.revents & (POLLIN | POLLHUP)))
                continue;
            buf_reserve(&b, 4096);
            ssize_t n = read(master, b.p + b.len, 4096);
            if (n <= 0)
                break;  /* EIO: tend and its children have closed the terminal */
            b.len += (size_t)n;
        }
        buf_put(&b, "", 1);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        close(master);
        if (plain) {
            assert_contains(b.p, "a | one");
            assert_lacks(b.p, "\033[");
        } else {
            /* "a" padded to the width of "longname", in a colour, reset after */
            assert_contains(b.p, "a        |\033[0m one");
            assert_contains(b.p, "longname |\033[0m two");
            assert_contains(b.p, "\033[3");
        }
        free(b.p);
    }
    free(policy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_file_gets_both_streams_unprefixed_and_appended),
        cmocka_unit_test(test_stderr_file_and_console_copy),
        cmocka_unit_test(test_every_byte_reaches_the_file_even_right_before_exit),
        cmocka_unit_test(test_long_lines_split_at_64_kib_however_they_are_read),
        cmocka_unit_test(test_timestamps_in_output_files),
        cmocka_unit_test(test_rotation_keeps_n_files_under_max_size),
        cmocka_unit_test(test_sighup_reopens_after_an_outside_rotator),
        cmocka_unit_test(test_an_output_path_that_cannot_be_written_is_refused_at_load),
        cmocka_unit_test(test_log_format_json_gives_one_object_a_line),
        cmocka_unit_test(test_log_format_json_turns_proc_lines_into_objects),
        cmocka_unit_test(test_a_closed_stdout_is_said_once),
        cmocka_unit_test(test_prefixes_coloured_and_aligned_on_a_terminal),
        cmocka_unit_test(test_a_fifo_is_refused_as_an_output_file),
        cmocka_unit_test(test_a_file_past_rlimit_fsize_is_said_once_and_tend_carries_on),
        cmocka_unit_test(test_a_full_file_emptied_takes_lines_again_from_its_start),
        cmocka_unit_test(test_a_fatal_signal_gives_stdout_and_stderr_their_flags_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
