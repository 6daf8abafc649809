/*
 * traceback.c - goroutine dumps in Go's traceback style.
 *
 * A dump lists every user goroutine with its status (or wait reason), how
 * long it has waited once that reaches a minute, its label, the frames of
 * its stack when it is stopped, and who created it.  Frames come from the
 * frame-pointer chain that the context switch leaves on a suspended stack
 * (arch/amd64.S documents the layout) and are named with dladdr1; gort is
 * built with frame pointers, code built without them shows fewer frames.
 *
 * A stopped goroutine is pinned while its stack is read by setting the
 * G_SCAN bit in its status, which makes anyone trying to run it wait.  A
 * running goroutine's stack is changing under us and is not read.
 */
#include "traceback.h"

#include <dlfcn.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"
#include "print.h"
#include "proc.h"

static const char *const waitreasons[WR_COUNT] = {
    [WR_ZERO] = "",
    [WR_IO_WAIT] = "IO wait",
    [WR_CHAN_RECV_NIL] = "chan receive (nil chan)",
    [WR_CHAN_SEND_NIL] = "chan send (nil chan)",
    [WR_SELECT] = "select",
    [WR_SELECT_NO_CASES] = "select (no cases)",
    [WR_CHAN_RECV] = "chan receive",
    [WR_CHAN_SEND] = "chan send",
    [WR_FINALIZER_WAIT] = "finalizer wait",
    [WR_FORCEGC_IDLE] = "force gc (idle)",
    [WR_SEMACQUIRE] = "semacquire",
    [WR_SLEEP] = "sleep",
    [WR_SYNC_COND_WAIT] = "sync.Cond.Wait",
    [WR_GC_WORKER_IDLE] = "GC worker (idle)",
    [WR_PREEMPTED] = "preempted",
    [WR_STOPPING_THE_WORLD] = "stopping the world",
    [WR_GC_SWEEP_WAIT] = "GC sweep wait",
    [WR_GC_SCAVENGE_WAIT] = "GC scavenge wait",
    [WR_WAIT_FOR_GC_CYCLE] = "wait for GC cycle",
    [WR_GC_ASSIST_WAIT] = "GC assist wait",
};

const char *waitreason_string(int reason)
{
    if (reason < 0 || reason >= WR_COUNT || !waitreasons[reason])
        return "";
    return waitreasons[reason];
}

static _Atomic int64_t clock_skew;

void rt_test_dump_clock_skew(int64_t skew)
{
    atomic_store(&clock_skew, skew);
}

struct out {
    gort_write_fn write;
    void *ctx;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    o->write(o->ctx, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* "name(...)\n\tobject +0xoff\n" for a code address. */
static void print_pc(struct out *o, uintptr_t pc, bool is_return)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    uintptr_t look = is_return ? pc - 1 : pc;
    if (dladdr1((void *)look, &info, (void **)&sym, RTLD_DL_SYMENT) == 0) {
        outf(o, "?()\n\t?? pc=%#lx\n", (unsigned long)pc);
        return;
    }
    const char *name = NULL;
    if (sym && info.dli_sname && info.dli_saddr &&
        look < (uintptr_t)info.dli_saddr + (sym->st_size ? sym->st_size : 1))
        name = info.dli_sname;
    outf(o, "%s(...)\n\t%s +%#lx\n", name ? name : "?", info.dli_fname ? info.dli_fname : "??",
         (unsigned long)(pc - (uintptr_t)info.dli_fbase));
}

static const char *func_name(uintptr_t pc, char *buf, size_t len)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (pc && dladdr1((void *)(pc - 1), &info, (void **)&sym, RTLD_DL_SYMENT) != 0 && sym &&
        info.dli_sname && pc - 1 < (uintptr_t)info.dli_saddr + (sym->st_size ? sym->st_size : 1))
        return info.dli_sname;
    if (pc && dladdr((void *)(pc - 1), &info) != 0 && info.dli_fname) {
        snprintf(buf, len, "?? (%s +%#lx)", info.dli_fname, (unsigned long)(pc - (uintptr_t)info.dli_fbase));
        return buf;
    }
    return "??";
}

/* Print pc, then walk the frame-pointer chain from fp within [lo, hi). */
static void walk_frames(struct out *o, uintptr_t pc, uintptr_t fp, uintptr_t lo, uintptr_t hi)
{
    for (int depth = 0; depth < 64; depth++) {
        print_pc(o, pc, true);
        if (fp < lo || fp + 16 > hi || (fp & 7))
            break;
        const uintptr_t *frame = (const uintptr_t *)fp;
        pc = frame[1];
        uintptr_t next = frame[0];
        if (pc == 0 || pc == (uintptr_t)gort_ctx_trampoline || next <= fp)
            break;
        fp = next;
    }
}

/* Walk the frame pointers of a stopped goroutine. */
static void print_frames(struct out *o, g_t *gp)
{
    const uintptr_t *sp = gp->ctx_sp;
    uintptr_t lo = gp->stack.lo, hi = gp->stack.hi;
    if ((uintptr_t)sp < lo || (uintptr_t)sp + 64 > hi)
        return;
    uintptr_t pc = sp[7];
    uintptr_t fp = sp[6];
    if (pc == (uintptr_t)gort_ctx_trampoline) {
        /* Never ran: show where it will start. */
        print_pc(o, (uintptr_t)gp->fn, false);
        return;
    }
    walk_frames(o, pc, fp, lo, hi);
}

/* Walk the frame pointers of the calling goroutine, from the caller of
 * this function (a panic report shows the panicking goroutine's stack). */
__attribute__((noinline)) static void print_own_frames(struct out *o, g_t *gp)
{
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    const uintptr_t *frame = (const uintptr_t *)fp;
    walk_frames(o, frame[1], frame[0], gp->stack.lo, gp->stack.hi);
}

static void dump_one(struct out *o, g_t *gp, int64_t now)
{
    uint32_t status = readgstatus(gp) & ~(uint32_t)G_SCAN;
    const char *state;
    switch (status) {
    case G_RUNNABLE: state = "runnable"; break;
    case G_RUNNING: state = "running"; break;
    case G_SYSCALL: state = "syscall"; break;
    case G_WAITING: {
        uint8_t wr = READ_ONCE(gp->waitreason);
        state = wr ? waitreason_string(wr) : "waiting";
        break;
    }
    case G_IDLE: state = "idle"; break;
    default: return;
    }
    /* A g that dies after its status was read may be reused by newproc
     * at once: every field below is read as a relaxed atomic. */
    uint64_t goid = READ_ONCE(gp->goid), parent = READ_ONCE(gp->parent_goid);
    int64_t since = READ_ONCE(gp->waitsince);
    void *gopc = READ_ONCE(gp->gopc);
    int64_t minutes = 0;
    if (status == G_WAITING && since != 0)
        minutes = (now - since) / (60 * GORT_S);
    if (minutes >= 1)
        outf(o, "goroutine %llu [%s, %lld minutes]:\n", (unsigned long long)goid, state,
             (long long)minutes);
    else
        outf(o, "goroutine %llu [%s]:\n", (unsigned long long)goid, state);
    const char *glabel = READ_ONCE(gp->label);
    if (glabel)
        outf(o, "%s\n", glabel);
    if ((status == G_WAITING || status == G_RUNNABLE) && castogscanstatus(gp, status)) {
        print_frames(o, gp);
        ungscan(gp, status);
    } else if (status == G_RUNNING && gp == getg()) {
        print_own_frames(o, gp);
    } else if (status == G_RUNNING || status == G_SYSCALL) {
        outf(o, "\tgoroutine running on other thread; stack unavailable\n");
    }
    char buf[256];
    if (parent)
        outf(o, "created by goroutine %llu in %s\n", (unsigned long long)parent,
             func_name((uintptr_t)gopc, buf, sizeof buf));
    else if (goid != 1)
        outf(o, "created by a thread outside the runtime in %s\n",
             func_name((uintptr_t)gopc, buf, sizeof buf));
    outf(o, "\n");
}

static bool label_matches(const g_t *gp, const char *label)
{
    const char *glabel = READ_ONCE(gp->label);
    return !label || (glabel && strncmp(glabel, label, strlen(label)) == 0);
}

static void dump(struct out *o, const char *label, bool dying)
{
    int64_t now = coarsetime() + atomic_load(&clock_skew);
    g_t *self = getg();
    bool locked = true;
    if (dying) {
        /* A dying thread may be the one holding the lock; don't wait long. */
        int i = 0;
        while (!rtlock_trylock(&allglock) && i++ < 1000)
            usleep(100);
        locked = i <= 1000;
    } else {
        rtlock_lock(&allglock);
    }
    /* The calling goroutine first, as Go does. */
    if (self && self->m && self != &self->m->g0 && !self->system && label_matches(self, label))
        dump_one(o, self, now);
    for (size_t i = 0; i < allglen; i++) {
        g_t *gp = allgs[i];
        if (gp == self || READ_ONCE(gp->system) || !label_matches(gp, label))
            continue;
        dump_one(o, gp, now);
    }
    if (locked)
        rtlock_unlock(&allglock);
}

void gort_dump_goroutines(gort_write_fn write, void *ctx, const char *label)
{
    if (!write)
        return;
    struct out o = {write, ctx};
    dump(&o, label, false);
}

static void write_fd(void *ctx, const char *s, size_t n)
{
    int fd = *(int *)ctx;
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

void traceback_all_fd(int fd)
{
    struct out o = {write_fd, &fd};
    dump(&o, NULL, true);
}
