/*
 * history.c - what the daemon's history (daemon/history.c, SPEC §7) costs:
 * the producer's side of one enqueue, and the rows per second its writer
 * thread sustains.
 *
 *     build/bench/history enqueue [N]           N records, default 250000
 *     build/bench/history writer [SECONDS]      default 5
 *     build/bench/history writer_shm [SECONDS]  default 5
 *
 * The program links the daemon's own objects (everything but main.o) and
 * drives the history module in-process, as gortd does: the runtime is
 * started in embedded mode (gort_start), the settings are the daemon's
 * defaults from config_load with the state directory in a fresh mkdtemp
 * directory, and history_start starts the writer thread on history.db
 * there.  Each run prints one result line:
 *
 *     enqueue ns_per_enqueue=... single_p50_ns=... single_p99_ns=...
 *             syscalls=0 sample_ns=... audit_ns=... dropped=0 ...
 *     writer rows_per_s=... ns_per_row=... dropped_per_s=... ...
 *
 * enqueue: the runtime's producers (the collector at the end of every
 * cycle, the scavenger) enqueue through the observer history_start
 * installs; the program is linked with -Wl,--wrap=gort_set_observer to
 * get hold of it, and a thread of its own (not a runtime thread) calls
 * its gc callback with a gort_gc_cycle exactly as the collector does: one
 * fixed-size record copied into the ring.  It does so in batches of 4096
 * records, half the ring (8192 slots), which the writer has emptied
 * before each batch starts, so every timed enqueue is stored; a drop
 * fails the run.  ns_per_enqueue is the median over the batches of the
 * batch's wall time per record (min_ns the fastest batch);
 * single_p50_ns and single_p99_ns time 2000 lone calls, 100 us apart
 * (the ring's lines cold, as for a record per collection; each includes
 * one clock_gettime, about 50 ns).  The event loop's producers are timed
 * too: sample_ns per record of history_sample (two records per call;
 * past a quarter of the ring it wakes the writer, a mutex and a condition
 * signal), audit_ns per history_audit call (one record that also copies
 * two strings with malloc, in batches of 1024, below the wake-up), after
 * two untimed batches (a fresh thread's malloc arena grows over its
 * first ones, with mprotect calls: audit_warmup_syscalls).  The history
 * is started with the shortest flush period (10 ms) so that the ring
 * empties quickly between batches; the period does not enter the timed
 * loops.
 *
 * syscalls counts the system calls the enqueuing thread made inside the
 * timed loops (the observer's; sample_syscalls and audit_syscalls for the
 * loop's), for real: that thread installs a seccomp filter on itself
 * alone (no TSYNC, after PR_SET_NO_NEW_PRIVS) whose every system call
 * becomes a user notification (SECCOMP_RET_USER_NOTIF).  A supervisor
 * thread receives each one, counts it while the loop runs and lets the
 * call go on unchanged (SECCOMP_USER_NOTIF_FLAG_CONTINUE, Linux 5.5).
 * vDSO calls (clock_gettime) never enter the kernel and are not counted;
 * page faults are not system calls.  Before the loops, a self-test makes
 * one real system call (getppid) and one clock_gettime inside a counted
 * window and fails the run unless exactly one was counted.  Where seccomp
 * is refused (an old kernel, a sandbox), -1 says it was not measured.
 *
 * writer, writer_shm: one producer thread calls history_sample as fast as
 * it can (waking the writer at a quarter of the ring, as the event loop
 * does) with the daemon's default settings (flush period 500 ms); the
 * ring fills and the excess is dropped, as in gortd.  Timing starts at
 * the writer's second commit and lasts SECONDS.  rows_per_s is the growth
 * of the writer's `written` counter over that time divided by it;
 * ns_per_row is its inverse; dropped_per_s the records the full ring
 * refused; rows_per_commit the mean transaction; writer_cpu_pct the
 * writer thread's CPU time over the window (/proc/self/task/TID/schedstat),
 * -1 if unknown.  writer puts the database under $TMPDIR (default /tmp),
 * writer_shm under /dev/shm (tmpfs: no disk at all).
 *
 * Errors go to stderr with exit status 1 (2 for usage), and no result line
 * is printed.
 */
#include "gortd.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gort/gort.h"

#define BATCH_RECORDS 4096               /* records per batch: half the ring */
#define AUDIT_RECORDS 1024               /* below a quarter: no wake-up */
#define SINGLES 2000
#define SINGLE_GAP_NS (100 * 1000)
#define DRAIN_TIMEOUT_NS (30 * (int64_t)1000000000)

static const char *workload = "history";
static char dir[PATH_MAX];

static _Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "history bench %s: ", workload);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A counter of history_stats_json. */
static int64_t stat_int(const char *key)
{
    json_t *o = history_stats_json();
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail("history_stats_json has no integer \"%s\"", key);
    int64_t x = json_integer_value(v);
    json_decref(o);
    return x;
}

/* Is the history in this state?  Fails the run when it is in error. */
static bool state_is(const char *want)
{
    json_t *o = history_stats_json();
    const char *s = json_string_value(json_object_get(o, "state"));
    bool is = s && strcmp(s, want) == 0;
    if (!is && s && strcmp(s, "error") == 0)
        fail("the history is in error: %s", json_string_value(json_object_get(o, "error")));
    json_decref(o);
    return is;
}

/* Wait until the writer has taken every queued record. */
static void drain(void)
{
    int64_t deadline = mono_ns() + DRAIN_TIMEOUT_NS;
    while (stat_int("queued") != 0) {
        if (mono_ns() > deadline)
            fail("the writer left records queued for 30 s");
        sleep_ns(1000000);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The value at quantile q (nearest rank) of v[0..n), sorted in place. */
static double quantile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(q * (double)n + 0.999999);
    if (i < 1)
        i = 1;
    if (i > n)
        i = n;
    return v[i - 1];
}

/* ------------------------------------------------------------------ */
/* Counting a thread's system calls                                     */

/*
 * The counted thread calls sc_install() on itself: from then on each of
 * its system calls stops in the kernel until sc_supervisor, on another
 * thread, has seen it and told the kernel to run it as it is.  Calls
 * seen while sc.counting is set are counted.  A system call cannot
 * overtake the store that opens or closes the window: the counted thread
 * waits in each call until the supervisor has answered it.
 */
static struct {
    atomic_int fd;                       /* the listener; -1 until installed */
    atomic_bool counting;
    atomic_bool stop;
    atomic_ullong count;
    atomic_int nrs[16];                  /* the first system calls counted */
    atomic_int failed;                   /* errno of a failed answer */
} sc = {.fd = -1};

static void *sc_supervisor(void *arg)
{
    (void)arg;
    int fd;
    while ((fd = atomic_load(&sc.fd)) < 0) {
        if (atomic_load(&sc.stop))
            return NULL;
        sleep_ns(100000);
    }
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, 100);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0) {
            if (atomic_load(&sc.stop))
                break;
            continue;
        }
        if (p.revents & POLLIN) {
            struct seccomp_notif req;
            memset(&req, 0, sizeof req);
            if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
                if (errno == EINTR || errno == ENOENT)
                    continue;
                atomic_store(&sc.failed, errno);
                break;
            }
            if (atomic_load(&sc.counting)) {
                unsigned long long k = atomic_fetch_add(&sc.count, 1);
                if (k < 16)
                    atomic_store(&sc.nrs[k], req.data.nr);
            }
            struct seccomp_notif_resp resp = {.id = req.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
            /* ENOENT: the call was interrupted meanwhile. */
            if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0 && errno != ENOENT) {
                atomic_store(&sc.failed, errno);
                break;
            }
        } else if (p.revents & (POLLHUP | POLLERR)) {
            break;   /* the counted thread is gone */
        }
    }
    close(fd);
    return NULL;
}

/* Install the filter on the calling thread.  False (with why) when the
 * kernel refuses. */
static bool sc_install(char *why, size_t n)
{
    struct sock_filter insn[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF)};
    struct sock_fprog prog = {.len = 1, .filter = insn};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(why, n, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
        return false;
    }
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (fd < 0) {
        snprintf(why, n, "seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER): %s", strerror(errno));
        return false;
    }
    atomic_store(&sc.fd, (int)fd);
    return true;
}

static inline void sc_begin(void)
{
    atomic_store(&sc.counting, true);
}

static inline void sc_end(void)
{
    atomic_store(&sc.counting, false);
}

/* The system calls counted so far, naming the first ones on stderr. */
static unsigned long long sc_report(const char *what)
{
    unsigned long long c = atomic_load(&sc.count);
    if (c) {
        fprintf(stderr, "history bench %s: %llu system call(s) in %s; the first:", workload, c, what);
        for (unsigned long long i = 0; i < c && i < 16; i++)
            fprintf(stderr, " %d", atomic_load(&sc.nrs[i]));
        fprintf(stderr, " (x86-64 numbers)\n");
    }
    return c;
}

/* ------------------------------------------------------------------ */
/* Setup                                                                */

static gort_memstats ms;
static gort_sched_stats ss;
static int64_t rss;
static struct config cfg;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void cleanup(void)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The thread ids of this process. */
static int list_tasks(pid_t *out, int max)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max)
        if (e->d_name[0] != '.')
            out[n++] = (pid_t)atoi(e->d_name);
    closedir(d);
    return n;
}

static pid_t writer_tid = -1;

/* The daemon's settings (config_load: its defaults, no file), the state
 * in a fresh directory under base; then the runtime and the history. */
static void start(const char *base, const char *flush_ms)
{
    snprintf(dir, sizeof dir, "%s/gort-history-bench-XXXXXX", base);
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        fail("mkdtemp under %s: %s", base, strerror(errno));
    }
    atexit(cleanup);
    char sock[PATH_MAX + 16];
    snprintf(sock, sizeof sock, "%s/gortd.sock", dir);
    char *argv[] = {"gortd", "--config", "/dev/null", "--socket", sock, "--state-dir", dir,
                    flush_ms ? "--history-flush" : NULL, (char *)flush_ms, NULL};
    int argc = flush_ms ? 9 : 7;
    if (config_load(&cfg, argc, argv) != 0)
        fail("config_load refused the settings");

    log_init();
    int err = gort_start();
    if (err)
        fail("gort_start: %s", gort_strerror(err));
    gort_read_memstats(&ms);
    gort_read_sched_stats(&ss);
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0;
    if (f) {
        if (fscanf(f, "%*d %ld", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    rss = (int64_t)pages * sysconf(_SC_PAGESIZE);

    /* The writer is the one thread history_start adds, once the runtime
     * has started its own. */
    pid_t before[256], after[256];
    int nb = list_tasks(before, 256);
    for (int stable = 0; stable < 5;) {
        sleep_ns(10 * 1000000);
        int n = list_tasks(after, 256);
        stable = n == nb ? stable + 1 : 0;
        nb = list_tasks(before, 256);
    }
    if (!history_start(&cfg))
        fail("history_start failed");
    int na = list_tasks(after, 256), added = 0;
    for (int i = 0; i < na; i++) {
        bool old = false;
        for (int j = 0; j < nb; j++)
            old |= after[i] == before[j];
        if (!old) {
            writer_tid = after[i];
            added++;
        }
    }
    if (added != 1)
        writer_tid = -1;
    int64_t deadline = mono_ns() + DRAIN_TIMEOUT_NS;
    while (!state_is("ok")) {
        if (mono_ns() > deadline)
            fail("the history did not open %s/history.db in 30 s", dir);
        sleep_ns(1000000);
    }
}

/* ------------------------------------------------------------------ */
/* enqueue                                                              */

/*
 * The runtime's producers reach the history through the observer that
 * history_start installs with gort_set_observer.  The program is linked
 * with -Wl,--wrap=gort_set_observer, so that call lands here first: the
 * observer is kept, and the enqueue the collector makes at the end of
 * every cycle (observe_gc: one fixed-size record into the ring) can be
 * timed on a thread of our own, calling it exactly as the runtime does.
 */
void __real_gort_set_observer(const gort_observer *o);
void __wrap_gort_set_observer(const gort_observer *o);

static const gort_observer *_Atomic history_observer;

void __wrap_gort_set_observer(const gort_observer *o)
{
    if (o)
        atomic_store(&history_observer, o);
    __real_gort_set_observer(o);
}

static int64_t n_records = 250000;
static gort_gc_cycle cycle;              /* what the observer is given */

static struct {
    double obs_ns, obs_min_ns, single_p50, single_p99, sample_ns, audit_ns;
    long long syscalls, sample_syscalls, audit_syscalls, audit_warmup_syscalls;
    int batches, sample_batches;
} er;

/* One timed batch of n records (each call puts per_call of them): the
 * wall time per record. */
#define TIMED_BATCH(n, per_call, call)                                                                     \
    ({                                                                                                     \
        drain();                                                                                           \
        int64_t t0_ = mono_ns();                                                                           \
        sc_begin();                                                                                        \
        for (int i_ = 0; i_ < (n) / (per_call); i_++)                                                      \
            call;                                                                                          \
        sc_end();                                                                                          \
        (double)(mono_ns() - t0_) / (double)(n);                                                           \
    })

static void *enqueue_main(void *arg)
{
    (void)arg;
    /* No signal handler may run on this thread (its sigreturn would be a
     * system call). */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);

    char why[256];
    bool counted = sc_install(why, sizeof why);
    if (!counted) {
        fprintf(stderr, "history bench enqueue: system calls not counted: %s\n", why);
    } else {
        /* Self-test: one real system call and one vDSO call. */
        sc_begin();
        long ppid = syscall(SYS_getppid);
        int64_t t = mono_ns();
        sc_end();
        unsigned long long got = atomic_load(&sc.count);
        if (ppid != getppid() || t <= 0 || got != 1)
            fail("the system call counter's self-test counted %llu calls for one getppid and one "
                 "clock_gettime (want 1; failed answer: %s)", got, strerror(atomic_load(&sc.failed)));
        atomic_store(&sc.count, 0);
    }
    const gort_observer *obs = atomic_load(&history_observer);
    if (!obs || !obs->gc)
        fail("history_start installed no collection observer");

    int nb = (int)((n_records + BATCH_RECORDS - 1) / BATCH_RECORDS);
    if (nb < 3)
        nb = 3;
    double *per = malloc((size_t)nb * sizeof *per);
    if (!per)
        fail("out of memory");

    /* The observer: batches of half the ring, then lone calls. */
    for (int b = 0; b < nb; b++)
        per[b] = TIMED_BATCH(BATCH_RECORDS, 1, obs->gc(obs->ctx, &cycle));
    er.batches = nb;
    er.obs_ns = quantile(per, (size_t)nb, 0.5);
    er.obs_min_ns = per[0];
    static double single[SINGLES];
    drain();
    for (int i = 0; i < SINGLES; i++) {
        /* Spin rather than sleep: a sleep is a system call, answered by
         * the supervisor, and would time waking up as much as enqueuing. */
        int64_t until = mono_ns() + SINGLE_GAP_NS;
        while (mono_ns() < until) {
        }
        sc_begin();
        int64_t t0 = mono_ns();
        obs->gc(obs->ctx, &cycle);
        int64_t t1 = mono_ns();
        sc_end();
        single[i] = (double)(t1 - t0);
    }
    er.single_p50 = quantile(single, SINGLES, 0.5);
    er.single_p99 = quantile(single, SINGLES, 0.99);
    er.syscalls = counted ? (long long)sc_report("the observer's enqueues") : -1;
    atomic_store(&sc.count, 0);

    /* history_sample, the event loop's sampler: two records per call; a
     * batch passes a quarter of the ring, where it wakes the writer. */
    int ns = nb / 4 < 3 ? 3 : nb / 4;
    for (int b = 0; b < ns; b++)
        per[b] = TIMED_BATCH(BATCH_RECORDS, 2, history_sample(&ms, &ss, rss));
    er.sample_batches = ns;
    er.sample_ns = quantile(per, (size_t)ns, 0.5);
    er.sample_syscalls = counted ? (long long)sc_report("history_sample") : -1;
    atomic_store(&sc.count, 0);

    /* history_audit: one record that also copies two strings, in batches
     * below a quarter of the ring (no wake-up: what is counted is the
     * copying).  A fresh thread's malloc arena grows over its first
     * batches (mprotect): two batches of warm-up, counted apart. */
#define AUDIT_CALL history_audit(0, 4711, "gc", "{\"id\":7,\"cmd\":\"gc\"}", "ok", "collected")
    for (int b = 0; b < 2; b++)
        (void)TIMED_BATCH(AUDIT_RECORDS, 1, AUDIT_CALL);
    er.audit_warmup_syscalls = counted ? (long long)sc_report("history_audit's warm-up") : -1;
    atomic_store(&sc.count, 0);
    for (int b = 0; b < nb; b++)
        per[b] = TIMED_BATCH(AUDIT_RECORDS, 1, AUDIT_CALL);
    er.audit_ns = quantile(per, (size_t)nb, 0.5);
    er.audit_syscalls = counted ? (long long)sc_report("history_audit") : -1;
    free(per);
    return NULL;
}

static void run_enqueue(void)
{
    start(getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", "10");
    /* A collection's record as the runtime makes them. */
    cycle = (gort_gc_cycle){
        .num = ms.num_gc + 1, .procs = ss.gomaxprocs, .start_ns = wall_ns() - 900000, .end_ns = wall_ns(),
        .since_start_ns = 123456789, .cpu_percent = 1, .clock_ns = {30000, 800000, 70000},
        .cpu_ns = {30000 * ss.gomaxprocs, 1000, 700000, 50000, 70000 * ss.gomaxprocs},
        .heap_start = 4 << 20, .heap_end = 5 << 20, .heap_marked = 2 << 20, .heap_goal = 4 << 20,
        .next_goal = 4 << 20, .stacks = 65536, .globals = 8192, .pause_ns = 100000, .forced = true,
        .trigger = GORT_GC_TRIGGER_FORCED,
    };
    int64_t dropped0 = stat_int("dropped");
    pthread_t sup, prod;
    if (pthread_create(&sup, NULL, sc_supervisor, NULL) != 0 ||
        pthread_create(&prod, NULL, enqueue_main, NULL) != 0)
        fail("pthread_create failed");
    pthread_join(prod, NULL);
    atomic_store(&sc.stop, true);
    pthread_join(sup, NULL);
    int64_t dropped = stat_int("dropped") - dropped0;
    history_stop();
    if (dropped != 0)
        fail("%lld records were dropped: the ring was not empty when a batch started", (long long)dropped);
    printf("enqueue ns_per_enqueue=%.1f min_ns=%.1f single_p50_ns=%.0f single_p99_ns=%.0f syscalls=%lld "
           "sample_ns=%.1f sample_syscalls=%lld sample_batches=%d audit_ns=%.1f audit_syscalls=%lld "
           "audit_warmup_syscalls=%lld dropped=%lld batches=%d\n",
           er.obs_ns, er.obs_min_ns, er.single_p50, er.single_p99, er.syscalls, er.sample_ns, er.sample_syscalls,
           er.sample_batches, er.audit_ns, er.audit_syscalls, er.audit_warmup_syscalls, (long long)dropped,
           er.batches);
}

/* ------------------------------------------------------------------ */
/* writer                                                               */

static atomic_bool producing;
static atomic_ullong produced;           /* history_sample calls */

static void *producer_main(void *arg)
{
    (void)arg;
    unsigned long long n = 0;
    while (atomic_load_explicit(&producing, memory_order_relaxed)) {
        for (int i = 0; i < 64; i++)
            history_sample(&ms, &ss, rss);
        n += 64;
        atomic_store_explicit(&produced, n, memory_order_relaxed);
    }
    return NULL;
}

/* The writer thread's CPU time in ns, or -1. */
static int64_t writer_cpu_ns(void)
{
    if (writer_tid < 0)
        return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)writer_tid);
    FILE *f = fopen(path, "r");
    long long ns = -1;
    if (f) {
        if (fscanf(f, "%lld", &ns) != 1)
            ns = -1;
        fclose(f);
    }
    return ns;
}

static void run_writer(bool shm, int64_t seconds)
{
    const char *base = shm ? "/dev/shm" : getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    start(base, NULL);
    atomic_store(&producing, true);
    pthread_t prod;
    if (pthread_create(&prod, NULL, producer_main, NULL) != 0)
        fail("pthread_create failed");
    /* Warm-up: the first round opens the database, the second (a flush
     * period later) finds the ring full; from the third on, rounds follow
     * each other as they will. */
    int64_t deadline = mono_ns() + DRAIN_TIMEOUT_NS;
    while (stat_int("batches") < 2) {
        if (mono_ns() > deadline)
            fail("the writer committed nothing in 30 s");
        sleep_ns(1000000);
    }
    int64_t t0 = mono_ns(), c0 = writer_cpu_ns();
    int64_t w0 = stat_int("written"), d0 = stat_int("dropped"), b0 = stat_int("batches");
    unsigned long long p0 = atomic_load(&produced);
    sleep_ns(seconds * 1000000000);
    int64_t w1 = stat_int("written"), d1 = stat_int("dropped"), b1 = stat_int("batches");
    unsigned long long p1 = atomic_load(&produced);
    int64_t t1 = mono_ns(), c1 = writer_cpu_ns();
    atomic_store(&producing, false);
    pthread_join(prod, NULL);
    history_stop();
    double secs = (double)(t1 - t0) / 1e9;
    if (w1 <= w0)
        fail("the writer wrote nothing in %.1f s", secs);
    double rows = (double)(w1 - w0) / secs;
    double cpu = c0 >= 0 && c1 >= c0 ? 100.0 * (double)(c1 - c0) / (double)(t1 - t0) : -1;
    printf("%s rows_per_s=%.0f ns_per_row=%.1f dropped_per_s=%.0f enqueued_per_s=%.0f rows_per_commit=%.0f "
           "writer_cpu_pct=%.1f seconds=%.2f\n",
           workload, rows, 1e9 / rows, (double)(d1 - d0) / secs, 2.0 * (double)(p1 - p0) / secs,
           b1 > b0 ? (double)(w1 - w0) / (double)(b1 - b0) : 0, cpu, secs);
}

/* ------------------------------------------------------------------ */

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: history enqueue [N]\n"
                    "       history writer [SECONDS]\n"
                    "       history writer_shm [SECONDS]\n");
    exit(2);
}

static long long count_arg(const char *s, long long max)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (errno || *end || end == s || n <= 0 || n > max) {
        fprintf(stderr, "history: the argument must be an integer from 1 to %lld, not \"%s\"\n", max, s);
        exit(2);
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3)
        usage();
    workload = argv[1];
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(workload, "enqueue") == 0) {
        if (argc == 3)
            n_records = count_arg(argv[2], (long long)1 << 34);
        run_enqueue();
    } else if (strcmp(workload, "writer") == 0 || strcmp(workload, "writer_shm") == 0) {
        run_writer(workload[6] == '_', argc == 3 ? count_arg(argv[2], 3600) : 5);
    } else {
        usage();
    }
    config_free(&cfg);
    return 0;
}
