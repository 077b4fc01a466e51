/* envfile.h -- env files (SPEC 3, `env_file`), without Lua.
 *
 * One `KEY=VALUE` a line:
 *   - `export KEY=VALUE` is the same line;
 *   - blanks (spaces, tabs) around the key, the `=` and an unquoted value
 *     are dropped; a value in single quotes is taken as is, one in double
 *     quotes knows the escapes \" \\ and \n (any other is an error); after
 *     a closing quote only blanks may follow;
 *   - `KEY=` is an empty value; nothing is expanded ($VAR stays as written);
 *   - a line whose first non-blank character is `#` is a comment (a `#`
 *     elsewhere is part of the value), blank lines are skipped;
 *   - a key is a letter or `_`, then letters, digits, `_`, `.` or `-`;
 *   - lines end with \n or \r\n; a UTF-8 byte-order mark at the start is
 *     dropped; a NUL byte is an error;
 *   - a key given twice: the later line wins.
 * Error messages never show a value (env files hold secrets). */
#ifndef TEND_ENVFILE_H
#define TEND_ENVFILE_H

#include <stddef.h>

/* The largest env file read (bytes): an environment is far smaller. */
#define ENVFILE_MAX (1024 * 1024)

/* Parse `len` bytes of `buf` (any bytes: no NUL terminator needed), the
 * contents of `file` (used in messages only).  A new NULL-terminated list
 * of "KEY=VALUE" strings, each key once, in the order of their first
 * lines; or NULL with *err = "FILE:LINE: what is wrong" (a new string). */
char **envfile_parse(const char *buf, size_t len, const char *file, char **err);

/* Read `path` whole, if it is a regular file (a FIFO or a device is never
 * opened for reading, so nothing blocks) of at most ENVFILE_MAX bytes.  A
 * new buffer (NUL-terminated, *len bytes before it), or NULL with
 * *err = "PATH: why" (a new string). */
char *envfile_read(const char *path, size_t *len, char **err);

/* `over` laid on `base` (either may be NULL): each entry is "KEY=VALUE"
 * or a bare "KEY" (Lua's `env = { KEY = false }`, which unsets); an entry
 * of `over` replaces the entry of `base` with the same key, in place, the
 * others are appended.  A new list; the inputs are not changed. */
char **envfile_overlay(char *const *base, char *const *over);

#endif
