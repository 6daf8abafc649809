/*
 * panic.h - protected frames, deferred calls and panics (see panic.c).
 */
#ifndef GORT_RUNTIME_PANIC_H
#define GORT_RUNTIME_PANIC_H

#include <gort/gort.h>
#include <setjmp.h>
#include <stdbool.h>

/* A deferred call, on its frame's list (newest first). */
typedef struct gdefer {
    gort_fn fn;
    void *arg;
    struct gdefer *link;
    struct gort_panic_info *started_by;   /* the panic running it, if any */
} gdefer;

/* A protected frame: gort_pcall's or a deferred call's, on the C stack, or
 * the goroutine body's (the top frame), which lives in the G: a frame on a
 * fresh goroutine's stack would cost every goroutine start a cache line. */
typedef struct pframe {
    gdefer *defers;
    struct pframe *parent;
    jmp_buf *jb;                  /* recovery lands here; NULL for the top */
    struct gort_panic_info *recovered;   /* what gort_pcall returns */
} pframe;

static inline bool pframe_is_top(const pframe *f)
{
    return f->jb == NULL;
}

/* The innermost frame of a goroutine: its pframe chain, or when that is
 * empty its top frame.  (A macro: panic.h cannot see struct g.) */
#define curframe(gp) ((gp)->pframe ? (gp)->pframe : &(gp)->topframe)

struct gort_panic_info {
    void *value;
    char *msg;                    /* malloc'd text shown by "panic: ..." */
    struct gort_panic_info *link; /* the panic in flight when this started */
    struct gort_panic_info *kept; /* the goroutine's records, freed at exit */
    void *defer_cfa;              /* frame address of the deferred call it runs */
    gort_fn defer_fn;             /* and that call's function */
    bool recovered;
    bool aborted;                 /* a later panic unwound past its defer */
    bool goexit;                  /* gort_goexit's pseudo-panic */
    bool fault;                   /* made from a signal (panic_fault) */
    int sig, sigcode;
    uintptr_t fault_addr, fault_pc;
};

struct g;

/* The goroutine body returned: run the top frame's deferred calls.  The
 * top frame is the G's topframe, current while its pframe is NULL; it is
 * all zero between uses (a G starts zeroed and every way out of the body
 * empties it), so a goroutine start writes nothing to it. */
void pframe_top_return(struct g *gp);
/* Free the goroutine's panic records (on g0, at goroutine exit). */
void panic_gfree(struct g *gp);

/* A runtime panic with Go's message ("send on closed channel", ...).  The
 * caller must hold no runtime lock. */
_Noreturn void panic_runtime(const char *msg);

/* A panic made from a fault in code registered with gort_fault_range_add
 * (signal.c diverts the faulting goroutine here). */
_Noreturn void panic_fault(const char *msg, int sig, int code, uintptr_t addr, uintptr_t pc);

/* Call fn(arg), storing first the address at which fn's frame will start
 * (its canonical frame address) in *cfa (arch/<arch>.S). */
void gort_call_deferred(gort_fn fn, void *arg, void **cfa);

#endif
