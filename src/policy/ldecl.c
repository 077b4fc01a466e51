/* ldecl.c -- declarations: `tend.proc{...}` checked field by field into a
 * `struct spec`.
 *
 * The fields are data: a table of rows (name, the Lua types it takes, its
 * reader, its place in struct spec and its range), read by one loop that
 * also says "unknown field" with a "did you mean".  The defaults are
 * spec_new's.  A declaration is checked as the call runs, so an error
 * points at the line of the call (luaL_error adds "file:line:") and names
 * the proc and the field. */
#include "policy/ldecl.h"
#include "policy/ldecl_impl.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stddef.h>
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

/* lfield_error with a message in a new string (freed here). */
static void __attribute__((noreturn))
field_error_owned(lua_State *L, const char *name, const char *field, char *msg)
{
    lua_pushstring(L, msg);
    free(msg);
    lfield_error(L, name, field, "%s", lua_tostring(L, -1));
}

#define SLOT(d, f, type) ((type *)((char *)(d)->s + (f)->at))

/* The kinds of row that ldecl.c's readers fill in (CUSTOM and TYPED are
 * in ldecl_impl.h): a number >= lo into a double of struct spec; a whole
 * number lo..hi into an int; a boolean into a bool. */
#define NUMBER(n, member, lo) \
    {.name = n, .types = T_NUMBER, .expect = "number", .read = read_number, \
     .at = offsetof(struct spec, member), .min = lo}
#define COUNT(n, member, lo, hi) \
    {.name = n, .types = T_NUMBER, .expect = "number", .read = read_count, \
     .at = offsetof(struct spec, member), .min = lo, .max = hi}
#define FLAG(n, member) \
    {.name = n, .types = T_BOOLEAN, .expect = "boolean", .read = read_flag, \
     .at = offsetof(struct spec, member)}

/* ---- readers that the table of fields points at ---- */

static void read_nothing(struct decl *d, const struct field *f, const char *field)
{
}

/* A number >= f->min (and at most 1e9). */
static void read_number(struct decl *d, const struct field *f, const char *field)
{
    *SLOT(d, f, double) = lfield_number(d->L, d->s->name, field, f->min);
}

/* A whole number f->min..f->max. */
static void read_count(struct decl *d, const struct field *f, const char *field)
{
    double v = lfield_number(d->L, d->s->name, field, f->min);
    if (v != floor(v) || v > f->max)
        lfield_error(d->L, d->s->name, field, "a whole number %g..%g expected", f->min, f->max);
    *SLOT(d, f, int) = (int)v;
}

static void read_flag(struct decl *d, const struct field *f, const char *field)
{
    *SLOT(d, f, bool) = lua_toboolean(d->L, -1);
}

static void read_cmd(struct decl *d, const struct field *f, const char *field)
{
    lua_State *L = d->L;
    if (lua_type(L, -1) == LUA_TSTRING)
        lfield_error(L, d->s->name, field, "a list of strings (argv) expected, got a "
                     "string; for a shell write {\"sh\", \"-c\", \"...\"}");
    d->s->argv = lfield_strv(L, d->s->name, field, 1, "item", false);
    if (!*d->s->argv[0])
        lfield_error(L, d->s->name, field, "the program name is empty");
}

static void read_env(struct decl *d, const struct field *f, const char *field)
{
    d->s->env = lfield_env(d->L, d->s->name);
}

/* A path relative to the policy file's directory, made absolute. */
static char *policy_path(struct policy *pol, const char *path)
{
    return path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", pol->dir, path);
}

/* `env_file`: a path or a list of paths, relative to the policy file's
 * directory; the files are read once the whole declaration is known
 * (load_env_files). */
static void read_env_files(struct decl *d, const struct field *f, const char *field)
{
    lua_State *L = d->L;
    const char *name = d->s->name;
    char **v;
    if (lua_type(L, -1) == LUA_TSTRING) {
        char *one = lfield_string(L, name, field);  /* may raise: nothing held yet */
        v = xcalloc(2, sizeof *v);
        v[0] = one;
    } else {
        v = lfield_strv(L, name, field, 0, "item", false);
    }
    strv_free(d->s->env_file);
    d->s->env_file = v;
    for (char **p = v; *p; p++) {
        if (!**p)
            lfield_error(L, name, field, "an empty path");
        char *abs = policy_path(d->pol, *p);
        free(*p);
        *p = abs;
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

/* `cwd`: relative to the policy file's directory; it must be a directory. */
static void read_cwd(struct decl *d, const struct field *f, const char *field)
{
    struct spec *s = d->s;
    char *cwd = lfield_string(d->L, s->name, field);
    if (cwd[0] != '/') {
        const char *rel = cwd;  /* "." is the directory, "./x" is "x" */
        while (rel[0] == '.' && rel[1] == '/')
            rel += 2 + strspn(rel + 2, "/");
        s->cwd = strcmp(rel, ".") == 0 || !*rel ? xstrdup(d->pol->dir)
                                               : xasprintf("%s/%s", d->pol->dir, rel);
        free(cwd);
    } else {
        s->cwd = cwd;
    }
    /* the child's chdir would fail at each spawn: say so now */
    struct stat st;
    if (stat(s->cwd, &st) != 0)
        lfield_error(d->L, s->name, field, "%s: %s", s->cwd, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        lfield_error(d->L, s->name, field, "%s is not a directory", s->cwd);
}

/* An `after` name at the top of the stack: a string, or a proc (its name);
 * `what` says where it was for an error ("item 2:", "key"). */
static char *after_name(lua_State *L, const char *proc, const char *what)
{
    if (luaL_testudata(L, -1, PROC_MT) || luaL_testudata(L, -1, SET_MT)) {
        lua_getiuservalue(L, -1, 1);
        lua_replace(L, -2);
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        lfield_error(L, proc, "after", "%s proc or name expected, got %s", what,
                     luaL_typename(L, -1));
    if (lfield_has_nul(L, -1))  /* "db\0x" would wait for db */
        lfield_nul_error(L, -1, proc, "after", what);
    return xstrdup(lua_tostring(L, -1));
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* `after` (SPEC 3): a list of names or procs (each to be ready), a map of
 * name (or proc) = "started" | "ready" | "succeeded" | "ended", or both in
 * one table.  The map's names are sorted, so that what a proc waits for
 * reads the same from run to run. */
static void read_after(struct decl *d, const struct field *f, const char *field)
{
    lua_State *L = d->L;
    const char *proc = d->s->name;
    size_t n = lua_rawlen(L, -1), total = n;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        total += !(lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 &&
                   (size_t)lua_tointeger(L, -1) <= n);
    }
    /* both arrays are filled as they are read: on an error the spec
     * (which owns them) frees what was read */
    char **names = d->s->after = xcalloc(total + 1, sizeof *names);
    enum after_cond *conds = d->s->after_cond = xcalloc(total + 1, sizeof *conds);
    char what[48];
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        snprintf(what, sizeof what, "item %zu:", i);
        names[i - 1] = after_name(L, proc, what);
        lua_pop(L, 1);
    }
    size_t k = n;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1 &&
            (size_t)lua_tointeger(L, -2) <= n) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        if (lua_type(L, -1) != LUA_TSTRING && !luaL_testudata(L, -1, PROC_MT) &&
            !luaL_testudata(L, -1, SET_MT))
            lfield_error(L, proc, "after", "a list of procs or names, or a map of name = "
                         "condition expected (got a %s key)", luaL_typename(L, -1));
        names[k] = after_name(L, proc, "key:");
        lua_pop(L, 1);
        if (lfield_has_nul(L, -1)) {  /* "ready\0junk" would pass for "ready" */
            snprintf(what, sizeof what, "condition for '%s':", names[k]);
            lfield_nul_error(L, -1, proc, "after", what);
        }
        int c = lua_type(L, -1) == LUA_TSTRING ? spec_after_cond_parse(lua_tostring(L, -1)) : -1;
        if (c < 0)
            lfield_error(L, proc, "after", "condition for '%s': \"started\", \"ready\", "
                         "\"succeeded\" or \"ended\" expected, got %s%s%s", names[k],
                         lua_type(L, -1) == LUA_TSTRING ? "'" : "",
                         lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                        : luaL_typename(L, -1),
                         lua_type(L, -1) == LUA_TSTRING ? "'" : "");
        conds[k++] = (enum after_cond)c;
        lua_pop(L, 1);
    }
    /* the map's part in name order, each name with its condition */
    for (size_t i = n + 1; i < k; i++)
        for (size_t j = i; j > n && by_name(&names[j - 1], &names[j]) > 0; j--) {
            char *t = names[j - 1];
            names[j - 1] = names[j];
            names[j] = t;
            enum after_cond tc = conds[j - 1];
            conds[j - 1] = conds[j];
            conds[j] = tc;
        }
    /* a name given twice counts once; with two conditions it is an error
     * (raised with the array whole again: the spec frees it) */
    size_t kept = 0;
    for (size_t i = 0; i < k; i++) {
        size_t j = 0;
        while (j < kept && strcmp(names[i], names[j]) != 0)
            j++;
        if (j < kept && conds[j] != conds[i]) {
            const char *was = spec_after_cond_name(conds[j]);
            const char *now = spec_after_cond_name(conds[i]);
            lua_pushstring(L, names[i]);
            for (size_t r = i; r < k; r++, kept++) {
                names[kept] = names[r];
                conds[kept] = conds[r];
            }
            names[kept] = NULL;
            lfield_error(L, proc, "after", "'%s' named twice, as %s and as %s",
                         lua_tostring(L, -1), was, now);
        }
        char *name = names[i];
        names[i] = NULL;
        if (j < kept) {
            free(name);  /* the same name, the same condition */
        } else {
            names[kept] = name;
            conds[kept++] = conds[i];
        }
    }
}

/* `replicas`: N copies NAME@1 .. NAME@N (SPEC 3). */
static void read_replicas(struct decl *d, const struct field *f, const char *field)
{
    lua_State *L = d->L;
    double v = lua_tonumber(L, -1);
    if (!(v >= 1 && v <= REPLICAS_MAX && v == floor(v))) {
        char b[SHOWN_CAP];
        lfield_error(L, d->s->name, field, "a whole number from 1 to %d expected, got %s",
                     REPLICAS_MAX, lfield_shown(L, -1, b));
    }
    d->s->replicas = (int)v;
}

static void read_stop_signal(struct decl *d, const struct field *f, const char *field)
{
    lua_State *L = d->L;
    int sig = -1;
    if (lfield_has_nul(L, -1))
        lfield_nul_error(L, -1, d->s->name, field, NULL);
    if (lua_type(L, -1) == LUA_TNUMBER || lua_type(L, -1) == LUA_TSTRING) {
        lua_pushvalue(L, -1);
        sig = signal_from_name(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    if (sig <= 0)
        lfield_error(L, d->s->name, field, "a signal name such as \"TERM\" expected");
    d->s->stop_signal = sig;
}

/* `restart`: a mode, or a function that decides. */
static void read_restart(struct decl *d, const struct field *f, const char *field)
{
    lua_State *L = d->L;
    const char *name = d->s->name;
    if (lua_type(L, -1) == LUA_TFUNCTION) {
        d->s->restart.mode = RESTART_FUNCTION;
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
        lfield_error(L, name, field,
                     "\"always\", \"on-failure\", \"never\" or a function expected");
    d->s->restart.mode = (enum restart_mode)mode;
}

static void read_backoff(struct decl *d, const struct field *f, const char *field)
{
    static const char *const keys[] = {"initial", "factor", "max", "jitter", "reset_after",
                                       NULL};
    static const double mins[] = {0, 1, 0, 0, 0};
    struct restart_policy *r = &d->s->restart;
    double *slots[] = {&r->initial, &r->factor, &r->max, &r->jitter, &r->reset_after};
    lfield_number_table(d->L, d->s->name, field, keys, slots, mins);
    if (r->jitter > 1)
        lfield_error(d->L, d->s->name, "backoff.jitter", "must be a fraction between 0 and 1");
}

/* `give_up`: { restarts, within }, or false to restart without limit. */
static void read_give_up(struct decl *d, const struct field *f, const char *field)
{
    lua_State *L = d->L;
    if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        d->s->restart.give_up_restarts = 0;
        return;
    }
    static const char *const keys[] = {"restarts", "within", NULL};
    static const double mins[] = {1, 0};
    double restarts = 0, within = 0;
    double *slots[] = {&restarts, &within};
    lfield_number_table(L, d->s->name, field, keys, slots, mins);
    if (restarts == 0 || within == 0 || restarts != floor(restarts) || restarts > 10000)
        lfield_error(L, d->s->name, field, "{ restarts = N (1..10000), within = SECONDS } or "
                     "false expected");
    d->s->restart.give_up_restarts = (unsigned)restarts;
    d->s->restart.give_up_within = within;
}

/* output.path: checked here, taken once the whole table is read. */
static void read_output_path(struct decl *d, const struct field *f, const char *field)
{
    if (lfield_has_nul(d->L, -1))
        lfield_nul_error(d->L, -1, d->s->name, field, NULL);
}

static void read_output_max_size(struct decl *d, const struct field *f, const char *field)
{
    d->s->output_max_size = (off_t)lfield_number(d->L, d->s->name, field, 1024);
}

/* The fields of `output = { ... }`. */
/* The file's directory must exist and be writable now. */
static char *output_file(struct decl *d, const char *path, const char *field)
{
    char *abs = policy_path(d->pol, path);
    char *dir = xstrdup(abs);
    *strrchr(dir, '/') = '\0';
    int ok = access(*dir ? dir : "/", W_OK) == 0;
    int err = errno;
    free(dir);
    if (!ok) {
        lua_pushstring(d->L, abs);
        free(abs);
        lfield_error(d->L, d->s->name, field, "%s: its directory: %s", lua_tostring(d->L, -1),
                     strerror(err));
    }
    return abs;
}

static void read_output_stderr(struct decl *d, const struct field *f, const char *field)
{
    if (lfield_has_nul(d->L, -1))
        lfield_nul_error(d->L, -1, d->s->name, field, NULL);
    free(d->s->output_stderr);
    d->s->output_stderr = output_file(d, lua_tostring(d->L, -1), field);
}

static const struct field output_fields[] = {
    TYPED("path", T_STRING, "string", read_output_path),
    TYPED("stderr", T_STRING, "a file path", read_output_stderr),
    FLAG("console", output_console),
    TYPED("max_size", T_NUMBER, "number", read_output_max_size),
    COUNT("keep", output_keep, 0, 1000),
};

/* `output`: "inherit", "discard", a file path, or { path, max_size, keep }.
 * The file's directory must exist and be writable now. */
static void read_output(struct decl *d, const struct field *f, const char *field)
{
    lua_State *L = d->L;
    struct spec *s = d->s;
    const char *path = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) {
        if (lfield_has_nul(L, -1))
            lfield_nul_error(L, -1, s->name, field, NULL);
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
    } else {
        ldecl_read_fields(d, output_fields, ARRAY_LEN(output_fields), field, NULL);
        lua_getfield(L, -1, "path");
        path = lua_tostring(L, -1);
        lua_pop(L, 1);  /* the string stays reachable from the table */
        if (!path)
            lfield_error(L, s->name, "output.path", "required");
    }
    s->output = OUTPUT_FILE;
    free(s->output_path);
    s->output_path = output_file(d, path, field);
}

static void read_ready(struct decl *d, const struct field *f, const char *field)
{
    check_clear(&d->s->ready);
    lready_get(d->L, d->s->name, field, &d->s->ready, false);
}

static void read_health_check(struct decl *d, const struct field *f, const char *field)
{
    check_clear(&d->s->health);
    lready_get(d->L, d->s->name, field, &d->s->health, true);
}

/* The fields of `health = { ... }`. */
static const struct field health_fields[] = {
    CUSTOM("check", read_health_check),
    NUMBER("interval", health_interval, 0.001),
    NUMBER("timeout", health_timeout, 0.001),
    COUNT("failures", health_failures, 1, 1000),
};

static void read_health(struct decl *d, const struct field *f, const char *field)
{
    lua_State *L = d->L;
    lready_refuse_in_health(L, d->s->name, field);
    if (lua_type(L, -1) != LUA_TTABLE)
        lfield_error(L, d->s->name, field, "{ check = ..., interval = 10, timeout = 5, "
                     "failures = 3 } expected, got %s", luaL_typename(L, -1));
    ldecl_read_fields(d, health_fields, ARRAY_LEN(health_fields), field, NULL);
    if (d->s->health.kind == CHECK_NONE)
        lfield_error(L, d->s->name, "health.check", "required");
}

/* ---- the table of fields ---- */

/* The fields of a declaration (SPEC 3), in the order "did you mean"
 * tries them.  Their defaults are spec_new's. */
static const struct field decl_fields[] = {
    CUSTOM("name", read_nothing),  /* read first, by ldecl_parse */
    CUSTOM("cmd", read_cmd),
    TYPED("env", T_TABLE, "table", read_env),
    TYPED("env_file", T_STRING | T_TABLE, "a file path or a list of paths", read_env_files),
    TYPED("cwd", T_STRING, "string", read_cwd),
    TYPED("user", T_STRING | T_NUMBER, "string", ldecl_read_user),
    TYPED("after", T_TABLE, "list of proc names (or a map of name = condition)", read_after),
    TYPED("replicas", T_NUMBER, "number", read_replicas),
    CUSTOM("stop_signal", read_stop_signal),
    NUMBER("stop_timeout", stop_timeout, 0),
    CUSTOM("restart", read_restart),
    TYPED("backoff", T_TABLE, "table", read_backoff),
    TYPED("give_up", T_TABLE | T_BOOLEAN, "table", read_give_up),
    TYPED("output", T_STRING | T_TABLE, "\"inherit\", \"discard\", a file path or "
          "{ path = ..., stderr = ..., console = true, max_size = ..., keep = ... }",
          read_output),
    FLAG("autostart", autostart),
    CUSTOM("ready", read_ready),
    NUMBER("ready_timeout", ready_timeout, 0),
    NUMBER("ready_interval", ready_interval, 0.001),
    NUMBER("watchdog", watchdog, 0.001),
    CUSTOM("health", read_health),
    TYPED("limits", T_TABLE, "a table such as { nofile = 1024, memory = \"512M\" }",
          ldecl_read_limits),
};

/* Read each field of the table at the top of the stack (the declaration,
 * or its field `parent`) with the reader of its row of `tab`; a key
 * without a row is an unknown field (with a "did you mean" among the rows,
 * then `aliases`). */
void ldecl_read_fields(struct decl *d, const struct field *tab, size_t n, const char *parent,
                       const struct lfield_alias *aliases)
{
    lua_State *L = d->L;
    const char *name = d->s->name;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (!parent && lua_type(L, -2) != LUA_TSTRING)
            lfield_error(L, name, NULL, "field names must be strings, got %s",
                         luaL_typename(L, -2));
        const char *key = lfield_key(L, name, parent), *field = key;
        char sub[64];
        if (parent) {
            snprintf(sub, sizeof sub, "%s.%s", parent, key);
            field = sub;
        }
        size_t i = 0;
        while (i < n && strcmp(tab[i].name, key) != 0)
            i++;
        if (i == n) {
            const char *known[32];
            for (i = 0; i < n && i < ARRAY_LEN(known) - 1; i++)
                known[i] = tab[i].name;
            known[i] = NULL;
            lfield_unknown(L, name, field, key, known, aliases);
        }
        const struct field *f = &tab[i];
        if (f->types && !(f->types & TYPE(lua_type(L, -1))))
            lfield_error(L, name, field, "%s expected, got %s", f->expect,
                         luaL_typename(L, -1));
        f->read(d, f, field);
        lua_pop(L, 1);
    }
}

/* `len`: the Lua string's length, so that a NUL byte in it is refused */
static bool valid_name(const char *n, size_t len)
{
    if (len == 0 || len > NAME_MAX_LEN || strlen(n) != len)
        return false;
    for (; *n; n++)
        if (!(('a' <= *n && *n <= 'z') || ('A' <= *n && *n <= 'Z') ||
              ('0' <= *n && *n <= '9') || strchr("._-", *n)))
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
/* Whether cmd[1] is there to run, now that env (PATH), cwd and user are
 * known: `tend run` warns, --check rejects (s->warning). */
void ldecl_check_cmd(struct spec *s)
{
    free(s->warning);
    s->warning = NULL;
    char *why = spec_check_cmd(s);
    if (why) {
        /* a replica's is its set's, said once (as spec_replica keeps it) */
        s->warning = xasprintf("%s: proc '%s': field 'cmd': %s", s->where,
                               s->set ? s->set : s->name, why);
        free(why);
    }
}

/* After load: a name a running proc or set has is refused. */
static void refuse_running_name(lua_State *L, struct policy *pol, const char *name)
{
    if (manager_get(pol->m, name) || policy_set(pol, name))
        luaL_error(L, "proc '%s': field 'name': duplicate name (a proc of that name "
                   "exists)", name);
}

void ldecl_recheck(lua_State *L, struct policy *pol, const struct spec *s)
{
    refuse_running_name(L, pol, s->name);
}

struct spec **ldecl_parse(lua_State *L, struct policy *pol)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);

    lua_getfield(L, 1, "name");
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "tend.proc: field 'name': string expected, got %s", luaL_typename(L, -1));
    size_t name_len;
    const char *name = lua_tolstring(L, -1, &name_len);
    if (strlen(name) == name_len && strchr(name, '@')) {
        lua_pushlstring(L, name, (size_t)(strchr(name, '@') - name));
        luaL_error(L, "tend.proc: field 'name': '%s': names with '@' are those of replicas "
                   "(declare '%s' with replicas = N)", name, lua_tostring(L, -1));
    }
    if (!valid_name(name, name_len)) {
        char b[SHOWN_CAP];
        luaL_error(L, "tend.proc: field 'name': '%s' is not a valid name "
                   "(1 to %d of A-Z a-z 0-9 . _ -%s)", lfield_shown(L, -1, b), NAME_MAX_LEN,
                   strlen(name) != name_len ? "; it contains a NUL byte" : "");
    }
    long first = policy_find(pol, name);
    const struct pset *set = policy_set(pol, name);
    if (first >= 0 || (set && !pol->m))
        luaL_error(L, "proc '%s': field 'name': duplicate name (first "
                   "declared at %s)", name, first >= 0 ? pol->specs[first]->where
                                                       : set->tmpl->where);
    if (pol->m)
        refuse_running_name(L, pol, name);

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

    struct decl d = {L, pol, s};
    lua_pushvalue(L, 1);
    ldecl_read_fields(&d, decl_fields, ARRAY_LEN(decl_fields), NULL, field_aliases);
    lua_pop(L, 1);
    if (!s->argv)
        lfield_error(L, s->name, "cmd", "required");
    if (s->watchdog > 0 && s->ready.kind != CHECK_NOTIFY)
        lfield_error(L, s->name, "watchdog", "needs ready = tend.ready.notify(): the "
                     "pings are WATCHDOG=1 notifications");
    if (pol->m)
        for (char **a = s->after; a && *a; a++)
            if (!manager_get(pol->m, *a) && !policy_set(pol, *a)) {
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
    if (!ldecl_user_pending(s))  /* else once its user is known */
        ldecl_check_cmd(s);
    return box;
}
