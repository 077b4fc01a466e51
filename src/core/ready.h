/* ready.h -- readiness, watchdog and health of a proc's incarnation (SPEC
 * 4): the part of the proc handle that decides when `running` becomes
 * `ready`, and when a live incarnation must be terminated because it never
 * became ready, missed a watchdog ping or failed its health checks.
 * One of the proc's own files: it sees the inside (proc_impl.h). */
#ifndef TEND_READY_H
#define TEND_READY_H

#include "core/launch.h"
#include "core/proc_impl.h"

void ready_init(struct proc *p);
/* Before the spawn: a readiness fd for the child, NOTIFY_SOCKET for its
 * environment (*env_extra receives "NOTIFY_SOCKET=..." or NULL).  -1 with
 * *reason when it cannot be set up. */
int ready_prepare(struct proc *p, struct launch_opts *o, char **env_extra, char **reason);
/* After the spawn (ok) or its failure (!ok). */
void ready_spawned(struct proc *p, bool ok);
/* The incarnation is running: start checking (or be ready at once). */
void ready_running(struct proc *p);
/* The incarnation is ready: stop the readiness checks, start the watchdog
 * and the health checks. */
void ready_reached(struct proc *p);
/* The incarnation is stopping (`exited` false) or gone: stop every check
 * and timer.  A stopping program may still write its readiness report to
 * the fd form's pipe, which stays open (and unread) until it has exited. */
void ready_stop(struct proc *p, bool exited);
/* Free what outlives incarnations (the notify socket). */
void ready_free(struct proc *p);

#endif
