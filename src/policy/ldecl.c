/* ldecl.c -- declarations: `tend.proc{...}` checked field by field into a
 * `struct spec`.
 *
 * A declaration is checked as the call runs, so an error points at the
 * line of the call (luaL_error adds "file:line:") and names the proc and
 * the field. */
#include "policy/ldecl.h"

#include <errno.h>
#include <grp.h>
#include <lauxlib.h>
#include <math.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/envfile.h"
#include "base/restart.h"
#include "base/util.h"
#include "core/manager.h"
#include "core/spec.h"
#include "policy/lbind.h"
#include "policy/lfield.h"
#include "policy/lready.h"
#include "policy/policy.h"

#define NAME_MAX_LEN 64

/* The fields of a declaration (SPEC 3). */
static const char *const known_fields[] = {
    "name", "cmd", "env", "env_file", "cwd", "user", "after", "stop_signal",
    "stop_timeout", "restart", "backoff", "give_up", "output", "autostart",
    "ready", "ready_timeout", "ready_interval", "watchdog", "health", NULL};

/* What other supervisors (and habit) call some of them: an unknown field
 * of these names says which field is meant. */
static const struct lfield_alias field_aliases[] = {
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
    {NULL, NULL},
};

/* The mode strings of `restart` (restart.c knows them). */
static const char *const restart_modes[] = {"always", "on-failure", "never", NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

/* lfield_error with a message in a new string (freed here). */
static void __attribute__((noreturn))
field_error_owned(lua_State *L, const char *name, const char *field, char *msg)
{
    lua_pushstring(L, msg);
    free(msg);
    lfield_error(L, name, field, "%s", lua_tostring(L, -1));
}

/* `after`: names or procs. */
static char **get_after(lua_State *L, const char *name)
{
    if (lua_type(L, -1) != LUA_TTABLE)
        lfield_error(L, name, "after", "list of proc names expected, got %s",
                     luaL_typename(L, -1));
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
            lfield_error(L, name, "after", "a list of procs or names expected (a table "
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
            lfield_error(L, name, "after", "item %zu: proc or name expected, got %s",
                         i, luaL_typename(L, -1));
        }
        if (lfield_has_nul(L, -1)) {  /* "db\0x" would wait for db */
            char what[32];
            snprintf(what, sizeof what, "item %zu:", i);
            strv_free(v);
            lfield_nul_error(L, -1, name, "after", what);
        }
        v[i - 1] = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return v;
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
        lfield_error(L, s->name, "user", "uid %s out of range (0 to 4294967294)", s->user);
    pw = numeric ? getpwuid((uid_t)uid) : getpwnam(s->user);
    /* getpwnam(3): these errors also mean "no such user" */
    int err = errno == ENOENT || errno == ESRCH || errno == EBADF || errno == EPERM ? 0 : errno;
    if (!pw)
        lfield_error(L, s->name, "user", "unknown user '%s'%s%s", s->user,
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
        if (lfield_has_nul(L, -1))
            lfield_nul_error(L, -1, name, "output", NULL);
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
            const char *k = lfield_key(L, name, "output");
            char sub[64];
            snprintf(sub, sizeof sub, "output.%s", k);
            if (strcmp(k, "path") == 0) {
                if (lua_type(L, -1) != LUA_TSTRING)
                    lfield_error(L, name, sub, "string expected, got %s", luaL_typename(L, -1));
                if (lfield_has_nul(L, -1))
                    lfield_nul_error(L, -1, name, sub, NULL);
            } else if (strcmp(k, "max_size") == 0) {
                s->output_max_size = (off_t)lfield_number(L, name, sub, 1024);
            } else if (strcmp(k, "keep") == 0) {
                double keep = lfield_number(L, name, sub, 0);
                if (keep != floor(keep) || keep > 1000)
                    lfield_error(L, name, sub, "a whole number 0..1000 expected");
                s->output_keep = (int)keep;
            } else {
                static const char *const okeys[] = {"path", "max_size", "keep", NULL};
                lfield_unknown(L, name, sub, k, okeys, NULL);
            }
            lua_pop(L, 1);
        }
        lua_getfield(L, -1, "path");
        path = lua_tostring(L, -1);
        lua_pop(L, 1);  /* the string stays reachable from the table */
        if (!path)
            lfield_error(L, name, "output.path", "required");
    } else {
        lfield_error(L, name, "output", "\"inherit\", \"discard\", a file path or "
                     "{ path = ..., max_size = ..., keep = ... } expected, got %s",
                     luaL_typename(L, -1));
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
        lfield_error(L, name, "output", "%s: its directory: %s", s->output_path, strerror(err));
}

/* `env_file`: a path or a list of paths, relative to the policy file's
 * directory; the files are read once the whole declaration is known
 * (load_env_files). */
static void get_env_files(lua_State *L, struct policy *pol, struct spec *s)
{
    const char *name = s->name;
    char **v;
    if (lua_type(L, -1) == LUA_TSTRING) {
        char *one = lfield_string(L, name, "env_file");  /* may raise: nothing held yet */
        v = xcalloc(2, sizeof *v);
        v[0] = one;
    } else if (lua_type(L, -1) == LUA_TTABLE) {
        v = lfield_strv(L, name, "env_file", 0, "item", false);
    } else {
        lfield_error(L, name, "env_file", "a file path or a list of paths expected, got %s",
                     luaL_typename(L, -1));
    }
    strv_free(s->env_file);
    s->env_file = v;
    for (char **f = v; *f; f++) {
        if (!**f)
            lfield_error(L, name, "env_file", "an empty path");
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
            lfield_error(L, name, field, "a list of strings (argv) expected, got a "
                         "string; for a shell write {\"sh\", \"-c\", \"...\"}");
        s->argv = lfield_strv(L, name, field, 1, "item", false);
        if (!*s->argv[0])
            lfield_error(L, name, field, "the program name is empty");
    } else if (strcmp(field, "env") == 0) {
        s->env = lfield_env(L, name);
    } else if (strcmp(field, "env_file") == 0) {
        get_env_files(L, pol, s);
    } else if (strcmp(field, "cwd") == 0) {
        char *cwd = lfield_string(L, name, field);
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
            lfield_error(L, name, field, "%s: %s", s->cwd, strerror(errno));
        if (!S_ISDIR(st.st_mode))
            lfield_error(L, name, field, "%s is not a directory", s->cwd);
    } else if (strcmp(field, "user") == 0) {
        if (lua_type(L, -1) == LUA_TNUMBER) {
            lua_pushvalue(L, -1);
            s->user = xstrdup(lua_tostring(L, -1));
            lua_pop(L, 1);
        } else {
            s->user = lfield_string(L, name, field);
        }
        resolve_user(L, s);
    } else if (strcmp(field, "after") == 0) {
        s->after = get_after(L, name);
    } else if (strcmp(field, "stop_signal") == 0) {
        int sig = -1;
        if (lfield_has_nul(L, -1))
            lfield_nul_error(L, -1, name, field, NULL);
        if (lua_type(L, -1) == LUA_TNUMBER || lua_type(L, -1) == LUA_TSTRING) {
            lua_pushvalue(L, -1);
            sig = signal_from_name(lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        if (sig <= 0)
            lfield_error(L, name, field, "a signal name such as \"TERM\" expected");
        s->stop_signal = sig;
    } else if (strcmp(field, "stop_timeout") == 0) {
        s->stop_timeout = lfield_number(L, name, field, 0);
    } else if (strcmp(field, "restart") == 0) {
        if (lua_type(L, -1) == LUA_TFUNCTION) {
            s->restart.mode = RESTART_FUNCTION;
            return;
        }
        if (lfield_has_nul(L, -1))
            lfield_nul_error(L, -1, name, field, NULL);
        int mode = lua_type(L, -1) == LUA_TSTRING ? restart_mode_parse(lua_tostring(L, -1)) : -1;
        if (mode < 0 && lua_type(L, -1) == LUA_TSTRING) {
            struct suggest g;
            suggest_init(&g, lua_tostring(L, -1));
            for (const char *const *m = restart_modes; *m; m++)
                suggest_try(&g, *m);
            if (suggest_best(&g))
                lfield_error(L, name, field, "unknown mode '%s' (did you mean '%s'?)",
                             lua_tostring(L, -1), suggest_best(&g));
        }
        if (mode < 0)
            lfield_error(L, name, field, "\"always\", \"on-failure\", \"never\" or a function expected");
        s->restart.mode = (enum restart_mode)mode;
    } else if (strcmp(field, "backoff") == 0) {
        static const char *const keys[] = {"initial", "factor", "max", "jitter",
                                           "reset_after", NULL};
        static const double mins[] = {0, 1, 0, 0, 0};
        struct restart_policy *r = &s->restart;
        double *slots[] = {&r->initial, &r->factor, &r->max, &r->jitter, &r->reset_after};
        lfield_number_table(L, name, field, keys, slots, mins);
        if (r->jitter > 1)
            lfield_error(L, name, "backoff.jitter", "must be a fraction between 0 and 1");
    } else if (strcmp(field, "give_up") == 0 && lua_type(L, -1) == LUA_TBOOLEAN &&
               !lua_toboolean(L, -1)) {
        s->restart.give_up_restarts = 0;  /* false: restart without limit */
    } else if (strcmp(field, "give_up") == 0) {
        static const char *const keys[] = {"restarts", "within", NULL};
        static const double mins[] = {1, 0};
        double restarts = 0, within = 0;
        double *slots[] = {&restarts, &within};
        lfield_number_table(L, name, field, keys, slots, mins);
        if (restarts == 0 || within == 0 || restarts != floor(restarts) || restarts > 10000)
            lfield_error(L, name, field, "{ restarts = N (1..10000), within = SECONDS } or "
                         "false expected");
        s->restart.give_up_restarts = (unsigned)restarts;
        s->restart.give_up_within = within;
    } else if (strcmp(field, "output") == 0) {
        get_output(L, pol, s);
    } else if (strcmp(field, "ready") == 0) {
        check_clear(&s->ready);
        lready_get(L, name, field, &s->ready, false);
    } else if (strcmp(field, "ready_timeout") == 0) {
        s->ready_timeout = lfield_number(L, name, field, 0);
    } else if (strcmp(field, "ready_interval") == 0) {
        s->ready_interval = lfield_number(L, name, field, 0.001);
    } else if (strcmp(field, "watchdog") == 0) {
        s->watchdog = lfield_number(L, name, field, 0.001);
    } else if (strcmp(field, "health") == 0) {
        lready_refuse_in_health(L, name, field);
        if (lua_type(L, -1) != LUA_TTABLE)
            lfield_error(L, name, field, "{ check = ..., interval = 10, timeout = 5, "
                         "failures = 3 } expected, got %s", luaL_typename(L, -1));
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            const char *k = lfield_key(L, name, "health");
            char sub[64];
            snprintf(sub, sizeof sub, "health.%s", k);
            if (strcmp(k, "check") == 0) {
                check_clear(&s->health);
                lready_get(L, name, sub, &s->health, true);
            } else if (strcmp(k, "interval") == 0) {
                s->health_interval = lfield_number(L, name, sub, 0.001);
            } else if (strcmp(k, "timeout") == 0) {
                s->health_timeout = lfield_number(L, name, sub, 0.001);
            } else if (strcmp(k, "failures") == 0) {
                double f = lfield_number(L, name, sub, 1);
                if (f != floor(f) || f > 1000)
                    lfield_error(L, name, sub, "a whole number 1..1000 expected");
                s->health_failures = (int)f;
            } else {
                static const char *const hkeys[] = {"check", "interval", "timeout",
                                                    "failures", NULL};
                lfield_unknown(L, name, sub, k, hkeys, NULL);
            }
            lua_pop(L, 1);
        }
        if (s->health.kind == CHECK_NONE)
            lfield_error(L, name, "health.check", "required");
    } else if (strcmp(field, "autostart") == 0) {
        if (lua_type(L, -1) != LUA_TBOOLEAN)
            lfield_error(L, name, field, "boolean expected, got %s", luaL_typename(L, -1));
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
        luaL_error(L, "tend.proc: field 'name': string expected, got %s", luaL_typename(L, -1));
    size_t name_len;
    const char *name = lua_tolstring(L, -1, &name_len);
    if (!valid_name(name, name_len)) {
        char b[SHOWN_CAP];
        luaL_error(L, "tend.proc: field 'name': '%s' is not a valid name "
                   "(1 to %d of A-Z a-z 0-9 . _ - @%s)", lfield_shown(L, -1, b), NAME_MAX_LEN,
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
            lfield_error(L, s->name, NULL, "field names must be strings, got %s",
                         luaL_typename(L, -2));
        const char *field = lfield_key(L, s->name, NULL);
        if (!in_list(known_fields, field))
            lfield_unknown(L, s->name, field, field, known_fields, field_aliases);
        set_field(L, pol, s, field);
        lua_pop(L, 1);
    }
    if (!s->argv)
        lfield_error(L, s->name, "cmd", "required");
    if (s->watchdog > 0 && s->ready.kind != CHECK_NOTIFY)
        lfield_error(L, s->name, "watchdog", "needs ready = tend.ready.notify(): the "
                     "pings are WATCHDOG=1 notifications");
    if (pol->m)
        for (char **a = s->after; a && *a; a++)
            if (!manager_get(pol->m, *a)) {
                struct suggest g;
                suggest_init(&g, *a);
                for (size_t i = 0, n = manager_count(pol->m); i < n; i++)
                    suggest_try(&g, proc_spec(manager_at(pol->m, i))->name);
                if (suggest_best(&g))
                    lfield_error(L, s->name, "after", "unknown proc '%s' (did you mean '%s'?)",
                                 *a, suggest_best(&g));
                lfield_error(L, s->name, "after", "unknown proc '%s'", *a);
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
