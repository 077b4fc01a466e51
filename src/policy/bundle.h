/* bundle.h -- the built-in Lua library (lua/tend/). */
#ifndef TEND_BUNDLE_H
#define TEND_BUNDLE_H

#include <lua.h>

/* Make `require "tend.backoff"`, `"tend.group"` and `"tend.restart"` find
 * the built-in modules. */
void bundle_preload(lua_State *L);

#endif
