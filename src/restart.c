/* restart.c -- backoff arithmetic and give-up windows. */
#include "restart.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void restart_policy_default(struct restart_policy *p)
{
    p->mode = RESTART_ON_FAILURE;
    p->initial = 0.1;
    p->factor = 2;
    p->max = 30;
    p->jitter = 0.1;
    p->reset_after = 60;
    p->give_up_restarts = 0;
    p->give_up_within = 0;
}

int restart_mode_parse(const char *name)
{
    if (strcmp(name, "always") == 0)
        return RESTART_ALWAYS;
    if (strcmp(name, "on-failure") == 0)
        return RESTART_ON_FAILURE;
    if (strcmp(name, "never") == 0)
        return RESTART_NEVER;
    return -1;
}

/* Whether the mode asks for a restart after `st`. */
static bool wants_restart(enum restart_mode mode, const struct status *st)
{
    switch (mode) {
    case RESTART_ALWAYS:
        return true;
    case RESTART_ON_FAILURE:
        return !(st->state == ST_STOPPED && st->exit_code == 0);
    case RESTART_NEVER:
    case RESTART_FUNCTION:
        return false;
    }
    return false;
}

/* Record an exit at `now`; true when more than give_up_restarts exits fall
 * within give_up_within seconds, i.e. the policy gives up. */
static bool record_exit(const struct restart_policy *p, struct restart_state *rs,
                        double now)
{
    unsigned n = p->give_up_restarts + 1;
    if (!p->give_up_restarts)
        return false;
    if (!rs->exits) {
        rs->exits = xcalloc(n, sizeof *rs->exits);
        rs->nexits = rs->next = 0;
    }
    rs->exits[rs->next] = now;
    rs->next = (rs->next + 1) % n;
    if (rs->nexits < n)
        rs->nexits++;
    if (rs->nexits < n)
        return false;
    /* the ring is full: its oldest entry is the one `next` points at */
    return now - rs->exits[rs->next] <= p->give_up_within;
}

double restart_decide(const struct restart_policy *p, struct restart_state *rs,
                      const struct status *st, double now, double rnd,
                      char **gave_up)
{
    *gave_up = NULL;
    if (!wants_restart(p->mode, st))
        return -1;
    if (record_exit(p, rs, now)) {
        *gave_up = xasprintf("%u restarts within %gs", p->give_up_restarts,
                             p->give_up_within);
        return -1;
    }
    /* A run that lasted reset_after seconds forgives the earlier failures. */
    if (st->started_at > 0 && now - st->started_at >= p->reset_after)
        rs->attempt = 0;
    double delay = p->initial * pow(p->factor, rs->attempt);
    if (delay > p->max || !isfinite(delay))
        delay = p->max;
    else
        rs->attempt++;
    delay += delay * p->jitter * rnd;
    return delay < 0 ? 0 : delay;
}

void restart_state_free(struct restart_state *rs)
{
    free(rs->exits);
    rs->exits = NULL;
    rs->nexits = rs->next = 0;
}
