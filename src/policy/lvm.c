/* lvm.c -- the capped allocator, the budget hook and coroutine runs. */
#include "policy/lvm.h"

#include <lauxlib.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/groups.h"

#include "base/log.h"
#include "base/output.h"
#include "base/util.h"

/* Registry table: running coroutine -> { who = name|false, task = bool }.
 * It anchors each coroutine while it waits. */
static const char cos_key = 'c';

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lvm *vm = ud;
    if (!ptr)
        osize = 0;  /* osize is a type tag for new blocks */
    if (nsize == 0) {
        free(ptr);
        vm->mem_used -= osize;
        return NULL;
    }
    if (nsize > osize && vm->mem_used + (nsize - osize) > vm->mem_cap)
        return NULL;  /* Lua raises "not enough memory" in the script */
    void *p = realloc(ptr, nsize);
    if (p)
        vm->mem_used = vm->mem_used - osize + nsize;
    return p;
}


static const char vm_key = 'v';  /* registry: the struct lvm of the state */

struct lvm *lvm_new(void)
{
    struct lvm *vm = xcalloc(1, sizeof *vm);
    vm->mem_cap = LVM_MEM_CAP_DEFAULT;
    vm->budget = LVM_BUDGET_DEFAULT;
    vm->L = lua_newstate(capped_alloc, vm);
    if (!vm->L) {
        free(vm);
        return NULL;
    }
    lua_newtable(vm->L);
    lua_rawsetp(vm->L, LUA_REGISTRYINDEX, &cos_key);
    lua_pushlightuserdata(vm->L, vm);
    lua_rawsetp(vm->L, LUA_REGISTRYINDEX, &vm_key);
    return vm;
}

struct lvm *lvm_of(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &vm_key);
    struct lvm *vm = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return vm;
}

void lvm_free(struct lvm *vm)
{
    if (!vm)
        return;
    if (vm->L)
        lua_close(vm->L);
    free(vm);
}

/* ---- the loop watchdog ----
 *
 * The last resort, for policy code stuck where neither the budget nor the
 * memory cap can reach (in C, a finalizer): while Lua runs, a timer on the
 * loop thread's CPU time is armed (CPU time, not wall-clock time: a tend
 * that is stopped, frozen with its container or waiting for a CPU is not
 * stuck).  When the run has used `watchdog` seconds of CPU without coming
 * back, the flag below is set; the budget hook sees it within a quantum
 * if Lua is still executing, logs the traceback and ends tend.  If Lua is
 * not executing (stuck in C), the second expiry, a CPU second later, ends tend
 * from the signal handler: every process group is SIGKILLed and tend exits
 * with LVM_WATCHDOG_EXIT.  Failing loudly beats hanging: a supervisor of
 * tend (systemd, Kubernetes) restarts it. */

static double watchdog;                  /* CPU seconds; 0: off */
static timer_t watchdog_timer;
static volatile sig_atomic_t watchdog_fired;
static char watchdog_who[80];            /* what ran: for the signal handler */
static char watchdog_secs[32];           /* watchdog + 1, as text */

static void watchdog_write(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static void watchdog_handler(int sig)
{
    if (!watchdog_fired) {
        watchdog_fired = 1;  /* the hook may still end it with a traceback */
        return;
    }
    watchdog_write("tend: error: watchdog: policy code has used over ");
    watchdog_write(watchdog_secs);
    watchdog_write(" s of CPU without returning to the event loop, stuck outside Lua (");
    watchdog_write(watchdog_who);
    watchdog_write("): killing every proc and exiting\n");
    groups_kill_all(SIGKILL);
    output_restore_flags();  /* the terminal's flags back (fcntl only) */
    _exit(LVM_WATCHDOG_EXIT);
}

void lvm_watchdog_start(double seconds)
{
    watchdog = seconds;
    if (seconds <= 0)
        return;
    snprintf(watchdog_secs, sizeof watchdog_secs, "%g", seconds + 1);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = watchdog_handler;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    /* the loop's thread: tend.exec's and the resolver's threads do not
     * count, and the signal comes to this thread */
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGALRM;
    ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &watchdog_timer) != 0)
        watchdog = 0;  /* no such timer: no watchdog (said in the README) */
}

static void watchdog_arm(const char *who)
{
    if (watchdog <= 0)
        return;
    snprintf(watchdog_who, sizeof watchdog_who, "%s", who ? who : "the policy");
    watchdog_fired = 0;
    struct itimerspec it = {{1, 0},
                            {(time_t)watchdog, (long)((watchdog - (time_t)watchdog) * 1e9)}};
    timer_settime(watchdog_timer, 0, &it, NULL);
}

static void watchdog_disarm(void)
{
    if (watchdog <= 0)
        return;
    struct itimerspec off = {{0, 0}, {0, 0}};
    timer_settime(watchdog_timer, 0, &off, NULL);
    watchdog_fired = 0;
}

/* From the budget hook, with the flag set: Lua is executing, so the
 * traceback can be had. */
static void watchdog_end(lua_State *L)
{
    luaL_traceback(L, L, NULL, 0);
    log_error(NULL, "watchdog: policy code has used %g s of CPU without returning to the "
              "event loop (%s is running): "
              "killing every proc and exiting\n%s", watchdog, watchdog_who,
              lua_tostring(L, -1));
    groups_kill_all(SIGKILL);
    output_finish();  /* what is buffered, this line too, goes out first */
    _exit(LVM_WATCHDOG_EXIT);
}

/* The budget is counted in quanta: the hook runs every LVM_QUANTUM
 * instructions of any thread of the VM (coroutines the policy creates
 * inherit it) and takes a quantum from the one budget of the current run,
 * so fresh coroutines do not bring fresh budgets.  Once it is spent, raise
 * at every line and instruction until the error leaves the coroutine: a
 * pcall in the script only delays it. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
    if (watchdog_fired)
        watchdog_end(L);
    struct lvm *vm = lvm_of(L);
    if (!vm || !vm->armed)
        return;  /* not in a run (lvm_arm): nothing to count against */
    if (lua_gethookcount(L) != LVM_QUANTUM) {
        /* a thread left raising by an earlier run's spent budget */
        if (vm->budget_left > 0) {
            lua_sethook(L, budget_hook, LUA_MASKCOUNT, LVM_QUANTUM);
            return;
        }
    } else if ((vm->budget_left -= LVM_QUANTUM) > 0) {
        return;
    }
    lua_sethook(L, budget_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
    /* where: the innermost Lua function (level 0 is a C function when
     * lvm_charge raises) */
    lua_Debug d;
    int level = 0;
    while (lua_getstack(L, level, &d) && lua_getinfo(L, "l", &d) && d.currentline <= 0)
        level++;
    luaL_where(L, level);
    lua_pushliteral(L, "instruction budget exceeded: the code ran too long without waiting");
    lua_concat(L, 2);
    lua_error(L);
}

void lvm_charge(lua_State *L, long units)
{
    struct lvm *vm = lvm_of(L);
    if (!vm || !vm->armed || (vm->budget_left -= units) > 0)
        return;
    budget_hook(L, NULL);
}

void lvm_arm(struct lvm *vm, lua_State *co)
{
    if (vm->armed++ == 0) {
        vm->budget_left = vm->budget;  /* one budget for the whole run */
        watchdog_arm(vm->running_for);
    }
    lua_sethook(co, budget_hook, LUA_MASKCOUNT, LVM_QUANTUM);
}

void lvm_disarm(struct lvm *vm, lua_State *co)
{
    /* a nested run may share its thread with the run it nests in */
    if (vm->armed > 0 && --vm->armed == 0) {
        lua_sethook(co, NULL, 0, 0);
        watchdog_disarm();
    }
}

int lvm_yield(lua_State *L)
{
    lvm_of(L)->yield_ok = true;
    return lua_yield(L, 0);
}

int lvm_yieldk(lua_State *L, lua_KContext ctx, lua_KFunction k)
{
    lvm_of(L)->yield_ok = true;
    return lua_yieldk(L, 0, ctx, k);
}

bool lvm_can_wait(lua_State *L)
{
    /* only a coroutine tend runs may wait: one the policy made itself
     * would be resumed by nobody, or after it was collected */
    bool ours = false;
    if (lua_isyieldable(L)) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &cos_key);
        lua_pushthread(L);
        ours = lua_rawget(L, -2) == LUA_TTABLE;
        lua_pop(L, 2);
    }
    return ours;
}

void lvm_check_yieldable(lua_State *L, const char *what)
{
    if (!lvm_can_wait(L))
        luaL_error(L, "%s can only wait inside a hook or a task (tend.task), not in "
                   "a restart function, while loading, or in a coroutine of the policy's own",
                   what);
}

struct traceback {
    lua_State *co;
    const char *msg;
    char *out;
};

static int traceback_protected(lua_State *L)
{
    struct traceback *t = lua_touserdata(L, 1);
    luaL_traceback(L, t->co, t->msg, 0);
    t->out = xstrdup(lua_tostring(L, -1));
    return 0;
}

char *lvm_traceback(lua_State *co, lua_State *L)
{
    const char *msg = lua_type(co, -1) == LUA_TSTRING ? lua_tostring(co, -1)
                      : lua_isnumber(co, -1)           ? "(error object is a number)"
                                                       : NULL;
    if (!msg)
        msg = luaL_typename(co, -1);  /* a table or such: say what it is */
    /* building the traceback allocates, and the VM may be out of memory:
     * then the message alone */
    struct traceback t = {co, msg, NULL};
    lua_pushcfunction(L, traceback_protected);
    lua_pushlightuserdata(L, &t);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        lua_pop(L, 1);
        free(t.out);
        return xstrdup(msg);
    }
    return t.out;
}

bool lvm_protected(lua_State *L, lua_CFunction fn, void *ud, const char *who,
                   const char *what)
{
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, ud);
    if (lua_pcall(L, 1, 0, 0) == LUA_OK)
        return true;
    log_error(who, "%s: %s", what, lua_tostring(L, -1));
    lua_pop(L, 1);
    return false;
}

/* Forget a coroutine that has ended; returns whether it was a task. */
static bool forget(struct lvm *vm, lua_State *co, char **who)
{
    lua_State *L = vm->L;
    bool task = false;
    *who = NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &cos_key);
    lua_pushthread(co);
    lua_xmove(co, L, 1);
    if (lua_rawget(L, -2) == LUA_TTABLE) {
        lua_getfield(L, -1, "task");
        task = lua_toboolean(L, -1);
        lua_getfield(L, -2, "who");
        if (lua_type(L, -1) == LUA_TSTRING)
            *who = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    lua_pushthread(co);
    lua_xmove(co, L, 1);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    return task;
}

static void resume_from(struct lvm *vm, lua_State *from, lua_State *co, int nargs);

void lvm_resume(struct lvm *vm, lua_State *co, int nargs)
{
    resume_from(vm, vm->L, co, nargs);
}

/* Resume `co` on behalf of `from`, the thread whose C calls it nests in (so
 * Lua's C-stack limit sees nested starts, e.g. tasks that start tasks). */
static void resume_from(struct lvm *vm, lua_State *from, lua_State *co, int nargs)
{
    int nres;
    bool saved = vm->yield_ok;
    vm->yield_ok = false;
    lvm_arm(vm, co);
    int st = lua_resume(co, from, nargs, &nres);
    lvm_disarm(vm, co);
    bool waits = vm->yield_ok;
    vm->yield_ok = saved;
    if (st == LUA_YIELD && waits) {
        lua_pop(co, nres);  /* it registered what it waits for */
        return;
    }
    if (st == LUA_YIELD) {
        /* coroutine.yield() straight to tend: nobody would resume it */
        lua_pop(co, nres);
        lua_pushliteral(co, "coroutine.yield() outside a coroutine of the policy's own: "
                            "tend resumes only its own waits (tend.sleep, proc:wait, ...)");
        st = LUA_ERRRUN;
    }
    char *who;
    bool task;
    if (st != LUA_OK) {
        char *tb = lvm_traceback(co, vm->L);
        task = forget(vm, co, &who);
        log_error(who, "%s", tb);
        free(tb);
    } else {
        task = forget(vm, co, &who);
    }
    free(who);
    lvm_arm(vm, co);  /* its to-be-closed variables run now: on a budget too */
    lua_resetthread(co);
    lvm_disarm(vm, co);
    if (st == LUA_ERRMEM)
        lua_gc(vm->L, LUA_GCCOLLECT);  /* give the survivors room again */
    if (task && --vm->tasks == 0 && vm->tasks_changed)
        vm->tasks_changed(vm->tasks_ud, vm->tasks);
}

lua_State *lvm_start(struct lvm *vm, int nargs, const char *who, bool task)
{
    return lvm_start_from(vm, vm->L, nargs, who, task);
}

lua_State *lvm_start_from(struct lvm *vm, lua_State *from, int nargs, const char *who,
                          bool task)
{
    lua_State *L = vm->L;
    lua_State *co = lua_newthread(L);
    /* anchor: cos[co] = { who = who, task = task } */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &cos_key);
    lua_pushvalue(L, -2);
    lua_createtable(L, 0, 2);
    if (who)
        lua_pushstring(L, who);
    else
        lua_pushboolean(L, 0);
    lua_setfield(L, -2, "who");
    lua_pushboolean(L, task);
    lua_setfield(L, -2, "task");
    lua_rawset(L, -3);
    lua_pop(L, 2);  /* cos table, thread */
    /* move the function and its arguments onto the coroutine */
    lua_xmove(L, co, nargs + 1);
    if (task && vm->tasks++ == 0 && vm->tasks_changed)
        vm->tasks_changed(vm->tasks_ud, vm->tasks);
    const char *saved = vm->running_for;
    if (!vm->armed)
        vm->running_for = who;
    resume_from(vm, from, co, nargs);
    vm->running_for = saved;
    return lvm_running(vm, co) ? co : NULL;
}

bool lvm_running(struct lvm *vm, lua_State *co)
{
    lua_State *L = vm->L;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &cos_key);
    lua_pushthread(co);
    lua_xmove(co, L, 1);
    bool alive = lua_rawget(L, -2) == LUA_TTABLE;
    lua_pop(L, 2);
    return alive;
}

void lvm_end(struct lvm *vm, lua_State *co)
{
    char *who;
    bool task = forget(vm, co, &who);
    free(who);
    lvm_arm(vm, co);
    lua_resetthread(co);
    lvm_disarm(vm, co);
    if (task && --vm->tasks == 0 && vm->tasks_changed)
        vm->tasks_changed(vm->tasks_ud, vm->tasks);
}
