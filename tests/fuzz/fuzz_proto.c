/*
 * fuzz_proto.c - libFuzzer target for the control protocol module.
 *
 * The input is a request line as a peer could send it.  When it parses,
 * the argument getters run on each of its arguments and the response
 * builders on its id; when it does not, the error message goes back
 * through proto_error as the daemon would send it.  The same bytes are
 * also fed to the trace parsers.  Every line a builder writes must be
 * valid JSON: abort() makes libFuzzer keep the input that breaks that.
 * Everything is freed, so that a leak is reported as one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* A builder's line must be one JSON object and its '\n'. */
static void check_line(char *s)
{
    if (!s)
        abort();
    size_t n = strlen(s);
    if (n == 0 || s[n - 1] != '\n' || memchr(s, '\n', n - 1))
        abort();
    json_t *j = json_loadb(s, n - 1, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j))
        abort();
    json_decref(j);
    free(s);
}

static void use_args(const struct proto_req *req)
{
    static const char *const known[] = {"value", "path", "on", NULL};
    char msg[256];
    int64_t i = 0;
    bool b = false;
    const char *s = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(req->args, key, v) {
        proto_arg_int(req->args, key, false, -1, INT32_MAX, &i, msg, sizeof msg);
        proto_arg_bool(req->args, key, true, &b, msg, sizeof msg);
        if (proto_arg_string(req->args, key, false, 16, &s, msg, sizeof msg) == PROTO_OK && strlen(s) > 16)
            abort();
        check_line(proto_error(req->id, PROTO_EINVAL, "%s", msg));
    }
    proto_args_only(req->args, known, msg, sizeof msg);
    check_line(proto_error(req->id, PROTO_EINVAL, "%s", msg));
}

static void parse_request(const uint8_t *data, size_t size)
{
    struct proto_req req;
    char msg[512];
    if (proto_req_parse((const char *)data, size, &req, msg, sizeof msg) != PROTO_OK) {
        if (req.root)
            abort();
        check_line(proto_error(req.id, PROTO_EPROTO, "%s", msg));
        return;
    }
    use_args(&req);
    check_line(proto_ok(req.id, json_deep_copy(req.args)));
    check_line(proto_event(req.id, req.cmd, json_deep_copy(req.args)));
    check_line(proto_dropped(req.id, req.cmd, (uint64_t)req.id));
    check_line(proto_greeting(req.cmd, (long)req.id));
    proto_req_free(&req);
}

/* A trace parser's object, sent the way the daemon sends events. */
static void parse_trace(json_t *(*parser)(const char *), const char *line)
{
    json_t *o = parser(line);
    if (!json_is_string(json_object_get(o, "line")))
        abort();
    check_line(proto_event(1, "trace", o));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_request(data, size);
    char *line = malloc(size + 1);
    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    parse_trace(proto_parse_gctrace, line);
    parse_trace(proto_parse_schedtrace, line);
    free(line);
    return 0;
}
