/* restart.h -- the restart policy: whether and when a proc that ended
 * starts again (SPEC 1 and 3).  Pure logic, no system calls. */
#ifndef TEND_RESTART_H
#define TEND_RESTART_H

#include <stdbool.h>

#include "status.h"

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

/* What the policy remembers of a proc's past exits. */
struct restart_state {
    unsigned attempt;   /* consecutive quick restarts: the backoff exponent */
    double *exits;      /* ring of the last give_up_restarts+1 exit times */
    unsigned nexits, next;
};

/* The defaults of SPEC 3: on-failure, backoff 0.1 s doubling to 30 s. */
void restart_policy_default(struct restart_policy *p);

/* The mode named `name` ("always", "on-failure", "never"), or -1. */
int restart_mode_parse(const char *name);

/* Decide for the terminal status `st`, ended at time `now`: the delay in
 * seconds before the next incarnation, or -1 for none.  `rnd` in [-1, 1]
 * scales the jitter.  When the policy gives up, *gave_up receives a new
 * string saying why (the caller frees it). */
double restart_decide(const struct restart_policy *p, struct restart_state *rs,
                      const struct status *st, double now, double rnd,
                      char **gave_up);

void restart_state_free(struct restart_state *rs);

#endif
