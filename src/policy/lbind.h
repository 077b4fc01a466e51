/* lbind.h -- what the Lua binding's files share: lstatus.c (status
 * tables), lproc.c (proc handles and their methods), lwait.c (waits),
 * lhook.c (hooks), lcheck.c (check functions), ldecide.c (the restart
 * decision), used by ltend.c (the `tend` module) and policy.c. */
#ifndef TEND_LBIND_H
#define TEND_LBIND_H

#include <ev.h>
#include <lua.h>
#include <stdbool.h>

#include "policy/policy.h"
#include "core/proc.h"

#define PROC_MT "tend.Proc"
#define SET_MT "tend.Set"

/* uservalue slots of a proc handle */
enum {
    UV_NAME = 1,     /* the name */
    UV_RESTART = 2,  /* a restart function */
    UV_HOOKS = 3,    /* state -> list of the proc's hooks */
    UV_READY = 4,    /* a readiness function */
    UV_HEALTH = 5,   /* a health-check function */
    UV_COUNT = 5
};

/* A Lua handle on a proc.  Lua never holds a raw pointer it could outlive:
 * `p` is cleared when the proc goes, and methods then raise. */
struct lproc {
    struct proc *p;  /* NULL while the policy loads, and once removed */
    size_t decl;     /* declaration index while loading */
};

/* Push the handle of `p` (the same userdata every time). */
void lproc_push(lua_State *L, struct proc *p);
/* Push a new handle for declaration `decl` (during load). */
void lproc_push_decl(lua_State *L, size_t decl, const char *name);
/* Push the handle of declaration `decl` (during load), or nil. */
void lproc_push_declared(lua_State *L, size_t decl);
/* `p` is about to be freed (a scale or reload removed it): its handle
 * says "removed" from now on. */
void lproc_forget(struct policy *pol, struct proc *p);
/* The proc of the handle at `idx`; raises when it is gone or not yet
 * running. */
struct proc *lproc_check(lua_State *L, int idx);

/* Register the Proc metatable. */
void lproc_open(lua_State *L);

/* Give the handle at the top of the stack the restart function and the
 * readiness and health functions of the declaration table at index
 * `decl`. */
void lproc_set_policy(lua_State *L, int decl);

/* From load to life: give each declaration's handle its proc. */
void lproc_attach(struct policy *pol, size_t decl, struct proc *p);

/* ---- lset.c: the set of replicas a declaration with `replicas` makes ---- */

/* Register the Set metatable. */
void lset_open(lua_State *L);
/* Push a new set object for set `name`, whose declaration table is at
 * index `decl`, and remember it for tend.get. */
void lset_new(lua_State *L, const char *name, int decl);
/* Push the set object named `name` and return true, or push nothing and
 * return false. */
bool lset_push(lua_State *L, const char *name);
/* Give replica `p` (registered after load) its handle, with the functions
 * of its set's declaration, and follow it for the hooks. */
void lset_bind(lua_State *L, struct policy *pol, struct proc *p);

/* ---- lstatus.c ---- */

/* Push a status table (SPEC 1). */
void lstatus_push(lua_State *L, const struct status *st, const char *name);

/* ---- lwait.c ---- */

enum wait_kind {
    W_SLEEP,
    W_TERMINAL, /* -> status */
    W_READY,    /* -> true | nil, status */
    W_START,    /* ready or terminal -> status */
    W_RESTART,  /* terminal, then start: -> status */
    W_CHANGED,  /* next transition -> status */
    W_EXEC,     /* tend.exec -> exit_code, stdout, stderr | nil, status */
    W_USER,     /* tend.spawn's user looked up -> nil | the load error */
};

/* Wait on p for `kind` (yields); `what` names the method in errors. */
int lwait_proc(lua_State *L, struct proc *p, enum wait_kind kind, const char *what);
/* The same, going on in k once resumed (lua_yieldk). */
int lwait_proc_k(lua_State *L, struct proc *p, enum wait_kind kind, const char *what,
                 lua_KContext ctx, lua_KFunction k);
/* `p` is about to be freed: every wait on it ends now, with its status;
 * a proc:watch() loop over it ends. */
void lwait_forget(struct policy *pol, struct proc *p);
/* Wait `seconds` (yields). */
int lwait_sleep(lua_State *L, double seconds);
/* Start argv for the running coroutine, which must yield next; the answer
 * resumes it (see tend.exec).  The arguments are copied. */
void lwait_exec(lua_State *L, char **argv, char **env, const char *cwd, double timeout);
/* tend.spawn of `s`, whose user is new to this run: ask the name service
 * on a thread (users.h) and yield; once it answered, `s` has its user and
 * the coroutine goes on in k with nil, or with the load error (a string)
 * on top of its stack.  `s` stays the caller's (in its box). */
int lwait_user_k(lua_State *L, struct spec *s, lua_KContext ctx, lua_KFunction k);
/* proc:watch(). */
int lwait_watch(lua_State *L);
/* Cancel the waits of one coroutine (it is being ended). */
void lwait_cancel_of(struct policy *pol, lua_State *co);
/* Cancel every wait (the VM is closing). */
void lwait_cancel_all(struct policy *pol);

/* ---- lhook.c ---- */

/* tend.on(state, fn): register a global hook. */
int lhook_on_global(lua_State *L);
/* proc:on(state, fn). */
int lhook_on(lua_State *L);
/* Follow `p`'s transitions for the policy's hooks. */
void lhook_follow(struct policy *pol, struct proc *p);
/* Stop following `p` (it is about to be freed). */
void lhook_unfollow(struct policy *pol, struct proc *p);
/* Drop every hook subscription of the policy (its VM is going). */
void lhook_unfollow_all(struct policy *pol);

/* ---- lcheck.c, ldecide.c ---- */

/* Runs readiness and health functions, for manager_set_checker. */
void lcheck_run(struct proc *p, enum check_purpose purpose, unsigned gen, void *data);

/* The restart decider, for manager_set_decider. */
double ldecide_restart(struct proc *p, struct status *st, void *data);

#endif
