/*
 * deadlock - every goroutine ends up blocked on a WaitGroup that nobody
 * will ever finish: the main goroutine and one other.  The runtime must
 * die with "fatal error: all goroutines are asleep - deadlock!" and a
 * goroutine dump showing both in [semacquire].
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>

#include <gort/gort.h>

static gort_waitgroup never = GORT_WAITGROUP_INIT;
static gort_waitgroup other_started = GORT_WAITGROUP_INIT;

static void other(void *arg)
{
    gort_waitgroup_done(&other_started);
    gort_waitgroup_wait(&never);
}

static void entry(void *arg)
{
    gort_waitgroup_add(&never, 1);
    gort_waitgroup_add(&other_started, 1);
    int rc = gort_go(other, NULL);
    if (rc != 0) {
        fprintf(stderr, "deadlock: gort_go: %s\n", gort_strerror(rc));
        exit(1);
    }
    gort_waitgroup_wait(&other_started);
    gort_waitgroup_wait(&never);
    printf("wait returned\n");
}

int main(void)
{
    return gort_main(entry, NULL) == 0 ? 0 : 1;
}
