/* users.c -- `user` strings looked up in the name service, once a run; a
 * reload's new ones on a thread, so that a slow name service cannot stall
 * the loop. */
#include "policy/users.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "base/strmap.h"
#include "base/util.h"

static struct strmap known;  /* `user` as written -> struct user_ids */

const struct user_ids *users_known(const char *user)
{
    return strmap_get(&known, user);
}

static void ids_free(struct user_ids *u)
{
    if (!u)
        return;
    free(u->name);
    free(u->home);
    free(u->groups);
    free(u);
}

/* Ask the name service about `user`: a new answer, or NULL with *err
 * (0: no such entry).  Reentrant: the job's thread calls it too. */
static struct user_ids *ask(const char *user, int *err)
{
    char *end;
    long long uid = strtoll(user, &end, 10);
    bool numeric = *end == '\0' && end != user && uid >= 0 && uid < (long long)UINT32_MAX;
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    if (size < 1024)
        size = 16384;
    struct passwd pw, *res = NULL;
    char *buf = NULL;
    int rc;
    for (;;) {
        buf = xrealloc(buf, (size_t)size);
        rc = numeric ? getpwuid_r((uid_t)uid, &pw, buf, (size_t)size, &res)
                     : getpwnam_r(user, &pw, buf, (size_t)size, &res);
        if (rc != ERANGE || size > (1L << 24))
            break;
        size *= 2;
    }
    if (!res) {
        /* getpwnam_r(3): these errors also mean "no such user" */
        *err = rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM ? 0 : rc;
        free(buf);
        return NULL;
    }
    struct user_ids *u = xcalloc(1, sizeof *u);
    u->uid = pw.pw_uid;
    u->gid = pw.pw_gid;
    u->home = xstrdup(pw.pw_dir);
    u->name = xstrdup(pw.pw_name);
    free(buf);
    int ng = 32;
    u->groups = xcalloc((size_t)ng, sizeof *u->groups);
    if (getgrouplist(u->name, u->gid, u->groups, &ng) < 0) {
        u->groups = xrealloc(u->groups, (size_t)ng * sizeof *u->groups);
        if (getgrouplist(u->name, u->gid, u->groups, &ng) < 0)
            ng = 0;  /* the groups changed in between: none but gid */
    }
    u->ngroups = ng;
    return u;
}

/* Keep `u` as the answer for `user` (unless one is kept already). */
static const struct user_ids *keep(const char *user, struct user_ids *u)
{
    const struct user_ids *had = strmap_get(&known, user);
    if (had) {
        ids_free(u);
        return had;
    }
    strmap_put(&known, xstrdup(user), u);  /* the map keeps the key */
    return u;
}

const struct user_ids *users_lookup(const char *user, int *err)
{
    const struct user_ids *had = strmap_get(&known, user);
    if (had)
        return had;
    struct user_ids *u = ask(user, err);
    return u ? keep(user, u) : NULL;
}

/* ---- a reload's look-ups, on a thread ---- */

/* What the thread and the loop share: the thread writes the answers, then
 * sets `finished`; the loop reads them only after.  Whichever side is
 * last frees it (the loop when the job ended after the thread; the thread
 * when the job was freed while it was still asking). */
struct shared {
    pthread_mutex_t mu;
    bool finished, abandoned;
    size_t n, doing;  /* names; the one being asked about */
    struct answer {
        char *name;
        struct user_ids *ids;  /* NULL: none (err says why), or taken by `known` */
        bool found;
        int err;
    } *a;
    struct users_job *job;  /* the loop's side, for ev_async_send */
};

struct users_job {
    struct ev_loop *loop;
    ev_async async;  /* the thread's "finished" */
    ev_timer timer;  /* the name service's time */
    users_done_fn *done;
    void *data;
    struct shared *sh;
};

static void shared_free(struct shared *sh)
{
    for (size_t i = 0; i < sh->n; i++) {
        free(sh->a[i].name);
        ids_free(sh->a[i].ids);
    }
    free(sh->a);
    pthread_mutex_destroy(&sh->mu);
    free(sh);
}

/* Threads alive, abandoned ones too: a name service that never answers
 * keeps each of its threads, so there are at most USERS_THREADS_MAX. */
#define USERS_THREADS_MAX 8
static int threads;

static void *job_thread(void *arg)
{
    struct shared *sh = arg;
    for (size_t i = 0; i < sh->n; i++) {
        pthread_mutex_lock(&sh->mu);
        sh->doing = i;
        bool stop = sh->abandoned;
        pthread_mutex_unlock(&sh->mu);
        if (stop)
            break;
        struct answer *a = &sh->a[i];
        a->ids = ask(a->name, &a->err);
        a->found = a->ids != NULL;
    }
    pthread_mutex_lock(&sh->mu);
    sh->finished = true;
    bool alone = sh->abandoned;
    if (!alone)
        ev_async_send(sh->job->loop, &sh->job->async);
    pthread_mutex_unlock(&sh->mu);
    if (alone)
        shared_free(sh);
    __atomic_sub_fetch(&threads, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void job_stop(struct users_job *j)
{
    ev_async_stop(j->loop, &j->async);
    ev_timer_stop(j->loop, &j->timer);
}

static void job_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct users_job *j = w->data;
    struct shared *sh = j->sh;
    pthread_mutex_lock(&sh->mu);
    bool finished = sh->finished;
    pthread_mutex_unlock(&sh->mu);
    if (!finished)
        return;
    job_stop(j);
    for (size_t i = 0; i < sh->n; i++)
        if (sh->a[i].ids) {
            keep(sh->a[i].name, sh->a[i].ids);
            sh->a[i].ids = NULL;
        }
    j->done(j->data, NULL);
}

static void job_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct users_job *j = w->data;
    struct shared *sh = j->sh;
    pthread_mutex_lock(&sh->mu);
    bool finished = sh->finished;
    char *late = finished ? NULL : xstrdup(sh->a[sh->doing].name);
    pthread_mutex_unlock(&sh->mu);
    if (finished) {  /* answered in this same turn of the loop, after all */
        job_async_cb(loop, &j->async, EV_ASYNC);
        return;
    }
    job_stop(j);
    j->done(j->data, late);
    free(late);
}

struct users_job *users_job_start(struct ev_loop *loop, char *const *names, size_t n,
                                  double timeout, users_done_fn *done, void *data)
{
    if (__atomic_load_n(&threads, __ATOMIC_SEQ_CST) >= USERS_THREADS_MAX) {
        errno = EAGAIN;  /* that many look-ups are stuck in the name service */
        return NULL;
    }
    struct shared *sh = xcalloc(1, sizeof *sh);
    pthread_mutex_init(&sh->mu, NULL);
    sh->n = n;
    sh->a = xcalloc(n ? n : 1, sizeof *sh->a);
    for (size_t i = 0; i < n; i++)
        sh->a[i].name = xstrdup(names[i]);
    struct users_job *j = xcalloc(1, sizeof *j);
    j->loop = loop;
    j->done = done;
    j->data = data;
    j->sh = sh;
    sh->job = j;
    ev_async_init(&j->async, job_async_cb);
    j->async.data = j;
    ev_async_start(loop, &j->async);
    ev_timer_init(&j->timer, job_timer_cb, timeout, 0);
    j->timer.data = j;
    ev_timer_start(loop, &j->timer);

    /* every signal stays with the loop's thread: the new thread starts
     * with all of them blocked */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    __atomic_add_fetch(&threads, 1, __ATOMIC_SEQ_CST);
    int rc = pthread_create(&t, &attr, job_thread, sh);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        __atomic_sub_fetch(&threads, 1, __ATOMIC_SEQ_CST);
        job_stop(j);
        shared_free(sh);
        free(j);
        errno = rc;
        return NULL;
    }
    return j;
}

int users_threads(void)
{
    return __atomic_load_n(&threads, __ATOMIC_SEQ_CST);
}

int users_job_error(const struct users_job *j, const char *name)
{
    for (size_t i = 0; i < j->sh->n; i++)
        if (strcmp(j->sh->a[i].name, name) == 0)
            return j->sh->a[i].found ? -1 : j->sh->a[i].err;
    return -1;
}

void users_job_free(struct users_job *j)
{
    if (!j)
        return;
    struct shared *sh = j->sh;
    pthread_mutex_lock(&sh->mu);
    bool finished = sh->finished;
    sh->abandoned = true;
    sh->job = NULL;  /* the thread sends nothing from now on */
    pthread_mutex_unlock(&sh->mu);
    job_stop(j);
    if (finished)
        shared_free(sh);
    free(j);
}
