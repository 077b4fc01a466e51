/* relay.c -- build/fuzz/fuzz-relay, the program a fuzz target runs as a
 * proc to have tend read output it chose: `fuzz-relay FIFO` reads frames
 * from FIFO and writes each, whole, to its stdout or stderr, until the
 * FIFO's writer closes it; then it exits 0.
 *
 * A frame is one byte, then for 'o' (stdout) and 'e' (stderr) a 32-bit
 * length (host order) and that many bytes; 'O' and 'E' close stdout or
 * stderr (a program that closes its output and carries on).  Once the
 * FIFO is open it says so with a newline on fd 3 (tend.ready.fd(3)).
 * Plain C, no sanitizer: it is the child, not what is tested. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int in_fd;

/* Exactly n bytes from the FIFO; 0 at its end. */
static int get(void *buf, size_t n)
{
    char *b = buf;
    while (n > 0) {
        ssize_t r = read(in_fd, b, n);
        if (r > 0) {
            b += r;
            n -= (size_t)r;
        } else if (r == 0) {
            return 0;
        } else if (errno != EINTR) {
            return 0;
        }
    }
    return 1;
}

static void put(int fd, const char *b, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w > 0) {
            b += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, -1);
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            exit(3);  /* tend closed our output */
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz-relay FIFO\n");
        return 2;
    }
    in_fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (in_fd < 0)
        return 2;
    /* ready (tend.ready.fd(3)): the FIFO is open, its writer may close it
     * from now on without our missing the end */
    if (write(3, "\n", 1) == 1)
        close(3);
    static char buf[1 << 20];
    unsigned char kind;
    while (get(&kind, 1)) {
        if (kind == 'O' || kind == 'E') {
            close(kind == 'O' ? 1 : 2);
            continue;
        }
        uint32_t len;
        if ((kind != 'o' && kind != 'e') || !get(&len, sizeof len))
            return 4;
        while (len > 0) {
            size_t k = len < sizeof buf ? len : sizeof buf;
            if (!get(buf, k))
                return 4;
            put(kind == 'o' ? 1 : 2, buf, k);
            len -= (uint32_t)k;
        }
    }
    return 0;
}
