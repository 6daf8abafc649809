/*
 * overflow - use a bounded amount of a goroutine's stack, by default more
 * than the 256 KiB default reservation, so that the runtime must kill the
 * process with "fatal error: stack overflow in goroutine N".
 *
 * usage: overflow [KIB]      (default 300)
 *
 * One goroutine prints its stack statistics and "overflowing goroutine N"
 * on stderr, then descends with 1 KiB frames until KIB - 64 KiB are in use
 * and writes one contiguous 64 KiB block from the top down, so that every
 * byte from its entry to KIB below it is written whatever the compiler's
 * frame layout.  Then it parks (gort_sleep) while still that deep.
 *
 *   - Guarded stack: the block's writes reach the guard page first.
 *   - Slab stack (GORT_GUARDED_STACKS=0): the block overwrites the canary at
 *     the bottom of the stack and the runtime finds it when the goroutine
 *     parks (or faults below the slab, whichever comes first).
 *   - Big enough stack (GORT_STACK_SIZE=1MiB): nothing happens; the program
 *     prints "survived" on stdout and exits 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <gort/gort.h>

#if defined(GORT_ASAN) && GORT_ASAN
/* Frames must be real frames of a known size on the goroutine's stack, not
 * on ASan's fake stack and not padded with redzones. */
#define NO_ASAN __attribute__((no_sanitize_address))
#else
#define NO_ASAN
#endif

#define KIB ((size_t)1024)
#define BLOCK (64 * KIB)

static size_t target = 300 * KIB;
static gort_waitgroup wg = GORT_WAITGROUP_INIT;

static NO_ASAN __attribute__((noinline)) int last_frame(void)
{
    volatile char block[BLOCK];
    for (size_t i = sizeof block; i-- > 0;)
        block[i] = (char)0xa5;
    gort_sleep(GORT_MS);
    return block[0] + block[BLOCK - 1];
}

static NO_ASAN __attribute__((noinline)) int descend(uintptr_t top)
{
    volatile char frame[KIB];
    for (size_t i = sizeof frame; i-- > 0;)
        frame[i] = (char)0x5a;
    uintptr_t here = (uintptr_t)&frame[0];
    int r;
    if (top - here + BLOCK < target)
        r = descend(top);
    else
        r = last_frame();
    return r + frame[0];
}

static NO_ASAN void overflower(void *arg)
{
    gort_stack_stats st;
    gort_read_stack_stats(&st);
    fprintf(stderr, "guarded_budget=%" PRIu64 " guarded_inuse=%" PRIu64
            " slab_inuse=%" PRIu64 "\n", st.guarded_budget, st.guarded_inuse,
            st.slab_inuse);
    fprintf(stderr, "overflowing goroutine %" PRIu64 "\n", gort_goid());
    volatile char top = 0;
    int r = descend((uintptr_t)&top);
    printf("survived\n");
    fflush(stdout);
    (void)r;
    gort_waitgroup_done(&wg);
}

static void entry(void *arg)
{
    gort_waitgroup_add(&wg, 1);
    int rc = gort_go(overflower, NULL);
    if (rc != 0) {
        fprintf(stderr, "overflow: gort_go: %s\n", gort_strerror(rc));
        exit(1);
    }
    gort_waitgroup_wait(&wg);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        target = (size_t)strtoul(argv[1], NULL, 10) * KIB;
    if (target < 2 * BLOCK) {
        fprintf(stderr, "usage: overflow [KIB >= 128]\n");
        return 1;
    }
    return gort_main(entry, NULL) == 0 ? 0 : 1;
}
