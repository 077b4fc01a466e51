/* test_envfile.c -- the env-file parser, reader and overlay (envfile.c,
 * SPEC 3 `env_file`): each syntax, each error, with file:line; values are
 * never shown in a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/envfile.h"
#include "harness.h"
#include "core/spec.h"

/* Parse `text` (its strlen), which must succeed; the list. */
static char **parse_ok(const char *text)
{
    char *err = NULL;
    char **v = envfile_parse(text, strlen(text), "app.env", &err);
    if (!v)
        fail_msg("\"%s\" was refused: %s", text, err);
    assert_null(err);
    return v;
}

/* `text` parses to exactly the entries of `want` (NULL-terminated), in
 * that order. */
static void assert_parses(const char *text, const char *const *want)
{
    char **v = parse_ok(text);
    size_t i = 0;
    for (; want[i]; i++) {
        if (!v[i])
            fail_msg("\"%s\": entry %zu missing (want \"%s\")", text, i, want[i]);
        if (strcmp(v[i], want[i]) != 0)
            fail_msg("\"%s\": entry %zu is \"%s\", want \"%s\"", text, i, v[i], want[i]);
    }
    if (v[i])
        fail_msg("\"%s\": an extra entry \"%s\"", text, v[i]);
    strv_free(v);
}

/* `text` is refused with a message that starts with "app.env:LINE: " and
 * holds `part`. */
static void assert_refused(const char *text, size_t len, int line, const char *part)
{
    char *err = NULL;
    char **v = envfile_parse(text, len, "app.env", &err);
    if (v)
        fail_msg("\"%s\" was accepted", text);
    assert_non_null(err);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "app.env:%d: ", line);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", err, prefix);
    if (!strstr(err, part))
        fail_msg("message \"%s\" lacks \"%s\"", err, part);
    free(err);
}

#define REFUSED(text, line, part) assert_refused((text), strlen(text), (line), (part))
#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_plain_pairs(void **state)
{
    assert_parses("A=1\nB=two words\n", L("A=1", "B=two words"));
    assert_parses("A=1", L("A=1"));                  /* no final newline */
    assert_parses("", (const char *const[]){NULL});  /* empty file */
    assert_parses("lower_case=x\n_U=y\nA.b-c=z\n", L("lower_case=x", "_U=y", "A.b-c=z"));
    assert_parses("URL=http://h/p?a=1&b=2\n", L("URL=http://h/p?a=1&b=2"));  /* = in value */
}

static void test_export(void **state)
{
    assert_parses("export A=1\nexport\tB=2\nexport   C=3\n", L("A=1", "B=2", "C=3"));
    /* `export` is a keyword only before blanks: a variable may be named so */
    assert_parses("export=1\nexported=2\n", L("export=1", "exported=2"));
}

static void test_empty_values(void **state)
{
    assert_parses("A=\nB=''\nC=\"\"\nD=   \n", L("A=", "B=", "C=", "D="));
}

static void test_blanks_around_key_equals_and_value(void **state)
{
    assert_parses("  A=1\n\tB = 2 \nC\t=\t3\t\n", L("A=1", "B=2", "C=3"));
    /* inside a value they stay */
    assert_parses("A=a  b\n", L("A=a  b"));
}

static void test_single_quotes_are_taken_as_is(void **state)
{
    assert_parses("A='x y'\n", L("A=x y"));
    assert_parses("A='  padded  '\n", L("A=  padded  "));
    assert_parses("A='$HOME \\n \\\\ \" #'\n", L("A=$HOME \\n \\\\ \" #"));
    assert_parses("A='x'   \n", L("A=x"));  /* blanks after the quote */
}

static void test_double_quotes_and_their_escapes(void **state)
{
    assert_parses("A=\"x y\"\n", L("A=x y"));
    assert_parses("A=\"say \\\"hi\\\"\"\n", L("A=say \"hi\""));
    assert_parses("A=\"back\\\\slash\"\n", L("A=back\\slash"));
    assert_parses("A=\"two\\nlines\"\n", L("A=two\nlines"));
    assert_parses("A=\"it's\"\n", L("A=it's"));
    assert_parses("A=\"$HOME\"\n", L("A=$HOME"));  /* nothing expanded */
}

static void test_nothing_is_expanded(void **state)
{
    assert_parses("A=$HOME\nB=${PATH}:x\nC=`id`\nD=~/x\n",
                  L("A=$HOME", "B=${PATH}:x", "C=`id`", "D=~/x"));
}

static void test_comments_only_at_the_start_of_a_line(void **state)
{
    assert_parses("# a comment\n  # indented\n\t#tab\nA=1\n#B=2\n", L("A=1"));
    /* elsewhere # is part of the value */
    assert_parses("A=x # not a comment\nB=#x\nC='#'\n",
                  L("A=x # not a comment", "B=#x", "C=#"));
}

static void test_blank_lines_are_skipped(void **state)
{
    assert_parses("\n\nA=1\n   \n\t\n\nB=2\n\n", L("A=1", "B=2"));
}

static void test_crlf_and_a_byte_order_mark(void **state)
{
    assert_parses("A=1\r\nB='x'\r\n\r\n# c\r\n", L("A=1", "B=x"));
    assert_parses("\xef\xbb\xbf" "A=1\n", L("A=1"));
}

static void test_a_later_line_wins_in_place(void **state)
{
    assert_parses("A=1\nB=2\nA=3\n", L("A=3", "B=2"));
}

static void test_values_keep_any_other_bytes(void **state)
{
    assert_parses("A=h\xc3\xa9llo\nB=a\tb\n", L("A=h\xc3\xa9llo", "B=a\tb"));
}

static void test_lines_that_are_not_pairs(void **state)
{
    REFUSED("A=1\nnot a pair\n", 2, "KEY=VALUE expected (the line has no '=')");
    REFUSED("export\n", 1, "KEY=VALUE expected");
    REFUSED("export A\n", 1, "KEY=VALUE expected");
    REFUSED("=1\n", 1, "no name before the '='");
    REFUSED("  = x\n", 1, "no name before the '='");
}

static void test_bad_names(void **state)
{
    REFUSED("1A=x\n", 1, "'1A' is not a variable name");
    REFUSED("A B=x\n", 1, "'A B' is not a variable name");
    REFUSED("A$=x\n", 1, "'A$' is not a variable name");
    REFUSED("-A=x\n", 1, "'-A' is not a variable name");
    REFUSED("\n\nA\xc3\xa9=x\n", 3, "'A\\xc3\\xa9' is not a variable name");
}

static void test_bad_quotes(void **state)
{
    REFUSED("A='open\n", 1, "A: no closing '");
    REFUSED("A=\"open\n", 1, "A: no closing \"");
    REFUSED("A=\"two\nlines\"\n", 1, "no closing \"");  /* a value ends with its line */
    REFUSED("A='x'y\n", 1, "A: text after the closing '");
    REFUSED("A=\"x\" y\n", 1, "A: text after the closing \"");
    REFUSED("A=\"x\" # c\n", 1, "a # comment goes on a line of its own");
    REFUSED("A=\"x\\\n", 1, "A: a \\ ends the line");
}

static void test_unknown_escapes(void **state)
{
    REFUSED("A=\"a\\tb\"\n", 1, "A: \\t is not an escape of double quotes");
    REFUSED("A=\"\\$HOME\"\n", 1, "\\$ is not an escape");
    REFUSED("A=\"\\'\"\n", 1, "\\' is not an escape");
}

static void test_a_nul_byte(void **state)
{
    assert_refused("A=1\nB=x\0y\n", 10, 2, "NUL byte");
    assert_refused("\0", 1, 1, "NUL byte");
}

/* A secret on a bad line must not end up in tend's log. */
static void test_messages_never_show_a_value(void **state)
{
    static const char *const texts[] = {
        "PASSWORD=\"hunter2\\q\"\n", "PASSWORD='hunter2\n", "PASSWORD=\"hunter2\" x\n",
        "hunter2\n", "A B=hunter2\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char *err = NULL;
        assert_null(envfile_parse(texts[i], strlen(texts[i]), "app.env", &err));
        if (strstr(err, "hunter2"))
            fail_msg("\"%s\" shows the value", err);
        free(err);
    }
}

/* The line number counts every line: blank, comment, CRLF. */
static void test_line_numbers(void **state)
{
    REFUSED("# c\n\nA=1\r\n\r\n  \nB\n", 6, "KEY=VALUE expected");
    REFUSED("\xef\xbb\xbf" "bad\n", 1, "KEY=VALUE expected");
}

/* The overlay: a later list wins in place, a bare KEY (env's false) stays
 * to unset. */
static void test_overlay(void **state)
{
    char *base[] = {"A=1", "B=2", "C=3", NULL};
    char *over[] = {"B=20", "C", "D=4", NULL};
    char **v = envfile_overlay(base, over);
    const char *want[] = {"A=1", "B=20", "C", "D=4"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(v[i], want[i]);
    assert_null(v[4]);
    strv_free(v);
    v = envfile_overlay(NULL, NULL);
    assert_null(v[0]);
    strv_free(v);
    v = envfile_overlay(NULL, over);
    assert_string_equal(v[1], "C");
    strv_free(v);
}

/* Many distinct keys: no quadratic blow-up (1 MiB of them parses at once). */
static void test_a_large_file(void **state)
{
    size_t cap = ENVFILE_MAX, n = 0, lines = 0;
    char *text = malloc(cap + 1);
    while (n + 32 < cap)
        n += (size_t)snprintf(text + n, cap - n, "KEY_%zu=value %zu\n", lines, lines), lines++;
    char *err = NULL;
    char **v = envfile_parse(text, n, "big.env", &err);
    assert_non_null(v);
    assert_int_equal(strv_len(v), lines);
    strv_free(v);
    free(text);
}

/* ---- reading ---- */

static void test_read_a_regular_file(void **state)
{
    char *dir = tmpdir_new();
    char *path = write_file(dir, "app.env", "A=1\n");
    size_t len;
    char *err = NULL;
    char *text = envfile_read(path, &len, &err);
    assert_non_null(text);
    assert_int_equal(len, 4);
    assert_string_equal(text, "A=1\n");
    free(text);
    free(path);
    tmpdir_free(dir);
}

static void test_read_refuses_what_is_not_a_regular_file(void **state)
{
    char *dir = tmpdir_new();
    char path[4200];
    size_t len;
    char *err = NULL;
    /* missing */
    snprintf(path, sizeof path, "%s/nope.env", dir);
    assert_null(envfile_read(path, &len, &err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file or directory"));
    free(err);
    /* a directory */
    assert_null(envfile_read(dir, &len, &err));
    assert_non_null(strstr(err, "not a regular file"));
    free(err);
    /* a FIFO: refused at once, never opened (a read would block) */
    snprintf(path, sizeof path, "%s/fifo.env", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_null(envfile_read(path, &len, &err));
    assert_non_null(strstr(err, "not a regular file"));
    free(err);
    /* a device */
    assert_null(envfile_read("/dev/null", &len, &err));
    assert_non_null(strstr(err, "not a regular file"));
    free(err);
    /* unreadable (root reads anything: only when not root) */
    if (geteuid() != 0) {
        char *p = write_file(dir, "secret.env", "A=1\n");
        chmod(p, 0);
        assert_null(envfile_read(p, &len, &err));
        assert_non_null(strstr(err, "Permission denied"));
        free(err);
        free(p);
    }
    tmpdir_free(dir);
}

static void test_read_refuses_a_file_too_large(void **state)
{
    char *dir = tmpdir_new();
    char path[4200];
    snprintf(path, sizeof path, "%s/big.env", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fseek(f, ENVFILE_MAX, SEEK_SET), 0);  /* one byte past the limit */
    fputc('\n', f);
    fclose(f);
    size_t len;
    char *err = NULL;
    assert_null(envfile_read(path, &len, &err));
    assert_non_null(strstr(err, "larger than"));
    free(err);
    tmpdir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_pairs),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_empty_values),
        cmocka_unit_test(test_blanks_around_key_equals_and_value),
        cmocka_unit_test(test_single_quotes_are_taken_as_is),
        cmocka_unit_test(test_double_quotes_and_their_escapes),
        cmocka_unit_test(test_nothing_is_expanded),
        cmocka_unit_test(test_comments_only_at_the_start_of_a_line),
        cmocka_unit_test(test_blank_lines_are_skipped),
        cmocka_unit_test(test_crlf_and_a_byte_order_mark),
        cmocka_unit_test(test_a_later_line_wins_in_place),
        cmocka_unit_test(test_values_keep_any_other_bytes),
        cmocka_unit_test(test_lines_that_are_not_pairs),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_bad_quotes),
        cmocka_unit_test(test_unknown_escapes),
        cmocka_unit_test(test_a_nul_byte),
        cmocka_unit_test(test_messages_never_show_a_value),
        cmocka_unit_test(test_line_numbers),
        cmocka_unit_test(test_overlay),
        cmocka_unit_test(test_a_large_file),
        cmocka_unit_test(test_read_a_regular_file),
        cmocka_unit_test(test_read_refuses_what_is_not_a_regular_file),
        cmocka_unit_test(test_read_refuses_a_file_too_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
