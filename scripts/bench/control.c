/* control.c -- scenario 10: `tend status` with many procs. */
#include "bench.h"

/* ---- 10. control: `tend status` with many procs ---- */

#define CTL_RUNS 5

/* `tend ARGS... --socket SOCK`, stdout to `out`: its wall time in s, from
 * the spawn to its exit; -1 with `err` when it failed. */
static double ctl_client(const char *const args[], const char *out, char *err, size_t errsz)
{
    const char *argv[16];
    int k = 0;
    argv[k++] = tend_bin;
    for (int i = 0; args[i] && k < 12; i++)
        argv[k++] = args[i];
    argv[k++] = "--socket";
    argv[k++] = sock_path;
    argv[k] = NULL;
    char errfile[512];
    snprintf(errfile, sizeof errfile, "%s/client.err", tmpdir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    double t0 = now();
    int rc = posix_spawn(&pid, tend_bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        snprintf(err, errsz, "cannot run %s: %s", tend_bin, strerror(rc));
        return -1;
    }
    g_base[0] = pid;
    g_nbase = 1;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    double t1 = now();
    g_nbase = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char msg[512] = "";
        read_text(errfile, msg, sizeof msg);
        msg[strcspn(msg, "\n")] = 0;
        snprintf(err, errsz, "`tend %s%s%s` exit status %#x: %s", args[0],
                 args[1] ? " " : "", args[1] ? args[1] : "", st, msg);
        return -1;
    }
    return t1 - t0;
}

/* tend's side alone: {"cmd":"status"} over the socket from here, to the
 * reply's newline (no client to exec, nothing to print).  Its wall time in
 * s and the reply's size, or -1 with `err`. */
static double ctl_raw(size_t *bytes, char *err, size_t errsz)
{
    double t0 = now();
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    static const char req[] = "{\"cmd\": \"status\"}\n";
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
        snprintf(err, errsz, "the status request on %s: %s", sock_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    static char buf[1 << 16];
    size_t total = 0;
    bool done = false, ok_reply = false;
    ssize_t n;
    while (!done && (n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (total == 0)  /* {"ok": true, ... */
            ok_reply = n >= 10 && memcmp(buf, "{\"ok\":", 6) == 0 &&
                       memmem(buf + 6, (size_t)(n < 16 ? n : 16) - 6, "true", 4);
        total += (size_t)n;
        done = buf[n - 1] == '\n';
    }
    double t1 = now();
    close(fd);
    if (!done || !ok_reply) {
        snprintf(err, errsz, "the status request on %s: %s after %zu bytes", sock_path,
                 done ? "not an ok reply" : "no complete reply", total);
        return -1;
    }
    *bytes = total;
    return t1 - t0;
}

/* How many times `needle` occurs in the file `path`, or -1. */
static long count_in_file(const char *path, const char *needle, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char *text = malloc((size_t)sb.st_size + 1);
    if (!text)
        die("out of memory");
    size_t len = 0;
    ssize_t n;
    while (len < (size_t)sb.st_size && (n = read(fd, text + len, (size_t)sb.st_size - len)) > 0)
        len += (size_t)n;
    close(fd);
    text[len] = 0;
    long count = 0;
    size_t k = strlen(needle);
    for (char *p = text; (p = strstr(p, needle)); p += k)
        count++;
    free(text);
    *size = len;
    return count;
}

static double spread_lo(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = fmin(m, v[i]);
    return m;
}

static double spread_hi(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = fmax(m, v[i]);
    return m;
}

/* One tend with n idle procs, all started: the client commands' times. */
struct ctl_fig {
    double json, table, one, raw, ver;        /* medians, ms */
    double json_lo, json_hi, table_lo, table_hi, one_lo, one_hi;
    size_t jsize, tsize, raw_bytes;
    long rss_kib, ticks;
};

static bool ctl_measure(int n, struct ctl_fig *f, char *err, size_t errsz)
{
    memset(f, 0, sizeof *f);
    struct tend t;
    bool ok = false;
    if (!tend_spawn(&t, fanout_policy(n), false, err, errsz))
        goto out;
    t.target = n;
    if (!tend_until(&t, reached_target, 60)) {
        snprintf(err, errsz, "only %ld of %d procs started within 60 s", t.started, n);
        tend_context(&t, err, errsz);
        goto out;
    }
    double settle = now() + 0.3;
    while (now() < settle && !t.exited)
        tend_pump(&t, settle - now());

    char out_json[512], out_table[512], out_one[512], last[32];
    snprintf(out_json, sizeof out_json, "%s/status.json", tmpdir);
    snprintf(out_table, sizeof out_table, "%s/status.txt", tmpdir);
    snprintf(out_one, sizeof out_one, "%s/status-one.txt", tmpdir);
    snprintf(last, sizeof last, "s%d", n);  /* the last declared: any lookup goes far */
    const char *a_json[] = {"status", "--json", NULL};
    const char *a_table[] = {"status", NULL};
    const char *a_one[] = {"status", last, NULL};
    const char *a_ver[] = {"--version", NULL};

    /* once with the output kept: is it all there? */
    size_t osize = 0;
    if (ctl_client(a_json, out_json, err, errsz) < 0 ||
        ctl_client(a_table, out_table, err, errsz) < 0 ||
        ctl_client(a_one, out_one, err, errsz) < 0)
        goto out;
    long jn = count_in_file(out_json, "\"state\": \"ready\"", &f->jsize);
    long tn = count_in_file(out_table, "\n", &f->tsize);
    long on = count_in_file(out_one, "\n", &osize);
    unlink(out_json);
    unlink(out_table);
    unlink(out_one);
    if (jn != n || tn != n + 1 || on != 2) {
        snprintf(err, errsz,
                 "the status output: %ld procs `ready` in --json, %ld lines in the table, "
                 "%ld for one NAME (want %d, %d, 2)",
                 jn, tn, on, n, n + 1);
        goto out;
    }
    /* the runs, round-robin so that drift touches all alike; a raw request
     * from here shows tend's side, `tend --version` the cost of the exec */
    double vj[CTL_RUNS], vt[CTL_RUNS], v1[CTL_RUNS], vr[CTL_RUNS], vv[CTL_RUNS];
    for (int i = 0; i < CTL_RUNS; i++) {
        tend_pump(&t, 0);
        if ((vj[i] = ctl_client(a_json, "/dev/null", err, errsz)) < 0 ||
            (vt[i] = ctl_client(a_table, "/dev/null", err, errsz)) < 0 ||
            (v1[i] = ctl_client(a_one, "/dev/null", err, errsz)) < 0 ||
            (vr[i] = ctl_raw(&f->raw_bytes, err, errsz)) < 0 ||
            (vv[i] = ctl_client(a_ver, "/dev/null", err, errsz)) < 0)
            goto out;
    }
    if (t.exited) {
        snprintf(err, errsz, "tend exited during the status requests");
        tend_context(&t, err, errsz);
        goto out;
    }
    stat_fields(t.pid, NULL, NULL, &f->ticks);
    f->rss_kib = status_field(t.pid, "VmRSS");
    f->json_lo = spread_lo(vj, CTL_RUNS) * 1e3;
    f->json_hi = spread_hi(vj, CTL_RUNS) * 1e3;
    f->table_lo = spread_lo(vt, CTL_RUNS) * 1e3;
    f->table_hi = spread_hi(vt, CTL_RUNS) * 1e3;
    f->one_lo = spread_lo(v1, CTL_RUNS) * 1e3;
    f->one_hi = spread_hi(v1, CTL_RUNS) * 1e3;
    f->json = median(vj, CTL_RUNS) * 1e3;
    f->table = median(vt, CTL_RUNS) * 1e3;
    f->one = median(v1, CTL_RUNS) * 1e3;
    f->raw = median(vr, CTL_RUNS) * 1e3;
    f->ver = median(vv, CTL_RUNS) * 1e3;
    if (tend_stop(&t, 60) < 0) {
        snprintf(err, errsz, "tend did not exit within 60 s of SIGTERM");
        goto out;
    }
    ok = true;
out:
    tend_free(&t);
    sweep();
    return ok;
}

/* The time with `want` procs from two sizes a and b: a line through them. */
static double ctl_project(double ya, int a, double yb, int b, int want)
{
    return yb + (yb - ya) / (b - a) * (want - b);
}

void scenario_control(int want)
{
    static char m_json[40], m_table[40], m_one[40];
    char limit_note[512];
    int n = procs_that_fit("control", want, limit_note, sizeof limit_note);
    bool project = n < FANOUT_BIG;
    snprintf(m_json, sizeof m_json, "ms, --json, %d%s", project ? FANOUT_BIG : n,
             project ? " (proj)" : "");
    snprintf(m_table, sizeof m_table, "ms, table, %d", n);
    snprintf(m_one, sizeof m_one, "ms, one NAME, %d", n);
    struct result *rj = new_result("control", m_json, "ms", "<= 200 ms");
    struct result *rt = new_result("control", m_table, "ms", "-");
    struct result *r1 = new_result("control", m_one, "ms", "-");
    char err[2048] = "";
    if (n < 100) {
        snprintf(err, sizeof err, "%s", limit_note);
        goto fail;
    }
    if (!fd_limit_ok("control", n, err, sizeof err))
        goto fail;
    /* with fewer than 10,000 procs (the fd limit, the quick mode), a second
     * tend with half as many gives the cost a proc: the figure at 10,000
     * is projected along that line */
    struct ctl_fig f, h;
    int half = n / 2;
    if ((project && !ctl_measure(half, &h, err, sizeof err)) ||
        !ctl_measure(n, &f, err, sizeof err))
        goto fail;

    const char *why = limit_note[0] ? "the fd limit (see the NOTE)" : "the quick mode";
    char proj[400] = "";
    double fig = f.json;
    if (project) {
        fig = ctl_project(h.json, half, f.json, n, FANOUT_BIG);
        snprintf(proj, sizeof proj,
                 "PROJECTED to %d procs from %.1f ms with %d and %.1f ms with %d (%.1f us a "
                 "proc; tend's side alone %.1f and %.1f ms), %d because of %s; ",
                 FANOUT_BIG, h.json, half, f.json, n, (f.json - h.json) / (n - half) * 1e3,
                 h.raw, f.raw, n, why);
    }
    rj->tend = fig;
    rj->v = fig <= 200 ? V_OK : V_MISS;
    snprintf(rj->note, sizeof rj->note,
             "%s`tend status --json --socket PATH > /dev/null`, spawn to exit, median of %d; "
             "with %d procs %.1f ms (%.1f..%.1f), %zu bytes of JSON; tend's side alone (a "
             "raw {\"cmd\":\"status\"} from the bench to the reply's end, %zu bytes): %.1f ms; "
             "the exec floor (`tend --version`): %.1f ms",
             proj, CTL_RUNS, n, f.json, f.json_lo, f.json_hi, f.jsize, f.raw_bytes, f.raw,
             f.ver);
    printf("%-10s tend %.1f ms for `status --json` with %d procs%s   (target <= 200 ms)  %s"
           "   [%s]\n",
           rj->scenario, fig, project ? FANOUT_BIG : n, project ? " (projected)" : "",
           verdict_name(rj->v), rj->note);
    rt->tend = f.table;
    rt->v = V_INFO;
    snprintf(rt->note, sizeof rt->note,
             "`tend status`, median of %d, %.1f..%.1f ms; %zu bytes", CTL_RUNS, f.table_lo,
             f.table_hi, f.tsize);
    if (project)
        snprintf(rt->note + strlen(rt->note), sizeof rt->note - strlen(rt->note),
                 "; %.1f ms with %d procs; projected to %d: %.1f ms", h.table, half,
                 FANOUT_BIG, ctl_project(h.table, half, f.table, n, FANOUT_BIG));
    printf("%-10s tend %.1f ms for `status` (the table) with %d procs   (no target)   [%s]\n",
           rt->scenario, f.table, n, rt->note);
    r1->tend = f.one;
    r1->v = V_INFO;
    snprintf(r1->note, sizeof r1->note,
             "`tend status s%d` (the last declared of %d), median of %d, %.1f..%.1f ms; "
             "tend after all requests: RSS %.1f MiB, %ld CPU ticks in all",
             n, n, CTL_RUNS, f.one_lo, f.one_hi, f.rss_kib / 1024.0, f.ticks);
    if (project)
        snprintf(r1->note + strlen(r1->note), sizeof r1->note - strlen(r1->note),
                 "; with %d procs: %.1f ms", half, h.one);
    printf("%-10s tend %.1f ms for `status s%d` with %d procs   (no target)   [%s]\n",
           r1->scenario, f.one, n, n, r1->note);
    fflush(stdout);
    return;
fail:
    results_fail(rj, r1, err);
}
