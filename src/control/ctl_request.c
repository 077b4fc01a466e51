/* ctl_request.c -- the control socket's requests: a line parsed and
 * checked against the table of commands, the commands themselves, and the
 * requests answered once their procs reach a state (start, stop, wait...). */
#include "control/ctl_impl.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "control/metrics.h"
#include "control/statusjson.h"
#include "core/manager.h"

/* ---- statuses as JSON ---- */

/* A reply of statuses: {"ok":true,"result":[...]}, or with an error
 * (NULL: none) {"ok":false,"error":"...","result":[...]}. */
static void conn_statuses(struct conn *c, struct proc *const *procs, size_t n,
                          const char *err)
{
    json_t *r = json_object();
    json_object_set_new(r, "ok", json_boolean(!err));
    if (err)
        json_object_set_new(r, "error", json_text(err));
    json_object_set_new(r, "result", statuses_json(procs, n));
    conn_send(c, r);
}

/* ---- waiting for states ---- */

static void request_answer(struct request *r);

void request_free(struct request *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->t[i].sub)
            proc_unsubscribe(r->t[i].p, r->t[i].sub);
        free(r->t[i].gone);
    }
    struct conn *c = r->c;
    ev_timer_stop(c->ctl->loop, &r->timer);
    if (r->reload)  /* its answer would find the request gone */
        manager_reload_forget(c->ctl->m, r);
    c->req = NULL;
    free(r->t);
    free(r);
    conn_touch(c);  /* idle from the answer on */
}

/* Answer once every target is done (wait: once one has failed). */
static void request_check(struct request *r)
{
    if (r->setting_up)
        return;
    bool failed = false;
    for (size_t i = 0; i < r->n; i++)
        failed |= r->t[i].done && !r->t[i].ok;
    if (r->left == 0 || (r->fail_fast && failed))
        request_answer(r);
}

static void target_finish(struct target *t, bool ok)
{
    if (t->done)
        return;
    t->done = true;
    t->ok = ok;
    if (t->sub) {
        proc_unsubscribe(t->p, t->sub);
        t->sub = NULL;
    }
    t->req->left--;
    request_check(t->req);
}

static void target_cb(struct proc *p, const struct status *now,
                      const struct status *prev, void *data)
{
    struct target *t = data;
    bool terminal = status_is_terminal(now->state);
    switch (t->want) {
    case T_READY:
        if (now->state == ST_READY || terminal)
            target_finish(t, now->state == ST_READY);
        break;
    case T_TERMINAL:
        if (terminal)
            target_finish(t, true);
        break;
    case T_RESTART:
        /* stopped: the manager starts the next incarnation (manager_restart);
         * now its readiness */
        if (terminal) {
            t->want = T_READY;
            if (manager_shutting_down(t->req->c->ctl->m)) {
                t->why = "tend is shutting down";
                target_finish(t, false);
            }
        }
        break;
    }
}

/* Wait for `want` on t->p from now on. */
static void target_watch(struct target *t, int want)
{
    t->want = want;
    t->sub = proc_subscribe(t->p, target_cb, t);
}

static void wait_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct request *r = w->data;
    r->timed_out = true;
    request_answer(r);
}

/* A request on `procs` (taken over); the caller sets up each target. */
static struct request *request_new(struct conn *c, const char *cmd,
                                   struct proc **procs, size_t n)
{
    struct request *r = xcalloc(1, sizeof *r);
    r->c = c;
    r->cmd = cmd;
    r->t = xcalloc(n ? n : 1, sizeof *r->t);
    r->n = r->left = n;
    r->setting_up = true;
    for (size_t i = 0; i < n; i++) {
        r->t[i].req = r;
        r->t[i].p = procs[i];
    }
    free(procs);
    ev_timer_init(&r->timer, wait_timeout_cb, 0, 0);
    r->timer.data = r;
    c->req = r;
    return r;
}

/* Set up done: answer now if everything is known already. */
static void request_go(struct request *r)
{
    r->setting_up = false;
    request_check(r);
}

static void request_answer(struct request *r)
{
    struct conn *c = r->c;
    struct proc **procs = xcalloc(r->n ? r->n : 1, sizeof *procs);
    size_t np = 0;
    char *err = NULL;
    for (size_t i = 0; i < r->n; i++) {
        struct target *t = &r->t[i];
        if (t->p)  /* one that was freed has no status to show */
            procs[np++] = t->p;
        if (t->done && t->ok)
            continue;
        char *what;
        if (!t->p)
            what = xasprintf("%s: %s", t->gone, t->why ? t->why : "removed");
        else if (!t->done)
            what = xasprintf("%s is %s", proc_spec(t->p)->name,
                             status_state_name(proc_status(t->p)->state));
        else if (t->why)
            what = xasprintf("%s: %s", proc_spec(t->p)->name, t->why);
        else {
            char end[256];
            status_describe_end(proc_status(t->p), end, sizeof end);
            what = xasprintf("%s %s before it was ready", proc_spec(t->p)->name, end);
        }
        char *joined = err ? xasprintf("%s; %s", err, what) : what;
        if (err) {
            free(err);
            free(what);
        }
        err = joined;
    }
    if (r->timed_out) {
        char *msg = xasprintf("timed out after %gs (%s)", r->timeout, err ? err : "?");
        free(err);
        err = msg;
    }
    conn_statuses(c, procs, np, err);
    free(procs);
    free(err);
    request_free(r);
    conn_wake(c);
}

/* ---- the commands ---- */

/* The comma-separated names of every proc, for error messages. */
static char *known_names(const struct manager *m)
{
    size_t n = manager_count(m);
    if (n == 0)
        return xstrdup("there are none");
    char *s = xstrdup("known: ");
    for (size_t i = 0; i < n; i++) {
        char *t = xasprintf("%s%s%s", s, i ? ", " : "", proc_name(manager_at(m, i)));
        free(s);
        s = t;
    }
    return s;
}

/* The procs of the request's "names", without repeats (every proc when
 * there are none and `all` allows it); NULL after an error reply.  One
 * unknown name and nothing is done. */
struct proc **request_procs(struct conn *c, json_t *req, const char *cmd, bool all,
                            size_t *n)
{
    struct manager *m = c->ctl->m;
    json_t *names = json_object_get(req, "names");
    size_t k = names ? json_array_size(names) : 0;
    if (names && !json_is_array(names)) {
        conn_error(c, "%s: \"names\" must be an array of proc names", cmd);
        return NULL;
    }
    if (k == 0 && !all) {
        conn_error(c, "%s: which procs? (\"names\" is empty)", cmd);
        return NULL;
    }
    size_t total = k ? k : manager_count(m);
    struct proc **procs = xcalloc(total ? total : 1, sizeof *procs);
    *n = 0;
    if (k == 0) {
        for (size_t i = 0; i < total; i++)
            procs[(*n)++] = manager_at(m, i);
        return procs;
    }
    for (size_t i = 0; i < k; i++) {
        json_t *v = json_array_get(names, i);
        struct proc *p = json_is_string(v) ? manager_get(m, json_string_value(v)) : NULL;
        size_t nr = 0;
        struct proc **reps = json_is_string(v) && !p
                                 ? manager_replicas(m, json_string_value(v), &nr) : NULL;
        if (reps) {  /* a set's name: every replica (SPEC 3) */
            procs = xrealloc(procs, (total += nr) * sizeof *procs);
            for (size_t j = 0; j < nr; j++)
                procs[(*n)++] = reps[j];
            free(reps);
            continue;
        }
        if (!p) {
            char *known = known_names(m);
            if (json_is_string(v))
                conn_error(c, "no proc named '%s' (%s)", json_string_value(v), known);
            else
                conn_error(c, "%s: \"names\" must be an array of proc names", cmd);
            free(known);
            free(procs);
            return NULL;
        }
        procs[(*n)++] = p;
    }
    /* without repeats ("web web@2"), in the order first named */
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        bool seen = false;
        for (size_t j = 0; j < kept && !seen; j++)
            seen = procs[j] == procs[i];
        if (!seen)
            procs[kept++] = procs[i];
    }
    *n = kept;
    return procs;
}

/* The number under `key` (absent: `def`); false after an error reply. */
static bool req_seconds(struct conn *c, json_t *req, const char *cmd, const char *key,
                        double *out, double def)
{
    json_t *v = json_object_get(req, key);
    *out = def;
    if (!v)
        return true;
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1e9) {
        conn_error(c, "%s: \"%s\" must be a number of seconds (0 or more)", cmd, key);
        return false;
    }
    *out = json_number_value(v);
    return true;
}

/* The boolean under `key` (absent: false); false after an error reply. */
bool request_flag(struct conn *c, json_t *req, const char *cmd, const char *key,
                  bool *out)
{
    json_t *v = json_object_get(req, key);
    *out = v && json_is_true(v);
    if (v && !json_is_boolean(v)) {
        conn_error(c, "%s: \"%s\" must be true or false", cmd, key);
        return false;
    }
    return true;
}

/* Every proc must be alive for kill and signal; false after an error
 * reply (then nothing was done). */
static bool all_alive(struct conn *c, struct proc **procs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!proc_alive(procs[i])) {
            conn_error(c, "%s is not running (it is %s)", proc_spec(procs[i])->name,
                       status_state_name(proc_status(procs[i])->state));
            free(procs);
            return false;
        }
    return true;
}

static void cmd_status(struct conn *c, json_t *req)
{
    /* `tend status --json` as a request: the socket always answers JSON */
    bool json;
    if (!request_flag(c, req, "status", "json", &json))
        return;
    size_t n;
    struct proc **procs = request_procs(c, req, "status", true, &n);
    if (!procs)
        return;
    conn_statuses(c, procs, n, NULL);
    free(procs);
}

/* start and restart: the new (or current) incarnation ready, or terminal. */
static void start_or_restart(struct conn *c, json_t *req, const char *cmd, bool restart)
{
    struct manager *m = c->ctl->m;
    size_t n;
    struct proc **procs = request_procs(c, req, cmd, false, &n);
    if (!procs)
        return;
    if (manager_shutting_down(m)) {
        free(procs);
        conn_error(c, "%s: tend is shutting down", cmd);
        return;
    }
    struct request *r = request_new(c, cmd, procs, n);
    for (size_t i = 0; i < n; i++) {
        struct target *t = &r->t[i];
        struct proc *p = t->p;
        enum proc_state s = proc_status(p)->state;
        if (proc_alive(p) && (restart || s == ST_STOPPING)) {
            target_watch(t, T_RESTART);
            manager_restart(m, p);  /* the one restart, as proc:restart() */
        } else if (s == ST_READY) {
            target_finish(t, true);  /* start: nothing to do */
        } else if (proc_alive(p)) {
            target_watch(t, T_READY);
        } else {
            target_watch(t, T_READY);
            manager_start_now(m, p);
        }
    }
    request_go(r);
}

static void cmd_start(struct conn *c, json_t *req)
{
    start_or_restart(c, req, "start", false);
}

static void cmd_restart(struct conn *c, json_t *req)
{
    start_or_restart(c, req, "restart", true);
}

static void cmd_stop(struct conn *c, json_t *req)
{
    struct manager *m = c->ctl->m;
    double timeout;
    size_t n;
    if (!req_seconds(c, req, "stop", "timeout", &timeout, -1))
        return;
    struct proc **procs = request_procs(c, req, "stop", false, &n);
    if (!procs)
        return;
    struct request *r = request_new(c, "stop", procs, n);
    for (size_t i = 0; i < n; i++) {
        struct target *t = &r->t[i];
        if (proc_alive(t->p)) {
            target_watch(t, T_TERMINAL);
            manager_stop(m, t->p, timeout, CAUSE_STOP);
        } else {
            manager_stop(m, t->p, timeout, CAUSE_STOP);  /* no restart either */
            target_finish(t, true);
        }
    }
    request_go(r);
}

static void cmd_kill(struct conn *c, json_t *req)
{
    size_t n;
    struct proc **procs = request_procs(c, req, "kill", false, &n);
    if (!procs || !all_alive(c, procs, n))
        return;
    struct request *r = request_new(c, "kill", procs, n);
    for (size_t i = 0; i < n; i++) {
        target_watch(&r->t[i], T_TERMINAL);
        proc_kill(r->t[i].p, CAUSE_KILL);
    }
    request_go(r);
}

static void cmd_signal(struct conn *c, json_t *req)
{
    json_t *v = json_object_get(req, "signal");
    int sig = -1;
    if (json_is_string(v))
        sig = signal_from_name(json_string_value(v));
    else if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < NSIG)
        sig = (int)json_integer_value(v);
    if (sig < 0) {
        conn_error(c, "signal: \"signal\" must be a signal name such as \"HUP\"");
        return;
    }
    size_t n;
    struct proc **procs = request_procs(c, req, "signal", false, &n);
    if (!procs || !all_alive(c, procs, n))
        return;
    for (size_t i = 0; i < n; i++) {
        if (proc_signal(procs[i], sig) != 0 && errno != ESRCH) {
            conn_error(c, "signal %s to %s: %s", signal_name(sig),
                       proc_spec(procs[i])->name, strerror(errno));
            free(procs);
            return;
        }
    }
    conn_statuses(c, procs, n, NULL);
    free(procs);
}

static void cmd_wait(struct conn *c, json_t *req)
{
    bool ready, exit;
    double timeout;
    if (!request_flag(c, req, "wait", "ready", &ready) || !request_flag(c, req, "wait", "exit", &exit) ||
        !req_seconds(c, req, "wait", "timeout", &timeout, -1))
        return;
    if (ready && exit) {
        conn_error(c, "wait: \"ready\" or \"exit\", not both");
        return;
    }
    size_t n;
    struct proc **procs = request_procs(c, req, "wait", false, &n);
    if (!procs)
        return;
    struct request *r = request_new(c, "wait", procs, n);
    r->fail_fast = true;
    for (size_t i = 0; i < n; i++) {
        struct target *t = &r->t[i];
        enum proc_state s = proc_status(t->p)->state;
        if (exit && status_is_terminal(s))
            target_finish(t, true);
        else if (!exit && (s == ST_READY || status_is_terminal(s)))
            target_finish(t, s == ST_READY);
        else
            target_watch(t, exit ? T_TERMINAL : T_READY);
    }
    if (timeout >= 0 && r->left > 0) {
        r->timeout = timeout;
        ev_timer_set(&r->timer, timeout, 0);
        ev_timer_start(c->ctl->loop, &r->timer);
    }
    request_go(r);
}

static void cmd_metrics(struct conn *c, json_t *req)
{
    size_t len;
    char *text = metrics_text(c->ctl->m, &len);
    conn_ok(c, json_stringn(text, len));
    free(text);
}

/* scale NAME N: the replicas past N are removed (answered once they have
 * ended), new ones started (answered once they are ready). */
static void cmd_scale(struct conn *c, json_t *req)
{
    struct manager *m = c->ctl->m;
    json_t *name = json_object_get(req, "name"), *count = json_object_get(req, "count");
    if (!json_is_string(name)) {
        conn_error(c, "scale: \"name\" must be a proc name");
        return;
    }
    if (!json_is_integer(count) || json_integer_value(count) < 1 ||
        json_integer_value(count) > REPLICAS_MAX) {
        conn_error(c, "scale: \"count\" must be a whole number from 1 to %d", REPLICAS_MAX);
        return;
    }
    const char *set = json_string_value(name);
    int n = (int)json_integer_value(count);
    size_t had;
    struct proc **before = manager_replicas(m, set, &had);
    /* one target for each replica to go, then one for each new one (the
     * targets cannot move once watched) */
    size_t ngo = had > (size_t)n ? had - (size_t)n : 0;
    size_t nnew = (size_t)n > had && had > 0 ? (size_t)n - had : 0;
    struct proc **procs = xcalloc(ngo + nnew + 1, sizeof *procs);
    for (size_t i = 0; i < ngo; i++)
        procs[i] = before[(size_t)n + i];
    free(before);
    struct request *r = request_new(c, "scale", procs, ngo + nnew);
    /* the ones to go are watched before they go: one that is not alive
     * is freed at once */
    for (size_t i = 0; i < ngo; i++) {
        if (proc_alive(r->t[i].p))
            target_watch(&r->t[i], T_TERMINAL);
        else
            target_finish(&r->t[i], true);
    }
    char *err = NULL;
    if (manager_scale(m, set, n, &err) != 0) {
        request_free(r);
        conn_error(c, "scale: %s", err);
        free(err);
        return;
    }
    /* the new ones: each ready, or terminal */
    size_t now;
    struct proc **after = manager_replicas(m, set, &now);
    for (size_t i = 0; i < nnew; i++) {
        struct target *t = &r->t[ngo + i];
        t->p = had + i < now ? after[had + i] : NULL;
        enum proc_state st = t->p ? proc_status(t->p)->state : ST_STOPPED;
        if (!t->p) {
            t->gone = xasprintf("%s@%zu", set, had + i + 1);
            t->why = "not added";
            target_finish(t, false);
        } else if (st == ST_READY || status_is_terminal(st)) {
            target_finish(t, st == ST_READY);
        } else {
            target_watch(t, T_READY);
        }
    }
    free(after);
    request_go(r);
}

static void cmd_shutdown(struct conn *c, json_t *req)
{
    /* a second request is not a second SIGTERM: it does not kill */
    if (!manager_shutting_down(c->ctl->m))
        manager_shutdown(c->ctl->m, -1);
    conn_ok(c, NULL);
}

static void reload_answered(void *data, int rc, const char *msg)
{
    struct request *r = data;
    struct conn *c = r->c;
    r->reload = false;  /* answered: nothing to forget */
    request_free(r);
    if (rc != 0) {
        conn_error(c, "reload: %s", msg ? msg : "failed");
    } else {
        logs_reloaded(c->ctl);
        conn_ok(c, json_text(msg));  /* what changed */
    }
    conn_wake(c);
}

/* Answered at once, or once the users the file names that are new to this
 * run were looked up off the loop. */
static void cmd_reload(struct conn *c, json_t *req)
{
    struct request *r = request_new(c, "reload", NULL, 0);
    r->reload = true;
    manager_reload(c->ctl->m, reload_answered, r);
}

/* A reload retired `p` and is about to free it: waits on it fail, follows
 * of it end. */
void request_forget_proc(struct proc *p, void *data)
{
    struct ctl *ctl = data;
    for (struct conn *c = ctl->conns; c; c = c->next) {
        logs_forget(c, p);
        struct request *r = c->req;
        for (size_t i = 0; r && i < r->n; i++) {
            if (r->t[i].p != p)
                continue;
            if (!r->t[i].done) {
                /* it ended on its way out: what stop and wait --exit want */
                bool ok = r->t[i].want == T_TERMINAL && status_is_terminal(proc_status(p)->state);
                r->t[i].why = ok ? NULL : "removed by a reload";
                r->setting_up = true;  /* answer once, after the loop */
                target_finish(&r->t[i], ok);
                r->setting_up = false;
            }
            /* the answer, if it comes later, must not read a freed proc */
            r->t[i].gone = xstrdup(proc_spec(p)->name);
            r->t[i].p = NULL;
        }
        if (r && c->req == r)
            request_check(r);
    }
}

typedef void cmd_fn(struct conn *c, json_t *req);

static const struct command {
    const char *name;
    const char *fields[5];  /* allowed besides "cmd" */
    cmd_fn *run;
} commands[] = {
    {"status", {"names", "json"}, cmd_status},
    {"start", {"names"}, cmd_start},
    {"stop", {"names", "timeout"}, cmd_stop},
    {"restart", {"names"}, cmd_restart},
    {"kill", {"names"}, cmd_kill},
    {"signal", {"names", "signal"}, cmd_signal},
    {"logs", {"names", "lines", "stream", "follow"}, logs_cmd},
    {"wait", {"names", "ready", "exit", "timeout"}, cmd_wait},
    {"shutdown", {NULL}, cmd_shutdown},
    {"reload", {NULL}, cmd_reload},
    {"scale", {"name", "count"}, cmd_scale},
    {"metrics", {NULL}, cmd_metrics},
};

/* One request (trimmed, not empty): parse it, check it and run its
 * command. */
void request_run(struct conn *c, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req) {
        conn_error(c, "malformed request: %s (at byte %d)", jerr.text, jerr.position);
        return;
    }
    json_t *cmdv = json_object_get(req, "cmd");
    const char *cmd = json_string_value(cmdv);
    if (!json_is_object(req) || !cmd) {
        conn_error(c, "a request is a JSON object with a \"cmd\" string");
        json_decref(req);
        return;
    }
    const struct command *k = NULL;
    for (size_t i = 0; i < ARRAY_LEN(commands) && !k; i++)
        if (strcmp(commands[i].name, cmd) == 0)
            k = &commands[i];
    if (!k) {
        conn_error(c, "unknown command '%s'", cmd);
        json_decref(req);
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(req, key, val) {
        bool ok = strcmp(key, "cmd") == 0;
        for (size_t i = 0; !ok && i < ARRAY_LEN(k->fields) && k->fields[i]; i++)
            ok = strcmp(key, k->fields[i]) == 0;
        if (!ok) {
            conn_error(c, "%s: unknown field '%s'", cmd, key);
            json_decref(req);
            return;
        }
    }
    k->run(c, req);
    json_decref(req);
}

/* One request line; empty lines are ignored (they do not keep a
 * connection from being idle). */
