/*
 * test_proto.c - the control protocol module on its own: every rule of the
 * request parser with the message it gives and the id it echoes, the line
 * length limit at its boundary, the exact bytes each builder writes,
 * messages that are too long or not UTF-8, the typed argument getters'
 * accepted values and exact messages, and the gctrace and schedtrace
 * parsers on lines as the runtime prints them and on anything else.
 *
 * No runtime: these are pure functions, so the suite is a plain cmocka
 * group and needs neither gt_main nor a goroutine.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* ---------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------- */

static enum proto_err parse_n(const char *line, size_t len, struct proto_req *req, char *msg, size_t size)
{
    memset(msg, 0, size);
    return proto_req_parse(line, len, req, msg, size);
}

/* line must fail with code, a message containing part, and the given
 * echoed id, owning nothing. */
static void expect_reject_n(const char *line, size_t len, enum proto_err code, const char *part, int64_t id)
{
    struct proto_req req;
    char msg[512];
    enum proto_err rc = parse_n(line, len, &req, msg, sizeof msg);
    if (rc != code || !strstr(msg, part) || req.id != id || req.root)
        fail_msg("parse of %.80s: got %s \"%s\" id %lld root %p; want %s containing \"%s\" id %lld", line,
                 proto_err_name(rc), msg, (long long)req.id, (void *)req.root, proto_err_name(code), part,
                 (long long)id);
}

static void expect_reject(const char *line, enum proto_err code, const char *part, int64_t id)
{
    expect_reject_n(line, strlen(line), code, part, id);
}

static void parse_ok(const char *line, struct proto_req *req)
{
    char msg[512];
    enum proto_err rc = parse_n(line, strlen(line), req, msg, sizeof msg);
    if (rc != PROTO_OK)
        fail_msg("parse of %s: %s \"%s\"", line, proto_err_name(rc), msg);
}

/* got is a builder's malloc'd line: it must be exactly want. */
static void expect_line(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* A builder's line as JSON (one object, exactly one '\n', at the end),
 * and its error message. */
static json_t *load_line(char *s)
{
    assert_non_null(s);
    size_t n = strlen(s);
    assert_true(n > 0 && s[n - 1] == '\n');
    assert_null(memchr(s, '\n', n - 1));
    json_error_t err;
    json_t *j = json_loadb(s, n - 1, 0, &err);
    if (!j)
        fail_msg("not JSON (%s): %s", err.text, s);
    free(s);
    return j;
}

static const char *error_message(json_t *resp)
{
    const char *m = json_string_value(json_object_get(json_object_get(resp, "error"), "message"));
    assert_non_null(m);
    return m;
}

static int64_t int_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("\"%s\" is not an integer", key);
    return json_integer_value(v);
}

/* Reals are compared exactly: the parser rounds a decimal correctly, as
 * the compiler does a literal. */
static void expect_real(json_t *v, double want)
{
    if (!json_is_real(v) || json_real_value(v) != want)
        fail_msg("want the real %.17g, got %s %.17g", want, json_is_real(v) ? "real" : "non-real",
                 json_number_value(v));
}

static void expect_reals(json_t *a, const double *want, size_t n)
{
    assert_true(json_is_array(a));
    assert_int_equal(json_array_size(a), n);
    for (size_t i = 0; i < n; i++)
        expect_real(json_array_get(a, i), want[i]);
}

/* A line that parses to {"line": line} only. */
static void expect_only_line(json_t *(*parser)(const char *), const char *line)
{
    json_t *o = parser(line);
    assert_non_null(o);
    if (json_object_size(o) != 1)
        fail_msg("%s: %zu fields", line, json_object_size(o));
    assert_string_equal(json_string_value(json_object_get(o, "line")), line);
    json_decref(o);
}

/* ---------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------- */

static void test_a_request_with_args_gives_id_cmd_and_the_args_object(void **state)
{
    struct proto_req req;
    parse_ok("{\"id\":42,\"cmd\":\"gc\",\"args\":{\"value\":3}}", &req);
    assert_non_null(req.root);
    assert_int_equal(req.id, 42);
    assert_string_equal(req.cmd, "gc");
    assert_true(json_is_object(req.args));
    assert_int_equal(json_integer_value(json_object_get(req.args, "value")), 3);
    proto_req_free(&req);
    assert_null(req.root);
}

static void test_a_request_without_args_gets_an_empty_object(void **state)
{
    struct proto_req req;
    parse_ok("{\"cmd\":\"ping\",\"id\":0}", &req);
    assert_int_equal(req.id, 0);
    assert_string_equal(req.cmd, "ping");
    assert_true(json_is_object(req.args));
    assert_int_equal(json_object_size(req.args), 0);
    proto_req_free(&req);
}

static void test_null_args_are_an_empty_object(void **state)
{
    struct proto_req req;
    parse_ok("{\"id\":1,\"cmd\":\"ping\",\"args\":null}", &req);
    assert_true(json_is_object(req.args));
    assert_int_equal(json_object_size(req.args), 0);
    proto_req_free(&req);
}

static void test_ids_from_zero_to_the_largest_exact_double_are_accepted(void **state)
{
    struct proto_req req;
    parse_ok("{\"id\":9007199254740992,\"cmd\":\"ping\"}", &req);
    assert_int_equal(req.id, PROTO_MAX_ID);
    proto_req_free(&req);
    parse_ok("{\"id\":-0,\"cmd\":\"ping\"}", &req);
    assert_int_equal(req.id, 0);
    proto_req_free(&req);
}

static void test_whitespace_around_the_object_and_a_trailing_cr_are_accepted(void **state)
{
    struct proto_req req;
    parse_ok(" { \"id\" : 5 , \"cmd\" : \"ping\" } \r", &req);
    assert_int_equal(req.id, 5);
    proto_req_free(&req);
}

static void test_a_request_with_a_real_id_is_eproto_naming_id(void **state)
{
    expect_reject("{\"id\":1.0,\"cmd\":\"ping\"}", PROTO_EPROTO,
                  "\"id\" must be an integer in [0, 9007199254740992], got 1.0", -1);
}

static void test_a_string_negative_or_too_large_id_is_eproto_naming_id(void **state)
{
    expect_reject("{\"id\":\"1\",\"cmd\":\"ping\"}", PROTO_EPROTO, "\"id\" must be an integer", -1);
    expect_reject("{\"id\":-1,\"cmd\":\"ping\"}", PROTO_EPROTO, "got -1", -1);
    expect_reject("{\"id\":9007199254740993,\"cmd\":\"ping\"}", PROTO_EPROTO, "got 9007199254740993", -1);
    expect_reject("{\"id\":null,\"cmd\":\"ping\"}", PROTO_EPROTO, "got null", -1);
}

static void test_a_request_without_id_is_eproto(void **state)
{
    expect_reject("{\"cmd\":\"ping\"}", PROTO_EPROTO, "missing \"id\"", -1);
}

static void test_a_missing_cmd_is_eproto_echoing_the_id(void **state)
{
    expect_reject("{\"id\":7}", PROTO_EPROTO, "missing \"cmd\"", 7);
}

static void test_an_empty_or_non_string_cmd_is_eproto_echoing_the_id(void **state)
{
    expect_reject("{\"id\":7,\"cmd\":\"\"}", PROTO_EPROTO, "\"cmd\" must be a non-empty string, got \"\"", 7);
    expect_reject("{\"id\":8,\"cmd\":5}", PROTO_EPROTO, "\"cmd\" must be a non-empty string, got 5", 8);
}

static void test_args_that_are_not_an_object_are_eproto_echoing_the_id(void **state)
{
    expect_reject("{\"id\":9,\"cmd\":\"gc\",\"args\":[1]}", PROTO_EPROTO, "\"args\" must be an object, got [1]", 9);
    expect_reject("{\"id\":9,\"cmd\":\"gc\",\"args\":\"x\"}", PROTO_EPROTO, "got \"x\"", 9);
}

static void test_an_unknown_top_level_key_is_eproto_naming_it(void **state)
{
    expect_reject("{\"id\":3,\"cmd\":\"gc\",\"arg\":{}}", PROTO_EPROTO,
                  "unknown key \"arg\" in request (known: id, cmd, args)", 3);
}

static void test_a_line_that_is_not_an_object_is_eproto(void **state)
{
    expect_reject("[1,2]", PROTO_EPROTO, "request must be a JSON object, got [1,2]", -1);
    expect_reject("42", PROTO_EPROTO, "request must be a JSON object, got 42", -1);
}

static void test_invalid_json_is_eproto_with_jansson_text_and_column(void **state)
{
    expect_reject("{\"id\":tru}", PROTO_EPROTO, "invalid JSON at line 1 column 9: invalid token near 'tru'", -1);
    expect_reject("", PROTO_EPROTO, "invalid JSON at line 1", -1);
}

static void test_trailing_garbage_after_the_object_is_eproto(void **state)
{
    expect_reject("{\"id\":1,\"cmd\":\"ping\"} x", PROTO_EPROTO, "end of file expected", -1);
    expect_reject("{\"id\":1,\"cmd\":\"ping\"}{}", PROTO_EPROTO, "invalid JSON", -1);
}

static void test_duplicate_keys_are_eproto_at_any_depth(void **state)
{
    expect_reject("{\"id\":1,\"id\":2,\"cmd\":\"ping\"}", PROTO_EPROTO, "duplicate object key", -1);
    expect_reject("{\"id\":1,\"cmd\":\"gc\",\"args\":{\"a\":1,\"a\":1}}", PROTO_EPROTO, "duplicate object key", -1);
}

static void test_a_nul_byte_anywhere_is_eproto(void **state)
{
    static const char line[] = "{\"id\":1,\"cmd\":\"p\0ing\"}";
    expect_reject_n(line, sizeof line - 1, PROTO_EPROTO, "NUL byte in line", -1);
    expect_reject_n("{\"id\":1} \0", 10, PROTO_EPROTO, "NUL byte in line", -1);
    /* The escaped form is no way around it. */
    expect_reject("{\"id\":1,\"cmd\":\"p\\u0000ing\"}", PROTO_EPROTO, "invalid JSON", -1);
}

static const char pad_head[] = "{\"id\":1,\"cmd\":\"x\",\"args\":{\"pad\":\"", pad_tail[] = "\"}}";

/* {"id":1,"cmd":"x","args":{"pad":"aaa..."}} of exactly len bytes. */
static char *padded_request(size_t len)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    memset(s, 'a', len);
    memcpy(s, pad_head, sizeof pad_head - 1);
    memcpy(s + len - (sizeof pad_tail - 1), pad_tail, sizeof pad_tail);
    return s;
}

static void test_a_line_of_exactly_the_limit_parses_and_one_byte_more_is_e2big(void **state)
{
    char *s = padded_request(PROTO_MAX_LINE);
    struct proto_req req;
    char msg[256];
    assert_int_equal(parse_n(s, PROTO_MAX_LINE, &req, msg, sizeof msg), PROTO_OK);
    assert_int_equal(json_string_length(json_object_get(req.args, "pad")), PROTO_MAX_LINE - (sizeof pad_head - 1) - (sizeof pad_tail - 1));
    proto_req_free(&req);
    free(s);

    s = padded_request(PROTO_MAX_LINE + 1);
    expect_reject_n(s, PROTO_MAX_LINE + 1, PROTO_E2BIG, "line is 1048577 bytes, longer than the limit of 1048576",
                    -1);
    free(s);
}

static void test_a_short_message_buffer_gets_a_truncated_terminated_message(void **state)
{
    struct proto_req req;
    char msg[8];
    memset(msg, 'x', sizeof msg);
    assert_int_equal(proto_req_parse("{\"id\":1}", 8, &req, msg, sizeof msg), PROTO_EPROTO);
    assert_string_equal(msg, "missing");
    assert_int_equal(proto_req_parse("{\"id\":1}", 8, &req, NULL, 0), PROTO_EPROTO);
    assert_int_equal(req.id, 1);
}

static void test_freeing_a_failed_or_freed_request_is_harmless(void **state)
{
    struct proto_req req;
    char msg[64];
    assert_int_equal(parse_n("{", 1, &req, msg, sizeof msg), PROTO_EPROTO);
    proto_req_free(&req);
    parse_ok("{\"id\":1,\"cmd\":\"ping\"}", &req);
    proto_req_free(&req);
    proto_req_free(&req);
    assert_int_equal(req.id, -1);
}

/* ---------------------------------------------------------------------
 * Error codes
 * ------------------------------------------------------------------- */

static void test_error_names_are_the_enum_names_and_round_trip(void **state)
{
    static const char *const want[PROTO_NERR] = {NULL,    "EPROTO", "E2BIG",     "ENOSYS",    "EINVAL", "EPERM",
                                                 "ENOENT", "EEXIST", "EBUSY", "ETIMEDOUT", "ESHUTDOWN", "EIO", "ENOTSUP"};
    for (int e = PROTO_EPROTO; e < PROTO_NERR; e++) {
        assert_string_equal(proto_err_name((enum proto_err)e), want[e]);
        assert_int_equal(proto_err_from_name(want[e]), e);
    }
    assert_null(proto_err_name(PROTO_OK));
    assert_null(proto_err_name(PROTO_NERR));
    assert_null(proto_err_name((enum proto_err)-1));
    assert_int_equal(proto_err_from_name("OK"), PROTO_NERR);
    assert_int_equal(proto_err_from_name("eproto"), PROTO_NERR);
    assert_int_equal(proto_err_from_name(NULL), PROTO_NERR);
}

/* ---------------------------------------------------------------------
 * Builders
 * ------------------------------------------------------------------- */

static void test_ok_is_compact_with_keys_in_order(void **state)
{
    expect_line(proto_ok(7, json_pack("{s:i,s:s}", "n", 3, "s", "x y")),
                "{\"id\":7,\"ok\":true,\"result\":{\"n\":3,\"s\":\"x y\"}}\n");
    expect_line(proto_ok(PROTO_MAX_ID, NULL), "{\"id\":9007199254740992,\"ok\":true,\"result\":{}}\n");
}

static void test_a_negative_id_is_written_as_null(void **state)
{
    expect_line(proto_ok(-1, NULL), "{\"id\":null,\"ok\":true,\"result\":{}}\n");
    expect_line(proto_error(-1, PROTO_E2BIG, "too long"),
                "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"E2BIG\",\"message\":\"too long\"}}\n");
}

static void test_error_is_compact_with_code_and_formatted_message(void **state)
{
    expect_line(proto_error(3, PROTO_EINVAL, "bad %s: %d", "value", 12),
                "{\"id\":3,\"ok\":false,\"error\":{\"code\":\"EINVAL\",\"message\":\"bad value: 12\"}}\n");
    expect_line(proto_error(4, PROTO_ENOSYS, "say \"hi\"\n\tthen go"),
                "{\"id\":4,\"ok\":false,\"error\":{\"code\":\"ENOSYS\",\"message\":\"say \\\"hi\\\"\\n\\tthen "
                "go\"}}\n");
}

static void test_an_error_with_no_valid_code_is_written_as_eio(void **state)
{
    expect_line(proto_error(1, PROTO_OK, "x"),
                "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"EIO\",\"message\":\"x\"}}\n");
    expect_line(proto_error(1, PROTO_NERR, "x"),
                "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"EIO\",\"message\":\"x\"}}\n");
}

static void test_event_dropped_and_greeting_are_compact_with_keys_in_order(void **state)
{
    expect_line(proto_event(5, "gctrace", json_pack("{s:i,s:f}", "gc", 1, "at_s", 0.3)),
                "{\"id\":5,\"event\":\"gctrace\",\"data\":{\"gc\":1,\"at_s\":0.3}}\n");
    expect_line(proto_event(-1, "exit", NULL), "{\"id\":null,\"event\":\"exit\",\"data\":{}}\n");
    expect_line(proto_dropped(5, "gctrace", 12),
                "{\"id\":5,\"event\":\"dropped\",\"stream\":\"gctrace\",\"count\":12}\n");
    expect_line(proto_greeting("0.1.0", 1234),
                "{\"hello\":\"gortd\",\"version\":\"0.1.0\",\"protocol\":1,\"pid\":1234}\n");
}

static void test_a_message_of_1000_bytes_is_kept_and_a_longer_one_is_cut_with_dots(void **state)
{
    char text[1002];
    memset(text, 'm', sizeof text - 1);
    text[1000] = '\0';
    json_t *r = load_line(proto_error(1, PROTO_EIO, "%s", text));
    assert_string_equal(error_message(r), text);
    json_decref(r);

    text[1000] = 'm';
    text[1001] = '\0';
    r = load_line(proto_error(1, PROTO_EIO, "%s", text));
    const char *m = error_message(r);
    assert_int_equal(strlen(m), 1000);
    assert_int_equal(strspn(m, "m"), 997);
    assert_string_equal(m + 997, "...");
    json_decref(r);
}

static void test_a_long_message_is_cut_between_characters(void **state)
{
    char text[1201];
    for (int i = 0; i < 600; i++)
        memcpy(text + 2 * i, "\xc3\xa9", 2); /* U+00E9 */
    text[1200] = '\0';
    json_t *r = load_line(proto_error(1, PROTO_EIO, "%s", text));
    const char *m = error_message(r);
    assert_int_equal(strlen(m), 996 + 3);
    assert_memory_equal(m, text, 996);
    assert_string_equal(m + 996, "...");
    json_decref(r);
}

static void test_invalid_utf8_in_a_message_still_gives_valid_json(void **state)
{
    json_t *r = load_line(proto_error(2, PROTO_ENOENT, "no plugin \"%s\"", "a\xff" "b\xc3(\xed\xa0\x80"));
    assert_string_equal(error_message(r),
                        "no plugin \"a\xef\xbf\xbd" "b\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 2);
    json_decref(r);
    r = load_line(proto_event(1, "x\xc0\xaf", NULL));
    assert_string_equal(json_string_value(json_object_get(r, "event")), "x\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(r);
}

/* A message buffer too small for the message cuts it at a byte count,
 * which may be inside a character. */
static void test_a_message_cut_inside_a_character_can_be_sent_back(void **state)
{
    static const char prefix[] = "\"id\" must be an integer in [0, 9007199254740992], got \"";
    char msg[sizeof prefix + 1];
    struct proto_req req;
    static const char line[] = "{\"id\":\"\xc3\xa9\"}";
    assert_int_equal(parse_n(line, sizeof line - 1, &req, msg, sizeof msg), PROTO_EPROTO);
    assert_string_equal(msg, "\"id\" must be an integer in [0, 9007199254740992], got \"\xc3");
    json_t *r = load_line(proto_error(req.id, PROTO_EPROTO, "%s", msg));
    assert_string_equal(error_message(r),
                        "\"id\" must be an integer in [0, 9007199254740992], got \"\xef\xbf\xbd");
    json_decref(r);
}

/* ---------------------------------------------------------------------
 * Arguments
 * ------------------------------------------------------------------- */

static void test_arg_int_accepts_integers_within_the_bounds(void **state)
{
    json_t *args = json_pack("{s:i,s:i,s:I}", "lo", -1, "hi", 2147483647, "big", (json_int_t)INT64_MAX);
    char msg[256];
    int64_t v = 99;
    assert_int_equal(proto_arg_int(args, "lo", false, -1, 2147483647, &v, msg, sizeof msg), PROTO_OK);
    assert_int_equal(v, -1);
    assert_int_equal(proto_arg_int(args, "hi", false, -1, 2147483647, &v, msg, sizeof msg), PROTO_OK);
    assert_int_equal(v, 2147483647);
    assert_int_equal(proto_arg_int(args, "big", false, INT64_MIN, INT64_MAX, &v, msg, sizeof msg), PROTO_OK);
    assert_true(v == INT64_MAX);
    json_decref(args);
}

static void expect_int_rejected(const char *json, const char *want)
{
    json_t *args = json_loads(json, 0, NULL);
    assert_non_null(args);
    char msg[256] = "";
    int64_t v = 99;
    assert_int_equal(proto_arg_int(args, "value", false, -1, 2147483647, &v, msg, sizeof msg), PROTO_EINVAL);
    assert_string_equal(msg, want);
    assert_int_equal(v, 99);
    json_decref(args);
}

static void test_arg_int_rejects_out_of_range_reals_and_non_numbers_quoting_them(void **state)
{
    expect_int_rejected("{\"value\":\"abc\"}", "argument \"value\" must be an integer in [-1, 2147483647], got \"abc\"");
    expect_int_rejected("{\"value\":2147483648}",
                        "argument \"value\" must be an integer in [-1, 2147483647], got 2147483648");
    expect_int_rejected("{\"value\":-2}", "argument \"value\" must be an integer in [-1, 2147483647], got -2");
    expect_int_rejected("{\"value\":1.0}", "argument \"value\" must be an integer in [-1, 2147483647], got 1.0");
    expect_int_rejected("{\"value\":true}", "argument \"value\" must be an integer in [-1, 2147483647], got true");
    expect_int_rejected("{\"value\":{\"a\":[1,2]}}",
                        "argument \"value\" must be an integer in [-1, 2147483647], got {\"a\":[1,2]}");
    expect_int_rejected("{}", "missing argument \"value\"");
    expect_int_rejected("{\"value\":null}", "missing argument \"value\"");
}

static void test_a_long_offending_value_is_quoted_cut_to_about_60_bytes(void **state)
{
    char json[200], want[200];
    snprintf(json, sizeof json, "{\"value\":\"%0100d\"}", 0);
    /* The quote and 59 digits make 60 bytes. */
    snprintf(want, sizeof want, "argument \"value\" must be an integer in [-1, 2147483647], got \"%059d...", 0);
    expect_int_rejected(json, want);
}

static void test_optional_args_absent_or_null_leave_the_output_unchanged(void **state)
{
    json_t *args = json_pack("{s:n}", "n");
    char msg[64];
    int64_t i = 5;
    bool b = true;
    const char *s = "keep";
    assert_int_equal(proto_arg_int(args, "n", true, 0, 9, &i, msg, sizeof msg), PROTO_OK);
    assert_int_equal(proto_arg_int(args, "absent", true, 0, 9, &i, msg, sizeof msg), PROTO_OK);
    assert_int_equal(proto_arg_bool(args, "n", true, &b, msg, sizeof msg), PROTO_OK);
    assert_int_equal(proto_arg_string(args, "absent", true, 10, &s, msg, sizeof msg), PROTO_OK);
    assert_int_equal(i, 5);
    assert_true(b);
    assert_string_equal(s, "keep");
    json_decref(args);
}

static void test_arg_bool_takes_only_true_and_false(void **state)
{
    json_t *args = json_pack("{s:b,s:b,s:i,s:s}", "t", 1, "f", 0, "one", 1, "str", "true");
    char msg[256];
    bool b = false;
    assert_int_equal(proto_arg_bool(args, "t", false, &b, msg, sizeof msg), PROTO_OK);
    assert_true(b);
    assert_int_equal(proto_arg_bool(args, "f", false, &b, msg, sizeof msg), PROTO_OK);
    assert_false(b);
    assert_int_equal(proto_arg_bool(args, "one", false, &b, msg, sizeof msg), PROTO_EINVAL);
    assert_string_equal(msg, "argument \"one\" must be true or false, got 1");
    assert_int_equal(proto_arg_bool(args, "str", false, &b, msg, sizeof msg), PROTO_EINVAL);
    assert_string_equal(msg, "argument \"str\" must be true or false, got \"true\"");
    assert_int_equal(proto_arg_bool(args, "none", false, &b, msg, sizeof msg), PROTO_EINVAL);
    assert_string_equal(msg, "missing argument \"none\"");
    json_decref(args);
}

static void test_arg_string_takes_non_empty_nul_free_strings_up_to_maxlen(void **state)
{
    json_t *args = json_pack("{s:s,s:s,s:s#,s:i}", "path", "abcd", "empty", "", "nul", "a\0b", 3, "num", 4);
    char msg[256];
    const char *s = NULL;
    assert_int_equal(proto_arg_string(args, "path", false, 4, &s, msg, sizeof msg), PROTO_OK);
    assert_string_equal(s, "abcd");
    assert_ptr_equal(s, json_string_value(json_object_get(args, "path")));
    assert_int_equal(proto_arg_string(args, "path", false, 3, &s, msg, sizeof msg), PROTO_EINVAL);
    assert_string_equal(msg, "argument \"path\" must be at most 3 bytes long, got 4");
    assert_int_equal(proto_arg_string(args, "empty", false, 10, &s, msg, sizeof msg), PROTO_EINVAL);
    assert_string_equal(msg, "argument \"empty\" must not be empty");
    assert_int_equal(proto_arg_string(args, "nul", false, 10, &s, msg, sizeof msg), PROTO_EINVAL);
    assert_string_equal(msg, "argument \"nul\" must not contain a NUL byte");
    assert_int_equal(proto_arg_string(args, "num", false, 10, &s, msg, sizeof msg), PROTO_EINVAL);
    assert_string_equal(msg, "argument \"num\" must be a string, got 4");
    assert_int_equal(proto_arg_string(args, "none", false, 10, &s, msg, sizeof msg), PROTO_EINVAL);
    assert_string_equal(msg, "missing argument \"none\"");
    json_decref(args);
}

static void test_args_only_names_the_first_unknown_key_and_the_known_ones(void **state)
{
    static const char *const one[] = {"value", NULL};
    static const char *const two[] = {"a", "b", NULL};
    static const char *const none[] = {NULL};
    json_t *args = json_pack("{s:i}", "value", 1);
    char msg[256];
    assert_int_equal(proto_args_only(args, one, msg, sizeof msg), PROTO_OK);
    assert_int_equal(proto_args_only(args, two, msg, sizeof msg), PROTO_EINVAL);
    assert_string_equal(msg, "unknown argument \"value\" (known: a, b)");
    json_decref(args);

    args = json_pack("{s:i,s:i,s:i}", "value", 1, "foo", 2, "bar", 3);
    assert_int_equal(proto_args_only(args, one, msg, sizeof msg), PROTO_EINVAL);
    assert_string_equal(msg, "unknown argument \"foo\" (known: value)");
    assert_int_equal(proto_args_only(args, none, msg, sizeof msg), PROTO_EINVAL);
    assert_string_equal(msg, "command takes no arguments, got \"value\"");
    json_decref(args);

    args = json_object();
    assert_int_equal(proto_args_only(args, none, msg, sizeof msg), PROTO_OK);
    assert_int_equal(proto_args_only(args, NULL, msg, sizeof msg), PROTO_OK);
    json_decref(args);
}

static void test_args_only_quotes_a_key_with_special_characters(void **state)
{
    static const char *const none[] = {NULL};
    json_t *args = json_pack("{s:i}", "a\"b\n", 1);
    char msg[256];
    assert_int_equal(proto_args_only(args, none, msg, sizeof msg), PROTO_EINVAL);
    assert_string_equal(msg, "command takes no arguments, got \"a\\\"b\\n\"");
    json_decref(args);
}

/* ---------------------------------------------------------------------
 * gctrace
 * ------------------------------------------------------------------- */

static const char gc1[] = "gc 1 @0.003s 4%: 0.12+0.25+0.001 ms clock, 0.24+0/0.17/0+0.002 ms cpu, 0->0->0 MB, "
                          "4 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)";
static const char gc2[] = "gc 2 @0.004s 4%: 0.001+0.11+0 ms clock, 0.002+0/0.007/0.082+0.001 ms cpu, 0->0->0 MB, "
                          "4 MB goal, 0 MB stacks, 0 MB globals, 2 P";

static void test_a_forced_gctrace_line_gives_every_field(void **state)
{
    json_t *o = proto_parse_gctrace(gc1);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 14);
    assert_int_equal(int_field(o, "gc"), 1);
    expect_real(json_object_get(o, "at_s"), 0.003);
    assert_int_equal(int_field(o, "cpu_percent"), 4);
    expect_reals(json_object_get(o, "clock_ms"), (const double[]){0.12, 0.25, 0.001}, 3);
    expect_reals(json_object_get(o, "cpu_ms"), (const double[]){0.24, 0, 0.17, 0, 0.002}, 5);
    assert_int_equal(int_field(o, "heap_start_mb"), 0);
    assert_int_equal(int_field(o, "heap_end_mb"), 0);
    assert_int_equal(int_field(o, "heap_live_mb"), 0);
    assert_int_equal(int_field(o, "goal_mb"), 4);
    assert_int_equal(int_field(o, "stacks_mb"), 0);
    assert_int_equal(int_field(o, "globals_mb"), 0);
    assert_int_equal(int_field(o, "procs"), 2);
    assert_true(json_is_true(json_object_get(o, "forced")));
    assert_string_equal(json_string_value(json_object_get(o, "line")), gc1);
    json_decref(o);
}

static void test_an_unforced_gctrace_line_gives_every_field_and_forced_false(void **state)
{
    json_t *o = proto_parse_gctrace(gc2);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 14);
    assert_int_equal(int_field(o, "gc"), 2);
    expect_real(json_object_get(o, "at_s"), 0.004);
    assert_int_equal(int_field(o, "cpu_percent"), 4);
    expect_reals(json_object_get(o, "clock_ms"), (const double[]){0.001, 0.11, 0}, 3);
    expect_reals(json_object_get(o, "cpu_ms"), (const double[]){0.002, 0, 0.007, 0.082, 0.001}, 5);
    assert_int_equal(int_field(o, "heap_start_mb"), 0);
    assert_int_equal(int_field(o, "heap_end_mb"), 0);
    assert_int_equal(int_field(o, "heap_live_mb"), 0);
    assert_int_equal(int_field(o, "goal_mb"), 4);
    assert_int_equal(int_field(o, "stacks_mb"), 0);
    assert_int_equal(int_field(o, "globals_mb"), 0);
    assert_int_equal(int_field(o, "procs"), 2);
    assert_true(json_is_false(json_object_get(o, "forced")));
    assert_string_equal(json_string_value(json_object_get(o, "line")), gc2);
    json_decref(o);
}

static void test_the_header_example_gctrace_line_gives_its_documented_fields(void **state)
{
    json_t *o = proto_parse_gctrace("gc 7 @1.234s 2%: 0.015+0.31+0.003 ms clock, 0.030+0.10/0.20/0.05+0.006 ms cpu, "
                                    "4->5->1 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)\n");
    char *s = proto_event(-1, "gctrace", o);
    expect_line(s, "{\"id\":null,\"event\":\"gctrace\",\"data\":{\"gc\":7,\"at_s\":1.234,\"cpu_percent\":2,"
                   "\"clock_ms\":[0.015,0.31,0.003],\"cpu_ms\":[0.03,0.1,0.2,0.05,0.006],\"heap_start_mb\":4,"
                   "\"heap_end_mb\":5,\"heap_live_mb\":1,\"goal_mb\":5,\"stacks_mb\":0,\"globals_mb\":0,"
                   "\"procs\":2,\"forced\":true,\"line\":\"gc 7 @1.234s 2%: 0.015+0.31+0.003 ms clock, "
                   "0.030+0.10/0.20/0.05+0.006 ms cpu, 4->5->1 MB, 5 MB goal, 0 MB stacks, 0 MB globals, "
                   "2 P (forced)\"}}\n");
}

static void test_a_trailing_newline_or_crlf_is_stripped_from_line(void **state)
{
    char buf[sizeof gc2 + 2];
    snprintf(buf, sizeof buf, "%s\r\n", gc2);
    json_t *o = proto_parse_gctrace(buf);
    assert_int_equal(json_object_size(o), 14);
    assert_string_equal(json_string_value(json_object_get(o, "line")), gc2);
    json_decref(o);
    o = proto_parse_gctrace("hello\n");
    assert_string_equal(json_string_value(json_object_get(o, "line")), "hello");
    json_decref(o);
}

/* PROTOCOL.md: scavenger lines carry only "line". */
static void test_scvg_lines_give_only_the_line(void **state)
{
    expect_only_line(proto_parse_gctrace, "scvg-1: 0 MB released");
    expect_only_line(proto_parse_gctrace, "scvg-1: inuse: 0, idle: 0, sys: 1, released: 0, consumed: 0 (MB)");
    expect_only_line(proto_parse_gctrace, "scvg12: inuse: 3, idle: 1, sys: 4, released: 1, consumed: 3 (MB)");
}

static void test_malformed_gctrace_lines_give_only_the_line(void **state)
{
    char cut[sizeof gc2];
    static const char *const bad[] = {
        "",
        "gc",
        "gc x @0.003s",
        "GC 1 @0.003s 4%: 0.12+0.25+0.001 ms clock",
        "gc 1 @0.003s 4%: 0.12+0.25+0.001 ms clock, 0.24+0/0.17/0+0.002 ms cpu, 0->0->0 MB, 4 MB goal, "
        "0 MB stacks, 0 MB globals, 2 P (forced) extra",
        "gc 1 @0.003s 4%: 0.12+0.25+0.001 ms clock, 0.24+0/0.17/0+0.002 ms cpu, 0->0->0 MB, 4 MB goal, "
        "0 MB stacks, 0 MB globals, 2 P (forced",
        "gc 1 @0.003s 4%: 0.12+0.25+0.001 ms clock, 0.24+0/0.17/0+0.002 ms cpu, 0->0.5->0 MB, 4 MB goal, "
        "0 MB stacks, 0 MB globals, 2 P",
        "gc 1 @0.003s 4%: 0.12+0.25+0.001 ms clock, 0.24+0/0.17/0+0.002 ms cpu, 0->0->0 MB, 4 MB goal, "
        "0 MB stacks, 0 MB globals, 1234567890123456 P",
        "gc 1 @1.s 4%: 0.12+0.25+0.001 ms clock, 0.24+0/0.17/0+0.002 ms cpu, 0->0->0 MB, 4 MB goal, "
        "0 MB stacks, 0 MB globals, 2 P",
        "gc -1 @0.003s 4%: 0.12+0.25+0.001 ms clock, 0.24+0/0.17/0+0.002 ms cpu, 0->0->0 MB, 4 MB goal, "
        "0 MB stacks, 0 MB globals, 2 P",
        "GC forced",
        "SCHED 0ms: gomaxprocs=2",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_only_line(proto_parse_gctrace, bad[i]);
    /* Every prefix of a good line but the whole. */
    for (size_t n = 0; n < sizeof gc2 - 1; n++) {
        memcpy(cut, gc2, n);
        cut[n] = '\0';
        expect_only_line(proto_parse_gctrace, cut);
    }
}

static void test_a_gctrace_line_with_invalid_utf8_still_gives_a_string(void **state)
{
    json_t *o = proto_parse_gctrace("gc \xff\xfe");
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "line")), "gc \xef\xbf\xbd\xef\xbf\xbd");
    json_decref(o);
}

/* ---------------------------------------------------------------------
 * schedtrace
 * ------------------------------------------------------------------- */

static void test_a_detailed_sched_line_gives_every_key_and_no_runqueues(void **state)
{
    static const char line[] = "SCHED 0ms: gomaxprocs=2 idleprocs=2 threads=3 spinningthreads=0 idlethreads=1 "
                               "runqueue=0 gcwaiting=0 nmidlelocked=0 stopwait=0 sysmonwait=0";
    static const struct {
        const char *key;
        int64_t v;
    } want[] = {{"at_ms", 0},          {"gomaxprocs", 2}, {"idleprocs", 2},    {"threads", 3},
                {"spinningthreads", 0}, {"idlethreads", 1}, {"runqueue", 0},     {"gcwaiting", 0},
                {"nmidlelocked", 0},   {"stopwait", 0},    {"sysmonwait", 0}};
    json_t *o = proto_parse_schedtrace(line);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 12);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(int_field(o, want[i].key), want[i].v);
    assert_null(json_object_get(o, "runqueues"));
    assert_null(json_object_get(o, "detail"));
    assert_string_equal(json_string_value(json_object_get(o, "line")), line);
    json_decref(o);
}

static void test_a_plain_sched_line_gives_its_keys_and_the_runqueues(void **state)
{
    static const char line[] = "SCHED 1004ms: gomaxprocs=2 idleprocs=0 threads=5 spinningthreads=0 idlethreads=1 "
                               "runqueue=0 [1 0]";
    expect_line(proto_event(1, "schedtrace", proto_parse_schedtrace(line)),
                "{\"id\":1,\"event\":\"schedtrace\",\"data\":{\"at_ms\":1004,\"gomaxprocs\":2,\"idleprocs\":0,"
                "\"threads\":5,\"spinningthreads\":0,\"idlethreads\":1,\"runqueue\":0,\"runqueues\":[1,0],"
                "\"line\":\"SCHED 1004ms: gomaxprocs=2 idleprocs=0 threads=5 spinningthreads=0 idlethreads=1 "
                "runqueue=0 [1 0]\"}}\n");
}

static void test_detail_lines_give_detail_kind_and_number(void **state)
{
    static const struct {
        const char *line, *kind;
        int64_t n;
    } lines[] = {
        {"  P0: status=0 schedtick=16 syscalltick=0 m=-1 runqsize=0 gfreecnt=0 timerslen=10", "P", 0},
        {"  M2: p=-1 curg=-1 mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=false blocked=true "
         "lockedg=-1",
         "M", 2},
        {"  G1: status=4(semacquire) m=-1 lockedm=-1", "G", 1},
        {"  G123: status=1() m=3 lockedm=-1", "G", 123},
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        json_t *o = proto_parse_schedtrace(lines[i].line);
        assert_int_equal(json_object_size(o), 4);
        assert_true(json_is_true(json_object_get(o, "detail")));
        assert_string_equal(json_string_value(json_object_get(o, "kind")), lines[i].kind);
        assert_int_equal(int_field(o, "n"), lines[i].n);
        assert_string_equal(json_string_value(json_object_get(o, "line")), lines[i].line);
        json_decref(o);
    }
}

static void test_an_indented_line_of_another_form_is_detail_without_kind(void **state)
{
    json_t *o = proto_parse_schedtrace("  X9: what");
    assert_int_equal(json_object_size(o), 2);
    assert_true(json_is_true(json_object_get(o, "detail")));
    json_decref(o);
    o = proto_parse_schedtrace("  P: status=0");
    assert_int_equal(json_object_size(o), 2);
    json_decref(o);
}

static void test_malformed_sched_lines_give_only_the_line(void **state)
{
    static const char *const bad[] = {
        "",
        "SCHED",
        "SCHED xms: gomaxprocs=2",
        "SCHED 5ms gomaxprocs=2",
        "SCHED 5ms: gomaxprocs=",
        "SCHED 5ms: gomaxprocs=x",
        "SCHED 5ms: Gomaxprocs=2",
        "SCHED 5ms: gomaxprocs=2  idleprocs=0",
        "SCHED 5ms: gomaxprocs=2 gomaxprocs=3",
        "SCHED 5ms: line=2",
        "SCHED 5ms: runqueues=2 [0]",
        "SCHED 5ms: gomaxprocs=2 [1 0",
        "SCHED 5ms: gomaxprocs=2 []",
        "SCHED 5ms: gomaxprocs=2 [1  0]",
        "SCHED 5ms: gomaxprocs=2 [1 0] x",
        "SCHED 5ms: gomaxprocs=2 [-1 0]",
        "SCHED 5ms: gomaxprocs=1.5",
        " P0: status=0",
        "gc 1 @0.003s",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_only_line(proto_parse_schedtrace, bad[i]);
}

/* ------------------------------------------------------------------ */
/* Units                                                                */

static void test_sizes_take_binary_suffixes_and_off(void **state)
{
    (void)state;
    static const struct { const char *in; int64_t want; } ok[] = {
        {"0", 0}, {"1048576", 1048576}, {"64B", 64}, {"4KiB", 4096}, {"512MiB", 512 << 20},
        {"2GiB", (int64_t)2 << 30}, {"1TiB", (int64_t)1 << 40}, {"off", INT64_MAX},
        {"9223372036854775807", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -7;
        assert_true(proto_parse_size(ok[i].in, &v));
        assert_int_equal(v, ok[i].want);
    }
}

static void test_bad_sizes_are_refused_and_store_nothing(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "-1", " 1", "1 MiB", "12XB", "1MB", "1kib", "1.5GiB", "MiB", "0x10", "Off",
        "9223372036854775808", "8388608TiB", "18446744073709551616",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = -7;
        assert_false(proto_parse_size(bad[i], &v));
        assert_int_equal(v, -7);
    }
}

static void test_durations_add_up_their_parts(void **state)
{
    (void)state;
    static const struct { const char *in; int64_t want; } ok[] = {
        {"0", 0}, {"250ms", 250000000}, {"90s", 90000000000}, {"1h30m", 5400000000000},
        {"30d", 30 * 86400000000000}, {"2w", 2 * 604800000000000}, {"1m1ms", 60001000000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -7;
        assert_true(proto_parse_duration(ok[i].in, &v));
        assert_int_equal(v, ok[i].want);
    }
}

static void test_bad_durations_are_refused_and_store_nothing(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "5", "h", "1x", "1.5s", "-1s", "1s ", " 1s", "1 s", "1ns", "1us", "1H",
        "999999999999d", "107000d",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = -7;
        assert_false(proto_parse_duration(bad[i], &v));
        assert_int_equal(v, -7);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_request_with_args_gives_id_cmd_and_the_args_object),
        cmocka_unit_test(test_a_request_without_args_gets_an_empty_object),
        cmocka_unit_test(test_null_args_are_an_empty_object),
        cmocka_unit_test(test_ids_from_zero_to_the_largest_exact_double_are_accepted),
        cmocka_unit_test(test_whitespace_around_the_object_and_a_trailing_cr_are_accepted),
        cmocka_unit_test(test_a_request_with_a_real_id_is_eproto_naming_id),
        cmocka_unit_test(test_a_string_negative_or_too_large_id_is_eproto_naming_id),
        cmocka_unit_test(test_a_request_without_id_is_eproto),
        cmocka_unit_test(test_a_missing_cmd_is_eproto_echoing_the_id),
        cmocka_unit_test(test_an_empty_or_non_string_cmd_is_eproto_echoing_the_id),
        cmocka_unit_test(test_args_that_are_not_an_object_are_eproto_echoing_the_id),
        cmocka_unit_test(test_an_unknown_top_level_key_is_eproto_naming_it),
        cmocka_unit_test(test_a_line_that_is_not_an_object_is_eproto),
        cmocka_unit_test(test_invalid_json_is_eproto_with_jansson_text_and_column),
        cmocka_unit_test(test_trailing_garbage_after_the_object_is_eproto),
        cmocka_unit_test(test_duplicate_keys_are_eproto_at_any_depth),
        cmocka_unit_test(test_a_nul_byte_anywhere_is_eproto),
        cmocka_unit_test(test_a_line_of_exactly_the_limit_parses_and_one_byte_more_is_e2big),
        cmocka_unit_test(test_a_short_message_buffer_gets_a_truncated_terminated_message),
        cmocka_unit_test(test_freeing_a_failed_or_freed_request_is_harmless),
        cmocka_unit_test(test_error_names_are_the_enum_names_and_round_trip),
        cmocka_unit_test(test_ok_is_compact_with_keys_in_order),
        cmocka_unit_test(test_a_negative_id_is_written_as_null),
        cmocka_unit_test(test_error_is_compact_with_code_and_formatted_message),
        cmocka_unit_test(test_an_error_with_no_valid_code_is_written_as_eio),
        cmocka_unit_test(test_event_dropped_and_greeting_are_compact_with_keys_in_order),
        cmocka_unit_test(test_a_message_of_1000_bytes_is_kept_and_a_longer_one_is_cut_with_dots),
        cmocka_unit_test(test_a_long_message_is_cut_between_characters),
        cmocka_unit_test(test_invalid_utf8_in_a_message_still_gives_valid_json),
        cmocka_unit_test(test_a_message_cut_inside_a_character_can_be_sent_back),
        cmocka_unit_test(test_arg_int_accepts_integers_within_the_bounds),
        cmocka_unit_test(test_arg_int_rejects_out_of_range_reals_and_non_numbers_quoting_them),
        cmocka_unit_test(test_a_long_offending_value_is_quoted_cut_to_about_60_bytes),
        cmocka_unit_test(test_optional_args_absent_or_null_leave_the_output_unchanged),
        cmocka_unit_test(test_arg_bool_takes_only_true_and_false),
        cmocka_unit_test(test_arg_string_takes_non_empty_nul_free_strings_up_to_maxlen),
        cmocka_unit_test(test_args_only_names_the_first_unknown_key_and_the_known_ones),
        cmocka_unit_test(test_args_only_quotes_a_key_with_special_characters),
        cmocka_unit_test(test_a_forced_gctrace_line_gives_every_field),
        cmocka_unit_test(test_an_unforced_gctrace_line_gives_every_field_and_forced_false),
        cmocka_unit_test(test_the_header_example_gctrace_line_gives_its_documented_fields),
        cmocka_unit_test(test_a_trailing_newline_or_crlf_is_stripped_from_line),
        cmocka_unit_test(test_scvg_lines_give_only_the_line),
        cmocka_unit_test(test_malformed_gctrace_lines_give_only_the_line),
        cmocka_unit_test(test_a_gctrace_line_with_invalid_utf8_still_gives_a_string),
        cmocka_unit_test(test_sizes_take_binary_suffixes_and_off),
        cmocka_unit_test(test_bad_sizes_are_refused_and_store_nothing),
        cmocka_unit_test(test_durations_add_up_their_parts),
        cmocka_unit_test(test_bad_durations_are_refused_and_store_nothing),
        cmocka_unit_test(test_a_detailed_sched_line_gives_every_key_and_no_runqueues),
        cmocka_unit_test(test_a_plain_sched_line_gives_its_keys_and_the_runqueues),
        cmocka_unit_test(test_detail_lines_give_detail_kind_and_number),
        cmocka_unit_test(test_an_indented_line_of_another_form_is_detail_without_kind),
        cmocka_unit_test(test_malformed_sched_lines_give_only_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
