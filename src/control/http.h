/* http.h -- `tend run --metrics [ADDR:]PORT`: an HTTP endpoint on tend's
 * event loop (libmicrohttpd, driven by libev: no thread of its own) that
 * serves GET /metrics (metrics.c) and GET /status (every status as JSON,
 * as `tend status --json` prints them).
 *
 * Bounded whatever a client does: at most HTTP_CONNS_MAX connections, each
 * with HTTP_CONN_MEMORY bytes for its request, closed after HTTP_TIMEOUT
 * seconds without progress; a reply is made whole when asked for and
 * written as the client takes it, never blocking the loop.  Idle (no
 * connection), the endpoint costs no wake-up. */
#ifndef TEND_HTTP_H
#define TEND_HTTP_H

#include <ev.h>
#include <stdbool.h>

#include "core/manager.h"

#define HTTP_CONNS_MAX 64
#define HTTP_CONN_MEMORY (32 * 1024)
#define HTTP_TIMEOUT 10

struct http;

/* Listen on `where`: "PORT" (on 127.0.0.1), "ADDR:PORT" or "[ADDR6]:PORT"
 * with ADDR a numeric IPv4 or IPv6 address (or "localhost"); port 0 takes
 * any free port (http_port says which).  NULL with a message in *err (to
 * free) when `where` is malformed or the port cannot be had. */
struct http *http_open(struct ev_loop *loop, struct manager *m, const char *where, char **err);
/* The port listened on. */
int http_port(const struct http *h);
/* The address as it was given or defaulted, for the log ("127.0.0.1:9100"). */
const char *http_address(const struct http *h);
/* Close every connection and stop listening. */
void http_close(struct http *h);

#endif
