/* spec.h -- a proc's declaration, as the policy file gave it.
 *
 * The loader fills a spec from a `tend.proc{...}` table; the core only reads
 * it.  Every string is owned by the spec and freed by spec_free. */
#ifndef TEND_SPEC_H
#define TEND_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "restart.h"

enum output_mode { OUTPUT_INHERIT, OUTPUT_DISCARD };

struct spec {
    char *name;
    char **argv;  /* NULL-terminated, argv[0] searched in PATH */
    char **env;   /* NULL-terminated: "KEY=VALUE" sets, "KEY" unsets */
    char *cwd;    /* absolute, or NULL for tend's working directory */
    char *user;   /* NULL: run as tend's user */
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    int ngroups;
    char *home;
    int stop_signal;
    double stop_timeout;
    struct restart_policy restart;
    char **after; /* NULL-terminated names of procs that must be ready first */
    bool autostart;
    enum output_mode output;
    char *where;  /* "policy.lua:12", where it was declared */
};

/* A spec with the defaults of SPEC 3 and no name or command yet. */
struct spec *spec_new(void);
void spec_free(struct spec *s);
/* Free a NULL-terminated array of strings and the strings. */
void strv_free(char **v);
/* How many strings a NULL-terminated array holds. */
size_t strv_len(char *const *v);

#endif
