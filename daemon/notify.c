/*
 * notify.c - the systemd readiness protocol, sd_notify(3), without
 * linking libsystemd: one datagram to the socket NOTIFY_SOCKET names
 * ("@name" for the abstract namespace).
 *
 * What gortd says, and when:
 *   - READY=1 with STATUS= once the control socket listens and the
 *     plugin directories are loaded (main.c), and again after a reload;
 *   - RELOADING=1 (with MONOTONIC_USEC=, as systemd wants it) on SIGHUP;
 *   - STOPPING=1 with the reason as STATUS= when a stop begins;
 *   - WATCHDOG=1 when the service has WatchdogSec= (systemd then sets
 *     WATCHDOG_USEC): fed by libgort's sysmon through gort_set_watchdog,
 *     every half of WATCHDOG_USEC, and only while the scheduler makes
 *     progress.  A runtime wedged by a goroutine that never reaches a
 *     safe point, or by a stop-the-world that never ends, stops the pings
 *     although the control socket (served by a thread without a P) still
 *     answers, and systemd restarts the service: that is the point.
 */
#include "gortd.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
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

void notifyf(const char *fmt, ...)
{
    if (!getenv("NOTIFY_SOCKET"))
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    notify(buf);
}

void notify_ready(const char *socket_path, const char *what)
{
    if (!getenv("NOTIFY_SOCKET"))
        return;
    json_t *plugins = plugins_json(false);
    size_t n = json_array_size(plugins);
    json_decref(plugins);
    notifyf("READY=1\nSTATUS=%s on %s: %zu plugin%s loaded, GOMAXPROCS %d", what, socket_path, n,
            n == 1 ? "" : "s", gort_gomaxprocs(0));
}

/* sysmon's thread, while the scheduler makes progress. */
static void watchdog_ping(void *ctx)
{
    (void)ctx;
    notify("WATCHDOG=1");
}

void notify_watchdog_start(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!usec || !*usec)
        return;
    char *end;
    errno = 0;
    long long p = pid && *pid ? strtoll(pid, &end, 10) : 0;
    if (pid && *pid && (*end || errno || p <= 0)) {
        logmsg(LOG_P_WARNING, "WATCHDOG_PID=%s is not a process id; no watchdog pings", pid);
        return;
    }
    if (p && p != (long long)getpid())
        return;   /* the watchdog is another process's */
    errno = 0;
    long long us = strtoll(usec, &end, 10);
    if (end == usec || *end || errno || us <= 0 || us > INT64_MAX / 1000) {
        logmsg(LOG_P_WARNING, "WATCHDOG_USEC=%s is not a positive number of microseconds; no watchdog pings",
               usec);
        return;
    }
    /* Half the timeout, as sd_watchdog_enabled(3) advises; sysmon's 1 ms
     * floor for tiny test timeouts. */
    int64_t period = us * 1000 / 2;
    if (period < 1000000)
        period = 1000000;
    int err = gort_set_watchdog(period, watchdog_ping, NULL);
    if (err) {
        logmsg(LOG_P_WARNING, "watchdog: %s", gort_strerror(err));
        return;
    }
    logmsg(LOG_P_INFO, "watchdog: WATCHDOG=1 every %lld ms while the scheduler makes progress",
           (long long)(period / 1000000));
}
