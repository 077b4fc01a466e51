/* restart.c -- the restart fields of a declaration: defaults and names. */
#include "restart.h"

#include <string.h>


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
