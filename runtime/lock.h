/*
 * lock.h - the runtime's own locks and one-shot notifications.
 *
 * rtlock is a futex mutex (Drepper's three-state design) for runtime data
 * structures.  It blocks the thread, not the goroutine, so it must only be
 * held for short, bounded sections that never park.  Holding one across a
 * gopark is a bug (gopark takes an unlock callback for exactly that case).
 *
 * note is Go's note: one thread sleeps until one wakeup arrives.  It is the
 * parking place of idle Ms, of sysmon's deep sleep and of stop-the-world.
 */
#ifndef GORT_RUNTIME_LOCK_H
#define GORT_RUNTIME_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct rtlock {
    _Atomic uint32_t key;   /* 0 unlocked, 1 locked, 2 locked with waiters */
} rtlock;

typedef struct note {
    _Atomic uint32_t key;   /* 0 clear, 1 woken */
} note;

void rtlock_lock(rtlock *l);
void rtlock_unlock(rtlock *l);
bool rtlock_trylock(rtlock *l);

void noteclear(note *n);
void notewakeup(note *n);
void notesleep(note *n);
/* Sleep until woken or ns elapse (ns < 0: forever).  True if woken. */
bool notetsleep(note *n, int64_t ns);
/* Watch n without sleeping for up to ns; true if woken.  The note is not
 * consumed: a later notetsleep returns at once.  For waits much shorter
 * than a thread's wake-up, on a machine with a CPU to spare. */
bool notespin(note *n, int64_t ns);

/* Raw futex helpers (shared/private wait and wake on a 32-bit word). */
void futexsleep(_Atomic uint32_t *addr, uint32_t val, int64_t ns);
void futexwakeup(_Atomic uint32_t *addr, int cnt);

/* Spin-loop hint. */
static inline void procyield(int n)
{
    for (int i = 0; i < n; i++)
        __builtin_ia32_pause();
}

#endif
