/*
 * plugin.c - task plugins: loading, tasks, unloading and isolation
 * (SPEC §3; the ABI is include/gort/plugin.h).
 *
 * A plugin is a shared object that passed the load checks, plus a
 * goroutine group (gort_group) that every goroutine of the plugin belongs
 * to.  The group does two jobs: it counts (goroutines, allocation, CPU and
 * assist time, shown in "stats"), and it contains panics: a panic that no
 * deferred call recovers calls plugin_panic on the panicking goroutine,
 * which marks the plugin failed, asks its tasks to stop and lets the
 * goroutine end instead of the daemon.  The plugin's executable segments
 * are registered with gort_fault_range_add, so a fault in its code is such
 * a panic too.
 *
 * Life of a plugin:
 *
 *   loading   the file passed its checks and is open; init runs on a
 *             goroutine of the plugin.  The name is taken.
 *   loaded    tasks may start.
 *   failed    a goroutine of it panicked; its tasks were asked to stop and
 *             no task starts.  It can still be unloaded.
 *   unloading every done channel is closed; waiting for its goroutines.
 *   stuck     they outlived the deadline (or init or fini never returned):
 *             the code stays mapped, and a later unload tries again.
 *
 * Unloading ends with fini (on a goroutine of the plugin), the removal of
 * its fault ranges and dlclose, which also takes its data and bss out of
 * the collector's roots (the collector walks the loaded objects each
 * cycle with dl_iterate_phdr, under the loader's lock).
 *
 * Threads.  Loads and unloads run on job threads (control.c), serialized
 * by reg.op_mu.  Task starts and the listings run on the event loop.  The
 * plugins' goroutines report task exits and panics.  reg.mu protects the
 * registry and every plugin's and task's mutable fields; it is held only
 * for bookkeeping, never across a call that can park a goroutine (an
 * allocation, a channel operation, gort_go), so a goroutine never waits on
 * it for long.  reg.cv announces every change a waiter may be after: a task
 * ended, init or fini returned.
 *
 * Done channels are made by the task's own goroutine: a channel made on a
 * thread that is not a goroutine would be invisible to the collector until
 * stored.  The field that keeps it (task.t.done) is a registered root.
 * Stopping a task marks it (under reg.mu) and starts a "stopper"
 * goroutine in the plugin's group, which closes the marked tasks' done
 * channels outside the lock; being in the group, it keeps the plugin from
 * being freed under it.  From a goroutine (the panic handler) the stopper
 * starts after reg.mu is released, as gort_go may park its caller.
 */
#include "gortd.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gort/gort.h"
#include "gort/plugin.h"
#include "proto.h"

#define NAME_MAX_LEN 32
#define TEXT_MAX_LEN 256
#define TASKS_MAX 64
#define ARGS_MAX 64
#define ARG_MAX_LEN 4096
#define CODE_RANGES_MAX 8
#define POLL_NS (2 * 1000 * 1000)     /* unload checks the goroutine count this often */

enum pstate { PS_LOADING, PS_LOADED, PS_FAILED, PS_UNLOADING, PS_STUCK };
static const char *const pstate_names[] = {"loading", "loaded", "failed", "unloading", "stuck"};

struct plugin;

/* A running task instance. */
struct task {
    struct task *next;
    struct plugin *pl;
    const gort_task_def *def;
    gort_task t;                  /* what the plugin sees; t.done is a root */
    uint64_t goid;                /* its main goroutine, once running */
    int64_t started_ns;           /* wall clock */
    bool stop_requested;          /* under reg.mu */
    bool done_closed;             /* under reg.mu */
};

struct plugin {
    struct plugin *next;
    char *name, *path, *version, *summary;
    void *handle;
    const gort_plugin *desc;
    int ntasks;                   /* entries in desc->tasks */
    char **labels;                /* "<name>/<task>" per entry, then init, fini, stop */
    char *label_prefix;           /* "<name>/" */
    gort_group *group;
    const void *code[CODE_RANGES_MAX];
    int ncode;
    /* Under reg.mu. */
    enum pstate state;
    char *failure;                /* the first panic's message */
    struct task *tasks;
    int64_t loaded_ns;            /* wall clock */
    uint64_t hook_goid;           /* goroutine running init or fini */
    bool hook_done;               /* it returned, or panicked */
    int hook_rc;
};

static struct {
    pthread_mutex_t op_mu;        /* serializes loads and unloads */
    pthread_mutex_t mu;           /* the registry: see the top of the file */
    pthread_cond_t cv;            /* a task ended, a hook returned */
    struct plugin *list;
    uint64_t next_task_id;
    const struct config *cfg;
} reg = {
    .op_mu = PTHREAD_MUTEX_INITIALIZER,
    .mu = PTHREAD_MUTEX_INITIALIZER,
};

/* Wait on reg.cv (reg.mu held) until the CLOCK_MONOTONIC deadline or at
 * most POLL_NS. */
static void cv_wait_until(int64_t deadline)
{
    int64_t t = mono_ns() + POLL_NS;
    if (t > deadline)
        t = deadline;
    struct timespec ts = {t / 1000000000, t % 1000000000};
    pthread_cond_timedwait(&reg.cv, &reg.mu, &ts);
}

static bool valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > NAME_MAX_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
            return false;
    return true;
}

static struct plugin *find_plugin(const char *name)
{
    for (struct plugin *pl = reg.list; pl; pl = pl->next)
        if (strcmp(pl->name, name) == 0)
            return pl;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Stopping tasks                                                       */

/* Close the done channel of every task of pl asked to stop (see the top
 * of the file).  ch lives in this goroutine's frame, which the collector
 * scans, between the unlock and the close. */
static void stopper_main(void *arg)
{
    struct plugin *pl = arg;
    for (;;) {
        gort_chan *ch = NULL;
        pthread_mutex_lock(&reg.mu);
        for (struct task *ti = pl->tasks; ti && !ch; ti = ti->next) {
            if (ti->stop_requested && !ti->done_closed && ti->t.done) {
                ti->done_closed = true;
                ch = ti->t.done;
            }
        }
        pthread_mutex_unlock(&reg.mu);
        if (!ch)
            return;
        gort_chan_close(ch);
    }
}

static void start_stopper(struct plugin *pl)
{
    gort_go_opts o = {.label = pl->labels[pl->ntasks + 2], .group = pl->group};
    int err = gort_go_with(stopper_main, pl, &o);
    if (err)
        logmsg(LOG_P_ERR, "plugin %s: cannot start a goroutine to stop its tasks: %s", pl->name,
               gort_strerror(err));
}

/* Mark pl's tasks (or the one, ti) to stop; reg.mu held.  Returns whether
 * a stopper is needed: a task whose channel is not made yet closes it
 * itself. */
static bool mark_stop(struct plugin *pl, struct task *ti)
{
    bool need = false;
    for (struct task *t = ti ? ti : pl->tasks; t; t = ti ? NULL : t->next) {
        t->stop_requested = true;
        need |= t->t.done && !t->done_closed;
    }
    return need;
}

/* ------------------------------------------------------------------ */
/* Tasks                                                                */

static void task_free(struct task *ti)
{
    gort_root_remove(&ti->t.done);
    if (ti->t.argv)
        for (int i = 0; i < ti->t.argc; i++)
            free(ti->t.argv[i]);
    free((void *)ti->t.argv);
    free(ti);
}

/* ti's main goroutine is ending ("returned" or "panicked"): unlink it. */
static void task_finished(struct task *ti, const char *outcome)
{
    struct plugin *pl = ti->pl;
    pthread_mutex_lock(&reg.mu);
    for (struct task **pp = &pl->tasks; *pp; pp = &(*pp)->next) {
        if (*pp == ti) {
            *pp = ti->next;
            break;
        }
    }
    pthread_cond_broadcast(&reg.cv);
    pthread_mutex_unlock(&reg.mu);
    control_post_event("task.exited", json_pack("{s:I, s:s, s:s, s:s}", "task_id", (json_int_t)ti->t.id,
                                              "plugin", pl->name, "task", ti->def->name, "outcome", outcome));
    task_free(ti);
}

static void task_main(void *arg)
{
    struct task *ti = arg;
    gort_chan *done = gort_chan_make(0, 0);
    if (!done)
        gort_panicf("gortd: no memory for task %llu's done channel", (unsigned long long)ti->t.id);
    pthread_mutex_lock(&reg.mu);
    GORT_STORE(ti->t.done, done);
    ti->goid = gort_goid();
    bool stop = ti->stop_requested;
    ti->done_closed = stop;
    pthread_mutex_unlock(&reg.mu);
    if (stop)
        gort_chan_close(done);
    ti->def->run(&ti->t);
    task_finished(ti, "returned");
}

static char **copy_args(json_t *args, int *argc, char *msg, size_t msgsize)
{
    *argc = 0;
    if (args && !json_is_null(args) && !json_is_array(args)) {
        snprintf(msg, msgsize, "argument \"args\" must be an array of strings");
        return NULL;
    }
    size_t n = args && json_is_array(args) ? json_array_size(args) : 0;
    if (n > ARGS_MAX) {
        snprintf(msg, msgsize, "argument \"args\" has %zu entries; at most %d are allowed", n, ARGS_MAX);
        return NULL;
    }
    char **argv = calloc(n + 1, sizeof *argv);
    if (!argv) {
        snprintf(msg, msgsize, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(args, i);
        const char *s = json_string_value(a);
        size_t len = s ? json_string_length(a) : 0;
        if (!s || len > ARG_MAX_LEN || strlen(s) != len) {
            snprintf(msg, msgsize, "args[%zu] must be a string of at most %d bytes without NUL", i, ARG_MAX_LEN);
        } else if (!(argv[i] = strdup(s))) {
            snprintf(msg, msgsize, "out of memory");
        } else {
            continue;
        }
        for (size_t j = 0; j < i; j++)
            free(argv[j]);
        free(argv);
        return NULL;
    }
    *argc = (int)n;
    return argv;
}

/* Start a task (reg.mu held).  Returns the task or NULL with errno. */
static struct task *task_launch(struct plugin *pl, int idx, char **argv, int argc)
{
    struct task *ti = calloc(1, sizeof *ti);
    if (!ti)
        return NULL;
    ti->pl = pl;
    ti->def = &pl->desc->tasks[idx];
    ti->t.id = ++reg.next_task_id;
    ti->t.plugin = pl->name;
    ti->t.name = ti->def->name;
    ti->t.argc = argc;
    ti->t.argv = argv;
    ti->started_ns = wall_ns();
    gort_root_add(&ti->t.done, sizeof ti->t.done);
    gort_go_opts o = {.label = pl->labels[idx], .group = pl->group};
    int err = gort_go_with(task_main, ti, &o);
    if (err) {
        ti->t.argv = NULL;    /* the caller still owns them */
        task_free(ti);
        errno = -err;
        return NULL;
    }
    ti->next = pl->tasks;
    pl->tasks = ti;
    return ti;
}

static json_t *args_json(const gort_task *t)
{
    json_t *a = json_array();
    for (int i = 0; i < t->argc; i++)
        json_array_append_new(a, json_string(t->argv[i]));
    return a;
}

enum proto_err plugin_task_start(const char *plugin, const char *task, json_t *args, json_t **result, char *msg,
                                 size_t msgsize)
{
    int argc;
    char **argv = copy_args(args, &argc, msg, msgsize);
    if (!argv)
        return PROTO_EINVAL;
    enum proto_err e = PROTO_OK;
    pthread_mutex_lock(&reg.mu);
    struct plugin *pl = find_plugin(plugin);
    int idx = -1;
    for (int i = 0; pl && i < pl->ntasks; i++)
        if (strcmp(pl->desc->tasks[i].name, task) == 0)
            idx = i;
    struct task *ti = NULL;
    if (!pl) {
        e = PROTO_ENOENT;
        snprintf(msg, msgsize, "no plugin \"%s\" is loaded", plugin);
    } else if (pl->state != PS_LOADED) {
        e = PROTO_EBUSY;
        snprintf(msg, msgsize, "plugin \"%s\" is %s%s%s", plugin, pstate_names[pl->state],
                 pl->failure ? ": " : "", pl->failure ? pl->failure : "");
    } else if (idx < 0) {
        e = PROTO_ENOENT;
        int n = snprintf(msg, msgsize, "plugin \"%s\" has no task \"%s\" (tasks:", plugin, task);
        for (int i = 0; i < pl->ntasks && n > 0 && (size_t)n < msgsize; i++)
            n += snprintf(msg + n, msgsize - (size_t)n, " %s", pl->desc->tasks[i].name);
        if (n > 0 && (size_t)n < msgsize)
            snprintf(msg + n, msgsize - (size_t)n, ")");
    } else if (!(ti = task_launch(pl, idx, argv, argc))) {
        e = PROTO_EIO;
        snprintf(msg, msgsize, "cannot start task \"%s\": %s", task, strerror(errno));
    }
    if (ti) {
        *result = json_pack("{s:I, s:s, s:s, s:s, s:o}", "task_id", (json_int_t)ti->t.id, "plugin", pl->name,
                            "task", ti->def->name, "label", pl->labels[idx], "args", args_json(&ti->t));
    }
    pthread_mutex_unlock(&reg.mu);
    if (!ti) {
        for (int i = 0; i < argc; i++)
            free(argv[i]);
        free(argv);
        return e;
    }
    return PROTO_OK;
}

static struct task *find_task(uint64_t id)
{
    for (struct plugin *pl = reg.list; pl; pl = pl->next)
        for (struct task *ti = pl->tasks; ti; ti = ti->next)
            if (ti->t.id == id)
                return ti;
    return NULL;
}

enum proto_err plugin_task_stop(uint64_t id, int timeout_ms, json_t **result, char *msg, size_t msgsize)
{
    int64_t t0 = mono_ns();
    int64_t deadline = t0 + (int64_t)timeout_ms * 1000000;
    pthread_mutex_lock(&reg.mu);
    struct task *ti = find_task(id);
    if (!ti) {
        pthread_mutex_unlock(&reg.mu);
        snprintf(msg, msgsize, "no task %llu is running", (unsigned long long)id);
        return PROTO_ENOENT;
    }
    if (mark_stop(ti->pl, ti))
        start_stopper(ti->pl);   /* not a goroutine: may start it under the lock */
    while (find_task(id) && mono_ns() < deadline)
        cv_wait_until(deadline);
    bool running = find_task(id) != NULL;
    pthread_mutex_unlock(&reg.mu);
    if (running) {
        snprintf(msg, msgsize, "task %llu did not return within %d ms of its done channel closing",
                 (unsigned long long)id, timeout_ms);
        return PROTO_ETIMEDOUT;
    }
    *result = json_pack("{s:I, s:I}", "task_id", (json_int_t)id, "duration_ns",
                        (json_int_t)(mono_ns() - t0));
    return PROTO_OK;
}

/* ------------------------------------------------------------------ */
/* Panics                                                               */

/* The group's panic handler: runs on the panicking goroutine, after its
 * deferred calls, before it ends (see gort_group_new). */
static void plugin_panic(void *ctx, gort_group *grp, const gort_panic_info *p)
{
    (void)grp;
    struct plugin *pl = ctx;
    const char *msg = gort_panic_message(p);
    uint64_t goid = gort_goid();
    const char *label = gort_label();
    int sig = 0;
    uintptr_t addr = 0, pc = 0;
    bool fault = gort_panic_fault(p, &sig, &addr, &pc);
    logmsg(LOG_P_ERR, "plugin %s: panic in goroutine %llu (%s): %s", pl->name, (unsigned long long)goid,
           label ? label : "no label", msg);
    if (fault)
        logmsg(LOG_P_ERR, "plugin %s: [signal %d addr=%#lx pc=%#lx (%s+%#lx)]", pl->name, sig, (unsigned long)addr,
               (unsigned long)pc, pl->path, (unsigned long)(pc - (uintptr_t)pl->code[0]));
    size_t dlen = 0;
    char *dump = goroutine_dump(pl->label_prefix, &dlen, NULL);
    if (dump)
        log_lines(LOG_P_ERR, dump, dlen);

    struct task *mine = NULL;
    pthread_mutex_lock(&reg.mu);
    bool first = !pl->failure;
    if (first)
        pl->failure = strdup(msg);
    if (pl->hook_goid == goid && !pl->hook_done) {
        pl->hook_done = true;    /* init or fini panicked */
        pl->hook_rc = -ECANCELED;
    }
    if (pl->state == PS_LOADED)
        pl->state = PS_FAILED;
    for (struct task *ti = pl->tasks; ti; ti = ti->next)
        if (ti->goid == goid)
            mine = ti;
    bool stopper = mark_stop(pl, NULL);
    pthread_cond_broadcast(&reg.cv);
    pthread_mutex_unlock(&reg.mu);

    /* The failure is told before what follows from it (the stopper ends
     * the tasks, whose task.exited events come after). */
    json_t *d = json_pack("{s:s, s:I, s:s, s:s, s:s%}", "plugin", pl->name, "goroutine", (json_int_t)goid, "label",
                          label ? label : "", "message", msg, "dump", dump ? dump : "", dump ? dlen : 0);
    free(dump);
    if (fault)
        json_object_set_new(d, "fault", json_pack("{s:i, s:I, s:I}", "signal", sig, "addr", (json_int_t)addr,
                                                  "pc_offset", (json_int_t)(pc - (uintptr_t)pl->code[0])));
    control_post_event("plugin.failed", d);
    if (stopper)
        start_stopper(pl);   /* we are in pl's group: pl outlives this */

    if (mine)
        task_finished(mine, "panicked");
}

/* ------------------------------------------------------------------ */
/* init and fini                                                        */

static void hook_main(void *arg)
{
    struct plugin *pl = arg;
    pthread_mutex_lock(&reg.mu);
    pl->hook_goid = gort_goid();
    bool fini = pl->state != PS_LOADING;
    pthread_mutex_unlock(&reg.mu);
    int rc = 0;
    if (fini)
        pl->desc->fini();
    else
        rc = pl->desc->init();
    pthread_mutex_lock(&reg.mu);
    pl->hook_done = true;
    pl->hook_rc = rc;
    pthread_cond_broadcast(&reg.cv);
    pthread_mutex_unlock(&reg.mu);
}

/* Run init or fini (whichever pl's state calls for) on a goroutine of the
 * plugin and wait for it until deadline.  Returns its result, -ECANCELED
 * if it panicked, -ETIMEDOUT if it is still running. */
static int run_hook(struct plugin *pl, int64_t deadline)
{
    pthread_mutex_lock(&reg.mu);
    pl->hook_done = false;
    pl->hook_goid = 0;
    pl->hook_rc = 0;
    bool fini = pl->state != PS_LOADING;
    pthread_mutex_unlock(&reg.mu);
    gort_go_opts o = {.label = pl->labels[pl->ntasks + fini], .group = pl->group};
    int err = gort_go_with(hook_main, pl, &o);
    if (err)
        return err;
    pthread_mutex_lock(&reg.mu);
    while (!pl->hook_done && mono_ns() < deadline)
        cv_wait_until(deadline);
    int rc = pl->hook_done ? pl->hook_rc : -ETIMEDOUT;
    pthread_mutex_unlock(&reg.mu);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Loading                                                              */

/* Each executable segment of the object at handle: gort_fault_range_add. */
struct seg_find {
    struct link_map *lm;
    struct plugin *pl;
};

static int add_code_ranges(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct seg_find *f = arg;
    if (info->dlpi_addr != f->lm->l_addr || !info->dlpi_name || strcmp(info->dlpi_name, f->lm->l_name) != 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum && f->pl->ncode < CODE_RANGES_MAX; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        const char *lo = (const char *)(info->dlpi_addr + ph->p_vaddr);
        if (gort_fault_range_add(lo, lo + ph->p_memsz) == 0)
            f->pl->code[f->pl->ncode++] = lo;
    }
    return 1;
}

static void plugin_free(struct plugin *pl)
{
    for (int i = 0; i < pl->ncode; i++)
        gort_fault_range_remove(pl->code[i]);
    if (pl->group && gort_group_free(pl->group) != 0)
        logmsg(LOG_P_ERR, "plugin %s: its goroutine group still has goroutines", pl->name);
    if (pl->handle && dlclose(pl->handle) != 0)
        logmsg(LOG_P_WARNING, "plugin %s: dlclose: %s", pl->name, dlerror());
    if (pl->labels)
        for (int i = 0; i < pl->ntasks + 3; i++)
            free(pl->labels[i]);
    free(pl->labels);
    free(pl->label_prefix);
    free(pl->name);
    free(pl->path);
    free(pl->version);
    free(pl->summary);
    free(pl->failure);
    free(pl);
}

static void unlink_plugin(struct plugin *pl)
{
    pthread_mutex_lock(&reg.mu);
    for (struct plugin **pp = &reg.list; *pp; pp = &(*pp)->next) {
        if (*pp == pl) {
            *pp = pl->next;
            break;
        }
    }
    pthread_mutex_unlock(&reg.mu);
}

/* Is dir (resolved) owned by root or us and not writable by others? */
static enum proto_err check_owner_mode(const char *what, const char *path, const struct stat *st, char *msg,
                                       size_t msgsize)
{
    if (st->st_uid != 0 && st->st_uid != geteuid()) {
        snprintf(msg, msgsize, "refusing %s %s: owned by uid %u, not by root or the daemon's uid %u", what, path,
                 (unsigned)st->st_uid, (unsigned)geteuid());
        return PROTO_EPERM;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(msg, msgsize, "refusing %s %s: it is %s-writable (mode %04o)", what, path,
                 (st->st_mode & S_IWOTH) ? "world" : "group", (unsigned)(st->st_mode & 07777));
        return PROTO_EPERM;
    }
    return PROTO_OK;
}

/* The file checks of SPEC §3, on the resolved path; fd is left open on
 * the checked file.  *dirp gets the plugin directory it is in. */
static enum proto_err check_file(const char *path, char *real, int *fd, char *msg, size_t msgsize)
{
    if (path[0] != '/') {
        snprintf(msg, msgsize, "plugin path \"%s\" must be absolute", path);
        return PROTO_EINVAL;
    }
    if (!realpath(path, real)) {
        snprintf(msg, msgsize, "cannot load %s: %s", path, strerror(errno));
        return errno == ENOENT || errno == ENOTDIR ? PROTO_ENOENT : PROTO_EPERM;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", real);
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    if (slash == dir)
        strcpy(dir, "/");
    bool inside = false;
    for (int i = 0; i < reg.cfg->nplugin_dirs && !inside; i++) {
        char d[PATH_MAX];
        inside = realpath(reg.cfg->plugin_dirs[i], d) && strcmp(d, dir) == 0;
    }
    if (!inside) {
        int n = snprintf(msg, msgsize, "refusing %s: it is not in a plugin directory (", real);
        for (int i = 0; i < reg.cfg->nplugin_dirs && n > 0 && (size_t)n < msgsize; i++)
            n += snprintf(msg + n, msgsize - (size_t)n, "%s%s", i ? ", " : "", reg.cfg->plugin_dirs[i]);
        if (n > 0 && (size_t)n < msgsize)
            snprintf(msg + n, msgsize - (size_t)n, "%s)", reg.cfg->nplugin_dirs ? "" : "none configured");
        return PROTO_EPERM;
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(msg, msgsize, "cannot load %s: %s: %s", real, dir, strerror(errno));
        return PROTO_EPERM;
    }
    enum proto_err e = check_owner_mode("the plugin directory", dir, &st, msg, msgsize);
    if (e)
        return e;
    *fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (*fd < 0) {
        snprintf(msg, msgsize, "cannot load %s: %s", real, strerror(errno));
        return PROTO_EPERM;
    }
    unsigned char hdr[SELFMAG];
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, msgsize, "refusing %s: not a regular file", real);
        return PROTO_EINVAL;
    }
    if ((e = check_owner_mode("the plugin", real, &st, msg, msgsize)))
        return e;
    if (pread(*fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr || memcmp(hdr, ELFMAG, SELFMAG) != 0) {
        snprintf(msg, msgsize, "%s is not a plugin: not an ELF shared object", real);
        return PROTO_EINVAL;
    }
    return PROTO_OK;
}

/* The descriptor's checks: ABI, name, texts, task table. */
static enum proto_err check_desc(const char *real, const gort_plugin *d, int *ntasks, char *msg, size_t msgsize)
{
    if (d->abi != GORT_PLUGIN_ABI) {
        snprintf(msg, msgsize, "%s was built for plugin ABI %u; this gortd loads ABI %d", real, (unsigned)d->abi,
                 GORT_PLUGIN_ABI);
        return PROTO_EINVAL;
    }
    if (!valid_name(d->name)) {
        snprintf(msg, msgsize, "%s: plugin name must be 1-%d characters of a-z 0-9 _ . -", real, NAME_MAX_LEN);
        return PROTO_EINVAL;
    }
    if ((d->version && strlen(d->version) > TEXT_MAX_LEN) || (d->summary && strlen(d->summary) > TEXT_MAX_LEN)) {
        snprintf(msg, msgsize, "%s: version and summary must be at most %d bytes", real, TEXT_MAX_LEN);
        return PROTO_EINVAL;
    }
    int n = 0;
    for (; d->tasks && d->tasks[n].name; n++) {
        const gort_task_def *t = &d->tasks[n];
        if (n == TASKS_MAX) {
            snprintf(msg, msgsize, "%s: more than %d tasks", real, TASKS_MAX);
            return PROTO_EINVAL;
        }
        if (!valid_name(t->name) || strcmp(t->name, "init") == 0 || strcmp(t->name, "fini") == 0 ||
            strcmp(t->name, "stop") == 0 || !t->run ||
            (t->summary && strlen(t->summary) > TEXT_MAX_LEN)) {
            snprintf(msg, msgsize,
                     "%s: task %d (\"%.40s\") needs a name of 1-%d characters of a-z 0-9 _ . - other than "
                     "init, fini and stop, a run function and a summary of at most %d bytes",
                     real, n, t->name, NAME_MAX_LEN, TEXT_MAX_LEN);
            return PROTO_EINVAL;
        }
        for (int j = 0; j < n; j++) {
            if (strcmp(d->tasks[j].name, t->name) == 0) {
                snprintf(msg, msgsize, "%s: task \"%s\" is defined twice", real, t->name);
                return PROTO_EINVAL;
            }
        }
    }
    *ntasks = n;
    return PROTO_OK;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Names and labels, all strings the plugin struct owns. */
static bool plugin_fill(struct plugin *pl, const char *real)
{
    const gort_plugin *d = pl->desc;
    pl->name = strdup(d->name);
    pl->path = strdup(real);
    pl->version = dup_or_null(d->version);
    pl->summary = dup_or_null(d->summary);
    pl->labels = calloc((size_t)pl->ntasks + 3, sizeof *pl->labels);
    if (!pl->name || !pl->path || (d->version && !pl->version) || (d->summary && !pl->summary) || !pl->labels ||
        asprintf(&pl->label_prefix, "%s/", d->name) < 0) {
        pl->label_prefix = NULL;
        return false;
    }
    static const char *const extra[] = {"init", "fini", "stop"};
    for (int i = 0; i < pl->ntasks + 3; i++) {
        const char *t = i < pl->ntasks ? d->tasks[i].name : extra[i - pl->ntasks];
        if (asprintf(&pl->labels[i], "%s/%s", d->name, t) < 0) {
            pl->labels[i] = NULL;
            return false;
        }
    }
    return true;
}

static json_t *plugin_json(const struct plugin *pl, bool detail)
{
    gort_group_stats gs = {0};
    if (pl->group)
        gort_group_read(pl->group, &gs);
    int ntasks = 0;
    for (struct task *ti = pl->tasks; ti; ti = ti->next)
        ntasks++;
    json_t *o = json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "name", pl->name, "state",
                          pstate_names[pl->state], "tasks_running", ntasks, "goroutines", (json_int_t)gs.goroutines,
                          "goroutines_started", (json_int_t)gs.started, "alloc_bytes", (json_int_t)gs.alloc_bytes,
                          "alloc_objects", (json_int_t)gs.alloc_objects, "cpu_ns", (json_int_t)gs.cpu_ns,
                          "assist_ns", (json_int_t)gs.assist_ns, "panics", (json_int_t)gs.panics);
    json_object_set_new(o, "failure", pl->failure ? json_string(pl->failure) : json_null());
    if (!detail)
        return o;
    json_object_set_new(o, "path", json_string(pl->path));
    json_object_set_new(o, "version", pl->version ? json_string(pl->version) : json_null());
    json_object_set_new(o, "summary", pl->summary ? json_string(pl->summary) : json_null());
    json_object_set_new(o, "loaded_ns", json_integer(pl->loaded_ns));
    json_t *defs = json_array();
    for (int i = 0; i < pl->ntasks; i++) {
        const gort_task_def *t = &pl->desc->tasks[i];
        json_array_append_new(defs, json_pack("{s:s, s:s?, s:b}", "name", t->name, "summary", t->summary,
                                              "autostart", t->autostart));
    }
    json_object_set_new(o, "task_defs", defs);
    json_t *inst = json_array();
    for (struct task *ti = pl->tasks; ti; ti = ti->next)
        json_array_append_new(inst, json_pack("{s:I, s:s, s:o, s:I, s:b}", "task_id", (json_int_t)ti->t.id, "task",
                                              ti->def->name, "args", args_json(&ti->t), "started_ns",
                                              (json_int_t)ti->started_ns, "stopping", ti->stop_requested));
    json_object_set_new(o, "tasks", inst);
    return o;
}

/* Wait until pl has no goroutine and no task left, or until deadline;
 * then, with some left, mark it stuck.  Returns how many goroutines are
 * left (a task not unlinked yet counts for one). */
static int64_t drain(struct plugin *pl, int64_t deadline)
{
    gort_group_stats gs;
    int64_t left;
    pthread_mutex_lock(&reg.mu);
    for (;;) {
        gort_group_read(pl->group, &gs);
        left = gs.goroutines ? gs.goroutines : pl->tasks != NULL;
        if (left == 0 || mono_ns() >= deadline)
            break;
        cv_wait_until(deadline);
    }
    if (left)
        pl->state = PS_STUCK;
    pthread_mutex_unlock(&reg.mu);
    return left;
}

/* Take pl back out after a failed init: wait for the goroutines init
 * started, then free it; or leave it stuck.  reg.op_mu held. */
static void abandon(struct plugin *pl, int64_t deadline)
{
    pthread_mutex_lock(&reg.mu);
    pl->state = PS_UNLOADING;
    pthread_mutex_unlock(&reg.mu);
    int64_t left = drain(pl, deadline);
    if (left) {
        logmsg(LOG_P_ERR, "plugin %s: %lld goroutines started by its init are still running; it stays loaded as stuck",
               pl->name, (long long)left);
        return;
    }
    unlink_plugin(pl);
    plugin_free(pl);
}

static enum proto_err load_locked(const char *path, json_t **result, char *msg, size_t msgsize)
{
    char real[PATH_MAX];
    int fd = -1;
    enum proto_err e = check_file(path, real, &fd, msg, msgsize);
    if (e) {
        if (fd >= 0)
            close(fd);
        return e;
    }
    struct stat checked;
    fstat(fd, &checked);
    close(fd);

    struct plugin *pl = calloc(1, sizeof *pl);
    if (!pl) {
        snprintf(msg, msgsize, "out of memory");
        return PROTO_EIO;
    }
    dlerror();
    pl->handle = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    struct link_map *lm = NULL;
    struct stat opened;
    if (!pl->handle) {
        snprintf(msg, msgsize, "%s is not a plugin: %s", real, dlerror());
        e = PROTO_EINVAL;
    } else if (dlinfo(pl->handle, RTLD_DI_LINKMAP, &lm) != 0 || stat(lm->l_name, &opened) != 0 ||
               opened.st_dev != checked.st_dev || opened.st_ino != checked.st_ino) {
        snprintf(msg, msgsize, "refusing %s: the file changed while it was being loaded", real);
        e = PROTO_EPERM;
    } else if (!(pl->desc = dlsym(pl->handle, "gort_plugin_v1"))) {
        snprintf(msg, msgsize, "%s is not a plugin: it has no gort_plugin_v1 symbol", real);
        e = PROTO_EINVAL;
    } else {
        e = check_desc(real, pl->desc, &pl->ntasks, msg, msgsize);
    }
    if (!e && !plugin_fill(pl, real)) {
        snprintf(msg, msgsize, "out of memory");
        e = PROTO_EIO;
    }
    if (!e && !(pl->group = gort_group_new(pl->name, plugin_panic, pl))) {
        snprintf(msg, msgsize, "out of memory");
        e = PROTO_EIO;
    }
    if (!e) {
        pthread_mutex_lock(&reg.mu);
        struct plugin *other = find_plugin(pl->name);
        if (other) {
            snprintf(msg, msgsize, "a plugin named \"%s\" is already loaded (from %s)", pl->name, other->path);
            e = PROTO_EEXIST;
        } else {
            pl->state = PS_LOADING;
            struct plugin **tail = &reg.list;
            while (*tail)
                tail = &(*tail)->next;
            *tail = pl;
        }
        pthread_mutex_unlock(&reg.mu);
    }
    if (e) {
        plugin_free(pl);
        return e;
    }
    struct seg_find f = {lm, pl};
    dl_iterate_phdr(add_code_ranges, &f);

    int64_t deadline = mono_ns() + (int64_t)reg.cfg->unload_timeout_ms * 1000000;
    int rc = pl->desc->init ? run_hook(pl, deadline) : 0;
    if (rc != 0) {
        pthread_mutex_lock(&reg.mu);
        if (rc == -ECANCELED)
            snprintf(msg, msgsize, "init of plugin \"%s\" panicked: %s", pl->name, pl->failure ? pl->failure : "");
        else if (rc == -ETIMEDOUT)
            snprintf(msg, msgsize, "init of plugin \"%s\" did not return within %d ms; it stays loaded as stuck",
                     pl->name, reg.cfg->unload_timeout_ms);
        else
            snprintf(msg, msgsize, "init of plugin \"%s\" refused the load: %s", pl->name, strerror(-rc));
        if (rc == -ETIMEDOUT)
            pl->state = PS_STUCK;
        pthread_mutex_unlock(&reg.mu);
        if (rc != -ETIMEDOUT)
            abandon(pl, deadline);
        return rc == -ETIMEDOUT ? PROTO_ETIMEDOUT : PROTO_EIO;
    }

    pthread_mutex_lock(&reg.mu);
    pl->loaded_ns = wall_ns();
    if (pl->state == PS_LOADING)
        pl->state = PS_LOADED;
    for (int i = 0; i < pl->ntasks && pl->state == PS_LOADED; i++) {
        if (!pl->desc->tasks[i].autostart)
            continue;
        char **argv = calloc(1, sizeof *argv);
        if (!argv || !task_launch(pl, i, argv, 0)) {
            free(argv);
            logmsg(LOG_P_ERR, "plugin %s: cannot start task %s", pl->name, pl->desc->tasks[i].name);
        }
    }
    *result = plugin_json(pl, true);
    pthread_mutex_unlock(&reg.mu);
    return PROTO_OK;
}

enum proto_err plugin_load(const char *path, json_t **result, char *msg, size_t msgsize)
{
    pthread_mutex_lock(&reg.op_mu);
    enum proto_err e = load_locked(path, result, msg, msgsize);
    pthread_mutex_unlock(&reg.op_mu);
    if (e == PROTO_OK)
        control_post_event("plugin.loaded",
                           json_pack("{s:s, s:s}", "plugin", json_string_value(json_object_get(*result, "name")),
                                     "path", json_string_value(json_object_get(*result, "path"))));
    return e;
}

/* ------------------------------------------------------------------ */
/* Unloading                                                            */

/* Move pl to unloading and ask its tasks to stop (reg.mu held; not on a
 * goroutine).  False if it is in no state to unload. */
static bool begin_unload(struct plugin *pl)
{
    if (pl->state == PS_LOADING || pl->state == PS_UNLOADING)
        return false;
    pl->state = PS_UNLOADING;
    if (mark_stop(pl, NULL))
        start_stopper(pl);
    return true;
}

/* Wait for pl's goroutines until deadline, run fini and close it; or mark
 * it stuck.  reg.op_mu held; pl is unloading. */
static enum proto_err finish_unload(struct plugin *pl, int64_t deadline, int timeout_ms, char *msg, size_t msgsize)
{
    int64_t left = drain(pl, deadline);
    if (left) {
        snprintf(msg, msgsize, "plugin \"%s\" did not stop within %d ms: %lld goroutines left; it stays loaded as stuck",
                 pl->name, timeout_ms, (long long)left);
        logmsg(LOG_P_ERR, "%s", msg);
        size_t len = 0;
        char *dump = goroutine_dump(pl->label_prefix, &len, NULL);
        if (dump)
            log_lines(LOG_P_ERR, dump, len);
        control_post_event("plugin.stuck", json_pack("{s:s, s:I, s:s%}", "plugin", pl->name, "goroutines",
                                                     (json_int_t)left, "dump", dump ? dump : "",
                                                     dump ? len : 0));
        free(dump);
        return PROTO_ETIMEDOUT;
    }
    if (pl->desc->fini) {
        int rc = run_hook(pl, deadline);
        if (rc == -ETIMEDOUT) {
            pthread_mutex_lock(&reg.mu);
            pl->state = PS_STUCK;
            pthread_mutex_unlock(&reg.mu);
            snprintf(msg, msgsize, "fini of plugin \"%s\" did not return within %d ms; it stays loaded as stuck",
                     pl->name, timeout_ms);
            logmsg(LOG_P_ERR, "%s", msg);
            return PROTO_ETIMEDOUT;
        }
        /* A fini that panicked was logged by plugin_panic; the plugin
         * goes all the same, once what fini started has ended: its code
         * is about to be unmapped. */
        if ((left = drain(pl, deadline))) {
            snprintf(msg, msgsize, "goroutines started by fini of plugin \"%s\" still run; it stays loaded as stuck",
                     pl->name);
            logmsg(LOG_P_ERR, "%s", msg);
            return PROTO_ETIMEDOUT;
        }
    }
    char *name = strdup(pl->name);
    unlink_plugin(pl);
    plugin_free(pl);
    control_post_event("plugin.unloaded", json_pack("{s:s}", "plugin", name ? name : "?"));
    free(name);
    return PROTO_OK;
}

enum proto_err plugin_unload(const char *name, int timeout_ms, json_t **result, char *msg, size_t msgsize)
{
    int64_t t0 = mono_ns();
    pthread_mutex_lock(&reg.op_mu);
    pthread_mutex_lock(&reg.mu);
    struct plugin *pl = find_plugin(name);
    enum proto_err e = PROTO_OK;
    if (!pl) {
        snprintf(msg, msgsize, "no plugin \"%s\" is loaded", name);
        e = PROTO_ENOENT;
    } else if (!begin_unload(pl)) {
        snprintf(msg, msgsize, "plugin \"%s\" is %s", name, pstate_names[pl->state]);
        e = PROTO_EBUSY;
    }
    pthread_mutex_unlock(&reg.mu);
    if (!e)
        e = finish_unload(pl, t0 + (int64_t)timeout_ms * 1000000, timeout_ms, msg, msgsize);
    pthread_mutex_unlock(&reg.op_mu);
    if (!e)
        *result = json_pack("{s:s, s:I}", "plugin", name, "duration_ns", (json_int_t)(mono_ns() - t0));
    return e;
}

void plugins_stop_all(int timeout_ms)
{
    int64_t deadline = mono_ns() + (int64_t)timeout_ms * 1000000;
    pthread_mutex_lock(&reg.op_mu);
    pthread_mutex_lock(&reg.mu);
    for (struct plugin *pl = reg.list; pl; pl = pl->next)
        begin_unload(pl);
    pthread_mutex_unlock(&reg.mu);
    for (;;) {
        pthread_mutex_lock(&reg.mu);
        struct plugin *pl = reg.list;
        while (pl && pl->state != PS_UNLOADING)
            pl = pl->next;
        pthread_mutex_unlock(&reg.mu);
        if (!pl)
            break;
        char msg[512];
        finish_unload(pl, deadline, timeout_ms, msg, sizeof msg);
    }
    pthread_mutex_unlock(&reg.op_mu);
}

/* ------------------------------------------------------------------ */
/* Directories, listings                                                */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool path_loaded(const char *real)
{
    pthread_mutex_lock(&reg.mu);
    bool found = false;
    for (struct plugin *pl = reg.list; pl && !found; pl = pl->next)
        found = strcmp(pl->path, real) == 0;
    pthread_mutex_unlock(&reg.mu);
    return found;
}

/* Load every *.so of one directory not loaded yet, in name order. */
static void load_dir(const char *dirpath)
{
    DIR *d = opendir(dirpath);
    if (!d) {
        if (errno != ENOENT)
            logmsg(LOG_P_WARNING, "plugin directory %s: %s", dirpath, strerror(errno));
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0 || e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn)
                break;
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX], real[PATH_MAX], msg[1024];
        snprintf(path, sizeof path, "%s/%s", dirpath, names[i]);
        free(names[i]);
        if (realpath(path, real) && path_loaded(real))
            continue;
        json_t *res = NULL;
        if (path[0] != '/' && realpath(path, real))
            snprintf(path, sizeof path, "%s", real);
        if (plugin_load(path, &res, msg, sizeof msg) != PROTO_OK)
            logmsg(LOG_P_WARNING, "%s", msg);
        json_decref(res);
    }
    free(names);
}

void plugins_init(const struct config *cfg)
{
    reg.cfg = cfg;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&reg.cv, &a);
    pthread_condattr_destroy(&a);
}

void plugins_load_dirs(void)
{
    for (int i = 0; i < reg.cfg->nplugin_dirs; i++)
        load_dir(reg.cfg->plugin_dirs[i]);
}

json_t *plugins_json(bool detail)
{
    json_t *a = json_array();
    pthread_mutex_lock(&reg.mu);
    for (struct plugin *pl = reg.list; pl; pl = pl->next)
        json_array_append_new(a, plugin_json(pl, detail));
    pthread_mutex_unlock(&reg.mu);
    return a;
}

char *plugin_label_prefix(const char *name)
{
    pthread_mutex_lock(&reg.mu);
    struct plugin *pl = find_plugin(name);
    char *s = pl ? strdup(pl->label_prefix) : NULL;
    pthread_mutex_unlock(&reg.mu);
    return s;
}
