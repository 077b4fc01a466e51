/* usage.h -- the CPU and memory of process groups, read from /proc when a
 * status is asked for (SPEC 10: nothing is polled).
 *
 * One scan of /proc reads every process once and sums its CPU time
 * (utime + stime of the process; with cutime + cstime, what its reaped
 * children used) and its resident memory into its process group, so the
 * statuses of thousands of procs cost one pass. */
#ifndef TEND_USAGE_H
#define TEND_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct usage_entry {
    pid_t pgid;
    double cpu;       /* seconds */
    long long rss;    /* bytes */
};

struct usage_scan {
    struct usage_entry *v;  /* sorted by pgid */
    size_t n;
};

/* Read /proc once (or `root`, for the tests: a directory laid out like
 * /proc); -1 when it cannot be read. */
int usage_scan(struct usage_scan *s, const char *root);
/* The sums of group `pgid`: false when no process of it was seen. */
bool usage_of(const struct usage_scan *s, pid_t pgid, double *cpu, long long *rss);
void usage_free(struct usage_scan *s);

/* A live status with its usage filled in: a shallow copy of `st` into *out
 * with has_usage, cpu and memory set (from the incarnation's cgroup where
 * it has one, else from /proc by process group); `st` itself when the
 * incarnation is not alive.  The copy shares st's strings: use it before
 * st changes.  One scan of /proc serves every status asked for within
 * USAGE_FRESH seconds: a burst of requests (a thousand clients asking
 * `tend status`) costs one scan, not one each. */
#define USAGE_FRESH 0.25
struct status;
const struct status *usage_status(const struct status *st, struct status *out);

/* One line of /proc/PID/stat parsed: its pgrp, CPU seconds and RSS in
 * bytes; false when it is not such a line. */
bool usage_parse_stat(const char *line, pid_t *pgrp, double *cpu, long long *rss);

#endif
