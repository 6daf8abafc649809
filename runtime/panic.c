/*
 * panic.c - protected frames, deferred calls, panic and recover.
 *
 * Go attaches deferred calls to function activations.  C has no hook at
 * function exit, so gort's unit is the protected frame: gort_pcall(fn, arg)
 * pushes a pframe on the goroutine's frame chain, runs fn, and owns every
 * call deferred while fn runs (gort_defer pushes onto the innermost frame).
 * Every goroutine body is also a frame, the top one, so gort_defer always
 * has somewhere to go.
 *
 * A frame ends normally when fn returns: its deferred calls run newest
 * first, each unlinked before it runs, and gort_pcall returns NULL.  Each
 * deferred call runs in a frame of its own, as a Go deferred function is a
 * function: what it defers runs when it returns.
 *
 * A panic is a record on the goroutine's panic chain (gp->panic, newest
 * first).  gort_panic pushes one and unwinds on the panicking stack, as
 * Go's gopanic does: it takes the innermost frame's newest deferred call,
 * marks it started by this panic, runs it, and unlinks it afterwards.  A
 * frame without deferred calls is popped, which is how a panic passes
 * through a gort_pcall.  Nothing is popped from the C stack while deferred
 * calls run; the C stack is cut back only by a recovery's longjmp or by
 * the goroutine's end.
 *
 * Recovery.  A deferred call stops the panic by calling gort_recover
 * itself.  "Itself" is checked by stack address, as Go checks argp:
 * deferred calls made by a panic go through gort_call_deferred, which
 * records where the deferred function's frame starts (its canonical frame
 * address, CFA) in the panic; gort_recover asks the unwinder for its
 * caller's CFA and compares.  A helper called by the deferred function has
 * a different CFA and gets NULL; so does a helper the deferred function
 * tail-calls, which reuses its frame: the unwinder's function bounds tell
 * it apart.  After the deferred call returns, the
 * panic loop sees the recovery, drops the panic (and the aborted ones it
 * unwound past), and longjmps to the frame that deferred the call; there
 * gort_pcall runs the remaining deferred calls and returns the record.  A
 * recovery in the top frame ends the goroutine normally instead.
 *
 * Nested panics.  A deferred call that panics starts a new record linked to
 * the old one.  When the new panic reaches a deferred call started by an
 * earlier panic, that call has panicked out: the earlier panic is marked
 * aborted and the call unlinked without running again.  An unrecovered
 * panic prints the whole chain, oldest first, then the goroutine dump.
 *
 * gort_goexit is a pseudo-panic (goexit) that runs every deferred call of
 * every frame and then ends the goroutine.  recover() returns NULL while it
 * is the newest record.  A real panic raised by one of its deferred calls
 * and recovered does not cancel the Goexit: the exit goes on.
 *
 * Records are malloc'd and stay valid until the goroutine ends (gort_pcall
 * hands them out); deferred-call records are cached in the G struct, which
 * outlives its goroutine and is reused.
 */
#include "panic.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unwind.h>

#include "print.h"
#include "group.h"
#include "proc.h"

enum { DEFERPOOL_MAX = 16 };

static gdefer *newdefer(g_t *gp)
{
    gdefer *d = gp->deferpool;
    if (d) {
        gp->deferpool = d->link;
        gp->ndeferpool--;
        return d;
    }
    d = malloc(sizeof *d);
    if (!d)
        rt_throw("out of memory allocating a deferred call");
    return d;
}

static void freedefer(g_t *gp, gdefer *d)
{
    if (gp->ndeferpool >= DEFERPOOL_MAX) {
        free(d);
        return;
    }
    d->link = gp->deferpool;
    gp->deferpool = d;
    gp->ndeferpool++;
}

/* A new record owned by gp (freed when gp ends).  msg is taken over. */
static gort_panic_info *newpanic(g_t *gp, void *value, char *msg)
{
    gort_panic_info *p = calloc(1, sizeof *p);
    if (!p)
        rt_throw("out of memory allocating a panic: %s", msg ? msg : "");
    p->value = value;
    p->msg = msg;
    p->kept = gp->panickept;
    gp->panickept = p;
    gp->deferused = true;
    return p;
}

void panic_gfree(g_t *gp)
{
    /* Only what a goroutine used is read or written: the G is usually
     * reused on another CPU, and each line touched moves. */
    if (!gp->deferused)
        return;
    gp->deferused = false;
    if (gp->panickept) {
        for (gort_panic_info *p = gp->panickept, *next; p; p = next) {
            next = p->kept;
            free(p->msg);
            free(p);
        }
        gp->panickept = NULL;
    }
    if (gp->panic)
        gp->panic = NULL;
    if (gp->pframe)
        gp->pframe = NULL;        /* gort_goexit from inside a gort_pcall */
    /* Every way out of the body ran the top frame's deferred calls. */
    gort_assert(gp->topframe.defers == NULL && gp->topframe.recovered == NULL);
    /* The defer cache stays: the G struct is reused by the next goroutine. */
}

/* ------------------------------------------------------------------ */
/* Normal return                                                        */

static void call_in_frame(g_t *gp, gort_fn fn, void *arg, void **cfa);

/* Run f's deferred calls, newest first, as on a normal return. */
static void rundefers(g_t *gp, pframe *f)
{
    gdefer *d;
    while ((d = f->defers) != NULL) {
        f->defers = d->link;
        gort_fn fn = d->fn;
        void *arg = d->arg;
        freedefer(gp, d);
        void *cfa;
        call_in_frame(gp, fn, arg, &cfa);
    }
}

/* A deferred call is a function of its own: it gets a protected frame, so
 * that what it defers runs when it returns, and a panic it raises can be
 * recovered by its own deferred calls.  fn is called through
 * gort_call_deferred, which records its frame address in *cfa. */
static void call_in_frame(g_t *gp, gort_fn fn, void *arg, void **cfa)
{
    pframe f;
    jmp_buf jb;
    f.jb = &jb;
    f.defers = NULL;
    f.parent = gp->pframe;
    f.recovered = NULL;
    gp->pframe = &f;
    if (_setjmp(jb) == 0)
        gort_call_deferred(fn, arg, cfa);
    rundefers(gp, &f);
    gp->pframe = f.parent;
}

gort_panic_info *gort_pcall(gort_fn fn, void *arg)
{
    g_t *gp = getg_or_die("gort_pcall");
    if (!fn)
        panic_runtime("gort_pcall: NULL function");
    pframe f;
    jmp_buf jb;
    f.jb = &jb;
    f.defers = NULL;
    f.parent = gp->pframe;
    f.recovered = NULL;
    gp->deferused = true;
    gp->pframe = &f;
    /* f lives in memory (its address is in gp->pframe), so its fields are
     * reloaded after a longjmp; gp and fn are not changed after _setjmp. */
    if (_setjmp(jb) == 0)
        fn(arg);
    rundefers(gp, &f);
    gp->pframe = f.parent;
    return f.recovered;
}

void pframe_top_return(g_t *gp)
{
    rundefers(gp, &gp->topframe);
}

void gort_defer(gort_fn fn, void *arg)
{
    g_t *gp = getg_or_die("gort_defer");
    if (!fn)
        panic_runtime("gort_defer: NULL function");
    gp->deferused = true;
    pframe *f = curframe(gp);
    gdefer *d = newdefer(gp);
    d->fn = fn;
    d->arg = arg;
    d->started_by = NULL;
    d->link = f->defers;
    f->defers = d;
}

/* ------------------------------------------------------------------ */
/* Panicking                                                            */

/* Go's wording for the signal line of a fault's panic. */
static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV: segmentation violation";
    case SIGBUS:
        return "SIGBUS: bus error";
    case SIGFPE:
        return "SIGFPE: floating-point exception";
    default:
        return "unknown signal";
    }
}

static void printpanics(const gort_panic_info *p)
{
    if (p->link) {
        printpanics(p->link);
        if (!p->link->goexit)
            rt_write("\t", 1);
    }
    if (p->goexit)
        return;
    rt_printf("panic: %s%s\n", p->msg, p->recovered ? " [recovered]" : "");
    if (p->fault)
        rt_printf("[signal %s code=0x%x addr=0x%lx pc=0x%lx]\n", signal_name(p->sig), (unsigned)p->sigcode,
                  (unsigned long)p->fault_addr, (unsigned long)p->fault_pc);
}

/* Nothing recovered gp's panic: print the chain and the dump, exit 2. */
static _Noreturn void fatalpanic(g_t *gp)
{
    rt_die_begin();
    printpanics(gp->panic);
    rt_die_dump_and_exit();
}

static void recovery(g_t *gp, gort_panic_info *p, pframe *f);

/*
 * Run deferred calls for p, the newest record, until one recovers it (then
 * control leaves through recovery()), or until no frame is left: then a
 * panic is fatal and a Goexit returns to its caller.
 */
static void unwind(g_t *gp, gort_panic_info *p)
{
    for (;;) {
        pframe *f = curframe(gp);
        gdefer *d = f->defers;
        if (!d) {
            if (pframe_is_top(f)) {
                if (p->goexit)
                    return;
                if (group_contain_panic(gp, p))
                    goexit1();
                fatalpanic(gp);
            }
            gp->pframe = f->parent;   /* the panic leaves this gort_pcall */
            continue;
        }
        if (d->started_by) {
            /* Started by an earlier panic and panicked out of: that panic
             * is over, and the call does not run twice. */
            d->started_by->aborted = true;
            d->started_by->defer_cfa = NULL;
            f->defers = d->link;
            freedefer(gp, d);
            continue;
        }
        d->started_by = p;
        p->defer_fn = d->fn;
        call_in_frame(gp, d->fn, d->arg, &p->defer_cfa);
        p->defer_cfa = NULL;
        /* Whatever d did in between has been undone or recovered inside
         * it, so d is still f's newest deferred call. */
        gort_assert(curframe(gp) == f && f->defers == d);
        f->defers = d->link;
        freedefer(gp, d);
        if (p->recovered)
            recovery(gp, p, f);
    }
}

static void recovery(g_t *gp, gort_panic_info *p, pframe *f)
{
    gp->panic = p->link;
    if (gp->panic && gp->panic->goexit && gp->panic->aborted) {
        /* The panic came out of a deferred call of gort_goexit: a recover
         * cannot cancel a Goexit, which goes on with the remaining calls. */
        gort_panic_info *ge = gp->panic;
        ge->aborted = false;
        unwind(gp, ge);
        goexit1();
    }
    while (gp->panic && gp->panic->aborted)
        gp->panic = gp->panic->link;
    if (pframe_is_top(f)) {
        /* The goroutine body "returns normally": its remaining deferred
         * calls run and the goroutine ends. */
        rundefers(gp, f);
        goexit1();
    }
    f->recovered = p;
    _longjmp(*f->jb, 1);
}

static _Noreturn void gopanic_fault(void *value, char *msg, const gort_panic_info *fault);

static _Noreturn void gopanic(void *value, char *msg)
{
    gopanic_fault(value, msg, NULL);
}

static _Noreturn void gopanic_fault(void *value, char *msg, const gort_panic_info *fault)
{
    g_t *gp = getg();
    if (!gp || gp == &gp->m->g0) {
        /* Not on a goroutine: nothing to unwind. */
        rt_die_begin();
        rt_printf("panic: %s [not on a goroutine]\n", msg ? msg : "");
        rt_die_dump_and_exit();
    }
    if (gp->m->locks > 0)
        rt_throw("panic while holding runtime locks: %s", msg ? msg : "");
    gort_panic_info *p = newpanic(gp, value, msg);
    if (fault) {
        p->fault = true;
        p->sig = fault->sig;
        p->sigcode = fault->sigcode;
        p->fault_addr = fault->fault_addr;
        p->fault_pc = fault->fault_pc;
    }
    p->link = gp->panic;
    gp->panic = p;
    unwind(gp, p);
    rt_throw("panic unwinding returned");
}

static char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        rt_throw("out of memory formatting a panic message");
    return s;
}

static char *format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(fmt, ap);
    va_end(ap);
    return s;
}

void gort_panic(void *value)
{
    gopanic(value, format("(void *) %p", value));
}

void gort_panicf(const char *fmt, ...)
{
    if (!fmt)
        gopanic(NULL, format("gort_panicf: NULL format"));
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    gopanic(NULL, msg);
}

void panic_runtime(const char *msg)
{
    gopanic(NULL, format("%s", msg));
}

void panic_fault(const char *msg, int sig, int code, uintptr_t addr, uintptr_t pc)
{
    gort_panic_info f = {.sig = sig, .sigcode = code, .fault_addr = addr, .fault_pc = pc};
    gopanic_fault(NULL, format("%s", msg), &f);
}

bool gort_panic_fault(const gort_panic_info *p, int *sig, uintptr_t *addr, uintptr_t *pc)
{
    if (!p || !p->fault)
        return false;
    if (sig)
        *sig = p->sig;
    if (addr)
        *addr = p->fault_addr;
    if (pc)
        *pc = p->fault_pc;
    return true;
}

void gort_goexit(void)
{
    g_t *gp = getg_or_die("gort_goexit");
    gort_panic_info *p = newpanic(gp, NULL, NULL);
    p->goexit = true;
    p->link = gp->panic;
    gp->panic = p;
    unwind(gp, p);
    goexit1();
}

/* ------------------------------------------------------------------ */
/* Recover                                                              */

/* The return address inside gort_call_deferred (arch/<arch>.S). */
extern const char gort_call_deferred_ret[];

/* The unwinder reports, for each frame, its return address and the stack
 * pointer it had at its call (the CFA of the frame it called).  The frame
 * whose return address is ra is gort_recover's caller; the one after it
 * reports the caller's own CFA. */
struct cfawalk {
    uintptr_t ra;
    int state;                    /* 0 looking, 1 found ra, 2 done */
    uintptr_t at_ra, above_ra;    /* CFAs reported by those two frames */
    int frames;
};

static _Unwind_Reason_Code cfawalk_frame(struct _Unwind_Context *ctx, void *arg)
{
    struct cfawalk *w = arg;
    if (++w->frames > 64)
        return _URC_END_OF_STACK;
    if (w->state == 0 && _Unwind_GetIP(ctx) == w->ra) {
        w->at_ra = _Unwind_GetCFA(ctx);
        w->state = 1;
        return _URC_NO_REASON;
    }
    if (w->state == 1) {
        w->above_ra = _Unwind_GetCFA(ctx);
        w->state = 2;
        return _URC_END_OF_STACK;
    }
    return _URC_NO_REASON;
}

__attribute__((noinline)) gort_panic_info *gort_recover(void)
{
    g_t *gp = getg();
    if (!gp || gp == &gp->m->g0)
        return NULL;
    gort_panic_info *p = gp->panic;
    if (!p || p->goexit || p->recovered || !p->defer_cfa)
        return NULL;
    struct cfawalk w = {.ra = (uintptr_t)__builtin_return_address(0)};
    _Unwind_Backtrace(cfawalk_frame, &w);
    uintptr_t want = (uintptr_t)p->defer_cfa;
    /* Direct call: the caller's CFA is where gort_call_deferred put its
     * frame.  A caller that tail-called us is gort_call_deferred's callee
     * too: then the frame at ra is gort_call_deferred itself. */
    bool direct;
    if (w.state >= 1 && w.at_ra == want) {
        direct = w.ra == (uintptr_t)gort_call_deferred_ret;
    } else if (w.state == 2 && w.above_ra == want) {
        /* The caller sits where the deferred function's frame goes; it is
         * the deferred function unless that one tail-called a helper. */
        void *fn = _Unwind_FindEnclosingFunction((void *)(w.ra - 1));
        direct = fn == NULL || fn == (void *)p->defer_fn;
    } else {
        direct = false;
    }
    if (!direct)
        return NULL;
    p->recovered = true;
    return p;
}

const char *gort_panic_message(const gort_panic_info *p)
{
    return p ? p->msg : NULL;
}

void *gort_panic_value(const gort_panic_info *p)
{
    return p ? p->value : NULL;
}
