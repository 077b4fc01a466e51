/* test_ring.c -- unit tests of the line ring (src/base/ring.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ring.h"
#include "base/util.h"

#define MARK_LEN (sizeof(RING_CUT_MARK) - 1)
#define FFFD "\xEF\xBF\xBD"

/* The time a test line of sequence number `seq` arrived: any function of
 * seq will do, so that each line's time can be checked. */
static double time_of(uint64_t seq)
{
    return 1.5e9 + (double)seq / 8;
}

/* Pushes a NUL-terminated line. */
static void push(struct ring *r, uint64_t seq, const char *s)
{
    ring_push(r, seq, time_of(seq), s, strlen(s));
}

/* Asserts that the i-th held line is exactly want[0..wlen) under seq. */
static void check_line_at(const struct ring *r, size_t i, const char *want, size_t wlen,
                          uint64_t wseq, double wtime)
{
    size_t len = (size_t)-1;
    uint64_t seq = 0;
    const char *s = ring_line(r, i, &len, &seq);
    assert_int_equal(len, wlen);
    if (wlen > 0)
        assert_memory_equal(s, want, wlen);
    assert_int_equal(seq, wseq);
    assert_true(ring_line_time(r, i) == wtime);
}

/* The same, the line pushed at time_of(wseq). */
static void check_line(const struct ring *r, size_t i, const char *want, size_t wlen,
                       uint64_t wseq)
{
    check_line_at(r, i, want, wlen, wseq, time_of(wseq));
}

/* Asserts that a single pushed input is stored as `want`. */
static void check_stored(const char *in, size_t inlen, const char *want, size_t wlen)
{
    struct ring *r = ring_new();
    ring_push(r, 7, time_of(7), in, inlen);
    assert_int_equal(ring_count(r), 1);
    check_line(r, 0, want, wlen, 7);
    ring_free(r);
}

/* Asserts that ring_tail() returns exactly `want` and frees it. */
static void check_tail(const struct ring *r, size_t nlines, size_t maxbytes, uint64_t since,
                       const char *want)
{
    char *t = ring_tail(r, nlines, maxbytes, since);
    assert_non_null(t);
    assert_string_equal(t, want);
    free(t);
}

/* A new ring holds nothing and tails to ""; ring_free(NULL) is a no-op. */
static void test_empty(void **state)
{
    (void)state;
    struct ring *r = ring_new();
    assert_int_equal(ring_count(r), 0);
    check_tail(r, 100, 100000, 0, "");
    check_tail(r, 0, 0, 0, "");
    ring_free(r);
    ring_free(NULL);
}

/* Lines come back oldest first with their own seq, empty lines included. */
static void test_push_order(void **state)
{
    (void)state;
    struct ring *r = ring_new();
    push(r, 1, "alpha");
    push(r, 2, "");
    push(r, 5, "gamma");
    assert_int_equal(ring_count(r), 3);
    check_line(r, 0, "alpha", 5, 1);
    check_line(r, 1, "", 0, 2);
    check_line(r, 2, "gamma", 5, 5);
    check_tail(r, 100, 100000, 0, "alpha\n\ngamma\n");
    ring_free(r);
}

/* ring_tail keeps only lines with seq >= since. */
static void test_seq_filter(void **state)
{
    (void)state;
    struct ring *r = ring_new();
    /* Gaps, as when a proc numbers two streams from one counter. */
    push(r, 10, "a");
    push(r, 20, "b");
    push(r, 30, "c");
    push(r, 40, "d");
    check_tail(r, 100, 1000, 0, "a\nb\nc\nd\n");
    check_tail(r, 100, 1000, 10, "a\nb\nc\nd\n");
    check_tail(r, 100, 1000, 11, "b\nc\nd\n");
    check_tail(r, 100, 1000, 25, "c\nd\n");
    check_tail(r, 100, 1000, 30, "c\nd\n");
    check_tail(r, 100, 1000, 40, "d\n");
    check_tail(r, 100, 1000, 41, "");
    check_tail(r, 100, 1000, UINT64_MAX, "");
    /* since combines with the other limits. */
    check_tail(r, 1, 1000, 25, "d\n");
    ring_free(r);
}

/* Past RING_LINES lines the oldest go, one per push. */
static void test_evict_lines(void **state)
{
    (void)state;
    struct ring *r = ring_new();
    char buf[32];
    for (int i = 0; i < RING_LINES + 172; i++) {
        snprintf(buf, sizeof buf, "line %d", i);
        push(r, (uint64_t)i, buf);
        assert_int_equal(ring_count(r), i + 1 < RING_LINES ? i + 1 : RING_LINES);
    }
    for (size_t i = 0; i < RING_LINES; i++) {
        int n = 172 + (int)i;
        snprintf(buf, sizeof buf, "line %d", n);
        check_line(r, i, buf, strlen(buf), (uint64_t)n);
    }
    char *t = ring_tail(r, RING_LINES, 1000000, 0);
    size_t nl = 0;
    for (char *p = t; *p; p++)
        nl += *p == '\n';
    assert_int_equal(nl, RING_LINES);
    assert_true(strncmp(t, "line 172\n", 9) == 0);
    free(t);
    ring_free(r);
}

/* Lines over RING_LINE_MAX bytes are cut to RING_LINE_MAX with the mark. */
static void test_cut_ascii(void **state)
{
    (void)state;
    size_t big = 1 << 20;
    char *in = xmalloc(big);
    for (size_t i = 0; i < big; i++)
        in[i] = (char)('a' + i % 26);

    /* Exactly RING_LINE_MAX bytes: kept whole. */
    check_stored(in, RING_LINE_MAX, in, RING_LINE_MAX);

    /* One more: cut to RING_LINE_MAX - MARK_LEN bytes plus the mark, so the
     * result is exactly RING_LINE_MAX bytes. */
    char want[RING_LINE_MAX];
    memcpy(want, in, RING_LINE_MAX - MARK_LEN);
    memcpy(want + RING_LINE_MAX - MARK_LEN, RING_CUT_MARK, MARK_LEN);
    check_stored(in, RING_LINE_MAX + 1, want, RING_LINE_MAX);
    /* A huge line is cut the same way. */
    check_stored(in, big, want, RING_LINE_MAX);
    /* A CR is stripped before the length is judged. */
    in[RING_LINE_MAX] = '\r';
    check_stored(in, RING_LINE_MAX + 1, in, RING_LINE_MAX);
    free(in);
}

/* The cut never splits a character and applies to the sanitised length. */
static void test_cut_utf8_boundary(void **state)
{
    (void)state;
    const size_t keep_max = RING_LINE_MAX - MARK_LEN;  /* 1018 */
    char in[4096], want[RING_LINE_MAX];
    size_t n;

    /* keep_max - 1 ASCII bytes then 3-byte characters: the first '€' would
     * end past keep_max, so the cut falls before it. */
    memset(in, 'a', keep_max - 1);
    n = keep_max - 1;
    while (n + 3 <= sizeof in) {
        memcpy(in + n, "\xE2\x82\xAC", 3);
        n += 3;
    }
    memcpy(want, in, keep_max - 1);
    memcpy(want + keep_max - 1, RING_CUT_MARK, MARK_LEN);
    check_stored(in, n, want, keep_max - 1 + MARK_LEN);

    /* 2-byte characters from offset 1: boundaries are odd, so 1017. */
    in[0] = 'x';
    n = 1;
    while (n + 2 <= sizeof in) {
        memcpy(in + n, "\xC3\xA9", 2);
        n += 2;
    }
    memcpy(want, in, 1017);
    memcpy(want + 1017, RING_CUT_MARK, MARK_LEN);
    check_stored(in, n, want, 1017 + MARK_LEN);

    /* 2-byte characters from offset 0: 1018 is a boundary, used in full. */
    n = 0;
    while (n + 2 <= sizeof in) {
        memcpy(in + n, "\xC3\xA9", 2);
        n += 2;
    }
    memcpy(want, in, keep_max);
    memcpy(want + keep_max, RING_CUT_MARK, MARK_LEN);
    check_stored(in, n, want, RING_LINE_MAX);

    /* 4-byte characters: 1016 is the last boundary within 1018. */
    n = 0;
    while (n + 4 <= sizeof in) {
        memcpy(in + n, "\xF0\x9F\x98\x80", 4);
        n += 4;
    }
    memcpy(want, in, 1016);
    memcpy(want + 1016, RING_CUT_MARK, MARK_LEN);
    check_stored(in, n, want, 1016 + MARK_LEN);

    /* Short raw input that only gets long through replacement: 400 bytes
     * of 0xff become 1200 bytes, cut after 339 U+FFFD (1017 bytes). */
    memset(in, 0xff, 400);
    for (size_t i = 0; i < 339; i++)
        memcpy(want + 3 * i, FFFD, 3);
    memcpy(want + 1017, RING_CUT_MARK, MARK_LEN);
    check_stored(in, 400, want, 1017 + MARK_LEN);

    /* 341 x 0xff = 1023 bytes sanitised: fits, not cut; 342 = 1026: cut. */
    for (size_t i = 0; i < 341; i++)
        memcpy(want + 3 * i, FFFD, 3);
    check_stored(in, 341, want, 1023);
    memcpy(want + 1017, RING_CUT_MARK, MARK_LEN);
    check_stored(in, 342, want, 1017 + MARK_LEN);
}

#define STORED(in, want) check_stored(in, sizeof(in) - 1, want, sizeof(want) - 1)

/* Invalid UTF-8 becomes one U+FFFD per maximal subpart. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    /* A lone bad byte, anywhere. */
    STORED("\xff", FFFD);
    STORED("a\xff" "b", "a" FFFD "b");
    STORED("\xfe\xff", FFFD FFFD);
    STORED("\xf5", FFFD);
    /* Lone continuation bytes. */
    STORED("\x80", FFFD);
    STORED("a\xbf\x80z", "a" FFFD FFFD "z");
    /* Truncated sequences: one U+FFFD per maximal subpart. */
    STORED("\xE2\x82", FFFD);
    STORED("a\xE2\x82", "a" FFFD);
    STORED("\xE2\x82z", FFFD "z");
    STORED("\xE2\x82\xE2\x82\xAC", FFFD "\xE2\x82\xAC");
    STORED("\xF0\x9F\x98", FFFD);
    STORED("\xF0\x9F\x98!", FFFD "!");
    STORED("\xC3", FFFD);
    STORED("\xF1\x80\x80", FFFD);
    STORED("\xF3\x80" "a", FFFD "a");
    /* Overlongs: the lead (or second byte) is not allowed, so each byte. */
    STORED("\xC0\x80", FFFD FFFD);
    STORED("\xC1\xBF", FFFD FFFD);
    STORED("\xE0\x80\x80", FFFD FFFD FFFD);
    STORED("\xE0\x9F\xBF", FFFD FFFD FFFD);
    STORED("\xF0\x80\x80\x80", FFFD FFFD FFFD FFFD);
    STORED("\xF0\x8F\xBF\xBF", FFFD FFFD FFFD FFFD);
    /* Surrogates. */
    STORED("\xED\xA0\x80", FFFD FFFD FFFD);
    STORED("\xED\xBF\xBF", FFFD FFFD FFFD);
    STORED("x\xED\xA0\x80y", "x" FFFD FFFD FFFD "y");
    /* Above U+10FFFF. */
    STORED("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD);
    STORED("\xF7\xBF\xBF\xBF", FFFD FFFD FFFD FFFD);
    /* Five- and six-byte forms are gone. */
    STORED("\xF8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD);
}

/* Well-formed UTF-8, at the edges of every range, is kept byte for byte. */
static void test_valid_multibyte(void **state)
{
    (void)state;
    /* Edges of each range of well-formed sequences are kept as they are. */
    static const char *const ok[] = {
        "plain ascii \t\x01\x7f",
        "\xC2\x80",                     /* U+0080 */
        "\xDF\xBF",                     /* U+07FF */
        "\xE0\xA0\x80",                 /* U+0800 */
        "\xED\x9F\xBF",                 /* U+D7FF */
        "\xEE\x80\x80",                 /* U+E000 */
        "\xEF\xBF\xBD",                 /* U+FFFD itself */
        "\xEF\xBF\xBF",                 /* U+FFFF */
        "\xF0\x90\x80\x80",             /* U+10000 */
        "\xF1\x80\x80\x80",             /* U+40000 */
        "\xF3\xBF\xBF\xBF",             /* U+FFFFF */
        "\xF4\x8F\xBF\xBF",             /* U+10FFFF */
        "caf\xC3\xA9 \xE2\x82\xAC 5 \xF0\x9F\x98\x80 \xE6\x97\xA5\xE6\x9C\xAC",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        check_stored(ok[i], strlen(ok[i]), ok[i], strlen(ok[i]));
    /* An embedded NUL is valid UTF-8 and kept (ring_line has a length). */
    check_stored("a\0b", 3, "a\0b", 3);
}

/* One trailing CR is stripped, before sanitising and cutting. */
static void test_crlf(void **state)
{
    (void)state;
    STORED("hello\r", "hello");
    STORED("\r", "");
    /* Only one trailing CR goes; others are text. */
    STORED("a\r\r", "a\r");
    STORED("a\rb", "a\rb");
    STORED("\rb", "\rb");
    /* The CR goes before sanitising: a truncated sequence before it is
     * then at the end of the line. */
    STORED("x\xE2\x82\r", "x" FFFD);

    struct ring *r = ring_new();
    push(r, 1, "one\r");
    push(r, 2, "two\r");
    check_tail(r, 10, 100, 0, "one\ntwo\n");
    ring_free(r);
}

/* ring_tail honours nlines and maxbytes with whole lines only. */
static void test_tail_limits(void **state)
{
    (void)state;
    struct ring *r = ring_new();
    push(r, 1, "one");      /* 4 bytes with its newline */
    push(r, 2, "two");      /* 4 */
    push(r, 3, "three");    /* 6 */

    check_tail(r, 3, 1000, 0, "one\ntwo\nthree\n");
    check_tail(r, 2, 1000, 0, "two\nthree\n");
    check_tail(r, 1, 1000, 0, "three\n");
    check_tail(r, 0, 1000, 0, "");
    check_tail(r, SIZE_MAX, SIZE_MAX, 0, "one\ntwo\nthree\n");

    /* maxbytes counts the newlines, not the final NUL. */
    check_tail(r, 10, 14, 0, "one\ntwo\nthree\n");
    check_tail(r, 10, 13, 0, "two\nthree\n");
    check_tail(r, 10, 10, 0, "two\nthree\n");
    check_tail(r, 10, 9, 0, "three\n");
    check_tail(r, 10, 6, 0, "three\n");
    /* Whole lines only: the newest alone does not fit, so nothing. */
    check_tail(r, 10, 5, 0, "");
    check_tail(r, 10, 0, 0, "");
    ring_free(r);

    /* The first line that does not fit ends the tail; an older, shorter
     * one is not picked up past it. */
    r = ring_new();
    push(r, 1, "a");
    push(r, 2, "bbbbbbbb");
    push(r, 3, "c");
    check_tail(r, 10, 4, 0, "c\n");
    check_tail(r, 10, 11, 0, "bbbbbbbb\nc\n");
    check_tail(r, 10, 13, 0, "a\nbbbbbbbb\nc\n");
    ring_free(r);
}

/* ---- reference model ------------------------------------------------ */

static uint64_t rng_state;

/* The caps of the rings the model runs on (ring_new_capped): the
 * defaults, or small ones that reach the wrap cases quickly. */
static size_t cap_lines = RING_LINES, cap_bytes = RING_BYTES_MAX;

/* xorshift64*: deterministic pseudo-random numbers for reproducible runs. */
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* A number in [lo, hi]. */
static size_t rnd_range(size_t lo, size_t hi)
{
    return lo + (size_t)(rnd() % (hi - lo + 1));
}

struct model {
    char **text;        /* what each pushed line must be stored as */
    size_t *len;
    uint64_t *seq;
    double *time;       /* when each arrived; NULL: time_of(seq) */
    size_t n;           /* lines pushed */
};

/* Checks the ring against the model: it holds the newest ring_count()
 * lines, in order, no more than the limits allow, and it did not drop
 * more than it had to.  Compares every line when `full`, else the newest
 * few. */
static void check_model(const struct ring *r, const struct model *m, bool full)
{
    size_t count = ring_count(r);
    assert_true(count >= 1);
    assert_true(count <= cap_lines);
    assert_true(count <= m->n);

    size_t base = m->n - count, from = full || count < 4 ? 0 : count - 4;
    for (size_t i = from; i < count; i++)
        check_line_at(r, i, m->text[base + i], m->len[base + i], m->seq[base + i],
                      m->time ? m->time[base + i] : time_of(m->seq[base + i]));

    if (!full)
        return;
    size_t held = 0;
    for (size_t i = base; i < m->n; i++)
        held += m->len[i];
    assert_true(held <= cap_bytes);
    /* Lines are dropped only for the line cap or to keep the text within
     * the byte cap; even counting a line skipped at the end of the
     * buffer and the gap before the oldest, what is held plus the last
     * line dropped must be more than the byte cap less RING_LINE_MAX. */
    if (count < cap_lines && base > 0)
        assert_true(held + m->len[base - 1] > cap_bytes - RING_LINE_MAX);

    /* A tail of random limits matches one computed from the model. */
    size_t nlines = rnd_range(0, cap_lines + 2);
    size_t maxbytes = rnd() % 4 == 0 ? SIZE_MAX : rnd_range(0, 140000);
    uint64_t since = m->seq[base + rnd_range(0, count - 1)] - rnd_range(0, 1);
    size_t k = 0, bytes = 0;
    while (k < count && k < nlines) {
        size_t j = m->n - 1 - k;
        if (m->seq[j] < since || m->len[j] + 1 > maxbytes - bytes)
            break;
        bytes += m->len[j] + 1;
        k++;
    }
    char *want = xmalloc(bytes + 1), *p = want;
    for (size_t j = m->n - k; j < m->n; j++) {
        memcpy(p, m->text[j], m->len[j]);
        p += m->len[j];
        *p++ = '\n';
    }
    *p = '\0';
    char *got = ring_tail(r, nlines, maxbytes, since);
    assert_int_equal(strlen(got), bytes);
    assert_memory_equal(got, want, bytes + 1);
    free(got);
    free(want);
}

/* Pushes lines in phases of {how many, shortest, longest}, checking the
 * newest lines after each push and everything after every `full_every`-th;
 * returns how many times the ring held fewer than cap_lines lines after
 * having been full (i.e. had dropped lines for bytes). */
static size_t run_model(uint64_t seed, const size_t (*phases)[3], size_t nphases,
                        size_t full_every)
{
    size_t total = 0, byte_drops = 0;
    bool was_full = false;
    for (size_t ph = 0; ph < nphases; ph++)
        total += phases[ph][0];

    struct model m = {
        .text = xcalloc(total, sizeof(char *)),
        .len = xcalloc(total, sizeof(size_t)),
        .seq = xcalloc(total, sizeof(uint64_t)),
    };
    struct ring *r = ring_new_capped(cap_lines, cap_bytes);
    char *line = xmalloc(2000);
    uint64_t seq = 0;
    rng_state = seed;

    for (size_t ph = 0; ph < nphases; ph++) {
        for (size_t i = 0; i < phases[ph][0]; i++) {
            size_t len = rnd_range(phases[ph][1], phases[ph][2]);
            /* Printable ASCII so the model's cut rule is simple; the first
             * bytes carry the line number so misplaced lines show. */
            int hdr = snprintf(line, 2000, "%zu:", m.n);
            for (size_t j = 0; j < len; j++)
                line[j] = j < (size_t)hdr ? line[j] : (char)(' ' + rnd() % 95);
            seq += rnd_range(1, 3);
            ring_push(r, seq, time_of(seq), line, len);

            size_t slen = len;
            if (len > RING_LINE_MAX)
                slen = RING_LINE_MAX - MARK_LEN;
            m.text[m.n] = xmalloc(RING_LINE_MAX + 1);
            memcpy(m.text[m.n], line, slen);
            if (len > RING_LINE_MAX) {
                memcpy(m.text[m.n] + slen, RING_CUT_MARK, MARK_LEN);
                slen += MARK_LEN;
            }
            m.len[m.n] = slen;
            m.seq[m.n] = seq;
            m.n++;

            check_model(r, &m, m.n % full_every == 0);
            if (ring_count(r) == cap_lines)
                was_full = true;
            else if (was_full)
                byte_drops++;
        }
    }
    check_model(r, &m, true);

    ring_free(r);
    free(line);
    for (size_t i = 0; i < m.n; i++)
        free(m.text[i]);
    free(m.text);
    free(m.len);
    free(m.seq);
    return byte_drops;
}

/* Lines staged in blocks (ring_stage) of 1..`most` lines, now and then
 * one pushed alone, and the ring read only every few blocks: what it holds
 * is what pushing each line would have left (checked against the model). */
static void run_staged_model(uint64_t seed, size_t blocks, size_t most, size_t shortest,
                             size_t longest)
{
    size_t total = blocks * most;
    struct model m = {
        .text = xcalloc(total, sizeof(char *)),
        .len = xcalloc(total, sizeof(size_t)),
        .seq = xcalloc(total, sizeof(uint64_t)),
        .time = xcalloc(total, sizeof(double)),
    };
    struct ring *r = ring_new_capped(cap_lines, cap_bytes);
    char *block = xmalloc(most * (longest + 1) + 1);
    uint64_t seq = 0;
    size_t unread = 0, read_after = 1;
    rng_state = seed;

    for (size_t b = 0; b < blocks; b++) {
        size_t lines = rnd_range(1, most), n = 0;
        bool alone = rnd() % 8 == 0;  /* ring_push, one line */
        if (alone)
            lines = 1;
        seq += rnd_range(1, 3);
        double when = 1000.0 + (double)b;
        for (size_t i = 0; i < lines; i++) {
            size_t len = rnd_range(shortest, longest);
            char *line = block + n;
            int hdr = snprintf(line, longest + 1, "%zu:", m.n);
            for (size_t j = (size_t)hdr; j < len; j++)
                line[j] = (char)(' ' + rnd() % 95);
            if (len < (size_t)hdr)
                len = (size_t)hdr;
            line[len] = '\n';
            n += len + 1;
            size_t slen = len > RING_LINE_MAX ? RING_LINE_MAX - MARK_LEN : len;
            m.text[m.n] = xmalloc(RING_LINE_MAX + 1);
            memcpy(m.text[m.n], line, slen);
            if (len > RING_LINE_MAX) {
                memcpy(m.text[m.n] + slen, RING_CUT_MARK, MARK_LEN);
                slen += MARK_LEN;
            }
            m.len[m.n] = slen;
            m.seq[m.n] = seq + i;
            m.time[m.n] = when;
            m.n++;
        }
        if (alone)
            ring_push(r, seq, when, block, n - 1);
        else
            ring_stage(r, seq, when, block, n, lines);
        seq += lines - 1;
        if (++unread >= read_after) {
            check_model(r, &m, true);
            unread = 0;
            read_after = rnd_range(1, 12);
        }
    }
    check_model(r, &m, true);

    ring_free(r);
    free(block);
    for (size_t i = 0; i < m.n; i++)
        free(m.text[i]);
    free(m.text);
    free(m.len);
    free(m.seq);
    free(m.time);
}

/* Staged blocks of short lines: most are pushed out by newer ones before
 * the ring is read, and what is left is filed in order. */
static void test_staged_short_lines(void **state)
{
    (void)state;
    run_staged_model(31, 300, 400, 0, 60);
    /* small blocks join a big one: the stage runs out of blocks */
    run_staged_model(32, 800, 80, 0, 40);
}

/* Staged blocks of long lines: over the stage's size, they are filed at
 * once; the byte cap still decides what stays. */
static void test_staged_long_lines(void **state)
{
    (void)state;
    run_staged_model(33, 200, 300, 500, 1500);
    run_staged_model(34, 400, 40, 0, 1500);
}

/* A bad byte anywhere in an otherwise ASCII line, whatever its offset
 * (the ASCII fast path reads 32 and 8 bytes at a time), is replaced. */
static void test_bad_byte_at_every_offset(void **state)
{
    (void)state;
    char in[71], want[73];
    for (size_t at = 0; at < sizeof in; at++) {
        memset(in, 'a', sizeof in);
        in[at] = (char)0xE9;  /* a lead byte with no continuation */
        memset(want, 'a', sizeof want);
        memcpy(want + at, FFFD, 3);
        check_stored(in, sizeof in, want, sizeof want);
    }
}

/* The caps of a small ring: 128 lines and 128 KiB, so that 128 lines of
 * 32 bytes fill the initial 4 KiB buffer exactly. */
static int small_caps(void **state)
{
    cap_lines = 128;
    cap_bytes = 128 * 1024;
    return 0;
}

/* Back to the default caps. */
static int default_caps(void **state)
{
    cap_lines = RING_LINES;
    cap_bytes = RING_BYTES_MAX;
    return 0;
}

/* 10,000 lines of 0..1500 bytes match the reference model throughout. */
static void test_model_mixed(void **state)
{
    (void)state;
    static const size_t phases[][3] = { { 10000, 0, 1500 } };
    run_model(0x9E3779B97F4A7C15ULL, phases, 1, 16);
}

/* Short lines reach the line cap (the index grows to it) and cycle
 * through, matching the model. */
static void test_model_line_cap(void **state)
{
    (void)state;
    static const size_t phases[][3] = { { 3 * RING_LINES, 0, 200 } };
    size_t byte_drops = run_model(4242, phases, 1, 64);
    assert_int_equal(byte_drops, 0);  /* 1024 lines of 200 bytes fit */
}

/* Lines that fit the room exactly, or miss by one byte, are placed right. */
static void test_exact_fits(void **state)
{
    (void)state;
    /* 128 lines of 32 bytes fill the 4 KiB buffer exactly (the
     * last one ending right at its end); the next 32-byte line, after the
     * line cap drops the oldest, exactly fills the room freed at the start
     * (wrapping), and the next exactly fills the gap up to the oldest line;
     * a 33-byte line is then one byte too many, so the buffer grows.  Then
     * lines keep cycling through. */
    static const size_t wrapped[][3] = {
        { 128, 32, 32 }, { 1, 32, 32 }, { 1, 32, 32 }, { 1, 33, 33 }, { 300, 30, 34 },
    };
    run_model(1, wrapped, 5, 1);
    /* The same without wrapping: the room at the start is one byte short
     * for a 33-byte line. */
    static const size_t linear[][3] = { { 128, 32, 32 }, { 1, 33, 33 }, { 300, 30, 34 } };
    run_model(2, linear, 3, 1);
    /* Cycling fixed-size lines through a buffer they fill exactly: the
     * bookkeeping of which lines sit above the wrap point must be exact. */
    static const size_t cycle[][3] = { { 1000, 32, 32 } };
    run_model(3, cycle, 1, 1);
}

/* Growing the buffer while lines sit on both sides of the wrap keeps them all. */
static void test_model_grow_while_wrapped(void **state)
{
    (void)state;
    /* 136 lines of 30 bytes fill the 4 KiB buffer to 4080 bytes, the line
     * cap having dropped the first 8, so the 137th goes to offset 0 with
     * 127 lines above it; a 1000-byte line then does not fit between the
     * two, so the buffer must grow (and unwrap) with lines on both sides
     * of the wrap point. */
    static const size_t exact[][3] = { { 136, 30, 30 }, { 1, 30, 30 }, { 1, 1000, 1000 },
                                       { 200, 0, 1500 } };
    run_model(99, exact, 4, 1);

    /* The same by chance: short lines first, so the small buffer wraps
     * again and again; then long ones; then short again in the big
     * buffer, and long again. */
    static const size_t phases[][3] = {
        { 3000, 0, 40 }, { 2000, 0, 1500 }, { 3000, 0, 60 }, { 2000, 500, 1100 },
    };
    run_model(12345, phases, 4, 16);
}

/* With long lines the byte cap drops lines, and never more than it must. */
static void test_byte_cap(void **state)
{
    (void)state;
    /* Lines near RING_LINE_MAX: 128 of them need about 128 KiB, so with
     * the room lost at the wrap point the byte cap, not the line cap,
     * decides how many stay. */
    static const size_t phases[][3] = { { 2000, 1000, 1500 } };
    size_t byte_drops = run_model(777, phases, 1, 1);
    assert_true(byte_drops > 0);

    /* Every stored line is RING_LINE_MAX bytes here: check retention
     * directly. */
    struct ring *r = ring_new_capped(cap_lines, cap_bytes);
    char line[RING_LINE_MAX];
    for (uint64_t i = 0; i < 1000; i++) {
        memset(line, 'a' + (int)(i % 26), sizeof line);
        ring_push(r, i, time_of(i), line, sizeof line);
        size_t c = ring_count(r);
        /* The buffer sizes are multiples of RING_LINE_MAX, so such lines
         * pack with no room lost and the line cap is what binds. */
        assert_int_equal(c, i + 1 < cap_lines ? i + 1 : cap_lines);
        check_line(r, c - 1, line, sizeof line, i);
    }
    ring_free(r);
}

/* With the default caps, lines of RING_LINE_MAX bytes are bounded by
 * bytes: RING_BYTES_MAX / RING_LINE_MAX of them stay, the newest. */
static void test_default_byte_cap(void **state)
{
    (void)state;
    const size_t keep = RING_BYTES_MAX / RING_LINE_MAX;
    struct ring *r = ring_new();
    char line[RING_LINE_MAX];
    for (uint64_t i = 0; i < 2 * keep; i++) {
        memset(line, 'a' + (int)(i % 26), sizeof line);
        ring_push(r, i, time_of(i), line, sizeof line);
        assert_int_equal(ring_count(r), i + 1 < keep ? i + 1 : keep);
    }
    for (size_t i = 0; i < keep; i++) {
        memset(line, 'a' + (int)((keep + i) % 26), sizeof line);
        check_line(r, i, line, sizeof line, keep + i);
    }
    ring_free(r);
}

/* The promise of tend logs: at least 1,000 lines of a typical length. */
static void test_keeps_a_thousand_lines(void **state)
{
    (void)state;
    _Static_assert(RING_LINES >= 1000, "tend logs promises 1,000 lines a stream");
    struct ring *r = ring_new();
    char line[200];
    for (uint64_t i = 0; i < 5000; i++) {
        int n = snprintf(line, sizeof line, "%06llu ", (unsigned long long)i);
        memset(line + n, 'x', sizeof line - (size_t)n);
        ring_push(r, i, time_of(i), line, sizeof line);
    }
    assert_int_equal(ring_count(r), RING_LINES);
    size_t len;
    uint64_t seq;
    const char *first = ring_line(r, 0, &len, &seq);
    assert_int_equal(seq, 5000 - RING_LINES);
    assert_int_equal(len, sizeof line);
    assert_memory_equal(first, "003976 ", 7);
    ring_free(r);
}

/* Each line keeps the time it was pushed with, through growth of the
 * buffer and the index and through eviction. */
static void test_times_kept_with_lines(void **state)
{
    (void)state;
    struct ring *r = ring_new();
    for (uint64_t i = 0; i < 3 * RING_LINES; i++) {
        char text[64];
        int n = snprintf(text, sizeof text, "t%llu", (unsigned long long)i);
        ring_push(r, i, 1000.0 + (double)i * 0.001, text, (size_t)n);
        size_t c = ring_count(r);
        assert_true(ring_line_time(r, c - 1) == 1000.0 + (double)i * 0.001);
        uint64_t seq;
        ring_line(r, 0, NULL, &seq);
        assert_true(ring_line_time(r, 0) == 1000.0 + (double)seq * 0.001);
    }
    ring_free(r);
}

/* Runs every test; exit status is the number of failures. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_push_order),
        cmocka_unit_test(test_seq_filter),
        cmocka_unit_test(test_evict_lines),
        cmocka_unit_test(test_cut_ascii),
        cmocka_unit_test(test_cut_utf8_boundary),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_valid_multibyte),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_tail_limits),
        cmocka_unit_test(test_bad_byte_at_every_offset),
        cmocka_unit_test(test_staged_short_lines),
        cmocka_unit_test(test_staged_long_lines),
        cmocka_unit_test_setup_teardown(test_staged_short_lines, small_caps, default_caps),
        cmocka_unit_test_setup_teardown(test_staged_long_lines, small_caps, default_caps),
        cmocka_unit_test(test_model_mixed),
        cmocka_unit_test(test_model_line_cap),
        cmocka_unit_test_setup_teardown(test_exact_fits, small_caps, default_caps),
        cmocka_unit_test_setup_teardown(test_model_grow_while_wrapped, small_caps, default_caps),
        cmocka_unit_test_setup_teardown(test_byte_cap, small_caps, default_caps),
        cmocka_unit_test(test_default_byte_cap),
        cmocka_unit_test(test_keeps_a_thousand_lines),
        cmocka_unit_test(test_times_kept_with_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
