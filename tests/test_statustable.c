/* test_statustable.c -- the `tend status` table from statuses as JSON,
 * without any process: the words for why, the colours, the columns and
 * their widths in display columns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/statustable.h"
#include "harness.h"

#define NOW 1000.0

/* The table of the statuses in `json` (an array), as text. */
static char *render(const char *json, bool colour, size_t width)
{
    json_error_t err;
    json_t *list = json_loads(json, 0, &err);
    if (!list)
        fail_msg("bad test JSON (%s): %s", err.text, json);
    struct statustable_opts o = {NOW, colour, width, NULL};
    struct buf out = {0};
    statustable_render(&out, list, &o);
    buf_put(&out, "", 1);
    json_decref(list);
    return out.p;
}

/* The row of `name` in `table` (a static copy, no newline). */
static const char *row(const char *table, const char *name)
{
    static char line[2048];
    size_t n = strlen(name);
    for (const char *l = table; *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        if (strncmp(l, name, n) == 0 && l[n] == ' ') {
            snprintf(line, sizeof line, "%.*s", (int)len, l);
            return line;
        }
        l += len + (e != NULL);
    }
    fail_msg("no row for %s in:\n%s", name, table);
    return NULL;
}

static void test_a_pending_proc_says_what_it_waits_for(void **state)
{
    char *t = render("[{\"name\": \"db\", \"state\": \"starting\", \"restarts\": 0, \"pid\": 7,"
                     "  \"since\": 999},"
                     " {\"name\": \"cache\", \"state\": \"pending\", \"restarts\": 0},"
                     " {\"name\": \"web\", \"state\": \"pending\", \"want\": \"up\", \"restarts\": 0,"
                     "  \"waiting_for\": [\"db ready\", \"cache ready\"]},"
                     " {\"name\": \"lazy\", \"state\": \"pending\", \"want\": \"down\", \"restarts\": 0},"
                     " {\"name\": \"api\", \"state\": \"pending\", \"want\": \"down\", \"restarts\": 0,"
                     "  \"cause\": \"after\", \"waiting_for\": [\"db ready (it exited with code 1)\"]}]",
                     false, 0);
    assert_contains(row(t, "web"), "pending  ");
    assert_contains(row(t, "web"), "waiting for db (starting), cache (pending)");
    assert_contains(row(t, "lazy"), "not started");
    assert_contains(row(t, "api"), "not started: needs db ready (it exited with code 1)");
    free(t);
}

static void test_a_stop_reads_as_a_stop_not_a_crash(void **state)
{
    char *t = render(
        "[{\"name\": \"web\", \"state\": \"killed\", \"signal\": \"TERM\", \"cause\": \"stop\","
        "  \"restarts\": 0, \"ended_at\": 995, \"stop_timeout\": 10},"
        " {\"name\": \"slow\", \"state\": \"killed\", \"signal\": \"KILL\", \"cause\": \"stop\","
        "  \"restarts\": 0, \"ended_at\": 995, \"stop_timeout\": 10, \"stop_timed_out\": true},"
        " {\"name\": \"crash\", \"state\": \"killed\", \"signal\": \"SEGV\", \"core_dumped\": true,"
        "  \"cause\": \"exit\", \"restarts\": 2, \"ended_at\": 998, \"restart_at\": 1001},"
        " {\"name\": \"done\", \"state\": \"stopped\", \"exit_code\": 0, \"cause\": \"exit\","
        "  \"restarts\": 0, \"ended_at\": 700},"
        " {\"name\": \"bad\", \"state\": \"stopped\", \"exit_code\": 3, \"cause\": \"exit\","
        "  \"restarts\": 4, \"ended_at\": 999, \"gave_up\": \"4 restarts within 10s\"}]",
        false, 0);
    assert_contains(row(t, "web"), "stopped  ");  /* not killed: it was asked to stop */
    assert_contains(row(t, "web"), "by tend stop, 5.0s ago");
    assert_contains(row(t, "slow"), "killed   ");   /* it had to be */
    assert_lacks(row(t, "web"), "signal");
    assert_contains(row(t, "slow"), "SIGKILL after stop_timeout 10s (by tend stop)");
    assert_contains(row(t, "crash"), "signal SEGV (core dumped), 2.0s ago; restart in 1.0s");
    assert_contains(row(t, "done"), "exit 0, 5m ago");
    assert_contains(row(t, "bad"), "exit 3, 1.0s ago; gave up: 4 restarts within 10s");
    free(t);
}

static void test_red_only_for_what_went_wrong(void **state)
{
    char *t = render(
        "[{\"name\": \"stopped\", \"state\": \"killed\", \"signal\": \"TERM\", \"cause\": \"stop\","
        "  \"restarts\": 0, \"ended_at\": 995},"
        " {\"name\": \"ok\", \"state\": \"stopped\", \"exit_code\": 0, \"cause\": \"exit\","
        "  \"restarts\": 0, \"ended_at\": 995},"
        " {\"name\": \"crash\", \"state\": \"stopped\", \"exit_code\": 1, \"cause\": \"exit\","
        "  \"restarts\": 0, \"ended_at\": 995},"
        " {\"name\": \"sick\", \"state\": \"killed\", \"signal\": \"TERM\", \"cause\": \"health\","
        "  \"restarts\": 0, \"ended_at\": 995},"
        " {\"name\": \"nope\", \"state\": \"failed\", \"reason\": \"exec /nope: No such file\","
        "  \"restarts\": 0},"
        " {\"name\": \"up\", \"state\": \"ready\", \"pid\": 9, \"started_at\": 900, \"restarts\": 0}]",
        true, 0);
    assert_lacks(row(t, "stopped"), "\033[31m");
    assert_lacks(row(t, "ok"), "\033[31m");
    assert_contains(row(t, "crash"), "\033[31mstopped\033[0m");
    assert_contains(row(t, "sick"), "\033[31mkilled\033[0m");
    assert_contains(row(t, "sick"), "health check failed (signal TERM)");
    assert_contains(row(t, "nope"), "\033[31mfailed\033[0m");
    assert_contains(row(t, "up"), "\033[32mready\033[0m");
    free(t);
    t = render("[{\"name\": \"crash\", \"state\": \"stopped\", \"exit_code\": 1, \"restarts\": 0}]",
               false, 0);
    assert_lacks(t, "\033[");
    free(t);
}

static void test_health_in_words(void **state)
{
    char *t = render(
        "[{\"name\": \"a\", \"state\": \"ready\", \"restarts\": 0, \"health\": \"unknown\"},"
        " {\"name\": \"b\", \"state\": \"ready\", \"restarts\": 0, \"health\": \"healthy\","
        "  \"status_text\": \"42 clients\"},"
        " {\"name\": \"c\", \"state\": \"ready\", \"restarts\": 0, \"health\": \"unhealthy\","
        "  \"health_failure\": \"exit code 1\", \"health_failures\": 2,"
        "  \"health_failures_limit\": 3},"
        " {\"name\": \"d\", \"state\": \"stopping\", \"restarts\": 0, \"cause\": \"restart\","
        "  \"deadline\": 1003}]",
        false, 0);
    assert_contains(row(t, "a"), "health: not checked yet");
    assert_lacks(row(t, "a"), "unknown");
    assert_contains(row(t, "b"), "healthy; 42 clients");
    assert_contains(row(t, "c"), "health: failing 2/3 (exit code 1)");
    assert_contains(row(t, "d"), "by tend restart; SIGKILL in 3.0s");
    free(t);
}

static void test_cpu_and_memory_columns(void **state)
{
    char *t = render(
        "[{\"name\": \"busy\", \"state\": \"ready\", \"pid\": 5, \"restarts\": 0,"
        "  \"started_at\": 996, \"cpu\": 2.0, \"memory\": 5242880},"
        " {\"name\": \"big\", \"state\": \"ready\", \"pid\": 6, \"restarts\": 0,"
        "  \"started_at\": 900, \"cpu\": 0, \"memory\": 3221225472},"
        " {\"name\": \"idle\", \"state\": \"ready\", \"pid\": 7, \"restarts\": 0,"
        "  \"started_at\": 900}]",
        false, 0);
    assert_contains(t, "NAME  STATE  PID  CPU%   MEM  UPTIME   RESTARTS  INFO\n");
    assert_contains(row(t, "busy"), "  50.0  5.0M  0:00:04");
    assert_contains(row(t, "big"), "   0.0  3.0G  0:01:40");
    assert_contains(row(t, "idle"), "     -     -  0:01:40");
    free(t);
}

static void test_widths_are_display_columns(void **state)
{
    assert_int_equal(statustable_text_width("abc"), 3);
    assert_int_equal(statustable_text_width("\xc3\xa9t\xc3\xa9"), 3);          /* été */
    assert_int_equal(statustable_text_width("e\xcc\x81"), 1);                  /* e + U+0301 */
    assert_int_equal(statustable_text_width("\xe5\x90\x8d\xe5\x89\x8d"), 4);   /* 名前 */
    assert_int_equal(statustable_text_width("\xf0\x9f\x98\x80"), 2);           /* emoji */
    assert_int_equal(statustable_text_width("\xff"), 1);
}

/* The display width of each line of `t`, escapes and all being plain. */
static void assert_lines_fit(const char *t, size_t width)
{
    char *copy = strdup(t);
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (statustable_text_width(l) > width)
            fail_msg("%zu columns, more than %zu: %s", statustable_text_width(l), width, l);
    free(copy);
}

static void test_the_table_fits_the_terminal(void **state)
{
    const char *json =
        "[{\"name\": \"web\", \"state\": \"ready\", \"pid\": 5, \"restarts\": 0, \"started_at\": 990,"
        "  \"status_text\": \"\xe5\x90\x8d\xe5\x89\x8d\xe5\x90\x8d\xe5\x89\x8d \xc3\xa9t\xc3\xa9"
        " serving 1234 requests a second on port 8080 with 16 workers\"},"
        " {\"name\": \"db\", \"state\": \"ready\", \"pid\": 6, \"restarts\": 0, \"started_at\": 990}]";
    char *wide = render(json, false, 0);
    assert_contains(wide, "with 16 workers\n");
    char *t = render(json, false, 60);
    assert_lines_fit(t, 60);
    assert_contains(row(t, "web"), "\xe5\x90\x8d\xe5\x89\x8d");
    assert_contains(row(t, "web"), "...");
    assert_lacks(t, "16 workers");
    assert_contains(row(t, "db"), "  -");  /* a short row is left alone */
    free(t);
    free(wide);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_pending_proc_says_what_it_waits_for),
        cmocka_unit_test(test_a_stop_reads_as_a_stop_not_a_crash),
        cmocka_unit_test(test_red_only_for_what_went_wrong),
        cmocka_unit_test(test_health_in_words),
        cmocka_unit_test(test_cpu_and_memory_columns),
        cmocka_unit_test(test_widths_are_display_columns),
        cmocka_unit_test(test_the_table_fits_the_terminal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
