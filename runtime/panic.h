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

/* A protected frame: gort_pcall's, or the goroutine body's (top). */
typedef struct pframe {
    jmp_buf *jb;                  /* recovery lands here (NULL for top, whose
                                     frame stays small: every goroutine
                                     start pays for it) */
    gdefer *defers;
    struct pframe *parent;
    struct gort_panic_info *recovered;   /* what gort_pcall returns */
    bool top;
} pframe;

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
};

struct g;

/* Run a goroutine body as the goroutine's top protected frame, then its
 * deferred calls.  Returns when the goroutine should exit. */
void pframe_run_top(struct g *gp);
/* Free the goroutine's panic records (on g0, at goroutine exit). */
void panic_gfree(struct g *gp);

/* A runtime panic with Go's message ("send on closed channel", ...).  The
 * caller must hold no runtime lock. */
_Noreturn void panic_runtime(const char *msg);

/* Call fn(arg), storing first the address at which fn's frame will start
 * (its canonical frame address) in *cfa (arch/<arch>.S). */
void gort_call_deferred(gort_fn fn, void *arg, void **cfa);

#endif
