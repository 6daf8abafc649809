/*
 * heaputil.h - MemStats checks shared by the heap and collector suites:
 * the identities that hold whenever nothing allocates or sweeps.
 */
#ifndef GORT_TESTS_HEAPUTIL_H
#define GORT_TESTS_HEAPUTIL_H

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include <gort/gort.h>

struct bysums {
    uint64_t mallocs, frees;   /* sums over by_size */
    uint64_t live_bytes;       /* sum of (mallocs - frees) * size */
};

static void by_size_sums(const gort_memstats *ms, struct bysums *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < GORT_NUM_SIZE_CLASSES; i++) {
        s->mallocs += ms->by_size[i].mallocs;
        s->frees += ms->by_size[i].frees;
        s->live_bytes += (ms->by_size[i].mallocs - ms->by_size[i].frees) * ms->by_size[i].size;
    }
}

static void print_memstats(const char *when, const gort_memstats *ms)
{
    struct bysums s;
    by_size_sums(ms, &s);
    print_message("%s: alloc=%" PRIu64 " total_alloc=%" PRIu64 " sys=%" PRIu64
                  " mallocs=%" PRIu64 " frees=%" PRIu64 " heap_alloc=%" PRIu64
                  " heap_sys=%" PRIu64 " heap_idle=%" PRIu64 " heap_inuse=%" PRIu64
                  " heap_released=%" PRIu64 " heap_objects=%" PRIu64 "\n",
                  when, ms->alloc, ms->total_alloc, ms->sys, ms->mallocs, ms->frees,
                  ms->heap_alloc, ms->heap_sys, ms->heap_idle, ms->heap_inuse,
                  ms->heap_released, ms->heap_objects);
    print_message("%s: stack_inuse=%" PRIu64 " stack_sys=%" PRIu64 " mspan_inuse=%" PRIu64
                  " mspan_sys=%" PRIu64 " mcache_inuse=%" PRIu64 " mcache_sys=%" PRIu64
                  " buck_hash_sys=%" PRIu64 " gc_sys=%" PRIu64 " other_sys=%" PRIu64
                  " tiny_allocs=%" PRIu64 " large_allocs=%" PRIu64 " large_frees=%" PRIu64
                  " by_size: mallocs=%" PRIu64 " frees=%" PRIu64 " live_bytes=%" PRIu64 "\n",
                  when, ms->stack_inuse, ms->stack_sys, ms->mspan_inuse, ms->mspan_sys,
                  ms->mcache_inuse, ms->mcache_sys, ms->buck_hash_sys, ms->gc_sys,
                  ms->other_sys, ms->tiny_allocs, ms->large_allocs, ms->large_frees,
                  s.mallocs, s.frees, s.live_bytes);
}

/*
 * The MemStats identities that hold at any quiescent point.  Prints every
 * one that fails (and the numbers) and returns whether all held.
 */
static bool identities_hold(const gort_memstats *ms, const char *when)
{
    bool ok = true;
    struct bysums s;
    by_size_sums(ms, &s);
#define ID(cond)                                                              \
    do {                                                                      \
        if (!(cond)) {                                                        \
            ok = false;                                                       \
            print_message("%s: MemStats identity fails: %s\n", when, #cond);  \
        }                                                                     \
    } while (0)
    ID(ms->heap_sys == ms->heap_inuse + ms->heap_idle);
    ID(ms->heap_released <= ms->heap_idle);
    ID(ms->mallocs >= ms->frees);
    ID(ms->mallocs - ms->frees == ms->heap_objects);
    ID(ms->alloc == ms->heap_alloc);
    ID(ms->total_alloc >= ms->heap_alloc);
    ID(ms->heap_inuse >= ms->heap_alloc);
    ID(ms->heap_sys % 8192 == 0);
    ID(ms->heap_inuse % 8192 == 0);
    ID(ms->heap_released % 8192 == 0);
    ID(ms->sys == ms->heap_sys + ms->stack_sys + ms->mspan_sys + ms->mcache_sys +
                      ms->buck_hash_sys + ms->gc_sys + ms->other_sys);
    ID(ms->stack_inuse <= ms->stack_sys);
    ID(ms->mspan_inuse <= ms->mspan_sys);
    ID(ms->mcache_inuse <= ms->mcache_sys);
    ID(ms->large_allocs >= ms->large_frees);
    ID(s.mallocs >= s.frees);
    /* by_size and the large counters account for every object. */
    ID(s.mallocs - s.frees + (ms->large_allocs - ms->large_frees) == ms->heap_objects);
    /* ... and for every byte: the rest of heap_alloc is large objects. */
    ID(s.live_bytes <= ms->heap_alloc);
    ID((ms->large_allocs == ms->large_frees) == (s.live_bytes == ms->heap_alloc));
    /* Every allocation is in by_size or large_allocs; tiny ones in both
     * mallocs and frees (Go's convention) or in neither. */
    uint64_t extra_m = ms->mallocs - (s.mallocs + ms->large_allocs);
    uint64_t extra_f = ms->frees - (s.frees + ms->large_frees);
    ID(extra_m == 0 || extra_m == ms->tiny_allocs);
    ID(extra_f == extra_m);
    for (int i = 0; i < GORT_NUM_SIZE_CLASSES; i++)
        ID(ms->by_size[i].mallocs >= ms->by_size[i].frees);
#undef ID
    if (!ok)
        print_memstats(when, ms);
    return ok;
}

#endif
