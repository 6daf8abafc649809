/*
 * sighandler.h - the runtime's signal handling (see signal.c).
 */
#ifndef GORT_RUNTIME_SIGHANDLER_H
#define GORT_RUNTIME_SIGHANDLER_H

struct m;

/* Install the process-wide handlers (SIGSEGV, SIGBUS). */
void signals_init(void);
/* Per-M setup: an alternate signal stack, so that a fault on an
 * overflowed goroutine stack can still be handled.  munit undoes it. */
void minit_signals(struct m *mp);
void munit_signals(struct m *mp);

#endif
