/*
 * test_gortd_history.c - gortd's SQLite history end to end (SPEC §7,
 * PROTOCOL.md: the history command, stats.history, the history.* events,
 * the audit of mutating commands).
 *
 * Every test starts a real gortd (gortdutil.h) and looks at what it wrote
 * two ways: through the `history` command, as any client does, and by
 * opening the database file with SQLite directly (read-only, or after the
 * daemon exited) where the command cannot tell: the schema version, the
 * tables, the audit of `shutdown`, the bytes of a file the daemon must
 * leave alone.  Plugins come from BUILD/plugins, copied into a plugin
 * directory of the test's own (DIR/plugins, mode 0755, files 0644).
 *
 * Covered: every collection's row against its gctrace line, number for
 * number; the sampling period; retention by count and by age; the audit
 * row of every mutating command (refused ones too) and of none of the
 * read-only ones; migration from schema version 1 keeping its rows; a
 * database of a newer schema, one that cannot be opened, one that is not a
 * database, and a full one (max_page_count), each reported in stats while
 * the daemon serves on, and writing resuming once the cause is gone; the
 * history command's arguments, errors and access; plugin events as rows.
 *
 * Waits poll the daemon (stats, history) or the log against a deadline;
 * bounds are generous and tripled under the sanitizers (scaled()).  The
 * deliberate pauses are the few seconds during which samples accumulate
 * at the period under test.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gortdutil.h"

#include <grp.h>
#include <sqlite3.h>

#define NOBODY 65534              /* uid and gid of 'nobody' / 'nogroup' */
#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

/* Schema version 1 exactly as gortd 0.1's first migration wrote it
 * (daemon/history.c, migrations[0]: released steps never change). */
static const char schema_v1[] =
    "CREATE TABLE gc_cycles ("
    " id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, num INTEGER NOT NULL,"
    " forced INTEGER NOT NULL, procs INTEGER, cpu_percent INTEGER, since_start_ns INTEGER,"
    " sweepterm_ns INTEGER, mark_ns INTEGER, marktermination_ns INTEGER,"
    " sweepterm_cpu_ns INTEGER, assist_cpu_ns INTEGER, background_cpu_ns INTEGER, idle_cpu_ns INTEGER,"
    " marktermination_cpu_ns INTEGER, heap_start INTEGER, heap_end INTEGER, heap_marked INTEGER,"
    " heap_goal INTEGER, stacks INTEGER, globals INTEGER, pause_ns INTEGER);"
    "CREATE INDEX gc_cycles_time ON gc_cycles(time_ns);"
    "CREATE TABLE memstats_samples ("
    " id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, sys INTEGER, heap_alloc INTEGER, heap_sys INTEGER,"
    " heap_idle INTEGER, heap_inuse INTEGER, heap_released INTEGER, heap_objects INTEGER,"
    " total_alloc INTEGER, mallocs INTEGER, frees INTEGER, stack_inuse INTEGER, stack_sys INTEGER,"
    " next_gc INTEGER, num_gc INTEGER, num_forced_gc INTEGER, pause_total_ns INTEGER,"
    " gc_cpu_fraction REAL, goroutines INTEGER, memory_limit INTEGER);"
    "CREATE INDEX memstats_samples_time ON memstats_samples(time_ns);"
    "CREATE TABLE sched_samples ("
    " id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, gomaxprocs INTEGER, idleprocs INTEGER,"
    " threads INTEGER, spinning_threads INTEGER, idle_threads INTEGER, runqueue INTEGER,"
    " goroutines INTEGER, syscalls INTEGER);"
    "CREATE INDEX sched_samples_time ON sched_samples(time_ns);"
    "CREATE TABLE scavenger_events ("
    " id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, kind TEXT NOT NULL, num INTEGER,"
    " released INTEGER, heap_inuse INTEGER, heap_idle INTEGER, heap_sys INTEGER, heap_released INTEGER);"
    "CREATE INDEX scavenger_events_time ON scavenger_events(time_ns);"
    "CREATE TABLE plugin_events ("
    " id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, kind TEXT NOT NULL, plugin TEXT, task_id INTEGER,"
    " message TEXT, dump TEXT, detail TEXT);"
    "CREATE INDEX plugin_events_time ON plugin_events(time_ns);"
    "CREATE TABLE audit ("
    " id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, uid INTEGER NOT NULL, pid INTEGER,"
    " command TEXT NOT NULL, args TEXT, outcome TEXT NOT NULL, message TEXT);"
    "CREATE INDEX audit_time ON audit(time_ns);";

/* ---------------------------------------------------------------------
 * SQLite from the test's side
 * ------------------------------------------------------------------- */

static sqlite3 *db_open(const char *path, int flags)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK)
        fail_msg("sqlite3_open_v2 %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_busy_timeout(db, scaled(WAIT_MS));
    return db;
}

static void db_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
}

/* The first column of the first row of sql, as an integer. */
static int64_t db_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) != SQLITE_ROW)
        fail_msg("%s: no row (%s)", sql, sqlite3_errmsg(db));
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The first column of every row of sql, joined with commas (kept). */
static const char *db_list(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    const char *s = "";
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        s = kept_printf("%s%s%s", s, *s ? "," : "", t ? (const char *)t : "NULL");
    }
    if (rc != SQLITE_DONE)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return s;
}

/* Every row of sql as a JSON object of its columns (kept), like the
 * history command's rows. */
static json_t *db_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    json_t *rows = keep(json_array());
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *row = json_object();
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const char *name = sqlite3_column_name(st, c);
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER:
                json_object_set_new(row, name, json_integer(sqlite3_column_int64(st, c)));
                break;
            case SQLITE_FLOAT:
                json_object_set_new(row, name, json_real(sqlite3_column_double(st, c)));
                break;
            case SQLITE_TEXT:
                json_object_set_new(row, name, json_string((const char *)sqlite3_column_text(st, c)));
                break;
            default:
                json_object_set_new(row, name, json_null());
            }
        }
        json_array_append_new(rows, row);
    }
    if (rc != SQLITE_DONE)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rows;
}

/* ---------------------------------------------------------------------
 * Plugins
 * ------------------------------------------------------------------- */

/* DIR/plugins, mode 0755 whatever the umask: the plugin directory. */
static const char *plugin_dir(void)
{
    const char *dir = dir_path("plugins");
    if (!exists(dir) && (mkdir(dir, 0755) != 0 || chmod(dir, 0755) != 0))
        fail_msg("mkdir %s: %s", dir, strerror(errno));
    return dir;
}

/* Copy BUILD/plugins/file into the plugin directory, mode 0644, through a
 * hidden temporary name and a rename (a scan never sees half a file): its
 * path. */
static const char *install_plugin(const char *file)
{
    const char *from = kept_printf("%s/plugins/%s", g_build, file);
    const char *bytes = read_text(from);
    struct stat st;
    if (stat(from, &st) != 0)
        fail_msg("%s: %s (build it first)", from, strerror(errno));
    const char *path = kept_printf("%s/%s", plugin_dir(), file);
    const char *tmp = kept_printf("%s/.%s.tmp", plugin_dir(), file);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        fail_msg("create %s: %s", tmp, strerror(errno));
    size_t n = (size_t)st.st_size;
    for (const char *p = bytes; n > 0;) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail_msg("write %s: %s", tmp, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    assert_int_equal(fchmod(fd, 0644), 0);
    assert_int_equal(close(fd), 0);
    if (rename(tmp, path) != 0)
        fail_msg("rename %s: %s", tmp, strerror(errno));
    return path;
}

/* ---------------------------------------------------------------------
 * Asking the daemon
 * ------------------------------------------------------------------- */

static json_t *hstats(struct conn *c)
{
    return get_obj(call(c, "stats", NULL), "history");
}

/* Poll stats until history's state is no longer "opening": the report. */
static json_t *settled_hstats(struct conn *c)
{
    int64_t end = now_ms() + scaled(WAIT_MS);
    for (;;) {
        json_t *h = hstats(c);
        if (strcmp(get_str(h, "state"), "opening") != 0)
            return h;
        if (now_ms() > end)
            fail_msg("the history is still opening after %d ms: %s", scaled(WAIT_MS), show(h));
        sleep_ms(10);
    }
}

/* Poll stats until history's state is state, within ms: the report. */
static json_t *wait_hstate(struct conn *c, const char *state, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        json_t *h = hstats(c);
        if (strcmp(get_str(h, "state"), state) == 0)
            return h;
        if (now_ms() > end)
            fail_msg("the history should be %s within %d ms: %s", state, ms, show(h));
        sleep_ms(10);
    }
}

/* The history command with args (a JSON object's text): the result. */
static json_t *history(struct conn *c, const char *args)
{
    return call(c, "history", args);
}

/* Every row of kind, oldest first. */
static json_t *all_rows(struct conn *c, const char *kind)
{
    json_t *r = history(c, kept_printf("{\"kind\":\"%s\",\"order\":\"asc\",\"limit\":10000}", kind));
    if (get_bool(r, "more"))
        fail_msg("more than 10000 %s rows", kind);
    return get_array(r, "rows");
}

/* Poll until kind has at least n rows within ms: its rows, oldest first. */
static json_t *wait_rows(struct conn *c, const char *kind, size_t n, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        json_t *rows = all_rows(c, kind);
        if (json_array_size(rows) >= n)
            return rows;
        if (now_ms() > end)
            fail_msg("%zu %s rows after %d ms, %zu expected", json_array_size(rows), kind, ms, n);
        sleep_ms(20);
    }
}

/* The data of the next event of kind on e (subscribed to "events") within
 * ms, skipping others. */
static json_t *wait_event(struct conn *e, const char *kind, int ms)
{
    int64_t end = now_ms() + ms;
    const char *seen = "";
    for (;;) {
        int64_t left = end - now_ms();
        if (left <= 0 && json_array_size(e->events) == 0)
            fail_msg("no %s event within %d ms; the events read: %s", kind, ms, seen);
        json_t *ev = read_event(e, left > 0 ? (int)left : 0);
        if (strcmp(get_str(ev, "event"), "dropped") == 0)
            fail_msg("events were dropped while waiting for %s: %s", kind, show(ev));
        json_t *data = get_obj(ev, "data");
        const char *k = get_str(data, "kind");
        if (strcmp(k, kind) == 0)
            return data;
        seen = kept_printf("%s%s%s", seen, *seen ? ", " : "", k);
    }
}

/* The row's value of column col equals the JSON value want. */
static void expect_column(json_t *row, const char *col, json_t *want)
{
    json_t *v = get(row, col);
    if (!json_equal(v, want))
        fail_msg("column %s should be %s in %s", col, show(want), show(row));
}

/* Every column of want (a JSON object's text) has its value in row. */
static void expect_columns(json_t *row, const char *want)
{
    json_error_t err;
    json_t *w = keep(json_loads(want, 0, &err));
    if (!w)
        fail_msg("bad expectation %s: %s", want, err.text);
    const char *k;
    json_t *v;
    json_object_foreach(w, k, v) {
        expect_column(row, k, v);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The median of the differences between consecutive time_ns of rows
 * (oldest first), in ns; *min and *max get the extremes. */
static int64_t median_gap(json_t *rows, int64_t *min, int64_t *max)
{
    size_t n = json_array_size(rows);
    assert_true(n >= 2);
    int64_t *d = calloc(n - 1, sizeof *d);
    assert_non_null(d);
    for (size_t i = 1; i < n; i++)
        d[i - 1] = get_int(json_array_get(rows, i), "time_ns") - get_int(json_array_get(rows, i - 1), "time_ns");
    qsort(d, n - 1, sizeof *d, cmp_i64);
    int64_t m = d[(n - 1) / 2];
    *min = d[0];
    *max = d[n - 2];
    free(d);
    return m;
}

/* ---------------------------------------------------------------------
 * Every collection, row against gctrace line
 * ------------------------------------------------------------------- */

/* Go's fmtNSAsMS, rewritten from its rule: from 10 ms on, whole
 * milliseconds; below, the microseconds cut to two significant digits,
 * printed as milliseconds with at most three decimals (0 stays "0"). */
static const char *go_ms(int64_t ns)
{
    if (ns >= 10 * NS_PER_MS)
        return kept_printf("%lld", (long long)(ns / NS_PER_MS));
    long long us = ns / 1000;
    if (us == 0)
        return "0";
    int decimals = 3;
    while (us >= 100) {
        us /= 10;
        decimals--;
    }
    /* us now holds the two (or one) significant digits: us / 10^decimals ms. */
    char digits[24];
    snprintf(digits, sizeof digits, "%0*lld", decimals + 1, us);
    size_t n = strlen(digits);
    if (decimals == 0)
        return kept_string(digits, n);
    return kept_printf("%.*s.%s", (int)(n - (size_t)decimals), digits, digits + n - decimals);
}

/* The gctrace line a gc_cycles row stands for, by Go 1.19's format. */
static const char *line_of_row(json_t *r)
{
    static const char *const t[8] = {"sweepterm_ns",     "mark_ns",       "marktermination_ns",
                                     "sweepterm_cpu_ns", "assist_cpu_ns", "background_cpu_ns",
                                     "idle_cpu_ns",      "marktermination_cpu_ns"};
    const char *ms[8];
    for (int i = 0; i < 8; i++)
        ms[i] = go_ms(get_int(r, t[i]));
    long long since = get_int(r, "since_start_ns");
    return kept_printf("gc %lld @%lld.%03llds %lld%%: %s+%s+%s ms clock, %s+%s/%s/%s+%s ms cpu, "
                       "%lld->%lld->%lld MB, %lld MB goal, %lld MB stacks, %lld MB globals, %lld P%s",
                       (long long)get_int(r, "num"), since / NS_PER_S, since % NS_PER_S / NS_PER_MS,
                       (long long)get_int(r, "cpu_percent"), ms[0], ms[1], ms[2], ms[3], ms[4], ms[5], ms[6],
                       ms[7], (long long)(get_int(r, "heap_start") >> 20), (long long)(get_int(r, "heap_end") >> 20),
                       (long long)(get_int(r, "heap_marked") >> 20), (long long)(get_int(r, "heap_goal") >> 20),
                       (long long)(get_int(r, "stacks") >> 20), (long long)(get_int(r, "globals") >> 20),
                       (long long)get_int(r, "procs"), get_int(r, "forced") ? " (forced)" : "");
}

/* The parsed number at index i of the array field k of the event data is
 * the value of the text go_ms printed. */
static void expect_ms_field(json_t *data, const char *k, size_t i, const char *text)
{
    json_t *v = json_array_get(get_array(data, k), i);
    double want = strtod(text, NULL);
    if (!json_is_number(v) || json_number_value(v) < want - 1e-9 || json_number_value(v) > want + 1e-9)
        fail_msg("%s[%zu] should be %s in %s", k, i, text, show(data));
}

/* Read gctrace events from c (its subscription's id sub) until the line
 * of collection last; each collection line goes into lines under its
 * number.  A dropped notice fails: every line must arrive. */
static void collect_gc_lines(struct conn *c, int64_t sub, json_int_t last, json_t *lines)
{
    int64_t end = now_ms() + scaled(WAIT_MS);
    for (;;) {
        if (json_object_get(lines, kept_printf("%lld", (long long)last)))
            return;
        int64_t left = end - now_ms();
        if (left <= 0 && json_array_size(c->events) == 0)
            fail_msg("no gctrace line for collection %lld within %d ms", (long long)last, scaled(WAIT_MS));
        json_t *ev = read_event(c, left > 0 ? (int)left : 0);
        assert_int_equal(get_int(ev, "id"), sub);
        if (strcmp(get_str(ev, "event"), "gctrace") != 0)
            fail_msg("only gctrace lines were expected, got %s", show(ev));
        json_t *data = get_obj(ev, "data");
        get_str(data, "line");
        if (!json_object_get(data, "gc"))
            continue;   /* "GC forced", scvg lines */
        const char *key = kept_printf("%lld", (long long)get_int(data, "gc"));
        if (json_object_get(lines, key))
            fail_msg("two gctrace lines for collection %s: %s", key, show(data));
        json_object_set(lines, key, data);
    }
}

TEST(test_every_collection_is_a_gc_row_with_the_numbers_of_its_gctrace_line)
{
    install_plugin("binarytrees.so");
    struct daemon *d = start_gortd("--plugin-dir", plugin_dir(), "--history-flush", "20", NULL);
    struct conn *c = d->ctl;
    wait_hstate(c, "ok", scaled(WAIT_MS));
    /* One connection does it all: the lines that arrive while it waits for
     * an answer are kept, so none is left unread for long. */
    int64_t sub = c->next_id + 1;
    call(c, "subscribe", "{\"stream\":\"gctrace\"}");
    json_int_t first = get_int(call(c, "memstats", NULL), "num_gc") + 1;
    json_t *lines = keep(json_object());
    int forced = 0;
    for (int i = 0; i < 10; i++, forced++)
        call(c, "gc", NULL);
    /* Heap-triggered cycles: binary trees, with forced ones among them. */
    json_int_t task = get_int(call(c, "task.start", "{\"plugin\":\"binarytrees\",\"task\":\"run\",\"args\":[\"16\"]}"),
                              "task_id");
    for (int i = 0; i < 10; i++, forced++)
        call(c, "gc", NULL);
    /* Until it has triggered ten collections itself. */
    int64_t end = now_ms() + scaled(WAIT_MS);
    for (;;) {
        json_int_t n = get_int(call(c, "memstats", NULL), "num_gc") - first + 1;
        if (n >= forced + 10)
            break;
        if (now_ms() > end)
            fail_msg("binarytrees triggered only %lld collections in %d ms", (long long)(n - forced), scaled(WAIT_MS));
        sleep_ms(20);
    }
    call(c, "task.stop", kept_printf("{\"id\":%lld}", (long long)task));
    call(c, "plugin.unload", "{\"name\":\"binarytrees\"}");
    json_int_t last = get_int(call(c, "gc", NULL), "num_gc");
    forced++;
    collect_gc_lines(c, sub, last, lines);

    /* The rows, once the last is in. */
    json_t *rows;
    end = now_ms() + scaled(WAIT_MS);
    for (;;) {
        rows = all_rows(c, "gc");
        size_t n = json_array_size(rows);
        if (n > 0 && get_int(json_array_get(rows, n - 1), "num") >= last)
            break;
        if (now_ms() > end)
            fail_msg("no gc row for collection %lld within %d ms: %zu rows", (long long)last, scaled(WAIT_MS), n);
        sleep_ms(20);
    }

    /* Collection by collection from the first after subscribing: one line,
     * one row, the same numbers. */
    json_t *by_num = keep(json_object());
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        const char *key = kept_printf("%lld", (long long)get_int(r, "num"));
        if (json_object_get(by_num, key))
            fail_msg("two rows for collection %s: %s and %s", key, show(json_object_get(by_num, key)), show(r));
        json_object_set(by_num, key, r);
    }
    int compared = 0, nforced = 0, heap = 0;
    for (json_int_t k = first; k <= last; k++) {
        const char *key = kept_printf("%lld", (long long)k);
        json_t *line = json_object_get(lines, key), *row = json_object_get(by_num, key);
        if (!line)
            fail_msg("collection %s has no gctrace line (row %s)", key, show(row));
        if (!row)
            fail_msg("collection %s has no row (line %s)", key, get_str(line, "line"));
        const char *want = line_of_row(row);
        if (strcmp(get_str(line, "line"), want) != 0)
            fail_msg("collection %s: the line is\n  %s\nthe row says\n  %s\n(row %s)", key, get_str(line, "line"), want,
                     show(row));
        /* The parsed fields too. */
        assert_int_equal(get_int(line, "procs"), get_int(row, "procs"));
        assert_int_equal(get_int(line, "cpu_percent"), get_int(row, "cpu_percent"));
        assert_int_equal(get_int(line, "heap_start_mb"), get_int(row, "heap_start") >> 20);
        assert_int_equal(get_int(line, "heap_end_mb"), get_int(row, "heap_end") >> 20);
        assert_int_equal(get_int(line, "heap_live_mb"), get_int(row, "heap_marked") >> 20);
        assert_int_equal(get_int(line, "goal_mb"), get_int(row, "heap_goal") >> 20);
        assert_int_equal(get_int(line, "stacks_mb"), get_int(row, "stacks") >> 20);
        assert_int_equal(get_int(line, "globals_mb"), get_int(row, "globals") >> 20);
        static const char *const clock[3] = {"sweepterm_ns", "mark_ns", "marktermination_ns"};
        static const char *const cpu[5] = {"sweepterm_cpu_ns", "assist_cpu_ns", "background_cpu_ns", "idle_cpu_ns",
                                           "marktermination_cpu_ns"};
        for (size_t j = 0; j < 3; j++)
            expect_ms_field(line, "clock_ms", j, go_ms(get_int(row, clock[j])));
        for (size_t j = 0; j < 5; j++)
            expect_ms_field(line, "cpu_ms", j, go_ms(get_int(row, cpu[j])));
        bool f = get_bool(line, "forced");
        assert_int_equal(f, get_int(row, "forced") != 0);
        const char *reason = get_str(row, "reason");
        if (f != (strcmp(reason, "forced") == 0))
            fail_msg("collection %s: forced is %d but the reason is %s", key, f, reason);
        if (!f && strcmp(reason, "heap") != 0 && strcmp(reason, "memlimit") != 0 && strcmp(reason, "periodic") != 0)
            fail_msg("collection %s: reason %s", key, reason);
        /* Its times: it ended after it started; the pause is a part of it. */
        if (get_int(row, "end_ns") < get_int(row, "time_ns") ||
            get_int(row, "pause_ns") > get_int(row, "end_ns") - get_int(row, "time_ns"))
            fail_msg("collection %s: times out of order in %s", key, show(row));
        nforced += f;
        heap += strcmp(reason, "heap") == 0;
        compared++;
    }
    /* No line without its row (a later background cycle may have a row
     * whose line is still on its way: that is no loss). */
    const char *key;
    json_t *line;
    json_object_foreach(lines, key, line) {
        if (!json_object_get(by_num, key))
            fail_msg("the line of collection %s has no row: %s", key, get_str(line, "line"));
    }
    assert_int_equal(nforced, forced);
    assert_true(heap >= 1);
    print_message("    %d collections compared line for row (%d forced by the gc command, %d heap-triggered, "
                  "%d otherwise), %zu rows in all\n",
                  compared, nforced, heap, compared - nforced - heap, json_array_size(rows));
}

/* ---------------------------------------------------------------------
 * Samples
 * ------------------------------------------------------------------- */

TEST(test_memstats_and_scheduler_samples_arrive_at_the_configured_period)
{
    /* hello allocates from the start, so the heap is not empty. */
    install_plugin("hello.so");
    int64_t t0 = wall_ns();
    struct daemon *d = start_gortd("--plugin-dir", plugin_dir(), "--sample-interval", "200", "--history-flush", "50",
                                   NULL);
    struct conn *c = d->ctl;
    sleep_ms(3000);
    int64_t t1 = wall_ns();
    /* Every sample taken by t1 is in once a later one is. */
    json_t *mem, *sched;
    int64_t end = now_ms() + scaled(WAIT_MS);
    for (;;) {
        mem = all_rows(c, "memstats");
        sched = all_rows(c, "sched");
        size_t nm = json_array_size(mem), ns = json_array_size(sched);
        if (nm >= 10 && ns >= 10 && get_int(json_array_get(mem, nm - 1), "time_ns") > t1 &&
            get_int(json_array_get(sched, ns - 1), "time_ns") > t1)
            break;
        if (now_ms() > end)
            fail_msg("no sample after the first 3 s within %d ms: %zu memstats and %zu sched rows", scaled(WAIT_MS), nm, ns);
        sleep_ms(20);
    }
    json_int_t gomaxprocs = get_int(call(c, "stats", NULL), "gomaxprocs");

    int64_t min, max, gap = median_gap(mem, &min, &max);
    int64_t smin, smax, sgap = median_gap(sched, &smin, &smax);
    /* The rows sampled by t1: about (t1 - t0) / period of them. */
    size_t nmem = 0, nsched = 0;
    size_t i;
    json_t *r;
    json_array_foreach(mem, i, r) {
        int64_t t = get_int(r, "time_ns");
        assert_true(t >= t0);
        nmem += t <= t1;
        if (get_int(r, "sys") <= 0 || get_int(r, "rss") <= 0 || get_int(r, "stack_sys") <= 0 ||
            get_int(r, "next_gc") <= 0 || get_int(r, "goroutines") < 0 || get_int(r, "heap_inuse") > get_int(r, "heap_sys") ||
            get_int(r, "memory_limit") != INT64_MAX)
            fail_msg("an implausible memstats sample: %s", show(r));
        if (i > 0) {
            json_t *p = json_array_get(mem, i - 1);
            if (get_int(r, "total_alloc") < get_int(p, "total_alloc") || get_int(r, "num_gc") < get_int(p, "num_gc"))
                fail_msg("a cumulative counter went back between %s and %s", show(p), show(r));
        }
    }
    json_t *lastm = json_array_get(mem, json_array_size(mem) - 1);
    if (get_int(lastm, "heap_sys") <= 0 || get_int(lastm, "total_alloc") <= 0 || get_int(lastm, "goroutines") < 1)
        fail_msg("with hello ticking the heap should be in use: %s", show(lastm));
    json_array_foreach(sched, i, r) {
        nsched += get_int(r, "time_ns") <= t1;
        if (get_int(r, "gomaxprocs") != gomaxprocs || get_int(r, "threads") < 1 || get_int(r, "idleprocs") < 0 ||
            get_int(r, "idleprocs") > gomaxprocs || get_int(r, "runqueue") < 0)
            fail_msg("an implausible sched sample (gomaxprocs %lld): %s", (long long)gomaxprocs, show(r));
    }
    /* Both tables are sampled together. */
    assert_int_equal(nmem, nsched);
    assert_int_equal(get_int(json_array_get(mem, 0), "time_ns"), get_int(json_array_get(sched, 0), "time_ns"));
    double expected = (double)(t1 - t0) / (200 * NS_PER_MS);
    print_message("    %zu memstats and %zu sched samples in %.2f s (%.1f expected); median gap %.1f ms (%.1f .. %.1f), "
                  "sched %.1f ms\n",
                  nmem, nsched, (double)(t1 - t0) / NS_PER_S, expected, (double)gap / NS_PER_MS,
                  (double)min / NS_PER_MS, (double)max / NS_PER_MS, (double)sgap / NS_PER_MS);
    int64_t lo = 150 * NS_PER_MS, hi = (200 + 150 * (int64_t)g_scale) * NS_PER_MS;
    if (gap < lo || gap > hi || sgap < lo || sgap > hi)
        fail_msg("the median gap between samples should be within [%lld, %lld] ms: memstats %.1f ms, sched %.1f ms",
                 (long long)(lo / NS_PER_MS), (long long)(hi / NS_PER_MS), (double)gap / NS_PER_MS,
                 (double)sgap / NS_PER_MS);
    if (nmem < expected * 0.6 / g_scale || nmem > expected + 2 || nsched < expected * 0.6 / g_scale || nsched > expected + 2)
        fail_msg("%zu memstats and %zu sched samples in %.2f s at 200 ms", nmem, nsched, (double)(t1 - t0) / NS_PER_S);
}

/* ---------------------------------------------------------------------
 * Retention
 * ------------------------------------------------------------------- */

/* A flag beats the file, on SIGHUP too: the file's silence about the
 * sample interval does not put it back to its default. */
TEST(test_sighup_keeps_the_history_settings_a_flag_gave)
{
    const char *conf = write_file("gortd.conf", "history_max_rows = 0\n");
    struct daemon *d = start_gortd("--config", conf, "--sample-interval", "200", "--history-flush", "50", NULL);
    struct conn *c = d->ctl;
    wait_rows(c, "memstats", 2, scaled(WAIT_MS));
    kill(d->pid, SIGHUP);
    wait_log(d, "reload", scaled(WAIT_MS));
    int64_t t0 = wall_ns();
    sleep_ms(1500);
    json_t *rows = all_rows(c, "memstats");
    size_t i, after = 0;
    json_t *r;
    json_array_foreach(rows, i, r)
        after += get_int(r, "time_ns") > t0;
    print_message("    %zu samples in the 1.5 s after SIGHUP (every 200 ms: 7 expected)\n", after);
    if (after < 4)
        fail_msg("the sample interval did not survive SIGHUP: %zu samples in 1.5 s", after);
}

TEST(test_retention_keeps_at_most_history_max_rows_per_table)
{
    enum { MAX_ROWS = 30, PERIOD_MS = 100, FLUSH_MS = 50 };
    struct daemon *d = start_gortd("--history-max-rows", "30", "--sample-interval", "100", "--history-flush", "50",
                                   NULL);
    struct conn *c = d->ctl;
    wait_hstate(c, "ok", scaled(WAIT_MS));
    /* Pruning runs once a second, after a commit, down to the limit: past
     * it by at most what a second and a flush bring, plus a second for a
     * late round (two more under the sanitizers). */
    const size_t bound = MAX_ROWS + (2000 + 2 * FLUSH_MS) / PERIOD_MS + 2 + 20 * (size_t)(g_scale - 1);
    int64_t end = now_ms() + scaled(WAIT_MS);
    json_int_t pruned0;
    while ((pruned0 = get_int(hstats(c), "pruned")) == 0) {
        if (now_ms() > end)
            fail_msg("nothing was pruned within %d ms: %s", scaled(WAIT_MS), show(hstats(c)));
        sleep_ms(50);
    }
    size_t most = 0, least = SIZE_MAX;
    json_int_t last_id = 0;
    int64_t t_end = now_ms() + 2500;
    int polls = 0;
    while (now_ms() < t_end) {
        json_t *mem = all_rows(c, "memstats"), *sched = all_rows(c, "sched");
        size_t nm = json_array_size(mem), ns = json_array_size(sched);
        most = nm > most ? nm : most;
        most = ns > most ? ns : most;
        least = nm < least ? nm : least;
        least = ns < least ? ns : least;
        /* Never more than the bound; never fewer than the limit once it
         * was reached: pruning takes the excess only. */
        if (nm > bound || ns > bound || nm < MAX_ROWS || ns < MAX_ROWS)
            fail_msg("%zu memstats and %zu sched rows with history_max_rows = %d (bound %zu)", nm, ns, MAX_ROWS, bound);
        /* The newest rows stay. */
        json_int_t id = get_int(json_array_get(mem, json_array_size(mem) - 1), "id");
        assert_true(id >= last_id);
        last_id = id;
        polls++;
        sleep_ms(100);
    }
    json_int_t pruned = get_int(hstats(c), "pruned");
    assert_true(pruned > pruned0);
    /* The rows kept are the newest ones: the ids run without a gap up to
     * the newest. */
    json_t *mem = all_rows(c, "memstats");
    size_t n = json_array_size(mem);
    assert_true(n >= MAX_ROWS);
    assert_int_equal(get_int(json_array_get(mem, n - 1), "id") - get_int(json_array_get(mem, 0), "id"), (json_int_t)n - 1);
    print_message("    %d polls over 2.5 s: %zu to %zu rows per table (limit %d, bound %zu); pruned %lld then %lld\n", polls,
                  least, most, MAX_ROWS, bound, (long long)pruned0, (long long)pruned);
}

TEST(test_retention_drops_rows_older_than_history_max_age)
{
    struct daemon *d = start_gortd("--history-max-age", "2s", "--sample-interval", "100", "--history-flush", "50", NULL);
    struct conn *c = d->ctl;
    wait_hstate(c, "ok", scaled(WAIT_MS));
    const int64_t max_age = 2 * NS_PER_S, slack = scaled(1500) * NS_PER_MS;
    int64_t start = now_ms(), end = start + scaled(WAIT_MS);
    while (get_int(hstats(c), "pruned") == 0) {
        if (now_ms() > end)
            fail_msg("nothing was pruned within %d ms: %s", scaled(WAIT_MS), show(hstats(c)));
        sleep_ms(50);
    }
    print_message("    the first rows were pruned %lld ms after the start\n", (long long)(now_ms() - start));
    int64_t oldest_age = 0, newest_age = INT64_MAX;
    int polls = 0;
    for (int64_t t_end = now_ms() + 2500; now_ms() < t_end; polls++) {
        json_t *oldest = get_array(history(c, "{\"kind\":\"memstats\",\"order\":\"asc\",\"limit\":1}"), "rows");
        json_t *newest = get_array(history(c, "{\"kind\":\"memstats\",\"limit\":1}"), "rows");
        int64_t now = wall_ns();
        assert_int_equal(json_array_size(oldest), 1);
        assert_int_equal(json_array_size(newest), 1);
        int64_t age = now - get_int(json_array_get(oldest, 0), "time_ns");
        int64_t fresh = now - get_int(json_array_get(newest, 0), "time_ns");
        if (age > max_age + slack)
            fail_msg("a row %.2f s old is left with history_max_age = 2s", (double)age / NS_PER_S);
        oldest_age = age > oldest_age ? age : oldest_age;
        newest_age = fresh < newest_age ? fresh : newest_age;
        sleep_ms(100);
    }
    assert_true(newest_age < scaled(1000) * NS_PER_MS);
    size_t n = json_array_size(all_rows(c, "memstats"));
    assert_true(n >= 5);
    print_message("    %d polls over 2.5 s: the oldest row at most %.2f s old (limit 2 s + %.1f s), %zu rows, the newest "
                  "%.0f ms old\n",
                  polls, (double)oldest_age / NS_PER_S, (double)slack / NS_PER_S, n, (double)newest_age / NS_PER_MS);
}

/* ---------------------------------------------------------------------
 * The audit
 * ------------------------------------------------------------------- */

struct audited {
    const char *cmd, *args;       /* what the test sends */
    const char *want_args;        /* the audit's args: compact JSON, keys sorted */
    const char *outcome;          /* "ok" or an error code */
    const char *message;          /* the error's message (from the answer) */
};

TEST(test_each_mutating_command_gets_an_audit_row_with_its_peer_args_and_outcome)
{
    struct daemon *d = start_gortd("--plugin-dir", plugin_dir(), "--history-flush", "20", NULL);
    struct conn *c = d->ctl;
    wait_hstate(c, "ok", scaled(WAIT_MS));
    const char *hello = install_plugin("hello.so");
    int64_t t0 = wall_ns();
    struct audited a[24];
    int n = 0;
#define RUN(cmd_, args_, want_)                                                                       \
    do {                                                                                              \
        call(c, cmd_, args_);                                                                         \
        a[n++] = (struct audited){cmd_, args_, want_, "ok", NULL};                                    \
    } while (0)
#define REFUSED(cmd_, args_, want_, code_)                                                            \
    do {                                                                                              \
        const char *m_ = call_err(c, cmd_, args_, code_);                                            \
        a[n++] = (struct audited){cmd_, args_, want_, code_, m_};                                     \
    } while (0)
    RUN("gc", NULL, "{}");
    RUN("freeosmemory", NULL, "{}");
    RUN("setgcpercent", "{\"value\":150}", "{\"value\":150}");
    RUN("setmemlimit", "{\"bytes\":1073741824}", "{\"bytes\":1073741824}");
    RUN("gomaxprocs", "{\"n\":1}", "{\"n\":1}");
    RUN("gctrace", "{\"on\":true}", "{\"on\":true}");
    RUN("schedtrace", "{\"interval_ms\":0,\"detail\":false}", "{\"detail\":false,\"interval_ms\":0}");
    const char *load = kept_printf("{\"path\":\"%s\"}", hello);
    RUN("plugin.load", load, load);
    json_int_t id = get_int(call(c, "task.start", "{\"task\":\"tick\",\"plugin\":\"hello\",\"args\":[\"50\"]}"),
                            "task_id");
    a[n++] = (struct audited){"task.start", NULL, "{\"args\":[\"50\"],\"plugin\":\"hello\",\"task\":\"tick\"}", "ok", NULL};
    const char *stop = kept_printf("{\"timeout_ms\":5000,\"id\":%lld}", (long long)id);
    RUN("task.stop", stop, kept_printf("{\"id\":%lld,\"timeout_ms\":5000}", (long long)id));
    RUN("plugin.unload", "{\"name\":\"hello\"}", "{\"name\":\"hello\"}");
    /* Refused: a bad value, an unknown argument, a job's own refusal. */
    REFUSED("setgcpercent", "{\"value\":\"x\"}", "{\"value\":\"x\"}", "EINVAL");
    REFUSED("gomaxprocs", "{\"n\":2,\"extra\":1}", "{\"extra\":1,\"n\":2}", "EINVAL");
    REFUSED("plugin.unload", "{\"name\":\"nosuch\"}", "{\"name\":\"nosuch\"}", "ENOENT");
    /* Arguments are kept up to 4 KiB, then marked cut. */
    static char pad[6001];
    memset(pad, 'p', sizeof pad - 1);
    const char *big = kept_printf("{\"value\":1,\"pad\":\"%s\"}", pad);
    const char *sorted = kept_printf("{\"pad\":\"%s\",\"value\":1}", pad);
    REFUSED("setgcpercent", big, kept_printf("%.4096s...(cut)", sorted), "EINVAL");
    RUN("gomaxprocs", "{\"n\":2}", "{\"n\":2}");
#undef RUN
#undef REFUSED

    /* Read-only commands, unknown commands and malformed lines: no row. */
    struct conn *e = conn_open(d);
    call(e, "ping", NULL);
    call(e, "version", NULL);
    call(e, "stats", NULL);
    call(e, "memstats", NULL);
    call(e, "goroutines", NULL);
    call(e, "plugins", NULL);
    call(e, "history", "{\"kind\":\"gc\"}");
    call(e, "subscribe", "{\"stream\":\"events\"}");
    call(e, "unsubscribe", "{\"stream\":\"events\"}");
    call_err(e, "nosuch", NULL, "ENOSYS");
    send_line(e, "{\"id\":99,\"cmd\":");
    check_error(read_msg(e, scaled(WAIT_MS)), "EPROTO");
    int64_t t1 = wall_ns();

    json_t *rows = wait_rows(c, "audit", (size_t)n, scaled(WAIT_MS));
    /* Give a stray row (from the read-only commands) time to show up. */
    call(e, "gc", NULL);
    rows = wait_rows(c, "audit", (size_t)n + 1, scaled(WAIT_MS));
    if (json_array_size(rows) != (size_t)n + 1)
        fail_msg("%d audit rows expected, got %zu: %s", n + 1, json_array_size(rows), show(rows));
    for (int i = 0; i < n; i++) {
        json_t *r = json_array_get(rows, (size_t)i);
        assert_int_equal(get_int(r, "uid"), getuid());
        assert_int_equal(get_int(r, "pid"), getpid());
        if (strcmp(get_str(r, "command"), a[i].cmd) != 0 || strcmp(get_str(r, "args"), a[i].want_args) != 0 ||
            strcmp(get_str(r, "outcome"), a[i].outcome) != 0)
            fail_msg("audit row %d should be %s %s %s: %s", i, a[i].cmd, a[i].want_args, a[i].outcome, show(r));
        if (a[i].message)
            assert_string_equal(get_str(r, "message"), a[i].message);
        else if (!json_is_null(get(r, "message")))
            fail_msg("a command that succeeded has a message: %s", show(r));
        int64_t t = get_int(r, "time_ns");
        if (t < t0 || t > t1)
            fail_msg("audit row %d's time is outside the test's: %s", i, show(r));
        print_message("    %-13s %-48.60s%s %s\n", a[i].cmd, a[i].want_args, strlen(a[i].want_args) > 60 ? "..." : "",
                      a[i].outcome);
    }
    assert_string_equal(get_str(json_array_get(rows, (size_t)n), "command"), "gc");

    /* shutdown is audited too, and so is a command refused because the
     * daemon is stopping: both lines in one write, read in one go. */
    send_line(c, "{\"id\":1001,\"cmd\":\"shutdown\"}\n{\"id\":1002,\"cmd\":\"setgcpercent\",\"args\":{\"value\":90}}");
    expect_ok(answer(c, 1001));
    const char *stopping = check_error(answer(c, 1002), "ESHUTDOWN");
    assert_int_equal(exit_status(d), 0);
    sqlite3 *db = db_open(kept_printf("%s/history.db", fx.state), SQLITE_OPEN_READONLY);
    json_t *last = db_rows(db, "SELECT uid, pid, command, args, outcome, message FROM audit ORDER BY id DESC LIMIT 2");
    sqlite3_close(db);
    assert_int_equal(json_array_size(last), 2);
    expect_columns(json_array_get(last, 1), kept_printf("{\"uid\":%d,\"pid\":%d,\"command\":\"shutdown\",\"args\":\"{}\","
                                                        "\"outcome\":\"ok\",\"message\":null}",
                                                        (int)getuid(), (int)getpid()));
    expect_columns(json_array_get(last, 0), kept_printf("{\"uid\":%d,\"pid\":%d,\"command\":\"setgcpercent\","
                                                        "\"args\":\"{\\\"value\\\":90}\",\"outcome\":\"ESHUTDOWN\"}",
                                                        (int)getuid(), (int)getpid()));
    assert_string_equal(get_str(json_array_get(last, 0), "message"), stopping);
    print_message("    %-13s %-48s %s\n    %-13s %-48s %s\n", "shutdown", "{}", "ok", "setgcpercent", "{\"value\":90}",
                  "ESHUTDOWN");
}

/* ---------------------------------------------------------------------
 * Schema versions
 * ------------------------------------------------------------------- */

TEST(test_a_version_1_database_is_migrated_to_version_2_keeping_its_rows)
{
    const char *path = dir_path("old.db");
    int64_t t = wall_ns() - 600 * NS_PER_S;   /* ten minutes ago: well inside the default retention */
    sqlite3 *db = db_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    db_exec(db, "BEGIN");
    db_exec(db, schema_v1);
    for (int i = 0; i < 3; i++) {
        db_exec(db, kept_printf("INSERT INTO gc_cycles VALUES (NULL, %lld, %lld, %d, %d, 2, %d, %lld, 1000, 2000000, 3000,"
                                " 2000, 0, 4000000, 500000, 6000, %d, %d, %d, %d, 65536, 3145728, %d)",
                                (long long)(t + i * NS_PER_S), (long long)(t + i * NS_PER_S + 3000000), i + 1, i == 0,
                                i + 1, (long long)(i + 1) * NS_PER_S, (i + 4) << 20, (i + 5) << 20, (i + 2) << 20,
                                (i + 8) << 20, 4000 + i));
        db_exec(db, kept_printf("INSERT INTO memstats_samples VALUES (NULL, %lld, 8388608, %d, 16777216, 4194304,"
                                " 12582912, 0, 1000, 99999, 2000, 1000, 65536, 131072, 8388608, %d, 1, 12345, 0.25, 3,"
                                " 9223372036854775807)",
                                (long long)(t + i * NS_PER_S), 1000000 + i, i + 1));
    }
    db_exec(db, kept_printf("INSERT INTO sched_samples VALUES (NULL, %lld, 2, 1, 5, 0, 2, 0, 7, 3)", (long long)t));
    db_exec(db, kept_printf("INSERT INTO scavenger_events VALUES (NULL, %lld, 'forced', -1, 1048576, 1, 2, 3, 4)",
                            (long long)t));
    db_exec(db, kept_printf("INSERT INTO plugin_events VALUES (NULL, %lld, 'plugin.loaded', 'hello', NULL, NULL, NULL,"
                            " '{\"path\":\"/x/hello.so\"}')",
                            (long long)t));
    db_exec(db, kept_printf("INSERT INTO audit VALUES (NULL, %lld, 1000, 4711, 'gc', '{}', 'ok', NULL)", (long long)t));
    db_exec(db, kept_printf("INSERT INTO audit VALUES (NULL, %lld, 1000, 4712, 'setgcpercent', '{\"value\":\"x\"}',"
                            " 'EINVAL', 'no')",
                            (long long)(t + 1)));
    db_exec(db, "PRAGMA user_version = 1");
    db_exec(db, "COMMIT");
    sqlite3_close(db);

    struct daemon *d = start_gortd("--history-db", path, "--history-flush", "20", "--sample-interval", "100", NULL);
    struct conn *c = d->ctl;
    json_t *h = wait_hstate(c, "ok", scaled(WAIT_MS));
    assert_int_equal(get_int(h, "schema_version"), 2);
    wait_log(d, kept_printf("history %s: schema migrated from version 1 to 2", path), scaled(WAIT_MS));

    /* The old rows, value for value; the new columns are null in them. */
    json_t *gc = all_rows(c, "gc");
    assert_int_equal(json_array_size(gc), 3);
    for (int i = 0; i < 3; i++) {
        json_t *r = json_array_get(gc, (size_t)i);
        expect_columns(r, kept_printf("{\"id\":%d,\"time_ns\":%lld,\"end_ns\":%lld,\"num\":%d,\"forced\":%d,\"procs\":2,"
                                      "\"cpu_percent\":%d,\"since_start_ns\":%lld,\"sweepterm_ns\":1000,"
                                      "\"mark_ns\":2000000,\"marktermination_ns\":3000,\"sweepterm_cpu_ns\":2000,"
                                      "\"assist_cpu_ns\":0,\"background_cpu_ns\":4000000,\"idle_cpu_ns\":500000,"
                                      "\"marktermination_cpu_ns\":6000,\"heap_start\":%d,\"heap_end\":%d,"
                                      "\"heap_marked\":%d,\"heap_goal\":%d,\"stacks\":65536,\"globals\":3145728,"
                                      "\"pause_ns\":%d,\"reason\":null,\"next_goal\":null}",
                                      i + 1, (long long)(t + i * NS_PER_S), (long long)(t + i * NS_PER_S + 3000000),
                                      i + 1, i == 0, i + 1, (long long)(i + 1) * NS_PER_S, (i + 4) << 20, (i + 5) << 20,
                                      (i + 2) << 20, (i + 8) << 20, 4000 + i));
    }
    /* The sampler adds rows from now on: the old ones come first. */
    json_t *mem = all_rows(c, "memstats");
    assert_true(json_array_size(mem) >= 3);
    for (int i = 0; i < 3; i++)
        expect_columns(json_array_get(mem, (size_t)i),
                       kept_printf("{\"time_ns\":%lld,\"sys\":8388608,\"heap_alloc\":%d,\"heap_sys\":16777216,"
                                   "\"total_alloc\":99999,\"num_gc\":%d,\"pause_total_ns\":12345,"
                                   "\"gc_cpu_fraction\":0.25,\"goroutines\":3,\"memory_limit\":9223372036854775807,"
                                   "\"rss\":null}",
                                   (long long)(t + i * NS_PER_S), 1000000 + i, i + 1));
    expect_columns(json_array_get(all_rows(c, "sched"), 0),
                   "{\"gomaxprocs\":2,\"idleprocs\":1,\"threads\":5,\"idle_threads\":2,\"goroutines\":7,\"syscalls\":3}");
    expect_columns(json_array_get(all_rows(c, "scavenger"), 0),
                   "{\"kind\":\"forced\",\"num\":-1,\"released\":1048576,\"heap_released\":4}");
    expect_columns(json_array_get(all_rows(c, "events"), 0),
                   "{\"kind\":\"plugin.loaded\",\"plugin\":\"hello\",\"task_id\":null,\"detail\":"
                   "\"{\\\"path\\\":\\\"/x/hello.so\\\"}\"}");
    json_t *audit = all_rows(c, "audit");
    assert_int_equal(json_array_size(audit), 2);
    expect_columns(json_array_get(audit, 0), "{\"uid\":1000,\"pid\":4711,\"command\":\"gc\",\"outcome\":\"ok\"}");
    expect_columns(json_array_get(audit, 1), "{\"pid\":4712,\"outcome\":\"EINVAL\",\"message\":\"no\"}");

    /* New rows come with the new columns. */
    json_int_t num = get_int(call(c, "gc", NULL), "num_gc");
    gc = wait_rows(c, "gc", 4, scaled(WAIT_MS));
    json_t *r = json_array_get(gc, json_array_size(gc) - 1);
    assert_int_equal(get_int(r, "num"), num);
    assert_string_equal(get_str(r, "reason"), "forced");
    assert_true(get_int(r, "next_goal") > 0);
    mem = wait_rows(c, "memstats", 4, scaled(WAIT_MS));
    assert_true(get_int(json_array_get(mem, json_array_size(mem) - 1), "rss") > 0);
    assert_true(stop_daemon(d));

    db = db_open(path, SQLITE_OPEN_READONLY);
    assert_int_equal(db_int(db, "PRAGMA user_version"), 2);
    assert_string_equal(db_list(db, "PRAGMA integrity_check"), "ok");
    assert_string_equal(db_list(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND name = "
                                    "'plugin_events_plugin'"),
                        "plugin_events_plugin");
    assert_int_equal(db_int(db, "SELECT count(*) FROM gc_cycles WHERE reason IS NULL"), 3);
    assert_int_equal(db_int(db, "SELECT count(*) FROM audit WHERE command = 'gc' AND pid = 4711"), 1);
    int64_t nrows = db_int(db, "SELECT (SELECT count(*) FROM gc_cycles) + (SELECT count(*) FROM memstats_samples) + "
                               "(SELECT count(*) FROM audit)");
    sqlite3_close(db);
    print_message("    version 1 -> 2: 3 gc, 3 memstats, 1 sched, 1 scavenger, 1 event, 2 audit rows kept; "
                  "%lld rows in those tables after one gc\n",
                  (long long)nrows);
}

TEST(test_a_database_of_a_newer_schema_is_refused_and_left_as_it_was)
{
    const char *path = dir_path("future.db");
    sqlite3 *db = db_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    db_exec(db, "CREATE TABLE future (x TEXT); INSERT INTO future VALUES ('from gortd 9'); PRAGMA user_version = 99");
    sqlite3_close(db);
    struct stat st0;
    assert_int_equal(stat(path, &st0), 0);
    const char *before = read_text(path);

    struct daemon *d = start_gortd("--history-db", path, "--sample-interval", "100", NULL);
    struct conn *c = d->ctl;
    json_t *h = settled_hstats(c);
    assert_string_equal(get_str(h, "state"), "error");
    const char *err = get_str(h, "error");
    expect_contains(err, "newer");
    expect_contains(err, "99");
    assert_string_equal(get_str(h, "path"), path);
    assert_true(get_int(h, "failures") >= 1);
    assert_true(get_int(h, "error_since_ns") > 0);
    assert_int_equal(get_int(h, "written"), 0);
    assert_true(get_bool(call(c, "ping", NULL), "pong"));
    call(c, "setgcpercent", "{\"value\":100}");
    wait_log(d, "newer than this gortd's 2", scaled(WAIT_MS));
    print_message("    stats.history.error: %s\n", err);
    assert_true(stop_daemon(d));

    /* Not a byte changed: not even the journal mode in its header. */
    struct stat st1;
    assert_int_equal(stat(path, &st1), 0);
    assert_int_equal(st1.st_size, st0.st_size);
    if (memcmp(read_text(path), before, (size_t)st0.st_size) != 0)
        fail_msg("gortd changed %s", path);
    assert_false(exists(kept_printf("%s-wal", path)));

    db = db_open(path, SQLITE_OPEN_READONLY);
    assert_int_equal(db_int(db, "PRAGMA user_version"), 99);
    assert_string_equal(db_list(db, "SELECT name FROM sqlite_master ORDER BY name"), "future");
    assert_string_equal(db_list(db, "SELECT x FROM future"), "from gortd 9");
    sqlite3_close(db);
}

/* ---------------------------------------------------------------------
 * Failures and recovery
 * ------------------------------------------------------------------- */

TEST(test_a_full_database_is_reported_the_daemon_serves_on_and_the_queued_rows_land_once_there_is_room)
{
    const char *conf_full = kept_printf("history_max_size = 256KiB\nsample_interval_ms = 100\nhistory_flush_ms = 50\n"
                                        "plugin_dirs = %s\n",
                                        plugin_dir());
    const char *conf = write_file("gortd.conf", conf_full);
    struct daemon *d = start_gortd("--config", conf, NULL);
    /* The events come on the connection that sends the commands: they are
     * read while it waits for the answers, so none is dropped for want of
     * reading (each command is an event too). */
    struct conn *c = d->ctl, *e = c;
    call(c, "subscribe", "{\"stream\":\"events\"}");
    wait_hstate(c, "ok", scaled(WAIT_MS));

    /* Fill it: each command is an audit row. */
    int64_t t0 = now_ms(), end = t0 + scaled(30000);
    int sent = 0;
    json_t *h;
    for (;;) {
        for (int i = 0; i < 100; i++, sent++)
            call(c, "setgcpercent", "{\"value\":100}");
        h = hstats(c);
        if (strcmp(get_str(h, "state"), "error") == 0)
            break;
        if (now_ms() > end)
            fail_msg("the history is not full after %d commands in %d ms: %s", sent, scaled(30000), show(h));
    }
    const char *err = get_str(h, "error");
    if (!strstr(err, "full"))
        fail_msg("the error should say the database is full: %s", show(h));
    int64_t filled_ms = now_ms() - t0;
    json_int_t written_full = get_int(h, "written");

    /* The daemon serves on; what comes meanwhile waits in the queue. */
    int64_t t_full = wall_ns();
    enum { WHILE_FULL = 50 };
    for (int i = 0; i < WHILE_FULL; i++) {
        assert_true(get_bool(call(c, "ping", NULL), "pong"));
        call(c, "setgcpercent", kept_printf("{\"value\":%d}", 1000 + i));
    }
    call(c, "gc", NULL);
    json_t *failed = wait_event(e, "history.failed", scaled(WAIT_MS));
    assert_string_equal(get_str(failed, "path"), kept_printf("%s/history.db", fx.state));
    expect_contains(get_str(failed, "error"), "full");
    h = hstats(c);
    assert_string_equal(get_str(h, "state"), "error");
    json_int_t waiting = get_int(h, "pending") + get_int(h, "queued");
    assert_true(waiting >= WHILE_FULL);
    assert_int_equal(get_int(h, "written"), written_full);
    assert_int_equal(get_int(h, "dropped"), 0);

    /* Room: the limit goes with SIGHUP, and the writer retries at once. */
    write_file("gortd.conf", kept_printf("history_max_size = off\nsample_interval_ms = 100\nhistory_flush_ms = 50\n"
                                         "plugin_dirs = %s\n",
                                         plugin_dir()));
    int64_t t_hup = now_ms();
    kill(d->pid, SIGHUP);
    h = wait_hstate(c, "ok", scaled(WAIT_MS));
    int64_t recovered_ms = now_ms() - t_hup;
    json_t *rec = wait_event(e, "history.recovered", scaled(WAIT_MS));
    assert_string_equal(get_str(rec, "path"), kept_printf("%s/history.db", fx.state));
    assert_true(json_is_null(get(h, "error")));
    assert_int_equal(get_int(h, "error_since_ns"), 0);

    /* Every command sent while it was full has its row. */
    int found;
    end = now_ms() + scaled(WAIT_MS);
    for (;;) {
        json_t *rows = get_array(history(c, kept_printf("{\"kind\":\"audit\",\"since\":%lld,\"order\":\"asc\","
                                                        "\"limit\":10000}",
                                                        (long long)t_full)),
                                 "rows");
        found = 0;
        size_t i;
        json_t *r;
        json_array_foreach(rows, i, r) {
            int v;
            if (strcmp(get_str(r, "command"), "setgcpercent") == 0 && sscanf(get_str(r, "args"), "{\"value\":%d}", &v) == 1 &&
                v == 1000 + found && strcmp(get_str(r, "outcome"), "ok") == 0)
                found++;   /* in the order they were sent */
        }
        if (found == WHILE_FULL)
            break;
        if (now_ms() > end)
            fail_msg("%d of the %d commands sent while the database was full have their audit row, in order", found,
                     WHILE_FULL);
        sleep_ms(20);
    }
    h = hstats(c);
    print_message("    full after %d commands (%lld ms, %lld rows written): \"%s\"; %lld records waited; "
                  "%lld failed attempts; writing again %lld ms after SIGHUP; %d of %d commands sent while full "
                  "audited\n",
                  sent, (long long)filled_ms, (long long)written_full, err, (long long)waiting,
                  (long long)get_int(h, "failures"), (long long)recovered_ms, found, WHILE_FULL);
    assert_true(get_bool(call(c, "ping", NULL), "pong"));
}

TEST(test_a_database_that_cannot_be_opened_is_reported_and_opened_once_the_path_is_fixed)
{
    /* A regular file where a directory of the path should be: root cannot
     * open through it either. */
    const char *blocker = write_file("blocker", "not a directory\n");
    const char *path = kept_printf("%s/history.db", blocker);
    struct daemon *d = start_gortd("--history-db", path, "--sample-interval", "100", "--history-flush", "50", NULL);
    struct conn *c = d->ctl, *e = subscribe_events(d);
    json_t *h = settled_hstats(c);
    assert_string_equal(get_str(h, "state"), "error");
    expect_contains(get_str(h, "error"), strerror(ENOTDIR));
    const char *err = get_str(h, "error");
    assert_true(get_bool(call(c, "ping", NULL), "pong"));
    call(c, "gc", NULL);
    /* Nothing to query yet. */
    expect_contains(call_err(c, "history", "{\"kind\":\"gc\"}", "EIO"), path);

    /* Fix it at once: the next attempt, a second after the first, opens it. */
    int64_t t_fix = now_ms();
    assert_int_equal(unlink(blocker), 0);
    assert_int_equal(mkdir(blocker, 0755), 0);
    h = wait_hstate(c, "ok", scaled(WAIT_MS));
    int64_t ok_ms = now_ms() - t_fix;
    wait_event(e, "history.recovered", scaled(WAIT_MS));
    assert_true(exists(path));
    json_t *gc = wait_rows(c, "gc", 1, scaled(WAIT_MS));
    assert_string_equal(get_str(json_array_get(gc, 0), "reason"), "forced");
    wait_rows(c, "memstats", 3, scaled(WAIT_MS));
    wait_rows(c, "audit", 1, scaled(WAIT_MS));
    print_message("    \"%s\"; writing %lld ms after the fix, after %lld failed attempts\n", err, (long long)ok_ms,
                  (long long)get_int(h, "failures"));
}

/* 16 KiB of xorshift noise: the same bytes every run. */
static void noise(unsigned char *p, size_t n)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)(x >> 32);
    }
}

TEST(test_a_file_that_is_not_a_database_is_reported_and_left_untouched)
{
    static unsigned char bytes[16384];
    noise(bytes, sizeof bytes);
    assert_true(memcmp(bytes, "SQLite format 3", 15) != 0);
    const char *path = dir_path("noise.db");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, sizeof bytes), (ssize_t)sizeof bytes);
    assert_int_equal(close(fd), 0);

    struct daemon *d = start_gortd("--history-db", path, "--sample-interval", "100", NULL);
    struct conn *c = d->ctl;
    json_t *h = settled_hstats(c);
    assert_string_equal(get_str(h, "state"), "error");
    expect_contains(get_str(h, "error"), "not a database");
    print_message("    stats.history.error: %s\n", get_str(h, "error"));
    assert_true(get_bool(call(c, "ping", NULL), "pong"));
    call(c, "gc", NULL);
    expect_contains(call_err(c, "history", "{\"kind\":\"gc\"}", "EIO"), "not a database");
    /* Let it retry once (after 1 s) before looking at the file. */
    int64_t end = now_ms() + scaled(WAIT_MS);
    while (get_int(hstats(c), "failures") < 2) {
        if (now_ms() > end)
            fail_msg("no second attempt within %d ms", scaled(WAIT_MS));
        sleep_ms(50);
    }
    assert_true(stop_daemon(d));

    size_t n = 0;
    const char *after = read_text(path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    n = (size_t)st.st_size;
    assert_int_equal(n, sizeof bytes);
    if (memcmp(after, bytes, sizeof bytes) != 0)
        fail_msg("gortd changed %s", path);
    assert_false(exists(kept_printf("%s-wal", path)));
    assert_false(exists(kept_printf("%s-journal", path)));
}

/* ---------------------------------------------------------------------
 * The history command
 * ------------------------------------------------------------------- */

/* The nums of the rows of a history answer, as "1,2,3". */
static const char *nums(json_t *result)
{
    const char *s = "";
    size_t i;
    json_t *r;
    json_array_foreach(get_array(result, "rows"), i, r) {
        s = kept_printf("%s%s%lld", s, *s ? "," : "", (long long)get_int(r, "num"));
    }
    assert_int_equal(get_int(result, "count"), json_array_size(get_array(result, "rows")));
    return s;
}

/* The history query args selects exactly the rows numbered want (in that
 * order), with "more" as given. */
static void expect_query(struct conn *c, const char *args, const char *want, bool more)
{
    json_t *r = history(c, args);
    const char *got = nums(r);
    if (strcmp(got, want) != 0 || get_bool(r, "more") != more)
        fail_msg("history %s should give rows %s (more %d), gave %s (more %d)", args, want, more, got,
                 get_bool(r, "more"));
}

/* 2025-06-01T12:00:00Z, in ns since the epoch. */
#define T_2025 (1748779200LL * NS_PER_S)

TEST(test_the_history_command_selects_by_time_orders_limits_and_checks_its_arguments)
{
    /* A database from an earlier run, with gc rows at known times: ten a
     * minute apart on 2025-06-01 from 12:00Z (nums 1..10), and three in
     * the last hours (nums 101..103: 3 h, 2 h and 30 min ago).  Rows never
     * age out in this test. */
    const char *conf = write_file("gortd.conf", "read_group = nogroup\nhistory_max_age = 0\n");
    struct daemon *d0 = start_gortd("--config", conf, NULL);
    wait_hstate(d0->ctl, "ok", scaled(WAIT_MS));
    assert_true(stop_daemon(d0));
    int64_t now = wall_ns();
    sqlite3 *db = db_open(kept_printf("%s/history.db", fx.state), SQLITE_OPEN_READWRITE);
    db_exec(db, "BEGIN; DELETE FROM gc_cycles");
    for (int i = 0; i < 10; i++)
        db_exec(db, kept_printf("INSERT INTO gc_cycles (time_ns, end_ns, num, forced, reason) VALUES (%lld, %lld, %d, 1, "
                                "'forced')",
                                (long long)(T_2025 + i * 60 * NS_PER_S), (long long)(T_2025 + i * 60 * NS_PER_S + 1000),
                                i + 1));
    static const int ago_min[3] = {180, 120, 30};
    for (int i = 0; i < 3; i++) {
        int64_t t = now - ago_min[i] * 60 * NS_PER_S;
        db_exec(db, kept_printf("INSERT INTO gc_cycles (time_ns, end_ns, num, forced, reason) VALUES (%lld, %lld, %d, 0, "
                                "'heap')",
                                (long long)t, (long long)t + 1000, 101 + i));
    }
    db_exec(db, "COMMIT");
    sqlite3_close(db);

    int64_t t_start = wall_ns();
    struct daemon *d = start_gortd("--config", conf, NULL);
    struct conn *c = d->ctl;
    wait_hstate(c, "ok", scaled(WAIT_MS));
    /* "until" before this run keeps the daemon's own collections out. */
    const char *until = kept_printf("\"until\":%lld", (long long)t_start);

    /* Newest first by default, oldest first on request. */
    json_t *r = history(c, kept_printf("{\"kind\":\"gc\",%s}", until));
    assert_string_equal(get_str(r, "kind"), "gc");
    assert_string_equal(get_str(r, "table"), "gc_cycles");
    assert_string_equal(get_str(r, "order"), "desc");
    assert_string_equal(nums(r), "103,102,101,10,9,8,7,6,5,4,3,2,1");
    assert_false(get_bool(r, "more"));
    r = history(c, kept_printf("{\"kind\":\"gc\",\"order\":\"asc\",%s}", until));
    assert_string_equal(get_str(r, "order"), "asc");
    assert_string_equal(nums(r), "1,2,3,4,5,6,7,8,9,10,101,102,103");
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"order\":\"desc\",%s}", until), "103,102,101,10,9,8,7,6,5,4,3,2,1",
                 false);

    /* limit: "more" says the limit cut rows. */
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"limit\":3,%s}", until), "103,102,101", true);
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"limit\":3,\"order\":\"asc\",%s}", until), "1,2,3", true);
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"limit\":13,%s}", until), "103,102,101,10,9,8,7,6,5,4,3,2,1", false);
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"limit\":12,\"order\":\"asc\",%s}", until),
                 "1,2,3,4,5,6,7,8,9,10,101,102", true);

    /* since and until, both inclusive: ns, RFC 3339 (Z, an offset,
     * fractions), relative. */
    long long t5 = T_2025 + 5 * 60 * NS_PER_S;   /* num 6 */
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"order\":\"asc\",\"since\":%lld,%s}", t5, until),
                 "6,7,8,9,10,101,102,103", false);
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"order\":\"asc\",\"since\":%lld,%s}", t5 + 1, until),
                 "7,8,9,10,101,102,103", false);
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"order\":\"asc\",\"since\":\"2025-06-01T12:05:00Z\",%s}", until),
                 "6,7,8,9,10,101,102,103", false);
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"order\":\"asc\",\"since\":\"2025-06-01T14:05:00+02:00\",%s}", until),
                 "6,7,8,9,10,101,102,103", false);
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"order\":\"asc\",\"since\":\"2025-06-01T07:04:59.5-05:00\",%s}", until),
                 "6,7,8,9,10,101,102,103", false);
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"order\":\"asc\",\"since\":\"2025-06-01T12:05:00.000000001Z\",%s}",
                                until),
                 "7,8,9,10,101,102,103", false);
    expect_query(c,
                 "{\"kind\":\"gc\",\"order\":\"asc\",\"since\":\"2025-06-01T12:05:00Z\",\"until\":\"2025-06-01T12:07:00Z\"}",
                 "6,7,8", false);
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"order\":\"asc\",\"since\":%lld,\"until\":%lld}", t5, t5), "6", false);
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"order\":\"asc\",\"since\":\"1h\",%s}", until), "103", false);
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"order\":\"asc\",\"since\":\"150m\",%s}", until), "102,103", false);
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"order\":\"asc\",\"since\":\"2h30m\",%s}", until), "102,103", false);
    expect_query(c, kept_printf("{\"kind\":\"gc\",\"order\":\"asc\",\"since\":\"1d\",%s}", until), "101,102,103", false);
    expect_query(c, "{\"kind\":\"gc\",\"order\":\"asc\",\"since\":\"1d\",\"until\":\"100m\"}", "101,102", false);
    expect_query(c, "{\"kind\":\"gc\",\"order\":\"asc\",\"since\":\"1h\",\"until\":\"now\",\"limit\":1}", "103",
                 false);
    /* Nothing in range is an empty answer. */
    expect_query(c, "{\"kind\":\"gc\",\"since\":\"2025-06-02T00:00:00Z\",\"until\":\"2025-06-03T00:00:00Z\"}", "",
                 false);
    print_message("    13 seeded rows selected by ns, RFC 3339 (Z, +02:00, -05:00, fractions) and relative times\n");

    /* Bad arguments: EINVAL naming them. */
    static const char *const bad[][2] = {
        {"{\"kind\":\"gcs\"}", "kind"},
        {"{}", "kind"},
        {"{\"kind\":3}", "kind"},
        {"{\"kind\":\"gc\",\"since\":\"yesterday\"}", "since"},
        {"{\"kind\":\"gc\",\"since\":\"yesterday\"}", "yesterday"},
        {"{\"kind\":\"gc\",\"until\":\"2025-13-01T00:00:00Z\"}", "until"},
        {"{\"kind\":\"gc\",\"since\":-5}", "since"},
        {"{\"kind\":\"gc\",\"since\":true}", "since"},
        {"{\"kind\":\"gc\",\"since\":\"now\",\"until\":\"1h\"}", "since"},
        {"{\"kind\":\"gc\",\"since\":\"now\",\"until\":\"1h\"}", "until"},
        {"{\"kind\":\"gc\",\"order\":\"sideways\"}", "order"},
        {"{\"kind\":\"gc\",\"order\":1}", "order"},
        {"{\"kind\":\"gc\",\"limit\":0}", "limit"},
        {"{\"kind\":\"gc\",\"limit\":10001}", "limit"},
        {"{\"kind\":\"gc\",\"limit\":\"10\"}", "limit"},
        {"{\"kind\":\"gc\",\"bogus\":1}", "bogus"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *m = call_err(c, "history", bad[i][0], "EINVAL");
        if (!strstr(m, bad[i][1]))
            fail_msg("history %s: the message should name %s: %s", bad[i][0], bad[i][1], m);
    }
    print_message("    %zu bad argument sets refused with EINVAL naming the argument\n", sizeof bad / sizeof bad[0]);

    /* A peer of the read group reads gc rows, not the audit; its refused
     * mutating command is audited under its uid and pid. */
    if (geteuid() == 0) {
        assert_int_equal(chmod(fx.dir, 0711), 0);
        pid_t peer;
        int fd = connect_as(NOBODY, d->sock, &peer);
        if (fd < 0)
            fail_msg("connect as uid %d: %s", NOBODY, strerror(-fd));
        struct conn *p = conn_new(fd);
        read_msg(p, scaled(WAIT_MS));
        json_t *pr = history(p, kept_printf("{\"kind\":\"gc\",\"limit\":3,%s}", until));
        assert_string_equal(nums(pr), "103,102,101");
        expect_contains(call_err(p, "history", "{\"kind\":\"audit\"}", "EPERM"), "audit");
        call_err(p, "gc", NULL, "EPERM");
        json_t *rows;
        int64_t end = now_ms() + scaled(WAIT_MS);
        for (;;) {
            rows = get_array(history(c, "{\"kind\":\"audit\",\"limit\":1}"), "rows");
            if (json_array_size(rows) == 1 && get_int(json_array_get(rows, 0), "uid") == NOBODY)
                break;
            if (now_ms() > end)
                fail_msg("no audit row for the refused gc of uid %d: %s", NOBODY, show(rows));
            sleep_ms(20);
        }
        json_t *a = json_array_get(rows, 0);
        expect_columns(a, kept_printf("{\"uid\":%d,\"pid\":%d,\"command\":\"gc\",\"args\":\"{}\",\"outcome\":\"EPERM\"}",
                                      NOBODY, (int)peer));
        expect_contains(get_str(a, "message"), "uid 65534");
        print_message("    uid %d (read group): gc rows yes, audit EPERM; its refused gc audited with pid %d\n", NOBODY,
                      (int)peer);
    } else {
        print_message("    not root: the read-group peer part is skipped\n");
    }

    /* history_db = off: ENOTSUP, whatever the kind. */
    struct daemon *off = start_gortd("--socket", dir_path("off.sock"), "--history-db", "off", NULL);
    json_t *oh = get_obj(call(off->ctl, "stats", NULL), "history");
    assert_string_equal(get_str(oh, "state"), "off");
    expect_contains(call_err(off->ctl, "history", "{\"kind\":\"gc\"}", "ENOTSUP"), "off");
    call_err(off->ctl, "history", "{\"kind\":\"audit\"}", "ENOTSUP");
    call_err(off->ctl, "history", "{\"kind\":\"nope\"}", "EINVAL");
}

/* ---------------------------------------------------------------------
 * Plugin events
 * ------------------------------------------------------------------- */

/* The first row of rows (events, oldest first) of kind; fails when none. */
static json_t *event_row(json_t *rows, const char *kind)
{
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        if (strcmp(get_str(r, "kind"), kind) == 0)
            return r;
    }
    fail_msg("no %s row among %s", kind, show(rows));
    return NULL;
}

TEST(test_plugin_events_become_rows_a_panic_with_its_value_and_dump)
{
    const char *path = install_plugin("panicky.so");
    struct daemon *d = start_gortd("--plugin-dir", plugin_dir(), "--history-flush", "20", NULL);
    struct conn *c = d->ctl, *e = subscribe_events(d);
    wait_hstate(c, "ok", scaled(WAIT_MS));
    json_int_t id = get_int(call(c, "task.start", "{\"plugin\":\"panicky\",\"task\":\"boom\",\"args\":[\"out of cheese\"]}"),
                            "task_id");
    json_t *failed = wait_event(e, "plugin.failed", scaled(WAIT_MS));
    wait_event(e, "task.exited", scaled(WAIT_MS));
    call(c, "plugin.unload", "{\"name\":\"panicky\"}");
    wait_event(e, "plugin.unloaded", scaled(WAIT_MS));

    /* loaded, task.start, failed, task.exited, plugin.unload, unloaded. */
    json_t *rows = wait_rows(c, "events", 6, scaled(WAIT_MS));
    const char *kinds = "";
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        const char *kind = get_str(r, "kind");
        kinds = kept_printf("%s%s%s", kinds, i ? " " : "", kind);
        /* The operator's plugin.unload names the plugin "name" (PROTOCOL.md),
         * which is not copied to the plugin column; what happened to the
         * plugin has it there. */
        if (strcmp(kind, "plugin.unload") != 0)
            assert_string_equal(get_str(r, "plugin"), "panicky");
        json_error_t err;
        json_t *detail = keep(json_loads(get_str(r, "detail"), 0, &err));
        if (!json_is_object(detail))
            fail_msg("detail is not a JSON object: %s", show(r));
        assert_string_equal(get_str(detail, "kind"), get_str(r, "kind"));
        if (json_object_get(detail, "dump"))
            fail_msg("the dump has its own column, not a copy in detail: %s", show(r));
    }
    print_message("    rows: %s\n", kinds);
    assert_string_equal(kinds, "plugin.loaded task.start plugin.failed task.exited plugin.unload plugin.unloaded");

    json_t *loaded = event_row(rows, "plugin.loaded");
    expect_contains(get_str(loaded, "detail"), kept_printf("\"path\":\"%s\"", path));
    json_t *f = event_row(rows, "plugin.failed");
    assert_string_equal(get_str(f, "message"), "panicky: out of cheese");
    assert_string_equal(get_str(f, "message"), get_str(failed, "message"));
    const char *dump = get_str(f, "dump");
    expect_contains(dump, "goroutine ");
    expect_contains(dump, "panicky/boom");
    assert_string_equal(dump, get_str(failed, "dump"));
    assert_true(json_is_null(get(f, "task_id")) || get_int(f, "task_id") == id);
    json_t *x = event_row(rows, "task.exited");
    assert_int_equal(get_int(x, "task_id"), id);
    expect_contains(get_str(x, "detail"), "\"outcome\":\"panicked\"");
    assert_int_equal(get_int(event_row(rows, "task.start"), "task_id"), id);
    assert_true(json_is_null(get(event_row(rows, "plugin.unloaded"), "message")));
    expect_contains(get_str(event_row(rows, "plugin.unload"), "detail"), "\"name\":\"panicky\"");
    print_message("    plugin.failed: message \"%s\", a %zu-byte dump\n", get_str(f, "message"), strlen(dump));
}

/* ------------------------------------------------------------------- */

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    if (gortd_suite_init("test_gortd_history") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        T(test_every_collection_is_a_gc_row_with_the_numbers_of_its_gctrace_line),
        T(test_memstats_and_scheduler_samples_arrive_at_the_configured_period),
        T(test_sighup_keeps_the_history_settings_a_flag_gave),
        T(test_retention_keeps_at_most_history_max_rows_per_table),
        T(test_retention_drops_rows_older_than_history_max_age),
        T(test_each_mutating_command_gets_an_audit_row_with_its_peer_args_and_outcome),
        T(test_a_version_1_database_is_migrated_to_version_2_keeping_its_rows),
        T(test_a_database_of_a_newer_schema_is_refused_and_left_as_it_was),
        T(test_a_full_database_is_reported_the_daemon_serves_on_and_the_queued_rows_land_once_there_is_room),
        T(test_a_database_that_cannot_be_opened_is_reported_and_opened_once_the_path_is_fixed),
        T(test_a_file_that_is_not_a_database_is_reported_and_left_untouched),
        T(test_the_history_command_selects_by_time_orders_limits_and_checks_its_arguments),
        T(test_plugin_events_become_rows_a_panic_with_its_value_and_dump),
    };
    return cmocka_run_group_tests_name("gortd history", tests, NULL, NULL);
}
