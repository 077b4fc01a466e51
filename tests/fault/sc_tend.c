/* sc_tend.c -- what happens to tend itself: SIGKILL, a fatal signal,
 * SIGSTOP during churn, signal storms, reload storms. */
#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#define ANCHOR "tend.proc { name = \"anchor\", cmd = { \"@C\", \"pause\" } }\n"

/* The pid of each proc named in `names` (NULL-terminated), from tend. */
static int pids_of(struct sc *s, const char *const *names, pid_t *pids)
{
    json_t *all = statuses(s, NULL);
    int n = 0;
    for (; names[n]; n++) {
        json_t *st = status_of(all, names[n]);
        long long pid = st_int(st, "pid");
        need(s, pid > 0, "%s has no pid (%s)", names[n], st_str(st, "state"));
        pids[n] = (pid_t)pid;
    }
    return n;
}

/* ---- SIGKILL of tend with 50 children ---- */

#define KIDS 50

static void sigkill_tend(struct sc *s)
{
    char text[1024];
    snprintf(text, sizeof text,
             "for i = 1, %d do tend.proc { name = \"k\" .. i, cmd = { \"@C\", \"pause\" } } end\n"
             "tend.proc { name = \"g1\", cmd = { \"@C\", \"tree\", \"1\", \"@D/g1\", \"stay\" } }\n"
             "tend.proc { name = \"g2\", cmd = { \"@C\", \"tree\", \"1\", \"@D/g2\", \"stay\" } }\n",
             KIDS);
    const char *pol = policy(s, text);
    struct tend *t1 = tend_up(s, pol, NULL, NULL);
    wait_for(s, t1, 1, "| paused", KIDS, "the children");
    wait_for(s, t1, 1, "| tree", 2, "the trees");
    const char *names[KIDS + 3];
    char namebuf[KIDS][8];
    for (int i = 0; i < KIDS; i++) {
        snprintf(namebuf[i], sizeof namebuf[i], "k%d", i + 1);
        names[i] = namebuf[i];
    }
    names[KIDS] = "g1";
    names[KIDS + 1] = "g2";
    names[KIDS + 2] = NULL;
    pid_t pids[KIDS + 2], g[2], tmp[2];
    int n = pids_of(s, names, pids);
    need(s, pids_from(s, in_dir(s, "g1"), tmp, 2) == 2, "g1's pid file");
    g[0] = tmp[1];
    need(s, pids_from(s, in_dir(s, "g2"), tmp, 2) == 2, "g2's pid file");
    g[1] = tmp[1];
    did(s, "SIGKILL to tend with %d direct children (2 of them with a grandchild); then "
           "`tend run` again on the same socket",
        n);

    kill(t1->pid, SIGKILL);
    int rc = tend_exit_wait(s, t1, WAIT);
    need(s, rc == 128 + SIGKILL, "tend ended with %d, not by SIGKILL", rc);
    int left = wait_gone(s, pids, n, WAIT);
    need(s, left == 0, "%d of %d direct children outlived tend (PDEATHSIG)", left, n);
    /* the grandchildren are not tend's children: they stay (documented) */
    pid_t rest[64];
    int m = tagged(s, rest, 64, 0), gk = 0;
    for (int i = 0; i < m; i++) {
        if (rest[i] == g[0] || rest[i] == g[1])
            gk++;
        else
            fail(s, "left after tend's SIGKILL: %s", describe(rest + i, 1));
    }
    held(s, "tend killed (exit %d); all %d direct children gone by PDEATHSIG; %d of 2 "
            "grandchildren left, as documented (a SIGKILLed tend can kill nothing, cgroups or "
            "not): the suite kills them",
         rc, n, gk);
    procs_kill_tagged(MARK_VAR, s->mark, WAIT);

    struct tend *t2 = tend_up(s, pol, NULL, NULL);
    s->t = t2;
    wait_for(s, t2, 1, "| paused", KIDS, "the second tend's children");
    wait_up(s, t2, NULL);
    need(s, !count_from(t2, 2, 0, "error"), "the second tend says: %s", text_from(t2, 2, 0));
    held(s, "a new `tend run` took the stale socket and runs all %d procs", n);
    baseline(s);
    finish(s, 0);
}

/* ---- a fatal signal: every group SIGKILLed on the way out ---- */

static void fatal_signal(struct sc *s)
{
    const char *pol = policy(s, ANCHOR
        "tend.proc { name = \"tree\", cmd = { \"@C\", \"tree\", \"3\", \"@D/t\", \"stay\" } }\n"
        "tend.proc { name = \"stubborn\", cmd = { \"@C\", \"ignore-term\", \"2\", \"@D/s\" } }\n");
    tend_up(s, pol, NULL, NULL);
    wait_for(s, s->t, 1, "tree | tree", 1, "the tree");
    wait_for(s, s->t, 1, "stubborn | ignoring", 1, "the stubborn one");
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    pid_t all[16];
    int n = pids_from(s, in_dir(s, "t"), all, 8);
    n += pids_from(s, in_dir(s, "s"), all + n, 8);
    need(s, n == 7, "%d pids in the pid files, want 7", n);
    did(s, "SIGSEGV (sent) to tend, whose procs have 5 grandchildren, 2 of them ignoring "
           "SIGTERM");
    kill(s->t->pid, SIGSEGV);
    int rc = tend_exit_wait(s, s->t, WAIT);
    need(s, rc == 128 + SIGSEGV, "tend ended with %d, want death by SIGSEGV", rc);
    int left = wait_gone(s, all, n, WAIT);
    need(s, left == 0, "%d of 7 processes outlived tend", left);
    held(s, "tend died of the signal (%d); its handler SIGKILLed every group: the 7 "
            "processes, grandchildren included, gone",
         rc);
    check_no_tagged(s);
}

/* ---- SIGSTOP during churn, then SIGCONT ---- */

static void sigstop_tend(struct sc *s)
{
    const char *lock = in_dir(s, "lock");
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    need(s, lfd >= 0 && flock(lfd, LOCK_EX) == 0, "cannot lock %s", lock);
    const char *pol = policy(s, ANCHOR
        "for i = 1, 20 do\n"
        "  tend.proc { name = \"l\" .. i, cmd = { \"@C\", \"lockwait\", \"@D/lock\", tostring(i) },\n"
        "              restart = \"never\" }\n"
        "end\n"
        "tend.proc { name = \"churn\", cmd = { \"true\" }, restart = \"always\",\n"
        "  backoff = { initial = 0.01, factor = 1, max = 0.01, jitter = 0 }, give_up = false }\n");
    tend_up(s, pol, NULL, NULL);
    const char *names[21];
    char nb[20][8];
    for (int i = 0; i < 20; i++) {
        snprintf(nb[i], sizeof nb[i], "l%d", i + 1);
        names[i] = nb[i];
        char line[32];
        snprintf(line, sizeof line, "%s: started", nb[i]);
        wait_for(s, s->t, 2, line, 1, "the lock waiters");
    }
    names[20] = NULL;
    wait_for(s, s->t, 2, "churn: started", 5, "the churn");
    pid_t pids[20];
    pids_of(s, names, pids);
    did(s, "SIGSTOP to tend while a proc restarts every 10 ms; 20 procs exit (codes 1-20) "
           "while it is stopped; SIGCONT after 2 s");

    kill(s->t->pid, SIGSTOP);
    siginfo_t si;
    need(s, waitid(P_PID, (id_t)s->t->pid, &si, WSTOPPED | WNOWAIT) == 0, "waitid: %s",
         strerror(errno));
    unsigned long long at = text_end(s->t, 2);
    int churn0 = count_from(s->t, 2, 0, "churn: started");
    flock(lfd, LOCK_UN);
    int left = wait_gone(s, pids, 20, WAIT);
    need(s, left == 0, "%d lock waiters did not exit", left);
    int zombies = zombies_of(s->t->pid);
    hold(s, 2.0);  /* tend stays stopped for a while, its children unreaped */
    kill(s->t->pid, SIGCONT);

    struct cli c = cli(s, NULL, WAIT, "wait", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8",
                       "l9", "l10", "l11", "l12", "l13", "l14", "l15", "l16", "l17", "l18",
                       "l19", "l20", "--exit", "--timeout", "10", (const char *)NULL);
    need(s, c.code == 0, "tend wait --exit: exit %d: %s", c.code, c.err);
    json_t *all = statuses(s, NULL);
    for (int i = 0; i < 20; i++) {
        json_t *st = status_of(all, names[i]);
        need(s, !strcmp(st_str(st, "state"), "stopped") && st_int(st, "exit_code") == i + 1,
             "%s: %s, exit_code %lld, want stopped with %d", names[i], st_str(st, "state"),
             st_int(st, "exit_code"), i + 1);
        need(s, !strcmp(st_str(st, "want"), "down") && cause_is(st, "exit"),
             "%s: want %s, cause %s", names[i], st_str(st, "want"), st_str(st, "cause"));
    }
    /* the churn goes on */
    if (!expect_n(s, s->t, 2, at, "churn: started", 5, WAIT))
        fail(s, "the churn did not go on after SIGCONT");
    c = CLI(s, "stop", "churn");
    need(s, c.code == 0, "tend stop churn: exit %d: %s", c.code, c.err);
    double end = now() + WAIT;
    while (zombies_of(s->t->pid) > 0 && now() < end)
        ping(s, NULL, WAIT, NULL);
    need(s, zombies_of(s->t->pid) == 0, "%d zombie children of tend", zombies_of(s->t->pid));
    held(s, "%d zombies while stopped, all reaped after SIGCONT; 20 statuses stopped with "
            "codes 1-20 (cause exit); churn went on (%d starts before the stop)",
         zombies, churn0);
    baseline(s);
    finish(s, 0);
}

/* ---- 1,000 signals in a burst, while procs churn ---- */

static void signal_burst(struct sc *s)
{
    const char *pol = policy(s, ANCHOR
        "for i = 1, 5 do\n"
        "  tend.proc { name = \"c\" .. i, cmd = { \"true\" }, restart = \"always\", autostart = false,\n"
        "    backoff = { initial = 0.01, factor = 1, max = 0.01, jitter = 0 }, give_up = false }\n"
        "end\n");
    tend_up(s, pol, NULL, NULL);
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    wait_up(s, s->t, NULL);
    baseline(s);
    struct cli c = CLI(s, "start", "c1", "c2", "c3", "c4", "c5");
    need(s, c.code == 0 || c.code == 1, "tend start: exit %d: %s", c.code, c.err);
    pid_t anchor;
    pids_of(s, (const char *const[]){"anchor", NULL}, &anchor);
    long rss1 = rss_kib(s->t->pid);
    did(s, "1,000 signals at once to tend (SIGHUP and SIGCHLD in turn) while 5 procs "
           "restart every 10 ms");
    unsigned long long at = text_end(s->t, 2);
    for (int i = 0; i < 1000; i++)
        if (kill(s->t->pid, i % 2 ? SIGCHLD : SIGHUP) != 0)
            fail(s, "kill: %s", strerror(errno));
    double lat = 0;
    need(s, ping(s, NULL, WAIT, &lat), "tend does not answer after the burst");
    need(s, ping(s, NULL, WAIT, NULL), "tend does not answer after the burst");
    need(s, !s->t->exited, "tend ended");
    sync_output(s);
    int reloads = count_from(s->t, 2, at, "reloaded ");
    need(s, reloads >= 1, "no reload ran");
    need(s, !count_from(s->t, 2, at, "reload refused"), "a reload was refused");
    pid_t anchor2;
    pids_of(s, (const char *const[]){"anchor", NULL}, &anchor2);
    need(s, anchor2 == anchor, "the anchor was restarted by a reload (pid %d -> %d)",
         (int)anchor, (int)anchor2);
    unsigned long long after = text_end(s->t, 2);
    if (!expect_n(s, s->t, 2, after, ": started", 10, WAIT))
        fail(s, "the churn stopped after the burst");
    c = CLI(s, "stop", "c1", "c2", "c3", "c4", "c5");
    need(s, c.code == 0, "tend stop: exit %d: %s", c.code, c.err);
    long rss2 = rss_kib(s->t->pid);
    need(s, zombies_of(s->t->pid) == 0, "tend has zombie children");
    held(s, "tend answered %.3f s after the burst; reloads run: %d (signals coalesce), none "
            "refused; the unchanged anchor kept its pid; churn went on; RSS %ld -> %ld KiB",
         lat, reloads, rss1, rss2);
    need(s, rss2 - rss1 < 4096, "RSS grew by %ld KiB", rss2 - rss1);
    finish(s, 0);
}

/* ---- 100 reloads while procs churn ---- */

#define RELOADS 100

static const char reload_a[] = ANCHOR
    "tend.proc { name = \"churn\", cmd = { \"true\" }, restart = \"always\", autostart = false,\n"
    "  backoff = { initial = 0.01, factor = 1, max = 0.01, jitter = 0 }, give_up = false }\n"
    "tend.proc { name = \"flip\", cmd = { \"@C\", \"pause\" }, env = { V = \"a\" } }\n"
    "local g = tend.proc { name = \"gone\", cmd = { \"@C\", \"pause\" } }\n"
    "tend.task(function() local st = g:wait(); tend.log.info(\"gone ended: %s\", st.state) end)\n";

static const char reload_b[] = ANCHOR
    "tend.proc { name = \"churn\", cmd = { \"true\" }, restart = \"always\", autostart = false,\n"
    "  backoff = { initial = 0.01, factor = 1, max = 0.01, jitter = 0 }, give_up = false }\n"
    "tend.proc { name = \"flip\", cmd = { \"@C\", \"pause\" }, env = { V = \"b\" } }\n"
    "tend.proc { name = \"new\", cmd = { \"@C\", \"pause\" } }\n";

/* Processes of the scenario whose TEND_PROC is `name`. */
static int procs_named(struct sc *s, const char *name, pid_t except)
{
    pid_t pids[64];
    int n = tagged(s, pids, 64, except), k = 0;
    char want[64];
    snprintf(want, sizeof want, "TEND_PROC=%s", name);
    for (int i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/environ", (int)pids[i]);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        static char buf[1 << 18];  /* NUL-separated entries */
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        for (size_t p = 0; p < len; p += strlen(buf + p) + 1)
            if (!strcmp(buf + p, want))
                k++;
    }
    return k;
}

static void reload_storm(struct sc *s)
{
    const char *pol = policy(s, reload_a);
    tend_up(s, pol, NULL, NULL);
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    wait_for(s, s->t, 1, "gone | paused", 1, "gone");
    wait_for(s, s->t, 1, "flip | paused", 1, "flip");
    wait_up(s, s->t, NULL);
    baseline(s);
    pid_t anchor, flip0;
    pids_of(s, (const char *const[]){"anchor", NULL}, &anchor);
    pids_of(s, (const char *const[]){"flip", NULL}, &flip0);
    struct cli c = CLI(s, "start", "churn");
    need(s, c.code == 0 || c.code == 1, "tend start churn: exit %d: %s", c.code, c.err);
    did(s, "%d `tend reload`s in a row, the file changing each time (a proc changed, one "
           "removed with a task waiting on it, one added), while a proc restarts every 10 ms",
        RELOADS);
    long rss10 = 0;
    double t0 = now();
    for (int i = 1; i <= RELOADS; i++) {
        /* whole files only: tend must never read half of one */
        policy_as(s, "next.lua", i % 2 ? reload_b : reload_a);
        rename(in_dir(s, "next.lua"), pol);
        c = CLI(s, "reload");
        need(s, c.code == 0, "reload %d: exit %d: %s", i, c.code, c.err);
        if (i == 10)
            rss10 = rss_kib(s->t->pid);
    }
    double secs = now() - t0;
    c = cli(s, NULL, WAIT, "wait", "anchor", "flip", "gone", "--ready", "--timeout", "10",
            (const char *)NULL);
    need(s, c.code == 0, "tend wait --ready: exit %d: %s", c.code, c.err);
    json_t *all = statuses(s, NULL);
    need(s, json_array_size(all) == 4 && status_of(all, "gone") && !status_of(all, "new"),
         "after the last reload tend has %zu procs", json_array_size(all));
    need(s, st_int(status_of(all, "anchor"), "pid") == anchor, "the anchor was restarted");
    pid_t flip = (pid_t)st_int(status_of(all, "flip"), "pid");
    sync_output(s);
    int changed = count_from(s->t, 2, 0, "flip: reload: declaration changed");
    need(s, flip != flip0 && changed == RELOADS, "flip: pid %d (%d at first); %d restarts "
         "for a changed declaration, want %d", (int)flip, (int)flip0, changed, RELOADS);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)flip);
    FILE *f = fopen(path, "re");
    char env[1 << 16];
    size_t len = f ? fread(env, 1, sizeof env - 1, f) : 0;
    if (f)
        fclose(f);
    bool va = false;
    for (size_t p = 0; p < len; p += strlen(env + p) + 1)
        va |= !strcmp(env + p, "V=a");
    need(s, va, "flip does not run with the last file's V=a");
    /* what the last reload removed is gone */
    double end = now() + WAIT;
    while (procs_named(s, "new", s->t->pid) > 0 && now() < end)
        ping(s, NULL, WAIT, NULL);
    need(s, procs_named(s, "new", s->t->pid) == 0, "a removed proc's process is still there");
    need(s, procs_named(s, "flip", s->t->pid) == 1, "%d processes of flip",
         procs_named(s, "flip", s->t->pid));
    long rss100 = rss_kib(s->t->pid);
    c = CLI(s, "stop", "churn");
    need(s, c.code == 0, "tend stop churn: exit %d: %s", c.code, c.err);
    need(s, rss100 - rss10 < 2048, "RSS %ld KiB after 10 reloads, %ld after %d", rss10, rss100,
         RELOADS);
    need(s, zombies_of(s->t->pid) == 0, "tend has zombie children");
    /* the old VMs' task waiting on the removed proc ended with its VM */
    sync_output(s);
    need(s, !count_from(s->t, 2, 0, "error:"), "errors logged: %.300s",
         strstr(text_from(s->t, 2, 0), "error:"));
    held(s, "%d reloads answered in %.1f s, all applied; the anchor kept its pid; flip "
            "restarted each time, runs the last file's env; the removed proc gone, the task "
            "waiting on it ended without an error; RSS %ld KiB "
            "after 10, %ld after %d",
         RELOADS, secs, rss10, rss100, RELOADS);
    finish(s, 0);
}

/* ---- a second tend while the first is between bind and listen ---- */

static void socket_race(struct sc *s)
{
    /* strace holds the first tend's listen() back for 2 s: what is
     * otherwise a window of microseconds */
    static const char *const slow_listen[] = {
        "strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=listen",
        "-e", "inject=listen:delay_enter=2000000", NULL};
    if (!runs_ok((const char *const[]){"strace", "-f", "-qq", "-o", "/dev/null", "-e",
                                       "trace=listen", "-e", "inject=listen:delay_enter=1",
                                       "true", NULL}))
        skip(s, "strace with fault injection (to widen the window) cannot run here");
    const char *pol = policy(s, ANCHOR);
    struct tend *t1 = tend_up(s, pol, NULL, &(struct topts){.wrap = slow_listen});
    did(s, "a second `tend run` on the same socket while the first has bound it but not yet "
           "listened (strace delays the first one's listen() by 2 s)");
    double end = now() + WAIT;
    while (access(s->sock, F_OK) != 0 && now() < end && !t1->exited)
        pump(s, 10);
    need(s, access(s->sock, F_OK) == 0, "the first tend made no socket");
    struct tend *t2 = tend_up(s, pol, NULL, NULL);
    /* it stops, or it starts the procs */
    end = now() + WAIT;
    while (!t2->exited && !count_from(t2, 1, 0, "anchor | paused") && now() < end)
        pump(s, 100);
    int rc = t2->exited ? tend_exit_wait(s, t2, WAIT) : -1;
    if (rc != 2) {
        need(s, !t2->exited, "the second tend exited with %d", rc);
        /* and the first one goes on once its listen() returns */
        bool first = expect_n(s, t1, 1, 0, "anchor | paused", 1, WAIT);
        defect(s, "the second tend did not stop: it took the socket of the live first one "
                  "(connect() was refused, so it took it for a dead tend's) and runs the "
                  "procs; %s",
               first ? "the first one runs them too: two anchors, two supervisors, one of "
                       "them unreachable"
                     : "the first one did not get to run its procs");
    }
    held(s, "the second tend stopped with exit 2");
    wait_up(s, t1, NULL);
    baseline(s);
    check_serving(s);
    /* the first tend runs under strace, which a SIGTERM would detach from
     * it: it is asked to shut down through its socket instead */
    struct cli c = CLI(s, "shutdown");
    need(s, c.code == 0, "tend shutdown failed (%d)", c.code);
    int code = tend_exit_wait(s, t1, WAIT);
    need(s, code == 0, "the first tend exited with %d after tend shutdown", code);
    check_no_tagged(s);
}

const struct scenario sc_tend[] = {
    {"sigkill-tend", sigkill_tend, 40, NULL},
    {"fatal-signal", fatal_signal, 30, NULL},
    {"sigstop-tend", sigstop_tend, 40, NULL},
    {"signal-burst", signal_burst, 40, NULL},
    {"reload-storm", reload_storm, 60, NULL},
    {"socket-startup-race", socket_race, 30,
     "D2: a second `tend run` takes over the socket of a first tend that has bound it but "
     "not yet listened (ECONNREFUSED is taken for a dead tend's socket): two supervisors run "
     "the same procs"},
    {NULL, NULL, 0, NULL},
};
