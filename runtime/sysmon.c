/*
 * sysmon.c - the system monitor thread, and schedtrace.
 *
 * sysmon runs on its own thread without a P, so it keeps working when every
 * P is busy or stuck.  Each round it:
 *   - retakes Ps that sit in a blocking system call: after 20 us when the P
 *     has queued work or no other P is free to pick work up, after 10 ms in
 *     any case (handoffp finds the P a new M);
 *   - asks a goroutine that has run for 10 ms without rescheduling to yield
 *     at its next safe point;
 *   - starts an M when a timer is overdue and Ps are idle;
 *   - trims the pages of pooled dead-goroutine stacks about once a second;
 *   - prints schedtrace lines when GODEBUG=schedtrace=MS asks for them;
 *   - calls the watchdog (gort_set_watchdog) when it is due and every P
 *     that holds goroutines has switched goroutine since the last call.
 * Its sleep starts at 20 us and doubles after 50 rounds in which nothing
 * happened, up to 10 ms.  When every P is idle (and schedtrace is off) it
 * sleeps deeply until the next timer or until a P becomes busy again
 * (sysmon_wake), so an idle process costs no CPU.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "debugvars.h"
#include "malloc.h"
#include "print.h"
#include "proc.h"
#include "traceback.h"

_Atomic int32_t schedtrace_ms;
_Atomic bool scheddetail;

/* Held while sysmon prints a schedtrace line and while the interval
 * changes, so that once gort_set_schedtrace(0, ...) returns no further
 * line appears. */
static pthread_mutex_t schedtrace_lock = PTHREAD_MUTEX_INITIALIZER;

enum {
    FORCEGC_PERIOD_NS = 2 * 60 * 1000000000LL,
    PREEMPT_NS = 10 * 1000000,
    SYSCALL_RETAKE_MIN_NS = 20 * 1000,
    SYSCALL_RETAKE_MAX_NS = 10 * 1000000,
    TRIM_PERIOD_NS = 1000000000,
    TRIM_IDLE_NS = 1000000,       /* idle sleep while stacks beyond the cap are left */
};

static m_t sysmon_m;

/* The watchdog: period, function and argument change together under
 * wd.lock; sysmon reads the period without it each round and takes the
 * lock only when a call is due.  changed tells sysmon to start over. */
static struct {
    pthread_mutex_t lock;
    _Atomic int64_t period;
    gort_watchdog_fn fn;
    void *ctx;
    _Atomic bool changed;
} wd = {.lock = PTHREAD_MUTEX_INITIALIZER};

enum { WATCHDOG_RETRY_NS = 10 * 1000000 };

static void preemptone(p_t *pp)
{
    /* The request is for the slice: it outlives the G (proc.c, slicestart). */
    atomic_store_explicit(&pp->preempt, true, memory_order_relaxed);
    m_t *mp = atomic_load_explicit(&pp->m, memory_order_acquire);
    if (!mp)
        return;
    g_t *gp = atomic_load_explicit(&mp->curg, memory_order_relaxed);
    if (gp)
        atomic_store_explicit(&gp->preempt, true, memory_order_relaxed);
}

static uint32_t retake(int64_t now)
{
    uint32_t n = 0;
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_acquire);
    for (int32_t i = 0; i < procs; i++) {
        p_t *pp = allp[i];
        struct sysmontick *pd = &pp->sysmontick;
        uint32_t s = atomic_load_explicit(&pp->status, memory_order_acquire);
        bool sysretake = false;
        if (s == P_RUNNING || s == P_SYSCALL) {
            uint32_t t = atomic_load_explicit(&pp->schedtick, memory_order_relaxed);
            if (pd->schedtick != t) {
                pd->schedtick = t;
                pd->schedwhen = now;
            } else if (pd->schedwhen + PREEMPT_NS <= now) {
                preemptone(pp);
                sysretake = true;
            }
        }
        if (s != P_SYSCALL)
            continue;
        uint32_t t = atomic_load_explicit(&pp->syscalltick, memory_order_relaxed);
        if (!sysretake && pd->syscalltick != t) {
            pd->syscalltick = t;
            pd->syscallwhen = now;
            continue;
        }
        if (now - pd->syscallwhen < SYSCALL_RETAKE_MIN_NS)
            continue;
        /* Leave it alone if nothing waits for it and others are free to
         * pick up new work, unless the call has gone on for 10 ms. */
        if (runqempty(pp) &&
            atomic_load_explicit(&sched.nmspinning, memory_order_seq_cst) +
                    atomic_load_explicit(&sched.npidle, memory_order_seq_cst) > 0 &&
            now - pd->syscallwhen < SYSCALL_RETAKE_MAX_NS)
            continue;
        uint32_t want = P_SYSCALL;
        if (atomic_compare_exchange_strong_explicit(&pp->status, &want, P_IDLE, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            atomic_fetch_add_explicit(&pp->syscalltick, 1, memory_order_relaxed);
            n++;
            handoffp(pp);
        }
    }
    return n;
}

static void usleep_ns(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Has every P that holds goroutines switched goroutine since the last
 * watchdog call?  A resize since then counts as progress (it needed a
 * stop-the-world that finished). */
static bool wd_progressed(int32_t *wdprocs)
{
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_acquire);
    if (procs != *wdprocs)
        return true;
    for (int32_t i = 0; i < procs; i++) {
        p_t *pp = allp[i];
        uint32_t s = atomic_load_explicit(&pp->status, memory_order_acquire);
        if (s != P_RUNNING && s != P_GCSTOP)
            continue;   /* idle, or its goroutine is in a system call */
        if (atomic_load_explicit(&pp->schedtick, memory_order_relaxed) == pp->sysmontick.wdtick)
            return false;
    }
    return true;
}

static void wd_mark(int32_t *wdprocs)
{
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_acquire);
    *wdprocs = procs;
    for (int32_t i = 0; i < procs; i++)
        allp[i]->sysmontick.wdtick = atomic_load_explicit(&allp[i]->schedtick, memory_order_relaxed);
}

/* The watchdog's turn in a sysmon round: *next is when it is due (0: at
 * once, with no reference yet), *wdprocs the Ps at the last call. */
static void wd_check(int64_t now, int64_t *next, int32_t *wdprocs)
{
    if (atomic_exchange_explicit(&wd.changed, false, memory_order_acq_rel)) {
        *next = 0;
        *wdprocs = -1;   /* no reference: the first check is progress */
    }
    if (atomic_load_explicit(&wd.period, memory_order_relaxed) <= 0 || now < *next)
        return;
    if (!wd_progressed(wdprocs)) {
        *next = now + WATCHDOG_RETRY_NS;
        return;
    }
    pthread_mutex_lock(&wd.lock);
    int64_t period = atomic_load_explicit(&wd.period, memory_order_relaxed);
    gort_watchdog_fn fn = wd.fn;
    void *ctx = wd.ctx;
    pthread_mutex_unlock(&wd.lock);
    if (period <= 0 || !fn)
        return;
    wd_mark(wdprocs);
    *next = now + period;
    fn(ctx);
}

int gort_set_watchdog(int64_t period_ns, gort_watchdog_fn fn, void *ctx)
{
    if (period_ns < 0 || (period_ns > 0 && period_ns < 1000000))
        return -EINVAL;
    if (!fn)
        period_ns = 0;
    pthread_mutex_lock(&wd.lock);
    wd.fn = fn;
    wd.ctx = ctx;
    atomic_store_explicit(&wd.period, period_ns, memory_order_relaxed);
    pthread_mutex_unlock(&wd.lock);
    atomic_store_explicit(&wd.changed, true, memory_order_release);
    if (period_ns > 0)
        sysmon_wake();   /* out of a deep sleep that would outlast the period */
    return 0;
}

void sysmon_wake(void)
{
    rtlock_lock(&sched.lock);
    if (atomic_load_explicit(&sched.sysmonwait, memory_order_relaxed)) {
        atomic_store_explicit(&sched.sysmonwait, 0, memory_order_relaxed);
        notewakeup(&sched.sysmonnote);
    }
    rtlock_unlock(&sched.lock);
}

static void *sysmon(void *arg)
{
    (void)arg;
    int64_t delay = 0;
    int idle = 0;
    int64_t lasttrace = 0, lasttrim = 0;
    bool trimming = false;   /* stacks beyond the cap are still cached */
    int64_t wdnext = 0;
    int32_t wdprocs = -1;
    for (;;) {
        if (idle == 0)
            delay = 20 * 1000;
        else if (idle > 50)
            delay *= 2;
        if (delay > 10 * 1000000)
            delay = 10 * 1000000;
        usleep_ns(delay);
        int64_t now = nanotime();
        int32_t trace = atomic_load_explicit(&schedtrace_ms, memory_order_relaxed);

        if (trace <= 0 && (atomic_load_explicit(&sched.gcwaiting, memory_order_acquire) ||
                           atomic_load_explicit(&sched.npidle, memory_order_acquire) ==
                               atomic_load_explicit(&gomaxprocs, memory_order_acquire))) {
            rtlock_lock(&sched.lock);
            if (atomic_load_explicit(&sched.gcwaiting, memory_order_acquire) ||
                atomic_load_explicit(&sched.npidle, memory_order_acquire) ==
                    atomic_load_explicit(&gomaxprocs, memory_order_acquire)) {
                int64_t next = timesleepuntil();
                if (next == 0 || next > now) {
                    atomic_store_explicit(&sched.sysmonwait, 1, memory_order_relaxed);
                    rtlock_unlock(&sched.lock);
                    int64_t sleep = FORCEGC_PERIOD_NS / 2;
                    if (scavenger_period() < sleep)
                        sleep = scavenger_period();
                    if (next != 0 && next - now < sleep)
                        sleep = next - now;
                    /* Idle Ps are progress: the watchdog is fed on time. */
                    if (atomic_load_explicit(&wd.period, memory_order_relaxed) > 0 &&
                        wdnext - now < sleep)
                        sleep = wdnext > now ? wdnext - now : 0;
                    /* Nothing runs: trim dead Gs' stacks, and while some
                     * beyond the cache's cap are left, come back soon for
                     * the next few (each call is bounded: Ps waking up
                     * need sysmon). */
                    if (gfree_trim() && sleep > TRIM_IDLE_NS)
                        sleep = TRIM_IDLE_NS;
                    notetsleep(&sched.sysmonnote, sleep);
                    rtlock_lock(&sched.lock);
                    atomic_store_explicit(&sched.sysmonwait, 0, memory_order_relaxed);
                    noteclear(&sched.sysmonnote);
                    idle = 0;
                    delay = 20 * 1000;
                }
            }
            rtlock_unlock(&sched.lock);
            now = nanotime();
        }

        /* An overdue timer with nobody to run it: start an M. */
        int64_t next = timesleepuntil();
        if (next != 0 && next < now && atomic_load_explicit(&sched.npidle, memory_order_acquire) > 0)
            startm(NULL, false);

        if (retake(now) != 0)
            idle = 0;
        else
            idle++;

        /* Dead Gs' stacks are trimmed once a period; stacks beyond the
         * cache's cap then go back 64 per tick until none are left (a
         * burst of exits is often followed by a burst of spawns that
         * reuses them, hence the wait for the period). */
        if (trimming || now - lasttrim >= TRIM_PERIOD_NS) {
            if (!trimming)
                lasttrim = now;
            trimming = gfree_trim();
        }
        scavenger_periodic(now);
        gc_forcegc_check(now);
        wd_check(now, &wdnext, &wdprocs);
        if (trace > 0 && now - lasttrace >= (int64_t)trace * 1000000) {
            pthread_mutex_lock(&schedtrace_lock);
            if (atomic_load_explicit(&schedtrace_ms, memory_order_relaxed) > 0) {
                lasttrace = now;
                schedtrace(atomic_load_explicit(&scheddetail, memory_order_relaxed));
            }
            pthread_mutex_unlock(&schedtrace_lock);
        }
    }
    return NULL;
}

void sysmon_start(void)
{
    rtlock_lock(&sched.lock);
    sysmon_m.id = sched.mnext++;
    sysmon_m.g0.m = &sysmon_m;
    sched.nmsys++;
    sysmon_m.alllink = atomic_load_explicit(&allm, memory_order_relaxed);
    atomic_store_explicit(&allm, &sysmon_m, memory_order_release);
    rtlock_unlock(&sched.lock);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 1 << 20);
    int err = pthread_create(&sysmon_m.thread, &attr, sysmon, NULL);
    pthread_attr_destroy(&attr);
    if (err)
        rt_throw("cannot start sysmon thread: errno %d", err);
}

int gort_set_schedtrace(int interval_ms, bool detail)
{
    if (interval_ms < 0)
        return -EINVAL;
    pthread_mutex_lock(&schedtrace_lock);
    atomic_store_explicit(&scheddetail, detail, memory_order_relaxed);
    atomic_store_explicit(&schedtrace_ms, interval_ms, memory_order_relaxed);
    pthread_mutex_unlock(&schedtrace_lock);
    if (interval_ms > 0)
        sysmon_wake();
    return 0;
}

/* A growable line buffer, written out in one piece. */
struct linebuf {
    char *s;
    size_t len, cap;
    char small[4096];
};

static void lb_printf(struct linebuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lb_printf(struct linebuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = (b->cap + (size_t)n) * 2;
        char *ns = b->s == b->small ? malloc(ncap) : realloc(b->s, ncap);
        if (!ns)
            return;
        if (b->s == b->small)
            memcpy(ns, b->small, b->len);
        b->s = ns;
        b->cap = ncap;
    }
}

void schedtrace(bool detailed)
{
    static int64_t starttime;
    int64_t now = nanotime();
    if (starttime == 0)
        starttime = now;
    struct linebuf b = {.len = 0, .cap = sizeof b.small};
    b.s = b.small;

    rtlock_lock(&sched.lock);
    int32_t procs = atomic_load_explicit(&gomaxprocs, memory_order_relaxed);
    lb_printf(&b, "SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d spinningthreads=%d "
                  "idlethreads=%d runqueue=%lld",
              (long long)((now - starttime) / 1000000), procs,
              atomic_load_explicit(&sched.npidle, memory_order_relaxed), mcount(),
              atomic_load_explicit(&sched.nmspinning, memory_order_relaxed), sched.nmidle,
              (long long)atomic_load_explicit(&sched.runqsize, memory_order_relaxed));
    if (detailed)
        lb_printf(&b, " gcwaiting=%u nmidlelocked=%d stopwait=%d sysmonwait=%u\n",
                  atomic_load_explicit(&sched.gcwaiting, memory_order_relaxed), sched.nmidlelocked,
                  sched.stopwait, atomic_load_explicit(&sched.sysmonwait, memory_order_relaxed));
    for (int32_t i = 0; i < procs; i++) {
        p_t *pp = allp[i];
        m_t *mp = atomic_load_explicit(&pp->m, memory_order_relaxed);
        uint32_t len = runqlen(pp);
        if (detailed) {
            lb_printf(&b, "  P%d: status=%u schedtick=%u syscalltick=%u m=%lld runqsize=%u gfreecnt=%d timerslen=%d\n",
                      i, atomic_load_explicit(&pp->status, memory_order_relaxed),
                      atomic_load_explicit(&pp->schedtick, memory_order_relaxed),
                      atomic_load_explicit(&pp->syscalltick, memory_order_relaxed),
                      mp ? (long long)mp->id : -1LL, len, READ_ONCE(pp->gfreecnt), timerslen(pp));
        } else {
            lb_printf(&b, " %s%u%s", i == 0 ? "[" : "", len, i == procs - 1 ? "]\n" : "");
        }
    }
    if (detailed) {
        for (m_t *mp = atomic_load_explicit(&allm, memory_order_acquire); mp; mp = mp->alllink) {
            if (READ_ONCE(mp->dead))
                continue;
            /* mp->p belongs to the M; find its P from the P side. */
            p_t *pp = NULL;
            for (int32_t i = 0; i < procs; i++)
                if (atomic_load_explicit(&allp[i]->m, memory_order_relaxed) == mp)
                    pp = allp[i];
            g_t *gp = atomic_load_explicit(&mp->curg, memory_order_relaxed);
            g_t *lg = READ_ONCE(mp->lockedg);
            lb_printf(&b, "  M%lld: p=%d curg=%lld mallocing=0 throwing=%d preemptoff= locks=%d dying=0 spinning=%s blocked=%s lockedg=%lld\n",
                      (long long)mp->id, pp ? pp->id : -1, gp ? (long long)READ_ONCE(gp->goid) : -1LL,
                      READ_ONCE(mp->throwing), READ_ONCE(mp->locks), READ_ONCE(mp->spinning) ? "true" : "false",
                      READ_ONCE(mp->blocked) ? "true" : "false", lg ? (long long)READ_ONCE(lg->goid) : -1LL);
        }
        rtlock_lock(&allglock);
        for (size_t i = 0; i < allglen; i++) {
            g_t *gp = allgs[i];
            uint32_t st = readgstatus(gp) & ~(uint32_t)G_SCAN;
            m_t *mp = READ_ONCE(gp->m);
            m_t *lm = READ_ONCE(gp->lockedm);
            lb_printf(&b, "  G%llu: status=%u(%s) m=%lld lockedm=%lld\n",
                      (unsigned long long)READ_ONCE(gp->goid), st,
                      st == G_WAITING ? waitreason_string(READ_ONCE(gp->waitreason)) : "",
                      mp ? (long long)mp->id : -1LL, lm ? (long long)lm->id : -1LL);
        }
        rtlock_unlock(&allglock);
    }
    rtlock_unlock(&sched.lock);
    rt_trace_write(b.s, b.len);
    if (b.s != b.small)
        free(b.s);
}
