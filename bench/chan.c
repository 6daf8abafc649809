/*
 * chan.c - channel, select and mutex benchmarks: unbuffered ping-pong,
 * buffered throughput, a 2-way select fed by two producers, and a mutex
 * taken by one goroutine or fought over by two.
 *
 *     chan pingpong PROCS [N]
 *     chan WORKLOAD [N]        (buffered, select2, mutex_uncontended,
 *                               mutex_contended)
 *
 * runs one workload and prints exactly one result line on stdout,
 *
 *     pingpong ns_per_op=123.4
 *
 * that is, the workload's name followed by key=value pairs.  bench/run.sh and
 * bench/compare.sh parse that line; bench/go/chan/main.go is the same
 * program in Go and prints the same line, so the two can be compared field
 * by field.  Keep the two programs doing the same work step for step: a
 * difference between them is a difference in what is measured.
 *
 * Every workload checks what it received (each value, in order, and the
 * final counts) and fails with exit status 1 on the first wrong one, so a
 * runtime that loses, duplicates or reorders values cannot report a fast
 * number.  The checks are a compare and a branch per operation, on both
 * sides alike.
 *
 * Each workload runs once per process, from a fresh runtime; nothing is
 * warmed up, for gort and Go alike.  The clock runs on the main goroutine,
 * from before the first goroutine is started to after the last one is
 * known to be done, and the result is printed after gort_main has returned.
 *
 * Errors (bad arguments, a failed runtime call, a wrong value) go to stderr
 * with exit status 1 (2 for usage), and no result line is printed.
 */
#include "bench.h"

static gort_chan *make_chan(size_t cap)
{
    gort_chan *c = gort_chan_make(sizeof(int64_t), cap);
    if (c == NULL)
        die("gort_chan_make", -errno);
    return c;
}

/* ---------------------------------------------------------------------
 * pingpong: the cost of one hand-off over an unbuffered channel.  The main
 * goroutine sends i on ping, the partner receives it and sends it back on
 * pong, N round trips, 2N hand-offs.  Every hand-off blocks one side until
 * the other comes, so this is send + receive + park + ready.  With
 * GOMAXPROCS=1 both run on one P and each hand-off is a switch; with 2 the
 * partner may run on the other P and wake-ups cross threads.
 * ------------------------------------------------------------------- */

static gort_chan *ping, *pong;

static void pingpong_g(void *arg)
{
    for (int64_t i = 0; i < n_ops; i++) {
        int64_t v;
        gort_chan_recv(ping, &v);
        if (v != i)
            wrong("pingpong", "partner's received value", v, i);
        gort_chan_send(pong, &v);
    }
}

static void bench_pingpong(void)
{
    gort_gomaxprocs(n_procs);
    ping = make_chan(0);
    pong = make_chan(0);

    int64_t t0 = gort_nanotime();
    spawn(pingpong_g, NULL);
    for (int64_t i = 0; i < n_ops; i++) {
        int64_t v = i;
        gort_chan_send(ping, &v);
        gort_chan_recv(pong, &v);
        if (v != i)
            wrong("pingpong", "reply", v, i);
    }
    int64_t t1 = gort_nanotime();

    set_result("pingpong", t0, t1, 2 * n_ops);
}

/* ---------------------------------------------------------------------
 * buffered: throughput of a channel with 128 slots, one producer and one
 * consumer, default GOMAXPROCS.  The producer sends 1..N, the main
 * goroutine receives them.  While the consumer keeps up, values go through
 * the ring without parking; when one side runs ahead it fills or drains the
 * ring and parks until the other side readies it.
 * ------------------------------------------------------------------- */

#define BUFFERED_CAP 128

static gort_chan *buffered;

static void buffered_g(void *arg)
{
    for (int64_t i = 1; i <= n_ops; i++)
        gort_chan_send(buffered, &i);
}

static void bench_buffered(void)
{
    buffered = make_chan(BUFFERED_CAP);

    int64_t t0 = gort_nanotime();
    spawn(buffered_g, NULL);
    for (int64_t i = 1; i <= n_ops; i++) {
        int64_t v;
        gort_chan_recv(buffered, &v);
        if (v != i)
            wrong("buffered", "received value", v, i);
    }
    int64_t t1 = gort_nanotime();

    set_result("buffered", t0, t1, n_ops);
}

/* ---------------------------------------------------------------------
 * select2: the cost of a blocking 2-way select, the fan-in loop
 *
 *     for (;;) select { case v = <-a: ...; case v = <-b: ... }
 *
 * over two unbuffered channels, each fed by its own producer (default
 * GOMAXPROCS).  Unbuffered, so that a select either takes a sender already
 * blocked on one of the channels or enqueues on both, parks, and is woken
 * by a sender: that is, the work a select does beyond a plain receive.
 * Go's runtime benchmarks measure other things under this name:
 * BenchmarkSelectNonblock only polls (the default case), and
 * BenchmarkSelectProdCons selects over a buffered channel between bursts of
 * local work.
 *
 * Producer a sends 1..N-N/2 and producer b sends 1..N/2; the main goroutine
 * receives N values in all and checks each channel's values arrive in order.
 * ------------------------------------------------------------------- */

static gort_chan *select_a, *select_b;

static void select_producer_g(void *arg)
{
    gort_chan *c = arg;
    int64_t n = c == select_a ? n_ops - n_ops / 2 : n_ops / 2;
    for (int64_t i = 1; i <= n; i++)
        gort_chan_send(c, &i);
}

static void bench_select2(void)
{
    select_a = make_chan(0);
    select_b = make_chan(0);
    int64_t last[2] = {0, 0};

    int64_t t0 = gort_nanotime();
    spawn(select_producer_g, select_a);
    spawn(select_producer_g, select_b);
    for (int64_t i = 0; i < n_ops; i++) {
        int64_t v;
        gort_select_case cases[2] = {
            {.c = select_a, .dir = GORT_RECV, .elem = &v},
            {.c = select_b, .dir = GORT_RECV, .elem = &v},
        };
        int k = gort_select(cases, 2, true);
        if (k != 0 && k != 1) {
            fprintf(stderr, "chan: select2: gort_select chose case %d of 2\n", k);
            exit(1);
        }
        if (v != last[k] + 1)
            wrong("select2", k == 0 ? "value received from a" : "value received from b",
                  v, last[k] + 1);
        last[k] = v;
    }
    int64_t t1 = gort_nanotime();

    if (last[0] != n_ops - n_ops / 2)
        wrong("select2", "values received from a", last[0], n_ops - n_ops / 2);
    if (last[1] != n_ops / 2)
        wrong("select2", "values received from b", last[1], n_ops / 2);
    set_result("select2", t0, t1, n_ops);
}

/* ---------------------------------------------------------------------
 * mutex_uncontended: one lock + counter++ + unlock, by one goroutine, with
 * nobody else wanting the mutex: the fast paths of lock and unlock.
 * ------------------------------------------------------------------- */

static gort_mutex mu = GORT_MUTEX_INIT;
static int64_t counter;   /* protected by mu */

static void bench_mutex_uncontended(void)
{
    int64_t t0 = gort_nanotime();
    for (int64_t i = 0; i < n_ops; i++) {
        gort_mutex_lock(&mu);
        counter++;
        gort_mutex_unlock(&mu);
    }
    int64_t t1 = gort_nanotime();

    if (counter != n_ops)
        wrong("mutex_uncontended", "counter", counter, n_ops);
    set_result("mutex_uncontended", t0, t1, n_ops);
}

/* ---------------------------------------------------------------------
 * mutex_contended: two goroutines with GOMAXPROCS=2, one doing N-N/2 and
 * the other N/2 lock + counter++ + unlock.  They run on both Ps at once, so
 * the mutex's cache line moves between CPUs, and a lock that finds the
 * mutex held spins or parks; ns per lock/unlock pair over all N.
 * ------------------------------------------------------------------- */

static gort_waitgroup contended_wg = GORT_WAITGROUP_INIT;

static void mutex_contended_g(void *arg)
{
    int64_t n = *(const int64_t *)arg;
    for (int64_t i = 0; i < n; i++) {
        gort_mutex_lock(&mu);
        counter++;
        gort_mutex_unlock(&mu);
    }
    gort_waitgroup_done(&contended_wg);
}

static void bench_mutex_contended(void)
{
    static int64_t share[2];

    gort_gomaxprocs(2);
    share[0] = n_ops - n_ops / 2;
    share[1] = n_ops / 2;

    int64_t t0 = gort_nanotime();
    gort_waitgroup_add(&contended_wg, 2);
    spawn(mutex_contended_g, &share[0]);
    spawn(mutex_contended_g, &share[1]);
    gort_waitgroup_wait(&contended_wg);
    int64_t t1 = gort_nanotime();

    if (counter != n_ops)
        wrong("mutex_contended", "counter", counter, n_ops);
    set_result("mutex_contended", t0, t1, n_ops);
}

/* ------------------------------------------------------------------- */

static const struct bench_workload workloads[] = {
    {"pingpong", bench_pingpong, 1000000, true},
    {"buffered", bench_buffered, 5000000, false},
    {"select2", bench_select2, 1000000, false},
    {"mutex_uncontended", bench_mutex_uncontended, 20000000, false},
    {"mutex_contended", bench_mutex_contended, 10000000, false},
};

int main(int argc, char **argv)
{
    return bench_main("chan", workloads, sizeof workloads / sizeof workloads[0], argc, argv);
}
