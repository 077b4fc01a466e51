/* test_ready.c -- readiness and health (SPEC 4) with real programs: each
 * form of readiness, ready_timeout, watchdog, health failures and
 * recovery, STOPPING=1, refused notifications, and `after` waiting on each
 * kind.  Policies run in-process; each reports success with tend.exit(42). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "core/manager.h"
#include "base/output.h"
#include "policy/policy.h"

#define OK 42

static struct ev_loop *loop;
static char *dir;

/* Load and run `text` as a policy until tend would exit; its exit code. */
static int run_policy(const char *text)
{
    char *err = NULL;
    int code = policy_run_text(loop, dir, text, &err);
    if (code < 0)
        fail_msg("policy did not load: %s", err);
    return code;
}

/* A free TCP port on 127.0.0.1 (free now; the test binds it later). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static int setup(void **state)
{
    dir = tmpdir_new();
    const char *h = getenv("TEND_HELPERS");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/helper-notify", h && *h ? h : "build/tests");
    setenv("NOTIFIER", buf, 1);
    snprintf(buf, sizeof buf, "%s/helper-listen", h && *h ? h : "build/tests");
    setenv("LISTENER", buf, 1);
    snprintf(buf, sizeof buf, "%d", (int)getpid());
    setenv("TEND_PID", buf, 1);
    setenv("DIR", dir, 1);
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    tmpdir_free(dir);
    return 0;
}

static void test_fd_readiness(void **state)
{
    assert_int_equal(run_policy(
        "local p = tend.proc { name = 'p', cmd = { 'sh', '-c',\n"
        "  'echo up; sleep 0.2; echo >&3; exec sleep 30' }, ready = tend.ready.fd(3),\n"
        "  output = 'discard' }\n"
        "tend.task(function()\n"
        "  assert(p:status().state ~= 'ready')\n"
        "  assert(p:ready() == true)\n"
        "  local st = p:status()\n"
        "  assert(st.ready_at - st.started_at >= 0.15, 'ready only after the newline')\n"
        "  assert(p:tail('stdout') == 'up\\n', 'the child still has its stdout')\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_notify_ready_status_and_abstract_socket(void **state)
{
    assert_int_equal(run_policy(
        "local n = os.getenv('NOTIFIER')\n"
        "local p = tend.proc { name = 'p', cmd = { 'sh', '-c',\n"
        "  'case $NOTIFY_SOCKET in @*) ;; *) exit 9;; esac; sleep 0.1;'\n"
        "  .. ' exec \"$0\" \"STATUS=warming up\" \"STATUS=serving\\\\nREADY=1\" -- sleep 30', n },\n"
        "  ready = tend.ready.notify() }\n"
        "tend.task(function()\n"
        "  assert(p:ready() == true, 'ready')\n"
        "  local st = p:status()\n"
        "  assert(st.status_text == 'serving', tostring(st.status_text))\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_notify_from_an_unrelated_process_is_refused(void **state)
{
    assert_int_equal(run_policy(
        "local n = os.getenv('NOTIFIER')\n"
        "local p = tend.proc { name = 'svc', cmd = { 'sleep', '30' },\n"
        "  ready = tend.ready.notify() }\n"
        "tend.task(function()\n"
        "  local addr = '@tend/' .. os.getenv('TEND_PID') .. '/svc'\n"
        "  local code = tend.exec({ n, '--to', addr, 'READY=1' })\n"
        "  assert(code == 0, 'sent')\n"
        "  tend.sleep(0.2)\n"
        "  assert(p:status().state == 'running', p:status().state)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_tcp_port_that_opens_after_a_delay(void **state)
{
    char policy[2048];
    int port = free_port();
    snprintf(policy, sizeof policy,
             "local p = tend.proc { name = 'p', cmd = { 'sh', '-c',\n"
             "  'sleep 0.3; exec \"$0\" %d', os.getenv('LISTENER') },\n"
             "  ready = tend.ready.tcp(%d), ready_interval = 0.05 }\n"
             "tend.task(function()\n"
             "  assert(p:ready() == true)\n"
             "  local st = p:status()\n"
             "  assert(st.ready_at - st.started_at >= 0.25, 'not before the port opened')\n"
             "  tend.exit(42)\n"
             "end)\n", port, port);
    assert_int_equal(run_policy(policy), OK);
}

/* A host name is looked up at each attempt, off the loop: "localhost"
 * reaches the listener once it is up; a name that does not resolve fails
 * each health check with the lookup's error, and the loop keeps serving
 * (the task runs on while the lookups are out). */
static void test_tcp_to_a_host_name(void **state)
{
    /* where DNS does not answer, the resolver gives up in a second or two */
    setenv("RES_OPTIONS", "timeout:1 attempts:1", 1);
    char policy[2048];
    int port = free_port();
    snprintf(policy, sizeof policy,
             "local p = tend.proc { name = 'p', cmd = { 'sh', '-c',\n"
             "  'sleep 0.3; exec \"$0\" %d', os.getenv('LISTENER') },\n"
             "  ready = tend.ready.tcp(%d, 'localhost'), ready_interval = 0.05 }\n"
             "local q = tend.proc { name = 'q', cmd = { 'sleep', '30' },\n"
             "  health = { check = tend.ready.tcp(1, 'no-such-host.invalid'), interval = 0.05,\n"
             "             timeout = 8, failures = 1 } }\n"
             "tend.task(function()\n"
             "  assert(p:ready() == true)\n"
             "  local st = p:status()\n"
             "  assert(st.ready_at - st.started_at >= 0.25, 'not before the port opened')\n"
             "  for st in q:watch() do\n"
             "    if st.health == 'unhealthy' then break end\n"
             "  end\n"
             "  local why = q:status().health_failure or ''\n"
             "  assert(why:find('resolve no-such-host.invalid: ', 1, true), why)\n"
             "  tend.exit(42)\n"
             "end)\n", port, port);
    assert_int_equal(run_policy(policy), OK);
}

/* A check that does not answer in time fails with its timeout in the
 * reason. */
static void test_a_check_without_an_answer_says_how_long_it_waited(void **state)
{
    assert_int_equal(run_policy(
        "local p = tend.proc { name = 'p', cmd = { 'sleep', '30' },\n"
        "  health = { check = tend.ready.exec({ 'sleep', '30' }), interval = 0.05,\n"
        "             timeout = 0.25, failures = 1 } }\n"
        "tend.task(function()\n"
        "  for st in p:watch() do\n"
        "    if st.health == 'unhealthy' then break end\n"
        "  end\n"
        "  local why = p:status().health_failure or ''\n"
        "  assert(why == 'exec sleep: no answer within 0.25s', why)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_log_pattern_split_across_two_reads(void **state)
{
    assert_int_equal(run_policy(
        "local p = tend.proc { name = 'p', cmd = { 'sh', '-c',\n"
        "  'echo booting; printf \"listen\"; sleep 0.2; echo \"ing on 8080\"; exec sleep 30' },\n"
        "  ready = tend.ready.log('^listening on %d+$', 'stdout'), output = 'discard' }\n"
        "local q = tend.proc { name = 'q', cmd = { 'sh', '-c', 'echo ready >&2; exec sleep 30' },\n"
        "  ready = tend.ready.log('ready', 'stdout'), ready_timeout = 0.5, restart = 'never',\n"
        "  output = 'discard' }\n"
        "tend.task(function()\n"
        "  assert(p:ready() == true)\n"
        "  local ok, st = q:ready()  -- its line went to stderr: never ready\n"
        "  assert(ok == nil and st.state == 'killed', tostring(ok))\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_exec_readiness(void **state)
{
    assert_int_equal(run_policy(
        "local flag = os.getenv('DIR') .. '/flag'\n"
        "local p = tend.proc { name = 'p', cmd = { 'sleep', '30' },\n"
        "  ready = tend.ready.exec({ 'test', '-e', flag }), ready_interval = 0.05 }\n"
        "tend.task(function()\n"
        "  tend.sleep(0.3)\n"
        "  assert(p:status().state == 'running', 'not ready without the flag')\n"
        "  tend.exec({ 'touch', flag })\n"
        "  assert(p:ready() == true)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_function_readiness_may_sleep(void **state)
{
    assert_int_equal(run_policy(
        "local tries = 0\n"
        "local p = tend.proc { name = 'p', cmd = { 'sleep', '30' },\n"
        "  ready = function(proc)\n"
        "    assert(proc.name == 'p')\n"
        "    repeat tries = tries + 1; tend.sleep(0.05) until tries == 3\n"
        "    return true\n"
        "  end }\n"
        "tend.task(function()\n"
        "  assert(p:ready() == true and tries == 3)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_ready_timeout_terminates_and_the_policy_decides(void **state)
{
    assert_int_equal(run_policy(
        "local p = tend.proc { name = 'p', cmd = { 'sleep', '30' }, ready = tend.ready.fd(3),\n"
        "  ready_timeout = 0.3, stop_timeout = 1, restart = 'always',\n"
        "  backoff = { initial = 0.01, jitter = 0 } }\n"
        "tend.task(function()\n"
        "  local ok, st = p:ready()\n"
        "  assert(ok == nil and st.state == 'killed' and st.signal == 'TERM', st.state)\n"
        "  assert(st.restart_at, 'the restart policy decided')\n"
        "  assert(st.ended_at - st.started_at >= 0.25)\n"
        "  p:stop()\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_health_failures_terminate_and_the_policy_restarts(void **state)
{
    assert_int_equal(run_policy(
        "local flag = os.getenv('DIR') .. '/healthy'\n"
        "local p = tend.proc { name = 'p', cmd = { 'sleep', '30' }, restart = 'always',\n"
        "  backoff = { initial = 0.01, jitter = 0 },\n"
        "  health = { check = tend.ready.exec({ 'test', '-e', flag }), interval = 0.05,\n"
        "             timeout = 1, failures = 2 } }\n"
        "tend.task(function()\n"
        "  p:ready()\n"
        "  assert(p:status().health == 'unknown')\n"
        "  local st = p:wait()\n"
        "  assert(st.state == 'killed' and st.health == 'unhealthy', st.state)\n"
        "  assert(st.health_failure:find('exit code 1'), st.health_failure)\n"
        "  assert(st.restart_at, 'restart scheduled')\n"
        "  tend.exec({ 'touch', flag })\n"
        "  for s in p:watch() do if s.state == 'ready' then break end end\n"
        "  assert(p:status().incarnation == 2)\n"
        "  p:stop()\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_a_recovered_health_check_resets_the_count(void **state)
{
    assert_int_equal(run_policy(
        "local fails = 0\n"
        "local p = tend.proc { name = 'p', cmd = { 'sleep', '30' },\n"
        "  health = { check = function() fails = fails + 1\n"
        "                       if fails % 3 == 0 then return true end\n"
        "                       return false, 'flaky' end,\n"
        "             interval = 0.02, failures = 3 } }\n"
        "tend.task(function()\n"
        "  p:ready()\n"
        "  while fails < 12 do tend.sleep(0.02) end\n"
        "  -- two failures, a success, two failures...: never three in a row\n"
        "  assert(p:status().state == 'ready' and p:status().incarnation == 1)\n"
        "  while p:status().health ~= 'healthy' do tend.sleep(0.01) end\n"
        "  assert(p:status().health_failure == nil)\n"
        "  p:stop()\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_a_missed_watchdog_ping_terminates(void **state)
{
    assert_int_equal(run_policy(
        "local n = os.getenv('NOTIFIER')\n"
        "local pinger = tend.proc { name = 'pinger', cmd = { n, 'READY=1', '--',\n"
        "  n, '--repeat', '20', '--every', '0.05', 'WATCHDOG=1', '--', 'sleep', '30' },\n"
        "  ready = tend.ready.notify(), watchdog = 0.3, restart = 'never', stop_timeout = 1 }\n"
        "tend.task(function()\n"
        "  assert(pinger:ready())\n"
        "  local t0 = tend.now()\n"
        "  local st = pinger:wait()  -- pings for ~1 s, then silence\n"
        "  assert(st.state == 'killed', st.state)\n"
        "  assert(tend.now() - t0 >= 0.8, 'the pings kept it alive')\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_stopping_notification_moves_to_stopping(void **state)
{
    assert_int_equal(run_policy(
        "local n = os.getenv('NOTIFIER')\n"
        "local p = tend.proc { name = 'p', cmd = { n, 'READY=1', '--', 'sh', '-c',\n"
        "  'sleep 0.1; exec \"$0\" STOPPING=1 -- sleep 0.1', n },\n"
        "  ready = tend.ready.notify(), restart = 'never' }\n"
        "tend.task(function()\n"
        "  local seen = {}\n"
        "  for st in p:watch() do\n"
        "    seen[#seen + 1] = st.state\n"
        "    if st.state == 'stopped' then break end\n"
        "  end\n"
        "  local got = table.concat(seen, ' ')\n"
        "  assert(got:find('ready stopping stopped'), got)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_after_waits_on_each_kind_of_readiness(void **state)
{
    char policy[4096];
    int port = free_port();
    snprintf(policy, sizeof policy,
             "local n, l, d = os.getenv('NOTIFIER'), os.getenv('LISTENER'), os.getenv('DIR')\n"
             "local kinds = {\n"
             "  fd = { { 'sh', '-c', 'sleep 0.2; echo >&3; exec sleep 30' }, tend.ready.fd(3) },\n"
             "  notify = { { 'sh', '-c', 'sleep 0.2; exec \"$0\" READY=1 -- sleep 30', n },\n"
             "             tend.ready.notify() },\n"
             "  log = { { 'sh', '-c', 'sleep 0.2; echo up; exec sleep 30' }, tend.ready.log('up') },\n"
             "  tcp = { { 'sh', '-c', 'sleep 0.2; exec \"$0\" %d', l }, tend.ready.tcp(%d) },\n"
             "  exec = { { 'sh', '-c', 'sleep 0.2; touch \"$0\"/e; exec sleep 30', d },\n"
             "           tend.ready.exec({ 'test', '-e', d .. '/e' }) },\n"
             "  fn = { { 'sleep', '30' }, function() tend.sleep(0.2) return true end },\n"
             "}\n"
             "local deps = {}\n"
             "for kind, k in pairs(kinds) do\n"
             "  local db = tend.proc { name = 'db-' .. kind, cmd = k[1], ready = k[2],\n"
             "                         ready_interval = 0.02, output = 'discard' }\n"
             "  deps[kind] = { db, tend.proc { name = 'web-' .. kind, cmd = { 'sleep', '30' },\n"
             "                                 after = { db } } }\n"
             "end\n"
             "tend.task(function()\n"
             "  for kind, pair in pairs(deps) do\n"
             "    local db, web = pair[1], pair[2]\n"
             "    assert(web:ready(), kind)\n"
             "    local a, b = db:status(), web:status()\n"
             "    assert(b.started_at >= a.ready_at, kind .. ': web started before db was ready')\n"
             "    assert(a.ready_at - a.started_at >= 0.15, kind .. ': db ready too soon')\n"
             "  end\n"
             "  tend.exit(42)\n"
             "end)\n", port, port);
    assert_int_equal(run_policy(policy), OK);
}

static void test_health_functions_that_never_answer_do_not_pile_up(void **state)
{
    assert_int_equal(run_policy(
        "local p = tend.proc { name = 'p', cmd = { 'sleep', '30' },\n"
        "  health = { check = function() tend.sleep(1000) end, interval = 0.005,\n"
        "             timeout = 0.005, failures = 1000 } }\n"
        "tend.task(function()\n"
        "  p:ready(); tend.sleep(0.2); collectgarbage()\n"
        "  local before = tend.limits().memory_used\n"
        "  tend.sleep(0.6); collectgarbage()\n"
        "  local after = tend.limits().memory_used\n"
        "  assert(after < before + 16384, ('%d -> %d'):format(before, after))\n"
        "  assert(p:status().health == 'unhealthy')\n"
        "  p:stop()\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_a_report_written_right_before_exit_counts(void **state)
{
    /* the report is in the pipe or the socket when the exit is reaped: it
     * is applied first, every time */
    assert_int_equal(run_policy(
        "local n = os.getenv('NOTIFIER')\n"
        "local ps = {}\n"
        "for i = 1, 10 do\n"
        "  ps[#ps + 1] = tend.proc { name = 'fd' .. i, cmd = { 'sh', '-c', 'echo >&3; exit 0' },\n"
        "                            ready = tend.ready.fd(3), restart = 'never' }\n"
        "  ps[#ps + 1] = tend.proc { name = 'nt' .. i, cmd = { n, 'READY=1' },\n"
        "                            ready = tend.ready.notify(), restart = 'never' }\n"
        "end\n"
        "local readied = 0\n"
        "tend.on('ready', function() readied = readied + 1 end)\n"
        "tend.task(function()\n"
        "  for _, p in ipairs(ps) do p:wait() end\n"
        "  tend.sleep(0)\n"
        "  assert(readied == #ps, readied .. ' of ' .. #ps .. ' became ready')\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_bad_readiness_declarations_are_refused(void **state)
{
    const char *bad[][2] = {
        {"tend.proc { name = 'p', cmd = { 'true' }, ready = 'fd' }", "field 'ready'"},
        {"tend.proc { name = 'p', cmd = { 'true' }, ready = { kind = 'fd' } }", "field 'ready'"},
        {"tend.proc { name = 'p', cmd = { 'true' }, ready = tend.ready.fd(1) }", "fd number"},
        {"tend.proc { name = 'p', cmd = { 'true' }, watchdog = 5 }", "field 'watchdog'"},
        {"tend.proc { name = 'p', cmd = { 'true' }, health = { interval = 1 } }",
         "field 'health.check'"},
        {"tend.proc { name = 'p', cmd = { 'true' }, health = { check = tend.ready.fd(3) } }",
         "cannot be a health check"},
        {"tend.proc { name = 'p', cmd = { 'true' }, ready = tend.ready.log('[') }", "malformed pattern"},
        {"tend.proc { name = 'p', cmd = { 'true' }, ready_timeout = -1 }", "ready_timeout"},
        {"local c = tend.ready.notify(); c.kind = nil\n"
         "tend.proc { name = 'p', cmd = { 'true' }, ready = c }", "was changed"},
        {"local c = tend.ready.fd(3); c.fd = 1\n"
         "tend.proc { name = 'p', cmd = { 'true' }, ready = c }", "3..1023"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *path = write_file(dir, "bad.lua", bad[i][0]);
        char *err = NULL;
        struct policy *pol = policy_load(path, &err);
        free(path);
        if (pol)
            fail_msg("accepted: %s", bad[i][0]);
        if (!strstr(err, bad[i][1]))
            fail_msg("\"%s\" lacks \"%s\"", err, bad[i][1]);
        free(err);
    }
}

int main(void)
{
    loop = ev_loop_new(0);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_readiness),
        cmocka_unit_test(test_notify_ready_status_and_abstract_socket),
        cmocka_unit_test(test_notify_from_an_unrelated_process_is_refused),
        cmocka_unit_test(test_tcp_port_that_opens_after_a_delay),
        cmocka_unit_test(test_tcp_to_a_host_name),
        cmocka_unit_test(test_a_check_without_an_answer_says_how_long_it_waited),
        cmocka_unit_test(test_log_pattern_split_across_two_reads),
        cmocka_unit_test(test_exec_readiness),
        cmocka_unit_test(test_function_readiness_may_sleep),
        cmocka_unit_test(test_ready_timeout_terminates_and_the_policy_decides),
        cmocka_unit_test(test_health_failures_terminate_and_the_policy_restarts),
        cmocka_unit_test(test_a_recovered_health_check_resets_the_count),
        cmocka_unit_test(test_a_missed_watchdog_ping_terminates),
        cmocka_unit_test(test_stopping_notification_moves_to_stopping),
        cmocka_unit_test(test_after_waits_on_each_kind_of_readiness),
        cmocka_unit_test(test_health_functions_that_never_answer_do_not_pile_up),
        cmocka_unit_test(test_a_report_written_right_before_exit_counts),
        cmocka_unit_test(test_bad_readiness_declarations_are_refused),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    output_finish();
    return rc;
}
