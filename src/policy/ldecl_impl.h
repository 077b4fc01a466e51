/* ldecl_impl.h -- what the declaration checker's files share: ldecl.c
 * (the table of fields, the loop that reads them, most readers) and
 * ldecl_res.c (the resources: `user` and `limits`). */
#ifndef TEND_LDECL_IMPL_H
#define TEND_LDECL_IMPL_H

#include <lua.h>
#include <stddef.h>

#include "policy/lfield.h"

struct policy;
struct spec;

/* A declaration being read: what the reader of a field works on. */
struct decl {
    lua_State *L;
    struct policy *pol;
    struct spec *s;
};

/* One field of a declaration (or of one of its tables): how its value at
 * the top of the stack is checked and where it goes.  `field` is its name
 * for messages ("cmd", "health.interval"). */
struct field {
    const char *name;
    int types;           /* the Lua types it takes, as TYPE() bits; 0: the reader checks */
    const char *expect;  /* what a value of another type is told is expected */
    void (*read)(struct decl *d, const struct field *f, const char *field);
    size_t at;           /* read_number, read_count, read_flag: its place in struct spec */
    double min, max;     /* read_number: at least min; read_count: a whole number min..max */
};

/* The Lua types of a row */
#define TYPE(t) (1 << (t))
#define T_BOOLEAN TYPE(LUA_TBOOLEAN)
#define T_NUMBER TYPE(LUA_TNUMBER)
#define T_STRING TYPE(LUA_TSTRING)
#define T_TABLE TYPE(LUA_TTABLE)

/* The kinds of row every reader's file may use: a field its reader checks
 * whole; one of the given types, then read.  (ldecl.c has more.) */
#define CUSTOM(n, fn) {.name = n, .read = fn}
#define TYPED(n, t, what, fn) {.name = n, .types = t, .expect = what, .read = fn}

/* Read each field of the table at the top of the stack (the declaration,
 * or its field `parent`) with the reader of its row of `tab` (ldecl.c). */
void ldecl_read_fields(struct decl *d, const struct field *tab, size_t n, const char *parent,
                       const struct lfield_alias *aliases);

/* Set s->warning when cmd[1] is not there to run (ldecl.c). */
void ldecl_check_cmd(struct spec *s);

/* ---- ldecl_res.c ---- */

/* `user`: a name or a uid, looked up once a run. */
void ldecl_read_user(struct decl *d, const struct field *f, const char *field);
/* `limits = { ... }` (SPEC 10). */
void ldecl_read_limits(struct decl *d, const struct field *f, const char *field);

#endif
