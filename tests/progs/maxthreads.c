/*
 * maxthreads - lower the thread limit to 5 (Go's debug.SetMaxThreads), then
 * wire 10 sleeping goroutines to threads of their own.  The runtime must
 * die with "fatal error: thread exhaustion" instead of creating the sixth
 * thread.  If it does not, the program says "no thread exhaustion" and
 * exits 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>

#include <gort/gort.h>

static void locked_sleeper(void *arg)
{
    gort_lock_os_thread();
    gort_sleep(2 * GORT_S);
    gort_unlock_os_thread();
}

static void entry(void *arg)
{
    int prev = gort_set_max_threads(5);
    fprintf(stderr, "previous max threads %d\n", prev);
    for (int i = 0; i < 10; i++) {
        int rc = gort_go(locked_sleeper, NULL);
        if (rc != 0) {
            fprintf(stderr, "maxthreads: gort_go: %s\n", gort_strerror(rc));
            exit(1);
        }
    }
    gort_sleep(3 * GORT_S);
    fprintf(stderr, "no thread exhaustion\n");
}

int main(void)
{
    return gort_main(entry, NULL) == 0 ? 0 : 1;
}
