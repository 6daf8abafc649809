/*
 * admin.c - the commands that change the daemon: gc, freeosmemory,
 * setgc, memlimit, gomaxprocs, load, unload, start, stop.
 *
 * Arguments are checked here before anything is sent, so that a typo
 * gets a usage error (exit 64) naming the word and what is allowed,
 * rather than a round trip and a daemon error; the daemon checks them
 * again, as it must for any client.  Each prints one line saying what
 * changed, old value first, the way `sysctl -w` does.
 */
#include "ctl.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A decimal integer in [min, max], the whole word. */
static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!*s || !(*s == '-' || (*s >= '0' && *s <= '9')))
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* --timeout D to milliseconds, for unload and stop. */
static int parse_timeout(const char *cmd, const char *d, int64_t *ms)
{
    int64_t ns;
    if (!proto_parse_duration(d, &ns) || ns / 1000000 > 3600000)
        return usage_error(cmd, "--timeout \"%s\" is not a duration up to 1h (e.g. 500ms, 10s, 2m)", d);
    *ms = ns / 1000000;
    return 0;
}

/* Connect, call, and print the result as JSON when --json; the result
 * (owned) when a person is to read it, else NULL with *rc. */
static json_t *run(const char *cmd, json_t *args, int *rc)
{
    json_t *res = NULL;
    *rc = ctl_connect();
    if (*rc) {
        json_decref(args);
        return NULL;
    }
    *rc = ctl_call(cmd, args, &res);
    if (*rc)
        return NULL;
    if (ctl.json) {
        print_json(res);
        json_decref(res);
        return NULL;
    }
    return res;
}

static int no_args(int argc, char **argv)
{
    int n, rc = parse_opts(argc, argv, (const struct opt[]){{NULL}}, &n);
    return rc ? rc : want_args(argv[0], n, 0, 0);
}

int cmd_gc(int argc, char **argv)
{
    int rc = no_args(argc, argv);
    if (rc)
        return rc;
    json_t *r = run("gc", NULL, &rc);
    if (!r)
        return rc;
    char a[FMT_SIZE], b[FMT_SIZE], c[FMT_SIZE], d[FMT_SIZE], e[FMT_SIZE];
    int64_t next = jint(r, "next_gc", -1);
    printf("gc %lld: heap %s -> %s, next goal %s; pause %s, took %s\n",
           (long long)jint(r, "num_gc", 0), fmt_bytes(a, (double)jint(r, "heap_alloc_before", 0)),
           fmt_bytes(b, (double)jint(r, "heap_alloc_after", 0)),
           next < 0 ? "none" : fmt_bytes(c, (double)next), fmt_ns(d, jint(r, "pause_ns", 0)),
           fmt_ns(e, jint(r, "duration_ns", 0)));
    json_decref(r);
    return 0;
}

int cmd_freeosmemory(int argc, char **argv)
{
    int rc = no_args(argc, argv);
    if (rc)
        return rc;
    json_t *r = run("freeosmemory", NULL, &rc);
    if (!r)
        return rc;
    char a[FMT_SIZE], b[FMT_SIZE], c[FMT_SIZE], d[FMT_SIZE], e[FMT_SIZE];
    printf("released %s (heap released now %s); rss %s -> %s; took %s\n",
           fmt_bytes(a, (double)jint(r, "released_bytes", 0)),
           fmt_bytes(b, (double)jint(r, "heap_released", 0)),
           fmt_bytes(c, (double)jint(r, "rss_before", 0)),
           fmt_bytes(d, (double)jint(r, "rss_after", 0)), fmt_ns(e, jint(r, "duration_ns", 0)));
    json_decref(r);
    return 0;
}

static const char *gogc_text(char *buf, int64_t v)
{
    if (v < 0)
        return "off";
    snprintf(buf, FMT_SIZE, "%lld", (long long)v);
    return buf;
}

int cmd_setgc(int argc, char **argv)
{
    int n, rc = parse_opts(argc, argv, (const struct opt[]){{NULL}}, &n);
    if (rc || (rc = want_args(argv[0], n, 1, 1)))
        return rc;
    int64_t v;
    if (strcmp(argv[1], "off") == 0)
        v = -1;
    else if (!parse_int(argv[1], -1, INT32_MAX, &v))
        return usage_error(argv[0], "\"%s\" is not a GOGC value (want a percentage from 0 to %d, or off)",
                           argv[1], INT32_MAX);
    json_t *r = run("setgcpercent", json_pack("{s:I}", "value", (json_int_t)v), &rc);
    if (!r)
        return rc;
    char a[FMT_SIZE], b[FMT_SIZE];
    printf("GOGC %s -> %s\n", gogc_text(a, jint(r, "old", 0)), gogc_text(b, jint(r, "value", v)));
    json_decref(r);
    return 0;
}

static const char *limit_text(char *buf, int64_t v)
{
    return v < 0 || v == INT64_MAX ? "off" : fmt_bytes(buf, (double)v);
}

int cmd_memlimit(int argc, char **argv)
{
    int n, rc = parse_opts(argc, argv, (const struct opt[]){{NULL}}, &n);
    if (rc || (rc = want_args(argv[0], n, 1, 1)))
        return rc;
    int64_t bytes;
    if (!proto_parse_size(argv[1], &bytes))
        return usage_error(argv[0],
                           "\"%s\" is not a size (want bytes with an optional B, KiB, MiB, GiB or TiB "
                           "suffix, e.g. 512MiB, or off)",
                           argv[1]);
    json_t *r = run("setmemlimit", json_pack("{s:I}", "bytes", (json_int_t)bytes), &rc);
    if (!r)
        return rc;
    char a[FMT_SIZE], b[FMT_SIZE];
    printf("memory limit %s -> %s\n", limit_text(a, jint(r, "old", INT64_MAX)),
           limit_text(b, jint(r, "bytes", bytes)));
    json_decref(r);
    return 0;
}

int cmd_gomaxprocs(int argc, char **argv)
{
    int n, rc = parse_opts(argc, argv, (const struct opt[]){{NULL}}, &n);
    if (rc || (rc = want_args(argv[0], n, 0, 1)))
        return rc;
    if (n == 0) {
        /* Read from stats; --json gives {"gomaxprocs":N}, not all of stats. */
        json_t *s = NULL;
        if ((rc = ctl_connect()) || (rc = ctl_call("stats", NULL, &s)))
            return rc;
        json_int_t procs = jint(s, "gomaxprocs", 0);
        json_decref(s);
        if (ctl.json) {
            json_t *j = json_pack("{s:I}", "gomaxprocs", procs);
            print_json(j);
            json_decref(j);
        } else {
            printf("GOMAXPROCS %lld\n", (long long)procs);
        }
        return 0;
    }
    int64_t v;
    if (!parse_int(argv[1], 1, INT32_MAX, &v))
        return usage_error(argv[0], "\"%s\" is not a number of Ps (want an integer from 1 to %d)",
                           argv[1], INT32_MAX);
    json_t *r = run("gomaxprocs", json_pack("{s:I}", "n", (json_int_t)v), &rc);
    if (!r)
        return rc;
    printf("GOMAXPROCS %lld -> %lld\n", (long long)jint(r, "old", 0), (long long)jint(r, "n", v));
    json_decref(r);
    return 0;
}

int cmd_load(int argc, char **argv)
{
    int n, rc = parse_opts(argc, argv, (const struct opt[]){{NULL}}, &n);
    if (rc || (rc = want_args(argv[0], n, 1, 1)))
        return rc;
    /* The daemon wants an absolute path; a relative one is the user's
     * working directory's, which only we know.  Symlinks stay: the
     * daemon judges the path it is given. */
    char path[PATH_MAX];
    if (argv[1][0] == '/') {
        snprintf(path, sizeof path, "%s", argv[1]);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) {
            fprintf(stderr, "gortctl: load: the working directory: %s\n", strerror(errno));
            return EX_OSERR;
        }
        if ((size_t)snprintf(path, sizeof path, "%s/%s", cwd, argv[1]) >= sizeof path)
            return usage_error(argv[0], "the path is too long");
    }
    json_t *r = run("plugin.load", json_pack("{s:s}", "path", path), &rc);
    if (!r)
        return rc;
    printf("loaded %s %s from %s", jstr(r, "name", "?"), jstr(r, "version", ""), jstr(r, "path", path));
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(r, "task_defs"), i, t)
        printf("%s %s%s", i ? "," : "; tasks:", jstr(t, "name", "?"),
               jbool(t, "autostart", false) ? " (started)" : "");
    printf("\n");
    json_decref(r);
    return 0;
}

int cmd_unload(int argc, char **argv)
{
    const char *timeout = NULL;
    int n, rc = parse_opts(argc, argv, (const struct opt[]){{"timeout", true, &timeout, NULL}, {NULL}}, &n);
    if (rc || (rc = want_args(argv[0], n, 1, 1)))
        return rc;
    json_t *args = json_pack("{s:s}", "name", argv[1]);
    int64_t ms = 0;
    if (timeout) {
        if ((rc = parse_timeout(argv[0], timeout, &ms))) {
            json_decref(args);
            return rc;
        }
        json_object_set_new(args, "timeout_ms", json_integer((json_int_t)ms));
    }
    json_t *r = run("plugin.unload", args, &rc);
    if (!r)
        return rc;
    char a[FMT_SIZE];
    printf("unloaded %s in %s\n", jstr(r, "plugin", argv[1]), fmt_ns(a, jint(r, "duration_ns", 0)));
    json_decref(r);
    return 0;
}

int cmd_start(int argc, char **argv)
{
    /* The task's arguments are passed on as they are, dashes included:
     * only the plugin and task names must not look like options, and a
     * "--" lets even those through. */
    const char *words[70];
    int n = 0;
    bool verbatim = false;
    for (int i = 1; i < argc; i++) {
        if (!verbatim && strcmp(argv[i], "--") == 0) {
            verbatim = true;
            continue;
        }
        if (!verbatim && n < 2 && argv[i][0] == '-')
            return usage_error(argv[0], "unknown option \"%s\"", argv[i]);
        if (n == 68)
            return usage_error(argv[0], "too many task arguments (at most 64)");
        words[n++] = argv[i];
    }
    int rc = want_args(argv[0], n, 2, 66);
    if (rc)
        return rc;
    json_t *targs = json_array();
    for (int i = 2; i < n; i++)
        json_array_append_new(targs, json_string(words[i]));
    json_t *r = run("task.start",
                    json_pack("{s:s, s:s, s:o}", "plugin", words[0], "task", words[1], "args", targs),
                    &rc);
    if (!r)
        return rc;
    printf("started task %lld (%s)\n", (long long)jint(r, "task_id", -1), jstr(r, "label", "?"));
    json_decref(r);
    return 0;
}

int cmd_stop(int argc, char **argv)
{
    const char *timeout = NULL;
    int n, rc = parse_opts(argc, argv, (const struct opt[]){{"timeout", true, &timeout, NULL}, {NULL}}, &n);
    if (rc || (rc = want_args(argv[0], n, 1, 1)))
        return rc;
    int64_t id, ms = 0;
    if (!parse_int(argv[1], 0, PROTO_MAX_ID, &id))
        return usage_error(argv[0], "\"%s\" is not a task id (gortctl plugins lists them)", argv[1]);
    json_t *args = json_pack("{s:I}", "id", (json_int_t)id);
    if (timeout) {
        if ((rc = parse_timeout(argv[0], timeout, &ms))) {
            json_decref(args);
            return rc;
        }
        json_object_set_new(args, "timeout_ms", json_integer((json_int_t)ms));
    }
    json_t *r = run("task.stop", args, &rc);
    if (!r)
        return rc;
    char a[FMT_SIZE];
    printf("stopped task %lld in %s\n", (long long)id, fmt_ns(a, jint(r, "duration_ns", 0)));
    json_decref(r);
    return 0;
}
