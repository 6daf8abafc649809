/*
 * test_gortctl.c - gortctl against a real gortd (SPEC §6).
 *
 * Every test starts a real gortd (gortdutil.h) on a socket in a fresh
 * directory, usually with the example plugins of BUILD/plugins, and runs
 * the real gortctl binary against it as a person would: arguments in,
 * stdout, stderr and the exit code out.  What is covered:
 *
 *   - each subcommand's human output and its --json result, checked
 *     against what the daemon reports through a raw connection;
 *   - the changes the mutating commands make, seen by the daemon;
 *   - --follow: gctrace lines as collections happen, schedtrace lines,
 *     a clean exit 0 on SIGINT, exit 69 when the daemon goes away;
 *   - every exit code: 64 for bad usage (each naming the argument, and
 *     none reaching the daemon), 1 for a daemon error with its message,
 *     69 for no socket, a stale socket and a daemon that stopped, 77 for a
 *     socket or directory closed to the user and for the daemon's EPERM;
 *   - finding the socket: --socket, $GORT_SOCKET, $XDG_RUNTIME_DIR and
 *     ./run, in that order;
 *   - history as a table, CSV and JSON.
 *
 * Waits poll against generous deadlines (tripled under the sanitizers).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gortdutil.h"

#include <math.h>

#define NOBODY 65534   /* uid and gid of 'nobody' / 'nogroup' */

/* A daemon with the example plugins (hello ticks from the start). */
static struct daemon *start_with_plugins(void)
{
    return start_gortd("--plugin-dir", kept_printf("%s/plugins", g_build), NULL);
}

/* Run gortctl and expect exit 0; its stdout. */
#define OK(d, ...) ok_out(ctl_run(d, __VA_ARGS__, NULL))
static const char *ok_out(struct ctl_out o)
{
    expect_code(o, 0);
    if (*o.err)
        fail_msg("gortctl succeeded but wrote to stderr: %s", o.err);
    return o.out;
}

/* gortctl --json ...: its stdout parsed. */
#define JSON(d, ...) json_out(ctl_run(d, "--json", __VA_ARGS__, NULL))
static json_t *json_out(struct ctl_out o)
{
    expect_code(o, 0);
    json_error_t e;
    json_t *j = json_loads(o.out, 0, &e);
    if (!j)
        fail_msg("gortctl --json printed no JSON (%s): %s", e.text, o.out);
    return keep(j);
}

/* The value after "name: " on its own line of text, and the number of
 * bytes in parentheses when there is one. */
static const char *line_of(const char *text, const char *name)
{
    const char *want = kept_printf("%s: ", name);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, want, strlen(want)) == 0) {
            const char *end = strchr(p, '\n');
            return kept_string(p + strlen(want), end ? (size_t)(end - p) - strlen(want) : strlen(p));
        }
    fail_msg("no \"%s\" line in:\n%s", name, text);
    return NULL;
}

static size_t count_lines_with(const char *text, const char *part)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, part)); p += strlen(part))
        n++;
    return n;
}

/* ---------------------------------------------------------------------
 * The read-only views
 * ------------------------------------------------------------------- */

TEST(test_stats_prints_the_daemons_state_and_a_row_per_plugin_and_json_gives_the_raw_result)
{
    struct daemon *d = start_with_plugins();
    const char *out = OK(d, "stats");
    expect_contains(out, kept_printf("gortd 0.1.0, pid %d, up ", (int)d->pid));
    expect_contains(out, kept_printf("socket %s", d->sock));
    expect_contains(out, "gomaxprocs    ");
    expect_contains(out, "gogc          100\n");
    expect_contains(out, "memory-limit  off\n");
    expect_contains(out, "\nhistory       ");
    expect_contains(out, "PLUGIN");
    expect_contains(out, "\nhello ");

    json_t *s = JSON(d, "stats");
    assert_int_equal(get_int(s, "pid"), d->pid);
    assert_int_equal(get_int(s, "gogc"), 100);
    assert_true(json_array_size(get_array(s, "plugins")) >= 7);
    get_str(get_obj(s, "history"), "state");
}

TEST(test_memstats_prints_gops_style_lines_whose_units_match_the_exact_bytes)
{
    struct daemon *d = start_with_plugins();
    const char *out = OK(d, "memstats");
    static const char *const sizes[] = {"alloc", "total-alloc", "sys", "heap-alloc", "heap-sys",
                                        "heap-idle", "heap-in-use", "heap-released", "stack-in-use",
                                        "stack-sys", "gc-sys", "other-sys"};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const char *v = line_of(out, sizes[i]);
        double x;
        char unit[8];
        long long bytes;
        if (sscanf(v, "%lf %7s (%lld bytes)", &x, unit, &bytes) != 3)
            fail_msg("%s: \"%s\" is not \"N UNIT (B bytes)\"", sizes[i], v);
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        int u = 0;
        while (u < 5 && strcmp(units[u], unit) != 0)
            u++;
        assert_true(u < 5);
        double exact = (double)bytes / (double)(1ULL << (10 * u));
        if (fabs(exact - x) > 0.051 || (u > 0 && exact >= 1024) || (u > 0 && exact < 1))
            fail_msg("%s: %s does not say %lld bytes", sizes[i], v, bytes);
    }
    expect_contains(line_of(out, "next-gc"), "when heap-alloc >= ");
    line_of(out, "num-gc");
    line_of(out, "gc-cpu-fraction");
    assert_string_equal(line_of(out, "enable-gc"), "true");

    json_t *m = JSON(d, "memstats");
    get_int(m, "heap_alloc");
    get_obj(m, "pause_hist");
    get_array(m, "recent_pauses_ns");
}

TEST(test_plugins_lists_each_plugin_the_tasks_it_offers_and_the_running_ones)
{
    struct daemon *d = start_with_plugins();
    const char *out = OK(d, "plugins");
    expect_contains(out, "PLUGIN");
    expect_contains(out, "VERSION");
    expect_contains(out, "AUTOSTART");
    expect_contains(out, "allocate a small message");   /* hello's tick summary */
    expect_contains(out, "  hello   tick ");            /* running as task 1 */
    json_t *p = JSON(d, "plugins");
    json_t *first = json_array_get(get_array(p, "plugins"), 0);
    get_array(first, "task_defs");
    get_str(first, "path");
}

TEST(test_goroutines_dumps_every_goroutine_or_one_plugins)
{
    struct daemon *d = start_with_plugins();
    const char *all = OK(d, "goroutines");
    expect_contains(all, "goroutine ");
    expect_contains(all, "hello/tick");
    const char *hello = OK(d, "goroutines", "--plugin", "hello");
    expect_contains(hello, "hello/tick");
    json_t *j = JSON(d, "goroutines", "--plugin", "hello");
    assert_int_equal(get_int(j, "count"), 1);
    assert_false(get_bool(j, "truncated"));
    struct ctl_out o = ctl_run(d, "goroutines", "--plugin", "nosuch", NULL);
    expect_code(o, 1);
    expect_contains(o.err, "gortctl: goroutines: no plugin \"nosuch\"");
    expect_contains(o.err, "(ENOENT)");
}

TEST(test_version_prints_the_clients_and_the_daemons_versions)
{
    struct daemon *d = start_gortd(NULL);
    const char *out = OK(d, "version");
    expect_contains(out, "gortctl 0.1.0 (protocol 1)\n");
    expect_contains(out, kept_printf("gortd 0.1.0 (protocol 1, pid %d) at %s\n", (int)d->pid, d->sock));
    json_t *v = JSON(d, "version");
    assert_string_equal(get_str(v, "gortctl"), "0.1.0");
    assert_string_equal(get_str(get_obj(v, "gortd"), "version"), "0.1.0");
}

/* ---------------------------------------------------------------------
 * The controls
 * ------------------------------------------------------------------- */

TEST(test_gc_and_freeosmemory_run_and_print_their_numbers)
{
    struct daemon *d = start_gortd(NULL);
    int64_t before = get_int(call(d->ctl, "memstats", NULL), "num_gc");
    const char *out = OK(d, "gc");
    long long n;
    if (sscanf(out, "gc %lld: heap ", &n) != 1)
        fail_msg("gc printed: %s", out);
    assert_true(n > before);
    expect_contains(out, "next goal ");
    expect_contains(out, "; pause ");
    assert_true(get_int(call(d->ctl, "memstats", NULL), "num_gc") >= n);
    json_t *g = JSON(d, "gc");
    assert_true(get_int(g, "num_gc") > n);

    out = OK(d, "freeosmemory");
    expect_contains(out, "released ");
    expect_contains(out, "; rss ");
    expect_contains(out, " -> ");
    get_int(JSON(d, "freeosmemory"), "rss_after");
}

TEST(test_setgc_memlimit_and_gomaxprocs_print_old_and_new_and_the_daemon_changes)
{
    struct daemon *d = start_gortd(NULL);
    assert_string_equal(OK(d, "setgc", "50"), "GOGC 100 -> 50\n");
    assert_int_equal(get_int(call(d->ctl, "stats", NULL), "gogc"), 50);
    assert_string_equal(OK(d, "setgc", "off"), "GOGC 50 -> off\n");
    assert_int_equal(get_int(call(d->ctl, "stats", NULL), "gogc"), -1);
    json_t *r = JSON(d, "setgc", "100");
    assert_int_equal(get_int(r, "old"), -1);

    assert_string_equal(OK(d, "memlimit", "512MiB"), "memory limit off -> 512.0 MiB\n");
    assert_int_equal(get_int(call(d->ctl, "stats", NULL), "memory_limit"), 512 << 20);
    assert_string_equal(OK(d, "memlimit", "off"), "memory limit 512.0 MiB -> off\n");
    assert_int_equal(get_int(call(d->ctl, "stats", NULL), "memory_limit"), INT64_MAX);

    r = JSON(d, "memlimit", "1GiB");
    assert_int_equal(get_int(r, "old"), INT64_MAX);
    assert_int_equal(get_int(r, "bytes"), 1 << 30);
    assert_int_equal(get_int(call(d->ctl, "stats", NULL), "memory_limit"), 1 << 30);

    int64_t procs = get_int(call(d->ctl, "stats", NULL), "gomaxprocs");
    assert_string_equal(OK(d, "gomaxprocs"), kept_printf("GOMAXPROCS %lld\n", (long long)procs));
    assert_string_equal(show(JSON(d, "gomaxprocs")), kept_printf("{\"gomaxprocs\":%lld}", (long long)procs));
    assert_string_equal(OK(d, "gomaxprocs", "1"), kept_printf("GOMAXPROCS %lld -> 1\n", (long long)procs));
    assert_int_equal(get_int(call(d->ctl, "stats", NULL), "gomaxprocs"), 1);
    r = JSON(d, "gomaxprocs", kept_printf("%lld", (long long)procs));
    assert_int_equal(get_int(r, "old"), 1);
    assert_int_equal(get_int(r, "n"), procs);
}

TEST(test_unload_load_start_and_stop_drive_a_plugins_life)
{
    struct daemon *d = start_with_plugins();
    expect_contains(OK(d, "unload", "spinner", "--timeout", "10s"), "unloaded spinner in ");
    /* A relative path is the caller's. */
    const char *rel = kept_printf("%s/plugins/spinner.so", g_build);
    const char *out = OK(d, "load", rel);
    expect_contains(out, "loaded spinner 1.0 from /");
    expect_contains(out, "/plugins/spinner.so; tasks: spin\n");

    out = OK(d, "start", "spinner", "spin");
    long long id;
    if (sscanf(out, "started task %lld (spinner/spin)", &id) != 1)
        fail_msg("start printed: %s", out);
    expect_contains(OK(d, "plugins"), kept_printf("%lld  spinner  spin ", id));
    expect_contains(OK(d, "stop", kept_printf("%lld", id), "--timeout=5s"),
                    kept_printf("stopped task %lld in ", id));

    /* Task arguments pass through as they are, dashes included (boom
     * panics with its argument as the message). */
    json_t *r = JSON(d, "start", "panicky", "boom", "--", "--x");
    assert_string_equal(show(get_array(r, "args")), "[\"--x\"]");

    /* The same life in JSON: the daemon's answers. */
    r = JSON(d, "unload", "spinner");
    assert_string_equal(get_str(r, "plugin"), "spinner");
    get_int(r, "duration_ns");
    r = JSON(d, "load", rel);
    assert_string_equal(get_str(r, "name"), "spinner");
    assert_true(get_str(r, "path")[0] == '/');
    r = JSON(d, "start", "spinner", "spin");
    id = get_int(r, "task_id");
    r = JSON(d, "stop", kept_printf("%lld", id));
    assert_int_equal(get_int(r, "task_id"), id);
    get_int(r, "duration_ns");
}

TEST(test_gctrace_on_and_off_switch_the_daemons_log)
{
    struct daemon *d = start_gortd(NULL);
    assert_string_equal(OK(d, "gctrace", "on"), "gctrace logging off -> on\n");
    call(d->ctl, "gc", NULL);
    wait_log(d, " ms clock, ", scaled(WAIT_MS));
    assert_string_equal(OK(d, "gctrace", "off"), "gctrace logging on -> off\n");
    assert_string_equal(OK(d, "schedtrace", "250"), "schedtrace logging off -> every 250 ms\n");
    wait_log(d, "SCHED ", scaled(WAIT_MS));
    assert_string_equal(OK(d, "schedtrace", "0"), "schedtrace logging every 250 ms -> off\n");

    json_t *r = JSON(d, "gctrace", "on");
    assert_false(get_bool(r, "old"));
    assert_true(get_bool(r, "on"));
    r = JSON(d, "schedtrace", "500", "--detail");
    assert_int_equal(get_int(r, "old_interval_ms"), 0);
    assert_int_equal(get_int(r, "interval_ms"), 500);
    assert_true(get_bool(r, "detail"));
}

/* ---------------------------------------------------------------------
 * Following
 * ------------------------------------------------------------------- */

static struct ctl_proc *start_ctl(struct daemon *d, const char *first, ...)
{
    const char *args[32] = {"--socket", d->sock};
    va_list ap;
    va_start(ap, first);
    arg_list(args + 2, 30, first, ap);
    va_end(ap);
    return gortctl_start(NULL, NULL, -1, args);
}

/* Run gc on c until p's stdout holds n lines containing part. */
static void gc_until(struct conn *c, struct ctl_proc *p, const char *part, size_t n)
{
    int64_t end = now_ms() + scaled(WAIT_MS);
    while (count_lines_with(read_text(p->out), part) < n) {
        if (now_ms() > end)
            fail_msg("gortctl printed %zu lines with \"%s\", %zu expected:\n%s", count_lines_with(read_text(p->out), part),
                     part, n, read_text(p->out));
        call(c, "gc", NULL);
        sleep_ms(20);
    }
}

TEST(test_gctrace_follow_prints_a_line_per_collection_and_exits_0_on_sigint)
{
    struct daemon *d = start_gortd(NULL);
    struct ctl_proc *p = start_ctl(d, "gctrace", "--follow", NULL);
    gc_until(d->ctl, p, " ms clock, ", 1);
    /* From now on the subscription is in place: every collection shows. */
    size_t have = count_lines_with(read_text(p->out), " ms clock, ");
    for (int i = 0; i < 3; i++)
        call(d->ctl, "gc", NULL);
    gc_until(d->ctl, p, " ms clock, ", have + 3);
    const char *out = read_text(p->out);
    expect_contains(out, "gc ");
    expect_contains(out, " (forced)\n");
    kill(p->pid, SIGINT);
    struct ctl_out o = gortctl_wait(p, scaled(WAIT_MS));
    expect_code(o, 0);
    assert_string_equal(o.err, "");
    /* The daemon is left as it was: its log switch still off. */
    json_t *r = call(d->ctl, "gctrace", "{\"on\":false}");
    assert_false(get_bool(r, "old"));
}

TEST(test_gctrace_follow_with_json_prints_one_object_per_line)
{
    struct daemon *d = start_gortd(NULL);
    struct ctl_proc *p = start_ctl(d, "--json", "gctrace", "--follow", NULL);
    gc_until(d->ctl, p, "\"gc\":", 2);
    kill(p->pid, SIGINT);
    struct ctl_out o = gortctl_wait(p, scaled(WAIT_MS));
    expect_code(o, 0);
    const char *line = strstr(o.out, "{\"gc\":");
    assert_non_null(line);
    json_t *j = keep(json_loadb(line, (size_t)(strchr(line, '\n') - line), 0, NULL));
    assert_non_null(j);
    get_int(j, "gc");
    assert_true(get_bool(j, "forced"));
    expect_contains(get_str(j, "line"), " ms clock, ");
}

TEST(test_schedtrace_follow_prints_sched_lines_without_touching_the_setting)
{
    struct daemon *d = start_gortd(NULL);
    struct ctl_proc *p = start_ctl(d, "schedtrace", "--follow", NULL);
    int64_t end = now_ms() + scaled(WAIT_MS);
    while (count_lines_with(read_text(p->out), "SCHED ") < 2) {
        if (now_ms() > end)
            fail_msg("no SCHED lines: %s", read_text(p->out));
        sleep_ms(50);
    }
    kill(p->pid, SIGINT);
    expect_code(gortctl_wait(p, scaled(WAIT_MS)), 0);
    json_t *r = call(d->ctl, "schedtrace", "{\"interval_ms\":0}");
    assert_int_equal(get_int(r, "old_interval_ms"), 0);

    /* --json: one event object per line. */
    p = start_ctl(d, "--json", "schedtrace", "--follow", NULL);
    end = now_ms() + scaled(WAIT_MS);
    while (count_lines_with(read_text(p->out), "SCHED ") < 2) {
        if (now_ms() > end)
            fail_msg("no SCHED objects: %s", read_text(p->out));
        sleep_ms(50);
    }
    kill(p->pid, SIGINT);
    struct ctl_out o = gortctl_wait(p, scaled(WAIT_MS));
    expect_code(o, 0);
    const char *line = o.out;
    json_t *first = keep(json_loadb(line, strcspn(line, "\n"), 0, NULL));
    if (!first)
        fail_msg("schedtrace --follow --json printed: %s", o.out);
    assert_true(strncmp(get_str(first, "line"), "SCHED ", 6) == 0);
    get_int(first, "gomaxprocs");
}

TEST(test_following_a_daemon_that_stops_exits_69)
{
    struct daemon *d = start_gortd(NULL);
    struct ctl_proc *p = start_ctl(d, "gctrace", "--follow", NULL);
    gc_until(d->ctl, p, " ms clock, ", 1);
    assert_true(stop_daemon(d));
    struct ctl_out o = gortctl_wait(p, scaled(WAIT_MS));
    expect_code(o, 69);
    expect_contains(o.err, kept_printf("the connection to gortd at %s closed", d->sock));
    expect_contains(o.err, "systemctl status gortd");
}

/* ---------------------------------------------------------------------
 * History
 * ------------------------------------------------------------------- */

TEST(test_history_prints_rows_as_a_table_as_csv_and_as_json)
{
    struct daemon *d = start_gortd("--history-flush", "50", NULL);
    call(d->ctl, "gc", NULL);
    call(d->ctl, "gc", NULL);
    int64_t end = now_ms() + scaled(WAIT_MS);
    json_t *h;
    while (get_int(h = JSON(d, "history", "gc"), "count") < 2) {
        if (now_ms() > end)
            fail_msg("2 gc rows expected: %s", show(h));
        sleep_ms(50);
    }
    json_t *row = json_array_get(get_array(h, "rows"), 0);

    const char *table = OK(d, "history", "gc", "--since", "1h");
    expect_contains(table, "TIME");
    expect_contains(table, "REASON");
    expect_contains(table, "forced");
    expect_contains(table, kept_printf(" %lld ", (long long)get_int(row, "num")));

    const char *csv = OK(d, "history", "gc", "--format", "csv", "--order", "asc");
    assert_true(strncmp(csv, "id,time_ns,end_ns,num,", 22) == 0);
    assert_true(count_lines_with(csv, "\r\n") >= 3);
    expect_contains(csv, ",forced,");

    struct ctl_out o = ctl_run(d, "history", "gc", "--limit", "1", NULL);
    expect_code(o, 0);
    expect_contains(o.err, "more rows match");
    assert_int_equal(count_lines_with(o.out, "\n"), 2);   /* the header and one row */

    /* What the operator did is in the audit. */
    OK(d, "setgc", "90");
    end = now_ms() + scaled(WAIT_MS);
    while (!strstr(OK(d, "history", "audit"), "setgcpercent")) {
        if (now_ms() > end)
            fail_msg("no setgcpercent in the audit");
        sleep_ms(50);
    }
    expect_contains(OK(d, "history", "audit"), "{\"value\":90}");
}

TEST(test_history_of_a_daemon_without_one_is_a_daemon_error)
{
    struct daemon *d = start_gortd("--history-db", "off", NULL);
    struct ctl_out o = ctl_run(d, "history", "gc", NULL);
    expect_code(o, 1);
    expect_contains(o.err, "gortctl: history: ");
    expect_contains(o.err, "(ENOTSUP)");
    o = ctl_run(d, "history", "gc", "--since", "yesterday", NULL);
    expect_code(o, 1);
    expect_contains(o.err, "\"yesterday\"");
}

/* ---------------------------------------------------------------------
 * Bad usage: 64, naming the argument, before anything is sent
 * ------------------------------------------------------------------- */

TEST(test_bad_usage_exits_64_naming_the_argument_and_changes_nothing)
{
    struct daemon *d = start_gortd(NULL);
    static const struct {
        const char *args[6];
        const char *names;
    } cases[] = {
        {{"frob"}, "unknown command \"frob\""},
        {{"setgc", "abc"}, "\"abc\" is not a GOGC value"},
        {{"setgc", "-2"}, "\"-2\""},
        {{"setgc"}, "missing argument"},
        {{"memlimit", "12XB"}, "\"12XB\" is not a size"},
        {{"memlimit", "-1"}, "\"-1\""},
        {{"gomaxprocs", "0"}, "\"0\" is not a number of Ps"},
        {{"gomaxprocs", "1", "2"}, "unexpected argument"},
        {{"stats", "extra"}, "unexpected argument"},
        {{"stats", "--bogus"}, "unknown option \"--bogus\""},
        {{"history", "nosuch"}, "unknown kind \"nosuch\""},
        {{"history", "gc", "--limit", "0"}, "--limit \"0\""},
        {{"history", "gc", "--format", "xml"}, "--format \"xml\""},
        {{"history", "gc", "--order", "up"}, "--order \"up\""},
        {{"history", "gc", "--since"}, "option \"--since\" needs a value"},
        {{"gctrace"}, "want on, off or --follow"},
        {{"gctrace", "maybe"}, "\"maybe\" is neither on nor off"},
        {{"schedtrace", "abc"}, "\"abc\" is not an interval"},
        {{"schedtrace", "--follow", "--detail"}, "--detail changes the daemon's setting"},
        {{"stop", "x"}, "\"x\" is not a task id"},
        {{"unload", "hello", "--timeout", "5y"}, "--timeout \"5y\""},
        {{"start", "hello"}, "missing argument"},
        {{"start", "--x", "y"}, "unknown option \"--x\""},
        {{"--color", "purple", "stats"}, "--color must be auto, always or never, got \"purple\""},
        {{"help", "nosuch"}, "unknown command \"nosuch\""},
        {{"top", "--interval", "abc"}, "abc"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[10] = {"--socket", d->sock};
        int n = 2;
        for (int k = 0; k < 6 && cases[i].args[k]; k++)
            args[n++] = cases[i].args[k];
        args[n] = NULL;
        struct ctl_out o = gortctl_wait(gortctl_start(NULL, NULL, -1, args), scaled(WAIT_MS));
        if (o.code != 64 || !strstr(o.err, cases[i].names) || !strstr(o.err, "usage: gortctl"))
            fail_msg("gortctl %s ...: exit %d, stderr:\n%s\n(64 and \"%s\" expected)", cases[i].args[0],
                     o.code, o.err, cases[i].names);
        assert_string_equal(o.out, "");
    }
    /* Nothing reached the daemon. */
    json_t *s = call(d->ctl, "stats", NULL);
    assert_int_equal(get_int(s, "gogc"), 100);
    assert_int_equal(get_int(s, "memory_limit"), INT64_MAX);
    json_t *h = call(d->ctl, "history", "{\"kind\":\"audit\"}");
    assert_int_equal(get_int(h, "count"), 0);
}

TEST(test_a_daemon_error_exits_1_with_the_daemons_message_and_code)
{
    struct daemon *d = start_with_plugins();
    struct ctl_out o = ctl_run(d, "stop", "99", NULL);
    expect_code(o, 1);
    assert_string_equal(o.err, "gortctl: stop: no task 99 is running (ENOENT)\n");
    o = ctl_run(d, "unload", "nosuch", NULL);
    expect_code(o, 1);
    expect_contains(o.err, "gortctl: unload: no plugin \"nosuch\" is loaded (ENOENT)");
    o = ctl_run(d, "start", "hello", "nosuch", NULL);
    expect_code(o, 1);
    expect_contains(o.err, "tick");   /* the error lists the tasks there are */
    o = ctl_run(d, "load", "/nonexistent/x.so", NULL);
    expect_code(o, 1);
    expect_contains(o.err, "gortctl: load: ");
}

/* ---------------------------------------------------------------------
 * Reaching the daemon: 69 and 77
 * ------------------------------------------------------------------- */

TEST(test_no_socket_exits_69_naming_it_and_suggesting_systemctl)
{
    const char *path = dir_path("none.sock");
    const char *args[] = {"--socket", path, "stats", NULL};
    struct ctl_out o = gortctl_wait(gortctl_start(NULL, NULL, -1, args), scaled(WAIT_MS));
    expect_code(o, 69);
    expect_contains(o.err, path);
    expect_contains(o.err, "systemctl status gortd");
    assert_string_equal(o.out, "");
}

TEST(test_a_stale_socket_nobody_listens_on_exits_69)
{
    const char *path = dir_path("stale.sock");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);   /* the file stays, as after a crash */
    const char *args[] = {"--socket", path, "memstats", NULL};
    struct ctl_out o = gortctl_wait(gortctl_start(NULL, NULL, -1, args), scaled(WAIT_MS));
    expect_code(o, 69);
    expect_contains(o.err, kept_printf("nothing listens on %s", path));
    expect_contains(o.err, "systemctl status gortd");
}

TEST(test_a_socket_that_is_not_gortds_exits_69)
{
    const char *path = dir_path("other.sock");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    const char *args[] = {"--socket", path, "stats", NULL};
    struct ctl_proc *p = gortctl_start(NULL, NULL, -1, args);
    int c = accept(fd, NULL, NULL);
    assert_true(c >= 0);
    const char *hello = "SSH-2.0-OpenSSH_9.2\r\n";
    assert_int_equal(write(c, hello, strlen(hello)), (ssize_t)strlen(hello));
    struct ctl_out o = gortctl_wait(p, scaled(WAIT_MS));
    close(c);
    close(fd);
    expect_code(o, 69);
    expect_contains(o.err, "is not gortd's socket");
}

TEST(test_a_socket_closed_to_the_user_exits_77_naming_owner_group_and_mode)
{
    if (geteuid() != 0)
        skip();
    struct daemon *d = start_gortd(NULL);
    const char *args[] = {"--socket", d->sock, "stats", NULL};
    /* The fixture's directory is 0700: the socket cannot even be seen. */
    struct ctl_out o = gortctl_wait(gortctl_start("/", NULL, NOBODY, args), scaled(WAIT_MS));
    expect_code(o, 77);
    expect_contains(o.err, kept_printf("permission denied on %s: its directory %s (owner root, group root, mode 0700)",
                                       d->sock, fx.dir));
    /* Through the directory, the socket's own mode (0660 root:root). */
    assert_int_equal(chmod(fx.dir, 0711), 0);
    o = gortctl_wait(gortctl_start("/", NULL, NOBODY, args), scaled(WAIT_MS));
    expect_code(o, 77);
    expect_contains(o.err, kept_printf("permission denied on %s (owner root, group root, mode 0660)", d->sock));
    expect_contains(o.err, "member of group root");
}

TEST(test_a_command_the_daemon_refuses_with_eperm_exits_77)
{
    if (geteuid() != 0)
        skip();
    /* nobody's group may read: the socket is group nogroup, 0660. */
    struct daemon *d = start_gortd("--read-group", "nogroup", NULL);
    assert_int_equal(chmod(fx.dir, 0711), 0);
    const char *stats[] = {"--socket", d->sock, "stats", NULL};
    expect_code(gortctl_wait(gortctl_start("/", NULL, NOBODY, stats), scaled(WAIT_MS)), 0);
    const char *gc[] = {"--socket", d->sock, "gc", NULL};
    struct ctl_out o = gortctl_wait(gortctl_start("/", NULL, NOBODY, gc), scaled(WAIT_MS));
    expect_code(o, 77);
    expect_contains(o.err, "gortctl: gc: ");
    expect_contains(o.err, "(EPERM)");
}

/* ---------------------------------------------------------------------
 * Finding the socket
 * ------------------------------------------------------------------- */

TEST(test_the_socket_is_found_by_flag_then_env_then_xdg_runtime_dir_then_dot_run)
{
    if (exists("/run/gortd/gortd.sock"))
        skip();   /* a system gortd comes before the others */
    const char *xdg = dir_path("xdg"), *work = dir_path("work");
    assert_int_equal(mkdir(xdg, 0700), 0);
    assert_int_equal(mkdir(work, 0700), 0);
    assert_int_equal(mkdir(kept_printf("%s/run", work), 0700), 0);
    struct daemon *in_xdg = start_gortd("--socket", kept_printf("%s/gortd.sock", xdg), NULL);
    struct daemon *in_run = start_gortd("--socket", kept_printf("%s/run/gortd.sock", work), "--state-dir",
                                        dir_path("state2"), NULL);
    const char *version[] = {"version", NULL};
    const char *pid_xdg = kept_printf("pid %d)", (int)in_xdg->pid), *pid_run = kept_printf("pid %d)", (int)in_run->pid);

    /* ./run/gortd.sock, when nothing else is there. */
    const char *plain[] = {"XDG_RUNTIME_DIR", "GORT_SOCKET", NULL};
    struct ctl_out o = gortctl_wait(gortctl_start(work, plain, -1, version), scaled(WAIT_MS));
    expect_code(o, 0);
    expect_contains(o.out, pid_run);
    /* $XDG_RUNTIME_DIR/gortd.sock comes first. */
    const char *with_xdg[] = {kept_printf("XDG_RUNTIME_DIR=%s", xdg), "GORT_SOCKET", NULL};
    o = gortctl_wait(gortctl_start(work, with_xdg, -1, version), scaled(WAIT_MS));
    expect_code(o, 0);
    expect_contains(o.out, pid_xdg);
    /* $GORT_SOCKET before both. */
    const char *with_env[] = {kept_printf("XDG_RUNTIME_DIR=%s", xdg),
                              kept_printf("GORT_SOCKET=%s/run/gortd.sock", work), NULL};
    o = gortctl_wait(gortctl_start(work, with_env, -1, version), scaled(WAIT_MS));
    expect_code(o, 0);
    expect_contains(o.out, pid_run);
    /* --socket before everything. */
    const char *flag[] = {"--socket", in_xdg->sock, "version", NULL};
    o = gortctl_wait(gortctl_start(work, with_env, -1, flag), scaled(WAIT_MS));
    expect_code(o, 0);
    expect_contains(o.out, pid_xdg);
    /* Nothing anywhere: 69, listing what was tried. */
    const char *empty = dir_path("empty");
    assert_int_equal(mkdir(empty, 0700), 0);
    o = gortctl_wait(gortctl_start(empty, plain, -1, version), scaled(WAIT_MS));
    expect_code(o, 69);
    expect_contains(o.err, "no gortd socket found (tried /run/gortd/gortd.sock, ./run/gortd.sock;");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    if (gortd_suite_init("test_gortctl") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        T(test_stats_prints_the_daemons_state_and_a_row_per_plugin_and_json_gives_the_raw_result),
        T(test_memstats_prints_gops_style_lines_whose_units_match_the_exact_bytes),
        T(test_plugins_lists_each_plugin_the_tasks_it_offers_and_the_running_ones),
        T(test_goroutines_dumps_every_goroutine_or_one_plugins),
        T(test_version_prints_the_clients_and_the_daemons_versions),
        T(test_gc_and_freeosmemory_run_and_print_their_numbers),
        T(test_setgc_memlimit_and_gomaxprocs_print_old_and_new_and_the_daemon_changes),
        T(test_unload_load_start_and_stop_drive_a_plugins_life),
        T(test_gctrace_on_and_off_switch_the_daemons_log),
        T(test_gctrace_follow_prints_a_line_per_collection_and_exits_0_on_sigint),
        T(test_gctrace_follow_with_json_prints_one_object_per_line),
        T(test_schedtrace_follow_prints_sched_lines_without_touching_the_setting),
        T(test_following_a_daemon_that_stops_exits_69),
        T(test_history_prints_rows_as_a_table_as_csv_and_as_json),
        T(test_history_of_a_daemon_without_one_is_a_daemon_error),
        T(test_bad_usage_exits_64_naming_the_argument_and_changes_nothing),
        T(test_a_daemon_error_exits_1_with_the_daemons_message_and_code),
        T(test_no_socket_exits_69_naming_it_and_suggesting_systemctl),
        T(test_a_stale_socket_nobody_listens_on_exits_69),
        T(test_a_socket_that_is_not_gortds_exits_69),
        T(test_a_socket_closed_to_the_user_exits_77_naming_owner_group_and_mode),
        T(test_a_command_the_daemon_refuses_with_eperm_exits_77),
        T(test_the_socket_is_found_by_flag_then_env_then_xdg_runtime_dir_then_dot_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
