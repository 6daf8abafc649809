/*
 * mheap.c - the page heap: arenas, the page allocator, span structures and
 * the release of free pages to the operating system.
 *
 * Arenas are 64 MiB of address space, mapped read-write without a swap
 * reservation when the heap first reaches them (so they cost nothing until
 * touched) and asked for at increasing addresses so that neighbouring
 * arenas usually touch and their free runs coalesce.  Each arena has a
 * heaparena record outside the heap: its page->span map, a bit per page
 * for "returned to the OS" and "may hold old bytes", and the collector's
 * pointer bitmap.  The heap grows into the current arena a megabyte (or
 * the request) at a time; fresh pages count as released, since the kernel
 * has not backed them yet.
 *
 * Free runs of pages are spans in a treap keyed by (pages, address): an
 * allocation takes the smallest run that fits, lowest address first, in
 * O(log n) expected time, and a freed span merges with the free runs on
 * either side, found in O(1) through the page map (a free span maps its
 * first and last page).  Whether a page needs zeroing or was released is
 * kept per page, so merging and splitting never lose it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>
#if GORT_ASAN
#include <sanitizer/lsan_interface.h>
#endif

#include "debugvars.h"
#include "malloc.h"
#include "print.h"
#include "proc.h"

mheap mheap_;
heaparena **arena_index;
struct heapstats heapstats;

/* Span structures not in use, under mheap.lock. */
static mspan *spanfree;
static uint32_t treap_seed = 2463534242u;

/* ------------------------------------------------------------------ */
/* OS memory                                                           */

static void *sys_map(size_t n, _Atomic uint64_t *stat)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (stat)
        atomic_fetch_add_explicit(stat, n, memory_order_relaxed);
    return p;
}

/* ------------------------------------------------------------------ */
/* Fixed-size allocators                                               */

void fixalloc_init(fixalloc *f, size_t size, _Atomic uint64_t *sys)
{
    f->size = (size + 15) & ~(size_t)15;
    f->sys = sys;
}

void *fixalloc_alloc(fixalloc *f)
{
    rtlock_lock(&f->lock);
    void *p = f->list;
    if (p) {
        f->list = *(void **)p;
        memset(p, 0, f->size);
    } else {
        if (f->chunk == NULL || (size_t)(f->chunkend - f->chunk) < f->size) {
            size_t n = 256 * 1024;
            char *c = sys_map(n, f->sys);
            if (!c) {
                rtlock_unlock(&f->lock);
                return NULL;
            }
            f->chunk = c;
            f->chunkend = c + n;
        }
        p = f->chunk;
        f->chunk += f->size;
    }
    atomic_store_explicit(&f->inuse, atomic_load_explicit(&f->inuse, memory_order_relaxed) + f->size,
                          memory_order_relaxed);
    rtlock_unlock(&f->lock);
    return p;
}

static void fixalloc_free_locked(fixalloc *f, void *p)
{
    *(void **)p = f->list;
    f->list = p;
    atomic_store_explicit(&f->inuse, atomic_load_explicit(&f->inuse, memory_order_relaxed) - f->size,
                          memory_order_relaxed);
}

void fixalloc_free(fixalloc *f, void *p)
{
    rtlock_lock(&f->lock);
    fixalloc_free_locked(f, p);
    rtlock_unlock(&f->lock);
}

/* Allocation and mark bitmaps: one fixalloc per power-of-two size, 8 to
 * 128 bytes (64 to 1024 objects). */
static fixalloc gcbitsalloc[5];

static int gcbits_bucket(uint16_t nelems)
{
    int b = 0;
    while ((64u << b) < nelems)
        b++;
    return b;
}

uint8_t *gcbits_alloc(uint16_t nelems)
{
    uint8_t *p = fixalloc_alloc(&gcbitsalloc[gcbits_bucket(nelems)]);
    if (!p)
        rt_throw("out of memory allocating heap bitmaps");
    return p;
}

void gcbits_free(uint8_t *bits, uint16_t nelems)
{
    fixalloc_free(&gcbitsalloc[gcbits_bucket(nelems)], bits);
}

/* ------------------------------------------------------------------ */
/* Span lists                                                           */

void spanlist_insert(spanlist *l, mspan *s)
{
    gort_assert(s->list == NULL);
    s->prev = NULL;
    s->next = l->first;
    if (l->first)
        l->first->prev = s;
    else
        l->last = s;
    l->first = s;
    s->list = l;
}

void spanlist_remove(spanlist *l, mspan *s)
{
    gort_assert(s->list == l);
    if (s->prev)
        s->prev->next = s->next;
    else
        l->first = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        l->last = s->prev;
    s->next = s->prev = NULL;
    s->list = NULL;
}

/* ------------------------------------------------------------------ */
/* Per-page bits                                                        */

static inline uintptr_t page_index(uintptr_t p)
{
    return (p & (ARENA_BYTES - 1)) >> PAGE_SHIFT;
}

static inline void setspan(uintptr_t p, mspan *s)
{
    __atomic_store_n(&arena_of(p)->spans[page_index(p)], s, __ATOMIC_RELEASE);
}

static inline mspan *getspan(uintptr_t p)
{
    heaparena *ha = arena_of(p);
    return ha ? __atomic_load_n(&ha->spans[page_index(p)], __ATOMIC_RELAXED) : NULL;
}

/* Apply fn to each arena-local piece of the page bitmap for [base, base +
 * npages pages): bits[word], with mask, for the pages of the range. */
enum { BITS_SET, BITS_CLEAR, BITS_COUNT };

static uintptr_t pagebits(uintptr_t base, uintptr_t npages, size_t field, int op)
{
    uintptr_t count = 0;
    while (npages > 0) {
        heaparena *ha = arena_of(base);
        uint64_t *bits = (uint64_t *)((char *)ha + field);
        uintptr_t i = page_index(base);
        uintptr_t n = ARENA_PAGES - i < npages ? ARENA_PAGES - i : npages;
        for (uintptr_t j = i; j < i + n;) {
            uintptr_t w = j / 64, b = j % 64;
            uintptr_t k = 64 - b < i + n - j ? 64 - b : i + n - j;
            uint64_t mask = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << b;
            if (op == BITS_SET)
                bits[w] |= mask;
            else if (op == BITS_CLEAR)
                bits[w] &= ~mask;
            else
                count += (uintptr_t)__builtin_popcountll(bits[w] & mask);
            j += k;
        }
        base += n * PAGE_SIZE;
        npages -= n;
    }
    return count;
}

#define RELEASED offsetof(heaparena, released)
#define DIRTY offsetof(heaparena, dirty)

/* The first of the npages pages from base whose field bit is set (set
 * true) or clear (set false), as a page count from base; npages when there
 * is none.  A word of the bitmap at a time. */
static uintptr_t pagebits_find(uintptr_t base, uintptr_t npages, size_t field, bool set)
{
    uintptr_t done = 0;
    while (done < npages) {
        heaparena *ha = arena_of(base);
        const uint64_t *bits = (const uint64_t *)((char *)ha + field);
        uintptr_t i = page_index(base);
        uintptr_t n = ARENA_PAGES - i < npages - done ? ARENA_PAGES - i : npages - done;
        for (uintptr_t j = i; j < i + n;) {
            uintptr_t w = j / 64, b = j % 64;
            uintptr_t k = 64 - b < i + n - j ? 64 - b : i + n - j;
            uint64_t mask = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << b;
            uint64_t hit = (set ? bits[w] : ~bits[w]) & mask;
            if (hit)
                return done + (j - i) + ((uintptr_t)__builtin_ctzll(hit) - b);
            j += k;
        }
        base += n * PAGE_SIZE;
        done += n;
    }
    return npages;
}

/* ------------------------------------------------------------------ */
/* Span structures                                                      */

static mspan *span_new(void)
{
    mspan *s = spanfree;
    if (s) {
        spanfree = s->next;
        memset(s, 0, sizeof *s);
        atomic_store_explicit(&mheap_.spanalloc.inuse,
                              atomic_load_explicit(&mheap_.spanalloc.inuse, memory_order_relaxed) +
                                  mheap_.spanalloc.size,
                              memory_order_relaxed);
        return s;
    }
    return fixalloc_alloc(&mheap_.spanalloc);
}

static void span_dispose(mspan *s)
{
    atomic_store_explicit(&s->state, MSPAN_DEAD, memory_order_release);
    s->next = spanfree;
    spanfree = s;
    atomic_store_explicit(&mheap_.spanalloc.inuse,
                          atomic_load_explicit(&mheap_.spanalloc.inuse, memory_order_relaxed) -
                              mheap_.spanalloc.size,
                          memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* The treap of free spans, keyed by (npages, base).  mheap.lock held.   */

static bool tless(const mspan *a, const mspan *b)
{
    return a->npages < b->npages || (a->npages == b->npages && a->base < b->base);
}

static void trotate_up(mspan *x)
{
    mspan *p = x->tparent, *g = p->tparent;
    if (p->tleft == x) {
        p->tleft = x->tright;
        if (x->tright)
            x->tright->tparent = p;
        x->tright = p;
    } else {
        p->tright = x->tleft;
        if (x->tleft)
            x->tleft->tparent = p;
        x->tleft = p;
    }
    p->tparent = x;
    x->tparent = g;
    if (!g)
        mheap_.free_root = x;
    else if (g->tleft == p)
        g->tleft = x;
    else
        g->tright = x;
}

static void treap_insert(mspan *s)
{
    treap_seed ^= treap_seed << 13;
    treap_seed ^= treap_seed >> 17;
    treap_seed ^= treap_seed << 5;
    s->treepri = (uint16_t)treap_seed;
    s->tleft = s->tright = s->tparent = NULL;
    mspan **link = &mheap_.free_root, *parent = NULL;
    while (*link) {
        parent = *link;
        link = tless(s, parent) ? &parent->tleft : &parent->tright;
    }
    *link = s;
    s->tparent = parent;
    while (s->tparent && s->tparent->treepri > s->treepri)
        trotate_up(s);
}

static void treap_remove(mspan *s)
{
    /* Rotate s down until it is a leaf, then cut it off. */
    while (s->tleft || s->tright) {
        mspan *c;
        if (!s->tleft)
            c = s->tright;
        else if (!s->tright)
            c = s->tleft;
        else
            c = s->tleft->treepri < s->tright->treepri ? s->tleft : s->tright;
        trotate_up(c);
    }
    if (!s->tparent)
        mheap_.free_root = NULL;
    else if (s->tparent->tleft == s)
        s->tparent->tleft = NULL;
    else
        s->tparent->tright = NULL;
    s->tparent = NULL;
}

/* The smallest free span of at least npages pages (lowest address among
 * equals), or NULL. */
static mspan *treap_find(uintptr_t npages)
{
    mspan *t = mheap_.free_root, *best = NULL;
    while (t) {
        if (t->npages >= npages) {
            best = t;
            t = t->tleft;
        } else {
            t = t->tright;
        }
    }
    return best;
}

static void free_counts(mspan *t, size_t *runs, uintptr_t *pages)
{
    if (!t)
        return;
    (*runs)++;
    *pages += t->npages;
    free_counts(t->tleft, runs, pages);
    free_counts(t->tright, runs, pages);
}

size_t heap_free_runs(uintptr_t *pages)
{
    size_t runs = 0;
    uintptr_t n = 0;
    rtlock_lock(&mheap_.lock);
    free_counts(mheap_.free_root, &runs, &n);
    rtlock_unlock(&mheap_.lock);
    if (pages)
        *pages = n;
    return runs;
}

/* ------------------------------------------------------------------ */
/* Free spans                                                           */

/* Make s, whose pages are set up (bits), a free span: merge it with free
 * neighbours and insert it.  mheap.lock held. */
/* Merge free span t, adjacent to s, into s.  mheap.lock held. */
static void absorb(mspan *s, mspan *t)
{
    treap_remove(t);
    if (t->scavlisted) {
        /* Its unreleased pages are now s's: s goes on the list. */
        spanlist_remove(&mheap_.unscav, t);
        t->scavlisted = false;
        if (!s->scavlisted) {
            s->scavlisted = true;
            spanlist_insert(&mheap_.unscav, s);
        }
    }
    if (t->base < s->base)
        s->base = t->base;
    s->npages += t->npages;
    if (t->unusedsince > s->unusedsince)
        s->unusedsince = t->unusedsince;
    span_dispose(t);
}

static bool free_neighbour(const mspan *t)
{
    return t && atomic_load_explicit(&t->state, memory_order_relaxed) == MSPAN_FREE;
}

/* Make s, whose pages are set up (bits), a free span: merge it with free
 * neighbours and insert it.  mheap.lock held. */
static void free_insert(mspan *s, int64_t now)
{
    atomic_store_explicit(&s->state, MSPAN_FREE, memory_order_release);
    s->unusedsince = now;
    uintptr_t end = s->base + s->npages * PAGE_SIZE;
    /* A free span maps its first and last page; any other entry there may
     * be stale, so the bounds must match too. */
    mspan *t = getspan(s->base - 1);
    if (free_neighbour(t) && t->base + t->npages * PAGE_SIZE == s->base)
        absorb(s, t);
    t = getspan(end);
    if (free_neighbour(t) && t->base == end)
        absorb(s, t);
    setspan(s->base, s);
    setspan(s->base + (s->npages - 1) * PAGE_SIZE, s);
    treap_insert(s);
}

/* ------------------------------------------------------------------ */
/* Growing                                                              */

/* Reserve n bytes (a multiple of ARENA_BYTES) of arena address space,
 * ARENA_BYTES-aligned, preferably at mheap.arena_hint. */
static uintptr_t arena_reserve(uintptr_t n)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    void *p;
#if !GORT_TSAN
    /* (ThreadSanitizer keeps its own map of where programs may map.) */
    p = mmap((void *)mheap_.arena_hint, n, PROT_READ | PROT_WRITE, flags | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != MAP_FAILED && (uintptr_t)p == mheap_.arena_hint)
        return (uintptr_t)p;
    if (p != MAP_FAILED)
        munmap(p, n);   /* an old kernel ignored MAP_FIXED_NOREPLACE */
#endif
    /* Anywhere, aligned: map one arena more and trim. */
    if (n + ARENA_BYTES < n)
        return 0;
    p = mmap(NULL, n + ARENA_BYTES, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    uintptr_t start = ((uintptr_t)p + ARENA_BYTES - 1) & ~(ARENA_BYTES - 1);
    if (start > (uintptr_t)p)
        munmap(p, start - (uintptr_t)p);
    uintptr_t tail = (uintptr_t)p + n + ARENA_BYTES - (start + n);
    if (tail)
        munmap((void *)(start + n), tail);
    return start;
}

static bool arena_add(uintptr_t base, uintptr_t n)
{
    for (uintptr_t a = base; a < base + n; a += ARENA_BYTES) {
        if ((a >> ARENA_SHIFT) >= ARENA_L1_ENTRIES)
            return false;
        heaparena *ha = sys_map(sizeof(heaparena), &heapstats.gc_sys);
        if (!ha)
            return false;
        __atomic_store_n(&arena_index[a >> ARENA_SHIFT], ha, __ATOMIC_RELEASE);
    }
#if GORT_ASAN
    /* Heap objects may point at malloc'd memory: the leak checker must
     * see the arenas as roots. */
    __lsan_register_root_region((void *)base, n);
#endif
    return true;
}

#define FAKE_PTR_MASK (((uintptr_t)1 << 32) - 1)

/* Add at least npages pages to the free heap.  mheap.lock held. */
static bool heap_grow(uintptr_t npages)
{
    uintptr_t need = npages * PAGE_SIZE, fresh = 0;
    if (need / PAGE_SIZE != npages)
        return false;
    if (mheap_.curend - mheap_.cur < need) {
        uintptr_t n = (need + ARENA_BYTES - 1) & ~(ARENA_BYTES - 1);
        if (n < need)
            return false;
        uintptr_t base = arena_reserve(n);
        if (!base)
            return false;
        if (!arena_add(base, n)) {
            munmap((void *)base, n);
            return false;
        }
        mheap_.arena_hint = base + n;
        if (base == mheap_.curend) {
            mheap_.curend += n;
        } else {
            /* Not contiguous: the rest of the old arena becomes free pages
             * now (they would be lost otherwise). */
            if (mheap_.curend > mheap_.cur) {
                uintptr_t left = (mheap_.curend - mheap_.cur) / PAGE_SIZE;
                mspan *s = span_new();
                if (!s)
                    return false;
                s->base = mheap_.cur;
                s->npages = left;
                pagebits(s->base, left, RELEASED, BITS_SET);
                atomic_fetch_add_explicit(&heapstats.heap_sys, left * PAGE_SIZE, memory_order_relaxed);
                atomic_fetch_add_explicit(&heapstats.heap_released, left * PAGE_SIZE, memory_order_relaxed);
                free_insert(s, 0);
            }
            mheap_.cur = fresh = base;
            mheap_.curend = base + n;
        }
    }
    /* Two kinds of word that are not pointers point at the first page of
     * a region: a pointer one past the end of the mapping below a new
     * reservation (the end of some allocator's chunk, in its globals),
     * and a word whose high half is a heap address's and whose low half a
     * small integer (a 32-bit store over a stale pointer), which points
     * into the first page of a 4 GiB-aligned region, such as the heap's
     * start at 0xc000000000.  The conservative scan would keep whatever
     * lies there through such words: no span ever starts there.  (The page
     * stays reserved address space, never touched.) */
    if ((mheap_.cur == fresh || (mheap_.cur & FAKE_PTR_MASK) == 0) &&
        mheap_.curend - mheap_.cur >= need + PAGE_SIZE)
        mheap_.cur += PAGE_SIZE;
    /* A megabyte at a time, so that small programs stay small; and up to
     * the next such page when what is needed fits before it. */
    uintptr_t grow = need < ((uintptr_t)1 << 20) ? (uintptr_t)1 << 20 : need;
    if (grow > mheap_.curend - mheap_.cur)
        grow = mheap_.curend - mheap_.cur;
    uintptr_t boundary = (mheap_.cur | FAKE_PTR_MASK) + 1;
    if (mheap_.cur + grow > boundary && boundary - mheap_.cur >= need)
        grow = boundary - mheap_.cur;
    mspan *s = span_new();
    if (!s)
        return false;
    s->base = mheap_.cur;
    s->npages = grow / PAGE_SIZE;
    mheap_.cur += grow;
    /* Fresh pages are not backed yet: released, and zero. */
    pagebits(s->base, s->npages, RELEASED, BITS_SET);
    atomic_fetch_add_explicit(&heapstats.heap_sys, grow, memory_order_relaxed);
    atomic_fetch_add_explicit(&heapstats.heap_released, grow, memory_order_relaxed);
    free_insert(s, 0);
    return true;
}

/* ------------------------------------------------------------------ */
/* Allocating and freeing spans                                        */

static void init_span(mspan *s, uint8_t spc)
{
    uint8_t c = spc_class(spc);
    s->spc = spc;
    if (c == 0) {
        s->elemsize = s->npages * PAGE_SIZE;
        s->nelems = 1;
    } else {
        s->elemsize = class_info[c].size;
        s->nelems = class_info[c].nobj;
    }
    s->limit = s->base + s->elemsize * s->nelems;
    s->freeindex = 0;
    atomic_store_explicit(&s->alloccount, 0, memory_order_relaxed);
    s->alloccache = ~(uint64_t)0;
    s->allocbits = gcbits_alloc(s->nelems);
    s->gcmarkbits = gcbits_alloc(s->nelems);
    s->specials = NULL;
}

/* Back a small-object span's released pages now, with a write to each.
 * Left to the program, the first touch of a page may be a read (a write
 * barrier reading the slot it overwrites, a field tested before it is
 * set): the kernel maps its shared zero page, and the write after it
 * faults again and flushes that mapping from every CPU the process runs
 * on.  A small-object span is filled soon anyway; a large object is left
 * alone, as it may be sparse.  Nothing is allocated in s yet, and the
 * bytes are zero or about to be zeroed (needzero). */
static void prefault(mspan *s)
{
    enum { MIN_OS_PAGE = 4096 };
    for (uintptr_t p = s->base; p < s->base + s->npages * PAGE_SIZE; p += MIN_OS_PAGE)
        *(volatile char *)p = 0;
}

mspan *mheap_alloc(uintptr_t npages, uint8_t spc)
{
    if (!atomic_load_explicit(&mheap_.sweepdone, memory_order_acquire))
        sweep_reclaim(npages);
    rtlock_lock(&mheap_.lock);
    mspan *s = treap_find(npages);
    if (!s) {
        if (!heap_grow(npages)) {
            rtlock_unlock(&mheap_.lock);
            return NULL;
        }
        s = treap_find(npages);
        gort_assert(s != NULL);
    }
    treap_remove(s);
    if (s->scavlisted) {
        spanlist_remove(&mheap_.unscav, s);
        s->scavlisted = false;
    }
    if (s->npages > npages) {
        mspan *rest = span_new();
        if (!rest) {
            if (pagebits(s->base, s->npages, RELEASED, BITS_COUNT) < s->npages) {
                s->scavlisted = true;
                spanlist_insert(&mheap_.unscav, s);
            }
            free_insert(s, s->unusedsince);
            rtlock_unlock(&mheap_.lock);
            return NULL;
        }
        rest->base = s->base + npages * PAGE_SIZE;
        rest->npages = s->npages - npages;
        s->npages = npages;
        /* The rest may still hold unreleased pages. */
        if (pagebits(rest->base, rest->npages, RELEASED, BITS_COUNT) < rest->npages) {
            rest->scavlisted = true;
            spanlist_insert(&mheap_.unscav, rest);
        }
        atomic_store_explicit(&rest->state, MSPAN_FREE, memory_order_relaxed);
        rest->unusedsince = s->unusedsince;
        setspan(rest->base, rest);
        setspan(rest->base + (rest->npages - 1) * PAGE_SIZE, rest);
        treap_insert(rest);
    }
    uintptr_t released = pagebits(s->base, s->npages, RELEASED, BITS_COUNT);
    if (released) {
        pagebits(s->base, s->npages, RELEASED, BITS_CLEAR);
        atomic_fetch_sub_explicit(&heapstats.heap_released, released * PAGE_SIZE, memory_order_relaxed);
    }
    s->needzero = pagebits(s->base, s->npages, DIRTY, BITS_COUNT) != 0;
    pagebits(s->base, s->npages, DIRTY, BITS_CLEAR);
    init_span(s, spc);
    atomic_store_explicit(&s->sweepgen, atomic_load_explicit(&mheap_.sweepgen, memory_order_relaxed),
                          memory_order_relaxed);
    for (uintptr_t i = 0; i < npages; i++)
        setspan(s->base + i * PAGE_SIZE, s);
    atomic_fetch_add_explicit(&heapstats.heap_inuse, npages * PAGE_SIZE, memory_order_relaxed);
    atomic_store_explicit(&s->state, MSPAN_INUSE, memory_order_release);
    rtlock_unlock(&mheap_.lock);
    if (released && spc_class(spc) != 0)
        prefault(s);
    sweepbuf_push_swept(s);
    return s;
}

void mheap_free_many(mspan *const *spans, size_t n)
{
    while (n > 0) {
        /* The bitmaps go after the heap lock, each fixalloc's lock taken
         * once for a run of spans whose bitmaps share its size. */
        enum { CHUNK = 32 };
        uint8_t *bits[2 * CHUNK];
        int bucket[CHUNK];
        size_t k = n < CHUNK ? n : CHUNK;
        uint64_t bytes = 0;
        for (size_t i = 0; i < k; i++) {
            bits[2 * i] = spans[i]->allocbits;
            bits[2 * i + 1] = spans[i]->gcmarkbits;
            bucket[i] = gcbits_bucket(spans[i]->nelems);
            bytes += spans[i]->npages * PAGE_SIZE;
        }
        int64_t now = gort_nanotime();
        rtlock_lock(&mheap_.lock);
        for (size_t i = 0; i < k; i++) {
            mspan *s = spans[i];
            /* Lookups (span_of_heap) stop seeing it in use before its bits go. */
            atomic_store_explicit(&s->state, MSPAN_FREE, memory_order_release);
            s->allocbits = s->gcmarkbits = NULL;
            pagebits(s->base, s->npages, DIRTY, BITS_SET);
            s->spc = 0;
            s->nelems = 0;
            s->scavlisted = true;
            spanlist_insert(&mheap_.unscav, s);
            free_insert(s, now);
        }
        atomic_fetch_sub_explicit(&heapstats.heap_inuse, bytes, memory_order_relaxed);
        rtlock_unlock(&mheap_.lock);
        for (size_t i = 0; i < k;) {
            size_t j = i;
            fixalloc *f = &gcbitsalloc[bucket[i]];
            rtlock_lock(&f->lock);
            for (; j < k && bucket[j] == bucket[i]; j++) {
                fixalloc_free_locked(f, bits[2 * j]);
                fixalloc_free_locked(f, bits[2 * j + 1]);
            }
            rtlock_unlock(&f->lock);
            i = j;
        }
        spans += k;
        n -= k;
    }
}

void mheap_free(mspan *s)
{
    mheap_free_many(&s, 1);
}

/* ------------------------------------------------------------------ */
/* Releasing free pages                                                 */

#define PTRBITS_CHUNK ((uintptr_t)4096 * 64)   /* heap bytes per 4 KiB bitmap page */

/* Whether the bitmap page of the chunk at c (PTRBITS_CHUNK-aligned) may go:
 * the chunk lies in [lo, hi), the free span, and all of it is released. */
static bool chunk_released(uintptr_t c, uintptr_t lo, uintptr_t hi)
{
    uintptr_t n = PTRBITS_CHUNK / PAGE_SIZE;
    return c >= lo && c + PTRBITS_CHUNK <= hi && pagebits_find(c, n, RELEASED, false) == n;
}

/* The collector's pointer bitmap goes with the heap it describes: a bitmap
 * page (4 KiB, 256 KiB of heap) when all of its heap is free and released.
 * [a, b) was just released inside the free span [lo, hi); the chunks it
 * completes are those it overlaps, and the two at its ends only if the
 * rest of them was released before.  Runs of bitmap pages go in one call
 * (an arena's bitmap is one array). */
static void release_ptrbits(uintptr_t a, uintptr_t b, uintptr_t lo, uintptr_t hi)
{
    uintptr_t first = a & ~(PTRBITS_CHUNK - 1);
    uintptr_t last = (b + PTRBITS_CHUNK - 1) & ~(PTRBITS_CHUNK - 1);   /* exclusive */
    if (!chunk_released(first, lo, hi))
        first += PTRBITS_CHUNK;
    if (last > first && !chunk_released(last - PTRBITS_CHUNK, lo, hi))
        last -= PTRBITS_CHUNK;
    while (first < last) {
        /* One arena's part of [first, last) at a time. */
        uintptr_t arena_end = (first & ~(uintptr_t)(ARENA_BYTES - 1)) + ARENA_BYTES;
        uintptr_t stop = last < arena_end ? last : arena_end;
        heaparena *ha = arena_of(first);
        /* ptrbits is page-aligned in the page-aligned record, and a chunk
         * maps to a whole bitmap page. */
        uint64_t *w = &ha->ptrbits[(first & (ARENA_BYTES - 1)) / 8 / 64];
        size_t len = (stop - first) / PTRBITS_CHUNK * 4096;
        if (madvise(w, len, MADV_DONTNEED) != 0)
            return;   /* cannot happen for an aligned private mapping; harmless */
        first = stop;
    }
}

/* Release up to maxpages unreleased pages of free span s, starting at its
 * first unreleased page.  mheap.lock held.  Returns pages released; *all
 * says whether none of s is left unreleased. */
static uintptr_t release_some(mspan *s, uintptr_t maxpages, bool *all)
{
    uintptr_t end = s->base + s->npages * PAGE_SIZE;
    uintptr_t skip = pagebits_find(s->base, s->npages, RELEASED, false);
    *all = skip == s->npages;
    if (*all)
        return 0;
    uintptr_t a = s->base + skip * PAGE_SIZE;
    uintptr_t left = s->npages - skip;
    uintptr_t n = pagebits_find(a, left < maxpages ? left : maxpages, RELEASED, true);
    uintptr_t b = a + n * PAGE_SIZE;
    int advice = debug.madvdontneed ? MADV_DONTNEED : MADV_FREE;
    int rc = madvise((void *)a, b - a, advice);
    if (rc != 0 && advice == MADV_FREE) {
        advice = MADV_DONTNEED;   /* a kernel without MADV_FREE */
        rc = madvise((void *)a, b - a, advice);
    }
    /* The pages count as released even when the kernel refused (locked
     * memory): otherwise every pass would find them again.  Only pages
     * the kernel really dropped are known to read zero. */
    pagebits(a, n, RELEASED, BITS_SET);
    if (rc == 0 && advice == MADV_DONTNEED) {
        pagebits(a, n, DIRTY, BITS_CLEAR);
        release_ptrbits(a, b, s->base, end);
    }
    /* Pages before a were released already. */
    *all = b == end || pagebits_find(b, (end - b) / PAGE_SIZE, RELEASED, false) == (end - b) / PAGE_SIZE;
    atomic_fetch_add_explicit(&heapstats.heap_released, n * PAGE_SIZE, memory_order_relaxed);
    atomic_fetch_add_explicit(&heapstats.scav_released_total, n * PAGE_SIZE, memory_order_relaxed);
    return n;
}

uint64_t mheap_scavenge(uint64_t nbytes, int64_t olderthan)
{
    uint64_t released = 0;
    /* The lock is dropped between steps of at most 1 MiB, so that
     * allocation goes on while a large release runs. */
    const uintptr_t step = ((uintptr_t)1 << 20) / PAGE_SIZE;
    for (;;) {
        rtlock_lock(&mheap_.lock);
        mspan *s = mheap_.unscav.first;
        while (s && s->unusedsince > olderthan)
            s = s->next;
        if (!s || released >= nbytes) {
            rtlock_unlock(&mheap_.lock);
            return released;
        }
        uint64_t want = (nbytes - released + PAGE_SIZE - 1) / PAGE_SIZE;
        if (want < SCAV_CHUNK_PAGES)
            want = SCAV_CHUNK_PAGES;
        bool all;
        uintptr_t n = release_some(s, want < step ? want : step, &all);
        if (all) {
            spanlist_remove(&mheap_.unscav, s);
            s->scavlisted = false;
        }
        rtlock_unlock(&mheap_.lock);
        released += n * PAGE_SIZE;
    }
}

/* ------------------------------------------------------------------ */
/* Lookups                                                              */

uintptr_t heap_object_base(uintptr_t p, mspan **spanp, uintptr_t *sizep)
{
    mspan *s = span_of_heap(p);
    if (!s)
        return 0;
    uintptr_t base;
    uint32_t idx;
    if (spc_class(s->spc) == 0) {
        base = s->base;
        idx = 0;
    } else {
        if (p >= s->limit)
            return 0;
        idx = class_objindex(spc_class(s->spc), p - s->base);
        base = s->base + idx * s->elemsize;
    }
    if (idx >= s->freeindex && !((s->allocbits[idx / 8] >> (idx % 8)) & 1))
        return 0;
    if (spanp)
        *spanp = s;
    if (sizep)
        *sizep = s->elemsize;
    return base;
}

/* ------------------------------------------------------------------ */
/* Start                                                                */

uint64_t heap_max_bytes;

void mheap_init(void)
{
    arena_index = sys_map(ARENA_L1_ENTRIES * sizeof(heaparena *), NULL);
    if (!arena_index)
        rt_throw("out of memory reserving the heap's arena index");
    fixalloc_init(&mheap_.spanalloc, sizeof(mspan), &heapstats.mspan_sys);
    fixalloc_init(&mheap_.cachealloc, sizeof(mcache), &heapstats.mcache_sys);
    for (int b = 0; b < 5; b++)
        fixalloc_init(&gcbitsalloc[b], (size_t)8 << b, &heapstats.gc_sys);
    for (int i = 0; i < NUM_SPC; i++)
        mheap_.central[i].spc = (uint8_t)i;
    /* Arenas from 0xc000000000 up, as Go does: easy to recognise. */
    mheap_.arena_hint = (uintptr_t)0xc0 << 32;
    atomic_store_explicit(&mheap_.sweepgen, 2, memory_order_relaxed);
    atomic_store_explicit(&mheap_.sweepdone, 1, memory_order_relaxed);
    /* No single allocation can be larger than RAM and swap together. */
    struct sysinfo si;
    if (sysinfo(&si) == 0)
        heap_max_bytes = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
    if (heap_max_bytes == 0)
        heap_max_bytes = (uint64_t)1 << 40;
}
