/* test_status.c -- the transition table, without any process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/restart.h"
#include "base/status.h"

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

/* ---- restart modes (the decisions are tested in tests/lua/restart_test.lua) ---- */

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
        cmocka_unit_test(test_restart_mode_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
