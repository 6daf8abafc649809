/*
 * hello - the smallest gort program.  Prints, on stdout, the number of Ps
 * it got and the number of CPUs it may use:
 *
 *     hello gomaxprocs=2 cpus=2 goid=1
 *
 * Used to check how the environment (GOMAXPROCS, GODEBUG) is read.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>

#include <gort/gort.h>

static void entry(void *arg)
{
    cpu_set_t set;
    int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
    printf("hello gomaxprocs=%d cpus=%d goid=%" PRIu64 "\n", gort_gomaxprocs(0),
           cpus, gort_goid());
    fflush(stdout);
}

int main(void)
{
    return gort_main(entry, NULL) == 0 ? 0 : 1;
}
