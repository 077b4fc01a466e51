/* main.c -- `make bench`: tend against the physical baseline.
 *
 *   bench TEND_BINARY          (BENCH_QUICK=1 for a short run,
 *                               BENCH_STRICT=1 to exit 1 on a missed target,
 *                               BENCH_ONLY=churn-hook,latency,... for some only;
 *                               the names: churn, churn-hook, fan-out, idle,
 *                               latency, escalation, fan-out-10k, check-wakeups,
 *                               output, control, metrics)
 *   bench --stamp-exit         (as tend's child in the latency scenario: print
 *                               CLOCK_MONOTONIC seconds, exit 0 at once)
 *   bench --ignore-term        (as tend's child in the escalation scenario:
 *                               ignore SIGTERM, print "armed PID", pause)
 *   bench --write-bytes N      (the writer of the output scenario: N bytes of
 *                               80-byte lines on stdout in 64 KiB writes)
 *
 * Each scenario measures tend and, in the same run, what the machine itself
 * does for the same work with a bare posix_spawn/waitpid loop; it prints
 * both and their ratio.  These are benchmarks, not tests: the waits here
 * are measurement windows.  tend's own log on its stderr (read through a
 * pipe that is drained all the time) is the only thing observed of it.
 *
 * Every process started here is gone at the end of each scenario: the
 * bench is a child subreaper, so whatever tend leaves behind becomes our
 * child, is counted as a leftover, SIGKILLed and reaped.
 *
 * Every tend started here gets `--socket TMPDIR/tend.sock`, a control
 * socket of its own: a tend refuses to start on a socket another one holds,
 * and the run must not depend on whether a tend is running on the machine.
 */
#include "bench.h"

/* ---- the bench binary as a child of tend ---- */

/* --stamp-exit: print this moment's CLOCK_MONOTONIC seconds (the clock of
 * tend.now()) and exit at once. */
static int child_stamp_exit(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
    ssize_t w = write(1, buf, (size_t)n);
    _exit(w == n ? 0 : 1);
}

/* --ignore-term: ignore SIGTERM, say "armed PID", wait for SIGKILL. */
static void child_ignore_term(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGTERM, &sa, NULL);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "armed %d\n", (int)getpid());
    if (write(1, buf, (size_t)n) != n)
        _exit(1);
    for (;;)
        pause();
}

/* ---- the machine ---- */

static void print_machine(void)
{
    cpu_set_t set;
    int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                             : (int)sysconf(_SC_NPROCESSORS_ONLN);
    struct utsname u;
    uname(&u);
    char info[1 << 16], model[256] = "unknown CPU";
    if (read_text("/proc/cpuinfo", info, sizeof info)) {
        static const char *const keys[] = {"model name", "Hardware", "cpu model", "Model"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            char *l = strstr(info, keys[k]);
            char *c = l ? strchr(l, ':') : NULL;
            if (c) {
                c += 1 + strspn(c + 1, " \t");
                snprintf(model, sizeof model, "%.*s", (int)strcspn(c, "\n"), c);
                break;
            }
        }
    }
    char load[128] = "?";
    if (read_text("/proc/loadavg", load, sizeof load))
        load[strcspn(load, "\n")] = 0;
    printf("machine: %d cores, %s %s, %s\n", cores, u.sysname, u.release, model);
    printf("         load average %s; RLIMIT_NOFILE %llu; tend %s\n", load,
           (unsigned long long)fd_limit, tend_bin);
    if (atof(load) > cores)
        printf("         note: load %.2f on %d cores: other work will add noise\n",
               atof(load), cores);
}

static void print_summary(void)
{
    printf("\nsummary\n");
    printf("%-13s %-22s %12s %12s %7s  %-10s %s\n", "scenario", "metric", "tend",
           "baseline", "ratio", "target", "result");
    for (int i = 0; i < nresults; i++) {
        const struct result *r = &results[i];
        char a[32] = "-", b[32] = "-", c[32] = "-";
        int prec = strcmp(r->unit, "s") == 0     ? 3
                   : strcmp(r->unit, "ms") == 0  ? 2
                   : strcmp(r->unit, "KiB") == 0 ? 2
                   : strcmp(r->unit, "MiB") == 0 ? 1
                   : strcmp(r->unit, "wk/s") == 0 ? 1
                                                 : 0;
        if (!isnan(r->tend))
            snprintf(a, sizeof a, "%.*f", prec, r->tend);
        if (!isnan(r->base))
            snprintf(b, sizeof b, "%.*f", prec, r->base);
        if (!isnan(r->ratio))
            snprintf(c, sizeof c, "%.2f", r->ratio);
        printf("%-13s %-22s %12s %12s %7s  %-10s %s\n", r->scenario, r->metric, a, b, c,
               r->target, verdict_name(r->v));
    }
}

static void remove_tmpdir(void)
{
    if (!tmpdir[0])
        return;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        char path[600];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
                unlink(path);
            }
        closedir(d);
    }
    rmdir(tmpdir);
}

/* BENCH_ONLY=name,name: only those scenarios (for a closer look at one). */
static bool run_it(const char *name)
{
    const char *only = getenv("BENCH_ONLY");
    if (!only || !*only)
        return true;
    size_t k = strlen(name);
    for (const char *p = only; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ','))
        if (strncmp(p, name, k) == 0 && (p[k] == ',' || p[k] == 0))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    /* the child modes of the latency and escalation scenarios */
    if (argc == 2 && strcmp(argv[1], "--stamp-exit") == 0)
        return child_stamp_exit();
    if (argc == 2 && strcmp(argv[1], "--ignore-term") == 0)
        child_ignore_term();
    if (argc == 3 && strcmp(argv[1], "--write-bytes") == 0)
        return child_write_bytes(argv[2]);
    if (argc != 2 || argv[1][0] == '-')
        die("usage: bench TEND_BINARY   (BENCH_QUICK=1: short run)");
    tend_bin = argv[1];
    if (access(tend_bin, X_OK) != 0)
        die("%s: %s", tend_bin, strerror(errno));
    ssize_t sl = readlink("/proc/self/exe", self_bin, sizeof self_bin - 1);
    if (sl <= 0 || (size_t)sl >= sizeof self_bin - 1)
        die("cannot find this program's own path (/proc/self/exe)");
    self_bin[sl] = 0;
    const char *q = getenv("BENCH_QUICK");
    quick = q && *q && strcmp(q, "0") != 0;
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);  /* reset to default in every child */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
    raise_fd_limit();

    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/tend-bench-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir))
        die("mkdtemp %s: %s", tmpdir, strerror(errno));
    atexit(remove_tmpdir);
    /* tend's control socket: our own, never the default one */
    if ((size_t)snprintf(sock_path, sizeof sock_path, "%s/tend.sock", tmpdir) >=
        sizeof sock_path)
        die("%s/tend.sock is too long for a unix socket path (at most %zu bytes): "
            "set TMPDIR to a shorter directory", tmpdir, sizeof sock_path - 1);

    double window = quick ? 3 : 10;
    int reps = quick ? 3 : 5;
    int big = quick ? FANOUT_BIG_QUICK : FANOUT_BIG, big_reps = quick ? 1 : 3;
    print_machine();
    double cw_window = quick ? 1 : 2;
    unsigned long long out_bytes = quick ? OUT_BYTES_QUICK : OUT_BYTES;
    int out_reps = quick ? 3 : 5;
    printf("mode:    %s (churn and idle windows %.0f s, fan-out %d procs x %d, "
           "fan-out-10k %d procs x %d, latency %d exits, escalation %d rounds, "
           "check-wakeups windows %.0f s, output %llu MiB x %d, control up to %d procs)\n\n",
           quick ? "quick" : "full", window, FANOUT_N, reps, big, big_reps, LAT_N, ESC_N,
           cw_window, out_bytes >> 20, out_reps, big);

    if (run_it("churn"))
        scenario_churn(window);
    if (run_it("churn-hook"))
        scenario_churn_hook(window);
    if (run_it("fan-out")) {
        scenario_fanout(reps);
        scenario_fanout_nocg(reps);
    }
    if (run_it("idle"))
        scenario_idle(window);
    if (run_it("latency"))
        scenario_latency();
    if (run_it("escalation"))
        scenario_escalation();
    if (run_it("fan-out-10k"))
        scenario_fanout_big(big, big_reps);
    if (run_it("check-wakeups"))
        scenario_check_wakeups(cw_window);
    if (run_it("output"))
        scenario_output(out_bytes, out_reps);
    if (run_it("control"))
        scenario_control(big);
    if (run_it("metrics"))
        scenario_metrics(window);
    print_summary();

    int errors = 0, misses = 0, infos = 0;
    for (int i = 0; i < nresults; i++) {
        errors += results[i].v == V_ERROR;
        misses += results[i].v == V_MISS;
        infos += results[i].v == V_INFO;
    }
    printf("\n%d of %d targets met", nresults - infos - errors - misses, nresults - infos);
    if (misses)
        printf(", %d missed", misses);
    if (errors)
        printf(", %d could not be measured", errors);
    printf("\n");
    const char *strict = getenv("BENCH_STRICT");
    if (errors)
        return 1;
    return misses && strict && *strict && strcmp(strict, "0") != 0 ? 1 : 0;
}
