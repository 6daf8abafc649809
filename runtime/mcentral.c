/*
 * mcentral.c - the spans of one span class, between the mcaches and the
 * heap.
 *
 * An mcentral keeps its spans that are not in an mcache on four lists:
 * partial (free slots) and full, each swept and unswept.  Which of the two
 * lists of a kind holds swept spans depends on the cycle (malloc.h), so a
 * flip turns every swept list into an unswept one without touching a span.
 * An mcache asking for a span gets, in order: a swept partial span; an
 * unswept partial span, swept now; an unswept full span that sweeping left
 * with a free slot; or a new span from the heap.
 */
#include "malloc.h"
#include "print.h"

/* Try at most this many unswept full spans before growing, as Go does:
 * sweeping them is work for the sweeper, not a delay for the allocator. */
enum { FULL_SWEEP_TRIES = 100 };

static inline uint32_t swept_index(uint32_t sg)
{
    return sg / 2 % 2;
}

static void span_ready(mspan *s)
{
    uint16_t idx = s->freeindex;
    /* Rebuild the cache from the allocation bits at the 64-slot word that
     * holds freeindex (sweeping reset it to 0). */
    uint64_t w = ((const uint64_t *)s->allocbits)[idx / 64];
    s->alloccache = ~w >> (idx % 64);
}

mspan *mcentral_cachespan(mcentral *c)
{
    uint32_t sg = atomic_load_explicit(&mheap_.sweepgen, memory_order_acquire);
    uint32_t sw = swept_index(sg);
    mspan *s;
    rtlock_lock(&c->lock);
    if ((s = c->partial[sw].first) != NULL) {
        spanlist_remove(&c->partial[sw], s);
        goto have;
    }
    /* Counted as a sweeper before taking any span, so that the sweep is
     * never declared done while one it took is half swept. */
    sweeper_enter();
    for (s = c->partial[1 - sw].first; s; s = s->next) {
        uint32_t want = sg - 2;
        if (!atomic_compare_exchange_strong_explicit(&s->sweepgen, &want, sg - 1, memory_order_acquire,
                                                     memory_order_relaxed))
            continue;   /* a sweeper has it and will move it */
        spanlist_remove(&c->partial[1 - sw], s);
        sweep_span(s, true);
        sweeper_exit();
        goto have;
    }
    int tries = 0;
    for (s = c->full[1 - sw].first; s && tries < FULL_SWEEP_TRIES; tries++) {
        mspan *next = s->next;
        uint32_t want = sg - 2;
        if (atomic_compare_exchange_strong_explicit(&s->sweepgen, &want, sg - 1, memory_order_acquire,
                                                    memory_order_relaxed)) {
            spanlist_remove(&c->full[1 - sw], s);
            sweep_span(s, true);
            if (atomic_load_explicit(&s->alloccount, memory_order_relaxed) < s->nelems) {
                sweeper_exit();
                goto have;
            }
            spanlist_insert(&c->full[sw], s);
        }
        s = next;
    }
    sweeper_exit();
    rtlock_unlock(&c->lock);

    uint8_t cls = spc_class(c->spc);
    s = mheap_alloc(class_info[cls].npages, c->spc);
    if (!s)
        return NULL;
    return s;

have:
    rtlock_unlock(&c->lock);
    span_ready(s);
    return s;
}

void mcentral_uncachespan(mcentral *c, mspan *s)
{
    uint32_t sw = swept_index(atomic_load_explicit(&mheap_.sweepgen, memory_order_relaxed));
    rtlock_lock(&c->lock);
    if (atomic_load_explicit(&s->alloccount, memory_order_relaxed) == s->nelems)
        spanlist_insert(&c->full[sw], s);
    else
        spanlist_insert(&c->partial[sw], s);
    rtlock_unlock(&c->lock);
}
