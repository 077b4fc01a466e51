/* fuzz.h -- what the fuzz targets share: reading structure out of the
 * fuzzer's bytes, a scratch directory, quiet logs, and the one way an
 * oracle says that tend broke a promise (a message, then abort(), which
 * libFuzzer records as a crash with its input and stack). */
#ifndef TEND_FUZZ_H
#define TEND_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The fuzzer's bytes, consumed from the front.  Past the end every read
 * gives zeros, so any input decodes to something. */
struct fin {
    const uint8_t *p;
    size_t n;
};

uint8_t fin_u8(struct fin *in);
uint16_t fin_u16(struct fin *in);
uint32_t fin_u32(struct fin *in);
uint64_t fin_u64(struct fin *in);
/* Up to `want` bytes (fewer at the end); *got how many. */
const uint8_t *fin_bytes(struct fin *in, size_t want, size_t *got);
bool fin_empty(const struct fin *in);

/* Once per process, from LLVMFuzzerInitialize: keep a copy of stderr for
 * oracle messages (make fuzz runs with -close_fd_mask=3, which sends the
 * target's own stdout and stderr to /dev/null), silence tend's log, make
 * the scratch directory. */
void fuzz_setup(const char *target);

/* The scratch directory of this process ($FUZZ_TMPDIR, else /dev/shm or
 * /tmp, then tend-fuzz-TARGET-PID), removed at exit. */
const char *fuzz_dir(void);

/* A broken promise: "fuzz-oracle: CLASS: message" on the saved stderr,
 * then abort().  CLASS names the kind of bug (make fuzz uses it to tell a
 * new crash from a known one). */
void fuzz_fail(const char *cls, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));

/* Whether rule class `cls` is turned off for this run: FUZZ_SKIP holds
 * classes separated by commas, for a run by hand that looks past a known
 * bug. */
bool fuzz_skip(const char *cls);

/* A message on the saved stderr (for FUZZ_DEBUG=1 runs by hand). */
void fuzz_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool fuzz_debug(void);

/* A printable, bounded rendering of bytes for messages (a static buffer;
 * two at a time). */
const char *fuzz_show(const void *p, size_t n);

#endif
