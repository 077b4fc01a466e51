/* restart.h -- the restart policy of a declaration, and the one place
 * where it is applied: the modes, the backoff and the give-up window
 * (SPEC 3).  Pure logic, no system calls: the caller gives the time and
 * the random draw.  A restart function (RESTART_FUNCTION) answers the
 * "whether and when" itself; give_up still applies to it. */
#ifndef TEND_RESTART_H
#define TEND_RESTART_H

#include <stdbool.h>
#include <stddef.h>

#include "base/status.h"

enum restart_mode {
    RESTART_ALWAYS,
    RESTART_ON_FAILURE,
    RESTART_NEVER,
    RESTART_FUNCTION  /* a policy function decides (see manager_set_decider) */
};

struct restart_policy {
    enum restart_mode mode;
    double initial, factor, max, jitter, reset_after; /* the backoff */
    unsigned give_up_restarts; /* 0: never give up */
    double give_up_within;
};

/* What the policy remembers of a proc's ends: it belongs to the proc, so
 * a reload that leaves the declaration alone keeps it. */
struct restart_state {
    unsigned attempt;  /* the backoff's next attempt (0: initial) */
    double *exits;     /* the times of the last give_up_restarts + 1 ends
                        * that asked for a restart, oldest first */
    size_t nexits, cap;
};

/* The defaults of SPEC 3: on-failure, backoff 0.1 s doubling to 30 s with
 * 10 % jitter, reset after 60 s; give up at the 6th end within 10 s. */
void restart_policy_default(struct restart_policy *p);

/* The mode named `name` ("always", "on-failure", "never"), or -1; and
 * the name of a mode. */
int restart_mode_parse(const char *name);
const char *restart_mode_name(enum restart_mode m);

/* Whether the mode asks for a restart after the terminal status `st`
 * ("on-failure": anything but exit code 0). */
bool restart_wants(enum restart_mode m, const struct status *st);

/* The backoff delay of attempt number `attempt` (0: the first restart):
 * initial * factor^attempt, at most max, moved by jitter * rnd of itself
 * (rnd in [-1, 1]); never below 0. */
double restart_backoff_delay(const struct restart_policy *p, unsigned attempt, double rnd);
/* The delay for the next restart after `st` (ended_at and started_at of a
 * terminal status; NULL: none known), counting the attempt: a run of
 * reset_after seconds or more starts again from initial. */
double restart_backoff_next(const struct restart_policy *p, unsigned *attempt,
                            const struct status *st, double rnd);

/* Record an end at `now` that asked for a restart; true when it is one
 * too many: give_up_restarts + 1 of them within give_up_within seconds. */
bool restart_exhausted(const struct restart_policy *p, struct restart_state *s, double now);

/* Decide after the terminal status `st` at `now`: the seconds to wait
 * before the next incarnation, or -1 for none (then, when the policy gave
 * up, `why` says so; else it is ""). `answer` is what a restart function
 * said (RESTART_FUNCTION only: seconds, or < 0 for no restart); a
 * function that raised is decided as "on-failure". */
double restart_decide(const struct restart_policy *p, struct restart_state *s,
                      const struct status *st, double now, double rnd, double answer,
                      char *why, size_t whysize);

void restart_state_free(struct restart_state *s);

#endif
