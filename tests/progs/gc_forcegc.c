/*
 * gc_forcegc - forcegc's cycle, for test_gcc.
 *
 *     gc_forcegc      allocate a little (far below the first heap goal, so
 *                     that no cycle is due), then sleep 300 ms
 *
 * With GODEBUG=scavenge=1 the forcegc period is 10 ms, so sysmon asks for
 * cycles while the program sleeps; with gctrace=1 each prints "GC forced"
 * and then its gc line.  Without scavenge=1 the period is 2 minutes and a
 * run this short has none.  Prints "num_gc N forced M" (MemStats at the
 * end) on stdout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <string.h>

#include <gort/gort.h>

static void *volatile keep;

static void entry(void *arg)
{
    (void)arg;
    keep = gort_alloc(4096);
    for (int i = 0; i < 100; i++)
        memset(gort_alloc(1000), 0xee, 1000);
    gort_sleep(300 * GORT_MS);
    gort_memstats ms;
    gort_read_memstats(&ms);
    printf("num_gc %u forced %u\n", ms.num_gc, ms.num_forced_gc);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: gc_forcegc\n");
        return 64;
    }
    return gort_main(entry, NULL);
}
