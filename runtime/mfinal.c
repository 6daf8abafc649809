/*
 * mfinal.c - finalizers.
 *
 * A finalizer is a record (struct special) on its object's span, sorted
 * by nothing (spans hold few), and on one global list that the mark walks.
 * Marking scans the contents of every object with a finalizer (not the
 * object itself): whatever it reaches is marked, so that when sweeping
 * finds the object unmarked it can keep it for one more cycle and queue
 * fn(obj) without anything the finalizer may touch having been freed.  An
 * object that reaches itself through its contents is therefore never
 * freed (a cycle with a finalizer).
 *
 * Queued finalizers are roots until the finalizer goroutine takes them,
 * one at a time.  Taking one while the collector marks greys the object
 * (the queue is outside the heap, and the goroutine's stack may be scanned
 * already).
 *
 * Locks: speciallock is a leaf below mcentral.lock (sweeping takes it
 * with the span's mcentral held); finlock is a leaf too.
 */
#include <errno.h>
#include <stdlib.h>

#include "gc.h"
#include "malloc.h"
#include "panic.h"
#include "print.h"
#include "proc.h"
#include "sema.h"

static rtlock speciallock;
static struct special *allspecials;      /* every special, through gnext */

struct finq {
    struct finq *next;
    uintptr_t obj;
    void (*fn)(void *obj);
};

static rtlock finlock;
static struct finq *finq_head, *finq_tail;
static _Atomic bool fin_queued;          /* sweeping queued some since the last wake */
static _Atomic uint32_t fin_sema;
static _Atomic bool fin_started;

int gort_set_finalizer(void *obj, void (*fn)(void *obj))
{
    mallocinit();
    uintptr_t p = (uintptr_t)obj;
    mspan *s;
    uintptr_t base = p ? heap_object_base(p, &s, NULL) : 0;
    if (!base || base != p)
        return -EINVAL;
    rtlock_lock(&speciallock);
    struct special **pp = &s->specials;
    while (*pp && (*pp)->obj != p)
        pp = &(*pp)->next;
    struct special *sp = *pp;
    if (!fn) {
        if (sp) {
            __atomic_store_n(pp, sp->next, __ATOMIC_RELAXED);
            if (sp->gprev)
                sp->gprev->gnext = sp->gnext;
            else
                allspecials = sp->gnext;
            if (sp->gnext)
                sp->gnext->gprev = sp->gprev;
        }
        rtlock_unlock(&speciallock);
        free(sp);
        return 0;
    }
    if (sp) {
        rtlock_unlock(&speciallock);
        return -EEXIST;
    }
    sp = malloc(sizeof *sp);
    if (!sp) {
        rtlock_unlock(&speciallock);
        return -ENOMEM;
    }
    sp->obj = p;
    sp->fn = fn;
    sp->next = s->specials;
    __atomic_store_n(&s->specials, sp, __ATOMIC_RELEASE);   /* sweeping peeks without the lock */
    sp->gprev = NULL;
    sp->gnext = allspecials;
    if (allspecials)
        allspecials->gprev = sp;
    allspecials = sp;
    rtlock_unlock(&speciallock);
    return 0;
}

void fin_mark_roots(void (*scan_obj)(uintptr_t base), void (*shade)(uintptr_t v))
{
    rtlock_lock(&speciallock);
    for (struct special *sp = allspecials; sp; sp = sp->gnext)
        scan_obj(sp->obj);
    rtlock_unlock(&speciallock);
    rtlock_lock(&finlock);
    for (struct finq *q = finq_head; q; q = q->next)
        shade(q->obj);
    rtlock_unlock(&finlock);
}

void fin_sweep_span(mspan *s)
{
    rtlock_lock(&speciallock);
    struct special **pp = &s->specials;
    while (*pp) {
        struct special *sp = *pp;
        uint32_t idx = span_objindex(s, sp->obj);
        if ((s->gcmarkbits[idx / 8] >> (idx % 8)) & 1) {
            pp = &sp->next;
            continue;
        }
        /* Unreachable: it lives one more cycle, for its finalizer. */
        s->gcmarkbits[idx / 8] |= (uint8_t)(1u << (idx % 8));
        *pp = sp->next;
        if (sp->gprev)
            sp->gprev->gnext = sp->gnext;
        else
            allspecials = sp->gnext;
        if (sp->gnext)
            sp->gnext->gprev = sp->gprev;
        /* The queue record reuses the special's memory (same size class
         * of malloc is not guaranteed, so a fresh one). */
        struct finq *q = malloc(sizeof *q);
        if (!q)
            rt_throw("out of memory queueing a finalizer");
        q->obj = sp->obj;
        q->fn = sp->fn;
        q->next = NULL;
        free(sp);
        rtlock_lock(&finlock);
        if (finq_tail)
            finq_tail->next = q;
        else
            finq_head = q;
        finq_tail = q;
        rtlock_unlock(&finlock);
        atomic_store_explicit(&fin_queued, true, memory_order_release);
    }
    rtlock_unlock(&speciallock);
}

void fin_wake(void)
{
    if (atomic_load_explicit(&fin_started, memory_order_acquire) &&
        atomic_exchange_explicit(&fin_queued, false, memory_order_acq_rel))
        semrelease(&fin_sema);
}

/* Take one queued finalizer and run it; false when the queue is empty.
 * noinline: once it returns, no callee-saved register of the loop holds
 * the object (a park would save it where the collector looks). */
__attribute__((noinline)) static bool run_one(void)
{
    rtlock_lock(&finlock);
    struct finq *q = finq_head;
    if (q) {
        finq_head = q->next;
        if (!finq_head)
            finq_tail = NULL;
    }
    rtlock_unlock(&finlock);
    if (!q)
        return false;
    void *obj = (void *)q->obj;
    void (*fn)(void *) = q->fn;
    free(q);
    /* Out of the queue (a root) into this stack, which is a root while a
     * finalizer runs: the finalizer is user code. */
    g_t *gp = getg();
    gp->sysscan = true;
    if (gc_marking())
        gc_shade((uintptr_t)obj);
    fn(obj);
    gp->sysscan = false;
    return true;
}

/* Between finalizers the goroutine's stack is not scanned: its dead
 * frames and unwritten slots hold the objects it finalized. */
static void finalizer_goroutine(void *unused)
{
    (void)unused;
    for (;;) {
        if (run_one())
            continue;
        semacquire(&fin_sema, WR_FINALIZER_WAIT);
    }
}

void fin_start(void)
{
    int err = newproc(finalizer_goroutine, NULL, 0, "runtime/finalizer", NULL, true, NULL, NULL);
    if (err)
        rt_throw("cannot start the finalizer goroutine: error %d", err);
    atomic_store_explicit(&fin_started, true, memory_order_release);
}
