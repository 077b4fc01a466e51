/* lproc.c -- proc handles in Lua and their methods.  The waits the
 * methods make are lwait.c's, proc:on is lhook.c's. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "policy/lbind.h"
#include "policy/lvm.h"
#include "core/manager.h"
#include "core/usage.h"
#include "base/util.h"

static const char procobjs_key = 'o';  /* proc pointer or decl+1 -> handle */

/* ---- handles ---- */

static void push_procobjs(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &procobjs_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &procobjs_key);
    }
}

static struct lproc *new_handle(lua_State *L, const char *name)
{
    struct lproc *h = lua_newuserdatauv(L, sizeof *h, UV_COUNT);
    h->p = NULL;
    h->decl = 0;
    lua_pushstring(L, name);
    lua_setiuservalue(L, -2, UV_NAME);
    luaL_setmetatable(L, PROC_MT);
    return h;
}

void lproc_push_decl(lua_State *L, size_t decl, const char *name)
{
    struct lproc *h = new_handle(L, name);
    h->decl = decl;
    push_procobjs(L);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)decl + 1);
    lua_pop(L, 1);
}

void lproc_push(lua_State *L, struct proc *p)
{
    push_procobjs(L);
    if (lua_rawgetp(L, -1, p) == LUA_TUSERDATA) {
        lua_remove(L, -2);
        return;
    }
    lua_pop(L, 1);
    struct lproc *h = new_handle(L, proc_spec(p)->name);
    h->p = p;
    lua_pushvalue(L, -1);
    lua_rawsetp(L, -3, p);
    lua_remove(L, -2);
}

void lproc_attach(struct policy *pol, size_t decl, struct proc *p)
{
    lua_State *L = pol->L;
    push_procobjs(L);
    if (lua_rawgeti(L, -1, (lua_Integer)decl + 1) == LUA_TUSERDATA) {
        struct lproc *h = lua_touserdata(L, -1);
        h->p = p;
        lua_rawsetp(L, -2, p);
        lua_pushnil(L);
        lua_rawseti(L, -2, (lua_Integer)decl + 1);
    } else {
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

void lproc_push_declared(lua_State *L, size_t decl)
{
    push_procobjs(L);
    lua_rawgeti(L, -1, (lua_Integer)decl + 1);
    lua_remove(L, -2);
}

static int forget_protected(lua_State *L)
{
    struct proc *p = lua_touserdata(L, 1);
    push_procobjs(L);
    if (lua_rawgetp(L, -1, p) == LUA_TUSERDATA) {
        struct lproc *h = lua_touserdata(L, -1);
        h->p = NULL;
        lua_pushnil(L);
        lua_rawsetp(L, -3, p);
    }
    return 0;
}

void lproc_forget(struct policy *pol, struct proc *p)
{
    lvm_protected(pol->L, forget_protected, p, proc_spec(p)->name, "removing a proc");
}

struct proc *lproc_check(lua_State *L, int idx)
{
    struct lproc *h = luaL_checkudata(L, idx, PROC_MT);
    if (!h->p) {
        lua_getiuservalue(L, idx, UV_NAME);
        if (policy_of(L)->m)
            luaL_error(L, "proc '%s' has been removed", lua_tostring(L, -1));
        luaL_error(L, "proc '%s': its methods work once the policy file has loaded "
                   "(in a hook or a tend.task)", lua_tostring(L, -1));
    }
    return h->p;
}

/* ---- methods ---- */

static int m_status(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    lstatus_push(L, proc_status(p), proc_spec(p)->name);
    return 1;
}

static int m_pid(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    if (proc_alive(p) && proc_status(p)->pid > 0)
        lua_pushinteger(L, proc_status(p)->pid);
    else
        lua_pushnil(L);
    return 1;
}

static int m_ready(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    if (proc_status(p)->state == ST_READY) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (status_is_terminal(proc_status(p)->state)) {
        lua_pushnil(L);
        lstatus_push(L, proc_status(p), proc_spec(p)->name);
        return 2;
    }
    return lwait_proc(L, p, W_READY, "proc:ready()");
}

/* The proc's status when `now`, else a wait for `kind` (yields). */
static int status_or_wait(lua_State *L, struct proc *p, bool now, enum wait_kind kind,
                          const char *what)
{
    if (!now)
        return lwait_proc(L, p, kind, what);
    lstatus_push(L, proc_status(p), proc_spec(p)->name);
    return 1;
}

static int m_wait(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    return status_or_wait(L, p, status_is_terminal(proc_status(p)->state), W_TERMINAL,
                          "proc:wait()");
}

static int m_changed(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    return lwait_proc(L, p, W_CHANGED, "proc:changed()");
}

static int already_terminated(lua_State *L)
{
    lua_pushnil(L);
    lua_pushliteral(L, "already terminated");
    return 2;
}

static int m_terminate(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    double timeout = luaL_optnumber(L, 2, -1);
    if (lua_gettop(L) >= 2 && !lua_isnil(L, 2) && timeout < 0)
        return luaL_argerror(L, 2, "a timeout >= 0 expected");
    lvm_check_yieldable(L, "proc:terminate()");
    if (proc_terminate(p, timeout, CAUSE_TERMINATE) != 0)
        return already_terminated(L);
    return lwait_proc(L, p, W_TERMINAL, "proc:terminate()");
}

static int m_kill(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    lvm_check_yieldable(L, "proc:kill()");
    if (proc_kill(p, CAUSE_KILL) != 0)
        return already_terminated(L);
    return lwait_proc(L, p, W_TERMINAL, "proc:kill()");
}

static int m_signal(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    lua_pushvalue(L, 2);
    const char *name = lua_tostring(L, -1);
    int sig = name ? signal_from_name(name) : -1;
    if (sig <= 0)
        return luaL_argerror(L, 2, "a signal name such as \"HUP\" expected");
    if (proc_signal(p, sig) != 0) {
        int e = errno;
        lua_pushnil(L);
        lua_pushstring(L, e == ESRCH ? "not running" : strerror(e));
        lua_pushinteger(L, e);
        return 3;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int m_stop(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    lvm_check_yieldable(L, "proc:stop()");
    manager_stop(policy_of(L)->m, p, -1, CAUSE_STOP);
    return status_or_wait(L, p, !proc_alive(p), W_TERMINAL, "proc:stop()");
}

static int m_start(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    lvm_check_yieldable(L, "proc:start()");
    if (manager_shutting_down(policy_of(L)->m))
        return luaL_error(L, "proc '%s': cannot start during a shutdown", proc_spec(p)->name);
    if (proc_alive(p) && proc_status(p)->state != ST_STOPPING) {
        /* running already: nothing to do but wait for ready */
        return status_or_wait(L, p, proc_status(p)->state == ST_READY, W_START,
                              "proc:start()");
    }
    if (proc_status(p)->state == ST_STOPPING) {
        manager_restart(policy_of(L)->m, p);
        return lwait_proc(L, p, W_RESTART, "proc:start()");
    }
    manager_start_now(policy_of(L)->m, p);
    enum proc_state now = proc_status(p)->state;
    return status_or_wait(L, p, now == ST_READY || status_is_terminal(now), W_START,
                          "proc:start()");
}

static int m_restart(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    lvm_check_yieldable(L, "proc:restart()");
    if (!proc_alive(p))
        return m_start(L);
    manager_restart(policy_of(L)->m, p);
    return lwait_proc(L, p, W_RESTART, "proc:restart()");
}

static int m_tail(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    int stream = 1;
    int arg = 2;
    if (lua_type(L, arg) == LUA_TSTRING) {
        const char *s = lua_tostring(L, arg);
        if (strcmp(s, "stdout") == 0)
            stream = 0;
        else if (strcmp(s, "stderr") != 0)
            return luaL_argerror(L, arg, "\"stdout\" or \"stderr\" expected");
        arg++;
    } else if (lua_isnil(L, arg) && !lua_isnone(L, arg + 1)) {
        arg++;  /* tail(nil, n): the default stream */
    }
    lua_Integer lines = luaL_optinteger(L, arg, 20);
    if (lines < 0)
        return luaL_argerror(L, arg, "a number of lines >= 0 expected");
    char *t = proc_tail(p, stream, (size_t)lines, false);
    lua_pushstring(L, t);
    free(t);
    return 1;
}

/* ---- what the declaration gives the handle ---- */

void lproc_set_policy(lua_State *L, int decl)
{
    decl = lua_absindex(L, decl);
    int h = lua_gettop(L);
    if (lua_getfield(L, decl, "restart") == LUA_TFUNCTION)
        lua_setiuservalue(L, h, UV_RESTART);
    lua_settop(L, h);
    /* the functions of readiness and health checks */
    if (lua_getfield(L, decl, "ready") == LUA_TFUNCTION)
        lua_setiuservalue(L, h, UV_READY);
    lua_settop(L, h);
    if (lua_getfield(L, decl, "health") == LUA_TTABLE &&
        lua_getfield(L, -1, "check") == LUA_TFUNCTION)
        lua_setiuservalue(L, h, UV_HEALTH);
    lua_settop(L, h);
}

/* ---- the metatable ---- */

static int proc_index(lua_State *L)
{
    luaL_checkudata(L, 1, PROC_MT);
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "name") == 0) {
        lua_getiuservalue(L, 1, UV_NAME);
        return 1;
    }
    luaL_getmetafield(L, 1, "__methods");
    if (lua_getfield(L, -1, key) != LUA_TNIL)
        return 1;
    return luaL_error(L, "proc: no field or method '%s'", key);
}

static int proc_tostring(lua_State *L)
{
    luaL_checkudata(L, 1, PROC_MT);
    lua_getiuservalue(L, 1, UV_NAME);
    lua_pushfstring(L, "tend.proc(%s)", lua_tostring(L, -1));
    return 1;
}

/* proc:usage(): { cpu = seconds, memory = bytes } of the live incarnation
 * (SPEC 10), as a status has them (usage.c: its cgroup, or its process
 * group from /proc); nil when none is alive. */
static int m_usage(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    struct status live;
    const struct status *st = usage_status(proc_status(p), &live);
    if (!proc_alive(p) || !st->has_usage) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 2);
    lua_pushnumber(L, st->cpu);
    lua_setfield(L, -2, "cpu");
    lua_pushinteger(L, (lua_Integer)st->memory);
    lua_setfield(L, -2, "memory");
    return 1;
}

static const luaL_Reg proc_methods[] = {
    {"status", m_status},   {"pid", m_pid},         {"ready", m_ready},
    {"wait", m_wait},       {"changed", m_changed}, {"terminate", m_terminate},
    {"kill", m_kill},       {"signal", m_signal},   {"stop", m_stop},
    {"start", m_start},     {"restart", m_restart}, {"tail", m_tail},
    {"usage", m_usage},
    {"on", lhook_on},       {"watch", lwait_watch},     {NULL, NULL},
};

static const luaL_Reg proc_meta[] = {
    {"__index", proc_index},
    {"__tostring", proc_tostring},
    {NULL, NULL},
};

void lproc_open(lua_State *L)
{
    luaL_newmetatable(L, PROC_MT);
    luaL_setfuncs(L, proc_meta, 0);
    luaL_newlib(L, proc_methods);
    lua_setfield(L, -2, "__methods");
    lua_pop(L, 1);
}
