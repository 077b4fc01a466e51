/* proc.h -- the proc handle: one supervised program and its incarnations.
 *
 * A proc spawns its program (fork/exec in its own process group, exec
 * confirmed through a close-on-exec pipe), reads its output into rings and
 * the output sink, records its exit from libev's reaper, terminates and
 * kills it, and tells its subscribers every transition, in order, exactly
 * once.  It knows nothing of Lua or of other procs: what happens after an
 * exit is asked of the `decide` callback of its owner. */
#ifndef TEND_PROC_H
#define TEND_PROC_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/groups.h"
#include "base/output.h"
#include "core/reap.h"
#include "base/restart.h"
#include "base/ring.h"
#include "core/launch.h"
#include "core/spec.h"
#include "base/status.h"

#define PROC_TAIL_MAX 4096  /* bytes of output in a terminal status */

struct proc;


/* Called for each transition: `now` is the new status, `prev` the one
 * before.  Both are valid only during the call. */
typedef void proc_sub_fn(struct proc *p, const struct status *now,
                         const struct status *prev, void *data);

struct proc_sub;  /* a subscription (proc_impl.h) */

/* Called for each line a proc writes (stream 0 stdout, 1 stderr; `line`
 * without its newline, not NUL-terminated), after it is in the ring. */
typedef void proc_line_fn(struct proc *p, int stream, const char *line, size_t len,
                          void *data);

struct proc_listener;  /* a listener (proc_impl.h) */

/* What the owner of a proc decides for it. */
/* What a check is for. */
enum check_purpose { CHECK_READY, CHECK_HEALTH };

struct proc_owner {
    /* For a terminal status about to be published: the seconds to wait
     * before the next incarnation, or -1 for none.  It may set
     * st->gave_up.  NULL: never restart. */
    double (*decide)(struct proc *p, struct status *st, void *data);
    /* Run a check the core cannot (CHECK_LOG, CHECK_FUNC) and answer with
     * proc_check_done(p, purpose, gen, ...); a later `gen` supersedes. */
    void (*check)(struct proc *p, enum check_purpose purpose, unsigned gen, void *data);
    /* Every transition, after every subscriber has seen it: what the
     * owner does about it (start a dependent, stop what a stopped proc
     * depended on) comes after it in everybody's order. */
    void (*saw)(struct proc *p, const struct status *now, const struct status *prev,
                void *data);
    void *data;
    /* Every transition, before any subscriber sees it: to say it (tend's
     * log line comes before what a hook logs about it, SPEC 2). */
    void (*announce)(struct proc *p, const struct status *now, const struct status *prev,
                     void *data);
};

/* A new proc for `spec` (which it takes over), pending, not started. */
struct proc *proc_new(struct ev_loop *loop, struct spec *spec,
                      const struct proc_owner *owner);
/* Stop every watcher, SIGKILL what is left of the process group and free;
 * deferred until the current dispatch returns if called from a subscriber. */
void proc_free(struct proc *p);

/* Start a new incarnation unless one is alive (then nothing happens).
 * Every incarnation after the first counts in `restarts`, whoever started
 * it (`by_policy` no longer changes anything).  A fork or exec failure becomes
 * a `failed` status, not an error. */
void proc_start(struct proc *p, bool by_policy);
/* Cancel a scheduled restart and mark the proc wanted down. */
void proc_want_down(struct proc *p);
/* Stop signal to the group, SIGKILL after `timeout` seconds (< 0: the
 * spec's stop_timeout).  -1 when the proc is not alive ("already
 * terminated"). */
int proc_terminate(struct proc *p, double timeout, enum cause why);
/* SIGKILL to the group now; -1 when the proc is not alive. */
int proc_kill(struct proc *p, enum cause why);
/* `why` is the status's `cause` (SPEC 1) once the incarnation stops or
 * ends: the first cause given for an incarnation stays. */

/* `sig` to the group from an operator or a policy (tend signal,
 * proc:signal()); -1 with errno set on failure (ESRCH: not alive).  If
 * the program dies of it, its cause is "signal". */
int proc_signal(struct proc *p, int sig);

/* Whether the current incarnation's main process is alive. */
bool proc_alive(const struct proc *p);
/* What the proc is (its published status) and was declared as. */
const struct status *proc_status(const struct proc *p);
const char *proc_name(const struct proc *p);
const struct spec *proc_spec(const struct proc *p);
/* Whether the current (or last) incarnation needed SIGKILL. */
bool proc_sigkilled(const struct proc *p);
/* The restart policy's counters of the proc (restart.h). */
struct restart_state *proc_restart_state(struct proc *p);
/* The output ring of stream 0 (stdout) or 1 (stderr), or NULL before the
 * proc wrote to it. */
const struct ring *proc_ring(const struct proc *p, int stream);
/* Want the proc up or down (what the supervisor wants; proc_want_down
 * also cancels a scheduled restart). */
void proc_want(struct proc *p, bool up);
/* What a proc that has not started waits for: its `after` conditions not
 * met yet ("db ready"), taken over (NULL: none); shown as waiting_for. */
void proc_set_waiting(struct proc *p, char **waiting_for);
/* A dependency ended for good without meeting its condition: the proc
 * will not start (want down, cause "after"); waiting_for says what
 * failed (taken over). */
void proc_after_failed(struct proc *p, char **waiting_for);

/* Subscribe to every transition from now on.  Safe to call from a
 * subscriber; the handle stays valid until proc_unsubscribe. */
struct proc_sub *proc_subscribe(struct proc *p, proc_sub_fn *fn, void *data);
void proc_unsubscribe(struct proc *p, struct proc_sub *s);

/* Hear every line the proc writes from now on (e.g. `tend logs -f`, a
 * log-pattern readiness check).  Safe to call from a listener. */
struct proc_listener *proc_listen(struct proc *p, proc_line_fn *fn, void *data);
/* Stop hearing; safe from inside the listener's own call. */
void proc_unlisten(struct proc *p, struct proc_listener *l);

/* Called once by proc_await_ready: `reached` true when the proc became
 * ready, false with the terminal status that came first. */
typedef void proc_await_fn(struct proc *p, bool reached, const struct status *st,
                           void *data);
/* Wait for `ready` of the current incarnation (of the first, while
 * pending).  When the answer is known already (ready now, or terminal),
 * fn is called at once and NULL returned; otherwise the subscription,
 * which ends by itself after the call (or cancel it with
 * proc_unsubscribe). */
struct proc_sub *proc_await_ready(struct proc *p, proc_await_fn *fn, void *data);

/* The last `lines` lines of `stream` (0 stdout, 1 stderr), as a new string;
 * since_incarnation: only this incarnation's. */
char *proc_tail(const struct proc *p, int stream, size_t lines,
                bool since_incarnation);

/* Reopen the output file by its path (SIGHUP, after an outside rotator
 * moved it). */
void proc_reopen_output(struct proc *p);

/* Read what the readiness fd and the notify socket already hold (the
 * main process has just been reaped): a report written before the exit
 * is applied before it (SPEC 1). */
void ready_drain(struct proc *p);

/* The program says it is ready (a readiness check passed); ignored unless
 * the incarnation is starting or running. */
void proc_report_ready(struct proc *p);
/* The program says it is stopping (STOPPING=1): `stopping`, with SIGKILL
 * after `timeout` seconds (< 0: stop_timeout) unless it exits first. */
void proc_stopping(struct proc *p, double timeout);
/* Run again the checks the owner runs (log patterns, functions): the
 * owner's VM was replaced by a reload. */
void proc_rebind_checks(struct proc *p);
/* The answer of a check the owner ran (see proc_owner.check). */
void proc_check_done(struct proc *p, enum check_purpose purpose, unsigned gen, bool ok,
                     const char *why);


/* Exercise the transition rules without a process: move to `to` as the
 * status machine allows (false and nothing changed when refused).  The
 * spawn, reap and stop paths all go through this one function. */
bool proc_move(struct proc *p, enum proc_state to);

#endif
