/* ldecl.h -- declarations checked as `tend.proc{...}` runs (ldecl.c), and
 * the helpers of that checking the rest of the `tend` module uses. */
#ifndef TEND_LDECL_H
#define TEND_LDECL_H

#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

struct policy;
struct spec;

/* Check the declaration table at index 1 of a tend.proc/tend.spawn call
 * and make its spec (in a box that frees it if an error unwinds); raises
 * with file:line, proc and field on any mistake. */
struct spec **ldecl_parse(lua_State *L, struct policy *pol);

/* Whether the value at idx is a string holding a NUL byte. */
bool ldecl_has_nul(lua_State *L, int idx);
/* Room for ldecl_shown's text. */
#define SHOWN_CAP 80
/* The string at idx for a message, into buf (SHOWN_CAP bytes): a NUL
 * byte shown as \0, cut with "..." when long. */
const char *ldecl_shown(lua_State *L, int idx, char *buf);

/* A field's value at the top of the stack, checked: a string, a number
 * >= min, a list of strings at least `min` long ("item" names an element
 * in messages; `nul_ok`: a NUL byte is left to the caller), an env table.
 * `name` and `field` name the proc and field in errors. */
char *ldecl_get_string(lua_State *L, const char *name, const char *field);
double ldecl_get_number(lua_State *L, const char *name, const char *field, double min);
char **ldecl_get_strv(lua_State *L, const char *name, const char *field, size_t min,
                      const char *item, bool nul_ok);
char **ldecl_get_env(lua_State *L, const char *name);

/* The functions of tend.ready (tend.ready.fd, notify, log, tcp, exec). */
extern const luaL_Reg ldecl_ready_funcs[];

#endif
