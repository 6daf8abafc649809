/*
 * ctx.h - switching between goroutine contexts, with the sanitizer hooks.
 *
 * gort_ctx_switch (arch/amd64.S) saves the callee-saved registers on the
 * current stack, stores the stack pointer in *save and resumes the context
 * whose stack pointer is load.  ASan and TSan must be told about stack
 * switches or they see one thread's stack jump around; the hooks compile to
 * nothing in normal builds.
 */
#ifndef GORT_RUNTIME_CTX_H
#define GORT_RUNTIME_CTX_H

#include "group.h"
#include "proc.h"

#if GORT_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#if GORT_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

void gort_ctx_switch(void **save_sp, void *load_sp);
void gort_ctx_trampoline(void);

/* Switch from the running context from to to.  When from will never run
 * again (an exiting goroutine), from_dying lets ASan drop its fake stack. */
static inline void ctx_switch(g_t *from, g_t *to, bool from_dying)
{
    /* On from's stack and as from: under TSan, before the fiber switch. */
    if (__builtin_expect(((uintptr_t)from->group | (uintptr_t)to->group) != 0, 0))
        group_switch(from, to);
#if GORT_TSAN
    /* gort_ctx_switch publishes from by storing its sp, in assembly that
     * TSan does not see; wait_ctx_saved's acquire pairs with this. */
    __tsan_release(&from->ctx_sp);
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
#if GORT_ASAN
    __sanitizer_start_switch_fiber(from_dying ? NULL : &from->asan_fake_stack, (void *)to->stack.lo,
                                   to->stack.hi - to->stack.lo);
#else
    (void)from_dying;
#endif
    gort_ctx_switch(&from->ctx_sp, to->ctx_sp);
#if GORT_ASAN
    __sanitizer_finish_switch_fiber(from->asan_fake_stack, NULL, NULL);
#endif
}

/* The first instructions of a new goroutine run here (arch code calls it). */
_Noreturn void gort_gostart(g_t *gp);

#endif
