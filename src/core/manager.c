/* manager.c -- the registry of a policy's procs and what is asked of it:
 * add, start, stop, restart, replace, retire, order; the callbacks through
 * which the policy is asked.  `after` is manager_deps.c's; tend's lifetime
 * (shutdown, signals, the run loop) is manager_run.c's. */
#include "core/manager_impl.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "core/reap.h"
#include "base/strmap.h"
#include "base/util.h"

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
long mgr_find(const struct manager *m, const char *name)
{
    return (long)(uintptr_t)strmap_get(&m->index, name) - 1;
}

struct proc *manager_get(const struct manager *m, const char *name)
{
    long i = mgr_find(m, name);
    return i < 0 ? NULL : m->procs[i]->p;
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

/* Start mp now, or once its predecessor has ended. */
void mgr_start(struct mproc *mp)
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

struct proc *manager_add(struct manager *m, struct spec *spec)
{
    struct mproc *mp = xcalloc(1, sizeof *mp);
    mp->m = m;
    struct proc_owner owner = {decide, check, mgr_on_transition, mp, mgr_on_announce};
    mp->p = proc_new(m->loop, spec, &owner);
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->procs = xrealloc(m->procs, m->cap * sizeof *m->procs);
    }
    size_t self = m->n;
    m->procs[m->n++] = mp;
    strmap_put(&m->index, spec->name, (void *)(uintptr_t)m->n);
    mgr_link_new(m, self, spec);
    return mp->p;
}

void manager_start(struct manager *m)
{
    mgr_notify_if_all_ready(m);  /* nothing to wait for: ready now */
    for (size_t i = 0; i < m->n && !m->shutting_down; i++) {
        struct mproc *mp = m->procs[i];
        if (proc_status(mp->p)->want_up && proc_status(mp->p)->state == ST_PENDING) {
            if (mgr_deps_ready(mp))
                mgr_start(mp);
            else
                proc_set_waiting(mp->p, mgr_unmet(mp));
        }
    }
    mgr_check_done(m);
}

static void mproc_free(struct mproc *mp)
{
    free(mp->after);
    free(mp->dependents);
    free(mp);
}

/* A retired proc has ended: free it and run what waited for that. */
void mgr_retire_done(struct mproc *mp)
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
            mgr_start(next);
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
    mgr_relink(m);
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
    mgr_retire_done(mp);
    return NULL;
}

void manager_retire(struct manager *m, struct proc *p)
{
    long i = mgr_find(m, proc_spec(p)->name);
    if (i >= 0)
        retire_at(m, i, CAUSE_RELOAD);
}

void manager_remove(struct manager *m, struct proc *p)
{
    long i = mgr_find(m, proc_spec(p)->name);
    if (i < 0)
        return;
    log_info(proc_name(p), "scale: removed; stopping it");
    retire_at(m, i, CAUSE_STOP);
    /* what waited for it alone may start now */
    for (size_t k = 0; k < m->n && !m->shutting_down; k++) {
        struct mproc *d = m->procs[k];
        if (mgr_waits_for_deps(d) && !d->predecessor && mgr_deps_ready(d))
            mgr_start(d);
    }
    mgr_check_done(m);
}

struct proc *manager_replace(struct manager *m, struct proc *old, struct spec *spec)
{
    long i = mgr_find(m, proc_spec(old)->name);
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
        mgr_relink(m);
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
        long at = mgr_find(m, proc_spec(order[i])->name);
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
    mgr_relink(m);
}

void manager_launch(struct manager *m, struct proc *p)
{
    long i = mgr_find(m, proc_spec(p)->name);
    if (i < 0 || m->shutting_down)
        return;
    struct mproc *mp = m->procs[i];
    if (mp->predecessor)
        return;  /* it starts when the proc it replaces has ended */
    if (proc_status(p)->want_up && proc_status(p)->state == ST_PENDING && mgr_deps_ready(mp))
        mgr_start(mp);
}

bool manager_start_now(struct manager *m, struct proc *p)
{
    long i = mgr_find(m, proc_spec(p)->name);
    if (i < 0 || m->shutting_down)
        return false;
    struct mproc *mp = m->procs[i];
    if (mp->predecessor) {
        mp->intent.start_when_free = true;  /* never old and new at once */
        proc_want(p, true);  /* wanted up: a second reload keeps it so */
        return true;
    }
    if (!mgr_deps_ready(mp)) {
        /* its after procs first: those that are down are started, and it
         * starts once they are ready (SPEC 3) */
        mp->intent.start_when_ready = true;
        mp->intent.held = false;
        proc_want(p, true);
        for (size_t k = 0; k < mp->nafter; k++) {
            struct mproc *d = m->procs[mp->after[k]];
            if (!proc_alive(d->p) && !mgr_waits_for_deps(d))
                manager_start_now(m, d->p);
        }
        if (mgr_deps_ready(mp))
            mgr_start(mp);  /* (a dependency may have become ready at once) */
        else
            proc_set_waiting(p, mgr_unmet(mp));
        return true;
    }
    mgr_start(mp);
    return true;
}

void manager_restart(struct manager *m, struct proc *p)
{
    long i = mgr_find(m, proc_spec(p)->name);
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
    long i = mgr_find(m, proc_spec(p)->name);
    if (i >= 0 && why == CAUSE_STOP)
        m->procs[i]->intent.held = true;  /* an operator may start it again */
    if (i >= 0)
        m->procs[i]->intent.restart_when_down = false;  /* a stop wins over a restart */
    proc_want_down(p);
    proc_terminate(p, timeout, why);
    mgr_notify_if_all_ready(m);  /* it may have been the one still awaited */
    mgr_check_done(m);
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

void manager_reload(struct manager *m, manager_reload_done_fn *done, void *data)
{
    char *msg = NULL;
    int rc = -1;
    if (m->shutting_down)
        msg = xstrdup("tend is shutting down");
    else if (!m->reloader)
        msg = xstrdup("no policy to reload");
    else if (m->reloading)
        msg = xstrdup("a reload is under way (looking up users); ask again once it is done");
    else
        rc = m->reloader(m->reloader_data, &msg);
    if (rc == 1) {
        free(msg);
        m->reloading = true;
        m->reload_done = done;
        m->reload_data = data;
        return;
    }
    if (rc != 0)  /* however it was asked for: SIGHUP or tend reload */
        log_error(NULL, "reload refused, the running set is kept: %s", msg);
    if (done)
        done(data, rc, msg);
    free(msg);
}

void manager_reloaded(struct manager *m, int rc, const char *msg)
{
    manager_reload_done_fn *done = m->reload_done;
    void *data = m->reload_data;
    m->reloading = false;
    m->reload_done = NULL;
    m->reload_data = NULL;
    if (rc != 0)
        log_error(NULL, "reload refused, the running set is kept: %s", msg);
    if (done)
        done(data, rc, msg);
    mgr_check_done(m);  /* the reload kept tend running; it may be done now */
}

void manager_reload_forget(struct manager *m, void *data)
{
    if (m->reload_data == data) {
        m->reload_done = NULL;
        m->reload_data = NULL;
    }
}

void manager_set_checker(struct manager *m, manager_checker_fn *fn, void *data)
{
    m->checker = fn;
    m->checker_data = data;
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
    mgr_unwatch_signals(m);
    free(m->procs);
    strmap_free(&m->index);
    mgr_links_free(m);
    free(m);
}
