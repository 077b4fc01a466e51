/* spec.c -- proc declarations: defaults and ownership. */
#include "core/spec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strmap.h"
#include "base/util.h"

struct spec *spec_new(void)
{
    struct spec *s = xcalloc(1, sizeof *s);
    s->stop_signal = SIGTERM;
    s->stop_timeout = 10;
    s->autostart = true;
    s->output = OUTPUT_INHERIT;
    s->output_keep = 5;
    s->uid = (uid_t)-1;
    s->ready_interval = 0.1;
    s->health_interval = 10;
    s->health_timeout = 5;
    s->health_failures = 3;
    s->gid = (gid_t)-1;
    restart_policy_default(&s->restart);
    return s;
}

void spec_free(struct spec *s)
{
    if (!s)
        return;
    free(s->name);
    strv_free(s->argv);
    strv_free(s->env);
    free(s->cwd);
    free(s->user);
    free(s->groups);
    free(s->home);
    strv_free(s->after);
    free(s->after_cond);
    free(s->output_path);
    free(s->output_stderr);
    check_clear(&s->ready);
    check_clear(&s->health);
    free(s->where);
    strv_free(s->env_file);
    free(s->warning);
    free(s->set);
    free(s);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void check_copy(struct check *to, const struct check *from)
{
    *to = *from;
    to->pattern = dup_or_null(from->pattern);
    to->host = dup_or_null(from->host);
    to->port = dup_or_null(from->port);
    to->target = dup_or_null(from->target);
    to->argv = from->argv ? strv_dup(from->argv) : NULL;
}

struct spec *spec_dup(const struct spec *s)
{
    struct spec *d = xmalloc(sizeof *d);
    *d = *s;
    d->name = dup_or_null(s->name);
    d->argv = s->argv ? strv_dup(s->argv) : NULL;
    d->env = s->env ? strv_dup(s->env) : NULL;
    d->env_file = s->env_file ? strv_dup(s->env_file) : NULL;
    d->cwd = dup_or_null(s->cwd);
    d->user = dup_or_null(s->user);
    d->home = dup_or_null(s->home);
    d->groups = NULL;
    if (s->groups && s->ngroups > 0) {
        d->groups = xcalloc((size_t)s->ngroups, sizeof *d->groups);
        memcpy(d->groups, s->groups, (size_t)s->ngroups * sizeof *d->groups);
    }
    d->after = s->after ? strv_dup(s->after) : NULL;
    d->after_cond = NULL;
    if (s->after_cond) {
        size_t n = strv_len(s->after) + 1;
        d->after_cond = xcalloc(n, sizeof *d->after_cond);
        memcpy(d->after_cond, s->after_cond, n * sizeof *d->after_cond);
    }
    d->output_path = dup_or_null(s->output_path);
    d->output_stderr = dup_or_null(s->output_stderr);
    check_copy(&d->ready, &s->ready);
    check_copy(&d->health, &s->health);
    d->where = dup_or_null(s->where);
    d->warning = dup_or_null(s->warning);
    d->set = dup_or_null(s->set);
    return d;
}

struct spec *spec_replica(const struct spec *tmpl, int i)
{
    struct spec *r = spec_dup(tmpl);
    free(r->name);
    r->name = xasprintf("%s@%d", tmpl->name, i);
    free(r->set);
    r->set = xstrdup(tmpl->name);
    r->replica = i;
    /* TEND_REPLICA=i laid over env (which may name it: the replica wins) */
    size_t n = strv_len(r->env), k = 0;
    char **env = xcalloc(n + 2, sizeof *env);
    for (size_t j = 0; j < n; j++) {
        if (strncmp(r->env[j], "TEND_REPLICA", 12) == 0 &&
            (r->env[j][12] == '=' || r->env[j][12] == '\0')) {
            free(r->env[j]);
            continue;
        }
        env[k++] = r->env[j];
    }
    env[k] = xasprintf("TEND_REPLICA=%d", i);
    free(r->env);
    r->env = env;
    if (i > 1) {  /* the declaration's warning is said once, by replica 1 */
        free(r->warning);
        r->warning = NULL;
    }
    return r;
}

void check_clear(struct check *c)
{
    free(c->pattern);
    free(c->target);
    free(c->host);
    free(c->port);
    strv_free(c->argv);
    c->pattern = c->target = c->host = c->port = NULL;
    c->addrlen = 0;
    c->argv = NULL;
    c->kind = CHECK_NONE;
}

char *check_describe(const struct check *c)
{
    switch (c->kind) {
    case CHECK_FD:
        return xasprintf("fd %d", c->fd);
    case CHECK_NOTIFY:
        return xstrdup("notify");
    case CHECK_LOG:
        return xasprintf("log %s", c->pattern);
    case CHECK_TCP:
        return xasprintf("tcp %s", c->target);
    case CHECK_EXEC:
        return xasprintf("exec %s", c->argv[0]);
    case CHECK_FUNC:
        return xstrdup("function");
    default:
        return xstrdup("none");
    }
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool strv_eq(char *const *a, char *const *b)
{
    size_t n = strv_len(a);
    if (n != strv_len(b))
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

/* The same strings in any order (env is a table: its order is Lua's). */
static bool strv_same_set(char *const *a, char *const *b)
{
    size_t n = strv_len(a);
    if (n != strv_len(b))
        return false;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            found = strcmp(a[i], b[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* The same after names with the same conditions, in any order. */
static bool after_same(const struct spec *a, const struct spec *b)
{
    if (!strv_same_set(a->after, b->after))
        return false;
    for (char **n = a->after; n && *n; n++)
        if (spec_after_cond(a, *n) != spec_after_cond(b, *n))
            return false;
    return true;
}

static const char *const after_conds[] = {"ready", "started", "succeeded", "ended"};

const char *spec_after_cond_name(enum after_cond c)
{
    return after_conds[c];
}

int spec_after_cond_parse(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(after_conds); i++)
        if (strcmp(name, after_conds[i]) == 0)
            return (int)i;
    return -1;
}

enum after_cond spec_after_cond(const struct spec *s, const char *dep)
{
    for (size_t i = 0; s->after_cond && s->after && s->after[i]; i++)
        if (strcmp(s->after[i], dep) == 0)
            return s->after_cond[i];
    const char *at = strrchr(dep, '@');
    for (size_t i = 0; at && s->after_cond && s->after && s->after[i]; i++)
        if (strlen(s->after[i]) == (size_t)(at - dep) &&
            strncmp(s->after[i], dep, (size_t)(at - dep)) == 0)
            return s->after_cond[i];
    return AFTER_READY;
}

const char *const limit_rlimit_names[LIMIT__RLIMITS] = {"nofile", "core", "nproc", "stack",
                                                        "memlock", "cputime"};

int limit_rlimit_resource(enum limit_rlimit l)
{
    static const int res[LIMIT__RLIMITS] = {RLIMIT_NOFILE, RLIMIT_CORE, RLIMIT_NPROC,
                                            RLIMIT_STACK, RLIMIT_MEMLOCK, RLIMIT_CPU};
    return res[l];
}

static bool limits_eq(const struct limits *a, const struct limits *b)
{
    for (int i = 0; i < LIMIT__RLIMITS; i++)
        if (a->set[i] != b->set[i] || (a->set[i] && a->value[i] != b->value[i]))
            return false;
    return a->memory == b->memory && a->memory_high == b->memory_high && a->cpu == b->cpu &&
           a->pids == b->pids;
}

static bool check_eq(const struct check *a, const struct check *b)
{
    return a->kind == b->kind && a->fd == b->fd && str_eq(a->pattern, b->pattern) &&
           a->stream == b->stream && str_eq(a->target, b->target) && strv_eq(a->argv, b->argv);
}

bool spec_equal(const struct spec *a, const struct spec *b)
{
    const struct restart_policy *ra = &a->restart, *rb = &b->restart;
    return str_eq(a->name, b->name) && strv_eq(a->argv, b->argv) &&
           strv_same_set(a->env, b->env) && strv_eq(a->env_file, b->env_file) &&
           str_eq(a->cwd, b->cwd) &&
           str_eq(a->user, b->user) && a->stop_signal == b->stop_signal &&
           a->stop_timeout == b->stop_timeout && ra->mode == rb->mode &&
           ra->initial == rb->initial && ra->factor == rb->factor && ra->max == rb->max &&
           ra->jitter == rb->jitter && ra->reset_after == rb->reset_after &&
           ra->give_up_restarts == rb->give_up_restarts &&
           ra->give_up_within == rb->give_up_within && after_same(a, b) &&
           limits_eq(&a->limits, &b->limits) &&
           a->autostart == b->autostart && a->output == b->output &&
           str_eq(a->output_path, b->output_path) &&
           str_eq(a->output_stderr, b->output_stderr) &&
           a->output_console == b->output_console && a->output_max_size == b->output_max_size &&
           a->output_keep == b->output_keep && check_eq(&a->ready, &b->ready) &&
           a->ready_timeout == b->ready_timeout && a->ready_interval == b->ready_interval &&
           a->watchdog == b->watchdog && check_eq(&a->health, &b->health) &&
           a->health_interval == b->health_interval &&
           a->health_timeout == b->health_timeout && a->health_failures == b->health_failures;
}

/* ---- is cmd[1] there to run? ---- */

/* Whether `path` is a regular file that the spec's user may execute: 0, or
 * ENOENT (and the other errors of stat), EISDIR (a directory), ENOEXEC
 * (another kind of file) or EACCES (no execute permission). */
static int runnable(const char *path, const struct spec *s)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno;
    if (S_ISDIR(st.st_mode))
        return EISDIR;
    if (!S_ISREG(st.st_mode))
        return ENOEXEC;
    if (!s->user)
        return faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0 ? 0 : EACCES;
    /* as the proc's user: its uid, gid and groups against the mode */
    mode_t bit = S_IXOTH;
    if (s->uid == 0)
        bit = S_IXUSR | S_IXGRP | S_IXOTH;
    else if (st.st_uid == s->uid)
        bit = S_IXUSR;
    else {
        bool in = st.st_gid == s->gid;
        for (int i = 0; i < s->ngroups && !in; i++)
            in = st.st_gid == s->groups[i];
        if (in)
            bit = S_IXGRP;
    }
    return st.st_mode & bit ? 0 : EACCES;
}

/* What runnable()'s answer means, for a message about `path`. */
static char *not_runnable(const char *path, int err, const struct spec *s)
{
    switch (err) {
    case EISDIR:
        return xasprintf("%s is a directory", path);
    case ENOEXEC:
        return xasprintf("%s is not a regular file", path);
    case EACCES:
        return s->user ? xasprintf("%s is not executable by user '%s'", path, s->user)
                       : xasprintf("%s is not executable", path);
    default:
        return xasprintf("%s: %s", path, strerror(err));
    }
}

/* The PATH the child will search: the spec's env (which has the env_file
 * pairs), else tend's; NULL when it is unset there. */
static const char *child_path(const struct spec *s, bool *unset)
{
    *unset = false;
    for (char **e = s->env; e && *e; e++) {
        if (strncmp(*e, "PATH=", 5) == 0)
            return *e + 5;
        if (strcmp(*e, "PATH") == 0) {
            *unset = true;
            return NULL;
        }
    }
    return getenv("PATH");
}

static char *check_cmd(const struct spec *s, const char *base);

/* The answers of check_cmd, by user, cwd, PATH and cmd[1]: a policy of
 * many procs runs few programs, and each search costs a stat per PATH
 * entry.  The last question is kept apart, so that a run of the same one
 * allocates nothing. */
static struct strmap cmd_cache;
static char cmd_ok;  /* the value of a runnable program */
static char *last_key;
static void *last_val;

void spec_check_cmd_forget(void)
{
    for (size_t i = 0; i < cmd_cache.cap; i++) {
        struct strmap_slot *sl = &cmd_cache.slots[i];
        if (!sl->key)
            continue;
        free((char *)sl->key);
        if (sl->val != &cmd_ok)
            free(sl->val);
    }
    strmap_clear(&cmd_cache);
    free(last_key);
    last_key = NULL;
    last_val = NULL;
}

/* The cache's key for these parts into out (cap bytes); its length (when
 * it is cap or more, out was too small). */
static size_t cache_key(char *out, size_t cap, const struct spec *s, const char *base,
                        char tag, const char *path)
{
    int n = snprintf(out, cap, "%d:%d:%d:%zu:%s%c%zu:%s%s", s->user ? 1 : 0, (int)s->uid,
                     (int)s->gid, strlen(base), base, tag, strlen(path), path, s->argv[0]);
    return n < 0 ? 0 : (size_t)n;
}

char *spec_check_cmd(const struct spec *s)
{
    /* tend's own cwd (no cwd) is the same all through a load */
    const char *base = s->cwd ? s->cwd : "";
    bool unset = false;
    const char *path = strchr(s->argv[0], '/') ? "" : child_path(s, &unset);
    char tag = path ? '=' : unset ? 'U' : 'N';  /* PATH set, unset by env, not in tend's */
    path = path ? path : "";
    /* length-prefixed: no two different tuples make the same key */
    char small[512];
    size_t n = cache_key(small, sizeof small, s, base, tag, path);
    char *key = small;
    if (n >= sizeof small) {
        key = xmalloc(n + 1);
        cache_key(key, n + 1, s, base, tag, path);
    }
    void *hit;
    if (last_key && strcmp(last_key, key) == 0) {
        hit = last_val;
    } else {
        hit = strmap_get(&cmd_cache, key);
        if (!hit) {
            char cwd[PATH_MAX];
            char *msg = check_cmd(s, s->cwd ? s->cwd : getcwd(cwd, sizeof cwd) ? cwd : ".");
            hit = msg ? msg : &cmd_ok;
            strmap_put(&cmd_cache, xstrdup(key), hit);
        }
        free(last_key);
        last_key = xstrdup(key);
        last_val = hit;
    }
    if (key != small)
        free(key);
    return hit == &cmd_ok ? NULL : xstrdup(hit);
}

static char *check_cmd(const struct spec *s, const char *base)
{
    const char *file = s->argv[0];
    if (strchr(file, '/')) {
        const char *rel = file;
        while (rel[0] == '.' && rel[1] == '/')
            rel += 2;
        char *path = file[0] == '/' ? xstrdup(file) : xasprintf("%s/%s", base, rel);
        int err = runnable(path, s);
        char *msg = NULL;
        if (err) {
            char *why = not_runnable(path, err, s);
            msg = file[0] == '/' ? why
                                 : xasprintf("'%s' (relative to the cwd %s): %s", file, base, why);
            if (msg != why)
                free(why);
        }
        free(path);
        return msg;
    }
    bool unset;
    const char *path = child_path(s, &unset);
    const char *shown = path;
    if (!path)  /* launch.c's default */
        path = "/usr/local/bin:/usr/bin:/bin";
    char *first_bad = NULL;  /* the first match that is not runnable */
    int bad_err = 0;
    for (const char *d = path;;) {
        const char *end = strchr(d, ':');
        size_t dlen = end ? (size_t)(end - d) : strlen(d);
        char *dir = dlen ? xstrndup(d, dlen) : xstrdup(".");
        char *full = dir[0] == '/' ? xasprintf("%s/%s", dir, file)
                                   : xasprintf("%s/%s/%s", base, dir, file);
        free(dir);
        int err = runnable(full, s);
        if (err == 0) {
            free(full);
            free(first_bad);
            return NULL;
        }
        if (err != ENOENT && err != ENOTDIR && !first_bad) {
            first_bad = full;
            bad_err = err;
        } else {
            free(full);
        }
        if (!end)
            break;
        d = end + 1;
    }
    char *msg;
    if (first_bad) {
        char *why = not_runnable(first_bad, bad_err, s);
        msg = xasprintf("no executable '%s' in PATH (%s): %s", file, shown ? shown : path,
                        why);
        free(why);
        free(first_bad);
    } else {
        msg = xasprintf("'%s' is not found in PATH (%s%s)", file,
                        shown ? shown : path,
                        shown ? "" : unset ? ", the default: env unsets PATH"
                                           : ", the default: tend has no PATH");
    }
    return msg;
}

/* ---- the --check line ---- */

/* Append `w` shell-quoted. */
static void put_word(struct buf *b, const char *w)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789@%+=:,./-_";
    size_t n = strlen(w);
    if (n && strspn(w, safe) == n) {
        buf_put(b, w, n);
        return;
    }
    buf_put(b, "'", 1);
    for (const char *p = w; *p;) {
        size_t run = strcspn(p, "'");
        buf_put(b, p, run);
        p += run;
        if (*p == '\'') {
            buf_put(b, "'\\''", 4);
            p++;
        }
    }
    buf_put(b, "'", 1);
}

char *shell_quote(const char *w)
{
    struct buf b = {0};
    put_word(&b, w);
    buf_put(&b, "", 1);
    return b.p;
}

static void put_quoted(struct buf *b, char *const *v)
{
    for (size_t i = 0; v && v[i]; i++) {
        if (i)
            buf_put(b, " ", 1);
        put_word(b, v[i]);
    }
}

static void put_check(struct buf *b, const struct check *c)
{
    char *q;
    switch (c->kind) {
    case CHECK_LOG:
        buf_printf(b, "log ");
        put_word(b, c->pattern);
        buf_printf(b, "%s", c->stream == 0 ? " on stdout" : c->stream == 1 ? " on stderr" : "");
        break;
    case CHECK_EXEC:
        buf_printf(b, "exec ");
        put_quoted(b, c->argv);
        break;
    default:
        q = check_describe(c);
        buf_printf(b, "%s", q);
        free(q);
    }
}

char *spec_plan_line(const struct spec *s)
{
    static const char *const modes[] = {"always", "on-failure", "never", "function"};
    struct buf b = {0};
    buf_reserve(&b, 128);
    buf_printf(&b, "%s: ", s->name);
    put_quoted(&b, s->argv);
    buf_printf(&b, "  (restart %s", modes[s->restart.mode]);
    if (s->after && *s->after) {
        buf_printf(&b, "; after");
        for (char **a = s->after; *a; a++) {
            enum after_cond c = spec_after_cond(s, *a);
            buf_printf(&b, " %s", *a);
            if (c != AFTER_READY)
                buf_printf(&b, " (%s)", spec_after_cond_name(c));
        }
    }
    const struct limits *l = &s->limits;
    bool any = l->memory || l->memory_high || l->cpu > 0 || l->pids;
    for (int i = 0; i < LIMIT__RLIMITS; i++)
        any |= l->set[i];
    if (any) {
        buf_printf(&b, "; limits");
        for (int i = 0; i < LIMIT__RLIMITS; i++)
            if (l->set[i] && l->value[i] == (unsigned long long)RLIM_INFINITY)
                buf_printf(&b, " %s=unlimited", limit_rlimit_names[i]);
            else if (l->set[i])
                buf_printf(&b, " %s=%llu", limit_rlimit_names[i], l->value[i]);
        if (l->memory)
            buf_printf(&b, " memory=%lld", l->memory);
        if (l->memory_high)
            buf_printf(&b, " memory_high=%lld", l->memory_high);
        if (l->cpu > 0)
            buf_printf(&b, " cpu=%g", l->cpu);
        if (l->pids)
            buf_printf(&b, " pids=%lld", l->pids);
    }
    if (s->ready.kind != CHECK_NONE) {
        buf_printf(&b, "; ready ");
        put_check(&b, &s->ready);
        if (s->ready_timeout > 0)
            buf_printf(&b, " within %gs", s->ready_timeout);
        if (s->watchdog > 0)
            buf_printf(&b, ", watchdog %gs", s->watchdog);
    }
    if (s->health.kind != CHECK_NONE) {
        buf_printf(&b, "; health ");
        put_check(&b, &s->health);
        buf_printf(&b, " every %gs, timeout %gs, %d failure%s", s->health_interval,
            s->health_timeout, s->health_failures, s->health_failures == 1 ? "" : "s");
    }
    if (s->output == OUTPUT_FILE) {
        buf_printf(&b, "; output ");
        put_word(&b, s->output_path);
        if (s->output_stderr) {
            buf_printf(&b, ", stderr ");
            put_word(&b, s->output_stderr);
        }
        if (s->output_max_size > 0)
            buf_printf(&b, " (rotated at %lld bytes, %d kept)", (long long)s->output_max_size,
                s->output_keep);
        if (s->output_console)
            buf_printf(&b, ", and to tend's output");
    } else {
        buf_printf(&b, "; output %s", s->output == OUTPUT_DISCARD ? "discard" : "inherit");
    }
    if (s->user)
        buf_printf(&b, "; user %s (uid %u, gid %u)", s->user, (unsigned)s->uid, (unsigned)s->gid);
    if (s->cwd) {
        buf_printf(&b, "; cwd ");
        put_word(&b, s->cwd);
    }
    if (s->env_file && *s->env_file) {
        buf_printf(&b, "; env_file ");
        put_quoted(&b, s->env_file);
    }
    if (s->set)
        buf_printf(&b, "; replica %d of %d", s->replica, s->replicas);
    if (!s->autostart)
        buf_printf(&b, "; autostart off");
    buf_put(&b, ")", 2);
    return b.p;
}

/* ---- did you mean ---- */

/* The optimal-string-alignment distance of a and b, ignoring case; more
 * than 2 is reported as 3. */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if ((la > lb ? la - lb : lb - la) > 2)
        return 3;
    int *rows = xcalloc(3 * (lb + 1), sizeof *rows);
    int *pp = rows, *prev = rows + lb + 1, *cur = rows + 2 * (lb + 1);
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        int lo = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            char ca = (char)tolower((unsigned char)a[i - 1]);
            char cb = (char)tolower((unsigned char)b[j - 1]);
            int d = prev[j - 1] + (ca != cb);
            if (prev[j] + 1 < d)
                d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && pp[j - 2] + 1 < d)
                d = pp[j - 2] + 1;
            cur[j] = d;
            if (d < lo)
                lo = d;
        }
        int *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
        if (lo > 2) {  /* every later row is at least as far */
            free(rows);
            return 3;
        }
    }
    int d = prev[lb];
    free(rows);
    return d > 2 ? 3 : d;
}

void suggest_init(struct suggest *g, const char *word)
{
    g->word = word;
    g->best = NULL;
    g->dist = 3;
}

void suggest_try(struct suggest *g, const char *candidate)
{
    if (strcmp(g->word, candidate) == 0)
        return;
    int d = distance(g->word, candidate);
    if (d < g->dist && (size_t)d * 2 <= strlen(g->word)) {
        g->dist = d;
        g->best = candidate;
    }
}

const char *suggest_best(const struct suggest *g)
{
    return g->best;
}
