/*
 * test_stack.c - goroutine stacks: the default and custom reservations are
 * usable to their size, stacks are pooled and give their touched pages
 * back, overflows of guarded and of slab (canary-checked) stacks die with
 * Go's message, the goroutine limit is an error for gort_go, and a million
 * parked goroutines fit in a default-configured host.
 *
 * Overflows kill the process, so they run in the helper program
 * tests/progs/overflow.c (see there).  Everything else runs in-process on
 * the main goroutine; see testutil.h for the rules.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>

#include "testutil.h"
#include "testing.h"

#define KIB ((size_t)1024)
#define MIB (1024 * KIB)

static int saved_gomaxprocs;

static int save_limits(void **state)
{
    saved_gomaxprocs = gort_gomaxprocs(0);
    return 0;
}

static int restore_limits(void **state)
{
    gort_set_max_goroutines(0);
    if (gort_gomaxprocs(0) != saved_gomaxprocs)
        gort_gomaxprocs(saved_gomaxprocs);
    return 0;
}

/* Wait until the main goroutine is the only one left, so that stack
 * statistics do not move under a test's feet. */
static bool quiesce(void)
{
    bool alone = gt_wait_for(gort_num_goroutine() == 1, gt_slow(10 * GORT_S));
    gort_sleep(10 * GORT_MS);
    return alone;
}

/* ---------------------------------------------------------------------
 * Using a known amount of stack
 * ------------------------------------------------------------------- */

/* A goroutine that uses `bytes` of its stack and, if park is set, parks at
 * the deepest point until gate opens. */
struct deep {
    size_t bytes;
    bool park;
    gort_waitgroup *gate;
    atomic_int at_bottom;
    atomic_int done;
    atomic_uint sum;
};

/*
 * Recurse with 4 KiB frames, every byte written, until `bytes` of stack
 * below top are in use.  Not instrumented by ASan, so that frames are real
 * frames of a known size on the goroutine's stack.
 */
static GT_NO_ASAN __attribute__((noinline)) unsigned
use_stack(uintptr_t top, struct deep *d)
{
    volatile char frame[4096];
    for (size_t i = 0; i < sizeof frame; i++)
        frame[i] = (char)i;
    uintptr_t here = (uintptr_t)&frame[0];
    unsigned sum = (unsigned char)frame[100];
    if (top - here + sizeof frame < d->bytes) {
        sum += use_stack(top, d);
    } else {
        atomic_store(&d->at_bottom, 1);
        if (d->park)
            gort_waitgroup_wait(d->gate);
    }
    return sum + (unsigned char)frame[4000];
}

static GT_NO_ASAN void deep_main(void *arg)
{
    struct deep *d = arg;
    volatile char top = 0;
    unsigned sum = use_stack((uintptr_t)&top, d);
    atomic_store(&d->sum, sum + (unsigned char)top);
    atomic_store(&d->done, 1);
}

static struct deep dd;
static gort_waitgroup dd_gate;

static void test_default_stack_is_256k_and_usable(void **state)
{
    if (getenv("GORT_STACK_SIZE") != NULL) {
        print_message("skipped: GORT_STACK_SIZE is set\n");
        skip();
    }
    assert_true(quiesce());
    gort_stack_stats s0, s1;
    gort_read_stack_stats(&s0);

    dd_gate = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&dd_gate, 1);
    dd = (struct deep){ .bytes = 200 * KIB, .park = true, .gate = &dd_gate };
    int rc = gort_go(deep_main, &dd);
    bool bottom = gt_wait_for(atomic_load(&dd.at_bottom) != 0, gt_slow(10 * GORT_S));
    gort_sleep(10 * GORT_MS);
    gort_read_stack_stats(&s1);
    gort_waitgroup_done(&dd_gate);
    bool done = gt_wait_for(atomic_load(&dd.done) != 0, gt_slow(10 * GORT_S));

    print_message("one parked default goroutine: inuse_bytes +%" PRIu64
                  ", guarded +%" PRIu64 ", slab +%" PRIu64 "\n",
                  s1.inuse_bytes - s0.inuse_bytes, s1.guarded_inuse - s0.guarded_inuse,
                  s1.slab_inuse - s0.slab_inuse);
    assert_int_equal(rc, 0);
    assert_true(bottom);
    assert_true(done);
    assert_true(s1.inuse_bytes - s0.inuse_bytes >= 256 * KIB);
    assert_true(s1.inuse_bytes - s0.inuse_bytes <= 256 * KIB + 8 * KIB);
    assert_int_equal(s1.custom_inuse, s0.custom_inuse);
    assert_int_equal((s1.guarded_inuse + s1.slab_inuse) - (s0.guarded_inuse + s0.slab_inuse), 1);
}

static void test_custom_stack_size(void **state)
{
    assert_true(quiesce());
    gort_stack_stats s0, s1;
    gort_read_stack_stats(&s0);

    dd_gate = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&dd_gate, 1);
    dd = (struct deep){ .bytes = 900 * KIB, .park = true, .gate = &dd_gate };
    gort_go_opts o = { .stack_size = MIB };
    int rc = gort_go_with(deep_main, &dd, &o);
    bool bottom = gt_wait_for(atomic_load(&dd.at_bottom) != 0, gt_slow(10 * GORT_S));
    gort_sleep(10 * GORT_MS);
    gort_read_stack_stats(&s1);
    gort_waitgroup_done(&dd_gate);
    bool done = gt_wait_for(atomic_load(&dd.done) != 0, gt_slow(10 * GORT_S));

    assert_int_equal(rc, 0);
    assert_true(bottom);
    assert_true(done);
    assert_int_equal(s1.custom_inuse - s0.custom_inuse, 1);
    assert_true(s1.inuse_bytes - s0.inuse_bytes >= MIB);
    assert_true(s1.inuse_bytes - s0.inuse_bytes <= MIB + 8 * KIB);
}

/* ---------------------------------------------------------------------
 * Pooling
 * ------------------------------------------------------------------- */

#define POOL_BATCHES 100
#define POOL_BATCH 100

static atomic_long pool_ran;

static void pool_child(void *arg)
{
    atomic_fetch_add(&pool_ran, 1);
}

static void test_stack_pool_reuses_stacks(void **state)
{
    assert_true(quiesce());
    gort_stack_stats s0, s1;
    gort_read_stack_stats(&s0);
    int failures = 0;
    bool all = true;
    for (long b = 0; b < POOL_BATCHES && all; b++) {
        for (int i = 0; i < POOL_BATCH; i++)
            failures += gort_go(pool_child, NULL) != 0;
        all = gt_wait_for(atomic_load(&pool_ran) == (b + 1) * POOL_BATCH - failures,
                          gt_slow(10 * GORT_S));
    }
    assert_true(quiesce());
    gort_read_stack_stats(&s1);

    long long growth = (long long)(s1.sys_bytes - s0.sys_bytes);
    print_message("%d goroutines in batches of %d: stack sys_bytes %" PRIu64
                  " -> %" PRIu64 " (%+lld MiB), cached %" PRIu64 "\n",
                  POOL_BATCHES * POOL_BATCH, POOL_BATCH, s0.sys_bytes, s1.sys_bytes,
                  growth / (long long)MIB, s1.cached);
    assert_int_equal(failures, 0);
    assert_true(all);
    assert_int_equal(atomic_load(&pool_ran), POOL_BATCHES * POOL_BATCH);
    /* Without reuse this would be 10,000 x 256 KiB = 2.5 GiB. */
    assert_true(growth < (long long)(128 * MIB));
}

#define TOUCH_N 1000

static struct deep touch[TOUCH_N];
static gort_waitgroup touch_gate;

/*
 * A finished goroutine's stack may stay hot in a per-P cache, but the
 * pages of the rest go back to the kernel: what stays resident afterwards
 * is bounded by the caches (two Ps here), not by how many goroutines ran.
 */
static void test_finished_goroutines_give_back_touched_stack_pages(void **state)
{
    if (GT_TSAN) {
        print_message("skipped: TSan's shadow memory hides the release\n");
        skip();
    }
    gort_gomaxprocs(2);
    assert_true(quiesce());
    touch_gate = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&touch_gate, 1);
    long long rss0 = gt_rss_bytes();
    int failures = 0;
    for (int i = 0; i < TOUCH_N; i++) {
        touch[i] = (struct deep){ .bytes = 192 * KIB, .park = true, .gate = &touch_gate };
        failures += gort_go(deep_main, &touch[i]) != 0;
    }
    bool parked = true;
    for (int i = 0; i < TOUCH_N && parked; i++)
        parked = gt_wait_for(atomic_load(&touch[i].at_bottom) != 0, gt_slow(10 * GORT_S));
    long long rss_peak = gt_rss_bytes();
    gort_waitgroup_done(&touch_gate);
    bool done = true;
    for (int i = 0; i < TOUCH_N && done; i++)
        done = gt_wait_for(atomic_load(&touch[i].done) != 0, gt_slow(10 * GORT_S));
    bool alone = quiesce();
    long long rss_after = gt_rss_bytes();

    print_message("RSS: %lld MiB before, %lld MiB with %d goroutines 192 KiB deep, "
                  "%lld MiB after they ended\n", rss0 / (long long)MIB,
                  rss_peak / (long long)MIB, TOUCH_N, rss_after / (long long)MIB);
    assert_int_equal(failures, 0);
    assert_true(parked);
    assert_true(done);
    assert_true(alone);
    /* They did touch their stacks ... */
    assert_true(rss_peak - rss0 >= (long long)(TOUCH_N * 150 * KIB));
    /* ... and most of it went back to the kernel when they ended. */
    assert_true((rss_after - rss0) * 4 < rss_peak - rss0);
}

#define BURST_N 80000

static gort_waitgroup burst_gate, burst_done;

static void burst_g(void *arg)
{
    gort_waitgroup_wait(&burst_gate);
    gort_waitgroup_done(&burst_done);
}

/*
 * Dead goroutines keep their stacks for reuse, up to a cap.  After a burst
 * of exits well beyond it, the stacks over the cap go back to the kernel
 * soon afterwards without anyone asking: what stays resident is bounded by
 * the cap, not by the size of the burst.
 */
static void test_stacks_beyond_the_dead_goroutine_cache_go_back_after_a_burst(void **state)
{
    if (GT_TSAN || GT_ASAN) {
        /* The sanitizers' own memory hides the release: under ASan RSS
         * even grows after the goroutines end (675 -> 795 MiB). */
        print_message("skipped: the sanitizer's own memory hides the release\n");
        skip();
    }
    gort_gomaxprocs(2);
    assert_true(quiesce());
    burst_gate = (gort_waitgroup)GORT_WAITGROUP_INIT;
    burst_done = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&burst_gate, 1);
    gort_waitgroup_add(&burst_done, BURST_N);
    long long rss0 = gt_rss_bytes();
    int failures = 0;
    for (int i = 0; i < BURST_N; i++)
        failures += gort_go(burst_g, NULL) != 0;
    assert_int_equal(failures, 0);
    long long rss_peak = gt_rss_bytes();
    gort_waitgroup_done(&burst_gate);
    gort_waitgroup_wait(&burst_done);
    bool alone = quiesce();
    long long rss_after = 0;
    int64_t t0 = gort_nanotime();
    bool dropped = gt_wait_for((rss_after = gt_rss_bytes()) - rss0 < (rss_peak - rss0) / 3,
                               gt_slow(20 * GORT_S));
    print_message("RSS: %lld MiB before, %lld MiB with %d goroutines parked, %lld MiB "
                  "%.1f s after they ended\n", rss0 / (long long)MIB, rss_peak / (long long)MIB,
                  BURST_N, rss_after / (long long)MIB, (double)(gort_nanotime() - t0) / 1e9);
    assert_true(alone);
    /* Every parked goroutine's stack top is resident ... */
    assert_true(rss_peak - rss0 >= (long long)(BURST_N * 4 * KIB));
    /* ... and most of them went back: 16384 cached stacks are a fifth of
     * the burst. */
    assert_true(dropped);
}

/* ---------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------- */

static gort_waitgroup limit_gate;
static atomic_int limit_done;

static void limit_child(void *arg)
{
    gort_waitgroup_wait(&limit_gate);
    atomic_fetch_add(&limit_done, 1);
}

static void test_gort_go_reports_exhaustion(void **state)
{
    assert_true(quiesce());
    limit_gate = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&limit_gate, 1);
    int n0 = gort_num_goroutine();
    int64_t prev = gort_set_max_goroutines(n0 + 10);

    int ok = 0, rc = 0;
    for (int i = 0; i < 20; i++) {
        rc = gort_go(limit_child, NULL);
        if (rc != 0)
            break;
        ok++;
    }
    int count_at_limit = gort_num_goroutine();
    int64_t limit = gort_set_max_goroutines(0);
    int rc_after = gort_go(limit_child, NULL);
    gort_waitgroup_done(&limit_gate);
    bool done = gt_wait_for(atomic_load(&limit_done) == ok + (rc_after == 0),
                            gt_slow(10 * GORT_S));

    assert_int_equal(prev, 0);
    assert_int_equal(ok, 10);
    assert_int_equal(rc, -EAGAIN);
    assert_int_equal(count_at_limit, n0 + 10);
    assert_int_equal(limit, n0 + 10);
    assert_int_equal(rc_after, 0);
    assert_true(done);
    const char *msg = gort_strerror(-EAGAIN);
    assert_non_null(msg);
    assert_true(msg[0] != '\0');
}

/* ---------------------------------------------------------------------
 * Overflow (subprocess)
 * ------------------------------------------------------------------- */

/* The overflowing goroutine's id, as the helper announced it. */
static long long announced_goid(const gt_proc *r)
{
    regmatch_t m[2];
    if (!gt_regex_search(r->err, "^overflowing goroutine ([0-9]+)$", m, 2))
        return -1;
    return gt_submatch_ll(r->err, m[1]);
}

static long long reported_goid(const gt_proc *r)
{
    regmatch_t m[2];
    if (!gt_regex_search(r->err, "fatal error: stack overflow in goroutine ([0-9]+)", m, 2))
        return -2;
    return gt_submatch_ll(r->err, m[1]);
}

static void test_stack_overflow_message(void **state)
{
    gt_proc r;
    gt_run("overflow", NULL, NULL, gt_slow(30 * GORT_S), &r);

    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "fatal error: stack overflow in goroutine [0-9]+"), &r);
    GT_ASSERT_PROC(reported_goid(&r) == announced_goid(&r), &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "^survived$"), &r);
    gt_proc_free(&r);
}

static void test_slab_stack_overflow_detected(void **state)
{
    const char *const env[] = { "GORT_GUARDED_STACKS=0", NULL };
    gt_proc r;
    gt_run("overflow", NULL, env, gt_slow(30 * GORT_S), &r);

    /* A slab stack has no guard page: the overflow tramples the stack
     * next to it before the canary check catches it.  Another thread that
     * faults on the trampled stack while the report is being written waits
     * for the reporting thread in the runtime's signal handler; under TSan
     * the sanitizer's own handler gets the fault first and exits 66 after
     * the report.  Either way the report names the overflowing goroutine. */
    bool exited_ok = gt_exited_with(&r, 2);
#if GORT_TSAN
    exited_ok = exited_ok || (gt_exited_with(&r, 66) &&
                              gt_matches(r.err, "^ThreadSanitizer:DEADLYSIGNAL$"));
#endif
    GT_ASSERT_PROC(exited_ok, &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^guarded_budget=0 guarded_inuse=0 slab_inuse=[1-9][0-9]*$"), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "fatal error: stack overflow in goroutine [0-9]+"), &r);
    GT_ASSERT_PROC(reported_goid(&r) == announced_goid(&r), &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "^survived$"), &r);
    gt_proc_free(&r);
}

static void test_stack_size_env_sets_default_reservation(void **state)
{
    const char *const env[] = { "GORT_STACK_SIZE=1MiB", NULL };
    gt_proc r;
    gt_run("overflow", NULL, env, gt_slow(30 * GORT_S), &r);

    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^survived$"), &r);
    GT_ASSERT_PROC(!gt_matches(r.err, "fatal error"), &r);
    gt_proc_free(&r);
}

/* ---------------------------------------------------------------------
 * A million parked goroutines
 * ------------------------------------------------------------------- */

#define MILLION 1000000L

static gort_waitgroup mp_started, mp_gate, mp_finished;

static void mp_child(void *arg)
{
    gort_waitgroup_done(&mp_started);
    gort_waitgroup_wait(&mp_gate);
    gort_waitgroup_done(&mp_finished);
}

static void test_million_parked_goroutines(void **state)
{
    if (GT_SANITIZED) {
        print_message("skipped: plain build only\n");
        skip();
    }
    assert_true(quiesce());
    mp_started = (gort_waitgroup)GORT_WAITGROUP_INIT;
    mp_gate = (gort_waitgroup)GORT_WAITGROUP_INIT;
    mp_finished = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&mp_gate, 1);
    gort_waitgroup_add(&mp_started, MILLION);
    gort_waitgroup_add(&mp_finished, MILLION);
    long long rss0 = gt_rss_bytes();
    int64_t t0 = gort_nanotime();

    long spawned = 0;
    int rc = 0;
    for (; spawned < MILLION; spawned++) {
        rc = gort_go(mp_child, NULL);
        if (rc != 0)
            break;
    }
    if (spawned < MILLION) {
        /* Let the ones that exist finish before failing. */
        gort_waitgroup_add(&mp_started, -(MILLION - spawned));
        gort_waitgroup_add(&mp_finished, -(MILLION - spawned));
    }
    bool started = gt_wg_wait_timeout(&mp_started, 120 * GORT_S);
    int64_t t1 = gort_nanotime();

    int num = gort_num_goroutine();
    gort_stack_stats ss;
    gort_read_stack_stats(&ss);
    long long rss1 = gt_rss_bytes();
    char *mmc = gt_read_file("/proc/sys/vm/max_map_count");
    long max_maps = mmc ? strtol(mmc, NULL, 10) : -1;
    free(mmc);
    long maps = gt_count_file_lines("/proc/self/maps");

    gort_waitgroup_done(&mp_gate);
    bool finished = gt_wg_wait_timeout(&mp_finished, 120 * GORT_S);
    int64_t t2 = gort_nanotime();

    print_message("%ld goroutines parked in %.2f s, ended in %.2f s; RSS +%lld MiB "
                  "(%lld bytes per goroutine); stacks guarded %" PRIu64 " (budget %"
                  PRIu64 ") slab %" PRIu64 "; %ld maps of %ld allowed\n",
                  spawned, (t1 - t0) / 1e9, (t2 - t1) / 1e9,
                  (rss1 - rss0) / (long long)MIB,
                  spawned ? (rss1 - rss0) / spawned : 0, ss.guarded_inuse,
                  ss.guarded_budget, ss.slab_inuse, maps, max_maps);
    if (rc != 0)
        print_message("gort_go failed after %ld: %s\n", spawned, gort_strerror(rc));
    assert_int_equal(rc, 0);
    assert_int_equal(spawned, MILLION);
    assert_true(started);
    assert_true(num >= MILLION);
    assert_true(ss.guarded_inuse + ss.slab_inuse >= (uint64_t)MILLION);
    assert_true(ss.guarded_budget < (uint64_t)MILLION);
    assert_true(ss.slab_inuse > 0);
    assert_true(max_maps > 0);
    assert_true(maps > 0);
    assert_true(maps < max_maps);
    assert_true(finished);
}

/* ---------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, save_limits, restore_limits)

static void run_all(void *arg)
{
    const struct CMUnitTest tests[] = {
        T(test_default_stack_is_256k_and_usable),
        T(test_custom_stack_size),
        T(test_stack_pool_reuses_stacks),
        T(test_finished_goroutines_give_back_touched_stack_pages),
        T(test_stacks_beyond_the_dead_goroutine_cache_go_back_after_a_burst),
        T(test_gort_go_reports_exhaustion),
        T(test_stack_overflow_message),
        T(test_slab_stack_overflow_detected),
        T(test_stack_size_env_sets_default_reservation),
        /* Last: leaves a million stacks in the pools. */
        T(test_million_parked_goroutines),
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
    return gt_main("test_stack", run_all);
}
