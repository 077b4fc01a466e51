/* lstatus.c -- a status as a Lua table: what status_visit says (the same
 * fields as the JSON and text renderings), times as tend.now() seconds. */
#include <lauxlib.h>
#include <lua.h>

#include "policy/lbind.h"

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static void lv_str(void *ud, const char *key, const char *v)
{
    set_str(ud, key, v);
}

static void lv_int(void *ud, const char *key, long long v)
{
    set_int(ud, key, (lua_Integer)v);
}

static void lv_bool(void *ud, const char *key, bool v)
{
    lua_pushboolean(ud, v);
    lua_setfield(ud, -2, key);
}

static void lv_num(void *ud, const char *key, double v)
{
    set_num(ud, key, v);
}

static void lv_strv(void *ud, const char *key, char *const *v)
{
    lua_State *L = ud;
    lua_newtable(L);
    for (lua_Integer i = 0; v[i]; i++) {
        lua_pushstring(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, key);
}

/* The status as a table: what status_visit says, times as tend.now()
 * seconds. */
void lstatus_push(lua_State *L, const struct status *st, const char *name)
{
    static const struct status_visitor to_lua = {lv_str, lv_int, lv_bool, lv_num, lv_num,
                                                 lv_strv};
    lua_createtable(L, 0, 12);
    status_visit(st, name, &to_lua, L);
}
