/* reap.h -- every child of tend is reaped here, and the leftovers of an
 * ended incarnation's process group are stopped here.
 *
 * tend is its own subreaper (PR_SET_CHILD_SUBREAPER): what is left of a
 * proc's group after its main process exits becomes tend's children, and
 * a process group id stays taken until the last member is reaped.  So tend
 * reaps by itself, on SIGCHLD, and looks at each exited child before it
 * reaps it (waitid with WNOWAIT):
 * - a watched child (a proc's main process, a tend.exec job) is told of
 *   its exit while it is still a zombie, so a signal sent then to its
 *   group (reap_linger, or a kill of the group) cannot reach another
 *   group that reused the id;
 * - an adopted child that is the last member of a lingering group ends
 *   that linger before it is reaped: the deadline's SIGKILL is never sent
 *   to an id that may have been reused.
 * The loop must not be libev's default loop, whose own SIGCHLD watcher
 * would reap every child first (use ev_loop_new). */
#ifndef TEND_REAP_H
#define TEND_REAP_H

#include <ev.h>
#include <stdbool.h>
#include <sys/types.h>

struct reap_watch;
/* `pid` exited; `status` is its wait status (WIFEXITED, WTERMSIG...) of the child, which
 * is still a zombie during the call and is reaped right after it. */
typedef void reap_fn(struct reap_watch *w, pid_t pid, int status);

struct reap_watch {
    pid_t pid;
    reap_fn *fn;
    struct reap_watch *next;  /* in its bucket */
};

/* Make tend a subreaper and reap on `loop`, before any child is started
 * (a child that orphans its own before tend is a subreaper would leave
 * them to init).  reap_watch does it too, for a loop it has not seen. */
void reap_start(struct ev_loop *loop);

/* Call fn once when child `pid` exits.  The watch must stay in place until
 * then or until reap_unwatch.  The first watch on a loop makes tend a
 * subreaper and starts reaping there. */
void reap_watch(struct ev_loop *loop, struct reap_watch *w, pid_t pid, reap_fn *fn);
void reap_unwatch(struct reap_watch *w);

/* Call from a reap_fn for the group `pgid` of the child being reaped:
 * send `sig` to what is left of it (and SIGCONT, so a stopped member can
 * act on it), and SIGKILL after `timeout` seconds unless the last member
 * has been reaped by then.  Nothing outlives its incarnation. */
void reap_linger(pid_t pgid, int sig, double timeout);

/* SIGKILL every lingering group now (tend is on its way out). */
void reap_end_lingering(void);

/* How many groups linger (for the tests). */
int reap_lingering(void);

#endif
