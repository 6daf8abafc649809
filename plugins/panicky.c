/*
 * panicky - tasks that panic on purpose, to see gortd contain them.
 *
 * What it shows: an unrecovered panic in any goroutine of a plugin, the
 * task's own or one it started, ends that goroutine only.  gortd logs it
 * with a goroutine dump of the plugin, marks the plugin "failed" (its
 * other tasks are asked to stop and no new task starts) and carries on;
 * unloading the plugin still works.
 *
 * Tasks:
 *   "wait" [ms]    waits until stopped; with ms (0..86400000), panics
 *                  after ms milliseconds unless stopped first
 *                  ("panicky: wait: panicking after 500 ms as asked").
 *   "boom" [message]  panics at once with "panicky: <message>" (default
 *                  "boom").
 *   "child"        starts a goroutine that panics at once
 *                  ("panicky: child: the child goroutine of task N panics"),
 *                  then waits until stopped, which the failure of the
 *                  plugin brings about.
 *
 *     {"cmd":"task.start","args":{"plugin":"panicky","task":"wait","args":["500"]}}
 *     {"cmd":"task.start","args":{"plugin":"panicky","task":"boom","args":["out of cheese"]}}
 *     {"cmd":"task.start","args":{"plugin":"panicky","task":"child"}}
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include <gort/plugin.h>

#define PANICKY_MAX_MS 86400000   /* a day */

static void panicky_wait(gort_task *t)
{
    if (t->argc > 1)
        gort_panicf("panicky: wait takes at most one argument (ms), got %d", t->argc);
    if (t->argc == 0) {
        gort_chan_recv(t->done, NULL);   /* returns once done is closed */
        return;
    }
    const char *s = t->argv[0];
    char *end;
    errno = 0;
    long long ms = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || ms < 0 || ms > PANICKY_MAX_MS)
        gort_panicf("panicky: wait: ms \"%s\" is not an integer in 0..%d", s, PANICKY_MAX_MS);
    if (gort_task_sleep(t, ms * GORT_MS))
        gort_panicf("panicky: wait: panicking after %lld ms as asked", ms);
}

static void panicky_boom(gort_task *t)
{
    if (t->argc > 1)
        gort_panicf("panicky: boom takes at most one argument (message), got %d", t->argc);
    gort_panicf("panicky: %s", t->argc == 1 ? t->argv[0] : "boom");
}

static void panicky_child_body(void *arg)
{
    gort_panicf("panicky: child: the child goroutine of task %" PRIuPTR " panics", (uintptr_t)arg);
}

static void panicky_child(gort_task *t)
{
    if (t->argc > 0)
        gort_panicf("panicky: child takes no arguments, got %d", t->argc);
    int err = gort_go(panicky_child_body, (void *)(uintptr_t)t->id);
    if (err)
        gort_panicf("panicky: child: cannot start the child goroutine: %s", gort_strerror(err));
    gort_chan_recv(t->done, NULL);
}

static const gort_task_def panicky_tasks[] = {
    {.name = "wait", .run = panicky_wait, .summary = "wait until stopped, or panic after [ms]"},
    {.name = "boom", .run = panicky_boom, .summary = "panic at once with \"panicky: [message]\""},
    {.name = "child", .run = panicky_child, .summary = "a child goroutine panics; wait until stopped"},
    {0},
};

GORT_PLUGIN(.name = "panicky", .version = "1.0", .summary = "tasks that panic on purpose",
            .tasks = panicky_tasks);
