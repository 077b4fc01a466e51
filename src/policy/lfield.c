/* lfield.c -- the values of a declaration's fields (and of tend.exec's
 * and tend.ready's arguments) read and checked, with errors that name the
 * file:line of the call, the proc and the field. */
#include "policy/lfield.h"

#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "core/spec.h"

/* Raise "file:line: proc 'NAME': field 'FIELD': message". */
void lfield_error(lua_State *L, const char *name, const char *field, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    luaL_where(L, 1);  /* the line of the tend.proc call */
    /* `name` is a proc's, or a function's ("tend.exec") */
    lua_pushfstring(L, strncmp(name, "tend.", 5) == 0 ? "%s: " : "proc '%s': ", name);
    if (field)
        lua_pushfstring(L, "field '%s': %s", field, msg);
    else
        lua_pushstring(L, msg);
    lua_concat(L, 3);
    lua_error(L);
    abort();  /* not reached */
}

/* Raise "unknown field" for `field` (shown whole, e.g. "backoff.inital"),
 * whose own key is `key`, with a "did you mean" among `known`, or else
 * among `aliases` (NULL: none). */
void lfield_unknown(lua_State *L, const char *name, const char *field, const char *key,
                    const char *const *known, const struct lfield_alias *aliases)
{
    struct suggest g;
    suggest_init(&g, key);
    for (const char *const *k = known; *k; k++)
        suggest_try(&g, *k);
    const char *best = suggest_best(&g);
    for (; aliases && aliases->alias && !best; aliases++)
        if (strcasecmp(key, aliases->alias) == 0)
            best = aliases->field;
    if (best)
        lfield_error(L, name, field, "unknown field (did you mean '%s'?)", best);
    lfield_error(L, name, field, "unknown field");
}

/* Whether the value at idx is a string holding a NUL byte.  C sees such a
 * string cut at the NUL: { "ar\0g0" } would run as "ar", a key "cmd\0x"
 * would pass for the field "cmd".  So every string of a declaration that
 * becomes a C string, or is compared as one, is refused when it has one. */
bool lfield_has_nul(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        return false;  /* a number has none (and lua_tolstring would convert it) */
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    return memchr(s, '\0', len) != NULL;
}

/* The string at idx for a message, into buf (SHOWN_CAP bytes): a NUL byte
 * shown as \0, cut with "..." past about 64 bytes. */
const char *lfield_shown(lua_State *L, int idx, char *buf)
{
    size_t len, o = 0;
    const char *s = lua_tolstring(L, idx, &len);
    for (size_t i = 0; i < len; i++) {
        if (o >= SHOWN_CAP - 8) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (s[i] == '\0') {
            buf[o++] = '\\';
            buf[o++] = '0';
        } else {
            buf[o++] = s[i];
        }
    }
    buf[o] = '\0';
    return buf;
}

/* Raise "...: field 'FIELD': [WHAT ]"VALUE" contains a NUL byte" for the
 * string at idx (free what you hold first). */
void lfield_nul_error(lua_State *L, int idx, const char *name, const char *field,
                      const char *what)
{
    char b[SHOWN_CAP];
    lfield_error(L, name, field, "%s%s\"%s\" contains a NUL byte (a C string would end "
                 "there)", what ? what : "", what ? " " : "", lfield_shown(L, idx, b));
}

/* The key of the pair lua_next pushed (at -2) as a field name of `parent`
 * (NULL: the declaration itself), "?" when it is not a string.  A key with
 * a NUL byte is no field of ours ("cmd\0x" must not pass for "cmd"): it is
 * an unknown field, shown with its \0. */
const char *lfield_key(lua_State *L, const char *name, const char *parent)
{
    if (lua_type(L, -2) != LUA_TSTRING)
        return "?";
    if (lfield_has_nul(L, -2)) {
        char b[SHOWN_CAP], sub[SHOWN_CAP + 64];
        snprintf(sub, sizeof sub, "%s%s%s", parent ? parent : "", parent ? "." : "",
                 lfield_shown(L, -2, b));
        lfield_error(L, name, sub, "unknown field (its name contains a NUL byte)");
    }
    return lua_tostring(L, -2);
}

/* A string field (the value at the top of the stack). */
char *lfield_string(lua_State *L, const char *name, const char *field)
{
    if (lua_type(L, -1) != LUA_TSTRING)
        lfield_error(L, name, field, "string expected, got %s", luaL_typename(L, -1));
    if (lfield_has_nul(L, -1))
        lfield_nul_error(L, -1, name, field, NULL);
    return xstrdup(lua_tostring(L, -1));
}

double lfield_number(lua_State *L, const char *name, const char *field, double min)
{
    if (lua_type(L, -1) != LUA_TNUMBER)
        lfield_error(L, name, field, "number expected, got %s", luaL_typename(L, -1));
    double v = lua_tonumber(L, -1);
    if (!isfinite(v) || v < min || v > 1e9)
        lfield_error(L, name, field, "must be a number >= %g (and at most 1e9)", min);
    return v;
}

/* A list of strings (numbers are converted), at least `min` long; `item`
 * names an element in messages ("item", "argv item").  An item with a NUL
 * byte is an error, unless `nul_ok` (tend.ready.exec: the declaration that
 * takes the check refuses it, naming the proc). */
char **lfield_strv(lua_State *L, const char *name, const char *field, size_t min,
                   const char *item, bool nul_ok)
{
    if (lua_type(L, -1) != LUA_TTABLE)
        lfield_error(L, name, field, "list of strings expected, got %s", luaL_typename(L, -1));
    size_t n = lua_rawlen(L, -1);
    if (n < min)
        lfield_error(L, name, field, "must hold at least %zu string%s", min,
                     min == 1 ? "" : "s");
    /* every key must be 1..n: a map here is a mistake */
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
            (size_t)lua_tointeger(L, -1) > n)
            lfield_error(L, name, field, "must be a list (found key '%s')",
                         lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    }
    char **v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 1; i <= n; i++) {
        int t = lua_rawgeti(L, -1, (lua_Integer)i);
        if (t != LUA_TSTRING && t != LUA_TNUMBER) {
            strv_free(v);
            lfield_error(L, name, field, "%s %zu: string expected, got %s", item, i,
                         luaL_typename(L, -1));
        }
        if (!nul_ok && lfield_has_nul(L, -1)) {
            char what[48];
            snprintf(what, sizeof what, "%s %zu:", item, i);
            strv_free(v);
            lfield_nul_error(L, -1, name, field, what);
        }
        v[i - 1] = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return v;
}

/* `env`: KEY = string | number | false. */
char **lfield_env(lua_State *L, const char *name)
{
    if (lua_type(L, -1) != LUA_TTABLE)
        lfield_error(L, name, "env", "table expected, got %s", luaL_typename(L, -1));
    size_t n = 0, cap = 8;
    char **v = xcalloc(cap + 1, sizeof *v);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            strv_free(v);
            lfield_error(L, name, "env", "keys must be strings, got %s", luaL_typename(L, -2));
        }
        if (lfield_has_nul(L, -2)) {
            v[n] = NULL;
            strv_free(v);
            lfield_nul_error(L, -2, name, "env", "the variable name");
        }
        const char *k = lua_tostring(L, -2);
        if (!*k || strchr(k, '=')) {
            strv_free(v);
            lfield_error(L, name, "env", "'%s' is not a variable name", k);
        }
        if (n == cap) {
            cap *= 2;
            v = xrealloc(v, (cap + 1) * sizeof *v);
        }
        int t = lua_type(L, -1);
        if (lfield_has_nul(L, -1)) {
            char what[SHOWN_CAP + 16], b[SHOWN_CAP];
            snprintf(what, sizeof what, "%s: the value", lfield_shown(L, -2, b));
            v[n] = NULL;
            strv_free(v);
            lfield_nul_error(L, -1, name, "env", what);
        }
        if (t == LUA_TSTRING || t == LUA_TNUMBER) {
            lua_pushvalue(L, -1);  /* tostring would change a number key in place */
            v[n++] = xasprintf("%s=%s", k, lua_tostring(L, -1));
            lua_pop(L, 1);
        } else if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
            v[n++] = xstrdup(k);
        } else {
            v[n] = NULL;
            strv_free(v);
            lfield_error(L, name, "env", "%s: string, number or false expected, got %s",
                         k, luaL_typename(L, -1));
        }
        v[n] = NULL;
        lua_pop(L, 1);
    }
    return v;
}

/* A sub-table of numbers with the given keys, e.g. backoff. */
void lfield_number_table(lua_State *L, const char *name, const char *field,
                         const char *const *keys, double **slots, const double *mins)
{
    if (lua_type(L, -1) != LUA_TTABLE)
        lfield_error(L, name, field, "table expected, got %s", luaL_typename(L, -1));
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        size_t k = 0;
        const char *key = lfield_key(L, name, field);
        while (keys[k] && strcmp(keys[k], key) != 0)
            k++;
        char sub[64];
        snprintf(sub, sizeof sub, "%s.%s", field, key);
        if (!keys[k])
            lfield_unknown(L, name, sub, key, keys, NULL);
        *slots[k] = lfield_number(L, name, sub, mins[k]);
        lua_pop(L, 1);
    }
}
