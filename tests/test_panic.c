/*
 * test_panic.c - defer, panic and recover (Go's semantics, with gort_pcall
 * as the function frame): deferred calls run last-in first-out on return,
 * on panic and on Goexit; a panic passes through frames that do not recover
 * it; recover works only when called directly by a deferred call, once per
 * panic; a panic in a deferred call replaces the one in flight; and an
 * unrecovered panic prints Go's report and exits with status 2 (helper
 * program tests/progs/panicking.c, run in a subprocess).
 *
 * Deferred calls and protected bodies log what they do into a static
 * string, so that a test can assert on the exact order of events after the
 * fact.  Nothing inside a protected call asserts (a failing cmocka
 * assertion longjmps, which must not cross a protected frame); every
 * assertion is in the test body on the main goroutine.  See testutil.h for
 * the rest of the rules.
 *
 * Functions that call gort_recover store its result afterwards rather than
 * returning it: a call in tail position may be compiled as a jump, which
 * would make a helper's call look like its caller's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>

#include "testutil.h"

#define DONE_TIMEOUT gt_slow(10 * GORT_S)
#define HELPER_TIMEOUT gt_slow(30 * GORT_S)


/* ---------------------------------------------------------------------
 * The event log
 * ------------------------------------------------------------------- */

static char event_log[256];

static void log_reset(void)
{
    event_log[0] = '\0';
}

static void log_event(const char *what)
{
    size_t n = strlen(event_log);
    snprintf(event_log + n, sizeof event_log - n, "%s%s", n ? " " : "", what);
}

/* A deferred call that only logs its argument (a string). */
static void d_log(void *arg)
{
    log_event(arg);
}

/* Deferred calls that recover and keep what they got. */
static gort_panic_info *recovered_a, *recovered_b;

static void d_recover_a(void *arg)
{
    recovered_a = gort_recover();
    log_event(arg != NULL ? arg : "recover-a");
}

static void d_recover_b(void *arg)
{
    recovered_b = gort_recover();
    log_event(arg != NULL ? arg : "recover-b");
}

/* ---------------------------------------------------------------------
 * Normal return
 * ------------------------------------------------------------------- */

static void body_three_defers(void *arg)
{
    gort_defer(d_log, "1");
    gort_defer(d_log, "2");
    gort_defer(d_log, "3");
    log_event("body");
}

static void test_pcall_returns_null_and_runs_defers_lifo_on_normal_return(void **state)
{
    log_reset();
    gort_panic_info *p = gort_pcall(body_three_defers, NULL);
    assert_null(p);
    assert_string_equal(event_log, "body 3 2 1");

    /* A frame without deferred calls. */
    log_reset();
    p = gort_pcall(d_log, "plain");
    assert_null(p);
    assert_string_equal(event_log, "plain");
}

static void body_defers_in_nested_frames(void *arg)
{
    gort_defer(d_log, "outer-1");
    gort_panic_info *p = gort_pcall(body_three_defers, NULL);
    log_event(p == NULL ? "inner-null" : "inner-not-null");
    gort_defer(d_log, "outer-2");
}

static void test_deferred_calls_belong_to_the_innermost_frame(void **state)
{
    log_reset();
    gort_panic_info *p = gort_pcall(body_defers_in_nested_frames, NULL);
    assert_null(p);
    assert_string_equal(event_log, "body 3 2 1 inner-null outer-2 outer-1");
}

/* ---------------------------------------------------------------------
 * Panics unwind through frames
 * ------------------------------------------------------------------- */

static void body_inner_panics(void *arg)
{
    gort_defer(d_log, "inner-a");
    gort_defer(d_log, "inner-b");
    log_event("inner-body");
    gort_panicf("boom %d", 7);
}

static void body_middle(void *arg)
{
    gort_defer(d_log, "middle");
    gort_pcall(body_inner_panics, NULL);
    log_event("middle-after-pcall");
}

static void body_outer_recovers(void *arg)
{
    gort_defer(d_recover_a, "outer-recover");
    gort_pcall(body_middle, NULL);
    log_event("outer-after-pcall");
}

static void test_panic_passes_through_frames_until_a_deferred_call_recovers(void **state)
{
    log_reset();
    recovered_a = NULL;
    gort_panic_info *p = gort_pcall(body_outer_recovers, NULL);

    assert_string_equal(event_log, "inner-body inner-b inner-a middle outer-recover");
    assert_non_null(p);
    assert_ptr_equal(p, recovered_a);
    assert_string_equal(gort_panic_message(p), "boom 7");
    assert_null(gort_panic_value(p));
}

static void body_recover_then_more_defers(void *arg)
{
    gort_defer(d_log, "first-deferred");
    gort_defer(d_recover_a, "recover");
    gort_defer(d_log, "last-deferred");
    gort_panicf("stop");
}

static void test_frame_returns_normally_after_recovery_and_runs_remaining_defers(void **state)
{
    log_reset();
    recovered_a = NULL;
    gort_panic_info *p = gort_pcall(body_recover_then_more_defers, NULL);
    assert_string_equal(event_log, "last-deferred recover first-deferred");
    assert_non_null(p);
    assert_ptr_equal(p, recovered_a);
    assert_string_equal(gort_panic_message(p), "stop");

    /* The caller goes on as after a normal return: another panic in the
     * same goroutine is a new, independent one. */
    log_reset();
    recovered_a = NULL;
    gort_panic_info *q = gort_pcall(body_recover_then_more_defers, NULL);
    assert_non_null(q);
    assert_ptr_equal(q, recovered_a);
    assert_string_equal(gort_panic_message(q), "stop");
    assert_string_equal(gort_panic_message(p), "stop");
}

/* ---------------------------------------------------------------------
 * recover's rules
 * ------------------------------------------------------------------- */

static gort_panic_info *helper_got;
static int helper_calls;

/* Not a deferred call itself: its recover must return NULL. */
__attribute__((noinline, noclone)) static void recover_in_helper(void)
{
    helper_got = gort_recover();
    helper_calls++;
    __asm__ volatile("" ::: "memory");
}

static void d_calls_helper(void *arg)
{
    recover_in_helper();
    log_event("helper-deferred");
}

static void body_helper_cannot_recover(void *arg)
{
    gort_defer(d_calls_helper, NULL);
    gort_panicf("through the helper");
}

static void body_outer_of_helper(void *arg)
{
    gort_defer(d_recover_b, "outer-recover");
    gort_pcall(body_helper_cannot_recover, NULL);
    log_event("outer-after-pcall");
}

static void test_recover_in_a_helper_of_the_deferred_call_returns_null(void **state)
{
    log_reset();
    helper_got = (gort_panic_info *)1;
    helper_calls = 0;
    recovered_b = NULL;
    gort_panic_info *p = gort_pcall(body_outer_of_helper, NULL);

    assert_int_equal(helper_calls, 1);
    assert_null(helper_got);
    assert_string_equal(event_log, "helper-deferred outer-recover");
    assert_non_null(p);
    assert_ptr_equal(p, recovered_b);
    assert_string_equal(gort_panic_message(p), "through the helper");
}

static gort_panic_info *recover_calls[3];

static void d_recover_twice(void *arg)
{
    recover_calls[0] = gort_recover();
    recover_calls[1] = gort_recover();
    log_event("twice");
}

static void d_recover_late(void *arg)
{
    recover_calls[2] = gort_recover();
    log_event("late");
}

static void body_recover_twice(void *arg)
{
    gort_defer(d_recover_late, NULL);
    gort_defer(d_recover_twice, NULL);
    gort_panicf("once");
}

static gort_panic_info *body_recover_result;

static void body_recover_without_panic(void *arg)
{
    gort_defer(d_recover_a, "deferred-no-panic");
    body_recover_result = gort_recover();
    log_event("body");
}

static void test_recover_returns_null_without_a_panic_and_after_the_first_call(void **state)
{
    /* Not panicking: NULL from the body and from a deferred call. */
    assert_null(gort_recover());
    log_reset();
    recovered_a = (gort_panic_info *)1;
    body_recover_result = (gort_panic_info *)1;
    assert_null(gort_pcall(body_recover_without_panic, NULL));
    assert_null(body_recover_result);
    assert_null(recovered_a);
    assert_string_equal(event_log, "body deferred-no-panic");

    /* Panicking: the first call stops it, the second and any later
     * deferred call's get NULL. */
    log_reset();
    memset(recover_calls, 0x1, sizeof recover_calls);
    gort_panic_info *p = gort_pcall(body_recover_twice, NULL);
    assert_string_equal(event_log, "twice late");
    assert_non_null(recover_calls[0]);
    assert_null(recover_calls[1]);
    assert_null(recover_calls[2]);
    assert_ptr_equal(p, recover_calls[0]);
    assert_string_equal(gort_panic_message(p), "once");
}

/* Discards recover's result, so an optimising build may compile the call
 * as a jump: the deferred function's frame is then gone when gort_recover
 * runs, and the call must still count as direct (Go's
 * "defer func() { recover() }()"). */
static void d_recover_discarding(void *arg)
{
    gort_recover();
}

static void body_recover_discarding(void *arg)
{
    gort_defer(d_recover_discarding, NULL);
    gort_panicf("quietly");
}

static void test_recover_whose_result_is_discarded_still_stops_the_panic(void **state)
{
    gort_panic_info *p = gort_pcall(body_recover_discarding, NULL);
    assert_non_null(p);
    assert_string_equal(gort_panic_message(p), "quietly");
}

/* Calls the helper in tail position: an optimising build jumps to it, so
 * the helper runs where the deferred function's frame was. */
static void d_tail_calls_helper(void *arg)
{
    recover_in_helper();
}

static void body_tail_helper_cannot_recover(void *arg)
{
    gort_defer(d_tail_calls_helper, NULL);
    gort_panicf("through the tail-called helper");
}

static void body_outer_of_tail_helper(void *arg)
{
    gort_defer(d_recover_b, "outer-recover");
    gort_pcall(body_tail_helper_cannot_recover, NULL);
    log_event("outer-after-pcall");
}

static void test_recover_in_a_helper_tail_called_by_the_deferred_call_returns_null(void **state)
{
    log_reset();
    helper_got = (gort_panic_info *)1;
    helper_calls = 0;
    recovered_b = NULL;
    gort_panic_info *p = gort_pcall(body_outer_of_tail_helper, NULL);

    assert_int_equal(helper_calls, 1);
    assert_null(helper_got);
    assert_string_equal(event_log, "outer-recover");
    assert_non_null(p);
    assert_ptr_equal(p, recovered_b);
    assert_string_equal(gort_panic_message(p), "through the tail-called helper");
}

/* A deferred call run by a normal return is not run by the panic, even
 * while a panic is in flight: its recover gets NULL, as in Go. */
static gort_panic_info *inner_deferred_got;

static void d_inner_recover(void *arg)
{
    inner_deferred_got = gort_recover();
    log_event("inner-deferred");
}

static void body_returns_with_a_recovering_defer(void *arg)
{
    gort_defer(d_inner_recover, NULL);
}

static void d_runs_a_frame(void *arg)
{
    gort_pcall(body_returns_with_a_recovering_defer, NULL);
    log_event("d");
}

static void body_panic_with_nested_frame_in_defer(void *arg)
{
    gort_defer(d_runs_a_frame, NULL);
    gort_panicf("still going");
}

static void body_outer_of_nested_frame(void *arg)
{
    gort_defer(d_recover_a, "outer-recover");
    gort_pcall(body_panic_with_nested_frame_in_defer, NULL);
    log_event("outer-after-pcall");
}

static void test_recover_in_a_frame_nested_inside_a_deferred_call_returns_null(void **state)
{
    log_reset();
    inner_deferred_got = (gort_panic_info *)1;
    recovered_a = NULL;
    gort_panic_info *p = gort_pcall(body_outer_of_nested_frame, NULL);

    assert_null(inner_deferred_got);
    assert_string_equal(event_log, "inner-deferred d outer-recover");
    assert_non_null(p);
    assert_string_equal(gort_panic_message(p), "still going");
}

/* A deferred call may run code that panics and recovers on its own, and
 * still recover the panic that is running it afterwards. */
static gort_panic_info *nested_got, *after_nested_got;

static void d_recover_nested(void *arg)
{
    nested_got = gort_recover();
    log_event("nested-recover");
}

static void body_nested_panic(void *arg)
{
    gort_defer(d_recover_nested, NULL);
    gort_panicf("nested");
}

static void d_nested_then_recover(void *arg)
{
    gort_panic_info *q = gort_pcall(body_nested_panic, NULL);
    log_event(q != NULL ? "nested-returned" : "nested-null");
    after_nested_got = gort_recover();
    log_event("d");
}

static void body_outer_panic_with_nested(void *arg)
{
    gort_defer(d_nested_then_recover, NULL);
    gort_panicf("outer");
}

static void test_deferred_call_recovers_after_a_nested_panic_of_its_own(void **state)
{
    log_reset();
    nested_got = after_nested_got = NULL;
    gort_panic_info *p = gort_pcall(body_outer_panic_with_nested, NULL);

    assert_string_equal(event_log, "nested-recover nested-returned d");
    assert_non_null(nested_got);
    assert_string_equal(gort_panic_message(nested_got), "nested");
    assert_non_null(after_nested_got);
    assert_string_equal(gort_panic_message(after_nested_got), "outer");
    assert_ptr_equal(p, after_nested_got);
}

/* ---------------------------------------------------------------------
 * Deferred calls that defer
 * ------------------------------------------------------------------- */

static void d_defers_cleanup(void *arg)
{
    log_event("d");
    gort_defer(d_log, "cleanup");
}

static void body_defer_in_defer_normal(void *arg)
{
    gort_defer(d_log, "older");
    gort_defer(d_defers_cleanup, NULL);
    log_event("body");
}

static void test_deferred_call_may_itself_defer(void **state)
{
    /* The call deferred by a deferred call runs when that one returns,
     * before the frame's older deferred calls: Go's order for a deferred
     * closure with a defer of its own. */
    log_reset();
    assert_null(gort_pcall(body_defer_in_defer_normal, NULL));
    assert_string_equal(event_log, "body d cleanup older");

    /* The same while a panic runs the deferred calls.  In a subprocess,
     * because a runtime that gets this wrong may die of it. */
    const char *const args[] = { "deferdefer", NULL };
    gt_proc r;
    gt_run("panicking", args, NULL, HELPER_TIMEOUT, &r);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^log: d cleanup older outer-recover$"), &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^recovered: with cleanup$"), &r);
    gt_proc_free(&r);
}

static gort_panic_info *own_got;

static void d_recover_own(void *arg)
{
    own_got = gort_recover();
    log_event("own-recover");
}

/* Defers a recovering call of its own, then panics: as a Go deferred
 * function with a deferred recover, it ends normally. */
static void d_panics_and_recovers_itself(void *arg)
{
    gort_defer(d_recover_own, NULL);
    log_event("d");
    gort_panicf("inner");
}

static void body_defer_recovers_itself(void *arg)
{
    gort_defer(d_log, "older");
    gort_defer(d_panics_and_recovers_itself, NULL);
    if (arg != NULL)
        gort_panicf("%s", (const char *)arg);
    log_event("body");
}

static void body_outer_of_self_recovery(void *arg)
{
    gort_defer(d_recover_a, "outer-recover");
    gort_pcall(body_defer_recovers_itself, arg);
    log_event("outer-after-pcall");
}

static void test_deferred_call_may_recover_its_own_panic_with_its_own_defer(void **state)
{
    /* On a normal return: nothing is left of the inner panic. */
    log_reset();
    own_got = NULL;
    gort_panic_info *p = gort_pcall(body_defer_recovers_itself, NULL);
    assert_null(p);
    assert_string_equal(event_log, "body d own-recover older");
    assert_non_null(own_got);
    assert_string_equal(gort_panic_message(own_got), "inner");

    /* During a panic: the inner one is recovered where it was raised, and
     * the panic that ran the deferred call goes on to the outer frame. */
    log_reset();
    own_got = recovered_a = NULL;
    p = gort_pcall(body_outer_of_self_recovery, "outer panic");
    assert_string_equal(event_log, "d own-recover older outer-recover");
    assert_non_null(own_got);
    assert_string_equal(gort_panic_message(own_got), "inner");
    assert_non_null(p);
    assert_ptr_equal(p, recovered_a);
    assert_string_equal(gort_panic_message(p), "outer panic");
}

/* ---------------------------------------------------------------------
 * Panics raised by deferred calls
 * ------------------------------------------------------------------- */

static void d_panics_late(void *arg)
{
    log_event("d-panics");
    gort_panicf("late");
}

static void body_panics_on_return(void *arg)
{
    gort_defer(d_log, "older");
    gort_defer(d_panics_late, NULL);
    log_event("body");
}

static void body_outer_of_late_panic(void *arg)
{
    gort_defer(d_recover_a, "outer-recover");
    gort_pcall(body_panics_on_return, NULL);
    log_event("outer-after-pcall");
}

static void test_panic_in_a_deferred_call_on_normal_return_runs_the_rest(void **state)
{
    log_reset();
    recovered_a = NULL;
    gort_panic_info *p = gort_pcall(body_outer_of_late_panic, NULL);
    assert_string_equal(event_log, "body d-panics older outer-recover");
    assert_non_null(p);
    assert_ptr_equal(p, recovered_a);
    assert_string_equal(gort_panic_message(p), "late");
}

/* ---------------------------------------------------------------------
 * A panic during a panic
 * ------------------------------------------------------------------- */

static void d_panics_second(void *arg)
{
    log_event("d-panics");
    gort_panicf("second");
}

static void body_panic_in_defer(void *arg)
{
    gort_defer(d_log, "earlier-deferred");
    gort_defer(d_panics_second, NULL);
    gort_panicf("first");
}

static void body_outer_of_double(void *arg)
{
    gort_defer(d_recover_a, "outer-recover");
    gort_pcall(body_panic_in_defer, NULL);
    log_event("outer-after-pcall");
}

static void test_panic_in_a_deferred_call_replaces_the_panic_in_flight(void **state)
{
    log_reset();
    recovered_a = NULL;
    gort_panic_info *p = gort_pcall(body_outer_of_double, NULL);

    assert_string_equal(event_log, "d-panics earlier-deferred outer-recover");
    assert_non_null(p);
    assert_ptr_equal(p, recovered_a);
    assert_string_equal(gort_panic_message(p), "second");

    /* Both are over: the goroutine panics and recovers normally again. */
    log_reset();
    recovered_a = NULL;
    p = gort_pcall(body_recover_then_more_defers, NULL);
    assert_non_null(p);
    assert_string_equal(gort_panic_message(p), "stop");
}

static void d_recovers_then_panics(void *arg)
{
    recovered_b = gort_recover();
    log_event("recover-then-panic");
    gort_panicf("replacement");
}

static void body_recover_then_panic(void *arg)
{
    gort_defer(d_log, "earlier-deferred");
    gort_defer(d_recovers_then_panics, NULL);
    gort_panicf("original");
}

static void body_outer_of_replacement(void *arg)
{
    gort_defer(d_recover_a, "outer-recover");
    gort_pcall(body_recover_then_panic, NULL);
    log_event("outer-after-pcall");
}

static void test_deferred_call_that_recovers_may_panic_anew(void **state)
{
    log_reset();
    recovered_a = recovered_b = NULL;
    gort_panic_info *p = gort_pcall(body_outer_of_replacement, NULL);

    assert_string_equal(event_log, "recover-then-panic earlier-deferred outer-recover");
    assert_non_null(recovered_b);
    assert_string_equal(gort_panic_message(recovered_b), "original");
    assert_non_null(p);
    assert_ptr_equal(p, recovered_a);
    assert_string_equal(gort_panic_message(p), "replacement");
}

/* ---------------------------------------------------------------------
 * Values and messages
 * ------------------------------------------------------------------- */

static void body_panicf_format(void *arg)
{
    gort_defer(d_recover_a, NULL);
    gort_panicf("%s-%d-%05.1f-%x-%c%%", "abc", -42, 3.14159, 255u, 'z');
}

static char long_message[1500];

static void body_panicf_long(void *arg)
{
    gort_defer(d_recover_a, NULL);
    gort_panicf("%s", long_message);
}

static void test_panicf_message_is_the_formatted_text(void **state)
{
    log_reset();
    gort_panic_info *p = gort_pcall(body_panicf_format, NULL);
    assert_non_null(p);
    assert_string_equal(gort_panic_message(p), "abc--42-003.1-ff-z%");
    assert_null(gort_panic_value(p));

    for (size_t i = 0; i < sizeof long_message - 1; i++)
        long_message[i] = (char)('a' + i % 26);
    long_message[sizeof long_message - 1] = '\0';
    p = gort_pcall(body_panicf_long, NULL);
    assert_non_null(p);
    assert_string_equal(gort_panic_message(p), long_message);
}

static int panic_target;

static void body_panic_value(void *arg)
{
    gort_defer(d_recover_a, NULL);
    gort_panic(arg);
}

static void test_panic_value_round_trips_through_recover(void **state)
{
    log_reset();
    recovered_a = NULL;
    gort_panic_info *p = gort_pcall(body_panic_value, &panic_target);
    assert_non_null(p);
    assert_ptr_equal(p, recovered_a);
    assert_ptr_equal(gort_panic_value(p), &panic_target);
    const char *msg = gort_panic_message(p);
    assert_non_null(msg);
    print_message("message: %s\n", msg);
    assert_true(strncmp(msg, "(void *) 0x", 11) == 0);
    assert_true(strtoull(msg + 11, NULL, 16) == (unsigned long long)(uintptr_t)&panic_target);

    /* A NULL value is still a panic: pcall reports it. */
    recovered_a = NULL;
    p = gort_pcall(body_panic_value, NULL);
    assert_non_null(p);
    assert_ptr_equal(p, recovered_a);
    assert_null(gort_panic_value(p));
    assert_non_null(gort_panic_message(p));
}

/* ---------------------------------------------------------------------
 * Deep nesting and repetition
 * ------------------------------------------------------------------- */

#define DEPTH 100

static int depth_order_ok, depth_next;

static void d_depth(void *arg)
{
    int level = (int)(intptr_t)arg;
    if (level != depth_next)
        depth_order_ok = 0;
    depth_next--;
}

static void body_depth(void *arg)
{
    int level = (int)(intptr_t)arg;
    gort_defer(d_depth, arg);
    if (level == DEPTH - 1)
        gort_panicf("bottom");
    gort_pcall(body_depth, (void *)(intptr_t)(level + 1));
    depth_order_ok = 0;          /* never reached: the panic goes on */
}

static void body_depth_top(void *arg)
{
    gort_defer(d_recover_a, NULL);
    gort_pcall(body_depth, (void *)(intptr_t)0);
}

static void test_panic_unwinds_hundreds_of_frames(void **state)
{
    log_reset();
    depth_order_ok = 1;
    depth_next = DEPTH - 1;
    recovered_a = NULL;
    gort_panic_info *p = gort_pcall(body_depth_top, NULL);
    assert_non_null(p);
    assert_string_equal(gort_panic_message(p), "bottom");
    assert_true(depth_order_ok);
    assert_int_equal(depth_next, -1);
}

static volatile int64_t repeat_sink;

static void body_repeat(void *arg)
{
    gort_defer(d_recover_b, "");
    char scratch[512];
    memset(scratch, (int)(intptr_t)arg, sizeof scratch);
    repeat_sink += scratch[100];
    gort_panicf("round %d", (int)(intptr_t)arg);
}

static void test_many_panics_in_a_row_leave_the_goroutine_intact(void **state)
{
    volatile int64_t canary = 0x1234567890abcdefLL;
    int wrong = 0;
    for (int i = 0; i < 2000; i++) {
        gort_panic_info *p = gort_pcall(body_repeat, (void *)(intptr_t)i);
        char want[32];
        snprintf(want, sizeof want, "round %d", i);
        if (p == NULL || strcmp(gort_panic_message(p), want) != 0)
            wrong++;
    }
    assert_int_equal(wrong, 0);
    assert_true(canary == 0x1234567890abcdefLL);
}

/* ---------------------------------------------------------------------
 * Goroutines
 * ------------------------------------------------------------------- */

static struct {
    char log[128];
    gort_panic_info *recover_got[3];
    atomic_int after_goexit;
    atomic_int after_pcall;
    atomic_int done;
} gx;

static void gx_log(const char *what)
{
    size_t n = strlen(gx.log);
    snprintf(gx.log + n, sizeof gx.log - n, "%s%s", n ? " " : "", what);
}

static void gx_deferred(void *arg)
{
    int i = (int)(intptr_t)arg;
    gx.recover_got[i] = gort_recover();
    char name[8];
    snprintf(name, sizeof name, "d%d", i);
    gx_log(name);
    if (i == 0)
        atomic_store_explicit(&gx.done, 1, memory_order_release);
}

static void gx_inner(void *arg)
{
    gort_defer(gx_deferred, (void *)(intptr_t)2);
    gort_goexit();
    atomic_store(&gx.after_goexit, 1);
}

static void gx_body(void *arg)
{
    gort_defer(gx_deferred, (void *)(intptr_t)0);
    gort_defer(gx_deferred, (void *)(intptr_t)1);
    gort_pcall(gx_inner, NULL);
    atomic_store(&gx.after_pcall, 1);
}

static void test_goexit_runs_every_pending_defer_and_recover_returns_null(void **state)
{
    memset(gx.recover_got, 0x1, sizeof gx.recover_got);
    int before = gort_num_goroutine();
    assert_int_equal(gort_go(gx_body, NULL), 0);
    bool done = gt_wait_for(atomic_load_explicit(&gx.done, memory_order_acquire) != 0,
                            DONE_TIMEOUT);
    bool gone = gt_wait_for(gort_num_goroutine() <= before, DONE_TIMEOUT);

    assert_true(done);
    assert_string_equal(gx.log, "d2 d1 d0");
    for (int i = 0; i < 3; i++)
        assert_null(gx.recover_got[i]);
    assert_int_equal(atomic_load(&gx.after_goexit), 0);
    assert_int_equal(atomic_load(&gx.after_pcall), 0);
    assert_true(gone);
}

static struct {
    atomic_int deferred_ran;
    atomic_int recovered_ok;
    atomic_int after_panic;
    atomic_int alive_after;
} gb;

static void gb_log_deferred(void *arg)
{
    atomic_store(&gb.deferred_ran, 1);
}

static void gb_recover(void *arg)
{
    gort_panic_info *p = gort_recover();
    atomic_store(&gb.recovered_ok,
                 p != NULL && strcmp(gort_panic_message(p), "in a goroutine") == 0 ? 1 : 2);
}

/* A goroutine body is a protected frame: its deferred calls run when it
 * returns, and one of them may recover a panic so that the goroutine ends
 * quietly. */
static void gb_returns(void *arg)
{
    gort_defer(gb_log_deferred, NULL);
}

static void gb_panics(void *arg)
{
    gort_defer(gb_recover, NULL);
    gort_panicf("in a goroutine");
    atomic_store(&gb.after_panic, 1);
}

static void test_goroutine_body_is_a_protected_frame(void **state)
{
    assert_int_equal(gort_go(gb_returns, NULL), 0);
    assert_true(gt_wait_for(atomic_load(&gb.deferred_ran) != 0, DONE_TIMEOUT));

    assert_int_equal(gort_go(gb_panics, NULL), 0);
    assert_true(gt_wait_for(atomic_load(&gb.recovered_ok) != 0, DONE_TIMEOUT));
    assert_int_equal(atomic_load(&gb.recovered_ok), 1);
    /* The process is still here and the goroutine did not resume. */
    gort_sleep(20 * GORT_MS);
    assert_int_equal(atomic_load(&gb.after_panic), 0);
}

#define CP_GOROUTINES 64

static struct {
    long rounds;
    gort_waitgroup wg;
    atomic_long wrong;
    atomic_long total;
} cp;

static void cp_recover(void *arg)
{
    gort_panic_info **out = arg;
    *out = gort_recover();
}

static void cp_panicking(void *arg)
{
    gort_defer(cp_recover, arg);
    gort_gosched();
    gort_panicf("goroutine %" PRIu64, gort_goid());
}

static void cp_worker(void *arg)
{
    char want[48];
    snprintf(want, sizeof want, "goroutine %" PRIu64, gort_goid());
    long wrong = 0;
    for (long i = 0; i < cp.rounds; i++) {
        gort_panic_info *got = NULL;
        gort_panic_info *p = gort_pcall(cp_panicking, &got);
        if (p == NULL || p != got || strcmp(gort_panic_message(p), want) != 0)
            wrong++;
    }
    atomic_fetch_add(&cp.wrong, wrong);
    atomic_fetch_add(&cp.total, cp.rounds);
    gort_waitgroup_done(&cp.wg);
}

static void test_concurrent_panics_in_many_goroutines_stay_separate(void **state)
{
    gort_gomaxprocs(4);
    cp.rounds = gt_scale(500);
    cp.wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&cp.wg, CP_GOROUTINES);
    int failures = 0;
    for (int i = 0; i < CP_GOROUTINES; i++)
        failures += gort_go(cp_worker, NULL) != 0;
    bool done = gt_wg_wait_timeout(&cp.wg, gt_slow(30 * GORT_S));
    assert_int_equal(failures, 0);
    assert_true(done);
    assert_int_equal(atomic_load(&cp.total), CP_GOROUTINES * cp.rounds);
    assert_int_equal(atomic_load(&cp.wrong), 0);
}

static struct {
    char log[128];
    char recovered_msg[64];
    atomic_int after_goexit;
    atomic_int done;
} gr;

static void gr_log(const char *what)
{
    size_t n = strlen(gr.log);
    snprintf(gr.log + n, sizeof gr.log - n, "%s%s", n ? " " : "", what);
}

static void gr_last(void *arg)
{
    gr_log("A");
    atomic_store_explicit(&gr.done, 1, memory_order_release);
}

static void gr_recover(void *arg)
{
    gort_panic_info *p = gort_recover();
    snprintf(gr.recovered_msg, sizeof gr.recovered_msg, "%s",
             p != NULL ? gort_panic_message(p) : "(null)");
    gr_log("R");
}

static void gr_panics(void *arg)
{
    gr_log("P");
    gort_panicf("during goexit");
}

static void gr_body(void *arg)
{
    gort_defer(gr_last, NULL);
    gort_defer(gr_recover, NULL);
    gort_defer(gr_panics, NULL);
    gort_goexit();
    atomic_store(&gr.after_goexit, 1);
}

static void test_recovering_a_panic_raised_during_goexit_does_not_cancel_the_exit(void **state)
{
    int before = gort_num_goroutine();
    assert_int_equal(gort_go(gr_body, NULL), 0);
    bool done = gt_wait_for(atomic_load_explicit(&gr.done, memory_order_acquire) != 0,
                            DONE_TIMEOUT);
    bool gone = gt_wait_for(gort_num_goroutine() <= before, DONE_TIMEOUT);

    assert_true(done);
    assert_string_equal(gr.log, "P R A");
    assert_string_equal(gr.recovered_msg, "during goexit");
    assert_int_equal(atomic_load(&gr.after_goexit), 0);
    assert_true(gone);
}

static void op_pcall_null(void *arg)
{
    gort_pcall(NULL, arg);
}

static void op_defer_null(void *arg)
{
    gort_defer(NULL, arg);
}

static const char *caught_message;

static void d_catch(void *arg)
{
    gort_panic_info *p = gort_recover();
    caught_message = p != NULL ? gort_panic_message(p) : NULL;
}

static void body_catch(void *arg)
{
    gort_defer(d_catch, NULL);
    ((gort_fn)arg)(NULL);
}

static void test_null_functions_panic(void **state)
{
    caught_message = NULL;
    gort_panic_info *p = gort_pcall(body_catch, (void *)op_pcall_null);
    assert_non_null(p);
    assert_non_null(caught_message);
    print_message("gort_pcall(NULL): %s\n", caught_message);

    caught_message = NULL;
    p = gort_pcall(body_catch, (void *)op_defer_null);
    assert_non_null(p);
    assert_non_null(caught_message);
    print_message("gort_defer(NULL): %s\n", caught_message);
}

/* ---------------------------------------------------------------------
 * Unrecovered panics (subprocess)
 * ------------------------------------------------------------------- */

/* r's stderr begins with want (a literal), or else the test prints r. */
static bool starts_with(const gt_proc *r, const char *want)
{
    return strncmp(r->err, want, strlen(want)) == 0;
}

static void test_unrecovered_panic_prints_report_and_exits_2(void **state)
{
    const char *const args[] = { "main", NULL };
    gt_proc r;
    gt_run("panicking", args, NULL, HELPER_TIMEOUT, &r);

    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(starts_with(&r, "panic: boom\n\ngoroutine 1 [running]:\n"), &r);
    /* Deferred calls ran before the report; code after the panic did not. */
    GT_ASSERT_PROC(gt_matches(r.out, "^deferred ran$"), &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "after panic"), &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "gort_main returned"), &r);
    gt_proc_free(&r);
}

static void test_unrecovered_panic_in_a_goroutine_names_that_goroutine(void **state)
{
    const char *const args[] = { "goroutine", NULL };
    gt_proc r;
    gt_run("panicking", args, NULL, HELPER_TIMEOUT, &r);

    regmatch_t m[2];
    bool have_goid = gt_regex_search(r.out, "^panicking goroutine ([0-9]+)$", m, 2);
    long long goid = have_goid ? gt_submatch_ll(r.out, m[1]) : -1;
    char want[96];
    snprintf(want, sizeof want, "panic: boom in goroutine\n\ngoroutine %lld [running]:\n", goid);
    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(have_goid && goid > 1, &r);
    GT_ASSERT_PROC(starts_with(&r, want), &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "main survived"), &r);
    gt_proc_free(&r);
}

static void test_panic_during_panic_prints_both_earlier_first(void **state)
{
    const char *const args[] = { "nested", NULL };
    gt_proc r;
    gt_run("panicking", args, NULL, HELPER_TIMEOUT, &r);

    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(starts_with(&r, "panic: first\n\tpanic: second\n\ngoroutine 1 [running]:\n"), &r);
    gt_proc_free(&r);
}

static void test_panic_after_recover_in_the_same_deferred_call_marks_the_first_recovered(void **state)
{
    const char *const args[] = { "recovered", NULL };
    gt_proc r;
    gt_run("panicking", args, NULL, HELPER_TIMEOUT, &r);

    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(starts_with(&r, "panic: first [recovered]\n\tpanic: second\n\n"
                                   "goroutine 1 [running]:\n"), &r);
    gt_proc_free(&r);
}

static void test_three_nested_panics_print_oldest_first(void **state)
{
    const char *const args[] = { "triple", NULL };
    gt_proc r;
    gt_run("panicking", args, NULL, HELPER_TIMEOUT, &r);

    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(starts_with(&r, "panic: first\n\tpanic: second\n\tpanic: third\n\n"
                                   "goroutine 1 [running]:\n"), &r);
    gt_proc_free(&r);
}

static void test_unrecovered_panic_during_goexit_prints_only_the_panic(void **state)
{
    const char *const args[] = { "goexit", NULL };
    gt_proc r;
    gt_run("panicking", args, NULL, HELPER_TIMEOUT, &r);

    regmatch_t m[2];
    bool have_goid = gt_regex_search(r.out, "^exiting goroutine ([0-9]+)$", m, 2);
    long long goid = have_goid ? gt_submatch_ll(r.out, m[1]) : -1;
    char want[96];
    snprintf(want, sizeof want, "panic: boom during goexit\n\ngoroutine %lld [running]:\n", goid);
    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(have_goid, &r);
    GT_ASSERT_PROC(starts_with(&r, want), &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "main survived"), &r);
    gt_proc_free(&r);
}

static void test_unrecovered_panic_of_a_blocked_sender_on_close(void **state)
{
    const char *const args[] = { "closed", NULL };
    gt_proc r;
    gt_run("panicking", args, NULL, HELPER_TIMEOUT, &r);

    regmatch_t m[2];
    bool have_goid = gt_regex_search(r.out, "^sender goroutine ([0-9]+)$", m, 2);
    long long goid = have_goid ? gt_submatch_ll(r.out, m[1]) : -1;
    char want[96];
    snprintf(want, sizeof want, "panic: send on closed channel\n\ngoroutine %lld [running]:\n",
             goid);
    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^sender parked$"), &r);
    GT_ASSERT_PROC(have_goid, &r);
    GT_ASSERT_PROC(starts_with(&r, want), &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "send returned"), &r);
    gt_proc_free(&r);
}

static void test_unrecovered_panic_value_prints_the_pointer(void **state)
{
    const char *const args[] = { "value", NULL };
    gt_proc r;
    gt_run("panicking", args, NULL, HELPER_TIMEOUT, &r);

    regmatch_t m[2], e[2];
    bool have = gt_regex_search(r.out, "^value 0x([0-9a-f]+)$", m, 2);
    bool printed = gt_regex_search(r.err, "^panic: \\(void \\*\\) 0x([0-9a-f]+)\n\n"
                                   "goroutine 1 \\[running\\]:$", e, 2);
    unsigned long long want = have ? strtoull(r.out + m[1].rm_so, NULL, 16) : 0;
    unsigned long long got = printed ? strtoull(r.err + e[1].rm_so, NULL, 16) : 1;
    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(have, &r);
    GT_ASSERT_PROC(printed && e[0].rm_so == 0, &r);
    GT_ASSERT_PROC(got == want, &r);
    gt_proc_free(&r);
}

/* ---------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, gt_save_knobs, gt_restore_knobs)

static void run_all(void *arg)
{
    const struct CMUnitTest tests[] = {
        T(test_pcall_returns_null_and_runs_defers_lifo_on_normal_return),
        T(test_deferred_calls_belong_to_the_innermost_frame),
        T(test_panic_passes_through_frames_until_a_deferred_call_recovers),
        T(test_frame_returns_normally_after_recovery_and_runs_remaining_defers),
        T(test_recover_in_a_helper_of_the_deferred_call_returns_null),
        T(test_recover_returns_null_without_a_panic_and_after_the_first_call),
        T(test_recover_whose_result_is_discarded_still_stops_the_panic),
        T(test_recover_in_a_helper_tail_called_by_the_deferred_call_returns_null),
        T(test_recover_in_a_frame_nested_inside_a_deferred_call_returns_null),
        T(test_deferred_call_recovers_after_a_nested_panic_of_its_own),
        T(test_deferred_call_may_itself_defer),
        T(test_deferred_call_may_recover_its_own_panic_with_its_own_defer),
        T(test_panic_in_a_deferred_call_on_normal_return_runs_the_rest),
        T(test_panic_in_a_deferred_call_replaces_the_panic_in_flight),
        T(test_deferred_call_that_recovers_may_panic_anew),
        T(test_panicf_message_is_the_formatted_text),
        T(test_panic_value_round_trips_through_recover),
        T(test_panic_unwinds_hundreds_of_frames),
        T(test_many_panics_in_a_row_leave_the_goroutine_intact),
        T(test_goexit_runs_every_pending_defer_and_recover_returns_null),
        T(test_goroutine_body_is_a_protected_frame),
        T(test_recovering_a_panic_raised_during_goexit_does_not_cancel_the_exit),
        T(test_null_functions_panic),
        T(test_concurrent_panics_in_many_goroutines_stay_separate),
        T(test_unrecovered_panic_prints_report_and_exits_2),
        T(test_unrecovered_panic_in_a_goroutine_names_that_goroutine),
        T(test_panic_during_panic_prints_both_earlier_first),
        T(test_panic_after_recover_in_the_same_deferred_call_marks_the_first_recovered),
        T(test_three_nested_panics_print_oldest_first),
        T(test_unrecovered_panic_during_goexit_prints_only_the_panic),
        T(test_unrecovered_panic_of_a_blocked_sender_on_close),
        T(test_unrecovered_panic_value_prints_the_pointer),
    };
    /* cmocka keeps its state in thread-local variables: the goroutine that
     * runs the group must not move to another thread. */
    gort_lock_os_thread();
    gt_select_tests();
    *(int *)arg = cmocka_run_group_tests(tests, NULL, NULL);
    gort_unlock_os_thread();
}

int main(void)
{
    return gt_main("test_panic", run_all);
}
