/* resolve.c -- host names looked up off the loop (getaddrinfo_a).
 *
 * Every lookup in flight is on one list.  The C library runs it in a thread
 * of its own and, when it is done, calls notify() in another thread, which
 * only wakes the loop (ev_async_send is safe from any thread).  On the loop,
 * done_cb takes every finished lookup off the list and answers its
 * waiters.  Waits for the same host and port share one lookup.  A lookup
 * nobody waits for any more stays on the list until the C library is done
 * with it: its gaicb may not be freed before. */
#include "base/resolve.h"

#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* One lookup of host:port, and whoever waits for its answer. */
struct lookup {
    struct gaicb cb;
    struct addrinfo hints;
    char *host, *port;
    struct resolve *waiters;  /* none left once all gave up */
    struct lookup *next;
};

/* One wait for a lookup's answer: what resolve_start hands out. */
struct resolve {
    resolve_fn *fn;
    void *data;
    struct lookup *lk;
    struct resolve *next;
};

static struct lookup *inflight;
static size_t ninflight;
static ev_async done_w;
static struct ev_loop *done_loop;

static void lookup_free(struct lookup *lk)
{
    if (lk->cb.ar_result)
        freeaddrinfo(lk->cb.ar_result);
    free(lk->host);
    free(lk->port);
    free(lk);
}

/* In a thread of the C library's: nothing but a wake-up for the loop. */
static void notify(union sigval sv)
{
    (void)sv;
    ev_async_send(done_loop, &done_w);
}

/* Every waiter of a finished lookup gets its answer, in turn; one may
 * start new lookups or give up waiting on the others. */
static void answer(struct lookup *lk)
{
    int rc = gai_error(&lk->cb);
    const struct addrinfo *ai = rc == 0 ? lk->cb.ar_result : NULL;
    char *why = ai ? NULL
                   : xasprintf("resolve %s: %s", lk->host, rc ? gai_strerror(rc) : "no address");
    while (lk->waiters) {
        struct resolve *r = lk->waiters;
        lk->waiters = r->next;
        r->lk = NULL;
        if (ai)
            r->fn(ai->ai_addr, ai->ai_addrlen, NULL, r->data);
        else
            r->fn(NULL, 0, why, r->data);
        free(r);
    }
    free(why);
}

static void done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)revents;
    /* take the finished ones off first: an answer may start a new lookup */
    struct lookup *done = NULL;
    for (struct lookup **pp = &inflight; *pp;) {
        struct lookup *lk = *pp;
        if (gai_error(&lk->cb) == EAI_INPROGRESS) {
            pp = &lk->next;
            continue;
        }
        *pp = lk->next;
        ninflight--;
        lk->next = done;
        done = lk;
    }
    if (!inflight)
        ev_async_stop(loop, w);
    while (done) {
        struct lookup *lk = done;
        done = lk->next;
        answer(lk);
        lookup_free(lk);
    }
}

/* A new lookup of host:port, on its way; NULL with *err. */
static struct lookup *lookup_start(struct ev_loop *loop, const char *host, const char *port,
                                   char **err)
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
    struct lookup *lk = xcalloc(1, sizeof *lk);
    lk->host = xstrdup(host);
    lk->port = xstrdup(port);
    lk->hints.ai_socktype = SOCK_STREAM;
    lk->cb.ar_name = lk->host;
    lk->cb.ar_service = lk->port;
    lk->cb.ar_request = &lk->hints;
    struct sigevent sev = {.sigev_notify = SIGEV_THREAD};
    sev.sigev_notify_function = notify;
    struct gaicb *list[1] = {&lk->cb};
    int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, &sev);
    if (rc != 0) {
        *err = xasprintf("resolve %s: %s", host, gai_strerror(rc));
        lookup_free(lk);
        if (!inflight)
            ev_async_stop(loop, &done_w);
        return NULL;
    }
    lk->next = inflight;
    inflight = lk;
    ninflight++;
    return lk;
}

struct resolve *resolve_start(struct ev_loop *loop, const char *host, const char *port,
                              resolve_fn *fn, void *data, char **err)
{
    /* a name already being looked up is not looked up twice: a slow one
     * would otherwise take another of the C library's threads at each
     * attempt of each check that names it */
    struct lookup *lk = inflight;
    while (lk && (strcmp(lk->host, host) != 0 || strcmp(lk->port, port) != 0 ||
                  gai_error(&lk->cb) != EAI_INPROGRESS))
        lk = lk->next;
    if (!lk && !(lk = lookup_start(loop, host, port, err)))
        return NULL;
    struct resolve *r = xcalloc(1, sizeof *r);
    r->fn = fn;
    r->data = data;
    r->lk = lk;
    r->next = lk->waiters;
    lk->waiters = r;
    return r;
}

void resolve_cancel(struct resolve *r)
{
    /* The lookup itself runs on to its end, waited for or not (gai_cancel
     * cannot take back one that is running, and one it takes back leaks
     * the C library's record of whom to notify). */
    if (!r || !r->lk)
        return;
    for (struct resolve **pp = &r->lk->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    free(r);
}
