/*
 * goexit_main - the main goroutine starts a worker that sleeps 50 ms and
 * says "worker done" on stderr, then calls gort_goexit().  The runtime must
 * let the worker finish and only then die with
 * "fatal error: no goroutines (main called runtime.Goexit) - deadlock!".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>

#include <gort/gort.h>

static void worker(void *arg)
{
    gort_sleep(50 * GORT_MS);
    fprintf(stderr, "worker done\n");
}

static void entry(void *arg)
{
    int rc = gort_go(worker, NULL);
    if (rc != 0) {
        fprintf(stderr, "goexit_main: gort_go: %s\n", gort_strerror(rc));
        exit(1);
    }
    gort_goexit();
}

int main(void)
{
    int rc = gort_main(entry, NULL);
    printf("gort_main returned %d\n", rc);
    return 0;
}
