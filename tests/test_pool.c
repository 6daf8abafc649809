/*
 * test_pool.c - pools (Go's sync.Pool with its victim cache), as the spec
 * and gort.h state them:
 *
 *    1. a Put followed by a Get on the same goroutine returns the object;
 *    2. Get on an empty pool calls new_fn, or returns NULL without one;
 *    3. Put(NULL) is a no-op;
 *    4. on one P, every object put comes back exactly once: the private
 *       slot first, then the shared list newest first; then new_fn runs;
 *    5. pools do not share objects;
 *    6. an object left in a pool survives one collection (kept, bytes
 *       intact, handed out again), in every pool there is;
 *    7. left through two collections it is gone from the pool and freed;
 *    8. an object taken from the victim cache and put back starts over;
 *    9. a goroutine on another P steals from a P's shared list, oldest
 *       first, and leaves the private slot to its owner;
 *   10. a thread that is not a goroutine puts and gets, steals from the
 *       Ps (their victims included), and its objects reach goroutines and
 *       survive a collection;
 *   11. objects put while the collector marks, whose only other reference
 *       was the putter's stack, are kept (Put's write barrier);
 *   12. a goroutine looping on Get and Put does not hold off a collection;
 *   13. goroutines and plain threads getting and putting while another
 *       goroutine collects over and over: every object handed out intact
 *       and to one holder at a time;
 *   14. a NULL pool, or a pointer that is not a pool, panics with a
 *       message naming the function.
 *
 * "Freed" is exact: rt_test_heap_object_base(old address) == NULL right
 * after the collection that must free it, with nothing allocated in
 * between.  The collector is conservative, so such a test leaves no copy of
 * the address where it looks: the objects are made and put by NOINLINE
 * helpers whose frames are dead when gort_gc runs, the test body keeps
 * only addresses XORed with HIDE_KEY, scrub_stack() zeroes the stack
 * below the body before each gort_gc, and each test's setup zeroes the stack
 * where the body's frame will be.  "Kept" is exact too: the object is
 * still allocated at its address with its bytes, after garbage of the
 * same size class was allocated and filled (a slot freed by mistake would
 * be reused and overwritten).
 *
 * Every test body runs on the main goroutine; see testutil.h for the rules
 * the tests follow.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>

#include "testutil.h"
#include "gcutil.h"
#include "gc.h"
#include "testing.h"

#define WAIT_TIMEOUT gt_slow(5 * GORT_S)

/* What NULL looks like hidden. */
#define HIDDEN_NULL HIDE_KEY

static int pool_setup(void **state)
{
    scrub_stack_deep();
    return gt_save_knobs(state);
}

/* ---------------------------------------------------------------------
 * Items: what the tests pool
 * ------------------------------------------------------------------- */

#define ITEM_MAGIC 0x5be3c7d1a9f04e27ull

struct item {
    uint64_t magic;       /* ITEM_MAGIC for as long as the item lives */
    atomic_uint owner;    /* 0 while pooled; the holder's number while held */
    uint32_t serial;      /* which item this is */
    uint64_t uses;        /* times handed out by a Get */
    uint64_t check;       /* item_check(serial, uses) */
};

static uint64_t item_check(uint32_t serial, uint64_t uses)
{
    uint64_t x = ((uint64_t)serial + 1) * 0x9E3779B97F4A7C15ull ^ (uses + 7) * 0xC2B2AE3D27D4EB4Full;
    x ^= x >> 31;
    return x | 1;
}

static void item_init(struct item *it, uint32_t serial)
{
    it->magic = ITEM_MAGIC;
    atomic_init(&it->owner, 0);
    it->serial = serial;
    it->uses = 0;
    it->check = item_check(serial, 0);
}

static bool item_intact(const struct item *it)
{
    return it->magic == ITEM_MAGIC && it->check == item_check(it->serial, it->uses);
}

/* new_fn for heap items; counts its calls. */
static atomic_uint item_news;

static void *item_new(void)
{
    uint32_t serial = atomic_fetch_add(&item_news, 1);
    struct item *it = gort_alloc_noscan(sizeof *it);
    item_init(it, serial);
    return it;
}

/* A fresh heap item (not from any pool), hidden. */
NOINLINE static uintptr_t fresh_item(uint32_t serial)
{
    struct item *it = gort_alloc_noscan(sizeof *it);
    item_init(it, serial);
    return hide(it);
}

/* The heap item at the hidden address is allocated there, with its bytes. */
NOINLINE static bool item_kept(uintptr_t h)
{
    struct item *it = unhide(h);
    return rt_test_heap_object_base(it, NULL) == it && item_intact(it);
}

/* Nothing is allocated at the hidden address any more. */
NOINLINE static bool item_freed(uintptr_t h)
{
    return rt_test_heap_object_base(unhide(h), NULL) == NULL;
}

/* Put each hidden item, in order. */
NOINLINE static void put_all(gort_pool *pool, const uintptr_t *h, int n)
{
    for (int i = 0; i < n; i++)
        gort_pool_put(pool, unhide(h[i]));
}

/* Make n fresh heap items, remember them hidden in h, put them. */
NOINLINE static void fill_pool(gort_pool *pool, uintptr_t *h, int n, uint32_t serial0)
{
    for (int i = 0; i < n; i++)
        h[i] = fresh_item(serial0 + (uint32_t)i);
    put_all(pool, h, n);
}

/* Get n times, hiding what comes back (NULL hides as HIDE_KEY). */
NOINLINE static void get_n(gort_pool *pool, uintptr_t *got, int n)
{
    for (int i = 0; i < n; i++)
        got[i] = hide(gort_pool_get(pool));
}

/* got[0..n) is a permutation of want[0..n). */
static bool same_set(const uintptr_t *want, const uintptr_t *got, int n)
{
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < n; j++)
            seen += got[j] == want[i];
        if (seen != 1)
            return false;
    }
    return true;
}

static int count_freed(const uintptr_t *h, int n)
{
    int freed = 0;
    for (int i = 0; i < n; i++)
        freed += item_freed(h[i]);
    return freed;
}

static int count_kept(const uintptr_t *h, int n)
{
    int kept = 0;
    for (int i = 0; i < n; i++)
        kept += item_kept(h[i]);
    return kept;
}

/* ---------------------------------------------------------------------
 * 1-5. One goroutine
 * ------------------------------------------------------------------- */

static void test_a_put_followed_by_a_get_on_the_same_goroutine_returns_the_object(void **state)
{
    gort_pool *pool = gort_pool_new(NULL);
    assert_non_null(pool);
    struct item a, b;
    item_init(&a, 1);
    item_init(&b, 2);

    gort_pool_put(pool, &a);
    void *got_a = gort_pool_get(pool);
    gort_pool_put(pool, &b);
    void *got_b = gort_pool_get(pool);
    void *got_none = gort_pool_get(pool);

    assert_ptr_equal(got_a, &a);
    assert_ptr_equal(got_b, &b);
    assert_null(got_none);
}

static void test_get_on_an_empty_pool_calls_new_fn_or_returns_null_without_one(void **state)
{
    gort_pool *with = gort_pool_new(item_new);
    gort_pool *without = gort_pool_new(NULL);
    assert_non_null(with);
    assert_non_null(without);
    uint32_t news0 = atomic_load(&item_news);

    struct item *it = gort_pool_get(with);
    uint32_t news1 = atomic_load(&item_news);
    void *none = gort_pool_get(without);

    assert_non_null(it);
    assert_true(item_intact(it));
    assert_int_equal(it->uses, 0);
    assert_int_equal(news1 - news0, 1);
    assert_null(none);
}

static void test_put_of_null_is_a_no_op(void **state)
{
    gort_pool *with = gort_pool_new(item_new);
    gort_pool *without = gort_pool_new(NULL);
    uint32_t news0 = atomic_load(&item_news);

    gort_pool_put(with, NULL);
    gort_pool_put(without, NULL);
    struct item *it = gort_pool_get(with);
    uint32_t news1 = atomic_load(&item_news);
    void *none = gort_pool_get(without);

    assert_non_null(it);
    assert_true(item_intact(it));
    assert_int_equal(news1 - news0, 1);     /* nothing was pooled: new_fn ran */
    assert_null(none);
}

#define ONEP_N 100
static struct item onep_items[ONEP_N];

static void test_on_one_p_every_object_put_comes_back_once_then_new_fn_runs(void **state)
{
    gort_gomaxprocs(1);
    gort_pool *pool = gort_pool_new(item_new);
    for (int i = 0; i < ONEP_N; i++) {
        item_init(&onep_items[i], (uint32_t)i);
        gort_pool_put(pool, &onep_items[i]);
    }
    struct item *got[ONEP_N];
    for (int i = 0; i < ONEP_N; i++)
        got[i] = gort_pool_get(pool);
    uint32_t news0 = atomic_load(&item_news);
    struct item *extra = gort_pool_get(pool);
    uint32_t news1 = atomic_load(&item_news);

    /* The first put went to the private slot, the rest to the shared
     * list, whose owner takes the newest first. */
    assert_ptr_equal(got[0], &onep_items[0]);
    for (int i = 1; i < ONEP_N; i++)
        assert_ptr_equal(got[i], &onep_items[ONEP_N - i]);
    assert_int_equal(news1 - news0, 1);
    assert_true(extra < &onep_items[0] || extra >= &onep_items[ONEP_N]);
}

static void test_pools_do_not_share_objects(void **state)
{
    gort_pool *a = gort_pool_new(NULL);
    gort_pool *b = gort_pool_new(NULL);
    struct item it;
    item_init(&it, 3);

    gort_pool_put(a, &it);
    void *from_b = gort_pool_get(b);
    void *from_a = gort_pool_get(a);

    assert_null(from_b);
    assert_ptr_equal(from_a, &it);
}

/* ---------------------------------------------------------------------
 * 6-8. Collections
 * ------------------------------------------------------------------- */

#define GC_N 40
static uintptr_t gc_h[GC_N], gc_got[GC_N + 1];

static void test_an_object_left_in_a_pool_survives_one_collection(void **state)
{
    gort_pool *pool = gort_pool_new(NULL);
    fill_pool(pool, gc_h, GC_N, 100);

    SCRUB_AND_GC();
    alloc_garbage(sizeof(struct item), true, 4 * GC_N);
    int kept = count_kept(gc_h, GC_N);
    get_n(pool, gc_got, GC_N + 1);

    assert_int_equal(kept, GC_N);
    assert_true(same_set(gc_h, gc_got, GC_N));   /* each handed out again, once */
    assert_int_equal(gc_got[GC_N], HIDDEN_NULL);
}

static void test_an_object_left_in_a_pool_is_dropped_and_freed_after_two_collections(void **state)
{
    gort_pool *pool = gort_pool_new(NULL);
    fill_pool(pool, gc_h, GC_N, 200);

    SCRUB_AND_GC();
    int kept_after_one = count_kept(gc_h, GC_N);
    SCRUB_AND_GC();
    int freed_after_two = count_freed(gc_h, GC_N);
    void *left = gort_pool_get(pool);

    assert_int_equal(kept_after_one, GC_N);
    assert_int_equal(freed_after_two, GC_N);
    assert_null(left);
}

/* Take one object out of the pool and put it straight back; true if it
 * was the hidden one. */
NOINLINE static bool get_is_and_put_back(gort_pool *pool, uintptr_t h)
{
    void *x = gort_pool_get(pool);
    if (x)
        gort_pool_put(pool, x);
    return x != NULL && hide(x) == h;
}

static void test_an_object_taken_from_the_victim_cache_and_put_back_starts_over(void **state)
{
    gort_pool *pool = gort_pool_new(NULL);
    fill_pool(pool, gc_h, 1, 300);

    SCRUB_AND_GC();                       /* now a victim */
    bool from_victim = get_is_and_put_back(pool, gc_h[0]);
    SCRUB_AND_GC();                       /* a victim again, not dropped */
    bool kept = item_kept(gc_h[0]);
    get_n(pool, gc_got, 2);

    assert_true(from_victim);
    assert_true(kept);
    assert_int_equal(gc_got[0], gc_h[0]);
    assert_int_equal(gc_got[1], HIDDEN_NULL);
}

/* Every one of many pools is visited by the collector. */
#define MANY_POOLS 48
#define PER_POOL 3
static gort_pool *many[MANY_POOLS];
static uintptr_t many_h[MANY_POOLS][PER_POOL], many_got[MANY_POOLS][PER_POOL + 1];

static void test_every_pool_keeps_its_objects_through_a_collection(void **state)
{
    for (int i = 0; i < MANY_POOLS; i++) {
        many[i] = gort_pool_new(NULL);
        fill_pool(many[i], many_h[i], PER_POOL, 1000 + 10 * (uint32_t)i);
    }

    SCRUB_AND_GC();
    alloc_garbage(sizeof(struct item), true, 2 * MANY_POOLS * PER_POOL);
    int kept = 0, right_pool = 0;
    for (int i = 0; i < MANY_POOLS; i++) {
        kept += count_kept(many_h[i], PER_POOL);
        get_n(many[i], many_got[i], PER_POOL + 1);
        right_pool += same_set(many_h[i], many_got[i], PER_POOL) && many_got[i][PER_POOL] == HIDDEN_NULL;
    }

    assert_int_equal(kept, MANY_POOLS * PER_POOL);
    assert_int_equal(right_pool, MANY_POOLS);
}

/* ---------------------------------------------------------------------
 * 9. Stealing
 * ------------------------------------------------------------------- */

#define STEAL_N 8
static struct {
    gort_pool *pool;
    struct item items[STEAL_N];
    atomic_int owner_p, thief_p;
    atomic_int ready, thief_done, owner_done, owner_timed_out;
    void *stolen[STEAL_N];       /* what the thief's Gets returned, in order */
    void *owner_got;             /* the owner's Get after the theft */
} st;

/* Puts on its P, then keeps that P (spinning, no safe point) until the
 * thief is done, so the thief must run on another P. */
static void steal_owner(void *arg)
{
    for (int i = 0; i < STEAL_N; i++)
        gort_pool_put(st.pool, &st.items[i]);
    atomic_store(&st.owner_p, rt_test_current_p());
    atomic_store_explicit(&st.ready, 1, memory_order_release);
    int64_t deadline = gt_mono_ns() + WAIT_TIMEOUT;
    while (!atomic_load_explicit(&st.thief_done, memory_order_acquire)) {
        if (gt_mono_ns() > deadline) {
            atomic_store(&st.owner_timed_out, 1);
            break;
        }
    }
    st.owner_got = gort_pool_get(st.pool);
    atomic_store_explicit(&st.owner_done, 1, memory_order_release);
}

static void steal_thief(void *arg)
{
    atomic_store(&st.thief_p, rt_test_current_p());
    for (int i = 0; i < STEAL_N; i++)
        st.stolen[i] = gort_pool_get(st.pool);
    atomic_store_explicit(&st.thief_done, 1, memory_order_release);
}

static void test_a_goroutine_on_another_p_steals_the_shared_list_oldest_first(void **state)
{
    gort_gomaxprocs(2);
    memset(&st, 0, sizeof st);
    st.pool = gort_pool_new(NULL);
    for (int i = 0; i < STEAL_N; i++)
        item_init(&st.items[i], (uint32_t)i);

    assert_int_equal(gort_go(steal_owner, NULL), 0);
    assert_true(gt_wait_for(atomic_load_explicit(&st.ready, memory_order_acquire), WAIT_TIMEOUT));
    assert_int_equal(gort_go(steal_thief, NULL), 0);
    assert_true(gt_wait_for(atomic_load_explicit(&st.owner_done, memory_order_acquire), WAIT_TIMEOUT));

    assert_false(atomic_load(&st.owner_timed_out));
    assert_true(atomic_load(&st.owner_p) >= 0);
    assert_true(atomic_load(&st.thief_p) >= 0);
    assert_int_not_equal(atomic_load(&st.owner_p), atomic_load(&st.thief_p));
    /* items[0] went to the owner's private slot: not stolen. */
    for (int i = 1; i < STEAL_N; i++)
        assert_ptr_equal(st.stolen[i - 1], &st.items[i]);
    assert_null(st.stolen[STEAL_N - 1]);
    assert_ptr_equal(st.owner_got, &st.items[0]);
}

/* ---------------------------------------------------------------------
 * 10. Threads that are not goroutines
 * ------------------------------------------------------------------- */

#define PT_N 6
static struct {
    gort_pool *pool;
    uintptr_t h[PT_N];             /* heap items made by the test body */
    uintptr_t got[PT_N + 1];       /* what the thread's Gets returned */
} pt;

/* Run fn on a new thread and wait for it, the goroutine's P handed off
 * meanwhile. */
static bool run_thread(void *(*fn)(void *))
{
    pthread_t th;
    if (pthread_create(&th, NULL, fn, NULL) != 0)
        return false;
    gort_syscall_enter();
    int rc = pthread_join(th, NULL);
    gort_syscall_exit();
    return rc == 0;
}

static void *pt_put_all(void *arg)
{
    put_all(pt.pool, pt.h, PT_N);
    return NULL;
}

static void *pt_get_all(void *arg)
{
    get_n(pt.pool, pt.got, PT_N + 1);
    return NULL;
}

static void *pt_round_trip(void *arg)
{
    gort_pool_put(pt.pool, unhide(pt.h[0]));
    pt.got[0] = hide(gort_pool_get(pt.pool));
    pt.got[1] = hide(gort_pool_get(pt.pool));
    return NULL;
}

static void test_a_thread_without_a_p_shares_objects_with_goroutines(void **state)
{
    /* One P: the test body comes back to it after each join. */
    gort_gomaxprocs(1);
    uintptr_t got[PT_N + 1];
    memset(&pt, 0, sizeof pt);
    pt.pool = gort_pool_new(NULL);
    for (int i = 0; i < PT_N; i++)
        pt.h[i] = fresh_item(500 + (uint32_t)i);

    /* The thread's own Put and Get. */
    assert_true(run_thread(pt_round_trip));
    assert_int_equal(pt.got[0], pt.h[0]);
    assert_int_equal(pt.got[1], HIDDEN_NULL);

    /* What the thread puts, a goroutine gets. */
    assert_true(run_thread(pt_put_all));
    get_n(pt.pool, got, PT_N + 1);
    assert_true(same_set(pt.h, got, PT_N));
    assert_int_equal(got[PT_N], HIDDEN_NULL);

    /* What a goroutine puts, the thread steals, except the private slot. */
    put_all(pt.pool, pt.h, PT_N);
    assert_true(run_thread(pt_get_all));
    assert_true(same_set(pt.h + 1, pt.got, PT_N - 1));
    assert_int_equal(pt.got[PT_N - 1], HIDDEN_NULL);
    get_n(pt.pool, got, 2);
    assert_int_equal(got[0], pt.h[0]);
    assert_int_equal(got[1], HIDDEN_NULL);

    /* After a collection, the thread takes the victims, private included. */
    put_all(pt.pool, pt.h, PT_N);
    SCRUB_AND_GC();
    assert_true(run_thread(pt_get_all));
    assert_true(same_set(pt.h, pt.got, PT_N));
    assert_int_equal(pt.got[PT_N], HIDDEN_NULL);

    /* What the thread puts survives a collection and reaches a goroutine. */
    assert_true(run_thread(pt_put_all));
    SCRUB_AND_GC();
    alloc_garbage(sizeof(struct item), true, 4 * PT_N);
    int kept = count_kept(pt.h, PT_N);
    get_n(pt.pool, got, PT_N + 1);
    assert_int_equal(kept, PT_N);
    assert_true(same_set(pt.h, got, PT_N));
    assert_int_equal(got[PT_N], HIDDEN_NULL);
}

/* ---------------------------------------------------------------------
 * 11. Puts while the collector marks
 * ------------------------------------------------------------------- */

#define MP_PUTTERS 16
#define MP_EACH 8
static struct {
    gort_pool *pool;
    uintptr_t h[MP_PUTTERS][MP_EACH];
    atomic_int ready, saw_marking, gc_over, done;
    uintptr_t got[MP_PUTTERS * MP_EACH + 1];
} mp;

/* Make this putter's items, hidden; the real pointers go to mine only. */
NOINLINE static void mp_make(int who, struct item **mine)
{
    for (int i = 0; i < MP_EACH; i++) {
        mp.h[who][i] = fresh_item(2000 + (uint32_t)(who * MP_EACH + i));
        mine[i] = unhide(mp.h[who][i]);
    }
}

/* Once the collector marks, put the items and forget them.  Their only
 * other reference was this goroutine's stack, which may be scanned before
 * or after, and the pool may have been scanned already: the Put itself
 * must shade them. */
NOINLINE static void mp_put_when_marking(int who, struct item **mine)
{
    while (!gc_marking() && !atomic_load(&mp.gc_over))
        gort_gosched();
    /* Putters put at different points of the mark: before and after the
     * collector scans the pool and their own stack. */
    int64_t at = gt_mono_ns() + (int64_t)who * 50 * GORT_US;
    while (gc_marking() && gt_mono_ns() < at)
        gort_gosched();
    if (gc_marking())
        atomic_fetch_add(&mp.saw_marking, 1);
    for (int i = 0; i < MP_EACH; i++)
        gort_pool_put(mp.pool, mine[i]);
    volatile uintptr_t *v = (volatile uintptr_t *)mine;
    for (int i = 0; i < MP_EACH; i++)
        v[i] = 0;
}

static void mp_putter(void *arg)
{
    struct item *mine[MP_EACH];
    mp_make((int)(uintptr_t)arg, mine);
    atomic_fetch_add(&mp.ready, 1);
    mp_put_when_marking((int)(uintptr_t)arg, mine);
    atomic_fetch_add(&mp.done, 1);
}

/* One round: the putters wait for the mark, put, exit.  Returns how many
 * of the items survived the collection, and how many the pool then handed
 * out again (-1 if a goroutine failed to start or finish). */
static int mp_round(int *handed_out)
{
    memset(&mp, 0, sizeof mp);
    mp.pool = gort_pool_new(NULL);
    int base = gort_num_goroutine();
    for (int i = 0; i < MP_PUTTERS; i++)
        if (gort_go(mp_putter, (void *)(uintptr_t)i) != 0)
            return -1;
    if (!gt_wait_for(atomic_load(&mp.ready) == MP_PUTTERS, WAIT_TIMEOUT))
        return -1;

    SCRUB_AND_GC();
    atomic_store(&mp.gc_over, 1);
    if (!gt_wait_for(atomic_load(&mp.done) == MP_PUTTERS, WAIT_TIMEOUT) ||
        !gt_wait_for(gort_num_goroutine() <= base, WAIT_TIMEOUT))
        return -1;
    alloc_garbage(sizeof(struct item), true, 4 * MP_PUTTERS * MP_EACH);
    int kept = count_kept(&mp.h[0][0], MP_PUTTERS * MP_EACH);
    /* Victims now, private slots included: any P may take them. */
    SCRUB_AND_GC();
    get_n(mp.pool, mp.got, MP_PUTTERS * MP_EACH + 1);
    *handed_out = same_set(&mp.h[0][0], mp.got, MP_PUTTERS * MP_EACH) &&
                          mp.got[MP_PUTTERS * MP_EACH] == HIDDEN_NULL
                      ? MP_PUTTERS * MP_EACH
                      : 0;
    return kept;
}

/* Whether a putter catches the mark, and where in it, is up to the
 * scheduler: several rounds make it likely that some put after the
 * collector has scanned the pool. */
#define MP_ROUNDS 6

static void test_objects_put_while_the_collector_marks_are_kept(void **state)
{
    gort_gomaxprocs(4);
    int marked = 0;
    for (int r = 0; r < MP_ROUNDS; r++) {
        int handed_out = 0;
        int kept = mp_round(&handed_out);
        marked += atomic_load(&mp.saw_marking);
        assert_int_equal(kept, MP_PUTTERS * MP_EACH);
        assert_int_equal(handed_out, MP_PUTTERS * MP_EACH);
    }
    print_message("%d of %d puts happened while the collector marked\n", marked * MP_EACH,
                  MP_ROUNDS * MP_PUTTERS * MP_EACH);
}

/* ---------------------------------------------------------------------
 * 12. Safe points
 * ------------------------------------------------------------------- */

static struct {
    gort_pool *pool;
    struct item it;
    atomic_int started, stop, timed_out, done;
} lp;

/* Gets and Puts, nothing else, until told to stop. */
static void loop_get_put(void *arg)
{
    int64_t deadline = gt_mono_ns() + WAIT_TIMEOUT;
    atomic_store_explicit(&lp.started, 1, memory_order_release);
    while (!atomic_load_explicit(&lp.stop, memory_order_acquire)) {
        if (gt_mono_ns() > deadline) {
            atomic_store(&lp.timed_out, 1);
            break;
        }
        gort_pool_put(lp.pool, gort_pool_get(lp.pool));
    }
    atomic_store_explicit(&lp.done, 1, memory_order_release);
}

static void test_a_goroutine_looping_on_get_and_put_does_not_hold_off_a_collection(void **state)
{
    gort_gomaxprocs(2);
    memset(&lp, 0, sizeof lp);
    lp.pool = gort_pool_new(NULL);
    item_init(&lp.it, 9);
    gort_pool_put(lp.pool, &lp.it);

    assert_int_equal(gort_go(loop_get_put, NULL), 0);
    assert_true(gt_wait_for(atomic_load_explicit(&lp.started, memory_order_acquire), WAIT_TIMEOUT));
    int64_t t0 = gt_mono_ns();
    gort_gc();
    gort_gc();
    int64_t took = gt_mono_ns() - t0;
    atomic_store_explicit(&lp.stop, 1, memory_order_release);
    assert_true(gt_wait_for(atomic_load_explicit(&lp.done, memory_order_acquire), WAIT_TIMEOUT));

    if (atomic_load(&lp.timed_out))
        print_message("the two collections took %lld ms\n", (long long)(took / GORT_MS));
    assert_false(atomic_load(&lp.timed_out));
    assert_true(item_intact(&lp.it));
}

/* ---------------------------------------------------------------------
 * 13. Concurrency
 * ------------------------------------------------------------------- */

#define ST_WORKERS 4
#define ST_THREADS 2
#define ST_MIN_GCS 30
#define ST_MAX_HELD 3
/* Items outside the heap, for the pool the plain threads share with the
 * goroutines: a plain thread's references are invisible to the collector,
 * so it must not hold heap objects across a collection. */
#define ST_STATIC_ITEMS (1 << 14)

static struct {
    gort_pool *heap_pool;          /* heap items, goroutines only */
    gort_pool *static_pool;        /* static items, goroutines and threads */
    long iters;                    /* per worker and per thread */
    atomic_int gcs;                /* collections done so far */
    atomic_int workers_left, threads_left;
    atomic_int stop_gc, gc_done;
    atomic_long gets, corrupt, doubles, nulls, timeouts;
    atomic_uint static_news;
} sx;

static struct item static_items[ST_STATIC_ITEMS];

static void *static_item_new(void)
{
    uint32_t i = atomic_fetch_add(&sx.static_news, 1);
    if (i >= ST_STATIC_ITEMS)
        return NULL;
    item_init(&static_items[i], i);
    return &static_items[i];
}

/* Take an item as holder me: it must be intact and held by nobody. */
static struct item *take(gort_pool *pool, unsigned me)
{
    struct item *it = gort_pool_get(pool);
    atomic_fetch_add_explicit(&sx.gets, 1, memory_order_relaxed);
    if (!it) {
        atomic_fetch_add(&sx.nulls, 1);
        return NULL;
    }
    unsigned free_ = 0;
    if (!atomic_compare_exchange_strong_explicit(&it->owner, &free_, me, memory_order_acq_rel,
                                                 memory_order_relaxed)) {
        atomic_fetch_add(&sx.doubles, 1);
        return NULL;
    }
    if (!item_intact(it)) {
        atomic_fetch_add(&sx.corrupt, 1);
        return NULL;
    }
    it->uses++;
    it->check = item_check(it->serial, it->uses);
    return it;
}

static void give_back(gort_pool *pool, struct item *it)
{
    if (!it)
        return;
    atomic_store_explicit(&it->owner, 0, memory_order_release);
    gort_pool_put(pool, it);
}

/* One round: hold 1 to ST_MAX_HELD items of each pool at once, then put
 * them back. */
static void round_of(long i, unsigned me, bool use_heap)
{
    struct item *held[2][ST_MAX_HELD] = { { NULL } };
    int n = 1 + (int)(i % ST_MAX_HELD);
    for (int k = 0; k < n; k++) {
        if (use_heap)
            held[0][k] = take(sx.heap_pool, me);
        held[1][k] = take(sx.static_pool, me);
    }
    for (int k = n; k-- > 0;) {
        give_back(sx.heap_pool, held[0][k]);
        give_back(sx.static_pool, held[1][k]);
    }
}

static void stress_worker(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg;
    int64_t deadline = gt_mono_ns() + gt_slow(20 * GORT_S);
    for (long i = 0; i < sx.iters || atomic_load(&sx.gcs) < ST_MIN_GCS; i++) {
        if (gt_mono_ns() > deadline) {
            atomic_fetch_add(&sx.timeouts, 1);
            break;
        }
        round_of(i, me, true);
        if (i % 64 == 0)
            gort_gosched();     /* change P now and then */
    }
    atomic_fetch_sub_explicit(&sx.workers_left, 1, memory_order_release);
}

static void *stress_thread(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg;
    int64_t deadline = gt_mono_ns() + gt_slow(20 * GORT_S);
    for (long i = 0; i < sx.iters || atomic_load(&sx.gcs) < ST_MIN_GCS; i++) {
        if (gt_mono_ns() > deadline) {
            atomic_fetch_add(&sx.timeouts, 1);
            break;
        }
        round_of(i, me, false);
    }
    atomic_fetch_sub_explicit(&sx.threads_left, 1, memory_order_release);
    return NULL;
}

/* Collect over and over, allocating garbage of the items' size class in
 * between, until told to stop. */
static void stress_collector(void *arg)
{
    while (!atomic_load_explicit(&sx.stop_gc, memory_order_acquire)) {
        alloc_garbage(sizeof(struct item), true, 64);
        gort_gc();
        atomic_fetch_add(&sx.gcs, 1);
        gort_sleep(GORT_MS);
    }
    atomic_store_explicit(&sx.gc_done, 1, memory_order_release);
}

static void test_concurrent_gets_puts_and_collections_hand_each_object_out_once_and_intact(void **state)
{
    gort_gomaxprocs(4);
    memset(&sx, 0, sizeof sx);
    sx.heap_pool = gort_pool_new(item_new);
    sx.static_pool = gort_pool_new(static_item_new);
    sx.iters = GT_TSAN ? 3000 : gt_scale(100000);
    atomic_store(&sx.workers_left, ST_WORKERS);
    atomic_store(&sx.threads_left, ST_THREADS);
    uint32_t news0 = atomic_load(&item_news);

    assert_int_equal(gort_go(stress_collector, NULL), 0);
    pthread_t th[ST_THREADS];
    for (int t = 0; t < ST_THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, stress_thread, (void *)(uintptr_t)(100 + t)), 0);
    for (int w = 0; w < ST_WORKERS; w++)
        assert_int_equal(gort_go(stress_worker, (void *)(uintptr_t)(1 + w)), 0);

    bool finished = gt_wait_for(atomic_load_explicit(&sx.workers_left, memory_order_acquire) == 0 &&
                                    atomic_load_explicit(&sx.threads_left, memory_order_acquire) == 0,
                                gt_slow(30 * GORT_S));
    atomic_store_explicit(&sx.stop_gc, 1, memory_order_release);
    bool gc_stopped = gt_wait_for(atomic_load_explicit(&sx.gc_done, memory_order_acquire), WAIT_TIMEOUT);
    int joined = 0;
    if (finished) {
        gort_syscall_enter();
        for (int t = 0; t < ST_THREADS; t++)
            joined += pthread_join(th[t], NULL) == 0;
        gort_syscall_exit();
    }
    uint32_t heap_news = atomic_load(&item_news) - news0;
    long gets = atomic_load(&sx.gets);

    print_message("%ld gets, %d collections, %u heap items and %u static items made\n", gets,
                  atomic_load(&sx.gcs), heap_news, atomic_load(&sx.static_news));
    assert_true(finished);
    assert_true(gc_stopped);
    assert_int_equal(joined, ST_THREADS);
    assert_int_equal(atomic_load(&sx.timeouts), 0);
    assert_int_equal(atomic_load(&sx.doubles), 0);
    assert_int_equal(atomic_load(&sx.corrupt), 0);
    assert_int_equal(atomic_load(&sx.nulls), 0);
    assert_true(atomic_load(&sx.gcs) >= ST_MIN_GCS);
    /* The pools did their job: most Gets reused an object. */
    assert_true((long)heap_news * 4 < gets);
    assert_true((long)atomic_load(&sx.static_news) * 4 < gets);
}

/* ---------------------------------------------------------------------
 * 14. Bad arguments
 * ------------------------------------------------------------------- */

static void get_from(void *arg)
{
    gort_pool_get(arg);
}

static void put_into(void *arg)
{
    static struct item it;
    gort_pool_put(arg, &it);
}

static void test_a_null_pool_or_a_pointer_that_is_not_a_pool_panics_naming_the_function(void **state)
{
    /* Zeroed memory aligned as a pool could be, and the same misaligned. */
    static _Alignas(128) uint64_t not_a_pool[64];
    const char *get_null = gt_panic_message_of(get_from, NULL);
    const char *put_null = gt_panic_message_of(put_into, NULL);
    const char *get_bogus = gt_panic_message_of(get_from, not_a_pool);
    const char *put_bogus = gt_panic_message_of(put_into, not_a_pool + 1);

    assert_non_null(get_null);
    assert_non_null(put_null);
    assert_non_null(get_bogus);
    assert_non_null(put_bogus);
    assert_string_equal(get_null, "gort_pool_get: NULL pool");
    assert_string_equal(put_null, "gort_pool_put: NULL pool");
    assert_true(gt_matches(get_bogus, "^gort_pool_get: 0x[0-9a-f]+ is not a pool made by gort_pool_new$"));
    assert_true(gt_matches(put_bogus, "^gort_pool_put: 0x[0-9a-f]+ is not a pool made by gort_pool_new$"));
}

/* ---------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, pool_setup, gt_restore_knobs)

static void run_all(void *arg)
{
    const struct CMUnitTest tests[] = {
        T(test_a_put_followed_by_a_get_on_the_same_goroutine_returns_the_object),
        T(test_get_on_an_empty_pool_calls_new_fn_or_returns_null_without_one),
        T(test_put_of_null_is_a_no_op),
        T(test_on_one_p_every_object_put_comes_back_once_then_new_fn_runs),
        T(test_pools_do_not_share_objects),
        T(test_an_object_left_in_a_pool_survives_one_collection),
        T(test_an_object_left_in_a_pool_is_dropped_and_freed_after_two_collections),
        T(test_an_object_taken_from_the_victim_cache_and_put_back_starts_over),
        T(test_every_pool_keeps_its_objects_through_a_collection),
        T(test_a_goroutine_on_another_p_steals_the_shared_list_oldest_first),
        T(test_a_thread_without_a_p_shares_objects_with_goroutines),
        T(test_objects_put_while_the_collector_marks_are_kept),
        T(test_a_goroutine_looping_on_get_and_put_does_not_hold_off_a_collection),
        T(test_concurrent_gets_puts_and_collections_hand_each_object_out_once_and_intact),
        T(test_a_null_pool_or_a_pointer_that_is_not_a_pool_panics_naming_the_function),
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
    return gt_main("test_pool", run_all);
}
