/*
 * gcutil.h - helpers of the collector suites (test_gc.c, test_gcc.c,
 * test_pool.c): frames that really exist, addresses kept without keeping
 * their objects alive, tagged objects, and stack scrubbing.  See
 * test_gc.c's header for why each precaution is needed.
 */
#ifndef GORT_TESTS_GCUTIL_H
#define GORT_TESTS_GCUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <gort/gort.h>

#include "testing.h"
#include "testutil.h"

/* A function whose frame must really exist and die: never inlined, never
 * cloned or analysed across calls. */
#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noipa))
#endif

#if GT_TSAN
#define GT_NO_TSAN __attribute__((no_sanitize_thread))
#else
#define GT_NO_TSAN
#endif

#define GT_UNUSED __attribute__((unused))

/* Addresses the tests keep for later checks are stored XORed with this:
 * bit 63 set, so a hidden address is never inside the heap (nor user
 * space) and keeps nothing alive. */
#define HIDE_KEY ((uintptr_t)0xA5A5000000000000ull)

static inline uintptr_t hide(const void *p)
{
    return (uintptr_t)p ^ HIDE_KEY;
}

static inline void *unhide(uintptr_t h)
{
    return (void *)(h ^ HIDE_KEY);
}

/* A 64-bit tag unique (in practice) to (a, b), with every byte odd: never
 * zero, never a heap address. */
static inline uint64_t tag_of(uint64_t a, uint64_t b)
{
    uint64_t x = (a + 1) * 0x9E3779B97F4A7C15ull ^ (b + 1) * 0xC2B2AE3D27D4EB4Full;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return x | 0x0101010101010101ull;
}

/* Fill n bytes (a multiple of 8) with tag, and check them. */
static inline void fill_tag(void *p, size_t n, uint64_t tag)
{
    for (size_t i = 0; i + 8 <= n; i += 8)
        memcpy((char *)p + i, &tag, 8);
}

static inline bool check_tag(const void *p, size_t n, uint64_t tag)
{
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, (const char *)p + i, 8);
        if (w != tag)
            return false;
    }
    return true;
}

/*
 * Zero 32 KiB of stack below the caller's frame.  Called by a test body
 * right before gort_gc(), so that the collector's frames, which it scans,
 * start out clean.  Not instrumented: a plain array of plain stores.
 */
#define SCRUB_WORDS 4096
GT_NO_ASAN GT_NO_TSAN GT_UNUSED NOINLINE static void scrub_stack(void)
{
    uintptr_t buf[SCRUB_WORDS];
    volatile uintptr_t *w = buf;
    for (size_t i = 0; i < SCRUB_WORDS; i++)
        w[i] = 0;
    __asm__ volatile("" : : "r"(buf) : "memory");
}

/* Zero 64 KiB below the caller: the cmocka setup does this, at the depth
 * where the test body's frame is about to be, so that the body's frame
 * (whose unwritten slots the collector scans like any other) does not
 * start out holding addresses left by earlier tests: a slot freed then
 * and reused by this test would be kept by them. */
#define SCRUB_DEEP_WORDS 8192
GT_NO_ASAN GT_NO_TSAN GT_UNUSED NOINLINE static void scrub_stack_deep(void)
{
    uintptr_t buf[SCRUB_DEEP_WORDS];
    volatile uintptr_t *w = buf;
    for (size_t i = 0; i < SCRUB_DEEP_WORDS; i++)
        w[i] = 0;
    __asm__ volatile("" : : "r"(buf) : "memory");
}

#define SCRUB_AND_GC()                                                        \
    do {                                                                      \
        scrub_stack();                                                        \
        gort_gc();                                                            \
    } while (0)

/* Is the hidden address the base of an allocated heap object? */
GT_UNUSED NOINLINE static bool live_exact(uintptr_t h)
{
    void *p = unhide(h);
    return rt_test_heap_object_base(p, NULL) == p;
}

/* Is the hidden address inside any allocated heap object? */
GT_UNUSED NOINLINE static bool live_any(uintptr_t h)
{
    return rt_test_heap_object_base(unhide(h), NULL) != NULL;
}

/* Does the object at the hidden address still hold its tag? */
GT_UNUSED NOINLINE static bool tag_intact(uintptr_t h, size_t n, uint64_t tag)
{
    return check_tag(unhide(h), n, tag);
}

/* Kept: the object is allocated at that address and holds its bytes. */
GT_UNUSED NOINLINE static bool kept(uintptr_t h, size_t n, uint64_t tag)
{
    return live_exact(h) && tag_intact(h, n, tag);
}

/* Allocate n objects of size bytes (noscan or not) filled with 0xee and
 * drop them: a slot freed by mistake would be reused and overwritten. */
GT_UNUSED NOINLINE static void alloc_garbage(size_t size, bool noscan, int n)
{
    for (int i = 0; i < n; i++) {
        void *p = noscan ? gort_alloc_noscan(size) : gort_alloc(size);
        memset(p, 0xee, size);
    }
}

#endif
