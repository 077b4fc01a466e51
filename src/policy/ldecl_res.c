/* ldecl_res.c -- the resources of a declaration: `user` (looked up in the
 * name service once a run: users.c) and `limits` (rlimits and cgroup
 * limits). */
#include "policy/ldecl_impl.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/util.h"
#include "core/spec.h"
#include "policy/ldecl.h"
#include "policy/policy.h"
#include "policy/users.h"

static void user_apply(struct spec *s, const struct user_ids *u)
{
    s->uid = u->uid;
    s->gid = u->gid;
    free(s->home);
    s->home = xstrdup(u->home);
    free(s->user);
    s->user = xstrdup(u->name);
    free(s->groups);
    s->groups = xcalloc((size_t)u->ngroups + 1, sizeof *s->groups);
    memcpy(s->groups, u->groups, (size_t)u->ngroups * sizeof *s->groups);
    s->ngroups = u->ngroups;
}

/* "unknown user 'x'", with the name service's error when it had one. */
static char *unknown_user(const char *user, int err)
{
    return xasprintf("unknown user '%s'%s%s", user, err ? ": " : "", err ? strerror(err) : "");
}

/* `user`: a name or a uid.  Known from earlier in this run: applied.  Else
 * looked up now, or, in a reload (pol->defer_users), left for
 * ldecl_users_apply: s->uid stays (uid_t)-1 until then. */
void ldecl_read_user(struct decl *d, const struct field *f, const char *field)
{
    lua_State *L = d->L;
    struct spec *s = d->s;
    if (lua_type(L, -1) == LUA_TNUMBER) {
        lua_pushvalue(L, -1);
        s->user = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    } else {
        s->user = lfield_string(L, s->name, field);
    }
    char *end;
    long long uid = strtoll(s->user, &end, 10);
    /* a uid past uid_t would wrap ("4294967296" ran as root) */
    if (*end == '\0' && end != s->user && (uid < 0 || uid > (long long)UINT32_MAX - 1))
        lfield_error(L, s->name, "user", "uid %s out of range (0 to 4294967294)", s->user);
    const struct user_ids *u = users_known(s->user);
    if (!u && d->pol->defer_users)
        return;
    int err = 0;
    if (!u && !(u = users_lookup(s->user, &err))) {
        char *msg = unknown_user(s->user, err);
        lua_pushstring(L, msg);
        free(msg);
        lfield_error(L, s->name, "user", "%s", lua_tostring(L, -1));
    }
    user_apply(s, u);
}

bool ldecl_user_pending(const struct spec *s)
{
    return s->user && s->uid == (uid_t)-1;
}

char *ldecl_user_apply(struct spec *s, const struct users_job *job)
{
    const struct user_ids *u = users_known(s->user);
    if (!u) {
        int err = job ? users_job_error(job, s->user) : 0;
        char *why = unknown_user(s->user, err > 0 ? err : 0);
        char *msg = xasprintf("%s%sproc '%s': field 'user': %s", s->where ? s->where : "",
                              s->where && *s->where ? ": " : "", s->set ? s->set : s->name, why);
        free(why);
        return msg;
    }
    user_apply(s, u);
    if (s->replica <= 1)  /* a set's warning is said once, by replica 1 */
        ldecl_check_cmd(s);
    return NULL;
}

/* ---- limits = { ... } (SPEC 10) ---- */

/* A size at the top of the stack: bytes as a number, or "512M"; with
 * `unlimited`, the string "unlimited" too (as -1). */
static long long limit_size(struct decl *d, const char *field, bool unlimited)
{
    lua_State *L = d->L;
    if (lua_type(L, -1) == LUA_TNUMBER) {
        double v = lua_tonumber(L, -1);
        if (!(v >= 0) || v >= 9.2e18 || v != (double)(long long)v)
            lfield_error(L, d->s->name, field, "a whole number of bytes >= 0 expected, got %g",
                         v);
        return (long long)v;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        lfield_error(L, d->s->name, field, "a size (a number of bytes, or a string such as "
                     "\"512M\") expected, got %s", luaL_typename(L, -1));
    const char *s = lua_tostring(L, -1);
    long long v;
    if (unlimited && strcmp(s, "unlimited") == 0)
        return -1;
    if (lfield_has_nul(L, -1) || parse_size(s, &v) != 0)
        lfield_error(L, d->s->name, field, "'%s' is not a size (a number of bytes, or with "
                     "K, M, G or T: \"512M\")%s", s, unlimited ? " or \"unlimited\"" : "");
    return v;
}

/* nofile, nproc: a whole number, or "unlimited" (-1). */
static long long limit_count(struct decl *d, const char *field)
{
    lua_State *L = d->L;
    if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "unlimited") == 0)
        return -1;
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
        lfield_error(L, d->s->name, field, "a whole number >= 0 or \"unlimited\" expected");
    return (long long)lua_tointeger(L, -1);
}

static void read_rlimit(struct decl *d, const struct field *f, const char *field)
{
    int i = 0;
    while (strcmp(limit_rlimit_names[i], f->name) != 0)
        i++;
    long long v;
    if (i == LIMIT_NOFILE || i == LIMIT_NPROC)
        v = limit_count(d, field);
    else if (i == LIMIT_CPUTIME)
        v = lua_type(d->L, -1) == LUA_TSTRING && !strcmp(lua_tostring(d->L, -1), "unlimited")
                ? -1
                : (long long)lfield_number(d->L, d->s->name, field, 1);
    else
        v = limit_size(d, field, true);
    d->s->limits.set[i] = true;
    d->s->limits.value[i] = v < 0 ? (unsigned long long)RLIM_INFINITY : (unsigned long long)v;
}

static void read_limit_memory(struct decl *d, const struct field *f, const char *field)
{
    long long v = limit_size(d, field, false);
    if (v < 4096)
        lfield_error(d->L, d->s->name, field, "at least 4096 bytes expected");
    *(strcmp(f->name, "memory") == 0 ? &d->s->limits.memory : &d->s->limits.memory_high) = v;
}

static void read_limit_cpu(struct decl *d, const struct field *f, const char *field)
{
    d->s->limits.cpu = lfield_number(d->L, d->s->name, field, 0.01);
}

static void read_limit_pids(struct decl *d, const struct field *f, const char *field)
{
    if (!lua_isinteger(d->L, -1) || lua_tointeger(d->L, -1) < 1)
        lfield_error(d->L, d->s->name, field, "a whole number >= 1 expected");
    d->s->limits.pids = (long long)lua_tointeger(d->L, -1);
}

/* The fields of `limits = { ... }`. */
static const struct field limit_fields[] = {
    CUSTOM("nofile", read_rlimit),
    CUSTOM("core", read_rlimit),
    CUSTOM("nproc", read_rlimit),
    CUSTOM("stack", read_rlimit),
    CUSTOM("memlock", read_rlimit),
    CUSTOM("cputime", read_rlimit),
    CUSTOM("memory", read_limit_memory),
    CUSTOM("memory_high", read_limit_memory),
    CUSTOM("cpu", read_limit_cpu),
    CUSTOM("pids", read_limit_pids),
};

void ldecl_read_limits(struct decl *d, const struct field *f, const char *field)
{
    ldecl_read_fields(d, limit_fields, ARRAY_LEN(limit_fields), field, NULL);
}
