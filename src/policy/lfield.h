/* lfield.h -- a field's value read and checked (lfield.c): for the
 * declaration checker (ldecl.c), tend.ready (lready.c) and tend.exec
 * (ltend.c).  Every error raises "file:line: proc 'NAME': field 'FIELD':
 * message" (or "file:line: tend.exec: field ...", for a `name` that
 * starts with "tend."). */
#ifndef TEND_LFIELD_H
#define TEND_LFIELD_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

/* Raise the error above; `field` NULL: the proc's alone. */
void lfield_error(lua_State *L, const char *name, const char *field, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

/* What other programs call a field, for "did you mean". */
struct lfield_alias {
    const char *alias, *field;
};

/* Raise "unknown field" for `field` (shown whole, e.g. "backoff.inital"),
 * whose own key is `key`, with a "did you mean" among `known` (NULL
 * ended), or else among `aliases` (ended by {NULL}; NULL: none). */
void lfield_unknown(lua_State *L, const char *name, const char *field, const char *key,
                    const char *const *known, const struct lfield_alias *aliases)
    __attribute__((noreturn));

/* Whether the value at idx is a string holding a NUL byte. */
bool lfield_has_nul(lua_State *L, int idx);
/* Room for lfield_shown's text. */
#define SHOWN_CAP 80
/* The string at idx for a message, into buf (SHOWN_CAP bytes): a NUL
 * byte shown as \0, cut with "..." when long. */
const char *lfield_shown(lua_State *L, int idx, char *buf);
/* Raise "...: field 'FIELD': [WHAT ]"VALUE" contains a NUL byte" for the
 * string at idx (free what you hold first). */
void lfield_nul_error(lua_State *L, int idx, const char *name, const char *field,
                      const char *what) __attribute__((noreturn));

/* The key of the pair lua_next pushed (at -2) as a field name of `parent`
 * (NULL: the declaration itself), "?" when it is not a string; raises for
 * a key with a NUL byte. */
const char *lfield_key(lua_State *L, const char *name, const char *parent);

/* A field's value at the top of the stack, checked: a string, a number
 * >= min, a list of strings at least `min` long ("item" names an element
 * in messages; `nul_ok`: a NUL byte is left to the caller), an env table.
 * `name` and `field` name the proc and field in errors. */
char *lfield_string(lua_State *L, const char *name, const char *field);
double lfield_number(lua_State *L, const char *name, const char *field, double min);
char **lfield_strv(lua_State *L, const char *name, const char *field, size_t min,
                   const char *item, bool nul_ok);
char **lfield_env(lua_State *L, const char *name);

/* A table of numbers with the given keys (NULL ended), each >= its min,
 * into *slots[k] (e.g. backoff). */
void lfield_number_table(lua_State *L, const char *name, const char *field,
                         const char *const *keys, double **slots, const double *mins);

#endif
