/*
 * spinner - a CPU-bound task that keeps one P busy without starving the
 * rest of the runtime.
 *
 * What it shows:
 *   - gort has no asynchronous preemption: a loop that calls nothing in
 *     the runtime holds its P and would delay every stop of the world (and
 *     so every collection) until it ended.  This one calls gort_safepoint()
 *     after each batch of about 100 us of arithmetic, which costs one load
 *     when nothing is pending;
 *   - the batch is sized by measuring it, not by guessing a loop count;
 *   - looking at the done channel (a channel operation) once a millisecond
 *     rather than on every batch.
 *
 * Task "spin" (no arguments): spins until stopped, then prints how long
 * it ran and how much arithmetic it did.  Each instance saturates one P:
 * start it twice to saturate two, and watch "stats" (the plugin's CPU
 * time) or schedtrace (idleprocs) while it runs.
 *
 *     {"cmd":"task.start","args":{"plugin":"spinner","task":"spin"}}
 */
#include <inttypes.h>
#include <stdio.h>

#include <gort/plugin.h>

#define SPIN_BATCH_NS (100 * GORT_US)   /* work between two safe points */
#define SPIN_CHECK_NS GORT_MS           /* work between two looks at done */
#define SPIN_MAX_BATCH ((uint64_t)1 << 30)

/* splitmix64's output function: cheap, and nothing the compiler can fold
 * over a loop. */
static uint64_t spin_mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void spin_spin(gort_task *t)
{
    if (t->argc > 0)
        gort_panicf("spinner: spin takes no arguments, got %d", t->argc);
    int64_t start = gort_nanotime(), checked = start;
    uint64_t batch = 1024, iterations = 0, acc = t->id;
    for (;;) {
        int64_t t0 = gort_nanotime();
        for (uint64_t i = 0; i < batch; i++)
            acc += spin_mix(acc + i);
        int64_t now = gort_nanotime();
        iterations += batch;
        /* t0 is read after the previous safe point, so time spent
         * descheduled there does not count as work. */
        if (now - t0 < SPIN_BATCH_NS / 2 && batch < SPIN_MAX_BATCH)
            batch *= 2;
        else if (now - t0 > SPIN_BATCH_NS * 2 && batch > 1)
            batch /= 2;
        gort_safepoint();
        if (now - checked >= SPIN_CHECK_NS) {
            if (gort_task_stopping(t))
                break;
            checked = now;
        }
    }
    int64_t ran = gort_nanotime() - start;
    fprintf(stderr,
            "spinner: spin: stopped after %" PRId64 ".%03" PRId64 " s, %" PRIu64 " M iterations (checksum %016" PRIx64
            ")\n",
            ran / GORT_S, ran % GORT_S / GORT_MS, iterations / 1000000, acc);
}

static const gort_task_def spin_tasks[] = {
    {.name = "spin", .run = spin_spin, .summary = "keep one P busy with arithmetic until stopped"},
    {0},
};

GORT_PLUGIN(.name = "spinner", .version = "1.0", .summary = "CPU-bound load that reaches a safe point every 100 us",
            .tasks = spin_tasks);
