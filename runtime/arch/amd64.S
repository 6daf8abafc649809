/*
 * amd64.S - the goroutine context switch for x86-64 (System V ABI).
 *
 * A suspended context is nothing but a stack pointer: everything a C caller
 * expects to survive a call (rbx, rbp, r12-r15, the MXCSR control bits and
 * the x87 control word) is pushed on the suspended stack itself, below the
 * return address into the code that asked for the switch.  Caller-saved
 * registers need no saving: the switch is an ordinary call as far as the
 * compiler is concerned.  No system call, no signal mask: that is what makes
 * this cheaper than swapcontext.
 *
 * Frame left on a suspended stack, from the saved sp upwards:
 *     0: MXCSR (4 bytes), x87 control word (2 bytes), padding
 *     8: r15   16: r14   24: r13   32: r12   40: rbx   48: rbp
 *    56: return address
 * traceback.c and stack.c (the initial frame of a new goroutine) rely on it.
 */
        .text

/* void gort_ctx_switch(void **save_sp, void *load_sp) */
        .globl  gort_ctx_switch
        .hidden gort_ctx_switch
        .type   gort_ctx_switch, @function
        .p2align 4
gort_ctx_switch:
        .cfi_startproc
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        subq    $8, %rsp
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        ldmxcsr (%rsp)
        fldcw   4(%rsp)
        addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
        .cfi_endproc
        .size   gort_ctx_switch, .-gort_ctx_switch

/*
 * First code a new goroutine runs: the initial frame built by
 * gort_ctx_init returns here with the g in r12.  rsp is 16-byte aligned on
 * arrival, so the call below gives gort_gostart the ABI's entry alignment.
 * rbp is 0, which ends frame-pointer walks.
 */
        .globl  gort_ctx_trampoline
        .hidden gort_ctx_trampoline
        .type   gort_ctx_trampoline, @function
        .p2align 4
gort_ctx_trampoline:
        .cfi_startproc
        .cfi_undefined rip
        movq    %r12, %rdi
        call    gort_gostart
        ud2
        .cfi_endproc
        .size   gort_ctx_trampoline, .-gort_ctx_trampoline

/*
 * void gort_call_deferred(gort_fn fn, void *arg, void **cfa)
 *
 * Calls fn(arg) after storing in *cfa the stack pointer at the call, which
 * is fn's canonical frame address: gort_recover compares its caller's CFA
 * with it to tell a deferred function from a helper it calls.
 */
        .globl  gort_call_deferred
        .hidden gort_call_deferred
        .type   gort_call_deferred, @function
        .p2align 4
gort_call_deferred:
        .cfi_startproc
        pushq   %rbp
        .cfi_def_cfa_offset 16
        .cfi_offset rbp, -16
        movq    %rsp, %rbp
        .cfi_def_cfa_register rbp
        movq    %rsp, (%rdx)
        movq    %rdi, %rax
        movq    %rsi, %rdi
        call    *%rax
        .globl  gort_call_deferred_ret
        .hidden gort_call_deferred_ret
gort_call_deferred_ret:
        popq    %rbp
        .cfi_def_cfa rsp, 8
        ret
        .cfi_endproc
        .size   gort_call_deferred, .-gort_call_deferred

/*
 * void gort_syscall_enter(void)
 *
 * The public entry: no frame of its own, it hands the caller's
 * callee-saved registers, exactly as the caller left them, to
 * syscall_enter_regs (through rt_call_regs_spilled), which keeps them in
 * the G.  While the goroutine is in the call, those registers may hold the
 * only references to heap objects; the collector scans the copy, and the
 * stack above the caller's sp.
 */
        .globl  gort_syscall_enter
        .type   gort_syscall_enter, @function
        .p2align 4
gort_syscall_enter:
        .cfi_startproc
        leaq    syscall_enter_regs(%rip), %rdi
        xorl    %esi, %esi
        jmp     rt_call_regs_spilled
        .cfi_endproc
        .size   gort_syscall_enter, .-gort_syscall_enter

/*
 * void rt_call_regs_spilled(void (*fn)(void *arg, uintptr_t *regs), void *arg)
 *
 * Calls fn(arg, regs) with the caller's callee-saved registers pushed, as
 * the caller left them, at regs[0..5] (r15 r14 r13 r12 rbx rbp), the
 * return address at regs[6] and the caller's frames above.  Everything the
 * caller's side of the stack can hold a reference in is at regs or above:
 * the collector may scan a goroutine in fn's runtime frames from there.
 */
        .globl  rt_call_regs_spilled
        .hidden rt_call_regs_spilled
        .type   rt_call_regs_spilled, @function
        .p2align 4
rt_call_regs_spilled:
        .cfi_startproc
        pushq   %rbp
        .cfi_def_cfa_offset 16
        .cfi_offset rbp, -16
        movq    %rsp, %rbp
        .cfi_def_cfa_register rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rdi, %rax
        movq    %rsi, %rdi
        movq    %rsp, %rsi
        subq    $8, %rsp
        call    *%rax
        addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        .cfi_def_cfa rsp, 8
        ret
        .cfi_endproc
        .size   rt_call_regs_spilled, .-rt_call_regs_spilled

/*
 * void gort_gc(void)
 *
 * No frame of its own: it passes its caller's registers, spilled, to
 * gc_user_entry (gc.c), so that the collecting goroutine's stack is
 * scanned from exactly its caller's side.
 */
        .globl  gort_gc
        .type   gort_gc, @function
        .p2align 4
gort_gc:
        .cfi_startproc
        leaq    gc_user_entry(%rip), %rdi
        xorl    %esi, %esi
        jmp     rt_call_regs_spilled
        .cfi_endproc
        .size   gort_gc, .-gort_gc

        .section .note.GNU-stack,"",@progbits
