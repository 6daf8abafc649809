/*
 * negwg - take a WaitGroup's counter below zero.  Go panics with
 * "sync: negative WaitGroup counter"; until gort has panics that is a fatal
 * error, and either way the process must exit with status 2 saying so.
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
