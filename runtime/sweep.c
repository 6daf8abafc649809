/*
 * sweep.c - sweeping: freeing what the last mark left unmarked.
 *
 * A flip (world stopped) flushes every mcache and advances mheap.sweepgen
 * by 2, which makes every in-use span unswept at once.  Spans are then
 * swept, each exactly once, by whoever gets to it first:
 *   - the background sweeper goroutine, SWEEP_BATCH spans at a time;
 *   - an mcentral that needs a span of its class (lazy sweeping);
 *   - a large allocation, which sweeps until it has reclaimed as many
 *     pages as it needs before growing the heap.
 * Whoever moves a span's sweepgen from h-2 to h-1 owns it until it stores
 * h.  Every in-use span sits in one of two buffers: the swept buffer
 * [h/2 % 2], where new and swept spans go, and the unswept one, which
 * sweep_spans drains.  A span swept lazily is still in the unswept
 * buffer; sweep_spans finds it already swept and drops it.  sweep_spans
 * takes its spans from the buffer and gives the ones it emptied back to
 * the heap a batch at a time, one acquisition of each lock for all of
 * them: two sweepers freeing span by span spent most of their time
 * handing the heap lock to each other.
 */
#include <stdlib.h>
#include <string.h>

#include "malloc.h"
#include "print.h"
#include "proc.h"
#include "sema.h"

typedef struct sweepbuf {
    rtlock lock;
    mspan **spans;
    size_t n, cap;
} sweepbuf;

static sweepbuf sweepbufs[2];
static _Atomic int32_t sweepers;       /* sweeps in progress */
static _Atomic uint32_t bgsweep_sema;
static _Atomic bool bgsweep_parked;

static void sweepbuf_push(sweepbuf *b, mspan *s)
{
    rtlock_lock(&b->lock);
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        mspan **a = realloc(b->spans, cap * sizeof *a);
        if (!a)
            rt_throw("out of memory growing the sweep buffer");
        atomic_fetch_add_explicit(&heapstats.other_sys, (cap - b->cap) * sizeof *a, memory_order_relaxed);
        b->spans = a;
        b->cap = cap;
    }
    b->spans[b->n++] = s;
    rtlock_unlock(&b->lock);
}

static size_t sweepbuf_pop_many(sweepbuf *b, mspan **out, size_t max)
{
    rtlock_lock(&b->lock);
    size_t n = b->n < max ? b->n : max;
    b->n -= n;
    for (size_t i = 0; i < n; i++)
        out[i] = b->spans[b->n + i];
    rtlock_unlock(&b->lock);
    return n;
}

void sweepbuf_push_swept(mspan *s)
{
    uint32_t sg = atomic_load_explicit(&mheap_.sweepgen, memory_order_relaxed);
    sweepbuf_push(&sweepbufs[sg / 2 % 2], s);
}

void sweeper_enter(void)
{
    atomic_fetch_add_explicit(&sweepers, 1, memory_order_acquire);
}

static bool sweepbuf_empty(sweepbuf *b)
{
    rtlock_lock(&b->lock);
    bool empty = b->n == 0;
    rtlock_unlock(&b->lock);
    return empty;
}

/* The last sweeper out, with nothing left to sweep in cycle sg, says the
 * sweep is done.  True if this call did. */
static bool note_sweepdone(uint32_t sg)
{
    if (atomic_load_explicit(&sweepers, memory_order_acquire) != 0 ||
        atomic_load_explicit(&mheap_.sweepgen, memory_order_acquire) != sg ||
        !sweepbuf_empty(&sweepbufs[1 - sg / 2 % 2]))
        return false;
    uint32_t zero = 0;
    return atomic_compare_exchange_strong_explicit(&mheap_.sweepdone, &zero, 1, memory_order_release,
                                                   memory_order_relaxed);
}

void sweeper_exit(void)
{
    uint32_t sg = atomic_load_explicit(&mheap_.sweepgen, memory_order_relaxed);
    if (atomic_fetch_sub_explicit(&sweepers, 1, memory_order_release) == 1)
        note_sweepdone(sg);
}

static inline uint32_t countbits(const uint8_t *bits, uint16_t n)
{
    uint32_t c = 0;
    const uint64_t *w = (const uint64_t *)bits;
    for (uint16_t i = 0; i < n / 64; i++)
        c += (uint32_t)__builtin_popcountll(w[i]);
    if (n % 64)
        c += (uint32_t)__builtin_popcountll(w[n / 64] & (((uint64_t)1 << (n % 64)) - 1));
    return c;
}

/* Sweep s; true if it is to go back to the heap, which the caller does
 * (mheap_free), s no longer in any list. */
static bool sweep_span_core(mspan *s, bool preserve)
{
    uint32_t sg = atomic_load_explicit(&mheap_.sweepgen, memory_order_relaxed);
    gort_assert(atomic_load_explicit(&s->sweepgen, memory_order_relaxed) == sg - 1);
    uint8_t c = spc_class(s->spc);
    if (__atomic_load_n(&s->specials, __ATOMIC_ACQUIRE))
        fin_sweep_span(s);   /* unmarked objects with finalizers live on */
    uint16_t nalloc = (uint16_t)countbits(s->gcmarkbits, s->nelems);
    uint16_t had = atomic_load_explicit(&s->alloccount, memory_order_relaxed);
    gort_assert(nalloc <= had);
    uint16_t nfreed = had - nalloc;
    if (c == 0) {
        if (nfreed) {
            atomic_fetch_add_explicit(&heapstats.nfree[0], 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&heapstats.largefreebytes, s->npages * PAGE_SIZE, memory_order_relaxed);
            return true;
        }
        s->gcmarkbits[0] = 0;
        atomic_store_explicit(&s->sweepgen, sg, memory_order_release);
        sweepbuf_push_swept(s);
        return false;
    }
    /* The mark bits become the allocation bits; fresh mark bits are clear. */
    uint8_t *old = s->allocbits;
    s->allocbits = s->gcmarkbits;
    memset(old, 0, (size_t)(s->nelems + 63) / 64 * 8);
    s->gcmarkbits = old;
    s->freeindex = 0;
    s->alloccache = ~*(const uint64_t *)s->allocbits;
    atomic_store_explicit(&s->alloccount, nalloc, memory_order_relaxed);
    if (nfreed) {
        s->needzero = 1;
        atomic_fetch_add_explicit(&heapstats.nfree[c], nfreed, memory_order_relaxed);
    }
    if (nalloc == 0 && !preserve)
        return true;
    atomic_store_explicit(&s->sweepgen, sg, memory_order_release);
    sweepbuf_push_swept(s);
    return false;
}

bool sweep_span(mspan *s, bool preserve)
{
    if (!sweep_span_core(s, preserve))
        return false;
    mheap_free(s);
    return true;
}

intptr_t sweep_spans(int max)
{
    gort_assert(max > 0 && max <= SWEEP_BATCH);
    mspan *took[SWEEP_BATCH], *freed[SWEEP_BATCH];
    size_t nfreed = 0, n = 0, i = 0;
    intptr_t pages = 0;
    int swept = 0;
    sweeper_enter();
    uint32_t sg = atomic_load_explicit(&mheap_.sweepgen, memory_order_acquire);
    sweepbuf *b = &sweepbufs[1 - sg / 2 % 2];
    while (swept < max) {
        if (i == n) {
            n = sweepbuf_pop_many(b, took, (size_t)(max - swept));
            i = 0;
            if (n == 0)
                break;
        }
        mspan *s = took[i++];
        uint32_t want = sg - 2;
        if (atomic_load_explicit(&s->state, memory_order_acquire) != MSPAN_INUSE ||
            !atomic_compare_exchange_strong_explicit(&s->sweepgen, &want, sg - 1, memory_order_acquire,
                                                     memory_order_relaxed))
            continue;   /* swept already (lazily), or freed since */
        swept++;
        bool gone;
        if (spc_class(s->spc) == 0) {
            gone = sweep_span_core(s, false);
        } else {
            mcentral *c = &mheap_.central[s->spc];
            rtlock_lock(&c->lock);
            if (s->list)
                spanlist_remove(s->list, s);
            gone = sweep_span_core(s, false);
            if (!gone) {
                uint32_t h = sg / 2 % 2;
                spanlist_insert(atomic_load_explicit(&s->alloccount, memory_order_relaxed) == s->nelems
                                    ? &c->full[h]
                                    : &c->partial[h],
                                s);
            }
            rtlock_unlock(&c->lock);
        }
        if (gone) {
            pages += (intptr_t)s->npages;
            freed[nfreed++] = s;
        }
    }
    if (swept == 0) {
        atomic_fetch_sub_explicit(&sweepers, 1, memory_order_release);
        if (note_sweepdone(sg))
            scavenger_wake();
        return -1;
    }
    /* The spans it emptied go back together, while it still counts as a
     * sweeper: the sweep is not done until they are in the heap. */
    if (nfreed)
        mheap_free_many(freed, nfreed);
    sweeper_exit();
    if (nfreed)
        scavenger_wake_freed();   /* not under the mcentral lock: it may take sched.lock */
    fin_wake();
    return pages;
}

void sweep_finish(void)
{
    while (sweep_spans(SWEEP_BATCH) >= 0)
        ;
    /* Lazy sweeps still under way finish soon: they never block. */
    while (atomic_load_explicit(&sweepers, memory_order_acquire) != 0)
        procyield(10);
    if (note_sweepdone(atomic_load_explicit(&mheap_.sweepgen, memory_order_relaxed)))
        scavenger_wake();
    fin_wake();
}

void sweep_reclaim(uintptr_t npages)
{
    uintptr_t got = 0;
    while (got < npages) {
        intptr_t n = sweep_spans(SWEEP_BATCH);
        if (n < 0)
            return;
        got += (uintptr_t)n;
    }
}

/* ------------------------------------------------------------------ */
/* The flip                                                             */

static void flush_mcaches_stw(void)
{
    for (int32_t i = 0; i < GORT_MAX_PROCS; i++) {
        p_t *pp = allp[i];
        if (!pp)
            break;
        if (pp->mcache)
            mcache_release_all(pp->mcache);
    }
}

void heap_sweepterm_stw(void)
{
    /* Nothing may be left from the last cycle (the collector swept it
     * before stopping the world; lazy sweeps of threads without a P may
     * still be finishing). */
    sweep_finish();
    /* Tiny blocks and spans cached from before the mark go back, so that
     * everything allocated while marking comes from fresh slots. */
    flush_mcaches_stw();
    mcache_foreign_lock();
    mcache_foreign_unlock();
}

void heap_flip_stw(void)
{
    flush_mcaches_stw();
    /* Threads without a P are not stopped: their shared cache stays
     * locked from its flush to the new sweepgen, so that no span enters it
     * in between and turns unswept while cached. */
    mcache_foreign_lock();
    uint32_t sg = atomic_load_explicit(&mheap_.sweepgen, memory_order_relaxed);
    atomic_store_explicit(&mheap_.sweepdone, 0, memory_order_relaxed);
    atomic_store_explicit(&mheap_.sweepgen, sg + 2, memory_order_release);
    mcache_foreign_unlock();
}

/* ------------------------------------------------------------------ */
/* The background sweeper                                               */

static void bgsweep(void *unused)
{
    (void)unused;
    for (;;) {
        /* Sweeping is background work: let others run now and then. */
        while (sweep_spans(SWEEP_BATCH) >= 0)
            gort_gosched();
        atomic_store_explicit(&bgsweep_parked, true, memory_order_seq_cst);
        if (!atomic_load_explicit(&mheap_.sweepdone, memory_order_seq_cst)) {
            /* A flip came in between, or another sweeper is finishing the
             * last span: go on, politely. */
            if (atomic_exchange_explicit(&bgsweep_parked, false, memory_order_seq_cst)) {
                gort_gosched();
                continue;
            }
        }
        semacquire(&bgsweep_sema, WR_GC_SWEEP_WAIT);
    }
}

void bgsweep_start(void)
{
    int err = newproc(bgsweep, NULL, 0, "runtime/bgsweep", NULL, true, NULL, NULL);
    if (err)
        rt_throw("cannot start the background sweeper: error %d", err);
}

void bgsweep_wake(void)
{
    if (atomic_exchange_explicit(&bgsweep_parked, false, memory_order_seq_cst))
        semrelease(&bgsweep_sema);
}
