/* test_lua.c -- the Lua binding in-process: the door (budget, memory cap,
 * errors), hooks, tasks and the async proc methods, with real processes.
 *
 * Each policy reports success by calling tend.exit(42): an assert that
 * fails in a task ends that task only, so any other exit code is a
 * failure. */
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
#include <unistd.h>

#include "harness.h"
#include "core/manager.h"
#include "base/output.h"
#include "policy/policy.h"
#include "base/util.h"

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

static int setup(void **state)
{
    dir = tmpdir_new();
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    tmpdir_free(dir);
    return 0;
}

static void test_task_waits_for_a_proc_and_exits_with_a_code(void **state)
{
    assert_int_equal(run_policy(
        "local a = tend.proc { name = 'a', cmd = { 'sh', '-c', 'echo boom >&2; exit 7' },\n"
        "                      restart = 'never', output = 'discard' }\n"
        "tend.task(function()\n"
        "  local st = a:wait()\n"
        "  assert(st.state == 'stopped' and st.exit_code == 7, st.state)\n"
        "  assert(st.tail == 'boom\\n', st.tail)\n"
        "  assert(st.want == 'down' and st.name == 'a' and st.incarnation == 1)\n"
        "  assert(a:wait().exit_code == 7)   -- already terminal: at once\n"
        "  assert(a:pid() == nil)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_ready_returns_nil_and_status_when_the_proc_fails(void **state)
{
    assert_int_equal(run_policy(
        "local a = tend.proc { name = 'a', cmd = { '/nope' }, restart = 'never' }\n"
        "tend.task(function()\n"
        "  local ok, st = a:ready()\n"
        "  assert(ok == nil and st.state == 'failed', tostring(ok))\n"
        "  assert(st.reason == 'exec /nope: No such file or directory', st.reason)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_terminate_kill_and_already_terminated(void **state)
{
    if (getenv("TEND_UNDER_VALGRIND"))
        skip();  /* its timed stops assume native speed */
    assert_int_equal(run_policy(
        "local a = tend.proc { name = 'a', cmd = { 'sleep', '30' }, restart = 'never' }\n"
        "local b = tend.proc { name = 'b', cmd = { 'sh', '-c', 'trap \"\" TERM; echo armed;"
        " while :; do sleep 0.05; done' }, restart = 'never', output = 'discard',\n"
        "  ready = tend.ready.log('armed') }\n"
        "tend.task(function()\n"
        "  assert(a:ready() == true)\n"
        "  local pid = a:pid()\n"
        "  assert(type(pid) == 'number' and pid > 0)\n"
        "  local st = a:terminate(5)\n"
        "  assert(st.state == 'killed' and st.signal == 'TERM', st.state)\n"
        "  local x, why = a:terminate()\n"
        "  assert(x == nil and why == 'already terminated')\n"
        "  x, why = a:kill()\n"
        "  assert(x == nil and why == 'already terminated')\n"
        "  assert(b:ready())  -- its trap is set\n"
        "  local t0 = tend.now()\n"
        "  st = b:terminate(0.2)\n"
        "  assert(st.state == 'killed' and st.signal == 'KILL', st.signal)\n"
        "  assert(tend.now() - t0 >= 0.2)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_hooks_see_every_transition_in_order(void **state)
{
    assert_int_equal(run_policy(
        "local seen, mine = {}, {}\n"
        "tend.on('*', function(p, st, prev) seen[#seen + 1] = prev.state .. '>' .. st.state end)\n"
        "local a = tend.proc { name = 'a', cmd = { 'true' }, restart = 'never' }\n"
        "a:on('stopped', function(p, st) mine[#mine + 1] = p.name .. st.exit_code end)\n"
        "tend.task(function()\n"
        "  a:wait()\n"
        "  tend.sleep(0)  -- hooks of the last transition have run\n"
        "  local got = table.concat(seen, ' ')\n"
        "  assert(got == 'pending>starting starting>running running>ready ready>stopped', got)\n"
        "  assert(mine[1] == 'a0' and #mine == 1)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_watch_and_changed_follow_transitions(void **state)
{
    assert_int_equal(run_policy(
        "local a = tend.proc { name = 'a', cmd = { 'sleep', '30' }, autostart = false,\n"
        "                      restart = 'never' }\n"
        "tend.task(function()\n"
        "  local states = {}\n"
        "  local it = a:watch()\n"
        "  tend.task(function() a:start(); tend.sleep(0.05); a:kill() end)\n"
        "  for st in it do\n"
        "    states[#states + 1] = st.state\n"
        "    tend.sleep(0.01)  -- slow consumer: nothing is lost\n"
        "    if st.state == 'killed' then break end\n"
        "  end\n"
        "  local got = table.concat(states, ' ')\n"
        "  assert(got == 'starting running ready killed', got)\n"
        "  tend.task(function() tend.sleep(0); a:start() end)  -- after changed() waits\n"
        "  local st = a:changed()\n"
        "  assert(st.state == 'starting' and st.incarnation == 2)\n"
        "  a:kill()\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_stop_start_restart(void **state)
{
    assert_int_equal(run_policy(
        "local a = tend.proc { name = 'a', cmd = { 'sleep', '30' }, restart = 'always' }\n"
        "tend.task(function()\n"
        "  a:ready()\n"
        "  local pid1 = a:pid()\n"
        "  local st = a:restart()\n"
        "  assert(st.state == 'ready' and st.incarnation == 2, st.state)\n"
        "  assert(a:pid() ~= pid1)\n"
        "  st = a:stop()\n"
        "  assert(st.state == 'killed' and st.want == 'down' and not st.restart_at)\n"
        "  st = a:start()\n"
        "  assert(st.state == 'ready' and st.want == 'up' and st.incarnation == 3)\n"
        "  assert(a:start().state == 'ready')  -- running already: nothing to do\n"
        "  a:stop()\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_an_infinite_loop_in_a_hook_is_stopped(void **state)
{
    /* the looping hook is stopped; the other proc's hook still runs */
    assert_int_equal(run_policy(
        "local a = tend.proc { name = 'a', cmd = { 'true' }, restart = 'never' }\n"
        "local b = tend.proc { name = 'b', cmd = { 'true' }, restart = 'never', after = { a } }\n"
        "a:on('stopped', function() while true do end end)\n"
        "b:on('stopped', function() tend.exit(42) end)\n"), OK);
}

static void test_pcall_cannot_swallow_the_budget(void **state)
{
    assert_int_equal(run_policy(
        "local a = tend.proc { name = 'a', cmd = { 'true' }, restart = 'never' }\n"
        "a:on('stopped', function()\n"
        "  for i = 1, 100 do pcall(function() while true do end end) end\n"
        "  tend.exit(1)  -- not reached\n"
        "end)\n"
        "tend.task(function() a:wait(); tend.sleep(0.05); tend.exit(42) end)\n"), OK);
}

static void test_unbounded_allocation_in_a_hook_is_stopped(void **state)
{
    if (getenv("TEND_UNDER_VALGRIND"))
        skip();  /* filling the VM's cap takes longer than the deadline there */
    assert_int_equal(run_policy(
        "local a = tend.proc { name = 'a', cmd = { 'true' }, restart = 'never' }\n"
        "a:on('stopped', function()\n"
        "  local t = {}\n"
        "  for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end\n"
        "end)\n"
        "tend.task(function()\n"
        "  a:wait(); tend.sleep(0.05)\n"
        "  collectgarbage()\n"
        "  local t = {}  -- the VM still works after the cap was hit\n"
        "  for i = 1, 1000 do t[i] = i end\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_restart_function_decides(void **state)
{
    assert_int_equal(run_policy(
        "local calls = 0\n"
        "local a = tend.proc { name = 'a', cmd = { 'sh', '-c', 'exit 3' },\n"
        "  restart = function(p, st) calls = calls + 1\n"
        "    assert(st.state == 'stopped' and st.exit_code == 3)\n"
        "    if calls < 3 then return 0 end return false end }\n"
        "tend.task(function()\n"
        "  repeat local st = a:wait(); if st.restart_at then a:changed() end\n"
        "  until a:status().want == 'down'\n"
        "  local st = a:status()\n"
        "  assert(calls == 3 and st.incarnation == 3 and st.restarts == 2, calls)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_a_raising_restart_function_counts_as_on_failure(void **state)
{
    assert_int_equal(run_policy(
        "local a = tend.proc { name = 'a', cmd = { 'sh', '-c', 'exit 3' },\n"
        "  backoff = { initial = 0.01, jitter = 0 },\n"
        "  restart = function() error('policy bug') end }\n"
        "tend.task(function()\n"
        "  local st = a:wait()\n"
        "  assert(st.restart_at and st.want == 'up', 'restart scheduled')\n"
        "  a:stop()\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_gave_up_hook(void **state)
{
    assert_int_equal(run_policy(
        "local a = tend.proc { name = 'a', cmd = { 'false' }, restart = 'always',\n"
        "  backoff = { initial = 0, jitter = 0 }, give_up = { restarts = 2, within = 60 } }\n"
        "a:on('gave_up', function(p, st)\n"
        "  assert(st.want == 'down' and st.gave_up and st.state == 'stopped')\n"
        "  assert(st.incarnation == 3 and st.restarts == 2, st.incarnation)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_spawn_after_load_starts_now(void **state)
{
    assert_int_equal(run_policy(
        "tend.task(function()\n"
        "  local w = tend.spawn { name = 'w', cmd = { 'sh', '-c', 'exit 5' }, restart = 'never' }\n"
        "  assert(tend.get('w') == w and #tend.procs() == 1)\n"
        "  assert(w:wait().exit_code == 5)\n"
        "  local ok, err = pcall(tend.spawn, { name = 'w', cmd = { 'true' } })\n"
        "  assert(not ok and err:find('duplicate'), err)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

/* tend.get and tend.procs while the file loads: the procs declared so far,
 * the same handles tend.proc returned (SPEC 3); a module required after a
 * declaration finds it. */
static void test_get_and_procs_during_load(void **state)
{
    free(write_file(dir, "mod.lua", "return { db = tend.get('db') }\n"));
    assert_int_equal(run_policy(
        "package.path = tend.dir .. '/?.lua'  -- in-process: no chdir to the file's dir\n"
        "assert(#tend.procs() == 0 and tend.get('db') == nil)\n"
        "local db = tend.proc { name = 'db', cmd = { 'true' }, restart = 'never' }\n"
        "assert(tend.get('db') == db, 'tend.get returns the declared handle')\n"
        "assert(require('mod').db == db, 'a module sees it too')\n"
        "local w = tend.proc { name = 'w', cmd = { 'true' }, restart = 'never' }\n"
        "local all = tend.procs()\n"
        "assert(#all == 2 and all[1] == db and all[2] == w)\n"
        "assert(tend.get('nope') == nil)\n"
        "tend.task(function()\n"
        "  assert(tend.get('db') == db and #tend.procs() == 2)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_methods_during_load_say_when_they_work(void **state)
{
    char *path = write_file(dir, "policy.lua",
                            "local a = tend.proc { name = 'a', cmd = { 'true' } }\n"
                            "a:status()\n");
    char *err = NULL;
    assert_null(policy_load(path, &err));
    assert_non_null(strstr(err, "policy.lua:2:"));
    assert_non_null(strstr(err, "once the policy file has loaded"));
    free(err);
    free(path);
}

static void test_tasks_keep_tend_running_until_they_end(void **state)
{
    /* no procs: tend stays for the task, then exits 0 */
    assert_int_equal(run_policy(
        "tend.task(function() tend.sleep(0.05); tend.log.info('task done') end)\n"), 0);
}

static void test_exec_runs_a_command_without_blocking(void **state)
{
    assert_int_equal(run_policy(
        "local ticks = 0\n"
        "tend.task(function() for i = 1, 5 do tend.sleep(0.01); ticks = ticks + 1 end end)\n"
        "tend.task(function()\n"
        "  local code, out, err = tend.exec({ 'sh', '-c', 'sleep 0.2; echo hi; echo oops >&2; exit 3' })\n"
        "  assert(code == 3 and out == 'hi\\n' and err == 'oops\\n', tostring(code))\n"
        "  assert(ticks == 5, 'the loop kept running: ' .. ticks)\n"
        "  local x, st = tend.exec({ 'sleep', '30' }, { timeout = 0.1 })\n"
        "  assert(x == nil and st.state == 'killed' and st.signal == 'KILL')\n"
        "  x, st = tend.exec({ '/nope' })\n"
        "  assert(x == nil and st.state == 'failed' and st.reason:find('exec /nope'))\n"
        "  code, out = tend.exec({ 'sh', '-c', 'echo $FOO; pwd' }, { env = { FOO = 'bar' }, cwd = '/' })\n"
        "  assert(code == 0 and out == 'bar\\n/\\n', out)\n"
        "  assert(not pcall(tend.exec, 'sh'))\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_blocking_stdlib_calls_are_refused(void **state)
{
    assert_int_equal(run_policy(
        "tend.task(function()\n"
        "  local ok, err = pcall(os.execute, 'true')\n"
        "  assert(not ok and err:find('tend.exec'), err)\n"
        "  ok, err = pcall(io.popen, 'true')\n"
        "  assert(not ok and err:find('tend.exec'), err)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_one_for_all_restarts_the_other_members(void **state)
{
    assert_int_equal(run_policy(
        "local group = require 'tend.group'\n"
        "local a = tend.proc { name = 'a', cmd = { 'sleep', '30' }, restart = 'always',\n"
        "                      backoff = { initial = 0.01, jitter = 0 } }\n"
        "local b = tend.proc { name = 'b', cmd = { 'sleep', '30' }, restart = 'always' }\n"
        "local c = tend.proc { name = 'c', cmd = { 'sleep', '30' }, restart = 'always' }\n"
        "group.one_for_all { a, b, c }\n"
        "tend.task(function()\n"
        "  a:ready(); b:ready(); c:ready()\n"
        "  local pb, pc = b:pid(), c:pid()\n"
        "  local wa, wb, wc = a:watch(), b:watch(), c:watch()\n"
        "  a:kill()  -- a crash: a restarts by its policy, b and c by the group\n"
        "  for st in wb do if st.state == 'ready' then break end end\n"
        "  for st in wc do if st.state == 'ready' then break end end\n"
        "  assert(b:pid() ~= pb and c:pid() ~= pc)\n"
        "  for st in wa do if st.state == 'ready' then break end end\n"
        "  assert(a:status().incarnation == 2)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_rest_for_one_leaves_earlier_members_alone(void **state)
{
    /* Under valgrind (vfork run as a fork), one run in two or three the
     * restarted b's exec report never reaches the loop and the test hits
     * its deadline; natively 150 runs in a row pass.  Seen on the trees of
     * two sessions; its analysis so far is in the README's Reliability
     * section, "What is not promised". */
    if (getenv("TEND_UNDER_VALGRIND"))
        skip();
    assert_int_equal(run_policy(
        "local group = require 'tend.group'\n"
        "local a = tend.proc { name = 'a', cmd = { 'sleep', '30' } }\n"
        "local b = tend.proc { name = 'b', cmd = { 'sleep', '30' }, restart = 'always',\n"
        "                      backoff = { initial = 0.01, jitter = 0 } }\n"
        "local c = tend.proc { name = 'c', cmd = { 'sleep', '30' } }\n"
        "group.rest_for_one { a, b, c }\n"
        "tend.task(function()\n"
        "  a:ready(); b:ready(); c:ready()\n"
        "  local wc = c:watch()\n"
        "  b:kill()\n"
        "  for st in wc do if st.state == 'ready' then break end end\n"
        "  assert(c:status().incarnation == 2)\n"
        "  assert(a:status().incarnation == 1, 'a untouched')\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_limits_are_settable(void **state)
{
    assert_int_equal(run_policy(
        "local l = tend.limits()\n"
        "assert(l.memory == 256 * 1024 * 1024 and l.instructions == 10000000)\n"
        "tend.limits { instructions = 100000, memory = 8 * 1024 * 1024 }\n"
        "assert(tend.limits().instructions == 100000)\n"
        "assert(not pcall(tend.limits, { memroy = 1 }))\n"
        "local a = tend.proc { name = 'a', cmd = { 'true' }, restart = 'never' }\n"
        "local finished = false\n"
        "a:on('stopped', function() for i = 1, 200000 do end finished = true end)\n"
        "a:on('stopped', function()\n"
        "  local t = {} for i = 1, 1e6 do t[i] = ('x'):rep(100) .. i end end)\n"
        "tend.task(function() a:wait(); tend.sleep(0.05)\n"
        "  assert(not finished, '200000 instructions > the budget of 100000')\n"
        "  tend.exit(42) end)\n"), OK);
}

/* A hook on every proc sees transitions in the order they happened:
 * db's ready before the start of web, which waited for it. */
static void test_a_global_hook_sees_cause_before_effect(void **state)
{
    assert_int_equal(run_policy(
        "local seen = {}\n"
        "tend.on('*', function(p, st) seen[#seen + 1] = p.name .. ' ' .. st.state end)\n"
        "local db = tend.proc { name = 'db', cmd = { 'sleep', '30' } }\n"
        "local web = tend.proc { name = 'web', cmd = { 'sleep', '30' }, after = { db } }\n"
        "tend.task(function()\n"
        "  assert(web:ready())\n"
        "  local order = table.concat(seen, ', ')\n"
        "  local i, j = order:find('db ready', 1, true), order:find('web starting', 1, true)\n"
        "  assert(i and j and i < j, order)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

/* proc:tail([stream], [lines]), each argument left out in turn. */
static void test_tail_arguments(void **state)
{
    assert_int_equal(run_policy(
        "local a = tend.proc { name = 'a', restart = 'never', output = 'discard', cmd = {\n"
        "  'sh', '-c', 'printf \"e1\\ne2\\ne3\\n\" >&2; printf \"o1\\no2\\n\"' } }\n"
        "tend.task(function()\n"
        "  a:wait()\n"
        "  assert(a:tail() == 'e1\\ne2\\ne3\\n', a:tail())\n"
        "  assert(a:tail(nil, 2) == 'e2\\ne3\\n', a:tail(nil, 2))\n"
        "  assert(a:tail(1) == 'e3\\n', a:tail(1))\n"
        "  assert(a:tail('stdout') == 'o1\\no2\\n', a:tail('stdout'))\n"
        "  assert(a:tail('stdout', 1) == 'o2\\n', a:tail('stdout', 1))\n"
        "  assert(not pcall(a.tail, a, 'stdin'))\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

/* A proc stopped while it waits for its `after` stays down when they are
 * ready (SPEC 1: want is down once stopped on purpose). */
static void test_a_proc_stopped_while_waiting_for_after_stays_down(void **state)
{
    assert_int_equal(run_policy(
        "local db = tend.proc { name = 'db', cmd = { 'sleep', '30' }, autostart = false }\n"
        "local web = tend.proc { name = 'web', cmd = { 'sleep', '30' }, after = { db } }\n"
        "local probe = tend.proc { name = 'probe', cmd = { 'sleep', '30' }, after = { db } }\n"
        "tend.task(function()\n"
        "  assert(web:status().state == 'pending')\n"
        "  web:stop()\n"
        "  assert(web:status().want == 'down')\n"
        "  db:start()\n"
        "  assert(probe:ready())  -- started with web, had web been started\n"
        "  local st = web:status()\n"
        "  assert(st.state == 'pending' and st.want == 'down', st.state .. ' ' .. st.want)\n"
        "  web:start()\n"
        "  assert(web:ready())\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_signal_reaches_the_process_group(void **state)
{
    assert_int_equal(run_policy(
        "local a = tend.proc { name = 'a', cmd = { 'sh', '-c',\n"
        "  'trap \"exit 7\" USR1; echo armed; while :; do sleep 0.02; done' },\n"
        "  restart = 'never', output = 'discard', ready = tend.ready.log('armed') }\n"
        "tend.task(function()\n"
        "  assert(a:ready())  -- its trap is set\n"
        "  assert(not pcall(a.signal, a, 'NOPE'))\n"
        "  assert(a:signal('USR1') == true)\n"
        "  local st = a:wait()  -- the trap ends it\n"
        "  assert(st.state == 'stopped' and st.exit_code == 7, st.state)\n"
        "  local ok, why = a:signal('HUP')\n"
        "  assert(ok == nil and why == 'not running', tostring(why))\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_tasks_starting_tasks_without_end_are_stopped(void **state)
{
    assert_int_equal(run_policy(
        "local function f() tend.task(f) end\n"
        "tend.task(f)  -- nests until Lua's C-stack limit: an error, not a crash\n"
        "tend.task(function() tend.sleep(0.01) tend.exit(42) end)\n"), OK);
}

static void test_a_bare_yield_ends_the_task(void **state)
{
    /* nobody would resume it: an error, and tend does not wait for it */
    assert_int_equal(run_policy(
        "tend.task(function() coroutine.yield() end)\n"
        "tend.task(function() tend.sleep(0.01) tend.exit(42) end)\n"), OK);
    assert_int_equal(run_policy("tend.task(function() coroutine.yield() end)\n"), 0);
}

static void test_close_handlers_run_on_a_budget(void **state)
{
    assert_int_equal(run_policy(
        "tend.task(function()\n"
        "  local g <close> = setmetatable({}, { __close = function() while true do end end })\n"
        "  error('boom')\n"
        "end)\n"
        "tend.task(function() tend.sleep(0.05) tend.exit(42) end)\n"), OK);
}

static void test_fresh_coroutines_do_not_bring_fresh_budgets(void **state)
{
    /* each coroutine runs less than a quantum: without the charge at
     * creation the loop would never be seen by the hook */
    assert_int_equal(run_policy(
        "tend.task(function()\n"
        "  while true do coroutine.wrap(function() for i = 1, 990 do end end)() end\n"
        "end)\n"
        "tend.task(function()\n"
        "  while true do coroutine.resume(coroutine.create(function() end)) end\n"
        "end)\n"
        "tend.task(function() tend.sleep(0.01) tend.exit(42) end)\n"), OK);
}

static void test_tasks_started_in_a_loop_share_one_budget(void **state)
{
    assert_int_equal(run_policy(
        "tend.task(function()\n"
        "  while true do tend.task(function() for i = 1, 1e5 do end end) end\n"
        "end)\n"
        "tend.task(function() tend.sleep(0.01) tend.exit(42) end)\n"), OK);
}

static void test_what_would_escape_the_budget_is_refused(void **state)
{
    char *text = xasprintf(
        "local dir = '%s'\n"
        "local function refused(f, what)\n"
        "  local ok, err = pcall(f)\n"
        "  assert(not ok and err:find(what, 1, true), tostring(err))\n"
        "end\n"
        "refused(function() setmetatable({}, { __gc = function() while true do end end }) end,\n"
        "        '__gc is not allowed')\n"
        "refused(function() debug.setmetatable({}, { __gc = print }) end, '__gc is not allowed')\n"
        "refused(function() debug.sethook() end, 'debug.sethook is not allowed')\n"
        "refused(function() load(string.dump(function() end), 'x', 'b') end, 'binary chunks')\n"
        "local f, err = load(string.dump(function() end))\n"
        "assert(f == nil and err:find('binary chunk'), err)\n"
        "local bc = io.open(dir .. '/bc.lua', 'wb') bc:write(string.dump(function() end)) bc:close()\n"
        "assert(loadfile(dir .. '/bc.lua') == nil)\n"
        "refused(function() dofile(dir .. '/bc.lua') end, 'binary chunk')\n"
        "package.path = dir .. '/?.lua'\n"
        "refused(function() require 'bc' end, 'binary chunk')\n"
        "refused(function() dofile() end, 'string expected')\n"
        "-- C loops as long as asked: empty, or on the budget\n"
        "assert(string.rep('', 1e15) == '' and ('ab'):rep(3, ',') == 'ab,ab,ab')\n"
        "tend.task(function() table.move({}, 1, 1e15, 1, {}) error('not reached') end)\n"
        "-- a metatable without __gc is fine\n"
        "assert(getmetatable(setmetatable({}, { __index = {} })))\n"
        "tend.task(function() tend.exit(42) end)\n", dir);
    assert_int_equal(run_policy(text), OK);
    free(text);
}

static void test_files_that_would_block_are_refused(void **state)
{
    char *fifo = xasprintf("%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    char *text = xasprintf(
        "local fifo = '%s'\n"
        "local f, err = io.open(fifo)\n"
        "assert(f == nil and err:find('not a regular file'), tostring(err))\n"
        "assert(not pcall(io.lines, fifo))\n"
        "assert(not pcall(dofile, fifo))\n"
        "assert(io.open('/dev/null')):close()\n"
        "tend.task(function() tend.exit(42) end)\n", fifo);
    assert_int_equal(run_policy(text), OK);
    free(text);
    unlink(fifo);
    free(fifo);
}

static void test_pattern_matching_runs_on_the_budget(void **state)
{
    /* Lua's matcher would take hours on this; ours spends the budget */
    assert_int_equal(run_policy(
        "tend.task(function()\n"
        "  local ok, err = pcall(string.find, string.rep('a', 5e4), '.-.-.-.-b')\n"
        "  assert(not ok and err:find('budget'), tostring(err))\n"
        "end)\n"
        "tend.task(function()\n"
        "  assert(('key=value'):match('(%w+)=(%w+)') == 'key')\n"
        "  assert(select(2, ('a,b,c'):gsub(',', ';')) == 2)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_a_costly_readiness_pattern_skips_the_line(void **state)
{
    /* a 64 KiB line that makes the pattern backtrack without end, then a
     * line that matches: the first is given up on, the second makes it
     * ready */
    assert_int_equal(run_policy(
        "local p = tend.proc { name = 'p', ready = tend.ready.log('.-.-.-.-b'),\n"
        "  cmd = { 'sh', '-c', 'head -c 65536 /dev/zero | tr \"\\\\0\" a; echo; echo ok b; exec sleep 30' } }\n"
        "tend.task(function() assert(p:ready()) tend.exit(42) end)\n"), OK);
}

static void test_starting_a_proc_from_its_restart_decision_is_refused(void **state)
{
    assert_int_equal(run_policy(
        "local seen = {}\n"
        "local p\n"
        "p = tend.proc { name = 'p', cmd = { 'true' },\n"
        "  restart = function() tend.task(function() p:start() end) return false end }\n"
        "p:on('*', function(_, st, prev) seen[#seen + 1] = prev.state .. '>' .. st.state end)\n"
        "tend.task(function()\n"
        "  local st = p:wait()\n"
        "  assert(st.state == 'stopped' and st.incarnation == 1, st.state)\n"
        "  tend.sleep(0.05)\n"
        "  local got = table.concat(seen, ' ')\n"
        "  assert(got == 'pending>starting starting>running running>ready ready>stopped', got)\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

static void test_an_infinite_restart_delay_means_no_restart(void **state)
{
    assert_int_equal(run_policy(
        "local p = tend.proc { name = 'p', cmd = { 'true' }, restart = function() return math.huge end }\n"
        "tend.task(function()\n"
        "  local st = p:wait()\n"
        "  assert(st.want == 'down' and not st.restart_at, tostring(st.restart_at))\n"
        "  tend.exit(42)\n"
        "end)\n"), OK);
}

int main(void)
{
    loop = ev_loop_new(0);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_waits_for_a_proc_and_exits_with_a_code),
        cmocka_unit_test(test_ready_returns_nil_and_status_when_the_proc_fails),
        cmocka_unit_test(test_terminate_kill_and_already_terminated),
        cmocka_unit_test(test_hooks_see_every_transition_in_order),
        cmocka_unit_test(test_watch_and_changed_follow_transitions),
        cmocka_unit_test(test_stop_start_restart),
        cmocka_unit_test(test_an_infinite_loop_in_a_hook_is_stopped),
        cmocka_unit_test(test_pcall_cannot_swallow_the_budget),
        cmocka_unit_test(test_unbounded_allocation_in_a_hook_is_stopped),
        cmocka_unit_test(test_restart_function_decides),
        cmocka_unit_test(test_a_raising_restart_function_counts_as_on_failure),
        cmocka_unit_test(test_gave_up_hook),
        cmocka_unit_test(test_spawn_after_load_starts_now),
        cmocka_unit_test(test_get_and_procs_during_load),
        cmocka_unit_test(test_methods_during_load_say_when_they_work),
        cmocka_unit_test(test_tasks_keep_tend_running_until_they_end),
        cmocka_unit_test(test_exec_runs_a_command_without_blocking),
        cmocka_unit_test(test_blocking_stdlib_calls_are_refused),
        cmocka_unit_test(test_one_for_all_restarts_the_other_members),
        cmocka_unit_test(test_limits_are_settable),
        cmocka_unit_test(test_a_global_hook_sees_cause_before_effect),
        cmocka_unit_test(test_tail_arguments),
        cmocka_unit_test(test_a_proc_stopped_while_waiting_for_after_stays_down),
        cmocka_unit_test(test_signal_reaches_the_process_group),
        cmocka_unit_test(test_tasks_starting_tasks_without_end_are_stopped),
        cmocka_unit_test(test_a_bare_yield_ends_the_task),
        cmocka_unit_test(test_close_handlers_run_on_a_budget),
        cmocka_unit_test(test_fresh_coroutines_do_not_bring_fresh_budgets),
        cmocka_unit_test(test_tasks_started_in_a_loop_share_one_budget),
        cmocka_unit_test(test_what_would_escape_the_budget_is_refused),
        cmocka_unit_test(test_files_that_would_block_are_refused),
        cmocka_unit_test(test_pattern_matching_runs_on_the_budget),
        cmocka_unit_test(test_a_costly_readiness_pattern_skips_the_line),
        cmocka_unit_test(test_starting_a_proc_from_its_restart_decision_is_refused),
        cmocka_unit_test(test_an_infinite_restart_delay_means_no_restart),
        cmocka_unit_test(test_rest_for_one_leaves_earlier_members_alone),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    output_finish();
    return rc;
}
