/* groups.c -- the list of live process groups and the last-resort killer. */
#include "core/groups.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/output.h"
#include "core/cgroup.h"

static struct pgroup *head;

void groups_add(struct pgroup *g, pid_t pgid)
{
    g->pgid = pgid;
    g->prev = NULL;
    g->next = head;
    if (head)
        head->prev = g;
    head = g;
}

void groups_remove(struct pgroup *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else if (head == g)
        head = g->next;
    if (g->next)
        g->next->prev = g->prev;
    g->prev = g->next = NULL;
    g->pgid = 0;
}

int groups_kill_all(int sig)
{
    int alive = 0;
    int saved = errno;
    for (struct pgroup *g = head; g; g = g->next)
        if (g->pgid > 0 && kill(-g->pgid, sig) == 0)
            alive++;
    if (sig == SIGKILL)
        cgroup_end_all();  /* and what left its group, in its cgroup */
    errno = saved;
    return alive;
}

static void fatal_handler(int sig)
{
    groups_kill_all(SIGKILL);
    /* the terminal (or pipe) tend shares with its shell gets its flags
     * back: left O_NONBLOCK, the shell's next read fails with EAGAIN */
    output_restore_flags();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void at_exit(void)
{
    groups_kill_all(SIGKILL);
    output_restore_flags();  /* an exit() that bypassed output_finish */
}

void groups_install_fatal_handlers(void)
{
    /* every signal whose default action ends tend and that tend does not
     * handle itself (TERM, INT, HUP, CHLD and PIPE are the loop's) */
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE,  SIGABRT,  SIGQUIT,
                                SIGUSR1, SIGUSR2, SIGALRM, SIGXCPU, SIGSYS,
                                SIGTRAP, SIGPROF, SIGVTALRM, SIGIO, SIGPWR, SIGSTKFLT};
    /* SIGXFSZ is ignored instead: a write past RLIMIT_FSIZE then fails
     * with EFBIG, which outfile.c handles like a full disk (the line is
     * dropped, the proc and file named once), rather than killing tend.
     * Children get the default back (launch.c resets every disposition). */
    signal(SIGXFSZ, SIG_IGN);
    /* a stack of its own: a stack overflow (SIGSEGV on the guard page)
     * must still reach the handler, so that no group outlives tend */
    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fatal_handler;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        sigaction(fatal[i], &sa, NULL);
    atexit(at_exit);
}
