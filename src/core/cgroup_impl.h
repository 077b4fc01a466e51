/* cgroup_impl.h -- what cgroup.c (containment: the cgroups' lives, their
 * signals, the way out) and cgroup_res.c (what the cgroups hold and say:
 * controllers, limits, OOM kills, the files a status reads) share. */
#ifndef TEND_CGROUP_IMPL_H
#define TEND_CGROUP_IMPL_H

#include <ev.h>
#include <stdbool.h>

struct cgroup {
    char name[80];          /* its directory under TEND */
    char *path;             /* the whole directory, for messages */
    int procs_fd;           /* cgroup.procs until the spawn is over, or -1 */
    int wd;                 /* the watch of cgroup.events while lingering, or -1 */
    ev_timer deadline;      /* lingering: cgroup.kill then */
    bool lingering;
    struct cgroup *prev, *next;  /* every cgroup not removed yet */
};

/* What tend has: all of it set by cgroup_init, read by cgroup_end_all
 * from a signal handler too. */
struct cg_state {
    bool on;
    char *why_not;          /* when off */
    char *dir;              /* TEND's directory */
    char *rel;              /* TEND as /proc/PID/cgroup names it */
    char base[32];          /* "tend-PID", TEND's name in its parent */
    int parent_fd;          /* tend's cgroup at start (O_PATH) */
    int dir_fd;             /* TEND (O_PATH) */
    bool moved;             /* tend is in TEND/supervisor */
    char controllers[128];  /* enabled for the incarnations: "memory pids" */
    struct ev_loop *loop;
    int inotify_fd;
    ev_io inotify_w;
    struct cgroup *all;
    int nlingering;
    unsigned long seq;      /* numbers the incarnation cgroups */
};
extern struct cg_state cg_state;

/* The whole of a small file as a new string, or NULL with errno. */
char *cg_read_small(const char *path);
/* Write `s` to `name` under the directory fd `dir`: 0, or -1 with errno.
 * Only system calls (a signal handler uses it). */
int cg_write_at(int dir, const char *name, const char *s);
/* Turn on in TEND's subtree_control what the limits use (cgroup_res.c). */
void cg_enable_controllers(const char *dir);

#endif
