/* groups.h -- every process group tend started that may still have members.
 *
 * The list is what "no orphans" rests on: on every way out of tend, even a
 * crash, each recorded group is SIGKILLed.  groups_kill_all only walks the
 * list and calls kill(2), so a fatal-signal handler may call it. */
#ifndef TEND_GROUPS_H
#define TEND_GROUPS_H

#include <sys/types.h>

struct pgroup {
    pid_t pgid;
    struct pgroup *prev, *next;
};

void groups_add(struct pgroup *g, pid_t pgid);
void groups_remove(struct pgroup *g);
/* Send `sig` to every recorded group; how many still had members.
 * SIGKILL ends the cgroups too (cgroup_end_all): tend is on its way out. */
int groups_kill_all(int sig);
/* Install handlers that kill every group, give tend's stdout and stderr
 * their file status flags back (output_restore_flags), then die, on fatal
 * signals (SEGV, BUS, ILL, FPE, ABRT, USR1...) and at exit().  SIGXFSZ is
 * ignored: a write past RLIMIT_FSIZE fails with EFBIG instead. */
void groups_install_fatal_handlers(void);

#endif
