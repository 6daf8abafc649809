/*
 * chanblock - goroutines blocked on channels, seen by the deadlock
 * detector.  A goroutine parked on a channel op or a select can only be
 * woken by another goroutine, so when every goroutine is so parked the
 * program must die with "fatal error: all goroutines are asleep -
 * deadlock!" and a goroutine dump naming the wait reasons:
 *
 *   chanblock recv       the main goroutine receives from a channel nobody
 *                        sends on: [chan receive]
 *   chanblock pair       another goroutine blocks sending on one channel
 *                        ("sender goroutine N") while the main goroutine
 *                        receives from a second: [chan send] and
 *                        [chan receive]
 *   chanblock select     the main goroutine selects over two idle
 *                        channels: [select]
 *   chanblock nil        the main goroutine receives from a nil channel:
 *                        [chan receive (nil chan)]
 *   chanblock nocases    the main goroutine blocks in a select with no
 *                        cases: [select (no cases)]
 *
 * A wait with a deadline has a timer pending, so it is no deadlock:
 *
 *   chanblock until      the main goroutine alone calls recv_until,
 *                        send_until and select_until with deadlines 100 ms
 *                        ahead; each must time out ("timed out N" for
 *                        each) and the program exits 0
 *
 * Lines that must never appear: "returned".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gort/gort.h>

static gort_chan *a, *b;

static void sender(void *arg)
{
    printf("sender goroutine %" PRIu64 "\n", gort_goid());
    fflush(stdout);
    int v = 1;
    gort_chan_send(a, &v);
    printf("send returned\n");
}

static void entry(void *arg)
{
    const char *mode = arg;
    a = gort_chan_make(sizeof(int), 0);
    b = gort_chan_make(sizeof(int), 0);
    if (a == NULL || b == NULL)
        exit(1);
    int v = 0;
    if (strcmp(mode, "recv") == 0) {
        gort_chan_recv(a, &v);
    } else if (strcmp(mode, "pair") == 0) {
        if (gort_go(sender, NULL) != 0)
            exit(1);
        gort_chan_recv(b, &v);
    } else if (strcmp(mode, "select") == 0) {
        gort_select_case sc[] = {
            { .c = a, .dir = GORT_RECV, .elem = &v },
            { .c = b, .dir = GORT_SEND, .elem = &v },
        };
        gort_select(sc, 2, true);
    } else if (strcmp(mode, "nil") == 0) {
        gort_chan_recv(NULL, &v);
    } else if (strcmp(mode, "nocases") == 0) {
        gort_select(NULL, 0, true);
    } else if (strcmp(mode, "until") == 0) {
        gort_select_case sc[] = { { .c = a, .dir = GORT_RECV, .elem = &v } };
        int rc[3];
        rc[0] = gort_chan_recv_until(a, &v, NULL, gort_nanotime() + 100 * GORT_MS);
        rc[1] = gort_chan_send_until(b, &v, gort_nanotime() + 100 * GORT_MS);
        rc[2] = gort_select_until(sc, 1, gort_nanotime() + 100 * GORT_MS);
        for (int i = 0; i < 3; i++)
            if (rc[i] == -ETIMEDOUT)
                printf("timed out %d\n", i);
        return;
    } else {
        fprintf(stderr, "chanblock: unknown mode %s\n", mode);
        exit(1);
    }
    printf("returned\n");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: chanblock recv|pair|select|nil|nocases|until\n");
        return 1;
    }
    return gort_main(entry, argv[1]) == 0 ? 0 : 1;
}
