/*
 * malloc.h - the heap: size classes, spans, mcache/mcentral/mheap, sweeping
 * and the scavenger (malloc.c, mheap.c, mcentral.c, sweep.c, scavenge.c,
 * mstats.c).
 *
 * Memory comes in 8 KiB pages from arenas of 64 MiB, reserved when the heap
 * first needs them.  A span is a run of pages: free (owned by the page
 * allocator), or in use holding either one large object or the objects of
 * one size class.  Every page of an arena maps to its span in O(1)
 * (heaparena.spans), which finds the span and the object base for any
 * interior pointer.
 *
 * Small objects come from the P's mcache, which holds one span per span
 * class (size class x scan/noscan) and takes the next free slot from a
 * 64-bit cache of the span's allocation bits with no lock and no atomic
 * read-modify-write.  An exhausted span goes back to its mcentral, which
 * hands out another (sweeping it first if needed) or grows one from the
 * mheap.  Large objects are spans of their own, straight from the mheap.
 *
 * Sweeping follows Go's sweepgen protocol.  mheap.sweepgen advances by 2
 * at every cycle flip (world stopped); a span's sweepgen is
 *     h - 2  it needs sweeping,
 *     h - 1  it is being swept,
 *     h      it is swept and ready.
 * Every mcache is flushed while the world is stopped at a flip, so no
 * cached span is ever unswept.  Sweeping a span frees each object whose
 * mark bit is clear (the mark bits become the allocation bits) and returns
 * a wholly free span to the heap.  Until the collector lands, the mark bits
 * are set by hand (testing.h).
 *
 * Lock order: the shared cache lock of threads without a P (foreign_lock,
 * malloc.c), sched.lock, mcentral.lock, mheap.lock, then the leaf locks
 * (fixalloc, sweep buffers).  None is held across a park; all are
 * rtlocks.  Nothing that holds a heap lock may ready a goroutine (that
 * can take sched.lock); a flip or an mcache flush never runs under
 * sched.lock.
 */
#ifndef GORT_RUNTIME_MALLOC_H
#define GORT_RUNTIME_MALLOC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gort/gort.h"
#include "lock.h"

#define PAGE_SHIFT 13
#define PAGE_SIZE ((uintptr_t)1 << PAGE_SHIFT)
#define MAX_SMALL_SIZE 32768
#define NUM_CLASSES 72                    /* class 0 is "large" */
#define NUM_SPC (NUM_CLASSES * 2)         /* span class = class << 1 | noscan */
#define TINY_SIZE 16
#define ARENA_SHIFT 26
#define ARENA_BYTES ((uintptr_t)1 << ARENA_SHIFT)
#define ARENA_PAGES (ARENA_BYTES >> PAGE_SHIFT)
#define ARENA_L1_ENTRIES ((size_t)1 << (47 - ARENA_SHIFT))  /* user half of x86-64 */
#define MAX_SPAN_OBJECTS 1024             /* 8 KiB of 8-byte objects */
/* The scavenger's unit of release. */
#define SCAV_CHUNK_PAGES 8                /* 64 KiB */

/* ------------------------------------------------------------------ */
/* Size classes (sizeclasses.c)                                        */

struct sizeclass {
    uint32_t size;       /* object bytes */
    uint16_t npages;     /* pages per span */
    uint16_t nobj;       /* objects per span */
};
extern const struct sizeclass class_info[NUM_CLASSES];
extern uint32_t class_divmul[NUM_CLASSES];   /* ceil(2^32 / size) */

void sizeclasses_init(void);
/* The smallest class whose objects hold size bytes (1 <= size <= 32768). */
static inline uint8_t size_to_class(size_t size);
/* Object index of byte offset off in a span of class c. */
static inline uint32_t class_objindex(uint8_t c, uintptr_t off)
{
    return (uint32_t)(((uint64_t)off * class_divmul[c]) >> 32);
}

extern uint8_t size_to_class8[1024 / 8 + 1];
extern uint8_t size_to_class128[(MAX_SMALL_SIZE - 1024) / 128 + 1];

static inline uint8_t size_to_class(size_t size)
{
    if (size <= 1024)
        return size_to_class8[(size + 7) >> 3];
    return size_to_class128[(size - 1024 + 127) >> 7];
}

/* ------------------------------------------------------------------ */
/* Fixed-size allocators for runtime metadata, outside the GC heap.     */

typedef struct fixalloc {
    size_t size;
    void *list;             /* freed blocks */
    char *chunk, *chunkend;
    _Atomic uint64_t *sys;  /* the MemStats field its chunks count in */
    _Atomic uint64_t inuse; /* bytes handed out and not freed */
    rtlock lock;
} fixalloc;

void fixalloc_init(fixalloc *f, size_t size, _Atomic uint64_t *sys);
void *fixalloc_alloc(fixalloc *f);    /* zeroed */
void fixalloc_free(fixalloc *f, void *p);

/* ------------------------------------------------------------------ */
/* Spans                                                               */

enum {
    MSPAN_DEAD = 0,      /* struct unused (on the fixalloc list) */
    MSPAN_FREE = 1,      /* pages owned by the page allocator */
    MSPAN_INUSE = 2,     /* heap objects */
};

struct spanlist;

typedef struct mspan {
    uintptr_t base;                /* first byte */
    uintptr_t npages;
    /* List membership: an mcentral list, or the heap's unscavenged list
     * when free. */
    struct mspan *next, *prev;
    struct spanlist *list;
    /* In-use small-object spans. */
    uint64_t alloccache;           /* ~allocbits from freeindex: 1 = free */
    uint16_t freeindex;            /* slots below are allocated */
    uint16_t nelems;
    _Atomic uint16_t alloccount;   /* objects allocated */
    uint8_t spc;                   /* span class */
    uint8_t needzero;              /* freed objects may hold old bytes */
    _Atomic uint8_t state;         /* MSPAN_* */
    bool scavlisted;               /* free: on mheap.unscav */
    uint16_t treepri;              /* free: treap priority */
    _Atomic uint32_t sweepgen;
    uintptr_t elemsize;
    uintptr_t limit;               /* end of the last object */
    uint8_t *allocbits;            /* 1 = allocated (from freeindex on) */
    uint8_t *gcmarkbits;           /* 1 = marked this cycle */
    /* Free spans: the page allocator's treap, keyed by (npages, base). */
    struct mspan *tleft, *tright, *tparent;
    int64_t unusedsince;           /* free: when it was last freed */
    struct special *specials;      /* finalizers of its objects (mfinal.c) */
} mspan;

typedef struct spanlist {
    mspan *first, *last;
} spanlist;

void spanlist_insert(spanlist *l, mspan *s);
void spanlist_remove(spanlist *l, mspan *s);

static inline uint8_t spc_class(uint8_t spc) { return spc >> 1; }
static inline bool spc_noscan(uint8_t spc) { return spc & 1; }

/* Set the mark bit of object idx of s; false if it was set.  Markers
 * race for the byte: the one that sets the bit owns the object.  Relaxed:
 * the bit claims, it publishes nothing. */
static inline bool span_setmarkbit(mspan *s, uint32_t idx)
{
    uint8_t bit = (uint8_t)(1u << (idx % 8));
    if (__atomic_load_n(&s->gcmarkbits[idx / 8], __ATOMIC_RELAXED) & bit)
        return false;
    return !(__atomic_fetch_or(&s->gcmarkbits[idx / 8], bit, __ATOMIC_RELAXED) & bit);
}

/* Object index of the object at base in s. */
static inline uint32_t span_objindex(mspan *s, uintptr_t base)
{
    return spc_class(s->spc) ? class_objindex(spc_class(s->spc), base - s->base) : 0;
}

/* Set the mark bit of the object at base in s; false if it was set. */
static inline bool span_setmark(mspan *s, uintptr_t base)
{
    return span_setmarkbit(s, span_objindex(s, base));
}

/* ------------------------------------------------------------------ */
/* Per-arena metadata                                                  */

typedef struct heaparena {
    /* One bit per 8-byte word of the arena: the word may hold a heap
     * pointer (scan spans only).  For the collector.  First, so that its
     * pages line up with the record's (the scavenger releases them). */
    uint64_t ptrbits[ARENA_BYTES / 8 / 64];
    mspan *spans[ARENA_PAGES];             /* every page of an in-use span;
                                              first and last of a free one */
    uint64_t released[ARENA_PAGES / 64];   /* page returned to the OS */
    uint64_t dirty[ARENA_PAGES / 64];      /* page may hold non-zero bytes */
} heaparena;

extern heaparena **arena_index;            /* ARENA_L1_ENTRIES entries */

static inline heaparena *arena_of(uintptr_t p)
{
    uintptr_t i = p >> ARENA_SHIFT;
    if (i >= ARENA_L1_ENTRIES)
        return NULL;
    return __atomic_load_n(&arena_index[i], __ATOMIC_ACQUIRE);
}

/* The span holding p if p is inside an in-use span, else NULL. */
static inline mspan *span_of_heap(uintptr_t p)
{
    heaparena *ha = arena_of(p);
    if (!ha)
        return NULL;
    mspan *s = __atomic_load_n(&ha->spans[(p & (ARENA_BYTES - 1)) >> PAGE_SHIFT], __ATOMIC_ACQUIRE);
    if (!s || atomic_load_explicit(&s->state, memory_order_acquire) != MSPAN_INUSE ||
        p < s->base || p >= s->base + s->npages * PAGE_SIZE)
        return NULL;
    return s;
}

/* ------------------------------------------------------------------ */
/* mcache, mcentral, mheap                                             */

typedef struct mcache {
    mspan *alloc[NUM_SPC];
    uintptr_t tiny;                /* current tiny block, 0 if none */
    uintptr_t tinyoffset;
    /* Statistics, written only by the owner (relaxed atomics so that
     * gort_read_memstats may sum them at any time). */
    _Atomic uint64_t nmalloc[NUM_CLASSES];   /* objects; [0]: large */
    _Atomic uint64_t largebytes;             /* bytes of large objects */
    _Atomic uint64_t tinyallocs;             /* allocations into tiny blocks */
} mcache;

typedef struct mcentral {
    rtlock lock;
    uint8_t spc;
    /* Indexed by sweepgen/2 % 2: [h/2%2] holds swept spans, the other
     * unswept ones (the roles swap at each flip). */
    spanlist partial[2];
    spanlist full[2];
} __attribute__((aligned(64))) mcentral;

typedef struct mheap {
    rtlock lock;
    _Atomic uint32_t sweepgen;
    _Atomic uint32_t sweepdone;    /* every span swept this cycle */
    mspan *free_root;              /* treap of free spans */
    spanlist unscav;               /* free spans that may hold unreleased pages */
    uintptr_t arena_hint;          /* where the next arena is asked for */
    uintptr_t cur, curend;         /* unused part of the newest arena(s) */
    mcentral central[NUM_SPC];
    fixalloc spanalloc;
    fixalloc cachealloc;
} mheap;

extern mheap mheap_;

/* Sweep and heap statistics kept outside the mcaches (mstats.c). */
struct heapstats {
    _Atomic uint64_t heap_sys;        /* bytes of arenas given to the heap */
    _Atomic uint64_t heap_inuse;      /* bytes in in-use spans */
    _Atomic uint64_t heap_released;   /* free bytes returned to the OS */
    _Atomic uint64_t nfree[NUM_CLASSES];  /* objects freed; [0]: large */
    _Atomic uint64_t largefreebytes;
    _Atomic uint64_t mspan_sys, mcache_sys, gc_sys, other_sys;
    _Atomic uint64_t scav_released_total;  /* bytes released, ever */
    _Atomic uint64_t scav_cycles;          /* periodic passes */
};
extern struct heapstats heapstats;

void mallocinit(void);
void mheap_init(void);
extern uint64_t heap_max_bytes;           /* no allocation can be larger */
/* Number of free runs in the page allocator, and their pages. */
size_t heap_free_runs(uintptr_t *pages);
/* The P's mcache (proc.c calls these as Ps come and go). */
mcache *mcache_new(void);
void mcache_release_all(mcache *c);        /* return every cached span */
/* Lock the shared cache of threads without a P, flushing it first. */
void mcache_foreign_lock(void);
void mcache_foreign_unlock(void);
mcache *mcache_foreign(void);

mspan *mheap_alloc(uintptr_t npages, uint8_t spc);  /* NULL: out of memory */
void mheap_free(mspan *s);                 /* an in-use span back to the heap */
/* Swept, empty spans back to the heap, taking each lock once per 32. */
void mheap_free_many(mspan *const *spans, size_t n);

uint8_t *gcbits_alloc(uint16_t nelems);
void gcbits_free(uint8_t *bits, uint16_t nelems);
/* Release free pages: at most nbytes (SIZE_MAX: all), only pages of spans
 * free since before `olderthan` (INT64_MAX: any).  Returns bytes released. */
uint64_t mheap_scavenge(uint64_t nbytes, int64_t olderthan);

mspan *mcentral_cachespan(mcentral *c);
void mcentral_uncachespan(mcentral *c, mspan *s);

/* Sweeping (sweep.c).  Every in-use span is in one of two buffers: the
 * swept one, [h/2 % 2], and the unswept one, which sweep_spans drains. */
void sweepbuf_push_swept(mspan *s);
/* Sweep s, which the caller owns (sweepgen moved from h-2 to h-1).  A
 * small span with nothing left is freed unless preserve.  Returns true if
 * s went back to the heap.  The caller handles mcentral lists. */
bool sweep_span(mspan *s, bool preserve);
/* Sweep up to max (<= SWEEP_BATCH) spans, freeing those emptied in one
 * go; pages freed, or -1 when nothing was left to sweep. */
enum { SWEEP_BATCH = 16 };
intptr_t sweep_spans(int max);
void sweep_finish(void);                     /* sweep everything now */
void bgsweep_start(void);
void bgsweep_wake(void);
/* Count the caller as a sweeper while it sweeps a span it took itself. */
void sweeper_enter(void);
void sweeper_exit(void);
/* A cycle, with the world stopped: sweep termination finishes the last
 * cycle's sweep and flushes every mcache, leaving the shared cache of
 * threads without a P locked (they are not stopped); the flip, at mark
 * termination, advances sweepgen and unlocks it. */
void heap_sweepterm_stw(void);
void heap_flip_stw(void);
/* Sweep pages until npages have been freed or nothing is left. */
void sweep_reclaim(uintptr_t npages);

/* Scavenger (scavenge.c). */
void scavenger_start(void);
void scavenger_wake(void);                    /* sweep done, sysmon */
void scavenger_wake_freed(void);              /* a sweep freed a span */
void scavenger_periodic(int64_t now);         /* sysmon */
int64_t scavenger_period(void);
uint64_t heap_retained(void);

/* Object lookup: base of the object containing p, or 0 when p is not in
 * an allocated heap object.  *span and *size optional. */
uintptr_t heap_object_base(uintptr_t p, mspan **span, uintptr_t *size);
bool heap_ptrbit(uintptr_t addr);

/* The collector (gc.c). */
void gc_read_stats(gort_memstats *ms);
uint64_t gc_next_goal(void);              /* the heap goal; UINT64_MAX: none */
/* Bytes the heap may retain (heap_sys - heap_released) under the memory
 * limit; UINT64_MAX without one. */
uint64_t gc_limit_retained(void);
/* Heap bytes counted live for the pacer: marked by the last cycle, plus
 * the free slots of cached spans and the large objects since.  delta > 0
 * may start a cycle: call it holding no heap lock. */
void gc_live_add(int64_t delta);
/* Allocation while marking (malloc.c): mark the new object at p black;
 * assist before allocating size bytes. */
void gc_mark_new(uintptr_t p, uintptr_t size);
void gc_assist_alloc(uintptr_t size);
/* Hand cycles in tests exclude the collector's. */
void gc_cycles_lock(void);
void gc_cycles_unlock(void);
/* Sysmon, every pass: start the forced cycle if none ran for the period. */
void gc_forcegc_check(int64_t now);
/* The collector's goroutines (controller, finalizers), started with the
 * heap's others. */
void gc_start_goroutines(void);

/* Finalizers (mfinal.c). */
struct special {
    struct special *next;          /* the span's, by object */
    struct special *gnext, *gprev; /* every special */
    uintptr_t obj;
    void (*fn)(void *obj);
};
/* Sweep: queue the finalizers of s's unmarked objects and mark those
 * objects (they live one more cycle).  s is being swept. */
void fin_sweep_span(mspan *s);
/* Mark: scan_obj(base) for every object with a finalizer (its contents,
 * not itself); shade(obj) for every queued one. */
void fin_mark_roots(void (*scan_obj)(uintptr_t base), void (*shade)(uintptr_t v));
/* Ready the finalizer goroutine if sweeping queued work (no heap locks). */
void fin_wake(void);
void fin_start(void);


#endif
