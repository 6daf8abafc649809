/*
 * test_gortd_systemd.c - gortd under a service manager, with the test in
 * systemd's place.
 *
 * The suite binds the datagram socket systemd would (NOTIFY_SOCKET), starts
 * a real gortd with the variables systemd sets (WATCHDOG_USEC,
 * WATCHDOG_PID, JOURNAL_STREAM) and reads what the daemon says:
 *
 *   - READY=1 with a STATUS= line, only once the control socket accepts
 *     connections; RELOADING=1 (with MONOTONIC_USEC=) then READY=1 again
 *     on SIGHUP; STOPPING=1 on SIGTERM; the abstract namespace ("@name");
 *   - WATCHDOG=1 every half of WATCHDOG_USEC, never a gap systemd would
 *     punish, and none when WATCHDOG_PID names another process;
 *   - a wedged scheduler (a plugin task that keeps the only P without a
 *     safe point) stops the pings while the control socket still answers,
 *     and the pings resume once it lets go;
 *   - the journal's "<N>" priority prefixes when JOURNAL_STREAM names
 *     stderr, plain "gortd: " lines when it names something else;
 *   - the signals systemd sends (TERM, HUP; INT and QUIT by hand) blocked
 *     in every thread and caught by none, so none lands on a runtime
 *     thread: the loop reads them from a signalfd; during a stop a
 *     repeated TERM or a HUP is ignored and a second INT ends it.
 *
 * Timing bounds are the protocol's (a gap under WATCHDOG_USEC), tripled
 * under the sanitizers.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gortdutil.h"

#include <dirent.h>

#define WATCHDOG_US 300000            /* WATCHDOG_USEC: pings every 150 ms */

static int notify_fd = -1;
static char notify_path[128];

/* Bind the notify socket in the fixture's directory (or, abstract, a
 * name derived from it); the NOTIFY_SOCKET value gortd gets. */
static const char *bind_notify(bool abstract)
{
    notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(notify_fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socklen_t len;
    if (abstract) {
        snprintf(notify_path, sizeof notify_path, "@gortd-test-notify-%d-%s", (int)getpid(),
                 strrchr(fx.dir, '.') + 1);
        size_t n = strlen(notify_path);
        memcpy(sa.sun_path, notify_path, n);
        sa.sun_path[0] = '\0';
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        snprintf(notify_path, sizeof notify_path, "%s/notify.sock", fx.dir);
        assert_true(strlen(notify_path) < sizeof sa.sun_path);
        memcpy(sa.sun_path, notify_path, strlen(notify_path) + 1);
        len = (socklen_t)sizeof sa;
    }
    if (bind(notify_fd, (struct sockaddr *)&sa, len) != 0)
        fail_msg("bind %s: %s", notify_path, strerror(errno));
    return notify_path;
}

/* The next datagram within ms, or NULL; *at (if not NULL) its arrival. */
static const char *next_notify(int ms, int64_t *at)
{
    struct pollfd p = {.fd = notify_fd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR) {
    }
    if (r <= 0)
        return NULL;
    char buf[4096];
    ssize_t n = recv(notify_fd, buf, sizeof buf - 1, 0);
    assert_true(n >= 0);
    if (at)
        *at = now_ms();
    return kept_string(buf, (size_t)n);
}

/* Wait for a datagram containing part, skipping WATCHDOG=1 pings. */
static const char *expect_notify(const char *part)
{
    int64_t end = now_ms() + scaled(WAIT_MS);
    for (;;) {
        int64_t left = end - now_ms();
        const char *m = next_notify(left > 0 ? (int)left : 0, NULL);
        if (!m)
            fail_msg("no notification with \"%s\" within %d ms", part, scaled(WAIT_MS));
        if (strstr(m, part))
            return m;
        if (strcmp(m, "WATCHDOG=1") != 0)
            print_message("(notification: %s)\n", m);
    }
}

static int notify_teardown(void **state)
{
    if (notify_fd >= 0)
        close(notify_fd);
    notify_fd = -1;
    return teardown(state);
}

/* A plugin directory holding only the test plugin libgortd_<name>.so. */
static const char *test_plugin_dir(const char *name)
{
    const char *dir = dir_path("plugins");
    assert_int_equal(mkdir(dir, 0755), 0);
    const char *src = kept_printf("%s/tests/plugins/libgortd_%s.so", g_build, name);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        fail_msg("open %s: %s", src, strerror(errno));
    int out = open(kept_printf("%s/%s.so", dir, name), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(out >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    assert_int_equal(close(out), 0);
    return dir;
}

TEST(test_ready_comes_once_the_socket_listens_then_reloading_ready_and_stopping)
{
    const char *path = bind_notify(false);
    const char *args[] = {"--socket", fx.sock, "--state-dir", fx.state, "--config", "/dev/null", NULL};
    struct daemon *d = spawn(args, kept_printf("NOTIFY_SOCKET=%s", path));
    snprintf(d->sock, sizeof d->sock, "%s", fx.sock);

    const char *m = expect_notify("READY=1");
    /* Ready means ready: a client connects at once. */
    int fd = connect_to(fx.sock, 0);
    if (fd < 0)
        fail_msg("READY=1 came before %s accepted connections", fx.sock);
    close(fd);
    expect_contains(m, kept_printf("STATUS=Serving on %s: 0 plugins loaded, GOMAXPROCS ", fx.sock));

    assert_int_equal(kill(d->pid, SIGHUP), 0);
    m = expect_notify("RELOADING=1");
    expect_contains(m, "MONOTONIC_USEC=");
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long sent = atoll(strstr(m, "MONOTONIC_USEC=") + strlen("MONOTONIC_USEC="));
    long long now_us = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    assert_true(sent > 0 && sent <= now_us && now_us - sent < scaled(WAIT_MS) * 1000LL);
    m = expect_notify("READY=1");
    expect_contains(m, "STATUS=Reloaded; serving on ");

    assert_int_equal(kill(d->pid, SIGTERM), 0);
    m = expect_notify("STOPPING=1");
    expect_contains(m, "STATUS=Stopping (SIGTERM)");
    assert_int_equal(exit_status(d), 0);
}

TEST(test_an_abstract_notify_socket_is_used_too)
{
    const char *path = bind_notify(true);
    const char *env = kept_printf("NOTIFY_SOCKET=%s", path);
    start_gortd_env(env, (const char *[]){NULL});
    expect_notify("READY=1");
}

TEST(test_the_watchdog_is_fed_every_half_period_without_a_gap)
{
    const char *path = bind_notify(false);
    start_gortd_env(kept_printf("NOTIFY_SOCKET=%s\nWATCHDOG_USEC=%d", path, WATCHDOG_US), (const char *[]){NULL});
    expect_notify("READY=1");
    expect_notify("WATCHDOG=1");
    /* Two seconds of pings on an idle daemon (every P idle: sysmon sleeps
     * deeply, but not through a ping). */
    int64_t last = now_ms(), start = last, worst = 0;
    int pings = 0;
    while (now_ms() - start < 2000) {
        int64_t at;
        const char *m = next_notify(scaled(WATCHDOG_US / 1000), &at);
        if (!m)
            fail_msg("no WATCHDOG=1 for %d ms after %d pings", scaled(WATCHDOG_US / 1000), pings);
        if (strcmp(m, "WATCHDOG=1") != 0)
            continue;
        worst = at - last > worst ? at - last : worst;
        last = at;
        pings++;
    }
    print_message("%d pings in 2 s, longest gap %lld ms (WATCHDOG_USEC %d ms)\n", pings, (long long)worst,
                  WATCHDOG_US / 1000);
    /* Every 150 ms: 13 in 2 s.  Not flooding, and none missed for long. */
    assert_true(pings <= 2000 / (WATCHDOG_US / 2000) + 2);
    if (!g_sanitizer)
        assert_true(pings >= 2000 / (WATCHDOG_US / 2000) / 2);
    assert_true(worst < scaled(WATCHDOG_US / 1000));
}

TEST(test_no_pings_when_watchdog_pid_is_another_process)
{
    const char *path = bind_notify(false);
    start_gortd_env(kept_printf("NOTIFY_SOCKET=%s\nWATCHDOG_USEC=%d\nWATCHDOG_PID=1", path, WATCHDOG_US),
                    (const char *[]){NULL});
    expect_notify("READY=1");
    const char *m;
    while ((m = next_notify(4 * WATCHDOG_US / 1000, NULL)))
        if (strstr(m, "WATCHDOG=1"))
            fail_msg("a WATCHDOG=1 although WATCHDOG_PID=1 is not gortd");
}

TEST(test_a_wedged_scheduler_stops_the_pings_until_it_moves_again)
{
    const char *path = bind_notify(false);
    struct daemon *d = start_gortd_env(kept_printf("NOTIFY_SOCKET=%s\nWATCHDOG_USEC=%d", path, WATCHDOG_US),
                                       (const char *[]){"--gomaxprocs", "1", "--plugin-dir", test_plugin_dir("hog"), NULL});
    expect_notify("READY=1");
    expect_notify("WATCHDOG=1");
    expect_notify("WATCHDOG=1");

    /* The hog keeps the only P for 2 s. */
    int wedge_ms = 2000;
    json_t *r = call(d->ctl, "task.start",
                     kept_printf("{\"plugin\":\"hog\",\"task\":\"spin\",\"args\":[\"%d\"]}", wedge_ms));
    int64_t started = now_ms();
    get_int(r, "task_id");

    /* At most a ping or two before the hog gets the P; then silence for
     * well over WATCHDOG_USEC, during which the control socket (a thread
     * without a P) still answers; then pings again once the hog is done. */
    int64_t last = started, gap = 0;
    bool answered = false;
    for (;;) {
        int64_t at;
        const char *m = next_notify(50, &at);
        if (!m) {
            if (now_ms() - last > scaled(WAIT_MS) + wedge_ms)
                fail_msg("the pings did not resume after the hog's %d ms", wedge_ms);
            if (!answered && now_ms() - last > WATCHDOG_US / 1000) {
                get_int(call(d->ctl, "stats", NULL), "goroutines");
                answered = true;
            }
            continue;
        }
        if (strcmp(m, "WATCHDOG=1") != 0)
            continue;
        if (at - last > gap)
            gap = at - last;
        last = at;
        if (at - started >= wedge_ms)
            break;   /* a ping after the hog let go */
    }
    assert_true(answered);
    print_message("longest silence %lld ms while the P was held %d ms (WATCHDOG_USEC %d ms)\n",
                  (long long)gap, wedge_ms, WATCHDOG_US / 1000);
    /* systemd would have restarted it: no ping for longer than WATCHDOG_USEC. */
    assert_true(gap > 3 * WATCHDOG_US / 1000);
    assert_true(gap > wedge_ms / 2);
    /* And it did not die: pings again, and it answers. */
    expect_notify("WATCHDOG=1");
    get_int(call(d->ctl, "stats", NULL), "goroutines");
}

/* A field of /proc/<pid>/task/<tid>/status as a signal mask. */
static unsigned long long task_sigmask(pid_t pid, const char *tid, const char *field)
{
    FILE *f = fopen(kept_printf("/proc/%d/task/%s/status", (int)pid, tid), "r");
    if (!f)
        return ~0ULL;   /* the thread ended meanwhile: nothing to check */
    char line[256];
    unsigned long long mask = ~0ULL;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            mask = strtoull(line + n + 1, NULL, 16);
    fclose(f);
    return mask;
}

TEST(test_every_thread_blocks_the_signals_and_the_loop_reads_them)
{
    const char *path = bind_notify(false);
    struct daemon *d = start_gortd_env(kept_printf("NOTIFY_SOCKET=%s", path),
                                       (const char *[]){"--gomaxprocs", "2", "--plugin-dir",
                                                        kept_printf("%s/plugins", g_build), NULL});
    expect_notify("READY=1");
    /* Threads of every kind: Ms running goroutines (two spinners keep
     * both Ps busy), sysmon, the history writer, a job thread (a forced
     * collection). */
    for (int i = 0; i < 2; i++)
        get_int(call(d->ctl, "task.start", "{\"plugin\":\"spinner\",\"task\":\"spin\"}"), "task_id");
    get_int(call(d->ctl, "gc", NULL), "num_gc");

    const unsigned long long handled =
        1ULL << (SIGHUP - 1) | 1ULL << (SIGINT - 1) | 1ULL << (SIGQUIT - 1) | 1ULL << (SIGTERM - 1);
    DIR *dir = opendir(kept_printf("/proc/%d/task", (int)d->pid));
    assert_non_null(dir);
    int threads = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        unsigned long long blocked = task_sigmask(d->pid, e->d_name, "SigBlk");
        unsigned long long caught = task_sigmask(d->pid, e->d_name, "SigCgt");
        if ((blocked & handled) != handled)
            fail_msg("thread %s does not block every handled signal: SigBlk %016llx", e->d_name, blocked);
        if (caught != ~0ULL && (caught & handled) != 0)
            fail_msg("a handler is installed for a signal the signalfd reads: SigCgt %016llx", caught);
        threads++;
    }
    closedir(dir);
    print_message("%d threads, each blocking HUP, INT, QUIT and TERM\n", threads);
    assert_true(threads >= 4);

    /* Still delivered, many times over, while both Ps are busy. */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(kill(d->pid, SIGHUP), 0);
        expect_notify("RELOADING=1");
        expect_notify("READY=1");
    }
    assert_int_equal(kill(d->pid, SIGQUIT), 0);
    wait_log(d, "spinner/spin\n\tgoroutine running on other thread", scaled(WAIT_MS));
    assert_int_equal(kill(d->pid, SIGTERM), 0);
    expect_notify("STOPPING=1");
    assert_int_equal(exit_status(d), 0);
}

TEST(test_during_a_stop_term_and_hup_are_ignored_and_a_second_int_ends_it)
{
    const char *path = bind_notify(false);
    /* A task that ignores its done channel holds the stop in the plugin
     * unload for a minute. */
    struct daemon *d = start_gortd_env(kept_printf("NOTIFY_SOCKET=%s", path),
                                       (const char *[]){"--plugin-dir", test_plugin_dir("stubborn"),
                                                        "--unload-timeout", "60000", NULL});
    expect_notify("READY=1");
    get_int(call(d->ctl, "task.start", "{\"plugin\":\"stubborn\",\"task\":\"ignore\"}"), "task_id");

    assert_int_equal(kill(d->pid, SIGTERM), 0);
    expect_notify("STOPPING=1");
    assert_int_equal(kill(d->pid, SIGTERM), 0);
    assert_int_equal(kill(d->pid, SIGHUP), 0);
    sleep_ms(300);
    assert_false(reap(d, 0));

    /* A SIGINT that comes before the loop has handed the signals back is
     * part of the stop already asked for: send one until one counts. */
    int64_t start = now_ms(), sent = 0;
    while (!reap(d, 50)) {
        if (now_ms() - start > scaled(WAIT_MS))
            fail_msg("gortd still stopping %d ms after the first of %lld SIGINTs", scaled(WAIT_MS),
                     (long long)sent);
        assert_int_equal(kill(d->pid, SIGINT), 0);
        sent++;
    }
    if (!WIFSIGNALED(d->status) || WTERMSIG(d->status) != SIGINT)
        fail_msg("gortd ended with %s, not killed by SIGINT", status_text(d->status));
    print_message("ended by SIGINT %lld ms into a stop held by a stuck plugin (%lld sent)\n",
                  (long long)(now_ms() - start + 300), (long long)sent);
    assert_false(strstr(read_text(d->log), "stubborn: fini"));
}

/* Start gortd with stderr on a file, JOURNAL_STREAM naming that file (or
 * another), and return the log once it is ready. */
static const char *log_with_journal_stream(bool matching)
{
    const char *args[] = {"--socket", fx.sock, "--state-dir", fx.state, "--config", "/dev/null", NULL};
    /* The daemon's stderr file is created by spawn: name it in advance. */
    const char *log = kept_printf("%s/gortd%d.stderr", fx.dir, fx.nd);
    struct stat st;
    const char *other = write_file("other", "");
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(stat(matching ? log : other, &st), 0);
    const char *env = kept_printf("JOURNAL_STREAM=%llu:%llu", (unsigned long long)st.st_dev,
                                  (unsigned long long)st.st_ino);
    struct daemon *d = spawn(args, env);
    snprintf(d->sock, sizeof d->sock, "%s", fx.sock);
    wait_log(d, "listening on", scaled(WAIT_MS));
    return read_text(log);
}

TEST(test_journal_stream_gets_priority_prefixes_and_a_terminal_plain_lines)
{
    const char *text = log_with_journal_stream(true);
    expect_contains(text, "<6>gortd 0.1.0 listening on ");
    assert_null(strstr(text, "gortd: gortd"));
}

TEST(test_a_journal_stream_that_is_not_stderr_is_ignored)
{
    const char *text = log_with_journal_stream(false);
    expect_contains(text, "gortd: gortd 0.1.0 listening on ");
    assert_null(strstr(text, "<6>"));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, notify_teardown)

int main(void)
{
    if (gortd_suite_init("test_gortd_systemd") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        T(test_ready_comes_once_the_socket_listens_then_reloading_ready_and_stopping),
        T(test_an_abstract_notify_socket_is_used_too),
        T(test_the_watchdog_is_fed_every_half_period_without_a_gap),
        T(test_no_pings_when_watchdog_pid_is_another_process),
        T(test_a_wedged_scheduler_stops_the_pings_until_it_moves_again),
        T(test_every_thread_blocks_the_signals_and_the_loop_reads_them),
        T(test_during_a_stop_term_and_hup_are_ignored_and_a_second_int_ends_it),
        T(test_journal_stream_gets_priority_prefixes_and_a_terminal_plain_lines),
        T(test_a_journal_stream_that_is_not_stderr_is_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
