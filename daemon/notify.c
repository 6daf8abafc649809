/*
 * notify.c - the systemd readiness protocol, sd_notify(3), without
 * linking libsystemd: one datagram to the socket NOTIFY_SOCKET names
 * ("@name" for the abstract namespace).
 */
#include "gortd.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@')) {
        logmsg(LOG_P_WARNING, "NOTIFY_SOCKET=%s: not a socket path; systemd not notified", path);
        return;
    }
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        logmsg(LOG_P_WARNING, "notify: socket: %s", strerror(errno));
        return;
    }
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
        logmsg(LOG_P_WARNING, "notify %s: %s", state, strerror(errno));
    close(fd);
}
