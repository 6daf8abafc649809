/*
 * print.h - the runtime's output: fatal errors and trace lines.
 *
 * Everything goes straight to file descriptor 2 with write(2), never
 * through stdio: the runtime prints from sysmon, from signal handlers and
 * while other threads may hold stdio locks.
 */
#ifndef GORT_RUNTIME_PRINT_H
#define GORT_RUNTIME_PRINT_H

#include <stddef.h>

/* Format into a stack buffer and write it to stderr in one write(2). */
void rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rt_write(const char *s, size_t n);

/* Trace lines (gctrace, scvg, schedtrace): to the writer installed with
 * gort_set_trace_writer, else to stderr.  s holds whole lines. */
void rt_trace_write(const char *s, size_t n);
void rt_tracef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A runtime invariant was violated or the program cannot go on: print
 * "fatal error: <msg>", a goroutine dump, and exit with status 2.  If
 * another thread is already dying, wait for it instead of printing a second
 * report.
 */
_Noreturn void rt_throw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* rt_throw without the goroutine dump, for contexts (signal handlers on a
 * broken stack) where walking other goroutines is not safe. */
_Noreturn void rt_throw_nodump(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For reports other than "fatal error: ..." (an unrecovered panic):
 * rt_die_begin makes this thread the one that reports (another dying
 * thread makes it wait forever instead); the caller prints its text, then
 * rt_die_dump_and_exit adds the goroutine dump and exits with status 2. */
void rt_die_begin(void);
_Noreturn void rt_die_dump_and_exit(void);

#define gort_assert(cond)                                                           \
    do {                                                                            \
        if (__builtin_expect(!(cond), 0))                                           \
            rt_throw("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__);   \
    } while (0)

#endif
