/* test_cgroup.c -- cgroup v2 containment (SPEC 5): reading tend's cgroup
 * from /proc/self/cgroup and mountinfo, then the real binary: a
 * double-forked setsid() daemon is stopped with its proc, what an exited
 * main process left ends when the cgroup empties (no polling: the stop
 * timeout is long), nothing is left once tend exits, and TEND_CGROUPS=0
 * falls back to process groups.
 *
 * The binary tests need a writable cgroup v2 hierarchy (root, or a
 * delegated subtree); where tend says cgroups are not available they are
 * skipped, and the reason tend gave is printed.  Every wait is on an event
 * (a pidfd, inotify on a cgroup directory, a line of tend's output) with a
 * deadline; nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "core/cgroup.h"

#define TAG_VAR "TEND_TEST_TAG"

/* ---- parsing ---- */

static const char hybrid_self[] =
    "9:name=systemd:/\n"
    "4:memory:/process_api/916dc8\n"
    "1:cpu:/\n"
    "0::/system.slice/tend.service\n";

static const char hybrid_mountinfo[] =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:13 master:2 - cgroup2 cgroup2 "
    "rw,nsdelegate\n";

static void test_self_gives_the_v2_line_path(void **state)
{
    char *p = cgroup_parse_self(hybrid_self);
    assert_string_equal(p, "/system.slice/tend.service");
    free(p);
    p = cgroup_parse_self("0::/\n");
    assert_string_equal(p, "/");
    free(p);
    p = cgroup_parse_self("0::/no/newline");
    assert_string_equal(p, "/no/newline");
    free(p);
}

static void test_self_without_a_v2_line_is_null(void **state)
{
    assert_null(cgroup_parse_self("4:memory:/a\n1:cpu:/\n"));
    assert_null(cgroup_parse_self(""));
    assert_null(cgroup_parse_self("0::\n"));
}

static void test_mountinfo_places_the_path_under_the_cgroup2_mount(void **state)
{
    char *d = cgroup_parse_mountinfo(hybrid_mountinfo, "/system.slice/tend.service");
    assert_string_equal(d, "/sys/fs/cgroup/unified/system.slice/tend.service");
    free(d);
}

static void test_mountinfo_root_cgroup_is_the_mount_itself(void **state)
{
    char *d = cgroup_parse_mountinfo(hybrid_mountinfo, "/");
    assert_string_equal(d, "/sys/fs/cgroup/unified");
    free(d);
}

/* A mount of a subtree (its root field is not "/"): only what is below
 * that root is under it. */
static void test_mountinfo_subtree_mount_holds_only_its_subtree(void **state)
{
    const char *mi = "50 40 0:38 /kube/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
    char *d = cgroup_parse_mountinfo(mi, "/kube/pod1/app");
    assert_string_equal(d, "/sys/fs/cgroup/app");
    free(d);
    d = cgroup_parse_mountinfo(mi, "/kube/pod1");
    assert_string_equal(d, "/sys/fs/cgroup");
    free(d);
    assert_null(cgroup_parse_mountinfo(mi, "/kube/pod10"));
    assert_null(cgroup_parse_mountinfo(mi, "/other"));
}

static void test_mountinfo_unescapes_the_mount_point(void **state)
{
    const char *mi = "50 40 0:38 / /mnt/my\\040cgroups rw - cgroup2 none rw\n";
    char *d = cgroup_parse_mountinfo(mi, "/a");
    assert_string_equal(d, "/mnt/my cgroups/a");
    free(d);
}

static void test_mountinfo_without_cgroup2_is_null(void **state)
{
    const char *mi = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
                     "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
    assert_null(cgroup_parse_mountinfo(mi, "/"));
    assert_null(cgroup_parse_mountinfo("", "/"));
}

/* ---- the binary ---- */

/* TEND_CGROUPS as this program was started with. */
static const char *outer_cgroups;

struct fx {
    char *dir;
    struct tend_run *t;
    char root[PATH_MAX];  /* tend's cgroup, from its log line */
    char why[512];        /* or why tend does not use cgroups */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tmpdir_new();
    if (!f->dir)
        return -1;
    setenv(TAG_VAR, f->dir, 1);
    char sock[PATH_MAX];
    snprintf(sock, sizeof sock, "%s/tend.sock", f->dir);
    setenv("TEND_SOCKET", sock, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tend_free(f->t);
    procs_kill_tagged(TAG_VAR, f->dir, DEADLINE);
    unsetenv(TAG_VAR);
    unsetenv("TEND_SOCKET");
    if (outer_cgroups)
        setenv("TEND_CGROUPS", outer_cgroups, 1);  /* as the test run was given */
    else
        unsetenv("TEND_CGROUPS");
    tmpdir_free(f->dir);
    free(f);
    return 0;
}

/* `text` with every "@D" replaced by the test's directory, as the policy. */
static char *policy(struct fx *f, const char *text)
{
    char out[8192];
    size_t n = 0;
    for (const char *p = text; *p && n < sizeof out - PATH_MAX;) {
        if (p[0] == '@' && p[1] == 'D') {
            n += (size_t)snprintf(out + n, sizeof out - n, "%s", f->dir);
            p += 2;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return write_file(f->dir, "policy.lua", out);
}

static void dump(const struct tend_run *t)
{
    fprintf(stderr, "---- tend's stderr:\n%s\n----\n", t ? t->err : "(none)");
}

/* Start tend on `text`; false (and the test skipped) when tend says it
 * cannot use cgroups here. */
static bool start(struct fx *f, const char *text)
{
    char *path = policy(f, text);
    f->t = tend_start((const char *[]){"run", path, NULL});
    free(path);
    if (!tend_expect(f->t, 2, "cgroups: ", DEADLINE)) {
        dump(f->t);
        fail_msg("tend did not say which mode it uses");
    }
    /* the rest of the line */
    tend_expect(f->t, 2, "\n", DEADLINE);
    const char *l = strstr(f->t->err, "cgroups: ") + strlen("cgroups: ");
    size_t n = strcspn(l, "\n");
    if (strncmp(l, "not available", 13) == 0) {
        snprintf(f->why, sizeof f->why, "%.*s", (int)n, l);
        return false;
    }
    snprintf(f->root, sizeof f->root, "%.*s", (int)n, l);
    return true;
}

/* Start tend on `text`, or skip the test, saying why, when tend cannot use
 * cgroups here. */
#define START_OR_SKIP(f, text)                                                  \
    do {                                                                        \
        if (!start(f, text)) {                                                  \
            fprintf(stderr, "skipped: tend says cgroups: %s\n", (f)->why);      \
            skip();                                                             \
        }                                                                       \
    } while (0)

/* A daemon's pid, from the file it writes (wait for it), as a pidfd. */
static int daemon_pid(struct fx *f, const char *name, pid_t *pid)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    if (!file_wait_for(path, "\n", DEADLINE)) {
        dump(f->t);
        fail_msg("no %s", path);
    }
    char *s = read_file(path);
    *pid = (pid_t)atoi(s);
    free(s);
    return pid_watch(*pid);  /* -1: gone already (a leftover may be stopped at once) */
}

/* The cgroup directory process `pid` is in (under the unified mount). */
static void cgroup_of(const struct fx *f, pid_t pid, char *out, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    char *text = read_file(path);
    assert_non_null(text);
    char *rel = cgroup_parse_self(text);
    free(text);
    assert_non_null(rel);
    /* the root's own path ends like tend's part of rel: join at its base */
    const char *base = strrchr(f->root, '/');
    const char *at = strstr(rel, base);
    if (!at)
        fail_msg("process %d is in %s, not under %s", (int)pid, rel, f->root);
    snprintf(out, size, "%.*s%s", (int)(base - f->root), f->root, at);
    free(rel);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Wait until directory `path` is removed (inotify on its parent); whether
 * it was within `timeout`. */
static bool wait_removed(const char *path, double timeout)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    *slash = '\0';
    const char *name = slash + 1;
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (in < 0 || inotify_add_watch(in, parent, IN_DELETE | IN_DELETE_SELF) < 0) {
        /* the parent is gone too: so is the directory */
        if (in >= 0)
            close(in);
        return !exists(path);
    }
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool gone = !exists(path);
    while (!gone) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = timeout - ((double)(now.tv_sec - t0.tv_sec) +
                                 (double)(now.tv_nsec - t0.tv_nsec) / 1e9);
        if (left <= 0)
            break;
        struct pollfd p = {in, POLLIN, 0};
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n = read(in, buf, sizeof buf);
        for (char *q = buf; n > 0 && q < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)q;
            q += sizeof *e + e->len;
            if ((e->mask & IN_DELETE_SELF) || (e->len && strcmp(e->name, name) == 0))
                gone = true;
        }
    }
    close(in);
    return gone;
}

/* The `cgroup` field of `tend status --json web` ("" when absent). */
static void status_cgroup(char *out, size_t size)
{
    struct tend_run *c = tend_run_sync((const char *[]){"status", "--json", "web", NULL},
                                       DEADLINE);
    json_error_t err;
    json_t *all = json_loads(c->out, 0, &err);
    if (!all)
        fail_msg("status --json: %s\n%s", err.text, c->err);
    const char *v = json_string_value(json_object_get(json_array_get(all, 0), "cgroup"));
    snprintf(out, size, "%s", v ? v : "");
    json_decref(all);
    tend_free(c);
}

/* A proc whose main process leaves a double-forked setsid() daemon behind
 * (its pid in @D/daemon.pid), then waits. */
#define DAEMON_PROC(extra, after)                                                      \
    "tend.proc { name = 'web', " extra " cmd = { 'sh', '-c', [[\n"                     \
    "  (setsid sh -c 'echo $$ > @D/d.tmp && mv @D/d.tmp @D/daemon.pid; exec sleep 300' &)\n" \
    "  " after "]] } }\n"

static void test_incarnation_runs_in_a_cgroup_of_its_own(void **state)
{
    struct fx *f = *state;
    START_OR_SKIP(f, DAEMON_PROC("", "exec sleep 300"));
    pid_t d;
    int fd = daemon_pid(f, "daemon.pid", &d);
    char cg[PATH_MAX];
    cgroup_of(f, d, cg, sizeof cg);
    /* the daemon left the process group, not the cgroup */
    assert_true(getsid(d) == d);
    assert_string_equal(strrchr(cg, '/'), "/web-1");
    char self[PATH_MAX];
    cgroup_of(f, f->t->pid, self, sizeof self);
    char want[PATH_MAX + 16];
    snprintf(want, sizeof want, "%s/supervisor", f->root);
    assert_string_equal(self, want);  /* tend in its own leaf */
    char shown[PATH_MAX];
    status_cgroup(shown, sizeof shown);
    assert_string_equal(shown, cg);  /* the status says where it runs */
    close(fd);
}

static void test_setsid_daemon_is_stopped_with_its_proc(void **state)
{
    struct fx *f = *state;
    START_OR_SKIP(f, DAEMON_PROC("", "exec sleep 300"));
    pid_t d;
    int fd = daemon_pid(f, "daemon.pid", &d);
    char cg[PATH_MAX];
    cgroup_of(f, d, cg, sizeof cg);
    struct tend_run *c = tend_run_sync((const char *[]){"stop", "web", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    tend_free(c);
    if (!pidfd_wait_gone(fd, DEADLINE)) {
        dump(f->t);
        fail_msg("the setsid daemon %d outlived its proc", (int)d);
    }
    assert_true(wait_removed(cg, DEADLINE));
}

/* The main process exits by itself; its daemon gets the stop signal and
 * the leftover wait ends when the cgroup is empty, long before the stop
 * timeout (5 minutes) that would end it otherwise. */
static void test_leftover_wait_ends_when_the_cgroup_empties(void **state)
{
    struct fx *f = *state;
    START_OR_SKIP(f, DAEMON_PROC("restart = 'never', stop_timeout = 300,",
                              "while [ ! -s @D/daemon.pid ]; do sleep 0.01; done; exit 0"));
    pid_t d;
    int fd = daemon_pid(f, "daemon.pid", &d);
    char cg[PATH_MAX + 8];
    snprintf(cg, sizeof cg, "%s/web-1", f->root);
    assert_true(tend_expect(f->t, 2, "web: exited with code 0", DEADLINE));
    assert_true(pidfd_wait_gone(fd, DEADLINE));
    assert_true(wait_removed(cg, DEADLINE));
}

/* A daemon that ignores the stop signal: cgroup.kill at the deadline. */
static void test_daemon_ignoring_stop_signal_is_killed_at_the_deadline(void **state)
{
    struct fx *f = *state;
    START_OR_SKIP(f, "tend.proc { name = 'web', stop_timeout = 0.3, cmd = { 'sh', '-c', [[\n"
                  "  (setsid sh -c 'trap \"\" TERM; echo $$ > @D/d.tmp && mv @D/d.tmp "
                  "@D/daemon.pid; while :; do sleep 1; done' &)\n"
                  "  exec sleep 300]] } }\n");
    pid_t d;
    int fd = daemon_pid(f, "daemon.pid", &d);
    char cg[PATH_MAX];
    cgroup_of(f, d, cg, sizeof cg);
    struct tend_run *c = tend_run_sync((const char *[]){"stop", "web", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    tend_free(c);
    assert_true(pidfd_wait_gone(fd, DEADLINE));
    assert_true(wait_removed(cg, DEADLINE));
}

/* Start tend on a proc `nested` that is a tend of its own, running a proc
 * `leaf`; the pidfd of leaf's process. */
static int start_nested(struct fx *f, pid_t *leaf)
{
    char inner[PATH_MAX + 200], outer[2 * PATH_MAX + 400];
    snprintf(inner, sizeof inner,
             "tend.proc { name = 'leaf', cmd = { 'sh', '-c', "
             "'echo $$ > %s/l.tmp && mv %s/l.tmp %s/leaf.pid; exec sleep 300' } }\n",
             f->dir, f->dir, f->dir);
    free(write_file(f->dir, "inner.lua", inner));
    snprintf(outer, sizeof outer,
             "tend.proc { name = 'nested', stop_timeout = 300,\n"
             "  env = { TEND_SOCKET = '@D/inner.sock' },\n"
             "  cmd = { '%s', 'run', '@D/inner.lua' } }\n", tend_path());
    if (!start(f, outer))
        return -2;
    int fd = daemon_pid(f, "leaf.pid", leaf);
    char cg[PATH_MAX];
    cgroup_of(f, *leaf, cg, sizeof cg);
    assert_non_null(strstr(cg, "/nested-1/tend-"));  /* below the incarnation's */
    return fd;
}

/* A program that makes cgroups of its own (here a tend under tend, in its
 * leaf): the stop signal reaches it there, so it shuts down by itself
 * (exit code 0) long before the stop timeout. */
static void test_stop_reaches_cgroups_the_program_made(void **state)
{
    struct fx *f = *state;
    pid_t leaf;
    int fd = start_nested(f, &leaf);
    if (fd == -2) {
        fprintf(stderr, "skipped: tend says cgroups: %s\n", f->why);
        skip();
    }
    struct tend_run *c = tend_run_sync((const char *[]){"stop", "nested", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    tend_free(c);
    if (!tend_expect(f->t, 2, "tend: nested: exited with code 0", DEADLINE)) {
        dump(f->t);
        fail_msg("the nested tend did not get the stop signal");
    }
    assert_true(pidfd_wait_gone(fd, DEADLINE));
}

/* A nested tend killed at once cannot remove its cgroups: tend removes
 * them with the incarnation's. */
static void test_cgroups_a_killed_program_made_are_removed(void **state)
{
    struct fx *f = *state;
    pid_t leaf;
    int fd = start_nested(f, &leaf);
    if (fd == -2) {
        fprintf(stderr, "skipped: tend says cgroups: %s\n", f->why);
        skip();
    }
    char cg[PATH_MAX + 16];
    snprintf(cg, sizeof cg, "%s/nested-1", f->root);
    struct tend_run *c = tend_run_sync((const char *[]){"kill", "nested", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    tend_free(c);
    assert_true(pidfd_wait_gone(fd, DEADLINE));
    if (!wait_removed(cg, DEADLINE)) {
        dump(f->t);
        fail_msg("%s is still there", cg);
    }
}

/* A cgroup that cannot be made fails the incarnation, and the reason
 * names the path (here tend's cgroup allows no more descendants). */
static void test_cgroup_that_cannot_be_made_fails_with_its_path(void **state)
{
    struct fx *f = *state;
    START_OR_SKIP(f, "tend.proc { name = 'web', autostart = false, restart = 'never',\n"
                     "  cmd = { 'sleep', '300' } }\n");
    free(write_file(f->root, "cgroup.max.descendants", "1"));  /* supervisor only */
    struct tend_run *c = tend_run_sync((const char *[]){"start", "web", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 1);
    tend_free(c);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "web: failed: cgroup %s/web-1: mkdir: ", f->root);
    if (!tend_expect(f->t, 2, want, DEADLINE)) {
        dump(f->t);
        fail_msg("no \"%s\"", want);
    }
}

static void test_nothing_is_left_after_tend_exits(void **state)
{
    struct fx *f = *state;
    START_OR_SKIP(f, DAEMON_PROC("", "exec sleep 300"));
    pid_t d;
    int fd = daemon_pid(f, "daemon.pid", &d);
    kill(f->t->pid, SIGTERM);
    assert_int_equal(tend_wait(f->t, DEADLINE), 0);
    assert_true(pidfd_wait_gone(fd, DEADLINE));
    /* removed before tend exited */
    assert_false(exists(f->root));
}

/* tend SIGKILLed cannot clean up: its direct child dies (PDEATHSIG), and
 * the cgroups it left, empty now, are removed by the next tend that starts
 * there. */
static void test_next_tend_removes_what_a_sigkilled_tend_left(void **state)
{
    struct fx *f = *state;
    START_OR_SKIP(f, "tend.proc { name = 'web', cmd = { 'sh', '-c', "
                     "'echo $$ > @D/m.tmp && mv @D/m.tmp @D/main.pid; exec sleep 300' } }\n");
    pid_t main_pid;
    int fd = daemon_pid(f, "main.pid", &main_pid);
    char left[PATH_MAX];
    snprintf(left, sizeof left, "%s", f->root);
    kill(f->t->pid, SIGKILL);
    assert_int_equal(tend_wait(f->t, DEADLINE), 128 + SIGKILL);
    assert_true(pidfd_wait_gone(fd, DEADLINE));
    assert_true(exists(left));
    tend_free(f->t);
    f->t = NULL;
    START_OR_SKIP(f, "tend.proc { name = 'web', cmd = { 'sleep', '300' } }\n");
    assert_false(exists(left));  /* swept before the second said its mode */
}

/* A fatal signal: the handler ends the cgroups too. */
static void test_fatal_signal_leaves_nothing(void **state)
{
    struct fx *f = *state;
    START_OR_SKIP(f, DAEMON_PROC("", "exec sleep 300"));
    pid_t d;
    int fd = daemon_pid(f, "daemon.pid", &d);
    kill(f->t->pid, SIGABRT);
    assert_int_equal(tend_wait(f->t, DEADLINE), 128 + SIGABRT);
    assert_true(pidfd_wait_gone(fd, DEADLINE));
    assert_false(exists(f->root));
}

/* TEND_CGROUPS=0: process groups, said once; a grandchild in the group is
 * still stopped with its proc, and no cgroup is made. */
static void test_turned_off_falls_back_to_process_groups(void **state)
{
    struct fx *f = *state;
    setenv("TEND_CGROUPS", "0", 1);
    assert_false(start(f, "tend.proc { name = 'web', cmd = { 'sh', '-c', [[\n"
                          "  sleep 300 & echo $! > @D/g.tmp && mv @D/g.tmp @D/gc.pid; "
                          "wait]] } }\n"));
    assert_contains(f->t->err,
                    "cgroups: not available (turned off by TEND_CGROUPS=0); using process "
                    "groups\n");
    pid_t gc;
    int fd = daemon_pid(f, "gc.pid", &gc);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)gc);
    char *text = read_file(path);
    assert_non_null(text);
    assert_lacks(text, "/tend-");
    free(text);
    char shown[PATH_MAX];
    status_cgroup(shown, sizeof shown);
    assert_string_equal(shown, "");  /* no cgroup in the status */
    struct tend_run *c = tend_run_sync((const char *[]){"stop", "web", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    tend_free(c);
    assert_true(pidfd_wait_gone(fd, DEADLINE));
    kill(f->t->pid, SIGTERM);
    assert_int_equal(tend_wait(f->t, DEADLINE), 0);
}

int main(void)
{
    outer_cgroups = getenv("TEND_CGROUPS");
    if (outer_cgroups)
        outer_cgroups = strdup(outer_cgroups);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_gives_the_v2_line_path),
        cmocka_unit_test(test_self_without_a_v2_line_is_null),
        cmocka_unit_test(test_mountinfo_places_the_path_under_the_cgroup2_mount),
        cmocka_unit_test(test_mountinfo_root_cgroup_is_the_mount_itself),
        cmocka_unit_test(test_mountinfo_subtree_mount_holds_only_its_subtree),
        cmocka_unit_test(test_mountinfo_unescapes_the_mount_point),
        cmocka_unit_test(test_mountinfo_without_cgroup2_is_null),
        cmocka_unit_test_setup_teardown(test_incarnation_runs_in_a_cgroup_of_its_own, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_setsid_daemon_is_stopped_with_its_proc, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_leftover_wait_ends_when_the_cgroup_empties, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_daemon_ignoring_stop_signal_is_killed_at_the_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_reaches_cgroups_the_program_made, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cgroups_a_killed_program_made_are_removed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cgroup_that_cannot_be_made_fails_with_its_path,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_is_left_after_tend_exits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_tend_removes_what_a_sigkilled_tend_left,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_fatal_signal_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_turned_off_falls_back_to_process_groups, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
