/* proc_impl.h -- the inside of a proc, for the proc's own files only
 * (proc.c, proc_spawn.c, proc_output.c, proc_end.c, ready.c) and their
 * unit tests.  Everyone else has proc.h: a handle and its functions. */
#ifndef TEND_PROC_IMPL_H
#define TEND_PROC_IMPL_H

#include "core/proc.h"

struct proc_sub {
    proc_sub_fn *fn;
    void *data;
    uint64_t from;  /* first event this subscriber sees */
    bool dead;
    bool own_data;  /* data is freed with the subscription */
    struct proc_sub *next;
};

struct proc_listener {
    proc_line_fn *fn;
    void *data;
    bool dead;
    bool own_data;  /* data is freed with the listener */
    struct proc_listener *next;
};

/* Readiness, watchdog and health of the current incarnation (ready.c). */
struct proc_ready {
    int fd;                 /* CHECK_FD: the read end, or -1 */
    ev_io fd_w;
    int notify_fd;          /* CHECK_NOTIFY: the proc's socket, or -1 */
    ev_io notify_w;
    char *notify_name;      /* its abstract address, without the NUL */
    ev_timer retry;         /* tcp, exec: the next attempt */
    struct check_attempt *attempt;
    ev_timer timeout;       /* ready_timeout */
    ev_timer watchdog;
    bool early;             /* reported before `running`: applied then */
    unsigned gen[2];        /* per purpose: answers of older checks are stale */
    ev_timer health_timer;  /* the next health check, then its timeout */
    struct check_attempt *health_attempt;
    bool health_running;
    int health_fails;       /* failures in a row */
    bool pattern_costly;    /* a log pattern gave up on a line (said once) */
};

struct proc_event {
    uint64_t id;
    struct status now, prev;
    struct proc_event *next;
};

struct proc_stream {
    int fd;                 /* -1 when closed */
    ev_io w;
    char *partial;          /* an unfinished line, up to PROC_LINE_MAX */
    size_t plen;
    struct ring *ring;      /* allocated when the first line arrives */
    const char *pend;       /* the tail of the last block read (in a read
                             * buffer), for the ring at the burst's end */
    size_t pend_len;
    bool paused;            /* stopped while the output sink drains */
};

/* Lines longer than this are split (SPEC 6). */
#define PROC_LINE_MAX (64 * 1024)

struct proc {
    struct spec *spec;      /* owned */
    struct ev_loop *loop;
    struct proc_owner owner;
    struct status st;

    struct reap_watch reaping; /* of the main process, while it runs */
    struct restart_state restart; /* the restart policy's counters (restart.h) */
    int exec_fd;            /* read end of the exec-confirm pipe, or -1 */
    ev_io exec_w;
    struct proc_stream out[2];  /* stdout, stderr */
    ev_timer stop_timer;    /* terminate: SIGKILL at the deadline */
    ev_timer restart_timer; /* the next incarnation */
    struct pgroup group;     /* the current incarnation's process group */
    struct cgroup *cg;       /* its cgroup (cgroup.h), or NULL: none, or
                              * given up at its end */
    struct output_waiter ow;
    struct proc_ready ready;
    struct outfile *file;   /* output = PATH: opened at the first start */
    struct outfile *file_err;  /* output = { stderr = PATH2 }: stderr's own */

    uint64_t inc_seq;       /* first line number of this incarnation */
    bool sigkilled;         /* this incarnation needed SIGKILL */
    enum cause stop_cause;  /* what started the stop of this incarnation */
    int user_signal;        /* the last signal sent by tend signal or
                             * proc:signal() to this incarnation, or 0 */
    bool ever_sigkilled;    /* some incarnation did */

    struct exec_error exec_failure;  /* reported; published at reap */
    bool exec_failed;
    bool limits_warned;      /* said which cgroup limits could not be applied */

    struct proc_listener *listeners;
    int listening;          /* depth of calls into listeners */

    struct proc_sub *subs;
    struct proc_event *queue, *queue_tail;
    uint64_t next_event;
    int busy;               /* holds: free is deferred while > 0 */
    bool dispatching;
    bool deciding;          /* the restart policy runs: no new incarnation now */
    bool doomed;
};

/* ---- proc.c: the handle and its transitions ---- */

/* Keep p alive across a call that may free it; release frees it if it
 * was freed meanwhile. */
void proc_hold(struct proc *p);
void proc_release(struct proc *p);
/* Begin a move to `to`: check it, snapshot the previous status and set
 * the fields every such move sets.  NULL when refused. */
struct proc_event *proc_move_begin(struct proc *p, enum proc_state to);
/* Finish a move: for a terminal status ask the owner what follows, then
 * publish the new status to every subscriber. */
void proc_move_commit(struct proc *p, struct proc_event *ev);
/* Publish a `failed` status with `reason` (taken over). */
void proc_fail(struct proc *p, char *reason);

/* ---- proc_spawn.c: start and exec confirmation ---- */

void proc_spawn_init(struct proc *p);
/* The main process is gone: take the exec report now (running, or the
 * failure kept for proc_exec_failure). */
void proc_exec_settle(struct proc *p);
/* The `failed` reason of an exec that failed (a new string, once), or
 * NULL when it succeeded. */
char *proc_exec_failure(struct proc *p);
/* Stop watching the exec-confirm pipe and close it. */
void proc_exec_close(struct proc *p);

/* ---- proc_output.c: pipes, lines, rings ---- */

void proc_output_init(struct proc *p);
/* Free the listeners, the rings and the output file. */
void proc_output_free(struct proc *p);
/* Read a burst of stream i (0 stdout, 1 stderr); `draining` at exit:
 * everything already there, up to a bound.  The ring is up to date
 * when this returns. */
void proc_stream_read(struct proc *p, int i, bool draining);
/* Stop watching stream i, emit its unfinished line and close it. */
void proc_stream_close(struct proc *p, int i);
/* The `tail` of a terminal status: this incarnation's stderr, else its
 * stdout, at most PROC_TAIL_MAX bytes. */
char *proc_terminal_tail(const struct proc *p);

/* ---- proc_end.c: stop, kill, exit ---- */

void proc_end_init(struct proc *p);
/* reap.c's call when the main process exited (still a zombie). */
void proc_main_exited(struct reap_watch *w, pid_t pid, int rstatus);
/* The proc is freed: SIGKILL what is left of its incarnation, stop
 * watching it. */
void proc_end_abandon(struct proc *p);

/* The number of the next output line of any proc, both streams, in the
 * order lines arrive (proc_output.c): `tend logs` merges rings by it. */
extern uint64_t proc_line_seq;

#endif
