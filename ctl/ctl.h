/*
 * ctl.h - gortctl's internals, shared by its files.
 *
 * gortctl is a one-shot client: find the daemon's socket, connect, read
 * the greeting, send a request or two, print the answer for a person (or
 * as JSON), exit with a code that says what happened.  The pieces:
 *
 *   - gortctl.c: main, the global options, the command table, help.
 *   - conn.c: finding the socket, connecting, the greeting, requests and
 *     answers, subscription events; every failure is printed here, once,
 *     and turned into the exit code.
 *   - format.c: units (bytes, durations, times), aligned tables, colour.
 *   - one file per group of commands: info.c (stats, memstats, plugins,
 *     goroutines, version), admin.c (the mutating commands), trace.c
 *     (gctrace, schedtrace), history.c, metrics.c (Prometheus), top.c.
 *
 * A command is `int cmd_x(int argc, char **argv)`: argv[0] is the
 * command's name, the global options are already gone, and the value
 * returned is the process's exit code.  Everything prints to stdout
 * except errors, which go to stderr prefixed "gortctl: ".
 *
 * Exit codes (sysexits.h, SPEC §6): 0 done; 1 the daemon answered with
 * an error; 64 bad usage; 69 the daemon cannot be reached (no socket, a
 * refused connection, a connection that dropped, a greeting that is not
 * gortd's); 77 permission denied (the socket's mode, or the daemon's
 * EPERM).  Nothing here keeps going after a failure: gortctl is short-
 * lived, so memory is freed where that is easy and otherwise left to
 * exit.
 */
#ifndef GORTCTL_H
#define GORTCTL_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sysexits.h>

#include <jansson.h>

#include "proto.h"

#define EXIT_DAEMON 1   /* the daemon answered with an error */

/* The invocation's global state: options and the one connection. */
struct gortctl {
    const char *cmd;           /* the command run, for messages */
    const char *socket_flag;   /* --socket, or NULL */
    bool json;                 /* --json: print raw results */
    bool color;                /* escape sequences on stdout (a TTY, NO_COLOR unset) */
    /* The connection (conn.c). */
    int fd;                    /* -1 until ctl_connect */
    char path[4096];           /* the socket connected to */
    json_t *greeting;
    char *buf;                 /* bytes read and not yet consumed */
    size_t len, cap;
    int64_t next_id;
    json_t *events;            /* events that arrived while an answer was awaited */
};
extern struct gortctl ctl;

/* Set by SIGINT and SIGTERM once ctl_catch_interrupts() is called:
 * following and top stop cleanly instead of dying.  From then on both
 * signals are blocked except while ctl_poll waits, so a loop that checks
 * the flag and then waits in ctl_poll cannot miss one. */
extern volatile sig_atomic_t ctl_interrupted;
void ctl_catch_interrupts(void);

/* Block sig except inside ctl_poll (its handler must be installed). */
void ctl_deliver_in_poll(int sig);
/* poll(), with the deferred signals unblocked for the wait only. */
int ctl_poll(struct pollfd *fds, nfds_t n, int timeout_ms);

/* ------------------------------------------------------------------ */
/* conn.c                                                               */

/* Find the socket (--socket, $GORT_SOCKET, then the first that exists of
 * /run/gortd/gortd.sock, $XDG_RUNTIME_DIR/gortd.sock, ./run/gortd.sock),
 * connect and check the greeting.  Returns 0, or the exit code after
 * printing why (69 unreachable, 77 permission). */
int ctl_connect(void);

/* One request; args is stolen (NULL: none).  Returns 0 and the result
 * (a new reference) in *result, or the exit code after printing the
 * daemon's error ("gortctl: stop: no task 9 is running (ENOENT)", named
 * by ctl.cmd) or the lost connection. */
int ctl_call(const char *cmd, json_t *args, json_t **result);

/* Subscribe to a stream ("gctrace", "schedtrace", "events"); returns 0
 * and the subscription's id in *id, or an exit code. */
int ctl_subscribe(const char *stream, int64_t *id);

/* The next event message ({"id":..,"event":..,"data":..}), waiting at
 * most timeout_ms (-1: forever).  Returns 0 with *ev (a new reference),
 * CTL_TIMEOUT, CTL_INTERRUPTED (ctl_interrupted was set), or an exit code
 * after printing that the connection dropped. */
#define CTL_TIMEOUT (-1)
#define CTL_INTERRUPTED (-2)
int ctl_next_event(json_t **ev, int timeout_ms);

/* ------------------------------------------------------------------ */
/* format.c                                                             */

/* Each writes into buf (at least FMT_SIZE bytes) and returns it. */
#define FMT_SIZE 48
/* "0 B", "512 B", "12.3 MiB", "1.0 GiB" (binary units). */
const char *fmt_bytes(char *buf, double bytes);
/* A count with thousands separators: "12,884,901". */
const char *fmt_count(char *buf, int64_t n);
/* A duration: "850ns", "17.5µs", "253µs", "1.23ms", "2.50s", "3m04s",
 * "2h05m", "3d04h". */
const char *fmt_ns(char *buf, int64_t ns);
/* A wall-clock time (ns since the epoch) in local time:
 * "2026-11-22 10:00:00.123". */
const char *fmt_time(char *buf, int64_t ns);

/* Colour: the escape sequence when ctl.color, else "". */
const char *col_bold(void);
const char *col_dim(void);
const char *col_red(void);
const char *col_green(void);
const char *col_yellow(void);
const char *col_reset(void);

/* An aligned table.  Columns are named by a spec, one word each,
 * separated by spaces; a word starting with '>' is right-aligned (the
 * '>' is not printed).  Cells are copied. */
struct table {
    int ncols;
    char **heads;
    bool *right;
    char **cells;   /* nrows x ncols */
    size_t nrows, cap;
};
void table_init(struct table *t, const char *spec);
/* Exactly ncols strings (NULL prints as "-"). */
void table_add(struct table *t, ...);
/* Header in bold on a TTY; each column as wide as its widest cell
 * (counted in characters, not bytes); indent spaces before each row. */
void table_print(const struct table *t, FILE *f, int indent);
void table_free(struct table *t);

/* Print a JSON value for --json: indented, keys in the daemon's order. */
void print_json(json_t *v);

/* JSON access that tolerates a missing or mistyped field (an older or
 * newer daemon): the fallback is returned instead. */
int64_t jint(json_t *o, const char *key, int64_t fallback);
double jreal(json_t *o, const char *key, double fallback);
const char *jstr(json_t *o, const char *key, const char *fallback);
bool jbool(json_t *o, const char *key, bool fallback);

/* ------------------------------------------------------------------ */
/* Arguments                                                            */

/* A command's options: "--name value", "--name=value", or a flag. */
struct opt {
    const char *name;   /* without the dashes */
    bool has_arg;
    const char **value; /* has_arg: where the value goes */
    bool *flag;         /* !has_arg: set true */
};
/* Split argv[1..] into options (specs, NULL-name terminated) and
 * positionals, which are compacted into argv[1..*npos].  A word that is
 * "-" followed by a digit is a positional (a negative number); "--" ends
 * the options.  Returns 0, or EX_USAGE after printing what was wrong and
 * the command's usage line. */
int parse_opts(int argc, char **argv, const struct opt *specs, int *npos);

/* Print "gortctl: <cmd>: <message>" and the command's usage to stderr;
 * returns EX_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Require between min and max positionals (max < 0: any number). */
int want_args(const char *cmd, int npos, int min, int max);

/* The commands. */
int cmd_stats(int argc, char **argv);
int cmd_memstats(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_goroutines(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_freeosmemory(int argc, char **argv);
int cmd_setgc(int argc, char **argv);
int cmd_memlimit(int argc, char **argv);
int cmd_gomaxprocs(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_unload(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_gctrace(int argc, char **argv);
int cmd_schedtrace(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_top(int argc, char **argv);

#endif
