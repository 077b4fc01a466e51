/* usage.c -- CPU and memory by process group, from /proc. */
#include "core/usage.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/status.h"
#include "core/cgroup.h"
#include "base/util.h"

static long ticks_per_sec, page_size;

bool usage_parse_stat(const char *line, pid_t *pgrp, double *cpu, long long *rss)
{
    if (!ticks_per_sec) {
        ticks_per_sec = sysconf(_SC_CLK_TCK);
        page_size = sysconf(_SC_PAGESIZE);
        if (ticks_per_sec <= 0)
            ticks_per_sec = 100;
        if (page_size <= 0)
            page_size = 4096;
    }
    /* pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime cutime cstime priority nice threads
     * itrealvalue starttime vsize rss: comm may hold anything, up to the
     * last ')' */
    const char *p = strrchr(line, ')');
    if (!p)
        return false;
    /* fields 3 (state) to 24 (rss), one space apart; strtoll, not
     * sscanf: a scan reads every process on the machine */
    if (p[1] != ' ' || !p[2] || p[3] != ' ')
        return false;
    char state = p[2];
    long long f[25];
    const char *q = p + 3;
    for (int i = 4; i <= 24; i++) {
        char *end;
        if (*q != ' ')
            return false;
        f[i] = strtoll(q + 1, &end, 10);
        if (end == q + 1)
            return false;
        q = end;
    }
    long long pg = f[5], utime = f[14], stime = f[15], cutime = f[16], cstime = f[17],
              pages = f[24];
    *pgrp = (pid_t)pg;
    *cpu = (double)(utime + stime + cutime + cstime) /
           (double)ticks_per_sec;
    *rss = state == 'Z' ? 0 : pages * page_size;
    return true;
}

static int by_pgid(const void *a, const void *b)
{
    pid_t x = ((const struct usage_entry *)a)->pgid, y = ((const struct usage_entry *)b)->pgid;
    return (x > y) - (x < y);
}

int usage_scan(struct usage_scan *s, const char *root)
{
    s->v = NULL;
    s->n = 0;
    DIR *d = opendir(root ? root : "/proc");
    if (!d)
        return -1;
    size_t cap = 0;
    struct dirent *e;
    char path[512], buf[1024];
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        snprintf(path, sizeof path, "%s/%s/stat", root ? root : "/proc", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;  /* gone since the readdir */
        ssize_t r = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (r <= 0)
            continue;
        buf[r] = '\0';
        struct usage_entry u;
        if (!usage_parse_stat(buf, &u.pgid, &u.cpu, &u.rss))
            continue;
        if (s->n == cap) {
            cap = cap ? cap * 2 : 256;
            s->v = xrealloc(s->v, cap * sizeof *s->v);
        }
        s->v[s->n++] = u;
    }
    closedir(d);
    /* one entry a group: sort, then sum each run */
    qsort(s->v, s->n, sizeof *s->v, by_pgid);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k > 0 && s->v[k - 1].pgid == s->v[i].pgid) {
            s->v[k - 1].cpu += s->v[i].cpu;
            s->v[k - 1].rss += s->v[i].rss;
        } else {
            s->v[k++] = s->v[i];
        }
    }
    s->n = k;
    return 0;
}

bool usage_of(const struct usage_scan *s, pid_t pgid, double *cpu, long long *rss)
{
    struct usage_entry key = {.pgid = pgid};
    const struct usage_entry *u = s->v ? bsearch(&key, s->v, s->n, sizeof *s->v, by_pgid) : NULL;
    if (!u)
        return false;
    *cpu = u->cpu;
    *rss = u->rss;
    return true;
}

void usage_free(struct usage_scan *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* A number after `key` in the small file `name` of cgroup `dir`
 * ("usage_usec" in cpu.stat; NULL key: the file's first number, as
 * memory.current). */
static bool file_number(const char *dir, const char *name, const char *key, long long *v)
{
    char buf[1024];
    int fd = cgroup_open_file(dir, name);
    if (fd < 0)
        return false;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return false;
    buf[r] = '\0';
    const char *p = buf;
    if (key) {
        size_t k = strlen(key);
        for (p = buf; (p = strstr(p, key)); p += k)
            if ((p == buf || p[-1] == '\n') && p[k] == ' ')
                break;
        if (!p)
            return false;
        p += k;
    }
    char *end;
    *v = strtoll(p, &end, 10);
    return end != p;
}

/* The scan usage_status reads from, made again once older than
 * USAGE_FRESH (a process-wide singleton, like /proc itself). */
static struct usage_scan fresh;
static double fresh_at = -1;

static const struct usage_scan *fresh_scan(void)
{
    double now = now_mono();
    if (fresh_at < 0 || now - fresh_at > USAGE_FRESH) {
        usage_free(&fresh);
        usage_scan(&fresh, NULL);  /* when /proc cannot be read: no figures */
        fresh_at = now;
    }
    return &fresh;
}

const struct status *usage_status(const struct status *st, struct status *out)
{
    if (st->pid <= 0 || st->state == ST_PENDING || status_is_terminal(st->state))
        return st;
    *out = *st;
    long long usec, bytes;
    double group_cpu;
    if (st->cgroup && file_number(st->cgroup, "cpu.stat", "usage_usec", &usec)) {
        /* the incarnation's cgroup counts every process it ever held,
         * those that left the process group too (SPEC 10) */
        out->cpu = (double)usec / 1e6;
        if (cgroup_controller("memory") &&
            file_number(st->cgroup, "memory.current", NULL, &bytes)) {
            out->memory = bytes;
            out->has_usage = true;
            return out;
        }
        /* no memory controller: the RSS from /proc */
        out->has_usage = usage_of(fresh_scan(), st->pid, &group_cpu, &out->memory);
        return out;
    }
    /* each incarnation leads its own process group */
    out->has_usage = usage_of(fresh_scan(), st->pid, &out->cpu, &out->memory);
    return out;
}
