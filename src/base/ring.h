/* ring.h -- a bounded ring of the recent output lines of one stream.
 *
 * The ring serves proc:tail(), `tend logs` and the `tail` field of a
 * terminal status.  It never grows past RING_BYTES_MAX bytes of text and
 * RING_LINES lines, whatever a child writes: at most RING_BYTES_MAX plus
 * RING_LINES index entries of 24 bytes, and up to 128 KiB of lines staged
 * (ring_stage): 408 KiB a stream.  So it keeps the
 * last RING_LINES lines while they average up to 256 bytes, fewer when they
 * are longer.  Storage is allocated only when the first line arrives (about
 * 5.5 KiB) and grows by doubling up to the caps.
 *
 * Every line carries a sequence number chosen by the caller (strictly
 * increasing per ring) and the time it arrived.  The procs number the
 * lines of every stream from one counter, so rings can be merged in
 * arrival order, and a tail can be restricted to the lines of one
 * incarnation.
 */
#ifndef TEND_RING_H
#define TEND_RING_H

#include <stddef.h>
#include <stdint.h>

#define RING_LINES 1024         /* lines kept at most */
#define RING_LINE_MAX 1024      /* longer lines are cut and marked */
#define RING_BYTES_MAX (256 * 1024)
#define RING_CUT_MARK " [cut]"  /* appended to a line that was cut */

struct ring;

/* A new, empty ring that holds no storage yet. */
struct ring *ring_new(void);
/* The same with other caps: at most `lines` lines (1 or more) and `bytes`
 * bytes of text (RING_LINE_MAX to RING_BYTES_MAX; out of range is a
 * programming error).  The tests use it to reach the caps quickly. */
struct ring *ring_new_capped(size_t lines, size_t bytes);
void ring_free(struct ring *r);

/* Store one line (given without its newline) under sequence number `seq`,
 * arrived at `time` (seconds; the caller's clock, kept as given).
 * Invalid UTF-8 is replaced by U+FFFD; a line longer than RING_LINE_MAX
 * bytes is cut (never inside a character) and ends with RING_CUT_MARK.
 * The oldest lines are dropped to make room. */
void ring_push(struct ring *r, uint64_t seq, double time, const char *line, size_t len);

/* Store the `lines` complete lines of buf[0..n) (each ending in '\n'),
 * numbered seq, seq + 1, ..., all arrived at `time`: the same as that many
 * ring_push calls, but the ring copies the block as it is and files its
 * lines (the newest RING_LINES) when it is next read or pushed to, so a
 * burst of output costs a copy, not a line-by-line filing.  Up to 128 KiB
 * staged a ring. */
void ring_stage(struct ring *r, uint64_t seq, double time, const char *buf, size_t n,
                size_t lines);

/* How many lines the ring holds now. */
size_t ring_count(const struct ring *r);

/* The i-th line held (0 = oldest): its text (not NUL-terminated), length and
 * sequence number.  i must be below ring_count(). */
const char *ring_line(const struct ring *r, size_t i, size_t *len, uint64_t *seq);

/* The time the i-th line held (0 = oldest) arrived, as pushed. */
double ring_line_time(const struct ring *r, size_t i);

/* A new NUL-terminated string of the newest lines with seq >= since: at most
 * `nlines` lines and `maxbytes` bytes, whole lines only, each followed by
 * '\n'.  An empty string when there are none.  The caller frees it. */
char *ring_tail(const struct ring *r, size_t nlines, size_t maxbytes, uint64_t since);

#endif
