/*
 * gortd_hog - a test plugin whose task keeps its P without ever reaching
 * a safe point, for the watchdog test: with GOMAXPROCS=1 the scheduler is
 * wedged while it runs, as a buggy plugin would wedge it.
 *
 * Task "spin MS" (not autostarted) computes for MS milliseconds of
 * CLOCK_MONOTONIC, calling nothing of the runtime (no allocation, no
 * channel, no safepoint), then returns.  Built as
 * $(B)/tests/plugins/libgortd_hog.so.
 *
 *     {"cmd":"task.start","args":{"plugin":"hog","task":"spin","args":["1500"]}}
 */
#include <stdint.h>
#include <time.h>

#include <gort/plugin.h>

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void hog_spin(gort_task *t)
{
    int64_t ms = gort_task_arg_int(t, 0, "MS", 1000, 1, 600000);
    int64_t end = mono_ns() + ms * 1000000;
    volatile uint64_t x = 1;
    while (mono_ns() < end)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
}

static const gort_task_def hog_tasks[] = {
    {.name = "spin", .run = hog_spin, .summary = "keep the P for MS ms without a safe point"},
    {0},
};

GORT_PLUGIN(.name = "hog", .version = "test", .tasks = hog_tasks);
