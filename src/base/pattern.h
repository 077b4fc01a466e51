/* pattern.h -- Lua 5.4 patterns that count their work.
 *
 * Lua's own matcher runs in C, out of reach of any budget, and a pattern
 * such as ".-.-.-.-b" can make it run for hours.  This one has the same
 * semantics (pattern.c says where it differs) and counts its steps: its
 * caller either gives it a plain budget (pattern_find) or a charge
 * callback that is told of the steps every so often and may stop the
 * match (policy/lpattern.c charges them to a policy's instruction budget).
 * No Lua here: readiness log patterns (core/ready.c) use it too. */
#ifndef TEND_PATTERN_H
#define TEND_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

/* Result codes of pattern_find */
enum { PATTERN_NOMATCH = 0, PATTERN_MATCH = 1, PATTERN_MALFORMED = -1, PATTERN_TOO_COSTLY = -2 };

/* Check a pattern's syntax without a subject: NULL when well formed, else
 * a static message in Lua's words ("malformed pattern (ends with '%')",
 * "malformed pattern (missing ']')", "missing '[' after '%f' in pattern",
 * "malformed pattern (missing arguments to '%b')", "invalid capture index
 * %1", "invalid pattern capture", "unfinished capture", "too many
 * captures").  Stricter than a match, which only reports the errors it
 * runs into. */
const char *pattern_check(const char *p, size_t lp);

/* Whether pattern p occurs in s (as string.find(s, p) would say), spending
 * at most *budget steps (decremented by what was spent).
 * PATTERN_TOO_COSTLY when the budget ran out first (*budget is then <= 0);
 * PATTERN_MALFORMED (and *err set to a static message) for a bad pattern.
 * err may be NULL. */
int pattern_find(const char *s, size_t ls, const char *p, size_t lp, long *budget,
                 const char **err);

/* Whether p has none of the characters that make a pattern (string.find
 * then searches it as plain text). */
bool pattern_is_plain(const char *p, size_t lp);

/* ---- a match in steps, for a caller that wants the captures ---- */

#define PATTERN_MAXCAPTURES 32  /* as LUA_MAXCAPTURES */

/* a capture's length while it is open, and for a position capture "()" */
#define PATTERN_CAP_OPEN (-1)
#define PATTERN_CAP_POSITION (-2)

/* What pattern_search returns other than a start offset (>= 0). */
#define PATTERN_FAILED (-1)
#define PATTERN_STOPPED (-2)  /* an error or the budget: `why` tells */

/* Told of `steps` more steps spent; false stops the match ("pattern too
 * complex").  It may also leave by longjmp (a Lua error): the matcher
 * holds nothing that needs freeing. */
typedef bool pattern_charge_fn(void *ctx, long steps);

/* A matcher at work.  The fields are its own; a caller reads `why` after
 * PATTERN_STOPPED, and the captures through pattern_capture. */
struct pattern {
    const unsigned char *s, *p;  /* subject and pattern (past an anchor '^') */
    size_t ls, lp;
    int ncap;                    /* captures opened on the current path */
    int nest_left;               /* recursion levels left */
    long fuel;                   /* steps left before the next charge */
    long chunk;                  /* steps between two charges */
    pattern_charge_fn *charge;   /* NULL: fuel is a plain budget */
    void *ctx;
    const char *why;  /* after PATTERN_STOPPED: the error, NULL when out of budget */
    struct {
        size_t at;      /* offset in the subject */
        ptrdiff_t len;  /* or PATTERN_CAP_OPEN, PATTERN_CAP_POSITION */
    } cap[PATTERN_MAXCAPTURES];
};

/* Set m up to match p in s, calling charge(ctx, steps) every `chunk`
 * steps; whether p is anchored (its '^' is then skipped; gmatch passes
 * anchors = false: there '^' is a plain char). */
bool pattern_init(struct pattern *m, const char *s, size_t ls, const char *p, size_t lp,
                  bool anchors, long chunk, pattern_charge_fn *charge, void *ctx);

/* Try the pattern at si, then at each later position (unless anchored),
 * passing over an empty match ending at `skip` (-1: none); the start of
 * the first match (its end in *end), PATTERN_FAILED or PATTERN_STOPPED. */
ptrdiff_t pattern_search(struct pattern *m, size_t si, bool anchored, ptrdiff_t skip,
                         size_t *end);

/* Spend n steps; false (m->why set) when the matcher must stop. */
bool pattern_spend(struct pattern *m, long n);

/* Charge the steps spent since the last charge; the callback's answer. */
bool pattern_settle(struct pattern *m);

/* Capture i of the match s[si..ei) (with no captures, capture 0 is the
 * whole match): NULL, with its offset in *at and its length (or
 * PATTERN_CAP_POSITION) in *len; or the error. */
const char *pattern_capture(const struct pattern *m, int i, size_t si, size_t ei, size_t *at,
                            ptrdiff_t *len);

#endif
