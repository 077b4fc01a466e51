/* ldecl.c -- declarations: `tend.proc{...}` checked field by field, and
 * the tend.ready constructors whose checks a declaration takes.
 *
 * A declaration is checked as the call runs, so an error points at the
 * line of the call (luaL_error adds "file:line:") and names the proc and
 * the field. */
#include <errno.h>
#include <grp.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "base/envfile.h"
#include "policy/lbind.h"
#include "base/log.h"
#include "base/pattern.h"
#include "policy/lvm.h"
#include "core/manager.h"
#include "policy/policy.h"
#include "base/restart.h"
#include "core/spec.h"
#include "base/util.h"
#include "policy/ldecl.h"

#define NAME_MAX_LEN 64

/* The fields of a declaration (SPEC 3). */
static const char *const known_fields[] = {
    "name", "cmd", "env", "env_file", "cwd", "user", "after", "stop_signal",
    "stop_timeout", "restart", "backoff", "give_up", "output", "autostart",
    "ready", "ready_timeout", "ready_interval", "watchdog", "health", NULL};

/* What other supervisors (and habit) call some of them: an unknown field
 * of these names says which field is meant. */
static const struct {
    const char *alias, *field;
} field_aliases[] = {
    {"command", "cmd"},        {"args", "cmd"},          {"argv", "cmd"},
    {"program", "cmd"},        {"environment", "env"},   {"envfile", "env_file"},
    {"env_files", "env_file"}, {"dotenv", "env_file"},   {"dir", "cwd"},
    {"directory", "cwd"},      {"workdir", "cwd"},       {"working_dir", "cwd"},
    {"chdir", "cwd"},          {"depends_on", "after"},  {"depends", "after"},
    {"requires", "after"},     {"autorestart", "restart"},
    {"kill_signal", "stop_signal"}, {"stopsignal", "stop_signal"},
    {"stopwaitsecs", "stop_timeout"}, {"kill_timeout", "stop_timeout"},
    {"healthcheck", "health"}, {"readiness", "ready"},   {"readiness_probe", "ready"},
    {"log", "output"},         {"logfile", "output"},    {"stdout", "output"},
    {"stderr", "output"},      {"stdout_logfile", "output"},
};

/* The mode strings of `restart` (restart.c knows them). */
static const char *const restart_modes[] = {"always", "on-failure", "never", NULL};

static int l_ready_fd(lua_State *L);
static int l_ready_notify(lua_State *L);
static int l_ready_log(lua_State *L);
static int l_ready_tcp(lua_State *L);
static int l_ready_exec(lua_State *L);

/* The tend.ready constructors and how a call of each is written. */
static const struct {
    lua_CFunction fn;
    const char *name, *call;
} ready_forms[] = {
    {l_ready_fd, "fd", "tend.ready.fd(FD)"},
    {l_ready_notify, "notify", "tend.ready.notify()"},
    {l_ready_log, "log", "tend.ready.log(\"PATTERN\")"},
    {l_ready_tcp, "tcp", "tend.ready.tcp(PORT)"},
    {l_ready_exec, "exec", "tend.ready.exec({ \"CMD\", ... })"},
};


static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

/* Raise "file:line: proc 'NAME': field 'FIELD': message". */
static int __attribute__((noreturn, format(printf, 4, 5)))
field_error(lua_State *L, const char *name, const char *field, const char *fmt, ...)
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

/* field_error with a message in a new string (freed here). */
static int __attribute__((noreturn))
field_error_owned(lua_State *L, const char *name, const char *field, char *msg)
{
    lua_pushstring(L, msg);
    free(msg);
    field_error(L, name, field, "%s", lua_tostring(L, -1));
}

/* Raise "unknown field" for `field` (shown whole, e.g. "backoff.inital"),
 * whose own key is `key`, with a "did you mean" among `known` (and the
 * aliases of the declaration's fields when `aliases`). */
static int __attribute__((noreturn))
unknown_field(lua_State *L, const char *name, const char *field, const char *key,
              const char *const *known, bool aliases)
{
    struct suggest g;
    suggest_init(&g, key);
    for (const char *const *k = known; *k; k++)
        suggest_try(&g, *k);
    const char *best = suggest_best(&g);
    for (size_t i = 0; aliases && !best && i < ARRAY_LEN(field_aliases); i++)
        if (strcasecmp(key, field_aliases[i].alias) == 0)
            best = field_aliases[i].field;
    if (best)
        field_error(L, name, field, "unknown field (did you mean '%s'?)", best);
    field_error(L, name, field, "unknown field");
}

static const char *type_of(lua_State *L, int idx)
{
    return luaL_typename(L, idx);
}

/* Whether the value at idx is a string holding a NUL byte.  C sees such a
 * string cut at the NUL: { "ar\0g0" } would run as "ar", a key "cmd\0x"
 * would pass for the field "cmd".  So every string of a declaration that
 * becomes a C string, or is compared as one, is refused when it has one. */
bool ldecl_has_nul(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        return false;  /* a number has none (and lua_tolstring would convert it) */
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    return memchr(s, '\0', len) != NULL;
}

/* Room for a string as shown in a message by ldecl_shown(). */


/* The string at idx for a message, into buf (SHOWN_CAP bytes): a NUL byte
 * shown as \0, cut with "..." past about 64 bytes. */
const char *ldecl_shown(lua_State *L, int idx, char *buf)
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
static int __attribute__((noreturn))
nul_error(lua_State *L, int idx, const char *name, const char *field, const char *what)
{
    char b[SHOWN_CAP];
    field_error(L, name, field, "%s%s\"%s\" contains a NUL byte (a C string would end "
                "there)", what ? what : "", what ? " " : "", ldecl_shown(L, idx, b));
}

/* The key of the pair lua_next pushed (at -2) as a field name of `parent`
 * (NULL: the declaration itself), "?" when it is not a string.  A key with
 * a NUL byte is no field of ours ("cmd\0x" must not pass for "cmd"): it is
 * an unknown field, shown with its \0. */
static const char *key_of(lua_State *L, const char *name, const char *parent)
{
    if (lua_type(L, -2) != LUA_TSTRING)
        return "?";
    if (ldecl_has_nul(L, -2)) {
        char b[SHOWN_CAP], sub[SHOWN_CAP + 64];
        snprintf(sub, sizeof sub, "%s%s%s", parent ? parent : "", parent ? "." : "",
                 ldecl_shown(L, -2, b));
        field_error(L, name, sub, "unknown field (its name contains a NUL byte)");
    }
    return lua_tostring(L, -2);
}

/* A string field (the value at the top of the stack). */
char *ldecl_get_string(lua_State *L, const char *name, const char *field)
{
    if (lua_type(L, -1) != LUA_TSTRING)
        field_error(L, name, field, "string expected, got %s", type_of(L, -1));
    if (ldecl_has_nul(L, -1))
        nul_error(L, -1, name, field, NULL);
    return xstrdup(lua_tostring(L, -1));
}

double ldecl_get_number(lua_State *L, const char *name, const char *field,
                         double min)
{
    if (lua_type(L, -1) != LUA_TNUMBER)
        field_error(L, name, field, "number expected, got %s", type_of(L, -1));
    double v = lua_tonumber(L, -1);
    if (!isfinite(v) || v < min || v > 1e9)
        field_error(L, name, field, "must be a number >= %g (and at most 1e9)", min);
    return v;
}

/* A list of strings (numbers are converted), at least `min` long; `item`
 * names an element in messages ("item", "argv item").  An item with a NUL
 * byte is an error, unless `nul_ok` (tend.ready.exec: the declaration that
 * takes the check refuses it, naming the proc). */
char **ldecl_get_strv(lua_State *L, const char *name, const char *field, size_t min,
                       const char *item, bool nul_ok)
{
    if (lua_type(L, -1) != LUA_TTABLE)
        field_error(L, name, field, "list of strings expected, got %s", type_of(L, -1));
    size_t n = lua_rawlen(L, -1);
    if (n < min)
        field_error(L, name, field, "must hold at least %zu string%s", min,
                    min == 1 ? "" : "s");
    /* every key must be 1..n: a map here is a mistake */
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
            (size_t)lua_tointeger(L, -1) > n)
            field_error(L, name, field, "must be a list (found key '%s')",
                        lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    }
    char **v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 1; i <= n; i++) {
        int t = lua_rawgeti(L, -1, (lua_Integer)i);
        if (t != LUA_TSTRING && t != LUA_TNUMBER) {
            strv_free(v);
            field_error(L, name, field, "%s %zu: string expected, got %s", item, i,
                        type_of(L, -1));
        }
        if (!nul_ok && ldecl_has_nul(L, -1)) {
            char what[48];
            snprintf(what, sizeof what, "%s %zu:", item, i);
            strv_free(v);
            nul_error(L, -1, name, field, what);
        }
        v[i - 1] = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return v;
}

/* `after`: names or procs. */
static char **get_after(lua_State *L, const char *name)
{
    if (lua_type(L, -1) != LUA_TTABLE)
        field_error(L, name, "after", "list of proc names expected, got %s",
                    type_of(L, -1));
    size_t n = lua_rawlen(L, -1);
    /* a list and nothing else: a key past 1..n would be dropped silently
     * (after = { 'db', x = 1 } waited for db only; { db = "started" }, the
     * map of conditions, is not supported yet and must not pass for none) */
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        bool listed = lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 &&
                      (size_t)lua_tointeger(L, -1) <= n;
        if (!listed) {
            lua_pop(L, 1);
            field_error(L, name, "after", "a list of procs or names expected (a table "
                        "with other keys, e.g. a map of conditions, is not supported)");
        }
    }
    char **v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        if (luaL_testudata(L, -1, PROC_MT)) {
            lua_getiuservalue(L, -1, 1);
            lua_replace(L, -2);
        }
        if (lua_type(L, -1) != LUA_TSTRING) {
            strv_free(v);
            field_error(L, name, "after", "item %zu: proc or name expected, got %s",
                        i, type_of(L, -1));
        }
        if (ldecl_has_nul(L, -1)) {  /* "db\0x" would wait for db */
            char what[32];
            snprintf(what, sizeof what, "item %zu:", i);
            strv_free(v);
            nul_error(L, -1, name, "after", what);
        }
        v[i - 1] = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return v;
}

/* `env`: KEY = string | number | false. */
char **ldecl_get_env(lua_State *L, const char *name)
{
    if (lua_type(L, -1) != LUA_TTABLE)
        field_error(L, name, "env", "table expected, got %s", type_of(L, -1));
    size_t n = 0, cap = 8;
    char **v = xcalloc(cap + 1, sizeof *v);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            strv_free(v);
            field_error(L, name, "env", "keys must be strings, got %s", type_of(L, -2));
        }
        if (ldecl_has_nul(L, -2)) {
            v[n] = NULL;
            strv_free(v);
            nul_error(L, -2, name, "env", "the variable name");
        }
        const char *k = lua_tostring(L, -2);
        if (!*k || strchr(k, '=')) {
            strv_free(v);
            field_error(L, name, "env", "'%s' is not a variable name", k);
        }
        if (n == cap) {
            cap *= 2;
            v = xrealloc(v, (cap + 1) * sizeof *v);
        }
        int t = lua_type(L, -1);
        if (ldecl_has_nul(L, -1)) {
            char what[SHOWN_CAP + 16], b[SHOWN_CAP];
            snprintf(what, sizeof what, "%s: the value", ldecl_shown(L, -2, b));
            v[n] = NULL;
            strv_free(v);
            nul_error(L, -1, name, "env", what);
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
            field_error(L, name, "env", "%s: string, number or false expected, got %s",
                        k, type_of(L, -1));
        }
        v[n] = NULL;
        lua_pop(L, 1);
    }
    return v;
}

/* A sub-table of numbers with the given keys, e.g. backoff. */
static void get_number_table(lua_State *L, const char *name, const char *field,
                             const char *const *keys, double **slots, const double *mins)
{
    if (lua_type(L, -1) != LUA_TTABLE)
        field_error(L, name, field, "table expected, got %s", type_of(L, -1));
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        size_t k = 0;
        const char *key = key_of(L, name, field);
        while (keys[k] && strcmp(keys[k], key) != 0)
            k++;
        char sub[64];
        snprintf(sub, sizeof sub, "%s.%s", field, key);
        if (!keys[k])
            unknown_field(L, name, sub, key, keys, false);
        *slots[k] = ldecl_get_number(L, name, sub, mins[k]);
        lua_pop(L, 1);
    }
}

static void resolve_user(lua_State *L, struct spec *s)
{
    struct passwd *pw;
    errno = 0;
    char *end;
    long long uid = strtoll(s->user, &end, 10);
    bool numeric = *end == '\0' && end != s->user;
    /* a uid past uid_t would wrap ("4294967296" ran as root) */
    if (numeric && (uid < 0 || uid > (long long)UINT32_MAX - 1))
        field_error(L, s->name, "user", "uid %s out of range (0 to 4294967294)", s->user);
    pw = numeric ? getpwuid((uid_t)uid) : getpwnam(s->user);
    /* getpwnam(3): these errors also mean "no such user" */
    int err = errno == ENOENT || errno == ESRCH || errno == EBADF || errno == EPERM ? 0 : errno;
    if (!pw)
        field_error(L, s->name, "user", "unknown user '%s'%s%s", s->user,
                    err ? ": " : "", err ? strerror(err) : "");
    s->uid = pw->pw_uid;
    s->gid = pw->pw_gid;
    s->home = xstrdup(pw->pw_dir);
    free(s->user);
    s->user = xstrdup(pw->pw_name);
    int ng = 32;
    s->groups = xcalloc((size_t)ng, sizeof *s->groups);
    if (getgrouplist(s->user, s->gid, s->groups, &ng) < 0) {
        s->groups = xrealloc(s->groups, (size_t)ng * sizeof *s->groups);
        getgrouplist(s->user, s->gid, s->groups, &ng);
    }
    s->ngroups = ng;
}

/* A check (a tend.ready.* value or a function) at the top of the stack
 * into *c; `field` names it in errors. */
/* The string field `k` of the check table at the top, or an error: the
 * table is the policy's to edit, so nothing in it is trusted. */
static const char *check_string(lua_State *L, const char *name, const char *field,
                                const char *k)
{
    lua_getfield(L, -1, k);
    if (lua_type(L, -1) != LUA_TSTRING)
        field_error(L, name, field, "the check's '%s' was changed; make it again with "
                    "tend.ready.*", k);
    if (ldecl_has_nul(L, -1)) {  /* a host or a pattern, cut at the NUL, would be another */
        char what[64];
        snprintf(what, sizeof what, "the check's '%s'", k);
        nul_error(L, -1, name, field, what);
    }
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1);  /* still referenced by the table */
    return v;
}

/* The tend.ready constructor that the value at idx is (a function not
 * called), as an index of ready_forms, or -1. */
static int ready_form_of(lua_State *L, int idx)
{
    lua_CFunction f = lua_type(L, idx) == LUA_TFUNCTION ? lua_tocfunction(L, idx) : NULL;
    for (size_t i = 0; f && i < ARRAY_LEN(ready_forms); i++)
        if (f == ready_forms[i].fn)
            return (int)i;
    return -1;
}

/* Whether the value at idx is the tend.ready table itself. */
static bool is_ready_table(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return false;
    lua_pushstring(L, "tcp");
    lua_rawget(L, idx < 0 ? idx - 1 : idx);  /* raw: a table of the policy's runs no code */
    bool is = lua_tocfunction(L, -1) == l_ready_tcp;
    lua_pop(L, 1);
    return is;
}

/* Whether the value at idx is a check made by tend.ready.*. */
static bool is_check(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return false;
    luaL_getmetatable(L, CHECK_MT);
    bool ours = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return ours;
}

/* Push how the check table at the top was written ("tend.ready.tcp(80)"),
 * for a message that shows where it goes; a generic form when the table
 * was changed. */
static const char *push_check_call(lua_State *L)
{
    lua_getfield(L, -1, "kind");
    const char *kind = lua_tostring(L, -1);
    kind = kind ? kind : "?";
    lua_pop(L, 1);  /* the table still holds it */
    if (strcmp(kind, "tcp") == 0) {
        lua_getfield(L, -1, "target");
        const char *t = lua_tostring(L, -1);
        const char *colon = t ? strrchr(t, ':') : NULL;
        if (!colon) {
            lua_pop(L, 1);
            return lua_pushstring(L, "tend.ready.tcp(PORT)");
        }
        char host[300];
        size_t hl = (size_t)(colon - t);
        if (hl >= 2 && t[0] == '[' && t[hl - 1] == ']')
            t++, hl -= 2;
        snprintf(host, sizeof host, "%.*s", (int)hl, t);
        if (strcmp(host, "127.0.0.1") == 0)
            lua_pushfstring(L, "tend.ready.tcp(%s)", colon + 1);
        else
            lua_pushfstring(L, "tend.ready.tcp(%s, \"%s\")", colon + 1, host);
        lua_remove(L, -2);
        return lua_tostring(L, -1);
    }
    if (strcmp(kind, "exec") == 0) {
        lua_getfield(L, -1, "argv");
        struct buf b = {0};
        buf_put(&b, "tend.ready.exec({ ", 18);
        lua_Integer n = lua_type(L, -1) == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : 0, i;
        for (i = 1; i <= n && b.len < 200; i++) {
            lua_rawgeti(L, -1, i);
            const char *a = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
            if (i > 1)
                buf_put(&b, ", ", 2);
            buf_put(&b, "\"", 1);
            buf_put(&b, a, strlen(a));
            buf_put(&b, "\"", 1);
            lua_pop(L, 1);
        }
        const char *end = i <= n ? ", ... })" : " })";
        buf_put(&b, end, strlen(end) + 1);
        lua_pop(L, 1);
        lua_pushstring(L, b.p);
        free(b.p);
        return lua_tostring(L, -1);
    }
    for (size_t i = 0; i < ARRAY_LEN(ready_forms); i++)
        if (strcmp(kind, ready_forms[i].name) == 0)
            return lua_pushstring(L, ready_forms[i].call);
    return lua_pushstring(L, "tend.ready.tcp(PORT)");
}

static void get_check(lua_State *L, const char *name, const char *field, struct check *c,
                      bool health)
{
    int form = ready_form_of(L, -1);
    if (form >= 0 && health && ready_forms[form].fn != l_ready_tcp &&
        ready_forms[form].fn != l_ready_exec)
        field_error(L, name, field, "tend.ready.%s cannot be a health check (use tcp, exec "
                    "or a function): health = { check = tend.ready.tcp(PORT) }",
                    ready_forms[form].name);
    if (form >= 0)
        field_error(L, name, field, "tend.ready.%s must be called: %s%s%s",
                    ready_forms[form].name, health ? "health = { check = " : "ready = ",
                    ready_forms[form].call, health ? " }" : "");
    if (lua_type(L, -1) == LUA_TFUNCTION) {
        c->kind = CHECK_FUNC;  /* the function itself is kept by the handle */
        return;
    }
    if (is_ready_table(L, -1))
        field_error(L, name, field, "tend.ready is the table of checks: pick one and call it, "
                    "e.g. %stend.ready.tcp(PORT)%s", health ? "health = { check = " : "ready = ",
                    health ? " }" : "");
    const char *got = type_of(L, -1);
    if (!health && lua_type(L, -1) == LUA_TTABLE && !is_check(L, -1)) {
        /* the form of health given to ready: { check = ... } */
        lua_pushstring(L, "check");
        lua_rawget(L, -2);
        if (!lua_isnil(L, -1))
            field_error(L, name, field, "ready takes the check itself, not a table: ready = %s",
                        is_check(L, -1) ? push_check_call(L) : "tend.ready.tcp(PORT)");
        lua_pop(L, 1);
    }
    if (!is_check(L, -1))
        field_error(L, name, field, "a tend.ready.* check or a function expected, got %s", got);
    const char *kind = check_string(L, name, field, "kind");
    if (health && (strcmp(kind, "fd") == 0 || strcmp(kind, "notify") == 0 ||
                   strcmp(kind, "log") == 0))
        field_error(L, name, field, "a %s check cannot be a health check "
                    "(use tcp, exec or a function)", kind);
    if (strcmp(kind, "fd") == 0) {
        c->kind = CHECK_FD;
        lua_getfield(L, -1, "fd");
        lua_Integer fd = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
        lua_pop(L, 1);
        if (fd < 3 || fd > 1023)
            field_error(L, name, field, "the check's fd number must be 3..1023");
        c->fd = (int)fd;
    } else if (strcmp(kind, "notify") == 0) {
        c->kind = CHECK_NOTIFY;
    } else if (strcmp(kind, "log") == 0) {
        c->kind = CHECK_LOG;
        c->pattern = xstrdup(check_string(L, name, field, "pattern"));
        lua_getfield(L, -1, "stream");
        if (ldecl_has_nul(L, -1))
            nul_error(L, -1, name, field, "the check's 'stream'");
        const char *st = lua_tostring(L, -1);
        c->stream = !st ? -1 : strcmp(st, "stderr") == 0 ? 1 : 0;
        lua_pop(L, 1);
    } else if (strcmp(kind, "tcp") == 0) {
        c->kind = CHECK_TCP;
        lua_getfield(L, -1, "addr");
        size_t len = 0;
        const char *a = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        lua_pop(L, 1);
        if (a) {
            if (len < sizeof(sa_family_t) || len > sizeof c->addr)
                field_error(L, name, field, "the check's 'addr' was changed; make it again "
                            "with tend.ready.tcp");
            memcpy(&c->addr, a, len);
            c->addrlen = (socklen_t)len;
        } else {
            c->host = xstrdup(check_string(L, name, field, "host"));
            c->port = xstrdup(check_string(L, name, field, "port"));
        }
        c->target = xstrdup(check_string(L, name, field, "target"));
    } else if (strcmp(kind, "exec") == 0) {
        c->kind = CHECK_EXEC;
        lua_getfield(L, -1, "argv");
        c->argv = ldecl_get_strv(L, name, field, 1, "argv item", false);
        lua_pop(L, 1);
    } else {
        field_error(L, name, field, "the check's kind '%s' is not one tend knows", kind);
    }
}

/* A path relative to the policy file's directory, made absolute. */
static char *policy_path(struct policy *pol, const char *path)
{
    return path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", pol->dir, path);
}

/* `output`: "inherit", "discard", a file path, or { path, max_size, keep }.
 * The file's directory must exist and be writable now. */
static void get_output(lua_State *L, struct policy *pol, struct spec *s)
{
    const char *name = s->name;
    const char *path = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) {
        if (ldecl_has_nul(L, -1))
            nul_error(L, -1, name, "output", NULL);
        const char *o = lua_tostring(L, -1);
        if (strcmp(o, "inherit") == 0) {
            s->output = OUTPUT_INHERIT;
            return;
        }
        if (strcmp(o, "discard") == 0) {
            s->output = OUTPUT_DISCARD;
            return;
        }
        path = o;
    } else if (lua_type(L, -1) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            const char *k = key_of(L, name, "output");
            char sub[64];
            snprintf(sub, sizeof sub, "output.%s", k);
            if (strcmp(k, "path") == 0) {
                if (lua_type(L, -1) != LUA_TSTRING)
                    field_error(L, name, sub, "string expected, got %s", type_of(L, -1));
                if (ldecl_has_nul(L, -1))
                    nul_error(L, -1, name, sub, NULL);
            } else if (strcmp(k, "max_size") == 0) {
                s->output_max_size = (off_t)ldecl_get_number(L, name, sub, 1024);
            } else if (strcmp(k, "keep") == 0) {
                double keep = ldecl_get_number(L, name, sub, 0);
                if (keep != floor(keep) || keep > 1000)
                    field_error(L, name, sub, "a whole number 0..1000 expected");
                s->output_keep = (int)keep;
            } else {
                static const char *const okeys[] = {"path", "max_size", "keep", NULL};
                unknown_field(L, name, sub, k, okeys, false);
            }
            lua_pop(L, 1);
        }
        lua_getfield(L, -1, "path");
        path = lua_tostring(L, -1);
        lua_pop(L, 1);  /* the string stays reachable from the table */
        if (!path)
            field_error(L, name, "output.path", "required");
    } else {
        field_error(L, name, "output", "\"inherit\", \"discard\", a file path or "
                    "{ path = ..., max_size = ..., keep = ... } expected, got %s",
                    type_of(L, -1));
    }
    s->output = OUTPUT_FILE;
    free(s->output_path);
    s->output_path = policy_path(pol, path);
    char *dir = xstrdup(s->output_path);
    *strrchr(dir, '/') = '\0';
    int ok = access(*dir ? dir : "/", W_OK) == 0;
    int err = errno;
    free(dir);
    if (!ok)
        field_error(L, name, "output", "%s: its directory: %s", s->output_path, strerror(err));
}

/* `env_file`: a path or a list of paths, relative to the policy file's
 * directory; the files are read once the whole declaration is known
 * (load_env_files). */
static void get_env_files(lua_State *L, struct policy *pol, struct spec *s)
{
    const char *name = s->name;
    char **v;
    if (lua_type(L, -1) == LUA_TSTRING) {
        char *one = ldecl_get_string(L, name, "env_file");  /* may raise: nothing held yet */
        v = xcalloc(2, sizeof *v);
        v[0] = one;
    } else if (lua_type(L, -1) == LUA_TTABLE) {
        v = ldecl_get_strv(L, name, "env_file", 0, "item", false);
    } else {
        field_error(L, name, "env_file", "a file path or a list of paths expected, got %s",
                    type_of(L, -1));
    }
    strv_free(s->env_file);
    s->env_file = v;
    for (char **f = v; *f; f++) {
        if (!**f)
            field_error(L, name, "env_file", "an empty path");
        char *abs = policy_path(pol, *f);
        free(*f);
        *f = abs;
    }
}

/* Read the env files, in order (a later one wins), and lay `env` over
 * them (env wins; its `false` unsets whatever the files set). */
static void load_env_files(lua_State *L, struct spec *s)
{
    char **files = NULL;
    for (char **f = s->env_file; f && *f; f++) {
        char *err = NULL;
        size_t len;
        char *text = envfile_read(*f, &len, &err);
        char **pairs = text ? envfile_parse(text, len, *f, &err) : NULL;
        free(text);
        if (!pairs) {
            strv_free(files);
            field_error_owned(L, s->name, "env_file", err);
        }
        char **merged = envfile_overlay(files, pairs);
        strv_free(files);
        strv_free(pairs);
        files = merged;
    }
    char **env = envfile_overlay(files, s->env);
    strv_free(files);
    strv_free(s->env);
    s->env = env;
}

/* Fill `s` from the field at the top of the stack, keyed `field`. */
static void set_field(lua_State *L, struct policy *pol, struct spec *s, const char *field)
{
    const char *name = s->name;
    if (strcmp(field, "name") == 0) {
        return;  /* read first */
    } else if (strcmp(field, "cmd") == 0) {
        if (lua_type(L, -1) == LUA_TSTRING)
            field_error(L, name, field, "a list of strings (argv) expected, got a "
                        "string; for a shell write {\"sh\", \"-c\", \"...\"}");
        s->argv = ldecl_get_strv(L, name, field, 1, "item", false);
        if (!*s->argv[0])
            field_error(L, name, field, "the program name is empty");
    } else if (strcmp(field, "env") == 0) {
        s->env = ldecl_get_env(L, name);
    } else if (strcmp(field, "env_file") == 0) {
        get_env_files(L, pol, s);
    } else if (strcmp(field, "cwd") == 0) {
        char *cwd = ldecl_get_string(L, name, field);
        if (cwd[0] != '/') {
            const char *rel = cwd;  /* "." is the directory, "./x" is "x" */
            while (rel[0] == '.' && rel[1] == '/')
                rel += 2 + strspn(rel + 2, "/");
            s->cwd = strcmp(rel, ".") == 0 || !*rel ? xstrdup(pol->dir)
                                                   : xasprintf("%s/%s", pol->dir, rel);
            free(cwd);
        } else {
            s->cwd = cwd;
        }
        /* the child's chdir would fail at each spawn: say so now */
        struct stat st;
        if (stat(s->cwd, &st) != 0)
            field_error(L, name, field, "%s: %s", s->cwd, strerror(errno));
        if (!S_ISDIR(st.st_mode))
            field_error(L, name, field, "%s is not a directory", s->cwd);
    } else if (strcmp(field, "user") == 0) {
        if (lua_type(L, -1) == LUA_TNUMBER) {
            lua_pushvalue(L, -1);
            s->user = xstrdup(lua_tostring(L, -1));
            lua_pop(L, 1);
        } else {
            s->user = ldecl_get_string(L, name, field);
        }
        resolve_user(L, s);
    } else if (strcmp(field, "after") == 0) {
        s->after = get_after(L, name);
    } else if (strcmp(field, "stop_signal") == 0) {
        int sig = -1;
        if (ldecl_has_nul(L, -1))
            nul_error(L, -1, name, field, NULL);
        if (lua_type(L, -1) == LUA_TNUMBER || lua_type(L, -1) == LUA_TSTRING) {
            lua_pushvalue(L, -1);
            sig = signal_from_name(lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        if (sig <= 0)
            field_error(L, name, field, "a signal name such as \"TERM\" expected");
        s->stop_signal = sig;
    } else if (strcmp(field, "stop_timeout") == 0) {
        s->stop_timeout = ldecl_get_number(L, name, field, 0);
    } else if (strcmp(field, "restart") == 0) {
        if (lua_type(L, -1) == LUA_TFUNCTION) {
            s->restart.mode = RESTART_FUNCTION;
            return;
        }
        if (ldecl_has_nul(L, -1))
            nul_error(L, -1, name, field, NULL);
        int mode = lua_type(L, -1) == LUA_TSTRING ? restart_mode_parse(lua_tostring(L, -1)) : -1;
        if (mode < 0 && lua_type(L, -1) == LUA_TSTRING) {
            struct suggest g;
            suggest_init(&g, lua_tostring(L, -1));
            for (const char *const *m = restart_modes; *m; m++)
                suggest_try(&g, *m);
            if (suggest_best(&g))
                field_error(L, name, field, "unknown mode '%s' (did you mean '%s'?)",
                            lua_tostring(L, -1), suggest_best(&g));
        }
        if (mode < 0)
            field_error(L, name, field, "\"always\", \"on-failure\", \"never\" or a function expected");
        s->restart.mode = (enum restart_mode)mode;
    } else if (strcmp(field, "backoff") == 0) {
        static const char *const keys[] = {"initial", "factor", "max", "jitter",
                                           "reset_after", NULL};
        static const double mins[] = {0, 1, 0, 0, 0};
        struct restart_policy *r = &s->restart;
        double *slots[] = {&r->initial, &r->factor, &r->max, &r->jitter, &r->reset_after};
        get_number_table(L, name, field, keys, slots, mins);
        if (r->jitter > 1)
            field_error(L, name, "backoff.jitter", "must be a fraction between 0 and 1");
    } else if (strcmp(field, "give_up") == 0 && lua_type(L, -1) == LUA_TBOOLEAN &&
               !lua_toboolean(L, -1)) {
        s->restart.give_up_restarts = 0;  /* false: restart without limit */
    } else if (strcmp(field, "give_up") == 0) {
        static const char *const keys[] = {"restarts", "within", NULL};
        static const double mins[] = {1, 0};
        double restarts = 0, within = 0;
        double *slots[] = {&restarts, &within};
        get_number_table(L, name, field, keys, slots, mins);
        if (restarts == 0 || within == 0 || restarts != floor(restarts) || restarts > 10000)
            field_error(L, name, field, "{ restarts = N (1..10000), within = SECONDS } or "
                        "false expected");
        s->restart.give_up_restarts = (unsigned)restarts;
        s->restart.give_up_within = within;
    } else if (strcmp(field, "output") == 0) {
        get_output(L, pol, s);
    } else if (strcmp(field, "ready") == 0) {
        check_clear(&s->ready);
        get_check(L, name, field, &s->ready, false);
    } else if (strcmp(field, "ready_timeout") == 0) {
        s->ready_timeout = ldecl_get_number(L, name, field, 0);
    } else if (strcmp(field, "ready_interval") == 0) {
        s->ready_interval = ldecl_get_number(L, name, field, 0.001);
    } else if (strcmp(field, "watchdog") == 0) {
        s->watchdog = ldecl_get_number(L, name, field, 0.001);
    } else if (strcmp(field, "health") == 0) {
        /* a check where the table of health belongs */
        int form = ready_form_of(L, -1);
        if (form >= 0)
            field_error(L, name, field, "tend.ready.%s must be called, and a check goes in "
                        "health's 'check': health = { check = %s }", ready_forms[form].name,
                        ready_forms[form].call);
        if (lua_type(L, -1) == LUA_TFUNCTION)
            field_error(L, name, field, "a check function goes in health's 'check': "
                        "health = { check = function(proc) ... end }");
        if (is_check(L, -1)) {
            lua_getfield(L, -1, "kind");
            const char *kind = lua_tostring(L, -1);
            lua_pop(L, 1);  /* the table still holds it */
            if (kind && (strcmp(kind, "tcp") == 0 || strcmp(kind, "exec") == 0))
                field_error(L, name, field, "a check goes in health's 'check': "
                            "health = { check = %s }", push_check_call(L));
            field_error(L, name, field, "a %s check cannot be a health check (use tcp, exec "
                        "or a function): health = { check = tend.ready.tcp(PORT) }",
                        kind ? kind : "?");
        }
        if (is_ready_table(L, -1))
            field_error(L, name, field, "tend.ready is the table of checks: pick one and call "
                        "it, e.g. health = { check = tend.ready.tcp(PORT) }");
        if (lua_type(L, -1) != LUA_TTABLE)
            field_error(L, name, field, "{ check = ..., interval = 10, timeout = 5, "
                        "failures = 3 } expected, got %s", type_of(L, -1));
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            const char *k = key_of(L, name, "health");
            char sub[64];
            snprintf(sub, sizeof sub, "health.%s", k);
            if (strcmp(k, "check") == 0) {
                check_clear(&s->health);
                get_check(L, name, sub, &s->health, true);
            } else if (strcmp(k, "interval") == 0) {
                s->health_interval = ldecl_get_number(L, name, sub, 0.001);
            } else if (strcmp(k, "timeout") == 0) {
                s->health_timeout = ldecl_get_number(L, name, sub, 0.001);
            } else if (strcmp(k, "failures") == 0) {
                double f = ldecl_get_number(L, name, sub, 1);
                if (f != floor(f) || f > 1000)
                    field_error(L, name, sub, "a whole number 1..1000 expected");
                s->health_failures = (int)f;
            } else {
                static const char *const hkeys[] = {"check", "interval", "timeout",
                                                    "failures", NULL};
                unknown_field(L, name, sub, k, hkeys, false);
            }
            lua_pop(L, 1);
        }
        if (s->health.kind == CHECK_NONE)
            field_error(L, name, "health.check", "required");
    } else if (strcmp(field, "autostart") == 0) {
        if (lua_type(L, -1) != LUA_TBOOLEAN)
            field_error(L, name, field, "boolean expected, got %s", type_of(L, -1));
        s->autostart = lua_toboolean(L, -1);
    }
}

/* `len`: the Lua string's length, so that a NUL byte in it is refused */
static bool valid_name(const char *n, size_t len)
{
    if (len == 0 || len > NAME_MAX_LEN || strlen(n) != len)
        return false;
    for (; *n; n++)
        if (!(('a' <= *n && *n <= 'z') || ('A' <= *n && *n <= 'Z') ||
              ('0' <= *n && *n <= '9') || strchr("._-@", *n)))
            return false;
    return true;
}

/* Frees the spec it holds unless the spec was taken: a declaration that
 * raises half-way leaks nothing. */
#define SPECBOX_MT "tend.SpecBox"

static int specbox_gc(lua_State *L)
{
    struct spec **box = luaL_checkudata(L, 1, SPECBOX_MT);
    spec_free(*box);
    *box = NULL;
    return 0;
}

/* Where a declaration was made: "file:line" of the calling Lua code. */
static char *where(lua_State *L)
{
    luaL_where(L, 1);
    const char *w = lua_tostring(L, -1);
    size_t wl = strlen(w);
    char *s = xstrndup(w, wl >= 2 ? wl - 2 : wl);  /* without ": " */
    lua_pop(L, 1);
    return s;
}

/* Check the declaration table at index 1 and build its spec; the spec is
 * in a box at the top of the stack (take it with *box = NULL). */
struct spec **ldecl_parse(lua_State *L, struct policy *pol)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);

    lua_getfield(L, 1, "name");
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "tend.proc: field 'name': string expected, got %s", type_of(L, -1));
    size_t name_len;
    const char *name = lua_tolstring(L, -1, &name_len);
    if (!valid_name(name, name_len)) {
        char b[SHOWN_CAP];
        luaL_error(L, "tend.proc: field 'name': '%s' is not a valid name "
                   "(1 to %d of A-Z a-z 0-9 . _ - @%s)", ldecl_shown(L, -1, b), NAME_MAX_LEN,
                   strlen(name) != name_len ? "; it contains a NUL byte" : "");
    }
    long first = policy_find(pol, name);
    if (first >= 0)
        luaL_error(L, "proc '%s': field 'name': duplicate name (first "
                   "declared at %s)", name, pol->specs[first]->where);
    if (pol->m && manager_get(pol->m, name))
        luaL_error(L, "proc '%s': field 'name': duplicate name (a proc of that name "
                   "exists)", name);

    if (pol->n == 0)  /* the first declaration of a load (or a spawn after it) */
        spec_check_cmd_forget();  /* a program may have come or gone since */

    struct spec **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    if (luaL_newmetatable(L, SPECBOX_MT)) {
        lua_pushcfunction(L, specbox_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    struct spec *s = *box = spec_new();
    s->name = xstrdup(name);
    s->where = where(L);
    lua_replace(L, 2);  /* the box at 2, the name string no longer needed */
    lua_settop(L, 2);

    lua_pushnil(L);
    while (lua_next(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            field_error(L, s->name, NULL, "field names must be strings, got %s",
                        type_of(L, -2));
        const char *field = key_of(L, s->name, NULL);
        if (!in_list(known_fields, field))
            unknown_field(L, s->name, field, field, known_fields, true);
        set_field(L, pol, s, field);
        lua_pop(L, 1);
    }
    if (!s->argv)
        field_error(L, s->name, "cmd", "required");
    if (s->watchdog > 0 && s->ready.kind != CHECK_NOTIFY)
        field_error(L, s->name, "watchdog", "needs ready = tend.ready.notify(): the "
                    "pings are WATCHDOG=1 notifications");
    if (pol->m)
        for (char **a = s->after; a && *a; a++)
            if (!manager_get(pol->m, *a)) {
                struct suggest g;
                suggest_init(&g, *a);
                for (size_t i = 0, n = manager_count(pol->m); i < n; i++)
                    suggest_try(&g, proc_spec(manager_at(pol->m, i))->name);
                if (suggest_best(&g))
                    field_error(L, s->name, "after", "unknown proc '%s' (did you mean '%s'?)",
                                *a, suggest_best(&g));
                field_error(L, s->name, "after", "unknown proc '%s'", *a);
            }
    if (s->env_file)
        load_env_files(L, s);
    /* whether cmd[1] is there to run, now that env (PATH), cwd and user
     * are known: `tend run` warns, --check rejects */
    char *why = spec_check_cmd(s);
    if (why) {
        s->warning = xasprintf("%s: proc '%s': field 'cmd': %s", s->where, s->name, why);
        free(why);
    }
    return box;
}


/* ---- tend.ready: the readiness checks ---- */

/* A new check table of `kind` (the metatable marks it as made here). */
static void new_check(lua_State *L, const char *kind)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    luaL_setmetatable(L, CHECK_MT);
}

/* tend.ready.fd(N): a newline on fd N (s6's notification-fd). */
static int l_ready_fd(lua_State *L)
{
    lua_Integer fd = luaL_checkinteger(L, 1);
    if (fd < 3 || fd > 1023)
        return luaL_argerror(L, 1, "an fd number 3..1023 expected (0-2 are stdio)");
    new_check(L, "fd");
    lua_pushinteger(L, fd);
    lua_setfield(L, -2, "fd");
    return 1;
}

/* tend.ready.notify(): READY=1 on NOTIFY_SOCKET (sd_notify). */
static int l_ready_notify(lua_State *L)
{
    new_check(L, "notify");
    return 1;
}

/* tend.ready.log(pattern [, stream]): a line matching the Lua pattern. */
static int l_ready_log(lua_State *L)
{
    const char *pattern = luaL_checkstring(L, 1);
    const char *stream = luaL_optstring(L, 2, NULL);
    if (stream && ((strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0) ||
                   ldecl_has_nul(L, 2)))  /* "stderr\0x" is not "stderr" */
        return luaL_argerror(L, 2, "\"stdout\" or \"stderr\" expected");
    /* a malformed pattern is an error now, not at the first line */
    size_t plen;
    lua_tolstring(L, 1, &plen);
    const char *bad = pattern_check(pattern, plen);
    if (bad) {
        char b[SHOWN_CAP];
        const char *pre = "malformed pattern ";  /* some messages start so */
        bool has = strncmp(bad, pre, strlen(pre)) == 0;
        return luaL_error(L, "tend.ready.log: malformed pattern \"%s\"%s%s", ldecl_shown(L, 1, b),
                          has ? " " : ": ", has ? bad + strlen(pre) : bad);
    }
    new_check(L, "log");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "pattern");
    if (stream) {
        lua_pushstring(L, stream);
        lua_setfield(L, -2, "stream");
    }
    return 1;
}

/* tend.ready.tcp(port [, host]): a TCP connection succeeds.  A numeric
 * address is parsed now; a host name is looked up at each attempt, off the
 * loop (resolve.c), so the loop never waits for DNS, even at a reload, and
 * a name whose address changes is followed. */
static int l_ready_tcp(lua_State *L)
{
    lua_Integer port = luaL_checkinteger(L, 1);
    const char *host = luaL_optstring(L, 2, "127.0.0.1");
    if (port < 1 || port > 65535)
        return luaL_argerror(L, 1, "a port 1..65535 expected");
    if (!*host)
        return luaL_argerror(L, 2, "a host name or address expected");
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    char ports[16];
    snprintf(ports, sizeof ports, "%d", (int)port);
    /* A host with a NUL byte is kept whole, as a name, not parsed ("::1\0x"
     * would parse as ::1): the declaration refuses it, naming the proc. */
    bool nul = ldecl_has_nul(L, 2);
    int rc = nul ? EAI_NONAME : getaddrinfo(host, ports, &hints, &res);
    if (rc != 0 && rc != EAI_NONAME)
        return luaL_error(L, "tend.ready.tcp: %s: %s", host, gai_strerror(rc));
    new_check(L, "tcp");
    if (res) {
        lua_pushlstring(L, (const char *)res->ai_addr, res->ai_addrlen);
        lua_setfield(L, -2, "addr");
    } else {
        if (nul)
            lua_pushvalue(L, 2);
        else
            lua_pushstring(L, host);
        lua_setfield(L, -2, "host");
        lua_pushstring(L, ports);
        lua_setfield(L, -2, "port");
    }
    lua_pushfstring(L, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, (int)port);
    lua_setfield(L, -2, "target");
    if (res)
        freeaddrinfo(res);
    return 1;
}

/* tend.ready.exec(argv): the command exits 0. */
static int l_ready_exec(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    /* checked; the declaration copies it, and refuses a NUL byte there,
     * where the message can name the proc */
    char **argv = ldecl_get_strv(L, "tend.ready.exec", "argv", 1, "item", true);
    strv_free(argv);
    new_check(L, "exec");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "argv");
    return 1;
}

const luaL_Reg ldecl_ready_funcs[] = {
    {"fd", l_ready_fd},     {"notify", l_ready_notify}, {"log", l_ready_log},
    {"tcp", l_ready_tcp},   {"exec", l_ready_exec},     {NULL, NULL},
};

