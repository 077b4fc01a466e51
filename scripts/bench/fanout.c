/* fanout.c -- scenarios 2, 3 and 7: fan-out, stop-all and memory (1,000 and 10,000 procs). */
#include "bench.h"

/* ---- 2 and 3. fan-out, stop-all and memory ---- */

struct fan {
    double start, stop;    /* seconds */
    double rate_first, rate_last;  /* starts/s over the first and the last tenth */
    long rss_kib, hwm_kib;
    long leftovers, zombies, ends;
};

/* The spawn rate over the first and the last tenth of the children `pids`
 * (from their start times in /proc, in clock ticks: 10 ms or so). */
static void start_rates(const pid_t *pids, long n, double *first, double *last)
{
    double *st = malloc((size_t)(n > 0 ? n : 1) * sizeof *st);
    long m = 0;
    if (!st)
        die("out of memory");
    for (long i = 0; i < n; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pids[i]);
        if (!read_text(path, buf, sizeof buf))
            continue;
        char *p = strrchr(buf, ')');
        for (int k = 0; p && k < 20; k++)  /* to field 22, starttime */
            p = strchr(p + 1, ' ');
        if (p)
            st[m++] = strtod(p + 1, NULL);
    }
    *first = *last = 0;
    if (m >= 100) {
        qsort(st, (size_t)m, sizeof *st, cmp_double);
        double hz = (double)sysconf(_SC_CLK_TCK);
        long k = m / 10;
        *first = (double)(k - 1) / (fmax(st[k - 1] - st[0], 1) / hz);
        *last = (double)(k - 1) / (fmax(st[m - 1] - st[m - k], 1) / hz);
    }
    free(st);
}

/* One tend run with n idle procs: start, RSS, stop, leftovers. */
static bool fan_tend(int n, struct fan *f, char *err, size_t errsz)
{
    memset(f, 0, sizeof *f);
    char *policy = fanout_policy(n);
    struct tend t;
    bool ok = false;
    if (!tend_spawn(&t, policy, true, err, errsz))
        goto out;
    t.target = n;
    if (!tend_until(&t, reached_target, 60)) {
        snprintf(err, errsz, "only %ld of %d procs started within 60 s", t.started, n);
        tend_context(&t, err, errsz);
        goto out;
    }
    f->start = t.t_target - t.t_spawn;
    /* settle (still draining), then the memory of tend holding n procs */
    double settle = now() + 0.2;
    while (now() < settle && !t.exited)
        tend_pump(&t, settle - now());
    f->rss_kib = status_field(t.pid, "VmRSS");
    f->hwm_kib = status_field(t.pid, "VmHWM");
    /* tend logs `started` in bursts, after a whole batch of spawns: the
     * children's own start times say how fast the spawns went */
    if (n >= 100)
        start_rates(t.pids, t.npids, &f->rate_first, &f->rate_last);
    if (t.exited) {
        snprintf(err, errsz, "tend exited with its procs running");
        tend_context(&t, err, errsz);
        goto out;
    }
    long ends0 = t.ends;
    f->stop = tend_stop(&t, 60);
    if (f->stop < 0) {
        snprintf(err, errsz, "tend did not exit within 60 s of SIGTERM");
        goto out;
    }
    f->ends = t.ends - ends0;
    /* all gone?  tend is reaped; as subreaper we inherit what it left */
    int z = 0;
    f->leftovers = list_children(-1, NULL, 0, &z);
    f->zombies = z;
    /* and no `sleep 1000` of this run anywhere else */
    for (long i = 0; i < t.npids; i++) {
        char path[64], buf[64], state = 0;
        long ppid = 0;
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)t.pids[i]);
        if (read_text(path, buf, sizeof buf) && strcmp(buf, "sleep") == 0 &&
            strcmp(buf + 6, "1000") == 0 && stat_fields(t.pids[i], &state, &ppid, NULL) &&
            state != 'Z' && ppid != getpid())
            f->leftovers++;
    }
    if (f->leftovers || f->zombies || f->ends != n) {
        snprintf(err, errsz,
                 "after tend exited: %ld procs still running, %ld unreaped; "
                 "tend logged %ld of %d exits",
                 f->leftovers, f->zombies, f->ends, n);
        tend_context(&t, err, errsz);
        goto out;
    }
    ok = true;
out:
    tend_free(&t);
    sweep();
    return ok;
}

/* The baseline: posix_spawn n `sleep 1000`, then SIGTERM and reap them. */
static double base_rate_first, base_rate_last;  /* as struct fan's, of the last run */

static bool fan_base(int n, double *start, double *stop, char *err, size_t errsz)
{
    char *argv[] = {"sleep", "1000", NULL};
    bool ok = false;
    g_nbase = 0;
    double t0 = now(), tk1 = 0, tk2 = 0;
    int k = n / 10;
    for (int i = 0; i < n; i++) {
        if (i == k)
            tk1 = now();
        if (i == n - k)
            tk2 = now();
        int rc = spawn_bare(&g_base[i], "sleep", argv);
        if (rc != 0) {
            snprintf(err, errsz, "baseline: posix_spawn sleep #%d: %s", i + 1, strerror(rc));
            goto out;
        }
        g_nbase = i + 1;
    }
    double t1 = now();
    if (k > 0) {
        base_rate_first = k / (tk1 - t0);
        base_rate_last = k / (t1 - tk2);
    }
    for (int i = 0; i < n; i++)
        kill(g_base[i], SIGTERM);
    for (int i = 0; i < n; i++)
        waitpid(g_base[i], NULL, 0);
    double t2 = now();
    g_nbase = 0;
    *start = t1 - t0;
    *stop = t2 - t1;
    ok = true;
out:
    sweep();
    return ok;
}

/* `reps` rounds of tend and the bare loop with n procs, in alternating
 * order so that neither always runs on a fresh machine: start and stop
 * times of each, tend's largest RSS and high-water mark, and tend's last
 * round in *last. */
static bool fan_rounds(int n, int reps, double *ts, double *tk, double *bsv, double *bkv,
                       long *rss, long *hwm, struct fan *last, char *err, size_t errsz)
{
    struct fan f = {0};
    for (int i = 0; i < reps; i++) {
        if (i % 2 == 0) {
            if (!fan_tend(n, &f, err, errsz) || !fan_base(n, &bsv[i], &bkv[i], err, errsz))
                return false;
        } else {
            if (!fan_base(n, &bsv[i], &bkv[i], err, errsz) || !fan_tend(n, &f, err, errsz))
                return false;
        }
        ts[i] = f.start;
        tk[i] = f.stop;
        if (f.rss_kib > *rss)
            *rss = f.rss_kib;
        if (f.hwm_kib > *hwm)
            *hwm = f.hwm_kib;
    }
    *last = f;
    return true;
}

/* The start and stop results of a fan-out of n procs: medians of reps
 * runs against the baseline's, a ratio of at most `limit` to pass;
 * tail_s and tail_k end the two notes. */
static void fan_report(struct result *rs, struct result *rk, int n, int reps, double limit,
                       double *ts, double *tk, double *bsv, double *bkv, const char *tail_s,
                       const char *tail_k)
{
    char spread_s[64], spread_k[64];
    spread_note(spread_s, sizeof spread_s, ts, reps);
    spread_note(spread_k, sizeof spread_k, tk, reps);
    rs->tend = median(ts, reps);
    rs->base = median(bsv, reps);
    rs->ratio = rs->tend / rs->base;
    rs->v = rs->ratio <= limit ? V_OK : V_MISS;
    snprintf(rs->note, sizeof rs->note, "%sfrom exec of tend to the %dth `started`%s",
             spread_s, n, tail_s);
    printf("%-10s tend %.3f s to start %d   baseline %.3f s   ratio %.2f  "
           "(target <= %.1f)  %s   [%s]\n",
           rs->scenario, rs->tend, n, rs->base, rs->ratio, limit, verdict_name(rs->v),
           rs->note);

    rk->tend = median(tk, reps);
    rk->base = median(bkv, reps);
    rk->ratio = rk->tend / rk->base;
    rk->v = rk->ratio <= limit ? V_OK : V_MISS;
    snprintf(rk->note, sizeof rk->note,
             "%sSIGTERM to tend's exit; all %d exits logged, none left%s", spread_k, n,
             tail_k);
    printf("%-10s tend %.3f s to stop %d    baseline %.3f s   ratio %.2f  "
           "(target <= %.1f)  %s   [%s]\n",
           rk->scenario, rk->tend, n, rk->base, rk->ratio, limit, verdict_name(rk->v),
           rk->note);
}

void scenario_fanout(int reps)
{
    struct result *rs = new_result("fan-out", "s to start 1000", "s", "<= 2.0");
    struct result *rk = new_result("stop-all", "s to stop 1000", "s", "<= 2.0");
    struct result *rm = new_result("memory", "RSS, 1000 procs", "MiB", "< 16 MiB");
    char err[2048] = "";
    if (!fd_limit_ok("fan-out", FANOUT_N, err, sizeof err))
        goto fail;

    /* a warm-up of both, not counted: page cache, PATH lookup, pid space */
    struct fan f;
    double bs, bk;
    if (!fan_base(50, &bs, &bk, err, sizeof err) || !fan_tend(50, &f, err, sizeof err))
        goto fail;

    double ts[8], tk[8], bsv[8], bkv[8];
    long rss = 0, hwm = 0;
    if (!fan_rounds(FANOUT_N, reps, ts, tk, bsv, bkv, &rss, &hwm, &f, err, sizeof err))
        goto fail;
    /* memory reference: the same policy with one proc */
    struct fan one;
    if (!fan_tend(1, &one, err, sizeof err))
        goto fail;

    fan_report(rs, rk, FANOUT_N, reps, 2.0, ts, tk, bsv, bkv, "", "");

    rm->tend = rss / 1024.0;
    rm->base = one.rss_kib / 1024.0;
    rm->ratio = rm->tend / rm->base;
    rm->v = rm->tend < 16 ? V_OK : V_MISS;
    snprintf(rm->note, sizeof rm->note,
             "baseline: tend with 1 proc; %.1f KiB a proc; VmHWM %.1f MiB",
             (double)(rss - one.rss_kib) / (FANOUT_N - 1), hwm / 1024.0);
    printf("%-10s tend %.1f MiB RSS with %d procs   baseline %.1f MiB   ratio %.2f  "
           "(target < 16 MiB)  %s   [%s]\n",
           rm->scenario, rm->tend, FANOUT_N, rm->base, rm->ratio, verdict_name(rm->v),
           rm->note);
    fflush(stdout);
    return;
fail:
    results_fail(rs, rm, err);
}

/* The same starts and stops with tend's cgroups off (TEND_CGROUPS=0), for
 * the figures side by side (a cgroup per incarnation costs a mkdir, a
 * move and an rmdir). */
void scenario_fanout_nocg(int reps)
{
    struct result *rs = new_result("fan-out", "s to start 1000, no cg", "s", "<= 2.0");
    struct result *rk = new_result("stop-all", "s to stop 1000, no cg", "s", "<= 2.0");
    char err[2048] = "";
    char *saved = cgroups_off();
    double ts[8], tk[8], bsv[8], bkv[8];
    long rss = 0, hwm = 0;
    struct fan f;
    bool ok = fd_limit_ok("fan-out", FANOUT_N, err, sizeof err) &&
              fan_rounds(FANOUT_N, reps, ts, tk, bsv, bkv, &rss, &hwm, &f, err, sizeof err);
    cgroups_back(saved);
    if (ok)
        fan_report(rs, rk, FANOUT_N, reps, 2.0, ts, tk, bsv, bkv, "", "");
    else
        results_fail(rs, rk, err);
}

/* ---- 7. fan-out, stop-all and memory with 10,000 procs ---- */

/* The most idle procs, up to `want`, that tend can hold under the fd limit
 * (as fd_limit_ok counts, in hundreds); when fewer than `want`, a NOTE
 * saying why, printed and kept in `note`. */
int procs_that_fit(const char *scenario, int want, char *note, size_t notesz)
{
    int n = want;
    note[0] = 0;
    rlim_t fits = fd_limit > 64 ? (fd_limit - 64) / 3 : 0;  /* as fd_limit_ok counts */
    if ((rlim_t)n > fits) {
        n = (int)(fits / 100 * 100);
        snprintf(note, notesz,
                 "RLIMIT_NOFILE is %llu and its hard limit cannot be raised here; "
                 "%d procs need %llu fds in tend (the stdout, stderr and exec-confirm pipes "
                 "of each proc while it starts); ran %d procs, the most that fit",
                 (unsigned long long)fd_limit, want, (unsigned long long)want * 3 + 64, n);
        printf("%s NOTE: %s\n", scenario, note);
    }
    return n;
}

void scenario_fanout_big(int want, int reps)
{
    static char m_start[32], m_stop[32];
    char limit_note[512];
    int n = procs_that_fit("fan-out-10k", want, limit_note, sizeof limit_note);
    snprintf(m_start, sizeof m_start, "s to start %d", n);
    snprintf(m_stop, sizeof m_stop, "s to stop %d", n);
    struct result *rs = new_result("fan-out-10k", m_start, "s", "<= 1.5");
    struct result *rk = new_result("stop-10k", m_stop, "s", "<= 1.5");
    struct result *rp = new_result("memory-10k", "KiB a proc", "KiB", "<= 4 KiB");
    struct result *rm = new_result("memory-10k", "MiB, 10000 procs", "MiB", "<= 64 MiB");
    char err[2048] = "";
    if (n < 100) {
        snprintf(err, sizeof err, "%s", limit_note);
        goto fail;
    }
    if (!fd_limit_ok("fan-out-10k", n, err, sizeof err))
        goto fail;

    double ts[8], tk[8], bsv[8], bkv[8];
    long rss = 0, hwm = 0;
    struct fan f;
    if (!fan_rounds(n, reps, ts, tk, bsv, bkv, &rss, &hwm, &f, err, sizeof err))
        goto fail;
    /* the cost of a spawn as the number of procs grows (the last run) */
    char rates[200] = "";
    if (f.rate_first > 0 && base_rate_first > 0)
        snprintf(rates, sizeof rates,
                 "; starts/s over the first and last tenth: tend %.0f -> %.0f, "
                 "baseline %.0f -> %.0f",
                 f.rate_first, f.rate_last, base_rate_first, base_rate_last);
    struct fan one;
    if (!fan_tend(1, &one, err, sizeof err))
        goto fail;

    /* why fewer than 10,000: the quick mode, or the fd limit */
    const char *why = limit_note[0] ? "the fd limit (see the NOTE)" : "the quick mode";
    char count_note[128] = "";
    if (n != FANOUT_BIG)
        snprintf(count_note, sizeof count_note, "; %d procs, not %d: %s", n, FANOUT_BIG,
                 why);
    char start_tail[400];
    snprintf(start_tail, sizeof start_tail, "%s%s", rates, count_note);
    fan_report(rs, rk, n, reps, 1.5, ts, tk, bsv, bkv, start_tail, count_note);

    double per = (double)(rss - one.rss_kib) / (n - 1);
    double total = n == FANOUT_BIG ? rss / 1024.0
                                   : (one.rss_kib + per * (FANOUT_BIG - 1)) / 1024.0;
    rp->tend = per;
    rp->v = per <= 4 ? V_OK : V_MISS;
    snprintf(rp->note, sizeof rp->note,
             "(RSS with %d procs %.1f MiB - RSS with 1 proc %.1f MiB) / %d; VmHWM %.1f MiB",
             n, rss / 1024.0, one.rss_kib / 1024.0, n - 1, hwm / 1024.0);
    printf("%-10s tend %.2f KiB a proc   (target <= 4 KiB)  %s   [%s]\n", rp->scenario, per,
           verdict_name(rp->v), rp->note);
    rm->tend = total;
    rm->base = one.rss_kib / 1024.0;
    rm->ratio = rm->tend / rm->base;
    rm->v = total <= 64 ? V_OK : V_MISS;
    if (n == FANOUT_BIG)
        snprintf(rm->note, sizeof rm->note, "measured with %d procs; baseline: 1 proc", n);
    else
        snprintf(rm->note, sizeof rm->note,
                 "PROJECTED to %d procs from %d (1-proc RSS + %d x %.2f KiB), %d because of "
                 "%s; measured %.1f MiB with %d",
                 FANOUT_BIG, n, FANOUT_BIG - 1, per, n, why, rss / 1024.0, n);
    printf("%-10s tend %.1f MiB RSS with %d procs%s   baseline %.1f MiB (1 proc)  "
           "(target <= 64 MiB)  %s   [%s]\n",
           rm->scenario, total, FANOUT_BIG, n == FANOUT_BIG ? "" : " (projected)", rm->base,
           verdict_name(rm->v), rm->note);
    fflush(stdout);
    return;
fail:
    results_fail(rs, rm, err);
}
