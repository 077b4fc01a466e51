/* lcheck.c -- the checks the core cannot run itself: readiness and health
 * functions, each run in a coroutine that reports its answer to the proc. */
#include <lauxlib.h>
#include <lua.h>

#include "policy/lbind.h"
#include "policy/lvm.h"

static const char runner_key = 'r';  /* registry: the check runner */

/* report(proc, purpose, gen, ok, why): a function check's answer. */
static int check_report(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    int purpose = (int)luaL_checkinteger(L, 2);
    unsigned gen = (unsigned)luaL_checkinteger(L, 3);
    bool ok = lua_toboolean(L, 4);
    const char *why = luaL_optstring(L, 5, NULL);
    if (!ok && !why)
        why = purpose == CHECK_READY ? "the readiness function returned false"
                                     : "the health function returned false";
    proc_check_done(p, purpose == CHECK_READY ? CHECK_READY : CHECK_HEALTH, gen, ok, why);
    return 0;
}

/* Runs fn(proc) in the hook's coroutine and reports; pcall keeps an error
 * from leaving the check unanswered (the budget still stops it). */
static const char runner_src[] =
    "local report = ...\n"
    "return function(fn, proc, purpose, gen)\n"
    "  local ok, res, why = pcall(fn, proc)\n"
    "  if not ok then return report(proc, purpose, gen, false, tostring(res)) end\n"
    "  report(proc, purpose, gen, res and true or false, why ~= nil and tostring(why) or nil)\n"
    "end\n";

static void push_runner(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &runner_key) == LUA_TFUNCTION)
        return;
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, runner_src, sizeof runner_src - 1, "=tend.check") != LUA_OK)
        lua_error(L);
    lua_pushcfunction(L, check_report);
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &runner_key);
}

struct check_call {
    struct proc *p;
    enum check_purpose purpose;
    unsigned gen;
};

static const char checkcos_key = 'k';  /* registry: (proc, purpose) -> its check coroutine */

static int run_check_protected(lua_State *L)
{
    struct check_call *cc = lua_touserdata(L, 1);
    struct policy *pol = policy_of(L);
    /* a check of this proc and purpose still waiting is past its time (a
     * health timeout, a new incarnation): end it, or such checks pile up */
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &checkcos_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &checkcos_key);
    }
    int cos = lua_gettop(L);
    void *key = (char *)cc->p + cc->purpose;
    if (lua_rawgetp(L, cos, key) == LUA_TTHREAD) {
        lua_State *old = lua_tothread(L, -1);
        if (lvm_running(pol->vm, old)) {
            lwait_cancel_of(pol, old);
            lvm_end(pol->vm, old);
        }
    }
    lua_pop(L, 1);
    push_runner(L);
    lproc_push(L, cc->p);
    lua_getiuservalue(L, -1, cc->purpose == CHECK_READY ? UV_READY : UV_HEALTH);
    lua_insert(L, -2);  /* runner, fn, proc */
    lua_pushinteger(L, cc->purpose);
    lua_pushinteger(L, cc->gen);
    lua_State *co = lvm_start(pol->vm, 4, proc_spec(cc->p)->name, false);
    if (co) {
        lua_pushthread(co);
        lua_xmove(co, L, 1);
    } else {
        lua_pushnil(L);
    }
    lua_rawsetp(L, cos, key);
    return 0;
}

void lcheck_run(struct proc *p, enum check_purpose purpose, unsigned gen, void *data)
{
    struct policy *pol = data;
    struct check_call cc = {p, purpose, gen};
    lvm_protected(pol->L, run_check_protected, &cc, proc_spec(p)->name, "starting a check");
}
