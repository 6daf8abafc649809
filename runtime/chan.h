/*
 * chan.h - channels and the parts of them select shares (see chan.c).
 */
#ifndef GORT_RUNTIME_CHAN_H
#define GORT_RUNTIME_CHAN_H

#include <gort/gort.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lock.h"
#include "gc.h"
#include "proc.h"

/* A goroutine waiting on a channel: in the channel's send or receive
 * queue, pointing at the element to copy from or into. */
typedef struct sudog {
    g_t *g;
    struct sudog *next, *prev;    /* queue links (under c->lock) */
    void *elem;                   /* the waiter's element (its memory) */
    struct gort_chan *c;
    struct sudog *waitlink;       /* the select's other sudogs (G only) */
    uint64_t seq;                 /* claim token, when isselect */
    int32_t caseidx;              /* select case, or -1 */
    bool isselect;                /* a waker must claim the G first */
    bool success;                 /* woken by a transfer (false: by close) */
} sudog;

typedef struct waitq {
    sudog *_Atomic first;         /* read without the lock by fast paths */
    sudog *last;
} waitq;

struct gort_chan {
    rtlock lock;                  /* protects every field below but elemsize,
                                     dataqsiz, buf and elemtype (constant) */
    _Atomic size_t qcount;        /* elements in buf; read unlocked by len */
    size_t dataqsiz;              /* buffer slots */
    char *buf;
    uint32_t elemsize;
    _Atomic bool closed;          /* read unlocked by the try fast paths */
    const gort_type *elemtype;    /* NULL for pointer-free elements */
    size_t sendx, recvx;          /* ring indexes */
    waitq recvq, sendq;
};

/* Largest element size, as Go's compiler limit. */
#define CHAN_MAX_ELEM (64 * 1024)

sudog *acquiresudog(void);
void releasesudog(sudog *sg);

void enqueue(waitq *q, sudog *sg);
/* The first waiter that may be woken (claimed, for select waiters). */
sudog *dequeue(waitq *q);
/* Remove sg if it is still queued. */
void dequeue_sudog(waitq *q, sudog *sg);

/* Move one element into or out of c's buffer (c locked); false when it
 * is full or empty. */
bool chan_bufsend(struct gort_chan *c, const void *ep);
bool chan_bufrecv(struct gort_chan *c, void *ep);

/* Complete a transfer with a waiter taken from c's queue and wake it.  c is
 * locked; these unlock it. */
void chan_send_to(struct gort_chan *c, sudog *sg, const void *ep);
void chan_recv_from(struct gort_chan *c, sudog *sg, void *ep);

/* Copy one element; nothing for a NULL dst (a receive that discards).
 * Elements of typed channels may be heap pointers moving between
 * goroutines (through the buffer, or straight into a waiter's stack that
 * the collector may have scanned already): while it marks, both the old
 * and the new value are greyed, as GORT_STORE does. */
static inline void copyelem(struct gort_chan *c, void *dst, const void *src)
{
    if (__builtin_expect(gc_marking(), 0) && c->elemtype && c->elemsize >= 8) {
        if (dst)
            gc_shade_range((uintptr_t)dst, (uintptr_t)dst + c->elemsize);
        gc_shade_range((uintptr_t)src, (uintptr_t)src + c->elemsize);
    }
    if (!dst)
        return;
    /* Word-sized elements are the common case: one move, no call. */
    if (c->elemsize == 8)
        memcpy(dst, src, 8);
    else if (c->elemsize)
        memcpy(dst, src, c->elemsize);
}

/* A buffer slot that has been received from.  Only slots that may hold
 * pointers need clearing: the collector scans typed buffers. */
static inline void clearslot(struct gort_chan *c, void *slot)
{
    if (c->elemtype)
        memset(slot, 0, c->elemsize);
}

static inline char *chanbuf(struct gort_chan *c, size_t i)
{
    return c->buf + i * c->elemsize;
}

/* Start a claimable wait: returns its seq, armed in gp->waitclaim. */
uint64_t wait_begin_claimable(g_t *gp);
/* Timer function that ends the wait seq of g arg, if nobody else has. */
void wait_timeout_fire(void *arg, uintptr_t seq);

#endif
