/*
 * gortd.h - what the daemon's files share: the configuration, the logger
 * and the control server's entry points.
 *
 * Threads (SPEC §4): the main thread runs the libevent loop and holds no
 * P, so it answers while every P is busy or the world is stopped; libgort
 * runs its own threads; anything that can block on the runtime (a forced
 * collection, FreeOSMemory, a GOMAXPROCS change) runs on a short-lived
 * job thread and posts its answer back to the loop.
 */
#ifndef GORTD_H
#define GORTD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "gort/gort.h"
#include "proto.h"

#define GORTD_VERSION GORT_RELEASE

/* Clocks in nanoseconds: CLOCK_MONOTONIC for durations and deadlines,
 * CLOCK_REALTIME for what the protocol reports as *_ns times. */
static inline int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Configuration (config.c)                                             */

/* Where a setting's value came from, weakest first (SPEC §4: flag > env >
 * file > default). */
enum cfg_src { CFG_DEFAULT, CFG_FILE, CFG_ENV, CFG_FLAG };

#define CFG_MAX_PLUGIN_DIRS 16

struct config {
    char *config_path;            /* the file read; NULL: none */
    char *socket_path;
    char *state_dir;
    char *plugin_dirs[CFG_MAX_PLUGIN_DIRS];
    int nplugin_dirs;
    bool plugin_dirs_flagged;     /* a --plugin-dir replaced the others */
    char *read_group, *admin_group;   /* NULL: none */
    gid_t read_gid, admin_gid;        /* valid when the name is set */
    int max_clients;              /* 1..4096 */
    int idle_timeout_s;           /* 0: no idle timeout */
    int unload_timeout_ms;
    /* Runtime knobs.  The environment (GOGC, GOMAXPROCS, GOMEMLIMIT) is
     * read by libgort itself; these hold the value to apply when a flag
     * or the file set it, and where it came from. */
    int gogc;                     /* -1: off */
    enum cfg_src gogc_src;
    int gomaxprocs;
    enum cfg_src gomaxprocs_src;
    int64_t memory_limit;         /* INT64_MAX: none */
    enum cfg_src memory_limit_src;
    /* History (history.c). */
    char *history_path;           /* NULL: STATE_DIR/history.db; "off": none */
    int history_flush_ms;         /* 10..1000: commit period */
    int sample_ms;                /* memstats and scheduler sample period */
    int64_t history_max_age_ns;   /* 0: rows never age out */
    int history_max_rows;         /* per table; 0: no limit */
    int64_t history_max_size;     /* database bytes; INT64_MAX: none */
    uint32_t pinned;              /* settings a flag or the environment gave: SIGHUP keeps them */
    bool check_only;              /* --check-config */
};

/*
 * Fill cfg from defaults, the config file, the environment and argv, in
 * that order of strength.  On a bad flag, key or value prints one line
 * naming it (and what is allowed) to stderr and returns the exit status to
 * use (64 for usage, 78 for configuration); 0 on success; -1 when the
 * caller should exit 0 (--help, --version).
 */
int config_load(struct config *cfg, int argc, char **argv);
/* Re-read the file for SIGHUP: only the settings that can change while
 * running (knobs, limits, groups).  Returns false, having logged why, if
 * the file is bad; cfg is then unchanged. */
bool config_reload(struct config *cfg);
void config_free(struct config *cfg);

/* ------------------------------------------------------------------ */
/* Logging (log.c)                                                      */

/* syslog priorities, as journald reads them from a "<N>" prefix. */
enum { LOG_P_ERR = 3, LOG_P_WARNING = 4, LOG_P_NOTICE = 5, LOG_P_INFO = 6, LOG_P_DEBUG = 7 };

/* One line to stderr: "<N>" first when stderr is the journal
 * (JOURNAL_STREAM), "gortd: " otherwise.  Thread-safe. */
void logmsg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Raw text (trace lines, dumps) to stderr with the same prefix per line. */
void log_lines(int prio, const char *s, size_t n);
void log_init(void);

/* ------------------------------------------------------------------ */
/* systemd (notify.c)                                                   */

/* sd_notify(3) without libsystemd: "READY=1", "STOPPING=1", "STATUS=...".
 * A no-op when NOTIFY_SOCKET is unset. */
void notify(const char *state);
void notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* READY=1 and STATUS="<what> on <socket>: N plugins loaded, ...". */
void notify_ready(const char *socket_path, const char *what);
/* Feed systemd's watchdog from sysmon when WATCHDOG_USEC asks for it
 * (and WATCHDOG_PID, if set, is this process). */
void notify_watchdog_start(void);

/* ------------------------------------------------------------------ */
/* The control server (control.c)                                       */

struct event_base;

/* Block SIGTERM, SIGINT, SIGHUP and SIGQUIT in the calling thread, so in
 * every thread started after it (call it first, before the runtime
 * starts); children forked later get them back.  False after logging. */
bool control_block_signals(void);
/* Bind and listen on cfg->socket_path (replacing a stale socket, refusing
 * a live one), set up the trace fan-out and the signalfd that delivers
 * the blocked signals to the loop.  Returns false after logging why. */
bool control_start(struct event_base *base, struct config *cfg);
/* Start the history (history_start) and its sampler on the loop.  False,
 * having logged why, when it cannot run at all. */
bool control_start_history(void);
/* Apply cfg's runtime knobs that a flag or the file set. */
void control_apply_knobs(const struct config *cfg);
/* After the loop ends: wait for jobs, unload the plugins, close clients,
 * remove the socket. */
void control_stop(void);
/* Log a daemon event and send it to the "events" subscribers (detail is
 * stolen; may be NULL).  Any thread: it is queued for the loop. */
void control_post_event(const char *kind, json_t *detail);
/* The goroutine dump (of the goroutines whose label starts with label, or
 * all), NUL-terminated and cut at 768 KiB (*truncated); NULL when out of
 * memory.  Any thread. */
char *goroutine_dump(const char *label, size_t *len, bool *truncated);

/* ------------------------------------------------------------------ */
/* Plugins (plugin.c)                                                   */

/* The settings (plugin directories, unload timeout) stay cfg's. */
void plugins_init(const struct config *cfg);
/* Load the *.so files of the plugin directories not loaded yet (at start,
 * on SIGHUP).  Blocks while each init runs: not on the loop once it runs. */
void plugins_load_dirs(void);
/* The commands.  On an error each writes a message naming what was wrong
 * into msg and returns its code; on success *result is the answer.
 * load and unload and task_stop block (job threads); task_start does not. */
enum proto_err plugin_load(const char *path, json_t **result, char *msg, size_t msgsize);
enum proto_err plugin_unload(const char *name, int timeout_ms, json_t **result, char *msg, size_t msgsize);
enum proto_err plugin_task_start(const char *plugin, const char *task, json_t *args, json_t **result, char *msg,
                                 size_t msgsize);
enum proto_err plugin_task_stop(uint64_t id, int timeout_ms, json_t **result, char *msg, size_t msgsize);
/* Every plugin: counters and state, with paths, tasks and instances when
 * detail is set. */
json_t *plugins_json(bool detail);
/* "<name>/" for a loaded plugin (malloc'd), NULL if there is none. */
char *plugin_label_prefix(const char *name);
/* At stop: unload everything, waiting at most timeout_ms in all. */
void plugins_stop_all(int timeout_ms);

/* ------------------------------------------------------------------ */
/* History (history.c)                                                  */

/* Start the writer thread and the runtime observer (history_db = off:
 * nothing).  A database that cannot be opened is not an error here: the
 * writer reports it and retries.  False, having logged why, only when the
 * thread cannot start. */
bool history_start(const struct config *cfg);
/* SIGHUP: new flush period, retention and size limit. */
void history_reconfigure(const struct config *cfg);
/* Write what is queued and close the database. */
void history_stop(void);
bool history_enabled(void);
/* For stats: state, path, error, queue and write counters. */
json_t *history_stats_json(void);

/* Producers: each copies what it is given into the queue or drops it
 * (counted); none blocks.  Any thread. */
void history_sample(const gort_memstats *m, const gort_sched_stats *s, int64_t rss);
/* A plugin or task event: "plugin", "task_id", "message" or "error" and
 * "dump" in data get columns of their own (data is borrowed). */
void history_event(const char *kind, json_t *data);
/* A mutating command: outcome is "ok" or the error code. */
void history_audit(uid_t uid, pid_t pid, const char *command, const char *args, const char *outcome,
                   const char *message);

/* The history command: check the arguments (on the loop), then run the
 * query (on a job thread) on a read-only connection of its own. */
struct history_query {
    int table;
    bool asc;
    int limit;
    int64_t since, until;       /* ns since the epoch, inclusive */
};
enum proto_err history_query_check(json_t *args, bool may_audit, struct history_query *q, char *msg,
                                   size_t msgsize);
enum proto_err history_query_run(const struct history_query *q, json_t **result, char *msg, size_t msgsize);

#endif
