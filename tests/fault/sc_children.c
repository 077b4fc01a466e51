/* sc_children.c -- children that misbehave: they ignore SIGTERM, leave
 * grandchildren or a daemon behind, close their output, flood it, or
 * write one line without end. */
#include "fault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <pwd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A pipe holds 64 KiB: it is full to a writer well before the last byte
 * (whole pages, whole lines) */
#define PIPE_FULL (48 * 1024)

/* A proc that only keeps tend up, so that the end checks find it running
 * whatever the scenario did to the others. */
#define ANCHOR "tend.proc { name = \"anchor\", cmd = { \"@C\", \"pause\" } }\n"

/* ---- a SIGTERM-ignorer: the stop becomes SIGKILL at stop_timeout ---- */

static void term_ignorer(struct sc *s)
{
    const char *pol = policy(s, ANCHOR
        "tend.proc { name = \"stubborn\", cmd = { \"@C\", \"ignore-term\", \"3\", \"@D/pids\" },\n"
        "            stop_timeout = 0.5 }\n");
    tend_up(s, pol, NULL, NULL);
    wait_for(s, s->t, 1, "stubborn | ignoring", 1, "the proc");
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    pid_t pids[8];
    int n = pids_from(s, in_dir(s, "pids"), pids, 8);
    need(s, n == 4, "%d pids in the pid file, want 4", n);
    baseline(s);
    did(s, "`tend stop` of a proc whose main process and 3 grandchildren ignore SIGTERM "
           "(stop_timeout 0.5 s)");

    struct cli c = CLI(s, "stop", "stubborn");
    need(s, c.code == 0, "tend stop: exit %d (%.2fs): %s", c.code, c.secs, c.err);
    need(s, c.secs >= 0.45, "tend stop returned after %.2fs, before the stop_timeout", c.secs);
    need(s, c.secs <= 0.5 + 3.0, "tend stop took %.2fs for a stop_timeout of 0.5 s", c.secs);
    wait_for(s, s->t, 2, "stubborn: still running after its stop timeout: SIGKILL", 1,
             "the log line of the escalation");
    int left = wait_gone(s, pids, n, WAIT);
    need(s, left == 0, "%d of the 4 processes still there after the stop", left);
    json_t *all = statuses(s, NULL);
    json_t *st = status_of(all, "stubborn");
    need(s, st && !strcmp(st_str(st, "state"), "killed") && !strcmp(st_str(st, "signal"), "KILL"),
         "status %s signal %s, want killed by KILL", st_str(st, "state"), st_str(st, "signal"));
    need(s, !strcmp(st_str(st, "want"), "down"), "want %s after a stop", st_str(st, "want"));
    need(s, cause_is(st, "stop"), "cause %s, want stop", st_str(st, "cause"));
    held(s, "SIGKILL at the deadline: `tend stop` answered after %.2f s; 4 of 4 processes gone; "
            "status killed (KILL), want down",
         c.secs);
    finish(s, 0);
}

/* ---- grandchildren go with their proc ---- */

static void grandchildren(struct sc *s)
{
    const char *pol = policy(s, ANCHOR
        "tend.proc { name = \"tree\", cmd = { \"@C\", \"tree\", \"5\", \"@D/a\", \"stay\" },\n"
        "            stop_timeout = 5 }\n"
        "tend.proc { name = \"orphaner\", cmd = { \"@C\", \"tree\", \"5\", \"@D/b\", \"exit\" },\n"
        "            restart = \"never\", stop_timeout = 5 }\n");
    tend_up(s, pol, NULL, NULL);
    wait_for(s, s->t, 1, "tree | tree", 1, "the tree");
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    pid_t a[8], b[8];
    int na = pids_from(s, in_dir(s, "a"), a, 8), nb = pids_from(s, in_dir(s, "b"), b, 8);
    need(s, na == 6 && nb == 6, "pid files hold %d and %d pids, want 6", na, nb);
    did(s, "`tend stop` of a proc with 5 grandchildren; a proc whose main process exits 0 "
           "leaving 5 grandchildren");

    /* the main process that exited: its group gets the stop signal at once */
    int left = wait_gone(s, b + 1, 5, WAIT);
    need(s, left == 0, "%d of 5 grandchildren outlived their exited main process", left);
    wait_for(s, s->t, 2, "orphaner: exited with code 0", 1, "the exit");
    baseline(s);
    double t0 = now();
    struct cli c = CLI(s, "stop", "tree");
    need(s, c.code == 0, "tend stop: exit %d: %s", c.code, c.err);
    left = wait_gone(s, a, na, WAIT);
    need(s, left == 0, "%d of the tree's 6 processes still there after the stop", left);
    double secs = now() - t0;
    need(s, secs < 5, "the tree took %.2fs to go; SIGTERM should do (stop_timeout 5 s)", secs);
    json_t *all = statuses(s, NULL);
    json_t *t = status_of(all, "tree"), *o = status_of(all, "orphaner");
    need(s, !strcmp(st_str(t, "state"), "killed") && !strcmp(st_str(t, "signal"), "TERM"),
         "tree: %s %s, want killed by TERM", st_str(t, "state"), st_str(t, "signal"));
    need(s, !strcmp(st_str(o, "state"), "stopped") && st_int(o, "exit_code") == 0,
         "orphaner: %s, want stopped with code 0", st_str(o, "state"));
    need(s, cause_is(t, "stop") && cause_is(o, "exit"), "causes %s and %s", st_str(t, "cause"),
         st_str(o, "cause"));
    held(s, "5 leftovers of the exited main process gone with it (status stopped 0); the "
            "stopped tree's 6 processes gone in %.2f s by SIGTERM (status killed TERM)",
         secs);
    finish(s, 0);
}

/* ---- a double-forked setsid() daemon leaves its proc's group ---- */

static void setsid_daemon(struct sc *s)
{
    const char *pol = policy(s, ANCHOR
        "tend.proc { name = \"forker\", cmd = { \"@C\", \"daemon\", \"@D/daemon\" },\n"
        "            stop_timeout = 2 }\n");
    tend_up(s, pol, NULL, NULL);
    wait_for(s, s->t, 1, "forker | daemonized", 1, "the daemon");
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    pid_t d;
    need(s, pids_from(s, in_dir(s, "daemon"), &d, 1) == 1, "no daemon pid");
    int dfd = pid_watch(d);
    need(s, dfd >= 0, "the daemon %d is already gone", (int)d);
    did(s, "a proc double-forks a setsid() daemon; `tend stop` of the proc");
    baseline(s);
    struct cli c = CLI(s, "stop", "forker");
    need(s, c.code == 0, "tend stop: exit %d: %s", c.code, c.err);
    json_t *st = status_of(statuses(s, NULL), "forker");
    need(s, !strcmp(st_str(st, "state"), "killed"), "forker: %s, want killed",
         st_str(st, "state"));

    /* what remains of the proc's processes (tend and the anchor aside) */
    pid_t left[16];
    pid_t anchor = (pid_t)st_int(status_of(statuses(s, NULL), "anchor"), "pid");
    int n = 0;
    pid_t all[16];
    int m = tagged(s, all, 16, s->t->pid);
    for (int i = 0; i < m; i++)
        if (all[i] != anchor)
            left[n++] = all[i];
    if (n == 0) {
        held(s, "the daemon went with its proc (cgroups in use)");
    } else {
        need(s, n == 1 && left[0] == d, "left after the stop: %s (the daemon is %d)",
             describe(left, n), (int)d);
        held(s, "what remains: the daemon (pid %d, its own session), as documented without "
                "cgroups; the suite kills it",
             (int)d);
        syscall(SYS_pidfd_send_signal, dfd, SIGKILL, NULL, 0);
        need(s, pidfd_wait_gone(dfd, WAIT), "the daemon did not die of SIGKILL");
        dfd = -1;
        /* tend adopted it (it is its own subreaper) and reaps it */
        double end = now() + WAIT;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d", (int)d);
        while (access(path, F_OK) == 0 && now() < end)
            ping(s, NULL, WAIT, NULL);
        need(s, access(path, F_OK) != 0, "the daemon's zombie was not reaped by tend");
        held(s, "tend, its subreaper, reaped it");
    }
    if (dfd >= 0)
        close(dfd);
    need(s, zombies_of(s->t->pid) == 0, "tend has zombie children");
    finish(s, 0);
}

/* ---- a child closes its stdout and runs on ---- */

static void closed_stdout(struct sc *s)
{
    const char *pol = policy(s, ANCHOR
        "tend.proc { name = \"closer\", cmd = { \"@C\", \"close-stdout\" }, autostart = false }\n");
    tend_up(s, pol, NULL, NULL);
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    baseline(s);
    did(s, "a proc prints a line, closes its stdout and keeps running");
    struct cli c = CLI(s, "start", "closer");
    need(s, c.code == 0, "tend start: exit %d: %s", c.code, c.err);
    wait_for(s, s->t, 1, "closer | before-close", 1, "the line before the close");
    wait_for(s, s->t, 2, "closer | stdout-closed", 1, "the line after the close");
    /* a read end at EOF left in the loop would spin it */
    long c0 = cpu_ticks(s->t->pid);
    hold(s, 1.0);
    double cpu = (double)(cpu_ticks(s->t->pid) - c0) / ticks_per_sec();
    need(s, cpu < 0.2, "tend used %.2f s of CPU in 1 s with the closed stdout", cpu);
    int fds = fd_count(s->t->pid);
    json_t *st = status_of(statuses(s, NULL), "closer");
    need(s, !strcmp(st_str(st, "state"), "ready") && st_int(st, "pid") > 0,
         "closer: %s, want ready", st_str(st, "state"));
    need(s, pid_alive((pid_t)st_int(st, "pid")), "closer's pid is not alive");
    c = CLI(s, "stop", "closer");
    need(s, c.code == 0, "tend stop: exit %d: %s", c.code, c.err);
    st = status_of(statuses(s, NULL), "closer");
    need(s, !strcmp(st_str(st, "state"), "killed") && !strcmp(st_str(st, "signal"), "TERM"),
         "closer: %s %s, want killed by TERM", st_str(st, "state"), st_str(st, "signal"));
    held(s, "status ready while it ran (tend: %d fds, %d at the start; %.2f s of CPU in 1 s); "
            "stop: killed TERM",
         fds, s->fds0, cpu);
    finish(s, 0);
}

/* ---- a flood while tend's stdout is a pipe nobody reads ---- */

static void flood_unread(struct sc *s)
{
    const char *pol = policy(s, ANCHOR
        "tend.proc { name = \"flood\", cmd = { \"@C\", \"flood\", \"100\" } }\n"
        "tend.proc { name = \"other\", cmd = { \"@C\", \"pause\" } }\n");
    struct topts o = {.out = OUT_UNREAD};
    tend_up(s, pol, NULL, &o);
    wait_for(s, s->t, 2, "flood: started", 1, "the flood");
    wait_for(s, s->t, 2, "other: started", 1, "the other proc");
    did(s, "a proc writes 100-byte lines as fast as it can; tend's stdout is a pipe nobody "
           "reads; `tend stop` of another proc; then the pipe is read");
    /* the flood fills the pipe, then tend's buffer; then it must stop
     * reading (backpressure) rather than grow */
    int queued = 0;
    double end = now() + WAIT;
    while (now() < end && (ioctl(s->t->unread_fd, FIONREAD, &queued) != 0 || queued < PIPE_FULL))
        pump(s, 50);
    need(s, queued >= PIPE_FULL, "tend's stdout pipe holds %d bytes", queued);
    hold(s, 0.5);
    long rss1 = rss_kib(s->t->pid), c1 = cpu_ticks(s->t->pid);
    hold(s, 1.5);
    long rss2 = rss_kib(s->t->pid);
    double cpu = (double)(cpu_ticks(s->t->pid) - c1) / ticks_per_sec();
    need(s, rss2 <= rss1 + 512, "tend's RSS grew from %ld to %ld KiB in 1.5 s", rss1, rss2);
    need(s, cpu < 0.3, "tend used %.2f s of CPU in 1.5 s while blocked on its stdout", cpu);
    struct cli c = CLI(s, "stop", "other");
    need(s, c.code == 0, "tend stop other: exit %d (%.2fs): %s", c.code, c.secs, c.err);
    json_t *st = status_of(statuses(s, NULL), "other");
    need(s, !strcmp(st_str(st, "state"), "killed"), "other: %s", st_str(st, "state"));
    held(s, "RSS %ld -> %ld KiB over 1.5 s, %.2f s CPU; `tend stop other` answered in %.2f s",
         rss1, rss2, cpu, c.secs);
    /* now read it: the flood flows again */
    s->t->fd[0] = s->t->unread_fd;
    s->t->unread_fd = -1;
    fcntl(s->t->fd[0], F_SETFL, O_NONBLOCK);
    s->t->buf[0].keep = 65536;
    unsigned long long at = text_end(s->t, 1);
    end = now() + WAIT;
    while (text_end(s->t, 1) - at < (64u << 20) && now() < end)
        pump(s, 100);
    need(s, text_end(s->t, 1) - at >= (64u << 20), "only %llu bytes came once read",
         text_end(s->t, 1) - at);
    held(s, "once read, 64 MiB flowed; RSS then %ld KiB", rss_kib(s->t->pid));
    c = CLI(s, "stop", "flood");
    need(s, c.code == 0, "tend stop flood: exit %d: %s", c.code, c.err);
    baseline(s);  /* the fds of the procs that were stopped are gone from here on */
    finish(s, 0);
}

/* ---- tend exits while its stdout is full and unread ---- */

static void exit_unread(struct sc *s)
{
    const char *pol = policy(s, ANCHOR
        "tend.proc { name = \"flood\", cmd = { \"@C\", \"flood\", \"100\" } }\n");
    struct topts o = {.out = OUT_UNREAD};
    tend_up(s, pol, NULL, &o);
    wait_for(s, s->t, 2, "flood: started", 1, "the flood");
    int queued = 0;
    double end = now() + WAIT;
    while (now() < end && (ioctl(s->t->unread_fd, FIONREAD, &queued) != 0 || queued < PIPE_FULL))
        pump(s, 50);
    need(s, queued >= PIPE_FULL, "tend's stdout pipe holds %d bytes", queued);
    did(s, "SIGTERM to tend while its stdout is a full pipe nobody reads");
    kill(s->t->pid, SIGTERM);
    wait_for(s, s->t, 2, "shutting down", 1, "the shutdown");
    int rc = tend_exit_wait(s, s->t, 5);
    if (rc < 0) {
        char path[64], wchan[64] = "?", sys[128] = "?";
        snprintf(path, sizeof path, "/proc/%d/wchan", (int)s->t->pid);
        FILE *f = fopen(path, "re");
        if (f) {
            if (!fgets(wchan, sizeof wchan, f))
                wchan[0] = '\0';
            fclose(f);
        }
        snprintf(path, sizeof path, "/proc/%d/syscall", (int)s->t->pid);
        f = fopen(path, "re");
        if (f) {
            if (fgets(sys, sizeof sys, f))
                sys[strcspn(sys, "\n")] = '\0';
            fclose(f);
        }
        pid_t left[16];
        int n = tagged(s, left, 16, s->t->pid);
        defect(s, "tend did not exit within 5 s of SIGTERM: blocked in the kernel at %s "
                "(/proc/PID/syscall: %s; syscall 1 is write, on fd 1) with %d of its procs "
                "still alive",
             wchan, sys, n);
    }
    need(s, rc == 0, "tend exited with %d", rc);
    held(s, "tend exited with 0 at once");
    check_no_tagged(s);
}

/* ---- one 100 MB line without a newline ---- */

static void long_line(struct sc *s)
{
    const char *pol = policy(s, ANCHOR
        "tend.proc { name = \"long\", cmd = { \"@C\", \"longline\", \"100000000\" },\n"
        "            autostart = false }\n");
    struct topts o = {.out = OUT_COUNT};
    tend_up(s, pol, NULL, &o);
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    baseline(s);
    long hwm0 = hwm_kib(s->t->pid);
    unsigned long long at = text_end(s->t, 1);
    did(s, "a proc writes one line of 100,000,000 bytes with no newline, then waits; then "
           "`tend stop`");
    struct cli c = CLI(s, "start", "long");
    need(s, c.code == 0, "tend start: exit %d: %s", c.code, c.err);
    wait_for(s, s->t, 2, "long | longline-written", 1, "the end of the line");
    /* 1525 pieces of 64 KiB come out at once, "long | " and a newline each;
     * the last 57,600 bytes wait for the line's end */
    unsigned long long want = 1525ull * (65536 + 8);
    double end = now() + WAIT;
    while (text_end(s->t, 1) - at < want && now() < end)
        pump(s, 100);
    unsigned long long got = text_end(s->t, 1) - at;
    need(s, got >= want, "%llu bytes on tend's stdout, want at least %llu", got, want);
    long hwm1 = hwm_kib(s->t->pid);
    need(s, hwm1 - hwm0 < 32 * 1024, "tend's peak RSS grew by %ld KiB (%ld -> %ld)",
         hwm1 - hwm0, hwm0, hwm1);
    c = CLI(s, "stop", "long");
    need(s, c.code == 0, "tend stop: exit %d: %s", c.code, c.err);
    /* the rest of the line comes out when the proc ends */
    unsigned long long all = 100000000ull + 1526ull * 8;
    end = now() + WAIT;
    while (text_end(s->t, 1) - at < all && now() < end)
        pump(s, 100);
    got = text_end(s->t, 1) - at;
    json_t *st = status_of(statuses(s, NULL), "long");
    need(s, !strcmp(st_str(st, "state"), "killed"), "long: %s", st_str(st, "state"));
    held(s, "peak RSS %ld -> %ld KiB; %llu bytes out as 64 KiB lines%s", hwm0, hwm1, got,
         got == all ? ", every byte (the last piece when the proc ended)" : "");
    if (got != all)
        held(s, "the last %llu bytes of the unterminated line were not written when the "
                "proc ended",
             all - got);
    finish(s, 0);
}

/* ---- restarts, thousands of them ---- */

#define CHURN_N 2000
#define CHURN_WARM 500

static void restart_churn(struct sc *s)
{
    char text[2048];
    snprintf(text, sizeof text, ANCHOR
        "local c = tend.proc { name = \"churn\", cmd = { \"true\" }, restart = \"always\",\n"
        "  backoff = { initial = 0, factor = 1, max = 0, jitter = 0 }, give_up = false,\n"
        "  autostart = false }\n"
        "c:on(\"running\", function(p, st)\n"
        "  if st.incarnation %% 500 == 0 then tend.log.warn(\"churn at %%d\", st.incarnation) end\n"
        "end)\n");
    const char *pol = policy(s, text);
    struct topts o = {.args = (const char *const[]){"--quiet", NULL}};
    tend_up(s, pol, NULL, &o);
    wait_up(s, s->t, NULL);
    baseline(s);
    did(s, "%d restarts of an instantly exiting proc (restart always, no delay) beside a "
           "running one; RSS and fds compared between restart %d and %d, and before and after",
        CHURN_N, CHURN_WARM, CHURN_N);
    double t0 = now();
    struct cli c = CLI(s, "start", "churn");
    need(s, c.code == 0 || c.code == 1, "tend start: exit %d: %s", c.code, c.err);
    char at[64];
    snprintf(at, sizeof at, "churn at %d", CHURN_WARM);
    wait_for(s, s->t, 2, at, 1, "the warm-up");
    long rss1 = rss_kib(s->t->pid);
    int fds1 = fd_count(s->t->pid);
    snprintf(at, sizeof at, "churn at %d", CHURN_N);
    if (!expect_n(s, s->t, 2, 0, at, 1, 60))
        fail(s, "restart %d not reached within 60 s", CHURN_N);
    double secs = now() - t0;
    long rss2 = rss_kib(s->t->pid);
    int fds2 = fd_count(s->t->pid);
    c = CLI(s, "stop", "churn");
    need(s, c.code == 0, "tend stop: exit %d: %s", c.code, c.err);
    json_t *st = status_of(statuses(s, NULL), "churn");
    need(s, st_int(st, "incarnation") >= CHURN_N, "incarnation %lld", st_int(st, "incarnation"));
    need(s, !strcmp(st_str(st, "want"), "down"), "want %s after the stop", st_str(st, "want"));
    need(s, rss2 - rss1 <= 512, "RSS grew from %ld to %ld KiB between restart %d and %d",
         rss1, rss2, CHURN_WARM, CHURN_N);
    /* fds1 and fds2 are snapshots of a churn (a spawn in flight holds up to
     * 6): told, not compared; the fds are compared once it has stopped */
    need(s, zombies_of(s->t->pid) == 0, "tend has zombie children");
    held(s, "%lld incarnations in %.1f s; RSS %ld KiB at the start, %ld at restart %d, %ld "
            "at %d; fds %d, %d, %d; no zombies",
         st_int(st, "incarnation"), secs, s->rss0, rss1, CHURN_WARM, rss2, CHURN_N, s->fds0,
         fds1, fds2);
    finish(s, 0);
}

/* ---- a fork bomb capped by limits.nproc ---- */

/* Processes of `uid` on the machine now. */
static int procs_of_uid(uid_t uid)
{
    int n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/%s", e->d_name);
        struct stat sb;
        if (stat(path, &sb) == 0 && sb.st_uid == uid)
            n++;
    }
    closedir(d);
    return n;
}

static void fork_bomb(struct sc *s)
{
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw)
        skip(s, "needs root and a user 'nobody': RLIMIT_NPROC does not bind root, so the "
                "bomb runs as nobody");
    uid_t uid = pw->pw_uid;
    int before = procs_of_uid(uid);
    enum { NPROC = 40, TRIES = 400 };
    char text[1024];
    snprintf(text, sizeof text, ANCHOR
        "tend.proc { name = \"bomb\", user = \"nobody\", limits = { nproc = %d },\n"
        "  stop_timeout = 2, cmd = { \"@C\", \"bomb\", \"%d\" } }\n",
        NPROC, TRIES);
    tend_up(s, policy(s, text), NULL, NULL);
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    wait_for(s, s->t, 1, "bomb | bombed", 1, "the bomb");
    wait_up(s, s->t, NULL);
    baseline(s);
    did(s, "a proc run as nobody with limits = { nproc = %d } forks %d sleeps as fast as it "
           "can (each child forks once more); `tend status` during it; `tend stop` of the proc",
        NPROC, TRIES);
    int during = procs_of_uid(uid);
    need(s, during - before <= NPROC, "%d processes of nobody during the bomb (%d before): "
         "the cap of %d did not hold", during, before, NPROC);
    need(s, during - before >= NPROC / 2, "only %d processes of nobody: the bomb did not run",
         during - before);
    struct cli st = CLI(s, "status");
    need(s, st.code == 0, "tend status during the bomb: exit %d: %s", st.code, st.err);
    struct cli c = CLI(s, "stop", "bomb");
    need(s, c.code == 0, "tend stop: exit %d: %s", c.code, c.err);
    double end = now() + WAIT;
    int after = procs_of_uid(uid);
    while (after > before && now() < end) {
        ping(s, NULL, WAIT, NULL);
        after = procs_of_uid(uid);
    }
    need(s, after <= before, "%d processes of nobody left after the stop (%d before)", after,
         before);
    held(s, "at most %d processes of nobody at once (%d seen); tend answered `tend status` "
            "in %.2f s; after the stop none left",
         NPROC, during - before, st.secs);
    finish(s, 0);
}

const struct scenario sc_children[] = {
    {"term-ignorer", term_ignorer, 30, NULL},
    {"grandchildren", grandchildren, 30, NULL},
    {"setsid-daemon", setsid_daemon, 30, NULL},
    {"closed-stdout", closed_stdout, 30, NULL},
    {"flood-unread-stdout", flood_unread, 40, NULL},
    {"exit-unread-stdout", exit_unread, 30,
     "D1: tend hangs for good on its way out when its stdout is a pipe nobody reads "
     "(output_finish makes stdout blocking again and flushes into the full pipe)"},
    {"long-line-100MB", long_line, 40, NULL},
    {"restart-churn", restart_churn, 90, NULL},
    {"fork-bomb-nproc", fork_bomb, 40, NULL},
    {NULL, NULL, 0, NULL},
};
