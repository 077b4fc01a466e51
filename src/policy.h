/* policy.h -- a policy file: its Lua VM and the procs it declares.
 *
 * Loading runs the file once in a fresh VM with the `tend` module; every
 * `tend.proc{...}` call is checked as it is made, and once the whole file
 * has run the `after` names and cycles are checked.  Nothing is spawned
 * unless all of it is right (SPEC 8). */
#ifndef TEND_POLICY_H
#define TEND_POLICY_H

#include <stddef.h>

#include "spec.h"

struct lua_State;

struct policy {
    struct lua_State *L;
    char *path;          /* as given */
    char *dir;           /* absolute directory of the file */
    struct spec **specs; /* declarations in order; owned until taken */
    size_t n, cap;
};

/* Load and check `path`.  On failure NULL, and *err receives a message that
 * names the file, the line where known, the proc and the field. */
struct policy *policy_load(const char *path, char **err);
void policy_free(struct policy *pol);

/* The policy of a VM (for the binding). */
struct policy *policy_of(struct lua_State *L);

/* Check `after` references and cycles over all declarations; NULL when
 * right, else a new message. */
char *policy_check_graph(struct policy *pol);

#endif
