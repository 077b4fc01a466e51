/* status.h -- the status of a proc and the table of allowed transitions.
 *
 * This module is pure data and logic: no system calls, so the unit tests
 * drive it without forking.  See SPEC section 1. */
#ifndef TEND_STATUS_H
#define TEND_STATUS_H

#include <stdbool.h>
#include <stddef.h>
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

/* What ended (or is ending) an incarnation, or keeps a pending proc down
 * (SPEC 1: `cause`).  CAUSE_NONE: not set yet (a live incarnation, or a
 * cause nobody filled in). */
enum cause {
    CAUSE_NONE,
    CAUSE_EXIT,          /* the program ended by itself */
    CAUSE_STOP,          /* tend stop, proc:stop() */
    CAUSE_RESTART,       /* tend restart, proc:restart() */
    CAUSE_KILL,          /* tend kill, proc:kill() */
    CAUSE_TERMINATE,     /* proc:terminate() */
    CAUSE_SIGNAL,        /* tend signal, proc:signal(), and it died of it */
    CAUSE_RELOAD,        /* a reload removed or changed it */
    CAUSE_GROUP,         /* a group strategy of the bundled library */
    CAUSE_SHUTDOWN,      /* tend is shutting down */
    CAUSE_READY_TIMEOUT, /* ready_timeout passed */
    CAUSE_WATCHDOG,      /* a WATCHDOG=1 ping was missed */
    CAUSE_HEALTH,        /* the health check failed too often */
    CAUSE_OOM,           /* the OOM killer */
    CAUSE_AFTER,         /* pending: a dependency ended without its condition */
    CAUSE__COUNT
};

/* The status of a proc's current (or last) incarnation.  Times are seconds
 * on the monotonic clock; a time that does not apply is 0.  The strings are
 * owned by the status (see status_copy / status_clear). */
struct status {
    enum proc_state state;
    unsigned incarnation; /* 0 while pending, then 1, 2, ... */
    unsigned restarts;    /* incarnations after the first, however started */
    pid_t pid;            /* while starting .. stopping; else 0 */
    char *cgroup;         /* while alive: the incarnation's cgroup (SPEC 5),
                           * or NULL when process groups are the unit */
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
    unsigned health_fails;    /* health checks failed in a row */
    unsigned health_limit;    /* failures in a row that end the incarnation */
    double stop_timeout;  /* stopping, and the end after it: the seconds the
                           * stop gave before SIGKILL (0: not stopped) */
    bool stop_timed_out;  /* that time ran out and SIGKILL followed */
    enum cause cause;     /* stopping and terminal (and pending: after) */
    char **waiting_for;   /* not started yet (pending, or asked to start
                           * again): the after conditions not met yet
                           * ("db ready"), NULL-terminated; or NULL */
    bool has_usage;       /* cpu and memory were read (a live incarnation,
                           * when a status is asked for: SPEC 10) */
    double cpu;           /* CPU seconds used so far */
    long long memory;     /* resident bytes now */
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

/* "stop", "ready_timeout"...; NULL for CAUSE_NONE. */
const char *status_cause_name(enum cause c);

/* One visitor over a status: every rendering (the Lua table, the JSON
 * object) is made by it, so they carry the same fields.  `time` gets a
 * monotonic time in seconds; `strv` a NULL-terminated list. */
struct status_visitor {
    void (*str)(void *ud, const char *key, const char *v);
    void (*integer)(void *ud, const char *key, long long v);
    void (*boolean)(void *ud, const char *key, bool v);
    void (*number)(void *ud, const char *key, double v);
    void (*time)(void *ud, const char *key, double t);
    void (*strv)(void *ud, const char *key, char *const *v);
};
/* Call v for each field of the status of proc `name` (SPEC 1), in one
 * fixed order. */
void status_visit(const struct status *st, const char *name, const struct status_visitor *v,
                  void *ud);

/* How an incarnation ended, in words, into buf: "exited with code 3",
 * "killed by signal TERM (core dumped)", "failed: exec /nope: ...". */
void status_describe_end(const struct status *st, char *buf, size_t size);

/* A deep copy of `src` into `dst` (which holds no strings of its own). */
void status_copy(struct status *dst, const struct status *src);
/* Free the strings of `st` and zero its string fields. */
void status_clear(struct status *st);

#endif
