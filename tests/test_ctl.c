/* test_ctl.c -- the control socket and the client commands (SPEC 2, 7, 8),
 * through the real binary: a `tend run` per test, driven by `tend status`,
 * `tend stop`, ... and by raw connections that misbehave.
 *
 * Every wait is on something observable -- an answer, a line of output, a
 * process's end -- and bounded by DEADLINE; nothing sleeps.  Each test
 * gets a fresh directory holding its policy file and its socket
 * (TEND_SOCKET points there); every process it starts carries
 * TEND_TEST_TAG=<that directory> and is SIGKILLed at teardown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control/ctl.h"
#include "control/statusjson.h"
#include "harness.h"
#include "base/util.h"

#define TAG_VAR "TEND_TEST_TAG"
#define MAX_CLIENTS 16

struct fx {
    char *dir;            /* this test's directory */
    char *sock;           /* dir/tend.sock */
    char *policy;         /* dir/policy.lua once written */
    struct tend_run *t;   /* the tend under test */
    struct tend_run *t2;  /* a second tend */
    struct tend_run *clients[MAX_CLIENTS];
    size_t nclients;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tmpdir_new();
    if (!f->dir)
        return -1;
    if (asprintf(&f->sock, "%s/tend.sock", f->dir) < 0)
        return -1;
    setenv(TAG_VAR, f->dir, 1);
    setenv("TEND_SOCKET", f->sock, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < f->nclients; i++)
        tend_free(f->clients[i]);
    tend_free(f->t);
    tend_free(f->t2);
    procs_kill_tagged(TAG_VAR, f->dir, DEADLINE);
    unsetenv(TAG_VAR);
    unsetenv("TEND_SOCKET");
    unsetenv("TEND_CTL_IDLE");  /* a test that failed before it unset it */
    tmpdir_free(f->dir);
    free(f->sock);
    free(f->policy);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void dump(const struct tend_run *t)
{
    if (t)
        fprintf(stderr, "---- stdout:\n%s\n---- stderr:\n%s\n----\n", t->out, t->err);
}

/* Write the policy file, "@D" standing for the test's directory. */
static void policy(struct fx *f, const char *text)
{
    size_t cap = strlen(text) * 2 + 4096, n = 0;
    char *s = malloc(cap);
    for (const char *p = text; *p;) {
        if (p[0] == '@' && p[1] == 'D') {
            n += (size_t)sprintf(s + n, "%s", f->dir);
            p += 2;
        } else {
            s[n++] = *p++;
        }
    }
    s[n] = '\0';
    free(f->policy);
    f->policy = write_file(f->dir, "policy.lua", s);
    free(s);
}

static const char *in_dir(const struct fx *f, const char *name)
{
    static char slots[8][PATH_MAX];
    static unsigned next;
    char *p = slots[next++ % 8];
    snprintf(p, PATH_MAX, "%s/%s", f->dir, name);
    return p;
}

#define expect_out(t, stream, needle)                                              \
    do {                                                                           \
        if (!tend_expect((t), (stream), (needle), DEADLINE)) {                     \
            dump(t);                                                               \
            fail_msg("%s:%d: not seen within %gs: \"%s\"", __FILE__, __LINE__,     \
                     DEADLINE, (needle));                                          \
        }                                                                          \
    } while (0)


/* Start tend on the policy and wait until `started` (a line of its log,
 * e.g. "web: started") shows that its socket is up. */
static struct tend_run *run(struct fx *f, const char *started)
{
    f->t = tend_start((const char *[]){"run", f->policy, NULL});
    expect_out(f->t, 0, started);
    return f->t;
}

/* Run a client command (NULL-terminated arguments) to its end. */
static struct tend_run *cli_v(struct fx *f, const char *const *args)
{
    assert_true(f->nclients < MAX_CLIENTS);
    struct tend_run *c = tend_run_sync(args, DEADLINE);
    f->clients[f->nclients++] = c;
    if (!c->exited) {
        dump(c);
        fail_msg("client `%s %s` still running after %gs", args[0],
                 args[1] ? args[1] : "", DEADLINE);
    }
    return c;
}
#define cli(f, ...) cli_v((f), (const char *[]){__VA_ARGS__, NULL})

/* A client command that must exit with `code`. */
#define expect_cli(code, f, ...)                                                   \
    ({                                                                             \
        struct tend_run *c_ = cli(f, __VA_ARGS__);                                 \
        if (run_exit_code(c_) != (code)) {                                         \
            dump(c_);                                                              \
            fail_msg("%s:%d: exit code %d, want %d", __FILE__, __LINE__,           \
                     run_exit_code(c_), (code));                                   \
        }                                                                          \
        c_;                                                                        \
    })

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The statuses `tend status --json NAME...` prints. */
static json_t *cli_status_json(struct fx *f, const char *name)
{
    struct tend_run *c = expect_cli(0, f, "status", "--json", name);
    json_error_t err;
    json_t *j = json_loads(c->out, 0, &err);
    if (!j)
        fail_msg("status --json printed no JSON (%s):\n%s", err.text, c->out);
    return j;
}

/* A field of one proc's status. */
static json_int_t status_int(struct fx *f, const char *name, const char *key)
{
    json_t *j = cli_status_json(f, name);
    json_int_t v = json_integer_value(json_object_get(json_array_get(j, 0), key));
    json_decref(j);
    return v;
}

static char *status_state(struct fx *f, const char *name)
{
    static char buf[32];
    json_t *j = cli_status_json(f, name);
    snprintf(buf, sizeof buf, "%s",
             json_string_value(json_object_get(json_array_get(j, 0), "state")));
    json_decref(j);
    return buf;
}

/* A string field of one proc's status ("" when absent). */
static char *status_str(struct fx *f, const char *name, const char *key)
{
    static char buf[256];
    json_t *j = cli_status_json(f, name);
    const char *v = json_string_value(json_object_get(json_array_get(j, 0), key));
    snprintf(buf, sizeof buf, "%s", v ? v : "");
    json_decref(j);
    return buf;
}

/* ---- raw connections ---- */

static int raw_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        fail_msg("connect %s: %s", path, strerror(errno));
    return fd;
}

static void raw_send(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail_msg("send: %s", strerror(errno));
        s += w;
        n -= (size_t)w;
    }
}

#define raw_puts(fd, s) raw_send((fd), (s), strlen(s))

/* One reply line, parsed; NULL at EOF or after DEADLINE. */
static json_t *raw_reply(int fd)
{
    char buf[1 << 16];
    size_t n = 0;
    double end = mono() + DEADLINE;
    while (n < sizeof buf - 1) {
        struct pollfd pfd = {fd, POLLIN, 0};
        double left = end - mono();
        if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
            return NULL;
        /* a byte at a time: the next reply stays in the socket */
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return NULL;
        if (buf[n] == '\n')
            return json_loadb(buf, n, 0, NULL);
        n++;
    }
    return NULL;
}

/* A reply that must have ok == `ok`; freed, its "error" kept in `err`. */
static void expect_reply(int fd, bool ok, const char *err_part)
{
    json_t *r = raw_reply(fd);
    if (!r)
        fail_msg("no reply within %gs", DEADLINE);
    if (json_is_true(json_object_get(r, "ok")) != ok) {
        char *s = json_dumps(r, 0);
        fail_msg("reply %s, want ok = %d", s, ok);
    }
    if (err_part) {
        const char *e = json_string_value(json_object_get(r, "error"));
        if (!e || !strstr(e, err_part))
            fail_msg("error \"%s\" lacks \"%s\"", e ? e : "(none)", err_part);
    }
    json_decref(r);
}

/* ---- tend's resources ---- */

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static int fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* tend's fd count while one client, answered, is connected (so that the
 * count holds no connection tend has yet to see close). */
static int fds_with_one_client(struct fx *f)
{
    int fd = raw_connect(f->sock);
    raw_puts(fd, "{\"cmd\": \"status\"}\n");
    expect_reply(fd, true, NULL);
    int n = fd_count(f->t->pid);
    close(fd);
    return n;
}

/* Round trips until tend's fd count is back to `want` (it has seen every
 * close); whether it was within DEADLINE. */
static bool fds_settle(struct fx *f, int want)
{
    double end = mono() + DEADLINE;
    while (mono() < end)
        if (fds_with_one_client(f) == want)
            return true;
    return false;
}

#define WEB "tend.proc { name = 'web', cmd = {'sh', '-c', 'echo hello; echo oops >&2; " \
            "exec sleep 1000'} }\n"

/* ---- status ---- */

static void test_status_table_shows_every_proc(void **state)
{
    struct fx *f = *state;
    policy(f, WEB
              "tend.proc { name = 'db', restart = 'never', cmd = {'sh', '-c', 'exit 3'} }\n"
              "tend.proc { name = 'lazy', autostart = false, cmd = {'sleep', '1000'} }\n");
    run(f, "db: exited with code 3");
    struct tend_run *c = expect_cli(0, f, "status");
    regex_t re;
    assert_int_equal(regcomp(&re,
        "^NAME +STATE +PID +CPU% +MEM +UPTIME +RESTARTS +INFO\n"
        "web +ready +[0-9]+ +[0-9.]+ +[0-9.]+[KMG] +0:00:0[0-9] +0 +-\n"
        "db +stopped +- +- +- +- +0 +exit 3, [0-9.]+s ago\n"
        "lazy +pending +- +- +- +- +0 +not started\n$", REG_EXTENDED), 0);
    if (regexec(&re, c->out, 0, NULL, 0) != 0)
        fail_msg("unexpected table:\n%s", c->out);
    regfree(&re);
    assert_lacks(c->out, "\033[");  /* not a terminal: no colour */
}

static void test_status_json_has_spec_fields_and_wall_times(void **state)
{
    struct fx *f = *state;
    policy(f, WEB);
    run(f, "web: started");
    json_t *j = cli_status_json(f, NULL);
    assert_int_equal(json_array_size(j), 1);
    json_t *st = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(st, "name")), "web");
    assert_string_equal(json_string_value(json_object_get(st, "state")), "ready");
    assert_string_equal(json_string_value(json_object_get(st, "want")), "up");
    assert_int_equal(json_integer_value(json_object_get(st, "incarnation")), 1);
    assert_int_equal(json_integer_value(json_object_get(st, "restarts")), 0);
    assert_true(json_integer_value(json_object_get(st, "pid")) > 0);
    double started = json_number_value(json_object_get(st, "started_at"));
    assert_true(started > 0 && started <= mono());
    const char *wall = json_string_value(json_object_get(st, "started_at_wall"));
    regex_t re;
    assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                                  "\\.[0-9]{3}Z$", REG_EXTENDED), 0);
    assert_non_null(wall);
    assert_int_equal(regexec(&re, wall, 0, NULL, 0), 0);
    regfree(&re);
    assert_non_null(json_object_get(st, "ready_at_wall"));
    json_decref(j);
}

static void test_status_of_named_procs_only(void **state)
{
    struct fx *f = *state;
    policy(f, WEB "tend.proc { name = 'lazy', autostart = false, cmd = {'true'} }\n");
    run(f, "web: started");
    json_t *j = cli_status_json(f, "lazy");
    assert_int_equal(json_array_size(j), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "state")),
                        "pending");
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "want")),
                        "down");
    json_decref(j);
}

static void test_unknown_name_lists_known_and_does_nothing(void **state)
{
    struct fx *f = *state;
    policy(f, WEB "tend.proc { name = 'api', cmd = {'sleep', '1000'} }\n");
    run(f, "api: started");
    json_int_t pid = status_int(f, "web", "pid");
    struct tend_run *c = expect_cli(1, f, "stop", "web", "nope");
    assert_contains(c->err, "no proc named 'nope'");
    assert_contains(c->err, "known: web, api");
    assert_string_equal(status_state(f, "web"), "ready");
    assert_int_equal(status_int(f, "web", "pid"), pid);
}

/* What `tend status --json` prints is what jansson's JSON_INDENT(2) makes
 * of it (the client indents tend's text as it stands). */
static void assert_jansson_indented(const char *out, json_t *j)
{
    char *want = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    size_t n = strlen(want);
    if (strncmp(out, want, n) != 0 || strcmp(out + n, "\n") != 0)
        fail_msg("status --json is not as jansson indents it:\n%s\n---- want:\n%s\n", out,
                 want);
    free(want);
}

static void test_status_json_of_awkward_text_is_valid(void **state)
{
    struct fx *f = *state;
    const char *h = getenv("TEND_HELPERS");
    char text[2048];
    /* stderr with quotes, a backslash, control characters, UTF-8 and a
     * byte that is not (the ring makes that U+FFFD); a STATUS= that is not
     * UTF-8 at all (each byte over 0x7F becomes '?') */
    snprintf(text, sizeof text,
             "tend.proc { name = 'odd', restart = 'never', cmd = {'sh', '-c',\n"
             "  [[printf 'say \"hi\" \\\\ b\\001\\033[31mred\\tT\\r\\n\\303\\251t\\303\\251 \\377 end\\n' >&2;"
             " exit 3]]} }\n"
             "tend.proc { name = 'note', ready = tend.ready.notify(), cmd = {'sh', '-c',\n"
             "  [[exec \"$0\" \"STATUS=$(printf 'q\" \\\\ \\001\\033 \\377\\376 \\303\\251 /')\" READY=1"
             " -- sleep 1000]], '%s/helper-notify'} }\n",
             h && *h ? h : "build/tests");
    policy(f, text);
    run(f, "odd: exited with code 3");
    expect_cli(0, f, "wait", "note", "--ready");

    struct tend_run *c = expect_cli(0, f, "status", "--json");
    json_error_t err;
    json_t *j = json_loads(c->out, 0, &err);
    if (!j)
        fail_msg("status --json printed no JSON (%s):\n%s", err.text, c->out);
    assert_jansson_indented(c->out, j);
    json_t *odd = json_array_get(j, 0), *note = json_array_get(j, 1);
    assert_string_equal(json_string_value(json_object_get(odd, "tail")),
                        "say \"hi\" \\ b\001\033[31mred\tT\n\303\251t\303\251 \357\277\275 end\n");
    /* control characters of STATUS= are kept escaped (a child must not
     * drive the operator's terminal) */
    assert_string_equal(json_string_value(json_object_get(note, "status_text")),
                        "q\" \\ \\x01\\x1b ?? ?? /");
    json_decref(j);

    /* the table: one line a proc all the same */
    c = expect_cli(0, f, "status");
    assert_contains(c->out, "\nodd ");
    assert_contains(c->out, "exit 3, ");
    assert_contains(c->out, "\nnote ");
    assert_contains(c->out, " q\" \\ \\x01\\x1b ?? ?? /\n");  /* no raw escapes */
}

/* The Lua table and the JSON object of a status carry the same fields:
 * one visitor makes both (here for a failed, a stopped and a killed end). */
static void test_status_fields_are_the_same_in_lua_and_json(void **state)
{
    struct fx *f = *state;
    char *keys = xasprintf("%s/keys", f->dir);
    char *text = xasprintf(
        "tend.proc { name = 'f', cmd = { '/nope' }, restart = 'never' }\n"
        "tend.proc { name = 's', cmd = { 'sh', '-c', 'exit 3' }, restart = 'never' }\n"
        "tend.proc { name = 'k', cmd = { 'sh', '-c', 'kill -9 $$' }, restart = 'never' }\n"
        "tend.proc { name = 'idle', cmd = { 'sleep', '1000' } }\n"
        "tend.task(function()\n"
        "  local out = assert(io.open('%s', 'w'))\n"
        "  for _, name in ipairs { 'f', 's', 'k' } do\n"
        "    local st = tend.get(name):wait()\n"
        "    local ks = {} for k in pairs(st) do ks[#ks + 1] = k end\n"
        "    table.sort(ks)\n"
        "    out:write(name, ':', table.concat(ks, ','), '\\n')\n"
        "  end\n"
        "  out:close()\n"
        "end)\n", keys);
    policy(f, text);
    free(text);
    run(f, "idle: started");
    assert_true(file_wait_for(keys, "k:", DEADLINE));
    char *lua = read_file(keys);
    json_t *all = cli_status_json(f, NULL);
    for (size_t i = 0; i < json_array_size(all); i++) {
        json_t *st = json_array_get(all, i);
        const char *name = json_string_value(json_object_get(st, "name"));
        if (strcmp(name, "idle") == 0)
            continue;
        /* the JSON keys but the *_wall twins, sorted */
        const char *ks[64];
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(st, k, v)
            if (!strstr(k, "_wall") && n < 64)
                ks[n++] = k;
        qsort(ks, n, sizeof *ks, cmp_str);
        struct buf line = {0};
        buf_put(&line, name, strlen(name));
        buf_put(&line, ":", 1);
        for (size_t j = 0; j < n; j++) {
            if (j)
                buf_put(&line, ",", 1);
            buf_put(&line, ks[j], strlen(ks[j]));
        }
        buf_put(&line, "\n", 2);
        assert_contains(lua, line.p);
        free(line.p);
    }
    json_decref(all);
    free(lua);
    free(keys);
}

/* `st` rendered as the control socket renders it (status_json, dumped with
 * the reply flags), parsed back. */
static json_t *status_written(const struct status *st, const char *name)
{
    json_t *o = status_json(st, name, now_wall() - now_mono());
    char *text = json_dumps(o, STATUSJSON_DUMP_FLAGS);
    json_decref(o);
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (!j)
        fail_msg("not JSON (%s): %s", err.text, text);
    free(text);
    return j;
}

/* `s` with each byte over 0x7F made '?'. */
static char *questioned(const char *s)
{
    char *t = strdup(s);
    for (char *p = t; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    return t;
}

static void test_status_fields_and_strings_in_json(void **state)
{
    static const char valid[] = "a \"q\" \\ \\\\ \x01\x08\x09\x0a\x0c\x0d\x1b\x1f\x7f / "
                                "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf end";
    static const char *const invalid[] = {
        "lone \xff byte \"q\"",    "overlong \xc0\x80 \\",       "surrogate \xed\xa0\x80",
        "too big \xf4\x90\x80\x80", "cut \xe2\x82",               "cut at the end \xc3",
        "\x80 continuation first",  "3-byte overlong \xe0\x80\x80 \xc3\xa9 \x01",
    };
    struct status st = {0};
    st.state = ST_RUNNING;
    st.incarnation = 4294967295u;
    st.restarts = 7;
    st.pid = 2147483647;
    st.want_up = true;
    st.started_at = 12345.678901234567;
    st.restart_at = 1.5;
    st.gave_up = (char *)valid;
    st.status_text = (char *)valid;
    st.health = HEALTH_UNHEALTHY;
    st.health_failure = (char *)valid;
    json_t *j = status_written(&st, "web-1.x@y_z");
    static const char *const keys[] = {
        "name", "state", "incarnation", "restarts", "want", "gave_up", "restart_at",
        "restart_at_wall", "pid", "status_text", "health", "health_failure", "started_at",
        "started_at_wall"};
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        assert_true(k < ARRAY_LEN(keys));
        assert_string_equal(key, keys[k++]);
    }
    assert_int_equal(k, ARRAY_LEN(keys));
    assert_string_equal(json_string_value(json_object_get(j, "status_text")), valid);
    assert_string_equal(json_string_value(json_object_get(j, "gave_up")), valid);
    assert_string_equal(json_string_value(json_object_get(j, "health_failure")), valid);
    assert_true(json_integer_value(json_object_get(j, "incarnation")) == 4294967295LL);
    assert_true(fabs(json_real_value(json_object_get(j, "started_at")) - 12345.678901) < 1e-9);
    json_decref(j);

    for (size_t i = 0; i < ARRAY_LEN(invalid); i++) {
        char *want = questioned(invalid[i]);
        struct status t = {0};
        t.state = ST_STOPPED;
        t.exit_code = -1;
        t.ended_at = 2.25;
        t.tail = (char *)invalid[i];
        t.status_text = (char *)invalid[i];
        j = status_written(&t, "x");
        assert_string_equal(json_string_value(json_object_get(j, "tail")), want);
        assert_string_equal(json_string_value(json_object_get(j, "status_text")), want);
        assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), -1);
        json_decref(j);
        t.state = ST_FAILED;
        t.reason = (char *)invalid[i];
        j = status_written(&t, "x");
        assert_string_equal(json_string_value(json_object_get(j, "reason")), want);
        json_decref(j);
        free(want);
    }

    struct status killed = {.state = ST_KILLED, .signal = 9, .core_dumped = true,
                            .ended_at = 3};
    j = status_written(&killed, "k");
    assert_string_equal(json_string_value(json_object_get(j, "signal")), "KILL");
    assert_true(json_is_true(json_object_get(j, "core_dumped")));
    assert_string_equal(json_string_value(json_object_get(j, "tail")), "");
    json_decref(j);
}

static void test_status_times_are_microseconds_in_json(void **state)
{
    /* a time since boot to the nanosecond prints to the microsecond, never
     * with 17 digits of binary noise */
    struct status st0 = {.state = ST_RUNNING, .pid = 1, .started_at = 292.892748346};
    json_t *o = status_json(&st0, "p", 0);
    char *text = json_dumps(o, STATUSJSON_DUMP_FLAGS);
    assert_contains(text, "\"started_at\":292.892748,");
    free(text);
    json_decref(o);
    for (double t = 0.000001; t < 1e8; t = t * 3.7 + 0.123457) {
        struct status st = {.state = ST_RUNNING, .pid = 1, .started_at = t};
        json_t *j = status_written(&st, "p");
        double back = json_real_value(json_object_get(j, "started_at"));
        if (fabs(back - t) > 0.0000005 + 1e-15 * t)
            fail_msg("%.17g read back as %.17g", t, back);
        json_decref(j);
    }

    /* the wall-clock twins, and their dates a day apart */
    double now = mono();
    struct status st = {.state = ST_READY, .pid = 1, .started_at = now - 86400,
                        .ready_at = now};
    json_t *j = status_written(&st, "p");
    const char *started = json_string_value(json_object_get(j, "started_at_wall"));
    const char *ready = json_string_value(json_object_get(j, "ready_at_wall"));
    struct tm tm = {0};
    assert_non_null(ready);
    assert_non_null(strptime(ready, "%Y-%m-%dT%H:%M:%S", &tm));
    double off = (double)timegm(&tm) - (double)time(NULL);
    assert_true(off > -3 && off < 3);
    tm.tm_mday--;
    time_t yesterday = timegm(&tm);
    char want[32];
    strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", gmtime_r(&yesterday, &tm));
    assert_non_null(started);
    assert_memory_equal(started, want, 19);
    assert_string_equal(started + 19, ready + 19);  /* the same milliseconds */
    json_decref(j);
}

/* Every end says why (SPEC 1 cause): a deliberate stop is never shown
 * like a crash. */
static void test_status_says_what_ended_each_incarnation(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'stopped', cmd = {'sleep', '1000'} }\n"
              "tend.proc { name = 'crashed', cmd = {'sh', '-c', 'exit 3'}, restart = 'never' }\n"
              "tend.proc { name = 'killed', cmd = {'sleep', '1000'}, restart = 'never' }\n"
              "tend.proc { name = 'hup', cmd = {'sleep', '1000'}, restart = 'never' }\n"
              "tend.proc { name = 'idle', cmd = {'sleep', '1000'} }\n");
    run(f, "idle: started");
    expect_cli(0, f, "stop", "stopped");
    expect_cli(0, f, "kill", "killed");
    expect_cli(0, f, "signal", "HUP", "hup");
    expect_cli(0, f, "wait", "--exit", "crashed", "hup");
    assert_string_equal(status_str(f, "stopped", "cause"), "stop");
    assert_string_equal(status_str(f, "crashed", "cause"), "exit");
    assert_string_equal(status_str(f, "killed", "cause"), "kill");
    assert_string_equal(status_str(f, "hup", "cause"), "signal");
    assert_string_equal(status_str(f, "idle", "cause"), "");  /* alive: none */
}

/* ---- start, stop, restart, kill, signal ---- */

static void test_start_returns_once_ready(void **state)
{
    struct fx *f = *state;
    policy(f, WEB "tend.proc { name = 'lazy', autostart = false, cmd = {'sleep', '1000'} }\n");
    run(f, "web: started");
    struct tend_run *c = expect_cli(0, f, "start", "lazy");
    assert_contains(c->out, "lazy: ready (pid ");
    assert_string_equal(status_state(f, "lazy"), "ready");
}

static void test_start_of_running_proc_does_nothing(void **state)
{
    struct fx *f = *state;
    policy(f, WEB);
    run(f, "web: started");
    json_int_t pid = status_int(f, "web", "pid");
    expect_cli(0, f, "start", "web");
    assert_int_equal(status_int(f, "web", "pid"), pid);
    assert_int_equal(status_int(f, "web", "incarnation"), 1);
}

static void test_start_that_fails_exits_one_with_reason(void **state)
{
    struct fx *f = *state;
    policy(f, WEB "tend.proc { name = 'bad', autostart = false, restart = 'never',\n"
              "  cmd = {'/nonexistent/prog'} }\n");
    run(f, "web: started");
    struct tend_run *c = expect_cli(1, f, "start", "bad");
    assert_contains(c->err, "bad failed: exec /nonexistent/prog");
}

static void test_stop_with_timeout_returns_once_killed(void **state)
{
    struct fx *f = *state;
    /* ignores SIGTERM; its own stop_timeout would take 60 s */
    policy(f, "tend.proc { name = 'stubborn', restart = 'always', stop_timeout = 60,\n"
              "  cmd = {'sh', '-c', 'trap \"\" TERM; echo up; while :; do sleep 0.05; done'} }\n"
              WEB);
    run(f, "stubborn | up");
    double t0 = mono();
    struct tend_run *c = expect_cli(0, f, "stop", "stubborn", "--timeout", "0.2");
    assert_true(mono() - t0 < DEADLINE / 2);
    assert_contains(c->out, "stubborn: killed (signal KILL)");
    json_t *j = cli_status_json(f, "stubborn");
    json_t *st = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(st, "want")), "down");
    assert_null(json_object_get(st, "restart_at"));  /* a stop is not restarted */
    json_decref(j);
}

static void test_stop_of_stopped_proc_succeeds(void **state)
{
    struct fx *f = *state;
    policy(f, WEB "tend.proc { name = 'lazy', autostart = false, cmd = {'true'} }\n"
              "tend.proc { name = 'api', cmd = {'sleep', '1000'} }\n");
    run(f, "api: started");
    expect_cli(0, f, "stop", "lazy");
    struct tend_run *c = expect_cli(0, f, "stop", "web");
    assert_contains(c->out, "web: killed (signal TERM)");
    expect_cli(0, f, "stop", "web");
}

static void test_restart_starts_a_new_incarnation(void **state)
{
    struct fx *f = *state;
    policy(f, WEB);
    run(f, "web: started");
    json_int_t pid = status_int(f, "web", "pid");
    struct tend_run *c = expect_cli(0, f, "restart", "web");
    assert_contains(c->out, "web: ready (pid ");
    assert_int_not_equal(status_int(f, "web", "pid"), pid);
    assert_int_equal(status_int(f, "web", "incarnation"), 2);
    assert_int_equal(status_int(f, "web", "restarts"), 1);  /* every restart counts */
}

static void test_kill_sigkills_and_the_policy_restarts(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'web', restart = 'always', cmd = {'sh', '-c',\n"
              "  'echo inc=$TEND_INCARNATION; exec sleep 1000'} }\n");
    run(f, "web | inc=1");
    struct tend_run *c = expect_cli(0, f, "kill", "web");
    assert_contains(c->out, "web: killed (signal KILL); restarting in");
    expect_out(f->t, 1, "web | inc=2");
    assert_int_equal(status_int(f, "web", "restarts"), 1);
}

static void test_kill_of_proc_not_running_is_error(void **state)
{
    struct fx *f = *state;
    policy(f, WEB "tend.proc { name = 'lazy', autostart = false, cmd = {'true'} }\n");
    run(f, "web: started");
    json_int_t pid = status_int(f, "web", "pid");
    struct tend_run *c = expect_cli(1, f, "kill", "web", "lazy");
    assert_contains(c->err, "lazy is not running (it is pending)");
    assert_int_equal(status_int(f, "web", "pid"), pid);  /* nothing done */
}

static void test_signal_reaches_the_proc(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'web', cmd = {'sh', '-c',\n"
              "  'trap \"echo got-usr1 > @D/usr1\" USR1; echo up; "
              "while :; do sleep 0.05; done'} }\n");
    run(f, "web | up");
    struct tend_run *c = expect_cli(0, f, "signal", "USR1", "web");
    assert_contains(c->out, "sent SIGUSR1");
    if (!file_wait_for(in_dir(f, "usr1"), "got-usr1", DEADLINE))
        fail_msg("the proc never saw SIGUSR1");
}

static void test_signal_unknown_is_usage_error(void **state)
{
    struct fx *f = *state;
    struct tend_run *c = expect_cli(2, f, "signal", "NOPE", "web");
    assert_contains(c->err, "unknown signal NOPE");
    assert_contains(c->err, "usage: tend signal SIGNAL NAME...");
}

/* ---- logs ---- */

static void test_logs_shows_last_lines_of_a_stream(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'web', cmd = {'sh', '-c',\n"
              "  'i=1; while [ $i -le 30 ]; do echo line$i; i=$((i+1)); done; "
              "echo err1 >&2; echo done > @D/done; exec sleep 1000'} }\n");
    run(f, "web: started");
    if (!file_wait_for(in_dir(f, "done"), "done", DEADLINE))
        fail_msg("the proc did not finish writing");
    expect_out(f->t, 2, "web | err1");
    expect_out(f->t, 1, "web | line30");
    struct tend_run *c = expect_cli(0, f, "logs", "web", "-n", "3", "--stream", "stdout");
    assert_string_equal(c->out, "line28\nline29\nline30\n");
    c = expect_cli(0, f, "logs", "web", "--stream", "stderr");
    assert_string_equal(c->out, "");
    assert_string_equal(c->err, "err1\n");  /* stderr lines on stderr */
    c = expect_cli(0, f, "logs", "web", "--stream", "stdout");
    assert_contains(c->out, "line11\n");  /* the default: 20 lines */
    assert_lacks(c->out, "line10\n");
}

/* `tend logs` on a terminal (a pty here) shows a child's control
 * characters as \xNN: its output cannot retitle or clear the operator's
 * terminal; into a pipe the bytes go as they are. */
static void test_logs_on_a_terminal_escapes_control_characters(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'evil', cmd = {'sh', '-c',\n"
              "  [[printf 'a\\033]0;owned\\007b\\tc\\n'; echo done > @D/done; exec sleep 1000]]} }\n");
    run(f, "evil: started");
    if (!file_wait_for(in_dir(f, "done"), "done", DEADLINE))
        fail_msg("the proc did not finish writing");
    struct tend_run *c = expect_cli(0, f, "logs", "evil");
    assert_string_equal(c->out, "a\033]0;owned\007b\tc\n");  /* a pipe: as written */
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(slave >= 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(slave, 1);
        execl(tend_path(), "tend", "logs", "evil", (char *)NULL);
        _exit(127);
    }
    close(slave);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char buf[256];
    ssize_t n = read(master, buf, sizeof buf - 1);
    close(master);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_contains(buf, "a\\x1b]0;owned\\x07b\tc");
    assert_lacks(buf, "\033");
}

static void test_logs_follow_streams_new_lines(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'web', cmd = {'sh', '-c',\n"
              "  'echo first; while :; do if [ -e @D/go ]; then rm @D/go; echo second; fi; "
              "sleep 0.02; done'} }\n");
    run(f, "web | first");
    struct tend_run *c = tend_start((const char *[]){"logs", "web", "-f", NULL});
    f->clients[f->nclients++] = c;
    expect_out(c, 1, "first\n");  /* the history came: the follow is on */
    free(write_file(f->dir, "go", ""));
    expect_out(c, 1, "first\nsecond\n");
    assert_false(c->exited);
}

/* ---- wait ---- */

static void test_wait_ready_of_a_pending_proc(void **state)
{
    struct fx *f = *state;
    policy(f, WEB "tend.proc { name = 'lazy', autostart = false, cmd = {'sleep', '1000'} }\n");
    run(f, "web: started");
    expect_cli(0, f, "wait", "web", "--ready");
    struct tend_run *w = tend_start((const char *[]){"wait", "lazy", NULL});
    f->clients[f->nclients++] = w;
    expect_cli(0, f, "start", "lazy");
    assert_int_equal(tend_wait(w, DEADLINE), 0);
}

static void test_wait_exit_returns_when_terminal(void **state)
{
    struct fx *f = *state;
    policy(f, WEB "tend.proc { name = 'job', restart = 'never', cmd = {'sh', '-c',\n"
              "  'while [ ! -e @D/go ]; do sleep 0.02; done; exit 0'} }\n");
    run(f, "job: started");
    struct tend_run *w = tend_start((const char *[]){"wait", "job", "--exit", NULL});
    f->clients[f->nclients++] = w;
    free(write_file(f->dir, "go", ""));
    assert_int_equal(tend_wait(w, DEADLINE), 0);
    expect_cli(0, f, "wait", "job", "--exit");  /* already terminal: at once */
}

static void test_wait_timeout_exits_one(void **state)
{
    struct fx *f = *state;
    policy(f, WEB);
    run(f, "web: started");
    struct tend_run *c = expect_cli(1, f, "wait", "web", "--exit", "--timeout", "0.1");
    assert_contains(c->err, "timed out after 0.1s");
    assert_contains(c->err, "web is ready");
}

static void test_wait_ready_fails_when_terminal_first(void **state)
{
    struct fx *f = *state;
    policy(f, WEB "tend.proc { name = 'bad', restart = 'never', cmd = {'sh', '-c', 'exit 4'} }\n");
    run(f, "bad: exited with code 4");
    struct tend_run *c = expect_cli(1, f, "wait", "bad", "web");
    assert_contains(c->err, "bad exited with code 4 before it was ready");
}

/* A wait still out when tend exits gets an answer, not a cut connection
 * (which the client would report as an unreachable socket, exit 3). */
static void test_wait_answered_when_tend_exits_first(void **state)
{
    struct fx *f = *state;
    policy(f, WEB "tend.proc { name = 'lazy', autostart = false, cmd = {'sleep', '1000'} }\n");
    run(f, "web: started");
    int fd = raw_connect(f->sock);
    /* the status reply says the wait behind it in the same write has been
     * read and taken up too */
    raw_puts(fd, "{\"cmd\": \"status\"}\n{\"cmd\": \"wait\", \"names\": [\"lazy\"]}\n");
    expect_reply(fd, true, NULL);
    expect_cli(0, f, "shutdown");
    expect_reply(fd, false, "wait: tend exited before it was done");
    close(fd);
    assert_int_equal(tend_wait(f->t, DEADLINE), 0);
}

/* ---- shutdown ---- */

static void test_shutdown_stops_everything_and_removes_socket(void **state)
{
    struct fx *f = *state;
    policy(f, WEB);
    run(f, "web: started");
    expect_cli(0, f, "shutdown");
    assert_int_equal(tend_wait(f->t, DEADLINE), 0);
    assert_contains(f->t->err, "tend: shutting down");
    struct stat sb;
    assert_int_equal(stat(f->sock, &sb), -1);
    struct tend_run *c = expect_cli(3, f, "status");
    assert_contains(c->err, f->sock);
}

static void test_start_during_shutdown_is_error(void **state)
{
    struct fx *f = *state;
    policy(f, "tend.proc { name = 'slow', stop_timeout = 30, cmd = {'sh', '-c',\n"
              "  'trap \"\" TERM; echo up; while :; do sleep 0.05; done'} }\n"
              "tend.proc { name = 'lazy', autostart = false, cmd = {'true'} }\n");
    run(f, "slow | up");
    struct tend_run *s = tend_start((const char *[]){"shutdown", NULL});
    f->clients[f->nclients++] = s;
    expect_out(f->t, 2, "tend: shutting down");
    struct tend_run *c = expect_cli(1, f, "start", "lazy");
    assert_contains(c->err, "shutting down");
    expect_cli(0, f, "kill", "slow");
    assert_int_equal(tend_wait(s, DEADLINE), 0);  /* returns once tend is done */
    assert_int_equal(tend_wait(f->t, DEADLINE), 1);  /* it had to SIGKILL */
}

/* ---- reload ---- */

static void test_reload_applies_the_file_and_rejects_a_broken_one(void **state)
{
    struct fx *f = *state;
    policy(f, WEB);
    run(f, "web: started");
    json_int_t pid = status_int(f, "web", "pid");
    policy(f, WEB "tend.proc { name = 'api', cmd = {'sleep', '1000'} }\n");
    struct tend_run *ok = expect_cli(0, f, "reload");
    /* the client says what changed, and so does tend's log */
    assert_string_equal(ok->out, "reloaded: 1 new, 0 changed, 0 removed, 1 unchanged\n");
    assert_true(tend_expect(f->t, 2, ": 1 new, 0 changed, 0 removed, 1 unchanged", DEADLINE));
    expect_cli(0, f, "wait", "api");
    assert_int_equal(status_int(f, "web", "pid"), pid);  /* unchanged: untouched */
    policy(f, WEB "tend.proc { name = 'api', cmd = {'sleep', '1000'}, nope = 1 }\n");
    struct tend_run *c = expect_cli(1, f, "reload");
    assert_contains(c->err, "policy.lua:2");
    assert_contains(c->err, "nope");
    assert_string_equal(status_state(f, "api"), "ready");
    /* tend says it too, as for a SIGHUP reload */
    assert_true(tend_expect(f->t, 2, "reload refused, the running set is kept", DEADLINE));
}

static void test_follow_and_wait_on_a_removed_proc_end(void **state)
{
    struct fx *f = *state;
    policy(f, WEB "tend.proc { name = 'gone', cmd = {'sh', '-c', 'echo bye; exec sleep 1000'} }\n");
    run(f, "gone | bye");
    struct tend_run *fl = tend_start((const char *[]){"logs", "gone", "-f", NULL});
    f->clients[f->nclients++] = fl;
    expect_out(fl, 1, "bye\n");  /* following */
    int w = raw_connect(f->sock);
    raw_puts(w, "{\"cmd\": \"wait\", \"names\": [\"gone\"], \"exit\": true}\n");
    /* tend took the wait in before it answers a request sent after it */
    expect_cli(0, f, "status");
    policy(f, WEB);
    expect_cli(0, f, "reload");
    assert_int_equal(tend_wait(fl, DEADLINE), 0);  /* the follow ended */
    expect_reply(w, true, NULL);                   /* it did exit */
    close(w);
    struct tend_run *c = expect_cli(1, f, "status", "gone");
    assert_contains(c->err, "no proc named 'gone' (known: web)");
}

/* ---- the protocol ---- */

static void test_bad_requests_get_errors_and_connection_stays(void **state)
{
    struct fx *f = *state;
    policy(f, WEB);
    run(f, "web: started");
    int fd = raw_connect(f->sock);
    raw_puts(fd, "\n  \n");  /* ignored */
    raw_puts(fd, "garbage\n");
    expect_reply(fd, false, "malformed request");
    raw_puts(fd, "[1, 2]\n");
    expect_reply(fd, false, "JSON object");
    raw_puts(fd, "{\"cmd\": \"fly\"}\n");
    expect_reply(fd, false, "unknown command 'fly'");
    raw_puts(fd, "{\"cmd\": \"status\", \"nmaes\": []}\n");
    expect_reply(fd, false, "unknown field 'nmaes'");
    raw_puts(fd, "{\"cmd\": \"stop\", \"names\": [\"web\"], \"timeout\": \"soon\"}\n");
    expect_reply(fd, false, "timeout");
    raw_puts(fd, "{\"cmd\": \"status\"}\r\n");
    expect_reply(fd, true, NULL);
    /* status's own option, as the command line has it */
    raw_puts(fd, "{\"cmd\": \"status\", \"json\": true}\n");
    expect_reply(fd, true, NULL);
    raw_puts(fd, "{\"cmd\": \"status\", \"json\": 1}\n");
    expect_reply(fd, false, "\"json\" must be true or false");
    close(fd);
}

static void test_oversized_request_gets_error_then_resyncs(void **state)
{
    struct fx *f = *state;
    policy(f, WEB);
    run(f, "web: started");
    int fd = raw_connect(f->sock);
    size_t n = 1 << 20;
    char *big = malloc(n);
    memset(big, 'x', n);
    raw_send(fd, big, n);
    free(big);
    raw_puts(fd, "\n{\"cmd\": \"status\"}\n");
    expect_reply(fd, false, "request too long (over 65536 bytes)");
    expect_reply(fd, true, NULL);
    close(fd);
}

static void test_pipelined_requests_are_answered_in_order(void **state)
{
    struct fx *f = *state;
    policy(f, WEB "tend.proc { name = 'lazy', autostart = false, cmd = {'sleep', '1000'} }\n");
    run(f, "web: started");
    int fd = raw_connect(f->sock);
    raw_puts(fd, "{\"cmd\": \"start\", \"names\": [\"lazy\"]}\n"
                 "{\"cmd\": \"status\", \"names\": [\"lazy\"]}\n");
    json_t *r1 = raw_reply(fd), *r2 = raw_reply(fd);
    assert_non_null(r1);
    assert_non_null(r2);
    assert_true(json_is_true(json_object_get(r1, "ok")));
    json_t *st = json_array_get(json_object_get(r2, "result"), 0);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "ready");
    json_decref(r1);
    json_decref(r2);
    close(fd);
}

/* Lines that come while a request runs are held; those that come after it
 * ended but before tend got back to the held ones must not be glued to
 * them.  Each round: a restart, then error-getting lines written one at a
 * time (a read each in between) until the restart's answer and 20 more;
 * every line gets its own answer, in order. */
static void test_lines_sent_while_a_request_ends_each_get_an_answer(void **state)
{
    struct fx *f = *state;
    policy(f, WEB "tend.proc { name = 'lazy', autostart = false, cmd = {'sleep', '1000'} }\n");
    run(f, "web: started");
    int fd = raw_connect(f->sock);
    static const char bad[] = "{\"cmd\": \"fly\"}\n";
    struct buf got = {0};
    /* under valgrind a restart takes long: fewer rounds, fewer lines */
    int rounds = getenv("TEND_UNDER_VALGRIND") ? 3 : 30;
    for (int round = 0; round < rounds; round++) {
        double end = mono() + DEADLINE;
        raw_puts(fd, "{\"cmd\": \"restart\", \"names\": [\"lazy\"]}\n");
        size_t sent = 0, answers = 0, done_at = 0;
        got.len = 0;
        while (!done_at || sent < done_at + 20 || answers < sent + 1) {
            if (mono() > end)
                fail_msg("round %d: %zu lines sent, %zu answers after %gs", round, sent, answers,
                         DEADLINE);
            /* lines while the restart runs (at most 500) and 20 after */
            bool more = done_at ? sent < done_at + 20 : sent < 500;
            if (more) {
                raw_puts(fd, bad);
                sent++;
            }
            struct pollfd pfd = {fd, POLLIN, 0};
            if (poll(&pfd, 1, more ? 0 : 100) <= 0)
                continue;
            char b[4096];
            ssize_t r = read(fd, b, sizeof b);
            if (r <= 0)
                fail_msg("round %d: tend closed the connection", round);
            buf_put(&got, b, (size_t)r);
            /* the answers so far: the restart's is ok, every other one
             * is the unknown command's error */
            answers = 0;
            for (size_t at = 0; at < got.len;) {
                char *nl = memchr(got.p + at, '\n', got.len - at);
                if (!nl)
                    break;
                json_t *j = json_loadb(got.p + at, (size_t)(nl - got.p - at), 0, NULL);
                assert_non_null(j);
                bool ok = json_is_true(json_object_get(j, "ok"));
                const char *e = json_string_value(json_object_get(j, "error"));
                if (answers == 0 && !ok)
                    fail_msg("round %d: the restart failed: %s", round, e ? e : "?");
                if (answers > 0 && (ok || !e || !strstr(e, "unknown command 'fly'")))
                    fail_msg("round %d: answer %zu is not the unknown command's: %.*s", round,
                             answers + 1, (int)(nl - got.p - at), got.p + at);
                if (answers == 0 && !done_at)
                    done_at = sent;
                json_decref(j);
                answers++;
                at = (size_t)(nl + 1 - got.p);
            }
        }
        assert_int_equal(answers, sent + 1);
    }
    free(got.p);
    close(fd);
}

/* Garbage, a 1 MiB line, half a request and 200 clients at once: tend
 * answers as before, with its memory and fds back where they were. */
static void test_abuse_leaves_tend_healthy(void **state)
{
    struct fx *f = *state;
    policy(f, WEB);
    run(f, "web: started");
    pid_t pid = f->t->pid;
    int fds0 = fds_with_one_client(f);
    long rss[5] = {rss_kib(pid)};

    for (int round = 1; round <= 4; round++) {
        /* garbage bytes, NULs included */
        int fd = raw_connect(f->sock);
        char junk[4096];
        unsigned seed = 7;
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (char)(rand_r(&seed) & 0xff);
        raw_send(fd, junk, sizeof junk);
        raw_puts(fd, "\n");
        close(fd);

        /* 1 MiB without a newline, then gone */
        fd = raw_connect(f->sock);
        char *big = malloc(1 << 20);
        memset(big, '{', 1 << 20);
        raw_send(fd, big, 1 << 20);
        free(big);
        close(fd);

        /* half a request, then gone */
        fd = raw_connect(f->sock);
        raw_puts(fd, "{\"cmd\": \"sta");
        close(fd);

        /* 200 clients at once */
        enum { N = 200 };
        int fds[N];
        for (int i = 0; i < N; i++)
            fds[i] = raw_connect(f->sock);
        for (int i = 0; i < N; i++)
            raw_puts(fds[i], "{\"cmd\": \"status\", \"names\": [\"web\"]}\n");
        for (int i = 0; i < N; i++) {
            expect_reply(fds[i], true, NULL);
            close(fds[i]);
        }
        if (!fds_settle(f, fds0))
            fail_msg("round %d: tend holds %d fds, %d before", round,
                     fds_with_one_client(f), fds0);
        rss[round] = rss_kib(pid);
    }

    struct tend_run *c = expect_cli(0, f, "status");
    assert_contains(c->out, "web ");
    print_message("tend: %d fds; RSS %ld KiB before, %ld, %ld, %ld, %ld KiB after each round\n",
                  fds0, rss[0], rss[1], rss[2], rss[3], rss[4]);
#if defined(__SANITIZE_ADDRESS__)
    long slack = 64 * 1024, per_round = 64 * 1024;  /* ASan's quarantine holds memory */
#else
    long slack = 2 * 1024, per_round = 256;
#endif
    if (getenv("TEND_UNDER_VALGRIND"))
        return;  /* the RSS is valgrind's as much as tend's (make valgrind) */
    if (rss[4] > rss[0] + slack)
        fail_msg("tend's RSS grew from %ld KiB to %ld KiB", rss[0], rss[4]);
    /* the first rounds warm up (allocator arenas, 200 connections' worth
     * of buffers), sometimes over two rounds: the last two must not grow */
    if (rss[4] > rss[2] + per_round)
        fail_msg("tend's RSS grows with each round: %ld, %ld, %ld, %ld KiB", rss[1], rss[2],
                 rss[3], rss[4]);
}

/* A client that sends and never reads does not stop tend from serving
 * the others, and what tend holds for it stays bounded. */
static void test_client_that_never_reads_does_not_block(void **state)
{
    struct fx *f = *state;
    policy(f, WEB);
    run(f, "web: started");
    long rss0 = rss_kib(f->t->pid);
    int fd = raw_connect(f->sock);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    const char *req = "{\"cmd\": \"status\"}\n";
    size_t sent = 0;
    double end = mono() + DEADLINE;
    /* until tend stops taking requests (it would have to queue replies) */
    while (mono() < end) {
        ssize_t w = send(fd, req, strlen(req), MSG_NOSIGNAL);
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            if (poll(&pfd, 1, 300) == 0)
                break;  /* tend stopped reading: as meant */
            continue;
        }
        assert_true(w > 0);
        sent += (size_t)w;
    }
    assert_true(sent > 0);
    expect_cli(0, f, "status");  /* others are served */
    long rss1 = rss_kib(f->t->pid);
#if defined(__SANITIZE_ADDRESS__)
    long slack = 64 * 1024;
#else
    long slack = 4 * 1024;
#endif
    /* under make valgrind the RSS is valgrind's as much as tend's */
    if (!getenv("TEND_UNDER_VALGRIND") && rss1 > rss0 + slack)
        fail_msg("tend's RSS grew from %ld KiB to %ld KiB", rss0, rss1);
    close(fd);
}

/* ---- idle connections and the fd limit ---- */

/* Run tend with an idle timeout of an hour: what closes a connection in
 * these tests is then the making of room, never the timeout. */
static void no_idle_timeout(void)
{
    setenv("TEND_CTL_IDLE", "3600", 1);
}

/* Start tend on the policy under RLIMIT_NOFILE `nofile` (soft and hard:
 * tend raises its soft limit to the hard one, so both must be low), set by
 * the shell that then becomes tend; wait for `started` as run() does. */
static struct tend_run *run_nofile(struct fx *f, int nofile, const char *started)
{
    char script[128];
    snprintf(script, sizeof script, "ulimit -n %d && exec \"$0\" run \"$1\"", nofile);
    f->t = prog_start((const char *[]){"sh", "-c", script, tend_path(), f->policy, NULL});
    expect_out(f->t, 0, started);
    return f->t;
}

/* tend's soft RLIMIT_NOFILE, from /proc/PID/limits; -1 when unknown. */
static long nofile_of(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
    FILE *fp = fopen(path, "r");
    long soft = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "Max open files %ld", &soft) == 1)
            break;
    if (fp)
        fclose(fp);
    return soft;
}

/* How many of the fds of `pid` are numbered below `limit` (the ones that
 * count against an RLIMIT_NOFILE of `limit`). */
static int fds_below(pid_t pid, int limit)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.' && atoi(e->d_name) < limit;
    if (d)
        closedir(d);
    return n;
}

/* CPU seconds (user + system) process `pid` has used. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp)
        fclose(fp);
    buf[n] = '\0';
    /* after "pid (comm) ": state is field 3, utime 14, stime 15 */
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                     &st) != 2)
        fail_msg("cannot read the CPU times of pid %d", (int)pid);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Wait until tend closes `fd` (EOF or a reset, whatever it sent first is
 * skipped); whether it did within `timeout`. */
static bool wait_closed(int fd, double timeout)
{
    double end = mono() + timeout;
    for (;;) {
        double left = end - mono();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
            return false;
        char buf[4096];
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return true;
    }
}

/* Whether `fd` is still open with nothing from tend (no EOF, no reply). */
static bool quiet_open(int fd)
{
    struct pollfd pfd = {fd, POLLIN | POLLRDHUP, 0};
    return poll(&pfd, 1, 0) == 0;
}

/* Raise our own soft RLIMIT_NOFILE to at least `want`; false when the hard
 * limit does not allow it. */
static bool own_nofile_at_least(rlim_t want, struct rlimit *saved)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max < want)
        return false;
    *saved = rl;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return false;
    }
    return true;
}

/* More clients that connect and say nothing than tend takes at once:
 * `tend status` still gets through at once (the one idle the longest
 * makes room), and so does a request on the newest of them. */
static void test_idle_connections_over_the_cap_do_not_lock_status_out(void **state)
{
    struct fx *f = *state;
    enum { N = CTL_CONNS_MAX + 16 };
    struct rlimit saved;
    if (!own_nofile_at_least(N + 256, &saved))
        skip();  /* we could not hold that many connections ourselves */
    policy(f, WEB);
    no_idle_timeout();
    run(f, "web: started");
    unsetenv("TEND_CTL_IDLE");
    static int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = raw_connect(f->sock);
    struct tend_run *c = expect_cli(0, f, "status");
    assert_contains(c->out, "web ");
    assert_true(wait_closed(fds[0], DEADLINE));  /* the oldest made room */
    raw_puts(fds[N - 1], "{\"cmd\": \"status\"}\n");
    expect_reply(fds[N - 1], true, NULL);
    const char *said = "control socket: too many connections: closing the connections "
                       "idle the longest";
    expect_out(f->t, 2, said);
    assert_int_equal(count_of(f->t->err, said), 1);
    assert_lacks(f->t->err, "too many connections (");  /* none was refused */
    for (int i = 0; i < N; i++)
        close(fds[i]);
    setrlimit(RLIMIT_NOFILE, &saved);
}

/* The same when tend runs out of file descriptors before the cap: accept()
 * fails with EMFILE, and an idle connection makes room. */
static void test_idle_connections_at_the_fd_limit_do_not_lock_status_out(void **state)
{
    struct fx *f = *state;
    enum { N = 100 };  /* tend has 64 fds; the rest wait in the backlog */
    if (getenv("TEND_UNDER_VALGRIND"))
        skip();  /* valgrind keeps fds under the limit for itself */
    policy(f, WEB);
    no_idle_timeout();
    run_nofile(f, 64, "web: started");
    unsetenv("TEND_CTL_IDLE");
    assert_int_equal(nofile_of(f->t->pid), 64);
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = raw_connect(f->sock);
    struct tend_run *c = expect_cli(0, f, "status");
    assert_contains(c->out, "web ");
    assert_true(wait_closed(fds[0], DEADLINE));
    raw_puts(fds[N - 1], "{\"cmd\": \"status\"}\n");
    expect_reply(fds[N - 1], true, NULL);
    const char *said = "control socket: out of file descriptors: closing the connections "
                       "idle the longest";
    expect_out(f->t, 2, said);
    assert_int_equal(count_of(f->t->err, said), 1);
    assert_lacks(f->t->err, "cannot accept");  /* an idle one always made room */
    for (int i = 0; i < N; i++)
        close(fds[i]);
}

/* A connection that has said nothing, half a line or nothing since its
 * answer is closed after the idle timeout ($TEND_CTL_IDLE here, 0.5 s); a
 * follower and a wait that is still out are not. */
static void test_idle_connection_is_closed_after_the_timeout(void **state)
{
    struct fx *f = *state;
    const double idle = 0.5;
    policy(f, WEB "tend.proc { name = 'keep', cmd = {'sleep', '1000'} }\n");
    setenv("TEND_CTL_IDLE", "0.5", 1);
    run(f, "keep: started");
    unsetenv("TEND_CTL_IDLE");

    int follow = raw_connect(f->sock);  /* of a proc that says nothing */
    raw_puts(follow, "{\"cmd\": \"logs\", \"names\": [\"keep\"], \"follow\": true}\n");
    expect_reply(follow, true, NULL);
    int wait = raw_connect(f->sock);
    raw_puts(wait, "{\"cmd\": \"wait\", \"names\": [\"web\"], \"exit\": true}\n");
    int drip = raw_connect(f->sock);
    raw_puts(drip, "{\"cmd\": \"sta");
    int asked = raw_connect(f->sock);
    raw_puts(asked, "{\"cmd\": \"status\"}\n");
    expect_reply(asked, true, NULL);
    double t0 = mono();  /* the answer is out, the silent one not yet in */
    int silent = raw_connect(f->sock);

    assert_true(wait_closed(silent, DEADLINE));
    double waited = mono() - t0;
    if (waited < idle - 0.05)
        fail_msg("closed after %.3fs, before the idle timeout (%gs)", waited, idle);
    /* idle since before the silent one: closed already */
    assert_true(wait_closed(drip, 0.1));
    assert_true(wait_closed(asked, 0.1));
    /* held by a follow and by a wait: still open, nothing said */
    assert_true(quiet_open(follow));
    assert_true(quiet_open(wait));

    /* the wait is answered; idle from then on, it is closed in turn */
    t0 = mono();
    expect_cli(0, f, "stop", "web");
    expect_reply(wait, true, NULL);
    assert_true(wait_closed(wait, DEADLINE));
    assert_true(mono() - t0 >= idle - 0.05);
    assert_true(quiet_open(follow));
    close(follow);
    close(wait);
    close(drip);
    close(asked);
    close(silent);
}

/* At the fd limit with no idle connection to close, accept() fails: tend
 * stops listening and tries again every 0.1 s, saying so once.  It must not
 * spin (a retry timer restarted without being set again fired at once,
 * every time) and it must answer again once fds are free. */
static void test_accept_at_the_fd_limit_does_not_spin(void **state)
{
    struct fx *f = *state;
    enum { NOFILE = 64, PROCS = 16, EXTRA = 3, MAXF = NOFILE };
    if (getenv("TEND_UNDER_VALGRIND"))
        skip();  /* valgrind keeps fds under the limit for itself */
    /* two pipes each: half of tend's fds */
    policy(f, "for i = 1, 16 do\n"
              "  tend.proc { name = 'p' .. i, restart = 'never', cmd = {'sleep', '1000'} }\n"
              "end\n");
    no_idle_timeout();
    run_nofile(f, NOFILE, "p16: started");
    unsetenv("TEND_CTL_IDLE");
    pid_t pid = f->t->pid;
    assert_int_equal(nofile_of(pid), NOFILE);
    /* the rest is taken by followers, which are never idle */
    int fd = raw_connect(f->sock);  /* a round trip: tend is settled */
    raw_puts(fd, "{\"cmd\": \"status\"}\n");
    expect_reply(fd, true, NULL);
    int free_fds = NOFILE - (fds_below(pid, NOFILE) - 1);
    close(fd);
    assert_true(free_fds > 0 && free_fds < NOFILE - 2 * PROCS);
    int followers[MAXF];
    for (int i = 0; i < free_fds; i++) {
        followers[i] = raw_connect(f->sock);
        raw_puts(followers[i], "{\"cmd\": \"logs\", \"names\": [\"p1\"], \"follow\": true}\n");
        expect_reply(followers[i], true, NULL);
    }
    assert_int_equal(fds_below(pid, NOFILE), NOFILE);
    /* a few more clients: they wait in the backlog, accept() fails */
    int extra[EXTRA];
    for (int i = 0; i < EXTRA; i++)
        extra[i] = raw_connect(f->sock);
    expect_out(f->t, 2, "control socket: cannot accept: Too many open files");

    /* tend's CPU time over about a second of this */
    double cpu0 = cpu_seconds(pid), t0 = mono();
    tend_expect(f->t, 0, "\001never said\001", 1.0);  /* reads its output meanwhile */
    double cpu = cpu_seconds(pid) - cpu0, span = mono() - t0;
    print_message("tend at its fd limit: %.3f s CPU in %.3f s\n", cpu, span);
    if (cpu > 0.2 * span)
        fail_msg("tend used %.3f s of CPU in %.3f s at its fd limit: a busy loop", cpu, span);
    assert_int_equal(count_of(f->t->err, "cannot accept"), 1);

    /* a follower leaves: its fd takes the waiting clients in turn (each
     * idle one making room for the next) and `tend status` gets through */
    close(followers[0]);
    struct tend_run *c = expect_cli(0, f, "status");
    assert_contains(c->out, "p16 ");
    for (int i = 0; i < EXTRA; i++)
        assert_true(wait_closed(extra[i], DEADLINE));
    for (int i = 1; i < free_fds; i++)
        close(followers[i]);
    for (int i = 0; i < EXTRA; i++)
        close(extra[i]);
    expect_cli(0, f, "status", "p1");
    assert_int_equal(count_of(f->t->err, "cannot accept"), 1);
}

/* ---- the socket ---- */

static void test_socket_is_0600_in_a_new_0700_directory(void **state)
{
    struct fx *f = *state;
    char sock[PATH_MAX];
    snprintf(sock, sizeof sock, "%s/a/b/tend.sock", f->dir);
    setenv("TEND_SOCKET", sock, 1);
    policy(f, WEB);
    run(f, "web: started");
    struct stat sb;
    assert_int_equal(stat(sock, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(in_dir(f, "a/b"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(in_dir(f, "a"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    expect_cli(0, f, "status", "--socket", sock);
}

static void test_other_uid_is_refused(void **state)
{
    struct fx *f = *state;
    if (getuid() != 0)
        skip();  /* needs root to become nobody */
    if (getenv("TEND_UNDER_VALGRIND"))
        skip();  /* nobody could not write valgrind's report */
    policy(f, WEB);
    run(f, "web: started");
    /* open the way to the socket, so that only tend's check stands */
    chmod(f->dir, 0755);
    chmod(f->sock, 0666);
    struct tend_run *c = prog_start((const char *[]){
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
        tend_path(), "status", "--socket", f->sock, NULL});
    f->clients[f->nclients++] = c;
    tend_wait(c, DEADLINE);
    if (run_exit_code(c) != 1) {
        dump(c);
        fail_msg("client as nobody: exit code %d, want 1", run_exit_code(c));
    }
    assert_contains(c->err, "permission denied: uid 65534");
    assert_lacks(c->out, "web");
    expect_out(f->t, 2, "refused a client of uid 65534");
    expect_cli(0, f, "status");  /* root still is served */
}

static void test_stale_socket_is_replaced(void **state)
{
    struct fx *f = *state;
    /* a socket file nobody listens on, as a killed tend leaves it */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->sock);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    policy(f, WEB);
    run(f, "web: started");
    expect_cli(0, f, "status");
}

static void test_live_socket_refuses_second_tend(void **state)
{
    struct fx *f = *state;
    policy(f, WEB);
    run(f, "web: started");
    f->t2 = tend_start((const char *[]){"run", f->policy, NULL});
    assert_int_equal(tend_wait(f->t2, DEADLINE), 2);
    assert_contains(f->t2->err, "another tend is running on the control socket");
    assert_contains(f->t2->err, f->sock);
    assert_lacks(f->t2->err, "web: started");  /* nothing was spawned */
    expect_cli(0, f, "status", "web");  /* the first one is untouched */
}

static void test_unreachable_socket_exits_3_naming_it(void **state)
{
    struct fx *f = *state;
    struct tend_run *c = expect_cli(3, f, "status", "--socket", in_dir(f, "none.sock"));
    assert_contains(c->err, in_dir(f, "none.sock"));
}

static void test_missing_names_is_usage_error(void **state)
{
    struct fx *f = *state;
    struct tend_run *c = expect_cli(2, f, "stop");
    assert_contains(c->err, "usage: tend stop NAME...");
    c = expect_cli(2, f, "wait", "a", "--ready", "--exit");
    assert_contains(c->err, "not both");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_status_table_shows_every_proc),
        T(test_status_json_has_spec_fields_and_wall_times),
        T(test_status_of_named_procs_only),
        T(test_unknown_name_lists_known_and_does_nothing),
        T(test_status_json_of_awkward_text_is_valid),
        T(test_status_fields_and_strings_in_json),
        T(test_status_says_what_ended_each_incarnation),
        T(test_status_fields_are_the_same_in_lua_and_json),
        T(test_status_times_are_microseconds_in_json),
        T(test_start_returns_once_ready),
        T(test_start_of_running_proc_does_nothing),
        T(test_start_that_fails_exits_one_with_reason),
        T(test_stop_with_timeout_returns_once_killed),
        T(test_stop_of_stopped_proc_succeeds),
        T(test_restart_starts_a_new_incarnation),
        T(test_kill_sigkills_and_the_policy_restarts),
        T(test_kill_of_proc_not_running_is_error),
        T(test_signal_reaches_the_proc),
        T(test_signal_unknown_is_usage_error),
        T(test_logs_shows_last_lines_of_a_stream),
        T(test_logs_on_a_terminal_escapes_control_characters),
        T(test_logs_follow_streams_new_lines),
        T(test_wait_ready_of_a_pending_proc),
        T(test_wait_exit_returns_when_terminal),
        T(test_wait_timeout_exits_one),
        T(test_wait_ready_fails_when_terminal_first),
        T(test_wait_answered_when_tend_exits_first),
        T(test_shutdown_stops_everything_and_removes_socket),
        T(test_start_during_shutdown_is_error),
        T(test_reload_applies_the_file_and_rejects_a_broken_one),
        T(test_follow_and_wait_on_a_removed_proc_end),
        T(test_bad_requests_get_errors_and_connection_stays),
        T(test_oversized_request_gets_error_then_resyncs),
        T(test_pipelined_requests_are_answered_in_order),
    T(test_lines_sent_while_a_request_ends_each_get_an_answer),
        T(test_abuse_leaves_tend_healthy),
        T(test_client_that_never_reads_does_not_block),
        T(test_idle_connections_over_the_cap_do_not_lock_status_out),
        T(test_idle_connections_at_the_fd_limit_do_not_lock_status_out),
        T(test_idle_connection_is_closed_after_the_timeout),
        T(test_accept_at_the_fd_limit_does_not_spin),
        T(test_socket_is_0600_in_a_new_0700_directory),
        T(test_other_uid_is_refused),
        T(test_stale_socket_is_replaced),
        T(test_live_socket_refuses_second_tend),
        T(test_unreachable_socket_exits_3_naming_it),
        T(test_missing_names_is_usage_error),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
