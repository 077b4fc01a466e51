/* lstatus.c -- a status as a Lua table: what status_visit says (the same
 * fields as the JSON and text renderings), times as tend.now() seconds. */
#include <lauxlib.h>
#include <lua.h>

#include "policy/lbind.h"

/* The visitor's callbacks: one field into the table at the top of ud. */
static void lv_str(void *ud, const char *key, const char *v)
{
    lua_pushstring(ud, v);
    lua_setfield(ud, -2, key);
}

static void lv_int(void *ud, const char *key, long long v)
{
    lua_pushinteger(ud, (lua_Integer)v);
    lua_setfield(ud, -2, key);
}

static void lv_bool(void *ud, const char *key, bool v)
{
    lua_pushboolean(ud, v);
    lua_setfield(ud, -2, key);
}

static void lv_num(void *ud, const char *key, double v)
{
    lua_pushnumber(ud, v);
    lua_setfield(ud, -2, key);
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
