/*
 * gortdutil.h - what the gortd and gortctl suites (test_gortd*,
 * test_gortctl*) share: a fixture that starts real gortd processes in a
 * fresh directory under /tmp, raw clients that talk to them over the Unix
 * socket one JSON line at a time, the way any client does, and a runner
 * for the gortctl binary.  Header only, like
 * testutil.h; the suites do not use the gort runtime: each is a plain
 * cmocka group.
 *
 * What lives here:
 *
 *   - gortd_suite_init(): main's preamble.  gortd is
 *     $GORT_TEST_BUILD_DIR/gortd (default build/); when that directory
 *     names a sanitizer build (asan, tsan), g_sanitizer says which and
 *     every wait and latency bound is three times longer (scaled()).  The
 *     daemon's tuning variables (GOGC, ...) are cleared, and
 *     GORTD_TEST_FILTER=pattern (cmocka's, '*' and '?') runs some tests only.
 *   - The fixture (fx, setup, teardown, TEST): a directory, the daemons
 *     started in it and the connections to them.  The teardown stops every
 *     daemon still running (SIGTERM, then SIGKILL), fails when one did not
 *     exit 0 on SIGTERM (that is how a sanitizer report at exit shows up),
 *     and prints the daemons' stderr when the test failed.  The daemons
 *     also die with the suite (PR_SET_PDEATHSIG), so a crashed or killed
 *     run leaves none behind.
 *   - Daemons: start_gortd() (on the fixture's socket and state directory,
 *     waiting for the greeting), run_gortd() (until it exits by itself),
 *     reap(), stop_daemon(), exit_status(), rss_of(), wait_log().
 *   - Connections: conn_open(), connect_as() (as another uid, root only),
 *     subscribe_events(), rpc() and call()/call_err() for one
 *     request, read_msg()/read_event() for what arrives, expect_closed();
 *     an event that arrives while an answer is awaited is kept for
 *     read_event.
 *   - gortctl: gortctl_start() runs the built client (beside gortd) with
 *     chosen arguments, directory, environment and user, its stdout and
 *     stderr in files of the fixture; gortctl_wait() collects its exit
 *     code and output; ctl_run() does both against a daemon's socket.
 *     The teardown kills any still running.
 *   - JSON: get_int() and friends fail the test, naming the field, when it
 *     is missing or of another type.  Every value and string a helper
 *     returns is kept until the teardown (keep, kept_printf), so tests
 *     never free anything.
 *
 * Failing is cmocka's longjmp out of the test body: helpers may fail from
 * anywhere on the test's thread.
 */
#ifndef GORT_TESTS_GORTDUTIL_H
#define GORT_TESTS_GORTDUTIL_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before including any header"
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000             /* the longest wait for anything, before scaling */
#define MAX_DAEMONS 4
#define MAX_CTL_PROCS 128         /* gortctl runs per test */

static int g_scale = 1;           /* 3 under the sanitizers */
static const char *g_sanitizer;   /* "asan", "tsan" or NULL */
static char g_build[PATH_MAX];    /* $GORT_TEST_BUILD_DIR, default "build" */
static char g_gortd[PATH_MAX];
static char g_gortctl[PATH_MAX];  /* beside gortd */

static inline int scaled(int ms)
{
    return ms * g_scale;
}

/* ---------------------------------------------------------------------
 * The fixture
 * ------------------------------------------------------------------- */

struct conn {
    struct conn *next;
    int fd;                       /* -1 once closed */
    char *buf;                    /* bytes received: [off, len) not yet consumed */
    size_t off, len, cap;
    int64_t next_id;
    int64_t opened_ms;
    json_t *greeting;
    json_t *events;               /* event lines that arrived while waiting for an answer */
};

struct daemon {
    pid_t pid;
    bool reaped;
    int status;                   /* the wait status once reaped */
    char log[128];                /* its stderr */
    char out[128];                /* its stdout */
    char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
    long rss0;                    /* VmRSS once it answered */
    struct conn *ctl;             /* the connection that saw it ready */
};

/* A gortctl process: started by gortctl_start, its stdout and stderr in
 * files of the fixture's directory. */
struct ctl_proc {
    pid_t pid;
    bool reaped;
    char out[128], err[128];
};

static struct {
    char dir[64];
    char sock[108];               /* DIR/gortd.sock: where start_gortd puts the socket */
    char state[128];
    struct daemon d[MAX_DAEMONS];
    int nd;
    struct conn *conns;
    struct ctl_proc procs[MAX_CTL_PROCS];
    int nprocs;
    json_t *keep;                 /* every JSON value a helper returns: freed at teardown */
    bool passed;
} fx;

/* A test's body runs inside a wrapper that marks the fixture passed when
 * the body returns.  A failed assertion jumps out of the body, so the
 * teardown knows to print the daemons' logs. */
#define TEST(name)                                                                                    \
    static void name##_body(void);                                                                    \
    static void name(void **state)                                                                    \
    {                                                                                                 \
        (void)state;                                                                                  \
        name##_body();                                                                                \
        fx.passed = true;                                                                             \
    }                                                                                                 \
    static void name##_body(void)

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static inline json_t *keep(json_t *j)
{
    if (j)
        json_array_append_new(fx.keep, j);
    return j;
}

/* A string that lives until the teardown. */
static inline const char *kept_string(const char *s, size_t n)
{
    return json_string_value(keep(json_stringn_nocheck(s, n)));
}

static inline const char *kept_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline const char *kept_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    const char *k = kept_string(s, (size_t)n);
    free(s);
    return k;
}

/* j as compact JSON for a failure message, cut at 600 bytes. */
static inline const char *show(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return "(null)";
    size_t n = strlen(s);
    const char *k = n > 600 ? kept_printf("%.590s ...", s) : kept_string(s, n);
    free(s);
    return k;
}

static inline const char *dir_path(const char *name)
{
    return kept_printf("%s/%s", fx.dir, name);
}

/* The whole file ("" when it cannot be read), kept. */
static inline const char *read_text(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return "";
    char *s = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&s, &n);
    char buf[65536];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, r, m);
    fclose(f);
    fclose(m);
    const char *k = kept_string(s, n);
    free(s);
    return k;
}

static inline const char *write_file(const char *name, const char *text)
{
    const char *path = dir_path(name);
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* print_message cuts what it prints at 1 KiB (cmocka's buffer): long
 * texts go to stdout directly, in order with cmocka's own lines. */
static inline void print_text(const char *s)
{
    fflush(stdout);
    fputs(s, stdout);
    fflush(stdout);
}

static inline void print_logs(void)
{
    for (int i = 0; i < fx.nd; i++) {
        const char *text = read_text(fx.d[i].log);
        size_t n = strlen(text);
        const char *cut = n > 16384 ? text + n - 16384 : text;
        print_message("---- gortd #%d (pid %d) stderr%s ----\n", i, (int)fx.d[i].pid,
                      cut != text ? ", the last 16 KiB" : "");
        print_text(cut);
        if (n && text[n - 1] != '\n')
            print_message("\n");
        const char *out = read_text(fx.d[i].out);
        if (*out) {
            print_message("---- gortd #%d stdout ----\n", i);
            print_text(out);
            print_message("\n");
        }
    }
}

static inline int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    snprintf(fx.dir, sizeof fx.dir, "/tmp/gortd-test.XXXXXX");
    if (!mkdtemp(fx.dir))
        return -1;
    snprintf(fx.sock, sizeof fx.sock, "%s/gortd.sock", fx.dir);
    snprintf(fx.state, sizeof fx.state, "%s/state", fx.dir);
    fx.keep = json_array();
    return fx.keep ? 0 : -1;
}

static inline bool reap(struct daemon *d, int ms);
static inline bool stop_daemon(struct daemon *d);
static inline const char *status_text(int st);

static inline int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static inline int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < fx.nprocs; i++) {
        if (fx.procs[i].pid > 0 && !fx.procs[i].reaped) {
            kill(fx.procs[i].pid, SIGKILL);
            waitpid(fx.procs[i].pid, NULL, 0);
        }
    }
    for (struct conn *c = fx.conns, *next; c; c = next) {
        next = c->next;
        if (c->fd >= 0)
            close(c->fd);
        free(c->buf);
        free(c);
    }
    bool clean = true;
    for (int i = 0; i < fx.nd; i++) {
        struct daemon *d = &fx.d[i];
        if (d->pid <= 0 || d->reaped)
            continue;
        if (!stop_daemon(d)) {
            print_message("gortd #%d (pid %d) did not exit 0 on SIGTERM: %s\n", i, (int)d->pid,
                          status_text(d->status));
            clean = false;
        }
    }
    if (!fx.passed || !clean)
        print_logs();
    nftw(fx.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    json_decref(fx.keep);
    fx.keep = NULL;
    return clean ? 0 : -1;
}

/* ---------------------------------------------------------------------
 * Daemons
 * ------------------------------------------------------------------- */

static inline const char *status_text(int st)
{
    if (WIFEXITED(st))
        return kept_printf("exit status %d", WEXITSTATUS(st));
    if (WIFSIGNALED(st))
        return kept_printf("killed by signal %d", WTERMSIG(st));
    return kept_printf("wait status %#x", st);
}

/* In a child the suite forked: die with the suite whatever happens to
 * it, run in cwd (NULL: stay), stdin from /dev/null, stdout and stderr
 * into the files out and err.  Exits 127 when any of it fails. */
static inline void child_stdio(pid_t parent, const char *cwd, const char *out, const char *err)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int i = open("/dev/null", O_RDONLY);
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (i < 0 || o < 0 || e < 0 || (cwd && chdir(cwd) != 0))
        _exit(127);
    dup2(i, 0);
    dup2(o, 1);
    dup2(e, 2);
}

/* Fork and exec gortd with args (NULL-terminated); env ("NAME=value", or
 * several such separated by newlines) is added to its environment when not
 * NULL.  stdout and stderr go to files
 * in the fixture's directory. */
static inline struct daemon *spawn(const char *const *args, const char *env)
{
    assert_true(fx.nd < MAX_DAEMONS);
    struct daemon *d = &fx.d[fx.nd];
    memset(d, 0, sizeof *d);
    char dir[sizeof fx.dir];
    memcpy(dir, fx.dir, sizeof dir);
    snprintf(d->log, sizeof d->log, "%s/gortd%d.stderr", dir, fx.nd);
    snprintf(d->out, sizeof d->out, "%s/gortd%d.stdout", dir, fx.nd);
    fx.nd++;
    const char *argv[40];
    int n = 0;
    argv[n++] = g_gortd;
    for (; *args; args++) {
        assert_true(n < 39);
        argv[n++] = *args;
    }
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        child_stdio(parent, NULL, d->out, d->log);
        for (char *e = env ? strdup(env) : NULL, *next; e && *e; e = next) {
            next = strchrnul(e, '\n');
            if (*next)
                *next++ = '\0';
            putenv(e);
        }
        execv(g_gortd, (char **)argv);
        dprintf(2, "exec %s: %s\n", g_gortd, strerror(errno));
        _exit(127);
    }
    d->pid = pid;
    return d;
}

/* Wait up to ms for d to exit; true once it has. */
static inline bool reap(struct daemon *d, int ms)
{
    int64_t end = now_ms() + ms;
    while (!d->reaped) {
        int st;
        pid_t r = waitpid(d->pid, &st, WNOHANG);
        if (r == d->pid) {
            d->reaped = true;
            d->status = st;
        } else if (r < 0 && errno != EINTR) {
            fail_msg("waitpid %d: %s", (int)d->pid, strerror(errno));
        } else if (now_ms() >= end) {
            return false;
        } else {
            sleep_ms(2);
        }
    }
    return true;
}

/* SIGTERM, then SIGKILL when it does not stop in time.  True when it
 * exited 0 by itself. */
static inline bool stop_daemon(struct daemon *d)
{
    kill(d->pid, SIGTERM);
    if (!reap(d, scaled(WAIT_MS))) {
        kill(d->pid, SIGKILL);
        if (!reap(d, scaled(WAIT_MS)))
            return false;
    }
    return WIFEXITED(d->status) && WEXITSTATUS(d->status) == 0;
}

/* Wait for d to exit by itself and return its exit status. */
static inline int exit_status(struct daemon *d)
{
    if (!reap(d, scaled(WAIT_MS))) {
        kill(d->pid, SIGKILL);
        reap(d, scaled(WAIT_MS));
        fail_msg("gortd did not exit within %d ms", scaled(WAIT_MS));
    }
    if (!WIFEXITED(d->status))
        fail_msg("gortd ended with %s", status_text(d->status));
    return WEXITSTATUS(d->status);
}

static inline long rss_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    assert_non_null(f);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    assert_true(kb >= 0);
    return kb * 1024;
}

/* The daemon's stderr gets a line containing text within ms. */
static inline void wait_log(struct daemon *d, const char *text, int ms)
{
    int64_t end = now_ms() + ms;
    while (!strstr(read_text(d->log), text)) {
        if (now_ms() > end)
            fail_msg("gortd's stderr has no \"%s\" after %d ms", text, ms);
        sleep_ms(10);
    }
}

/* ---------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------- */

/* A non-blocking connection to path, retried while the listen backlog is
 * full; the fd, or -errno. */
static inline int connect_to(const char *path, int ms)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int64_t end = now_ms() + ms;
    while (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int err = errno;
        if ((err == EAGAIN || err == EINTR) && now_ms() < end) {
            sleep_ms(1);
            continue;
        }
        close(fd);
        return -err;
    }
    return fd;
}

static inline struct conn *conn_new(int fd)
{
    struct conn *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->fd = fd;
    c->opened_ms = now_ms();
    c->events = keep(json_array());
    c->next = fx.conns;
    fx.conns = c;
    return c;
}

static inline void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Make sure buf holds a whole line.  1: it does (*n is its length without
 * the '\n'); 0: the daemon closed the connection; -1: ms passed. */
static inline int fill_line(struct conn *c, int ms, size_t *n)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        char *nl = c->len > c->off ? memchr(c->buf + c->off, '\n', c->len - c->off) : NULL;
        if (nl) {
            *n = (size_t)(nl - (c->buf + c->off));
            return 1;
        }
        if (c->fd < 0)
            return 0;
        int64_t left = end - now_ms();
        struct pollfd p = {c->fd, POLLIN, 0};
        int r = poll(&p, 1, left > 0 ? (int)left : 0);
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r >= 0);
        if (r == 0)
            return -1;
        if (c->off > 0 && c->off == c->len)
            c->off = c->len = 0;
        if (c->off > c->cap / 2) {
            memmove(c->buf, c->buf + c->off, c->len - c->off);
            c->len -= c->off;
            c->off = 0;
        }
        if (c->cap - c->len < 65536) {
            c->cap = c->cap ? c->cap * 2 : 262144;
            c->buf = realloc(c->buf, c->cap);
            assert_non_null(c->buf);
        }
        ssize_t got = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (got > 0)
            c->len += (size_t)got;
        else if (got == 0)
            return 0;
        else if (errno != EAGAIN && errno != EINTR)
            /* ECONNRESET: the daemon closed the connection with bytes of
             * ours still unread; what it sent before was delivered. */
            return 0;
    }
}

/* The next line as a JSON object; NULL when the connection closed
 * (*closed true) or ms passed (*closed false). */
static inline json_t *next_line(struct conn *c, int ms, bool *closed)
{
    size_t n;
    int r = fill_line(c, ms, &n);
    *closed = r == 0;
    if (r <= 0)
        return NULL;
    const char *line = c->buf + c->off;
    json_error_t err;
    json_t *j = keep(json_loadb(line, n, 0, &err));
    if (!json_is_object(j))
        fail_msg("gortd sent a line that is not a JSON object (%s): %.*s", j ? "not an object" : err.text,
                 (int)(n < 300 ? n : 300), line);
    c->off += n + 1;
    return j;
}

static inline json_t *read_msg(struct conn *c, int ms)
{
    bool closed;
    json_t *j = next_line(c, ms, &closed);
    if (!j && closed)
        fail_msg("gortd closed the connection instead of sending a line");
    if (!j)
        fail_msg("gortd sent no line within %d ms", ms);
    return j;
}

/* The next event line: one kept while waiting for an answer, else the
 * next line, which must be an event. */
static inline json_t *read_event(struct conn *c, int ms)
{
    if (json_array_size(c->events) > 0) {
        json_t *e = json_incref(json_array_get(c->events, 0));
        json_array_remove(c->events, 0);
        return keep(e);
    }
    json_t *m = read_msg(c, ms);
    if (!json_object_get(m, "event"))
        fail_msg("an event was expected, got %s", show(m));
    return m;
}

/* The daemon closes the connection within ms, sending nothing more. */
static inline void expect_closed(struct conn *c, int ms)
{
    bool closed;
    json_t *j = next_line(c, ms, &closed);
    if (j)
        fail_msg("the connection should be closed; gortd sent %s", show(j));
    if (!closed)
        fail_msg("gortd did not close the connection within %d ms", ms);
}

static inline void send_all(struct conn *c, const char *p, size_t n)
{
    int64_t end = now_ms() + scaled(WAIT_MS);
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            fail_msg("send: %s", strerror(errno));
        int64_t left = end - now_ms();
        if (left <= 0)
            fail_msg("gortd did not read %zu more bytes within %d ms", n, scaled(WAIT_MS));
        struct pollfd pf = {c->fd, POLLOUT, 0};
        poll(&pf, 1, (int)left);
    }
}

static inline void send_line(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void send_line(struct conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    const char *line = kept_printf("%s\n", s);
    free(s);
    send_all(c, line, (size_t)n + 1);
}

static inline json_t *get(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!v)
        fail_msg("no \"%s\" in %s", k, show(o));
    return v;
}

static inline json_int_t get_int(json_t *o, const char *k)
{
    json_t *v = get(o, k);
    if (!json_is_integer(v))
        fail_msg("\"%s\" is not an integer in %s", k, show(o));
    return json_integer_value(v);
}

static inline const char *get_str(json_t *o, const char *k)
{
    json_t *v = get(o, k);
    if (!json_is_string(v))
        fail_msg("\"%s\" is not a string in %s", k, show(o));
    return json_string_value(v);
}

static inline bool get_bool(json_t *o, const char *k)
{
    json_t *v = get(o, k);
    if (!json_is_boolean(v))
        fail_msg("\"%s\" is not a boolean in %s", k, show(o));
    return json_is_true(v);
}

static inline json_t *get_obj(json_t *o, const char *k)
{
    json_t *v = get(o, k);
    if (!json_is_object(v))
        fail_msg("\"%s\" is not an object in %s", k, show(o));
    return v;
}

static inline json_t *get_array(json_t *o, const char *k)
{
    json_t *v = get(o, k);
    if (!json_is_array(v))
        fail_msg("\"%s\" is not an array in %s", k, show(o));
    return v;
}

/* Connect to d and read the greeting. */
static inline struct conn *conn_open(struct daemon *d)
{
    int fd = connect_to(d->sock, scaled(WAIT_MS));
    if (fd < 0)
        fail_msg("connect %s: %s", d->sock, strerror(-fd));
    struct conn *c = conn_new(fd);
    c->greeting = read_msg(c, scaled(WAIT_MS));
    if (!json_object_get(c->greeting, "hello"))
        fail_msg("a greeting was expected, got %s", show(c->greeting));
    return c;
}

/* The answer to request id (-1: an answer with a null id).  Event lines
 * before it are kept for read_event; any other line fails. */
static inline json_t *answer(struct conn *c, int64_t id)
{
    for (;;) {
        json_t *m = read_msg(c, scaled(WAIT_MS));
        if (json_object_get(m, "event")) {
            json_array_append(c->events, m);
            continue;
        }
        json_t *jid = json_object_get(m, "id");
        bool match = id < 0 ? json_is_null(jid) : json_is_integer(jid) && json_integer_value(jid) == id;
        if (!match)
            fail_msg("the answer to request %lld was expected, got %s", (long long)id, show(m));
        return m;
    }
}

/* Send a request (args: a JSON object's text, or NULL for none) and
 * return the whole answer. */
static inline json_t *rpc(struct conn *c, const char *cmd, const char *args)
{
    int64_t id = ++c->next_id;
    if (args)
        send_line(c, "{\"id\":%lld,\"cmd\":\"%s\",\"args\":%s}", (long long)id, cmd, args);
    else
        send_line(c, "{\"id\":%lld,\"cmd\":\"%s\"}", (long long)id, cmd);
    return answer(c, id);
}

/* m must be a success: its result.  (jansson's json_is_* are macros that
 * evaluate their argument twice: never give them a call that reads.) */
static inline json_t *expect_ok(json_t *m)
{
    json_t *ok = json_object_get(m, "ok");
    if (!json_is_true(ok))
        fail_msg("a success was expected, got %s", show(m));
    return get_obj(m, "result");
}

/* The request must succeed: its result. */
static inline json_t *call(struct conn *c, const char *cmd, const char *args)
{
    json_t *m = rpc(c, cmd, args);
    json_t *ok = json_object_get(m, "ok");
    if (!json_is_true(ok))
        fail_msg("%s %s failed: %s", cmd, args ? args : "", show(m));
    return get_obj(m, "result");
}

/* m must be an error with code: its message. */
static inline const char *check_error(json_t *m, const char *code)
{
    json_t *ok = json_object_get(m, "ok");
    if (!json_is_false(ok))
        fail_msg("a %s error was expected, got %s", code, show(m));
    json_t *e = get_obj(m, "error");
    if (strcmp(get_str(e, "code"), code) != 0)
        fail_msg("a %s error was expected, got %s", code, show(m));
    const char *msg = get_str(e, "message");
    assert_true(*msg);
    return msg;
}

/* The request must fail with code: the error's message. */
static inline const char *call_err(struct conn *c, const char *cmd, const char *args, const char *code)
{
    return check_error(rpc(c, cmd, args), code);
}

static inline void expect_contains(const char *s, const char *part)
{
    if (!strstr(s, part))
        fail_msg("\"%s\" should mention \"%s\"", s, part);
}

/* Start gortd on the fixture's socket and state directory with no config
 * file, plus the flags in extra (NULL-terminated), and wait for its
 * greeting; env as for spawn.  d->ctl is the connection that read it. */
static inline struct daemon *start_gortd_env(const char *env, const char *const *extra)
{
    const char *args[40] = {"--socket", fx.sock, "--state-dir", fx.state, "--config", "/dev/null"};
    int n = 6;
    for (; *extra; extra++) {
        assert_true(n < 39);
        args[n++] = *extra;
    }
    args[n] = NULL;
    struct daemon *d = spawn(args, env);
    /* The last --socket wins, as in getopt. */
    snprintf(d->sock, sizeof d->sock, "%s", fx.sock);
    for (int i = 0; i + 1 < n; i++)
        if (strcmp(args[i], "--socket") == 0)
            snprintf(d->sock, sizeof d->sock, "%s", args[i + 1]);
    int64_t end = now_ms() + scaled(WAIT_MS);
    int fd;
    while ((fd = connect_to(d->sock, 0)) < 0) {
        if (reap(d, 0))
            fail_msg("gortd exited (%s) before it answered on %s", status_text(d->status), d->sock);
        if (now_ms() > end)
            fail_msg("gortd did not listen on %s within %d ms", d->sock, scaled(WAIT_MS));
        sleep_ms(5);
    }
    d->ctl = conn_new(fd);
    json_t *g = read_msg(d->ctl, (int)(end - now_ms() > 0 ? end - now_ms() : 0));
    if (!json_object_get(g, "hello"))
        fail_msg("a greeting was expected, got %s", show(g));
    d->ctl->greeting = g;
    d->rss0 = rss_of(d->pid);
    return d;
}

/* Copy the NULL-terminated arguments first, ap... into args (room for
 * max, the NULL included). */
static inline void arg_list(const char **args, int max, const char *first, va_list ap)
{
    int n = 0;
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        assert_true(n < max - 1);
        args[n++] = a;
    }
    args[n] = NULL;
}

/* start_gortd_env with extra flags as arguments (NULL-terminated). */
static inline struct daemon *start_gortd(const char *first, ...)
{
    const char *args[32];
    va_list ap;
    va_start(ap, first);
    arg_list(args, 32, first, ap);
    va_end(ap);
    return start_gortd_env(NULL, args);
}

/* Run gortd with exactly these flags (NULL-terminated) until it exits by
 * itself; env as for spawn. */
static inline struct daemon *run_gortd(const char *env, const char *first, ...)
{
    const char *args[32];
    va_list ap;
    va_start(ap, first);
    arg_list(args, 32, first, ap);
    va_end(ap);
    struct daemon *d = spawn(args, env);
    exit_status(d);
    return d;
}

/* Poll stats until the daemon counts n clients (closing is asynchronous). */
static inline void wait_clients(struct conn *c, int n)
{
    int64_t end = now_ms() + scaled(WAIT_MS);
    json_int_t have;
    while ((have = get_int(call(c, "stats", NULL), "clients")) != n) {
        if (now_ms() > end)
            fail_msg("gortd counts %lld clients, %d expected", (long long)have, n);
        sleep_ms(5);
    }
}

/* ---------------------------------------------------------------------
 * gortctl
 * ------------------------------------------------------------------- */

/* What a finished gortctl gave: its exit code (128 + N when signal N
 * killed it) and everything it printed. */
struct ctl_out {
    int code;
    const char *out, *err;
};

/* Start gortctl with exactly args (NULL-terminated: no --socket is
 * added), in directory cwd (NULL: the suite's), with env applied to its
 * environment: "NAME=value" sets, a bare "NAME" unsets (NULL: nothing),
 * as user and group uid (root only; -1: the suite's, no change).  stdin
 * is /dev/null. */
static inline struct ctl_proc *gortctl_start(const char *cwd, const char *const *env, int uid,
                                             const char *const *args)
{
    assert_true(fx.nprocs < MAX_CTL_PROCS);
    struct ctl_proc *p = &fx.procs[fx.nprocs];
    char dir[sizeof fx.dir];
    memcpy(dir, fx.dir, sizeof dir);
    snprintf(p->out, sizeof p->out, "%s/gortctl%d.stdout", dir, fx.nprocs);
    snprintf(p->err, sizeof p->err, "%s/gortctl%d.stderr", dir, fx.nprocs);
    fx.nprocs++;
    const char *argv[72];
    int n = 0;
    argv[n++] = g_gortctl;
    for (; *args; args++) {
        assert_true(n < 71);
        argv[n++] = *args;
    }
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        child_stdio(parent, cwd, p->out, p->err);
        if (uid >= 0 && (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0))
            _exit(127);
        for (; env && *env; env++) {
            if (strchr(*env, '='))
                putenv((char *)*env);
            else
                unsetenv(*env);
        }
        signal(SIGPIPE, SIG_DFL);
        execv(g_gortctl, (char **)argv);
        dprintf(2, "exec %s: %s\n", g_gortctl, strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    return p;
}

/* Wait up to ms for p to exit (then fail the test, having killed it). */
static inline struct ctl_out gortctl_wait(struct ctl_proc *p, int ms)
{
    int64_t end = now_ms() + ms;
    int st;
    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->reaped = true;
            break;
        }
        if (r < 0 && errno != EINTR)
            fail_msg("waitpid gortctl %d: %s", (int)p->pid, strerror(errno));
        if (now_ms() > end) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            p->reaped = true;
            fail_msg("gortctl did not exit within %d ms; stdout: %s stderr: %s", ms,
                     read_text(p->out), read_text(p->err));
        }
        sleep_ms(2);
    }
    struct ctl_out o = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), read_text(p->out),
                        read_text(p->err)};
    return o;
}

/* Run gortctl --socket <d's socket> args... (NULL-terminated) to the
 * end. */
static inline struct ctl_out ctl_run(struct daemon *d, const char *first, ...)
{
    const char *args[64] = {"--socket", d->sock};
    va_list ap;
    va_start(ap, first);
    arg_list(args + 2, 62, first, ap);
    va_end(ap);
    return gortctl_wait(gortctl_start(NULL, NULL, -1, args), scaled(WAIT_MS));
}

/* Fail unless o exited with code, showing what it printed. */
static inline void expect_code(struct ctl_out o, int code)
{
    if (o.code != code)
        fail_msg("gortctl exited %d, %d expected; stdout:\n%s\nstderr:\n%s", o.code, code, o.out,
                 o.err);
}

/* Whether anything (a file, a socket, a dangling link) is at path. */
static inline bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}
/* Connect to path as uid and gid `id` (root only): a forked child drops
 * to it (no supplementary groups), connects and hands the socket back
 * over SCM_RIGHTS, so the daemon sees the child's credentials.  The fd
 * (non-blocking), or -errno of the child's failure; *peer (if not NULL)
 * is the child's pid, the peer's pid the daemon saw. */
static inline int connect_as(unsigned id, const char *path, pid_t *peer)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        int err = 0, fd = -1;
        if (setgroups(0, NULL) != 0 || setgid(id) != 0 || setuid(id) != 0) {
            err = errno;
        } else {
            struct sockaddr_un sa = {.sun_family = AF_UNIX};
            snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
            fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
                err = errno;
        }
        struct iovec iov = {&err, sizeof err};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } u;
        if (!err) {
            msg.msg_control = u.buf;
            msg.msg_controllen = sizeof u.buf;
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cm), &fd, sizeof fd);
        }
        _exit(sendmsg(sv[1], &msg, 0) == (ssize_t)sizeof err ? 0 : 1);
    }
    close(sv[1]);
    if (peer)
        *peer = pid;
    int err = 0, fd = -1;
    struct pollfd p = {sv[0], POLLIN, 0};
    if (poll(&p, 1, scaled(WAIT_MS)) == 1) {
        struct iovec iov = {&err, sizeof err};
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } u;
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
        if (recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof err)
            err = EIO;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        if (!err && cm && cm->cmsg_type == SCM_RIGHTS)
            memcpy(&fd, CMSG_DATA(cm), sizeof fd);
        else if (!err)
            err = EIO;
    } else {
        err = ETIMEDOUT;
        kill(pid, SIGKILL);
    }
    close(sv[0]);
    waitpid(pid, NULL, 0);
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return err ? -err : fd;
}

/* A connection subscribed to the events stream. */
static inline struct conn *subscribe_events(struct daemon *d)
{
    struct conn *e = conn_open(d);
    call(e, "subscribe", "{\"stream\":\"events\"}");
    return e;
}

/* main's preamble for suite (its name, for messages): find gortd and the
 * build directory, clear the daemon's tuning variables, apply
 * GORTD_TEST_FILTER.  0, or 1 (the exit status) when gortd is missing. */
static inline int gortd_suite_init(const char *suite)
{
    signal(SIGPIPE, SIG_IGN);
    const char *b = getenv("GORT_TEST_BUILD_DIR");
    if (!b || !*b)
        b = "build";
    g_sanitizer = strstr(b, "asan") ? "asan" : strstr(b, "tsan") ? "tsan" : NULL;
    if (g_sanitizer)
        g_scale = 3;
    snprintf(g_build, sizeof g_build, "%s", b);
    snprintf(g_gortd, sizeof g_gortd, "%s/gortd", b);
    /* Absolute: tests run gortctl in other directories. */
    char *abs = realpath(b, NULL);
    snprintf(g_gortctl, sizeof g_gortctl, "%s/gortctl", abs ? abs : b);
    free(abs);
    if (access(g_gortd, X_OK) != 0) {
        fprintf(stderr, "%s: %s: %s (build it first)\n", suite, g_gortd, strerror(errno));
        return 1;
    }
    /* The daemon would read these; the tests expect its defaults. */
    static const char *const env[] = {"GOGC", "GOMAXPROCS", "GOMEMLIMIT", "GODEBUG", "NOTIFY_SOCKET",
                                      "JOURNAL_STREAM", "GORT_SOCKET", "NO_COLOR"};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
        unsetenv(env[i]);

    /* GORTD_TEST_FILTER=pattern (cmocka's, '*' and '?') runs some tests only. */
    const char *filter = getenv("GORTD_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return 0;
}

#endif
