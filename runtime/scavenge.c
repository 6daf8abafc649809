/*
 * scavenge.c - returning free heap memory to the operating system.
 *
 * Three paths release free pages (mheap_scavenge, in at most 1 MiB steps so
 * that allocation goes on in between):
 *   - the background scavenger goroutine keeps retained memory (heap bytes
 *     not released) near a goal, 10 % over the heap goal.  It works in
 *     bursts of at least 1 ms, 64 KiB at a time, then sleeps 99 times as
 *     long as it worked: about 1 % of one CPU.  With nothing to do it
 *     parks; a sweep that finishes, a span swept free while retained
 *     memory is over the memory limit, or sysmon wakes it;
 *   - sysmon's periodic pass, every 2.5 minutes, releases the spans that
 *     have been free for more than 5 minutes (GODEBUG=scavenge=1: every
 *     10 ms, spans free for 20 ms), and prints the scvg lines with
 *     gctrace=1;
 *   - gort_free_os_memory releases every free page at once.
 * Release is madvise(MADV_DONTNEED), or MADV_FREE with
 * GODEBUG=madvdontneed=0.  A released page is reused with no system call:
 * the kernel backs it again on first touch.
 */
#include <stdint.h>

#include "debugvars.h"
#include "gc.h"
#include "malloc.h"
#include "print.h"
#include "proc.h"
#include "sema.h"

enum {
    SCAV_PERCENT = 1,                          /* of one CPU */
};
static const int64_t scav_burst_ns = 1000000;  /* at least 1 ms per burst */

static _Atomic uint32_t scav_sema;
static _Atomic bool scav_parked;
static _Atomic bool scav_started;
static int64_t periodic_last;                  /* sysmon only */

uint64_t heap_retained(void)
{
    uint64_t rel = atomic_load_explicit(&heapstats.heap_released, memory_order_acquire);
    uint64_t sys = atomic_load_explicit(&heapstats.heap_sys, memory_order_acquire);
    return sys > rel ? sys - rel : 0;
}

/* Keep 10 % over the heap goal (none with GOGC=off), and no more than
 * the memory limit allows. */
static uint64_t retained_goal(void)
{
    uint64_t g = gc_next_goal();
    uint64_t r = g > UINT64_MAX / 11 * 10 ? UINT64_MAX : g + g / 10;
    uint64_t l = gc_limit_retained();
    return l < r ? l : r;
}

/* Retained memory is over the goal and some free page is not released.
 * Racy reads: a hint, checked again by the release itself. */
static bool want_release(void)
{
    uint64_t inuse = atomic_load_explicit(&heapstats.heap_inuse, memory_order_acquire);
    uint64_t rel = atomic_load_explicit(&heapstats.heap_released, memory_order_acquire);
    uint64_t sys = atomic_load_explicit(&heapstats.heap_sys, memory_order_acquire);
    return sys > rel && sys - rel > retained_goal() && sys > inuse + rel;
}

/* Park until scavenger_wake.  recheck: go on at once if there is work
 * after all (a wake-up may have come before the flag was up). */
static void scavenger_park(bool recheck)
{
    atomic_store_explicit(&scav_parked, true, memory_order_seq_cst);
    if (recheck && want_release() && atomic_exchange_explicit(&scav_parked, false, memory_order_seq_cst))
        return;
    semacquire(&scav_sema, WR_GC_SCAVENGE_WAIT);
}

static void scavenger(void *unused)
{
    (void)unused;
    for (;;) {
        if (!want_release()) {
            scavenger_park(true);
            continue;
        }
        int64_t t0 = gort_nanotime(), elapsed;
        uint64_t got = 0, n;
        do {
            uint64_t r = heap_retained(), goal = retained_goal();
            uint64_t over = r > goal ? r - goal : 0;
            uint64_t chunk = SCAV_CHUNK_PAGES * PAGE_SIZE;
            n = mheap_scavenge(over < chunk ? over : chunk, INT64_MAX);
            got += n;
            elapsed = gort_nanotime() - t0;
        } while (n > 0 && elapsed < scav_burst_ns && want_release());
        if (got == 0) {
            /* Nothing releasable after all (the counters raced, or the
             * kernel refused): wait for news rather than spin. */
            scavenger_park(false);
            continue;
        }
        gc_observe_scavenge(GORT_SCAV_BACKGROUND, 0, got);
        gort_sleep(elapsed * (100 / SCAV_PERCENT - 1));
    }
}

void scavenger_start(void)
{
    int err = newproc(scavenger, NULL, 0, "runtime/scavenger", NULL, true, NULL, NULL);
    if (err)
        rt_throw("cannot start the scavenger: error %d", err);
    atomic_store_explicit(&scav_started, true, memory_order_release);
}

void scavenger_wake(void)
{
    if (!atomic_load_explicit(&scav_started, memory_order_acquire) || !want_release())
        return;
    if (atomic_exchange_explicit(&scav_parked, false, memory_order_seq_cst))
        semrelease(&scav_sema);
}

/* A sweep freed a span.  The scavenger's regular work waits for the
 * sweep to finish (it would only contend with it for the heap lock), but
 * memory over the limit goes back at once. */
void scavenger_wake_freed(void)
{
    if (heap_retained() > gc_limit_retained())
        scavenger_wake();
}

/* The scvg trace lines (gctrace=1), in the seeds' format. */
static void scvg_trace(int64_t n, uint64_t released)
{
    if (!gctrace_on())
        return;
    /* In use first, and clamped: the heap may grow between the reads. */
    uint64_t inuse = atomic_load_explicit(&heapstats.heap_inuse, memory_order_acquire);
    uint64_t sys = atomic_load_explicit(&heapstats.heap_sys, memory_order_acquire);
    uint64_t rel = atomic_load_explicit(&heapstats.heap_released, memory_order_acquire);
    if (sys < inuse)
        sys = inuse;
    if (rel > sys)
        rel = sys;
    if (released)
        rt_tracef("scvg%lld: %llu MB released\n", (long long)n, (unsigned long long)(released >> 20));
    rt_tracef("scvg%lld: inuse: %llu, idle: %llu, sys: %llu, released: %llu, consumed: %llu (MB)\n",
              (long long)n, (unsigned long long)(inuse >> 20), (unsigned long long)((sys - inuse) >> 20),
              (unsigned long long)(sys >> 20), (unsigned long long)(rel >> 20),
              (unsigned long long)((sys - rel) >> 20));
}

/* Spans free this long are released by the periodic pass, which runs
 * every half of it. */
static int64_t scavenge_limit(void)
{
    return debug.scavenge ? 20 * GORT_MS : 5 * 60 * GORT_S;
}

int64_t scavenger_period(void)
{
    return scavenge_limit() / 2;
}

void scavenger_periodic(int64_t now)
{
    int64_t limit = scavenge_limit();
    if (periodic_last == 0)
        periodic_last = now;
    if (now - periodic_last < limit / 2)
        return;
    periodic_last = now;
    if (!arena_index)
        return;   /* no heap yet */
    uint64_t released = mheap_scavenge(UINT64_MAX, now - limit);
    int64_t n = (int64_t)atomic_fetch_add_explicit(&heapstats.scav_cycles, 1, memory_order_relaxed);
    scvg_trace(n, released);
    if (released)
        gc_observe_scavenge(GORT_SCAV_PERIODIC, n, released);
    scavenger_wake();
}

void gort_free_os_memory(void)
{
    mallocinit();
    gort_gc();
    uint64_t released = mheap_scavenge(UINT64_MAX, INT64_MAX);
    scvg_trace(-1, released);
    gc_observe_scavenge(GORT_SCAV_FORCED, -1, released);
}
