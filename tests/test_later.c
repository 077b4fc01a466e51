/* test_later.c -- later.c: once per later_run, from the loop, cancellable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/later.h"
#include "base/util.h"

struct counter {
    struct later l;
    int runs;
};

static void count(struct later *l)
{
    container_of(l, struct counter, l)->runs++;
}

static void test_runs_once_from_the_loop_and_cancels(void **state)
{
    struct ev_loop *loop = ev_loop_new(0);
    struct counter a = {0}, b = {0};
    later_init(&a.l, count);
    later_init(&b.l, count);
    later_run(loop, &a.l);
    later_run(loop, &a.l);  /* asked twice before the loop ran: once */
    later_run(loop, &b.l);
    later_cancel(loop, &b.l);
    assert_int_equal(a.runs, 0);  /* not from inside later_run */
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(a.runs, 1);
    assert_int_equal(b.runs, 0);
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(a.runs, 1);  /* and not again */
    later_run(loop, &a.l);
    ev_run(loop, 0);  /* returns: nothing keeps the loop once it ran */
    assert_int_equal(a.runs, 2);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_once_from_the_loop_and_cancels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
