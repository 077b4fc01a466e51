/* test_users.c -- a declaration's `user` is looked up in the name service
 * once a run of tend: a reload (which loads the file again, on the loop)
 * reuses the answer, so a slow name service (LDAP, NIS) cannot stall the
 * loop for a user it already knows; a user new at a reload is looked up
 * on a thread, and the reload is applied once it is answered.
 *
 * This program stands in for the name service's slowness by defining
 * getpwnam_r and getpwuid_r itself (the policy code linked in calls
 * these, not libc's): each call is counted and passed on to libc's; a
 * name that starts with "slow-" is looked up as "nobody", once the test
 * opens a gate (a pipe), which it does only after it saw the loop run
 * while the look-up waited. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <lua.h>

#include "harness.h"
#include "base/util.h"
#include "base/status.h"
#include "core/manager.h"
#include "core/proc.h"
#include "core/spec.h"
#include "policy/policy.h"
#include "policy/users.h"

static int lookups;
static int gate[2] = {-1, -1}, entered[2] = {-1, -1};
static pthread_t main_thread;
static bool slow_on_main;

int getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t size,
               struct passwd **res)
{
    static int (*real)(const char *, struct passwd *, char *, size_t, struct passwd **);
    if (!real)
        real = (int (*)(const char *, struct passwd *, char *, size_t, struct passwd **))
            dlsym(RTLD_NEXT, "getpwnam_r");
    __atomic_add_fetch(&lookups, 1, __ATOMIC_SEQ_CST);
    if (strncmp(name, "slow-", 5) == 0) {
        name = "nobody";
        if (pthread_equal(pthread_self(), main_thread)) {
            slow_on_main = true;  /* the loop's thread: a failure, not a hang */
        } else {
            char c = 0;
            (void)!write(entered[1], &c, 1);
            (void)!read(gate[0], &c, 1);  /* until the test opens it */
        }
    }
    return real(name, pw, buf, size, res);
}

int getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t size, struct passwd **res)
{
    static int (*real)(uid_t, struct passwd *, char *, size_t, struct passwd **);
    if (!real)
        real = (int (*)(uid_t, struct passwd *, char *, size_t, struct passwd **))
            dlsym(RTLD_NEXT, "getpwuid_r");
    __atomic_add_fetch(&lookups, 1, __ATOMIC_SEQ_CST);
    return real(uid, pw, buf, size, res);
}

static char *dir;

static int setup(void **state)
{
    dir = tmpdir_new();
    slow_on_main = false;
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

/* ---- a reload with a user new to the run, on a running policy ---- */

/* One loop for the program: the reaper (a process-wide singleton) stays
 * bound to the loop it first saw. */
static struct ev_loop *loop;

struct run {
    struct ev_loop *loop;
    struct manager *m;
    struct policy *pol;
    char *path;
    bool answered;
    int rc;
    char *msg;
};

static void run_start(struct run *r, const char *text)
{
    memset(r, 0, sizeof *r);
    r->path = write_file(dir, "p.lua", text);
    char *err = NULL;
    r->pol = policy_load(r->path, &err);
    if (!r->pol)
        fail_msg("did not load: %s", err);
    r->loop = loop;
    r->m = manager_new(r->loop);
    policy_attach(r->pol, r->m, r->loop);
}

static void run_end(struct run *r)
{
    policy_free(r->pol);
    manager_free(r->m);
    free(r->path);
    free(r->msg);
}

static void reloaded(void *data, int rc, const char *msg)
{
    struct run *r = data;
    r->answered = true;
    r->rc = rc;
    r->msg = strdup(msg ? msg : "");
}

/* Whether the Lua global `name` is a string. */
static bool global_set(struct run *r, const char *name)
{
    lua_getglobal(r->pol->L, name);
    bool yes = lua_isstring(r->pol->L, -1);
    lua_pop(r->pol->L, 1);
    return yes;
}

static bool spawned(void *data)
{
    return global_set(data, "SPAWNED");
}

static bool late_ended(void *data)
{
    struct run *r = data;
    struct proc *p = manager_get(r->m, "late");
    return p && status_is_terminal(proc_status(p)->state);
}

static bool b_ended(void *data)
{
    struct run *r = data;
    struct proc *p = manager_get(r->m, "b");
    return p && status_is_terminal(proc_status(p)->state);
}

static bool spawn_failed(void *data)
{
    return global_set(data, "SPAWN_ERR");
}

static bool answered(void *data)
{
    return ((struct run *)data)->answered;
}

/* Whether the slow look-up began within DEADLINE. */
static bool lookup_entered(void)
{
    struct pollfd p = {entered[0], POLLIN, 0};
    if (poll(&p, 1, (int)(DEADLINE * 1000)) != 1)
        return false;
    char c;
    return read(entered[0], &c, 1) == 1;
}

/* Write the policy file anew (its path is the run's). */
static void rewrite(const char *name, const char *text)
{
    free(write_file(dir, name, text));
}

static const struct spec *spec_of(struct manager *m, const char *name)
{
    struct proc *p = manager_get(m, name);
    assert_non_null(p);
    return proc_spec(p);
}

static void test_a_user_new_at_a_reload_is_looked_up_off_the_loop(void **state)
{
    struct passwd *pw = getpwnam("nobody");
    if (!pw)
        skip();
    uid_t nobody = pw->pw_uid;
    struct run r;
    run_start(&r, "tend.proc { name = 'a', cmd = { '/bin/true' }, autostart = false }\n");
    rewrite("p.lua",
               "tend.proc { name = 'a', cmd = { '/bin/true' }, autostart = false }\n"
               "tend.proc { name = 'b', cmd = { '/bin/true' }, autostart = false,\n"
               "            user = 'slow-one' }\n"
               "tend.proc { name = 'c', cmd = { '/bin/true' }, autostart = false,\n"
               "            user = 'slow-one', replicas = 2 }\n");
    manager_reload(r.m, reloaded, &r);
    assert_false(r.answered);  /* not from the call: the look-up is under way */
    assert_true(lookup_entered());
    /* the loop turns while the name service keeps the look-up waiting */
    ev_run(r.loop, EVRUN_NOWAIT);
    assert_false(r.answered);
    assert_null(manager_get(r.m, "b"));
    /* a second reload meanwhile is refused, and says why */
    struct run other = {0};
    manager_reload(r.m, reloaded, &other);
    assert_true(other.answered);
    assert_int_equal(other.rc, -1);
    assert_non_null(strstr(other.msg, "a reload is under way"));
    free(other.msg);

    char c = 1;
    assert_int_equal(write(gate[1], &c, 1), 1);
    assert_true(loop_until(r.loop, answered, &r, DEADLINE));
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.msg, "3 new, 0 changed, 0 removed, 1 unchanged");
    assert_false(slow_on_main);
    const char *names[] = {"b", "c@1", "c@2"};
    for (int i = 0; i < 3; i++) {
        const struct spec *s = spec_of(r.m, names[i]);
        assert_int_equal(s->uid, nobody);
        assert_string_equal(s->user, "nobody");
    }
    run_end(&r);
}

static void test_an_unknown_user_at_a_reload_is_refused_as_at_load(void **state)
{
    static const char bad[] =
        "tend.proc { name = 'a', cmd = { '/bin/true' }, autostart = false }\n"
        "tend.proc { name = 'b', cmd = { '/bin/true' }, user = 'no-such-user-7f3a' }\n";
    struct run r;
    run_start(&r, "tend.proc { name = 'a', cmd = { '/bin/true' }, autostart = false }\n");
    char *path = write_file(dir, "q.lua", bad), *err = NULL;
    assert_null(policy_load(path, &err));  /* what the first load says */
    rewrite("p.lua", bad);
    manager_reload(r.m, reloaded, &r);
    assert_true(loop_until(r.loop, answered, &r, DEADLINE));
    assert_int_equal(r.rc, -1);
    /* the same words, for the same file under another name */
    char *want = strdup(err);
    char *q = strstr(want, "q.lua");
    assert_non_null(q);
    q[0] = 'p';
    assert_string_equal(r.msg, want);
    assert_null(manager_get(r.m, "b"));
    free(want);
    free(err);
    free(path);
    run_end(&r);
}

static void test_a_silent_name_service_refuses_the_reload_in_time(void **state)
{
    setenv("TEND_USERS_TIMEOUT", "0.2", 1);
    struct run r;
    run_start(&r, "tend.proc { name = 'a', cmd = { '/bin/true' }, autostart = false }\n");
    rewrite("p.lua",
               "tend.proc { name = 'b', cmd = { '/bin/true' }, user = 'slow-two' }\n");
    manager_reload(r.m, reloaded, &r);
    assert_true(lookup_entered());
    assert_true(loop_until(r.loop, answered, &r, DEADLINE));
    unsetenv("TEND_USERS_TIMEOUT");
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.msg, "did not answer for user 'slow-two' within 0.2 s"));
    assert_null(manager_get(r.m, "b"));
    assert_non_null(manager_get(r.m, "a"));
    /* the thread, let go now, finishes alone */
    char c = 1;
    assert_int_equal(write(gate[1], &c, 1), 1);
    run_end(&r);
}

/* tend.spawn from a task, with a user new to the run: the task waits while
 * the name service answers off the loop; an unknown user is the spawn's
 * error, as a declaration's at load. */
static void test_a_spawn_with_a_new_user_waits_off_the_loop(void **state)
{
    struct passwd *pw = getpwnam("nobody");
    if (!pw)
        skip();
    uid_t nobody = pw->pw_uid;
    struct run r;
    run_start(&r,
              "tend.proc { name = 'a', cmd = { '/bin/true' }, autostart = false }\n"
              "tend.task(function()\n"
              "  local ok, err = pcall(function() return tend.spawn {\n"
              "    name = 'ghost', cmd = { '/bin/true' }, user = 'no-such-user-7f3a' } end)\n"
              "  SPAWN_ERR = err\n"
              "  local p = tend.spawn { name = 'late', cmd = { '/bin/true' }, restart = 'never',\n"
              "                         user = 'slow-three' }\n"
              "  SPAWNED = p.name\n"
              "end)\n");
    manager_start(r.m);
    policy_run_tasks(r.pol);
    /* the unknown user: answered from the thread, through the loop */
    assert_true(loop_until(r.loop, spawn_failed, &r, DEADLINE));
    assert_true(lookup_entered());
    ev_run(r.loop, EVRUN_NOWAIT);  /* the loop turns meanwhile */
    assert_null(manager_get(r.m, "late"));
    lua_State *L = r.pol->L;
    lua_getglobal(L, "SPAWN_ERR");
    const char *err = lua_tostring(L, -1);
    assert_non_null(err);
    print_message("the spawn's error: %s\n", err);
    assert_non_null(strstr(err, "p.lua:3: proc 'ghost': field 'user': unknown user "
                                "'no-such-user-7f3a'"));
    lua_pop(L, 1);
    char c = 1;
    assert_int_equal(write(gate[1], &c, 1), 1);
    assert_true(loop_until(r.loop, spawned, &r, DEADLINE));
    const struct spec *s = spec_of(r.m, "late");
    assert_int_equal(s->uid, nobody);
    assert_false(slow_on_main);
    assert_true(loop_until(r.loop, late_ended, &r, DEADLINE));  /* nothing left running */
    run_end(&r);
}

/* While a spawn waits for its user, another task takes the name: the
 * first spawn then fails as any duplicate does, rather than making a
 * second proc of that name. */
static void test_a_name_taken_while_a_spawn_waits_is_refused(void **state)
{
    struct run r;
    run_start(&r,
              "tend.task(function()\n"
              "  local ok, err = pcall(function() return tend.spawn {\n"
              "    name = 'dup', cmd = { '/bin/true' }, user = 'slow-five' } end)\n"
              "  SPAWN_ERR = err\n"
              "end)\n"
              "tend.task(function()\n"
              "  tend.spawn { name = 'dup', cmd = { '/bin/true' }, restart = 'never' }\n"
              "end)\n");
    manager_start(r.m);
    policy_run_tasks(r.pol);
    assert_true(lookup_entered());
    assert_non_null(manager_get(r.m, "dup"));  /* the second task's */
    char c = 1;
    assert_int_equal(write(gate[1], &c, 1), 1);
    assert_true(loop_until(r.loop, spawn_failed, &r, DEADLINE));
    lua_getglobal(r.pol->L, "SPAWN_ERR");
    assert_non_null(strstr(lua_tostring(r.pol->L, -1), "proc 'dup': field 'name': duplicate name"));
    lua_pop(r.pol->L, 1);
    assert_int_equal(manager_count(r.m), 1);
    run_end(&r);
}

/* A restart function may not wait: its spawn with a user new to the run
 * looks the user up at once (documented), and works. */
static void test_a_spawn_where_waiting_is_not_allowed_looks_up_at_once(void **state)
{
    struct passwd *pw = getpwnam("nobody");
    if (!pw)
        skip();
    struct run r;
    run_start(&r,
              "tend.proc { name = 'a', cmd = { '/bin/true' },\n"
              "  restart = function()\n"
              "    tend.spawn { name = 'b', cmd = { '/bin/true' }, restart = 'never',\n"
              "                 user = 'slow-six' }\n"
              "    return false\n"
              "  end }\n");
    manager_start(r.m);
    assert_true(loop_until(r.loop, b_ended, &r, DEADLINE));
    assert_true(slow_on_main);  /* looked up on the spot: no thread to outlive it */
    assert_int_equal(spec_of(r.m, "b")->uid, pw->pw_uid);
    run_end(&r);
}

/* A name service that never answers keeps each look-up's thread: after
 * eight of them are stuck, a reload that needs one more is refused at
 * once and says why, rather than start threads without end. */
static void test_stuck_look_ups_are_capped(void **state)
{
    setenv("TEND_USERS_TIMEOUT", "0.05", 1);
    struct run r;
    run_start(&r, "tend.proc { name = 'a', cmd = { '/bin/true' }, autostart = false }\n");
    char text[256];
    int stuck = 0;  /* (a thread let go by an earlier test may still be ending) */
    for (; stuck <= 8; stuck++) {
        snprintf(text, sizeof text,
                 "tend.proc { name = 'b', cmd = { '/bin/true' }, user = 'slow-stuck%d' }\n",
                 stuck);
        rewrite("p.lua", text);
        r.answered = false;
        free(r.msg);
        r.msg = NULL;
        manager_reload(r.m, reloaded, &r);
        if (r.answered)
            break;  /* refused at once */
        assert_true(lookup_entered());
        assert_true(loop_until(r.loop, answered, &r, DEADLINE));
        assert_non_null(strstr(r.msg, "did not answer"));
    }
    unsetenv("TEND_USERS_TIMEOUT");
    assert_true(stuck == 8 || stuck == 7);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.msg, "too many look-ups are stuck in the name service"));
    /* let them go: each finishes alone, and is gone before the program
     * ends (or valgrind counts its stack) */
    char go[8] = {0};
    assert_int_equal(write(gate[1], go, (size_t)stuck), (ssize_t)stuck);
    double end = now_mono() + DEADLINE;
    while (users_threads() > 0 && now_mono() < end) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);  /* a thread's end has no event to wait on */
    }
    assert_int_equal(users_threads(), 0);
    run_end(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_user_is_looked_up_once_a_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_user_new_at_a_reload_is_looked_up_off_the_loop,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_unknown_user_at_a_reload_is_refused_as_at_load,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_silent_name_service_refuses_the_reload_in_time,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_spawn_with_a_new_user_waits_off_the_loop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_name_taken_while_a_spawn_waits_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_spawn_where_waiting_is_not_allowed_looks_up_at_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_stuck_look_ups_are_capped, setup, teardown),
    };
    /* one gate and one "entered" pipe for the whole run: a thread let go
     * by a test may still be reading its byte when the next one starts */
    main_thread = pthread_self();
    loop = ev_loop_new(EVFLAG_AUTO);
    if (pipe(gate) != 0 || pipe(entered) != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
