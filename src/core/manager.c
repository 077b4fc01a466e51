/* manager.c -- the procs of a policy, their order and tend's way out. */
#include "core/manager.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "base/log.h"
#include "core/reap.h"
#include "base/restart.h"
#include "core/sdnotify.h"
#include "base/strmap.h"
#include "base/util.h"

struct mproc {
    struct manager *m;
    struct proc *p;
    size_t *after;       /* indices of the procs this one starts after */
    size_t nafter, capafter;
    size_t *dependents;  /* indices of the procs that start after this one */
    size_t ndependents, capdependents;
    size_t live_dependents; /* during shutdown: dependents still alive */
    bool counted;           /* during shutdown: counted in its after procs'
                             * live_dependents, until its end is seen */
    bool started;        /* some incarnation was started */
    bool was_ready;      /* some incarnation was ready */
    /* What the supervisor wants for the proc, beside the want in its
     * status: one record, written by the manager alone (the policy and the
     * control socket ask through manager_start_now, manager_stop,
     * manager_restart, manager_replace).  The proc publishes `want`,
     * `restart_at`, `gave_up` and `cause` in its status from what the
     * manager tells it (proc_want, proc_want_down, proc_terminate, the
     * decider). */
    struct intent {
        bool held;              /* stopped on purpose (tend stop, proc:stop()):
                                 * held down, keeping tend up, until started */
        bool start_when_free;   /* asked to start while its predecessor ran */
        bool restart_when_down; /* a restart's stop is under way: start it
                                 * again (as manager_start_now) once it ended */
        bool start_when_ready;  /* asked to start (tend start) while its after
                                 * procs did not meet their conditions */
    } intent;
    /* retired (a reload removed or replaced it): out of the registry,
     * stopping until it has ended */
    bool retired;
    struct mproc *next_retired;
    /* a replacement and the retired proc it waits for, linked both ways:
     * the new one starts once the old one has ended */
    struct mproc *successor, *predecessor;
};

struct manager {
    struct ev_loop *loop;
    struct mproc **procs;
    size_t n, cap;
    struct strmap index;    /* name -> position in procs + 1 */
    struct strmap awaited;  /* a name not declared (yet) -> struct waiting:
                             * the positions whose `after` names it */
    struct strmap sets;     /* a set's name -> struct waiting: the positions
                             * of its replicas */
    size_t alive;        /* procs whose main process is alive */
    bool shutting_down;
    bool killed_any;     /* the shutdown had to SIGKILL */
    int exit_code;       /* forced by tend.exit(code), or -1 */
    bool running;
    bool notified_ready; /* READY=1 sent to tend's own supervisor */
    int tasks;           /* the policy's pending tasks */
    struct mproc *retired;  /* procs on their way out after a reload */
    bool breaking;          /* check_done asked the loop to return */
    bool stay;           /* --stay: up until a signal, shutdown or tend.exit */
    const char *exit_why;   /* why manager_run returned (for the last line) */
    manager_decider_fn *decider;
    void *decider_data;
    manager_checker_fn *checker;
    void *checker_data;
    manager_reloader_fn *reloader;
    void *reloader_data;
    manager_forget_fn *forget;
    void *forget_data;
    manager_forget_fn *policy_forget;
    void *policy_forget_data;
    manager_scaler_fn *scaler;
    void *scaler_data;
    ev_signal sig_term, sig_int, sig_hup;
};

static bool alive(enum proc_state s)
{
    return s == ST_STARTING || s == ST_RUNNING || s == ST_READY || s == ST_STOPPING;
}

struct manager *manager_new(struct ev_loop *loop)
{
    struct manager *m = xcalloc(1, sizeof *m);
    m->loop = loop;
    m->exit_code = -1;
    return m;
}

size_t manager_count(const struct manager *m)
{
    return m->n;
}

struct proc *manager_at(const struct manager *m, size_t i)
{
    return i < m->n ? m->procs[i]->p : NULL;
}

/* The index of the proc named `name`, or -1. */
static long find(const struct manager *m, const char *name)
{
    return (long)(uintptr_t)strmap_get(&m->index, name) - 1;
}

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

struct proc *manager_get(const struct manager *m, const char *name)
{
    long i = find(m, name);
    return i < 0 ? NULL : m->procs[i]->p;
}

bool manager_shutting_down(const struct manager *m)
{
    return m->shutting_down;
}

/* The restart policy (the decider), asked by the proc for each terminal
 * status; nothing restarts during a shutdown. */
static double decide(struct proc *p, struct status *st, void *data)
{
    struct mproc *mp = data;
    if (mp->m->shutting_down)
        return -1;
    return mp->m->decider ? mp->m->decider(p, st, mp->m->decider_data) : -1;
}

/* Checks the core cannot run (log patterns, Lua functions) go to the
 * checker. */
static void check(struct proc *p, enum check_purpose purpose, unsigned gen, void *data)
{
    struct mproc *mp = data;
    if (mp->m->checker)
        mp->m->checker(p, purpose, gen, mp->m->checker_data);
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

static bool deps_ready(const struct mproc *mp)
{
    for (size_t i = 0; i < mp->nafter; i++)
        if (!cond_met(proc_status(mp->m->procs[mp->after[i]]->p), cond_of(mp, i)))
            return false;
    return true;
}

/* The after conditions of mp not met now ("db ready", "migrate
 * succeeded"), or NULL. */
static char **unmet(const struct mproc *mp)
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
static bool waits_for_deps(const struct mproc *mp)
{
    const struct status *st = proc_status(mp->p);
    return mp->intent.start_when_ready || (st->state == ST_PENDING && st->want_up);
}

static void start(struct mproc *mp)
{
    if (mp->predecessor) {
        mp->intent.start_when_free = true;
        return;
    }
    mp->started = true;
    mp->intent.held = false;
    mp->intent.start_when_ready = false;
    proc_start(mp->p, false);
}

/* Log what an ended incarnation means. */
static void log_end(struct proc *p, const struct status *st, bool m_stopping)
{
    char what[256], why[48] = "", next[96] = "";
    status_describe_end(st, what, sizeof what);
    /* a deliberate end says so, at info level: it is never shown like a
     * crash (SPEC 1, 2) */
    enum cause c = st->cause;
    bool deliberate = c == CAUSE_STOP || c == CAUSE_RESTART || c == CAUSE_RELOAD ||
                      c == CAUSE_KILL || c == CAUSE_TERMINATE || c == CAUSE_GROUP ||
                      (c == CAUSE_SHUTDOWN && !proc_sigkilled(p));
    if (c != CAUSE_NONE && c != CAUSE_EXIT)
        snprintf(why, sizeof why, " (cause: %s)", status_cause_name(c));
    if (st->restart_at > 0)
        snprintf(next, sizeof next, "; restarting in %.3gs", st->restart_at - st->ended_at);
    else if (st->gave_up)
        snprintf(next, sizeof next, "; gave up: %s", st->gave_up);
    if ((st->state == ST_STOPPED && st->exit_code == 0) || deliberate ||
        (m_stopping && !proc_sigkilled(p)))
        log_info(proc_spec(p)->name, "%s%s%s", what, why, next);
    else
        log_warn(proc_spec(p)->name, "%s%s%s", what, why, next);
}

static void shutdown_step(struct mproc *mp);
static void check_done(struct manager *m);
static void retire_done(struct mproc *mp);

/* READY=1 to tend's own supervisor once every autostart proc has been
 * ready (SPEC 4). */
static void notify_if_all_ready(struct manager *m)
{
    if (m->notified_ready || m->shutting_down)
        return;
    for (size_t i = 0; i < m->n; i++) {
        const struct proc *p = m->procs[i]->p;
        /* an autostart proc stopped before it ever ran is not waited for */
        bool left_down = !proc_status(p)->want_up && !proc_alive(p);
        if (proc_spec(p)->autostart && !m->procs[i]->was_ready && !left_down)
            return;
    }
    m->notified_ready = true;
    sdnotify_send("READY=1");
}

/* A transition of mp, as the procs that start after it see it: they may
 * start now, or wait for something else now, or never start (mp ended for
 * good without being ready: cause "after"). */
static void dependents_see(struct mproc *mp, const struct status *now)
{
    struct manager *m = mp->m;
    bool for_good = status_is_terminal(now->state) && !now->want_up;
    for (size_t i = 0; i < mp->ndependents; i++) {
        struct mproc *d = m->procs[mp->dependents[i]];
        if (!waits_for_deps(d))
            continue;
        enum after_cond c = spec_after_cond(proc_spec(d->p), proc_name(mp->p));
        if (deps_ready(d)) {
            start(d);
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
            proc_set_waiting(d->p, unmet(d));
        }
    }
}

/* Every transition, said before anyone acts on it: its line in tend's log
 * comes before a hook's lines about it and before what it makes the
 * dependents do (SPEC 2). */
static void on_announce(struct proc *p, const struct status *now, const struct status *prev,
                        void *data)
{
    struct mproc *mp = data;
    struct manager *m = mp->m;
    if (now->state == ST_RUNNING && !mp->retired)
        log_info(proc_spec(p)->name, "started (pid %d)", (int)now->pid);
    /* a proc with a readiness check says when it passed; without one,
     * ready is the start and "started" said it */
    if (now->state == ST_READY && proc_spec(p)->ready.kind != CHECK_NONE && !mp->retired)
        log_info(proc_spec(p)->name, "ready (after %.1fs)", now->ready_at - now->started_at);
    if (status_is_terminal(now->state))
        log_end(p, now, mp->retired || (m->shutting_down && prev->state == ST_STOPPING));
}

/* Every transition of every proc passes here. */
static void on_transition(struct proc *p, const struct status *now,
                          const struct status *prev, void *data)
{
    struct mproc *mp = data;
    struct manager *m = mp->m;
    bool was = alive(prev->state), is = alive(now->state);
    if (!was && is)
        m->alive++;
    if (was && !is)
        m->alive--;
    if (mp->retired) {
        if (status_is_terminal(now->state)) {
            retire_done(mp);
            check_done(m);
        }
        return;
    }

    if (now->state == ST_READY && !mp->was_ready) {
        mp->was_ready = true;
        notify_if_all_ready(m);
    }
    if (!m->shutting_down && mp->ndependents > 0)
        dependents_see(mp, now);
    if (status_is_terminal(now->state) && mp->intent.restart_when_down) {
        /* a restart's stop has ended: the next incarnation, once its after
         * procs meet their conditions (a group restart waits for them) */
        mp->intent.restart_when_down = false;
        if (!m->shutting_down)
            manager_start_now(m, p);
    }
    if (status_is_terminal(now->state)) {
        /* stopped by the shutdown, or ended on its own before it */
        if (m->shutting_down) {
            if (proc_sigkilled(p))
                m->killed_any = true;
            /* what this one depended on may stop now */
            if (mp->counted && !proc_alive(p)) {
                mp->counted = false;
                for (size_t i = 0; i < mp->nafter; i++) {
                    struct mproc *d = m->procs[mp->after[i]];
                    if (d->live_dependents > 0 && --d->live_dependents == 0)
                        shutdown_step(d);
                }
            }
        }
        check_done(m);
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

static void link_dep(struct manager *m, size_t dependent, size_t dep);

/* Link procs[dependent] to what its `after` name `name` names: the proc,
 * or every replica of the set; or await the name. */
static void link_name(struct manager *m, size_t dependent, const char *name)
{
    long k = find(m, name);
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

struct proc *manager_add(struct manager *m, struct spec *spec)
{
    struct mproc *mp = xcalloc(1, sizeof *mp);
    mp->m = m;
    struct proc_owner owner = {decide, check, on_transition, mp, on_announce};
    mp->p = proc_new(m->loop, spec, &owner);
    size_t na = strv_len(spec->after);
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->procs = xrealloc(m->procs, m->cap * sizeof *m->procs);
    }
    size_t self = m->n;
    m->procs[m->n++] = mp;
    strmap_put(&m->index, spec->name, (void *)(uintptr_t)m->n);
    /* names declared earlier now; names declared later when they come */
    for (size_t i = 0; i < na; i++)
        link_name(m, self, spec->after[i]);
    if (spec->set)
        link_replica(m, self, spec->set);
    struct waiting *w = strmap_del(&m->awaited, spec->name);
    for (size_t j = 0; w && j < w->n; j++)
        link_dep(m, w->v[j], self);
    waiting_free(w);
    return mp->p;
}

void manager_start(struct manager *m)
{
    notify_if_all_ready(m);  /* nothing to wait for: ready now */
    for (size_t i = 0; i < m->n && !m->shutting_down; i++) {
        struct mproc *mp = m->procs[i];
        if (proc_status(mp->p)->want_up && proc_status(mp->p)->state == ST_PENDING) {
            if (deps_ready(mp))
                start(mp);
            else
                proc_set_waiting(mp->p, unmet(mp));
        }
    }
    check_done(m);
}

/* Recompute every after/dependents link from the names (after the set of
 * procs changed). */
static void relink(struct manager *m)
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

static void mproc_free(struct mproc *mp)
{
    free(mp->after);
    free(mp->dependents);
    free(mp);
}

/* A retired proc has ended: free it and run what waited for that. */
static void retire_done(struct mproc *mp)
{
    struct manager *m = mp->m;
    for (struct mproc **pp = &m->retired; *pp; pp = &(*pp)->next_retired)
        if (*pp == mp) {
            *pp = mp->next_retired;
            break;
        }
    struct mproc *next = mp->successor;
    if (m->forget)
        m->forget(mp->p, m->forget_data);
    if (m->policy_forget)
        m->policy_forget(mp->p, m->policy_forget_data);
    proc_free(mp->p);  /* deferred until its dispatch is over */
    mproc_free(mp);
    if (next) {
        /* the replacement may start now */
        next->predecessor = NULL;
        if (next->intent.start_when_free)
            start(next);
        else
            manager_launch(m, next->p);
    }
}

/* Take the proc at index i out of the registry and stop it; it is freed
 * once it has ended (at once if it is not alive).  Returns it if it is
 * still on its way out. */
static struct mproc *retire_at(struct manager *m, long i, enum cause why)
{
    struct mproc *mp = m->procs[i];
    struct proc *p = mp->p;
    memmove(m->procs + i, m->procs + i + 1, (m->n - (size_t)i - 1) * sizeof *m->procs);
    m->n--;
    relink(m);
    if (mp->predecessor) {  /* a replacement that never started */
        mp->predecessor->successor = NULL;
        mp->predecessor = NULL;
    }
    mp->retired = true;
    mp->next_retired = m->retired;
    m->retired = mp;
    proc_want_down(p);
    if (proc_alive(p)) {
        proc_terminate(p, -1, why);
        return mp;
    }
    retire_done(mp);
    return NULL;
}

void manager_retire(struct manager *m, struct proc *p)
{
    long i = find(m, proc_spec(p)->name);
    if (i >= 0)
        retire_at(m, i, CAUSE_RELOAD);
}

void manager_remove(struct manager *m, struct proc *p)
{
    long i = find(m, proc_spec(p)->name);
    if (i < 0)
        return;
    log_info(proc_name(p), "scale: removed; stopping it");
    retire_at(m, i, CAUSE_STOP);
    /* what waited for it alone may start now */
    for (size_t k = 0; k < m->n && !m->shutting_down; k++) {
        struct mproc *d = m->procs[k];
        if (waits_for_deps(d) && !d->predecessor && deps_ready(d))
            start(d);
    }
    check_done(m);
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

struct proc *manager_replace(struct manager *m, struct proc *old, struct spec *spec)
{
    long i = find(m, proc_spec(old)->name);
    /* a proc that is down (stopped on purpose, or ended with no restart to
     * come) stays down with its new declaration; one that is up is
     * restarted with it */
    bool up = proc_status(old)->want_up;
    /* replacing a replacement that still waits: the new one waits for the
     * same predecessor, the one still running */
    struct mproc *pred = i >= 0 ? m->procs[i]->predecessor : NULL;
    struct mproc *gone = i >= 0 ? retire_at(m, i, CAUSE_RELOAD) : NULL;
    if (!gone)
        gone = pred;
    struct proc *p = manager_add(m, spec);
    struct mproc *mp = m->procs[m->n - 1];
    if (i >= 0 && (size_t)i < m->n - 1) {
        /* in the old one's place: `tend status` keeps declaration order */
        memmove(m->procs + i + 1, m->procs + i, (m->n - 1 - (size_t)i) * sizeof *m->procs);
        m->procs[i] = mp;
        relink(m);
    }
    if (gone) {
        gone->successor = mp;
        mp->predecessor = gone;
    }
    proc_want(p, up);
    return p;
}

void manager_order(struct manager *m, struct proc *const *order, size_t n)
{
    struct mproc **procs = xcalloc(m->n ? m->n : 1, sizeof *procs);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        long at = find(m, proc_spec(order[i])->name);
        if (at >= 0 && m->procs[at] && m->procs[at]->p == order[i]) {
            procs[k++] = m->procs[at];
            m->procs[at] = NULL;  /* taken */
        }
    }
    for (size_t i = 0; i < m->n; i++)
        if (m->procs[i])
            procs[k++] = m->procs[i];
    memcpy(m->procs, procs, m->n * sizeof *procs);
    free(procs);
    relink(m);
}

void manager_launch(struct manager *m, struct proc *p)
{
    long i = find(m, proc_spec(p)->name);
    if (i < 0 || m->shutting_down)
        return;
    struct mproc *mp = m->procs[i];
    if (mp->predecessor)
        return;  /* it starts when the proc it replaces has ended */
    if (proc_status(p)->want_up && proc_status(p)->state == ST_PENDING && deps_ready(mp))
        start(mp);
}

bool manager_start_now(struct manager *m, struct proc *p)
{
    long i = find(m, proc_spec(p)->name);
    if (i < 0 || m->shutting_down)
        return false;
    struct mproc *mp = m->procs[i];
    if (mp->predecessor) {
        mp->intent.start_when_free = true;  /* never old and new at once */
        proc_want(p, true);  /* wanted up: a second reload keeps it so */
        return true;
    }
    if (!deps_ready(mp)) {
        /* its after procs first: those that are down are started, and it
         * starts once they are ready (SPEC 3) */
        mp->intent.start_when_ready = true;
        mp->intent.held = false;
        proc_want(p, true);
        for (size_t k = 0; k < mp->nafter; k++) {
            struct mproc *d = m->procs[mp->after[k]];
            if (!proc_alive(d->p) && !waits_for_deps(d))
                manager_start_now(m, d->p);
        }
        if (deps_ready(mp))
            start(mp);  /* (a dependency may have become ready at once) */
        else
            proc_set_waiting(p, unmet(mp));
        return true;
    }
    start(mp);
    return true;
}

void manager_restart(struct manager *m, struct proc *p)
{
    long i = find(m, proc_spec(p)->name);
    if (i < 0 || m->shutting_down)
        return;
    if (!proc_alive(p)) {
        manager_start_now(m, p);
        return;
    }
    m->procs[i]->intent.restart_when_down = true;
    m->procs[i]->intent.held = false;
    proc_want_down(p);
    proc_terminate(p, -1, CAUSE_RESTART);
}

void manager_stop(struct manager *m, struct proc *p, double timeout, enum cause why)
{
    long i = find(m, proc_spec(p)->name);
    if (i >= 0 && why == CAUSE_STOP)
        m->procs[i]->intent.held = true;  /* an operator may start it again */
    if (i >= 0)
        m->procs[i]->intent.restart_when_down = false;  /* a stop wins over a restart */
    proc_want_down(p);
    proc_terminate(p, timeout, why);
    notify_if_all_ready(m);  /* it may have been the one still awaited */
    check_done(m);
}

void manager_tasks_changed(struct manager *m, int pending)
{
    m->tasks = pending;
    check_done(m);
}

void manager_set_decider(struct manager *m, manager_decider_fn *fn, void *data)
{
    m->decider = fn;
    m->decider_data = data;
}

void manager_set_forget(struct manager *m, manager_forget_fn *fn, void *data)
{
    m->forget = fn;
    m->forget_data = data;
}

void manager_set_policy_forget(struct manager *m, manager_forget_fn *fn, void *data)
{
    m->policy_forget = fn;
    m->policy_forget_data = data;
}

void manager_set_scaler(struct manager *m, manager_scaler_fn *fn, void *data)
{
    m->scaler = fn;
    m->scaler_data = data;
}

int manager_scale(struct manager *m, const char *name, int n, char **err)
{
    if (!m->scaler) {
        *err = xstrdup("no policy to scale");
        return -1;
    }
    return m->scaler(m->scaler_data, name, n, err);
}

void manager_set_reloader(struct manager *m, manager_reloader_fn *fn, void *data)
{
    m->reloader = fn;
    m->reloader_data = data;
}

int manager_reload(struct manager *m, char **err)
{
    if (m->shutting_down) {
        *err = xstrdup("tend is shutting down");
        return -1;
    }
    if (!m->reloader) {
        *err = xstrdup("no policy to reload");
        return -1;
    }
    int rc = m->reloader(m->reloader_data, err);
    if (rc != 0)  /* however it was asked for: SIGHUP or tend reload */
        log_error(NULL, "reload refused, the running set is kept: %s", *err);
    return rc;
}

void manager_set_checker(struct manager *m, manager_checker_fn *fn, void *data)
{
    m->checker = fn;
    m->checker_data = data;
}

/* During a shutdown: stop this proc, now that nothing alive depends on it. */
static void shutdown_step(struct mproc *mp)
{
    proc_want_down(mp->p);
    proc_terminate(mp->p, -1, CAUSE_SHUTDOWN);
}

void manager_shutdown(struct manager *m, int code)
{
    if (code >= 0)
        m->exit_code = code;
    if (m->shutting_down) {
        log_warn(NULL, "second stop request: killing everything now");
        for (size_t i = 0; i < m->n; i++)
            if (proc_kill(m->procs[i]->p, CAUSE_SHUTDOWN) == 0)
                m->killed_any = true;
        for (struct mproc *r = m->retired; r; r = r->next_retired)
            if (proc_kill(r->p, CAUSE_SHUTDOWN) == 0)
                m->killed_any = true;
        return;
    }
    m->shutting_down = true;
    log_info(NULL, "shutting down");
    sdnotify_send("STOPPING=1");
    for (size_t i = 0; i < m->n; i++) {
        struct mproc *mp = m->procs[i];
        proc_want_down(mp->p);
        mp->live_dependents = 0;
        for (size_t k = 0; k < mp->ndependents; k++)
            if (alive(proc_status(m->procs[mp->dependents[k]]->p)->state))
                mp->live_dependents++;
        /* counted above, so its end counts down: one that ended already
         * (a hook on its end may be what shut tend down) does not */
        mp->counted = alive(proc_status(mp->p)->state);
    }
    for (size_t i = 0; i < m->n; i++)
        if (m->procs[i]->live_dependents == 0)
            shutdown_step(m->procs[i]);
    check_done(m);
}

/* Whether tend's work is done (SPEC 2): no main process alive, none
 * starting, waiting to restart or waiting (want up) for its after
 * procs, no task pending; and, unless shutting down, no proc held down by
 * an operator's stop, no autostart = false proc that has not run yet, and
 * no --stay.  Leftover group members do not count. */
static bool done(const struct manager *m)
{
    if (m->alive > 0)
        return false;
    if (!m->shutting_down && (m->tasks > 0 || m->stay))
        return false;
    for (size_t i = 0; i < m->n; i++) {
        const struct mproc *mp = m->procs[i];
        const struct status *st = proc_status(mp->p);
        /* restart_at: a restart to come; alive: started in a transition
         * whose event is still queued (m->alive counts it once seen) */
        if (st->restart_at > 0 || alive(st->state))
            return false;
        if (m->shutting_down)
            continue;
        if (mp->intent.held || (!proc_spec(mp->p)->autostart && !mp->started) || waits_for_deps(mp) ||
            mp->intent.restart_when_down)
            return false;
    }
    return true;
}

/* Leave the loop once done. */
static void check_done(struct manager *m)
{
    if (m->running && done(m)) {
        m->breaking = true;
        ev_break(m->loop, EVBREAK_ONE);
    }
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct manager *m = w->data;
    if (w->signum == SIGHUP) {
        log_info(NULL, "SIGHUP: reopening output files and reloading the policy");
        for (size_t i = 0; i < m->n; i++)
            proc_reopen_output(m->procs[i]->p);
        char *msg = NULL;
        manager_reload(m, &msg);
        free(msg);  /* manager_reload said it */
        return;
    }
    log_info(NULL, "received SIG%s", signal_name(w->signum));
    manager_shutdown(m, -1);
}

void manager_watch_signals(struct manager *m)
{
    ev_signal_init(&m->sig_term, signal_cb, SIGTERM);
    ev_signal_init(&m->sig_int, signal_cb, SIGINT);
    ev_signal_init(&m->sig_hup, signal_cb, SIGHUP);
    ev_signal *ws[] = {&m->sig_term, &m->sig_int, &m->sig_hup};
    for (size_t i = 0; i < ARRAY_LEN(ws); i++) {
        ws[i]->data = m;
        ev_signal_start(m->loop, ws[i]);
    }
}

int manager_run(struct manager *m)
{
    m->running = true;
    /* A break is asked for when a transition leaves nothing to run, but
     * the callback that made it may start something after all (a restart
     * from the control socket starts the proc again once it has ended):
     * done() is asked again once the loop is back here. */
    while (!done(m)) {
        m->breaking = false;
        ev_run(m->loop, 0);
        if (!m->breaking)
            break;  /* no watcher left: nothing more can happen */
    }
    m->running = false;
    int code = 0;
    if (m->exit_code >= 0) {
        code = m->exit_code;
        m->exit_why = "tend.exit() asked for it";
    } else if (m->shutting_down) {
        code = m->killed_any ? 1 : 0;
        m->exit_why = m->killed_any ? "shut down; a proc had to be killed" : "shut down";
    } else {
        m->exit_why = m->n ? "every proc has ended for good" : "no procs";
        for (size_t i = 0; i < m->n && !code; i++) {
            const struct status *st = proc_status(m->procs[i]->p);
            if (m->procs[i]->started && !(st->state == ST_STOPPED && st->exit_code == 0)) {
                code = 1;
                m->exit_why = "every proc has ended for good, not all with exit code 0";
            }
        }
    }
    /* one line, whatever the log level */
    log_msg(LOG_NOTICE, NULL, "exiting with code %d: %s", code, m->exit_why);
    return code;
}

void manager_set_stay(struct manager *m, bool on)
{
    m->stay = on;
}

void manager_free(struct manager *m)
{
    if (!m)
        return;
    while (m->retired) {
        struct mproc *mp = m->retired;
        m->retired = mp->next_retired;
        proc_free(mp->p);
        mproc_free(mp);
    }
    for (size_t i = 0; i < m->n; i++) {
        struct mproc *mp = m->procs[i];
        proc_free(mp->p);
        mproc_free(mp);
    }
    reap_end_lingering();
    groups_kill_all(SIGKILL);
    ev_signal *ws[] = {&m->sig_term, &m->sig_int, &m->sig_hup};
    for (size_t i = 0; i < ARRAY_LEN(ws); i++)
        if (ev_is_active(ws[i]))
            ev_signal_stop(m->loop, ws[i]);
    free(m->procs);
    strmap_free(&m->index);
    awaited_clear(m);
    strmap_free(&m->awaited);
    lists_clear(&m->sets);
    strmap_free(&m->sets);
    free(m);
}
