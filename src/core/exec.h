/* exec.h -- a short command run to completion without blocking the loop:
 * tend.exec and the exec readiness checks.  Its output is captured (up to
 * EXEC_OUTPUT_MAX bytes a stream), its process group is killed when it
 * exits or its timeout passes, and the caller hears once, from the loop. */
#ifndef TEND_EXEC_H
#define TEND_EXEC_H

#include <ev.h>
#include <stddef.h>

#include "base/status.h"

#define EXEC_OUTPUT_MAX (1024 * 1024)

struct exec_job;

struct exec_result {
    enum proc_state state;  /* ST_STOPPED, ST_KILLED or ST_FAILED */
    int exit_code;          /* stopped */
    int signal;             /* killed */
    const char *reason;     /* failed */
    const char *out, *err;  /* captured output (NUL-terminated) */
    size_t out_len, err_len;
    double started_at, ended_at;
};

typedef void exec_done_fn(const struct exec_result *r, void *data);

/* Run argv (env: "K=V" sets, "K" unsets; cwd NULL: tend's; timeout <= 0:
 * none).  fn is called once from the loop, never from exec_start itself;
 * the job is freed after it returns. */
struct exec_job *exec_start(struct ev_loop *loop, char *const *argv, char **env,
                            const char *cwd, double timeout, exec_done_fn *fn,
                            void *data);

/* Kill the job's process group and forget it: fn is not called. */
void exec_cancel(struct exec_job *job);

#endif
