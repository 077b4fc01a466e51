/* fuzz_output.c -- the output line splitter (proc_output.c) and the line ring
 * (ring.c).
 *
 * A proc runs build/fuzz/fuzz-relay (relay.c), which copies what the
 * fuzzer sends it through a FIFO to its stdout and stderr, so tend reads
 * the bytes the input chose through its own pipes, read bursts, carry of
 * unfinished lines, 64 KiB split and deferred ring tail, as for any
 * program.  The fuzzer's bytes are a little program: write bytes, runs of
 * a byte (past 64 KiB and 256 KiB), newlines, CRLF, switch streams, let
 * the loop read, close a stream early.  Then the relay exits and the
 * oracles (SPEC 6, ring.h, the rules at the top of ring.c), written from
 * the documentation rather than from the code, check:
 *  - a listener (proc_listen) hears exactly the lines of each stream: split
 *    at '\n', a line longer than 64 KiB cut into 64 KiB pieces and the rest
 *    (a line of exactly 64 KiB is one line), an unfinished line at EOF a
 *    line of its own, however the writes and reads were cut;
 *  - an output file (output = PATH) holds those lines, each ending in '\n';
 *  - each stream's ring (proc_ring) holds a run of its newest lines, each
 *    the line with one trailing CR dropped, invalid UTF-8 replaced by
 *    U+FFFD per maximal subpart, cut to 1 KiB on a character boundary with
 *    " [cut]"; at most 128 lines and 128 KiB, no line dropped while there
 *    was plenty of room; sequence numbers increasing and never shared by
 *    the two streams;
 *  - ring_tail gives what ring.h says for any count, byte bound and `since`;
 *  - the same for a fresh ring given every line with ring_push.
 * Leaks and memory errors are the sanitizers'.  Only the proc's public
 * functions are used (proc.h), so the target survives changes inside
 * proc_output.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include <limits.h>
#include <poll.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "core/proc.h"
#include "core/reap.h"
#include "base/ring.h"
#include "base/util.h"

#define LINE_MAX_SPLIT (64 * 1024)       /* SPEC 6: longer lines are split */
#define STREAM_CAP (1u << 20)           /* bytes written to one stream, at most */

static struct ev_loop *loop;
static char relay[PATH_MAX], fifo[PATH_MAX], outpath[PATH_MAX];

/* What was written to one stream, and what its listener heard. */
struct stream_model {
    bool closed;             /* closed early by the relay */
    char *bytes;
    size_t len, cap;
    struct buf heard;        /* the listener's lines, each as u32 length + bytes */
    size_t nheard;
};

struct run {
    struct proc *p;
    int fifo_fd;
    struct stream_model s[2];
};

static void on_line(struct proc *p, int stream, const char *line, size_t len, void *data)
{
    struct run *r = data;
    if (stream != 0 && stream != 1)
        fuzz_fail("listener-stream", "a listener was called with stream %d", stream);
    struct stream_model *m = &r->s[stream];
    uint32_t l = (uint32_t)len;
    buf_put(&m->heard, (const char *)&l, sizeof l);
    buf_put(&m->heard, line, len);
    m->nheard++;
}

static void pump(void)
{
    ev_run(loop, EVRUN_NOWAIT);
}

/* Write to the relay's FIFO, letting tend read while it is full. */
static void fifo_write(struct run *r, const char *b, size_t n)
{
    double waited = 0;
    while (n > 0) {
        ssize_t w = write(r->fifo_fd, b, n);
        if (w > 0) {
            b += w;
            n -= (size_t)w;
            waited = 0;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            fuzz_fail("harness", "write to the relay: %s", strerror(errno));
        pump();
        struct pollfd pfd = {r->fifo_fd, POLLOUT, 0};
        poll(&pfd, 1, 2);
        if ((waited += 0.002) > 10)
            fuzz_fail("output-stuck", "tend has not read the relay's output for 10 s (%zu "
                      "bytes still to send)", n);
    }
}

/* Have the relay write buf to stream i. */
static void put(struct run *r, int i, const char *buf, size_t n)
{
    struct stream_model *m = &r->s[i];
    if (m->closed)
        return;
    if (n > STREAM_CAP - m->len)
        n = STREAM_CAP - m->len;
    if (n == 0)
        return;
    if (m->len + n > m->cap) {
        while (m->len + n > m->cap)
            m->cap = m->cap ? m->cap * 2 : 65536;
        m->bytes = xrealloc(m->bytes, m->cap);
    }
    memcpy(m->bytes + m->len, buf, n);
    m->len += n;
    char hdr[5] = {i ? 'e' : 'o'};
    uint32_t l = (uint32_t)n;
    memcpy(hdr + 1, &l, sizeof l);
    fifo_write(r, hdr, sizeof hdr);
    fifo_write(r, buf, n);
}

static void deadline_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    *(bool *)w->data = true;
}

/* Run the loop until the proc is no longer starting or running (to_end:
 * no longer alive); false after 10 s. */
static bool run_until(struct proc *p, bool to_end)
{
    bool late = false;
    ev_timer t;
    ev_timer_init(&t, deadline_cb, 10, 0);
    t.data = &late;
    ev_timer_start(loop, &t);
    for (;;) {
        enum proc_state s = proc_status(p)->state;
        if (late || (to_end ? !proc_alive(p) : s != ST_STARTING && s != ST_RUNNING))
            break;
        ev_run(loop, EVRUN_ONCE);
    }
    ev_timer_stop(loop, &t);
    return !late;
}

/* ---- the oracle's own line splitting and ring text rules ---- */

struct line {
    size_t off, len;
};

/* SPEC 6: lines of the stream's bytes. */
static struct line *split_lines(const struct stream_model *m, size_t *n)
{
    size_t cap = 16;
    struct line *v = xmalloc(cap * sizeof *v);
    *n = 0;
    size_t start = 0, cur = 0;
    for (size_t i = 0; i <= m->len; i++) {
        bool end = i == m->len;
        if (!end && m->bytes[i] != '\n' && cur < LINE_MAX_SPLIT) {
            cur++;
            continue;
        }
        if (end && cur == 0)
            break;
        if (*n == cap)
            v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = (struct line){start, cur};
        if (end)
            break;
        if (m->bytes[i] == '\n') {
            start = i + 1;
            cur = 0;
        } else {
            /* a full 64 KiB piece, and this byte starts the next one */
            start = i;
            cur = 1;
        }
    }
    return v;
}

/* Unicode table 3-7: the length of the well-formed sequence at s, or 0
 * with *bad the length of its maximal subpart. */
static size_t wellformed(const unsigned char *s, size_t n, size_t *bad)
{
    static const struct {
        unsigned char lo0, hi0, need, lo1, hi1;
    } rows[] = {
        {0xC2, 0xDF, 1, 0x80, 0xBF}, {0xE0, 0xE0, 2, 0xA0, 0xBF},
        {0xE1, 0xEC, 2, 0x80, 0xBF}, {0xED, 0xED, 2, 0x80, 0x9F},
        {0xEE, 0xEF, 2, 0x80, 0xBF}, {0xF0, 0xF0, 3, 0x90, 0xBF},
        {0xF1, 0xF3, 3, 0x80, 0xBF}, {0xF4, 0xF4, 3, 0x80, 0x8F},
    };
    if (s[0] < 0x80)
        return 1;
    for (size_t r = 0; r < ARRAY_LEN(rows); r++) {
        if (s[0] < rows[r].lo0 || s[0] > rows[r].hi0)
            continue;
        for (size_t k = 1; k <= rows[r].need; k++) {
            unsigned char lo = k == 1 ? rows[r].lo1 : 0x80, hi = k == 1 ? rows[r].hi1 : 0xBF;
            if (k >= n || s[k] < lo || s[k] > hi) {
                *bad = k;
                return 0;
            }
        }
        return rows[r].need + 1u;
    }
    *bad = 1;
    return 0;
}

/* The text the ring should keep for a line (ring.h, ring.c's rules); out
 * has room for 4 * RING_LINE_MAX bytes. */
static size_t ring_text(const char *line, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)line;
    if (len > 0 && s[len - 1] == '\r')
        len--;
    size_t o = 0;
    /* past RING_LINE_MAX + 4 bytes the line is cut anyway: stop there */
    for (size_t i = 0; i < len && o <= RING_LINE_MAX + 4;) {
        size_t bad = 0, k = wellformed(s + i, len - i, &bad);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += bad;
        }
    }
    if (o > RING_LINE_MAX) {
        size_t mark = strlen(RING_CUT_MARK), cut = RING_LINE_MAX - mark;
        while (cut > 0 && ((unsigned char)out[cut] & 0xC0) == 0x80)
            cut--;
        memcpy(out + cut, RING_CUT_MARK, mark);
        o = cut + mark;
    }
    return o;
}

static size_t ring_text_len(const char *line, size_t len, char **scratch, size_t *cap)
{
    if (*cap < 4 * RING_LINE_MAX) {
        *cap = 4 * RING_LINE_MAX;
        *scratch = xrealloc(*scratch, *cap);
    }
    return ring_text(line, len, *scratch);
}

/* Everything ring.h promises about `r`, which was given the lines `v`
 * (oldest first) of `src`, some perhaps skipped (a proc's ring gets only
 * the newest lines of a big block).  tail_* are ring_tail's arguments. */
static void check_ring(const char *what, const struct ring *r, const char *src,
                       const struct line *v, size_t n, size_t tail_lines, size_t tail_bytes,
                       size_t tail_since_index)
{
    size_t count = r ? ring_count(r) : 0;
    if (n > 0 && count == 0)
        fuzz_fail("ring-empty", "%s: %zu lines went by but the ring holds none", what, n);
    if (count > RING_LINES || count > n)
        fuzz_fail("ring-count", "%s: the ring holds %zu lines (%zu went by, at most %d)", what,
                  count, n, RING_LINES);
    if (!r)
        return;
    char *want = NULL;
    size_t wcap = 0, total = 0;
    uint64_t prev_seq = 0;
    uint64_t *seqs = xcalloc(count ? count : 1, sizeof *seqs);
    for (size_t j = 0; j < count; j++) {
        size_t len;
        uint64_t seq;
        const char *text = ring_line(r, j, &len, &seq);
        const struct line *l = &v[n - count + j];
        size_t wlen = ring_text_len(src + l->off, l->len, &want, &wcap);
        if (len != wlen || memcmp(text, want, len) != 0)
            fuzz_fail("ring-text", "%s: line %zu of %zu held: %s, expected %s (from %s)", what,
                      j, count, fuzz_show(text, len), fuzz_show(want, wlen),
                      fuzz_show(src + l->off, l->len));
        if (len > RING_LINE_MAX)
            fuzz_fail("ring-line-max", "%s: a held line of %zu bytes", what, len);
        if (j > 0 && seq <= prev_seq)
            fuzz_fail("ring-seq", "%s: sequence numbers %llu then %llu", what,
                      (unsigned long long)prev_seq, (unsigned long long)seq);
        prev_seq = seq;
        seqs[j] = seq;
        total += len;
    }
    if (total > RING_BYTES_MAX)
        fuzz_fail("ring-bytes", "%s: the ring holds %zu bytes of text", what, total);
    /* nothing is dropped while there is room: the line before the oldest
     * held did not fit (allowing for the room a wrap may waste) */
    if (count < n && count < RING_LINES) {
        const struct line *l = &v[n - count - 1];
        size_t next = ring_text_len(src + l->off, l->len, &want, &wcap);
        if (total + next <= RING_BYTES_MAX - 4 * RING_LINE_MAX)
            fuzz_fail("ring-dropped", "%s: holds %zu lines (%zu bytes) of %zu; the next "
                      "older line (%zu bytes) was dropped with room to spare", what, count,
                      total, n, next);
    }
    /* ring_tail, as ring.h describes it */
    /* since: a held line's number, one past the newest, or 0 */
    size_t pick = tail_since_index % (count + 2);
    uint64_t since = pick < count ? seqs[pick] : pick == count && count ? seqs[count - 1] + 1 : 0;
    char *got = ring_tail(r, tail_lines, tail_bytes, since);
    struct buf exp = {0};
    size_t k = 0, bytes = 0;
    while (k < count && k < tail_lines) {
        size_t len;
        uint64_t seq;
        ring_line(r, count - 1 - k, &len, &seq);
        if (seq < since || len + 1 > tail_bytes - bytes)
            break;
        bytes += len + 1;
        k++;
    }
    for (size_t j = count - k; j < count; j++) {
        size_t len;
        const char *text = ring_line(r, j, &len, NULL);
        buf_put(&exp, text, len);
        buf_put(&exp, "\n", 1);
    }
    buf_put(&exp, "", 1);
    if (memcmp(got, exp.p, exp.len) != 0 || strlen(got) + 1 > exp.len)
        fuzz_fail("ring-tail", "%s: ring_tail(%zu lines, %zu bytes, since %llu) gave %s, "
                  "expected %s", what, tail_lines, tail_bytes, (unsigned long long)since,
                  fuzz_show(got, strlen(got)), fuzz_show(exp.p, exp.len - 1));
    free(got);
    free(exp.p);
    free(seqs);
    free(want);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_setup("output");
    loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
    reap_start(loop);
    /* the relay is built next to this binary */
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(relay, sizeof relay, "%s/fuzz-relay", self);
    if (access(relay, X_OK) != 0)
        fuzz_fail("harness", "%s: %s (make fuzz-build builds it)", relay, strerror(errno));
    snprintf(fifo, sizeof fifo, "%s/relay.fifo", fuzz_dir());
    snprintf(outpath, sizeof outpath, "%s/out.log", fuzz_dir());
    if (mkfifo(fifo, 0600) != 0 && errno != EEXIST)
        fuzz_fail("harness", "mkfifo %s: %s", fifo, strerror(errno));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fin in = {data, size};
    uint8_t h = fin_u8(&in);
    size_t tail_lines = fin_u8(&in);
    size_t tail_bytes = fin_u16(&in);
    size_t tail_since = fin_u8(&in);
    if (tail_lines == 255)
        tail_lines = (size_t)-1;
    if (tail_bytes == 0xFFFF)
        tail_bytes = (size_t)-1;

    static const enum output_mode modes[] = {OUTPUT_DISCARD, OUTPUT_INHERIT, OUTPUT_FILE,
                                             OUTPUT_DISCARD};
    struct spec *sp = spec_new();
    sp->name = xstrdup("o");
    sp->argv = xcalloc(3, sizeof *sp->argv);
    sp->argv[0] = xstrdup(relay);
    sp->argv[1] = xstrdup(fifo);
    sp->output = modes[h & 3];
    sp->ready.kind = CHECK_FD;  /* the relay has opened the FIFO */
    sp->ready.fd = 3;
    if (sp->output == OUTPUT_FILE) {
        unlink(outpath);
        sp->output_path = xstrdup(outpath);
        sp->output_max_size = 0;  /* no rotation: the file holds it all */
    }
    bool listen = h & 4;

    struct run r = {0};
    r.fifo_fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (r.fifo_fd < 0)
        fuzz_fail("harness", "open %s: %s", fifo, strerror(errno));
    if (h & 8)
        fcntl(r.fifo_fd, F_SETPIPE_SZ, 1 << 20);
    r.p = proc_new(loop, sp, NULL);
    if (listen)
        proc_listen(r.p, on_line, &r);
    proc_start(r.p, false);
    if (!run_until(r.p, false) || proc_status(r.p)->state != ST_READY)
        fuzz_fail("harness", "the relay is %s: %s", status_state_name(proc_status(r.p)->state),
                  proc_status(r.p)->reason ? proc_status(r.p)->reason : "");

    int cur = 0;
    size_t budget = 1u << 20;  /* bytes of runs in one input, at most */
    static char runbuf[256 * 1024];
    for (int ops = 0; !fin_empty(&in) && ops < 4096; ops++) {
        uint8_t op = fin_u8(&in);
        size_t n;
        const uint8_t *b;
        switch (op & 7) {
        case 0:
        case 1:
            b = fin_bytes(&in, fin_u8(&in), &n);
            put(&r, cur, (const char *)b, n);
            break;
        case 2: {
            uint8_t c = fin_u8(&in);
            n = fin_u16(&in);
            if (op & 8)  /* long: past 64 KiB (the split) and 256 KiB (a read) */
                n = 65536 + n * 4 + (op >> 4);
            if (c == '\n' && n > 600)
                n = 600;  /* a line each: more only costs time */
            if (n > budget)
                n = budget;
            budget -= n;
            while (n > 0) {
                size_t k = n < sizeof runbuf ? n : sizeof runbuf;
                memset(runbuf, c, k);
                put(&r, cur, runbuf, k);
                n -= k;
            }
            break;
        }
        case 3:
            pump();
            break;
        case 4:
            cur ^= 1;
            break;
        case 5:
            put(&r, cur, "\n", 1);
            break;
        case 6:
            put(&r, cur, "\r\n", 2);
            break;
        case 7:
            if (!r.s[cur].closed && (op & 0x80)) {  /* rarely: the program closes it */
                fifo_write(&r, cur ? "E" : "O", 1);
                r.s[cur].closed = true;
            }
            break;
        }
    }
    close(r.fifo_fd);  /* the relay reads to the end and exits */
    if (!run_until(r.p, true))
        fuzz_fail("output-stuck", "the relay has not ended 10 s after its input did");
    const struct status *st = proc_status(r.p);
    if (st->state != ST_STOPPED || st->exit_code != 0)
        fuzz_fail("harness", "the relay ended %s (exit code %d)", status_state_name(st->state),
                  st->exit_code);

    size_t nlines[2];
    struct line *lines[2];
    for (int i = 0; i < 2; i++) {
        struct stream_model *m = &r.s[i];
        size_t n;
        struct line *v = split_lines(m, &n);
        lines[i] = v;
        nlines[i] = n;
        if (listen) {
            size_t at = 0;
            for (size_t j = 0; j < n || j < m->nheard; j++) {
                if (j >= n || j >= m->nheard)
                    fuzz_fail("split-count", "stream %d: the listener heard %zu lines, "
                              "expected %zu (%zu bytes written)", i, m->nheard, n, m->len);
                uint32_t l;
                memcpy(&l, m->heard.p + at, sizeof l);
                const char *text = m->heard.p + at + sizeof l;
                at += sizeof l + l;
                if (l != v[j].len || memcmp(text, m->bytes + v[j].off, l) != 0)
                    fuzz_fail("split-line", "stream %d: line %zu heard as %s (%u bytes), "
                              "expected %s (%zu bytes)", i, j, fuzz_show(text, l), l,
                              fuzz_show(m->bytes + v[j].off, v[j].len), v[j].len);
            }
        }
        char what[32];
        snprintf(what, sizeof what, "proc stream %d", i);
        check_ring(what, proc_ring(r.p, i), m->bytes, v, n, tail_lines, tail_bytes, tail_since);
        /* the same lines given one by one to a fresh ring */
        struct ring *ref = ring_new();
        for (size_t j = 0; j < n; j++)
            ring_push(ref, j + 1, 0.0, m->bytes + v[j].off, v[j].len);
        snprintf(what, sizeof what, "ring_push stream %d", i);
        check_ring(what, n ? ref : NULL, m->bytes, v, n, tail_lines, tail_bytes, tail_since);
        ring_free(ref);
    }
    /* one counter numbers the lines of both streams */
    const struct ring *r0 = proc_ring(r.p, 0), *r1 = proc_ring(r.p, 1);
    for (size_t a = 0; r0 && r1 && a < ring_count(r0); a++)
        for (size_t b = 0; b < ring_count(r1); b++) {
            uint64_t s0, s1;
            ring_line(r0, a, NULL, &s0);
            ring_line(r1, b, NULL, &s1);
            if (s0 == s1)
                fuzz_fail("ring-seq", "stdout and stderr lines share sequence number %llu",
                          (unsigned long long)s0);
        }
    /* output = PATH: the lines, each with its newline (one stream only:
     * how two streams interleave depends on the reads) */
    if (sp->output == OUTPUT_FILE && (nlines[0] == 0 || nlines[1] == 0)) {
        int i = nlines[0] ? 0 : 1;
        struct buf want = {0};
        for (size_t j = 0; j < nlines[i]; j++) {
            buf_put(&want, r.s[i].bytes + lines[i][j].off, lines[i][j].len);
            buf_put(&want, "\n", 1);
        }
        struct buf got = {0};
        int fd = open(outpath, O_RDONLY | O_CLOEXEC);
        char chunk[65536];
        ssize_t k;
        while (fd >= 0 && (k = read(fd, chunk, sizeof chunk)) > 0)
            buf_put(&got, chunk, (size_t)k);
        if (fd >= 0)
            close(fd);
        if (got.len != want.len || (got.len && memcmp(got.p, want.p, got.len) != 0)) {
            size_t d = 0;
            while (d < got.len && d < want.len && got.p[d] == want.p[d])
                d++;
            fuzz_fail("output-file", "the output file holds %zu bytes, expected %zu; they "
                      "differ from byte %zu: %s, expected %s", got.len, want.len, d,
                      fuzz_show(got.p + d, got.len - d < 40 ? got.len - d : 40),
                      fuzz_show(want.p + d, want.len - d < 40 ? want.len - d : 40));
        }
        free(got.p);
        free(want.p);
    }

    proc_free(r.p);
    for (int i = 0; i < 2; i++) {
        free(lines[i]);
        free(r.s[i].bytes);
        free(r.s[i].heard.p);
    }
    return 0;
}
