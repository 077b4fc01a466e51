/* test_proc.c -- the proc handle with real processes: spawn, exec
 * confirmation, exit, output tails, terminate, kill, process groups and
 * the order in which subscribers see transitions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "core/proc_impl.h"
#include "base/util.h"

#define MAX_EVENTS 64

/* Everything one subscriber saw. */
struct rec {
    enum proc_state now[MAX_EVENTS], prev[MAX_EVENTS];
    pid_t pid[MAX_EVENTS];
    int n;
    struct status last;
    /* what to do on reaching a state (for the reentrancy tests) */
    enum proc_state act_on;
    bool act_terminate;
};

static void rec_cb(struct proc *p, const struct status *now, const struct status *prev,
                   void *data)
{
    struct rec *r = data;
    if (r->n < MAX_EVENTS) {
        r->now[r->n] = now->state;
        r->prev[r->n] = prev->state;
        r->pid[r->n] = now->pid;
        r->n++;
    }
    status_clear(&r->last);
    status_copy(&r->last, now);
    if (r->act_terminate && now->state == r->act_on)
        proc_terminate(p, 5, CAUSE_TERMINATE);
}

static struct ev_loop *loop;

static struct proc *make(const char *const *argv, struct rec *r)
{
    struct spec *s = spec_new();
    s->name = xstrdup("t");
    size_t n = 0;
    while (argv[n])
        n++;
    s->argv = xcalloc(n + 1, sizeof *s->argv);
    for (size_t i = 0; i < n; i++)
        s->argv[i] = xstrdup(argv[i]);
    s->output = OUTPUT_DISCARD;
    s->stop_timeout = 5;
    struct proc *p = proc_new(loop, s, NULL);
    if (r)
        proc_subscribe(p, rec_cb, r);
    return p;
}

static void done_with(struct proc *p, struct rec *r)
{
    proc_free(p);
    reap_end_lingering();
    if (r)
        status_clear(&r->last);
}

static bool terminal(void *arg)
{
    return status_is_terminal(((struct proc *)arg)->st.state);
}

static bool has_ready(void *arg)
{
    return ((struct proc *)arg)->st.state == ST_READY;
}

struct line_wait {
    struct proc *p;
    int stream;
    const char *needle;
};

static bool has_line(void *arg)
{
    struct line_wait *w = arg;
    char *t = proc_tail(w->p, w->stream, 100, true);
    bool yes = strstr(t, w->needle) != NULL;
    free(t);
    return yes;
}

/* Wait for `needle` in the proc's recent output on `stream`. */
static void wait_line(struct proc *p, int stream, const char *needle)
{
    struct line_wait w = {p, stream, needle};
    assert_true(loop_until(loop, has_line, &w, DEADLINE));
}

static void assert_states(const struct rec *r, const enum proc_state *want, int n)
{
    if (r->n != n) {
        for (int i = 0; i < r->n; i++)
            fprintf(stderr, "  seen %s -> %s\n", status_state_name(r->prev[i]),
                    status_state_name(r->now[i]));
        fail_msg("saw %d transitions, expected %d", r->n, n);
    }
    for (int i = 0; i < n; i++) {
        if (r->now[i] != want[i])
            fail_msg("transition %d: %s, expected %s", i, status_state_name(r->now[i]),
                     status_state_name(want[i]));
        /* each transition's previous status is the one before it */
        if (i > 0 && r->prev[i] != r->now[i - 1])
            fail_msg("transition %d: previous %s, expected %s", i,
                     status_state_name(r->prev[i]), status_state_name(r->now[i - 1]));
    }
}

static void test_clean_exit_passes_through_every_state(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"true", NULL}, &r);
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    enum proc_state want[] = {ST_STARTING, ST_RUNNING, ST_READY, ST_STOPPED};
    assert_states(&r, want, 4);
    assert_int_equal(r.prev[0], ST_PENDING);
    assert_int_equal(r.last.exit_code, 0);
    assert_int_equal(r.last.incarnation, 1);
    assert_true(r.last.ended_at >= r.last.started_at);
    assert_false(r.last.want_up);  /* no owner: no restart */
    done_with(p, &r);
}

static void test_instant_exits_never_skip_running(void **state)
{
    /* many times: a program that exits at once still goes through running
     * and ready, whichever of exec report and reap the loop sees first */
    for (int i = 0; i < 30; i++) {
        struct rec r = {0};
        struct proc *p = make((const char *[]){"sh", "-c", "exit 0", NULL}, &r);
        proc_start(p, false);
        assert_true(loop_until(loop, terminal, p, DEADLINE));
        enum proc_state want[] = {ST_STARTING, ST_RUNNING, ST_READY, ST_STOPPED};
        assert_states(&r, want, 4);
        done_with(p, &r);
    }
}

static void test_exit_code_and_stderr_tail(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sh", "-c",
        "echo out; echo one >&2; printf 'two' >&2; exit 7", NULL}, &r);
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    assert_int_equal(r.last.state, ST_STOPPED);
    assert_int_equal(r.last.exit_code, 7);
    assert_string_equal(r.last.tail, "one\ntwo\n");
    done_with(p, &r);
}

static void test_tail_falls_back_to_stdout(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sh", "-c", "echo only-out; exit 1", NULL}, &r);
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    assert_string_equal(r.last.tail, "only-out\n");
    done_with(p, &r);
}

static void test_tail_holds_only_this_incarnation(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sh", "-c",
        "echo run $TEND_INCARNATION >&2; exit 1", NULL}, &r);
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    assert_string_equal(r.last.tail, "run 1\n");
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    assert_int_equal(r.last.incarnation, 2);
    assert_string_equal(r.last.tail, "run 2\n");
    /* the ring itself keeps both */
    char *all = proc_tail(p, 1, 10, false);
    assert_string_equal(all, "run 1\nrun 2\n");
    free(all);
    done_with(p, &r);
}

static void test_tail_is_at_most_4k(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sh", "-c",
        "i=0; while [ $i -lt 200 ]; do echo \"line $i of a rather long stderr\" >&2;"
        " i=$((i+1)); done; exit 2", NULL}, &r);
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    assert_true(strlen(r.last.tail) <= PROC_TAIL_MAX);
    assert_true(strlen(r.last.tail) > PROC_TAIL_MAX - 100);
    /* the newest line is last and whole */
    const char *end = r.last.tail + strlen(r.last.tail);
    assert_string_equal(end - strlen("line 199 of a rather long stderr\n"),
                        "line 199 of a rather long stderr\n");
    done_with(p, &r);
}

static void test_killed_by_signal(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sh", "-c", "kill -USR1 $$", NULL}, &r);
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    assert_int_equal(r.last.state, ST_KILLED);
    assert_int_equal(r.last.signal, SIGUSR1);
    assert_false(r.last.core_dumped);
    done_with(p, &r);
}

static void test_core_dumped(void **state)
{
    char *pattern = read_file("/proc/sys/kernel/core_pattern");
    bool plain = pattern && pattern[0] != '|';
    free(pattern);
    if (!plain)
        skip();  /* cores go to a helper program we do not control */
    struct rlimit old, unl = {RLIM_INFINITY, RLIM_INFINITY};
    getrlimit(RLIMIT_CORE, &old);
    if (setrlimit(RLIMIT_CORE, &unl) != 0) {
        unl.rlim_cur = unl.rlim_max = old.rlim_max;
        setrlimit(RLIMIT_CORE, &unl);
    }
    char *dir = tmpdir_new();
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sh", "-c", "kill -SEGV $$", NULL}, &r);
    p->spec->cwd = xstrdup(dir);
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    setrlimit(RLIMIT_CORE, &old);
    assert_int_equal(r.last.state, ST_KILLED);
    assert_int_equal(r.last.signal, SIGSEGV);
    if (unl.rlim_cur == 0)
        skip();  /* core dumps are forbidden here */
    assert_true(r.last.core_dumped);
    done_with(p, &r);
    tmpdir_free(dir);
}

static void test_exec_failure_is_failed_with_reason(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"/nope", NULL}, &r);
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    enum proc_state want[] = {ST_STARTING, ST_FAILED};
    assert_states(&r, want, 2);
    assert_string_equal(r.last.reason, "exec /nope: No such file or directory");
    assert_int_equal(r.last.pid, 0);
    done_with(p, &r);
}

static void test_exec_failure_searching_path(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"no-such-program-here", NULL}, &r);
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    assert_int_equal(r.last.state, ST_FAILED);
    assert_string_equal(r.last.reason,
                        "exec no-such-program-here: No such file or directory");
    done_with(p, &r);
}

static void test_bad_cwd_is_failed_with_reason(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"true", NULL}, &r);
    p->spec->cwd = xstrdup("/no/such/dir");
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    assert_int_equal(r.last.state, ST_FAILED);
    assert_string_equal(r.last.reason, "chdir /no/such/dir: No such file or directory");
    done_with(p, &r);
}

static void test_grandchild_holding_stdout_does_not_delay_exit(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sh", "-c",
        "sleep 30 & echo $!; exit 3", NULL}, &r);
    double t0 = now_mono();
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    assert_true(now_mono() - t0 < 5);
    assert_int_equal(r.last.state, ST_STOPPED);
    assert_int_equal(r.last.exit_code, 3);
    /* the line written before exit is there, and the grandchild that held
     * the pipe gets the stop signal: nothing outlives its incarnation */
    char *out = proc_tail(p, 0, 1, true);
    pid_t grandchild = (pid_t)atoi(out);
    free(out);
    assert_true(grandchild > 0);
    assert_true(pid_wait_gone(grandchild, DEADLINE));
    done_with(p, &r);
}

static void test_last_lines_before_exit_are_in_the_tail(void **state)
{
    /* lots of output right before exiting: all of it read at reap */
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sh", "-c",
        "i=0; while [ $i -lt 50 ]; do echo e$i >&2; i=$((i+1)); done; exit 5", NULL}, &r);
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    assert_non_null(strstr(r.last.tail, "e0\n"));
    assert_non_null(strstr(r.last.tail, "e49\n"));
    done_with(p, &r);
}

static void test_terminate_gracefully(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sh", "-c",
        "trap 'echo bye; exit 0' TERM; echo armed; while :; do sleep 0.05; done", NULL}, &r);
    proc_start(p, false);
    wait_line(p, 0, "armed");
    assert_int_equal(proc_terminate(p, 5, CAUSE_TERMINATE), 0);
    assert_int_equal(p->st.state, ST_STOPPING);
    assert_true(p->st.deadline > now_mono());
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    enum proc_state want[] = {ST_STARTING, ST_RUNNING, ST_READY, ST_STOPPING, ST_STOPPED};
    assert_states(&r, want, 5);
    assert_int_equal(r.last.exit_code, 0);
    assert_false(p->sigkilled);
    done_with(p, &r);
}

static void test_terminate_escalates_to_kill(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sh", "-c",
        "trap '' TERM; echo armed; while :; do sleep 0.05; done", NULL}, &r);
    proc_start(p, false);
    wait_line(p, 0, "armed");
    double t0 = now_mono();
    assert_int_equal(proc_terminate(p, 0.2, CAUSE_TERMINATE), 0);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    double took = now_mono() - t0;
    assert_true(took >= 0.2);
    assert_int_equal(r.last.state, ST_KILLED);
    assert_int_equal(r.last.signal, SIGKILL);
    assert_true(p->sigkilled);
    done_with(p, &r);
}

static void test_kill_now(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sleep", "30", NULL}, &r);
    proc_start(p, false);
    assert_true(loop_until(loop, has_ready, p, DEADLINE));
    assert_int_equal(proc_kill(p, CAUSE_KILL), 0);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    enum proc_state want[] = {ST_STARTING, ST_RUNNING, ST_READY, ST_KILLED};
    assert_states(&r, want, 4);
    assert_int_equal(r.last.signal, SIGKILL);
    done_with(p, &r);
}

static void test_already_terminated(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"true", NULL}, &r);
    /* pending: never started */
    assert_int_equal(proc_terminate(p, 1, CAUSE_TERMINATE), -1);
    assert_int_equal(proc_kill(p, CAUSE_KILL), -1);
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    int seen = r.n;
    assert_int_equal(proc_terminate(p, 1, CAUSE_TERMINATE), -1);
    assert_int_equal(proc_kill(p, CAUSE_KILL), -1);
    assert_int_equal(proc_signal(p, SIGTERM), -1);
    assert_int_equal(r.n, seen);  /* nothing happened */
    assert_int_equal(p->st.state, ST_STOPPED);
    done_with(p, &r);
}

static void test_grandchildren_go_with_the_group(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sh", "-c",
        "sleep 30 & echo $!; wait", NULL}, &r);
    proc_start(p, false);
    wait_line(p, 0, "\n");
    char *out = proc_tail(p, 0, 1, true);
    pid_t grandchild = (pid_t)atoi(out);
    free(out);
    assert_true(grandchild > 0 && pid_alive(grandchild));
    proc_terminate(p, 5, CAUSE_TERMINATE);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    assert_true(pid_wait_gone(grandchild, DEADLINE));
    done_with(p, &r);
}

static void test_pid_across_states(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sleep", "30", NULL}, &r);
    assert_int_equal(p->st.pid, 0);
    proc_start(p, false);
    assert_true(loop_until(loop, has_ready, p, DEADLINE));
    proc_terminate(p, 5, CAUSE_TERMINATE);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    enum proc_state want[] = {ST_STARTING, ST_RUNNING, ST_READY, ST_STOPPING, ST_KILLED};
    assert_states(&r, want, 5);
    assert_true(r.pid[0] > 0);
    for (int i = 1; i < 4; i++)
        assert_int_equal(r.pid[i], r.pid[0]);
    assert_int_equal(r.pid[4], 0);
    assert_false(pid_alive(r.pid[0]));
    done_with(p, &r);
}

static void test_every_subscriber_sees_every_transition_in_order(void **state)
{
    /* the first subscriber terminates the proc from inside its callback
     * on `ready`: the second must still see `ready` before `stopping` */
    struct rec a = {.act_on = ST_READY, .act_terminate = true}, b = {0};
    struct proc *p = make((const char *[]){"sleep", "30", NULL}, &a);
    proc_subscribe(p, rec_cb, &b);
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    enum proc_state want[] = {ST_STARTING, ST_RUNNING, ST_READY, ST_STOPPING, ST_KILLED};
    assert_states(&a, want, 5);
    assert_states(&b, want, 5);
    done_with(p, &a);
    status_clear(&b.last);
}

static void test_refused_transition_changes_nothing(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"true", NULL}, &r);
    assert_false(proc_move(p, ST_READY));
    assert_false(proc_move(p, ST_STOPPED));
    assert_int_equal(p->st.state, ST_PENDING);
    assert_int_equal(r.n, 0);
    done_with(p, &r);
}

struct await_result {
    int calls;
    bool reached;
    enum proc_state state;
};

static void await_cb(struct proc *p, bool reached, const struct status *st, void *data)
{
    struct await_result *a = data;
    a->calls++;
    a->reached = reached;
    a->state = st->state;
}

static bool awaited(void *arg)
{
    return ((struct await_result *)arg)->calls > 0;
}

static void test_await_ready_errors_when_the_proc_ends_first(void **state)
{
    struct await_result a = {0};
    struct proc *p = make((const char *[]){"/nope", NULL}, NULL);
    assert_non_null(proc_await_ready(p, await_cb, &a));  /* pending: waits */
    proc_start(p, false);
    assert_true(loop_until(loop, awaited, &a, DEADLINE));
    assert_int_equal(a.calls, 1);
    assert_false(a.reached);
    assert_int_equal(a.state, ST_FAILED);
    /* already terminal: answered at once */
    struct await_result b = {0};
    assert_null(proc_await_ready(p, await_cb, &b));
    assert_int_equal(b.calls, 1);
    assert_false(b.reached);
    done_with(p, NULL);
}

static void test_await_ready_succeeds(void **state)
{
    struct await_result a = {0};
    struct proc *p = make((const char *[]){"sleep", "30", NULL}, NULL);
    proc_start(p, false);
    proc_await_ready(p, await_cb, &a);
    assert_true(loop_until(loop, awaited, &a, DEADLINE));
    assert_true(a.reached);
    assert_int_equal(a.state, ST_READY);
    proc_kill(p, CAUSE_KILL);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    assert_int_equal(a.calls, 1);  /* once only */
    done_with(p, NULL);
}

static int decide_calls;
static double decide_restart_twice(struct proc *p, struct status *st, void *data)
{
    return ++decide_calls <= 2 ? 0 : -1;
}

static bool gave_up(void *arg)
{
    struct proc *p = arg;
    return status_is_terminal(p->st.state) && !p->st.want_up;
}

static void test_owner_decides_restarts(void **state)
{
    struct rec r = {0};
    decide_calls = 0;
    struct spec *s = spec_new();
    s->name = xstrdup("t");
    s->argv = xcalloc(4, sizeof *s->argv);
    s->argv[0] = xstrdup("sh");
    s->argv[1] = xstrdup("-c");
    s->argv[2] = xstrdup("echo $TEND_INCARNATION; exit 1");
    s->output = OUTPUT_DISCARD;
    struct proc_owner owner = {.decide = decide_restart_twice};
    struct proc *p = proc_new(loop, s, &owner);
    proc_subscribe(p, rec_cb, &r);
    proc_start(p, false);
    assert_true(loop_until(loop, gave_up, p, DEADLINE));
    assert_int_equal(p->st.incarnation, 3);
    assert_int_equal(p->st.restarts, 2);
    assert_int_equal(p->st.restart_at, 0);
    char *out = proc_tail(p, 0, 10, false);
    assert_string_equal(out, "1\n2\n3\n");
    free(out);
    /* terminal -> starting opens each new incarnation */
    int starts = 0;
    for (int i = 0; i < r.n; i++)
        if (r.now[i] == ST_STARTING) {
            starts++;
            assert_true(r.prev[i] == ST_PENDING || r.prev[i] == ST_STOPPED);
        }
    assert_int_equal(starts, 3);
    done_with(p, &r);
}

static void test_long_and_partial_lines(void **state)
{
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sh", "-c",
        "head -c 66000 /dev/zero | tr '\\0' x; echo; printf 'no newline'", NULL}, &r);
    proc_start(p, false);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    /* the 66000-byte line is split at 64 KiB; the unfinished last line is
     * kept; the ring shortens long lines and marks them */
    const struct ring *ring = p->out[0].ring;
    assert_int_equal(ring_count(ring), 3);
    size_t len;
    const char *l = ring_line(ring, 0, &len, NULL);
    assert_int_equal(len, RING_LINE_MAX);
    assert_memory_equal(l + len - strlen(RING_CUT_MARK), RING_CUT_MARK, strlen(RING_CUT_MARK));
    l = ring_line(ring, 1, &len, NULL);
    assert_int_equal(len, 66000 - 65536);
    l = ring_line(ring, 2, &len, NULL);
    assert_int_equal(len, strlen("no newline"));
    assert_memory_equal(l, "no newline", len);
    done_with(p, &r);
}

static bool has_21_lines(void *arg)
{
    const struct ring *ring = ((struct proc *)arg)->out[0].ring;
    return ring && ring_count(ring) >= 21;
}

static bool has_partial(void *arg)
{
    return ((struct proc *)arg)->out[0].plen > 0;
}

/* A backlog that fills the read buffer but for the last bytes of an
 * unfinished line: the first read takes all the complete lines (their
 * tail waits for the ring), the second only lengthens the unfinished line,
 * and the third, into the first read's buffer, must not overwrite that
 * tail.  The ring must hold the lines as written. */
static void test_ring_keeps_a_backlog_whose_last_line_is_unfinished(void **state)
{
    char *dir = tmpdir_new();
    char big[4096], fifo[4096], done[4096];
    snprintf(big, sizeof big, "%s/big", dir);
    snprintf(fifo, sizeof fifo, "%s/go", dir);
    snprintf(done, sizeof done, "%s/done", dir);
    /* "def\n", 20 lines of 13,000 bytes, 2,140 bytes without a newline:
     * 262,144 bytes, one pipe's worth */
    FILE *f = fopen(big, "w");
    assert_non_null(f);
    fputs("def\n", f);
    for (int k = 0; k < 20; k++) {
        for (int j = 0; j < 13000 - 1; j++)
            fputc('A' + k, f);
        fputc('\n', f);
    }
    for (int j = 0; j < 2140; j++)
        fputc('T', f);
    assert_int_equal(ftell(f), 262144);
    fclose(f);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    struct rec r = {0};
    struct proc *p = make((const char *[]){"sh", "-c",
        "printf abc; read x < \"$0\"; cat \"$1\"; : > \"$2\"; exec sleep 30",
        fifo, big, done, NULL}, &r);
    proc_start(p, false);
    /* tend has "abc" as an unfinished line */
    assert_true(loop_until(loop, has_partial, p, DEADLINE));
    /* the whole backlog goes into the pipe while the loop does not run */
    int w = open(fifo, O_WRONLY);
    assert_true(w >= 0);
    assert_int_equal(write(w, "\n", 1), 1);
    close(w);
    assert_true(file_wait_for(done, "", DEADLINE));
    /* run until the ring has the 21 lines */
    assert_true(loop_until(loop, has_21_lines, p, DEADLINE));
    const struct ring *ring = p->out[0].ring;
    size_t len;
    const char *l = ring_line(ring, 0, &len, NULL);
    assert_int_equal(len, 6);
    assert_memory_equal(l, "abcdef", 6);
    for (size_t k = 1; k <= 20; k++) {
        l = ring_line(ring, k, &len, NULL);
        assert_int_equal(len, RING_LINE_MAX);  /* cut, and marked */
        for (size_t j = 0; j < len - strlen(RING_CUT_MARK); j++)
            if (l[j] != (char)('A' + k - 1))
                fail_msg("line %zu, byte %zu: %#x, want %c", k, j, l[j], (char)('A' + k - 1));
    }
    proc_terminate(p, 5, CAUSE_TERMINATE);
    assert_true(loop_until(loop, terminal, p, DEADLINE));
    /* the unfinished line came last, at the end */
    assert_int_equal(ring_count(ring), 22);
    l = ring_line(ring, 21, &len, NULL);
    assert_int_equal(len, RING_LINE_MAX);
    assert_int_equal(l[0], 'T');
    done_with(p, &r);
    tmpdir_free(dir);
}

/* In a child that runs as nobody with RLIMIT_NPROC at 1 (itself), so that
 * fork fails: the proc must end `failed` with the fork error. */
static void test_fork_failure_is_failed_with_reason(void **state)
{
    if (geteuid() != 0)
        skip();  /* needs to switch to another uid */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ev_loop_fork(loop);  /* the child gets its own epoll set */
        struct rlimit one = {1, 1};
        if (setgid(65534) != 0 || setuid(65534) != 0 || setrlimit(RLIMIT_NPROC, &one) != 0)
            _exit(3);
        struct rec r = {0};
        struct proc *p = make((const char *[]){"true", NULL}, &r);
        proc_start(p, false);
        if (!loop_until(loop, terminal, p, DEADLINE))
            _exit(4);
        bool ok = r.n == 2 && r.now[0] == ST_STARTING && r.now[1] == ST_FAILED &&
                  r.last.reason && strncmp(r.last.reason, "fork: ", 6) == 0;
        if (!ok)
            fprintf(stderr, "fork failure: %d transitions, reason %s\n", r.n,
                    r.last.reason ? r.last.reason : "(none)");
        _exit(ok ? 0 : 5);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    loop = ev_loop_new(0);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_exit_passes_through_every_state),
        cmocka_unit_test(test_instant_exits_never_skip_running),
        cmocka_unit_test(test_exit_code_and_stderr_tail),
        cmocka_unit_test(test_tail_falls_back_to_stdout),
        cmocka_unit_test(test_tail_holds_only_this_incarnation),
        cmocka_unit_test(test_tail_is_at_most_4k),
        cmocka_unit_test(test_killed_by_signal),
        cmocka_unit_test(test_core_dumped),
        cmocka_unit_test(test_exec_failure_is_failed_with_reason),
        cmocka_unit_test(test_exec_failure_searching_path),
        cmocka_unit_test(test_bad_cwd_is_failed_with_reason),
        cmocka_unit_test(test_fork_failure_is_failed_with_reason),
        cmocka_unit_test(test_grandchild_holding_stdout_does_not_delay_exit),
        cmocka_unit_test(test_last_lines_before_exit_are_in_the_tail),
        cmocka_unit_test(test_terminate_gracefully),
        cmocka_unit_test(test_terminate_escalates_to_kill),
        cmocka_unit_test(test_kill_now),
        cmocka_unit_test(test_already_terminated),
        cmocka_unit_test(test_grandchildren_go_with_the_group),
        cmocka_unit_test(test_pid_across_states),
        cmocka_unit_test(test_every_subscriber_sees_every_transition_in_order),
        cmocka_unit_test(test_refused_transition_changes_nothing),
        cmocka_unit_test(test_await_ready_errors_when_the_proc_ends_first),
        cmocka_unit_test(test_await_ready_succeeds),
        cmocka_unit_test(test_owner_decides_restarts),
        cmocka_unit_test(test_long_and_partial_lines),
        cmocka_unit_test(test_ring_keeps_a_backlog_whose_last_line_is_unfinished),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    output_finish();
    return rc;
}
