/*
 * test_gc.c - the collector as its acceptance list states it, as far as
 * its first form supports it (gort_gc: a stop-the-world mark from
 * conservative roots, then the heap's concurrent sweep):
 *
 *    1. objects reachable only from a goroutine's stack survive: the
 *       collecting goroutine's locals, and those of goroutines parked on a
 *       channel receive and in gort_sleep; they are freed once the
 *       reference is gone (the frame returned, the goroutine exited);
 *    2. a pointer held only in a callee-saved register by a goroutine that
 *       spins (calling gort_gosched, a safe point) while another collects;
 *    3. interior pointers keep their object, small and large; a pointer one
 *       past the end of an object's slot does not;
 *    4. typed objects are scanned precisely (a pointer field keeps its
 *       target, an int64 field holding an address does not), noscan objects
 *       not at all, gort_alloc objects conservatively;
 *    5. globals in bss and in initialised data (the plugin part is not here:
 *       the Makefile has no rule to build a test shared object);
 *    6. malloc'd memory is invisible until registered with gort_root_add,
 *       and again after gort_root_remove;
 *    7. an unreachable ring of 1000 typed nodes is freed entirely;
 *    8. goroutine start arguments, deferred-call arguments (in a
 *       gort_pcall frame and in a goroutine's top frame) and panic values
 *       (in flight, and in the recovered panic's record until the
 *       goroutine ends);
 *    9. channels: a typed channel's buffer keeps its elements' targets, an
 *       untyped one does not, a received element is no longer kept, and a
 *       channel known only to a blocked goroutine stays usable;
 *   10. a goroutine in a bracketed system call keeps what its callee-saved
 *       registers and its stack hold;
 *   11. gort_gc from a plain pthread;
 *   12. MemStats' collector fields, and the pause histogram agreeing
 *       with num_gc and the pause ring;
 *   13. Go's gctrace line for every forced cycle, gort_gc's and
 *       gort_free_os_memory's (helper program tests/progs/gc_trace.c);
 *   14. gort_gc after the hand cycles of test_heap resurrects nothing;
 *   15. the observer (gort_set_observer): every collection once, in order,
 *       with numbers that agree with each other, with MemStats and with
 *       the gctrace line of the same cycle; why a cycle started (forced,
 *       heap); gort_free_os_memory's forced scavenger pass after its
 *       cycle; removing and replacing the observer.
 *
 * The register tests (2 and 10) pin the pointer to r12 or rbx with an
 * explicit register variable and an empty asm that rewrites it; the object
 * is made by a NOINLINE helper, so the goroutine's frame never holds a copy
 * (checked in the disassembly of the plain, ASan and TSan builds: the
 * pointer reaches memory only where callees and the context switch save
 * the register).
 *
 * "Kept" is exact: rt_test_heap_object_base(p) == p and the object's bytes
 * unchanged.  After a "kept" check the tests allocate objects of the same
 * span class and fill them, so that an object wrongly freed would have its
 * slot reused and its bytes overwritten, which the holder then sees.
 *
 * "Freed" is exact too: rt_test_heap_object_base(old address) == NULL right
 * after the gort_gc that must free it, with no allocation in between (so a
 * reused slot cannot fool the check).  The collector is conservative, so
 * such a test must leave no stale copy of the address where the collector
 * looks:
 *   - the objects are made and dropped in NOINLINE functions whose frames
 *     are dead (below the stack pointer) when gort_gc runs, and
 *     scrub_stack() zeroes 32 KiB below the test body's frame just before
 *     gort_gc, so the collector's own fresh frames (which are scanned and
 *     may have unwritten slots) cannot hold old values;
 *   - each test's setup zeroes 64 KiB of stack where the test body's frame
 *     will be, so that its unwritten slots hold nothing from earlier tests
 *     (an address freed then, whose slot this test reuses, would keep the
 *     new object), and test bodies keep small frames;
 *   - test bodies never hold such an address themselves: the bookkeeping
 *     keeps addresses XORed with HIDE_KEY (never a heap address), and
 *     everything that turns them back into pointers is NOINLINE;
 *   - objects held by other goroutines are checked after those goroutines
 *     have exited (dead goroutines' stacks are not scanned) and before any
 *     new goroutine starts;
 *   - a global that only roots an object is written and never read, so the
 *     compiler may drop it and its stores: such globals are volatile.
 * With that, every "freed" check is exact (no statistical slack), the
 * 1000-node ring included: a ring is all or nothing anyway, since one
 * stale pointer to any node would keep all 1000.
 *
 * What this suite found in the runtime: stacks are scanned conservatively,
 * and the runtime's own frames and registers hold the bases of the spans
 * it swept.  A collecting goroutine scanned its registers of the moment
 * (the collector's) and its collector frames, and kept objects that start
 * a page; its stack is now scanned from where gort_gc spilled its caller's
 * registers (the second test checks this with 32 KiB of stack set to dead
 * objects' addresses).  The runtime's own goroutines are not scanned, the
 * finalizer goroutine only while it runs a finalizer.  A user goroutine
 * that sweeps while it allocates can still leave such a word in its dead
 * frames, which is why the tests scrub.  A failing "freed" check whose
 * survivors all start a page says so.  The ring test keeps page-aligned
 * nodes out of the ring: one such word would keep all 1000 nodes and turn
 * the exact counts into a misleading "cycles are not collected".
 *
 * Every test body runs on the main goroutine; see testutil.h for the rules
 * the tests follow.  The sizes are small, so nothing is scaled for the
 * sanitizer builds.
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
#include "gcutil.h"
#include "testing.h"
#include "debugvars.h"

#define KIB ((size_t)1024)
#define MIB (1024 * KIB)
#define PAGE ((size_t)8192)

#define HELPER_TIMEOUT gt_slow(30 * GORT_S)
#define WAIT_TIMEOUT gt_slow(5 * GORT_S)

/* Types: a ring/tree node, a holder with one pointer field among
 * non-pointer fields, and a channel message. */
struct node {
    struct node *left, *right;
    int64_t value;
};
GORT_TYPE(node_type, struct node, left, right);

struct holder {
    int64_t n;
    void *ptr;          /* a pointer field */
    int64_t addr;       /* not a pointer field, even when it holds an address */
    int64_t m;
};
GORT_TYPE(holder_type, struct holder, ptr);

struct msg {
    void *p;
    int64_t n;
};
GORT_TYPE(msg_type, struct msg, p);

/* ---------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------- */

static int gc_setup(void **state)
{
    scrub_stack_deep();
    return gt_save_knobs(state);
}

/* Size of the slot of the object at the hidden address (0 if none). */
NOINLINE static size_t slot_size(uintptr_t h)
{
    size_t size = 0;
    if (rt_test_heap_object_base(unhide(h), &size) == NULL)
        return 0;
    return size;
}

/* A fresh tagged object, hidden. */
NOINLINE static uintptr_t fresh(size_t size, bool noscan, uint64_t tag)
{
    void *p = noscan ? gort_alloc_noscan(size) : gort_alloc(size);
    fill_tag(p, size, tag);
    return hide(p);
}

/*
 * Collect until the number of heap objects is stable across two cycles
 * (at most four), so that garbage left by earlier tests is gone and an
 * exact delta taken after it belongs to the test.
 */
static gort_memstats settle_a, settle_b;
#define SETTLE()                                                              \
    do {                                                                      \
        scrub_stack();                                                        \
        gort_gc();                                                            \
        gort_read_memstats(&settle_a);                                        \
        for (int s_i_ = 0; s_i_ < 4; s_i_++) {                                \
            scrub_stack();                                                    \
            gort_gc();                                                        \
            gort_read_memstats(&settle_b);                                    \
            if (settle_b.heap_objects == settle_a.heap_objects)               \
                break;                                                        \
            settle_a = settle_b;                                              \
        }                                                                     \
    } while (0)


/* Of the n hidden objects, how many are still allocated; *all_aligned:
 * whether every one of those starts a page. */
NOINLINE static int count_live(const uintptr_t *h, int n, bool *all_aligned)
{
    int live = 0;
    *all_aligned = true;
    for (int i = 0; i < n; i++) {
        if (!live_any(h[i]))
            continue;
        live++;
        if (((h[i] ^ HIDE_KEY) & (PAGE - 1)) != 0)
            *all_aligned = false;
    }
    return live;
}

/*
 * A "freed" check, right after the SCRUB_AND_GC that must have freed the n
 * objects of the hidden array h: how many are still allocated.  Strict:
 * every survivor counts.  When every survivor starts a page, the failure
 * is likely a stale span base in a scanned frame or register (see the top
 * of the file), and the test says so.
 */
#define STILL_LIVE(h, n)                                                      \
    ({                                                                        \
        bool al_;                                                             \
        int c_ = count_live((h), (n), &al_);                                  \
        if (c_ > 0 && al_)                                                    \
            print_message("%d object(s) that should be garbage survived, "    \
                          "all page-aligned: a stale span base in a scanned " \
                          "frame or register? (see the top of test_gc.c)\n", \
                          c_);                                                \
        c_;                                                                   \
    })

/* The same for one hidden object: true if it was freed. */
#define FREED(hv) (STILL_LIVE(((const uintptr_t[]){ (hv) }), 1) == 0)

/* Wait until only `base` goroutines exist (the test's helpers have really
 * exited, not just signalled). */
static bool wait_goroutines(int base)
{
    return gt_wait_for(gort_num_goroutine() <= base, WAIT_TIMEOUT);
}

static gort_memstats ms0, ms1, ms2;

/* ---------------------------------------------------------------------
 * 1. Goroutine stacks
 * ------------------------------------------------------------------- */

/* (a) The collecting goroutine's own locals: more pointers than there are
 * callee-saved registers, so that some live in registers across the call
 * and some in the frame, plus one in a volatile stack slot.  Each kind of
 * object: typed, conservative, noscan, large. */
#define OWN_N 9
static const struct {
    int kind;           /* 0 gort_alloc, 1 gort_alloc_noscan, 2 gort_new node */
    size_t size;
} own_spec[OWN_N] = {
    { 2, sizeof(struct node) }, { 0, 64 }, { 1, 200 }, { 0, 1000 }, { 0, 100 * KIB },
    { 1, 40 * KIB }, { 0, 32 }, { 1, 4000 }, { 0, 512 },
};
static uintptr_t own_h[OWN_N];

static void *own_alloc(int i)
{
    void *p;
    if (own_spec[i].kind == 2) {
        struct node *n = gort_new(&node_type);
        n->value = (int64_t)tag_of(1, (uint64_t)i);
        p = n;
    } else {
        p = own_spec[i].kind ? gort_alloc_noscan(own_spec[i].size) : gort_alloc(own_spec[i].size);
        fill_tag(p, own_spec[i].size, tag_of(1, (uint64_t)i));
    }
    own_h[i] = hide(p);
    return p;
}

static bool own_ok(const void *p, int i)
{
    if (rt_test_heap_object_base(p, NULL) != p)
        return false;
    if (own_spec[i].kind == 2) {
        const struct node *n = p;
        return n->value == (int64_t)tag_of(1, (uint64_t)i) && !n->left && !n->right;
    }
    return check_tag(p, own_spec[i].size, tag_of(1, (uint64_t)i));
}

/* Returns how many of the objects did not survive intact. */
NOINLINE static int own_locals_collect(void)
{
    void *a = own_alloc(0), *b = own_alloc(1), *c = own_alloc(2), *d = own_alloc(3);
    void *e = own_alloc(4), *f = own_alloc(5), *g = own_alloc(6), *h = own_alloc(7);
    void *volatile slot = own_alloc(8);
    gort_gc();
    alloc_garbage(64, false, 64);
    alloc_garbage(1000, false, 16);
    alloc_garbage(200, true, 64);
    int bad = !own_ok(a, 0) + !own_ok(b, 1) + !own_ok(c, 2) + !own_ok(d, 3) + !own_ok(e, 4) +
              !own_ok(f, 5) + !own_ok(g, 6) + !own_ok(h, 7) + !own_ok(slot, 8);
    gort_keepalive(a);
    gort_keepalive(b);
    gort_keepalive(c);
    gort_keepalive(d);
    gort_keepalive(e);
    gort_keepalive(f);
    gort_keepalive(g);
    gort_keepalive(h);
    return bad;
}

static void test_objects_reachable_only_from_the_collecting_goroutines_locals_survive(void **state)
{
    int bad = own_locals_collect();
    /* The frame is gone: the same objects are garbage now. */
    SCRUB_AND_GC();
    int still = STILL_LIVE(own_h, OWN_N);
    assert_int_equal(bad, 0);
    assert_int_equal(still, 0);
}

/* The collector's own frames below gort_gc are not roots.  Every word of
 * 32 KiB of stack below the test body is set to the address of a dead
 * object (a large one, which starts a page, and a small one), and gort_gc
 * is called with no scrub: the frames it runs in then have unwritten
 * slots that hold those addresses, as they would hold the bases of the
 * spans a sweep went over. */
#define POISON_WORDS 4096
static uintptr_t poison_h[2];

NOINLINE static void poison_stack_below(uintptr_t h)
{
    volatile uintptr_t buf[POISON_WORDS];
    for (size_t i = 0; i < POISON_WORDS; i++)
        buf[i] = (uintptr_t)unhide(h) + (i & 1) * 8;   /* the base, and inside */
    __asm__ volatile("" : : "r"(buf) : "memory");
}

static void test_the_collectors_own_frames_below_gort_gc_keep_nothing(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        poison_h[0] = fresh(100 * KIB, false, tag_of(9, 0));
        poison_h[1] = fresh(48, false, tag_of(9, 1));
        poison_stack_below(poison_h[i]);
        gort_gc();
        int still = STILL_LIVE(poison_h, 2);
        assert_int_equal(still, 0);
    }
}

/* (b) Goroutines parked in a channel receive and in gort_sleep, each with
 * the only pointer to its object in a local. */
#define PK_SIZE 256
static struct {
    gort_chan *wake;
    atomic_uintptr_t h[2];
    atomic_ullong goid[2];
    atomic_int stop_sleeper;
    atomic_int bad[2], done[2];
} pk;

NOINLINE static void pk_chan_holder(void *arg)
{
    char *p = gort_alloc(PK_SIZE);
    fill_tag(p, PK_SIZE, tag_of(2, 0));
    atomic_store(&pk.goid[0], gort_goid());
    atomic_store_explicit(&pk.h[0], hide(p), memory_order_release);
    int v = 0;
    gort_chan_recv(pk.wake, &v);
    atomic_store(&pk.bad[0], !check_tag(p, PK_SIZE, tag_of(2, 0)) || v != 7);
    gort_keepalive(p);
    atomic_store(&pk.done[0], 1);
}

NOINLINE static void pk_sleep_holder(void *arg)
{
    struct node *p = gort_new(&node_type);
    p->value = (int64_t)tag_of(2, 1);
    atomic_store(&pk.goid[1], gort_goid());
    atomic_store_explicit(&pk.h[1], hide(p), memory_order_release);
    while (!atomic_load(&pk.stop_sleeper))
        gort_sleep(20 * GORT_MS);
    atomic_store(&pk.bad[1], p->value != (int64_t)tag_of(2, 1));
    gort_keepalive(p);
    atomic_store(&pk.done[1], 1);
}

NOINLINE static bool pk_node_intact(uintptr_t h)
{
    const struct node *n = unhide(h);
    return live_exact(h) && n->value == (int64_t)tag_of(2, 1);
}

static void test_objects_reachable_only_from_parked_goroutines_locals_survive(void **state)
{
    gort_gomaxprocs(2);
    memset(&pk, 0, sizeof pk);
    pk.wake = gt_chan_make(sizeof(int), 0);
    assert_non_null(pk.wake);
    int base = gort_num_goroutine();
    assert_int_equal(gort_go(pk_chan_holder, NULL), 0);
    assert_int_equal(gort_go(pk_sleep_holder, NULL), 0);
    assert_true(gt_wait_parked(&pk.goid[0], "chan receive"));
    assert_true(gt_wait_parked(&pk.goid[1], "sleep"));
    uintptr_t h0 = atomic_load_explicit(&pk.h[0], memory_order_acquire);
    uintptr_t h1 = atomic_load_explicit(&pk.h[1], memory_order_acquire);

    SCRUB_AND_GC();
    bool kept0 = kept(h0, PK_SIZE, tag_of(2, 0));
    bool kept1 = pk_node_intact(h1);
    alloc_garbage(PK_SIZE, false, 64);
    alloc_garbage(sizeof(struct node), false, 64);

    /* Wake them: each checks its object, drops it and exits. */
    int v = 7;
    int sent = gort_chan_send_until(pk.wake, &v, gort_nanotime() + WAIT_TIMEOUT);
    atomic_store(&pk.stop_sleeper, 1);
    assert_int_equal(sent, 0);
    assert_true(gt_wait_for(atomic_load(&pk.done[0]) && atomic_load(&pk.done[1]), WAIT_TIMEOUT));
    assert_true(wait_goroutines(base));
    SCRUB_AND_GC();
    bool freed0 = FREED(h0), freed1 = FREED(h1);

    assert_true(kept0);
    assert_true(kept1);
    assert_int_equal(atomic_load(&pk.bad[0]), 0);
    assert_int_equal(atomic_load(&pk.bad[1]), 0);
    assert_true(freed0);
    assert_true(freed1);
}

/* ---------------------------------------------------------------------
 * 2. A pointer held only in a register
 * ------------------------------------------------------------------- */

/*
 * The spinner keeps p in r12, a callee-saved register, and loops on
 * gort_gosched() (there is no asynchronous preemption: a loop without a
 * safe point could not be stopped).  The empty asm tells the compiler that
 * p is read and rewritten in the register at every turn, so no copy of it
 * elsewhere in the frame can stand in for it; across the call the ABI keeps
 * r12, which reaches the stack only where gort_gosched and the context
 * switch save it.
 */
#define RG_SIZE 192
#define RG_GCS 5
static struct {
    atomic_int stop, bad, done;
    atomic_uintptr_t h;
    atomic_long spins;
} rg;

/* A fresh object of size bytes filled with tag, its hidden address
 * published in *h; returns the object. */
NOINLINE static char *make_published(size_t size, uint64_t tag, atomic_uintptr_t *h)
{
    char *p = gort_alloc(size);
    fill_tag(p, size, tag);
    atomic_store_explicit(h, hide(p), memory_order_release);
    return p;
}

NOINLINE static void rg_spinner(void *arg)
{
    register char *p __asm__("r12") = make_published(RG_SIZE, tag_of(3, 0), &rg.h);
    while (!atomic_load_explicit(&rg.stop, memory_order_acquire)) {
        __asm__ volatile("" : "+r"(p));
        gort_gosched();
        atomic_fetch_add_explicit(&rg.spins, 1, memory_order_relaxed);
    }
    __asm__ volatile("" : "+r"(p));
    atomic_store(&rg.bad, !check_tag(p, RG_SIZE, tag_of(3, 0)));
    atomic_store(&rg.done, 1);
}

static void test_a_pointer_held_only_in_a_register_by_a_spinning_goroutine_keeps_its_object(void **state)
{
    gort_gomaxprocs(2);
    memset(&rg, 0, sizeof rg);
    int base = gort_num_goroutine();
    assert_int_equal(gort_go(rg_spinner, NULL), 0);
    assert_true(gt_wait_for(atomic_load_explicit(&rg.h, memory_order_acquire) != 0, WAIT_TIMEOUT));
    uintptr_t h = atomic_load_explicit(&rg.h, memory_order_acquire);

    int lost = 0;
    long spins_between = 0;
    for (int i = 0; i < RG_GCS; i++) {
        long s0 = atomic_load(&rg.spins);
        SCRUB_AND_GC();
        lost += !live_exact(h);
        alloc_garbage(RG_SIZE, false, 64);
        /* Let the spinner run between collections. */
        gt_wait_for(atomic_load(&rg.spins) > s0 + 10, WAIT_TIMEOUT);
        spins_between += atomic_load(&rg.spins) > s0;
    }
    atomic_store_explicit(&rg.stop, 1, memory_order_release);
    assert_true(gt_wait_for(atomic_load(&rg.done) != 0, WAIT_TIMEOUT));
    assert_true(wait_goroutines(base));
    SCRUB_AND_GC();
    bool freed = FREED(h);

    print_message("spinner ran between %ld of %d collections, %ld turns\n", spins_between, RG_GCS,
                  atomic_load(&rg.spins));
    assert_int_equal(lost, 0);
    assert_int_equal(atomic_load(&rg.bad), 0);
    assert_int_equal(spins_between, RG_GCS);
    assert_true(freed);
}

/* ---------------------------------------------------------------------
 * 3. Interior pointers
 * ------------------------------------------------------------------- */

/* Only these words (in bss) refer to the objects: p + 100 of a 1 KiB
 * object, the middle of a 100 KiB one, and one past the end of the slots
 * of a 1 KiB object and of a 12-page (96 KiB) object.
 *
 * The convention (Go's): a pointer keeps the object whose slot it points
 * into, the slot being the size class's object or the large object's
 * pages.  A pointer one past the end of the slot points at the next slot
 * (or past the span) and keeps nothing of this object.  (A pointer past
 * the size asked for but inside the slot, e.g. p + 100 KiB of a 100 KiB
 * object whose span is 13 pages, is inside the object in that sense; the
 * tests avoid relying on it either way.) */
static char *volatile ip_small_interior, *volatile ip_large_interior, *volatile ip_small_past,
    *volatile ip_large_past;
static uintptr_t ip_h[4];
static size_t ip_slot[4];
static const size_t ip_size[4] = { 1024, 100 * KIB, 1024, 96 * KIB };

NOINLINE static void ip_make(void)
{
    char *p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = gort_alloc(ip_size[i]);
        fill_tag(p[i], ip_size[i], tag_of(4, (uint64_t)i));
        rt_test_heap_object_base(p[i], &ip_slot[i]);
        ip_h[i] = hide(p[i]);
    }
    ip_small_interior = p[0] + 100;
    ip_large_interior = p[1] + 50 * KIB;
    ip_small_past = p[2] + ip_slot[2];
    ip_large_past = p[3] + ip_slot[3];
}

static void test_interior_pointers_keep_their_object_and_one_past_the_end_does_not(void **state)
{
    size_t cs = 0;
    assert_true(rt_test_size_class(1024, &cs) > 0);
    assert_int_equal(cs, 1024);
    ip_make();
    /* The premises: the 1 KiB slot is 1 KiB, the 96 KiB object 12 pages. */
    assert_int_equal(ip_slot[2], 1024);
    assert_int_equal(ip_slot[3], 12 * PAGE);

    SCRUB_AND_GC();
    bool small_kept = kept(ip_h[0], ip_size[0], tag_of(4, 0));
    bool large_kept = kept(ip_h[1], ip_size[1], tag_of(4, 1));
    bool small_past_freed = FREED(ip_h[2]);
    bool large_past_freed = FREED(ip_h[3]);
    alloc_garbage(1024, false, 64);
    alloc_garbage(100 * KIB, false, 2);
    bool small_intact = tag_intact(ip_h[0], ip_size[0], tag_of(4, 0));
    bool large_intact = tag_intact(ip_h[1], ip_size[1], tag_of(4, 1));

    /* Drop the interior pointers: the objects go. */
    ip_small_interior = ip_large_interior = ip_small_past = ip_large_past = NULL;
    SCRUB_AND_GC();
    bool small_freed = FREED(ip_h[0]), large_freed = FREED(ip_h[1]);

    assert_true(small_kept);
    assert_true(large_kept);
    assert_true(small_intact);
    assert_true(large_intact);
    assert_true(small_past_freed);
    assert_true(large_past_freed);
    assert_true(small_freed);
    assert_true(large_freed);
}

/* ---------------------------------------------------------------------
 * 4. Typed, noscan and conservative objects
 * ------------------------------------------------------------------- */

/* Reachable from bss: a typed holder, a typed array of 64 holders (2 KiB,
 * scanned a bitmap word at a time), a large typed array (2048 holders,
 * 64 KiB), a noscan object and a gort_alloc object.  Targets:
 *   0  in holder->ptr                        kept
 *   1  in holder->addr (an int64 field)      freed
 *   2  in the noscan object                  freed
 *   3  in the gort_alloc object, word 5      kept
 *   4  in array[37].ptr                      kept
 *   5  in array[50].addr                     freed
 *   6  in big[2047].ptr (the last element)   kept
 *   7  in big[1000].addr                     freed */
#define TF_N 8
#define TF_SIZE 96
#define TF_ARR 64
#define TF_BIG 2048
static const bool tf_expect_kept[TF_N] = { true, false, false, true, true, false, true, false };
static struct holder *volatile tf_holder, *volatile tf_array, *volatile tf_big;
static char *volatile tf_noscan, *volatile tf_cons;
static uintptr_t tf_h[TF_N], tf_hold_h[5];

NOINLINE static void tf_make(void)
{
    char *t[TF_N];
    for (int i = 0; i < TF_N; i++) {
        t[i] = gort_alloc(TF_SIZE);
        fill_tag(t[i], TF_SIZE, tag_of(5, (uint64_t)i));
        tf_h[i] = hide(t[i]);
    }
    struct holder *h = gort_new(&holder_type);
    GORT_STORE(h->ptr, t[0]);
    h->addr = (int64_t)(uintptr_t)t[1];
    char *ns = gort_alloc_noscan(64);
    memcpy(ns + 8, &t[2], sizeof t[2]);
    char *cons = gort_alloc(64);
    memcpy(cons + 40, &t[3], sizeof t[3]);
    struct holder *arr = gort_new_array(&holder_type, TF_ARR);
    GORT_STORE(arr[37].ptr, t[4]);
    arr[50].addr = (int64_t)(uintptr_t)t[5];
    struct holder *big = gort_new_array(&holder_type, TF_BIG);
    GORT_STORE(big[TF_BIG - 1].ptr, t[6]);
    big[1000].addr = (int64_t)(uintptr_t)t[7];
    tf_holder = h;
    tf_noscan = ns;
    tf_cons = cons;
    tf_array = arr;
    tf_big = big;
    tf_hold_h[0] = hide(h);
    tf_hold_h[1] = hide(ns);
    tf_hold_h[2] = hide(cons);
    tf_hold_h[3] = hide(arr);
    tf_hold_h[4] = hide(big);
}

static void test_typed_fields_keep_their_targets_and_non_pointer_words_do_not(void **state)
{
    tf_make();
    SCRUB_AND_GC();
    int wrong = 0, holders_lost = 0;
    uintptr_t must_go[TF_N];
    int ngo = 0;
    for (int i = 0; i < TF_N; i++) {
        if (!tf_expect_kept[i]) {
            must_go[ngo++] = tf_h[i];
        } else if (!kept(tf_h[i], TF_SIZE, tag_of(5, (uint64_t)i))) {
            print_message("target %d: expected kept, found freed\n", i);
            wrong++;
        }
    }
    int not_freed = STILL_LIVE(must_go, ngo);
    if (not_freed)
        print_message("%d of the targets held in non-pointer words were kept\n", not_freed);
    wrong += not_freed;
    for (int i = 0; i < 5; i++)
        holders_lost += !live_exact(tf_hold_h[i]);
    alloc_garbage(TF_SIZE, false, 64);
    int corrupt = 0;
    for (int i = 0; i < TF_N; i++)
        if (tf_expect_kept[i] && !tag_intact(tf_h[i], TF_SIZE, tag_of(5, (uint64_t)i)))
            corrupt++;

    /* Drop the holders: the targets they kept go with them. */
    tf_holder = tf_array = tf_big = NULL;
    tf_noscan = tf_cons = NULL;
    SCRUB_AND_GC();
    int still = STILL_LIVE(tf_h, TF_N) + STILL_LIVE(tf_hold_h, 5);

    assert_int_equal(wrong, 0);
    assert_int_equal(holders_lost, 0);
    assert_int_equal(corrupt, 0);
    assert_int_equal(still, 0);
}

/* ---------------------------------------------------------------------
 * 5. Globals
 * ------------------------------------------------------------------- */

extern char __bss_start[], _edata[], _end[];

static void *volatile gl_bss;                         /* zero-initialised: .bss */
static void *volatile gl_data = (void *)(uintptr_t)1;  /* initialised: .data */
static uintptr_t gl_h[2];
#define GL_SIZE 128

NOINLINE static void gl_make(void)
{
    char *a = gort_alloc(GL_SIZE), *b = gort_alloc_noscan(GL_SIZE);
    fill_tag(a, GL_SIZE, tag_of(6, 0));
    fill_tag(b, GL_SIZE, tag_of(6, 1));
    gl_bss = a;
    gl_data = b;
    gl_h[0] = hide(a);
    gl_h[1] = hide(b);
}

static void test_pointers_in_bss_and_initialised_data_keep_their_objects(void **state)
{
    /* The premises: where the two variables are. */
    assert_true((char *)&gl_bss >= __bss_start && (char *)&gl_bss < _end);
    assert_true((char *)&gl_data < _edata && (char *)&gl_data < __bss_start);

    gl_make();
    SCRUB_AND_GC();
    bool bss_kept = kept(gl_h[0], GL_SIZE, tag_of(6, 0));
    bool data_kept = kept(gl_h[1], GL_SIZE, tag_of(6, 1));
    alloc_garbage(GL_SIZE, false, 64);
    alloc_garbage(GL_SIZE, true, 64);
    bool bss_intact = tag_intact(gl_h[0], GL_SIZE, tag_of(6, 0));
    bool data_intact = tag_intact(gl_h[1], GL_SIZE, tag_of(6, 1));

    gl_bss = NULL;
    gl_data = (void *)(uintptr_t)1;
    SCRUB_AND_GC();
    bool freed = STILL_LIVE(gl_h, 2) == 0;

    print_message("plugin bss not tested: the Makefile builds no test shared object\n");
    assert_true(bss_kept);
    assert_true(data_kept);
    assert_true(bss_intact);
    assert_true(data_intact);
    assert_true(freed);
}

/* ---------------------------------------------------------------------
 * 6. Registered roots
 * ------------------------------------------------------------------- */

#define RT_SIZE 160
static uintptr_t *rt_buf;       /* malloc'd: invisible unless registered */
static uintptr_t rt_h[3];

/* Word `word` of rt_buf gets a fresh object (tag (7, i)). */
NOINLINE static void rt_put(int i, int word)
{
    char *p = gort_alloc(RT_SIZE);
    fill_tag(p, RT_SIZE, tag_of(7, (uint64_t)i));
    rt_buf[word] = (uintptr_t)p;
    rt_h[i] = hide(p);
}

static void test_a_registered_root_keeps_what_malloced_memory_holds_until_removed(void **state)
{
    rt_buf = calloc(8, sizeof *rt_buf);
    assert_non_null(rt_buf);

    /* Unregistered: malloc'd memory is not scanned. */
    rt_put(0, 2);
    SCRUB_AND_GC();
    bool unregistered_freed = FREED(rt_h[0]);

    /* Registered [word 1, word 4): word 2 is inside, word 6 outside. */
    rt_put(1, 2);
    rt_put(2, 6);
    gort_root_add(rt_buf + 1, 3 * sizeof *rt_buf);
    SCRUB_AND_GC();
    bool inside_kept = kept(rt_h[1], RT_SIZE, tag_of(7, 1));
    bool outside_freed = FREED(rt_h[2]);
    alloc_garbage(RT_SIZE, false, 64);
    bool inside_intact = tag_intact(rt_h[1], RT_SIZE, tag_of(7, 1));

    /* Removed: invisible again. */
    gort_root_remove(rt_buf + 1);
    SCRUB_AND_GC();
    bool removed_freed = FREED(rt_h[1]);
    free(rt_buf);
    rt_buf = NULL;

    assert_true(unregistered_freed);
    assert_true(inside_kept);
    assert_true(inside_intact);
    assert_true(outside_freed);
    assert_true(removed_freed);
}

/* ---------------------------------------------------------------------
 * 7. Unreachable cycles
 * ------------------------------------------------------------------- */

#define RING_N 1000
#define RING_PADS 16
static uintptr_t ring_h[RING_N];
static struct node *volatile ring_anchor;    /* bss: one node of the kept ring */
/* Nodes that came out page-aligned, kept aside (see the top of the file:
 * a stale span base held by the background sweeper would keep such a
 * node, and with it the whole ring). */
static struct node *volatile ring_pads[RING_PADS];
static int ring_npads;

static struct node *ring_node(void)
{
    struct node *n = gort_new(&node_type);
    while (((uintptr_t)n & (PAGE - 1)) == 0 && ring_npads < RING_PADS) {
        ring_pads[ring_npads++] = n;
        n = gort_new(&node_type);
    }
    return n;
}

/* A doubly linked ring of RING_N typed nodes; anchored in bss or not. */
NOINLINE static void ring_make(bool anchor)
{
    struct node *first = ring_node(), *prev = first;
    first->value = (int64_t)tag_of(8, 0);
    ring_h[0] = hide(first);
    for (int i = 1; i < RING_N; i++) {
        struct node *n = ring_node();
        n->value = (int64_t)tag_of(8, (uint64_t)i);
        GORT_STORE(prev->right, n);
        GORT_STORE(n->left, prev);
        ring_h[i] = hide(n);
        prev = n;
    }
    GORT_STORE(prev->right, first);
    GORT_STORE(first->left, prev);
    if (anchor)
        ring_anchor = prev;        /* the last node: the whole ring hangs off it */
}

/* Nodes of the ring still allocated; *intact: of those, how many hold
 * their value and link to their neighbours. */
NOINLINE static int ring_live(int *intact)
{
    int live = 0;
    *intact = 0;
    for (int i = 0; i < RING_N; i++) {
        struct node *n = unhide(ring_h[i]);
        if (rt_test_heap_object_base(n, NULL) != n)
            continue;
        live++;
        if (n->value == (int64_t)tag_of(8, (uint64_t)i) &&
            n->right == unhide(ring_h[(i + 1) % RING_N]) &&
            n->left == unhide(ring_h[(i + RING_N - 1) % RING_N]))
            (*intact)++;
    }
    return live;
}

static void test_an_unreachable_ring_of_1000_typed_nodes_is_freed_entirely(void **state)
{
    /* Anchored in bss: the whole ring survives. */
    ring_make(true);
    SCRUB_AND_GC();
    int intact = 0;
    int anchored_live = ring_live(&intact);
    int anchored_intact = intact;
    ring_anchor = NULL;
    for (int i = 0; i < RING_PADS; i++)
        ring_pads[i] = NULL;

    /* Unanchored, with exact counts at quiescent points. */
    SETTLE();
    gort_read_memstats(&ms0);
    ring_npads = 0;
    ring_make(false);
    int npads = ring_npads;
    gort_read_memstats(&ms1);
    SCRUB_AND_GC();
    gort_read_memstats(&ms2);
    int unanchored_live = ring_live(&intact);
    for (int i = 0; i < RING_PADS; i++)
        ring_pads[i] = NULL;

    print_message("heap_objects %" PRIu64 " -> %" PRIu64 " -> %" PRIu64 "; frees +%" PRIu64
                  "; %d page-aligned node(s) set aside\n",
                  ms0.heap_objects, ms1.heap_objects, ms2.heap_objects, ms2.frees - ms1.frees, npads);
    assert_int_equal(anchored_live, RING_N);
    assert_int_equal(anchored_intact, RING_N);
    assert_int_equal(ms1.heap_objects - ms0.heap_objects, RING_N + npads);
    assert_int_equal(unanchored_live, 0);
    assert_int_equal(ms1.heap_objects - ms2.heap_objects, RING_N);
    assert_int_equal(ms2.frees - ms1.frees, RING_N);
    assert_int_equal(ms2.heap_objects, ms0.heap_objects + npads);
    assert_true(identities_hold(&ms2, "after the ring was collected"));
}

/* ---------------------------------------------------------------------
 * 8. Start arguments, deferred-call arguments, panic values
 * ------------------------------------------------------------------- */

#define SA_SIZE 144
static struct {
    atomic_int started, bad, done;
    uintptr_t h;
} sa;

static void sa_main(void *arg)
{
    atomic_store(&sa.started, 1);
    atomic_store(&sa.bad, !check_tag(arg, SA_SIZE, tag_of(9, 0)));
    atomic_store(&sa.done, 1);
}

NOINLINE static int sa_spawn(void)
{
    char *p = gort_alloc(SA_SIZE);
    fill_tag(p, SA_SIZE, tag_of(9, 0));
    sa.h = hide(p);
    return gort_go(sa_main, p);
}

static void test_a_goroutines_start_argument_keeps_its_object_before_it_runs(void **state)
{
    gort_gomaxprocs(1);
    /* A concurrent collection would let the new goroutine run while the
     * collector waits for its mark workers: mark with the world stopped. */
    int32_t stw = debug.gcstoptheworld;
    debug.gcstoptheworld = 1;
    int base = gort_num_goroutine();
    /* On one P the new goroutine waits in the run queue until this one
     * yields; a yield forced by a time slice running out would let it
     * start early, so the attempt is repeated if it did. */
    int attempt;
    bool started_early = true, live_at_gc = false;
    for (attempt = 0; attempt < 5 && started_early; attempt++) {
        memset(&sa, 0, sizeof sa);
        gort_gosched();                  /* a fresh time slice */
        assert_int_equal(sa_spawn(), 0);
        SCRUB_AND_GC();
        started_early = atomic_load(&sa.started) != 0;
        live_at_gc = live_exact(sa.h);
        alloc_garbage(SA_SIZE, false, 64);
        assert_true(gt_wait_for(atomic_load(&sa.done) != 0, WAIT_TIMEOUT));
        assert_true(wait_goroutines(base));
    }
    debug.gcstoptheworld = stw;
    if (attempt > 1)
        print_message("%d attempts until the goroutine had not started at the collection\n", attempt);
    assert_false(started_early);
    assert_true(live_at_gc);
    assert_int_equal(atomic_load(&sa.bad), 0);
}

/* A deferred call's argument, in a gort_pcall frame. */
#define DF_SIZE 176
static struct {
    uintptr_t h;
    bool live_at_gc;
    atomic_int ran, bad;
} df;

static void df_check(void *arg)
{
    atomic_store(&df.ran, 1);
    atomic_store(&df.bad, !check_tag(arg, DF_SIZE, tag_of(10, 0)));
}

NOINLINE static void df_defer(void)
{
    char *p = gort_alloc(DF_SIZE);
    fill_tag(p, DF_SIZE, tag_of(10, 0));
    df.h = hide(p);
    gort_defer(df_check, p);
}

static void df_body(void *arg)
{
    df_defer();
    SCRUB_AND_GC();
    df.live_at_gc = live_exact(df.h);
    alloc_garbage(DF_SIZE, false, 64);
}

/* The same at a goroutine's top frame: the goroutine defers, parks, and
 * its deferred call runs when it returns. */
static struct {
    gort_chan *wake;
    uintptr_t h;
    atomic_ullong goid;
    atomic_int ran, bad;
} dt;

static void dt_check(void *arg)
{
    atomic_store(&dt.bad, !check_tag(arg, DF_SIZE, tag_of(10, 1)));
    atomic_store(&dt.ran, 1);
}

NOINLINE static void dt_defer(void)
{
    char *p = gort_alloc(DF_SIZE);
    fill_tag(p, DF_SIZE, tag_of(10, 1));
    dt.h = hide(p);
    gort_defer(dt_check, p);
}

static void dt_main(void *arg)
{
    dt_defer();
    /* The argument must not stay behind in dt_defer's dead frame, which
     * the frames of the park below would cover. */
    scrub_stack();
    atomic_store(&dt.goid, gort_goid());
    gort_chan_recv(dt.wake, NULL);
}

static void test_a_deferred_calls_argument_keeps_its_object(void **state)
{
    gort_gomaxprocs(2);
    memset(&df, 0, sizeof df);
    gort_panic_info *p = gort_pcall(df_body, NULL);
    assert_null(p);
    bool pcall_live = df.live_at_gc;
    int pcall_ran = atomic_load(&df.ran), pcall_bad = atomic_load(&df.bad);

    memset(&dt, 0, sizeof dt);
    dt.wake = gt_chan_make(sizeof(int), 0);
    assert_non_null(dt.wake);
    int base = gort_num_goroutine();
    assert_int_equal(gort_go(dt_main, NULL), 0);
    assert_true(gt_wait_parked(&dt.goid, "chan receive"));
    SCRUB_AND_GC();
    bool top_live = live_exact(dt.h);
    alloc_garbage(DF_SIZE, false, 64);
    int v = 1;
    assert_int_equal(gort_chan_send_until(dt.wake, &v, gort_nanotime() + WAIT_TIMEOUT), 0);
    assert_true(gt_wait_for(atomic_load(&dt.ran) != 0, WAIT_TIMEOUT));
    assert_true(wait_goroutines(base));
    /* The deferred call has run: its argument is garbage now. */
    SCRUB_AND_GC();
    bool top_freed = FREED(dt.h);

    assert_true(pcall_live);
    assert_int_equal(pcall_ran, 1);
    assert_int_equal(pcall_bad, 0);
    assert_true(top_live);
    assert_int_equal(atomic_load(&dt.bad), 0);
    assert_true(top_freed);
}

/* A panic's value: while the panic is in flight (the deferred call that
 * recovers collects first), and afterwards through the recovered panic's
 * record, which stays valid (gort_panic_value gives the value back) until
 * the goroutine ends.  The second part runs on a goroutine of its own, so
 * that the record goes when it exits; by then the panicking frames are long
 * gone (and scrubbed), so the record is the value's only root. */
#define PV_SIZE 208
static struct {
    uintptr_t h;
    bool live_at_gc, intact_at_gc;
} pv;

static struct {
    uintptr_t h;
    bool recovered, same_value, kept;
    atomic_int done;
} pr;

static void pv_recover(void *arg)
{
    SCRUB_AND_GC();
    pv.live_at_gc = live_exact(pv.h);
    alloc_garbage(PV_SIZE, false, 64);
    pv.intact_at_gc = tag_intact(pv.h, PV_SIZE, tag_of(11, 0));
    gort_recover();
}

NOINLINE static void pv_panic(uintptr_t *h, uint64_t tag)
{
    char *p = gort_alloc(PV_SIZE);
    fill_tag(p, PV_SIZE, tag);
    *h = hide(p);
    gort_panic(p);
}

static void pv_body(void *arg)
{
    gort_defer(pv_recover, NULL);
    pv_panic(&pv.h, tag_of(11, 0));
}

NOINLINE static bool pv_value_is(gort_panic_info *p, uintptr_t h)
{
    return p != NULL && gort_panic_value(p) == unhide(h);
}

static void pr_recover(void *arg)
{
    gort_recover();
}

static void pr_body(void *arg)
{
    gort_defer(pr_recover, NULL);
    pv_panic(&pr.h, tag_of(11, 1));
}

static void pr_main(void *arg)
{
    gort_panic_info *p = gort_pcall(pr_body, NULL);
    pr.recovered = p != NULL;
    SCRUB_AND_GC();
    pr.kept = kept(pr.h, PV_SIZE, tag_of(11, 1));
    alloc_garbage(PV_SIZE, false, 64);
    pr.kept = pr.kept && tag_intact(pr.h, PV_SIZE, tag_of(11, 1));
    pr.same_value = pv_value_is(p, pr.h);
    atomic_store_explicit(&pr.done, 1, memory_order_release);
}

static void test_a_panic_value_keeps_its_object_in_flight_and_while_its_record_lives(void **state)
{
    memset(&pv, 0, sizeof pv);
    gort_panic_info *p = gort_pcall(pv_body, NULL);
    assert_true(pv_value_is(p, pv.h));
    assert_true(pv.live_at_gc);
    assert_true(pv.intact_at_gc);

    memset(&pr, 0, sizeof pr);
    int base = gort_num_goroutine();
    assert_int_equal(gort_go(pr_main, NULL), 0);
    assert_true(gt_wait_for(atomic_load_explicit(&pr.done, memory_order_acquire) != 0, WAIT_TIMEOUT));
    assert_true(wait_goroutines(base));
    /* The goroutine has ended and its records with it. */
    SCRUB_AND_GC();
    bool freed = FREED(pr.h);
    assert_true(pr.recovered);
    assert_true(pr.kept);
    assert_true(pr.same_value);
    assert_true(freed);
}

/* ---------------------------------------------------------------------
 * 9. Channels
 * ------------------------------------------------------------------- */

#define CH_SIZE 112
#define CH_N 3
static gort_chan *volatile ch_typed, *volatile ch_raw;   /* bss: the channels stay reachable */
static uintptr_t ch_h[CH_N + 2];

NOINLINE static void ch_send_fresh(gort_chan *c, int i)
{
    char *o = gort_alloc(CH_SIZE);
    fill_tag(o, CH_SIZE, tag_of(12, (uint64_t)i));
    struct msg m = { o, i };
    gort_chan_send(c, &m);
    ch_h[i] = hide(o);
}

/* Receive n messages from the typed channel; how many are not what was
 * sent (object i at message i, its bytes intact). */
NOINLINE static int ch_recv_check(gort_chan *c, int first, int n)
{
    int bad = 0;
    for (int i = first; i < first + n; i++) {
        struct msg m = { 0 };
        bool ok = false;
        if (gort_chan_recv_until(c, &m, &ok, gort_nanotime() + WAIT_TIMEOUT) != 0 || !ok ||
            m.n != i || m.p != unhide(ch_h[i]) || !check_tag(m.p, CH_SIZE, tag_of(12, (uint64_t)i)))
            bad++;
    }
    return bad;
}

NOINLINE static void ch_send_raw(gort_chan *c, int i)
{
    char *o = gort_alloc(CH_SIZE);
    fill_tag(o, CH_SIZE, tag_of(12, (uint64_t)i));
    gort_chan_send(c, &o);
    ch_h[i] = hide(o);
}

static void test_a_typed_channels_buffer_keeps_its_elements_targets(void **state)
{
    ch_typed = gt_chan_make_typed(&msg_type, 4);
    ch_raw = gt_chan_make(sizeof(void *), 4);
    assert_non_null(ch_typed);
    assert_non_null(ch_raw);
    for (int i = 0; i < CH_N; i++)
        ch_send_fresh(ch_typed, i);
    /* The untyped channel's elements are pointer-free by definition: a
     * pointer sent through it is invisible. */
    ch_send_raw(ch_raw, CH_N);

    SCRUB_AND_GC();
    int typed_lost = 0;
    for (int i = 0; i < CH_N; i++)
        typed_lost += !kept(ch_h[i], CH_SIZE, tag_of(12, (uint64_t)i));
    bool raw_freed = FREED(ch_h[CH_N]);
    /* The channels themselves (bss) must be there before they are used. */
    assert_true(live_exact(hide(ch_typed)) && live_exact(hide(ch_raw)));
    alloc_garbage(CH_SIZE, false, 64);
    int recv_bad = ch_recv_check(ch_typed, 0, CH_N);
    bool raw_ok = false;
    if (gort_chan_recv_until(ch_raw, NULL, &raw_ok, gort_nanotime() + WAIT_TIMEOUT) != 0 || !raw_ok)
        recv_bad++;

    /* Received: the buffer's slots no longer keep the objects. */
    SCRUB_AND_GC();
    int still = STILL_LIVE(ch_h, CH_N);

    assert_int_equal(typed_lost, 0);
    assert_int_equal(recv_bad, 0);
    assert_true(raw_freed);
    assert_int_equal(still, 0);
}

/* A channel known only to a goroutine blocked sending on it: the
 * goroutine made it (typed, 2 slots), filled the buffer and blocked on a
 * third send. */
static struct {
    atomic_uintptr_t hc;
    atomic_ullong goid;
    atomic_int drained, got_reply, done;
} cb;

NOINLINE static void cb_fill(gort_chan *c)
{
    ch_send_fresh(c, 0);
    ch_send_fresh(c, 1);
}

NOINLINE static void cb_main(void *arg)
{
    gort_chan *c = gort_chan_make_typed(&msg_type, 2);
    cb_fill(c);
    char *o = gort_alloc(CH_SIZE);
    fill_tag(o, CH_SIZE, tag_of(12, 2));
    struct msg m = { o, 2 };
    ch_h[2] = hide(o);
    o = NULL;
    atomic_store(&cb.goid, gort_goid());
    atomic_store_explicit(&cb.hc, hide(c), memory_order_release);
    gort_chan_send(c, &m);              /* blocks: the buffer is full */
    /* Leave the three messages to the main goroutine, then take its reply. */
    while (!atomic_load(&cb.drained))
        gort_sleep(GORT_MS);
    struct msg reply = { 0 };
    bool ok = gort_chan_recv(c, &reply);
    atomic_store(&cb.got_reply, ok && reply.n == 42 && reply.p == NULL);
    atomic_store(&cb.done, 1);
}

/* Take the three messages, then send the reply. */
NOINLINE static int cb_drain_and_reply(uintptr_t hc)
{
    gort_chan *c = unhide(hc);
    int bad = ch_recv_check(c, 0, CH_N);
    atomic_store(&cb.drained, 1);
    struct msg reply = { NULL, 42 };
    if (gort_chan_send_until(c, &reply, gort_nanotime() + WAIT_TIMEOUT) != 0)
        bad++;
    return bad;
}

static void test_a_channel_referenced_only_by_a_blocked_goroutine_stays_usable(void **state)
{
    gort_gomaxprocs(2);
    memset(&cb, 0, sizeof cb);
    memset(ch_h, 0, sizeof ch_h);
    int base = gort_num_goroutine();
    assert_int_equal(gort_go(cb_main, NULL), 0);
    assert_true(gt_wait_parked(&cb.goid, "chan send"));
    uintptr_t hc = atomic_load_explicit(&cb.hc, memory_order_acquire);

    SCRUB_AND_GC();
    bool chan_kept = live_exact(hc);
    int lost = 0;
    for (int i = 0; i < CH_N; i++)
        lost += !kept(ch_h[i], CH_SIZE, tag_of(12, (uint64_t)i));
    alloc_garbage(CH_SIZE, false, 64);
    alloc_garbage(slot_size(hc), false, 64);    /* the channel's own class */
    /* A channel freed by mistake must not be used: fail here (the
     * goroutine stays blocked; its state is static). */
    assert_true(chan_kept);

    int recv_bad = cb_drain_and_reply(hc);
    assert_true(gt_wait_for(atomic_load(&cb.done) != 0, WAIT_TIMEOUT));
    assert_true(wait_goroutines(base));
    /* Nobody refers to the channel or the messages now. */
    SCRUB_AND_GC();
    bool chan_freed = FREED(hc);
    int still = STILL_LIVE(ch_h, CH_N);

    assert_true(chan_kept);
    assert_int_equal(lost, 0);
    assert_int_equal(recv_bad, 0);
    assert_int_equal(atomic_load(&cb.got_reply), 1);
    assert_true(chan_freed);
    assert_int_equal(still, 0);
}

/* ---------------------------------------------------------------------
 * 10. A goroutine in a system call
 * ------------------------------------------------------------------- */

/* The goroutine holds one object in rbx (callee-saved, so
 * gort_syscall_enter saves it) and one in a volatile stack slot, then
 * blocks in read() on a pipe, bracketed. */
#define SC_SIZE 240
static struct {
    int fds[2];
    atomic_uintptr_t h[2];
    atomic_ullong goid;
    atomic_int bad, done;
} sc;

NOINLINE static void sc_main(void *arg)
{
    register char *r __asm__("rbx") = make_published(SC_SIZE, tag_of(13, 0), &sc.h[0]);
    char *volatile slot = make_published(SC_SIZE, tag_of(13, 1), &sc.h[1]);
    atomic_store_explicit(&sc.goid, gort_goid(), memory_order_release);
    char buf[1];
    __asm__ volatile("" : "+r"(r));
    gort_syscall_enter();
    ssize_t n = read(sc.fds[0], buf, 1);
    gort_syscall_exit();
    __asm__ volatile("" : "+r"(r));
    atomic_store(&sc.bad, n != 1 || !check_tag(r, SC_SIZE, tag_of(13, 0)) ||
                              !check_tag(slot, SC_SIZE, tag_of(13, 1)));
    atomic_store(&sc.done, 1);
}

static void test_a_goroutine_in_a_system_call_keeps_its_registers_and_stack_objects(void **state)
{
    gort_gomaxprocs(2);
    memset(&sc, 0, sizeof sc);
    assert_int_equal(pipe2(sc.fds, O_CLOEXEC), 0);
    int base = gort_num_goroutine();
    assert_int_equal(gort_go(sc_main, NULL), 0);
    assert_true(gt_wait_parked(&sc.goid, "syscall"));
    uintptr_t h0 = atomic_load(&sc.h[0]), h1 = atomic_load(&sc.h[1]);

    SCRUB_AND_GC();
    bool reg_kept = kept(h0, SC_SIZE, tag_of(13, 0));
    bool stack_kept = kept(h1, SC_SIZE, tag_of(13, 1));
    alloc_garbage(SC_SIZE, false, 64);

    assert_int_equal(write(sc.fds[1], "x", 1), 1);
    assert_true(gt_wait_for(atomic_load(&sc.done) != 0, WAIT_TIMEOUT));
    assert_true(wait_goroutines(base));
    SCRUB_AND_GC();
    bool freed = FREED(h0) && FREED(h1);
    close(sc.fds[0]);
    close(sc.fds[1]);

    assert_true(reg_kept);
    assert_true(stack_kept);
    assert_int_equal(atomic_load(&sc.bad), 0);
    assert_true(freed);
}

/* ---------------------------------------------------------------------
 * 11. gort_gc from a thread that is not a goroutine
 * ------------------------------------------------------------------- */

#define PT_SIZE 272
static struct {
    uintptr_t h_thread;          /* an object only the thread refers to */
    bool thread_obj_live;
    atomic_int done;
} pt;

static void *pt_thread(void *arg)
{
    char *p = gort_alloc(PT_SIZE);
    fill_tag(p, PT_SIZE, tag_of(14, 9));
    pt.h_thread = hide(p);
    gort_gc();
    /* Documented: references held by threads that are not goroutines are
     * invisible. */
    pt.thread_obj_live = rt_test_heap_object_base(p, NULL) != NULL;
    atomic_store_explicit(&pt.done, 1, memory_order_release);
    return NULL;
}

/* Start the thread while this goroutine holds one object in a local and
 * has dropped another; wait (parked) for the thread's collection. */
NOINLINE static bool pt_run(uintptr_t *garbage, uintptr_t *held, pthread_t *th)
{
    *garbage = fresh(PT_SIZE, false, tag_of(14, 0));
    char *mine = gort_alloc(PT_SIZE);
    fill_tag(mine, PT_SIZE, tag_of(14, 1));
    *held = hide(mine);
    scrub_stack();
    if (pthread_create(th, NULL, pt_thread, NULL) != 0)
        return false;
    bool done = gt_wait_for(atomic_load_explicit(&pt.done, memory_order_acquire) != 0, WAIT_TIMEOUT);
    bool ok = done && check_tag(mine, PT_SIZE, tag_of(14, 1)) &&
              rt_test_heap_object_base(mine, NULL) == mine;
    gort_keepalive(mine);
    return ok;
}

static void test_gort_gc_from_a_plain_thread_collects(void **state)
{
    memset(&pt, 0, sizeof pt);
    uintptr_t garbage = 0, held = 0;
    pthread_t th;
    gort_read_memstats(&ms0);
    bool ok = pt_run(&garbage, &held, &th);
    /* Before anything else allocates: */
    bool garbage_freed = FREED(garbage);
    gort_read_memstats(&ms1);
    gort_syscall_enter();
    int jrc = pthread_join(th, NULL);
    gort_syscall_exit();

    assert_int_equal(jrc, 0);
    assert_true(ok);                      /* held object kept, thread done */
    assert_true(garbage_freed);
    assert_false(pt.thread_obj_live);
    assert_int_equal(ms1.num_gc - ms0.num_gc, 1);
    assert_int_equal(ms1.num_forced_gc - ms0.num_forced_gc, 1);
}

/* ---------------------------------------------------------------------
 * 12. MemStats
 * ------------------------------------------------------------------- */

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * GORT_S + (uint64_t)ts.tv_nsec;
}

static bool within_a_minute(uint64_t t, uint64_t now)
{
    uint64_t d = t > now ? t - now : now - t;
    return d < (uint64_t)60 * GORT_S;
}

static void test_memstats_count_every_forced_collection_and_its_pause(void **state)
{
    gort_gc();
    gort_read_memstats(&ms0);
    gort_gc();
    gort_read_memstats(&ms1);
    uint64_t now = wall_ns();
    uint32_t last = (ms1.num_gc + 255) % 256;
    print_message("num_gc %u forced %u pause %" PRIu64 " ns total %" PRIu64 " ns next_gc %" PRIu64
                  " cpu fraction %g\n",
                  ms1.num_gc, ms1.num_forced_gc, ms1.pause_ns[last], ms1.pause_total_ns,
                  ms1.next_gc, ms1.gc_cpu_fraction);
    assert_int_equal(ms1.num_gc - ms0.num_gc, 1);
    assert_int_equal(ms1.num_forced_gc - ms0.num_forced_gc, 1);
    assert_true(ms1.pause_ns[last] > 0);
    assert_true(ms1.pause_total_ns > ms0.pause_total_ns);
    assert_true(ms1.pause_total_ns - ms0.pause_total_ns == ms1.pause_ns[last]);
    assert_true(within_a_minute(ms1.last_gc, (uint64_t)time(NULL) * GORT_S));
    assert_true(within_a_minute(ms1.last_gc, now));
    assert_true(ms1.last_gc >= ms0.last_gc);
    assert_true(ms1.pause_end[last] == ms1.last_gc);
    assert_true(ms1.next_gc >= 4 * MIB);
    assert_true(ms1.heap_goal == ms1.next_gc);
    assert_true(ms1.gc_cpu_fraction >= 0 && ms1.gc_cpu_fraction <= 1);
    assert_true(ms1.enable_gc);
    assert_true(identities_hold(&ms1, "after gort_gc"));

    /* gort_free_os_memory is a forced collection too. */
    gort_free_os_memory();
    gort_read_memstats(&ms2);
    last = (ms2.num_gc + 255) % 256;
    assert_int_equal(ms2.num_gc - ms1.num_gc, 1);
    assert_int_equal(ms2.num_forced_gc - ms1.num_forced_gc, 1);
    assert_true(ms2.pause_ns[last] > 0);
    assert_true(ms2.pause_total_ns - ms1.pause_total_ns == ms2.pause_ns[last]);
    assert_true(ms2.last_gc >= ms1.last_gc);
    assert_true(identities_hold(&ms2, "after gort_free_os_memory"));
}

/* The bucket of a pause as gort.h states it: the first whose bound is at
 * least the pause, else the last, unbounded one. */
static int pause_bucket_of(uint64_t ns)
{
    for (int i = 0; i < GORT_PAUSE_BUCKETS - 1; i++)
        if (ns <= gort_pause_bucket_bounds_ns[i])
            return i;
    return GORT_PAUSE_BUCKETS - 1;
}

static void test_pause_hist_counts_every_cycle_once_in_the_bucket_of_its_ring_pause(void **state)
{
    for (int i = 0; i < 3; i++)
        gort_gc();
    gort_read_memstats(&ms1);

    const uint64_t *le = gort_pause_bucket_bounds_ns;
    assert_true(le[0] == 5 * GORT_US);
    assert_true(le[GORT_PAUSE_BUCKETS - 2] == GORT_S);
    for (int i = 1; i < GORT_PAUSE_BUCKETS - 1; i++)
        assert_true(le[i - 1] < le[i]);

    uint64_t sum = 0;
    for (int i = 0; i < GORT_PAUSE_BUCKETS; i++)
        sum += ms1.pause_hist[i];
    print_message("num_gc %u, histogram sum %" PRIu64 "\n", ms1.num_gc, sum);
    assert_true(ms1.num_gc >= 3);
    assert_true(sum == ms1.num_gc);

    /* The ring holds the latest 256 pauses: all of them while num_gc <=
     * 256, and then the histogram must agree exactly; past that, each
     * bucket holds at least what the ring's pauses put there. */
    uint32_t inring = ms1.num_gc < 256 ? ms1.num_gc : 256;
    uint64_t want[GORT_PAUSE_BUCKETS] = {0};
    for (uint32_t n = 0; n < inring; n++)
        want[pause_bucket_of(ms1.pause_ns[n])]++;
    for (int i = 0; i < GORT_PAUSE_BUCKETS; i++) {
        if (ms1.num_gc <= 256)
            assert_true(ms1.pause_hist[i] == want[i]);
        else
            assert_true(ms1.pause_hist[i] >= want[i]);
    }
}

/* ---------------------------------------------------------------------
 * 13. gctrace (tests/progs/gc_trace.c)
 * ------------------------------------------------------------------- */

/* Go 1.19's documented format (runtime package docs, GODEBUG gctrace). */
#define GC_LINE                                                                           \
    "^gc [0-9]+ @[0-9]+\\.[0-9]{3}s [0-9]+%: [0-9.]+\\+[0-9.]+\\+[0-9.]+ ms clock, "      \
    "[0-9.]+\\+[0-9.]+/[0-9.]+/[0-9.]+\\+[0-9.]+ ms cpu, [0-9]+->[0-9]+->[0-9]+ MB, "   \
    "[0-9]+ MB goal, [0-9]+ MB stacks, [0-9]+ MB globals, [0-9]+ P \\(forced\\)$"

/* The numbers of the lines that start with "gc ", in order (at most max),
 * and how many of those lines match GC_LINE with "3 P". */
static int gc_line_numbers(const char *text, long *nums, int max, int *nfull)
{
    int n = 0;
    *nfull = 0;
    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 3 && strncmp(p, "gc ", 3) == 0) {
            char *line = strndup(p, len);
            if (n < max)
                nums[n] = line ? strtol(line + 3, NULL, 10) : -1;
            n++;
            if (line != NULL && gt_matches(line, GC_LINE) && gt_matches(line, " 3 P \\(forced\\)$"))
                (*nfull)++;
            else
                print_message("gctrace line does not match: \"%s\"\n", line ? line : "");
            free(line);
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    return n;
}

static void test_gctrace_prints_gos_gc_line_for_every_forced_cycle(void **state)
{
    const char *const env[] = { "GODEBUG=gctrace=1", "GOMAXPROCS=3", NULL };
    gt_proc r;
    gt_run("gc_trace", NULL, env, HELPER_TIMEOUT, &r);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    long nums[8] = { 0 };
    int nfull = 0;
    int n = gc_line_numbers(r.err, nums, 8, &nfull);
    /* gort_gc twice, then gort_free_os_memory: three cycles, in order. */
    GT_ASSERT_PROC(n == 3, &r);
    GT_ASSERT_PROC(nfull == 3, &r);
    GT_ASSERT_PROC(nums[0] == 1 && nums[1] == 2 && nums[2] == 3, &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^num_gc 3 forced 3$"), &r);
    gt_proc_free(&r);

    /* Without gctrace the cycles are silent. */
    gt_run("gc_trace", NULL, NULL, HELPER_TIMEOUT, &r);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(!gt_matches(r.err, "^gc "), &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^num_gc 3 forced 3$"), &r);
    gt_proc_free(&r);
}

/* gctrace switched on at run time, with the lines going to a trace
 * writer instead of stderr; switched off, nothing more arrives. */
static struct {
    pthread_mutex_t mu;
    char text[8192];
    size_t len;
    int calls;
} tw = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void trace_capture(void *ctx, const char *s, size_t n)
{
    pthread_mutex_lock(&tw.mu);
    tw.calls += ctx == &tw;
    if (tw.len + n < sizeof tw.text) {
        memcpy(tw.text + tw.len, s, n);
        tw.len += n;
        tw.text[tw.len] = '\0';
    }
    pthread_mutex_unlock(&tw.mu);
}

static void test_gctrace_switched_on_at_run_time_goes_to_the_trace_writer(void **state)
{
    gort_set_trace_writer(trace_capture, &tw);
    int old = gort_set_gctrace(1);
    gort_gc();
    assert_int_equal(gort_set_gctrace(0), 1);
    pthread_mutex_lock(&tw.mu);
    bool line = gt_matches(tw.text, "^gc [0-9]+ @[0-9.]+s [0-9]+%: .* ms clock, .* MB goal, .* P \\(forced\\)$");
    int calls = tw.calls;
    size_t len = tw.len;
    pthread_mutex_unlock(&tw.mu);
    gort_gc();
    pthread_mutex_lock(&tw.mu);
    size_t len_after = tw.len;
    pthread_mutex_unlock(&tw.mu);
    gort_set_trace_writer(NULL, NULL);
    gort_set_gctrace(old);
    if (!line)
        print_message("captured: %s\n", tw.text);
    assert_true(line);
    assert_true(calls >= 1);
    assert_int_equal(len_after, len);
    assert_int_equal(gort_set_gctrace(-1), -EINVAL);
}

/* ---------------------------------------------------------------------
 * 13b. The write barrier under stress (helper program gcstress.c)
 *
 * Two mutators relink a graph through GORT_STORE, carry nodes on their
 * stacks across yields, and replace nodes, while the main goroutine runs
 * 200 collections back to back on two Ps with gccheckmark=1: every cycle
 * is re-marked with the world stopped and any reachable object left white
 * kills the program.  The same program with plain stores for the carry
 * must be caught, or the check proves nothing.
 * ------------------------------------------------------------------- */

#if GORT_TSAN
#define STRESS_NODES "4000"
#else
#define STRESS_NODES "20000"
#endif

static void test_relinking_mutators_never_lose_a_reachable_object_over_200_checked_cycles(void **state)
{
    const char *const env[] = { "GODEBUG=gccheckmark=1", "GOMAXPROCS=2", NULL };
    const char *const args[] = { "200", STRESS_NODES, NULL };
    gt_proc r;
    gt_run("gcstress", args, env, gt_slow(120 * GORT_S), &r);
    print_message("%s", r.out ? r.out : "");
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^cycles=200 num_gc=[0-9]+ walks=[1-9][0-9]* nodes_checked=[1-9][0-9]*$"), &r);
    GT_ASSERT_PROC(!gt_matches(r.err, "gccheckmark"), &r);
    gt_proc_free(&r);
}

static void test_gccheckmark_catches_a_store_that_bypasses_the_barrier(void **state)
{
    const char *const env[] = { "GODEBUG=gccheckmark=1", "GOMAXPROCS=2", NULL };
    const char *const args[] = { "200", STRESS_NODES, "nobarrier", NULL };
    gt_proc r;
    gt_run("gcstress", args, env, gt_slow(120 * GORT_S), &r);
    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^runtime: gccheckmark: object 0x[0-9a-f]+ \\([0-9]+ bytes\\) is reachable but was not marked$"), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^fatal error: gccheckmark found an unmarked reachable object"), &r);
    gt_proc_free(&r);
}

/* ---------------------------------------------------------------------
 * 14. After test_heap's hand cycles
 * ------------------------------------------------------------------- */

/*
 * A hand cycle (rt_test_heap_cycle_begin/mark/end) keeps A (reachable
 * from bss) and C (unreachable) and frees B, whose address stays in bss.
 * The gort_gc that follows must keep A, free C, and leave B's slot free:
 * a stale pointer to a freed slot resurrects nothing.  Like every hand
 * cycle, it frees every other heap object (as in test_heap.c), so the
 * heap then holds exactly A.  Twice: with the hand cycle's sweep done
 * before gort_gc, and left to gort_gc's sweep termination.
 */
#define HC_SIZE 320
static void *volatile hc_static[2];   /* A and (dangling after the hand cycle) B */
static uintptr_t hc_h[3];

NOINLINE static void hc_make(int round)
{
    for (int i = 0; i < 3; i++) {
        char *p = gort_alloc(HC_SIZE);
        fill_tag(p, HC_SIZE, tag_of(15 + (uint64_t)round, (uint64_t)i));
        hc_h[i] = hide(p);
        if (i < 2)
            hc_static[i] = p;
    }
}

NOINLINE static bool hc_hand_cycle(bool sweep_now)
{
    rt_test_heap_cycle_begin();
    bool ok = rt_test_heap_mark(unhide(hc_h[0])) && rt_test_heap_mark(unhide(hc_h[2]));
    rt_test_heap_cycle_end(sweep_now);
    return ok;
}

static void test_gort_gc_after_hand_cycles_resurrects_nothing(void **state)
{
    for (int round = 0; round < 2; round++) {
        bool sweep_now = round == 0;
        hc_make(round);
        bool marked = hc_hand_cycle(sweep_now);
        bool b_freed_by_hand = !sweep_now || !live_any(hc_h[1]);
        SCRUB_AND_GC();
        bool b_free = !live_any(hc_h[1]);      /* nothing can resurrect it */
        bool c_freed = FREED(hc_h[2]);
        gort_read_memstats(&ms1);
        bool a_kept = kept(hc_h[0], HC_SIZE, tag_of(15 + (uint64_t)round, 0));
        bool ids = identities_hold(&ms1, sweep_now ? "after gort_gc (hand sweep done)"
                                                   : "after gort_gc (hand sweep pending)");
        hc_static[0] = hc_static[1] = NULL;

        print_message("round %d: heap_objects %" PRIu64 " after gort_gc\n", round, ms1.heap_objects);
        assert_true(marked);
        assert_true(b_freed_by_hand);
        assert_true(a_kept);
        assert_true(b_free);
        assert_true(c_freed);
        assert_int_equal(ms1.heap_objects, 1);
        assert_true(ids);
    }
}

/* ---------------------------------------------------------------------
 * 15. The observer (gort_set_observer)
 *
 * The observer records every call, under a mutex (it runs on the runtime
 * thread that collected or scavenged), with a sequence number shared by
 * both kinds so that their order shows.  Assertions are made on the main
 * goroutine from copies.  Cycles the tests did not ask for (a heap
 * trigger from earlier garbage, forcegc) may come too: the tests count
 * collections against MemStats and pick the passes they made by kind.
 * ------------------------------------------------------------------- */

#define OBS_MAX 64

static struct {
    pthread_mutex_t mu;
    int ngc, nscav;                    /* calls, also those past OBS_MAX */
    int seq;                           /* the next call's place in order */
    gort_gc_cycle gc[OBS_MAX];
    int gc_seq[OBS_MAX];
    gort_scav_pass scav[OBS_MAX];
    int scav_seq[OBS_MAX];
    int bad_ctx;                       /* calls with another ctx than &obs */
} obs = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void obs_gc(void *ctx, const gort_gc_cycle *c)
{
    pthread_mutex_lock(&obs.mu);
    obs.bad_ctx += ctx != &obs;
    if (obs.ngc < OBS_MAX) {
        obs.gc[obs.ngc] = *c;
        obs.gc_seq[obs.ngc] = obs.seq;
    }
    obs.ngc++;
    obs.seq++;
    pthread_mutex_unlock(&obs.mu);
}

static void obs_scav(void *ctx, const gort_scav_pass *sp)
{
    pthread_mutex_lock(&obs.mu);
    obs.bad_ctx += ctx != &obs;
    if (obs.nscav < OBS_MAX) {
        obs.scav[obs.nscav] = *sp;
        obs.scav_seq[obs.nscav] = obs.seq;
    }
    obs.nscav++;
    obs.seq++;
    pthread_mutex_unlock(&obs.mu);
}

static const gort_observer the_observer = {obs_gc, obs_scav, &obs};

static void obs_reset(void)
{
    pthread_mutex_lock(&obs.mu);
    obs.ngc = obs.nscav = obs.seq = obs.bad_ctx = 0;
    pthread_mutex_unlock(&obs.mu);
}

/* A consistent copy of what was recorded. */
static struct {
    int ngc, nscav, bad_ctx;
    gort_gc_cycle gc[OBS_MAX];
    int gc_seq[OBS_MAX];
    gort_scav_pass scav[OBS_MAX];
    int scav_seq[OBS_MAX];
} seen;

static void obs_take(void)
{
    pthread_mutex_lock(&obs.mu);
    seen.ngc = obs.ngc;
    seen.nscav = obs.nscav;
    seen.bad_ctx = obs.bad_ctx;
    memcpy(seen.gc, obs.gc, sizeof seen.gc);
    memcpy(seen.gc_seq, obs.gc_seq, sizeof seen.gc_seq);
    memcpy(seen.scav, obs.scav, sizeof seen.scav);
    memcpy(seen.scav_seq, obs.scav_seq, sizeof seen.scav_seq);
    pthread_mutex_unlock(&obs.mu);
}

static int obs_gc_calls(void)
{
    pthread_mutex_lock(&obs.mu);
    int n = obs.ngc;
    pthread_mutex_unlock(&obs.mu);
    return n;
}

/* Forced scavenger passes recorded (the others come from sysmon and the
 * background scavenger whenever they release something). */
static int obs_forced_scav_calls(void)
{
    pthread_mutex_lock(&obs.mu);
    int n = 0;
    for (int i = 0; i < obs.nscav && i < OBS_MAX; i++)
        n += obs.scav[i].kind == GORT_SCAV_FORCED;
    pthread_mutex_unlock(&obs.mu);
    return n;
}

static int saved_gc_percent;

static int observer_setup(void **state)
{
    saved_gc_percent = gort_gc_percent();
    obs_reset();
    return gc_setup(state);
}

/* Whatever a test left on, even when it failed. */
static int observer_teardown(void **state)
{
    gort_set_observer(NULL);
    gort_set_gctrace(0);
    gort_set_trace_writer(NULL, NULL);
    if (gort_gc_percent() != saved_gc_percent)
        gort_set_gc_percent(saved_gc_percent);
    return gt_restore_knobs(state);
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * GORT_S + ts.tv_nsec;
}

/* What every cycle record must satisfy, whatever started it.  Names the
 * first property that fails. */
static const char *cycle_inconsistency(const gort_gc_cycle *c, int procs)
{
    if (c->procs != procs)
        return "procs is not GOMAXPROCS";
    if (c->start_ns > c->end_ns)
        return "start_ns is after end_ns";
    for (int i = 0; i < 3; i++)
        if (c->clock_ns[i] < 0)
            return "a clock_ns phase is negative";
    for (int i = 0; i < 5; i++)
        if (c->cpu_ns[i] < 0)
            return "a cpu_ns phase is negative";
    if (c->end_ns - c->start_ns != c->clock_ns[0] + c->clock_ns[1] + c->clock_ns[2])
        return "end_ns - start_ns is not the sum of the three clock phases";
    /* Stops that found grey objects left and let the world go again are
     * pauses too, during the mark's clock. */
    if (c->pause_ns < (uint64_t)(c->clock_ns[0] + c->clock_ns[2]))
        return "pause_ns is less than sweep termination + mark termination";
    if (c->pause_ns > (uint64_t)(c->clock_ns[0] + c->clock_ns[1] + c->clock_ns[2]))
        return "pause_ns is more than the cycle's whole clock";
    if (c->pause_ns == 0)
        return "pause_ns is 0";
    if (c->cpu_ns[0] != c->clock_ns[0] * procs)
        return "cpu_ns[0] is not clock_ns[0] * procs";
    if (c->cpu_ns[4] != c->clock_ns[2] * procs)
        return "cpu_ns[4] is not clock_ns[2] * procs";
    if (c->since_start_ns <= 0)
        return "since_start_ns is not positive";
    if (c->cpu_percent < 0 || c->cpu_percent > 100)
        return "cpu_percent is outside 0..100";
    if (c->heap_marked > c->heap_end)
        return "heap_marked is above heap_end";
    if (c->heap_goal == 0 || c->next_goal == 0)
        return "a goal is 0";
    if ((c->trigger == GORT_GC_TRIGGER_FORCED) != c->forced)
        return "forced does not match trigger == GORT_GC_TRIGGER_FORCED";
    if ((unsigned)c->trigger > GORT_GC_TRIGGER_FORCED)
        return "trigger is not a gort_gc_trigger";
    return NULL;
}

static void print_cycle(const char *why, const gort_gc_cycle *c)
{
    print_message("%s: gc %u procs %d start %" PRId64 " end %" PRId64 " since %" PRId64 " cpu%% %d clock %" PRId64
                  "+%" PRId64 "+%" PRId64 " cpu %" PRId64 "+%" PRId64 "/%" PRId64 "/%" PRId64 "+%" PRId64
                  " heap %" PRIu64 "->%" PRIu64 "->%" PRIu64 " goal %" PRIu64 " next %" PRIu64 " pause %" PRIu64
                  " forced %d trigger %d\n",
                  why, c->num, c->procs, c->start_ns, c->end_ns, c->since_start_ns, c->cpu_percent, c->clock_ns[0],
                  c->clock_ns[1], c->clock_ns[2], c->cpu_ns[0], c->cpu_ns[1], c->cpu_ns[2], c->cpu_ns[3],
                  c->cpu_ns[4], c->heap_start, c->heap_end, c->heap_marked, c->heap_goal, c->next_goal, c->pause_ns,
                  c->forced, (int)c->trigger);
}

/* (1) Every collection once, in order, with its numbers. */
static void test_the_observer_sees_every_collection_once_with_consistent_numbers(void **state)
{
    gort_set_observer(&the_observer);
    gort_gc();                  /* any cycle under way before is over */
    obs_reset();
    gort_read_memstats(&ms0);
    int64_t before = realtime_ns();
    for (int i = 0; i < 3; i++)
        gort_gc();
    int64_t after = realtime_ns();
    gort_read_memstats(&ms1);
    gort_set_observer(NULL);
    obs_take();
    int procs = gort_gomaxprocs(0);

    print_message("%d cycles observed, num_gc %u -> %u, forced %u -> %u\n", seen.ngc, ms0.num_gc, ms1.num_gc,
                  ms0.num_forced_gc, ms1.num_forced_gc);
    assert_int_equal(seen.bad_ctx, 0);
    assert_true(seen.ngc <= OBS_MAX);
    assert_int_equal(seen.ngc, (int)(ms1.num_gc - ms0.num_gc));
    int forced = 0;
    for (int i = 0; i < seen.ngc; i++) {
        const gort_gc_cycle *c = &seen.gc[i];
        const char *bad = cycle_inconsistency(c, procs);
        if (bad || c->num != ms0.num_gc + 1 + (uint32_t)i)
            print_cycle(bad ? bad : "num out of order", c);
        assert_null(bad);
        assert_int_equal(c->num, ms0.num_gc + 1 + (uint32_t)i);
        /* The MemStats ring holds the same pause and end time. */
        assert_true(ms1.pause_ns[(c->num - 1) % 256] == c->pause_ns);
        assert_true(ms1.pause_end[(c->num - 1) % 256] == (uint64_t)c->end_ns);
        /* Close to CLOCK_REALTIME now: between the readings around the
         * calls (the start is derived from the monotonic clock: 10 ms of
         * slack for the two clocks' rates). */
        assert_true(c->end_ns >= before && c->end_ns <= after);
        assert_true(c->start_ns >= before - 10 * GORT_MS);
        if (i > 0) {
            assert_true(c->start_ns >= seen.gc[i - 1].end_ns - 10 * GORT_MS);
            assert_true(c->since_start_ns > seen.gc[i - 1].since_start_ns);
        }
        forced += c->forced;
    }
    assert_int_equal(forced, (int)(ms1.num_forced_gc - ms0.num_forced_gc));
    assert_true(forced >= 3);
    /* gort_gc's own cycles are the last three, forced. */
    for (int i = seen.ngc - 3; i < seen.ngc; i++) {
        assert_true(seen.gc[i].forced);
        assert_int_equal(seen.gc[i].trigger, GORT_GC_TRIGGER_FORCED);
    }
    /* The goal the last cycle set is the one in force. */
    assert_true(seen.gc[seen.ngc - 1].next_goal == ms1.next_gc);
}

/* Go's fmtNSAsMS (runtime/mgc.go) and itoaDiv (runtime/print.go), ported
 * as written: whole milliseconds from 10 ms on, else two significant
 * digits with at most three decimals. */
static const char *go_itoa_div(char *buf, size_t len, uint64_t val, int dec)
{
    size_t i = len - 1;
    size_t idec = i - (size_t)dec;
    buf[len - 1] = '\0';
    i--;
    idec--;
    while (val >= 10 || i >= idec) {
        buf[i--] = (char)('0' + val % 10);
        if (i == idec)
            buf[i--] = '.';
        val /= 10;
    }
    buf[i] = (char)('0' + val);
    return buf + i;
}

static const char *go_fmt_ns_as_ms(char *buf, size_t len, uint64_t ns)
{
    if (ns >= 10000000)
        return go_itoa_div(buf, len, ns / 1000000, 0);
    uint64_t x = ns / 1000;
    if (x == 0)
        return "0";
    int dec = 3;
    while (x >= 100) {
        x /= 10;
        dec--;
    }
    return go_itoa_div(buf, len, x, dec);
}

static struct {
    pthread_mutex_t mu;
    char text[16384];
    size_t len;
    bool overflow;
} otw = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void obs_trace_capture(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    pthread_mutex_lock(&otw.mu);
    if (otw.len + n < sizeof otw.text) {
        memcpy(otw.text + otw.len, s, n);
        otw.len += n;
        otw.text[otw.len] = '\0';
    } else {
        otw.overflow = true;
    }
    pthread_mutex_unlock(&otw.mu);
}

/* The gctrace line of cycle num in text, split into its fields: "gc N
 * @S.MMMs P%: a+b+c ms clock, d+e/f/g+h ms cpu, H0->H1->H2 MB, G MB goal,
 * S MB stacks, L MB globals, N P[ (forced)]".  False if there is none. */
struct trace_fields {
    unsigned num;
    long long secs, msecs;
    int percent;
    char ms[8][16];
    unsigned long long mb[6];
    int procs;
    bool forced;
};

static bool find_trace_line(const char *text, uint32_t num, struct trace_fields *f)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "gc %u @", num);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, prefix, strlen(prefix)) != 0)
            continue;
        const char *nl = strchr(p, '\n');
        char line[512];
        snprintf(line, sizeof line, "%.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
        int used = 0;
        memset(f, 0, sizeof *f);
        int got = sscanf(line,
                         "gc %u @%lld.%3llds %d%%: %15[0-9.]+%15[0-9.]+%15[0-9.] ms clock, "
                         "%15[0-9.]+%15[0-9.]/%15[0-9.]/%15[0-9.]+%15[0-9.] ms cpu, %llu->%llu->%llu MB, "
                         "%llu MB goal, %llu MB stacks, %llu MB globals, %d P%n",
                         &f->num, &f->secs, &f->msecs, &f->percent, f->ms[0], f->ms[1], f->ms[2], f->ms[3],
                         f->ms[4], f->ms[5], f->ms[6], f->ms[7], &f->mb[0], &f->mb[1], &f->mb[2], &f->mb[3],
                         &f->mb[4], &f->mb[5], &f->procs, &used);
        if (got != 19 || used == 0) {
            print_message("unparsed gctrace line: \"%s\"\n", line);
            return false;
        }
        if (strcmp(line + used, " (forced)") == 0)
            f->forced = true;
        else if (line[used] != '\0') {
            print_message("gctrace line with a tail: \"%s\"\n", line);
            return false;
        }
        return true;
    }
    return false;
}

/* (2) The observer's record and the gctrace line of the same cycle. */
static void test_the_observers_numbers_are_the_gctrace_lines(void **state)
{
    /* The port of Go's formatting, on values whose output Go documents by
     * example (0.011, 1.2, 23 ms). */
    char b[32];
    assert_string_equal(go_fmt_ns_as_ms(b, sizeof b, 0), "0");
    assert_string_equal(go_fmt_ns_as_ms(b, sizeof b, 999), "0");
    assert_string_equal(go_fmt_ns_as_ms(b, sizeof b, 1000), "0.001");
    assert_string_equal(go_fmt_ns_as_ms(b, sizeof b, 11500), "0.011");
    assert_string_equal(go_fmt_ns_as_ms(b, sizeof b, 123456), "0.12");
    assert_string_equal(go_fmt_ns_as_ms(b, sizeof b, 1234567), "1.2");
    assert_string_equal(go_fmt_ns_as_ms(b, sizeof b, 9999999), "9.9");
    assert_string_equal(go_fmt_ns_as_ms(b, sizeof b, 10000000), "10");
    assert_string_equal(go_fmt_ns_as_ms(b, sizeof b, 23999999), "23");
    assert_string_equal(go_fmt_ns_as_ms(b, sizeof b, 1234567890), "1234");

    pthread_mutex_lock(&otw.mu);
    otw.len = 0;
    otw.text[0] = '\0';
    otw.overflow = false;
    pthread_mutex_unlock(&otw.mu);
    gort_set_trace_writer(obs_trace_capture, NULL);
    gort_set_observer(&the_observer);
    gort_gc();
    obs_reset();
    gort_set_gctrace(1);
    gort_gc();
    gort_gc();
    gort_set_gctrace(0);
    gort_set_observer(NULL);
    gort_set_trace_writer(NULL, NULL);
    obs_take();
    pthread_mutex_lock(&otw.mu);
    static char text[sizeof otw.text];
    memcpy(text, otw.text, otw.len + 1);
    bool overflow = otw.overflow;
    pthread_mutex_unlock(&otw.mu);

    assert_false(overflow);
    assert_true(seen.ngc >= 2 && seen.ngc <= OBS_MAX);
    for (int i = 0; i < seen.ngc; i++) {
        const gort_gc_cycle *c = &seen.gc[i];
        struct trace_fields f;
        bool found = find_trace_line(text, c->num, &f);
        if (!found)
            print_message("no gctrace line for gc %u in:\n%s", c->num, text);
        assert_true(found);
        int mismatches = 0;
#define SAME(what, got, want)                                                                          \
    do {                                                                                               \
        if ((long long)(got) != (long long)(want)) {                                                   \
            print_message("gc %u: %s is %lld in the line, %lld in the record\n", c->num, what,         \
                          (long long)(got), (long long)(want));                                       \
            mismatches++;                                                                              \
        }                                                                                              \
    } while (0)
        SAME("@seconds", f.secs, c->since_start_ns / GORT_S);
        SAME("@milliseconds", f.msecs, c->since_start_ns % GORT_S / GORT_MS);
        SAME("cpu %", f.percent, c->cpu_percent);
        SAME("MB at start", f.mb[0], c->heap_start >> 20);
        SAME("MB at mark end", f.mb[1], c->heap_end >> 20);
        SAME("MB marked", f.mb[2], c->heap_marked >> 20);
        SAME("MB goal", f.mb[3], c->heap_goal >> 20);
        SAME("MB stacks", f.mb[4], c->stacks >> 20);
        SAME("MB globals", f.mb[5], c->globals >> 20);
        SAME("P", f.procs, c->procs);
        SAME("(forced)", f.forced, c->forced);
#undef SAME
        const int64_t t[8] = {c->clock_ns[0], c->clock_ns[1], c->clock_ns[2], c->cpu_ns[0],
                              c->cpu_ns[1],   c->cpu_ns[2],   c->cpu_ns[3],   c->cpu_ns[4]};
        for (int k = 0; k < 8; k++) {
            const char *want = go_fmt_ns_as_ms(b, sizeof b, (uint64_t)t[k]);
            if (strcmp(f.ms[k], want) != 0) {
                print_message("gc %u: ms field %d is \"%s\" in the line, %" PRId64 " ns (\"%s\") in the record\n",
                              c->num, k, f.ms[k], t[k], want);
                mismatches++;
            }
        }
        assert_int_equal(mismatches, 0);
    }
}

/* Allocate 1 MiB of garbage in 64 KiB pieces. */
NOINLINE static void alloc_mib_garbage(void)
{
    alloc_garbage(64 * KIB, true, 16);
}

static bool obs_saw_unforced(void)
{
    pthread_mutex_lock(&obs.mu);
    bool saw = false;
    for (int i = 0; i < obs.ngc && i < OBS_MAX; i++)
        saw |= !obs.gc[i].forced;
    pthread_mutex_unlock(&obs.mu);
    return saw;
}

/* (3) A cycle the heap started. */
static void test_the_observer_sees_a_heap_triggered_cycle_as_heap_and_not_forced(void **state)
{
    gort_set_gc_percent(100);
    gort_set_observer(&the_observer);
    gort_gc();
    obs_reset();
    gort_read_memstats(&ms0);
    int64_t deadline = gort_nanotime() + gt_slow(20 * GORT_S);
    long mib = 0;
    /* The goal is at least 4 MB: a few times that in garbage starts a
     * cycle (the heap stays small, the garbage being collected). */
    while (!obs_saw_unforced() && gort_nanotime() < deadline && mib < 4096) {
        alloc_mib_garbage();
        mib++;
        if (mib % 8 == 0)
            gort_gosched();
    }
    /* A cycle under way when the loop stopped ends by itself. */
    bool saw = gt_wait_for(obs_saw_unforced(), WAIT_TIMEOUT);
    gort_set_observer(NULL);
    gort_read_memstats(&ms1);
    obs_take();
    int procs = gort_gomaxprocs(0);
    print_message("%ld MiB of garbage, %d cycles observed, num_gc %u -> %u\n", mib, seen.ngc, ms0.num_gc,
                  ms1.num_gc);
    assert_true(saw);
    assert_int_equal(seen.bad_ctx, 0);
    int heap = 0;
    for (int i = 0; i < seen.ngc && i < OBS_MAX; i++) {
        const gort_gc_cycle *c = &seen.gc[i];
        const char *bad = cycle_inconsistency(c, procs);
        if (bad)
            print_cycle(bad, c);
        assert_null(bad);
        if (!c->forced) {
            /* No memory limit is set and forcegc waits two minutes. */
            if (c->trigger != GORT_GC_TRIGGER_HEAP)
                print_cycle("not a heap trigger", c);
            assert_int_equal(c->trigger, GORT_GC_TRIGGER_HEAP);
            /* It ran against a goal (GOGC=100: at least the 4 MB
             * minimum) and set the next. */
            assert_true(c->heap_goal >= 4 * MIB);
            assert_true(c->next_goal >= 4 * MIB && c->next_goal != UINT64_MAX);
            heap++;
        }
    }
    assert_true(heap >= 1);
    assert_int_equal(ms1.num_forced_gc, ms0.num_forced_gc);
}

/* Drop 32 MiB in 1 MiB objects, for gort_free_os_memory to give back. */
NOINLINE static void alloc_big_garbage(void)
{
    for (int i = 0; i < 32; i++) {
        char *p = gort_alloc_noscan(MIB);
        for (size_t off = 0; off < MIB; off += 4096)
            p[off] = 1;
    }
}

/* (4) gort_free_os_memory: its forced cycle, then a forced pass. */
static void test_the_observer_gets_gort_free_os_memorys_forced_pass_after_its_cycle(void **state)
{
    gort_set_observer(&the_observer);
    gort_gc();
    /* The collector off (restored by the teardown), so that the garbage
     * waits for gort_free_os_memory's own cycle, which runs regardless. */
    gort_set_gc_percent(-1);
    obs_reset();
    alloc_big_garbage();
    scrub_stack();
    gort_read_memstats(&ms0);
    int64_t before = realtime_ns();
    gort_free_os_memory();
    int64_t after = realtime_ns();
    gort_read_memstats(&ms1);
    gort_set_observer(NULL);
    obs_take();

    assert_int_equal(seen.bad_ctx, 0);
    assert_true(seen.ngc >= 1 && seen.ngc <= OBS_MAX && seen.nscav <= OBS_MAX);
    /* Its cycle: the last forced one, counted once. */
    int cyc = -1;
    for (int i = 0; i < seen.ngc; i++)
        if (seen.gc[i].forced)
            cyc = cyc < 0 ? i : -2;
    assert_true(cyc >= 0);
    assert_int_equal(seen.gc[cyc].trigger, GORT_GC_TRIGGER_FORCED);
    assert_int_equal(ms1.num_forced_gc - ms0.num_forced_gc, 1);
    /* Exactly one forced pass, after that cycle. */
    int pass = -1;
    for (int i = 0; i < seen.nscav; i++)
        if (seen.scav[i].kind == GORT_SCAV_FORCED)
            pass = pass < 0 ? i : -2;
    assert_true(pass >= 0);
    const gort_scav_pass *sp = &seen.scav[pass];
    print_message("scvg-1: released %" PRIu64 " inuse %" PRIu64 " idle %" PRIu64 " sys %" PRIu64
                  " released total %" PRIu64 "\n",
                  sp->released, sp->heap_inuse, sp->heap_idle, sp->heap_sys, sp->heap_released);
    assert_true(seen.scav_seq[pass] > seen.gc_seq[cyc]);
    assert_int_equal(sp->num, -1);
    assert_true(sp->time_ns >= seen.gc[cyc].end_ns && sp->time_ns >= before && sp->time_ns <= after);
    /* The 32 MiB just dropped, or most of it, went back: by this pass, or
     * by the background scavenger between the cycle's sweep and it. */
    uint64_t bg = 0;
    for (int i = 0; i < seen.nscav; i++)
        if (seen.scav[i].kind == GORT_SCAV_BACKGROUND && seen.scav_seq[i] > seen.gc_seq[cyc])
            bg += seen.scav[i].released;
    if (bg)
        print_message("the background scavenger released %" PRIu64 " bytes in between\n", bg);
    assert_true(sp->released + bg >= 16 * MIB);
    assert_true(sp->heap_idle == sp->heap_sys - sp->heap_inuse);
    assert_true(sp->heap_released <= sp->heap_idle);
    assert_true(sp->released <= sp->heap_released);
    assert_true(ms1.heap_released >= sp->released);
}

static int other_calls;
static void other_gc(void *ctx, const gort_gc_cycle *c)
{
    (void)c;
    __atomic_fetch_add((int *)ctx, 1, __ATOMIC_RELAXED);
}

static void only_scav(void *ctx, const gort_scav_pass *sp)
{
    if (sp->kind == GORT_SCAV_FORCED)
        __atomic_fetch_add((int *)ctx, 1, __ATOMIC_RELAXED);
}

/* (5) NULL removes the observer; a new one replaces the old; either
 * callback may be NULL. */
static void test_gort_set_observer_null_stops_the_calls_and_a_new_one_replaces_the_old(void **state)
{
    gort_set_observer(&the_observer);
    gort_gc();
    gort_free_os_memory();
    int gc_on = obs_gc_calls(), scav_on = obs_forced_scav_calls();
    gort_set_observer(NULL);
    gort_gc();
    gort_free_os_memory();
    int gc_off = obs_gc_calls(), scav_off = obs_forced_scav_calls();
    assert_true(gc_on >= 2);
    assert_true(scav_on >= 1);
    assert_int_equal(gc_off, gc_on);
    assert_int_equal(scav_off, scav_on);

    /* Replaced: the new observer's ctx gets the calls, the old none. */
    static const gort_observer other = {other_gc, NULL, &other_calls};
    __atomic_store_n(&other_calls, 0, __ATOMIC_RELAXED);
    gort_set_observer(&the_observer);
    gort_set_observer(&other);
    gort_gc();
    gort_free_os_memory();      /* no scavenge callback: nothing to call */
    assert_true(__atomic_load_n(&other_calls, __ATOMIC_RELAXED) >= 2);
    assert_int_equal(obs_gc_calls(), gc_on);
    assert_int_equal(obs_forced_scav_calls(), scav_on);

    /* Only a scavenge callback: collections call nothing. */
    static int scav_calls;
    static const gort_observer scav_only = {NULL, only_scav, &scav_calls};
    gort_set_observer(&scav_only);
    gort_gc();
    gort_free_os_memory();
    gort_set_observer(NULL);
    assert_int_equal(__atomic_load_n(&scav_calls, __ATOMIC_RELAXED), 1);
    assert_int_equal(obs_gc_calls(), gc_on);
}

/* ---------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, gc_setup, gt_restore_knobs)
#define O(f) cmocka_unit_test_setup_teardown(f, observer_setup, observer_teardown)

static void run_all(void *arg)
{
    const struct CMUnitTest tests[] = {
        T(test_objects_reachable_only_from_the_collecting_goroutines_locals_survive),
        T(test_the_collectors_own_frames_below_gort_gc_keep_nothing),
        T(test_objects_reachable_only_from_parked_goroutines_locals_survive),
        T(test_a_pointer_held_only_in_a_register_by_a_spinning_goroutine_keeps_its_object),
        T(test_interior_pointers_keep_their_object_and_one_past_the_end_does_not),
        T(test_typed_fields_keep_their_targets_and_non_pointer_words_do_not),
        T(test_pointers_in_bss_and_initialised_data_keep_their_objects),
        T(test_a_registered_root_keeps_what_malloced_memory_holds_until_removed),
        T(test_an_unreachable_ring_of_1000_typed_nodes_is_freed_entirely),
        T(test_a_goroutines_start_argument_keeps_its_object_before_it_runs),
        T(test_a_deferred_calls_argument_keeps_its_object),
        T(test_a_panic_value_keeps_its_object_in_flight_and_while_its_record_lives),
        T(test_a_typed_channels_buffer_keeps_its_elements_targets),
        T(test_a_channel_referenced_only_by_a_blocked_goroutine_stays_usable),
        T(test_a_goroutine_in_a_system_call_keeps_its_registers_and_stack_objects),
        T(test_gort_gc_from_a_plain_thread_collects),
        T(test_memstats_count_every_forced_collection_and_its_pause),
        T(test_pause_hist_counts_every_cycle_once_in_the_bucket_of_its_ring_pause),
        T(test_gctrace_prints_gos_gc_line_for_every_forced_cycle),
        T(test_gctrace_switched_on_at_run_time_goes_to_the_trace_writer),
        O(test_the_observer_sees_every_collection_once_with_consistent_numbers),
        O(test_the_observers_numbers_are_the_gctrace_lines),
        O(test_the_observer_sees_a_heap_triggered_cycle_as_heap_and_not_forced),
        O(test_the_observer_gets_gort_free_os_memorys_forced_pass_after_its_cycle),
        O(test_gort_set_observer_null_stops_the_calls_and_a_new_one_replaces_the_old),
        /* Last: its hand cycles free every heap object the suite holds. */
        T(test_relinking_mutators_never_lose_a_reachable_object_over_200_checked_cycles),
        T(test_gccheckmark_catches_a_store_that_bypasses_the_barrier),
        T(test_gort_gc_after_hand_cycles_resurrects_nothing),
    };
    /* cmocka keeps its state in thread-local variables: the goroutine that
     * runs the group must not move to another thread. */
    gort_lock_os_thread();
    gt_select_tests();
    *(int *)arg = cmocka_run_group_tests(tests, NULL, NULL);
    gort_unlock_os_thread();
}

int main(void)
{
    return gt_main("test_gc", run_all);
}
