/* sc_lua.c -- policy code that misbehaves: errors in every hook, runaway
 * loops, memory bombs, deep recursion, string bombs, 100,000 procs,
 * bytecode, a readiness pattern that backtracks. */
#include "fault.h"

#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ANCHOR "tend.proc { name = \"anchor\", cmd = { \"@C\", \"pause\" } }\n"

/* A proc that exits 3 at once, restarted twice 20 ms apart, then given
 * up: 3 incarnations, 4 transitions each, and a give-up. */
#define CRASHER(name)                                                                        \
    "local " name " = tend.proc { name = \"" name "\", cmd = { \"sh\", \"-c\", \"exit 3\" },\n" \
    "  backoff = { initial = 0.02, factor = 1, max = 0.02, jitter = 0 },\n"                  \
    "  give_up = { restarts = 2, within = 60 } }\n"

/* tend's peak RSS with the VM capped at 64 MiB: the cap, what malloc keeps
 * of freed blocks (bombs come one after the other), tend's own; a cap
 * that did not hold would show the bomb's gigabytes. */
#define CAP_BOUND (2 * 64 * 1024 + 16 * 1024)

/* Ping tend until `needle` shows on its stderr; the slowest answer. */
static double ping_until(struct sc *s, const char *needle, int n, const char *what)
{
    double worst = 0, end = now() + WAIT;
    while (count_from(s->t, 2, 0, needle) < n) {
        need(s, now() < end, "%s: \"%s\" x%d not seen within %gs (stderr: %.600s)", what,
             needle, n, WAIT, text_from(s->t, 2, 0));
        need(s, !s->t->exited, "tend ended while %s", what);
        double secs;
        need(s, ping(s, NULL, WAIT, &secs), "tend did not answer within %gs while %s", WAIT,
             what);
        if (secs > worst)
            worst = secs;
    }
    return worst;
}

/* ---- an error in every hook on every event ---- */

static void hook_errors(struct sc *s)
{
    const char *pol = policy(s, ANCHOR CRASHER("crash")
        "crash:on(\"*\", function() error(\"boom-proc\") end)\n"
        "tend.on(\"*\", function(p) if p.name == \"crash\" then error(\"boom-all\") end end)\n"
        "tend.on(\"gave_up\", function() error(\"boom-gaveup\") end)\n"
        "crash:on(\"gave_up\", function() error(\"boom-gaveup-proc\") end)\n"
        "tend.task(function() error(\"boom-task\") end)\n"
        "tend.task(function() crash:wait(); error(\"boom-after-wait\") end)\n");
    tend_up(s, pol, NULL, NULL);
    did(s, "a proc that exits 3, restarted twice then given up, with a failing hook of its "
           "own and a global one on \"*\", failing gave_up hooks, failing tasks");
    wait_for(s, s->t, 2, "gave up", 1, "the give-up");
    wait_for(s, s->t, 2, "boom-gaveup-proc", 1, "the proc's gave_up hook");
    wait_for(s, s->t, 2, "boom-after-wait", 1, "the task after its wait");
    sync_output(s);
    int proc = count_from(s->t, 2, 0, "boom-proc"), all = count_from(s->t, 2, 0, "boom-all");
    /* 3 incarnations: starting, running, ready, stopped */
    need(s, proc == 12 && all == 12, "hook errors: %d of the proc's, %d of the global one, "
         "want 12 each", proc, all);
    /* "boom-gaveup" is in "boom-gaveup-proc" too */
    need(s, count_from(s->t, 2, 0, "boom-gaveup") >= 2 &&
                count_from(s->t, 2, 0, "boom-gaveup-proc") >= 1 &&
                count_from(s->t, 2, 0, "boom-task") >= 1,
         "the gave_up and task errors were not all logged");
    need(s, count_from(s->t, 2, 0, "stack traceback"), "errors logged without a traceback");
    json_t *st = status_of(statuses(s, NULL), "crash");
    need(s, !strcmp(st_str(st, "state"), "stopped") && st_int(st, "exit_code") == 3 &&
                *st_str(st, "gave_up") && !strcmp(st_str(st, "want"), "down") &&
                st_int(st, "restarts") == 2,
         "crash: %s %lld, gave_up \"%s\", restarts %lld", st_str(st, "state"),
         st_int(st, "exit_code"), st_str(st, "gave_up"), st_int(st, "restarts"));
    held(s, "each hook's error logged with its traceback, every time (12 + 12 transitions, 2 "
            "gave_up, 2 tasks); the restarts and the give-up happened as without hooks");
    baseline(s);
    finish(s, 0);
}

/* ---- runaway loops: the instruction budget stops them ---- */

static void runaway(struct sc *s)
{
    const char *pol = policy(s, ANCHOR CRASHER("spin")
        "spin:on(\"*\", function() while true do end end)\n"
        "tend.task(function() while true do end end)\n"
        "tend.task(function()\n"
        "  while true do coroutine.wrap(function() for i = 1, 1e6 do end end)() end\n"
        "end)\n"
        "tend.task(function()\n"
        "  local ok, e = pcall(setmetatable, {}, { __gc = function() while true do end end })\n"
        "  tend.log.warn(\"gc-refused: %s\", tostring(e))\n"
        "end)\n"
        "tend.task(function() while true do pcall(function() while true do end end) end end)\n");
    tend_up(s, pol, NULL, NULL);
    did(s, "a `while true do end` hook on every transition of a proc restarted twice; tasks "
           "that loop, loop in fresh coroutines, loop inside pcall; a __gc that loops");
    wait_up(s, s->t, NULL);
    double worst = ping_until(s, "gave up", 1, "the runaway hooks run");
    wait_for(s, s->t, 2, "gc-refused:", 1, "the __gc");
    /* 12 transitions' hooks and 3 looping tasks */
    sync_output(s);
    int stopped = count_from(s->t, 2, 0, "instruction budget exceeded");
    need(s, stopped >= 15, "%d runs stopped by the budget, want 15", stopped);
    /* a turn of the loop may run several budgets' worth (the hooks of a
     * transition and its successor, the tasks): seconds on a loaded
     * machine, never without end */
    need(s, worst < 10, "tend took %.2f s to answer a status while policy code spun", worst);
    need(s, !count_from(s->t, 2, 0, "gc-refused: nil"), "a looping __gc was accepted");
    json_t *st = status_of(statuses(s, NULL), "spin");
    need(s, !strcmp(st_str(st, "state"), "stopped") && *st_str(st, "gave_up"),
         "spin: %s, gave_up \"%s\"", st_str(st, "state"), st_str(st, "gave_up"));
    held(s, "%d runs stopped by the budget and logged, the pcall'd one included; __gc "
            "refused; status answered within %.2f s at worst meanwhile; the proc gave up as "
            "it would have",
         stopped, worst);
    baseline(s);
    finish(s, 0);
}

/* ---- memory bombs: the VM's cap ---- */

#define BOMB "local t, s = {}, string.rep(\"x\", 4096) while true do t[#t + 1] = s .. #t end\n"

static void memory_bomb(struct sc *s)
{
    /* at load: tend run exits 2 */
    const char *bad = policy_as(s, "bad.lua", "tend.limits { memory = 64 * 1024 * 1024 }\n" BOMB);
    struct topts none = {0};
    struct tend *t0 = tend_up(s, bad, in_dir(s, "bad.sock"), &none);
    s->t = NULL;
    int rc = tend_exit_wait(s, t0, WAIT);
    need(s, rc == 2, "a policy that bombs at load: exit %d, want 2", rc);
    need(s, count_from(t0, 2, 0, "not enough memory"), "no \"not enough memory\": %s",
         text_from(t0, 2, 0));

    const char *pol = policy(s, "tend.limits { memory = 64 * 1024 * 1024 }\n" ANCHOR
        CRASHER("bomber")
        "bomber:on(\"*\", function() " BOMB " end)\n"
        "tend.task(function() " BOMB " end)\n"
        "tend.task(function() local t = {} while true do t[#t + 1] = {} end end)\n");
    tend_up(s, pol, NULL, NULL);
    did(s, "a policy that allocates without end at load; then, with a 64 MiB cap, one that "
           "does it in a hook on every transition of a proc restarted twice, and in tasks");
    wait_up(s, s->t, NULL);
    double worst = ping_until(s, "gave up", 1, "the bombs go off");
    wait_for(s, s->t, 2, "not enough memory", 13, "the bombs' errors");
    long hwm = hwm_kib(s->t->pid), rss = rss_kib(s->t->pid);
    need(s, hwm < CAP_BOUND, "tend's peak RSS %ld KiB with a 64 MiB cap", hwm);
    json_t *st = status_of(statuses(s, NULL), "bomber");
    need(s, !strcmp(st_str(st, "state"), "stopped") && *st_str(st, "gave_up"), "bomber: %s",
         st_str(st, "state"));
    /* after the bombs the VM still works: a reload runs policy code */
    struct cli c = CLI(s, "reload");
    need(s, c.code == 0, "a reload after the bombs: exit %d: %s", c.code, c.err);
    held(s, "at load: exit 2, \"not enough memory\"; in hooks and tasks: %d runs stopped "
            "with \"not enough memory\", peak RSS %ld KiB, %ld KiB after; status answered "
            "within %.2f s at worst; a reload works after",
         count_from(s->t, 2, 0, "not enough memory"), hwm, rss, worst);
    baseline(s);
    finish(s, 0);
}

/* ---- deep recursion ---- */

static void deep_recursion(struct sc *s)
{
    const char *bad = policy_as(s, "bad.lua",
                                "local function f(n) return 1 + f(n + 1) end\nf(1)\n");
    struct topts none = {0};
    struct tend *t0 = tend_up(s, bad, in_dir(s, "bad.sock"), &none);
    s->t = NULL;
    int rc = tend_exit_wait(s, t0, WAIT);
    need(s, rc == 2 && count_from(t0, 2, 0, "stack overflow"),
         "recursion at load: exit %d, want 2 with \"stack overflow\": %.300s", rc,
         text_from(t0, 2, 0));

    const char *pol = policy(s, ANCHOR
        "tend.task(function() local function f(n) return 1 + f(n + 1) end f(1) end)\n"
        "tend.task(function()\n"
        "  local t = setmetatable({}, { __index = function(t, k) return t[k] end })\n"
        "  return t.x\n"
        "end)\n"
        "tend.task(function()\n"
        "  local function nest(n) return coroutine.wrap(function() return nest(n + 1) end)() end\n"
        "  nest(1)\n"
        "end)\n"
        "tend.task(function()\n"
        "  local f, e = load(string.rep(\"(\", 1e5) .. \"1\" .. string.rep(\")\", 1e5))\n"
        "  tend.log.warn(\"nested-parse: %s %s\", tostring(f), tostring(e))\n"
        "end)\n"
        "tend.task(function()\n"
        "  local function g(s) return (s:gsub(\".\", g)) end\n"
        "  g(\"xx\")\n"
        "end)\n"
        "tend.task(function()\n"
        "  local ok, e = pcall(string.find, \"x\", string.rep(\"(\", 100) .. \"x\" .. string.rep(\")\", 100))\n"
        "  tend.log.warn(\"captures: %s %s\", tostring(ok), tostring(e))\n"
        "end)\n");
    tend_up(s, pol, NULL, NULL);
    did(s, "unbounded recursion at load; then in tasks: Lua recursion, __index recursion, "
           "nested coroutines, a 100,000-deep expression given to load, gsub recursing "
           "through its callback, a pattern with 100 captures");
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    wait_for(s, s->t, 2, "nested-parse:", 1, "the nested parse");
    wait_for(s, s->t, 2, "captures:", 1, "the captures");
    sync_output(s);
    int overflows = count_from(s->t, 2, 0, "stack overflow");
    need(s, overflows >= 4, "%d stack overflows logged, want 4", overflows);
    need(s, count_from(s->t, 2, 0, "nested-parse: nil"), "the nested expression loaded");
    need(s, count_from(s->t, 2, 0, "captures: false"), "100 captures were accepted");
    held(s, "at load: exit 2, \"stack overflow\"; in tasks: %d overflows stopped and logged, "
            "the nested parse refused, 100 captures refused; tend unhurt",
         overflows);
    baseline(s);
    finish(s, 0);
}

/* ---- string.rep and friends ---- */

static void string_bombs(struct sc *s)
{
    const char *pol = policy(s, "tend.limits { memory = 64 * 1024 * 1024 }\n" ANCHOR
        "local function try(name, f)\n"
        "  tend.task(function() local ok, e = pcall(f); tend.log.warn(\"%s: %s\", name, tostring(e)) end)\n"
        "end\n"
        "try(\"rep40\", function() return string.rep(\"x\", 2^40) end)\n"
        "try(\"repsep\", function() return string.rep(\"x\", 1e9, \",\") end)\n"
        "try(\"rep31\", function() return (\"ab\"):rep(2^31) end)\n"
        "try(\"rep-empty\", function() return string.rep(\"\", 1e15) end)\n"
        "try(\"gsub\", function() return (string.rep(\"x\", 1e5):gsub(\"x\", string.rep(\"y\", 1e4))) end)\n"
        "try(\"concat\", function() local t = {} for i = 1, 1e6 do t[i] = string.rep(\"z\", 1000) end return table.concat(t) end)\n"
        "try(\"move\", function() return table.move({1}, 1, 2^40, 2) end)\n"
        "try(\"format\", function() return string.format(\"%099999999d\", 1) end)\n"
        "try(\"doubling\", function() local s = \"x\" while true do s = s .. s end end)\n"
        "tend.task(function() tend.sleep(0.05); tend.log.warn(\"still-alive\") end)\n");
    tend_up(s, pol, NULL, NULL);
    did(s, "with a 64 MiB cap: string.rep of 2^40, 1e9 with a separator, 2^31 of \"ab\", "
           "1e15 of \"\"; a gsub that grows 1e5 bytes to 1e9; a 1 GB table.concat; "
           "table.move over 2^40; a 100 MB format width; doubling a string without end");
    wait_up(s, s->t, NULL);
    double worst = ping_until(s, "still-alive", 1, "the bombs go off");
    static const char *const names[] = {"rep40", "repsep", "rep31", "rep-empty", "gsub",
                                        "concat", "move", "format", "doubling"};
    sync_output(s);
    int budget = count_from(s->t, 2, 0, "instruction budget exceeded");
    int memory = count_from(s->t, 2, 0, "not enough memory");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "warning: %s: ", names[i]);
        /* a budget stop ends the task past its pcall: no line then */
        if (!count_from(s->t, 2, 0, line))
            continue;
        snprintf(line, sizeof line, "warning: %s: nil", names[i]);
        need(s, !count_from(s->t, 2, 0, line), "%s did not fail", names[i]);
    }
    long hwm = hwm_kib(s->t->pid);
    need(s, hwm < CAP_BOUND, "tend's peak RSS %ld KiB with a 64 MiB cap", hwm);
    held(s, "each failed: %d stopped by the budget, %d by the memory cap, the others with an "
            "error; peak RSS %ld KiB; status answered within %.2f s at worst",
         budget, memory, hwm, worst);
    baseline(s);
    finish(s, 0);
}

/* ---- 100,000 procs declared ---- */

static void many_procs(struct sc *s)
{
    const char *pol = policy(s,
        "for i = 1, 100000 do\n"
        "  tend.proc { name = \"p\" .. i, cmd = { \"@C\", \"pause\" }, autostart = false }\n"
        "end\n" ANCHOR);
    double t0 = now();
    /* the load takes 2 s of CPU; on a loaded machine more than the loop
     * watchdog's 10 s of wall-clock time (see watchdog-wall-clock) */
    struct topts o = {.env = (const char *const[]){"TEND_WATCHDOG=60", NULL}};
    tend_up(s, pol, NULL, &o);
    did(s, "a policy that declares 100,000 procs (autostart off) and one that starts; "
           "`tend status` of 3 of them, `tend start`/`stop` of one");
    if (!expect_n(s, s->t, 1, 0, "anchor | paused", 1, 20))
        fail(s, "not loaded and started within 20 s (tend %s; stderr: %.300s)",
             s->t->exited ? "ended" : "running", text_from(s->t, 2, 0));
    double load = now() - t0;
    wait_up(s, s->t, NULL);
    struct cli c = CLI(s, "status", "--json", "p1", "p50000", "p100000");
    json_t *all = json_loads(c.out, 0, NULL);
    need(s, c.code == 0 && all && json_array_size(all) == 3 &&
                !strcmp(st_str(status_of(all, "p100000"), "state"), "pending"),
         "tend status --json p1 p50000 p100000: exit %d: %s", c.code, c.out);
    double status_secs = c.secs;
    c = CLI(s, "start", "p77777");
    need(s, c.code == 0, "tend start p77777: exit %d: %s", c.code, c.err);
    c = CLI(s, "stop", "p77777");
    need(s, c.code == 0, "tend stop p77777: exit %d: %s", c.code, c.err);
    long rss = rss_kib(s->t->pid);
    baseline(s);
    s->status_of = "anchor";  /* the whole table: a second or more, for nothing new */
    check_serving(s);
    double t1 = now();
    check_shutdown(s, 0);
    held(s, "loaded and running in %.2f s; `tend status` of 3 of them in %.2f s; start and "
            "stop of one worked; RSS %ld KiB; shutdown in %.2f s",
         load, status_secs, rss, now() - t1);
    check_no_tagged(s);
}

/* ---- bytecode ---- */

static void bytecode(struct sc *s)
{
    /* a policy file that is a binary chunk (the signature and garbage) */
    char bin[256] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n\x04\x08\x08";
    for (size_t i = 15; i < sizeof bin - 1; i++)
        bin[i] = (char)(i * 37 + 11);
    bin[sizeof bin - 1] = '\0';
    FILE *f = fopen(in_dir(s, "bin.lua"), "wb");
    need(s, f, "cannot write bin.lua");
    fwrite(bin, 1, sizeof bin - 1, f);
    fclose(f);
    struct topts none = {0};
    struct tend *t0 = tend_up(s, in_dir(s, "bin.lua"), in_dir(s, "bin.sock"), &none);
    s->t = NULL;
    int rc = tend_exit_wait(s, t0, WAIT);
    need(s, rc == 2 && count_from(t0, 2, 0, "binary chunk"),
         "a binary policy file: exit %d, want 2 naming the binary chunk: %.300s", rc,
         text_from(t0, 2, 0));

    const char *pol = policy(s, ANCHOR
        "local function try(name, f)\n"
        "  tend.task(function() local ok, a, b = pcall(f); tend.log.warn(\"%s: %s %s %s\", name, tostring(ok), tostring(a), tostring(b)) end)\n"
        "end\n"
        "local chunk = string.dump(function() return 42 end)\n"
        "local bad = chunk:sub(1, 20) .. string.rep(\"\\255\", #chunk - 20)\n"
        "local fh = io.open(\"@D/chunk.luac\", \"wb\"); fh:write(chunk); fh:close()\n"
        "try(\"load\", function() return load(chunk) end)\n"
        "try(\"load-b\", function() return load(chunk, \"c\", \"b\") end)\n"
        "try(\"load-bt\", function() return load(chunk, \"c\", \"bt\") end)\n"
        "try(\"load-bad\", function() return load(bad, \"c\", \"b\") end)\n"
        "try(\"loadfile\", function() return loadfile(\"@D/chunk.luac\", \"b\") end)\n"
        "try(\"dofile\", function() return dofile(\"@D/chunk.luac\") end)\n"
        "try(\"require\", function() package.path = \"@D/?.luac\"; return require(\"chunk\") end)\n"
        "try(\"reader\", function() local done; return load(function() if done then return nil end done = true return chunk end) end)\n");
    tend_up(s, pol, NULL, NULL);
    did(s, "a policy file that is a binary chunk; then in tasks: load of a string.dump chunk "
           "(mode default, \"b\", \"bt\"), of a corrupted one, through a reader function, "
           "loadfile, dofile and require of a .luac file");
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    static const char *const names[] = {"load",     "load-b", "load-bt", "load-bad",
                                        "loadfile", "dofile", "require", "reader"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "warning: %s: ", names[i]);
        wait_for(s, s->t, 2, line, 1, names[i]);
        const char *p = strstr(text_from(s->t, 2, 0), line) + strlen(line);
        /* refused: pcall false (raised), or true with a nil function */
        need(s, !strncmp(p, "false", 5) || !strncmp(p, "true nil", 8),
             "%s of a binary chunk was not refused: %.120s", names[i], p);
        const char *why = strstr(p, "binary chunk");
        need(s, why && why - p < 300, "%s: the refusal does not say why: %.300s", names[i], p);
    }
    held(s, "the binary policy file: exit 2, naming the binary chunk; all 8 loads refused "
            "with a message about binary chunks; tend unhurt");
    baseline(s);
    finish(s, 0);
}

/* ---- a readiness pattern with catastrophic backtracking ---- */

static void ready_pattern(struct sc *s)
{
    const char *pol = policy(s, ANCHOR
        "tend.proc { name = \"slow\", cmd = { \"@C\", \"lines64k\", \"1\", \"forever\" },\n"
        "            ready = tend.ready.log(\".-.-.-.-.-b\") }\n"
        "tend.task(function()\n"
        "  local ok, e = pcall(string.find, string.rep(\"a\", 5e4), \".-.-.-.-b\")\n"
        "  tend.log.warn(\"find: %s %s\", tostring(ok), tostring(e))\n"
        "end)\n");
    struct topts o = {.out = OUT_COUNT};
    tend_up(s, pol, NULL, &o);
    did(s, "a proc that prints 64 KiB lines of 'a' without end, whose readiness pattern is "
           "\".-.-.-.-.-b\"; a task that runs string.find(\"a\" x 50,000, \".-.-.-.-b\")");
    wait_for(s, s->t, 2, "too much work on a line", 1, "the readiness pattern's refusal");
    wait_up(s, s->t, NULL);
    /* a second of it: CPU and output measured, the status asked for
     * meanwhile */
    double worst = 0;
    long c0 = cpu_ticks(s->t->pid);
    unsigned long long b0 = text_end(s->t, 1);
    double t0 = now();
    while (now() - t0 < 1.0) {
        double secs;
        need(s, ping(s, NULL, WAIT, &secs), "tend did not answer within %gs", WAIT);
        if (secs > worst)
            worst = secs;
        hold(s, 0.1);
    }
    double span = now() - t0;
    double cpu = (double)(cpu_ticks(s->t->pid) - c0) / ticks_per_sec() / span;
    double rate = (double)(text_end(s->t, 1) - b0) / span / 1e6;
    need(s, worst < 5.0, "a status took %.2f s while the pattern ran", worst);
    need(s, count_from(s->t, 2, 0, "too much work on a line") == 1,
         "the refusal was logged %d times", count_from(s->t, 2, 0, "too much work on a line"));
    /* the budget stops the find past its pcall */
    wait_for(s, s->t, 2, "instruction budget exceeded", 1, "the find's stop");
    if (count_from(s->t, 2, 0, "find: true"))
        fail(s, "string.find ran to its end: %s", strstr(text_from(s->t, 2, 0), "find:"));
    json_t *st = status_of(statuses(s, NULL), "slow");
    need(s, !strcmp(st_str(st, "state"), "running"), "slow: %s, want running (not ready)",
         st_str(st, "state"));
    unsigned long long bytes = text_end(s->t, 1);
    struct cli c = CLI(s, "stop", "slow");
    need(s, c.code == 0, "tend stop slow: exit %d: %s", c.code, c.err);
    held(s, "the pattern gave up on each line (said once), the proc stayed running, not "
            "ready; %.1f MB of lines in all, %.1f MB/s with tend at %.0f%% CPU; statuses "
            "answered within %.3f s at worst; the find stopped by the budget",
         (double)bytes / 1e6, rate, cpu * 100, worst);
    baseline(s);
    finish(s, 0);
}

/* ---- the loop watchdog counts time tend spends stopped ---- */

static void watchdog_clock(struct sc *s)
{
    const char *pol = policy(s,
        "tend.limits { instructions = 2000000000 }\n"
        "tend.log.warn(\"load-begins\")\n"
        "local x = 0\n"
        "for i = 1, 1e7 do x = x + i end\n"
        "tend.log.warn(\"load-done\")\n" ANCHOR);
    struct topts o = {.env = (const char *const[]){"TEND_WATCHDOG=2", NULL}};
    tend_up(s, pol, NULL, &o);
    did(s, "TEND_WATCHDOG=2; a policy whose load computes for about 0.3 s; SIGSTOP to tend "
           "during the load, SIGCONT 2.5 s later");
    wait_for(s, s->t, 2, "load-begins", 1, "the load");
    kill(s->t->pid, SIGSTOP);
    siginfo_t si;
    need(s, waitid(P_PID, (id_t)s->t->pid, &si, WSTOPPED | WNOWAIT) == 0, "waitid");
    sync_output(s);
    need(s, !count_from(s->t, 2, 0, "load-done"), "the load was over before tend was stopped");
    hold(s, 2.5);
    kill(s->t->pid, SIGCONT);
    if (!expect_n(s, s->t, 1, 0, "anchor | paused", 1, WAIT)) {
        int rc = tend_exit_wait(s, s->t, WAIT);
        if (rc == 70)
            defect(s, "tend's watchdog ended it (exit 70: \"%.120s\") for 0.3 s of work: the "
                      "2.5 s it was stopped counted as the policy being stuck (ITIMER_REAL)",
                   strstr(text_from(s->t, 2, 0), "watchdog") ? strstr(text_from(s->t, 2, 0),
                                                                      "watchdog")
                                                             : "?");
        fail(s, "tend did not go on after SIGCONT (exit %d)", rc);
    }
    held(s, "the load went on after SIGCONT and tend ran the policy");
    wait_up(s, s->t, NULL);
    baseline(s);
    finish(s, 0);
}

const struct scenario sc_lua[] = {
    {"lua-hook-errors", hook_errors, 30, NULL},
    {"lua-runaway", runaway, 40, NULL},
    {"lua-memory-bomb", memory_bomb, 40, NULL},
    {"lua-deep-recursion", deep_recursion, 30, NULL},
    {"lua-string-bombs", string_bombs, 40, NULL},
    {"lua-100k-procs", many_procs, 60, NULL},
    {"lua-bytecode", bytecode, 30, NULL},
    {"lua-ready-pattern", ready_pattern, 30, NULL},
    {"watchdog-wall-clock", watchdog_clock, 30,
     "D3: the loop watchdog counts wall-clock time (ITIMER_REAL): time tend spends stopped "
     "(SIGSTOP, a frozen container, a suspended VM) or waiting for a CPU during a policy run "
     "counts as stuck code; tend then kills every proc and exits 70"},
    {NULL, NULL, 0, NULL},
};
