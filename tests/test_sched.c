/*
 * test_sched.c - the scheduler as a program sees it: parallelism, blocking
 * system calls, work stealing, run-queue fairness, GOMAXPROCS changes,
 * sleeping, LockOSThread, spawning from goroutines and from foreign
 * threads, goroutine ids and counts, argument checking, goroutine dumps and
 * WaitGroup.
 *
 * Every test body runs on the main goroutine (goid 1): main() hands the
 * cmocka group to gort_main.  See testutil.h for the rules the tests follow
 * (assert only in the body, share state through static atomics, bound
 * every wait).  Each test runs between save_knobs and restore_knobs, which
 * put GOMAXPROCS and the dump clock back even when the test fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>

#include "testutil.h"
#include "testing.h"

static int restore_knobs(void **state)
{
    gt_restore_knobs(state);
    rt_test_dump_clock_skew(0);
    rt_test_wake_delay(0);
    return 0;
}

static long thread_id(void)
{
    return syscall(SYS_gettid);
}

/* CPUs this process may run on. */
static int usable_cpus(void)
{
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return (int)online;
    int n = CPU_COUNT(&set);
    return online > 0 && online < n ? (int)online : n;
}

/* ---------------------------------------------------------------------
 * Parallelism
 * ------------------------------------------------------------------- */

/* Pure arithmetic: no runtime call, so nothing can deschedule it except
 * the OS. */
static void burn(uint64_t iters)
{
    volatile uint64_t x = 1;
    for (uint64_t i = 0; i < iters; i++)
        x = x * 6364136223846793005ULL + i;
}

static int64_t time_burn(uint64_t iters)
{
    int64_t t0 = gt_mono_ns();
    burn(iters);
    return gt_mono_ns() - t0;
}

/* Iterations of burn() that take about target_ns on this machine.  The
 * fastest of a few timings counts, so that one disturbance (another
 * process, a hypervisor) does not skew the estimate. */
static uint64_t calibrate_burn(int64_t target_ns)
{
    uint64_t iters = 1 << 16;
    int64_t dt;
    while ((dt = time_burn(iters)) < 10 * GORT_MS)
        iters *= 2;
    for (int i = 0; i < 3; i++) {
        int64_t again = time_burn(iters);
        if (again < dt)
            dt = again;
    }
    return (uint64_t)((double)iters * (double)target_ns / (double)dt);
}

static struct {
    uint64_t iters;
    gort_waitgroup wg;
    struct {
        int64_t m;               /* the M it ran on */
        int64_t start, end;      /* wall clock */
        int64_t cpu;             /* its thread's CPU time over the burn */
    } w[2];
} par;

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * GORT_S + ts.tv_nsec;
}

static void par_worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    par.w[i].m = rt_test_current_m();
    par.w[i].start = gt_mono_ns();
    int64_t c0 = thread_cpu_ns();
    burn(par.iters);
    par.w[i].cpu = thread_cpu_ns() - c0;
    par.w[i].end = gt_mono_ns();
    gort_waitgroup_done(&par.wg);
}

/*
 * Parallel means both goroutines ran at the same time on two threads:
 * burn() has no safe point, so on one M the second could only start when
 * the first ended.  That is asserted on every machine.  Whether the wall
 * clock halves also depends on the host lending this process two CPUs at
 * that moment at full speed; it is asserted when the threads' CPU time
 * shows it did (the two burns together got at least 1.6 CPUs over the
 * parallel wall time, and neither needed more than 15 % more CPU time than
 * alone), and reported otherwise.
 */
static void test_two_cpu_bound_goroutines_run_in_parallel(void **state)
{
    int cpus = usable_cpus();
    if (cpus < 2) {
        print_message("skipped: needs 2 CPUs, this process may use %d\n", cpus);
        skip();
    }
    gort_gomaxprocs(2);
    par.iters = calibrate_burn(150 * GORT_MS);

    int64_t t0 = gt_mono_ns();
    burn(par.iters);
    burn(par.iters);
    int64_t serial = gt_mono_ns() - t0;

    par.wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&par.wg, 2);
    t0 = gt_mono_ns();
    int rc1 = gort_go(par_worker, (void *)(intptr_t)0);
    int rc2 = gort_go(par_worker, (void *)(intptr_t)1);
    bool finished = gt_wg_wait_timeout(&par.wg, gt_slow(10 * GORT_S) + 10 * serial);
    int64_t parallel = gt_mono_ns() - t0;
    assert_int_equal(rc1, 0);
    assert_int_equal(rc2, 0);
    assert_true(finished);

    int64_t d0 = par.w[0].end - par.w[0].start, d1 = par.w[1].end - par.w[1].start;
    int64_t lo = par.w[0].start > par.w[1].start ? par.w[0].start : par.w[1].start;
    int64_t hi = par.w[0].end < par.w[1].end ? par.w[0].end : par.w[1].end;
    int64_t overlap = hi - lo, shorter = d0 < d1 ? d0 : d1;
    /* The work's own wall time: first start to last end (the wait above
     * polls, and adds its polling interval). */
    int64_t first = par.w[0].start < par.w[1].start ? par.w[0].start : par.w[1].start;
    int64_t last = par.w[0].end > par.w[1].end ? par.w[0].end : par.w[1].end;
    int64_t work = last - first;
    double cpus_lent = (double)(par.w[0].cpu + par.w[1].cpu) / (double)work;
    print_message("two work units: serial %.1f ms, parallel %.1f ms (%.2fx), %.1f ms until the wait "
                  "returned; Ms %lld and %lld; overlap %.1f of %.1f ms; %.2f CPUs lent\n",
                  serial / 1e6, work / 1e6, (double)work / (double)serial, parallel / 1e6,
                  (long long)par.w[0].m, (long long)par.w[1].m, overlap / 1e6, shorter / 1e6, cpus_lent);
    assert_true(par.w[0].m != par.w[1].m);
    assert_true(overlap * 10 >= shorter * 9);
    /* Each burn's CPU time against half the serial run: above it, the host's
     * CPUs ran slower with both busy (SMT siblings, a shared or throttled
     * core), and the wall clock says nothing about the scheduler. */
    int64_t slowest = par.w[0].cpu > par.w[1].cpu ? par.w[0].cpu : par.w[1].cpu;
    bool full_speed = slowest * 2 * 100 <= serial * 115;
    if (cpus_lent >= 1.6 && full_speed)
        assert_true(work * 4 < serial * 3);
    else
        print_message("the host lent %.2f CPUs, the slower burn took %.1f ms of CPU against %.1f ms "
                      "alone: wall-clock speed-up not asserted\n",
                      cpus_lent, slowest / 1e6, serial / 2e6);
}

/* ---------------------------------------------------------------------
 * Blocking system calls
 * ------------------------------------------------------------------- */

static struct {
    int fds[2];
    atomic_int a_entering;     /* A is about to enter read() */
    atomic_int a_returned;     /* A is back from gort_syscall_exit */
    atomic_int a_saw_b;        /* B had run when A's read returned */
    atomic_int a_nread;
    atomic_int a_byte;
    atomic_int b_ran;
    atomic_int watchdog_fired; /* the watchdog had to release A */
    atomic_int watchdog_done;
} sc;

static void sc_reader(void *arg)
{
    char c = 0;
    atomic_store(&sc.a_entering, 1);
    gort_syscall_enter();
    ssize_t n = read(sc.fds[0], &c, 1);
    gort_syscall_exit();
    atomic_store(&sc.a_saw_b, atomic_load(&sc.b_ran));
    atomic_store(&sc.a_nread, (int)n);
    atomic_store(&sc.a_byte, c);
    atomic_store(&sc.a_returned, 1);
}

static void sc_writer(void *arg)
{
    atomic_store(&sc.b_ran, 1);
    char c = 'b';
    if (write(sc.fds[1], &c, 1) != 1)
        atomic_store(&sc.b_ran, -1);
}

/* A plain thread that releases A after a while if B never does, so that a
 * scheduler that cannot run B makes the test fail instead of hang. */
static void *sc_watchdog(void *arg)
{
    if (!gt_thread_wait_for(atomic_load(&sc.a_returned) != 0, gt_slow(5 * GORT_S))) {
        atomic_store(&sc.watchdog_fired, 1);
        char c = 'w';
        if (write(sc.fds[1], &c, 1) != 1)
            atomic_store(&sc.watchdog_fired, -1);
    }
    atomic_store(&sc.watchdog_done, 1);
    return NULL;
}

static void test_blocking_syscall_does_not_stop_others(void **state)
{
    gort_gomaxprocs(1);
    assert_int_equal(pipe2(sc.fds, O_CLOEXEC), 0);
    gort_sched_stats before, after;
    gort_read_sched_stats(&before);
    pthread_t wd;
    assert_int_equal(pthread_create(&wd, NULL, sc_watchdog, NULL), 0);

    int rca = gort_go(sc_reader, NULL);
    bool entered = gt_wait_for(atomic_load(&sc.a_entering) != 0, 5 * GORT_S);
    /* A makes no runtime call between the flag and read(): after this
     * sleep it is blocked in read() with the only P handed off or about to
     * be. */
    gort_sleep(20 * GORT_MS);
    int rcb = gort_go(sc_writer, NULL);
    bool returned = gt_wait_for(atomic_load(&sc.a_returned) != 0, gt_slow(10 * GORT_S));
    gort_read_sched_stats(&after);
    bool wd_done = gt_wait_for(atomic_load(&sc.watchdog_done) != 0, gt_slow(10 * GORT_S));
    if (wd_done)
        pthread_join(wd, NULL);
    if (returned) {
        close(sc.fds[0]);
        close(sc.fds[1]);
    }

    assert_int_equal(rca, 0);
    assert_int_equal(rcb, 0);
    assert_true(entered);
    assert_true(returned);
    assert_int_equal(atomic_load(&sc.watchdog_fired), 0);
    assert_int_equal(atomic_load(&sc.b_ran), 1);
    assert_int_equal(atomic_load(&sc.a_saw_b), 1);
    assert_int_equal(atomic_load(&sc.a_nread), 1);
    assert_int_equal(atomic_load(&sc.a_byte), 'b');
    assert_true(after.syscalls > before.syscalls);
}

/* ---------------------------------------------------------------------
 * Work stealing
 * ------------------------------------------------------------------- */

/* Small enough under TSan that spawning them never takes the loader past
 * sysmon's 10 ms preemption mark. */
#define STEAL_MAX 200

static struct {
    int n;
    atomic_int loader_p;       /* P the loader ran on */
    atomic_int loader_p_end;   /* ... and still ran on when done */
    atomic_int loader_busy;    /* the loader occupies its P */
    atomic_int spawn_failures;
    atomic_int ran;
    atomic_int ran_at_end;     /* ran when the loader stopped spinning */
    atomic_int loader_done;
    atomic_int p_of[STEAL_MAX];
    atomic_int while_busy[STEAL_MAX];
} st;

static void steal_short(void *arg)
{
    int i = (int)(intptr_t)arg;
    atomic_store(&st.p_of[i], rt_test_current_p());
    atomic_store(&st.while_busy[i], atomic_load(&st.loader_busy));
    atomic_fetch_add(&st.ran, 1);
}

static void steal_loader(void *arg)
{
    atomic_store(&st.loader_p, rt_test_current_p());
    atomic_store(&st.loader_busy, 1);
    for (int i = 0; i < st.n; i++)
        if (gort_go(steal_short, (void *)(intptr_t)i) != 0)
            atomic_fetch_add(&st.spawn_failures, 1);
    /* Spin with no runtime call: only another P can run the queue. */
    int64_t deadline = gt_mono_ns() + gt_slow(5 * GORT_S);
    while (atomic_load(&st.ran) < st.n && gt_mono_ns() < deadline) {
    }
    atomic_store(&st.ran_at_end, atomic_load(&st.ran));
    atomic_store(&st.loader_busy, 0);
    atomic_store(&st.loader_p_end, rt_test_current_p());
    atomic_store(&st.loader_done, 1);
}

static void test_stealing_drains_a_loaded_p(void **state)
{
    gort_gomaxprocs(2);
    st.n = GT_TSAN ? 20 : STEAL_MAX;
    for (int i = 0; i < st.n; i++)
        atomic_store(&st.p_of[i], -2);

    int rc = gort_go(steal_loader, NULL);
    bool done = gt_wait_for(atomic_load(&st.loader_done) != 0, gt_slow(10 * GORT_S));

    int x = atomic_load(&st.loader_p);
    int on_loader_p = 0, after_loader = 0;
    for (int i = 0; i < st.n; i++) {
        on_loader_p += atomic_load(&st.p_of[i]) == x;
        after_loader += atomic_load(&st.while_busy[i]) == 0;
    }
    print_message("loader on P%d; %d of %d ran while it spun, %d on its P\n",
                  x, atomic_load(&st.ran_at_end), st.n, on_loader_p);
    assert_int_equal(rc, 0);
    assert_true(done);
    assert_int_equal(atomic_load(&st.spawn_failures), 0);
    assert_true(x >= 0);
    assert_int_equal(atomic_load(&st.loader_p_end), x);
    assert_int_equal(atomic_load(&st.ran_at_end), st.n);
    assert_int_equal(after_loader, 0);
    assert_int_equal(on_loader_p, 0);
}

/* ---------------------------------------------------------------------
 * Global run queue fairness
 * ------------------------------------------------------------------- */

#define CHAIN_LIMIT 5000000L

static struct {
    atomic_long counter;       /* chain links run so far */
    atomic_int stop;
    atomic_int spawn_failed;
    atomic_long chain_final;   /* counter when the chain ended */
    gort_waitgroup chain_end;
    atomic_int target_ran;
    atomic_long target_saw;    /* counter when the target ran */
    atomic_int go_rc;
    atomic_int thread_done;
} gq;

/* Each link spawns the next and ends, so the P's runnext is never empty. */
static void chain_link(void *arg)
{
    long n = atomic_fetch_add(&gq.counter, 1) + 1;
    if (!atomic_load(&gq.stop) && n < CHAIN_LIMIT) {
        if (gort_go(chain_link, NULL) == 0)
            return;
        atomic_store(&gq.spawn_failed, 1);
    }
    atomic_store(&gq.chain_final, n);
    gort_waitgroup_done(&gq.chain_end);
}

static void gq_target(void *arg)
{
    atomic_store(&gq.target_saw, atomic_load(&gq.counter));
    atomic_store(&gq.stop, 1);
    atomic_store(&gq.target_ran, 1);
}

/* gort_go from a thread that is not running a goroutine queues the new
 * goroutine on the global run queue. */
static void *gq_thread(void *arg)
{
    gt_thread_wait_for(atomic_load(&gq.counter) >= 1000, 5 * GORT_S);
    atomic_store(&gq.go_rc, gort_go(gq_target, NULL));
    atomic_store(&gq.thread_done, 1);
    return NULL;
}

static void test_global_queue_served_while_local_queue_busy(void **state)
{
    gort_gomaxprocs(1);
    gq.chain_end = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&gq.chain_end, 1);
    atomic_store(&gq.go_rc, 1);

    int rc = gort_go(chain_link, NULL);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, gq_thread, NULL), 0);
    /* Wait without timers: a polling main goroutine would itself break the
     * chain every millisecond.  The chain always ends (CHAIN_LIMIT). */
    if (rc == 0)
        gort_waitgroup_wait(&gq.chain_end);
    bool thread_done = gt_wait_for(atomic_load(&gq.thread_done) != 0, 5 * GORT_S);
    if (thread_done)
        pthread_join(t, NULL);
    bool target_ran = gt_wait_for(atomic_load(&gq.target_ran) != 0, 5 * GORT_S);

    print_message("chain ran %ld links; the global goroutine ran after %ld\n",
                  atomic_load(&gq.chain_final), atomic_load(&gq.target_saw));
    assert_int_equal(rc, 0);
    assert_true(thread_done);
    assert_int_equal(atomic_load(&gq.go_rc), 0);
    assert_int_equal(atomic_load(&gq.spawn_failed), 0);
    assert_true(target_ran);
    assert_true(atomic_load(&gq.target_saw) < CHAIN_LIMIT);
    assert_true(atomic_load(&gq.chain_final) < CHAIN_LIMIT);
}

/* ---------------------------------------------------------------------
 * GOMAXPROCS at run time
 * ------------------------------------------------------------------- */

#define RESIZE_N 1000

static struct {
    atomic_int count;
    gort_waitgroup wg;
    atomic_int thread_prev;
    atomic_int thread_done;
} rz;

static void rz_worker(void *arg)
{
    for (int i = 0; i < 5; i++)
        gort_gosched();
    atomic_fetch_add(&rz.count, 1);
    gort_waitgroup_done(&rz.wg);
}

static void *rz_thread(void *arg)
{
    atomic_store(&rz.thread_prev, gort_gomaxprocs(3));
    atomic_store(&rz.thread_done, 1);
    return NULL;
}

static void test_gomaxprocs_resize_keeps_every_runnable_goroutine(void **state)
{
    gort_gomaxprocs(4);
    rz.wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&rz.wg, RESIZE_N);
    int failures = 0;
    for (int i = 0; i < RESIZE_N; i++)
        failures += gort_go(rz_worker, NULL) != 0;

    int prev_a = gort_gomaxprocs(1);
    gort_gosched();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, rz_thread, NULL), 0);
    /* Never block the thread in pthread_join while the other thread stops
     * the world: this goroutine must reach a safe point. */
    bool thread_done = gt_wait_for(atomic_load(&rz.thread_done) != 0, gt_slow(10 * GORT_S));
    if (thread_done)
        pthread_join(t, NULL);
    gort_gosched();
    int prev_c = gort_gomaxprocs(2);
    bool all_done = gt_wg_wait_timeout(&rz.wg, gt_slow(20 * GORT_S));

    gort_sched_stats ss;
    gort_read_sched_stats(&ss);
    assert_int_equal(failures, 0);
    assert_int_equal(prev_a, 4);
    assert_true(thread_done);
    assert_int_equal(atomic_load(&rz.thread_prev), 1);
    assert_int_equal(prev_c, 3);
    assert_true(all_done);
    assert_int_equal(atomic_load(&rz.count), RESIZE_N);
    assert_int_equal(gort_gomaxprocs(0), 2);
    assert_int_equal(gort_gomaxprocs(-5), 2);
    assert_int_equal(gort_gomaxprocs(0), 2);
    assert_int_equal(ss.gomaxprocs, 2);
}

/*
 * A stop of the world does not wait for a thread that was handed a P and
 * has not woken yet: it takes the P back, and the thread, once it runs,
 * finds nothing and sleeps again.  rt_test_wake_delay makes every such
 * thread 300 ms slow to take its P.  Spawning readies a goroutine and
 * wakes a thread for the idle P; the GOMAXPROCS change right after stops
 * the world while that thread sleeps.  Afterwards the scheduler must be
 * whole: the spawned goroutines all run, on a GOMAXPROCS that took, and
 * so do goroutines spawned once the slow threads are back.
 */
enum { TB_ROUNDS = 4, TB_SPAWN = 64 };
static struct {
    _Atomic int ran;
    gort_waitgroup wg;
} tb;

static void tb_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++)
        gort_gosched();
    atomic_fetch_add(&tb.ran, 1);
    gort_waitgroup_done(&tb.wg);
}

static void test_stop_takes_back_a_p_from_a_thread_not_yet_awake(void **state)
{
    gort_gomaxprocs(2);
    /* Let the other P and its thread go idle. */
    gort_sleep(20 * GORT_MS);
    uint64_t n0 = rt_test_stw_takenback();
    atomic_store(&tb.ran, 0);
    tb.wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&tb.wg, TB_ROUNDS * TB_SPAWN * 2);
    rt_test_wake_delay(300 * GORT_MS);
    int failures = 0, procs_ok = 0;
    for (int r = 0; r < TB_ROUNDS; r++) {
        failures += gort_go(tb_worker, NULL) != 0;
        procs_ok += gort_gomaxprocs(3) == 2;
        procs_ok += gort_gomaxprocs(2) == 3;
        for (int i = 1; i < TB_SPAWN; i++)
            failures += gort_go(tb_worker, NULL) != 0;
        gort_sleep(GORT_MS);
    }
    uint64_t taken = rt_test_stw_takenback() - n0;
    /* Every slow thread is back (the longest sleeps 300 ms from the last
     * wake) before the delay goes: then spawn as many again. */
    gort_sleep(400 * GORT_MS);
    rt_test_wake_delay(0);
    for (int i = 0; i < TB_ROUNDS * TB_SPAWN; i++)
        failures += gort_go(tb_worker, NULL) != 0;
    bool all_done = gt_wg_wait_timeout(&tb.wg, gt_slow(20 * GORT_S));
    gort_sched_stats ss;
    gort_read_sched_stats(&ss);

    assert_int_equal(failures, 0);
    assert_int_equal(procs_ok, 2 * TB_ROUNDS);
    assert_true(taken >= 1);
    assert_true(all_done);
    assert_int_equal(atomic_load(&tb.ran), 2 * TB_ROUNDS * TB_SPAWN);
    assert_int_equal(ss.gomaxprocs, 2);
}

/* ---------------------------------------------------------------------
 * Sleeping
 * ------------------------------------------------------------------- */

static void test_nanotime_is_clock_monotonic(void **state)
{
    int64_t a = gt_mono_ns();
    int64_t t = gort_nanotime();
    int64_t b = gt_mono_ns();
    assert_true(a <= t);
    assert_true(t <= b);
}

#define SLEEPERS 1000

static struct {
    atomic_int early;          /* woke before the requested time */
    atomic_int done;
    atomic_llong worst_early_ns;
} sl;

static void sl_sleeper(void *arg)
{
    int64_t d = (int64_t)(intptr_t)arg;
    int64_t t0 = gort_nanotime();
    gort_sleep(d);
    int64_t dt = gort_nanotime() - t0;
    if (dt < d) {
        atomic_fetch_add(&sl.early, 1);
        atomic_store(&sl.worst_early_ns, d - dt);
    }
    atomic_fetch_add(&sl.done, 1);
}

static void test_sleep_wakes_no_earlier_than_requested(void **state)
{
    int64_t t0 = gort_nanotime();
    gort_sleep(10 * GORT_MS);
    int64_t slept = gort_nanotime() - t0;

    t0 = gort_nanotime();
    gort_sleep(0);
    gort_sleep(-GORT_S);
    int64_t zero = gort_nanotime() - t0;

    int failures = 0;
    for (int i = 0; i < SLEEPERS; i++) {
        int64_t d = (i % 25 + 1) * GORT_MS + (i % 7) * 100 * GORT_US;
        failures += gort_go(sl_sleeper, (void *)(intptr_t)d) != 0;
    }
    bool all = gt_wait_for(atomic_load(&sl.done) == SLEEPERS - failures,
                           gt_slow(10 * GORT_S));

    print_message("gort_sleep(10ms) took %.3f ms\n", slept / 1e6);
    assert_true(slept >= 10 * GORT_MS);
    assert_true(slept < GORT_S);
    assert_true(zero < 100 * GORT_MS);
    assert_int_equal(failures, 0);
    assert_true(all);
    if (atomic_load(&sl.early) != 0)
        print_message("%d sleepers woke early, e.g. by %lld ns\n",
                      atomic_load(&sl.early), atomic_load(&sl.worst_early_ns));
    assert_int_equal(atomic_load(&sl.early), 0);
}

static struct {
    atomic_int started;
    atomic_int done;
} sh;

static void sh_sleeper(void *arg)
{
    atomic_fetch_add(&sh.started, 1);
    gort_sleep(GORT_S);
    atomic_fetch_add(&sh.done, 1);
}

static void test_sleep_holds_no_thread(void **state)
{
    /* Few Ps, so that spinning Ms stay few whatever the host's CPU count. */
    gort_gomaxprocs(2);
    gort_sched_stats before, during;
    gort_read_sched_stats(&before);
    int failures = 0;
    for (int i = 0; i < SLEEPERS; i++)
        failures += gort_go(sh_sleeper, NULL) != 0;
    bool started = gt_wait_for(atomic_load(&sh.started) == SLEEPERS - failures,
                               gt_slow(10 * GORT_S));
    gort_read_sched_stats(&during);
    /* Sleepers counted as started but not done are inside gort_sleep now. */
    int sleeping = atomic_load(&sh.started) - atomic_load(&sh.done);
    bool all = gt_wait_for(atomic_load(&sh.done) == SLEEPERS - failures,
                           gt_slow(10 * GORT_S));

    print_message("threads: %d before, %d while %d goroutines sleep\n",
                  before.threads, during.threads, sleeping);
    assert_int_equal(failures, 0);
    assert_true(started);
    assert_true(sleeping > SLEEPERS / 2);
    assert_true(during.threads - before.threads < 10);
    assert_true(all);
}

/* ---------------------------------------------------------------------
 * LockOSThread
 * ------------------------------------------------------------------- */

#define LK_OTHERS 8

static struct {
    atomic_int locked;           /* the locker holds its thread */
    atomic_long locked_tid;
    atomic_int moved;            /* the locker saw a different thread */
    atomic_int locker_done;
    atomic_int violations;       /* another goroutine ran on the locked thread */
    atomic_long others_while_locked;
    gort_waitgroup wg;
} lk;

static void lk_locker(void *arg)
{
    gort_lock_os_thread();
    long tid = thread_id();
    atomic_store(&lk.locked_tid, tid);
    atomic_store(&lk.locked, 1);
    for (int i = 0; i < 100; i++) {
        if (i % 2)
            gort_sleep(100 * GORT_US);
        else
            gort_gosched();
        if (thread_id() != tid)
            atomic_fetch_add(&lk.moved, 1);
    }
    atomic_store(&lk.locked, 0);
    gort_unlock_os_thread();
    atomic_store(&lk.locker_done, 1);
    gort_waitgroup_done(&lk.wg);
}

static void lk_other(void *arg)
{
    for (long i = 0; !atomic_load(&lk.locker_done); i++) {
        long t1 = thread_id();
        int locked = atomic_load(&lk.locked);
        long ltid = atomic_load(&lk.locked_tid);
        long t2 = thread_id();
        if (locked && t1 == t2) {
            if (t1 == ltid)
                atomic_fetch_add(&lk.violations, 1);
            else
                atomic_fetch_add(&lk.others_while_locked, 1);
        }
        if (i % 2)
            gort_gosched();
        else
            gort_sleep(50 * GORT_US);
    }
    gort_waitgroup_done(&lk.wg);
}

static void test_lock_os_thread_pins(void **state)
{
    gort_gomaxprocs(2);
    lk.wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&lk.wg, 1 + LK_OTHERS);
    int failures = gort_go(lk_locker, NULL) != 0;
    for (int i = 0; i < LK_OTHERS; i++)
        failures += gort_go(lk_other, NULL) != 0;
    bool all = gt_wg_wait_timeout(&lk.wg, gt_slow(20 * GORT_S));

    print_message("others ran %ld times off the locked thread while it was locked\n",
                  atomic_load(&lk.others_while_locked));
    assert_int_equal(failures, 0);
    assert_true(all);
    assert_int_equal(atomic_load(&lk.moved), 0);
    assert_int_equal(atomic_load(&lk.violations), 0);
    assert_true(atomic_load(&lk.others_while_locked) > 0);
}

/* ---------------------------------------------------------------------
 * Spawning
 * ------------------------------------------------------------------- */

#define SPAWN_MAX 100000
#define SPAWNERS 8

static struct {
    long n;
    atomic_int slot[SPAWN_MAX];
    atomic_long total;
    atomic_int failures;
    atomic_int spawners_done;
} sp;

static void sp_child(void *arg)
{
    atomic_fetch_add(&sp.slot[(intptr_t)arg], 1);
    atomic_fetch_add(&sp.total, 1);
}

static void sp_spawner(void *arg)
{
    for (long i = (intptr_t)arg; i < sp.n; i += SPAWNERS)
        if (gort_go(sp_child, (void *)(intptr_t)i) != 0)
            atomic_fetch_add(&sp.failures, 1);
    atomic_fetch_add(&sp.spawners_done, 1);
}

static void test_spawn_from_many_goroutines_runs_each_exactly_once(void **state)
{
    sp.n = gt_scale(SPAWN_MAX);
    for (long i = 0; i < sp.n; i++)
        atomic_store(&sp.slot[i], 0);
    int failures = 0;
    for (long k = 0; k < SPAWNERS; k++)
        failures += gort_go(sp_spawner, (void *)(intptr_t)k) != 0;
    bool all = gt_wait_for(atomic_load(&sp.spawners_done) == SPAWNERS &&
                           atomic_load(&sp.total) >= sp.n - atomic_load(&sp.failures),
                           gt_slow(60 * GORT_S));
    gort_sleep(10 * GORT_MS);          /* let a duplicate run show up */

    long wrong = 0;
    for (long i = 0; i < sp.n; i++)
        wrong += atomic_load(&sp.slot[i]) != 1;
    assert_int_equal(failures, 0);
    assert_true(all);
    assert_int_equal(atomic_load(&sp.failures), 0);
    assert_int_equal(atomic_load(&sp.total), sp.n);
    assert_int_equal(wrong, 0);
}

/* Gosched hands the P straight from one goroutine to the next without a
 * trip through the scheduler stack, and the yielding goroutine is on the
 * global queue before its registers are saved.  Many yielders on more Ps
 * than CPUs, each checking its own stack and identity after every yield,
 * catch a goroutine resumed before it was saved or on the wrong stack. */
#define YS_GOROUTINES 64
#define YS_ROUNDS 100000

static struct {
    long rounds;
    atomic_long yields;
    atomic_int corrupt;
    atomic_int done;
} ys;

static void ys_yielder(void *arg)
{
    volatile uint64_t pattern[16];
    uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull;
    uint64_t id = gort_goid();
    for (long r = 0; r < ys.rounds; r++) {
        for (int k = 0; k < 16; k++)
            pattern[k] = seed ^ (uint64_t)(r * 16 + k);
        if (r % 1000 == 999)
            gort_sleep(10 * GORT_US);  /* timers: the slow path */
        else
            gort_gosched();
        int bad = gort_goid() != id;
        for (int k = 0; k < 16; k++)
            bad |= pattern[k] != (seed ^ (uint64_t)(r * 16 + k));
        if (bad)
            atomic_fetch_add(&ys.corrupt, 1);
    }
    atomic_fetch_add(&ys.yields, ys.rounds);
    atomic_fetch_add(&ys.done, 1);
}

static void test_gosched_storm_keeps_every_stack_intact(void **state)
{
    gort_gomaxprocs(4);
    ys.rounds = gt_scale(YS_ROUNDS);
    int failures = 0;
    for (long i = 0; i < YS_GOROUTINES; i++)
        failures += gort_go(ys_yielder, (void *)(intptr_t)(i + 1)) != 0;
    bool all = gt_wait_for(atomic_load(&ys.done) == YS_GOROUTINES - failures,
                           gt_slow(120 * GORT_S));
    print_message("%ld yields by %d goroutines on 4 Ps, %d corrupt\n",
                  atomic_load(&ys.yields), YS_GOROUTINES, atomic_load(&ys.corrupt));
    assert_int_equal(failures, 0);
    assert_true(all);
    assert_int_equal(atomic_load(&ys.corrupt), 0);
    assert_int_equal(atomic_load(&ys.yields), (long)YS_GOROUTINES * ys.rounds);
}

/*
 * Threads take their creator's name.  An M started by a foreign thread
 * that readies a goroutine must not keep that thread's name (in gortd, a
 * job thread's: ps and top would show a job thread that never ends).  A
 * named foreign thread spawns goroutines that keep every P busy, on more
 * Ps than there are Ms, so new Ms are needed while it spawns; afterwards
 * it must be the only thread with its name.
 */
enum { FN_EXTRA_PS = 16 };
static struct {
    int spawn;   /* burners: 4 per P */
    _Atomic bool stop;
    _Atomic int running, done, failures;
} fn;

static void fn_burner(void *arg)
{
    (void)arg;
    atomic_fetch_add(&fn.running, 1);
    while (!atomic_load(&fn.stop)) {
        burn(20000);
        gort_gosched();
    }
    atomic_fetch_add(&fn.done, 1);
}

static void *fn_thread(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "tsched-foreign");
    for (int i = 0; i < fn.spawn; i++)
        if (gort_go(fn_burner, NULL) != 0)
            atomic_fetch_add(&fn.failures, 1);
    /* Stay alive, still named, until the names are counted. */
    while (!atomic_load(&fn.stop))
        usleep(1000);
    return NULL;
}

/* Threads of this process named name. */
static int threads_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "re");
        if (f) {
            if (fgets(comm, sizeof comm, f))
                comm[strcspn(comm, "\n")] = '\0';
            fclose(f);
        }
        n += strcmp(comm, name) == 0;
    }
    closedir(d);
    return n;
}

/* Whether the foreign thread's own wake-up finds no idle M, and starts
 * one, depends on timing: without the renaming this fails in about half
 * the runs, and with it never. */
static void test_threads_started_for_a_foreign_thread_do_not_take_its_name(void **state)
{
    gort_sched_stats ss;
    gort_read_sched_stats(&ss);
    int procs = (int)ss.threads + FN_EXTRA_PS;
    if (procs > GORT_MAX_PROCS)
        procs = GORT_MAX_PROCS;
    fn.spawn = 4 * procs;
    gort_gomaxprocs(procs);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fn_thread, NULL), 0);
    bool running = gt_wait_for(atomic_load(&fn.running) + atomic_load(&fn.failures) >= fn.spawn,
                               gt_slow(20 * GORT_S));
    gort_read_sched_stats(&ss);
    int named = threads_named("tsched-foreign");
    atomic_store(&fn.stop, true);
    pthread_join(t, NULL);
    bool done = gt_wait_for(atomic_load(&fn.done) == atomic_load(&fn.running), gt_slow(20 * GORT_S));
    print_message("%d Ps, %d threads; %d named as the foreign thread\n", procs, (int)ss.threads, named);
    assert_int_equal(atomic_load(&fn.failures), 0);
    assert_true(running);
    assert_true(done);
    assert_int_equal(named, 1);
}

#define FT_THREADS 4
#define FT_PER_THREAD 1000

static struct {
    long per_thread;
    atomic_int slot[FT_THREADS * FT_PER_THREAD];
    atomic_long total;
    atomic_int failures;
    atomic_int threads_done;
} ft;

static void ft_child(void *arg)
{
    atomic_fetch_add(&ft.slot[(intptr_t)arg], 1);
    atomic_fetch_add(&ft.total, 1);
}

static void *ft_thread(void *arg)
{
    long base = (long)(intptr_t)arg * ft.per_thread;
    for (long i = 0; i < ft.per_thread; i++)
        if (gort_go(ft_child, (void *)(intptr_t)(base + i)) != 0)
            atomic_fetch_add(&ft.failures, 1);
    atomic_fetch_add(&ft.threads_done, 1);
    return NULL;
}

static void test_gort_go_from_foreign_thread(void **state)
{
    ft.per_thread = gt_scale(FT_PER_THREAD);
    long n = FT_THREADS * ft.per_thread;
    pthread_t t[FT_THREADS];
    for (long k = 0; k < FT_THREADS; k++)
        assert_int_equal(pthread_create(&t[k], NULL, ft_thread, (void *)(intptr_t)k), 0);
    bool threads = gt_wait_for(atomic_load(&ft.threads_done) == FT_THREADS,
                               gt_slow(30 * GORT_S));
    if (threads)
        for (int k = 0; k < FT_THREADS; k++)
            pthread_join(t[k], NULL);
    bool all = gt_wait_for(atomic_load(&ft.total) >= n - atomic_load(&ft.failures),
                           gt_slow(30 * GORT_S));
    gort_sleep(10 * GORT_MS);

    long wrong = 0;
    for (long i = 0; i < n; i++)
        wrong += atomic_load(&ft.slot[i]) != 1;
    assert_true(threads);
    assert_int_equal(atomic_load(&ft.failures), 0);
    assert_true(all);
    assert_int_equal(atomic_load(&ft.total), n);
    assert_int_equal(wrong, 0);
}

/* ---------------------------------------------------------------------
 * sysmon after a deep sleep
 * ------------------------------------------------------------------- */

/* Once every P has been idle a while, sysmon sleeps until the next timer.
 * Ps that get busy again must wake it: without it nothing asks a
 * goroutine that only reaches safe points to yield, and a goroutine
 * queued behind two of them on two Ps would wait for the next timer. */
static struct {
    atomic_bool stop, spawned;
    atomic_llong t0, latency;
    gort_waitgroup wg;
} sw;

static void sw_first(void *arg)
{
    atomic_store(&sw.spawned, true);
}

static void sw_spinner(void *arg)
{
    int64_t end = gort_nanotime() + 10 * GORT_S;
    while (!atomic_load(&sw.stop) && gort_nanotime() < end)
        gort_safepoint();
    gort_waitgroup_done(&sw.wg);
}

static void sw_late(void *arg)
{
    atomic_store(&sw.latency, gort_nanotime() - atomic_load(&sw.t0));
    atomic_store(&sw.stop, true);
    gort_waitgroup_done(&sw.wg);
}

static void *sw_thread(void *arg)
{
    int procs = (int)(intptr_t)arg;
    /* A first spawn from this thread tells deadlock detection that work
     * may come from outside while every goroutine waits. */
    assert_int_equal(gort_go(sw_first, NULL), 0);
    usleep(300 * 1000);   /* every P idle, no timer due: sysmon sleeps deeply */
    for (int i = 0; i < procs; i++)
        assert_int_equal(gort_go(sw_spinner, NULL), 0);
    usleep(50 * 1000);
    atomic_store(&sw.t0, gort_nanotime());
    assert_int_equal(gort_go(sw_late, NULL), 0);
    return NULL;
}

static void test_busy_ps_wake_a_deeply_sleeping_sysmon(void **state)
{
    int procs = gort_gomaxprocs(0);
    atomic_store(&sw.stop, false);
    atomic_store(&sw.latency, -1);
    gort_waitgroup_add(&sw.wg, procs + 1);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sw_thread, (void *)(intptr_t)procs), 0);
    assert_true(gt_wait_for(atomic_load(&sw.spawned), gt_slow(10 * GORT_S)));
    gort_waitgroup_wait(&sw.wg);   /* parked without a timer */
    pthread_join(t, NULL);
    int64_t ns = atomic_load(&sw.latency);
    print_message("goroutine queued behind %d spinning goroutines ran after %.1f ms\n", procs, ns / 1e6);
    assert_true(ns >= 0 && ns < gt_slow(2 * GORT_S));
}

/* A goroutine queued from a thread that is not an M goes to the global
 * queue; an M that stops spinning at that moment must still see it.  The
 * thread spawns pairs and waits for each pair to run, with short idle
 * gaps, so that Ms keep going from spinning to idle. */
#define WAKE_PAIRS 60000

static struct {
    atomic_long ran, lost_at;
    gort_sema finished;
} wk = {.finished = GORT_SEMA_INIT};

static void wk_finish(void *arg)
{
    gort_sema_release(&wk.finished, 1);
}

static void wk_quick(void *arg)
{
    atomic_fetch_add(&wk.ran, 1);
}

static void wk_busy(void *arg)
{
    for (volatile int i = 0; i < (int)(intptr_t)arg; i++) {
    }
    atomic_fetch_add(&wk.ran, 1);
}

static void *wk_thread(void *arg)
{
    long pairs = (long)(intptr_t)arg;
    for (long i = 0; i < pairs && atomic_load(&wk.lost_at) < 0; i++) {
        long want = atomic_load(&wk.ran) + 2;
        assert_int_equal(gort_go(wk_busy, (void *)(intptr_t)(i * 7919 % 2000)), 0);
        assert_int_equal(gort_go(wk_quick, NULL), 0);
        int64_t deadline = gort_nanotime() + gt_slow(5 * GORT_S);
        while (atomic_load(&wk.ran) < want) {
            if (gort_nanotime() > deadline) {
                atomic_store(&wk.lost_at, i);
                break;
            }
        }
        if (i % 7 == 0)
            usleep((useconds_t)(i % 200));
    }
    assert_int_equal(gort_go(wk_finish, NULL), 0);
    return NULL;
}

static void test_goroutines_queued_from_a_foreign_thread_are_never_left_unrun(void **state)
{
    long pairs = gt_scale(WAKE_PAIRS);
    atomic_store(&wk.lost_at, -1);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wk_thread, (void *)(intptr_t)pairs), 0);
    /* Parked on one far timer: no M of ours stays busy polling. */
    bool done = gort_sema_acquire_until(&wk.finished, 1, gort_nanotime() + gt_slow(300 * GORT_S)) == 0;
    if (done)
        pthread_join(t, NULL);
    assert_true(done);
    if (atomic_load(&wk.lost_at) >= 0)
        fail_msg("pair %ld of %ld was never run", atomic_load(&wk.lost_at), pairs);
}

/* ---------------------------------------------------------------------
 * Goroutine ids and counts
 * ------------------------------------------------------------------- */

#define GD_N 5

static struct {
    atomic_ullong ids[GD_N];
    atomic_int id_changed;
    atomic_int started;
    gort_waitgroup gate;
    atomic_int finished;
    atomic_ullong thread_goid;
    atomic_int thread_p;
    atomic_llong thread_m;
    atomic_int thread_done;
} gd;

static void gd_child(void *arg)
{
    int i = (int)(intptr_t)arg;
    atomic_store(&gd.ids[i], gort_goid());
    atomic_fetch_add(&gd.started, 1);
    gort_waitgroup_wait(&gd.gate);
    if (gort_goid() != atomic_load(&gd.ids[i]))
        atomic_fetch_add(&gd.id_changed, 1);
    atomic_fetch_add(&gd.finished, 1);
}

static void *gd_thread(void *arg)
{
    atomic_store(&gd.thread_goid, gort_goid());
    atomic_store(&gd.thread_p, rt_test_current_p());
    atomic_store(&gd.thread_m, rt_test_current_m());
    atomic_store(&gd.thread_done, 1);
    return NULL;
}

static void test_goid_and_num_goroutine(void **state)
{
    uint64_t main_goid = gort_goid();
    gd.gate = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&gd.gate, 1);
    int failures = 0;
    for (int i = 0; i < GD_N; i++)
        failures += gort_go(gd_child, (void *)(intptr_t)i) != 0;
    bool started = gt_wait_for(atomic_load(&gd.started) == GD_N, 5 * GORT_S);
    int during = gort_num_goroutine();
    gort_sched_stats ss;
    gort_read_sched_stats(&ss);
    gort_waitgroup_done(&gd.gate);
    bool finished = gt_wait_for(atomic_load(&gd.finished) == GD_N, 5 * GORT_S);
    bool dropped = gt_wait_for(gort_num_goroutine() <= during - GD_N, 5 * GORT_S);

    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, gd_thread, NULL), 0);
    bool thread_done = gt_wait_for(atomic_load(&gd.thread_done) != 0, 5 * GORT_S);
    if (thread_done)
        pthread_join(t, NULL);

    assert_int_equal(main_goid, 1);
    assert_int_equal(failures, 0);
    assert_true(started);
    assert_true(atomic_load(&gd.ids[0]) > 1);
    for (int i = 1; i < GD_N; i++)
        assert_true(atomic_load(&gd.ids[i]) > atomic_load(&gd.ids[i - 1]));
    assert_true(during >= 1 + GD_N);
    assert_true(ss.goroutines >= 1 + GD_N);
    assert_true(finished);
    assert_int_equal(atomic_load(&gd.id_changed), 0);
    assert_true(dropped);
    assert_true(rt_test_current_p() >= 0);
    assert_true(rt_test_current_m() >= 0);
    assert_true(thread_done);
    assert_int_equal(atomic_load(&gd.thread_goid), 0);
    assert_int_equal(atomic_load(&gd.thread_p), -1);
    assert_int_equal(atomic_load(&gd.thread_m), -1);
}

/* ---------------------------------------------------------------------
 * Bad arguments
 * ------------------------------------------------------------------- */

static atomic_int small_stack_ran;

static void small_stack_fn(void *arg)
{
    atomic_store(&small_stack_ran, 1);
}

static atomic_int second_main_ran;

static void second_main(void *arg)
{
    atomic_store(&second_main_ran, 1);
}

static void test_bad_arguments(void **state)
{
    assert_int_equal(gort_go(NULL, NULL), -EINVAL);
    gort_go_opts tiny = { .stack_size = 100 };
    assert_int_equal(gort_go_with(small_stack_fn, NULL, &tiny), -EINVAL);
    gort_go_opts below = { .stack_size = 16 * 1024 - 1 };
    assert_int_equal(gort_go_with(small_stack_fn, NULL, &below), -EINVAL);
    gort_go_opts above = { .stack_size = ((size_t)1 << 30) + 1 };
    assert_int_equal(gort_go_with(small_stack_fn, NULL, &above), -EINVAL);
    gort_go_opts fine = { .stack_size = 16 * 1024 };
    assert_int_equal(gort_go_with(NULL, NULL, &fine), -EINVAL);
    assert_int_equal(gort_set_schedtrace(-1, false), -EINVAL);
    assert_int_equal(gort_set_schedtrace(-1, true), -EINVAL);

    /* The smallest allowed stack works. */
    assert_int_equal(gort_go_with(small_stack_fn, NULL, &fine), 0);
    assert_true(gt_wait_for(atomic_load(&small_stack_ran) != 0, 5 * GORT_S));

    /* The runtime starts once per process. */
    assert_int_equal(gort_start(), -EALREADY);
    assert_true(gort_main(second_main, NULL) < 0);
    gort_sleep(10 * GORT_MS);
    assert_int_equal(atomic_load(&second_main_ran), 0);

    const int errs[] = { -EINVAL, -EAGAIN, -ENOMEM, -ESRCH, -EALREADY };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        const char *msg = gort_strerror(errs[i]);
        assert_non_null(msg);
        assert_true(msg[0] != '\0');
    }
    assert_string_not_equal(gort_strerror(-EINVAL), gort_strerror(-EAGAIN));
}

static void test_max_threads_query_returns_go_default(void **state)
{
    assert_int_equal(gort_set_max_threads(0), 10000);
    assert_int_equal(gort_set_max_threads(-1), 10000);
    assert_int_equal(gort_set_max_threads(0), 10000);
}

/* ---------------------------------------------------------------------
 * Embedding (subprocess: gort_start instead of gort_main)
 * ------------------------------------------------------------------- */

static long long field(const char *text, const char *name)
{
    char pat[128];
    regmatch_t m[2];
    snprintf(pat, sizeof pat, "^%s=(-?[0-9]+)$", name);
    if (!gt_regex_search(text, pat, m, 2))
        return LLONG_MIN;
    return gt_submatch_ll(text, m[1]);
}

static void test_embedding_starts_with_gort_start_and_spawns_from_its_thread(void **state)
{
    gt_proc r;
    gt_run("embed", NULL, NULL, gt_slow(30 * GORT_S), &r);

    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(field(r.out, "goid_before_start") == 0, &r);
    GT_ASSERT_PROC(field(r.out, "go_before_start") == -ESRCH, &r);
    GT_ASSERT_PROC(field(r.out, "start") == 0, &r);
    GT_ASSERT_PROC(field(r.out, "start_again") == -EALREADY, &r);
    GT_ASSERT_PROC(field(r.out, "go_after_start") == 0, &r);
    GT_ASSERT_PROC(field(r.out, "goroutine_ran") == 1, &r);
    GT_ASSERT_PROC(field(r.out, "goroutine_goid") > 0, &r);
    GT_ASSERT_PROC(field(r.out, "goid_on_caller_thread") == 0, &r);
    GT_ASSERT_PROC(field(r.out, "main_after_start") < 0, &r);
    gt_proc_free(&r);
}

/* ---------------------------------------------------------------------
 * Goroutine dumps
 * ------------------------------------------------------------------- */

struct dumpbuf {
    char *s;
    size_t len, cap;
};

static void dump_write(void *ctx, const char *s, size_t n)
{
    struct dumpbuf *b = ctx;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 65536;
        while (b->len + n + 1 > ncap)
            ncap *= 2;
        char *ns = realloc(b->s, ncap);
        if (ns == NULL)
            return;
        b->s = ns;
        b->cap = ncap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* The dump as one malloc'd string (never NULL). */
static char *dump(const char *label)
{
    struct dumpbuf b = { 0 };
    gort_dump_goroutines(dump_write, &b, label);
    return b.s ? b.s : strdup("");
}

/* The block of text for the goroutine whose header starts at text + at:
 * up to the next blank line or the next goroutine header. */
static char *dump_block(const char *text, size_t at)
{
    const char *start = text + at;
    const char *end = start;
    for (;;) {
        const char *nl = strchr(end, '\n');
        if (nl == NULL) {
            end += strlen(end);
            break;
        }
        end = nl + 1;
        if (*end == '\n' || *end == '\0' || strncmp(end, "goroutine ", 10) == 0)
            break;
    }
    return strndup(start, (size_t)(end - start));
}

static int count_headers(const char *text)
{
    int n = 0, full = 0;
    gt_count_lines(text, "^goroutine [0-9]+ \\[", NULL, &n, &full);
    return n;
}

static const char waiter_label[] = "plugin demo, task waiter";

static struct {
    atomic_int started;
    atomic_ullong goid;
    gort_waitgroup gate;
    atomic_int done;
} dw;

static void dw_waiter(void *arg)
{
    atomic_store(&dw.goid, gort_goid());
    atomic_store(&dw.started, 1);
    gort_waitgroup_wait(&dw.gate);
    atomic_store(&dw.done, 1);
}

static void test_goroutine_dump_shows_frames_of_a_parked_goroutine(void **state)
{
    dw.gate = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&dw.gate, 1);
    gort_go_opts o = { .label = waiter_label };
    int rc = gort_go_with(dw_waiter, NULL, &o);
    bool started = gt_wait_for(atomic_load(&dw.started) != 0, 5 * GORT_S);
    /* It makes no call between the flag and parking: wait until the dump
     * shows it parked. */
    char *text = NULL;
    bool parked = gt_wait_for((free(text), text = dump(waiter_label),
                               gt_matches(text, "\\[semacquire\\]:$")),
                              5 * GORT_S);
    gort_waitgroup_done(&dw.gate);
    bool done = gt_wait_for(atomic_load(&dw.done) != 0, 5 * GORT_S);

    regmatch_t m[2];
    bool header = gt_regex_search(text, "^goroutine ([0-9]+) \\[semacquire\\]:$", m, 2);
    long long goid = header ? gt_submatch_ll(text, m[1]) : -1;
    if (!header || !parked)
        fprintf(stderr, "---- dump:\n%s---- end\n", text);
    assert_int_equal(rc, 0);
    assert_true(started);
    assert_true(parked);
    assert_true(header);
    assert_int_equal(goid, (long long)atomic_load(&dw.goid));
    assert_int_equal(count_headers(text), 1);
    char *block = dump_block(text, (size_t)m[0].rm_so);
    bool frame = gt_matches(block, "^[ \t]+.*\\+0x[0-9a-fA-F]+$");
    if (!frame)
        fprintf(stderr, "---- block:\n%s---- end\n", block);
    assert_true(frame);
    assert_true(done);
    free(block);
    free(text);
}

static const char sleeper_label[] = "plugin demo, task sleeper";

static struct {
    atomic_int started;
    atomic_ullong goid;
} ds;

/* Left sleeping when the suite ends: the runtime stops with main. */
static void ds_sleeper(void *arg)
{
    atomic_store(&ds.goid, gort_goid());
    atomic_store(&ds.started, 1);
    gort_sleep(60 * GORT_S);
}

static void test_goroutine_dump_shows_status_reason_and_duration(void **state)
{
    gort_go_opts o = { .label = sleeper_label };
    int rc = gort_go_with(ds_sleeper, NULL, &o);
    bool started = gt_wait_for(atomic_load(&ds.started) != 0, 5 * GORT_S);
    char *probe = NULL;
    bool asleep = gt_wait_for((free(probe), probe = dump(sleeper_label),
                               gt_matches(probe, "^goroutine [0-9]+ \\[sleep")),
                              5 * GORT_S);
    free(probe);

    rt_test_dump_clock_skew(3 * 60 * GORT_S);
    char *all = dump(NULL);
    char *mine = dump("plugin demo, task sl");
    char *prefix = dump("plugin demo");
    char *nobody = dump("no such label");
    rt_test_dump_clock_skew(0);

    regmatch_t m[2];
    bool header = gt_regex_search(
        all, "^goroutine ([0-9]+) \\[sleep, 3 minutes\\]:\n(label )?plugin demo, task sleeper$",
        m, 2);
    if (!header)
        fprintf(stderr, "---- dump:\n%s---- end\n", all);
    assert_int_equal(rc, 0);
    assert_true(started);
    assert_true(asleep);
    assert_true(header);
    assert_int_equal(gt_submatch_ll(all, m[1]), (long long)atomic_load(&ds.goid));
    char *block = dump_block(all, (size_t)m[0].rm_so);
    assert_true(gt_matches(block, "^created by goroutine 1 in "));
    free(block);
    assert_true(gt_matches(all, "^goroutine 1 \\[running\\]:$"));

    /* The label filter keeps only goroutines whose label starts with it. */
    assert_true(gt_matches(mine, "^goroutine [0-9]+ \\[sleep, 3 minutes\\]:$"));
    assert_int_equal(count_headers(mine), 1);
    assert_false(gt_matches(mine, "^goroutine 1 \\["));
    assert_true(gt_matches(prefix, "plugin demo, task sleeper"));
    assert_false(gt_matches(prefix, "^goroutine 1 \\["));
    assert_int_equal(count_headers(nobody), 0);
    free(all);
    free(mine);
    free(prefix);
    free(nobody);
}

/* ---------------------------------------------------------------------
 * WaitGroup
 * ------------------------------------------------------------------- */

#define WG_WAITERS 5

static struct {
    gort_waitgroup wg;
    gort_waitgroup zero;
    atomic_int released;
    atomic_int thread_done;
} wgt;

static void wg_waiter(void *arg)
{
    gort_waitgroup_wait(&wgt.wg);
    atomic_fetch_add(&wgt.released, 1);
}

static void wg_doner(void *arg)
{
    gort_waitgroup_done(&wgt.wg);
}

static void *wg_thread(void *arg)
{
    gort_waitgroup_done(&wgt.wg);
    atomic_store(&wgt.thread_done, 1);
    return NULL;
}

static void test_waitgroup(void **state)
{
    /* Waiting on a zero counter returns at once. */
    wgt.zero = (gort_waitgroup)GORT_WAITGROUP_INIT;
    assert_true(gt_wg_wait_timeout(&wgt.zero, 5 * GORT_S));

    /* Several waiters on one group are all released by the last Done. */
    wgt.wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&wgt.wg, 3);
    int failures = 0;
    for (int i = 0; i < WG_WAITERS; i++)
        failures += gort_go(wg_waiter, NULL) != 0;
    gort_sleep(30 * GORT_MS);
    int released_at_3 = atomic_load(&wgt.released);
    gort_waitgroup_done(&wgt.wg);
    failures += gort_go(wg_doner, NULL) != 0;
    gort_sleep(30 * GORT_MS);
    int released_at_1 = atomic_load(&wgt.released);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wg_thread, NULL), 0);
    bool all = gt_wait_for(atomic_load(&wgt.released) == WG_WAITERS, 5 * GORT_S);
    bool thread_done = gt_wait_for(atomic_load(&wgt.thread_done) != 0, 5 * GORT_S);
    if (thread_done)
        pthread_join(t, NULL);

    assert_int_equal(failures, 0);
    assert_int_equal(released_at_3, 0);
    assert_int_equal(released_at_1, 0);
    assert_true(thread_done);
    assert_true(all);

    /* The group can be reused once it reached zero. */
    gort_waitgroup_add(&wgt.wg, 1);
    for (int i = 0; i < 2; i++)
        assert_int_equal(gort_go(wg_waiter, NULL), 0);
    gort_sleep(20 * GORT_MS);
    assert_int_equal(atomic_load(&wgt.released), WG_WAITERS);
    gort_waitgroup_done(&wgt.wg);
    assert_true(gt_wait_for(atomic_load(&wgt.released) == WG_WAITERS + 2, 5 * GORT_S));
    assert_true(gt_wg_wait_timeout(&wgt.wg, 5 * GORT_S));
}

/* ---------------------------------------------------------------------
 * Watchdog
 * ------------------------------------------------------------------- */

static atomic_int wd_calls;
static _Atomic int64_t wd_at[1024];     /* when each call came */
static _Atomic int64_t hog_start, hog_end;

static void wd_count(void *ctx)
{
    int i = atomic_fetch_add((atomic_int *)ctx, 1);
    if (i < 1024)
        atomic_store(&wd_at[i], gt_mono_ns());
}

/* A goroutine that keeps its P for ms without a safe point. */
static void wd_hog(void *arg)
{
    atomic_store(&hog_start, gt_mono_ns());
    int64_t end = gt_mono_ns() + (int64_t)(intptr_t)arg * GORT_MS;
    volatile uint64_t x = 1;
    while (gt_mono_ns() < end)
        x = x * 3 + 1;
    atomic_store(&hog_end, gt_mono_ns());
}

static void test_watchdog_is_called_while_the_scheduler_progresses(void **state)
{
    assert_int_equal(gort_set_watchdog(-1, wd_count, &wd_calls), -EINVAL);
    assert_int_equal(gort_set_watchdog(999999, wd_count, &wd_calls), -EINVAL);

    /* Every 5 ms on a process whose goroutines keep switching. */
    atomic_store(&wd_calls, 0);
    assert_int_equal(gort_set_watchdog(5 * GORT_MS, wd_count, &wd_calls), 0);
    gort_sleep(200 * GORT_MS);
    int calls = atomic_load(&wd_calls);
    print_message("%d watchdog calls in 200 ms at a 5 ms period\n", calls);
    assert_true(calls >= 10 && calls <= 42);

    /* On one P, a goroutine that never reaches a safe point for 300 ms
     * silences it (a call just after it starts may still count the
     * progress made before); the calls resume when it is done (40 are
     * due in the 200 ms after: a few suffice on a loaded machine). */
    gort_gomaxprocs(1);
    assert_int_equal(gort_go(wd_hog, (void *)(intptr_t)300), 0);
    assert_true(gt_wait_for(atomic_load(&hog_end) != 0, 5 * GORT_S));
    gort_sleep(200 * GORT_MS);
    int n = atomic_load(&wd_calls), during = 0, after = 0;
    int64_t start = atomic_load(&hog_start), end = atomic_load(&hog_end);
    for (int i = 0; i < n && i < 1024; i++) {
        int64_t at = atomic_load(&wd_at[i]);
        during += at > start && at < end;
        after += at >= end;
    }
    print_message("while a P was held %lld ms: %d calls; in the 200 ms after: %d\n",
                  (long long)((end - start) / GORT_MS), during, after);
    assert_true(during <= 1);
    assert_true(after >= 3);

    /* Off: no more calls. */
    assert_int_equal(gort_set_watchdog(0, NULL, NULL), 0);
    gort_sleep(10 * GORT_MS);
    int off = atomic_load(&wd_calls);
    gort_sleep(50 * GORT_MS);
    assert_int_equal(atomic_load(&wd_calls), off);
}

/* ---------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, gt_save_knobs, restore_knobs)

static void run_all(void *arg)
{
    const struct CMUnitTest tests[] = {
        T(test_goid_and_num_goroutine),
        T(test_bad_arguments),
        T(test_max_threads_query_returns_go_default),
        T(test_nanotime_is_clock_monotonic),
        T(test_waitgroup),
        T(test_sleep_wakes_no_earlier_than_requested),
        T(test_sleep_holds_no_thread),
        T(test_two_cpu_bound_goroutines_run_in_parallel),
        T(test_blocking_syscall_does_not_stop_others),
        T(test_stealing_drains_a_loaded_p),
        T(test_global_queue_served_while_local_queue_busy),
        T(test_gomaxprocs_resize_keeps_every_runnable_goroutine),
        T(test_stop_takes_back_a_p_from_a_thread_not_yet_awake),
        T(test_lock_os_thread_pins),
        T(test_spawn_from_many_goroutines_runs_each_exactly_once),
        T(test_gosched_storm_keeps_every_stack_intact),
        T(test_gort_go_from_foreign_thread),
        T(test_threads_started_for_a_foreign_thread_do_not_take_its_name),
        T(test_busy_ps_wake_a_deeply_sleeping_sysmon),
        T(test_goroutines_queued_from_a_foreign_thread_are_never_left_unrun),
        T(test_embedding_starts_with_gort_start_and_spawns_from_its_thread),
        T(test_goroutine_dump_shows_frames_of_a_parked_goroutine),
        T(test_watchdog_is_called_while_the_scheduler_progresses),
        /* Last: leaves a goroutine asleep for a minute. */
        T(test_goroutine_dump_shows_status_reason_and_duration),
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
    return gt_main("test_sched", run_all);
}
