/* ltend.c -- the `tend` Lua module: tend.proc and tend.spawn (whose
 * checks are ldecl.c's), tasks, waits, tend.exec, limits, logging. */
#include <errno.h>
#include <grp.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "base/envfile.h"
#include "policy/lbind.h"
#include "base/log.h"
#include "policy/lvm.h"
#include "core/manager.h"
#include "policy/policy.h"
#include "base/restart.h"
#include "core/spec.h"
#include "base/util.h"
#include "policy/ldecl.h"
#include "policy/lfield.h"
#include "policy/lready.h"

static int l_proc(lua_State *L);

/* tend:proc{...} (a colon call) passes the tend table as the declaration:
 * say so, rather than that the fields are wrong. */
static void refuse_colon_call(lua_State *L, const char *fname)
{
    if (lua_type(L, 1) != LUA_TTABLE)
        return;
    lua_pushstring(L, "proc");
    lua_rawget(L, 1);
    bool tend = lua_tocfunction(L, -1) == l_proc;
    lua_pop(L, 1);
    if (tend)
        luaL_error(L, "tend:%s{...} passes the tend table itself as the declaration: write "
                   "tend.%s{...}, with a dot", fname, fname);
}

static int declare_now(lua_State *L, struct policy *pol, struct spec *s);

/* tend.spawn's continuation once the name service answered for its user:
 * the declaration's box at 2, nil or the load error on top. */
static int declare_k(lua_State *L, int status, lua_KContext ctx)
{
    if (!lua_isnil(L, -1))
        return lua_error(L);  /* "file:line: proc 'x': field 'user': ..." */
    struct spec **box = lua_touserdata(L, 2);
    struct policy *pol = policy_of(L);
    /* what the declaration was checked against may have changed meanwhile
     * (another task spawned the same name): checked again, in its box */
    ldecl_recheck(L, pol, *box);
    struct spec *s = *box;
    *box = NULL;
    return declare_now(L, pol, s);
}

/* tend.proc{...} / tend.spawn{...}: during load, check and record a
 * declaration; afterwards, declare and start the proc now (from a
 * coroutine, a user new to this run is looked up off the loop first).
 * Returns the proc. */
static int declare(lua_State *L, const char *fname)
{
    struct policy *pol = policy_of(L);
    refuse_colon_call(L, fname);
    if (pol->m)  /* a load sets it for itself */
        pol->defer_users = lvm_can_wait(L);
    struct spec **box = ldecl_parse(L, pol);
    if (pol->m && ldecl_user_pending(*box))
        return lwait_user_k(L, *box, 0, declare_k);
    struct spec *s = *box;
    *box = NULL;
    if (!pol->m && s->replicas > 0) {
        /* a set: one declaration a replica, each with its handle */
        int n = s->replicas;
        char *name = xstrdup(s->name);
        policy_declare(pol, s);
        for (int i = 0; i < n; i++) {
            const struct spec *r = pol->specs[pol->n - (size_t)n + (size_t)i];
            lproc_push_decl(L, pol->n - (size_t)n + (size_t)i, r->name);
            lproc_set_policy(L, 1);
            lua_pop(L, 1);
        }
        lua_pushstring(L, name);
        free(name);
        lset_new(L, lua_tostring(L, -1), 1);
        return 1;
    }
    if (!pol->m) {
        policy_declare(pol, s);
        lproc_push_decl(L, pol->n - 1, s->name);
        lproc_set_policy(L, 1);
        return 1;
    }
    return declare_now(L, pol, s);
}

/* After load: start `s` now (taken over). */
static int declare_now(lua_State *L, struct policy *pol, struct spec *s)
{
    if (manager_shutting_down(pol->m)) {
        spec_free(s);
        return luaL_error(L, "tend.spawn: tend is shutting down");
    }
    if (s->replicas > 0) {
        const char *name = lua_pushstring(L, s->name);
        policy_add_set(pol, s);
        lset_new(L, name, 1);
        size_t n;
        struct proc **v = manager_replicas(pol->m, name, &n);
        for (size_t i = 0; i < n; i++)
            lset_bind(L, pol, v[i]);
        for (size_t i = 0; i < n; i++)
            manager_launch(pol->m, v[i]);
        free(v);
        return 1;
    }
    if (s->warning)
        log_warn(NULL, "%s", s->warning);
    struct proc *p = manager_add(pol->m, s);
    lproc_push(L, p);
    lproc_set_policy(L, 1);
    lhook_follow(pol, p);
    manager_launch(pol->m, p);
    return 1;
}

static int l_proc(lua_State *L)
{
    return declare(L, "proc");
}

static int l_spawn(lua_State *L)
{
    return declare(L, "spawn");
}

/* tend.task(fn): run fn in its own coroutine: at once, or during load once
 * the declared procs have been started. */
static int l_task(lua_State *L)
{
    struct policy *pol = policy_of(L);
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    if (!pol->m) {
        policy_queue_task(L, pol);
        return 0;
    }
    lvm_charge(L, LVM_QUANTUM);  /* a loop of tasks spends its own budget */
    lua_xmove(L, pol->L, 1);  /* lvm_start takes it from the main state */
    lvm_start_from(pol->vm, L, 0, NULL, true);
    return 0;
}

static int l_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    if (!(s >= 0))
        return luaL_argerror(L, 1, "seconds >= 0 expected");
    if (!policy_of(L)->m)
        return luaL_error(L, "tend.sleep: the policy file is still loading (use tend.task)");
    return lwait_sleep(L, s);
}

static int l_procs(lua_State *L)
{
    struct policy *pol = policy_of(L);
    if (!pol->m) {  /* loading: the procs declared so far (SPEC 3) */
        lua_createtable(L, (int)pol->n, 0);
        for (size_t i = 0; i < pol->n; i++) {
            lproc_push_declared(L, i);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return 1;
    }
    size_t n = manager_count(pol->m);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lproc_push(L, manager_at(pol->m, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int l_get(lua_State *L)
{
    struct policy *pol = policy_of(L);
    const char *name = luaL_checkstring(L, 1);
    if (!pol->m) {  /* loading: a proc declared so far (SPEC 3) */
        uintptr_t at = (uintptr_t)strmap_get(&pol->names, name);
        if (at)
            lproc_push_declared(L, at - 1);
        else if (!lset_push(L, name))
            lua_pushnil(L);
        return 1;
    }
    struct proc *p = manager_get(pol->m, name);
    if (p)
        lproc_push(L, p);
    else if (!lset_push(L, name))
        lua_pushnil(L);
    return 1;
}

/* The C strings of a tend.exec call, freed by __gc if a check raises. */
#define EXECARGS_MT "tend.ExecArgs"
struct exec_args {
    char **argv, **env;
    char *cwd;
};

static void execargs_free(struct exec_args *a)
{
    strv_free(a->argv);
    strv_free(a->env);
    free(a->cwd);
    memset(a, 0, sizeof *a);
}

static int execargs_gc(lua_State *L)
{
    execargs_free(luaL_checkudata(L, 1, EXECARGS_MT));
    return 0;
}

/* tend.exec(argv [, opts]): run a short command without blocking the loop;
 * exit_code, stdout, stderr, or nil and a status when it was killed or
 * could not run.  opts: timeout, env, cwd. */
static int l_exec(lua_State *L)
{
    struct policy *pol = policy_of(L);
    if (!pol->m)
        return luaL_error(L, "tend.exec: the policy file is still loading (use tend.task)");
    lvm_check_yieldable(L, "tend.exec");
    lua_settop(L, 2);
    struct exec_args *a = lua_newuserdatauv(L, sizeof *a, 0);  /* 3 */
    memset(a, 0, sizeof *a);
    if (luaL_newmetatable(L, EXECARGS_MT)) {
        lua_pushcfunction(L, execargs_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_pushvalue(L, 1);
    a->argv = lfield_strv(L, "tend.exec", "argv", 1, "item", false);
    lua_pop(L, 1);
    double timeout = 0;
    if (!lua_isnil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "timeout") != LUA_TNIL)
            timeout = lfield_number(L, "tend.exec", "timeout", 0);
        lua_pop(L, 1);
        if (lua_getfield(L, 2, "env") != LUA_TNIL)
            a->env = lfield_env(L, "tend.exec");
        lua_pop(L, 1);
        if (lua_getfield(L, 2, "cwd") != LUA_TNIL) {
            char *c = lfield_string(L, "tend.exec", "cwd");
            a->cwd = c[0] == '/' ? c : xasprintf("%s/%s", pol->dir, c);
            if (a->cwd != c)
                free(c);
        }
        lua_pop(L, 1);
    }
    lwait_exec(L, a->argv, a->env, a->cwd, timeout);  /* copies what it keeps */
    execargs_free(a);
    return lvm_yield(L);
}

/* tend.limits{ memory = BYTES, instructions = N }: the VM's memory cap and
 * the instruction budget of each resume; returns the limits in force. */
static int l_limits(lua_State *L)
{
    struct policy *pol = policy_of(L);
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            if (!lua_isinteger(L, -1))
                return luaL_error(L, "tend.limits: %s must be an integer", k);
            if (strcmp(k, "memory") == 0) {
                lua_Integer v = lua_tointeger(L, -1);
                if (v < 1024 * 1024)
                    return luaL_error(L, "tend.limits: memory must be at least 1 MiB");
                if ((size_t)v < pol->vm->mem_used)
                    return luaL_error(L, "tend.limits: memory below what the VM holds now");
                pol->vm->mem_cap = (size_t)v;
            } else if (strcmp(k, "instructions") == 0) {
                lua_Integer v = lua_tointeger(L, -1);
                if (v < 1000 || v > 2000000000)
                    return luaL_error(L, "tend.limits: instructions must be 1000..2e9");
                /* the run in progress gets the new budget too */
                pol->vm->budget_left += (long)v - pol->vm->budget;
                pol->vm->budget = (long)v;
            } else {
                return luaL_error(L, "tend.limits: unknown field '%s'", k);
            }
            lua_pop(L, 1);
        }
    }
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)pol->vm->mem_cap);
    lua_setfield(L, -2, "memory");
    lua_pushinteger(L, pol->vm->budget);
    lua_setfield(L, -2, "instructions");
    lua_pushinteger(L, (lua_Integer)pol->vm->mem_used);
    lua_setfield(L, -2, "memory_used");
    return 1;
}

/* tend.exit([code]): graceful shutdown, then exit; never returns. */
static int l_exit(lua_State *L)
{
    struct policy *pol = policy_of(L);
    lua_Integer code = luaL_optinteger(L, 1, -1);
    if (lua_gettop(L) >= 1 && !lua_isnil(L, 1) && (code < 0 || code > 255))
        return luaL_argerror(L, 1, "an exit code 0..255 expected");
    if (!pol->m)
        return luaL_error(L, "tend.exit: the policy file is still loading");
    lvm_check_yieldable(L, "tend.exit");
    manager_shutdown(pol->m, (int)code);
    return lvm_yield(L);  /* never resumed: the VM closes first */
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, now_mono());
    return 1;
}

/* tend.log.info/warn/error(fmt, ...): string.format, then a log line. */
static int log_at(lua_State *L, enum log_level level)
{
    int n = lua_gettop(L);
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "format");
    lua_remove(L, -2);
    lua_insert(L, 1);
    lua_call(L, n, 1);
    log_msg(level, NULL, "%s", lua_tostring(L, -1));
    return 0;
}

static int l_log_info(lua_State *L) { return log_at(L, LOG_INFO); }
static int l_log_warn(lua_State *L) { return log_at(L, LOG_WARN); }
static int l_log_error(lua_State *L) { return log_at(L, LOG_ERROR); }

static const luaL_Reg log_funcs[] = {
    {"info", l_log_info},
    {"warn", l_log_warn},
    {"error", l_log_error},
    {NULL, NULL},
};

static const luaL_Reg tend_funcs[] = {
    {"proc", l_proc},
    {"spawn", l_spawn},  /* during load, spawn declares like proc */
    {"on", lhook_on_global},
    {"task", l_task},
    {"sleep", l_sleep},
    {"now", l_now},
    {"procs", l_procs},
    {"get", l_get},
    {"exit", l_exit},
    {"exec", l_exec},
    {"limits", l_limits},
    {NULL, NULL},
};

int luaopen_tend(lua_State *L)
{
    lproc_open(L);
    lset_open(L);

    luaL_newmetatable(L, CHECK_MT);
    lua_pop(L, 1);
    luaL_newlib(L, tend_funcs);
    luaL_newlib(L, log_funcs);
    lua_setfield(L, -2, "log");
    lua_newtable(L);
    luaL_setfuncs(L, lready_funcs, 0);
    lua_setfield(L, -2, "ready");
    /* tend.dir: the policy file's directory, where relative paths start */
    struct policy *pol = policy_of(L);
    if (pol && pol->dir) {
        lua_pushstring(L, pol->dir);
        lua_setfield(L, -2, "dir");
    }
    return 1;
}
