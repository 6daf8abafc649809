/*
 * signal.c - turning a stack overflow into a clear fatal error.
 *
 * A goroutine that runs off the bottom of a guarded stack touches the
 * PROT_NONE guard page and takes SIGSEGV.  The handler runs on the M's
 * alternate signal stack (the goroutine's own stack is exhausted), sees
 * that the faulting address or the stack pointer lies just below the
 * running goroutine's stack, and dies with
 *     fatal error: stack overflow in goroutine N (label)
 * Any other fault is not ours: the previous disposition is restored and the
 * faulting instruction re-runs, so the process dies (or dumps core) exactly
 * as it would have without the runtime.
 */
#include "sighandler.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "print.h"
#include "proc.h"

#define ALTSTACK_SIZE (64 * 1024)

static struct sigaction oldact[NSIG];

static void sigfault(int sig, siginfo_t *si, void *uctx)
{
    g_t *gp = getg();
    ucontext_t *uc = uctx;
    uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    uintptr_t addr = (uintptr_t)si->si_addr;
    if (gp && gp->m && gp != &gp->m->g0 &&
        (stack_in_guard(&gp->stack, addr) || stack_in_guard(&gp->stack, sp))) {
        rt_throw_nodump("stack overflow in goroutine %llu%s%s%s", (unsigned long long)gp->goid,
                        gp->label ? " (" : "", gp->label ? gp->label : "", gp->label ? ")" : "");
    }
    /* Not an overflow: fall back to what was there before us. */
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
