/*
 * chan.c - channels.
 *
 * A channel is Go's hchan: a lock, a ring buffer of dataqsiz elements
 * (none for an unbuffered channel), and two FIFO queues of waiting
 * goroutines, senders and receivers.  Each waiter is a sudog naming the
 * element it sends from or receives into, in the waiter's own memory.
 *
 * Invariants (c->lock held):
 *   - at least one of c->sendq and c->recvq is empty, except for a single
 *     goroutine blocked in select on both ends of one unbuffered channel;
 *   - for a buffered channel: qcount > 0 implies recvq is empty, and
 *     qcount < dataqsiz implies sendq is empty.
 *
 * So a sender first looks for a waiting receiver and copies straight into
 * its element (direct hand-off, even for a buffered channel, whose buffer
 * is then empty), then for a free slot, and only then queues itself.  A
 * receiver that finds a waiting sender on a full buffer takes the head of
 * the buffer and moves the sender's element to the tail, which keeps FIFO
 * order across buffer and waiters.
 *
 * Waking.  A waker takes a sudog off a queue under the channel's lock,
 * completes the transfer, records the sudog in g->param and readies the
 * goroutine.  The waiter parked with the lock still held and dropped it in
 * gopark's unlock callback, so it is fully parked before anyone can see
 * its sudog.
 *
 * Waits that can end in several ways (a select parked on many channels, or
 * any wait with a deadline) are claimed: whoever ends the wait first CASes
 * the goroutine's waitclaim from seq<<1 to seq<<1|1, seq being the number
 * of this wait.  A waker that loses skips the sudog (Go's selectDone); the
 * deadline timer, armed in the unlock callback, is just another claimant,
 * whose wake-up leaves g->param NULL.  The woken goroutine then removes its
 * remaining sudogs itself.  A timer left over from an earlier wait carries
 * an old seq and cannot claim a later one.
 *
 * Closing wakes every waiter: receivers with a zeroed element and ok=false,
 * senders with success=false, which makes them panic "send on closed
 * channel" once they run.
 *
 * Sudogs come from a per-P cache of 128, refilled from and spilled to a
 * central list by halves, as in Go.
 */
#include "chan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "panic.h"
#include "print.h"
#include "timers.h"

/* ------------------------------------------------------------------ */
/* Sudogs                                                               */

static struct {
    rtlock lock;                  /* protects list */
    sudog *list;
} sudogcentral;

sudog *acquiresudog(void)
{
    p_t *pp = getm()->p;
    if (pp->nsudogcache == 0) {
        rtlock_lock(&sudogcentral.lock);
        while (pp->nsudogcache < 64 && sudogcentral.list) {
            sudog *s = sudogcentral.list;
            sudogcentral.list = s->next;
            pp->sudogcache[pp->nsudogcache++] = s;
        }
        rtlock_unlock(&sudogcentral.lock);
        if (pp->nsudogcache == 0) {
            sudog *s = malloc(sizeof *s);
            if (!s)
                rt_throw("out of memory allocating a sudog");
            pp->sudogcache[pp->nsudogcache++] = s;
        }
    }
    sudog *sg = pp->sudogcache[--pp->nsudogcache];
    memset(sg, 0, sizeof *sg);
    sg->caseidx = -1;
    return sg;
}

void releasesudog(sudog *sg)
{
    p_t *pp = getm()->p;
    if (pp->nsudogcache == 128) {
        sudog *first = NULL, *last = NULL;
        while (pp->nsudogcache > 64) {
            sudog *s = pp->sudogcache[--pp->nsudogcache];
            s->next = first;
            first = s;
            if (!last)
                last = s;
        }
        rtlock_lock(&sudogcentral.lock);
        last->next = sudogcentral.list;
        sudogcentral.list = first;
        rtlock_unlock(&sudogcentral.lock);
    }
    pp->sudogcache[pp->nsudogcache++] = sg;
}

/* ------------------------------------------------------------------ */
/* Wait queues (c->lock held)                                           */

void enqueue(waitq *q, sudog *sg)
{
    sg->next = NULL;
    sg->prev = q->last;
    if (q->last)
        q->last->next = sg;
    else
        atomic_store_explicit(&q->first, sg, memory_order_relaxed); /* unlocked readers only peek */
    q->last = sg;
}

sudog *dequeue(waitq *q)
{
    for (;;) {
        sudog *sg = atomic_load_explicit(&q->first, memory_order_relaxed);
        if (!sg)
            return NULL;
        sudog *next = sg->next;
        atomic_store_explicit(&q->first, next, memory_order_relaxed);
        if (next)
            next->prev = NULL;
        else
            q->last = NULL;
        sg->next = sg->prev = NULL;
        if (sg->isselect) {
            /* Claim the waiter; if its wait already ended another way
             * (another case won, or its deadline), skip it. */
            uint64_t want = sg->seq << 1;
            if (!atomic_compare_exchange_strong_explicit(&sg->g->waitclaim, &want, want | 1,
                                                         memory_order_acq_rel,
                                                         memory_order_relaxed))
                continue;
        }
        return sg;
    }
}

void dequeue_sudog(waitq *q, sudog *sg)
{
    sudog *x = sg->prev, *y = sg->next;
    if (x) {
        x->next = y;
        if (y)
            y->prev = x;
        else
            q->last = x;
    } else if (y) {
        y->prev = NULL;
        atomic_store_explicit(&q->first, y, memory_order_relaxed);
    } else if (atomic_load_explicit(&q->first, memory_order_relaxed) == sg) {
        atomic_store_explicit(&q->first, NULL, memory_order_relaxed);
        q->last = NULL;
    }
    sg->next = sg->prev = NULL;
}

/* ------------------------------------------------------------------ */
/* Claimable waits and deadlines                                        */

uint64_t wait_begin_claimable(g_t *gp)
{
    uint64_t seq = ++gp->waitseq;
    /* Published to wakers by the channel locks (or the timer heap lock)
     * taken before anyone can see this wait. */
    atomic_store_explicit(&gp->waitclaim, seq << 1, memory_order_relaxed);
    return seq;
}

void wait_timeout_fire(void *arg, uintptr_t seq)
{
    g_t *gp = arg;
    uint64_t want = (uint64_t)seq << 1;
    if (atomic_compare_exchange_strong_explicit(&gp->waitclaim, &want, want | 1,
                                                memory_order_acq_rel, memory_order_relaxed)) {
        WRITE_ONCE(gp->param, NULL);
        goready(gp);
    }
}

/* ------------------------------------------------------------------ */
/* Creation                                                             */

static gort_chan *makechan(size_t elemsize, size_t cap, const gort_type *t)
{
    if (elemsize >= CHAN_MAX_ELEM) {
        errno = EINVAL;
        return NULL;
    }
    size_t bufbytes;
    if (__builtin_mul_overflow(elemsize, cap, &bufbytes) ||
        bufbytes > ((size_t)1 << 47) - sizeof(gort_chan)) {
        errno = EINVAL;
        return NULL;
    }
    /* A heap object: collected when unreachable.  Its buffer is scanned
     * (conservatively) when the elements may hold pointers. */
    gort_chan *c = t ? gort_alloc(sizeof *c + bufbytes) : gort_alloc_noscan(sizeof *c + bufbytes);
    c->elemsize = (uint32_t)elemsize;
    c->dataqsiz = cap;
    c->buf = (char *)(c + 1);
    c->elemtype = t;
    return c;
}

gort_chan *gort_chan_make(size_t elem_size, size_t cap)
{
    return makechan(elem_size, cap, NULL);
}

gort_chan *gort_chan_make_typed(const gort_type *elem, size_t cap)
{
    if (!elem) {
        errno = EINVAL;
        return NULL;
    }
    return makechan(elem->size, cap, elem->nptrs ? elem : NULL);
}

size_t gort_chan_len(gort_chan *c)
{
    return c ? atomic_load_explicit(&c->qcount, memory_order_relaxed) : 0; /* a snapshot */
}

size_t gort_chan_cap(gort_chan *c)
{
    return c ? c->dataqsiz : 0;
}

/* ------------------------------------------------------------------ */
/* Transfers with a waiter                                              */

bool chan_bufsend(gort_chan *c, const void *ep)
{
    size_t q = atomic_load_explicit(&c->qcount, memory_order_relaxed);
    if (q == c->dataqsiz)
        return false;
    copyelem(c, chanbuf(c, c->sendx), ep);
    if (++c->sendx == c->dataqsiz)
        c->sendx = 0;
    atomic_store_explicit(&c->qcount, q + 1, memory_order_relaxed); /* under the lock */
    return true;
}

bool chan_bufrecv(gort_chan *c, void *ep)
{
    size_t q = atomic_load_explicit(&c->qcount, memory_order_relaxed);
    if (q == 0)
        return false;
    char *slot = chanbuf(c, c->recvx);
    copyelem(c, ep, slot);
    clearslot(c, slot);
    if (++c->recvx == c->dataqsiz)
        c->recvx = 0;
    atomic_store_explicit(&c->qcount, q - 1, memory_order_relaxed); /* under the lock */
    return true;
}

void chan_send_to(gort_chan *c, sudog *sg, const void *ep)
{
    copyelem(c, sg->elem, ep);
    sg->success = true;
    g_t *gp = sg->g;
    WRITE_ONCE(gp->param, sg);
    rtlock_unlock(&c->lock);
    goready(gp);
}

void chan_recv_from(gort_chan *c, sudog *sg, void *ep)
{
    if (c->dataqsiz == 0) {
        copyelem(c, ep, sg->elem);
    } else {
        /* Full buffer: take its head, and the sender's element goes to
         * the tail (the slot just freed, as head and tail coincide). */
        char *slot = chanbuf(c, c->recvx);
        copyelem(c, ep, slot);
        copyelem(c, slot, sg->elem);
        if (++c->recvx == c->dataqsiz)
            c->recvx = 0;
        c->sendx = c->recvx;
    }
    sg->success = true;
    g_t *gp = sg->g;
    WRITE_ONCE(gp->param, sg);
    rtlock_unlock(&c->lock);
    goready(gp);
}

/* ------------------------------------------------------------------ */
/* Blocking                                                             */

struct chanpark {
    gort_chan *c;
    timer *t;                     /* armed after the G is parked, or NULL */
};

static bool chanpark_commit(g_t *gp, void *arg)
{
    struct chanpark *cp = arg;
    if (cp->t)
        addtimer(cp->t);
    if (cp->c)
        rtlock_unlock(&cp->c->lock);
    return true;
}

static void timer_init(timer *t, g_t *gp, uint64_t seq, int64_t deadline)
{
    t->when = deadline;
    t->period = 0;
    t->f = wait_timeout_fire;
    t->arg = gp;
    t->seq = (uintptr_t)seq;
    atomic_store_explicit(&t->pp, NULL, memory_order_relaxed); /* not yet in a heap */
}

/* Block on a nil channel: forever, or until deadline (0: none). */
static int block_nil(g_t *gp, waitreason reason, int64_t deadline)
{
    if (!deadline) {
        gopark(NULL, NULL, reason);
        rt_throw("goroutine blocked on a nil channel was woken");
    }
    if (nanotime() >= deadline)
        return -ETIMEDOUT;
    timer t;
    timer_init(&t, gp, wait_begin_claimable(gp), deadline);
    struct chanpark cp = {NULL, &t};
    gopark(chanpark_commit, &cp, reason);
    return -ETIMEDOUT;
}

/* Queue a sudog for gp on q (c locked), park, and return it once woken;
 * NULL if the deadline (0: none) ended the wait. */
static sudog *chanwait(g_t *gp, gort_chan *c, waitq *q, void *ep, int64_t deadline,
                       waitreason reason)
{
    sudog *sg = acquiresudog();
    sg->g = gp;
    sg->elem = ep;
    sg->c = c;
    timer t;
    struct chanpark cp = {c, NULL};
    if (deadline) {
        sg->isselect = true;
        sg->seq = wait_begin_claimable(gp);
        timer_init(&t, gp, sg->seq, deadline);
        cp.t = &t;
    }
    WRITE_ONCE(gp->param, NULL);
    enqueue(q, sg);
    gopark(chanpark_commit, &cp, reason);
    if (deadline) {
        deltimer(&t);
        if (READ_ONCE(gp->param) == NULL) {
            /* Timed out: no waker claimed us, so nobody will touch sg once
             * it is off the queue. */
            rtlock_lock(&c->lock);
            dequeue_sudog(q, sg);
            rtlock_unlock(&c->lock);
            releasesudog(sg);
            return NULL;
        }
    }
    if (READ_ONCE(gp->param) != sg)
        rt_throw("chan: goroutine woken with the wrong sudog");
    return sg;
}

/* ------------------------------------------------------------------ */
/* Send                                                                 */

/* 1 sent, 0 would block (!block), -ETIMEDOUT.  deadline 0: none. */
static int chansend(gort_chan *c, const void *ep, bool block, int64_t deadline)
{
    g_t *gp = NULL;
    if (block)
        gp = getg_or_die("gort_chan_send");
    safepoint_poll();
    if (!c) {
        if (!block)
            return 0;
        return block_nil(gp, WR_CHAN_SEND_NIL, deadline);
    }
    if (!ep && c->elemsize)
        panic_runtime("gort_chan_send: NULL element pointer for a channel of non-empty elements");
    /* Fast failure without the lock, as Go: an open channel that is full
     * (no receiver waiting, no free slot) at the moment of the reads. */
    if (!block && !atomic_load_explicit(&c->closed, memory_order_relaxed) &&
        ((c->dataqsiz == 0 && atomic_load_explicit(&c->recvq.first, memory_order_relaxed) == NULL) ||
         (c->dataqsiz > 0 && atomic_load_explicit(&c->qcount, memory_order_relaxed) == c->dataqsiz)))
        return 0;

    rtlock_lock(&c->lock);
    if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
        rtlock_unlock(&c->lock);
        panic_runtime("send on closed channel");
    }
    sudog *sg = dequeue(&c->recvq);
    if (sg) {
        chan_send_to(c, sg, ep);
        return 1;
    }
    if (chan_bufsend(c, ep)) {
        rtlock_unlock(&c->lock);
        return 1;
    }
    if (!block || (deadline && nanotime() >= deadline)) {
        rtlock_unlock(&c->lock);
        return block ? -ETIMEDOUT : 0;
    }
    sg = chanwait(gp, c, &c->sendq, (void *)ep, deadline, WR_CHAN_SEND);
    if (!sg)
        return -ETIMEDOUT;
    bool ok = sg->success;
    releasesudog(sg);
    if (!ok)
        panic_runtime("send on closed channel");
    return 1;
}

void gort_chan_send(gort_chan *c, const void *elem)
{
    chansend(c, elem, true, 0);
}

bool gort_chan_trysend(gort_chan *c, const void *elem)
{
    return chansend(c, elem, false, 0) == 1;
}

int gort_chan_send_until(gort_chan *c, const void *elem, int64_t deadline)
{
    if (deadline <= 0)
        deadline = 1;             /* in the past: try once */
    int r = chansend(c, elem, true, deadline);
    return r == 1 ? 0 : r;
}

/* ------------------------------------------------------------------ */
/* Receive                                                              */

/* 1 received (*ok says whether a value came), 0 would block (!block),
 * -ETIMEDOUT. */
static int chanrecv(gort_chan *c, void *ep, bool *ok, bool block, int64_t deadline)
{
    g_t *gp = NULL;
    if (block)
        gp = getg_or_die("gort_chan_recv");
    safepoint_poll();
    if (!c) {
        if (!block)
            return 0;
        return block_nil(gp, WR_CHAN_RECV_NIL, deadline);
    }
    if (!block) {
        bool empty = (c->dataqsiz == 0 &&
                      atomic_load_explicit(&c->sendq.first, memory_order_relaxed) == NULL) ||
                     (c->dataqsiz > 0 && atomic_load_explicit(&c->qcount, memory_order_relaxed) == 0);
        if (empty && !atomic_load_explicit(&c->closed, memory_order_acquire))
            return 0;
    }

    rtlock_lock(&c->lock);
    size_t q = atomic_load_explicit(&c->qcount, memory_order_relaxed);
    if (atomic_load_explicit(&c->closed, memory_order_relaxed) && q == 0) {
        rtlock_unlock(&c->lock);
        if (ep && c->elemsize)
            memset(ep, 0, c->elemsize);
        *ok = false;
        return 1;
    }
    sudog *sg = dequeue(&c->sendq);
    if (sg) {
        chan_recv_from(c, sg, ep);
        *ok = true;
        return 1;
    }
    if (chan_bufrecv(c, ep)) {
        rtlock_unlock(&c->lock);
        *ok = true;
        return 1;
    }
    if (!block || (deadline && nanotime() >= deadline)) {
        rtlock_unlock(&c->lock);
        return block ? -ETIMEDOUT : 0;
    }
    sg = chanwait(gp, c, &c->recvq, ep, deadline, WR_CHAN_RECV);
    if (!sg)
        return -ETIMEDOUT;
    *ok = sg->success;
    releasesudog(sg);
    return 1;
}

bool gort_chan_recv(gort_chan *c, void *elem)
{
    bool ok = false;
    chanrecv(c, elem, &ok, true, 0);
    return ok;
}

bool gort_chan_tryrecv(gort_chan *c, void *elem, bool *ok)
{
    bool got = false;
    int r = chanrecv(c, elem, &got, false, 0);
    if (r == 1 && ok)
        *ok = got;
    return r == 1;
}

int gort_chan_recv_until(gort_chan *c, void *elem, bool *ok, int64_t deadline)
{
    if (deadline <= 0)
        deadline = 1;
    bool got = false;
    int r = chanrecv(c, elem, &got, true, deadline);
    if (r == 1 && ok)
        *ok = got;
    return r == 1 ? 0 : r;
}

/* ------------------------------------------------------------------ */
/* Close                                                                */

void gort_chan_close(gort_chan *c)
{
    if (!c)
        panic_runtime("close of nil channel");
    rtlock_lock(&c->lock);
    if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
        rtlock_unlock(&c->lock);
        panic_runtime("close of closed channel");
    }
    atomic_store_explicit(&c->closed, true, memory_order_release);

    /* Collect every waiter, then wake them without the lock. */
    sudog *wake = NULL;
    sudog *sg;
    while ((sg = dequeue(&c->recvq)) != NULL) {
        if (sg->elem && c->elemsize)
            memset(sg->elem, 0, c->elemsize);
        sg->success = false;
        WRITE_ONCE(sg->g->param, sg);
        sg->next = wake;
        wake = sg;
    }
    while ((sg = dequeue(&c->sendq)) != NULL) {
        sg->success = false;
        WRITE_ONCE(sg->g->param, sg);
        sg->next = wake;
        wake = sg;
    }
    rtlock_unlock(&c->lock);
    while (wake) {
        sg = wake;
        wake = sg->next;
        /* sg belongs to its G again once it runs: read what we need first. */
        goready(sg->g);
    }
}
