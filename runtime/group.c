/*
 * group.c - goroutine groups.
 *
 * A group is a set of counters that its goroutines feed.  The hot paths
 * stay per goroutine: an allocation adds to two plain fields of its G, and
 * the running time is the gap between the switches that give the G its
 * thread and take it away.  Both reach the group's atomics when the G
 * leaves its thread (group_switch, group_pause), so a group costs one
 * clock read per switch of its own goroutines and nothing for others.
 *
 * Panic containment: panic.c, finding no frame left to unwind on a G
 * whose group has a handler, calls group_contain_panic instead of dying;
 * the handler runs on the panicking G (its deferred calls have all run),
 * which then exits.  gp->containing marks the handler's run, so a panic
 * out of the handler is fatal rather than contained again.
 */
#include "group.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

gort_group *gort_group_new(const char *name, gort_group_panic_fn on_panic, void *ctx)
{
    gort_group *grp = calloc(1, sizeof *grp);
    if (!grp) {
        errno = ENOMEM;
        return NULL;
    }
    snprintf(grp->name, sizeof grp->name, "%s", name ? name : "");
    grp->on_panic = on_panic;
    grp->ctx = ctx;
    return grp;
}

int gort_group_free(gort_group *grp)
{
    if (!grp)
        return 0;
    if (atomic_load_explicit(&grp->goroutines, memory_order_acquire) != 0)
        return -EBUSY;
    free(grp);
    return 0;
}

void gort_group_read(const gort_group *grp, gort_group_stats *st)
{
    gort_group *g = (gort_group *)grp;
    st->goroutines = atomic_load_explicit(&g->goroutines, memory_order_relaxed);
    st->started = atomic_load_explicit(&g->started, memory_order_relaxed);
    st->alloc_bytes = atomic_load_explicit(&g->alloc_bytes, memory_order_relaxed);
    st->alloc_objects = atomic_load_explicit(&g->alloc_objects, memory_order_relaxed);
    st->cpu_ns = atomic_load_explicit(&g->cpu_ns, memory_order_relaxed);
    st->assist_ns = atomic_load_explicit(&g->assist_ns, memory_order_relaxed);
    st->panics = atomic_load_explicit(&g->panics, memory_order_relaxed);
}

const char *gort_group_name(const gort_group *grp)
{
    return grp->name;
}

gort_group *gort_group_current(void)
{
    g_t *gp = getg();
    return gp && gp->m && gp != &gp->m->g0 ? gp->group : NULL;
}

/* Hand gp's counts since runstart to its group and stop its clock. */
static void flush(g_t *gp, int64_t now)
{
    gort_group *grp = gp->group;
    if (gp->runstart != 0)
        atomic_fetch_add_explicit(&grp->cpu_ns, now - gp->runstart, memory_order_relaxed);
    if (gp->acct_objects != 0) {
        atomic_fetch_add_explicit(&grp->alloc_bytes, gp->acct_bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&grp->alloc_objects, gp->acct_objects, memory_order_relaxed);
        gp->acct_bytes = gp->acct_objects = 0;
    }
    gp->runstart = 0;
}

void group_switch(g_t *from, g_t *to)
{
    int64_t now = gort_nanotime();
    if (from->group)
        flush(from, now);
    if (to->group)
        to->runstart = now;
}

void group_pause(g_t *gp)
{
    if (gp->group)
        flush(gp, gort_nanotime());
}

void group_resume(g_t *gp)
{
    if (gp->group)
        gp->runstart = gort_nanotime();
}

/* A G outside any group has group NULL and the rest of its accounting
 * zero: group_leave leaves it so.  Joining no group then writes nothing:
 * the G was last used on another CPU, and its cache line stays shared. */
void group_join(g_t *gp, gort_group *grp)
{
    if (!grp)
        return;
    gp->group = grp;
    gp->runstart = 0;
    gp->acct_bytes = gp->acct_objects = 0;
    gp->containing = false;
    atomic_fetch_add_explicit(&grp->goroutines, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&grp->started, 1, memory_order_relaxed);
}

void group_leave(g_t *gp)
{
    gort_group *grp = gp->group;
    if (!grp)
        return;
    gp->group = NULL;
    gp->runstart = 0;
    gp->acct_bytes = gp->acct_objects = 0;
    gp->containing = false;
    /* Release: whoever sees the count reach zero (gort_group_free, an
     * unloader) sees everything the goroutine did. */
    atomic_fetch_sub_explicit(&grp->goroutines, 1, memory_order_release);
}

void group_assist(g_t *gp, int64_t ns)
{
    if (gp->group)
        atomic_fetch_add_explicit(&gp->group->assist_ns, ns, memory_order_relaxed);
}

bool group_contain_panic(g_t *gp, const struct gort_panic_info *p)
{
    gort_group *grp = gp->group;
    if (!grp || !grp->on_panic || gp->containing)
        return false;
    gp->containing = true;
    atomic_fetch_add_explicit(&grp->panics, 1, memory_order_relaxed);
    grp->on_panic(grp->ctx, grp, p);
    return true;
}
