/* bundle.c -- the Lua library of lua/tend/, built into the binary so that
 * tend runs from any directory.  `require "tend.group"` finds it through
 * package.preload. */
#include "policy/bundle.h"

#include <lauxlib.h>
#include <string.h>

#include "policy/lrestart.h"

/* Each file becomes a NUL-terminated string in .rodata.  The paths are
 * relative to the top of the tree, where make runs the compiler. */
#define EMBED(sym, path)                                   \
    __asm__(".section .rodata\n"                           \
            ".global " #sym "\n"                           \
            #sym ":\n"                                     \
            ".incbin \"" path "\"\n"                       \
            ".byte 0\n"                                    \
            ".previous\n");                                \
    extern const char sym[]

EMBED(tend_lua_group, "lua/tend/group.lua");

static const struct {
    const char *name, *chunkname;
    const char *text;
} modules[] = {
    {"tend.group", "@lua/tend/group.lua", tend_lua_group},
};

static int load_module(lua_State *L)
{
    size_t i = (size_t)lua_tointeger(L, lua_upvalueindex(1));
    if (luaL_loadbuffer(L, modules[i].text, strlen(modules[i].text),
                        modules[i].chunkname) != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, modules[i].name);
    lua_call(L, 1, 1);
    return 1;
}

void bundle_preload(lua_State *L)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    /* the restart policy is C (restart.c), the same code tend applies */
    lua_pushcfunction(L, luaopen_tend_restart);
    lua_setfield(L, -2, "tend.restart");
    lua_pushcfunction(L, luaopen_tend_backoff);
    lua_setfield(L, -2, "tend.backoff");
    for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) {
        lua_pushinteger(L, (lua_Integer)i);
        lua_pushcclosure(L, load_module, 1);
        lua_setfield(L, -2, modules[i].name);
    }
    lua_pop(L, 1);
}
