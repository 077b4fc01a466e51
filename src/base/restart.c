/* restart.c -- the restart policy: modes, backoff and giving up. */
#include "base/restart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void restart_policy_default(struct restart_policy *p)
{
    p->mode = RESTART_ON_FAILURE;
    p->initial = 0.1;
    p->factor = 2;
    p->max = 30;
    p->jitter = 0.1;
    p->reset_after = 60;
    p->give_up_restarts = 5;
    p->give_up_within = 10;
}

static const char *const mode_names[] = {"always", "on-failure", "never", "function"};

int restart_mode_parse(const char *name)
{
    for (int i = 0; i < RESTART_FUNCTION; i++)
        if (strcmp(name, mode_names[i]) == 0)
            return i;
    return -1;
}

const char *restart_mode_name(enum restart_mode m)
{
    return (unsigned)m <= RESTART_FUNCTION ? mode_names[m] : "?";
}

bool restart_wants(enum restart_mode m, const struct status *st)
{
    switch (m) {
    case RESTART_ALWAYS:
        return true;
    case RESTART_ON_FAILURE:
        return !(st->state == ST_STOPPED && st->exit_code == 0);
    default:
        return false;
    }
}

double restart_backoff_delay(const struct restart_policy *p, unsigned attempt, double rnd)
{
    double d = p->initial * pow(p->factor, attempt);
    if (!(d <= p->max))
        d = p->max;  /* past max, or NaN */
    d += d * p->jitter * rnd;
    return d < 0 ? 0 : d;
}

double restart_backoff_next(const struct restart_policy *p, unsigned *attempt,
                            const struct status *st, double rnd)
{
    /* (a failed incarnation never ran: no run to count) */
    if (st && st->state != ST_FAILED && st->ended_at - st->started_at >= p->reset_after)
        *attempt = 0;
    double d = restart_backoff_delay(p, *attempt, rnd);
    if (p->initial * pow(p->factor, *attempt) < p->max)
        (*attempt)++;
    return d;
}

bool restart_exhausted(const struct restart_policy *p, struct restart_state *s, double now)
{
    size_t keep = p->give_up_restarts + 1;
    if (p->give_up_restarts == 0)
        return false;
    if (s->cap != keep) {  /* first use, or a policy with another window */
        if (s->nexits > keep) {
            memmove(s->exits, s->exits + (s->nexits - keep), keep * sizeof *s->exits);
            s->nexits = keep;
        }
        s->exits = xrealloc(s->exits, keep * sizeof *s->exits);
        s->cap = keep;
    }
    if (s->nexits == keep) {
        memmove(s->exits, s->exits + 1, (keep - 1) * sizeof *s->exits);
        s->nexits--;
    }
    s->exits[s->nexits++] = now;
    return s->nexits == keep && now - s->exits[0] <= p->give_up_within;
}

double restart_decide(const struct restart_policy *p, struct restart_state *s,
                      const struct status *st, double now, double rnd, double answer,
                      char *why, size_t whysize)
{
    why[0] = '\0';
    double delay;
    if (p->mode == RESTART_FUNCTION && !isnan(answer)) {
        if (answer < 0)
            return -1;
        delay = answer;
    } else {
        /* a mode, or a function that raised: "on-failure" */
        enum restart_mode m = p->mode == RESTART_FUNCTION ? RESTART_ON_FAILURE : p->mode;
        if (!restart_wants(m, st))
            return -1;
        delay = -1;  /* the backoff's, once not given up */
    }
    if (restart_exhausted(p, s, now)) {
        snprintf(why, whysize, "%u restarts within %gs", p->give_up_restarts,
                 p->give_up_within);
        return -1;
    }
    return delay >= 0 ? delay : restart_backoff_next(p, &s->attempt, st, rnd);
}

void restart_state_free(struct restart_state *s)
{
    free(s->exits);
    s->exits = NULL;
    s->nexits = s->cap = 0;
}
