/*
 * mstats.c - gort_read_memstats, and the heap's test hooks.
 *
 * Allocation counts live in each mcache, written only by its owner;
 * frees, page counts and metadata sizes are global counters updated with
 * relaxed atomics by the sweeper and under mheap.lock.  Reading sums them
 * without stopping the world, so a reading is exact whenever nobody is
 * allocating or sweeping, and otherwise a snapshot that may be off by the
 * operations in flight.
 */
#include <string.h>
#include <sys/mman.h>

#include "malloc.h"
#include "print.h"
#include "proc.h"
#include "stack.h"
#include "testing.h"

static inline uint64_t ld(_Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static void add_cache(const mcache *c, uint64_t small[NUM_CLASSES], uint64_t *largebytes, uint64_t *tiny)
{
    for (int i = 0; i < NUM_CLASSES; i++)
        small[i] += ld((_Atomic uint64_t *)&c->nmalloc[i]);
    *largebytes += ld((_Atomic uint64_t *)&c->largebytes);
    *tiny += ld((_Atomic uint64_t *)&c->tinyallocs);
}

void gort_read_memstats(gort_memstats *ms)
{
    mallocinit();
    memset(ms, 0, sizeof *ms);
    uint64_t nmalloc[NUM_CLASSES] = {0}, largebytes = 0, tiny = 0;
    for (int32_t i = 0; i < GORT_MAX_PROCS; i++) {
        p_t *pp = __atomic_load_n(&allp[i], __ATOMIC_ACQUIRE);
        if (!pp)
            break;
        mcache *c = __atomic_load_n(&pp->mcache, __ATOMIC_ACQUIRE);
        if (c)
            add_cache(c, nmalloc, &largebytes, &tiny);
    }
    add_cache(mcache_foreign(), nmalloc, &largebytes, &tiny);

    uint64_t heap_alloc = 0, total_alloc = largebytes, mallocs = tiny, frees = tiny;
    for (int c = 1; c < NUM_CLASSES; c++) {
        uint64_t f = ld(&heapstats.nfree[c]);
        if (f > nmalloc[c])
            f = nmalloc[c];   /* a sweep seen before the allocations it freed */
        uint64_t size = class_info[c].size;
        ms->by_size[c - 1].size = (uint32_t)size;
        ms->by_size[c - 1].mallocs = nmalloc[c];
        ms->by_size[c - 1].frees = f;
        heap_alloc += (nmalloc[c] - f) * size;
        total_alloc += nmalloc[c] * size;
        mallocs += nmalloc[c];
        frees += f;
    }
    uint64_t largefree = ld(&heapstats.nfree[0]);
    uint64_t largefreebytes = ld(&heapstats.largefreebytes);
    if (largefree > nmalloc[0] || largefreebytes > largebytes) {
        largefree = nmalloc[0];
        largefreebytes = largebytes;
    }
    heap_alloc += largebytes - largefreebytes;
    mallocs += nmalloc[0];
    frees += largefree;
    ms->large_allocs = nmalloc[0];
    ms->large_frees = largefree;
    ms->tiny_allocs = tiny;

    ms->alloc = ms->heap_alloc = heap_alloc;
    ms->total_alloc = total_alloc;
    ms->mallocs = mallocs;
    ms->frees = frees;
    ms->heap_objects = mallocs - frees;
    /* In use first: the heap only grows, so a later heap_sys is never
     * smaller than what the pages in use needed.  The clamps below only
     * matter for readings taken while the heap changes. */
    ms->heap_inuse = atomic_load_explicit(&heapstats.heap_inuse, memory_order_acquire);
    ms->heap_released = atomic_load_explicit(&heapstats.heap_released, memory_order_acquire);
    ms->heap_sys = atomic_load_explicit(&heapstats.heap_sys, memory_order_acquire);
    if (ms->heap_inuse > ms->heap_sys)
        ms->heap_inuse = ms->heap_sys;
    ms->heap_idle = ms->heap_sys - ms->heap_inuse;
    if (ms->heap_released > ms->heap_idle)
        ms->heap_released = ms->heap_idle;

    gort_stack_stats st;
    gort_read_stack_stats(&st);
    ms->stack_inuse = st.inuse_bytes;
    ms->stack_sys = st.sys_bytes;
    ms->stacks_guarded = st.guarded_inuse;
    ms->stacks_slab = st.slab_inuse;
    ms->stacks_custom = st.custom_inuse;
    ms->mspan_inuse = ld(&mheap_.spanalloc.inuse);
    ms->mspan_sys = ld(&heapstats.mspan_sys);
    ms->mcache_inuse = ld(&mheap_.cachealloc.inuse);
    ms->mcache_sys = ld(&heapstats.mcache_sys);
    ms->gc_sys = ld(&heapstats.gc_sys);
    ms->other_sys = ld(&heapstats.other_sys);
    ms->sys = ms->heap_sys + ms->stack_sys + ms->mspan_sys + ms->mcache_sys + ms->buck_hash_sys +
              ms->gc_sys + ms->other_sys;

    ms->next_gc = ms->heap_goal = gc_next_goal();
    ms->enable_gc = true;
    ms->memory_limit = INT64_MAX;
    ms->scav_released = ld(&heapstats.scav_released_total);

    gort_sched_stats ss;
    gort_read_sched_stats(&ss);
    ms->goroutines = ss.goroutines;
    ms->threads = ss.threads;
    ms->gomaxprocs = ss.gomaxprocs;
    ms->syscalls = ss.syscalls;
    gc_read_stats(ms);
}

/* ------------------------------------------------------------------ */
/* Test hooks                                                           */

void rt_test_heap_cycle_begin(void)
{
    gc_cycles_lock();
    stop_the_world("heap test: cycle begin");
    heap_sweepterm_stw();
    start_the_world();
}

bool rt_test_heap_mark(const void *p)
{
    mspan *s;
    uintptr_t base = heap_object_base((uintptr_t)p, &s, NULL);
    if (!base)
        return false;
    span_setmark(s, base);
    return true;
}

void rt_test_heap_cycle_end(bool sweep_now)
{
    stop_the_world("heap test: cycle end");
    heap_flip_stw();
    start_the_world();
    gc_cycles_unlock();
    if (sweep_now)
        sweep_finish();
    else
        bgsweep_wake();
}

bool rt_test_heap_sweep_done(void)
{
    return atomic_load_explicit(&mheap_.sweepdone, memory_order_acquire);
}

void *rt_test_heap_object_base(const void *p, size_t *size)
{
    uintptr_t sz = 0;
    uintptr_t base = heap_object_base((uintptr_t)p, NULL, &sz);
    if (size)
        *size = base ? sz : 0;
    return (void *)base;
}

int rt_test_size_class(size_t size, size_t *class_size)
{
    mallocinit();
    if (size == 0 || size > MAX_SMALL_SIZE) {
        if (class_size)
            *class_size = 0;
        return 0;
    }
    uint8_t c = size_to_class(size);
    if (class_size)
        *class_size = class_info[c].size;
    return c;
}

size_t rt_test_class_size(int c)
{
    return c >= 1 && c < NUM_CLASSES ? class_info[c].size : 0;
}

size_t rt_test_heap_free_runs(size_t *free_pages)
{
    uintptr_t pages = 0;
    size_t runs = heap_free_runs(&pages);
    if (free_pages)
        *free_pages = pages;
    return runs;
}

uint64_t rt_test_heap_sys(void)
{
    return ld(&heapstats.heap_sys);
}

bool rt_test_heap_ptrbit(const void *p)
{
    return heap_ptrbit((uintptr_t)p);
}

size_t rt_test_heap_ptrbits_resident(const void *p, size_t len, size_t *pages)
{
    const uintptr_t chunk = (uintptr_t)4096 * 64;   /* heap bytes per bitmap page */
    uintptr_t a = ((uintptr_t)p + chunk - 1) & ~(chunk - 1), end = (uintptr_t)p + len;
    size_t n = 0, resident = 0;
    for (; a + chunk <= end; a += chunk) {
        heaparena *ha = arena_of(a);
        if (!ha)
            continue;
        unsigned char in = 0;
        if (mincore(&ha->ptrbits[(a & (ARENA_BYTES - 1)) / 8 / 64], 4096, &in) != 0)
            rt_throw("mincore on the pointer bitmap failed");
        n++;
        resident += in & 1;
    }
    if (pages)
        *pages = n;
    return resident;
}

bool rt_test_heap_noscan(const void *p, size_t *npages)
{
    mspan *s = span_of_heap((uintptr_t)p);
    if (!s)
        return false;
    if (npages)
        *npages = s->npages;
    return spc_noscan(s->spc);
}
