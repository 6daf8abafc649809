/*
 * gortd_finimark - a test plugin that leaves a mark when its fini runs,
 * for test_gortd: stopping the daemon must stop the plugin's tasks and
 * run its fini before the process exits.
 *
 * Task "idle" (autostarted) waits until stopped.  fini writes
 * "finimark: fini" to stderr and, when the environment variable
 * GORTD_TEST_FINI_FILE names a file, creates it (containing "fini\n"),
 * which a test can check after the daemon exited.  Built as
 * $(B)/tests/plugins/libgortd_finimark.so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gort/plugin.h>

static void finimark_idle(gort_task *t)
{
    gort_chan_recv(t->done, NULL);
}

static void finimark_fini(void)
{
    fprintf(stderr, "finimark: fini\n");
    const char *path = getenv("GORTD_TEST_FINI_FILE");
    if (!path || !*path)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "finimark: cannot create %s: %s\n", path, strerror(errno));
        return;
    }
    if (write(fd, "fini\n", 5) != 5)
        fprintf(stderr, "finimark: cannot write %s: %s\n", path, strerror(errno));
    close(fd);
}

static const gort_task_def finimark_tasks[] = {
    {.name = "idle", .run = finimark_idle, .summary = "wait until stopped", .autostart = true},
    {0},
};

GORT_PLUGIN(.name = "finimark", .version = "test", .fini = finimark_fini, .tasks = finimark_tasks);
