/* lproc.c -- proc handles in Lua: their methods, the hooks that follow
 * transitions, and the waits a coroutine makes on the core.
 *
 * A wait registers a `struct waiter` (a subscriber or a timer) and yields;
 * the core's event resumes the coroutine with the answer.  Nothing polls.
 * Every Lua API call made from a core callback runs inside lua_pcall, so a
 * memory error in the VM never reaches the supervisor. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "policy/lbind.h"
#include "base/log.h"
#include "policy/lvm.h"
#include "base/restart.h"
#include "core/exec.h"
#include "core/manager.h"
#include "core/usage.h"
#include "base/util.h"

static const char procobjs_key = 'o';  /* proc pointer or decl+1 -> handle */
static const char hooks_key = 'h';     /* state -> list of global hooks */

/* ---- status tables ---- */

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static void lv_str(void *ud, const char *key, const char *v)
{
    set_str(ud, key, v);
}

static void lv_int(void *ud, const char *key, long long v)
{
    set_int(ud, key, (lua_Integer)v);
}

static void lv_bool(void *ud, const char *key, bool v)
{
    lua_pushboolean(ud, v);
    lua_setfield(ud, -2, key);
}

static void lv_num(void *ud, const char *key, double v)
{
    set_num(ud, key, v);
}

static void lv_strv(void *ud, const char *key, char *const *v)
{
    lua_State *L = ud;
    lua_newtable(L);
    for (lua_Integer i = 0; v[i]; i++) {
        lua_pushstring(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, key);
}

/* The status as a table: what status_visit says, times as tend.now()
 * seconds. */
void lstatus_push(lua_State *L, const struct status *st, const char *name)
{
    static const struct status_visitor to_lua = {lv_str, lv_int, lv_bool, lv_num, lv_num,
                                                 lv_strv};
    lua_createtable(L, 0, 12);
    status_visit(st, name, &to_lua, L);
}

/* ---- handles ---- */

static void push_procobjs(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &procobjs_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &procobjs_key);
    }
}

static struct lproc *new_handle(lua_State *L, const char *name)
{
    struct lproc *h = lua_newuserdatauv(L, sizeof *h, UV_COUNT);
    h->p = NULL;
    h->decl = 0;
    lua_pushstring(L, name);
    lua_setiuservalue(L, -2, UV_NAME);
    luaL_setmetatable(L, PROC_MT);
    return h;
}

void lproc_push_decl(lua_State *L, size_t decl, const char *name)
{
    struct lproc *h = new_handle(L, name);
    h->decl = decl;
    push_procobjs(L);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)decl + 1);
    lua_pop(L, 1);
}

void lproc_push(lua_State *L, struct proc *p)
{
    push_procobjs(L);
    if (lua_rawgetp(L, -1, p) == LUA_TUSERDATA) {
        lua_remove(L, -2);
        return;
    }
    lua_pop(L, 1);
    struct lproc *h = new_handle(L, proc_spec(p)->name);
    h->p = p;
    lua_pushvalue(L, -1);
    lua_rawsetp(L, -3, p);
    lua_remove(L, -2);
}

void lproc_attach(struct policy *pol, size_t decl, struct proc *p)
{
    lua_State *L = pol->L;
    push_procobjs(L);
    if (lua_rawgeti(L, -1, (lua_Integer)decl + 1) == LUA_TUSERDATA) {
        struct lproc *h = lua_touserdata(L, -1);
        h->p = p;
        lua_rawsetp(L, -2, p);
        lua_pushnil(L);
        lua_rawseti(L, -2, (lua_Integer)decl + 1);
    } else {
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

struct proc *lproc_check(lua_State *L, int idx)
{
    struct lproc *h = luaL_checkudata(L, idx, PROC_MT);
    if (!h->p) {
        lua_getiuservalue(L, idx, UV_NAME);
        if (policy_of(L)->m)
            luaL_error(L, "proc '%s' has been removed", lua_tostring(L, -1));
        luaL_error(L, "proc '%s': its methods work once the policy file has loaded "
                   "(in a hook or a tend.task)", lua_tostring(L, -1));
    }
    return h->p;
}

/* ---- waits ---- */

enum wait_kind {
    W_SLEEP,
    W_TERMINAL, /* -> status */
    W_READY,    /* -> true | nil, status */
    W_START,    /* ready or terminal -> status */
    W_RESTART,  /* terminal, then start: -> status */
    W_CHANGED,  /* next transition -> status */
    W_EXEC,     /* tend.exec -> exit_code, stdout, stderr | nil, status */
};

struct waiter {
    struct policy *pol;
    lua_State *co;
    enum wait_kind kind;
    struct proc *p;
    struct proc_sub *sub;
    ev_timer timer;
    struct exec_job *job;
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

/* Cancel the waits of one coroutine. */
static void cancel_waits_of(struct policy *pol, lua_State *co)
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
static void waiter_finish(struct waiter *w, const struct status *st, bool ok,
                          const struct exec_result *exec)
{
    struct policy *pol = w->pol;
    waiter_unlink(w);
    struct answer a = {w, st, ok, exec};
    lua_State *L = pol->L;
    lua_pushcfunction(L, resume_protected);
    lua_pushlightuserdata(L, &a);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        log_error(w->p ? proc_spec(w->p)->name : NULL, "resuming a wait: %s",
                  lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    free(w);
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
        if (terminal) {
            w->kind = W_START;
            if (!manager_start_now(w->pol->m, p))
                waiter_finish(w, now, true, NULL);  /* shutting down: stays down */
        }
        break;
    case W_SLEEP:
    case W_EXEC:
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

/* Wait on p for `kind` (yields). */
static int wait_proc(lua_State *L, struct proc *p, enum wait_kind kind, const char *what)
{
    lvm_check_yieldable(L, what);
    struct waiter *w = waiter_new(policy_of(L), L, kind);
    w->p = p;
    w->sub = proc_subscribe(p, waiter_cb, w);
    return lvm_yield(L);
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
    lua_State *L = w->pol->L;
    lua_pushcfunction(L, watch_push_protected);
    lua_pushlightuserdata(L, &t);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        log_error(proc_spec(p)->name, "proc:watch(): %s", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
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

static int m_watch(lua_State *L)
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

/* ---- methods ---- */

static int m_status(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    lstatus_push(L, proc_status(p), proc_spec(p)->name);
    return 1;
}

static int m_pid(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    if (proc_alive(p) && proc_status(p)->pid > 0)
        lua_pushinteger(L, proc_status(p)->pid);
    else
        lua_pushnil(L);
    return 1;
}

static int m_ready(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    if (proc_status(p)->state == ST_READY) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (status_is_terminal(proc_status(p)->state)) {
        lua_pushnil(L);
        lstatus_push(L, proc_status(p), proc_spec(p)->name);
        return 2;
    }
    return wait_proc(L, p, W_READY, "proc:ready()");
}

static int m_wait(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    if (status_is_terminal(proc_status(p)->state)) {
        lstatus_push(L, proc_status(p), proc_spec(p)->name);
        return 1;
    }
    return wait_proc(L, p, W_TERMINAL, "proc:wait()");
}

static int m_changed(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    return wait_proc(L, p, W_CHANGED, "proc:changed()");
}

static int already_terminated(lua_State *L)
{
    lua_pushnil(L);
    lua_pushliteral(L, "already terminated");
    return 2;
}

static int m_terminate(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    double timeout = luaL_optnumber(L, 2, -1);
    if (lua_gettop(L) >= 2 && !lua_isnil(L, 2) && timeout < 0)
        return luaL_argerror(L, 2, "a timeout >= 0 expected");
    lvm_check_yieldable(L, "proc:terminate()");
    if (proc_terminate(p, timeout, CAUSE_TERMINATE) != 0)
        return already_terminated(L);
    return wait_proc(L, p, W_TERMINAL, "proc:terminate()");
}

static int m_kill(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    lvm_check_yieldable(L, "proc:kill()");
    if (proc_kill(p, CAUSE_KILL) != 0)
        return already_terminated(L);
    return wait_proc(L, p, W_TERMINAL, "proc:kill()");
}

static int m_signal(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    lua_pushvalue(L, 2);
    const char *name = lua_tostring(L, -1);
    int sig = name ? signal_from_name(name) : -1;
    if (sig <= 0)
        return luaL_argerror(L, 2, "a signal name such as \"HUP\" expected");
    if (proc_signal(p, sig) != 0) {
        int e = errno;
        lua_pushnil(L);
        lua_pushstring(L, e == ESRCH ? "not running" : strerror(e));
        lua_pushinteger(L, e);
        return 3;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int m_stop(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    lvm_check_yieldable(L, "proc:stop()");
    manager_stop(policy_of(L)->m, p, -1, CAUSE_STOP);
    if (!proc_alive(p)) {
        lstatus_push(L, proc_status(p), proc_spec(p)->name);
        return 1;
    }
    return wait_proc(L, p, W_TERMINAL, "proc:stop()");
}

static int m_start(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    lvm_check_yieldable(L, "proc:start()");
    if (manager_shutting_down(policy_of(L)->m))
        return luaL_error(L, "proc '%s': cannot start during a shutdown", proc_spec(p)->name);
    if (proc_alive(p) && proc_status(p)->state != ST_STOPPING) {
        /* running already: nothing to do but wait for ready */
        if (proc_status(p)->state == ST_READY) {
            lstatus_push(L, proc_status(p), proc_spec(p)->name);
            return 1;
        }
        return wait_proc(L, p, W_START, "proc:start()");
    }
    if (proc_status(p)->state == ST_STOPPING) {
        manager_stop(policy_of(L)->m, p, -1, CAUSE_RESTART);
        return wait_proc(L, p, W_RESTART, "proc:start()");
    }
    manager_start_now(policy_of(L)->m, p);
    if (proc_status(p)->state == ST_READY || status_is_terminal(proc_status(p)->state)) {
        lstatus_push(L, proc_status(p), proc_spec(p)->name);
        return 1;
    }
    return wait_proc(L, p, W_START, "proc:start()");
}

static int m_restart(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    lvm_check_yieldable(L, "proc:restart()");
    if (!proc_alive(p))
        return m_start(L);
    manager_stop(policy_of(L)->m, p, -1, CAUSE_RESTART);
    return wait_proc(L, p, W_RESTART, "proc:restart()");
}

static int m_tail(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    int stream = 1;
    int arg = 2;
    if (lua_type(L, arg) == LUA_TSTRING) {
        const char *s = lua_tostring(L, arg);
        if (strcmp(s, "stdout") == 0)
            stream = 0;
        else if (strcmp(s, "stderr") != 0)
            return luaL_argerror(L, arg, "\"stdout\" or \"stderr\" expected");
        arg++;
    } else if (lua_isnil(L, arg) && !lua_isnone(L, arg + 1)) {
        arg++;  /* tail(nil, n): the default stream */
    }
    lua_Integer lines = luaL_optinteger(L, arg, 20);
    if (lines < 0)
        return luaL_argerror(L, arg, "a number of lines >= 0 expected");
    char *t = proc_tail(p, stream, (size_t)lines, false);
    lua_pushstring(L, t);
    free(t);
    return 1;
}

/* ---- hooks ---- */

static bool valid_hook_state(const char *s)
{
    int st = status_state_parse(s);
    return (st >= 0 && st != ST_PENDING) || strcmp(s, "*") == 0 ||
           strcmp(s, "gave_up") == 0;
}

/* Append the function at idx to list t[key] of the table at tidx. */
static void add_hook(lua_State *L, int tidx, const char *key, int fidx)
{
    tidx = lua_absindex(L, tidx);
    fidx = lua_absindex(L, fidx);
    if (lua_getfield(L, tidx, key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, tidx, key);
    }
    lua_pushvalue(L, fidx);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
    policy_of(L)->nhooks++;
}

static const char *check_hook_args(lua_State *L, int sidx)
{
    const char *state = luaL_checkstring(L, sidx);
    if (!valid_hook_state(state))
        luaL_argerror(L, sidx, lua_pushfstring(L, "'%s' is not a state, \"*\" or \"gave_up\"", state));
    luaL_checktype(L, sidx + 1, LUA_TFUNCTION);
    return state;
}

int lproc_on_global(lua_State *L)
{
    const char *state = check_hook_args(L, 1);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &hooks_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &hooks_key);
    }
    add_hook(L, -1, state, 2);
    return 0;
}

static int m_on(lua_State *L)
{
    luaL_checkudata(L, 1, PROC_MT);
    const char *state = check_hook_args(L, 2);
    if (lua_getiuservalue(L, 1, UV_HOOKS) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, 1, UV_HOOKS);
    }
    add_hook(L, -1, state, 3);
    lua_settop(L, 1);
    return 1;
}

struct transition {
    struct proc *p;
    const struct status *now, *prev;
};

/* Start each hook of list t[key] (t at tidx) with `nargs` arguments found
 * at args..args+nargs-1. */
static void run_hooks(struct policy *pol, int tidx, const char *key, int args,
                      int nargs, const char *who)
{
    lua_State *L = pol->L;
    if (lua_type(L, tidx) != LUA_TTABLE)
        return;
    if (lua_getfield(L, tidx, key) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    int list = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        for (int a = 0; a < nargs; a++)
            lua_pushvalue(L, args + a);
        lvm_start(pol->vm, nargs, who, false);
    }
    lua_pop(L, 1);
}

static int hooks_protected(lua_State *L)
{
    struct transition *t = lua_touserdata(L, 1);
    struct policy *pol = policy_of(L);
    const char *who = proc_spec(t->p)->name;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &hooks_key);  /* 2: global hooks */
    lproc_push(L, t->p);                            /* 3 */
    lua_getiuservalue(L, 3, UV_HOOKS);              /* 4: the proc's hooks */
    lproc_push(L, t->p);                            /* 5: arguments */
    lstatus_push(L, t->now, who);                   /* 6 */
    lstatus_push(L, t->prev, who);                  /* 7 */
    const char *state = status_state_name(t->now->state);
    run_hooks(pol, 2, state, 5, 3, who);
    run_hooks(pol, 2, "*", 5, 3, who);
    run_hooks(pol, 4, state, 5, 3, who);
    run_hooks(pol, 4, "*", 5, 3, who);
    if (status_is_terminal(t->now->state) && t->now->gave_up) {
        run_hooks(pol, 2, "gave_up", 5, 2, who);
        run_hooks(pol, 4, "gave_up", 5, 2, who);
    }
    return 0;
}

static void hook_cb(struct proc *p, const struct status *now,
                    const struct status *prev, void *data)
{
    struct policy *pol = data;
    if (pol->nhooks == 0)
        return;
    struct transition t = {p, now, prev};
    lua_State *L = pol->L;
    lua_pushcfunction(L, hooks_protected);
    lua_pushlightuserdata(L, &t);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        log_error(proc_spec(p)->name, "running hooks: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

void lproc_follow(struct policy *pol, struct proc *p)
{
    if (pol->nfollows == pol->capfollows) {
        pol->capfollows = pol->capfollows ? pol->capfollows * 2 : 16;
        pol->follows = xrealloc(pol->follows, pol->capfollows * sizeof *pol->follows);
    }
    pol->follows[pol->nfollows].p = p;
    pol->follows[pol->nfollows].sub = proc_subscribe(p, hook_cb, pol);
    pol->nfollows++;
}

void lproc_unfollow_all(struct policy *pol)
{
    for (size_t i = 0; i < pol->nfollows; i++)
        proc_unsubscribe(pol->follows[i].p, pol->follows[i].sub);
    pol->nfollows = 0;
}

/* ---- restart decisions ---- */

void lproc_set_policy(lua_State *L, int decl)
{
    decl = lua_absindex(L, decl);
    int h = lua_gettop(L);
    if (lua_getfield(L, decl, "restart") == LUA_TFUNCTION)
        lua_setiuservalue(L, h, UV_RESTART);
    lua_settop(L, h);
    /* the functions of readiness and health checks */
    if (lua_getfield(L, decl, "ready") == LUA_TFUNCTION)
        lua_setiuservalue(L, h, UV_READY);
    lua_settop(L, h);
    if (lua_getfield(L, decl, "health") == LUA_TTABLE &&
        lua_getfield(L, -1, "check") == LUA_TFUNCTION)
        lua_setiuservalue(L, h, UV_HEALTH);
    lua_settop(L, h);
}

/* ---- checks the core cannot run: log patterns and functions ---- */

static const char runner_key = 'r';  /* registry: the check runner */

/* report(proc, purpose, gen, ok, why): a function check's answer. */
static int check_report(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    int purpose = (int)luaL_checkinteger(L, 2);
    unsigned gen = (unsigned)luaL_checkinteger(L, 3);
    bool ok = lua_toboolean(L, 4);
    const char *why = luaL_optstring(L, 5, NULL);
    if (!ok && !why)
        why = purpose == CHECK_READY ? "the readiness function returned false"
                                     : "the health function returned false";
    proc_check_done(p, purpose == CHECK_READY ? CHECK_READY : CHECK_HEALTH, gen, ok, why);
    return 0;
}

/* Runs fn(proc) in the hook's coroutine and reports; pcall keeps an error
 * from leaving the check unanswered (the budget still stops it). */
static const char runner_src[] =
    "local report = ...\n"
    "return function(fn, proc, purpose, gen)\n"
    "  local ok, res, why = pcall(fn, proc)\n"
    "  if not ok then return report(proc, purpose, gen, false, tostring(res)) end\n"
    "  report(proc, purpose, gen, res and true or false, why ~= nil and tostring(why) or nil)\n"
    "end\n";

static void push_runner(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &runner_key) == LUA_TFUNCTION)
        return;
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, runner_src, sizeof runner_src - 1, "=tend.check") != LUA_OK)
        lua_error(L);
    lua_pushcfunction(L, check_report);
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &runner_key);
}

struct check_call {
    struct proc *p;
    enum check_purpose purpose;
    unsigned gen;
};

static const char checkcos_key = 'k';  /* registry: (proc, purpose) -> its check coroutine */

static int run_check_protected(lua_State *L)
{
    struct check_call *cc = lua_touserdata(L, 1);
    struct policy *pol = policy_of(L);
    /* a check of this proc and purpose still waiting is past its time (a
     * health timeout, a new incarnation): end it, or such checks pile up */
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &checkcos_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &checkcos_key);
    }
    int cos = lua_gettop(L);
    void *key = (char *)cc->p + cc->purpose;
    if (lua_rawgetp(L, cos, key) == LUA_TTHREAD) {
        lua_State *old = lua_tothread(L, -1);
        if (lvm_running(pol->vm, old)) {
            cancel_waits_of(pol, old);
            lvm_end(pol->vm, old);
        }
    }
    lua_pop(L, 1);
    push_runner(L);
    lproc_push(L, cc->p);
    lua_getiuservalue(L, -1, cc->purpose == CHECK_READY ? UV_READY : UV_HEALTH);
    lua_insert(L, -2);  /* runner, fn, proc */
    lua_pushinteger(L, cc->purpose);
    lua_pushinteger(L, cc->gen);
    lua_State *co = lvm_start(pol->vm, 4, proc_spec(cc->p)->name, false);
    if (co) {
        lua_pushthread(co);
        lua_xmove(co, L, 1);
    } else {
        lua_pushnil(L);
    }
    lua_rawsetp(L, cos, key);
    return 0;
}

void lproc_run_check(struct proc *p, enum check_purpose purpose, unsigned gen, void *data)
{
    struct policy *pol = data;
    struct check_call cc = {p, purpose, gen};
    lua_State *L = pol->L;
    lua_pushcfunction(L, run_check_protected);
    lua_pushlightuserdata(L, &cc);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        log_error(proc_spec(p)->name, "starting a check: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

struct decision {
    struct proc *p;
    struct status *st;
    double delay;
};

/* Run the restart function (stack: fn, proc, status) in a coroutine that
 * may not wait.  True with d->delay set when it answered. */
static bool call_restart_function(lua_State *L, struct policy *pol, struct decision *d)
{
    lua_State *co = lua_newthread(L);
    lua_insert(L, -4);
    lua_xmove(L, co, 3);
    int nres;
    lvm_arm(pol->vm, co);
    int rc = lua_resume(co, L, 2, &nres);
    lvm_disarm(pol->vm, co);
    bool answered = false;
    const char *name = proc_spec(d->p)->name;
    if (rc == LUA_YIELD) {
        log_error(name, "restart function: it may not wait; deciding as \"on-failure\"");
    } else if (rc != LUA_OK) {
        char *tb = lvm_traceback(co, L);
        log_error(name, "restart function: %s; deciding as \"on-failure\"", tb);
        free(tb);
    } else if (nres >= 1 && lua_type(co, -nres) == LUA_TNUMBER) {
        double v = lua_tonumber(co, -nres);
        d->delay = v >= 0 ? v : 0;
        answered = true;
    } else if (nres == 0 || !lua_toboolean(co, -nres)) {
        d->delay = -1;
        answered = true;
    } else {
        log_error(name, "restart function returned a %s, not seconds or false; "
                  "deciding as \"on-failure\"", luaL_typename(co, -nres));
    }
    lua_resetthread(co);
    lua_pop(L, 1);  /* the thread */
    return answered;
}

/* Ask the restart function (stack: nothing) what follows d->st. */
static int decide_protected(lua_State *L)
{
    struct decision *d = lua_touserdata(L, 1);
    struct policy *pol = policy_of(L);
    lproc_push(L, d->p);  /* 2 */
    lua_getiuservalue(L, 2, UV_RESTART);
    lproc_push(L, d->p);
    lstatus_push(L, d->st, proc_spec(d->p)->name);
    if (!call_restart_function(L, pol, d))
        d->delay = NAN;  /* it raised: decided as "on-failure" */
    return 0;
}

/* The restart decision (restart.c); a restart function is asked first,
 * in Lua.  The counters are the proc's: a reload that keeps the
 * declaration keeps them. */
double lproc_decide(struct proc *p, struct status *st, void *data)
{
    struct policy *pol = data;
    double answer = NAN;
    if (proc_spec(p)->restart.mode == RESTART_FUNCTION) {
        struct decision d = {p, st, -1};
        lua_State *L = pol->L;
        lua_pushcfunction(L, decide_protected);
        lua_pushlightuserdata(L, &d);
        lvm_arm(pol->vm, L);
        int rc = lua_pcall(L, 1, 0, 0);
        lvm_disarm(pol->vm, L);
        if (rc != LUA_OK) {
            log_error(proc_spec(p)->name, "restart function: %s; deciding as \"on-failure\"",
                      lua_tostring(L, -1));
            lua_pop(L, 1);
        } else {
            answer = d.delay;
        }
    }
    char why[96];
    double delay = restart_decide(&proc_spec(p)->restart, proc_restart_state(p), st, now_mono(),
                                  (double)random() / RAND_MAX * 2 - 1, answer, why, sizeof why);
    if (delay < 0 && why[0])
        st->gave_up = xstrdup(why);
    return delay;
}

/* ---- the metatable ---- */

static int proc_index(lua_State *L)
{
    luaL_checkudata(L, 1, PROC_MT);
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "name") == 0) {
        lua_getiuservalue(L, 1, UV_NAME);
        return 1;
    }
    luaL_getmetafield(L, 1, "__methods");
    if (lua_getfield(L, -1, key) != LUA_TNIL)
        return 1;
    return luaL_error(L, "proc: no field or method '%s'", key);
}

static int proc_tostring(lua_State *L)
{
    luaL_checkudata(L, 1, PROC_MT);
    lua_getiuservalue(L, 1, UV_NAME);
    lua_pushfstring(L, "tend.proc(%s)", lua_tostring(L, -1));
    return 1;
}

/* proc:usage(): { cpu = seconds, memory = bytes } of the live incarnation's
 * process group (SPEC 10), read from /proc now; nil when none is alive. */
static int m_usage(lua_State *L)
{
    struct proc *p = lproc_check(L, 1);
    const struct status *st = proc_status(p);
    struct usage_scan scan;
    double cpu;
    long long rss;
    if (!proc_alive(p) || st->pid <= 0 || usage_scan(&scan, NULL) != 0) {
        lua_pushnil(L);
        return 1;
    }
    bool found = usage_of(&scan, st->pid, &cpu, &rss);
    usage_free(&scan);
    if (!found) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 2);
    set_num(L, "cpu", cpu);
    set_int(L, "memory", (lua_Integer)rss);
    return 1;
}

static const luaL_Reg proc_methods[] = {
    {"status", m_status},   {"pid", m_pid},         {"ready", m_ready},
    {"wait", m_wait},       {"changed", m_changed}, {"terminate", m_terminate},
    {"kill", m_kill},       {"signal", m_signal},   {"stop", m_stop},
    {"start", m_start},     {"restart", m_restart}, {"tail", m_tail},
    {"usage", m_usage},
    {"on", m_on},           {"watch", m_watch},     {NULL, NULL},
};

static const luaL_Reg proc_meta[] = {
    {"__index", proc_index},
    {"__tostring", proc_tostring},
    {NULL, NULL},
};

void lproc_open(lua_State *L)
{
    luaL_newmetatable(L, PROC_MT);
    luaL_setfuncs(L, proc_meta, 0);
    luaL_newlib(L, proc_methods);
    lua_setfield(L, -2, "__methods");
    lua_pop(L, 1);
}
