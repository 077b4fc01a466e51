/* metrics.c -- the Prometheus text format of the procs and of tend.
 *
 * Families are written one after the other, each with its HELP and TYPE
 * lines and one sample per proc (tend_proc_state: one per proc and state),
 * procs in declaration order.  A figure that does not apply (the CPU of a
 * proc that is not running, the exit code of one that has not ended) has no
 * sample rather than a made-up value. */
#include "control/metrics.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/status.h"
#include "base/util.h"
#include "core/cgroup.h"
#include "core/proc.h"
#include "core/usage.h"

/* What one proc contributes, gathered once so each family is one pass. */
struct row {
    const char *name;
    const struct status *st;
    bool usage;        /* cpu and memory were read */
    double cpu;
    long long memory;
};

static void put(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

void metrics_label_value(struct buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            put(b, "\\\\");
        else if (*v == '"')
            put(b, "\\\"");
        else if (*v == '\n')
            put(b, "\\n");
        else
            buf_put(b, v, 1);
    }
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* An integer in decimal, without printf (a scrape writes thousands). */
static void integer(struct buf *b, long long v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10));
    if (v < 0)
        *--p = '-';
    buf_put(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* A value as the format spells it: integers without a fraction, NaN and
 * infinities by name. */
static void value(struct buf *b, double v)
{
    if (isnan(v))
        put(b, "NaN");
    else if (isinf(v))
        put(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        integer(b, (long long)v);
    else
        buf_printf(b, "%.15g", v);
}

/* One sample: NAME{proc="P"[,state="S"]} VALUE */
static void sample(struct buf *b, const char *metric, const char *proc, const char *state,
                   double v)
{
    put(b, metric);
    put(b, "{proc=\"");
    metrics_label_value(b, proc);
    if (state) {
        put(b, "\",state=\"");
        put(b, state);
    }
    put(b, "\"} ");
    value(b, v);
    put(b, "\n");
}

static bool is_up(enum proc_state s)
{
    return s == ST_STARTING || s == ST_RUNNING || s == ST_READY || s == ST_STOPPING;
}

static void proc_families(struct buf *b, const struct row *rows, size_t n, double wall_offset)
{
    family(b, "tend_proc_state", "gauge", "1 for the proc's current state, 0 for the others.");
    for (size_t i = 0; i < n; i++)
        for (int s = 0; s < ST__COUNT; s++)
            sample(b, "tend_proc_state", rows[i].name, status_state_name(s),
                   rows[i].st->state == (enum proc_state)s);

    family(b, "tend_proc_up", "gauge", "1 while an incarnation is alive (starting to stopping).");
    for (size_t i = 0; i < n; i++)
        sample(b, "tend_proc_up", rows[i].name, NULL, is_up(rows[i].st->state));

    family(b, "tend_proc_ready", "gauge", "1 while the proc is ready.");
    for (size_t i = 0; i < n; i++)
        sample(b, "tend_proc_ready", rows[i].name, NULL, rows[i].st->state == ST_READY);

    family(b, "tend_proc_restarts_total", "counter", "Restarts since tend started.");
    for (size_t i = 0; i < n; i++)
        sample(b, "tend_proc_restarts_total", rows[i].name, NULL, rows[i].st->restarts);

    family(b, "tend_proc_incarnation", "gauge",
           "The number of the current (or last) incarnation; 0 before the first.");
    for (size_t i = 0; i < n; i++)
        sample(b, "tend_proc_incarnation", rows[i].name, NULL, rows[i].st->incarnation);

    family(b, "tend_proc_last_exit_code", "gauge",
           "How the last incarnation ended: its exit code, or 128 + the signal that "
           "killed it; no sample while none has ended.");
    for (size_t i = 0; i < n; i++) {
        const struct status *st = rows[i].st;
        if (st->state == ST_STOPPED)
            sample(b, "tend_proc_last_exit_code", rows[i].name, NULL, st->exit_code);
        else if (st->state == ST_KILLED)
            sample(b, "tend_proc_last_exit_code", rows[i].name, NULL, 128 + st->signal);
    }

    family(b, "tend_proc_cpu_seconds_total", "counter",
           "CPU seconds of the live incarnation's processes.");
    for (size_t i = 0; i < n; i++)
        if (rows[i].usage)
            sample(b, "tend_proc_cpu_seconds_total", rows[i].name, NULL, rows[i].cpu);

    family(b, "tend_proc_resident_memory_bytes", "gauge",
           "Resident memory of the live incarnation's processes.");
    for (size_t i = 0; i < n; i++)
        if (rows[i].usage)
            sample(b, "tend_proc_resident_memory_bytes", rows[i].name, NULL,
                   (double)rows[i].memory);

    family(b, "tend_proc_start_time_seconds", "gauge",
           "When the current (or last) incarnation started, in seconds since the epoch.");
    for (size_t i = 0; i < n; i++)
        if (rows[i].st->started_at > 0)
            sample(b, "tend_proc_start_time_seconds", rows[i].name, NULL,
                   floor((rows[i].st->started_at + wall_offset) * 1000) / 1000);
}

/* tend's own start, in seconds since the epoch: /proc/self/stat's
 * starttime (clock ticks after boot) and /proc/stat's btime; NAN when
 * either cannot be read. */
static double self_start_time(void)
{
    char line[1024];
    double start = NAN;
    FILE *f = fopen("/proc/self/stat", "re");
    if (f) {
        if (fgets(line, sizeof line, f)) {
            char *p = strrchr(line, ')');  /* the name may hold spaces */
            unsigned long long ticks;
            /* after ") ": state is field 3, starttime field 22 */
            if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
                                   "%*d %*d %*d %*d %*d %*d %llu", &ticks) == 1)
                start = (double)ticks / (double)sysconf(_SC_CLK_TCK);
        }
        fclose(f);
    }
    double btime = NAN;
    if ((f = fopen("/proc/stat", "re"))) {
        unsigned long long bt;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "btime %llu", &bt) == 1) {
                btime = (double)bt;
                break;
            }
        fclose(f);
    }
    return btime + start;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;  /* the directory's own fd */
}

static void self_families(struct buf *b, bool cgroups)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        family(b, "process_cpu_seconds_total", "counter", "CPU seconds tend has used.");
        put(b, "process_cpu_seconds_total ");
        value(b, floor((ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
                        (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6) * 1e6) / 1e6);
        put(b, "\n");
    }
    long long pages[2];
    FILE *f = fopen("/proc/self/statm", "re");
    if (f) {
        if (fscanf(f, "%lld %lld", &pages[0], &pages[1]) == 2) {
            long long page = sysconf(_SC_PAGESIZE);
            family(b, "process_virtual_memory_bytes", "gauge", "tend's virtual memory.");
            buf_printf(b, "process_virtual_memory_bytes %lld\n", pages[0] * page);
            family(b, "process_resident_memory_bytes", "gauge", "tend's resident memory.");
            buf_printf(b, "process_resident_memory_bytes %lld\n", pages[1] * page);
        }
        fclose(f);
    }
    long fds = open_fds();
    if (fds >= 0) {
        family(b, "process_open_fds", "gauge", "File descriptors tend has open.");
        buf_printf(b, "process_open_fds %ld\n", fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        family(b, "process_max_fds", "gauge", "tend's limit of open file descriptors.");
        put(b, "process_max_fds ");
        value(b, rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
        put(b, "\n");
    }
    double start = self_start_time();
    if (!isnan(start)) {
        family(b, "process_start_time_seconds", "gauge",
               "When tend started, in seconds since the epoch.");
        put(b, "process_start_time_seconds ");
        value(b, start);
        put(b, "\n");
    }
    family(b, "tend_cgroups", "gauge", "1 when tend contains its procs in cgroups, else 0.");
    buf_printf(b, "tend_cgroups %d\n", cgroups ? 1 : 0);
}

char *metrics_text(struct manager *m, size_t *len)
{
    size_t n = manager_count(m);
    struct row *rows = xcalloc(n ? n : 1, sizeof *rows);
    struct status *live = xcalloc(n ? n : 1, sizeof *live);
    for (size_t i = 0; i < n; i++) {
        struct proc *p = manager_at(m, i);
        const struct status *st = usage_status(proc_status(p), &live[i]);
        rows[i] = (struct row){.name = proc_name(p), .st = st, .usage = st->has_usage,
                               .cpu = st->cpu, .memory = st->memory};
    }
    struct buf b = {0};
    buf_reserve(&b, 4096 + n * 1200);
    proc_families(&b, rows, n, now_wall() - now_mono());
    self_families(&b, cgroup_enabled());
    buf_put(&b, "", 1);  /* the NUL */
    free(live);
    free(rows);
    *len = b.len - 1;
    return b.p;
}
