/* proc_spawn.c -- starting a proc's incarnation and confirming its exec:
 * the environment and launch options of the spec, the spawn through
 * launch.c, the exec-confirm pipe that tells `running` from `failed`. */
#include "core/proc_impl.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "core/cgroup.h"
#include "core/outfile.h"
#include "core/ready.h"
#include "core/reap.h"
#include "base/util.h"

static void exec_cb(struct ev_loop *loop, ev_io *w, int revents);

/* How the proc's program is spawned, with `env` as its environment. */
static void launch_opts_of(const struct proc *p, char **env, struct launch_opts *o)
{
    const struct spec *sp = p->spec;
    o->argv = sp->argv;
    o->env = env;
    o->cwd = sp->cwd;
    o->user = sp->user;
    o->uid = sp->uid;
    o->gid = sp->gid;
    o->groups = sp->groups;
    o->ngroups = sp->ngroups;
    o->pass_fd = o->pass_as = -1;
    o->cgroup = p->cg ? cgroup_path(p->cg) : NULL;
    o->cgroup_fd = p->cg ? cgroup_procs_fd(p->cg) : -1;
    o->limits = &sp->limits;
}

/* The child's environment: tend's, the spec's env, TEND_PROC,
 * TEND_INCARNATION, `extra` (NOTIFY_SOCKET) and, for `user`, HOME, USER
 * and LOGNAME. */
static char **build_env(const struct proc *p, const char *extra)
{
    const struct spec *sp = p->spec;
    char *more[8] = {
        xasprintf("TEND_PROC=%s", sp->name),
        xasprintf("TEND_INCARNATION=%u", p->st.incarnation),
    };
    int k = 2;
    /* extra: "KEY=VALUE" lines (NOTIFY_SOCKET, WATCHDOG_USEC) */
    for (const char *e = extra; e && *e && k < 4;) {
        size_t n = strcspn(e, "\n");
        more[k++] = xstrndup(e, n);
        e += n + (e[n] == '\n');
    }
    if (sp->user) {
        more[k++] = xasprintf("HOME=%s", sp->home ? sp->home : "/");
        more[k++] = xasprintf("USER=%s", sp->user);
        more[k++] = xasprintf("LOGNAME=%s", sp->user);
    }
    char **env = launch_env(sp->env, more);
    for (int i = 0; more[i]; i++)
        free(more[i]);
    return env;
}

void proc_start(struct proc *p, bool by_policy)
{
    if (proc_alive(p) || p->doomed || p->deciding)
        return;
    ev_timer_stop(p->loop, &p->restart_timer);
    struct proc_event *ev = proc_move_begin(p, ST_STARTING);
    if (!ev)
        return;
    if (p->st.incarnation > 1)
        p->st.restarts++;  /* every restart counts, however asked for */
    p->inc_seq = proc_line_seq;
    p->sigkilled = false;
    p->stop_cause = CAUSE_NONE;
    p->user_signal = 0;

    struct launch_opts o;
    struct launch_child c;
    char *reason = NULL, *extra = NULL;
    int rc = 0;
    if (p->spec->output == OUTPUT_FILE && !p->file) {
        p->file = outfile_open(p->spec->output_path, p->spec->output_max_size,
                               p->spec->output_keep, &reason);
        rc = p->file ? 0 : -1;
    }
    if (rc == 0 && p->spec->output == OUTPUT_FILE && p->spec->output_stderr && !p->file_err) {
        p->file_err = outfile_open(p->spec->output_stderr, p->spec->output_max_size,
                                   p->spec->output_keep, &reason);
        rc = p->file_err ? 0 : -1;
    }
    if (rc == 0 && cgroup_enabled()) {
        p->cg = cgroup_new(p->spec->name, &reason);
        rc = p->cg ? 0 : -1;
        if (p->cg)
            p->st.cgroup = xstrdup(cgroup_path(p->cg));
    }
    if (rc == 0) {
        /* what the limits could not get is said once a proc */
        char *missed = cgroup_apply_limits(p->cg, &p->spec->limits);
        if (missed && !p->limits_warned)
            log_warn(p->spec->name, "%s", missed);
        p->limits_warned |= missed != NULL;
        free(missed);
    }
    launch_opts_of(p, NULL, &o);
    if (rc == 0)
        rc = ready_prepare(p, &o, &extra, &reason);
    if (rc == 0) {
        char **env = build_env(p, extra);
        o.env = env;
        rc = launch_start(&o, &c, &reason);
        strv_free(env);
    }
    free(extra);
    if (o.pass_fd >= 0)
        close(o.pass_fd);  /* the child's end of the readiness pipe */
    ready_spawned(p, rc == 0);
    if (p->cg) {
        cgroup_spawned(p->cg);
        if (rc != 0) {
            cgroup_linger(p->cg, SIGKILL, 0);  /* empty: removed at once */
            p->cg = NULL;
        }
    }
    if (rc != 0) {
        proc_hold(p);
        proc_move_commit(p, ev);  /* starting, with no pid */
        proc_fail(p, reason);
        proc_release(p);
        return;
    }
    groups_add(&p->group, c.pid);
    reap_watch(p->loop, &p->reaping, c.pid, proc_main_exited);
    p->exec_fd = c.exec_fd;
    ev_io_set(&p->exec_w, p->exec_fd, EV_READ);
    ev_io_start(p->loop, &p->exec_w);
    int rd[2] = {c.out_fd, c.err_fd};
    for (int i = 0; i < 2; i++) {
        struct proc_stream *s = &p->out[i];
        s->fd = rd[i];
        ev_io_set(&s->w, s->fd, EV_READ);
        ev_io_start(p->loop, &s->w);
    }
    p->st.pid = c.pid;
    proc_hold(p);
    proc_move_commit(p, ev);
    /* The spawn waited until the child exec'd or failed (vfork), so the
     * answer is usually there already: taking it now keeps procs started
     * together `running` in the order they were started.  If the child's
     * end is not closed yet, the watcher brings the answer. */
    if (p->st.state == ST_STARTING && p->exec_fd >= 0 && !p->doomed)
        exec_cb(p->loop, &p->exec_w, EV_READ);
    proc_release(p);
}

/* exec is confirmed: running, then ready as its readiness says. */
static void exec_confirmed(struct proc *p)
{
    if (p->st.state != ST_STARTING)
        return;  /* a stop came first: the report is late, ignore it */
    struct proc_event *ev = proc_move_begin(p, ST_RUNNING);
    if (!ev)
        return;
    proc_move_commit(p, ev);
    if (p->st.state == ST_RUNNING)
        ready_running(p);
}

/* Read the exec-confirm pipe (see launch_exec_read); the watcher stops
 * once the answer is known. */
static int exec_read(struct proc *p, struct exec_error *e)
{
    ev_io_stop(p->loop, &p->exec_w);  /* before the fd may be closed */
    int r = launch_exec_read(&p->exec_fd, e);
    if (r < 0)
        ev_io_start(p->loop, &p->exec_w);
    return r;
}

static void exec_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct proc *p = container_of(w, struct proc, exec_w);
    struct exec_error e;
    int r = exec_read(p, &e);
    if (r < 0)
        return;
    proc_hold(p);
    if (r == 0)
        p->exec_failure = e, p->exec_failed = true;  /* published at reap */
    else
        exec_confirmed(p);
    proc_release(p);
}

/* The child is gone, so its end of the exec-confirm pipe is closed: take
 * the report now, before the exit is recorded. */
void proc_exec_settle(struct proc *p)
{
    if (p->exec_fd < 0)
        return;
    struct exec_error e;
    int r = exec_read(p, &e);
    if (r < 0) {
        proc_exec_close(p);  /* no report after all: treat as exec'd */
    }
    if (r == 0)
        p->exec_failure = e, p->exec_failed = true;
    else
        exec_confirmed(p);
}

char *proc_exec_failure(struct proc *p)
{
    if (!p->exec_failed)
        return NULL;
    p->exec_failed = false;
    struct launch_opts o;
    launch_opts_of(p, NULL, &o);
    return launch_reason(&o, &p->exec_failure);
}

void proc_exec_close(struct proc *p)
{
    if (p->exec_fd < 0)
        return;
    ev_io_stop(p->loop, &p->exec_w);
    close(p->exec_fd);
    p->exec_fd = -1;
}

void proc_spawn_init(struct proc *p)
{
    p->exec_fd = -1;
    ev_io_init(&p->exec_w, exec_cb, -1, EV_READ);
}
