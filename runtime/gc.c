/*
 * gc.c - the collector.
 *
 * This is its first form: a complete mark-sweep cycle run by gort_gc()
 * (and gort_free_os_memory), marking with the world stopped.  The sweep
 * that follows is the heap's concurrent one (sweep.c).  What it marks
 * from, conservatively (every aligned word that points into an allocated
 * heap object keeps that object):
 *   - every goroutine's stack from its saved stack pointer up, and the
 *     callee-saved registers of one in a system call (saved by
 *     gort_syscall_enter); the calling goroutine's own registers are
 *     spilled first;
 *   - what the runtime holds for goroutines outside the heap: the start
 *     argument of each goroutine, the arguments of deferred calls, panic
 *     values;
 *   - the writable segments (data, bss) of the executable and of every
 *     loaded shared object;
 *   - the ranges registered with gort_root_add.
 * Heap objects are scanned by their pointer bits: typed objects precisely,
 * gort_alloc objects conservatively, noscan objects not at all.  Pointers
 * held only in malloc'd memory, in thread-local variables, or by threads
 * that are not goroutines are invisible (register such memory as a root).
 *
 * The concurrent mark (write barrier, mark workers, assists, pacer) comes
 * next; the cycle's shape (sweep termination, mark, mark termination,
 * sweep) and its trace line already follow Go's.
 */
#include <link.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "debugvars.h"
#include "malloc.h"
#include "panic.h"
#include "print.h"
#include "proc.h"
#include "sema.h"

/* The collector reads other goroutines' stacks and every global: the
 * sanitizers must not instrument those reads (ASan poisons redzones
 * between globals; TSan would see every read as a race). */
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
}

void gort_root_remove(void *addr)
{
    rtlock_lock(&rootlock);
    for (size_t i = nroots; i-- > 0;) {
        if (roots[i].addr == (uintptr_t)addr) {
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
/* Marking                                                              */

static uintptr_t *work;          /* grey objects: marked, not yet scanned */
static size_t nwork, capwork;
static uint64_t bytes_marked;
static uint64_t stack_bytes, global_bytes;

static void push(uintptr_t obj)
{
    if (nwork == capwork) {
        size_t cap = capwork ? capwork * 2 : 4096;
        uintptr_t *w = realloc(work, cap * sizeof *w);
        if (!w)
            rt_throw("out of memory growing the mark stack");
        work = w;
        capwork = cap;
    }
    work[nwork++] = obj;
}

/* Mark the object v points into, if it is an allocated heap object. */
static inline void shade(uintptr_t v)
{
    if (!arena_of(v))
        return;
    mspan *s;
    uintptr_t base = heap_object_base(v, &s, NULL);
    if (!base)
        return;
    if (!span_setmark(s, base))
        return;
    bytes_marked += s->elemsize;
    if (!spc_noscan(s->spc))
        push(base);
}

NO_SANITIZE static void scan_range(uintptr_t lo, uintptr_t hi)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    for (uintptr_t p = lo; p + 8 <= hi; p += 8)
        shade(*(const uintptr_t *)p);
}

/* Scan a heap object by its pointer bits. */
NO_SANITIZE static void scan_object(uintptr_t base)
{
    mspan *s = span_of_heap(base);
    uintptr_t end = base + s->elemsize;
    for (uintptr_t p = base; p < end; p += 8) {
        if ((p & 511) == 0 && p + 512 <= end) {
            /* A whole bitmap word at once: skip runs without pointers. */
            heaparena *ha = arena_of(p);
            uint64_t bits = ha->ptrbits[(p & (ARENA_BYTES - 1)) / 8 / 64];
            while (bits) {
                unsigned b = (unsigned)__builtin_ctzll(bits);
                shade(*(const uintptr_t *)(p + 8 * b));
                bits &= bits - 1;
            }
            p += 512 - 8;
            continue;
        }
        if (heap_ptrbit(p))
            shade(*(const uintptr_t *)p);
    }
}

static void drain(void)
{
    while (nwork > 0)
        scan_object(work[--nwork]);
}

/* ------------------------------------------------------------------ */
/* Roots                                                                */

static int scan_segments(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
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
        scan_range(lo, lo + ph->p_memsz);
        global_bytes += ph->p_memsz;
    }
    return 0;
}

/* A goroutine's references outside its stack: the start argument, the
 * arguments of its deferred calls, its panic values. */
static void scan_gextra(g_t *gp)
{
    shade((uintptr_t)gp->arg);
    shade((uintptr_t)gp->param);
    for (pframe *f = gp->pframe; f; f = f->parent)
        for (gdefer *d = f->defers; d; d = d->link)
            shade((uintptr_t)d->arg);
    for (gdefer *d = gp->topframe.defers; d; d = d->link)
        shade((uintptr_t)d->arg);
    for (gort_panic_info *p = gp->panickept; p; p = p->kept)
        shade((uintptr_t)p->value);
}

/* Scan every goroutine's stack; self is the collecting goroutine, whose
 * stack is scanned from sp. */
NO_SANITIZE static void scan_stacks(g_t *self, uintptr_t sp)
{
    rtlock_lock(&allglock);
    for (size_t i = 0; i < allglen; i++) {
        g_t *gp = allgs[i];
        uint32_t st = readgstatus(gp) & ~(uint32_t)G_SCAN;
        if (st == G_DEAD || st == G_IDLE)
            continue;
        uintptr_t lo;
        if (gp == self) {
            lo = sp;
        } else if (gp->system) {
            /* The runtime's own goroutines (sweeper, scavenger) hold no
             * heap references, but their parked frames may hold stale
             * words that would keep garbage alive for good. */
            scan_gextra(gp);
            continue;
        } else if (st == G_SYSCALL) {
            lo = gp->syscallsp;
            for (int r = 0; r < 6; r++)
                shade(gp->syscallregs[r]);
        } else {
            /* Stopped at a safe point: its context is saved (a direct
             * switch saves it before the next G can reach one). */
            lo = (uintptr_t)gp->ctx_sp;
            if (!lo)
                rt_throw("GC: goroutine %llu has no saved context", (unsigned long long)gp->goid);
        }
        if (lo >= gp->stack.lo && lo < gp->stack.hi) {
            scan_range(lo, gp->stack.hi);
            stack_bytes += gp->stack.hi - lo;
        }
        scan_gextra(gp);
    }
    rtlock_unlock(&allglock);
}

static void scan_roots(void)
{
    rtlock_lock(&rootlock);
    for (size_t i = 0; i < nroots; i++)
        scan_range(roots[i].addr, roots[i].addr + roots[i].len);
    rtlock_unlock(&rootlock);
}

/* ------------------------------------------------------------------ */
/* Statistics                                                           */

static struct {
    rtlock lock;
    uint32_t numgc, numforced;
    uint64_t pause_total;
    uint64_t pause_ns[256], pause_end[256];
    uint64_t last_gc;              /* ns since the epoch */
    uint64_t last_pause_max;
    uint64_t next_gc;
    int64_t cpu_ns;                /* collector CPU, all cycles */
} gcstats;

static int64_t start_ns;           /* when the heap first collected, for @T */

void gc_read_stats(gort_memstats *ms)
{
    rtlock_lock(&gcstats.lock);
    ms->num_gc = gcstats.numgc;
    ms->num_forced_gc = gcstats.numforced;
    ms->pause_total_ns = gcstats.pause_total;
    memcpy(ms->pause_ns, gcstats.pause_ns, sizeof ms->pause_ns);
    memcpy(ms->pause_end, gcstats.pause_end, sizeof ms->pause_end);
    ms->last_gc = gcstats.last_gc;
    ms->last_pause_max_ns = gcstats.last_pause_max;
    int64_t up = gort_nanotime() - runtime_start_ns;
    ms->gc_cpu_fraction = up > 0 ? (double)gcstats.cpu_ns / ((double)up * ms->gomaxprocs) : 0;
    rtlock_unlock(&gcstats.lock);
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

/* ------------------------------------------------------------------ */
/* A cycle                                                              */

static _Atomic uint32_t gcsema = 1;   /* one cycle at a time */

static int64_t thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * GORT_S + ts.tv_nsec;
}

static uint64_t heap_live(void)
{
    gort_memstats ms;
    gort_read_memstats(&ms);
    return ms.heap_alloc;
}

/* Spill the callee-saved registers into a frame that scan_stacks covers,
 * then mark from every root.  noinline: the jmp_buf must be in a frame
 * below the sp that is scanned from. */
__attribute__((noinline)) NO_SANITIZE static void mark_from_roots(g_t *self)
{
    jmp_buf regs;
    setjmp(regs);
    /* The jmp_buf itself is scanned too: under ASan it may live in a
     * "fake stack" frame off the goroutine's stack.  The frame address is
     * on the real stack, below everything the goroutine's callers hold. */
    scan_range((uintptr_t)&regs, (uintptr_t)(&regs + 1));
    scan_stacks(self, (uintptr_t)__builtin_frame_address(0));
    __asm__ volatile("" : : "r"(&regs) : "memory");
    dl_iterate_phdr(scan_segments, NULL);
    scan_roots();
    drain();
}

static void gc_cycle(bool forced)
{
    g_t *self = getg_or_die("gort_gc");
    semacquire(&gcsema, WR_GC_WORKER_IDLE);
    uint64_t heap0 = heap_live();
    int64_t t0 = gort_nanotime(), c0 = thread_cpu();
    if (start_ns == 0)
        start_ns = runtime_start_ns;

    /* Sweep termination: the world stops, the last cycle's sweep ends. */
    stop_the_world("GC");
    heap_sweepterm_stw();
    int64_t t1 = gort_nanotime(), c1 = thread_cpu();

    /* Mark. */
    bytes_marked = stack_bytes = global_bytes = 0;
    mark_from_roots(self);
    int64_t t2 = gort_nanotime(), c2 = thread_cpu();
    uint64_t heap1 = heap0;             /* nothing is allocated while the world is stopped */

    /* Mark termination: flip to sweeping. */
    heap_flip_stw();
    uint64_t goal = bytes_marked * 2 > ((uint64_t)4 << 20) ? bytes_marked * 2 : (uint64_t)4 << 20;
    int64_t t3 = gort_nanotime(), c3 = thread_cpu();

    rtlock_lock(&gcstats.lock);
    uint64_t pause = (uint64_t)(t3 - t0);
    uint32_t n = gcstats.numgc++;
    if (forced)
        gcstats.numforced++;
    gcstats.pause_ns[n % 256] = pause;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t wall = (uint64_t)now.tv_sec * GORT_S + (uint64_t)now.tv_nsec;
    gcstats.pause_end[n % 256] = wall;
    gcstats.pause_total += pause;
    gcstats.last_gc = wall;
    gcstats.last_pause_max = pause;
    gcstats.next_gc = goal;
    gcstats.cpu_ns += c3 - c0;
    rtlock_unlock(&gcstats.lock);
    int32_t procs = gort_gomaxprocs(0);
    start_the_world();
    bgsweep_wake();

    if (debug.gctrace) {
        char a[16], b[16], c[16], d[16], e[16], f[16], g[16], h[16];
        int64_t up = gort_nanotime() - start_ns;
        int util = 0;
        if (up > 0)
            util = (int)(100.0 * (double)gcstats.cpu_ns / ((double)up * procs));
        rt_printf("gc %u @%lld.%03llds %d%%: %s+%s+%s ms clock, %s+%s/%s/%s+%s ms cpu, "
                  "%llu->%llu->%llu MB, %llu MB goal, %llu MB stacks, %llu MB globals, %d P%s\n",
                  n + 1, (long long)(t0 - start_ns) / GORT_S, (long long)((t0 - start_ns) % GORT_S) / GORT_MS,
                  util, fmt_ms(a, sizeof a, (uint64_t)(t1 - t0)), fmt_ms(b, sizeof b, (uint64_t)(t2 - t1)),
                  fmt_ms(c, sizeof c, (uint64_t)(t3 - t2)), fmt_ms(d, sizeof d, (uint64_t)(c1 - c0)),
                  fmt_ms(e, sizeof e, 0), fmt_ms(f, sizeof f, (uint64_t)(c2 - c1)), fmt_ms(g, sizeof g, 0),
                  fmt_ms(h, sizeof h, (uint64_t)(c3 - c2)), (unsigned long long)(heap0 >> 20),
                  (unsigned long long)(heap1 >> 20), (unsigned long long)(bytes_marked >> 20),
                  (unsigned long long)(goal >> 20), (unsigned long long)(stack_bytes >> 20),
                  (unsigned long long)(global_bytes >> 20), procs, forced ? " (forced)" : "");
    }
    semrelease(&gcsema);
}

uint64_t gc_next_goal(void)
{
    rtlock_lock(&gcstats.lock);
    uint64_t g = gcstats.next_gc;
    rtlock_unlock(&gcstats.lock);
    return g;
}

static void gc_forced(void *arg)
{
    (void)arg;
    gc_cycle(true);
    /* gort_gc returns once the cycle's sweep is done too. */
    sweep_finish();
}

void gort_gc(void)
{
    mallocinit();
    g_t *gp = getg();
    if (gp && gp != &gp->m->g0) {
        gc_forced(NULL);
        return;
    }
    /* A thread that is not a goroutine: a runtime goroutine collects. */
    if (run_on_goroutine(gc_forced, NULL) != 0)
        rt_throw("gort_gc: cannot start a goroutine to collect");
}
