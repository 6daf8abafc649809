/*
 * gort.h - the public API of libgort, a Go-style runtime for C.
 *
 * libgort runs goroutines M:N over OS threads.  A goroutine is a C function
 * running on its own small stack; it blocks by parking (sleeping, waiting on
 * a WaitGroup, ...) and never by blocking its thread, so a handful of threads
 * run any number of goroutines.
 *
 * Two ways to run the runtime:
 *
 *   - Standalone programs call gort_main(entry, arg) from main().  entry runs
 *     as the main goroutine; gort_main returns when it does.  Deadlock
 *     detection is on: when every goroutine is blocked with nothing that
 *     could wake it, the program dies with Go's message.
 *
 *   - Embedders (gortd) call gort_start() once, then gort_go() from any
 *     thread.  The calling thread keeps running; the runtime's threads run
 *     the goroutines.  Deadlock detection is off: another thread may always
 *     bring more work.
 *
 * Errors are negative errno values; gort_strerror() names them.  Functions
 * documented as "goroutine only" must be called on a goroutine; called from
 * any other thread they die with a fatal error that says so, because there
 * is no goroutine to block or switch.
 *
 * Environment, read once at start (as Go does):
 *   GOMAXPROCS        number of Ps (default: the CPUs this process may use)
 *   GOGC              collection target percentage (default 100), or off
 *   GOMEMLIMIT        soft memory limit in bytes, with an optional KiB, MiB,
 *                     GiB or TiB suffix (default: none)
 *   GODEBUG           comma-separated name=value: schedtrace=MS,
 *                     scheddetail=1, gctrace=1 (gc and scvg lines), madvdontneed=0
 *                     (release memory with MADV_FREE), scavenge=1 (debug
 *                     periods: periodic release every 10 ms of spans free for
 *                     20 ms, forced collection after 10 ms without one),
 *                     gcstoptheworld=1 (mark with the world stopped) or 2 (and
 *                     sweep before it restarts), gccheckmark=1 (verify every
 *                     mark with a second one, world stopped; dies naming an
 *                     object left unmarked).  Unknown names are ignored with a
 *                     warning.
 *   GORT_STACK_SIZE   default goroutine stack reservation in bytes, with an
 *                     optional KiB/MiB suffix (default 256 KiB).
 *   GORT_GUARDED_STACKS  how many stacks get a guard page (default: a quarter
 *                     of vm.max_map_count); stacks beyond it are slab stacks
 *                     checked by a canary (see gort_stack_stats).
 */
#ifndef GORT_GORT_H
#define GORT_GORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GORT_API __attribute__((visibility("default")))
#else
#define GORT_API
#endif

/* Nanoseconds per unit, for gort_sleep and deadlines. */
#define GORT_US ((int64_t)1000)
#define GORT_MS ((int64_t)1000000)
#define GORT_S  ((int64_t)1000000000)

/* The body of a goroutine, a deferred call or a protected call. */
typedef void (*gort_fn)(void *arg);

/* ---------------------------------------------------------------------
 * Starting the runtime
 * ------------------------------------------------------------------- */

/*
 * Start the runtime, run entry(arg) as the main goroutine and return when it
 * returns.  The return value is the exit status (0).  When the main goroutine
 * returns, the world is stopped: other goroutines stay frozen and the runtime
 * cannot be started again in this process.  Fatal errors (deadlock, stack
 * overflow, ...) print Go's message and exit the process with status 2.
 * Returns a negative errno if the runtime was already started or cannot
 * start (no threads).
 */
GORT_API int gort_main(gort_fn entry, void *arg);

/*
 * Start the runtime in the background for an embedding program and return.
 * The caller's thread does not become part of the runtime.  Returns 0,
 * -EALREADY if the runtime is already running, or a negative errno when a
 * thread cannot be created.
 */
GORT_API int gort_start(void);

/* ---------------------------------------------------------------------
 * Goroutines
 * ------------------------------------------------------------------- */

/*
 * Start fn(arg) as a new goroutine.  Callable from a goroutine or from any
 * other thread once the runtime runs.  The new goroutine inherits the
 * caller's label (gort_set_label) when called from a goroutine.
 * Returns 0, or:
 *   -EINVAL  fn is NULL
 *   -ESRCH   the runtime is not running (neither gort_main nor gort_start)
 *   -ENOMEM  no memory for a stack (address space, mmap or map count limit)
 *   -EAGAIN  the goroutine limit (gort_set_max_goroutines) is reached
 */
GORT_API int gort_go(gort_fn fn, void *arg);

/* Options for gort_go_with.  Zero fields mean the default. */
typedef struct gort_go_opts {
    size_t stack_size;   /* stack reservation in bytes, 16 KiB .. 1 GiB;
                            0 = GORT_STACK_SIZE (256 KiB) */
    const char *label;   /* label for the new goroutine (must outlive it);
                            NULL = inherit the caller's */
    struct gort_group *group; /* accounting group (gort_group_new); NULL =
                            inherit the caller's, none from a thread that
                            is not a goroutine */
} gort_go_opts;

/* gort_go with options.  Also -EINVAL for a stack size out of range. */
GORT_API int gort_go_with(gort_fn fn, void *arg, const gort_go_opts *opts);

/* Yield the processor: the caller goes to the tail of the global run queue.
 * Goroutine only. */
GORT_API void gort_gosched(void);

/* A preemption point for code that computes without calling the runtime:
 * yields when the scheduler or the collector asked the goroutine to (a
 * time slice over, a stop of the world), else returns at once (one load).
 * gort has no asynchronous preemption, so a loop that never reaches a
 * safe point holds its P and delays every stop of the world.  Goroutine
 * only. */
GORT_API void gort_safepoint(void);

/* End the calling goroutine.  Its pending deferred calls run first.  Called
 * by the main goroutine of gort_main, the program goes on until every other
 * goroutine has ended and then dies with
 * "fatal error: no goroutines (main called runtime.Goexit) - deadlock!".
 * Goroutine only. */
GORT_API _Noreturn void gort_goexit(void);

/* Sleep for at least ns nanoseconds; ns <= 0 returns at once.  The goroutine
 * parks on a timer of its P: it holds no thread while it sleeps.  Goroutine
 * only. */
GORT_API void gort_sleep(int64_t ns);

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC). */
GORT_API int64_t gort_nanotime(void);

/* The calling goroutine's id (1 for the main goroutine), or 0 when called
 * from a thread that is not running a goroutine. */
GORT_API uint64_t gort_goid(void);

/* Set the number of Ps to n and return the previous number.  n <= 0 only
 * queries.  n above GORT_MAX_PROCS is clamped to it, as Go clamps.  The
 * world is stopped while the Ps are resized; goroutines queued on removed
 * Ps move to the global queue in order.  Callable from any thread. */
#define GORT_MAX_PROCS 1024
GORT_API int gort_gomaxprocs(int n);

/* Number of goroutines that exist now (runnable, running, blocked), not
 * counting the runtime's own. */
GORT_API int gort_num_goroutine(void);

/* Wire the calling goroutine to its OS thread: it runs only on that thread
 * and the thread runs nothing else until gort_unlock_os_thread has been
 * called as many times as gort_lock_os_thread.  A goroutine that exits while
 * locked takes its thread with it.  Goroutine only. */
GORT_API void gort_lock_os_thread(void);
GORT_API void gort_unlock_os_thread(void);

/* Bracket a blocking system call (read on a pipe, waitpid, ...):
 *
 *     gort_syscall_enter();
 *     n = read(fd, buf, len);
 *     gort_syscall_exit();
 *
 * While the call blocks, the goroutine's processor is handed to other
 * goroutines (sysmon takes it after 20 us when there is other work, after
 * 10 ms otherwise).  Nothing between the two may call back into the runtime.
 * Calls do not nest.  Goroutine only. */
GORT_API void gort_syscall_enter(void);
GORT_API void gort_syscall_exit(void);

/* The calling goroutine's label (NULL if none).  Goroutines inherit their
 * creator's label; goroutine dumps print it.  The string is not copied and
 * must outlive every goroutine that carries it.  Goroutine only. */
GORT_API void gort_set_label(const char *label);
GORT_API const char *gort_label(void);

/* ---------------------------------------------------------------------
 * Goroutine groups: accounting and panic containment
 *
 * A group collects the goroutines of one component (gortd makes one per
 * plugin).  A goroutine joins its creator's group (or the one named in
 * gort_go_opts) and stays in it for life.  The runtime counts, per group,
 * the goroutines alive and started, the bytes and objects they allocate
 * (bytes as requested, before rounding to a size class), the time they
 * spend running on a thread (outside gort_syscall_enter/exit) and in
 * collector assists.  A running goroutine's counts reach the group when
 * it leaves its thread (park, yield, preemption, system call, exit).
 *
 * A group made with an on_panic handler contains its goroutines' panics:
 * a panic that nothing recovers calls on_panic(ctx, grp, p) on the
 * panicking goroutine, after every deferred call has run, and then ends
 * that goroutine instead of the process.  The handler may log, dump and
 * start or stop goroutines; a panic out of the handler is fatal.
 * ------------------------------------------------------------------- */

typedef struct gort_group gort_group;
struct gort_panic_info;
typedef void (*gort_group_panic_fn)(void *ctx, gort_group *grp, const struct gort_panic_info *p);

typedef struct gort_group_stats {
    int64_t goroutines;       /* alive now */
    uint64_t started;         /* started in the group so far */
    uint64_t alloc_bytes;     /* requested by its goroutines' allocations */
    uint64_t alloc_objects;
    int64_t cpu_ns;           /* running on a thread */
    int64_t assist_ns;        /* of which helping the collector mark */
    uint64_t panics;          /* panics contained by on_panic */
} gort_group_stats;

/* A new group; name (copied, at most 63 bytes kept) shows in messages.
 * on_panic may be NULL: the group only counts, and an unrecovered panic is
 * fatal as usual.  NULL with errno ENOMEM. */
GORT_API gort_group *gort_group_new(const char *name, gort_group_panic_fn on_panic, void *ctx);
/* Free a group.  -EBUSY while goroutines of it are alive (nothing freed). */
GORT_API int gort_group_free(gort_group *grp);
GORT_API void gort_group_read(const gort_group *grp, gort_group_stats *st);
GORT_API const char *gort_group_name(const gort_group *grp);
/* The calling goroutine's group, or NULL. */
GORT_API gort_group *gort_group_current(void);

/*
 * Faults that become panics.  A SIGSEGV, SIGBUS or SIGFPE raised by the
 * kernel at an instruction inside [lo, hi), on a goroutine that holds no
 * runtime lock, becomes a panic in that goroutine with Go's message:
 * "runtime error: invalid memory address or nil pointer dereference"
 * (a fault below 4 KiB), "runtime error: unexpected fault address 0x..."
 * (any other SIGSEGV or SIGBUS), "runtime error: integer divide by zero",
 * "runtime error: integer overflow" or "runtime error: floating point
 * error".  gortd registers each plugin's code.  A fault anywhere else keeps
 * its usual effect (a stack overflow is fatal; other faults kill the
 * process as they would without the runtime).  At most 256 ranges;
 * returns 0, -EINVAL (lo >= hi), -ENOSPC or, from remove, -ENOENT.
 */
GORT_API int gort_fault_range_add(const void *lo, const void *hi);
GORT_API int gort_fault_range_remove(const void *lo);

/* Limit the number of simultaneous goroutines (gort_go fails with -EAGAIN
 * beyond it).  0 = no limit other than memory (the default).  Returns the
 * previous limit. */
GORT_API int64_t gort_set_max_goroutines(int64_t n);

/* Limit the number of OS threads the runtime may create (Go's
 * debug.SetMaxThreads, default 10000).  Exceeding it is a fatal error:
 * "fatal error: thread exhaustion".  Returns the previous value; n <= 0 only
 * queries. */
GORT_API int gort_set_max_threads(int n);

/* ---------------------------------------------------------------------
 * Introspection
 * ------------------------------------------------------------------- */

/* Where stacks come from.  Guarded stacks have a PROT_NONE page below them
 * (two kernel mappings each); slab stacks share one mapping per slab and are
 * checked by a canary.  See GORT_GUARDED_STACKS. */
typedef struct gort_stack_stats {
    uint64_t guarded_inuse;   /* guarded stacks held by goroutines */
    uint64_t slab_inuse;      /* slab stacks held by goroutines */
    uint64_t custom_inuse;    /* stacks with a non-default size */
    uint64_t cached;          /* free stacks kept for reuse */
    uint64_t guarded_budget;  /* most guarded stacks that may exist */
    uint64_t inuse_bytes;     /* reserved bytes of the stacks in use */
    uint64_t sys_bytes;       /* reserved bytes of every stack mapping */
} gort_stack_stats;
GORT_API void gort_read_stack_stats(gort_stack_stats *st);

/* Scheduler counters, as schedtrace prints them. */
typedef struct gort_sched_stats {
    int32_t gomaxprocs;
    int32_t idleprocs;
    int32_t threads;          /* Ms created, sysmon included */
    int32_t spinningthreads;
    int32_t idlethreads;
    int32_t goroutines;       /* as gort_num_goroutine */
    int64_t runqueue;         /* global run queue length */
    uint64_t syscalls;        /* gort_syscall_enter calls so far */
} gort_sched_stats;
GORT_API void gort_read_sched_stats(gort_sched_stats *st);

/*
 * Write a goroutine dump, in Go's traceback style, one block per goroutine:
 *
 *     goroutine 12 [sleep, 3 minutes]:
 *     echo/accept-loop
 *     echo_accept(...)
 *             /usr/lib/gortd/plugins/echo.so +0x1a2b
 *     created by goroutine 1 in echo_main
 *
 * The second line is the goroutine's label, when it has one.  The wait
 * duration appears once a goroutine has waited a minute, as in Go.
 * The frame lines come from the goroutine's frame pointers and dladdr() and
 * appear for goroutines that are not running.  When label is not NULL, only
 * goroutines whose label starts with it are written.  write(ctx, s, n) is
 * called with pieces of text.  The runtime's own goroutines are left out.
 */
typedef void (*gort_write_fn)(void *ctx, const char *s, size_t n);
GORT_API void gort_dump_goroutines(gort_write_fn write, void *ctx, const char *label);

/*
 * A liveness watchdog for a service manager (systemd's WatchdogSec=).
 * Every period_ns, sysmon calls fn(ctx) on its own thread, but only when
 * the scheduler has made progress since the previous call: each P that
 * holds goroutines (running, or stopped for a stop-the-world) has switched
 * goroutine since then.  Idle Ps and Ps whose goroutine is in a bracketed
 * system call are fine.  So a goroutine that keeps its P without reaching
 * a safe point, or a stop-the-world that never ends, stops the calls
 * while the rest of the process may still look alive; when progress
 * resumes, so do the calls.  sysmon re-checks a stalled scheduler every
 * 10 ms, so one call is late by at most that once progress returns.
 *
 * The first call comes as soon as sysmon sees progress after this one.
 * fn runs on sysmon's thread, which holds no P: it must be quick, must not
 * block and must not call into the runtime.  period_ns == 0 (or fn NULL)
 * turns the watchdog off.  Returns 0, or -EINVAL for a period that is
 * negative or under 1 ms.
 */
typedef void (*gort_watchdog_fn)(void *ctx);
GORT_API int gort_set_watchdog(int64_t period_ns, gort_watchdog_fn fn, void *ctx);

/* Turn schedtrace on (interval_ms > 0) or off (0), with or without detail.
 * Lines go to the trace writer (stderr by default); once a call that turns
 * the trace off returns, no further line is written.  Returns -EINVAL for
 * a negative interval. */
GORT_API int gort_set_schedtrace(int interval_ms, bool detail);

/* GODEBUG=gctrace at run time: 0 off, 1 on (a line per collection and
 * per scavenger pass).  Returns the previous level, or -EINVAL for a
 * negative one. */
GORT_API int gort_set_gctrace(int level);

/* Where trace lines go (gctrace, scvg and schedtrace lines): stderr by
 * default.  With fn set, fn(ctx, s, n) receives them instead: s holds one
 * or more whole lines, '\n'-terminated, not NUL-terminated.  fn runs on
 * the runtime thread that traced (sysmon, the collector's goroutine), so
 * it must be quick and must not block on the runtime (no channel
 * operations, no gort_gc); taking a pthread mutex briefly is fine.  NULL
 * restores stderr.  Install it once, before tracing starts. */
GORT_API void gort_set_trace_writer(gort_write_fn fn, void *ctx);

/* ---------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------- */

/* Describes a type to the runtime: its size and where its pointer fields
 * are, so that the collector can scan it precisely.  Channels of a typed
 * element (gort_chan_make_typed) keep their buffer's pointers visible to
 * the collector. */
typedef struct gort_type {
    const char *name;
    size_t size;
    size_t nptrs;
    const size_t *ptr_offsets;
} gort_type;

/*
 * GORT_TYPE(ident, T, field, ...) defines `static const gort_type ident`
 * for type T (a struct type, written as it is spelled, e.g. struct node)
 * whose pointer fields are the listed ones: each must be a pointer-sized,
 * pointer-aligned member that holds either NULL or a pointer.  Up to 16
 * fields.  GORT_TYPE_NOPTR(ident, T) defines one without pointers.
 *
 *     struct node { struct node *left, *right; int64_t value; };
 *     GORT_TYPE(node_type, struct node, left, right);
 *     struct node *n = gort_new(&node_type);
 */
#define GORT_TYPE(ident, T, ...)                                                     \
    static const size_t ident##_gort_ptroffs[] = {GORT__OFFSETS(T, __VA_ARGS__)};    \
    static const gort_type ident = {#T, sizeof(T),                                   \
                                    sizeof(ident##_gort_ptroffs) / sizeof(size_t),   \
                                    ident##_gort_ptroffs}
#define GORT_TYPE_NOPTR(ident, T) static const gort_type ident = {#T, sizeof(T), 0, NULL}

/* (Implementation of GORT_TYPE: offsetof of each listed field.) */
#define GORT__OFF(T, f) __builtin_offsetof(T, f)
#define GORT__N(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, N, ...) N
#define GORT__COUNT(...) GORT__N(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define GORT__CAT(a, b) GORT__CAT_(a, b)
#define GORT__CAT_(a, b) a##b
#define GORT__OFFSETS(T, ...) GORT__CAT(GORT__OFFS_, GORT__COUNT(__VA_ARGS__))(T, __VA_ARGS__)
#define GORT__OFFS_1(T, f) GORT__OFF(T, f)
#define GORT__OFFS_2(T, f, ...) GORT__OFF(T, f), GORT__OFFS_1(T, __VA_ARGS__)
#define GORT__OFFS_3(T, f, ...) GORT__OFF(T, f), GORT__OFFS_2(T, __VA_ARGS__)
#define GORT__OFFS_4(T, f, ...) GORT__OFF(T, f), GORT__OFFS_3(T, __VA_ARGS__)
#define GORT__OFFS_5(T, f, ...) GORT__OFF(T, f), GORT__OFFS_4(T, __VA_ARGS__)
#define GORT__OFFS_6(T, f, ...) GORT__OFF(T, f), GORT__OFFS_5(T, __VA_ARGS__)
#define GORT__OFFS_7(T, f, ...) GORT__OFF(T, f), GORT__OFFS_6(T, __VA_ARGS__)
#define GORT__OFFS_8(T, f, ...) GORT__OFF(T, f), GORT__OFFS_7(T, __VA_ARGS__)
#define GORT__OFFS_9(T, f, ...) GORT__OFF(T, f), GORT__OFFS_8(T, __VA_ARGS__)
#define GORT__OFFS_10(T, f, ...) GORT__OFF(T, f), GORT__OFFS_9(T, __VA_ARGS__)
#define GORT__OFFS_11(T, f, ...) GORT__OFF(T, f), GORT__OFFS_10(T, __VA_ARGS__)
#define GORT__OFFS_12(T, f, ...) GORT__OFF(T, f), GORT__OFFS_11(T, __VA_ARGS__)
#define GORT__OFFS_13(T, f, ...) GORT__OFF(T, f), GORT__OFFS_12(T, __VA_ARGS__)
#define GORT__OFFS_14(T, f, ...) GORT__OFF(T, f), GORT__OFFS_13(T, __VA_ARGS__)
#define GORT__OFFS_15(T, f, ...) GORT__OFF(T, f), GORT__OFFS_14(T, __VA_ARGS__)
#define GORT__OFFS_16(T, f, ...) GORT__OFF(T, f), GORT__OFFS_15(T, __VA_ARGS__)

/* ---------------------------------------------------------------------
 * Memory
 *
 * The heap hands out zeroed objects from size classes up to 32 KiB (one
 * 8 KiB-page span per class at a time, per P, with no lock on the common
 * path) and larger objects as runs of pages.  Pointer-free objects under
 * 16 bytes share 16-byte blocks.  Objects are 8-byte aligned, and 16-byte
 * aligned when their size is a multiple of 16.  A size of 0 returns one
 * shared non-NULL address.  When memory runs out (address space or
 * ENOMEM) the process dies with "fatal error: out of memory allocating N
 * bytes"; these calls never return NULL.
 *
 * The collector frees objects nothing reaches.  It finds references,
 * conservatively, in every goroutine's stack and saved registers, in the
 * writable data and bss of the program and of every loaded shared object,
 * in the ranges registered with gort_root_add, and in goroutine start and
 * deferred-call arguments; then in heap objects: gort_new and
 * gort_new_array objects by their type, gort_alloc objects at every
 * aligned word, gort_alloc_noscan objects never.  A pointer is a reference
 * if it points anywhere inside an object.  References held only in
 * malloc'd memory, in thread-local variables, or by threads that are not
 * goroutines are invisible: register such memory as a root, or keep the
 * object reachable otherwise.  Channels are heap objects too.
 *
 * The collector runs concurrently with the goroutines: a cycle starts when
 * the heap reaches a trigger set by GOGC (gort_set_gc_percent), the memory
 * limit (gort_set_memory_limit), every 2 minutes without one (forcegc), or
 * on gort_gc.  It stops the world twice per cycle, briefly; in between it
 * marks on 25 % of GOMAXPROCS, and goroutines that allocate while it marks
 * help in proportion.  Allocation is a safe point (a goroutine may yield
 * there).  While it marks, heap pointers stored into scanned memory must go
 * through GORT_STORE or gort_wb_memmove (see below).  Each call works from
 * any thread; threads that are not running a goroutine share one locked
 * cache.
 *
 * Between gort_syscall_enter and gort_syscall_exit a goroutine must not
 * move heap references around: the collector sees its stack and registers
 * as they were at gort_syscall_enter.  A static variable that only keeps
 * an object alive (written, never read) may be optimised away: make it
 * volatile.  ASan builds of libgort turn detect_stack_use_after_return
 * off, since its fake stack frames are invisible to the collector.
 * ------------------------------------------------------------------- */

/* A zeroed object of type t.  A NULL t, or a pointer offset that is not
 * 8-byte aligned and inside the type, panics.  Goroutine or any thread. */
GORT_API void *gort_new(const gort_type *t);
/* n zeroed elements of type t; n * t->size overflowing panics. */
GORT_API void *gort_new_array(const gort_type *t, size_t n);
/* size zeroed bytes that may hold pointers anywhere. */
GORT_API void *gort_alloc(size_t size);
/* size zeroed bytes that never hold heap pointers. */
GORT_API void *gort_alloc_noscan(size_t size);

/* Run a full collection now and return when it and its sweep are done.
 * Counted as forced; prints Go's gctrace line with GODEBUG=gctrace=1.
 * Any thread (from a thread that is not a goroutine, a runtime goroutine
 * collects while the caller waits). */
GORT_API void gort_gc(void);

/* A forced collection, then every free heap page back to the operating
 * system now.  Prints the scvg-1 lines with GODEBUG=gctrace=1.  Any
 * thread. */
GORT_API void gort_free_os_memory(void);

/* Why a collection started. */
typedef enum gort_gc_trigger {
    GORT_GC_TRIGGER_HEAP,      /* the heap reached the trigger GOGC set */
    GORT_GC_TRIGGER_MEMLIMIT,  /* ... a trigger the memory limit lowered */
    GORT_GC_TRIGGER_PERIODIC,  /* forcegc: 2 minutes without a collection */
    GORT_GC_TRIGGER_FORCED,    /* gort_gc or gort_free_os_memory */
} gort_gc_trigger;

/* One finished collection: the numbers of its gctrace line, unrounded.
 * The line prints clock_ns and cpu_ns in ms, heap_* in MB (>> 20), and
 * sweepterm and marktermination CPU as their clock times times procs. */
typedef struct gort_gc_cycle {
    uint32_t num;              /* "gc N", from 1 */
    int32_t procs;             /* "N P": GOMAXPROCS during the cycle */
    int64_t start_ns, end_ns;  /* CLOCK_REALTIME at its start and end */
    int64_t since_start_ns;    /* "@N.NNNs": its start, from the runtime's start */
    int32_t cpu_percent;       /* "N%": collector CPU since the start, of all Ps */
    int64_t clock_ns[3];       /* sweep termination, mark, mark termination */
    int64_t cpu_ns[5];         /* sweep termination, assist, background, idle, mark termination */
    uint64_t heap_start;       /* live heap bytes when it started */
    uint64_t heap_end;         /* ... when marking ended */
    uint64_t heap_marked;      /* ... marked: live after it */
    uint64_t heap_goal;        /* the goal it ran against (heap_end when none) */
    uint64_t next_goal;        /* the goal it set for the next cycle (UINT64_MAX: none) */
    uint64_t stacks, globals;  /* scanned stack and global bytes */
    uint64_t pause_ns;         /* the stops of the world: sweep termination,
                                * mark termination, and any stop to end the
                                * mark that found grey objects left and let
                                * the world go again (part of the mark's
                                * clock) */
    bool forced;               /* " (forced)" */
    gort_gc_trigger trigger;
} gort_gc_cycle;

/* One release of free heap pages to the operating system. */
typedef enum gort_scav_kind {
    GORT_SCAV_BACKGROUND,      /* the background scavenger, over its goal */
    GORT_SCAV_PERIODIC,        /* sysmon's pass over long-free spans ("scvgN") */
    GORT_SCAV_FORCED,          /* gort_free_os_memory ("scvg-1") */
} gort_scav_kind;

typedef struct gort_scav_pass {
    int64_t time_ns;           /* CLOCK_REALTIME when it ended */
    int64_t num;               /* the scvgN number; -1 when forced, 0 in the background */
    gort_scav_kind kind;
    uint64_t released;         /* bytes this pass released */
    uint64_t heap_inuse, heap_idle, heap_sys, heap_released;   /* after it, as memstats */
} gort_scav_pass;

/*
 * Observers of the collector and the scavenger, for history and metrics:
 * gc(ctx, c) after every collection (whether or not gctrace is on),
 * scavenge(ctx, s) after every gort_free_os_memory and every other pass
 * that released something.  Either may be NULL.  They run on the runtime thread that did
 * the work (the collector's goroutine, sysmon, a gort_free_os_memory
 * caller), with no runtime lock held, so they must be quick and must not
 * block on the runtime: copy the record into a queue.  o is read in place
 * and must stay valid until it is replaced; NULL removes the observer.
 */
typedef struct gort_observer {
    void (*gc)(void *ctx, const gort_gc_cycle *c);
    void (*scavenge)(void *ctx, const gort_scav_pass *s);
    void *ctx;
} gort_observer;
GORT_API void gort_set_observer(const gort_observer *o);

/* Make [addr, addr + len) a root: every aligned word in it that points
 * into a heap object keeps that object alive, until gort_root_remove(addr).
 * For heap references kept in malloc'd or other non-heap memory. */
GORT_API void gort_root_add(void *addr, size_t len);
GORT_API void gort_root_remove(void *addr);

/* Keep p's object reachable at least until this call (the compiler may
 * otherwise drop the last reference early). */
GORT_API void gort_keepalive(const void *p);

/* The write barrier.  While the collector marks, a store of a heap
 * pointer into memory the collector scans (a heap object, a global, a
 * registered root) must tell it about both the value overwritten and the
 * value stored, or an object the program still reaches may be freed:
 *
 *     GORT_STORE(node->next, other);          // node->next = other
 *     gort_wb_memmove(dst, src, n);            // memmove of pointer words
 *
 * Every such store goes through them, into new objects too.  Stores into a
 * goroutine's own stack variables, and of values that are not heap
 * pointers, need nothing.  With the collector not marking, GORT_STORE costs
 * a load and a predictable branch.  GODEBUG=gccheckmark=1 finds stores that
 * bypassed it.  GORT_STORE evaluates each argument once; the value is
 * converted to the lvalue's type, which must be a pointer (or another
 * word-sized scalar).  The store is an atomic release store (a plain move
 * on x86-64): an object initialised before it is published through
 * GORT_STORE is seen initialised by a goroutine that reads the field with
 * __atomic_load_n(&field, __ATOMIC_ACQUIRE), race-free under TSan. */
GORT_API extern uint32_t gort__writebarrier;
GORT_API void gort__wb_store(void *const *slot, const void *value);
#define GORT_STORE(lvalue, value)                                                   \
    __extension__({                                                                 \
        __typeof__(lvalue) *gort__slot_ = &(lvalue);                                \
        __typeof__(lvalue) gort__val_ = (value);                                    \
        if (__builtin_expect(__atomic_load_n(&gort__writebarrier, __ATOMIC_RELAXED), 0)) \
            gort__wb_store((void *const *)(void *)gort__slot_, (const void *)gort__val_); \
        __atomic_store_n(gort__slot_, gort__val_, __ATOMIC_RELEASE);                \
        (void)0;                                                                    \
    })
/* memmove(dst, src, n) for memory that may hold heap pointers, with the
 * write barrier on every aligned word of dst (old and new values). */
GORT_API void *gort_wb_memmove(void *dst, const void *src, size_t n);

/* Set fn to run once obj becomes unreachable; fn NULL removes the one set.
 * obj must be the start of a heap object.  Returns 0, -EEXIST if obj has a
 * finalizer already, -EINVAL if obj is not the start of a heap object.
 * When the collector finds obj unreachable it keeps obj (and everything
 * obj reaches) for one more cycle and queues fn(obj) on the single
 * finalizer goroutine, which runs finalizers one at a time; the next cycle
 * frees obj unless fn made it reachable again.  A finalizer runs at most
 * once.  Objects in a cycle that holds an object with a finalizer are
 * never freed.  A finalizer that panics ends the process. */
GORT_API int gort_set_finalizer(void *obj, void (*fn)(void *obj));

/* GOGC: a cycle starts when the heap has grown by percent % over what the
 * last cycle found live (goal 4 MiB at least).  Negative: no automatic
 * collection (GOGC=off), except to stay under the memory limit.  Returns
 * the previous value (-1 for off).  Any thread. */
GORT_API int gort_set_gc_percent(int percent);
/* The current GOGC percentage (-1 for off).  Any thread. */
GORT_API int gort_gc_percent(void);
/* GOMEMLIMIT: a soft limit on the memory the runtime holds (heap, stacks,
 * metadata, minus pages released to the OS).  The collector runs earlier
 * and the scavenger releases memory to stay under it.  INT64_MAX: none.
 * bytes < 0 only queries.  Returns the previous value.  Any thread. */
GORT_API int64_t gort_set_memory_limit(int64_t bytes);

/* Pools of reusable objects (Go's sync.Pool).  Get returns an object put
 * earlier, or new_fn()'s result when the pool is empty (NULL if new_fn is
 * NULL).  Each P has a private slot and a shared list; Get takes from its
 * own P first and steals from the others.  At each collection the pool's
 * objects become its victims, and the victims of the collection before are
 * dropped: an object left in a pool survives one collection and is gone
 * after two.  Pools are never freed.  Goroutines or any thread. */
typedef struct gort_pool gort_pool;
GORT_API gort_pool *gort_pool_new(void *(*new_fn)(void));
GORT_API void *gort_pool_get(gort_pool *p);
GORT_API void gort_pool_put(gort_pool *p, void *x);

/* Number of size classes in gort_memstats.by_size (class 0, large objects,
 * is not among them). */
#define GORT_NUM_SIZE_CLASSES 71

/* gort_memstats.pause_hist counts the stop-the-world pause of every cycle
 * since the process started (the values whose latest 256 pause_ns keeps)
 * in GORT_PAUSE_BUCKETS buckets.  A pause of p ns falls in the first
 * bucket i with p <= gort_pause_bucket_bounds_ns[i] (a Prometheus
 * histogram's "le"), else in the last bucket, which has no bound (+Inf).
 * The counts are per bucket, not cumulative.  The bounds: 5, 10, 25, 50,
 * 100, 250, 500 us, 1, 2.5, 5, 10, 25, 50, 100, 250, 500 ms and 1 s. */
#define GORT_PAUSE_BUCKETS 18
GORT_API extern const uint64_t gort_pause_bucket_bounds_ns[GORT_PAUSE_BUCKETS - 1];

/*
 * Go's runtime.MemStats, field for field, with Go's meanings, plus gort's
 * own counters.  Bytes unless said otherwise.
 */
typedef struct gort_memstats {
    /* General. */
    uint64_t alloc;           /* bytes of allocated heap objects (= heap_alloc) */
    uint64_t total_alloc;     /* bytes allocated over the process's life */
    uint64_t sys;             /* bytes obtained from the OS, the sum of the *_sys fields */
    uint64_t lookups;         /* pointer lookups by the runtime (always 0, as in Go) */
    uint64_t mallocs;         /* heap objects allocated, ever */
    uint64_t frees;           /* heap objects freed, ever */
    /* Heap. */
    uint64_t heap_alloc;      /* bytes of allocated heap objects */
    uint64_t heap_sys;        /* heap bytes obtained from the OS: heap_idle + heap_inuse */
    uint64_t heap_idle;       /* bytes in free spans */
    uint64_t heap_inuse;      /* bytes in in-use spans */
    uint64_t heap_released;   /* bytes of free spans returned to the OS */
    uint64_t heap_objects;    /* allocated heap objects: mallocs - frees */
    /* Off-heap memory. */
    uint64_t stack_inuse;     /* bytes of goroutine stack reservations in use */
    uint64_t stack_sys;       /* bytes of every stack mapping */
    uint64_t mspan_inuse;     /* bytes of span structures in use */
    uint64_t mspan_sys;
    uint64_t mcache_inuse;    /* bytes of mcache structures in use */
    uint64_t mcache_sys;
    uint64_t buck_hash_sys;   /* profiling buckets (always 0) */
    uint64_t gc_sys;          /* collector metadata: arena maps, bitmaps */
    uint64_t other_sys;       /* other runtime allocations */
    /* Collector. */
    uint64_t next_gc;         /* heap goal of the next cycle: the last cycle's
                                 marked heap x (1 + GOGC/100), 4 MiB at least,
                                 capped by the memory limit; UINT64_MAX with
                                 GOGC=off and no limit */
    uint64_t last_gc;         /* end of the last cycle, ns since the epoch */
    uint64_t pause_total_ns;
    uint64_t pause_ns[256];   /* circular; the latest at [(num_gc + 255) % 256] */
    uint64_t pause_end[256];  /* ns since the epoch */
    uint32_t num_gc;
    uint32_t num_forced_gc;
    double gc_cpu_fraction;   /* collector CPU / (uptime x gomaxprocs) */
    bool enable_gc;
    bool debug_gc;
    struct {
        uint32_t size;
        uint64_t mallocs;
        uint64_t frees;
    } by_size[GORT_NUM_SIZE_CLASSES];
    /* gort's own. */
    int64_t goroutines;
    int32_t threads;
    int32_t gomaxprocs;
    uint64_t syscalls;        /* gort_syscall_enter calls so far */
    uint64_t stacks_guarded, stacks_slab, stacks_custom;   /* stacks in use by kind */
    uint64_t heap_goal;       /* = next_gc */
    int64_t memory_limit;     /* INT64_MAX: none */
    uint64_t last_pause_max_ns;
    uint64_t assist_cpu_ns, mark_worker_cpu_ns;   /* time goroutines spent assisting, and mark workers marking */
    uint64_t scav_released;   /* bytes the scavenger and gort_free_os_memory released, ever */
    uint64_t tiny_allocs;     /* allocations that went into tiny blocks */
    uint64_t large_allocs;    /* objects over 32 KiB allocated, ever */
    uint64_t large_frees;
    uint64_t pause_hist[GORT_PAUSE_BUCKETS];   /* cycles by pause, per bucket (see
                                                   GORT_PAUSE_BUCKETS); sums to num_gc */
} gort_memstats;

/* Fill *ms.  Sums per-P counters without stopping the world: exact when no
 * goroutine is allocating or sweeping, otherwise a moment's snapshot that
 * may be off by the allocations in flight.  Any thread. */
GORT_API void gort_read_memstats(gort_memstats *ms);

/* ---------------------------------------------------------------------
 * Defer, panic, recover
 *
 * C has no hook at function exit, so the unit of deferral is a protected
 * call.  gort_pcall(fn, arg) runs fn(arg) as a frame that owns the calls
 * deferred while it runs; every goroutine body is such a frame too.
 *
 *     static void body(void *arg)
 *     {
 *         FILE *f = open_it(arg);
 *         gort_defer(close_it, f);      // runs however body ends
 *         work(f);                      // may gort_panic()
 *     }
 *     gort_panic_info *p = gort_pcall(body, arg);
 *
 * Deferred calls run last-in first-out when the frame's function returns,
 * when a panic unwinds through the frame, and on gort_goexit.  gort_panic
 * unwinds with longjmp: C objects between the panic and the frame that
 * stops it are abandoned, so release resources in deferred calls, and never
 * panic while holding a lock that a deferred call does not release.  A
 * pthread mutex held across a park is the caller's bug (see Sync).
 *
 * A deferred call that calls gort_recover() itself (not through a helper)
 * while a panic is in flight stops the panic.  The frame that deferred it
 * then ends normally: its remaining deferred calls run and gort_pcall
 * returns the recovered panic.  A panic that nothing recovers passes through
 * gort_pcall into the enclosing frames, as a Go panic passes through a
 * function call.  If it leaves the goroutine, the program prints
 *
 *     panic: <message>
 *     [the goroutine dump]
 *
 * and exits with status 2; a panic raised by a deferred call during an
 * earlier panic prints both, the earlier first.  Runtime panics carry Go's
 * messages ("send on closed channel", "close of nil channel", ...).
 * ------------------------------------------------------------------- */

typedef struct gort_panic_info gort_panic_info;

/* Run fn(arg) as a protected frame.  Returns NULL when fn returned
 * normally, or the panic that one of the frame's own deferred calls
 * recovered.  The record stays valid until
 * the goroutine ends.  Goroutine only. */
GORT_API gort_panic_info *gort_pcall(gort_fn fn, void *arg);

/* Defer fn(arg) to the end of the innermost protected frame.  Goroutine
 * only; fn must not be NULL. */
GORT_API void gort_defer(gort_fn fn, void *arg);

/* Panic with an arbitrary value (message "(void *) 0x..."), or with a
 * printf-formatted message.  Called from a thread that is not a goroutine,
 * there is nothing to unwind: the process prints the panic and exits 2. */
GORT_API _Noreturn void gort_panic(void *value);
GORT_API _Noreturn void gort_panicf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Stop the panic in flight and return it.  NULL when no panic is in flight,
 * when the panic was already recovered, during gort_goexit, or when the
 * caller is not itself a deferred call (a helper called by a deferred
 * function gets NULL, as in Go).  The check looks at the machine stack, so
 * a helper the compiler inlines into the deferred function, or one that
 * ends in a tail call to gort_recover ("return gort_recover();"), counts as
 * the deferred function itself. */
GORT_API gort_panic_info *gort_recover(void);

/* The panic's message: the gort_panicf text, Go's text for a runtime panic,
 * or "(void *) 0x..." for gort_panic(value). */
GORT_API const char *gort_panic_message(const gort_panic_info *p);
/* The value given to gort_panic; NULL for gort_panicf and runtime panics. */
GORT_API void *gort_panic_value(const gort_panic_info *p);
/* For a panic made from a fault (gort_fault_range_add): true, with the
 * signal number, the faulting address and the instruction's address.
 * false for any other panic.  Pointers may be NULL. */
GORT_API bool gort_panic_fault(const gort_panic_info *p, int *sig, uintptr_t *addr, uintptr_t *pc);

/* ---------------------------------------------------------------------
 * Channels and select (Go's semantics)
 *
 * Elements are copied in and out through pointers.  Unbuffered channels
 * hand a value from sender to receiver directly; buffered channels keep a
 * ring and hand straight to a waiting receiver.  Waiters are served first
 * come, first served.  A NULL channel is Go's nil channel: sending or
 * receiving blocks forever, select never picks it, closing it panics.
 *
 * Panics (Go's messages): "send on closed channel" (also for a sender
 * blocked when the channel is closed), "close of closed channel",
 * "close of nil channel".
 *
 * Deadline variants take an absolute gort_nanotime() deadline and return
 * -ETIMEDOUT once it has passed with the operation not done (a deadline in
 * the past still tries once without blocking).  Blocking calls are
 * goroutine only; the try variants may be called from any thread.  Every
 * channel operation and select is a preemption point, so a goroutine that
 * loops on operations that never block still lets others run.
 *
 * Until the collector exists channels are never freed.
 * ------------------------------------------------------------------- */

typedef struct gort_chan gort_chan;

/* A channel of elem_size-byte pointer-free elements with cap buffer slots
 * (0 = unbuffered).  NULL with errno EINVAL for elem_size >= 64 KiB or a
 * buffer larger than the address space allows, ENOMEM without memory. */
GORT_API gort_chan *gort_chan_make(size_t elem_size, size_t cap);
/* A channel whose elements are of type *elem (elem->size bytes). */
GORT_API gort_chan *gort_chan_make_typed(const gort_type *elem, size_t cap);

/* Send *elem (elem_size bytes), blocking until a receiver or a buffer
 * slot takes it. */
GORT_API void gort_chan_send(gort_chan *c, const void *elem);
/* Receive into *elem (may be NULL to discard).  Returns true for a value
 * sent; false when the channel is closed and drained (*elem is zeroed). */
GORT_API bool gort_chan_recv(gort_chan *c, void *elem);
/* Without blocking: true if the value was sent. */
GORT_API bool gort_chan_trysend(gort_chan *c, const void *elem);
/* Without blocking: true if a receive happened (*ok as for gort_chan_recv;
 * ok may be NULL). */
GORT_API bool gort_chan_tryrecv(gort_chan *c, void *elem, bool *ok);
/* 0 when sent, -ETIMEDOUT. */
GORT_API int gort_chan_send_until(gort_chan *c, const void *elem, int64_t deadline);
/* 0 when a receive happened (*ok as above, ok may be NULL), -ETIMEDOUT. */
GORT_API int gort_chan_recv_until(gort_chan *c, void *elem, bool *ok, int64_t deadline);
/* Close: buffered values can still be received, then receivers get
 * ok=false; every blocked sender panics. */
GORT_API void gort_chan_close(gort_chan *c);
/* Buffered elements now, and buffer size; 0 for a NULL channel. */
GORT_API size_t gort_chan_len(gort_chan *c);
GORT_API size_t gort_chan_cap(gort_chan *c);

enum { GORT_SEND = 1, GORT_RECV = 2 };

/* One case of a select: a send of *elem or a receive into *elem (elem may
 * be NULL for a receive; ok, when not NULL, gets the receive's ok). */
typedef struct gort_select_case {
    gort_chan *c;
    int dir;          /* GORT_SEND or GORT_RECV */
    void *elem;
    bool *ok;
} gort_select_case;

/* Go's select.  Among the ready cases one is chosen uniformly at random;
 * with none ready, block (block true) or return -1 (block false, Go's
 * default case).  Returns the chosen index.  The same channel may appear in
 * several cases.  n = 0 with block true parks forever.  Cases with a NULL
 * channel are never ready.  A case with a bad dir panics before anything
 * happens. */
GORT_API int gort_select(gort_select_case *cases, int n, bool block);
/* As gort_select(cases, n, true), but -ETIMEDOUT once deadline passes. */
GORT_API int gort_select_until(gort_select_case *cases, int n, int64_t deadline);

/* ---------------------------------------------------------------------
 * Sync (Go's package sync, and a weighted semaphore)
 *
 * Every type is zero-initialisable ({0} or its GORT_..._INIT) and needs no
 * destruction.  Blocking parks the goroutine, never the thread, so the
 * calls that may block (lock, rlock, wait, once_do, acquire) are goroutine
 * only, and each is a safe point.  The calls that never block (unlock,
 * runlock, trylock, signal, broadcast, release, tryacquire, WaitGroup add
 * and done) may be made from any thread.  Do not hold a pthread mutex (or
 * anything else that blocks the thread) across a call that may park: the
 * goroutine may resume on another thread, and the thread may run other
 * goroutines that want the same mutex.
 * ------------------------------------------------------------------- */

/* Go's sync.Mutex: brief spinning, then parking FIFO; a waiter that has
 * waited more than 1 ms switches the mutex to starvation mode, where unlock
 * hands ownership straight to the first waiter.  Not reentrant, not owned:
 * any goroutine may unlock.  Unlocking an unlocked mutex is a fatal error
 * ("fatal error: sync: unlock of unlocked mutex").  trylock fails when the
 * mutex is held or being handed to a starving waiter. */
typedef struct gort_mutex {
    _Alignas(8) uint32_t opaque_[2];
} gort_mutex;
#define GORT_MUTEX_INIT {{0, 0}}
GORT_API void gort_mutex_lock(gort_mutex *m);
GORT_API void gort_mutex_unlock(gort_mutex *m);
GORT_API bool gort_mutex_trylock(gort_mutex *m);

/* Go's sync.RWMutex: any number of readers or one writer; a blocked
 * writer keeps new readers out.  Unlocking one that is not locked that way
 * is a fatal error ("sync: RUnlock of unlocked RWMutex", "sync: Unlock of
 * unlocked RWMutex"). */
typedef struct gort_rwmutex {
    _Alignas(8) uint32_t opaque_[6];
} gort_rwmutex;
#define GORT_RWMUTEX_INIT {{0, 0, 0, 0, 0, 0}}
GORT_API void gort_rwmutex_rlock(gort_rwmutex *m);
GORT_API void gort_rwmutex_runlock(gort_rwmutex *m);
GORT_API void gort_rwmutex_lock(gort_rwmutex *m);
GORT_API void gort_rwmutex_unlock(gort_rwmutex *m);

/* Go's sync.WaitGroup.  A counter that goes negative panics with
 * "sync: negative WaitGroup counter"; Add racing with the Wait that a zero
 * counter releases panics with "sync: WaitGroup misuse: Add called
 * concurrently with Wait". */
typedef struct gort_waitgroup {
    _Alignas(8) uint64_t opaque_[2];
} gort_waitgroup;
#define GORT_WAITGROUP_INIT {{0, 0}}
/* Add delta to the counter; may be called from any thread. */
GORT_API void gort_waitgroup_add(gort_waitgroup *wg, int64_t delta);
GORT_API void gort_waitgroup_done(gort_waitgroup *wg);
/* Park until the counter is zero.  Goroutine only. */
GORT_API void gort_waitgroup_wait(gort_waitgroup *wg);

/* Go's sync.Once: fn(arg) runs once; every caller returns after it has
 * finished.  If fn panics or calls gort_goexit, the Once counts as done
 * (and the panic goes on to the caller of gort_once_do).  Calling
 * gort_once_do on the same Once from fn deadlocks, as in Go. */
typedef struct gort_once {
    _Alignas(8) uint32_t opaque_[4];
} gort_once;
#define GORT_ONCE_INIT {{0, 0, 0, 0}}
GORT_API void gort_once_do(gort_once *o, gort_fn fn, void *arg);

/* Go's sync.Cond, with the mutex given at each wait: wait unlocks m (which
 * must be locked), parks until signalled, and locks m again before
 * returning.  signal wakes the goroutine that has waited longest, broadcast
 * every goroutine waiting when it is called; with nobody waiting either is
 * lost.  There are no spurious wake-ups, but as in Go re-check the
 * condition in a loop: another goroutine may get m first. */
typedef struct gort_cond {
    _Alignas(8) uint64_t opaque_[4];
} gort_cond;
#define GORT_COND_INIT {{0, 0, 0, 0}}
GORT_API void gort_cond_wait(gort_cond *c, gort_mutex *m);
GORT_API void gort_cond_signal(gort_cond *c);
GORT_API void gort_cond_broadcast(gort_cond *c);

/* A weighted counting semaphore (golang.org/x/sync/semaphore semantics
 * with a zero start): release(n) adds n units, acquire(n) takes n, parking
 * until they are there.  Waiters are served in arrival order, so a large
 * request is not starved by small ones, and tryacquire fails while anyone
 * waits.  n <= 0 panics naming the value, and so does a release that would
 * take the count past INT64_MAX. */
typedef struct gort_sema {
    _Alignas(8) uint64_t opaque_[5];
} gort_sema;
#define GORT_SEMA_INIT {{0, 0, 0, 0, 0}}
GORT_API void gort_sema_acquire(gort_sema *s, int64_t n);
GORT_API bool gort_sema_tryacquire(gort_sema *s, int64_t n);
/* 0 when acquired, -ETIMEDOUT once the gort_nanotime() deadline has passed
 * (a deadline in the past still tries once without blocking).  A waiter
 * that times out at the head of the queue lets the ones behind it through
 * if the units now suffice for them. */
GORT_API int gort_sema_acquire_until(gort_sema *s, int64_t n, int64_t deadline);
GORT_API void gort_sema_release(gort_sema *s, int64_t n);

/* ---------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------- */

/* A message for a negative errno returned by a gort_ function. */
GORT_API const char *gort_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* GORT_GORT_H */
