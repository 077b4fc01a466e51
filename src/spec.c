/* spec.c -- proc declarations: defaults and ownership. */
#include "spec.h"

#include <signal.h>
#include <stdlib.h>

#include "util.h"

struct spec *spec_new(void)
{
    struct spec *s = xcalloc(1, sizeof *s);
    s->stop_signal = SIGTERM;
    s->stop_timeout = 10;
    s->autostart = true;
    s->output = OUTPUT_INHERIT;
    s->uid = (uid_t)-1;
    s->gid = (gid_t)-1;
    restart_policy_default(&s->restart);
    return s;
}

void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

size_t strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

void spec_free(struct spec *s)
{
    if (!s)
        return;
    free(s->name);
    strv_free(s->argv);
    strv_free(s->env);
    free(s->cwd);
    free(s->user);
    free(s->groups);
    free(s->home);
    strv_free(s->after);
    free(s->where);
    free(s);
}
