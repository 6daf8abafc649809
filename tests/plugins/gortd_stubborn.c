/*
 * gortd_stubborn - a test plugin whose task never stops, for test_gortd:
 * unloading it must give up after the deadline, report the plugin
 * "stuck" with its goroutine dump, and leave it loaded (its fini must not
 * run while a goroutine still runs its code).
 *
 * Task "ignore" (not autostarted) ignores its done channel and sleeps in
 * a loop forever.  fini prints "stubborn: fini" so that a test can see
 * whether it ran.  Built as $(B)/tests/plugins/libgortd_stubborn.so.
 *
 *     {"cmd":"task.start","args":{"plugin":"stubborn","task":"ignore"}}
 *     {"cmd":"plugin.unload","args":{"name":"stubborn","timeout_ms":200}}
 */
#include <stdio.h>

#include <gort/plugin.h>

static void stubborn_ignore(gort_task *t)
{
    (void)t;   /* and t->done with it: that is the point */
    for (;;)
        gort_sleep(10 * GORT_MS);
}

static void stubborn_fini(void)
{
    fprintf(stderr, "stubborn: fini\n");
}

static const gort_task_def stubborn_tasks[] = {
    {.name = "ignore", .run = stubborn_ignore, .summary = "never stop"},
    {0},
};

GORT_PLUGIN(.name = "stubborn", .version = "test", .fini = stubborn_fini, .tasks = stubborn_tasks);
