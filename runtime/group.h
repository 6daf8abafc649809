/*
 * group.h - goroutine groups: per-component accounting and panic
 * containment (group.c; the API is in gort.h).
 */
#ifndef GORT_RUNTIME_GROUP_H
#define GORT_RUNTIME_GROUP_H

#include <gort/gort.h>
#include <stdatomic.h>

struct g;

struct gort_group {
    char name[64];
    gort_group_panic_fn on_panic;
    void *ctx;
    _Atomic int64_t goroutines;
    _Atomic uint64_t started;
    _Atomic uint64_t alloc_bytes, alloc_objects;
    _Atomic int64_t cpu_ns, assist_ns;
    _Atomic uint64_t panics;
};

/* A context switch from -> to where either has a group: close from's
 * running interval and open to's (ctx.h calls it). */
void group_switch(struct g *from, struct g *to);
/* gp leaves its thread without a switch (gort_syscall_enter): hand its
 * counts to the group and stop its clock. */
void group_pause(struct g *gp);
/* gp got its thread back without a switch (gort_syscall_exit). */
void group_resume(struct g *gp);
/* A goroutine joins grp at birth / leaves it at exit (proc.c). */
void group_join(struct g *gp, struct gort_group *grp);
void group_leave(struct g *gp);
/* Collector assist time spent by gp. */
void group_assist(struct g *gp, int64_t ns);
/* An unrecovered panic reached the top of gp, whose group contains
 * panics: run the handler.  Returns false when the panic must stay fatal
 * (no handler, or the handler itself panicked). */
bool group_contain_panic(struct g *gp, const struct gort_panic_info *p);

#endif
