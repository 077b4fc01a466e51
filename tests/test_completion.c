/* test_completion.c -- the bash completion (completion/tend.bash) offers
 * the commands, and the names of the running tend's procs. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_completion_offers_commands_and_proc_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
