/* manager.h -- the registry of procs and what happens between them:
 * start order (`after`), the restart policy, shutdown (dependents first),
 * tend's signals and its exit code. */
#ifndef TEND_MANAGER_H
#define TEND_MANAGER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/proc.h"

struct manager;

struct manager *manager_new(struct ev_loop *loop);
/* Stop and free every proc; SIGKILL every group still recorded. */
void manager_free(struct manager *m);

/* Register a proc for `spec` (taken over).  Its `after` names must already
 * be registered (the loader checks names and cycles first). */
struct proc *manager_add(struct manager *m, struct spec *spec);
/* The proc named `name`, or NULL. */
struct proc *manager_get(const struct manager *m, const char *name);
size_t manager_count(const struct manager *m);
struct proc *manager_at(const struct manager *m, size_t i);

/* Start every autostart proc whose dependencies are ready; the others
 * start as their dependencies become ready. */
void manager_start(struct manager *m);
/* Stop everything, dependents first, each with its own stop_timeout;
 * `code` >= 0 becomes the exit code.  A second call kills everything. */
void manager_shutdown(struct manager *m, int code);
/* Handle SIGTERM, SIGINT (shutdown) and SIGHUP (logged) from the loop. */
void manager_watch_signals(struct manager *m);
/* Run the loop until no main process is alive and no restart is pending;
 * the exit code of SPEC 2. */
int manager_run(struct manager *m);
/* --stay: tend stays up when its work is done, until a signal, tend
 * shutdown or tend.exit(). */
void manager_set_stay(struct manager *m, bool on);
/* Start `p` (registered with manager_add after manager_start) as the
 * policy says: now if it is autostart and its dependencies are ready, else
 * once they are. */
void manager_launch(struct manager *m, struct proc *p);
/* Want `p` up and start it now, whatever its dependencies (a control
 * command); false during a shutdown. */
bool manager_start_now(struct manager *m, struct proc *p);
/* Want `p` down and terminate it (`timeout` < 0: its stop_timeout). */
void manager_stop(struct manager *m, struct proc *p, double timeout, enum cause why);
/* The one restart (tend restart, proc:restart()): stop p (cause restart)
 * and, once it has ended, start it again as manager_start_now does (its
 * after procs first, and only once they meet their conditions); a proc
 * that is not alive is started now.  The restart policy is not asked.
 * Nothing during a shutdown; a stop before the end cancels the start. */
void manager_restart(struct manager *m, struct proc *p);
/* Take `p` out of the registry (its name is free again) and stop it; it is
 * freed once it has ended (a reload removed it). */
void manager_retire(struct manager *m, struct proc *p);
/* Like manager_retire, for a scale that removed it: the cause of its end
 * is "stop". */
void manager_remove(struct manager *m, struct proc *p);
/* The replicas of set `name` (SPEC 3: procs NAME@1 ..), in their order, in
 * a new array (NULL when there are none); *n their number. */
struct proc **manager_replicas(const struct manager *m, const char *name, size_t *n);
/* Retire `old` and register a proc for `spec` (taken over) in its place;
 * the new one starts (as manager_launch would) only once the old one has
 * ended, so the two never run at once.  It is wanted up if `old` was:
 * one that was down stays down with its new declaration. */
struct proc *manager_replace(struct manager *m, struct proc *old, struct spec *spec);

/* Put the procs of `order` (n of them, registered) first, in that order,
 * the others after them as they were: a reload's declaration order. */
void manager_order(struct manager *m, struct proc *const *order, size_t n);

/* The policy's pending tasks: tend does not exit while there are some. */
void manager_tasks_changed(struct manager *m, int pending);

/* The restart policy: the delay before the next incarnation after the
 * terminal status `st`, or -1 for none (it may set st->gave_up).  Without
 * one, nothing restarts. */
typedef double manager_decider_fn(struct proc *p, struct status *st, void *data);
void manager_set_decider(struct manager *m, manager_decider_fn *fn, void *data);

/* Runs the checks of kinds CHECK_LOG and CHECK_FUNC (see proc_owner). */
typedef void manager_checker_fn(struct proc *p, enum check_purpose purpose, unsigned gen,
                                void *data);
void manager_set_checker(struct manager *m, manager_checker_fn *fn, void *data);

/* What must let go of a proc that a reload retired, just before it is
 * freed (the control socket's waits and follows). */
typedef void manager_forget_fn(struct proc *p, void *data);
void manager_set_forget(struct manager *m, manager_forget_fn *fn, void *data);

/* The same for the policy, which holds handles on procs. */
void manager_set_policy_forget(struct manager *m, manager_forget_fn *fn, void *data);

/* What changes the number of replicas of a set (tend scale): 0, or -1
 * with *err. */
typedef int manager_scaler_fn(void *data, const char *name, int n, char **err);
void manager_set_scaler(struct manager *m, manager_scaler_fn *fn, void *data);
/* Scale set `name` to n replicas now; 0, or -1 with *err (a new string). */
int manager_scale(struct manager *m, const char *name, int n, char **err);

/* What reloads the policy (tend reload, SIGHUP): 0 with what changed in
 * *msg ("1 new, 2 changed, 0 removed, 3 unchanged"), -1 with the error in
 * *msg (a new string either way), or 1 when the reload goes on off the
 * loop (users to look up first): the reloader then answers with
 * manager_reloaded. */
typedef int manager_reloader_fn(void *data, char **msg);
void manager_set_reloader(struct manager *m, manager_reloader_fn *fn, void *data);
/* Reload the policy.  done(data, rc, msg), when not NULL, comes once the
 * reload is applied (0; msg says what changed) or refused (-1; msg says
 * why): from this call, or later from the loop.  tend's log says either.
 * One reload at a time: another asked for meanwhile is refused. */
typedef void manager_reload_done_fn(void *data, int rc, const char *msg);
void manager_reload(struct manager *m, manager_reload_done_fn *done, void *data);
/* The reloader's answer to a reload it went on with off the loop. */
void manager_reloaded(struct manager *m, int rc, const char *msg);
/* The asker of the reload under way is gone: its done is not called. */
void manager_reload_forget(struct manager *m, void *data);

/* Whether a shutdown is under way. */
bool manager_shutting_down(const struct manager *m);

#endif
