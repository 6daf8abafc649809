/*
 * info.c - the read-only views: stats, memstats, plugins, goroutines,
 * version.
 *
 * Each asks one question and prints the answer for a person, or as the
 * daemon sent it with --json.  Fields a newer or older daemon may lack
 * print as "-" rather than failing: the client must stay useful against
 * the daemon that is actually running.
 */
#include "ctl.h"

#include <string.h>
#include <time.h>

/* Connect and ask; the result, or NULL with *rc set. */
static json_t *ask(const char *cmd, json_t *args, int *rc)
{
    json_t *res = NULL;
    *rc = ctl_connect();
    if (*rc == 0)
        *rc = ctl_call(cmd, args, &res);
    else
        json_decref(args);
    return *rc ? NULL : res;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *limit_text(char *buf, int64_t limit)
{
    return limit < 0 || limit == INT64_MAX ? "off" : fmt_bytes(buf, (double)limit);
}

static const char *state_colour(const char *state)
{
    if (strcmp(state, "loaded") == 0 || strcmp(state, "ok") == 0)
        return col_green();
    if (strcmp(state, "failed") == 0 || strcmp(state, "stuck") == 0 || strcmp(state, "error") == 0)
        return col_red();
    return col_yellow();
}

/* One row per plugin: the counters stats and plugins share. */
static void plugin_table(json_t *plugins, bool with_version)
{
    struct table t;
    table_init(&t, with_version ? "PLUGIN STATE VERSION >TASKS >GOROUTINES >STARTED >ALLOC >OBJECTS >CPU >ASSIST >PANICS"
                                : "PLUGIN STATE >TASKS >GOROUTINES >STARTED >ALLOC >OBJECTS >CPU >ASSIST >PANICS");
    size_t i;
    json_t *p;
    json_array_foreach(plugins, i, p) {
        char tasks[FMT_SIZE], gs[FMT_SIZE], started[FMT_SIZE], alloc[FMT_SIZE], objs[FMT_SIZE];
        char cpu[FMT_SIZE], assist[FMT_SIZE], panics[FMT_SIZE];
        fmt_count(tasks, jint(p, "tasks_running", 0));
        fmt_count(gs, jint(p, "goroutines", 0));
        fmt_count(started, jint(p, "goroutines_started", 0));
        fmt_bytes(alloc, (double)jint(p, "alloc_bytes", 0));
        fmt_count(objs, jint(p, "alloc_objects", 0));
        fmt_ns(cpu, jint(p, "cpu_ns", 0));
        fmt_ns(assist, jint(p, "assist_ns", 0));
        fmt_count(panics, jint(p, "panics", 0));
        if (with_version)
            table_add(&t, jstr(p, "name", "?"), jstr(p, "state", "?"), jstr(p, "version", "-"), tasks,
                      gs, started, alloc, objs, cpu, assist, panics);
        else
            table_add(&t, jstr(p, "name", "?"), jstr(p, "state", "?"), tasks, gs, started, alloc,
                      objs, cpu, assist, panics);
    }
    table_print(&t, stdout, 0);
    table_free(&t);
    json_array_foreach(plugins, i, p) {
        const char *failure = jstr(p, "failure", NULL);
        if (failure)
            printf("%s%s %s: %s%s\n", state_colour("failed"), jstr(p, "name", "?"),
                   jstr(p, "state", "?"), failure, col_reset());
    }
}

static void print_history_state(json_t *h)
{
    char a[FMT_SIZE], b[FMT_SIZE];
    const char *state = jstr(h, "state", "-");
    printf("history       %s%s%s", state_colour(state), state, col_reset());
    if (strcmp(state, "off") == 0) {
        printf("\n");
        return;
    }
    printf(": %s (schema %lld), %s rows written, %s dropped", jstr(h, "path", "?"),
           (long long)jint(h, "schema_version", 0), fmt_count(a, jint(h, "written", 0)),
           fmt_count(b, jint(h, "dropped", 0)));
    int64_t last = jint(h, "last_commit_ns", 0);
    if (last > 0)
        printf(", last commit %s ago", fmt_ns(a, now_ns() - last));
    printf("\n");
    const char *err = jstr(h, "error", NULL);
    if (err)
        printf("              %s%s since %s, %lld failures; retrying%s\n", col_red(), err,
               fmt_time(a, jint(h, "error_since_ns", 0)), (long long)jint(h, "failures", 0),
               col_reset());
}

/* The start of a command that takes no options or arguments and shows
 * one answer: the answer to show as a table, or NULL with *rc the exit
 * code (0 once --json printed it raw). */
static json_t *ask_for_table(int argc, char **argv, const char *cmd, int *rc)
{
    int n;
    *rc = parse_opts(argc, argv, (const struct opt[]){{NULL}}, &n);
    if (*rc || (*rc = want_args(argv[0], n, 0, 0)))
        return NULL;
    json_t *v = ask(cmd, NULL, rc);
    if (v && ctl.json) {
        print_json(v);
        json_decref(v);
        *rc = 0;
        return NULL;
    }
    return v;
}

int cmd_stats(int argc, char **argv)
{
    int rc;
    json_t *s = ask_for_table(argc, argv, "stats", &rc);
    if (!s)
        return rc;
    char a[FMT_SIZE];
    printf("%sgortd %s%s, pid %lld, up %s, socket %s\n", col_bold(),
           jstr(ctl.greeting, "version", "?"), col_reset(), (long long)jint(s, "pid", 0),
           fmt_ns(a, jint(s, "uptime_ns", 0)), ctl.path);
    printf("goroutines    %s\n", fmt_count(a, jint(s, "goroutines", 0)));
    printf("threads       %s\n", fmt_count(a, jint(s, "threads", 0)));
    printf("gomaxprocs    %lld\n", (long long)jint(s, "gomaxprocs", 0));
    int64_t gogc = jint(s, "gogc", 0);
    if (gogc < 0)
        printf("gogc          off\n");
    else
        printf("gogc          %lld\n", (long long)gogc);
    printf("memory-limit  %s\n", limit_text(a, jint(s, "memory_limit", INT64_MAX)));
    printf("clients       %lld\n", (long long)jint(s, "clients", 0));
    json_t *h = json_object_get(s, "history");
    if (json_is_object(h))
        print_history_state(h);
    json_t *plugins = json_object_get(s, "plugins");
    if (json_array_size(plugins) > 0) {
        printf("\n");
        plugin_table(plugins, false);
    }
    json_decref(s);
    return 0;
}

/* gops' memstats lines: "name: 12.3 MiB (12884901 bytes)". */
static void mem_line(const char *name, json_t *m, const char *key)
{
    char a[FMT_SIZE];
    json_t *v = json_object_get(m, key);
    if (!json_is_integer(v)) {
        printf("%s: -\n", name);
        return;
    }
    int64_t b = json_integer_value(v);
    printf("%s: %s (%lld bytes)\n", name, fmt_bytes(a, (double)b), (long long)b);
}

static void count_line(const char *name, json_t *m, const char *key)
{
    char a[FMT_SIZE];
    json_t *v = json_object_get(m, key);
    printf("%s: %s\n", name, json_is_integer(v) ? fmt_count(a, json_integer_value(v)) : "-");
}

static void ns_line(const char *name, json_t *m, const char *key)
{
    char a[FMT_SIZE];
    json_t *v = json_object_get(m, key);
    printf("%s: %s\n", name, json_is_integer(v) ? fmt_ns(a, json_integer_value(v)) : "-");
}

int cmd_memstats(int argc, char **argv)
{
    int rc;
    json_t *m = ask_for_table(argc, argv, "memstats", &rc);
    if (!m)
        return rc;
    char a[FMT_SIZE], b[FMT_SIZE];
    mem_line("alloc", m, "alloc");
    mem_line("total-alloc", m, "total_alloc");
    mem_line("sys", m, "sys");
    count_line("mallocs", m, "mallocs");
    count_line("frees", m, "frees");
    mem_line("heap-alloc", m, "heap_alloc");
    mem_line("heap-sys", m, "heap_sys");
    mem_line("heap-idle", m, "heap_idle");
    mem_line("heap-in-use", m, "heap_inuse");
    mem_line("heap-released", m, "heap_released");
    count_line("heap-objects", m, "heap_objects");
    mem_line("stack-in-use", m, "stack_inuse");
    mem_line("stack-sys", m, "stack_sys");
    mem_line("mspan-in-use", m, "mspan_inuse");
    mem_line("mspan-sys", m, "mspan_sys");
    mem_line("mcache-in-use", m, "mcache_inuse");
    mem_line("mcache-sys", m, "mcache_sys");
    mem_line("gc-sys", m, "gc_sys");
    mem_line("other-sys", m, "other_sys");
    int64_t next = jint(m, "next_gc", -1);
    if (next < 0)
        printf("next-gc: none (GOGC off, no memory limit)\n");
    else
        printf("next-gc: when heap-alloc >= %s (%lld bytes)\n", fmt_bytes(a, (double)next),
               (long long)next);
    int64_t last = jint(m, "last_gc", 0);
    if (last > 0)
        printf("last-gc: %s (%s ago)\n", fmt_time(a, last), fmt_ns(b, now_ns() - last));
    else
        printf("last-gc: never\n");
    ns_line("gc-pause-total", m, "pause_total_ns");
    json_t *pauses = json_object_get(m, "recent_pauses_ns");
    printf("gc-pause:");
    if (json_array_size(pauses) == 0)
        printf(" -");
    size_t i;
    json_t *p;
    json_array_foreach(pauses, i, p)
        printf(" %s", fmt_ns(a, json_integer_value(p)));
    printf("%s\n", json_array_size(pauses) > 1 ? " (newest first)" : "");
    count_line("num-gc", m, "num_gc");
    count_line("num-forced-gc", m, "num_forced_gc");
    printf("gc-cpu-fraction: %.6f\n", jreal(m, "gc_cpu_fraction", 0));
    printf("enable-gc: %s\n", jbool(m, "enable_gc", true) ? "true" : "false");
    printf("memory-limit: %s\n", limit_text(a, jint(m, "memory_limit", INT64_MAX)));
    count_line("goroutines", m, "goroutines");
    ns_line("assist-cpu", m, "assist_cpu_ns");
    ns_line("mark-worker-cpu", m, "mark_worker_cpu_ns");
    mem_line("scavenger-released", m, "scav_released");
    count_line("tiny-allocs", m, "tiny_allocs");
    count_line("large-allocs", m, "large_allocs");
    count_line("large-frees", m, "large_frees");
    json_decref(m);
    return 0;
}

int cmd_plugins(int argc, char **argv)
{
    int rc;
    json_t *r = ask_for_table(argc, argv, "plugins", &rc);
    if (!r)
        return rc;
    json_t *plugins = json_object_get(r, "plugins");
    if (json_array_size(plugins) == 0) {
        printf("no plugins loaded\n");
        json_decref(r);
        return 0;
    }
    plugin_table(plugins, true);

    struct table offered, running;
    table_init(&offered, "PLUGIN TASK AUTOSTART SUMMARY");
    table_init(&running, ">ID PLUGIN TASK >UP STATE ARGS");
    int64_t now = now_ns();
    size_t i, j;
    json_t *p, *t;
    json_array_foreach(plugins, i, p) {
        const char *name = jstr(p, "name", "?");
        json_array_foreach(json_object_get(p, "task_defs"), j, t)
            table_add(&offered, name, jstr(t, "name", "?"), jbool(t, "autostart", false) ? "yes" : "no",
                      jstr(t, "summary", ""));
        json_array_foreach(json_object_get(p, "tasks"), j, t) {
            char id[FMT_SIZE], up[FMT_SIZE], args[512] = "";
            snprintf(id, sizeof id, "%lld", (long long)jint(t, "task_id", -1));
            fmt_ns(up, now - jint(t, "started_ns", now));
            size_t k, off = 0;
            json_t *a;
            json_array_foreach(json_object_get(t, "args"), k, a)
                if (off < sizeof args)
                    off += (size_t)snprintf(args + off, sizeof args - off, "%s%s", k ? " " : "",
                                            json_string_value(a) ? json_string_value(a) : "");
            table_add(&running, id, name, jstr(t, "task", "?"), up,
                      jbool(t, "stopping", false) ? "stopping" : "running", args);
        }
    }
    printf("\n");
    table_print(&offered, stdout, 0);
    if (running.nrows) {
        printf("\n");
        table_print(&running, stdout, 0);
    }
    table_free(&offered);
    table_free(&running);
    json_decref(r);
    return 0;
}

int cmd_goroutines(int argc, char **argv)
{
    const char *plugin = NULL;
    int n, rc = parse_opts(argc, argv, (const struct opt[]){{"plugin", true, &plugin, NULL}, {NULL}}, &n);
    if (rc || (rc = want_args(argv[0], n, 0, 0)))
        return rc;
    json_t *args = plugin ? json_pack("{s:s}", "plugin", plugin) : NULL;
    json_t *r = ask("goroutines", args, &rc);
    if (!r)
        return rc;
    if (ctl.json) {
        print_json(r);
        json_decref(r);
        return 0;
    }
    const char *dump = jstr(r, "dump", "");
    fputs(dump, stdout);
    if (*dump && dump[strlen(dump) - 1] != '\n')
        fputc('\n', stdout);
    if (jbool(r, "truncated", false))
        fprintf(stderr, "gortctl: the dump was cut at 768 KiB (%lld goroutines in all)\n",
                (long long)jint(r, "count", 0));
    json_decref(r);
    return 0;
}

int cmd_version(int argc, char **argv)
{
    int n, rc = parse_opts(argc, argv, (const struct opt[]){{NULL}}, &n);
    if (rc || (rc = want_args(argv[0], n, 0, 0)))
        return rc;
    if (!ctl.json) {
        printf("gortctl %s (protocol %d)\n", GORT_RELEASE, PROTO_VERSION);
        fflush(stdout);
    }
    json_t *v = ask("version", NULL, &rc);
    if (!v)
        return rc;
    if (ctl.json) {
        json_t *o = json_pack("{s:s, s:i, s:O, s:s}", "gortctl", GORT_RELEASE, "protocol",
                              PROTO_VERSION, "gortd", v, "socket", ctl.path);
        print_json(o);
        json_decref(o);
    } else {
        printf("gortd %s (protocol %lld, pid %lld) at %s\n", jstr(v, "version", "?"),
               (long long)jint(v, "protocol", 0), (long long)jint(ctl.greeting, "pid", 0), ctl.path);
    }
    json_decref(v);
    return 0;
}
