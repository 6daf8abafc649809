/*
 * malloc.c - allocation: the mcache fast path, tiny blocks, large objects,
 * the collector's pointer bits, and the public gort_new/gort_alloc calls.
 *
 * A goroutine allocates from its P's mcache.  Nothing else touches that
 * mcache while the goroutine runs (there is no asynchronous preemption and
 * the allocator never parks), so the fast path is plain loads and stores:
 * take the lowest set bit of the span's 64-slot free cache, advance, count.
 * Threads that are not running a goroutine (an embedder's own threads)
 * share one mcache under a lock.
 *
 * Every scan object also writes its pointer bits in the arena's bitmap
 * (one bit per word: may hold a heap pointer): all of them for gort_alloc,
 * the type's pointer fields for gort_new.  Spans are page-aligned, so two
 * Ps never write the same bitmap word.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "gc.h"
#include "malloc.h"
#include "panic.h"
#include "print.h"
#include "proc.h"

static mspan emptyspan;                 /* a full span with no slots */
static mcache *foreign_cache;
static rtlock foreign_lock;
static pthread_once_t malloc_once = PTHREAD_ONCE_INIT;
static uint64_t zerobase;               /* the address of zero-size objects */

static void mallocinit_once(void)
{
    sizeclasses_init();
    mheap_init();
    foreign_cache = mcache_new();
}

void mallocinit(void)
{
    pthread_once(&malloc_once, mallocinit_once);
}

mcache *mcache_new(void)
{
    mcache *c = fixalloc_alloc(&mheap_.cachealloc);
    if (!c)
        rt_throw("out of memory allocating an mcache");
    for (int i = 0; i < NUM_SPC; i++)
        c->alloc[i] = &emptyspan;
    return c;
}

void mcache_release_all(mcache *c)
{
    for (int i = 0; i < NUM_SPC; i++) {
        mspan *s = c->alloc[i];
        if (s != &emptyspan) {
            /* Its free slots were counted live when it was cached. */
            uint16_t used = atomic_load_explicit(&s->alloccount, memory_order_relaxed);
            gc_live_add(-(int64_t)((s->nelems - used) * s->elemsize));
            mcentral_uncachespan(&mheap_.central[i], s);
            c->alloc[i] = &emptyspan;
        }
    }
    c->tiny = 0;
    c->tinyoffset = 0;
}

/* Threads without a P are not stopped by a stop of the world: a flip
 * holds their cache's lock from its flush to the new sweepgen, so that no
 * span enters it in between and turns unswept while cached. */
void mcache_foreign_lock(void)
{
    rtlock_lock(&foreign_lock);
    mcache_release_all(foreign_cache);
}

void mcache_foreign_unlock(void)
{
    rtlock_unlock(&foreign_lock);
}

mcache *mcache_foreign(void)
{
    return foreign_cache;
}

/* ------------------------------------------------------------------ */
/* Out of memory                                                        */

static _Noreturn void oom(size_t size)
{
    rt_printf("runtime: out of memory: cannot allocate %zu-byte block (%llu in use)\n", size,
              (unsigned long long)atomic_load(&heapstats.heap_inuse));
    rt_throw("out of memory allocating %zu bytes", size);
}

/* ------------------------------------------------------------------ */
/* Pointer bits                                                         */

/* Set (or clear) the pointer bits of nwords words from addr. */
static void ptrbits_range(uintptr_t addr, uintptr_t nwords, bool set)
{
    while (nwords > 0) {
        heaparena *ha = arena_of(addr);
        uintptr_t w = (addr & (ARENA_BYTES - 1)) / 8;
        uintptr_t left = ARENA_BYTES / 8 - w;
        uintptr_t n = nwords < left ? nwords : left;
        uintptr_t i = w, end = w + n;
        while (i < end) {
            uintptr_t b = i % 64, k = 64 - b < end - i ? 64 - b : end - i;
            uint64_t mask = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << b;
            if (set)
                ha->ptrbits[i / 64] |= mask;
            else
                ha->ptrbits[i / 64] &= ~mask;
            i += k;
        }
        addr += n * 8;
        nwords -= n;
    }
}

static inline void ptrbit_set(uintptr_t addr)
{
    heaparena *ha = arena_of(addr);
    uintptr_t w = (addr & (ARENA_BYTES - 1)) / 8;
    ha->ptrbits[w / 64] |= (uint64_t)1 << (w % 64);
}

bool heap_ptrbit(uintptr_t addr)
{
    heaparena *ha = arena_of(addr);
    uintptr_t w = (addr & (ARENA_BYTES - 1)) / 8;
    return ha && ((ha->ptrbits[w / 64] >> (w % 64)) & 1);
}

/* Write the pointer bits of a new scan object at p of elemsize bytes:
 * every word for a conservative object (t NULL), else the type's pointer
 * fields in each of its n elements.  pat, when t->size <= 512 and n == 1,
 * is the type's pointer mask (bit i: word i), already built. */
static void heap_setbits(uintptr_t p, uintptr_t elemsize, const gort_type *t, size_t n, uint64_t pat)
{
    uintptr_t nw = elemsize / 8;
    if (nw <= 64 && (!t || n == 1) && ((p ^ (p + elemsize - 1)) >> ARENA_SHIFT) == 0) {
        /* One or two bitmap words: the common case, done in place. */
        heaparena *ha = arena_of(p);
        uintptr_t w = (p & (ARENA_BYTES - 1)) / 8;
        uint64_t m = nw == 64 ? ~(uint64_t)0 : (((uint64_t)1 << nw) - 1);
        if (!t)
            pat = m;
        uint64_t *bits = &ha->ptrbits[w / 64];
        unsigned b = w % 64;
        bits[0] = (bits[0] & ~(m << b)) | (pat << b);
        if (b + nw > 64)
            bits[1] = (bits[1] & ~(m >> (64 - b))) | (pat >> (64 - b));
        return;
    }
    if (!t) {
        ptrbits_range(p, nw, true);
        return;
    }
    ptrbits_range(p, nw, false);
    for (size_t i = 0; i < n; i++) {
        uintptr_t e = p + i * t->size;
        for (size_t j = 0; j < t->nptrs; j++)
            ptrbit_set(e + t->ptr_offsets[j]);
    }
}

static _Noreturn void bad_field(const char *fn, const gort_type *t, size_t off)
{
    gort_panicf("%s: type %s: pointer field at offset %zu is not an aligned word inside its %zu bytes", fn,
                t->name ? t->name : "?", off, t->size);
}

/* A type is checked at each allocation (the bits written for it would
 * otherwise land outside the object); the same pass builds its pointer
 * mask when it has at most 64 words. */
static inline uint64_t check_type(const char *fn, const gort_type *t)
{
    if (!t)
        gort_panicf("%s: NULL type", fn);
    uint64_t pat = 0;
    for (size_t j = 0; j < t->nptrs; j++) {
        size_t off = t->ptr_offsets[j];
        if (off % 8 != 0 || off >= t->size || t->size - off < 8)
            bad_field(fn, t, off);
        if (off < 64 * 8)
            pat |= (uint64_t)1 << (off / 8);
    }
    return pat;
}

/* ------------------------------------------------------------------ */
/* Small objects                                                        */

/* Next free slot of s from its cache, or 0 when the cache is used up. */
static inline uintptr_t nextfreefast(mspan *s)
{
    uint64_t cache = s->alloccache;
    if (cache == 0)
        return 0;
    unsigned tz = (unsigned)__builtin_ctzll(cache);
    unsigned idx = s->freeindex + tz;
    if (idx >= s->nelems)
        return 0;
    unsigned next = idx + 1;
    if (next % 64 == 0 && next != s->nelems)
        return 0;   /* the cache would need refilling: the slow path does it */
    s->alloccache = (cache >> tz) >> 1;
    s->freeindex = (uint16_t)next;
    atomic_store_explicit(&s->alloccount, atomic_load_explicit(&s->alloccount, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return s->base + idx * s->elemsize;
}

/* The next free index of s from freeindex on, advancing freeindex and the
 * cache; nelems when the span is full. */
static uint16_t nextfreeindex(mspan *s)
{
    unsigned idx = s->freeindex, n = s->nelems;
    if (idx == n)
        return (uint16_t)n;
    uint64_t cache = s->alloccache;
    while (cache == 0) {
        idx = (idx + 64) & ~63u;
        if (idx >= n) {
            s->freeindex = (uint16_t)n;
            return (uint16_t)n;
        }
        cache = ~((const uint64_t *)s->allocbits)[idx / 64];
    }
    unsigned tz = (unsigned)__builtin_ctzll(cache);
    unsigned result = idx + tz;
    if (result >= n) {
        s->freeindex = (uint16_t)n;
        s->alloccache = 0;
        return (uint16_t)n;
    }
    cache = (cache >> tz) >> 1;
    unsigned next = result + 1;
    if (next % 64 == 0 && next != n)
        cache = ~((const uint64_t *)s->allocbits)[next / 64];
    s->alloccache = cache;
    s->freeindex = (uint16_t)next;
    return (uint16_t)result;
}

/* Slow path: the next slot of class spc, refilling the mcache. */
static uintptr_t nextfree(mcache *c, uint8_t spc, size_t size)
{
    mspan *s = c->alloc[spc];
    uint16_t idx = nextfreeindex(s);
    if (idx == s->nelems) {
        if (s != &emptyspan)
            mcentral_uncachespan(&mheap_.central[spc], s);
        c->alloc[spc] = &emptyspan;
        /* Proportional sweeping: a span allocated pays for sweeping two,
         * so that the last cycle's garbage is freed (and HeapAlloc falls)
         * while the heap grows toward the next trigger, not after. */
        if (!atomic_load_explicit(&mheap_.sweepdone, memory_order_acquire))
            sweep_spans(2);
        s = mcentral_cachespan(&mheap_.central[spc]);
        if (!s)
            oom(size);
        c->alloc[spc] = s;
        idx = nextfreeindex(s);
        gort_assert(idx < s->nelems);
        /* The pacer counts a cached span's free slots as live at once
         * (Go's heapLive); no heap lock is held here. */
        uint16_t used = atomic_load_explicit(&s->alloccount, memory_order_relaxed);
        gc_live_add((int64_t)((s->nelems - used) * s->elemsize));
    }
    atomic_store_explicit(&s->alloccount, atomic_load_explicit(&s->alloccount, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return s->base + (uintptr_t)idx * s->elemsize;
}

static inline void count(_Atomic uint64_t *ctr, uint64_t n)
{
    atomic_store_explicit(ctr, atomic_load_explicit(ctr, memory_order_relaxed) + n, memory_order_relaxed);
}

static void *alloc_small(mcache *c, size_t size, const gort_type *t, size_t n, bool scan, uint64_t pat)
{
    uint8_t cls = size_to_class(size);
    uint8_t spc = (uint8_t)(cls << 1 | !scan);
    mspan *s = c->alloc[spc];
    uintptr_t p = nextfreefast(s);
    if (!p) {
        p = nextfree(c, spc, size);
        s = c->alloc[spc];
    }
    uintptr_t elemsize = s->elemsize;
    if (s->needzero)
        memset((void *)p, 0, elemsize);
    if (scan)
        heap_setbits(p, elemsize, t, n, pat);
    count(&c->nmalloc[cls], 1);
    return (void *)p;
}

/* Pointer-free objects under 16 bytes share 16-byte blocks.  A block is
 * freed when nothing points into any of its objects. */
static void *alloc_tiny(mcache *c, size_t size)
{
    uintptr_t off = c->tinyoffset;
    if ((size & 7) == 0)
        off = (off + 7) & ~(uintptr_t)7;
    else if ((size & 3) == 0)
        off = (off + 3) & ~(uintptr_t)3;
    else if ((size & 1) == 0)
        off = (off + 1) & ~(uintptr_t)1;
    if (c->tiny && off + size <= TINY_SIZE) {
        c->tinyoffset = off + size;
        count(&c->tinyallocs, 1);
        return (void *)(c->tiny + off);
    }
    uint8_t *p = alloc_small(c, TINY_SIZE, NULL, 0, false, 0);
    /* Keep whichever block has more room left. */
    if (size < c->tinyoffset || c->tiny == 0) {
        c->tiny = (uintptr_t)p;
        c->tinyoffset = size;
    }
    return p;
}

/* ------------------------------------------------------------------ */
/* Large objects                                                        */

static void *alloc_large(mcache *c, size_t size, const gort_type *t, size_t n, bool scan, uint64_t pat)
{
    if (size > heap_max_bytes || size + PAGE_SIZE < size)
        oom(size);
    uintptr_t npages = (size + PAGE_SIZE - 1) / PAGE_SIZE;
    mspan *s = mheap_alloc(npages, (uint8_t)!scan);
    if (!s)
        oom(size);
    if (s->needzero)
        memset((void *)s->base, 0, npages * PAGE_SIZE);
    if (scan)
        heap_setbits(s->base, s->elemsize, t, n, pat);
    s->freeindex = 1;
    s->alloccache = 0;
    atomic_store_explicit(&s->alloccount, 1, memory_order_release);
    count(&c->nmalloc[0], 1);
    count(&c->largebytes, npages * PAGE_SIZE);
    gc_live_add((int64_t)(npages * PAGE_SIZE));
    return (void *)s->base;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                         */

static inline void *alloc_from(mcache *c, size_t size, const gort_type *t, size_t n, bool scan,
                               uint64_t pat)
{
    if (size > MAX_SMALL_SIZE)
        return alloc_large(c, size, t, n, scan, pat);
    if (!scan && size < TINY_SIZE)
        return alloc_tiny(c, size);
    return alloc_small(c, size, t, n, scan, pat);
}

/* The allocator behind gort_new and gort_alloc.  t NULL with scan: every
 * word may be a pointer (conservative).  pat: see heap_setbits. */
static void *mallocgc_marking(size_t size, const gort_type *t, size_t n, bool scan, uint64_t pat);

static inline void *mallocgc_pat(size_t size, const gort_type *t, size_t n, bool scan, uint64_t pat)
{
    if (size == 0)
        return &zerobase;
    g_t *gp = getg();
    /* Allocation is a safe point: a goroutine that only allocates must
     * not hold off a stop of the world (the collector's, above all) or a
     * stack scan.  Before the mcache is read: a yield may change the P. */
    if (gp && __builtin_expect(atomic_load_explicit(&gp->preempt, memory_order_relaxed), 0))
        safepoint();
    if (gp && __builtin_expect(gp->group != NULL, 0)) {
        gp->acct_bytes += size;
        gp->acct_objects++;
    }
    if (__builtin_expect(gc_marking(), 0))
        return mallocgc_marking(size, t, n, scan, pat);
    p_t *pp = gp ? gp->m->p : NULL;
    if (__builtin_expect(pp != NULL && pp->mcache != NULL, 1))
        return alloc_from(pp->mcache, size, t, n, scan, pat);
    /* Not on a P: an embedder's thread, or before the runtime starts. */
    mallocinit();
    rtlock_lock(&foreign_lock);
    void *p = alloc_from(foreign_cache, size, t, n, scan, pat);
    rtlock_unlock(&foreign_lock);
    return p;
}

/* While the collector marks: assist first, then allocate black. */
static __attribute__((noinline)) void *mallocgc_marking(size_t size, const gort_type *t, size_t n, bool scan,
                                                        uint64_t pat)
{
    gc_assist_alloc(size);
    void *p;
    g_t *gp = getg();
    p_t *pp = gp ? gp->m->p : NULL;
    if (pp != NULL && pp->mcache != NULL) {
        p = alloc_from(pp->mcache, size, t, n, scan, pat);
        /* The mark may have ended during the assist's safe point. */
        if (gc_marking())
            gc_mark_new((uintptr_t)p, size);
        return p;
    }
    mallocinit();
    rtlock_lock(&foreign_lock);
    p = alloc_from(foreign_cache, size, t, n, scan, pat);
    /* Under the lock: a flip (which takes it) cannot end the mark between
     * the allocation and its mark bit. */
    if (gc_marking())
        gc_mark_new((uintptr_t)p, size);
    rtlock_unlock(&foreign_lock);
    return p;
}

void *gort_new(const gort_type *t)
{
    uint64_t pat = check_type("gort_new", t);
    if (t->nptrs == 0)
        return mallocgc_pat(t->size, NULL, 1, false, 0);
    return mallocgc_pat(t->size, t, 1, true, pat);
}

void *gort_new_array(const gort_type *t, size_t n)
{
    uint64_t pat = check_type("gort_new_array", t);
    size_t size;
    if (__builtin_mul_overflow(t->size, n, &size))
        gort_panicf("gort_new_array: %zu elements of %zu bytes overflow the address space", n, t->size);
    if (t->nptrs == 0)
        return mallocgc_pat(size, NULL, n, false, 0);
    return mallocgc_pat(size, t, n, true, pat);
}

void *gort_alloc(size_t size)
{
    return mallocgc_pat(size, NULL, 1, true, 0);
}

void *gort_alloc_noscan(size_t size)
{
    return mallocgc_pat(size, NULL, 1, false, 0);
}
