/* checks.c -- scenario 8: wakeups of a tcp readiness check. */
#include "bench.h"

/* ---- 8. check-wakeups: a tcp readiness check, before and after ready ---- */

/* "tend: check-wakeups: ready", the policy's "ready" hook */
static void cw_line(struct tend *t, const char *line, double tn)
{
    double *t_ready = t->user;
    if (strcmp(line, "tend: check-wakeups: ready") == 0 && *t_ready == 0)
        *t_ready = tn;
}

static bool cw_is_ready(struct tend *t)
{
    return *(double *)t->user > 0;
}

/* The baseline, a bare checker: every 100 ms a non-blocking connect to
 * 127.0.0.1:port (waiting for its answer in poll), until one succeeds;
 * then nothing but pause().  The child of fork(): it never returns. */
static void cw_bare_checker(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (;;) {
        sleep_s(0.1);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            _exit(1);
        int err = 0;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                struct pollfd pf = {.fd = fd, .events = POLLOUT};
                socklen_t len = sizeof err;
                if (poll(&pf, 1, 5000) != 1 ||
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                    err = ETIMEDOUT;
            }
        }
        close(fd);
        if (err == 0)
            break;
    }
    for (;;)
        pause();
}

/* tend's and the bare checker's counters: voluntary context switches
 * (wakeups), involuntary ones, clock ticks, ns on the CPU */
struct cw_counts {
    long cs, ncs, ticks, bcs, bticks;
    long long ns;
};

static bool cw_sample(pid_t tend, pid_t helper, struct cw_counts *c)
{
    c->cs = status_field(tend, "voluntary_ctxt_switches");
    c->ncs = status_field(tend, "nonvoluntary_ctxt_switches");
    c->ns = sched_ns(tend);
    c->bcs = status_field(helper, "voluntary_ctxt_switches");
    c->ticks = c->bticks = 0;
    return stat_fields(tend, NULL, NULL, &c->ticks) &&
           stat_fields(helper, NULL, NULL, &c->bticks) && c->cs >= 0 && c->bcs >= 0;
}

/* Pump tend's log for `secs` (no sooner: the window is the measure). */
static void cw_pump_for(struct tend *t, double secs)
{
    double end = now() + secs;
    while (now() < end && !t->exited)
        tend_pump(t, end - now());
}

void scenario_check_wakeups(double secs)
{
    struct result *rc = new_result("check-wakeups", "wakeups/s, closed", "wk/s", "about 10/s");
    struct result *rr = new_result("check-wakeups", "ctxsw+ticks, ready", "", "0 and 0");
    char err[2048] = "";
    const double settle = 0.3;
    struct tend t;
    memset(&t, 0, sizeof t);
    t.pid = -1;
    t.fd = t.pidfd = -1;
    double t_ready = 0;

    /* The port: bound by the bench, so that nobody else takes it, and not
     * listening, so that a connect is refused; listen() opens it later. */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t salen = sizeof sa;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0) {
        snprintf(err, sizeof err, "a free port on 127.0.0.1: %s", strerror(errno));
        goto fail;
    }
    int port = ntohs(sa.sin_port);

    char text[1024];
    snprintf(text, sizeof text,
             "local p = tend.proc {\n"
             "  name = \"cw\", cmd = { \"sleep\", \"1000\" },\n"
             "  ready = tend.ready.tcp(%d), ready_interval = 0.1,\n"
             "}\n"
             "p:on(\"ready\", function() tend.log.info(\"check-wakeups: ready\") end)\n",
             port);
    char *policy = write_policy("check-wakeups.lua", text);
    if (!tend_spawn(&t, policy, false, err, sizeof err))
        goto fail;
    t.on_line = cw_line;
    t.user = &t_ready;
    t.target = 1;
    if (!tend_until(&t, reached_target, 10)) {
        snprintf(err, sizeof err, "tend did not start the proc within 10 s");
        tend_context(&t, err, sizeof err);
        goto fail;
    }

    /* the baseline, in the same windows */
    pid_t helper = fork();
    if (helper == 0) {
        setpgid(0, 0);
        close(lfd);
        cw_bare_checker(port);
    }
    if (helper < 0) {
        snprintf(err, sizeof err, "fork: %s", strerror(errno));
        goto fail;
    }
    setpgid(helper, helper);
    g_helper = helper;

    /* window 1: the port is closed, tend checks every 100 ms */
    cw_pump_for(&t, settle);
    struct cw_counts a0, a1, b0, b1;
    long lines0 = t.started + t.ends + t.other;
    if (!cw_sample(t.pid, helper, &a0)) {
        snprintf(err, sizeof err, "tend or the bare checker is gone");
        tend_context(&t, err, sizeof err);
        goto fail;
    }
    double w0 = now();
    cw_pump_for(&t, secs);
    double w1 = now();
    bool got1 = cw_sample(t.pid, helper, &a1);
    long lines1 = t.started + t.ends + t.other;
    if (t.exited || !got1) {
        snprintf(err, sizeof err, "tend exited while the port was closed");
        tend_context(&t, err, sizeof err);
        goto fail;
    }
    if (t_ready > 0) {
        snprintf(err, sizeof err,
                 "tend said the proc was ready while nobody listened on port %d", port);
        tend_context(&t, err, sizeof err);
        goto fail;
    }

    /* the port opens: tend's next check succeeds and the checks stop */
    if (listen(lfd, 16) != 0) {
        snprintf(err, sizeof err, "listen on port %d: %s", port, strerror(errno));
        goto fail;
    }
    double t_listen = now();
    if (!tend_until(&t, cw_is_ready, 5)) {
        snprintf(err, sizeof err, "no \"check-wakeups: ready\" within 5 s of listen()");
        tend_context(&t, err, sizeof err);
        goto fail;
    }

    /* window 2: ready, nothing to check */
    cw_pump_for(&t, settle);
    long lines2 = t.started + t.ends + t.other;
    if (!cw_sample(t.pid, helper, &b0)) {
        snprintf(err, sizeof err, "tend or the bare checker is gone");
        tend_context(&t, err, sizeof err);
        goto fail;
    }
    double v0 = now();
    cw_pump_for(&t, secs);
    double v1 = now();
    bool got2 = cw_sample(t.pid, helper, &b1);
    long lines3 = t.started + t.ends + t.other;
    if (t.exited || !got2) {
        snprintf(err, sizeof err, "tend exited after the proc was ready");
        tend_context(&t, err, sizeof err);
        goto fail;
    }

    double span1 = w1 - w0, span2 = v1 - v0;
    long dcs1 = a1.cs - a0.cs, dtk1 = a1.ticks - a0.ticks, bdcs1 = a1.bcs - a0.bcs;
    long dcs2 = b1.cs - b0.cs, dtk2 = b1.ticks - b0.ticks, bdcs2 = b1.bcs - b0.bcs;
    double rate = dcs1 / span1, brate = bdcs1 / span1;
    rc->tend = rate;
    rc->base = brate;
    rc->ratio = brate > 0 ? rate / brate : NAN;
    rc->v = rate >= 5 && rate <= 20 ? V_OK : V_MISS;
    snprintf(rc->note, sizeof rc->note,
             "tend.ready.tcp(%d), ready_interval 0.1, nobody listening; %ld wakeups in "
             "%.2f s; tend: %ld ticks, %ld involuntary switches, %.0f us on CPU, %ld log "
             "lines; baseline: a bare connect every 100 ms, %ld wakeups, %ld ticks; "
             "ok between 5 and 20/s",
             port, dcs1, span1, dtk1, a1.ncs - a0.ncs,
             a0.ns >= 0 && a1.ns >= 0 ? (a1.ns - a0.ns) / 1e3 : -1.0, lines1 - lines0,
             bdcs1, a1.bticks - a0.bticks);
    printf("%-10s tend %.1f wakeups/s, %ld CPU ticks in %.0f s, port closed   baseline "
           "%.1f/s, %ld   (target about 10/s)  %s   [%s]\n",
           rc->scenario, rate, dtk1, secs, brate, a1.bticks - a0.bticks,
           verdict_name(rc->v), rc->note);

    rr->tend = (double)dcs2;
    rr->base = (double)bdcs2;
    rr->v = dcs2 == 0 && dtk2 == 0 ? V_OK : V_MISS;
    snprintf(rr->note, sizeof rr->note,
             "the bench listens on port %d; the \"ready\" hook logged %.0f ms after "
             "listen(); a %.2f s window from %.1f s after that; tend: %ld ticks, %ld "
             "involuntary switches, %.0f us on CPU, %ld log lines; baseline: %ld ticks",
             port, (t_ready - t_listen) * 1e3, span2, settle, dtk2, b1.ncs - b0.ncs,
             b0.ns >= 0 && b1.ns >= 0 ? (b1.ns - b0.ns) / 1e3 : -1.0, lines3 - lines2,
             b1.bticks - b0.bticks);
    printf("%-10s tend %ld wakeups, %ld CPU ticks in %.0f s, ready   baseline %ld, %ld   "
           "(target 0 and 0)  %s   [%s]\n",
           rr->scenario, dcs2, dtk2, secs, bdcs2, b1.bticks - b0.bticks,
           verdict_name(rr->v), rr->note);
    fflush(stdout);
    tend_stop(&t, 15);
    goto out;
fail:
    results_fail(rc, rr, err);
out:
    if (lfd >= 0)
        close(lfd);
    tend_free(&t);
    sweep();
}
