/*
 * proc.h - G, M, P and the scheduler state (see proc.c for the design).
 */
#ifndef GORT_RUNTIME_PROC_H
#define GORT_RUNTIME_PROC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gort/gort.h"
#include "lock.h"
#include "panic.h"
#include "stack.h"
#include "timers.h"

/* G status, with Go's numbering (schedtrace prints the numbers). */
enum {
    G_IDLE = 0,       /* just allocated, not yet initialised */
    G_RUNNABLE = 1,   /* on a run queue */
    G_RUNNING = 2,    /* owns an M and a P */
    G_SYSCALL = 3,    /* in a bracketed blocking call; owns an M, not a P */
    G_WAITING = 4,    /* parked; on some wait queue or timer */
    G_DEAD = 6,       /* exited or unused; on a free list */
    G_SCAN = 0x1000,  /* or'ed in while a dump/scan reads a stopped G */
};

/* P status, with Go's numbering. */
enum { P_IDLE = 0, P_RUNNING = 1, P_SYSCALL = 2, P_GCSTOP = 3, P_DEAD = 4 };

/* Why a G waits.  The strings (traceback.c) are Go's. */
typedef enum waitreason {
    WR_ZERO = 0,
    WR_IO_WAIT,
    WR_CHAN_RECV_NIL,
    WR_CHAN_SEND_NIL,
    WR_SELECT,
    WR_SELECT_NO_CASES,
    WR_CHAN_RECV,
    WR_CHAN_SEND,
    WR_FINALIZER_WAIT,
    WR_FORCEGC_IDLE,
    WR_SEMACQUIRE,
    WR_SLEEP,
    WR_SYNC_COND_WAIT,
    WR_GC_WORKER_IDLE,
    WR_PREEMPTED,
    WR_STOPPING_THE_WORLD,
    WR_GC_SWEEP_WAIT,
    WR_GC_SCAVENGE_WAIT,
    WR_WAIT_FOR_GC_CYCLE,
    WR_GC_ASSIST_WAIT,
    WR_COUNT
} waitreason;

struct m;
struct p;

/* A goroutine.  ctx must stay first: the context switch saves into it. */
typedef struct g {
    /* The first two cache lines hold everything a goroutine's life from
     * gort_go to exit touches when it uses no group, no defer and no
     * LockOSThread; the rest is read or written only by goroutines that
     * use those, or park, and by dumps and the collector.  A G usually
     * dies on one CPU and is reused on another, so each line touched is
     * a line moved: the common path stays off the rest. */
    void *ctx_sp;                 /* saved stack pointer while not running */
    struct stack stack;           /* [lo, hi) and where it came from */
    _Atomic uint32_t status;      /* G_*, changed with casgstatus */
    _Atomic bool preempt;         /* sysmon or STW asks for a yield */
    uint8_t waitreason;           /* valid while G_WAITING */
    bool system;                  /* a runtime goroutine: not counted or dumped */
    bool limited;                 /* counted in sched.nlimited */
    uint64_t goid;
    struct m *m;                  /* M running it, while running or in syscall */
    struct m *lockedm;            /* M it is wired to (LockOSThread) */
    /* Second line. */
    struct g *schedlink;          /* run queue / free list link */
    gort_fn fn;                   /* start function and argument */
    void *arg;
    uint64_t parent_goid;         /* creator, for dumps */
    void *gopc;                   /* return address of the gort_go call */
    const char *label;
    /* Its accounting group (group.c), or NULL. */
    struct gort_group *group;
    /* Set once the G has deferred, protected a call or panicked: only then
     * has the defer/panic state below anything for exit to clean up. */
    bool deferused;
    /* Third line. */
    int64_t waitsince;            /* coarse clock at park, for dumps of waiting Gs */
    /* LockOSThread nesting, non-zero only while lockedm is set. */
    uint32_t locked_ext;          /* gort_lock_os_thread nesting */
    uint32_t locked_int;          /* runtime-internal LockOSThread */
    /* With a group: when it last got its thread (0 while it has none) and
     * what it allocated since then. */
    int64_t runstart;
    uint64_t acct_bytes, acct_objects;
    bool containing;              /* its group's panic handler is running */
    void *param;                  /* passed by the waker to the parked G;
                                     relaxed atomics: the collector reads it
                                     while scanning the parked G */
    /* Defer/panic state (panic.c); only the G itself touches it. */
    struct pframe *pframe;        /* innermost gort_pcall or deferred-call
                                     frame; NULL: the body's, topframe */
    pframe topframe;              /* zero while unused (curframe) */
    struct gort_panic_info *panic;     /* panics in flight, newest first */
    struct gort_panic_info *panickept; /* every record made, freed at exit */
    /* On a global free list, the first G of a batch: the batch's length
     * and the next batch (gfbatch_push in proc.c). */
    struct g *gfbatch_next;
    int32_t gfbatch_n;
    /* Fourth line and on: what only some goroutines use. */
    /* A wait that can end in more than one way (select, a deadline) is
     * claimed by whoever ends it: a CAS from seq<<1 to seq<<1|1, where seq
     * numbers the G's waits (chan.c). */
    _Atomic uint64_t waitclaim;
    uint64_t waitseq;             /* the G's last wait number; G only */
    struct gdefer *deferpool;     /* free deferred-call records */
    int32_t ndeferpool;
    struct timer sleeptimer;      /* gort_sleep's timer */
    size_t allg_index;            /* slot in allgs */
    /* In a system call: the caller's sp and callee-saved registers at
     * gort_syscall_enter, for the collector. */
    uintptr_t syscallsp;
    uintptr_t syscallregs[6];
    /* Inside gort_gc: where the caller's callee-saved registers were
     * pushed (rt_call_regs_spilled), 0 otherwise.  Below it are only the
     * collector's own frames, full of stale object and span addresses, so
     * scans of this stack start there instead of at its sp. */
    uintptr_t gcentrysp;
    /* The collector (gc.c): allocation credit (negative: debt) for the
     * cycle gcassistcycle; a runtime goroutine whose stack is a root for
     * now (the finalizer goroutine while it runs a finalizer; the G
     * writes it, scanners read it with the G stopped or on the G). */
    int64_t gcassistbytes;
    uint32_t gcassistcycle;
    _Atomic uint32_t gcscangen;   /* cycle whose scan of its stack is done */
    _Atomic bool gcscanreq;       /* scan your own stack at the next safe point */
    bool sysscan;
#if GORT_TSAN
    void *tsan_fiber;
#endif
#if GORT_ASAN
    void *asan_fake_stack;
#endif
} g_t;

/* A machine: an OS thread.  g0 is its scheduling context. */
typedef struct m {
    g_t g0;                       /* the thread's own stack; runs schedule() */
    g_t *_Atomic curg;            /* user G running, NULL on g0; sysmon reads it */
    struct p *p;                  /* attached P, NULL when idle or in syscall */
    /* P handed over by startm (or startlockedm).  A stop of the world
     * may take it back before this M wakes (stop_the_world_locked):
     * whichever swaps it out first owns the P. */
    struct p *_Atomic nextp;
    struct p *oldp;               /* P left behind by syscall enter */
    int64_t id;
    bool spinning;                /* looking for work, counted in nmspinning */
    bool blocked;                 /* parked on its note */
    bool dead;                    /* thread exited (locked G exited) */
    int32_t locks;                /* >0: no preemption, no STW participation */
    int32_t throwing;
    g_t *lockedg;                 /* G wired to this M */
    note park;                    /* idle Ms sleep here */
    struct m *schedlink;          /* idle M list */
    struct m *alllink;            /* every M, never unlinked */
    uint64_t fastrand;
    pthread_t thread;
    pid_t tid;
    /* The request a G left for g0 (mcall): run fn(g) on the g0 stack. */
    void (*mcall_fn)(g_t *gp);
    bool (*waitunlockf)(g_t *gp, void *arg);   /* gopark's callback */
    void *waitlock;
    /* A G that parked by switching straight to another G (park_direct);
     * the G switched to runs its unlock callback (finish_switch). */
    g_t *parked_prev;
    void *sigaltstack;
#if GORT_TSAN
    void *tsan_fiber;
#endif
} m_t;

/* sysmon's private view of a P. */
struct sysmontick {
    uint32_t schedtick;
    int64_t schedwhen;
    uint32_t syscalltick;
    int64_t syscallwhen;
    uint32_t wdtick;              /* schedtick at the last watchdog call */
};

#define RUNQ_SIZE 256

/* A P's share of the collector's grey objects (gc.c): two buffers, so
 * that a put after a get rarely touches the global lists; counters folded
 * into the cycle's totals at mark termination. */
struct workbuf;
struct gcwork {
    struct workbuf *w1, *w2;
    int64_t bytes_marked;         /* bytes of objects this P greyed or allocated black */
};

/* A processor: the right to run Go code, with a local run queue. */
typedef struct p {
    int32_t id;
    _Atomic uint32_t status;      /* P_* */
    struct p *link;               /* idle P list (under sched.lock) */
    _Atomic uint32_t schedtick;   /* +1 per schedule; sysmon reads it */
    /* Sysmon found this time slice over.  A G that inherits the slice
     * (runnext) inherits the request too; a new slice clears it. */
    _Atomic bool preempt;
    _Atomic uint32_t syscalltick; /* +1 per syscall; sysmon reads it */
    struct sysmontick sysmontick; /* sysmon only */
    m_t *_Atomic m;               /* back link, NULL when idle */
    /* The M startm handed this P to, until that M takes it: the P is
     * idle by status but on no idle list.  Set under sched.lock. */
    struct m *_Atomic wakem;

    /* Lock-free run queue: the owner puts at tail, anyone takes at head. */
    _Atomic uint32_t runqhead;
    _Atomic uint32_t runqtail;
    g_t *_Atomic runq[RUNQ_SIZE];
    g_t *_Atomic runnext;         /* runs next, inherits the time slice */

    /* Dead Gs with stacks, for reuse (owner only). */
    g_t *gfree;
    int32_t gfreecnt;

    /* Goroutine ids are handed out in batches to avoid a shared counter. */
    uint64_t goidcache, goidcacheend;
    uint64_t nsyscall;            /* gort_syscall_enter calls (owner writes) */
    /* Counters only the owner changes (pcount_add); readers sum all Ps. */
    _Atomic int64_t ngoroutines;  /* user goroutines created minus exited here */
    _Atomic int64_t stackinuse[5];/* stacks held by live goroutines, by kind */
    _Atomic int64_t stackbytes;

    struct ptimers timers;        /* time.c */

    struct mcache *mcache;        /* small-object cache (malloc.c) */

    /* The collector (gc.c): grey objects, and this P's mark worker, a
     * parked goroutine the scheduler runs while the collector marks. */
    struct gcwork gcw;
    g_t *gcworker;
    _Atomic bool gcworker_ready;  /* parked and free to be picked */
    uint8_t gcmarkmode;           /* what it was picked for */
    _Atomic int64_t gcfractime;   /* ns its worker ran fractionally this cycle */
    _Atomic bool gcflushreq;      /* the collector asks for gcw on the global list */

    /* Free sudogs for channel waits (chan.c); owner only. */
    struct sudog *sudogcache[128];
    int32_t nsudogcache;
} p_t;

/* The global scheduler state. */
struct sched {
    rtlock lock;                  /* protects everything below not atomic */

    m_t *midle;                   /* idle Ms */
    int32_t nmidle;
    int32_t nmidlelocked;         /* Ms idle because their locked G waits */
    int64_t mnext;                /* next M id; also Ms ever created */
    int32_t nmfreed;              /* Ms that exited */
    int32_t nmsys;                /* system Ms not counted for deadlock (sysmon) */
    int32_t maxmcount;

    p_t *pidle;                   /* idle Ps */
    _Atomic int32_t npidle;
    _Atomic int32_t nmspinning;

    g_t *runqhead, *runqtail;     /* global run queue */
    _Atomic int64_t runqsize;     /* written under lock, read racily by checks */

    rtlock gflock;                /* global free Gs */
    g_t *gfree_stack;             /* dead Gs that keep a stack */
    g_t *gfree_nostack;           /* dead Gs whose stack was given back */
    /* Counts change under gflock; gfget peeks at them without it. */
    _Atomic int32_t ngfree_stack, ngfree_nostack;
    int32_t gfree_dirty;          /* stacks on gfree_stack not yet trimmed */

    _Atomic uint32_t gcwaiting;   /* stop-the-world in progress */
    _Atomic uint64_t ntakenback;  /* Ps a stop took back from waking Ms */
    int32_t stopwait;             /* Ps still to stop */
    note stopnote;
    _Atomic uint32_t sysmonwait;  /* sysmon in deep sleep */
    note sysmonnote;

    m_t *tsleeper;                /* the M sleeping until the next timer */
    _Atomic int64_t tsleep_until; /* its deadline, INT64_MAX if none */

    _Atomic uint64_t goidgen;
    _Atomic int32_t ngsys;        /* live runtime goroutines */
    _Atomic int64_t ngoroutines;  /* as p->ngoroutines, for Gs made off-P */
    _Atomic int64_t stackinuse[5];
    _Atomic int64_t stackbytes;
    _Atomic int64_t maxgoroutines;
    _Atomic int64_t nlimited;     /* live Gs counted against maxgoroutines */
    _Atomic uint64_t nsyscalls;

    _Atomic uint32_t worldsema;   /* serialises stop-the-world */

    bool standalone;              /* gort_main: deadlock detection */
    _Atomic bool foreign_go;      /* a non-M thread started goroutines */
};

extern struct sched sched;
extern p_t *allp[GORT_MAX_PROCS];
extern _Atomic int32_t gomaxprocs;
extern m_t *_Atomic allm;
extern _Atomic int runtime_state;  /* 0 not started, 1 running, 2 stopped */

/* All Gs ever created (dead ones included), for dumps.  allglock guards the
 * array; its entries never move while the lock is held. */
extern rtlock allglock;
extern g_t **allgs;
extern size_t allglen;

/* The G running on this thread: a user G, an M's g0, or NULL off-runtime. */
extern __thread g_t *tls_g __attribute__((tls_model("initial-exec")));

static inline g_t *getg(void) { return tls_g; }
static inline m_t *getm(void)
{
    g_t *gp = tls_g;
    return gp ? gp->m : NULL;
}

/* The goroutine-only entry points die with this when called off-runtime. */
g_t *getg_or_die(const char *fn);
/* End the calling goroutine now, without running deferred calls. */
_Noreturn void goexit1(void);

uint32_t readgstatus(g_t *gp);
void casgstatus(g_t *gp, uint32_t oldval, uint32_t newval);
bool castogscanstatus(g_t *gp, uint32_t oldval);
void ungscan(g_t *gp, uint32_t oldval);

/* Park the current G with the given reason.  unlockf(gp, arg) runs on g0
 * after the G is fully switched out; if it returns false the G resumes at
 * once.  Goroutine only. */
void gopark(bool (*unlockf)(g_t *gp, void *arg), void *arg, waitreason reason);
/* Make a parked G runnable on the current P (runnext), or on the global
 * queue when called without a P. */
void goready(g_t *gp);
/* goready at the tail of the local run queue instead of runnext: for a G
 * readied by one that goes on running (a mark worker paying an assist),
 * so that a thief need not wait for this P to schedule runnext. */
void goready_tail(g_t *gp);
/* Honour a pending preemption or stop-the-world request. */
void safepoint(void);
/* The cheap check before safepoint(), for calls that may not block but
 * should still let sysmon preempt (and stop-the-world stop) a goroutine
 * that loops on them: there is no asynchronous preemption.  Only the G's
 * own flag is read (its own cache line): a stop of the world flags every
 * running G too (preemptall, repeated while it waits).  Relaxed: requests
 * are hints, honoured at the next poll if seen late. */
static inline void safepoint_poll(void)
{
    g_t *gp = getg();
    if (gp && __builtin_expect(atomic_load_explicit(&gp->preempt, memory_order_relaxed), 0))
        safepoint();
}

void syscall_enter_regs(void *unused, uintptr_t *regs);
/* Run fn(arg) on a runtime goroutine and wait, for callers that are not
 * goroutines (0, or a negative errno if no goroutine could start). */
int run_on_goroutine(void (*fn)(void *), void *arg);
extern int64_t runtime_start_ns;   /* nanotime() when the runtime started */

/* Run queues (runq.c). */
void runqput(p_t *pp, g_t *gp, bool next);
g_t *runqget(p_t *pp, bool *inherit);
bool runqempty(p_t *pp);
bool runqempty_owner(p_t *pp);   /* caller owns pp */
uint32_t runqlen(p_t *pp);
g_t *runqsteal(p_t *pp, p_t *p2, bool stealrunnext);
void globrunqput(g_t *gp);          /* sched.lock held */
void globrunqputhead(g_t *gp);      /* sched.lock held */
void globrunqputbatch(g_t *head, g_t *tail, int32_t n); /* sched.lock held */
g_t *globrunqget(p_t *pp, int32_t max); /* sched.lock held */
void runqdrain_to_global(p_t *pp);  /* sched.lock held, world stopped */

/* M and P hand-offs used by sysmon (proc.c). */
void handoffp(p_t *pp);
void startm(p_t *pp, bool spinning);
void wakep(void);
void pidleput(p_t *pp);             /* sched.lock held */
p_t *pidleget(void);                /* sched.lock held */
int32_t mcount(void);               /* sched.lock held */
void checkdead(void);               /* sched.lock held */

/* Set preempt on the goroutine of every running P but the caller's: each
 * comes to safepoint() soon.  Takes no lock. */
void preemptall(void);

/* Stop and start the world.  Callers are goroutines. */
void stop_the_world(const char *reason);
int64_t start_the_world(void);   /* when the Ps were let go */

/* A timer was armed at when (time.c tells the scheduler). */
void timer_armed(int64_t when);
/* Trim the pages of pooled dead goroutine stacks (sysmon). */
bool gfree_trim(void);
int newproc(gort_fn fn, void *arg, size_t stacksize, const char *label, struct gort_group *group, bool system, void *gopc,
            g_t **out);

/* sysmon.c */
void sysmon_start(void);
void sysmon_wake(void);
void schedtrace(bool detailed);
extern _Atomic int32_t schedtrace_ms;
extern _Atomic bool scheddetail;

/* Fields that their owner writes and diagnostics (schedtrace,
 * scheddetail) read from other threads: the owner stores with a relaxed
 * atomic store, a plain move on every target we support, so the readers'
 * relaxed loads are not data races.  Owner-side reads stay plain. */
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* Add d to a per-P counter that only the P's owner writes: a plain
 * load and store, no locked instruction.  Relaxed: statistics, summed
 * racily by readers. */
static inline void pcount_add(_Atomic int64_t *c, int64_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d, memory_order_relaxed);
}

/* Per-thread fast random numbers. */
uint32_t fastrand(void);
uint32_t fastrandn(uint32_t n);

/* The clock sysmon and dumps use for coarse ages. */
int64_t coarsetime(void);

#endif
