/*
 * scvg - the scavenger's trace lines and periodic release, for test_heap.
 *
 *     scvg freeos     free a 3 MiB object (a hand cycle that marks
 *                     nothing), then gort_free_os_memory: with
 *                     GODEBUG=gctrace=1 the scvg-1 lines follow
 *     scvg periodic   free a 2 MiB object and wait 300 ms: with
 *                     GODEBUG=scavenge=1 sysmon's periodic pass releases
 *                     spans free for 20 ms, every 10 ms
 *
 * Both keep the heap under the background scavenger's goal (4 MiB plus
 * 10 %), so that only the path under test releases anything.  Prints
 * "released BYTES" (heap_released after) on stdout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <string.h>

#include <gort/gort.h>

#include "testing.h"

static const char *mode;

static void entry(void *arg)
{
    (void)arg;
    size_t size = strcmp(mode, "freeos") == 0 ? (size_t)3 << 20 : (size_t)2 << 20;
    char *p = gort_alloc_noscan(size);
    memset(p, 1, size);
    rt_test_heap_cycle_begin();
    rt_test_heap_cycle_end(true);
    if (strcmp(mode, "freeos") == 0)
        gort_free_os_memory();
    else
        gort_sleep(300 * GORT_MS);
    gort_memstats ms;
    gort_read_memstats(&ms);
    printf("released %llu\n", (unsigned long long)ms.heap_released);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "freeos") != 0 && strcmp(argv[1], "periodic") != 0)) {
        fprintf(stderr, "usage: scvg freeos|periodic\n");
        return 64;
    }
    mode = argv[1];
    return gort_main(entry, NULL);
}
