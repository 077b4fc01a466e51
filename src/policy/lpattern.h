/* lpattern.h -- Lua's pattern functions on the instruction budget.
 *
 * Lua's own matcher runs in C, out of reach of the instruction budget, and
 * a pattern such as ".-.-.-.-b" can make it run for hours.  lpattern_open
 * installs string.find/match/gmatch/gsub built on base/pattern.c's
 * matcher, which counts its steps, charging them to the running policy's
 * budget. */
#ifndef TEND_LPATTERN_H
#define TEND_LPATTERN_H

/* Replace string.find, string.match, string.gmatch and string.gsub in the
 * string library table (package.loaded.string, which is also the strings'
 * metatable __index) with the budgeted versions. */
struct lua_State;
void lpattern_open(struct lua_State *L);

#endif
