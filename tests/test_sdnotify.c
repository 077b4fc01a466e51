/* test_sdnotify.c -- tend under a Type=notify supervisor: READY=1 once
 * every autostart proc is ready, STOPPING=1 on shutdown, and the procs do
 * not inherit tend's NOTIFY_SOCKET. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

/* The next datagram on fd within `timeout` seconds, or "" on timeout. */
static const char *receive(int fd, double timeout)
{
    static char buf[4096];
    struct pollfd pfd = {fd, POLLIN, 0};
    buf[0] = '\0';
    if (poll(&pfd, 1, (int)(timeout * 1000)) == 1) {
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
    }
    return buf;
}

static void test_ready_once_every_autostart_proc_is_ready_then_stopping(void **state)
{
    char *dir = tmpdir_new();
    char sock[sizeof ((struct sockaddr_un *)0)->sun_path], policy[4096];
    assert_true((size_t)snprintf(sock, sizeof sock, "%s/notify", dir) < sizeof sock);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, sock, sizeof sock);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    snprintf(policy, sizeof policy,
             "tend.proc { name = 'quick', cmd = { 'sleep', '300' } }\n"
             "tend.proc { name = 'slow', cmd = { 'sh', '-c',\n"
             "  'echo \"inherited=${NOTIFY_SOCKET:-none}\"; sleep 0.4; echo >&3; exec sleep 300' },\n"
             "  ready = tend.ready.fd(3) }\n"
             "tend.proc { name = 'manual', cmd = { 'sleep', '300' }, autostart = false }\n");
    char *path = write_file(dir, "policy.lua", policy);
    setenv("NOTIFY_SOCKET", sock, 1);
    struct tend_run *t = tend_start((const char *[]){"run", path, NULL});
    unsetenv("NOTIFY_SOCKET");
    assert_true(tend_expect(t, 1, "slow | inherited=none", DEADLINE));
    /* slow needs 0.4 s more to be ready: no READY=1 before that */
    assert_string_equal(receive(fd, 0.2), "");
    /* not before slow is ready (manual is not autostart: not waited for) */
    assert_true(tend_expect(t, 2, "slow: started", DEADLINE));
    const char *msg = receive(fd, DEADLINE);
    assert_string_equal(msg, "READY=1");
    assert_non_null(strstr(t->err, "slow: started"));
    kill(t->pid, SIGTERM);
    assert_string_equal(receive(fd, DEADLINE), "STOPPING=1");
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    close(fd);
    free(path);
    tmpdir_free(dir);
}

/* An autostart proc stopped while it waited for its `after` procs is not
 * waited for: READY=1 comes once the rest is ready. */
static void test_ready_without_a_proc_stopped_before_it_ran(void **state)
{
    char *dir = tmpdir_new();
    char sock[sizeof ((struct sockaddr_un *)0)->sun_path], ctl[4200];
    assert_true((size_t)snprintf(sock, sizeof sock, "%s/notify", dir) < sizeof sock);
    snprintf(ctl, sizeof ctl, "%s/tend.sock", dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, sock, sizeof sock);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char *path = write_file(dir, "policy.lua",
        "tend.proc { name = 'db', ready = tend.ready.fd(3), cmd = { 'sh', '-c',\n"
        "  'while [ ! -e go ]; do sleep 0.02; done; echo >&3; exec sleep 300' }, cwd = '.' }\n"
        "tend.proc { name = 'web', cmd = { 'sleep', '300' }, after = { 'db' } }\n");
    setenv("NOTIFY_SOCKET", sock, 1);
    setenv("TEND_SOCKET", ctl, 1);
    struct tend_run *t = tend_start((const char *[]){"run", path, NULL});
    unsetenv("NOTIFY_SOCKET");
    assert_true(tend_expect(t, 2, "db: started", DEADLINE));
    struct tend_run *c = tend_run_sync((const char *[]){"stop", "web", NULL}, DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    tend_free(c);
    free(write_file(dir, "go", ""));
    assert_string_equal(receive(fd, DEADLINE), "READY=1");
    kill(t->pid, SIGTERM);
    assert_string_equal(receive(fd, DEADLINE), "STOPPING=1");
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    assert_null(strstr(t->err, "web: started"));
    unsetenv("TEND_SOCKET");
    tend_free(t);
    close(fd);
    free(path);
    tmpdir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_once_every_autostart_proc_is_ready_then_stopping),
        cmocka_unit_test(test_ready_without_a_proc_stopped_before_it_ran),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
