/*
 * test_heap.c - the heap as the acceptance list states it: the size-class
 * mapping, zeroed and aligned memory (also when freed memory is reused),
 * tiny blocks shared only by pointer-free objects, interior-pointer lookup,
 * sweeping that frees exactly the unmarked objects, coalescing of free
 * pages, large objects giving their pages back to the OS, the background
 * sweeper, concurrent allocation on every P, the MemStats identities, RSS
 * after a 1 GiB burst, bad input, out of memory (helper program
 * tests/progs/oom.c, run in a subprocess) and the collector's pointer bits.
 *
 * These tests play the collector with the hand-cycle hooks of
 * runtime/testing.h, with automatic collection off (GOGC=off for the
 * whole suite).  rt_test_heap_cycle_begin() starts a cycle, the
 * test marks what must survive with rt_test_heap_mark(), and
 * rt_test_heap_cycle_end() makes every unmarked object garbage.  Such a
 * cycle frees every heap object the test does not mark, so the suite
 * assumes what the hooks assume: no heap object outside the test's own
 * must survive a hand cycle (the runtime keeps its own metadata off the
 * GC heap, and nothing here uses channels).  For the same reason the
 * objects' addresses are kept in malloc() memory, which no cycle touches.
 * Exact MemStats deltas are taken at quiescent points (only the main
 * goroutine running, nothing left to sweep), where gort_read_memstats is
 * documented to be exact; most tests start with a cycle that marks nothing
 * so that the heap holds no object but theirs.
 *
 * Tiny allocations and MemStats: Go counts each allocation that goes into
 * an existing tiny block in Mallocs and in Frees at once (so HeapObjects
 * counts blocks) and keeps it out of BySize.  The identities below accept
 * that convention or the one that counts tiny allocations nowhere but in
 * tiny_allocs, but not a mix: mallocs - (sum of by_size mallocs +
 * large_allocs) must be 0 or tiny_allocs, and frees must have the same
 * excess.
 *
 * Every test body runs on the main goroutine; see testutil.h for the rules
 * the tests follow.  Sizes shrink under the sanitizers where the plain
 * sizes would be slow (TSan) or where TSan's shadow memory hides RSS (the
 * RSS assertions are skipped under TSan, as in test_stack.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>

#include "testutil.h"
#include "heaputil.h"
#include "testing.h"

#define KIB ((size_t)1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)
#define PAGE ((size_t)8192)
#define MAX_SMALL ((size_t)32768)
#define NCLASSES GORT_NUM_SIZE_CLASSES      /* classes 1..NCLASSES */

#define HELPER_TIMEOUT gt_slow(30 * GORT_S)

/* Types for gort_new: a 24-byte node with two pointers, an 8-byte pointer
 * and a 32-byte struct whose only pointer is its second word. */
struct node {
    struct node *left, *right;
    int64_t value;
};
GORT_TYPE(node_type, struct node, left, right);

struct p8 {
    void *p;
};
GORT_TYPE(p8_type, struct p8, p);

struct mid {
    int64_t a;
    void *p;
    int64_t b, c;
};
GORT_TYPE(mid_type, struct mid, p);

/* ---------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------- */

/* A small deterministic random number generator (xorshift64). */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A 64-bit tag unique (in practice) to (a, b), never zero in any byte of
 * its low half so that a tag is never mistaken for zeroed memory. */
static uint64_t tag_of(uint64_t a, uint64_t b)
{
    uint64_t x = (a + 1) * 0x9E3779B97F4A7C15ull ^ (b + 1) * 0xC2B2AE3D27D4EB4Full;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return x | 0x0101010101010101ull;
}

/* Byte i of an object filled with tag is byte (i mod 8) of the tag. */
static void fill_tag(void *p, size_t n, uint64_t tag)
{
    unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        memcpy(b + i, &tag, 8);
    for (; i < n; i++)
        b[i] = (unsigned char)(tag >> (8 * (i & 7)));
}

static bool check_tag(const void *p, size_t n, uint64_t tag)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        if (w != tag)
            return false;
    }
    for (; i < n; i++)
        if (b[i] != (unsigned char)(tag >> (8 * (i & 7))))
            return false;
    return true;
}

static bool is_zero(const void *p, size_t n)
{
    static const unsigned char zeros[4096];
    const unsigned char *b = p;
    while (n > 0) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        if (memcmp(b, zeros, k) != 0)
            return false;
        b += k;
        n -= k;
    }
    return true;
}

/* A hand cycle that marks nothing: every heap object is freed. */
static void free_all(void)
{
    rt_test_heap_cycle_begin();
    rt_test_heap_cycle_end(true);
}

/* A hand cycle that marks the n objects of keep (NULL entries skipped).
 * Returns how many marks failed (0 when every object was found). */
static size_t cycle_keeping(void *const *keep, size_t n, bool sweep_now)
{
    size_t failed = 0;
    rt_test_heap_cycle_begin();
    for (size_t i = 0; i < n; i++)
        if (keep[i] != NULL && !rt_test_heap_mark(keep[i]))
            failed++;
    rt_test_heap_cycle_end(sweep_now);
    return failed;
}

static size_t class_of(size_t size)
{
    size_t cs = 0;
    int c = rt_test_size_class(size, &cs);
    return c > 0 ? cs : 0;
}

/* Index in by_size of the class whose objects are cs bytes, or -1. */
static int bysize_index(const gort_memstats *ms, size_t cs)
{
    for (int i = 0; i < GORT_NUM_SIZE_CLASSES; i++)
        if (ms->by_size[i].size == cs)
            return i;
    return -1;
}

/* Bytes of live large objects: heap_alloc minus what by_size accounts. */
static int64_t large_live_bytes(const gort_memstats *ms)
{
    struct bysums s;
    by_size_sums(ms, &s);
    return (int64_t)ms->heap_alloc - (int64_t)s.live_bytes;
}

/* Does mallocs include the tiny allocations (Go's convention)?  See the
 * top of the file. */
static bool tiny_in_mallocs(const gort_memstats *ms)
{
    struct bysums s;
    by_size_sums(ms, &s);
    return ms->tiny_allocs != 0 && ms->mallocs - (s.mallocs + ms->large_allocs) == ms->tiny_allocs;
}

/* Allocate size bytes of the given kind: 0 gort_alloc, 1 gort_alloc_noscan,
 * 2 gort_new_array of nodes (size rounded down to whole nodes, at least
 * one).  *got is the size asked for. */
static void *alloc_kind(int kind, size_t size, size_t *got)
{
    switch (kind) {
    case 1:
        *got = size;
        return gort_alloc_noscan(size);
    case 2: {
        size_t n = size / sizeof(struct node);
        if (n == 0)
            n = 1;
        *got = n * sizeof(struct node);
        return gort_new_array(&node_type, n);
    }
    default:
        *got = size;
        return gort_alloc(size);
    }
}

struct obj {
    void *p;
    size_t size;    /* bytes asked for */
};

static int obj_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct obj *)a)->p;
    uintptr_t y = (uintptr_t)((const struct obj *)b)->p;
    return x < y ? -1 : x > y;
}

/* Sort objs by address; the number of objects that overlap the next one. */
static size_t count_overlaps(struct obj *objs, size_t n)
{
    qsort(objs, n, sizeof *objs, obj_cmp);
    size_t bad = 0;
    for (size_t i = 1; i < n; i++)
        if ((uintptr_t)objs[i - 1].p + objs[i - 1].size > (uintptr_t)objs[i].p)
            bad++;
    return bad;
}

/* Does [p, p+n) intersect one of the sorted, disjoint intervals objs? */
static bool intersects(const struct obj *objs, size_t n, const void *p, size_t len)
{
    uintptr_t lo = (uintptr_t)p, hi = lo + len;
    size_t a = 0, b = n;              /* first interval ending after lo */
    while (a < b) {
        size_t m = (a + b) / 2;
        if ((uintptr_t)objs[m].p + objs[m].size <= lo)
            a = m + 1;
        else
            b = m;
    }
    return a < n && (uintptr_t)objs[a].p < hi;
}

/* The mapping of /proc/self/maps that contains addr: its bounds.  False
 * if none does. */
static bool mapping_of(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
    char *maps = gt_read_file("/proc/self/maps");
    if (maps == NULL)
        return false;
    bool found = false;
    for (char *line = maps; line != NULL && *line != '\0' && !found;) {
        char *end;
        uintptr_t a = (uintptr_t)strtoull(line, &end, 16);
        uintptr_t b = *end == '-' ? (uintptr_t)strtoull(end + 1, NULL, 16) : 0;
        if (addr >= a && addr < b) {
            *lo = a;
            *hi = b;
            found = true;
        }
        char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    free(maps);
    return found;
}

static gort_memstats ms0, ms1, ms2, ms3, ms4;

/* ---------------------------------------------------------------------
 * 1. Size classes
 * ------------------------------------------------------------------- */

static void test_size_classes_map_every_size_to_the_smallest_class_that_holds_it(void **state)
{
    /* The classes: increasing, class 0 and those past the last are 0. */
    assert_int_equal(rt_test_class_size(0), 0);
    assert_int_equal(rt_test_class_size(NCLASSES + 1), 0);
    assert_int_equal(rt_test_class_size(NCLASSES), MAX_SMALL);
    for (int c = 1; c <= NCLASSES; c++) {
        size_t cs = rt_test_class_size(c);
        assert_true(cs > rt_test_class_size(c - 1));
        assert_int_equal(cs % 8, 0);
    }

    size_t bad_class = 0, bad_fit = 0, bad_waste = 0, bad_align = 0, bad_mono = 0;
    int prev = 0;
    for (size_t size = 1; size <= MAX_SMALL; size++) {
        size_t cs = 0;
        int c = rt_test_size_class(size, &cs);
        if (c < 1 || c > NCLASSES || cs != rt_test_class_size(c)) {
            if (bad_class++ < 5)
                print_message("size %zu: class %d, class size %zu\n", size, c, cs);
            continue;
        }
        /* The smallest class that holds size. */
        if (cs < size || rt_test_class_size(c - 1) >= size) {
            if (bad_fit++ < 5)
                print_message("size %zu: class %d of %zu bytes, class below %zu\n", size, c, cs,
                              rt_test_class_size(c - 1));
        }
        /* At most 12.5 % internal waste from 57 bytes on. */
        if (size >= 57 && (cs - size) * 8 > cs) {
            if (bad_waste++ < 5)
                print_message("size %zu: class size %zu wastes %.1f %%\n", size, cs,
                              100.0 * (double)(cs - size) / (double)cs);
        }
        /* Multiples of 16 stay 16-byte aligned. */
        if (size % 16 == 0 && cs % 16 != 0) {
            if (bad_align++ < 5)
                print_message("size %zu: class size %zu is not a multiple of 16\n", size, cs);
        }
        if (c < prev)
            bad_mono++;
        prev = c;
    }
    assert_int_equal(bad_class, 0);
    assert_int_equal(bad_fit, 0);
    assert_int_equal(bad_waste, 0);
    assert_int_equal(bad_align, 0);
    assert_int_equal(bad_mono, 0);

    /* Past 32 KiB: large objects, class 0. */
    const size_t large[] = { MAX_SMALL + 1, MAX_SMALL + 8, 40000, 65536, MIB, GIB, SIZE_MAX / 2 };
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
        size_t cs = 1;
        assert_int_equal(rt_test_size_class(large[i], &cs), 0);
    }

    /* MemStats lists the same classes in by_size. */
    gort_read_memstats(&ms0);
    for (int i = 0; i < GORT_NUM_SIZE_CLASSES; i++)
        assert_int_equal(ms0.by_size[i].size, rt_test_class_size(i + 1));
}

/* ---------------------------------------------------------------------
 * 2. Zeroed and aligned memory, also when reused
 * ------------------------------------------------------------------- */

#define Z_MAXOBJS 8192

static struct obj z_objs[3][Z_MAXOBJS];
static size_t z_nobjs[3];
static size_t z_sizes[Z_MAXOBJS / 2];
static size_t z_nsizes;
static void *z_keep[Z_MAXOBJS];

static void z_add_size(size_t size)
{
    if (z_nsizes < sizeof z_sizes / sizeof z_sizes[0])
        z_sizes[z_nsizes++] = size;
}

/* Allocate every size of z_sizes as gort_alloc and gort_alloc_noscan,
 * into round r.  Counts objects that were not zero or misaligned; fills
 * each object with 0xff afterwards. */
static void z_round(int r, size_t *not_zero, size_t *misaligned, size_t *nulls)
{
    size_t n = 0;
    for (size_t i = 0; i < z_nsizes; i++) {
        for (int kind = 0; kind < 2; kind++) {
            size_t size = z_sizes[i];
            void *p = kind == 0 ? gort_alloc(size) : gort_alloc_noscan(size);
            if (p == NULL) {
                (*nulls)++;
                continue;
            }
            if (!is_zero(p, size)) {
                if ((*not_zero)++ < 5)
                    print_message("round %d: %s(%zu) = %p is not zeroed\n", r,
                                  kind == 0 ? "gort_alloc" : "gort_alloc_noscan", size, p);
            }
            /* 8-byte aligned (sizes under 16 that are not a multiple of 8
             * may be packed into a tiny block when pointer-free); 16-byte
             * aligned when the size is a multiple of 16. */
            uintptr_t a = (uintptr_t)p;
            bool aligned = true;
            if ((size >= 16 || kind == 0 || size % 8 == 0) && a % 8 != 0)
                aligned = false;
            if (size % 16 == 0 && a % 16 != 0)
                aligned = false;
            if (!aligned && (*misaligned)++ < 5)
                print_message("round %d: %s(%zu) = %p is misaligned\n", r,
                              kind == 0 ? "gort_alloc" : "gort_alloc_noscan", size, p);
            memset(p, 0xff, size);
            z_objs[r][n++] = (struct obj){ p, size };
        }
    }
    z_nobjs[r] = n;
}

static void test_every_allocation_is_zeroed_and_aligned_also_when_memory_is_reused(void **state)
{
    z_nsizes = 0;
    for (size_t s = 1; s <= 1100; s++)
        z_add_size(s);
    for (size_t s = 1101; s <= 40000; s += 89)
        z_add_size(s);
    for (int c = 1; c <= NCLASSES; c++) {
        size_t cs = rt_test_class_size(c);
        if (cs > 1100) {
            z_add_size(cs - 1);
            z_add_size(cs);
            if (cs < MAX_SMALL)
                z_add_size(cs + 1);
        }
    }
    const size_t large[] = { MAX_SMALL + 1, 65536 + 8, MIB, MIB + 1, 3 * MIB + 3 };
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++)
        z_add_size(large[i]);
    assert_true(2 * z_nsizes <= Z_MAXOBJS);

    free_all();
    size_t not_zero = 0, misaligned = 0, nulls = 0;

    /* Round 0 on whatever the heap has; then free every other object, so
     * that spans keep live objects next to freed (0xff) slots. */
    z_round(0, &not_zero, &misaligned, &nulls);
    size_t nkeep = 0;
    for (size_t i = 0; i < z_nobjs[0]; i += 2)
        z_keep[nkeep++] = z_objs[0][i].p;
    assert_int_equal(cycle_keeping(z_keep, nkeep, true), 0);

    /* Round 1 takes freed slots of partly used spans. */
    z_round(1, &not_zero, &misaligned, &nulls);
    size_t reused_slots = 0;
    for (size_t i = 0; i < z_nobjs[1]; i++)
        for (size_t j = 1; j < z_nobjs[0]; j += 2)
            if (z_objs[1][i].p == z_objs[0][j].p) {
                reused_slots++;
                break;
            }

    /* Free everything: whole spans go back to the page heap dirty. */
    free_all();
    z_round(2, &not_zero, &misaligned, &nulls);

    /* How much of round 2 landed on memory rounds 0 and 1 had written. */
    static struct obj old[2 * Z_MAXOBJS];
    size_t nold = 0;
    for (int r = 0; r < 2; r++)
        for (size_t i = 0; i < z_nobjs[r]; i++)
            old[nold++] = z_objs[r][i];
    /* Round 1 reused round 0's freed slots: drop exact duplicates so that
     * the intervals are disjoint. */
    qsort(old, nold, sizeof old[0], obj_cmp);
    size_t k = 0;
    for (size_t i = 0; i < nold; i++) {
        if (k > 0 && (uintptr_t)old[k - 1].p + old[k - 1].size > (uintptr_t)old[i].p) {
            uintptr_t end = (uintptr_t)old[i].p + old[i].size;
            if (end > (uintptr_t)old[k - 1].p + old[k - 1].size)
                old[k - 1].size = end - (uintptr_t)old[k - 1].p;
            continue;
        }
        old[k++] = old[i];
    }
    size_t reused_mem = 0;
    for (size_t i = 0; i < z_nobjs[2]; i++)
        reused_mem += intersects(old, k, z_objs[2][i].p, z_objs[2][i].size);

    print_message("%zu sizes x 2 kinds per round; round 1 reused %zu freed slots, "
                  "round 2 put %zu objects on written memory\n",
                  z_nsizes, reused_slots, reused_mem);
    free_all();
    assert_int_equal(nulls, 0);
    assert_int_equal(not_zero, 0);
    assert_int_equal(misaligned, 0);
    /* The reuse paths were taken, so the zeroing above was tested on
     * memory that held 0xff. */
    assert_true(reused_slots > 0);
    assert_true(reused_mem > 0);
}

/* ---------------------------------------------------------------------
 * 3. Tiny blocks
 * ------------------------------------------------------------------- */

static void test_tiny_blocks_are_shared_only_by_pointer_free_objects_under_16_bytes(void **state)
{
    free_all();

    /* Pointer-free objects of 1..8 bytes: consecutive ones share blocks. */
    size_t shared_total = 0, bad_base = 0, bad_noscan = 0, dup = 0;
    uint64_t tiny_before;
    gort_read_memstats(&ms0);
    tiny_before = ms0.tiny_allocs;
    for (size_t s = 1; s <= 8; s++) {
        void *t[32];
        void *base[32];
        size_t shared = 0;
        for (int i = 0; i < 32; i++)
            t[i] = gort_alloc_noscan(s);
        for (int i = 0; i < 32; i++) {
            size_t bs = 0;
            base[i] = rt_test_heap_object_base(t[i], &bs);
            size_t np = 0;
            if (base[i] == NULL || bs != 16 || (char *)t[i] < (char *)base[i] ||
                (char *)t[i] + s > (char *)base[i] + 16) {
                if (bad_base++ < 5)
                    print_message("noscan(%zu) = %p: base %p size %zu\n", s, t[i], base[i], bs);
            }
            if (!rt_test_heap_noscan(t[i], &np) || np != 1)
                bad_noscan++;
            for (int j = 0; j < i; j++)
                dup += t[j] == t[i];
            if (i > 0 && base[i] != NULL && base[i] == base[i - 1])
                shared++;
        }
        print_message("32 x gort_alloc_noscan(%zu): %zu consecutive pairs share a block\n", s,
                      shared);
        shared_total += shared;
    }
    gort_read_memstats(&ms1);

    /* 9..15 bytes are tiny too: each in a 16-byte block. */
    for (size_t s = 9; s <= 15; s++) {
        void *p = gort_alloc_noscan(s);
        size_t bs = 0, np = 0;
        void *b = rt_test_heap_object_base(p, &bs);
        if (b == NULL || bs != 16 || (char *)p + s > (char *)b + 16)
            bad_base++;
        if (!rt_test_heap_noscan(p, &np))
            bad_noscan++;
    }

    /* Objects that may hold pointers never share: gort_alloc(8) and an
     * 8-byte pointer type, interleaved with tiny allocations. */
    size_t scan_shared = 0, scan_bad = 0;
    for (int i = 0; i < 32; i++) {
        void *a = gort_alloc_noscan(3);
        void *b = (i & 1) ? gort_alloc(8) : gort_new(&p8_type);
        void *c = gort_alloc_noscan(1);
        size_t bs = 0, np = 0;
        void *base = rt_test_heap_object_base(b, &bs);
        if (base != b || bs != 8) {
            if (scan_shared++ < 5)
                print_message("%s: %p has base %p size %zu\n",
                              (i & 1) ? "gort_alloc(8)" : "gort_new(8-byte pointer type)", b,
                              base, bs);
        }
        if (rt_test_heap_noscan(b, &np) || !rt_test_heap_noscan(a, &np) ||
            !rt_test_heap_noscan(c, &np))
            scan_bad++;
    }

    /* 16 bytes is not tiny: each is an object of its own in class 16. */
    gort_read_memstats(&ms2);
    size_t sixteen_bad = 0;
    void *prev = NULL;
    for (int i = 0; i < 100; i++) {
        void *p = gort_alloc_noscan(16);
        size_t bs = 0, np = 0;
        if (rt_test_heap_object_base(p, &bs) != p || bs != 16 || p == prev ||
            !rt_test_heap_noscan(p, &np))
            sixteen_bad++;
        prev = p;
    }
    gort_read_memstats(&ms3);
    int i16 = bysize_index(&ms3, 16);

    print_message("tiny_allocs +%" PRIu64 " over 256 allocations of 1..8 bytes, %zu shared pairs\n",
                  ms1.tiny_allocs - tiny_before, shared_total);
    free_all();
    assert_int_equal(bad_base, 0);
    assert_int_equal(bad_noscan, 0);
    assert_int_equal(dup, 0);
    /* Packing is the rule: with 8-byte alignment two per block, so at
     * least half the pairs share, minus slack for a change of P. */
    assert_true(shared_total >= 8 * 12);
    assert_true(ms1.tiny_allocs - tiny_before >= shared_total);
    assert_int_equal(scan_shared, 0);
    assert_int_equal(scan_bad, 0);
    assert_int_equal(sixteen_bad, 0);
    assert_int_equal(ms3.tiny_allocs - ms2.tiny_allocs, 0);
    assert_true(i16 >= 0);
    assert_int_equal(ms3.by_size[i16].mallocs - ms2.by_size[i16].mallocs, 100);
    assert_int_equal(ms3.mallocs - ms2.mallocs, 100);
}

/* ---------------------------------------------------------------------
 * 4. Interior pointers
 * ------------------------------------------------------------------- */

static int static_word;

/* Every byte of the object at p (cs bytes) maps to p with size cs.  The
 * number of offsets that did not. */
static size_t bad_interior(char *p, size_t cs)
{
    size_t bad = 0;
    for (size_t i = 0; i < cs; i++) {
        size_t sz = 0;
        void *b = rt_test_heap_object_base(p + i, &sz);
        if (b != p || sz != cs) {
            if (bad++ < 3)
                print_message("object %p of %zu bytes: offset %zu gives base %p size %zu\n",
                              (void *)p, cs, i, b, sz);
        }
    }
    /* One past the end is another object or nothing. */
    size_t sz = 0;
    if (rt_test_heap_object_base(p + cs, &sz) == p)
        bad++;
    return bad;
}

static void test_interior_pointers_find_their_object_and_free_memory_finds_none(void **state)
{
    free_all();

    /* Small classes, scan and noscan: the middle one of three. */
    const size_t sizes[] = { 8, 16, 24, 48, 72, 104, 144, 1000, 1024, 1152, 3328,
                             8192, 9216, 26624, 32768 };
    size_t bad = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int kind = 0; kind < 2; kind++) {
            size_t size = sizes[i];
            if (kind == 1 && size < 16)
                continue;                      /* tiny */
            char *p[3];
            for (int j = 0; j < 3; j++)
                p[j] = kind == 0 ? gort_alloc(size) : gort_alloc_noscan(size);
            bad += bad_interior(p[1], class_of(size));
        }
    }

    /* A large object of 13 pages. */
    size_t np = 0;
    char *big = gort_alloc_noscan(13 * PAGE);
    bad += bad_interior(big, 13 * PAGE);
    bool big_noscan = rt_test_heap_noscan(big, &np);
    size_t big_npages = np;

    /* Free slots: fill several spans of 1024-byte objects, keep every
     * other one. */
    enum { NSLOT = 64 };
    char *slot[NSLOT];
    for (int i = 0; i < NSLOT; i++) {
        slot[i] = gort_alloc_noscan(1024);
        memset(slot[i], i + 1, 1024);
    }
    void *keep[NSLOT / 2];
    for (int i = 0; i < NSLOT / 2; i++)
        keep[i] = slot[2 * i];
    size_t mark_failed = cycle_keeping(keep, NSLOT / 2, true);
    size_t freed_found = 0, kept_lost = 0;
    const size_t offs[] = { 0, 1, 8, 511, 1016, 1023 };
    for (int i = 0; i < NSLOT; i++) {
        for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
            size_t sz = 0;
            void *b = rt_test_heap_object_base(slot[i] + offs[k], &sz);
            if (i % 2 == 1 && b != NULL)
                freed_found++;
            if (i % 2 == 0 && (b != slot[i] || sz != 1024))
                kept_lost++;
        }
    }
    /* The freed large object's pages are free too. */
    size_t sz = 0;
    void *big_after = rt_test_heap_object_base(big, &sz);
    void *big_mid_after = rt_test_heap_object_base(big + 6 * PAGE + 5, &sz);

    /* Not heap memory at all. */
    int local = 0;
    void *m = malloc(64);
    void *stack_b = rt_test_heap_object_base(&local, &sz);
    void *static_b = rt_test_heap_object_base(&static_word, &sz);
    void *malloc_b = rt_test_heap_object_base(m, &sz);
    void *code_b = rt_test_heap_object_base((const void *)(uintptr_t)&free_all, &sz);
    void *null_b = rt_test_heap_object_base(NULL, &sz);
    void *high_b = rt_test_heap_object_base((const void *)(uintptr_t)0x7ffffffff000ull, &sz);
    free(m);

    free_all();
    assert_int_equal(bad, 0);
    assert_true(big_noscan);
    assert_int_equal(big_npages, 13);
    assert_int_equal(mark_failed, 0);
    assert_int_equal(freed_found, 0);
    assert_int_equal(kept_lost, 0);
    assert_null(big_after);
    assert_null(big_mid_after);
    assert_null(stack_b);
    assert_null(static_b);
    assert_null(malloc_b);
    assert_null(code_b);
    assert_null(null_b);
    assert_null(high_b);
}

/* ---------------------------------------------------------------------
 * 5. Sweeping frees exactly the unmarked objects
 * ------------------------------------------------------------------- */

#define SW_N 10000

static struct obj sw_objs[SW_N];
static void *sw_keep[SW_N];

/* n objects of mixed classes (16 bytes and up, never tiny), a few large,
 * each filled with its tag. */
static void sw_alloc(struct obj *objs, size_t n, uint64_t seed)
{
    uint64_t r = seed;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = rnd(&r);
        size_t size;
        if (i % 500 == 250)
            size = MAX_SMALL + 1 + x % (160 * KIB);       /* large */
        else if (x % 8 == 0)
            size = 1024 + (x >> 8) % (MAX_SMALL - 1024 + 1);
        else
            size = 16 + (x >> 8) % 1009;
        size_t got;
        void *p = alloc_kind((int)((x >> 40) % 3), size, &got);
        objs[i] = (struct obj){ p, got };
        fill_tag(p, got, tag_of(seed, i));
    }
}

/* A 32-bit store over a stale heap pointer leaves a word made of the
 * pointer's high half and a small integer: an address in the first page of
 * a 4 GiB-aligned region, such as the heap's start at 0xc000000000.  The
 * heap never puts an object there, so a conservative scan of such words
 * keeps nothing.  In the plain build, where the heap starts at its hint,
 * the first objects of the process are right after that page. */
#define FP_N 512
static void test_no_object_lies_where_a_small_integer_over_a_heap_pointers_high_half_points(void **state)
{
    free_all();
    static void *objs[FP_N];
    for (int i = 0; i < FP_N; i++)
        objs[i] = i % 8 == 7 ? gort_alloc(40 * KIB) : gort_alloc((size_t)(16 << (i % 7)));
    size_t in_page = 0, near = 0;
    for (int i = 0; i < FP_N; i++) {
        uintptr_t low = (uintptr_t)objs[i] & 0xffffffffu;
        in_page += low < PAGE;
        near += low < MIB;
    }
    uintptr_t region = (uintptr_t)objs[0] & ~(uintptr_t)0xffffffffu;
    const uintptr_t small[] = { 0, 1, 2, 8, 255, 4096, PAGE - 1 };
    size_t found = 0;
    for (size_t k = 0; k < sizeof small / sizeof small[0]; k++)
        found += rt_test_heap_object_base((void *)(region | small[k]), NULL) != NULL;
    print_message("%zu of %d objects in the first MiB after a 4 GiB boundary\n", near, FP_N);
    assert_int_equal(in_page, 0);
    assert_int_equal(found, 0);
#if !GORT_TSAN && !GORT_ASAN
    /* The heap starts at its hint: the check above was not vacuous. */
    assert_true(near > 0);
#endif
    free_all();
}

static void test_sweeping_frees_exactly_the_unmarked_objects(void **state)
{
    free_all();
    sw_alloc(sw_objs, SW_N, 5);
    size_t nkeep = 0;
    for (size_t i = 0; i < SW_N; i += 2)
        sw_keep[nkeep++] = sw_objs[i].p;

    gort_read_memstats(&ms0);
    size_t mark_failed = cycle_keeping(sw_keep, nkeep, true);
    gort_read_memstats(&ms1);

    size_t lost = 0, corrupt = 0, survived = 0;
    for (size_t i = 0; i < SW_N; i++) {
        size_t sz = 0;
        void *b = rt_test_heap_object_base(sw_objs[i].p, &sz);
        if (i % 2 == 0) {
            if (b != sw_objs[i].p || sz < sw_objs[i].size)
                lost++;
            else if (!check_tag(sw_objs[i].p, sw_objs[i].size, tag_of(5, i)))
                corrupt++;
        } else if (b != NULL) {
            if (survived++ < 5)
                print_message("unmarked object %zu (%p, %zu bytes) is still an object\n", i,
                              sw_objs[i].p, sw_objs[i].size);
        }
    }
    size_t unmarked = SW_N - nkeep;
    print_message("heap_objects %" PRIu64 " -> %" PRIu64 ", frees +%" PRIu64
                  " (%zu unmarked)\n", ms0.heap_objects, ms1.heap_objects,
                  ms1.frees - ms0.frees, unmarked);
    bool ids0 = identities_hold(&ms0, "before the cycle");
    bool ids1 = identities_hold(&ms1, "after the cycle");
    free_all();
    assert_int_equal(mark_failed, 0);
    assert_int_equal(lost, 0);
    assert_int_equal(corrupt, 0);
    assert_int_equal(survived, 0);
    assert_int_equal(ms0.heap_objects - ms1.heap_objects, unmarked);
    assert_int_equal(ms1.frees - ms0.frees, unmarked);
    assert_int_equal(ms1.mallocs, ms0.mallocs);
    assert_true(ids0);
    assert_true(ids1);
}

/* ---------------------------------------------------------------------
 * 6. Coalescing
 * ------------------------------------------------------------------- */

#define CO_N 150

static void *co_large[CO_N];

/* Spans of small classes interleaved with large objects of 5..44 pages. */
static void co_workload(void)
{
    const size_t small[] = { 8192, 4096, 1280, 9216, 22528, 2560, 640 };
    for (int i = 0; i < CO_N; i++) {
        size_t s = small[i % (sizeof small / sizeof small[0])];
        size_t n = (48 * KIB) / s;                 /* a span's worth or more */
        for (size_t k = 0; k < n; k++)
            (void)((i & 1) ? gort_alloc(s) : gort_alloc_noscan(s));
        co_large[i] = gort_alloc_noscan((5 + (size_t)(i * 7) % 40) * PAGE - 100 * (i % 3));
    }
}

static void test_freed_pages_coalesce_into_one_free_run(void **state)
{
    /* Warm up: the same workload once, all freed, so that the heap has
     * grown to what the test needs. */
    free_all();
    co_workload();
    free_all();
    size_t pages0 = 0;
    size_t runs0 = rt_test_heap_free_runs(&pages0);
    uint64_t sys0 = rt_test_heap_sys();

    co_workload();
    /* Keep every other large object: holes between them. */
    void *keep[CO_N / 2];
    for (int i = 0; i < CO_N / 2; i++)
        keep[i] = co_large[2 * i + 1];
    size_t mark_failed = cycle_keeping(keep, CO_N / 2, true);
    size_t pages_mid = 0;
    size_t runs_mid = rt_test_heap_free_runs(&pages_mid);

    /* Is the heap one contiguous region?  Every large object in one
     * mapping at least heap_sys long says so. */
    uintptr_t lo = 0, hi = 0;
    bool contiguous = mapping_of((uintptr_t)co_large[0], &lo, &hi);
    for (int i = 0; i < CO_N && contiguous; i++)
        contiguous = (uintptr_t)co_large[i] >= lo && (uintptr_t)co_large[i] < hi;

    /* Free everything. */
    free_all();
    size_t pages1 = 0;
    size_t runs1 = rt_test_heap_free_runs(&pages1);
    uint64_t sys1 = rt_test_heap_sys();
    gort_read_memstats(&ms0);
    contiguous = contiguous && hi - lo >= sys1;

    print_message("free runs: %zu after warm-up (%zu pages, heap_sys %" PRIu64 "), %zu with "
                  "every other large object live, %zu after freeing all (%zu pages, heap_sys %"
                  PRIu64 "); heap %s one mapping of %zu MiB\n",
                  runs0, pages0, sys0, runs_mid, runs1, pages1, sys1,
                  contiguous ? "is" : "is not", (size_t)(hi - lo) / MIB);
    assert_int_equal(mark_failed, 0);
    /* The test did make holes ... */
    assert_true(runs_mid >= runs0 + 2);
    /* ... and they coalesced: as many runs as after the warm-up (unless
     * the heap grew into more arenas), and one run for a contiguous heap. */
    if (sys1 == sys0)
        assert_int_equal(runs1, runs0);
    else
        assert_true(runs1 <= runs0 + (sys1 - sys0 + (64 * MIB - 1)) / (64 * MIB));
    if (contiguous) {
        assert_int_equal(runs0, 1);
        assert_int_equal(runs1, 1);
    }
    /* Every free page is in a run. */
    assert_int_equal(sys1, ms0.heap_sys);
    assert_int_equal((uint64_t)pages1 * PAGE, ms0.heap_sys - ms0.heap_inuse);
    assert_int_equal((uint64_t)pages1 * PAGE, ms0.heap_idle);
    assert_true(identities_hold(&ms0, "after freeing all"));
}

/* ---------------------------------------------------------------------
 * 7. Large objects release their pages
 * ------------------------------------------------------------------- */

static void test_freed_large_object_pages_go_back_to_the_os(void **state)
{
    const size_t size = 8 * MIB;
    free_all();
    gort_free_os_memory();
    gort_read_memstats(&ms0);
    long long rss0 = gt_rss_bytes();

    char *p = gort_alloc_noscan(size);
    for (size_t i = 0; i < size; i += 4096)
        p[i] = (char)(i >> 12 | 1);
    p[size - 1] = 1;
    gort_read_memstats(&ms1);
    long long rss1 = gt_rss_bytes();

    free_all();
    size_t sz = 0;
    void *after = rt_test_heap_object_base(p, &sz);
    gort_read_memstats(&ms2);
    gort_free_os_memory();
    gort_read_memstats(&ms3);
    long long rss3 = gt_rss_bytes();

    print_message("8 MiB object: RSS %lld -> %lld -> %lld MiB; heap_released %" PRIu64
                  " -> %" PRIu64 " -> %" PRIu64 " KiB\n", rss0 / (long long)MIB,
                  rss1 / (long long)MIB, rss3 / (long long)MIB, ms0.heap_released / KIB,
                  ms1.heap_released / KIB, ms3.heap_released / KIB);
    assert_null(after);
    assert_int_equal(ms1.large_allocs - ms0.large_allocs, 1);
    assert_int_equal(ms2.large_frees - ms1.large_frees, 1);
    assert_true(ms3.heap_released >= ms1.heap_released + size);
    assert_true(ms3.heap_released <= ms3.heap_idle);
    assert_true(identities_hold(&ms3, "after gort_free_os_memory"));
    if (GT_TSAN) {
        print_message("RSS not checked: TSan's shadow memory hides the release\n");
        return;
    }
    /* Touching it made it resident; releasing it gave it back. */
    assert_true(rss1 - rss0 >= (long long)(7 * MIB));
    assert_true(rss1 - rss3 >= (long long)(7 * MIB));
}

/* ---------------------------------------------------------------------
 * 8. The background sweeper
 * ------------------------------------------------------------------- */

#define BG_N 4000

static struct obj bg_objs[BG_N];
static void *bg_keep[BG_N];

static void test_background_sweeper_finishes_the_sweep_by_itself(void **state)
{
    free_all();
    sw_alloc(bg_objs, BG_N, 8);
    size_t nkeep = 0;
    for (size_t i = 0; i < BG_N; i += 2)
        bg_keep[nkeep++] = bg_objs[i].p;
    gort_read_memstats(&ms0);

    size_t mark_failed = cycle_keeping(bg_keep, nkeep, false);
    /* No allocation from here on: only the background sweeper sweeps. */
    int64_t t0 = gort_nanotime();
    bool done = gt_wait_for(rt_test_heap_sweep_done(), gt_slow(10 * GORT_S));
    int64_t took = gort_nanotime() - t0;
    gort_read_memstats(&ms1);

    size_t lost = 0, survived = 0, corrupt = 0;
    for (size_t i = 0; i < BG_N; i++) {
        size_t sz = 0;
        void *b = rt_test_heap_object_base(bg_objs[i].p, &sz);
        if (i % 2 == 0) {
            if (b != bg_objs[i].p)
                lost++;
            else if (!check_tag(bg_objs[i].p, bg_objs[i].size, tag_of(8, i)))
                corrupt++;
        } else if (b != NULL) {
            survived++;
        }
    }
    print_message("background sweep done=%d after %.1f ms; frees +%" PRIu64 "\n", done,
                  (double)took / 1e6, ms1.frees - ms0.frees);
    free_all();
    assert_int_equal(mark_failed, 0);
    assert_true(done);
    assert_int_equal(lost, 0);
    assert_int_equal(corrupt, 0);
    assert_int_equal(survived, 0);
    assert_int_equal(ms1.frees - ms0.frees, BG_N - nkeep);
    assert_int_equal(ms0.heap_objects - ms1.heap_objects, BG_N - nkeep);
    assert_true(identities_hold(&ms1, "after the background sweep"));
}

/* ---------------------------------------------------------------------
 * 9. Concurrent allocation on every P
 * ------------------------------------------------------------------- */

#define CA_G 8

static struct {
    long per_g;
    struct obj *objs[CA_G];
    gort_waitgroup gate, allocated, finished;
    atomic_long nulls, overwritten;
    atomic_ullong ps_seen;          /* bit p: some allocation ran on P p */
} ca;

static void ca_worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    struct obj *objs = ca.objs[id];
    uint64_t r = 0x1234567ull * (uint64_t)(id + 1);
    gort_waitgroup_wait(&ca.gate);
    for (long i = 0; i < ca.per_g; i++) {
        uint64_t x = rnd(&r);
        size_t size;
        void *p;
        if (i % 5000 == 4999) {
            size = MAX_SMALL + 1 + x % (224 * KIB);   /* a few large */
            p = (x >> 50) & 1 ? gort_alloc(size) : gort_alloc_noscan(size);
        } else if (i % 256 == 128) {
            size = 1024 + (x >> 8) % (MAX_SMALL - 1024);
            p = gort_alloc(size);
        } else {
            switch ((x >> 60) & 15) {
            case 0: case 1: case 2: case 3:
                size = 1 + (x >> 8) % 15;             /* tiny */
                p = gort_alloc_noscan(size);
                break;
            case 4: case 5: case 6:
                size = 16 + (x >> 8) % 497;
                p = gort_alloc_noscan(size);
                break;
            case 7: case 8: case 9:
                size = 1 + (x >> 8) % 512;
                p = gort_alloc(size);
                break;
            case 10: case 11:
                size = sizeof(struct node);
                p = gort_new(&node_type);
                break;
            case 12: {
                size_t n = 1 + (x >> 8) % 16;
                size = n * sizeof(struct node);
                p = gort_new_array(&node_type, n);
                break;
            }
            default:
                size = 8;
                p = gort_alloc(8);
                break;
            }
        }
        if (p == NULL) {
            atomic_fetch_add(&ca.nulls, 1);
            size = 0;
        } else {
            fill_tag(p, size, tag_of((uint64_t)id, (uint64_t)i));
        }
        objs[i] = (struct obj){ p, size };
        if (i % 1024 == 0) {
            int32_t pid = rt_test_current_p();
            if (pid >= 0 && pid < 64)
                atomic_fetch_or(&ca.ps_seen, 1ull << pid);
        }
    }
    /* Check only once every goroutine has written all of its objects. */
    gort_waitgroup_done(&ca.allocated);
    gort_waitgroup_wait(&ca.allocated);
    long bad = 0;
    for (long i = 0; i < ca.per_g; i++)
        if (objs[i].p != NULL && !check_tag(objs[i].p, objs[i].size, tag_of((uint64_t)id, (uint64_t)i)))
            bad++;
    atomic_fetch_add(&ca.overwritten, bad);
    gort_waitgroup_done(&ca.finished);
}

static void test_concurrent_allocation_on_every_p_never_hands_out_overlapping_objects(void **state)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int procs = ncpu < 2 ? 2 : (int)ncpu;
    gort_gomaxprocs(procs);
    free_all();

    ca.per_g = gt_scale(100000);
    ca.gate = (gort_waitgroup)GORT_WAITGROUP_INIT;
    ca.allocated = (gort_waitgroup)GORT_WAITGROUP_INIT;
    ca.finished = (gort_waitgroup)GORT_WAITGROUP_INIT;
    atomic_store(&ca.nulls, 0);
    atomic_store(&ca.overwritten, 0);
    atomic_store(&ca.ps_seen, 0);
    for (int g = 0; g < CA_G; g++) {
        ca.objs[g] = calloc((size_t)ca.per_g, sizeof(struct obj));
        assert_non_null(ca.objs[g]);
    }
    gort_read_memstats(&ms0);

    gort_waitgroup_add(&ca.gate, 1);
    gort_waitgroup_add(&ca.allocated, CA_G);
    gort_waitgroup_add(&ca.finished, CA_G);
    int failures = 0;
    for (int g = 0; g < CA_G; g++)
        failures += gort_go(ca_worker, (void *)(intptr_t)g) != 0;
    int64_t t0 = gort_nanotime();
    gort_waitgroup_done(&ca.gate);
    bool finished = failures == 0 && gt_wg_wait_timeout(&ca.finished, gt_slow(120 * GORT_S));
    int64_t took = gort_nanotime() - t0;
    if (!finished) {
        /* Workers may still run: leave their arrays alone. */
        print_message("workers did not finish (spawn failures %d)\n", failures);
        fail();
    }
    gort_read_memstats(&ms1);

    /* Every object is a heap object holding its bytes; no two overlap. */
    size_t total = (size_t)ca.per_g * CA_G;
    struct obj *all = malloc(total * sizeof *all);
    assert_non_null(all);
    size_t n = 0, unknown = 0;
    for (int g = 0; g < CA_G; g++) {
        for (long i = 0; i < ca.per_g; i++) {
            struct obj o = ca.objs[g][i];
            if (o.p == NULL)
                continue;
            size_t sz = 0;
            char *b = rt_test_heap_object_base(o.p, &sz);
            if (b == NULL || (char *)o.p + o.size > b + sz)
                unknown++;
            all[n++] = o;
        }
        free(ca.objs[g]);
        ca.objs[g] = NULL;
    }
    size_t overlaps = count_overlaps(all, n);
    free(all);

    uint64_t ps = atomic_load(&ca.ps_seen);
    int nps = __builtin_popcountll(ps);
    uint64_t dm = ms1.mallocs - ms0.mallocs;
    uint64_t dtiny = ms1.tiny_allocs - ms0.tiny_allocs;
    bool tiny_counted = tiny_in_mallocs(&ms1);
    print_message("%d goroutines x %ld allocations on %d Ps (seen on %d) in %.0f ms: "
                  "mallocs +%" PRIu64 ", tiny_allocs +%" PRIu64 " (%s in mallocs)\n",
                  CA_G, ca.per_g, procs, nps, (double)took / 1e6, dm, dtiny,
                  tiny_counted ? "counted" : "not counted");
    bool ids = identities_hold(&ms1, "after the workers");
    free_all();
    assert_int_equal(atomic_load(&ca.nulls), 0);
    assert_int_equal(atomic_load(&ca.overwritten), 0);
    assert_int_equal(unknown, 0);
    assert_int_equal(overlaps, 0);
    assert_true(nps >= 2);
    assert_true(dm + (tiny_counted ? 0 : dtiny) >= total);
    assert_true(ids);
}

/* ---------------------------------------------------------------------
 * 10. MemStats identities
 * ------------------------------------------------------------------- */

static const struct {
    int kind;        /* 0 gort_alloc, 1 gort_alloc_noscan, 2 gort_new node, 3 gort_new_array */
    size_t size;     /* bytes (kind 3: elements) */
} ms_seq[] = {
    { 0, 16 }, { 0, 17 }, { 1, 16 }, { 1, 24 }, { 0, 33 }, { 2, 0 }, { 2, 0 }, { 0, 100 },
    { 1, 257 }, { 3, 5 }, { 0, 1000 }, { 1, 1025 }, { 0, 4000 }, { 3, 100 }, { 1, 8193 },
    { 0, 20000 }, { 1, 32768 }, { 0, 8 }, { 0, 9 }, { 1, 777 }, { 0, 12345 }, { 3, 1 },
};

#define MS_REPEAT 40
#define MS_NSMALL (MS_REPEAT * (sizeof ms_seq / sizeof ms_seq[0]))

static const size_t ms_large[] = { 5 * PAGE, 8 * PAGE, 128 * PAGE, 5 * PAGE, 33 * PAGE };
#define MS_NLARGE (sizeof ms_large / sizeof ms_large[0])

static void *ms_small_p[MS_NSMALL];
static size_t ms_small_cs[MS_NSMALL];
static void *ms_large_p[MS_NLARGE];
static void *ms_keep[MS_NSMALL + MS_NLARGE];
static uint64_t ms_cls_m[GORT_NUM_SIZE_CLASSES], ms_cls_f[GORT_NUM_SIZE_CLASSES];

static void test_memstats_identities_hold_at_quiescent_points(void **state)
{
    free_all();
    gort_read_memstats(&ms0);
    assert_true(identities_hold(&ms0, "start"));

    /* A known sequence of small objects (never tiny), one goroutine. */
    uint64_t small_bytes = 0;
    memset(ms_cls_m, 0, sizeof ms_cls_m);
    memset(ms_cls_f, 0, sizeof ms_cls_f);
    size_t n = 0;
    for (int rep = 0; rep < MS_REPEAT; rep++) {
        for (size_t i = 0; i < sizeof ms_seq / sizeof ms_seq[0]; i++) {
            size_t size = ms_seq[i].size;
            void *p;
            switch (ms_seq[i].kind) {
            case 0: p = gort_alloc(size); break;
            case 1: p = gort_alloc_noscan(size); break;
            case 2: p = gort_new(&node_type); size = sizeof(struct node); break;
            default: p = gort_new_array(&node_type, size); size *= sizeof(struct node); break;
            }
            size_t cs = class_of(size);
            int bi = bysize_index(&ms0, cs);
            assert_true(bi >= 0);
            ms_cls_m[bi]++;
            ms_small_p[n] = p;
            ms_small_cs[n++] = cs;
            small_bytes += cs;
        }
    }
    gort_read_memstats(&ms1);

    /* A few large objects of whole pages. */
    uint64_t large_bytes = 0;
    for (size_t i = 0; i < MS_NLARGE; i++) {
        ms_large_p[i] = (i & 1) ? gort_alloc(ms_large[i]) : gort_alloc_noscan(ms_large[i]);
        large_bytes += ms_large[i];
    }
    gort_read_memstats(&ms2);

    /* A hand cycle keeping every other object, small and large. */
    size_t nkeep = 0;
    uint64_t freed_bytes = 0, freed_small = 0, freed_large = 0, freed_large_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 2 == 0) {
            ms_keep[nkeep++] = ms_small_p[i];
        } else {
            ms_cls_f[bysize_index(&ms0, ms_small_cs[i])]++;
            freed_bytes += ms_small_cs[i];
            freed_small++;
        }
    }
    for (size_t i = 0; i < MS_NLARGE; i++) {
        if (i % 2 == 0) {
            ms_keep[nkeep++] = ms_large_p[i];
        } else {
            freed_bytes += ms_large[i];
            freed_large_bytes += ms_large[i];
            freed_large++;
        }
    }
    size_t mark_failed = cycle_keeping(ms_keep, nkeep, true);
    gort_read_memstats(&ms3);

    free_all();
    gort_read_memstats(&ms4);

    bool id1 = identities_hold(&ms1, "after the small objects");
    bool id2 = identities_hold(&ms2, "after the large objects");
    bool id3 = identities_hold(&ms3, "after the cycle");
    bool id4 = identities_hold(&ms4, "after freeing all");
    uint64_t sys_hook = rt_test_heap_sys();
    assert_true(id1);
    assert_true(id2);
    assert_true(id3);
    assert_true(id4);
    assert_int_equal(mark_failed, 0);
    assert_int_equal(sys_hook, ms4.heap_sys);

    /* Small objects: counted per class, charged their class size. */
    assert_int_equal(ms1.total_alloc - ms0.total_alloc, small_bytes);
    assert_int_equal(ms1.heap_alloc - ms0.heap_alloc, small_bytes);
    assert_int_equal(ms1.mallocs - ms0.mallocs, n);
    assert_int_equal(ms1.heap_objects - ms0.heap_objects, n);
    assert_int_equal(ms1.tiny_allocs, ms0.tiny_allocs);
    assert_int_equal(ms1.large_allocs, ms0.large_allocs);
    for (int i = 0; i < GORT_NUM_SIZE_CLASSES; i++)
        assert_int_equal(ms1.by_size[i].mallocs - ms0.by_size[i].mallocs, ms_cls_m[i]);
    assert_int_equal(large_live_bytes(&ms1), large_live_bytes(&ms0));

    /* Large objects: whole pages, outside by_size. */
    assert_int_equal(ms2.total_alloc - ms1.total_alloc, large_bytes);
    assert_int_equal(ms2.heap_alloc - ms1.heap_alloc, large_bytes);
    assert_int_equal(ms2.large_allocs - ms1.large_allocs, MS_NLARGE);
    assert_int_equal(ms2.mallocs - ms1.mallocs, MS_NLARGE);
    assert_int_equal(large_live_bytes(&ms2) - large_live_bytes(&ms1), (int64_t)large_bytes);

    /* The cycle freed exactly the unmarked ones. */
    assert_int_equal(ms3.frees - ms2.frees, freed_small + freed_large);
    assert_int_equal(ms2.heap_alloc - ms3.heap_alloc, freed_bytes);
    assert_int_equal(ms3.large_frees - ms2.large_frees, freed_large);
    assert_int_equal(large_live_bytes(&ms2) - large_live_bytes(&ms3), (int64_t)freed_large_bytes);
    for (int i = 0; i < GORT_NUM_SIZE_CLASSES; i++)
        assert_int_equal(ms3.by_size[i].frees - ms2.by_size[i].frees, ms_cls_f[i]);
    assert_int_equal(ms3.total_alloc, ms2.total_alloc);
    assert_int_equal(ms3.mallocs, ms2.mallocs);

    /* And freeing the rest goes back to the start. */
    assert_int_equal(ms4.heap_alloc, ms0.heap_alloc);
    assert_int_equal(ms4.heap_objects, ms0.heap_objects);
    assert_int_equal(ms4.frees - ms0.frees, ms4.mallocs - ms0.mallocs);
    assert_int_equal(ms4.total_alloc - ms0.total_alloc, small_bytes + large_bytes);
}

/* ---------------------------------------------------------------------
 * 11. RSS after a 1 GiB burst
 * ------------------------------------------------------------------- */

static void touch_pages(char *p, size_t n, uint64_t *sum)
{
    for (size_t i = 0; i < n; i += 4096)
        p[i] = (char)(i >> 12 | 1);
    p[n - 1] = 1;
    *sum += (uint64_t)(unsigned char)p[0];
}

static void test_rss_returns_after_a_1gib_burst_is_freed_and_released(void **state)
{
    /* Under TSan the shadow memory of every byte written stays resident:
     * a smaller burst, and only the heap's own accounting is checked. */
    const size_t half = GT_TSAN ? 32 * MIB : 512 * MIB;
    const size_t total = 2 * half;
    const long long slack = (long long)(40 * MIB);

    free_all();
    gort_free_os_memory();
    gort_read_memstats(&ms0);
    long long rss0 = gt_rss_bytes();
    int64_t t0 = gort_nanotime();

    uint64_t r = 11, sum = 0;
    size_t large_done = 0, small_done = 0, nlarge = 0, nsmall = 0;
    while (large_done < half || small_done < half) {
        if (large_done < half) {
            size_t size = 64 * KIB + rnd(&r) % (MIB - 64 * KIB + 1);
            char *p = (r & 1) ? gort_alloc(size) : gort_alloc_noscan(size);
            touch_pages(p, size, &sum);
            large_done += size;
            nlarge++;
        }
        for (int k = 0; k < 32 && small_done < half; k++) {
            size_t size = 1024 + rnd(&r) % (MAX_SMALL - 1024 + 1);
            char *p = (r & 2) ? gort_alloc(size) : gort_alloc_noscan(size);
            touch_pages(p, size, &sum);
            small_done += size;
            nsmall++;
        }
    }
    gort_read_memstats(&ms1);
    long long rss_peak = gt_rss_bytes();
    int64_t t1 = gort_nanotime();

    free_all();
    gort_read_memstats(&ms2);
    gort_free_os_memory();
    int64_t t2 = gort_nanotime();
    gort_read_memstats(&ms3);
    long long rss_end = gt_rss_bytes();

    fprintf(stderr, "heap burst of %zu MiB (%zu large, %zu small objects) in %.0f ms, "
            "freed and released in %.0f ms: RSS start %lld MiB, peak %lld MiB, end %lld MiB; "
            "heap_released %" PRIu64 " MiB at peak, %" PRIu64 " MiB at end (heap_idle %"
            PRIu64 " MiB, heap_sys %" PRIu64 " MiB)\n",
            total / MIB, nlarge, nsmall, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
            rss0 / (long long)MIB, rss_peak / (long long)MIB, rss_end / (long long)MIB,
            ms1.heap_released / MIB, ms3.heap_released / MIB, ms3.heap_idle / MIB,
            ms3.heap_sys / MIB);

    assert_true(sum > 0);
    assert_true(ms1.heap_alloc - ms0.heap_alloc >= total);
    assert_true(identities_hold(&ms1, "at the peak"));
    assert_true(identities_hold(&ms2, "after freeing"));
    assert_true(identities_hold(&ms3, "after gort_free_os_memory"));
    assert_int_equal(ms2.heap_alloc, ms0.heap_alloc);
    /* The freed pages were released, and every free page is. */
    assert_true(ms3.heap_released - ms1.heap_released >= total - (size_t)slack);
    assert_true(ms3.heap_released <= ms3.heap_idle);
    assert_int_equal(ms3.heap_released, ms3.heap_idle);
    if (GT_TSAN) {
        print_message("RSS not checked: TSan's shadow memory hides the release\n");
        return;
    }
    /* The burst was resident, and RSS came back to within 40 MiB. */
    assert_true(rss_peak - rss0 >= (long long)(total / 10 * 9));
    assert_true(rss_end - rss0 <= slack);
}

/* The collector's pointer bitmap (one 4 KiB page for each 256 KiB of heap)
 * goes back to the OS with the heap it describes.  gort_free_os_memory
 * releases a large free run in steps of 1 MiB, which start at the run's
 * first page, not on a chunk boundary: the chunks that straddle two steps
 * must go as well as those inside one.  Only the chunks that lie wholly
 * inside an object are counted: the allocator fills the best-fitting hole
 * first, so the objects may sit between spans that stay in use, and a
 * chunk shared with one of those keeps its bitmap page. */
static void test_free_os_memory_gives_back_the_pointer_bitmap_of_the_freed_heap(void **state)
{
    enum { N = 48 };
    const size_t size = MIB + 24 * KIB;   /* objects that do not line up with the chunks */
    free_all();
    gort_free_os_memory();
    void *obj[N];
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < N; i++) {
        /* Conservative: every pointer bit of the object is set. */
        obj[i] = gort_alloc(size);
        uintptr_t p = (uintptr_t)obj[i];
        lo = p < lo ? p : lo;
        hi = p + size > hi ? p + size : hi;
    }
    size_t pages = 0, before = 0;
    for (int i = 0; i < N; i++) {
        size_t n;
        before += rt_test_heap_ptrbits_resident(obj[i], size, &n);
        pages += n;
    }
    free_all();
    gort_free_os_memory();
    size_t after = 0;
    for (int i = 0; i < N; i++) {
        size_t left = rt_test_heap_ptrbits_resident(obj[i], size, NULL);
        if (left)
            print_message("object %d at %p: %zu bitmap pages still resident\n", i, obj[i], left);
        after += left;
    }
    print_message("pointer bitmap of %d objects of %zu KiB spread over %zu MiB of heap: %zu of the "
                  "%zu pages inside them resident while they lived, %zu after gort_free_os_memory\n",
                  N, size / KIB, (size_t)(hi - lo) / MIB, before, pages, after);
    /* Each object covers at least 3 whole chunks, whose bits it set. */
    assert_true(pages >= 3 * N);
    assert_int_equal(before, pages);
    assert_int_equal(after, 0);
}

/* ---------------------------------------------------------------------
 * 12. Bad input
 * ------------------------------------------------------------------- */

static const size_t misaligned_offs[] = { 3 };
static const gort_type misaligned_type = { "struct misaligned", 16, 1, misaligned_offs };
static const size_t outside_offs[] = { 0, 16 };
static const gort_type outside_type = { "struct outside", 16, 2, outside_offs };

static void op_new_null(void *arg) { (void)gort_new(NULL); }
static void op_new_array_null(void *arg) { (void)gort_new_array(NULL, 1); }
static void op_new_array_overflow(void *arg) { (void)gort_new_array(&node_type, SIZE_MAX / 16); }
static void op_new_misaligned(void *arg) { (void)gort_new(&misaligned_type); }
static void op_new_outside(void *arg) { (void)gort_new(&outside_type); }
static void op_new_array_misaligned(void *arg) { (void)gort_new_array(&misaligned_type, 2); }

static void expect_panic(const char *what, gort_fn op, const char *pattern)
{
    const char *msg = gt_panic_message_of(op, NULL);
    print_message("%s: %s\n", what, msg != NULL ? msg : "(no panic)");
    assert_non_null(msg);
    assert_true(msg[0] != '\0');
    assert_true(gt_matches(msg, pattern));
}

static void test_bad_types_and_sizes_panic_and_zero_sizes_do_not(void **state)
{
    expect_panic("gort_new(NULL)", op_new_null, "gort_new");
    expect_panic("gort_new_array(NULL, 1)", op_new_array_null, "gort_new_array");
    /* 24 * (SIZE_MAX / 16) overflows. */
    expect_panic("gort_new_array(node, SIZE_MAX/16)", op_new_array_overflow,
                 "gort_new_array.*(overflow|1152921504606846975)");
    expect_panic("gort_new(offset 3)", op_new_misaligned,
                 "gort_new.*(struct misaligned|offset|align)");
    expect_panic("gort_new(offset 16 of 16)", op_new_outside,
                 "gort_new.*(struct outside|offset|outside)");
    expect_panic("gort_new_array(offset 3)", op_new_array_misaligned,
                 "gort_new.*(struct misaligned|offset|align)");

    /* Size 0: one shared non-NULL address. */
    void *a = gort_alloc(0), *b = gort_alloc_noscan(0), *c = gort_alloc(0);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_equal(a, c);
    assert_ptr_equal(a, b);
    /* The runtime still works after the panics. */
    struct node *nd = gort_new(&node_type);
    assert_non_null(nd);
    assert_true(is_zero(nd, sizeof *nd));
}

/* ---------------------------------------------------------------------
 * 13. Out of memory
 * ------------------------------------------------------------------- */

static void test_out_of_memory_is_fatal_and_names_the_size(void **state)
{
    gt_proc r;
    gt_run("oom", NULL, NULL, HELPER_TIMEOUT, &r);

    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^fatal error: out of memory"), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^fatal error: out of memory.*70368744177664"), &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "survived"), &r);
    gt_proc_free(&r);
}

/* ---------------------------------------------------------------------
 * 14. Pointer bits
 * ------------------------------------------------------------------- */

#define PB_N 600

static void *pb_objs[PB_N];

static void test_pointer_bits_follow_the_type_even_in_reused_slots(void **state)
{
    free_all();
    size_t bad = 0;

    /* Fill slots of the 24- and 32-byte classes with conservative objects
     * (every word a possible pointer), free them, and allocate typed
     * objects into the same slots. */
    for (int i = 0; i < PB_N; i++)
        pb_objs[i] = gort_alloc(i & 1 ? sizeof(struct node) : sizeof(struct mid));
    size_t cons_bad = 0;
    for (int i = 0; i < PB_N; i++) {
        size_t words = (i & 1 ? sizeof(struct node) : sizeof(struct mid)) / 8;
        for (size_t w = 0; w < words; w++)
            cons_bad += !rt_test_heap_ptrbit((char *)pb_objs[i] + 8 * w);
    }
    free_all();

    size_t typed_bad = 0;
    for (int i = 0; i < PB_N; i++) {
        if (i & 1) {
            struct node *n = gort_new(&node_type);
            typed_bad += !rt_test_heap_ptrbit(&n->left) + !rt_test_heap_ptrbit(&n->right) +
                         rt_test_heap_ptrbit(&n->value);
        } else {
            struct mid *m = gort_new(&mid_type);
            typed_bad += rt_test_heap_ptrbit(&m->a) + !rt_test_heap_ptrbit(&m->p) +
                         rt_test_heap_ptrbit(&m->b) + rt_test_heap_ptrbit(&m->c);
        }
    }

    /* Arrays repeat the element's bits. */
    struct node *arr = gort_new_array(&node_type, 50);
    for (int i = 0; i < 50; i++)
        bad += !rt_test_heap_ptrbit(&arr[i].left) + !rt_test_heap_ptrbit(&arr[i].right) +
               rt_test_heap_ptrbit(&arr[i].value);

    /* Conservative objects have every bit.  Pointer-free objects live in
     * noscan spans, which the collector never scans whatever bits their
     * memory kept from earlier use (the bitmap is for scan spans only). */
    size_t noscan_bad = 0;
    size_t np = 0;
    uint64_t *q = gort_alloc_noscan(256);
    uint64_t *c = gort_alloc(256);
    for (int w = 0; w < 32; w++)
        cons_bad += !rt_test_heap_ptrbit(&c[w]);
    noscan_bad += !rt_test_heap_noscan(q, &np);
    noscan_bad += rt_test_heap_noscan(c, &np);
    noscan_bad += rt_test_heap_noscan(arr, &np);
    free_all();
    print_message("wrong pointer bits: conservative %zu, typed in reused slots %zu, "
                  "array %zu, wrong span kind %zu\n", cons_bad, typed_bad, bad, noscan_bad);
    assert_int_equal(cons_bad, 0);
    assert_int_equal(typed_bad, 0);
    assert_int_equal(bad, 0);
    assert_int_equal(noscan_bad, 0);
}

/* ---------------------------------------------------------------------
 * 16. Threads that are not goroutines allocate too (a shared cache)
 * ------------------------------------------------------------------- */

#define FT_N 20000
#define FT_THREADS 2

struct ft_arg {
    int id;
    uint64_t **objs;
    int bad;
};

static void *ft_thread(void *p)
{
    struct ft_arg *a = p;
    uint64_t r = (uint64_t)a->id + 1;
    for (int i = 0; i < FT_N; i++) {
        size_t words = 1 + rnd(&r) % 64;
        uint64_t *o = (r & 1) ? gort_alloc(words * 8) : gort_alloc_noscan(words * 8);
        for (size_t w = 0; w < words; w++) {
            if (o[w] != 0)
                a->bad++;
            o[w] = ((uint64_t)a->id << 32) | (uint64_t)i;
        }
        a->objs[i] = o;
    }
    /* Every object still holds what this thread wrote: nothing else got
     * the same memory. */
    r = (uint64_t)a->id + 1;
    for (int i = 0; i < FT_N; i++) {
        size_t words = 1 + rnd(&r) % 64;
        for (size_t w = 0; w < words; w++)
            if (a->objs[i][w] != (((uint64_t)a->id << 32) | (uint64_t)i))
                a->bad++;
    }
    return NULL;
}

static void ft_goroutine(void *p)
{
    struct ft_arg *a = p;
    ft_thread(a);
    gort_waitgroup_done((gort_waitgroup *)a->objs[FT_N]);
}

static void test_threads_without_a_p_allocate_alongside_goroutines(void **state)
{
    free_all();
    gort_read_memstats(&ms0);
    struct ft_arg args[FT_THREADS + 1];
    pthread_t th[FT_THREADS];
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    for (int t = 0; t <= FT_THREADS; t++) {
        args[t].id = t + 1;
        args[t].objs = calloc(FT_N + 1, sizeof(uint64_t *));
        args[t].bad = 0;
        assert_non_null(args[t].objs);
    }
    /* The last one is a goroutine, allocating at the same time. */
    args[FT_THREADS].objs[FT_N] = (uint64_t *)&wg;
    gort_waitgroup_add(&wg, 1);
    assert_int_equal(gort_go(ft_goroutine, &args[FT_THREADS]), 0);
    for (int t = 0; t < FT_THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, ft_thread, &args[t]), 0);
    /* A blocking call: bracketed, so the P goes to the goroutine. */
    gort_syscall_enter();
    for (int t = 0; t < FT_THREADS; t++)
        pthread_join(th[t], NULL);
    gort_syscall_exit();
    gort_waitgroup_wait(&wg);
    gort_read_memstats(&ms1);
    for (int t = 0; t <= FT_THREADS; t++) {
        assert_int_equal(args[t].bad, 0);
        for (int i = 0; i < FT_N; i++)
            assert_non_null(rt_test_heap_object_base(args[t].objs[i], NULL));
        free(args[t].objs);
    }
    assert_true(ms1.mallocs - ms0.mallocs >= (uint64_t)(FT_THREADS + 1) * FT_N);
    assert_true(identities_hold(&ms1, "after threads allocated"));
}

/* ---------------------------------------------------------------------
 * 15. The scavenger's trace lines and periodic release (tests/progs/scvg.c)
 * ------------------------------------------------------------------- */

/* The seeds' format: an optional "N MB released" line, then the summary. */
#define SCVG_SUMMARY "scvg-?[0-9]+: inuse: [0-9]+, idle: [0-9]+, sys: [0-9]+, released: [0-9]+, consumed: [0-9]+ \\(MB\\)$"

static void test_free_os_memory_prints_scvg_minus_one_lines_with_gctrace(void **state)
{
    const char *const args[] = { "freeos", NULL };
    const char *const env[] = { "GODEBUG=gctrace=1", NULL };
    gt_proc r;
    gt_run("scvg", args, env, HELPER_TIMEOUT, &r);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    /* The 3 MiB freed, all released by gort_free_os_memory (the heap is
     * under the background scavenger's goal). */
    GT_ASSERT_PROC(gt_matches(r.err, "^scvg-1: 3 MB released$"), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^scvg-1: inuse: 0, idle: 3, sys: 3, released: 3, consumed: 0 "
                                     "\\(MB\\)$"), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^" SCVG_SUMMARY), &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^released [0-9]{7,}$"), &r);
    gt_proc_free(&r);

    /* Without gctrace the release is silent. */
    gt_run("scvg", args, NULL, HELPER_TIMEOUT, &r);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(!gt_matches(r.err, "scvg"), &r);
    gt_proc_free(&r);
}

static void test_released_memory_is_reused_zeroed_with_madv_dontneed_and_madv_free(void **state)
{
    /* The same 3 MiB come back (the heap's only free run), zeroed whether
     * the kernel dropped the pages (MADV_DONTNEED) or may have kept them
     * (MADV_FREE, madvdontneed=0). */
    const char *const args[] = { "reuse", NULL };
    const char *const dontneed[] = { "GODEBUG=gctrace=1", NULL };
    const char *const madvfree[] = { "GODEBUG=gctrace=1,madvdontneed=0", NULL };
    const char *const *envs[] = { dontneed, madvfree };
    for (int i = 0; i < 2; i++) {
        gt_proc r;
        gt_run("scvg", args, envs[i], HELPER_TIMEOUT, &r);
        GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
        GT_ASSERT_PROC(gt_matches(r.err, "^scvg-1: 3 MB released$"), &r);
        GT_ASSERT_PROC(gt_matches(r.out, "^same 1 nonzero 0$"), &r);
        gt_proc_free(&r);
    }
    /* Locked pages: the kernel refuses to drop them, so they keep their
     * bytes, and the heap must know it. */
    const char *const locked[] = { "locked", NULL };
    gt_proc r;
    gt_run("scvg", locked, NULL, HELPER_TIMEOUT, &r);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    if (gt_matches(r.out, "^mlock unavailable$"))
        print_message("locked pages not checked: mlock refused (RLIMIT_MEMLOCK)\n");
    else
        GT_ASSERT_PROC(gt_matches(r.out, "^same 1 nonzero 0$"), &r);
    gt_proc_free(&r);
}

static void test_sysmon_releases_spans_free_past_the_scavenge_limit(void **state)
{
    /* scavenge=1: spans free for 20 ms are released every 10 ms.  The heap
     * stays under the background scavenger's goal, so only the periodic
     * pass can release the freed 2 MiB. */
    const char *const args[] = { "periodic", NULL };
    const char *const env[] = { "GODEBUG=gctrace=1,scavenge=1", NULL };
    gt_proc r;
    gt_run("scvg", args, env, HELPER_TIMEOUT, &r);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^scvg[0-9]+: 2 MB released$"), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^" SCVG_SUMMARY), &r);
    GT_ASSERT_PROC(!gt_matches(r.err, "^scvg-1"), &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^released [0-9]{7,}$"), &r);
    gt_proc_free(&r);
}

/* ---------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, gt_save_knobs, gt_restore_knobs)

static void run_all(void *arg)
{
    const struct CMUnitTest tests[] = {
        T(test_size_classes_map_every_size_to_the_smallest_class_that_holds_it),
        T(test_every_allocation_is_zeroed_and_aligned_also_when_memory_is_reused),
        T(test_tiny_blocks_are_shared_only_by_pointer_free_objects_under_16_bytes),
        T(test_interior_pointers_find_their_object_and_free_memory_finds_none),
        T(test_no_object_lies_where_a_small_integer_over_a_heap_pointers_high_half_points),
        T(test_sweeping_frees_exactly_the_unmarked_objects),
        T(test_freed_pages_coalesce_into_one_free_run),
        T(test_freed_large_object_pages_go_back_to_the_os),
        T(test_background_sweeper_finishes_the_sweep_by_itself),
        T(test_concurrent_allocation_on_every_p_never_hands_out_overlapping_objects),
        T(test_memstats_identities_hold_at_quiescent_points),
        T(test_rss_returns_after_a_1gib_burst_is_freed_and_released),
        T(test_free_os_memory_gives_back_the_pointer_bitmap_of_the_freed_heap),
        T(test_bad_types_and_sizes_panic_and_zero_sizes_do_not),
        T(test_out_of_memory_is_fatal_and_names_the_size),
        T(test_pointer_bits_follow_the_type_even_in_reused_slots),
        T(test_free_os_memory_prints_scvg_minus_one_lines_with_gctrace),
        T(test_released_memory_is_reused_zeroed_with_madv_dontneed_and_madv_free),
        T(test_sysmon_releases_spans_free_past_the_scavenge_limit),
        T(test_threads_without_a_p_allocate_alongside_goroutines),
    };
    /* cmocka keeps its state in thread-local variables: the goroutine that
     * runs the group must not move to another thread. */
    gort_lock_os_thread();
    gort_set_gc_percent(-1);   /* the hand cycles are the only ones */
    gt_select_tests();
    *(int *)arg = cmocka_run_group_tests(tests, NULL, NULL);
    gort_unlock_os_thread();
}

int main(void)
{
    return gt_main("test_heap", run_all);
}
