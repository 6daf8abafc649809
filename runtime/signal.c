/*
 * signal.c - turning a stack overflow into a clear fatal error, and a
 * fault in registered code into a panic.
 *
 * A goroutine that runs off the bottom of a guarded stack touches the
 * PROT_NONE guard page and takes SIGSEGV.  The handler runs on the M's
 * alternate signal stack (the goroutine's own stack is exhausted), sees
 * that the faulting address or the stack pointer lies just below the
 * running goroutine's stack, and dies with
 *     fatal error: stack overflow in goroutine N (label)
 *
 * A fault raised by the kernel (not kill(2)) at an instruction inside a
 * range registered with gort_fault_range_add (gortd registers each
 * plugin's code), on a goroutine holding no runtime lock, becomes a panic
 * in that goroutine, as Go's sigpanic does: the handler edits the
 * interrupted context so that, when it returns, the goroutine finds itself
 * calling rt_sigpanic from the faulting instruction (whose address is
 * pushed as the return address, below the red zone, on a 16-byte boundary
 * as a call would leave it).  rt_sigpanic raises the panic with Go's
 * message on the goroutine's own stack, where deferred calls can run and
 * recover it.
 *
 * Any other fault is not ours: the previous disposition is restored and the
 * faulting instruction re-runs, so the process dies (or dumps core) exactly
 * as it would have without the runtime.
 */
#include "sighandler.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <errno.h>

#include "lock.h"
#include "panic.h"
#include "print.h"
#include "proc.h"

#define ALTSTACK_SIZE (64 * 1024)
#define NFAULTRANGES 256
#define REDZONE 128
#define SIGPANIC_STACK_MIN 4096   /* stack the panic needs below the fault */

static struct sigaction oldact[NSIG];

/* Registered ranges; a slot is free while lo is 0.  The handler reads them
 * without a lock: add publishes hi before lo, remove clears lo first. */
static struct {
    _Atomic uintptr_t lo, hi;
} faultranges[NFAULTRANGES];
static rtlock faultlock;

int gort_fault_range_add(const void *lo, const void *hi)
{
    if (!lo || (uintptr_t)lo >= (uintptr_t)hi)
        return -EINVAL;
    int err = -ENOSPC;
    rtlock_lock(&faultlock);
    for (int i = 0; i < NFAULTRANGES; i++) {
        if (atomic_load_explicit(&faultranges[i].lo, memory_order_relaxed) == 0) {
            atomic_store_explicit(&faultranges[i].hi, (uintptr_t)hi, memory_order_relaxed);
            atomic_store_explicit(&faultranges[i].lo, (uintptr_t)lo, memory_order_release);
            err = 0;
            break;
        }
    }
    rtlock_unlock(&faultlock);
    return err;
}

int gort_fault_range_remove(const void *lo)
{
    int err = -ENOENT;
    rtlock_lock(&faultlock);
    for (int i = 0; i < NFAULTRANGES && lo; i++) {
        if (atomic_load_explicit(&faultranges[i].lo, memory_order_relaxed) == (uintptr_t)lo) {
            atomic_store_explicit(&faultranges[i].lo, 0, memory_order_relaxed);
            atomic_store_explicit(&faultranges[i].hi, 0, memory_order_relaxed);
            err = 0;
            break;
        }
    }
    rtlock_unlock(&faultlock);
    return err;
}

static bool in_fault_range(uintptr_t pc)
{
    for (int i = 0; i < NFAULTRANGES; i++) {
        uintptr_t lo = atomic_load_explicit(&faultranges[i].lo, memory_order_acquire);
        if (lo && pc >= lo && pc < atomic_load_explicit(&faultranges[i].hi, memory_order_relaxed))
            return true;
    }
    return false;
}

/* Where a diverted goroutine resumes (see the top of the file). */
_Noreturn void rt_sigpanic(int sig, int code, uintptr_t addr, uintptr_t pc);

_Noreturn void rt_sigpanic(int sig, int code, uintptr_t addr, uintptr_t pc)
{
    char msg[96];
    if (sig == SIGFPE)
        snprintf(msg, sizeof msg, "runtime error: %s",
                 code == FPE_INTDIV   ? "integer divide by zero"
                 : code == FPE_INTOVF ? "integer overflow"
                                      : "floating point error");
    else if (addr < 4096)
        snprintf(msg, sizeof msg, "runtime error: invalid memory address or nil pointer dereference");
    else
        snprintf(msg, sizeof msg, "runtime error: unexpected fault address %#lx", (unsigned long)addr);
    panic_fault(msg, sig, code, addr, pc);
}

/* Make the interrupted goroutine call rt_sigpanic; false when the fault is
 * not one to divert. */
static bool divert_to_panic(g_t *gp, int sig, siginfo_t *si, ucontext_t *uc)
{
    greg_t *r = uc->uc_mcontext.gregs;
    uintptr_t pc = (uintptr_t)r[REG_RIP];
    if (si->si_code <= 0 || !gp || !gp->m || gp == &gp->m->g0 || gp->system || gp->m->locks ||
        !in_fault_range(pc))
        return false;
    uintptr_t sp = (((uintptr_t)r[REG_RSP] - REDZONE) & ~(uintptr_t)15) - sizeof(uintptr_t);
    if (sp < gp->stack.lo + SIGPANIC_STACK_MIN || sp >= gp->stack.hi)
        return false;
    *(uintptr_t *)sp = pc;
    r[REG_RSP] = (greg_t)sp;
    r[REG_RIP] = (greg_t)(uintptr_t)rt_sigpanic;
    r[REG_RDI] = sig;
    r[REG_RSI] = si->si_code;
    r[REG_RDX] = (greg_t)(uintptr_t)si->si_addr;
    r[REG_RCX] = (greg_t)pc;
    return true;
}

static void sigfault(int sig, siginfo_t *si, void *uctx)
{
    g_t *gp = getg();
    ucontext_t *uc = uctx;
    uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    uintptr_t addr = (uintptr_t)si->si_addr;
    /* For SIGFPE, si_addr is the instruction's address: no overflow test. */
    if (sig != SIGFPE && gp && gp->m && gp != &gp->m->g0 &&
        (stack_in_guard(&gp->stack, addr) || stack_in_guard(&gp->stack, sp))) {
        rt_throw_nodump("stack overflow in goroutine %llu%s%s%s", (unsigned long long)gp->goid,
                        gp->label ? " (" : "", gp->label ? gp->label : "", gp->label ? ")" : "");
    }
    if (divert_to_panic(gp, sig, si, uc))
        return;
    /* Not ours: fall back to what was there before us. */
    sigaction(sig, &oldact[sig], NULL);
    if (si->si_code <= 0)
        raise(sig);
}

void signals_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = sigfault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &oldact[SIGSEGV]);
    sigaction(SIGBUS, &sa, &oldact[SIGBUS]);
    sigaction(SIGFPE, &sa, &oldact[SIGFPE]);
}

void minit_signals(m_t *mp)
{
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = malloc(ALTSTACK_SIZE);
    if (!ss.ss_sp)
        rt_throw("out of memory for a signal stack");
    ss.ss_size = ALTSTACK_SIZE;
    if (sigaltstack(&ss, NULL) != 0)
        rt_throw("sigaltstack failed");
    mp->sigaltstack = ss.ss_sp;
}

void munit_signals(m_t *mp)
{
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    free(mp->sigaltstack);
    mp->sigaltstack = NULL;
}
