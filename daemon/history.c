/*
 * history.c - what the daemon observes, kept in SQLite (SPEC §7).
 *
 * One thread, the writer, owns the database connection.  Producers - the
 * collector's goroutine and sysmon through the runtime's observer, the
 * event loop for samples, plugin events and the audit of mutating
 * commands - copy a fixed-size record into a bounded ring and go on: an
 * enqueue is a few atomic operations and a copy, never a lock, a system
 * call or a wait.  A full ring drops the record and counts it.  (The
 * loop's producers also copy their strings with malloc, and wake the
 * writer early once the ring is a quarter full: see loop_put.)
 *
 * The ring is Vyukov's bounded queue: each slot carries a sequence number
 * that says whose turn it is.  A producer claims the slot at tail with a
 * CAS and publishes it by storing seq = pos + 1 (release); the writer, the
 * only consumer, takes slot head when seq == head + 1 (acquire) and hands
 * it back to the producers of the next lap with seq = head + capacity.
 *
 * The writer wakes every history_flush_ms (sooner while records pour in),
 * takes what is queued and writes it in one transaction.  The database is
 * in WAL mode with synchronous=NORMAL: a committed transaction survives
 * the process being killed, so a crash loses at most the records of the
 * last period.  When the database cannot be opened or written (missing
 * permission, a full disk or the max_page_count limit, corruption, a
 * schema from a newer gortd) the writer keeps the batch it could not
 * write, reports the error in `stats`, the log and an event, and tries
 * again with a growing delay (1 s to 30 s); records that arrive meanwhile
 * wait in the ring until it is full.  Old rows are pruned by age and by
 * count a few thousand at a time, each step its own short transaction.
 *
 * Queries (the `history` command) open their own read-only connection on
 * a job thread: in WAL mode readers never wait for the writer, nor it for
 * them.
 */
#include "gortd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gort/gort.h"

#define RING_SLOTS 8192               /* a power of two */
#define PRUNE_CHUNK 5000              /* rows per table per pruning step */
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000
#define AUDIT_ARGS_MAX 4096           /* bytes of a command's arguments kept */
#define QUERY_MAX_ROWS 10000
#define QUERY_MAX_BYTES (16 << 20)    /* text and blobs in one answer */
#define QUERY_TIMEOUT_NS (5 * (int64_t)1000000000)

/* ------------------------------------------------------------------ */
/* Records                                                              */

enum rec_kind { R_GC, R_MEMSTATS, R_SCHED, R_SCAV, R_EVENT, R_AUDIT, NKINDS };

struct mem_sample {
    uint64_t rss, sys, heap_alloc, heap_sys, heap_idle, heap_inuse, heap_released, heap_objects;
    uint64_t total_alloc, mallocs, frees, stack_inuse, stack_sys, next_gc, pause_total_ns;
    int64_t memory_limit;
    uint32_t num_gc, num_forced_gc;
    int32_t goroutines;
    double gc_cpu_fraction;
};

struct event_rec {
    char kind[32];
    char plugin[64];
    int64_t task_id;                  /* 0: none */
    char *message;                    /* owned, may be NULL: panic value, error */
    char *dump;                       /* owned, may be NULL */
    char *detail;                     /* owned JSON text */
};

struct audit_rec {
    uint32_t uid;
    int32_t pid;
    char command[32];
    char outcome[16];                 /* "ok" or an error code */
    char *args;                       /* owned JSON text */
    char *message;                    /* owned, may be NULL */
};

struct rec {
    enum rec_kind kind;
    int64_t time_ns;                  /* CLOCK_REALTIME */
    union {
        gort_gc_cycle gc;
        struct mem_sample mem;
        gort_sched_stats sched;
        gort_scav_pass scav;
        struct event_rec ev;
        struct audit_rec audit;
    } u;
};

static void rec_free(struct rec *r)
{
    if (r->kind == R_EVENT) {
        free(r->u.ev.message);
        free(r->u.ev.dump);
        free(r->u.ev.detail);
    } else if (r->kind == R_AUDIT) {
        free(r->u.audit.args);
        free(r->u.audit.message);
    }
}

/* ------------------------------------------------------------------ */
/* The ring                                                             */

struct slot {
    _Atomic uint64_t seq;
    struct rec rec;
};

/* malloc'd, not static: the collector scans the daemon's data and bss as
 * roots, and this holds nothing it should look at. */
static struct slot *ring;
static _Atomic uint64_t ring_tail;     /* next position a producer claims */
static _Atomic uint64_t ring_head;     /* the writer's next position (only it stores) */
static _Atomic uint64_t ring_dropped;
static _Atomic bool ring_open;         /* the writer runs (or will): accept records */

static bool ring_init(void)
{
    ring = malloc(RING_SLOTS * sizeof *ring);
    if (!ring)
        return false;
    for (uint64_t i = 0; i < RING_SLOTS; i++)
        atomic_store_explicit(&ring[i].seq, i, memory_order_relaxed);
    return true;
}

/* Copy r in (its strings now belong to the ring), or drop it (freeing
 * them) when the ring is full or history is off.  Any thread. */
static bool ring_put(struct rec *r)
{
    if (!atomic_load_explicit(&ring_open, memory_order_acquire)) {
        rec_free(r);
        return false;
    }
    uint64_t pos = atomic_load_explicit(&ring_tail, memory_order_relaxed);
    for (;;) {
        struct slot *s = &ring[pos & (RING_SLOTS - 1)];
        uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        int64_t diff = (int64_t)(seq - pos);
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&ring_tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                s->rec = *r;
                atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
                return true;
            }
        } else if (diff < 0) {
            atomic_fetch_add_explicit(&ring_dropped, 1, memory_order_relaxed);
            rec_free(r);
            return false;
        } else {
            pos = atomic_load_explicit(&ring_tail, memory_order_relaxed);
        }
    }
}

/* The writer: the oldest record, if one is published. */
static bool ring_take(struct rec *out)
{
    uint64_t head = atomic_load_explicit(&ring_head, memory_order_relaxed);
    struct slot *s = &ring[head & (RING_SLOTS - 1)];
    uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (seq != head + 1)
        return false;
    *out = s->rec;
    atomic_store_explicit(&s->seq, head + RING_SLOTS, memory_order_release);
    atomic_store_explicit(&ring_head, head + 1, memory_order_relaxed);
    return true;
}

/* ------------------------------------------------------------------ */
/* Schema                                                               */

/* Each step takes the schema from version i to i + 1, in one transaction
 * with the new user_version.  Never edit a step once released: add one. */
static const char *const migrations[] = {
    /* 1: the tables, each with an index on its time for range queries. */
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
    "CREATE INDEX audit_time ON audit(time_ns);",
    /* 2: why a cycle started and the goal it set; the process's RSS in
     * samples; events by plugin. */
    "ALTER TABLE gc_cycles ADD COLUMN reason TEXT;"
    "ALTER TABLE gc_cycles ADD COLUMN next_goal INTEGER;"
    "ALTER TABLE memstats_samples ADD COLUMN rss INTEGER;"
    "CREATE INDEX plugin_events_plugin ON plugin_events(plugin, time_ns);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* The tables in record-kind order, with the insert of each. */
static const struct table {
    const char *name;
    const char *kind;                 /* the history command's name for it */
    const char *insert;
} tables[NKINDS] = {
    [R_GC] = {"gc_cycles", "gc",
              "INSERT INTO gc_cycles (time_ns, end_ns, num, forced, procs, cpu_percent, since_start_ns,"
              " sweepterm_ns, mark_ns, marktermination_ns, sweepterm_cpu_ns, assist_cpu_ns,"
              " background_cpu_ns, idle_cpu_ns, marktermination_cpu_ns, heap_start, heap_end, heap_marked,"
              " heap_goal, stacks, globals, pause_ns, reason, next_goal)"
              " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
    [R_MEMSTATS] = {"memstats_samples", "memstats",
                    "INSERT INTO memstats_samples (time_ns, sys, heap_alloc, heap_sys, heap_idle, heap_inuse,"
                    " heap_released, heap_objects, total_alloc, mallocs, frees, stack_inuse, stack_sys, next_gc,"
                    " num_gc, num_forced_gc, pause_total_ns, gc_cpu_fraction, goroutines, memory_limit, rss)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
    [R_SCHED] = {"sched_samples", "sched",
                 "INSERT INTO sched_samples (time_ns, gomaxprocs, idleprocs, threads, spinning_threads,"
                 " idle_threads, runqueue, goroutines, syscalls) VALUES (?,?,?,?,?,?,?,?,?)"},
    [R_SCAV] = {"scavenger_events", "scavenger",
                "INSERT INTO scavenger_events (time_ns, kind, num, released, heap_inuse, heap_idle, heap_sys,"
                " heap_released) VALUES (?,?,?,?,?,?,?,?)"},
    [R_EVENT] = {"plugin_events", "events",
                 "INSERT INTO plugin_events (time_ns, kind, plugin, task_id, message, dump, detail)"
                 " VALUES (?,?,?,?,?,?,?)"},
    [R_AUDIT] = {"audit", "audit",
                 "INSERT INTO audit (time_ns, uid, pid, command, args, outcome, message) VALUES (?,?,?,?,?,?,?)"},
};

/* ------------------------------------------------------------------ */
/* State                                                                */

struct writer_settings {
    int flush_ms;
    int64_t max_age_ns;
    int max_rows;
    int64_t max_size;
};

enum hstate { H_OFF, H_OPENING, H_OK, H_ERROR };
static const char *const state_names[] = {"off", "opening", "ok", "error"};

static struct {
    pthread_t thread;
    bool started;
    char *path;
    pthread_mutex_t mu;               /* the settings, stop, the error report */
    pthread_cond_t cv;                /* wakes the writer */
    pthread_cond_t state_cv;          /* the state changed (queries wait out "opening") */
    bool stop;
    bool kick;                        /* the queue is filling: write now */
    struct writer_settings ws;        /* the writer copies them each round */
    bool resize;                      /* max_size changed */
    /* The report (under mu). */
    enum hstate state;
    char error[512];
    int64_t error_since_ns;
    uint64_t failures;                /* open or write attempts that failed */
    int schema_version;
    /* Counters (atomics: stats reads them without the lock). */
    _Atomic uint64_t written, batches, pruned;
    _Atomic int64_t last_commit_ns;
    _Atomic uint64_t pending;         /* records held for a retry */
} h = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
};

static _Atomic bool kicked;           /* a kick is on its way (loop_put) */

/* The writer's own. */
static sqlite3 *db;
static sqlite3_stmt *ins[NKINDS];
static int64_t rows[NKINDS];          /* rows in each table */
static int64_t added[NKINDS];         /* inserted since the last pruning */

static void set_state(enum hstate st, const char *err)
{
    pthread_mutex_lock(&h.mu);
    enum hstate old = h.state;
    bool same = old == st && (!err || strcmp(err, h.error) == 0);
    h.state = st;
    if (old != st)
        pthread_cond_broadcast(&h.state_cv);
    if (err) {
        if (!same)
            h.error_since_ns = wall_ns();
        snprintf(h.error, sizeof h.error, "%s", err);
        h.failures++;
    } else {
        h.error[0] = '\0';
        h.error_since_ns = 0;
    }
    pthread_mutex_unlock(&h.mu);
    if (same)
        return;
    if (st == H_ERROR) {
        logmsg(LOG_P_ERR, "history %s: %s; retrying", h.path, err);
        control_post_event("history.failed", json_pack("{s:s, s:s}", "path", h.path, "error", err));
    } else if (st == H_OK && old == H_ERROR) {
        logmsg(LOG_P_NOTICE, "history %s: writing again", h.path);
        control_post_event("history.recovered", json_pack("{s:s}", "path", h.path));
    }
}

/* ------------------------------------------------------------------ */
/* Opening                                                              */

static void db_close(void)
{
    for (int k = 0; k < NKINDS; k++) {
        sqlite3_finalize(ins[k]);
        ins[k] = NULL;
    }
    if (db)
        sqlite3_close_v2(db);
    db = NULL;
}

/* "what: sqlite's message" into err. */
static void db_error(char *err, size_t n, const char *what)
{
    snprintf(err, n, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static bool exec(const char *sql, char *err, size_t n, const char *what)
{
    char *m = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &m) == SQLITE_OK)
        return true;
    snprintf(err, n, "%s: %s", what, m ? m : sqlite3_errmsg(db));
    sqlite3_free(m);
    return false;
}

static bool pragma_int(const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    bool ok = sqlite3_step(st) == SQLITE_ROW;
    if (ok && out)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return ok;
}

static void apply_max_size(int64_t max_size)
{
    if (!db)
        return;
    int64_t page = 4096, pages;
    pragma_int("PRAGMA page_size", &page);
    /* SQLite's own limit; 4294967294 pages is its largest. */
    pages = max_size == INT64_MAX ? 4294967294LL : max_size / (page > 0 ? page : 4096);
    if (pages < 1)
        pages = 1;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)pages);
    pragma_int(sql, NULL);
}

/* The database's schema version, if this gortd can use it.  Nothing is
 * written before this says yes. */
static bool check_version(int64_t *version, char *err, size_t n)
{
    int64_t v = 0;
    if (!pragma_int("PRAGMA user_version", &v)) {
        db_error(err, n, "reading the schema version");
        return false;
    }
    *version = v;
    if (v > SCHEMA_VERSION) {
        snprintf(err, n, "the database has schema version %lld, newer than this gortd's %d; not touching it "
                         "(run a newer gortd, or move the file aside)", (long long)v, SCHEMA_VERSION);
        return false;
    }
    if (v < 0) {
        snprintf(err, n, "the database has schema version %lld, which gortd never wrote", (long long)v);
        return false;
    }
    return true;
}

static bool migrate(int64_t v, char *err, size_t n)
{
    for (int i = (int)v; i < SCHEMA_VERSION; i++) {
        char sql[64], what[64];
        snprintf(what, sizeof what, "migrating the schema to version %d", i + 1);
        if (!exec("BEGIN IMMEDIATE", err, n, what))
            return false;
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", i + 1);
        if (!exec(migrations[i], err, n, what) || !exec(sql, err, n, what) || !exec("COMMIT", err, n, what)) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return false;
        }
    }
    if (v > 0 && v < SCHEMA_VERSION)
        logmsg(LOG_P_NOTICE, "history %s: schema migrated from version %lld to %d", h.path, (long long)v,
               SCHEMA_VERSION);
    pthread_mutex_lock(&h.mu);
    h.schema_version = SCHEMA_VERSION;
    pthread_mutex_unlock(&h.mu);
    return true;
}

static bool db_open(int64_t max_size, char *err, size_t n)
{
    /* Created here so that it is born 0640: the audit is not for everyone. */
    int fd = open(h.path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, n, "cannot open: %s", strerror(errno));
        return false;
    }
    close(fd);
    int rc = sqlite3_open_v2(h.path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        db_error(err, n, "cannot open");
        db_close();
        return false;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);
    int64_t version;
    /* The first read of the file: a file that is not a database fails here. */
    if (!pragma_int("PRAGMA schema_version", &version)) {
        db_error(err, n, "cannot read");
        db_close();
        return false;
    }
    if (!check_version(&version, err, n)) {
        db_close();
        return false;
    }
    sqlite3_stmt *st;
    bool wal = false;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK) {
        wal = sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
        sqlite3_finalize(st);
    }
    if (!wal) {
        db_error(err, n, "cannot switch to WAL mode");
        db_close();
        return false;
    }
    if (!exec("PRAGMA synchronous = NORMAL", err, n, "setting synchronous") || !migrate(version, err, n)) {
        db_close();
        return false;
    }
    apply_max_size(max_size);
    for (int k = 0; k < NKINDS; k++) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[k].name);
        if (sqlite3_prepare_v3(db, tables[k].insert, -1, SQLITE_PREPARE_PERSISTENT, &ins[k], NULL) != SQLITE_OK ||
            !pragma_int(sql, &rows[k])) {
            db_error(err, n, "preparing the inserts");
            db_close();
            return false;
        }
        added[k] = 0;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */

static const char *const trigger_names[] = {"heap", "memlimit", "periodic", "forced"};
static const char *const scav_names[] = {"background", "periodic", "forced"};

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Bind n integers from parameter *i on.  SQLite integers are signed:
 * none of the unsigned counters here gets near 2^63. */
static void bind_ints(sqlite3_stmt *st, int *i, const int64_t *v, size_t n)
{
    for (size_t k = 0; k < n; k++)
        sqlite3_bind_int64(st, (*i)++, v[k]);
}
#define BIND_INTS(st, i, ...) \
    bind_ints((st), (i), (const int64_t[]){__VA_ARGS__}, sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

static int insert(const struct rec *r)
{
    sqlite3_stmt *st = ins[r->kind];
    int i = 1;
    sqlite3_bind_int64(st, i++, r->time_ns);
    switch (r->kind) {
    case R_GC: {
        const gort_gc_cycle *c = &r->u.gc;
        BIND_INTS(st, &i, c->end_ns, c->num, c->forced, c->procs, c->cpu_percent, c->since_start_ns,
                  c->clock_ns[0], c->clock_ns[1], c->clock_ns[2], c->cpu_ns[0], c->cpu_ns[1], c->cpu_ns[2],
                  c->cpu_ns[3], c->cpu_ns[4], (int64_t)c->heap_start, (int64_t)c->heap_end,
                  (int64_t)c->heap_marked, (int64_t)c->heap_goal, (int64_t)c->stacks, (int64_t)c->globals,
                  (int64_t)c->pause_ns);
        bind_text(st, i++, (unsigned)c->trigger < 4 ? trigger_names[c->trigger] : NULL);
        if (c->next_goal == UINT64_MAX)
            sqlite3_bind_null(st, i++);
        else
            sqlite3_bind_int64(st, i++, (int64_t)c->next_goal);
        break;
    }
    case R_MEMSTATS: {
        const struct mem_sample *m = &r->u.mem;
        BIND_INTS(st, &i, (int64_t)m->sys, (int64_t)m->heap_alloc, (int64_t)m->heap_sys, (int64_t)m->heap_idle,
                  (int64_t)m->heap_inuse, (int64_t)m->heap_released, (int64_t)m->heap_objects,
                  (int64_t)m->total_alloc, (int64_t)m->mallocs, (int64_t)m->frees, (int64_t)m->stack_inuse,
                  (int64_t)m->stack_sys, (int64_t)m->next_gc, m->num_gc, m->num_forced_gc,
                  (int64_t)m->pause_total_ns);
        sqlite3_bind_double(st, i++, m->gc_cpu_fraction);
        BIND_INTS(st, &i, m->goroutines, m->memory_limit, (int64_t)m->rss);
        break;
    }
    case R_SCHED: {
        const gort_sched_stats *s = &r->u.sched;
        BIND_INTS(st, &i, s->gomaxprocs, s->idleprocs, s->threads, s->spinningthreads, s->idlethreads,
                  s->runqueue, s->goroutines, (int64_t)s->syscalls);
        break;
    }
    case R_SCAV: {
        const gort_scav_pass *s = &r->u.scav;
        bind_text(st, i++, (unsigned)s->kind < 3 ? scav_names[s->kind] : "?");
        BIND_INTS(st, &i, s->num, (int64_t)s->released, (int64_t)s->heap_inuse, (int64_t)s->heap_idle,
                  (int64_t)s->heap_sys, (int64_t)s->heap_released);
        break;
    }
    case R_EVENT: {
        const struct event_rec *e = &r->u.ev;
        bind_text(st, i++, e->kind);
        bind_text(st, i++, e->plugin[0] ? e->plugin : NULL);
        if (e->task_id)
            sqlite3_bind_int64(st, i++, e->task_id);
        else
            sqlite3_bind_null(st, i++);
        bind_text(st, i++, e->message);
        bind_text(st, i++, e->dump);
        bind_text(st, i++, e->detail);
        break;
    }
    case R_AUDIT: {
        const struct audit_rec *a = &r->u.audit;
        sqlite3_bind_int64(st, i++, a->uid);
        sqlite3_bind_int(st, i++, a->pid);
        bind_text(st, i++, a->command);
        bind_text(st, i++, a->args);
        bind_text(st, i++, a->outcome);
        bind_text(st, i++, a->message);
        break;
    }
    case NKINDS:
        break;
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Write the batch in one transaction.  On failure nothing of it is in
 * the database, err says why and the result is SQLite's primary code. */
static int write_batch(const struct rec *batch, size_t n, char *err, size_t errsize)
{
    int rc = SQLITE_OK;
    if (!exec("BEGIN IMMEDIATE", err, errsize, "starting a transaction"))
        return sqlite3_errcode(db) & 0xff;
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        if (insert(&batch[i]) != SQLITE_OK) {
            rc = sqlite3_errcode(db) & 0xff;
            db_error(err, errsize, "writing");
        }
    }
    if (rc == SQLITE_OK && !exec("COMMIT", err, errsize, "committing"))
        rc = sqlite3_errcode(db) & 0xff;
    if (rc != SQLITE_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return rc ? rc : SQLITE_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        rows[batch[i].kind]++;
        added[batch[i].kind]++;
    }
    return SQLITE_OK;
}

/* One step of retention: the oldest rows past the age or the count, a
 * bounded number per table, each table its own transaction. */
static void prune(int64_t max_age_ns, int max_rows)
{
    for (int k = 0; k < NKINDS; k++) {
        int64_t chunk = PRUNE_CHUNK + added[k];   /* keeps up with what comes in */
        added[k] = 0;
        char sql[256];
        int64_t gone = 0;
        if (max_age_ns > 0) {
            snprintf(sql, sizeof sql,
                     "DELETE FROM %s WHERE id IN (SELECT id FROM %s WHERE time_ns < %lld ORDER BY time_ns LIMIT %lld)",
                     tables[k].name, tables[k].name, (long long)(wall_ns() - max_age_ns), (long long)chunk);
            if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
                gone += sqlite3_changes(db);
        }
        if (max_rows > 0 && rows[k] - gone > max_rows) {
            int64_t excess = rows[k] - gone - max_rows;
            snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id IN (SELECT id FROM %s ORDER BY id LIMIT %lld)",
                     tables[k].name, tables[k].name, (long long)(excess < chunk ? excess : chunk));
            if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
                gone += sqlite3_changes(db);
        }
        rows[k] -= gone;
        if (gone)
            atomic_fetch_add_explicit(&h.pruned, (uint64_t)gone, memory_order_relaxed);
    }
}

/* A failed write keeps the connection when it may work as it is (a full
 * database may get room, a lock go away); anything else opens afresh. */
static bool keep_connection(int rc)
{
    return rc == SQLITE_FULL || rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* One attempt: open the database if needed, then write the batch and
 * prune.  False, with err set, on failure. */
static bool attempt(struct rec *batch, size_t *n, const struct writer_settings *ws, bool resize, char *err,
                    size_t errsize)
{
    if (!db) {
        if (!db_open(ws->max_size, err, errsize))
            return false;
    } else if (resize) {
        apply_max_size(ws->max_size);
    }
    if (*n > 0) {
        int rc = write_batch(batch, *n, err, errsize);
        if (rc != SQLITE_OK) {
            if (!keep_connection(rc))
                db_close();
            return false;
        }
        for (size_t i = 0; i < *n; i++)
            rec_free(&batch[i]);
        atomic_fetch_add_explicit(&h.written, *n, memory_order_relaxed);
        atomic_fetch_add_explicit(&h.batches, 1, memory_order_relaxed);
        atomic_store_explicit(&h.last_commit_ns, wall_ns(), memory_order_relaxed);
        *n = 0;
        atomic_store_explicit(&h.pending, 0, memory_order_relaxed);
    }
    return true;
}

static void *writer_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "gortd-history");
    size_t cap = RING_SLOTS, n = 0;
    struct rec *batch = malloc(cap * sizeof *batch);
    if (!batch) {
        set_state(H_ERROR, "out of memory for the write batch");
        return NULL;
    }
    int64_t retry_at = 0, retry_ms = RETRY_MIN_MS, last_prune = 0, drops_logged_at = 0;
    uint64_t drops_logged = 0;
    bool busy = false, first = true;
    for (;;) {
        struct writer_settings ws;
        pthread_mutex_lock(&h.mu);
        /* The first round opens the database at once. */
        int64_t deadline = mono_ns() + (int64_t)(first ? 0 : busy ? 10 : h.ws.flush_ms) * 1000000;
        first = false;
        while (!h.stop && !h.kick) {
            struct timespec ts = {deadline / 1000000000, deadline % 1000000000};
            if (pthread_cond_timedwait(&h.cv, &h.mu, &ts) == ETIMEDOUT)
                break;
        }
        bool stop = h.stop, resize = h.resize;
        h.resize = false;
        h.kick = false;
        atomic_store_explicit(&kicked, false, memory_order_relaxed);
        ws = h.ws;
        pthread_mutex_unlock(&h.mu);

        size_t before = n;
        while (n < cap && ring_take(&batch[n]))
            n++;
        busy = n - before > cap / 8;   /* records pour in: come back in 10 ms */
        atomic_store_explicit(&h.pending, n, memory_order_relaxed);

        int64_t now = mono_ns();
        uint64_t dropped = atomic_load_explicit(&ring_dropped, memory_order_relaxed);
        if (dropped > drops_logged && now - drops_logged_at >= 10 * (int64_t)1000000000) {
            logmsg(LOG_P_WARNING, "history: %llu records dropped so far, the queue (%d records) being full",
                   (unsigned long long)dropped, RING_SLOTS);
            drops_logged = dropped;
            drops_logged_at = now;
        }
        if (resize && db)
            retry_at = now;   /* the limit moved: room may have come */
        if (now < retry_at && !stop)
            continue;
        char err[512];
        bool ok = attempt(batch, &n, &ws, resize, err, sizeof err);
        if (ok) {
            set_state(H_OK, NULL);
            retry_at = 0;
            retry_ms = RETRY_MIN_MS;
            if (now - last_prune >= 1000000000 || stop) {
                prune(ws.max_age_ns, ws.max_rows);
                last_prune = now;
            }
        } else {
            set_state(H_ERROR, err);
            retry_at = now + retry_ms * 1000000;
            retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
        }
        /* Stopping: write until the ring is empty, or give up after a
         * failure (history_stop counts what was lost). */
        if (stop && (!ok || (n == 0 && atomic_load_explicit(&ring_head, memory_order_relaxed) ==
                                           atomic_load_explicit(&ring_tail, memory_order_acquire))))
            break;
    }
    atomic_store_explicit(&h.pending, n, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        rec_free(&batch[i]);
    free(batch);
    if (db)
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    db_close();
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Producers                                                            */

/* The event loop's records (samples, events, the audit) come in bursts
 * when clients pour commands in: past a quarter of the ring, wake the
 * writer rather than let it sleep out its period.  The loop makes system
 * calls for every command anyway; the runtime's producers never do. */
static void loop_put(struct rec *r)
{
    if (!ring_put(r))
        return;
    uint64_t fill = atomic_load_explicit(&ring_tail, memory_order_relaxed) -
                    atomic_load_explicit(&ring_head, memory_order_relaxed);
    if (fill >= RING_SLOTS / 4 && !atomic_exchange_explicit(&kicked, true, memory_order_relaxed)) {
        pthread_mutex_lock(&h.mu);
        h.kick = true;
        pthread_cond_signal(&h.cv);
        pthread_mutex_unlock(&h.mu);
    }
}

static void observe_gc(void *ctx, const gort_gc_cycle *c)
{
    (void)ctx;
    struct rec r = {.kind = R_GC, .time_ns = c->start_ns};
    r.u.gc = *c;
    ring_put(&r);
}

static void observe_scavenge(void *ctx, const gort_scav_pass *s)
{
    (void)ctx;
    struct rec r = {.kind = R_SCAV, .time_ns = s->time_ns};
    r.u.scav = *s;
    ring_put(&r);
}

static const gort_observer observer = {observe_gc, observe_scavenge, NULL};

void history_sample(const gort_memstats *m, const gort_sched_stats *s, int64_t rss)
{
    int64_t now = wall_ns();
    struct rec r = {.kind = R_MEMSTATS, .time_ns = now};
    r.u.mem = (struct mem_sample){
        .rss = (uint64_t)rss, .sys = m->sys, .heap_alloc = m->heap_alloc, .heap_sys = m->heap_sys,
        .heap_idle = m->heap_idle, .heap_inuse = m->heap_inuse, .heap_released = m->heap_released,
        .heap_objects = m->heap_objects, .total_alloc = m->total_alloc, .mallocs = m->mallocs,
        .frees = m->frees, .stack_inuse = m->stack_inuse, .stack_sys = m->stack_sys, .next_gc = m->next_gc,
        .pause_total_ns = m->pause_total_ns, .memory_limit = m->memory_limit, .num_gc = m->num_gc,
        .num_forced_gc = m->num_forced_gc, .goroutines = (int32_t)m->goroutines,
        .gc_cpu_fraction = m->gc_cpu_fraction,
    };
    loop_put(&r);
    struct rec q = {.kind = R_SCHED, .time_ns = now};
    q.u.sched = *s;
    loop_put(&q);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void history_event(const char *kind, json_t *data)
{
    if (!atomic_load_explicit(&ring_open, memory_order_acquire))
        return;
    struct rec r = {.kind = R_EVENT, .time_ns = wall_ns()};
    struct event_rec *e = &r.u.ev;
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    /* plugin.unload, the operator's request, names it "name". */
    const char *plugin = json_string_value(json_object_get(data, "plugin"));
    if (!plugin && strcmp(kind, "plugin.unload") == 0)
        plugin = json_string_value(json_object_get(data, "name"));
    snprintf(e->plugin, sizeof e->plugin, "%s", plugin ? plugin : "");
    e->task_id = json_integer_value(json_object_get(data, "task_id"));
    /* The panic value or the error, and the dump, get columns of their
     * own; the whole event stays in detail. */
    const char *msg = json_string_value(json_object_get(data, "message"));
    if (!msg)
        msg = json_string_value(json_object_get(data, "error"));
    e->message = dup_or_null(msg);
    e->dump = dup_or_null(json_string_value(json_object_get(data, "dump")));
    json_t *rest = json_deep_copy(data);
    json_object_del(rest, "dump");
    e->detail = rest ? json_dumps(rest, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(rest);
    loop_put(&r);
}

void history_audit(uid_t uid, pid_t pid, const char *command, const char *args, const char *outcome,
                   const char *message)
{
    if (!atomic_load_explicit(&ring_open, memory_order_acquire))
        return;
    struct rec r = {.kind = R_AUDIT, .time_ns = wall_ns()};
    struct audit_rec *a = &r.u.audit;
    a->uid = (uint32_t)uid;
    a->pid = (int32_t)pid;
    snprintf(a->command, sizeof a->command, "%s", command);
    snprintf(a->outcome, sizeof a->outcome, "%s", outcome);
    if (args && strlen(args) > AUDIT_ARGS_MAX) {
        a->args = malloc(AUDIT_ARGS_MAX + 16);
        if (a->args)
            snprintf(a->args, AUDIT_ARGS_MAX + 16, "%.*s...(cut)", AUDIT_ARGS_MAX, args);
    } else {
        a->args = dup_or_null(args);
    }
    a->message = dup_or_null(message);
    loop_put(&r);
}

/* ------------------------------------------------------------------ */
/* Start, settings, stop, stats                                         */

static void take_settings(const struct config *cfg)
{
    h.resize |= h.ws.max_size != cfg->history_max_size;
    h.ws = (struct writer_settings){cfg->history_flush_ms, cfg->history_max_age_ns, cfg->history_max_rows,
                                    cfg->history_max_size};
}

bool history_start(const struct config *cfg)
{
    if (cfg->history_path && strcmp(cfg->history_path, "off") == 0) {
        h.state = H_OFF;
        logmsg(LOG_P_INFO, "history is off");
        return true;
    }
    char buf[PATH_MAX];
    if (cfg->history_path)
        snprintf(buf, sizeof buf, "%s", cfg->history_path);
    else if (snprintf(buf, sizeof buf, "%s/history.db", cfg->state_dir) >= (int)sizeof buf) {
        logmsg(LOG_P_ERR, "history: the path %s/history.db is too long", cfg->state_dir);
        return false;
    }
    h.path = strdup(buf);
    if (!h.path) {
        logmsg(LOG_P_ERR, "history: out of memory");
        return false;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h.cv, &ca);
    pthread_cond_init(&h.state_cv, &ca);
    pthread_condattr_destroy(&ca);
    take_settings(cfg);
    h.state = H_OPENING;
    if (!ring_init()) {
        logmsg(LOG_P_ERR, "history: out of memory for the queue");
        return false;
    }
    atomic_store_explicit(&ring_open, true, memory_order_release);
    int err = pthread_create(&h.thread, NULL, writer_main, NULL);
    if (err) {
        atomic_store_explicit(&ring_open, false, memory_order_release);
        logmsg(LOG_P_ERR, "history: cannot start the writer thread: %s", strerror(err));
        return false;
    }
    h.started = true;
    gort_set_observer(&observer);
    return true;
}

void history_reconfigure(const struct config *cfg)
{
    if (!h.started)
        return;
    pthread_mutex_lock(&h.mu);
    take_settings(cfg);
    pthread_cond_signal(&h.cv);
    pthread_mutex_unlock(&h.mu);
}

void history_stop(void)
{
    if (!h.started)
        return;
    gort_set_observer(NULL);
    pthread_mutex_lock(&h.mu);
    h.stop = true;
    pthread_cond_signal(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(h.thread, NULL);
    h.started = false;
    /* Records that came too late, or that a broken database never took. */
    atomic_store_explicit(&ring_open, false, memory_order_release);
    struct rec r;
    uint64_t lost = 0;
    while (ring_take(&r)) {
        rec_free(&r);
        lost++;
    }
    lost += atomic_load_explicit(&h.pending, memory_order_relaxed);
    if (lost)
        logmsg(LOG_P_WARNING, "history: %llu records were not written", (unsigned long long)lost);
}

bool history_enabled(void)
{
    return h.path != NULL;
}

json_t *history_stats_json(void)
{
    pthread_mutex_lock(&h.mu);
    json_t *o = json_pack("{s:s, s:s?, s:s?, s:I, s:I, s:i}", "state", state_names[h.state], "path", h.path,
                          "error", h.error[0] ? h.error : NULL, "error_since_ns", (json_int_t)h.error_since_ns,
                          "failures", (json_int_t)h.failures, "schema_version", h.schema_version);
    pthread_mutex_unlock(&h.mu);
    uint64_t tail = atomic_load_explicit(&ring_tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&ring_head, memory_order_relaxed);
#define C(name, v) json_object_set_new(o, name, json_integer((json_int_t)(v)))
    C("queued", tail > head ? tail - head : 0);
    C("pending", atomic_load_explicit(&h.pending, memory_order_relaxed));
    C("dropped", atomic_load_explicit(&ring_dropped, memory_order_relaxed));
    C("written", atomic_load_explicit(&h.written, memory_order_relaxed));
    C("batches", atomic_load_explicit(&h.batches, memory_order_relaxed));
    C("pruned", atomic_load_explicit(&h.pruned, memory_order_relaxed));
    C("last_commit_ns", atomic_load_explicit(&h.last_commit_ns, memory_order_relaxed));
#undef C
    return o;
}

/* ------------------------------------------------------------------ */
/* Queries                                                              */

/* A time argument: an integer (ns since the epoch), "now", a duration
 * before now ("90s", "1h30m", "7d"), or an RFC 3339 date and time
 * ("2026-11-22T10:00:00Z", "...+01:00", fractional seconds allowed; with
 * no zone, local time). */
static bool parse_time(json_t *v, int64_t now, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return *out >= 0;
    }
    const char *s = json_string_value(v);
    if (!s || !*s)
        return false;
    if (strcmp(s, "now") == 0) {
        *out = now;
        return true;
    }
    int64_t d;
    if (proto_parse_duration(s, &d)) {
        *out = d < now ? now - d : 0;
        return true;
    }
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%d", &tm);
    if (!p || (*p != 'T' && *p != 't' && *p != ' '))
        return false;
    p = strptime(p + 1, "%H:%M:%S", &tm);
    if (!p)
        return false;
    int64_t frac = 0, scale = 1000000000;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        for (; *p >= '0' && *p <= '9'; p++)
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
    }
    time_t secs;
    if (*p == '\0') {
        tm.tm_isdst = -1;
        secs = mktime(&tm);
    } else {
        int off = 0;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int hh, mm, used = 0;
            if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &used) != 2 || used != 5 || hh > 23 || mm > 59)
                return false;
            off = (hh * 60 + mm) * 60 * (*p == '-' ? -1 : 1);
            p += 6;
        } else {
            return false;
        }
        if (*p)
            return false;
        secs = timegm(&tm) - off;
    }
    if (secs < 0)
        return false;
    *out = (int64_t)secs * 1000000000 + frac;
    return true;
}

static const char *const query_args_known[] = {"kind", "since", "until", "limit", "order", NULL};

enum proto_err history_query_check(json_t *args, bool may_audit, struct history_query *q, char *msg,
                                   size_t msgsize)
{
    const char *kind, *order = "desc";
    int64_t limit = 100;
    enum proto_err e;
    if ((e = proto_args_only(args, query_args_known, msg, msgsize)) ||
        (e = proto_arg_string(args, "kind", false, 32, &kind, msg, msgsize)) ||
        (e = proto_arg_int(args, "limit", true, 1, QUERY_MAX_ROWS, &limit, msg, msgsize)) ||
        (e = proto_arg_string(args, "order", true, 8, &order, msg, msgsize)))
        return e;
    q->table = -1;
    for (int k = 0; k < NKINDS; k++)
        if (strcmp(kind, tables[k].kind) == 0)
            q->table = k;
    if (q->table < 0) {
        snprintf(msg, msgsize, "argument \"kind\" must be gc, memstats, sched, scavenger, events or audit, "
                               "got \"%s\"", kind);
        return PROTO_EINVAL;
    }
    if (q->table == R_AUDIT && !may_audit) {
        snprintf(msg, msgsize, "the audit history needs root, the daemon's user or the admin group");
        return PROTO_EPERM;
    }
    if (strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0) {
        snprintf(msg, msgsize, "argument \"order\" must be \"asc\" or \"desc\", got \"%s\"", order);
        return PROTO_EINVAL;
    }
    q->asc = order[0] == 'a';
    q->limit = (int)limit;
    int64_t now = wall_ns();
    q->since = 0;
    q->until = INT64_MAX;
    static const char *const names[2] = {"since", "until"};
    int64_t *dst[2] = {&q->since, &q->until};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(args, names[i]);
        if (v && !json_is_null(v) && !parse_time(v, now, dst[i])) {
            char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            snprintf(msg, msgsize, "argument \"%s\" must be nanoseconds since the epoch, \"now\", a duration "
                                   "before now such as \"1h\" or \"30m\", or an RFC 3339 time such as "
                                   "\"2026-01-02T15:04:05Z\", got %s", names[i], txt ? txt : "?");
            free(txt);
            return PROTO_EINVAL;
        }
    }
    if (q->since > q->until) {
        snprintf(msg, msgsize, "argument \"since\" is after \"until\"");
        return PROTO_EINVAL;
    }
    if (!h.path) {
        snprintf(msg, msgsize, "history is off (history_db = off)");
        return PROTO_ENOTSUP;
    }
    return PROTO_OK;
}

static int query_progress(void *arg)
{
    return mono_ns() > *(int64_t *)arg;   /* non-zero interrupts */
}

enum proto_err history_query_run(const struct history_query *q, json_t **result, char *msg, size_t msgsize)
{
    /* Just after the start the writer may still be creating the tables. */
    int64_t wait_until = mono_ns() + QUERY_TIMEOUT_NS;
    pthread_mutex_lock(&h.mu);
    while (h.state == H_OPENING) {
        struct timespec ts = {wait_until / 1000000000, wait_until % 1000000000};
        if (pthread_cond_timedwait(&h.state_cv, &h.mu, &ts) == ETIMEDOUT)
            break;
    }
    bool opening = h.state == H_OPENING;
    pthread_mutex_unlock(&h.mu);
    if (opening) {
        snprintf(msg, msgsize, "the history %s is still being opened; try again", h.path);
        return PROTO_ETIMEDOUT;
    }
    sqlite3 *ro = NULL;
    if (sqlite3_open_v2(h.path, &ro, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(msg, msgsize, "cannot open the history %s: %s", h.path, ro ? sqlite3_errmsg(ro) : "out of memory");
        sqlite3_close_v2(ro);
        return PROTO_EIO;
    }
    sqlite3_busy_timeout(ro, 2000);
    int64_t deadline = mono_ns() + QUERY_TIMEOUT_NS;
    sqlite3_progress_handler(ro, 10000, query_progress, &deadline);
    char sql[256];
    const char *dir = q->asc ? "ASC" : "DESC";
    snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE time_ns >= ? AND time_ns <= ? ORDER BY time_ns %s, id %s LIMIT ?",
             tables[q->table].name, dir, dir);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ro, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(msg, msgsize, "cannot query the history %s: %s", h.path, sqlite3_errmsg(ro));
        sqlite3_close_v2(ro);
        return PROTO_EIO;
    }
    sqlite3_bind_int64(st, 1, q->since);
    sqlite3_bind_int64(st, 2, q->until);
    sqlite3_bind_int(st, 3, q->limit + 1);
    json_t *rowsj = json_array();
    size_t bytes = 0;
    bool more = false;
    int rc, count = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == q->limit || bytes > QUERY_MAX_BYTES) {
            more = true;
            break;
        }
        json_t *row = json_object();
        int ncol = sqlite3_column_count(st);
        for (int c = 0; c < ncol; c++) {
            const char *name = sqlite3_column_name(st, c);
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER:
                json_object_set_new(row, name, json_integer(sqlite3_column_int64(st, c)));
                break;
            case SQLITE_FLOAT:
                json_object_set_new(row, name, json_real(sqlite3_column_double(st, c)));
                break;
            case SQLITE_TEXT: {
                const char *t = (const char *)sqlite3_column_text(st, c);
                int len = sqlite3_column_bytes(st, c);
                bytes += (size_t)len;
                json_t *v = json_stringn(t, (size_t)len);
                json_object_set_new(row, name, v ? v : json_string("(not UTF-8)"));
                break;
            }
            default:
                json_object_set_new(row, name, json_null());
            }
        }
        json_array_append_new(rowsj, row);
        count++;
    }
    enum proto_err e = PROTO_OK;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        snprintf(msg, msgsize, "%s querying the history %s: %s",
                 rc == SQLITE_INTERRUPT ? "timed out" : "failed", h.path, sqlite3_errmsg(ro));
        e = rc == SQLITE_INTERRUPT ? PROTO_ETIMEDOUT : PROTO_EIO;
        json_decref(rowsj);
    } else {
        *result = json_pack("{s:s, s:s, s:s, s:i, s:b, s:o}", "kind", tables[q->table].kind, "table",
                            tables[q->table].name, "order", q->asc ? "asc" : "desc", "count", count, "more", more,
                            "rows", rowsj);
    }
    sqlite3_finalize(st);
    sqlite3_close_v2(ro);
    return e;
}
