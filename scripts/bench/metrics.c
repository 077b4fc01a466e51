/* metrics.c -- scenario 11: the --metrics endpoint with 1,000 procs.
 *
 * Two figures: the wake-ups of tend while the endpoint listens and nobody
 * scrapes (target 0, as the idle scenario), and the CPU time tend's loop
 * spends on one scrape of /metrics (its schedstat time over a series of
 * scrapes, divided; target <= 20 ms).  The scrape is a plain HTTP/1.0 GET
 * on a new connection, read to the end. */
#include "bench.h"

#define METRICS_N 1000
#define SCRAPES 20

static int metrics_port = -1;

static void port_line(struct tend *t, const char *line, double tn)
{
    const char *p = strstr(line, "metrics: http://127.0.0.1:");
    if (p)
        metrics_port = atoi(p + strlen("metrics: http://127.0.0.1:"));
}

static bool has_port(struct tend *t)
{
    return metrics_port > 0 || t->exited;
}

/* One GET /metrics; the bytes of the whole answer, or -1 with err set. */
static long scrape(char *err, size_t errsz)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)metrics_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(err, errsz, "connect 127.0.0.1:%d: %s", metrics_port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
        snprintf(err, errsz, "write: %s", strerror(errno));
        close(fd);
        return -1;
    }
    static char buf[1 << 16];
    long total = 0;
    ssize_t n;
    bool ok = false;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        if (total == 0)
            ok = strncmp(buf, "HTTP/1.", 7) == 0 && strstr(buf, " 200 ") != NULL;
        total += n;
    }
    close(fd);
    if (!ok) {
        snprintf(err, errsz, "GET /metrics did not answer 200 (%ld bytes)", total);
        return -1;
    }
    return total;
}

void scenario_metrics(double secs)
{
    struct result *ri = new_result("metrics", "idle ctxsw, --metrics", "", "0");
    struct result *rs = new_result("metrics", "ms CPU/scrape, 1000", "ms", "<= 20 ms");
    char *err = rs->note;
    size_t errsz = sizeof rs->note;
    struct tend t;
    memset(&t, 0, sizeof t);
    t.fd = t.pidfd = -1;
    if (!fd_limit_ok("metrics", METRICS_N, err, errsz))
        goto out;
    char *policy = fanout_policy(METRICS_N);
    tend_extra_args[0] = "--metrics";
    tend_extra_args[1] = "0";
    metrics_port = -1;
    bool spawned = tend_spawn(&t, policy, false, err, errsz);
    tend_extra_args[0] = tend_extra_args[1] = NULL;
    if (!spawned)
        goto out;
    t.on_line = port_line;
    t.target = METRICS_N;
    if (!tend_until(&t, reached_target, 30) || !tend_until(&t, has_port, 5) ||
        metrics_port <= 0) {
        snprintf(err, errsz, "%ld of %d procs started, metrics port %d", t.started,
                 METRICS_N, metrics_port);
        tend_context(&t, err, errsz);
        goto out;
    }

    /* idle: listening, nobody scraping */
    double settle = now() + 0.5;
    while (now() < settle && !t.exited)
        tend_pump(&t, settle - now());
    long cs0 = status_field(t.pid, "voluntary_ctxt_switches");
    double end = now() + secs;
    while (now() < end && !t.exited)
        tend_pump(&t, end - now());
    long cs1 = status_field(t.pid, "voluntary_ctxt_switches");
    if (t.exited || cs0 < 0 || cs1 < 0) {
        snprintf(err, errsz, "tend exited during the idle window");
        tend_context(&t, err, errsz);
        goto out;
    }
    ri->tend = (double)(cs1 - cs0);
    ri->v = cs1 == cs0 ? V_OK : V_MISS;
    snprintf(ri->note, sizeof ri->note, "%d procs, %.0f s, --metrics listening", METRICS_N,
             secs);
    printf("%-10s tend %ld wakeups in %.0f s with --metrics and nobody scraping "
           "(target 0)  %s\n", ri->scenario, cs1 - cs0, secs, verdict_name(ri->v));

    /* scrapes */
    double wall[SCRAPES];
    long bytes = 0;
    long long ns0 = sched_ns(t.pid);
    for (int i = 0; i < SCRAPES; i++) {
        double t0 = now();
        if ((bytes = scrape(err, errsz)) < 0)
            goto out;
        wall[i] = (now() - t0) * 1e3;
    }
    long long ns1 = sched_ns(t.pid);
    if (ns0 < 0 || ns1 < 0) {
        snprintf(err, errsz, "tend's /proc/PID/schedstat cannot be read");
        goto out;
    }
    rs->tend = (double)(ns1 - ns0) / 1e6 / SCRAPES;
    rs->v = rs->tend <= 20 ? V_OK : V_MISS;
    snprintf(rs->note, sizeof rs->note,
             "tend's CPU time over %d scrapes of %ld bytes, divided; wall time median "
             "%.1f ms", SCRAPES, bytes, median(wall, SCRAPES));
    printf("%-10s tend %.2f ms of CPU a scrape of %d procs   (target <= 20 ms)  %s   [%s]\n",
           rs->scenario, rs->tend, METRICS_N, verdict_name(rs->v), rs->note);
    tend_stop(&t, 30);
out:
    tend_free(&t);
    sweep();
    if (ri->v == V_ERROR) {
        if (!ri->note[0])
            snprintf(ri->note, sizeof ri->note, "%s", rs->note);
        print_error(ri);
    }
    if (rs->v == V_ERROR)
        print_error(rs);
}
