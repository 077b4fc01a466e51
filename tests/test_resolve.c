/* test_resolve.c -- host names looked up off the loop (resolve.c): the
 * answer comes on the loop, an abandoned lookup never answers, the bound on
 * lookups in flight holds, and the loop is left with no active watcher once
 * every lookup, abandoned ones included, is over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "base/resolve.h"

static struct ev_loop *loop;

struct answer {
    int calls;
    int family;
    int port;
    char err[256];
};

static void answered(const struct sockaddr *sa, socklen_t len, const char *err, void *data)
{
    struct answer *a = data;
    a->calls++;
    if (sa) {
        a->family = sa->sa_family;
        if (sa->sa_family == AF_INET)
            a->port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
        else if (sa->sa_family == AF_INET6)
            a->port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    } else {
        snprintf(a->err, sizeof a->err, "%s", err);
    }
}

static bool has_answer(void *arg)
{
    return ((struct answer *)arg)->calls > 0;
}

/* ev_run without a timer of its own returns once no watcher is active:
 * the resolver's ev_async must be stopped when nothing is in flight. */
static void run_until_idle(void)
{
    ev_run(loop, 0);
}

static void test_localhost_is_answered_on_the_loop(void **state)
{
    struct answer a = {0};
    char *err = NULL;
    struct resolve *r = resolve_start(loop, "localhost", "8080", answered, &a, &err);
    assert_non_null(r);
    assert_int_equal(a.calls, 0);  /* never from resolve_start itself */
    assert_true(loop_until(loop, has_answer, &a, DEADLINE));
    assert_int_equal(a.calls, 1);
    assert_true(a.family == AF_INET || a.family == AF_INET6);
    assert_int_equal(a.port, 8080);
    run_until_idle();
    assert_int_equal(a.calls, 1);
}

static void test_a_name_that_does_not_resolve_says_so(void **state)
{
    setenv("RES_OPTIONS", "timeout:1 attempts:1", 1);
    struct answer a = {0};
    char *err = NULL;
    assert_non_null(resolve_start(loop, "no-such-host.invalid", "1", answered, &a, &err));
    assert_true(loop_until(loop, has_answer, &a, DEADLINE));
    assert_int_equal(a.family, 0);
    assert_non_null(strstr(a.err, "resolve no-such-host.invalid: "));
    run_until_idle();
}

static void test_an_abandoned_lookup_never_answers(void **state)
{
    struct answer gone = {0}, kept = {0};
    char *err = NULL;
    struct resolve *r = resolve_start(loop, "localhost", "1", answered, &gone, &err);
    assert_non_null(r);
    resolve_cancel(r);
    assert_non_null(resolve_start(loop, "localhost", "2", answered, &kept, &err));
    assert_true(loop_until(loop, has_answer, &kept, DEADLINE));
    run_until_idle();  /* the abandoned one is over too */
    assert_int_equal(gone.calls, 0);
    assert_int_equal(kept.calls, 1);
}

/* Two waits for the same name: each gets the answer once, and one that
 * gives up does not take the answer from the other. */
static void test_waits_for_the_same_name(void **state)
{
    struct answer a = {0}, b = {0}, c = {0};
    char *err = NULL;
    assert_non_null(resolve_start(loop, "localhost", "7", answered, &a, &err));
    struct resolve *rb = resolve_start(loop, "localhost", "7", answered, &b, &err);
    assert_non_null(rb);
    assert_non_null(resolve_start(loop, "localhost", "7", answered, &c, &err));
    resolve_cancel(rb);
    run_until_idle();
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 0);
    assert_int_equal(c.calls, 1);
    assert_int_equal(a.port, 7);
    assert_int_equal(c.port, 7);
}

static void test_lookups_in_flight_are_bounded(void **state)
{
    static struct answer a[RESOLVE_MAX + 1];
    struct resolve *r[RESOLVE_MAX];
    char *err = NULL;
    char port[16];
    for (int i = 0; i < RESOLVE_MAX; i++) {
        snprintf(port, sizeof port, "%d", 1000 + i);  /* each a lookup of its own */
        r[i] = resolve_start(loop, "localhost", port, answered, &a[i], &err);
        assert_non_null(r[i]);
    }
    assert_null(resolve_start(loop, "localhost", "999", answered, &a[RESOLVE_MAX], &err));
    assert_non_null(err);
    assert_non_null(strstr(err, "lookups in flight"));
    free(err);
    /* half abandoned, half awaited: only the awaited ones answer */
    for (int i = 0; i < RESOLVE_MAX; i += 2)
        resolve_cancel(r[i]);
    run_until_idle();
    for (int i = 0; i < RESOLVE_MAX; i++)
        assert_int_equal(a[i].calls, i % 2);
    assert_int_equal(a[RESOLVE_MAX].calls, 0);
    /* and the room is back */
    struct answer b = {0};
    assert_non_null(resolve_start(loop, "localhost", "1", answered, &b, &err));
    run_until_idle();
    assert_int_equal(b.calls, 1);
}

int main(void)
{
    loop = ev_loop_new(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_localhost_is_answered_on_the_loop),
        cmocka_unit_test(test_a_name_that_does_not_resolve_says_so),
        cmocka_unit_test(test_an_abandoned_lookup_never_answers),
        cmocka_unit_test(test_waits_for_the_same_name),
        cmocka_unit_test(test_lookups_in_flight_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
