/*
 * test_gortd.c - gortd end to end.  Every test starts a real gortd in a
 * fresh directory under /tmp and talks to it over its Unix socket the way
 * any client does, one JSON line at a time.  Nothing is mocked.
 *
 * Covered: the greeting and every command's answer; the errors a bad
 * request gets, and that the connection survives them; the line limit at
 * its boundary; the client limit; subscribers that do not read (their
 * lines are dropped while the daemon stays responsive and small) and a
 * client that does not read its answers; the idle timeout; the daemon's
 * life cycle (signals, the shutdown command, stale and live sockets); its
 * settings (flags, the file, the errors for bad ones, SIGHUP); and access
 * for a peer that is neither root nor the daemon's user.  The plugin
 * commands have their own suite, test_gortd_plugins.
 *
 * The fixture, the daemons and the client side are in gortdutil.h.  Under
 * the sanitizers the daemon's resident set is not checked (see
 * expect_rss_bounded).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gortdutil.h"

#include <grp.h>

#define MAX_LINE (1 << 20)        /* the protocol's line limit, without the '\n' */
#define RSS_LIMIT (64L << 20)     /* the daemon's resident set must stay below this */
#define NOBODY 65534              /* uid and gid of 'nobody' / 'nogroup' */

/* The daemon's resident set is under RSS_LIMIT.  Not under the
 * sanitizers: ASan keeps freed memory resident (its quarantine is 256 MiB)
 * and TSan keeps state for every thread that ever ran (one per long
 * command), so there the number measures the sanitizer, not the daemon. */
static void expect_rss_bounded(struct daemon *d, const char *when)
{
    long rss = rss_of(d->pid);
    if (g_sanitizer)
        return;
    if (rss >= RSS_LIMIT)
        fail_msg("gortd's VmRSS is %ld KiB %s (it was %ld KiB at start); the limit is %ld KiB", rss / 1024, when,
                 d->rss0 / 1024, RSS_LIMIT / 1024);
}

/* Read c's events until the gctrace line of collection k.  Earlier lines
 * (background cycles, scavenger lines, a dropped notice) are skipped; a
 * later collection first means k's line was lost. */
static json_t *wait_gc_event(struct conn *c, int64_t sub_id, json_int_t k)
{
    int64_t end = now_ms() + scaled(5000);
    for (;;) {
        int64_t left = end - now_ms();
        if (left <= 0)
            fail_msg("no gctrace line for collection %lld within %d ms", (long long)k, scaled(5000));
        json_t *ev = read_event(c, (int)left);
        assert_int_equal(get_int(ev, "id"), sub_id);
        if (strcmp(get_str(ev, "event"), "gctrace") != 0)
            continue;
        json_t *data = get_obj(ev, "data");
        get_str(data, "line");
        if (!json_object_get(data, "gc"))
            continue;
        json_int_t gc = get_int(data, "gc");
        if (gc == k)
            return data;
        if (gc > k)
            fail_msg("the gctrace line for collection %lld was expected, got %s", (long long)k, show(ev));
    }
}

/* ---------------------------------------------------------------------
 * The greeting and every command
 * ------------------------------------------------------------------- */

TEST(test_the_greeting_names_the_daemon_its_version_protocol_and_pid)
{
    struct daemon *d = start_gortd(NULL);
    json_t *g = d->ctl->greeting;
    assert_string_equal(get_str(g, "hello"), "gortd");
    assert_string_equal(get_str(g, "version"), "0.1.0");
    assert_int_equal(get_int(g, "protocol"), 1);
    assert_int_equal(get_int(g, "pid"), d->pid);
    assert_int_equal(json_object_size(g), 4);
    /* Every client gets the same greeting. */
    struct conn *c2 = conn_open(d);
    if (!json_equal(g, c2->greeting))
        fail_msg("greetings differ: %s and %s", show(g), show(c2->greeting));
}

TEST(test_ping_answers_pong_with_the_daemons_wall_clock)
{
    struct daemon *d = start_gortd(NULL);
    json_t *r = call(d->ctl, "ping", NULL);
    assert_true(get_bool(r, "pong"));
    int64_t skew = wall_ns() - get_int(r, "time_ns");
    if (skew < -60000000000LL || skew > 60000000000LL)
        fail_msg("time_ns is %lld ns away from this clock", (long long)skew);
    /* args may be null or empty for a command that takes none. */
    send_line(d->ctl, "{\"id\":77,\"cmd\":\"ping\",\"args\":null}");
    expect_ok(answer(d->ctl, 77));
    assert_true(get_bool(call(d->ctl, "ping", "{}"), "pong"));
}

TEST(test_version_matches_the_greeting)
{
    struct daemon *d = start_gortd(NULL);
    json_t *r = call(d->ctl, "version", NULL);
    assert_string_equal(get_str(r, "version"), get_str(d->ctl->greeting, "version"));
    assert_int_equal(get_int(r, "protocol"), get_int(d->ctl->greeting, "protocol"));
}

TEST(test_stats_reports_the_process_the_runtime_and_the_clients)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl, *c2 = conn_open(d);
    json_t *s = call(c, "stats", NULL);
    assert_int_equal(get_int(s, "pid"), d->pid);
    json_int_t up = get_int(s, "uptime_ns");
    assert_true(up > 0);
    assert_true(get_int(s, "goroutines") >= 0);
    assert_true(get_int(s, "threads") >= 1);
    assert_true(get_int(s, "gomaxprocs") >= 1);
    assert_int_equal(get_int(s, "gogc"), 100);
    assert_int_equal(get_int(s, "memory_limit"), INT64_MAX);
    assert_int_equal(get_int(s, "clients"), 2);
    assert_int_equal(json_array_size(get_array(s, "plugins")), 0);
    /* The uptime moves on, and another client sees the same daemon. */
    json_t *s2 = call(c2, "stats", NULL);
    assert_true(get_int(s2, "uptime_ns") > up);
    assert_int_equal(get_int(s2, "pid"), d->pid);
    /* A client that hangs up is no longer counted. */
    conn_close(c2);
    wait_clients(c, 1);
}

TEST(test_memstats_reports_every_runtime_counter)
{
    static const char *const counters[] = {
        "alloc", "total_alloc", "sys", "mallocs", "frees", "heap_alloc", "heap_sys", "heap_idle",
        "heap_inuse", "heap_released", "heap_objects", "stack_inuse", "stack_sys", "mspan_inuse",
        "mspan_sys", "mcache_inuse", "mcache_sys", "gc_sys", "other_sys", "next_gc", "last_gc",
        "pause_total_ns", "num_gc", "num_forced_gc", "memory_limit", "goroutines", "assist_cpu_ns",
        "mark_worker_cpu_ns", "scav_released", "tiny_allocs", "large_allocs", "large_frees",
    };
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    json_t *m = call(c, "memstats", NULL);
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        if (get_int(m, counters[i]) < 0)
            fail_msg("\"%s\" is negative in %s", counters[i], show(m));
    assert_true(get_int(m, "sys") > 0);
    assert_true(get_int(m, "next_gc") > 0);
    assert_int_equal(get_int(m, "memory_limit"), INT64_MAX);
    json_t *frac = get(m, "gc_cpu_fraction");
    assert_true(json_is_number(frac));
    assert_true(json_number_value(frac) >= 0 && json_number_value(frac) <= 1);
    assert_true(get_bool(m, "enable_gc"));
    get_array(m, "recent_pauses_ns");

    /* After a collection the counters show it, and its pause is listed. */
    json_int_t n0 = get_int(m, "num_gc");
    call(c, "gc", NULL);
    m = call(c, "memstats", NULL);
    assert_true(get_int(m, "num_gc") > n0);
    assert_true(get_int(m, "num_forced_gc") >= 1);
    int64_t since_last = wall_ns() - get_int(m, "last_gc");
    assert_true(since_last >= 0 && since_last < 60000000000LL);
    json_t *pauses = get_array(m, "recent_pauses_ns");
    assert_true(json_array_size(pauses) >= 1 && json_array_size(pauses) <= 16);
    json_int_t total = get_int(m, "pause_total_ns");
    size_t i;
    json_t *p;
    json_array_foreach(pauses, i, p) {
        assert_true(json_is_integer(p));
        assert_true(json_integer_value(p) >= 0 && json_integer_value(p) <= total);
    }
}

TEST(test_memstats_pause_hist_has_17_increasing_bounds_and_18_counts_that_sum_to_num_gc)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    call(c, "gc", NULL);
    json_t *m = call(c, "memstats", NULL);
    json_t *h = get_obj(m, "pause_hist");
    json_t *le = get_array(h, "le_ns"), *counts = get_array(h, "counts");
    assert_int_equal(json_array_size(le), 17);
    assert_int_equal(json_array_size(counts), 18);
    size_t i;
    json_t *v;
    json_int_t prev = 0;
    json_array_foreach(le, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) <= prev)
            fail_msg("le_ns is not increasing integers: %s", show(h));
        prev = json_integer_value(v);
    }
    assert_int_equal(json_integer_value(json_array_get(le, 0)), 5000);
    assert_int_equal(prev, 1000000000);
    json_int_t sum = 0;
    json_array_foreach(counts, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            fail_msg("counts are not counts: %s", show(h));
        sum += json_integer_value(v);
    }
    assert_true(get_int(m, "num_gc") >= 1);
    assert_int_equal(sum, get_int(m, "num_gc"));
}

TEST(test_gc_runs_a_collection_and_num_gc_increases)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    json_int_t n0 = get_int(call(c, "memstats", NULL), "num_gc");
    json_t *r = call(c, "gc", NULL);
    json_int_t n1 = get_int(r, "num_gc");
    assert_true(n1 > n0);
    assert_true(get_int(r, "heap_alloc_before") >= 0);
    assert_true(get_int(r, "heap_alloc_after") >= 0);
    assert_true(get_int(r, "next_gc") > 0);
    assert_true(get_int(r, "pause_ns") >= 0);
    assert_true(get_int(r, "duration_ns") > 0);
    assert_true(get_int(call(c, "gc", NULL), "num_gc") > n1);
}

TEST(test_freeosmemory_reports_what_it_released_and_the_resident_set)
{
    struct daemon *d = start_gortd(NULL);
    json_t *r = call(d->ctl, "freeosmemory", NULL);
    assert_true(get_int(r, "released_bytes") >= 0);
    assert_true(get_int(r, "heap_released") >= 0);
    assert_true(get_int(r, "rss_before") > 0);
    assert_true(get_int(r, "rss_after") > 0);
    assert_true(get_int(r, "duration_ns") > 0);
}

TEST(test_setgcpercent_returns_the_previous_value_and_stats_follows)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    json_t *r = call(c, "setgcpercent", "{\"value\":50}");
    assert_int_equal(get_int(r, "old"), 100);
    assert_int_equal(get_int(r, "value"), 50);
    r = call(c, "setgcpercent", "{\"value\":200}");
    assert_int_equal(get_int(r, "old"), 50);
    assert_int_equal(get_int(r, "value"), 200);
    assert_int_equal(get_int(call(c, "stats", NULL), "gogc"), 200);
    /* -1 turns the collector off. */
    r = call(c, "setgcpercent", "{\"value\":-1}");
    assert_int_equal(get_int(r, "old"), 200);
    assert_int_equal(get_int(call(c, "stats", NULL), "gogc"), -1);
    assert_int_equal(get_int(call(c, "setgcpercent", "{\"value\":100}"), "old"), -1);
}

TEST(test_setmemlimit_returns_the_previous_limit_and_stats_follows)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    json_t *r = call(c, "setmemlimit", "{\"bytes\":1073741824}");
    assert_int_equal(get_int(r, "old"), INT64_MAX);
    assert_int_equal(get_int(r, "bytes"), 1073741824);
    assert_int_equal(get_int(call(c, "stats", NULL), "memory_limit"), 1073741824);
    assert_int_equal(get_int(call(c, "memstats", NULL), "memory_limit"), 1073741824);
    r = call(c, "setmemlimit", "{\"bytes\":9223372036854775807}");
    assert_int_equal(get_int(r, "old"), 1073741824);
    assert_int_equal(get_int(call(c, "stats", NULL), "memory_limit"), INT64_MAX);
}

TEST(test_gomaxprocs_resizes_the_ps_and_stats_follows)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    json_int_t g0 = get_int(call(c, "stats", NULL), "gomaxprocs");
    json_int_t g1 = g0 == 1 ? 2 : 1;
    json_t *r = call(c, "gomaxprocs", kept_printf("{\"n\":%lld}", (long long)g1));
    assert_int_equal(get_int(r, "old"), g0);
    assert_int_equal(get_int(r, "n"), g1);
    assert_int_equal(get_int(call(c, "stats", NULL), "gomaxprocs"), g1);
    r = call(c, "gomaxprocs", kept_printf("{\"n\":%lld}", (long long)g0));
    assert_int_equal(get_int(r, "old"), g1);
    assert_int_equal(get_int(r, "n"), g0);
    assert_int_equal(get_int(call(c, "stats", NULL), "gomaxprocs"), g0);
}

TEST(test_the_gctrace_switch_returns_its_previous_state_and_logs_each_collection)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    json_t *r = call(c, "gctrace", "{\"on\":true}");
    assert_false(get_bool(r, "old"));
    assert_true(get_bool(r, "on"));
    json_int_t k = get_int(call(c, "gc", NULL), "num_gc");
    wait_log(d, kept_printf("gc %lld @", (long long)k), scaled(5000));
    r = call(c, "gctrace", "{\"on\":false}");
    assert_true(get_bool(r, "old"));
    assert_false(get_bool(r, "on"));
}

TEST(test_a_gctrace_subscriber_receives_the_line_of_a_collection_another_client_forced)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl, *sub = conn_open(d);
    call(c, "gctrace", "{\"on\":true}");
    assert_string_equal(get_str(call(sub, "subscribe", "{\"stream\":\"gctrace\"}"), "stream"), "gctrace");
    int64_t sid = sub->next_id;
    json_int_t k = get_int(call(c, "gc", NULL), "num_gc");
    json_t *data = wait_gc_event(sub, sid, k);
    assert_true(get_bool(data, "forced"));
    assert_true(get_int(data, "heap_start_mb") >= 0);
    assert_true(get_int(data, "procs") >= 1);
    const char *prefix = kept_printf("gc %lld @", (long long)k);
    if (strncmp(get_str(data, "line"), prefix, strlen(prefix)) != 0)
        fail_msg("the line should start with \"%s\": %s", prefix, show(data));
    /* Subscribers get the lines with the operator's switch off too. */
    call(c, "gctrace", "{\"on\":false}");
    k = get_int(call(c, "gc", NULL), "num_gc");
    wait_gc_event(sub, sid, k);
}

TEST(test_subscribing_twice_is_eexist_and_unsubscribe_stops_the_lines)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl, *sub = conn_open(d), *other = conn_open(d);
    call(sub, "subscribe", "{\"stream\":\"gctrace\"}");
    expect_contains(call_err(sub, "subscribe", "{\"stream\":\"gctrace\"}", "EEXIST"), "gctrace");
    json_t *r = call(sub, "unsubscribe", "{\"stream\":\"gctrace\"}");
    assert_string_equal(get_str(r, "stream"), "gctrace");
    assert_int_equal(get_int(r, "dropped"), 0);
    expect_contains(call_err(sub, "unsubscribe", "{\"stream\":\"gctrace\"}", "ENOENT"), "gctrace");
    expect_contains(call_err(sub, "unsubscribe", "{\"stream\":\"events\"}", "ENOENT"), "events");
    json_array_clear(sub->events);   /* lines of background cycles, if any */

    /* Once another subscriber has the line of a new collection, the line
     * went out to every subscriber: sub, no longer one, must have
     * nothing before the answer to its ping. */
    call(other, "subscribe", "{\"stream\":\"gctrace\"}");
    json_int_t k = get_int(call(c, "gc", NULL), "num_gc");
    wait_gc_event(other, other->next_id, k);
    call(sub, "ping", NULL);
    if (json_array_size(sub->events) != 0)
        fail_msg("an unsubscribed client got %s", show(sub->events));
    /* It may subscribe again: the events carry the new request's id. */
    call(sub, "subscribe", "{\"stream\":\"gctrace\"}");
    k = get_int(call(c, "gc", NULL), "num_gc");
    wait_gc_event(sub, sub->next_id, k);
}

TEST(test_the_events_stream_reports_mutating_commands_and_who_ran_them)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl, *e = conn_open(d);
    call(e, "subscribe", "{\"stream\":\"events\"}");
    int64_t sid = e->next_id;
    /* Read-only commands are not events: the first one is the gc. */
    call(c, "ping", NULL);
    call(c, "stats", NULL);
    call(c, "memstats", NULL);
    call(c, "gc", NULL);
    call(c, "setgcpercent", "{\"value\":70}");
    call(c, "gctrace", "{\"on\":true}");
    call(c, "schedtrace", "{\"interval_ms\":0}");
    static const char *const kinds[] = {"gc", "setgcpercent", "gctrace", "schedtrace"};
    json_t *data[4];
    for (int i = 0; i < 4; i++) {
        json_t *ev = read_event(e, scaled(WAIT_MS));
        assert_int_equal(get_int(ev, "id"), sid);
        assert_string_equal(get_str(ev, "event"), "events");
        data[i] = get_obj(ev, "data");
        if (strcmp(get_str(data[i], "kind"), kinds[i]) != 0)
            fail_msg("event %d should be of kind %s: %s", i, kinds[i], show(ev));
        assert_int_equal(get_int(data[i], "uid"), getuid());
        assert_int_equal(get_int(data[i], "pid"), getpid());
        int64_t age = wall_ns() - get_int(data[i], "time_ns");
        assert_true(age >= -60000000000LL && age < 60000000000LL);
    }
    assert_int_equal(get_int(data[1], "value"), 70);
    assert_int_equal(get_int(data[1], "old"), 100);
    assert_true(get_bool(data[2], "on"));
    assert_int_equal(get_int(data[3], "interval_ms"), 0);
    assert_false(get_bool(data[3], "detail"));
}

TEST(test_a_schedtrace_subscriber_receives_a_scheduler_line_within_3_s)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *sub = conn_open(d);
    json_int_t procs = get_int(call(d->ctl, "stats", NULL), "gomaxprocs");
    call(sub, "subscribe", "{\"stream\":\"schedtrace\"}");
    json_t *ev = read_event(sub, scaled(3000));
    assert_int_equal(get_int(ev, "id"), sub->next_id);
    assert_string_equal(get_str(ev, "event"), "schedtrace");
    json_t *data = get_obj(ev, "data");
    assert_int_equal(get_int(data, "gomaxprocs"), procs);
    assert_true(get_int(data, "threads") >= 1);
    assert_int_equal(json_array_size(get_array(data, "runqueues")), procs);
    if (strncmp(get_str(data, "line"), "SCHED ", 6) != 0)
        fail_msg("a SCHED line was expected: %s", show(data));
}

TEST(test_the_schedtrace_switch_returns_its_previous_interval_and_logs_lines)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    json_t *r = call(c, "schedtrace", "{\"interval_ms\":100}");
    assert_int_equal(get_int(r, "old_interval_ms"), 0);
    assert_int_equal(get_int(r, "interval_ms"), 100);
    assert_false(get_bool(r, "detail"));
    wait_log(d, "SCHED ", scaled(3000));
    r = call(c, "schedtrace", "{\"interval_ms\":0,\"detail\":true}");
    assert_int_equal(get_int(r, "old_interval_ms"), 100);
    assert_int_equal(get_int(r, "interval_ms"), 0);
    assert_true(get_bool(r, "detail"));
}

TEST(test_goroutines_returns_a_dump_and_its_count)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    json_t *r = call(c, "goroutines", NULL);
    json_int_t count = get_int(r, "count");
    const char *dump = get_str(r, "dump");
    assert_false(get_bool(r, "truncated"));
    assert_true(count >= 0);
    /* count is the number of "goroutine N [...]:" headers in the dump. */
    json_int_t headers = 0;
    for (const char *p = dump; (p = strstr(p, "goroutine ")) != NULL; p++)
        if (p == dump || p[-1] == '\n')
            headers++;
    assert_int_equal(count, headers);
    /* No plugin is loaded, so none can be named. */
    expect_contains(call_err(c, "goroutines", "{\"plugin\":\"nosuch\"}", "ENOENT"), "nosuch");
}

/* ---------------------------------------------------------------------
 * Bad input
 * ------------------------------------------------------------------- */

TEST(test_a_malformed_line_gets_eproto_and_the_connection_stays_usable)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    static const char *const lines[] = {"{bad", "", "   ", "[1,2]", "{\"id\":1,\"cmd\":\"ping\"} x", "\"ping\""};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        send_line(c, "%s", lines[i]);
        check_error(answer(c, -1), "EPROTO");
        assert_true(get_bool(call(c, "ping", NULL), "pong"));
    }
}

TEST(test_a_request_of_the_wrong_shape_is_eproto_with_its_id_when_readable)
{
    static const struct {
        const char *line;
        int64_t id;               /* -1: null */
        const char *part;
    } cases[] = {
        {"{\"cmd\":\"ping\"}", -1, "\"id\""},
        {"{\"id\":\"1\",\"cmd\":\"ping\"}", -1, "\"id\""},
        {"{\"id\":-1,\"cmd\":\"ping\"}", -1, "\"id\""},
        {"{\"id\":1.5,\"cmd\":\"ping\"}", -1, "\"id\""},
        {"{\"id\":9007199254740993,\"cmd\":\"ping\"}", -1, "\"id\""},
        {"{\"id\":7}", 7, "\"cmd\""},
        {"{\"id\":8,\"cmd\":5}", 8, "\"cmd\""},
        {"{\"id\":9,\"cmd\":\"\"}", 9, "\"cmd\""},
        {"{\"id\":10,\"cmd\":\"ping\",\"args\":[1]}", 10, "\"args\""},
        {"{\"id\":11,\"cmd\":\"ping\",\"extra\":1}", 11, "extra"},
        {"{\"id\":12,\"id\":13,\"cmd\":\"ping\"}", -1, "duplicate"},
    };
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        send_line(c, "%s", cases[i].line);
        json_t *m = answer(c, cases[i].id);
        const char *msg = check_error(m, "EPROTO");
        if (!strstr(msg, cases[i].part))
            fail_msg("the error for %s should mention %s: %s", cases[i].line, cases[i].part, show(m));
    }
    /* The largest id is fine. */
    send_line(c, "{\"id\":9007199254740992,\"cmd\":\"ping\"}");
    expect_ok(answer(c, 9007199254740992LL));
}

TEST(test_an_argument_of_the_wrong_type_or_range_is_einval_naming_it)
{
    static const struct {
        const char *cmd, *args, *name;
    } cases[] = {
        {"setgcpercent", "{\"value\":\"x\"}", "\"value\""},
        {"setgcpercent", "{\"value\":-2}", "\"value\""},
        {"setgcpercent", "{}", "\"value\""},
        {"setmemlimit", "{\"bytes\":-1}", "\"bytes\""},
        {"setmemlimit", "{\"bytes\":1.5}", "\"bytes\""},
        {"gomaxprocs", "{\"n\":0}", "\"n\""},
        {"gctrace", "{\"on\":\"yes\"}", "\"on\""},
        {"gctrace", "{\"on\":1}", "\"on\""},
        {"schedtrace", "{\"interval_ms\":3600001}", "\"interval_ms\""},
        {"schedtrace", "{\"interval_ms\":10,\"detail\":\"no\"}", "\"detail\""},
        {"subscribe", "{\"stream\":\"bogus\"}", "\"stream\""},
        {"subscribe", "{}", "\"stream\""},
        {"unsubscribe", "{\"stream\":5}", "\"stream\""},
        {"goroutines", "{\"plugin\":5}", "\"plugin\""},
    };
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *msg = call_err(c, cases[i].cmd, cases[i].args, "EINVAL");
        if (!strstr(msg, cases[i].name))
            fail_msg("%s %s: the message should name %s: %s", cases[i].cmd, cases[i].args, cases[i].name, msg);
    }
    /* Nothing was changed by the refused requests. */
    json_t *s = call(c, "stats", NULL);
    assert_int_equal(get_int(s, "gogc"), 100);
    assert_int_equal(get_int(s, "memory_limit"), INT64_MAX);
}

TEST(test_an_unknown_argument_is_einval_naming_it)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    expect_contains(call_err(c, "setgcpercent", "{\"value\":50,\"valu\":1}", "EINVAL"), "\"valu\"");
    expect_contains(call_err(c, "ping", "{\"x\":1}", "EINVAL"), "\"x\"");
    expect_contains(call_err(c, "gc", "{\"now\":true}", "EINVAL"), "\"now\"");
    assert_int_equal(get_int(call(c, "stats", NULL), "gogc"), 100);
}

TEST(test_an_unknown_command_is_enosys_and_the_connection_stays_usable)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    expect_contains(call_err(c, "nosuchcommand", NULL, "ENOSYS"), "nosuchcommand");
    expect_contains(call_err(c, "PING", NULL, "ENOSYS"), "PING");
    assert_true(get_bool(call(c, "ping", NULL), "pong"));
}

TEST(test_pipelined_split_and_crlf_requests_are_all_answered)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    /* Three requests in one write: three answers, in order. */
    const char *three = "{\"id\":1,\"cmd\":\"ping\"}\n{\"id\":2,\"cmd\":\"version\"}\n{\"id\":3,\"cmd\":\"ping\"}\n";
    send_all(c, three, strlen(three));
    for (int id = 1; id <= 3; id++)
        expect_ok(answer(c, id));
    /* One request a byte at a time. */
    const char *req = "{\"id\":4,\"cmd\":\"ping\"}\n";
    for (const char *p = req; *p; p++) {
        send_all(c, p, 1);
        sleep_ms(1);
    }
    expect_ok(answer(c, 4));
    /* A '\r' before the '\n' is ignored. */
    const char *crlf = "{\"id\":5,\"cmd\":\"ping\"}\r\n";
    send_all(c, crlf, strlen(crlf));
    expect_ok(answer(c, 5));
    /* A long command's answer may come after a later request's: both
     * come, matched by id. */
    const char *two = "{\"id\":6,\"cmd\":\"gc\"}\n{\"id\":7,\"cmd\":\"ping\"}\n";
    send_all(c, two, strlen(two));
    bool seen[2] = {false, false};
    for (int i = 0; i < 2; i++) {
        json_t *m = read_msg(c, scaled(WAIT_MS));
        json_int_t id = get_int(m, "id");
        assert_true((id == 6 || id == 7) && !seen[id - 6]);
        expect_ok(m);
        seen[id - 6] = true;
    }
}

/* Send p until the daemon answers or hangs up (it stops reading a line
 * that is too long); how much it took. */
static size_t send_until_answered(struct conn *c, const char *p, size_t n)
{
    size_t sent = 0;
    int64_t end = now_ms() + scaled(WAIT_MS);
    while (sent < n) {
        ssize_t w = send(c->fd, p + sent, n - sent, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (errno == EPIPE || errno == ECONNRESET)
            break;
        if (errno != EAGAIN && errno != EINTR)
            fail_msg("send: %s", strerror(errno));
        int64_t left = end - now_ms();
        if (left <= 0)
            fail_msg("gortd neither read nor answered within %d ms", scaled(WAIT_MS));
        struct pollfd pf = {c->fd, POLLIN | POLLOUT, 0};
        poll(&pf, 1, (int)left);
        if (pf.revents & (POLLIN | POLLHUP | POLLERR))
            break;
    }
    return sent;
}

/* Room for the longest lines sent below. */
static char big[2 * MAX_LINE + 1];

/* A ping request padded with leading blanks to exactly len bytes, then '\n'. */
static size_t padded_ping(size_t len)
{
    const char *req = "{\"id\":1,\"cmd\":\"ping\"}";
    memset(big, ' ', len);
    memcpy(big + len - strlen(req), req, strlen(req));
    big[len] = '\n';
    return len + 1;
}

TEST(test_a_line_of_exactly_1_mib_is_served_and_one_byte_more_is_e2big)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    send_all(c, big, padded_ping(MAX_LINE));
    expect_ok(answer(c, 1));
    /* The daemon may hang up before it has read the last bytes. */
    send_until_answered(c, big, padded_ping(MAX_LINE + 1));
    expect_contains(check_error(answer(c, -1), "E2BIG"), "1048576");
    expect_closed(c, scaled(WAIT_MS));
}

TEST(test_a_2_mib_line_gets_e2big_and_the_connection_is_closed)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl;
    memset(big, 'x', 2 * MAX_LINE);
    big[2 * MAX_LINE] = '\n';
    size_t sent = send_until_answered(c, big, 2 * MAX_LINE + 1);
    assert_true(sent > MAX_LINE);
    json_t *m = answer(c, -1);
    expect_contains(check_error(m, "E2BIG"), "1048576");
    expect_closed(c, scaled(WAIT_MS));
    /* The daemon is fine, and so is the next client. */
    assert_true(get_bool(call(conn_open(d), "ping", NULL), "pong"));
    expect_rss_bounded(d, "after a 2 MiB line");
}

TEST(test_past_max_clients_the_extra_clients_get_ebusy_and_the_others_keep_working)
{
    enum { MAX = 64, TOTAL = 200 };
    struct daemon *d = start_gortd("--max-clients", "64", NULL);
    /* d->ctl is client 1 of the 200; the others connect all at once. */
    struct conn *cs[TOTAL];
    cs[0] = d->ctl;
    for (int i = 1; i < TOTAL; i++) {
        int fd = connect_to(d->sock, scaled(WAIT_MS));
        if (fd < 0)
            fail_msg("client %d: connect: %s", i, strerror(-fd));
        cs[i] = conn_new(fd);
    }
    int greeted = 1, busy = 0;
    bool in[TOTAL] = {true};
    for (int i = 1; i < TOTAL; i++) {
        json_t *m = read_msg(cs[i], scaled(WAIT_MS));
        if (json_object_get(m, "hello")) {
            greeted++;
            in[i] = true;
            continue;
        }
        json_t *id = get(m, "id");
        assert_true(json_is_null(id));
        expect_contains(check_error(m, "EBUSY"), "64");
        expect_closed(cs[i], scaled(WAIT_MS));
        busy++;
    }
    assert_int_equal(greeted, MAX);
    assert_int_equal(busy, TOTAL - MAX);
    for (int i = 0; i < TOTAL; i++)
        if (in[i])
            assert_true(get_bool(call(cs[i], "ping", NULL), "pong"));
    assert_int_equal(get_int(call(cs[0], "stats", NULL), "clients"), MAX);

    /* All gone: a new client is served as soon as the daemon has seen
     * the others hang up. */
    for (int i = 0; i < TOTAL; i++)
        conn_close(cs[i]);
    int64_t end = now_ms() + scaled(WAIT_MS);
    for (;;) {
        int fd = connect_to(d->sock, scaled(WAIT_MS));
        assert_true(fd >= 0);
        struct conn *c = conn_new(fd);
        json_t *m = read_msg(c, scaled(WAIT_MS));
        if (json_object_get(m, "hello")) {
            assert_true(get_bool(call(c, "ping", NULL), "pong"));
            break;
        }
        check_error(m, "EBUSY");
        conn_close(c);
        if (now_ms() > end)
            fail_msg("still EBUSY %d ms after every client hung up", scaled(WAIT_MS));
        sleep_ms(5);
    }
    expect_rss_bounded(d, "after 200 clients came and went");
}

/* ---------------------------------------------------------------------
 * Clients that do not read
 * ------------------------------------------------------------------- */

/* Read c's events until a "dropped" notice for stream.  It must come
 * after at most max_lines other events, and the lines must keep coming
 * until it does: a pause of 2 s means everything queued was read. */
static json_t *wait_dropped(struct conn *c, const char *stream, int64_t sid, int max_lines)
{
    for (int n = 0;; n++) {
        bool closed;
        json_t *ev = next_line(c, scaled(2000), &closed);
        if (!ev)
            fail_msg("after %d %s lines, no \"dropped\" notice (%s): the backlog was not bounded", n, stream,
                     closed ? "the connection closed" : "nothing more arrived");
        assert_int_equal(get_int(ev, "id"), sid);
        if (strcmp(get_str(ev, "event"), "dropped") == 0) {
            assert_string_equal(get_str(ev, "stream"), stream);
            return ev;
        }
        assert_string_equal(get_str(ev, "event"), stream);
        if (n > max_lines)
            fail_msg("%d %s lines and no \"dropped\" notice: the backlog was not bounded", n, stream);
    }
}

/* How many lines wait unread in c's socket, and their bytes, without
 * consuming them. */
static size_t peek_lines(struct conn *c, size_t *bytes)
{
    static char buf[8 << 20];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        n = 0;
    assert_true(n >= 0);
    size_t lines = 0;
    for (ssize_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    *bytes = (size_t)n;
    return lines;
}

TEST(test_a_gctrace_subscriber_that_does_not_read_has_lines_dropped_and_the_daemon_stays_responsive)
{
    enum { BACKLOG = 256 * 1024, BATCH = 50, MAX_GC = 20000 };
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl, *slow = conn_open(d), *pinger = conn_open(d);
    call(c, "gctrace", "{\"on\":true}");
    call(slow, "subscribe", "{\"stream\":\"gctrace\"}");
    int64_t sid = slow->next_id;
    /* Each collection is one more line for slow.  What the socket does not
     * hold waits in the daemon, and past BACKLOG bytes lines are dropped:
     * force collections until that is certain, with a margin.  The socket
     * tells how many lines it holds and their size. */
    int64_t worst = 0;
    int forced = 0;
    for (;;) {
        for (int i = 0; i < BATCH; i++, forced++)
            call(c, "gc", NULL);
        int64_t t0 = now_ms();
        assert_true(get_bool(call(pinger, "ping", NULL), "pong"));
        int64_t rt = now_ms() - t0;
        worst = rt > worst ? rt : worst;
        if (rt >= scaled(1000))
            fail_msg("a ping took %lld ms after %d collections", (long long)rt, forced);
        expect_rss_bounded(d, kept_printf("after %d collections", forced));
        size_t bytes, lines = peek_lines(slow, &bytes);
        if (lines > 0 && (double)(forced - (int)lines) * ((double)bytes / (double)lines) > 1.25 * BACKLOG)
            break;
        if (forced >= MAX_GC)
            fail_msg("%d collections and the subscriber's socket holds only %zu lines", forced, lines);
    }
    print_message("    %d collections; worst ping round trip %lld ms\n", forced, (long long)worst);
    /* The subscriber reads at last: the notice says how many it missed. */
    json_t *ev = wait_dropped(slow, "gctrace", sid, forced);
    assert_true(get_int(ev, "count") > 0);
    /* And the stream goes on after it. */
    json_int_t k = get_int(call(c, "gc", NULL), "num_gc");
    wait_gc_event(slow, sid, k);
}

TEST(test_an_events_subscriber_that_does_not_read_has_lines_dropped_too)
{
    /* An event is about 150 bytes: 8000 of them are 1.2 MB, well past the
     * 256 KiB backlog plus what the socket holds. */
    enum { NCMD = 8000, BATCH = 100 };
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl, *slow = conn_open(d);
    call(slow, "subscribe", "{\"stream\":\"events\"}");
    int64_t sid = slow->next_id;
    /* setgcpercent is quick and an event each: send them in batches. */
    char *batch = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&batch, &blen);
    for (int i = 0; i < BATCH; i++)
        fprintf(f, "{\"id\":%d,\"cmd\":\"setgcpercent\",\"args\":{\"value\":100}}\n", 1000 + i);
    fclose(f);
    const char *b = kept_string(batch, blen);
    free(batch);
    for (int n = 0; n < NCMD; n += BATCH) {
        send_all(c, b, blen);
        for (int i = 0; i < BATCH; i++)
            answer(c, 1000 + i);
    }
    assert_true(get_bool(call(c, "ping", NULL), "pong"));
    expect_rss_bounded(d, "after the commands");
    json_t *ev = wait_dropped(slow, "events", sid, NCMD);
    assert_true(get_int(ev, "count") > 0);
}

TEST(test_a_client_that_never_reads_its_answers_cannot_grow_the_daemon_without_bound)
{
    /* A memstats answer is about 1 KiB for a 26-byte request: 128 Ki
     * requests would queue well over 64 MiB of answers (the daemon holds
     * some 600 bytes per queued answer).  The daemon has to stop reading
     * such a client, or drop it, long before that.  The sanitizer builds
     * do not check the bound (expect_rss_bounded), so there a smaller
     * flood only shows that the daemon copes. */
    enum { BATCH = 1024 };
    int nreq = g_sanitizer ? 16 * 1024 : 128 * 1024;
    struct daemon *d = start_gortd(NULL);
    struct conn *greedy = conn_open(d), *other = conn_open(d);
    char *batch = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&batch, &blen);
    for (int i = 0; i < BATCH; i++)
        fprintf(f, "{\"id\":%d,\"cmd\":\"memstats\"}\n", 10000 + i);
    fclose(f);
    const char *b = kept_string(batch, blen);
    free(batch);
    size_t total = (size_t)nreq / BATCH * blen, sent = 0;
    while (sent < total) {
        size_t off = sent % blen;
        ssize_t w = send(greedy->fd, b + off, blen - off, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (errno == EPIPE || errno == ECONNRESET)
            break;   /* it hung up on the client: fine too */
        assert_true(errno == EAGAIN || errno == EINTR);
        /* No room for a second: the daemon stopped reading. */
        struct pollfd pf = {greedy->fd, POLLOUT, 0};
        if (poll(&pf, 1, scaled(1000)) == 0)
            break;
    }
    print_message("    sent %zu of %zu request bytes; VmRSS %ld KiB (%ld KiB at start)\n", sent, total,
                  rss_of(d->pid) / 1024, d->rss0 / 1024);
    assert_true(get_bool(call(other, "ping", NULL), "pong"));
    expect_rss_bounded(d, kept_printf("after a client sent %zu bytes of requests without reading", sent));
}

/* ---------------------------------------------------------------------
 * The idle timeout
 * ------------------------------------------------------------------- */

TEST(test_a_silent_client_gets_etimedout_and_eof_after_the_idle_timeout)
{
    struct daemon *d = start_gortd("--idle-timeout", "1", NULL);
    struct conn *c = d->ctl;
    json_t *m = read_msg(c, scaled(5000));
    int64_t after = now_ms() - c->opened_ms;
    json_t *id = get(m, "id");
    assert_true(json_is_null(id));
    expect_contains(check_error(m, "ETIMEDOUT"), "1 s");
    if (after < 900)
        fail_msg("timed out after %lld ms, before the 1 s idle timeout", (long long)after);
    expect_closed(c, scaled(5000));
}

TEST(test_subscribed_and_talking_clients_are_not_timed_out)
{
    struct daemon *d = start_gortd("--idle-timeout", "1", NULL);
    struct conn *talker = d->ctl, *sub = conn_open(d), *silent = conn_open(d);
    call(sub, "subscribe", "{\"stream\":\"events\"}");
    /* Well past the timeout: the talker pings every 250 ms, the
     * subscriber only listens. */
    int64_t end = now_ms() + 2500;
    while (now_ms() < end) {
        call(talker, "ping", NULL);
        sleep_ms(250);
    }
    assert_true(get_bool(call(sub, "ping", NULL), "pong"));
    assert_int_equal(json_array_size(sub->events), 0);
    /* Meanwhile the silent one was timed out. */
    check_error(read_msg(silent, scaled(WAIT_MS)), "ETIMEDOUT");
    expect_closed(silent, scaled(WAIT_MS));
}

/* ---------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------- */

TEST(test_sigterm_and_sigint_stop_the_daemon_with_status_0_and_remove_the_socket)
{
    static const int sigs[] = {SIGTERM, SIGINT};
    for (int i = 0; i < 2; i++) {
        struct daemon *d = start_gortd(NULL);
        struct conn *c = conn_open(d);
        kill(d->pid, sigs[i]);
        assert_int_equal(exit_status(d), 0);
        assert_false(exists(d->sock));
        expect_closed(c, scaled(WAIT_MS));
        expect_closed(d->ctl, scaled(WAIT_MS));
        wait_log(d, sigs[i] == SIGTERM ? "stopping: SIGTERM" : "stopping: SIGINT", 0);
    }
}

TEST(test_the_shutdown_command_answers_then_the_daemon_exits_0)
{
    struct daemon *d = start_gortd(NULL);
    struct conn *c = d->ctl, *e = conn_open(d);
    call(e, "subscribe", "{\"stream\":\"events\"}");
    assert_true(get_bool(call(c, "shutdown", NULL), "stopping"));
    json_t *ev = read_event(e, scaled(WAIT_MS));
    assert_string_equal(get_str(get_obj(ev, "data"), "kind"), "shutdown");
    expect_closed(c, scaled(WAIT_MS));
    expect_closed(e, scaled(WAIT_MS));
    assert_int_equal(exit_status(d), 0);
    assert_false(exists(d->sock));
}

TEST(test_a_stale_socket_file_is_replaced)
{
    /* A socket file nobody listens on, as a crashed daemon leaves it. */
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", fx.sock);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    close(s);
    struct stat st;
    assert_int_equal(lstat(fx.sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    struct daemon *d = start_gortd(NULL);
    assert_true(get_bool(call(d->ctl, "ping", NULL), "pong"));
    wait_log(d, "stale", 0);
}

TEST(test_a_second_gortd_on_a_live_socket_exits_1_and_the_first_keeps_serving)
{
    struct daemon *first = start_gortd(NULL);
    struct daemon *second =
        run_gortd(NULL, "--socket", fx.sock, "--state-dir", fx.state, "--config", "/dev/null", NULL);
    assert_int_equal(exit_status(second), 1);
    wait_log(second, kept_printf("another gortd is listening on %s", fx.sock), 0);
    assert_true(exists(fx.sock));
    assert_true(get_bool(call(conn_open(first), "ping", NULL), "pong"));
    assert_true(get_bool(call(first->ctl, "ping", NULL), "pong"));
}

TEST(test_a_file_that_is_not_a_socket_is_left_alone)
{
    write_file("gortd.sock", "precious\n");
    struct daemon *d = run_gortd(NULL, "--socket", fx.sock, "--state-dir", fx.state, "--config", "/dev/null", NULL);
    assert_int_equal(exit_status(d), 1);
    wait_log(d, "not a socket", 0);
    assert_string_equal(read_text(fx.sock), "precious\n");
}

/* ---------------------------------------------------------------------
 * Settings
 * ------------------------------------------------------------------- */

TEST(test_check_config_accepts_a_good_file_and_starts_nothing)
{
    const char *sock = dir_path("other.sock"), *state = dir_path("other-state");
    const char *conf = write_file("good.conf", kept_printf("# every key, once\n"
                                                           "\n"
                                                           "socket = %s\n"
                                                           "state_dir = \"%s\"\n"
                                                           "plugin_dirs = /tmp/a, /tmp/b\n"
                                                           "read_group = root\n"
                                                           "admin_group = root\n"
                                                           "max_clients = 10\n"
                                                           "   idle_timeout=0\n"
                                                           "unload_timeout_ms = 100\n"
                                                           "gogc = off\n"
                                                           "gomaxprocs = 1\n"
                                                           "memory_limit = 64MiB\n",
                                                           sock, state));
    struct daemon *d = run_gortd(NULL, "--config", conf, "--check-config", NULL);
    assert_int_equal(exit_status(d), 0);
    expect_contains(read_text(d->out), "configuration OK");
    expect_contains(read_text(d->out), conf);
    assert_string_equal(read_text(d->log), "");
    assert_false(exists(sock));
    assert_false(exists(state));
}

TEST(test_bad_settings_exit_64_for_a_flag_and_78_for_the_file_naming_the_key)
{
    static const struct {
        const char *flag, *value;     /* a flag and its value, or */
        const char *file;             /* the config file's text, or */
        const char *env;              /* an environment variable */
        int status;
        const char *parts[3];         /* what the one stderr line names */
    } cases[] = {
        {"--max-clients", "0", NULL, NULL, 64, {"max_clients", "\"0\"", "1 to 4096"}},
        {"--max-clients", "4097", NULL, NULL, 64, {"--max-clients", "4097", "1 to 4096"}},
        {"--gogc", "abc", NULL, NULL, 64, {"gogc", "abc", "off"}},
        {"--idle-timeout", "86401", NULL, NULL, 64, {"idle_timeout", "86401", "0 to 86400"}},
        {"--gomaxprocs", "0", NULL, NULL, 64, {"gomaxprocs", "\"0\"", NULL}},
        {"--memory-limit", "12XB", NULL, NULL, 64, {"memory_limit", "12XB", "MiB"}},
        {NULL, NULL, "max_clients = 99999\n", NULL, 78, {"max_clients", "99999", "1 to 4096"}},
        {NULL, NULL, "bogus = 1\n", NULL, 78, {"bogus", "unknown key", "max_clients"}},
        {NULL, NULL, "memory_limit = 12XB\n", NULL, 78, {"memory_limit", "12XB", "MiB"}},
        {NULL, NULL, "idle_timeout = -1\n", NULL, 78, {"idle_timeout", "-1", "0 to 86400"}},
        {NULL, NULL, "gogc = 50\ngogc = 60\n", NULL, 78, {"gogc", "twice", ":2"}},
        {NULL, NULL, "# fine\nmax_clients 10\n", NULL, 78, {"key = value", "max_clients 10", ":2"}},
        {NULL, NULL, "read_group = no-such-group-here\n", NULL, 78, {"read_group", "no-such-group-here", NULL}},
        {NULL, NULL, NULL, "GOGC=abc", 78, {"GOGC", "abc", NULL}},
        {"--history-flush", "5", NULL, NULL, 64, {"history_flush_ms", "\"5\"", "10 to 1000"}},
        {"--sample-interval", "50", NULL, NULL, 64, {"sample_interval_ms", "\"50\"", "100 to 86400000"}},
        {"--history-max-age", "3 days", NULL, NULL, 64, {"history_max_age", "3 days", "30d"}},
        {NULL, NULL, "history_max_age = 1y\n", NULL, 78, {"history_max_age", "1y", "units"}},
        {NULL, NULL, "history_max_rows = -1\n", NULL, 78, {"history_max_rows", "-1", "0 to"}},
        {NULL, NULL, "history_max_size = lots\n", NULL, 78, {"history_max_size", "lots", "MiB"}},
        {NULL, NULL, "history_db = \"\"\n", NULL, 78, {"history_db", "want a path", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *conf = cases[i].file ? write_file(kept_printf("bad%zu.conf", i), cases[i].file) : "/dev/null";
        const char *sock = dir_path("bad.sock");
        struct daemon *d;
        if (cases[i].flag)
            d = run_gortd(NULL, "--socket", sock, "--state-dir", fx.state, "--config", conf, cases[i].flag,
                          cases[i].value, NULL);
        else
            d = run_gortd(cases[i].env, "--socket", sock, "--state-dir", fx.state, "--config", conf, NULL);
        const char *err = read_text(d->log);
        const char *what = cases[i].flag ? kept_printf("%s %s", cases[i].flag, cases[i].value)
                           : cases[i].file ? cases[i].file : cases[i].env;
        int st = exit_status(d);
        if (st != cases[i].status)
            fail_msg("%s: exit status %d, %d expected; stderr: %s", what, st, cases[i].status, err);
        size_t len = strlen(err);
        if (len == 0 || err[len - 1] != '\n' || strchr(err, '\n') != err + len - 1)
            fail_msg("%s: one line on stderr was expected, got \"%s\"", what, err);
        for (int p = 0; p < 3 && cases[i].parts[p]; p++)
            if (!strstr(err, cases[i].parts[p]))
                fail_msg("%s: stderr should name \"%s\": %s", what, cases[i].parts[p], err);
        if (cases[i].file)
            expect_contains(err, conf);
        assert_false(exists(sock));
        assert_string_equal(read_text(d->out), "");
        /* Room for the next case's run. */
        fx.nd = 0;
    }
    /* An unknown flag is a usage error naming it (the usage follows). */
    struct daemon *d = run_gortd(NULL, "--socket", fx.sock, "--bogus", NULL);
    assert_int_equal(exit_status(d), 64);
    expect_contains(read_text(d->log), "--bogus");
}

TEST(test_the_files_settings_apply_and_flags_beat_the_file)
{
    const char *conf = write_file("gortd.conf", "gogc = 50\n"
                                                "memory_limit = 64MiB\n"
                                                "gomaxprocs = 1\n"
                                                "max_clients = 2\n");
    struct daemon *d = start_gortd("--config", conf, "--gogc", "70", NULL);
    json_t *s = call(d->ctl, "stats", NULL);
    assert_int_equal(get_int(s, "gogc"), 70);
    assert_int_equal(get_int(s, "memory_limit"), 64 << 20);
    assert_int_equal(get_int(s, "gomaxprocs"), 1);
    /* max_clients = 2: a second client is served, a third is not. */
    assert_true(get_bool(call(conn_open(d), "ping", NULL), "pong"));
    int fd = connect_to(d->sock, scaled(WAIT_MS));
    assert_true(fd >= 0);
    struct conn *third = conn_new(fd);
    expect_contains(check_error(read_msg(third, scaled(WAIT_MS)), "EBUSY"), "2");
    expect_closed(third, scaled(WAIT_MS));
}

TEST(test_sighup_rereads_the_file_and_keeps_the_settings_when_it_is_bad)
{
    const char *conf = write_file("gortd.conf", "gogc = 50\n");
    struct daemon *d = start_gortd("--config", conf, NULL);
    struct conn *c = d->ctl, *e = conn_open(d);
    call(e, "subscribe", "{\"stream\":\"events\"}");
    assert_int_equal(get_int(call(c, "stats", NULL), "gogc"), 50);

    write_file("gortd.conf", "gogc = 80\n");
    kill(d->pid, SIGHUP);
    json_t *ev = read_event(e, scaled(WAIT_MS));
    assert_string_equal(get_str(get_obj(ev, "data"), "kind"), "reload");
    assert_int_equal(get_int(call(c, "stats", NULL), "gogc"), 80);

    /* A bad file: logged, and nothing changes. */
    write_file("gortd.conf", "gogc = eighty\n");
    kill(d->pid, SIGHUP);
    wait_log(d, "keeping the running settings", scaled(WAIT_MS));
    assert_int_equal(get_int(call(c, "stats", NULL), "gogc"), 80);
    call(e, "ping", NULL);
    if (json_array_size(e->events) != 0)
        fail_msg("a failed reload was reported: %s", show(e->events));
}

/* ---------------------------------------------------------------------
 * Access
 * ------------------------------------------------------------------- */

TEST(test_the_socket_is_mode_0660_so_other_users_cannot_connect)
{
    if (geteuid() != 0)
        skip();
    struct daemon *d = start_gortd(NULL);
    struct stat st;
    assert_int_equal(lstat(d->sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0660);
    /* Let others through the directory, so that only the socket's mode
     * stands in the way. */
    assert_int_equal(chmod(fx.dir, 0711), 0);
    int fd = connect_as(NOBODY, d->sock, NULL);
    if (fd >= 0)
        fail_msg("uid %d connected to a 0660 socket owned by root", NOBODY);
    assert_int_equal(-fd, EACCES);
}

TEST(test_a_peer_that_is_neither_root_nor_the_daemons_user_gets_eperm_for_every_command)
{
    if (geteuid() != 0)
        skip();
    struct daemon *d = start_gortd(NULL);
    /* An operator loosened the socket's mode, but that gives no rights. */
    assert_int_equal(chmod(fx.dir, 0711), 0);
    assert_int_equal(chmod(d->sock, 0666), 0);
    int fd = connect_as(NOBODY, d->sock, NULL);
    if (fd < 0)
        fail_msg("connect as uid %d: %s", NOBODY, strerror(-fd));
    struct conn *c = conn_new(fd);
    json_t *g = read_msg(c, scaled(WAIT_MS));
    assert_string_equal(get_str(g, "hello"), "gortd");
    static const char *const cmds[][2] = {
        {"ping", NULL}, {"stats", NULL}, {"memstats", NULL}, {"goroutines", NULL},
        {"subscribe", "{\"stream\":\"events\"}"}, {"gc", NULL}, {"setgcpercent", "{\"value\":10}"},
        {"gomaxprocs", "{\"n\":1}"}, {"gctrace", "{\"on\":true}"}, {"shutdown", NULL},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        expect_contains(call_err(c, cmds[i][0], cmds[i][1], "EPERM"), "uid 65534");
    /* None of it happened. */
    json_t *s = call(d->ctl, "stats", NULL);
    assert_int_equal(get_int(s, "gogc"), 100);
    assert_int_equal(get_int(s, "clients"), 2);
}

/* ------------------------------------------------------------------- */

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    if (gortd_suite_init("test_gortd") != 0)
        return 1;

    const struct CMUnitTest tests[] = {
        T(test_the_greeting_names_the_daemon_its_version_protocol_and_pid),
        T(test_ping_answers_pong_with_the_daemons_wall_clock),
        T(test_version_matches_the_greeting),
        T(test_stats_reports_the_process_the_runtime_and_the_clients),
        T(test_memstats_reports_every_runtime_counter),
        T(test_memstats_pause_hist_has_17_increasing_bounds_and_18_counts_that_sum_to_num_gc),
        T(test_gc_runs_a_collection_and_num_gc_increases),
        T(test_freeosmemory_reports_what_it_released_and_the_resident_set),
        T(test_setgcpercent_returns_the_previous_value_and_stats_follows),
        T(test_setmemlimit_returns_the_previous_limit_and_stats_follows),
        T(test_gomaxprocs_resizes_the_ps_and_stats_follows),
        T(test_the_gctrace_switch_returns_its_previous_state_and_logs_each_collection),
        T(test_a_gctrace_subscriber_receives_the_line_of_a_collection_another_client_forced),
        T(test_subscribing_twice_is_eexist_and_unsubscribe_stops_the_lines),
        T(test_the_events_stream_reports_mutating_commands_and_who_ran_them),
        T(test_a_schedtrace_subscriber_receives_a_scheduler_line_within_3_s),
        T(test_the_schedtrace_switch_returns_its_previous_interval_and_logs_lines),
        T(test_goroutines_returns_a_dump_and_its_count),
        T(test_a_malformed_line_gets_eproto_and_the_connection_stays_usable),
        T(test_a_request_of_the_wrong_shape_is_eproto_with_its_id_when_readable),
        T(test_an_argument_of_the_wrong_type_or_range_is_einval_naming_it),
        T(test_an_unknown_argument_is_einval_naming_it),
        T(test_an_unknown_command_is_enosys_and_the_connection_stays_usable),
        T(test_pipelined_split_and_crlf_requests_are_all_answered),
        T(test_a_line_of_exactly_1_mib_is_served_and_one_byte_more_is_e2big),
        T(test_a_2_mib_line_gets_e2big_and_the_connection_is_closed),
        T(test_past_max_clients_the_extra_clients_get_ebusy_and_the_others_keep_working),
        T(test_a_gctrace_subscriber_that_does_not_read_has_lines_dropped_and_the_daemon_stays_responsive),
        T(test_an_events_subscriber_that_does_not_read_has_lines_dropped_too),
        T(test_a_client_that_never_reads_its_answers_cannot_grow_the_daemon_without_bound),
        T(test_a_silent_client_gets_etimedout_and_eof_after_the_idle_timeout),
        T(test_subscribed_and_talking_clients_are_not_timed_out),
        T(test_sigterm_and_sigint_stop_the_daemon_with_status_0_and_remove_the_socket),
        T(test_the_shutdown_command_answers_then_the_daemon_exits_0),
        T(test_a_stale_socket_file_is_replaced),
        T(test_a_second_gortd_on_a_live_socket_exits_1_and_the_first_keeps_serving),
        T(test_a_file_that_is_not_a_socket_is_left_alone),
        T(test_check_config_accepts_a_good_file_and_starts_nothing),
        T(test_bad_settings_exit_64_for_a_flag_and_78_for_the_file_naming_the_key),
        T(test_the_files_settings_apply_and_flags_beat_the_file),
        T(test_sighup_rereads_the_file_and_keeps_the_settings_when_it_is_bad),
        T(test_the_socket_is_mode_0660_so_other_users_cannot_connect),
        T(test_a_peer_that_is_neither_root_nor_the_daemons_user_gets_eperm_for_every_command),
    };
    return cmocka_run_group_tests_name("gortd", tests, NULL, NULL);
}
