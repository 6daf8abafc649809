/*
 * control.c - the control socket: a libevent server on the main thread.
 *
 * The main thread is not an M and never holds a P, so nothing it does
 * waits for the scheduler: it answers "ping" while every P spins and while
 * the world is stopped.  Two rules keep it that way:
 *
 *   - the loop only calls runtime functions that read counters (memstats,
 *     scheduler stats, GOGC, the memory limit) or store a setting;
 *   - a command that waits on the runtime (gc, freeosmemory, gomaxprocs)
 *     runs on a job thread of its own.  The thread builds the answer and
 *     queues it; an event wakes the loop, which writes it to the client if
 *     the client is still there.  A client is reference counted (its
 *     connection plus each job in flight), so a job never writes to freed
 *     memory and a client that hangs up mid-job costs nothing.
 *
 * Trace lines (gctrace, scvg, schedtrace) arrive from runtime threads
 * through gort_set_trace_writer: the writer copies them into a bounded
 * queue under a mutex and wakes the loop, which logs them (when the
 * operator turned the trace on) and sends them to subscribers.  A
 * subscriber's backlog is its bufferevent's output buffer: past
 * SUB_BACKLOG_MAX bytes, lines for it are dropped and counted, and a
 * "dropped" event tells it how many once it has drained.  Memory per
 * client is bounded on both sides: input by the line limit (the read
 * high-water mark stops reading past it), output by the backlog limit.
 *
 * Signals (SIGTERM, SIGINT, SIGHUP, SIGQUIT) are blocked in every thread
 * from the start (control_block_signals, before the runtime starts any)
 * and read by the loop from a signalfd.  A handler would run on whichever
 * thread the kernel picks, an M parked in a futex included, and a
 * sanitizer that defers handlers to its own safe points could hold one
 * there indefinitely; a signalfd has no such thread.
 *
 * Access (SPEC §5): the peer's credentials come from SO_PEERCRED.  Root,
 * the daemon's own uid and the admin group may run everything; the read
 * group may run the read-only commands; anyone else gets EPERM.
 */
#include "gortd.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "gort/gort.h"
#include "proto.h"

#define SUB_BACKLOG_MAX (256 * 1024)   /* bytes queued to a subscriber before drops */
#define SUB_BACKLOG_LOW (64 * 1024)    /* drained below this: send the dropped notice */
#define ANSWER_BACKLOG_MAX (1024 * 1024) /* unread answers before the client's requests wait */
#define TRACE_QUEUE_MAX 4096           /* lines from the runtime not yet handled */
#define DUMP_MAX (768 * 1024)          /* goroutine dump text in one answer */
#define CLOSE_FLUSH_S 5                /* a closing client gets this long to read */
#define JOBS_MAX 16                    /* job threads at once */
#define MSG 512

enum stream { ST_GCTRACE, ST_SCHEDTRACE, ST_EVENTS, NSTREAMS };
static const char *const stream_names[NSTREAMS] = {"gctrace", "schedtrace", "events"};

struct client {
    struct client *next, *prev;
    struct bufferevent *bev;      /* NULL once the connection is closed */
    uint64_t serial;
    uid_t uid;
    gid_t gid;
    pid_t pid;
    bool can_read, can_admin;
    bool closing;                 /* flushing its last lines, then closed */
    bool throttled;               /* not reading: its unread answers are over the limit */
    int refs;                     /* the connection and each job in flight */
    struct {
        bool on;
        int64_t id;               /* the subscribe request's id: events carry it */
        uint64_t dropped;         /* lines dropped since the last notice */
    } subs[NSTREAMS];
};

/* A command that runs off the loop.  run() fills reply on the job thread. */
struct job {
    struct job *next;
    struct client *c;
    int64_t id;
    void (*run)(struct job *j);
    char *reply;
    int64_t arg, arg2;
    char *sarg;                   /* owned */
    struct audit *audit;          /* the mutating command's, written when it answers */
};

/* A mutating command waiting for its outcome, for the audit table. */
struct audit {
    uid_t uid;
    pid_t pid;
    const char *command;          /* the command table's string */
    char *args;                   /* compact JSON (owned) */
};

/* An event from another thread, waiting for the loop (control_post_event). */
struct posted {
    struct posted *next;
    const char *kind;             /* a string literal */
    json_t *detail;
};

struct tline {
    struct tline *next;
    enum stream stream;
    size_t len;
    char text[];
};

/* The server: everything here belongs to the loop thread, except what
 * the comments put under mu or trace_mu. */
static struct {
    struct event_base *base;
    struct config *cfg;
    struct evconnlistener *listener;
    struct client *clients;
    int nclients;
    uint64_t next_serial;
    int nsubs[NSTREAMS];
    bool stopping;
    bool socket_bound;
    int64_t start_ns;             /* CLOCK_MONOTONIC at start */
    /* The operator's trace switches (gctrace / schedtrace commands). */
    bool gctrace_on;
    int schedtrace_ms;
    bool schedtrace_detail;
    struct event *done_ev, *trace_ev, *post_ev, *sample_ev, *sig_ev;
    int sig_fd;                   /* signalfd of the stop and reload signals */
    /* The command being handled, when it mutates: its answer completes
     * the audit record (or the job it starts takes it along). */
    struct audit *audit;

    pthread_mutex_t mu;           /* protects the done list, jobs and posted events */
    pthread_cond_t jobs_cv;       /* a job finished (control_stop waits) */
    struct job *done_head, **done_tail;
    int jobs;                     /* job threads running */
    struct posted *post_head, **post_tail;
    bool post_closed;             /* the loop is gone: events are dropped */

    pthread_mutex_t trace_mu;     /* protects the trace queue and trace_closed */
    struct tline *trace_head, **trace_tail;
    size_t ntrace;
    uint64_t trace_lost[NSTREAMS];
    bool trace_closed;
} srv = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .jobs_cv = PTHREAD_COND_INITIALIZER,
    .trace_mu = PTHREAD_MUTEX_INITIALIZER,
    .sig_fd = -1,
};

/* ------------------------------------------------------------------ */
/* Clients                                                              */

static void update_tracing(void);
static void client_write_cb(struct bufferevent *bev, void *arg);

static void client_unref(struct client *c)
{
    if (--c->refs == 0)
        free(c);
}

static void client_close(struct client *c)
{
    if (!c->bev)
        return;
    bufferevent_free(c->bev);
    c->bev = NULL;
    bool had_subs = false;
    for (int s = 0; s < NSTREAMS; s++) {
        if (c->subs[s].on) {
            c->subs[s].on = false;
            srv.nsubs[s]--;
            had_subs = true;
        }
    }
    if (had_subs)
        update_tracing();
    if (c->prev)
        c->prev->next = c->next;
    else
        srv.clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv.nclients--;
    client_unref(c);
}

/* Send a line built by proto_* (owned).  NULL means it could not be built. */
static void send_line(struct client *c, char *line)
{
    if (!line) {
        logmsg(LOG_P_ERR, "client %llu: out of memory building an answer", (unsigned long long)c->serial);
        return;
    }
    if (c->bev && !c->closing)
        bufferevent_write(c->bev, line, strlen(line));
    free(line);
}

/* Write the audit row of a mutating command from its answer line, which
 * says the outcome: "ok" or the error code, with the error's message. */
static void audit_finish(struct audit *a, const char *line)
{
    if (!a)
        return;
    json_t *ans = line ? json_loads(line, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    json_t *err = json_object_get(ans, "error");
    const char *code = json_is_true(json_object_get(ans, "ok")) ? "ok" : json_string_value(json_object_get(err, "code"));
    if (!code)
        code = "EIO";   /* no answer, or one that could not be read back */
    history_audit(a->uid, a->pid, a->command, a->args, code, json_string_value(json_object_get(err, "message")));
    json_decref(ans);
    free(a->args);
    free(a);
}

/* The answer to the request being handled. */
static void reply_line(struct client *c, char *line)
{
    audit_finish(srv.audit, line);
    srv.audit = NULL;
    send_line(c, line);
}

static void reply_ok(struct client *c, int64_t id, json_t *result)
{
    reply_line(c, proto_ok(id, result));
}

#define reply_err(c, id, code, ...) reply_line((c), proto_error((id), (code), __VA_ARGS__))

/* Let the client read what is queued, then close (the write timeout
 * closes it if it never reads). */
static void close_after_write(struct client *c)
{
    if (!c->bev || c->closing)
        return;
    c->closing = true;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    struct timeval tv = {CLOSE_FLUSH_S, 0};
    bufferevent_set_timeouts(c->bev, NULL, &tv);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        client_close(c);
}

/* The idle timeout applies to clients that are not subscribed: a
 * subscriber only reads. */
static void set_idle_timeout(struct client *c)
{
    bool subscribed = false;
    for (int s = 0; s < NSTREAMS; s++)
        subscribed |= c->subs[s].on;
    if (subscribed || srv.cfg->idle_timeout_s == 0) {
        bufferevent_set_timeouts(c->bev, NULL, NULL);
    } else {
        struct timeval tv = {srv.cfg->idle_timeout_s, 0};
        bufferevent_set_timeouts(c->bev, &tv, NULL);
    }
}

static void flush_dropped(struct client *c)
{
    for (int s = 0; s < NSTREAMS; s++) {
        if (c->subs[s].on && c->subs[s].dropped) {
            send_line(c, proto_dropped(c->subs[s].id, stream_names[s], c->subs[s].dropped));
            c->subs[s].dropped = 0;
        }
    }
}

static void client_read_cb(struct bufferevent *bev, void *arg);

static void client_write_cb(struct bufferevent *bev, void *arg)
{
    struct client *c = arg;
    if (c->closing) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            client_close(c);
        return;
    }
    flush_dropped(c);
    if (c->throttled && evbuffer_get_length(bufferevent_get_output(bev)) <= SUB_BACKLOG_LOW) {
        c->throttled = false;
        set_idle_timeout(c);
        bufferevent_enable(bev, EV_READ);
        client_read_cb(bev, c);   /* lines that waited in the input */
    }
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct client *c = arg;
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && !c->closing) {
        reply_err(c, -1, PROTO_ETIMEDOUT, "idle for %d s; closing", srv.cfg->idle_timeout_s);
        close_after_write(c);
        return;
    }
    client_close(c);
}

/* ------------------------------------------------------------------ */
/* Access                                                               */

static bool peer_in_group(uid_t uid, gid_t pgid, gid_t g)
{
    if (pgid == g)
        return true;
    struct passwd pw, *res = NULL;
    char buf[16384];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || !res)
        return false;
    gid_t groups[512];
    int n = (int)(sizeof groups / sizeof groups[0]);
    if (getgrouplist(res->pw_name, res->pw_gid, groups, &n) < 0)
        n = (int)(sizeof groups / sizeof groups[0]);
    for (int i = 0; i < n; i++)
        if (groups[i] == g)
            return true;
    return false;
}

static void set_access(struct client *c)
{
    const struct config *cfg = srv.cfg;
    c->can_admin = c->uid == 0 || c->uid == geteuid() ||
                   (cfg->admin_group && peer_in_group(c->uid, c->gid, cfg->admin_gid));
    c->can_read = c->can_admin || (cfg->read_group && peer_in_group(c->uid, c->gid, cfg->read_gid));
}

/* ------------------------------------------------------------------ */
/* Jobs                                                                 */

static void *job_main(void *arg)
{
    struct job *j = arg;
    /* As top -H and ps -L show it; tests wait for these to be gone. */
    pthread_setname_np(pthread_self(), "gortd-job");
    j->run(j);
    free(j->sarg);
    pthread_mutex_lock(&srv.mu);
    j->next = NULL;
    *srv.done_tail = j;
    srv.done_tail = &j->next;
    pthread_cond_broadcast(&srv.jobs_cv);
    /* Under the lock: once the job is on the done list, control_stop may
     * reap it and free the event at any moment. */
    if (srv.done_ev)
        event_active(srv.done_ev, EV_READ, 0);
    pthread_mutex_unlock(&srv.mu);
    return NULL;
}

/* Run run(j) on a job thread; its reply goes to c (none when c is NULL:
 * the daemon's own work).  sarg (copied) and the args are the command's
 * arguments.  False, having answered c, when no job can start. */
static bool start_job(struct client *c, int64_t id, void (*run)(struct job *), int64_t arg, int64_t arg2,
                      const char *sarg)
{
    pthread_mutex_lock(&srv.mu);
    bool full = srv.jobs >= JOBS_MAX;
    if (!full)
        srv.jobs++;
    pthread_mutex_unlock(&srv.mu);
    if (full) {
        if (c)
            reply_err(c, id, PROTO_EBUSY, "%d long commands are running already; try again", JOBS_MAX);
        return false;
    }
    struct job *j = calloc(1, sizeof *j);
    pthread_attr_t attr;
    pthread_t t;
    int err = ENOMEM;
    if (j && (!sarg || (j->sarg = strdup(sarg)))) {
        j->c = c;
        j->id = id;
        j->run = run;
        j->arg = arg;
        j->arg2 = arg2;
        if (c)
            c->refs++;
        j->audit = srv.audit;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        err = pthread_create(&t, &attr, job_main, j);
        pthread_attr_destroy(&attr);
        if (err && c)
            c->refs--;
        if (!err)
            srv.audit = NULL;
    }
    if (err) {
        if (j)
            free(j->sarg);
        free(j);
        pthread_mutex_lock(&srv.mu);
        srv.jobs--;
        pthread_mutex_unlock(&srv.mu);
        if (c)
            reply_err(c, id, PROTO_EIO, "cannot start a thread for the command: %s", strerror(err));
        else
            logmsg(LOG_P_ERR, "cannot start a thread: %s", strerror(err));
        return false;
    }
    return true;
}

static void jobs_done_cb(evutil_socket_t fd, short what, void *arg)
{
    pthread_mutex_lock(&srv.mu);
    struct job *j = srv.done_head;
    srv.done_head = NULL;
    srv.done_tail = &srv.done_head;
    pthread_mutex_unlock(&srv.mu);
    while (j) {
        struct job *next = j->next;
        audit_finish(j->audit, j->reply);
        if (j->c) {
            send_line(j->c, j->reply);
            client_unref(j->c);
        } else {
            free(j->reply);
        }
        free(j);
        pthread_mutex_lock(&srv.mu);
        srv.jobs--;
        pthread_mutex_unlock(&srv.mu);
        j = next;
    }
}

/* ------------------------------------------------------------------ */
/* Events stream                                                        */

/* One event (data borrowed) to c if it subscribes to st: dropped and
 * counted while its backlog is over the limit. */
static void send_event(struct client *c, enum stream st, json_t *data)
{
    if (!c->subs[st].on || !c->bev || c->closing)
        return;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) >= SUB_BACKLOG_MAX) {
        c->subs[st].dropped++;
        return;
    }
    flush_dropped(c);
    send_line(c, proto_event(c->subs[st].id, stream_names[st], json_incref(data)));
}

/* Send a daemon event to the "events" subscribers and log it. */
static void publish(const char *kind, const struct client *by, json_t *detail)
{
    json_t *data = json_pack("{s:I, s:s}", "time_ns", (json_int_t)wall_ns(), "kind", kind);
    if (by) {
        json_object_set_new(data, "uid", json_integer(by->uid));
        json_object_set_new(data, "pid", json_integer(by->pid));
    }
    if (detail)
        json_object_update(data, detail);
    char *txt = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    if (by)
        logmsg(LOG_P_NOTICE, "%s by uid %u pid %d%s%s", kind, (unsigned)by->uid, (int)by->pid,
               txt ? " " : "", txt ? txt : "");
    else
        logmsg(LOG_P_NOTICE, "%s%s%s", kind, txt ? " " : "", txt ? txt : "");
    free(txt);
    if (strncmp(kind, "plugin.", 7) == 0 || strncmp(kind, "task.", 5) == 0)
        history_event(kind, data);
    json_decref(detail);
    for (struct client *c = srv.clients; c; c = c->next)
        send_event(c, ST_EVENTS, data);
    json_decref(data);
}

void control_post_event(const char *kind, json_t *detail)
{
    struct posted *e = malloc(sizeof *e);
    if (!e) {
        logmsg(LOG_P_ERR, "out of memory posting a %s event", kind);
        json_decref(detail);
        return;
    }
    e->next = NULL;
    e->kind = kind;
    e->detail = detail;
    pthread_mutex_lock(&srv.mu);
    bool closed = srv.post_closed;
    if (!closed) {
        *srv.post_tail = e;
        srv.post_tail = &e->next;
        if (srv.post_ev)
            event_active(srv.post_ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&srv.mu);
    if (closed) {
        json_decref(detail);
        free(e);
    }
}

static void posted_cb(evutil_socket_t fd, short what, void *arg)
{
    pthread_mutex_lock(&srv.mu);
    struct posted *e = srv.post_head;
    srv.post_head = NULL;
    srv.post_tail = &srv.post_head;
    pthread_mutex_unlock(&srv.mu);
    while (e) {
        struct posted *next = e->next;
        publish(e->kind, NULL, e->detail);
        free(e);
        e = next;
    }
}

/* ------------------------------------------------------------------ */
/* Traces                                                               */

static enum stream classify(const char *s, size_t n)
{
    if ((n >= 6 && memcmp(s, "SCHED ", 6) == 0) || (n >= 2 && s[0] == ' ' && s[1] == ' '))
        return ST_SCHEDTRACE;
    return ST_GCTRACE;
}

/* The runtime's trace writer: any runtime thread.  Quick, never blocks
 * on the runtime. */
static void trace_writer(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    pthread_mutex_lock(&srv.trace_mu);
    if (srv.trace_closed) {
        pthread_mutex_unlock(&srv.trace_mu);
        return;
    }
    while (n > 0) {
        const char *nl = memchr(s, '\n', n);
        size_t len = nl ? (size_t)(nl - s) : n;
        enum stream st = classify(s, len);
        struct tline *t = srv.ntrace < TRACE_QUEUE_MAX ? malloc(sizeof *t + len + 1) : NULL;
        if (t) {
            t->next = NULL;
            t->stream = st;
            t->len = len;
            memcpy(t->text, s, len);
            t->text[len] = '\0';
            *srv.trace_tail = t;
            srv.trace_tail = &t->next;
            srv.ntrace++;
        } else {
            srv.trace_lost[st]++;
        }
        if (!nl)
            break;
        n -= len + 1;
        s = nl + 1;
    }
    event_active(srv.trace_ev, EV_READ, 0);
    pthread_mutex_unlock(&srv.trace_mu);
}

static void send_trace(enum stream st, struct tline *t, uint64_t lost)
{
    if (st == ST_GCTRACE ? srv.gctrace_on : srv.schedtrace_ms > 0)
        if (t)
            log_lines(LOG_P_INFO, t->text, t->len);
    if (srv.nsubs[st] == 0)
        return;
    json_t *data = NULL;
    if (t)
        data = st == ST_GCTRACE ? proto_parse_gctrace(t->text) : proto_parse_schedtrace(t->text);
    for (struct client *c = srv.clients; c; c = c->next) {
        if (c->subs[st].on)
            c->subs[st].dropped += lost;
        if (data)
            send_event(c, st, data);
    }
    json_decref(data);
}

static void trace_cb(evutil_socket_t fd, short what, void *arg)
{
    pthread_mutex_lock(&srv.trace_mu);
    struct tline *t = srv.trace_head;
    srv.trace_head = NULL;
    srv.trace_tail = &srv.trace_head;
    srv.ntrace = 0;
    uint64_t lost[NSTREAMS];
    memcpy(lost, srv.trace_lost, sizeof lost);
    memset(srv.trace_lost, 0, sizeof srv.trace_lost);
    pthread_mutex_unlock(&srv.trace_mu);
    for (int s = 0; s < NSTREAMS; s++)
        if (lost[s])
            send_trace((enum stream)s, NULL, lost[s]);
    while (t) {
        struct tline *next = t->next;
        send_trace(t->stream, t, 0);
        free(t);
        t = next;
    }
}

/* The runtime traces when the operator asked for it or someone listens.
 * Subscribers alone get schedtrace every second. */
static void update_tracing(void)
{
    gort_set_gctrace(srv.gctrace_on || srv.nsubs[ST_GCTRACE] > 0);
    int ms = srv.schedtrace_ms > 0 ? srv.schedtrace_ms : srv.nsubs[ST_SCHEDTRACE] > 0 ? 1000 : 0;
    gort_set_schedtrace(ms, srv.schedtrace_detail);
}

/* ------------------------------------------------------------------ */
/* Commands                                                             */

typedef void cmd_fn(struct client *c, struct proto_req *r);

static json_t *memstats_json(const gort_memstats *m)
{
    json_t *o = json_object();
#define U(f) json_object_set_new(o, #f, json_integer((json_int_t)m->f))
    U(alloc); U(total_alloc); U(sys); U(mallocs); U(frees); U(heap_alloc); U(heap_sys);
    U(heap_idle); U(heap_inuse); U(heap_released); U(heap_objects); U(stack_inuse); U(stack_sys);
    U(mspan_inuse); U(mspan_sys); U(mcache_inuse); U(mcache_sys); U(gc_sys); U(other_sys);
    U(next_gc); U(last_gc); U(pause_total_ns); U(num_gc); U(num_forced_gc); U(memory_limit);
    U(goroutines); U(assist_cpu_ns); U(mark_worker_cpu_ns); U(scav_released); U(tiny_allocs);
    U(large_allocs); U(large_frees);
#undef U
    json_object_set_new(o, "gc_cpu_fraction", json_real(m->gc_cpu_fraction));
    json_object_set_new(o, "enable_gc", json_boolean(m->enable_gc));
    json_t *p = json_array();
    for (uint32_t i = 0; i < 16 && i < m->num_gc; i++)
        json_array_append_new(p, json_integer((json_int_t)m->pause_ns[(m->num_gc + 255 - i) % 256]));
    json_object_set_new(o, "recent_pauses_ns", p);
    json_t *le = json_array(), *counts = json_array();
    for (int i = 0; i < GORT_PAUSE_BUCKETS; i++) {
        if (i < GORT_PAUSE_BUCKETS - 1)
            json_array_append_new(le, json_integer((json_int_t)gort_pause_bucket_bounds_ns[i]));
        json_array_append_new(counts, json_integer((json_int_t)m->pause_hist[i]));
    }
    json_object_set_new(o, "pause_hist", json_pack("{s:o, s:o}", "le_ns", le, "counts", counts));
    return o;
}

static void cmd_ping(struct client *c, struct proto_req *r)
{
    reply_ok(c, r->id, json_pack("{s:b, s:I}", "pong", 1, "time_ns", (json_int_t)wall_ns()));
}

static void cmd_version(struct client *c, struct proto_req *r)
{
    reply_ok(c, r->id, json_pack("{s:s, s:i}", "version", GORTD_VERSION, "protocol", PROTO_VERSION));
}

static void cmd_stats(struct client *c, struct proto_req *r)
{
    gort_sched_stats ss;
    gort_read_sched_stats(&ss);
    reply_ok(c, r->id,
             json_pack("{s:i, s:I, s:i, s:i, s:i, s:i, s:I, s:i, s:o, s:o}", "pid", (int)getpid(), "uptime_ns",
                       (json_int_t)(mono_ns() - srv.start_ns), "goroutines", gort_num_goroutine(),
                       "threads", ss.threads, "gomaxprocs", ss.gomaxprocs, "gogc", gort_gc_percent(),
                       "memory_limit", (json_int_t)gort_set_memory_limit(-1), "clients", srv.nclients,
                       "plugins", plugins_json(false), "history", history_stats_json()));
}

static void cmd_memstats(struct client *c, struct proto_req *r)
{
    gort_memstats m;
    gort_read_memstats(&m);
    reply_ok(c, r->id, memstats_json(&m));
}

static void run_gc(struct job *j)
{
    gort_memstats a, b;
    gort_read_memstats(&a);
    int64_t t0 = mono_ns();
    gort_gc();
    int64_t t1 = mono_ns();
    gort_read_memstats(&b);
    j->reply = proto_ok(j->id, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "num_gc", (json_int_t)b.num_gc,
                                         "heap_alloc_before", (json_int_t)a.heap_alloc, "heap_alloc_after",
                                         (json_int_t)b.heap_alloc, "next_gc", (json_int_t)b.next_gc,
                                         "pause_ns", (json_int_t)b.pause_ns[(b.num_gc + 255) % 256],
                                         "duration_ns", (json_int_t)(t1 - t0)));
}

static void cmd_gc(struct client *c, struct proto_req *r)
{
    publish("gc", c, NULL);
    start_job(c, r->id, run_gc, 0, 0, NULL);
}

static int64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    long long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lld %lld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * sysconf(_SC_PAGESIZE);
}

/* The history's periodic samples: counters only, cheap enough for the
 * loop. */
static void sample_cb(evutil_socket_t fd, short what, void *arg)
{
    gort_memstats m;
    gort_sched_stats ss;
    gort_read_memstats(&m);
    gort_read_sched_stats(&ss);
    history_sample(&m, &ss, rss_bytes());
}

static void arm_sampler(void)
{
    if (!srv.sample_ev)
        return;
    struct timeval tv = {srv.cfg->sample_ms / 1000, (srv.cfg->sample_ms % 1000) * 1000};
    event_add(srv.sample_ev, &tv);
}

static void run_freeosmemory(struct job *j)
{
    gort_memstats a, b;
    gort_read_memstats(&a);
    int64_t rss0 = rss_bytes(), t0 = mono_ns();
    gort_free_os_memory();
    int64_t t1 = mono_ns(), rss1 = rss_bytes();
    gort_read_memstats(&b);
    j->reply = proto_ok(j->id, json_pack("{s:I, s:I, s:I, s:I, s:I}", "released_bytes",
                                         (json_int_t)(b.scav_released - a.scav_released), "heap_released",
                                         (json_int_t)b.heap_released, "rss_before", (json_int_t)rss0,
                                         "rss_after", (json_int_t)rss1, "duration_ns", (json_int_t)(t1 - t0)));
}

static void cmd_freeosmemory(struct client *c, struct proto_req *r)
{
    publish("freeosmemory", c, NULL);
    start_job(c, r->id, run_freeosmemory, 0, 0, NULL);
}

static void cmd_setgcpercent(struct client *c, struct proto_req *r)
{
    char msg[MSG];
    int64_t v;
    if (proto_arg_int(r->args, "value", false, -1, INT_MAX, &v, msg, sizeof msg)) {
        reply_err(c, r->id, PROTO_EINVAL, "%s (-1 turns the collector off)", msg);
        return;
    }
    int old = gort_set_gc_percent((int)v);
    publish("setgcpercent", c, json_pack("{s:I, s:i}", "value", (json_int_t)v, "old", old));
    reply_ok(c, r->id, json_pack("{s:i, s:I}", "old", old, "value", (json_int_t)v));
}

static void cmd_setmemlimit(struct client *c, struct proto_req *r)
{
    char msg[MSG];
    int64_t v;
    if (proto_arg_int(r->args, "bytes", false, 0, INT64_MAX, &v, msg, sizeof msg)) {
        reply_err(c, r->id, PROTO_EINVAL, "%s (%lld means no limit)", msg, (long long)INT64_MAX);
        return;
    }
    int64_t old = gort_set_memory_limit(v);
    publish("setmemlimit", c, json_pack("{s:I, s:I}", "bytes", (json_int_t)v, "old", (json_int_t)old));
    reply_ok(c, r->id, json_pack("{s:I, s:I}", "old", (json_int_t)old, "bytes", (json_int_t)v));
}

static void run_gomaxprocs(struct job *j)
{
    int old = gort_gomaxprocs((int)j->arg);
    int now = gort_gomaxprocs(0);
    j->reply = proto_ok(j->id, json_pack("{s:i, s:i}", "old", old, "n", now));
}

static void cmd_gomaxprocs(struct client *c, struct proto_req *r)
{
    char msg[MSG];
    int64_t n;
    if (proto_arg_int(r->args, "n", false, 1, INT_MAX, &n, msg, sizeof msg)) {
        reply_err(c, r->id, PROTO_EINVAL, "%s", msg);
        return;
    }
    publish("gomaxprocs", c, json_pack("{s:I}", "n", (json_int_t)n));
    start_job(c, r->id, run_gomaxprocs, n, 0, NULL);
}

static void cmd_gctrace(struct client *c, struct proto_req *r)
{
    char msg[MSG];
    bool on;
    if (proto_arg_bool(r->args, "on", false, &on, msg, sizeof msg)) {
        reply_err(c, r->id, PROTO_EINVAL, "%s", msg);
        return;
    }
    bool old = srv.gctrace_on;
    srv.gctrace_on = on;
    update_tracing();
    publish("gctrace", c, json_pack("{s:b}", "on", on));
    reply_ok(c, r->id, json_pack("{s:b, s:b}", "old", old, "on", on));
}

static void cmd_schedtrace(struct client *c, struct proto_req *r)
{
    char msg[MSG];
    int64_t ms;
    bool detail = false;
    if (proto_arg_int(r->args, "interval_ms", false, 0, 3600000, &ms, msg, sizeof msg) ||
        proto_arg_bool(r->args, "detail", true, &detail, msg, sizeof msg)) {
        reply_err(c, r->id, PROTO_EINVAL, "%s", msg);
        return;
    }
    int old = srv.schedtrace_ms;
    srv.schedtrace_ms = (int)ms;
    srv.schedtrace_detail = detail;
    update_tracing();
    publish("schedtrace", c, json_pack("{s:I, s:b}", "interval_ms", (json_int_t)ms, "detail", detail));
    reply_ok(c, r->id, json_pack("{s:i, s:I, s:b}", "old_interval_ms", old, "interval_ms", (json_int_t)ms,
                                 "detail", detail));
}

static int stream_arg(struct client *c, struct proto_req *r)
{
    char msg[MSG];
    const char *name;
    if (proto_arg_string(r->args, "stream", false, 32, &name, msg, sizeof msg)) {
        reply_err(c, r->id, PROTO_EINVAL, "%s", msg);
        return -1;
    }
    for (int s = 0; s < NSTREAMS; s++)
        if (strcmp(name, stream_names[s]) == 0)
            return s;
    reply_err(c, r->id, PROTO_EINVAL, "argument \"stream\" must be gctrace, schedtrace or events, got \"%s\"",
              name);
    return -1;
}

static void cmd_subscribe(struct client *c, struct proto_req *r)
{
    int s = stream_arg(c, r);
    if (s < 0)
        return;
    if (c->subs[s].on) {
        reply_err(c, r->id, PROTO_EEXIST, "already subscribed to %s (request %lld)", stream_names[s],
                  (long long)c->subs[s].id);
        return;
    }
    /* The answer first: every event after it carries its id. */
    reply_ok(c, r->id, json_pack("{s:s}", "stream", stream_names[s]));
    c->subs[s].on = true;
    c->subs[s].id = r->id;
    c->subs[s].dropped = 0;
    srv.nsubs[s]++;
    bufferevent_setwatermark(c->bev, EV_WRITE, SUB_BACKLOG_LOW, 0);
    set_idle_timeout(c);
    update_tracing();
}

static void cmd_unsubscribe(struct client *c, struct proto_req *r)
{
    int s = stream_arg(c, r);
    if (s < 0)
        return;
    if (!c->subs[s].on) {
        reply_err(c, r->id, PROTO_ENOENT, "not subscribed to %s", stream_names[s]);
        return;
    }
    uint64_t dropped = c->subs[s].dropped;
    c->subs[s].on = false;
    srv.nsubs[s]--;
    set_idle_timeout(c);
    update_tracing();
    reply_ok(c, r->id, json_pack("{s:s, s:I}", "stream", stream_names[s], "dropped", (json_int_t)dropped));
}

struct dumpbuf {
    char *s;
    size_t len;
    bool truncated;
};

static void dump_write(void *ctx, const char *s, size_t n)
{
    struct dumpbuf *d = ctx;
    if (d->truncated || !d->s)
        return;
    if (d->len + n > DUMP_MAX) {
        d->truncated = true;
        n = DUMP_MAX - d->len;
    }
    memcpy(d->s + d->len, s, n);
    d->len += n;
}

char *goroutine_dump(const char *label, size_t *len, bool *truncated)
{
    struct dumpbuf d = {malloc(DUMP_MAX + 1), 0, false};
    if (!d.s)
        return NULL;
    gort_dump_goroutines(dump_write, &d, label);
    d.s[d.len] = '\0';
    *len = d.len;
    if (truncated)
        *truncated = d.truncated;
    return d.s;
}

static void cmd_goroutines(struct client *c, struct proto_req *r)
{
    char msg[MSG];
    const char *plugin = NULL;
    if (proto_arg_string(r->args, "plugin", true, 255, &plugin, msg, sizeof msg)) {
        reply_err(c, r->id, PROTO_EINVAL, "%s", msg);
        return;
    }
    char *prefix = plugin ? plugin_label_prefix(plugin) : NULL;
    if (plugin && !prefix) {
        reply_err(c, r->id, PROTO_ENOENT, "no plugin \"%s\" is loaded", plugin);
        return;
    }
    size_t len;
    bool truncated;
    char *dump = goroutine_dump(prefix, &len, &truncated);
    free(prefix);
    if (!dump) {
        reply_err(c, r->id, PROTO_EIO, "out of memory for the dump");
        return;
    }
    int n = 0;
    for (const char *p = dump; (p = strstr(p, "goroutine ")) != NULL; p++)
        if (p == dump || p[-1] == '\n')
            n++;
    json_t *res = json_pack("{s:i, s:s%, s:b}", "count", n, "dump", dump, len, "truncated", truncated);
    free(dump);
    if (!res) {
        reply_err(c, r->id, PROTO_EIO, "the dump could not be encoded");
        return;
    }
    reply_ok(c, r->id, res);
}

static void cmd_plugins(struct client *c, struct proto_req *r)
{
    reply_ok(c, r->id, json_pack("{s:o}", "plugins", plugins_json(true)));
}

/* An answer line from a command's code, message and result. */
static char *job_answer(int64_t id, enum proto_err e, const char *msg, json_t *result)
{
    return e == PROTO_OK ? proto_ok(id, result) : proto_error(id, e, "%s", msg);
}

static void run_plugin_load(struct job *j)
{
    char msg[1024];
    json_t *res = NULL;
    enum proto_err e = plugin_load(j->sarg, &res, msg, sizeof msg);
    j->reply = job_answer(j->id, e, msg, res);
}

static void cmd_plugin_load(struct client *c, struct proto_req *r)
{
    char msg[MSG];
    const char *path;
    if (proto_arg_string(r->args, "path", false, PATH_MAX - 1, &path, msg, sizeof msg)) {
        reply_err(c, r->id, PROTO_EINVAL, "%s", msg);
        return;
    }
    publish("plugin.load", c, json_pack("{s:s}", "path", path));
    start_job(c, r->id, run_plugin_load, 0, 0, path);
}

static int64_t timeout_arg(struct client *c, struct proto_req *r)
{
    char msg[MSG];
    int64_t ms = srv.cfg->unload_timeout_ms;
    if (proto_arg_int(r->args, "timeout_ms", true, 0, 3600000, &ms, msg, sizeof msg)) {
        reply_err(c, r->id, PROTO_EINVAL, "%s", msg);
        return -1;
    }
    return ms;
}

static void run_plugin_unload(struct job *j)
{
    char msg[1024];
    json_t *res = NULL;
    enum proto_err e = plugin_unload(j->sarg, (int)j->arg, &res, msg, sizeof msg);
    j->reply = job_answer(j->id, e, msg, res);
}

static void cmd_plugin_unload(struct client *c, struct proto_req *r)
{
    char msg[MSG];
    const char *name;
    if (proto_arg_string(r->args, "name", false, 255, &name, msg, sizeof msg)) {
        reply_err(c, r->id, PROTO_EINVAL, "%s", msg);
        return;
    }
    int64_t ms = timeout_arg(c, r);
    if (ms < 0)
        return;
    publish("plugin.unload", c, json_pack("{s:s, s:I}", "name", name, "timeout_ms", (json_int_t)ms));
    start_job(c, r->id, run_plugin_unload, ms, 0, name);
}

static void cmd_task_start(struct client *c, struct proto_req *r)
{
    char msg[1024];
    const char *plugin, *task;
    if (proto_arg_string(r->args, "plugin", false, 255, &plugin, msg, sizeof msg) ||
        proto_arg_string(r->args, "task", false, 255, &task, msg, sizeof msg)) {
        reply_err(c, r->id, PROTO_EINVAL, "%s", msg);
        return;
    }
    json_t *res = NULL;
    enum proto_err e = plugin_task_start(plugin, task, json_object_get(r->args, "args"), &res, msg, sizeof msg);
    if (e == PROTO_OK)
        publish("task.start", c,
                json_pack("{s:I, s:s, s:s}", "task_id", json_integer_value(json_object_get(res, "task_id")),
                          "plugin", plugin, "task", task));
    reply_line(c, job_answer(r->id, e, msg, res));
}

static void run_task_stop(struct job *j)
{
    char msg[1024];
    json_t *res = NULL;
    enum proto_err e = plugin_task_stop((uint64_t)j->arg2, (int)j->arg, &res, msg, sizeof msg);
    j->reply = job_answer(j->id, e, msg, res);
}

static void cmd_task_stop(struct client *c, struct proto_req *r)
{
    char msg[MSG];
    int64_t id;
    if (proto_arg_int(r->args, "id", false, 1, INT64_MAX, &id, msg, sizeof msg)) {
        reply_err(c, r->id, PROTO_EINVAL, "%s", msg);
        return;
    }
    int64_t ms = timeout_arg(c, r);
    if (ms < 0)
        return;
    publish("task.stop", c, json_pack("{s:I}", "task_id", (json_int_t)id));
    start_job(c, r->id, run_task_stop, ms, id, NULL);
}

static void run_history(struct job *j)
{
    char msg[1024];
    struct history_query q;
    json_t *args = json_loads(j->sarg, 0, NULL), *res = NULL;
    enum proto_err e = args ? history_query_check(args, j->arg != 0, &q, msg, sizeof msg) : PROTO_EIO;
    if (!args)
        snprintf(msg, sizeof msg, "out of memory");
    if (e == PROTO_OK)
        e = history_query_run(&q, &res, msg, sizeof msg);
    json_decref(args);
    j->reply = job_answer(j->id, e, msg, res);
}

static void cmd_history(struct client *c, struct proto_req *r)
{
    char msg[1024];
    struct history_query q;
    enum proto_err e = history_query_check(r->args, c->can_admin, &q, msg, sizeof msg);
    if (e) {
        reply_err(c, r->id, e, "%s", msg);
        return;
    }
    /* Checked here so that a bad argument answers at once; the job reads
     * "since" and "until" again (a relative time moves a little). */
    char *args = json_dumps(r->args, JSON_COMPACT);
    if (!args) {
        reply_err(c, r->id, PROTO_EIO, "out of memory");
        return;
    }
    start_job(c, r->id, run_history, c->can_admin, 0, args);
    free(args);
}

static void begin_stop(const char *why);

static void cmd_shutdown(struct client *c, struct proto_req *r)
{
    publish("shutdown", c, NULL);
    reply_ok(c, r->id, json_pack("{s:b}", "stopping", 1));
    begin_stop("shutdown command");
}

static const char *const no_args[] = {NULL};
static const char *const a_value[] = {"value", NULL};
static const char *const a_bytes[] = {"bytes", NULL};
static const char *const a_n[] = {"n", NULL};
static const char *const a_on[] = {"on", NULL};
static const char *const a_sched[] = {"interval_ms", "detail", NULL};
static const char *const a_stream[] = {"stream", NULL};
static const char *const a_plugin[] = {"plugin", NULL};
static const char *const a_path[] = {"path", NULL};
static const char *const a_unload[] = {"name", "timeout_ms", NULL};
static const char *const a_task_start[] = {"plugin", "task", "args", NULL};
static const char *const a_task_stop[] = {"id", "timeout_ms", NULL};
static const char *const a_history[] = {"kind", "since", "until", "limit", "order", NULL};

static const struct command {
    const char *name;
    bool admin;                   /* mutating: the admin group, not the read group */
    const char *const *args;
    cmd_fn *fn;
} commands[] = {
    {"ping", false, no_args, cmd_ping},
    {"version", false, no_args, cmd_version},
    {"stats", false, no_args, cmd_stats},
    {"memstats", false, no_args, cmd_memstats},
    {"goroutines", false, a_plugin, cmd_goroutines},
    {"plugins", false, no_args, cmd_plugins},
    {"history", false, a_history, cmd_history},
    {"subscribe", false, a_stream, cmd_subscribe},
    {"unsubscribe", false, a_stream, cmd_unsubscribe},
    {"gc", true, no_args, cmd_gc},
    {"freeosmemory", true, no_args, cmd_freeosmemory},
    {"setgcpercent", true, a_value, cmd_setgcpercent},
    {"setmemlimit", true, a_bytes, cmd_setmemlimit},
    {"gomaxprocs", true, a_n, cmd_gomaxprocs},
    {"gctrace", true, a_on, cmd_gctrace},
    {"schedtrace", true, a_sched, cmd_schedtrace},
    {"plugin.load", true, a_path, cmd_plugin_load},
    {"plugin.unload", true, a_unload, cmd_plugin_unload},
    {"task.start", true, a_task_start, cmd_task_start},
    {"task.stop", true, a_task_stop, cmd_task_stop},
    {"shutdown", true, no_args, cmd_shutdown},
};

static void handle_line(struct client *c, const char *line, size_t len)
{
    char msg[MSG];
    struct proto_req r;
    enum proto_err e = proto_req_parse(line, len, &r, msg, sizeof msg);
    if (e) {
        reply_err(c, r.id, e, "%s", msg);
        return;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, r.cmd) == 0)
            cmd = &commands[i];
    /* Every mutating command is audited, refused ones included. */
    if (cmd && cmd->admin && (srv.audit = calloc(1, sizeof *srv.audit))) {
        srv.audit->uid = c->uid;
        srv.audit->pid = c->pid;
        srv.audit->command = cmd->name;
        srv.audit->args = json_dumps(r.args, JSON_COMPACT | JSON_SORT_KEYS);
    }
    if (!cmd) {
        reply_err(c, r.id, PROTO_ENOSYS, "unknown command \"%s\"", r.cmd);
    } else if (cmd->admin ? !c->can_admin : !c->can_read) {
        reply_err(c, r.id, PROTO_EPERM, "uid %u may not run \"%s\": it needs %s", (unsigned)c->uid, cmd->name,
                  cmd->admin ? "root, the daemon's user or the admin group"
                             : "root, the daemon's user, the read group or the admin group");
    } else if (proto_args_only(r.args, cmd->args, msg, sizeof msg)) {
        reply_err(c, r.id, PROTO_EINVAL, "%s", msg);
    } else if (srv.stopping && cmd->admin) {
        reply_err(c, r.id, PROTO_ESHUTDOWN, "the daemon is stopping");
    } else {
        cmd->fn(c, &r);
    }
    if (srv.audit) {
        /* Every command answers or starts a job: this is a bug. */
        logmsg(LOG_P_ERR, "%s did not answer", cmd->name);
        audit_finish(srv.audit, NULL);
        srv.audit = NULL;
    }
    proto_req_free(&r);
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
    struct client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!c->closing && c->bev) {
        /* A client that sends requests without reading the answers waits:
         * its input stays in the kernel, its answers stay bounded. */
        if (evbuffer_get_length(bufferevent_get_output(bev)) > ANSWER_BACKLOG_MAX) {
            c->throttled = true;
            bufferevent_disable(bev, EV_READ);
            bufferevent_setwatermark(bev, EV_WRITE, SUB_BACKLOG_LOW, 0);
            /* One that never reads again is closed, not kept for good. */
            struct timeval tv = {srv.cfg->idle_timeout_s ? srv.cfg->idle_timeout_s : 300, 0};
            bufferevent_set_timeouts(bev, NULL, &tv);
            return;
        }
        struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
        size_t avail = evbuffer_get_length(in);
        if ((eol.pos < 0 && avail > PROTO_MAX_LINE) || (eol.pos >= 0 && (size_t)eol.pos > PROTO_MAX_LINE)) {
            reply_err(c, -1, PROTO_E2BIG, "line longer than %zu bytes; closing", PROTO_MAX_LINE);
            close_after_write(c);
            return;
        }
        if (eol.pos < 0)
            return;
        size_t len = (size_t)eol.pos;
        char *line = malloc(len + 1);
        if (!line) {
            reply_err(c, -1, PROTO_EIO, "out of memory reading a line; closing");
            close_after_write(c);
            return;
        }
        evbuffer_remove(in, line, len);
        evbuffer_drain(in, 1);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        line[len] = '\0';
        handle_line(c, line, len);
        free(line);
    }
}

/* ------------------------------------------------------------------ */
/* Accepting                                                            */

static void refuse(evutil_socket_t fd, enum proto_err code, const char *fmt, const char *detail)
{
    char *line = proto_error(-1, code, fmt, detail);
    if (line) {
        /* Best effort: the socket is fresh, its buffer empty. */
        ssize_t w = write(fd, line, strlen(line));
        (void)w;
        free(line);
    }
    evutil_closesocket(fd);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    if (srv.stopping) {
        refuse(fd, PROTO_ESHUTDOWN, "%s", "the daemon is stopping");
        return;
    }
    if (srv.nclients >= srv.cfg->max_clients) {
        char detail[64];
        snprintf(detail, sizeof detail, "%d", srv.cfg->max_clients);
        refuse(fd, PROTO_EBUSY, "too many clients (the limit is %s); closing", detail);
        return;
    }
    struct ucred cred;
    socklen_t clen = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
        logmsg(LOG_P_WARNING, "SO_PEERCRED: %s; closing the connection", strerror(errno));
        evutil_closesocket(fd);
        return;
    }
    struct client *c = calloc(1, sizeof *c);
    struct bufferevent *bev = c ? bufferevent_socket_new(srv.base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (!bev) {
        free(c);
        logmsg(LOG_P_ERR, "out of memory accepting a client");
        evutil_closesocket(fd);
        return;
    }
    c->bev = bev;
    c->serial = ++srv.next_serial;
    c->uid = cred.uid;
    c->gid = cred.gid;
    c->pid = cred.pid;
    c->refs = 1;
    set_access(c);
    c->next = srv.clients;
    if (srv.clients)
        srv.clients->prev = c;
    srv.clients = c;
    srv.nclients++;
    bufferevent_setcb(bev, client_read_cb, client_write_cb, client_event_cb, c);
    bufferevent_setwatermark(bev, EV_READ, 0, PROTO_MAX_LINE + 2);
    set_idle_timeout(c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    send_line(c, proto_greeting(GORTD_VERSION, (long)getpid()));
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    logmsg(LOG_P_WARNING, "accept: %s", evutil_socket_error_to_string(err));
}

/* ------------------------------------------------------------------ */
/* The socket                                                           */

static int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int listen_socket(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        logmsg(LOG_P_ERR, "socket path %s is too long (at most %zu bytes)", path, sizeof sa.sun_path - 1);
        return -1;
    }
    strcpy(sa.sun_path, path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        int err = mkdir_p(dir, 0755);
        if (err) {
            logmsg(LOG_P_ERR, "cannot create %s for the socket: %s", dir, strerror(-err));
            return -1;
        }
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            logmsg(LOG_P_ERR, "%s exists and is not a socket; not replacing it", path);
            return -1;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) {
            logmsg(LOG_P_ERR, "socket: %s", strerror(errno));
            return -1;
        }
        int rc = connect(probe, (struct sockaddr *)&sa, sizeof sa);
        int err = errno;
        close(probe);
        if (rc == 0) {
            logmsg(LOG_P_ERR, "another gortd is listening on %s; not starting a second one", path);
            return -1;
        }
        if (err != ECONNREFUSED) {
            logmsg(LOG_P_ERR, "cannot tell whether %s is in use: %s", path, strerror(err));
            return -1;
        }
        logmsg(LOG_P_NOTICE, "replacing the stale socket %s", path);
        if (unlink(path) != 0 && errno != ENOENT) {
            logmsg(LOG_P_ERR, "cannot remove the stale socket %s: %s", path, strerror(errno));
            return -1;
        }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        logmsg(LOG_P_ERR, "socket: %s", strerror(errno));
        return -1;
    }
    mode_t old = umask(0117);   /* born 0660: no window where others may connect */
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    int err = errno;
    umask(old);
    if (rc != 0) {
        logmsg(LOG_P_ERR, "cannot bind %s: %s", path, strerror(err));
        close(fd);
        return -1;
    }
    if (srv.cfg->read_group && chown(path, (uid_t)-1, srv.cfg->read_gid) != 0)
        logmsg(LOG_P_WARNING, "cannot give %s to group %s: %s", path, srv.cfg->read_group, strerror(errno));
    if (listen(fd, 128) != 0) {
        logmsg(LOG_P_ERR, "listen on %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

/* ------------------------------------------------------------------ */
/* Signals, start and stop                                              */

static void begin_stop(const char *why)
{
    if (srv.stopping)
        return;
    srv.stopping = true;
    logmsg(LOG_P_NOTICE, "stopping: %s", why);
    notifyf("STOPPING=1\nSTATUS=Stopping (%s): stopping plugins, flushing the history", why);
    event_base_loopexit(srv.base, NULL);
}

static void dump_to_log(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    ssize_t w = write(2, s, n);
    (void)w;
}

/* SIGHUP's second half, off the event loop: the reload is over when the
 * plugin directories are rescanned. */
static void run_rescan(struct job *j)
{
    (void)j;
    plugins_load_dirs();
    notify_ready(srv.cfg->socket_path, "Reloaded; serving");
}

static void handle_signal(int sig)
{
    if (srv.stopping && sig != SIGQUIT)
        return;   /* read in the same batch as the signal that stopped it */
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        begin_stop(sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    case SIGHUP: {
        logmsg(LOG_P_NOTICE, "SIGHUP: reloading %s", srv.cfg->config_path ? srv.cfg->config_path : "(no file)");
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        notifyf("RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=Reloading",
                (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000);
        if (config_reload(srv.cfg)) {
            control_apply_knobs(srv.cfg);
            for (struct client *c = srv.clients; c; c = c->next)
                if (c->bev && !c->closing)
                    set_idle_timeout(c);
            history_reconfigure(srv.cfg);
            arm_sampler();
            publish("reload", NULL, NULL);
        }
        if (!start_job(NULL, -1, run_rescan, 0, 0, NULL))
            notify_ready(srv.cfg->socket_path, "Serving (plugin directories not rescanned: too busy)");
        break;
    }
    case SIGQUIT:
        gort_dump_goroutines(dump_to_log, NULL, NULL);
        break;
    }
}

/* The signals gortd handles; blocked everywhere, read from srv.sig_fd. */
static void handled_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGQUIT);
}

/* A child forked by plugin code starts with the usual signals deliverable
 * (it inherits the mask, and an exec keeps it). */
static void unblock_in_child(void)
{
    sigset_t set;
    handled_signals(&set);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

bool control_block_signals(void)
{
    sigset_t set;
    handled_signals(&set);
    int err = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (err == 0)
        err = pthread_atfork(NULL, NULL, unblock_in_child);
    if (err) {
        logmsg(LOG_P_ERR, "cannot block the signals gortd handles: %s", strerror(err));
        return false;
    }
    return true;
}

static void signal_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    (void)arg;
    struct signalfd_siginfo si;
    ssize_t n;
    while ((n = read(fd, &si, sizeof si)) == (ssize_t)sizeof si)
        handle_signal((int)si.ssi_signo);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
        logmsg(LOG_P_ERR, "reading the signalfd: %s", strerror(errno));
}

/* GODEBUG=schedtrace=N,scheddetail=1 and gctrace=1 at start count as the
 * operator's switches: their lines are logged, as libgort alone would
 * print them. */
static void switches_from_godebug(void)
{
    const char *g = getenv("GODEBUG");
    if (!g)
        return;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", g);
    char *save = NULL;
    for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        int v;
        if (sscanf(kv, "gctrace=%d", &v) == 1)
            srv.gctrace_on = v > 0;
        else if (sscanf(kv, "schedtrace=%d", &v) == 1)
            srv.schedtrace_ms = v > 0 ? v : 0;
        else if (sscanf(kv, "scheddetail=%d", &v) == 1)
            srv.schedtrace_detail = v > 0;
    }
}

void control_apply_knobs(const struct config *cfg)
{
    if (cfg->gogc_src == CFG_FLAG || cfg->gogc_src == CFG_FILE)
        gort_set_gc_percent(cfg->gogc);
    if (cfg->memory_limit_src == CFG_FLAG || cfg->memory_limit_src == CFG_FILE)
        gort_set_memory_limit(cfg->memory_limit);
    if ((cfg->gomaxprocs_src == CFG_FLAG || cfg->gomaxprocs_src == CFG_FILE) &&
        gort_gomaxprocs(0) != (cfg->gomaxprocs > GORT_MAX_PROCS ? GORT_MAX_PROCS : cfg->gomaxprocs))
        gort_gomaxprocs(cfg->gomaxprocs);
}

bool control_start(struct event_base *base, struct config *cfg)
{
    srv.base = base;
    srv.cfg = cfg;
    srv.start_ns = mono_ns();
    srv.done_tail = &srv.done_head;
    srv.trace_tail = &srv.trace_head;
    srv.post_tail = &srv.post_head;
    int err = mkdir_p(cfg->state_dir, 0750);
    if (err) {
        logmsg(LOG_P_ERR, "cannot create the state directory %s: %s", cfg->state_dir, strerror(-err));
        return false;
    }
    srv.done_ev = event_new(base, -1, EV_PERSIST, jobs_done_cb, NULL);
    srv.trace_ev = event_new(base, -1, EV_PERSIST, trace_cb, NULL);
    srv.post_ev = event_new(base, -1, EV_PERSIST, posted_cb, NULL);
    sigset_t set;
    handled_signals(&set);
    srv.sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (srv.sig_fd < 0) {
        logmsg(LOG_P_ERR, "cannot create a signalfd: %s", strerror(errno));
        return false;
    }
    srv.sig_ev = event_new(base, srv.sig_fd, EV_READ | EV_PERSIST, signal_cb, NULL);
    if (!srv.sig_ev || event_add(srv.sig_ev, NULL) != 0) {
        logmsg(LOG_P_ERR, "cannot watch the signalfd");
        return false;
    }
    if (!srv.done_ev || !srv.trace_ev || !srv.post_ev) {
        logmsg(LOG_P_ERR, "out of memory setting up the event loop");
        return false;
    }
    int fd = listen_socket(cfg->socket_path);
    if (fd < 0)
        return false;
    srv.socket_bound = true;
    srv.listener = evconnlistener_new(base, accept_cb, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (!srv.listener) {
        logmsg(LOG_P_ERR, "cannot listen on %s", cfg->socket_path);
        close(fd);
        return false;
    }
    evconnlistener_set_error_cb(srv.listener, accept_error_cb);
    switches_from_godebug();
    gort_set_trace_writer(trace_writer, NULL);
    update_tracing();
    return true;
}

bool control_start_history(void)
{
    if (!history_start(srv.cfg))
        return false;
    if (history_enabled()) {
        srv.sample_ev = event_new(srv.base, -1, EV_PERSIST, sample_cb, NULL);
        if (!srv.sample_ev) {
            logmsg(LOG_P_ERR, "out of memory setting up the history sampler");
            return false;
        }
        arm_sampler();
    }
    return true;
}

/* Write what a client still has queued, waiting at most a second, before
 * closing it.  The bufferevent keeps the front of its output frozen (only
 * its own writes drain it): thaw it, the loop being over. */
static void flush_client(struct client *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int fd = bufferevent_getfd(c->bev);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    evbuffer_unfreeze(out, 1);
    while (evbuffer_get_length(out) > 0)
        if (evbuffer_write(out, fd) <= 0)
            break;
}

void control_stop(void)
{
    srv.stopping = true;
    /* The loop is over; what came after the signal that ended it asked
     * for the same stop.  SIGTERM and SIGHUP stay blocked (a repeated
     * TERM, or a reload, must not cut the stop short); SIGINT and SIGQUIT
     * get their default effect back on this thread, the only one that
     * takes them, so a second ^C, or a core dump, ends a stop that hangs. */
    if (srv.sig_ev)
        event_free(srv.sig_ev);
    srv.sig_ev = NULL;
    if (srv.sig_fd >= 0) {
        struct signalfd_siginfo si;
        while (read(srv.sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        }
        close(srv.sig_fd);
        srv.sig_fd = -1;
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGQUIT);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    }
    if (srv.listener) {
        evconnlistener_free(srv.listener);
        srv.listener = NULL;
    }
    /* Jobs finish (they wait on the runtime, which keeps running); their
     * answers go out with the rest. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    pthread_mutex_lock(&srv.mu);
    while (srv.jobs > 0) {
        if (srv.done_head) {
            pthread_mutex_unlock(&srv.mu);
            jobs_done_cb(-1, 0, NULL);
            pthread_mutex_lock(&srv.mu);
        } else if (pthread_cond_timedwait(&srv.jobs_cv, &srv.mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    bool stuck = srv.jobs > 0;
    pthread_mutex_unlock(&srv.mu);
    if (stuck)
        logmsg(LOG_P_WARNING, "a command was still running at exit");

    /* The plugins stop (fini runs) while clients still hear about it. */
    plugins_stop_all(srv.cfg->unload_timeout_ms);
    posted_cb(-1, 0, NULL);
    if (srv.socket_bound && unlink(srv.cfg->socket_path) != 0 && errno != ENOENT)
        logmsg(LOG_P_WARNING, "cannot remove %s: %s", srv.cfg->socket_path, strerror(errno));
    srv.socket_bound = false;

    /* No more trace lines: none to stderr behind the log's back either. */
    gort_set_gctrace(0);
    gort_set_schedtrace(0, false);
    pthread_mutex_lock(&srv.trace_mu);
    srv.trace_closed = true;
    pthread_mutex_unlock(&srv.trace_mu);
    gort_set_trace_writer(NULL, NULL);
    trace_cb(-1, 0, NULL);

    while (srv.clients) {
        struct client *c = srv.clients;
        flush_client(c);
        client_close(c);
    }
    if (srv.sample_ev)
        event_free(srv.sample_ev);
    srv.sample_ev = NULL;
    /* A job still running finds no event and leaves its answer unsent. */
    pthread_mutex_lock(&srv.mu);
    struct event *done = srv.done_ev;
    srv.done_ev = NULL;
    pthread_mutex_unlock(&srv.mu);
    event_free(done);
    event_free(srv.trace_ev);
    pthread_mutex_lock(&srv.mu);
    srv.post_closed = true;
    pthread_mutex_unlock(&srv.mu);
    posted_cb(-1, 0, NULL);
    event_free(srv.post_ev);
}
