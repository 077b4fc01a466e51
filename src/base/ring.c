/* ring.c -- a bounded ring of the recent output lines of one stream.
 *
 * Layout.  The text lives in one byte buffer `buf` of `cap` bytes; an index
 * of `icap` entries {seq, time, off, len}, used circularly from `first`,
 * says where each held line is.  A line is always stored contiguously, so
 * ring_line() can hand out a pointer into the buffer.  Lines are written one
 * after the other; when the next line does not fit before the end of the
 * buffer it goes to offset 0 instead, and the unused tail stays dead until
 * the lines above it are dropped.  So the held text is either
 *
 *   linear:   [h, w)                 (upper == 0)
 *   wrapped:  [h, end) + [0, w)      (upper > 0, w <= h)
 *
 * where h is the start of the oldest line, w the end of the newest, and
 * `upper` counts the oldest lines that still sit in the top part.  Within
 * each part the lines are packed without gaps, and the free room is
 * [w, cap) + [0, h) when linear and [w, h) when wrapped.  Keeping `upper`
 * as a count rather than comparing offsets keeps empty lines unambiguous.
 *
 * Growth.  Nothing is allocated until the first push.  The buffer starts at
 * RING_BYTES_INITIAL and, whenever a line does not fit, doubles (copying
 * the lines packed from offset 0) until it reaches the byte cap; only then
 * are old lines dropped to make room.  Since a stored line is at most
 * RING_LINE_MAX bytes and the buffer is never smaller than that, an empty
 * ring always has room, so making room terminates.  The index likewise
 * starts at RING_INDEX_INITIAL entries and doubles up to the line cap, so
 * a proc that writes a few lines costs a few KiB, not the full caps.
 *
 * Staging.  A burst of output arrives as blocks of complete lines of which
 * only the newest RING_LINES can stay; filing each line (sanitising,
 * indexing) costs far more than copying the block.  So ring_stage copies a
 * block as it is into `stage` (at most STAGE_MAX bytes, STAGE_SEGS
 * blocks), dropping the staged blocks that newer lines already push out,
 * and the lines are filed only when the ring is next read or pushed to
 * (ring_settle), the newest RING_LINES of them.  A block too big for the
 * stage, or of a few lines when nothing is staged, is filed at once.  The
 * stage grows by doubling and is let go once filed, so only a proc in the
 * middle of a burst holds one.  Readers take a const ring; settling it is
 * not a change they can see.
 *
 * Text rules (applied when a line is filed, in this order):
 *  - one trailing '\r' is removed, so CRLF output reads like LF output;
 *  - invalid UTF-8 becomes U+FFFD (EF BF BD), one per *maximal subpart*
 *    (Unicode 15, section 3.9, "U+FFFD Substitution of Maximal Subparts"):
 *    a valid lead byte followed by the valid continuation bytes it allows,
 *    cut short by a bad byte or the end of the line, is one U+FFFD; every
 *    other bad byte (0x80..0xC1, 0xF5..0xFF, or a continuation the lead does
 *    not allow) is one U+FFFD on its own.  So overlongs (C0 80 -> 2x FFFD,
 *    E0 80 80 -> 3x), surrogates (ED A0 80 -> 3x) and code points above
 *    U+10FFFF (F4 90 80 80 -> 4x) are rejected, and a truncated E2 82 is 1x;
 *  - if the sanitised text is longer than RING_LINE_MAX bytes, it is cut to
 *    its longest prefix that ends on a character boundary and is at most
 *    RING_LINE_MAX - strlen(RING_CUT_MARK) bytes, and RING_CUT_MARK is
 *    appended.  A stored line is therefore never over RING_LINE_MAX bytes,
 *    and a line of exactly RING_LINE_MAX bytes is kept whole.
 * Other bytes (control characters, NUL) are stored as they are.
 */
#include "base/ring.h"
#include "base/util.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define RING_BYTES_INITIAL 4096
#define RING_INDEX_INITIAL 64
#define STAGE_MAX (128 * 1024)  /* bytes staged at most */
#define STAGE_INITIAL (16 * 1024)
#define STAGE_SEGS 8            /* blocks staged at most */
#define STAGE_MIN_LINES 64      /* fewer, with nothing staged: filed at once */
#define CUT_MARK_LEN (sizeof(RING_CUT_MARK) - 1)
#define REPLACEMENT "\xEF\xBF\xBD"
#define REPLACEMENT_LEN 3

/* The design relies on these: room for a cut line plus its mark and at
 * least one character, an empty buffer always able to take a whole line,
 * and offsets that fit the compact index entries. */
_Static_assert(RING_LINE_MAX >= CUT_MARK_LEN + 4, "RING_LINE_MAX too small");
_Static_assert(RING_BYTES_INITIAL >= RING_LINE_MAX, "initial buffer too small");
_Static_assert(RING_BYTES_MAX >= RING_BYTES_INITIAL, "RING_BYTES_MAX too small");
_Static_assert(RING_BYTES_MAX <= UINT32_MAX, "offsets must fit in 32 bits");
_Static_assert(RING_LINES > 0, "RING_LINES must be positive");

struct ring_entry {
    uint64_t seq;
    double time;
    uint32_t off;
    uint32_t len;
};

/* A staged block: `lines` complete lines at stage[off..off + len),
 * numbered from seq, arrived at time. */
struct ring_seg {
    size_t off, len, lines;
    uint64_t seq;
    double time;
};

struct ring {
    char *buf;                  /* cap bytes of text; NULL until first push */
    size_t cap;
    struct ring_entry *idx;     /* icap entries; NULL until first push */
    size_t icap;
    size_t first;               /* slot of the oldest line */
    size_t count;               /* lines held */
    size_t upper;               /* oldest lines still above the wrap point */
    size_t max_lines, max_bytes;  /* the caps */
    char *stage;                /* stage_cap bytes; NULL when nothing is staged */
    size_t stage_cap, stage_end;  /* staged bytes end at stage_end */
    struct ring_seg seg[STAGE_SEGS];  /* oldest first */
    size_t nseg, staged;        /* blocks and lines staged */
};

/* A new, empty ring with the given caps, holding no storage yet. */
struct ring *ring_new_capped(size_t lines, size_t bytes)
{
    assert(lines >= 1 && bytes >= RING_LINE_MAX && bytes <= RING_BYTES_MAX);
    struct ring *r = xcalloc(1, sizeof(struct ring));
    r->max_lines = lines;
    r->max_bytes = bytes;
    return r;
}

/* A new, empty ring that holds no storage yet. */
struct ring *ring_new(void)
{
    return ring_new_capped(RING_LINES, RING_BYTES_MAX);
}

/* Releases the ring and its storage; NULL is allowed. */
void ring_free(struct ring *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r->idx);
    free(r->stage);
    free(r);
}

/* The index entry of the i-th held line (0 = oldest). */
static struct ring_entry *ring_entry_at(const struct ring *r, size_t i)
{
    size_t slot = r->first + i;  /* i < icap: no division on this hot path */
    return &r->idx[slot < r->icap ? slot : slot - r->icap];
}


/* Whether s[0..n) is all ASCII.  32 bytes a round, no early exit: the
 * common line is short and clean. */
static bool all_ascii(const unsigned char *s, size_t n)
{
    uint64_t acc = 0, w[4];
    size_t k = 0;
    for (; k + 32 <= n; k += 32) {
        memcpy(w, s + k, 32);
        acc |= w[0] | w[1] | w[2] | w[3];
    }
    for (; k + 8 <= n; k += 8) {
        memcpy(w, s + k, 8);
        acc |= w[0];
    }
    for (; k < n; k++)
        acc |= s[k];
    return (acc & 0x8080808080808080ULL) == 0;
}

/* How many bytes from s on are ASCII: of the first n, looking at no more
 * than about `enough` (a run that long is cut anyway).  Eight at a time. */
static size_t ascii_run(const unsigned char *s, size_t n, size_t enough)
{
    size_t k = 0;
    if (n > enough)
        n = enough;
    for (uint64_t w; k + 8 <= n; k += 8) {
        memcpy(&w, s + k, 8);
        if (w & 0x8080808080808080ULL)
            break;
    }
    while (k < n && s[k] < 0x80)
        k++;
    return k;
}

/* Writes the sanitised, possibly cut form of line[0..len) to out (which has
 * room for RING_LINE_MAX bytes) and returns its length; see the rules at the
 * top of this file.  Reads no more of the input than it needs, so a huge
 * line costs no more than a long one. */
static size_t ring_sanitise(const char *line, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)line;
    size_t i = 0, o = 0, keep = 0;

    const size_t limit = RING_LINE_MAX - CUT_MARK_LEN;
    while (i < len) {
        /* the common case, a run of ASCII, in one copy */
        size_t run = ascii_run(s + i, len - i, RING_LINE_MAX + 1 - o);
        if (run > 0) {
            if (o + run > RING_LINE_MAX) {
                /* too long: every ASCII byte is a boundary, so cut at the
                 * limit if the run reaches it */
                if (o < limit) {
                    memcpy(out + o, line + i, limit - o);
                    keep = limit;
                }
                memcpy(out + keep, RING_CUT_MARK, CUT_MARK_LEN);
                return keep + CUT_MARK_LEN;
            }
            memcpy(out + o, line + i, run);
            if (o + run <= limit)
                keep = o + run;
            else if (o <= limit)
                keep = limit;
            o += run;
            i += run;
            continue;
        }
        size_t bad = 0, n = utf8_char(s + i, len - i, &bad);
        const char *src = n ? line + i : REPLACEMENT;
        size_t olen = n ? n : REPLACEMENT_LEN;

        if (o + olen > RING_LINE_MAX) {
            /* keep is the last character boundary that leaves room for
             * the mark. */
            memcpy(out + keep, RING_CUT_MARK, CUT_MARK_LEN);
            return keep + CUT_MARK_LEN;
        }
        memcpy(out + o, src, olen);
        o += olen;
        if (o <= RING_LINE_MAX - CUT_MARK_LEN)
            keep = o;
        i += n ? n : bad;
    }
    return o;
}

/* Forgets the oldest line (the ring must hold one). */
static void ring_drop_oldest(struct ring *r)
{
    r->first = r->first + 1 < r->icap ? r->first + 1 : 0;
    r->count--;
    if (r->upper > 0)
        r->upper--;
}

/* Whether a line of len bytes fits without touching a held line; if so,
 * *pos is where it goes and *wraps tells whether that is the start of the
 * buffer while older lines still sit above. */
static bool ring_fit(const struct ring *r, size_t len, size_t *pos, bool *wraps)
{
    *wraps = false;
    if (r->count == 0) {
        *pos = 0;
        return len <= r->cap;
    }
    const struct ring_entry *oldest = ring_entry_at(r, 0);
    const struct ring_entry *newest = ring_entry_at(r, r->count - 1);
    size_t h = oldest->off, w = (size_t)newest->off + newest->len;

    if (r->upper > 0) {
        *pos = w;
        return w + len <= h;
    }
    if (w + len <= r->cap) {
        *pos = w;
        return true;
    }
    if (len <= h) {
        *pos = 0;
        *wraps = true;
        return true;
    }
    return false;
}

/* Doubles the index (up to the line cap), the held entries in order from
 * slot 0. */
static void ring_grow_index(struct ring *r)
{
    size_t icap = r->icap * 2 > r->max_lines ? r->max_lines : r->icap * 2;
    struct ring_entry *idx = xmalloc(icap * sizeof(*idx));
    for (size_t i = 0; i < r->count; i++)
        idx[i] = *ring_entry_at(r, i);
    free(r->idx);
    r->idx = idx;
    r->icap = icap;
    r->first = 0;
}

/* Doubles the buffer (up to the byte cap), packing the held lines in
 * order from offset 0 so the ring is linear again. */
static void ring_grow(struct ring *r)
{
    size_t cap = r->cap * 2 > r->max_bytes ? r->max_bytes : r->cap * 2;
    char *buf = xmalloc(cap);
    size_t o = 0;

    for (size_t i = 0; i < r->count; i++) {
        struct ring_entry *e = ring_entry_at(r, i);
        memcpy(buf + o, r->buf + e->off, e->len);
        e->off = (uint32_t)o;
        o += e->len;
    }
    free(r->buf);
    r->buf = buf;
    r->cap = cap;
    r->upper = 0;
}

/* Files one line (without its newline) under `seq` and `time`, sanitised
 * and cut as described at the top of this file, dropping the oldest lines
 * as needed to stay within the line and byte caps. */
static void ring_file(struct ring *r, uint64_t seq, double time, const char *line, size_t len)
{
    char text[RING_LINE_MAX];
    const char *src = text;
    size_t n, pos;
    bool wraps;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    /* the common case, a line of ASCII that needs no cut, is stored as it
     * is: no copy through `text` */
    if (len <= RING_LINE_MAX && all_ascii((const unsigned char *)line, len)) {
        src = line;
        n = len;
    } else {
        n = ring_sanitise(line, len, text);
    }

    if (!r->buf) {
        r->cap = RING_BYTES_INITIAL < r->max_bytes ? RING_BYTES_INITIAL : r->max_bytes;
        r->buf = xmalloc(r->cap);
        r->icap = RING_INDEX_INITIAL < r->max_lines ? RING_INDEX_INITIAL : r->max_lines;
        r->idx = xmalloc(r->icap * sizeof(*r->idx));
    }
    if (r->count == r->icap) {
        if (r->icap < r->max_lines)
            ring_grow_index(r);
        else
            ring_drop_oldest(r);
    }
    /* Grow before dropping anything: only a full-size buffer loses lines
     * for want of bytes. */
    while (!ring_fit(r, n, &pos, &wraps)) {
        if (r->cap < r->max_bytes)
            ring_grow(r);
        else
            ring_drop_oldest(r);
    }
    if (wraps)
        r->upper = r->count;

    memcpy(r->buf + pos, src, n);
    struct ring_entry *e = ring_entry_at(r, r->count);
    e->seq = seq;
    e->time = time;
    e->off = (uint32_t)pos;
    e->len = (uint32_t)n;
    r->count++;
}

/* Files the staged lines, the newest max_lines of them, oldest first. */
static void ring_settle(struct ring *r)
{
    size_t skip = r->staged > r->max_lines ? r->staged - r->max_lines : 0;
    for (size_t i = 0; i < r->nseg; i++) {
        const struct ring_seg *g = &r->seg[i];
        const char *p = r->stage + g->off, *end = p + g->len;
        for (size_t j = 0; j < g->lines; j++) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            if (skip > 0)
                skip--;
            else
                ring_file(r, g->seq + j, g->time, p, (size_t)(nl - p));
            p = nl + 1;
        }
    }
    r->nseg = r->staged = r->stage_end = 0;
    free(r->stage);  /* a burst is over: its room goes back */
    r->stage = NULL;
    r->stage_cap = 0;
}

/* The staged lines filed, for a reader: the lines it sees do not change. */
static const struct ring *settled(const struct ring *r)
{
    if (r->nseg > 0)
        ring_settle((struct ring *)r);  /* never a const object: ring_new made it */
    return r;
}

void ring_push(struct ring *r, uint64_t seq, double time, const char *line, size_t len)
{
    ring_settle(r);  /* the staged lines are older */
    ring_file(r, seq, time, line, len);
}

/* Forgets the oldest staged block. */
static void stage_drop_oldest(struct ring *r)
{
    r->staged -= r->seg[0].lines;
    memmove(&r->seg[0], &r->seg[1], (r->nseg - 1) * sizeof r->seg[0]);
    r->nseg--;
    if (r->nseg == 0)
        r->stage_end = 0;
}

void ring_stage(struct ring *r, uint64_t seq, double time, const char *buf, size_t n,
                size_t lines)
{
    if (lines == 0)
        return;
    /* staged blocks that these lines push out of the ring go */
    while (r->nseg > 0 && r->staged - r->seg[0].lines + lines >= r->max_lines)
        stage_drop_oldest(r);
    if (n > STAGE_MAX || (r->nseg == 0 && lines < STAGE_MIN_LINES)) {
        /* too big to stage, or too small to be worth it: filed now */
        ring_settle(r);
        const char *p = buf, *end = buf + n;
        size_t skip = lines > r->max_lines ? lines - r->max_lines : 0;
        for (size_t j = 0; j < lines; j++) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            if (skip > 0)
                skip--;
            else
                ring_file(r, seq + j, time, p, (size_t)(nl - p));
            p = nl + 1;
        }
        return;
    }
    if (r->nseg > 0 && r->seg[0].off > 0 && r->stage_end + n > STAGE_MAX) {
        /* move what is staged to the front */
        size_t off = r->seg[0].off;
        memmove(r->stage, r->stage + off, r->stage_end - off);
        r->stage_end -= off;
        for (size_t i = 0; i < r->nseg; i++)
            r->seg[i].off -= off;
    }
    if (r->nseg == STAGE_SEGS || r->stage_end + n > STAGE_MAX)
        ring_settle(r);  /* no room: file what is staged */
    if (r->stage_end + n > r->stage_cap) {
        size_t cap = r->stage_cap ? r->stage_cap : STAGE_INITIAL;
        while (cap < r->stage_end + n)
            cap *= 2;
        r->stage_cap = cap < STAGE_MAX ? cap : STAGE_MAX;
        r->stage = xrealloc(r->stage, r->stage_cap);
    }
    memcpy(r->stage + r->stage_end, buf, n);
    r->seg[r->nseg++] = (struct ring_seg){r->stage_end, n, lines, seq, time};
    r->stage_end += n;
    r->staged += lines;
}

/* How many lines the ring holds now. */
size_t ring_count(const struct ring *r)
{
    settled(r);
    return r->count;
}

/* The i-th held line (0 = oldest), contiguous in the buffer, valid until
 * the next ring_push or ring_free. */
const char *ring_line(const struct ring *r, size_t i, size_t *len, uint64_t *seq)
{
    settled(r);
    assert(i < r->count);
    const struct ring_entry *e = ring_entry_at(r, i);
    if (len)
        *len = e->len;
    if (seq)
        *seq = e->seq;
    return r->buf + e->off;
}

/* The time the i-th held line (0 = oldest) arrived. */
double ring_line_time(const struct ring *r, size_t i)
{
    settled(r);
    assert(i < r->count);
    return ring_entry_at(r, i)->time;
}

/* The newest lines with seq >= since, oldest first, each followed by '\n':
 * lines are taken newest first while the count stays within nlines and the
 * total (text plus newlines, not counting the final NUL) within maxbytes;
 * the first line that does not fit ends the tail, so it is always a run of
 * whole, consecutive lines up to the newest.  In particular, if the newest
 * line alone is over maxbytes the result is "".  Relies on seq increasing
 * through the ring. */
char *ring_tail(const struct ring *r, size_t nlines, size_t maxbytes, uint64_t since)
{
    settled(r);
    size_t k = 0, bytes = 0;

    while (k < r->count && k < nlines) {
        const struct ring_entry *e = ring_entry_at(r, r->count - 1 - k);
        /* bytes <= maxbytes holds throughout, so this cannot wrap. */
        if (e->seq < since || (size_t)e->len + 1 > maxbytes - bytes)
            break;
        bytes += (size_t)e->len + 1;
        k++;
    }

    char *out = xmalloc(bytes + 1), *p = out;
    for (size_t i = r->count - k; i < r->count; i++) {
        const struct ring_entry *e = ring_entry_at(r, i);
        memcpy(p, r->buf + e->off, e->len);
        p += e->len;
        *p++ = '\n';
    }
    *p = '\0';
    return out;
}
