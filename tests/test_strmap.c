/* test_strmap.c -- the string hash map against a plain array, through
 * random puts and deletes (deletion by backward shift is the subtle part). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strmap.h"

#define NKEYS 3000

static char keys[NKEYS][16];
static void *ref[NKEYS];  /* the value each key should have, or NULL */

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

static void check_all(const struct strmap *m)
{
    size_t n = 0;
    for (size_t i = 0; i < NKEYS; i++) {
        assert_ptr_equal(strmap_get(m, keys[i]), ref[i]);
        n += ref[i] != NULL;
    }
    assert_int_equal(m->n, n);
}

static void test_random_puts_and_deletes_agree_with_an_array(void **state)
{
    for (size_t i = 0; i < NKEYS; i++)
        snprintf(keys[i], sizeof keys[i], "k%zu", i * 7919 % 100003);
    struct strmap m = {0};
    assert_null(strmap_get(&m, "nothing"));
    assert_null(strmap_del(&m, "nothing"));
    for (int round = 0; round < 200000; round++) {
        size_t i = rnd() % NKEYS;
        if (rnd() % 3) {
            void *v = (void *)(uintptr_t)(round + 1);
            strmap_put(&m, keys[i], v);
            ref[i] = v;
        } else {
            assert_ptr_equal(strmap_del(&m, keys[i]), ref[i]);
            ref[i] = NULL;
        }
        if (round % 20000 == 0)
            check_all(&m);
    }
    check_all(&m);
    strmap_clear(&m);
    memset(ref, 0, sizeof ref);
    check_all(&m);
    strmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_puts_and_deletes_agree_with_an_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
