/*
 * test_gortd_plugins.c - gortd's task plugins end to end (SPEC §3,
 * PROTOCOL.md: plugins, plugin.load, plugin.unload, task.start, task.stop,
 * goroutines {plugin}, the plugin kinds of the events stream).
 *
 * Every test starts a real gortd (gortdutil.h) with a fresh plugin
 * directory of its own, DIR/plugins (mode 0755), passed as --plugin-dir;
 * it copies there the shared objects it needs (mode 0644): the example
 * plugins from BUILD/plugins (hello, spinner, panicky, ...) and the test
 * plugins from BUILD/tests/plugins (libgortd_stubborn.so, ...; see their
 * header comments).  A file copied before the daemon starts is loaded at
 * start; one copied after waits for plugin.load or SIGHUP.
 *
 * Covered: every plugin command's answer; loading, running and unloading
 * 200 times without growth; a panic or a fault in a plugin failing that
 * plugin only; a plugin that will not stop left stuck; the loads that are
 * refused, with nothing left behind; the errors of task.start and
 * task.stop; the per-plugin accounting, and CPU-bound tasks on every P
 * that still yield to the rest; SIGTERM during a load, SIGHUP, and an
 * empty plugin directory.
 *
 * Waits poll the daemon (or its stderr, or /proc) against a deadline;
 * time bounds are generous and tripled under the sanitizers.  The one
 * deliberate pause is the second during which two spinners burn CPU.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gortdutil.h"

#include <dirent.h>

#define CYCLES 200                /* load, run, unload */
#define WARMUP_CYCLES 20          /* before the baseline is taken */
#define MAX_M_GROWTH 4            /* Ms the cycles may add (see footprint_of) */
#define MAX_RSS_GROWTH (4L << 20) /* bytes of RSS the cycles may add */

/* The plugin fixture, on top of gortdutil.h's. */
static struct {
    char dir[PATH_MAX];           /* the plugin directory, DIR/plugins */
    json_t *seen;                 /* the data of every event wait_event read */
} pfx;

static int plugin_setup(void **state)
{
    if (setup(state) != 0)
        return -1;
    snprintf(pfx.dir, sizeof pfx.dir, "%s/plugins", fx.dir);
    /* chmod too: mkdir's mode goes through the umask. */
    if (mkdir(pfx.dir, 0755) != 0 || chmod(pfx.dir, 0755) != 0)
        return -1;
    pfx.seen = keep(json_array());
    return pfx.seen ? 0 : -1;
}

/* ---------------------------------------------------------------------
 * Plugin files
 * ------------------------------------------------------------------- */

/* Where this build put file: the test plugins (libgortd_*.so) are in
 * BUILD/tests/plugins, the example plugins in BUILD/plugins. */
static const char *built_plugin(const char *file)
{
    if (strncmp(file, "libgortd_", 9) == 0)
        return kept_printf("%s/tests/plugins/%s", g_build, file);
    return kept_printf("%s/plugins/%s", g_build, file);
}

/* Write n bytes to path with mode, whatever the umask: through a hidden
 * temporary name (which a directory scan skips) and a rename, as one
 * installs a plugin. */
static void put_file(const char *path, const void *p, size_t n, mode_t mode)
{
    const char *slash = strrchr(path, '/');
    const char *tmp = kept_printf("%.*s/.%s.tmp", (int)(slash - path), path, slash + 1);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        fail_msg("create %s: %s", tmp, strerror(errno));
    for (const char *q = p; n > 0;) {
        ssize_t w = write(fd, q, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail_msg("write %s: %s", tmp, strerror(errno));
        q += w;
        n -= (size_t)w;
    }
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
    if (rename(tmp, path) != 0)
        fail_msg("rename %s to %s: %s", tmp, path, strerror(errno));
}

/* The bytes of the file at path (kept), and their number. */
static const char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "re");
    if (!f)
        fail_msg("%s: %s", path, strerror(errno));
    char *buf = NULL;
    FILE *m = open_memstream(&buf, n);
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, r, m);
    fclose(f);
    fclose(m);
    const char *k = kept_string(buf, *n);
    free(buf);
    return k;
}

/* Copy the built plugin file into dir as name, mode 0644: the path. */
static const char *install_in(const char *dir, const char *file, const char *name)
{
    size_t n;
    const char *bytes = slurp(built_plugin(file), &n);
    const char *path = kept_printf("%s/%s", dir, name);
    put_file(path, bytes, n, 0644);
    return path;
}

/* Copy file into the plugin directory under its own name or as name. */
static const char *install_as(const char *file, const char *name)
{
    return install_in(pfx.dir, file, name);
}

static const char *install(const char *file)
{
    return install_as(file, file);
}

/* Start gortd with the fixture's plugin directory and the extra flags
 * (NULL-terminated); env as for spawn. */
static struct daemon *start_with_plugins_env(const char *env, const char *first, ...)
{
    const char *args[24] = {"--plugin-dir", pfx.dir};
    int n = 2;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        assert_true(n < 23);
        args[n++] = a;
    }
    va_end(ap);
    args[n] = NULL;
    return start_gortd_env(env, args);
}

#define start_with_plugins(...) start_with_plugins_env(NULL, __VA_ARGS__)

/* ---------------------------------------------------------------------
 * The daemon from /proc
 * ------------------------------------------------------------------- */

static int count_entries(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir)
        fail_msg("opendir %s: %s", path, strerror(errno));
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));)
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

static int fd_count(pid_t pid)
{
    return count_entries(kept_printf("/proc/%d/fd", (int)pid));
}

/* The daemon's threads, and in *jobs those named gortd-job: the thread of
 * a long command, which exits just after its answer is sent. */
static int thread_count(pid_t pid, int *jobs)
{
    const char *dir = kept_printf("/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("opendir %s: %s", dir, strerror(errno));
    int n = 0;
    *jobs = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        n++;
        /* A thread that has just exited has no comm to read. */
        FILE *f = fopen(kept_printf("%s/%s/comm", dir, e->d_name), "re");
        char comm[32] = "";
        if (f) {
            if (!fgets(comm, sizeof comm, f))
                comm[0] = '\0';
            fclose(f);
        }
        *jobs += strcmp(comm, "gortd-job\n") == 0;
    }
    closedir(d);
    return n;
}

/* The resident set from /proc/PID/statm, in bytes. */
static long rss_bytes(pid_t pid)
{
    long size, resident;
    if (sscanf(read_text(kept_printf("/proc/%d/statm", (int)pid)), "%ld %ld", &size, &resident) != 2)
        fail_msg("cannot read /proc/%d/statm", (int)pid);
    return resident * sysconf(_SC_PAGESIZE);
}

/* Whether the daemon has a mapping of the file at path. */
static bool mapped(pid_t pid, const char *path)
{
    return strstr(read_text(kept_printf("/proc/%d/maps", (int)pid)), path) != NULL;
}

/* ---------------------------------------------------------------------
 * Asking the daemon
 * ------------------------------------------------------------------- */

/* The entry named name in a list of plugins, or NULL. */
static json_t *find_entry(json_t *list, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p) {
        if (strcmp(get_str(p, "name"), name) == 0)
            return p;
    }
    return NULL;
}

/* name's entry in "plugins" (with path and tasks); fails when absent. */
static json_t *plugin_entry(struct conn *c, const char *name)
{
    json_t *list = get_array(call(c, "plugins", NULL), "plugins");
    json_t *p = find_entry(list, name);
    if (!p)
        fail_msg("no plugin \"%s\" is listed: %s", name, show(list));
    return p;
}

/* name's counters in "stats"; fails when absent. */
static json_t *stats_entry(struct conn *c, const char *name)
{
    json_t *list = get_array(call(c, "stats", NULL), "plugins");
    json_t *p = find_entry(list, name);
    if (!p)
        fail_msg("stats lists no plugin \"%s\": %s", name, show(list));
    return p;
}

/* The loaded plugins as "name:state name:state ...", in load order. */
static const char *plugin_states(struct conn *c)
{
    json_t *list = get_array(call(c, "plugins", NULL), "plugins");
    const char *s = "";
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p) {
        s = kept_printf("%s%s%s:%s", s, i ? " " : "", get_str(p, "name"), get_str(p, "state"));
    }
    return s;
}

static json_int_t goroutines(struct conn *c)
{
    return get_int(call(c, "stats", NULL), "goroutines");
}

/* Poll stats until the daemon counts n goroutines (one ending may still
 * be on its way out). */
static void wait_goroutines(struct conn *c, json_int_t n)
{
    int64_t end = now_ms() + scaled(WAIT_MS);
    json_int_t have;
    while ((have = goroutines(c)) != n) {
        if (now_ms() > end)
            fail_msg("gortd counts %lld goroutines, %lld expected", (long long)have, (long long)n);
        sleep_ms(5);
    }
}

/* Poll stats until plugin counts n goroutines. */
static void wait_plugin_goroutines(struct conn *c, const char *plugin, json_int_t n)
{
    int64_t end = now_ms() + scaled(WAIT_MS);
    json_t *p;
    while (get_int(p = stats_entry(c, plugin), "goroutines") != n) {
        if (now_ms() > end)
            fail_msg("plugin %s should have %lld goroutines: %s", plugin, (long long)n, show(p));
        sleep_ms(2);
    }
}

static const char *path_arg(const char *path)
{
    return kept_printf("{\"path\":\"%s\"}", path);
}

/* Load path: the plugin's entry. */
static json_t *load(struct conn *c, const char *path)
{
    return call(c, "plugin.load", path_arg(path));
}

static void unload(struct conn *c, const char *name)
{
    json_t *r = call(c, "plugin.unload", kept_printf("{\"name\":\"%s\"}", name));
    assert_string_equal(get_str(r, "plugin"), name);
}

/* Start plugin's task with args (a JSON array's text, or NULL): its id. */
static json_int_t start_task(struct conn *c, const char *plugin, const char *task, const char *args)
{
    const char *a = args ? kept_printf("{\"plugin\":\"%s\",\"task\":\"%s\",\"args\":%s}", plugin, task, args)
                         : kept_printf("{\"plugin\":\"%s\",\"task\":\"%s\"}", plugin, task);
    json_t *r = call(c, "task.start", a);
    assert_string_equal(get_str(r, "plugin"), plugin);
    assert_string_equal(get_str(r, "task"), task);
    return get_int(r, "task_id");
}

static json_t *stop_task(struct conn *c, json_int_t id)
{
    return call(c, "task.stop", kept_printf("{\"id\":%lld}", (long long)id));
}

/* The data of the next event of kind on e (subscribed to "events"),
 * within ms.  The events before it are skipped, and every event read is
 * remembered for expect_no_event. */
static json_t *wait_event(struct conn *e, const char *kind, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        json_t *ev;
        if (json_array_size(e->events) > 0) {
            ev = json_incref(json_array_get(e->events, 0));
            json_array_remove(e->events, 0);
            keep(ev);
        } else {
            int64_t left = end - now_ms();
            bool closed;
            ev = left > 0 ? next_line(e, (int)left, &closed) : NULL;
            if (!ev)
                fail_msg("no %s event within %d ms; the events read: %s", kind, ms, show(pfx.seen));
        }
        json_t *data = get_obj(ev, "data");
        json_array_append(pfx.seen, data);
        if (strcmp(get_str(data, "kind"), kind) == 0)
            return data;
    }
}

/* No event of kind for plugin reached e, up to its answer to a ping: the
 * daemon sent what it had queued for e before that answer. */
static void expect_no_event(struct conn *e, const char *kind, const char *plugin)
{
    call(e, "ping", NULL);
    size_t i;
    json_t *data;
    json_array_foreach(e->events, i, data) {
        json_array_append(pfx.seen, get_obj(data, "data"));
    }
    json_array_clear(e->events);
    json_array_foreach(pfx.seen, i, data) {
        json_t *p = json_object_get(data, "plugin");
        if (strcmp(get_str(data, "kind"), kind) == 0 && (!plugin || (json_is_string(p) &&
                                                                     strcmp(json_string_value(p), plugin) == 0)))
            fail_msg("there should be no %s event%s%s: %s", kind, plugin ? " for " : "", plugin ? plugin : "",
                     show(data));
    }
}

/* How many goroutines a dump holds; each must carry a label that starts
 * with prefix (the line after its "goroutine N [state]:" header). */
static int expect_all_labelled(const char *dump, const char *prefix)
{
    int n = 0;
    for (const char *p = dump; (p = strstr(p, "goroutine ")) != NULL; p++) {
        if (p != dump && p[-1] != '\n')
            continue;
        n++;
        const char *label = strchr(p, '\n');
        if (!label || strncmp(label + 1, prefix, strlen(prefix)) != 0)
            fail_msg("goroutine %d of the dump is not labelled %s...: %.300s", n, prefix, p);
    }
    return n;
}

/* ---------------------------------------------------------------------
 * Every command's answer
 * ------------------------------------------------------------------- */

/* The entry of a plugin that never panicked has a null failure. */
static void expect_no_failure(json_t *p)
{
    json_t *f = get(p, "failure");
    if (!json_is_null(f))
        fail_msg("\"failure\" should be null: %s", show(p));
}

static const char *const entry_counters[] = {
    "tasks_running", "goroutines", "goroutines_started", "alloc_bytes",
    "alloc_objects", "cpu_ns", "assist_ns", "panics",
};
#define NCOUNTERS (sizeof entry_counters / sizeof entry_counters[0])

/* The counters of an entry of "plugins" or "stats": integers, none negative. */
static void expect_counters(json_t *p)
{
    for (size_t i = 0; i < NCOUNTERS; i++)
        if (get_int(p, entry_counters[i]) < 0)
            fail_msg("\"%s\" is negative in %s", entry_counters[i], show(p));
}

TEST(test_plugins_lists_the_loaded_plugins_in_load_order_with_the_documented_fields)
{
    /* The directory's plugins load at start in name order: hello, then
     * spinner; chanstress comes after them. */
    install("spinner.so");
    install("hello.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl;
    load(c, install("chanstress.so"));
    assert_string_equal(plugin_states(c), "hello:loaded spinner:loaded chanstress:loaded");

    json_t *p = plugin_entry(c, "hello");
    /* name, state, failure, path, version, summary, loaded_ns, task_defs,
     * tasks and the counters: nothing else. */
    assert_int_equal(json_object_size(p), 9 + NCOUNTERS);
    assert_string_equal(get_str(p, "state"), "loaded");
    expect_no_failure(p);
    assert_string_equal(get_str(p, "path"), kept_printf("%s/hello.so", pfx.dir));
    assert_string_equal(get_str(p, "version"), "1.0");
    assert_string_equal(get_str(p, "summary"), "a periodic task that allocates a little");
    int64_t age = wall_ns() - get_int(p, "loaded_ns");
    assert_true(age >= 0 && age < 600000000000LL);
    expect_counters(p);
    assert_int_equal(get_int(p, "tasks_running"), 1);
    assert_int_equal(get_int(p, "panics"), 0);
    assert_true(get_int(p, "goroutines_started") >= 2);   /* init's and the task's */

    json_t *defs = get_array(p, "task_defs");
    assert_int_equal(json_array_size(defs), 1);
    json_t *def = json_array_get(defs, 0);
    assert_int_equal(json_object_size(def), 3);
    assert_string_equal(get_str(def, "name"), "tick");
    expect_contains(get_str(def, "summary"), "interval_ms");
    assert_true(get_bool(def, "autostart"));

    json_t *tasks = get_array(p, "tasks");
    assert_int_equal(json_array_size(tasks), 1);
    json_t *t = json_array_get(tasks, 0);
    assert_int_equal(json_object_size(t), 5);
    assert_true(get_int(t, "task_id") >= 1);
    assert_string_equal(get_str(t, "task"), "tick");
    assert_int_equal(json_array_size(get_array(t, "args")), 0);
    assert_true(get_int(t, "started_ns") >= get_int(p, "loaded_ns"));
    assert_false(get_bool(t, "stopping"));

    /* A plugin without autostart tasks runs nothing. */
    json_t *s = plugin_entry(c, "spinner");
    assert_int_equal(get_int(s, "tasks_running"), 0);
    assert_int_equal(get_int(s, "goroutines"), 0);
    assert_int_equal(json_array_size(get_array(s, "tasks")), 0);
    assert_false(get_bool(json_array_get(get_array(s, "task_defs"), 0), "autostart"));
}

TEST(test_plugin_load_answers_the_plugins_entry_and_starts_its_autostart_tasks)
{
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl;
    assert_string_equal(plugin_states(c), "");
    const char *path = install("hello.so");
    assert_false(mapped(d->pid, path));
    json_t *r = load(c, path);
    assert_string_equal(get_str(r, "name"), "hello");
    assert_string_equal(get_str(r, "state"), "loaded");
    assert_string_equal(get_str(r, "path"), path);
    assert_string_equal(get_str(r, "version"), "1.0");
    expect_no_failure(r);
    expect_counters(r);
    /* The autostart task runs already. */
    json_t *tasks = get_array(r, "tasks");
    assert_int_equal(json_array_size(tasks), 1);
    assert_string_equal(get_str(json_array_get(tasks, 0), "task"), "tick");
    assert_int_equal(get_int(r, "tasks_running"), 1);
    /* init ran, on a goroutine of the plugin, before the answer. */
    wait_log(d, "hello: init", 0);
    assert_true(mapped(d->pid, path));

    /* The answer is the entry "plugins" lists. */
    json_t *p = plugin_entry(c, "hello");
    static const char *const same[] = {"name", "path", "version", "summary", "loaded_ns", "task_defs", "tasks"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if (!json_equal(get(r, same[i]), get(p, same[i])))
            fail_msg("\"%s\" differs: plugin.load said %s, plugins says %s", same[i], show(r), show(p));
    wait_plugin_goroutines(c, "hello", 1);
}

TEST(test_task_start_answers_the_task_id_and_label_and_the_task_runs_with_its_args)
{
    install("hello.so");
    install("spinner.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl;
    json_t *r = call(c, "task.start", "{\"plugin\":\"hello\",\"task\":\"tick\",\"args\":[\"20\"]}");
    assert_int_equal(json_object_size(r), 5);
    json_int_t id = get_int(r, "task_id");
    assert_string_equal(get_str(r, "plugin"), "hello");
    assert_string_equal(get_str(r, "task"), "tick");
    assert_string_equal(get_str(r, "label"), "hello/tick");
    json_t *args = get_array(r, "args");
    assert_int_equal(json_array_size(args), 1);
    assert_string_equal(json_string_value(json_array_get(args, 0)), "20");

    /* Task ids are unique: the autostart task has another, and so has
     * the next one, on another plugin. */
    json_t *tasks = get_array(plugin_entry(c, "hello"), "tasks");
    assert_int_equal(json_array_size(tasks), 2);
    bool listed = false;
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t) {
        if (get_int(t, "task_id") == id) {
            listed = true;
            assert_string_equal(json_string_value(json_array_get(get_array(t, "args"), 0)), "20");
        }
    }
    if (!listed)
        fail_msg("task %lld is not listed: %s", (long long)id, show(tasks));
    json_int_t id2 = start_task(c, "spinner", "spin", NULL);
    assert_true(id2 != id);
    wait_plugin_goroutines(c, "spinner", 1);
    /* The task's goroutine carries its label. */
    json_t *g = call(c, "goroutines", "{\"plugin\":\"spinner\"}");
    assert_int_equal(expect_all_labelled(get_str(g, "dump"), "spinner/spin"), 1);
}

TEST(test_task_stop_closes_the_done_channel_and_answers_once_the_task_returned)
{
    install("spinner.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl, *e = subscribe_events(d);
    json_int_t id = start_task(c, "spinner", "spin", NULL);
    wait_plugin_goroutines(c, "spinner", 1);
    json_t *r = stop_task(c, id);
    assert_int_equal(json_object_size(r), 2);
    assert_int_equal(get_int(r, "task_id"), id);
    assert_true(get_int(r, "duration_ns") > 0);
    /* It returned (it prints that it stopped) and is gone. */
    wait_log(d, "spinner: spin: stopped after", scaled(WAIT_MS));
    json_t *p = plugin_entry(c, "spinner");
    assert_int_equal(get_int(p, "tasks_running"), 0);
    assert_int_equal(json_array_size(get_array(p, "tasks")), 0);
    json_t *ex = wait_event(e, "task.exited", scaled(WAIT_MS));
    assert_int_equal(get_int(ex, "task_id"), id);
    assert_string_equal(get_str(ex, "outcome"), "returned");
    wait_plugin_goroutines(c, "spinner", 0);
    /* Stopped once, it is no more. */
    expect_contains(call_err(c, "task.stop", kept_printf("{\"id\":%lld}", (long long)id), "ENOENT"),
                    kept_printf("%lld", (long long)id));
}

TEST(test_plugin_unload_stops_its_tasks_runs_fini_and_unmaps_it)
{
    const char *path = install("hello.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl, *e = subscribe_events(d);
    start_task(c, "hello", "tick", "[\"10\"]");
    wait_plugin_goroutines(c, "hello", 2);
    assert_true(mapped(d->pid, path));

    json_t *r = call(c, "plugin.unload", "{\"name\":\"hello\",\"timeout_ms\":5000}");
    assert_int_equal(json_object_size(r), 2);
    assert_string_equal(get_str(r, "plugin"), "hello");
    assert_true(get_int(r, "duration_ns") > 0);
    assert_string_equal(plugin_states(c), "");
    wait_log(d, "hello: fini after", 0);
    assert_false(mapped(d->pid, path));
    /* Both tasks returned. */
    for (int i = 0; i < 2; i++)
        assert_string_equal(get_str(wait_event(e, "task.exited", scaled(WAIT_MS)), "outcome"), "returned");
    assert_string_equal(get_str(wait_event(e, "plugin.unloaded", scaled(WAIT_MS)), "plugin"), "hello");
    /* Gone from every command. */
    expect_contains(call_err(c, "plugin.unload", "{\"name\":\"hello\"}", "ENOENT"), "hello");
    expect_contains(call_err(c, "goroutines", "{\"plugin\":\"hello\"}", "ENOENT"), "hello");
    expect_contains(call_err(c, "task.start", "{\"plugin\":\"hello\",\"task\":\"tick\"}", "ENOENT"), "hello");
    /* And it can be loaded again. */
    assert_string_equal(get_str(load(c, path), "state"), "loaded");
}

TEST(test_goroutines_of_a_plugin_lists_only_the_goroutines_labelled_with_its_name)
{
    install("hello.so");
    install("chanstress.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl;
    /* The task and its two producers and two consumers. */
    start_task(c, "chanstress", "run", "[\"2\",\"2\",\"16\"]");
    wait_plugin_goroutines(c, "chanstress", 5);

    json_t *r = call(c, "goroutines", "{\"plugin\":\"chanstress\"}");
    const char *dump = get_str(r, "dump");
    assert_int_equal(get_int(r, "count"), 5);
    assert_int_equal(expect_all_labelled(dump, "chanstress/run"), 5);
    assert_false(get_bool(r, "truncated"));
    if (strstr(dump, "hello/"))
        fail_msg("hello's goroutine is in chanstress's dump: %s", dump);

    r = call(c, "goroutines", "{\"plugin\":\"hello\"}");
    assert_int_equal(get_int(r, "count"), 1);
    assert_int_equal(expect_all_labelled(get_str(r, "dump"), "hello/tick"), 1);

    /* The whole dump has them all. */
    r = call(c, "goroutines", NULL);
    assert_true(get_int(r, "count") >= 6);
    expect_contains(get_str(r, "dump"), "\nchanstress/run\n");
    expect_contains(get_str(r, "dump"), "\nhello/tick\n");
}

TEST(test_stats_lists_each_plugins_counters_without_paths_or_tasks)
{
    install("hello.so");
    install("chanstress.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl;
    start_task(c, "chanstress", "run", "[\"1\",\"1\",\"0\"]");
    wait_plugin_goroutines(c, "chanstress", 3);
    json_t *list = get_array(call(c, "stats", NULL), "plugins");
    assert_int_equal(json_array_size(list), 2);
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p) {
        /* name, state, failure and the counters: nothing else. */
        if (json_object_size(p) != 3 + NCOUNTERS)
            fail_msg("a stats entry has other fields than name, state, failure and the counters: %s", show(p));
        expect_counters(p);
        assert_string_equal(get_str(p, "state"), "loaded");
        expect_no_failure(p);
    }
    json_t *cs = find_entry(list, "chanstress");
    assert_non_null(cs);
    assert_int_equal(get_int(cs, "tasks_running"), 1);
    assert_int_equal(get_int(cs, "goroutines"), 3);
    assert_true(get_int(cs, "goroutines_started") >= 3);
    assert_int_equal(get_int(cs, "panics"), 0);
    /* The stats counters are those of "plugins". */
    json_t *hs = find_entry(list, "hello");
    assert_non_null(hs);
    assert_int_equal(get_int(hs, "tasks_running"), get_int(plugin_entry(c, "hello"), "tasks_running"));
    /* The daemon's goroutine count includes them. */
    assert_true(goroutines(c) >= 4);
}

TEST(test_the_events_stream_reports_each_step_of_a_plugins_life)
{
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl, *e = subscribe_events(d);
    const char *path = install("spinner.so");
    load(c, path);
    json_int_t id = start_task(c, "spinner", "spin", NULL);
    stop_task(c, id);
    unload(c, "spinner");

    /* What the operator did carries uid and pid; what the plugin did
     * does not.  Each came once. */
    static const char *const kinds[] = {"plugin.load", "plugin.loaded", "task.start", "task.stop", "task.exited",
                                        "plugin.unload", "plugin.unloaded"};
    enum { NKINDS = sizeof kinds / sizeof kinds[0] };
    json_t *data[NKINDS] = {0};
    size_t at[NKINDS] = {0};
    wait_event(e, "plugin.unloaded", scaled(WAIT_MS));
    expect_no_event(e, "plugin.failed", NULL);
    size_t i;
    json_t *ev;
    json_array_foreach(pfx.seen, i, ev) {
        for (int k = 0; k < NKINDS; k++) {
            if (strcmp(get_str(ev, "kind"), kinds[k]) != 0)
                continue;
            if (data[k])
                fail_msg("two %s events: %s", kinds[k], show(pfx.seen));
            data[k] = ev;
            at[k] = i;
        }
    }
    for (int k = 0; k < NKINDS; k++) {
        if (!data[k])
            fail_msg("no %s event: %s", kinds[k], show(pfx.seen));
        bool by_operator = k == 0 || k == 2 || k == 3 || k == 5;
        if (by_operator) {
            assert_int_equal(get_int(data[k], "uid"), getuid());
            assert_int_equal(get_int(data[k], "pid"), getpid());
        } else if (json_object_get(data[k], "uid")) {
            fail_msg("%s is not the operator's doing but carries a uid: %s", kinds[k], show(data[k]));
        }
    }
    assert_string_equal(get_str(data[0], "path"), path);
    assert_string_equal(get_str(data[1], "plugin"), "spinner");
    assert_string_equal(get_str(data[1], "path"), path);
    assert_int_equal(get_int(data[2], "task_id"), id);
    assert_string_equal(get_str(data[2], "plugin"), "spinner");
    assert_string_equal(get_str(data[2], "task"), "spin");
    assert_int_equal(get_int(data[3], "task_id"), id);
    assert_int_equal(get_int(data[4], "task_id"), id);
    assert_string_equal(get_str(data[4], "plugin"), "spinner");
    assert_string_equal(get_str(data[4], "task"), "spin");
    assert_string_equal(get_str(data[4], "outcome"), "returned");
    assert_string_equal(get_str(data[5], "name"), "spinner");
    assert_int_equal(get_int(data[5], "timeout_ms"), 5000);
    assert_string_equal(get_str(data[6], "plugin"), "spinner");
    /* Causes come before their effects. */
    assert_true(at[0] < at[1]);
    assert_true(at[3] < at[4]);
    assert_true(at[4] < at[6] && at[5] < at[6]);
}

/* ---------------------------------------------------------------------
 * Load, run, unload, again and again
 * ------------------------------------------------------------------- */

struct footprint {
    json_int_t goroutines;
    int fds, ms, others;
    long rss;
};

/* The daemon's goroutines, fds, threads and resident set, once the job
 * threads (gortd-job, one per long command, exiting just after its answer)
 * are gone.  The threads are counted in two parts.  Ms: as in Go, the
 * runtime keeps every M it made, and makes one whenever work is ready and
 * no M is idle, so their number is the high-water mark of that, which the
 * cycles may raise a little without anything leaking.  The others (the
 * event loop, a sanitizer's own) must not change. */
static struct footprint footprint_of(struct daemon *d)
{
    struct conn *c = d->ctl;
    /* Collect and give every free page back, so that the heap's part of
     * the resident set is what is live, not what the scavenger has yet
     * to return. */
    call(c, "freeosmemory", NULL);
    int64_t end = now_ms() + scaled(WAIT_MS);
    int threads, jobs, ms;
    for (;;) {
        /* The Ms counted before and after the threads, in case one is
         * made in between. */
        ms = (int)get_int(call(c, "stats", NULL), "threads");
        threads = thread_count(d->pid, &jobs);
        if (jobs == 0 && ms == get_int(call(c, "stats", NULL), "threads"))
            break;
        if (now_ms() > end)
            fail_msg("gortd still has %d gortd-job threads after %d ms", jobs, scaled(WAIT_MS));
        sleep_ms(1);
    }
    return (struct footprint){goroutines(c), fd_count(d->pid), ms, threads - ms, rss_bytes(d->pid)};
}

/* Load binarytrees and chanstress, start a task on each, see both at
 * work, unload both. */
static void cycle(struct conn *c, const char *bt, const char *cs)
{
    assert_string_equal(get_str(load(c, bt), "name"), "binarytrees");
    assert_string_equal(get_str(load(c, cs), "name"), "chanstress");
    start_task(c, "binarytrees", "run", "[\"4\"]");
    start_task(c, "chanstress", "run", "[\"2\",\"2\",\"16\"]");
    int64_t end = now_ms() + scaled(WAIT_MS);
    for (;;) {
        json_t *list = get_array(call(c, "stats", NULL), "plugins");
        json_t *b = find_entry(list, "binarytrees"), *s = find_entry(list, "chanstress");
        assert_true(b && s);
        /* binarytrees's worker started (a round is under way) and every
         * producer and consumer of chanstress runs. */
        if (get_int(b, "goroutines_started") >= 2 && get_int(b, "alloc_objects") > 0 &&
            get_int(s, "goroutines_started") >= 5)
            break;
        if (now_ms() > end)
            fail_msg("the tasks did not get going within %d ms: %s", scaled(WAIT_MS), show(list));
        sleep_ms(1);
    }
    unload(c, "binarytrees");
    unload(c, "chanstress");
}

TEST(test_200_load_run_unload_cycles_leave_no_goroutines_fds_threads_or_memory_behind)
{
    /* Without the history: every cycle adds rows to it, and SQLite's page
     * cache (2 MB by default) fills as the file grows, a bounded growth of
     * the resident set that would hide a leak of the cycles' own. */
    struct daemon *d = start_with_plugins("--history-db", "off", NULL);
    struct conn *c = d->ctl;
    const char *bt = install("binarytrees.so"), *cs = install("chanstress.so");
    int64_t t0 = now_ms();
    for (int i = 0; i < WARMUP_CYCLES; i++)
        cycle(c, bt, cs);
    struct footprint before = footprint_of(d);
    for (int i = WARMUP_CYCLES; i < CYCLES; i++)
        cycle(c, bt, cs);
    assert_string_equal(plugin_states(c), "");
    wait_goroutines(c, before.goroutines);
    struct footprint after = footprint_of(d);
    print_message("    %d cycles in %lld ms; after cycle %d -> after cycle %d: goroutines %lld -> %lld, fds %d -> %d, "
                  "Ms %d -> %d, other threads %d -> %d, RSS %ld -> %ld KiB (%+ld KiB)%s\n",
                  CYCLES, (long long)(now_ms() - t0), WARMUP_CYCLES, CYCLES, (long long)before.goroutines,
                  (long long)after.goroutines, before.fds, after.fds, before.ms, after.ms, before.others, after.others,
                  before.rss / 1024, after.rss / 1024, (after.rss - before.rss) / 1024,
                  g_sanitizer ? " (RSS not checked under the sanitizers)" : "");
    assert_int_equal(after.goroutines, before.goroutines);
    if (after.fds != before.fds)
        fail_msg("gortd had %d fds after %d cycles and %d after %d", before.fds, WARMUP_CYCLES, after.fds, CYCLES);
    if (after.others != before.others)
        fail_msg("gortd had %d threads besides its Ms after %d cycles and %d after %d", before.others,
                 WARMUP_CYCLES, after.others, CYCLES);
    if (after.ms > before.ms + MAX_M_GROWTH)
        fail_msg("gortd had %d Ms after %d cycles and %d after %d", before.ms, WARMUP_CYCLES, after.ms, CYCLES);
    /* As expect_rss_bounded in test_gortd: under the sanitizers the
     * resident set measures the sanitizer's quarantine and shadow. */
    if (!g_sanitizer && after.rss > before.rss + MAX_RSS_GROWTH)
        fail_msg("gortd's RSS grew by %ld KiB over %d cycles (at most %ld KiB allowed)",
                 (after.rss - before.rss) / 1024, CYCLES - WARMUP_CYCLES, MAX_RSS_GROWTH / 1024);
    assert_false(mapped(d->pid, bt));
    assert_false(mapped(d->pid, cs));
}

TEST(test_collections_while_a_plugin_hammers_a_channel_lose_and_duplicate_no_value)
{
    /* Four producers and four consumers on a one-slot channel: most of
     * them are parked on it at any time, which is what a collection has
     * to scan while the others hand values over. */
    install("chanstress.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl;
    json_int_t id = start_task(c, "chanstress", "run", "[\"4\",\"4\",\"1\"]");
    wait_plugin_goroutines(c, "chanstress", 9);
    for (int i = 0; i < 50; i++)
        call(c, "gc", NULL);
    stop_task(c, id);
    /* The task counts what went through and panics on a mismatch. */
    json_t *p = plugin_entry(c, "chanstress");
    assert_string_equal(get_str(p, "state"), "loaded");
    assert_int_equal(get_int(p, "panics"), 0);
    const char *line = strstr(read_text(d->log), "chanstress: stopped: sent");
    unsigned long long sent, ssum, recvd, rsum;
    if (!line || sscanf(line, "chanstress: stopped: sent %llu (sum %llu), received %llu (sum %llu)", &sent, &ssum,
                        &recvd, &rsum) != 4)
        fail_msg("chanstress did not report its totals: %s", line ? line : "(no line)");
    assert_true(sent > 0);
    assert_int_equal(recvd, sent);
    assert_int_equal(rsum, ssum);
}

/* ---------------------------------------------------------------------
 * Isolation
 * ------------------------------------------------------------------- */

/* hello's cpu_ns and alloc_bytes both grow past what they are now. */
static void expect_hello_keeps_running(struct conn *c)
{
    json_t *h0 = stats_entry(c, "hello");
    json_int_t cpu0 = get_int(h0, "cpu_ns"), alloc0 = get_int(h0, "alloc_bytes");
    int64_t end = now_ms() + scaled(WAIT_MS);
    json_t *h;
    while (h = stats_entry(c, "hello"), get_int(h, "cpu_ns") <= cpu0 || get_int(h, "alloc_bytes") <= alloc0) {
        if (now_ms() > end)
            fail_msg("hello stopped working: it was %s and is %s", show(h0), show(h));
        sleep_ms(10);
    }
    assert_string_equal(get_str(h, "state"), "loaded");
}

/* Task `task` of the plugin in file (named plugin) panics, with message
 * (from a fault of signal sig when sig is not 0).  Whatever it was, only
 * that plugin fails: the daemon and hello, loaded beside it, carry on. */
static void expect_contained(const char *file, const char *plugin, const char *task, const char *message, int sig)
{
    const char *path = install(file);
    install("hello.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl, *e = subscribe_events(d);
    /* A quicker tick than the autostart one, so that hello's counters
     * move within milliseconds. */
    start_task(c, "hello", "tick", "[\"10\"]");
    json_int_t id = start_task(c, plugin, task, NULL);

    json_t *f = wait_event(e, "plugin.failed", scaled(WAIT_MS));
    assert_string_equal(get_str(f, "plugin"), plugin);
    assert_string_equal(get_str(f, "label"), kept_printf("%s/%s", plugin, task));
    assert_string_equal(get_str(f, "message"), message);
    assert_true(get_int(f, "goroutine") > 0);
    if (sig) {
        json_t *fault = get_obj(f, "fault");
        assert_int_equal(get_int(fault, "signal"), sig);
        if (sig == SIGSEGV)
            assert_int_equal(get_int(fault, "addr"), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        json_int_t off = get_int(fault, "pc_offset");
        if (off < 0 || off >= st.st_size)
            fail_msg("pc_offset %lld is not inside the plugin's code: %s", (long long)off, show(f));
    } else if (json_object_get(f, "fault")) {
        fail_msg("a panic is not a fault: %s", show(f));
    }
    json_t *x = wait_event(e, "task.exited", scaled(WAIT_MS));
    assert_int_equal(get_int(x, "task_id"), id);
    assert_string_equal(get_str(x, "plugin"), plugin);
    assert_string_equal(get_str(x, "outcome"), "panicked");
    wait_log(d, kept_printf("plugin %s: panic in goroutine", plugin), scaled(WAIT_MS));

    /* The daemon answers, the plugin is failed, hello is fine. */
    assert_true(get_bool(call(c, "ping", NULL), "pong"));
    assert_int_equal(get_int(call(c, "stats", NULL), "pid"), d->pid);
    json_t *p = plugin_entry(c, plugin);
    assert_string_equal(get_str(p, "state"), "failed");
    assert_string_equal(get_str(p, "failure"), message);
    assert_int_equal(get_int(p, "panics"), 1);
    assert_int_equal(get_int(p, "tasks_running"), 0);
    json_t *h = plugin_entry(c, "hello");
    assert_string_equal(get_str(h, "state"), "loaded");
    expect_no_failure(h);
    assert_int_equal(get_int(h, "tasks_running"), 2);
    expect_hello_keeps_running(c);
    /* Another plugin still takes new tasks; the failed one does not. */
    stop_task(c, start_task(c, "hello", "tick", NULL));
    const char *busy = call_err(c, "task.start", kept_printf("{\"plugin\":\"%s\",\"task\":\"%s\"}", plugin, task),
                                "EBUSY");
    expect_contains(busy, plugin);
    expect_contains(busy, "failed");
    /* It unloads cleanly. */
    unload(c, plugin);
    assert_string_equal(plugin_states(c), "hello:loaded");
    assert_false(mapped(d->pid, path));
    expect_no_event(e, "plugin.failed", "hello");
}

TEST(test_a_panicking_task_fails_its_plugin_while_the_daemon_and_other_plugins_carry_on)
{
    expect_contained("panicky.so", "panicky", "boom", "panicky: boom", 0);
}

TEST(test_a_nil_dereference_in_plugin_code_is_a_panic_that_fails_only_that_plugin)
{
    expect_contained("crashy.so", "crashy", "null", "runtime error: invalid memory address or nil pointer dereference",
                     SIGSEGV);
}

TEST(test_an_integer_division_by_zero_in_plugin_code_is_a_panic_with_gos_message)
{
    expect_contained("crashy.so", "crashy", "div0", "runtime error: integer divide by zero", SIGFPE);
}

TEST(test_a_panic_in_a_goroutine_a_task_started_fails_the_plugin_and_stops_the_task)
{
    install("panicky.so");
    install("hello.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl, *e = subscribe_events(d);
    json_int_t id = start_task(c, "panicky", "child", NULL);
    json_t *f = wait_event(e, "plugin.failed", scaled(WAIT_MS));
    assert_string_equal(get_str(f, "plugin"), "panicky");
    /* The child inherited its task's label. */
    assert_string_equal(get_str(f, "label"), "panicky/child");
    const char *msg = kept_printf("panicky: child: the child goroutine of task %lld panics", (long long)id);
    assert_string_equal(get_str(f, "message"), msg);
    /* The task itself did not panic: it was asked to stop, and returned. */
    json_t *x = wait_event(e, "task.exited", scaled(WAIT_MS));
    assert_int_equal(get_int(x, "task_id"), id);
    assert_string_equal(get_str(x, "outcome"), "returned");
    wait_plugin_goroutines(c, "panicky", 0);

    assert_true(get_bool(call(c, "ping", NULL), "pong"));
    json_t *p = plugin_entry(c, "panicky");
    assert_string_equal(get_str(p, "state"), "failed");
    assert_string_equal(get_str(p, "failure"), msg);
    assert_int_equal(get_int(p, "panics"), 1);
    assert_string_equal(get_str(plugin_entry(c, "hello"), "state"), "loaded");
    unload(c, "panicky");
    assert_string_equal(plugin_states(c), "hello:loaded");
}

TEST(test_a_fault_the_plugin_recovers_leaves_it_loaded_and_healthy)
{
    install("crashy.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl, *e = subscribe_events(d);
    json_int_t id = start_task(c, "crashy", "recover", NULL);
    wait_log(d, "crashy: recover: recovered: runtime error: invalid memory address or nil pointer dereference",
             scaled(WAIT_MS));
    json_t *p = plugin_entry(c, "crashy");
    assert_string_equal(get_str(p, "state"), "loaded");
    expect_no_failure(p);
    assert_int_equal(get_int(p, "panics"), 0);
    assert_int_equal(get_int(p, "tasks_running"), 1);
    /* It goes on taking tasks, and stops when asked. */
    stop_task(c, id);
    json_t *x = wait_event(e, "task.exited", scaled(WAIT_MS));
    assert_string_equal(get_str(x, "outcome"), "returned");
    expect_no_event(e, "plugin.failed", NULL);
    assert_string_equal(plugin_states(c), "crashy:loaded");
    unload(c, "crashy");
}

/* ---------------------------------------------------------------------
 * A plugin that will not stop
 * ------------------------------------------------------------------- */

TEST(test_a_plugin_that_ignores_done_is_left_stuck_after_the_unload_deadline_and_the_daemon_carries_on)
{
    const char *path = install("libgortd_stubborn.so");
    install("hello.so");
    /* The daemon's own deadline (at shutdown) is short, to keep the
     * test quick; the unload below names its own. */
    struct daemon *d = start_with_plugins("--unload-timeout", "1000", NULL);
    struct conn *c = d->ctl, *e = subscribe_events(d);
    start_task(c, "stubborn", "ignore", NULL);
    wait_plugin_goroutines(c, "stubborn", 1);

    int64_t t0 = now_ms();
    const char *msg = call_err(c, "plugin.unload", "{\"name\":\"stubborn\",\"timeout_ms\":300}", "ETIMEDOUT");
    int64_t took = now_ms() - t0;
    expect_contains(msg, "stubborn");
    expect_contains(msg, "300 ms");
    if (took < 300)
        fail_msg("the unload gave up after %lld ms, before its 300 ms deadline", (long long)took);

    json_t *p = plugin_entry(c, "stubborn");
    assert_string_equal(get_str(p, "state"), "stuck");
    assert_int_equal(get_int(p, "goroutines"), 1);
    assert_true(mapped(d->pid, path));
    json_t *s = wait_event(e, "plugin.stuck", scaled(WAIT_MS));
    assert_string_equal(get_str(s, "plugin"), "stubborn");
    assert_int_equal(get_int(s, "goroutines"), 1);
    expect_contains(get_str(s, "dump"), "stubborn/ignore");
    json_t *g = call(c, "goroutines", "{\"plugin\":\"stubborn\"}");
    assert_int_equal(get_int(g, "count"), 1);
    assert_int_equal(expect_all_labelled(get_str(g, "dump"), "stubborn/ignore"), 1);
    wait_log(d, "did not stop within 300 ms", 0);

    /* The daemon keeps serving; no task starts on a stuck plugin, and
     * another unload tries again, and times out again. */
    assert_true(get_bool(call(c, "ping", NULL), "pong"));
    assert_string_equal(get_str(plugin_entry(c, "hello"), "state"), "loaded");
    stop_task(c, start_task(c, "hello", "tick", NULL));
    expect_contains(call_err(c, "task.start", "{\"plugin\":\"stubborn\",\"task\":\"ignore\"}", "EBUSY"), "stuck");
    call_err(c, "plugin.unload", "{\"name\":\"stubborn\",\"timeout_ms\":100}", "ETIMEDOUT");
    assert_string_equal(plugin_states(c), "hello:loaded stubborn:stuck");

    /* Shutting down leaves it behind, and exits 0 all the same: hello's
     * fini runs, stubborn's does not (its code is still running). */
    assert_true(get_bool(call(c, "shutdown", NULL), "stopping"));
    assert_int_equal(exit_status(d), 0);
    assert_false(exists(d->sock));
    const char *log = read_text(d->log);
    expect_contains(log, "hello: fini");
    if (strstr(log, "stubborn: fini"))
        fail_msg("stubborn's fini ran while its goroutine was still running its code");
}

TEST(test_task_stop_of_a_task_that_ignores_done_is_etimedout_and_leaves_it_marked_stopping)
{
    install("libgortd_stubborn.so");
    struct daemon *d = start_with_plugins("--unload-timeout", "1000", NULL);
    struct conn *c = d->ctl;
    json_int_t id = start_task(c, "stubborn", "ignore", NULL);
    const char *msg =
        call_err(c, "task.stop", kept_printf("{\"id\":%lld,\"timeout_ms\":200}", (long long)id), "ETIMEDOUT");
    expect_contains(msg, kept_printf("%lld", (long long)id));
    json_t *p = plugin_entry(c, "stubborn");
    assert_string_equal(get_str(p, "state"), "loaded");
    json_t *t = json_array_get(get_array(p, "tasks"), 0);
    assert_non_null(t);
    assert_int_equal(get_int(t, "task_id"), id);
    assert_true(get_bool(t, "stopping"));
    assert_true(get_bool(call(c, "ping", NULL), "pong"));
}

/* ---------------------------------------------------------------------
 * Refused loads
 * ------------------------------------------------------------------- */

/* plugin.load of path (args: the request's arguments, NULL for just the
 * path) is refused with code, and the message names part1 and part2 (when
 * not NULL).  Nothing of it stays: the same plugins are listed, the same
 * goroutines run, no plugin.loaded event came (e is subscribed), and the
 * file is not mapped in the daemon. */
static void expect_refused(struct daemon *d, struct conn *e, const char *path, const char *args, const char *code,
                           const char *part1, const char *part2)
{
    struct conn *c = d->ctl;
    const char *states = plugin_states(c);
    json_int_t g = goroutines(c);
    const char *msg = call_err(c, "plugin.load", args ? args : path_arg(path), code);
    expect_contains(msg, part1);
    if (part2)
        expect_contains(msg, part2);
    assert_string_equal(plugin_states(c), states);
    wait_goroutines(c, g);
    expect_no_event(e, "plugin.loaded", NULL);
    if (path) {
        char real[PATH_MAX];
        if (mapped(d->pid, path) || (realpath(path, real) && mapped(d->pid, real)))
            fail_msg("the refused %s is mapped in gortd", path);
    }
    print_message("    %s: %s\n", code, msg);
}

/* gortd with hello loaded from the plugin directory, and a subscriber. */
static struct daemon *start_with_hello(struct conn **e)
{
    install("hello.so");
    struct daemon *d = start_with_plugins(NULL);
    *e = subscribe_events(d);
    assert_string_equal(plugin_states(d->ctl), "hello:loaded");
    return d;
}

TEST(test_a_plugin_outside_the_plugin_directories_is_refused_with_eperm)
{
    struct conn *e;
    struct daemon *d = start_with_hello(&e);
    const char *other = dir_path("elsewhere");
    assert_int_equal(mkdir(other, 0755), 0);
    assert_int_equal(chmod(other, 0755), 0);
    const char *path = install_in(other, "spinner.so", "spinner.so");
    expect_refused(d, e, path, NULL, "EPERM", "not in a plugin directory", pfx.dir);
    /* A link in the directory to it resolves to outside, and is refused
     * just the same. */
    const char *link = kept_printf("%s/spinner.so", pfx.dir);
    assert_int_equal(symlink(path, link), 0);
    expect_refused(d, e, link, NULL, "EPERM", "not in a plugin directory", path);
    /* Nor is a subdirectory of a plugin directory one. */
    const char *sub = kept_printf("%s/sub", pfx.dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(chmod(sub, 0755), 0);
    expect_refused(d, e, install_in(sub, "spinner.so", "spinner.so"), NULL, "EPERM", "not in a plugin directory",
                   NULL);
}

TEST(test_a_group_or_world_writable_plugin_file_is_refused_with_eperm)
{
    struct conn *e;
    struct daemon *d = start_with_hello(&e);
    const char *path = install("spinner.so");
    assert_int_equal(chmod(path, 0666), 0);
    expect_refused(d, e, path, NULL, "EPERM", "world-writable", path);
    assert_int_equal(chmod(path, 0664), 0);
    expect_refused(d, e, path, NULL, "EPERM", "group-writable", path);
    /* The mode was the only problem. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_string_equal(get_str(load(d->ctl, path), "state"), "loaded");
}

TEST(test_a_group_writable_plugin_directory_is_refused_with_eperm)
{
    struct conn *e;
    struct daemon *d = start_with_hello(&e);
    const char *path = install("spinner.so");
    assert_int_equal(chmod(pfx.dir, 0775), 0);
    expect_refused(d, e, path, NULL, "EPERM", "group-writable", pfx.dir);
    assert_int_equal(chmod(pfx.dir, 0757), 0);
    expect_refused(d, e, path, NULL, "EPERM", "world-writable", pfx.dir);
    assert_int_equal(chmod(pfx.dir, 0755), 0);
    assert_string_equal(get_str(load(d->ctl, path), "state"), "loaded");
}

TEST(test_a_plugin_built_for_another_abi_is_refused_with_einval_naming_both_abis)
{
    struct conn *e;
    struct daemon *d = start_with_hello(&e);
    expect_refused(d, e, install("libgortd_badabi.so"), NULL, "EINVAL", "ABI 999", "ABI 1");
}

TEST(test_a_shared_object_without_gort_plugin_v1_is_refused_with_einval)
{
    struct conn *e;
    struct daemon *d = start_with_hello(&e);
    expect_refused(d, e, install("libgortd_noplugin.so"), NULL, "EINVAL", "no gort_plugin_v1", NULL);
}

TEST(test_a_file_that_is_not_an_elf_object_is_refused_with_einval)
{
    struct conn *e;
    struct daemon *d = start_with_hello(&e);
    const char *text = kept_printf("%s/x.so", pfx.dir);
    const char *words = "this is not a plugin\n";
    put_file(text, words, strlen(words), 0644);
    expect_refused(d, e, text, NULL, "EINVAL", "not an ELF", text);
    /* An ELF header and nothing after it: dlopen says why. */
    const char *cut = kept_printf("%s/cut.so", pfx.dir);
    size_t n;
    const char *hello = slurp(built_plugin("hello.so"), &n);
    assert_true(n > 64);
    put_file(cut, hello, 64, 0644);
    expect_refused(d, e, cut, NULL, "EINVAL", "is not a plugin", cut);
}

TEST(test_a_second_plugin_of_a_loaded_name_is_refused_with_eexist)
{
    struct conn *e;
    struct daemon *d = start_with_hello(&e);
    const char *copy = install_as("hello.so", "hello2.so");
    const char *msg = call_err(d->ctl, "plugin.load", path_arg(copy), "EEXIST");
    expect_contains(msg, "\"hello\"");
    expect_contains(msg, kept_printf("%s/hello.so", pfx.dir));
    expect_refused(d, e, copy, NULL, "EEXIST", "already loaded", NULL);
    /* The first one is untouched: same instance, same task. */
    json_t *h = plugin_entry(d->ctl, "hello");
    assert_string_equal(get_str(h, "path"), kept_printf("%s/hello.so", pfx.dir));
    assert_int_equal(get_int(h, "tasks_running"), 1);
    assert_true(mapped(d->pid, kept_printf("%s/hello.so", pfx.dir)));
    /* Loading the same file again is the same refusal. */
    expect_contains(call_err(d->ctl, "plugin.load", path_arg(get_str(h, "path")), "EEXIST"), "already loaded");
    assert_string_equal(plugin_states(d->ctl), "hello:loaded");
    expect_hello_keeps_running(d->ctl);
}

TEST(test_a_missing_file_is_enoent_and_a_relative_path_einval)
{
    struct conn *e;
    struct daemon *d = start_with_hello(&e);
    const char *missing = kept_printf("%s/nosuch.so", pfx.dir);
    expect_refused(d, e, missing, NULL, "ENOENT", missing, NULL);
    install("spinner.so");
    /* Relative to the daemon's directory or not, it is refused. */
    expect_refused(d, e, "spinner.so", NULL, "EINVAL", "absolute", "spinner.so");
    const char *rel = kept_printf("%s/spinner.so", pfx.dir + 1);
    expect_refused(d, e, rel, NULL, "EINVAL", "absolute", NULL);
}

TEST(test_a_plugin_whose_init_fails_is_refused_with_eio_and_starts_nothing)
{
    struct conn *e;
    struct daemon *d = start_with_hello(&e);
    const char *path = install("libgortd_initfail.so");
    expect_refused(d, e, path, NULL, "EIO", "init", "\"initfail\"");
    expect_contains(call_err(d->ctl, "plugin.load", path_arg(path), "EIO"), strerror(EPERM));
    /* Its autostart task never ran. */
    expect_no_event(e, "task.exited", "initfail");
    expect_contains(call_err(d->ctl, "goroutines", "{\"plugin\":\"initfail\"}", "ENOENT"), "initfail");
}

TEST(test_plugin_load_arguments_of_the_wrong_type_are_einval_naming_them)
{
    struct conn *e;
    struct daemon *d = start_with_hello(&e);
    expect_refused(d, e, NULL, "{\"path\":5}", "EINVAL", "\"path\"", NULL);
    expect_refused(d, e, NULL, "{\"path\":[\"/x.so\"]}", "EINVAL", "\"path\"", NULL);
    expect_refused(d, e, NULL, "{}", "EINVAL", "\"path\"", NULL);
    expect_refused(d, e, NULL, kept_printf("{\"path\":\"%s/hello.so\",\"force\":true}", pfx.dir), "EINVAL", "\"force\"",
                   NULL);
    expect_contains(call_err(d->ctl, "plugin.unload", "{\"name\":7}", "EINVAL"), "\"name\"");
    expect_contains(call_err(d->ctl, "plugin.unload", "{\"name\":\"hello\",\"timeout_ms\":-1}", "EINVAL"),
                    "\"timeout_ms\"");
    assert_string_equal(plugin_states(d->ctl), "hello:loaded");
}

/* ---------------------------------------------------------------------
 * task.start and task.stop errors
 * ------------------------------------------------------------------- */

TEST(test_task_start_on_a_plugin_that_is_not_loaded_is_enoent_naming_it)
{
    struct daemon *d = start_with_plugins(NULL);
    expect_contains(call_err(d->ctl, "task.start", "{\"plugin\":\"nosuch\",\"task\":\"run\"}", "ENOENT"), "nosuch");
    expect_contains(call_err(d->ctl, "plugin.unload", "{\"name\":\"nosuch\"}", "ENOENT"), "nosuch");
}

TEST(test_task_start_of_an_unknown_task_is_enoent_listing_the_plugins_tasks)
{
    install("panicky.so");
    struct daemon *d = start_with_plugins(NULL);
    const char *msg = call_err(d->ctl, "task.start", "{\"plugin\":\"panicky\",\"task\":\"nosuch\"}", "ENOENT");
    expect_contains(msg, "nosuch");
    expect_contains(msg, "wait boom child");
    assert_int_equal(get_int(plugin_entry(d->ctl, "panicky"), "tasks_running"), 0);
}

/* task.start of finimark's idle task, which ignores its arguments and
 * waits until stopped, with args (a JSON value's text). */
static json_t *start_idle(struct conn *c, const char *args)
{
    return rpc(c, "task.start", kept_printf("{\"plugin\":\"finimark\",\"task\":\"idle\",\"args\":%s}", args));
}

TEST(test_task_start_takes_at_most_64_string_args_of_at_most_4096_bytes)
{
    install("libgortd_finimark.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl;
    static const struct {
        const char *args, *part;
    } bad[] = {
        {"\"x\"", "array of strings"},
        {"{\"a\":\"b\"}", "array of strings"},
        {"5", "array of strings"},
        {"[\"ok\",1]", "args[1]"},
        {"[null]", "args[0]"},
        {"[[\"x\"]]", "args[0]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *msg = check_error(start_idle(c, bad[i].args), "EINVAL");
        if (!strstr(msg, bad[i].part))
            fail_msg("args %s: the message should name %s: %s", bad[i].args, bad[i].part, msg);
    }
    /* 64 arguments of 4096 bytes are fine; 65, or 4097 bytes, are not. */
    static char arg[4098];
    memset(arg, 'a', 4097);
    const char *many = "[";
    for (int i = 0; i < 64; i++)
        many = kept_printf("%s%s\"%.4096s\"", many, i ? "," : "", arg);
    json_t *r = expect_ok(start_idle(c, kept_printf("%s]", many)));
    json_t *args = get_array(r, "args");
    assert_int_equal(json_array_size(args), 64);
    assert_int_equal(strlen(json_string_value(json_array_get(args, 63))), 4096);
    stop_task(c, get_int(r, "task_id"));
    expect_contains(check_error(start_idle(c, kept_printf("%s,\"x\"]", many)), "EINVAL"), "65");
    expect_contains(check_error(start_idle(c, kept_printf("[\"%s\"]", arg)), "EINVAL"), "4096");
    /* plugin and task must be strings. */
    expect_contains(call_err(c, "task.start", "{\"plugin\":1,\"task\":\"idle\"}", "EINVAL"), "\"plugin\"");
    expect_contains(call_err(c, "task.start", "{\"plugin\":\"finimark\"}", "EINVAL"), "\"task\"");
    /* Only the autostart instance runs. */
    assert_int_equal(get_int(plugin_entry(c, "finimark"), "tasks_running"), 1);
}

TEST(test_task_stop_of_an_unknown_or_finished_task_is_enoent)
{
    install("leaky.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl, *e = subscribe_events(d);
    expect_contains(call_err(c, "task.stop", "{\"id\":424242}", "ENOENT"), "424242");
    /* reset returns at once. */
    json_int_t id = start_task(c, "leaky", "reset", NULL);
    json_t *x = wait_event(e, "task.exited", scaled(WAIT_MS));
    assert_int_equal(get_int(x, "task_id"), id);
    expect_contains(call_err(c, "task.stop", kept_printf("{\"id\":%lld}", (long long)id), "ENOENT"),
                    kept_printf("%lld", (long long)id));
    expect_contains(call_err(c, "task.stop", "{\"id\":0}", "EINVAL"), "\"id\"");
    expect_contains(call_err(c, "task.stop", "{\"id\":\"1\"}", "EINVAL"), "\"id\"");
}

/* ---------------------------------------------------------------------
 * Accounting
 * ------------------------------------------------------------------- */

TEST(test_a_plugins_cpu_time_counts_what_its_spinning_goroutines_ran)
{
    install("spinner.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl;
    int64_t t0 = now_ms();
    json_int_t a = start_task(c, "spinner", "spin", NULL), b = start_task(c, "spinner", "spin", NULL);
    json_t *s = stats_entry(c, "spinner");
    assert_int_equal(get_int(s, "goroutines"), 2);
    assert_int_equal(get_int(s, "tasks_running"), 2);
    /* The measurement: let them spin for a second. */
    sleep_ms(1000);
    stop_task(c, a);
    stop_task(c, b);
    int64_t ran_ms = now_ms() - t0;
    wait_plugin_goroutines(c, "spinner", 0);
    s = stats_entry(c, "spinner");
    json_int_t cpu = get_int(s, "cpu_ns");
    print_message("    2 spinners for %lld ms: cpu_ns %lld (%.3f s), %lld goroutines started, assist_ns %lld\n",
                  (long long)ran_ms, (long long)cpu, (double)cpu / 1e9, (long long)get_int(s, "goroutines_started"),
                  (long long)get_int(s, "assist_ns"));
    assert_int_equal(get_int(s, "tasks_running"), 0);
    if (cpu < 500000000)
        fail_msg("two goroutines spun for %lld ms and the plugin's cpu_ns is %lld", (long long)ran_ms, (long long)cpu);
    /* Two goroutines cannot run longer than twice the time they existed. */
    if (cpu > (json_int_t)ran_ms * 2 * 1000000 + 100000000)
        fail_msg("two goroutines spun for %lld ms and the plugin's cpu_ns is %lld", (long long)ran_ms, (long long)cpu);
}

TEST(test_spinning_tasks_on_every_p_neither_starve_other_plugins_nor_resist_task_stop)
{
    /* Two Ps, two spinners: they reach a safe point every 100 us, where
     * a goroutine whose time slice (10 ms) is over yields, so hello's
     * ticks and the goroutine that closes a done channel still get a P. */
    install("hello.so");
    install("spinner.so");
    struct daemon *d = start_with_plugins("--gomaxprocs", "2", NULL);
    struct conn *c = d->ctl;
    start_task(c, "hello", "tick", "[\"10\"]");
    json_int_t a = start_task(c, "spinner", "spin", NULL), b = start_task(c, "spinner", "spin", NULL);
    wait_plugin_goroutines(c, "spinner", 2);
    expect_hello_keeps_running(c);
    stop_task(c, a);
    stop_task(c, b);
    wait_plugin_goroutines(c, "spinner", 0);
    expect_hello_keeps_running(c);
}

TEST(test_a_plugins_allocation_counters_grow_with_what_its_tasks_allocate)
{
    install("leaky.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl;
    json_t *s0 = stats_entry(c, "leaky");
    json_int_t bytes0 = get_int(s0, "alloc_bytes"), objects0 = get_int(s0, "alloc_objects");
    /* 4 MiB a second, up to 16 MiB. */
    json_int_t id = start_task(c, "leaky", "grow", "[\"4194304\",\"16\"]");
    int64_t t0 = now_ms(), end = t0 + scaled(WAIT_MS);
    json_t *s;
    while (s = stats_entry(c, "leaky"), get_int(s, "alloc_bytes") < bytes0 + (2 << 20)) {
        if (now_ms() > end)
            fail_msg("leaky grew 4 MiB/s for %d ms and its alloc_bytes went from %lld to %s", scaled(WAIT_MS),
                     (long long)bytes0, show(s));
        sleep_ms(10);
    }
    json_int_t bytes1 = get_int(s, "alloc_bytes"), objects1 = get_int(s, "alloc_objects");
    int64_t t1 = now_ms();
    assert_true(objects1 > objects0);
    assert_int_equal(get_int(s, "goroutines"), 1);
    /* And it keeps growing while the task runs. */
    while (s = stats_entry(c, "leaky"), get_int(s, "alloc_bytes") <= bytes1) {
        if (now_ms() > end)
            fail_msg("leaky's alloc_bytes stopped at %lld: %s", (long long)bytes1, show(s));
        sleep_ms(10);
    }
    print_message("    leaky grow: alloc_bytes %lld -> %lld after %lld ms -> %lld; alloc_objects %lld -> %lld\n",
                  (long long)bytes0, (long long)bytes1, (long long)(t1 - t0), (long long)get_int(s, "alloc_bytes"),
                  (long long)objects0, (long long)objects1);
    stop_task(c, id);
    wait_plugin_goroutines(c, "leaky", 0);
    assert_int_equal(get_int(stats_entry(c, "leaky"), "tasks_running"), 0);
}

/* ---------------------------------------------------------------------
 * Signals
 * ------------------------------------------------------------------- */

TEST(test_sigterm_during_a_plugin_load_exits_0_after_running_the_plugins_fini)
{
    const char *mark = dir_path("fini-ran");
    install("libgortd_finimark.so");
    struct daemon *d = start_with_plugins_env(kept_printf("GORTD_TEST_FINI_FILE=%s", mark), NULL);
    assert_string_equal(plugin_states(d->ctl), "finimark:loaded");
    const char *path = install("hello.so");
    struct conn *c = conn_open(d);
    send_line(c, "{\"id\":1,\"cmd\":\"plugin.load\",\"args\":%s}", path_arg(path));
    kill(d->pid, SIGTERM);

    assert_int_equal(exit_status(d), 0);
    assert_false(exists(d->sock));
    assert_string_equal(read_text(mark), "fini\n");
    const char *log = read_text(d->log);
    expect_contains(log, "finimark: fini");
    /* The load either finished (and the plugin was unloaded again, fini
     * and all) or was refused because the daemon was stopping, or the
     * daemon stopped before reading it. */
    bool closed;
    json_t *m = next_line(c, scaled(WAIT_MS), &closed);
    const char *outcome = "no answer";
    if (m) {
        assert_int_equal(get_int(m, "id"), 1);
        json_t *ok = json_object_get(m, "ok");
        outcome = json_is_true(ok) ? "loaded" : kept_printf("ESHUTDOWN: %s", check_error(m, "ESHUTDOWN"));
    }
    const char *stop = strstr(log, "stopping: SIGTERM"), *loaded = strstr(log, "plugin.loaded {\"plugin\":\"hello\"");
    const char *when = !loaded || !stop  ? ""
                       : stop < loaded ? " (it finished after SIGTERM)"
                                       : " (it finished before SIGTERM)";
    print_message("    the load: %s%s\n", outcome, when);
    if (strcmp(outcome, "loaded") == 0 || strstr(log, "hello: init"))
        expect_contains(log, "hello: fini");
}

TEST(test_sighup_loads_a_plugin_copied_into_the_plugin_directory_and_leaves_loaded_ones_alone)
{
    install("hello.so");
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl, *e = subscribe_events(d);
    json_int_t loaded_ns = get_int(plugin_entry(c, "hello"), "loaded_ns");
    install("spinner.so");
    kill(d->pid, SIGHUP);
    int64_t end = now_ms() + scaled(WAIT_MS);
    while (!find_entry(get_array(call(c, "plugins", NULL), "plugins"), "spinner")) {
        if (now_ms() > end)
            fail_msg("spinner.so was not loaded %d ms after SIGHUP", scaled(WAIT_MS));
        sleep_ms(10);
    }
    wait_event(e, "reload", scaled(WAIT_MS));
    json_t *ev = wait_event(e, "plugin.loaded", scaled(WAIT_MS));
    assert_string_equal(get_str(ev, "plugin"), "spinner");
    assert_string_equal(plugin_states(c), "hello:loaded spinner:loaded");
    assert_int_equal(get_int(plugin_entry(c, "hello"), "loaded_ns"), loaded_ns);
    expect_no_event(e, "plugin.loaded", "hello");
    /* It works like any other. */
    stop_task(c, start_task(c, "spinner", "spin", NULL));
}

TEST(test_an_empty_plugin_directory_loads_nothing_at_start_or_on_sighup)
{
    struct daemon *d = start_with_plugins(NULL);
    struct conn *c = d->ctl, *e = subscribe_events(d);
    assert_string_equal(plugin_states(c), "");
    kill(d->pid, SIGHUP);
    wait_event(e, "reload", scaled(WAIT_MS));
    /* The rescan runs after the reload event: it has certainly run once
     * a file put there afterwards has been loaded by another SIGHUP. */
    install("spinner.so");
    kill(d->pid, SIGHUP);
    assert_string_equal(get_str(wait_event(e, "plugin.loaded", scaled(WAIT_MS)), "plugin"), "spinner");
    assert_string_equal(plugin_states(c), "spinner:loaded");
    assert_true(get_bool(call(c, "ping", NULL), "pong"));
}

/* ------------------------------------------------------------------- */

#define T(name) cmocka_unit_test_setup_teardown(name, plugin_setup, teardown)

int main(void)
{
    if (gortd_suite_init("test_gortd_plugins") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        T(test_plugins_lists_the_loaded_plugins_in_load_order_with_the_documented_fields),
        T(test_plugin_load_answers_the_plugins_entry_and_starts_its_autostart_tasks),
        T(test_task_start_answers_the_task_id_and_label_and_the_task_runs_with_its_args),
        T(test_task_stop_closes_the_done_channel_and_answers_once_the_task_returned),
        T(test_plugin_unload_stops_its_tasks_runs_fini_and_unmaps_it),
        T(test_goroutines_of_a_plugin_lists_only_the_goroutines_labelled_with_its_name),
        T(test_stats_lists_each_plugins_counters_without_paths_or_tasks),
        T(test_the_events_stream_reports_each_step_of_a_plugins_life),
        T(test_200_load_run_unload_cycles_leave_no_goroutines_fds_threads_or_memory_behind),
        T(test_collections_while_a_plugin_hammers_a_channel_lose_and_duplicate_no_value),
        T(test_a_panicking_task_fails_its_plugin_while_the_daemon_and_other_plugins_carry_on),
        T(test_a_nil_dereference_in_plugin_code_is_a_panic_that_fails_only_that_plugin),
        T(test_an_integer_division_by_zero_in_plugin_code_is_a_panic_with_gos_message),
        T(test_a_panic_in_a_goroutine_a_task_started_fails_the_plugin_and_stops_the_task),
        T(test_a_fault_the_plugin_recovers_leaves_it_loaded_and_healthy),
        T(test_a_plugin_that_ignores_done_is_left_stuck_after_the_unload_deadline_and_the_daemon_carries_on),
        T(test_task_stop_of_a_task_that_ignores_done_is_etimedout_and_leaves_it_marked_stopping),
        T(test_a_plugin_outside_the_plugin_directories_is_refused_with_eperm),
        T(test_a_group_or_world_writable_plugin_file_is_refused_with_eperm),
        T(test_a_group_writable_plugin_directory_is_refused_with_eperm),
        T(test_a_plugin_built_for_another_abi_is_refused_with_einval_naming_both_abis),
        T(test_a_shared_object_without_gort_plugin_v1_is_refused_with_einval),
        T(test_a_file_that_is_not_an_elf_object_is_refused_with_einval),
        T(test_a_second_plugin_of_a_loaded_name_is_refused_with_eexist),
        T(test_a_missing_file_is_enoent_and_a_relative_path_einval),
        T(test_a_plugin_whose_init_fails_is_refused_with_eio_and_starts_nothing),
        T(test_plugin_load_arguments_of_the_wrong_type_are_einval_naming_them),
        T(test_task_start_on_a_plugin_that_is_not_loaded_is_enoent_naming_it),
        T(test_task_start_of_an_unknown_task_is_enoent_listing_the_plugins_tasks),
        T(test_task_start_takes_at_most_64_string_args_of_at_most_4096_bytes),
        T(test_task_stop_of_an_unknown_or_finished_task_is_enoent),
        T(test_a_plugins_cpu_time_counts_what_its_spinning_goroutines_ran),
        T(test_spinning_tasks_on_every_p_neither_starve_other_plugins_nor_resist_task_stop),
        T(test_a_plugins_allocation_counters_grow_with_what_its_tasks_allocate),
        T(test_sigterm_during_a_plugin_load_exits_0_after_running_the_plugins_fini),
        T(test_sighup_loads_a_plugin_copied_into_the_plugin_directory_and_leaves_loaded_ones_alone),
        T(test_an_empty_plugin_directory_loads_nothing_at_start_or_on_sighup),
    };
    return cmocka_run_group_tests_name("gortd plugins", tests, NULL, NULL);
}
