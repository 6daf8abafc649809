/*
 * gc_trace - the collector's gctrace lines, for test_gc.
 *
 *     gc_trace        gort_gc() twice, then gort_free_os_memory() (a third
 *                     forced cycle); with GODEBUG=gctrace=1 each cycle
 *                     prints Go's "gc N @..." line on stderr
 *
 * Prints "num_gc N forced M" (MemStats after the three cycles) on stdout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>

#include <gort/gort.h>

static void entry(void *arg)
{
    (void)arg;
    /* Something to mark and something to free. */
    void *keep = gort_alloc(4096);
    for (int i = 0; i < 100; i++)
        gort_alloc(1000);
    gort_gc();
    gort_gc();
    gort_free_os_memory();
    gort_keepalive(keep);
    gort_memstats ms;
    gort_read_memstats(&ms);
    printf("num_gc %u forced %u\n", ms.num_gc, ms.num_forced_gc);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: gc_trace\n");
        return 64;
    }
    return gort_main(entry, NULL);
}
