/* lvm.h -- the one door into Lua.
 *
 * Every piece of policy code (the file itself, a hook, a task, a restart
 * function) runs through here: in its own coroutine, with an instruction
 * budget per resume that a script's own pcall cannot swallow, in a VM whose
 * allocator has a cap.  An error is logged with its traceback and the name
 * of the proc it ran for; the stack is restored and the supervisor carries
 * on. */
#ifndef TEND_LVM_H
#define TEND_LVM_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

/* A VM and what tend keeps of it.  lvm.c knows nothing above it: the
 * policy owns one, and tells it whom to tell when its tasks change. */
struct lvm {
    lua_State *L;
    size_t mem_used, mem_cap;  /* bytes the VM holds, and may hold */
    long budget;               /* VM instructions per run */
    long budget_left;          /* of the current run */
    int armed;                 /* runs nested now (0: no Lua runs) */
    const char *running_for;   /* the proc the outermost run is for, or NULL */
    int tasks;                 /* task coroutines not yet ended */
    bool yield_ok;             /* the running coroutine yields for a wait of tend's */
    /* called when `tasks` goes from 0 to 1 and back */
    void (*tasks_changed)(void *ud, int pending);
    void *tasks_ud;
};

#define LVM_MEM_CAP_DEFAULT (256u * 1024 * 1024)
#define LVM_BUDGET_DEFAULT 10000000

/* The exit code of tend when the watchdog ends it. */
#define LVM_WATCHDOG_EXIT 70
#define LVM_WATCHDOG_DEFAULT 10.0

/* Install the loop watchdog (lvm.c): a run of policy code that has not
 * come back after `seconds` ends tend, every proc killed.  0: off. */
void lvm_watchdog_start(double seconds);

/* A new VM, its allocations counted against mem_cap (the defaults
 * below); NULL when Lua cannot make a state. */
struct lvm *lvm_new(void);
/* The VM a state (or any of its threads) belongs to. */
struct lvm *lvm_of(lua_State *L);
/* Close the state and free the VM. */
void lvm_free(struct lvm *vm);

/* Instructions between two looks at the budget (the hook's count). */
#define LVM_QUANTUM 1000

/* Arm the instruction budget on `co` for one run.  Arms nest: the budget
 * is filled by the outermost arm only, so code that runs nested (a task
 * started by a task, a hook fired by a call of a hook) spends the budget of
 * the run it nests in.  Every arm is paired with a disarm in C, never
 * skipped by an error. */
void lvm_arm(struct lvm *vm, lua_State *co);
void lvm_disarm(struct lvm *vm, lua_State *co);

/* Charge `units` of work done in C for the running code (pattern
 * matching, a new coroutine) to its budget; raises once it is spent.
 * Nothing outside an armed run, or in a state without a policy. */
void lvm_charge(lua_State *L, long units);

/* Run the function at the top of the main state's stack, below its `nargs`
 * arguments, in a new coroutine on behalf of proc `who` (NULL: the policy).
 * A task counts as pending until it ends (SPEC 2: tend waits for it). */
lua_State *lvm_start(struct lvm *vm, int nargs, const char *who, bool task);
/* lvm_start returns the coroutine if it is waiting (NULL once it ended). */
/* The same, started from the running thread `from` (a task starting a
 * task), so that nesting counts against Lua's C-stack limit. */
lua_State *lvm_start_from(struct lvm *vm, lua_State *from, int nargs, const char *who,
                          bool task);

/* Whether `co` (started by lvm_start) has not ended yet. */
bool lvm_running(struct lvm *vm, lua_State *co);
/* End a waiting coroutine now, unresumed (its waits must be cancelled
 * first). */
void lvm_end(struct lvm *vm, lua_State *co);

/* Resume `co`, which yielded waiting for something, with `nargs` values
 * already pushed on its stack. */
void lvm_resume(struct lvm *vm, lua_State *co, int nargs);

/* Yield from a C function that registered what the coroutine waits for
 * (use as `return lvm_yield(L)`); any other yield is an error. */
int lvm_yield(lua_State *L);
/* The same, and once resumed the C function goes on in k (lua_yieldk). */
int lvm_yieldk(lua_State *L, lua_KContext ctx, lua_KFunction k);

/* Raise an error unless the running code may wait (it runs in a coroutine
 * that tend resumes). */
/* Whether L is a coroutine tend runs, which may wait (yield for the core). */
bool lvm_can_wait(lua_State *L);
void lvm_check_yieldable(lua_State *L, const char *what);

/* The traceback of an error object on co's stack top, as a new string. */
char *lvm_traceback(lua_State *co, lua_State *L);

/* Run fn(ud) (ud as a light userdata, its one argument) in a protected
 * call on L: how a callback of the core enters Lua, so that an error, even
 * out of memory, never reaches the supervisor.  An error is logged as
 * "WHAT: message" for proc `who` (NULL: tend's own); false then. */
bool lvm_protected(lua_State *L, lua_CFunction fn, void *ud, const char *who,
                   const char *what);

#endif
