/* proc_end.c -- how a proc's incarnation ends: the stop signal and its
 * escalation to SIGKILL, signals from an operator, and the exit of the
 * main process with what is left of its group or cgroup. */
#include "core/proc_impl.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "base/log.h"
#include "core/cgroup.h"
#include "core/ready.h"
#include "core/reap.h"
#include "base/util.h"

/* The main process has exited; it is reaped once this returns, so its
 * group's id is still the group's while the leftovers are signalled. */
void proc_main_exited(struct reap_watch *w, pid_t pid, int rstatus)
{
    struct proc *p = container_of(w, struct proc, reaping);
    proc_hold(p);

    /* In the order things happened: the exec report, the output already
     * written, then the exit. */
    proc_exec_settle(p);
    ready_drain(p);
    for (int i = 0; i < 2; i++) {
        if (p->out[i].fd >= 0)
            proc_stream_read(p, i, true);
        proc_stream_close(p, i);
    }
    ev_timer_stop(p->loop, &p->stop_timer);
    ready_stop(p, true);
    groups_remove(&p->group);
    char *failure = proc_exec_failure(p);  /* it may name the cgroup */
    int sig = p->sigkilled ? SIGKILL : p->spec->stop_signal;
    /* the OOM killer's doing: its cgroup counted a kill (untested where
     * the memory controller is not on cgroup v2, as on a hybrid layout) */
    bool oom = p->cg && WIFSIGNALED(rstatus) && WTERMSIG(rstatus) == SIGKILL &&
               p->stop_cause == CAUSE_NONE && cgroup_oom_kills(p->cg) > 0;
    if (p->cg) {
        /* the cgroup is the unit: a member that left the group is in it */
        cgroup_linger(p->cg, sig, p->spec->stop_timeout);
        p->cg = NULL;
    } else {
        reap_linger(pid, sig, p->spec->stop_timeout);
    }

    if (failure) {
        proc_fail(p, failure);
    } else {
        enum proc_state to = WIFSIGNALED(rstatus) ? ST_KILLED : ST_STOPPED;
        struct proc_event *ev = proc_move_begin(p, to);
        if (ev) {
            p->st.tail = proc_terminal_tail(p);
            if (to == ST_KILLED) {
                p->st.signal = WTERMSIG(rstatus);
                p->st.core_dumped = WCOREDUMP(rstatus);
                /* it died of a signal an operator or the policy sent */
                if (p->stop_cause == CAUSE_NONE && p->user_signal == p->st.signal)
                    p->st.cause = CAUSE_SIGNAL;
                if (oom)
                    p->st.cause = CAUSE_OOM;
            } else {
                p->st.exit_code = WEXITSTATUS(rstatus);
            }
            proc_move_commit(p, ev);
        }
    }
    proc_release(p);
}

static void stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proc *p = container_of(w, struct proc, stop_timer);
    if (!proc_alive(p))
        return;
    log_warn(p->spec->name, "still running after its stop timeout: SIGKILL");
    p->st.stop_timed_out = true;
    proc_kill(p, CAUSE_NONE);  /* the stop's cause stays */
}

/* `sig` to the incarnation: every process of its cgroup, or of its
 * process group without one. */
static int group_signal(struct proc *p, int sig, bool cont)
{
    if (!proc_alive(p) || p->st.pid <= 0) {
        errno = ESRCH;
        return -1;
    }
    if (!p->cg) {
        int rc = kill(-p->st.pid, sig);
        if (rc == 0 && cont)
            kill(-p->st.pid, SIGCONT);
        return rc;
    }
    if (sig == SIGKILL)
        return cgroup_kill(p->cg);
    if (cgroup_signal(p->cg, sig, cont, p->st.pid) > 0)
        return 0;
    errno = ESRCH;
    return -1;
}

int proc_signal(struct proc *p, int sig)
{
    int rc = group_signal(p, sig, false);
    if (rc == 0)
        p->user_signal = sig;
    return rc;
}

/* The first cause of a stop is the incarnation's. */
static void note_cause(struct proc *p, enum cause why)
{
    if (p->stop_cause == CAUSE_NONE)
        p->stop_cause = why;
}

int proc_terminate(struct proc *p, double timeout, enum cause why)
{
    if (!proc_alive(p))
        return -1;
    note_cause(p, why);
    if (timeout < 0)
        timeout = p->spec->stop_timeout;
    double deadline = now_mono() + timeout;
    if (p->st.state == ST_STOPPING) {
        /* already on its way: only an earlier deadline changes anything */
        if (deadline < p->st.deadline) {
            p->st.stop_timeout -= p->st.deadline - deadline;
            p->st.deadline = deadline;
            ev_timer_stop(p->loop, &p->stop_timer);
            ev_timer_set(&p->stop_timer, timeout, 0);
            ev_timer_start(p->loop, &p->stop_timer);
        }
        return 0;
    }
    /* a stopped program must see the signal: SIGCONT after it */
    group_signal(p, p->spec->stop_signal,
                 p->spec->stop_signal != SIGCONT && p->spec->stop_signal != SIGKILL);
    proc_stopping(p, timeout);
    return 0;
}

void proc_stopping(struct proc *p, double timeout)
{
    if (!proc_alive(p) || p->st.state == ST_STOPPING)
        return;
    if (timeout < 0)
        timeout = p->spec->stop_timeout;
    struct proc_event *ev = proc_move_begin(p, ST_STOPPING);
    if (!ev)
        return;
    ready_stop(p, false);  /* a late readiness report is ignored from now on */
    p->st.deadline = now_mono() + timeout;
    p->st.stop_timeout = timeout;
    ev_timer_set(&p->stop_timer, timeout, 0);
    ev_timer_start(p->loop, &p->stop_timer);
    proc_move_commit(p, ev);
}

int proc_kill(struct proc *p, enum cause why)
{
    if (!proc_alive(p))
        return -1;
    note_cause(p, why);
    p->sigkilled = p->ever_sigkilled = true;
    ev_timer_stop(p->loop, &p->stop_timer);
    group_signal(p, SIGKILL, false);
    return 0;
}

/* The proc is being freed: SIGKILL what is left of its incarnation and
 * forget it. */
void proc_end_abandon(struct proc *p)
{
    if (proc_alive(p) && p->st.pid > 0)
        group_signal(p, SIGKILL, false);
    if (p->cg) {
        cgroup_linger(p->cg, SIGKILL, 0);  /* removed once empty */
        p->cg = NULL;
    }
    reap_unwatch(&p->reaping);
    ev_timer_stop(p->loop, &p->stop_timer);
    groups_remove(&p->group);
}

void proc_end_init(struct proc *p)
{
    ev_timer_init(&p->stop_timer, stop_timer_cb, 0, 0);
}
