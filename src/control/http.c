/* http.c -- the metrics endpoint: libmicrohttpd in its "external epoll"
 * mode, so that its sockets are one epoll fd that an ev_io watches, and its
 * timeouts one ev_timer armed only while MHD asks for one (with no
 * connection it asks for none: an idle endpoint never wakes tend). */
#include "control/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "control/metrics.h"
#include "control/statusjson.h"
#include "core/proc.h"

struct http {
    struct MHD_Daemon *d;
    struct ev_loop *loop;
    struct manager *m;
    ev_io io;          /* MHD's epoll fd */
    ev_timer timer;    /* MHD's next timeout, while it has one */
    char address[80];  /* "127.0.0.1:9100" */
    char last_error[256];
};

/* MHD's own messages: the last one is kept for http_open's error, later
 * ones are logged. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http *h = cls;
    vsnprintf(h->last_error, sizeof h->last_error, fmt, ap);
    h->last_error[strcspn(h->last_error, "\n")] = '\0';
    if (h->d)
        log_warn(NULL, "metrics endpoint: %s", h->last_error);
}

/* Arm the timer for MHD's next timeout, or stop it when there is none. */
static void rearm(struct http *h)
{
    MHD_UNSIGNED_LONG_LONG ms;
    ev_timer_stop(h->loop, &h->timer);
    if (MHD_get_timeout(h->d, &ms) == MHD_YES) {
        ev_timer_set(&h->timer, (double)ms / 1000.0, 0.);
        ev_timer_start(h->loop, &h->timer);
    }
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct http *h = container_of(w, struct http, io);
    MHD_run(h->d);
    rearm(h);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct http *h = container_of(w, struct http, timer);
    MHD_run(h->d);
    rearm(h);
}

/* Queue `body` (malloc'ed, taken over) with status `code`. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type,
                             char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned code, const char *text)
{
    return reply(c, code, "text/plain; charset=utf-8", xstrdup(text), strlen(text));
}

/* Every status, as `tend status --json` gets them. */
static char *statuses_text(struct manager *m, size_t *len)
{
    size_t n = manager_count(m);
    struct proc **procs = xcalloc(n ? n : 1, sizeof *procs);
    for (size_t i = 0; i < n; i++)
        procs[i] = manager_at(m, i);
    json_t *a = statuses_json(procs, n);
    free(procs);
    char *s = json_dumps(a, STATUSJSON_DUMP_FLAGS);
    json_decref(a);
    *len = strlen(s);
    return s;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
    struct http *h = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD are served\n");
    size_t len;
    if (strcmp(url, "/metrics") == 0) {
        char *body = metrics_text(h->m, &len);
        return reply(c, MHD_HTTP_OK, METRICS_CONTENT_TYPE, body, len);
    }
    if (strcmp(url, "/status") == 0) {
        char *body = statuses_text(h->m, &len);
        return reply(c, MHD_HTTP_OK, "application/json", body, len);
    }
    if (strcmp(url, "/") == 0)
        return reply_text(c, MHD_HTTP_OK, "tend: /metrics (Prometheus), /status (JSON)\n");
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /status\n");
}

/* `where` read into *sa: the address (127.0.0.1 by default) and the port. */
static bool parse_where(const char *where, struct sockaddr_storage *sa, char **err)
{
    char host[64] = "127.0.0.1";
    const char *port = where;
    const char *colon = strrchr(where, ':');
    if (where[0] == '[') {
        const char *close = strchr(where, ']');
        if (!close || close[1] != ':' || (size_t)(close - where - 1) >= sizeof host) {
            *err = xasprintf("--metrics %s: [ADDR]:PORT expected", where);
            return false;
        }
        snprintf(host, sizeof host, "%.*s", (int)(close - where - 1), where + 1);
        port = close + 2;
    } else if (colon) {
        if ((size_t)(colon - where) >= sizeof host) {
            *err = xasprintf("--metrics %s: the address is too long", where);
            return false;
        }
        snprintf(host, sizeof host, "%.*s", (int)(colon - where), where);
        port = colon + 1;
    }
    char *end;
    errno = 0;
    long n = strtol(port, &end, 10);
    if (!*port || *end || errno || n < 0 || n > 65535) {
        *err = xasprintf("--metrics %s: a port from 0 to 65535 expected, not '%s'", where, port);
        return false;
    }
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    memset(sa, 0, sizeof *sa);
    struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)n);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)n);
    } else {
        *err = xasprintf("--metrics %s: '%s' is not a numeric IPv4 or IPv6 address", where,
                         host);
        return false;
    }
    return true;
}

struct http *http_open(struct ev_loop *loop, struct manager *m, const char *where, char **err)
{
    struct sockaddr_storage sa;
    if (!parse_where(where, &sa, err))
        return NULL;
    struct http *h = xcalloc(1, sizeof *h);
    h->loop = loop;
    h->m = m;
    bool v6 = sa.ss_family == AF_INET6;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNS_MAX,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_END);
    if (!h->d) {
        *err = xasprintf("--metrics %s: cannot listen: %s", where,
                         h->last_error[0] ? h->last_error : strerror(errno));
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *fd = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *port = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET6_ADDRSTRLEN] = "";
    if (v6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, host, sizeof host);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, host, sizeof host);
    snprintf(h->address, sizeof h->address, v6 ? "[%s]:%u" : "%s:%u", host,
             port ? (unsigned)port->port : 0u);
    ev_io_init(&h->io, io_cb, fd->epoll_fd, EV_READ);
    ev_io_start(loop, &h->io);
    ev_init(&h->timer, timer_cb);
    rearm(h);
    return h;
}

int http_port(const struct http *h)
{
    const union MHD_DaemonInfo *port = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    return port ? port->port : -1;
}

const char *http_address(const struct http *h)
{
    return h->address;
}

void http_close(struct http *h)
{
    if (!h)
        return;
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->timer);
    MHD_stop_daemon(h->d);
    free(h);
}
