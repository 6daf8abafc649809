/*
 * gort/plugin.h - the task plugin ABI that gortd loads (gort_plugin_v1).
 *
 * A plugin is a shared object exporting one data symbol, gort_plugin_v1,
 * that describes it: the ABI version, a name, a version string, optional
 * init and fini functions and a table of tasks.  Build one against the
 * installed headers, or the source tree's include/, with
 *
 *     cc -shared -fPIC $(pkg-config --cflags gort) -o hello.so hello.c
 *
 * and link nothing else (not -lgort): the gort_* functions resolve from
 * gortd when it loads the file.  (Code built with a sanitizer faults inside the sanitizer's
 * instrumentation, outside the plugin's own code, where a fault stays
 * fatal.)  A minimal plugin:
 *
 *     #include <gort/plugin.h>
 *
 *     static void tick(gort_task *t)
 *     {
 *         while (gort_task_sleep(t, 1000000000))   // false once stopped
 *             fprintf(stderr, "tick\n");
 *     }
 *
 *     static const gort_task_def tasks[] = {
 *         {.name = "tick", .run = tick, .summary = "print every second"},
 *         {0},
 *     };
 *     GORT_PLUGIN(.name = "hello", .version = "1.0", .tasks = tasks);
 *
 * Loading (SPEC §3).  gortd loads plugins from its plugin directories at
 * start, on SIGHUP (new files) and on "plugin.load".  It refuses a file
 * outside those directories, a file not owned by root or the daemon's
 * user, a group- or world-writable file or directory, a file without
 * gort_plugin_v1, an ABI other than GORT_PLUGIN_ABI, a bad or duplicate
 * name and a bad task table.  Then init runs, on a goroutine of the
 * plugin; a nonzero return (a negative errno) or a panic refuses the load.
 * Tasks marked autostart start once, with no arguments.
 *
 * Tasks.  "task.start" runs a task's run function on a new goroutine
 * labelled "<plugin>/<task>"; every goroutine it starts inherits the label
 * and counts for the plugin (goroutines, allocation, CPU time, in
 * "stats").  The gort_task it receives stays valid until run returns.
 * When the task is asked to stop ("task.stop", an unload, the daemon
 * stopping, or another goroutine of the plugin panicking) its done channel
 * is closed: a task must watch it (gort_task_sleep, gort_task_stopping, or
 * done as a select case), make its goroutines end, and return.
 *
 * Unloading.  "plugin.unload" closes every task's done channel and waits
 * up to a deadline (5 s by default) for every goroutine of the plugin to
 * end; then fini runs and the file is closed.  A plugin whose goroutines
 * outlive the deadline stays loaded and is reported "stuck" with their
 * dump.  Before it returns, fini must undo what the plugin registered
 * with the runtime that points into its code or data (finalizers, pools,
 * roots): the code is unmapped after it.
 *
 * Isolation.  A panic that no deferred call recovers ends its goroutine,
 * is logged with a goroutine dump of the plugin, and marks the plugin
 * "failed": its other tasks are asked to stop and no new task starts;
 * unloading it still works.  A SIGSEGV, SIGBUS or SIGFPE at an instruction
 * of the plugin's code becomes such a panic ("runtime error: invalid
 * memory address or nil pointer dereference", ...), which a deferred call
 * may also recover.  A fault elsewhere (inside libc, say) stays fatal.
 *
 * Code that computes for long without calling the runtime should call
 * gort_safepoint() now and then: gort preempts only at safe points, and a
 * goroutine that never reaches one delays every collection.
 *
 * Signals.  gortd blocks SIGTERM, SIGINT, SIGHUP and SIGQUIT in every
 * thread and reads them from a signalfd: a plugin must not install
 * handlers for them or unblock them.  A child made with fork() gets them
 * unblocked again; one started with posix_spawn() inherits the blocked
 * mask unless the plugin passes POSIX_SPAWN_SETSIGMASK with an empty set.
 */
#ifndef GORT_PLUGIN_H
#define GORT_PLUGIN_H

#include <errno.h>
#include <stdlib.h>

#include <gort/gort.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes: gortd refuses any other. */
#define GORT_PLUGIN_ABI 1

/* One running instance of a task. */
typedef struct gort_task {
    uint64_t id;                  /* unique for the daemon's lifetime */
    const char *plugin;           /* the plugin's name */
    const char *name;             /* the task's name */
    int argc;                     /* arguments from "task.start" */
    char *const *argv;            /* argv[argc] is NULL */
    gort_chan *done;              /* closed when the task must stop; never
                                     carries a value (element size 0) */
} gort_task;

typedef void (*gort_task_fn)(gort_task *t);

/* A task the plugin offers.  Names: 1-32 of [a-z0-9_.-]. */
typedef struct gort_task_def {
    const char *name;
    gort_task_fn run;
    const char *summary;          /* one line for "plugins"; may be NULL */
    bool autostart;               /* start one instance at load */
} gort_task_def;

/* What gort_plugin_v1 holds.  Name: 1-32 of [a-z0-9_.-], unique among the
 * loaded plugins. */
typedef struct gort_plugin {
    uint32_t abi;                 /* GORT_PLUGIN_ABI */
    const char *name;
    const char *version;          /* free text, may be NULL */
    const char *summary;          /* one line, may be NULL */
    int (*init)(void);            /* 0, or a negative errno to refuse the load */
    void (*fini)(void);           /* after every goroutine of the plugin ended */
    const gort_task_def *tasks;   /* ends with an entry whose name is NULL;
                                     at most 64 */
} gort_plugin;

/* Define the plugin's descriptor with designated initializers:
 *     GORT_PLUGIN(.name = "hello", .tasks = tasks); */
#define GORT_PLUGIN(...)                                                                                     \
    __attribute__((visibility("default"))) extern const gort_plugin gort_plugin_v1;                          \
    const gort_plugin gort_plugin_v1 = {.abi = GORT_PLUGIN_ABI, __VA_ARGS__}

/* Argument i as an integer in [min, max], def when there is no argument i.
 * A bad one panics naming the plugin, the task, the argument (what) and
 * the range, which fails the plugin: use it for arguments a task cannot
 * run without.  Goroutine only. */
static inline long long gort_task_arg_int(const gort_task *t, int i, const char *what, long long def,
                                          long long min, long long max)
{
    if (i >= t->argc)
        return def;
    const char *s = t->argv[i];
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v < min || v > max)
        gort_panicf("%s: %s: %s \"%s\" is not an integer in %lld..%lld", t->plugin, t->name, what, s, min, max);
    return v;
}

/* True once the task has been asked to stop (never blocks). */
static inline bool gort_task_stopping(const gort_task *t)
{
    bool ok = true;
    return gort_chan_tryrecv(t->done, NULL, &ok) && !ok;
}

/* Sleep ns nanoseconds or until the task is asked to stop, whichever
 * comes first.  True when the full time passed, false when stopping.
 * Goroutine only. */
static inline bool gort_task_sleep(const gort_task *t, int64_t ns)
{
    int64_t now = gort_nanotime();
    int64_t deadline = ns > INT64_MAX - now ? INT64_MAX : now + ns;
    return gort_chan_recv_until(t->done, NULL, NULL, deadline) == -ETIMEDOUT;
}

#ifdef __cplusplus
}
#endif

#endif
