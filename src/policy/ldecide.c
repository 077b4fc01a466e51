/* ldecide.c -- the restart decision: a restart function of the policy is
 * asked first (in a coroutine that may not wait), then restart.c applies
 * the modes, backoff and give-up window with the proc's own counters. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdlib.h>

#include "policy/lbind.h"
#include "base/log.h"
#include "policy/lvm.h"
#include "base/restart.h"
#include "base/util.h"

struct decision {
    struct proc *p;
    struct status *st;
    double delay;
};

/* Run the restart function (stack: fn, proc, status) in a coroutine that
 * may not wait.  True with d->delay set when it answered. */
static bool call_restart_function(lua_State *L, struct policy *pol, struct decision *d)
{
    lua_State *co = lua_newthread(L);
    lua_insert(L, -4);
    lua_xmove(L, co, 3);
    int nres;
    lvm_arm(pol->vm, co);
    int rc = lua_resume(co, L, 2, &nres);
    lvm_disarm(pol->vm, co);
    bool answered = false;
    const char *name = proc_spec(d->p)->name;
    if (rc == LUA_YIELD) {
        log_error(name, "restart function: it may not wait; deciding as \"on-failure\"");
    } else if (rc != LUA_OK) {
        char *tb = lvm_traceback(co, L);
        log_error(name, "restart function: %s; deciding as \"on-failure\"", tb);
        free(tb);
    } else if (nres >= 1 && lua_type(co, -nres) == LUA_TNUMBER) {
        double v = lua_tonumber(co, -nres);
        d->delay = v >= 0 ? v : 0;
        answered = true;
    } else if (nres == 0 || !lua_toboolean(co, -nres)) {
        d->delay = -1;
        answered = true;
    } else {
        log_error(name, "restart function returned a %s, not seconds or false; "
                  "deciding as \"on-failure\"", luaL_typename(co, -nres));
    }
    lua_resetthread(co);
    lua_pop(L, 1);  /* the thread */
    return answered;
}

/* Ask the restart function (stack: nothing) what follows d->st. */
static int decide_protected(lua_State *L)
{
    struct decision *d = lua_touserdata(L, 1);
    struct policy *pol = policy_of(L);
    lproc_push(L, d->p);  /* 2 */
    lua_getiuservalue(L, 2, UV_RESTART);
    lproc_push(L, d->p);
    lstatus_push(L, d->st, proc_spec(d->p)->name);
    if (!call_restart_function(L, pol, d))
        d->delay = NAN;  /* it raised: decided as "on-failure" */
    return 0;
}

/* The restart decision (restart.c); a restart function is asked first,
 * in Lua.  The counters are the proc's: a reload that keeps the
 * declaration keeps them. */
double ldecide_restart(struct proc *p, struct status *st, void *data)
{
    struct policy *pol = data;
    double answer = NAN;
    if (proc_spec(p)->restart.mode == RESTART_FUNCTION) {
        struct decision d = {p, st, -1};
        lua_State *L = pol->L;
        lua_pushcfunction(L, decide_protected);
        lua_pushlightuserdata(L, &d);
        lvm_arm(pol->vm, L);
        int rc = lua_pcall(L, 1, 0, 0);
        lvm_disarm(pol->vm, L);
        if (rc != LUA_OK) {
            log_error(proc_spec(p)->name, "restart function: %s; deciding as \"on-failure\"",
                      lua_tostring(L, -1));
            lua_pop(L, 1);
        } else {
            answer = d.delay;
        }
    }
    char why[96];
    double delay = restart_decide(&proc_spec(p)->restart, proc_restart_state(p), st, now_mono(),
                                  (double)random() / RAND_MAX * 2 - 1, answer, why, sizeof why);
    if (delay < 0 && why[0])
        st->gave_up = xstrdup(why);
    return delay;
}
