/* lset.c -- the set object of a declaration with `replicas` (SPEC 3):
 * `tend.proc{ replicas = N, ... }` returns it, `tend.get(NAME)` finds it.
 * `set:procs()` lists the replicas' handles, `set:scale(n)` changes N and
 * waits, like proc:start(), until the new replicas are ready and the
 * removed ones are gone.  The set holds its name and its declaration
 * table (whose functions the replicas made at run time get); the
 * replicas themselves are the policy's (policy.c) and the manager's. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "policy/lbind.h"
#include "policy/lvm.h"
#include "core/manager.h"
#include "base/util.h"

static const char sets_key = 's';  /* registry: set name -> set object */

/* uservalue slots of a set object */
enum { SV_NAME = 1, SV_DECL = 2, SV_COUNT = 2 };

void lset_new(lua_State *L, const char *name, int decl)
{
    decl = lua_absindex(L, decl);
    lua_newuserdatauv(L, 1, SV_COUNT);
    lua_pushstring(L, name);
    lua_setiuservalue(L, -2, SV_NAME);
    lua_pushvalue(L, decl);
    lua_setiuservalue(L, -2, SV_DECL);
    luaL_setmetatable(L, SET_MT);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &sets_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &sets_key);
    }
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

bool lset_push(lua_State *L, const char *name)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &sets_key) != LUA_TTABLE ||
        lua_getfield(L, -1, name) != LUA_TUSERDATA) {
        lua_pop(L, lua_type(L, -1) == LUA_TTABLE ? 1 : 2);
        return false;
    }
    lua_remove(L, -2);
    return true;
}

void lset_bind(lua_State *L, struct policy *pol, struct proc *p)
{
    int top = lua_gettop(L);
    if (lset_push(L, proc_spec(p)->set)) {
        lua_getiuservalue(L, -1, SV_DECL);
        lproc_push(L, p);
        lproc_set_policy(L, -2);
    }
    lua_settop(L, top);
    lhook_follow(pol, p);
}

/* The set at idx and its name (valid while the set is on the stack). */
static const char *check_set(lua_State *L, int idx)
{
    luaL_checkudata(L, idx, SET_MT);
    lua_getiuservalue(L, idx, SV_NAME);
    const char *name = lua_tostring(L, -1);
    lua_pop(L, 1);  /* the uservalue keeps the string */
    return name;
}

/* Push a list of the handles of the set's replicas, in order. */
static void push_procs(lua_State *L, struct policy *pol, const char *name)
{
    const struct pset *set = policy_set(pol, name);
    if (!pol->m) {  /* loading: the handles of the declarations */
        lua_createtable(L, set ? set->n : 0, 0);
        for (int i = 0; set && i < set->n; i++) {
            lproc_push_declared(L, set->first + (size_t)i);
            lua_rawseti(L, -2, i + 1);
        }
        return;
    }
    size_t n;
    struct proc **v = manager_replicas(pol->m, name, &n);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lproc_push(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    free(v);
}

static int m_procs(lua_State *L)
{
    const char *name = check_set(L, 1);
    push_procs(L, policy_of(L), name);
    return 1;
}

/* The rest of set:scale(), run again each time a wait ends: the stack is
 * the set, n, the new replicas' handles and the removed ones'.  Waits for
 * the first that is not there yet; true when all are, or nil and what
 * went wrong when a new replica ended before it was ready. */
static int scale_k(lua_State *L, int status, lua_KContext ctx)
{
    lua_settop(L, 4);
    /* a removed one is gone once freed: its handle lets go of it then,
     * and its waits end (lwait_forget) */
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, 4); i++) {
        lua_rawgeti(L, 4, i);
        struct lproc *h = lua_touserdata(L, -1);
        lua_pop(L, 1);
        if (h->p)
            return lwait_proc_k(L, h->p, W_TERMINAL, "set:scale()", 0, scale_k);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int failed = 0;
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, 3); i++) {
        lua_rawgeti(L, 3, i);
        struct lproc *h = lua_touserdata(L, -1);
        lua_pop(L, 1);
        if (!h->p)
            continue;  /* removed again meanwhile */
        const struct status *st = proc_status(h->p);
        if (st->state == ST_READY)
            continue;
        if (!status_is_terminal(st->state))
            return lwait_proc_k(L, h->p, W_START, "set:scale()", 0, scale_k);
        char what[256];
        status_describe_end(st, what, sizeof what);
        lua_pushfstring(L, "%s%s %s before it was ready", failed++ ? "; " : "",
                        proc_spec(h->p)->name, what);
        luaL_addvalue(&b);
    }
    if (!failed) {
        lua_pushboolean(L, 1);
        return 1;
    }
    luaL_pushresult(&b);
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

/* set:scale(n): n replicas from now on; waits (see scale_k). */
static int m_scale(lua_State *L)
{
    const char *name = check_set(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    struct policy *pol = policy_of(L);
    if (n < 1 || n > REPLICAS_MAX)
        return luaL_argerror(L, 2, lua_pushfstring(L, "a whole number from 1 to %d expected",
                                                   REPLICAS_MAX));
    if (!pol->m)
        return luaL_error(L, "proc '%s': set:scale() works once the policy file has loaded "
                          "(in a hook or a tend.task)", name);
    lvm_check_yieldable(L, "set:scale()");
    lua_settop(L, 2);
    /* the replicas before, to tell the new ones and the removed ones */
    push_procs(L, pol, name);  /* 3 */
    char *err = NULL;
    if (policy_scale(pol, L, name, (int)n, &err) != 0) {
        lua_pushstring(L, err);
        free(err);
        return lua_error(L);
    }
    lua_newtable(L);  /* 4: removed */
    lua_Integer had = (lua_Integer)lua_rawlen(L, 3);
    for (lua_Integer i = n + 1; i <= had; i++) {
        lua_rawgeti(L, 3, i);
        lua_rawseti(L, 4, i - n);
    }
    push_procs(L, pol, name);  /* new: those past the old count */
    lua_newtable(L);
    for (lua_Integer i = had + 1; i <= n; i++) {
        lua_rawgeti(L, -2, i);
        lua_rawseti(L, -2, i - had);
    }
    lua_replace(L, 3);  /* 3: new, 4: removed */
    lua_pop(L, 1);
    return scale_k(L, LUA_OK, 0);
}

static int set_index(lua_State *L)
{
    const char *name = check_set(L, 1);
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "name") == 0) {
        lua_pushstring(L, name);
        return 1;
    }
    luaL_getmetafield(L, 1, "__methods");
    if (lua_getfield(L, -1, key) != LUA_TNIL)
        return 1;
    return luaL_error(L, "set: no field or method '%s'", key);
}

/* #set: how many replicas it has now. */
static int set_len(lua_State *L)
{
    const struct pset *set = policy_set(policy_of(L), check_set(L, 1));
    lua_pushinteger(L, set ? set->n : 0);
    return 1;
}

static int set_tostring(lua_State *L)
{
    const char *name = check_set(L, 1);
    const struct pset *set = policy_set(policy_of(L), name);
    lua_pushfstring(L, "tend.set(%s x%d)", name, set ? set->n : 0);
    return 1;
}

static const luaL_Reg set_methods[] = {
    {"procs", m_procs},
    {"scale", m_scale},
    {NULL, NULL},
};

static const luaL_Reg set_meta[] = {
    {"__index", set_index},
    {"__len", set_len},
    {"__tostring", set_tostring},
    {NULL, NULL},
};

void lset_open(lua_State *L)
{
    luaL_newmetatable(L, SET_MT);
    luaL_setfuncs(L, set_meta, 0);
    luaL_newlib(L, set_methods);
    lua_setfield(L, -2, "__methods");
    lua_pop(L, 1);
}
