/*
 * lock.c - futex-based runtime mutex and notes.
 *
 * The mutex spins a little before sleeping, because runtime critical
 * sections are a few hundred instructions and a futex round trip costs more
 * than that.  The state word is 0 (free), 1 (held), 2 (held, someone may
 * sleep on it); unlock wakes one sleeper only when it sees 2.
 */
#include "lock.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "print.h"
#include "timers.h"

void futexsleep(_Atomic uint32_t *addr, uint32_t val, int64_t ns)
{
    struct timespec ts, *tsp = NULL;
    if (ns >= 0) {
        ts.tv_sec = ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        tsp = &ts;
    }
    /* EINTR, EAGAIN and ETIMEDOUT are all "look again" to the callers. */
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
}

void futexwakeup(_Atomic uint32_t *addr, int cnt)
{
    if (syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, cnt, NULL, NULL, 0) < 0)
        rt_throw("futexwakeup failed: errno %d", errno);
}

enum { ACTIVE_SPIN = 4, ACTIVE_SPIN_CNT = 30, PASSIVE_SPIN = 1 };

void rtlock_lock(rtlock *l)
{
    uint32_t v = 0;
    /* Acquire: the holder's writes before its release-unlock are visible. */
    if (atomic_compare_exchange_strong_explicit(&l->key, &v, 1, memory_order_acquire,
                                                memory_order_relaxed))
        return;
    uint32_t wait = v;   /* what we must leave behind: 1, or 2 once we slept */
    for (;;) {
        for (int i = 0; i < ACTIVE_SPIN; i++) {
            while (atomic_load_explicit(&l->key, memory_order_relaxed) == 0) {
                v = 0;
                if (atomic_compare_exchange_weak_explicit(&l->key, &v, wait, memory_order_acquire,
                                                          memory_order_relaxed))
                    return;
            }
            procyield(ACTIVE_SPIN_CNT);
        }
        for (int i = 0; i < PASSIVE_SPIN; i++) {
            while (atomic_load_explicit(&l->key, memory_order_relaxed) == 0) {
                v = 0;
                if (atomic_compare_exchange_weak_explicit(&l->key, &v, wait, memory_order_acquire,
                                                          memory_order_relaxed))
                    return;
            }
            sched_yield();
        }
        /* Announce a sleeper, then sleep while the lock stays contended. */
        v = atomic_exchange_explicit(&l->key, 2, memory_order_acquire);
        if (v == 0)
            return;
        wait = 2;
        futexsleep(&l->key, 2, -1);
    }
}

bool rtlock_trylock(rtlock *l)
{
    uint32_t v = 0;
    return atomic_compare_exchange_strong_explicit(&l->key, &v, 1, memory_order_acquire,
                                                   memory_order_relaxed);
}

void rtlock_unlock(rtlock *l)
{
    uint32_t v = atomic_exchange_explicit(&l->key, 0, memory_order_release);
    if (v == 0)
        rt_throw("unlock of unlocked lock");
    if (v == 2)
        futexwakeup(&l->key, 1);
}

void noteclear(note *n)
{
    /* Relaxed: a note is cleared only by its single sleeper, before it
     * publishes itself (under a lock or an atomic) to the waker. */
    atomic_store_explicit(&n->key, 0, memory_order_relaxed);
}

void notewakeup(note *n)
{
    uint32_t old = atomic_exchange_explicit(&n->key, 1, memory_order_release);
    if (old != 0)
        rt_throw("notewakeup - double wakeup (%u)", old);
    futexwakeup(&n->key, 1);
}

void notesleep(note *n)
{
    while (atomic_load_explicit(&n->key, memory_order_acquire) == 0)
        futexsleep(&n->key, 0, -1);
}

bool notespin(note *n, int64_t ns)
{
    int64_t deadline = nanotime() + ns;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (atomic_load_explicit(&n->key, memory_order_acquire) != 0)
                return true;
            procyield(4);
        }
        if (nanotime() >= deadline)
            return false;
    }
}

bool notetsleep(note *n, int64_t ns)
{
    if (ns < 0) {
        notesleep(n);
        return true;
    }
    int64_t deadline = nanotime() + ns;
    while (atomic_load_explicit(&n->key, memory_order_acquire) == 0) {
        int64_t left = deadline - nanotime();
        if (left <= 0)
            return false;
        futexsleep(&n->key, 0, left);
    }
    return true;
}
