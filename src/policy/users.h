/* users.h -- what a declaration's `user` names, from the name service.
 *
 * The name service may be slow (LDAP, NIS, a dead DNS server behind
 * them), so each `user` string is looked up once a run of tend and the
 * answer kept: the first load, before the loop starts, looks up on the
 * spot (users_lookup); a reload, which runs on the loop, asks for the
 * users it has not seen on a thread of their own (users_job_start) and is
 * applied once they are answered.  The answers are a process-wide
 * singleton, freed never: one entry a distinct `user` string. */
#ifndef TEND_USERS_H
#define TEND_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ev_loop;

struct user_ids {
    uid_t uid;
    gid_t gid;
    char *name, *home;  /* the name as the name service spells it */
    gid_t *groups;      /* the supplementary groups, gid among them */
    int ngroups;
};

/* The answer kept for `user` (a name or a uid, as written), or NULL. */
const struct user_ids *users_known(const char *user);

/* Look `user` up now (the caller may block) and keep the answer; NULL
 * when there is no such user, with *err the name service's errno, or 0
 * when it simply has no such entry. */
const struct user_ids *users_lookup(const char *user, int *err);

/* Look `names` up on a thread of their own.  done(data, late) runs from
 * the loop once each has an answer (late NULL: users_known has those that
 * exist, users_job_error says why the others do not), or after `timeout`
 * seconds with `late` the name still being looked up.  The job is the
 * caller's to free with users_job_free, from done or before it (a thread
 * still in the name service then finishes alone and frees its part). */
struct users_job;
typedef void users_done_fn(void *data, const char *late);
/* NULL with errno when no thread could be started (EAGAIN: as many
 * look-ups as tend allows, USERS_THREADS_MAX, are stuck already). */
struct users_job *users_job_start(struct ev_loop *loop, char *const *names, size_t n,
                                  double timeout, users_done_fn *done, void *data);
/* Why `name` of a finished job has no answer: its errno (0: no such
 * entry); -1 when it has one, or the job did not ask for it. */
int users_job_error(const struct users_job *j, const char *name);
/* Look-up threads alive, abandoned ones among them. */
int users_threads(void);
void users_job_free(struct users_job *j);

#endif
