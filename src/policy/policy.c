/* policy.c -- loading a policy file into a new VM and checking it whole. */
#include "policy/policy.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/bundle.h"
#include "policy/lbind.h"
#include "policy/ldecl.h"
#include "policy/lsafe.h"
#include "policy/lvm.h"
#include "policy/users.h"
#include "core/manager.h"
#include "base/log.h"
#include "base/util.h"

int luaopen_tend(lua_State *L);

static const char policy_key = 'p';  /* registry key: the struct policy */
static const char tasks_key = 't';   /* registry key: tasks queued at load */

struct policy *policy_of(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &policy_key);
    struct policy *pol = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return pol;
}

/* Record one proc's declaration. */
static void declare_one(struct policy *pol, struct spec *s)
{
    if (pol->n == pol->cap) {
        pol->cap = pol->cap ? pol->cap * 2 : 16;
        pol->specs = xrealloc(pol->specs, pol->cap * sizeof *pol->specs);
    }
    pol->specs[pol->n++] = s;
    strmap_put(&pol->names, s->name, (void *)(uintptr_t)pol->n);
}

/* A new set for the declaration `tmpl` (taken over), with no replica yet. */
static struct pset *set_new(struct policy *pol, struct spec *tmpl)
{
    struct pset *set = xcalloc(1, sizeof *set);
    set->tmpl = tmpl;
    set->first = pol->n;
    strmap_put(&pol->sets, tmpl->name, set);
    return set;
}

static void sets_free(struct strmap *sets)
{
    for (size_t i = 0; i < sets->cap; i++) {
        struct pset *set = sets->slots[i].val;
        if (set)
            spec_free(set->tmpl);
        free(set);
    }
    strmap_free(sets);
}

void policy_declare(struct policy *pol, struct spec *s)
{
    if (s->replicas == 0) {
        declare_one(pol, s);
        return;
    }
    struct pset *set = set_new(pol, s);
    for (set->n = 1; set->n <= s->replicas; set->n++)
        declare_one(pol, spec_replica(s, set->n));
    set->n = s->replicas;
}

const struct pset *policy_set(const struct policy *pol, const char *name)
{
    return strmap_get(&pol->sets, name);
}

/* What the new replicas of a scale are bound with in Lua. */
struct bind {
    struct policy *pol;
    struct proc **procs;
    size_t n;
};

static int bind_protected(lua_State *L)
{
    struct bind *b = lua_touserdata(L, 1);
    for (size_t i = 0; i < b->n; i++)
        lset_bind(L, b->pol, b->procs[i]);
    return 0;
}

/* Register replicas from..to of `set` and give them their Lua handles
 * (from L, or in a protected call when L is NULL), then launch them. */
static void add_replicas(struct policy *pol, lua_State *L, struct pset *set, int from, int to)
{
    if (to < from)
        return;
    struct bind b = {pol, xcalloc((size_t)(to - from + 1), sizeof *b.procs), 0};
    for (int i = from; i <= to; i++) {
        struct spec *r = spec_replica(set->tmpl, i);
        if (r->warning)
            log_warn(NULL, "%s", r->warning);
        b.procs[b.n++] = manager_add(pol->m, r);
    }
    if (L) {
        for (size_t i = 0; i < b.n; i++)
            lset_bind(L, pol, b.procs[i]);
    } else {
        lvm_protected(pol->L, bind_protected, &b, set->tmpl->name, "scale");
    }
    for (size_t i = 0; i < b.n; i++)
        manager_launch(pol->m, b.procs[i]);
    free(b.procs);
}

void policy_add_set(struct policy *pol, struct spec *tmpl)
{
    struct pset *set = set_new(pol, tmpl);
    set->n = tmpl->replicas;
    /* the caller binds them (it holds the declaration table): L == NULL
     * would bind them before the set object exists */
    for (int i = 1; i <= set->n; i++) {
        struct spec *r = spec_replica(tmpl, i);
        if (r->warning)
            log_warn(NULL, "%s", r->warning);
        manager_add(pol->m, r);
    }
}

int policy_scale(struct policy *pol, lua_State *L, const char *name, int n, char **err)
{
    struct pset *set = strmap_get(&pol->sets, name);
    if (!set) {
        *err = manager_get(pol->m, name)
                   ? xasprintf("proc '%s' is not declared with replicas", name)
                   : xasprintf("no proc named '%s'", name);
        return -1;
    }
    if (n < 1 || n > REPLICAS_MAX) {
        *err = xasprintf("proc '%s': %d replicas: a whole number from 1 to %d expected", name,
                         n, REPLICAS_MAX);
        return -1;
    }
    if (manager_shutting_down(pol->m)) {
        *err = xasprintf("proc '%s': cannot scale during a shutdown", name);
        return -1;
    }
    int had = set->n;
    if (n == had)
        return 0;
    log_info(name, "scale: %d to %d replica%s", had, n, n == 1 ? "" : "s");
    set->n = n;
    set->tmpl->replicas = n;  /* what --check's "replica i of N" says */
    /* the highest-numbered first, so that the others keep their names */
    for (int i = had; i > n; i--) {
        char *rname = xasprintf("%s@%d", name, i);
        struct proc *p = manager_get(pol->m, rname);
        free(rname);
        if (p)
            manager_remove(pol->m, p);
    }
    add_replicas(pol, L, set, had + 1, n);
    return 0;
}

long policy_find(const struct policy *pol, const char *name)
{
    return (long)(uintptr_t)strmap_get(&pol->names, name) - 1;
}

/* The declaration an `after` name leads to during load: the proc's, or
 * for a set the first replica's (its replicas are alike); -1: none. */
static long dep_index(const struct policy *pol, const char *name)
{
    long i = policy_find(pol, name);
    const struct pset *set = i < 0 ? policy_set(pol, name) : NULL;
    return set ? (long)set->first : i;
}

/* A cycle among the `after` links, found by a depth-first search with a
 * stack of its own (a chain of 100,000 links must not overflow the C
 * stack); marks: 0 new, 1 on the path, 2 done.  NULL, or "a -> b -> a"
 * with *first the position of a. */
static char *find_cycle(const struct policy *pol, size_t *first)
{
    char *mark = xcalloc(pol->n, 1);
    struct frame {
        size_t i;      /* the declaration */
        char **next;   /* its next after name to follow */
    } *stack = xmalloc(pol->n * sizeof *stack);
    char *path = NULL;
    for (size_t root = 0; root < pol->n && !path; root++) {
        if (mark[root])
            continue;
        size_t depth = 0;
        stack[depth++] = (struct frame){root, pol->specs[root]->after};
        mark[root] = 1;
        while (depth && !path) {
            struct frame *f = &stack[depth - 1];
            if (!f->next || !*f->next) {
                mark[f->i] = 2;
                depth--;
                continue;
            }
            size_t k = (size_t)dep_index(pol, *f->next++);
            if (mark[k] == 1) {
                /* the path from k's frame to the top, then k again */
                size_t from = depth;
                while (stack[from - 1].i != k)
                    from--;
                *first = k;
                /* a long cycle is shown by its ends */
                struct buf b = {0};
                size_t len = depth - (from - 1);
                for (size_t d = from - 1; d < depth; d++) {
                    size_t at = d - (from - 1);
                    if (len > 8 && at == 4) {
                        char more[48];
                        int m = snprintf(more, sizeof more, "... (%zu more) -> ", len - 6);
                        buf_put(&b, more, (size_t)m);
                        d = depth - 3;
                        continue;
                    }
                    const char *n = pol->specs[stack[d].i]->name;
                    buf_put(&b, n, strlen(n));
                    buf_put(&b, " -> ", 4);
                }
                buf_put(&b, pol->specs[k]->name, strlen(pol->specs[k]->name) + 1);
                path = b.p;
            } else if (mark[k] == 0) {
                mark[k] = 1;
                stack[depth++] = (struct frame){k, pol->specs[k]->after};
            }
        }
    }
    free(stack);
    free(mark);
    return path;
}

char *policy_check_graph(struct policy *pol)
{
    for (size_t i = 0; i < pol->n; i++) {
        const struct spec *s = pol->specs[i];
        for (char **a = s->after; a && *a; a++) {
            if (dep_index(pol, *a) < 0) {
                struct suggest g;
                suggest_init(&g, *a);
                for (size_t k = 0; k < pol->n; k++)
                    suggest_try(&g, pol->specs[k]->set ? pol->specs[k]->set
                                                       : pol->specs[k]->name);
                const char *best = suggest_best(&g);
                return xasprintf("%s: proc '%s': field 'after': unknown proc '%s'%s%s%s",
                                 s->where, s->name, *a, best ? " (did you mean '" : "",
                                 best ? best : "", best ? "'?)" : "");
            }
            if (strcmp(*a, s->name) == 0 || (s->set && strcmp(*a, s->set) == 0))
                return xasprintf("%s: proc '%s': field 'after': a proc cannot "
                                 "start after itself", s->where, s->name);
        }
    }
    size_t first = 0;
    char *path = find_cycle(pol, &first);
    if (!path)
        return NULL;
    const struct spec *s = pol->specs[first];
    char *msg = xasprintf("%s: proc '%s': field 'after': dependency cycle: %s", s->where,
                          s->name, path);
    free(path);
    return msg;
}

/* What the line t (n bytes, trimmed) of a file that is not Lua says it
 * is: "YAML", "INI or TOML", "JSON", or NULL. */
static const char *line_looks_like(const char *t, size_t n)
{
    size_t key = strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "0123456789_.-\"'");
    size_t colon = key + strspn(t + key, " \t");
    if ((n == 3 && strncmp(t, "---", 3) == 0) || (n >= 2 && t[0] == '-' && t[1] == ' '))
        return "YAML";
    if (key > 0 && colon < n && t[colon] == ':' &&
        (colon + 1 == n || t[colon + 1] == ' ' || t[colon + 1] == '\t'))
        return "YAML";
    if (n >= 3 && t[0] == '[' && t[1] != '[' && t[n - 1] == ']')
        return "INI or TOML";
    if (t[0] == '{')
        return "JSON";
    return NULL;
}

/* What a file that does not parse as Lua looks like, when it looks like a
 * configuration format: judged by its first line of content, when the
 * syntax error is on it or on the next one, or by the line of the error
 * when that is an INI or TOML [section] (after key = value lines, which
 * Lua takes for assignments).  NULL when it looks like Lua with a mistake. */
static const char *looks_like(const char *path, const char *msg)
{
    /* the line of the error: "PATH:LINE: ..." */
    long errline = 0;
    for (const char *p = strchr(msg, ':'); p && !errline; p = strchr(p + 1, ':')) {
        char *end;
        long n = strtol(p + 1, &end, 10);
        if (end != p + 1 && *end == ':' && n > 0)
            errline = n;
    }
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char line[512];
    long no = 0;
    bool first = true;
    const char *kind = NULL;
    while (!kind && no < errline && fgets(line, sizeof line, f)) {
        no++;
        const char *t = line + strspn(line, " \t");
        size_t n = strcspn(t, "\r\n");
        while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
            n--;
        if (n == 0 || t[0] == '#' || t[0] == ';')
            continue;  /* blank, or a comment of YAML or INI */
        if (first && errline <= no + 1)
            kind = line_looks_like(t, n);
        else if (no == errline && t[0] == '[')
            kind = line_looks_like(t, n);
        first = false;
    }
    fclose(f);
    return kind;
}

/* Run in protected mode: open the libraries and the tend module, then load
 * and run the file. */
static int load_chunk(lua_State *L)
{
    struct policy *pol = lua_touserdata(L, 1);
    luaL_openlibs(L);
    lsafe_open(L);
    bundle_preload(L);
    luaL_requiref(L, "tend", luaopen_tend, 1);
    lua_pop(L, 1);
    /* only a regular file: a FIFO would block tend until someone writes */
    struct stat st;
    if (stat(pol->path, &st) == 0 && !S_ISREG(st.st_mode))
        return luaL_error(L, "cannot read %s: not a regular file", pol->path);
    /* luaL_loadfilex names the chunk "@path": errors read "path:line:";
     * text only, since Lua does not verify bytecode */
    int rc = luaL_loadfilex(L, pol->path, "t");
    if (rc == LUA_ERRSYNTAX) {
        const char *kind = looks_like(pol->path, lua_tostring(L, -1));
        if (kind)
            lua_pushfstring(L, "%s (tend policy files are Lua, and this one looks like %s; "
                            "see examples/hello.lua: tend.proc { name = \"hello\", cmd = "
                            "{ \"echo\", \"hi\" } })", lua_tostring(L, -1), kind);
    }
    if (rc != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 0);
    return 0;
}

/* Whether Lua's message names the file: whole, or shortened by Lua to
 * "..." and the end of the path when it is long. */
static bool names_file(const char *msg, const char *path)
{
    if (strstr(msg, path))
        return true;
    if (strncmp(msg, "...", 3) != 0)
        return false;
    const char *colon = strchr(msg + 3, ':');
    size_t n = colon ? (size_t)(colon - (msg + 3)) : strlen(msg + 3), len = strlen(path);
    return n > 0 && n <= len && strncmp(path + len - n, msg + 3, n) == 0;
}

/* policy_load; with defer_users, users new to this run are left for
 * resolve_users (a reload's). */
static struct policy *load(const char *path, bool defer_users, char **err)
{
    struct policy *pol = xcalloc(1, sizeof *pol);
    pol->defer_users = defer_users;
    pol->path = xstrdup(path);
    char *copy = xstrdup(path), real[PATH_MAX];
    const char *d = dirname(copy);
    pol->dir = xstrdup(realpath(d, real) ? real : d);
    free(copy);

    *err = NULL;
    pol->vm = lvm_new();
    pol->L = pol->vm ? pol->vm->L : NULL;
    if (!pol->L) {
        *err = xasprintf("%s: cannot create a Lua state", path);
        policy_free(pol);
        return NULL;
    }
    lua_State *L = pol->L;
    lua_pushlightuserdata(L, pol);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &policy_key);

    lua_pushcfunction(L, load_chunk);
    lua_pushlightuserdata(L, pol);
    lvm_arm(pol->vm, L);  /* a file that loops forever is an error too */
    int rc = lua_pcall(L, 1, 0, 0);
    lvm_disarm(pol->vm, L);
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        /* "cannot open x.lua" already names the file; so do "file:line:".
         * error({}), error() and error("x", 0) name nothing: the file is
         * said first */
        if (!msg)
            *err = xasprintf("%s: the file raised an error without a message (a %s value)", path,
                             luaL_typename(L, -1));
        else if (!names_file(msg, path))
            *err = xasprintf("%s: %s", path, msg);
        else
            *err = xstrdup(msg);
        policy_free(pol);
        return NULL;
    }
    if ((*err = policy_check_graph(pol))) {
        policy_free(pol);
        return NULL;
    }
    return pol;
}

struct policy *policy_load(const char *path, char **err)
{
    return load(path, false, err);
}

void policy_queue_task(lua_State *L, struct policy *pol)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &tasks_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &tasks_key);
    }
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 2);
}

/* Attach, protected: hand each declaration's handle its proc. */
static int attach_protected(lua_State *L)
{
    struct policy *pol = lua_touserdata(L, 1);
    for (size_t i = 0; i < pol->n; i++) {
        struct proc *p = manager_add(pol->m, pol->specs[i]);
        pol->specs[i] = NULL;
        lproc_attach(pol, i, p);
        lhook_follow(pol, p);
    }
    pol->n = 0;
    strmap_clear(&pol->names);  /* the procs own the names now */
    return 0;
}

static int reload_for_manager(void *data, char **err)
{
    return policy_reload(data, err);
}

static int scale_for_manager(void *data, const char *name, int n, char **err)
{
    return policy_scale(data, NULL, name, n, err);
}

/* A proc a scale or a reload removed is about to be freed: its handle,
 * hook subscription and waits let go of it. */
static void forget_for_manager(struct proc *p, void *data)
{
    struct policy *pol = data;
    if (!pol->L)
        return;
    /* the handle first: a coroutine its wait resumes cannot wait on it again */
    lhook_unfollow(pol, p);
    lproc_forget(pol, p);
    lwait_forget(pol, p);
}

/* The VM's tasks keep tend up (SPEC 2): the manager counts them. */
static void tasks_changed(void *ud, int pending)
{
    manager_tasks_changed(ud, pending);
}

/* What `tend run` only warns about (spec.h: warning), before any spawn. */
static void log_warnings(const struct policy *pol)
{
    for (size_t i = 0; i < pol->n; i++)
        if (pol->specs[i]->warning)
            log_warn(NULL, "%s", pol->specs[i]->warning);
}

void policy_attach(struct policy *pol, struct manager *m, struct ev_loop *loop)
{
    log_warnings(pol);
    pol->m = m;
    pol->loop = loop;
    pol->vm->tasks_changed = tasks_changed;
    pol->vm->tasks_ud = m;
    manager_set_decider(m, ldecide_restart, pol);
    manager_set_checker(m, lcheck_run, pol);
    lvm_protected(pol->L, attach_protected, pol, NULL, pol->path);
    manager_set_reloader(m, reload_for_manager, pol);
    manager_set_scaler(m, scale_for_manager, pol);
    manager_set_policy_forget(m, forget_for_manager, pol);
}

static int run_tasks_protected(lua_State *L)
{
    struct policy *pol = lua_touserdata(L, 1);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &tasks_key) != LUA_TTABLE)
        return 0;
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &tasks_key);
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        lvm_start(pol->vm, 0, NULL, true);
    }
    return 0;
}

void policy_run_tasks(struct policy *pol)
{
    lvm_protected(pol->L, run_tasks_protected, pol, NULL, pol->path);
}

/* End the life of the VM: its waits, hooks and (by closing it) tasks. */
static void vm_close(struct policy *pol)
{
    lwait_cancel_all(pol);
    if (pol->m)
        lhook_unfollow_all(pol);
    lvm_free(pol->vm);
    pol->vm = NULL;
    pol->L = NULL;
}

/* Apply a freshly loaded policy's declarations to the running set. */
static int reload_protected(lua_State *L)
{
    struct policy *pol = lua_touserdata(L, 1);
    struct manager *m = pol->m;
    struct reload_counts *n = &pol->reloaded;
    *n = (struct reload_counts){0};
    /* removed: stopped, then gone */
    for (size_t i = manager_count(m); i-- > 0;) {
        struct proc *p = manager_at(m, i);
        if (policy_find(pol, proc_spec(p)->name) < 0) {
            log_info(proc_spec(p)->name, "reload: removed; stopping it");
            manager_retire(m, p);
            n->removed++;
        }
    }
    strmap_clear(&pol->names);  /* unchanged declarations are freed below */
    size_t nfresh = 0;
    struct proc **fresh = xcalloc(pol->n + 1, sizeof *fresh);
    struct proc **order = xcalloc(pol->n + 1, sizeof *order);  /* as declared */
    for (size_t i = 0; i < pol->n; i++) {
        struct spec *s = pol->specs[i];
        struct proc *old = manager_get(m, s->name);
        pol->specs[i] = NULL;
        if (old && spec_equal(proc_spec(old), s)) {
            spec_free(s);  /* unchanged: the proc runs on untouched */
            n->unchanged++;
            order[i] = old;
            lproc_attach(pol, i, old);
            lhook_follow(pol, old);
            proc_rebind_checks(old);
            continue;
        }
        if (old) {
            /* a proc that is down (stopped on purpose, or ended with no
             * restart to come) stays down with its new declaration */
            bool up = proc_status(old)->want_up;
            if (up)
                log_info(s->name, "reload: declaration changed; restarting it");
            else
                log_info(s->name, "reload: declaration changed; it stays down until started");
            struct proc *p = order[i] = manager_replace(m, old, s);
            n->changed++;
            lproc_attach(pol, i, p);
            lhook_follow(pol, p);
            fresh[nfresh++] = p;  /* launched now, or when the old one ends */
            continue;
        }
        log_info(s->name, "reload: new; starting it");
        n->added++;
        fresh[nfresh] = order[i] = manager_add(m, s);
        lproc_attach(pol, i, fresh[nfresh]);
        lhook_follow(pol, fresh[nfresh]);
        nfresh++;
    }
    manager_order(m, order, pol->n);
    free(order);
    pol->n = 0;
    for (size_t i = 0; i < nfresh; i++)
        manager_launch(m, fresh[i]);
    free(fresh);
    return 0;
}

/* Put `next` (loaded, every user known) in the place of pol's VM and
 * declarations, and apply it to the running set. */
static int reload_apply(struct policy *pol, struct policy *next, char **err)
{
    log_warnings(next);
    /* the old VM's hooks and tasks end */
    vm_close(pol);
    manager_tasks_changed(pol->m, 0);
    /* the new VM takes the old one's place in the same struct */
    for (size_t i = 0; i < pol->n; i++)
        spec_free(pol->specs[i]);
    free(pol->specs);
    pol->vm = next->vm;
    pol->L = next->L;
    pol->specs = next->specs;
    pol->n = next->n;
    pol->cap = next->cap;
    strmap_free(&pol->names);
    pol->names = next->names;
    next->names = (struct strmap){0};
    sets_free(&pol->sets);
    pol->sets = next->sets;
    next->sets = (struct strmap){0};
    pol->nhooks = next->nhooks;
    pol->vm->tasks_changed = tasks_changed;
    pol->vm->tasks_ud = pol->m;
    lua_pushlightuserdata(pol->L, pol);
    lua_rawsetp(pol->L, LUA_REGISTRYINDEX, &policy_key);
    next->vm = NULL;
    next->L = NULL;
    next->specs = NULL;
    next->n = 0;
    policy_free(next);

    char *what = xasprintf("%s: reload", pol->path);
    lvm_protected(pol->L, reload_protected, pol, NULL, what);
    free(what);
    policy_run_tasks(pol);
    const struct reload_counts *n = &pol->reloaded;
    *err = xasprintf("%zu new, %zu changed, %zu removed, %zu unchanged", n->added, n->changed,
                     n->removed, n->unchanged);
    log_info(NULL, "reloaded %s: %s", pol->path, *err);
    return 0;
}

double policy_users_timeout(void)
{
    return env_seconds("TEND_USERS_TIMEOUT", USERS_TIMEOUT);
}

/* The users a reload's file names that this run has not seen (the
 * declarations' and the sets' templates'), each once. */
static char **pending_users(const struct policy *next, size_t *n)
{
    struct strmap seen = {0};
    char **names = xcalloc(next->n + 1, sizeof *names);
    *n = 0;
    for (size_t i = 0; i < next->n; i++) {
        const struct spec *s = next->specs[i];
        if (ldecl_user_pending(s) && !strmap_get(&seen, s->user)) {
            strmap_put(&seen, s->user, (void *)s);
            names[(*n)++] = s->user;
        }
    }
    strmap_free(&seen);
    return names;  /* the strings are the specs' */
}

/* Resolve the users left for later from what the look-up found: NULL, or
 * the first declaration's error. */
static char *resolve_users(struct policy *next, const struct users_job *job)
{
    for (size_t i = 0; i < next->n; i++) {
        char *e = ldecl_user_pending(next->specs[i]) ? ldecl_user_apply(next->specs[i], job) : NULL;
        if (e)
            return e;
    }
    for (size_t i = 0; i < next->sets.cap; i++) {
        struct pset *set = next->sets.slots[i].val;
        char *e = set && ldecl_user_pending(set->tmpl) ? ldecl_user_apply(set->tmpl, job) : NULL;
        if (e)
            return e;
    }
    return NULL;
}

/* The name service has answered a reload's look-ups (or `late` took too
 * long): the reload goes on, or is refused. */
static void users_answered(void *data, const char *late)
{
    struct policy *pol = data, *next = pol->next;
    struct users_job *job = pol->users;
    pol->next = NULL;
    pol->users = NULL;
    char *msg = NULL;
    int rc = -1;
    if (manager_shutting_down(pol->m))
        msg = xstrdup("tend is shutting down");
    else if (late)
        msg = xasprintf("%s: the name service did not answer for user '%s' within %g s",
                        pol->path, late, policy_users_timeout());
    else if (!(msg = resolve_users(next, job))) {
        rc = reload_apply(pol, next, &msg);
        next = NULL;  /* reload_apply took it */
    }
    users_job_free(job);
    policy_free(next);
    manager_reloaded(pol->m, rc, msg);
    free(msg);
}

int policy_reload(struct policy *pol, char **err)
{
    struct policy *next = load(pol->path, true, err);
    if (!next)
        return -1;
    size_t n;
    char **names = pending_users(next, &n);
    if (n == 0) {
        free(names);
        return reload_apply(pol, next, err);
    }
    /* off the loop, so that a slow name service cannot stall it */
    pol->users = users_job_start(pol->loop, names, n, policy_users_timeout(), users_answered, pol);
    if (!pol->users) {
        int e = errno;
        *err = xasprintf("%s: cannot look up user '%s' off the loop: %s", pol->path, names[0],
                         e == EAGAIN ? "too many look-ups are stuck in the name service"
                                     : strerror(e));
        free(names);
        policy_free(next);
        return -1;
    }
    log_info(NULL, "reload: looking up %zu user%s new to this run first", n,
             n == 1 ? "" : "s");
    free(names);
    pol->next = next;
    return 1;
}

void policy_free(struct policy *pol)
{
    if (!pol)
        return;
    users_job_free(pol->users);  /* a reload under way is dropped */
    policy_free(pol->next);
    vm_close(pol);
    free(pol->follows);
    for (size_t i = 0; i < pol->n; i++)
        spec_free(pol->specs[i]);
    free(pol->specs);
    strmap_free(&pol->names);
    sets_free(&pol->sets);
    free(pol->path);
    free(pol->dir);
    free(pol);
}
