/*
 * stack.h - goroutine stacks (see stack.c).
 */
#ifndef GORT_RUNTIME_STACK_H
#define GORT_RUNTIME_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum stackkind {
    STACK_NONE = 0,
    STACK_GUARDED,   /* default size, PROT_NONE guard page below */
    STACK_SLAB,      /* default size, in a shared slab, canary at lo */
    STACK_CUSTOM,    /* its own mapping, guard page if the budget allows */
    STACK_THREAD,    /* an M's own pthread stack (g0) */
};

struct stack {
    uintptr_t lo, hi;     /* usable range; the guard (if any) is below lo */
    uint8_t kind;
    bool guarded;         /* a PROT_NONE page sits right below lo */
};

/* Bytes at the top of a pooled stack that keep their pages. */
#define STACK_KEEP_TOP (8 * 1024)
/* Slab stacks: bytes at lo that must read as zero (the canary), and the
 * least headroom a switched-out goroutine must have left. */
#define STACK_CANARY_BYTES 64
#define STACK_SP_MARGIN 256

extern size_t stack_default_size;

void stackinit(void);
/* Allocate a stack of size bytes (0 = default) into *st.  0 or -errno. */
int stackalloc(size_t size, struct stack *st);
/* Give a stack back to the pool (default size) or to the kernel (custom). */
void stackfree(struct stack *st);
/* Release a stack's pages: all of them, or those below its top 8 KiB. */
void stackrelease(const struct stack *st, bool all);
/* Stacks held by live goroutines, summed over every P (proc.c). */
void stack_inuse_sum(int64_t inuse[5], int64_t *bytes);
/* A slab stack has no guard page; an overflow shows as a non-zero canary
 * (the untouched bottom reads as zero) or a saved sp too close to lo.
 * Reading the canary of an untouched page maps the shared zero page and
 * costs no memory. */
bool stack_overflowed(const struct stack *st, uintptr_t sp);
/* True if addr lies in the guard page (or just below) of st. */
bool stack_in_guard(const struct stack *st, uintptr_t addr);

#endif
