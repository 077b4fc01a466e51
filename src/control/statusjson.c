/* statusjson.c -- a status as a jansson object. */
#include "control/statusjson.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "core/proc.h"
#include "core/usage.h"

json_t *json_text(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j)
        return j;
    char *t = xstrdup(s);
    for (char *p = t; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(t);
    free(t);
    return j;
}

struct jv {
    json_t *o;
    double offset;
};

/* The keys are status_visit's: ASCII, so jansson need not check them. */
static void jv_str(void *ud, const char *key, const char *v)
{
    json_object_set_new_nocheck(((struct jv *)ud)->o, key, json_text(v));
}

static void jv_int(void *ud, const char *key, long long v)
{
    json_object_set_new_nocheck(((struct jv *)ud)->o, key, json_integer((json_int_t)v));
}

static void jv_bool(void *ud, const char *key, bool v)
{
    json_object_set_new_nocheck(((struct jv *)ud)->o, key, json_boolean(v));
}

static void jv_num(void *ud, const char *key, double v)
{
    json_object_set_new_nocheck(((struct jv *)ud)->o, key,
                                json_real(round(v * 1e6) / 1e6));
}

/* KEY: monotonic seconds to the microsecond; KEY_wall: the wall-clock
 * time, ISO-8601 UTC with milliseconds. */
static void jv_time(void *ud, const char *key, double t)
{
    struct jv *j = ud;
    if (!isfinite(t))
        return;
    jv_num(ud, key, t);
    char text[32], k[64];
    time_iso(t + j->offset, text);
    snprintf(k, sizeof k, "%s_wall", key);
    json_object_set_new_nocheck(j->o, k, json_string_nocheck(text));
}

static void jv_strv(void *ud, const char *key, char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v[i]; i++)
        json_array_append_new(a, json_text(v[i]));
    json_object_set_new(((struct jv *)ud)->o, key, a);
}

json_t *status_json(const struct status *st, const char *name, double wall_offset)
{
    static const struct status_visitor to_json = {jv_str, jv_int, jv_bool, jv_num, jv_time,
                                                  jv_strv};
    struct jv j = {json_object(), wall_offset};
    status_visit(st, name, &to_json, &j);
    return j.o;
}

json_t *statuses_json(struct proc *const *procs, size_t n)
{
    double offset = now_wall() - now_mono();
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        struct status live;
        const struct status *st = usage_status(proc_status(procs[i]), &live);
        json_array_append_new(a, status_json(st, proc_name(procs[i]), offset));
    }
    return a;
}
