/* ldecl.h -- declarations checked as `tend.proc{...}` runs (ldecl.c). */
#ifndef TEND_LDECL_H
#define TEND_LDECL_H

#include <lua.h>

struct policy;
struct spec;

/* Check the declaration table at index 1 of a tend.proc/tend.spawn call
 * and make its spec (in a box that frees it if an error unwinds); raises
 * with file:line, proc and field on any mistake. */
struct spec **ldecl_parse(lua_State *L, struct policy *pol);

#endif
