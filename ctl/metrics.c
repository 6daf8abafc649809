/*
 * metrics.c - `gortctl metrics`: the daemon's stats and memstats answers,
 * asked on one connection, in Prometheus' text exposition format (0.0.4),
 * for node_exporter's textfile collector or a scrape wrapper:
 *
 *     gortctl metrics > DIR/gortd.prom.tmp && mv DIR/gortd.prom.tmp DIR/gortd.prom
 *
 * What it exports, every name prefixed gort_:
 *
 *   - from memstats: the heap, stack and runtime-structure sizes, the
 *     allocation and collection counters, the next heap goal and the last
 *     collection's time, the collector's CPU, and gort_gc_pause_seconds,
 *     a histogram of every stop-the-world pause;
 *   - from stats: goroutines, threads, Ps, GOGC, the memory limit, uptime,
 *     control clients, gort_info{version} 1, and the history writer's
 *     health (gort_history_*, absent when the history is off);
 *   - per plugin, labelled plugin="NAME": its goroutines, tasks,
 *     allocation, CPU, assists and panics, and gort_plugin_state{plugin,
 *     state} 1 with the plugin's current state.
 *
 * The names follow Prometheus' conventions, as client_golang's go_* do:
 * the base unit in the name (_bytes, _seconds: the daemon's nanoseconds
 * become seconds), _total on counters and only on counters, HELP and TYPE
 * before each family's samples, which stay together.  A sentinel keeps
 * its Go meaning where it is still a value, as client_golang does with
 * go_gc_gogc_percent and go_gc_gomemlimit_bytes: gort_gogc is -1 when the
 * collector is off, gort_memory_limit_bytes is 9223372036854775807 when
 * there is no limit, and a query can tell "no limit" from "no data".
 * next_gc = -1 is not a goal but the absence of one, so that sample is
 * left out.  A field an older daemon does not send is left out too, never
 * printed as 0: a missing series is honest, a zero would lie.
 *
 * The pause histogram comes from the runtime's pause_hist, which counts
 * every cycle since the start, and not from the 16 recent pauses: a
 * scraper reading those every 15 s would miss the pauses of a busy
 * minute (more than 16 cycles between scrapes) and count an idle one's
 * twice, and quantiles of a sliding window cannot be summed across
 * daemons or taken over a range.  Cumulative buckets, _sum and _count are
 * counters, so rate() and histogram_quantile() work, restarts included.
 * +Inf and _count are the counts' total, which the protocol says is
 * num_gc: the histogram is consistent by construction.
 *
 * Numbers: integers print exactly; everything else (seconds, the CPU
 * fraction, the le bounds) as the shortest decimal that reads back as the
 * same double, as Go's strconv does with 'g' and precision -1, so the
 * bounds read 5e-06, 0.0001, 2.5 as client_golang writes them and a
 * duration of n ns prints as n/1e9 exactly.  printf and strtod run in the
 * "C" locale for the command, whatever the program's locale, so the
 * decimal point is always '.'.
 */
#include "ctl.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

/* How a field's JSON number becomes a sample's value. */
enum conv {
    AS_IS,              /* an integer exactly, a real as a float */
    NS_AS_SECONDS,      /* nanoseconds, printed as seconds */
    OMIT_NEGATIVE,      /* as is, but no sample when negative ("none") */
};

/* A family with one sample per answer object (or per plugin). */
struct family {
    const char *name;
    const char *type;   /* "gauge" or "counter" */
    const char *key;    /* the field in the daemon's answer */
    enum conv conv;
    const char *help;
};

static const struct family memstats_families[] = {
    {"gort_heap_alloc_bytes", "gauge", "heap_alloc", AS_IS,
     "Bytes of allocated heap objects."},
    {"gort_heap_sys_bytes", "gauge", "heap_sys", AS_IS,
     "Bytes of heap memory obtained from the OS."},
    {"gort_heap_idle_bytes", "gauge", "heap_idle", AS_IS,
     "Bytes in free heap spans."},
    {"gort_heap_inuse_bytes", "gauge", "heap_inuse", AS_IS,
     "Bytes in in-use heap spans."},
    {"gort_heap_released_bytes", "gauge", "heap_released", AS_IS,
     "Bytes of free heap spans returned to the OS."},
    {"gort_heap_objects", "gauge", "heap_objects", AS_IS,
     "Number of allocated heap objects."},
    {"gort_sys_bytes", "gauge", "sys", AS_IS,
     "Bytes of memory obtained from the OS by the runtime."},
    {"gort_alloc_bytes_total", "counter", "total_alloc", AS_IS,
     "Bytes allocated for heap objects, ever."},
    {"gort_mallocs_total", "counter", "mallocs", AS_IS,
     "Heap objects allocated, ever."},
    {"gort_frees_total", "counter", "frees", AS_IS,
     "Heap objects freed, ever."},
    {"gort_tiny_allocs_total", "counter", "tiny_allocs", AS_IS,
     "Allocations that went into tiny blocks, ever."},
    {"gort_large_allocs_total", "counter", "large_allocs", AS_IS,
     "Objects over 32 KiB allocated, ever."},
    {"gort_large_frees_total", "counter", "large_frees", AS_IS,
     "Objects over 32 KiB freed, ever."},
    {"gort_stack_inuse_bytes", "gauge", "stack_inuse", AS_IS,
     "Bytes of goroutine stacks in use."},
    {"gort_stack_sys_bytes", "gauge", "stack_sys", AS_IS,
     "Bytes of stack memory obtained from the OS."},
    {"gort_mspan_inuse_bytes", "gauge", "mspan_inuse", AS_IS,
     "Bytes of span structures in use."},
    {"gort_mspan_sys_bytes", "gauge", "mspan_sys", AS_IS,
     "Bytes of memory obtained from the OS for span structures."},
    {"gort_mcache_inuse_bytes", "gauge", "mcache_inuse", AS_IS,
     "Bytes of mcache structures in use."},
    {"gort_mcache_sys_bytes", "gauge", "mcache_sys", AS_IS,
     "Bytes of memory obtained from the OS for mcache structures."},
    {"gort_gc_sys_bytes", "gauge", "gc_sys", AS_IS,
     "Bytes of collector metadata (arena maps, bitmaps)."},
    {"gort_other_sys_bytes", "gauge", "other_sys", AS_IS,
     "Bytes of other runtime allocations."},
    {"gort_next_gc_bytes", "gauge", "next_gc", OMIT_NEGATIVE,
     "Heap size at which the next collection starts; absent with no goal (GOGC off, no limit)."},
    {"gort_last_gc_time_seconds", "gauge", "last_gc", NS_AS_SECONDS,
     "When the last collection ended, in seconds since the epoch; 0 before the first."},
    {"gort_gc_cycles_total", "counter", "num_gc", AS_IS,
     "Completed collection cycles."},
    {"gort_gc_forced_cycles_total", "counter", "num_forced_gc", AS_IS,
     "Collection cycles forced by a gc command or the application."},
    {"gort_gc_cpu_fraction", "gauge", "gc_cpu_fraction", AS_IS,
     "Fraction of the available CPU time the collector used since the start."},
    {"gort_gc_assist_cpu_seconds_total", "counter", "assist_cpu_ns", NS_AS_SECONDS,
     "CPU time goroutines spent assisting the collector."},
    {"gort_gc_mark_worker_cpu_seconds_total", "counter", "mark_worker_cpu_ns", NS_AS_SECONDS,
     "CPU time the collector's mark workers spent marking."},
    {"gort_scavenger_released_bytes_total", "counter", "scav_released", AS_IS,
     "Bytes the scavenger and freeosmemory returned to the OS."},
};

static const struct family stats_families[] = {
    {"gort_goroutines", "gauge", "goroutines", AS_IS,
     "Live user goroutines (the runtime's own are not counted)."},
    {"gort_threads", "gauge", "threads", AS_IS,
     "OS threads (Ms) created, sysmon included."},
    {"gort_gomaxprocs", "gauge", "gomaxprocs", AS_IS,
     "Number of Ps (GOMAXPROCS)."},
    {"gort_gogc", "gauge", "gogc", AS_IS,
     "GOGC percentage; -1 when the collector is off."},
    {"gort_memory_limit_bytes", "gauge", "memory_limit", AS_IS,
     "Soft memory limit (GOMEMLIMIT); 9223372036854775807 when there is none."},
    {"gort_uptime_seconds", "gauge", "uptime_ns", NS_AS_SECONDS,
     "Time since the daemon started."},
    {"gort_clients", "gauge", "clients", AS_IS,
     "Connected control clients."},
};

static const struct family history_families[] = {
    {"gort_history_rows_written_total", "counter", "written", AS_IS,
     "Rows written to the history database."},
    {"gort_history_dropped_total", "counter", "dropped", AS_IS,
     "History records dropped because the queue was full."},
    {"gort_history_failures_total", "counter", "failures", AS_IS,
     "Failed attempts to open or write the history database."},
    {"gort_history_queued_records", "gauge", "queued", AS_IS,
     "History records waiting in the queue."},
};

static const struct family plugin_families[] = {
    {"gort_plugin_goroutines", "gauge", "goroutines", AS_IS,
     "Live goroutines of the plugin."},
    {"gort_plugin_goroutines_started_total", "counter", "goroutines_started", AS_IS,
     "Goroutines the plugin started."},
    {"gort_plugin_tasks_running", "gauge", "tasks_running", AS_IS,
     "Running tasks of the plugin."},
    {"gort_plugin_alloc_bytes_total", "counter", "alloc_bytes", AS_IS,
     "Bytes the plugin's goroutines allocated."},
    {"gort_plugin_alloc_objects_total", "counter", "alloc_objects", AS_IS,
     "Heap objects the plugin's goroutines allocated."},
    {"gort_plugin_cpu_seconds_total", "counter", "cpu_ns", NS_AS_SECONDS,
     "CPU time the plugin's goroutines ran."},
    {"gort_plugin_assist_seconds_total", "counter", "assist_ns", NS_AS_SECONDS,
     "Time the plugin's goroutines spent assisting the collector."},
    {"gort_plugin_panics_total", "counter", "panics", AS_IS,
     "Panics in the plugin's goroutines."},
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The shortest "%g" text that strtod reads back as v. */
static const char *float_text(char *buf, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, FMT_SIZE, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

static const char *int_text(char *buf, int64_t v)
{
    snprintf(buf, FMT_SIZE, "%lld", (long long)v);
    return buf;
}

/* v (a JSON number) converted as conv says. */
static const char *value_text(char *buf, json_t *v, enum conv conv)
{
    if (conv == NS_AS_SECONDS)
        return float_text(buf, json_number_value(v) / 1e9);
    if (json_is_integer(v))
        return int_text(buf, json_integer_value(v));
    return float_text(buf, json_number_value(v));
}

static void header(const char *name, const char *type, const char *help)
{
    printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the exposition format wants: backslash,
 * double quote and newline. */
static void put_label_value(const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            printf("\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", stdout);
        else
            putchar(*s);
    }
}

/* One sample line: name{k1="v1",...} value.  labels holds name/value
 * pairs and ends with NULL; NULL for none. */
static void sample(const char *name, const char *const *labels, const char *value)
{
    fputs(name, stdout);
    for (int i = 0; labels && labels[i]; i += 2) {
        printf("%c%s=\"", i ? ',' : '{', labels[i]);
        put_label_value(labels[i + 1]);
        putchar('"');
    }
    printf("%s %s\n", labels && labels[0] ? "}" : "", value);
}

/* A table of one-sample families over the fields of answer. */
static void print_scalars(json_t *answer, const struct family *f, size_t n)
{
    char buf[FMT_SIZE];
    for (; n > 0; n--, f++) {
        json_t *v = json_object_get(answer, f->key);
        if (!json_is_number(v) || (f->conv == OMIT_NEGATIVE && json_number_value(v) < 0))
            continue;
        header(f->name, f->type, f->help);
        sample(f->name, NULL, value_text(buf, v, f->conv));
    }
}

/* Each plugin family with one sample per plugin, then the states. */
static void print_plugins(json_t *plugins)
{
    if (json_array_size(plugins) == 0)
        return;
    char buf[FMT_SIZE];
    size_t i;
    json_t *p;
    for (size_t k = 0; k < COUNT_OF(plugin_families); k++) {
        const struct family *f = &plugin_families[k];
        header(f->name, f->type, f->help);
        json_array_foreach(plugins, i, p) {
            json_t *v = json_object_get(p, f->key);
            if (json_is_number(v))
                sample(f->name, (const char *[]){"plugin", jstr(p, "name", "?"), NULL},
                       value_text(buf, v, f->conv));
        }
    }
    header("gort_plugin_state", "gauge",
           "1 for each plugin, labelled with its state (loading, loaded, failed, unloading, stuck).");
    json_array_foreach(plugins, i, p)
        sample("gort_plugin_state",
               (const char *[]){"plugin", jstr(p, "name", "?"), "state", jstr(p, "state", "?"), NULL},
               "1");
}

/* The history writer's families; none when the history is off. */
static void print_history(json_t *history)
{
    const char *state = jstr(history, "state", "off");
    if (strcmp(state, "off") == 0)
        return;
    header("gort_history_up", "gauge",
           "1 when the history database is open and written, 0 while it is opening or failing.");
    sample("gort_history_up", NULL, strcmp(state, "ok") == 0 ? "1" : "0");
    print_scalars(history, history_families, COUNT_OF(history_families));
}

/* gort_gc_pause_seconds from pause_hist: le_ns, n increasing bounds, and
 * counts, n + 1 per-bucket counts, the last unbounded.  None when the
 * daemon does not send it (an older one). */
static void print_pause_histogram(json_t *memstats)
{
    json_t *hist = json_object_get(memstats, "pause_hist");
    json_t *le = json_object_get(hist, "le_ns"), *counts = json_object_get(hist, "counts");
    size_t n = json_array_size(le);
    if (!json_is_array(le) || json_array_size(counts) != n + 1)
        return;
    header("gort_gc_pause_seconds", "histogram",
           "Stop-the-world pauses of every collection cycle since the start.");
    char bound[FMT_SIZE], value[FMT_SIZE];
    int64_t cumulative = 0;
    for (size_t i = 0; i <= n; i++) {
        cumulative += json_integer_value(json_array_get(counts, i));
        const char *le_text =
            i < n ? float_text(bound, json_number_value(json_array_get(le, i)) / 1e9) : "+Inf";
        sample("gort_gc_pause_seconds_bucket", (const char *[]){"le", le_text, NULL},
               int_text(value, cumulative));
    }
    sample("gort_gc_pause_seconds_sum", NULL,
           float_text(value, (double)jint(memstats, "pause_total_ns", 0) / 1e9));
    sample("gort_gc_pause_seconds_count", NULL, int_text(value, cumulative));
}

static void print_metrics(json_t *stats, json_t *memstats)
{
    header("gort_info", "gauge", "1, labelled with the daemon's version.");
    sample("gort_info", (const char *[]){"version", jstr(ctl.greeting, "version", "unknown"), NULL},
           "1");
    print_scalars(stats, stats_families, COUNT_OF(stats_families));
    print_scalars(memstats, memstats_families, COUNT_OF(memstats_families));
    print_pause_histogram(memstats);
    print_history(json_object_get(stats, "history"));
    print_plugins(json_object_get(stats, "plugins"));
}

int cmd_metrics(int argc, char **argv)
{
    int n, rc = parse_opts(argc, argv, (const struct opt[]){{NULL}}, &n);
    if (rc)
        return rc;
    if (n > 0)   /* not want_args: it would not name the stray word */
        return usage_error(argv[0], "unexpected argument \"%s\" (takes none)", argv[1]);
    json_t *stats = NULL, *memstats = NULL;
    if ((rc = ctl_connect()) || (rc = ctl_call("stats", NULL, &stats)) ||
        (rc = ctl_call("memstats", NULL, &memstats))) {
        json_decref(stats);
        return rc;
    }
    if (ctl.json) {
        json_t *both = json_pack("{s:O, s:O}", "stats", stats, "memstats", memstats);
        print_json(both);
        json_decref(both);
    } else {
        locale_t c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        locale_t previous = c_numeric ? uselocale(c_numeric) : (locale_t)0;
        print_metrics(stats, memstats);
        if (c_numeric) {
            uselocale(previous);
            freelocale(c_numeric);
        }
    }
    json_decref(stats);
    json_decref(memstats);
    return 0;
}
