/* top.h -- `tend top`: a live table of the procs (state, pid, CPU %,
 * memory, uptime, restarts, why), refreshed every second from the control
 * socket, on a libev loop of the client's own.
 *
 * Plain ANSI on the terminal's alternate screen, in raw mode; keys: `q`
 * quits, `n`, `c`, `m` sort by name (declaration order), CPU or memory.
 * The terminal gets its modes back on every way out: `q`, Ctrl-C, SIGTERM,
 * SIGHUP, the end of the connection, and a fatal signal. */
#ifndef TEND_TOP_H
#define TEND_TOP_H

/* Run the live view against the tend at socket `path`; the exit code (0
 * after `q` or a signal, 1 when tend went away, 2 when stdin or stdout is
 * not a terminal, 3 when no tend answers). */
int top_run(const char *path);

#endif
