/* latency.c -- scenario 5: latency from a child's exit to the Lua hook. */
#include "bench.h"

/* ---- 5. latency: child exit -> Lua hook ---- */

struct samples {
    double *v;
    int n, cap, bad;
    const char *tag;  /* the log line's prefix, "tend: lat " */
    char first_bad[256];
};

static void samples_line(struct tend *t, const char *line, double tn)
{
    struct samples *s = t->user;
    size_t k = strlen(s->tag);
    if (strncmp(line, s->tag, k) != 0)
        return;
    char *end;
    double v = strtod(line + k, &end);
    if (end == line + k || !isfinite(v)) {
        if (!s->bad++)
            snprintf(s->first_bad, sizeof s->first_bad, "%s", line);
    } else if (s->n < s->cap) {
        s->v[s->n++] = v;
    }
}

/* The nearest-rank percentile of sorted v[0..n-1]. */
static double pct(const double *v, int n, double p)
{
    int k = (int)ceil(p * n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

void scenario_latency(void)
{
    struct result *r = new_result("latency", "p99 us", "us", "<= 1000");
    char *err = r->note;
    size_t errsz = sizeof r->note;
    const double delay = 0.002;  /* between incarnations: each exit meets a quiet tend */
    char text[4096];
    struct tend t;
    memset(&t, 0, sizeof t);
    t.fd = t.pidfd = -1;
    struct samples s = {.cap = LAT_N, .tag = "tend: lat "};
    s.v = calloc(LAT_N, sizeof *s.v);
    if (!s.v)
        die("out of memory");
    if (!self_path_ok(err, errsz))
        goto out;
    /* the child prints its CLOCK_MONOTONIC time and exits at once; the hook
     * reads it back from the proc's stdout tail; tend.now() is
     * CLOCK_MONOTONIC too */
    snprintf(text, sizeof text,
             "local n, N = 0, %d\n"
             "local p = tend.proc {\n"
             "  name = \"lat\", cmd = { \"%s\", \"--stamp-exit\" }, restart = \"always\",\n"
             "  backoff = { initial = %g, factor = 1, max = %g, jitter = 0 },\n"
             "  give_up = false,\n"
             "}\n"
             "p:on(\"stopped\", function(p, st, prev)\n"
             "  local t = tend.now()\n"
             "  local line = p:tail(\"stdout\", 1)\n"
             "  local stamp = tonumber(line)\n"
             "  if stamp then\n"
             "    tend.log.info(\"lat %%.3f\", (t - stamp) * 1e6)\n"
             "  else\n"
             "    tend.log.info(\"lat bad stdout %%q\", line)\n"
             "  end\n"
             "  n = n + 1\n"
             "  if n >= N then tend.exit(0) end\n"
             "end)\n",
             LAT_N, self_bin, delay, delay);
    char *policy = write_policy("latency.lua", text);
    if (!tend_spawn(&t, policy, false, err, errsz))
        goto out;
    t.on_line = samples_line;
    t.user = &s;
    if (!tend_until(&t, has_exited, 120)) {
        snprintf(err, errsz, "tend did not finish %d exits within 120 s (%d samples)", LAT_N,
                 s.n);
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
    if (!WIFEXITED(t.wstatus) || WEXITSTATUS(t.wstatus) != 0 || s.n + s.bad != LAT_N ||
        s.bad) {
        snprintf(err, errsz, "%d samples, %d unreadable (%s) of %d; tend's exit status %#x",
                 s.n, s.bad, s.first_bad, LAT_N, t.wstatus);
        tend_context(&t, err, errsz);
        goto out;
    }
    qsort(s.v, (size_t)s.n, sizeof *s.v, cmp_double);
    double p50 = pct(s.v, s.n, 0.5), p90 = pct(s.v, s.n, 0.9), p99 = pct(s.v, s.n, 0.99),
           mx = s.v[s.n - 1];
    long over = 0;
    for (int i = 0; i < s.n; i++)
        over += s.v[i] > 1000;
    r->tend = p99;
    r->v = p99 <= 1000 ? V_OK : V_MISS;
    snprintf(r->note, sizeof r->note,
             "%d exits, %.0f ms apart; p50 %.0f us, p90 %.0f us, p99 %.0f us, max %.0f us, "
             "min %.0f us; %ld over 1 ms; from the child's own stamp before exit to "
             "tend.now() first thing in a \"stopped\" hook",
             s.n, delay * 1e3, p50, p90, p99, mx, s.v[0], over);
    printf("%-10s tend p50 %.0f us, p99 %.0f us, max %.0f us   (target p99 <= 1000 us)  %s"
           "   [%s]\n",
           r->scenario, p50, p99, mx, verdict_name(r->v), r->note);
    fflush(stdout);
out:
    free(s.v);
    tend_free(&t);
    sweep();
    if (r->v == V_ERROR)
        print_error(r);
}
