/* restart.h -- the restart fields of a declaration, as checked by the
 * loader.  The decisions themselves are Lua: lua/tend/restart.lua. */
#ifndef TEND_RESTART_H
#define TEND_RESTART_H


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

/* The defaults of SPEC 3: on-failure, backoff 0.1 s doubling to 30 s. */
void restart_policy_default(struct restart_policy *p);

/* The mode named `name` ("always", "on-failure", "never"), or -1. */
int restart_mode_parse(const char *name);

#endif
