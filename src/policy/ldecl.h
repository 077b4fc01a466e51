/* ldecl.h -- declarations checked as `tend.proc{...}` runs (ldecl.c). */
#ifndef TEND_LDECL_H
#define TEND_LDECL_H

#include <lua.h>
#include <stdbool.h>

struct policy;
struct spec;
struct users_job;

/* Check the declaration table at index 1 of a tend.proc/tend.spawn call
 * and make its spec (in a box that frees it if an error unwinds); raises
 * with file:line, proc and field on any mistake. */
struct spec **ldecl_parse(lua_State *L, struct policy *pol);

/* After a wait (a spawn's user looked up off the loop), what may have
 * changed meanwhile checked again: its name is not taken now. */
void ldecl_recheck(lua_State *L, struct policy *pol, const struct spec *s);

/* A reload (pol->defer_users) leaves a `user` new to this run unresolved
 * instead of asking the name service on the loop: whether `s`'s is. */
bool ldecl_user_pending(const struct spec *s);
/* Resolve it from what users.c now knows (after `job`, which says why a
 * user has no answer; NULL: no job): NULL, or the load error to report
 * (file:line, proc, field), as the first load would have said it. */
char *ldecl_user_apply(struct spec *s, const struct users_job *job);

#endif
