/*
 * debugvars.h - GODEBUG settings (see debugvars.c).
 */
#ifndef GORT_RUNTIME_DEBUGVARS_H
#define GORT_RUNTIME_DEBUGVARS_H

#include <stdint.h>

/* Values parsed from GODEBUG at start.  Later issues act on the GC ones. */
struct debugvars {
    int32_t gctrace;
    int32_t schedtrace;      /* ms, 0 = off */
    int32_t scheddetail;
    int32_t gcstoptheworld;
    int32_t gccheckmark;
    int32_t madvdontneed;    /* default 1 */
    int32_t scavenge;
};

extern struct debugvars debug;

/* gctrace is the one setting that changes at run time (gort_set_gctrace):
 * read it with this.  Relaxed: a trace line more or less around the
 * switch does not matter. */
static inline int32_t gctrace_on(void)
{
    return __atomic_load_n(&debug.gctrace, __ATOMIC_RELAXED);
}

void debugvars_init(void);
/* Parse a GODEBUG string into debug; warnings go to stderr. */
void debugvars_parse(const char *s);

#endif
