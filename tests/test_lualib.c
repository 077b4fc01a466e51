/* test_lualib.c -- runs the Lua unit tests of the bundled library
 * (the files tests/lua/NAME_test.lua): each is a policy file whose asserts must hold
 * while it loads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy/policy.h"

static void run_lua_test(void **state)
{
    const char *path = *state;
    char *err = NULL;
    struct policy *pol = policy_load(path, &err);
    if (!pol)
        fail_msg("%s", err);
    policy_free(pol);
}

int main(void)
{
    glob_t g;
    if (glob("tests/lua/*_test.lua", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        fprintf(stderr, "no tests/lua/*_test.lua (run from the top of the tree)\n");
        return 1;
    }
    struct CMUnitTest *tests = calloc(g.gl_pathc, sizeof *tests);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        tests[i].name = g.gl_pathv[i];
        tests[i].test_func = run_lua_test;
        tests[i].initial_state = g.gl_pathv[i];
    }
    int rc = _cmocka_run_group_tests("lua library", tests, g.gl_pathc, NULL, NULL);
    free(tests);
    globfree(&g);
    return rc;
}
