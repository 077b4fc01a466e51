/* test_top.c -- `tend top` (SPEC 2) through the real binary on a
 * pseudo-terminal: it draws a frame with every proc, sorts on a key,
 * quits on `q` or SIGTERM, and gives the terminal its modes back; without a
 * terminal it refuses.  Every wait is on what the terminal shows, bounded
 * by DEADLINE. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "base/util.h"
#include "harness.h"

#define TAG_VAR "TEND_TEST_TAG"

struct fx {
    char *dir, *sock;
    struct tend_run *t;
    pid_t top;
    int master;
    struct buf screen;  /* everything top wrote */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tmpdir_new();
    if (!f->dir || asprintf(&f->sock, "%s/tend.sock", f->dir) < 0)
        return -1;
    setenv(TAG_VAR, f->dir, 1);
    setenv("TEND_SOCKET", f->sock, 1);
    f->top = -1;
    f->master = -1;
    *state = f;
    char *policy = write_file(f->dir, "policy.lua",
        "tend.proc { name = 'busy', cmd = { 'sh', '-c', 'while :; do :; done' } }\n"
        "tend.proc { name = 'idle', cmd = { 'sleep', '1000' } }\n"
        "tend.proc { name = 'later', cmd = { 'sleep', '1000' }, after = { 'nothing' } }\n"
        "tend.proc { name = 'nothing', cmd = { 'true' }, autostart = false }\n");
    f->t = tend_start((const char *[]){"run", policy, NULL});
    free(policy);
    return tend_expect(f->t, 2, "idle: started", DEADLINE) ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->top > 0) {
        kill(f->top, SIGKILL);
        waitpid(f->top, NULL, 0);
    }
    if (f->master >= 0)
        close(f->master);
    tend_free(f->t);
    procs_kill_tagged(TAG_VAR, f->dir, DEADLINE);
    unsetenv(TAG_VAR);
    unsetenv("TEND_SOCKET");
    tmpdir_free(f->dir);
    free(f->sock);
    free(f->screen.p);
    free(f);
    return 0;
}

/* `tend top` on a new pseudo-terminal of 100x30. */
static void start_top(struct fx *f)
{
    struct winsize ws = {.ws_row = 30, .ws_col = 100};
    f->top = forkpty(&f->master, NULL, NULL, &ws);
    assert_true(f->top >= 0);
    if (f->top == 0) {
        setenv("TERM", "xterm", 1);
        execl(tend_path(), tend_path(), "top", (char *)NULL);
        _exit(127);
    }
}

/* Read what top draws until `needle` has appeared `times` times in all of
 * it; whether it did within DEADLINE. */
static bool screen_shows(struct fx *f, const char *needle, int times)
{
    double end = now_mono() + DEADLINE;
    for (;;) {
        buf_reserve(&f->screen, 1);
        f->screen.p[f->screen.len] = '\0';
        if (count_of(f->screen.p, needle) >= times)
            return true;
        double left = end - now_mono();
        struct pollfd pfd = {f->master, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) < 0)
            return false;
        if (!(pfd.revents & (POLLIN | POLLHUP)))
            continue;
        buf_reserve(&f->screen, 65536);
        ssize_t n = read(f->master, f->screen.p + f->screen.len, 65536);
        if (n <= 0)
            return false;  /* EIO: top has closed the terminal */
        f->screen.len += (size_t)n;
    }
}

/* Wait for top to exit (reading what it still writes); its exit code. */
static int top_exit(struct fx *f)
{
    screen_shows(f, "\001never", 1);  /* reads to the end: top closed the terminal */
    int status;
    assert_int_equal(waitpid(f->top, &status, 0), f->top);
    f->top = -1;
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void assert_terminal_given_back(struct fx *f)
{
    buf_reserve(&f->screen, 1);
    f->screen.p[f->screen.len] = '\0';
    const char *enter = strstr(f->screen.p, "\033[?1049h");
    const char *leave = strstr(f->screen.p, "\033[?1049l");
    assert_non_null(enter);
    assert_non_null(leave);
    assert_true(leave > enter);
    assert_non_null(strstr(leave - 6, "\033[?25h"));  /* the cursor back */
    struct termios tio;
    assert_int_equal(tcgetattr(f->master, &tio), 0);
    assert_true(tio.c_lflag & ICANON);
    assert_true(tio.c_lflag & ECHO);
}

static void test_top_draws_every_proc_sorts_and_quits_on_q(void **state)
{
    struct fx *f = *state;
    start_top(f);
    assert_true(screen_shows(f, "NAME", 1));
    assert_true(screen_shows(f, "idle ", 1));
    assert_true(screen_shows(f, "busy ", 1));
    assert_true(screen_shows(f, "waiting for nothing", 1));
    /* the second answer gives CPU %: the busy loop shows a figure */
    assert_true(screen_shows(f, "sorted by name", 2));
    assert_int_equal(write(f->master, "c", 1), 1);
    assert_true(screen_shows(f, "sorted by CPU", 1));
    /* sorted by CPU, busy comes first */
    const char *frame = strstr(f->screen.p, "sorted by CPU");
    assert_non_null(strstr(frame, "busy "));
    assert_true(!strstr(frame, "idle ") || strstr(frame, "busy ") < strstr(frame, "idle "));
    assert_int_equal(write(f->master, "q", 1), 1);
    assert_int_equal(top_exit(f), 0);
    assert_terminal_given_back(f);
}

static void test_top_gives_the_terminal_back_on_sigterm(void **state)
{
    struct fx *f = *state;
    start_top(f);
    assert_true(screen_shows(f, "idle ", 1));
    kill(f->top, SIGTERM);
    assert_int_equal(top_exit(f), 0);
    assert_terminal_given_back(f);
}

static void test_top_says_so_when_tend_goes_away(void **state)
{
    struct fx *f = *state;
    start_top(f);
    assert_true(screen_shows(f, "idle ", 1));
    kill(f->t->pid, SIGTERM);
    assert_true(screen_shows(f, "tend top: tend closed the connection", 1));
    assert_int_equal(top_exit(f), 1);
    assert_terminal_given_back(f);
}

static void test_top_needs_a_terminal(void **state)
{
    struct tend_run *c = tend_run_sync((const char *[]){"top", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 2);
    assert_contains(c->err, "needs a terminal");
    tend_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_top_draws_every_proc_sorts_and_quits_on_q, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_top_gives_the_terminal_back_on_sigterm, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_top_says_so_when_tend_goes_away, setup, teardown),
        cmocka_unit_test_setup_teardown(test_top_needs_a_terminal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
