/*
 * schedtrace - keep two Ps busy-ish for a while so that schedtrace has
 * something to print.  Two busy goroutines spin for 50 us at a time and
 * yield in between, for 150 ms; one more goroutine naps in 5 ms sleeps
 * meanwhile.
 *
 *   schedtrace         one such phase; the trace comes from GODEBUG
 *   schedtrace api     gort_set_schedtrace(10, false), one phase, turn the
 *                      trace off, wait 50 ms, print "schedtrace off" on
 *                      stderr, one more phase.  No SCHED line may follow
 *                      the mark.
 *
 * Exits 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gort/gort.h>

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * GORT_S + ts.tv_nsec;
}

static gort_waitgroup busy_wg, napper_wg;
static atomic_int stop;

static void busy(void *arg)
{
    int64_t end = gort_nanotime() + 150 * GORT_MS;
    while (gort_nanotime() < end) {
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

static void spawn(gort_fn fn)
{
    int rc = gort_go(fn, NULL);
    if (rc != 0) {
        fprintf(stderr, "schedtrace: gort_go: %s\n", gort_strerror(rc));
        exit(1);
    }
}

static void run_phase(void)
{
    busy_wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
    napper_wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
    atomic_store(&stop, 0);
    gort_waitgroup_add(&busy_wg, 2);
    gort_waitgroup_add(&napper_wg, 1);
    spawn(napper);
    spawn(busy);
    spawn(busy);
    gort_waitgroup_wait(&busy_wg);
    atomic_store(&stop, 1);
    gort_waitgroup_wait(&napper_wg);
}

static bool api_mode;

static void entry(void *arg)
{
    if (api_mode)
        fprintf(stderr, "set_schedtrace=%d\n", gort_set_schedtrace(10, false));
    run_phase();
    if (api_mode) {
        fprintf(stderr, "set_schedtrace_off=%d\n", gort_set_schedtrace(0, false));
        gort_sleep(50 * GORT_MS);
        fprintf(stderr, "schedtrace off\n");
        run_phase();
    }
}

int main(int argc, char **argv)
{
    api_mode = argc > 1 && strcmp(argv[1], "api") == 0;
    return gort_main(entry, NULL) == 0 ? 0 : 1;
}
