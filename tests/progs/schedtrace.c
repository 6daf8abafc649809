/*
 * schedtrace - keep two Ps busy-ish for a while so that schedtrace has
 * something to print.  Two busy goroutines spin for 50 us at a time and
 * yield in between; one more goroutine naps in 5 ms sleeps meanwhile.  A
 * phase lasts 150 ms and until four SCHED lines have come out during it,
 * however slow the machine (at most 20 s): fd 2 is a pipe that a
 * thread copies to the real stderr, counting the lines on the way.
 *
 *   schedtrace         one such phase; the trace comes from GODEBUG
 *   schedtrace api     gort_set_schedtrace(10, false), one phase, turn the
 *                      trace off, wait 50 ms, print "schedtrace off" on
 *                      stderr, one more phase (150 ms, no lines awaited).
 *                      No SCHED line may follow the mark.
 *
 * Exits 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <gort/gort.h>

enum { PHASE_LINES = 4 };

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * GORT_S + ts.tv_nsec;
}

static gort_waitgroup busy_wg, napper_wg;
static atomic_int stop;

/* SCHED lines seen on fd 2 so far. */
static atomic_int sched_lines;
static int real_stderr = -1;
static pthread_t copier;

static void *copy_stderr(void *arg)
{
    int fd = *(int *)arg;
    char buf[4096];
    bool at_line_start = true;
    size_t matched = 0;   /* how much of "SCHED " the current line has shown */
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (at_line_start || (matched > 0 && matched < 6)) {
                if (c == "SCHED "[matched]) {
                    if (++matched == 6)
                        atomic_fetch_add(&sched_lines, 1);
                } else {
                    matched = 6;   /* not a SCHED line: stop looking */
                }
            }
            at_line_start = c == '\n';
            if (at_line_start)
                matched = 0;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(real_stderr, buf + off, (size_t)(n - off));
            if (w <= 0)
                break;
            off += w;
        }
    }
    close(fd);
    return NULL;
}

static void intercept_stderr(void)
{
    static int rd;
    int fds[2];
    real_stderr = dup(2);
    if (real_stderr < 0 || pipe(fds) != 0 || dup2(fds[1], 2) < 0) {
        perror("schedtrace: stderr pipe");
        exit(1);
    }
    close(fds[1]);
    rd = fds[0];
    setvbuf(stderr, NULL, _IONBF, 0);
    if (pthread_create(&copier, NULL, copy_stderr, &rd) != 0) {
        fprintf(stderr, "schedtrace: cannot start the stderr copier\n");
        exit(1);
    }
}

/* Put the real stderr back and wait for the copier to drain the pipe.
 * sysmon outlives gort_main: the trace is turned off first, or a line
 * written straight to the real stderr could pass earlier ones still in
 * the pipe. */
static void restore_stderr(void)
{
    gort_set_schedtrace(0, false);
    dup2(real_stderr, 2);
    pthread_join(copier, NULL);
}

/* arg: how many SCHED lines to wait for (0 when the trace is off). */
static void busy(void *arg)
{
    int want = (int)(intptr_t)arg;
    int first = atomic_load(&sched_lines);
    int64_t start = gort_nanotime();
    int64_t end = start + 150 * GORT_MS, limit = start + 20 * GORT_S;
    while (gort_nanotime() < end ||
           (atomic_load(&sched_lines) - first < want && gort_nanotime() < limit)) {
        int64_t spin_end = mono_ns() + 50 * GORT_US;
        while (mono_ns() < spin_end) {
        }
        gort_gosched();
    }
    gort_waitgroup_done(&busy_wg);
}

static void napper(void *arg)
{
    while (!atomic_load(&stop))
        gort_sleep(5 * GORT_MS);
    gort_waitgroup_done(&napper_wg);
}

static void spawn(gort_fn fn, int lines)
{
    int rc = gort_go(fn, (void *)(intptr_t)lines);
    if (rc != 0) {
        fprintf(stderr, "schedtrace: gort_go: %s\n", gort_strerror(rc));
        exit(1);
    }
}

static void run_phase(int lines)
{
    busy_wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
    napper_wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
    atomic_store(&stop, 0);
    gort_waitgroup_add(&busy_wg, 2);
    gort_waitgroup_add(&napper_wg, 1);
    spawn(napper, 0);
    spawn(busy, lines);
    spawn(busy, lines);
    gort_waitgroup_wait(&busy_wg);
    atomic_store(&stop, 1);
    gort_waitgroup_wait(&napper_wg);
}

static bool api_mode;

static void entry(void *arg)
{
    if (api_mode)
        fprintf(stderr, "set_schedtrace=%d\n", gort_set_schedtrace(10, false));
    run_phase(PHASE_LINES);
    if (api_mode) {
        fprintf(stderr, "set_schedtrace_off=%d\n", gort_set_schedtrace(0, false));
        gort_sleep(50 * GORT_MS);
        fprintf(stderr, "schedtrace off\n");
        run_phase(0);
    }
}

int main(int argc, char **argv)
{
    api_mode = argc > 1 && strcmp(argv[1], "api") == 0;
    intercept_stderr();
    int rc = gort_main(entry, NULL);
    restore_stderr();
    return rc == 0 ? 0 : 1;
}
