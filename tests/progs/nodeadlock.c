/*
 * nodeadlock - the main goroutine waits on a WaitGroup while the only other
 * goroutine is not blocked on anything that needs another goroutine, so
 * the deadlock detector must stay quiet:
 *
 *   nodeadlock sleep     the other goroutine sleeps 200 ms, then Done
 *   nodeadlock syscall   the other goroutine is in a blocking read()
 *                        (bracketed by gort_syscall_enter/exit) that a
 *                        plain thread satisfies after 200 ms, then Done
 *
 * Prints "ok" on stdout and exits 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gort/gort.h>

static gort_waitgroup wg = GORT_WAITGROUP_INIT;
static int fds[2];

static void sleeper(void *arg)
{
    gort_sleep(200 * GORT_MS);
    gort_waitgroup_done(&wg);
}

static void reader(void *arg)
{
    char c;
    gort_syscall_enter();
    ssize_t n = read(fds[0], &c, 1);
    gort_syscall_exit();
    if (n != 1) {
        fprintf(stderr, "nodeadlock: read returned %zd\n", n);
        exit(1);
    }
    gort_waitgroup_done(&wg);
}

static void *writer(void *arg)
{
    struct timespec ts = { 0, 200 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    if (write(fds[1], "x", 1) != 1)
        exit(1);
    return NULL;
}

static const char *mode;

static void entry(void *arg)
{
    gort_waitgroup_add(&wg, 1);
    int rc;
    if (strcmp(mode, "sleep") == 0) {
        rc = gort_go(sleeper, NULL);
    } else {
        pthread_t t;
        if (pipe(fds) != 0 || pthread_create(&t, NULL, writer, NULL) != 0) {
            fprintf(stderr, "nodeadlock: pipe or pthread_create failed\n");
            exit(1);
        }
        pthread_detach(t);
        rc = gort_go(reader, NULL);
    }
    if (rc != 0) {
        fprintf(stderr, "nodeadlock: gort_go: %s\n", gort_strerror(rc));
        exit(1);
    }
    gort_waitgroup_wait(&wg);
    printf("ok\n");
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "sleep") != 0 && strcmp(argv[1], "syscall") != 0)) {
        fprintf(stderr, "usage: nodeadlock sleep|syscall\n");
        return 1;
    }
    mode = argv[1];
    return gort_main(entry, NULL) == 0 ? 0 : 1;
}
