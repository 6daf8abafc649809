/*
 * stack.c - goroutine stacks.
 *
 * Go grows a goroutine's stack by copying it.  C cannot: C code keeps
 * pointers into its stack.  So every goroutine gets a fixed reservation
 * (256 KiB by default) of which the kernel commits only the pages that are
 * touched; a parked goroutine that used one page costs one page.
 *
 * Overflow protection is where the design is constrained.  A guard page
 * below a stack makes the stack two kernel mappings (VMAs): the guard and
 * the stack.  Linux refuses to create more than vm.max_map_count mappings
 * (65530 by default), so a million guarded stacks cannot exist.  gort
 * therefore has two kinds of default-size stacks:
 *
 *   guarded  own mapping + PROT_NONE guard page; an overflow faults at once
 *            and the SIGSEGV handler (signal.c) reports it.  At most
 *            guarded_budget of them exist (a quarter of vm.max_map_count,
 *            or GORT_GUARDED_STACKS).
 *   slab     carved 64 at a time from one mapping, no guard.  The bottom 64
 *            bytes of each must stay zero (they are never touched
 *            legitimately, and untouched memory reads as zero without being
 *            committed), and a switched-out goroutine must have 256 bytes of
 *            headroom.  The scheduler checks both whenever the goroutine
 *            switches out or exits, and dies with the stack overflow message.
 *            Detection is after the fact: an overflow may already have
 *            scribbled on the stack below it.
 *
 * Allocation prefers free guarded stacks, then new guarded stacks while the
 * budget lasts, then slab stacks.  Stacks of a non-default size
 * (gort_go_with) get their own mapping, guarded while the budget allows, and
 * are unmapped when their goroutine ends.
 *
 * Pooling: a dead goroutine keeps its stack on its P's free list (hot, no
 * syscalls).  Stacks that move to the global pool have the pages below their
 * top 8 KiB released with MADV_DONTNEED, and stacks returned here lose all of
 * their pages.  Address space stays reserved: re-using it needs no syscall.
 */
#include "stack.h"

#include "gort/gort.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lock.h"
#include "print.h"

#define PAGE 4096
#define SLAB_STACKS 64

size_t stack_default_size = 256 * 1024;

static struct {
    rtlock lock;                   /* protects the free lists and the slab cursor */
    struct stack *free_guarded;
    size_t nfree_guarded, capfree_guarded;
    struct stack *free_slab;
    size_t nfree_slab, capfree_slab;
    uintptr_t slab_next, slab_end; /* unused part of the newest slab */

    uint64_t guarded_budget;       /* fixed after stackinit */
    _Atomic uint64_t guarded_total; /* guarded mappings ever made (custom too) */
    _Atomic uint64_t sys_bytes;    /* reserved by every stack mapping */
    _Atomic uint64_t default_total; /* default-size stacks ever made */
} stackpool;

static size_t parse_size(const char *s, bool *ok)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) {
        *ok = false;
        return 0;
    }
    if (strcmp(end, "KiB") == 0 || strcmp(end, "K") == 0)
        v *= 1024;
    else if (strcmp(end, "MiB") == 0 || strcmp(end, "M") == 0)
        v *= 1024 * 1024;
    else if (*end != '\0') {
        *ok = false;
        return 0;
    }
    *ok = true;
    return (size_t)v;
}

static uint64_t read_max_map_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    unsigned long long v = 65530;
    if (f) {
        if (fscanf(f, "%llu", &v) != 1)
            v = 65530;
        fclose(f);
    }
    return v;
}

void stackinit(void)
{
    const char *s = getenv("GORT_STACK_SIZE");
    if (s && *s) {
        bool ok;
        size_t v = parse_size(s, &ok);
        if (!ok || v < 16 * 1024 || v > (1ull << 30))
            rt_printf("gort: ignoring GORT_STACK_SIZE=%s: want bytes (optionally KiB or MiB) "
                      "between 16KiB and 1GiB\n", s);
        else
            stack_default_size = (v + PAGE - 1) & ~(size_t)(PAGE - 1);
    }
    stackpool.guarded_budget = read_max_map_count() / 4;
    s = getenv("GORT_GUARDED_STACKS");
    if (s && *s) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end)
            rt_printf("gort: ignoring GORT_GUARDED_STACKS=%s: want a count of stacks\n", s);
        else
            stackpool.guarded_budget = v;
    }
}

/* Reserve one guarded stack of size bytes.  0 or -errno. */
static int map_guarded(size_t size, struct stack *st)
{
    void *base = mmap(NULL, size + PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return -errno;
    if (mprotect(base, PAGE, PROT_NONE) != 0) {
        int err = errno;
        munmap(base, size + PAGE);
        return -err;
    }
    st->lo = (uintptr_t)base + PAGE;
    st->hi = st->lo + size;
    st->guarded = true;
    atomic_fetch_add_explicit(&stackpool.sys_bytes, size + PAGE, memory_order_relaxed);
    return 0;
}

static bool take_guarded_budget(void)
{
    uint64_t n = atomic_load_explicit(&stackpool.guarded_total, memory_order_relaxed);
    while (n < stackpool.guarded_budget) {
        if (atomic_compare_exchange_weak_explicit(&stackpool.guarded_total, &n, n + 1,
                                                  memory_order_relaxed, memory_order_relaxed))
            return true;
    }
    return false;
}

static void give_back_guarded_budget(void)
{
    atomic_fetch_sub_explicit(&stackpool.guarded_total, 1, memory_order_relaxed);
}

static bool push(struct stack **arr, size_t *n, size_t *cap, const struct stack *st)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        struct stack *na = realloc(*arr, ncap * sizeof *na);
        if (!na)
            return false;
        *arr = na;
        *cap = ncap;
    }
    (*arr)[(*n)++] = *st;
    return true;
}

/* Carve a slab stack; stackpool.lock held.  0 or -errno. */
static int carve_slab(struct stack *st)
{
    size_t size = stack_default_size;
    if (stackpool.slab_next == stackpool.slab_end) {
        void *base = mmap(NULL, size * SLAB_STACKS, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (base == MAP_FAILED)
            return -errno;
        stackpool.slab_next = (uintptr_t)base;
        stackpool.slab_end = (uintptr_t)base + size * SLAB_STACKS;
        atomic_fetch_add_explicit(&stackpool.sys_bytes, size * SLAB_STACKS, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&stackpool.default_total, 1, memory_order_relaxed);
    st->lo = stackpool.slab_next;
    st->hi = st->lo + size;
    st->guarded = false;
    stackpool.slab_next += size;
    return 0;
}

static int alloc_default(struct stack *st)
{
    rtlock_lock(&stackpool.lock);
    if (stackpool.nfree_guarded > 0) {
        *st = stackpool.free_guarded[--stackpool.nfree_guarded];
        rtlock_unlock(&stackpool.lock);
        return 0;
    }
    rtlock_unlock(&stackpool.lock);

    if (take_guarded_budget()) {
        if (map_guarded(stack_default_size, st) == 0) {
            st->kind = STACK_GUARDED;
            atomic_fetch_add_explicit(&stackpool.default_total, 1, memory_order_relaxed);
            return 0;
        }
        /* Out of mappings or memory: fall back to slab stacks. */
        give_back_guarded_budget();
    }

    rtlock_lock(&stackpool.lock);
    int err = 0;
    if (stackpool.nfree_slab > 0)
        *st = stackpool.free_slab[--stackpool.nfree_slab];
    else
        err = carve_slab(st);
    rtlock_unlock(&stackpool.lock);
    if (err == 0)
        st->kind = STACK_SLAB;
    return err;
}

static int alloc_custom(size_t size, struct stack *st)
{
    size = (size + PAGE - 1) & ~(size_t)(PAGE - 1);
    if (take_guarded_budget()) {
        if (map_guarded(size, st) == 0) {
            st->kind = STACK_CUSTOM;
            return 0;
        }
        give_back_guarded_budget();
    }
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return -errno;
    st->lo = (uintptr_t)base;
    st->hi = st->lo + size;
    st->guarded = false;
    st->kind = STACK_CUSTOM;
    atomic_fetch_add_explicit(&stackpool.sys_bytes, size, memory_order_relaxed);
    return 0;
}

int stackalloc(size_t size, struct stack *st)
{
    if (size == 0 || size == stack_default_size)
        return alloc_default(st);
    return alloc_custom(size, st);
}

void stackrelease(const struct stack *st, bool all)
{
    uintptr_t end = all ? st->hi : st->hi - STACK_KEEP_TOP;
    if (end > st->lo)
        madvise((void *)st->lo, end - st->lo, MADV_DONTNEED);
}

void stackfree(struct stack *st)
{
    if (st->kind == STACK_CUSTOM) {
        uintptr_t base = st->guarded ? st->lo - PAGE : st->lo;
        size_t len = st->hi - base;
        munmap((void *)base, len);
        if (st->guarded)
            give_back_guarded_budget();
        atomic_fetch_sub_explicit(&stackpool.sys_bytes, len, memory_order_relaxed);
        st->kind = STACK_NONE;
        return;
    }
    stackrelease(st, true);
    rtlock_lock(&stackpool.lock);
    bool ok = st->kind == STACK_GUARDED
                  ? push(&stackpool.free_guarded, &stackpool.nfree_guarded,
                         &stackpool.capfree_guarded, st)
                  : push(&stackpool.free_slab, &stackpool.nfree_slab, &stackpool.capfree_slab, st);
    rtlock_unlock(&stackpool.lock);
    if (!ok)
        rt_throw("out of memory for the stack pool's free list");
    st->kind = STACK_NONE;
}

bool stack_overflowed(const struct stack *st, uintptr_t sp)
{
    if (st->kind == STACK_THREAD)
        return false;
    if (sp < st->lo + (st->guarded ? 0 : STACK_SP_MARGIN))
        return true;
    if (st->guarded)
        return false;
    const uint64_t *w = (const uint64_t *)st->lo;
    for (size_t i = 0; i < STACK_CANARY_BYTES / 8; i++)
        if (w[i] != 0)
            return true;
    return false;
}

bool stack_in_guard(const struct stack *st, uintptr_t addr)
{
    /* A frame larger than a page may jump the guard; treat the 64 KiB
     * below lo as overflow too (nothing of ours is mapped there that a
     * goroutine could legitimately touch through its stack pointer). */
    return st->kind != STACK_NONE && st->kind != STACK_THREAD && addr < st->lo &&
           addr >= st->lo - 64 * 1024;
}

void gort_read_stack_stats(gort_stack_stats *out)
{
    memset(out, 0, sizeof *out);
    int64_t inuse[5], bytes;
    stack_inuse_sum(inuse, &bytes);
    out->guarded_inuse = inuse[STACK_GUARDED] > 0 ? (uint64_t)inuse[STACK_GUARDED] : 0;
    out->slab_inuse = inuse[STACK_SLAB] > 0 ? (uint64_t)inuse[STACK_SLAB] : 0;
    out->custom_inuse = inuse[STACK_CUSTOM] > 0 ? (uint64_t)inuse[STACK_CUSTOM] : 0;
    out->guarded_budget = stackpool.guarded_budget;
    out->sys_bytes = atomic_load_explicit(&stackpool.sys_bytes, memory_order_relaxed);
    out->inuse_bytes = bytes > 0 ? (uint64_t)bytes : 0;
    /* Pooled stacks and those kept by dead goroutines for reuse. */
    uint64_t total = atomic_load_explicit(&stackpool.default_total, memory_order_relaxed);
    uint64_t used = out->guarded_inuse + out->slab_inuse;
    out->cached = total > used ? total - used : 0;
}
