/* main.c -- the command line: `tend run POLICY.lua` and friends. */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>

#include "control/cli.h"
#include "control/client.h"
#include "control/ctl.h"
#include "control/http.h"
#include "core/cgroup.h"
#include "core/groups.h"
#include "core/launch.h"
#include "base/log.h"
#include "policy/lvm.h"
#include "core/manager.h"
#include "base/output.h"
#include "policy/policy.h"
#include "core/reap.h"
#include "core/sdnotify.h"
#include "base/util.h"

#define TEND_VERSION "0.1.0"

/* Make sure fds 0, 1 and 2 are open, so no pipe ever lands on them. */
static void open_std_fds(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
            exit(1);
}

/* Many procs need many pipes: take the hard limit, and say so at once when
 * even that is too few for `nprocs` (two pipes each while running, a few
 * more while starting, and tend's own). */
static void raise_fd_limit(size_t nprocs)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t soft = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            /* a hard limit above the kernel's fs.nr_open cannot be had */
            unsigned long long nr_open = 0;
            FILE *f = fopen("/proc/sys/fs/nr_open", "re");
            if (f && fscanf(f, "%llu", &nr_open) == 1 && nr_open > soft &&
                nr_open < rl.rlim_max) {
                rl.rlim_cur = (rlim_t)nr_open;
                setrlimit(RLIMIT_NOFILE, &rl);
            }
            if (f)
                fclose(f);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    unsigned long long need = 2ULL * nprocs + 32;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        log_warn(NULL,
                 "%zu procs need about %llu file descriptors, but RLIMIT_NOFILE is %llu "
                 "and cannot be raised further (hard limit %llu): procs past it fail to "
                 "start with \"Too many open files\"",
                 nprocs, need, (unsigned long long)rl.rlim_cur,
                 (unsigned long long)rl.rlim_max);
}

/* --check: what would run, one line a proc (spec_plan_line).  What `tend
 * run` only warns about (a cmd[1] not found or not executable) is an error
 * here: each is said, and tend exits 2 like for any bad declaration. */
static void print_plan(const struct policy *pol)
{
    size_t bad = 0;
    for (size_t i = 0; i < pol->n; i++)
        if (pol->specs[i]->warning) {
            log_error(NULL, "%s", pol->specs[i]->warning);
            bad++;
        }
    if (bad) {
        policy_free((struct policy *)pol);
        output_finish();
        exit(2);
    }
    for (size_t i = 0; i < pol->n; i++) {
        char *line = spec_plan_line(pol->specs[i]);
        printf("%s\n", line);
        free(line);
    }
    printf("%s: %zu proc%s, ok\n", pol->path, pol->n, pol->n == 1 ? "" : "s");
}

/* `p` (taken over) made absolute against tend's working directory. */
static char *absolute_from_here(char *p)
{
    if (p[0] == '/')
        return p;
    char here[PATH_MAX];
    if (!getcwd(here, sizeof here)) {
        here[0] = '/';
        here[1] = '\0';
    }
    const char *rel = strncmp(p, "./", 2) == 0 ? p + 2 : p;
    char *abs = xasprintf("%s%s%s", here, strcmp(here, "/") == 0 ? "" : "/", rel);
    free(p);
    return abs;
}

/* `tend run`: argv[0] is "run". */
static int cmd_run(int argc, char **argv)
{
    launch_reserve_slots();  /* fds 3..8, before anything else opens one */
    launch_keep_limits();    /* the children's, before tend raises its own */
    struct cli cli;
    int rc = cli_parse(argc, argv, &cli);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    const char *socket_opt = NULL, *metrics_opt = NULL;
    bool check = false, subreaper = false, stay = false;
    for (size_t i = 0; i < cli.nopts; i++) {
        const char *v = cli.opts[i].value;
        switch (cli.opts[i].id) {
        case CLI_CHECK:
            check = true;
            break;
        case CLI_SUBREAPER:
            subreaper = true;
            break;
        case CLI_STAY:
            stay = true;
            break;
        case CLI_TIMESTAMPS:
            output_set_timestamps(true);
            break;
        case CLI_QUIET:
            log_set_level(LOG_WARN);
            break;
        case CLI_LOG_FORMAT:
            if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0) {
                cli_free(&cli);
                return cli_misuse("run", "--log-format %s: text or json expected", v);
            }
            log_set_json(strcmp(v, "json") == 0);
            output_set_json(strcmp(v, "json") == 0);
            break;
        case CLI_SOCKET:
            socket_opt = v;
            break;
        case CLI_METRICS:
            metrics_opt = v;
            break;
        }
    }
    const char *path = cli.nargs ? cli.args[0] : NULL;
    rc = !path ? cli_misuse("run", "which policy file?")
         : cli.nargs > 1 ? cli_misuse("run", "one policy file only (got %s too)", cli.args[1])
         : 0;
    cli_free(&cli);  /* the strings are argv's */
    if (rc)
        return rc;

    /* before the load, which runs policy code too */
    groups_install_fatal_handlers();
    const char *wd = getenv("TEND_WATCHDOG");
    lvm_watchdog_start(wd && *wd ? atof(wd) : LVM_WATCHDOG_DEFAULT);

    /* One rule for paths (SPEC 3): tend runs the policy in the policy
     * file's directory, so that io.open, dofile, require, a cmd[1] with a
     * slash and every proc's default cwd are relative to it.  What the
     * command line named relative to where tend was started is made
     * absolute first. */
    char *sock_path = absolute_from_here(ctl_socket_path(socket_opt));
    char *policy_path = absolute_from_here(xstrdup(path));
    char *dir = xstrdup(policy_path);
    *strrchr(dir, '/') = '\0';
    if (chdir(*dir ? dir : "/") != 0)
        log_warn(NULL, "cannot enter the policy's directory %s: %s", dir, strerror(errno));
    free(dir);

    char *err = NULL;
    struct policy *pol = policy_load(policy_path, &err);
    free(policy_path);
    if (!pol) {
        log_error(NULL, "%s", err);
        free(err);
        free(sock_path);
        output_finish();
        return 2;
    }
    if (check) {
        print_plan(pol);
        policy_free(pol);
        free(sock_path);
        return 0;
    }

    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(pol->n);
    for (size_t i = 0; i < pol->n; i++)  /* aligned prefixes on a terminal */
        output_prefix_width(strlen(pol->specs[i]->name));
    sdnotify_init();
    (void)subreaper;  /* always: tend is its own subreaper (reap.h) */
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());

    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    if (!loop) {
        log_error(NULL, "cannot initialise the event loop (libev)");
        policy_free(pol);
        free(sock_path);
        return 1;
    }
    output_init(loop);
    reap_start(loop);  /* a subreaper before the first child can orphan one */
    struct manager *m = manager_new(loop);
    manager_set_stay(m, stay);
    /* the socket before anything is spawned: a second tend on it stops here */
    char *sock_err = NULL;
    struct ctl *ctl = ctl_open(loop, m, sock_path, &sock_err);
    free(sock_path);
    if (!ctl) {
        log_error(NULL, "%s", sock_err);
        free(sock_err);
        policy_free(pol);
        manager_free(m);
        output_finish();
        ev_loop_destroy(loop);
        return 2;
    }
    struct http *http = NULL;
    if (metrics_opt) {
        char *http_err = NULL;
        if (!(http = http_open(loop, m, metrics_opt, &http_err))) {
            log_error(NULL, "%s", http_err);
            free(http_err);
            ctl_close(ctl);
            policy_free(pol);
            manager_free(m);
            output_finish();
            ev_loop_destroy(loop);
            return 2;
        }
        log_info(NULL, "metrics: http://%s/metrics", http_address(http));
    }
    cgroup_init(loop);  /* each incarnation in a cgroup, if tend may */
    policy_attach(pol, m, loop);
    manager_watch_signals(m);
    manager_start(m);
    policy_run_tasks(pol);
    /* Nothing declared and no task still running (none was queued, or each
     * ended at once without declaring anything): manager_run returns at
     * once, and tend would exit without a word.  Say why, as a warning, so
     * that --quiet shows it too: it is most likely a mistake (the wrong
     * file, declarations skipped by a condition).  The exit code stays 0:
     * the file loaded and nothing failed; 2 is for a file that does not
     * load, and a policy may legitimately declare nothing on some hosts. */
    if (manager_count(m) == 0 && pol->vm->tasks == 0)
        log_warn(NULL, "%s: no procs declared; nothing to supervise", pol->path);
    int code = manager_run(m);
    /* the clients' waits and follows hold on to procs */
    http_close(http);
    ctl_close(ctl);
    /* the VM goes first: its waits hold subscriptions on the procs */
    policy_free(pol);
    manager_free(m);
    cgroup_close();
    sdnotify_close();
    output_finish();
    ev_loop_destroy(loop);
    return code;
}

int main(int argc, char **argv)
{
    open_std_fds();
    if (argc < 2)
        return cli_misuse(NULL, "a command is needed");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        cli_print_overview();
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("tend %s (%s, libev %d.%d)\n", TEND_VERSION, LUA_VERSION,
               ev_version_major(), ev_version_minor());
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (client_is_command(cmd))
        return client_main(argc - 1, argv + 1);
    if (cmd[0] == '-')
        return cli_misuse(NULL, "unknown option %s", cmd);
    return cli_misuse(NULL, "unknown command '%s'", cmd);
}
