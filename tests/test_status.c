/* test_status.c -- the transition table and the restart policy, without
 * any process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "restart.h"
#include "status.h"

/* The allowed moves of SPEC 1, written out independently of the table. */
static bool spec_allows(enum proc_state from, enum proc_state to)
{
    switch (from) {
    case ST_PENDING:
        return to == ST_STARTING;
    case ST_STARTING:
        return to == ST_RUNNING || to == ST_STOPPING || to == ST_FAILED;
    case ST_RUNNING:
        return to == ST_READY || to == ST_STOPPING || to == ST_STOPPED || to == ST_KILLED;
    case ST_READY:
        return to == ST_STOPPING || to == ST_STOPPED || to == ST_KILLED;
    case ST_STOPPING:
        return to == ST_STOPPED || to == ST_KILLED || to == ST_FAILED;
    case ST_STOPPED:
    case ST_KILLED:
    case ST_FAILED:
        return to == ST_STARTING;  /* only as a new incarnation */
    default:
        return false;
    }
}

static void test_each_transition_allowed_or_refused(void **state)
{
    int allowed = 0;
    for (int f = 0; f < ST__COUNT; f++)
        for (int t = 0; t < ST__COUNT; t++) {
            bool want = spec_allows(f, t);
            if (status_can_move(f, t) != want)
                fail_msg("%s -> %s: expected %s", status_state_name(f),
                         status_state_name(t), want ? "allowed" : "refused");
            allowed += want;
        }
    assert_int_equal(allowed, 17);
}

static void test_terminal_states_absorb(void **state)
{
    enum proc_state terminal[] = {ST_STOPPED, ST_KILLED, ST_FAILED};
    for (size_t i = 0; i < 3; i++) {
        assert_true(status_is_terminal(terminal[i]));
        for (int t = 0; t < ST__COUNT; t++)
            if (t != ST_STARTING)
                assert_false(status_can_move(terminal[i], t));
    }
    assert_false(status_is_terminal(ST_READY));
    assert_false(status_is_terminal(ST_PENDING));
}

static void test_no_move_goes_backward(void **state)
{
    /* within an incarnation the order is pending < starting < running <
     * ready < stopping < terminal */
    for (int f = ST_STARTING; f < ST__COUNT; f++)
        for (int t = ST_PENDING; t < f; t++)
            if (t != ST_STARTING)
                assert_false(status_can_move(f, t));
    assert_false(status_can_move(ST_READY, ST_RUNNING));
    assert_false(status_can_move(ST_STOPPING, ST_READY));
}

static void test_pending_is_never_entered(void **state)
{
    for (int f = 0; f < ST__COUNT; f++)
        assert_false(status_can_move(f, ST_PENDING));
}

static void test_state_names_round_trip(void **state)
{
    for (int s = 0; s < ST__COUNT; s++)
        assert_int_equal(status_state_parse(status_state_name(s)), s);
    assert_int_equal(status_state_parse("runnin"), -1);
    assert_string_equal(status_state_name(ST_KILLED), "killed");
}

static void test_status_copy_is_deep(void **state)
{
    struct status a = {.state = ST_STOPPED, .exit_code = 7};
    a.tail = strdup("boom\n");
    struct status b;
    status_copy(&b, &a);
    assert_ptr_not_equal(a.tail, b.tail);
    assert_string_equal(b.tail, "boom\n");
    status_clear(&a);
    assert_null(a.tail);
    assert_string_equal(b.tail, "boom\n");
    status_clear(&b);
}

/* ---- restart policy ---- */

static struct status ended(enum proc_state s, int code, double started)
{
    struct status st = {.state = s, .exit_code = code, .started_at = started};
    return st;
}

static void test_on_failure_restarts_only_after_failure(void **state)
{
    struct restart_policy p;
    restart_policy_default(&p);
    p.jitter = 0;
    struct restart_state rs = {0};
    char *why;
    struct status ok = ended(ST_STOPPED, 0, 1), bad = ended(ST_STOPPED, 3, 1);
    struct status sig = ended(ST_KILLED, 0, 1), failed = ended(ST_FAILED, 0, 0);
    assert_true(restart_decide(&p, &rs, &ok, 2, 0, &why) < 0);
    assert_true(restart_decide(&p, &rs, &bad, 2, 0, &why) >= 0);
    assert_true(restart_decide(&p, &rs, &sig, 2, 0, &why) >= 0);
    assert_true(restart_decide(&p, &rs, &failed, 2, 0, &why) >= 0);
    restart_state_free(&rs);
}

static void test_always_and_never(void **state)
{
    struct restart_policy p;
    restart_policy_default(&p);
    struct restart_state rs = {0};
    char *why;
    struct status ok = ended(ST_STOPPED, 0, 1);
    p.mode = RESTART_ALWAYS;
    assert_true(restart_decide(&p, &rs, &ok, 2, 0, &why) >= 0);
    p.mode = RESTART_NEVER;
    struct status bad = ended(ST_KILLED, 0, 1);
    assert_true(restart_decide(&p, &rs, &bad, 2, 0, &why) < 0);
    assert_null(why);
    restart_state_free(&rs);
}

static void test_backoff_doubles_up_to_max(void **state)
{
    struct restart_policy p;
    restart_policy_default(&p);
    p.mode = RESTART_ALWAYS;
    p.initial = 0.1;
    p.factor = 2;
    p.max = 1;
    p.jitter = 0;
    struct restart_state rs = {0};
    char *why;
    double want[] = {0.1, 0.2, 0.4, 0.8, 1, 1, 1};
    for (size_t i = 0; i < 7; i++) {
        struct status st = ended(ST_STOPPED, 1, 10 + i);
        assert_float_equal(restart_decide(&p, &rs, &st, 10 + i + 0.5, 0, &why), want[i], 1e-9);
    }
    restart_state_free(&rs);
}

static void test_backoff_resets_after_a_stable_run(void **state)
{
    struct restart_policy p;
    restart_policy_default(&p);
    p.jitter = 0;
    p.reset_after = 60;
    struct restart_state rs = {0};
    char *why;
    struct status st = ended(ST_STOPPED, 1, 0);
    restart_decide(&p, &rs, &st, 1, 0, &why);
    restart_decide(&p, &rs, &st, 2, 0, &why);
    assert_float_equal(restart_decide(&p, &rs, &st, 3, 0, &why), 0.4, 1e-9);
    struct status stable = ended(ST_STOPPED, 1, 100);
    assert_float_equal(restart_decide(&p, &rs, &stable, 161, 0, &why), 0.1, 1e-9);
    restart_state_free(&rs);
}

static void test_jitter_stays_within_its_fraction(void **state)
{
    struct restart_policy p;
    restart_policy_default(&p);
    p.mode = RESTART_ALWAYS;
    p.initial = 1;
    p.factor = 1;
    p.jitter = 0.1;
    struct restart_state rs = {0};
    char *why;
    struct status st = ended(ST_STOPPED, 1, 0);
    assert_float_equal(restart_decide(&p, &rs, &st, 1, 1, &why), 1.1, 1e-9);
    assert_float_equal(restart_decide(&p, &rs, &st, 1, -1, &why), 0.9, 1e-9);
    assert_float_equal(restart_decide(&p, &rs, &st, 1, 0, &why), 1.0, 1e-9);
    restart_state_free(&rs);
}

static void test_give_up_on_the_exit_past_the_limit(void **state)
{
    struct restart_policy p;
    restart_policy_default(&p);
    p.mode = RESTART_ALWAYS;
    p.give_up_restarts = 5;
    p.give_up_within = 30;
    struct restart_state rs = {0};
    char *why = NULL;
    struct status st = ended(ST_STOPPED, 1, 0);
    for (int i = 0; i < 5; i++) {
        assert_true(restart_decide(&p, &rs, &st, 100 + i, 0, &why) >= 0);
        assert_null(why);
    }
    /* the 6th exit within 30 s gives up */
    assert_true(restart_decide(&p, &rs, &st, 105, 0, &why) < 0);
    assert_non_null(why);
    assert_non_null(strstr(why, "5 restarts within 30s"));
    free(why);
    restart_state_free(&rs);
}

static void test_give_up_window_slides(void **state)
{
    struct restart_policy p;
    restart_policy_default(&p);
    p.mode = RESTART_ALWAYS;
    p.give_up_restarts = 2;
    p.give_up_within = 10;
    struct restart_state rs = {0};
    char *why = NULL;
    struct status st = ended(ST_STOPPED, 1, 0);
    /* exits 6 s apart: never three within 10 s */
    for (int i = 0; i < 20; i++) {
        assert_true(restart_decide(&p, &rs, &st, 100 + 6.0 * i, 0, &why) >= 0);
        assert_null(why);
    }
    /* the last exits were at 208 and 214: 219 makes three within 11 s,
     * 220 three within 6 s */
    assert_true(restart_decide(&p, &rs, &st, 219, 0, &why) >= 0);
    assert_true(restart_decide(&p, &rs, &st, 220, 0, &why) < 0);
    free(why);
    restart_state_free(&rs);
}

static void test_restart_mode_names(void **state)
{
    assert_int_equal(restart_mode_parse("always"), RESTART_ALWAYS);
    assert_int_equal(restart_mode_parse("on-failure"), RESTART_ON_FAILURE);
    assert_int_equal(restart_mode_parse("never"), RESTART_NEVER);
    assert_int_equal(restart_mode_parse("sometimes"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_transition_allowed_or_refused),
        cmocka_unit_test(test_terminal_states_absorb),
        cmocka_unit_test(test_no_move_goes_backward),
        cmocka_unit_test(test_pending_is_never_entered),
        cmocka_unit_test(test_state_names_round_trip),
        cmocka_unit_test(test_status_copy_is_deep),
        cmocka_unit_test(test_on_failure_restarts_only_after_failure),
        cmocka_unit_test(test_always_and_never),
        cmocka_unit_test(test_backoff_doubles_up_to_max),
        cmocka_unit_test(test_backoff_resets_after_a_stable_run),
        cmocka_unit_test(test_jitter_stays_within_its_fraction),
        cmocka_unit_test(test_give_up_on_the_exit_past_the_limit),
        cmocka_unit_test(test_give_up_window_slides),
        cmocka_unit_test(test_restart_mode_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
