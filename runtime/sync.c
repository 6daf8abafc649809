/*
 * sync.c - Go's package sync for goroutines: Mutex, RWMutex, Once, Cond,
 * and a weighted semaphore.  WaitGroup lives with the semaphores it is
 * built on, in sema.c.
 *
 * Every primitive here parks goroutines and never blocks the M.  Two ways
 * of waiting are used:
 *
 *   - Mutex and RWMutex count in the object's own words and park on
 *     sema.c's address-keyed semaphores, exactly as Go's sync package
 *     parks on the runtime's semaphore table.  The objects are 8 and 24
 *     bytes of counters and hold no pointers.
 *
 *   - Cond and the weighted semaphore keep their own wait lists, guarded by
 *     an rtlock inside the object.  A waiter links a record on its own
 *     stack (a parked goroutine's stack stays put) and parks with gopark,
 *     whose unlock callback drops the rtlock only once the goroutine is
 *     switched out.  A waker takes the record off the list under the lock
 *     and readies the goroutine after dropping it; until that goready the
 *     record is still valid, and after it the waker must not touch it.
 *     That is the whole of the no-lost-wake-up argument.
 *
 * Mutex.  The state word holds LOCKED, WOKEN, STARVING and a count of
 * parked waiters above them.  The uncontended lock is one CAS 0 -> LOCKED;
 * unlock is one atomic subtract that finds 0 left when nobody waits.  The
 * mutex has two modes, as Go's:
 *
 *   - Normal mode.  Waiters park FIFO, but a woken waiter does not own the
 *     mutex: it competes with goroutines that are arriving now, which are
 *     already running and usually win.  A waiter that loses re-queues at
 *     the front (sema.c's lifo).  Arrivals may spin a little first if the
 *     holder is likely running on another P (see mutex_canspin); a spinner
 *     sets WOKEN so that unlock does not wake a parked waiter for nothing.
 *     Normal mode is much faster: a goroutine can take the lock many times
 *     in a row while the others sleep.
 *
 *   - Starvation mode.  A waiter that finds it waited more than 1 ms sets
 *     STARVING (only while the mutex is held: unlock counts on a waiter to
 *     pass ownership to).  Unlock then hands the mutex straight to the
 *     first waiter (sema.c's handoff), arrivals neither spin nor take the
 *     unlocked-looking mutex but queue at the back, and the woken waiter
 *     owns the mutex without competing.  The new owner leaves starvation
 *     mode when it is the last waiter or waited less than 1 ms itself.
 *
 * Go's releaser also yields its P to the woken waiter after a handoff.
 * gort does not: gort_gosched would send the releaser to the back of the
 * global queue, a much bigger penalty than Go's local yield, and nothing
 * needs it.  The waiter sits in the releaser's runnext and runs as soon as
 * the releaser parks (or another P steals it), which is soon: any later
 * lock by the releaser queues it behind the starving waiters and parks it.
 *
 * Locking calls are safe points: they honour a pending preemption before
 * they try the lock, so a goroutine that locks and unlocks in a loop gives
 * up its P when its time slice ends, as it would in Go.
 *
 * RWMutex is Go's: readerCount counts readers, and a writer announces
 * itself by subtracting RWMUTEX_MAX_READERS, which turns the count negative
 * (new readers park) while still saying how many readers are active; it
 * waits for exactly those (readerWait), the last of which wakes it.  The
 * writer mutex orders writers.
 *
 * Once runs fn as a protected call (gort_pcall) that defers the completion
 * (done := 1, then unlock), so that a panicking or Goexit-ing fn still
 * counts as done and does not leave the mutex held.  A frame of its own is
 * needed because gort_defer attaches to the innermost protected frame, and
 * without one that would be the caller's.
 *
 * Cond is Go's notifyList: wait takes a ticket while the caller still holds
 * the mutex, so a signal sent after the caller unlocks counts it even if it
 * has not parked yet.  notify is the first ticket not yet signalled; a
 * signal advances it by one and wakes that ticket's holder if it is on the
 * list, a broadcast moves it to the next ticket to be handed out.  A waiter
 * that finds its ticket below notify returns without parking.
 *
 * The weighted semaphore follows golang.org/x/sync/semaphore with a zero
 * start and no size: release adds units, waiters are served strictly in
 * arrival order (the head blocks smaller requests behind it, so a big
 * request is not starved), and try fails while anyone waits.
 *
 * Timed acquires race a timer against a release.  The outcome is decided
 * once, by a CAS on the waiter's state from WAITING to GRANTED (a release,
 * under the semaphore's lock) or to TIMEDOUT (the timer).  The loser backs
 * off: a release skips (and unlinks) a timed-out waiter, the timer does
 * nothing for a granted one.  The timer callback runs on some M's g0,
 * possibly after the waiter was granted and returned, and may even be
 * running when the waiter calls deltimer; so the waiter's record cannot
 * live on its stack.  It is malloc'd with two references, the waiter's and
 * the timer's, and whoever drops the last one frees it.  The callback
 * touches the semaphore only after winning the CAS, when the waiter is
 * still parked (nothing else can wake it any more), so the semaphore is
 * still in use and alive.  The timer is armed from gopark's unlock
 * callback, under the semaphore's lock, so it cannot fire before the
 * goroutine is parked, and a grant cannot wake the goroutine before the
 * timer is armed.  A timed-out head of the queue lets the waiters behind it
 * through if the units now suffice for them.
 *
 * Every object is zero-initialised and needs no destruction: the runtime
 * keeps no pointer to one once the calls on it have returned (a late
 * timer holds its waiter's record, not the semaphore).
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "print.h"
#include "proc.h"
#include "sema.h"
#include "testing.h"
#include "timers.h"

/* ------------------------------------------------------------------ */
/* Entry                                                               */

/* Die unless called on a goroutine, then honour a pending preemption or
 * stop-the-world request: every locking call is a safe point.  Inline so
 * that the lock fast paths pay a few plain loads and tests, no call. */
static inline void sync_enter(const char *fn)
{
    g_t *gp = getg();
    if (__builtin_expect(gp == NULL || gp == &gp->m->g0, 0))
        getg_or_die(fn);
    /* As safepoint_poll, with the G in hand. */
    if (__builtin_expect(atomic_load_explicit(&gp->preempt, memory_order_relaxed), 0))
        safepoint();
}

/* ------------------------------------------------------------------ */
/* Mutex                                                               */

enum {
    MUTEX_LOCKED = 1u << 0,
    MUTEX_WOKEN = 1u << 1,      /* a waiter is awake and will try: don't wake another */
    MUTEX_STARVING = 1u << 2,   /* unlock hands ownership to the first waiter */
    MUTEX_WAITER_SHIFT = 3,     /* parked waiters are counted above the flags */
};

#define MUTEX_WAITER ((uint32_t)1 << MUTEX_WAITER_SHIFT)
#define STARVATION_THRESHOLD_NS 1000000   /* 1 ms */

/* Spinning: at most ACTIVE_SPIN rounds of ACTIVE_SPIN_CNT pause
 * instructions, a few microseconds in all. */
enum { ACTIVE_SPIN = 4, ACTIVE_SPIN_CNT = 30 };

struct mutex {
    _Atomic uint32_t state;   /* the mutex: LOCKED | WOKEN | STARVING | waiters */
    _Atomic uint32_t sema;    /* sema.c counter the waiters park on */
};

_Static_assert(sizeof(struct mutex) == sizeof(gort_mutex), "gort_mutex size");
_Static_assert(_Alignof(struct mutex) <= _Alignof(gort_mutex), "gort_mutex alignment");

static inline struct mutex *tomutex(gort_mutex *m)
{
    return (struct mutex *)m;
}

/* CPUs this process may run on, looked up once. */
static int32_t ncpu(void)
{
    /* Relaxed: every thread computes the same value; a race only repeats
     * the system call. */
    static _Atomic int32_t cached;
    int32_t n = atomic_load_explicit(&cached, memory_order_relaxed);
    if (n == 0) {
        cpu_set_t set;
        n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
        if (n < 1)
            n = 1;
        atomic_store_explicit(&cached, n, memory_order_relaxed);
    }
    return n;
}

/*
 * Whether a goroutine that found the mutex held should spin (round iter)
 * instead of parking.  Go's rule: spinning pays only if the holder is
 * running on another CPU right now and nothing else wants this P.  So:
 * only a few rounds, only with more than one CPU, only when some other P
 * is running a goroutine (not idle, not spinning for work), and only while
 * our own run queue is empty.  No passive spinning (sched_yield): there may
 * be work on the global queue or on other Ps.
 */
static bool mutex_canspin(int iter)
{
    if (iter >= ACTIVE_SPIN || ncpu() <= 1)
        return false;
    /* Relaxed: a heuristic; a stale count costs a few pauses or a park. */
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_relaxed);
    int32_t idle = atomic_load_explicit(&sched.npidle, memory_order_relaxed) +
                   atomic_load_explicit(&sched.nmspinning, memory_order_relaxed);
    if (procs <= idle + 1)
        return false;
    p_t *pp = getm()->p;
    return pp != NULL && runqempty_owner(pp);
}

/* old: the state the caller's failed CAS saw. */
static __attribute__((noinline)) void mutex_lockslow(struct mutex *m, uint32_t old)
{
    int64_t waitstart = 0;   /* when we first parked; 0 before that */
    bool starving = false;   /* we have waited longer than the threshold */
    bool awoke = false;      /* WOKEN is ours: we set it, or unlock set it for us */
    int iter = 0;
    /* Relaxed loads of state in this loop: they only propose the next
     * CAS, which decides with the current value. */
    for (;;) {
        /* Spin only in normal mode with the mutex held.  In starvation
         * mode ownership goes to the waiters, so spinning cannot win. */
        if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED && mutex_canspin(iter)) {
            /* Tell unlock that we are awake and will try, so that it
             * does not wake a parked waiter as well.  Relaxed: WOKEN is
             * advice to unlock, it owns nothing. */
            if (!awoke && !(old & MUTEX_WOKEN) && (old >> MUTEX_WAITER_SHIFT) != 0 &&
                atomic_compare_exchange_weak_explicit(&m->state, &old, old | MUTEX_WOKEN,
                                                      memory_order_relaxed, memory_order_relaxed))
                awoke = true;
            procyield(ACTIVE_SPIN_CNT);
            iter++;
            old = atomic_load_explicit(&m->state, memory_order_relaxed);
            continue;
        }
        uint32_t new = old;
        /* Arrivals do not take a starving mutex: they queue behind the
         * waiters it is being handed to. */
        if (!(old & MUTEX_STARVING))
            new |= MUTEX_LOCKED;
        if (old & (MUTEX_LOCKED | MUTEX_STARVING))
            new += MUTEX_WAITER;
        /* Starve it only while it is held: an unlocked mutex in starvation
         * mode would wait for an unlock that never comes. */
        if (starving && (old & MUTEX_LOCKED))
            new |= MUTEX_STARVING;
        if (awoke) {
            if (!(new & MUTEX_WOKEN))
                rt_throw("sync: inconsistent mutex state");
            new &= ~(uint32_t)MUTEX_WOKEN;
        }
        /* Acquire: when this takes the lock, the previous holder's
         * critical section happens before ours. */
        if (!atomic_compare_exchange_weak_explicit(&m->state, &old, new, memory_order_acquire,
                                                   memory_order_relaxed))
            continue;
        if (!(old & (MUTEX_LOCKED | MUTEX_STARVING)))
            return;
        /* Counted as a waiter: park.  A waiter that was woken before and
         * lost keeps its place at the front. */
        bool lifo = waitstart != 0;
        if (waitstart == 0)
            waitstart = nanotime();
        semacquire1(&m->sema, lifo, WR_SEMACQUIRE);
        starving = starving || nanotime() - waitstart > STARVATION_THRESHOLD_NS;
        old = atomic_load_explicit(&m->state, memory_order_relaxed);
        if (old & MUTEX_STARVING) {
            /* Handed to us.  Unlock left LOCKED and WOKEN clear and still
             * counts us as a waiter. */
            if ((old & (MUTEX_LOCKED | MUTEX_WOKEN)) || (old >> MUTEX_WAITER_SHIFT) == 0)
                rt_throw("sync: inconsistent mutex state");
            uint32_t delta = MUTEX_LOCKED - MUTEX_WAITER;
            /* Leave starvation mode if we did not starve or nobody is left
             * behind us: in starvation mode every unlock is a handoff,
             * which forbids the fast relocking that makes normal mode
             * fast. */
            if (!starving || (old >> MUTEX_WAITER_SHIFT) == 1)
                delta -= MUTEX_STARVING;
            /* Acquire: the releaser's critical section happens before ours
             * (its unlock was a release RMW on state). */
            atomic_fetch_add_explicit(&m->state, delta, memory_order_acquire);
            return;
        }
        awoke = true;
        iter = 0;
    }
}

/* A lock by a caller that is not a goroutine (an error) or that has a
 * preemption request: out of line, so that the fast path saves no
 * registers. */
__attribute__((noinline)) static void mutex_lock_other(struct mutex *m)
{
    sync_enter("gort_mutex_lock");
    uint32_t old = 0;
    if (atomic_compare_exchange_strong_explicit(&m->state, &old, MUTEX_LOCKED, memory_order_acquire,
                                                memory_order_relaxed))
        return;
    mutex_lockslow(m, old);
}

void gort_mutex_lock(gort_mutex *mp)
{
    struct mutex *m = tomutex(mp);
    g_t *gp = getg();
    if (__builtin_expect(gp == NULL || gp == &gp->m->g0 ||
                             atomic_load_explicit(&gp->preempt, memory_order_relaxed),
                         0)) {
        mutex_lock_other(m);
        return;
    }
    /* Acquire: pairs with the release in gort_mutex_unlock.  A failed CAS
     * goes straight to the slow path with the state it saw: trying again
     * first would pull the contended line over once more. */
    uint32_t old = 0;
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(&m->state, &old, MUTEX_LOCKED,
                                                                 memory_order_acquire,
                                                                 memory_order_relaxed),
                         1))
        return;
    mutex_lockslow(m, old);
}

bool gort_mutex_trylock(gort_mutex *mp)
{
    struct mutex *m = tomutex(mp);
    /* Relaxed: a guess at the state for the CAS, which decides. */
    uint32_t old = atomic_load_explicit(&m->state, memory_order_relaxed);
    if (old & (MUTEX_LOCKED | MUTEX_STARVING))
        return false;
    /* Acquire: as in gort_mutex_lock. */
    return atomic_compare_exchange_strong_explicit(&m->state, &old, old | MUTEX_LOCKED, memory_order_acquire,
                                                   memory_order_relaxed);
}

static __attribute__((noinline)) void mutex_unlockslow(struct mutex *m, uint32_t new)
{
    if (!((new + MUTEX_LOCKED) & MUTEX_LOCKED))
        rt_throw("sync: unlock of unlocked mutex");
    if (new & MUTEX_STARVING) {
        /* Hand over: the first waiter gets the lock without competing. */
        semrelease1(&m->sema, true);
        return;
    }
    uint32_t old = new;
    for (;;) {
        /* Nobody to wake, or no need: someone took the lock, a waiter is
         * already awake, or a waiter just turned on starvation mode and
         * its holder's unlock will hand over. */
        if ((old >> MUTEX_WAITER_SHIFT) == 0 || (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)))
            return;
        /* Relaxed: this passes on the duty to wake, not data; our release
         * was the subtract in gort_mutex_unlock, and this RMW continues
         * its release sequence. */
        if (atomic_compare_exchange_weak_explicit(&m->state, &old, (old - MUTEX_WAITER) | MUTEX_WOKEN,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            semrelease1(&m->sema, false);
            return;
        }
    }
}

void gort_mutex_unlock(gort_mutex *mp)
{
    struct mutex *m = tomutex(mp);
    /* Release: our critical section happens before the next owner's. */
    uint32_t new = atomic_fetch_sub_explicit(&m->state, MUTEX_LOCKED, memory_order_release) - MUTEX_LOCKED;
    if (__builtin_expect(new != 0, 0))
        mutex_unlockslow(m, new);
}

/* ------------------------------------------------------------------ */
/* RWMutex                                                             */

#define RWMUTEX_MAX_READERS (1 << 30)

struct rwmutex {
    gort_mutex w;                 /* held by the writer, pending or active */
    _Atomic uint32_t writersem;   /* the writer parks here for departing readers */
    _Atomic uint32_t readersem;   /* readers park here for the writer */
    _Atomic int32_t readercount;  /* readers in or waiting; -MAX_READERS with a writer */
    _Atomic int32_t readerwait;   /* readers the pending writer still waits for */
};

_Static_assert(sizeof(struct rwmutex) == sizeof(gort_rwmutex), "gort_rwmutex size");
_Static_assert(_Alignof(struct rwmutex) <= _Alignof(gort_rwmutex), "gort_rwmutex alignment");

/* Memory orders: every RMW on readercount and readerwait is acq_rel.
 * Readers acquire what the last writer released and release what they
 * read to the next writer; they meet only on these words (and on the
 * semaphores, which are sequentially consistent). */

void gort_rwmutex_rlock(gort_rwmutex *rwp)
{
    struct rwmutex *rw = (struct rwmutex *)rwp;
    sync_enter("gort_rwmutex_rlock");
    if (atomic_fetch_add_explicit(&rw->readercount, 1, memory_order_acq_rel) + 1 < 0)
        semacquire1(&rw->readersem, false, WR_SEMACQUIRE);   /* a writer is pending */
}

static __attribute__((noinline)) void rwmutex_runlockslow(struct rwmutex *rw, int32_t r)
{
    if (r + 1 == 0 || r + 1 == -RWMUTEX_MAX_READERS)
        rt_throw("sync: RUnlock of unlocked RWMutex");
    /* A writer is pending: the last reader it waits for wakes it. */
    if (atomic_fetch_sub_explicit(&rw->readerwait, 1, memory_order_acq_rel) - 1 == 0)
        semrelease1(&rw->writersem, false);
}

void gort_rwmutex_runlock(gort_rwmutex *rwp)
{
    struct rwmutex *rw = (struct rwmutex *)rwp;
    int32_t r = atomic_fetch_sub_explicit(&rw->readercount, 1, memory_order_acq_rel) - 1;
    if (__builtin_expect(r < 0, 0))
        rwmutex_runlockslow(rw, r);
}

void gort_rwmutex_lock(gort_rwmutex *rwp)
{
    struct rwmutex *rw = (struct rwmutex *)rwp;
    sync_enter("gort_rwmutex_lock");
    gort_mutex_lock(&rw->w);
    /* Announce the writer to readers; r is the number still inside. */
    int32_t r = atomic_fetch_add_explicit(&rw->readercount, -RWMUTEX_MAX_READERS, memory_order_acq_rel);
    if (r != 0 && atomic_fetch_add_explicit(&rw->readerwait, r, memory_order_acq_rel) + r != 0)
        semacquire1(&rw->writersem, false, WR_SEMACQUIRE);
}

void gort_rwmutex_unlock(gort_rwmutex *rwp)
{
    struct rwmutex *rw = (struct rwmutex *)rwp;
    /* Let readers in again; r is the number that queued meanwhile. */
    int32_t r = atomic_fetch_add_explicit(&rw->readercount, RWMUTEX_MAX_READERS, memory_order_acq_rel) +
                RWMUTEX_MAX_READERS;
    if (r >= RWMUTEX_MAX_READERS)
        rt_throw("sync: Unlock of unlocked RWMutex");
    for (int32_t i = 0; i < r; i++)
        semrelease1(&rw->readersem, false);
    gort_mutex_unlock(&rw->w);
}

/* ------------------------------------------------------------------ */
/* Once                                                                */

struct once {
    _Atomic uint32_t done;   /* 1 once fn has finished; read without m */
    uint32_t pad_;
    gort_mutex m;            /* serialises the slow path; callers wait here for fn */
};

_Static_assert(sizeof(struct once) == sizeof(gort_once), "gort_once size");
_Static_assert(_Alignof(struct once) <= _Alignof(gort_once), "gort_once alignment");

struct oncecall {
    struct once *o;
    gort_fn fn;
    void *arg;
};

/* Deferred by once_body: runs however fn ends (return, panic, Goexit). */
static void once_finish(void *arg)
{
    struct once *o = arg;
    /* Release: fn's effects happen before the fast path of any caller that
     * sees done. */
    atomic_store_explicit(&o->done, 1, memory_order_release);
    gort_mutex_unlock(&o->m);
}

static void once_body(void *arg)
{
    struct oncecall *c = arg;
    gort_defer(once_finish, c->o);
    c->fn(c->arg);
}

static __attribute__((noinline)) void once_doslow(struct once *o, gort_fn fn, void *arg)
{
    if (fn == NULL)
        gort_panicf("sync: gort_once_do with a NULL function");
    gort_mutex_lock(&o->m);
    /* Relaxed: done is written only under m, which we hold. */
    if (atomic_load_explicit(&o->done, memory_order_relaxed)) {
        gort_mutex_unlock(&o->m);
        return;
    }
    struct oncecall c = {.o = o, .fn = fn, .arg = arg};
    /* A panic that fn's own deferred calls recovered is over: ignore it.
     * One they did not recover runs once_finish and goes on past us. */
    (void)gort_pcall(once_body, &c);
}

void gort_once_do(gort_once *op, gort_fn fn, void *arg)
{
    struct once *o = (struct once *)op;
    /* Acquire: pairs with the release in once_finish. */
    if (__builtin_expect(atomic_load_explicit(&o->done, memory_order_acquire) != 0, 1))
        return;
    once_doslow(o, fn, arg);
}

/* ------------------------------------------------------------------ */
/* Cond                                                                */

/* A parked waiter, on its own stack. */
struct condwaiter {
    g_t *g;
    uint32_t ticket;
    struct condwaiter *next;
};

struct notifylist {
    _Atomic uint32_t wait;     /* next ticket to hand out */
    _Atomic uint32_t notify;   /* first ticket not yet signalled; written under lock */
    rtlock lock;               /* protects head, tail and the writes of notify */
    struct condwaiter *head;   /* parked waiters, about in ticket order */
    struct condwaiter *tail;
};

_Static_assert(sizeof(struct notifylist) <= sizeof(gort_cond), "gort_cond size");
_Static_assert(_Alignof(struct notifylist) <= _Alignof(gort_cond), "gort_cond alignment");

/* Ticket a comes before b, modulo wrap-around. */
static inline bool ticket_less(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static bool cond_park_commit(g_t *gp, void *lock)
{
    (void)gp;
    rtlock_unlock(lock);
    return true;
}

static void notifylist_wait(struct notifylist *l, uint32_t t)
{
    rtlock_lock(&l->lock);
    /* Relaxed: notify is written only under the lock, which we hold. */
    if (ticket_less(t, atomic_load_explicit(&l->notify, memory_order_relaxed))) {
        rtlock_unlock(&l->lock);   /* signalled before we got here */
        return;
    }
    struct condwaiter w = {.g = getg(), .ticket = t, .next = NULL};
    if (l->tail)
        l->tail->next = &w;
    else
        l->head = &w;
    l->tail = &w;
    gopark(cond_park_commit, &l->lock, WR_SYNC_COND_WAIT);
}

void gort_cond_wait(gort_cond *cp, gort_mutex *m)
{
    struct notifylist *l = (struct notifylist *)cp;
    sync_enter("gort_cond_wait");
    /* Seq_cst: a signaller that orders itself after our unlock of m (or
     * after this add) must see our ticket in its load of wait. */
    uint32_t t = atomic_fetch_add_explicit(&l->wait, 1, memory_order_seq_cst);
    gort_mutex_unlock(m);
    notifylist_wait(l, t);
    gort_mutex_lock(m);
}

void gort_cond_signal(gort_cond *cp)
{
    struct notifylist *l = (struct notifylist *)cp;
    /* Seq_cst, as in gort_cond_wait: no ticket handed out since the last
     * signal means nobody to wake. */
    if (atomic_load_explicit(&l->wait, memory_order_seq_cst) ==
        atomic_load_explicit(&l->notify, memory_order_seq_cst))
        return;
    rtlock_lock(&l->lock);
    /* Relaxed: notify is written only under the lock, which we hold. */
    uint32_t t = atomic_load_explicit(&l->notify, memory_order_relaxed);
    if (t == atomic_load_explicit(&l->wait, memory_order_seq_cst)) {
        rtlock_unlock(&l->lock);
        return;
    }
    atomic_store_explicit(&l->notify, t + 1, memory_order_seq_cst);
    /* The holder of ticket t is near the front if it is there at all; if
     * it has not parked yet it will see notify and not park. */
    for (struct condwaiter *prev = NULL, *w = l->head; w; prev = w, w = w->next) {
        if (w->ticket != t)
            continue;
        if (prev)
            prev->next = w->next;
        else
            l->head = w->next;
        if (l->tail == w)
            l->tail = prev;
        g_t *gp = w->g;
        rtlock_unlock(&l->lock);
        goready(gp);
        return;
    }
    rtlock_unlock(&l->lock);
}

void gort_cond_broadcast(gort_cond *cp)
{
    struct notifylist *l = (struct notifylist *)cp;
    /* Seq_cst, as in gort_cond_signal. */
    if (atomic_load_explicit(&l->wait, memory_order_seq_cst) ==
        atomic_load_explicit(&l->notify, memory_order_seq_cst))
        return;
    rtlock_lock(&l->lock);
    struct condwaiter *w = l->head;
    l->head = l->tail = NULL;
    atomic_store_explicit(&l->notify, atomic_load_explicit(&l->wait, memory_order_seq_cst),
                          memory_order_seq_cst);
    rtlock_unlock(&l->lock);
    while (w) {
        struct condwaiter *next = w->next;   /* w is gone once its G runs */
        goready(w->g);
        w = next;
    }
}

/* ------------------------------------------------------------------ */
/* Weighted semaphore                                                  */

enum { SW_WAITING, SW_GRANTED, SW_TIMEDOUT };

/* A waiter: on the waiter's stack for gort_sema_acquire, malloc'd for
 * gort_sema_acquire_until (see the top of the file). */
struct semwaiter {
    g_t *g;
    int64_t n;
    struct semwaiter *prev, *next;   /* the queue, under the semaphore's lock */
    bool queued;                     /* on the queue; under the semaphore's lock */
    _Atomic uint32_t state;          /* SW_*: leaves WAITING once, by CAS */
    _Atomic uint32_t refs;           /* timed: the waiter's and the timer's */
    struct wsema *s;
    timer t;                         /* timed: the deadline */
};

struct wsema {
    rtlock lock;                     /* protects everything below */
    int64_t avail;                   /* units released and not acquired */
    struct semwaiter *head, *tail;   /* waiters in arrival order */
};

_Static_assert(sizeof(struct wsema) <= sizeof(gort_sema), "gort_sema size");
_Static_assert(_Alignof(struct wsema) <= _Alignof(gort_sema), "gort_sema alignment");

static void sema_check_n(const char *fn, int64_t n)
{
    if (n <= 0)
        gort_panicf("sync: %s: n = %lld, must be > 0", fn, (long long)n);
}

/* Take n units if nobody queues ahead of us.  Lock held. */
static bool sema_trytake(struct wsema *s, int64_t n)
{
    if (s->head != NULL || s->avail < n)
        return false;
    s->avail -= n;
    return true;
}

static void sema_enqueue(struct wsema *s, struct semwaiter *w)
{
    w->s = s;
    w->next = NULL;
    w->prev = s->tail;
    if (s->tail)
        s->tail->next = w;
    else
        s->head = w;
    s->tail = w;
    w->queued = true;
}

static void sema_unlink(struct wsema *s, struct semwaiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        s->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        s->tail = w->prev;
    w->prev = w->next = NULL;
    w->queued = false;
}

/* Serve the queue from the front while the units suffice for its head.
 * Timed-out waiters met on the way are dropped (their timer readies them).
 * Returns the granted waiters in queue order, linked through next, for
 * sema_ready once the lock is dropped.  Lock held. */
static struct semwaiter *sema_grant(struct wsema *s)
{
    struct semwaiter *ready = NULL, **last = &ready;
    struct semwaiter *w;
    while ((w = s->head) != NULL) {
        uint32_t st = atomic_load_explicit(&w->state, memory_order_acquire);
        if (st == SW_WAITING && s->avail < w->n)
            break;
        /* Acq_rel: the grant publishes our queue work to the waiter, and
         * loses cleanly to a timer that got there first. */
        if (st == SW_WAITING && atomic_compare_exchange_strong_explicit(&w->state, &st, SW_GRANTED,
                                                                        memory_order_acq_rel,
                                                                        memory_order_acquire)) {
            s->avail -= w->n;
            sema_unlink(s, w);
            *last = w;
            last = &w->next;
            continue;
        }
        sema_unlink(s, w);   /* timed out */
    }
    return ready;
}

static void sema_ready(struct semwaiter *w)
{
    while (w) {
        struct semwaiter *next = w->next;   /* w is gone once its G runs */
        goready(w->g);
        w = next;
    }
}

static bool sema_park_commit(g_t *gp, void *arg)
{
    (void)gp;
    rtlock_unlock(&((struct wsema *)arg)->lock);
    return true;
}

/* The timed waiter is parked: arm its timer, then let releases in. */
static bool sema_park_commit_timed(g_t *gp, void *arg)
{
    (void)gp;
    struct semwaiter *w = arg;
    struct wsema *s = w->s;
    addtimer(&w->t);
    rtlock_unlock(&s->lock);
    return true;
}

static void sema_waiter_unref(struct semwaiter *w)
{
    /* Acq_rel: the last holder frees after the other holder's last use. */
    if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) == 1)
        free(w);
}

/* The deadline of a timed waiter passed (on g0; must not block). */
static void sema_timeout(void *arg, uintptr_t seq)
{
    (void)seq;
    struct semwaiter *w = arg;
    uint32_t st = SW_WAITING;
    if (atomic_compare_exchange_strong_explicit(&w->state, &st, SW_TIMEDOUT, memory_order_acq_rel,
                                                memory_order_acquire)) {
        /* Nothing but us can wake the waiter now, so it is still inside
         * gort_sema_acquire_until and its semaphore is alive. */
        struct wsema *s = w->s;
        struct semwaiter *ready = NULL;
        rtlock_lock(&s->lock);
        if (w->queued) {
            bool head = s->head == w;
            sema_unlink(s, w);
            if (head)
                ready = sema_grant(s);   /* the next ones may fit now */
        }
        g_t *gp = w->g;
        rtlock_unlock(&s->lock);
        sema_ready(ready);
        goready(gp);
    }
    sema_waiter_unref(w);
}

void gort_sema_acquire(gort_sema *sp, int64_t n)
{
    struct wsema *s = (struct wsema *)sp;
    sync_enter("gort_sema_acquire");
    sema_check_n("gort_sema_acquire", n);
    rtlock_lock(&s->lock);
    if (sema_trytake(s, n)) {
        rtlock_unlock(&s->lock);
        return;
    }
    struct semwaiter w = {.g = getg(), .n = n};
    atomic_init(&w.state, SW_WAITING);
    sema_enqueue(s, &w);
    gopark(sema_park_commit, s, WR_SEMACQUIRE);
    /* Only a grant wakes an untimed waiter. */
    gort_assert(atomic_load_explicit(&w.state, memory_order_acquire) == SW_GRANTED);
}

int gort_sema_acquire_until(gort_sema *sp, int64_t n, int64_t deadline)
{
    struct wsema *s = (struct wsema *)sp;
    sync_enter("gort_sema_acquire_until");
    sema_check_n("gort_sema_acquire_until", n);
    rtlock_lock(&s->lock);
    if (sema_trytake(s, n)) {
        rtlock_unlock(&s->lock);
        return 0;
    }
    if (deadline <= nanotime()) {
        rtlock_unlock(&s->lock);
        return -ETIMEDOUT;
    }
    struct semwaiter *w = calloc(1, sizeof *w);
    if (w == NULL) {
        rtlock_unlock(&s->lock);
        rt_throw("out of memory allocating a semaphore waiter");
    }
    w->g = getg();
    w->n = n;
    atomic_init(&w->state, SW_WAITING);
    atomic_init(&w->refs, 2);
    w->t.when = deadline;
    w->t.f = sema_timeout;
    w->t.arg = w;
    sema_enqueue(s, w);
    gopark(sema_park_commit_timed, w, WR_SEMACQUIRE);
    /* Woken by a grant or by the timer, whichever decided the state. */
    uint32_t st = atomic_load_explicit(&w->state, memory_order_acquire);
    gort_assert(st != SW_WAITING);
    if (deltimer(&w->t))
        free(w);   /* granted, and the timer will never run: both references are ours */
    else
        sema_waiter_unref(w);
    return st == SW_GRANTED ? 0 : -ETIMEDOUT;
}

bool gort_sema_tryacquire(gort_sema *sp, int64_t n)
{
    struct wsema *s = (struct wsema *)sp;
    sema_check_n("gort_sema_tryacquire", n);
    rtlock_lock(&s->lock);
    bool ok = sema_trytake(s, n);
    rtlock_unlock(&s->lock);
    return ok;
}

void gort_sema_release(gort_sema *sp, int64_t n)
{
    struct wsema *s = (struct wsema *)sp;
    sema_check_n("gort_sema_release", n);
    rtlock_lock(&s->lock);
    if (n > INT64_MAX - s->avail) {
        long long avail = (long long)s->avail;
        rtlock_unlock(&s->lock);
        gort_panicf("sync: gort_sema_release: %lld more units overflow the %lld available", (long long)n,
                    avail);
    }
    s->avail += n;
    struct semwaiter *ready = sema_grant(s);
    rtlock_unlock(&s->lock);
    sema_ready(ready);
}

/* ------------------------------------------------------------------ */
/* Test hooks (testing.h)                                              */

bool rt_test_mutex_starving(gort_mutex *m)
{
    /* Relaxed: a snapshot for a test, stale by the time it is used. */
    return atomic_load_explicit(&tomutex(m)->state, memory_order_relaxed) & MUTEX_STARVING;
}

int32_t rt_test_mutex_waiters(gort_mutex *m)
{
    /* Relaxed: as above. */
    return (int32_t)(atomic_load_explicit(&tomutex(m)->state, memory_order_relaxed) >> MUTEX_WAITER_SHIFT);
}

bool rt_test_rwmutex_writer_pending(gort_rwmutex *rwp)
{
    /* Relaxed: as above. */
    return atomic_load_explicit(&((struct rwmutex *)rwp)->readercount, memory_order_relaxed) < 0;
}

int32_t rt_test_rwmutex_readers(gort_rwmutex *rwp)
{
    /* Relaxed: as above. */
    int32_t r = atomic_load_explicit(&((struct rwmutex *)rwp)->readercount, memory_order_relaxed);
    return r < 0 ? r + RWMUTEX_MAX_READERS : r;
}

int32_t rt_test_once_waiters(gort_once *op)
{
    return rt_test_mutex_waiters(&((struct once *)op)->m);
}

int32_t rt_test_cond_waiters(gort_cond *cp)
{
    struct notifylist *l = (struct notifylist *)cp;
    rtlock_lock(&l->lock);
    /* Relaxed for notify: written only under the lock, which we hold. */
    int32_t n = (int32_t)(atomic_load_explicit(&l->wait, memory_order_seq_cst) -
                          atomic_load_explicit(&l->notify, memory_order_relaxed));
    rtlock_unlock(&l->lock);
    return n;
}

int64_t rt_test_sema_waiters(gort_sema *sp)
{
    struct wsema *s = (struct wsema *)sp;
    int64_t n = 0;
    rtlock_lock(&s->lock);
    for (struct semwaiter *w = s->head; w; w = w->next)
        n++;
    rtlock_unlock(&s->lock);
    return n;
}
