/* spec.h -- a proc's declaration, as the policy file gave it.
 *
 * The loader fills a spec from a `tend.proc{...}` table; the core only reads
 * it.  Every string is owned by the spec and freed by spec_free. */
#ifndef TEND_SPEC_H
#define TEND_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/restart.h"
#include "base/util.h"

#include <sys/socket.h>

enum output_mode { OUTPUT_INHERIT, OUTPUT_DISCARD, OUTPUT_FILE };

/* A readiness or health check (SPEC 4). */
enum check_kind {
    CHECK_NONE,   /* ready as soon as exec succeeds */
    CHECK_FD,     /* a newline on fd `fd` */
    CHECK_NOTIFY, /* sd_notify READY=1 on NOTIFY_SOCKET */
    CHECK_LOG,    /* an output line matching `pattern` (the binding matches) */
    CHECK_TCP,    /* a connection to `addr` succeeds */
    CHECK_EXEC,   /* `argv` exits 0 */
    CHECK_FUNC,   /* a Lua function returns true (the binding runs it) */
};

struct check {
    enum check_kind kind;
    int fd;                        /* CHECK_FD */
    char *pattern;                 /* CHECK_LOG */
    int stream;                    /* CHECK_LOG: 0 stdout, 1 stderr, -1 both */
    struct sockaddr_storage addr;  /* CHECK_TCP to a numeric address */
    socklen_t addrlen;             /* 0: look host up at each attempt */
    char *host, *port;             /* CHECK_TCP to a host name */
    char *target;                  /* CHECK_TCP: "host:port", for messages */
    char **argv;                   /* CHECK_EXEC */
};

/* What an `after` proc must reach before the proc starts (SPEC 3). */
enum after_cond {
    AFTER_READY,      /* ready (a list's items) */
    AFTER_STARTED,    /* running or later in its incarnation */
    AFTER_SUCCEEDED,  /* ended stopped with exit code 0 (a one-shot) */
    AFTER_ENDED,      /* any terminal status */
};

/* limits = { ... } (SPEC 10): rlimits, soft and hard alike, set in the
 * child before exec; and cgroup limits, where tend's cgroup has the
 * controller. */
enum limit_rlimit {
    LIMIT_NOFILE, LIMIT_CORE, LIMIT_NPROC, LIMIT_STACK, LIMIT_MEMLOCK, LIMIT_CPUTIME,
    LIMIT__RLIMITS
};
struct limits {
    bool set[LIMIT__RLIMITS];
    unsigned long long value[LIMIT__RLIMITS];  /* RLIM_INFINITY: unlimited */
    long long memory, memory_high;  /* bytes (memory.max, memory.high); 0: none */
    double cpu;                     /* cores (cpu.max); 0: none */
    long long pids;                 /* pids.max; 0: none */
};
/* "nofile", "core"...: the key of each rlimit in `limits`. */
extern const char *const limit_rlimit_names[LIMIT__RLIMITS];
/* RLIMIT_NOFILE...: the resource of each. */
int limit_rlimit_resource(enum limit_rlimit l);
/* The most replicas a declaration may have. */
#define REPLICAS_MAX 10000

struct spec {
    char *name;
    char **argv;  /* NULL-terminated, argv[0] searched in PATH */
    char **env;   /* NULL-terminated: "KEY=VALUE" sets, "KEY" unsets: the
                   * env_file pairs with `env` laid over them (env wins) */
    char **env_file;  /* NULL-terminated absolute paths, as declared, or NULL */
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
    char **after; /* NULL-terminated names of the procs this one starts after */
    enum after_cond *after_cond;  /* the condition of each name; NULL: all ready */
    bool autostart;
    enum output_mode output;
    char *output_path;       /* OUTPUT_FILE: absolute */
    char *output_stderr;     /* OUTPUT_FILE: stderr's own file (absolute), or
                              * NULL: both streams to output_path */
    bool output_console;     /* OUTPUT_FILE: copied to tend's output too */
    off_t output_max_size;   /* 0: tend does not rotate it */
    int output_keep;         /* rotated files kept: PATH.1 .. PATH.keep */
    struct check ready;
    double ready_timeout;    /* seconds; 0: wait forever */
    double ready_interval;   /* retry interval of tcp and exec checks */
    double watchdog;         /* seconds between WATCHDOG=1 pings; 0: none */
    struct check health;     /* kind CHECK_NONE: no health check */
    double health_interval, health_timeout;
    int health_failures;
    struct limits limits;
    char *where;  /* "policy.lua:12", where it was declared */
    /* replicas (SPEC 3): in a declaration, N (0: not replicated); in a
     * replica, the set's name ("web" for "web@2") and its number */
    int replicas;
    char *set;    /* NULL: not a replica */
    int replica;  /* 1..N in a replica, else 0 */
    /* A problem found at load that `tend run` only warns about and
     * `--check` rejects (a cmd[1] not found or not executable: a proc it
     * starts after may create it): "FILE:LINE: proc 'NAME': field 'cmd':
     * ...", or NULL.  Not part of the declaration (spec_equal). */
    char *warning;
};

/* A spec with the defaults of SPEC 3 and no name or command yet. */
struct spec *spec_new(void);
void spec_free(struct spec *s);
/* Whether two declarations are the same in every field but functions (a
 * reload keeps such a proc running untouched). */
bool spec_equal(const struct spec *a, const struct spec *b);

/* A deep copy of `s`. */
struct spec *spec_dup(const struct spec *s);
/* Replica `i` of the replicated declaration `tmpl` (named "NAME@i", with
 * TEND_REPLICA=i in its environment): a new spec. */
struct spec *spec_replica(const struct spec *tmpl, int i);

/* Free what a check holds. */
void check_clear(struct check *c);
/* A short description of a check ("tcp 127.0.0.1:8080"), a new string. */
char *check_describe(const struct check *c);

/* Whether the spec's program can be run as its cmd[1] says: NULL, or what
 * is wrong (a new string, without the "FILE:LINE: proc ..." prefix).  A
 * cmd[1] with a slash is taken relative to the proc's cwd (tend's own
 * when it has none); one without is searched in the PATH the child will
 * have (the spec's env, else tend's, else the child's default); the file
 * must be a regular file the proc's user may execute. */
char *spec_check_cmd(const struct spec *s);
/* spec_check_cmd remembers its answers (a policy of many procs runs few
 * programs): forget them, at the start of each load. */
void spec_check_cmd_forget(void);

/* The condition of `after` name `dep` in s (AFTER_READY when not named);
 * for a replica "web@2" not named itself, the condition given for its set
 * "web". */
enum after_cond spec_after_cond(const struct spec *s, const char *dep);
/* "started", "ready", "succeeded", "ended"; and back (-1: none of them). */
const char *spec_after_cond_name(enum after_cond c);
int spec_after_cond_parse(const char *name);

/* The --check line of a proc: "NAME: ARGV  (restart MODE; after ...;
 * ready ...; health ...; output ...; user ...; cwd ...; env_file ...)",
 * argv shell-quoted; a new string, without a newline. */
char *spec_plan_line(const struct spec *s);

/* `word` for a POSIX shell: as is when it is only safe characters, else in
 * single quotes; a new string. */
char *shell_quote(const char *word);

/* "Did you mean": the closest known word to a misspelt one.  Feed it every
 * candidate; the best is one within edit distance 2 (a swap of two
 * neighbours counts 1, case is ignored) and at most half the word's
 * length, the first of equals. */
struct suggest {
    const char *word;
    const char *best;
    int dist;
};
void suggest_init(struct suggest *g, const char *word);
void suggest_try(struct suggest *g, const char *candidate);
/* The best candidate, or NULL. */
const char *suggest_best(const struct suggest *g);


#endif
