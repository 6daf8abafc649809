/*
 * test_gortctl_metrics.c - `gortctl metrics` end to end: a real gortd
 * (gortdutil.h), the built gortctl, and Prometheus' own checker.
 *
 * Covered: the output passes `promtool check metrics` (the exposition
 * format and Prometheus' naming lints) with every kind of family present
 * (a plugin loaded, collections done, the history on); its numbers agree
 * with the daemon's memstats (cycles, the pause histogram's buckets,
 * bounds, +Inf, _count and _sum); the per-plugin samples and the plugin's
 * state; the sentinels of GOGC off (gort_gogc -1, no gort_next_gc_bytes);
 * --json; and the exit codes of a stray argument (64) and of a daemon
 * that is gone (69).
 *
 * promtool comes from Debian's prometheus package, a declared test
 * dependency: when it is missing the promtool test fails and says so
 * rather than skipping, since a skipped check is a check nobody runs.
 *
 * The text is read the way a scraper reads it: a sample is the line that
 * starts with its exact series (name and labels as printed) and a space.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gortdutil.h"

#define GC_RUNS 3                 /* collections forced before reading the histogram */
#define PAUSE_BUCKETS 18          /* 17 bounds and +Inf (PROTOCOL.md, pause_hist) */
#define CONSISTENT_TRIES 5        /* metrics between two equal memstats answers */

/* ---------------------------------------------------------------------
 * Reading the exposition
 * ------------------------------------------------------------------- */

/* The value text of the sample whose series is exactly series, or NULL. */
static const char *find_sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; *line;) {
        const char *end = strchrnul(line, '\n');
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return kept_string(line + n + 1, (size_t)(end - line - (ptrdiff_t)n - 1));
        line = *end ? end + 1 : end;
    }
    return NULL;
}

static const char *sample_text(const char *text, const char *series)
{
    const char *v = find_sample(text, series);
    if (!v) {
        print_text(text);
        fail_msg("no sample %s in the output above", series);
    }
    return v;
}

static double sample_float(const char *text, const char *series)
{
    const char *v = sample_text(text, series);
    char *stop;
    double d = strtod(v, &stop);
    if (*stop || stop == v)
        fail_msg("%s has the value \"%s\", not a float", series, v);
    return d;
}

static long long sample_int(const char *text, const char *series)
{
    const char *v = sample_text(text, series);
    char *stop;
    errno = 0;
    long long i = strtoll(v, &stop, 10);
    if (*stop || stop == v || errno)
        fail_msg("%s has the value \"%s\", not an integer", series, v);
    return i;
}

/* One line of gort_gc_pause_seconds_bucket. */
struct bucket {
    const char *le;
    long long count;
};

/* The histogram's bucket lines in the order printed, at most
 * PAUSE_BUCKETS + 1 of them: how many there are. */
static int pause_buckets(const char *text, struct bucket *b)
{
    static const char prefix[] = "gort_gc_pause_seconds_bucket{le=\"";
    int n = 0;
    for (const char *p = text; (p = strstr(p, prefix)); p++) {
        if (p != text && p[-1] != '\n')
            continue;
        if (n > PAUSE_BUCKETS)
            fail_msg("more than %d gort_gc_pause_seconds_bucket lines", PAUSE_BUCKETS);
        const char *le = p + strlen(prefix);
        size_t len = strcspn(le, "\"");
        b[n].le = kept_string(le, len);
        b[n].count = sample_int(text, kept_printf("gort_gc_pause_seconds_bucket{le=\"%s\"}", b[n].le));
        n++;
    }
    return n;
}

/* gortctl metrics against d, which must succeed. */
static const char *metrics_of(struct daemon *d)
{
    struct ctl_out o = ctl_run(d, "metrics", NULL);
    expect_code(o, 0);
    return o.out;
}

/* ---------------------------------------------------------------------
 * Daemons
 * ------------------------------------------------------------------- */

/* The loaded plugin called name in a stats answer, or NULL. */
static json_t *plugin_in(json_t *stats, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach(get_array(stats, "plugins"), i, p)
        if (strcmp(get_str(p, "name"), name) == 0)
            return p;
    return NULL;
}

/* gortd with a plugin directory of its own, DIR/plugins (mode 0755),
 * holding the example plugin hello (mode 0644), once hello is loaded and
 * its autostart task runs. */
static struct daemon *start_with_hello(void)
{
    const char *dir = dir_path("plugins");
    if (mkdir(dir, 0755) != 0 || chmod(dir, 0755) != 0)
        fail_msg("mkdir %s: %s", dir, strerror(errno));
    const char *so = kept_printf("%s/plugins/hello.so", g_build);
    if (system(kept_printf("install -m 0644 '%s' '%s/hello.so'", so, dir)) != 0)
        fail_msg("cannot copy %s into %s (is it built?)", so, dir);
    struct daemon *d = start_gortd("--plugin-dir", dir, NULL);
    int64_t end = now_ms() + scaled(WAIT_MS);
    for (;;) {
        json_t *hello = plugin_in(call(d->ctl, "stats", NULL), "hello");
        if (hello && strcmp(get_str(hello, "state"), "loaded") == 0 &&
            get_int(hello, "tasks_running") == 1)
            return d;
        if (now_ms() > end)
            fail_msg("hello is not loaded with its task running after %d ms: %s", scaled(WAIT_MS),
                     show(hello));
        sleep_ms(10);
    }
}

/* The metrics text and a memstats answer from the same moment: retried
 * until no collection ran between two memstats answers around it. */
static const char *metrics_with_memstats(struct daemon *d, json_t **memstats)
{
    for (int try = 0; try < CONSISTENT_TRIES; try++) {
        json_t *before = call(d->ctl, "memstats", NULL);
        const char *text = metrics_of(d);
        json_t *after = call(d->ctl, "memstats", NULL);
        if (get_int(before, "num_gc") == get_int(after, "num_gc")) {
            *memstats = after;
            return text;
        }
    }
    fail_msg("a collection ran during each of %d metrics runs", CONSISTENT_TRIES);
    return NULL;
}

/* ---------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------- */

TEST(test_metrics_pass_promtool_check_metrics)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        fail_msg("promtool is not installed: install the Debian package prometheus "
                 "(a test dependency; scripts/deps.sh installs it)");
    struct daemon *d = start_with_hello();
    call(d->ctl, "gc", NULL);
    const char *text = metrics_of(d);
    /* Every kind of family is there to be checked. */
    sample_text(text, "gort_gc_pause_seconds_bucket{le=\"+Inf\"}");
    sample_text(text, "gort_plugin_state{plugin=\"hello\",state=\"loaded\"}");
    sample_text(text, "gort_history_up");
    const char *input = write_file("metrics.prom", text);
    const char *report = dir_path("promtool.out");
    int st = system(kept_printf("promtool check metrics < '%s' > '%s' 2>&1", input, report));
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_text(text);
        fail_msg("promtool check metrics rejected the output above (%s):\n%s", status_text(st),
                 read_text(report));
    }
}

TEST(test_gc_cycles_and_the_pause_histogram_agree_with_memstats)
{
    struct daemon *d = start_gortd(NULL);
    for (int i = 0; i < GC_RUNS; i++)
        call(d->ctl, "gc", NULL);
    json_t *m = NULL;
    const char *text = metrics_with_memstats(d, &m);
    json_int_t num_gc = get_int(m, "num_gc");
    assert_true(num_gc >= GC_RUNS);
    assert_int_equal(sample_int(text, "gort_gc_cycles_total"), num_gc);
    assert_true(sample_int(text, "gort_gc_forced_cycles_total") >= GC_RUNS);

    /* The buckets, in order: the daemon's bounds in seconds, exactly,
     * then +Inf; cumulative counts ending with num_gc. */
    json_t *le_ns = get_array(get_obj(m, "pause_hist"), "le_ns");
    assert_int_equal(json_array_size(le_ns), PAUSE_BUCKETS - 1);
    struct bucket buckets[PAUSE_BUCKETS + 1];
    assert_int_equal(pause_buckets(text, buckets), PAUSE_BUCKETS);
    for (size_t i = 0; i < PAUSE_BUCKETS - 1; i++) {
        double bound = (double)json_integer_value(json_array_get(le_ns, i)) / 1e9;
        if (strtod(buckets[i].le, NULL) != bound)
            fail_msg("bucket %zu has le=\"%s\"; %lld ns is %.17g s", i, buckets[i].le,
                     (long long)json_integer_value(json_array_get(le_ns, i)), bound);
    }
    assert_string_equal(buckets[PAUSE_BUCKETS - 1].le, "+Inf");
    for (size_t i = 1; i < PAUSE_BUCKETS; i++)
        if (buckets[i].count < buckets[i - 1].count)
            fail_msg("bucket le=%s holds %lld, less than the %lld of le=%s", buckets[i].le,
                     buckets[i].count, buckets[i - 1].count, buckets[i - 1].le);
    assert_int_equal(buckets[PAUSE_BUCKETS - 1].count, num_gc);
    assert_int_equal(sample_int(text, "gort_gc_pause_seconds_count"), num_gc);
    assert_true(sample_float(text, "gort_gc_pause_seconds_sum") ==
                (double)get_int(m, "pause_total_ns") / 1e9);
}

TEST(test_each_plugin_has_its_samples_and_its_state)
{
    struct daemon *d = start_with_hello();
    const char *text = metrics_of(d);
    sample_int(text, "gort_plugin_goroutines{plugin=\"hello\"}");
    assert_int_equal(sample_int(text, "gort_plugin_tasks_running{plugin=\"hello\"}"), 1);
    assert_true(sample_int(text, "gort_plugin_goroutines_started_total{plugin=\"hello\"}") >= 1);
    assert_true(sample_float(text, "gort_plugin_cpu_seconds_total{plugin=\"hello\"}") >= 0);
    assert_int_equal(sample_int(text, "gort_plugin_panics_total{plugin=\"hello\"}"), 0);
    assert_string_equal(sample_text(text, "gort_plugin_state{plugin=\"hello\",state=\"loaded\"}"), "1");
    /* One state sample per plugin: its current state only. */
    const char *p = strstr(text, "gort_plugin_state{plugin=\"hello\"");
    assert_non_null(p);
    assert_null(strstr(p + 1, "gort_plugin_state{plugin=\"hello\""));
}

TEST(test_gogc_off_is_minus_1_no_limit_is_the_maximum_and_no_goal_has_no_next_gc_sample)
{
    struct daemon *d = start_gortd(NULL);
    call(d->ctl, "setgcpercent", "{\"value\":-1}");
    const char *text = metrics_of(d);
    assert_int_equal(sample_int(text, "gort_gogc"), -1);
    assert_int_equal(sample_int(text, "gort_memory_limit_bytes"), INT64_MAX);
    assert_null(strstr(text, "gort_next_gc_bytes"));
}

TEST(test_json_prints_the_stats_and_memstats_answers)
{
    struct daemon *d = start_gortd(NULL);
    struct ctl_out o = ctl_run(d, "--json", "metrics", NULL);
    expect_code(o, 0);
    json_error_t err;
    json_t *j = keep(json_loads(o.out, 0, &err));
    if (!json_is_object(j))
        fail_msg("--json printed no JSON object (%s):\n%s", err.text, o.out);
    get_int(get_obj(j, "stats"), "uptime_ns");
    get_obj(get_obj(j, "memstats"), "pause_hist");
}

TEST(test_an_argument_exits_64_naming_it_and_a_stopped_daemon_exits_69)
{
    struct daemon *d = start_gortd(NULL);
    struct ctl_out o = ctl_run(d, "metrics", "extra", NULL);
    expect_code(o, 64);
    expect_contains(o.err, "\"extra\"");
    assert_string_equal(o.out, "");

    assert_true(stop_daemon(d));
    o = ctl_run(d, "metrics", NULL);
    expect_code(o, 69);
    assert_string_equal(o.out, "");
}

/* ------------------------------------------------------------------- */

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    if (gortd_suite_init("test_gortctl_metrics") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        T(test_metrics_pass_promtool_check_metrics),
        T(test_gc_cycles_and_the_pause_histogram_agree_with_memstats),
        T(test_each_plugin_has_its_samples_and_its_state),
        T(test_gogc_off_is_minus_1_no_limit_is_the_maximum_and_no_goal_has_no_next_gc_sample),
        T(test_json_prints_the_stats_and_memstats_answers),
        T(test_an_argument_exits_64_naming_it_and_a_stopped_daemon_exits_69),
    };
    return cmocka_run_group_tests_name("gortctl metrics", tests, NULL, NULL);
}
