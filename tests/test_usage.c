/* test_usage.c -- CPU and memory by process group (usage.c): the stat
 * line parser, a scan of a directory laid out like /proc, and the real
 * /proc for a child of our own. */
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
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "core/usage.h"

static void test_a_stat_line_with_an_awkward_name(void **state)
{
    /* comm holds spaces and a ')': the fields start after the last ')' */
    const char *line = "4242 (a) b (c) S 1 4240 4240 0 -1 4194304 10 0 0 0 250 50 100 0 "
                       "20 0 1 0 123 4096000 300 18446744073709551615";
    pid_t pg;
    double cpu;
    long long rss;
    assert_true(usage_parse_stat(line, &pg, &cpu, &rss));
    assert_int_equal(pg, 4240);
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    assert_float_equal(cpu, (250.0 + 50 + 100) / (double)hz, 1e-9);
    assert_int_equal(rss, 300LL * page);
    assert_false(usage_parse_stat("garbage", &pg, &cpu, &rss));
    assert_false(usage_parse_stat("1 (x) S 1", &pg, &cpu, &rss));
}

static void write_stat(const char *root, int pid, int pgrp, int utime, int pages)
{
    char path[4200], text[512];
    snprintf(path, sizeof path, "%s/%d", root, pid);
    mkdir(path, 0755);
    snprintf(text, sizeof text,
             "%d (w) S 1 %d %d 0 -1 0 0 0 0 0 %d 0 0 0 20 0 1 0 1 1 %d 0\n", pid, pgrp, pgrp,
             utime, pages);
    char name[32];
    snprintf(name, sizeof name, "%d/stat", pid);
    free(write_file(root, name, text));
}

static void test_a_scan_sums_each_group(void **state)
{
    char *root = tmpdir_new();
    write_stat(root, 10, 10, 100, 1);
    write_stat(root, 11, 10, 200, 2);
    write_stat(root, 20, 20, 5, 7);
    free(write_file(root, "self", "not a process\n"));
    struct usage_scan s;
    assert_int_equal(usage_scan(&s, root), 0);
    double cpu;
    long long rss;
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    assert_true(usage_of(&s, 10, &cpu, &rss));
    assert_float_equal(cpu, 300.0 / (double)hz, 1e-9);
    assert_int_equal(rss, 3LL * page);
    assert_true(usage_of(&s, 20, &cpu, &rss));
    assert_int_equal(rss, 7LL * page);
    assert_false(usage_of(&s, 30, &cpu, &rss));
    usage_free(&s);
    tmpdir_free(root);
}

/* VmRSS of a process in bytes, from /proc/PID/status. */
static long long vmrss(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *s = read_file(path);
    const char *p = s ? strstr(s, "VmRSS:") : NULL;
    long long kb = p ? atoll(p + 6) : -1;
    free(s);
    return kb * 1024;
}

static void test_a_busy_child_of_our_own(void **state)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        /* touch 32 MiB, say so, then burn CPU */
        size_t n = 32u << 20;
        char *m = malloc(n);
        memset(m, 1, n);
        __asm__ volatile("" : : "r"(m) : "memory");  /* kept: not optimised away */
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        for (volatile unsigned long i = 0;; i++)
            m[i % n]++;
    }
    setpgid(pid, pid);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    struct usage_scan s;
    double cpu0, cpu1;
    long long rss;
    assert_int_equal(usage_scan(&s, NULL), 0);
    assert_true(usage_of(&s, pid, &cpu0, &rss));
    usage_free(&s);
    long long want = vmrss(pid);
    if (!(rss > want * 9 / 10 && rss < want * 11 / 10)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("memory %lld, VmRSS %lld", rss, want);
    }
    if (rss < 32LL << 20) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("memory %lld < 32 MiB", rss);
    }
    /* it burns CPU: a later scan sees more (read until it does, within the
     * deadline: the scheduler decides when) */
    bool grew = false;
    for (int i = 0; i < 100000 && !grew; i++) {
        assert_int_equal(usage_scan(&s, NULL), 0);
        assert_true(usage_of(&s, pid, &cpu1, &rss));
        usage_free(&s);
        grew = cpu1 > cpu0;
    }
    kill(pid, SIGKILL);
    assert_true(grew);
    waitpid(pid, NULL, 0);
    close(ready[0]);
    close(ready[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_stat_line_with_an_awkward_name),
        cmocka_unit_test(test_a_scan_sums_each_group),
        cmocka_unit_test(test_a_busy_child_of_our_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
