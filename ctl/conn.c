/*
 * conn.c - gortctl's one connection to gortd.
 *
 * Finding the daemon follows SPEC §6: --socket, $GORT_SOCKET, then the
 * first default path that exists.  "Exists" includes a path whose
 * directory we may not search (stat fails with EACCES): that is the
 * daemon's socket, and the right report is a permission error naming its
 * owner and group, not "not running".
 *
 * Every failure is reported here, once, with what a person needs to act
 * on it: the socket tried, `systemctl status gortd` when nothing answers,
 * the owner, group and mode when access is denied, and the daemon's own
 * message and code when it refuses a command.  Callers only pass the
 * exit code on.
 *
 * The protocol is one JSON object per line.  Answers are matched by id;
 * events of a subscription may arrive while an answer is awaited (top
 * subscribes and keeps asking), so they are kept in ctl.events for
 * ctl_next_event.  Reads wait in ctl_poll(), the one place SIGINT is
 * delivered once caught (the handler has no SA_RESTART), so following
 * stops at once on Ctrl-C.
 * Sends use MSG_NOSIGNAL: a daemon that went away is an error to report,
 * not a SIGPIPE.
 */
#include "ctl.h"

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <poll.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Longest answer accepted: a history answer may carry 16 MiB of rows. */
#define MAX_ANSWER ((size_t)64 << 20)
#define GREETING_MS 5000

#define HINT "is gortd running? try: systemctl status gortd"

static const char *owner_name(uid_t uid, char *buf, size_t n)
{
    struct passwd *pw = getpwuid(uid);
    if (pw)
        snprintf(buf, n, "%s", pw->pw_name);
    else
        snprintf(buf, n, "%u", (unsigned)uid);
    return buf;
}

static const char *group_name(gid_t gid, char *buf, size_t n)
{
    struct group *gr = getgrgid(gid);
    if (gr)
        snprintf(buf, n, "%s", gr->gr_name);
    else
        snprintf(buf, n, "%u", (unsigned)gid);
    return buf;
}

/* Access denied: name the socket's owner, group and mode, or those of
 * the directory that hides it. */
static int permission_denied(const char *path)
{
    char u[64], g[64];
    struct stat st;
    if (stat(path, &st) == 0) {
        fprintf(stderr,
                "gortctl: permission denied on %s (owner %s, group %s, mode %04o): run as root, "
                "as %s, or as a member of group %s\n",
                path, owner_name(st.st_uid, u, sizeof u), group_name(st.st_gid, g, sizeof g),
                (unsigned)(st.st_mode & 07777), u, g);
        return EX_NOPERM;
    }
    char dir[sizeof ctl.path];
    snprintf(dir, sizeof dir, "%s", path);
    const char *d = dirname(dir);
    if (stat(d, &st) == 0)
        fprintf(stderr,
                "gortctl: permission denied on %s: its directory %s (owner %s, group %s, mode "
                "%04o) is closed to you\n",
                path, d, owner_name(st.st_uid, u, sizeof u), group_name(st.st_gid, g, sizeof g),
                (unsigned)(st.st_mode & 07777));
    else
        fprintf(stderr, "gortctl: permission denied on %s\n", path);
    return EX_NOPERM;
}

/* Which socket: returns 0 with ctl.path set, or an exit code. */
static int find_socket(void)
{
    const char *p = ctl.socket_flag;
    if (!p) {
        p = getenv("GORT_SOCKET");
        if (p && !*p)
            p = NULL;
    }
    if (p) {
        if (strlen(p) >= sizeof ctl.path) {
            fprintf(stderr, "gortctl: socket path too long: %.80s...\n", p);
            return EX_USAGE;
        }
        snprintf(ctl.path, sizeof ctl.path, "%s", p);
        return 0;
    }
    char cand[3][sizeof ctl.path] = {{0}};
    int n = 0;
    snprintf(cand[n++], sizeof cand[0], "/run/gortd/gortd.sock");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg && strlen(xdg) < sizeof cand[0] - 16)
        snprintf(cand[n++], sizeof cand[0], "%s/gortd.sock", xdg);
    snprintf(cand[n++], sizeof cand[0], "./run/gortd.sock");
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(cand[i], &st) == 0 || errno == EACCES) {
            memcpy(ctl.path, cand[i], sizeof ctl.path);
            return 0;
        }
    }
    fprintf(stderr, "gortctl: no gortd socket found (tried");
    for (int i = 0; i < n; i++)
        fprintf(stderr, "%s %s", i ? "," : "", cand[i]);
    fprintf(stderr, "; --socket or $GORT_SOCKET name another): " HINT "\n");
    return EX_UNAVAILABLE;
}

static void conn_lost(const char *when)
{
    fprintf(stderr, "gortctl: the connection to gortd at %s closed %s: " HINT "\n", ctl.path,
            when);
}

/* Read one line into a malloc'd, NUL-terminated string.  Returns 0,
 * CTL_TIMEOUT, CTL_INTERRUPTED, or 1 when the connection is closed or
 * broken (errno says why; 0 for an orderly close). */
static int read_line(int timeout_ms, char **out)
{
    int64_t deadline = 0;
    if (timeout_ms >= 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + timeout_ms;
    }
    size_t scanned = 0;
    for (;;) {
        char *nl = ctl.len > scanned ? memchr(ctl.buf + scanned, '\n', ctl.len - scanned) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - ctl.buf);
            char *line = malloc(n + 1);
            if (!line) {
                errno = ENOMEM;
                return 1;
            }
            memcpy(line, ctl.buf, n);
            line[n] = '\0';
            if (n && line[n - 1] == '\r')
                line[n - 1] = '\0';
            memmove(ctl.buf, nl + 1, ctl.len - n - 1);
            ctl.len -= n + 1;
            *out = line;
            return 0;
        }
        scanned = ctl.len;
        if (ctl.len > MAX_ANSWER) {
            errno = EMSGSIZE;
            return 1;
        }
        if (ctl_interrupted)
            return CTL_INTERRUPTED;
        int wait = -1;
        if (timeout_ms >= 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t left = deadline - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
            if (left <= 0)
                return CTL_TIMEOUT;
            wait = (int)left;
        }
        struct pollfd pfd = {.fd = ctl.fd, .events = POLLIN};
        int r = ctl_poll(&pfd, 1, wait);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (r == 0)
            continue;
        if (ctl.cap - ctl.len < 65536) {
            size_t cap = ctl.cap ? ctl.cap * 2 : 131072;
            char *b = realloc(ctl.buf, cap);
            if (!b) {
                errno = ENOMEM;
                return 1;
            }
            ctl.buf = b;
            ctl.cap = cap;
        }
        ssize_t k = read(ctl.fd, ctl.buf + ctl.len, ctl.cap - ctl.len);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = 0;
            return 1;
        }
        ctl.len += (size_t)k;
    }
}

static int greeting(void)
{
    char *line;
    int r = read_line(GREETING_MS, &line);
    if (r == CTL_TIMEOUT) {
        fprintf(stderr, "gortctl: %s accepted the connection but sent no greeting within %d s: is "
                        "it gortd's socket?\n",
                ctl.path, GREETING_MS / 1000);
        return EX_UNAVAILABLE;
    }
    if (r == CTL_INTERRUPTED)
        return 130;
    if (r) {
        conn_lost("before its greeting");
        return EX_UNAVAILABLE;
    }
    json_t *g = json_loads(line, 0, NULL);
    json_t *err = g ? json_object_get(g, "error") : NULL;
    if (err) {
        /* Refused at the door: too many clients, or stopping. */
        fprintf(stderr, "gortctl: gortd at %s refused the connection: %s (%s)\n", ctl.path,
                jstr(err, "message", "?"), jstr(err, "code", "?"));
        free(line);
        return EX_UNAVAILABLE;
    }
    if (!g || strcmp(jstr(g, "hello", ""), "gortd") != 0) {
        fprintf(stderr, "gortctl: %s is not gortd's socket: it greeted with \"%.100s\"\n",
                ctl.path, line);
        free(line);
        return EX_UNAVAILABLE;
    }
    free(line);
    if (jint(g, "protocol", -1) != PROTO_VERSION) {
        fprintf(stderr, "gortctl: gortd %s at %s speaks protocol %lld; this gortctl speaks %d\n",
                jstr(g, "version", "?"), ctl.path, (long long)jint(g, "protocol", -1),
                PROTO_VERSION);
        return EX_UNAVAILABLE;
    }
    ctl.greeting = g;
    return 0;
}

int ctl_connect(void)
{
    int rc = find_socket();
    if (rc)
        return rc;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(ctl.path) >= sizeof sa.sun_path) {
        fprintf(stderr, "gortctl: socket path too long (at most %zu bytes): %s\n",
                sizeof sa.sun_path - 1, ctl.path);
        return EX_USAGE;
    }
    memcpy(sa.sun_path, ctl.path, strlen(ctl.path) + 1);
    ctl.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ctl.fd < 0) {
        fprintf(stderr, "gortctl: socket: %s\n", strerror(errno));
        return EX_OSERR;
    }
    if (connect(ctl.fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(ctl.fd);
        ctl.fd = -1;
        if (e == EACCES || e == EPERM)
            return permission_denied(ctl.path);
        if (e == ENOENT)
            fprintf(stderr, "gortctl: no gortd socket at %s: " HINT "\n", ctl.path);
        else if (e == ECONNREFUSED)
            fprintf(stderr, "gortctl: nothing listens on %s (a stopped or crashed gortd left it): "
                            HINT "\n",
                    ctl.path);
        else
            fprintf(stderr, "gortctl: cannot connect to %s: %s: " HINT "\n", ctl.path,
                    strerror(e));
        return EX_UNAVAILABLE;
    }
    return greeting();
}

static int send_request(const char *cmd, json_t *args, int64_t *id)
{
    *id = ++ctl.next_id;
    json_t *req = json_pack("{s:I, s:s}", "id", (json_int_t)*id, "cmd", cmd);
    if (req && args)
        json_object_set_new(req, "args", args);
    else
        json_decref(args);
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!text) {
        fprintf(stderr, "gortctl: %s: out of memory\n", cmd);
        return EX_OSERR;
    }
    size_t n = strlen(text);
    text[n] = '\n';   /* json_dumps' NUL becomes the line's end */
    size_t off = 0;
    while (off <= n) {
        ssize_t k = send(ctl.fd, text + off, n + 1 - off, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            free(text);
            conn_lost("while a request was sent");
            return EX_UNAVAILABLE;
        }
        off += (size_t)k;
    }
    free(text);
    return 0;
}

/* The next message: 0 with *msg, or CTL_TIMEOUT / CTL_INTERRUPTED / an
 * exit code (the loss reported). */
static int next_message(int timeout_ms, const char *when, json_t **msg)
{
    for (;;) {
        char *line;
        int r = read_line(timeout_ms, &line);
        if (r == CTL_TIMEOUT || r == CTL_INTERRUPTED)
            return r;
        if (r) {
            if (errno == EMSGSIZE)
                fprintf(stderr, "gortctl: gortd at %s sent a line over %zu MiB\n", ctl.path,
                        MAX_ANSWER >> 20);
            else
                conn_lost(when);
            return EX_UNAVAILABLE;
        }
        json_error_t je;
        json_t *m = json_loads(line, 0, &je);
        if (!m || !json_is_object(m)) {
            fprintf(stderr, "gortctl: gortd sent a line that is not a JSON object (%s): %.100s\n",
                    m ? "not an object" : je.text, line);
            free(line);
            json_decref(m);
            return EX_PROTOCOL;
        }
        free(line);
        *msg = m;
        return 0;
    }
}

int ctl_call(const char *cmd, json_t *args, json_t **result)
{
    int64_t id;
    int rc = send_request(cmd, args, &id);
    if (rc)
        return rc;
    char when[128];
    snprintf(when, sizeof when, "before it answered \"%s\"", cmd);
    for (;;) {
        json_t *m;
        rc = next_message(-1, when, &m);
        if (rc == CTL_INTERRUPTED)
            return 130;
        if (rc)
            return rc;
        if (json_object_get(m, "event")) {
            if (!ctl.events)
                ctl.events = json_array();
            json_array_append_new(ctl.events, m);
            continue;
        }
        json_t *mid = json_object_get(m, "id");
        if (!json_is_integer(mid) || json_integer_value(mid) != id) {
            /* An error for no request (idle timeout, shutting down). */
            json_t *err = json_object_get(m, "error");
            if (json_is_null(mid) && err) {
                fprintf(stderr, "gortctl: gortd closed the connection: %s (%s)\n",
                        jstr(err, "message", "?"), jstr(err, "code", "?"));
                json_decref(m);
                return EX_UNAVAILABLE;
            }
            json_decref(m);
            continue;
        }
        if (json_is_true(json_object_get(m, "ok"))) {
            *result = json_incref(json_object_get(m, "result"));
            if (!*result)
                *result = json_object();
            json_decref(m);
            return 0;
        }
        json_t *err = json_object_get(m, "error");
        const char *code = jstr(err, "code", "EIO");
        fprintf(stderr, "gortctl: %s: %s (%s)\n", ctl.cmd ? ctl.cmd : cmd, jstr(err, "message", "failed"),
                code);
        rc = strcmp(code, "EPERM") == 0 ? EX_NOPERM : EXIT_DAEMON;
        json_decref(m);
        return rc;
    }
}

int ctl_subscribe(const char *stream, int64_t *id)
{
    json_t *res;
    int rc = ctl_call("subscribe", json_pack("{s:s}", "stream", stream), &res);
    if (rc)
        return rc;
    json_decref(res);
    *id = ctl.next_id;
    return 0;
}

int ctl_next_event(json_t **ev, int timeout_ms)
{
    if (ctl.events && json_array_size(ctl.events) > 0) {
        *ev = json_incref(json_array_get(ctl.events, 0));
        json_array_remove(ctl.events, 0);
        return 0;
    }
    for (;;) {
        json_t *m;
        int rc = next_message(timeout_ms, "while following", &m);
        if (rc)
            return rc;
        if (json_object_get(m, "event")) {
            *ev = m;
            return 0;
        }
        json_t *err = json_object_get(m, "error");
        if (json_is_null(json_object_get(m, "id")) && err) {
            fprintf(stderr, "gortctl: gortd closed the connection: %s (%s)\n",
                    jstr(err, "message", "?"), jstr(err, "code", "?"));
            json_decref(m);
            return EX_UNAVAILABLE;
        }
        json_decref(m);
    }
}
