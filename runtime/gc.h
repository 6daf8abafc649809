/*
 * gc.h - the collector's interface to the rest of the runtime (gc.c).
 */
#ifndef GORT_RUNTIME_GC_H
#define GORT_RUNTIME_GC_H

#include <stdbool.h>
#include <stdint.h>

#include "gort/gort.h"

/* The collector is marking: the write barrier is on, new objects are
 * black, and allocations assist.  Relaxed: it changes only while the
 * world is stopped. */
static inline bool gc_marking(void)
{
    return __atomic_load_n(&gort__writebarrier, __ATOMIC_RELAXED) != 0;
}

/* Grey the heap object v points into, if any (v may be any word).  Only
 * while marking; any thread. */
void gc_shade(uintptr_t v);
/* gc_shade every aligned word of [lo, hi). */
void gc_shade_range(uintptr_t lo, uintptr_t hi);

struct p;
struct g;
/* The scheduler, while the collector marks: the mark worker pp should run
 * now (made runnable), or NULL.  idle: pp has nothing else to run. */
struct g *gc_findworker(struct p *pp, bool idle);
/* The collector marks and pp has mark work its worker could do (grey
 * objects in its own buffers only it drains): a P handed off must not
 * be parked. */
bool gc_p_has_work(struct p *pp);
/* pp's owner is about to idle it: its grey objects go to the global list,
 * where any worker or the collector finds them. */
void gc_p_idle(struct p *pp);
/* pp's owner, at a safe point or in the scheduler: if the collector asked
 * (gcflushreq), pp's grey objects go to the global list.  True if it had
 * asked. */
bool gc_p_flushreq(struct p *pp);

/* At a safe point of a running goroutine that a mark worker asked to scan
 * its own stack (gcscanreq): scan it now. */
void gc_selfscan(struct g *gp);

/* gort_gc's body, called by it (arch/amd64.S) with the caller's
 * callee-saved registers pushed at regs. */
void gc_user_entry(void *arg, uintptr_t *regs);

/* Pools (pool.c).  The collector calls pool_gc_cleanup_stw with the world
 * stopped at the start of every cycle (primaries become victims, old
 * victims are dropped), then pool_gc_scan once while marking to shade
 * every object the pools hold.  Objects put while marking are shaded by
 * gort_pool_put itself. */
void pool_gc_cleanup_stw(void);
void pool_gc_scan(void (*shade)(uintptr_t v));

/* Tell the observer (gort_set_observer) about a scavenger pass that
 * released bytes (num: the scvgN number, -1 forced, 0 background). */
void gc_observe_scavenge(gort_scav_kind kind, int64_t num, uint64_t released);

#endif
