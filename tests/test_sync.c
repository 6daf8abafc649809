/*
 * test_sync.c - the sync primitives as a program sees them, checked against
 * Go's package sync and golang.org/x/sync/semaphore: Mutex (exclusion,
 * TryLock, parking, starvation mode, never blocking the thread), RWMutex
 * (shared readers, exclusive writers, a waiting writer keeps new readers
 * out), Once (exactly once, callers wait, a panicking or exiting fn counts
 * as done), Cond (signal wakes the oldest waiter, broadcast wakes every
 * earlier waiter, a signal nobody waits for is lost, no lost wake-ups), the
 * weighted semaphore (arrival order, try, deadlines, a timed-out head lets
 * the others through, units conserved), WaitGroup's negative-counter panic,
 * and the misuses that are fatal errors (helper program
 * tests/progs/syncmisuse.c, run in a subprocess).
 *
 * Arrival order is made deterministic by starting waiters one at a time
 * and waiting until a hook of runtime/testing.h counts each as queued (a
 * waiter is counted before it parks, and the count is what wake-ups
 * follow).
 *
 * Every test body runs on the main goroutine; see testutil.h for the rules
 * the tests follow.  Each test runs between gt_save_knobs and gt_restore_knobs,
 * which put GOMAXPROCS back even when the test fails.  Timed assertions
 * are one-sided or have seconds of slack: the host's timers have overshot
 * by hundreds of milliseconds under load.
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

#include "testutil.h"
#include "testing.h"

/* How long a waiter may take to queue, or a test to finish. */
#define PARK_TIMEOUT gt_slow(5 * GORT_S)
#define DONE_TIMEOUT gt_slow(30 * GORT_S)
/* How late a deadline may be honoured. */
#define DEADLINE_SLACK gt_slow(2 * GORT_S)
#define HELPER_TIMEOUT gt_slow(30 * GORT_S)
/* How long to watch for something that must not happen. */
#define QUIET_NS (30 * GORT_MS)


/* ---------------------------------------------------------------------
 * Helpers: spawning, caught panics, randomness, busy waiting
 * ------------------------------------------------------------------- */

/* Start n goroutines fn(arg); the number that failed to start. */
static int spawn(gort_fn fn, void *arg, int n)
{
    int failures = 0;
    for (int i = 0; i < n; i++)
        failures += gort_go(fn, arg) != 0;
    return failures;
}

/* Run op(arg) in a protected frame whose deferred call recovers.  Returns
 * the message of the panic it raised, or NULL when it returned normally.
 * The message is copied into buf. */
struct catch_ctx {
    gort_fn op;
    void *arg;
    gort_panic_info *recovered;
};

static void catch_recover(void *arg)
{
    struct catch_ctx *cc = arg;
    cc->recovered = gort_recover();
}

static void catch_body(void *arg)
{
    struct catch_ctx *cc = arg;
    gort_defer(catch_recover, cc);
    cc->op(cc->arg);
}

static const char *panic_of(gort_fn op, void *arg, char *buf, size_t size)
{
    struct catch_ctx cc = { .op = op, .arg = arg };
    gort_panic_info *p = gort_pcall(catch_body, &cc);
    if (p == NULL)
        return NULL;
    const char *msg = p == cc.recovered ? gort_panic_message(p) : "(not the recovered panic)";
    snprintf(buf, size, "%s", msg != NULL ? msg : "(NULL message)");
    return buf;
}

/* A small per-goroutine random number generator (xorshift64). */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Busy-wait without a runtime call: nothing can deschedule the caller
 * except the OS. */
static void spin_ns(int64_t ns)
{
    int64_t until = gt_mono_ns() + ns;
    while (gt_mono_ns() < until) {
    }
}

/* ---------------------------------------------------------------------
 * Mutex
 * ------------------------------------------------------------------- */

#define MX_WORKERS 8

static struct {
    gort_mutex m;
    long counter;             /* plain on purpose: only touched under m */
    atomic_int inside;
    atomic_int overlaps;
    long iters;
    gort_waitgroup wg;
} mx;

static void mx_worker(void *arg)
{
    for (long i = 0; i < mx.iters; i++) {
        gort_mutex_lock(&mx.m);
        if (atomic_fetch_add(&mx.inside, 1) != 0)
            atomic_fetch_add(&mx.overlaps, 1);
        mx.counter++;
        /* Now and then give up the P while holding the lock, so that the
         * others find it held by a goroutine that is not running. */
        if (i % 64 == 0)
            gort_gosched();
        atomic_fetch_sub(&mx.inside, 1);
        gort_mutex_unlock(&mx.m);
    }
    gort_waitgroup_done(&mx.wg);
}

static void test_mutex_excludes_concurrent_incrementers(void **state)
{
    gort_gomaxprocs(2);
    mx.m = (gort_mutex)GORT_MUTEX_INIT;
    mx.counter = 0;
    mx.iters = gt_scale(20000);
    gort_waitgroup_add(&mx.wg, MX_WORKERS);
    int failures = spawn(mx_worker, NULL, MX_WORKERS);
    bool done = gt_wg_wait_timeout(&mx.wg, DONE_TIMEOUT);

    assert_int_equal(failures, 0);
    assert_true(done);
    assert_int_equal(atomic_load(&mx.overlaps), 0);
    assert_int_equal(mx.counter, MX_WORKERS * mx.iters);
    assert_int_equal(rt_test_mutex_waiters(&mx.m), 0);
}

static struct {
    gort_mutex m;
    atomic_int result;        /* -1 not yet, 0 failed, 1 locked */
} tl;

static void tl_try(void *arg)
{
    bool ok = gort_mutex_trylock(&tl.m);
    if (ok)
        gort_mutex_unlock(&tl.m);
    atomic_store(&tl.result, ok);
}

static int tl_try_elsewhere(void)
{
    atomic_store(&tl.result, -1);
    if (gort_go(tl_try, NULL) != 0)
        return -2;
    gt_wait_for(atomic_load(&tl.result) != -1, PARK_TIMEOUT);
    return atomic_load(&tl.result);
}

static void test_mutex_trylock_fails_while_held_and_succeeds_when_free(void **state)
{
    tl.m = (gort_mutex)GORT_MUTEX_INIT;
    bool first = gort_mutex_trylock(&tl.m);
    bool again = gort_mutex_trylock(&tl.m);     /* not reentrant */
    int other_while_held = tl_try_elsewhere();
    gort_mutex_unlock(&tl.m);
    int other_when_free = tl_try_elsewhere();
    bool after = gort_mutex_trylock(&tl.m);
    gort_mutex_unlock(&tl.m);

    assert_true(first);
    assert_false(again);
    assert_int_equal(other_while_held, 0);
    assert_int_equal(other_when_free, 1);
    assert_true(after);
}

static struct {
    gort_mutex m;
    atomic_int acquired;
} lw;

static void lw_locker(void *arg)
{
    gort_mutex_lock(&lw.m);
    atomic_store(&lw.acquired, 1);
    gort_mutex_unlock(&lw.m);
}

static void test_mutex_lock_parks_until_unlock(void **state)
{
    lw.m = (gort_mutex)GORT_MUTEX_INIT;
    gort_mutex_lock(&lw.m);
    assert_int_equal(gort_go(lw_locker, NULL), 0);
    bool queued = gt_wait_for(rt_test_mutex_waiters(&lw.m) == 1, PARK_TIMEOUT);
    int acquired_while_held = atomic_load(&lw.acquired);
    gort_mutex_unlock(&lw.m);
    bool acquired = gt_wait_for(atomic_load(&lw.acquired) == 1, PARK_TIMEOUT);

    assert_true(queued);
    assert_int_equal(acquired_while_held, 0);
    assert_true(acquired);
}

/*
 * Starvation.  A hog relocks the mutex in a tight loop, holding it for
 * 50 us at a time; in normal mode a woken waiter almost never finds it
 * free, because the running hog takes it back first.  Once the waiter has
 * waited more than 1 ms it switches the mutex to starvation mode, and the
 * hog's next unlock hands it over.  The hog checks the mode just before
 * each unlock: the mode is switched on only while the mutex is held and
 * switched off only after the handoff that the hog's unlock makes, so this
 * sees every episode.
 */
static struct {
    gort_mutex m;
    atomic_bool stop;
    atomic_int hog_saw_starving;
    atomic_long hog_rounds;
    atomic_int acquired;        /* by the waiter */
    atomic_int long_waits;      /* waiter acquisitions that took over 1 ms */
    atomic_llong max_wait;      /* the waiter's longest wait */
    gort_waitgroup wg;
} sv;

static void sv_hog(void *arg)
{
    while (!atomic_load(&sv.stop)) {
        gort_mutex_lock(&sv.m);
        spin_ns(50 * GORT_US);
        if (rt_test_mutex_starving(&sv.m))
            atomic_fetch_add(&sv.hog_saw_starving, 1);
        gort_mutex_unlock(&sv.m);
        atomic_fetch_add(&sv.hog_rounds, 1);
    }
    gort_waitgroup_done(&sv.wg);
}

static void sv_waiter(void *arg)
{
    while (!atomic_load(&sv.stop)) {
        int64_t t0 = gt_mono_ns();
        gort_mutex_lock(&sv.m);
        int64_t waited = gt_mono_ns() - t0;
        gort_mutex_unlock(&sv.m);
        atomic_fetch_add(&sv.acquired, 1);
        if (waited > GORT_MS)
            atomic_fetch_add(&sv.long_waits, 1);
        if (waited > atomic_load(&sv.max_wait))
            atomic_store(&sv.max_wait, waited);
        gort_sleep(GORT_MS);
    }
    gort_waitgroup_done(&sv.wg);
}

static void test_mutex_starvation_mode_hands_the_lock_to_a_waiter_that_waited_over_1ms(void **state)
{
    gort_gomaxprocs(2);
    sv.m = (gort_mutex)GORT_MUTEX_INIT;
    gort_waitgroup_add(&sv.wg, 2);
    int failures = gort_go(sv_hog, NULL) != 0;
    bool hog_running = gt_wait_for(atomic_load(&sv.hog_rounds) > 100, PARK_TIMEOUT);
    failures += gort_go(sv_waiter, NULL) != 0;
    bool starved = gt_wait_for(atomic_load(&sv.hog_saw_starving) > 0 && atomic_load(&sv.long_waits) > 0,
                               DONE_TIMEOUT);
    atomic_store(&sv.stop, true);
    bool stopped = gt_wg_wait_timeout(&sv.wg, DONE_TIMEOUT);
    print_message("hog rounds %ld, waiter acquisitions %d (%d over 1 ms, longest %.3f ms), "
                  "hog saw starvation mode %d times\n",
                  atomic_load(&sv.hog_rounds), atomic_load(&sv.acquired), atomic_load(&sv.long_waits),
                  (double)atomic_load(&sv.max_wait) / GORT_MS, atomic_load(&sv.hog_saw_starving));

    assert_int_equal(failures, 0);
    assert_true(hog_running);
    assert_true(stopped);
    assert_true(starved);
    /* Whatever the hog does, the waiter gets the lock within a bounded
     * time: 1 ms to turn on starvation mode plus one hog hold, and a
     * scheduling delay that the host may stretch. */
    assert_true(atomic_load(&sv.max_wait) < gt_slow(3 * GORT_S));
    assert_false(rt_test_mutex_starving(&sv.m));
}

/*
 * With one P, goroutines that hold the mutex across a park (a sleep) and
 * goroutines queued on it must all leave the thread free: an unrelated
 * goroutine keeps ticking.  A lock that blocked the thread would stop the
 * only P, and with it the holder that could unlock.
 */
#define NB_CONTENDERS 20

static struct {
    gort_mutex m;
    atomic_bool stop;
    atomic_long ticks;
    atomic_long acquisitions;
    atomic_int inside;
    atomic_int overlaps;
    gort_waitgroup wg;
} nb;

static void nb_contender(void *arg)
{
    while (!atomic_load(&nb.stop)) {
        gort_mutex_lock(&nb.m);
        if (atomic_fetch_add(&nb.inside, 1) != 0)
            atomic_fetch_add(&nb.overlaps, 1);
        gort_sleep(100 * GORT_US);
        atomic_fetch_sub(&nb.inside, 1);
        gort_mutex_unlock(&nb.m);
        atomic_fetch_add(&nb.acquisitions, 1);
    }
    gort_waitgroup_done(&nb.wg);
}

static void nb_ticker(void *arg)
{
    while (!atomic_load(&nb.stop)) {
        atomic_fetch_add(&nb.ticks, 1);
        gort_sleep(500 * GORT_US);
    }
    gort_waitgroup_done(&nb.wg);
}

static void test_mutex_contention_never_blocks_the_thread(void **state)
{
    gort_gomaxprocs(1);
    nb.m = (gort_mutex)GORT_MUTEX_INIT;
    gort_waitgroup_add(&nb.wg, NB_CONTENDERS + 1);
    int failures = spawn(nb_contender, NULL, NB_CONTENDERS);
    bool contended = gt_wait_for(rt_test_mutex_waiters(&nb.m) >= NB_CONTENDERS / 2, PARK_TIMEOUT);
    failures += gort_go(nb_ticker, NULL) != 0;
    bool progress = gt_wait_for(atomic_load(&nb.ticks) >= 50 && atomic_load(&nb.acquisitions) >= 50,
                                DONE_TIMEOUT);
    atomic_store(&nb.stop, true);
    bool stopped = gt_wg_wait_timeout(&nb.wg, DONE_TIMEOUT);

    assert_int_equal(failures, 0);
    assert_true(contended);
    assert_true(progress);
    assert_true(stopped);
    assert_int_equal(atomic_load(&nb.overlaps), 0);
}

/* ---------------------------------------------------------------------
 * RWMutex
 * ------------------------------------------------------------------- */

#define RS_READERS 4

static struct {
    gort_rwmutex rw;
    atomic_int inside;
    atomic_int saw_all;
    gort_waitgroup wg;
} rs;

static void rs_reader(void *arg)
{
    gort_rwmutex_rlock(&rs.rw);
    atomic_fetch_add(&rs.inside, 1);
    /* Every reader holds the lock until it sees all of them inside. */
    if (gt_wait_for(atomic_load(&rs.inside) == RS_READERS, PARK_TIMEOUT))
        atomic_fetch_add(&rs.saw_all, 1);
    gort_rwmutex_runlock(&rs.rw);
    gort_waitgroup_done(&rs.wg);
}

static void test_rwmutex_readers_hold_it_together(void **state)
{
    rs.rw = (gort_rwmutex)GORT_RWMUTEX_INIT;
    gort_waitgroup_add(&rs.wg, RS_READERS);
    int failures = spawn(rs_reader, NULL, RS_READERS);
    bool done = gt_wg_wait_timeout(&rs.wg, DONE_TIMEOUT);

    assert_int_equal(failures, 0);
    assert_true(done);
    assert_int_equal(atomic_load(&rs.saw_all), RS_READERS);
}

#define RX_WRITERS 2
#define RX_READERS 6

static struct {
    gort_rwmutex rw;
    long a, b;                /* plain: written under the write lock, read under a read lock */
    atomic_int readers_in;
    atomic_int writers_in;
    atomic_int violations;
    long iters;
    gort_waitgroup wg;
} rx;

static void rx_writer(void *arg)
{
    for (long i = 0; i < rx.iters; i++) {
        gort_rwmutex_lock(&rx.rw);
        if (atomic_fetch_add(&rx.writers_in, 1) != 0 || atomic_load(&rx.readers_in) != 0)
            atomic_fetch_add(&rx.violations, 1);
        rx.a++;
        if (i % 16 == 0)
            gort_gosched();
        rx.b++;
        atomic_fetch_sub(&rx.writers_in, 1);
        gort_rwmutex_unlock(&rx.rw);
    }
    gort_waitgroup_done(&rx.wg);
}

static void rx_reader(void *arg)
{
    for (long i = 0; i < rx.iters; i++) {
        gort_rwmutex_rlock(&rx.rw);
        atomic_fetch_add(&rx.readers_in, 1);
        if (atomic_load(&rx.writers_in) != 0 || rx.a != rx.b)
            atomic_fetch_add(&rx.violations, 1);
        if (i % 16 == 0)
            gort_gosched();
        atomic_fetch_sub(&rx.readers_in, 1);
        gort_rwmutex_runlock(&rx.rw);
    }
    gort_waitgroup_done(&rx.wg);
}

static void test_rwmutex_writer_excludes_readers_and_writers(void **state)
{
    gort_gomaxprocs(2);
    rx.rw = (gort_rwmutex)GORT_RWMUTEX_INIT;
    rx.a = rx.b = 0;
    rx.iters = gt_scale(10000);
    gort_waitgroup_add(&rx.wg, RX_WRITERS + RX_READERS);
    int failures = spawn(rx_writer, NULL, RX_WRITERS);
    failures += spawn(rx_reader, NULL, RX_READERS);
    bool done = gt_wg_wait_timeout(&rx.wg, DONE_TIMEOUT);

    assert_int_equal(failures, 0);
    assert_true(done);
    assert_int_equal(atomic_load(&rx.violations), 0);
    assert_int_equal(rx.a, RX_WRITERS * rx.iters);
    assert_int_equal(rx.b, RX_WRITERS * rx.iters);
}

static struct {
    gort_rwmutex rw;
    atomic_int writer_state;   /* 0 waiting, 1 holding, 2 released */
    atomic_int reader_in;
    atomic_int reader_saw;     /* writer_state when the late reader got in */
} wb;

static void wb_writer(void *arg)
{
    gort_rwmutex_lock(&wb.rw);
    atomic_store(&wb.writer_state, 1);
    gort_sleep(20 * GORT_MS);
    atomic_store(&wb.writer_state, 2);
    gort_rwmutex_unlock(&wb.rw);
}

static void wb_reader(void *arg)
{
    gort_rwmutex_rlock(&wb.rw);
    atomic_store(&wb.reader_saw, atomic_load(&wb.writer_state));
    atomic_store(&wb.reader_in, 1);
    gort_rwmutex_runlock(&wb.rw);
}

static void test_rwmutex_waiting_writer_keeps_new_readers_out(void **state)
{
    wb.rw = (gort_rwmutex)GORT_RWMUTEX_INIT;
    gort_rwmutex_rlock(&wb.rw);
    int failures = gort_go(wb_writer, NULL) != 0;
    bool writer_waits = gt_wait_for(rt_test_rwmutex_writer_pending(&wb.rw), PARK_TIMEOUT);
    failures += gort_go(wb_reader, NULL) != 0;
    bool reader_waits = gt_wait_for(rt_test_rwmutex_readers(&wb.rw) == 2, PARK_TIMEOUT);
    int writer_state = atomic_load(&wb.writer_state);
    int reader_in = atomic_load(&wb.reader_in);
    gort_rwmutex_runlock(&wb.rw);
    bool reader_done = gt_wait_for(atomic_load(&wb.reader_in) == 1, DONE_TIMEOUT);

    assert_int_equal(failures, 0);
    assert_true(writer_waits);
    assert_true(reader_waits);
    assert_int_equal(writer_state, 0);
    assert_int_equal(reader_in, 0);
    assert_true(reader_done);
    /* The late reader got in only after the writer had come and gone. */
    assert_int_equal(atomic_load(&wb.reader_saw), 2);
    assert_false(rt_test_rwmutex_writer_pending(&wb.rw));
}

/* ---------------------------------------------------------------------
 * Once
 * ------------------------------------------------------------------- */

#define ON_CALLERS 100

static struct {
    gort_once once;
    atomic_int calls;
    atomic_int finished;
    atomic_int early;          /* callers that returned before fn finished */
    atomic_int returned;
    gort_waitgroup wg;
} on;

static void on_fn(void *arg)
{
    atomic_fetch_add(&on.calls, 1);
    gort_sleep(20 * GORT_MS);
    atomic_store(&on.finished, 1);
}

static void on_caller(void *arg)
{
    gort_once_do(&on.once, on_fn, NULL);
    if (!atomic_load(&on.finished))
        atomic_fetch_add(&on.early, 1);
    atomic_fetch_add(&on.returned, 1);
    gort_waitgroup_done(&on.wg);
}

static void test_once_runs_fn_exactly_once_and_callers_return_after_it(void **state)
{
    gort_gomaxprocs(2);
    on.once = (gort_once)GORT_ONCE_INIT;
    gort_waitgroup_add(&on.wg, ON_CALLERS);
    int failures = spawn(on_caller, NULL, ON_CALLERS);
    bool done = gt_wg_wait_timeout(&on.wg, DONE_TIMEOUT);
    gort_once_do(&on.once, on_fn, NULL);

    assert_int_equal(failures, 0);
    assert_true(done);
    assert_int_equal(atomic_load(&on.calls), 1);
    assert_int_equal(atomic_load(&on.early), 0);
    assert_int_equal(atomic_load(&on.returned), ON_CALLERS);
}

static struct {
    gort_once once;
    atomic_int calls;
    atomic_int other_calls;
    atomic_bool go_panic;
    atomic_int first_done;
    char first_msg[64];
    atomic_int second_returned;
} op;

static void op_panicking_fn(void *arg)
{
    atomic_fetch_add(&op.calls, 1);
    gt_wait_for(atomic_load(&op.go_panic), PARK_TIMEOUT);
    gort_panicf("boom in once");
}

static void op_other_fn(void *arg)
{
    atomic_fetch_add(&op.other_calls, 1);
}

static void op_do_panicking(void *arg)
{
    gort_once_do(&op.once, op_panicking_fn, NULL);
}

static void op_first(void *arg)
{
    char buf[64];
    const char *msg = panic_of(op_do_panicking, NULL, buf, sizeof buf);
    snprintf(op.first_msg, sizeof op.first_msg, "%s", msg ? msg : "(no panic)");
    atomic_store(&op.first_done, 1);
}

static void op_second(void *arg)
{
    gort_once_do(&op.once, op_other_fn, NULL);
    atomic_store(&op.second_returned, 1);
}

static void test_once_with_panicking_fn_counts_as_done_and_lets_waiters_go(void **state)
{
    op.once = (gort_once)GORT_ONCE_INIT;
    int failures = gort_go(op_first, NULL) != 0;
    bool running = gt_wait_for(atomic_load(&op.calls) == 1, PARK_TIMEOUT);
    /* A second caller waits for fn inside gort_once_do. */
    failures += gort_go(op_second, NULL) != 0;
    bool second_waits = gt_wait_for(rt_test_once_waiters(&op.once) == 1, PARK_TIMEOUT);
    atomic_store(&op.go_panic, true);
    bool both = gt_wait_for(atomic_load(&op.first_done) && atomic_load(&op.second_returned), DONE_TIMEOUT);
    gort_once_do(&op.once, op_other_fn, NULL);

    assert_int_equal(failures, 0);
    assert_true(running);
    assert_true(second_waits);
    assert_true(both);
    /* The panic went on through gort_once_do to the caller's recover. */
    assert_string_equal(op.first_msg, "boom in once");
    assert_int_equal(atomic_load(&op.calls), 1);
    assert_int_equal(atomic_load(&op.other_calls), 0);
}

static struct {
    gort_once once;
    atomic_int calls;
    atomic_int after_goexit;
    atomic_int other_calls;
    atomic_int checker_returned;
} og;

static void og_exiting_fn(void *arg)
{
    atomic_fetch_add(&og.calls, 1);
    gort_goexit();
}

static void og_other_fn(void *arg)
{
    atomic_fetch_add(&og.other_calls, 1);
}

static void og_exiter(void *arg)
{
    gort_once_do(&og.once, og_exiting_fn, NULL);
    atomic_store(&og.after_goexit, 1);
}

static void og_checker(void *arg)
{
    gort_once_do(&og.once, og_other_fn, NULL);
    atomic_store(&og.checker_returned, 1);
}

static void test_once_with_fn_calling_goexit_counts_as_done(void **state)
{
    og.once = (gort_once)GORT_ONCE_INIT;
    int failures = gort_go(og_exiter, NULL) != 0;
    bool ran = gt_wait_for(atomic_load(&og.calls) == 1, PARK_TIMEOUT);
    failures += gort_go(og_checker, NULL) != 0;
    bool returned = gt_wait_for(atomic_load(&og.checker_returned) == 1, DONE_TIMEOUT);

    assert_int_equal(failures, 0);
    assert_true(ran);
    assert_true(returned);
    assert_int_equal(atomic_load(&og.other_calls), 0);
    assert_int_equal(atomic_load(&og.after_goexit), 0);
}

/* ---------------------------------------------------------------------
 * Cond
 * ------------------------------------------------------------------- */

#define CW_MAX 8

static struct {
    gort_mutex m;
    gort_cond c;
    atomic_int woken;
    atomic_int order[CW_MAX];  /* index of the n-th waiter to wake */
    atomic_int held_on_wake;   /* waiters that woke holding m (should be all) */
    atomic_int started, left;  /* waiters started, and done with m and c */
} cw;

static bool cw_all_left(void);

/* Start afresh, once the waiters of an earlier test (one that failed
 * half-way, say) have left. */
static void cw_reset(void)
{
    (void)cw_all_left();
    atomic_store(&cw.started, 0);
    atomic_store(&cw.left, 0);
    cw.m = (gort_mutex)GORT_MUTEX_INIT;
    cw.c = (gort_cond)GORT_COND_INIT;
    atomic_store(&cw.woken, 0);
    atomic_store(&cw.held_on_wake, 0);
    for (int i = 0; i < CW_MAX; i++)
        atomic_store(&cw.order[i], -1);
}

static void cw_waiter(void *arg)
{
    gort_mutex_lock(&cw.m);
    gort_cond_wait(&cw.c, &cw.m);
    if (!gort_mutex_trylock(&cw.m))
        atomic_fetch_add(&cw.held_on_wake, 1);
    int n = atomic_fetch_add(&cw.woken, 1);
    if (n < CW_MAX)
        atomic_store(&cw.order[n], (int)(intptr_t)arg);
    gort_mutex_unlock(&cw.m);
    atomic_fetch_add(&cw.left, 1);
}

/* Every waiter started is done with the mutex and the cond. */
static bool cw_all_left(void)
{
    return gt_wait_for(atomic_load(&cw.left) == atomic_load(&cw.started), DONE_TIMEOUT);
}

/* Start waiter idx and wait until it holds a wait ticket. */
static bool cw_start(int idx)
{
    int before = rt_test_cond_waiters(&cw.c);
    if (gort_go(cw_waiter, (void *)(intptr_t)idx) != 0)
        return false;
    atomic_fetch_add(&cw.started, 1);
    return gt_wait_for(rt_test_cond_waiters(&cw.c) == before + 1, PARK_TIMEOUT);
}

static void test_cond_signal_wakes_one_waiter_oldest_first(void **state)
{
    cw_reset();
    bool started = true;
    for (int i = 0; i < 3; i++)
        started = started && cw_start(i);
    gort_cond_signal(&cw.c);
    bool one = gt_wait_for(atomic_load(&cw.woken) == 1, DONE_TIMEOUT);
    gort_sleep(QUIET_NS);
    int after_one_signal = atomic_load(&cw.woken);
    gort_cond_signal(&cw.c);
    bool two = gt_wait_for(atomic_load(&cw.woken) == 2, DONE_TIMEOUT);
    gort_cond_signal(&cw.c);
    bool three = gt_wait_for(atomic_load(&cw.woken) == 3, DONE_TIMEOUT);

    assert_true(started);
    assert_true(one);
    assert_int_equal(after_one_signal, 1);
    assert_true(two);
    assert_true(three);
    assert_int_equal(atomic_load(&cw.order[0]), 0);
    assert_int_equal(atomic_load(&cw.order[1]), 1);
    assert_int_equal(atomic_load(&cw.order[2]), 2);
    assert_int_equal(atomic_load(&cw.held_on_wake), 3);
    assert_true(cw_all_left());
}

static void test_cond_broadcast_wakes_every_waiter_that_came_before_it(void **state)
{
    cw_reset();
    bool started = true;
    for (int i = 0; i < 5; i++)
        started = started && cw_start(i);
    gort_cond_broadcast(&cw.c);
    bool all = gt_wait_for(atomic_load(&cw.woken) == 5, DONE_TIMEOUT);
    /* A waiter that arrives after the broadcast sleeps through it. */
    bool late_started = cw_start(5);
    gort_sleep(QUIET_NS);
    int woken_before_next = atomic_load(&cw.woken);
    gort_cond_broadcast(&cw.c);
    bool late = gt_wait_for(atomic_load(&cw.woken) == 6, DONE_TIMEOUT);

    assert_true(started);
    assert_true(all);
    assert_true(late_started);
    assert_int_equal(woken_before_next, 5);
    assert_true(late);
    assert_int_equal(atomic_load(&cw.order[5]), 5);
    assert_int_equal(atomic_load(&cw.held_on_wake), 6);
    assert_true(cw_all_left());
}

static void test_cond_signal_with_no_waiter_is_lost(void **state)
{
    cw_reset();
    gort_cond_signal(&cw.c);
    gort_cond_broadcast(&cw.c);
    bool started = cw_start(0);
    gort_sleep(QUIET_NS);
    int woken_by_old_signals = atomic_load(&cw.woken);
    gort_cond_signal(&cw.c);
    bool woken = gt_wait_for(atomic_load(&cw.woken) == 1, DONE_TIMEOUT);

    assert_true(started);
    assert_int_equal(woken_by_old_signals, 0);
    assert_true(woken);
    assert_true(cw_all_left());
}

/*
 * A bounded queue built from one mutex and two conds, with producers and
 * consumers waking each other by signal only: one lost wake-up and the
 * queue stalls.  Every value must come out exactly once.
 */
#define BQ_CAP 4
#define BQ_PRODUCERS 4
#define BQ_CONSUMERS 4

static struct {
    gort_mutex m;
    gort_cond notempty, notfull;
    long buf[BQ_CAP];          /* the queue: under m */
    int head, len;
    long taken;
    long per_producer, total;
    atomic_llong sum;
    atomic_long consumed;
    gort_waitgroup wg;
} bq;

static void bq_producer(void *arg)
{
    long base = (long)(intptr_t)arg * bq.per_producer;
    for (long i = 1; i <= bq.per_producer; i++) {
        gort_mutex_lock(&bq.m);
        while (bq.len == BQ_CAP)
            gort_cond_wait(&bq.notfull, &bq.m);
        bq.buf[(bq.head + bq.len) % BQ_CAP] = base + i;
        bq.len++;
        gort_cond_signal(&bq.notempty);
        gort_mutex_unlock(&bq.m);
    }
    gort_waitgroup_done(&bq.wg);
}

static void bq_consumer(void *arg)
{
    for (;;) {
        gort_mutex_lock(&bq.m);
        while (bq.len == 0 && bq.taken < bq.total)
            gort_cond_wait(&bq.notempty, &bq.m);
        if (bq.len == 0) {
            gort_mutex_unlock(&bq.m);
            break;
        }
        long v = bq.buf[bq.head];
        bq.head = (bq.head + 1) % BQ_CAP;
        bq.len--;
        if (++bq.taken == bq.total)
            gort_cond_broadcast(&bq.notempty);   /* let the other consumers leave */
        gort_cond_signal(&bq.notfull);
        gort_mutex_unlock(&bq.m);
        atomic_fetch_add(&bq.sum, v);
        atomic_fetch_add(&bq.consumed, 1);
    }
    gort_waitgroup_done(&bq.wg);
}

static void test_cond_loses_no_wakeup_under_stress(void **state)
{
    gort_gomaxprocs(2);
    bq.m = (gort_mutex)GORT_MUTEX_INIT;
    bq.per_producer = gt_scale(20000);
    bq.total = BQ_PRODUCERS * bq.per_producer;
    gort_waitgroup_add(&bq.wg, BQ_PRODUCERS + BQ_CONSUMERS);
    int failures = 0;
    for (int i = 0; i < BQ_PRODUCERS; i++)
        failures += gort_go(bq_producer, (void *)(intptr_t)i) != 0;
    failures += spawn(bq_consumer, NULL, BQ_CONSUMERS);
    bool done = gt_wg_wait_timeout(&bq.wg, DONE_TIMEOUT);
    long long n = bq.total;

    assert_int_equal(failures, 0);
    assert_true(done);
    assert_int_equal(atomic_load(&bq.consumed), bq.total);
    assert_int_equal(atomic_load(&bq.sum), n * (n + 1) / 2);
}

/* ---------------------------------------------------------------------
 * Weighted semaphore
 * ------------------------------------------------------------------- */

static struct {
    gort_sema s;
    atomic_int acquired;
} sa;

static void sa_acquirer(void *arg)
{
    gort_sema_acquire(&sa.s, 3);
    atomic_store(&sa.acquired, 1);
}

static void test_sema_acquire_parks_until_enough_units_are_released(void **state)
{
    sa.s = (gort_sema)GORT_SEMA_INIT;
    assert_int_equal(gort_go(sa_acquirer, NULL), 0);
    bool queued = gt_wait_for(rt_test_sema_waiters(&sa.s) == 1, PARK_TIMEOUT);
    gort_sema_release(&sa.s, 2);
    gort_sleep(QUIET_NS);
    int acquired_with_2 = atomic_load(&sa.acquired);
    gort_sema_release(&sa.s, 1);
    bool acquired = gt_wait_for(atomic_load(&sa.acquired) == 1, DONE_TIMEOUT);

    assert_true(queued);
    assert_int_equal(acquired_with_2, 0);
    assert_true(acquired);
    assert_false(gort_sema_tryacquire(&sa.s, 1));   /* it took all three */
}

/* Arrival order: a big request, then a middle one, then a small one. */
#define SF_WAITERS 3

static const int64_t sf_want[SF_WAITERS] = { 10, 2, 1 };

static struct {
    gort_sema s;
    atomic_int order[SF_WAITERS];   /* index of the n-th waiter served */
    atomic_int served;
} sf;

static void sf_waiter(void *arg)
{
    int idx = (int)(intptr_t)arg;
    gort_sema_acquire(&sf.s, sf_want[idx]);
    atomic_store(&sf.order[atomic_fetch_add(&sf.served, 1)], idx);
}

/* Release n units, then how many waiters have been served once the ones
 * that can be are (want), or after a quiet spell when that is the same. */
static int sf_release_and_count(int64_t n, int want)
{
    int before = atomic_load(&sf.served);
    gort_sema_release(&sf.s, n);
    if (want == before)
        gort_sleep(QUIET_NS);
    else
        gt_wait_for(atomic_load(&sf.served) == want, DONE_TIMEOUT);
    return atomic_load(&sf.served);
}

static void test_sema_waiters_are_served_in_arrival_order_even_when_later_ones_fit(void **state)
{
    sf.s = (gort_sema)GORT_SEMA_INIT;
    bool queued = true;
    for (int i = 0; i < SF_WAITERS && queued; i++)
        queued = gort_go(sf_waiter, (void *)(intptr_t)i) == 0 &&
                 gt_wait_for(rt_test_sema_waiters(&sf.s) == i + 1, PARK_TIMEOUT);
    /* 5 units: enough for either small request, not for the big head. */
    int with_5 = sf_release_and_count(5, 0);
    bool try_with_5 = gort_sema_tryacquire(&sf.s, 1);
    int with_10 = sf_release_and_count(5, 1);
    /* 1 unit: enough for the last request, not for the 2 ahead of it. */
    int with_1 = sf_release_and_count(1, 1);
    int with_2 = sf_release_and_count(1, 2);
    int with_3 = sf_release_and_count(1, 3);

    assert_true(queued);
    assert_int_equal(with_5, 0);
    assert_false(try_with_5);          /* nobody jumps the queue */
    assert_int_equal(with_10, 1);
    assert_int_equal(with_1, 1);
    assert_int_equal(with_2, 2);
    assert_int_equal(with_3, 3);
    for (int i = 0; i < SF_WAITERS; i++)
        assert_int_equal(atomic_load(&sf.order[i]), i);
    assert_int_equal(rt_test_sema_waiters(&sf.s), 0);
    assert_false(gort_sema_tryacquire(&sf.s, 1));
}

static struct {
    gort_sema s;
    atomic_int acquired;
} st;

static void st_acquirer(void *arg)
{
    gort_sema_acquire(&st.s, 4);
    atomic_store(&st.acquired, 1);
}

static void test_sema_tryacquire_takes_only_what_is_there_and_never_jumps_the_queue(void **state)
{
    st.s = (gort_sema)GORT_SEMA_INIT;
    assert_false(gort_sema_tryacquire(&st.s, 1));
    gort_sema_release(&st.s, 5);
    assert_true(gort_sema_tryacquire(&st.s, 3));
    assert_false(gort_sema_tryacquire(&st.s, 3));
    assert_true(gort_sema_tryacquire(&st.s, 2));
    assert_false(gort_sema_tryacquire(&st.s, 1));

    assert_int_equal(gort_go(st_acquirer, NULL), 0);
    assert_true(gt_wait_for(rt_test_sema_waiters(&st.s) == 1, PARK_TIMEOUT));
    gort_sema_release(&st.s, 2);
    assert_false(gort_sema_tryacquire(&st.s, 1));   /* the waiter comes first */
    gort_sema_release(&st.s, 2);
    assert_true(gt_wait_for(atomic_load(&st.acquired) == 1, DONE_TIMEOUT));
    assert_false(gort_sema_tryacquire(&st.s, 1));
}

static struct {
    gort_sema s;
} su;

static void su_release_later(void *arg)
{
    gort_sleep(20 * GORT_MS);
    gort_sema_release(&su.s, 2);
}

static void test_sema_acquire_until_times_out_no_earlier_than_the_deadline(void **state)
{
    su.s = (gort_sema)GORT_SEMA_INIT;
    int64_t deadline = gort_nanotime() + 50 * GORT_MS;
    int rc = gort_sema_acquire_until(&su.s, 1, deadline);
    int64_t returned = gort_nanotime();
    int64_t waiters_after = rt_test_sema_waiters(&su.s);
    /* A deadline in the past still tries once. */
    int past_empty = gort_sema_acquire_until(&su.s, 1, gort_nanotime() - GORT_MS);
    gort_sema_release(&su.s, 1);
    int past_full = gort_sema_acquire_until(&su.s, 1, gort_nanotime() - GORT_MS);
    /* A release before the deadline wins. */
    int spawned = gort_go(su_release_later, NULL);
    int64_t far = gort_nanotime() + 60 * GORT_S;
    int granted = gort_sema_acquire_until(&su.s, 2, far);
    int64_t granted_at = gort_nanotime();

    assert_int_equal(rc, -ETIMEDOUT);
    assert_true(returned >= deadline);
    assert_true(returned <= deadline + DEADLINE_SLACK);
    assert_int_equal(waiters_after, 0);
    assert_int_equal(past_empty, -ETIMEDOUT);
    assert_int_equal(past_full, 0);
    assert_int_equal(spawned, 0);
    assert_int_equal(granted, 0);
    assert_true(granted_at < far);
    assert_false(gort_sema_tryacquire(&su.s, 1));
}

static struct {
    gort_sema s;
    atomic_llong big_deadline;
    atomic_int big_rc;
    atomic_int big_done;
    atomic_llong small_got_at;
} th;

static void th_big(void *arg)
{
    int64_t deadline = gort_nanotime() + 200 * GORT_MS;
    atomic_store(&th.big_deadline, deadline);
    atomic_store(&th.big_rc, gort_sema_acquire_until(&th.s, 10, deadline));
    atomic_store(&th.big_done, 1);
}

static void th_small(void *arg)
{
    gort_sema_acquire(&th.s, 1);
    atomic_store(&th.small_got_at, gort_nanotime());
}

static void test_sema_timed_out_head_lets_the_waiters_behind_it_through(void **state)
{
    th.s = (gort_sema)GORT_SEMA_INIT;
    int failures = gort_go(th_big, NULL) != 0;
    bool big_queued = gt_wait_for(rt_test_sema_waiters(&th.s) == 1, PARK_TIMEOUT);
    failures += gort_go(th_small, NULL) != 0;
    bool small_queued = gt_wait_for(rt_test_sema_waiters(&th.s) == 2 || atomic_load(&th.big_done),
                                    PARK_TIMEOUT);
    gort_sema_release(&th.s, 1);   /* enough for the small one, not the head */
    bool done = gt_wait_for(atomic_load(&th.big_done) && atomic_load(&th.small_got_at) != 0, DONE_TIMEOUT);
    int64_t deadline = atomic_load(&th.big_deadline);
    int64_t small_at = atomic_load(&th.small_got_at);

    assert_int_equal(failures, 0);
    assert_true(big_queued);
    assert_true(small_queued);
    assert_true(done);
    assert_int_equal(atomic_load(&th.big_rc), -ETIMEDOUT);
    /* The small waiter was served when the head gave up, not before. */
    assert_true(small_at >= deadline);
    assert_true(small_at <= deadline + DEADLINE_SLACK);
    assert_false(gort_sema_tryacquire(&th.s, 1));
    assert_int_equal(rt_test_sema_waiters(&th.s), 0);
}

/*
 * The timer and a release race for a timed waiter, again and again: the
 * release lands at the deadline.  Whoever wins, the outcome is consistent:
 * a waiter that reports success took the unit, one that timed out left it.
 */
static struct {
    gort_sema s;
    atomic_llong at;
    atomic_int released;
} tr;

static void tr_releaser(void *arg)
{
    int64_t at = atomic_load(&tr.at);
    while (gort_nanotime() < at) {
    }
    gort_sema_release(&tr.s, 1);
    atomic_store(&tr.released, 1);
}

static void test_sema_deadline_racing_a_release_is_decided_once(void **state)
{
    gort_gomaxprocs(2);
    long rounds = gt_scale(2000);
    long granted = 0, timedout = 0, inconsistent = 0, failures = 0, stuck = 0;
    for (long i = 0; i < rounds; i++) {
        tr.s = (gort_sema)GORT_SEMA_INIT;
        atomic_store(&tr.released, 0);
        int64_t at = gort_nanotime() + 200 * GORT_US;
        atomic_store(&tr.at, at);
        if (gort_go(tr_releaser, NULL) != 0) {
            failures++;
            break;
        }
        int rc = gort_sema_acquire_until(&tr.s, 1, at);
        if (!gt_wait_for(atomic_load(&tr.released) == 1, DONE_TIMEOUT)) {
            stuck++;
            break;
        }
        bool left = gort_sema_tryacquire(&tr.s, 1);
        if (rc == 0)
            granted++;
        else
            timedout++;
        if ((rc == 0 && left) || (rc == -ETIMEDOUT && !left) || (rc != 0 && rc != -ETIMEDOUT) ||
            rt_test_sema_waiters(&tr.s) != 0)
            inconsistent++;
    }
    print_message("%ld rounds: %ld granted, %ld timed out\n", rounds, granted, timedout);

    assert_int_equal(failures, 0);
    assert_int_equal(stuck, 0);
    assert_int_equal(inconsistent, 0);
    assert_int_equal(granted + timedout, rounds);
}

#define SS_UNITS 16
#define SS_WORKERS 8

static struct {
    gort_sema s;
    atomic_llong held;
    atomic_int over;
    atomic_long blocking, timed, timeouts, tried, try_failures;
    long iters;
    gort_waitgroup wg;
} ss;

static void ss_worker(void *arg)
{
    uint64_t r = 0x9e3779b97f4a7c15ull * (uint64_t)((intptr_t)arg + 1);
    for (long i = 0; i < ss.iters; i++) {
        int64_t n = 1 + (int64_t)(rnd(&r) % 4);
        bool got;
        switch (rnd(&r) % 3) {
        case 0:
            gort_sema_acquire(&ss.s, n);
            got = true;
            atomic_fetch_add(&ss.blocking, 1);
            break;
        case 1:
            got = gort_sema_acquire_until(&ss.s, n, gort_nanotime() + (int64_t)(rnd(&r) % 200) * GORT_US) == 0;
            atomic_fetch_add(got ? &ss.timed : &ss.timeouts, 1);
            break;
        default:
            got = gort_sema_tryacquire(&ss.s, n);
            atomic_fetch_add(got ? &ss.tried : &ss.try_failures, 1);
            break;
        }
        if (!got)
            continue;
        if (atomic_fetch_add(&ss.held, n) + n > SS_UNITS)
            atomic_fetch_add(&ss.over, 1);
        if (i % 8 == 0)
            gort_gosched();
        atomic_fetch_sub(&ss.held, n);
        gort_sema_release(&ss.s, n);
    }
    gort_waitgroup_done(&ss.wg);
}

static void test_sema_conserves_units_under_stress(void **state)
{
    gort_gomaxprocs(2);
    ss.s = (gort_sema)GORT_SEMA_INIT;
    ss.iters = gt_scale(5000);
    gort_sema_release(&ss.s, SS_UNITS);
    gort_waitgroup_add(&ss.wg, SS_WORKERS);
    int failures = 0;
    for (int i = 0; i < SS_WORKERS; i++)
        failures += gort_go(ss_worker, (void *)(intptr_t)i) != 0;
    bool done = gt_wg_wait_timeout(&ss.wg, DONE_TIMEOUT);
    print_message("acquired: %ld blocking, %ld timed (%ld timeouts), %ld tried (%ld failed)\n",
                  atomic_load(&ss.blocking), atomic_load(&ss.timed), atomic_load(&ss.timeouts),
                  atomic_load(&ss.tried), atomic_load(&ss.try_failures));

    assert_int_equal(failures, 0);
    assert_true(done);
    assert_int_equal(atomic_load(&ss.over), 0);
    assert_int_equal(atomic_load(&ss.held), 0);
    assert_int_equal(rt_test_sema_waiters(&ss.s), 0);
    /* Every unit is back, and no more. */
    assert_true(gort_sema_tryacquire(&ss.s, SS_UNITS));
    assert_false(gort_sema_tryacquire(&ss.s, 1));
}

static gort_sema sb;

static void sb_acquire_0(void *arg)
{
    gort_sema_acquire(&sb, 0);
}

static void sb_until_neg(void *arg)
{
    gort_sema_acquire_until(&sb, -1, gort_nanotime());
}

static void sb_try_neg(void *arg)
{
    gort_sema_tryacquire(&sb, -5);
}

static void sb_release_0(void *arg)
{
    gort_sema_release(&sb, 0);
}

static void sb_release_overflow(void *arg)
{
    gort_sema_release(&sb, INT64_MAX);
    gort_sema_release(&sb, 1);
}

static void test_sema_bad_counts_panic_naming_the_value(void **state)
{
    char b1[128], b2[128], b3[128], b4[128], b5[128];
    const char *acquire_0 = panic_of(sb_acquire_0, NULL, b1, sizeof b1);
    const char *until_neg = panic_of(sb_until_neg, NULL, b2, sizeof b2);
    const char *try_neg = panic_of(sb_try_neg, NULL, b3, sizeof b3);
    const char *release_0 = panic_of(sb_release_0, NULL, b4, sizeof b4);
    const char *overflow = panic_of(sb_release_overflow, NULL, b5, sizeof b5);

    assert_non_null(acquire_0);
    assert_string_equal(acquire_0, "sync: gort_sema_acquire: n = 0, must be > 0");
    assert_non_null(until_neg);
    assert_string_equal(until_neg, "sync: gort_sema_acquire_until: n = -1, must be > 0");
    assert_non_null(try_neg);
    assert_string_equal(try_neg, "sync: gort_sema_tryacquire: n = -5, must be > 0");
    assert_non_null(release_0);
    assert_string_equal(release_0, "sync: gort_sema_release: n = 0, must be > 0");
    assert_non_null(overflow);
    assert_true(gt_matches(overflow, "^sync: gort_sema_release: 1 more units overflow"));
    /* The failed release left the count as it was. */
    assert_true(gort_sema_tryacquire(&sb, INT64_MAX));
}

/* ---------------------------------------------------------------------
 * WaitGroup
 * ------------------------------------------------------------------- */

static gort_waitgroup wn;

static void wn_negative(void *arg)
{
    gort_waitgroup_add(&wn, 1);
    gort_waitgroup_done(&wn);
    gort_waitgroup_done(&wn);
}

static void test_waitgroup_negative_counter_panics(void **state)
{
    char buf[128];
    const char *msg = panic_of(wn_negative, NULL, buf, sizeof buf);

    assert_non_null(msg);
    assert_string_equal(msg, "sync: negative WaitGroup counter");
}

/* ---------------------------------------------------------------------
 * Fatal misuse (subprocess)
 * ------------------------------------------------------------------- */

/* syncmisuse MODE dies with status 2 and stderr starting with want. */
static void expect_fatal(const char *mode, const char *want)
{
    const char *const args[] = { mode, NULL };
    gt_proc r;
    gt_run("syncmisuse", args, NULL, HELPER_TIMEOUT, &r);

    print_message("mode %s\n", mode);
    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(strncmp(r.err, want, strlen(want)) == 0, &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "^(survived|recovered)"), &r);
    gt_proc_free(&r);
}

static void test_unlock_of_unlocked_mutex_is_fatal(void **state)
{
    expect_fatal("mutex", "fatal error: sync: unlock of unlocked mutex\n");
}

static void test_unlock_of_unlocked_rwmutex_is_fatal(void **state)
{
    expect_fatal("runlock", "fatal error: sync: RUnlock of unlocked RWMutex\n");
    expect_fatal("unlock", "fatal error: sync: Unlock of unlocked RWMutex\n");
}

static void test_mutex_lock_from_a_plain_thread_is_fatal(void **state)
{
    expect_fatal("offg", "fatal error: gort_mutex_lock called from a thread that is not running a goroutine\n");
}

/* ---------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, gt_save_knobs, gt_restore_knobs)

static void run_all(void *arg)
{
    const struct CMUnitTest tests[] = {
        T(test_mutex_excludes_concurrent_incrementers),
        T(test_mutex_trylock_fails_while_held_and_succeeds_when_free),
        T(test_mutex_lock_parks_until_unlock),
        T(test_mutex_starvation_mode_hands_the_lock_to_a_waiter_that_waited_over_1ms),
        T(test_mutex_contention_never_blocks_the_thread),
        T(test_rwmutex_readers_hold_it_together),
        T(test_rwmutex_writer_excludes_readers_and_writers),
        T(test_rwmutex_waiting_writer_keeps_new_readers_out),
        T(test_once_runs_fn_exactly_once_and_callers_return_after_it),
        T(test_once_with_panicking_fn_counts_as_done_and_lets_waiters_go),
        T(test_once_with_fn_calling_goexit_counts_as_done),
        T(test_cond_signal_wakes_one_waiter_oldest_first),
        T(test_cond_broadcast_wakes_every_waiter_that_came_before_it),
        T(test_cond_signal_with_no_waiter_is_lost),
        T(test_cond_loses_no_wakeup_under_stress),
        T(test_sema_acquire_parks_until_enough_units_are_released),
        T(test_sema_waiters_are_served_in_arrival_order_even_when_later_ones_fit),
        T(test_sema_tryacquire_takes_only_what_is_there_and_never_jumps_the_queue),
        T(test_sema_acquire_until_times_out_no_earlier_than_the_deadline),
        T(test_sema_timed_out_head_lets_the_waiters_behind_it_through),
        T(test_sema_deadline_racing_a_release_is_decided_once),
        T(test_sema_conserves_units_under_stress),
        T(test_sema_bad_counts_panic_naming_the_value),
        T(test_waitgroup_negative_counter_panics),
        T(test_unlock_of_unlocked_mutex_is_fatal),
        T(test_unlock_of_unlocked_rwmutex_is_fatal),
        T(test_mutex_lock_from_a_plain_thread_is_fatal),
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
    return gt_main("test_sync", run_all);
}
