/*
 * sched.c - scheduler benchmarks: goroutine spawn+exit, Gosched switches and
 * the memory cost of a parked goroutine.
 *
 *     sched WORKLOAD [N]
 *
 * runs one workload and prints exactly one result line on stdout,
 *
 *     spawn_exit ns_per_op=123.4
 *     gosched ns_per_op=45.6
 *     parked bytes_per_g=4321 pte_bytes_per_g=512
 *
 * that is, the workload's name followed by key=value pairs.  bench/run.sh and
 * bench/compare.sh parse that line; bench/go/sched/main.go is the same
 * program in Go and prints the same line, so the two can be compared field
 * by field.  Keep the two programs doing the same work step for step: a
 * difference between them is a difference in what is measured.
 *
 * Each workload runs once per process, from a fresh runtime.  Warm-up costs
 * (first-touch page faults of new stacks, heap growth) are part of the
 * number, for gort and Go alike.  The result is computed on the main
 * goroutine and printed after gort_main has returned.
 *
 * Errors (bad arguments, gort_go failing) go to stderr with exit status 1
 * (2 for usage), and no result line is printed.
 */
#include "bench.h"

/* ---------------------------------------------------------------------
 * spawn_exit: the cost of creating a goroutine, running it to its end and
 * reclaiming it.  Each goroutine does nothing but mark a WaitGroup, so the
 * number is creation + scheduling + exit.  Goroutines are spawned as fast as
 * the main goroutine can, so the run queues overflow into the global queue
 * and the other Ps steal, as in Go.
 * ------------------------------------------------------------------- */

static void spawn_exit_g(void *arg)
{
    gort_waitgroup_done(arg);
}

static void bench_spawn_exit(void)
{
    static gort_waitgroup wg = GORT_WAITGROUP_INIT;

    int64_t t0 = gort_nanotime();
    gort_waitgroup_add(&wg, n_ops);
    for (int64_t i = 0; i < n_ops; i++)
        spawn(spawn_exit_g, &wg);
    gort_waitgroup_wait(&wg);
    int64_t t1 = gort_nanotime();

    snprintf(result, sizeof result, "spawn_exit ns_per_op=%.1f",
             (double)(t1 - t0) / (double)n_ops);
}

/* ---------------------------------------------------------------------
 * gosched: the cost of one voluntary switch.  With one P, two goroutines
 * that both yield in a loop alternate strictly: each gort_gosched puts the
 * caller on the global queue and runs the other one.  2N switches happen.
 * ------------------------------------------------------------------- */

static void gosched_g(void *arg)
{
    for (int64_t i = 0; i < n_ops; i++)
        gort_gosched();
    gort_waitgroup_done(arg);
}

static void bench_gosched(void)
{
    static gort_waitgroup wg = GORT_WAITGROUP_INIT;

    gort_gomaxprocs(1);
    int64_t t0 = gort_nanotime();
    gort_waitgroup_add(&wg, 1);
    spawn(gosched_g, &wg);
    for (int64_t i = 0; i < n_ops; i++)
        gort_gosched();
    gort_waitgroup_wait(&wg);
    int64_t t1 = gort_nanotime();

    snprintf(result, sizeof result, "gosched ns_per_op=%.1f",
             (double)(t1 - t0) / (double)(2 * n_ops));
}

/* ---------------------------------------------------------------------
 * parked: what a goroutine blocked on a WaitGroup costs the machine, as the
 * growth of the process's resident set (VmRSS) and of its page tables
 * (VmPTE) from before the spawns to after all N goroutines have parked,
 * divided by N.  The 100 ms pause lets background work (sysmon, GC
 * workers, a scavenger) settle before the second reading.
 *
 * Page tables are reported apart because VmRSS does not count them, and a
 * runtime that spreads touched stack pages over a large address space pays
 * for it there: one page-table page maps 2 MiB, so stacks 256 KiB apart with
 * one touched page each cost 512 bytes of page table apiece.
 * ------------------------------------------------------------------- */

static gort_waitgroup parked_started = GORT_WAITGROUP_INIT;
static gort_waitgroup parked_gate = GORT_WAITGROUP_INIT;
static gort_waitgroup parked_exited = GORT_WAITGROUP_INIT;

static void parked_g(void *arg)
{
    gort_waitgroup_done(&parked_started);
    gort_waitgroup_wait(&parked_gate);
    gort_waitgroup_done(&parked_exited);
}

static void bench_parked(void)
{
    int64_t rss0 = proc_status_bytes("VmRSS");
    int64_t pte0 = proc_status_bytes("VmPTE");

    gort_waitgroup_add(&parked_gate, 1);
    gort_waitgroup_add(&parked_started, n_ops);
    gort_waitgroup_add(&parked_exited, n_ops);
    for (int64_t i = 0; i < n_ops; i++)
        spawn(parked_g, NULL);
    gort_waitgroup_wait(&parked_started);
    gort_sleep(100 * GORT_MS);

    int64_t rss1 = proc_status_bytes("VmRSS");
    int64_t pte1 = proc_status_bytes("VmPTE");
    snprintf(result, sizeof result, "parked bytes_per_g=%.0f pte_bytes_per_g=%.0f",
             (double)(rss1 - rss0) / (double)n_ops,
             (double)(pte1 - pte0) / (double)n_ops);

    gort_waitgroup_done(&parked_gate);
    gort_waitgroup_wait(&parked_exited);
}

/* ------------------------------------------------------------------- */

static const struct bench_workload workloads[] = {
    {"spawn_exit", bench_spawn_exit, 1000000, false},
    {"gosched", bench_gosched, 2000000, false},
    {"parked", bench_parked, 1000000, false},
};

int main(int argc, char **argv)
{
    return bench_main("sched", workloads, sizeof workloads / sizeof workloads[0], argc, argv);
}
