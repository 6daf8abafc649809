/*
 * pool.c - pools of reusable objects: Go's sync.Pool, with its victim
 * cache.
 *
 * Shape.  A pool is split into shards: one per P that has used it, made
 * the first time a goroutine on that P touches the pool, plus one for
 * callers that have no P (threads that are not goroutines).  Each shard
 * holds two generations of the same layout, the primary and the victim:
 *
 *   - a private slot, one object;
 *   - a shared deque (a ring buffer that doubles as it fills), whose head
 *     is the newest object and whose tail the oldest.
 *
 * Put stores into the caller's primary private slot if it is empty, else
 * pushes on its primary shared head.  Get looks, in order, at:
 *
 *   1. its own primary private slot;
 *   2. its own primary shared head (the newest: likely still in cache);
 *   3. every other shard's primary shared tail (a steal takes the oldest,
 *      away from where the owner works), starting after its own shard so
 *      that stealers spread out;
 *   4. its own victim private slot, its own victim shared head;
 *   5. every other shard's victim shared tail, then its victim private
 *      slot;
 *   6. new_fn(), or NULL without one.
 * A caller without a P uses the no-P shard as its own, without the
 * private slots.
 *
 * Victims.  pool_gc_cleanup_stw runs with the world stopped at the start
 * of every collection: in every shard the victim generation is dropped and
 * the primary becomes the victim, leaving the primary empty.  The
 * collector then shades everything either generation holds
 * (pool_gc_scan), so an object left in a pool survives the collection
 * that makes it a victim and is unreachable, unless something else holds
 * it, in the one after.  Get takes from the victims only once the primaries
 * are empty, so that victims age out when there is no demand for them.
 *
 * One departure from Go: step 5 also takes other shards' victim private
 * objects, which Go leaves to their own P.  The victim is the slow path
 * and on its way out, so the atomic exchange that makes this safe costs
 * the fast path nothing, and an object left by a goroutine that has since
 * moved to another P, or wanted by a thread without a P, is reused rather
 * than dropped.  Primary private slots stay the owner's alone: that is
 * what keeps the fast path free of locks and locked instructions.
 *
 * Synchronisation.
 *
 *   - A primary private slot is read and written only by goroutines
 *     running on its P, and by the cleanup with the world stopped.  There
 *     is no asynchronous preemption and no safe point inside a Get or Put,
 *     so at most one goroutine is ever inside its P's private section and
 *     the cleanup never interleaves with it; the P changing hands (or the
 *     world stopping) orders its successive users.  The slot is an atomic
 *     only because the collector reads it while goroutines run; relaxed
 *     loads and stores suffice.
 *   - A victim private slot is written by the cleanup and emptied by any
 *     Get with an atomic exchange: each object comes out exactly once.
 *   - The shared deques of a shard are guarded by the shard's rtlock.  A
 *     deque's length is also an atomic, so that a Get can skip an empty
 *     deque without taking its lock.
 *   - The shards of a pool are published with release stores and found
 *     with acquire loads; shards are never freed and never move.
 *   - Every pool is on the allpools list, never removed: the collector
 *     walks it under its lock.
 * Lock order: allpools.lock, then a shard's lock.  No pool lock is held
 * while calling new_fn or gc_shade.
 *
 * The collector.  Pool storage is malloc'd, outside the heap: the
 * collector sees pooled objects only through pool_gc_scan.  While it
 * marks, Put shades the object it stores and Get the object it takes out
 * (the insertion and deletion halves of the hybrid barrier), so an object
 * moving between a pool and a stack already scanned cannot be missed.  For
 * a goroutine the marking flag cannot change during a Get or Put (it
 * changes only with the world stopped).  A thread without a P is not held
 * off by a stop of the world, so Put looks at the flag only once the
 * object is in the pool: if the collector's scan of that shard came first,
 * its unlock precedes our lock, which orders the flag's setting before our
 * look at it; otherwise the scan finds the object.
 *
 * Safe points.  Put honours a pending preemption on entry, Get before it
 * returns (before new_fn), so that a goroutine looping on them cannot hold
 * off a stop of the world, while a Put followed directly by a Get on the
 * same goroutine stays on one P and gets its object back.
 *
 * Memory.  A shard's deques grow by doubling and are freed when their
 * generation is dropped, so a burst of Puts costs memory until the second
 * collection after it.  A Put that finds its deque full and cannot grow it
 * drops the object, as a pool may drop any object at any time.
 */
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "print.h"
#include "proc.h"

/* "gortpool" in ASCII: a pool that was not made by gort_pool_new is told
 * apart from one that was. */
#define POOL_MAGIC 0x6c6f6f7074726f67ull

/* Capacity of a shared deque's first buffer; it doubles from there. */
#define POOLDEQUE_MIN 16
#define POOLDEQUE_MAX (1u << 31)

enum { PRIMARY = 0, VICTIM = 1 };

/* Objects in arrival order, in a ring buffer.  Guarded by the owning
 * shard's lock, except len, which is also read without it. */
struct pooldeque {
    void **slot;              /* cap entries; NULL while cap is 0 */
    uint32_t cap;             /* 0 or a power of two */
    uint32_t tail;            /* index of the oldest entry */
    _Atomic uint32_t len;     /* entries; stored under the lock */
};

struct poolgen {
    void *_Atomic private;    /* see the synchronisation notes above */
    struct pooldeque shared;
};

/* One P's part of a pool, or the part of callers without a P.  Aligned
 * and sized to whole pairs of cache lines, so that Ps working on their
 * own shards never share a line. */
struct poolshard {
    _Alignas(128) rtlock lock;    /* protects gen[*].shared */
    int32_t id;                   /* the P's id; -1 for the no-P shard */
    struct poolgen gen[2];        /* PRIMARY and VICTIM */
};

struct gort_pool {
    uint64_t magic;                            /* POOL_MAGIC */
    void *(*new_fn)(void);                     /* may be NULL */
    struct gort_pool *alllink;                 /* allpools list, under its lock */
    /* 1 + the highest P id with a shard: shards past it do not exist. */
    _Atomic int32_t nlocal;
    /* Per-P shards, made by their own P on first use, never freed. */
    struct poolshard *_Atomic local[GORT_MAX_PROCS];
    struct poolshard nop;                      /* callers without a P */
};

/* Every pool ever made: pools are never freed. */
static struct {
    rtlock lock;          /* protects head and every alllink */
    gort_pool *head;      /* newest first */
} allpools;

/* ------------------------------------------------------------------ */
/* Shared deques (shard lock held)                                      */

static uint32_t deque_len(struct pooldeque *d)
{
    /* Relaxed: under the lock, the lock orders it; without the lock
     * (shard_pop's peek) it is only a hint. */
    return atomic_load_explicit(&d->len, memory_order_relaxed);
}

static void deque_setlen(struct pooldeque *d, uint32_t len)
{
    /* Relaxed: lock-free readers use it only to skip an empty deque; a
     * stale value costs a missed object or a needless lock, never a wrong
     * answer. */
    atomic_store_explicit(&d->len, len, memory_order_relaxed);
}

static void *deque_at(struct pooldeque *d, uint32_t i)
{
    return d->slot[(d->tail + i) & (d->cap - 1)];
}

/* Double the buffer (or make the first), keeping the order.  False when
 * memory ran out or the deque is at its largest. */
static bool deque_grow(struct pooldeque *d)
{
    uint32_t len = deque_len(d);
    if (d->cap >= POOLDEQUE_MAX)
        return false;
    uint32_t ncap = d->cap ? d->cap * 2 : POOLDEQUE_MIN;
    void **ns = malloc((size_t)ncap * sizeof *ns);
    if (!ns)
        return false;
    for (uint32_t i = 0; i < len; i++)
        ns[i] = deque_at(d, i);
    free(d->slot);
    d->slot = ns;
    d->cap = ncap;
    d->tail = 0;
    return true;
}

/* Push at the head (newest end).  False if the buffer could not grow. */
static bool deque_pushhead(struct pooldeque *d, void *x)
{
    uint32_t len = deque_len(d);
    if (len == d->cap && !deque_grow(d))
        return false;
    d->slot[(d->tail + len) & (d->cap - 1)] = x;
    deque_setlen(d, len + 1);
    return true;
}

/* Pop the newest (head) or the oldest (tail) entry; NULL if empty. */
static void *deque_pop(struct pooldeque *d, bool head)
{
    uint32_t len = deque_len(d);
    if (len == 0)
        return NULL;
    void *x;
    if (head) {
        x = deque_at(d, len - 1);
    } else {
        x = deque_at(d, 0);
        d->tail = (d->tail + 1) & (d->cap - 1);
    }
    deque_setlen(d, len - 1);
    return x;
}

/* Forget every entry and give the buffer back. */
static void deque_clear(struct pooldeque *d)
{
    free(d->slot);
    d->slot = NULL;
    d->cap = 0;
    d->tail = 0;
    deque_setlen(d, 0);
}

/* ------------------------------------------------------------------ */
/* Shards                                                               */

/* Shard i of n (the nlocal read by the caller); n itself is the no-P
 * shard.  NULL for a P that never used the pool. */
static struct poolshard *pool_shard(gort_pool *pool, int32_t i, int32_t n)
{
    if (i == n)
        return &pool->nop;
    /* Acquire: pairs with the release in pool_newshard, so the shard's
     * initialisation is visible. */
    return atomic_load_explicit(&pool->local[i], memory_order_acquire);
}

static int32_t pool_nlocal(gort_pool *pool)
{
    /* Acquire: every shard counted is published (pool_newshard stores the
     * shard before raising the count). */
    return atomic_load_explicit(&pool->nlocal, memory_order_acquire);
}

/* Make P id's shard.  Runs on that P, so no other thread makes the same
 * one.  NULL without memory: the caller then uses the no-P shard. */
static struct poolshard *pool_newshard(gort_pool *pool, int32_t id)
{
    struct poolshard *s = aligned_alloc(_Alignof(struct poolshard), sizeof *s);
    if (!s)
        return NULL;
    memset(s, 0, sizeof *s);
    s->id = id;
    atomic_store_explicit(&pool->local[id], s, memory_order_release);
    int32_t n = atomic_load_explicit(&pool->nlocal, memory_order_relaxed);
    while (n < id + 1 &&
           !atomic_compare_exchange_weak_explicit(&pool->nlocal, &n, id + 1, memory_order_release,
                                                  memory_order_relaxed)) {
    }
    return s;
}

/* The shard of the caller's P, made if need be; NULL without a P (a
 * thread that is not a goroutine, a goroutine in a system call) or if the
 * shard cannot be made.  Never inlined: a caller that has just passed a safe
 * point may be on another thread, and the compiler, which takes the
 * address of a thread-local variable to be fixed within a function, could
 * reuse one it computed before (sanitizer builds do compute it). */
__attribute__((noinline)) static struct poolshard *pool_ownshard(gort_pool *pool)
{
    m_t *mp = getm();
    p_t *pp = mp ? mp->p : NULL;
    if (!pp)
        return NULL;
    gort_assert(pp->id >= 0 && pp->id < GORT_MAX_PROCS);
    /* Relaxed: only this P stores the slot, and its earlier users are
     * ordered before us by the P changing hands. */
    struct poolshard *s = atomic_load_explicit(&pool->local[pp->id], memory_order_relaxed);
    return s ? s : pool_newshard(pool, pp->id);
}

/* Pop from one of the shard's shared deques: the head for its owner, the
 * tail for a stealer. */
static void *shard_pop(struct poolshard *s, struct pooldeque *d, bool own)
{
    if (deque_len(d) == 0)
        return NULL;
    rtlock_lock(&s->lock);
    void *x = deque_pop(d, own);
    rtlock_unlock(&s->lock);
    return x;
}

static void *victim_private_take(struct poolgen *g)
{
    /* The relaxed load only avoids a locked instruction on an empty slot;
     * the exchange decides.  Acquire: pairs with the cleanup's release, so
     * the object's contents, written before it was put, are visible. */
    if (!atomic_load_explicit(&g->private, memory_order_relaxed))
        return NULL;
    return atomic_exchange_explicit(&g->private, NULL, memory_order_acquire);
}

/* One object from generation gen of shard s, the caller's own (own) or
 * another's.  Never the primary private slot: that is the fast path's. */
static void *shard_take(struct poolshard *s, int gen, bool own)
{
    struct poolgen *g = &s->gen[gen];
    void *x = NULL;
    if (gen == VICTIM && own)
        x = victim_private_take(g);
    if (!x)
        x = shard_pop(s, &g->shared, own);
    if (!x && gen == VICTIM && !own)
        x = victim_private_take(g);
    return x;
}

/* Steps 2 to 5 of Get (see the top of the file); self is the caller's
 * shard, the no-P shard for a caller without a P. */
static void *pool_getslow(gort_pool *pool, struct poolshard *self)
{
    int32_t n = pool_nlocal(pool);
    int32_t start = self->id >= 0 ? self->id : n;
    for (int gen = PRIMARY; gen <= VICTIM; gen++) {
        void *x = shard_take(self, gen, true);
        for (int32_t k = 1; !x && k <= n; k++) {
            struct poolshard *s = pool_shard(pool, (start + k) % (n + 1), n);
            if (s)
                x = shard_take(s, gen, false);
        }
        if (x)
            return x;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The API                                                              */

static void pool_check(const gort_pool *pool, const char *fn)
{
    if (!pool)
        gort_panicf("%s: NULL pool", fn);
    /* Misaligned, it cannot be one (and must not be read as one). */
    if ((uintptr_t)pool % _Alignof(gort_pool) != 0 || pool->magic != POOL_MAGIC)
        gort_panicf("%s: %p is not a pool made by gort_pool_new", fn, (const void *)pool);
}

gort_pool *gort_pool_new(void *(*new_fn)(void))
{
    gort_pool *pool = aligned_alloc(_Alignof(gort_pool), sizeof *pool);
    if (!pool)
        rt_throw("out of memory allocating a pool (%zu bytes)", sizeof *pool);
    memset(pool, 0, sizeof *pool);
    pool->magic = POOL_MAGIC;
    pool->new_fn = new_fn;
    pool->nop.id = -1;
    rtlock_lock(&allpools.lock);
    pool->alllink = allpools.head;
    allpools.head = pool;
    rtlock_unlock(&allpools.lock);
    return pool;
}

void gort_pool_put(gort_pool *pool, void *x)
{
    pool_check(pool, "gort_pool_put");
    if (!x)
        return;
    safepoint_poll();
    /* From here to the end, no safe point: the P stays ours. */
    struct poolshard *own = pool_ownshard(pool);
    if (own && !atomic_load_explicit(&own->gen[PRIMARY].private, memory_order_relaxed)) {
        /* Relaxed: see "a primary private slot" at the top. */
        atomic_store_explicit(&own->gen[PRIMARY].private, x, memory_order_relaxed);
    } else {
        struct poolshard *s = own ? own : &pool->nop;
        rtlock_lock(&s->lock);
        /* A full deque that cannot grow drops x: a pool may forget any
         * object at any time, and Put has no way to fail. */
        (void)deque_pushhead(&s->gen[PRIMARY].shared, x);
        rtlock_unlock(&s->lock);
    }
    if (gc_marking())
        gc_shade((uintptr_t)x);
}

void *gort_pool_get(gort_pool *pool)
{
    pool_check(pool, "gort_pool_get");
    struct poolshard *own = pool_ownshard(pool);
    void *x = NULL;
    if (own) {
        /* Relaxed: see "a primary private slot" at the top. */
        x = atomic_load_explicit(&own->gen[PRIMARY].private, memory_order_relaxed);
        if (x)
            atomic_store_explicit(&own->gen[PRIMARY].private, NULL, memory_order_relaxed);
    }
    if (!x)
        x = pool_getslow(pool, own ? own : &pool->nop);
    if (x && gc_marking())
        gc_shade((uintptr_t)x);
    safepoint_poll();
    if (!x && pool->new_fn)
        x = pool->new_fn();
    return x;
}

/* ------------------------------------------------------------------ */
/* The collector's hooks                                                */

/* The victim generation goes, the primary takes its place. */
static void shard_age(struct poolshard *s)
{
    struct poolgen *p = &s->gen[PRIMARY], *v = &s->gen[VICTIM];
    /* Release: a Get on another thread takes the object with an acquire
     * exchange; the world being stopped orders the put before us. */
    void *x = atomic_load_explicit(&p->private, memory_order_relaxed);
    atomic_store_explicit(&v->private, x, memory_order_release);
    atomic_store_explicit(&p->private, NULL, memory_order_relaxed);
    rtlock_lock(&s->lock);
    deque_clear(&v->shared);
    v->shared.slot = p->shared.slot;
    v->shared.cap = p->shared.cap;
    v->shared.tail = p->shared.tail;
    deque_setlen(&v->shared, deque_len(&p->shared));
    p->shared.slot = NULL;
    p->shared.cap = 0;
    p->shared.tail = 0;
    deque_setlen(&p->shared, 0);
    rtlock_unlock(&s->lock);
}

/* World stopped: no goroutine is inside a Get or Put, though threads
 * without a P may be, on the locked paths. */
void pool_gc_cleanup_stw(void)
{
    rtlock_lock(&allpools.lock);
    for (gort_pool *pool = allpools.head; pool; pool = pool->alllink) {
        int32_t n = pool_nlocal(pool);
        for (int32_t i = 0; i <= n; i++) {
            struct poolshard *s = pool_shard(pool, i, n);
            if (s)
                shard_age(s);
        }
    }
    rtlock_unlock(&allpools.lock);
}

static void shard_scan(struct poolshard *s, void (*shade)(uintptr_t v))
{
    for (int gen = PRIMARY; gen <= VICTIM; gen++) {
        /* Relaxed: only the pointer's value is needed; an object put after
         * this load is shaded by its Put. */
        void *x = atomic_load_explicit(&s->gen[gen].private, memory_order_relaxed);
        if (x)
            shade((uintptr_t)x);
    }
    rtlock_lock(&s->lock);
    for (int gen = PRIMARY; gen <= VICTIM; gen++) {
        struct pooldeque *d = &s->gen[gen].shared;
        uint32_t len = deque_len(d);
        for (uint32_t i = 0; i < len; i++)
            shade((uintptr_t)deque_at(d, i));
    }
    rtlock_unlock(&s->lock);
}

/* While marking, concurrently with Get and Put. */
void pool_gc_scan(void (*shade)(uintptr_t v))
{
    rtlock_lock(&allpools.lock);
    for (gort_pool *pool = allpools.head; pool; pool = pool->alllink) {
        int32_t n = pool_nlocal(pool);
        for (int32_t i = 0; i <= n; i++) {
            struct poolshard *s = pool_shard(pool, i, n);
            if (s)
                shard_scan(s, shade);
        }
    }
    rtlock_unlock(&allpools.lock);
}
