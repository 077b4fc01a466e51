/* lrestart.h -- the Lua modules tend.restart and tend.backoff, bound to
 * restart.c (preloaded by bundle.c). */
#ifndef TEND_LRESTART_H
#define TEND_LRESTART_H

#include <lua.h>

int luaopen_tend_restart(lua_State *L);
int luaopen_tend_backoff(lua_State *L);

#endif
