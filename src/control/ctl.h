/* ctl.h -- the control socket (SPEC 7): a Unix stream socket on the loop
 * that answers the client commands, one JSON object per line both ways.
 *
 * Every read and write is non-blocking.  Each connection has a bounded
 * input buffer (a request over CTL_REQUEST_MAX bytes gets an error reply
 * and the rest of its line is skipped) and a bounded output queue (no new
 * request is read while a reply waits to be taken; a follower that does
 * not keep up loses lines, counted).  Peers of another uid (other than
 * root) are refused. */
#ifndef TEND_CTL_H
#define TEND_CTL_H

#include <ev.h>
#include <jansson.h>

#include "core/manager.h"
#include "base/status.h"

#define CTL_REQUEST_MAX (64 * 1024)  /* bytes in one request line */

/* Connections at once.  At the cap, a new connection takes the place of
 * the connection idle the longest (see below); only when none is idle is
 * it refused with an error.  The same eviction makes room when accept()
 * runs out of file descriptors (EMFILE), so that an operator's `tend
 * status` gets through however many clients sit on the socket. */
#define CTL_CONNS_MAX 1024

/* `logs -f` followers at once: a follower is never idle, so this many
 * leave CTL_CONNS_MAX - CTL_FOLLOWS_MAX slots that an idle connection can
 * always give up for an operator's `tend status`.  A follow past it is
 * answered with an error (and its connection is then idle). */
#define CTL_FOLLOWS_MAX (CTL_CONNS_MAX - 16)

/* Seconds a connection may stay idle before tend closes it.  Idle: no
 * request being answered (a start, stop, wait... waiting on its procs) and
 * no `logs -f` follow, since the connection was accepted, since its last
 * request line or since tend last wrote to it (a partial line does not
 * count: a client that drips a request byte by byte is idle).  Followers
 * and outstanding requests are never timed out.  One timer serves every
 * connection (they sit on a list in the order they went idle); it runs
 * only while some connection is idle, so an idle tend has no wake-ups.
 * $TEND_CTL_IDLE (seconds, > 0), read once by ctl_open, overrides it: for
 * the tests only. */
#define CTL_IDLE_TIMEOUT 10.0

struct ctl;

/* The socket path: `opt` (--socket) if given, else $TEND_SOCKET, else
 * $XDG_RUNTIME_DIR/tend.sock, else /tmp/tend-$UID/tend.sock.  A new
 * string. */
char *ctl_socket_path(const char *opt);

/* Listen on `path` for the procs of `m`.  A directory tend creates on the
 * way is mode 0700, the socket 0600; a stale socket (nobody answers) is
 * replaced.  NULL with a message in *err (to free) when the socket cannot
 * be had, for instance because a live tend answers on it. */
struct ctl *ctl_open(struct ev_loop *loop, struct manager *m, const char *path,
                     char **err);
/* Write what is queued if the clients take it now, close every
 * connection, stop listening and remove the socket file (if still ours). */
void ctl_close(struct ctl *c);

/* A growable buffer of bytes (JSON text is written into it).  Zeroed is
 * empty; p is not NUL-terminated; free(p) when done. */
#include "base/util.h"


#endif
