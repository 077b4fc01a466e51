/* policy.h -- a policy file: its Lua VM and the procs it declares.
 *
 * Loading runs the file once in a fresh VM with the `tend` module; every
 * `tend.proc{...}` call is checked as it is made, and once the whole file
 * has run the `after` names and cycles are checked.  Nothing is spawned
 * unless all of it is right (SPEC 8). */
#ifndef TEND_POLICY_H
#define TEND_POLICY_H

#include <stddef.h>

#include "core/spec.h"

#include <ev.h>
#include <stdbool.h>

#include "core/proc.h"
#include "base/strmap.h"

struct lua_State;
struct manager;
struct waiter;

/* What a reload did to the running set. */
struct reload_counts {
    size_t added, changed, removed, unchanged;
};

struct policy {
    struct lua_State *L;
    char *path;          /* as given */
    char *dir;           /* absolute directory of the file */
    struct spec **specs; /* declarations in order; owned until taken */
    size_t n, cap;
    struct strmap names; /* name -> position in specs + 1 */
    struct strmap sets;  /* name -> struct pset: the declarations with replicas */

    struct lvm *vm;            /* the VM (vm->L is L), its budget, cap and tasks */
    int nhooks;                /* hooks registered (none: no work per transition) */
    struct reload_counts reloaded;  /* by the last reload */
    bool defer_users;          /* loading for a reload: see ldecl_user_pending */
    struct policy *next;       /* a reload waiting for its users, and */
    struct users_job *users;   /* their look-up */

    /* set by policy_attach: from then on the policy runs */
    struct manager *m;
    struct ev_loop *loop;
    struct waiter *waiters;    /* coroutines waiting on the core */
    struct follow {            /* the hook subscriptions of this VM */
        struct proc *p;
        struct proc_sub *sub;
    } *follows;
    size_t nfollows, capfollows;
};

/* Load and check `path`.  On failure NULL, and *err receives a message that
 * names the file, the line where known, the proc and the field. */
struct policy *policy_load(const char *path, char **err);
void policy_free(struct policy *pol);

/* Hand the declared procs to `m` and start the policy's life: hooks are
 * subscribed, then the tasks queued during load run (after the procs were
 * started by manager_start, which the caller does in between: attach,
 * manager_start, policy_run_tasks). */
void policy_attach(struct policy *pol, struct manager *m, struct ev_loop *loop);
void policy_run_tasks(struct policy *pol);

/* Run the policy file again in a new VM (tend reload, SIGHUP): procs whose
 * declaration is unchanged keep running untouched, changed ones are
 * stopped and started again with the new declaration, removed ones are
 * stopped, new ones are started; the old VM's hooks and tasks end.  A file
 * that fails to load changes nothing: -1 and *err.  Done: 0 and what
 * changed in *err ("1 new, 2 changed, 0 removed, 3 unchanged").  When the
 * file names users this run has not looked up, they are looked up on a
 * thread first (users.h): 1, and the answer comes with manager_reloaded,
 * once they are known (or after USERS_TIMEOUT seconds of the name
 * service's silence). */
#define USERS_TIMEOUT 30.0
int policy_reload(struct policy *pol, char **err);
/* USERS_TIMEOUT, or $TEND_USERS_TIMEOUT (the tests'). */
double policy_users_timeout(void);

/* Queue the function at the top of L's stack to run as a task once the
 * policy is attached (tend.task during load). */
void policy_queue_task(struct lua_State *L, struct policy *pol);

/* The policy of a VM (for the binding). */
struct policy *policy_of(struct lua_State *L);

/* A declaration with `replicas` (SPEC 3): its template (named NAME, each
 * replica made from it by spec_replica) and how many replicas it has
 * now (their names are NAME@1 .. NAME@n). */
struct pset {
    struct spec *tmpl;
    int n;
    size_t first;  /* during load: the declaration index of NAME@1 */
};

/* Record a checked declaration (during load; the policy owns it).  One
 * with replicas is recorded as its set and one declaration a replica. */
void policy_declare(struct policy *pol, struct spec *s);
/* The set named `name`, or NULL. */
const struct pset *policy_set(const struct policy *pol, const char *name);
/* After load: make `tmpl` (taken over) a set of tmpl->replicas procs,
 * registered and launched; the caller binds each to Lua. */
void policy_add_set(struct policy *pol, struct spec *tmpl);
/* Change the number of replicas of set `name` to n: the highest-numbered
 * are removed (stopped, then gone), new ones are registered and launched.
 * L: the Lua state the call comes from, or NULL (then a protected call is
 * made) to give the new procs their handles.  0, or -1 with *err. */
int policy_scale(struct policy *pol, struct lua_State *L, const char *name, int n,
                 char **err);
/* The position of the declaration named `name`, or -1. */
long policy_find(const struct policy *pol, const char *name);

/* Check `after` references and cycles over all declarations; NULL when
 * right, else a new message. */
char *policy_check_graph(struct policy *pol);

#endif
