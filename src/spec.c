/* spec.c -- proc declarations: defaults and ownership. */
#include "spec.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

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
    free(c->host);
    free(c->port);
    strv_free(c->argv);
    c->pattern = c->target = c->host = c->port = NULL;
    c->addrlen = 0;
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

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool strv_eq(char *const *a, char *const *b)
{
    size_t n = strv_len(a);
    if (n != strv_len(b))
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

/* The same strings in any order (env is a table: its order is Lua's). */
static bool strv_same_set(char *const *a, char *const *b)
{
    size_t n = strv_len(a);
    if (n != strv_len(b))
        return false;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            found = strcmp(a[i], b[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

static bool check_eq(const struct check *a, const struct check *b)
{
    return a->kind == b->kind && a->fd == b->fd && str_eq(a->pattern, b->pattern) &&
           a->stream == b->stream && str_eq(a->target, b->target) && strv_eq(a->argv, b->argv);
}

bool spec_equal(const struct spec *a, const struct spec *b)
{
    const struct restart_policy *ra = &a->restart, *rb = &b->restart;
    return str_eq(a->name, b->name) && strv_eq(a->argv, b->argv) &&
           strv_same_set(a->env, b->env) && str_eq(a->cwd, b->cwd) &&
           str_eq(a->user, b->user) && a->stop_signal == b->stop_signal &&
           a->stop_timeout == b->stop_timeout && ra->mode == rb->mode &&
           ra->initial == rb->initial && ra->factor == rb->factor && ra->max == rb->max &&
           ra->jitter == rb->jitter && ra->reset_after == rb->reset_after &&
           ra->give_up_restarts == rb->give_up_restarts &&
           ra->give_up_within == rb->give_up_within && strv_same_set(a->after, b->after) &&
           a->autostart == b->autostart && a->output == b->output &&
           str_eq(a->output_path, b->output_path) && a->output_max_size == b->output_max_size &&
           a->output_keep == b->output_keep && check_eq(&a->ready, &b->ready) &&
           a->ready_timeout == b->ready_timeout && a->ready_interval == b->ready_interval &&
           a->watchdog == b->watchdog && check_eq(&a->health, &b->health) &&
           a->health_interval == b->health_interval &&
           a->health_timeout == b->health_timeout && a->health_failures == b->health_failures;
}
