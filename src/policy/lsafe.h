/* lsafe.h -- the standard library of a policy's VM, made safe for the loop
 * (no finalizers, no hook changes, text chunks only, no blocking files or
 * commands; see lsafe.c). */
#ifndef TEND_LSAFE_H
#define TEND_LSAFE_H

#include <lua.h>

/* Replace the dangerous parts of the standard library opened in L. */
void lsafe_open(lua_State *L);

#endif
