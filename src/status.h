/* status.h -- the status of a proc and the table of allowed transitions.
 *
 * This module is pure data and logic: no system calls, so the unit tests
 * drive it without forking.  See SPEC section 1. */
#ifndef TEND_STATUS_H
#define TEND_STATUS_H

#include <stdbool.h>
#include <sys/types.h>

/* What the health check says (SPEC 4); HEALTH_NONE: the proc has none. */
enum health { HEALTH_NONE, HEALTH_UNKNOWN, HEALTH_HEALTHY, HEALTH_UNHEALTHY };

enum proc_state {
    ST_PENDING,  /* declared, never started */
    ST_STARTING, /* forked, exec not yet confirmed */
    ST_RUNNING,  /* exec succeeded */
    ST_READY,    /* the program is ready */
    ST_STOPPING, /* stop signal sent, waiting for exit */
    ST_STOPPED,  /* exited with a code */
    ST_KILLED,   /* ended by a signal */
    ST_FAILED,   /* could not become a running program */
    ST__COUNT
};

/* The status of a proc's current (or last) incarnation.  Times are seconds
 * on the monotonic clock; a time that does not apply is 0.  The strings are
 * owned by the status (see status_copy / status_clear). */
struct status {
    enum proc_state state;
    unsigned incarnation; /* 0 while pending, then 1, 2, ... */
    unsigned restarts;    /* incarnations started by the restart policy */
    pid_t pid;            /* while starting .. stopping; else 0 */
    bool want_up;         /* what the proc should be: up or down */
    double since;         /* starting */
    double started_at;    /* running and after */
    double ready_at;      /* ready */
    double deadline;      /* stopping: when SIGKILL follows */
    double ended_at;      /* stopped, killed */
    double restart_at;    /* a restart is scheduled for then; 0: none */
    int exit_code;        /* stopped */
    int signal;           /* killed */
    bool core_dumped;     /* killed */
    char *reason;         /* failed */
    char *tail;           /* stopped, killed: the last lines of output */
    char *gave_up;        /* why the restart policy gave up, or NULL */
    char *status_text;    /* the program's last STATUS= (sd_notify), or NULL */
    enum health health;
    char *health_failure; /* why the last health check failed, or NULL */
};

/* The state's name as the SPEC spells it ("running"). */
const char *status_state_name(enum proc_state s);
/* The state named `name`, or -1. */
int status_state_parse(const char *name);
/* Whether `s` is stopped, killed or failed. */
bool status_is_terminal(enum proc_state s);
/* Whether a proc whose current state is `from` may move to `to`.  `to ==
 * ST_STARTING` is the start of a new incarnation; every other move stays
 * within the incarnation and only goes forward. */
bool status_can_move(enum proc_state from, enum proc_state to);

/* "healthy", "unhealthy", "unknown", or NULL for HEALTH_NONE. */
const char *status_health_name(enum health h);

/* A deep copy of `src` into `dst` (which holds no strings of its own). */
void status_copy(struct status *dst, const struct status *src);
/* Free the strings of `st` and zero its string fields. */
void status_clear(struct status *st);

#endif
