/* util.h -- allocation wrappers that abort on out-of-memory, and small
 * helpers shared by every module. */
#ifndef TEND_UTIL_H
#define TEND_UTIL_H

#include <stdarg.h>
#include <stddef.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A new string formatted like printf. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Seconds on the monotonic clock (the clock of tend.now()). */
double now_mono(void);
/* $name as a number of seconds > 0, else `dflt` (the tests' way to see a
 * timeout of tend's without waiting it out). */
double env_seconds(const char *name, double dflt);
/* Seconds on the wall clock. */
double now_wall(void);

/* Signal number from a name ("TERM", "SIGTERM", "15"); -1 if unknown. */
int signal_from_name(const char *name);
/* Name of a signal without "SIG" ("TERM"); a number as text if unknown. */
const char *signal_name(int sig);

/* A growable byte buffer (for replies and printed output; the bounded
 * things a child writes use rings instead). */
struct buf {
    char *p;
    size_t len, cap;
};
/* Room for `n` more bytes. */
void buf_reserve(struct buf *b, size_t n);
/* Append `n` bytes. */
void buf_put(struct buf *b, const char *s, size_t n);
/* Append what printf would print. */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "2026-11-26T16:45:01.123Z" (UTC, milliseconds) for wall-clock seconds
 * `wall`, into buf (at least 32 bytes); its length. */
size_t time_iso(double wall, char *buf);

/* The length of the valid UTF-8 character at s (n > 0 bytes there), or 0
 * when it is invalid, with *bad the length of the maximal invalid subpart
 * (Unicode 3.9, table 3-7). */
size_t utf8_char(const unsigned char *s, size_t n, size_t *bad);

/* A size in bytes from "512M", "1.5G", "64k", "4096" (K, M, G, T: powers
 * of 1024; an optional "B" or "iB" after them): 0 with *out set, -1 when
 * it is not one. */
int parse_size(const char *s, long long *out);

/* A copy of s[0..n) (NUL-terminated, length in *out_len) with each
 * invalid UTF-8 subpart replaced by U+FFFD. */
char *utf8_clean(const char *s, size_t n, size_t *out_len);

/* NULL-terminated arrays of strings: free one and its strings, count
 * its strings, copy it deeply (NULL stays NULL). */
void strv_free(char **v);
size_t strv_len(char *const *v);
char **strv_dup(char *const *v);

/* Set or clear O_NONBLOCK / FD_CLOEXEC; -1 on error. */
int fd_set_nonblock(int fd, int on);
int fd_set_cloexec(int fd, int on);

#endif
