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
    s->output_keep = 5;
    s->uid = (uid_t)-1;
    s->ready_interval = 0.1;
    s->health_interval = 10;
    s->health_timeout = 5;
    s->health_failures = 3;
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
    free(s->output_path);
    check_clear(&s->ready);
    check_clear(&s->health);
    free(s->where);
    free(s);
}

void check_clear(struct check *c)
{
    free(c->pattern);
    free(c->target);
    strv_free(c->argv);
    c->pattern = c->target = NULL;
    c->argv = NULL;
    c->kind = CHECK_NONE;
}

char *check_describe(const struct check *c)
{
    switch (c->kind) {
    case CHECK_FD:
        return xasprintf("fd %d", c->fd);
    case CHECK_NOTIFY:
        return xstrdup("notify");
    case CHECK_LOG:
        return xasprintf("log %s", c->pattern);
    case CHECK_TCP:
        return xasprintf("tcp %s", c->target);
    case CHECK_EXEC:
        return xasprintf("exec %s", c->argv[0]);
    case CHECK_FUNC:
        return xstrdup("function");
    default:
        return xstrdup("none");
    }
}
