/* output.c -- scenario 9: output through tend into a file. */
#include "bench.h"

/* ---- 9. output: 1 GiB through tend into a file ---- */

#define OUT_LINE 80             /* bytes a line, the newline included */
#define OUT_CHUNK (64 * 1024)   /* bytes a write */

/* The byte at offset k of the writer's stream (the last one is always a
 * newline: tend would end an unfinished last line with one). */
static char out_byte(unsigned long long k)
{
    static const char text[] = "a line of eighty bytes, written by bench --write-bytes "
                               "for the output scenario ";
    int c = (int)(k % OUT_LINE);
    return c == OUT_LINE - 1 ? '\n' : text[c % (int)(sizeof text - 1)];
}

/* `bench --write-bytes N`: N bytes of 80-byte lines on stdout, in 64 KiB
 * writes (which, like stdio's, end anywhere in a line); the last byte is
 * a newline.  Exit 0 once all is written, 1 on a write error. */
int child_write_bytes(const char *arg)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(arg, &end, 10);
    if (errno || end == arg || *end || n == 0)
        return 2;
    static char pat[OUT_CHUNK + OUT_LINE], last[OUT_CHUNK];
    for (size_t k = 0; k < sizeof pat; k++)
        pat[k] = out_byte(k);
    for (unsigned long long off = 0; off < n;) {
        size_t len = n - off < OUT_CHUNK ? (size_t)(n - off) : OUT_CHUNK;
        const char *p = pat + off % OUT_LINE;
        if (off + len == n) {  /* the last write: end in a newline */
            memcpy(last, p, len);
            last[len - 1] = '\n';
            p = last;
        }
        ssize_t w = write(1, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 1;
        off += (unsigned long long)w;
    }
    return 0;
}

/* The file the writer's stream went to: exactly `bytes`, the first and the
 * last line as written?  Else false with the reason. */
static bool out_check(const char *path, unsigned long long bytes, char *err, size_t errsz)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        return false;
    }
    if ((unsigned long long)sb.st_size != bytes) {
        snprintf(err, errsz, "%s has %lld bytes, not %llu", path, (long long)sb.st_size,
                 bytes);
        return false;
    }
    char head[OUT_LINE], tail[OUT_LINE];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head &&
              pread(fd, tail, sizeof tail, (off_t)(bytes - sizeof tail)) ==
                  (ssize_t)sizeof tail;
    if (fd >= 0)
        close(fd);
    for (unsigned long long k = 0; ok && k < OUT_LINE; k++) {
        unsigned long long at = bytes - OUT_LINE + k;
        ok = head[k] == out_byte(k) && tail[k] == (at == bytes - 1 ? '\n' : out_byte(at));
    }
    if (!ok)
        snprintf(err, errsz, "%s: the first or the last line is not what was written", path);
    return ok;
}

struct out_run {
    double secs;       /* wall time */
    double cpu;        /* s on the CPU: tend's own, or cat's */
    double wcpu;       /* the writer's (the baseline only) */
};

/* tend with one proc, the writer, `output` to a file; from tend's exec to
 * its exit (it exits once the proc has ended: restart "never"). */
/* Before each run, not timed: no file of an earlier run, and nothing of the
 * file system's left to write back (a flush of the last run's data would
 * fall into this one). */
static void out_clean(const char *file)
{
    unlink(file);
    int fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
}

static bool out_tend(unsigned long long bytes, const char *file, struct out_run *o, char *err,
                     size_t errsz)
{
    char text[2048];
    struct tend t;
    bool ok = false;
    memset(o, 0, sizeof *o);
    out_clean(file);
    snprintf(text, sizeof text,
             "tend.proc {\n"
             "  name = \"out\", cmd = { \"%s\", \"--write-bytes\", \"%llu\" },\n"
             "  restart = \"never\", output = \"%s\",\n"
             "}\n",
             self_bin, bytes, file);
    char *policy = write_policy("output.lua", text);
    if (!tend_spawn(&t, policy, false, err, errsz))
        goto out;
    if (!tend_until(&t, has_exited, 300)) {
        snprintf(err, errsz, "tend did not exit within 300 s (%llu bytes to write)", bytes);
        tend_context(&t, err, errsz);
        goto out;
    }
    tend_until(&t, at_eof, 1);
    if (!WIFEXITED(t.wstatus) || WEXITSTATUS(t.wstatus) != 0 || t.started != 1 ||
        t.ends != 1) {
        snprintf(err, errsz, "tend's exit status %#x, %ld started, %ld ended (want 0, 1, 1)",
                 t.wstatus, t.started, t.ends);
        tend_context(&t, err, errsz);
        goto out;
    }
    if (!out_check(file, bytes, err, errsz))
        goto out;
    o->secs = t.t_exit - t.t_spawn;
    o->cpu = t.exit_ns >= 0   ? t.exit_ns / 1e9
             : t.exit_ticks >= 0 ? (double)t.exit_ticks / (double)sysconf(_SC_CLK_TCK)
                                 : NAN;
    ok = true;
out:
    tend_free(&t);
    unlink(file);
    sweep();
    return ok;
}

static double ru_secs(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}

/* The baseline: the same writer piped into `cat > file`; from the spawn of
 * the writer to cat's exit. */
static bool out_base(unsigned long long bytes, const char *file, struct out_run *o, char *err,
                     size_t errsz)
{
    bool ok = false;
    memset(o, 0, sizeof *o);
    out_clean(file);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(err, errsz, "pipe: %s", strerror(errno));
        return false;
    }
    char nbuf[32];
    snprintf(nbuf, sizeof nbuf, "%llu", bytes);
    char *wargv[] = {self_bin, "--write-bytes", nbuf, NULL};
    char *cargv[] = {"cat", NULL};
    posix_spawn_file_actions_t fw, fc;
    posix_spawn_file_actions_init(&fw);
    posix_spawn_file_actions_addopen(&fw, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fw, p[1], 1);
    posix_spawn_file_actions_init(&fc);
    posix_spawn_file_actions_adddup2(&fc, p[0], 0);
    posix_spawn_file_actions_addopen(&fc, 1, file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t wpid = -1, cpid = -1;
    double t0 = now();
    int rc = posix_spawn(&wpid, self_bin, &fw, NULL, wargv, environ);
    if (rc == 0) {
        g_base[0] = wpid;
        g_nbase = 1;
        rc = posix_spawnp(&cpid, "cat", &fc, NULL, cargv, environ);
        if (rc == 0) {
            g_base[1] = cpid;
            g_nbase = 2;
        }
    }
    close(p[0]);
    close(p[1]);
    posix_spawn_file_actions_destroy(&fw);
    posix_spawn_file_actions_destroy(&fc);
    if (rc != 0) {
        snprintf(err, errsz, "baseline: posix_spawn %s: %s", wpid < 0 ? self_bin : "cat",
                 strerror(rc));
        goto out;
    }
    int cst = 0, wst = 0;
    struct rusage cru, wru;
    while (wait4(cpid, &cst, 0, &cru) < 0 && errno == EINTR)
        ;
    double t1 = now();
    while (wait4(wpid, &wst, 0, &wru) < 0 && errno == EINTR)
        ;
    g_nbase = 0;
    if (!WIFEXITED(cst) || WEXITSTATUS(cst) != 0 || !WIFEXITED(wst) ||
        WEXITSTATUS(wst) != 0) {
        snprintf(err, errsz, "baseline: cat's exit status %#x, the writer's %#x", cst, wst);
        goto out;
    }
    if (!out_check(file, bytes, err, errsz))
        goto out;
    o->secs = t1 - t0;
    o->cpu = ru_secs(&cru);
    o->wcpu = ru_secs(&wru);
    ok = true;
out:
    unlink(file);
    sweep();
    return ok;
}

void scenario_output(unsigned long long bytes, int reps)
{
    struct result *r = new_result("output", "MB/s into a file", "MB/s", ">= 0.9");
    char *err = r->note;
    size_t errsz = sizeof r->note;
    char file[512];
    snprintf(file, sizeof file, "%s/out.log", tmpdir);
    if (!lua_safe_path(self_bin) || !lua_safe_path(file)) {
        snprintf(err, errsz, "the bench's path %.400s or %.400s cannot go into a Lua string",
                 self_bin, file);
        print_error(r);
        return;
    }
    /* a warm-up of both, not counted: page cache, the binaries */
    struct out_run o, b;
    if (!out_base(16 << 20, file, &b, err, errsz) || !out_tend(16 << 20, file, &o, err, errsz)) {
        print_error(r);
        return;
    }
    double ts[8], bs[8], tcpu[8], bcpu[8], wcpu[8];
    for (int i = 0; i < reps; i++) {
        /* alternate the order: neither always runs after the other */
        bool first_tend = i % 2 == 0;
        if (!(first_tend ? out_tend(bytes, file, &o, err, errsz)
                         : out_base(bytes, file, &b, err, errsz)) ||
            !(first_tend ? out_base(bytes, file, &b, err, errsz)
                         : out_tend(bytes, file, &o, err, errsz))) {
            print_error(r);
            return;
        }
        ts[i] = o.secs;
        bs[i] = b.secs;
        tcpu[i] = o.cpu;
        bcpu[i] = b.cpu;
        wcpu[i] = b.wcpu;
    }
    /* The figure is each side's best run.  The noise on this kind of
     * machine only ever slows a run down, and it is large and one-sided for
     * the baseline (a virtual machine's page cache: the same `cat` run takes
     * 0.5 s or 1.4 s a GiB), so a median compares tend with the machine's
     * bad luck; the medians are in the note. */
    int ti = 0, bi = 0;
    for (int i = 1; i < reps; i++) {
        if (ts[i] < ts[ti])
            ti = i;
        if (bs[i] < bs[bi])
            bi = i;
    }
    double tbest = ts[ti], bbest = bs[bi];
    double tmax = ts[0], bmax = bs[0];
    for (int i = 1; i < reps; i++) {
        tmax = fmax(tmax, ts[i]);
        bmax = fmax(bmax, bs[i]);
    }
    double tcb = tcpu[ti], bcb = bcpu[bi], wcb = wcpu[bi];
    double tm = median(ts, reps), bm = median(bs, reps);  /* (sorts) */
    double mb = (double)bytes / 1e6;
    r->tend = mb / tbest;
    r->base = mb / bbest;
    r->ratio = r->tend / r->base;
    r->v = r->ratio >= 0.9 ? V_OK : V_MISS;
    snprintf(r->note, sizeof r->note,
             "%llu MiB of %d-byte lines in %d KiB writes; best of %d runs each, in turn; "
             "tend %.3f s (worst %.3f) from its exec to its exit, output = \"<tmp>/out.log\", "
             "%.3f s on the CPU itself (%.0f%%); baseline %.3f s (worst %.3f) to cat's exit, "
             "cat %.3f s on the CPU, the writer %.3f s; medians: tend %.0f MB/s, baseline "
             "%.0f MB/s, ratio %.2f; the file's size and ends checked each run",
             bytes >> 20, OUT_LINE, OUT_CHUNK / 1024, reps, tbest, tmax, tcb,
             100 * tcb / tbest, bbest, bmax, bcb, wcb, mb / tm, mb / bm, bm / tm);
    printf("%-10s tend %.0f MB/s   baseline %.0f MB/s (writer | cat > file)   ratio %.3f  "
           "(target >= 0.9)  %s   [%s]\n",
           r->scenario, r->tend, r->base, r->ratio, verdict_name(r->v), r->note);
    fflush(stdout);
}
