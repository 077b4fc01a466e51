/* escalation.c -- scenario 6: escalation to SIGKILL after stop_timeout. */
#include "bench.h"

/* ---- 6. escalation: stop_timeout 200 ms on a child that ignores SIGTERM ---- */

struct esc {
    double el[ESC_N];  /* ms from proc:terminate(0.2) to its answer */
    int n, bad;
    char first_bad[256];
};

/* "tend: esc MS STATE SIGNAL" */
static void esc_line(struct tend *t, const char *line, double tn)
{
    struct esc *e = t->user;
    if (strncmp(line, "tend: esc ", 10) != 0)
        return;
    char state[32] = "", sig[32] = "";
    double ms;
    if (sscanf(line + 10, "%lf %31s %31s", &ms, state, sig) == 3 &&
        strcmp(state, "killed") == 0 && strcmp(sig, "KILL") == 0) {
        if (e->n < ESC_N)
            e->el[e->n++] = ms;
    } else if (!e->bad++) {
        snprintf(e->first_bad, sizeof e->first_bad, "%s", line);
    }
}

void scenario_escalation(void)
{
    struct result *r = new_result("escalation", "max ms over 200", "ms", "<= 5");
    char *err = r->note;
    size_t errsz = sizeof r->note;
    char text[4096];
    struct tend t;
    memset(&t, 0, sizeof t);
    t.fd = t.pidfd = -1;
    struct esc e;
    memset(&e, 0, sizeof e);
    if (!self_path_ok(err, errsz))
        goto out;
    /* The child sets SIGTERM to SIG_IGN, then prints "armed PID": the
     * task waits for that line of this incarnation before each stop, so a
     * TERM can never land before the child ignores it. */
    snprintf(text, sizeof text,
             "local N = %d\n"
             "local p = tend.proc {\n"
             "  name = \"esc\", cmd = { \"%s\", \"--ignore-term\" },\n"
             "  restart = \"never\", stop_timeout = 0.2,\n"
             "}\n"
             "tend.task(function()\n"
             "  for i = 1, N do\n"
             "    p:start()\n"
             "    local want = \"armed \" .. tostring(p:pid()) .. \"\\n\"\n"
             "    local t_arm = tend.now()\n"
             "    while p:tail(\"stdout\", 1) ~= want do\n"
             "      if tend.now() - t_arm > 5 then\n"
             "        tend.log.error(\"esc: the child never armed\")\n"
             "        tend.exit(3)\n"
             "      end\n"
             "      tend.sleep(0.001)\n"
             "    end\n"
             "    local t0 = tend.now()\n"
             "    local st = p:terminate(0.2)\n"
             "    local el = tend.now() - t0\n"
             "    tend.log.info(\"esc %%.3f %%s %%s\", el * 1e3, st.state, tostring(st.signal))\n"
             "  end\n"
             "  tend.exit(0)\n"
             "end)\n",
             ESC_N, self_bin);
    char *policy = write_policy("escalation.lua", text);
    if (!tend_spawn(&t, policy, false, err, errsz))
        goto out;
    t.on_line = esc_line;
    t.user = &e;
    if (!tend_until(&t, has_exited, 60)) {
        snprintf(err, errsz, "tend did not finish %d rounds within 60 s", ESC_N);
        tend_context(&t, err, errsz);
        goto out;
    }
    tend_until(&t, at_eof, 1);
    int z = 0, left = list_children(-1, NULL, 0, &z);
    if (left || z) {
        snprintf(err, errsz, "after tend exited: %d processes still running, %d unreaped",
                 left, z);
        goto out;
    }
    if (!WIFEXITED(t.wstatus) || WEXITSTATUS(t.wstatus) != 0 || e.n != ESC_N || e.bad) {
        snprintf(err, errsz,
                 "%d of %d rounds ended `killed` by KILL; %d otherwise (%s); tend's exit "
                 "status %#x",
                 e.n, ESC_N, e.bad, e.first_bad, t.wstatus);
        tend_context(&t, err, errsz);
        goto out;
    }
    double over[ESC_N];
    for (int i = 0; i < e.n; i++)
        over[i] = e.el[i] - 200;
    double med = median(over, e.n);  /* sorts */
    double mn = over[0], mx = over[e.n - 1];
    r->tend = mx;
    r->v = mx <= 5 && mn >= 0 ? V_OK : V_MISS;
    snprintf(r->note, sizeof r->note,
             "%d rounds of proc:terminate(0.2) on a child ignoring SIGTERM, each `killed` "
             "by KILL; elapsed - 200 ms: median %+.2f, min %+.2f, max %+.2f ms%s",
             e.n, med, mn, mx,
             mn < 0 ? "; a negative figure: SIGKILL came before the 200 ms were up" : "");
    printf("%-10s tend 200 ms %+.2f ms median, %+.2f ms max   (target 200 ms + at most 5 ms)  "
           "%s   [%s]\n",
           r->scenario, med, mx, verdict_name(r->v), r->note);
    fflush(stdout);
out:
    tend_free(&t);
    sweep();
    if (r->v == V_ERROR)
        print_error(r);
}
