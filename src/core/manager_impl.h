/* manager_impl.h -- the inside of the manager, for its own files only:
 * manager.c (the registry and the operations on it), manager_deps.c (the
 * `after` links and their conditions) and manager_run.c (what each
 * transition means for tend's lifetime, shutdown, signals, the run loop).
 * Everyone else has manager.h. */
#ifndef TEND_MANAGER_IMPL_H
#define TEND_MANAGER_IMPL_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/strmap.h"
#include "core/manager.h"

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
    bool breaking;          /* mgr_check_done asked the loop to return */
    bool stay;           /* --stay: up until a signal, shutdown or tend.exit */
    const char *exit_why;   /* why manager_run returned (for the last line) */
    manager_decider_fn *decider;
    void *decider_data;
    manager_checker_fn *checker;
    void *checker_data;
    manager_reloader_fn *reloader;
    void *reloader_data;
    bool reloading;  /* the reloader answers later (manager_reloaded) */
    manager_reload_done_fn *reload_done;
    void *reload_data;
    manager_forget_fn *forget;
    void *forget_data;
    manager_forget_fn *policy_forget;
    void *policy_forget_data;
    manager_scaler_fn *scaler;
    void *scaler_data;
    ev_signal sig_term, sig_int, sig_hup;
};
/* ---- manager.c: the registry ---- */

/* The index of the proc named `name`, or -1. */
long mgr_find(const struct manager *m, const char *name);
/* Start mp now, or once its predecessor has ended. */
void mgr_start(struct mproc *mp);
/* A retired proc has ended: free it and run what waited for that. */
void mgr_retire_done(struct mproc *mp);

/* ---- manager_deps.c: `after` ---- */

/* Whether every after proc of mp meets its condition now. */
bool mgr_deps_ready(const struct mproc *mp);
/* The after conditions of mp not met now ("db ready", "migrate
 * succeeded"), or NULL. */
char **mgr_unmet(const struct mproc *mp);
/* Whether mp waits for its after procs to start (want up, not started). */
bool mgr_waits_for_deps(const struct mproc *mp);
/* A transition of mp, as the procs that start after it see it. */
void mgr_dependents_see(struct mproc *mp, const struct status *now);
/* Link the proc just registered at position self (declared by `spec`). */
void mgr_link_new(struct manager *m, size_t self, const struct spec *spec);
/* Recompute every after/dependents link from the names (after the set of
 * procs changed). */
void mgr_relink(struct manager *m);
/* Free the awaited names and the sets. */
void mgr_links_free(struct manager *m);

/* ---- manager_run.c: the lifetime ---- */

/* The proc's owner callbacks (struct proc_owner's announce and saw). */
void mgr_on_announce(struct proc *p, const struct status *now, const struct status *prev,
                     void *data);
void mgr_on_transition(struct proc *p, const struct status *now, const struct status *prev,
                       void *data);
/* READY=1 to tend's own supervisor once every autostart proc has been
 * ready (SPEC 4). */
void mgr_notify_if_all_ready(struct manager *m);
/* Leave the loop once done. */
void mgr_check_done(struct manager *m);
/* Stop watching tend's signals. */
void mgr_unwatch_signals(struct manager *m);

#endif
