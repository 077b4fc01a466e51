/* idle.c -- scenario 4: idle wakeups. */
#include "bench.h"

/* ---- 4. idle ---- */

void scenario_idle(double secs)
{
    struct result *r = new_result("idle", "ctxsw+ticks", "", "0 and 0");
    char *err = r->note;
    size_t errsz = sizeof r->note;
    struct tend t;
    memset(&t, 0, sizeof t);
    t.fd = t.pidfd = -1;
    if (!fd_limit_ok("idle", IDLE_N, err, errsz))
        goto out;
    char *policy = fanout_policy(IDLE_N);
    if (!tend_spawn(&t, policy, false, err, errsz))
        goto out;
    t.target = IDLE_N;
    if (!tend_until(&t, reached_target, 30)) {
        snprintf(err, errsz, "only %ld of %d procs started within 30 s", t.started, IDLE_N);
        tend_context(&t, err, errsz);
        goto out;
    }

    /* the baseline, in the same window: a bare supervisor, blocked in
     * waitpid with the same number of idle children */
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) {
        snprintf(err, errsz, "pipe: %s", strerror(errno));
        goto out;
    }
    pid_t helper = fork();
    if (helper == 0) {
        setpgid(0, 0);
        close(ready[0]);
        char *argv[] = {"sleep", "1000", NULL};
        for (int i = 0; i < IDLE_N; i++) {
            pid_t pid;
            if (spawn_bare(&pid, "sleep", argv) != 0)
                _exit(1);
        }
        close(ready[1]);
        for (;;)
            waitpid(-1, NULL, 0);
    }
    close(ready[1]);
    if (helper < 0) {
        close(ready[0]);
        snprintf(err, errsz, "fork: %s", strerror(errno));
        goto out;
    }
    setpgid(helper, helper);
    g_helper = helper;
    char c;
    while (read(ready[0], &c, 1) < 0 && errno == EINTR)
        ;
    close(ready[0]);

    /* let both settle (tend finishes its writes and goes to sleep) */
    double settle = now() + 0.5;
    while (now() < settle && !t.exited)
        tend_pump(&t, settle - now());
    long lines0 = t.started + t.ends + t.other;
    long cs0 = status_field(t.pid, "voluntary_ctxt_switches");
    long ncs0 = status_field(t.pid, "nonvoluntary_ctxt_switches");
    long tk0 = 0, tk1 = 0, btk0 = 0, btk1 = 0;
    stat_fields(t.pid, NULL, NULL, &tk0);
    long long ns0 = sched_ns(t.pid);
    long bcs0 = status_field(helper, "voluntary_ctxt_switches");
    stat_fields(helper, NULL, NULL, &btk0);

    double end = now() + secs;
    while (now() < end && !t.exited)
        tend_pump(&t, end - now());

    long cs1 = status_field(t.pid, "voluntary_ctxt_switches");
    long ncs1 = status_field(t.pid, "nonvoluntary_ctxt_switches");
    stat_fields(t.pid, NULL, NULL, &tk1);
    long long ns1 = sched_ns(t.pid);
    long bcs1 = status_field(helper, "voluntary_ctxt_switches");
    stat_fields(helper, NULL, NULL, &btk1);
    if (t.exited || cs0 < 0 || cs1 < 0) {
        snprintf(err, errsz, "tend exited during the idle window");
        tend_context(&t, err, errsz);
        goto out;
    }
    long dcs = cs1 - cs0, dtk = tk1 - tk0, bdcs = bcs1 - bcs0, bdtk = btk1 - btk0;
    long dlines = t.started + t.ends + t.other - lines0;
    r->tend = (double)dcs;
    r->base = (double)bdcs;
    r->v = dcs == 0 && dtk == 0 ? V_OK : V_MISS;
    snprintf(r->note, sizeof r->note,
             "%d procs, %.0f s; tend: %ld ticks, %ld involuntary switches, %.0f us on CPU, "
             "%ld log lines; baseline: %ld ticks",
             IDLE_N, secs, dtk, ncs1 - ncs0, ns0 >= 0 && ns1 >= 0 ? (ns1 - ns0) / 1e3 : -1.0,
             dlines, bdtk);
    printf("%-10s tend %ld wakeups, %ld CPU ticks in %.0f s   baseline %ld, %ld   "
           "(target 0 and 0)  %s   [%s]\n",
           r->scenario, dcs, dtk, secs, bdcs, bdtk, verdict_name(r->v), r->note);
    fflush(stdout);
    tend_stop(&t, 30);
out:
    tend_free(&t);
    sweep();
    if (r->v == V_ERROR)
        print_error(r);
}
