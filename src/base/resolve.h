/* resolve.h -- host names looked up off the loop.
 *
 * A lookup runs in the C library's resolver threads (getaddrinfo_a); its
 * answer is delivered on the loop, through one ev_async, so the loop never
 * waits for DNS or NSS.  At most RESOLVE_MAX lookups are in flight at once,
 * those nobody waits for any more included; waits for the same host and
 * port share one. */
#ifndef TEND_RESOLVE_H
#define TEND_RESOLVE_H

#include <ev.h>
#include <sys/socket.h>

#define RESOLVE_MAX 64

struct resolve;

/* The first address found (a stream socket's), or NULL with `err`. */
typedef void resolve_fn(const struct sockaddr *sa, socklen_t len, const char *err,
                        void *data);

/* Look up host:port; fn is called once, from the loop, never from
 * resolve_start itself.  A lookup of the same host and port already in
 * flight is shared.  NULL with *err (the
 * caller frees) when the lookup cannot even start. */
struct resolve *resolve_start(struct ev_loop *loop, const char *host, const char *port,
                              resolve_fn *fn, void *data, char **err);
/* Stop waiting: fn is not called.  The lookup still runs to its end in the
 * C library's thread (counting towards RESOLVE_MAX until then). */
void resolve_cancel(struct resolve *r);

#endif
