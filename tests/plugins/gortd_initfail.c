/*
 * gortd_initfail - a test plugin whose init refuses the load with -EPERM,
 * for test_gortd: the load must fail with an error naming the plugin and
 * EPERM, no task may start (not even the autostart one), and the plugin
 * must not stay listed.
 *
 * Built as $(B)/tests/plugins/libgortd_initfail.so.
 */
#include <errno.h>

#include <gort/plugin.h>

static int initfail_init(void)
{
    return -EPERM;
}

static void initfail_idle(gort_task *t)
{
    gort_chan_recv(t->done, NULL);
}

static const gort_task_def initfail_tasks[] = {
    {.name = "idle", .run = initfail_idle, .summary = "wait until stopped", .autostart = true},
    {0},
};

GORT_PLUGIN(.name = "initfail", .version = "test", .init = initfail_init, .tasks = initfail_tasks);
