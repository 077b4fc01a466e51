/* lrestart.c -- `tend.restart` and `tend.backoff` for policies: the
 * restart policy of restart.c, the same code tend applies itself, for a
 * restart function that wants the same pacing or give-up window. */
#include "policy/lrestart.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/restart.h"

#define BACKOFF_MT "tend.Backoff"
#define RESTART_MT "tend.Restart"

/* A random draw in [-1, 1] for the jitter, or the caller's. */
static double rnd_arg(lua_State *L, int idx)
{
    if (!lua_isnoneornil(L, idx))
        return luaL_checknumber(L, idx);
    return (double)random() / RAND_MAX * 2 - 1;
}

/* The backoff options of the table at idx (nil: the defaults) into p. */
static void backoff_opts(lua_State *L, int idx, struct restart_policy *p)
{
    static const char *const keys[] = {"initial", "factor", "max", "jitter", "reset_after"};
    double *slots[] = {&p->initial, &p->factor, &p->max, &p->jitter, &p->reset_after};
    restart_policy_default(p);
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        size_t i = 0;
        while (i < 5 && strcmp(k, keys[i]) != 0)
            i++;
        if (i == 5)
            luaL_error(L, "tend.backoff: unknown option '%s'", k);
        if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 0)
            luaL_error(L, "tend.backoff: option '%s' must be a number >= 0", k);
        *slots[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    if (p->factor < 1)
        luaL_error(L, "tend.backoff: factor must be >= 1");
    if (p->jitter > 1)
        luaL_error(L, "tend.backoff: jitter must be a fraction <= 1");
}

/* The started_at and ended_at of a status table (or nil) at idx. */
static const struct status *times_of(lua_State *L, int idx, struct status *st)
{
    memset(st, 0, sizeof *st);
    if (!lua_istable(L, idx))
        return NULL;
    lua_getfield(L, idx, "started_at");
    lua_getfield(L, idx, "ended_at");
    st->started_at = lua_tonumber(L, -2);
    st->ended_at = lua_tonumber(L, -1);
    lua_pop(L, 2);
    return st;
}

/* ---- tend.backoff ---- */

struct lbackoff {
    struct restart_policy p;
    unsigned attempt;
};

/* backoff.delay(opts, attempt [, rnd]) */
static int l_backoff_delay(lua_State *L)
{
    struct restart_policy p;
    backoff_opts(L, 1, &p);
    lua_Number attempt = luaL_checknumber(L, 2);
    lua_pushnumber(L, restart_backoff_delay(&p, attempt > 1e6 ? 1000000u : (unsigned)attempt,
                                            rnd_arg(L, 3)));
    return 1;
}

/* backoff.new(opts) */
static int l_backoff_new(lua_State *L)
{
    struct lbackoff *b = lua_newuserdatauv(L, sizeof *b, 0);
    backoff_opts(L, 1, &b->p);
    b->attempt = 0;
    luaL_setmetatable(L, BACKOFF_MT);
    return 1;
}

/* b:next(status [, rnd]) */
static int l_backoff_next(lua_State *L)
{
    struct lbackoff *b = luaL_checkudata(L, 1, BACKOFF_MT);
    struct status st;
    lua_pushnumber(L, restart_backoff_next(&b->p, &b->attempt, times_of(L, 2, &st),
                                           rnd_arg(L, 3)));
    return 1;
}

static int l_backoff_reset(lua_State *L)
{
    ((struct lbackoff *)luaL_checkudata(L, 1, BACKOFF_MT))->attempt = 0;
    return 0;
}

int luaopen_tend_backoff(lua_State *L)
{
    static const luaL_Reg methods[] = {{"next", l_backoff_next}, {"reset", l_backoff_reset},
                                       {NULL, NULL}};
    if (luaL_newmetatable(L, BACKOFF_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    static const luaL_Reg funcs[] = {{"delay", l_backoff_delay}, {"new", l_backoff_new},
                                     {NULL, NULL}};
    luaL_newlib(L, funcs);
    struct restart_policy d;
    restart_policy_default(&d);
    lua_createtable(L, 0, 5);  /* a copy for reading */
    const char *const keys[] = {"initial", "factor", "max", "jitter", "reset_after"};
    const double vals[] = {d.initial, d.factor, d.max, d.jitter, d.reset_after};
    for (int i = 0; i < 5; i++) {
        lua_pushnumber(L, vals[i]);
        lua_setfield(L, -2, keys[i]);
    }
    lua_setfield(L, -2, "defaults");
    return 1;
}

/* ---- tend.restart ---- */

struct lrestart {
    struct restart_policy p;
    struct restart_state s;
};

/* A status table's state and exit code: what restart_wants reads. */
static struct status *status_of(lua_State *L, int idx, struct status *st)
{
    times_of(L, idx, st);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "state");
    int s = lua_type(L, -1) == LUA_TSTRING ? status_state_parse(lua_tostring(L, -1)) : -1;
    st->state = s < 0 ? ST_STOPPED : (enum proc_state)s;
    lua_getfield(L, idx, "exit_code");
    st->exit_code = (int)lua_tointeger(L, -1);
    lua_pop(L, 2);
    return st;
}

/* restart.wants(mode, status) */
static int l_restart_wants(lua_State *L)
{
    int m = restart_mode_parse(luaL_checkstring(L, 1));
    if (m < 0)
        return luaL_argerror(L, 1, "\"always\", \"on-failure\" or \"never\" expected");
    struct status st;
    lua_pushboolean(L, restart_wants((enum restart_mode)m, status_of(L, 2, &st)));
    return 1;
}

static int restart_gc(lua_State *L)
{
    restart_state_free(&((struct lrestart *)luaL_checkudata(L, 1, RESTART_MT))->s);
    return 0;
}

/* restart.new{ restart = MODE, backoff = {...}, give_up = {...} | false } */
static int l_restart_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    struct restart_policy p;
    lua_getfield(L, 1, "backoff");
    backoff_opts(L, -1, &p);
    lua_getfield(L, 1, "restart");
    const char *mode = luaL_optstring(L, -1, "on-failure");
    int m = restart_mode_parse(mode);
    if (m < 0)
        return luaL_error(L, "tend.restart: restart must be \"always\", \"on-failure\" or "
                          "\"never\"");
    p.mode = (enum restart_mode)m;
    lua_getfield(L, 1, "give_up");
    if (lua_toboolean(L, -1) == 0 && !lua_isnil(L, -1)) {
        p.give_up_restarts = 0;  /* false: never give up */
    } else if (!lua_isnil(L, -1)) {
        lua_getfield(L, -1, "restarts");
        lua_getfield(L, -2, "within");
        if (!lua_istable(L, -3) || !lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 ||
            lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) <= 0)
            return luaL_error(L, "tend.restart: give_up must be { restarts = N, within = "
                              "SECONDS } or false");
        p.give_up_restarts = (unsigned)lua_tointeger(L, -2);
        p.give_up_within = lua_tonumber(L, -1);
    }
    struct lrestart *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    r->p = p;
    luaL_setmetatable(L, RESTART_MT);
    return 1;
}

/* policy:decide(status, now) -> seconds | nil [, why] */
static int l_restart_decide(lua_State *L)
{
    struct lrestart *r = luaL_checkudata(L, 1, RESTART_MT);
    struct status st;
    status_of(L, 2, &st);
    char why[96];
    double d = restart_decide(&r->p, &r->s, &st, luaL_checknumber(L, 3), rnd_arg(L, 4), NAN,
                              why, sizeof why);
    if (d >= 0) {
        lua_pushnumber(L, d);
        return 1;
    }
    lua_pushnil(L);
    if (!why[0])
        return 1;
    lua_pushstring(L, why);
    return 2;
}

/* policy:exhausted(now) */
static int l_restart_exhausted(lua_State *L)
{
    struct lrestart *r = luaL_checkudata(L, 1, RESTART_MT);
    lua_pushboolean(L, restart_exhausted(&r->p, &r->s, luaL_checknumber(L, 2)));
    return 1;
}

int luaopen_tend_restart(lua_State *L)
{
    static const luaL_Reg methods[] = {{"decide", l_restart_decide},
                                       {"exhausted", l_restart_exhausted},
                                       {NULL, NULL}};
    if (luaL_newmetatable(L, RESTART_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, restart_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    static const luaL_Reg funcs[] = {{"wants", l_restart_wants}, {"new", l_restart_new},
                                     {NULL, NULL}};
    luaL_newlib(L, funcs);
    return 1;
}
