/* lwait.c -- the waits a coroutine makes on the core: tend.sleep,
 * tend.exec, a proc's transitions (proc:wait(), ready(), changed(), ...)
 * and proc:watch()'s iterator.
 *
 * A wait registers a `struct waiter` (a subscriber or a timer) and yields;
 * the core's event resumes the coroutine with the answer.  Nothing polls.
 * Every Lua API call made from a core callback runs inside lua_pcall, so a
 * memory error in the VM never reaches the supervisor. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "policy/lbind.h"
#include "policy/ldecl.h"
#include "policy/lvm.h"
#include "policy/users.h"
#include "core/exec.h"
#include "core/manager.h"
#include "base/util.h"

struct waiter {
    struct policy *pol;
    lua_State *co;
    enum wait_kind kind;
    struct proc *p;
    struct proc_sub *sub;
    ev_timer timer;
    struct exec_job *job;
    struct users_job *users;  /* W_USER: the look-up, and */
    struct spec *s;           /* the declaration that waits for it */
    struct waiter *prev, *next;
};

static void waiter_unlink(struct waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        w->pol->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    if (w->sub)
        proc_unsubscribe(w->p, w->sub);
    if (w->kind == W_SLEEP)
        ev_timer_stop(w->pol->loop, &w->timer);
    exec_cancel(w->job);
    w->job = NULL;
    users_job_free(w->users);
    w->users = NULL;
}

static struct waiter *waiter_new(struct policy *pol, lua_State *co, enum wait_kind kind)
{
    struct waiter *w = xcalloc(1, sizeof *w);
    w->pol = pol;
    w->co = co;
    w->kind = kind;
    w->next = pol->waiters;
    if (pol->waiters)
        pol->waiters->prev = w;
    pol->waiters = w;
    return w;
}

static void unwatch_co(struct policy *pol, lua_State *co);

void lwait_cancel_of(struct policy *pol, lua_State *co)
{
    unwatch_co(pol, co);
    for (struct waiter *w = pol->waiters, *next; w; w = next) {
        next = w->next;
        if (w->co == co) {
            waiter_unlink(w);
            free(w);
        }
    }
}

void lwait_cancel_all(struct policy *pol)
{
    while (pol->waiters) {
        struct waiter *w = pol->waiters;
        waiter_unlink(w);
        free(w);
    }
}

/* What a finished wait resumes its coroutine with. */
struct answer {
    struct waiter *w;
    const struct status *st;  /* NULL: no status */
    bool ok;                  /* W_READY: reached */
    const struct exec_result *exec;
    const char *msg;          /* W_USER: the load error, or NULL */
};

static int resume_protected(lua_State *L)
{
    struct answer *a = lua_touserdata(L, 1);
    struct waiter *w = a->w;
    lua_State *co = w->co;
    struct policy *pol = w->pol;
    int n = 0;
    if (w->kind == W_EXEC) {
        const struct exec_result *r = a->exec;
        if (r->state == ST_STOPPED) {
            lua_pushinteger(co, r->exit_code);
            lua_pushlstring(co, r->out, r->out_len);
            lua_pushlstring(co, r->err, r->err_len);
            n = 3;
        } else {
            struct status st = {.state = r->state, .signal = r->signal,
                                .started_at = r->started_at, .ended_at = r->ended_at,
                                .reason = (char *)r->reason, .tail = (char *)r->err};
            lua_pushnil(co);
            lstatus_push(co, &st, "exec");
            n = 2;
        }
    } else if (w->kind == W_USER) {
        if (a->msg)
            lua_pushstring(co, a->msg);
        else
            lua_pushnil(co);
        n = 1;
    } else if (w->kind == W_READY) {
        if (a->ok) {
            lua_pushboolean(co, 1);
            n = 1;
        } else {
            lua_pushnil(co);
            lstatus_push(co, a->st, proc_spec(w->p)->name);
            n = 2;
        }
    } else if (a->st) {
        lstatus_push(co, a->st, proc_spec(w->p)->name);
        n = 1;
    }
    lvm_resume(pol->vm, co, n);
    return 0;
}

/* End the wait and resume its coroutine with the answer. */
static void waiter_finish_msg(struct waiter *w, const struct status *st, bool ok,
                              const struct exec_result *exec, const char *msg)
{
    struct policy *pol = w->pol;
    waiter_unlink(w);
    struct answer a = {w, st, ok, exec, msg};
    lvm_protected(pol->L, resume_protected, &a, w->p ? proc_spec(w->p)->name : NULL,
                  "resuming a wait");
    free(w);
}

static void waiter_finish(struct waiter *w, const struct status *st, bool ok,
                          const struct exec_result *exec)
{
    waiter_finish_msg(w, st, ok, exec, NULL);
}

static void sleep_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    waiter_finish(container_of(t, struct waiter, timer), NULL, false, NULL);
}

int lwait_sleep(lua_State *L, double seconds)
{
    struct policy *pol = policy_of(L);
    lvm_check_yieldable(L, "tend.sleep");
    struct waiter *w = waiter_new(pol, L, W_SLEEP);
    ev_timer_init(&w->timer, sleep_cb, seconds > 0 ? seconds : 0, 0);
    ev_timer_start(pol->loop, &w->timer);
    return lvm_yield(L);
}

static void waiter_cb(struct proc *p, const struct status *now,
                      const struct status *prev, void *data)
{
    struct waiter *w = data;
    bool terminal = status_is_terminal(now->state);
    switch (w->kind) {
    case W_CHANGED:
        waiter_finish(w, now, true, NULL);
        break;
    case W_TERMINAL:
        if (terminal)
            waiter_finish(w, now, true, NULL);
        break;
    case W_READY:
        if (now->state == ST_READY || terminal)
            waiter_finish(w, now, now->state == ST_READY, NULL);
        break;
    case W_START:
        if (now->state == ST_READY || terminal)
            waiter_finish(w, now, true, NULL);
        break;
    case W_RESTART:
        /* the old incarnation's end (manager_restart starts the next one):
         * then the new one's readiness or end */
        if (terminal) {
            w->kind = W_START;
            if (manager_shutting_down(w->pol->m))
                waiter_finish(w, now, true, NULL);  /* stays down */
        }
        break;
    case W_SLEEP:
    case W_EXEC:
    case W_USER:
        break;
    }
}

static void exec_done(const struct exec_result *r, void *data)
{
    struct waiter *w = data;
    w->job = NULL;  /* the job frees itself after this call */
    waiter_finish(w, NULL, true, r);
}

void lwait_exec(lua_State *L, char **argv, char **env, const char *cwd, double timeout)
{
    struct policy *pol = policy_of(L);
    struct waiter *w = waiter_new(pol, L, W_EXEC);
    w->job = exec_start(pol->loop, argv, env, cwd, timeout, exec_done, w);
}

static void user_done(void *data, const char *late)
{
    struct waiter *w = data;
    char *msg = late ? xasprintf("%s%sproc '%s': field 'user': the name service did not "
                                 "answer for user '%s' within %g s", w->s->where,
                                 *w->s->where ? ": " : "", w->s->name, late,
                                 policy_users_timeout())
                     : ldecl_user_apply(w->s, w->users);
    waiter_finish_msg(w, NULL, true, NULL, msg);
    free(msg);
}

int lwait_user_k(lua_State *L, struct spec *s, lua_KContext ctx, lua_KFunction k)
{
    struct policy *pol = policy_of(L);
    struct waiter *w = waiter_new(pol, L, W_USER);
    w->s = s;
    w->users = users_job_start(pol->loop, &s->user, 1, policy_users_timeout(), user_done, w);
    if (!w->users) {
        int err = errno;
        waiter_unlink(w);
        free(w);
        return luaL_error(L, "tend.spawn: cannot look up user '%s' off the loop: %s", s->user,
                          err == EAGAIN ? "too many look-ups are stuck in the name service"
                                        : strerror(err));
    }
    return lvm_yieldk(L, ctx, k);
}

int lwait_proc(lua_State *L, struct proc *p, enum wait_kind kind, const char *what)
{
    lvm_check_yieldable(L, what);
    struct waiter *w = waiter_new(policy_of(L), L, kind);
    w->p = p;
    w->sub = proc_subscribe(p, waiter_cb, w);
    return lvm_yield(L);
}

int lwait_proc_k(lua_State *L, struct proc *p, enum wait_kind kind, const char *what,
                 lua_KContext ctx, lua_KFunction k)
{
    lvm_check_yieldable(L, what);
    struct waiter *w = waiter_new(policy_of(L), L, kind);
    w->p = p;
    w->sub = proc_subscribe(p, waiter_cb, w);
    return lvm_yieldk(L, ctx, k);
}

/* ---- watch: every following transition, in order ---- */

#define WATCH_MT "tend.Watch"
static const char watches_key = 'w';  /* weak: watch pointer -> userdata */

struct watch {
    struct policy *pol;
    struct proc *p;
    struct proc_sub *sub;
    lua_State *waiting;  /* the coroutine blocked in the iterator */
    lua_Integer head, tail;  /* the queue in uservalue 1: [head, tail) */
};

/* A transition on its way to a watch. */
struct watch_event {
    struct watch *w;
    const struct status *now;
};

static int watch_push_protected(lua_State *L)
{
    struct watch_event *t = lua_touserdata(L, 1);
    struct watch *w = t->w;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &watches_key);
    if (lua_rawgetp(L, -1, w) != LUA_TUSERDATA)
        return 0;  /* being collected */
    if (w->waiting && lvm_running(w->pol->vm, w->waiting)) {
        lua_State *co = w->waiting;
        w->waiting = NULL;
        lstatus_push(co, t->now, proc_spec(w->p)->name);
        lvm_resume(w->pol->vm, co, 1);
        return 0;
    }
    w->waiting = NULL;
    lua_getiuservalue(L, -1, 1);
    lstatus_push(L, t->now, proc_spec(w->p)->name);
    lua_rawseti(L, -2, w->tail++);
    return 0;
}

/* A coroutine that is being ended no longer waits in any watch iterator. */
static void unwatch_co(struct policy *pol, lua_State *co)
{
    lua_State *L = pol->L;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &watches_key) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            struct watch *w = lua_touserdata(L, -1);
            if (w && w->waiting == co)
                w->waiting = NULL;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

static void watch_cb(struct proc *p, const struct status *now,
                     const struct status *prev, void *data)
{
    struct watch *w = data;
    struct watch_event t = {w, now};
    lvm_protected(w->pol->L, watch_push_protected, &t, proc_spec(p)->name, "proc:watch()");
}

static int watch_next(lua_State *L)
{
    struct watch *w = luaL_checkudata(L, lua_upvalueindex(1), WATCH_MT);
    if (w->head < w->tail) {
        lua_getiuservalue(L, lua_upvalueindex(1), 1);
        lua_rawgeti(L, -1, w->head);
        lua_pushnil(L);
        lua_rawseti(L, -3, w->head++);
        return 1;
    }
    if (!w->sub)
        return luaL_error(L, "proc:watch(): the proc has been removed");
    if (w->waiting)
        return luaL_error(L, "proc:watch(): one coroutine at a time per iterator");
    lvm_check_yieldable(L, "proc:watch()");
    w->waiting = L;
    return lvm_yield(L);
}

static int watch_gc(lua_State *L)
{
    struct watch *w = luaL_checkudata(L, 1, WATCH_MT);
    if (w->sub)
        proc_unsubscribe(w->p, w->sub);
    w->sub = NULL;
    return 0;
}

static int forget_watches_protected(lua_State *L)
{
    struct proc *p = lua_touserdata(L, 1);
    struct policy *pol = policy_of(L);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &watches_key) != LUA_TTABLE)
        return 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        struct watch *w = lua_touserdata(L, -1);
        lua_pop(L, 1);
        if (!w || w->p != p || !w->sub)
            continue;
        proc_unsubscribe(p, w->sub);
        w->sub = NULL;
        if (w->waiting && lvm_running(pol->vm, w->waiting)) {
            lua_State *co = w->waiting;
            w->waiting = NULL;
            lvm_resume(pol->vm, co, 0);  /* nil: the loop over it ends */
        }
        w->waiting = NULL;
    }
    return 0;
}

void lwait_forget(struct policy *pol, struct proc *p)
{
    /* a wait on it ends with the status it has (terminal, or pending if
     * it never started); one at a time, since a coroutine resumed may
     * change the list */
    for (;;) {
        struct waiter *w = pol->waiters;
        while (w && w->p != p)
            w = w->next;
        if (!w)
            break;
        waiter_finish(w, proc_status(p), proc_status(p)->state == ST_READY, NULL);
    }
    lvm_protected(pol->L, forget_watches_protected, p, proc_spec(p)->name, "proc:watch()");
}

/* proc:watch(): an iterator over the proc's transitions from now on. */
int lwait_watch(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    struct watch *w = lua_newuserdatauv(L, sizeof *w, 1);
    memset(w, 0, sizeof *w);
    w->pol = policy_of(L);
    w->p = p;
    w->head = w->tail = 1;
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    if (luaL_newmetatable(L, WATCH_MT)) {
        lua_pushcfunction(L, watch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &watches_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "v");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &watches_key);
    }
    lua_pushvalue(L, -2);
    lua_rawsetp(L, -2, w);
    lua_pop(L, 1);
    w->sub = proc_subscribe(p, watch_cb, w);
    lua_pushcclosure(L, watch_next, 1);
    return 1;
}
