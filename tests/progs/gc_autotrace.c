/*
 * gc_autotrace - gctrace lines of automatic and forced cycles, for
 * test_gcc.
 *
 *     gc_autotrace    with GOGC=100 and a 1 MiB live set, allocate garbage
 *                     until at least 3 automatic cycles have run, with a
 *                     gort_gc() after the first and the second; then turn
 *                     automatic collection off and end with a third
 *                     gort_gc()
 *
 * With GODEBUG=gctrace=1 every cycle prints its gc line on stderr, the
 * forced ones ending in " (forced)".  Prints "num_gc N forced M auto A"
 * (MemStats after the last gort_gc; A automatic cycles were seen while
 * allocating) on stdout, or "no automatic cycle (only A)" if the garbage
 * (256 MiB at most) triggered fewer than 3.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <string.h>

#include <gort/gort.h>

#define MIB ((size_t)1 << 20)
#define AUTO_WANTED 3

static void *volatile live[256];
static gort_memstats ms;

/* Cycles that were not forced, so far. */
static unsigned automatic(void)
{
    gort_read_memstats(&ms);
    return ms.num_gc - ms.num_forced_gc;
}

static void entry(void *arg)
{
    (void)arg;
    gort_set_gc_percent(100);
    for (int i = 0; i < 256; i++)
        live[i] = gort_alloc(4096);
    unsigned seen = 0, forced_calls = 0;
    for (size_t bytes = 0; bytes < 256 * MIB && seen < AUTO_WANTED; bytes += 1024) {
        memset(gort_alloc(1024), 0xee, 64);
        if (bytes % MIB == 0) {
            seen = automatic();
            if (seen > forced_calls && forced_calls < 2) {
                gort_gc();
                forced_calls++;
            }
            gort_gosched();
        }
    }
    gort_set_gc_percent(-1);
    gort_gc();
    gort_read_memstats(&ms);
    if (seen < AUTO_WANTED) {
        printf("no automatic cycle (only %u)\n", seen);
        fflush(stdout);
        return;
    }
    printf("num_gc %u forced %u auto %u\n", ms.num_gc, ms.num_forced_gc, seen);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: gc_autotrace\n");
        return 64;
    }
    return gort_main(entry, NULL);
}
