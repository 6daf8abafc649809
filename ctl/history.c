/*
 * history.c - `gortctl history KIND`: rows of the daemon's SQLite
 * history, as a table, CSV or JSON.
 *
 * The daemon answers every column of the table by name; the human table
 * picks the columns worth reading for each kind and gives them units (a
 * descriptor per kind below), while CSV keeps every column, unformatted,
 * for spreadsheets and scripts.  Times (--since, --until) are passed on
 * as typed: the daemon understands "1h", "now", RFC 3339 and ns, and says
 * which argument was wrong; only what gortctl can judge alone (the kind,
 * the limit, the order, the format) is checked here.
 */
#include "ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum colfmt { C_TIME, C_INT, C_BYTES, C_NS, C_TEXT, C_SHORT };

struct column {
    const char *head;   /* '>' first: right-aligned */
    const char *key;
    enum colfmt fmt;
};

struct kind {
    const char *name;
    struct column cols[10];
};

static const struct kind kinds[] = {
    {"gc", {{"TIME", "time_ns", C_TIME}, {">GC", "num", C_INT}, {"REASON", "reason", C_TEXT},
            {">PAUSE", "pause_ns", C_NS}, {">HEAP-START", "heap_start", C_BYTES},
            {">HEAP-END", "heap_end", C_BYTES}, {">MARKED", "heap_marked", C_BYTES},
            {">GOAL", "heap_goal", C_BYTES}, {">CPU%", "cpu_percent", C_INT}, {">PROCS", "procs", C_INT}}},
    {"memstats", {{"TIME", "time_ns", C_TIME}, {">RSS", "rss", C_BYTES},
                  {">HEAP-ALLOC", "heap_alloc", C_BYTES}, {">HEAP-SYS", "heap_sys", C_BYTES},
                  {">RELEASED", "heap_released", C_BYTES}, {">OBJECTS", "heap_objects", C_INT},
                  {">NEXT-GC", "next_gc", C_BYTES}, {">GCS", "num_gc", C_INT},
                  {">GOROUTINES", "goroutines", C_INT}}},
    {"sched", {{"TIME", "time_ns", C_TIME}, {">PROCS", "gomaxprocs", C_INT}, {">IDLE", "idleprocs", C_INT},
               {">THREADS", "threads", C_INT}, {">SPINNING", "spinning_threads", C_INT},
               {">IDLE-THREADS", "idle_threads", C_INT}, {">RUNQUEUE", "runqueue", C_INT},
               {">GOROUTINES", "goroutines", C_INT}, {">SYSCALLS", "syscalls", C_INT}}},
    {"scavenger", {{"TIME", "time_ns", C_TIME}, {"KIND", "kind", C_TEXT}, {">NUM", "num", C_INT},
                   {">RELEASED", "released", C_BYTES}, {">HEAP-RELEASED", "heap_released", C_BYTES},
                   {">HEAP-IDLE", "heap_idle", C_BYTES}, {">HEAP-SYS", "heap_sys", C_BYTES}}},
    {"events", {{"TIME", "time_ns", C_TIME}, {"KIND", "kind", C_TEXT}, {"PLUGIN", "plugin", C_TEXT},
                {">TASK", "task_id", C_INT}, {"MESSAGE", "message", C_SHORT}}},
    {"audit", {{"TIME", "time_ns", C_TIME}, {">UID", "uid", C_INT}, {">PID", "pid", C_INT},
               {"COMMAND", "command", C_TEXT}, {"ARGS", "args", C_SHORT}, {"OUTCOME", "outcome", C_TEXT},
               {"MESSAGE", "message", C_SHORT}}},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

/* Text for a table cell: control characters become spaces, and a long
 * one is cut (at a character boundary) with an ellipsis. */
static void short_text(char *buf, size_t size, const char *s)
{
    size_t o = 0, chars = 0;
    for (; *s && o + 4 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c & 0xc0) != 0x80 && ++chars > 72)
            break;
        buf[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    if (*s) {
        /* Stopped inside a character (out of room): drop its first bytes. */
        while (o > 0 && ((unsigned char)*s & 0xc0) == 0x80) {
            o--;
            s--;
        }
        memcpy(buf + o, "…", 3);
        o += 3;
    }
    buf[o] = '\0';
}

static void cell_text(char *buf, size_t size, json_t *row, const struct column *c)
{
    json_t *v = json_object_get(row, c->key);
    if (!v || json_is_null(v)) {
        snprintf(buf, size, "-");
        return;
    }
    char f[FMT_SIZE];
    int64_t i = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
    switch (c->fmt) {
    case C_TIME: snprintf(buf, size, "%s", fmt_time(f, i)); break;
    case C_INT: snprintf(buf, size, "%lld", (long long)i); break;
    case C_BYTES: snprintf(buf, size, "%s", i < 0 ? "-" : fmt_bytes(f, (double)i)); break;
    case C_NS: snprintf(buf, size, "%s", fmt_ns(f, i)); break;
    case C_TEXT: snprintf(buf, size, "%s", json_is_string(v) ? json_string_value(v) : "?"); break;
    case C_SHORT: short_text(buf, size, json_is_string(v) ? json_string_value(v) : ""); break;
    }
}

static void print_table(const struct kind *k, json_t *rows)
{
    int ncols = 0;
    char spec[256] = "";
    while (ncols < 10 && k->cols[ncols].head) {
        strcat(spec, ncols ? " " : "");
        strcat(spec, k->cols[ncols].head);
        ncols++;
    }
    struct table t;
    table_init(&t, spec);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        char cells[10][512];
        for (int c = 0; c < ncols; c++)
            cell_text(cells[c], sizeof cells[c], row, &k->cols[c]);
        /* table_add takes exactly ncols strings; the rest are ignored. */
        table_add(&t, cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6],
                  cells[7], cells[8], cells[9]);
    }
    table_print(&t, stdout, 0);
    table_free(&t);
}

static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    fputc('"', stdout);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', stdout);
        fputc(*s, stdout);
    }
    fputc('"', stdout);
}

/* Every column of every row, in the daemon's column order; RFC 4180. */
static void print_csv(json_t *rows)
{
    json_t *first = json_array_get(rows, 0);
    if (!first)
        return;
    const char *key;
    json_t *v;
    bool sep = false;
    json_object_foreach(first, key, v) {
        if (sep)
            fputc(',', stdout);
        csv_field(key);
        sep = true;
    }
    fputs("\r\n", stdout);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        sep = false;
        json_object_foreach(first, key, v) {
            if (sep)
                fputc(',', stdout);
            sep = true;
            json_t *x = json_object_get(row, key);
            if (json_is_string(x)) {
                csv_field(json_string_value(x));
            } else if (x && !json_is_null(x)) {
                char *t = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
                if (t)
                    fputs(t, stdout);
                free(t);
            }
        }
        fputs("\r\n", stdout);
    }
}

/* A time argument: an integer goes as ns, anything else as the string
 * the daemon parses. */
static json_t *time_arg(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end && !errno && v >= 0)
        return json_integer((json_int_t)v);
    return json_string(s);
}

int cmd_history(int argc, char **argv)
{
    const char *since = NULL, *until = NULL, *limit = NULL, *order = NULL, *format = NULL;
    int n, rc = parse_opts(argc, argv,
                           (const struct opt[]){{"since", true, &since, NULL},
                                                {"until", true, &until, NULL},
                                                {"limit", true, &limit, NULL},
                                                {"order", true, &order, NULL},
                                                {"format", true, &format, NULL},
                                                {NULL}},
                           &n);
    if (rc || (rc = want_args(argv[0], n, 1, 1)))
        return rc;
    const struct kind *k = NULL;
    for (size_t i = 0; i < NKINDS; i++)
        if (strcmp(kinds[i].name, argv[1]) == 0)
            k = &kinds[i];
    if (!k)
        return usage_error(argv[0], "unknown kind \"%s\" (want gc, memstats, sched, scavenger, events or audit)",
                           argv[1]);
    if (!format)
        format = ctl.json ? "json" : "table";
    if (strcmp(format, "table") != 0 && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)
        return usage_error(argv[0], "--format \"%s\" is not table, json or csv", format);
    json_t *args = json_pack("{s:s}", "kind", k->name);
    if (limit) {
        char *end;
        errno = 0;
        long v = strtol(limit, &end, 10);
        if (!*limit || *end || errno || v < 1 || v > 10000) {
            json_decref(args);
            return usage_error(argv[0], "--limit \"%s\" is not a row count from 1 to 10000", limit);
        }
        json_object_set_new(args, "limit", json_integer(v));
    }
    if (order) {
        if (strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0) {
            json_decref(args);
            return usage_error(argv[0], "--order \"%s\" is not asc or desc", order);
        }
        json_object_set_new(args, "order", json_string(order));
    }
    if (since)
        json_object_set_new(args, "since", time_arg(since));
    if (until)
        json_object_set_new(args, "until", time_arg(until));

    if ((rc = ctl_connect())) {
        json_decref(args);
        return rc;
    }
    json_t *r;
    if ((rc = ctl_call("history", args, &r)))
        return rc;
    json_t *rows = json_object_get(r, "rows");
    if (strcmp(format, "json") == 0)
        print_json(r);
    else if (strcmp(format, "csv") == 0)
        print_csv(rows);
    else if (json_array_size(rows) == 0)
        printf("no %s rows\n", k->name);
    else
        print_table(k, rows);
    if (jbool(r, "more", false) && strcmp(format, "json") != 0)
        fprintf(stderr, "gortctl: more rows match: raise --limit (at most 10000) or narrow --since/--until\n");
    json_decref(r);
    return 0;
}
