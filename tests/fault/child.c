/* child.c -- the programs the fault suite runs as tend's procs.
 *
 *   fault-child MODE [ARGS...]
 *
 * Each mode misbehaves in one way and says on its output when it has got
 * there, so that the driver waits for a line rather than for time.  libc
 * only; built with tend's flags.  Modes:
 *
 *   pause                    print "paused", wait for a signal forever
 *   ignore-term N PIDFILE    ignore SIGTERM, start N grandchildren that
 *                            ignore it too, write every pid to PIDFILE,
 *                            print "ignoring", wait forever
 *   tree N PIDFILE stay|exit start N grandchildren (default signal
 *                            dispositions), write every pid to PIDFILE,
 *                            print "tree", then wait forever or exit 0
 *   daemon PIDFILE           double fork + setsid(): the daemon writes its
 *                            pid to PIDFILE and waits forever; the main
 *                            process prints "daemonized" once the file is
 *                            there and waits forever
 *   close-stdout             print "before-close", close fd 1, print
 *                            "stdout-closed" on stderr, wait forever
 *   flood LINELEN            write LINELEN-byte lines to stdout as fast as
 *                            it can, forever
 *   longline BYTES           write BYTES bytes of 'x' to stdout with no
 *                            newline, print "longline-written" on stderr,
 *                            wait forever
 *   lines64k N [forever|exit] print N lines of 65,535 'a's and a newline
 *                            (no match for anything ending in 'b'), print
 *                            "lines-written" on stderr and wait forever;
 *                            with "forever", keep printing them; with
 *                            "exit", exit 0 instead of waiting
 *   lockwait FILE CODE       take a shared flock on FILE (blocks while the
 *                            driver holds it exclusively), then exit CODE
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static void wait_forever(void)
{
    for (;;)
        pause();
}

static void say(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(3);
        p += w;
        n -= (size_t)w;
    }
}

/* Write the pids to `path` as a whole (a temporary file renamed), so that
 * a reader never sees half of them. */
static void write_pids(const char *path, const pid_t *pids, int n)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        _exit(4);
    for (int i = 0; i < n; i++)
        fprintf(f, "%d\n", (int)pids[i]);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        _exit(4);
}

static int start_kids(int n, pid_t *pids, int ignore_term)
{
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p < 0)
            _exit(5);
        if (p == 0) {
            if (ignore_term)
                signal(SIGTERM, SIG_IGN);
            wait_forever();
        }
        pids[i] = p;
    }
    return n;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: fault-child MODE [ARGS...]\n");
        return 2;
    }
    const char *mode = argv[1];

    if (strcmp(mode, "pause") == 0) {
        say(1, "paused\n");
        wait_forever();
    }

    if ((strcmp(mode, "ignore-term") == 0 || strcmp(mode, "tree") == 0) && argc >= 4) {
        int ignore = mode[0] == 'i';
        if (ignore)
            signal(SIGTERM, SIG_IGN);
        int n = atoi(argv[2]);
        pid_t pids[257];
        if (n < 0 || n > 256)
            return 2;
        pids[0] = getpid();
        start_kids(n, pids + 1, ignore);
        write_pids(argv[3], pids, n + 1);
        say(1, ignore ? "ignoring\n" : "tree\n");
        if (!ignore && argc >= 5 && strcmp(argv[4], "exit") == 0)
            _exit(0);
        wait_forever();
    }

    /* bomb N: fork N children that wait (as fast as it can, each of them
     * forking too, until fork fails), then say how many it made */
    if (strcmp(mode, "bomb") == 0 && argc >= 3) {
        int n = atoi(argv[2]), made = 0, refused = 0;
        for (int i = 0; i < n; i++) {
            pid_t p = fork();
            if (p == 0) {
                if (fork() == 0)  /* a grandchild too, when it may */
                    wait_forever();
                wait_forever();
            }
            if (p > 0)
                made++;
            else
                refused++;
        }
        char line[64];
        snprintf(line, sizeof line, "bombed %d, refused %d\n", made, refused);
        say(1, line);
        wait_forever();
    }

    if (strcmp(mode, "daemon") == 0 && argc >= 3) {
        int p[2];
        if (pipe(p) != 0)
            return 5;
        pid_t a = fork();
        if (a < 0)
            return 5;
        if (a == 0) {
            close(p[0]);
            if (setsid() < 0)
                _exit(6);
            pid_t b = fork();
            if (b < 0)
                _exit(5);
            if (b > 0)
                _exit(0);  /* the middle one goes: the daemon is orphaned */
            pid_t me = getpid();
            write_pids(argv[2], &me, 1);
            say(p[1], "x");
            close(p[1]);
            int fd = open("/dev/null", O_RDWR);
            if (fd >= 0) {  /* a daemon lets go of its output */
                dup2(fd, 0);
                dup2(fd, 1);
                dup2(fd, 2);
                if (fd > 2)
                    close(fd);
            }
            wait_forever();
        }
        close(p[1]);
        waitpid(a, NULL, 0);
        char c;
        ssize_t r;
        do
            r = read(p[0], &c, 1);
        while (r < 0 && errno == EINTR);
        say(1, r == 1 ? "daemonized\n" : "daemon-failed\n");
        wait_forever();
    }

    if (strcmp(mode, "close-stdout") == 0) {
        say(1, "before-close\n");
        close(1);
        say(2, "stdout-closed\n");
        wait_forever();
    }

    if (strcmp(mode, "flood") == 0 && argc >= 3) {
        size_t len = (size_t)atol(argv[2]);
        if (len < 2 || len > (1 << 20))
            return 2;
        size_t lines = (1 << 20) / len + 1, n = lines * len;
        char *buf = malloc(n);
        if (!buf)
            return 5;
        memset(buf, 'f', n);
        for (size_t i = 1; i <= lines; i++)
            buf[i * len - 1] = '\n';
        signal(SIGPIPE, SIG_DFL);
        for (;;)
            write_all(1, buf, n);
    }

    if (strcmp(mode, "longline") == 0 && argc >= 3) {
        long long total = atoll(argv[2]);
        size_t chunk = 1 << 20;
        char *buf = malloc(chunk);
        if (!buf)
            return 5;
        memset(buf, 'x', chunk);
        while (total > 0) {
            size_t n = total < (long long)chunk ? (size_t)total : chunk;
            write_all(1, buf, n);
            total -= (long long)n;
        }
        say(2, "longline-written\n");
        wait_forever();
    }

    if (strcmp(mode, "lines64k") == 0 && argc >= 3) {
        int n = atoi(argv[2]);
        int forever = argc >= 4 && strcmp(argv[3], "forever") == 0;
        int then_exit = argc >= 4 && strcmp(argv[3], "exit") == 0;
        size_t len = 65535;
        char *buf = malloc(len + 1);
        if (!buf)
            return 5;
        memset(buf, 'a', len);
        buf[len] = '\n';
        for (int i = 0; i < n || forever; i++)
            write_all(1, buf, len + 1);
        say(2, "lines-written\n");
        if (then_exit)
            _exit(0);
        wait_forever();
    }

    if (strcmp(mode, "lockwait") == 0 && argc >= 4) {
        int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return 7;
        while (flock(fd, LOCK_SH) != 0)
            if (errno != EINTR)
                return 7;
        return atoi(argv[3]);
    }

    fprintf(stderr, "fault-child: unknown mode or missing arguments: %s\n", mode);
    return 2;
}
