/*
 * offgoroutine - call gort_sleep, which is "goroutine only", from a plain
 * thread while the runtime runs.  There is no goroutine to put to sleep:
 * the runtime must die with a fatal error that says which call was wrong.
 * If it does not, the program prints "survived" and exits 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <gort/gort.h>

static atomic_int returned;

static void *plain_thread(void *arg)
{
    gort_sleep(GORT_MS);
    atomic_store(&returned, 1);
    return NULL;
}

static void entry(void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, plain_thread, NULL) != 0) {
        fprintf(stderr, "offgoroutine: pthread_create failed\n");
        exit(1);
    }
    pthread_detach(t);
    /* Poll: joining would block this goroutine's thread. */
    for (int i = 0; i < 5000 && !atomic_load(&returned); i++)
        gort_sleep(GORT_MS);
    printf("survived\n");
}

int main(void)
{
    return gort_main(entry, NULL) == 0 ? 0 : 1;
}
