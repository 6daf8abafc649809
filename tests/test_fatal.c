/*
 * test_fatal.c - what a gort program prints and how it ends when things go
 * wrong or when it is asked to trace: deadlock, Goexit from main, thread
 * exhaustion, a negative WaitGroup counter (an unrecovered panic), a
 * goroutine-only call from a plain thread, a fault in registered code that
 * nothing recovers, panics that a goroutine group does not contain, the
 * schedtrace formats and the environment knobs.
 *
 * Each test runs a helper program from tests/progs/ in a subprocess (fatal
 * errors exit the process with status 2) and checks its exit status and
 * output with POSIX regular expressions (REG_EXTENDED | REG_NEWLINE).  The
 * helpers document what they do at their top.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testutil.h"

#define HELPER_TIMEOUT gt_slow(30 * GORT_S)

/* ---------------------------------------------------------------------
 * Fatal errors
 * ------------------------------------------------------------------- */

static void test_deadlock_is_fatal_with_goroutine_dump(void **state)
{
    gt_proc r;
    gt_run("deadlock", NULL, NULL, HELPER_TIMEOUT, &r);

    int waiting = 0, full = 0;
    gt_count_lines(r.err, "^goroutine [0-9]+ \\[semacquire\\]:$", NULL, &waiting, &full);
    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^fatal error: all goroutines are asleep - deadlock!$"), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^goroutine 1 \\[semacquire\\]:$"), &r);
    GT_ASSERT_PROC(waiting == 2, &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "wait returned"), &r);
    gt_proc_free(&r);
}

static void test_goexit_from_main_waits_for_other_goroutines_then_dies(void **state)
{
    gt_proc r;
    gt_run("goexit_main", NULL, NULL, HELPER_TIMEOUT, &r);

    const char *fatal = "^fatal error: no goroutines \\(main called runtime.Goexit\\) - deadlock!$";
    regmatch_t done_at, fatal_at;
    bool done = gt_regex_search(r.err, "^worker done$", &done_at, 1);
    bool died = gt_regex_search(r.err, fatal, &fatal_at, 1);
    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(done, &r);
    GT_ASSERT_PROC(died, &r);
    GT_ASSERT_PROC(done_at.rm_so < fatal_at.rm_so, &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "gort_main returned"), &r);
    gt_proc_free(&r);
}

static void test_thread_limit_exceeded_is_fatal(void **state)
{
    gt_proc r;
    gt_run("maxthreads", NULL, NULL, HELPER_TIMEOUT, &r);

    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^previous max threads 10000$"), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "fatal error: thread exhaustion"), &r);
    GT_ASSERT_PROC(!gt_matches(r.err, "no thread exhaustion"), &r);
    gt_proc_free(&r);
}

static void test_negative_waitgroup_counter_panics_unrecovered(void **state)
{
    gt_proc r;
    gt_run("negwg", NULL, NULL, HELPER_TIMEOUT, &r);

    /* Go's report of an unrecovered panic, on the main goroutine. */
    const char *want = "panic: sync: negative WaitGroup counter\n\ngoroutine 1 [running]:\n";
    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(strncmp(r.err, want, strlen(want)) == 0, &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "survived"), &r);
    gt_proc_free(&r);
}

static void test_goroutine_only_call_from_plain_thread_is_fatal(void **state)
{
    gt_proc r;
    gt_run("offgoroutine", NULL, NULL, HELPER_TIMEOUT, &r);

    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^fatal error: .*(gort_sleep|goroutine)"), &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "survived"), &r);
    gt_proc_free(&r);
}

static void test_no_false_deadlock_while_sleeping_or_in_syscall(void **state)
{
    const char *const modes[] = { "sleep", "syscall" };
    for (size_t i = 0; i < 2; i++) {
        const char *const args[] = { modes[i], NULL };
        gt_proc r;
        gt_run("nodeadlock", args, NULL, HELPER_TIMEOUT, &r);

        print_message("mode %s\n", modes[i]);
        GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
        GT_ASSERT_PROC(gt_matches(r.out, "^ok$"), &r);
        GT_ASSERT_PROC(!gt_matches(r.err, "fatal error"), &r);
        gt_proc_free(&r);
    }
}

/* ---------------------------------------------------------------------
 * Faults and goroutine groups
 * ------------------------------------------------------------------- */

static void test_unrecovered_fault_panic_prints_the_signal_line_and_exits_2(void **state)
{
    char plugin[PATH_MAX];
    assert_true(gt_plugin_path(plugin, sizeof plugin, "faulty"));
    const char *const args[] = { "uncontained", plugin, NULL };
    gt_proc r;
    gt_run("faultpanic", args, NULL, HELPER_TIMEOUT, &r);

    /* Go's report: the panic, the signal line, a blank line, the dump. */
    const char *want = "panic: runtime error: invalid memory address or nil pointer dereference\n"
                       "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x";
    regmatch_t f[2], e[2];
    bool have_fn = gt_regex_search(r.out, "^faulting function 0x([0-9a-f]+)$", f, 2);
    bool report = gt_regex_search(r.err, "^\\[signal SIGSEGV: segmentation violation code=0x1 "
                                  "addr=0x0 pc=0x([0-9a-f]+)\\]\n\ngoroutine 1 \\[running\\]:$",
                                  e, 2);
    unsigned long long fn = have_fn ? strtoull(r.out + f[1].rm_so, NULL, 16) : 0;
    unsigned long long pc = report ? strtoull(r.err + e[1].rm_so, NULL, 16) : 0;
    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(strncmp(r.err, want, strlen(want)) == 0, &r);
    GT_ASSERT_PROC(have_fn, &r);
    GT_ASSERT_PROC(report, &r);
    /* The pc is the faulting load, a few instructions into faulty_read_nil. */
    GT_ASSERT_PROC(pc >= fn && pc < fn + 64, &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "survived"), &r);
    gt_proc_free(&r);
}

/* Run grouppanic MODE; the id of the goroutine that panicked, or -1. */
static long long run_grouppanic(const char *mode, gt_proc *r)
{
    const char *const args[] = { mode, NULL };
    gt_run("grouppanic", args, NULL, HELPER_TIMEOUT, r);
    regmatch_t m[2];
    if (!gt_regex_search(r->out, "^panicking goroutine ([0-9]+)$", m, 2))
        return -1;
    return gt_submatch_ll(r->out, m[1]);
}

static void test_panic_inside_on_panic_is_fatal_and_prints_both_panics(void **state)
{
    gt_proc r;
    long long goid = run_grouppanic("handler-panics", &r);

    char want[128];
    snprintf(want, sizeof want, "panic: boom\n\tpanic: panic in on_panic\n\n"
             "goroutine %lld [running]:\n", goid);
    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(goid > 1, &r);
    GT_ASSERT_PROC(gt_matches(r.out, "^on_panic: boom$"), &r);
    GT_ASSERT_PROC(strncmp(r.err, want, strlen(want)) == 0, &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "after panic|main survived"), &r);
    gt_proc_free(&r);
}

static void test_panic_in_a_group_without_on_panic_is_fatal(void **state)
{
    gt_proc r;
    long long goid = run_grouppanic("no-handler", &r);

    char want[96];
    snprintf(want, sizeof want, "panic: boom\n\ngoroutine %lld [running]:\n", goid);
    GT_ASSERT_PROC(gt_exited_with(&r, 2), &r);
    GT_ASSERT_PROC(goid > 1, &r);
    GT_ASSERT_PROC(strncmp(r.err, want, strlen(want)) == 0, &r);
    GT_ASSERT_PROC(!gt_matches(r.out, "after panic|main survived"), &r);
    gt_proc_free(&r);
}

/* ---------------------------------------------------------------------
 * schedtrace
 * ------------------------------------------------------------------- */

#define SCHED_RE                                                              \
    "^SCHED [0-9]+ms: gomaxprocs=[0-9]+ idleprocs=[0-9]+ threads=[0-9]+ "     \
    "spinningthreads=[0-9]+ idlethreads=[0-9]+ runqueue=[0-9]+ "              \
    "\\[[0-9]+( [0-9]+)*\\]$"
#define SCHED_2P_RE                                                           \
    "^SCHED [0-9]+ms: gomaxprocs=2 idleprocs=[0-9]+ threads=[0-9]+ "          \
    "spinningthreads=[0-9]+ idlethreads=[0-9]+ runqueue=[0-9]+ "              \
    "\\[[0-9]+ [0-9]+\\]$"
#define SCHED_DETAIL_RE                                                       \
    "^SCHED [0-9]+ms: gomaxprocs=[0-9]+ idleprocs=[0-9]+ threads=[0-9]+ "     \
    "spinningthreads=[0-9]+ idlethreads=[0-9]+ runqueue=[0-9]+ "              \
    "gcwaiting=[0-9]+ nmidlelocked=[0-9]+ stopwait=-?[0-9]+ sysmonwait=[0-9]+$"
#define P_RE                                                                  \
    "^  P[0-9]+: status=[0-9]+ schedtick=[0-9]+ syscalltick=[0-9]+ "          \
    "m=-?[0-9]+ runqsize=[0-9]+ gfreecnt=[0-9]+ timerslen=[0-9]+$"
#define M_RE                                                                  \
    "^  M[0-9]+: p=-?[0-9]+ curg=-?[0-9]+ mallocing=[0-9]+ throwing=[0-9]+ "  \
    "preemptoff= locks=[0-9]+ dying=[0-9]+ spinning=(true|false) "            \
    "blocked=(true|false) lockedg=-?[0-9]+$"
/* Wait reasons may hold parentheses: "GC worker (idle)". */
#define G_RE "^  G[0-9]+: status=[0-9]+\\(.*\\) m=-?[0-9]+ lockedm=-?[0-9]+$"

/* text without a last line that has no newline: the process may end (the
 * world stops when main returns) while sysmon is half-way through a line. */
static char *complete_lines(const char *text)
{
    const char *nl = strrchr(text, '\n');
    return strndup(text, nl ? (size_t)(nl - text) + 1 : 0);
}

/* True when the "SCHED Nms:" times never go backwards. */
static bool sched_times_ascend(const char *text)
{
    long long last = -1;
    const char *p = text;
    regmatch_t m[2];
    while (gt_regex_search(p, "^SCHED ([0-9]+)ms:", m, 2)) {
        long long t = gt_submatch_ll(p, m[1]);
        if (t < last)
            return false;
        last = t;
        p += m[0].rm_eo;
    }
    return true;
}

static void test_schedtrace_prints_go_format(void **state)
{
    const char *const env[] = { "GODEBUG=schedtrace=10", "GOMAXPROCS=2", NULL };
    gt_proc r;
    gt_run("schedtrace", NULL, env, HELPER_TIMEOUT, &r);

    int lines, full, lines2, full2;
    char *err = complete_lines(r.err);
    gt_count_lines(err, "^SCHED ", SCHED_RE, &lines, &full);
    gt_count_lines(err, "^SCHED ", SCHED_2P_RE, &lines2, &full2);
    free(err);
    print_message("%d SCHED lines\n", lines);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(lines >= 3, &r);
    GT_ASSERT_PROC(full == lines, &r);
    GT_ASSERT_PROC(full2 == lines, &r);
    GT_ASSERT_PROC(sched_times_ascend(r.err), &r);
    GT_ASSERT_PROC(!gt_matches(r.err, "^  [PMG][0-9]+:"), &r);
    gt_proc_free(&r);
}

static void test_scheddetail_prints_p_m_g_lines(void **state)
{
    const char *const env[] = {
        "GODEBUG=schedtrace=10,scheddetail=1", "GOMAXPROCS=2", NULL,
    };
    gt_proc r;
    gt_run("schedtrace", NULL, env, HELPER_TIMEOUT, &r);

    int sched, sched_ok, p, p_ok, m, m_ok, g, g_ok;
    char *err = complete_lines(r.err);
    gt_count_lines(err, "^SCHED ", SCHED_DETAIL_RE, &sched, &sched_ok);
    gt_count_lines(err, "^  P[0-9]", P_RE, &p, &p_ok);
    gt_count_lines(err, "^  M[0-9]", M_RE, &m, &m_ok);
    gt_count_lines(err, "^  G[0-9]", G_RE, &g, &g_ok);
    free(err);
    print_message("%d SCHED, %d P, %d M, %d G lines\n", sched, p, m, g);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(sched >= 3, &r);
    GT_ASSERT_PROC(sched_ok == sched, &r);
    /* Two P lines per trace, but the last block may be cut short. */
    GT_ASSERT_PROC(p >= 2 * (sched - 1), &r);
    GT_ASSERT_PROC(p_ok == p, &r);
    GT_ASSERT_PROC(m >= 1 && m_ok == m, &r);
    GT_ASSERT_PROC(g >= 1 && g_ok == g, &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^  P0: "), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^  P1: "), &r);
    GT_ASSERT_PROC(!gt_matches(r.err, "^  P2: "), &r);
    gt_proc_free(&r);
}

static void test_schedtrace_setter_turns_trace_on_and_off(void **state)
{
    const char *const args[] = { "api", NULL };
    gt_proc r;
    gt_run("schedtrace", args, NULL, HELPER_TIMEOUT, &r);

    regmatch_t mark;
    bool marked = gt_regex_search(r.err, "^schedtrace off$", &mark, 1);
    int before = 0, before_ok = 0, after = 0, after_ok = 0;
    if (marked) {
        char *head = strndup(r.err, (size_t)mark.rm_so);
        gt_count_lines(head, "^SCHED ", SCHED_RE, &before, &before_ok);
        gt_count_lines(r.err + mark.rm_eo, "^SCHED ", NULL, &after, &after_ok);
        free(head);
    }
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^set_schedtrace=0$"), &r);
    GT_ASSERT_PROC(gt_matches(r.err, "^set_schedtrace_off=0$"), &r);
    GT_ASSERT_PROC(marked, &r);
    GT_ASSERT_PROC(before >= 3 && before_ok == before, &r);
    GT_ASSERT_PROC(after == 0, &r);
    gt_proc_free(&r);
}

/* ---------------------------------------------------------------------
 * Environment
 * ------------------------------------------------------------------- */

/* "hello gomaxprocs=N cpus=M goid=G" from the hello helper. */
static bool hello_line(const gt_proc *r, long long *procs, long long *cpus, long long *goid)
{
    regmatch_t m[4];
    if (!gt_regex_search(r->out, "^hello gomaxprocs=([0-9]+) cpus=([0-9]+) goid=([0-9]+)$", m, 4))
        return false;
    *procs = gt_submatch_ll(r->out, m[1]);
    *cpus = gt_submatch_ll(r->out, m[2]);
    *goid = gt_submatch_ll(r->out, m[3]);
    return true;
}

static void test_unknown_godebug_name_is_ignored_with_a_warning(void **state)
{
    const char *const env[] = { "GODEBUG=nosuchknob=1", NULL };
    gt_proc r;
    gt_run("hello", NULL, env, HELPER_TIMEOUT, &r);

    long long procs, cpus, goid;
    int warnings, unused;
    gt_count_lines(r.err, "nosuchknob", NULL, &warnings, &unused);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(hello_line(&r, &procs, &cpus, &goid), &r);
    GT_ASSERT_PROC(goid == 1, &r);
    GT_ASSERT_PROC(warnings == 1, &r);
    GT_ASSERT_PROC(!gt_matches(r.err, "fatal error"), &r);
    gt_proc_free(&r);
}

static void test_known_and_unknown_godebug_names_mix(void **state)
{
    const char *const env[] = {
        "GODEBUG=nosuchknob=1,schedtrace=10", "GOMAXPROCS=2", NULL,
    };
    gt_proc r;
    gt_run("schedtrace", NULL, env, HELPER_TIMEOUT, &r);

    int warnings, unused, lines, full;
    char *err = complete_lines(r.err);
    gt_count_lines(err, "nosuchknob", NULL, &warnings, &unused);
    gt_count_lines(err, "^SCHED ", SCHED_RE, &lines, &full);
    free(err);
    GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
    GT_ASSERT_PROC(warnings == 1, &r);
    GT_ASSERT_PROC(lines >= 3 && full == lines, &r);
    gt_proc_free(&r);
}

static void test_bad_gomaxprocs_env_is_ignored(void **state)
{
    const char *const values[] = { "GOMAXPROCS=abc", "GOMAXPROCS=0", "GOMAXPROCS=-3",
                                   "GOMAXPROCS=2x" };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        const char *const env[] = { values[i], NULL };
        gt_proc r;
        gt_run("hello", NULL, env, HELPER_TIMEOUT, &r);

        long long procs = -1, cpus = -2, goid = -1;
        bool hello = hello_line(&r, &procs, &cpus, &goid);
        print_message("%s\n", values[i]);
        GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
        GT_ASSERT_PROC(hello, &r);
        /* Ignored means the default: the CPUs the process may use. */
        GT_ASSERT_PROC(procs == (cpus < GORT_MAX_PROCS ? cpus : GORT_MAX_PROCS), &r);
        gt_proc_free(&r);
    }
}

static void test_gomaxprocs_env_sets_the_number_of_ps(void **state)
{
    const struct {
        const char *env;
        long long want;
    } cases[] = {
        { "GOMAXPROCS=3", 3 },
        { "GOMAXPROCS=1", 1 },
        { "GOMAXPROCS=5000", GORT_MAX_PROCS },   /* clamped, as Go clamps */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const env[] = { cases[i].env, NULL };
        gt_proc r;
        gt_run("hello", NULL, env, HELPER_TIMEOUT, &r);

        long long procs = -1, cpus, goid;
        bool hello = hello_line(&r, &procs, &cpus, &goid);
        print_message("%s\n", cases[i].env);
        GT_ASSERT_PROC(gt_exited_with(&r, 0), &r);
        GT_ASSERT_PROC(hello, &r);
        GT_ASSERT_PROC(procs == cases[i].want, &r);
        gt_proc_free(&r);
    }
}

/* ---------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------- */

static void run_all(void *arg)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadlock_is_fatal_with_goroutine_dump),
        cmocka_unit_test(test_goexit_from_main_waits_for_other_goroutines_then_dies),
        cmocka_unit_test(test_thread_limit_exceeded_is_fatal),
        cmocka_unit_test(test_negative_waitgroup_counter_panics_unrecovered),
        cmocka_unit_test(test_goroutine_only_call_from_plain_thread_is_fatal),
        cmocka_unit_test(test_no_false_deadlock_while_sleeping_or_in_syscall),
        cmocka_unit_test(test_unrecovered_fault_panic_prints_the_signal_line_and_exits_2),
        cmocka_unit_test(test_panic_inside_on_panic_is_fatal_and_prints_both_panics),
        cmocka_unit_test(test_panic_in_a_group_without_on_panic_is_fatal),
        cmocka_unit_test(test_schedtrace_prints_go_format),
        cmocka_unit_test(test_scheddetail_prints_p_m_g_lines),
        cmocka_unit_test(test_schedtrace_setter_turns_trace_on_and_off),
        cmocka_unit_test(test_unknown_godebug_name_is_ignored_with_a_warning),
        cmocka_unit_test(test_known_and_unknown_godebug_names_mix),
        cmocka_unit_test(test_bad_gomaxprocs_env_is_ignored),
        cmocka_unit_test(test_gomaxprocs_env_sets_the_number_of_ps),
    };
    /* cmocka keeps its state in thread-local variables: the goroutine that
     * runs the group must not move to another thread. */
    gort_lock_os_thread();
    gt_select_tests();
    *(int *)arg = cmocka_run_group_tests(tests, NULL, NULL);
    gort_unlock_os_thread();
}

int main(void)
{
    return gt_main("test_fatal", run_all);
}
