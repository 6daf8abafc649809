/*
 * timers.h - per-P timer heaps (see time.c).
 */
#ifndef GORT_RUNTIME_TIMERS_H
#define GORT_RUNTIME_TIMERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lock.h"

struct p;

/* A timer fires f(arg, seq) at when, on whichever M runs its P's timers.
 * f runs on g0 without the heap's lock; it must not block. */
typedef struct timer {
    int64_t when;
    int64_t period;               /* > 0: re-arm every period ns */
    void (*f)(void *arg, uintptr_t seq);
    void *arg;
    uintptr_t seq;
    struct p *_Atomic pp;         /* heap it is in, NULL if none */
    int32_t idx;                  /* index in pp's heap */
} timer;

struct ptimers {
    rtlock lock;                  /* protects heap and n */
    timer **heap;                 /* 4-ary min-heap on when */
    int32_t n, cap;
    _Atomic int64_t first;        /* when of heap[0], 0 if empty */
};

int64_t nanotime(void);

/* Arm t (t->when set) on the current P, or on P 0 when called without one. */
void addtimer(timer *t);
/* Disarm t.  True if it was armed and will not fire. */
bool deltimer(timer *t);
/* Run the expired timers of pp.  Returns the when of its next timer (0 if
 * none) and sets *ran if any timer ran. */
int64_t checktimers(struct p *pp, int64_t now, bool *ran);
/* Earliest timer over every P, 0 if none. */
int64_t timesleepuntil(void);
/* Move every timer of src to dst (world stopped). */
void movetimers(struct p *dst, struct p *src);
int32_t timerslen(struct p *pp);

#endif
