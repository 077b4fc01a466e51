/* sc_os.c -- the OS says no: exec errors, no fds left, no processes left,
 * no disk left. */
#include "fault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ANCHOR "tend.proc { name = \"anchor\", cmd = { \"@C\", \"pause\" } }\n"

/* ---- exec ENOENT, EACCES, ENOEXEC ---- */

static void exec_errors(struct sc *s)
{
    write_file(s->dir, "noexec", "#!/bin/sh\nexit 0\n");  /* mode 0644: no x bit */
    const char *garbage = write_file(s->dir, "garbage", "\x7f" "ELF\x02\x01\x01 not an ELF at all\n");
    chmod(garbage, 0755);
    const char *script = write_file(s->dir, "script", "#!/nonexistent/interpreter\n");
    chmod(script, 0755);
    const char *pol = policy(s, ANCHOR
        "tend.proc { name = \"enoent\", cmd = { \"@D/missing\" }, restart = \"never\" }\n"
        "tend.proc { name = \"eacces\", cmd = { \"@D/noexec\" }, restart = \"never\" }\n"
        "tend.proc { name = \"enoexec\", cmd = { \"@D/garbage\" }, restart = \"never\" }\n"
        "tend.proc { name = \"interp\", cmd = { \"@D/script\" }, restart = \"never\" }\n"
        "tend.proc { name = \"retry\", cmd = { \"@D/missing\" }, restart = \"always\",\n"
        "  backoff = { initial = 0.02, factor = 1, max = 0.02, jitter = 0 },\n"
        "  give_up = { restarts = 3, within = 60 } }\n");
    tend_up(s, pol, NULL, NULL);
    did(s, "procs whose exec fails: a missing file, a file without an x bit, an x file that "
           "is no executable, a script with a missing interpreter; one more restarted "
           "(always, give_up 3 in 60 s)");
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    wait_for(s, s->t, 2, "retry: failed", 4, "the retries");
    wait_for(s, s->t, 2, "gave up", 1, "the give-up");
    json_t *all = statuses(s, NULL);
    static const struct {
        const char *name, *file, *err;
    } want[] = {
        {"enoent", "missing", "No such file or directory"},
        {"eacces", "noexec", "Permission denied"},
        {"enoexec", "garbage", "Exec format error"},
        {"interp", "script", "No such file or directory"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *st = status_of(all, want[i].name);
        char reason[PATH_MAX + 128];
        snprintf(reason, sizeof reason, "exec %s/%s: %s", s->dir, want[i].file, want[i].err);
        need(s, st && !strcmp(st_str(st, "state"), "failed"), "%s: %s, want failed",
             want[i].name, st_str(st, "state"));
        need(s, !strcmp(st_str(st, "reason"), reason), "%s: reason \"%s\", want \"%s\"",
             want[i].name, st_str(st, "reason"), reason);
        need(s, !strcmp(st_str(st, "want"), "down"), "%s: want %s", want[i].name,
             st_str(st, "want"));
        char line[PATH_MAX + 160];
        snprintf(line, sizeof line, "%s: failed: %s", want[i].name, reason);
        need(s, count_from(s->t, 2, 0, line) == 1, "no log line \"%s\"", line);
    }
    json_t *r = status_of(all, "retry");
    need(s, !strcmp(st_str(r, "state"), "failed") && *st_str(r, "gave_up") &&
                !strcmp(st_str(r, "want"), "down") && st_int(r, "restarts") == 3,
         "retry: %s, gave_up \"%s\", want %s, restarts %lld", st_str(r, "state"),
         st_str(r, "gave_up"), st_str(r, "want"), st_int(r, "restarts"));
    held(s, "each failed with its errno as the reason (\"%s\"...) and one log line; the "
            "restarted one failed 4 times, then gave up (\"%s\")",
         st_str(status_of(all, "enoexec"), "reason"), st_str(r, "gave_up"));
    baseline(s);
    finish(s, 0);
}

/* ---- no fds: RLIMIT_NOFILE 64, 40 procs, then clients ---- */

static void emfile(struct sc *s)
{
    char text[4096];
    snprintf(text, sizeof text, ANCHOR
        "for i = 1, 40 do\n"
        "  tend.proc { name = \"p\" .. i, cmd = { \"@C\", \"pause\" }, restart = \"never\" }\n"
        "end\n");
    const char *pol = policy(s, text);
    struct topts o = {.nofile = 64};
    tend_up(s, pol, NULL, &o);
    did(s, "tend under RLIMIT_NOFILE 64 (hard) with 41 procs; then 16 idle clients and `tend "
           "status`; then 16 busy clients and a status request while no fd is left; then the "
           "clients go, 3 procs are stopped and a failed one started");
    wait_for(s, s->t, 2, "cannot be raised further", 1, "the warning about the fd limit");
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    wait_up(s, s->t, NULL);
    json_t *all = statuses(s, NULL);
    int ready = 0, failed = 0;
    for (int i = 1; i <= 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        json_t *st = status_of(all, name);
        if (!strcmp(st_str(st, "state"), "ready"))
            ready++;
        else if (!strcmp(st_str(st, "state"), "failed") &&
                 strstr(st_str(st, "reason"), "Too many open files"))
            failed++;
        else
            fail(s, "%s: %s (%s)", name, st_str(st, "state"), st_str(st, "reason"));
    }
    need(s, failed > 0, "no proc failed for want of fds (%d ready)", ready);
    sync_output(s);
    int lines = count_from(s->t, 2, 0, ": failed: ");
    int emf = count_from(s->t, 2, 0, "Too many open files");
    need(s, lines == failed && emf >= failed, "%d log lines of failures for %d failed procs",
         lines, failed);
    held(s, "%d procs ready, %d failed with \"%s\", one warning line each", ready, failed,
         "Too many open files");
    baseline(s);

    /* idle clients take what is left: a new one gets through all the same
     * (tend closes an idle connection to make room) */
    int idle[16];
    for (int i = 0; i < 16; i++)
        idle[i] = raw_connect(s, NULL);
    struct cli c = CLI(s, "status");
    need(s, c.code == 0, "tend status with idle clients on the last fds: exit %d (%.2fs): %s",
         c.code, c.secs, c.err);
    for (int i = 0; i < 16; i++)
        if (idle[i] >= 0)
            close(idle[i]);
    need(s, ping(s, NULL, WAIT, NULL), "tend does not answer after the idle clients");
    held(s, "with 16 idle clients on the last fds, `tend status` got through in %.2f s", c.secs);

    /* busy clients (each waits for the anchor's end) take them: tend cannot
     * accept, and must not spin */
    unsigned long long at = text_end(s->t, 2);
    static const char wait_req[] = "{\"cmd\": \"wait\", \"names\": [\"anchor\"], \"exit\": true}\n";
    int busy[16];
    for (int i = 0; i < 16; i++) {
        busy[i] = raw_connect(s, NULL);
        need(s, busy[i] >= 0 && raw_send_all(busy[i], wait_req, sizeof wait_req - 1, WAIT),
             "busy client %d: %s", i, strerror(errno));
    }
    if (!expect_n(s, s->t, 2, at, "control socket: cannot accept", 1, WAIT))
        fail(s, "no \"cannot accept\" warning with 16 busy clients");
    int pending = raw_connect(s, NULL);
    need(s, pending >= 0, "connect: %s", strerror(errno));
    static const char req[] = "{\"cmd\": \"status\", \"names\": [\"anchor\"]}\n";
    need(s, raw_send_all(pending, req, sizeof req - 1, WAIT), "send failed");
    long c0 = cpu_ticks(s->t->pid);
    hold(s, 1.0);
    double cpu = (double)(cpu_ticks(s->t->pid) - c0) / ticks_per_sec();
    int warnings = count_from(s->t, 2, at, "cannot accept");
    need(s, cpu < 0.1, "tend used %.2f s of CPU in 1 s while it could not accept", cpu);
    need(s, warnings == 1, "%d \"cannot accept\" warnings, want 1", warnings);
    struct pollfd pfd = {pending, POLLIN, 0};
    need(s, poll(&pfd, 1, 0) == 0, "answered while tend had no fd to accept it with");
    double t0 = now();
    for (int i = 0; i < 16; i++)
        if (busy[i] >= 0)
            close(busy[i]);
    char *reply = raw_reply(s, pending, 3.0);
    double secs = now() - t0;
    need(s, reply_ok(reply), "no answer within 3 s of fds coming free: %s",
         reply ? reply : "(none)");
    close(pending);
    held(s, "with 16 busy clients: one \"cannot accept\" warning, %.2f s of CPU in 1 s; the "
            "waiting request answered %.2f s after fds came free",
         cpu, secs);

    /* recovery: stop some, start a failed one */
    int first_failed = 0;
    for (int i = 1; i <= 40 && !first_failed; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        if (!strcmp(st_str(status_of(all, name), "state"), "failed"))
            first_failed = i;
    }
    c = CLI(s, "stop", "p1", "p2", "p3");
    need(s, c.code == 0, "tend stop p1 p2 p3: exit %d: %s", c.code, c.err);
    char name[16];
    snprintf(name, sizeof name, "p%d", first_failed);
    c = CLI(s, "start", name);
    need(s, c.code == 0, "tend start %s: exit %d: %s %s", name, c.code, c.out, c.err);
    json_t *st = status_of(statuses(s, NULL), name);
    need(s, !strcmp(st_str(st, "state"), "ready"), "%s: %s", name, st_str(st, "state"));
    held(s, "3 stopped, then %s started: ready", name);
    /* p1-p3 gave their fds back, the started one took fewer */
    s->fds0 = fd_count(s->t->pid) > s->fds0 ? s->fds0 : fd_count(s->t->pid);
    finish(s, 0);
}

/* How many threads the processes of `uid` (real) have. */
static int threads_of_uid(uid_t uid)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], line[256];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        long ruid = -1, threads = 0;
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "Uid:", 4))
                ruid = atol(line + 4);
            else if (!strncmp(line, "Threads:", 8))
                threads = atol(line + 8);
        }
        fclose(f);
        if (ruid == (long)uid)
            n += (int)threads;
    }
    if (d)
        closedir(d);
    return n;
}

/* ---- no processes: fork EAGAIN as an unprivileged user under RLIMIT_NPROC ---- */

static void fork_eagain(struct sc *s)
{
    if (getuid() != 0)
        skip(s, "needs root, to run tend as nobody under an RLIMIT_NPROC of its own");
    /* the limit counts every thread of the uid: nobody must have none */
    int busy = threads_of_uid(65534);
    if (busy > 0)
        skip(s, "uid 65534 already runs %d threads here; the limit would not be ours", busy);
    if (!runs_ok((const char *const[]){"prlimit", "--nproc=6", "setpriv", "--reuid=65534",
                                       "--regid=65534", "--clear-groups", "true", NULL}))
        skip(s, "prlimit or setpriv (util-linux) cannot run here");
    chmod(s->dir, 0777);
    const char *pol = policy(s, ANCHOR
        "for i = 1, 10 do\n"
        "  tend.proc { name = \"p\" .. i, cmd = { \"@C\", \"pause\" }, restart = \"never\" }\n"
        "end\n");
    chmod(pol, 0644);
    struct topts o = {.wrap = (const char *const[]){"prlimit", "--nproc=6", "setpriv",
                                                    "--reuid=65534", "--regid=65534",
                                                    "--clear-groups", NULL}};
    tend_up(s, pol, NULL, &o);
    did(s, "tend as uid 65534 under RLIMIT_NPROC 6 with 11 procs; then 3 stopped and a "
           "failed one started");
    wait_up(s, s->t, NULL);
    wait_for(s, s->t, 1, "anchor | paused", 1, "the anchor");
    json_t *all = statuses(s, NULL);
    int ready = 0, failed = 0, first_failed = 0;
    for (int i = 1; i <= 10; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        json_t *st = status_of(all, name);
        if (!strcmp(st_str(st, "state"), "ready"))
            ready++;
        else if (!strcmp(st_str(st, "state"), "failed") &&
                 !strcmp(st_str(st, "reason"), "fork: Resource temporarily unavailable")) {
            failed++;
            if (!first_failed)
                first_failed = i;
        } else
            fail(s, "%s: %s (%s)", name, st_str(st, "state"), st_str(st, "reason"));
    }
    need(s, failed > 0, "no proc failed to fork (%d ready)", ready);
    sync_output(s);
    need(s, count_from(s->t, 2, 0, "failed: fork: Resource temporarily unavailable") == failed,
         "not one log line per failed fork");
    baseline(s);
    struct cli c = CLI(s, "stop", "p1", "p2", "p3");
    need(s, c.code == 0, "tend stop: exit %d: %s", c.code, c.err);
    char name[16];
    snprintf(name, sizeof name, "p%d", first_failed);
    c = CLI(s, "start", name);
    need(s, c.code == 0, "tend start %s: exit %d: %s", name, c.code, c.err);
    held(s, "%d procs ready, %d failed with \"fork: Resource temporarily unavailable\" (one log "
            "line each); after 3 stops, %s started: ready",
         ready, failed, name);
    s->fds0 = fd_count(s->t->pid);
    finish(s, 0);
}

/* ---- no disk: an output file on a full filesystem ---- */

#define FULL_POLICY                                                                         \
    ANCHOR                                                                                  \
    "tend.proc { name = \"writer\", cmd = { \"@C\", \"lines64k\", \"8\", \"exit\" },\n"\
    "            restart = \"never\",\n"               \
    "            output = \"@D/full/writer.log\" }\n"                                       \
    "tend.proc { name = \"other\", cmd = { \"@C\", \"pause\" } }\n"

static void after_full(struct sc *s, const char *what)
{
    /* at its end tend reads what is left in the pipes: every line has been
     * written or dropped by then */
    wait_for(s, s->t, 2, "writer: exited with code 0", 1, "the writer's end");
    struct cli c = CLI(s, "status");
    need(s, c.code == 0, "tend status: exit %d: %s", c.code, c.err);
    int said = count_from(s->t, 2, 0, "writer: output ");
    need(s, said == 1, "%d log lines about the output file, want 1", said);
    /* seen from tend's mount namespace (the tmpfs is mounted there only) */
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "/proc/%d/root%s", (int)s->t->pid, in_dir(s, "full/writer.log"));
    struct stat sb;
    need(s, stat(path, &sb) == 0, "no output file %s", path);
    c = CLI(s, "stop", "other");
    need(s, c.code == 0, "tend stop other: exit %d: %s", c.code, c.err);
    held(s, "%s said once (of 8 lines, %lld KiB written); `tend stop other` worked", what,
         (long long)sb.st_size / 1024);
}

static void disk_full(struct sc *s)
{
    if (getuid() != 0)
        skip(s, "needs root, to mount a small tmpfs (in a mount namespace of tend's own)");
    mkdir(in_dir(s, "full"), 0755);
    if (!runs_ok((const char *const[]){"unshare", "-m", "--propagation", "private", "mount",
                                       "-t", "tmpfs", "-o", "size=64k", "fault",
                                       in_dir(s, "full"), NULL}))
        skip(s, "cannot mount a tmpfs in a mount namespace here (unshare -m; mount -t tmpfs)");
    const char *pol = policy(s, FULL_POLICY);
    struct topts o = {.wrap = (const char *const[]){
                          "unshare", "-m", "--propagation", "private", "sh", "-c",
                          "mount -t tmpfs -o size=256k fault \"$0\" && exec \"$@\"",
                          in_dir(s, "full"), NULL}};
    tend_up(s, pol, NULL, &o);
    did(s, "a proc writes 8 lines of 64 KiB to an output file on a 256 KiB tmpfs");
    wait_up(s, s->t, NULL);
    wait_for(s, s->t, 2, "writer: output ", 1, "the error");
    need(s, count_from(s->t, 2, 0, "No space left on device"), "not ENOSPC: %s",
         text_from(s->t, 2, 0));
    baseline(s);
    after_full(s, "\"No space left on device\"");
    finish(s, 0);
}

static void fsize_limit(struct sc *s)
{
    mkdir(in_dir(s, "full"), 0755);
    const char *pol = policy(s, FULL_POLICY);
    struct topts o = {.fsize = 256 * 1024};
    tend_up(s, pol, NULL, &o);
    did(s, "the same under RLIMIT_FSIZE 256 KiB (as tend's own limit)");
    wait_up(s, s->t, NULL);
    if (!expect_n(s, s->t, 2, 0, "writer: output ", 1, 5)) {
        if (s->t->exited)
            defect(s, "tend %s when the output file reached RLIMIT_FSIZE (SIGXFSZ is in its "
                      "list of fatal signals) and took every proc with it",
                   WIFSIGNALED(s->t->status) && WTERMSIG(s->t->status) == SIGXFSZ
                       ? "was killed by SIGXFSZ"
                       : "exited");
        fail(s, "no error about the output file within 5 s");
    }
    baseline(s);
    after_full(s, "\"File too large\"");
    finish(s, 0);
}

const struct scenario sc_os[] = {
    {"exec-errors", exec_errors, 30, NULL},
    {"emfile-nofile-64", emfile, 40, NULL},
    {"fork-eagain-nproc", fork_eagain, 30, NULL},
    {"disk-full-tmpfs", disk_full, 30, NULL},
    {"disk-full-fsize", fsize_limit, 30,
     "an output file that reached RLIMIT_FSIZE killed tend with SIGXFSZ, and every proc "
     "with it (fixed in 96c4db5: SIGXFSZ is ignored)"},
    {NULL, NULL, 0, NULL},
};
