/*
 * trace.c - gctrace and schedtrace: the daemon's log switches, and
 * following the lines live.
 *
 * The two are different rights.  Switching a trace on changes what the
 * daemon logs, so it is a mutating command; following only subscribes,
 * which a read-only user may do, and the daemon produces the lines for
 * subscribers whatever the switch says (schedtrace every second then).
 * So `gctrace --follow` never touches the switch, and neither does
 * `schedtrace --follow` unless an interval is given too.
 *
 * Following prints each line as it arrives and flushes it, so that a
 * pipe sees lines as they happen; Ctrl-C ends it cleanly (exit 0), the
 * daemon going away ends it with 69.  With --json, each event's data is
 * one compact JSON object per line.
 */
#include "ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Print one stream's events until interrupted.  detail: print the
 * scheddetail lines too. */
static int follow(const char *stream, bool detail)
{
    ctl_catch_interrupts();
    int64_t id;
    int rc = ctl_subscribe(stream, &id);
    if (rc)
        return rc == 130 ? 0 : rc;
    for (;;) {
        json_t *ev;
        rc = ctl_next_event(&ev, -1);
        if (rc == CTL_INTERRUPTED)
            return 0;
        if (rc)
            return rc;
        const char *kind = jstr(ev, "event", "");
        if (strcmp(kind, "dropped") == 0) {
            fprintf(stderr, "gortctl: %lld %s lines dropped (the output was read too slowly)\n",
                    (long long)jint(ev, "count", 0), stream);
        } else if (strcmp(kind, stream) == 0) {
            json_t *data = json_object_get(ev, "data");
            if (detail || !jbool(data, "detail", false)) {
                if (ctl.json) {
                    json_dumpf(data, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
                    fputc('\n', stdout);
                } else {
                    printf("%s\n", jstr(data, "line", ""));
                }
                if (fflush(stdout) != 0) {
                    json_decref(ev);
                    fprintf(stderr, "gortctl: writing the output: %s\n", strerror(errno));
                    return EX_IOERR;
                }
            }
        }
        json_decref(ev);
    }
}

int cmd_gctrace(int argc, char **argv)
{
    bool follow_flag = false;
    int n, rc = parse_opts(argc, argv, (const struct opt[]){{"follow", false, NULL, &follow_flag}, {NULL}}, &n);
    if (rc || (rc = want_args(argv[0], n, 0, 1)))
        return rc;
    if (n == 0 && !follow_flag)
        return usage_error(argv[0], "want on, off or --follow");
    bool on = false;
    if (n == 1) {
        if (strcmp(argv[1], "on") == 0)
            on = true;
        else if (strcmp(argv[1], "off") != 0)
            return usage_error(argv[0], "\"%s\" is neither on nor off", argv[1]);
    }
    if ((rc = ctl_connect()))
        return rc;
    if (n == 1) {
        json_t *r;
        if ((rc = ctl_call("gctrace", json_pack("{s:b}", "on", on), &r)))
            return rc;
        if (ctl.json)
            print_json(r);
        else
            printf("gctrace logging %s -> %s\n", jbool(r, "old", false) ? "on" : "off",
                   jbool(r, "on", on) ? "on" : "off");
        json_decref(r);
        fflush(stdout);
    }
    return follow_flag ? follow("gctrace", false) : 0;
}

int cmd_schedtrace(int argc, char **argv)
{
    bool follow_flag = false, detail = false;
    int n, rc = parse_opts(argc, argv,
                           (const struct opt[]){{"follow", false, NULL, &follow_flag},
                                                {"detail", false, NULL, &detail},
                                                {NULL}},
                           &n);
    if (rc || (rc = want_args(argv[0], n, 0, 1)))
        return rc;
    if (n == 0 && !follow_flag)
        return usage_error(argv[0], "want an interval in milliseconds, or --follow");
    if (n == 0 && detail)
        return usage_error(argv[0], "--detail changes the daemon's setting: give the interval too "
                                    "(e.g. schedtrace 1000 --detail --follow)");
    int64_t ms = 0;
    if (n == 1) {
        char *end;
        errno = 0;
        long long v = strtoll(argv[1], &end, 10);
        if (!*argv[1] || *end || errno || v < 0 || v > 3600000 || argv[1][0] == '-' || argv[1][0] == '+')
            return usage_error(argv[0], "\"%s\" is not an interval (want milliseconds from 0 (off) to 3600000)",
                               argv[1]);
        ms = v;
    }
    if ((rc = ctl_connect()))
        return rc;
    if (n == 1) {
        json_t *r;
        rc = ctl_call("schedtrace", json_pack("{s:I, s:b}", "interval_ms", (json_int_t)ms, "detail", detail),
                      &r);
        if (rc)
            return rc;
        if (ctl.json) {
            print_json(r);
        } else {
            int64_t old = jint(r, "old_interval_ms", 0);
            char was[FMT_SIZE] = "off", now[FMT_SIZE] = "off";
            if (old)
                snprintf(was, sizeof was, "every %lld ms", (long long)old);
            if (ms)
                snprintf(now, sizeof now, "every %lld ms%s", (long long)ms, detail ? " with detail" : "");
            printf("schedtrace logging %s -> %s\n", was, now);
        }
        json_decref(r);
        fflush(stdout);
    }
    return follow_flag ? follow("schedtrace", detail) : 0;
}
