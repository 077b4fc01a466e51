/* test_metrics.c -- `tend metrics` and `tend run --metrics` (SPEC 10)
 * through the real binary, and the exposition format checked by a small
 * parser of its own: every line a HELP, a TYPE or a sample of a family
 * declared before it, and the samples the SPEC promises for each proc.
 *
 * Every wait is on an answer or a line of tend's log, bounded by DEADLINE. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "control/metrics.h"
#include "harness.h"

#define TAG_VAR "TEND_TEST_TAG"

struct fx {
    char *dir, *sock;
    struct tend_run *t;
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
    tend_free(f->t);
    procs_kill_tagged(TAG_VAR, f->dir, DEADLINE);
    unsetenv(TAG_VAR);
    unsetenv("TEND_SOCKET");
    tmpdir_free(f->dir);
    free(f->sock);
    free(f);
    return 0;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Start tend on a policy of three procs: two that stay up (one ready at
 * once), one that exits 3 and is not restarted; wait until all three
 * are where they stay.  `extra`: more arguments to `tend run` (NULL). */
static void start(struct fx *f, const char *extra)
{
    char *policy = write_file(f->dir, "policy.lua",
        "tend.proc { name = 'web', cmd = { 'sleep', '1000' } }\n"
        "tend.proc { name = 'db', cmd = { 'sleep', '1000' } }\n"
        "tend.proc { name = 'job', cmd = { 'sh', '-c', 'exit 3' }, restart = 'never' }\n");
    const char *args[] = {"run", policy, "--stay", extra, extra ? "0" : NULL, NULL};
    f->t = tend_start(args);
    free(policy);
    assert_true(tend_expect(f->t, 2, "job: exited with code 3", DEADLINE));
    assert_true(tend_expect(f->t, 2, "db: started", DEADLINE));
    assert_true(tend_expect(f->t, 2, "web: started", DEADLINE));
}

/* The port tend said it serves metrics on, from its log. */
static int logged_port(struct fx *f)
{
    assert_true(tend_expect(f->t, 2, "/metrics\n", DEADLINE));
    const char *p = strstr(f->t->err, "metrics: http://127.0.0.1:");
    assert_non_null(p);
    return atoi(p + strlen("metrics: http://127.0.0.1:"));
}

/* A connection to 127.0.0.1:port, or -1. */
static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* `request` sent on a new connection; the whole answer (the server closes
 * the connection: HTTP/1.0), within DEADLINE. */
static char *http(int port, const char *request)
{
    int fd = connect_to(port);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    struct buf b = {0};
    double end = mono() + DEADLINE;
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        double left = end - mono();
        assert_true(left > 0);
        if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        buf_reserve(&b, 65536);
        ssize_t n = read(fd, b.p + b.len, 65536);
        if (n <= 0)
            break;
        b.len += (size_t)n;
    }
    close(fd);
    buf_put(&b, "", 1);
    return b.p;
}

/* ---- a parser of the text format, for the checks ---- */

struct family {
    char name[64], type[16];
};

/* Check every line of `text`: a HELP and a TYPE before each family's
 * samples, samples as NAME{LABELS} VALUE with a value that parses.
 * Returns the number of sample lines; fails the test on a bad line. */
static int check_format(const char *text)
{
    regex_t sample, help, type;
    assert_int_equal(regcomp(&sample,
                             "^([a-z_]+)(\\{([a-z_]+=\"[^\"\\\\]*\")(,[a-z_]+=\"[^\"\\\\]*\")*\\})? "
                             "([-+0-9.eE]+|NaN|\\+Inf|-Inf)$",
                             REG_EXTENDED), 0);
    assert_int_equal(regcomp(&help, "^# HELP ([a-z_]+) .+$", REG_EXTENDED), 0);
    assert_int_equal(regcomp(&type, "^# TYPE ([a-z_]+) (gauge|counter)$", REG_EXTENDED), 0);
    char current[64] = "";
    int samples = 0;
    char *copy = xstrdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[6];
        if (regexec(&help, line, 2, m, 0) == 0)
            continue;
        if (regexec(&type, line, 2, m, 0) == 0) {
            snprintf(current, sizeof current, "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
                     line + m[1].rm_so);
            continue;
        }
        if (regexec(&sample, line, 6, m, 0) != 0)
            fail_msg("not a line of the text format: '%s'", line);
        if (strncmp(line, current, strlen(current)) != 0 || !current[0])
            fail_msg("a sample outside its family (%s): '%s'", current, line);
        samples++;
    }
    free(copy);
    regfree(&sample);
    regfree(&help);
    regfree(&type);
    return samples;
}

/* The value of the sample that starts with `prefix` ("tend_proc_up{proc=\"web\"}");
 * NAN when there is none. */
static double value_of(const char *text, const char *prefix)
{
    for (const char *p = text; (p = strstr(p, prefix)); p++)
        if ((p == text || p[-1] == '\n') && p[strlen(prefix)] == ' ')
            return strtod(p + strlen(prefix) + 1, NULL);
    return NAN;
}

/* What the SPEC promises for the three procs of start(). */
static void check_procs(const char *text)
{
    check_format(text);
    static const char *const procs[] = {"web", "db", "job"};
    static const char *const states[] = {"pending", "starting", "running", "ready",
                                         "stopping", "stopped", "killed", "failed"};
    char key[128];
    for (int i = 0; i < 3; i++) {
        int ones = 0;
        for (int s = 0; s < 8; s++) {
            snprintf(key, sizeof key, "tend_proc_state{proc=\"%s\",state=\"%s\"}", procs[i],
                     states[s]);
            double v = value_of(text, key);
            if (isnan(v))
                fail_msg("no sample %s in:\n%s", key, text);
            ones += v == 1;
        }
        assert_int_equal(ones, 1);  /* one state at a time */
        snprintf(key, sizeof key, "tend_proc_incarnation{proc=\"%s\"}", procs[i]);
        assert_true(value_of(text, key) == 1);
        snprintf(key, sizeof key, "tend_proc_restarts_total{proc=\"%s\"}", procs[i]);
        assert_true(value_of(text, key) == 0);
        snprintf(key, sizeof key, "tend_proc_start_time_seconds{proc=\"%s\"}", procs[i]);
        assert_true(value_of(text, key) > 1.5e9);
    }
    assert_true(value_of(text, "tend_proc_state{proc=\"job\",state=\"stopped\"}") == 1);
    assert_true(value_of(text, "tend_proc_last_exit_code{proc=\"job\"}") == 3);
    assert_true(isnan(value_of(text, "tend_proc_last_exit_code{proc=\"web\"}")));
    assert_true(value_of(text, "tend_proc_up{proc=\"web\"}") == 1);
    assert_true(value_of(text, "tend_proc_up{proc=\"job\"}") == 0);
    /* a running sleep has a resident size; the ended job has no figures */
    assert_true(value_of(text, "tend_proc_resident_memory_bytes{proc=\"db\"}") > 0);
    assert_true(value_of(text, "tend_proc_cpu_seconds_total{proc=\"db\"}") >= 0);
    assert_true(isnan(value_of(text, "tend_proc_cpu_seconds_total{proc=\"job\"}")));
    /* tend's own */
    assert_true(value_of(text, "process_open_fds") > 3);
    assert_true(value_of(text, "process_resident_memory_bytes") > 0);
    assert_true(value_of(text, "process_start_time_seconds") > 1.5e9);
    assert_false(isnan(value_of(text, "tend_cgroups")));
}

/* ---- tests ---- */

static void test_label_values_are_escaped(void **state)
{
    struct buf b = {0};
    metrics_label_value(&b, "a\\b\"c\nd");
    buf_put(&b, "", 1);
    assert_string_equal(b.p, "a\\\\b\\\"c\\nd");
    free(b.p);
}

static void test_metrics_command_prints_the_text_format(void **state)
{
    struct fx *f = *state;
    start(f, NULL);
    struct tend_run *c = tend_run_sync((const char *[]){"metrics", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    check_procs(c->out);
    tend_free(c);
    /* no names: it is about every proc */
    c = tend_run_sync((const char *[]){"metrics", "web", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 2);
    assert_contains(c->err, "takes no proc names");
    tend_free(c);
}

static void test_http_endpoint_serves_metrics_and_status(void **state)
{
    struct fx *f = *state;
    start(f, "--metrics");
    int port = logged_port(f);
    char *r = http(port, "GET /metrics HTTP/1.0\r\n\r\n");
    assert_contains(r, " 200 ");
    assert_contains(r, "Content-Type: text/plain; version=0.0.4");
    char *body = strstr(r, "\r\n\r\n");
    assert_non_null(body);
    check_procs(body + 4);
    free(r);

    r = http(port, "GET /status HTTP/1.0\r\n\r\n");
    assert_contains(r, "application/json");
    assert_contains(r, "\"name\":\"job\"");
    assert_contains(r, "\"exit_code\":3");
    free(r);

    r = http(port, "GET /nothing HTTP/1.0\r\n\r\n");
    assert_contains(r, " 404 ");
    free(r);
    r = http(port, "DELETE /metrics HTTP/1.0\r\n\r\n");
    assert_contains(r, " 405 ");
    free(r);
}

/* Clients that connect and send nothing, or half a request, hold a
 * connection each (up to the cap) but never the loop: the control socket
 * and a well-formed scrape are answered all the while. */
static void test_silent_http_clients_do_not_stall_tend(void **state)
{
    struct fx *f = *state;
    start(f, "--metrics");
    int port = logged_port(f);
    int fds[40];
    for (int i = 0; i < 40; i++) {
        fds[i] = connect_to(port);
        assert_true(fds[i] >= 0);
        if (i % 2)
            assert_int_equal(write(fds[i], "GET /met", 8), 8);
    }
    struct tend_run *c = tend_run_sync((const char *[]){"status", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    assert_contains(c->out, "web");
    tend_free(c);
    char *r = http(port, "GET /metrics HTTP/1.0\r\n\r\n");
    assert_contains(r, " 200 ");
    free(r);
    for (int i = 0; i < 40; i++)
        close(fds[i]);
}

/* A number field of proc `name`'s status in `tend status --json`; NAN
 * when absent. */
static double status_number(const char *name, const char *key)
{
    struct tend_run *c = tend_run_sync((const char *[]){"status", "--json", name, NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    json_error_t e;
    json_t *a = json_loads(c->out, 0, &e);
    assert_non_null(a);
    json_t *v = json_object_get(json_array_get(a, 0), key);
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    json_decref(a);
    tend_free(c);
    return d;
}

/* The VmRSS (bytes) of every process of process group `pgid`, from /proc:
 * what a status's memory sums (here a shell and its sleep). */
static double vm_rss(pid_t pgid)
{
    double sum = 0;
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        char *stat = e->d_name[0] >= '1' && e->d_name[0] <= '9' ? read_file(path) : NULL;
        const char *close = stat ? strrchr(stat, ')') : NULL;
        int pg = 0;
        if (close && sscanf(close + 2, "%*c %*d %d", &pg) == 1 && pg == pgid) {
            snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
            char *text = read_file(path);
            const char *p = text ? strstr(text, "VmRSS:") : NULL;
            if (p)
                sum += strtod(p + 6, NULL) * 1024;
            free(text);
        }
        free(stat);
    }
    closedir(d);
    return sum;
}

/* The status of a live incarnation carries cpu and memory (SPEC 10): the
 * CPU seconds of a busy loop grow, the memory of a sleeping one is its
 * resident size; an ended incarnation has neither. */
static void test_status_has_cpu_and_memory_of_live_procs(void **state)
{
    struct fx *f = *state;
    char *policy = write_file(f->dir, "policy.lua",
        "tend.proc { name = 'busy', cmd = { 'sh', '-c', 'while :; do :; done' } }\n"
        "tend.proc { name = 'calm', cmd = { 'sh', '-c',\n"
        "  'x=$(head -c 16000000 /dev/zero | tr \"\\\\0\" a); echo held; sleep 1000' } }\n"
        "tend.proc { name = 'gone', cmd = { 'true' }, restart = 'never' }\n");
    f->t = tend_start((const char *[]){"run", policy, NULL});
    free(policy);
    assert_true(tend_expect(f->t, 2, "gone: exited with code 0", DEADLINE));
    assert_true(tend_expect(f->t, 1, "calm | held", DEADLINE));
    double first = status_number("busy", "cpu");
    assert_false(isnan(first));
    /* wait (with a deadline) until the loop has used 0.2 s more CPU */
    double end = mono() + DEADLINE, now_cpu = first;
    while (now_cpu < first + 0.2 && mono() < end)
        now_cpu = status_number("busy", "cpu");
    assert_true(now_cpu >= first + 0.2);
    /* a program just started still faults its pages in: compare once its
     * resident size holds still between two looks */
    pid_t pid = (pid_t)status_number("calm", "pid");
    double mem = 0, rss = 0, before = -1;
    end = mono() + DEADLINE;
    do {
        before = rss;
        rss = vm_rss(pid);
        mem = status_number("calm", "memory");
    } while ((rss != before || rss != vm_rss(pid)) && mono() < end);
    if (fabs(mem - rss) > rss * 0.1)
        fail_msg("memory %.0f, VmRSS %.0f", mem, rss);
    assert_true(isnan(status_number("gone", "cpu")));
    assert_true(isnan(status_number("gone", "memory")));
}

/* With cgroups, a proc's cpu is its cgroup's: a busy grandchild that left
 * the process group (setsid) still counts. */
static void test_cpu_of_a_cgroup_counts_what_left_the_group(void **state)
{
    struct fx *f = *state;
    char *policy = write_file(f->dir, "policy.lua",
        "tend.proc { name = 'd', cmd = { 'sh', '-c',\n"
        "  'setsid sh -c \"while :; do :; done\" & exec sleep 300' } }\n");
    f->t = tend_start((const char *[]){"run", policy, NULL});
    free(policy);
    assert_true(tend_expect(f->t, 2, "d: started", DEADLINE));
    struct tend_run *c = tend_run_sync((const char *[]){"status", "--json", "d", NULL}, DEADLINE);
    bool cgroups = strstr(c->out, "\"cgroup\"") != NULL;
    tend_free(c);
    if (!cgroups) {
        print_message("no cgroups here: %s\n", f->t->err);
        skip();
    }
    double end = mono() + DEADLINE, cpu = 0;
    while (cpu < 0.3 && mono() < end)
        cpu = status_number("d", "cpu");
    assert_true(cpu >= 0.3);
}

static void test_bad_metrics_address_is_refused(void **state)
{
    struct fx *f = *state;
    char *policy = write_file(f->dir, "policy.lua", "tend.proc { name = 'a', cmd = { 'true' } }\n");
    static const char *const bad[][2] = {
        {"99999", "a port from 0 to 65535 expected"},
        {"web:80", "'web' is not a numeric IPv4 or IPv6 address"},
        {"[::1:80", "[ADDR]:PORT expected"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct tend_run *t =
            tend_run_sync((const char *[]){"run", policy, "--metrics", bad[i][0], NULL}, DEADLINE);
        assert_int_equal(run_exit_code(t), 2);
        assert_contains(t->err, bad[i][1]);
        assert_contains(t->err, bad[i][0]);
        tend_free(t);
    }
    free(policy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test_setup_teardown(test_metrics_command_prints_the_text_format, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_endpoint_serves_metrics_and_status, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_silent_http_clients_do_not_stall_tend, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_status_has_cpu_and_memory_of_live_procs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cpu_of_a_cgroup_counts_what_left_the_group, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_metrics_address_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
