/* ring.h -- a bounded ring of the recent output lines of one stream.
 *
 * The ring serves proc:tail(), `tend logs` and the `tail` field of a
 * terminal status.  It never grows past RING_BYTES_MAX bytes of text and
 * RING_LINES lines, whatever a child writes; storage is allocated only when
 * the first line arrives and grows by doubling up to the cap.
 *
 * Every line carries a sequence number chosen by the caller (strictly
 * increasing per ring).  A proc numbers the lines of both its streams from
 * one counter, so their rings can be merged in arrival order, and a tail can
 * be restricted to the lines of one incarnation.
 */
#ifndef TEND_RING_H
#define TEND_RING_H

#include <stddef.h>
#include <stdint.h>

#define RING_LINES 128          /* lines kept at most */
#define RING_LINE_MAX 1024      /* longer lines are cut and marked */
#define RING_BYTES_MAX (128 * 1024)
#define RING_CUT_MARK " [cut]"  /* appended to a line that was cut */

struct ring;

/* A new, empty ring that holds no storage yet. */
struct ring *ring_new(void);
void ring_free(struct ring *r);

/* Store one line (given without its newline) under sequence number `seq`.
 * Invalid UTF-8 is replaced by U+FFFD; a line longer than RING_LINE_MAX
 * bytes is cut (never inside a character) and ends with RING_CUT_MARK.
 * The oldest lines are dropped to make room. */
void ring_push(struct ring *r, uint64_t seq, const char *line, size_t len);

/* How many lines the ring holds now. */
size_t ring_count(const struct ring *r);

/* The i-th line held (0 = oldest): its text (not NUL-terminated), length and
 * sequence number.  i must be below ring_count(). */
const char *ring_line(const struct ring *r, size_t i, size_t *len, uint64_t *seq);

/* A new NUL-terminated string of the newest lines with seq >= since: at most
 * `nlines` lines and `maxbytes` bytes, whole lines only, each followed by
 * '\n'.  An empty string when there are none.  The caller frees it. */
char *ring_tail(const struct ring *r, size_t nlines, size_t maxbytes, uint64_t since);

#endif
