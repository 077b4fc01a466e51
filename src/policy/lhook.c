/* lhook.c -- hooks: Lua functions run, each as a coroutine on the
 * instruction budget, when a proc enters a state (tend.on for every proc,
 * proc:on for one). */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "policy/lbind.h"
#include "policy/lvm.h"
#include "base/util.h"

static const char hooks_key = 'h';  /* registry: state -> list of global hooks */

static bool valid_hook_state(const char *s)
{
    int st = status_state_parse(s);
    return (st >= 0 && st != ST_PENDING) || strcmp(s, "*") == 0 ||
           strcmp(s, "gave_up") == 0;
}

/* Append the function at idx to list t[key] of the table at tidx. */
static void add_hook(lua_State *L, int tidx, const char *key, int fidx)
{
    tidx = lua_absindex(L, tidx);
    fidx = lua_absindex(L, fidx);
    if (lua_getfield(L, tidx, key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, tidx, key);
    }
    lua_pushvalue(L, fidx);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
    policy_of(L)->nhooks++;
}

static const char *check_hook_args(lua_State *L, int sidx)
{
    const char *state = luaL_checkstring(L, sidx);
    if (!valid_hook_state(state))
        luaL_argerror(L, sidx, lua_pushfstring(L, "'%s' is not a state, \"*\" or \"gave_up\"", state));
    luaL_checktype(L, sidx + 1, LUA_TFUNCTION);
    return state;
}

int lhook_on_global(lua_State *L)
{
    const char *state = check_hook_args(L, 1);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &hooks_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &hooks_key);
    }
    add_hook(L, -1, state, 2);
    return 0;
}

/* proc:on(state, fn): register a hook of the proc. */
int lhook_on(lua_State *L)
{
    luaL_checkudata(L, 1, PROC_MT);
    const char *state = check_hook_args(L, 2);
    if (lua_getiuservalue(L, 1, UV_HOOKS) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, 1, UV_HOOKS);
    }
    add_hook(L, -1, state, 3);
    lua_settop(L, 1);
    return 1;
}

struct transition {
    struct proc *p;
    const struct status *now, *prev;
};

/* Start each hook of list t[key] (t at tidx) with `nargs` arguments found
 * at args..args+nargs-1. */
static void run_hooks(struct policy *pol, int tidx, const char *key, int args,
                      int nargs, const char *who)
{
    lua_State *L = pol->L;
    if (lua_type(L, tidx) != LUA_TTABLE)
        return;
    if (lua_getfield(L, tidx, key) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    int list = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        for (int a = 0; a < nargs; a++)
            lua_pushvalue(L, args + a);
        lvm_start(pol->vm, nargs, who, false);
    }
    lua_pop(L, 1);
}

static int hooks_protected(lua_State *L)
{
    struct transition *t = lua_touserdata(L, 1);
    struct policy *pol = policy_of(L);
    const char *who = proc_spec(t->p)->name;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &hooks_key);  /* 2: global hooks */
    lproc_push(L, t->p);                            /* 3 */
    lua_getiuservalue(L, 3, UV_HOOKS);              /* 4: the proc's hooks */
    lproc_push(L, t->p);                            /* 5: arguments */
    lstatus_push(L, t->now, who);                   /* 6 */
    lstatus_push(L, t->prev, who);                  /* 7 */
    const char *state = status_state_name(t->now->state);
    run_hooks(pol, 2, state, 5, 3, who);
    run_hooks(pol, 2, "*", 5, 3, who);
    run_hooks(pol, 4, state, 5, 3, who);
    run_hooks(pol, 4, "*", 5, 3, who);
    if (status_is_terminal(t->now->state) && t->now->gave_up) {
        run_hooks(pol, 2, "gave_up", 5, 2, who);
        run_hooks(pol, 4, "gave_up", 5, 2, who);
    }
    return 0;
}

static void hook_cb(struct proc *p, const struct status *now,
                    const struct status *prev, void *data)
{
    struct policy *pol = data;
    if (pol->nhooks == 0)
        return;
    struct transition t = {p, now, prev};
    lvm_protected(pol->L, hooks_protected, &t, proc_spec(p)->name, "running hooks");
}

void lhook_follow(struct policy *pol, struct proc *p)
{
    if (pol->nfollows == pol->capfollows) {
        pol->capfollows = pol->capfollows ? pol->capfollows * 2 : 16;
        pol->follows = xrealloc(pol->follows, pol->capfollows * sizeof *pol->follows);
    }
    pol->follows[pol->nfollows].p = p;
    pol->follows[pol->nfollows].sub = proc_subscribe(p, hook_cb, pol);
    pol->nfollows++;
}

void lhook_unfollow(struct policy *pol, struct proc *p)
{
    for (size_t i = 0; i < pol->nfollows; i++)
        if (pol->follows[i].p == p) {
            proc_unsubscribe(p, pol->follows[i].sub);
            pol->follows[i] = pol->follows[--pol->nfollows];
            return;
        }
}

void lhook_unfollow_all(struct policy *pol)
{
    for (size_t i = 0; i < pol->nfollows; i++)
        proc_unsubscribe(pol->follows[i].p, pol->follows[i].sub);
    pol->nfollows = 0;
}
