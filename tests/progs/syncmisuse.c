/*
 * syncmisuse MODE - misuse a sync primitive in a way Go treats as a fatal
 * error (no recovery), so that the process must die with status 2 and
 * "fatal error: <Go's message>":
 *
 *   mutex     unlock an unlocked gort_mutex
 *   runlock   read-unlock an unlocked gort_rwmutex
 *   unlock    write-unlock an unlocked gort_rwmutex
 *   offg      lock a contended gort_mutex from a plain thread, which has no
 *             goroutine to park
 *
 * A deferred call that recovers stands guard: a panic (rather than a fatal
 * error) would be recovered and the program would print "survived", as it
 * does if the misuse goes unnoticed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gort/gort.h>

static const char *mode;
static gort_mutex mu = GORT_MUTEX_INIT;
static gort_rwmutex rw = GORT_RWMUTEX_INIT;
static atomic_int returned;

static void *plain_thread(void *arg)
{
    gort_mutex_lock(&mu);
    atomic_store(&returned, 1);
    return NULL;
}

static void guard(void *arg)
{
    gort_panic_info *p = gort_recover();
    if (p != NULL)
        printf("recovered: %s\n", gort_panic_message(p));
}

static void misuse(void *arg)
{
    gort_defer(guard, NULL);
    if (strcmp(mode, "mutex") == 0) {
        gort_mutex_unlock(&mu);
    } else if (strcmp(mode, "runlock") == 0) {
        gort_rwmutex_runlock(&rw);
    } else if (strcmp(mode, "unlock") == 0) {
        gort_rwmutex_unlock(&rw);
    } else if (strcmp(mode, "offg") == 0) {
        gort_mutex_lock(&mu);
        pthread_t t;
        if (pthread_create(&t, NULL, plain_thread, NULL) != 0) {
            fprintf(stderr, "syncmisuse: pthread_create failed\n");
            exit(1);
        }
        pthread_detach(t);
        /* Poll: joining would block this goroutine's thread. */
        for (int i = 0; i < 5000 && !atomic_load(&returned); i++)
            gort_sleep(GORT_MS);
    } else {
        fprintf(stderr, "syncmisuse: unknown mode %s\n", mode);
        exit(1);
    }
}

static void entry(void *arg)
{
    gort_pcall(misuse, NULL);
    printf("survived\n");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: syncmisuse mutex|runlock|unlock|offg\n");
        return 1;
    }
    mode = argv[1];
    return gort_main(entry, NULL) == 0 ? 0 : 1;
}
