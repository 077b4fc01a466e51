/* test_statusview.c -- what `tend status` tells an operator (SPEC 1, 2),
 * through the real binary: the count of restarts, the table's words for
 * why a proc is where it is, its colours and its columns.
 *
 * Each test gets a fresh directory with its policy and its socket; every
 * process it starts carries TEND_TEST_TAG=<that directory> and is
 * SIGKILLed at teardown.  Waits are on answers and log lines, bounded by
 * DEADLINE; nothing sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TAG_VAR "TEND_TEST_TAG"
#define MAX_CLIENTS 32

struct fx {
    char *dir, *sock, *policy;
    struct tend_run *t;
    struct tend_run *clients[MAX_CLIENTS];
    size_t nclients;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tmpdir_new();
    if (!f->dir || asprintf(&f->sock, "%s/tend.sock", f->dir) < 0)
        return -1;
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
    procs_kill_tagged(TAG_VAR, f->dir, DEADLINE);
    unsetenv(TAG_VAR);
    unsetenv("TEND_SOCKET");
    tmpdir_free(f->dir);
    free(f->sock);
    free(f->policy);
    free(f);
    return 0;
}

static void dump(const struct tend_run *t)
{
    if (t)
        fprintf(stderr, "---- stdout:\n%s\n---- stderr:\n%s\n----\n", t->out, t->err);
}

static void policy(struct fx *f, const char *text)
{
    free(f->policy);
    f->policy = write_file(f->dir, "policy.lua", text);
}

#define expect_out(t, stream, needle)                                              \
    do {                                                                           \
        if (!tend_expect((t), (stream), (needle), DEADLINE)) {                     \
            dump(t);                                                               \
            fail_msg("%s:%d: not seen within %gs: \"%s\"", __FILE__, __LINE__,     \
                     DEADLINE, (needle));                                          \
        }                                                                          \
    } while (0)

/* Start tend on the policy and wait for `started`, a line of its log. */
static void run(struct fx *f, const char *started)
{
    f->t = tend_start((const char *[]){"run", f->policy, NULL});
    expect_out(f->t, 0, started);
}

/* A client command (NULL-terminated arguments) that must exit with `code`. */
static struct tend_run *cli_v(struct fx *f, int code, const char *const *args)
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
#define expect_cli(code, f, ...) cli_v((f), (code), (const char *[]){__VA_ARGS__, NULL})

/* The status of `name`, as `tend status --json NAME` prints it (the caller
 * frees). */
static json_t *status_of(struct fx *f, const char *name)
{
    struct tend_run *c = expect_cli(0, f, "status", "--json", name);
    json_t *j = json_loads(c->out, 0, NULL);
    if (!j)
        fail_msg("status --json printed no JSON:\n%s", c->out);
    json_t *st = json_incref(json_array_get(j, 0));
    json_decref(j);
    return st;
}

static json_int_t status_int(struct fx *f, const char *name, const char *key)
{
    json_t *st = status_of(f, name);
    json_int_t v = json_integer_value(json_object_get(st, key));
    json_decref(st);
    return v;
}

/* The row of `name` in `tend status` (a static copy, without its newline). */
static const char *table_row(struct fx *f, const char *name)
{
    static char row[1024];
    struct tend_run *c = expect_cli(0, f, "status");
    size_t n = strlen(name);
    for (const char *l = c->out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, name, n) == 0 && l[n] == ' ') {
            const char *e = strchr(l, '\n');
            snprintf(row, sizeof row, "%.*s", (int)(e ? e - l : (long)strlen(l)), l);
            return row;
        }
    fail_msg("no row for %s in:\n%s", name, c->out);
    return NULL;
}

/* ---- restarts ---- */

/* RESTARTS counts every incarnation after the first: an operator's
 * `tend restart` as well as the restart policy's. */
static void test_restarts_count_manual_and_policy_restarts(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'web', restart = 'always', cmd = {'sh', '-c',\n"
              "  'echo inc=$TEND_INCARNATION; exec sleep 1000'} }\n");
    run(f, "web | inc=1");
    assert_int_equal(status_int(f, "web", "restarts"), 0);
    expect_cli(0, f, "restart", "web");
    assert_int_equal(status_int(f, "web", "restarts"), 1);
    expect_cli(0, f, "kill", "web");  /* the policy restarts it */
    expect_out(f->t, 1, "web | inc=3");
    expect_cli(0, f, "wait", "web", "--ready");
    assert_int_equal(status_int(f, "web", "restarts"), 2);
    assert_int_equal(status_int(f, "web", "incarnation"), 3);
}

/* ---- why, as data ---- */

/* A stop that runs out of time says so: its cause, the time it gave, and
 * that SIGKILL followed. */
static void test_a_stop_that_times_out_records_its_timeout(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'stubborn', stop_timeout = 0.3, cmd = {'sh', '-c',\n"
              "  'trap \"\" TERM; echo armed; while :; do sleep 0.05; done'} }\n"
              "tend.proc { name = 'polite', stop_timeout = 5, cmd = {'sleep', '1000'} }\n");
    run(f, "stubborn | armed");
    expect_cli(0, f, "stop", "stubborn", "polite");
    json_t *st = status_of(f, "stubborn");
    assert_string_equal(json_string_value(json_object_get(st, "state")), "killed");
    assert_string_equal(json_string_value(json_object_get(st, "cause")), "stop");
    assert_true(json_is_true(json_object_get(st, "stop_timed_out")));
    assert_true(fabs(json_number_value(json_object_get(st, "stop_timeout")) - 0.3) < 0.01);
    json_decref(st);
    st = status_of(f, "polite");
    assert_string_equal(json_string_value(json_object_get(st, "cause")), "stop");
    assert_null(json_object_get(st, "stop_timed_out"));
    assert_true(fabs(json_number_value(json_object_get(st, "stop_timeout")) - 5) < 0.01);
    json_decref(st);
}

/* A failing health check shows how many times in a row, out of how many
 * allowed. */
static void test_health_failures_in_a_row_are_in_the_status(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'sick', cmd = {'sleep', '1000'},\n"
              "  health = { check = tend.ready.exec({'false'}), interval = 0.05,\n"
              "             failures = 1000 } }\n");
    run(f, "sick: health check failed (2 of 1000)");
    json_t *st = status_of(f, "sick");
    assert_string_equal(json_string_value(json_object_get(st, "health")), "unhealthy");
    assert_true(json_integer_value(json_object_get(st, "health_failures")) >= 2);
    assert_int_equal(json_integer_value(json_object_get(st, "health_failures_limit")), 1000);
    json_decref(st);
}

/* ---- the table ---- */

/* A stop is not shown like a crash: in words, and in the JSON's cause. */
static void test_a_stop_and_a_crash_read_differently(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'web', cmd = {'sleep', '1000'} }\n"
              "tend.proc { name = 'crash', restart = 'never', cmd = {'sh', '-c', 'exit 3'} }\n");
    run(f, "crash: exited with code 3");
    expect_cli(0, f, "stop", "web");
    assert_contains(table_row(f, "web"), "stopped ");  /* JSON: killed, signal TERM */
    assert_contains(table_row(f, "web"), "by tend stop, ");
    assert_lacks(table_row(f, "web"), "signal TERM");
    assert_contains(table_row(f, "crash"), "exit 3, ");
    json_t *st = status_of(f, "web");
    assert_string_equal(json_string_value(json_object_get(st, "cause")), "stop");
    json_decref(st);
    st = status_of(f, "crash");
    assert_string_equal(json_string_value(json_object_get(st, "cause")), "exit");
    json_decref(st);
}

/* A proc waiting on `after` says for what, and where that is now, also
 * when it is the only one asked for. */
static void test_a_waiting_proc_names_what_it_waits_for(void **state)
{
    struct fx *f = *state;
    char text[1024];
    snprintf(text, sizeof text,
             "tend.proc { name = 'db', cmd = {'sleep', '1000'},\n"
             "  ready = tend.ready.exec({'test', '-e', '%s/go'}) }\n"
             "tend.proc { name = 'web', after = {'db'}, cmd = {'sleep', '1000'} }\n",
             f->dir);
    policy(f, text);
    run(f, "db: started");
    assert_contains(table_row(f, "web"), "pending ");
    assert_contains(table_row(f, "web"), "waiting for db (running)");
    struct tend_run *c = expect_cli(0, f, "status", "web");
    assert_contains(c->out, "waiting for db (running)");
    assert_lacks(c->out, "\ndb ");  /* db was not asked for */
    json_t *st = status_of(f, "web");
    json_t *wf = json_object_get(st, "waiting_for");
    assert_int_equal(json_array_size(wf), 1);
    assert_string_equal(json_string_value(json_array_get(wf, 0)), "db ready");
    json_decref(st);
}

/* `tend status` on a terminal of `cols` columns: what it printed, without
 * the terminal's carriage returns (the caller frees). */
static char *status_on_a_terminal(unsigned short cols)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(slave >= 0);
    struct winsize ws = {.ws_row = 24, .ws_col = cols};
    assert_int_equal(ioctl(slave, TIOCSWINSZ, &ws), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(slave, 1);
        unsetenv("NO_COLOR");
        setenv("TERM", "xterm", 1);
        execl(tend_path(), "tend", "status", (char *)NULL);
        _exit(127);
    }
    close(slave);
    char buf[8192];
    size_t n = 0;
    for (;;) {  /* until the terminal's other end is closed (EIO) */
        struct pollfd pfd = {master, POLLIN, 0};
        if (poll(&pfd, 1, (int)(DEADLINE * 1000)) <= 0)
            fail_msg("tend status wrote nothing to the terminal within %gs", DEADLINE);
        ssize_t r = read(master, buf + n, sizeof buf - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(master);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    buf[n] = '\0';
    char *out = malloc(n + 1), *o = out;
    for (const char *p = buf; *p; p++)
        if (*p != '\r')
            *o++ = *p;
    *o = '\0';
    return out;
}

/* On a terminal the state is coloured, red only for what went wrong, and
 * the rows fit its width; into a pipe there is no colour. */
static void test_on_a_terminal_red_is_for_trouble_and_rows_fit(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'web', cmd = {'sleep', '1000'} }\n"
              "tend.proc { name = 'crash', restart = 'never', cmd = {'sh', '-c',\n"
              "  'echo a long line of output that ends up nowhere; exit 3'} }\n"
              "tend.proc { name = 'lazy', autostart = false, cmd = {'true'} }\n");
    run(f, "crash: exited with code 3");
    expect_cli(0, f, "stop", "web");
    char *out = status_on_a_terminal(40);
    const char *web = strstr(out, "\nweb "), *crash = strstr(out, "\ncrash ");
    if (!web || !crash)
        fail_msg("rows missing:\n%s", out);
    assert_non_null(strstr(crash, "\033[31mstopped\033[0m"));
    const char *web_end = strchr(web + 1, '\n');
    assert_true(memmem(web, (size_t)(web_end - web), "\033[31m", 5) == NULL);
    /* each line within 40 columns, escapes aside */
    for (const char *l = out; *l;) {
        const char *e = strchr(l, '\n');
        size_t cols = 0;
        for (const char *p = l; p < (e ? e : l + strlen(l)); p++) {
            if (*p == '\033') {
                while (*p && *p != 'm')
                    p++;
                continue;
            }
            cols += ((unsigned char)*p & 0xc0) != 0x80;
        }
        if (cols > 40)
            fail_msg("a line of %zu columns on a 40-column terminal:\n%s", cols, out);
        if (!e)
            break;
        l = e + 1;
    }
    free(out);
    struct tend_run *c = expect_cli(0, f, "status");
    assert_lacks(c->out, "\033[");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_restarts_count_manual_and_policy_restarts),
        T(test_a_stop_that_times_out_records_its_timeout),
        T(test_health_failures_in_a_row_are_in_the_status),
        T(test_a_stop_and_a_crash_read_differently),
        T(test_a_waiting_proc_names_what_it_waits_for),
        T(test_on_a_terminal_red_is_for_trouble_and_rows_fit),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
