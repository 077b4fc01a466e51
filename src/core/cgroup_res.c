/* cgroup_res.c -- what the incarnations' cgroups hold and say (see
 * cgroup.h): the controllers turned on for them, the limits written into
 * them, the OOM kills they count, the files a status reads. */
#include "core/cgroup.h"
#include "core/cgroup_impl.h"
#include "core/spec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

/* Turn on for the incarnations' cgroups the controllers their limits use
 * (SPEC 10) that TEND has: memory, pids, cpu.  TEND holds no process (tend
 * is in its leaf), so it may.  What took is kept in cg_state.controllers. */
void cg_enable_controllers(const char *dir)
{
    char *path = xasprintf("%s/cgroup.controllers", dir);
    char *have = cg_read_small(path);
    free(path);
    static const char *const wanted[] = {"memory", "pids", "cpu"};
    for (size_t i = 0; have && i < ARRAY_LEN(wanted); i++) {
        size_t n = strlen(wanted[i]);
        bool listed = false;
        for (const char *w = have; (w = strstr(w, wanted[i])); w += n)
            listed |= (w == have || w[-1] == ' ') && (!w[n] || w[n] == ' ' || w[n] == '\n');
        char add[16];
        snprintf(add, sizeof add, "+%s", wanted[i]);
        if (listed && cg_write_at(cg_state.dir_fd, "cgroup.subtree_control", add) == 0) {
            size_t k = strlen(cg_state.controllers);
            snprintf(cg_state.controllers + k, sizeof cg_state.controllers - k, "%s%s",
                     k ? " " : "", wanted[i]);
        }
    }
    free(have);
}

long cgroup_oom_kills(const struct cgroup *cg)
{
    char rel[sizeof cg->name + 32];
    snprintf(rel, sizeof rel, "%s/memory.events", cg->name);
    int fd = openat(cg_state.dir_fd, rel, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *p = strstr(buf, "oom_kill ");
    return p && (p == buf || p[-1] == '\n') ? strtol(p + 9, NULL, 10) : 0;
}

bool cgroup_controller(const char *name)
{
    size_t n = strlen(name);
    for (const char *w = cg_state.controllers; (w = strstr(w, name)); w += n)
        if ((w == cg_state.controllers || w[-1] == ' ') && (!w[n] || w[n] == ' '))
            return true;
    return false;
}

char *cgroup_apply_limits(struct cgroup *cg, const struct limits *l)
{
    struct {
        const char *key, *controller, *file;
        bool set;
        char value[48];
    } v[4] = {
        {"memory", "memory", "memory.max", l->memory > 0, ""},
        {"memory_high", "memory", "memory.high", l->memory_high > 0, ""},
        {"cpu", "cpu", "cpu.max", l->cpu > 0, ""},
        {"pids", "pids", "pids.max", l->pids > 0, ""},
    };
    snprintf(v[0].value, sizeof v[0].value, "%lld", l->memory);
    snprintf(v[1].value, sizeof v[1].value, "%lld", l->memory_high);
    snprintf(v[2].value, sizeof v[2].value, "%lld 100000", (long long)(l->cpu * 100000));
    snprintf(v[3].value, sizeof v[3].value, "%lld", l->pids);
    struct buf why = {0};
    for (size_t i = 0; i < ARRAY_LEN(v); i++) {
        if (!v[i].set)
            continue;
        char *err = NULL;
        if (!cg)
            err = xasprintf("needs cgroups (%s)", cg_state.why_not ? cg_state.why_not
                                                                   : "not in use");
        else if (!cgroup_controller(v[i].controller))
            err = xasprintf("the %s controller is not available in %s", v[i].controller,
                            cg_state.dir);
        else {
            char rel[sizeof cg->name + 32];
            snprintf(rel, sizeof rel, "%s/%s", cg->name, v[i].file);
            if (cg_write_at(cg_state.dir_fd, rel, v[i].value) != 0)
                err = xasprintf("%s/%s: %s", cg->path, v[i].file, strerror(errno));
        }
        if (err) {
            char *line = xasprintf("%slimits.%s not applied: %s", why.len ? "; " : "",
                                   v[i].key, err);
            buf_put(&why, line, strlen(line));
            free(line);
            free(err);
        }
    }
    if (!why.len)
        return NULL;
    buf_put(&why, "", 1);
    return why.p;
}

int cgroup_open_file(const char *path, const char *file)
{
    size_t n = cg_state.dir ? strlen(cg_state.dir) : 0;
    char rel[PATH_MAX];
    if (cg_state.dir_fd >= 0 && n && strncmp(path, cg_state.dir, n) == 0 && path[n] == '/') {
        snprintf(rel, sizeof rel, "%s/%s", path + n + 1, file);
        return openat(cg_state.dir_fd, rel, O_RDONLY | O_CLOEXEC);
    }
    snprintf(rel, sizeof rel, "%s/%s", path, file);
    return open(rel, O_RDONLY | O_CLOEXEC);
}
