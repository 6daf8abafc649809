/*
 * sema.h - semaphores keyed by address, for goroutines (see sema.c).
 */
#ifndef GORT_RUNTIME_SEMA_H
#define GORT_RUNTIME_SEMA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proc.h"

/* Wait until *addr > 0, then decrement it.  Goroutine only. */
void semacquire(_Atomic uint32_t *addr, waitreason reason);
/* semacquire; lifo queues the caller at the front of the address's waiters
 * (a woken waiter that lost the race re-queues without losing its turn). */
void semacquire1(_Atomic uint32_t *addr, bool lifo, waitreason reason);
/* Increment *addr and wake one waiter, if any.  Any thread. */
void semrelease(_Atomic uint32_t *addr);
/* semrelease; with handoff the unit goes straight to the woken waiter,
 * which returns from semacquire without competing for it. */
void semrelease1(_Atomic uint32_t *addr, bool handoff);

#endif
