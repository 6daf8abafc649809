/*
 * proto.h - gortd's control protocol, shared by the daemon and gortctl.
 *
 * One JSON object per line (proto/PROTOCOL.md is the reference).  This
 * module owns everything about the bytes on the wire that does not depend
 * on how they are carried: parsing and checking a request line, building
 * responses, errors, events and the greeting, the error codes, typed
 * argument getters that name what was wrong, and the parsers that turn
 * the runtime's gctrace and schedtrace lines into fields.  The daemon
 * reads lines with libevent, gortctl with plain read(2); both call this.
 *
 * Every function that returns a json_t returns a new reference.  Nothing
 * here keeps state: safe from any thread.
 */
#ifndef GORT_PROTO_H
#define GORT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The release gortd and gortctl belong to, and the protocol they speak. */
#define GORT_RELEASE "0.1.0"
#define PROTO_VERSION 1
/* Longest line, without its '\n'. */
#define PROTO_MAX_LINE ((size_t)1 << 20)
/* Request ids are integers in [0, PROTO_MAX_ID] (exact in a double). */
#define PROTO_MAX_ID ((int64_t)1 << 53)

/* Error codes, as they appear in "code". */
enum proto_err {
    PROTO_OK = 0,
    PROTO_EPROTO,     /* the line is not a well-formed request */
    PROTO_E2BIG,      /* the line is longer than PROTO_MAX_LINE */
    PROTO_ENOSYS,     /* unknown command */
    PROTO_EINVAL,     /* an argument is missing, of the wrong type or out of range */
    PROTO_EPERM,      /* the peer may not run this command */
    PROTO_ENOENT,     /* no such plugin, task or subscription */
    PROTO_EEXIST,     /* already exists (plugin name, subscription) */
    PROTO_EBUSY,      /* too many clients, or the object is busy */
    PROTO_ETIMEDOUT,  /* idle timeout, or a deadline passed */
    PROTO_ESHUTDOWN,  /* the daemon is stopping */
    PROTO_EIO,        /* the daemon failed to do it (out of memory, system error) */
    PROTO_ENOTSUP,    /* the daemon runs without the feature (history turned off) */
    PROTO_NERR
};

/* "EPROTO" for PROTO_EPROTO; NULL for a value that is not an error code
 * (PROTO_OK and PROTO_NERR included). */
const char *proto_err_name(enum proto_err e);
/* The inverse; PROTO_NERR for an unknown name. */
enum proto_err proto_err_from_name(const char *name);

/* A parsed request.  req.args is borrowed from req.root. */
struct proto_req {
    json_t *root;     /* the whole object (owned: proto_req_free) */
    int64_t id;       /* -1 when the line had no usable id */
    const char *cmd;  /* borrowed from root */
    json_t *args;     /* an object; an empty one when the request had none */
};

/*
 * Parse one request line (without its '\n').  On success returns
 * PROTO_OK and fills *req.  Otherwise returns PROTO_EPROTO (or PROTO_E2BIG
 * when len > PROTO_MAX_LINE, PROTO_EIO when out of memory) and writes a
 * message that names what was wrong into msg (e.g. "invalid JSON at line
 * 1 column 12: ...", "\"id\" must be an integer in [0, 9007199254740992],
 * got -1", "\"args\" must be an object, got [1]"); req->id is then the
 * line's id when one could be read, else -1, and nothing is owned.
 * Rules: a JSON object; "id" an integer in [0, PROTO_MAX_ID]; "cmd" a
 * non-empty string; "args" absent, null or an object; no other keys.
 */
enum proto_err proto_req_parse(const char *line, size_t len, struct proto_req *req, char *msg,
                               size_t msgsize);
void proto_req_free(struct proto_req *req);

/* Responses and messages, each one line of compact JSON with a trailing
 * '\n', malloc'd (free() it); NULL only when out of memory.  An id < 0 is
 * written as null.  result is stolen (NULL: {}). */
char *proto_ok(int64_t id, json_t *result);
/* The message is cut to 1000 bytes (ending in "...") and bytes that are
 * not UTF-8 become U+FFFD, so a peer's text may be formatted into it.  A
 * code that is not an error code is written as "EIO". */
char *proto_error(int64_t id, enum proto_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* {"id":N,"event":"<event>","data":{...}}; data is stolen. */
char *proto_event(int64_t id, const char *event, json_t *data);
/* {"id":N,"event":"dropped","stream":"<stream>","count":K} */
char *proto_dropped(int64_t id, const char *stream, uint64_t count);
/* {"hello":"gortd","version":"<version>","protocol":1,"pid":N} */
char *proto_greeting(const char *version, long pid);

/*
 * Typed argument getters.  Each returns PROTO_OK and stores the value, or
 * PROTO_EINVAL with a message naming the argument and what is allowed,
 * e.g. "argument \"value\" must be an integer in [-1, 2147483647], got
 * \"abc\"" or "missing argument \"path\"".  When optional is true, an
 * absent or null argument leaves *out unchanged and returns PROTO_OK.
 */
enum proto_err proto_arg_int(json_t *args, const char *name, bool optional, int64_t min, int64_t max,
                             int64_t *out, char *msg, size_t msgsize);
enum proto_err proto_arg_bool(json_t *args, const char *name, bool optional, bool *out, char *msg,
                              size_t msgsize);
/* A non-empty string without NUL bytes, at most maxlen bytes long. */
enum proto_err proto_arg_string(json_t *args, const char *name, bool optional, size_t maxlen,
                                const char **out, char *msg, size_t msgsize);
/* Reject keys of args not in the NULL-terminated list known, naming the
 * first one ("unknown argument \"foo\" (known: a, b)"). */
enum proto_err proto_args_only(json_t *args, const char *const *known, char *msg, size_t msgsize);

/*
 * Go's gctrace line, as the runtime prints it, to fields:
 *   gc 7 @1.234s 2%: 0.015+0.31+0.003 ms clock, 0.030+0.10/0.20/0.05+0.006 ms cpu,
 *   4->5->1 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)
 * gives {"gc":7,"at_s":1.234,"cpu_percent":2,"clock_ms":[0.015,0.31,0.003],
 * "cpu_ms":[0.030,0.10,0.20,0.05,0.006],"heap_start_mb":4,"heap_end_mb":5,
 * "heap_live_mb":1,"goal_mb":5,"stacks_mb":0,"globals_mb":0,"procs":2,
 * "forced":true,"line":"gc 7 @..."}.  A line in another form (scvg lines,
 * anything unexpected) gives {"line":"..."} only.  Never NULL unless out
 * of memory.  line without its '\n'.
 */
json_t *proto_parse_gctrace(const char *line);
/*
 * A schedtrace line ("SCHED 1004ms: gomaxprocs=2 idleprocs=0 threads=5
 * spinningthreads=0 idlethreads=1 runqueue=0 [1 0]") to {"at_ms":1004,
 * "gomaxprocs":2,...,"runqueue":0,"runqueues":[1,0],"line":"..."}; the
 * scheddetail lines ("  P0: status=1 ...", "  M1: ...", "  G1: ...") to
 * {"line":"..."} with "detail":true.  Never NULL unless out of memory.
 */
json_t *proto_parse_schedtrace(const char *line);

/*
 * The units people type, shared by gortd's settings and gortctl's
 * arguments.  Sizes: "512MiB", "2GiB", "1048576", "64B" (suffixes B, KiB,
 * MiB, GiB, TiB; no sign, no spaces) or "off" (INT64_MAX).  Durations:
 * "30d", "12h", "1h30m", "250ms" or "0", in nanoseconds; units ms, s, m,
 * h, d (24 h), w, and every number needs one.  Both return false, storing
 * nothing, for anything else, an overflow of int64_t included.
 */
bool proto_parse_size(const char *s, int64_t *out);
bool proto_parse_duration(const char *s, int64_t *out);

#endif
