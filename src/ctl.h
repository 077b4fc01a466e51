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

#include "manager.h"
#include "status.h"

#define CTL_REQUEST_MAX (64 * 1024)  /* bytes in one request line */

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
#include "util.h"


#endif
