/*
 * proc.c - the goroutine scheduler.
 *
 * Goroutines (G) run on machines (M, OS threads) that hold processors (P).
 * There are exactly GOMAXPROCS Ps; an M must hold a P to run a G, so at most
 * GOMAXPROCS goroutines run at once, while any number of Ms may exist to sit
 * in blocking system calls, wait idle, or stay wired to a locked G.
 *
 * Each P has a local run queue (runq.c) and a timer heap (time.c).  An M
 * with a P loops in schedule(): it takes the P's runnext, then its ring,
 * every 61st tick the global queue first (so that a busy local queue cannot
 * starve the global one), and otherwise findrunnable(), which also looks at
 * the global queue, runs expired timers and steals half of another P's
 * ring.  The loop runs on the M's own thread stack (g0); a goroutine gets
 * there through mcall(), which saves the goroutine and switches to g0 with a
 * request (park, yield, exit) that g0 carries out.
 *
 * Worker parking and unparking.  We want enough running Ms to use every P
 * when there is work, and few enough that idle CPUs are not burnt.  The rule
 * is Go's: when a G becomes runnable and there is an idle P but no spinning
 * M, wake one M (wakep).  A spinning M is one that holds a P and looks for
 * work without having found any; at most half of the busy Ps' worth of Ms
 * spin.  When a spinning M finds work it stops spinning and, if it was the
 * last spinner, wakes another (resetspinning).  An M that finds nothing
 * gives its P back, and only after that re-checks every run queue, so a G
 * made runnable concurrently is never stranded: whoever made it runnable saw
 * either our spinning M or our idle P.
 *
 * Timers.  An M that finds no work while timers are armed sleeps until the
 * earliest one, without a P.  Only one M does so at a time
 * (sched.tsleeper); arming an earlier timer wakes it.  The other idle Ms
 * sleep until handed a P.
 *
 * Blocking system calls.  gort_syscall_enter leaves the P in P_SYSCALL,
 * attached to nobody.  sysmon (sysmon.c) hands it to another M if the call
 * lasts.  gort_syscall_exit takes the old P back if it is still there, else
 * any idle P, else queues the G globally and parks the M.
 *
 * Stop the world.  sched.gcwaiting asks every P to stop; running Gs stop at
 * their next safe point (any runtime call), idle and syscall Ps are taken
 * directly.  Asynchronous preemption of Gs that make no calls is a later
 * addition; until then a G spinning without calls delays stop-the-world.
 *
 * Deadlock detection (gort_main only): when the last M goes idle with no
 * armed timer and goroutines still waiting, nothing can ever wake them.
 */
#include "gc.h"
#include "group.h"
#include "proc.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctx.h"
#if GORT_ASAN
#include <sanitizer/lsan_interface.h>
#endif
#include "debugvars.h"
#include "malloc.h"
#include "panic.h"
#include "print.h"
#include "sema.h"
#include "sighandler.h"
#include "traceback.h"

struct sched sched;
p_t *allp[GORT_MAX_PROCS];
_Atomic int32_t gomaxprocs;
m_t *_Atomic allm;
_Atomic int runtime_state;
rtlock allglock;
g_t **allgs;
size_t allglen;
static size_t allgcap;
__thread g_t *tls_g __attribute__((tls_model("initial-exec")));

enum { RUNTIME_OFF = 0, RUNTIME_RUNNING = 1, RUNTIME_STOPPED = 2 };

/* Dead Gs beyond this many per P move to the global list, half at a time.
 * The global list keeps GFREE_STACK_MAX stacks: sysmon's trim gives the
 * stacks beyond that back to the stack pool.  Giving a stack back releases
 * its pages, a TLB shootdown; a burst of exits that is followed by a burst
 * of spawns would pay that and the page faults of reuse for nothing, so
 * exits give back stacks themselves only beyond GFREE_STACK_HARD. */
enum {
    GFREE_P_MAX = 64,
    GFREE_STACK_MAX = 16384,
    GFREE_STACK_HARD = 4 * GFREE_STACK_MAX,
    GFREE_TRIM_FREE_MAX = 64,     /* stacks one trim gives back at most */
};

static int32_t newprocs;          /* pending GOMAXPROCS (world stopped) */
static int32_t initprocs;         /* GOMAXPROCS before the runtime starts */

static note main_done;            /* gort_main's thread waits here */
static gort_fn main_fn;
static void *main_arg;

static void schedule_loop(m_t *mp) __attribute__((noreturn));
static g_t *findrunnable(bool *inherit);
static void stopm(void);
static p_t *takenextp(m_t *mp);
/* In m->nextp: a stop of the world took the P back before the M woke. */
#define TAKEN_BACK ((p_t *)1)
static void mput(m_t *mp);
static m_t *mget(void);
static void newm(p_t *pp, bool spinning);
static void acquirep(p_t *pp);
static p_t *releasep(void);
static void gfput(p_t *pp, g_t *gp);
static void stoplockedm(void);
static void startlockedm(g_t *gp);
static void gcstopm(void);
static p_t *procresize(int32_t nprocs);
static void wake_timer_sleeper(int64_t when);

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

g_t *getg_or_die(const char *fn)
{
    g_t *gp = getg();
    if (gp == NULL || gp == &gp->m->g0)
        rt_throw("%s called from a thread that is not running a goroutine", fn);
    return gp;
}

uint32_t readgstatus(g_t *gp)
{
    return atomic_load_explicit(&gp->status, memory_order_acquire);
}

/* Change a G's status from oldval to newval, waiting while a dump or scan
 * holds the G_SCAN bit.  Acquire/release: the status transition publishes
 * the G's saved context to whoever sees the new status. */
void casgstatus(g_t *gp, uint32_t oldval, uint32_t newval)
{
    if (oldval == G_RUNNING) {
        /* Only the G's own M changes a running G's status, and scanners
         * never pin one (they pin waiting, runnable and syscall Gs), so
         * no CAS. */
        if (atomic_load_explicit(&gp->status, memory_order_relaxed) != oldval)
            rt_throw("casgstatus: goroutine %llu: bad status %#x, want %#x -> %#x",
                     (unsigned long long)gp->goid, atomic_load(&gp->status), oldval, newval);
        atomic_store_explicit(&gp->status, newval, memory_order_release);
        return;
    }
    uint32_t cur = oldval;
    for (int i = 0;; i++) {
        if (atomic_compare_exchange_weak_explicit(&gp->status, &cur, newval, memory_order_acq_rel,
                                                  memory_order_acquire))
            return;
        if ((cur & ~(uint32_t)G_SCAN) != oldval)
            rt_throw("casgstatus: goroutine %llu: bad status %#x, want %#x -> %#x",
                     (unsigned long long)gp->goid, cur, oldval, newval);
        cur = oldval;
        if (i < 50)
            procyield(10);
        else
            sched_yield();
    }
}

bool castogscanstatus(g_t *gp, uint32_t oldval)
{
    uint32_t cur = oldval;
    return atomic_compare_exchange_strong_explicit(&gp->status, &cur, oldval | G_SCAN,
                                                   memory_order_acquire, memory_order_relaxed);
}

void ungscan(g_t *gp, uint32_t oldval)
{
    atomic_store_explicit(&gp->status, oldval, memory_order_release);
}

uint32_t fastrand(void)
{
    /* wyrand on a per-thread state; threads off the runtime use a TLS seed. */
    static __thread uint64_t local;
    m_t *mp = getm();
    uint64_t *s = mp ? &mp->fastrand : &local;
    *s += 0xa0761d6478bd642full;
    __uint128_t t = (__uint128_t)*s * (*s ^ 0xe7037ed1a0b428dbull);
    return (uint32_t)((uint64_t)(t >> 64) ^ (uint64_t)t);
}

uint32_t fastrandn(uint32_t n)
{
    return (uint32_t)(((uint64_t)fastrand() * n) >> 32);
}

int32_t mcount(void)
{
    return (int32_t)(sched.mnext - sched.nmfreed);
}

static void incidlelocked(int32_t v)
{
    rtlock_lock(&sched.lock);
    sched.nmidlelocked += v;
    if (v > 0)
        checkdead();
    rtlock_unlock(&sched.lock);
}

/* ------------------------------------------------------------------ */
/* Ps                                                                  */

void pidleput(p_t *pp)
{
    if (!runqempty(pp))
        rt_throw("pidleput: P %d has non-empty run queue", pp->id);
    atomic_store_explicit(&pp->status, P_IDLE, memory_order_release);
    pp->link = sched.pidle;
    sched.pidle = pp;
    atomic_fetch_add_explicit(&sched.npidle, 1, memory_order_seq_cst);
}

p_t *pidleget(void)
{
    p_t *pp = sched.pidle;
    if (pp) {
        sched.pidle = pp->link;
        atomic_fetch_sub_explicit(&sched.npidle, 1, memory_order_seq_cst);
        /* A P is busy again: sysmon, asleep since every P went idle,
         * must watch it (preemption, retake).  sysmonwait is written
         * under sched.lock, which the caller holds, so relaxed will do. */
        if (atomic_load_explicit(&sched.sysmonwait, memory_order_relaxed)) {
            atomic_store_explicit(&sched.sysmonwait, 0, memory_order_relaxed);
            notewakeup(&sched.sysmonnote);
        }
    }
    return pp;
}

static void acquirep(p_t *pp)
{
    m_t *mp = getm();
    if (mp->p || atomic_load_explicit(&pp->m, memory_order_relaxed) ||
        atomic_load_explicit(&pp->status, memory_order_relaxed) != P_IDLE)
        rt_throw("acquirep: invalid P state (m=%p p->m=%p status=%u)", (void *)mp->p,
                 (void *)atomic_load(&pp->m), atomic_load(&pp->status));
    mp->p = pp;
    atomic_store_explicit(&pp->m, mp, memory_order_relaxed);
    atomic_store_explicit(&pp->status, P_RUNNING, memory_order_release);
}

static p_t *releasep(void)
{
    m_t *mp = getm();
    p_t *pp = mp->p;
    if (!pp || atomic_load_explicit(&pp->m, memory_order_relaxed) != mp ||
        atomic_load_explicit(&pp->status, memory_order_relaxed) != P_RUNNING)
        rt_throw("releasep: invalid P state");
    mp->p = NULL;
    atomic_store_explicit(&pp->m, NULL, memory_order_relaxed);
    atomic_store_explicit(&pp->status, P_IDLE, memory_order_release);
    return pp;
}

/* ------------------------------------------------------------------ */
/* Ms                                                                  */

static void mput(m_t *mp)
{
    mp->schedlink = sched.midle;
    sched.midle = mp;
    sched.nmidle++;
    checkdead();
}

static m_t *mget(void)
{
    m_t *mp = sched.midle;
    if (mp) {
        sched.midle = mp->schedlink;
        sched.nmidle--;
    }
    return mp;
}

/* Park the current M until another M hands it a P. */
static void stopm(void)
{
    m_t *mp = getm();
    if (mp->p)
        rt_throw("stopm holding p");
    if (mp->spinning)
        rt_throw("stopm spinning");
    p_t *pp;
    do {
        rtlock_lock(&sched.lock);
        mput(mp);
        rtlock_unlock(&sched.lock);
        WRITE_ONCE(mp->blocked, true);
        notesleep(&mp->park);
        WRITE_ONCE(mp->blocked, false);
        noteclear(&mp->park);
    } while (!(pp = takenextp(mp)));   /* a stop of the world took it back */
    acquirep(pp);
}

/* rt_test_wake_delay: how long an M sleeps before it takes its P. */
static _Atomic int64_t test_wake_delay;

/* The P this M was woken or started for, or NULL if a stop of the world
 * took it back first (leaving TAKEN_BACK); then the M is idle again, and
 * no longer counted as spinning. */
static p_t *takenextp(m_t *mp)
{
    int64_t delay = atomic_load_explicit(&test_wake_delay, memory_order_relaxed);
    if (__builtin_expect(delay > 0, 0)) {
        struct timespec ts = {delay / 1000000000, delay % 1000000000};
        nanosleep(&ts, NULL);
    }
    p_t *pp = atomic_exchange_explicit(&mp->nextp, NULL, memory_order_acq_rel);
    if (pp == TAKEN_BACK) {
        WRITE_ONCE(mp->spinning, false);
        return NULL;
    }
    if (!pp)
        rt_throw("M %lld woken without a P", (long long)mp->id);
    atomic_store_explicit(&pp->wakem, NULL, memory_order_relaxed);
    return pp;
}

/* The process's name (its first thread's), which every M takes: a new
 * thread inherits its creator's name, and an M started from a foreign
 * thread that readied a goroutine (a daemon's job thread, say) would go
 * on wearing that thread's name in ps and top long after it is gone. */
static char process_name[16];

static void read_process_name(void)
{
    FILE *f = fopen("/proc/self/comm", "re");
    if (!f)
        return;
    if (fgets(process_name, sizeof process_name, f))
        process_name[strcspn(process_name, "\n")] = '\0';
    else
        process_name[0] = '\0';
    fclose(f);
}

static void *mstart(void *arg)
{
    m_t *mp = arg;
    mp->g0.m = mp;
    tls_g = &mp->g0;
    mp->tid = (pid_t)syscall(SYS_gettid);
    if (process_name[0])
        pthread_setname_np(pthread_self(), process_name);

    pthread_attr_t attr;
    void *stk;
    size_t stksize;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &stk, &stksize);
        pthread_attr_destroy(&attr);
        mp->g0.stack.lo = (uintptr_t)stk;
        mp->g0.stack.hi = (uintptr_t)stk + stksize;
    }
    mp->g0.stack.kind = STACK_THREAD;
#if GORT_TSAN
    mp->g0.tsan_fiber = __tsan_get_current_fiber();
#endif
    minit_signals(mp);

    p_t *pp = takenextp(mp);
    if (pp)
        acquirep(pp);
    else
        stopm();
    schedule_loop(mp);
}

/* Create an M that starts with pp (and spinning if so). */
static void newm(p_t *pp, bool spinning)
{
    m_t *mp = calloc(1, sizeof *mp);
    if (!mp)
        rt_throw("out of memory allocating an M");
    atomic_store_explicit(&mp->nextp, pp, memory_order_relaxed);
    WRITE_ONCE(mp->spinning, spinning);
    mp->g0.status = G_RUNNING;
    mp->fastrand = (uint64_t)(uintptr_t)mp ^ (uint64_t)nanotime();

    rtlock_lock(&sched.lock);
    if (mcount() >= sched.maxmcount) {
        int32_t max = sched.maxmcount;
        rtlock_unlock(&sched.lock);
        rt_printf("runtime: program exceeds %d-thread limit\n", max);
        rt_throw("thread exhaustion");
    }
    mp->id = sched.mnext++;
    atomic_store_explicit(&pp->wakem, mp, memory_order_relaxed);
    mp->alllink = atomic_load_explicit(&allm, memory_order_relaxed);
    /* Release: readers walking allm see a fully built M. */
    atomic_store_explicit(&allm, mp, memory_order_release);
    rtlock_unlock(&sched.lock);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int err = pthread_create(&mp->thread, &attr, mstart, mp);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        rt_printf("runtime: failed to create new OS thread (have %d already; errno=%d)\n",
                  mcount(), err);
        rt_throw("newosproc");
    }
}

/* Give pp to an M: an idle one, or a new one.  pp NULL means any idle P;
 * with none, nothing happens.  spinning: the caller already counted the new
 * M in nmspinning. */
void startm(p_t *pp, bool spinning)
{
    rtlock_lock(&sched.lock);
    if (!pp) {
        pp = pidleget();
        if (!pp) {
            rtlock_unlock(&sched.lock);
            if (spinning)
                atomic_fetch_sub_explicit(&sched.nmspinning, 1, memory_order_seq_cst);
            return;
        }
    }
    m_t *nmp = mget();
    if (nmp) {
        if (nmp->p || atomic_load_explicit(&nmp->nextp, memory_order_relaxed))
            rt_throw("startm: m has p");
        WRITE_ONCE(nmp->spinning, spinning);
        atomic_store_explicit(&nmp->nextp, pp, memory_order_release);
        atomic_store_explicit(&pp->wakem, nmp, memory_order_relaxed);
    }
    rtlock_unlock(&sched.lock);
    if (!nmp) {
        newm(pp, spinning);
        return;
    }
    notewakeup(&nmp->park);
}

/* pp lost its M (syscall, locked M, exit): find it a new one if it has or
 * may soon have work, else park it. */
void handoffp(p_t *pp)
{
    if (__builtin_expect(gc_marking(), 0) && gc_p_has_work(pp)) {
        startm(pp, false);
        return;
    }
    if (!runqempty(pp) || atomic_load_explicit(&sched.runqsize, memory_order_relaxed) != 0) {
        startm(pp, false);
        return;
    }
    int32_t zero = 0;
    if (atomic_load_explicit(&sched.nmspinning, memory_order_seq_cst) +
                atomic_load_explicit(&sched.npidle, memory_order_seq_cst) == 0 &&
        atomic_compare_exchange_strong_explicit(&sched.nmspinning, &zero, 1, memory_order_seq_cst,
                                                memory_order_relaxed)) {
        startm(pp, true);
        return;
    }
    rtlock_lock(&sched.lock);
    if (atomic_load_explicit(&sched.gcwaiting, memory_order_acquire)) {
        atomic_store_explicit(&pp->status, P_GCSTOP, memory_order_release);
        if (--sched.stopwait == 0)
            notewakeup(&sched.stopnote);
        rtlock_unlock(&sched.lock);
        return;
    }
    if (atomic_load_explicit(&sched.runqsize, memory_order_relaxed) != 0) {
        rtlock_unlock(&sched.lock);
        startm(pp, false);
        return;
    }
    int64_t when = atomic_load_explicit(&pp->timers.first, memory_order_acquire);
    pidleput(pp);
    rtlock_unlock(&sched.lock);
    if (when != 0)
        wake_timer_sleeper(when);
}

/* A G became runnable: make sure some M will look for it. */
void wakep(void)
{
    if (atomic_load_explicit(&sched.npidle, memory_order_seq_cst) == 0)
        return;
    int32_t zero = 0;
    if (atomic_load_explicit(&sched.nmspinning, memory_order_seq_cst) != 0 ||
        !atomic_compare_exchange_strong_explicit(&sched.nmspinning, &zero, 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return;
    startm(NULL, true);
}

static void resetspinning(void)
{
    m_t *mp = getm();
    WRITE_ONCE(mp->spinning, false);
    int32_t n = atomic_fetch_sub_explicit(&sched.nmspinning, 1, memory_order_seq_cst) - 1;
    if (n < 0)
        rt_throw("findrunnable: negative nmspinning");
    /* We found work; if we were the last spinner, get another M looking. */
    wakep();
}

/* An earlier timer exists at when: wake the M sleeping on timers if it
 * would sleep past it, or get an M to become that sleeper. */
static void wake_timer_sleeper(int64_t when)
{
    if (when >= atomic_load_explicit(&sched.tsleep_until, memory_order_acquire)) {
        return;
    }
    rtlock_lock(&sched.lock);
    m_t *mp = sched.tsleeper;
    if (mp && when < atomic_load_explicit(&sched.tsleep_until, memory_order_relaxed)) {
        sched.tsleeper = NULL;
        atomic_store_explicit(&sched.tsleep_until, INT64_MAX, memory_order_release);
        notewakeup(&mp->park);
        rtlock_unlock(&sched.lock);
        return;
    }
    rtlock_unlock(&sched.lock);
    if (!mp)
        wakep();
}

void timer_armed(int64_t when)
{
    wake_timer_sleeper(when);
}

/* ------------------------------------------------------------------ */
/* The scheduler loop                                                  */

/* A G that switched directly to another G (gosched_direct) is on the
 * global queue before gort_ctx_switch has stored its stack pointer; its
 * ctx_sp reads NULL until then.  The window is a few instructions long. */
static inline void wait_ctx_saved(g_t *gp)
{
    while (__atomic_load_n(&gp->ctx_sp, __ATOMIC_ACQUIRE) == NULL)
        procyield(1);
#if GORT_TSAN
    __tsan_acquire(&gp->ctx_sp);
#endif
}

/* Start a new time slice on pp: a preemption request was for the old one. */
static inline void newslice(p_t *pp)
{
    /* Owner-only writes; sysmon reads both. */
    atomic_store_explicit(&pp->schedtick, atomic_load_explicit(&pp->schedtick, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&pp->preempt, false, memory_order_relaxed);
}

/* gp is about to run on pp, in a new time slice or in the current one
 * (inherit: it came from runnext).  A G that inherits a slice sysmon found
 * over is asked to yield at its first safe point, so that a chain of
 * short goroutines spawning each other cannot keep a request from landing
 * (each one would otherwise start with a clear flag). */
static inline void slicestart(p_t *pp, g_t *gp, bool inherit)
{
    if (!inherit)
        newslice(pp);
    /* A stop of the world that began while gp was being picked flagged
     * the Gs running then, not gp: gp stops at its first safe point. */
    bool stop = atomic_load_explicit(&pp->preempt, memory_order_relaxed) ||
                atomic_load_explicit(&sched.gcwaiting, memory_order_relaxed);
    atomic_store_explicit(&gp->preempt, stop, memory_order_relaxed);
}

/* Run gp on the current M until some G of this M comes back through
 * mcall; returns the G the mcall handler wants run next, or NULL. */
static g_t *execute(m_t *mp, g_t *gp, bool inherit)
{
    atomic_store_explicit(&mp->curg, gp, memory_order_relaxed);
    WRITE_ONCE(gp->m, mp);
    casgstatus(gp, G_RUNNABLE, G_RUNNING);
    slicestart(mp->p, gp, inherit);
    tls_g = gp;
    wait_ctx_saved(gp);
    ctx_switch(&mp->g0, gp, false);
    tls_g = &mp->g0;
    /* Gs may have switched among themselves (gosched_direct) since; the
     * one that came back here is the M's current G. */
    gp = atomic_load_explicit(&mp->curg, memory_order_relaxed);
    if (gp->stack.kind == STACK_SLAB && stack_overflowed(&gp->stack, (uintptr_t)gp->ctx_sp))
        rt_throw_nodump("stack overflow in goroutine %llu%s%s%s", (unsigned long long)gp->goid,
                        gp->label ? " (" : "", gp->label ? gp->label : "", gp->label ? ")" : "");
    void (*fn)(g_t *) = mp->mcall_fn;
    mp->mcall_fn = NULL;
    return ((g_t * (*)(g_t *))(void *)fn)(gp);
}

/* Switch from the running G to g0 and run fn(gp) there.  fn returns the G
 * to run next on this M (possibly gp itself) or NULL to schedule. */
/* First thing a G does when it resumes: if the G before it on this M
 * parked by switching straight here, finish that park now that its
 * context is saved: run its unlock callback, which makes it visible to
 * wakers.  A callback that refuses the park queues the G again. */
static void finish_switch(void)
{
    m_t *mp = tls_g->m;
    g_t *prev = mp->parked_prev;
    if (!prev)
        return;
    mp->parked_prev = NULL;
    bool (*unlockf)(g_t *, void *) = mp->waitunlockf;
    void *arg = mp->waitlock;
    mp->waitunlockf = NULL;
    mp->waitlock = NULL;
    if (unlockf && !unlockf(prev, arg)) {
        casgstatus(prev, G_WAITING, G_RUNNABLE);
        runqput(mp->p, prev, false);
    }
}

static void mcall(g_t *(*fn)(g_t *gp), bool dying)
{
    g_t *gp = getg();
    m_t *mp = gp->m;
    mp->mcall_fn = (void (*)(g_t *))(void *)fn;
    ctx_switch(gp, &mp->g0, dying);
    finish_switch();
}

/* Pick the next G to run on this M; blocks until there is one. */
static g_t *schedule(bool *inherit)
{
    m_t *mp = getm();
    if (mp->locks)
        rt_throw("schedule: holding locks");
    if (mp->lockedg) {
        stoplockedm();
        *inherit = false;
        return mp->lockedg;
    }
top:;
    p_t *pp = mp->p;
    if (atomic_load_explicit(&sched.gcwaiting, memory_order_acquire)) {
        gcstopm();
        goto top;
    }
    int64_t first = atomic_load_explicit(&pp->timers.first, memory_order_acquire);
    if (first != 0) {
        bool ran;
        checktimers(pp, nanotime(), &ran);
    }
    g_t *gp = NULL;
    *inherit = false;
    /* While the collector marks, this P's mark worker may be due, and the
     * collector may want its grey objects. */
    if (__builtin_expect(gc_marking(), 0)) {
        gc_p_flushreq(pp);
        gp = gc_findworker(pp, false);
    }
    /* Fairness: every 61st tick the global queue goes first. */
    if (!gp && atomic_load_explicit(&pp->schedtick, memory_order_relaxed) % 61 == 0 &&
        atomic_load_explicit(&sched.runqsize, memory_order_relaxed) > 0) {
        rtlock_lock(&sched.lock);
        gp = globrunqget(pp, 1);
        rtlock_unlock(&sched.lock);
    }
    if (!gp)
        gp = runqget(pp, inherit);
    if (!gp)
        gp = findrunnable(inherit);
    if (mp->spinning)
        resetspinning();
    if (gp->lockedm) {
        startlockedm(gp);
        goto top;
    }
    return gp;
}

static _Noreturn void schedule_loop(m_t *mp)
{
    g_t *next = NULL;
    bool inherit = false;
    for (;;) {
        if (!next)
            next = schedule(&inherit);
        next = execute(mp, next, inherit);
        inherit = true;
    }
}

/* Run expired timers of every P; true if any ran (Gs may be runnable on
 * our P now). */
static bool runalltimers(int64_t now)
{
    bool any = false;
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_acquire);
    for (int32_t i = 0; i < procs; i++) {
        p_t *p2 = allp[i];
        int64_t w = atomic_load_explicit(&p2->timers.first, memory_order_acquire);
        if (w != 0 && w <= now) {
            bool ran = false;
            checktimers(p2, now, &ran);
            any |= ran;
        }
    }
    return any;
}

static g_t *stealwork(p_t *pp)
{
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_acquire);
    for (int round = 0; round < 4; round++) {
        bool last = round == 3;
        /* A random start and a stride coprime with procs visit every P
         * once in an order that differs between thieves. */
        uint32_t start = fastrandn((uint32_t)procs);
        uint32_t stride = 1;
        if (procs > 1) {
            stride = 1 + fastrandn((uint32_t)procs - 1);
            while (true) {
                uint32_t a = stride, b = (uint32_t)procs;
                while (b) {
                    uint32_t t = a % b;
                    a = b;
                    b = t;
                }
                if (a == 1)
                    break;
                stride = stride % (uint32_t)procs + 1;
            }
        }
        for (int32_t i = 0, pos = (int32_t)start; i < procs; i++, pos = (int32_t)((pos + stride) % (uint32_t)procs)) {
            if (atomic_load_explicit(&sched.gcwaiting, memory_order_acquire))
                return NULL;
            p_t *p2 = allp[pos];
            if (p2 == pp)
                continue;
            if (atomic_load_explicit(&p2->status, memory_order_relaxed) == P_IDLE)
                continue;
            g_t *gp = runqsteal(pp, p2, last);
            if (gp)
                return gp;
        }
    }
    return NULL;
}

/* Find a runnable G: local queue, global queue, timers, stealing.  With
 * nothing anywhere, give the P up and sleep. */
static g_t *findrunnable(bool *inherit)
{
    m_t *mp = getm();
top:;
    p_t *pp = mp->p;
    *inherit = false;
    if (atomic_load_explicit(&sched.gcwaiting, memory_order_acquire)) {
        gcstopm();
        goto top;
    }
    g_t *gp = runqget(pp, inherit);
    if (gp)
        return gp;
    if (atomic_load_explicit(&sched.runqsize, memory_order_relaxed) != 0) {
        rtlock_lock(&sched.lock);
        gp = globrunqget(pp, 0);
        rtlock_unlock(&sched.lock);
        if (gp)
            return gp;
    }
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_acquire);
    if (mp->spinning || 2 * atomic_load_explicit(&sched.nmspinning, memory_order_seq_cst) <
                            procs - atomic_load_explicit(&sched.npidle, memory_order_seq_cst)) {
        if (!mp->spinning) {
            WRITE_ONCE(mp->spinning, true);
            atomic_fetch_add_explicit(&sched.nmspinning, 1, memory_order_seq_cst);
        }
        gp = stealwork(pp);
        if (gp)
            return gp;
    }
    int64_t now = nanotime();
    if (runalltimers(now))
        goto top;

    /* Nothing to do: mark, if the collector has work. */
    if (__builtin_expect(gc_marking(), 0) && (gp = gc_findworker(pp, true)) != NULL)
        return gp;

    /* Nothing to do: give up the P. */
    if (__builtin_expect(gc_marking(), 0))
        gc_p_idle(pp);
    rtlock_lock(&sched.lock);
    if (atomic_load_explicit(&sched.gcwaiting, memory_order_acquire)) {
        rtlock_unlock(&sched.lock);
        goto top;
    }
    if (atomic_load_explicit(&sched.runqsize, memory_order_relaxed) != 0) {
        gp = globrunqget(pp, 0);
        rtlock_unlock(&sched.lock);
        return gp;
    }
    if (releasep() != pp)
        rt_throw("findrunnable: wrong p");
    pidleput(pp);
    rtlock_unlock(&sched.lock);

    /* A G made runnable after our last look found us spinning (so it did
     * not wake anyone) or found our P idle.  Now that we are neither, look
     * once more at every run queue, the global one included: a thread
     * that is not an M queues there (newproc, goready), then reads
     * nmspinning; we dropped it before this look, so one of us sees the
     * other. */
    if (mp->spinning) {
        WRITE_ONCE(mp->spinning, false);
        if (atomic_fetch_sub_explicit(&sched.nmspinning, 1, memory_order_seq_cst) - 1 < 0)
            rt_throw("findrunnable: negative nmspinning");
        for (int32_t i = -1; i < procs; i++) {
            bool work = i < 0 ? atomic_load_explicit(&sched.runqsize, memory_order_seq_cst) != 0
                              : !runqempty(allp[i]);
            if (work) {
                rtlock_lock(&sched.lock);
                pp = pidleget();
                rtlock_unlock(&sched.lock);
                if (pp) {
                    acquirep(pp);
                    WRITE_ONCE(mp->spinning, true);
                    atomic_fetch_add_explicit(&sched.nmspinning, 1, memory_order_seq_cst);
                    goto top;
                }
                break;
            }
        }
    }

    /* Sleep until the earliest timer if nobody else does.  The earliest
     * timer is read under sched.lock: whoever arms an earlier one either
     * armed it before we look or finds us registered (wake_timer_sleeper). */
    rtlock_lock(&sched.lock);
    int64_t next = timesleepuntil();
    if (next == 0) {
        rtlock_unlock(&sched.lock);
    } else {
        int64_t until = atomic_load_explicit(&sched.tsleep_until, memory_order_relaxed);
        if (sched.tsleeper == NULL || next < until) {
            if (sched.tsleeper)
                notewakeup(&sched.tsleeper->park);   /* it re-evaluates */
            sched.tsleeper = mp;
            atomic_store_explicit(&sched.tsleep_until, next, memory_order_release);
            rtlock_unlock(&sched.lock);
            int64_t wait = next - nanotime();
            WRITE_ONCE(mp->blocked, true);
            if (wait > 0)
                notetsleep(&mp->park, wait);
            WRITE_ONCE(mp->blocked, false);
            rtlock_lock(&sched.lock);
            if (sched.tsleeper == mp) {
                sched.tsleeper = NULL;
                atomic_store_explicit(&sched.tsleep_until, INT64_MAX, memory_order_release);
            }
            /* Whoever woke us did so under this lock, so the note is
             * final now. */
            noteclear(&mp->park);
            pp = pidleget();
            rtlock_unlock(&sched.lock);
            if (pp) {
                acquirep(pp);
                goto top;
            }
        } else {
            rtlock_unlock(&sched.lock);
        }
    }
    stopm();
    goto top;
}

/* ------------------------------------------------------------------ */
/* Parking, readying, yielding, exiting                                */

static g_t *park_m(g_t *gp)
{
    m_t *mp = gp->m;
    bool (*unlockf)(g_t *, void *) = mp->waitunlockf;
    void *arg = mp->waitlock;
    mp->waitunlockf = NULL;
    mp->waitlock = NULL;
    casgstatus(gp, G_RUNNING, G_WAITING);
    atomic_store_explicit(&mp->curg, NULL, memory_order_relaxed);
    WRITE_ONCE(gp->m, NULL);
    if (unlockf && !unlockf(gp, arg)) {
        casgstatus(gp, G_WAITING, G_RUNNABLE);
        return gp;
    }
    return NULL;
}

/* Switch from gp, already given up (queued or parked), straight to next
 * on this M, setting next up as execute() would.  Returns when gp is
 * resumed, by execute() or another direct switch, perhaps on another M. */
static void switch_direct(m_t *mp, g_t *gp, g_t *next, bool inherit)
{
    atomic_store_explicit(&mp->curg, next, memory_order_relaxed);
    WRITE_ONCE(next->m, mp);
    casgstatus(next, G_RUNNABLE, G_RUNNING);
    slicestart(mp->p, next, inherit);
    tls_g = next;
    wait_ctx_saved(next);
    ctx_switch(gp, next, false);
    finish_switch();
}

/* Park gp by switching straight to the G in its P's runnext, the common
 * case of a hand-off (a channel send readied the receiver, then blocked
 * itself), without the trip through g0.  The unlock callback runs on the
 * next G (finish_switch), after gp's context is saved.  False when the
 * scheduler must choose instead. */
static bool park_direct(g_t *gp)
{
    m_t *mp = gp->m;
    p_t *pp = mp->p;
    /* While the collector marks, schedule() decides: the P's mark worker
     * may be due. */
    if (mp->lockedg || atomic_load_explicit(&pp->timers.first, memory_order_relaxed) != 0 ||
        atomic_load_explicit(&sched.gcwaiting, memory_order_relaxed) || gc_marking())
        return false;
    /* Every 61st tick schedule() serves the global queue first. */
    if (atomic_load_explicit(&pp->schedtick, memory_order_relaxed) % 61 == 0 &&
        atomic_load_explicit(&sched.runqsize, memory_order_relaxed) > 0)
        return false;
    if (gp->stack.kind == STACK_SLAB &&
        stack_overflowed(&gp->stack, (uintptr_t)__builtin_frame_address(0)))
        return false; /* execute() reports it */
    g_t *next = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
    if (!next || next->lockedm ||
        !atomic_compare_exchange_strong_explicit(&pp->runnext, &next, NULL, memory_order_acquire,
                                                 memory_order_relaxed))
        return false;             /* empty, wired elsewhere, or stolen */
    /* Cleared before the status publishes it: whoever sees it waiting
     * (a dump, the collector) waits for the new one, never reads the old. */
    __atomic_store_n(&gp->ctx_sp, NULL, __ATOMIC_RELAXED);
    casgstatus(gp, G_RUNNING, G_WAITING);
    WRITE_ONCE(gp->m, NULL);
    mp->parked_prev = gp;

    /* As execute(next, inherit): runnext inherits the time slice. */
    switch_direct(mp, gp, next, true);
    return true;
}

void gopark(bool (*unlockf)(g_t *gp, void *arg), void *arg, waitreason reason)
{
    g_t *gp = getg();
    m_t *mp = gp->m;
    if (mp->locks)
        rt_throw("gopark: holding runtime locks");
    mp->waitunlockf = unlockf;
    mp->waitlock = arg;
    WRITE_ONCE(gp->waitreason, (uint8_t)reason);
    WRITE_ONCE(gp->waitsince, coarsetime());
    if (!park_direct(gp))
        mcall(park_m, false);
}

/* Queue gp from a thread without a P (not an M, or an M without one):
 * on the global queue, then a full fence so that the caller's wakep looks
 * at nmspinning only after the G is visible (see the recheck in
 * findrunnable: one of the two sees the other). */
static void readyforeign(g_t *gp)
{
    rtlock_lock(&sched.lock);
    globrunqput(gp);
    rtlock_unlock(&sched.lock);
    atomic_thread_fence(memory_order_seq_cst);
}

static void ready(g_t *gp, bool next)
{
    casgstatus(gp, G_WAITING, G_RUNNABLE);
    m_t *mp = getm();
    p_t *pp = mp ? mp->p : NULL;
    if (pp) {
        runqput(pp, gp, next);
    } else {
        readyforeign(gp);
    }
    wakep();
}

void goready(g_t *gp)
{
    ready(gp, true);
}

void goready_tail(g_t *gp)
{
    ready(gp, false);
}

static g_t *yield_m(g_t *gp, bool preempted)
{
    m_t *mp = gp->m;
    p_t *pp = mp->p;
    casgstatus(gp, G_RUNNING, G_RUNNABLE);
    atomic_store_explicit(&mp->curg, NULL, memory_order_relaxed);
    WRITE_ONCE(gp->m, NULL);
    /* When schedule() would find nothing locally and go to the global
     * queue anyway, take the next G in the same critical section.  A G
     * whose time slice ran out goes to the global queue too, but the P
     * goes on with its own queue first (as schedule() does): handing over
     * to the global queue's oldest G instead let two Ps trade their
     * preempted Gs through it for good and never run their own queues. */
    (void)preempted;
    bool direct = runqempty(pp) && !mp->lockedg &&
                  atomic_load_explicit(&pp->timers.first, memory_order_relaxed) == 0 &&
                  !atomic_load_explicit(&sched.gcwaiting, memory_order_relaxed);
    rtlock_lock(&sched.lock);
    /* Handing over to the global queue's oldest G is fair only if there
     * is one besides gp: otherwise gp would take itself back and starve
     * its own P's queue (runnext above all). */
    if (atomic_load_explicit(&sched.runqsize, memory_order_relaxed) == 0 && !runqempty(pp))
        direct = false;
    /* While the collector marks, schedule() decides (the P's mark worker
     * may be due). */
    if (gc_marking())
        direct = false;
    globrunqput(gp);
    /* globrunqget moves extra Gs into the local ring under sched.lock;
     * with a non-empty ring that could overflow back into the global
     * queue and take the lock again, so then take just one. */
    g_t *next = direct ? globrunqget(pp, runqempty(pp) ? 0 : 1) : NULL;
    rtlock_unlock(&sched.lock);
    if (next && next->lockedm) {
        /* Wired to another M: let schedule() hand it over. */
        runqput(pp, next, true);
        return NULL;
    }
    if (next)
        newslice(pp);   /* and execute() runs next in that slice */
    return next;
}

static g_t *gosched_m(g_t *gp)
{
    return yield_m(gp, false);
}

static g_t *preempt_m(g_t *gp)
{
    return yield_m(gp, true);
}

void safepoint(void)
{
    g_t *gp = getg();
    if (!gp || gp == &gp->m->g0 || gp->m->locks)
        return;
    /* A mark worker found us running: our stack is scanned here, by us,
     * rather than after a trip through the run queue. */
    if (atomic_load_explicit(&gp->gcscanreq, memory_order_relaxed) &&
        atomic_exchange_explicit(&gp->gcscanreq, false, memory_order_acq_rel))
        gc_selfscan(gp);
    /* The collector asked for this P's grey objects, and set preempt to
     * bring us here: handing them over is all it wanted.  Yielding as
     * well would send this goroutine through the run queues, and perhaps
     * wake a thread, just as the collector is about to stop the world. */
    bool flushed = gp->m->p && gc_p_flushreq(gp->m->p);
    if (atomic_load_explicit(&sched.gcwaiting, memory_order_relaxed) ||
        (!flushed && atomic_load_explicit(&gp->preempt, memory_order_relaxed))) {
        atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
        mcall(preempt_m, false);
    } else if (flushed) {
        atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
    }
}

void gort_safepoint(void)
{
    getg_or_die("gort_safepoint");
    safepoint();
}

static void mexit(m_t *mp);

static g_t *goexit0(g_t *gp)
{
    m_t *mp = gp->m;
    p_t *pp = mp->p;
    casgstatus(gp, G_RUNNING, G_DEAD);
    if (gp->system)
        atomic_fetch_sub_explicit(&sched.ngsys, 1, memory_order_relaxed);
    else
        pcount_add(&pp->ngoroutines, -1);
    if (gp->limited) {
        atomic_fetch_sub_explicit(&sched.nlimited, 1, memory_order_relaxed);
        gp->limited = false;
    }
    pcount_add(&pp->stackinuse[gp->stack.kind], -1);
    pcount_add(&pp->stackbytes, -(int64_t)(gp->stack.hi - gp->stack.lo));
    bool locked = gp->lockedm != NULL;
    if (locked) {
        WRITE_ONCE(gp->lockedm, NULL);
        WRITE_ONCE(mp->lockedg, NULL);
        gp->locked_ext = gp->locked_int = 0;
    }
    WRITE_ONCE(gp->m, NULL);
    atomic_store_explicit(&mp->curg, NULL, memory_order_relaxed);
    WRITE_ONCE(gp->label, NULL);
    group_leave(gp);
    atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
    panic_gfree(gp);
    /* A goroutine that used all of the kept top 8 KiB of its stack gives
     * the pages below back now.  The probe is the lowest word of the kept
     * top, so reading it maps at most the zero page into a page that is
     * never released: a probe below the kept top would fault again after
     * every release, and make each release a TLB shootdown. */
    if (gp->stack.kind == STACK_GUARDED || gp->stack.kind == STACK_SLAB) {
        volatile uint64_t *probe = (uint64_t *)(gp->stack.hi - STACK_KEEP_TOP);
        if (*probe != 0) {
            stackrelease(&gp->stack, false);
            *probe = 0;
        }
    }
    gfput(pp, gp);
    if (locked) {
        /* The goroutine may have left its thread in an odd state (that
         * is often why it locked it); retire the thread. */
        mexit(mp);
    }
    return NULL;
}

void goexit1(void)
{
    mcall(goexit0, true);
    rt_throw("goexit1: dead goroutine resumed");
}

void gort_gostart(g_t *gp)
{
#if GORT_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    finish_switch();
    gp->fn(gp->arg);
    if (gp->deferused && gp->topframe.defers)
        pframe_top_return(gp);
    goexit1();
}

/* A locked G exited: hand the P on and end this thread. */
static void mexit(m_t *mp)
{
    p_t *pp = releasep();
    handoffp(pp);
    rtlock_lock(&sched.lock);
    WRITE_ONCE(mp->dead, true);
    sched.nmfreed++;
    checkdead();
    rtlock_unlock(&sched.lock);
    munit_signals(mp);
    tls_g = NULL;
    pthread_exit(NULL);
}

/* ------------------------------------------------------------------ */
/* Creating goroutines                                                 */

/* Gs are 64-byte aligned; the common path of a goroutine's life touches
 * only the first two lines (see struct g). */
_Static_assert(offsetof(g_t, schedlink) == 64, "struct g: line 1 starts at schedlink");
_Static_assert(offsetof(g_t, deferused) < 128, "struct g: deferused is on line 1");
_Static_assert(offsetof(g_t, waitsince) == 128, "struct g: line 2 starts at waitsince");

static g_t *galloc(void)
{
    static rtlock galloclock;   /* protects the chunk cursor */
    static char *chunk, *chunkend;
    size_t sz = (sizeof(g_t) + 63) & ~(size_t)63;
    rtlock_lock(&galloclock);
    if (!chunk || chunk + sz > chunkend) {
        size_t len = 1 << 20;
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            rtlock_unlock(&galloclock);
            return NULL;
        }
        chunk = p;
        chunkend = chunk + len;
#if GORT_ASAN
        /* Gs point at malloc'd records (deferred calls, panics) that the
         * leak checker must see as reachable. */
        __lsan_register_root_region(p, len);
#endif
    }
    g_t *gp = (g_t *)chunk;
    chunk += sz;
    rtlock_unlock(&galloclock);
    return gp;
}

static int allgadd(g_t *gp)
{
    rtlock_lock(&allglock);
    if (allglen == allgcap) {
        size_t ncap = allgcap ? allgcap * 2 : 1024;
        g_t **na = realloc(allgs, ncap * sizeof *na);
        if (!na) {
            rtlock_unlock(&allglock);
            return -ENOMEM;
        }
        allgs = na;
        allgcap = ncap;
    }
    gp->allg_index = allglen;
    allgs[allglen++] = gp;
    rtlock_unlock(&allglock);
    return 0;
}

/* The global free lists are stacks of batches.  A batch is a chain of Gs
 * through schedlink that ends in NULL; its first G holds its length and
 * the next batch.  A P refills its empty list with a whole batch without
 * touching the Gs in it: they died on other CPUs, and walking the chain
 * under gflock would be one cache miss after another.  stack picks the
 * list of Gs that keep a stack or the one of Gs without; the helpers keep
 * its count.  gflock held throughout. */
static g_t **gflist(bool stack)
{
    return stack ? &sched.gfree_stack : &sched.gfree_nostack;
}

static void gfcount_add(bool stack, int32_t n)
{
    _Atomic int32_t *count = stack ? &sched.ngfree_stack : &sched.ngfree_nostack;
    atomic_store_explicit(count, atomic_load_explicit(count, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Push the batch head (n Gs); stacks pushed are not trimmed yet. */
static void gfglobal_put(g_t *head, int32_t n, bool stack)
{
    g_t **list = gflist(stack);
    head->gfbatch_next = *list;
    head->gfbatch_n = n;
    *list = head;
    gfcount_add(stack, n);
    if (stack)
        sched.gfree_dirty += n;
}

/* Pop a whole batch, its length in *n; NULL when the list is empty. */
static g_t *gfglobal_get(bool stack, int32_t *n)
{
    g_t **list = gflist(stack);
    g_t *head = *list;
    if (!head)
        return NULL;
    *list = head->gfbatch_next;
    *n = head->gfbatch_n;
    gfcount_add(stack, -*n);
    if (stack && sched.gfree_dirty > sched.ngfree_stack)
        sched.gfree_dirty = sched.ngfree_stack;
    return head;
}

/* Pop one G; the rest of its batch stays a batch. */
static g_t *gfglobal_get_one(bool stack)
{
    g_t **list = gflist(stack);
    g_t *gp = *list;
    if (!gp)
        return NULL;
    if (gp->gfbatch_n > 1) {
        g_t *next = gp->schedlink;
        next->gfbatch_next = gp->gfbatch_next;
        next->gfbatch_n = gp->gfbatch_n - 1;
        *list = next;
    } else {
        *list = gp->gfbatch_next;
    }
    gp->schedlink = NULL;
    gfcount_add(stack, -1);
    return gp;
}

/* Put a G without a stack on the global list. */
static void gfput_global_nostack(g_t *gp)
{
    gp->schedlink = NULL;
    rtlock_lock(&sched.gflock);
    gfglobal_put(gp, 1, false);
    rtlock_unlock(&sched.gflock);
}

/* A new G with a stack of size bytes (0 = default). */
static g_t *malg(size_t size, int *err)
{
    g_t *gp = galloc();
    if (!gp) {
        *err = -ENOMEM;
        return NULL;
    }
    atomic_store_explicit(&gp->status, G_DEAD, memory_order_relaxed);
    *err = stackalloc(size, &gp->stack);
    if (*err) {
        /* Keep the G for reuse; it has no stack. */
        gfput_global_nostack(gp);
        return NULL;
    }
#if GORT_TSAN
    gp->tsan_fiber = __tsan_create_fiber(0);
#endif
    *err = allgadd(gp);
    if (*err) {
        stackfree(&gp->stack);
        return NULL;
    }
    return gp;
}

static void gfput(p_t *pp, g_t *gp)
{
    if (gp->stack.kind == STACK_CUSTOM)
        stackfree(&gp->stack);
    gp->schedlink = pp->gfree;
    pp->gfree = gp;
    WRITE_ONCE(pp->gfreecnt, pp->gfreecnt + 1);
    if (pp->gfreecnt < GFREE_P_MAX)
        return;
    /* Move half to the global lists.  Stacks beyond the hard cap go back
     * to the stack pool (their pages released); sysmon does the same
     * beyond the soft cap and trims the pages of the rest (gfree_trim). */
    g_t *stk = NULL, *stktail = NULL, *nostk = NULL, *nostktail = NULL;
    int32_t nstk = 0, nnostk = 0;
    while (pp->gfreecnt > GFREE_P_MAX / 2) {
        g_t *g1 = pp->gfree;
        pp->gfree = g1->schedlink;
        WRITE_ONCE(pp->gfreecnt, pp->gfreecnt - 1);
        g1->schedlink = NULL;
        if (g1->stack.kind != STACK_NONE) {
            if (stktail)
                stktail->schedlink = g1;
            else
                stk = g1;
            stktail = g1;
            nstk++;
        } else {
            if (nostktail)
                nostktail->schedlink = g1;
            else
                nostk = g1;
            nostktail = g1;
            nnostk++;
        }
    }
    rtlock_lock(&sched.gflock);
    if (nstk && sched.ngfree_stack + nstk > GFREE_STACK_HARD) {
        rtlock_unlock(&sched.gflock);
        for (g_t *g1 = stk; g1; g1 = g1->schedlink)
            stackfree(&g1->stack);
        if (nostktail)
            nostktail->schedlink = stk;
        else
            nostk = stk;
        nostktail = stktail;
        nnostk += nstk;
        stk = NULL;
        nstk = 0;
        rtlock_lock(&sched.gflock);
    }
    if (stk)
        gfglobal_put(stk, nstk, true);
    if (nostk)
        gfglobal_put(nostk, nnostk, false);
    rtlock_unlock(&sched.gflock);
}

/* A dead G from pp's free list (refilled from the global lists), with a
 * stack of size bytes.  NULL with *err when none can be had. */
static g_t *gfget(p_t *pp, size_t size, int *err)
{
    g_t *gp = NULL;
    *err = 0;
    if (pp && !pp->gfree &&
        (atomic_load_explicit(&sched.ngfree_stack, memory_order_relaxed) != 0 ||
         atomic_load_explicit(&sched.ngfree_nostack, memory_order_relaxed) != 0)) {
        rtlock_lock(&sched.gflock);
        int32_t n = 0;
        g_t *b = gfglobal_get(true, &n);
        if (!b)
            b = gfglobal_get(false, &n);
        if (b) {
            pp->gfree = b;
            WRITE_ONCE(pp->gfreecnt, n);
        }
        rtlock_unlock(&sched.gflock);
    }
    if (pp && pp->gfree) {
        gp = pp->gfree;
        pp->gfree = gp->schedlink;
        WRITE_ONCE(pp->gfreecnt, pp->gfreecnt - 1);
        /* The next G out is usually in another CPU's cache (it died
         * there): start moving the two lines newproc writes now. */
        if (pp->gfree) {
            __builtin_prefetch(pp->gfree, 1);
            __builtin_prefetch((char *)pp->gfree + 64, 1);
        }
    } else if (!pp) {
        rtlock_lock(&sched.gflock);
        if (!(gp = gfglobal_get_one(true)))
            gp = gfglobal_get_one(false);
        rtlock_unlock(&sched.gflock);
    }
    if (!gp)
        return NULL;
    bool want_default = size == 0 || size == stack_default_size;
    bool has_default = gp->stack.kind == STACK_GUARDED || gp->stack.kind == STACK_SLAB;
    if (gp->stack.kind != STACK_NONE && !(want_default && has_default)) {
        /* Wrong size: trade it in. */
        stackfree(&gp->stack);
    }
    if (gp->stack.kind == STACK_NONE) {
        *err = stackalloc(size, &gp->stack);
        if (*err) {
            gfput_global_nostack(gp);
            return NULL;
        }
        if (gp->allg_index == 0 && (allglen == 0 || allgs[0] != gp)) {
            /* never registered: a G whose first stack allocation failed */
            *err = allgadd(gp);
            if (*err)
                return NULL;
#if GORT_TSAN
            gp->tsan_fiber = __tsan_create_fiber(0);
#endif
        }
    }
    return gp;
}

/* Lay out the initial frame: gort_ctx_switch "returns" into the trampoline
 * with gp in r12 (see arch/amd64.S for the frame layout).  The frame is
 * the 64 bytes of one cache line: written here and read by the M that
 * first runs the goroutine, usually on another CPU, it moves once. */
static void gostartframe(g_t *gp)
{
    uint64_t *top = (uint64_t *)((gp->stack.hi - 64) & ~(uintptr_t)63);
    top[-1] = (uint64_t)(uintptr_t)gort_ctx_trampoline;
    top[-2] = 0;                        /* rbp: ends frame-pointer walks */
    top[-3] = 0;                        /* rbx */
    top[-4] = (uint64_t)(uintptr_t)gp;  /* r12 */
    top[-5] = 0;                        /* r13 */
    top[-6] = 0;                        /* r14 */
    top[-7] = 0;                        /* r15 */
    uint32_t ctl[2] = {0x1f80, 0x037f}; /* default MXCSR and x87 control */
    memcpy(&top[-8], ctl, sizeof ctl);
    gp->ctx_sp = &top[-8];
}

static uint64_t newgoid(p_t *pp)
{
    enum { GOID_BATCH = 16 };
    if (!pp)
        return atomic_fetch_add_explicit(&sched.goidgen, 1, memory_order_relaxed) + 1;
    if (pp->goidcache == pp->goidcacheend) {
        /* Relaxed: ids only need to be unique. */
        pp->goidcache = atomic_fetch_add_explicit(&sched.goidgen, GOID_BATCH, memory_order_relaxed) + 1;
        pp->goidcacheend = pp->goidcache + GOID_BATCH;
    }
    return pp->goidcache++;
}

int newproc(gort_fn fn, void *arg, size_t stacksize, const char *label, struct gort_group *group, bool system, void *gopc,
            g_t **out)
{
    if (atomic_load_explicit(&runtime_state, memory_order_acquire) != RUNTIME_RUNNING)
        return -ESRCH;
    g_t *cur = getg();
    m_t *mp = cur ? cur->m : NULL;
    if (mp)
        WRITE_ONCE(mp->locks, mp->locks + 1);
    p_t *pp = mp ? mp->p : NULL;
    bool user = cur && cur != &cur->m->g0;

    /* The goroutine limit, when one is set, is enforced with a shared
     * counter; the common unlimited case touches only per-P counters. */
    bool limited = false;
    if (!system) {
        int64_t max = atomic_load_explicit(&sched.maxgoroutines, memory_order_relaxed);
        if (max > 0) {
            int64_t n = atomic_fetch_add_explicit(&sched.nlimited, 1, memory_order_relaxed);
            if (n >= max || gort_num_goroutine() >= max) {
                atomic_fetch_sub_explicit(&sched.nlimited, 1, memory_order_relaxed);
                if (mp)
                    WRITE_ONCE(mp->locks, mp->locks - 1);
                return -EAGAIN;
            }
            limited = true;
        }
    }
    int err = 0;
    g_t *gp = gfget(pp, stacksize, &err);
    if (!gp && !err)
        gp = malg(stacksize, &err);
    if (!gp) {
        if (limited)
            atomic_fetch_sub_explicit(&sched.nlimited, 1, memory_order_relaxed);
        if (mp)
            WRITE_ONCE(mp->locks, mp->locks - 1);
        return err ? err : -ENOMEM;
    }
    gostartframe(gp);
    gp->fn = fn;
    gp->arg = arg;
    /* A goroutine born while the collector marks is never scanned: its
     * argument is greyed now (it may come from a stack scanned already). */
    if (__builtin_expect(gc_marking(), 0))
        gc_shade((uintptr_t)arg);
    WRITE_ONCE(gp->goid, newgoid(pp));   /* schedtrace lists dead gs too */
    WRITE_ONCE(gp->parent_goid, user ? cur->goid : 0);
    WRITE_ONCE(gp->gopc, gopc);
    WRITE_ONCE(gp->label, label ? label : (user ? cur->label : NULL));
    group_join(gp, system ? NULL : group ? group : user ? cur->group : NULL);
    WRITE_ONCE(gp->system, system);   /* dumps read it under allglock only */
    WRITE_ONCE(gp->waitreason, WR_ZERO);
    gp->limited = limited;
    int64_t stackbytes = (int64_t)(gp->stack.hi - gp->stack.lo);
    if (pp) {
        if (!system)
            pcount_add(&pp->ngoroutines, 1);
        pcount_add(&pp->stackinuse[gp->stack.kind], 1);
        pcount_add(&pp->stackbytes, stackbytes);
    } else {
        if (system)
            atomic_fetch_add_explicit(&sched.ngsys, 1, memory_order_relaxed);
        else
            atomic_fetch_add_explicit(&sched.ngoroutines, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&sched.stackinuse[gp->stack.kind], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&sched.stackbytes, stackbytes, memory_order_relaxed);
    }
    casgstatus(gp, G_DEAD, G_RUNNABLE);
    if (out)
        *out = gp;
    if (pp) {
        runqput(pp, gp, true);
    } else {
        readyforeign(gp);
    }
    wakep();
    if (mp)
        WRITE_ONCE(mp->locks, mp->locks - 1);
    return 0;
}

/* gort_go from a thread that is not a goroutine: such a thread can bring
 * work at any time, so deadlock detection goes off for good, before the
 * new goroutine exists (it might block at once). */
static void note_foreign_spawner(void)
{
    g_t *gp = getg();
    if (!gp || gp == &gp->m->g0)
        atomic_store_explicit(&sched.foreign_go, true, memory_order_relaxed); /* published by newproc's sched.lock */
}

int gort_go(gort_fn fn, void *arg)
{
    if (!fn)
        return -EINVAL;
    note_foreign_spawner();
    /* The safe point comes first, as Go's is the function's prologue: a
     * goroutine stopped here has not queued its child yet, so a chain of
     * goroutines each spawning the next and exiting leaves its P's queue
     * empty when its time slice ends, and the global queue gets served. */
    safepoint();
    return newproc(fn, arg, 0, NULL, NULL, false, __builtin_return_address(0), NULL);
}

int gort_go_with(gort_fn fn, void *arg, const gort_go_opts *opts)
{
    if (!fn)
        return -EINVAL;
    size_t size = opts ? opts->stack_size : 0;
    if (size != 0 && (size < 16 * 1024 || size > (1ull << 30)))
        return -EINVAL;
    note_foreign_spawner();
    safepoint();   /* first, as in gort_go */
    return newproc(fn, arg, size, opts ? opts->label : NULL, opts ? opts->group : NULL, false, __builtin_return_address(0), NULL);
}

/* ------------------------------------------------------------------ */
/* System calls                                                        */

/* gort_syscall_enter (arch/amd64.S) lands here with the caller's
 * callee-saved registers at regs[0..5] and its return address at regs[6]. */
void syscall_enter_regs(void *unused, uintptr_t *regs)
{
    (void)unused;
    g_t *gp = getg_or_die("gort_syscall_enter");
    m_t *mp = gp->m;
    p_t *pp = mp->p;
    if (mp->oldp || !pp)
        rt_throw("gort_syscall_enter: already in a system call");
    group_pause(gp);
    memcpy(gp->syscallregs, regs, sizeof gp->syscallregs);
    gp->syscallsp = (uintptr_t)(regs + 7);   /* the caller's sp after the call */
    pp->nsyscall++;
    casgstatus(gp, G_RUNNING, G_SYSCALL);
    atomic_fetch_add_explicit(&pp->syscalltick, 1, memory_order_relaxed);
    mp->oldp = pp;
    mp->p = NULL;
    atomic_store_explicit(&pp->m, NULL, memory_order_relaxed);
    /* Release: sysmon or STW that takes the P sees our writes to it. */
    atomic_store_explicit(&pp->status, P_SYSCALL, memory_order_seq_cst);
    if (atomic_load_explicit(&sched.sysmonwait, memory_order_seq_cst))
        sysmon_wake();
    if (atomic_load_explicit(&sched.gcwaiting, memory_order_seq_cst)) {
        rtlock_lock(&sched.lock);
        uint32_t s = P_SYSCALL;
        if (sched.stopwait > 0 &&
            atomic_compare_exchange_strong_explicit(&pp->status, &s, P_GCSTOP, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            if (--sched.stopwait == 0)
                notewakeup(&sched.stopnote);
        }
        rtlock_unlock(&sched.lock);
    }
}

static g_t *exitsyscall0(g_t *gp)
{
    m_t *mp = gp->m;
    casgstatus(gp, G_SYSCALL, G_RUNNABLE);
    atomic_store_explicit(&mp->curg, NULL, memory_order_relaxed);
    WRITE_ONCE(gp->m, NULL);
    rtlock_lock(&sched.lock);
    p_t *pp = NULL;
    if (!atomic_load_explicit(&sched.gcwaiting, memory_order_acquire))
        pp = pidleget();
    if (!pp)
        globrunqput(gp);
    rtlock_unlock(&sched.lock);
    if (pp) {
        acquirep(pp);
        return gp;
    }
    if (mp->lockedg) {
        stoplockedm();
        return gp;
    }
    stopm();
    return NULL;
}

void gort_syscall_exit(void)
{
    g_t *gp = getg_or_die("gort_syscall_exit");
    m_t *mp = gp->m;
    p_t *oldp = mp->oldp;
    if (!oldp || (readgstatus(gp) & ~(uint32_t)G_SCAN) != G_SYSCALL)
        rt_throw("gort_syscall_exit without gort_syscall_enter");
    mp->oldp = NULL;
    uint32_t s = P_SYSCALL;
    if (atomic_compare_exchange_strong_explicit(&oldp->status, &s, P_IDLE, memory_order_acq_rel,
                                                memory_order_relaxed)) {
        acquirep(oldp);
        casgstatus(gp, G_SYSCALL, G_RUNNING);
        group_resume(gp);
        safepoint();
        return;
    }
    if (atomic_load_explicit(&sched.npidle, memory_order_seq_cst) > 0 &&
        !atomic_load_explicit(&sched.gcwaiting, memory_order_acquire)) {
        rtlock_lock(&sched.lock);
        p_t *pp = atomic_load_explicit(&sched.gcwaiting, memory_order_acquire) ? NULL : pidleget();
        rtlock_unlock(&sched.lock);
        if (pp) {
            acquirep(pp);
            casgstatus(gp, G_SYSCALL, G_RUNNING);
            group_resume(gp);
            if (atomic_load_explicit(&sched.sysmonwait, memory_order_seq_cst))
                sysmon_wake();
            return;
        }
    }
    mcall(exitsyscall0, false);
}

/* ------------------------------------------------------------------ */
/* LockOSThread                                                        */

void gort_lock_os_thread(void)
{
    g_t *gp = getg_or_die("gort_lock_os_thread");
    if (gp->locked_ext == UINT32_MAX)
        rt_throw("LockOSThread nesting overflow");
    gp->locked_ext++;
    WRITE_ONCE(gp->lockedm, gp->m);
    WRITE_ONCE(gp->m->lockedg, gp);
}

void gort_unlock_os_thread(void)
{
    g_t *gp = getg_or_die("gort_unlock_os_thread");
    if (gp->locked_ext == 0)
        return;
    if (--gp->locked_ext == 0 && gp->locked_int == 0) {
        WRITE_ONCE(gp->m->lockedg, NULL);
        WRITE_ONCE(gp->lockedm, NULL);
    }
}

/* Our locked G is not runnable: give the P away and sleep until someone
 * hands us a P together with the G. */
static void stoplockedm(void)
{
    m_t *mp = getm();
    if (mp->p) {
        p_t *pp = releasep();
        handoffp(pp);
    }
    incidlelocked(1);
    WRITE_ONCE(mp->blocked, true);
    notesleep(&mp->park);
    WRITE_ONCE(mp->blocked, false);
    noteclear(&mp->park);
    acquirep(atomic_exchange_explicit(&mp->nextp, NULL, memory_order_acq_rel));
}

/* gp is locked to another M: hand it our P and go idle. */
static void startlockedm(g_t *gp)
{
    m_t *mp = getm();
    m_t *lm = gp->lockedm;
    if (lm == mp)
        rt_throw("startlockedm: locked to me");
    if (atomic_load_explicit(&lm->nextp, memory_order_relaxed))
        rt_throw("startlockedm: m has p");
    incidlelocked(-1);
    /* The locked M wakes in stoplockedm and runs exactly gp, its lockedg:
     * no stop of the world takes this P back (wakem stays NULL). */
    p_t *pp = releasep();
    atomic_store_explicit(&lm->nextp, pp, memory_order_release);
    notewakeup(&lm->park);
    stopm();
}

/* ------------------------------------------------------------------ */
/* Stop the world                                                      */

/* Ask the goroutine on every other running P to stop at its next safe
 * point.  Not our own: the caller stops the world and starts it again,
 * and a request left on it would cut its next slice short for nothing
 * (the collector's goroutine, marking right after, stopped at once). */
void preemptall(void)
{
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_acquire);
    m_t *self = getm();
    for (int32_t i = 0; i < procs; i++) {
        p_t *pp = allp[i];
        if (pp == self->p || atomic_load_explicit(&pp->status, memory_order_acquire) != P_RUNNING)
            continue;
        m_t *mp = atomic_load_explicit(&pp->m, memory_order_acquire);
        g_t *gp = mp ? atomic_load_explicit(&mp->curg, memory_order_relaxed) : NULL;
        if (gp)
            atomic_store_explicit(&gp->preempt, true, memory_order_relaxed);
    }
}

static void gcstopm(void)
{
    m_t *mp = getm();
    if (!atomic_load_explicit(&sched.gcwaiting, memory_order_acquire))
        rt_throw("gcstopm: not waiting for gc");
    if (mp->spinning) {
        WRITE_ONCE(mp->spinning, false);
        atomic_fetch_sub_explicit(&sched.nmspinning, 1, memory_order_seq_cst);
    }
    p_t *pp = releasep();
    rtlock_lock(&sched.lock);
    atomic_store_explicit(&pp->status, P_GCSTOP, memory_order_release);
    if (--sched.stopwait == 0)
        notewakeup(&sched.stopnote);
    rtlock_unlock(&sched.lock);
    stopm();
}

/* CPUs this process may use, counted at start; and how long a stop of
 * the world watches for the last P before it sleeps. */
static int32_t sched_ncpu;
#define STW_SPIN_NS (50 * 1000)
#define STW_REPREEMPT_NS (5 * 1000)

static void stop_the_world_locked(void)
{
    m_t *mp = getm();
    rtlock_lock(&sched.lock);
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_relaxed);
    sched.stopwait = procs;
    atomic_store_explicit(&sched.gcwaiting, 1, memory_order_seq_cst);
    preemptall();
    atomic_store_explicit(&mp->p->status, P_GCSTOP, memory_order_release);
    sched.stopwait--;
    for (int32_t i = 0; i < procs; i++) {
        p_t *pp = allp[i];
        uint32_t s = P_SYSCALL;
        if (atomic_compare_exchange_strong_explicit(&pp->status, &s, P_GCSTOP, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            atomic_fetch_add_explicit(&pp->syscalltick, 1, memory_order_relaxed);
            sched.stopwait--;
        }
    }
    p_t *pp;
    while ((pp = pidleget())) {
        atomic_store_explicit(&pp->status, P_GCSTOP, memory_order_release);
        sched.stopwait--;
    }
    /* A P handed to an M that has not woken yet: take it back rather than
     * wait for the thread to be scheduled, which may take hundreds of
     * microseconds on a busy host.  The M finds TAKEN_BACK and sleeps
     * again.  Its spinning flag, set by startm under sched.lock, stops
     * counting now: a wakep after the world starts must not take the
     * sleeper for a spinning M. */
    for (int32_t i = 0; i < procs; i++) {
        pp = allp[i];
        m_t *wm = atomic_load_explicit(&pp->wakem, memory_order_relaxed);
        if (!wm || atomic_load_explicit(&pp->status, memory_order_acquire) != P_IDLE)
            continue;
        /* Read before the swap: after it, the M may clear its flag. */
        bool spinning = READ_ONCE(wm->spinning);
        p_t *want = pp;
        if (!atomic_compare_exchange_strong_explicit(&wm->nextp, &want, TAKEN_BACK,
                                                     memory_order_acq_rel, memory_order_relaxed))
            continue;   /* the M took it: it stops at gcstopm */
        if (spinning)
            atomic_fetch_sub_explicit(&sched.nmspinning, 1, memory_order_seq_cst);
        atomic_store_explicit(&pp->wakem, NULL, memory_order_relaxed);
        atomic_store_explicit(&pp->status, P_GCSTOP, memory_order_release);
        sched.stopwait--;
        atomic_fetch_add_explicit(&sched.ntakenback, 1, memory_order_relaxed);
    }
    bool wait = sched.stopwait > 0;
    rtlock_unlock(&sched.lock);
    /* The Ps still running stop within microseconds, at their next safe
     * point; waking from a futex takes tens of them, and all of it is
     * pause.  With a CPU to spare, watch for a while first. */
    if (wait && sched_ncpu > 1) {
        /* Flag the running Gs again as we watch: one that a P began to
         * run just as the stop began may have missed the first round. */
        int64_t deadline = nanotime() + STW_SPIN_NS;
        while (wait && nanotime() < deadline) {
            if (notespin(&sched.stopnote, STW_REPREEMPT_NS)) {
                noteclear(&sched.stopnote);
                wait = false;
            } else {
                preemptall();
            }
        }
    }
    if (wait) {
        for (;;) {
            if (notetsleep(&sched.stopnote, 100 * 1000)) {
                noteclear(&sched.stopnote);
                break;
            }
            preemptall();
        }
    }
    for (int32_t i = 0; i < procs; i++)
        if (atomic_load_explicit(&allp[i]->status, memory_order_acquire) != P_GCSTOP)
            rt_throw("stopTheWorld: not stopped (P %d status %u)", i, atomic_load(&allp[i]->status));
}

void stop_the_world(const char *reason)
{
    g_t *gp = getg_or_die("stop_the_world");
    (void)reason;
    semacquire(&sched.worldsema, WR_STOPPING_THE_WORLD);
    WRITE_ONCE(gp->m->locks, gp->m->locks + 1);
    stop_the_world_locked();
}

int64_t start_the_world(void)
{
    m_t *mp = getm();
    rtlock_lock(&sched.lock);
    int32_t procs = newprocs ? newprocs : atomic_load_explicit(&gomaxprocs, memory_order_relaxed);
    newprocs = 0;
    p_t *runnable = procresize(procs);
    atomic_store_explicit(&sched.gcwaiting, 0, memory_order_seq_cst);
    if (atomic_load_explicit(&sched.sysmonwait, memory_order_relaxed)) {
        atomic_store_explicit(&sched.sysmonwait, 0, memory_order_relaxed);
        notewakeup(&sched.sysmonnote);
    }
    rtlock_unlock(&sched.lock);
    /* The pause ends here: waking a thread may hand this one's CPU to it
     * for a while, and the world runs meanwhile. */
    int64_t now = nanotime();
    while (runnable) {
        p_t *pp = runnable;
        runnable = pp->link;
        pp->link = NULL;
        startm(pp, false);
    }
    wakep();
    WRITE_ONCE(mp->locks, mp->locks - 1);
    semrelease(&sched.worldsema);
    return now;
}

static void pinit(p_t *pp, int32_t id)
{
    pp->id = id;
    __atomic_store_n(&pp->mcache, mcache_new(), __ATOMIC_RELEASE);
    atomic_store_explicit(&pp->status, P_GCSTOP, memory_order_relaxed);
}

/* Resize to nprocs Ps.  sched.lock held, world stopped (or not started).
 * Returns the Ps with queued work that need an M, linked through link. */
static p_t *procresize(int32_t nprocs)
{
    int32_t old = atomic_load_explicit(&gomaxprocs, memory_order_relaxed);
    for (int32_t i = 0; i < nprocs; i++) {
        if (!allp[i]) {
            p_t *pp = aligned_alloc(64, (sizeof(p_t) + 63) & ~(size_t)63);
            if (!pp)
                rt_throw("out of memory allocating a P");
            memset(pp, 0, sizeof *pp);
            pinit(pp, i);
            allp[i] = pp;
        } else if (atomic_load_explicit(&allp[i]->status, memory_order_relaxed) == P_DEAD) {
            atomic_store_explicit(&allp[i]->status, P_GCSTOP, memory_order_relaxed);
        }
    }
    m_t *mp = getm();
    p_t *keep = NULL;
    if (mp && mp->p && mp->p->id < nprocs) {
        keep = mp->p;
        atomic_store_explicit(&keep->status, P_RUNNING, memory_order_release);
    } else if (mp && mp->p) {
        atomic_store_explicit(&mp->p->m, NULL, memory_order_relaxed);
        mp->p = NULL;
        keep = allp[0];
        atomic_store_explicit(&keep->m, NULL, memory_order_relaxed);
        atomic_store_explicit(&keep->status, P_IDLE, memory_order_relaxed);
        acquirep(keep);
    }
    for (int32_t i = nprocs; i < old; i++) {
        p_t *pp = allp[i];
        runqdrain_to_global(pp);
        movetimers(keep ? keep : allp[0], pp);
        while (pp->gfree) {
            g_t *gp = pp->gfree;
            pp->gfree = gp->schedlink;
            WRITE_ONCE(pp->gfreecnt, pp->gfreecnt - 1);
            gp->schedlink = NULL;
            rtlock_lock(&sched.gflock);
            gfglobal_put(gp, 1, gp->stack.kind != STACK_NONE);
            rtlock_unlock(&sched.gflock);
        }
        /* Its spans go back to their mcentrals; its counters stay for
         * gort_read_memstats. */
        mcache_release_all(pp->mcache);
        atomic_store_explicit(&pp->m, NULL, memory_order_relaxed);
        atomic_store_explicit(&pp->status, P_DEAD, memory_order_release);
    }
    atomic_store_explicit(&gomaxprocs, nprocs, memory_order_release);

    /* Every P but ours becomes idle or gets an M for its queue.  Rebuild
     * the idle list from scratch. */
    sched.pidle = NULL;
    atomic_store_explicit(&sched.npidle, 0, memory_order_relaxed);
    p_t *runnable = NULL;
    for (int32_t i = nprocs - 1; i >= 0; i--) {
        p_t *pp = allp[i];
        if (pp == keep)
            continue;
        atomic_store_explicit(&pp->status, P_IDLE, memory_order_relaxed);
        if (runqempty(pp)) {
            pidleput(pp);
        } else {
            pp->link = runnable;
            runnable = pp;
        }
    }
    return runnable;
}

/* ------------------------------------------------------------------ */
/* Deadlock detection                                                  */

void checkdead(void)
{
    if (!sched.standalone || atomic_load_explicit(&sched.foreign_go, memory_order_relaxed))
        return;
    if (atomic_load_explicit(&runtime_state, memory_order_relaxed) != RUNTIME_RUNNING)
        return;
    int32_t run = mcount() - sched.nmidle - sched.nmidlelocked - sched.nmsys;
    if (run > 0)
        return;
    if (run < 0)
        rt_throw("checkdead: inconsistent counts: mcount=%d nmidle=%d nmidlelocked=%d nmsys=%d",
                 mcount(), sched.nmidle, sched.nmidlelocked, sched.nmsys);
    if (atomic_load_explicit(&sched.runqsize, memory_order_relaxed) > 0)
        return;
    int waiting = 0;
    rtlock_lock(&allglock);
    for (size_t i = 0; i < allglen; i++) {
        g_t *gp = allgs[i];
        if (READ_ONCE(gp->system))
            continue;
        uint32_t s = readgstatus(gp) & ~(uint32_t)G_SCAN;
        if (s == G_WAITING) {
            waiting++;
        } else if (s == G_RUNNABLE || s == G_RUNNING || s == G_SYSCALL) {
            rtlock_unlock(&allglock);
            rtlock_unlock(&sched.lock);
            rt_throw("checkdead: runnable g (goroutine %llu status %u)", (unsigned long long)gp->goid, s);
        }
    }
    rtlock_unlock(&allglock);
    rtlock_unlock(&sched.lock);
    if (waiting == 0)
        rt_throw("no goroutines (main called runtime.Goexit) - deadlock!");
    if (timesleepuntil() != 0) {
        rtlock_lock(&sched.lock);
        return;
    }
    rt_throw("all goroutines are asleep - deadlock!");
}

/* ------------------------------------------------------------------ */
/* Starting the runtime                                                */

static int32_t cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int32_t)n : 1;
}

static void heap_goroutines_start(void);
int64_t runtime_start_ns;

static int rt_init(bool standalone)
{
    int expect = RUNTIME_OFF;
    if (!atomic_compare_exchange_strong(&runtime_state, &expect, -1))
        return -EALREADY;
    runtime_start_ns = nanotime();
    debugvars_init();
    stackinit();
    mallocinit();
    signals_init();
    sched.standalone = standalone;
    sched.maxmcount = 10000;
    atomic_store(&sched.tsleep_until, INT64_MAX);
    atomic_store(&sched.worldsema, 1);

    sched_ncpu = cpu_count();
    read_process_name();
    int32_t procs = initprocs > 0 ? initprocs : sched_ncpu;
    const char *env = getenv("GOMAXPROCS");
    if (env && *env && initprocs == 0) {
        char *end;
        long n = strtol(env, &end, 10);
        if (*end == '\0' && n > 0)
            procs = (int32_t)n;
    }
    if (procs > GORT_MAX_PROCS)
        procs = GORT_MAX_PROCS;
    rtlock_lock(&sched.lock);
    procresize(procs);
    rtlock_unlock(&sched.lock);
    atomic_store_explicit(&runtime_state, RUNTIME_RUNNING, memory_order_release);
    if (!standalone)
        heap_goroutines_start();
    sysmon_start();
    return 0;
}

/* The heap's background goroutines: started by the main goroutine, as Go
 * does, so that it is goroutine 1 and never alone with them when
 * deadlock detection looks. */
static void heap_goroutines_start(void)
{
    bgsweep_start();
    scavenger_start();
    gc_start_goroutines();
}

static void main_entry(void *unused)
{
    (void)unused;
    heap_goroutines_start();
    /* A protected frame, so that the entry's deferred calls run when it
     * returns. */
    gort_pcall(main_fn, main_arg);
    /* The program is over: freeze every goroutine where it stands. */
    stop_the_world("main returned");
    atomic_store_explicit(&runtime_state, RUNTIME_STOPPED, memory_order_release);
    notewakeup(&main_done);
    for (;;)
        pause();
}

int gort_main(gort_fn entry, void *arg)
{
    if (!entry)
        return -EINVAL;
    int err = rt_init(true);
    if (err)
        return err;
    main_fn = entry;
    main_arg = arg;
    err = newproc(main_entry, NULL, 0, NULL, NULL, false, __builtin_return_address(0), NULL);
    if (err)
        return err;
    /* The main goroutine comes from this thread, which is not an M, but
     * the thread only waits from now on: newproc does not count it as a
     * foreign source of work, and deadlock detection stays on. */
    notesleep(&main_done);
    return 0;
}

int gort_start(void)
{
    return rt_init(false);
}

/* ------------------------------------------------------------------ */
/* Public goroutine API                                                */

/* Gosched without the trip through g0: when the local ring is empty and
 * the oldest G of the global queue can run here, queue gp and switch
 * straight to that G on gp's stack.  gp becomes visible on the queue
 * before its context is saved; its ctx_sp is NULL until gort_ctx_switch
 * stores it, and whoever resumes it waits for that (wait_ctx_saved).
 * Returns false when the slow path through gosched_m must run. */
static bool gosched_direct(g_t *gp)
{
    m_t *mp = gp->m;
    p_t *pp = mp->p;
    if (mp->lockedg || mp->locks || !runqempty_owner(pp) ||
        atomic_load_explicit(&sched.runqsize, memory_order_relaxed) == 0 ||
        atomic_load_explicit(&pp->timers.first, memory_order_relaxed) != 0 ||
        atomic_load_explicit(&sched.gcwaiting, memory_order_relaxed) || gc_marking())
        return false;   /* marking: as park_direct */
    if (gp->stack.kind == STACK_SLAB &&
        stack_overflowed(&gp->stack, (uintptr_t)__builtin_frame_address(0)))
        return false; /* execute() reports it */
    rtlock_lock(&sched.lock);
    g_t *next = sched.runqhead;
    if (!next || next->lockedm) {
        rtlock_unlock(&sched.lock);
        return false;
    }
    __atomic_store_n(&gp->ctx_sp, NULL, __ATOMIC_RELAXED);   /* before the status: see park_direct */
    casgstatus(gp, G_RUNNING, G_RUNNABLE);
    WRITE_ONCE(gp->m, NULL);
    globrunqput(gp);
    next = globrunqget(pp, 1);
    rtlock_unlock(&sched.lock);

    switch_direct(mp, gp, next, false);
    return true;
}

void gort_gosched(void)
{
    g_t *gp = getg_or_die("gort_gosched");
    if (!gosched_direct(gp))
        mcall(gosched_m, false);
}

uint64_t gort_goid(void)
{
    g_t *gp = getg();
    if (!gp || gp == &gp->m->g0)
        return 0;
    return gp->goid;
}

int gort_num_goroutine(void)
{
    int64_t n = atomic_load_explicit(&sched.ngoroutines, memory_order_relaxed);
    for (int32_t i = 0; i < GORT_MAX_PROCS; i++) {
        p_t *pp = atomic_load_explicit((p_t *_Atomic *)&allp[i], memory_order_acquire);
        if (!pp)
            break;
        n += atomic_load_explicit(&pp->ngoroutines, memory_order_relaxed);
    }
    return n > 0 ? (int)n : 0;
}

void stack_inuse_sum(int64_t inuse[5], int64_t *bytes)
{
    for (int k = 0; k < 5; k++)
        inuse[k] = atomic_load_explicit(&sched.stackinuse[k], memory_order_relaxed);
    *bytes = atomic_load_explicit(&sched.stackbytes, memory_order_relaxed);
    for (int32_t i = 0; i < GORT_MAX_PROCS; i++) {
        p_t *pp = atomic_load_explicit((p_t *_Atomic *)&allp[i], memory_order_acquire);
        if (!pp)
            break;
        for (int k = 0; k < 5; k++)
            inuse[k] += atomic_load_explicit(&pp->stackinuse[k], memory_order_relaxed);
        *bytes += atomic_load_explicit(&pp->stackbytes, memory_order_relaxed);
    }
}

void gort_set_label(const char *label)
{
    g_t *gp = getg_or_die("gort_set_label");
    WRITE_ONCE(gp->label, label);
}

const char *gort_label(void)
{
    return getg_or_die("gort_label")->label;
}

int64_t gort_set_max_goroutines(int64_t n)
{
    if (n < 0)
        n = 0;
    return atomic_exchange_explicit(&sched.maxgoroutines, n, memory_order_relaxed);
}

int gort_set_max_threads(int n)
{
    rtlock_lock(&sched.lock);
    int old = sched.maxmcount ? sched.maxmcount : 10000;
    if (n > 0) {
        sched.maxmcount = n;
        if (atomic_load_explicit(&runtime_state, memory_order_relaxed) == RUNTIME_RUNNING &&
            mcount() > n) {
            rtlock_unlock(&sched.lock);
            rt_printf("runtime: program exceeds %d-thread limit\n", n);
            rt_throw("thread exhaustion");
        }
    }
    rtlock_unlock(&sched.lock);
    return old;
}

struct delegated {
    void (*fn)(void *);
    void *arg;
    note done;
};

static void delegated_entry(void *arg)
{
    struct delegated *d = arg;
    d->fn(d->arg);
    notewakeup(&d->done);
}

/* Run fn(arg) on a runtime goroutine and wait for it, for callers that are
 * not goroutines but need to stop the world. */
int run_on_goroutine(void (*fn)(void *), void *arg)
{
    struct delegated d = {.fn = fn, .arg = arg};
    int err = newproc(delegated_entry, &d, 0, NULL, NULL, true, NULL, NULL);
    if (err)
        return err;
    notesleep(&d.done);
    return 0;
}

static void set_procs(void *arg)
{
    int32_t n = *(int32_t *)arg;
    stop_the_world("GOMAXPROCS");
    newprocs = n;
    start_the_world();
}

int gort_gomaxprocs(int n)
{
    int state = atomic_load_explicit(&runtime_state, memory_order_acquire);
    if (state != RUNTIME_RUNNING) {
        int old = initprocs > 0 ? initprocs : (state == RUNTIME_OFF ? cpu_count() : gomaxprocs);
        if (n > 0 && state == RUNTIME_OFF)
            initprocs = n > GORT_MAX_PROCS ? GORT_MAX_PROCS : n;
        return old;
    }
    int32_t old = atomic_load_explicit(&gomaxprocs, memory_order_acquire);
    if (n <= 0 || n == old)
        return old;
    int32_t want = n > GORT_MAX_PROCS ? GORT_MAX_PROCS : n;
    g_t *gp = getg();
    if (gp && gp != &gp->m->g0)
        set_procs(&want);
    else if (run_on_goroutine(set_procs, &want) != 0)
        return old;
    return old;
}

void gort_read_sched_stats(gort_sched_stats *st)
{
    memset(st, 0, sizeof *st);
    rtlock_lock(&sched.lock);
    st->gomaxprocs = atomic_load_explicit(&gomaxprocs, memory_order_relaxed);
    st->idleprocs = atomic_load_explicit(&sched.npidle, memory_order_relaxed);
    st->threads = mcount();
    st->spinningthreads = atomic_load_explicit(&sched.nmspinning, memory_order_relaxed);
    st->idlethreads = sched.nmidle;
    st->runqueue = atomic_load_explicit(&sched.runqsize, memory_order_relaxed);
    rtlock_unlock(&sched.lock);
    st->goroutines = gort_num_goroutine();
    uint64_t n = 0;
    for (int32_t i = 0; i < GORT_MAX_PROCS && allp[i]; i++)
        n += allp[i]->nsyscall;
    st->syscalls = n;
}

int32_t rt_test_current_p(void)
{
    m_t *mp = getm();
    return mp && mp->p ? mp->p->id : -1;
}

int64_t rt_test_current_m(void)
{
    m_t *mp = getm();
    return mp ? mp->id : -1;
}

void rt_test_wake_delay(int64_t ns)
{
    atomic_store_explicit(&test_wake_delay, ns, memory_order_relaxed);
}

uint64_t rt_test_stw_takenback(void)
{
    return atomic_load_explicit(&sched.ntakenback, memory_order_relaxed);
}

/* Release the pages of dead goroutines' stacks on the global free list,
 * keeping each stack's top, and give stacks beyond GFREE_STACK_MAX back to
 * the stack pool whole, GFREE_TRIM_FREE_MAX at a time: giving a stack back
 * is a TLB shootdown, and sysmon, which calls this, must stay responsive.
 * True when stacks beyond the cap are left. */
bool gfree_trim(void)
{
    rtlock_lock(&sched.gflock);
    if (sched.gfree_dirty != 0) {
        g_t *list = sched.gfree_stack;
        int32_t n = atomic_load_explicit(&sched.ngfree_stack, memory_order_relaxed);
        sched.gfree_stack = NULL;
        atomic_store_explicit(&sched.ngfree_stack, 0, memory_order_relaxed);
        sched.gfree_dirty = 0;
        rtlock_unlock(&sched.gflock);
        /* The topmost Gs beyond the cap go back whole below, over the
         * next calls: trimming them first would be a system call each
         * for nothing. */
        int32_t skip = n - GFREE_STACK_MAX, seen = 0;
        g_t *last = NULL;
        for (g_t *b = list; b; b = b->gfbatch_next) {
            if (seen >= skip)
                for (g_t *gp = b; gp; gp = gp->schedlink)
                    stackrelease(&gp->stack, false);
            seen += b->gfbatch_n;
            last = b;
        }
        rtlock_lock(&sched.gflock);
        if (last) {
            last->gfbatch_next = sched.gfree_stack;
            sched.gfree_stack = list;
            gfcount_add(true, n);
        }
    }
    /* Beyond the cap: whole batches off the top. */
    g_t *excess = NULL, *last = NULL;
    int32_t nexcess = 0;
    while (atomic_load_explicit(&sched.ngfree_stack, memory_order_relaxed) > GFREE_STACK_MAX &&
           nexcess < GFREE_TRIM_FREE_MAX) {
        int32_t n = 0;
        g_t *b = gfglobal_get(true, &n);
        if (!b)
            rt_throw("gfree_trim: %d free Gs with stacks counted, none listed",
                     (int)atomic_load_explicit(&sched.ngfree_stack, memory_order_relaxed));
        b->gfbatch_next = NULL;
        if (last)
            last->gfbatch_next = b;
        else
            excess = b;
        last = b;
        nexcess += n;
    }
    rtlock_unlock(&sched.gflock);
    if (!excess)
        return false;
    for (g_t *b = excess; b; b = b->gfbatch_next)
        for (g_t *gp = b; gp; gp = gp->schedlink)
            stackfree(&gp->stack);
    rtlock_lock(&sched.gflock);
    last->gfbatch_next = sched.gfree_nostack;
    sched.gfree_nostack = excess;
    gfcount_add(false, nexcess);
    bool more = atomic_load_explicit(&sched.ngfree_stack, memory_order_relaxed) > GFREE_STACK_MAX;
    rtlock_unlock(&sched.gflock);
    return more;
}
