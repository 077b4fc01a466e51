/* reap.c -- reaping every child on SIGCHLD, and lingering groups. */
#include "core/reap.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/groups.h"
#include "base/later.h"
#include "core/usage.h"
#include "base/util.h"

/* A process group whose main process is gone but whose other members got
 * the stop signal: SIGKILL follows at the deadline. */
struct leftover {
    struct pgroup group;
    ev_timer timer;
    struct leftover *prev, *next;
};

static struct ev_loop *loop;
static ev_signal sigchld;
static struct later look_now;  /* the first look, for exits before the handler */
static struct reap_watch **buckets;  /* a power of two of them */
static size_t nbuckets, nwatched;
static struct leftover *lingering;
static int nlingering;
/* groups reap_linger signalled during the current reap_fn call, checked
 * once the child is reaped */
static struct leftover *fresh;

static void sigchld_cb(struct ev_loop *l, ev_signal *w, int revents);

static void look_now_cb(struct later *l)
{
    sigchld_cb(loop, &sigchld, EV_SIGNAL);
}

static void reap_init(struct ev_loop *l)
{
    loop = l;
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    ev_signal_init(&sigchld, sigchld_cb, SIGCHLD);
    ev_signal_start(loop, &sigchld);
    ev_unref(loop);  /* children keep the loop alive through their watches */
    /* a child started before the handler was there may have exited
     * already, its SIGCHLD lost: look once */
    later_init(&look_now, look_now_cb);
    later_run(loop, &look_now);
}

/* ---- the table of watched pids ---- */

static size_t bucket_of(pid_t pid, size_t n)
{
    return ((size_t)pid * 2654435761u) & (n - 1);
}

void reap_start(struct ev_loop *l)
{
    if (l != loop)
        reap_init(l);
}

void reap_watch(struct ev_loop *l, struct reap_watch *w, pid_t pid, reap_fn *fn)
{
    reap_start(l);
    if (nwatched >= nbuckets) {  /* grow: at most one watch a bucket on average */
        size_t n = nbuckets ? nbuckets * 2 : 64;
        struct reap_watch **b = xcalloc(n, sizeof *b);
        for (size_t i = 0; i < nbuckets; i++)
            for (struct reap_watch *q = buckets[i], *next; q; q = next) {
                next = q->next;
                size_t k = bucket_of(q->pid, n);
                q->next = b[k];
                b[k] = q;
            }
        free(buckets);
        buckets = b;
        nbuckets = n;
    }
    w->pid = pid;
    w->fn = fn;
    size_t k = bucket_of(pid, nbuckets);
    w->next = buckets[k];
    buckets[k] = w;
    if (nwatched++ == 0)
        ev_ref(loop);
}

/* The watch of `pid`, taken out of the table; NULL if none. */
static struct reap_watch *take(pid_t pid)
{
    if (!nbuckets)
        return NULL;
    for (struct reap_watch **pp = &buckets[bucket_of(pid, nbuckets)]; *pp; pp = &(*pp)->next) {
        struct reap_watch *w = *pp;
        if (w->pid != pid)
            continue;
        *pp = w->next;
        w->pid = 0;
        w->next = NULL;
        if (--nwatched == 0 && loop)
            ev_unref(loop);
        return w;
    }
    return NULL;
}

void reap_unwatch(struct reap_watch *w)
{
    if (w->pid > 0)
        take(w->pid);
}

/* ---- lingering groups ---- */

static void linger_free(struct leftover *l)
{
    ev_timer_stop(loop, &l->timer);
    groups_remove(&l->group);
    if (l->prev)
        l->prev->next = l->next;
    else
        lingering = l->next;
    if (l->next)
        l->next->prev = l->prev;
    nlingering--;
    free(l);
}

static void linger_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    struct leftover *lo = container_of(w, struct leftover, timer);
    kill(-lo->group.pgid, SIGKILL);
    linger_free(lo);
}

void reap_linger(pid_t pgid, int sig, double timeout)
{
    /* the group's leader is an unreaped zombie now: the id is still this
     * group's, whatever has become of the other members */
    kill(-pgid, sig);
    if (sig == SIGKILL)
        return;  /* nothing more to do */
    if (sig != SIGCONT)
        kill(-pgid, SIGCONT);
    struct leftover *l = xcalloc(1, sizeof *l);
    groups_add(&l->group, pgid);
    ev_timer_init(&l->timer, linger_cb, timeout, 0);
    l->next = fresh;  /* started once the leader is reaped, if need be */
    fresh = l;
}

void reap_end_lingering(void)
{
    while (fresh) {
        struct leftover *l = fresh;
        fresh = l->next;
        kill(-l->group.pgid, SIGKILL);
        groups_remove(&l->group);
        free(l);
    }
    while (lingering) {
        kill(-lingering->group.pgid, SIGKILL);
        linger_free(lingering);
    }
}

int reap_lingering(void)
{
    return nlingering;
}

static struct leftover *lingering_group(pid_t pgid)
{
    for (struct leftover *l = lingering; l; l = l->next)
        if (l->group.pgid == pgid)
            return l;
    return NULL;
}

/* Whether a process other than `self` is in group `pgid` (zombies count:
 * they hold the id too).  Read from /proc; only for the last members of
 * lingering groups, which are few. */
static bool group_has_others(pid_t pgid, pid_t self)
{
    DIR *d = opendir("/proc");
    if (!d)
        return true;  /* cannot tell: keep the group's deadline */
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atol(e->d_name);
        if (pid == self)
            continue;
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        pid_t pgrp;
        double cpu;
        long long rss;
        if (usage_parse_stat(buf, &pgrp, &cpu, &rss) && pgrp == pgid)
            found = true;
    }
    closedir(d);
    return found;
}

/* ---- reaping ---- */

/* The wait status of an exited child described by waitid. */
static int wait_status_of(const siginfo_t *si)
{
    switch (si->si_code) {
    case CLD_EXITED:
        return (si->si_status & 0xff) << 8;
    case CLD_DUMPED:
        return (si->si_status & 0x7f) | 0x80;
    default:  /* CLD_KILLED */
        return si->si_status & 0x7f;
    }
}

/* After the reap of a watched child: the groups it left lingering get
 * their deadline, unless nothing is left of them. */
static void start_fresh(void)
{
    while (fresh) {
        struct leftover *l = fresh;
        fresh = l->next;
        if (kill(-l->group.pgid, 0) != 0) {
            groups_remove(&l->group);
            free(l);
            continue;
        }
        l->prev = NULL;
        l->next = lingering;
        if (lingering)
            lingering->prev = l;
        lingering = l;
        nlingering++;
        ev_timer_start(loop, &l->timer);
    }
}

static void sigchld_cb(struct ev_loop *l, ev_signal *w, int revents)
{
    for (;;) {
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0)
            return;
        pid_t pid = si.si_pid;
        struct reap_watch *rw = take(pid);
        if (rw) {
            rw->fn(rw, pid, wait_status_of(&si));  /* while it is a zombie */
        } else if (lingering) {
            /* an adopted member of a lingering group: if it is the last,
             * the group ends here, before its id can be reused */
            struct leftover *lo = lingering_group(getpgid(pid));
            if (lo && !group_has_others(lo->group.pgid, pid))
                linger_free(lo);
        }
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        start_fresh();
    }
}
