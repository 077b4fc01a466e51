/* manager_run.c -- tend's lifetime: what each transition means for it
 * (its log line, the count of the living, READY=1), the rule that says
 * tend's work is done (SPEC 2), the shutdown (dependents first), tend's
 * signals, the run loop and the exit code. */
#include "core/manager_impl.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/util.h"
#include "core/sdnotify.h"

static bool alive(enum proc_state s)
{
    return s == ST_STARTING || s == ST_RUNNING || s == ST_READY || s == ST_STOPPING;
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

/* READY=1 to tend's own supervisor once every autostart proc has been
 * ready (SPEC 4). */
void mgr_notify_if_all_ready(struct manager *m)
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

/* Every transition, said before anyone acts on it: its line in tend's log
 * comes before a hook's lines about it and before what it makes the
 * dependents do (SPEC 2). */
void mgr_on_announce(struct proc *p, const struct status *now, const struct status *prev,
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
void mgr_on_transition(struct proc *p, const struct status *now,
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
            mgr_retire_done(mp);
            mgr_check_done(m);
        }
        return;
    }

    if (now->state == ST_READY && !mp->was_ready) {
        mp->was_ready = true;
        mgr_notify_if_all_ready(m);
    }
    if (!m->shutting_down && mp->ndependents > 0)
        mgr_dependents_see(mp, now);
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
        mgr_check_done(m);
    }
}

void manager_tasks_changed(struct manager *m, int pending)
{
    m->tasks = pending;
    mgr_check_done(m);
}

bool manager_shutting_down(const struct manager *m)
{
    return m->shutting_down;
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
    mgr_check_done(m);
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
    if (!m->shutting_down && (m->tasks > 0 || m->stay || m->reloading))
        return false;  /* a reload waiting for users may bring procs */
    for (size_t i = 0; i < m->n; i++) {
        const struct mproc *mp = m->procs[i];
        const struct status *st = proc_status(mp->p);
        /* restart_at: a restart to come; alive: started in a transition
         * whose event is still queued (m->alive counts it once seen) */
        if (st->restart_at > 0 || alive(st->state))
            return false;
        if (m->shutting_down)
            continue;
        if (mp->intent.held || (!proc_spec(mp->p)->autostart && !mp->started) || mgr_waits_for_deps(mp) ||
            mp->intent.restart_when_down)
            return false;
    }
    return true;
}

/* Leave the loop once done. */
void mgr_check_done(struct manager *m)
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
        manager_reload(m, NULL, NULL);  /* the log says how it went */
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

void mgr_unwatch_signals(struct manager *m)
{
    ev_signal *ws[] = {&m->sig_term, &m->sig_int, &m->sig_hup};
    for (size_t i = 0; i < ARRAY_LEN(ws); i++)
        if (ev_is_active(ws[i]))
            ev_signal_stop(m->loop, ws[i]);
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
