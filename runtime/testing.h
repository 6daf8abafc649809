/*
 * testing.h - hooks for libgort's own tests and benchmarks.  Not part of the
 * public API; plugins must not use them.
 */
#ifndef GORT_RUNTIME_TESTING_H
#define GORT_RUNTIME_TESTING_H

#include <stdint.h>

/* Id of the P the calling goroutine runs on, -1 off a goroutine. */
int32_t rt_test_current_p(void);
/* Id of the M (thread) the calling goroutine runs on, -1 off a goroutine. */
int64_t rt_test_current_m(void);
/* Add skew nanoseconds to the clock that goroutine dumps use to compute
 * wait durations, so that a test can see "3 minutes" without waiting. */
void rt_test_dump_clock_skew(int64_t skew);

#endif
