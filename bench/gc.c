/*
 * gc.c - collector benchmarks: the benchmarks game's binary-trees, small
 * pointerful allocations with the collector running, stop-the-world pauses
 * under a 600 MB live heap, returning a 1 GiB burst to the OS, and the CPU
 * a full collection spends per MB of live heap.
 *
 *     gc binarytrees [DEPTH]     (DEPTH 6..30, default 18)
 *     gc alloc16_gc [N]          (N allocations)
 *     gc alloc64_gc [N]
 *     gc pause [CYCLES]          (CYCLES 1..250 collections of churn)
 *     gc freeosmemory [MIB]      (the burst, in MiB)
 *     gc markcost [SIZE_MB]      (the live heap, in MB of 2^20 bytes)
 *
 * runs one workload and prints exactly one result line on stdout,
 *
 *     binarytrees ms=1234.5 peak_rss_mib=210.3 num_gc=41
 *
 * that is, the workload's name followed by key=value pairs.  bench/run.sh and
 * bench/compare.sh parse that line; bench/go/gc/main.go is the same program
 * in Go and prints the same line, so the two can be compared field by
 * field.  Keep the two programs doing the same work step for step: a
 * difference between them is a difference in what is measured.
 *
 * Unlike alloc.c, the collector is on, with the settings it takes from the
 * environment on both sides (GOGC, default 100; GOMAXPROCS, default the
 * CPUs).  Nothing here calls a setter, so that GOGC=200 in the environment
 * compares both at 200.  Collections start by themselves (the heap
 * trigger), except in markcost, which forces them, and freeosmemory, whose
 * gort_free_os_memory() forces one.
 *
 * Heap pointers are stored into heap objects and globals through
 * GORT_STORE, as every store must be while the collector marks; Go's
 * compiler puts its write barrier on the same stores.  Pointers held only
 * in a goroutine's own stack variables need nothing, on either side.
 *
 * Every workload checks, after its clock stops, that the objects the
 * program still reaches hold what was written into them: a collector that
 * frees a live object lets the allocator hand its memory out again, zeroed,
 * which breaks a link, a count or a value, and the run fails with exit
 * status 1 instead of reporting a fast number.  binarytrees checks the
 * game's node counts.
 *
 * Each workload runs once per process, from a fresh runtime.  The result is
 * computed on the main goroutine and printed after gort_main has returned.
 * Errors (bad arguments, a failed check) go to stderr with exit status 1
 * (2 for usage), and no result line is printed.
 */
#include "bench.h"

#include <stdarg.h>
#include <sys/resource.h>

#define MIB ((int64_t)1 << 20)

/* A DEPTH, CYCLES, ... out of the workload's range: a usage error. */
static _Noreturn void bad_arg(const char *workload, const char *what, long long min, long long max)
{
    fprintf(stderr, "%s: %s: %s must be from %lld to %lld, not %lld\n", bench_prog, workload, what, min, max,
            (long long)n_ops);
    exit(2);
}

/* A check failed that is not one number against another. */
static _Noreturn __attribute__((format(printf, 2, 3))) void broken(const char *workload, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: %s: ", bench_prog, workload);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* The collector's counters, read into one buffer (gort_memstats is 6 KB):
 * only the main goroutine reads them. */
static gort_memstats memstats;

static const gort_memstats *read_memstats(void)
{
    gort_read_memstats(&memstats);
    return &memstats;
}

/* The process's CPU time, user plus system, every thread: what the
 * collector's workers, assists and sweepers spend as well as the program. */
static int64_t process_cpu_ns(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        die("getrusage", -errno);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * GORT_S +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * GORT_US;
}

static int cmp_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A 64-byte object with pointers at offsets 0, 8 and 24 and integers in
 * between and after (alloc.c's ptr64): a record mixing links and data, size
 * class 64, the node of alloc64_gc, pause and markcost. */
struct obj64 {
    struct obj64 *a;        /* offset 0 */
    struct obj64 *b;        /* 8 */
    int64_t x;              /* 16 */
    struct obj64 *c;        /* 24 */
    int64_t y[4];           /* 32..63 */
};
_Static_assert(sizeof(struct obj64) == 64, "obj64 must be 64 bytes");
GORT_TYPE(obj64_type, struct obj64, a, b, c);

/* An element of a heap array of obj64 pointers (Go's []*obj64). */
struct obj64_slot {
    struct obj64 *p;
};
GORT_TYPE(obj64_slot_type, struct obj64_slot, p);

/* ---------------------------------------------------------------------
 * binarytrees: the benchmarks game's binary-trees, as its Go programs
 * write it, on GOMAXPROCS=2.  A tree of depth d is built bottom-up (both
 * subtrees first, then the node that links them) and "checked" by counting
 * its nodes, 2^(d+1) - 1.  First a stretch tree of depth DEPTH+1 is built,
 * checked and dropped; then a long-lived tree of depth DEPTH is built and
 * kept to the end; then, for d = 4, 6, ..., DEPTH, one goroutine per d
 * builds, checks and drops 2^(DEPTH-d+4) trees of depth d, the goroutines
 * all started at once while the main goroutine waits on a WaitGroup; last
 * the long-lived tree is checked.  Nodes are 16 bytes, two pointers, so the collector
 * traces every one of them.
 *
 * Wall time from the first allocation to the last check, the peak resident
 * set (VmHWM), and the number of collections.  Every check value must be
 * the game's.
 * ------------------------------------------------------------------- */

#define BT_MIN_DEPTH 4
#define BT_MAX_DEPTH 30

struct node {
    struct node *left, *right;
};
GORT_TYPE(node_type, struct node, left, right);

static struct node *bottom_up_tree(int depth)
{
    if (depth <= 0)
        return gort_new(&node_type);
    struct node *left = bottom_up_tree(depth - 1);
    struct node *right = bottom_up_tree(depth - 1);
    struct node *n = gort_new(&node_type);
    GORT_STORE(n->left, left);
    GORT_STORE(n->right, right);
    return n;
}

static int64_t item_check(const struct node *n)
{
    if (n->left == NULL)
        return 1;
    return 1 + item_check(n->left) + item_check(n->right);
}

/* One depth's share: its goroutine fills in check. */
struct bt_depth {
    int depth;
    int64_t iterations;
    int64_t check;
};

static struct bt_depth bt_depths[BT_MAX_DEPTH + 1];
static gort_waitgroup bt_wg = GORT_WAITGROUP_INIT;

static void bt_worker(void *arg)
{
    struct bt_depth *d = arg;
    int64_t check = 0;
    for (int64_t i = 0; i < d->iterations; i++)
        check += item_check(bottom_up_tree(d->depth));
    d->check = check;
    gort_waitgroup_done(&bt_wg);
}

static void bench_binarytrees(void)
{
    if (n_ops < BT_MIN_DEPTH + 2 || n_ops > BT_MAX_DEPTH)
        bad_arg("binarytrees", "DEPTH", BT_MIN_DEPTH + 2, BT_MAX_DEPTH);
    int max_depth = (int)n_ops;
    gort_gomaxprocs(2);
    uint32_t gc0 = read_memstats()->num_gc;

    int64_t t0 = gort_nanotime();
    int64_t stretch_check = item_check(bottom_up_tree(max_depth + 1));
    struct node *long_lived = bottom_up_tree(max_depth);
    for (int d = BT_MIN_DEPTH; d <= max_depth; d += 2) {
        bt_depths[d] = (struct bt_depth){d, (int64_t)1 << (max_depth - d + BT_MIN_DEPTH), 0};
        gort_waitgroup_add(&bt_wg, 1);
        spawn(bt_worker, &bt_depths[d]);
    }
    gort_waitgroup_wait(&bt_wg);
    int64_t long_lived_check = item_check(long_lived);
    int64_t t1 = gort_nanotime();

    uint32_t gc1 = read_memstats()->num_gc;
    int64_t hwm = proc_status_bytes("VmHWM");
    if (stretch_check != ((int64_t)2 << (max_depth + 1)) - 1)
        wrong("binarytrees", "check of the stretch tree", stretch_check, ((int64_t)2 << (max_depth + 1)) - 1);
    for (int d = BT_MIN_DEPTH; d <= max_depth; d += 2) {
        int64_t want = bt_depths[d].iterations * (((int64_t)2 << d) - 1);
        if (bt_depths[d].check != want)
            wrong("binarytrees", "check of the trees of one depth", bt_depths[d].check, want);
    }
    if (long_lived_check != ((int64_t)2 << max_depth) - 1)
        wrong("binarytrees", "check of the long-lived tree", long_lived_check, ((int64_t)2 << max_depth) - 1);
    snprintf(result, sizeof result, "binarytrees ms=%.1f peak_rss_mib=%.1f num_gc=%u",
             (double)(t1 - t0) / (double)GORT_MS, (double)hwm / (double)MIB, gc1 - gc0);
}

/* ---------------------------------------------------------------------
 * alloc16_gc, alloc64_gc: wall time per allocation of a small pointerful
 * object (a 16-byte pair of pointers, alloc.c's ptr16; or an obj64) with
 * the collector running by itself.  The live heap is a ring of the last
 * 1024 objects: a heap array of 1024 slots, written round robin, in which
 * each object links (field a) to the one allocated before it.  Allocation
 * i goes to slot i mod 1024, replacing object i-1024; object i-1023, the
 * oldest left, has its link to it cut first.  So exactly 1024 objects stay
 * reachable, and everything else is garbage for the next cycle: the
 * collector runs every time the heap grows by its minimum goal (4 MB at
 * GOGC=100), and this measures allocation, sweeping and collection
 * together, as a program that allocates short-lived objects pays them.
 *
 * After the clock stops, the ring is walked from the newest object along
 * the links: each must be the object in the slot before, with its
 * unwritten fields zero (and, for obj64, x = its allocation number), 1024
 * of them, the oldest with no link.  Each workload first allocates 10,000
 * objects untimed, which also fills the ring.  Reports ns_per_op and the
 * collections during the timed loop, num_gc.
 * ------------------------------------------------------------------- */

#define WARMUP 10000
#define RING_LEN 1024

struct pair {
    struct pair *a, *b;
};
GORT_TYPE(pair_type, struct pair, a, b);

struct pair_slot {
    struct pair *p;
};
GORT_TYPE(pair_slot_type, struct pair_slot, p);

static struct pair_slot *ring16;     /* RING_LEN slots */
static struct obj64_slot *ring64;    /* RING_LEN slots */

/* Allocations i0 .. i0+n-1. */
static void alloc16_loop(int64_t i0, int64_t n)
{
    struct pair_slot *ring = ring16;
    for (int64_t i = i0; i < i0 + n; i++) {
        struct pair *p = gort_new(&pair_type);
        struct pair *oldest = ring[(i + 1) & (RING_LEN - 1)].p;
        if (oldest != NULL)
            GORT_STORE(oldest->a, NULL);
        GORT_STORE(p->a, ring[(i - 1) & (RING_LEN - 1)].p);
        GORT_STORE(ring[i & (RING_LEN - 1)].p, p);
    }
}

static void alloc64_loop(int64_t i0, int64_t n)
{
    struct obj64_slot *ring = ring64;
    for (int64_t i = i0; i < i0 + n; i++) {
        struct obj64 *p = gort_new(&obj64_type);
        p->x = i;
        struct obj64 *oldest = ring[(i + 1) & (RING_LEN - 1)].p;
        if (oldest != NULL)
            GORT_STORE(oldest->a, NULL);
        GORT_STORE(p->a, ring[(i - 1) & (RING_LEN - 1)].p);
        GORT_STORE(ring[i & (RING_LEN - 1)].p, p);
    }
}

/* The ring after allocation end-1: back counts from the newest object. */
static void alloc16_verify(int64_t end)
{
    struct pair *p = ring16[(end - 1) & (RING_LEN - 1)].p;
    for (int64_t back = 0; back < RING_LEN; back++) {
        if (p != ring16[(end - 1 - back) & (RING_LEN - 1)].p)
            broken("alloc16_gc", "object %lld back from the newest is not the one in its slot", (long long)back);
        if (p->b != NULL)
            broken("alloc16_gc", "field b of object %lld back from the newest is not zero", (long long)back);
        p = p->a;
    }
    if (p != NULL)
        broken("alloc16_gc", "the oldest object in the ring still links to an older one");
}

static void alloc64_verify(int64_t end)
{
    struct obj64 *p = ring64[(end - 1) & (RING_LEN - 1)].p;
    for (int64_t back = 0; back < RING_LEN; back++) {
        if (p != ring64[(end - 1 - back) & (RING_LEN - 1)].p)
            broken("alloc64_gc", "object %lld back from the newest is not the one in its slot", (long long)back);
        if (p->x != end - 1 - back)
            wrong("alloc64_gc", "field x of an object in the ring", p->x, end - 1 - back);
        if (p->b != NULL || p->c != NULL || p->y[3] != 0)
            broken("alloc64_gc", "field b, c or y[3] of object %lld back from the newest is not zero",
                   (long long)back);
        p = p->a;
    }
    if (p != NULL)
        broken("alloc64_gc", "the oldest object in the ring still links to an older one");
}

static void bench_alloc16_gc(void)
{
    GORT_STORE(ring16, gort_new_array(&pair_slot_type, RING_LEN));
    alloc16_loop(0, WARMUP);
    uint32_t gc0 = read_memstats()->num_gc;
    int64_t t0 = gort_nanotime();
    alloc16_loop(WARMUP, n_ops);
    int64_t t1 = gort_nanotime();
    uint32_t gc1 = read_memstats()->num_gc;

    alloc16_verify(WARMUP + n_ops);
    snprintf(result, sizeof result, "alloc16_gc ns_per_op=%.1f num_gc=%u", (double)(t1 - t0) / (double)n_ops,
             gc1 - gc0);
}

static void bench_alloc64_gc(void)
{
    GORT_STORE(ring64, gort_new_array(&obj64_slot_type, RING_LEN));
    alloc64_loop(0, WARMUP);
    uint32_t gc0 = read_memstats()->num_gc;
    int64_t t0 = gort_nanotime();
    alloc64_loop(WARMUP, n_ops);
    int64_t t1 = gort_nanotime();
    uint32_t gc1 = read_memstats()->num_gc;

    alloc64_verify(WARMUP + n_ops);
    snprintf(result, sizeof result, "alloc64_gc ns_per_op=%.1f num_gc=%u", (double)(t1 - t0) / (double)n_ops,
             gc1 - gc0);
}

/* ---------------------------------------------------------------------
 * pause: the stop-the-world pauses of collections that start by
 * themselves while the program churns over a large live heap.
 *
 * The live heap is 2^23 obj64 nodes (512 MiB) reached from one array of
 * 2^23 slots (64 MiB), about 600 MB in all: node i sits in slot i, holds
 * x = i and links (a) to node i-1, the first to the last.  A forced
 * collection then settles the heap (its sweep is done and the next goal is
 * set from the full live heap), and the churn begins.  Each churn step
 * allocates one short-lived obj64 (x = -1 - step) into a ring of 1024
 * slots, so it lives for 1024 steps; every 16th step also replaces a live
 * node chosen by a xorshift generator: the new node takes its slot, its x
 * and its link, and the next node's link moves to it, so the live heap
 * stays the same size and the old node becomes garbage.  Every 2^20 steps
 * the collection count is read (gort_read_memstats, runtime.ReadMemStats),
 * until CYCLES collections have ended since the forced one.
 *
 * Reported: the median (nearest rank) and the largest of those collections'
 * pauses in MemStats' ring, PauseNs, in microseconds, and how many there
 * were.  Both runtimes record one number per cycle, the sum of its two
 * stop-the-world pauses (sweep termination and mark termination).
 *
 * If the heap grows past twice its goal before the collections have come,
 * no collection is running: the run fails rather than fill the machine.
 * After the churn, every live node is checked (slot, x, link) and so are
 * the objects in the ring.
 * ------------------------------------------------------------------- */

#define PAUSE_NODES ((int64_t)1 << 23)
#define PAUSE_POLL ((int64_t)1 << 20)
#define PAUSE_REPLACE_EVERY 16
#define PAUSE_MAX_CYCLES 250

static struct obj64_slot *pause_live;   /* PAUSE_NODES slots */
static struct obj64_slot *pause_sink;   /* RING_LEN slots */

/* xorshift64*, the same sequence in gc/main.go. */
static uint64_t xorshift_state = 0x9e3779b97f4a7c15u;

static uint64_t xorshift(void)
{
    uint64_t x = xorshift_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    xorshift_state = x;
    return x * 0x2545f4914f6cdd1du;
}

static void pause_build(void)
{
    GORT_STORE(pause_live, gort_new_array(&obj64_slot_type, PAUSE_NODES));
    GORT_STORE(pause_sink, gort_new_array(&obj64_slot_type, RING_LEN));
    struct obj64_slot *live = pause_live;
    for (int64_t i = 0; i < PAUSE_NODES; i++) {
        struct obj64 *p = gort_new(&obj64_type);
        p->x = i;
        if (i > 0)
            GORT_STORE(p->a, live[i - 1].p);
        GORT_STORE(live[i].p, p);
    }
    GORT_STORE(live[0].p->a, live[PAUSE_NODES - 1].p);
}

/* Churn steps s0 .. s0+n-1. */
static void pause_churn(int64_t s0, int64_t n)
{
    struct obj64_slot *live = pause_live, *sink = pause_sink;
    for (int64_t s = s0; s < s0 + n; s++) {
        struct obj64 *g = gort_new(&obj64_type);
        g->x = -1 - s;
        GORT_STORE(sink[s & (RING_LEN - 1)].p, g);
        if (s % PAUSE_REPLACE_EVERY == 0) {
            int64_t r = (int64_t)(xorshift() & (PAUSE_NODES - 1));
            struct obj64 *p = gort_new(&obj64_type);
            p->x = r;
            GORT_STORE(p->a, live[(r - 1) & (PAUSE_NODES - 1)].p);
            GORT_STORE(live[(r + 1) & (PAUSE_NODES - 1)].p->a, p);
            GORT_STORE(live[r].p, p);
        }
    }
}

static void pause_verify(int64_t steps)
{
    struct obj64_slot *live = pause_live, *sink = pause_sink;
    for (int64_t i = 0; i < PAUSE_NODES; i++) {
        struct obj64 *p = live[i].p;
        if (p->x != i)
            wrong("pause", "field x of the live node in its slot", p->x, i);
        if (p->a != live[(i - 1) & (PAUSE_NODES - 1)].p)
            broken("pause", "the live node in slot %lld does not link to the node in the slot before",
                   (long long)i);
        if (p->b != NULL || p->c != NULL || p->y[3] != 0)
            broken("pause", "field b, c or y[3] of the live node in slot %lld is not zero", (long long)i);
    }
    for (int64_t s = steps > RING_LEN ? steps - RING_LEN : 0; s < steps; s++) {
        struct obj64 *g = sink[s & (RING_LEN - 1)].p;
        if (g->x != -1 - s)
            wrong("pause", "field x of a short-lived object", g->x, -1 - s);
    }
}

static void bench_pause(void)
{
    if (n_ops > PAUSE_MAX_CYCLES)
        bad_arg("pause", "CYCLES", 1, PAUSE_MAX_CYCLES);
    pause_build();
    gort_gc();
    uint32_t gc0 = read_memstats()->num_gc;

    int64_t steps = 0;
    for (;;) {
        pause_churn(steps, PAUSE_POLL);
        steps += PAUSE_POLL;
        const gort_memstats *ms = read_memstats();
        if (ms->num_gc - gc0 >= (uint32_t)n_ops)
            break;
        if (ms->heap_alloc > 2 * ms->next_gc) {
            fprintf(stderr,
                    "%s: pause: the heap is %llu MiB, over twice its goal of %llu MiB, after %u of %lld "
                    "collections: is automatic collection running?\n",
                    bench_prog, (unsigned long long)(ms->heap_alloc >> 20),
                    (unsigned long long)(ms->next_gc >> 20), ms->num_gc - gc0, (long long)n_ops);
            exit(1);
        }
    }

    const gort_memstats *ms = read_memstats();
    uint32_t cycles = ms->num_gc - gc0;
    uint32_t kept = cycles < 256 ? cycles : 256;
    int64_t pauses[256];
    for (uint32_t k = 0; k < kept; k++)
        pauses[k] = (int64_t)ms->pause_ns[(ms->num_gc - kept + k) % 256];
    qsort(pauses, kept, sizeof pauses[0], cmp_int64);

    pause_verify(steps);
    snprintf(result, sizeof result, "pause pause_p50_us=%.1f pause_max_us=%.1f num_gc=%u",
             (double)pauses[(kept - 1) / 2] / (double)GORT_US, (double)pauses[kept - 1] / (double)GORT_US,
             cycles);
}

/* ---------------------------------------------------------------------
 * freeosmemory: how fast and how far gort_free_os_memory() (Go's
 * debug.FreeOSMemory()) gives memory back after a burst.  The burst is MIB
 * MiB of 64 KiB pointer-free objects (large objects on both sides), held
 * from one heap array, with one word of every 4 KiB page written (the
 * object's number), so that all of it is resident.  Every written word is
 * checked, then the array is dropped, and the call is timed: a forced
 * collection that finds the burst unreachable, its sweep, and the release
 * of the free pages.  Reports the call's wall time and VmRSS just before
 * and just after it.
 *
 * The burst is allocated, checked and dropped by a goroutine of its own,
 * which has ended when the main goroutine makes the call: gort scans
 * stacks conservatively, and a copy of the array's address left in a dead
 * slot of the main goroutine's stack, where the collector's own frames
 * later sit, would keep the whole burst.  Go does the same.
 * ------------------------------------------------------------------- */

#define BURST_OBJ_WORDS 8192    /* 64 KiB */
#define PAGE_WORDS 512          /* 4 KiB */

struct burst_slot {
    int64_t *p;
};
GORT_TYPE(burst_slot_type, struct burst_slot, p);

static struct burst_slot *burst;
static gort_waitgroup burst_wg = GORT_WAITGROUP_INIT;

static void freeosmemory_burst(void *arg)
{
    int64_t count = *(const int64_t *)arg;
    GORT_STORE(burst, gort_new_array(&burst_slot_type, (size_t)count));
    struct burst_slot *slots = burst;
    for (int64_t i = 0; i < count; i++) {
        int64_t *b = gort_alloc_noscan(BURST_OBJ_WORDS * sizeof(int64_t));
        for (int64_t w = 0; w < BURST_OBJ_WORDS; w += PAGE_WORDS)
            b[w] = i;
        GORT_STORE(slots[i].p, b);
    }
    for (int64_t i = 0; i < count; i++)
        for (int64_t w = 0; w < BURST_OBJ_WORDS; w += PAGE_WORDS)
            if (slots[i].p[w] != i)
                wrong("freeosmemory", "word of a burst object (its number)", slots[i].p[w], i);
    GORT_STORE(burst, NULL);
    gort_waitgroup_done(&burst_wg);
}

static void bench_freeosmemory(void)
{
    if (n_ops > (int64_t)1 << 20)
        bad_arg("freeosmemory", "MIB", 1, (int64_t)1 << 20);
    int64_t count = n_ops * (MIB / (BURST_OBJ_WORDS * (int64_t)sizeof(int64_t)));
    gort_waitgroup_add(&burst_wg, 1);
    spawn(freeosmemory_burst, &count);
    gort_waitgroup_wait(&burst_wg);

    int64_t rss0 = proc_status_bytes("VmRSS");
    int64_t t0 = gort_nanotime();
    gort_free_os_memory();
    int64_t t1 = gort_nanotime();
    int64_t rss1 = proc_status_bytes("VmRSS");
    snprintf(result, sizeof result, "freeosmemory ms=%.2f rss_before_mib=%.1f rss_after_mib=%.1f",
             (double)(t1 - t0) / (double)GORT_MS, (double)rss0 / (double)MIB, (double)rss1 / (double)MIB);
}

/* ---------------------------------------------------------------------
 * markcost: the CPU a full collection costs per MB of live heap.  The live
 * heap is SIZE_MB MB of obj64 nodes (2^14 per MB) in one binary tree,
 * built depth first: a node's b and c are its two subtrees (of n-1 nodes,
 * split as evenly as can be), its x is its number in that order, and its a
 * links to the node built just before it, so the collector traces two
 * paths to most nodes.  The tree is built with the collector running by
 * itself, then one forced collection (gort_gc, runtime.GC) settles the
 * heap, untimed.  Then 3 forced collections are timed, each by the
 * process's CPU time (getrusage: user + system, every thread) around the
 * call, which returns once the cycle's mark and its sweep are done: the
 * CPU of marking SIZE_MB of live objects, plus sweeping spans in which
 * everything is live.
 *
 * Reported: the median collection's CPU (cpu_ms_per_gc), the same per MB
 * live (cpu_us_per_mb), and its wall time (wall_ms_per_gc), which shows
 * how much of the CPU ran in parallel.  The whole tree is walked and
 * checked afterwards (shape, numbers, links).
 * ------------------------------------------------------------------- */

#define MARKCOST_RUNS 3

static struct obj64 *markcost_root;

/* Where the depth-first build or walk has got to. */
struct markcost_cursor {
    int64_t count;          /* nodes so far */
    struct obj64 *prev;     /* the last of them */
};

static struct obj64 *markcost_build(struct markcost_cursor *cur, int64_t n)
{
    if (n == 0)
        return NULL;
    struct obj64 *p = gort_new(&obj64_type);
    p->x = cur->count++;
    GORT_STORE(p->a, cur->prev);
    cur->prev = p;
    int64_t nleft = (n - 1) / 2;
    struct obj64 *left = markcost_build(cur, nleft);
    GORT_STORE(p->b, left);
    struct obj64 *right = markcost_build(cur, n - 1 - nleft);
    GORT_STORE(p->c, right);
    return p;
}

static void markcost_verify(struct markcost_cursor *cur, struct obj64 *p, int64_t n)
{
    if (n == 0) {
        if (p != NULL)
            broken("markcost", "after node %lld, a subtree that should be empty is not",
                   (long long)cur->count - 1);
        return;
    }
    if (p == NULL)
        broken("markcost", "after node %lld, a subtree of %lld nodes is empty", (long long)cur->count - 1,
               (long long)n);
    if (p->x != cur->count)
        wrong("markcost", "field x of a node (its number, depth first)", p->x, cur->count);
    if (p->a != cur->prev)
        broken("markcost", "node %lld does not link to the node built before it", (long long)p->x);
    if (p->y[3] != 0)
        wrong("markcost", "field y[3] of a node", p->y[3], 0);
    cur->count++;
    cur->prev = p;
    int64_t nleft = (n - 1) / 2;
    markcost_verify(cur, p->b, nleft);
    markcost_verify(cur, p->c, n - 1 - nleft);
}

static void bench_markcost(void)
{
    if (n_ops > (int64_t)1 << 20)
        bad_arg("markcost", "SIZE_MB", 1, (int64_t)1 << 20);
    int64_t nodes = n_ops * (MIB / (int64_t)sizeof(struct obj64));
    struct markcost_cursor build = {0, NULL};
    GORT_STORE(markcost_root, markcost_build(&build, nodes));
    gort_gc();

    int64_t cpu[MARKCOST_RUNS], wall[MARKCOST_RUNS];
    for (int r = 0; r < MARKCOST_RUNS; r++) {
        int64_t c0 = process_cpu_ns(), t0 = gort_nanotime();
        gort_gc();
        int64_t t1 = gort_nanotime(), c1 = process_cpu_ns();
        cpu[r] = c1 - c0;
        wall[r] = t1 - t0;
    }
    qsort(cpu, MARKCOST_RUNS, sizeof cpu[0], cmp_int64);
    qsort(wall, MARKCOST_RUNS, sizeof wall[0], cmp_int64);

    struct markcost_cursor walk = {0, NULL};
    markcost_verify(&walk, markcost_root, nodes);
    int64_t med = cpu[MARKCOST_RUNS / 2];
    snprintf(result, sizeof result, "markcost cpu_ms_per_gc=%.1f cpu_us_per_mb=%.1f wall_ms_per_gc=%.1f",
             (double)med / (double)GORT_MS, (double)med / (double)GORT_US / (double)n_ops,
             (double)wall[MARKCOST_RUNS / 2] / (double)GORT_MS);
}

/* ------------------------------------------------------------------- */

static const struct bench_workload workloads[] = {
    {"binarytrees", bench_binarytrees, 18, false},
    {"alloc16_gc", bench_alloc16_gc, 20000000, false},
    {"alloc64_gc", bench_alloc64_gc, 10000000, false},
    {"pause", bench_pause, 10, false},
    {"freeosmemory", bench_freeosmemory, 1024, false},
    {"markcost", bench_markcost, 100, false},
};

int main(int argc, char **argv)
{
    return bench_main("gc", workloads, sizeof workloads / sizeof workloads[0], argc, argv);
}
