/* fuzz_decl.c -- the declaration checker: `tend.proc{...}` at load.
 *
 * The fuzzer's bytes decode into up to three declaration tables (field
 * names from ltend.c's list, the SPEC's newer ones, near misses and random
 * ones; values of every Lua type: numbers at the edges of each range,
 * strings with NUL bytes, lists with holes, maps, functions, proc handles,
 * tend.ready.* checks called right or wrong, uncalled or edited).  They are
 * written as a policy file and loaded with policy_load, the path of
 * `tend run`.  The oracle is a model of the rules of SPEC 3 and 8 and the
 * README's field table, written from those documents, not from ltend.c:
 *  - a declaration the rules refuse must not load (class "accepted-RULE",
 *    RULE the model's rule, e.g. "accepted-nul");
 *  - one the rules accept must load (class "refused"), and what loaded
 *    (the procs policy_attach hands a manager, read with proc_spec) must be
 *    what was written: name, argv, env, after, cwd, the check's kind and
 *    pattern (class "decl-value");
 *  - a refusal names the file (class "message");
 *  - nothing crashes or leaks (the sanitizers).
 * Where the documents leave room (a cwd that does not exist yet, a user
 * named " 0", an env_file or give_up = false from the SPEC that ltend.c may
 * not have yet, a check table edited by hand, a random log pattern) the
 * model says "unsure" and only crashes and leaks count.  FUZZ_SKIP
 * (comma-separated rule classes, e.g. "nul,uid-range") turns rules off for
 * a run by hand that looks past a known bug. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include <ev.h>

#include "fuzz.h"
#include "core/manager.h"
#include "policy/policy.h"
#include "core/proc.h"
#include "core/spec.h"
#include "base/util.h"

#define MAX_DECLS 3
#define MAX_NODES 300
#define MAX_DEPTH 3

/* ---- the declaration as data ---- */

enum vt {
    V_NIL, V_TRUE, V_FALSE, V_INT, V_FLT, V_STR, V_LIST, V_MAP, V_FUNC,
    V_HANDLE,   /* the proc returned by an earlier declaration */
    V_CHECK,    /* tend.ready.KIND(args) */
    V_UNCALLED, /* tend.ready.KIND itself */
    V_MODCHECK, /* a check with one field set by hand */
};
enum ck { CK_FD, CK_NOTIFY, CK_LOG, CK_TCP, CK_EXEC, CK__N };
static const char *const ck_names[] = {"fd", "notify", "log", "tcp", "exec"};

struct val {
    enum vt t;
    long long i;
    double d;
    char *s;             /* V_STR; V_MODCHECK: the key set */
    size_t n;
    struct val **a, **b; /* V_LIST: items (a); V_MAP: keys (a), values (b) */
    size_t len;
    int handle;          /* V_HANDLE: the declaration's index */
    enum ck ck;          /* V_CHECK, V_UNCALLED, V_MODCHECK */
    struct val *x, *y;   /* V_CHECK: its arguments (NULL: not passed);
                          * V_MODCHECK: the check (x) and the value set (y) */
};

/* every node of one input, freed after it */
static struct val **pool;
static size_t npool, cappool;

static struct val *node(enum vt t)
{
    struct val *v = xcalloc(1, sizeof *v);
    if (npool == cappool)
        pool = xrealloc(pool, (cappool = cappool ? cappool * 2 : 256) * sizeof *pool);
    pool[npool++] = v;
    v->t = t;
    return v;
}

static void pool_free(void)
{
    for (size_t i = 0; i < npool; i++) {
        free(pool[i]->s);
        free(pool[i]->a);
        free(pool[i]->b);
        free(pool[i]);
    }
    npool = 0;
}

/* ---- decoding the fuzzer's bytes ---- */

struct gen {
    struct fin in;
    size_t nodes;
    int decl;     /* the declaration being made (handles refer to earlier ones) */
    bool strict;  /* only values the rules accept (see gen_decl) */
};

static const char *const vocab[] = {
    "a", "b", "c", "web", "db@1", "x.y_z-1", "true", "/bin/sh", "-c", "",
    "TERM", "SIGKILL", "hup", "15", "always", "on-failure", "never", "inherit",
    "discard", "out.log", "/nonexistent-tend-fuzz/x.log", "sub/x.log", "/", ".",
    "d", "root", "0", "nobody", "nosuchuser-tend-fuzz", "stdout", "stderr",
    "ready", "started", "succeeded", "ended", "A", "PATH", "A=B", "%d+", "[a",
    "(", "127.0.0.1", "::1", "localhost", "name", "cmd", "env", "after",
    "initial", "factor", "max", "jitter", "reset_after", "restarts", "within",
    "path", "max_size", "keep", "check", "interval", "timeout", "failures",
};

/* The fields of a declaration: README's table and ltend.c's list
 * (known), the SPEC's newer ones (spec_only: accepted or not, as long as
 * nothing breaks), near misses. */
static const char *const known_fields[] = {
    "name", "cmd", "env", "cwd", "user", "after", "stop_signal",
    "stop_timeout", "restart", "backoff", "give_up", "output", "autostart",
    "ready", "ready_timeout", "ready_interval", "watchdog", "health",
};
enum {
    F_NAME, F_CMD, F_ENV, F_CWD, F_USER, F_AFTER, F_STOP_SIGNAL, F_STOP_TIMEOUT,
    F_RESTART, F_BACKOFF, F_GIVE_UP, F_OUTPUT, F_AUTOSTART, F_READY, F_READY_TIMEOUT,
    F_READY_INTERVAL, F_WATCHDOG, F_HEALTH, F__N
};
static const char *const spec_only_fields[] = {"env_file", "replicas", "limits"};
static const char *const near_fields[] = {"Name", "cmds", "stop-signal", "readiness", "argv"};

static struct val *str_of(const char *s, size_t n)
{
    struct val *v = node(V_STR);
    v->s = xmalloc(n + 1);
    memcpy(v->s, s, n);
    v->s[n] = '\0';
    v->n = n;
    return v;
}

static struct val *cstr(const char *s)
{
    return str_of(s, strlen(s));
}

/* A string with a NUL byte inside: "PREFIX\0junk". */
static struct val *nul_str(const char *prefix)
{
    char b[80];
    size_t n = strlen(prefix);
    memcpy(b, prefix, n);
    memcpy(b + n, "\0junk", 5);
    return str_of(b, n + 5);
}

static struct val *gen_any(struct gen *g, int depth);

static struct val *gen_string(struct gen *g)
{
    uint8_t m = fin_u8(&g->in);
    if (g->strict)
        m = (uint8_t)(m & ~7);  /* from the vocabulary */
    switch (m % 8) {
    case 4:
    case 5: {
        size_t n;
        const uint8_t *b = fin_bytes(&g->in, fin_u8(&g->in) % 40, &n);
        return str_of((const char *)b, n);
    }
    case 6:
        return nul_str(vocab[fin_u8(&g->in) % ARRAY_LEN(vocab)]);
    case 7: {
        size_t n = fin_u8(&g->in);  /* names of 64 and 65 bytes, and more */
        char *b = xmalloc(n + 1);
        memset(b, 'a' + m / 8 % 3, n);
        struct val *v = str_of(b, n);
        free(b);
        return v;
    }
    default:
        return cstr(vocab[fin_u8(&g->in) % ARRAY_LEN(vocab)]);
    }
}

static struct val *int_of(long long i)
{
    struct val *v = node(V_INT);
    v->i = i;
    return v;
}

static struct val *flt_of(double d)
{
    struct val *v = node(V_FLT);
    v->d = d;
    return v;
}

static struct val *gen_int(struct gen *g)
{
    static const long long edges[] = {
        0, 1, 2, 3, -1, 5, 9, 15, 64, 65, 1023, 1024, 65535, 65536, 1000, 10000,
        10001, 1000000000, 1000000001, 4294967296LL, -4294967296LL, 65534, 4000000,
        LLONG_MAX, LLONG_MIN,
    };
    uint8_t m = fin_u8(&g->in);
    if (m % 3 == 0)
        return int_of((long long)fin_u8(&g->in) - 10);
    if (m % 3 == 1)
        return int_of(edges[fin_u8(&g->in) % ARRAY_LEN(edges)]);
    return int_of((long long)fin_u64(&g->in));
}

static struct val *gen_flt(struct gen *g)
{
    static const double edges[] = {
        0.0, -0.0, 0.5, 0.001, 0.0009, 1.0, 1.5, 1e9, 1e9 + 0.5, 1e10, NAN, INFINITY,
        -INFINITY, -1.0, 2.0, 15.0, 1e-300, 1023.0, 3.0, 80.0, 0.1, 1024.0, 4.5,
    };
    uint8_t m = fin_u8(&g->in);
    if (m % 2 == 0)
        return flt_of(edges[fin_u8(&g->in) % ARRAY_LEN(edges)]);
    uint64_t bits = fin_u64(&g->in);
    double d;
    memcpy(&d, &bits, sizeof d);
    return flt_of(d);
}

static struct val *gen_number(struct gen *g)
{
    return fin_u8(&g->in) % 2 ? gen_flt(g) : gen_int(g);
}

static struct val *list_of(size_t n)
{
    struct val *v = node(V_LIST);
    v->a = xcalloc(n ? n : 1, sizeof *v->a);
    v->len = n;
    return v;
}

static struct val *map_of(size_t n)
{
    struct val *v = node(V_MAP);
    v->a = xcalloc(n ? n : 1, sizeof *v->a);
    v->b = xcalloc(n ? n : 1, sizeof *v->b);
    v->len = 0;
    return v;
}

static void map_put(struct val *m, struct val *k, struct val *v)
{
    if (k->t == V_NIL || (k->t == V_FLT && isnan(k->d)))
        k = cstr("nil");  /* Lua refuses a nil or NaN key: no such table */
    m->a[m->len] = k;
    m->b[m->len] = v;
    m->len++;
}

/* A key for a table: mostly strings, sometimes numbers or booleans. */
static struct val *gen_key(struct gen *g, const char *const *names, size_t nnames)
{
    uint8_t m = fin_u8(&g->in);
    if (g->strict)
        return cstr(names[m % nnames]);
    switch (m % 10) {
    case 7:
        return gen_string(g);
    case 8:
        return nul_str(names[fin_u8(&g->in) % nnames]);
    case 9: {
        uint8_t k = fin_u8(&g->in);
        if (k % 4 == 0)
            return node(k & 4 ? V_TRUE : V_FALSE);
        if (k % 4 == 1)
            return flt_of(k & 4 ? 1.5 : 2.0);  /* 2.0 is the key 2 */
        return int_of((long long)(k % 5) - 1);
    }
    default:
        return cstr(names[fin_u8(&g->in) % nnames]);
    }
}

static struct val *gen_check(struct gen *g, int depth, bool health);

static struct val *gen_list(struct gen *g, int depth, struct val *(*item)(struct gen *, int))
{
    size_t n = fin_u8(&g->in) % 4;
    struct val *v = list_of(n);
    for (size_t i = 0; i < n; i++)
        v->a[i] = item(g, depth + 1);
    return v;
}

static struct val *gen_any(struct gen *g, int depth)
{
    if (++g->nodes > MAX_NODES)
        return node(V_NIL);
    uint8_t t = fin_u8(&g->in);
    switch (t % 16) {
    case 0:
        return node(V_NIL);
    case 1:
        return node(V_TRUE);
    case 2:
        return node(V_FALSE);
    case 3:
    case 15:
        return gen_int(g);
    case 4:
        return gen_flt(g);
    case 7:
        if (depth < MAX_DEPTH)
            return gen_list(g, depth, gen_any);
        return gen_string(g);
    case 8:
        if (depth < MAX_DEPTH) {
            size_t n = fin_u8(&g->in) % 4;
            struct val *m = map_of(n);
            for (size_t i = 0; i < n; i++)
                map_put(m, gen_key(g, vocab, ARRAY_LEN(vocab)), gen_any(g, depth + 1));
            return m;
        }
        return gen_string(g);
    case 9:
        return node(V_FUNC);
    case 10:
        if (g->decl > 0) {
            struct val *v = node(V_HANDLE);
            v->handle = fin_u8(&g->in) % g->decl;
            return v;
        }
        return gen_string(g);
    case 11:
    case 13:
        if (depth < MAX_DEPTH)
            return gen_check(g, depth, false);
        return node(V_FUNC);
    case 12: {
        struct val *v = node(V_UNCALLED);
        v->ck = (enum ck)(fin_u8(&g->in) % CK__N);
        return v;
    }
    default:
        return gen_string(g);
    }
}

/* One of arr[0..n): in strict mode one of the first `valid` (the ones
 * the rules accept), else any, a random string or one with a NUL. */
static struct val *pick_str(struct gen *g, const char *const *v, size_t n, size_t valid)
{
    if (g->strict)
        return cstr(v[fin_u8(&g->in) % valid]);
    uint8_t k = fin_u8(&g->in) % (2 * n + 2);
    if (k == 2 * n)
        return gen_string(g);
    if (k == 2 * n + 1)
        return nul_str(v[fin_u8(&g->in) % n]);
    return cstr(v[k % n]);
}

#define PICK(g, arr) pick_str(g, arr, ARRAY_LEN(arr), ARRAY_LEN(arr))
#define PICKV(g, arr, valid) pick_str(g, arr, ARRAY_LEN(arr), valid)

/* A number; in strict mode one that every number field takes. */
static struct val *gen_num(struct gen *g)
{
    static const double ok[] = {0.001, 0.1, 1, 10, 1e9, 5};
    if (g->strict) {
        uint8_t k = fin_u8(&g->in) % (ARRAY_LEN(ok) + 2);
        return k < ARRAY_LEN(ok) ? flt_of(ok[k]) : int_of(k - (long long)ARRAY_LEN(ok) + 1);
    }
    return gen_number(g);
}

/* tend.ready.*(...): arguments mostly right, sometimes wrong (in strict
 * mode right; for a health check of a kind a health check may be). */
static struct val *gen_check(struct gen *g, int depth, bool health)
{
    static const long long fds[] = {3, 4, 1023, 2, 1024, -1, 0, 9};
    static const long long ports[] = {80, 1, 65535, 0, 65536, -1, 8080};
    static const char *const patterns[] = {
        "ready", "listening on %d+", "^a.-b$", "%a+", "%", "[a", "(", "%b", "%f", "(()",
        "%1", "a)",
    };
    static const char *const streams[] = {"stdout", "stderr", "bogus", ""};
    static const char *const hosts[] = {"127.0.0.1", "::1", "localhost", "", "10.0.0.1"};
    static const char *const argvs[] = {"true", "/bin/true", "curl", ""};
    uint8_t m = fin_u8(&g->in);
    struct val *v = node(V_CHECK);
    v->ck = (enum ck)(m % CK__N);
    if (g->strict && health && v->ck != CK_TCP)
        v->ck = CK_EXEC;
    bool wild = (m & 0x80) && !g->strict;  /* arguments of any kind */
    switch (v->ck) {
    case CK_FD:
        v->x = wild ? gen_any(g, depth + 1)
                    : int_of(fds[fin_u8(&g->in) % (g->strict ? 3 : ARRAY_LEN(fds))]);
        break;
    case CK_NOTIFY:
        break;
    case CK_LOG:
        v->x = wild ? gen_any(g, depth + 1) : PICKV(g, patterns, 4);
        if (m & 0x20)
            v->y = wild ? gen_any(g, depth + 1) : PICKV(g, streams, 2);
        break;
    case CK_TCP:
        v->x = wild ? gen_any(g, depth + 1)
                    : int_of(ports[fin_u8(&g->in) % (g->strict ? 3 : ARRAY_LEN(ports))]);
        if (m & 0x20)
            v->y = wild ? gen_any(g, depth + 1) : PICKV(g, hosts, 3);
        break;
    case CK_EXEC:
        if (wild) {
            v->x = gen_any(g, depth + 1);
        } else {
            size_t n = 1 + fin_u8(&g->in) % 3;
            v->x = list_of(n);
            for (size_t i = 0; i < n; i++)
                v->x->a[i] = PICKV(g, argvs, 3);
        }
        break;
    case CK__N:
        break;
    }
    if (m & 0x40 && !(m & 0x20) && depth < MAX_DEPTH && !g->strict) {
        /* the table edited by hand: c[key] = value */
        static const char *const keys[] = {"kind", "fd", "pattern", "stream", "addr",
                                           "host", "port", "target", "argv"};
        struct val *w = node(V_MODCHECK);
        w->x = v;
        w->ck = v->ck;
        struct val *k = PICK(g, keys);
        w->s = k->s;
        w->n = k->n;
        k->s = NULL;
        w->y = gen_any(g, depth + 1);
        return w;
    }
    return v;
}

/* A value for field f: of the field's kind, mostly; in strict mode one
 * the rules accept.  The arrays hold the accepted choices first. */
static struct val *gen_field(struct gen *g, int f)
{
    static const char *const names[] = {"a", "b", "c", "web", "db@1"};
    static const char *const progs[] = {"true", "/bin/true", "sh", "-c", "echo hi", ""};
    static const char *const env_keys[] = {"A", "PATH", "B_2", "_", "", "A=B"};
    static const char *const dirs[] = {"/", ".", "d", "sub", "/nonexistent-tend-fuzz", ""};
    static const char *const users[] = {"root", "0", "nobody", "65534", "00",
                                        "nosuchuser-tend-fuzz", "4294967296", "-4294967296",
                                        " 0", "+0", ""};
    static const char *const sigs[] = {"TERM", "SIGKILL", "hup", "sigint", "15", "SIG15", "64",
                                       "USR1", "SIG", "", "SIGFOO", "IOT", " 15", "+15", "65",
                                       "0"};
    static const char *const modes[] = {"always", "on-failure", "never", "sometimes", "",
                                        "Always"};
    static const char *const outputs[] = {"inherit", "discard", "out.log", "d/log",
                                          "/nonexistent-tend-fuzz/x.log", "sub/x.log", "",
                                          "/", "."};
    static const char *const conds[] = {"ready", "started", "succeeded", "ended", "up"};
    uint8_t m = fin_u8(&g->in);
    if (m % 8 == 7 && !g->strict)
        return gen_any(g, 1);
    switch (f) {
    case F_NAME:
        if (g->strict)
            return cstr(names[g->decl]);  /* unique */
        return PICK(g, names);
    case F_CMD: {
        if (m % 16 == 1 && !g->strict)
            return PICK(g, progs);  /* a string, not a list */
        size_t n = 1 + fin_u8(&g->in) % 3;
        struct val *v = list_of(n);
        for (size_t i = 0; i < n; i++)
            v->a[i] = fin_u8(&g->in) % 8 == 0 && !g->strict ? gen_any(g, 2) : PICKV(g, progs, 5);
        return v;
    }
    case F_ENV: {
        size_t n = fin_u8(&g->in) % 4;
        struct val *v = map_of(n);
        for (size_t i = 0; i < n; i++) {
            struct val *k = fin_u8(&g->in) % 8 || g->strict ? PICKV(g, env_keys, 4)
                                                            : gen_any(g, 2);
            uint8_t t = fin_u8(&g->in) % 6;
            struct val *x = t == 0 ? node(V_FALSE) : t == 1 ? gen_num(g)
                          : t == 2 && !g->strict ? gen_any(g, 2) : gen_string(g);
            map_put(v, k, x);
        }
        return v;
    }
    case F_CWD:
        return PICKV(g, dirs, 3);
    case F_USER:
        return m % 3 == 0 && !g->strict ? gen_number(g) : PICKV(g, users, 5);
    case F_AFTER: {
        if (m % 16 == 1 && !g->strict) {  /* the SPEC's map form, or a mix */
            size_t n = fin_u8(&g->in) % 3;
            struct val *v = map_of(n);
            for (size_t i = 0; i < n; i++)
                map_put(v, fin_u8(&g->in) % 4 ? PICK(g, names) : int_of(1), PICK(g, conds));
            return v;
        }
        size_t n = fin_u8(&g->in) % 4;
        if (g->strict && g->decl == 0)
            n = 0;  /* only earlier procs: no cycle, no unknown name */
        if (m % 16 == 2 && !g->strict) {  /* a list with a key besides: { "a", x = 1 } */
            struct val *v = map_of(n + 1);
            for (size_t i = 0; i < n; i++)
                map_put(v, int_of((long long)i + 1), PICK(g, names));
            map_put(v, gen_key(g, vocab, ARRAY_LEN(vocab)), gen_any(g, 2));
            return v;
        }
        struct val *v = list_of(n);
        for (size_t i = 0; i < n; i++) {
            uint8_t t = fin_u8(&g->in) % 6;
            if (t == 0 && g->decl > 0) {
                v->a[i] = node(V_HANDLE);
                v->a[i]->handle = fin_u8(&g->in) % g->decl;
            } else if (g->strict) {
                v->a[i] = cstr(names[fin_u8(&g->in) % g->decl]);
            } else if (t == 1) {
                v->a[i] = gen_any(g, 2);
            } else {
                v->a[i] = PICK(g, names);
            }
        }
        return v;
    }
    case F_STOP_SIGNAL:
        return m % 3 == 0 && !g->strict ? gen_number(g) : PICKV(g, sigs, 8);
    case F_RESTART:
        if (m % 5 == 1)
            return node(V_FUNC);
        return PICKV(g, modes, 3);
    case F_BACKOFF:
    case F_GIVE_UP:
    case F_HEALTH: {
        static const char *const bk[] = {"initial", "factor", "max", "jitter", "reset_after"};
        static const char *const gk[] = {"restarts", "within"};
        static const char *const hk[] = {"check", "interval", "timeout", "failures"};
        const char *const *keys = f == F_BACKOFF ? bk : f == F_GIVE_UP ? gk : hk;
        size_t nkeys = f == F_BACKOFF ? 5 : f == F_GIVE_UP ? 2 : 4;
        if (f == F_GIVE_UP && m % 16 == 1 && !g->strict)
            return node(V_FALSE);
        size_t n = fin_u8(&g->in) % (nkeys + 1);
        struct val *v = map_of(n + 2);
        if (f == F_HEALTH && (fin_u8(&g->in) % 4 || g->strict))
            map_put(v, cstr("check"), fin_u8(&g->in) % 4 ? gen_check(g, 1, true) : node(V_FUNC));
        if (f == F_GIVE_UP && g->strict) {
            map_put(v, cstr("restarts"), int_of(1 + fin_u8(&g->in) % 10));
            map_put(v, cstr("within"), gen_num(g));
            return v;
        }
        for (size_t i = 0; i < n; i++) {
            struct val *k = g->strict ? cstr(keys[1 + fin_u8(&g->in) % (nkeys - 1)])
                                      : gen_key(g, keys, nkeys);
            bool c = k->t == V_STR && strcmp(k->s, "check") == 0;
            map_put(v, k, c ? gen_check(g, 1, true) : g->strict ? int_of(1) : gen_number(g));
        }
        return v;
    }
    case F_OUTPUT: {
        if (m % 4 != 1)
            return PICKV(g, outputs, 4);
        static const char *const ok[] = {"path", "max_size", "keep", "stderr", "console"};
        size_t n = fin_u8(&g->in) % 4;
        struct val *v = map_of(n + 1);
        if (fin_u8(&g->in) % 4 || g->strict)
            map_put(v, cstr("path"), pick_str(g, outputs + 2, 2, 2));
        for (size_t i = 0; i < n; i++) {
            if (g->strict) {
                if (fin_u8(&g->in) % 2)
                    map_put(v, cstr("max_size"), int_of(1024 + fin_u8(&g->in)));
                else
                    map_put(v, cstr("keep"), int_of(fin_u8(&g->in) % 6));
                continue;
            }
            struct val *k = gen_key(g, ok, ARRAY_LEN(ok));
            bool p = k->t == V_STR && strcmp(k->s, "path") == 0;
            map_put(v, k, p ? PICK(g, outputs) : gen_number(g));
        }
        return v;
    }
    case F_AUTOSTART:
        return node(m & 8 ? V_TRUE : V_FALSE);
    case F_READY:
        if (m % 8 == 1)
            return node(V_FUNC);
        if (m % 8 == 2 && !g->strict) {
            struct val *v = node(V_UNCALLED);
            v->ck = (enum ck)(fin_u8(&g->in) % CK__N);
            return v;
        }
        return gen_check(g, 1, false);
    default:  /* the numbers */
        return gen_num(g);
    }
}

/* A declaration.  In strict mode every field is one the rules accept,
 * but for at most one, made as in the free mode: so that an input tests
 * one rule at a time, with the rest of the declaration right. */
static struct val *gen_decl(struct gen *g)
{
    size_t n = fin_u8(&g->in) % 5;
    struct val *d = map_of(2 * n + 2);  /* name, cmd, n fields, a ready for each watchdog */
    bool strict = g->strict;
    /* the field made freely: 0 (as all bytes past the input's end are)
     * is none */
    size_t odd = strict ? fin_u8(&g->in) % (2 * n + 4) : 0;
    odd = odd == 0 ? SIZE_MAX : odd - 1;
    /* name and cmd first, mostly, so that most declarations get far */
    g->strict = strict && odd != 0;
    if (fin_u8(&g->in) % 8 != 7 || g->strict)
        map_put(d, cstr("name"), gen_field(g, F_NAME));
    g->strict = strict && odd != 1;
    if (fin_u8(&g->in) % 8 != 7 || g->strict)
        map_put(d, cstr("cmd"), gen_field(g, F_CMD));
    for (size_t i = 0; i < n; i++) {
        g->strict = strict && odd != i + 2;
        uint8_t k = fin_u8(&g->in);
        struct val *key;
        int f = -1;
        if (k % 16 < 12 || g->strict) {
            f = k % F__N;
            key = cstr(known_fields[f]);
        } else if (k % 16 == 12) {
            key = cstr(spec_only_fields[k / 16 % ARRAY_LEN(spec_only_fields)]);
        } else if (k % 16 == 13) {
            key = cstr(near_fields[k / 16 % ARRAY_LEN(near_fields)]);
        } else if (k % 16 == 14) {
            key = nul_str(known_fields[k / 16 % F__N]);  /* "cmd\0junk" */
        } else {
            key = gen_key(g, vocab, ARRAY_LEN(vocab));
        }
        map_put(d, key, f >= 0 ? gen_field(g, f) : gen_any(g, 1));
        if (g->strict && f == F_WATCHDOG) {
            /* README: the pings are WATCHDOG=1 notifications */
            struct val *c = node(V_CHECK);
            c->ck = CK_NOTIFY;
            map_put(d, cstr("ready"), c);
        }
    }
    g->strict = strict;
    return d;
}

/* ---- the policy text ---- */

static void put_str(struct buf *b, const char *s, size_t n)
{
    buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            buf_put(b, (const char *)&c, 1);
        } else {
            snprintf(e, sizeof e, "\\%03u", c);
            buf_put(b, e, 4);
        }
    }
    buf_put(b, "\"", 1);
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
    char t[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    buf_put(b, t, (size_t)n);
}

static void put_val(struct buf *b, const struct val *v)
{
    switch (v->t) {
    case V_NIL:
        putf(b, "nil");
        break;
    case V_TRUE:
        putf(b, "true");
        break;
    case V_FALSE:
        putf(b, "false");
        break;
    case V_INT:
        if (v->i == LLONG_MIN)
            putf(b, "math.mininteger");
        else
            putf(b, "%lld", v->i);
        break;
    case V_FLT:
        if (isnan(v->d)) {
            putf(b, "(0/0)");
        } else if (isinf(v->d)) {
            putf(b, v->d > 0 ? "math.huge" : "(-math.huge)");
        } else {
            char t[64];
            snprintf(t, sizeof t, "%.17g", v->d);
            if (!strpbrk(t, ".eEn"))
                strcat(t, ".0");  /* a float, not an integer */
            putf(b, "(%s)", t);
        }
        break;
    case V_STR:
        put_str(b, v->s, v->n);
        break;
    case V_LIST:
        putf(b, "{");
        for (size_t i = 0; i < v->len; i++) {
            put_val(b, v->a[i]);
            putf(b, ", ");
        }
        putf(b, "}");
        break;
    case V_MAP:
        putf(b, "{");
        for (size_t i = 0; i < v->len; i++) {
            putf(b, "[");
            put_val(b, v->a[i]);
            putf(b, "] = ");
            put_val(b, v->b[i]);
            putf(b, ", ");
        }
        putf(b, "}");
        break;
    case V_FUNC:
        putf(b, "function() end");
        break;
    case V_HANDLE:
        putf(b, "p%d", v->handle + 1);
        break;
    case V_CHECK:
        putf(b, "tend.ready.%s(", ck_names[v->ck]);
        if (v->x)
            put_val(b, v->x);
        if (v->y) {
            putf(b, ", ");
            put_val(b, v->y);
        }
        putf(b, ")");
        break;
    case V_UNCALLED:
        putf(b, "tend.ready.%s", ck_names[v->ck]);
        break;
    case V_MODCHECK:
        putf(b, "(function() local c = ");
        put_val(b, v->x);
        putf(b, "; c[");
        put_str(b, v->s, v->n);
        putf(b, "] = ");
        put_val(b, v->y);
        putf(b, "; return c end)()");
        break;
    }
}

/* ---- the model of the rules ---- */

enum verdict { ACCEPT, UNSURE, REFUSE };

struct judge {
    enum verdict v;
    char cls[40];   /* the class of the rule behind v */
    char why[400];
};

/* Record a rule's verdict; REFUSE beats UNSURE beats ACCEPT, the first
 * reason of the strongest is kept. */
static void judge(struct judge *j, enum verdict v, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void judge(struct judge *j, enum verdict v, const char *cls, const char *fmt, ...)
{
    if (v == REFUSE && cls && fuzz_skip(cls))
        v = UNSURE;  /* turned off for this run */
    if (v <= j->v)
        return;
    j->v = v;
    snprintf(j->cls, sizeof j->cls, "%s", cls ? cls : "other");
    int n = snprintf(j->why, sizeof j->why, "[%s] ", cls ? cls : "-");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->why + n, sizeof j->why - (size_t)n, fmt, ap);
    va_end(ap);
}

/* A table's contents as Lua sees them: keys normalised (a float with an
 * integer value is that integer), the last assignment wins, nil removes. */
struct pair {
    const struct val *k, *v;
    long long ik;  /* integer keys */
};

static bool is_int_key(const struct val *k, long long *out)
{
    if (k->t == V_INT) {
        *out = k->i;
        return true;
    }
    if (k->t == V_FLT && k->d == floor(k->d) && k->d >= -9223372036854775808.0 &&
        k->d < 9223372036854775808.0) {
        *out = (long long)k->d;
        return true;
    }
    return false;
}

static bool same_key(const struct val *a, const struct val *b)
{
    long long x, y;
    bool ia = is_int_key(a, &x), ib = is_int_key(b, &y);
    if (ia || ib)
        return ia && ib && x == y;
    if (a->t != b->t)
        return false;
    if (a->t == V_STR)
        return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
    if (a->t == V_FLT)
        return a->d == b->d;
    if (a->t == V_HANDLE)
        return a->handle == b->handle;
    if (a->t == V_UNCALLED)
        return a->ck == b->ck;
    /* each table or function written is a new object, a key of its own */
    return a->t == V_TRUE || a->t == V_FALSE;
}

static size_t pairs_of(const struct val *t, struct pair *out, size_t cap)
{
    size_t n = 0;
    if (t->t == V_LIST) {
        for (size_t i = 0; i < t->len && n < cap; i++)
            if (t->a[i]->t != V_NIL)
                out[n++] = (struct pair){int_of((long long)i + 1), t->a[i], (long long)i + 1};
        return n;
    }
    for (size_t i = 0; i < t->len; i++) {
        size_t j = 0;
        while (j < n && !same_key(out[j].k, t->a[i]))
            j++;
        if (j < n) {
            out[j] = out[--n];  /* reassigned: the new value goes last */
        }
        if (t->b[i]->t == V_NIL || n >= cap)
            continue;
        long long ik = 0;
        is_int_key(t->a[i], &ik);
        out[n++] = (struct pair){t->a[i], t->b[i], ik};
    }
    return n;
}

#define MAXP 64

/* Whether a table's keys are exactly 1..k (a list); *k. */
static bool is_sequence(const struct pair *p, size_t n, size_t *k)
{
    long long max = 0;
    for (size_t i = 0; i < n; i++) {
        long long ik;
        if (!is_int_key(p[i].k, &ik) || ik < 1)
            return false;
        if (ik > max)
            max = ik;
    }
    *k = n;
    return max == (long long)n;
}

static const struct val *seq_item(const struct pair *p, size_t n, size_t i)
{
    for (size_t j = 0; j < n; j++)
        if (p[j].ik == (long long)i)
            return p[j].v;
    return NULL;
}

static bool has_nul(const struct val *v)
{
    return v->t == V_STR && memchr(v->s, '\0', v->n);
}

static bool is_str(const struct val *v, const char *s)
{
    return v->t == V_STR && v->n == strlen(s) && memcmp(v->s, s, v->n) == 0;
}

static bool is_number(const struct val *v)
{
    return v->t == V_INT || v->t == V_FLT;
}

static double num(const struct val *v)
{
    return v->t == V_INT ? (double)v->i : v->d;
}

static bool is_table(const struct val *v)
{
    return v->t == V_LIST || v->t == V_MAP || v->t == V_CHECK || v->t == V_MODCHECK;
}

static char policy_dir[PATH_MAX];

/* What tend.ready.KIND(args) does: raises, or makes a check; *nul when an
 * argument with a NUL byte was taken cut (the rules refuse that). */
static enum verdict ctor_verdict(const struct val *c, bool *nul, const char **why)
{
    static const char *const good_patterns[] = {"ready", "listening on %d+", "^a.-b$", "%a+"};
    static const char *const bad_patterns[] = {"%", "[a", "(", "%b", "%f", "(()", "%1", "a)"};
    const struct val *x = c->x, *y = c->y;
    *nul = false;
    *why = "";
    switch (c->ck) {
    case CK_NOTIFY:
        return ACCEPT;
    case CK_FD:
    case CK_TCP: {
        long long lo = c->ck == CK_FD ? 3 : 1, hi = c->ck == CK_FD ? 1023 : 65535;
        long long n;
        if (!x || x->t == V_NIL || !(is_number(x) || x->t == V_STR))
            return *why = "the number argument is missing or not a number", REFUSE;
        if (x->t == V_STR)
            return UNSURE;  /* Lua converts "80"; not this model's business */
        if (x->t == V_FLT && !(x->d == floor(x->d) && fabs(x->d) < 9e18))
            return *why = "a float without an integer value", REFUSE;
        n = x->t == V_INT ? x->i : (long long)x->d;
        if (n < lo || n > hi)
            return *why = "out of range", REFUSE;
        if (c->ck == CK_FD || !y || y->t == V_NIL)
            return ACCEPT;
        if (y->t != V_STR)
            return is_number(y) ? UNSURE : (*why = "the host is not a string", REFUSE);
        if (y->n == 0 || y->s[0] == '\0')
            return *why = "an empty host", REFUSE;
        if (has_nul(y))
            *nul = true;
        if (*nul)
            return ACCEPT;  /* the declaration refuses it (rule_check) */
        if (is_str(y, "127.0.0.1") || is_str(y, "::1") || is_str(y, "localhost"))
            return ACCEPT;
        return UNSURE;
    }
    case CK_LOG: {
        enum verdict v = UNSURE;
        if (!x || !(x->t == V_STR || is_number(x)))
            return *why = "the pattern is not a string", REFUSE;
        if (is_number(x))
            v = ACCEPT;
        if (x->t == V_STR) {
            if (has_nul(x))
                *nul = true;
            for (size_t i = 0; i < ARRAY_LEN(good_patterns); i++)
                if (is_str(x, good_patterns[i]))
                    v = ACCEPT;
            for (size_t i = 0; i < ARRAY_LEN(bad_patterns); i++)
                if (is_str(x, bad_patterns[i]))
                    return *why = "a malformed pattern", REFUSE;
        }
        if (y && y->t != V_NIL) {
            if (y->t != V_STR)
                return *why = "the stream is not \"stdout\" or \"stderr\"", REFUSE;
            /* tend.ready.log compares the whole string: "stderr\0x" is no
             * stream, refused by the constructor itself */
            if (has_nul(y))
                return *why = "the stream is not \"stdout\" or \"stderr\"", REFUSE;
            if (strcmp(y->s, "stdout") != 0 && strcmp(y->s, "stderr") != 0)
                return *why = "the stream is not \"stdout\" or \"stderr\"", REFUSE;
        }
        return v;
    }
    case CK_EXEC: {
        if (!x || !is_table(x))
            return *why = "argv is not a table", REFUSE;
        if (x->t == V_CHECK || x->t == V_MODCHECK)
            return UNSURE;
        struct pair p[MAXP];
        size_t n = pairs_of(x, p, MAXP), k;
        if (!is_sequence(p, n, &k) || k < 1)
            return *why = "argv is not a list of at least one string", REFUSE;
        for (size_t i = 1; i <= k; i++) {
            const struct val *it = seq_item(p, n, i);
            if (!(it->t == V_STR || is_number(it)))
                return *why = "an argv item is not a string", REFUSE;
            if (has_nul(it))
                *nul = true;
        }
        return ACCEPT;
    }
    case CK__N:
        break;
    }
    return UNSURE;
}

/* Every constructor call in a value runs while the table is built: one
 * that raises ends the load. */
static void scan_ctors(const struct val *v, struct judge *j)
{
    switch (v->t) {
    case V_CHECK: {
        bool nul;
        const char *why;
        enum verdict cv = ctor_verdict(v, &nul, &why);
        if (cv == REFUSE)
            judge(j, REFUSE, "ctor", "tend.ready.%s raises: %s", ck_names[v->ck], why);
        else if (cv == UNSURE)
            judge(j, UNSURE, "ctor", "tend.ready.%s with arguments the model does not judge",
                  ck_names[v->ck]);
        if (v->x)
            scan_ctors(v->x, j);
        if (v->y)
            scan_ctors(v->y, j);
        break;
    }
    case V_MODCHECK:
        scan_ctors(v->x, j);
        scan_ctors(v->y, j);
        break;
    case V_LIST:
    case V_MAP:
        for (size_t i = 0; i < v->len; i++) {
            scan_ctors(v->a[i], j);
            if (v->t == V_MAP)
                scan_ctors(v->b[i], j);
        }
        break;
    default:
        break;
    }
}

static bool valid_name(const struct val *v)
{
    if (v->t != V_STR || v->n < 1 || v->n > 64)
        return false;
    for (size_t i = 0; i < v->n; i++) {
        unsigned char c = (unsigned char)v->s[i];
        /* '@' is for replicas' names (NAME@i), given by tend, not by hand */
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* A number field: finite, >= min, at most 1e9 (README's table; SPEC 3). */
static void rule_number(struct judge *j, const char *field, const struct val *v, double min)
{
    if (!is_number(v)) {
        judge(j, REFUSE, "type", "%s: a number expected", field);
        return;
    }
    double d = num(v);
    if (!isfinite(d) || d < min || d > 1e9)
        judge(j, REFUSE, "range", "%s: %g is not in %g..1e9", field, d, min);
}

/* A list of strings (numbers converted), for cmd and an exec check. */
static void rule_strv(struct judge *j, const char *field, const struct val *v, bool prog)
{
    if (v->t == V_CHECK || v->t == V_MODCHECK) {
        judge(j, UNSURE, NULL, "%s: a check table", field);
        return;
    }
    if (v->t != V_LIST && v->t != V_MAP) {
        judge(j, REFUSE, "type", "%s: a list expected", field);
        return;
    }
    struct pair p[MAXP];
    size_t n = pairs_of(v, p, MAXP), k;
    if (!is_sequence(p, n, &k) || k < 1) {
        judge(j, REFUSE, "list", "%s: not a list of at least one item", field);
        return;
    }
    for (size_t i = 1; i <= k; i++) {
        const struct val *it = seq_item(p, n, i);
        if (!(it->t == V_STR || is_number(it)))
            judge(j, REFUSE, "type", "%s: item %zu is not a string", field, i);
        else if (has_nul(it))
            judge(j, REFUSE, "nul", "%s: item %zu %s has a NUL byte", field, i,
                  fuzz_show(it->s, it->n));
        else if (prog && i == 1 && it->t == V_STR && it->n == 0)
            judge(j, REFUSE, "empty", "%s: the program name is empty", field);
    }
}

/* A path that must name a file in an existing, writable directory. */
static void rule_output_path(struct judge *j, const struct val *v)
{
    if (v->t != V_STR) {
        judge(j, REFUSE, "type", "output path: a string expected");
        return;
    }
    if (has_nul(v)) {
        judge(j, REFUSE, "nul", "output path %s has a NUL byte", fuzz_show(v->s, v->n));
        return;
    }
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s%s%s", v->s[0] == '/' ? "" : policy_dir,
             v->s[0] == '/' ? "" : "/", v->s);
    struct stat st;
    if (v->n == 0 || path[strlen(path) - 1] == '/' ||
        (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        judge(j, UNSURE, NULL, "output path %s names a directory", fuzz_show(v->s, v->n));
        return;
    }
    char *slash = strrchr(path, '/');
    *slash = '\0';
    const char *dir = *path ? path : "/";
    int r = stat(dir, &st), e = errno;
    if (r == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK) == 0)
        return;  /* accept */
    if ((r != 0 && (e == ENOENT || e == ENOTDIR)) || (r == 0 && !S_ISDIR(st.st_mode)))
        judge(j, REFUSE, "output-dir", "output path %s: its directory does not exist",
              fuzz_show(v->s, v->n));
    else
        judge(j, UNSURE, NULL, "output directory %s", dir);
}

/* ready = / health.check = */
static void rule_check(struct judge *j, const char *field, const struct val *v, bool health,
                       enum ck *kind)
{
    *kind = CK__N;
    if (v->t == V_FUNC)
        return;
    if (v->t == V_UNCALLED) {
        /* SPEC 3: "a tend.ready.* constructor passed without being called
         * (ready = tend.ready.tcp)" is an error at load */
        judge(j, REFUSE, "uncalled-check", "%s: tend.ready.%s without its call", field,
              ck_names[v->ck]);
        return;
    }
    if (v->t == V_MODCHECK) {
        judge(j, UNSURE, NULL, "%s: a check edited by hand", field);
        return;
    }
    if (v->t != V_CHECK) {
        judge(j, REFUSE, "type", "%s: a tend.ready.* check or a function expected", field);
        return;
    }
    bool nul;
    const char *why;
    if (ctor_verdict(v, &nul, &why) == REFUSE)
        return;  /* the constructor raised already */
    if (nul)
        judge(j, REFUSE, "nul", "%s: an argument of tend.ready.%s has a NUL byte", field,
              ck_names[v->ck]);
    if (health && (v->ck == CK_FD || v->ck == CK_NOTIFY || v->ck == CK_LOG))
        judge(j, REFUSE, "health-kind", "%s: a %s check cannot be a health check", field,
              ck_names[v->ck]);
    *kind = v->ck;
}

/* The fields of a sub-table (backoff, give_up, output, health): every key
 * a known string; returns the pairs. */
static size_t rule_subtable(struct judge *j, const char *field, const struct val *v,
                            const char *const *keys, size_t nkeys,
                            const char *const *spec_keys, size_t nspec, struct pair *p)
{
    if (v->t == V_CHECK || v->t == V_MODCHECK) {
        judge(j, UNSURE, NULL, "%s: a check table", field);
        return 0;
    }
    if (v->t != V_LIST && v->t != V_MAP) {
        judge(j, REFUSE, "type", "%s: a table expected", field);
        return 0;
    }
    size_t n = pairs_of(v, p, MAXP);
    for (size_t i = 0; i < n; i++) {
        const struct val *k = p[i].k;
        bool known = false, spec = false;
        for (size_t q = 0; k->t == V_STR && q < nkeys; q++)
            known |= is_str(k, keys[q]);
        for (size_t q = 0; k->t == V_STR && q < nspec; q++)
            spec |= is_str(k, spec_keys[q]);
        if (spec)
            judge(j, UNSURE, NULL, "%s: the SPEC's key %s", field, k->s);
        else if (!known)
            judge(j, REFUSE, has_nul(k) ? "nul" : "unknown-field", "%s: unknown key %s", field,
                  k->t == V_STR ? fuzz_show(k->s, k->n) : "(not a string)");
    }
    return n;
}

static const struct val *get(const struct pair *p, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (is_str(p[i].k, key))
            return p[i].v;
    return NULL;
}

/* The user: an existing name, or the decimal uid of an existing user. */
static void rule_user(struct judge *j, const struct val *v)
{
    char s[64];
    if (v->t == V_INT) {
        snprintf(s, sizeof s, "%lld", v->i);
    } else if (v->t == V_FLT) {
        judge(j, UNSURE, NULL, "user: a float");
        return;
    } else if (v->t == V_STR) {
        if (has_nul(v)) {
            judge(j, REFUSE, "nul", "user %s has a NUL byte", fuzz_show(v->s, v->n));
            return;
        }
        if (v->n >= sizeof s) {
            judge(j, REFUSE, "user", "no such user %s", fuzz_show(v->s, v->n));
            return;
        }
        memcpy(s, v->s, v->n + 1);
    } else {
        judge(j, REFUSE, "type", "user: a name or uid expected");
        return;
    }
    if (getpwnam(s))
        return;
    bool digits = *s != '\0';
    for (const char *c = s; *c; c++)
        digits &= isdigit((unsigned char)*c) != 0;
    if (digits) {
        errno = 0;
        unsigned long long uid = strtoull(s, NULL, 10);
        if (errno == 0 && uid <= 0xFFFFFFFEull && getpwuid((uid_t)uid))
            return;
        judge(j, REFUSE, uid > 0xFFFFFFFEull ? "uid-range" : "user", "no user with uid %s", s);
        return;
    }
    if (s[0] == '-' && s[1] && strspn(s + 1, "0123456789") == strlen(s + 1)) {
        judge(j, REFUSE, "uid-range", "no user with uid %s", s);
        return;
    }
    if (isspace((unsigned char)s[0]) || s[0] == '+' || s[0] == '-')
        judge(j, UNSURE, NULL, "user %s: a number written oddly", fuzz_show(s, strlen(s)));
    else
        judge(j, REFUSE, "user", "no such user %s", fuzz_show(s, strlen(s)));
}

static void rule_signal(struct judge *j, const struct val *v)
{
    static const char *const names[] = {
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1",
        "SEGV", "USR2", "PIPE", "ALRM", "TERM", "CHLD", "CONT", "STOP", "TSTP", "TTIN",
        "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS"};
    static const char *const other[] = {"IOT", "POLL", "STKFLT", "CLD", "RTMIN", "RTMAX",
                                        "UNUSED", "EMT", "LOST", "INFO"};
    if (v->t == V_INT) {
        if (v->i < 1 || v->i > 64)
            judge(j, REFUSE, "signal", "stop_signal %lld is no signal", v->i);
        return;
    }
    if (v->t == V_FLT) {
        if (v->d == floor(v->d) && v->d >= 1 && v->d <= 64)
            judge(j, UNSURE, NULL, "stop_signal: a float signal number");
        else
            judge(j, REFUSE, "signal", "stop_signal %g is no signal", v->d);
        return;
    }
    if (v->t != V_STR) {
        judge(j, REFUSE, "type", "stop_signal: a signal name expected");
        return;
    }
    if (has_nul(v)) {
        judge(j, REFUSE, "nul", "stop_signal %s has a NUL byte", fuzz_show(v->s, v->n));
        return;
    }
    const char *s = v->s;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (strcasecmp(s, names[i]) == 0)
            return;
    for (size_t i = 0; i < ARRAY_LEN(other); i++)
        if (strcasecmp(s, other[i]) == 0) {
            judge(j, UNSURE, NULL, "stop_signal %s: a name tend need not know", s);
            return;
        }
    if (*s && strspn(s, "0123456789") == strlen(s)) {
        long n = strlen(s) > 3 ? 999 : strtol(s, NULL, 10);
        if (n < 1 || n > 64)
            judge(j, REFUSE, "signal", "stop_signal %s is no signal", fuzz_show(v->s, v->n));
        return;
    }
    if (*s && (isspace((unsigned char)*s) || *s == '+'))
        judge(j, UNSURE, NULL, "stop_signal %s: a number written oddly", s);
    else
        judge(j, REFUSE, "signal", "stop_signal %s is no signal", fuzz_show(v->s, v->n));
}

/* What the model knows of one declaration, for the checks after a load. */
struct decl_model {
    const struct val *name;
    struct pair fields[MAXP];
    size_t nfields;
    const char *after[MAXP];  /* names, when `after` is a list the model judged */
    size_t nafter;
    bool after_known;
    enum ck ready_kind;        /* a genuine check's kind, CK__N otherwise */
    const struct val *ready;
};

static void rule_decl(struct judge *j, const struct val *d, struct decl_model *dm,
                      struct decl_model *all, int index)
{
    scan_ctors(d, j);
    dm->nfields = pairs_of(d, dm->fields, MAXP);
    dm->ready_kind = CK__N;
    const struct pair *p = dm->fields;
    size_t n = dm->nfields;
    for (size_t i = 0; i < n; i++)
        if (p[i].k->t != V_STR)
            judge(j, REFUSE, "field-name", "a field name that is not a string");
    const struct val *name = get(p, n, "name");
    dm->name = name;
    if (!name || !valid_name(name)) {
        judge(j, REFUSE, name && has_nul(name) ? "nul" : "name", "name %s is missing or invalid",
              name && name->t == V_STR ? fuzz_show(name->s, name->n) : "(none)");
        dm->name = NULL;
    } else {
        for (int k = 0; k < index; k++)
            if (all[k].name && all[k].name->n == name->n &&
                memcmp(all[k].name->s, name->s, name->n) == 0)
                judge(j, REFUSE, "duplicate", "name %s declared twice", name->s);
    }
    if (!get(p, n, "cmd"))
        judge(j, REFUSE, "required", "no cmd");

    for (size_t i = 0; i < n; i++) {
        const struct val *k = p[i].k, *v = p[i].v;
        if (k->t != V_STR)
            continue;
        int f = -1;
        for (int q = 0; q < F__N; q++)
            if (is_str(k, known_fields[q]))
                f = q;
        if (f < 0) {
            bool spec = false;
            for (size_t q = 0; q < ARRAY_LEN(spec_only_fields); q++)
                spec |= is_str(k, spec_only_fields[q]);
            if (spec)
                judge(j, UNSURE, NULL, "the SPEC's field %s", k->s);
            else
                judge(j, REFUSE, has_nul(k) ? "nul" : "unknown-field", "unknown field %s",
                      fuzz_show(k->s, k->n));
            continue;
        }
        struct pair sub[MAXP];
        size_t ns;
        switch (f) {
        case F_NAME:
            break;
        case F_CMD:
            if (v->t == V_STR)
                judge(j, REFUSE, "type", "cmd: a string, not a list");
            else
                rule_strv(j, "cmd", v, true);
            break;
        case F_ENV:
            if (v->t == V_CHECK || v->t == V_MODCHECK) {
                judge(j, UNSURE, NULL, "env: a check table");
                break;
            }
            if (v->t != V_LIST && v->t != V_MAP) {
                judge(j, REFUSE, "type", "env: a table expected");
                break;
            }
            ns = pairs_of(v, sub, MAXP);
            for (size_t q = 0; q < ns; q++) {
                const struct val *ek = sub[q].k, *ev = sub[q].v;
                if (ek->t != V_STR)
                    judge(j, REFUSE, "type", "env: a key that is not a string");
                else if (has_nul(ek))
                    judge(j, REFUSE, "nul", "env: key %s has a NUL byte",
                          fuzz_show(ek->s, ek->n));
                else if (ek->n == 0 || memchr(ek->s, '=', ek->n))
                    judge(j, REFUSE, "env-name", "env: %s is no variable name",
                          fuzz_show(ek->s, ek->n));
                if (ev->t == V_STR && has_nul(ev))
                    judge(j, REFUSE, "nul", "env: value %s has a NUL byte",
                          fuzz_show(ev->s, ev->n));
                else if (!(ev->t == V_STR || is_number(ev) || ev->t == V_FALSE))
                    judge(j, REFUSE, "type", "env: a value that is not a string, number "
                          "or false");
            }
            break;
        case F_CWD: {
            if (v->t != V_STR) {
                judge(j, REFUSE, "type", "cwd: a string expected");
                break;
            }
            if (has_nul(v)) {
                judge(j, REFUSE, "nul", "cwd %s has a NUL byte", fuzz_show(v->s, v->n));
                break;
            }
            char path[PATH_MAX * 2];
            snprintf(path, sizeof path, "%s%s%s", v->s[0] == '/' ? "" : policy_dir,
                     v->s[0] == '/' ? "" : "/", v->s);
            struct stat st;
            if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
                judge(j, UNSURE, NULL, "cwd %s is no directory (SPEC: --check's business)",
                      fuzz_show(v->s, v->n));
            break;
        }
        case F_USER:
            rule_user(j, v);
            break;
        case F_AFTER: {
            if (v->t == V_CHECK || v->t == V_MODCHECK) {
                judge(j, UNSURE, NULL, "after: a check table");
                break;
            }
            if (v->t != V_LIST && v->t != V_MAP) {
                judge(j, REFUSE, "type", "after: a list expected");
                break;
            }
            ns = pairs_of(v, sub, MAXP);
            size_t k;
            bool ints = true;
            for (size_t q = 0; q < ns; q++) {
                long long ik;
                ints &= is_int_key(sub[q].k, &ik) && ik >= 1;
            }
            if (!is_sequence(sub, ns, &k) && ints) {
                /* holes: where Lua's # stops is not defined */
                judge(j, UNSURE, NULL, "after: a list with holes");
                break;
            }
            if (!is_sequence(sub, ns, &k)) {
                /* the map of name (or proc) = condition, maybe beside a
                 * list part (whose items the int keys are) */
                bool spec_map = true;
                for (size_t q = 0; q < ns; q++) {
                    const struct val *c = sub[q].v;
                    long long ik;
                    if (is_int_key(sub[q].k, &ik) && ik >= 1)
                        continue;
                    spec_map &= (sub[q].k->t == V_STR || sub[q].k->t == V_HANDLE) &&
                                (is_str(c, "started") || is_str(c, "ready") ||
                                 is_str(c, "succeeded") || is_str(c, "ended"));
                }
                if (spec_map)
                    judge(j, UNSURE, NULL, "after: the SPEC's map form");
                else
                    judge(j, REFUSE, "after-list", "after: not a list of names, nor the "
                          "SPEC's map of name = condition");
                break;
            }
            dm->after_known = true;
            for (size_t q = 1; q <= k; q++) {
                const struct val *it = seq_item(sub, ns, q);
                /* a name listed twice is kept once, where it first came */
                const char *name = it->t == V_HANDLE && all[it->handle].name
                                       ? all[it->handle].name->s
                                       : it->t == V_STR && !has_nul(it) ? it->s : NULL;
                bool again = false;
                for (size_t e = 0; name && e < dm->nafter; e++)
                    again |= strcmp(dm->after[e], name) == 0;
                if (again)
                    continue;
                if (it->t == V_HANDLE) {
                    dm->after[dm->nafter++] = all[it->handle].name ? all[it->handle].name->s : "?";
                } else if (it->t != V_STR) {
                    judge(j, REFUSE, "type", "after: item %zu is no name", q);
                    dm->after_known = false;
                } else if (has_nul(it)) {
                    judge(j, REFUSE, "nul", "after: item %s has a NUL byte",
                          fuzz_show(it->s, it->n));
                    dm->after_known = false;
                } else {
                    dm->after[dm->nafter++] = it->s;
                }
            }
            break;
        }
        case F_STOP_SIGNAL:
            rule_signal(j, v);
            break;
        case F_STOP_TIMEOUT:
        case F_READY_TIMEOUT:
            rule_number(j, known_fields[f], v, 0);
            break;
        case F_READY_INTERVAL:
        case F_WATCHDOG:
            rule_number(j, known_fields[f], v, 0.001);
            break;
        case F_RESTART:
            if (v->t == V_FUNC || v->t == V_UNCALLED)
                break;
            if (has_nul(v))
                judge(j, REFUSE, "nul", "restart %s has a NUL byte", fuzz_show(v->s, v->n));
            else if (!is_str(v, "always") && !is_str(v, "on-failure") && !is_str(v, "never"))
                judge(j, REFUSE, "restart", "restart: not a mode nor a function");
            break;
        case F_BACKOFF: {
            static const char *const keys[] = {"initial", "factor", "max", "jitter",
                                               "reset_after"};
            static const double mins[] = {0, 1, 0, 0, 0};
            ns = rule_subtable(j, "backoff", v, keys, 5, NULL, 0, sub);
            for (size_t q = 0; q < 5; q++) {
                const struct val *x = get(sub, ns, keys[q]);
                if (!x)
                    continue;
                char what[32];
                snprintf(what, sizeof what, "backoff.%s", keys[q]);
                rule_number(j, what, x, mins[q]);
                if (q == 3 && is_number(x) && num(x) > 1)
                    judge(j, REFUSE, "range", "backoff.jitter above 1");
            }
            break;
        }
        case F_GIVE_UP: {
            static const char *const keys[] = {"restarts", "within"};
            if (v->t == V_FALSE) {
                judge(j, UNSURE, NULL, "give_up = false (the SPEC's)");
                break;
            }
            ns = rule_subtable(j, "give_up", v, keys, 2, NULL, 0, sub);
            if (v->t != V_LIST && v->t != V_MAP)
                break;
            const struct val *r = get(sub, ns, "restarts"), *w = get(sub, ns, "within");
            if (!r || !w)
                judge(j, REFUSE, "required", "give_up needs restarts and within");
            if (r) {
                rule_number(j, "give_up.restarts", r, 1);
                if (is_number(r) && (num(r) != floor(num(r)) || num(r) > 10000))
                    judge(j, REFUSE, "range", "give_up.restarts: a whole number 1..10000");
            }
            if (w) {
                rule_number(j, "give_up.within", w, 0);
                if (is_number(w) && num(w) == 0)
                    judge(j, REFUSE, "range", "give_up.within: 0");
            }
            break;
        }
        case F_OUTPUT: {
            static const char *const keys[] = {"path", "max_size", "keep"};
            static const char *const spec_keys[] = {"stderr", "console"};
            if (v->t == V_STR) {
                if (!is_str(v, "inherit") && !is_str(v, "discard"))
                    rule_output_path(j, v);
                break;
            }
            ns = rule_subtable(j, "output", v, keys, 3, spec_keys, 2, sub);
            if (v->t != V_LIST && v->t != V_MAP)
                break;
            const struct val *pth = get(sub, ns, "path"), *ms = get(sub, ns, "max_size"),
                             *kp = get(sub, ns, "keep");
            if (!pth)
                judge(j, REFUSE, "required", "output: no path");
            else
                rule_output_path(j, pth);
            if (ms)
                rule_number(j, "output.max_size", ms, 1024);
            if (kp) {
                rule_number(j, "output.keep", kp, 0);
                if (is_number(kp) && (num(kp) != floor(num(kp)) || num(kp) > 1000))
                    judge(j, REFUSE, "range", "output.keep: a whole number 0..1000");
            }
            break;
        }
        case F_AUTOSTART:
            if (v->t != V_TRUE && v->t != V_FALSE)
                judge(j, REFUSE, "type", "autostart: a boolean expected");
            break;
        case F_READY:
            rule_check(j, "ready", v, false, &dm->ready_kind);
            dm->ready = v;
            break;
        case F_HEALTH: {
            static const char *const keys[] = {"check", "interval", "timeout", "failures"};
            ns = rule_subtable(j, "health", v, keys, 4, NULL, 0, sub);
            if (v->t != V_LIST && v->t != V_MAP)
                break;
            const struct val *c = get(sub, ns, "check");
            enum ck kind;
            if (!c)
                judge(j, REFUSE, "required", "health: no check");
            else
                rule_check(j, "health.check", c, true, &kind);
            static const char *const nk[] = {"interval", "timeout"};
            for (size_t q = 0; q < 2; q++) {
                const struct val *x = get(sub, ns, nk[q]);
                if (x) {
                    char what[32];
                    snprintf(what, sizeof what, "health.%s", nk[q]);
                    rule_number(j, what, x, 0.001);
                }
            }
            const struct val *fl = get(sub, ns, "failures");
            if (fl) {
                rule_number(j, "health.failures", fl, 1);
                if (is_number(fl) && (num(fl) != floor(num(fl)) || num(fl) > 1000))
                    judge(j, REFUSE, "range", "health.failures: a whole number 1..1000");
            }
            break;
        }
        }
    }
    /* README: watchdog works with tend.ready.notify() */
    const struct val *wd = get(p, n, "watchdog");
    if (wd && is_number(wd) && num(wd) > 0 && dm->ready_kind != CK_NOTIFY) {
        const struct val *r = get(p, n, "ready");
        if (r && r->t == V_MODCHECK)
            judge(j, UNSURE, NULL, "watchdog with an edited check");
        else
            judge(j, REFUSE, "watchdog", "watchdog without ready = tend.ready.notify()");
    }
}

/* `after` across the file: known names, not itself, no cycle. */
static void rule_graph(struct judge *j, struct decl_model *dm, int n)
{
    bool complete = true;
    for (int i = 0; i < n; i++) {
        if (!dm[i].name)
            return;
        if (get(dm[i].fields, dm[i].nfields, "after") && !dm[i].after_known)
            complete = false;
        for (size_t a = 0; a < dm[i].nafter; a++) {
            bool found = false;
            for (int k = 0; k < n; k++)
                found |= strcmp(dm[k].name->s, dm[i].after[a]) == 0;
            if (!found)
                judge(j, REFUSE, "after-unknown", "%s: after an unknown proc %s",
                      dm[i].name->s, dm[i].after[a]);
            if (strcmp(dm[i].name->s, dm[i].after[a]) == 0)
                judge(j, REFUSE, "after-self", "%s: after itself", dm[i].name->s);
        }
    }
    /* a cycle: with at most MAX_DECLS procs, follow each path for n steps */
    for (int start = 0; start < n; start++) {
        int seen[MAX_DECLS + 1] = {0};
        int stack[64], depth = 0;
        stack[depth++] = start;
        while (depth) {
            int i = stack[--depth];
            for (size_t a = 0; a < dm[i].nafter; a++)
                for (int k = 0; k < n; k++)
                    if (strcmp(dm[k].name->s, dm[i].after[a]) == 0 && k != i) {
                        if (k == start)
                            judge(j, REFUSE, "after-cycle", "a cycle through %s",
                                  dm[start].name->s);
                        else if (!seen[k] && depth < 63) {
                            seen[k] = 1;
                            stack[depth++] = k;
                        }
                    }
        }
    }
    if (!complete)
        judge(j, UNSURE, NULL, "after in a form the model does not follow");
}

/* ---- what loaded must be what was written ---- */

static void expect_str(const char *what, const char *got, const struct val *v)
{
    if (v->t == V_INT) {
        char t[32];
        snprintf(t, sizeof t, "%lld", v->i);
        if (!got || strcmp(got, t) != 0)
            fuzz_fail("decl-value", "%s: got %s, expected %s", what,
                      got ? fuzz_show(got, strlen(got)) : "NULL", t);
        return;
    }
    if (v->t != V_STR)
        return;  /* a float: Lua formats it */
    if (!got || strlen(got) != v->n || memcmp(got, v->s, v->n) != 0)
        fuzz_fail("decl-value", "%s: got %s, expected %s", what,
                  got ? fuzz_show(got, strlen(got)) : "NULL", fuzz_show(v->s, v->n));
}

/* A path without "." components, repeated or trailing slashes. */
static void lexical(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 2 < cap;) {
        while (*p == '/')
            p++;
        const char *e = strchrnul(p, '/');
        if (e - p == 1 && *p == '.') {
            p = e;
            continue;
        }
        if (e > p) {
            out[o++] = '/';
            size_t n = (size_t)(e - p) < cap - o - 1 ? (size_t)(e - p) : cap - o - 1;
            memcpy(out + o, p, n);
            o += n;
        }
        p = e;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
}

/* Whether two paths name the same directory (README: relative to the
 * policy file's directory; how tend spells it is its own business). */
static bool same_path(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char la[PATH_MAX * 2], lb[PATH_MAX * 2];
    lexical(a, la, sizeof la);
    lexical(b, lb, sizeof lb);
    return strcmp(la, lb) == 0;
}

static void check_loaded(const struct manager *m, struct decl_model *dm, int n)
{
    /* a declaration with `replicas` is a set of procs NAME@1..N, which
     * this model does not follow: what loaded is not judged then */
    for (int i = 0; i < n; i++)
        if (get(dm[i].fields, dm[i].nfields, "replicas"))
            return;
    if ((int)manager_count(m) != n)
        fuzz_fail("decl-value", "%d declarations written, %zu loaded", n, manager_count(m));
    for (int i = 0; i < n; i++) {
        const struct spec *s = proc_spec(manager_at(m, (size_t)i));
        const struct pair *p = dm[i].fields;
        size_t np = dm[i].nfields;
        char what[96];
        snprintf(what, sizeof what, "declaration %d: name", i + 1);
        expect_str(what, s->name, dm[i].name);
        const struct val *cmd = get(p, np, "cmd");
        if (cmd && (cmd->t == V_LIST || cmd->t == V_MAP)) {
            struct pair q[MAXP];
            size_t nq = pairs_of(cmd, q, MAXP);
            if (strv_len(s->argv) != nq)
                fuzz_fail("decl-value", "%s: %zu argv items loaded, %zu written", s->name,
                          strv_len(s->argv), nq);
            for (size_t k = 1; k <= nq; k++) {
                const struct val *it = seq_item(q, nq, k);
                /* SPEC 3: a relative cmd[1] with a slash is resolved
                 * against cwd, which tend may do at load */
                if (k == 1 && it->t == V_STR && it->s[0] != '/' && strchr(it->s, '/'))
                    continue;
                snprintf(what, sizeof what, "%s: cmd[%zu]", s->name, k);
                expect_str(what, s->argv[k - 1], it);
            }
        }
        const struct val *env = get(p, np, "env");
        /* (with an env_file, the file's variables are there too) */
        if (env && (env->t == V_LIST || env->t == V_MAP) && !get(p, np, "env_file")) {
            struct pair q[MAXP];
            size_t nq = pairs_of(env, q, MAXP);
            if (strv_len(s->env) != nq)
                fuzz_fail("decl-value", "%s: %zu env entries loaded, %zu written", s->name,
                          strv_len(s->env), nq);
            for (size_t k = 0; k < nq; k++) {
                const struct val *ek = q[k].k, *ev = q[k].v;
                if (ev->t == V_FLT)
                    continue;
                char *want = ev->t == V_FALSE ? xstrdup(ek->s)
                           : ev->t == V_INT ? xasprintf("%s=%lld", ek->s, ev->i)
                                            : xasprintf("%s=%s", ek->s, ev->s);
                bool found = false;
                for (char **e = s->env; e && *e; e++)
                    found |= strcmp(*e, want) == 0;
                if (!found)
                    fuzz_fail("decl-value", "%s: env entry %s not loaded", s->name,
                              fuzz_show(want, strlen(want)));
                free(want);
            }
        }
        if (dm[i].after_known) {
            if (strv_len(s->after) != dm[i].nafter)
                fuzz_fail("decl-value", "%s: %zu after names loaded, %zu written", s->name,
                          strv_len(s->after), dm[i].nafter);
            for (size_t k = 0; k < dm[i].nafter; k++)
                if (strcmp(s->after[k], dm[i].after[k]) != 0)
                    fuzz_fail("decl-value", "%s: after[%zu] loaded as %s, written %s",
                              s->name, k + 1, s->after[k], dm[i].after[k]);
        }
        const struct val *cwd = get(p, np, "cwd");
        if (cwd && cwd->t == V_STR) {
            char want[PATH_MAX * 2];
            snprintf(want, sizeof want, "%s%s%s", cwd->s[0] == '/' ? "" : policy_dir,
                     cwd->s[0] == '/' ? "" : "/", cwd->s);
            if (!s->cwd || !same_path(s->cwd, want))
                fuzz_fail("decl-value", "%s: cwd loaded as %s, written %s (%s)", s->name,
                          s->cwd ? s->cwd : "NULL", fuzz_show(cwd->s, cwd->n), want);
        }
        static const enum check_kind kinds[] = {CHECK_FD, CHECK_NOTIFY, CHECK_LOG, CHECK_TCP,
                                                CHECK_EXEC};
        if (dm[i].ready_kind != CK__N) {
            if (s->ready.kind != kinds[dm[i].ready_kind])
                fuzz_fail("decl-value", "%s: ready loaded as kind %d, written tend.ready.%s",
                          s->name, (int)s->ready.kind, ck_names[dm[i].ready_kind]);
            if (dm[i].ready_kind == CK_LOG && dm[i].ready->x->t == V_STR) {
                snprintf(what, sizeof what, "%s: the log pattern", s->name);
                expect_str(what, s->ready.pattern, dm[i].ready->x);
            }
        }
    }
}

/* ---- the target ---- */

static char policy_path[PATH_MAX];
static struct ev_loop *loop;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_setup("decl");
    loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
    snprintf(policy_path, sizeof policy_path, "%s/policy.lua", fuzz_dir());
    if (!realpath(fuzz_dir(), policy_dir))
        snprintf(policy_dir, sizeof policy_dir, "%s", fuzz_dir());
    char d[PATH_MAX + 8];
    snprintf(d, sizeof d, "%s/d", fuzz_dir());
    mkdir(d, 0700);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gen g = {{data, size}, 0, 0, false};
    uint8_t mode = fin_u8(&g.in);
    int n = mode % 8 < 5 ? 1 : mode % 8 < 7 ? 2 : 3;  /* one, mostly */
    g.strict = !(mode & 0x40);
    struct val *decls[MAX_DECLS];
    bool spawn[MAX_DECLS];
    for (int i = 0; i < n; i++) {
        g.decl = i;
        spawn[i] = fin_u8(&g.in) % 8 == 0;
        decls[i] = gen_decl(&g);
    }

    struct buf text = {0};
    for (int i = 0; i < n; i++) {
        putf(&text, "local p%d = tend.%s(", i + 1, spawn[i] ? "spawn" : "proc");
        put_val(&text, decls[i]);
        putf(&text, ")\n");
    }
    int fd = open(policy_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text.p, text.len) != (ssize_t)text.len)
        fuzz_fail("harness", "cannot write %s: %s", policy_path, strerror(errno));
    close(fd);

    /* the generator's own mistakes are not tend's: the text must compile
     * (in a VM of its own each time: memory kept from one input to the
     * next would have libFuzzer look for leaks after every input) */
    lua_State *syntax = luaL_newstate();
    if (luaL_loadbufferx(syntax, text.p, text.len, "=policy", "t") != LUA_OK)
        fuzz_fail("harness", "the generated policy is not valid Lua: %s\npolicy:\n%.*s",
                  lua_tostring(syntax, -1), (int)text.len, text.p);
    lua_close(syntax);

    struct judge j = {ACCEPT, "", ""};
    struct decl_model *dm = xcalloc(MAX_DECLS, sizeof *dm);
    for (int i = 0; i < n; i++)
        rule_decl(&j, decls[i], &dm[i], dm, i);
    if (j.v != REFUSE)
        rule_graph(&j, dm, n);

    char *err = NULL;
    struct policy *pol = policy_load(policy_path, &err);
    if (fuzz_debug())
        fuzz_note("policy:\n%.*s-> %s (model: %s %s)", (int)text.len, text.p,
                  pol ? "loaded" : err, j.v == ACCEPT ? "accept" : j.v == UNSURE ? "unsure" : "refuse",
                  j.why);
    if (pol) {
        if (j.v == REFUSE) {
            char cls[64];  /* "accepted-nul": which rule, for telling bugs apart */
            snprintf(cls, sizeof cls, "accepted-%s", j.cls);
            fuzz_fail(cls, "policy_load accepted what the rules refuse: %s\n"
                      "policy:\n%.*s", j.why, (int)text.len, text.p);
        }
        /* as tend run does, without starting anything */
        struct manager *m = manager_new(loop);
        policy_attach(pol, m, loop);
        check_loaded(m, dm, n);
        policy_free(pol);
        manager_free(m);
    } else {
        if (!err)
            fuzz_fail("message", "policy_load failed without a message");
        if (j.v == ACCEPT)
            fuzz_fail("refused", "policy_load refused what the rules accept: %s\npolicy:\n%.*s",
                      err, (int)text.len, text.p);
        if (!strstr(err, "policy.lua"))
            fuzz_fail("message", "the error does not name the file: %s", err);
        free(err);
    }
    free(dm);
    free(text.p);
    pool_free();
    return 0;
}
