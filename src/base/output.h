/* output.h -- tend's own stdout and stderr.
 *
 * Everything tend prints (children's lines and its own log) goes through
 * one sink per stream that takes whole lines only, so lines of different
 * procs never interleave, and that never blocks the loop: the sink writes
 * what the fd takes, keeps the rest in a bounded buffer and waits for the fd
 * to become writable.  When the buffer passes its soft limit the readers of
 * child pipes pause (output_wait) and the children are slowed by pipe
 * backpressure instead of being buffered without bound. */
#ifndef TEND_OUTPUT_H
#define TEND_OUTPUT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

struct output_waiter {
    void (*wake)(struct output_waiter *w);
    struct output_waiter *next;
    bool queued;
};

/* Start writing asynchronously to fds 1 and 2 from `loop`; until then (and
 * after output_finish) output is written at once. */
void output_init(struct ev_loop *loop);
/* Put an ISO-8601 UTC time before each line from now on. */
void output_set_timestamps(bool on);

/* --log-format json: every proc's line (output_line with a prefix) becomes
 * {"time","proc","stream","line"} on the stream it came from. */
void output_set_json(bool on);
/* Prefixes are padded to at least `width` bytes where they are coloured (a
 * terminal, without NO_COLOR or TERM=dumb); the width only grows, and also
 * with every longer prefix seen. */
void output_prefix_width(size_t width);
/* "2026-11-26T16:45:01.123Z" (UTC, milliseconds) into buf (at least 32
 * bytes); its length. */
size_t output_time_iso(char *buf);

/* Whether --timestamps is on. */
bool output_timestamps_on(void);
/* With --timestamps, "2026-11-26T16:45:01.123Z " into buf (at least 32
 * bytes); its length, 0 without. */
size_t output_timestamp(char *buf);

/* Append one line: "[time ]PREFIX | LINE\n" to stream `fd` (1 or 2).  A NULL
 * prefix writes the line alone. */
void output_line(int fd, const char *prefix, const char *line, size_t len);

/* Append one line as it is, without a timestamp (JSON log lines carry
 * their own time). */
void output_line_plain(int fd, const char *line, size_t len);

/* Whether readers should pause until the sinks drain. */
bool output_congested(void);
/* Whether the sink of fd (1 or 2) is congested: only the streams copied to
 * it should pause. */
bool output_congested_fd(int fd);
/* Call w->wake once the sinks are no longer congested. */
void output_wait(struct output_waiter *w);
/* Forget a waiter (its owner is going away). */
void output_cancel(struct output_waiter *w);

/* Write out everything still buffered, blocking if need be, and give the
 * fds back their original flags.  For the way out of tend. */
void output_finish(void);

/* Only give fds 1 and 2 back the file status flags output_init found
 * (O_NONBLOCK off), with the values it saved then: nothing but fcntl(2),
 * so async-signal-safe.  For the ways out that cannot call output_finish:
 * a fatal signal's handler (groups.c), an _exit.  Idempotent. */
void output_restore_flags(void);

#endif
