/*
 * gortd.c - how fast gortd answers while the runtime is busy (SPEC §4: the
 * control loop holds no P, so it answers while every P is busy or the
 * world is stopped).
 *
 *     build/bench/gortd WORKLOAD [N]
 *
 * starts build/gortd (beside this program's directory) on a temporary
 * socket with the example plugins of build/plugins, sets the workload up
 * through the protocol, then times N "ping" round trips (default 5000, one
 * every 200 us) on one connection and prints
 *
 *     WORKLOAD p50_us=... p99_us=... max_us=... n=N
 *
 * Workloads:
 *   ping_idle  nothing else runs.
 *   ping_spin  two "spinner spin" tasks keep both Ps busy (GOMAXPROCS=2).
 *   ping_gc    "leaky grow" builds a 1 GiB live heap; then a second
 *              connection runs "gc" back to back while the pings go, and
 *              only pings sent while a collection was under way count.
 * There is no Go twin: the target is absolute (p99 <= 2 ms).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEAP_MB 1024

static const char *workload;
static char dir[] = "/tmp/gortd-bench-XXXXXX";
static char sock[sizeof dir + 16];
static pid_t daemon_pid;

static _Noreturn void fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "gortd bench %s: ", workload);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    if (daemon_pid > 0)
        kill(daemon_pid, SIGKILL);
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A client connection with a line reader. */
struct conn {
    int fd;
    char buf[1 << 16];
    size_t len;
};

static void read_line(struct conn *c, char *out, size_t outsize)
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            snprintf(out, outsize, "%.*s", (int)n, c->buf);
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return;
        }
        if (c->len == sizeof c->buf)
            fail("%s", "answer line too long");
        ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (r <= 0)
            fail("%s", "the daemon closed the connection");
        c->len += (size_t)r;
    }
}

static void dial(struct conn *c)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, sock, sizeof sock);
    c->len = 0;
    for (int tries = 0;; tries++) {
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0)
            break;
        close(c->fd);
        if (tries == 500)
            fail("cannot connect to %s", sock);
        usleep(10000);
    }
    char line[4096];
    read_line(c, line, sizeof line);   /* the greeting */
}

/* Send one request and return its answer line (fails on an error). */
static void call(struct conn *c, const char *req, char *ans, size_t anssize)
{
    size_t n = strlen(req);
    if (write(c->fd, req, n) != (ssize_t)n)
        fail("%s", "write to the daemon failed");
    read_line(c, ans, anssize);
    if (!strstr(ans, "\"ok\":true"))
        fail("request failed: %s", ans);
}

static void start_daemon(const char *builddir)
{
    if (!mkdtemp(dir))
        fail("%s", "mkdtemp failed");
    snprintf(sock, sizeof sock, "%s/gortd.sock", dir);
    char gortd[PATH_MAX + 16], plugins[PATH_MAX + 16];
    snprintf(gortd, sizeof gortd, "%s/gortd", builddir);
    snprintf(plugins, sizeof plugins, "%s/plugins", builddir);
    daemon_pid = fork();
    if (daemon_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        setenv("GOMAXPROCS", "2", 1);
        execl(gortd, "gortd", "--socket", sock, "--state-dir", dir, "--config", "/dev/null", "--plugin-dir",
              plugins, (char *)NULL);
        _exit(127);
    }
}

static void stop_daemon(void)
{
    kill(daemon_pid, SIGTERM);
    int st;
    waitpid(daemon_pid, &st, 0);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "gortd bench: could not remove %s\n", dir);
}

/* ping_gc: collections back to back on their own connection. */
static atomic_bool gc_stop, gc_running;

static void *gc_loop(void *arg)
{
    struct conn *c = arg;
    char ans[4096];
    int id = 1000000;
    while (!atomic_load(&gc_stop)) {
        char req[64];
        snprintf(req, sizeof req, "{\"id\":%d,\"cmd\":\"gc\"}\n", id++);
        atomic_store(&gc_running, true);
        call(c, req, ans, sizeof ans);
        atomic_store(&gc_running, false);
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Wait until the daemon's heap holds at least mb MiB. */
static void wait_heap(struct conn *c, long mb)
{
    char ans[1 << 16];
    for (int64_t deadline = now_ns() + 120 * (int64_t)1000000000;;) {
        call(c, "{\"id\":2,\"cmd\":\"memstats\"}\n", ans, sizeof ans);
        const char *p = strstr(ans, "\"heap_alloc\":");
        if (p && atoll(p + 13) >= (long long)mb << 20)
            return;
        if (now_ns() > deadline)
            fail("%s", "the heap did not reach its size within 120 s");
        usleep(100000);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gortd ping_idle|ping_spin|ping_gc [N]\n");
        return 2;
    }
    workload = argv[1];
    long n = argc == 3 ? atol(argv[2]) : 5000;
    if (n < 100)
        fail("%s", "N must be at least 100");
    bool spin = strcmp(workload, "ping_spin") == 0, gc = strcmp(workload, "ping_gc") == 0;
    if (!spin && !gc && strcmp(workload, "ping_idle") != 0)
        fail("unknown workload %s", workload);

    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        fail("%s", "cannot find this program's path");
    self[len] = '\0';
    *strrchr(self, '/') = '\0';       /* BUILD/bench */
    *strrchr(self, '/') = '\0';       /* BUILD */
    signal(SIGPIPE, SIG_IGN);
    start_daemon(self);

    struct conn c, g;
    char ans[1 << 16];
    dial(&c);
    if (spin) {
        for (int i = 0; i < 2; i++)
            call(&c, "{\"id\":1,\"cmd\":\"task.start\",\"args\":{\"plugin\":\"spinner\",\"task\":\"spin\"}}\n", ans,
                 sizeof ans);
        usleep(200000);
    }
    pthread_t gt;
    if (gc) {
        char req[256];
        snprintf(req, sizeof req,
                 "{\"id\":1,\"cmd\":\"task.start\",\"args\":{\"plugin\":\"leaky\",\"task\":\"grow\","
                 "\"args\":[\"4294967296\",\"%d\"]}}\n",
                 HEAP_MB);
        call(&c, req, ans, sizeof ans);
        wait_heap(&c, HEAP_MB - 8);
        dial(&g);
        pthread_create(&gt, NULL, gc_loop, &g);
    }

    int64_t *rtt = malloc((size_t)n * sizeof *rtt);
    long got = 0;
    for (long i = 0; got < n; i++) {
        char req[64];
        snprintf(req, sizeof req, "{\"id\":%ld,\"cmd\":\"ping\"}\n", i + 10);
        bool during_gc = atomic_load(&gc_running);
        int64_t t0 = now_ns();
        call(&c, req, ans, sizeof ans);
        int64_t t1 = now_ns();
        if (!gc || (during_gc && atomic_load(&gc_running)))
            rtt[got++] = t1 - t0;
        usleep(200);
    }
    if (gc) {
        atomic_store(&gc_stop, true);
        pthread_join(gt, NULL);
    }
    qsort(rtt, (size_t)n, sizeof *rtt, cmp_i64);
    printf("%s p50_us=%.1f p99_us=%.1f max_us=%.1f n=%ld\n", workload, rtt[n / 2] / 1e3, rtt[n * 99 / 100] / 1e3,
           rtt[n - 1] / 1e3, n);
    stop_daemon();
    return 0;
}
