/*
 * crashy - tasks that fault on purpose, to see gortd turn a fault in a
 * plugin's code into a panic of the goroutine that faulted.
 *
 * What it shows: gortd registers each plugin's code with
 * gort_fault_range_add, so a SIGSEGV, SIGBUS or SIGFPE at one of its
 * instructions becomes a panic with Go's message instead of killing the
 * daemon.  Unrecovered, it is contained like any panic (the plugin is
 * marked "failed"); under gort_pcall a deferred call can recover it.  A
 * fault elsewhere (inside libc, say) stays fatal.
 *
 * Tasks:
 *   "null"     loads through a NULL pointer: the task panics with
 *              "runtime error: invalid memory address or nil pointer
 *              dereference".
 *   "div0"     divides an integer by zero: "runtime error: integer divide
 *              by zero".
 *   "recover"  does the NULL load under gort_pcall with a deferred call
 *              that recovers, prints the recovered panic
 *              ("crashy: recover: recovered: runtime error: ...") and then
 *              waits until stopped, the plugin in good health.
 *
 * The faulting functions go through volatile objects, so that the compiler
 * can neither drop the access nor, seeing a constant NULL or zero, replace
 * it with a trap instruction.  They are built without the sanitizers'
 * instrumentation (it matters in the sanitizer builds): UBSan would report
 * the bug before the hardware sees it, and an ASan or TSan check of the
 * address could fault inside the sanitizer, outside the plugin's code.
 *
 *     {"cmd":"task.start","args":{"plugin":"crashy","task":"null"}}
 *     {"cmd":"task.start","args":{"plugin":"crashy","task":"recover"}}
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <gort/plugin.h>

#define CRASHY_FAULTS __attribute__((noinline, no_sanitize("address", "thread", "undefined")))

/* Where the results go, so that the faulting accesses have a use. */
static volatile int crashy_sink;

static CRASHY_FAULTS void crashy_load_null(void)
{
    int *volatile p = NULL;
    crashy_sink = *p;
}

static CRASHY_FAULTS void crashy_divide_by_zero(void)
{
    volatile int n = 1, zero = 0;   /* a constant 1 / x compiles to no division at all */
    crashy_sink = n / zero;
}

static void crashy_no_args(const gort_task *t)
{
    if (t->argc > 0)
        gort_panicf("crashy: %s takes no arguments, got %d", t->name, t->argc);
}

static void crashy_null(gort_task *t)
{
    crashy_no_args(t);
    crashy_load_null();
}

static void crashy_div0(gort_task *t)
{
    crashy_no_args(t);
    crashy_divide_by_zero();
}

/* Deferred: stop the panic in flight.  gort_recover must be called here,
 * directly by the deferred function, not by a helper. */
static void crashy_recoverer(void *arg)
{
    (void)arg;
    gort_recover();
}

static void crashy_fault_and_recover(void *arg)
{
    (void)arg;
    gort_defer(crashy_recoverer, NULL);
    crashy_load_null();
}

static void crashy_recover(gort_task *t)
{
    crashy_no_args(t);
    gort_panic_info *p = gort_pcall(crashy_fault_and_recover, NULL);
    if (!p)
        gort_panicf("crashy: recover: the NULL load did not fault");
    int sig = 0;
    uintptr_t addr = 0, pc = 0;
    if (gort_panic_fault(p, &sig, &addr, &pc))
        fprintf(stderr, "crashy: recover: recovered: %s (%s at address %#" PRIxPTR ", pc %#" PRIxPTR ")\n",
                gort_panic_message(p), strsignal(sig), addr, pc);
    else
        fprintf(stderr, "crashy: recover: recovered: %s\n", gort_panic_message(p));
    gort_chan_recv(t->done, NULL);
}

static const gort_task_def crashy_tasks[] = {
    {.name = "null", .run = crashy_null, .summary = "load through a NULL pointer"},
    {.name = "div0", .run = crashy_div0, .summary = "divide an integer by zero"},
    {.name = "recover", .run = crashy_recover, .summary = "fault, recover, print it, wait until stopped"},
    {0},
};

GORT_PLUGIN(.name = "crashy", .version = "1.0", .summary = "tasks that fault on purpose", .tasks = crashy_tasks);
