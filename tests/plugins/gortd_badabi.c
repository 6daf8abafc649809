/*
 * gortd_badabi - a test plugin with a well-formed descriptor for the
 * wrong ABI (999), for test_gortd: the load must be refused with an error
 * that names the ABI it found and the one it wants, and nothing of the
 * plugin (init, tasks) may run.
 *
 * GORT_PLUGIN always sets .abi = GORT_PLUGIN_ABI, so the descriptor is
 * written out by hand.  Built as $(B)/tests/plugins/libgortd_badabi.so.
 */
#include <gort/plugin.h>

static void badabi_idle(gort_task *t)
{
    gort_chan_recv(t->done, NULL);
}

static const gort_task_def badabi_tasks[] = {
    {.name = "idle", .run = badabi_idle, .summary = "wait until stopped", .autostart = true},
    {0},
};

__attribute__((visibility("default"))) extern const gort_plugin gort_plugin_v1;
const gort_plugin gort_plugin_v1 = {.abi = 999, .name = "badabi", .version = "test", .tasks = badabi_tasks};
