/*
 * time.c - clocks, per-P timer heaps and gort_sleep.
 *
 * Every P owns a 4-ary min-heap of timers ordered by when, guarded by the
 * P's timers lock.  Timers run from the scheduler: schedule() runs its own
 * P's expired timers, and an M about to go idle runs the expired timers of
 * every P (so a timer on a P whose M is stuck in a long computation still
 * fires).  The heap's earliest deadline is mirrored in ptimers.first so
 * that those checks cost one atomic load when nothing is due.
 *
 * A timer records the P whose heap holds it; deltimer locks that P and
 * re-checks, because a timer moves when GOMAXPROCS shrinks.
 *
 * Timer functions run on g0 with no timers lock held.  The common one is
 * goroutine wake-up (gort_sleep): the sleeping G's timer is armed from
 * gopark's unlock callback, after the G is fully parked, so the timer can
 * never fire for a G that is still running.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "print.h"
#include "proc.h"

int64_t nanotime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t coarsetime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t gort_nanotime(void)
{
    return nanotime();
}

/* Heap helpers; pp->timers.lock held. */

static void siftup(struct ptimers *ts, int32_t i)
{
    timer **h = ts->heap;
    timer *t = h[i];
    while (i > 0) {
        int32_t parent = (i - 1) / 4;
        if (t->when >= h[parent]->when)
            break;
        h[i] = h[parent];
        h[i]->idx = i;
        i = parent;
    }
    h[i] = t;
    t->idx = i;
}

static void siftdown(struct ptimers *ts, int32_t i)
{
    timer **h = ts->heap;
    int32_t n = ts->n;
    timer *t = h[i];
    for (;;) {
        int32_t c = 4 * i + 1;
        if (c >= n)
            break;
        int32_t best = c;
        for (int32_t k = c + 1; k < c + 4 && k < n; k++)
            if (h[k]->when < h[best]->when)
                best = k;
        if (h[best]->when >= t->when)
            break;
        h[i] = h[best];
        h[i]->idx = i;
        i = best;
    }
    h[i] = t;
    t->idx = i;
}

static void update_first(struct ptimers *ts)
{
    /* Release: pairs with the acquire loads of the schedulers' checks. */
    atomic_store_explicit(&ts->first, ts->n ? ts->heap[0]->when : 0, memory_order_release);
}

static void heap_remove(struct ptimers *ts, int32_t i)
{
    int32_t last = ts->n - 1;
    WRITE_ONCE(ts->n, last);
    if (i != last) {
        ts->heap[i] = ts->heap[last];
        ts->heap[i]->idx = i;
        siftdown(ts, i);
        siftup(ts, ts->heap[i]->idx);
    }
    update_first(ts);
}

static void heap_push(p_t *pp, timer *t)
{
    struct ptimers *ts = &pp->timers;
    if (ts->n == ts->cap) {
        int32_t ncap = ts->cap ? ts->cap * 2 : 64;
        timer **nh = realloc(ts->heap, (size_t)ncap * sizeof *nh);
        if (!nh)
            rt_throw("out of memory growing a timer heap to %d entries", ncap);
        ts->heap = nh;
        ts->cap = ncap;
    }
    ts->heap[ts->n] = t;
    t->idx = ts->n;
    WRITE_ONCE(ts->n, ts->n + 1);
    atomic_store_explicit(&t->pp, pp, memory_order_release);
    siftup(ts, t->idx);
    update_first(ts);
}

void addtimer(timer *t)
{
    if (t->when <= 0)
        t->when = 1;
    /* Once the lock is dropped t may fire and its owner re-arm it (a
     * woken sleeper sleeps again): read when before. */
    int64_t when = t->when;
    m_t *mp = getm();
    p_t *pp = mp && mp->p ? mp->p : allp[0];
    rtlock_lock(&pp->timers.lock);
    heap_push(pp, t);
    rtlock_unlock(&pp->timers.lock);
    timer_armed(when);
}

bool deltimer(timer *t)
{
    for (;;) {
        p_t *pp = atomic_load_explicit(&t->pp, memory_order_acquire);
        if (!pp)
            return false;
        rtlock_lock(&pp->timers.lock);
        if (atomic_load_explicit(&t->pp, memory_order_relaxed) != pp) {
            rtlock_unlock(&pp->timers.lock);
            continue;
        }
        heap_remove(&pp->timers, t->idx);
        atomic_store_explicit(&t->pp, NULL, memory_order_release);
        rtlock_unlock(&pp->timers.lock);
        return true;
    }
}

int64_t checktimers(p_t *pp, int64_t now, bool *ran)
{
    struct ptimers *ts = &pp->timers;
    *ran = false;
    int64_t first = atomic_load_explicit(&ts->first, memory_order_acquire);
    if (first == 0 || first > now)
        return first;
    rtlock_lock(&ts->lock);
    while (ts->n > 0 && ts->heap[0]->when <= now) {
        timer *t = ts->heap[0];
        void (*f)(void *, uintptr_t) = t->f;
        void *arg = t->arg;
        uintptr_t seq = t->seq;
        if (t->period > 0) {
            t->when += t->period * (1 + (now - t->when) / t->period);
            siftdown(ts, 0);
            update_first(ts);
        } else {
            heap_remove(ts, 0);
            atomic_store_explicit(&t->pp, NULL, memory_order_release);
        }
        rtlock_unlock(&ts->lock);
        f(arg, seq);
        *ran = true;
        rtlock_lock(&ts->lock);
    }
    first = ts->n ? ts->heap[0]->when : 0;
    rtlock_unlock(&ts->lock);
    return first;
}

int64_t timesleepuntil(void)
{
    int64_t next = 0;
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_acquire);
    for (int32_t i = 0; i < procs; i++) {
        int64_t w = atomic_load_explicit(&allp[i]->timers.first, memory_order_acquire);
        if (w != 0 && (next == 0 || w < next))
            next = w;
    }
    return next;
}

void movetimers(p_t *dst, p_t *src)
{
    if (dst == src)
        return;
    rtlock_lock(&src->timers.lock);
    rtlock_lock(&dst->timers.lock);
    while (src->timers.n > 0) {
        timer *t = src->timers.heap[src->timers.n - 1];
        WRITE_ONCE(src->timers.n, src->timers.n - 1);
        heap_push(dst, t);
    }
    update_first(&src->timers);
    rtlock_unlock(&dst->timers.lock);
    rtlock_unlock(&src->timers.lock);
}

int32_t timerslen(p_t *pp)
{
    return READ_ONCE(pp->timers.n);
}

static void goready_timer(void *arg, uintptr_t seq)
{
    (void)seq;
    goready(arg);
}

static bool sleep_commit(g_t *gp, void *arg)
{
    (void)gp;
    addtimer(arg);
    return true;
}

void gort_sleep(int64_t ns)
{
    g_t *gp = getg_or_die("gort_sleep");
    if (ns <= 0) {
        safepoint();
        return;
    }
    timer *t = &gp->sleeptimer;
    int64_t now = nanotime();
    t->when = ns > INT64_MAX - now ? INT64_MAX : now + ns;
    t->period = 0;
    t->f = goready_timer;
    t->arg = gp;
    t->seq = 0;
    gopark(sleep_commit, t, WR_SLEEP);
}
