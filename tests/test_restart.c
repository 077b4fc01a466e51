/* test_restart.c -- the restart policy (restart.c): modes, backoff and
 * the give-up window, without any process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "base/restart.h"

static struct status ended(enum proc_state s, int code, double started, double ended_at)
{
    struct status st = {.state = s, .exit_code = code, .started_at = started,
                        .ended_at = ended_at};
    return st;
}

static void test_modes(void **state)
{
    struct status ok = ended(ST_STOPPED, 0, 1, 2), bad = ended(ST_STOPPED, 3, 1, 2);
    struct status killed = {.state = ST_KILLED}, failed = {.state = ST_FAILED};
    assert_true(restart_wants(RESTART_ALWAYS, &ok));
    assert_false(restart_wants(RESTART_ON_FAILURE, &ok));
    assert_true(restart_wants(RESTART_ON_FAILURE, &bad));
    assert_true(restart_wants(RESTART_ON_FAILURE, &killed));
    assert_true(restart_wants(RESTART_ON_FAILURE, &failed));
    assert_false(restart_wants(RESTART_NEVER, &bad));
    assert_int_equal(restart_mode_parse("on-failure"), RESTART_ON_FAILURE);
    assert_int_equal(restart_mode_parse("on_failure"), -1);
    assert_string_equal(restart_mode_name(RESTART_ALWAYS), "always");
}

static void test_backoff_grows_caps_jitters_and_resets(void **state)
{
    struct restart_policy p;
    restart_policy_default(&p);
    p.initial = 1, p.factor = 3, p.max = 100, p.jitter = 0, p.reset_after = 10;
    unsigned attempt = 0;
    struct status quick = ended(ST_STOPPED, 1, 5, 6), long_run = ended(ST_STOPPED, 1, 5, 20);
    static const double want[] = {1, 3, 9, 27, 81, 100, 100};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_float_equal(restart_backoff_next(&p, &attempt, &quick, 0), want[i], 1e-9);
    assert_float_equal(restart_backoff_next(&p, &attempt, &long_run, 0), 1, 1e-9);
    p.jitter = 0.1;
    assert_float_equal(restart_backoff_delay(&p, 0, 1), 1.1, 1e-9);
    assert_float_equal(restart_backoff_delay(&p, 0, -1), 0.9, 1e-9);
    p.factor = 1e308;  /* overflow is max, not infinity */
    assert_float_equal(restart_backoff_delay(&p, 5, 0), 100, 1e-9);
}

static void test_give_up_after_n_plus_one_ends_within_the_window(void **state)
{
    struct restart_policy p;
    restart_policy_default(&p);  /* 5 restarts within 10 s */
    assert_int_equal(p.give_up_restarts, 5);
    struct restart_state s = {0};
    struct status bad = ended(ST_STOPPED, 1, 0, 0);
    char why[64];
    for (int i = 0; i < 5; i++)
        assert_true(restart_decide(&p, &s, &bad, i, 0, NAN, why, sizeof why) >= 0);
    assert_true(restart_decide(&p, &s, &bad, 5, 0, NAN, why, sizeof why) < 0);
    assert_string_equal(why, "5 restarts within 10s");
    /* spread out, never */
    struct restart_state t = {0};
    for (int i = 0; i < 50; i++)
        assert_true(restart_decide(&p, &t, &bad, i * 3.0, 0, NAN, why, sizeof why) >= 0);
    /* an exit code 0 under on-failure is not counted and not restarted */
    struct status ok = ended(ST_STOPPED, 0, 0, 0);
    assert_true(restart_decide(&p, &t, &ok, 200, 0, NAN, why, sizeof why) < 0);
    assert_string_equal(why, "");
    restart_state_free(&s);
    restart_state_free(&t);
}

static void test_a_function_answers_and_give_up_still_applies(void **state)
{
    struct restart_policy p;
    restart_policy_default(&p);
    p.mode = RESTART_FUNCTION;
    p.give_up_restarts = 2;
    struct restart_state s = {0};
    struct status ok = ended(ST_STOPPED, 0, 0, 0);
    char why[64];
    assert_float_equal(restart_decide(&p, &s, &ok, 0, 0, 7, why, sizeof why), 7, 1e-9);
    assert_true(restart_decide(&p, &s, &ok, 1, 0, -1, why, sizeof why) < 0);  /* false */
    assert_float_equal(restart_decide(&p, &s, &ok, 2, 0, 0, why, sizeof why), 0, 1e-9);
    assert_true(restart_decide(&p, &s, &ok, 3, 0, 1, why, sizeof why) < 0);  /* 3rd in 10 s */
    assert_string_equal(why, "2 restarts within 10s");
    /* a function that raised: on-failure, with the backoff */
    struct restart_state t = {0};
    struct status bad = ended(ST_STOPPED, 1, 0, 0);
    p.jitter = 0;
    assert_float_equal(restart_decide(&p, &t, &bad, 0, 0, NAN, why, sizeof why), 0.1, 1e-9);
    assert_true(restart_decide(&p, &t, &ok, 0, 0, NAN, why, sizeof why) < 0);
    /* no give-up at all */
    p.give_up_restarts = 0;
    for (int i = 0; i < 100; i++)
        assert_true(restart_decide(&p, &t, &bad, 0, 0, 1, why, sizeof why) >= 0);
    restart_state_free(&s);
    restart_state_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_backoff_grows_caps_jitters_and_resets),
        cmocka_unit_test(test_give_up_after_n_plus_one_ends_within_the_window),
        cmocka_unit_test(test_a_function_answers_and_give_up_still_applies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
