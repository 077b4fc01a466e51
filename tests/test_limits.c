/* test_limits.c -- `limits = { ... }` (SPEC 10): sizes as tend reads them,
 * every rlimit in the child (read back from its /proc/self/limits), a
 * limit the kernel refuses failing the incarnation with its name, cgroup
 * limits applied where the controller is and said not to be where it is
 * not, bad values refused at load with the field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "harness.h"

static char *dir;

static int setup(void **state)
{
    dir = tmpdir_with_socket();
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    unsetenv("TEND_CGROUPS");
    tmpdir_with_socket_free(dir);
    return 0;
}

static void test_sizes(void **state)
{
    long long v;
    assert_int_equal(parse_size("4096", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(parse_size("512M", &v), 0);
    assert_int_equal(v, 512LL << 20);
    assert_int_equal(parse_size("1.5G", &v), 0);
    assert_int_equal(v, 3LL << 29);
    assert_int_equal(parse_size("64k", &v), 0);
    assert_int_equal(v, 64 << 10);
    assert_int_equal(parse_size("2GiB", &v), 0);
    assert_int_equal(v, 2LL << 30);
    assert_int_equal(parse_size("1TB", &v), 0);
    assert_int_equal(v, 1LL << 40);
    static const char *const bad[] = {"", "M", "5X", "-1", "1 M", " 1", "1MM", "nan", "1e30"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        if (parse_size(bad[i], &v) == 0)
            fail_msg("'%s' read as a size (%lld)", bad[i], v);
}

/* The line of /proc/PID/limits for `what` ("Max open files"), from a
 * child's output, as "SOFT HARD". */
static void assert_limit(const char *out, const char *what, const char *soft_hard)
{
    const char *l = strstr(out, what);
    if (!l)
        fail_msg("no '%s' in:\n%s", what, out);
    l += strlen(what);
    char soft[32], hard[32], want[80];
    assert_int_equal(sscanf(l, "%31s %31s", soft, hard), 2);
    snprintf(want, sizeof want, "%s %s", soft, hard);
    if (strcmp(want, soft_hard) != 0)
        fail_msg("%s: %s, not %s", what, want, soft_hard);
}

static void test_every_rlimit_reaches_the_child(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'l', restart = 'never', cmd = { 'cat', '/proc/self/limits' },\n"
        "  limits = { nofile = 256, core = 0, stack = '4M', nproc = 500, cputime = 60,\n"
        "             memlock = '64K' } }\n");
    struct tend_run *t = tend_run_sync((const char *[]){"run", policy, NULL}, DEADLINE);
    assert_int_equal(run_exit_code(t), 0);
    assert_limit(t->out, "Max open files", "256 256");
    assert_limit(t->out, "Max core file size", "0 0");
    assert_limit(t->out, "Max stack size", "4194304 4194304");
    assert_limit(t->out, "Max processes", "500 500");
    assert_limit(t->out, "Max cpu time", "60 60");
    assert_limit(t->out, "Max locked memory", "65536 65536");
    tend_free(t);
    free(policy);
}

static void test_a_refused_rlimit_fails_the_incarnation_naming_it(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'big', restart = 'never', cmd = { 'true' },\n"
        "  limits = { nofile = 1 << 40 } }\n");
    struct tend_run *t = tend_run_sync((const char *[]){"run", policy, NULL}, DEADLINE);
    assert_int_equal(run_exit_code(t), 1);
    assert_contains(t->err, "big: failed: limits.nofile: setrlimit: ");
    tend_free(t);
    free(policy);
}

/* memory and pids are cgroup limits: applied where tend's cgroup has the
 * controller (checked in the incarnation's files), said not applied, once,
 * where it has not (this machine's kind: the memory controller is on v1). */
static void test_cgroup_limits_applied_or_said_not_to_be(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'm', cmd = { 'sh', '-c', 'cat /proc/self/cgroup; exec sleep 300' },\n"
        "  limits = { memory = '64M', pids = 40 } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "m: started", DEADLINE));
    assert_true(tend_expect(t, 1, "m | 0::", DEADLINE));
    if (strstr(t->err, "limits.memory not applied")) {
        /* no memory controller (or no cgroups): the reason is given */
        assert_true(strstr(t->err, "the memory controller is not available") ||
                    strstr(t->err, "needs cgroups"));
        print_message("memory controller not available here: %s",
                      strstr(t->err, "limits.memory"));
    } else {
        const char *cg = strstr(t->out, "m | 0::") + strlen("m | 0::");
        char path[512], line[256];
        snprintf(path, sizeof path, "/sys/fs/cgroup/unified%.*s/memory.max",
                 (int)strcspn(cg, "\n"), cg);
        FILE *f = fopen(path, "r");
        if (!f) {
            snprintf(path, sizeof path, "/sys/fs/cgroup%.*s/memory.max",
                     (int)strcspn(cg, "\n"), cg);
            f = fopen(path, "r");
        }
        assert_non_null(f);
        assert_non_null(fgets(line, sizeof line, f));
        fclose(f);
        assert_string_equal(line, "67108864\n");
    }
    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);

    setenv("TEND_CGROUPS", "0", 1);
    t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "m: limits.memory not applied: needs cgroups (turned off by "
                                  "TEND_CGROUPS=0); limits.pids not applied", DEADLINE));
    unsetenv("TEND_CGROUPS");
    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    assert_int_equal(count_of(t->err, "not applied"), 2);  /* one line, two limits */
    tend_free(t);
    free(policy);
}

/* `user`: the child runs with the user's uid, gid and groups (the real,
 * effective and saved ids alike), and HOME from its entry. */
static void test_a_user_s_ids_reach_the_child(void **state)
{
    struct passwd *pw = getpwnam("nobody");
    if (!pw || geteuid() != 0)
        skip();  /* no user 'nobody', or not root: no switch to make */
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'who', user = 'nobody', restart = 'never',\n"
        "  cmd = { 'sh', '-c', 'echo ids $(id -ru) $(id -u) $(id -rg) $(id -g) groups $(id -G) "
        "home $HOME; grep -E \"^(Uid|Gid)\" /proc/self/status | tr -s \"\\t\" \" \"' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    char want[256];
    snprintf(want, sizeof want, "who | ids %u %u %u %u groups ", (unsigned)pw->pw_uid,
             (unsigned)pw->pw_uid, (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
    assert_contains(t->out, want);
    snprintf(want, sizeof want, "home %s\n", pw->pw_dir);
    assert_contains(t->out, want);
    snprintf(want, sizeof want, "who | Uid: %u %u %u %u\n", (unsigned)pw->pw_uid,
             (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
    assert_contains(t->out, want);
    snprintf(want, sizeof want, "who | Gid: %u %u %u %u\n", (unsigned)pw->pw_gid,
             (unsigned)pw->pw_gid, (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
    assert_contains(t->out, want);
    assert_null(strstr(t->out, "groups 0"));  /* root's group is not kept */
    tend_free(t);
    free(policy);
}

/* A real OOM kill ends the incarnation with cause "oom" (SPEC 1): a child
 * that makes a string of 256 MiB under a 32 MiB memory.max.  Where the memory controller is not on cgroup v2 (this
 * machine's kind: the hybrid layout has it on v1) tend says the limit is
 * not applied, and the test is skipped with that reason. */
static void test_an_oom_kill_ends_with_cause_oom(void **state)
{
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'hog', cmd = { 'perl', '-e', '$x = \"x\" x (256 << 20); sleep' },\n"
        "  restart = 'never', limits = { memory = '32M' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", policy, NULL});
    assert_true(tend_expect(t, 2, "hog: started", DEADLINE));
    if (strstr(t->err, "limits.memory not applied")) {
        print_message("skipped: %s", strstr(t->err, "limits.memory"));
        kill(t->pid, SIGTERM);
        tend_wait(t, DEADLINE);
        tend_free(t);
        free(policy);
        skip();
    }
    assert_true(tend_expect(t, 2, "hog: killed by signal KILL (cause: oom)", DEADLINE));
    assert_int_equal(tend_wait(t, DEADLINE), 1);  /* nothing left to run, one failed */
    tend_free(t);
    free(policy);
}

static void test_bad_limits_are_load_errors_with_the_field(void **state)
{
    static const char *const bad[][2] = {
        {"{ nofil = 3 }", "field 'limits.nofil': unknown field (did you mean 'nofile'?)"},
        {"{ memory = '5X' }", "field 'limits.memory': '5X' is not a size"},
        {"{ memory = 100 }", "field 'limits.memory': at least 4096 bytes expected"},
        {"{ nofile = -1 }", "field 'limits.nofile': a whole number >= 0 or \"unlimited\""},
        {"{ pids = 0 }", "field 'limits.pids': a whole number >= 1 expected"},
        {"{ cpu = 0 }", "field 'limits.cpu'"},
        {"{ core = {} }", "field 'limits.core': a size"},
        {"5", "field 'limits': a table"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        char text[256];
        snprintf(text, sizeof text, "tend.proc { name = 'x', cmd = { 'true' }, limits = %s }\n",
                 bad[i][0]);
        char *policy = write_file(dir, "p.lua", text);
        struct tend_run *t = tend_run_sync((const char *[]){"run", "--check", policy, NULL},
                                           DEADLINE);
        assert_int_equal(run_exit_code(t), 2);
        assert_contains(t->err, "p.lua:1: proc 'x': ");
        assert_contains(t->err, bad[i][1]);
        tend_free(t);
        free(policy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test_setup_teardown(test_every_rlimit_reaches_the_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_refused_rlimit_fails_the_incarnation_naming_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cgroup_limits_applied_or_said_not_to_be, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_user_s_ids_reach_the_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_oom_kill_ends_with_cause_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_limits_are_load_errors_with_the_field, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
