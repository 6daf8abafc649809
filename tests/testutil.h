/*
 * testutil.h - helpers shared by libgort's cmocka suites.  Header only: the
 * Makefile compiles tests/test_*.c files, each of which includes this.
 *
 * What lives here:
 *
 *   - gt_scale(n): shrinks a goroutine count for the sanitizer builds.  TSan
 *     tracks a few thousand live goroutines at most and ASan makes every
 *     stack and switch dearer, so counts written for the plain build are
 *     divided by 50 under GORT_TSAN and by 5 under GORT_ASAN.
 *   - gt_wait_for(cond, timeout): polls cond from a goroutine, sleeping 1 ms
 *     between tries, so that a runtime bug makes a test fail instead of hang.
 *   - gt_wg_wait_timeout(): gort_waitgroup_wait bounded by a timeout.
 *   - gt_run(): runs a helper program from tests/progs/ with a chosen
 *     environment and captures its exit status, stdout and stderr.  It never
 *     blocks its thread: it polls the pipes without waiting and sleeps with
 *     gort_sleep between polls, so other goroutines keep running.
 *   - gt_prog_path(), gt_plugin_path(): where this build put a helper
 *     program (tests/progs/) or a test plugin (tests/plugins/).
 *   - gt_dump() and gt_goroutine_waits(): a goroutine dump as a string, and
 *     whether it shows a goroutine parked for a given reason.
 *   - gt_chan_make(): gort_chan_make, keeping the channel reachable (there is
 *     no collector yet to free it) so that LeakSanitizer stays quiet.
 *   - gt_wait_parked(), gt_deadline_kept(): a goroutine parked for a reason,
 *     and a deadline honoured within the host's timer slack.
 *   - gt_save_knobs/gt_restore_knobs: cmocka setup/teardown for GOMAXPROCS.
 *   - gt_panic_message_of(): run a function under gort_pcall with a
 *     recovering deferred call and return what it panicked with.
 *   - regex helpers (POSIX ERE, REG_NEWLINE) and /proc readers.
 *
 * Nothing in here asserts: the suites assert on what these return.  The
 * only exception is GT_ASSERT_PROC, a macro that prints a subprocess's
 * output before failing so that a failure explains itself.
 *
 * Rules every suite follows, because the tests of one binary share one
 * runtime and cmocka fails a test by longjmp on the main goroutine:
 *
 *   - the main goroutine runs the cmocka group wired to its thread
 *     (gort_lock_os_thread): cmocka keeps its state in thread-local
 *     variables and exits the process if an assertion fails on a thread
 *     that did not start the test;
 *   - assert only on the main goroutine (the test body); other goroutines
 *     and threads record what they saw in atomics;
 *   - state shared with goroutines is static, so that a goroutine still
 *     running after a failed (timed-out) test never writes to a dead frame;
 *   - a test that changes GOMAXPROCS or another process-wide knob restores
 *     it in a cmocka teardown, which runs even when the test fails.
 */
#ifndef GORT_TESTS_TESTUTIL_H
#define GORT_TESTS_TESTUTIL_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before including any header"
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gort/gort.h>

extern char **environ;

/* ---------------------------------------------------------------------
 * Build variants
 * ------------------------------------------------------------------- */

#if defined(GORT_TSAN) && GORT_TSAN
#define GT_TSAN 1
#else
#define GT_TSAN 0
#endif
#if defined(GORT_ASAN) && GORT_ASAN
#define GT_ASAN 1
#else
#define GT_ASAN 0
#endif
#define GT_SANITIZED (GT_TSAN || GT_ASAN)

/* Frames whose size a test relies on (deep recursion to a known stack
 * depth) must not be moved to ASan's fake stack or padded with redzones. */
#if GT_ASAN
#define GT_NO_ASAN __attribute__((no_sanitize_address))
#else
#define GT_NO_ASAN
#endif

/* n scaled down for the sanitizer builds (never below 1). */
static inline long gt_scale(long n)
{
    long s = n;
    if (GT_TSAN)
        s = n / 50;
    else if (GT_ASAN)
        s = n / 5;
    return s < 1 ? 1 : s;
}

/* How much longer timeouts are allowed to be under a sanitizer. */
static inline int64_t gt_slow(int64_t ns)
{
    return GT_SANITIZED ? ns * 4 : ns;
}

/* GORT_TEST_ONLY=pattern runs only the tests whose name matches the
 * pattern (cmocka's glob: * and ?).  Call on the thread that runs the group,
 * before cmocka_run_group_tests.  Declared here rather than by including
 * cmocka.h, which needs its own prerequisites first. */
void cmocka_set_test_filter(const char *pattern);

static inline void gt_select_tests(void)
{
    const char *only = getenv("GORT_TEST_ONLY");
    if (only != NULL && only[0] != '\0')
        cmocka_set_test_filter(only);
}

/* ---------------------------------------------------------------------
 * Clocks and waiting
 * ------------------------------------------------------------------- */

/* CLOCK_MONOTONIC without going through the runtime: usable in loops that
 * must make no runtime call and on plain threads. */
static inline int64_t gt_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * GORT_S + ts.tv_nsec;
}

/* Sleep a plain thread (never call this on a goroutine: it blocks the
 * thread and the runtime's P with it). */
static inline void gt_thread_sleep_ns(int64_t ns)
{
    struct timespec ts = { (time_t)(ns / GORT_S), (long)(ns % GORT_S) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/*
 * Evaluate cond until it holds or timeout_ns has passed, sleeping 1 ms on
 * the runtime's timers between tries.  Yields the last value of cond.
 * Goroutine only.
 */
#define gt_wait_for(cond, timeout_ns)                                         \
    ({                                                                        \
        int64_t gt_deadline_ = gort_nanotime() + (timeout_ns);                \
        bool gt_ok_;                                                          \
        while (!(gt_ok_ = (cond)) && gort_nanotime() < gt_deadline_)          \
            gort_sleep(GORT_MS);                                              \
        gt_ok_;                                                               \
    })

/* Same, for a plain thread (nanosleep between tries). */
#define gt_thread_wait_for(cond, timeout_ns)                                  \
    ({                                                                        \
        int64_t gt_deadline_ = gt_mono_ns() + (timeout_ns);                   \
        bool gt_ok_;                                                          \
        while (!(gt_ok_ = (cond)) && gt_mono_ns() < gt_deadline_)             \
            gt_thread_sleep_ns(100 * GORT_US);                                \
        gt_ok_;                                                               \
    })

struct gt_wg_waiter {
    gort_waitgroup *wg;
    atomic_int done;
};

static inline void gt_wg_waiter_main(void *arg)
{
    struct gt_wg_waiter *w = arg;
    gort_waitgroup_wait(w->wg);
    atomic_store_explicit(&w->done, 1, memory_order_release);
}

/*
 * gort_waitgroup_wait(wg), but give up after timeout_ns.  A helper
 * goroutine does the waiting while the caller polls; on a timeout the
 * helper and its bookkeeping are left behind on purpose (wg must therefore
 * be static).  Returns true when the group reached zero in time.
 * Goroutine only.
 */
static inline bool gt_wg_wait_timeout(gort_waitgroup *wg, int64_t timeout_ns)
{
    struct gt_wg_waiter *w = calloc(1, sizeof *w);
    if (w == NULL)
        return false;
    w->wg = wg;
    if (gort_go(gt_wg_waiter_main, w) != 0) {
        free(w);
        return false;
    }
    bool ok = gt_wait_for(
        atomic_load_explicit(&w->done, memory_order_acquire) != 0, timeout_ns);
    if (ok)
        free(w);
    return ok;
}

/* ---------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------- */

/* The whole of a (small, possibly /proc) file as a NUL-terminated malloc'd
 * string, or NULL. */
static inline char *gt_read_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (cap - len < 2) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (buf != NULL)
        buf[len] = '\0';
    return buf;
}

/* Number of lines in a file (e.g. /proc/self/maps), or -1. */
static inline long gt_count_file_lines(const char *path)
{
    char *s = gt_read_file(path);
    if (s == NULL)
        return -1;
    long n = 0;
    for (const char *p = s; *p != '\0'; p++)
        n += *p == '\n';
    free(s);
    return n;
}

/* A "Name:   value kB" field of /proc/self/status in bytes, or -1. */
static inline long long gt_proc_status_bytes(const char *field)
{
    char *s = gt_read_file("/proc/self/status");
    if (s == NULL)
        return -1;
    long long v = -1;
    size_t flen = strlen(field);
    for (char *line = s; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            v = strtoll(line + flen + 1, NULL, 10) * 1024;
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(s);
    return v;
}

/* Resident set size of this process in bytes, or -1. */
static inline long long gt_rss_bytes(void)
{
    return gt_proc_status_bytes("VmRSS");
}

/* ---------------------------------------------------------------------
 * Regular expressions (POSIX extended, REG_NEWLINE: ^ and $ match at line
 * boundaries and . never matches a newline)
 * ------------------------------------------------------------------- */

/* Search text for pattern; fill up to nmatch submatches.  A pattern that
 * does not compile is reported on stderr and never matches. */
static inline bool gt_regex_search(const char *text, const char *pattern,
                                   regmatch_t *match, size_t nmatch)
{
    regex_t re;
    int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE);
    if (rc != 0) {
        char msg[256];
        regerror(rc, &re, msg, sizeof msg);
        fprintf(stderr, "testutil: bad regex \"%s\": %s\n", pattern, msg);
        return false;
    }
    rc = regexec(&re, text, nmatch, match, 0);
    regfree(&re);
    return rc == 0;
}

static inline bool gt_matches(const char *text, const char *pattern)
{
    return gt_regex_search(text, pattern, NULL, 0);
}

/* The integer value of submatch m of text, or -1 if it did not take part. */
static inline long long gt_submatch_ll(const char *text, regmatch_t m)
{
    if (m.rm_so < 0)
        return -1;
    return strtoll(text + m.rm_so, NULL, 10);
}

/*
 * Count the lines of text that match line_re, and of those how many also
 * match full_re (pass NULL to only count).  Used to check that every line of
 * one kind (e.g. starting "SCHED ") has exactly the expected format.
 */
static inline void gt_count_lines(const char *text, const char *line_re,
                                  const char *full_re, int *n_line, int *n_full)
{
    regex_t lre, fre;
    *n_line = 0;
    *n_full = 0;
    if (regcomp(&lre, line_re, REG_EXTENDED | REG_NEWLINE) != 0) {
        fprintf(stderr, "testutil: bad regex \"%s\"\n", line_re);
        return;
    }
    if (full_re != NULL &&
        regcomp(&fre, full_re, REG_EXTENDED | REG_NEWLINE) != 0) {
        fprintf(stderr, "testutil: bad regex \"%s\"\n", full_re);
        regfree(&lre);
        return;
    }
    const char *p = text;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *line = strndup(p, len);
        if (line != NULL) {
            if (regexec(&lre, line, 0, NULL, 0) == 0) {
                (*n_line)++;
                if (full_re != NULL && regexec(&fre, line, 0, NULL, 0) == 0)
                    (*n_full)++;
                else if (full_re != NULL)
                    fprintf(stderr, "testutil: line does not match \"%s\": "
                            "\"%s\"\n", full_re, line);
            }
            free(line);
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    regfree(&lre);
    if (full_re != NULL)
        regfree(&fre);
}

/* ---------------------------------------------------------------------
 * Goroutine dumps and panics
 * ------------------------------------------------------------------- */

struct gt_text {
    char *s;
    size_t len, cap;
};

static inline void gt_text_write(void *ctx, const char *s, size_t n)
{
    struct gt_text *t = ctx;
    if (t->len + n + 1 > t->cap) {
        size_t ncap = t->cap ? t->cap : 65536;
        while (t->len + n + 1 > ncap)
            ncap *= 2;
        char *ns = realloc(t->s, ncap);
        if (ns == NULL)
            return;
        t->s = ns;
        t->cap = ncap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

/* gort_dump_goroutines(label) as one malloc'd string (never NULL). */
static inline char *gt_dump(const char *label)
{
    struct gt_text t = { 0 };
    gort_dump_goroutines(gt_text_write, &t, label);
    return t.s != NULL ? t.s : strdup("");
}

/* Does the goroutine dump show goroutine goid waiting for reason (a
 * regex, e.g. "chan receive" or "chan send \\(nil chan\\)")?  A goroutine
 * that blocks on a channel joins the channel's queue before it parks, so
 * once this holds it is queued. */
static inline bool gt_goroutine_waits(uint64_t goid, const char *reason)
{
    if (goid == 0)
        return false;
    char *text = gt_dump(NULL);
    char pat[192];
    snprintf(pat, sizeof pat, "^goroutine %llu \\[%s[],]", (unsigned long long)goid, reason);
    bool waits = gt_matches(text, pat);
    free(text);
    return waits;
}

/* Wait (up to 5 s, scaled for sanitizers) until the goroutine whose id
 * lands in *goid is parked for reason. */
static inline bool gt_wait_parked(atomic_ullong *goid, const char *reason)
{
    return gt_wait_for(gt_goroutine_waits(atomic_load(goid), reason), gt_slow(5 * GORT_S));
}

/* Did a call with a deadline return no earlier than the deadline, and not
 * absurdly later?  The host's timers have overshot by hundreds of
 * milliseconds under load, so "absurd" is 2 s (scaled for sanitizers). */
static inline bool gt_deadline_kept(int64_t deadline, int64_t returned)
{
    return returned >= deadline && returned <= deadline + gt_slow(2 * GORT_S);
}

/* cmocka setup and teardown for tests that change GOMAXPROCS: the
 * teardown puts it back even when the test fails. */
static int gt_saved_gomaxprocs;

static inline int gt_save_knobs(void **state)
{
    (void)state;
    gt_saved_gomaxprocs = gort_gomaxprocs(0);
    return 0;
}

static inline int gt_restore_knobs(void **state)
{
    (void)state;
    if (gort_gomaxprocs(0) != gt_saved_gomaxprocs)
        gort_gomaxprocs(gt_saved_gomaxprocs);
    return 0;
}

/* Channels are never freed (there is no collector yet).  Suites make them
 * with gt_chan_make, which keeps each one reachable from a static table so
 * that LeakSanitizer does not report them at exit. */
#define GT_KEPT_CHANS 1024
static gort_chan *gt_kept_chans[GT_KEPT_CHANS];
static atomic_int gt_nkept_chans;

static inline gort_chan *gt_chan_make(size_t elem_size, size_t cap)
{
    gort_chan *c = gort_chan_make(elem_size, cap);
    int i = atomic_fetch_add(&gt_nkept_chans, 1);
    if (c != NULL && i < GT_KEPT_CHANS)
        gt_kept_chans[i] = c;
    return c;
}

static inline gort_chan *gt_chan_make_typed(const gort_type *t, size_t cap)
{
    gort_chan *c = gort_chan_make_typed(t, cap);
    int i = atomic_fetch_add(&gt_nkept_chans, 1);
    if (c != NULL && i < GT_KEPT_CHANS)
        gt_kept_chans[i] = c;
    return c;
}

struct gt_catch {
    gort_fn op;
    void *arg;
    gort_panic_info *recovered;
    bool op_returned;
};

static inline void gt_catch_recover(void *arg)
{
    struct gt_catch *cc = arg;
    cc->recovered = gort_recover();
}

static inline void gt_catch_body(void *arg)
{
    struct gt_catch *cc = arg;
    gort_defer(gt_catch_recover, cc);
    cc->op(cc->arg);
    cc->op_returned = true;
}

/*
 * Run op(arg) in a protected frame whose deferred call recovers, and
 * return the message of the panic op raised, or NULL if op returned.  The
 * message stays valid until the calling goroutine ends.  Goroutine only.
 */
static inline const char *gt_panic_message_of(gort_fn op, void *arg)
{
    struct gt_catch cc = { .op = op, .arg = arg };
    gort_panic_info *p = gort_pcall(gt_catch_body, &cc);
    if (p == NULL)
        return NULL;
    if (p != cc.recovered || cc.op_returned)
        return "(gort_pcall returned something other than the recovered panic)";
    const char *msg = gort_panic_message(p);
    return msg != NULL ? msg : "(NULL message)";
}

/* ---------------------------------------------------------------------
 * Helper programs
 * ------------------------------------------------------------------- */

/*
 * Path of FILE in BUILD/tests/, where BUILD is $GORT_TEST_BUILD_DIR.
 * Without GORT_TEST_BUILD_DIR (a suite started by hand), the build
 * directory is found from this binary, which lives in BUILD/tests/.
 * Returns false if the path does not fit.
 */
static inline bool gt_tests_path(char *buf, size_t size, const char *file)
{
    int n;
    const char *dir = getenv("GORT_TEST_BUILD_DIR");
    if (dir != NULL && dir[0] != '\0') {
        n = snprintf(buf, size, "%s/tests/%s", dir, file);
        return n > 0 && (size_t)n < size;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = NULL;
    if (len > 0) {
        exe[len] = '\0';
        slash = strrchr(exe, '/');            /* BUILD/tests/<suite> */
    }
    if (slash != NULL) {
        *slash = '\0';                        /* BUILD/tests */
        n = snprintf(buf, size, "%s/%s", exe, file);
    } else {
        n = snprintf(buf, size, "build/tests/%s", file);
    }
    return n > 0 && (size_t)n < size;
}

/* Path of helper program NAME, built from tests/progs/NAME.c into
 * BUILD/tests/progs/NAME. */
static inline bool gt_prog_path(char *buf, size_t size, const char *name)
{
    char file[NAME_MAX + 8];
    int n = snprintf(file, sizeof file, "progs/%s", name);
    return n > 0 && (size_t)n < sizeof file && gt_tests_path(buf, size, file);
}

/* Path of test plugin NAME, built from tests/plugins/NAME.c into
 * BUILD/tests/plugins/libNAME.so. */
static inline bool gt_plugin_path(char *buf, size_t size, const char *name)
{
    char file[NAME_MAX + 16];
    int n = snprintf(file, sizeof file, "plugins/lib%s.so", name);
    return n > 0 && (size_t)n < sizeof file && gt_tests_path(buf, size, file);
}

/* What a helper program did. */
typedef struct gt_proc {
    int spawn_error;   /* errno from posix_spawn, 0 if it started */
    bool timed_out;    /* killed with SIGKILL after the timeout */
    bool exited;       /* ended by exit(); status is valid */
    int status;        /* exit status */
    int signo;         /* terminating signal when !exited */
    char *out;         /* everything written to stdout, NUL-terminated */
    size_t out_len;
    char *err;         /* everything written to stderr, NUL-terminated */
    size_t err_len;
} gt_proc;

static inline bool gt_env_name_eq(const char *entry, const char *name)
{
    size_t n = strcspn(name, "=");
    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

/* environ minus the runtime's knobs and the names in set, plus set's
 * entries.  set holds "NAME=VALUE" strings, NULL-terminated (or is NULL).
 * The knobs are never inherited from the suite, so that a developer's shell
 * settings cannot change a test's outcome. */
static inline char **gt_build_env(const char *const *set)
{
    static const char *const scrubbed[] = {
        "GODEBUG", "GOMAXPROCS", "GORT_STACK_SIZE", "GORT_GUARDED_STACKS", NULL,
    };
    size_t n = 0, nset = 0;
    while (environ[n] != NULL)
        n++;
    while (set != NULL && set[nset] != NULL)
        nset++;
    char **envp = calloc(n + nset + 1, sizeof *envp);
    if (envp == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool drop = false;
        for (size_t j = 0; scrubbed[j] != NULL && !drop; j++)
            drop = gt_env_name_eq(environ[i], scrubbed[j]);
        for (size_t j = 0; j < nset && !drop; j++)
            drop = gt_env_name_eq(environ[i], set[j]);
        if (!drop)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < nset; j++)
        envp[k++] = (char *)set[j];
    envp[k] = NULL;
    return envp;
}

/* Append whatever fd has to *buf; returns false at end of file. */
static inline bool gt_drain(int fd, char **buf, size_t *len, size_t *cap)
{
    for (;;) {
        if (*cap - *len < 4096) {
            size_t ncap = *cap ? *cap * 2 : 16384;
            char *nb = realloc(*buf, ncap);
            if (nb == NULL)
                return false;
            *buf = nb;
            *cap = ncap;
            (*buf)[*len] = '\0';
        }
        ssize_t n = read(fd, *buf + *len, *cap - *len - 1);
        if (n > 0) {
            *len += (size_t)n;
            (*buf)[*len] = '\0';
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        return false;                   /* EOF or a real error */
    }
}

/*
 * Run helper program NAME (see gt_prog_path) with arguments args (a
 * NULL-terminated list, may be NULL) and environment changes env (see
 * gt_build_env, may be NULL).  stdin is /dev/null.  The child starts with
 * every signal at its default disposition and none blocked, whatever the
 * calling thread's mask.  Gives it timeout_ns to finish, then kills it.
 * Goroutine only (it sleeps on the runtime's timers between polls).
 * Free the result with gt_proc_free.
 */
static inline void gt_run(const char *name, const char *const *args,
                          const char *const *env, int64_t timeout_ns,
                          gt_proc *r)
{
    memset(r, 0, sizeof *r);
    r->status = -1;
    char path[PATH_MAX];
    if (!gt_prog_path(path, sizeof path, name)) {
        r->spawn_error = ENAMETOOLONG;
        r->out = strdup("");
        r->err = strdup("");
        return;
    }

    const char *argv[32];
    size_t argc = 0;
    argv[argc++] = path;
    for (size_t i = 0; args != NULL && args[i] != NULL && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;

    char **envp = gt_build_env(env);
    int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
    if (envp == NULL || pipe2(outp, O_CLOEXEC) != 0 ||
        pipe2(errp, O_CLOEXEC) != 0) {
        r->spawn_error = errno ? errno : ENOMEM;
        goto out;
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);

    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, &at, (char *const *)argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(outp[1]);
    close(errp[1]);
    outp[1] = errp[1] = -1;
    if (rc != 0) {
        r->spawn_error = rc;
        goto out;
    }

    fcntl(outp[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    size_t out_cap = 0, err_cap = 0;
    bool out_open = true, err_open = true;
    int64_t deadline = gort_nanotime() + timeout_ns;
    while (out_open || err_open) {
        struct pollfd pfd[2] = {
            { .fd = out_open ? outp[0] : -1, .events = POLLIN },
            { .fd = err_open ? errp[0] : -1, .events = POLLIN },
        };
        int n = poll(pfd, 2, 0);         /* never blocks the thread */
        if (n > 0) {
            if (pfd[0].revents != 0)
                out_open = gt_drain(outp[0], &r->out, &r->out_len, &out_cap);
            if (pfd[1].revents != 0)
                err_open = gt_drain(errp[0], &r->err, &r->err_len, &err_cap);
            continue;
        }
        if (gort_nanotime() >= deadline) {
            r->timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        gort_sleep(GORT_MS);
    }

    int wstatus = 0;
    for (;;) {
        pid_t w = waitpid(pid, &wstatus, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            wstatus = 0;
            break;
        }
        if (w == 0 && gort_nanotime() >= deadline && !r->timed_out) {
            r->timed_out = true;
            kill(pid, SIGKILL);
        }
        if (w == 0)
            gort_sleep(GORT_MS);
    }
    if (WIFEXITED(wstatus)) {
        r->exited = true;
        r->status = WEXITSTATUS(wstatus);
    } else if (WIFSIGNALED(wstatus)) {
        r->signo = WTERMSIG(wstatus);
    }

out:
    if (r->out == NULL)
        r->out = strdup("");
    if (r->err == NULL)
        r->err = strdup("");
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    free(envp);
}

static inline void gt_proc_free(gt_proc *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Describe a helper's run on stderr (for a failing assertion). */
static inline void gt_proc_print(const char *what, const gt_proc *r)
{
    fprintf(stderr, "---- %s: spawn_error=%d timed_out=%d exited=%d status=%d "
            "signal=%d\n", what, r->spawn_error, r->timed_out, r->exited,
            r->status, r->signo);
    fprintf(stderr, "---- stdout (%zu bytes):\n%.4000s\n", r->out_len,
            r->out ? r->out : "");
    fprintf(stderr, "---- stderr (%zu bytes):\n%.8000s\n---- end\n",
            r->err_len, r->err ? r->err : "");
}

/* assert_true(cond), printing the helper's output first when it fails.
 * Use only in cmocka test bodies. */
#define GT_ASSERT_PROC(cond, r)                                               \
    do {                                                                      \
        if (!(cond))                                                          \
            gt_proc_print(#cond, (r));                                        \
        assert_true(cond);                                                    \
    } while (0)

/* Did the helper exit by itself with this status? */
static inline bool gt_exited_with(const gt_proc *r, int status)
{
    return r->spawn_error == 0 && !r->timed_out && r->exited &&
           r->status == status;
}

/* main() of every suite: run the cmocka group (run_all stores its result
 * in *arg) as the main goroutine and return that result. */
static inline int gt_main(const char *suite, gort_fn run_all)
{
    int result = 1;
    int rc = gort_main(run_all, &result);
    if (rc != 0) {
        fprintf(stderr, "%s: gort_main: %s\n", suite, gort_strerror(rc));
        return 1;
    }
    return result;
}

#endif /* GORT_TESTS_TESTUTIL_H */
