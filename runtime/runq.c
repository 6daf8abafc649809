/*
 * runq.c - run queues: each P's lock-free ring plus runnext, and the global
 * queue.
 *
 * The local ring is single-producer (the P's owner puts at the tail) and
 * multi-consumer (the owner and thieves take at the head with a CAS).  The
 * owner publishes a slot with a release store of tail; a consumer reads
 * slots after an acquire load of tail and commits with a CAS on head.  A
 * thief may read a slot that the owner then recycles, but only after the
 * owner has moved head past it, so the thief's CAS fails and it discards
 * what it read.  Slots are accessed with relaxed atomics so that this
 * benign overlap is not a data race in C11 terms.
 *
 * runnext holds the G that should run next on this P: a G just readied or
 * created by the running G.  It inherits the remaining time slice, which
 * makes producer/consumer pairs run back to back on one P.
 *
 * The global queue is a linked list under sched.lock.
 */
#include <stdatomic.h>
#include <time.h>

#include "print.h"
#include "proc.h"

#define RUNQ_MASK (RUNQ_SIZE - 1)

/* sched.runqsize changes only under sched.lock, so a plain load and store
 * suffice.  Relaxed: lock-free readers use it as a hint and re-check under
 * the lock. */
static inline void runqsize_add(int64_t d)
{
    atomic_store_explicit(&sched.runqsize,
                          atomic_load_explicit(&sched.runqsize, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

static inline g_t *slot_load(p_t *pp, uint32_t i)
{
    /* Relaxed: ordering comes from the head/tail acquire/release pairs. */
    return atomic_load_explicit(&pp->runq[i & RUNQ_MASK], memory_order_relaxed);
}

static inline void slot_store(p_t *pp, uint32_t i, g_t *gp)
{
    /* Relaxed: published by the release store of tail that follows. */
    atomic_store_explicit(&pp->runq[i & RUNQ_MASK], gp, memory_order_relaxed);
}

bool runqempty(p_t *pp)
{
    /* A G may move between runnext and the ring while we look; retry until
     * tail is stable across the two reads, as Go does. */
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_acquire);
        g_t *next = atomic_load_explicit(&pp->runnext, memory_order_acquire);
        if (tail == atomic_load_explicit(&pp->runqtail, memory_order_acquire))
            return head == tail && next == NULL;
    }
}

bool runqempty_owner(p_t *pp)
{
    /* Only the owner writes runqtail and sets runnext, so one look is
     * enough; stealers only ever make the queue emptier. */
    return atomic_load_explicit(&pp->runqhead, memory_order_relaxed) ==
               atomic_load_explicit(&pp->runqtail, memory_order_relaxed) &&
           atomic_load_explicit(&pp->runnext, memory_order_relaxed) == NULL;
}

uint32_t runqlen(p_t *pp)
{
    uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_acquire);
    return tail - head;
}

/* The ring is full: move half of it plus gp to the global queue. */
static bool runqputslow(p_t *pp, g_t *gp, uint32_t head, uint32_t tail)
{
    g_t *batch[RUNQ_SIZE / 2 + 1];
    uint32_t n = (tail - head) / 2;
    if (n != RUNQ_SIZE / 2)
        rt_throw("runqputslow: queue is not full");
    for (uint32_t i = 0; i < n; i++)
        batch[i] = slot_load(pp, head + i);
    if (!atomic_compare_exchange_strong_explicit(&pp->runqhead, &head, head + n,
                                                 memory_order_release, memory_order_relaxed))
        return false;
    batch[n] = gp;
    for (uint32_t i = 0; i < n; i++)
        batch[i]->schedlink = batch[i + 1];
    batch[n]->schedlink = NULL;
    rtlock_lock(&sched.lock);
    globrunqputbatch(batch[0], batch[n], (int32_t)n + 1);
    rtlock_unlock(&sched.lock);
    return true;
}

void runqput(p_t *pp, g_t *gp, bool next)
{
    if (next) {
        g_t *old = atomic_exchange_explicit(&pp->runnext, gp, memory_order_acq_rel);
        if (old == NULL)
            return;
        gp = old;   /* the previous runnext goes to the tail */
    }
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        /* Relaxed: only the owner (us) writes tail. */
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
        if (tail - head < RUNQ_SIZE) {
            slot_store(pp, tail, gp);
            atomic_store_explicit(&pp->runqtail, tail + 1, memory_order_release);
            return;
        }
        if (runqputslow(pp, gp, head, tail))
            return;
    }
}

g_t *runqget(p_t *pp, bool *inherit)
{
    g_t *next = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
    /* Only the owner and thieves take runnext, always with a CAS. */
    if (next != NULL && atomic_compare_exchange_strong_explicit(
                            &pp->runnext, &next, NULL, memory_order_acquire, memory_order_relaxed)) {
        *inherit = true;
        return next;
    }
    *inherit = false;
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
        if (tail == head)
            return NULL;
        g_t *gp = slot_load(pp, head);
        if (atomic_compare_exchange_weak_explicit(&pp->runqhead, &head, head + 1,
                                                  memory_order_release, memory_order_relaxed))
            return gp;
    }
}

/*
 * Copy half of pp's runnable Gs into batch[batchhead...] (a ring of
 * RUNQ_SIZE) and return how many.  runnext is taken only when stealrunnext
 * and the ring is empty.
 */
static uint32_t runqgrab(p_t *pp, g_t *_Atomic *batch, uint32_t batchhead, bool stealrunnext)
{
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_acquire);
        uint32_t n = tail - head;
        n = n - n / 2;
        if (n == 0) {
            if (!stealrunnext)
                return 0;
            g_t *next = atomic_load_explicit(&pp->runnext, memory_order_acquire);
            if (next == NULL)
                return 0;
            if (atomic_load_explicit(&pp->status, memory_order_relaxed) == P_RUNNING) {
                /* The owner is about to schedule runnext, probably after a
                 * short ping-pong; give it a moment rather than bouncing
                 * the G between Ps.  Sleep rather than spin, as Go does:
                 * spinning keeps this CPU busy while the owner's thread
                 * may need it (a host with as many threads as CPUs). */
                struct timespec ts = {0, 3000};
                nanosleep(&ts, NULL);
            }
            if (!atomic_compare_exchange_strong_explicit(&pp->runnext, &next, NULL,
                                                         memory_order_acquire, memory_order_relaxed))
                continue;
            atomic_store_explicit(&batch[batchhead & RUNQ_MASK], next, memory_order_relaxed);
            return 1;
        }
        if (n > RUNQ_SIZE / 2)
            continue;   /* head and tail read inconsistently; retry */
        for (uint32_t i = 0; i < n; i++)
            atomic_store_explicit(&batch[(batchhead + i) & RUNQ_MASK], slot_load(pp, head + i),
                                  memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&pp->runqhead, &head, head + n,
                                                  memory_order_release, memory_order_relaxed))
            return n;
    }
}

g_t *runqsteal(p_t *pp, p_t *p2, bool stealrunnext)
{
    uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
    uint32_t n = runqgrab(p2, pp->runq, tail, stealrunnext);
    if (n == 0)
        return NULL;
    n--;
    g_t *gp = slot_load(pp, tail + n);
    if (n == 0)
        return gp;
    uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
    if (tail - head + n >= RUNQ_SIZE)
        rt_throw("runqsteal: runq overflow");
    atomic_store_explicit(&pp->runqtail, tail + n, memory_order_release);
    return gp;
}

void globrunqput(g_t *gp)
{
    gp->schedlink = NULL;
    if (sched.runqtail)
        sched.runqtail->schedlink = gp;
    else
        sched.runqhead = gp;
    sched.runqtail = gp;
    runqsize_add(1);
}

void globrunqputhead(g_t *gp)
{
    gp->schedlink = sched.runqhead;
    sched.runqhead = gp;
    if (!sched.runqtail)
        sched.runqtail = gp;
    runqsize_add(1);
}

void globrunqputbatch(g_t *head, g_t *tail, int32_t n)
{
    tail->schedlink = NULL;
    if (sched.runqtail)
        sched.runqtail->schedlink = head;
    else
        sched.runqhead = head;
    sched.runqtail = tail;
    runqsize_add(n);
}

/* Called with sched.lock held.  Gs beyond the first go to pp's ring,
 * which must have room for them (the caller passes max 1 unless the ring
 * is empty). */
g_t *globrunqget(p_t *pp, int32_t max)
{
    int64_t size = atomic_load_explicit(&sched.runqsize, memory_order_relaxed);
    if (size == 0)
        return NULL;
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_relaxed);
    int64_t n = size / procs + 1;
    if (n > size)
        n = size;
    if (max > 0 && n > max)
        n = max;
    if (n > RUNQ_SIZE / 2)
        n = RUNQ_SIZE / 2;
    runqsize_add(-n);

    g_t *gp = sched.runqhead;
    sched.runqhead = gp->schedlink;
    if (!sched.runqhead)
        sched.runqtail = NULL;
    for (n--; n > 0; n--) {
        g_t *g1 = sched.runqhead;
        sched.runqhead = g1->schedlink;
        if (!sched.runqhead)
            sched.runqtail = NULL;
        runqput(pp, g1, false);
    }
    return gp;
}

void runqdrain_to_global(p_t *pp)
{
    /* Taken from the tail and pushed at the global head, so the global
     * queue sees them in their original order; runnext goes first. */
    for (;;) {
        uint32_t head = atomic_load_explicit(&pp->runqhead, memory_order_relaxed);
        uint32_t tail = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
        if (head == tail)
            break;
        g_t *gp = slot_load(pp, tail - 1);
        atomic_store_explicit(&pp->runqtail, tail - 1, memory_order_relaxed);
        globrunqputhead(gp);
    }
    g_t *next = atomic_exchange_explicit(&pp->runnext, NULL, memory_order_relaxed);
    if (next)
        globrunqputhead(next);
}
