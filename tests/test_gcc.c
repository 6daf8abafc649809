/*
 * test_gcc.c - the concurrent collector's acceptance list: what test_gc.c
 * (roots, reachability, the gctrace line of forced cycles) leaves to the
 * concurrent mark, the pacer, finalizers and the knobs:
 *
 *    1. objects allocated while a concurrent mark runs survive it and the
 *       next cycle, and so do old objects that the mark had not reached
 *       yet and that the program moved into new ones meanwhile;
 *    2. finalizers: set once (-EEXIST), on an object's start only
 *       (-EINVAL), removed with NULL (and then never run); run exactly once
 *       when their object becomes unreachable; a finalizer that stores its
 *       object in a global resurrects it and everything it reaches, for
 *       good, and is not run again; a cycle that holds an object with a
 *       finalizer is never collected;
 *    3. GOGC=off (gort_set_gc_percent(-1)) never starts a cycle; back at
 *       100, allocation starts them again by itself;
 *    4. with GOGC=100 the pacer keeps the heap near its goal under churn;
 *    5. a memory limit (with GOGC=off) keeps the heap under it and retained
 *       memory near it; gort_set_memory_limit(-1) only queries;
 *    6. forcegc asks for a cycle after its period (GODEBUG=scavenge=1
 *       makes it 10 ms) and gctrace prints "GC forced" before its line
 *       (helper program tests/progs/gc_forcegc.c);
 *    7. gctrace lines of automatic and forced cycles alike follow Go 1.19's
 *       format as SPEC 2.10 gives it, numbered consecutively
 *       (tests/progs/gc_autotrace.c);
 *    8. the bss of a plugin loaded at run time is a root (test plugin
 *       tests/plugins/bssroot.c, built as BUILD/tests/plugins/libbssroot.so);
 *    9. GODEBUG gcstoptheworld=1 and =2 still collect correctly;
 *   10. MemStats: NumForcedGC counts gort_gc calls only, LastGC advances,
 *       every cycle has its pause in the ring, GCCPUFraction is a fraction.
 *
 * "Kept" and "freed" are exact, as in test_gc.c (whose header explains the
 * precautions at length): kept is rt_test_heap_object_base(p) == p with the
 * object's bytes unchanged, checked again after allocating objects of the
 * same size class (a slot freed by mistake would be reused and
 * overwritten); freed is rt_test_heap_object_base(p) == NULL right after the
 * gort_gc that must free it.  Addresses the tests keep are XORed with
 * HIDE_KEY, objects are made and dropped in NOINLINE functions, the stack
 * below the test body is scrubbed before each collection that must free
 * something, and each test's setup scrubs where the test body's frame will
 * be.
 *
 * Finalizers run on the runtime's finalizer goroutine after a cycle's
 * sweep, so the finalizer tests poll: collect, sleep a millisecond, look,
 * up to a deadline.  Negative checks ("has not run", "no cycle started")
 * give the wrong outcome a fixed number of cycles or a short wait to show.
 *
 * The pacer tests (3, 4, 5, 10) churn garbage on GOMAXPROCS=2 so that the
 * collector's controller goroutine and mark workers have a P of their own;
 * they bound their churn by bytes and by a deadline.  Their sizes shrink
 * under the sanitizers, which make allocation several times dearer.
 *
 * Every test sets GOGC=100 and no memory limit first and restores both,
 * GOMAXPROCS and gcstoptheworld in its teardown; the tests that check
 * objects with the heap hook turn automatic collection off, since the hook
 * must not race with a sweep.  Every test body runs on
 * the main goroutine; see testutil.h for the rules the tests follow.  A
 * watchdog thread ends the process if one test runs far past any sane
 * duration: a collector hung with the world stopped leaves no goroutine
 * to notice a deadline.
 *
 * Runtime issues this suite found, left visible (a failure of test 1 or
 * 7, or the watchdog firing, is most likely one of the first two):
 *   - mark termination can spin forever with the world stopped: a gcwork
 *     that has no buffers yet (w1 == NULL) never takes from the global
 *     list (gcw_tryget_slow), so drain_stw on such a P never empties it;
 *   - a P whose local work buffers hold grey objects can be parked by
 *     handoffp (its locked M blocked) without running its mark worker, so
 *     the mark never completes and the program dies "all goroutines are
 *     asleep" (test 1 blocks in gort_gc right after shading through
 *     GORT_STORE, which leaves grey objects in its P's buffers);
 *   - some marks of a small heap take tens of milliseconds of worker CPU
 *     while the allocating goroutine runs on unthrottled, and what it
 *     allocates black inflates the next goal (test 4 fails now and then).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>

#include "testutil.h"
#include "heaputil.h"
#include "gcutil.h"
#include "testing.h"
#include "debugvars.h"

#define KIB ((size_t)1024)
#define MIB (1024 * KIB)

#define HELPER_TIMEOUT gt_slow(30 * GORT_S)
#define WAIT_TIMEOUT gt_slow(5 * GORT_S)

/* Bytes of churn for the pacer tests: a quarter under the sanitizers. */
static inline size_t churn_scale(size_t bytes)
{
    return GT_SANITIZED ? bytes / 4 : bytes;
}

/* ---------------------------------------------------------------------
 * Types and helpers (see test_gc.c for why each precaution is needed)
 * ------------------------------------------------------------------- */

struct node {
    struct node *left, *right;
    int64_t value;
};
GORT_TYPE(node_type, struct node, left, right);

/* One pointer: arrays of these are typed pointer tables. */
struct slot {
    void *p;
};
GORT_TYPE(slot_type, struct slot, p);

/* Of the n hidden objects, how many are still allocated. */
NOINLINE static int count_live(const uintptr_t *h, int n)
{
    int live = 0;
    for (int i = 0; i < n; i++)
        live += live_any(h[i]);
    return live;
}

#define FREED(hv) (!live_any(hv))

static inline bool marking(void)
{
    return __atomic_load_n(&gort__writebarrier, __ATOMIC_RELAXED) != 0;
}

static gort_memstats ms0, ms1, ms2, ms3;

/*
 * Churn: allocate up to max_bytes of garbage (gort_alloc 512-byte and
 * gort_alloc_noscan 2 KiB objects, in turn), yielding every MiB.  Every
 * 256 KiB it reads MemStats and records the largest HeapAlloc and
 * retained heap (HeapSys - HeapReleased) seen; it stops early once NumGC
 * reaches stop_num_gc (0: never) or the deadline passes.  Returns the
 * bytes allocated.
 */
static struct churn_seen {
    uint64_t max_heap_alloc, max_retained;
    uint32_t num_gc;
} seen;
static gort_memstats churn_ms;

static void churn_sample(void)
{
    gort_read_memstats(&churn_ms);
    if (churn_ms.heap_alloc > seen.max_heap_alloc)
        seen.max_heap_alloc = churn_ms.heap_alloc;
    uint64_t retained = churn_ms.heap_sys - churn_ms.heap_released;
    if (retained > seen.max_retained)
        seen.max_retained = retained;
    seen.num_gc = churn_ms.num_gc;
}

NOINLINE static size_t churn(size_t max_bytes, uint32_t stop_num_gc, int64_t deadline)
{
    memset(&seen, 0, sizeof seen);
    size_t bytes = 0;
    int turn = 0;
    churn_sample();
    while (bytes < max_bytes) {
        size_t size = turn++ % 2 ? 2 * KIB : 512;
        char *p = size == 512 ? gort_alloc(size) : gort_alloc_noscan(size);
        p[0] = 1;
        p[size - 1] = 1;
        size_t before = bytes;
        bytes += size;
        if (before / (256 * KIB) != bytes / (256 * KIB)) {
            churn_sample();
            if (stop_num_gc != 0 && seen.num_gc >= stop_num_gc)
                break;
            if (gort_nanotime() > deadline)
                break;
        }
        if (before / MIB != bytes / MIB)
            gort_gosched();
    }
    churn_sample();
    return bytes;
}

/* A live set of n objects of size bytes (noscan, tagged), held by a typed
 * table that *root points to. */
NOINLINE static void live_set_make(struct slot **root, int n, size_t size, uint64_t tagbase)
{
    struct slot *t = gort_new_array(&slot_type, (size_t)n);
    for (int i = 0; i < n; i++) {
        void *p = gort_alloc_noscan(size);
        fill_tag(p, size, tag_of(tagbase, (uint64_t)i));
        GORT_STORE(t[i].p, p);
    }
    GORT_STORE(*root, t);
}

/* How many objects of the live set are not intact. */
NOINLINE static int live_set_damage(struct slot *t, int n, size_t size, uint64_t tagbase)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        void *p = t[i].p;
        bad += rt_test_heap_object_base(p, NULL) != p || !check_tag(p, size, tag_of(tagbase, (uint64_t)i));
    }
    return bad;
}

/*
 * The watchdog: a plain thread that ends the process when one test has
 * run for longer than TEST_LIMIT.  A collector that hangs with the world
 * stopped leaves no goroutine to notice a deadline, and the suite would
 * otherwise sit until run-suites' timeout; this way it fails at once, the
 * last "[ RUN ]" line naming the test.  The limit is far above what any
 * test needs (its helper programs' timeouts included).
 */
#define TEST_LIMIT gt_slow(75 * GORT_S)
static _Atomic int64_t wd_test_start;        /* gt_mono_ns(); 0 between tests */

static void *watchdog(void *arg)
{
    for (;;) {
        gt_thread_sleep_ns(100 * GORT_MS);
        int64_t t = atomic_load(&wd_test_start);
        if (t != 0 && gt_mono_ns() - t > TEST_LIMIT) {
            static const char msg[] = "test_gcc: watchdog: the running test has not finished in "
                                      "its time limit; the runtime is hung (the last [ RUN ] "
                                      "line names the test)\n";
            fflush(stdout);
            ssize_t n = write(2, msg, sizeof msg - 1);
            (void)n;
            _exit(3);
        }
    }
    return NULL;
}

/* Tests that look at the heap with rt_test_heap_object_base run with
 * automatic collection off: the hook reads span bits that a concurrent
 * sweep rewrites (a live object could read as free), and the cycles those
 * tests need are the ones they ask for.  The teardown turns it back on. */
static void forced_cycles_only(void)
{
    gort_set_gc_percent(-1);
}

/* Setup: a clean stack where the body's frame goes, GOMAXPROCS saved,
 * the default pacer, the watchdog's clock started.  Teardown puts
 * everything back. */
static int32_t saved_gcstoptheworld;

static int gcc_setup(void **state)
{
    atomic_store(&wd_test_start, gt_mono_ns());
    scrub_stack_deep();
    gort_set_gc_percent(100);
    gort_set_memory_limit(INT64_MAX);
    return gt_save_knobs(state);
}

static int gcc_teardown(void **state)
{
    /* Written only when a test changed it: a cycle may be reading it. */
    if (debug.gcstoptheworld != saved_gcstoptheworld)
        debug.gcstoptheworld = saved_gcstoptheworld;
    gort_set_gc_percent(100);
    gort_set_memory_limit(INT64_MAX);
    atomic_store(&wd_test_start, 0);
    return gt_restore_knobs(state);
}

/* ---------------------------------------------------------------------
 * 1. Objects allocated during a concurrent mark
 * ------------------------------------------------------------------- */

/*
 * A goroutine calls gort_gc while the test body, on the other P, waits for
 * the write barrier to come on (the mark has started) and then allocates
 * until it goes off, linking each new object into structures reachable
 * from globals through GORT_STORE:
 *   - typed nodes, pushed on a list whose head is a global; each also
 *     takes over an old object from a table that hangs off the far end of
 *     a long ballast list (so the mark reaches it last) and clears the
 *     table's slot: that old object is then reachable only from a node
 *     allocated black, i.e. only because the barrier shaded it;
 *   - gort_alloc, gort_alloc_noscan and large objects, stored in a typed
 *     table (256 KiB: scanned as two oblets);
 *   - gort_alloc objects held only in a local array of the allocating
 *     frame (a stack the mark may have scanned already: only allocate-black
 *     keeps them).
 * Repeated (up to CM_ATTEMPTS cycles) until CM_MIN objects were allocated
 * with the barrier on both before and after their allocation.  Everything
 * must then be allocated and intact after the cycle, after reuse of any
 * wrongly freed slot, and after one more cycle.
 */
#define CM_BALLAST 200000
#define CM_OLD 4096
#define CM_OLD_SIZE 64
#define CM_TABLE 32768
#define CM_MAX CM_TABLE
#define CM_MIN (GT_SANITIZED ? 200 : 2000)
#define CM_STACK 64
#define CM_STACK_SIZE 48
#define CM_ATTEMPTS 10

enum { CM_NODE, CM_CONS, CM_NOSCAN, CM_LARGE, CM_KINDS };
static const size_t cm_size[CM_KINDS] = { sizeof(struct node), 96, 200, 40 * KIB };

static struct node *cm_ballast;       /* the long list; its last node's left is the old table */
static uintptr_t cm_old_h;            /* that table (hidden: only the list may reach it) */
static struct slot *cm_table;         /* new non-node objects */
static struct node *cm_head;          /* new nodes */

static struct cm_rec {
    uintptr_t h;
    uint64_t tag;
    uintptr_t moved_h;                /* the old object the node took over, or 0 */
    uint64_t moved_tag;
    uint8_t kind;
    bool during_mark;
} cm_rec[CM_MAX];
static int cm_n, cm_during, cm_old_next;
static uint64_t cm_old_tag[CM_OLD];

static struct {
    atomic_int done;
} cmg;

static void cm_collector(void *arg)
{
    gort_gc();
    atomic_store(&cmg.done, 1);
}

NOINLINE static void cm_build(void)
{
    struct slot *old = gort_new_array(&slot_type, CM_OLD);
    for (int i = 0; i < CM_OLD; i++) {
        void *p = gort_alloc_noscan(CM_OLD_SIZE);
        cm_old_tag[i] = tag_of(100, (uint64_t)i);
        fill_tag(p, CM_OLD_SIZE, cm_old_tag[i]);
        GORT_STORE(old[i].p, p);
    }
    struct node *last = gort_new(&node_type);
    GORT_STORE(last->left, (struct node *)(void *)old);
    struct node *first = last;
    for (int i = 1; i < CM_BALLAST; i++) {
        struct node *n = gort_new(&node_type);
        n->value = i;
        GORT_STORE(n->right, first);
        first = n;
    }
    cm_old_h = hide(old);
    GORT_STORE(cm_ballast, first);
    GORT_STORE(cm_table, gort_new_array(&slot_type, CM_TABLE));
}

/* One new object of the kind for iteration i, linked in and recorded. */
NOINLINE static void cm_alloc_one(int i)
{
    struct cm_rec *r = &cm_rec[cm_n];
    int kind = i % 64 == 63 ? CM_LARGE : i % 3;
    r->kind = (uint8_t)kind;
    r->tag = tag_of(101, (uint64_t)cm_n);
    r->moved_h = 0;
    if (kind == CM_NODE) {
        struct node *n = gort_new(&node_type);
        n->value = (int64_t)r->tag;
        if (cm_old_next < CM_OLD) {
            int j = CM_OLD - 1 - cm_old_next++;
            struct slot *old = unhide(cm_old_h);
            void *o = old[j].p;
            GORT_STORE(n->left, (struct node *)o);
            GORT_STORE(old[j].p, NULL);
            r->moved_h = hide(o);
            r->moved_tag = cm_old_tag[j];
        }
        GORT_STORE(n->right, cm_head);
        GORT_STORE(cm_head, n);
        r->h = hide(n);
    } else {
        size_t size = cm_size[kind];
        void *p = kind == CM_CONS ? gort_alloc(size) : gort_alloc_noscan(size);
        fill_tag(p, size, r->tag);
        GORT_STORE(cm_table[cm_n].p, p);
        r->h = hide(p);
    }
    cm_n++;
}

/* Of the recorded objects: how many are not allocated, hold the wrong
 * bytes, or lost the old object they took over. */
struct cm_damage {
    int lost, corrupt, moved_lost, moved_corrupt;
};

NOINLINE static void cm_check(struct cm_damage *d)
{
    memset(d, 0, sizeof *d);
    for (int i = 0; i < cm_n; i++) {
        const struct cm_rec *r = &cm_rec[i];
        if (!live_exact(r->h)) {
            d->lost++;
            continue;
        }
        if (r->kind == CM_NODE) {
            const struct node *n = unhide(r->h);
            if (n->value != (int64_t)r->tag || (r->moved_h && n->left != unhide(r->moved_h)))
                d->corrupt++;
            if (r->moved_h && !live_exact(r->moved_h))
                d->moved_lost++;
            else if (r->moved_h && !tag_intact(r->moved_h, CM_OLD_SIZE, r->moved_tag))
                d->moved_corrupt++;
        } else if (!tag_intact(r->h, cm_size[r->kind], r->tag)) {
            d->corrupt++;
        }
    }
}

/* Objects of every size class the test used, so that a slot freed by
 * mistake is reused and overwritten. */
NOINLINE static void cm_reuse(void)
{
    alloc_garbage(sizeof(struct node), false, 2048);
    alloc_garbage(cm_size[CM_CONS], false, 1024);
    alloc_garbage(cm_size[CM_NOSCAN], true, 1024);
    alloc_garbage(cm_size[CM_LARGE], true, 16);
    alloc_garbage(CM_STACK_SIZE, false, 1024);
    alloc_garbage(CM_OLD_SIZE, true, 1024);
}

/* Stack-held objects that are not intact. */
NOINLINE static int cm_stack_damage(void *const *stk, int n, int attempt)
{
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += rt_test_heap_object_base(stk[i], NULL) != stk[i] ||
               !check_tag(stk[i], CM_STACK_SIZE, tag_of(102 + (uint64_t)attempt, (uint64_t)i));
    return bad;
}

/* One cycle.  Returns false if the collector goroutine did not finish;
 * *stack_bad counts stack-held objects damaged after the cycle and after
 * one more. */
NOINLINE static bool cm_attempt(int attempt, int *stack_bad)
{
    void *stk[CM_STACK];
    int nstk = 0;
    atomic_store(&cmg.done, 0);
    if (gort_go(cm_collector, NULL) != 0)
        return false;
    int64_t deadline = gort_nanotime() + WAIT_TIMEOUT;
    while (!marking() && !atomic_load(&cmg.done) && gort_nanotime() < deadline)
        gort_gosched();
    for (int i = 0; marking() && cm_n < CM_MAX; i++) {
        if (nstk < CM_STACK && i % 2 == 1) {
            stk[nstk] = gort_alloc(CM_STACK_SIZE);
            fill_tag(stk[nstk], CM_STACK_SIZE, tag_of(102 + (uint64_t)attempt, (uint64_t)nstk));
            nstk++;
            continue;
        }
        cm_alloc_one(i);
        bool during = marking();
        cm_rec[cm_n - 1].during_mark = during;
        cm_during += during;
    }
    if (!gt_wait_for(atomic_load(&cmg.done) != 0, WAIT_TIMEOUT))
        return false;
    *stack_bad += cm_stack_damage(stk, nstk, attempt);
    cm_reuse();
    *stack_bad += cm_stack_damage(stk, nstk, attempt);
    gort_gc();
    *stack_bad += cm_stack_damage(stk, nstk, attempt);
    return true;
}

static void test_objects_allocated_during_a_concurrent_mark_survive_it(void **state)
{
    gort_gomaxprocs(2);
    forced_cycles_only();
    cm_n = cm_during = cm_old_next = 0;
    cm_head = NULL;
    cm_build();
    gort_gc();

    int attempts = 0, stack_bad = 0;
    bool finished = true;
    while (finished && cm_during < CM_MIN && cm_n < CM_MAX && attempts < CM_ATTEMPTS) {
        finished = cm_attempt(attempts, &stack_bad);
        attempts++;
    }
    struct cm_damage after_cycle, after_reuse, after_next;
    cm_check(&after_cycle);
    cm_reuse();
    cm_check(&after_reuse);
    gort_gc();
    cm_check(&after_next);
    int moved = cm_old_next;

    print_message("%d cycle(s): %d objects allocated while marking (%d recorded), %d old objects "
                  "moved into new nodes\n", attempts, cm_during, cm_n, moved);
    print_message("damage after the cycle: lost %d corrupt %d moved-lost %d moved-corrupt %d; after "
                  "reuse: %d %d %d %d; after another cycle: %d %d %d %d; stack-held: %d\n",
                  after_cycle.lost, after_cycle.corrupt, after_cycle.moved_lost,
                  after_cycle.moved_corrupt, after_reuse.lost, after_reuse.corrupt,
                  after_reuse.moved_lost, after_reuse.moved_corrupt, after_next.lost,
                  after_next.corrupt, after_next.moved_lost, after_next.moved_corrupt, stack_bad);
    cm_ballast = NULL;
    cm_old_h = 0;
    cm_table = NULL;
    cm_head = NULL;

    assert_true(finished);
    assert_true(cm_during >= CM_MIN);
    assert_true(moved > 0);
    assert_int_equal(after_cycle.lost, 0);
    assert_int_equal(after_cycle.corrupt, 0);
    assert_int_equal(after_cycle.moved_lost, 0);
    assert_int_equal(after_cycle.moved_corrupt, 0);
    assert_int_equal(after_reuse.lost + after_reuse.corrupt, 0);
    assert_int_equal(after_reuse.moved_lost + after_reuse.moved_corrupt, 0);
    assert_int_equal(after_next.lost + after_next.corrupt, 0);
    assert_int_equal(after_next.moved_lost + after_next.moved_corrupt, 0);
    assert_int_equal(stack_bad, 0);
}

/* ---------------------------------------------------------------------
 * 2. Finalizers
 * ------------------------------------------------------------------- */

/* What the finalizers saw.  They run on the finalizer goroutine and keep
 * only hidden addresses, so that recording an object does not resurrect
 * it. */
static struct {
    atomic_int runs;
    atomic_uintptr_t arg;
    atomic_int intact;
    atomic_int other_runs;
} fz;

#define FZ_SIZE 128

NOINLINE static bool fz_intact_at(uintptr_t h, uint64_t tag)
{
    return check_tag(unhide(h), FZ_SIZE, tag);
}

static void fz_count(void *obj)
{
    uintptr_t h = hide(obj);
    atomic_store(&fz.arg, h);
    atomic_store(&fz.intact, fz_intact_at(h, tag_of(200, 0)));
    atomic_fetch_add(&fz.runs, 1);
}

static void fz_other(void *obj)
{
    atomic_fetch_add(&fz.other_runs, 1);
}

/* Collect and give the finalizer goroutine time, until cond holds or the
 * deadline passes; returns cond's last value. */
#define COLLECT_UNTIL(cond)                                                   \
    ({                                                                        \
        int64_t cu_deadline_ = gort_nanotime() + WAIT_TIMEOUT;                \
        bool cu_ok_;                                                          \
        while (!(cu_ok_ = (cond)) && gort_nanotime() < cu_deadline_) {      \
            SCRUB_AND_GC();                                                   \
            gort_sleep(GORT_MS);                                              \
        }                                                                     \
        cu_ok_;                                                               \
    })

/* n collections, each followed by a short sleep so that a finalizer the
 * cycle queued (wrongly) gets to run. */
#define COLLECT_N(n)                                                          \
    do {                                                                      \
        for (int cn_i_ = 0; cn_i_ < (n); cn_i_++) {                           \
            SCRUB_AND_GC();                                                   \
            gort_sleep(2 * GORT_MS);                                          \
        }                                                                     \
    } while (0)

static char fz_static[64];

struct fz_errs {
    int first, second, second_other, interior, large_interior, global, stack, heap_null, malloced;
    int remove, again, remove_again, large, large_remove;
};

NOINLINE static uintptr_t fz_api(struct fz_errs *e)
{
    char *p = gort_alloc(FZ_SIZE);
    fill_tag(p, FZ_SIZE, tag_of(200, 1));
    char *big = gort_alloc_noscan(100 * KIB);
    char on_stack[16];
    char *m = malloc(64);
    e->first = gort_set_finalizer(p, fz_count);
    e->second = gort_set_finalizer(p, fz_count);
    e->second_other = gort_set_finalizer(p, fz_other);
    e->interior = gort_set_finalizer(p + 8, fz_count);
    e->large_interior = gort_set_finalizer(big + 4096, fz_count);
    e->global = gort_set_finalizer(fz_static, fz_count);
    e->stack = gort_set_finalizer(on_stack, fz_count);
    e->heap_null = gort_set_finalizer(NULL, fz_count);
    e->malloced = gort_set_finalizer(m, fz_count);
    e->remove = gort_set_finalizer(p, NULL);
    e->again = gort_set_finalizer(p, fz_other);     /* removed, so it can be set again */
    e->remove_again = gort_set_finalizer(p, NULL);
    e->large = gort_set_finalizer(big, fz_other);
    e->large_remove = gort_set_finalizer(big, NULL);
    free(m);
    __asm__ volatile("" : : "r"(on_stack) : "memory");
    return hide(p);
}

static void test_set_finalizer_refuses_a_second_one_and_non_object_starts_and_null_removes(void **state)
{
    forced_cycles_only();
    memset(&fz, 0, sizeof fz);
    struct fz_errs e;
    uintptr_t h = fz_api(&e);

    /* The finalizer was removed: the object goes without it. */
    COLLECT_N(3);
    SCRUB_AND_GC();
    bool freed = FREED(h);
    gort_sleep(5 * GORT_MS);

    assert_int_equal(e.first, 0);
    assert_int_equal(e.second, -EEXIST);
    assert_int_equal(e.second_other, -EEXIST);
    assert_int_equal(e.interior, -EINVAL);
    assert_int_equal(e.large_interior, -EINVAL);
    assert_int_equal(e.global, -EINVAL);
    assert_int_equal(e.stack, -EINVAL);
    assert_int_equal(e.heap_null, -EINVAL);
    assert_int_equal(e.malloced, -EINVAL);
    assert_int_equal(e.remove, 0);
    assert_int_equal(e.again, 0);
    assert_int_equal(e.remove_again, 0);
    assert_int_equal(e.large, 0);
    assert_int_equal(e.large_remove, 0);
    assert_true(freed);
    assert_int_equal(atomic_load(&fz.runs), 0);
    assert_int_equal(atomic_load(&fz.other_runs), 0);
}

static void *volatile fz_hold;

NOINLINE static uintptr_t fz_make_once(void)
{
    char *p = gort_alloc(FZ_SIZE);
    fill_tag(p, FZ_SIZE, tag_of(200, 0));
    if (gort_set_finalizer(p, fz_count) != 0)
        return 0;
    fz_hold = p;
    return hide(p);
}

static void test_a_finalizer_runs_exactly_once_after_its_object_becomes_unreachable(void **state)
{
    forced_cycles_only();
    memset(&fz, 0, sizeof fz);
    uintptr_t h = fz_make_once();
    assert_true(h != 0);

    /* Reachable from a global: no finalizer. */
    COLLECT_N(3);
    int runs_while_reachable = atomic_load(&fz.runs);
    bool kept_while_reachable = kept(h, FZ_SIZE, tag_of(200, 0));

    fz_hold = NULL;
    bool ran = COLLECT_UNTIL(atomic_load(&fz.runs) > 0);
    uintptr_t arg = atomic_load(&fz.arg);
    int intact = atomic_load(&fz.intact);
    /* More cycles: it must not run again, and the object goes. */
    COLLECT_N(5);
    int runs_after = atomic_load(&fz.runs);
    SCRUB_AND_GC();
    bool freed = FREED(h);

    assert_int_equal(runs_while_reachable, 0);
    assert_true(kept_while_reachable);
    assert_true(ran);
    assert_true(arg == h);
    assert_int_equal(intact, 1);
    assert_int_equal(runs_after, 1);
    assert_true(freed);
}

/* Resurrection: the finalizer stores its object (a typed parent whose
 * field points to a tagged noscan child) in a global. */
struct fz_parent {
    void *child;
    int64_t tag;
};
GORT_TYPE(fz_parent_type, struct fz_parent, child);
#define FZ_CHILD_SIZE 256

static struct fz_parent *fz_saved;

static void fz_resurrect(void *obj)
{
    GORT_STORE(fz_saved, (struct fz_parent *)obj);
    atomic_fetch_add(&fz.runs, 1);
}

NOINLINE static bool fz_make_parent(uintptr_t *hp, uintptr_t *hc)
{
    struct fz_parent *p = gort_new(&fz_parent_type);
    char *c = gort_alloc_noscan(FZ_CHILD_SIZE);
    fill_tag(c, FZ_CHILD_SIZE, tag_of(201, 1));
    GORT_STORE(p->child, c);
    p->tag = (int64_t)tag_of(201, 0);
    *hp = hide(p);
    *hc = hide(c);
    return gort_set_finalizer(p, fz_resurrect) == 0;
}

NOINLINE static bool fz_parent_intact(uintptr_t hp, uintptr_t hc)
{
    const struct fz_parent *p = unhide(hp);
    return live_exact(hp) && p->tag == (int64_t)tag_of(201, 0) && p->child == unhide(hc) &&
           kept(hc, FZ_CHILD_SIZE, tag_of(201, 1)) && fz_saved == p;
}

static void test_a_finalizer_that_stores_its_object_resurrects_it_and_what_it_reaches(void **state)
{
    forced_cycles_only();
    memset(&fz, 0, sizeof fz);
    fz_saved = NULL;
    uintptr_t hp = 0, hc = 0;
    assert_true(fz_make_parent(&hp, &hc));

    bool ran = COLLECT_UNTIL(atomic_load(&fz.runs) > 0);
    /* Resurrected: later cycles keep parent and child, with their bytes,
     * and the finalizer (gone with its first run) does not run again. */
    COLLECT_N(5);
    alloc_garbage(sizeof(struct fz_parent), false, 256);
    alloc_garbage(FZ_CHILD_SIZE, true, 256);
    bool intact = fz_parent_intact(hp, hc);
    int runs = atomic_load(&fz.runs);

    /* Dropped again: now it goes, still without a second run. */
    fz_saved = NULL;
    COLLECT_N(3);
    SCRUB_AND_GC();
    bool parent_freed = FREED(hp), child_freed = FREED(hc);
    int runs_after_drop = atomic_load(&fz.runs);

    assert_true(ran);
    assert_true(intact);
    assert_int_equal(runs, 1);
    assert_true(parent_freed);
    assert_true(child_freed);
    assert_int_equal(runs_after_drop, 1);
}

/* A two-node cycle, a finalizer on one node. */
static void fz_cycle_fin(void *obj)
{
    atomic_fetch_add(&fz.runs, 1);
}

NOINLINE static bool fz_make_cycle(uintptr_t h[2])
{
    struct node *a = gort_new(&node_type), *b = gort_new(&node_type);
    a->value = (int64_t)tag_of(202, 0);
    b->value = (int64_t)tag_of(202, 1);
    GORT_STORE(a->right, b);
    GORT_STORE(b->right, a);
    h[0] = hide(a);
    h[1] = hide(b);
    return gort_set_finalizer(a, fz_cycle_fin) == 0;
}

NOINLINE static bool fz_cycle_intact(const uintptr_t h[2])
{
    const struct node *a = unhide(h[0]), *b = unhide(h[1]);
    return live_exact(h[0]) && live_exact(h[1]) && a->value == (int64_t)tag_of(202, 0) &&
           b->value == (int64_t)tag_of(202, 1) && a->right == b && b->right == a;
}

NOINLINE static int fz_remove(uintptr_t h)
{
    return gort_set_finalizer(unhide(h), NULL);
}

static void test_a_cycle_holding_an_object_with_a_finalizer_is_never_collected(void **state)
{
    forced_cycles_only();
    memset(&fz, 0, sizeof fz);
    uintptr_t h[2];
    assert_true(fz_make_cycle(h));

    COLLECT_N(6);
    alloc_garbage(sizeof(struct node), false, 256);
    bool intact = fz_cycle_intact(h);
    int runs = atomic_load(&fz.runs);

    /* Without the finalizer the same cycle is garbage: what kept it was
     * the finalizer, not a stray reference. */
    int removed = fz_remove(h[0]);
    SCRUB_AND_GC();
    int still = count_live(h, 2);
    gort_sleep(2 * GORT_MS);

    assert_int_equal(runs, 0);
    assert_true(intact);
    assert_int_equal(removed, 0);
    assert_int_equal(still, 0);
    assert_int_equal(atomic_load(&fz.runs), 0);
}

/* ---------------------------------------------------------------------
 * 3. GOGC=off
 * ------------------------------------------------------------------- */

#define OFF_BYTES (96 * MIB)
#define OFF_OBJ (32 * KIB)

NOINLINE static void off_allocate(size_t bytes)
{
    for (size_t done = 0; done < bytes; done += OFF_OBJ) {
        char *p = gort_alloc_noscan(OFF_OBJ);
        p[0] = 1;
        if (done % MIB == 0)
            gort_gosched();
    }
}

static void test_gc_percent_off_never_starts_a_cycle_and_100_starts_them_again(void **state)
{
    gort_gomaxprocs(2);
    int prev = gort_set_gc_percent(-1);
    /* A cycle started before the switch ends inside this one. */
    gort_gc();
    gort_read_memstats(&ms0);
    off_allocate(OFF_BYTES);
    /* A cycle started wrongly would be over by now. */
    gort_sleep(50 * GORT_MS);
    gort_read_memstats(&ms1);

    int off = gort_set_gc_percent(100);
    /* The heap is far past the new trigger: a cycle starts at once. */
    bool restarted = gt_wait_for((gort_read_memstats(&ms2), ms2.num_gc > ms1.num_gc), WAIT_TIMEOUT);
    gort_read_memstats(&ms2);
    size_t churned = churn(churn_scale(128 * MIB), ms2.num_gc + 2, gort_nanotime() + WAIT_TIMEOUT);
    gort_read_memstats(&ms3);

    print_message("GOGC=off: num_gc %u -> %u over %zu MiB, heap_alloc %" PRIu64 " -> %" PRIu64
                  " MiB; GOGC=100: num_gc %u -> %u -> %u after %zu MiB, forced %u -> %u\n",
                  ms0.num_gc, ms1.num_gc, OFF_BYTES / MIB, ms0.heap_alloc / MIB, ms1.heap_alloc / MIB,
                  ms1.num_gc, ms2.num_gc, ms3.num_gc, churned / MIB, ms1.num_forced_gc,
                  ms3.num_forced_gc);
    assert_int_equal(prev, 100);
    assert_int_equal(off, -1);
    assert_int_equal(ms1.num_gc, ms0.num_gc);
    assert_true(ms1.heap_alloc >= ms0.heap_alloc + OFF_BYTES - OFF_BYTES / 16);
    assert_true(restarted);
    assert_true(ms3.num_gc >= ms2.num_gc + 2);
    assert_int_equal(ms3.num_forced_gc, ms1.num_forced_gc);
}

/* ---------------------------------------------------------------------
 * 4. Pacing
 * ------------------------------------------------------------------- */

#define PACE_LIVE_N 1024
#define PACE_LIVE_SIZE (8 * KIB)
static struct slot *pace_live;

static void test_the_pacer_keeps_the_heap_near_its_goal_under_churn(void **state)
{
    gort_gomaxprocs(2);
    live_set_make(&pace_live, PACE_LIVE_N, PACE_LIVE_SIZE, 300);
    gort_gc();
    gort_gc();
    gort_read_memstats(&ms0);
    uint64_t live = ms0.heap_alloc;
    /* The goal is twice what a cycle marks, and a cycle marks the live
     * set plus what was allocated (black) while it marked; HeapAlloc also
     * holds garbage not swept yet.  Go's heap overshoots the same way: the
     * bound is 1.5 goals of the true live set, and it fails when pacing
     * does not happen at all (the heap then grows to the 256 MiB churned). */
    uint64_t bound = live * 3 + 4 * MIB;
    churn(churn_scale(256 * MIB), 0, gort_nanotime() + gt_slow(10 * GORT_S));
    struct churn_seen s = seen;
    gort_read_memstats(&ms1);
    /* The live set, checked with nothing collecting or sweeping (the heap
     * hook reads span bits that sweeping rewrites). */
    gort_set_gc_percent(-1);
    gort_gc();
    int damage = live_set_damage(pace_live, PACE_LIVE_N, PACE_LIVE_SIZE, 300);
    pace_live = NULL;

    print_message("live %" PRIu64 " KiB, goal %" PRIu64 " KiB, max heap_alloc %" PRIu64
                  " KiB (bound %" PRIu64 " KiB), %u cycles (%u forced)\n",
                  live / KIB, ms0.next_gc / KIB, s.max_heap_alloc / KIB, bound / KIB,
                  ms1.num_gc - ms0.num_gc, ms1.num_forced_gc - ms0.num_forced_gc);
    assert_true(live >= PACE_LIVE_N * PACE_LIVE_SIZE);
    assert_true(s.max_heap_alloc < bound);
    assert_true(ms1.num_gc - ms0.num_gc >= 4);
    assert_int_equal(ms1.num_forced_gc, ms0.num_forced_gc);
    assert_int_equal(damage, 0);
}

/* ---------------------------------------------------------------------
 * 5. The memory limit
 * ------------------------------------------------------------------- */

#define LIMIT ((int64_t)64 << 20)
#define LIMIT_LIVE_N 2048
#define LIMIT_LIVE_SIZE (8 * KIB)
static struct slot *limit_live;

static void test_a_memory_limit_keeps_the_heap_under_it_with_gc_percent_off(void **state)
{
    gort_gomaxprocs(2);
    int64_t q0 = gort_set_memory_limit(-1);
    int64_t q1 = gort_set_memory_limit(-1);
    int prev_pct = gort_set_gc_percent(-1);
    /* Start with nothing retained but the live heap: earlier tests leave
     * free pages that the scavenger (1 % of a CPU) takes seconds to give
     * back, and this test is about the steady state under the limit. */
    gort_free_os_memory();
    int64_t prev = gort_set_memory_limit(LIMIT);
    int64_t q2 = gort_set_memory_limit(-1);
    int64_t q3 = gort_set_memory_limit(-5);
    gort_read_memstats(&ms0);

    live_set_make(&limit_live, LIMIT_LIVE_N, LIMIT_LIVE_SIZE, 301);
    churn(churn_scale(512 * MIB), 0, gort_nanotime() + gt_slow(10 * GORT_S));
    struct churn_seen s = seen;
    gort_read_memstats(&ms1);
    uint64_t retained_end = ms1.heap_sys - ms1.heap_released;

    /* The live set, checked with nothing collecting or sweeping (the
     * heap hook reads span bits that sweeping rewrites). */
    int64_t restored = gort_set_memory_limit(INT64_MAX);
    int64_t q4 = gort_set_memory_limit(-1);
    gort_gc();
    int damage = live_set_damage(limit_live, LIMIT_LIVE_N, LIMIT_LIVE_SIZE, 301);
    limit_live = NULL;
    gort_set_gc_percent(prev_pct);

    uint64_t retained_bound = (uint64_t)LIMIT + (uint64_t)LIMIT / 10;
    print_message("limit %" PRId64 " MiB: max heap_alloc %" PRIu64 " KiB, max retained %" PRIu64
                  " KiB, retained at the end %" PRIu64 " KiB (bound %" PRIu64 " KiB; heap_inuse %"
                  PRIu64 " KiB, other sys %" PRIu64 " KiB); %u cycles (%u forced), goal %" PRIu64
                  " KiB\n",
                  LIMIT >> 20, s.max_heap_alloc / KIB, s.max_retained / KIB, retained_end / KIB,
                  retained_bound / KIB, ms1.heap_inuse / KIB, (ms1.sys - ms1.heap_sys) / KIB,
                  ms1.num_gc - ms0.num_gc, ms1.num_forced_gc - ms0.num_forced_gc, ms1.next_gc / KIB);
    assert_int_equal(q0, INT64_MAX);
    assert_int_equal(q1, INT64_MAX);
    assert_int_equal(prev_pct, 100);
    assert_int_equal(prev, INT64_MAX);
    assert_int_equal(q2, LIMIT);
    assert_int_equal(q3, LIMIT);
    assert_int_equal(ms0.memory_limit, LIMIT);
    assert_true(s.max_heap_alloc < (uint64_t)LIMIT);
    assert_true(s.max_retained < retained_bound);
    assert_true(retained_end < retained_bound);
    assert_true(ms1.num_gc - ms0.num_gc >= 3);
    assert_int_equal(ms1.num_forced_gc, ms0.num_forced_gc);
    assert_int_equal(damage, 0);
    assert_int_equal(restored, LIMIT);
    assert_int_equal(q4, INT64_MAX);
}

/* ---------------------------------------------------------------------
 * 6, 7. forcegc and gctrace (helper programs)
 * ------------------------------------------------------------------- */

/* SPEC 2.10's gctrace line (Go 1.19's, with "# MB globals"); $1 the GC
 * number, $2 the P count, $3 " (forced)" or empty. */
#define GC_MS "[0-9]+(\\.[0-9]+)?"
#define GC_LINE                                                                          \
    "^gc ([0-9]+) @[0-9]+\\.[0-9]{3}s [0-9]+%: " GC_MS "\\+" GC_MS "\\+" GC_MS            \
    " ms clock, " GC_MS "\\+" GC_MS "/" GC_MS "/" GC_MS "\\+" GC_MS " ms cpu, "            \
    "[0-9]+->[0-9]+->[0-9]+ MB, [0-9]+ MB goal, [0-9]+ MB stacks, [0-9]+ MB globals, "     \
    "([0-9]+) P( \\(forced\\))?$"
#define GC_LINE_NUM 1
#define GC_LINE_P 10
#define GC_LINE_FORCED 11

/* A gc line, parsed: its number, P count and whether it is forced. */
struct gc_line {
    long num, procs;
    bool forced;
};

/* Parse one line (NUL-terminated, no newline); false if it does not match
 * GC_LINE. */
static bool parse_gc_line(const char *line, struct gc_line *g)
{
    regmatch_t m[GC_LINE_FORCED + 1];
    if (!gt_regex_search(line, GC_LINE, m, GC_LINE_FORCED + 1))
        return false;
    g->num = (long)gt_submatch_ll(line, m[GC_LINE_NUM]);
    g->procs = (long)gt_submatch_ll(line, m[GC_LINE_P]);
    g->forced = m[GC_LINE_FORCED].rm_so >= 0;
    return true;
}

/* The lines of text, split (a malloc'd array of malloc'd strings). */
static char **split_lines(const char *text, int *n)
{
    int cap = 16;
    char **v = malloc((size_t)cap * sizeof *v);
    *n = 0;
    for (const char *p = text; v != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (*n == cap) {
            cap *= 2;
            char **nv = realloc(v, (size_t)cap * sizeof *v);
            if (nv == NULL)
                break;
            v = nv;
        }
        v[(*n)++] = strndup(p, len);
        p += len;
        if (*p == '\n')
            p++;
    }
    return v;
}

static void free_lines(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void test_forcegc_runs_a_cycle_after_its_period_and_gctrace_says_so(void **state)
{
    const char *const env[] = { "GODEBUG=gctrace=1,scavenge=1", "GOMAXPROCS=2", "GOGC=100",
                                "GOMEMLIMIT=off", NULL };
    gt_proc r;
    gt_run("gc_forcegc", NULL, env, HELPER_TIMEOUT, &r);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);

    /* Each "GC forced" is followed by its cycle's line, scavenger lines
     * (sysmon prints them every 10 ms here) aside; the last one may be cut
     * short by the exit. */
    int n = 0, forced_lines = 0, paired = 0, bad_lines = 0, forced_suffix = 0;
    char **lines = split_lines(r.err, &n);
    for (int i = 0; i < n; i++) {
        if (strncmp(lines[i], "gc ", 3) == 0) {
            struct gc_line g;
            if (!parse_gc_line(lines[i], &g)) {
                print_message("gctrace line does not match: \"%s\"\n", lines[i]);
                bad_lines++;
            } else if (g.forced) {
                forced_suffix++;
            }
        }
        if (strcmp(lines[i], "GC forced") != 0)
            continue;
        forced_lines++;
        int j = i + 1;
        while (j < n && strncmp(lines[j], "scvg", 4) == 0)
            j++;
        struct gc_line g;
        if (j < n && parse_gc_line(lines[j], &g) && !g.forced)
            paired++;
    }
    free_lines(lines, n);
    unsigned num_gc = 0, num_forced = 99;
    bool stats = sscanf(r.out, "num_gc %u forced %u", &num_gc, &num_forced) == 2;
    GT_ASSERT_PROC(forced_lines >= 1, &r);
    GT_ASSERT_PROC(paired >= 1 && paired >= forced_lines - 1, &r);
    GT_ASSERT_PROC(bad_lines == 0, &r);
    GT_ASSERT_PROC(forced_suffix == 0, &r);
    GT_ASSERT_PROC(stats && num_gc >= 1 && num_forced == 0, &r);
    gt_proc_free(&r);

    /* The default period is 2 minutes: a short run has no forced cycle. */
    const char *const env_default[] = { "GODEBUG=gctrace=1", "GOMAXPROCS=2", "GOGC=100",
                                        "GOMEMLIMIT=off", NULL };
    gt_run("gc_forcegc", NULL, env_default, HELPER_TIMEOUT, &r);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(!gt_matches(r.err, "^GC forced$"), &r);
    GT_ASSERT_PROC(!gt_matches(r.err, "^gc "), &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^num_gc 0 forced 0$"), &r);
    gt_proc_free(&r);
}

static void test_gctrace_lines_of_automatic_and_forced_cycles_follow_gos_format(void **state)
{
    const char *const env[] = { "GODEBUG=gctrace=1", "GOMAXPROCS=2", "GOGC=100", "GOMEMLIMIT=off",
                                NULL };
    gt_proc r;
    gt_run("gc_autotrace", NULL, env, HELPER_TIMEOUT, &r);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    unsigned num_gc = 0, num_forced = 0, autos = 0;
    bool stats = sscanf(r.out, "num_gc %u forced %u auto %u", &num_gc, &num_forced, &autos) == 3;
    GT_ASSERT_PROC(stats, &r);

    int n = 0, ngc = 0, bad = 0, forced = 0, automatic = 0, wrong_p = 0, out_of_order = 0;
    long last = 0;
    char **lines = split_lines(r.err, &n);
    for (int i = 0; i < n; i++) {
        if (strncmp(lines[i], "gc ", 3) != 0)
            continue;
        ngc++;
        struct gc_line g;
        if (!parse_gc_line(lines[i], &g)) {
            print_message("gctrace line does not match: \"%s\"\n", lines[i]);
            bad++;
            continue;
        }
        out_of_order += g.num != last + 1;
        last = g.num;
        wrong_p += g.procs != 2;
        if (g.forced)
            forced++;
        else
            automatic++;
    }
    free_lines(lines, n);
    print_message("%d gc lines: %d automatic, %d forced; num_gc %u forced %u\n", ngc, automatic,
                  forced, num_gc, num_forced);
    GT_ASSERT_PROC(bad == 0, &r);
    GT_ASSERT_PROC(out_of_order == 0, &r);
    GT_ASSERT_PROC(wrong_p == 0, &r);
    /* Three gort_gc calls, each printed before it returned. */
    GT_ASSERT_PROC(forced == 3 && num_forced == 3, &r);
    GT_ASSERT_PROC(automatic >= 3, &r);
    /* An automatic cycle may have been under way at the exit. */
    GT_ASSERT_PROC(last == (long)num_gc || last + 1 == (long)num_gc, &r);
    gt_proc_free(&r);
}

/* ---------------------------------------------------------------------
 * 8. A plugin's bss
 * ------------------------------------------------------------------- */

/* Path of a test plugin: BUILD/tests/plugins/libNAME.so, BUILD from
 * GORT_TEST_BUILD_DIR or else this binary's directory's parent. */
static bool plugin_path(char *buf, size_t size, const char *name)
{
    int n;
    const char *dir = getenv("GORT_TEST_BUILD_DIR");
    if (dir != NULL && dir[0] != '\0') {
        n = snprintf(buf, size, "%s/tests/plugins/lib%s.so", dir, name);
        return n > 0 && (size_t)n < size;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return false;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');          /* BUILD/tests/<suite> */
    if (slash == NULL)
        return false;
    *slash = '\0';
    n = snprintf(buf, size, "%s/plugins/lib%s.so", exe, name);
    return n > 0 && (size_t)n < size;
}

#define PL_SIZE 224
static struct {
    void (*set)(void *);
    void *(*get)(void);
    void **(*where)(void);
} pl;

NOINLINE static uintptr_t pl_store_fresh(void)
{
    char *p = gort_alloc(PL_SIZE);
    fill_tag(p, PL_SIZE, tag_of(400, 0));
    pl.set(p);
    return hide(p);
}

NOINLINE static bool pl_holds(uintptr_t h)
{
    return pl.get() == unhide(h);
}

extern char __bss_start[], _end[];

static void test_the_bss_of_a_plugin_loaded_at_run_time_is_a_root(void **state)
{
    forced_cycles_only();
    char path[PATH_MAX];
    assert_true(plugin_path(path, sizeof path, "bssroot"));
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL)
        print_message("dlopen %s: %s\n", path, dlerror());
    assert_non_null(dl);
    pl.set = (void (*)(void *))dlsym(dl, "bssroot_set");
    pl.get = (void *(*)(void))dlsym(dl, "bssroot_get");
    pl.where = (void **(*)(void))dlsym(dl, "bssroot_where");
    assert_non_null(pl.set);
    assert_non_null(pl.get);
    assert_non_null(pl.where);
    /* The premise: the variable is the plugin's, not the executable's. */
    Dl_info info;
    void **slot = pl.where();
    assert_true(dladdr(slot, &info) != 0);
    assert_non_null(info.dli_fname);
    assert_non_null(strstr(info.dli_fname, "libbssroot.so"));
    assert_false((char *)slot >= __bss_start && (char *)slot < _end);

    uintptr_t h = pl_store_fresh();
    int lost = 0;
    for (int i = 0; i < 4; i++) {
        SCRUB_AND_GC();
        lost += !live_exact(h);
        alloc_garbage(PL_SIZE, false, 64);
    }
    bool intact = kept(h, PL_SIZE, tag_of(400, 0)) && pl_holds(h);

    pl.set(NULL);
    SCRUB_AND_GC();
    bool freed = FREED(h);

    assert_int_equal(lost, 0);
    assert_true(intact);
    assert_true(freed);
}

/* ---------------------------------------------------------------------
 * 9. gcstoptheworld
 * ------------------------------------------------------------------- */

#define STW_N 1000
static uintptr_t stw_ring_h[STW_N], stw_list_h[STW_N];
static struct node *volatile stw_list;

/* An unreachable doubly linked ring, and a list anchored in bss. */
NOINLINE static void stw_make(int mode)
{
    struct node *first = gort_new(&node_type), *prev = first;
    first->value = (int64_t)tag_of(500 + (uint64_t)mode, 0);
    stw_ring_h[0] = hide(first);
    for (int i = 1; i < STW_N; i++) {
        struct node *n = gort_new(&node_type);
        n->value = (int64_t)tag_of(500 + (uint64_t)mode, (uint64_t)i);
        GORT_STORE(prev->right, n);
        GORT_STORE(n->left, prev);
        stw_ring_h[i] = hide(n);
        prev = n;
    }
    GORT_STORE(prev->right, first);
    GORT_STORE(first->left, prev);

    struct node *head = NULL;
    for (int i = STW_N - 1; i >= 0; i--) {
        struct node *n = gort_new(&node_type);
        n->value = (int64_t)tag_of(510 + (uint64_t)mode, (uint64_t)i);
        GORT_STORE(n->right, head);
        head = n;
        stw_list_h[i] = hide(n);
    }
    stw_list = head;
}

/* List nodes not allocated, not holding their value, or not linked to
 * their successor. */
NOINLINE static int stw_list_damage(int mode)
{
    int bad = 0;
    const struct node *n = stw_list;
    for (int i = 0; i < STW_N; i++) {
        if (n != unhide(stw_list_h[i]) || !live_exact(stw_list_h[i]) ||
            n->value != (int64_t)tag_of(510 + (uint64_t)mode, (uint64_t)i)) {
            bad += STW_N - i;
            break;
        }
        n = n->right;
    }
    return bad;
}

static void test_gcstoptheworld_1_and_2_still_collect_correctly(void **state)
{
    forced_cycles_only();
    int ring_live[3] = { 0 }, list_bad[3] = { 0 }, list_live[3] = { 0 };
    uint32_t cycles[3] = { 0 };
    bool swept[3] = { false }, ids[3] = { false };
    /* The knob is read by cycles without synchronisation: flip it with
     * none under way (this one waits for any that is). */
    gort_gc();
    for (int mode = 1; mode <= 2; mode++) {
        debug.gcstoptheworld = mode;
        stw_make(mode);
        gort_read_memstats(&ms0);
        SCRUB_AND_GC();
        swept[mode] = rt_test_heap_sweep_done();
        gort_read_memstats(&ms1);
        ids[mode] = identities_hold(&ms1, mode == 1 ? "gcstoptheworld=1" : "gcstoptheworld=2");
        cycles[mode] = ms1.num_gc - ms0.num_gc;
        ring_live[mode] = count_live(stw_ring_h, STW_N);
        alloc_garbage(sizeof(struct node), false, 2 * STW_N);
        list_bad[mode] = stw_list_damage(mode);
        stw_list = NULL;
        SCRUB_AND_GC();
        list_live[mode] = count_live(stw_list_h, STW_N);
    }
    debug.gcstoptheworld = saved_gcstoptheworld;

    for (int mode = 1; mode <= 2; mode++) {
        print_message("gcstoptheworld=%d: %u cycle(s), ring nodes left %d, list nodes damaged %d, "
                      "list nodes left after dropping it %d, sweep done %d\n",
                      mode, cycles[mode], ring_live[mode], list_bad[mode], list_live[mode], swept[mode]);
        assert_true(cycles[mode] >= 1);
        assert_int_equal(ring_live[mode], 0);
        assert_int_equal(list_bad[mode], 0);
        assert_int_equal(list_live[mode], 0);
        assert_true(swept[mode]);
        assert_true(ids[mode]);
    }
}

/* ---------------------------------------------------------------------
 * 10. MemStats over automatic and forced cycles
 * ------------------------------------------------------------------- */

#define MS_FORCED 3

static void test_memstats_count_forced_cycles_apart_and_record_every_pause(void **state)
{
    gort_gomaxprocs(2);
    gort_gc();
    gort_read_memstats(&ms0);
    uint64_t last_gc[MS_FORCED + 1] = { ms0.last_gc };
    uint32_t auto_gcs = 0;
    for (int i = 0; i < MS_FORCED; i++) {
        /* At least one automatic cycle, then a forced one. */
        gort_read_memstats(&ms1);
        churn(churn_scale(64 * MIB), ms1.num_gc + 1, gort_nanotime() + WAIT_TIMEOUT);
        gort_read_memstats(&ms2);
        auto_gcs += ms2.num_gc - ms1.num_gc;
        gort_gc();
        gort_read_memstats(&ms2);
        last_gc[i + 1] = ms2.last_gc;
    }
    gort_read_memstats(&ms1);
    uint32_t cycles = ms1.num_gc - ms0.num_gc;

    /* Every new cycle has its pause and its end in the rings, in order,
     * and the pauses add up to PauseTotalNs's growth. */
    int zero_pause = 0, zero_end = 0, unordered = 0;
    uint64_t pause_sum = 0, prev_end = ms0.last_gc;
    for (uint32_t c = ms0.num_gc; c < ms1.num_gc && cycles <= 256; c++) {
        uint64_t pause = ms1.pause_ns[c % 256], end = ms1.pause_end[c % 256];
        zero_pause += pause == 0;
        zero_end += end == 0;
        unordered += end < prev_end;
        prev_end = end;
        pause_sum += pause;
    }
    int advanced = 0;
    for (int i = 0; i < MS_FORCED; i++)
        advanced += last_gc[i + 1] > last_gc[i];

    print_message("%u cycles, %u of them automatic (seen while churning), forced %u -> %u; "
                  "pause total +%" PRIu64 " ns, sum of ring entries %" PRIu64
                  " ns; cpu fraction %g\n",
                  cycles, auto_gcs, ms0.num_forced_gc, ms1.num_forced_gc,
                  ms1.pause_total_ns - ms0.pause_total_ns, pause_sum, ms1.gc_cpu_fraction);
    assert_int_equal(ms1.num_forced_gc - ms0.num_forced_gc, MS_FORCED);
    assert_true(auto_gcs >= MS_FORCED);
    assert_true(cycles >= MS_FORCED + auto_gcs);
    assert_true(cycles <= 256);
    assert_int_equal(advanced, MS_FORCED);
    assert_true(ms1.last_gc == ms1.pause_end[(ms1.num_gc + 255) % 256]);
    assert_int_equal(zero_pause, 0);
    assert_int_equal(zero_end, 0);
    assert_int_equal(unordered, 0);
    assert_true(pause_sum == ms1.pause_total_ns - ms0.pause_total_ns);
    assert_true(ms0.gc_cpu_fraction >= 0 && ms0.gc_cpu_fraction <= 1);
    assert_true(ms1.gc_cpu_fraction >= 0 && ms1.gc_cpu_fraction <= 1);
}

/* ---------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, gcc_setup, gcc_teardown)

static void run_all(void *arg)
{
    const struct CMUnitTest tests[] = {
        T(test_objects_allocated_during_a_concurrent_mark_survive_it),
        T(test_set_finalizer_refuses_a_second_one_and_non_object_starts_and_null_removes),
        T(test_a_finalizer_runs_exactly_once_after_its_object_becomes_unreachable),
        T(test_a_finalizer_that_stores_its_object_resurrects_it_and_what_it_reaches),
        T(test_a_cycle_holding_an_object_with_a_finalizer_is_never_collected),
        T(test_the_bss_of_a_plugin_loaded_at_run_time_is_a_root),
        T(test_gcstoptheworld_1_and_2_still_collect_correctly),
        T(test_memstats_count_forced_cycles_apart_and_record_every_pause),
        /* GOGC=off leaves ~100 MiB of heap that the memory-limit test
         * then has the scavenger bring down. */
        T(test_gc_percent_off_never_starts_a_cycle_and_100_starts_them_again),
        T(test_a_memory_limit_keeps_the_heap_under_it_with_gc_percent_off),
        T(test_the_pacer_keeps_the_heap_near_its_goal_under_churn),
        T(test_forcegc_runs_a_cycle_after_its_period_and_gctrace_says_so),
        T(test_gctrace_lines_of_automatic_and_forced_cycles_follow_gos_format),
    };
    saved_gcstoptheworld = debug.gcstoptheworld;
    pthread_t wd;
    if (pthread_create(&wd, NULL, watchdog, NULL) == 0)
        pthread_detach(wd);
    gort_lock_os_thread();
    gt_select_tests();
    *(int *)arg = cmocka_run_group_tests(tests, NULL, NULL);
    gort_unlock_os_thread();
}

int main(void)
{
    return gt_main("test_gcc", run_all);
}
