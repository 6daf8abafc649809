/*
 * test_gortd_crash.c - the history database survives gortd being killed
 * (SPEC §7: "kill -9 at any moment leaves a database that passes PRAGMA
 * integrity_check.  At most the last unflushed second is lost").
 *
 * The acceptance item: a test kills gortd with SIGKILL at random moments
 * during heavy writing (at least 20 times); every time the database passes
 * PRAGMA integrity_check on restart and at most the last second is lost.
 *
 * One database file, DIR/history.db, serves ROUNDS rounds.  Each round:
 *
 *   - gortd starts on it (--history-flush 500, the default; samples every
 *     100 ms; retention off, so that no row ever goes away by design) with
 *     binarytrees and chanstress running (a plugin directory of its own),
 *     so that collections keep writing gc_cycles rows, and writes the
 *     plugin and task events;
 *   - the test pipelines setmemlimit requests over NCONN connections, WINDOW
 *     in flight on each, at most MAX_RATE a second, each with a value no
 *     other request carries: 2^40 + n, n counting up over the whole test.
 *     (setmemlimit rather than setgcpercent: a limit of a TiB changes
 *     nothing, while GOGC counting up to 10^5 would all but stop the
 *     collections that write gc_cycles.)  Plus a gc every GC_EVERY_MS.  A
 *     mutating command's audit record is enqueued before its answer is
 *     written (control.c: reply_line), so the CLOCK_MONOTONIC time the test
 *     has read the answer bounds when the row was handed to the history;
 *   - stats is polled every STATS_EVERY_MS: the history must be "ok" and
 *     drop nothing (a dropped record is not a crash loss: the test keeps
 *     the load under what the writer takes, and checks that it did);
 *   - at a random moment (a seeded PRNG; GORTD_CRASH_SEED=N replays a run)
 *     the test SIGKILLs the daemon and reaps it.
 *
 * After the kill, with no daemon running, the test opens the file itself
 * (read-only, leaving the WAL for the next gortd to recover) and checks:
 * PRAGMA integrity_check says exactly "ok"; the schema is version 2 in WAL
 * mode; every setmemlimit answered more than LOSS_BOUND_MS before the kill
 * has its audit row; no value has two rows or a row without a request; no
 * row seen after an earlier kill has gone, and no table has fewer rows.
 * Then the next round's gortd starts on the same file: its history must
 * become "ok" at schema version 2 with no failure, the file must pass
 * integrity_check again while it runs, and the daemon must hold exactly the
 * setmemlimit rows that were there after the kill.  The last round's
 * verification daemon is stopped with SIGTERM (exit 0) and the file checked
 * once more.  A sanitizer report in a killed daemon's stderr fails too
 * (TSan's do not stop the daemon, and a SIGKILL leaves no report at exit).
 *
 * Printed per round: the kill delay, the rows of all tables when the load
 * started and after the kill, the answers, the answered values missing
 * (all within the last second), the loss window (the kill time minus the
 * answer time of the oldest missing value), the WAL's size; then a summary
 * line.  The load lasts 0.2 to 2 s a round, under the sanitizers too (their
 * daemon answers fewer requests in it): the acceptance asks for at least
 * 20 kills everywhere.  About 30 s in all on 2 cores.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gortdutil.h"

#include <sqlite3.h>

#define ROUNDS 20
#define LOSS_BOUND_MS 1000        /* the acceptance: at most the last second is lost */
#define KILL_MIN_MS 200           /* the kill comes this long after the load started ... */
#define KILL_SPAN_MS 1800         /* ... plus up to this much more */
#define NCONN 4                   /* load connections */
#define WINDOW 8                  /* setmemlimit requests in flight on each */
#define MAX_RATE 6000             /* setmemlimit requests per second, at most */
#define GC_EVERY_MS 250           /* a gc request this often */
#define STATS_EVERY_MS 100
#define VALUE_BASE (INT64_C(1) << 40)
#define GC_ID_BASE (INT64_C(1) << 50)  /* ids of the gc requests; setmemlimit's are n */

static const char *const tables[] = {"gc_cycles",       "memstats_samples", "sched_samples",
                                     "scavenger_events", "plugin_events",    "audit"};
#define NTABLES ((int)(sizeof tables / sizeof tables[0]))

/* ---------------------------------------------------------------------
 * What the test knows about every setmemlimit value
 * ------------------------------------------------------------------- */

static struct {
    int64_t n;                    /* values sent: 0 .. n-1 */
    int64_t cap;
    int64_t *answered_ns;         /* CLOCK_MONOTONIC of the answer, 0: no answer read */
    uint8_t *state;               /* V_* below */
    uint64_t rng;
} cx;

enum { V_PRESENT = 1, V_EVER = 2 };

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t rnd(void)
{
    /* xorshift64* */
    cx.rng ^= cx.rng >> 12;
    cx.rng ^= cx.rng << 25;
    cx.rng ^= cx.rng >> 27;
    return cx.rng * UINT64_C(2685821657736338717);
}

static int64_t new_value(void)
{
    if (cx.n == cx.cap) {
        cx.cap = cx.cap ? cx.cap * 2 : 1 << 16;
        cx.answered_ns = realloc(cx.answered_ns, (size_t)cx.cap * sizeof *cx.answered_ns);
        cx.state = realloc(cx.state, (size_t)cx.cap);
        assert_non_null(cx.answered_ns);
        assert_non_null(cx.state);
        memset(cx.answered_ns + cx.n, 0, (size_t)(cx.cap - cx.n) * sizeof *cx.answered_ns);
        memset(cx.state + cx.n, 0, (size_t)(cx.cap - cx.n));
    }
    return cx.n++;
}

/* ---------------------------------------------------------------------
 * The database, read directly
 * ------------------------------------------------------------------- */

static const char *db_path(void)
{
    return dir_path("history.db");
}

/* A read-only connection: closing it leaves the WAL in place, so that the
 * next gortd recovers it itself. */
static sqlite3 *db_open_ro(void)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(db_path(), &db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK)
        fail_msg("open %s: %s", db_path(), db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_busy_timeout(db, scaled(WAIT_MS));
    return db;
}

static const char *db_text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) != SQLITE_ROW)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    const char *t = (const char *)sqlite3_column_text(st, 0);
    const char *v = kept_printf("%s", t ? t : "NULL");
    sqlite3_finalize(st);
    return v;
}

static int64_t db_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* PRAGMA integrity_check must say exactly "ok", in one row. */
static void integrity_check(sqlite3 *db, const char *when)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        fail_msg("integrity_check %s: %s", when, sqlite3_errmsg(db));
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    int rows = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (rows++ < 20)
            fprintf(m, "%s%s", rows > 1 ? " | " : "", t ? (const char *)t : "NULL");
    }
    fclose(m);
    const char *got = kept_string(text, len);
    free(text);
    if (rc != SQLITE_DONE)
        fail_msg("integrity_check %s failed: %s (after %d rows: %s)", when, sqlite3_errmsg(db), rows, got);
    sqlite3_finalize(st);
    if (rows != 1 || strcmp(got, "ok") != 0)
        fail_msg("integrity_check %s: %d rows: %s", when, rows, got);
}

static void db_counts(sqlite3 *db, int64_t counts[NTABLES])
{
    for (int t = 0; t < NTABLES; t++)
        counts[t] = db_int(db, kept_printf("SELECT count(*) FROM %s", tables[t]));
}

static int64_t total(const int64_t counts[NTABLES])
{
    int64_t s = 0;
    for (int t = 0; t < NTABLES; t++)
        s += counts[t];
    return s;
}

/* Mark the values whose setmemlimit row is in the database (V_PRESENT,
 * cleared first); a row twice, or for a value never sent, fails.  The
 * number of rows. */
static int64_t scan_audit(sqlite3 *db)
{
    for (int64_t i = 0; i < cx.n; i++)
        cx.state[i] &= (uint8_t)~V_PRESENT;
    sqlite3_stmt *st;
    const char *sql = "SELECT args, outcome FROM audit WHERE command = 'setmemlimit'";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    int64_t rows = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *args = (const char *)sqlite3_column_text(st, 0);
        const char *outcome = (const char *)sqlite3_column_text(st, 1);
        long long bytes;
        int used = 0;
        if (!args || sscanf(args, "{\"bytes\":%lld}%n", &bytes, &used) != 1 || args[used] != '\0')
            fail_msg("an audit row of setmemlimit has args %s", args ? args : "NULL");
        if (!outcome || strcmp(outcome, "ok") != 0)
            fail_msg("the audit row of setmemlimit %s has outcome %s", args, outcome ? outcome : "NULL");
        int64_t v = bytes - VALUE_BASE;
        if (v < 0 || v >= cx.n)
            fail_msg("an audit row of setmemlimit %s, a value the test never sent (%lld sent)", args,
                     (long long)cx.n);
        if (cx.state[v] & V_PRESENT)
            fail_msg("two audit rows of setmemlimit %s", args);
        cx.state[v] |= V_PRESENT;
        rows++;
    }
    if (rc != SQLITE_DONE)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rows;
}

/* ---------------------------------------------------------------------
 * The daemon
 * ------------------------------------------------------------------- */

static char plugdir[PATH_MAX];

static void install_plugin(const char *file)
{
    const char *src = kept_printf("%s/plugins/%s", g_build, file);
    const char *dst = kept_printf("%s/%s", plugdir, file);
    FILE *in = fopen(src, "re");
    if (!in)
        fail_msg("%s: %s", src, strerror(errno));
    int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        fail_msg("create %s: %s", dst, strerror(errno));
    char buf[65536];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(write(fd, buf, r), (ssize_t)r);
    fclose(in);
    assert_int_equal(fchmod(fd, 0644), 0);
    assert_int_equal(close(fd), 0);
}

/* A sanitizer that does not stop the daemon (TSan's reports) only speaks
 * in its stderr, and a SIGKILLed daemon never reports at exit: look. */
static void expect_no_sanitizer_report(struct daemon *d, int round)
{
    static const char *const marks[] = {"WARNING: ThreadSanitizer", "ERROR: AddressSanitizer",
                                        "ERROR: LeakSanitizer", "runtime error:"};
    FILE *f = fopen(d->log, "re");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    const char *found = NULL;
    while (!found && getline(&line, &cap, f) > 0)
        for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
            if (strstr(line, marks[i]))
                found = marks[i];
    free(line);
    fclose(f);
    if (found)
        fail_msg("round %d: gortd's stderr has a sanitizer report (%s)", round, found);
}

static json_t *history_of(struct conn *c)
{
    return get_obj(call(c, "stats", NULL), "history");
}

/* Start gortd on the database and wait until its history is open: the
 * history part of stats then. */
static struct daemon *start_daemon(json_t **hist)
{
    /* One daemon at a time: the previous one is reaped, its slot (and log
     * file) is reused, so that any number of rounds fit the fixture. */
    assert_true(fx.nd == 0 || fx.d[fx.nd - 1].reaped);
    fx.nd = 0;
    struct daemon *d = start_gortd("--history-db", db_path(), "--history-flush", "500", "--sample-interval", "100",
                                   "--history-max-rows", "0", "--history-max-age", "0", "--plugin-dir", plugdir,
                                   NULL);
    int64_t end = now_ms() + scaled(WAIT_MS);
    json_t *h;
    while (strcmp(get_str(h = history_of(d->ctl), "state"), "ok") != 0) {
        if (strcmp(get_str(h, "state"), "opening") != 0 || now_ms() > end)
            fail_msg("the history of the restarted gortd is not ok: %s", show(h));
        sleep_ms(5);
    }
    *hist = h;
    return d;
}

/* ---------------------------------------------------------------------
 * The load
 * ------------------------------------------------------------------- */

struct lconn {
    int fd;                       /* a struct conn's: fx.conns closes it */
    int inflight;
    char *buf;
    size_t len, cap;
};

static struct lconn lc[NCONN];

static void lsend(struct lconn *l, const char *line, size_t n)
{
    /* WINDOW short lines in flight hardly fill a socket buffer. */
    while (n > 0) {
        ssize_t w = send(l->fd, line, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
            struct pollfd p = {l->fd, POLLOUT, 0};
            if (poll(&p, 1, scaled(WAIT_MS)) == 0)
                fail_msg("gortd read no request for %d ms", scaled(WAIT_MS));
            continue;
        }
        if (w <= 0)
            fail_msg("send to gortd: %s", w < 0 ? strerror(errno) : "0 bytes");
        line += w;
        n -= (size_t)w;
    }
}

static void send_setmemlimit(struct lconn *l)
{
    int64_t v = new_value();
    char line[160];
    int n = snprintf(line, sizeof line, "{\"id\":%lld,\"cmd\":\"setmemlimit\",\"args\":{\"bytes\":%lld}}\n",
                     (long long)v, (long long)(VALUE_BASE + v));
    lsend(l, line, (size_t)n);
    l->inflight++;
}

static void send_gc(struct lconn *l, int64_t k)
{
    char line[96];
    int n = snprintf(line, sizeof line, "{\"id\":%lld,\"cmd\":\"gc\"}\n", (long long)(GC_ID_BASE + k));
    lsend(l, line, (size_t)n);
    l->inflight++;
}

/* Take the whole answers in l's buffer.  Answers: setmemlimit ones
 * (answered). */
static int64_t take_answers(struct lconn *l, int64_t at)
{
    int64_t answered = 0;
    size_t off = 0;
    char *nl;
    while ((nl = memchr(l->buf + off, '\n', l->len - off))) {
        *nl = '\0';
        const char *line = l->buf + off;
        long long id;
        int used = 0;
        if (sscanf(line, "{\"id\":%lld,\"ok\":true%n", &id, &used) != 1 || used == 0)
            fail_msg("gortd answered a load request with %.300s", line);
        if (id >= GC_ID_BASE) {
            /* a gc */
        } else if (id >= 0 && id < cx.n && cx.answered_ns[id] == 0) {
            cx.answered_ns[id] = at;
            answered++;
        } else {
            fail_msg("an answer to a request the test did not send, or a second one: %.300s", line);
        }
        l->inflight--;
        off = (size_t)(nl - l->buf) + 1;
    }
    memmove(l->buf, l->buf + off, l->len - off);
    l->len -= off;
    return answered;
}

struct round {
    int64_t delay_ms;             /* from the load's start to the kill: drawn, then as it happened */
    int64_t first, last;          /* values sent: [first, last) */
    int64_t answers;
    int64_t written, batches;     /* stats.history at the last poll */
    int64_t gcs;
    int64_t polled_ns;            /* when the last stats poll (no drop) was sent */
    int64_t kill_ns;
};

/* Run the load on d until the kill, kill it and reap it. */
static void load_and_kill(struct daemon *d, struct round *r)
{
    struct pollfd pf[NCONN];
    for (int i = 0; i < NCONN; i++) {
        struct conn *c = conn_open(d);
        lc[i] = (struct lconn){.fd = c->fd, .cap = 1 << 20};
        lc[i].buf = malloc(lc[i].cap);
        assert_non_null(lc[i].buf);
        pf[i] = (struct pollfd){c->fd, POLLIN, 0};
    }
    r->first = cx.n;
    int64_t start = mono_ns();
    r->kill_ns = start + r->delay_ms * 1000000;
    int64_t next_stats = start + STATS_EVERY_MS * 1000000, next_gc = start + GC_EVERY_MS * 1000000;
    int64_t sent = 0;
    for (int i = 0; i < NCONN; i++)
        while (lc[i].inflight < WINDOW)
            send_setmemlimit(&lc[i]), sent++;
    for (;;) {
        int64_t now = mono_ns();
        if (now >= r->kill_ns)
            break;
        if (now >= next_stats) {
            int64_t sent_at = mono_ns();
            json_t *h = history_of(d->ctl);
            if (strcmp(get_str(h, "state"), "ok") != 0 || get_int(h, "dropped") != 0)
                fail_msg("while the load runs, the history should be ok and drop nothing: %s", show(h));
            r->written = get_int(h, "written");
            r->batches = get_int(h, "batches");
            r->polled_ns = sent_at;
            next_stats = mono_ns() + STATS_EVERY_MS * 1000000;
        }
        if (now >= next_gc) {
            send_gc(&lc[r->gcs % NCONN], r->gcs);
            r->gcs++;
            next_gc = now + GC_EVERY_MS * 1000000;
        }
        int64_t wake = r->kill_ns < next_stats ? r->kill_ns : next_stats;
        if (next_gc < wake)
            wake = next_gc;
        /* The next request the rate allows, when a window has room. */
        for (int i = 0; i < NCONN; i++)
            if (lc[i].inflight < WINDOW) {
                int64_t t = start + (sent + 1 - NCONN * WINDOW) * 1000000000 / MAX_RATE;
                if (t < wake)
                    wake = t;
                break;
            }
        int ms = (int)((wake - now + 999999) / 1000000);
        int rc = poll(pf, NCONN, ms > 0 ? ms : 0);
        if (rc < 0 && errno == EINTR)
            continue;
        assert_true(rc >= 0);
        for (int i = 0; i < NCONN; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            struct lconn *l = &lc[i];
            if (l->cap - l->len < 4096) {
                l->cap *= 2;
                l->buf = realloc(l->buf, l->cap);
                assert_non_null(l->buf);
            }
            ssize_t got = recv(l->fd, l->buf + l->len, l->cap - l->len - 1, 0);
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
                fail_msg("gortd closed a load connection before the kill");
            if (got > 0) {
                /* After the recv: the daemon wrote these answers, and so
                 * enqueued their audit records, before this time. */
                int64_t at = mono_ns();
                l->len += (size_t)got;
                r->answers += take_answers(l, at);
            }
        }
        /* Keep the windows full, at most MAX_RATE a second on average. */
        int64_t allowed = (mono_ns() - start) * MAX_RATE / 1000000000 + NCONN * WINDOW;
        for (int i = 0; i < NCONN; i++)
            while (lc[i].inflight < WINDOW && sent < allowed)
                send_setmemlimit(&lc[i]), sent++;
    }
    r->kill_ns = mono_ns();
    r->delay_ms = (r->kill_ns - start) / 1000000;
    if (kill(d->pid, SIGKILL) != 0)
        fail_msg("kill %d: %s", (int)d->pid, strerror(errno));
    if (!reap(d, scaled(WAIT_MS)))
        fail_msg("gortd (pid %d) did not die within %d ms of SIGKILL", (int)d->pid, scaled(WAIT_MS));
    if (!WIFSIGNALED(d->status) || WTERMSIG(d->status) != SIGKILL)
        fail_msg("gortd ended with %s before the kill", status_text(d->status));
    /* Answers still in the sockets came too late to count. */
    for (int i = 0; i < NCONN; i++) {
        free(lc[i].buf);
        lc[i].buf = NULL;
    }
    for (struct conn *c = fx.conns; c; c = c->next)
        conn_close(c);
    r->last = cx.n;
}

/* ---------------------------------------------------------------------
 * The test
 * ------------------------------------------------------------------- */

TEST(test_sigkill_at_random_moments_during_heavy_writing_keeps_the_history_intact_and_loses_at_most_a_second)
{
    const char *s = getenv("GORTD_CRASH_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 0) : (uint64_t)wall_ns() ^ (uint64_t)getpid() << 32;
    cx = (typeof(cx)){.rng = seed ? seed : 1};
    print_message("seed %llu (GORTD_CRASH_SEED=%llu replays the kill delays)\n", (unsigned long long)seed,
                  (unsigned long long)seed);

    snprintf(plugdir, sizeof plugdir, "%s/plugins", fx.dir);
    assert_int_equal(mkdir(plugdir, 0755), 0);
    assert_int_equal(chmod(plugdir, 0755), 0);
    install_plugin("binarytrees.so");
    install_plugin("chanstress.so");

    int64_t counts[NTABLES], prev[NTABLES] = {0};
    int64_t prev_audit_rows = -1;
    int64_t worst_ns = 0, total_answers = 0, total_missing = 0, checked = 0;
    int worst_round = -1;
    int64_t t0 = now_ms();
    json_t *h;
    struct daemon *d = start_daemon(&h);
    for (int round = 0; round < ROUNDS; round++) {
        /* The restart: the history opened the file the last kill left. */
        if (get_int(h, "schema_version") != 2 || get_int(h, "failures") != 0 ||
            !json_is_null(json_object_get(h, "error")))
            fail_msg("round %d: the history after the restart: %s", round, show(h));
        sqlite3 *db = db_open_ro();
        integrity_check(db, kept_printf("after restart %d, while gortd runs", round));
        if (round > 0) {
            int64_t rows = scan_audit(db);
            if (rows != prev_audit_rows)
                fail_msg("round %d: the restarted gortd's database has %lld setmemlimit rows, %lld after the kill",
                         round, (long long)rows, (long long)prev_audit_rows);
        }
        int64_t before[NTABLES];
        db_counts(db, before);
        for (int t = 0; t < NTABLES; t++)
            if (before[t] < prev[t])
                fail_msg("round %d: %s has %lld rows after the restart, %lld before", round, tables[t],
                         (long long)before[t], (long long)prev[t]);
        sqlite3_close(db);

        /* The load: collections, samples, events, and the audited requests. */
        call(d->ctl, "task.start", "{\"plugin\":\"binarytrees\",\"task\":\"run\",\"args\":[\"12\"]}");
        call(d->ctl, "task.start", "{\"plugin\":\"chanstress\",\"task\":\"run\",\"args\":[\"2\",\"2\",\"16\"]}");
        struct round r = {.delay_ms = KILL_MIN_MS + (int64_t)(rnd() % (KILL_SPAN_MS + 1))};
        load_and_kill(d, &r);
        expect_no_sanitizer_report(d, round);

        /* The file as the kill left it: the WAL holds what the next gortd
         * recovers (or what this connection reads through). */
        struct stat wal;
        int64_t wal_bytes = stat(kept_printf("%s-wal", db_path()), &wal) == 0 ? (int64_t)wal.st_size : -1;
        db = db_open_ro();
        integrity_check(db, kept_printf("after kill %d", round));
        if (db_int(db, "PRAGMA user_version") != 2 || strcmp(db_text(db, "PRAGMA journal_mode"), "wal") != 0)
            fail_msg("round %d: after the kill, user_version %lld and journal_mode %s (2 and wal expected)", round,
                     (long long)db_int(db, "PRAGMA user_version"), db_text(db, "PRAGMA journal_mode"));
        db_counts(db, counts);
        int64_t audit_rows = scan_audit(db);
        sqlite3_close(db);
        for (int t = 0; t < NTABLES; t++)
            if (counts[t] < before[t])
                fail_msg("round %d: %s has %lld rows after the kill, %lld before the round", round, tables[t],
                         (long long)counts[t], (long long)before[t]);
        for (int64_t v = 0; v < cx.n; v++)
            if ((cx.state[v] & V_EVER) && !(cx.state[v] & V_PRESENT))
                fail_msg("round %d: the audit row of setmemlimit %lld, there after an earlier kill, is gone",
                         round, (long long)(VALUE_BASE + v));

        /* What was lost: answered values without their row.  A record
         * dropped from the full queue is no crash loss: every stats poll
         * found none dropped, and the last one was sent less than
         * LOSS_BOUND_MS before the kill, after every answer the bound
         * covers, whose records were enqueued before their answers. */
        int64_t missing = 0, missing_old = 0, oldest = INT64_MAX, late = 0, kept = 0, old = 0;
        int64_t bound = r.kill_ns - (int64_t)LOSS_BOUND_MS * 1000000;
        for (int64_t v = r.first; v < r.last; v++) {
            int64_t a = cx.answered_ns[v];
            bool in = cx.state[v] & V_PRESENT;
            if (a == 0) {
                late += in;
                continue;
            }
            kept += in;
            old += a <= bound;
            if (in)
                continue;
            missing++;
            missing_old += a <= bound;
            if (a < oldest)
                oldest = a;
        }
        if (old > 0 && r.polled_ns < bound)
            fail_msg("round %d: no stats poll in the last %d ms before the kill", round, LOSS_BOUND_MS);
        int64_t window = missing ? r.kill_ns - oldest : 0;
        print_message("round %2d: kill after %4lld ms; rows %6lld -> %6lld (audit %lld, gc %lld, samples %lld); "
                      "%lld answered (%lld over %d ms before the kill), %lld of them kept, %lld lost (%lld over "
                      "%d ms before the kill), %lld unanswered kept; loss window %lld ms; history written %lld "
                      "in %lld batches at the last poll; WAL %lld KiB at the kill\n",
                      round, (long long)r.delay_ms, (long long)total(before), (long long)total(counts),
                      (long long)counts[5], (long long)counts[0], (long long)counts[1], (long long)r.answers,
                      (long long)old, LOSS_BOUND_MS, (long long)kept, (long long)missing, (long long)missing_old,
                      LOSS_BOUND_MS, (long long)late, (long long)(window / 1000000), (long long)r.written,
                      (long long)r.batches, (long long)(wal_bytes < 0 ? -1 : wal_bytes / 1024));
        if (missing_old)
            fail_msg("round %d: %lld setmemlimit requests answered more than %d ms before the kill have no audit "
                     "row; the oldest was answered %lld ms before the kill",
                     round, (long long)missing_old, LOSS_BOUND_MS, (long long)(window / 1000000));
        checked += old;
        if (window > worst_ns) {
            worst_ns = window;
            worst_round = round;
        }
        total_answers += r.answers;
        total_missing += missing;
        for (int64_t v = 0; v < cx.n; v++)
            if (cx.state[v] & V_PRESENT)
                cx.state[v] |= V_EVER;
        prev_audit_rows = audit_rows;
        memcpy(prev, counts, sizeof prev);

        /* The restart, checked at the top of the next round (or below). */
        d = start_daemon(&h);
    }

    /* The last restart, then a clean stop. */
    if (get_int(h, "schema_version") != 2 || get_int(h, "failures") != 0)
        fail_msg("the history after the last restart: %s", show(h));
    sqlite3 *db = db_open_ro();
    integrity_check(db, "after the last restart, while gortd runs");
    if (scan_audit(db) != prev_audit_rows)
        fail_msg("the last restarted gortd's database lost setmemlimit rows");
    sqlite3_close(db);
    if (!stop_daemon(d))
        fail_msg("gortd did not exit 0 on SIGTERM: %s", status_text(d->status));
    db = db_open_ro();
    integrity_check(db, "after the clean stop");
    db_counts(db, counts);
    for (int t = 0; t < NTABLES; t++)
        if (counts[t] < prev[t])
            fail_msg("%s has %lld rows after the clean stop, %lld before", tables[t], (long long)counts[t],
                     (long long)prev[t]);
    sqlite3_close(db);
    print_message("%d SIGKILLs: integrity_check ok after each kill and each restart; %lld rows in the end "
                  "(audit %lld, gc_cycles %lld, memstats_samples %lld); %lld setmemlimit answers, %lld of them "
                  "answered over %d ms before their kill, all kept; %lld lost, all within the last %d ms; "
                  "worst loss window %lld ms (round %d); %lld ms\n",
                  ROUNDS, (long long)total(counts), (long long)counts[5], (long long)counts[0],
                  (long long)counts[1], (long long)total_answers, (long long)checked, LOSS_BOUND_MS,
                  (long long)total_missing, LOSS_BOUND_MS, (long long)(worst_ns / 1000000), worst_round,
                  (long long)(now_ms() - t0));
}

/* The fixture's teardown, after freeing what a failed round left. */
static int crash_teardown(void **state)
{
    for (int i = 0; i < NCONN; i++) {
        free(lc[i].buf);
        lc[i].buf = NULL;
    }
    free(cx.answered_ns);
    free(cx.state);
    cx.answered_ns = NULL;
    cx.state = NULL;
    return teardown(state);
}

int main(void)
{
    if (gortd_suite_init("test_gortd_crash") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_sigkill_at_random_moments_during_heavy_writing_keeps_the_history_intact_and_loses_at_most_a_second,
            setup, crash_teardown),
    };
    return cmocka_run_group_tests_name("gortd crash safety", tests, NULL, NULL);
}
