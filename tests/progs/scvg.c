/*
 * scvg - the scavenger's trace lines and periodic release, for test_heap.
 *
 *     scvg freeos     free a 3 MiB object (a hand cycle that marks
 *                     nothing), then gort_free_os_memory: with
 *                     GODEBUG=gctrace=1 the scvg-1 lines follow
 *     scvg reuse      free a 3 MiB object full of 0xff, release it with
 *                     gort_free_os_memory, allocate 3 MiB again and print
 *                     "nonzero N": the bytes that did not read zero (with
 *                     GODEBUG=madvdontneed=0 the kernel may keep released
 *                     pages' contents, so the heap must zero them itself)
 *     scvg locked     as reuse, with the object mlock'ed while it is
 *                     released: the kernel refuses MADV_DONTNEED on locked
 *                     pages, which then keep their bytes
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
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <gort/gort.h>

#include "testing.h"

static const char *mode;

static void entry(void *arg)
{
    (void)arg;
    bool locked = strcmp(mode, "locked") == 0;
    size_t size = strcmp(mode, "periodic") != 0 ? (size_t)3 << 20 : (size_t)2 << 20;
    if (locked)
        size = (size_t)48 << 10;    /* under the smallest usual RLIMIT_MEMLOCK */
    char *p = gort_alloc_noscan(size);
    memset(p, 0xff, size);
    if (locked && mlock(p, size) != 0) {
        printf("mlock unavailable\n");
        return;
    }
    rt_test_heap_cycle_begin();
    rt_test_heap_cycle_end(true);
    if (strcmp(mode, "periodic") != 0)
        gort_free_os_memory();
    else
        gort_sleep(300 * GORT_MS);
    if (locked)
        munlock(p, size);
    if (strcmp(mode, "reuse") == 0 || locked) {
        unsigned char *q = gort_alloc_noscan(size);
        size_t nonzero = 0;
        for (size_t i = 0; i < size; i++)
            nonzero += q[i] != 0;
        printf("same %d nonzero %zu\n", (char *)q == p, nonzero);
    }
    gort_memstats ms;
    gort_read_memstats(&ms);
    printf("released %llu\n", (unsigned long long)ms.heap_released);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "freeos") != 0 && strcmp(argv[1], "periodic") != 0 &&
                      strcmp(argv[1], "reuse") != 0 && strcmp(argv[1], "locked") != 0)) {
        fprintf(stderr, "usage: scvg freeos|reuse|locked|periodic\n");
        return 64;
    }
    mode = argv[1];
    return gort_main(entry, NULL);
}
