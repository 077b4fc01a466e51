/* lready.c -- tend.ready's constructors (fd, notify, log, tcp, exec), and
 * a check value read back into a declaration's `struct check`.  A check
 * table is the policy's to edit: it is checked again when a declaration
 * takes it, and a constructor given where its call belongs is named. */
#include "policy/lready.h"

#include <lauxlib.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pattern.h"
#include "base/util.h"
#include "policy/lfield.h"

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

/* The string field `k` of the check table at the top, or an error: the
 * table is the policy's to edit, so nothing in it is trusted. */
static const char *check_string(lua_State *L, const char *name, const char *field,
                                const char *k)
{
    lua_getfield(L, -1, k);
    if (lua_type(L, -1) != LUA_TSTRING)
        lfield_error(L, name, field, "the check's '%s' was changed; make it again with "
                     "tend.ready.*", k);
    if (lfield_has_nul(L, -1)) {  /* a host or a pattern, cut at the NUL, would be another */
        char what[64];
        snprintf(what, sizeof what, "the check's '%s'", k);
        lfield_nul_error(L, -1, name, field, what);
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

void lready_get(lua_State *L, const char *name, const char *field, struct check *c,
                bool health)
{
    int form = ready_form_of(L, -1);
    if (form >= 0 && health && ready_forms[form].fn != l_ready_tcp &&
        ready_forms[form].fn != l_ready_exec)
        lfield_error(L, name, field, "tend.ready.%s cannot be a health check (use tcp, exec "
                     "or a function): health = { check = tend.ready.tcp(PORT) }",
                     ready_forms[form].name);
    if (form >= 0)
        lfield_error(L, name, field, "tend.ready.%s must be called: %s%s%s",
                     ready_forms[form].name, health ? "health = { check = " : "ready = ",
                     ready_forms[form].call, health ? " }" : "");
    if (lua_type(L, -1) == LUA_TFUNCTION) {
        c->kind = CHECK_FUNC;  /* the function itself is kept by the handle */
        return;
    }
    if (is_ready_table(L, -1))
        lfield_error(L, name, field, "tend.ready is the table of checks: pick one and call it, "
                     "e.g. %stend.ready.tcp(PORT)%s", health ? "health = { check = " : "ready = ",
                     health ? " }" : "");
    const char *got = luaL_typename(L, -1);
    if (!health && lua_type(L, -1) == LUA_TTABLE && !is_check(L, -1)) {
        /* the form of health given to ready: { check = ... } */
        lua_pushstring(L, "check");
        lua_rawget(L, -2);
        if (!lua_isnil(L, -1))
            lfield_error(L, name, field, "ready takes the check itself, not a table: ready = %s",
                         is_check(L, -1) ? push_check_call(L) : "tend.ready.tcp(PORT)");
        lua_pop(L, 1);
    }
    if (!is_check(L, -1))
        lfield_error(L, name, field, "a tend.ready.* check or a function expected, got %s", got);
    const char *kind = check_string(L, name, field, "kind");
    if (health && (strcmp(kind, "fd") == 0 || strcmp(kind, "notify") == 0 ||
                   strcmp(kind, "log") == 0))
        lfield_error(L, name, field, "a %s check cannot be a health check "
                     "(use tcp, exec or a function)", kind);
    if (strcmp(kind, "fd") == 0) {
        c->kind = CHECK_FD;
        lua_getfield(L, -1, "fd");
        lua_Integer fd = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
        lua_pop(L, 1);
        if (fd < 3 || fd > 1023)
            lfield_error(L, name, field, "the check's fd number must be 3..1023");
        c->fd = (int)fd;
    } else if (strcmp(kind, "notify") == 0) {
        c->kind = CHECK_NOTIFY;
    } else if (strcmp(kind, "log") == 0) {
        c->kind = CHECK_LOG;
        c->pattern = xstrdup(check_string(L, name, field, "pattern"));
        lua_getfield(L, -1, "stream");
        if (lfield_has_nul(L, -1))
            lfield_nul_error(L, -1, name, field, "the check's 'stream'");
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
                lfield_error(L, name, field, "the check's 'addr' was changed; make it again "
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
        c->argv = lfield_strv(L, name, field, 1, "argv item", false);
        lua_pop(L, 1);
    } else {
        lfield_error(L, name, field, "the check's kind '%s' is not one tend knows", kind);
    }
}

/* Raise when the value at the top, given for `health`, is a check or the
 * like where health's table belongs, saying how to write it. */
void lready_refuse_in_health(lua_State *L, const char *name, const char *field)
{
    int form = ready_form_of(L, -1);
    if (form >= 0)
        lfield_error(L, name, field, "tend.ready.%s must be called, and a check goes in "
                     "health's 'check': health = { check = %s }", ready_forms[form].name,
                     ready_forms[form].call);
    if (lua_type(L, -1) == LUA_TFUNCTION)
        lfield_error(L, name, field, "a check function goes in health's 'check': "
                     "health = { check = function(proc) ... end }");
    if (is_check(L, -1)) {
        lua_getfield(L, -1, "kind");
        const char *kind = lua_tostring(L, -1);
        lua_pop(L, 1);  /* the table still holds it */
        if (kind && (strcmp(kind, "tcp") == 0 || strcmp(kind, "exec") == 0))
            lfield_error(L, name, field, "a check goes in health's 'check': "
                         "health = { check = %s }", push_check_call(L));
        lfield_error(L, name, field, "a %s check cannot be a health check (use tcp, exec "
                     "or a function): health = { check = tend.ready.tcp(PORT) }",
                     kind ? kind : "?");
    }
    if (is_ready_table(L, -1))
        lfield_error(L, name, field, "tend.ready is the table of checks: pick one and call "
                     "it, e.g. health = { check = tend.ready.tcp(PORT) }");
}

/* ---- the constructors ---- */

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
                   lfield_has_nul(L, 2)))  /* "stderr\0x" is not "stderr" */
        return luaL_argerror(L, 2, "\"stdout\" or \"stderr\" expected");
    /* a malformed pattern is an error now, not at the first line */
    size_t plen;
    lua_tolstring(L, 1, &plen);
    const char *bad = pattern_check(pattern, plen);
    if (bad) {
        char b[SHOWN_CAP];
        const char *pre = "malformed pattern ";  /* some messages start so */
        bool has = strncmp(bad, pre, strlen(pre)) == 0;
        return luaL_error(L, "tend.ready.log: malformed pattern \"%s\"%s%s", lfield_shown(L, 1, b),
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
    bool nul = lfield_has_nul(L, 2);
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
    char **argv = lfield_strv(L, "tend.ready.exec", "argv", 1, "item", true);
    strv_free(argv);
    new_check(L, "exec");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "argv");
    return 1;
}

const luaL_Reg lready_funcs[] = {
    {"fd", l_ready_fd},     {"notify", l_ready_notify}, {"log", l_ready_log},
    {"tcp", l_ready_tcp},   {"exec", l_ready_exec},     {NULL, NULL},
};
