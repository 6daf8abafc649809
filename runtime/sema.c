/*
 * sema.c - semaphores keyed by address, and WaitGroup on top of them.
 *
 * This is Go's runtime semaphore: a counter lives in the caller's memory,
 * and goroutines that find it zero park in a table of 251 roots, each a lock
 * plus the waiters of the addresses that hash to it.  Within a root,
 * waiters for one address form a FIFO whose first waiter also links the
 * root's list of addresses, so finding an address costs the number of
 * distinct addresses in the root, not the number of waiters (a million
 * goroutines on one WaitGroup is one list walk of length one).
 *
 * Waiters live on the parked goroutine's own stack; a parked goroutine's
 * stack does not move or go away.
 *
 * Lost wake-ups are prevented as in Go: a waiter counts itself in the
 * root's nwait before it re-checks the counter, and a releaser increments
 * the counter before it reads nwait, both sequentially consistent.
 *
 * Two refinements serve sync.c's mutex.  A waiter that was woken and lost
 * the race for the counter may queue again at the front of its address's
 * FIFO (lifo), so that it keeps its place instead of going to the back.
 * A releaser in handoff mode takes the unit it just added on behalf of the
 * waiter it wakes (the waiter's ticket), so that no running goroutine can
 * take it in between: that is how a starving mutex passes ownership.
 *
 * A woken waiter owns nothing: without a ticket it must take a unit like
 * everyone else, and may have to park again.
 */
#include "sema.h"

#include <stddef.h>

#include "print.h"

#define SEMTABSZ 251

struct semawaiter {
    _Atomic uint32_t *addr;
    g_t *g;
    struct semawaiter *next;       /* next waiter for the same address */
    struct semawaiter *tail;       /* last waiter (valid in the first) */
    struct semawaiter *nextaddr;   /* next address's first waiter */
    bool ticket;                   /* a handoff releaser took a unit for us */
};

static struct semaroot {
    _Alignas(64) rtlock lock;      /* protects the lists; one line per root */
    struct semawaiter *addrs;
    _Atomic uint32_t nwait;
} semtable[SEMTABSZ];

static struct semaroot *semroot(_Atomic uint32_t *addr)
{
    return &semtable[((uintptr_t)addr >> 3) % SEMTABSZ];
}

static bool cansemacquire(_Atomic uint32_t *addr)
{
    uint32_t v = atomic_load_explicit(addr, memory_order_seq_cst);
    while (v > 0) {
        if (atomic_compare_exchange_weak_explicit(addr, &v, v - 1, memory_order_seq_cst,
                                                  memory_order_seq_cst))
            return true;
    }
    return false;
}

/* Add w to its address's FIFO: at the back, or at the front (lifo) where
 * it also takes over the link in the root's list of addresses. */
static void queue(struct semaroot *root, struct semawaiter *w, bool lifo)
{
    w->next = NULL;
    for (struct semawaiter **pa = &root->addrs; *pa; pa = &(*pa)->nextaddr) {
        struct semawaiter *a = *pa;
        if (a->addr != w->addr)
            continue;
        if (lifo) {
            w->next = a;
            w->tail = a->tail;
            w->nextaddr = a->nextaddr;
            *pa = w;
        } else {
            a->tail->next = w;
            a->tail = w;
        }
        return;
    }
    w->tail = w;
    w->nextaddr = root->addrs;
    root->addrs = w;
}

static struct semawaiter *dequeue(struct semaroot *root, _Atomic uint32_t *addr)
{
    struct semawaiter **pa = &root->addrs;
    for (struct semawaiter *a = *pa; a; pa = &a->nextaddr, a = *pa) {
        if (a->addr != addr)
            continue;
        if (a->next) {
            struct semawaiter *n = a->next;
            n->tail = a->tail;
            n->nextaddr = a->nextaddr;
            *pa = n;
        } else {
            *pa = a->nextaddr;
        }
        return a;
    }
    return NULL;
}

static bool unlock_root(g_t *gp, void *arg)
{
    (void)gp;
    rtlock_unlock(&((struct semaroot *)arg)->lock);
    return true;
}

void semacquire(_Atomic uint32_t *addr, waitreason reason)
{
    semacquire1(addr, false, reason);
}

void semacquire1(_Atomic uint32_t *addr, bool lifo, waitreason reason)
{
    if (cansemacquire(addr))
        return;
    g_t *gp = getg_or_die("semacquire");
    struct semaroot *root = semroot(addr);
    struct semawaiter w = {.addr = addr, .g = gp};
    for (;;) {
        rtlock_lock(&root->lock);
        atomic_fetch_add_explicit(&root->nwait, 1, memory_order_seq_cst);
        if (cansemacquire(addr)) {
            atomic_fetch_sub_explicit(&root->nwait, 1, memory_order_seq_cst);
            rtlock_unlock(&root->lock);
            return;
        }
        w.ticket = false;
        queue(root, &w, lifo);
        gopark(unlock_root, root, reason);
        if (w.ticket || cansemacquire(addr))
            return;
    }
}

void semrelease(_Atomic uint32_t *addr)
{
    semrelease1(addr, false);
}

void semrelease1(_Atomic uint32_t *addr, bool handoff)
{
    struct semaroot *root = semroot(addr);
    atomic_fetch_add_explicit(addr, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&root->nwait, memory_order_seq_cst) == 0)
        return;
    rtlock_lock(&root->lock);
    if (atomic_load_explicit(&root->nwait, memory_order_seq_cst) == 0) {
        rtlock_unlock(&root->lock);
        return;
    }
    struct semawaiter *w = dequeue(root, addr);
    if (w)
        atomic_fetch_sub_explicit(&root->nwait, 1, memory_order_seq_cst);
    rtlock_unlock(&root->lock);
    if (!w)
        return;
    /* w stays parked, and its record valid, until goready. */
    if (handoff && cansemacquire(addr))
        w->ticket = true;
    goready(w->g);
}

/* ------------------------------------------------------------------ */
/* WaitGroup: Go's sync.WaitGroup.  state holds the counter in its high 32
 * bits and the number of waiters in its low 32 bits; sema parks waiters.
 * Misuse (a negative counter, Add racing with the Wait that a zero counter
 * released, reuse before Wait returned) panics with Go's messages. */

struct waitgroup {
    _Atomic uint64_t state;
    _Atomic uint32_t sema;
};

_Static_assert(sizeof(struct waitgroup) <= sizeof(gort_waitgroup), "gort_waitgroup too small");

void gort_waitgroup_add(gort_waitgroup *wgp, int64_t delta)
{
    struct waitgroup *wg = (struct waitgroup *)wgp;
    uint64_t state = atomic_fetch_add_explicit(&wg->state, (uint64_t)delta << 32, memory_order_seq_cst) +
                     ((uint64_t)delta << 32);
    int32_t v = (int32_t)(state >> 32);
    uint32_t w = (uint32_t)state;
    if (v < 0)
        gort_panicf("sync: negative WaitGroup counter");
    if (w != 0 && delta > 0 && v == (int32_t)delta)
        gort_panicf("sync: WaitGroup misuse: Add called concurrently with Wait");
    if (v > 0 || w == 0)
        return;
    /* Counter is zero and there are waiters: nobody may touch the state
     * now but us.  Reset it and release every waiter. */
    if (atomic_load_explicit(&wg->state, memory_order_seq_cst) != state)
        gort_panicf("sync: WaitGroup misuse: Add called concurrently with Wait");
    atomic_store_explicit(&wg->state, 0, memory_order_seq_cst);
    for (; w != 0; w--)
        semrelease(&wg->sema);
}

void gort_waitgroup_done(gort_waitgroup *wg)
{
    gort_waitgroup_add(wg, -1);
}

void gort_waitgroup_wait(gort_waitgroup *wgp)
{
    struct waitgroup *wg = (struct waitgroup *)wgp;
    getg_or_die("gort_waitgroup_wait");
    for (;;) {
        uint64_t state = atomic_load_explicit(&wg->state, memory_order_seq_cst);
        if ((int32_t)(state >> 32) == 0) {
            safepoint();
            return;
        }
        if (atomic_compare_exchange_weak_explicit(&wg->state, &state, state + 1, memory_order_seq_cst,
                                                  memory_order_seq_cst)) {
            semacquire(&wg->sema, WR_SEMACQUIRE);
            if (atomic_load_explicit(&wg->state, memory_order_seq_cst) != 0)
                gort_panicf("sync: WaitGroup is reused before previous Wait has returned");
            return;
        }
    }
}
