/*
 * select.c - Go's select over gort channels.
 *
 * One select runs in three passes, as Go's selectgo:
 *
 *   1. Lock every channel involved, in address order (a channel named by
 *      several cases is locked once), then look at the cases in a random
 *      permutation (pollorder) and take the first that can proceed now.
 *      The permutation makes the choice among ready cases uniform.
 *   2. If none can and the select may block, queue a sudog on every
 *      case's channel and park; the unlock callback drops the locks after
 *      the goroutine is parked.  All the sudogs carry the same claim seq
 *      (chan.c): the first waker (or the deadline timer) to claim the
 *      goroutine wins, the others skip its sudogs.
 *   3. Woken, lock everything again, find the winning sudog (g->param),
 *      take the other sudogs off their queues, and finish the case.
 *
 * Locking in address order is what lets two selects over the same
 * channels in opposite orders run concurrently without deadlock.
 *
 * Cases on a NULL channel are left out of both orders: they are never
 * ready and never waited on.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "panic.h"
#include "print.h"
#include "timers.h"

/* Cases up to this many use on-stack scratch arrays. */
enum { SELECT_STACK_CASES = 64, SELECT_MAX_CASES = 65536 };

static void sellock(gort_select_case *cases, const uint16_t *lockorder, int n)
{
    gort_chan *last = NULL;
    for (int i = 0; i < n; i++) {
        gort_chan *c = cases[lockorder[i]].c;
        if (c != last)
            rtlock_lock(&c->lock);
        last = c;
    }
}

/* Unlock every channel but except (NULL: all), which a hand-off helper
 * has already unlocked. */
static void selunlock_except(gort_select_case *cases, const uint16_t *lockorder, int n,
                             gort_chan *except)
{
    for (int i = n - 1; i >= 0; i--) {
        gort_chan *c = cases[lockorder[i]].c;
        if ((i > 0 && c == cases[lockorder[i - 1]].c) || c == except)
            continue;             /* locked once, unlocked once */
        rtlock_unlock(&c->lock);
    }
}

static void selunlock(gort_select_case *cases, const uint16_t *lockorder, int n)
{
    selunlock_except(cases, lockorder, n, NULL);
}

/* Heap sort of case indexes by channel address. */
static void siftdown(gort_select_case *cases, uint16_t *order, int root, int end)
{
    for (;;) {
        int child = 2 * root + 1;
        if (child >= end)
            return;
        if (child + 1 < end && (uintptr_t)cases[order[child + 1]].c > (uintptr_t)cases[order[child]].c)
            child++;
        if ((uintptr_t)cases[order[root]].c >= (uintptr_t)cases[order[child]].c)
            return;
        uint16_t t = order[root];
        order[root] = order[child];
        order[child] = t;
        root = child;
    }
}

static void sortbyaddr(gort_select_case *cases, uint16_t *order, int n)
{
    for (int i = n / 2 - 1; i >= 0; i--)
        siftdown(cases, order, i, n);
    for (int end = n - 1; end > 0; end--) {
        uint16_t t = order[0];
        order[0] = order[end];
        order[end] = t;
        siftdown(cases, order, 0, end);
    }
}

struct selpark {
    gort_select_case *cases;
    const uint16_t *lockorder;
    int nlock;
    timer *t;
};

static bool selpark_commit(g_t *gp, void *arg)
{
    struct selpark *sp = arg;
    if (sp->t)
        addtimer(sp->t);
    selunlock(sp->cases, sp->lockorder, sp->nlock);
    return true;
}

/* Park without channels: forever, or until deadline. */
static int select_nothing(g_t *gp, int64_t deadline)
{
    if (!deadline) {
        gopark(NULL, NULL, WR_SELECT_NO_CASES);
        rt_throw("select with no cases was woken");
    }
    if (nanotime() >= deadline)
        return -ETIMEDOUT;
    timer t = {.when = deadline, .f = wait_timeout_fire, .arg = gp};
    t.seq = (uintptr_t)wait_begin_claimable(gp);
    struct selpark sp = {NULL, NULL, 0, &t};
    gopark(selpark_commit, &sp, WR_SELECT_NO_CASES);
    return -ETIMEDOUT;
}

enum { CASE_NOT_READY, CASE_DONE, CASE_SEND_CLOSED };

/* Try case i with every channel locked, as a non-blocking operation.  When
 * it can proceed it is completed and every channel unlocked. */
static int try_case(gort_select_case *cases, const uint16_t *lockorder, int nlock, int i)
{
    gort_select_case *cs = &cases[i];
    gort_chan *c = cs->c;
    if (cs->dir == GORT_RECV) {
        sudog *sg = dequeue(&c->sendq);
        if (sg) {
            chan_recv_from(c, sg, cs->elem);
            selunlock_except(cases, lockorder, nlock, c);
            if (cs->ok)
                *cs->ok = true;
            return CASE_DONE;
        }
        if (chan_bufrecv(c, cs->elem)) {
            selunlock(cases, lockorder, nlock);
            if (cs->ok)
                *cs->ok = true;
            return CASE_DONE;
        }
        if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
            selunlock(cases, lockorder, nlock);
            if (cs->elem && c->elemsize)
                memset(cs->elem, 0, c->elemsize);
            if (cs->ok)
                *cs->ok = false;
            return CASE_DONE;
        }
        return CASE_NOT_READY;
    }
    if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
        selunlock(cases, lockorder, nlock);
        return CASE_SEND_CLOSED;
    }
    sudog *sg = dequeue(&c->recvq);
    if (sg) {
        chan_send_to(c, sg, cs->elem);
        selunlock_except(cases, lockorder, nlock, c);
        return CASE_DONE;
    }
    if (chan_bufsend(c, cs->elem)) {
        selunlock(cases, lockorder, nlock);
        return CASE_DONE;
    }
    return CASE_NOT_READY;
}

static int selectgo(gort_select_case *cases, int n, bool block, int64_t deadline)
{
    if (n < 0 || n > SELECT_MAX_CASES)
        gort_panicf("gort_select: %d cases (0 to %d allowed)", n, SELECT_MAX_CASES);
    if (n > 0 && !cases)
        gort_panicf("gort_select: cases is NULL for %d cases", n);
    for (int i = 0; i < n; i++) {
        if (cases[i].dir != GORT_SEND && cases[i].dir != GORT_RECV)
            gort_panicf("gort_select: case %d: bad dir %d (GORT_SEND or GORT_RECV)", i, cases[i].dir);
        if (cases[i].dir == GORT_SEND && cases[i].c && cases[i].c->elemsize && !cases[i].elem)
            gort_panicf("gort_select: case %d: send with a NULL element pointer", i);
    }
    g_t *gp = NULL;
    if (block)
        gp = getg_or_die("gort_select");
    safepoint_poll();

    uint16_t stackorder[2 * SELECT_STACK_CASES];
    uint16_t *pollorder = stackorder, *lockorder = stackorder + SELECT_STACK_CASES;
    if (n > SELECT_STACK_CASES) {
        pollorder = malloc(2 * (size_t)n * sizeof *pollorder);
        if (!pollorder)
            rt_throw("out of memory for a select of %d cases", n);
        lockorder = pollorder + n;
    }

    /* A random permutation of the non-nil cases (inside-out shuffle). */
    int norder = 0;
    for (int i = 0; i < n; i++) {
        if (!cases[i].c)
            continue;
        uint32_t j = fastrandn((uint32_t)norder + 1);
        pollorder[norder] = pollorder[j];
        pollorder[j] = (uint16_t)i;
        norder++;
    }
    memcpy(lockorder, pollorder, (size_t)norder * sizeof *lockorder);
    sortbyaddr(cases, lockorder, norder);

    int chosen;
    bool send_closed = false;
    if (norder == 0) {
        if (!block)
            chosen = -1;
        else
            chosen = select_nothing(gp, deadline);
        goto out;
    }

    /* Pass 1: anything ready? */
    sellock(cases, lockorder, norder);
    for (int k = 0; k < norder; k++) {
        int i = pollorder[k];
        int r = try_case(cases, lockorder, norder, i);
        if (r != CASE_NOT_READY) {
            chosen = i;
            send_closed = r == CASE_SEND_CLOSED;
            goto out;
        }
    }
    if (!block || (deadline && nanotime() >= deadline)) {
        selunlock(cases, lockorder, norder);
        chosen = block ? -ETIMEDOUT : -1;
        goto out;
    }

    /* Pass 2: queue on every channel, in lock order, and park. */
    uint64_t seq = wait_begin_claimable(gp);
    sudog *sglist = NULL, **link = &sglist;
    for (int k = 0; k < norder; k++) {
        int i = lockorder[k];
        sudog *sg = acquiresudog();
        sg->g = gp;
        sg->c = cases[i].c;
        sg->elem = cases[i].elem;
        sg->isselect = true;
        sg->seq = seq;
        sg->caseidx = i;
        *link = sg;
        link = &sg->waitlink;
        enqueue(cases[i].dir == GORT_SEND ? &cases[i].c->sendq : &cases[i].c->recvq, sg);
    }
    WRITE_ONCE(gp->param, NULL);
    timer t;
    struct selpark sp = {cases, lockorder, norder, NULL};
    if (deadline) {
        t = (timer){.when = deadline, .f = wait_timeout_fire, .arg = gp, .seq = (uintptr_t)seq};
        sp.t = &t;
    }
    gopark(selpark_commit, &sp, WR_SELECT);
    if (deadline)
        deltimer(&t);

    /* Pass 3: the winner was taken off its queue by the waker; take the
     * others off theirs. */
    sellock(cases, lockorder, norder);
    sudog *won = READ_ONCE(gp->param);
    chosen = -ETIMEDOUT;
    for (sudog *sg = sglist, *next; sg; sg = next) {
        next = sg->waitlink;
        if (sg == won) {
            chosen = sg->caseidx;
        } else {
            gort_select_case *cs = &cases[sg->caseidx];
            dequeue_sudog(cs->dir == GORT_SEND ? &cs->c->sendq : &cs->c->recvq, sg);
        }
    }
    selunlock(cases, lockorder, norder);
    if (!won && !deadline)
        rt_throw("select: woken without a case");
    bool success = won ? won->success : false;
    for (sudog *sg = sglist, *next; sg; sg = next) {
        next = sg->waitlink;
        releasesudog(sg);
    }
    if (won) {
        gort_select_case *cs = &cases[chosen];
        if (cs->dir == GORT_RECV) {
            if (cs->ok)
                *cs->ok = success;
        } else if (!success) {
            send_closed = true;
        }
    }

out:
    if (pollorder != stackorder)
        free(pollorder);
    if (send_closed)
        panic_runtime("send on closed channel");
    return chosen;
}

int gort_select(gort_select_case *cases, int n, bool block)
{
    return selectgo(cases, n, block, 0);
}

int gort_select_until(gort_select_case *cases, int n, int64_t deadline)
{
    if (deadline <= 0)
        deadline = 1;
    return selectgo(cases, n, true, deadline);
}
