/*
 * negwg - take a WaitGroup's counter below zero on the main goroutine.  As
 * in Go, that panics with "sync: negative WaitGroup counter"; nothing
 * recovers it, so the process prints the panic and the goroutine dump and
 * exits with status 2.  If it does not, the program prints "survived".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>

#include <gort/gort.h>

static gort_waitgroup wg = GORT_WAITGROUP_INIT;

static void entry(void *arg)
{
    gort_waitgroup_add(&wg, 1);
    gort_waitgroup_done(&wg);
    gort_waitgroup_done(&wg);
    printf("survived\n");
}

int main(void)
{
    return gort_main(entry, NULL) == 0 ? 0 : 1;
}
