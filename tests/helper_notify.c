/* helper_notify.c -- a test program that speaks sd_notify the way a
 * systemd Type=notify service does, from its own (long-lived) process:
 *
 *   helper-notify [--to ADDR] [--repeat N --every SECONDS] MESSAGE... [-- CMD ARGS...]
 *
 * sends each MESSAGE ("\n" stands for a newline) as one datagram to ADDR
 * (default $NOTIFY_SOCKET; a path or "@abstract"), N times SECONDS apart,
 * then execs CMD if given (so the sender stays the same process, as a
 * daemon that notifies and goes on serving) or exits 0. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Turn the two characters "\n" into a newline, in place. */
static void unescape(char *s)
{
    char *d = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] == 'n') {
            *d++ = '\n';
            s++;
        } else {
            *d++ = *s;
        }
    }
    *d = '\0';
}

int main(int argc, char **argv)
{
    const char *addr = getenv("NOTIFY_SOCKET");
    int repeat = 1;
    double every = 0;
    int i = 1;
    for (; i + 1 < argc && argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2]; i += 2) {
        if (strcmp(argv[i], "--to") == 0)
            addr = argv[i + 1];
        else if (strcmp(argv[i], "--repeat") == 0)
            repeat = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--every") == 0)
            every = atof(argv[i + 1]);
        else
            break;
    }
    if (!addr || !*addr) {
        fprintf(stderr, "helper-notify: no NOTIFY_SOCKET\n");
        return 2;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(addr);
    if (len >= sizeof sa.sun_path)
        return 2;
    memcpy(sa.sun_path, addr, len);
    if (addr[0] == '@')
        sa.sun_path[0] = '\0';  /* the abstract namespace */
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                                  (addr[0] == '@' ? 0 : 1));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 2;
    int first = i, end = i;
    while (end < argc && strcmp(argv[end], "--") != 0)
        end++;
    for (int k = first; k < end; k++)
        unescape(argv[k]);
    for (int r = 0; r < repeat; r++) {
        if (r > 0 && every > 0) {
            struct timespec ts = {(time_t)every, (long)((every - (time_t)every) * 1e9)};
            nanosleep(&ts, NULL);
        }
        for (int k = first; k < end; k++)
            if (sendto(fd, argv[k], strlen(argv[k]), 0, (struct sockaddr *)&sa, salen) < 0) {
                perror("helper-notify: sendto");
                return 1;
            }
    }
    close(fd);
    if (end + 1 < argc) {
        execvp(argv[end + 1], argv + end + 1);
        perror("helper-notify: exec");
        return 127;
    }
    return 0;
}
