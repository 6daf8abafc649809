/*
 * testing.h - hooks for libgort's own tests and benchmarks.  Not part of the
 * public API; plugins must not use them.
 */
#ifndef GORT_RUNTIME_TESTING_H
#define GORT_RUNTIME_TESTING_H

#include <stdbool.h>
#include <stdint.h>

#include <gort/gort.h>

/* Id of the P the calling goroutine runs on, -1 off a goroutine. */
int32_t rt_test_current_p(void);
/* Id of the M (thread) the calling goroutine runs on, -1 off a goroutine. */
int64_t rt_test_current_m(void);
/* Make every M woken with a P (or started with one) sleep ns before it
 * takes the P, 0 to stop: a thread slow to be scheduled, on demand. */
void rt_test_wake_delay(int64_t ns);
/* Ps that stops of the world took back from Ms not yet awake, so far. */
uint64_t rt_test_stw_takenback(void);
/* Add skew nanoseconds to the clock that goroutine dumps use to compute
 * wait durations, so that a test can see "3 minutes" without waiting. */
void rt_test_dump_clock_skew(int64_t skew);

/* Snapshots of sync objects (sync.c), stale as soon as they are taken. */
/* The mutex is in starvation mode. */
bool rt_test_mutex_starving(gort_mutex *m);
/* Goroutines counted as parked on the mutex. */
int32_t rt_test_mutex_waiters(gort_mutex *m);
/* A writer holds the RWMutex or waits for its readers to leave. */
bool rt_test_rwmutex_writer_pending(gort_rwmutex *rw);
/* Readers holding the RWMutex or queued for it. */
int32_t rt_test_rwmutex_readers(gort_rwmutex *rw);
/* Goroutines counted as parked in gort_once_do, waiting for fn. */
int32_t rt_test_once_waiters(gort_once *o);
/* Goroutines that took a wait ticket and were not signalled yet. */
int32_t rt_test_cond_waiters(gort_cond *c);
/* Goroutines queued on the weighted semaphore. */
int64_t rt_test_sema_waiters(gort_sema *s);

/* ---- The heap (malloc.h), for tests that play the collector ----
 * A cycle by hand: rt_test_heap_cycle_begin() stops the world, finishes any
 * sweeping left, and flushes every mcache, so every span is swept and every
 * mark bit is clear.  The test then marks what must survive with
 * rt_test_heap_mark() (objects allocated after begin are not marked unless
 * the test marks them).  rt_test_heap_cycle_end() stops the world again,
 * flushes the mcaches and flips sweepgen: every unmarked object becomes
 * garbage.  With sweep_now it sweeps the whole heap before returning;
 * otherwise the background sweeper and allocating goroutines sweep.
 * Goroutine only. */
void rt_test_heap_cycle_begin(void);
/* Mark the object containing p.  False if p is not inside an allocated
 * heap object. */
bool rt_test_heap_mark(const void *p);
void rt_test_heap_cycle_end(bool sweep_now);
/* Every span of the current cycle has been swept. */
bool rt_test_heap_sweep_done(void);
/* Base and size of the allocated heap object containing p, or NULL (a free
 * slot, a free page, or not heap memory at all). */
void *rt_test_heap_object_base(const void *p, size_t *size);
/* Size class for size (0 for large) and the class's object size. */
int rt_test_size_class(size_t size, size_t *class_size);
/* Object size of class c (1..GORT_NUM_SIZE_CLASSES), 0 for others. */
size_t rt_test_class_size(int c);
/* The page allocator: number of free runs (spans) and free pages. */
size_t rt_test_heap_free_runs(size_t *free_pages);
/* Bytes of address space the heap has grown into (heap_sys). */
uint64_t rt_test_heap_sys(void);
/* The collector's pointer bit for the 8-byte word at p (heap memory). */
bool rt_test_heap_ptrbit(const void *p);
/* Of the 4 KiB pages of the pointer bitmap that describe whole 256 KiB
 * chunks of [p, p+len), how many are resident; *pages counts them all. */
size_t rt_test_heap_ptrbits_resident(const void *p, size_t len, size_t *pages);
/* Span class info for the object at p: true if noscan; *npages of the span. */
bool rt_test_heap_noscan(const void *p, size_t *npages);

#endif
