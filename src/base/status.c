/* status.c -- state names and the transition table. */
#include "base/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static const char *const state_names[ST__COUNT] = {
    [ST_PENDING] = "pending", [ST_STARTING] = "starting",
    [ST_RUNNING] = "running", [ST_READY] = "ready",
    [ST_STOPPING] = "stopping", [ST_STOPPED] = "stopped",
    [ST_KILLED] = "killed",   [ST_FAILED] = "failed",
};

/* allowed[from][to].  Within an incarnation a status only goes forward:
 * starting -> running -> ready -> stopping -> terminal, with the shortcuts
 * of SPEC 1.  A new incarnation enters starting from pending or from a
 * terminal status; nothing else leaves a terminal status. */
#define Y true
static const bool allowed[ST__COUNT][ST__COUNT] = {
    /*               pend starting run  ready stopping stopped killed failed */
    [ST_PENDING]  = {0,   Y,       0,   0,    0,       0,      0,     0},
    [ST_STARTING] = {0,   0,       Y,   0,    Y,       0,      0,     Y},
    [ST_RUNNING]  = {0,   0,       0,   Y,    Y,       Y,      Y,     0},
    [ST_READY]    = {0,   0,       0,   0,    Y,       Y,      Y,     0},
    [ST_STOPPING] = {0,   0,       0,   0,    0,       Y,      Y,     Y},
    [ST_STOPPED]  = {0,   Y,       0,   0,    0,       0,      0,     0},
    [ST_KILLED]   = {0,   Y,       0,   0,    0,       0,      0,     0},
    [ST_FAILED]   = {0,   Y,       0,   0,    0,       0,      0,     0},
};
#undef Y

const char *status_state_name(enum proc_state s)
{
    return (unsigned)s < ST__COUNT ? state_names[s] : "?";
}

int status_state_parse(const char *name)
{
    for (int i = 0; i < ST__COUNT; i++)
        if (strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

bool status_is_terminal(enum proc_state s)
{
    return s == ST_STOPPED || s == ST_KILLED || s == ST_FAILED;
}

bool status_can_move(enum proc_state from, enum proc_state to)
{
    if ((unsigned)from >= ST__COUNT || (unsigned)to >= ST__COUNT)
        return false;
    return allowed[from][to];
}

static const char *const cause_names[CAUSE__COUNT] = {
    [CAUSE_NONE] = NULL,           [CAUSE_EXIT] = "exit",
    [CAUSE_STOP] = "stop",         [CAUSE_RESTART] = "restart",
    [CAUSE_KILL] = "kill",         [CAUSE_TERMINATE] = "terminate",
    [CAUSE_SIGNAL] = "signal",     [CAUSE_RELOAD] = "reload",
    [CAUSE_GROUP] = "group",       [CAUSE_SHUTDOWN] = "shutdown",
    [CAUSE_READY_TIMEOUT] = "ready_timeout", [CAUSE_WATCHDOG] = "watchdog",
    [CAUSE_HEALTH] = "health",     [CAUSE_OOM] = "oom",
    [CAUSE_AFTER] = "after",
};

const char *status_cause_name(enum cause c)
{
    return (unsigned)c < CAUSE__COUNT ? cause_names[c] : NULL;
}

void status_visit(const struct status *st, const char *name, const struct status_visitor *v,
                  void *ud)
{
    v->str(ud, "name", name);
    v->str(ud, "state", status_state_name(st->state));
    v->integer(ud, "incarnation", st->incarnation);
    v->integer(ud, "restarts", st->restarts);
    v->str(ud, "want", st->want_up ? "up" : "down");
    if (st->gave_up)
        v->str(ud, "gave_up", st->gave_up);
    if (st->restart_at > 0)
        v->time(ud, "restart_at", st->restart_at);
    if (status_cause_name(st->cause))
        v->str(ud, "cause", status_cause_name(st->cause));
    if (st->waiting_for && st->waiting_for[0])
        v->strv(ud, "waiting_for", st->waiting_for);
    if (st->pid > 0)
        v->integer(ud, "pid", st->pid);
    if (st->pid > 0 && st->cgroup)
        v->str(ud, "cgroup", st->cgroup);
    if (st->pid > 0 && st->has_usage) {
        v->number(ud, "cpu", st->cpu);
        v->integer(ud, "memory", st->memory);
    }
    if (st->status_text)
        v->str(ud, "status_text", st->status_text);
    if (status_health_name(st->health))
        v->str(ud, "health", status_health_name(st->health));
    if (st->health_failure)
        v->str(ud, "health_failure", st->health_failure);
    if (st->health != HEALTH_NONE && st->health_fails > 0) {
        v->integer(ud, "health_failures", st->health_fails);
        v->integer(ud, "health_failures_limit", st->health_limit);
    }
    switch (st->state) {
    case ST_STARTING:
        v->time(ud, "since", st->since);
        break;
    case ST_RUNNING:
    case ST_READY:
        v->time(ud, "started_at", st->started_at);
        if (st->state == ST_READY)
            v->time(ud, "ready_at", st->ready_at);
        break;
    case ST_STOPPING:
        if (st->started_at > 0)
            v->time(ud, "started_at", st->started_at);
        v->time(ud, "deadline", st->deadline);
        v->number(ud, "stop_timeout", st->stop_timeout);
        break;
    case ST_STOPPED:
    case ST_KILLED:
        if (st->state == ST_STOPPED) {
            v->integer(ud, "exit_code", st->exit_code);
        } else {
            v->str(ud, "signal", signal_name(st->signal));
            v->boolean(ud, "core_dumped", st->core_dumped);
        }
        if (st->started_at > 0)
            v->time(ud, "started_at", st->started_at);
        v->time(ud, "ended_at", st->ended_at);
        v->str(ud, "tail", st->tail ? st->tail : "");
        if (st->stop_timeout > 0)
            v->number(ud, "stop_timeout", st->stop_timeout);
        if (st->stop_timed_out)
            v->boolean(ud, "stop_timed_out", true);
        break;
    case ST_FAILED:
        v->str(ud, "reason", st->reason ? st->reason : "");
        if (st->ended_at > 0)
            v->time(ud, "ended_at", st->ended_at);
        break;
    default:
        break;
    }
}

void status_describe_end(const struct status *st, char *buf, size_t size)
{
    switch (st->state) {
    case ST_STOPPED:
        snprintf(buf, size, "exited with code %d", st->exit_code);
        break;
    case ST_KILLED:
        snprintf(buf, size, "killed by signal %s%s", signal_name(st->signal),
                 st->core_dumped ? " (core dumped)" : "");
        break;
    case ST_FAILED:
        snprintf(buf, size, "failed: %s", st->reason ? st->reason : "?");
        break;
    default:
        snprintf(buf, size, "is %s", status_state_name(st->state));
    }
}

void status_copy(struct status *dst, const struct status *src)
{
    *dst = *src;
    dst->waiting_for = strv_dup(src->waiting_for);
    dst->reason = src->reason ? xstrdup(src->reason) : NULL;
    dst->cgroup = src->cgroup ? xstrdup(src->cgroup) : NULL;
    dst->tail = src->tail ? xstrdup(src->tail) : NULL;
    dst->gave_up = src->gave_up ? xstrdup(src->gave_up) : NULL;
    dst->status_text = src->status_text ? xstrdup(src->status_text) : NULL;
    dst->health_failure = src->health_failure ? xstrdup(src->health_failure) : NULL;
}

void status_clear(struct status *st)
{
    free(st->reason);
    free(st->cgroup);
    free(st->tail);
    free(st->gave_up);
    free(st->status_text);
    free(st->health_failure);
    st->reason = st->cgroup = st->tail = st->gave_up = st->status_text = st->health_failure =
        NULL;
    strv_free(st->waiting_for);
    st->waiting_for = NULL;
}

const char *status_health_name(enum health h)
{
    static const char *const names[] = {NULL, "unknown", "healthy", "unhealthy"};
    return (unsigned)h < 4 ? names[h] : NULL;
}
