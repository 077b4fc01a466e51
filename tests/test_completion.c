/* test_completion.c -- the completions for bash (completion/tend.bash),
 * zsh (completion/_tend) and fish (completion/tend.fish) offer the
 * commands and the names of the running tend's procs, which they read from
 * `tend status --names`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* What the completion offers for the words `line` (the last one being
 * completed), as one line. */
static char *complete(const char *sock, const char *line)
{
    char cmd[4096], *out = calloc(1, 4096);
    snprintf(cmd, sizeof cmd,
             "bash -c 'source completion/tend.bash; COMP_WORDS=(%s); "
             "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _tend; echo \"${COMPREPLY[*]}\"'",
             line);
    setenv("TEND_SOCKET", sock, 1);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (!fgets(out, 4096, p))
            out[0] = '\0';
        pclose(p);
    }
    return out;
}

static void test_completion_offers_commands_and_proc_names(void **state)
{
    char *dir = tmpdir_new(), sock[4200], words[4400];
    snprintf(sock, sizeof sock, "%s/tend.sock", dir);
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'alpha', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'beta', cmd = { 'sleep', '300' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", "--socket", sock, policy, NULL});
    assert_true(tend_expect(t, 2, "beta: started", DEADLINE));
    assert_true(tend_expect(t, 2, "alpha: started", DEADLINE));

    char *c = complete(sock, "tend re");
    assert_string_equal(c, "restart reload\n");
    free(c);
    snprintf(words, sizeof words, "%s stop --socket %s \"\"", tend_path(), sock);
    c = complete(sock, words);
    assert_non_null(strstr(c, "alpha"));
    assert_non_null(strstr(c, "beta"));
    assert_non_null(strstr(c, "--timeout"));
    free(c);
    snprintf(words, sizeof words, "%s logs --socket %s al", tend_path(), sock);
    c = complete(sock, words);
    assert_string_equal(c, "alpha\n");
    free(c);

    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
    tmpdir_free(dir);
}

static void test_scale_completes_the_sets_of_replicas(void **state)
{
    char *dir = tmpdir_new(), sock[4200], words[4400];
    snprintf(sock, sizeof sock, "%s/tend.sock", dir);
    char *policy = write_file(dir, "p.lua",
        "tend.proc { name = 'web', replicas = 2, cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'solo', cmd = { 'sleep', '300' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", "--socket", sock, policy, NULL});
    assert_true(tend_expect(t, 2, "solo: started", DEADLINE));

    char *c = complete(sock, "tend sc");
    assert_string_equal(c, "scale\n");
    free(c);
    snprintf(words, sizeof words, "%s scale --socket %s \"\"", tend_path(), sock);
    c = complete(sock, words);
    assert_string_equal(c, "web\n");
    free(c);

    kill(t->pid, SIGTERM);
    assert_int_equal(tend_wait(t, DEADLINE), 0);
    tend_free(t);
    free(policy);
    tmpdir_free(dir);
}

/* A tend with procs alpha and beta on a socket of its own in *dir. */
static struct tend_run *two_procs(char **dir, char *sock, size_t socksz)
{
    *dir = tmpdir_new();
    snprintf(sock, socksz, "%s/tend.sock", *dir);
    char *policy = write_file(*dir, "p.lua",
        "tend.proc { name = 'alpha', cmd = { 'sleep', '300' } }\n"
        "tend.proc { name = 'beta', cmd = { 'sleep', '300' } }\n");
    struct tend_run *t = tend_start((const char *[]){"run", "--socket", sock, policy, NULL});
    free(policy);
    assert_true(tend_expect(t, 2, "beta: started", DEADLINE));
    return t;
}

/* The output of `sh -c cmd`, or NULL. */
static char *shell_output(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    char *out = calloc(1, 65536);
    size_t n = fread(out, 1, 65535, p);
    out[n] = '\0';
    pclose(p);
    return out;
}

static void test_status_names_is_one_name_a_line(void **state)
{
    char *dir, sock[4200];
    struct tend_run *t = two_procs(&dir, sock, sizeof sock);
    struct tend_run *c = tend_run_sync((const char *[]){"status", "--names", "--socket", sock, NULL},
                                       DEADLINE);
    assert_int_equal(run_exit_code(c), 0);
    assert_string_equal(c->out, "alpha\nbeta\n");
    tend_free(c);
    c = tend_run_sync((const char *[]){"status", "--names", "--json", "--socket", sock, NULL},
                      DEADLINE);
    assert_int_equal(run_exit_code(c), 2);
    assert_contains(c->err, "--json or --names, not both");
    tend_free(c);
    tend_free(t);
    tmpdir_free(dir);
}

static void test_zsh_completion_loads_and_is_registered(void **state)
{
    if (system("command -v zsh >/dev/null 2>&1") != 0)
        skip();  /* cmocka prints it as SKIPPED: scripts/deps.sh installs zsh */
    char *dir = tmpdir_new(), cmd[8192];
    snprintf(cmd, sizeof cmd,
             "zsh -f -c 'fpath=(completion $fpath); autoload -Uz compinit; "
             "compinit -u -d %s/zcompdump; print -r -- $_comps[tend]; "
             "autoload -Uz _tend; whence -w _tend' 2>&1", dir);
    char *out = shell_output(cmd);
    assert_non_null(out);
    assert_string_equal(out, "_tend\n_tend: function\n");
    free(out);
    tmpdir_free(dir);
}

static void test_fish_completion_offers_commands_and_proc_names(void **state)
{
    if (system("command -v fish >/dev/null 2>&1") != 0)
        skip();  /* cmocka prints it as SKIPPED: scripts/deps.sh installs fish */
    char *dir, sock[4200], cmd[16384];
    struct tend_run *t = two_procs(&dir, sock, sizeof sock);
    char *out = shell_output("fish -c 'source completion/tend.fish; complete -C \"tend st\"'");
    assert_non_null(out);
    assert_contains(out, "start\t");
    assert_contains(out, "status\t");
    assert_contains(out, "stop\t");
    assert_lacks(out, "restart");
    free(out);
    snprintf(cmd, sizeof cmd,
             "fish -c 'source completion/tend.fish; complete -C \"%s stop --socket %s \"'",
             tend_path(), sock);
    out = shell_output(cmd);
    assert_non_null(out);
    assert_string_equal(out, "alpha\nbeta\n");
    free(out);
    tend_free(t);
    tmpdir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_completion_offers_commands_and_proc_names),
        cmocka_unit_test(test_scale_completes_the_sets_of_replicas),
        cmocka_unit_test(test_status_names_is_one_name_a_line),
        cmocka_unit_test(test_zsh_completion_loads_and_is_registered),
        cmocka_unit_test(test_fish_completion_offers_commands_and_proc_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
