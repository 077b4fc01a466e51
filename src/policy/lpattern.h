/* lpattern.h -- Lua 5.4 patterns with a work budget.
 *
 * Lua's own matcher runs in C, out of reach of the instruction budget, and
 * a pattern such as ".-.-.-.-b" can make it run for hours.  This one has
 * the same semantics (lpattern.c says where it differs) and counts its
 * steps: lpattern_open installs it as string.find/match/gmatch/gsub,
 * charging the steps to the running policy's budget. */
#ifndef TEND_LPATTERN_H
#define TEND_LPATTERN_H

#include <stddef.h>

/* Result codes */
enum { LPAT_NOMATCH = 0, LPAT_MATCH = 1, LPAT_MALFORMED = -1, LPAT_TOO_COSTLY = -2 };

/* Check a pattern's syntax without a subject: NULL when well formed, else
 * a static message in Lua's words ("malformed pattern (ends with '%')",
 * "malformed pattern (missing ']')", "missing '[' after '%f' in pattern",
 * "malformed pattern (missing arguments to '%b')", "invalid capture index
 * %1", "invalid pattern capture", "unfinished capture", "too many
 * captures").  Stricter than a match, which only reports the errors it
 * runs into. */
const char *lpattern_check(const char *p, size_t lp);

/* Whether pattern p occurs in s (as string.find(s, p) would say), spending
 * at most *budget steps (decremented by what was spent).  LPAT_TOO_COSTLY
 * when the budget ran out first (*budget is then <= 0); LPAT_MALFORMED
 * (and *err set to a static message) for a bad pattern.  Never raises,
 * needs no lua_State.  err may be NULL. */
int lpattern_find(const char *s, size_t ls, const char *p, size_t lp, long *budget,
                  const char **err);

/* Replace string.find, string.match, string.gmatch and string.gsub in the
 * string library table (package.loaded.string, which is also the strings'
 * metatable __index) with the budgeted versions. */
struct lua_State;
void lpattern_open(struct lua_State *L);

#endif
