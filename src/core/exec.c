/* exec.c -- short commands with captured output. */
#include "core/exec.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/groups.h"
#include "core/reap.h"
#include "base/later.h"
#include "core/launch.h"
#include "core/spec.h"
#include "base/util.h"

struct capture {
    int fd;
    ev_io w;
    char *buf;
    size_t len, cap;
};

struct exec_job {
    struct ev_loop *loop;
    exec_done_fn *fn;
    void *data;
    struct launch_opts opts;  /* argv and cwd, for the failure reason */
    char **argv;
    char *cwd;
    struct pgroup group;
    struct reap_watch child;
    ev_timer timer;
    struct later report;     /* a failure to start is told from the loop */
    int exec_fd;
    struct capture cap[2];
    struct exec_result r;
    char *reason;
    bool timed_out;
};

static void capture_read(struct exec_job *j, struct capture *c, bool draining)
{
    char buf[16384];
    int rounds = draining ? 64 : 4;
    while (c->fd >= 0 && rounds-- > 0) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n > 0) {
            size_t take = (size_t)n;
            if (c->len + take > EXEC_OUTPUT_MAX)
                take = EXEC_OUTPUT_MAX - c->len;  /* the rest is dropped */
            if (c->len + take + 1 > c->cap) {
                c->cap = c->cap ? c->cap : 4096;
                while (c->cap < c->len + take + 1)
                    c->cap *= 2;
                c->buf = xrealloc(c->buf, c->cap);
            }
            memcpy(c->buf + c->len, buf, take);
            c->len += take;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            rounds++;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        ev_io_stop(j->loop, &c->w);
        close(c->fd);
        c->fd = -1;
    }
}

static void capture_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct capture *c = container_of(w, struct capture, w);
    capture_read(w->data, c, false);
}

/* Stop everything, free the job. */
static void job_free(struct exec_job *j)
{
    reap_unwatch(&j->child);
    ev_timer_stop(j->loop, &j->timer);
    later_cancel(j->loop, &j->report);
    if (j->group.pgid > 0)
        kill(-j->group.pgid, SIGKILL);
    groups_remove(&j->group);
    if (j->exec_fd >= 0)
        close(j->exec_fd);
    for (int i = 0; i < 2; i++) {
        if (j->cap[i].fd >= 0) {
            ev_io_stop(j->loop, &j->cap[i].w);
            close(j->cap[i].fd);
        }
        free(j->cap[i].buf);
    }
    strv_free(j->argv);
    free(j->cwd);
    free(j->reason);
    free(j);
}

static void job_report(struct exec_job *j)
{
    for (int i = 0; i < 2; i++) {
        if (!j->cap[i].buf)
            j->cap[i].buf = xcalloc(1, 1);
        j->cap[i].buf[j->cap[i].len] = '\0';
    }
    j->r.out = j->cap[0].buf;
    j->r.out_len = j->cap[0].len;
    j->r.err = j->cap[1].buf;
    j->r.err_len = j->cap[1].len;
    j->r.reason = j->reason;
    j->fn(&j->r, j->data);
    job_free(j);
}

/* The command exited (a zombie still: the kill of its group in job_free
 * reaches no other group). */
static void child_cb(struct reap_watch *w, pid_t pid, int status)
{
    struct exec_job *j = container_of(w, struct exec_job, child);
    struct exec_error e;
    j->r.ended_at = now_mono();
    if (j->exec_fd >= 0 && launch_exec_read(&j->exec_fd, &e) == 0) {
        j->r.state = ST_FAILED;
        j->reason = launch_reason(&j->opts, &e);
    } else if (WIFSIGNALED(status)) {
        j->r.state = ST_KILLED;
        j->r.signal = WTERMSIG(status);
    } else {
        j->r.state = ST_STOPPED;
        j->r.exit_code = WEXITSTATUS(status);
    }
    for (int i = 0; i < 2; i++)
        capture_read(j, &j->cap[i], true);
    job_report(j);
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct exec_job *j = container_of(w, struct exec_job, timer);
    j->timed_out = true;
    kill(-j->group.pgid, SIGKILL);
}

static void report_cb(struct later *l)
{
    job_report(container_of(l, struct exec_job, report));
}

struct exec_job *exec_start(struct ev_loop *loop, char *const *argv, char **env,
                            const char *cwd, double timeout, exec_done_fn *fn,
                            void *data)
{
    struct exec_job *j = xcalloc(1, sizeof *j);
    j->loop = loop;
    j->fn = fn;
    j->data = data;
    j->exec_fd = -1;
    size_t n = strv_len(argv);
    j->argv = xcalloc(n + 1, sizeof *j->argv);
    for (size_t i = 0; i < n; i++)
        j->argv[i] = xstrdup(argv[i]);
    j->cwd = cwd ? xstrdup(cwd) : NULL;
    j->opts.argv = j->argv;
    j->opts.cwd = j->cwd;
    j->opts.pass_fd = j->opts.pass_as = -1;
    ev_timer_init(&j->timer, timeout_cb, timeout > 0 ? timeout : 0, 0);
    later_init(&j->report, report_cb);
    for (int i = 0; i < 2; i++) {
        j->cap[i].fd = -1;
        ev_io_init(&j->cap[i].w, capture_cb, -1, EV_READ);
        j->cap[i].w.data = j;
    }

    char **full = launch_env(env, NULL);
    j->opts.env = full;
    struct launch_child c;
    j->r.started_at = now_mono();
    int rc = launch_start(&j->opts, &c, &j->reason);
    strv_free(full);
    j->opts.env = NULL;
    if (rc != 0) {
        j->r.state = ST_FAILED;
        j->r.ended_at = j->r.started_at;
        later_run(loop, &j->report);
        return j;
    }
    groups_add(&j->group, c.pid);
    j->exec_fd = c.exec_fd;
    reap_watch(loop, &j->child, c.pid, child_cb);
    int fds[2] = {c.out_fd, c.err_fd};
    for (int i = 0; i < 2; i++) {
        j->cap[i].fd = fds[i];
        ev_io_set(&j->cap[i].w, fds[i], EV_READ);
        ev_io_start(loop, &j->cap[i].w);
    }
    if (timeout > 0)
        ev_timer_start(loop, &j->timer);
    return j;
}

void exec_cancel(struct exec_job *job)
{
    if (job)
        job_free(job);
}
