/*
 * test_group.c - goroutine groups and faults that become panics.
 *
 * Groups (gort_group_new): a goroutine joins its creator's group, or the
 * one named in gort_go_opts, for life, whoever created it (a goroutine or
 * a plain thread); the group counts its goroutines alive and started, the
 * allocations they make and the time they hold a thread, which excludes
 * sleeping and system calls.  A running goroutine's counts reach the group
 * when it leaves its thread, so the tests read a group while its members
 * are parked or gone.  gort_group_free refuses a group with members.  A
 * group with an on_panic handler contains an unrecovered panic: the
 * handler runs once, on the panicking goroutine, after its deferred calls;
 * then that goroutine ends and everything else goes on.  A recovered
 * panic or a Goexit never reaches the handler.
 *
 * Faults (gort_fault_range_add): the test plugin tests/plugins/faulty.c
 * (BUILD/tests/plugins/libfaulty.so) is loaded once and its code
 * registered (tests/faultutil.h).  A null dereference, a load from an
 * unmapped address and an integer division by zero in it become panics
 * with Go's messages, which gort_pcall and a deferred gort_recover stop,
 * any number of times on the same goroutine, and which a containing
 * group's handler receives.  A fault outside every range kills the
 * process: that test runs helper program tests/progs/faultpanic.c in a
 * subprocess.
 *
 * Every test body runs on the main goroutine, which belongs to no group.
 * Goroutines record what they saw in static atomics and the body asserts
 * afterwards; see testutil.h for the rules.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sys/mman.h>

#include "faultutil.h"
#include "testutil.h"

#define DONE_TIMEOUT gt_slow(10 * GORT_S)
#define HELPER_TIMEOUT gt_slow(30 * GORT_S)

static gort_group_stats stats_of(const gort_group *grp)
{
    gort_group_stats st;
    gort_group_read(grp, &st);
    return st;
}

/* Wait until no goroutine of grp is alive. */
static bool group_emptied(const gort_group *grp)
{
    return gt_wait_for(stats_of(grp).goroutines == 0, DONE_TIMEOUT);
}

/* A gate that goroutines wait at (parked in [semacquire]) until the test
 * opens it. */
static void gate_close(gort_waitgroup *gate)
{
    *gate = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(gate, 1);
}

static void gate_open(gort_waitgroup *gate)
{
    gort_waitgroup_done(gate);
}

/* ---------------------------------------------------------------------
 * Names, reading, freeing
 * ------------------------------------------------------------------- */

static struct {
    gort_group *named, *long_named;
} nm;

static void test_new_group_keeps_a_copy_of_its_name_and_counts_nothing(void **state)
{
    char name[16] = "plugin-a";
    char long_name[100];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';

    nm.named = gort_group_new(name, NULL, NULL);
    nm.long_named = gort_group_new(long_name, NULL, NULL);
    strcpy(name, "changed");
    assert_non_null(nm.named);
    assert_non_null(nm.long_named);

    assert_string_equal(gort_group_name(nm.named), "plugin-a");
    assert_int_equal(strlen(gort_group_name(nm.long_named)), 63);
    assert_memory_equal(gort_group_name(nm.long_named), long_name, 63);
    gort_group_stats st = stats_of(nm.named);
    assert_int_equal(st.goroutines, 0);
    assert_int_equal(st.started, 0);
    assert_int_equal(st.alloc_bytes, 0);
    assert_int_equal(st.alloc_objects, 0);
    assert_int_equal(st.cpu_ns, 0);
    assert_int_equal(st.assist_ns, 0);
    assert_int_equal(st.panics, 0);
    assert_int_equal(gort_group_free(nm.named), 0);
    assert_int_equal(gort_group_free(nm.long_named), 0);
    nm.named = nm.long_named = NULL;
}

static struct {
    gort_group *grp;
    gort_waitgroup gate;
    atomic_int started;
} fb;

static void fb_member(void *arg)
{
    atomic_store(&fb.started, 1);
    gort_waitgroup_wait(&fb.gate);
}

static void test_group_free_is_refused_while_a_member_lives(void **state)
{
    fb.grp = gort_group_new("busy", NULL, NULL);
    assert_non_null(fb.grp);
    gate_close(&fb.gate);
    const gort_go_opts opts = { .group = fb.grp };
    int rc = gort_go_with(fb_member, NULL, &opts);
    bool started = gt_wait_for(atomic_load(&fb.started) != 0, DONE_TIMEOUT);

    int busy = gort_group_free(fb.grp);
    gort_group_stats still = stats_of(fb.grp);   /* not freed: readable */
    gate_open(&fb.gate);
    bool emptied = group_emptied(fb.grp);

    assert_int_equal(rc, 0);
    assert_true(started);
    assert_int_equal(busy, -EBUSY);
    assert_int_equal(still.goroutines, 1);
    assert_true(emptied);
    assert_int_equal(gort_group_free(fb.grp), 0);
    fb.grp = NULL;
}

/* ---------------------------------------------------------------------
 * Membership: inheritance and gort_go_opts.group
 * ------------------------------------------------------------------- */

/* Where a goroutine has not recorded its group yet. */
#define NOT_SEEN ((gort_group *)&not_seen_marker)
static char not_seen_marker;

#define TREE_DEPTH 3   /* a goroutine, its child and its grandchild */

static struct {
    gort_group *grp;
    gort_waitgroup gate;
    atomic_int ready;
    atomic_int spawn_failures;
    _Atomic(gort_group *) seen[TREE_DEPTH];
} tree;

static void tree_node(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    atomic_store(&tree.seen[depth], gort_group_current());
    if (depth + 1 < TREE_DEPTH && gort_go(tree_node, (void *)(depth + 1)) != 0)
        atomic_fetch_add(&tree.spawn_failures, 1);
    atomic_fetch_add(&tree.ready, 1);
    gort_waitgroup_wait(&tree.gate);
}

static void test_children_and_grandchildren_join_their_creators_group(void **state)
{
    tree.grp = gort_group_new("tree", NULL, NULL);
    assert_non_null(tree.grp);
    gate_close(&tree.gate);
    for (int d = 0; d < TREE_DEPTH; d++)
        atomic_store(&tree.seen[d], NOT_SEEN);

    const gort_go_opts opts = { .group = tree.grp };
    int rc = gort_go_with(tree_node, (void *)0, &opts);
    bool ready = gt_wait_for(atomic_load(&tree.ready) == TREE_DEPTH, DONE_TIMEOUT);
    gort_group_stats during = stats_of(tree.grp);
    gate_open(&tree.gate);
    bool emptied = group_emptied(tree.grp);
    gort_group_stats after = stats_of(tree.grp);

    assert_int_equal(rc, 0);
    assert_true(ready);
    assert_int_equal(atomic_load(&tree.spawn_failures), 0);
    for (int d = 0; d < TREE_DEPTH; d++)
        assert_ptr_equal(atomic_load(&tree.seen[d]), tree.grp);
    assert_null(gort_group_current());   /* the main goroutine is in none */
    assert_int_equal(during.goroutines, TREE_DEPTH);
    assert_int_equal(during.started, TREE_DEPTH);
    assert_true(emptied);
    assert_int_equal(after.goroutines, 0);
    assert_int_equal(after.started, TREE_DEPTH);
    assert_int_equal(gort_group_free(tree.grp), 0);
    tree.grp = NULL;
}

static struct {
    gort_group *grp;
    atomic_int member_rc, outsider_rc;
    atomic_int child_failures;
    _Atomic(gort_group *) thread_saw, member_saw, child_saw, outsider_saw;
    atomic_int finished;        /* member, its child and the outsider */
    atomic_int thread_done;
} pt;

static void pt_child(void *arg)
{
    atomic_store(&pt.child_saw, gort_group_current());
    atomic_fetch_add(&pt.finished, 1);
}

static void pt_member(void *arg)
{
    atomic_store(&pt.member_saw, gort_group_current());
    if (gort_go(pt_child, NULL) != 0)
        atomic_fetch_add(&pt.child_failures, 1);
    atomic_fetch_add(&pt.finished, 1);
}

static void pt_outsider(void *arg)
{
    atomic_store(&pt.outsider_saw, gort_group_current());
    atomic_fetch_add(&pt.finished, 1);
}

static void *pt_thread(void *arg)
{
    const gort_go_opts opts = { .group = pt.grp };
    atomic_store(&pt.thread_saw, gort_group_current());
    atomic_store(&pt.member_rc, gort_go_with(pt_member, NULL, &opts));
    atomic_store(&pt.outsider_rc, gort_go(pt_outsider, NULL));
    atomic_store(&pt.thread_done, 1);
    return NULL;
}

static void test_go_with_group_from_a_plain_thread_joins_that_group(void **state)
{
    pt.grp = gort_group_new("from-thread", NULL, NULL);
    assert_non_null(pt.grp);
    atomic_store(&pt.thread_saw, NOT_SEEN);
    atomic_store(&pt.member_saw, NOT_SEEN);
    atomic_store(&pt.child_saw, NOT_SEEN);
    atomic_store(&pt.outsider_saw, NOT_SEEN);

    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pt_thread, NULL), 0);
    bool thread_done = gt_wait_for(atomic_load(&pt.thread_done) != 0, DONE_TIMEOUT);
    if (thread_done)
        pthread_join(th, NULL);
    bool finished = gt_wait_for(atomic_load(&pt.finished) == 3, DONE_TIMEOUT);
    bool emptied = group_emptied(pt.grp);
    gort_group_stats st = stats_of(pt.grp);

    assert_true(thread_done);
    assert_int_equal(atomic_load(&pt.member_rc), 0);
    assert_int_equal(atomic_load(&pt.outsider_rc), 0);
    assert_int_equal(atomic_load(&pt.child_failures), 0);
    assert_true(finished);
    assert_null(atomic_load(&pt.thread_saw));           /* not a goroutine */
    assert_ptr_equal(atomic_load(&pt.member_saw), pt.grp);
    assert_ptr_equal(atomic_load(&pt.child_saw), pt.grp);
    assert_null(atomic_load(&pt.outsider_saw));         /* gort_go: none */
    assert_true(emptied);
    assert_int_equal(st.started, 2);
    assert_int_equal(gort_group_free(pt.grp), 0);
    pt.grp = NULL;
}

static struct {
    gort_group *a, *b;
    atomic_int failures;
    atomic_int finished;
    _Atomic(gort_group *) a_saw, moved_saw, moved_child_saw, labelled_saw, plain_saw;
} ov;

static void ov_record(void *arg)
{
    atomic_store((_Atomic(gort_group *) *)arg, gort_group_current());
    atomic_fetch_add(&ov.finished, 1);
}

static void ov_moved(void *arg)
{
    atomic_store(&ov.moved_saw, gort_group_current());
    if (gort_go(ov_record, &ov.moved_child_saw) != 0)
        atomic_fetch_add(&ov.failures, 1);
    atomic_fetch_add(&ov.finished, 1);
}

static void ov_member_of_a(void *arg)
{
    atomic_store(&ov.a_saw, gort_group_current());
    const gort_go_opts to_b = { .group = ov.b };
    const gort_go_opts labelled = { .label = "labelled" };   /* .group NULL */
    if (gort_go_with(ov_moved, NULL, &to_b) != 0)
        atomic_fetch_add(&ov.failures, 1);
    if (gort_go_with(ov_record, &ov.labelled_saw, &labelled) != 0)
        atomic_fetch_add(&ov.failures, 1);
    atomic_fetch_add(&ov.finished, 1);
}

static void test_go_opts_group_overrides_the_creators_group(void **state)
{
    ov.a = gort_group_new("a", NULL, NULL);
    ov.b = gort_group_new("b", NULL, NULL);
    assert_non_null(ov.a);
    assert_non_null(ov.b);
    atomic_store(&ov.a_saw, NOT_SEEN);
    atomic_store(&ov.moved_saw, NOT_SEEN);
    atomic_store(&ov.moved_child_saw, NOT_SEEN);
    atomic_store(&ov.labelled_saw, NOT_SEEN);
    atomic_store(&ov.plain_saw, NOT_SEEN);

    const gort_go_opts to_a = { .group = ov.a };
    int rc_a = gort_go_with(ov_member_of_a, NULL, &to_a);
    int rc_plain = gort_go(ov_record, &ov.plain_saw);   /* from main: none */
    bool finished = gt_wait_for(atomic_load(&ov.finished) == 5, DONE_TIMEOUT);
    bool emptied = group_emptied(ov.a) && group_emptied(ov.b);
    gort_group_stats a = stats_of(ov.a), b = stats_of(ov.b);

    assert_int_equal(rc_a, 0);
    assert_int_equal(rc_plain, 0);
    assert_int_equal(atomic_load(&ov.failures), 0);
    assert_true(finished);
    assert_ptr_equal(atomic_load(&ov.a_saw), ov.a);
    assert_ptr_equal(atomic_load(&ov.moved_saw), ov.b);
    assert_ptr_equal(atomic_load(&ov.moved_child_saw), ov.b);
    assert_ptr_equal(atomic_load(&ov.labelled_saw), ov.a);
    assert_null(atomic_load(&ov.plain_saw));
    assert_true(emptied);
    assert_int_equal(a.started, 2);   /* the member and its labelled child */
    assert_int_equal(b.started, 2);   /* the moved goroutine and its child */
    assert_int_equal(gort_group_free(ov.a), 0);
    assert_int_equal(gort_group_free(ov.b), 0);
    ov.a = ov.b = NULL;
}

/* ---------------------------------------------------------------------
 * Allocation
 * ------------------------------------------------------------------- */

#define AL_N 1000
#define AL_SIZE 100
#define AL_LARGE_N 4                   /* and a few above the small sizes */
#define AL_LARGE_SIZE (1 << 20)
/* What al_allocate asks for. */
#define AL_OBJECTS ((uint64_t)AL_N + AL_LARGE_N)
#define AL_BYTES ((uint64_t)AL_N * AL_SIZE + (uint64_t)AL_LARGE_N * AL_LARGE_SIZE)

static struct {
    gort_group *grp;
    gort_waitgroup gate;
    atomic_ullong member_goid;
    atomic_int failures;
    atomic_int outsider_done;
} al;

static void al_allocate(void)
{
    for (int i = 0; i < AL_N; i++)
        if (gort_alloc(AL_SIZE) == NULL)
            atomic_fetch_add(&al.failures, 1);
    for (int i = 0; i < AL_LARGE_N; i++)
        if (gort_alloc_noscan(AL_LARGE_SIZE) == NULL)
            atomic_fetch_add(&al.failures, 1);
}

/* Allocates, parks at the gate, then allocates again and exits. */
static void al_member(void *arg)
{
    al_allocate();
    atomic_store(&al.member_goid, gort_goid());
    gort_waitgroup_wait(&al.gate);
    al_allocate();
}

static void al_outsider(void *arg)
{
    al_allocate();
    atomic_store(&al.outsider_done, 1);
}

static void test_allocations_count_for_the_allocating_goroutines_group_only(void **state)
{
    al.grp = gort_group_new("alloc", NULL, NULL);
    assert_non_null(al.grp);
    gate_close(&al.gate);
    const gort_go_opts opts = { .group = al.grp };

    int rc_member = gort_go_with(al_member, NULL, &opts);
    /* Parked: its counts have reached the group. */
    bool parked = gt_wait_parked(&al.member_goid, "semacquire");
    gort_group_stats member = stats_of(al.grp);
    int rc_outsider = gort_go(al_outsider, NULL);
    bool outsider_done = gt_wait_for(atomic_load(&al.outsider_done) != 0, DONE_TIMEOUT);
    gort_group_stats after_outsider = stats_of(al.grp);
    gate_open(&al.gate);
    bool emptied = group_emptied(al.grp);
    gort_group_stats final = stats_of(al.grp);

    assert_int_equal(rc_member, 0);
    assert_int_equal(rc_outsider, 0);
    assert_int_equal(atomic_load(&al.failures), 0);
    assert_true(parked);
    assert_true(member.alloc_objects >= AL_OBJECTS);
    assert_true(member.alloc_bytes >= AL_BYTES);
    assert_true(outsider_done);
    assert_int_equal(after_outsider.alloc_objects, member.alloc_objects);
    assert_int_equal(after_outsider.alloc_bytes, member.alloc_bytes);
    assert_true(emptied);
    /* What it allocated after the gate reached the group when it exited. */
    assert_true(final.alloc_objects >= member.alloc_objects + AL_OBJECTS);
    assert_true(final.alloc_bytes >= member.alloc_bytes + AL_BYTES);
    /* Collector assists are part of the members' running time. */
    assert_true(final.assist_ns >= 0);
    assert_true(final.assist_ns <= final.cpu_ns);
    assert_int_equal(gort_group_free(al.grp), 0);
    al.grp = NULL;
}

/* ---------------------------------------------------------------------
 * Running time
 * ------------------------------------------------------------------- */

#define CPU_SPIN (20 * GORT_MS)
#define CPU_SLEEP (50 * GORT_MS)

static struct {
    gort_group *grp;
    gort_waitgroup gate;
    atomic_ullong spinner_goid;
    atomic_llong computed_ns;   /* the spinner's time outside runtime calls */
    atomic_llong slept_ns;
    atomic_int done;
    atomic_int hog_stop, hog_running;
} cpu;

/*
 * Compute for at least ns, counting only the time between runtime calls
 * (which is certainly time on a thread), reaching a safe point on every
 * iteration and yielding every millisecond.  Returns the time counted.
 */
static int64_t compute_for(int64_t ns)
{
    int64_t computed = 0, since_yield = 0;
    int64_t t = gt_mono_ns();
    while (computed < ns) {
        int64_t now = gt_mono_ns();
        computed += now - t;
        since_yield += now - t;
        if (since_yield >= GORT_MS) {
            gort_gosched();
            since_yield = 0;
        } else {
            gort_safepoint();
        }
        t = gt_mono_ns();
    }
    return computed;
}

/* Computes, parks at the gate, computes again and exits. */
static void cpu_spinner(void *arg)
{
    atomic_store(&cpu.computed_ns, compute_for(CPU_SPIN));
    atomic_store(&cpu.spinner_goid, gort_goid());
    gort_waitgroup_wait(&cpu.gate);
    atomic_fetch_add(&cpu.computed_ns, compute_for(CPU_SPIN));
}

static void test_cpu_time_counts_a_goroutine_that_computes(void **state)
{
    cpu.grp = gort_group_new("spin", NULL, NULL);
    assert_non_null(cpu.grp);
    gate_close(&cpu.gate);
    const gort_go_opts opts = { .group = cpu.grp };

    int64_t t0 = gort_nanotime();
    int rc = gort_go_with(cpu_spinner, NULL, &opts);
    bool computed = gt_wait_for(atomic_load(&cpu.spinner_goid) != 0, DONE_TIMEOUT);
    /* Parked: its time so far has reached the group. */
    bool parked = gt_wait_parked(&cpu.spinner_goid, "semacquire");
    gort_group_stats at_gate = stats_of(cpu.grp);
    int64_t wall_at_gate = gort_nanotime() - t0;
    int64_t computed_at_gate = atomic_load(&cpu.computed_ns);
    gate_open(&cpu.gate);
    bool emptied = group_emptied(cpu.grp);
    gort_group_stats at_exit = stats_of(cpu.grp);
    int64_t wall_at_exit = gort_nanotime() - t0;
    int64_t computed_at_exit = atomic_load(&cpu.computed_ns);

    print_message("at the gate: computed %.1f ms, group cpu_ns %.1f ms, wall %.1f ms\n",
                  computed_at_gate / 1e6, at_gate.cpu_ns / 1e6, wall_at_gate / 1e6);
    print_message("at the exit: computed %.1f ms, group cpu_ns %.1f ms, wall %.1f ms\n",
                  computed_at_exit / 1e6, at_exit.cpu_ns / 1e6, wall_at_exit / 1e6);
    assert_int_equal(rc, 0);
    assert_true(computed);
    assert_true(parked);
    assert_true(computed_at_gate >= CPU_SPIN);
    assert_true(at_gate.cpu_ns >= computed_at_gate);
    assert_true(at_gate.cpu_ns <= wall_at_gate);
    assert_true(emptied);
    assert_true(computed_at_exit >= 2 * CPU_SPIN);
    assert_true(at_exit.cpu_ns >= computed_at_exit);
    assert_true(at_exit.cpu_ns <= wall_at_exit);
    assert_int_equal(gort_group_free(cpu.grp), 0);
    cpu.grp = NULL;
}

static void cpu_sleeper(void *arg)
{
    int64_t t0 = gt_mono_ns();
    gort_sleep(CPU_SLEEP);
    atomic_store(&cpu.slept_ns, gt_mono_ns() - t0);
    atomic_store(&cpu.done, 1);
}

static void test_cpu_time_leaves_out_sleeping(void **state)
{
    cpu.grp = gort_group_new("sleep", NULL, NULL);
    assert_non_null(cpu.grp);
    atomic_store(&cpu.done, 0);
    const gort_go_opts opts = { .group = cpu.grp };

    int rc = gort_go_with(cpu_sleeper, NULL, &opts);
    bool done = gt_wait_for(atomic_load(&cpu.done) != 0, DONE_TIMEOUT);
    bool emptied = group_emptied(cpu.grp);
    gort_group_stats st = stats_of(cpu.grp);

    print_message("slept %.1f ms, group cpu_ns %.3f ms\n", atomic_load(&cpu.slept_ns) / 1e6,
                  st.cpu_ns / 1e6);
    assert_int_equal(rc, 0);
    assert_true(done);
    assert_true(atomic_load(&cpu.slept_ns) >= CPU_SLEEP);
    assert_true(emptied);
    assert_true(st.cpu_ns >= 0);
    assert_true(st.cpu_ns < CPU_SLEEP / 2);
    assert_int_equal(gort_group_free(cpu.grp), 0);
    cpu.grp = NULL;
}

static void cpu_in_syscall(void *arg)
{
    int64_t t0 = gt_mono_ns();
    gort_syscall_enter();
    gt_thread_sleep_ns(CPU_SLEEP);
    gort_syscall_exit();
    atomic_store(&cpu.slept_ns, gt_mono_ns() - t0);
    atomic_store(&cpu.done, 1);
}

/* Run cpu_in_syscall as the only goroutine of a new group; once it has
 * ended, the group's cpu_ns in *cpu_ns.  False if anything failed. */
static bool syscall_in_group(const char *name, int64_t *cpu_ns)
{
    cpu.grp = gort_group_new(name, NULL, NULL);
    atomic_store(&cpu.done, 0);
    atomic_store(&cpu.slept_ns, 0);
    const gort_go_opts opts = { .group = cpu.grp };
    if (cpu.grp == NULL || gort_go_with(cpu_in_syscall, NULL, &opts) != 0 ||
        !gt_wait_for(atomic_load(&cpu.done) != 0, DONE_TIMEOUT) || !group_emptied(cpu.grp))
        return false;
    *cpu_ns = stats_of(cpu.grp).cpu_ns;
    print_message("%s: in nanosleep %.1f ms, group cpu_ns %.3f ms\n", name,
                  atomic_load(&cpu.slept_ns) / 1e6, *cpu_ns / 1e6);
    if (gort_group_free(cpu.grp) != 0)
        return false;
    cpu.grp = NULL;
    return atomic_load(&cpu.slept_ns) >= CPU_SLEEP;
}

/* Keeps the only P busy while a system call is under way. */
static void cpu_hog(void *arg)
{
    atomic_store(&cpu.hog_running, 1);
    while (!atomic_load(&cpu.hog_stop))
        gort_safepoint();
    atomic_store(&cpu.hog_running, 0);
}

static void test_cpu_time_leaves_out_system_calls(void **state)
{
    /* Back from the call straight onto a P. */
    int64_t idle_ns = -1;
    bool idle_ran = syscall_in_group("syscall-idle-p", &idle_ns);

    /* Back through the run queue: the only P went to another goroutine
     * during the call and is still busy when it returns. */
    gort_gomaxprocs(1);
    atomic_store(&cpu.hog_stop, 0);
    int rc_hog = gort_go(cpu_hog, NULL);
    bool hog_runs = gt_wait_for(atomic_load(&cpu.hog_running) != 0, DONE_TIMEOUT);
    int64_t busy_ns = -1;
    bool busy_ran = syscall_in_group("syscall-busy-p", &busy_ns);
    atomic_store(&cpu.hog_stop, 1);
    bool hog_stopped = gt_wait_for(atomic_load(&cpu.hog_running) == 0, DONE_TIMEOUT);

    assert_true(idle_ran);
    assert_true(idle_ns >= 0);
    assert_true(idle_ns < CPU_SLEEP / 2);
    assert_int_equal(rc_hog, 0);
    assert_true(hog_runs);
    assert_true(busy_ran);
    assert_true(busy_ns >= 0);
    assert_true(busy_ns < CPU_SLEEP / 2);
    assert_true(hog_stopped);
}

/* ---------------------------------------------------------------------
 * The faulty plugin
 * ------------------------------------------------------------------- */

/*
 * cmocka installs its own handlers for SIGSEGV, SIGBUS and SIGFPE around
 * every test and fixture, and then puts the previous ones back with
 * signal(), which drops SA_SIGINFO and SA_ONSTACK.  The runtime's
 * handlers, as gort_main installed them, are saved before the first test;
 * a test that faults reinstalls them (cmocka replaces them again after the
 * test).
 */
static const int fault_signals[] = { SIGSEGV, SIGBUS, SIGFPE };
static struct sigaction runtime_handlers[3];

static void save_runtime_fault_handlers(void)
{
    for (int i = 0; i < 3; i++)
        sigaction(fault_signals[i], NULL, &runtime_handlers[i]);
}

static void reinstall_runtime_fault_handlers(void)
{
    for (int i = 0; i < 3; i++)
        sigaction(fault_signals[i], &runtime_handlers[i], NULL);
}

static struct faulty fy;
static bool fy_ready;

/* Make this test's faults reach the runtime, and load libfaulty.so and
 * register its code (once for the suite). */
static bool faulty_loaded(void)
{
    reinstall_runtime_fault_handlers();
    if (fy_ready)
        return true;
    char path[PATH_MAX];
    if (!gt_plugin_path(path, sizeof path, "faulty") || !faulty_open(path, &fy))
        return false;
    int rc = faulty_register(&fy);
    if (rc != 0) {
        print_message("gort_fault_range_add: %s\n", gort_strerror(rc));
        return false;
    }
    fy_ready = true;
    return true;
}

enum fault_kind { FAULT_NIL, FAULT_UNMAPPED, FAULT_DIVIDE, NFAULT_KINDS };

static void fault_now(enum fault_kind kind)
{
    switch (kind) {
    case FAULT_NIL:
        fy.read_nil();
        break;
    case FAULT_UNMAPPED:
        fy.read_at(FAULTY_UNMAPPED_ADDR);
        break;
    case FAULT_DIVIDE:
        fy.divide_by_zero(1);
        break;
    case NFAULT_KINDS:
        break;
    }
}

/* What a fault of each kind must panic with. */
static const char *fault_message(enum fault_kind kind)
{
    switch (kind) {
    case FAULT_NIL:
        return "runtime error: invalid memory address or nil pointer dereference";
    case FAULT_UNMAPPED:   /* at FAULTY_UNMAPPED_ADDR */
        return "runtime error: unexpected fault address 0x7ffffffff000";
    case FAULT_DIVIDE:
        return "runtime error: integer divide by zero";
    case NFAULT_KINDS:
        break;
    }
    return "";
}

static int fault_signal(enum fault_kind kind)
{
    return kind == FAULT_DIVIDE ? SIGFPE : SIGSEGV;
}

/* Is addr the address a fault of this kind reports?  (For SIGFPE the
 * kernel reports the instruction's; not checked.) */
static bool fault_address_ok(enum fault_kind kind, uintptr_t addr)
{
    return kind == FAULT_NIL        ? addr == 0
           : kind == FAULT_UNMAPPED ? addr == FAULTY_UNMAPPED_ADDR
                                    : true;
}

static void *fault_function(enum fault_kind kind)
{
    switch (kind) {
    case FAULT_NIL:
        return (void *)fy.read_nil;
    case FAULT_UNMAPPED:
        return (void *)fy.read_at;
    case FAULT_DIVIDE:
        return (void *)fy.divide_by_zero;
    case NFAULT_KINDS:
        break;
    }
    return NULL;
}

/* The exported function whose code holds pc, or NULL. */
static void *function_at(uintptr_t pc)
{
    Dl_info di;
    return dladdr((void *)pc, &di) != 0 ? di.dli_saddr : NULL;
}

/* One fault under gort_pcall, recovered by the frame's deferred call. */
struct fault_try {
    enum fault_kind kind;
    gort_panic_info *recovered;
    bool returned;
};

static void fault_try_recover(void *arg)
{
    struct fault_try *t = arg;
    t->recovered = gort_recover();
}

static void fault_try_body(void *arg)
{
    struct fault_try *t = arg;
    gort_defer(fault_try_recover, t);
    fault_now(t->kind);
    t->returned = true;
}

/* The first try that went wrong, described by fault_try_ok. */
static struct {
    atomic_flag taken;
    char what[256];
} first_wrong = { .taken = ATOMIC_FLAG_INIT };

/* Did try t end with the panic its kind must raise, recovered?  The first
 * time one did not, say how in first_wrong. */
static bool fault_try_ok(const struct fault_try *t, const gort_panic_info *p)
{
    int sig = 0;
    uintptr_t addr = 0, pc = 0;
    bool fault = p != NULL && gort_panic_fault(p, &sig, &addr, &pc);
    bool ok = p != NULL && p == t->recovered && !t->returned &&
              strcmp(gort_panic_message(p), fault_message(t->kind)) == 0 && fault &&
              sig == fault_signal(t->kind) && fault_address_ok(t->kind, addr) &&
              function_at(pc) == fault_function(t->kind);
    if (!ok && !atomic_flag_test_and_set(&first_wrong.taken))
        snprintf(first_wrong.what, sizeof first_wrong.what,
                 "goroutine %llu, kind %d: returned %d, recovered %s, message \"%s\", "
                 "fault %d sig %d addr %#lx pc %#lx",
                 (unsigned long long)gort_goid(), (int)t->kind, t->returned,
                 p == NULL ? "nothing" : p == t->recovered ? "it" : "another panic",
                 p != NULL ? gort_panic_message(p) : "", fault, sig, (unsigned long)addr,
                 (unsigned long)pc);
    return ok;
}

/* ---------------------------------------------------------------------
 * Faults become panics
 * ------------------------------------------------------------------- */

static void test_fault_range_add_rejects_empty_and_reversed_ranges(void **state)
{
    static const char spot[2];
    assert_int_equal(gort_fault_range_add(&spot[0], &spot[0]), -EINVAL);
    assert_int_equal(gort_fault_range_add(&spot[1], &spot[0]), -EINVAL);
    assert_int_equal(gort_fault_range_remove(&spot[0]), -ENOENT);   /* never added */
}

#define MAX_FAULT_RANGES 256

static void test_fault_ranges_are_limited_to_256(void **state)
{
    /* Data, not code: nothing ever runs there. */
    static const char spots[MAX_FAULT_RANGES + 1];
    int added = 0, last = 0;
    while (added <= MAX_FAULT_RANGES &&
           (last = gort_fault_range_add(&spots[added], &spots[added] + 1)) == 0)
        added++;
    int removed = 0;
    for (int i = 0; i < added; i++)
        removed += gort_fault_range_remove(&spots[i]) == 0;
    int already = fy_ready ? fy.nranges : 0;   /* the plugin's, if loaded */

    assert_int_equal(last, -ENOSPC);
    assert_int_equal(added + already, MAX_FAULT_RANGES);
    assert_int_equal(removed, added);
}

static void test_nil_dereference_in_registered_code_panics(void **state)
{
    assert_true(faulty_loaded());
    struct fault_try t = { .kind = FAULT_NIL };
    gort_panic_info *p = gort_pcall(fault_try_body, &t);
    int sig = 0;
    uintptr_t addr = 1, pc = 0;
    bool fault = p != NULL && gort_panic_fault(p, &sig, &addr, &pc);

    assert_non_null(p);
    assert_ptr_equal(p, t.recovered);
    assert_false(t.returned);
    assert_string_equal(gort_panic_message(p),
                        "runtime error: invalid memory address or nil pointer dereference");
    assert_null(gort_panic_value(p));
    assert_true(fault);
    assert_int_equal(sig, SIGSEGV);
    assert_int_equal(addr, 0);
    assert_true(faulty_owns(&fy, pc));
    assert_ptr_equal(function_at(pc), (void *)fy.read_nil);
}

static void test_load_from_an_unmapped_address_panics_with_that_address(void **state)
{
    assert_true(faulty_loaded());
    struct fault_try t = { .kind = FAULT_UNMAPPED };
    gort_panic_info *p = gort_pcall(fault_try_body, &t);
    int sig = 0;
    uintptr_t addr = 0, pc = 0;
    bool fault = p != NULL && gort_panic_fault(p, &sig, &addr, &pc);

    assert_non_null(p);
    assert_ptr_equal(p, t.recovered);
    assert_false(t.returned);
    assert_string_equal(gort_panic_message(p), fault_message(FAULT_UNMAPPED));
    assert_true(fault);
    assert_int_equal(sig, SIGSEGV);
    assert_int_equal(addr, FAULTY_UNMAPPED_ADDR);
    assert_ptr_equal(function_at(pc), (void *)fy.read_at);
}

static struct fault_try bus_try;

static void read_past_end_of_file(void *arg)
{
    gort_defer(fault_try_recover, &bus_try);
    fy.read_at((uintptr_t)arg);
    bus_try.returned = true;
}

static void test_load_past_the_end_of_a_mapped_file_panics(void **state)
{
    assert_true(faulty_loaded());
    /* A page of an empty file: a load from it takes SIGBUS. */
    int fd = memfd_create("faulty-bus", MFD_CLOEXEC);
    assert_true(fd >= 0);
    void *page = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(page != MAP_FAILED);

    memset(&bus_try, 0, sizeof bus_try);
    gort_panic_info *p = gort_pcall(read_past_end_of_file, page);
    int sig = 0;
    uintptr_t addr = 0, pc = 0;
    bool fault = p != NULL && gort_panic_fault(p, &sig, &addr, &pc);
    char want[96];
    snprintf(want, sizeof want, "runtime error: unexpected fault address %#lx",
             (unsigned long)(uintptr_t)page);
    munmap(page, 4096);

    assert_non_null(p);
    assert_ptr_equal(p, bus_try.recovered);
    assert_false(bus_try.returned);
    assert_string_equal(gort_panic_message(p), want);
    assert_true(fault);
    assert_int_equal(sig, SIGBUS);
    assert_int_equal(addr, (uintptr_t)page);
    assert_ptr_equal(function_at(pc), (void *)fy.read_at);
}

static void test_integer_division_by_zero_panics(void **state)
{
    assert_true(faulty_loaded());
    struct fault_try t = { .kind = FAULT_DIVIDE };
    gort_panic_info *p = gort_pcall(fault_try_body, &t);
    int sig = 0;
    uintptr_t pc = 0;
    bool fault = p != NULL && gort_panic_fault(p, &sig, NULL, &pc);

    assert_non_null(p);
    assert_ptr_equal(p, t.recovered);
    assert_false(t.returned);
    assert_string_equal(gort_panic_message(p), "runtime error: integer divide by zero");
    assert_true(fault);
    assert_int_equal(sig, SIGFPE);
    assert_ptr_equal(function_at(pc), (void *)fy.divide_by_zero);
}

static void panics_plainly(void *arg)
{
    gort_panicf("not a fault");
}

static void test_panic_fault_is_false_for_other_panics(void **state)
{
    struct gt_catch cc = { .op = panics_plainly };
    gort_panic_info *p = gort_pcall(gt_catch_body, &cc);
    int sig = -1;
    uintptr_t addr = 1, pc = 1;

    assert_non_null(p);
    assert_string_equal(gort_panic_message(p), "not a fault");
    assert_false(gort_panic_fault(p, &sig, &addr, &pc));
    assert_false(gort_panic_fault(p, NULL, NULL, NULL));
}

#define RF_ROUNDS 100

static struct {
    atomic_int wrong;
    atomic_int rounds;
    atomic_int goid_changed;
    atomic_int done;
} rf;

/* RF_ROUNDS faults of every kind in turn, each recovered; then the
 * goroutine still sleeps and passes a value through a channel. */
static void rf_worker(void *arg)
{
    uint64_t goid = gort_goid();
    for (int i = 0; i < RF_ROUNDS; i++) {
        struct fault_try t = { .kind = (enum fault_kind)(i % NFAULT_KINDS) };
        gort_panic_info *p = gort_pcall(fault_try_body, &t);
        if (!fault_try_ok(&t, p))
            atomic_fetch_add(&rf.wrong, 1);
        atomic_fetch_add(&rf.rounds, 1);
    }
    if (gort_goid() != goid)
        atomic_store(&rf.goid_changed, 1);
    gort_sleep(GORT_MS);
    gort_chan *c = gt_chan_make(sizeof(int), 1);
    int in = 42, out = 0;
    gort_chan_send(c, &in);
    gort_chan_recv(c, &out);
    atomic_store(&rf.done, out == 42 ? 1 : -1);
}

static void test_a_goroutine_faults_and_recovers_many_times_in_a_row(void **state)
{
    assert_true(faulty_loaded());
    int rc = gort_go(rf_worker, NULL);
    bool done = gt_wait_for(atomic_load(&rf.done) != 0, DONE_TIMEOUT);

    if (atomic_load(&rf.wrong) != 0)
        print_message("first wrong: %s\n", first_wrong.what);
    assert_int_equal(rc, 0);
    assert_true(done);
    assert_int_equal(atomic_load(&rf.rounds), RF_ROUNDS);
    assert_int_equal(atomic_load(&rf.wrong), 0);
    assert_int_equal(atomic_load(&rf.goid_changed), 0);
    assert_int_equal(atomic_load(&rf.done), 1);
}

#define CF_GOROUTINES 8

static struct {
    long rounds;
    atomic_int wrong;
    atomic_long total;
    gort_waitgroup wg;
} cf;

static void cf_worker(void *arg)
{
    long wrong = 0;
    for (long i = 0; i < cf.rounds; i++) {
        struct fault_try t = { .kind = (enum fault_kind)((i + (intptr_t)arg) % NFAULT_KINDS) };
        gort_panic_info *p = gort_pcall(fault_try_body, &t);
        wrong += !fault_try_ok(&t, p);
        if (i % 8 == 0)
            gort_gosched();
    }
    atomic_fetch_add(&cf.wrong, (int)wrong);
    atomic_fetch_add(&cf.total, cf.rounds);
    gort_waitgroup_done(&cf.wg);
}

static void test_faults_in_concurrent_goroutines_stay_separate(void **state)
{
    assert_true(faulty_loaded());
    gort_gomaxprocs(4);
    cf.rounds = gt_scale(500);
    cf.wg = (gort_waitgroup)GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&cf.wg, CF_GOROUTINES);
    int failures = 0;
    for (intptr_t i = 0; i < CF_GOROUTINES; i++)
        failures += gort_go(cf_worker, (void *)i) != 0;
    bool done = gt_wg_wait_timeout(&cf.wg, gt_slow(30 * GORT_S));

    if (atomic_load(&cf.wrong) != 0)
        print_message("first wrong: %s\n", first_wrong.what);
    assert_int_equal(failures, 0);
    assert_true(done);
    assert_int_equal(atomic_load(&cf.total), CF_GOROUTINES * cf.rounds);
    assert_int_equal(atomic_load(&cf.wrong), 0);
}

/* Under a sanitizer, the disposition the runtime falls back to is the
 * sanitizer's handler, which would report the fault and exit 1: the
 * helper runs with it off, so that the fault meets the default action. */
static const char *sanitizer_segv_off(void)
{
    static char opt[512];
    const char *name = GT_ASAN ? "ASAN_OPTIONS" : "TSAN_OPTIONS";
    const char *prev = getenv(name);
    snprintf(opt, sizeof opt, "%s=%s%shandle_segv=0", name, prev ? prev : "",
             prev && prev[0] ? ":" : "");
    return opt;
}

static void test_fault_after_its_range_is_removed_kills_the_process(void **state)
{
    char plugin[PATH_MAX];
    assert_true(gt_plugin_path(plugin, sizeof plugin, "faulty"));
    const char *const args[] = { "removed", plugin, NULL };
    const char *const env[] = { GT_SANITIZED ? sanitizer_segv_off() : NULL, NULL };
    gt_proc r;
    gt_run("faultpanic", args, env, HELPER_TIMEOUT, &r);

    GT_ASSERT_PROC(r.spawn_error == 0 && !r.timed_out, &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^recovered: runtime error: invalid memory address or nil "
                                     "pointer dereference$"), &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^removed$"), &r);
    GT_ASSERT_PROC(!r.exited && r.signo == SIGSEGV, &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "survived"), &r);
    GT_ASSERT_PROC(!gt_matches(r.err, "^panic: "), &r);
    gt_proc_free(&r);
}

/* ---------------------------------------------------------------------
 * Panic containment
 * ------------------------------------------------------------------- */

/* What on_panic does besides recording what it saw. */
enum cp_extra {
    CP_NOTHING,
    CP_SPAWN,                      /* start a goroutine */
    CP_DUMP_AND_RECOVER,           /* dump, and panic and recover inside */
};

/* What on_panic saw.  The handler runs on the panicking goroutine and
 * publishes everything with the release store of handled. */
static struct {
    gort_group *grp;
    atomic_int calls;
    atomic_int handled;
    uint64_t handler_goid;
    gort_group *handler_current, *handler_grp;
    void *handler_ctx;
    char msg[128];
    bool fault;
    int sig;
    uintptr_t addr;
    char log[64];                  /* "deferred" and "on_panic", in order */
    atomic_ullong victim_goid;
    atomic_int after_panic;
    enum cp_extra extra;           /* what else the handler does */
    atomic_int spawn_rc;
    char inner_msg[64];            /* CP_DUMP_AND_RECOVER */
    bool dump_shows_running;
    _Atomic(gort_group *) spawned_saw;
    atomic_int spawned_ran;
    gort_waitgroup gate;
    atomic_int bystander_started, bystander_done, late_ran;
} cp;

static void cp_log(const char *what)
{
    size_t n = strlen(cp.log);
    snprintf(cp.log + n, sizeof cp.log - n, "%s%s", n ? " " : "", what);
}

static void cp_spawned(void *arg)
{
    atomic_store(&cp.spawned_saw, gort_group_current());
    atomic_store(&cp.spawned_ran, 1);
}

static void cp_inner_panic(void *arg)
{
    gort_panicf("inside on_panic");
}

static void cp_on_panic(void *ctx, gort_group *grp, const gort_panic_info *p)
{
    atomic_fetch_add(&cp.calls, 1);
    cp.handler_goid = gort_goid();
    cp.handler_current = gort_group_current();
    cp.handler_grp = grp;
    cp.handler_ctx = ctx;
    snprintf(cp.msg, sizeof cp.msg, "%s", gort_panic_message(p));
    cp.fault = gort_panic_fault(p, &cp.sig, &cp.addr, NULL);
    cp_log("on_panic");
    if (cp.extra == CP_SPAWN)
        atomic_store(&cp.spawn_rc, gort_go(cp_spawned, NULL));
    if (cp.extra == CP_DUMP_AND_RECOVER) {
        char *dump = gt_dump(NULL);
        char running[64];
        snprintf(running, sizeof running, "^goroutine %llu \\[running\\]:$",
                 (unsigned long long)gort_goid());
        cp.dump_shows_running = gt_matches(dump, running);
        free(dump);
        const char *inner = gt_panic_message_of(cp_inner_panic, NULL);
        snprintf(cp.inner_msg, sizeof cp.inner_msg, "%s", inner != NULL ? inner : "(returned)");
    }
    atomic_store_explicit(&cp.handled, 1, memory_order_release);
}

static void cp_reset(enum cp_extra extra)
{
    cp.grp = gort_group_new("contained", cp_on_panic, &cp);
    atomic_store(&cp.calls, 0);
    atomic_store(&cp.handled, 0);
    cp.handler_goid = 0;
    cp.handler_current = cp.handler_grp = NULL;
    cp.handler_ctx = NULL;
    cp.msg[0] = cp.log[0] = '\0';
    cp.fault = false;
    cp.sig = 0;
    cp.addr = 1;
    atomic_store(&cp.victim_goid, 0);
    atomic_store(&cp.after_panic, 0);
    cp.extra = extra;
    atomic_store(&cp.spawn_rc, -1);
    cp.inner_msg[0] = '\0';
    cp.dump_shows_running = false;
    atomic_store(&cp.spawned_saw, NOT_SEEN);
    atomic_store(&cp.spawned_ran, 0);
    gate_close(&cp.gate);
    atomic_store(&cp.bystander_started, 0);
    atomic_store(&cp.bystander_done, 0);
    atomic_store(&cp.late_ran, 0);
}

static bool cp_handled(void)
{
    return gt_wait_for(atomic_load_explicit(&cp.handled, memory_order_acquire) != 0,
                       DONE_TIMEOUT);
}

static void cp_deferred(void *arg)
{
    cp_log("deferred");
}

static void cp_victim(void *arg)
{
    atomic_store(&cp.victim_goid, gort_goid());
    gort_defer(cp_deferred, NULL);
    gort_panicf("contained %d", 7);
    atomic_store(&cp.after_panic, 1);
}

static void cp_bystander(void *arg)
{
    atomic_store(&cp.bystander_started, 1);
    gort_waitgroup_wait(&cp.gate);
    atomic_store(&cp.bystander_done, 1);
}

static void cp_late(void *arg)
{
    atomic_store(&cp.late_ran, 1);
}

static void test_unrecovered_panic_in_a_containing_group_calls_on_panic_once(void **state)
{
    cp_reset(CP_NOTHING);
    assert_non_null(cp.grp);
    const gort_go_opts opts = { .group = cp.grp };

    int rc_bystander = gort_go_with(cp_bystander, NULL, &opts);
    bool bystander_started = gt_wait_for(atomic_load(&cp.bystander_started) != 0, DONE_TIMEOUT);
    int rc_victim = gort_go_with(cp_victim, NULL, &opts);
    bool handled = cp_handled();
    /* The victim ends; the bystander, in the same group, lives on. */
    bool victim_gone = gt_wait_for(stats_of(cp.grp).goroutines == 1, DONE_TIMEOUT);
    gort_group_stats mid = stats_of(cp.grp);
    int rc_late = gort_go_with(cp_late, NULL, &opts);
    bool late_ran = gt_wait_for(atomic_load(&cp.late_ran) != 0, DONE_TIMEOUT);
    gate_open(&cp.gate);
    bool bystander_done = gt_wait_for(atomic_load(&cp.bystander_done) != 0, DONE_TIMEOUT);
    bool emptied = group_emptied(cp.grp);
    gort_group_stats end = stats_of(cp.grp);

    assert_int_equal(rc_bystander, 0);
    assert_true(bystander_started);
    assert_int_equal(rc_victim, 0);
    assert_true(handled);
    assert_int_equal(atomic_load(&cp.calls), 1);
    assert_string_equal(cp.msg, "contained 7");
    assert_false(cp.fault);
    assert_string_equal(cp.log, "deferred on_panic");
    assert_int_equal(cp.handler_goid, atomic_load(&cp.victim_goid));
    assert_ptr_equal(cp.handler_current, cp.grp);
    assert_ptr_equal(cp.handler_grp, cp.grp);
    assert_ptr_equal(cp.handler_ctx, &cp);
    assert_int_equal(atomic_load(&cp.after_panic), 0);
    assert_true(victim_gone);
    assert_int_equal(mid.goroutines, 1);
    assert_int_equal(mid.panics, 1);
    assert_int_equal(rc_late, 0);
    assert_true(late_ran);
    assert_true(bystander_done);
    assert_true(emptied);
    assert_int_equal(end.started, 3);
    assert_int_equal(end.panics, 1);
    assert_int_equal(atomic_load(&cp.calls), 1);
    assert_int_equal(gort_group_free(cp.grp), 0);
    cp.grp = NULL;
}

static void test_on_panic_may_start_goroutines_which_join_the_group(void **state)
{
    cp_reset(CP_SPAWN);
    assert_non_null(cp.grp);
    const gort_go_opts opts = { .group = cp.grp };

    int rc = gort_go_with(cp_victim, NULL, &opts);
    bool handled = cp_handled();
    bool spawned_ran = gt_wait_for(atomic_load(&cp.spawned_ran) != 0, DONE_TIMEOUT);
    bool emptied = group_emptied(cp.grp);
    gort_group_stats st = stats_of(cp.grp);

    assert_int_equal(rc, 0);
    assert_true(handled);
    assert_int_equal(atomic_load(&cp.spawn_rc), 0);
    assert_true(spawned_ran);
    assert_ptr_equal(atomic_load(&cp.spawned_saw), cp.grp);
    assert_true(emptied);
    assert_int_equal(st.started, 2);
    assert_int_equal(st.panics, 1);
    assert_int_equal(gort_group_free(cp.grp), 0);
    cp.grp = NULL;
}

static void test_on_panic_may_dump_and_recover_panics_of_its_own(void **state)
{
    cp_reset(CP_DUMP_AND_RECOVER);
    assert_non_null(cp.grp);
    const gort_go_opts opts = { .group = cp.grp };

    int rc = gort_go_with(cp_victim, NULL, &opts);
    bool handled = cp_handled();
    bool emptied = group_emptied(cp.grp);
    gort_group_stats st = stats_of(cp.grp);

    assert_int_equal(rc, 0);
    assert_true(handled);
    assert_int_equal(atomic_load(&cp.calls), 1);
    assert_string_equal(cp.msg, "contained 7");
    assert_true(cp.dump_shows_running);
    assert_string_equal(cp.inner_msg, "inside on_panic");
    assert_true(emptied);
    assert_int_equal(st.panics, 1);
    assert_int_equal(gort_group_free(cp.grp), 0);
    cp.grp = NULL;
}

static struct {
    atomic_int finished;
    atomic_int pcall_recovered, body_recovered, goexit_deferred;
} rp;

static void rp_recover_into(void *arg)
{
    atomic_store((atomic_int *)arg, gort_recover() != NULL);
}

static void rp_panics(void *arg)
{
    gort_defer(rp_recover_into, &rp.pcall_recovered);
    gort_panicf("recovered in a frame");
}

/* Recovers inside a gort_pcall, then ends normally. */
static void rp_frame(void *arg)
{
    gort_pcall(rp_panics, NULL);
    atomic_fetch_add(&rp.finished, 1);
}

/* The goroutine body's own deferred call recovers: the body returns. */
static void rp_body(void *arg)
{
    atomic_fetch_add(&rp.finished, 1);
    gort_defer(rp_recover_into, &rp.body_recovered);
    gort_panicf("recovered by the body");
}

static void rp_goexit_deferred(void *arg)
{
    atomic_store(&rp.goexit_deferred, 1);
}

static void rp_goexit(void *arg)
{
    atomic_fetch_add(&rp.finished, 1);
    gort_defer(rp_goexit_deferred, NULL);
    gort_goexit();
}

static void test_recovered_panic_and_goexit_do_not_call_on_panic(void **state)
{
    cp_reset(CP_NOTHING);
    assert_non_null(cp.grp);
    const gort_go_opts opts = { .group = cp.grp };

    int failures = 0;
    failures += gort_go_with(rp_frame, NULL, &opts) != 0;
    failures += gort_go_with(rp_body, NULL, &opts) != 0;
    failures += gort_go_with(rp_goexit, NULL, &opts) != 0;
    bool finished = gt_wait_for(atomic_load(&rp.finished) == 3, DONE_TIMEOUT);
    bool emptied = group_emptied(cp.grp);
    gort_group_stats st = stats_of(cp.grp);

    assert_int_equal(failures, 0);
    assert_true(finished);
    assert_true(emptied);
    assert_int_equal(atomic_load(&rp.pcall_recovered), 1);
    assert_int_equal(atomic_load(&rp.body_recovered), 1);
    assert_int_equal(atomic_load(&rp.goexit_deferred), 1);
    assert_int_equal(atomic_load(&cp.calls), 0);
    assert_int_equal(st.started, 3);
    assert_int_equal(st.panics, 0);
    assert_int_equal(gort_group_free(cp.grp), 0);
    cp.grp = NULL;
}

static void cp_fault_victim(void *arg)
{
    atomic_store(&cp.victim_goid, gort_goid());
    gort_defer(cp_deferred, NULL);
    fault_now(FAULT_NIL);
    atomic_store(&cp.after_panic, 1);
}

static void test_fault_in_a_containing_group_calls_on_panic(void **state)
{
    assert_true(faulty_loaded());
    cp_reset(CP_NOTHING);
    assert_non_null(cp.grp);
    const gort_go_opts opts = { .group = cp.grp };

    int rc = gort_go_with(cp_fault_victim, NULL, &opts);
    bool handled = cp_handled();
    bool emptied = group_emptied(cp.grp);
    gort_group_stats st = stats_of(cp.grp);

    assert_int_equal(rc, 0);
    assert_true(handled);
    assert_int_equal(atomic_load(&cp.calls), 1);
    assert_string_equal(cp.msg, "runtime error: invalid memory address or nil pointer dereference");
    assert_true(cp.fault);
    assert_int_equal(cp.sig, SIGSEGV);
    assert_int_equal(cp.addr, 0);
    assert_string_equal(cp.log, "deferred on_panic");
    assert_int_equal(cp.handler_goid, atomic_load(&cp.victim_goid));
    assert_ptr_equal(cp.handler_current, cp.grp);
    assert_int_equal(atomic_load(&cp.after_panic), 0);
    assert_true(emptied);
    assert_int_equal(st.panics, 1);
    assert_int_equal(gort_group_free(cp.grp), 0);
    cp.grp = NULL;
}

/* ---------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------- */

#define T(f) cmocka_unit_test_setup_teardown(f, gt_save_knobs, gt_restore_knobs)

static void run_all(void *arg)
{
    const struct CMUnitTest tests[] = {
        T(test_new_group_keeps_a_copy_of_its_name_and_counts_nothing),
        T(test_group_free_is_refused_while_a_member_lives),
        T(test_children_and_grandchildren_join_their_creators_group),
        T(test_go_with_group_from_a_plain_thread_joins_that_group),
        T(test_go_opts_group_overrides_the_creators_group),
        T(test_allocations_count_for_the_allocating_goroutines_group_only),
        T(test_cpu_time_counts_a_goroutine_that_computes),
        T(test_cpu_time_leaves_out_sleeping),
        T(test_cpu_time_leaves_out_system_calls),
        T(test_unrecovered_panic_in_a_containing_group_calls_on_panic_once),
        T(test_on_panic_may_start_goroutines_which_join_the_group),
        T(test_on_panic_may_dump_and_recover_panics_of_its_own),
        T(test_recovered_panic_and_goexit_do_not_call_on_panic),
        T(test_fault_range_add_rejects_empty_and_reversed_ranges),
        T(test_fault_ranges_are_limited_to_256),
        T(test_nil_dereference_in_registered_code_panics),
        T(test_load_from_an_unmapped_address_panics_with_that_address),
        T(test_load_past_the_end_of_a_mapped_file_panics),
        T(test_integer_division_by_zero_panics),
        T(test_panic_fault_is_false_for_other_panics),
        T(test_a_goroutine_faults_and_recovers_many_times_in_a_row),
        T(test_faults_in_concurrent_goroutines_stay_separate),
        T(test_fault_in_a_containing_group_calls_on_panic),
        T(test_fault_after_its_range_is_removed_kills_the_process),
    };
    /* cmocka keeps its state in thread-local variables: the goroutine that
     * runs the group must not move to another thread. */
    gort_lock_os_thread();
    save_runtime_fault_handlers();
    gt_select_tests();
    *(int *)arg = cmocka_run_group_tests(tests, NULL, NULL);
    gort_unlock_os_thread();
}

int main(void)
{
    return gt_main("test_group", run_all);
}
