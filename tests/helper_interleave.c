/* helper_interleave.c -- a test program that alternates its streams:
 *   helper-interleave N   writes "out I" on stdout, then "err I" on
 *                         stderr, for I = 1..N, then "done" on stdout,
 *                         then waits for a signal.
 * After each line it waits until tend has read its pipe empty (FIONREAD
 * on the write end), so that the order in which tend reads the lines is
 * the order they were written, whatever the scheduler does: two pipes
 * read by one loop cannot tell which of two lines already waiting in
 * them came first. */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Write all of s to fd; exit 1 when it cannot. */
static void put(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            exit(1);
        s += w;
        n -= (size_t)w;
    }
}

/* Wait until the reader has taken everything written to pipe fd. */
static void drained(int fd)
{
    int left;
    while (ioctl(fd, FIONREAD, &left) == 0 && left > 0)
        sched_yield();
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int n = atoi(argv[1]);
    char line[64];
    for (int i = 1; i <= n; i++) {
        snprintf(line, sizeof line, "out %d\n", i);
        put(1, line);
        drained(1);
        snprintf(line, sizeof line, "err %d\n", i);
        put(2, line);
        drained(2);
    }
    put(1, "done\n");
    for (;;)
        pause();
}
