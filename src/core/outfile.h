/* outfile.h -- a proc's output file (SPEC 6): both streams appended,
 * unprefixed, one whole line per write; reopened on SIGHUP for an outside
 * rotator, or rotated by tend at max_size into PATH.1 .. PATH.keep. */
#ifndef TEND_OUTFILE_H
#define TEND_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct outfile;

/* Open (create, append) `path`; max_size 0: tend never rotates it.  NULL
 * with *err when it cannot be opened. */
struct outfile *outfile_open(const char *path, off_t max_size, int keep, char **err);
/* Append one line ("[time ]line\n"), rotating first if it would pass
 * max_size.  A line that cannot be written (a full disk, EFBIG at
 * RLIMIT_FSIZE, an I/O error) is dropped: the first failure is logged with
 * the proc's name and the path, the next ones are only counted, and once a
 * write works again that is logged with how many lines were lost. */
void outfile_line(struct outfile *f, const char *name, const char *line, size_t len);
/* Whether a block of `len` bytes of whole lines can go in one write: no
 * timestamps to put before each line, and no rotation due inside it. */
bool outfile_takes_block(const struct outfile *f, size_t len);
/* Append a block of whole lines as it is; failures as for outfile_line. */
void outfile_write(struct outfile *f, const char *name, const char *data, size_t len);

/* Reopen the file by its path (after an outside rotation). */
void outfile_reopen(struct outfile *f, const char *name);
void outfile_close(struct outfile *f);

#endif
