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

#endif
