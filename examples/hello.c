/*
 * hello.c - the smallest gort program: goroutines, sleep and a WaitGroup.
 *
 *     make && ./build/examples/hello
 */
#include <stdio.h>

#include <gort/gort.h>

static gort_waitgroup wg = GORT_WAITGROUP_INIT;

static void worker(void *arg)
{
    long id = (long)arg;
    gort_sleep((10 - id) * GORT_MS);   /* the last started finishes first */
    printf("goroutine %llu (worker %ld) done\n", (unsigned long long)gort_goid(), id);
    gort_waitgroup_done(&wg);
}

static void hello_main(void *arg)
{
    (void)arg;
    for (long i = 0; i < 10; i++) {
        gort_waitgroup_add(&wg, 1);
        int err = gort_go(worker, (void *)i);
        if (err) {
            fprintf(stderr, "gort_go: %s\n", gort_strerror(err));
            gort_waitgroup_done(&wg);
        }
    }
    gort_waitgroup_wait(&wg);
    printf("all workers done on %d Ps\n", gort_gomaxprocs(0));
}

int main(void)
{
    return gort_main(hello_main, NULL);
}
