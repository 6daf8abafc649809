/*
 * embed - use the runtime the way an embedding program does: gort_start()
 * from main(), then gort_go() from this thread, which never becomes a
 * goroutine.  Prints one "name=value" line per observation on stdout:
 *
 *   goid_before_start      gort_goid() before the runtime runs (0)
 *   go_before_start        gort_go() before the runtime runs (-ESRCH)
 *   start                  gort_start() (0)
 *   start_again            a second gort_start() (-EALREADY)
 *   go_after_start         gort_go() from this thread (0)
 *   goroutine_ran          1 once that goroutine ran (waits up to 10 s)
 *   goroutine_goid         the goid it saw (> 0)
 *   goid_on_caller_thread  gort_goid() on this thread after start (0)
 *   main_after_start       gort_main() after gort_start() (< 0)
 *
 * Exits 0 with the runtime still running.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include <gort/gort.h>

static atomic_int ran;
static atomic_ullong seen_goid;

static void goroutine(void *arg)
{
    atomic_store(&seen_goid, gort_goid());
    atomic_store(&ran, 1);
}

static void never(void *arg)
{
    printf("never_ran=0\n");
}

int main(void)
{
    printf("goid_before_start=%" PRIu64 "\n", gort_goid());
    printf("go_before_start=%d\n", gort_go(goroutine, NULL));
    printf("start=%d\n", gort_start());
    printf("start_again=%d\n", gort_start());
    printf("go_after_start=%d\n", gort_go(goroutine, NULL));
    for (int i = 0; i < 10000 && !atomic_load(&ran); i++) {
        struct timespec ts = { 0, 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    printf("goroutine_ran=%d\n", atomic_load(&ran));
    printf("goroutine_goid=%llu\n", (unsigned long long)atomic_load(&seen_goid));
    printf("goid_on_caller_thread=%" PRIu64 "\n", gort_goid());
    printf("main_after_start=%d\n", gort_main(never, NULL));
    fflush(stdout);
    return 0;
}
