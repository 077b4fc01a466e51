/* manager_deps.c -- `after` (SPEC 3): the links between procs, made from
 * their names and remade when the set of procs changes, the conditions a
 * proc waits for, what a transition means to the procs that wait for it,
 * and the sets of replicas. */
#include "core/manager_impl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/strmap.h"
#include "base/util.h"

/* The procs whose `after` names a proc not declared yet. */
struct waiting {
    size_t *v, n, cap;
};

/* Add position i to the list under `name` in map. */
static void list_add(struct strmap *map, const char *name, size_t i)
{
    struct waiting *w = strmap_get(map, name);
    if (!w) {
        w = xcalloc(1, sizeof *w);
        strmap_put(map, name, w);
    }
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        w->v = xrealloc(w->v, w->cap * sizeof *w->v);
    }
    w->v[w->n++] = i;
}

static void await_name(struct manager *m, const char *name, size_t dependent)
{
    list_add(&m->awaited, name, dependent);
}

static void waiting_free(struct waiting *w)
{
    if (w)
        free(w->v);
    free(w);
}

static void lists_clear(struct strmap *map)
{
    for (size_t i = 0; i < map->cap; i++)
        waiting_free(map->slots[i].val);
    strmap_clear(map);
}

static void awaited_clear(struct manager *m)
{
    lists_clear(&m->awaited);
}

/* Whether dependency `d` meets condition `c` now (SPEC 3). */
static bool cond_met(const struct status *d, enum after_cond c)
{
    switch (c) {
    case AFTER_STARTED:
        return d->state == ST_RUNNING || d->state == ST_READY || d->state == ST_STOPPING ||
               ((d->state == ST_STOPPED || d->state == ST_KILLED) && d->started_at > 0);
    case AFTER_SUCCEEDED:
        return d->state == ST_STOPPED && d->exit_code == 0;
    case AFTER_ENDED:
        return status_is_terminal(d->state);
    case AFTER_READY:
        break;
    }
    return d->state == ST_READY;
}

/* The condition mp waits for on its i-th after proc. */
static enum after_cond cond_of(const struct mproc *mp, size_t i)
{
    return spec_after_cond(proc_spec(mp->p), proc_name(mp->m->procs[mp->after[i]]->p));
}

/* Whether every after proc of mp meets its condition now. */
bool mgr_deps_ready(const struct mproc *mp)
{
    for (size_t i = 0; i < mp->nafter; i++)
        if (!cond_met(proc_status(mp->m->procs[mp->after[i]]->p), cond_of(mp, i)))
            return false;
    return true;
}

/* The after conditions of mp not met now ("db ready", "migrate
 * succeeded"), or NULL. */
char **mgr_unmet(const struct mproc *mp)
{
    char **v = NULL;
    size_t n = 0;
    for (size_t i = 0; i < mp->nafter; i++) {
        const struct proc *d = mp->m->procs[mp->after[i]]->p;
        enum after_cond c = cond_of(mp, i);
        if (cond_met(proc_status(d), c))
            continue;
        v = xrealloc(v, (n + 2) * sizeof *v);
        v[n++] = xasprintf("%s %s", proc_name(d), spec_after_cond_name(c));
        v[n] = NULL;
    }
    return v;
}

/* Whether mp waits for its after procs to start (want up, not started). */
bool mgr_waits_for_deps(const struct mproc *mp)
{
    const struct status *st = proc_status(mp->p);
    return mp->intent.start_when_ready || (st->state == ST_PENDING && st->want_up);
}

/* A transition of mp, as the procs that start after it see it: they may
 * start now, or wait for something else now, or never start (mp ended for
 * good without being ready: cause "after"). */
void mgr_dependents_see(struct mproc *mp, const struct status *now)
{
    struct manager *m = mp->m;
    bool for_good = status_is_terminal(now->state) && !now->want_up;
    for (size_t i = 0; i < mp->ndependents; i++) {
        struct mproc *d = m->procs[mp->dependents[i]];
        if (!mgr_waits_for_deps(d))
            continue;
        enum after_cond c = spec_after_cond(proc_spec(d->p), proc_name(mp->p));
        if (mgr_deps_ready(d)) {
            mgr_start(d);
        } else if (for_good && !cond_met(now, c)) {
            char what[256];
            status_describe_end(now, what, sizeof what);
            const char *cond = spec_after_cond_name(c);
            char **v = xcalloc(2, sizeof *v);
            v[0] = xasprintf("%s %s (it %s)", proc_name(mp->p), cond, what);
            d->intent.start_when_ready = false;
            proc_after_failed(d->p, v);
            log_warn(proc_name(d->p), "not started: %s ended for good without being %s (%s)",
                     proc_name(mp->p), cond, what);
        } else {
            proc_set_waiting(d->p, mgr_unmet(d));
        }
    }
}

/* Record that procs[dependent] starts after procs[dep]. */
static void link_dep(struct manager *m, size_t dependent, size_t dep)
{
    struct mproc *mp = m->procs[dependent], *d = m->procs[dep];
    if (mp->nafter == mp->capafter) {
        mp->capafter = mp->capafter ? mp->capafter * 2 : 4;
        mp->after = xrealloc(mp->after, mp->capafter * sizeof *mp->after);
    }
    mp->after[mp->nafter++] = dep;
    if (d->ndependents == d->capdependents) {
        d->capdependents = d->capdependents ? d->capdependents * 2 : 4;
        d->dependents = xrealloc(d->dependents, d->capdependents * sizeof *d->dependents);
    }
    d->dependents[d->ndependents++] = dependent;
}

/* Link procs[dependent] to what its `after` name `name` names: the proc,
 * or every replica of the set; or await the name. */
static void link_name(struct manager *m, size_t dependent, const char *name)
{
    long k = mgr_find(m, name);
    struct waiting *set = k < 0 ? strmap_get(&m->sets, name) : NULL;
    if (k >= 0) {
        if ((size_t)k != dependent)
            link_dep(m, dependent, (size_t)k);
    } else if (set && set->n > 0) {
        for (size_t j = 0; j < set->n; j++)
            if (set->v[j] != dependent)
                link_dep(m, dependent, set->v[j]);
    } else {
        await_name(m, name, dependent);
    }
}

/* Whether procs[i]'s `after` names `name`. */
static bool names_after(const struct manager *m, size_t i, const char *name)
{
    for (char **a = proc_spec(m->procs[i]->p)->after; a && *a; a++)
        if (strcmp(*a, name) == 0)
            return true;
    return false;
}

/* A new replica at position self: the procs that start after its set
 * start after it too (those that named the set before any replica was
 * registered were waiting for the name). */
static void link_replica(struct manager *m, size_t self, const char *set)
{
    struct waiting *members = strmap_get(&m->sets, set);
    if (members && members->n > 0) {
        struct mproc *peer = m->procs[members->v[0]];
        for (size_t j = 0; j < peer->ndependents; j++) {
            size_t d = peer->dependents[j];
            if (d != self && names_after(m, d, set))
                link_dep(m, d, self);
        }
    }
    struct waiting *w = strmap_del(&m->awaited, set);
    for (size_t j = 0; w && j < w->n; j++)
        if (w->v[j] != self)
            link_dep(m, w->v[j], self);
    waiting_free(w);
    list_add(&m->sets, set, self);
}

/* Link the proc just registered at position self (declared by `spec`): to
 * the procs its `after` names, to the other replicas' dependents, and to
 * the procs that waited for its name. */
void mgr_link_new(struct manager *m, size_t self, const struct spec *spec)
{
    size_t na = strv_len(spec->after);
    /* names declared earlier now; names declared later when they come */
    for (size_t i = 0; i < na; i++)
        link_name(m, self, spec->after[i]);
    if (spec->set)
        link_replica(m, self, spec->set);
    struct waiting *w = strmap_del(&m->awaited, spec->name);
    for (size_t j = 0; w && j < w->n; j++)
        link_dep(m, w->v[j], self);
    waiting_free(w);
}

/* Recompute every after/dependents link from the names (after the set of
 * procs changed). */
void mgr_relink(struct manager *m)
{
    strmap_clear(&m->index);
    awaited_clear(m);
    lists_clear(&m->sets);
    for (size_t i = 0; i < m->n; i++) {
        struct mproc *mp = m->procs[i];
        mp->nafter = mp->ndependents = 0;
        strmap_put(&m->index, proc_spec(mp->p)->name, (void *)(uintptr_t)(i + 1));
        if (proc_spec(mp->p)->set)
            list_add(&m->sets, proc_spec(mp->p)->set, i);
    }
    for (size_t i = 0; i < m->n; i++)
        for (char **a = proc_spec(m->procs[i]->p)->after; a && *a; a++)
            link_name(m, i, *a);
}

struct proc **manager_replicas(const struct manager *m, const char *name, size_t *n)
{
    struct waiting *w = strmap_get(&m->sets, name);
    *n = 0;
    if (!w || w->n == 0)
        return NULL;
    struct proc **v = xcalloc(w->n, sizeof *v);
    for (size_t j = 0; j < w->n; j++)
        v[j] = m->procs[w->v[j]]->p;
    /* in replica order (a reload may have ordered them otherwise) */
    for (size_t a = 1; a < w->n; a++)
        for (size_t b = a; b > 0 && proc_spec(v[b - 1])->replica > proc_spec(v[b])->replica;
             b--) {
            struct proc *t = v[b - 1];
            v[b - 1] = v[b];
            v[b] = t;
        }
    *n = w->n;
    return v;
}

/* Free the awaited names and the sets (the manager is going). */
void mgr_links_free(struct manager *m)
{
    awaited_clear(m);
    strmap_free(&m->awaited);
    lists_clear(&m->sets);
    strmap_free(&m->sets);
}
