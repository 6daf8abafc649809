/*
 * gc.c - the collector: concurrent tri-colour mark-sweep.
 *
 * A cycle, run by the controller goroutine when the heap reaches its
 * trigger (or by gort_gc's caller, or forcegc's):
 *
 *  1. Sweep termination, world stopped: the last cycle's sweep is finished
 *     (the controller sweeps what is left before it stops the world), the
 *     mcaches are flushed, pools turn their objects into victims, and the
 *     write barrier goes on.  From here new objects are allocated black.
 *  2. Concurrent mark.  The roots become jobs: the writable segments of
 *     every loaded object, the registered roots, the finalizer records, the
 *     pools, and one job per goroutine that existed at sweep termination.
 *     A goroutine's stack is scanned while it is stopped at a safe point
 *     (parked, runnable, or in a system call; a running one is asked to
 *     yield), one goroutine at a time, once: goroutines started later are
 *     black.  Grey objects go into per-P double work buffers that spill
 *     into a global lock-free list.  Each P has a mark worker goroutine that
 *     the scheduler runs as a dedicated, fractional or idle worker, 25 % of
 *     GOMAXPROCS in all, and allocating goroutines assist in proportion to
 *     what they allocate.  An assist that finds nothing to scan parks until
 *     the workers' scan work pays its debt or the mark ends, so the heap
 *     cannot outgrow the mark.
 *  3. Mark termination, world stopped, once the workers find nothing: any
 *     grey object still in a P's buffers sends the world back to marking
 *     (twice at most; then it is drained right there).  Then, with
 *     GODEBUG=gccheckmark=1, a full re-mark from the roots verifies that
 *     nothing reachable was left white.  The barrier goes off and the heap
 *     flips to sweeping (sweep.c).
 *  4. Concurrent sweep (sweep.c): the background sweeper and allocators.
 *
 * The write barrier (GORT_STORE, gort_wb_memmove) shades both the value a
 * store overwrites and the value it stores.  With allocate-black and
 * runtime hand-offs shaded too (channel elements, goroutine arguments,
 * pooled objects), no stack is ever scanned twice.
 *
 * Scanning is conservative for stacks, saved registers, globals and
 * gort_alloc objects (every aligned word that points anywhere into an
 * allocated object keeps it), precise for typed objects (their pointer
 * bits), and skips noscan objects.  References held only in malloc'd
 * memory, thread-local variables or threads that are not goroutines are
 * invisible unless registered as roots.
 *
 * Pacing: a cycle's goal is what the last one marked times 1 + GOGC/100,
 * 4 MiB at least, capped by the memory limit; the trigger sits in the
 * runway between the last live heap and the goal, where feedback from
 * each cycle (how far past the trigger the heap grew while marking, and
 * how much CPU marking took against its 25 % + assists target) puts it.
 */
#include <errno.h>
#include <link.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "debugvars.h"
#include "gc.h"
#include "malloc.h"
#include "panic.h"
#include "print.h"
#include "group.h"
#include "proc.h"
#include "sema.h"

/* The collector reads other goroutines' stacks, every global and objects
 * that mutators write: the sanitizers must not instrument those reads
 * (ASan poisons redzones between globals; TSan would see every read as a
 * race).  The mutators' side of each race is benign by design: a stale
 * read finds at worst an object the barrier or allocate-black already
 * covers. */
#if GORT_ASAN || GORT_TSAN
#define NO_SANITIZE __attribute__((no_sanitize("address", "thread", "undefined")))
#else
#define NO_SANITIZE
#endif

#if GORT_ASAN
/* ASan's detect_stack_use_after_return moves address-taken locals to
 * "fake stack" frames outside the goroutine stacks the collector scans:
 * keep it off in ASan builds (weak, so a program can still choose). */
__attribute__((weak, used)) const char *__asan_default_options(void)
{
    return "detect_stack_use_after_return=0";
}
#endif

/* Large objects are scanned in pieces of this size ("oblets"), so that
 * one huge array is shared among workers and assists stay short. */
#define OBLET_BYTES ((uintptr_t)8 << 10)
#define DRAIN_CHECK_BYTES ((int64_t)8 << 10)
#define MIN_HEAP_GOAL ((uint64_t)4 << 20)
#define GOAL_UTILIZATION 0.25        /* background mark workers */
#define RAGGED_WAIT_NS (2 * GORT_MS)  /* ragged_flush: how long Ps may take */
#define RAGGED_POLL_NS (20 * GORT_US)
#define FORCEGC_PERIOD (120 * GORT_S)

enum { MODE_DEDICATED = 1, MODE_FRACTIONAL, MODE_IDLE, MODE_ASSIST, MODE_STW };

/* ------------------------------------------------------------------ */
/* State                                                                */

uint32_t gort__writebarrier;          /* marking: barrier, black allocation, assists */

static struct {
    _Atomic uint32_t cycle;           /* cycles started */
    _Atomic bool blacken;             /* mark workers may run (concurrent mark) */
    int64_t markstart;                /* nanotime at the end of sweep termination */
    /* Root jobs: [0] segments, [1] registered roots, [2] finalizers,
     * [3] pools, [4 + i] allgs[i] for i < nstackjobs. */
    _Atomic uint32_t rootnext, rootdone;
    uint32_t nroots;
    /* Workers. */
    _Atomic int32_t dedicated_left;
    double fractional_goal;           /* per P, share of wall time */
    _Atomic int64_t dedicated_ns, fractional_ns, idle_ns, assist_ns;
    /* Completion.  nactive: drains under way (workers, assists, the
     * controller), which may hold grey objects no one else can see. */
    _Atomic int32_t nactive;
    _Atomic bool markdone_signalled;
    _Atomic uint32_t markdone_sema;
    /* Assists: scan bytes owed per byte allocated; credit workers earned. */
    _Atomic double assist_ratio;
    _Atomic int64_t bgcredit;
    /* Totals of P-less threads (under foreign_lock) and of the STW phases. */
    int64_t stack_bytes, global_bytes;
    _Atomic int64_t stack_bytes_a, global_bytes_a;
} work;

static rtlock foreign_gcw_lock;
static struct gcwork foreign_gcw;
static _Atomic int64_t foreign_marked;

/* Pacer. */
static struct {
    rtlock lock;
    _Atomic int32_t percent;          /* GOGC; -1 off */
    _Atomic int64_t memlimit;         /* GOMEMLIMIT; INT64_MAX none */
    _Atomic uint64_t trigger;         /* heap_live that starts a cycle */
    _Atomic uint64_t goal;            /* heap goal; UINT64_MAX none */
    _Atomic uint64_t limit_retained;  /* heap bytes retained allowed by the limit */
    _Atomic uint64_t nonheap_sys;     /* runtime memory outside the heap, last cycle */
    _Atomic bool limit_bound;         /* the memory limit lowered the goal */
    uint64_t marked;                  /* live after the last cycle */
    double trigger_frac;              /* trigger position in the runway */
} pacer = {.percent = 100, .memlimit = INT64_MAX, .trigger = MIN_HEAP_GOAL * 7 / 8,
           .goal = MIN_HEAP_GOAL, .limit_retained = UINT64_MAX, .trigger_frac = 0.875};

static _Atomic uint64_t heap_live;
static _Atomic bool gc_kicked;           /* the controller was asked for a cycle */
static _Atomic uint32_t gcctl_sema;
static _Atomic bool forcegc_pending;
static _Atomic int64_t last_gc_nano;      /* nanotime of the last cycle's end */
static _Atomic bool goroutines_started;

/* Checkmark. */
static bool checkmarking;

/* ------------------------------------------------------------------ */
/* Registered roots                                                     */

struct root {
    uintptr_t addr, len;
};

static rtlock rootlock;
static struct root *roots;
static size_t nroots, caproots;

void gort_root_add(void *addr, size_t len)
{
    if (!addr || len == 0)
        return;
    rtlock_lock(&rootlock);
    if (nroots == caproots) {
        size_t cap = caproots ? caproots * 2 : 16;
        struct root *r = realloc(roots, cap * sizeof *r);
        if (!r)
            rt_throw("out of memory registering a root");
        roots = r;
        caproots = cap;
    }
    roots[nroots++] = (struct root){(uintptr_t)addr, len};
    rtlock_unlock(&rootlock);
    /* A root added while marking may hold what the program moved there
     * from a stack already scanned. */
    if (gc_marking())
        gc_shade_range((uintptr_t)addr, (uintptr_t)addr + len);
}

void gort_root_remove(void *addr)
{
    rtlock_lock(&rootlock);
    for (size_t i = nroots; i-- > 0;) {
        if (roots[i].addr == (uintptr_t)addr) {
            if (gc_marking())
                gc_shade_range(roots[i].addr, roots[i].addr + roots[i].len);
            roots[i] = roots[--nroots];
            break;
        }
    }
    rtlock_unlock(&rootlock);
}

void gort_keepalive(const void *p)
{
    /* The pointer is used here, so it was live until now. */
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* ------------------------------------------------------------------ */
/* Work buffers                                                         */

#define WBUF_ENTRIES 254

typedef struct workbuf {
    struct workbuf *_Atomic next;    /* on a list; read racily by pops */
    uint32_t n;
    uintptr_t obj[WBUF_ENTRIES];
} workbuf;

/* A lock-free LIFO of workbufs.  The head packs the address (below 2^47
 * on every Linux target we support) with a 17-bit count of pushes, so that
 * a pop that read a stale next cannot succeed (ABA).  Buffers are never
 * unmapped, so reading a popped buffer's next is harmless. */
typedef struct {
    _Atomic uint64_t head;
} lfstack;

#define LF_ADDR_BITS 47

static inline workbuf *lf_ptr(uint64_t v)
{
    return (workbuf *)(uintptr_t)(v & (((uint64_t)1 << LF_ADDR_BITS) - 1));
}

static void lf_push(lfstack *l, workbuf *b)
{
    uint64_t old = atomic_load_explicit(&l->head, memory_order_relaxed);
    for (;;) {
        atomic_store_explicit(&b->next, lf_ptr(old), memory_order_relaxed);
        uint64_t nv = (uint64_t)(uintptr_t)b | (((old >> LF_ADDR_BITS) + 1) << LF_ADDR_BITS);
        /* Release: the buffer's entries are visible to whoever pops it. */
        if (atomic_compare_exchange_weak_explicit(&l->head, &old, nv, memory_order_release,
                                                  memory_order_relaxed))
            return;
    }
}

static workbuf *lf_pop(lfstack *l)
{
    uint64_t old = atomic_load_explicit(&l->head, memory_order_acquire);
    for (;;) {
        workbuf *b = lf_ptr(old);
        if (!b)
            return NULL;
        workbuf *next = atomic_load_explicit(&b->next, memory_order_relaxed);
        uint64_t nv = (uint64_t)(uintptr_t)next | (((old >> LF_ADDR_BITS) + 1) << LF_ADDR_BITS);
        if (atomic_compare_exchange_weak_explicit(&l->head, &old, nv, memory_order_acquire,
                                                  memory_order_acquire))
            return b;
    }
}

static inline bool lf_empty(lfstack *l)
{
    return lf_ptr(atomic_load_explicit(&l->head, memory_order_acquire)) == NULL;
}

static lfstack wfull, wempty;
static fixalloc wbufalloc;
static pthread_once_t wbuf_once = PTHREAD_ONCE_INIT;

static void wbuf_init(void)
{
    fixalloc_init(&wbufalloc, sizeof(workbuf), &heapstats.gc_sys);
}

static workbuf *getempty(void)
{
    workbuf *b = lf_pop(&wempty);
    if (b)
        return b;
    pthread_once(&wbuf_once, wbuf_init);
    b = fixalloc_alloc(&wbufalloc);
    if (!b)
        rt_throw("out of memory allocating a mark work buffer");
    return b;
}

static void putempty(workbuf *b)
{
    b->n = 0;
    lf_push(&wempty, b);
}

static void putfull(workbuf *b)
{
    lf_push(&wfull, b);
}

static workbuf *gcw_put_slow(struct gcwork *w)
{
    if (!w->w1) {
        w->w1 = getempty();
        w->w2 = getempty();
        return w->w1;
    }
    workbuf *t = w->w1;
    w->w1 = w->w2;
    w->w2 = t;
    if (w->w1->n < WBUF_ENTRIES)
        return w->w1;
    putfull(w->w1);
    w->w1 = getempty();
    return w->w1;
}

static inline void gcw_put(struct gcwork *w, uintptr_t obj)
{
    workbuf *b = w->w1;
    if (__builtin_expect(!b || b->n == WBUF_ENTRIES, 0))
        b = gcw_put_slow(w);
    b->obj[b->n++] = obj;
}

static uintptr_t gcw_tryget_slow(struct gcwork *w)
{
    if (!w->w1) {
        /* A P that never greyed anything still takes from the global
         * list (mark termination may drain on one). */
        w->w1 = getempty();
        w->w2 = getempty();
    }
    workbuf *t = w->w1;
    w->w1 = w->w2;
    w->w2 = t;
    if (w->w1->n)
        return w->w1->obj[--w->w1->n];
    workbuf *b = lf_pop(&wfull);
    if (!b)
        return 0;
    putempty(w->w1);
    w->w1 = b;
    return b->obj[--b->n];
}

static inline uintptr_t gcw_tryget(struct gcwork *w)
{
    workbuf *b = w->w1;
    if (__builtin_expect(b && b->n, 1))
        return b->obj[--b->n];
    return gcw_tryget_slow(w);
}

static inline bool gcw_empty(const struct gcwork *w)
{
    return (!w->w1 || !w->w1->n) && (!w->w2 || !w->w2->n);
}

/* Give others work when the global list is empty: the spare buffer if it
 * holds anything, else the older half of the current one (a marker deep
 * in one structure, a tree say, keeps everything in w1, and the other Ps
 * would sit idle).  An idle P is woken to take it, as Go's
 * enlistWorker does. */
static void gcw_balance(struct gcwork *w)
{
    if (!lf_empty(&wfull) || !w->w1)
        return;
    if (w->w2 && w->w2->n) {
        putfull(w->w2);
        w->w2 = getempty();
    } else if (w->w1->n > 4) {
        workbuf *b = getempty(), *a = w->w1;
        uint32_t half = a->n / 2;
        memcpy(b->obj, a->obj, half * sizeof a->obj[0]);
        memmove(a->obj, a->obj + half, (a->n - half) * sizeof a->obj[0]);
        b->n = half;
        a->n -= half;
        putfull(b);
    } else {
        return;
    }
    if (atomic_load_explicit(&work.blacken, memory_order_relaxed))
        wakep();
}

/* Everything w holds goes to the global list (world stopped, or w's
 * owner). */
static void gcw_flush(struct gcwork *w)
{
    if (w->w1 && w->w1->n) {
        putfull(w->w1);
        w->w1 = getempty();
    }
    if (w->w2 && w->w2->n) {
        putfull(w->w2);
        w->w2 = getempty();
    }
}

/* ------------------------------------------------------------------ */
/* Shading and scanning                                                 */

/* The object v points into, if v points into an allocated heap object:
 * its base, span and index.  Read racily while allocators run: a slot
 * being allocated right now may read as free, but it is allocated black. */
/* Is s in use?  An acquire that pairs with mheap_alloc's release of the
 * span's state, so that its fields are initialised for what follows.  Not
 * NO_SANITIZE, and so not inlined into find_object in the sanitizer
 * builds: TSan must see the acquire, or the instrumented reads of the
 * span that follow (span_setmarkbit) look racy with init_span. */
static inline bool span_inuse(mspan *s)
{
    return atomic_load_explicit(&s->state, memory_order_acquire) == MSPAN_INUSE;
}

NO_SANITIZE static inline uintptr_t find_object(uintptr_t v, mspan **sp, uint32_t *idxp)
{
    uintptr_t i = v >> ARENA_SHIFT;
    if (i >= ARENA_L1_ENTRIES)
        return 0;
    heaparena *ha = __atomic_load_n(&arena_index[i], __ATOMIC_ACQUIRE);
    if (!ha)
        return 0;
    mspan *s = __atomic_load_n(&ha->spans[(v & (ARENA_BYTES - 1)) >> PAGE_SHIFT], __ATOMIC_ACQUIRE);
    if (!s || !span_inuse(s) || v < s->base || v >= s->base + s->npages * PAGE_SIZE)
        return 0;
    uintptr_t base;
    uint32_t idx;
    uint8_t c = spc_class(s->spc);
    if (c == 0) {
        base = s->base;
        idx = 0;
    } else {
        if (v >= s->limit)
            return 0;
        idx = class_objindex(c, v - s->base);
        base = s->base + idx * s->elemsize;
    }
    if (idx >= s->freeindex && !((s->allocbits[idx / 8] >> (idx % 8)) & 1))
        return 0;
    *sp = s;
    *idxp = idx;
    return base;
}

static void checkmark_shade(uintptr_t v, uintptr_t from, bool report);
static void checkmark_scan_range(uintptr_t lo, uintptr_t hi, bool report);

/* Grey the object v points into. */
NO_SANITIZE static inline void shade_w(struct gcwork *w, uintptr_t v)
{
    mspan *s;
    uint32_t idx;
    uintptr_t base = find_object(v, &s, &idx);
    if (!base)
        return;
    if (__builtin_expect(checkmarking, 0)) {
        checkmark_shade(v, 0, true);
        return;
    }
    if (!span_setmarkbit(s, idx))
        return;
    w->bytes_marked += (int64_t)s->elemsize;
    if (!spc_noscan(s->spc))
        gcw_put(w, base);
}

NO_SANITIZE static void scan_range_w(struct gcwork *w, uintptr_t lo, uintptr_t hi)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    for (uintptr_t p = lo; p + 8 <= hi; p += 8)
        shade_w(w, *(const uintptr_t *)p);
}

/* Scan the words of [p, end) that the pointer bits mark. */
NO_SANITIZE static void scan_bits(struct gcwork *w, uintptr_t p, uintptr_t end)
{
    while (p < end) {
        heaparena *ha = arena_of(p);
        uintptr_t wi = (p & (ARENA_BYTES - 1)) / 8;
        uint64_t bits = __atomic_load_n(&ha->ptrbits[wi / 64], __ATOMIC_RELAXED) >> (wi % 64);
        uintptr_t chunk = (64 - wi % 64) * 8;   /* bytes this bitmap word covers from p */
        if (p + chunk > end) {
            uintptr_t nw = (end - p) / 8;
            bits &= nw >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << nw) - 1);
            chunk = end - p;
        }
        while (bits) {
            unsigned b = (unsigned)__builtin_ctzll(bits);
            shade_w(w, *(const uintptr_t *)(p + 8 * b));
            bits &= bits - 1;
        }
        p += chunk;
    }
}

/* Scan a grey work item: an object's base, or an oblet of a large one.
 * Returns the bytes scanned. */
NO_SANITIZE static uintptr_t scan_item(struct gcwork *w, uintptr_t p)
{
    mspan *s = span_of_heap(p);
    if (!s)
        rt_throw("GC: grey object %#lx is not in the heap", (unsigned long)p);
    uintptr_t base = spc_class(s->spc) ? p : s->base;
    uintptr_t end = base + s->elemsize;
    if (spc_class(s->spc) == 0 && s->elemsize > OBLET_BYTES) {
        if (p == s->base) {
            /* The first piece queues the others. */
            for (uintptr_t q = base + OBLET_BYTES; q < end; q += OBLET_BYTES)
                gcw_put(w, q);
        }
        end = p + OBLET_BYTES < end ? p + OBLET_BYTES : end;
        base = p;
    }
    scan_bits(w, base, end);
    return end - base;
}

/* The P of the calling thread, or NULL.  noinline, and so is every
 * reader of the thread's goroutine in this file: a goroutine that yields
 * may resume on another thread, and a compiler may keep the address of a
 * thread-local variable across the call that switched (TSan builds do). */
__attribute__((noinline)) static p_t *my_p(void)
{
    g_t *gp = getg();
    return gp && gp->m ? gp->m->p : NULL;
}

/* The gcwork of the calling thread: its P's; NULL for threads without
 * one (they use foreign_gcw under its lock). */
static inline struct gcwork *my_gcw(void)
{
    p_t *pp = my_p();
    return pp ? &pp->gcw : NULL;
}

__attribute__((noinline)) static g_t *my_g(void)
{
    return getg();
}

void gc_shade(uintptr_t v)
{
    struct gcwork *w = my_gcw();
    if (w) {
        shade_w(w, v);
        return;
    }
    rtlock_lock(&foreign_gcw_lock);
    shade_w(&foreign_gcw, v);
    rtlock_unlock(&foreign_gcw_lock);
}

void gc_shade_range(uintptr_t lo, uintptr_t hi)
{
    struct gcwork *w = my_gcw();
    if (w) {
        scan_range_w(w, lo, hi);
        return;
    }
    rtlock_lock(&foreign_gcw_lock);
    scan_range_w(&foreign_gcw, lo, hi);
    rtlock_unlock(&foreign_gcw_lock);
}

static void shade_cb(uintptr_t v)
{
    gc_shade(v);
}

/* The write barrier's slow path: marking is on. */
NO_SANITIZE void gort__wb_store(void *const *slot, const void *value)
{
    struct gcwork *w = my_gcw();
    if (w) {
        shade_w(w, (uintptr_t)*slot);
        shade_w(w, (uintptr_t)value);
        return;
    }
    rtlock_lock(&foreign_gcw_lock);
    shade_w(&foreign_gcw, (uintptr_t)*slot);
    shade_w(&foreign_gcw, (uintptr_t)value);
    rtlock_unlock(&foreign_gcw_lock);
}

void *gort_wb_memmove(void *dst, const void *src, size_t n)
{
    if (__builtin_expect(gc_marking(), 0) && n >= 8) {
        gc_shade_range((uintptr_t)dst, (uintptr_t)dst + n);
        gc_shade_range((uintptr_t)src, (uintptr_t)src + n);
    }
    return memmove(dst, src, n);
}

/* ------------------------------------------------------------------ */
/* Roots                                                                */

struct seg_arg {
    struct gcwork *w;
    int64_t bytes;
};

NO_SANITIZE static int scan_segments(struct dl_phdr_info *info, size_t size, void *argp)
{
    (void)size;
    struct seg_arg *a = argp;
#if GORT_ASAN || GORT_TSAN
    /* The sanitizer runtimes hold no heap references, and a lot of bss. */
    if (info->dlpi_name && (strstr(info->dlpi_name, "libtsan") || strstr(info->dlpi_name, "libasan") ||
                            strstr(info->dlpi_name, "libubsan")))
        return 0;
#endif
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (a->w)
            scan_range_w(a->w, lo, lo + ph->p_memsz);
        else
            checkmark_scan_range(lo, lo + ph->p_memsz, true);
        a->bytes += (int64_t)ph->p_memsz;
    }
    return 0;
}

/* A goroutine's references outside its stack: the start argument, what
 * its waker passed, the arguments of its deferred calls, panic values. */
static void scan_gextra(struct gcwork *w, g_t *gp)
{
    shade_w(w, (uintptr_t)gp->arg);
    shade_w(w, (uintptr_t)READ_ONCE(gp->param));
    for (pframe *f = gp->pframe; f; f = f->parent)
        for (gdefer *d = f->defers; d; d = d->link)
            shade_w(w, (uintptr_t)d->arg);
    for (gdefer *d = gp->topframe.defers; d; d = d->link)
        shade_w(w, (uintptr_t)d->arg);
    for (gort_panic_info *p = gp->panickept; p; p = p->kept)
        shade_w(w, (uintptr_t)p->value);
}

/* Scan the calling goroutine's own stack from here up: its callee-saved
 * registers are spilled into a jmp_buf first.  noinline: the jmp_buf must
 * be in a frame below the sp scanned from.  Inside gort_gc the scan starts
 * at gcentrysp, where the caller's registers are, and these registers
 * (the collector's) are not scanned. */
__attribute__((noinline)) NO_SANITIZE static int64_t scan_self(struct gcwork *w, g_t *gp)
{
    jmp_buf regs;
    setjmp(regs);
    /* The jmp_buf itself is scanned too: under ASan it may live in a
     * "fake stack" frame off the goroutine's stack. */
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t rlo = (uintptr_t)&regs, rhi = (uintptr_t)(&regs + 1);
    if (gp->gcentrysp > sp) {
        sp = gp->gcentrysp;
        rlo = rhi;
    }
    if (w) {
        scan_range_w(w, rlo, rhi);
        scan_range_w(w, sp, gp->stack.hi);
    } else {
        checkmark_scan_range(rlo, rhi, false);
        checkmark_scan_range(sp, gp->stack.hi, false);
    }
    __asm__ volatile("" : : "r"(&regs) : "memory");
    return (int64_t)(gp->stack.hi - sp);
}

/* Scan gp's stack if it is stopped at a safe point.  False if it is
 * running (the caller asks it to yield and comes back). */
NO_SANITIZE static bool scan_goroutine(struct gcwork *w, g_t *gp)
{
    if (gp == my_g()) {
        /* A runtime goroutine's own job (a mark worker, the controller)
         * skips its stack as when it is parked: its live frames are the
         * collector's, full of stale object and span addresses. */
        if (!gp->system || gp->sysscan)
            atomic_fetch_add_explicit(&work.stack_bytes_a, scan_self(w, gp), memory_order_relaxed);
        scan_gextra(w, gp);
        return true;
    }
    for (;;) {
        uint32_t st = readgstatus(gp);
        if (st & G_SCAN) {
            procyield(10);   /* a dump reads it */
            continue;
        }
        if (st == G_DEAD || st == G_IDLE)
            return true;
        if (st == G_RUNNING)
            return false;
        if (!castogscanstatus(gp, st))
            continue;
        if (gp->system && !gp->sysscan) {
            /* The runtime's own goroutines hold no heap references, but
             * their parked frames may hold stale words that would keep
             * garbage alive for good. */
            scan_gextra(w, gp);
            ungscan(gp, st);
            return true;
        }
        uintptr_t lo;
        if (st == G_SYSCALL) {
            lo = gp->syscallsp;
            for (int r = 0; r < 6; r++)
                shade_w(w, gp->syscallregs[r]);
        } else {
            /* A G that switched straight to another publishes its saved
             * sp a few instructions after its status. */
            while ((lo = (uintptr_t)__atomic_load_n(&gp->ctx_sp, __ATOMIC_ACQUIRE)) == 0)
                procyield(1);
            if (gp->gcentrysp > lo)
                lo = gp->gcentrysp;
        }
        if (lo >= gp->stack.lo && lo < gp->stack.hi) {
            scan_range_w(w, lo, gp->stack.hi);
            atomic_fetch_add_explicit(&work.stack_bytes_a, (int64_t)(gp->stack.hi - lo), memory_order_relaxed);
        }
        scan_gextra(w, gp);
        ungscan(gp, st);
        return true;
    }
}

static uint32_t nstackjobs;

void gc_selfscan(g_t *gp)
{
    if (!atomic_load_explicit(&work.blacken, memory_order_acquire))
        return;   /* a request left over from a mark that ended */
    struct gcwork *w = my_gcw();
    if (!w)
        return;
    if (!gp->system || gp->sysscan)   /* as in scan_goroutine */
        atomic_fetch_add_explicit(&work.stack_bytes_a, scan_self(w, gp), memory_order_relaxed);
    scan_gextra(w, gp);
    atomic_store_explicit(&gp->gcscangen, atomic_load_explicit(&work.cycle, memory_order_relaxed),
                          memory_order_release);
}

static g_t *allg_at(uint32_t i)
{
    rtlock_lock(&allglock);
    g_t *gp = i < allglen ? allgs[i] : NULL;
    rtlock_unlock(&allglock);
    return gp;
}

static void scan_roots_registered(struct gcwork *w)
{
    rtlock_lock(&rootlock);
    for (size_t i = 0; i < nroots; i++) {
        if (w)
            scan_range_w(w, roots[i].addr, roots[i].addr + roots[i].len);
        else
            checkmark_scan_range(roots[i].addr, roots[i].addr + roots[i].len, true);
    }
    rtlock_unlock(&rootlock);
}

static struct gcwork *fin_gcw;   /* the job's gcwork, for the callbacks */

static void fin_scan_cb(uintptr_t base)
{
    mspan *s = span_of_heap(base);
    if (!s || spc_noscan(s->spc))
        return;
    scan_bits(fin_gcw, base, base + s->elemsize);
}

static void fin_shade_cb(uintptr_t v)
{
    shade_w(fin_gcw, v);
}

static rtlock fin_job_lock;

/* Run root job i.  In the concurrent mark a running goroutine is asked to
 * yield and retried, which may move the caller to another P. */
static void markroot(uint32_t i)
{
    if (i == 0) {
        struct seg_arg a = {my_gcw(), 0};
        dl_iterate_phdr(scan_segments, &a);
        atomic_store_explicit(&work.global_bytes_a, a.bytes, memory_order_relaxed);
    } else if (i == 1) {
        scan_roots_registered(my_gcw());
    } else if (i == 2) {
        rtlock_lock(&fin_job_lock);
        fin_gcw = my_gcw();
        fin_mark_roots(fin_scan_cb, fin_shade_cb);
        rtlock_unlock(&fin_job_lock);
    } else if (i == 3) {
        pool_gc_scan(shade_cb);
    } else {
        g_t *gp = allg_at(i - 4);
        if (!gp)
            return;
        uint32_t cyc = atomic_load_explicit(&work.cycle, memory_order_relaxed);
        while (atomic_load_explicit(&gp->gcscangen, memory_order_acquire) != cyc) {
            if (scan_goroutine(my_gcw(), gp)) {
                atomic_store_explicit(&gp->gcscangen, cyc, memory_order_release);
                break;
            }
            /* Running: it scans itself at its next safe point. */
            atomic_store_explicit(&gp->gcscanreq, true, memory_order_release);
            atomic_store_explicit(&gp->preempt, true, memory_order_relaxed);
            gort_gosched();
        }
    }
}

/* Take and run one root job; false when none is left. */
static bool markroot_next(void)
{
    uint32_t n = atomic_load_explicit(&work.rootnext, memory_order_relaxed);
    if (n >= work.nroots)
        return false;
    n = atomic_fetch_add_explicit(&work.rootnext, 1, memory_order_relaxed);
    if (n >= work.nroots)
        return false;
    markroot(n);
    atomic_fetch_add_explicit(&work.rootdone, 1, memory_order_release);
    return true;
}

static inline bool roots_left(void)
{
    return atomic_load_explicit(&work.rootnext, memory_order_relaxed) < work.nroots;
}

static inline bool roots_done(void)
{
    return atomic_load_explicit(&work.rootdone, memory_order_acquire) >= work.nroots;
}

/* ------------------------------------------------------------------ */
/* Draining                                                             */

/* ------------------------------------------------------------------ */
/* The assist queue: an allocating goroutine that owes scan work and    */
/* finds none to do parks here until the workers' scan work pays for it */
/* (or the mark ends).  This is what holds the heap to its goal: the    */
/* mutator cannot allocate faster than the collector marks.             */

enum { ASSIST_FLUSH_WORK = 64 << 10 };   /* scan work a worker banks at once */

static struct {
    rtlock lock;
    g_t *head, *tail;                    /* linked through schedlink */
    _Atomic uint32_t n;
} assistq;

/* Ready the goroutines of a list linked through schedlink. */
static void ready_list(g_t *gp)
{
    while (gp) {
        g_t *next = gp->schedlink;
        gp->schedlink = NULL;
        goready_tail(gp);
        gp = next;
    }
}

/* Pay as much of gp's debt as the workers' bank holds.  True if the debt
 * is paid. */
static bool take_bgcredit(g_t *gp)
{
    int64_t bg = atomic_load_explicit(&work.bgcredit, memory_order_relaxed);
    if (bg > 0) {
        int64_t take = bg < -gp->gcassistbytes ? bg : -gp->gcassistbytes;
        atomic_fetch_sub_explicit(&work.bgcredit, take, memory_order_relaxed);
        gp->gcassistbytes += take;
    }
    return gp->gcassistbytes >= 0;
}

/* scanwork bytes scanned by a worker: pay the parked assists' debts in
 * order, wake the ones paid in full, and bank the rest. */
static void flush_bgcredit(int64_t scanwork)
{
    double ratio = atomic_load_explicit(&work.assist_ratio, memory_order_relaxed);
    int64_t credit = ratio > 0 ? (int64_t)((double)scanwork / ratio) : scanwork;
    if (atomic_load_explicit(&assistq.n, memory_order_acquire) == 0) {
        atomic_fetch_add_explicit(&work.bgcredit, credit, memory_order_relaxed);
        return;
    }
    g_t *paid = NULL, **paidtail = &paid;
    rtlock_lock(&assistq.lock);
    while (credit > 0 && assistq.head) {
        g_t *gp = assistq.head;
        if (credit + gp->gcassistbytes >= 0) {
            credit += gp->gcassistbytes;
            gp->gcassistbytes = 0;
            assistq.head = gp->schedlink;
            if (!assistq.head)
                assistq.tail = NULL;
            gp->schedlink = NULL;
            *paidtail = gp;
            paidtail = &gp->schedlink;
            atomic_fetch_sub_explicit(&assistq.n, 1, memory_order_relaxed);
        } else {
            gp->gcassistbytes += credit;
            credit = 0;
        }
    }
    if (credit > 0)
        atomic_fetch_add_explicit(&work.bgcredit, credit, memory_order_relaxed);
    rtlock_unlock(&assistq.lock);
    ready_list(paid);   /* outside the lock, which is then a leaf */
}

/* The mark is over (work.blacken is false): every parked assist goes on. */
static void assist_wake_all(void)
{
    rtlock_lock(&assistq.lock);
    g_t *gp = assistq.head;
    assistq.head = assistq.tail = NULL;
    atomic_store_explicit(&assistq.n, 0, memory_order_relaxed);
    rtlock_unlock(&assistq.lock);
    ready_list(gp);
}

static bool assist_park_unlock(g_t *gp, void *arg)
{
    (void)gp;
    (void)arg;
    rtlock_unlock(&assistq.lock);
    return true;
}

/* Park gp until its debt is paid or the mark ends.  False if neither
 * can wait: the mark already ended, or the bank covered the debt. */
static bool assist_park(g_t *gp)
{
    rtlock_lock(&assistq.lock);
    if (!atomic_load_explicit(&work.blacken, memory_order_acquire)) {
        rtlock_unlock(&assistq.lock);
        return false;
    }
    if (take_bgcredit(gp)) {
        rtlock_unlock(&assistq.lock);
        return false;
    }
    gp->schedlink = NULL;
    if (assistq.tail)
        assistq.tail->schedlink = gp;
    else
        assistq.head = gp;
    assistq.tail = gp;
    atomic_fetch_add_explicit(&assistq.n, 1, memory_order_release);
    gopark(assist_park_unlock, NULL, WR_GC_ASSIST_WAIT);
    return true;
}

/* Should a worker of this mode stop now?  t0: when it started. */
static bool drain_stop(int mode, int64_t t0)
{
    g_t *gp = my_g();
    if (mode == MODE_STW)
        return false;   /* the world is stopped for this very drain */
    if (atomic_load_explicit(&sched.gcwaiting, memory_order_relaxed))
        return true;
    if (mode == MODE_ASSIST)
        return false;
    if (atomic_load_explicit(&gp->preempt, memory_order_relaxed))
        return true;
    p_t *pp = gp->m->p;
    if (mode == MODE_IDLE)
        return !runqempty(pp) || atomic_load_explicit(&sched.runqsize, memory_order_relaxed) > 0;
    if (mode == MODE_FRACTIONAL) {
        int64_t now = gort_nanotime();
        int64_t elapsed = now - work.markstart;
        int64_t mine = atomic_load_explicit(&pp->gcfractime, memory_order_relaxed);
        return (double)(mine + (now - t0)) > 1.2 * work.fractional_goal * (double)elapsed;
    }
    return false;
}

static int64_t drain1(int mode, int64_t budget);

/* Mark until there is nothing left, the mode says stop, or (assists)
 * budget bytes are scanned.  Returns the bytes scanned.  work.nactive
 * counts the drains under way, for ragged_flush. */
static int64_t drain(int mode, int64_t budget)
{
    if (mode == MODE_STW)
        return drain1(mode, budget);
    atomic_fetch_add_explicit(&work.nactive, 1, memory_order_seq_cst);
    int64_t done = drain1(mode, budget);
    atomic_fetch_sub_explicit(&work.nactive, 1, memory_order_seq_cst);
    return done;
}

static int64_t drain1(int mode, int64_t budget)
{
    int64_t t0 = mode == MODE_FRACTIONAL ? gort_nanotime() : 0;
    int64_t done = 0;
    if (mode != MODE_ASSIST) {
        /* Not assists: a stack job may wait for its goroutine to yield. */
        while (roots_left()) {
            if (drain_stop(mode, t0))
                return done;
            markroot_next();
        }
    }
    struct gcwork *w = my_gcw();
    int n = 0;
    int64_t flushed = 0, checked = 0;
    for (;;) {
        uintptr_t obj = gcw_tryget(w);
        if (!obj) {
            /* The list may be empty while a root job still adds. */
            break;
        }
        done += (int64_t)scan_item(w, obj);
        if (mode == MODE_ASSIST && done >= budget)
            break;
        /* Every 64 objects, and after every DRAIN_CHECK_BYTES scanned:
         * a stop of the world waits for this check, and 64 oblets of a
         * large array are tens of milliseconds of scanning. */
        if (++n % 64 == 0 || done - checked >= DRAIN_CHECK_BYTES) {
            checked = done;
            gcw_balance(w);
            /* A worker pays the parked assists as it goes, not only when
             * it stops: a dedicated worker may not stop before the end. */
            if (mode != MODE_ASSIST && mode != MODE_STW && done - flushed >= ASSIST_FLUSH_WORK) {
                flush_bgcredit(done - flushed);
                flushed = done;
            }
            if (drain_stop(mode, t0))
                break;
        }
    }
    if (mode != MODE_ASSIST && mode != MODE_STW && done > flushed)
        flush_bgcredit(done - flushed);
    /* Stopped with work in hand (an assist paid up, a worker told to
     * stop): it goes where every marker can take it.  Left in this P's
     * buffers it would wait for this P's next assist or worker, and could
     * be all that is left of the mark while the others see nothing. */
    if (mode != MODE_STW && !gcw_empty(w))
        gcw_flush(w);
    return done;
}

/* Nothing left that a worker can see: tell the controller (once) to check
 * with the world stopped. */
static void maybe_markdone(void)
{
    struct gcwork *w = my_gcw();
    if (!atomic_load_explicit(&work.blacken, memory_order_acquire) || !roots_done() ||
        !lf_empty(&wfull) || (w && !gcw_empty(w)))
        return;
    if (!atomic_exchange_explicit(&work.markdone_signalled, true, memory_order_acq_rel))
        semrelease(&work.markdone_sema);
}

static inline bool work_available(p_t *pp)
{
    return roots_left() || !lf_empty(&wfull) || !gcw_empty(&pp->gcw);
}

void gc_p_idle(p_t *pp)
{
    atomic_store_explicit(&pp->gcflushreq, false, memory_order_relaxed);
    if (atomic_load_explicit(&work.blacken, memory_order_acquire))
        gcw_flush(&pp->gcw);
}

bool gc_p_flushreq(p_t *pp)
{
    if (__builtin_expect(atomic_load_explicit(&pp->gcflushreq, memory_order_relaxed), 0) &&
        atomic_exchange_explicit(&pp->gcflushreq, false, memory_order_acquire)) {
        gcw_flush(&pp->gcw);
        return true;
    }
    return false;
}

bool gc_p_has_work(p_t *pp)
{
    return atomic_load_explicit(&work.blacken, memory_order_acquire) && work_available(pp);
}

/* ------------------------------------------------------------------ */
/* Mark workers                                                         */

static bool worker_park(g_t *gp, void *arg)
{
    (void)gp;
    p_t *home = arg;
    atomic_store_explicit(&home->gcworker_ready, true, memory_order_release);
    return true;
}

static void bgmark_worker(void *arg)
{
    p_t *home = arg;
    for (;;) {
        gopark(worker_park, home, WR_GC_WORKER_IDLE);
        p_t *pp = my_p();
        int mode = pp->gcmarkmode;
        int64_t t0 = gort_nanotime();
        drain(mode, 0);
        int64_t dt = gort_nanotime() - t0;
        switch (mode) {
        case MODE_DEDICATED:
            atomic_fetch_add_explicit(&work.dedicated_ns, dt, memory_order_relaxed);
            atomic_fetch_add_explicit(&work.dedicated_left, 1, memory_order_relaxed);
            break;
        case MODE_FRACTIONAL:
            atomic_fetch_add_explicit(&work.fractional_ns, dt, memory_order_relaxed);
            atomic_fetch_add_explicit(&home->gcfractime, dt, memory_order_relaxed);
            break;
        default:
            atomic_fetch_add_explicit(&work.idle_ns, dt, memory_order_relaxed);
            break;
        }
        if (!work_available(my_p()))
            maybe_markdone();
    }
}

/* The scheduler's question while marking: should pp run its mark worker
 * now?  idle: pp has nothing else to run. */
g_t *gc_findworker(p_t *pp, bool idle)
{
    if (!atomic_load_explicit(&work.blacken, memory_order_relaxed))
        return NULL;
    g_t *gp = pp->gcworker;
    if (!gp || !atomic_load_explicit(&pp->gcworker_ready, memory_order_acquire) || !work_available(pp))
        return NULL;
    int mode;
    if (idle) {
        mode = MODE_IDLE;
    } else {
        int32_t d = atomic_load_explicit(&work.dedicated_left, memory_order_relaxed);
        while (d > 0 && !atomic_compare_exchange_weak_explicit(&work.dedicated_left, &d, d - 1,
                                                                memory_order_relaxed, memory_order_relaxed))
            ;
        if (d > 0) {
            mode = MODE_DEDICATED;
        } else {
            if (work.fractional_goal <= 0)
                return NULL;
            int64_t elapsed = gort_nanotime() - work.markstart;
            if ((double)atomic_load_explicit(&pp->gcfractime, memory_order_relaxed) >=
                work.fractional_goal * (double)elapsed)
                return NULL;
            mode = MODE_FRACTIONAL;
        }
    }
    if (!atomic_exchange_explicit(&pp->gcworker_ready, false, memory_order_acq_rel)) {
        if (mode == MODE_DEDICATED)
            atomic_fetch_add_explicit(&work.dedicated_left, 1, memory_order_relaxed);
        return NULL;
    }
    pp->gcmarkmode = (uint8_t)mode;
    casgstatus(gp, G_WAITING, G_RUNNABLE);
    return gp;
}

/* Every P up to GOMAXPROCS gets a worker (a P may come back after a
 * resize; its worker stays with it). */
static void ensure_workers(void)
{
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_acquire);
    for (int32_t i = 0; i < procs; i++) {
        p_t *pp = allp[i];
        if (!pp || pp->gcworker)
            continue;
        g_t *gp = NULL;
        if (newproc(bgmark_worker, pp, 0, "runtime/gcBgMarkWorker", NULL, true, NULL, &gp) != 0)
            rt_throw("cannot start a mark worker");
        pp->gcworker = gp;
    }
    /* A worker that has not parked yet is simply not picked this cycle:
     * waiting for it here would hold the cycle behind busy Ps. */
}

/* ------------------------------------------------------------------ */
/* Allocation while marking                                             */

void gc_mark_new(uintptr_t p, uintptr_t size)
{
    (void)size;
    mspan *s = span_of_heap(p);
    if (!span_setmarkbit(s, span_objindex(s, p)))
        return;   /* a tiny block allocated earlier this cycle */
    struct gcwork *w = my_gcw();
    if (w)
        w->bytes_marked += (int64_t)s->elemsize;
    else
        atomic_fetch_add_explicit(&foreign_marked, (int64_t)s->elemsize, memory_order_relaxed);
}

void gc_assist_alloc(uintptr_t size)
{
    g_t *gp = getg();
    if (!gp || gp == &gp->m->g0 || gp->system || gp->m->locks || !gp->m->p)
        return;
    uint32_t cyc = atomic_load_explicit(&work.cycle, memory_order_relaxed);
    if (gp->gcassistcycle != cyc) {
        gp->gcassistcycle = cyc;
        gp->gcassistbytes = 0;
    }
    gp->gcassistbytes -= (int64_t)size;
    if (gp->gcassistbytes >= 0)
        return;
retry:;
    /* Take what the workers earned first. */
    if (take_bgcredit(gp) || !atomic_load_explicit(&work.blacken, memory_order_relaxed))
        return;
    int64_t debt = -gp->gcassistbytes;
    double ratio = atomic_load_explicit(&work.assist_ratio, memory_order_relaxed);
    int64_t want = (int64_t)((double)debt * ratio);
    if (want < 64 << 10)
        want = 64 << 10;   /* assist in batches worth the trip */
    int64_t t0 = gort_nanotime();
    int64_t done = drain(MODE_ASSIST, want);
    int64_t took = gort_nanotime() - t0;
    atomic_fetch_add_explicit(&work.assist_ns, took, memory_order_relaxed);
    group_assist(gp, took);
    gp->gcassistbytes += ratio > 0 ? (int64_t)((double)done / ratio) : debt;
    if (gp->gcassistbytes < 0) {
        /* Nothing more to scan here (the rest is in other Ps' buffers, in
         * root jobs under way, or done): wait for the workers to pay the
         * rest, or for the end of the mark. */
        maybe_markdone();
        if (assist_park(gp)) {
            if (gp->gcassistbytes < 0 && atomic_load_explicit(&work.blacken, memory_order_acquire) &&
                gp->gcassistcycle == atomic_load_explicit(&work.cycle, memory_order_relaxed))
                goto retry;
            return;
        }
    }
    safepoint_poll();
}

/* ------------------------------------------------------------------ */
/* Checkmark: a re-mark with the world stopped, verifying the first one  */

static uintptr_t *cm_set;      /* open addressing on object bases */
static size_t cm_cap, cm_len;
static uintptr_t *cm_stack;
static size_t cm_n, cm_stackcap;
static uint64_t cm_objects;

static bool cm_insert(uintptr_t base)
{
    if (cm_len * 2 >= cm_cap) {
        size_t ncap = cm_cap ? cm_cap * 2 : 1 << 16;
        uintptr_t *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            rt_throw("gccheckmark: out of memory");
        for (size_t i = 0; i < cm_cap; i++) {
            if (!cm_set[i])
                continue;
            size_t h = (cm_set[i] >> 3) * 0x9e3779b97f4a7c15ull & (ncap - 1);
            while (ns[h])
                h = (h + 1) & (ncap - 1);
            ns[h] = cm_set[i];
        }
        free(cm_set);
        cm_set = ns;
        cm_cap = ncap;
    }
    size_t h = (base >> 3) * 0x9e3779b97f4a7c15ull & (cm_cap - 1);
    while (cm_set[h]) {
        if (cm_set[h] == base)
            return false;
        h = (h + 1) & (cm_cap - 1);
    }
    cm_set[h] = base;
    cm_len++;
    return true;
}

/* v reached from `from` (0: a root).  report: an unmarked target is an
 * error; stack words (report false) may be stale and only lead on. */
NO_SANITIZE static void checkmark_shade(uintptr_t v, uintptr_t from, bool report)
{
    mspan *s;
    uint32_t idx;
    uintptr_t base = find_object(v, &s, &idx);
    if (!base)
        return;
    if (!((s->gcmarkbits[idx / 8] >> (idx % 8)) & 1)) {
        if (!report)
            return;
        rt_printf("runtime: gccheckmark: object %#lx (%zu bytes) is reachable but was not marked\n",
                  (unsigned long)base, (size_t)s->elemsize);
        if (from)
            rt_printf("runtime: gccheckmark: it is referenced by the word at %#lx\n", (unsigned long)from);
        rt_throw("gccheckmark found an unmarked reachable object (a heap pointer stored without "
                 "GORT_STORE?)");
    }
    if (!cm_insert(base))
        return;
    cm_objects++;
    if (spc_noscan(s->spc))
        return;
    if (cm_n == cm_stackcap) {
        size_t cap = cm_stackcap ? cm_stackcap * 2 : 4096;
        uintptr_t *ns = realloc(cm_stack, cap * sizeof *ns);
        if (!ns)
            rt_throw("gccheckmark: out of memory");
        cm_stack = ns;
        cm_stackcap = cap;
    }
    cm_stack[cm_n++] = base;
}

NO_SANITIZE static void checkmark_scan_range(uintptr_t lo, uintptr_t hi, bool report)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    for (uintptr_t p = lo; p + 8 <= hi; p += 8)
        checkmark_shade(*(const uintptr_t *)p, p, report);
}

/* Check the pointer words of a scannable object's contents. */
NO_SANITIZE static void cm_fin_scan(uintptr_t base)
{
    mspan *s = span_of_heap(base);
    if (!s || spc_noscan(s->spc))
        return;
    for (uintptr_t p = base; p < base + s->elemsize; p += 8)
        if (heap_ptrbit(p))
            checkmark_shade(*(const uintptr_t *)p, p, true);
}

static void checkmark_drain(void)
{
    while (cm_n)
        cm_fin_scan(cm_stack[--cm_n]);
}

static void cm_shade(uintptr_t v)
{
    checkmark_shade(v, 0, true);
}

/* World stopped, after the mark: every object reachable from the roots
 * through heap objects must be marked. */
NO_SANITIZE static void checkmark(void)
{
    checkmarking = true;
    cm_len = cm_n = 0;
    cm_objects = 0;
    if (cm_set)
        memset(cm_set, 0, cm_cap * sizeof *cm_set);
    struct seg_arg a = {NULL, 0};
    dl_iterate_phdr(scan_segments, &a);
    scan_roots_registered(NULL);
    fin_mark_roots(cm_fin_scan, cm_shade);
    pool_gc_scan(cm_shade);
    rtlock_lock(&allglock);
    size_t n = allglen;
    rtlock_unlock(&allglock);
    for (size_t i = 0; i < n; i++) {
        g_t *gp = allg_at((uint32_t)i);
        uint32_t st = readgstatus(gp) & ~(uint32_t)G_SCAN;
        if (st == G_DEAD || st == G_IDLE || (gp->system && !gp->sysscan))
            continue;
        if (gp == my_g()) {
            scan_self(NULL, gp);
        } else {
            uintptr_t lo = st == G_SYSCALL ? gp->syscallsp : (uintptr_t)gp->ctx_sp;
            if (st != G_SYSCALL && gp->gcentrysp > lo)
                lo = gp->gcentrysp;
            if (st == G_SYSCALL)
                for (int r = 0; r < 6; r++)
                    checkmark_shade(gp->syscallregs[r], 0, false);
            if (lo >= gp->stack.lo && lo < gp->stack.hi)
                checkmark_scan_range(lo, gp->stack.hi, false);
        }
        checkmark_shade((uintptr_t)gp->arg, 0, false);
        for (pframe *f = gp->pframe; f; f = f->parent)
            for (gdefer *d = f->defers; d; d = d->link)
                checkmark_shade((uintptr_t)d->arg, 0, false);
        for (gdefer *d = gp->topframe.defers; d; d = d->link)
            checkmark_shade((uintptr_t)d->arg, 0, false);
    }
    checkmark_drain();
    checkmarking = false;
}

uint64_t rt_test_checkmark_objects(void)
{
    return cm_objects;
}

/* ------------------------------------------------------------------ */
/* Statistics                                                           */

/* Written once per cycle by gc_cycle at mark termination, with the world
 * stopped and under lock (gcsema keeps cycles one at a time); read under
 * lock by gc_read_stats on any thread, so a reading sees whole cycles:
 * numgc, pause_total, the ring and pause_hist always agree. */
static struct {
    rtlock lock;                   /* every field below */
    uint32_t numgc, numforced;
    uint64_t pause_total;
    uint64_t pause_ns[256], pause_end[256];
    uint64_t pause_hist[GORT_PAUSE_BUCKETS];   /* every cycle's pause, by bucket */
    uint64_t last_gc;              /* ns since the epoch */
    uint64_t last_pause_max;
    int64_t cpu_ns;                /* collector CPU, all cycles (idle marking left out) */
    int64_t assist_ns, worker_ns;
} gcstats;

static int64_t start_ns;           /* @T in the trace line counts from here */

/* Unsized here, so that a bound too many or too few conflicts with the
 * header's declaration. */
const uint64_t gort_pause_bucket_bounds_ns[] = {
    5 * GORT_US,   10 * GORT_US,   25 * GORT_US,   50 * GORT_US,
    100 * GORT_US, 250 * GORT_US,  500 * GORT_US,
    1 * GORT_MS,   2500 * GORT_US, 5 * GORT_MS,    10 * GORT_MS,   25 * GORT_MS,
    50 * GORT_MS,  100 * GORT_MS,  250 * GORT_MS,  500 * GORT_MS,
    1 * GORT_S,
};

/* The first bucket whose bound is >= ns, else the unbounded last one. */
static int pause_bucket(uint64_t ns)
{
    int i = 0;
    while (i < GORT_PAUSE_BUCKETS - 1 && ns > gort_pause_bucket_bounds_ns[i])
        i++;
    return i;
}

void gc_read_stats(gort_memstats *ms)
{
    rtlock_lock(&gcstats.lock);
    ms->num_gc = gcstats.numgc;
    ms->num_forced_gc = gcstats.numforced;
    ms->pause_total_ns = gcstats.pause_total;
    memcpy(ms->pause_ns, gcstats.pause_ns, sizeof ms->pause_ns);
    memcpy(ms->pause_end, gcstats.pause_end, sizeof ms->pause_end);
    memcpy(ms->pause_hist, gcstats.pause_hist, sizeof ms->pause_hist);
    ms->last_gc = gcstats.last_gc;
    ms->last_pause_max_ns = gcstats.last_pause_max;
    int64_t up = gort_nanotime() - runtime_start_ns;
    ms->gc_cpu_fraction = up > 0 ? (double)gcstats.cpu_ns / ((double)up * ms->gomaxprocs) : 0;
    ms->assist_cpu_ns = (uint64_t)gcstats.assist_ns;
    ms->mark_worker_cpu_ns = (uint64_t)gcstats.worker_ns;
    rtlock_unlock(&gcstats.lock);
    ms->enable_gc = atomic_load_explicit(&pacer.percent, memory_order_relaxed) >= 0 ||
                    atomic_load_explicit(&pacer.memlimit, memory_order_relaxed) != INT64_MAX;
    ms->debug_gc = debug.gcstoptheworld != 0 || debug.gccheckmark != 0;
    ms->memory_limit = atomic_load_explicit(&pacer.memlimit, memory_order_relaxed);
}

/* Go's fmtNSAsMS: whole milliseconds from 10 ms, else two significant
 * digits with at most three decimals. */
static const char *fmt_ms(char *buf, size_t n, uint64_t ns)
{
    if (ns >= 10000000) {
        snprintf(buf, n, "%llu", (unsigned long long)(ns / 1000000));
        return buf;
    }
    uint64_t x = ns / 1000;
    int dec = 3;
    if (x == 0) {
        snprintf(buf, n, "0");
        return buf;
    }
    while (x >= 100) {
        x /= 10;
        dec--;
    }
    uint64_t p = dec == 3 ? 1000 : dec == 2 ? 100 : dec == 1 ? 10 : 1;
    if (dec == 0)
        snprintf(buf, n, "%llu", (unsigned long long)x);
    else
        snprintf(buf, n, "%llu.%0*llu", (unsigned long long)(x / p), dec, (unsigned long long)(x % p));
    return buf;
}

/* Go 1.19's gctrace line, from a finished cycle's record. */
static void gc_trace_line(const gort_gc_cycle *c)
{
    char ms[8][16];
    const int64_t t[8] = {c->clock_ns[0], c->clock_ns[1], c->clock_ns[2], c->cpu_ns[0],
                          c->cpu_ns[1],   c->cpu_ns[2],   c->cpu_ns[3],   c->cpu_ns[4]};
    for (int i = 0; i < 8; i++)
        fmt_ms(ms[i], sizeof ms[i], (uint64_t)t[i]);
    rt_tracef("gc %u @%lld.%03llds %d%%: %s+%s+%s ms clock, %s+%s/%s/%s+%s ms cpu, "
              "%llu->%llu->%llu MB, %llu MB goal, %llu MB stacks, %llu MB globals, %d P%s\n",
              c->num, (long long)(c->since_start_ns / GORT_S), (long long)(c->since_start_ns % GORT_S / GORT_MS),
              c->cpu_percent, ms[0], ms[1], ms[2], ms[3], ms[4], ms[5], ms[6], ms[7],
              (unsigned long long)(c->heap_start >> 20), (unsigned long long)(c->heap_end >> 20),
              (unsigned long long)(c->heap_marked >> 20), (unsigned long long)(c->heap_goal >> 20),
              (unsigned long long)(c->stacks >> 20), (unsigned long long)(c->globals >> 20), c->procs,
              c->forced ? " (forced)" : "");
}

static const gort_observer *_Atomic observer;

void gort_set_observer(const gort_observer *o)
{
    atomic_store_explicit(&observer, o, memory_order_release);
}

void gc_observe_scavenge(gort_scav_kind kind, int64_t num, uint64_t released)
{
    const gort_observer *obs = atomic_load_explicit(&observer, memory_order_acquire);
    if (!obs || !obs->scavenge)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    /* In use first, and clamped: the heap may grow between the reads. */
    uint64_t inuse = atomic_load_explicit(&heapstats.heap_inuse, memory_order_acquire);
    uint64_t sys = atomic_load_explicit(&heapstats.heap_sys, memory_order_acquire);
    if (sys < inuse)
        sys = inuse;
    gort_scav_pass s = {
        .time_ns = (int64_t)now.tv_sec * GORT_S + now.tv_nsec,
        .num = num,
        .kind = kind,
        .released = released,
        .heap_inuse = inuse,
        .heap_idle = sys - inuse,
        .heap_sys = sys,
        .heap_released = atomic_load_explicit(&heapstats.heap_released, memory_order_relaxed),
    };
    obs->scavenge(obs->ctx, &s);
}

/* ------------------------------------------------------------------ */
/* Pacer                                                                */

uint64_t gc_next_goal(void)
{
    return atomic_load_explicit(&pacer.goal, memory_order_relaxed);
}

uint64_t gc_limit_retained(void)
{
    return atomic_load_explicit(&pacer.limit_retained, memory_order_relaxed);
}

static _Atomic int64_t gc_kick_ns;   /* when the controller was last woken */

static void gc_kick(void)
{
    if (!atomic_load_explicit(&goroutines_started, memory_order_acquire))
        return;
    if (!atomic_exchange_explicit(&gc_kicked, true, memory_order_acq_rel)) {
        atomic_store_explicit(&gc_kick_ns, gort_nanotime(), memory_order_relaxed);
        semrelease(&gcctl_sema);
        return;
    }
    /* Woken and still not started: the controller sits in a run queue
     * behind goroutines that run out their time slices while the heap
     * grows.  After a millisecond the allocating goroutine steps aside at
     * its next safe point.  Not at once: an idle P usually takes the
     * controller within microseconds, and a goroutine that stepped aside
     * would move to a thread woken for it, which the stop of the world
     * right after then waits for. */
    g_t *gp = getg();
    if (gp && gp != &gp->m->g0 && !gp->system &&
        gort_nanotime() - atomic_load_explicit(&gc_kick_ns, memory_order_relaxed) > GORT_MS)
        atomic_store_explicit(&gp->preempt, true, memory_order_relaxed);
}

void gc_live_add(int64_t delta)
{
    uint64_t live = atomic_fetch_add_explicit(&heap_live, (uint64_t)delta, memory_order_relaxed) + (uint64_t)delta;
    if (delta > 0 && live >= atomic_load_explicit(&pacer.trigger, memory_order_relaxed) &&
        !gort__writebarrier)
        gc_kick();
}

/* Goal and trigger from pacer.marked and the settings (pacer.lock held). */
static void pacer_recompute(void)
{
    uint64_t marked = pacer.marked;
    int32_t pct = atomic_load_explicit(&pacer.percent, memory_order_relaxed);
    int64_t limit = atomic_load_explicit(&pacer.memlimit, memory_order_relaxed);
    uint64_t goal = UINT64_MAX;
    if (pct >= 0) {
        goal = marked + marked / 100 * (uint64_t)pct;
        if (goal < MIN_HEAP_GOAL)
            goal = MIN_HEAP_GOAL;
    }
    uint64_t lret = UINT64_MAX;
    bool limited = false;
    if (limit != INT64_MAX) {
        /* The limit covers everything the runtime holds; what is not heap
         * comes off the top, and 5 % stays spare for fragmentation. */
        uint64_t nonheap = atomic_load_explicit(&pacer.nonheap_sys, memory_order_relaxed);
        uint64_t lim = (uint64_t)limit;
        uint64_t room = lim > nonheap ? lim - nonheap : 0;
        lret = room;
        uint64_t lgoal = room - room / 20;
        if (lgoal < marked + (1 << 20))
            lgoal = marked + (1 << 20);   /* over the limit: collect often, not forever */
        limited = lgoal < goal;
        if (limited)
            goal = lgoal;
    }
    atomic_store_explicit(&pacer.limit_bound, limited, memory_order_relaxed);
    atomic_store_explicit(&pacer.limit_retained, lret, memory_order_relaxed);
    atomic_store_explicit(&pacer.goal, goal, memory_order_relaxed);
    uint64_t trigger = UINT64_MAX;
    if (goal != UINT64_MAX) {
        uint64_t base = marked < goal ? marked : goal;
        trigger = base + (uint64_t)((double)(goal - base) * pacer.trigger_frac);
        if (goal == MIN_HEAP_GOAL && marked < MIN_HEAP_GOAL / 2)
            trigger = MIN_HEAP_GOAL * 7 / 8;
    }
    atomic_store_explicit(&pacer.trigger, trigger, memory_order_relaxed);
}

static void pacer_env(void);
static pthread_once_t pacer_once = PTHREAD_ONCE_INIT;

int gort_set_gc_percent(int percent)
{
    pthread_once(&pacer_once, pacer_env);   /* the environment first, the call after */
    rtlock_lock(&pacer.lock);
    int old = atomic_load_explicit(&pacer.percent, memory_order_relaxed);
    atomic_store_explicit(&pacer.percent, percent < 0 ? -1 : percent, memory_order_relaxed);
    pacer_recompute();
    uint64_t trigger = atomic_load_explicit(&pacer.trigger, memory_order_relaxed);
    rtlock_unlock(&pacer.lock);
    if (atomic_load_explicit(&heap_live, memory_order_relaxed) >= trigger)
        gc_kick();
    return old;
}

int gort_gc_percent(void)
{
    pthread_once(&pacer_once, pacer_env);
    return atomic_load_explicit(&pacer.percent, memory_order_relaxed);
}

int64_t gort_set_memory_limit(int64_t bytes)
{
    pthread_once(&pacer_once, pacer_env);
    if (bytes < 0)
        return atomic_load_explicit(&pacer.memlimit, memory_order_relaxed);
    rtlock_lock(&pacer.lock);
    int64_t old = atomic_load_explicit(&pacer.memlimit, memory_order_relaxed);
    atomic_store_explicit(&pacer.memlimit, bytes, memory_order_relaxed);
    pacer_recompute();
    uint64_t trigger = atomic_load_explicit(&pacer.trigger, memory_order_relaxed);
    rtlock_unlock(&pacer.lock);
    if (atomic_load_explicit(&heap_live, memory_order_relaxed) >= trigger)
        gc_kick();
    scavenger_wake();
    return old;
}

/* GOGC and GOMEMLIMIT from the environment, once. */
static void pacer_env(void)
{
    const char *s = getenv("GOGC");
    if (s && *s) {
        if (strcmp(s, "off") == 0) {
            pacer.percent = -1;
        } else {
            char *end;
            long v = strtol(s, &end, 10);
            if (*end || v < -1 || v > INT32_MAX)
                rt_printf("gort: GOGC: ignoring \"%s\": want a percentage or off\n", s);
            else
                pacer.percent = v < 0 ? -1 : (int32_t)v;
        }
    }
    s = getenv("GOMEMLIMIT");
    if (s && *s && strcmp(s, "off") != 0) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        static const struct {
            const char *suf;
            int shift;
        } sufs[] = {{"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}};
        int shift = -1;
        for (size_t i = 0; i < sizeof sufs / sizeof sufs[0]; i++)
            if (strcmp(end, sufs[i].suf) == 0)
                shift = sufs[i].shift;
        if (end == s || errno || shift < 0 || *s == '-' || (v << shift >> shift) != v || (v << shift) > INT64_MAX)
            rt_printf("gort: GOMEMLIMIT: ignoring \"%s\": want bytes, with an optional KiB, MiB, GiB or "
                      "TiB suffix\n",
                      s);
        else
            pacer.memlimit = (int64_t)(v << shift);
    }
    pacer_recompute();
}

/* ------------------------------------------------------------------ */
/* A cycle                                                              */

static _Atomic uint32_t gcsema = 1;   /* one cycle at a time */

void gc_cycles_lock(void)
{
    semacquire(&gcsema, WR_WAIT_FOR_GC_CYCLE);
}

void gc_cycles_unlock(void)
{
    semrelease(&gcsema);
}

static int64_t sum_marked(void)
{
    int64_t m = atomic_load_explicit(&foreign_marked, memory_order_relaxed) + foreign_gcw.bytes_marked;
    for (int32_t i = 0; i < GORT_MAX_PROCS && allp[i]; i++)
        m += allp[i]->gcw.bytes_marked;
    return m;
}

/* World stopped: is any grey object left?  Moves what Ps hold to the
 * global list. */
static bool grey_left(void)
{
    bool any = !lf_empty(&wfull) || !roots_done();
    for (int32_t i = 0; i < GORT_MAX_PROCS && allp[i]; i++) {
        if (!gcw_empty(&allp[i]->gcw)) {
            any = true;
            gcw_flush(&allp[i]->gcw);
        }
    }
    if (!gcw_empty(&foreign_gcw)) {
        any = true;
        gcw_flush(&foreign_gcw);
    }
    return any;
}

/* World stopped: mark everything left here and now. */
static void drain_stw(void)
{
    while (markroot_next())
        ;
    for (;;) {
        drain(MODE_STW, 0);
        if (!grey_left())
            break;
    }
}

/* Before stopping the world to end the mark: every running P hands the
 * grey objects it holds (from write barriers, or an assist that stopped
 * paid up) to the global list at its next safe point, as Go's forEachP
 * does.  The world is stopped only once a round finds nothing: each stop
 * that finds grey objects left costs a pause and a restart.  A P that does
 * not answer within RAGGED_WAIT_NS (a goroutine between safe points, a
 * system call) is left to the stop.  True if there is work to go on
 * with. */
static bool ragged_flush(void)
{
    p_t *self = my_p();
    if (self)
        gcw_flush(&self->gcw);
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_acquire);
    bool asked = false;
    for (int32_t i = 0; i < procs; i++) {
        p_t *pp = allp[i];
        if (!pp || pp == self || atomic_load_explicit(&pp->status, memory_order_acquire) != P_RUNNING)
            continue;   /* an idle P flushed as it went idle */
        atomic_store_explicit(&pp->gcflushreq, true, memory_order_release);
        asked = true;
    }
    /* Brings their goroutines to safepoint(), which flushes. */
    if (asked)
        preemptall();
    int64_t deadline = gort_nanotime() + RAGGED_WAIT_NS;
    while (asked && lf_empty(&wfull) && atomic_load_explicit(&work.nactive, memory_order_seq_cst) == 0) {
        asked = false;
        /* A P that went idle meanwhile flushed on its way (gc_p_idle). */
        for (int32_t i = 0; i < procs; i++)
            if (allp[i] && atomic_load_explicit(&allp[i]->gcflushreq, memory_order_acquire) &&
                atomic_load_explicit(&allp[i]->status, memory_order_acquire) == P_RUNNING)
                asked = true;
        if (!asked || gort_nanotime() >= deadline)
            break;
        gort_sleep(RAGGED_POLL_NS);
    }
    /* A P that answered may have taken work back from the list and be
     * draining it now. */
    return !lf_empty(&wfull) || atomic_load_explicit(&work.nactive, memory_order_seq_cst) != 0;
}

static void gc_cycle(gort_gc_trigger why)
{
    bool forced = why == GORT_GC_TRIGGER_FORCED;
    pthread_once(&pacer_once, pacer_env);
    g_t *self = getg_or_die("gort_gc");
    semacquire(&gcsema, WR_WAIT_FOR_GC_CYCLE);
    if (start_ns == 0)
        start_ns = runtime_start_ns;
    bool concurrent = debug.gcstoptheworld == 0;
    ensure_workers();

    /* Sweep what the last cycle left, before the world stops.  The
     * collector's frames are never scanned: it runs on a runtime goroutine
     * or below a user goroutine's gcentrysp. */
    sweep_finish();
    uint64_t heap0 = atomic_load_explicit(&heap_live, memory_order_relaxed);
    uint64_t goal = atomic_load_explicit(&pacer.goal, memory_order_relaxed);
    int64_t t0 = gort_nanotime();

    /* 1. Sweep termination. */
    stop_the_world("GC (sweep termination)");
    heap_sweepterm_stw();
    pool_gc_cleanup_stw();
    uint32_t cyc = atomic_fetch_add_explicit(&work.cycle, 1, memory_order_relaxed) + 1;
    (void)cyc;
    rtlock_lock(&allglock);
    nstackjobs = (uint32_t)allglen;
    rtlock_unlock(&allglock);
    work.nroots = 4 + nstackjobs;
    atomic_store_explicit(&work.rootnext, 0, memory_order_relaxed);
    atomic_store_explicit(&work.rootdone, 0, memory_order_relaxed);
    atomic_store_explicit(&work.stack_bytes_a, 0, memory_order_relaxed);
    atomic_store_explicit(&work.global_bytes_a, 0, memory_order_relaxed);
    atomic_store_explicit(&work.dedicated_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&work.fractional_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&work.idle_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&work.assist_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&work.bgcredit, 0, memory_order_relaxed);
    atomic_store_explicit(&work.markdone_signalled, false, memory_order_relaxed);
    atomic_store_explicit(&foreign_marked, 0, memory_order_relaxed);
    foreign_gcw.bytes_marked = 0;
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_relaxed);
    for (int32_t i = 0; i < GORT_MAX_PROCS && allp[i]; i++) {
        allp[i]->gcw.bytes_marked = 0;
        atomic_store_explicit(&allp[i]->gcfractime, 0, memory_order_relaxed);
    }
    /* Workers: 25 % of the Ps, as whole dedicated Ps when that is close,
     * the rest as fractional time on every P. */
    double util = GOAL_UTILIZATION * procs;
    int32_t dedicated = (int32_t)(util + 0.5);
    if (dedicated > 0 && fabs((double)dedicated / util - 1) > 0.3)
        dedicated--;
    atomic_store_explicit(&work.dedicated_left, dedicated, memory_order_relaxed);
    work.fractional_goal = (util - dedicated) / procs;
    /* Assists: scan what the last cycle marked over the runway left. */
    uint64_t expect = pacer.marked ? pacer.marked : heap0;
    uint64_t runway = goal > heap0 + (1 << 20) ? goal - heap0 : (1 << 20);
    atomic_store_explicit(&work.assist_ratio, (double)expect / (double)runway, memory_order_relaxed);
    __atomic_store_n(&gort__writebarrier, 1, __ATOMIC_RELAXED);
    int64_t t1 = gort_nanotime();
    work.markstart = t1;

    /* 2. Mark.  t2: when the stop that ends it began.  A stop that finds
     * grey objects left and lets the world go again is a pause too. */
    int restarts = 0;
    int64_t t2 = t1, restart_pause = 0, restart_pause_max = 0;
    if (concurrent) {
        atomic_store_explicit(&work.blacken, true, memory_order_release);
        /* Sweep termination's pause lasts until the Ps are let go. */
        t1 = start_the_world();
        /* Idle Ps sleep through a start of the world: wake one, which
         * runs its idle worker and wakes the next (resetspinning). */
        wakep();
        for (;;) {
            /* The collecting goroutine marks too, so that the cycle ends
             * even if no worker gets a P.  Its time is a dedicated
             * worker's, for the trace and for the pacer's feedback. */
            int64_t d0 = gort_nanotime();
            drain(MODE_DEDICATED, 0);
            atomic_fetch_add_explicit(&work.dedicated_ns, gort_nanotime() - d0, memory_order_relaxed);
            if (!work_available(my_p()))
                maybe_markdone();
            semacquire(&work.markdone_sema, WR_WAIT_FOR_GC_CYCLE);
            if (ragged_flush()) {
                atomic_store_explicit(&work.markdone_signalled, false, memory_order_relaxed);
                continue;
            }
            t2 = gort_nanotime();
            stop_the_world("GC (mark termination)");
            atomic_store_explicit(&work.blacken, false, memory_order_relaxed);
            if (!grey_left())
                break;
            if (++restarts > 16) {
                drain_stw();
                break;
            }
            /* Grey objects were still in P buffers: back to marking. */
            atomic_store_explicit(&work.markdone_signalled, false, memory_order_relaxed);
            atomic_store_explicit(&work.blacken, true, memory_order_release);
            int64_t d = start_the_world() - t2;
            restart_pause += d;
            if (d > restart_pause_max)
                restart_pause_max = d;
            wakep();
        }
    } else {
        /* The world has stayed stopped since t0: all of the mark is
         * mark termination. */
        drain_stw();
    }

    /* 3. Mark termination. */
    (void)self;
    if (debug.gccheckmark)
        checkmark();
    __atomic_store_n(&gort__writebarrier, 0, __ATOMIC_RELAXED);
    uint64_t heap1 = atomic_load_explicit(&heap_live, memory_order_relaxed);
    uint64_t marked = (uint64_t)sum_marked();
    heap_flip_stw();
    atomic_store_explicit(&heap_live, marked, memory_order_relaxed);
    atomic_store_explicit(&gc_kicked, false, memory_order_relaxed);
    int64_t t3 = gort_nanotime();

    int64_t assist = atomic_load_explicit(&work.assist_ns, memory_order_relaxed);
    int64_t bg = atomic_load_explicit(&work.dedicated_ns, memory_order_relaxed) +
                 atomic_load_explicit(&work.fractional_ns, memory_order_relaxed);
    int64_t idle = atomic_load_explicit(&work.idle_ns, memory_order_relaxed);
    int64_t stwcpu = ((t1 - t0) + restart_pause + (t3 - t2)) * procs;
    uint64_t pause = (uint64_t)((t1 - t0) + restart_pause + (t3 - t2));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t wall = (uint64_t)now.tv_sec * GORT_S + (uint64_t)now.tv_nsec;
    rtlock_lock(&gcstats.lock);
    uint32_t n = gcstats.numgc++;
    if (forced)
        gcstats.numforced++;
    gcstats.pause_ns[n % 256] = pause;
    gcstats.pause_end[n % 256] = wall;
    gcstats.pause_total += pause;
    gcstats.pause_hist[pause_bucket(pause)]++;
    gcstats.last_gc = wall;
    int64_t pmax = (t1 - t0) > (t3 - t2) ? (t1 - t0) : (t3 - t2);
    gcstats.last_pause_max = (uint64_t)(pmax > restart_pause_max ? pmax : restart_pause_max);
    gcstats.cpu_ns += stwcpu + assist + bg;
    gcstats.assist_ns += assist;
    gcstats.worker_ns += bg + idle;
    int64_t totalcpu = gcstats.cpu_ns;
    rtlock_unlock(&gcstats.lock);
    atomic_store_explicit(&last_gc_nano, t3, memory_order_relaxed);
    int64_t stacks = atomic_load_explicit(&work.stack_bytes_a, memory_order_relaxed);
    int64_t globals = atomic_load_explicit(&work.global_bytes_a, memory_order_relaxed);
    start_the_world();
    assist_wake_all();
    if (debug.gcstoptheworld >= 2)
        sweep_finish();
    bgsweep_wake();
    fin_wake();

    /* The pacer, for the next cycle. */
    gort_memstats ms;
    gort_read_memstats(&ms);
    rtlock_lock(&pacer.lock);
    uint64_t oldmarked = pacer.marked;
    if (!forced && goal != UINT64_MAX && goal > oldmarked && concurrent) {
        /* Feedback in runway fractions: where the cycle was triggered,
         * where the heap stood when marking ended, and the CPU it took. */
        double runway0 = (double)(goal - (oldmarked < goal ? oldmarked : goal));
        double ht = pacer.trigger_frac;
        double ha = ((double)heap1 - (double)oldmarked) / runway0;
        double ua = (t2 > t1) ? (double)(assist + bg) / ((double)(t2 - t1) * procs) : 0;
        double ug = GOAL_UTILIZATION + 0.05;
        double err = 1.0 - ht - ua / ug * (ha - ht);
        double f = ht + 0.5 * err;
        pacer.trigger_frac = f < 0.6 ? 0.6 : f > 0.95 ? 0.95 : f;
    }
    pacer.marked = marked;
    atomic_store_explicit(&pacer.nonheap_sys, ms.sys - ms.heap_sys, memory_order_relaxed);
    pacer_recompute();
    uint64_t nextgoal = atomic_load_explicit(&pacer.goal, memory_order_relaxed);
    rtlock_unlock(&pacer.lock);

    gort_gc_cycle rec = {
        .num = n + 1,
        .procs = procs,
        .start_ns = (int64_t)wall - (t3 - t0),
        .end_ns = (int64_t)wall,
        .since_start_ns = t0 - start_ns,
        .clock_ns = {t1 - t0, t2 - t1, t3 - t2},
        .cpu_ns = {(t1 - t0) * procs, assist, bg, idle, (t3 - t2) * procs},
        .heap_start = heap0,
        .heap_end = heap1,
        .heap_marked = marked,
        .heap_goal = goal == UINT64_MAX ? heap1 : goal,
        .next_goal = nextgoal,
        .stacks = (uint64_t)stacks,
        .globals = (uint64_t)globals,
        .pause_ns = pause,
        .forced = forced,
        .trigger = why,
    };
    int64_t up = gort_nanotime() - start_ns;
    if (up > 0)
        rec.cpu_percent = (int32_t)(100.0 * (double)totalcpu / ((double)up * procs));
    if (gctrace_on())
        gc_trace_line(&rec);
    const gort_observer *obs = atomic_load_explicit(&observer, memory_order_acquire);
    if (obs && obs->gc)
        obs->gc(obs->ctx, &rec);
    semrelease(&gcsema);
    /* A cycle ran while the heap was past the new trigger already. */
    if (atomic_load_explicit(&heap_live, memory_order_relaxed) >=
        atomic_load_explicit(&pacer.trigger, memory_order_relaxed))
        gc_kick();
}

/* ------------------------------------------------------------------ */
/* The controller and forcegc                                           */

static void gc_controller(void *unused)
{
    (void)unused;
    for (;;) {
        semacquire(&gcctl_sema, WR_FORCEGC_IDLE);
        gort_gc_trigger why = atomic_load_explicit(&pacer.limit_bound, memory_order_relaxed)
                                  ? GORT_GC_TRIGGER_MEMLIMIT
                                  : GORT_GC_TRIGGER_HEAP;
        if (atomic_exchange_explicit(&forcegc_pending, false, memory_order_acq_rel)) {
            why = GORT_GC_TRIGGER_PERIODIC;
            if (gctrace_on())
                rt_tracef("GC forced\n");
        } else if (atomic_load_explicit(&heap_live, memory_order_relaxed) <
                   atomic_load_explicit(&pacer.trigger, memory_order_relaxed)) {
            /* A forced cycle ran in between. */
            atomic_store_explicit(&gc_kicked, false, memory_order_relaxed);
            continue;
        }
        gc_cycle(why);
        atomic_store_explicit(&gc_kicked, false, memory_order_relaxed);
    }
}

void gc_start_goroutines(void)
{
    pthread_once(&pacer_once, pacer_env);
    int err = newproc(gc_controller, NULL, 0, "runtime/gc", NULL, true, NULL, NULL);
    if (err)
        rt_throw("cannot start the collector: error %d", err);
    fin_start();
    ensure_workers();
    atomic_store_explicit(&last_gc_nano, gort_nanotime(), memory_order_relaxed);
    atomic_store_explicit(&goroutines_started, true, memory_order_release);
    if (atomic_load_explicit(&heap_live, memory_order_relaxed) >=
        atomic_load_explicit(&pacer.trigger, memory_order_relaxed))
        gc_kick();
}

void gc_forcegc_check(int64_t now)
{
    if (!atomic_load_explicit(&goroutines_started, memory_order_acquire))
        return;
    int64_t period = debug.scavenge ? 10 * GORT_MS : FORCEGC_PERIOD;
    int64_t last = atomic_load_explicit(&last_gc_nano, memory_order_relaxed);
    if (now - last < period || atomic_load_explicit(&gc_kicked, memory_order_relaxed))
        return;
    /* Counted from now, so that a slow cycle is not asked for twice. */
    atomic_store_explicit(&last_gc_nano, now, memory_order_relaxed);
    atomic_store_explicit(&forcegc_pending, true, memory_order_release);
    if (!atomic_exchange_explicit(&gc_kicked, true, memory_order_acq_rel))
        semrelease(&gcctl_sema);
}

static void gc_forced(void *arg)
{
    (void)arg;
    gc_cycle(GORT_GC_TRIGGER_FORCED);
    /* gort_gc returns once the cycle's sweep is done too. */
    sweep_finish();
}

/* gort_gc (arch/amd64.S) lands here with its caller's callee-saved
 * registers pushed at regs and no frame of its own.  A goroutine that
 * collects for itself has its stack scanned from regs up, not from the
 * collector's frames below: a conservative scan of those, parked or
 * scanning itself, would keep the spans its sweep just went over. */
void gc_user_entry(void *arg, uintptr_t *regs)
{
    (void)arg;
    mallocinit();
    g_t *gp = getg();
    if (gp && gp != &gp->m->g0) {
        uintptr_t outer = gp->gcentrysp;
        if (!outer)
            gp->gcentrysp = (uintptr_t)regs;
        gc_forced(NULL);
        gp->gcentrysp = outer;
        return;
    }
    /* A thread that is not a goroutine: a runtime goroutine collects. */
    if (run_on_goroutine(gc_forced, NULL) != 0)
        rt_throw("gort_gc: cannot start a goroutine to collect");
}
