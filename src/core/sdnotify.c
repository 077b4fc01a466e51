/* sdnotify.c -- the client side of sd_notify, for tend itself. */
#include "core/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"

static int fd = -1;
static struct sockaddr_un addr;
static socklen_t addrlen;

void sdnotify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof addr.sun_path) {
        log_warn(NULL, "NOTIFY_SOCKET=%s: not a socket path; not notifying", path);
        unsetenv("NOTIFY_SOCKET");
        return;
    }
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@')
        addr.sun_path[0] = '\0';  /* the abstract namespace */
    addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
    unsetenv("NOTIFY_SOCKET");
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        log_warn(NULL, "NOTIFY_SOCKET: socket: %s", strerror(errno));
}

void sdnotify_send(const char *msg)
{
    static int failures;
    if (fd < 0)
        return;
    if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&addr, addrlen) < 0 &&
        failures++ == 0)
        log_warn(NULL, "NOTIFY_SOCKET: sending %s: %s", msg, strerror(errno));
}

void sdnotify_close(void)
{
    if (fd >= 0)
        close(fd);
    fd = -1;
}
