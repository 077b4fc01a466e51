/* lready.h -- tend.ready's checks (lready.c): the constructors, and a
 * check value read into a declaration. */
#ifndef TEND_LREADY_H
#define TEND_LREADY_H

#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>

#include "core/spec.h"

/* The metatable that marks a check table made by tend.ready.* */
#define CHECK_MT "tend.Check"

/* The functions of tend.ready (tend.ready.fd, notify, log, tcp, exec). */
extern const luaL_Reg lready_funcs[];

/* The check (a tend.ready.* value or a function) at the top of the stack
 * into *c, for `ready`, or for health's `check` when `health`; raises
 * naming proc `name` and `field` when it is not one. */
void lready_get(lua_State *L, const char *name, const char *field, struct check *c,
                bool health);

/* Raise when the value at the top, given for `health`, is a check (or a
 * constructor, or tend.ready itself) where health's table belongs. */
void lready_refuse_in_health(lua_State *L, const char *name, const char *field);

#endif
