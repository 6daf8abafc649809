/*
 * sema.h - semaphores keyed by address, for goroutines (see sema.c).
 */
#ifndef GORT_RUNTIME_SEMA_H
#define GORT_RUNTIME_SEMA_H

#include <stdatomic.h>
#include <stdint.h>

#include "proc.h"

/* Wait until *addr > 0, then decrement it.  Goroutine only. */
void semacquire(_Atomic uint32_t *addr, waitreason reason);
/* Increment *addr and wake one waiter, if any. */
void semrelease(_Atomic uint32_t *addr);

#endif
