/* status.c -- state names and the transition table. */
#include "status.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

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

void status_copy(struct status *dst, const struct status *src)
{
    *dst = *src;
    dst->reason = src->reason ? xstrdup(src->reason) : NULL;
    dst->tail = src->tail ? xstrdup(src->tail) : NULL;
    dst->gave_up = src->gave_up ? xstrdup(src->gave_up) : NULL;
    dst->status_text = src->status_text ? xstrdup(src->status_text) : NULL;
    dst->health_failure = src->health_failure ? xstrdup(src->health_failure) : NULL;
}

void status_clear(struct status *st)
{
    free(st->reason);
    free(st->tail);
    free(st->gave_up);
    free(st->status_text);
    free(st->health_failure);
    st->reason = st->tail = st->gave_up = st->status_text = st->health_failure = NULL;
}

const char *status_health_name(enum health h)
{
    static const char *const names[] = {NULL, "unknown", "healthy", "unhealthy"};
    return (unsigned)h < 4 ? names[h] : NULL;
}
