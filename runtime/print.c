/*
 * print.c - fatal errors and raw stderr output.
 */
#include "print.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gort/gort.h"
#include "lock.h"
#include "traceback.h"

/* Set by the first thread that dies; others wait for it to finish. */
static _Atomic int dying;

void rt_write(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Format into a 1 KiB stack buffer (cut there) and hand it to out. */
static void vprint_to(void (*out)(const char *, size_t), const char *fmt, va_list ap)
{
    char buf[1024];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n >= 0)
        out(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

void rt_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_to(rt_write, fmt, ap);
    va_end(ap);
}

/* The trace writer: ctx is stored before fn (release) and read after it
 * (acquire), so a reader that sees fn sees its ctx.  Replacing a writer
 * while trace lines are being written is the caller's business. */
static _Atomic(gort_write_fn) trace_fn;
static void *_Atomic trace_ctx;

void gort_set_trace_writer(gort_write_fn fn, void *ctx)
{
    atomic_store_explicit(&trace_ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&trace_fn, fn, memory_order_release);
}

void rt_trace_write(const char *s, size_t n)
{
    gort_write_fn fn = atomic_load_explicit(&trace_fn, memory_order_acquire);
    if (fn)
        fn(atomic_load_explicit(&trace_ctx, memory_order_relaxed), s, n);
    else
        rt_write(s, n);
}

void rt_tracef(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_to(rt_trace_write, fmt, ap);
    va_end(ap);
}

static _Noreturn void die(bool dump, const char *fmt, va_list ap)
{
    if (atomic_exchange_explicit(&dying, 1, memory_order_acq_rel) != 0) {
        /* Another thread is printing its report and will exit the process. */
        for (;;)
            pause();
    }
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "fatal error: ");
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += m < (int)(sizeof buf) - n - 1 ? m : (int)(sizeof buf) - n - 2;
    buf[n++] = '\n';
    rt_write(buf, (size_t)n);
    if (dump) {
        rt_write("\n", 1);
        traceback_all_fd(2);
    }
    _exit(2);
}

void rt_die_begin(void)
{
    if (atomic_exchange_explicit(&dying, 1, memory_order_acq_rel) != 0) {
        for (;;)
            pause();
    }
}

void rt_die_dump_and_exit(void)
{
    rt_write("\n", 1);
    traceback_all_fd(2);
    _exit(2);
}

void rt_throw(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    die(true, fmt, ap);
}

void rt_throw_nodump(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    die(false, fmt, ap);
}

const char *gort_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case -EINVAL: return "invalid argument";
    case -ESRCH: return "the gort runtime is not running";
    case -ENOMEM: return "out of memory (address space, mappings or memory)";
    case -EAGAIN: return "goroutine limit reached";
    case -EALREADY: return "the gort runtime is already running";
    case -ETIMEDOUT: return "deadline exceeded";
    default: return err < 0 ? strerror(-err) : "unknown error";
    }
}
