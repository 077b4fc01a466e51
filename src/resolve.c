/* resolve.c -- host names looked up off the loop (getaddrinfo_a).
 *
 * Every lookup in flight is on one list.  The C library runs it in a thread
 * of its own and, when it is done, calls notify() in another thread, which
 * only wakes the loop (ev_async_send is safe from any thread).  On the loop,
 * done_cb takes every finished lookup off the list and answers it.  An
 * abandoned lookup stays on the list, without its callback, until the C
 * library is done with it: its gaicb may not be freed before. */
#include "resolve.h"

#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct resolve {
    struct gaicb cb;
    struct addrinfo hints;
    char *host, *port;
    resolve_fn *fn;         /* NULL once abandoned */
    void *data;
    struct resolve *next;
};

static struct resolve *inflight;
static size_t ninflight;
static ev_async done_w;
static struct ev_loop *done_loop;

static void resolve_free(struct resolve *r)
{
    if (r->cb.ar_result)
        freeaddrinfo(r->cb.ar_result);
    free(r->host);
    free(r->port);
    free(r);
}

/* In a thread of the C library's: nothing but a wake-up for the loop. */
static void notify(union sigval sv)
{
    (void)sv;
    ev_async_send(done_loop, &done_w);
}

static void done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)revents;
    /* take the finished ones off first: an answer may start a new lookup */
    struct resolve *done = NULL;
    for (struct resolve **pp = &inflight; *pp;) {
        struct resolve *r = *pp;
        if (gai_error(&r->cb) == EAI_INPROGRESS) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        ninflight--;
        r->next = done;
        done = r;
    }
    if (!inflight)
        ev_async_stop(loop, w);
    while (done) {
        struct resolve *r = done;
        done = r->next;
        if (r->fn) {
            int rc = gai_error(&r->cb);
            const struct addrinfo *ai = rc == 0 ? r->cb.ar_result : NULL;
            if (ai) {
                r->fn(ai->ai_addr, ai->ai_addrlen, NULL, r->data);
            } else {
                char *why = xasprintf("resolve %s: %s", r->host,
                                      rc ? gai_strerror(rc) : "no address");
                r->fn(NULL, 0, why, r->data);
                free(why);
            }
        }
        resolve_free(r);
    }
}

struct resolve *resolve_start(struct ev_loop *loop, const char *host, const char *port,
                              resolve_fn *fn, void *data, char **err)
{
    if (ninflight >= RESOLVE_MAX) {
        *err = xasprintf("resolve %s: %d lookups in flight already", host, RESOLVE_MAX);
        return NULL;
    }
    if (!done_loop) {
        done_loop = loop;
        ev_async_init(&done_w, done_cb);
    }
    /* started before the lookup, so its wake-up cannot be missed */
    if (!ev_is_active(&done_w))
        ev_async_start(loop, &done_w);
    struct resolve *r = xcalloc(1, sizeof *r);
    r->host = xstrdup(host);
    r->port = xstrdup(port);
    r->fn = fn;
    r->data = data;
    r->hints.ai_socktype = SOCK_STREAM;
    r->cb.ar_name = r->host;
    r->cb.ar_service = r->port;
    r->cb.ar_request = &r->hints;
    struct sigevent sev = {.sigev_notify = SIGEV_THREAD};
    sev.sigev_notify_function = notify;
    struct gaicb *list[1] = {&r->cb};
    int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, &sev);
    if (rc != 0) {
        *err = xasprintf("resolve %s: %s", host, gai_strerror(rc));
        resolve_free(r);
        if (!inflight)
            ev_async_stop(loop, &done_w);
        return NULL;
    }
    r->next = inflight;
    inflight = r;
    ninflight++;
    return r;
}

void resolve_cancel(struct resolve *r)
{
    /* Not gai_cancel: a request it takes back leaks the C library's record
     * of whom to notify (valgrind shows it), and one already running cannot
     * be taken back anyway.  The lookup runs to its end without an
     * answer; RESOLVE_MAX bounds how many can. */
    if (r)
        r->fn = NULL;
}
