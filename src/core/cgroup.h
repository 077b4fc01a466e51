/* cgroup.h -- cgroup v2 containment (SPEC 5): each incarnation in a cgroup
 * of its own under tend's, so that a stop reaches every descendant (a
 * double-forked, setsid() daemon too), the final kill is cgroup.kill, and
 * "nothing outlives its incarnation" is the cgroup becoming empty.
 *
 * At start tend finds its own cgroup v2 (the "0::" line of
 * /proc/self/cgroup, under the cgroup2 mount wherever it is) and tries to
 * create TEND = that/tend-PID there.  If it may, it moves itself into the
 * leaf TEND/supervisor (cgroup v2 keeps processes in leaves only once
 * controllers are enabled: TEND itself holds none) and each incarnation
 * gets TEND/NAME-N, which the child enters before it execs.  Else, or with
 * TEND_CGROUPS=0, nothing here does anything and process groups stay the
 * unit, as before.  The mode is logged once at start. */
#ifndef TEND_CGROUP_H
#define TEND_CGROUP_H

#include <ev.h>
#include <stdbool.h>

/* One incarnation's cgroup. */
struct cgroup;

/* Decide the mode and set up TEND (see above); log it.  Before the first
 * child is started; reaping must be set up on `loop` (reap_start). */
void cgroup_init(struct ev_loop *loop);
/* Whether incarnations get cgroups. */
bool cgroup_enabled(void);
/* TEND's directory ("/sys/fs/cgroup/unified/tend-123"), or NULL. */
const char *cgroup_root(void);
/* Why cgroups are not in use ("turned off by TEND_CGROUPS=0"), or NULL. */
const char *cgroup_why_not(void);

/* A new cgroup for an incarnation of proc `name`, with cgroup.procs open
 * for the child to enter (cgroup_procs_fd).  NULL with *reason naming
 * the path on failure. */
struct cgroup *cgroup_new(const char *name, char **reason);
/* Its directory (for messages and the status). */
const char *cgroup_path(const struct cgroup *cg);
/* Its cgroup.procs, open for writing: the child writes "0" to enter. */
int cgroup_procs_fd(const struct cgroup *cg);
/* The spawn is over (started or not): close cgroup.procs. */
void cgroup_spawned(struct cgroup *cg);
/* How many processes of cg the OOM killer ended (its memory.events
 * oom_kill); -1 where there is no memory controller to say. */
long cgroup_oom_kills(const struct cgroup *cg);
/* Whether the incarnations' cgroups have controller `name` ("memory"). */
bool cgroup_controller(const char *name);
/* Write the cgroup limits of `l` (memory.max, memory.high, cpu.max,
 * pids.max) into cg's files (cg NULL: tend has no cgroups); NULL when each
 * set limit took, else what did not and why (a new string). */
struct limits;
char *cgroup_apply_limits(struct cgroup *cg, const struct limits *l);
/* File `file` of the cgroup directory `path` (an incarnation's, as its
 * status holds it) open for reading: below TEND, relative to TEND's
 * directory (a status asks for one a proc: the shorter walk counts); -1
 * with errno. */
int cgroup_open_file(const char *path, const char *file);
/* `sig` to every process in it; how many got it (0: none was there). */
/* `cont`: SIGCONT after `sig` to each (a stopped process must see it).
 * `own`: the main process, tend's child not reaped yet (its number cannot
 * have been reused), signalled at once; 0: none. */
int cgroup_signal(struct cgroup *cg, int sig, bool cont, pid_t own);
/* SIGKILL to every process in it, at once and by the kernel (cgroup.kill):
 * no pid that could have been reused is named.  0, or -1 with errno. */
int cgroup_kill(struct cgroup *cg);
/* Give the cgroup up (taken over): what is left in it gets `sig` (and
 * SIGCONT) now and cgroup.kill after `timeout` seconds unless it empties
 * first (cgroup.events, watched on the loop); it is removed once empty.
 * SIGKILL: cgroup.kill now. */
void cgroup_linger(struct cgroup *cg, int sig, double timeout);
/* How many incarnation cgroups are given up and not empty yet. */
int cgroup_lingering(void);

/* tend is on its way out: cgroup.kill every incarnation's cgroup, move
 * tend back where it started, and remove every cgroup of tend's, waiting
 * a little for them to empty.  Only system calls: a fatal-signal handler
 * may call it (groups_kill_all does). */
void cgroup_end_all(void);
/* After cgroup_end_all on the way out of main: stop the watchers, free. */
void cgroup_close(void);

/* Parsing, for the tests. */
/* The cgroup v2 path in a /proc/self/cgroup text ("0::/a/b" gives
 * "/a/b"), as a new string; NULL if there is none. */
char *cgroup_parse_self(const char *text);
/* The directory of cgroup `path` (as cgroup_parse_self gives it) in the
 * first cgroup2 mount of a /proc/self/mountinfo text that holds it, as a
 * new string; NULL if none does. */
char *cgroup_parse_mountinfo(const char *text, const char *path);

#endif
