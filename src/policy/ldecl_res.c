/* ldecl_res.c -- the resources of a declaration: `user` (looked up in the
 * name service once a run) and `limits` (rlimits and cgroup limits). */
#include "policy/ldecl_impl.h"

#include <errno.h>
#include <grp.h>
#include <lauxlib.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/strmap.h"
#include "base/util.h"
#include "core/spec.h"

/* What a `user` resolved to.  The name service may be slow (LDAP, NIS) and
 * a reload runs on the loop: each `user` string is looked up once a run of
 * tend (the first load happens before the loop starts) and a reload reuses
 * the answer; only a user new at a reload is looked up then.  A process-
 * wide singleton, freed never: one entry per distinct `user` string. */
struct user_ids {
    uid_t uid;
    gid_t gid;
    char *name, *home;
    gid_t *groups;
    int ngroups;
};
static struct strmap users;

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

static void resolve_user(lua_State *L, struct spec *s)
{
    const struct user_ids *known = strmap_get(&users, s->user);
    if (known) {
        user_apply(s, known);
        return;
    }
    struct passwd *pw;
    errno = 0;
    char *end;
    long long uid = strtoll(s->user, &end, 10);
    bool numeric = *end == '\0' && end != s->user;
    /* a uid past uid_t would wrap ("4294967296" ran as root) */
    if (numeric && (uid < 0 || uid > (long long)UINT32_MAX - 1))
        lfield_error(L, s->name, "user", "uid %s out of range (0 to 4294967294)", s->user);
    pw = numeric ? getpwuid((uid_t)uid) : getpwnam(s->user);
    /* getpwnam(3): these errors also mean "no such user" */
    int err = errno == ENOENT || errno == ESRCH || errno == EBADF || errno == EPERM ? 0 : errno;
    if (!pw)
        lfield_error(L, s->name, "user", "unknown user '%s'%s%s", s->user,
                     err ? ": " : "", err ? strerror(err) : "");
    struct user_ids *u = xcalloc(1, sizeof *u);
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;
    u->home = xstrdup(pw->pw_dir);
    u->name = xstrdup(pw->pw_name);
    int ng = 32;
    u->groups = xcalloc((size_t)ng, sizeof *u->groups);
    if (getgrouplist(u->name, u->gid, u->groups, &ng) < 0) {
        u->groups = xrealloc(u->groups, (size_t)ng * sizeof *u->groups);
        getgrouplist(u->name, u->gid, u->groups, &ng);
    }
    u->ngroups = ng;
    strmap_put(&users, xstrdup(s->user), u);  /* the map keeps the key */
    user_apply(s, u);
}

/* `user`: a name or a uid. */
void ldecl_read_user(struct decl *d, const struct field *f, const char *field)
{
    lua_State *L = d->L;
    if (lua_type(L, -1) == LUA_TNUMBER) {
        lua_pushvalue(L, -1);
        d->s->user = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    } else {
        d->s->user = lfield_string(L, d->s->name, field);
    }
    resolve_user(L, d->s);
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
