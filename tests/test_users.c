/* test_users.c -- a declaration's `user` is looked up in the name service
 * once a run of tend: a reload (which loads the file again, on the loop)
 * reuses the answer, so a slow name service (LDAP, NIS) cannot stall the
 * loop for a user it already knows; only a user new at a reload is looked
 * up then.
 *
 * This program counts the lookups by defining getpwnam and getpwuid
 * itself (the policy code linked in calls these, not libc's), passing each
 * call on to libc's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "policy/policy.h"

static int lookups;

struct passwd *getpwnam(const char *name)
{
    static struct passwd *(*real)(const char *);
    if (!real)
        real = (struct passwd * (*)(const char *)) dlsym(RTLD_NEXT, "getpwnam");
    lookups++;
    return real(name);
}

struct passwd *getpwuid(uid_t uid)
{
    static struct passwd *(*real)(uid_t);
    if (!real)
        real = (struct passwd * (*)(uid_t)) dlsym(RTLD_NEXT, "getpwuid");
    lookups++;
    return real(uid);
}

static char *dir;

static int setup(void **state)
{
    dir = tmpdir_new();
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    tmpdir_free(dir);
    return 0;
}

/* Load `text` as a policy file; its spec of proc `name`'s uid. */
static uid_t load_uid(const char *text)
{
    char *path = write_file(dir, "p.lua", text);
    char *err = NULL;
    struct policy *pol = policy_load(path, &err);
    if (!pol)
        fail_msg("did not load: %s", err);
    uid_t uid = pol->specs[0]->uid;
    policy_free(pol);
    free(path);
    return uid;
}

static void test_a_user_is_looked_up_once_a_run(void **state)
{
    static const char text[] =
        "tend.proc { name = 'a', cmd = { '/bin/true' }, user = 'nobody' }\n"
        "tend.proc { name = 'b', cmd = { '/bin/true' }, user = 'nobody' }\n";
    struct passwd *pw = getpwnam("nobody");
    if (!pw)
        skip();  /* no user 'nobody' on this machine */
    uid_t want = pw->pw_uid;
    lookups = 0;
    assert_int_equal(load_uid(text), want);
    assert_int_equal(lookups, 1);  /* two procs, one lookup */
    assert_int_equal(load_uid(text), want);  /* a reload: none */
    assert_int_equal(lookups, 1);
    assert_int_equal(load_uid("tend.proc { name = 'a', cmd = { '/bin/true' }, user = '0' }\n"), 0);
    assert_int_equal(lookups, 2);  /* a user new at a reload: looked up then */
    assert_int_equal(load_uid("tend.proc { name = 'a', cmd = { '/bin/true' }, user = '0' }\n"), 0);
    assert_int_equal(lookups, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_user_is_looked_up_once_a_run, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
