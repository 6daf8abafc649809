/*
 * alloc.c - heap allocation benchmarks: small pointerful objects described
 * by a type, 8-byte pointer-free objects and 4 KiB conservatively scanned
 * blocks, all allocated by the main goroutine alone.
 *
 *     alloc WORKLOAD [N]       (ptr16, ptr64, noscan8, alloc4k)
 *
 * runs one workload and prints exactly one result line on stdout,
 *
 *     ptr16 ns_per_op=12.3
 *
 * that is, the workload's name followed by key=value pairs.  bench/run.sh and
 * bench/compare.sh parse that line; bench/go/alloc/main.go is the same
 * program in Go and prints the same line, so the two can be compared field
 * by field.  Keep the two programs doing the same work step for step: a
 * difference between them is a difference in what is measured.
 *
 * The collector is off on both sides (gort_set_gc_percent(-1), Go's
 * debug.SetGCPercent(-1)): each side measures its allocation path and its
 * heap growth, never a collection (bench/gc.c measures allocation with the
 * collector on).  Every object stays reachable anyway,
 * so memory is N times the object's size; the table's N keep it well under
 * 1 GiB.
 *
 * Each allocation is used as a program uses it: the new object is stored
 * in a ring of 1024 sinks (volatile here, a package variable in Go, so
 * that neither compiler can drop the allocation or keep the object off the
 * heap) and one word of it is written, which touches its memory.  The
 * pointerful objects link to the previous one, so after the clock stops
 * the chain is walked to check that each of the N objects kept its link
 * and came zeroed: an allocator that hands out overlapping memory breaks
 * the chain and fails the run with exit status 1 instead of reporting a
 * fast number.  The 8-byte objects, which cannot hold a link, are checked
 * through the ring instead.  The checks are outside the timed loop.
 *
 * Each workload runs once per process, from a fresh runtime, after a
 * warm-up of 10,000 allocations of the same kind (which sets up the P's
 * cache for the size class, as a running program would have it).  Heap
 * growth and the first-touch page faults of the timed allocations are part
 * of the number, for gort and Go alike.  The result is computed on the main
 * goroutine and printed after gort_main has returned.
 *
 * Errors (bad arguments, a failed check) go to stderr with exit status 1
 * (2 for usage), and no result line is printed.
 */
#include "bench.h"

#define WARMUP 10000

/* The sink ring.  The elements themselves are volatile, so that every store
 * happens even though nothing reads them back during the loop. */
#define SINK_LEN 1024
static void *volatile sink[SINK_LEN];

/* A check failed: an object came with a non-zero word where nothing was
 * written.  back counts the objects from the last one allocated (0). */
static _Noreturn void not_zeroed(const char *workload, const char *what, int64_t back)
{
    fprintf(stderr, "%s: %s: %s is not zero in object %lld, counting back from the last\n",
            bench_prog, workload, what, (long long)back);
    exit(1);
}

/* ---------------------------------------------------------------------
 * ptr16: gort_new of a 16-byte struct of two pointers, Go's
 * new(pair) with type pair struct{ a, b *pair }: the smallest object that
 * holds pointers, so the size class 16 span of objects the collector will
 * scan precisely (Go's tiny allocator is for pointer-free objects only).
 * Field a is set to the previous object.
 * ------------------------------------------------------------------- */

struct pair {
    struct pair *a, *b;
};
GORT_TYPE(t16_type, struct pair, a, b);

static struct pair *ptr16_loop(int64_t n)
{
    struct pair *prev = NULL;
    for (int64_t i = 0; i < n; i++) {
        struct pair *p = gort_new(&t16_type);
        p->a = prev;
        sink[i & (SINK_LEN - 1)] = p;
        prev = p;
    }
    return prev;
}

static void bench_ptr16(void)
{
    ptr16_loop(WARMUP);
    int64_t t0 = gort_nanotime();
    struct pair *last = ptr16_loop(n_ops);
    int64_t t1 = gort_nanotime();

    int64_t count = 0;
    for (struct pair *p = last; p != NULL && count <= n_ops; p = p->a, count++)
        if (p->b != NULL)
            not_zeroed("ptr16", "field b", count);
    if (count != n_ops)
        wrong("ptr16", "length of the chain of objects", count, n_ops);
    set_result("ptr16", t0, t1, n_ops);
}

/* ---------------------------------------------------------------------
 * ptr64: gort_new of a 64-byte struct whose pointers are at offsets 0, 8
 * and 24, with integers in between and after, as in Go's
 * new(obj64): a record mixing links and data, size class 64, where only
 * the first 32 bytes hold pointers.  Field a is set to the previous
 * object.
 * ------------------------------------------------------------------- */

struct obj64 {
    struct obj64 *a;        /* offset 0 */
    struct obj64 *b;        /* 8 */
    int64_t x;              /* 16 */
    struct obj64 *c;        /* 24 */
    int64_t y[4];           /* 32..63 */
};
_Static_assert(sizeof(struct obj64) == 64, "obj64 must be 64 bytes");
GORT_TYPE(t64_type, struct obj64, a, b, c);

static struct obj64 *ptr64_loop(int64_t n)
{
    struct obj64 *prev = NULL;
    for (int64_t i = 0; i < n; i++) {
        struct obj64 *p = gort_new(&t64_type);
        p->a = prev;
        sink[i & (SINK_LEN - 1)] = p;
        prev = p;
    }
    return prev;
}

static void bench_ptr64(void)
{
    ptr64_loop(WARMUP);
    int64_t t0 = gort_nanotime();
    struct obj64 *last = ptr64_loop(n_ops);
    int64_t t1 = gort_nanotime();

    int64_t count = 0;
    for (struct obj64 *p = last; p != NULL && count <= n_ops; p = p->a, count++)
        if (p->b != NULL || p->x != 0 || p->c != NULL || p->y[3] != 0)
            not_zeroed("ptr64", "field b, x, c or y[3]", count);
    if (count != n_ops)
        wrong("ptr64", "length of the chain of objects", count, n_ops);
    set_result("ptr64", t0, t1, n_ops);
}

/* ---------------------------------------------------------------------
 * noscan8: gort_alloc_noscan(8), Go's new(int64): pointer-free objects
 * under 16 bytes, which both heaps pack two to a 16-byte tiny block.  The
 * object gets the value i.  After the clock stops, the last 1024 objects
 * (one per sink) must still hold their values: tiny blocks handed out
 * twice would have overwritten some.
 * ------------------------------------------------------------------- */

static void noscan8_loop(int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t *p = gort_alloc_noscan(8);
        *p = i;
        sink[i & (SINK_LEN - 1)] = p;
    }
}

static void bench_noscan8(void)
{
    noscan8_loop(WARMUP);
    int64_t t0 = gort_nanotime();
    noscan8_loop(n_ops);
    int64_t t1 = gort_nanotime();

    for (int64_t i = n_ops > SINK_LEN ? n_ops - SINK_LEN : 0; i < n_ops; i++) {
        int64_t v = *(int64_t *)sink[i & (SINK_LEN - 1)];
        if (v != i)
            wrong("noscan8", "value of a recent object", v, i);
    }
    set_result("noscan8", t0, t1, n_ops);
}

/* ---------------------------------------------------------------------
 * alloc4k: gort_alloc(4096), a block that may hold pointers anywhere, set
 * against Go's make([]*block4k, 512): 512 pointer words, the 4096-byte size
 * class, and memory the collector scans in full on both sides (gort
 * conservatively, Go by type; with no collector running, that makes no
 * difference to the allocation).  gort_alloc rather than gort_alloc_noscan
 * because a 4 KiB buffer of pointers, not of bytes, is the Go side's
 * object.  Word 0 is set to the previous block; after the clock stops the
 * chain is walked and words 1 and 511 of each block checked for zero.
 * ------------------------------------------------------------------- */

#define BLOCK_WORDS 512

static void **alloc4k_loop(int64_t n)
{
    void **prev = NULL;
    for (int64_t i = 0; i < n; i++) {
        void **b = gort_alloc(BLOCK_WORDS * sizeof(void *));
        b[0] = prev;
        sink[i & (SINK_LEN - 1)] = b;
        prev = b;
    }
    return prev;
}

static void bench_alloc4k(void)
{
    alloc4k_loop(WARMUP);
    int64_t t0 = gort_nanotime();
    void **last = alloc4k_loop(n_ops);
    int64_t t1 = gort_nanotime();

    int64_t count = 0;
    for (void **b = last; b != NULL && count <= n_ops; b = b[0], count++)
        if (b[1] != NULL || b[BLOCK_WORDS - 1] != NULL)
            not_zeroed("alloc4k", "word 1 or 511", count);
    if (count != n_ops)
        wrong("alloc4k", "length of the chain of blocks", count, n_ops);
    set_result("alloc4k", t0, t1, n_ops);
}

/* ------------------------------------------------------------------- */

static const struct bench_workload workloads[] = {
    {"ptr16", bench_ptr16, 5000000, false},
    {"ptr64", bench_ptr64, 5000000, false},
    {"noscan8", bench_noscan8, 10000000, false},
    {"alloc4k", bench_alloc4k, 100000, false},
};

int main(int argc, char **argv)
{
    gort_set_gc_percent(-1);
    return bench_main("alloc", workloads, sizeof workloads / sizeof workloads[0], argc, argv);
}
