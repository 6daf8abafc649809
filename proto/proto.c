/*
 * proto.c - the control protocol's wire format: request checking, the
 * builders of every line the daemon writes, typed argument getters, and
 * the gctrace and schedtrace parsers.
 *
 * A request line comes from a peer that may be buggy or hostile, so the
 * parser is strict and says exactly what it refused.  Strict, because a
 * lenient parser turns a client's typo into a silently ignored argument:
 * duplicate keys (which one would win?), trailing bytes after the object,
 * unknown keys, an id that is a real or a string, and a NUL byte (which C
 * code downstream would read as the end of a string) are all errors.  The
 * length check comes before any parsing so that an oversized line costs
 * nothing.  When a request is bad but its id could be read, the id is
 * kept so that the error response can still be matched by the client.
 *
 * Everything written is one line of compact JSON and must always be valid
 * JSON, whatever the caller formats into a message: a peer's own bytes
 * often end up in an error message, and jansson refuses strings that are
 * not UTF-8, which would turn a bad request into no response at all.  So
 * every string that may carry outside bytes goes through json_text(),
 * which replaces invalid UTF-8 with U+FFFD and bounds messages, cutting
 * only between characters.  Builders steal the value they are given even
 * when they fail, so that a caller has exactly one path to think about.
 *
 * The trace parsers read what the runtime prints for GODEBUG gctrace and
 * schedtrace.  A line either matches the whole expected form and gives
 * every field, or gives only its text: a consumer never sees half a
 * record.  Numbers are scanned by hand with a digit limit instead of
 * strtod, which depends on the locale and accepts forms ("1e5", "inf",
 * "0x10") that the runtime never prints; the limit keeps every value
 * exact in a double.
 */
#include "proto.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest "message" of an error response, in bytes. */
#define MSG_MAX 1000
/* Longest quoted value in an argument error ("got ..."), in bytes. */
#define GOT_MAX 60
/* Most digits in a trace number: 10^15 < 2^53, so values stay exact. */
#define NUM_DIGITS 15

/* Reals with 15 significant digits: enough for any number the trace
 * lines carry, and 0.3 is written as 0.3 rather than as jansson's default
 * 17-digit 0.29999999999999999. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

static const char *const err_names[PROTO_NERR] = {
    [PROTO_EPROTO] = "EPROTO",       [PROTO_E2BIG] = "E2BIG",       [PROTO_ENOSYS] = "ENOSYS",
    [PROTO_EINVAL] = "EINVAL",       [PROTO_EPERM] = "EPERM",       [PROTO_ENOENT] = "ENOENT",
    [PROTO_EEXIST] = "EEXIST",       [PROTO_EBUSY] = "EBUSY",       [PROTO_ETIMEDOUT] = "ETIMEDOUT",
    [PROTO_ESHUTDOWN] = "ESHUTDOWN", [PROTO_EIO] = "EIO",
    [PROTO_ENOTSUP] = "ENOTSUP",
};

const char *proto_err_name(enum proto_err e)
{
    return (unsigned)e < PROTO_NERR ? err_names[e] : NULL;
}

enum proto_err proto_err_from_name(const char *name)
{
    for (int e = PROTO_OK + 1; e < PROTO_NERR; e++)
        if (name && strcmp(name, err_names[e]) == 0)
            return (enum proto_err)e;
    return PROTO_NERR;
}

/* ---------------------------------------------------------------------
 * Text
 * ------------------------------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at s (n > 0 bytes left),
 * or 0.  The same rules as jansson's: no overlong forms, no surrogates,
 * nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len = c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] >= 0x90))
        return 0;
    return len;
}

/*
 * A JSON string of s[0..len), with each byte that is not part of valid
 * UTF-8 replaced by U+FFFD.  When that comes to more than limit bytes
 * (limit >= 3), it is cut at a character boundary and ends with "...",
 * limit bytes at most.  NULL only when out of memory.
 */
static json_t *json_text(const char *s, size_t len, size_t limit)
{
    static const char repl[] = "\xef\xbf\xbd";
    size_t cap = len > limit / 3 ? limit : len * 3;
    char *buf = malloc(cap + 1);
    if (!buf)
        return NULL;
    size_t out = 0, cut = 0, i = 0;
    while (i < len) {
        size_t k = utf8_seq((const unsigned char *)s + i, len - i);
        const char *piece = k ? s + i : repl;
        size_t plen = k ? k : 3;
        if (plen > limit - out)
            break;
        memcpy(buf + out, piece, plen);
        out += plen;
        i += k ? k : 1;
        if (out <= limit - 3)
            cut = out;
    }
    if (i < len) {
        memcpy(buf + cut, "...", 3);
        out = cut + 3;
    }
    json_t *j = json_stringn(buf, out);
    free(buf);
    return j;
}

static json_t *json_str(const char *s)
{
    return json_text(s, strlen(s), SIZE_MAX);
}

/* Collects the first GOT_MAX + 1 bytes of a dump, one more than is
 * kept so that a cut is seen, then stops it. */
struct sink {
    char buf[GOT_MAX + 1 + 4];
    size_t len;
    bool full;
};

static int sink_put(const char *s, size_t n, void *data)
{
    struct sink *k = data;
    size_t room = GOT_MAX + 1 - k->len;
    memcpy(k->buf + k->len, s, n < room ? n : room);
    k->len += n < room ? n : room;
    k->full = k->len > GOT_MAX;
    return k->full ? -1 : 0;
}

/* v as compact JSON, cut to about GOT_MAX bytes: the "got" part of an
 * error message.  The result lives in k. */
static const char *describe(const json_t *v, struct sink *k)
{
    k->len = 0;
    k->full = false;
    json_dump_callback(v, sink_put, k, DUMP_FLAGS | JSON_ENCODE_ANY);
    if (k->full) {
        /* k->buf[GOT_MAX] is the first byte dropped: never keep the
         * beginning of a character whose end is dropped. */
        k->len = GOT_MAX;
        while (k->len > 0 && ((unsigned char)k->buf[k->len] & 0xc0) == 0x80)
            k->len--;
        memcpy(k->buf + k->len, "...", 3);
        k->len += 3;
    }
    k->buf[k->len] = '\0';
    return k->buf;
}

/* An object key, quoted and escaped like a value: it comes from the peer. */
static const char *describe_key(const char *key, struct sink *k)
{
    json_t *j = json_string(key);
    describe(j, k);
    json_decref(j);
    return k->buf;
}

static void setmsg(char *msg, size_t msgsize, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void setmsg(char *msg, size_t msgsize, const char *fmt, ...)
{
    if (!msg || msgsize == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msgsize, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------- */

/* The first key of root that a request may not have, or NULL. */
static const char *unknown_key(json_t *root)
{
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "id") != 0 && strcmp(key, "cmd") != 0 && strcmp(key, "args") != 0)
            return key;
    }
    return NULL;
}

/* Checks root, a JSON object, against the request rules; on success
 * fills req's borrowed fields.  req->id is set first, whatever follows. */
static enum proto_err check_request(json_t *root, struct proto_req *req, char *msg, size_t msgsize)
{
    struct sink k;
    json_t *id = json_object_get(root, "id");
    json_t *cmd = json_object_get(root, "cmd");
    json_t *args = json_object_get(root, "args");
    if (json_is_integer(id) && json_integer_value(id) >= 0 && json_integer_value(id) <= PROTO_MAX_ID)
        req->id = json_integer_value(id);

    const char *key;
    if (!id) {
        setmsg(msg, msgsize, "missing \"id\"");
    } else if (req->id < 0) {
        setmsg(msg, msgsize, "\"id\" must be an integer in [0, %" PRId64 "], got %s", PROTO_MAX_ID,
               describe(id, &k));
    } else if (!cmd) {
        setmsg(msg, msgsize, "missing \"cmd\"");
    } else if (!json_is_string(cmd) || json_string_length(cmd) == 0) {
        setmsg(msg, msgsize, "\"cmd\" must be a non-empty string, got %s", describe(cmd, &k));
    } else if (args && !json_is_null(args) && !json_is_object(args)) {
        setmsg(msg, msgsize, "\"args\" must be an object, got %s", describe(args, &k));
    } else if ((key = unknown_key(root)) != NULL) {
        setmsg(msg, msgsize, "unknown key %s in request (known: id, cmd, args)", describe_key(key, &k));
    } else {
        req->cmd = json_string_value(cmd);
        return PROTO_OK;
    }
    return PROTO_EPROTO;
}

/* Absent or null args become an empty object held by root, so that
 * proto_req_free has one reference to drop. */
static enum proto_err fill_args(struct proto_req *req, char *msg, size_t msgsize)
{
    req->args = json_object_get(req->root, "args");
    if (json_is_object(req->args))
        return PROTO_OK;
    req->args = json_object();
    if (json_object_set_new(req->root, "args", req->args) != 0) {
        setmsg(msg, msgsize, "out of memory");
        return PROTO_EIO;
    }
    return PROTO_OK;
}

enum proto_err proto_req_parse(const char *line, size_t len, struct proto_req *req, char *msg, size_t msgsize)
{
    *req = (struct proto_req){.id = -1};
    if (len > PROTO_MAX_LINE) {
        setmsg(msg, msgsize, "line is %zu bytes, longer than the limit of %zu", len, PROTO_MAX_LINE);
        return PROTO_E2BIG;
    }
    if (memchr(line, '\0', len)) {
        setmsg(msg, msgsize, "NUL byte in line");
        return PROTO_EPROTO;
    }
    json_error_t err;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!root) {
        if (json_error_code(&err) == json_error_out_of_memory) {
            setmsg(msg, msgsize, "out of memory");
            return PROTO_EIO;
        }
        setmsg(msg, msgsize, "invalid JSON at line %d column %d: %s", err.line, err.column, err.text);
        return PROTO_EPROTO;
    }
    struct sink k;
    enum proto_err rc = PROTO_EPROTO;
    if (!json_is_object(root))
        setmsg(msg, msgsize, "request must be a JSON object, got %s", describe(root, &k));
    else
        rc = check_request(root, req, msg, msgsize);
    req->root = root;
    if (rc == PROTO_OK)
        rc = fill_args(req, msg, msgsize);
    if (rc != PROTO_OK) {
        int64_t id = req->id;
        proto_req_free(req);
        req->id = id;
    }
    return rc;
}

void proto_req_free(struct proto_req *req)
{
    json_decref(req->root);
    *req = (struct proto_req){.id = -1};
}

/* ---------------------------------------------------------------------
 * Builders
 * ------------------------------------------------------------------- */

static json_t *json_id(int64_t id)
{
    return id < 0 ? json_null() : json_integer(id);
}

/* o as one line with its '\n', then o released.  rc is the or of the
 * json_object_set_new calls that built o: nonzero means something is
 * missing, which can only be for want of memory. */
static char *finish(json_t *o, int rc)
{
    size_t n = rc ? 0 : json_dumpb(o, NULL, 0, DUMP_FLAGS);
    char *s = n > 0 ? malloc(n + 2) : NULL;
    if (s && json_dumpb(o, s, n, DUMP_FLAGS) == n) {
        s[n] = '\n';
        s[n + 1] = '\0';
    } else {
        free(s);
        s = NULL;
    }
    json_decref(o);
    return s;
}

char *proto_ok(int64_t id, json_t *result)
{
    json_t *o = json_object();
    int rc = json_object_set_new(o, "id", json_id(id));
    rc |= json_object_set_new(o, "ok", json_true());
    rc |= json_object_set_new(o, "result", result ? result : json_object());
    return finish(o, rc);
}

char *proto_error(int64_t id, enum proto_err code, const char *fmt, ...)
{
    char *text;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    json_t *message = json_text(text, (size_t)n, MSG_MAX);
    free(text);
    /* An error response must carry a code clients know. */
    const char *name = proto_err_name(code) ? proto_err_name(code) : "EIO";
    json_t *e = json_object();
    int rc = json_object_set_new(e, "code", json_string(name));
    rc |= json_object_set_new(e, "message", message);
    json_t *o = json_object();
    rc |= json_object_set_new(o, "id", json_id(id));
    rc |= json_object_set_new(o, "ok", json_false());
    rc |= json_object_set_new(o, "error", e);
    return finish(o, rc);
}

char *proto_event(int64_t id, const char *event, json_t *data)
{
    json_t *o = json_object();
    int rc = json_object_set_new(o, "id", json_id(id));
    rc |= json_object_set_new(o, "event", json_str(event));
    rc |= json_object_set_new(o, "data", data ? data : json_object());
    return finish(o, rc);
}

char *proto_dropped(int64_t id, const char *stream, uint64_t count)
{
    json_t *o = json_object();
    int rc = json_object_set_new(o, "id", json_id(id));
    rc |= json_object_set_new(o, "event", json_string("dropped"));
    rc |= json_object_set_new(o, "stream", json_str(stream));
    rc |= json_object_set_new(o, "count", json_integer(count > INT64_MAX ? INT64_MAX : (json_int_t)count));
    return finish(o, rc);
}

char *proto_greeting(const char *version, long pid)
{
    json_t *o = json_object();
    int rc = json_object_set_new(o, "hello", json_string("gortd"));
    rc |= json_object_set_new(o, "version", json_str(version));
    rc |= json_object_set_new(o, "protocol", json_integer(PROTO_VERSION));
    rc |= json_object_set_new(o, "pid", json_integer(pid));
    return finish(o, rc);
}

/* ---------------------------------------------------------------------
 * Arguments
 * ------------------------------------------------------------------- */

/* The value of args[name] into *v, or a result when there is none to
 * check: PROTO_OK for an optional one, PROTO_EINVAL otherwise.  Returns
 * PROTO_NERR when *v is to be checked. */
static enum proto_err lookup(json_t *args, const char *name, bool optional, json_t **v, char *msg,
                             size_t msgsize)
{
    *v = json_object_get(args, name);
    if (*v && !json_is_null(*v))
        return PROTO_NERR;
    if (optional)
        return PROTO_OK;
    setmsg(msg, msgsize, "missing argument \"%s\"", name);
    return PROTO_EINVAL;
}

enum proto_err proto_arg_int(json_t *args, const char *name, bool optional, int64_t min, int64_t max,
                             int64_t *out, char *msg, size_t msgsize)
{
    json_t *v;
    enum proto_err rc = lookup(args, name, optional, &v, msg, msgsize);
    if (rc != PROTO_NERR)
        return rc;
    if (json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max) {
        *out = json_integer_value(v);
        return PROTO_OK;
    }
    struct sink k;
    setmsg(msg, msgsize, "argument \"%s\" must be an integer in [%" PRId64 ", %" PRId64 "], got %s", name, min,
           max, describe(v, &k));
    return PROTO_EINVAL;
}

enum proto_err proto_arg_bool(json_t *args, const char *name, bool optional, bool *out, char *msg,
                              size_t msgsize)
{
    json_t *v;
    enum proto_err rc = lookup(args, name, optional, &v, msg, msgsize);
    if (rc != PROTO_NERR)
        return rc;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return PROTO_OK;
    }
    struct sink k;
    setmsg(msg, msgsize, "argument \"%s\" must be true or false, got %s", name, describe(v, &k));
    return PROTO_EINVAL;
}

enum proto_err proto_arg_string(json_t *args, const char *name, bool optional, size_t maxlen,
                                const char **out, char *msg, size_t msgsize)
{
    json_t *v;
    enum proto_err rc = lookup(args, name, optional, &v, msg, msgsize);
    if (rc != PROTO_NERR)
        return rc;
    struct sink k;
    if (!json_is_string(v)) {
        setmsg(msg, msgsize, "argument \"%s\" must be a string, got %s", name, describe(v, &k));
    } else if (json_string_length(v) == 0) {
        setmsg(msg, msgsize, "argument \"%s\" must not be empty", name);
    } else if (json_string_length(v) != strlen(json_string_value(v))) {
        setmsg(msg, msgsize, "argument \"%s\" must not contain a NUL byte", name);
    } else if (json_string_length(v) > maxlen) {
        setmsg(msg, msgsize, "argument \"%s\" must be at most %zu bytes long, got %zu", name, maxlen,
               json_string_length(v));
    } else {
        *out = json_string_value(v);
        return PROTO_OK;
    }
    return PROTO_EINVAL;
}

static bool is_known(const char *key, const char *const *known)
{
    for (; known && *known; known++)
        if (strcmp(key, *known) == 0)
            return true;
    return false;
}

/* "a, b, c" into buf, as much as fits. */
static void join(const char *const *known, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (; *known && n < size; known++) {
        int w = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", *known);
        n += w < 0 ? size : (size_t)w;
    }
}

enum proto_err proto_args_only(json_t *args, const char *const *known, char *msg, size_t msgsize)
{
    if (!json_is_object(args)) {
        setmsg(msg, msgsize, "arguments must be an object");
        return PROTO_EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(args, key, v) {
        if (is_known(key, known))
            continue;
        struct sink k;
        describe_key(key, &k);
        if (!known || !*known) {
            setmsg(msg, msgsize, "command takes no arguments, got %s", k.buf);
        } else {
            char list[256];
            join(known, list, sizeof list);
            setmsg(msg, msgsize, "unknown argument %s (known: %s)", k.buf, list);
        }
        return PROTO_EINVAL;
    }
    return PROTO_OK;
}

/* ---------------------------------------------------------------------
 * Trace lines
 * ------------------------------------------------------------------- */

/* What is left of a line. */
struct cur {
    const char *p, *end;
};

static bool eat(struct cur *c, char ch)
{
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* Digits with an optional fraction ("12", "0.015"), at most NUM_DIGITS
 * digits in all: the digits as an integer, and how many follow the '.'. */
static bool scan_number(struct cur *c, json_int_t *mant, int *scale)
{
    json_int_t m = 0;
    int digits = 0, frac = -1;
    for (; c->p < c->end; c->p++) {
        if (*c->p >= '0' && *c->p <= '9') {
            if (++digits > NUM_DIGITS)
                return false;
            m = m * 10 + (*c->p - '0');
            frac += frac >= 0;
        } else if (*c->p == '.' && digits > 0 && frac < 0) {
            frac = 0;
        } else {
            break;
        }
    }
    *mant = m;
    *scale = frac < 0 ? 0 : frac;
    return digits > 0 && frac != 0;
}

/*
 * Matches fmt against the start of c, sscanf-like but strict: every
 * other character must match itself, with no skipping of spaces.
 *   %u  digits, into a json_int_t
 *   %d  an optional '-' then digits, into a json_int_t
 *   %f  digits with an optional fraction, into a double
 *   %%  a '%'
 */
static bool vscan(struct cur *c, const char *fmt, va_list ap)
{
    static const double tens[NUM_DIGITS + 1] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                                 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    json_int_t m;
    int scale;
    for (; *fmt; fmt++) {
        if (*fmt != '%' || fmt[1] == '%') {
            fmt += *fmt == '%';
            if (!eat(c, *fmt))
                return false;
            continue;
        }
        char conv = *++fmt;
        bool neg = conv == 'd' && eat(c, '-');
        if (!scan_number(c, &m, &scale) || (conv != 'f' && scale != 0))
            return false;
        if (conv == 'f')
            *va_arg(ap, double *) = (double)m / tens[scale];
        else
            *va_arg(ap, json_int_t *) = neg ? -m : m;
    }
    return true;
}

/* vscan, leaving c where it was when fmt does not match: a failed
 * optional part must not eat what it matched of the line. */
static bool scan(struct cur *c, const char *fmt, ...)
{
    const char *start = c->p;
    va_list ap;
    va_start(ap, fmt);
    bool ok = vscan(c, fmt, ap);
    va_end(ap);
    if (!ok)
        c->p = start;
    return ok;
}

/* The length of line without a trailing "\n" or "\r\n". */
static size_t trim(const char *line)
{
    size_t n = strlen(line);
    if (n > 0 && line[n - 1] == '\n') {
        n--;
        if (n > 0 && line[n - 1] == '\r')
            n--;
    }
    return n;
}

/* Adds "line" to o, or releases o when that fails. */
static json_t *with_line(json_t *o, const char *line, size_t len)
{
    if (json_object_set_new(o, "line", json_text(line, len, SIZE_MAX)) == 0)
        return o;
    json_decref(o);
    return NULL;
}

struct gcline {
    json_int_t gc, pct, heap[3], goal, stacks, globals, procs;
    double at, clock[3], cpu[5];
    bool forced;
};

static bool parse_gc(const char *s, size_t len, struct gcline *g)
{
    struct cur c = {s, s + len};
    if (!scan(&c,
              "gc %u @%fs %u%%: %f+%f+%f ms clock, %f+%f/%f/%f+%f ms cpu, %u->%u->%u MB, %u MB goal, "
              "%u MB stacks, %u MB globals, %u P",
              &g->gc, &g->at, &g->pct, &g->clock[0], &g->clock[1], &g->clock[2], &g->cpu[0], &g->cpu[1],
              &g->cpu[2], &g->cpu[3], &g->cpu[4], &g->heap[0], &g->heap[1], &g->heap[2], &g->goal,
              &g->stacks, &g->globals, &g->procs))
        return false;
    g->forced = scan(&c, " (forced)");
    return c.p == c.end;
}

static json_t *gc_fields(const struct gcline *g)
{
    return json_pack("{s:I, s:f, s:I, s:[f,f,f], s:[f,f,f,f,f], s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
                     "gc", g->gc, "at_s", g->at, "cpu_percent", g->pct, "clock_ms", g->clock[0],
                     g->clock[1], g->clock[2], "cpu_ms", g->cpu[0], g->cpu[1], g->cpu[2], g->cpu[3],
                     g->cpu[4], "heap_start_mb", g->heap[0], "heap_end_mb", g->heap[1], "heap_live_mb",
                     g->heap[2], "goal_mb", g->goal, "stacks_mb", g->stacks, "globals_mb", g->globals,
                     "procs", g->procs, "forced", (int)g->forced);
}

json_t *proto_parse_gctrace(const char *line)
{
    size_t len = trim(line);
    struct gcline g;
    return with_line(parse_gc(line, len, &g) ? gc_fields(&g) : json_object(), line, len);
}

/* " [1 0]", the non-detail form's run queue lengths, to the end. */
static bool parse_runqueues(struct cur *c, json_t *o)
{
    json_t *a = json_array();
    json_int_t n;
    bool ok = scan(c, " [");
    do
        ok = ok && scan(c, "%u", &n) && json_array_append_new(a, json_integer(n)) == 0;
    while (ok && eat(c, ' '));
    ok = ok && eat(c, ']') && c->p == c->end;
    return json_object_set_new(o, "runqueues", a) == 0 && ok;
}

/* " key=-12": lowercase letters, then an integer. */
static bool parse_pair(struct cur *c, json_t *o)
{
    char key[32];
    size_t n = 0;
    json_int_t v;
    if (!eat(c, ' '))
        return false;
    while (c->p < c->end && *c->p >= 'a' && *c->p <= 'z' && n < sizeof key - 1)
        key[n++] = *c->p++;
    key[n] = '\0';
    if (n == 0 || !scan(c, "=%d", &v) || strcmp(key, "line") == 0 || strcmp(key, "runqueues") == 0 ||
        json_object_get(o, key))
        return false;
    return json_object_set_new(o, key, json_integer(v)) == 0;
}

/* Fills o from a "SCHED ..." line; false, with o part-filled, when the
 * line is anything else (or memory ran out). */
static bool parse_sched(const char *s, size_t len, json_t *o)
{
    struct cur c = {s, s + len};
    json_int_t at;
    if (!scan(&c, "SCHED %ums:", &at) || json_object_set_new(o, "at_ms", json_integer(at)) != 0)
        return false;
    while (c.p < c.end) {
        if (c.end - c.p >= 2 && c.p[1] == '[')
            return parse_runqueues(&c, o);
        if (!parse_pair(&c, o))
            return false;
    }
    return true;
}

/* The fields of a scheddetail line ("  P0: ...", "  M2: ...", "  G1:
 * ..."), of which only the kind and number are common to all; {} for
 * any other line. */
static json_t *detail_fields(const char *s, size_t len)
{
    struct cur c = {s, s + len};
    json_int_t n;
    if (!scan(&c, "  "))
        return json_object();
    char kind = c.p < c.end ? *c.p++ : '\0';
    if (kind && strchr("PMG", kind) && scan(&c, "%u:", &n))
        return json_pack("{s:b, s:s#, s:I}", "detail", 1, "kind", &kind, 1, "n", n);
    return json_pack("{s:b}", "detail", 1);
}

json_t *proto_parse_schedtrace(const char *line)
{
    size_t len = trim(line);
    json_t *o = json_object();
    if (!o || !parse_sched(line, len, o)) {
        json_decref(o);
        o = detail_fields(line, len);
    }
    return with_line(o, line, len);
}

/* ------------------------------------------------------------------ */
/* Units                                                                */

bool proto_parse_size(const char *s, int64_t *out)
{
    if (strcmp(s, "off") == 0) {
        *out = INT64_MAX;
        return true;
    }
    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return false;
    static const struct { const char *suffix; int shift; } units[] = {
        {"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) != 0)
            continue;
        if (v > (unsigned long long)INT64_MAX >> units[i].shift)
            return false;
        *out = (int64_t)(v << units[i].shift);
        return true;
    }
    return false;
}

bool proto_parse_duration(const char *s, int64_t *out)
{
    static const struct { const char *unit; int64_t ns; } units[] = {
        {"ms", 1000000}, {"s", 1000000000}, {"m", 60000000000}, {"h", 3600000000000},
        {"d", 86400000000000}, {"w", 604800000000000},
    };
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return true;
    }
    int64_t total = 0;
    if (!*s)
        return false;
    while (*s) {
        if (!isdigit((unsigned char)*s))
            return false;
        errno = 0;
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno)
            return false;
        size_t ulen = 0;
        while (isalpha((unsigned char)end[ulen]))
            ulen++;
        size_t i = 0;
        for (; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].unit) == ulen && strncmp(end, units[i].unit, ulen) == 0)
                break;
        if (i == sizeof units / sizeof units[0])
            return false;
        if (v > (unsigned long long)(INT64_MAX - total) / (unsigned long long)units[i].ns)
            return false;
        total += (int64_t)v * units[i].ns;
        s = end + ulen;
    }
    *out = total;
    return true;
}
