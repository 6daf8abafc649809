/*
 * test_gortctl_top.c - `gortctl top` in a real terminal.
 *
 * top is a full-screen program, so it runs where a person would run it: in
 * a terminal, here tmux's, on a private server (its socket in the
 * fixture's directory) with a window of a chosen size.  The test reads the
 * screen with capture-pane, types with send-keys, resizes the window, and
 * asks tmux about the pane's modes (alternate screen, cursor).  A shell
 * around top prints its exit status and keeps the pane open, so that what
 * top left on the terminal can be read after it is gone.  The daemon is a real gortd with the example
 * plugins.
 *
 * Covered: the frame (header with the daemon's pid, the heap against its
 * goal, the collector, the scheduler, a row per plugin, the footer); that
 * it follows the daemon (a collection forced behind its back shows up);
 * q and Ctrl-C quit with 0 and leave the terminal as it was (primary
 * screen, cursor shown); a resize redraws within the new size, plugins
 * that do not fit summed up in one line; a daemon that stops ends top
 * with 69 and its message on the restored screen; an ASCII-only frame in
 * the C locale; and, without a terminal, the refusal (64) and --once.
 *
 * tmux comes from Debian's tmux package, a declared test dependency
 * (scripts/deps.sh): without it these tests fail and say so.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gortdutil.h"

#include <spawn.h>

extern char **environ;

#define COLS 100
#define ROWS 30
#define INTERVAL "200ms"

static char tmux_sock[160];

/* tmux's answer to one command. */
struct tmux_out {
    int code;
    const char *out;
};

/* Run tmux -u -S <private socket> -f <conf> args... (NULL-terminated)
 * and wait for it. */
static struct tmux_out tmux(const char *first, ...)
{
    const char *argv[40] = {"tmux", "-u", "-S", tmux_sock, "-f", dir_path("tmux.conf")};
    int n = 6;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        assert_true(n < 39);
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    const char *out = dir_path("tmux.out");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, dir_path("tmux.err"), O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid;
    int rc = posix_spawnp(&pid, "tmux", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        fail_msg("cannot run tmux (%s): install Debian's tmux package (scripts/deps.sh does)",
                 strerror(rc));
    int st;
    while (waitpid(pid, &st, 0) < 0)
        assert_int_equal(errno, EINTR);
    struct tmux_out o = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), read_text(out)};
    return o;
}

/* What the pane shows now, one line per row (trailing blanks trimmed). */
static const char *screen(void)
{
    struct tmux_out o = tmux("capture-pane", "-p", "-t", "top", NULL);
    if (o.code != 0)
        fail_msg("tmux capture-pane failed (%d): %s", o.code, read_text(dir_path("tmux.err")));
    return o.out;
}

/* A tmux format about the pane, e.g. "#{alternate_on}". */
static const char *pane(const char *format)
{
    struct tmux_out o = tmux("display-message", "-p", "-t", "top", format, NULL);
    if (o.code != 0)
        fail_msg("tmux display-message failed (%d): %s", o.code, read_text(dir_path("tmux.err")));
    return kept_string(o.out, strcspn(o.out, "\n"));
}

/* Row i (from 0) of a screen, or "" past its end. */
static const char *row(const char *s, int i)
{
    for (; i > 0 && *s; i--) {
        const char *nl = strchr(s, '\n');
        s = nl ? nl + 1 : s + strlen(s);
    }
    return kept_string(s, strcspn(s, "\n"));
}

/* The row starting with prefix, or NULL. */
static const char *row_starting(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *line = s; *line;) {
        size_t len = strcspn(line, "\n");
        if (len >= n && strncmp(line, prefix, n) == 0)
            return kept_string(line, len);
        line += len + (line[len] == '\n');
    }
    return NULL;
}

static int rows_of(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Wait until the screen holds every one of the NULL-terminated parts;
 * that screen. */
static const char *wait_screen(const char *first, ...)
{
    int64_t end = now_ms() + scaled(WAIT_MS);
    for (;;) {
        const char *s = screen();
        bool all = true;
        va_list ap;
        va_start(ap, first);
        for (const char *p = first; p && all; p = va_arg(ap, const char *))
            all = strstr(s, p) != NULL;
        va_end(ap);
        if (all)
            return s;
        if (now_ms() > end)
            fail_msg("the screen never showed \"%s\" (and the rest); it shows:\n%s", first, s);
        sleep_ms(20);
    }
}

/* Wait until top has exited; its exit status, which the shell around it
 * prints (start_top). */
static int wait_exit(void)
{
    const char *s = wait_screen("top exited ", NULL);
    return atoi(strstr(s, "top exited ") + strlen("top exited "));
}

/* The terminal is as top found it: primary screen, cursor shown. */
static void expect_terminal_restored(void)
{
    assert_string_equal(pane("#{alternate_on}"), "0");
    assert_string_equal(pane("#{cursor_flag}"), "1");
}

/* Run `gortctl top --interval INTERVAL extra...` against d in a cols x
 * rows window, in locale lc_all, under a shell that prints top's exit
 * status and keeps the pane open.  The shell's INT trap lets Ctrl-C reach
 * top without ending the shell; top itself starts with SIGINT at its
 * default, as a trap is not inherited. */
static void start_top(struct daemon *d, int cols, int rows, const char *lc_all, const char *extra)
{
    write_file("tmux.conf", "set -g status off\n");
    snprintf(tmux_sock, sizeof tmux_sock, "%s/tmux.sock", fx.dir);
    struct tmux_out o = tmux("new-session", "-d", "-s", "top", "-x", kept_printf("%d", cols), "-y",
                             kept_printf("%d", rows), "sh", "-c",
                             "trap : INT; \"$@\"; echo \"top exited $?\"; exec sleep 3600", "sh", "env", kept_printf("LC_ALL=%s", lc_all),
                             g_gortctl, "--socket", d->sock, "top", "--interval", INTERVAL, extra,
                             NULL);
    if (o.code != 0)
        fail_msg("tmux new-session failed (%d): %s", o.code, read_text(dir_path("tmux.err")));
}

/* The fixture's teardown, after the private tmux server is gone. */
static int top_teardown(void **state)
{
    if (tmux_sock[0]) {
        tmux("kill-server", NULL);
        tmux_sock[0] = '\0';
    }
    return teardown(state);
}

static struct daemon *start_with_plugins(void)
{
    return start_gortd("--plugin-dir", kept_printf("%s/plugins", g_build), NULL);
}

TEST(test_top_draws_the_daemon_its_plugins_and_follows_them_until_q)
{
    struct daemon *d = start_with_plugins();
    start_top(d, COLS, ROWS, "C.UTF-8", NULL);
    const char *s = wait_screen("heap ", "\nhello ", "q quit", NULL);
    assert_string_equal(pane("#{alternate_on}"), "1");
    assert_string_equal(pane("#{cursor_flag}"), "0");

    expect_contains(row(s, 0), kept_printf("gortd 0.1.0 pid %d up ", (int)d->pid));
    expect_contains(row(s, 0), d->sock);
    const char *heap = row_starting(s, "heap ");
    assert_non_null(heap);
    expect_contains(heap, " / goal ");
    if (!strstr(heap, "░") && !strstr(heap, "█"))   /* the bar, in Unicode blocks here */
        fail_msg("no bar in Unicode blocks: %s", heap);
    assert_non_null(row_starting(s, "memory sys "));
    assert_non_null(row_starting(s, "sched  goroutines "));
    assert_non_null(row_starting(s, "PLUGIN "));
    const char *hello = row_starting(s, "hello ");
    assert_non_null(hello);
    expect_contains(hello, " loaded ");
    expect_contains(row(s, ROWS - 1), "q quit   every 200ms");
    assert_null(row_starting(s, "GC     cycles 1 "));

    /* A collection forced behind top's back shows on a later frame, and
     * with two samples the rates and the scheduler's queues are there. */
    call(d->ctl, "gc", NULL);
    s = wait_screen("GC     cycles 1 (1 forced)", "runqueue ", NULL);
    hello = row_starting(s, "hello ");
    assert_non_null(hello);
    expect_contains(hello, "/s ");

    assert_int_equal(tmux("send-keys", "-t", "top", "q", NULL).code, 0);
    assert_int_equal(wait_exit(), 0);
    expect_terminal_restored();
    s = screen();
    if (strstr(s, "heap "))
        fail_msg("the frame is still on the screen after q:\n%s", s);
}

TEST(test_ctrl_c_quits_with_0_and_gives_the_terminal_back)
{
    struct daemon *d = start_with_plugins();
    start_top(d, COLS, ROWS, "C.UTF-8", NULL);
    wait_screen("heap ", "q quit", NULL);
    assert_int_equal(tmux("send-keys", "-t", "top", "C-c", NULL).code, 0);
    assert_int_equal(wait_exit(), 0);
    expect_terminal_restored();
    assert_null(strstr(screen(), "gortctl:"));
}

TEST(test_a_resize_redraws_within_the_new_size)
{
    struct daemon *d = start_with_plugins();
    start_top(d, COLS, ROWS, "C.UTF-8", NULL);
    wait_screen("heap ", "\nhello ", NULL);
    assert_int_equal(tmux("resize-window", "-t", "top", "-x", "50", "-y", "15", NULL).code, 0);
    /* 15 rows leave no room for the seven plugins: the rest is counted. */
    const char *s = wait_screen("... and ", NULL);
    int64_t end = now_ms() + scaled(WAIT_MS);
    /* Nothing wrapped or scrolled: the header on the first row, the heap
     * on the third, the footer on the last. */
    while (!(strncmp(row(s, 0), "gortd 0.1.0", 11) == 0 && strncmp(row(s, 2), "heap ", 5) == 0 &&
             strncmp(row(s, 14), "q quit", 6) == 0)) {
        if (now_ms() > end)
            fail_msg("after the resize the frame does not fit 50x15:\n%s", s);
        sleep_ms(20);
        s = screen();
    }
    assert_true(rows_of(s) <= 15);
    assert_int_equal(tmux("send-keys", "-t", "top", "q", NULL).code, 0);
    assert_int_equal(wait_exit(), 0);
}

TEST(test_a_daemon_that_stops_ends_top_with_69_and_its_message_on_the_restored_screen)
{
    struct daemon *d = start_with_plugins();
    start_top(d, COLS, ROWS, "C.UTF-8", NULL);
    wait_screen("heap ", NULL);
    assert_true(stop_daemon(d));
    assert_int_equal(wait_exit(), 69);
    expect_terminal_restored();
    const char *s = screen();
    expect_contains(s, "gortctl: ");
    expect_contains(s, "gortd");
}

TEST(test_in_the_c_locale_the_frame_is_plain_ascii)
{
    struct daemon *d = start_with_plugins();
    start_top(d, COLS, ROWS, "C", NULL);
    const char *s = wait_screen("heap ", "\nhello ", "q quit", NULL);
    /* Two frames: the sparkline has two samples. */
    call(d->ctl, "gc", NULL);
    s = wait_screen("GC     cycles 1 ", NULL);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p >= 0x80)
            fail_msg("a non-ASCII byte 0x%02x in the C locale's frame:\n%s", (unsigned char)*p, s);
    const char *heap = row_starting(s, "heap ");
    assert_non_null(heap);
    assert_non_null(strstr(heap, "[....") ?: strstr(heap, "[#"));
    assert_int_equal(tmux("send-keys", "-t", "top", "q", NULL).code, 0);
    assert_int_equal(wait_exit(), 0);
}

TEST(test_without_a_terminal_top_refuses_and_once_prints_one_plain_frame)
{
    struct daemon *d = start_with_plugins();
    struct ctl_out o = ctl_run(d, "top", NULL);
    expect_code(o, 64);
    expect_contains(o.err, "gortctl: top needs a terminal");
    o = ctl_run(d, "--json", "top", NULL);
    expect_code(o, 64);
    expect_contains(o.err, "--json");

    o = ctl_run(d, "top", "--once", "--interval", "100ms", NULL);
    expect_code(o, 0);
    expect_contains(o.out, kept_printf("gortd 0.1.0 pid %d up ", (int)d->pid));
    expect_contains(o.out, "\nheap ");
    expect_contains(o.out, "\nhello ");
    assert_null(strchr(o.out, '\033'));
    assert_null(strstr(o.out, "q quit"));
    assert_string_equal(o.err, "");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, top_teardown)

int main(void)
{
    if (gortd_suite_init("test_gortctl_top") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        T(test_top_draws_the_daemon_its_plugins_and_follows_them_until_q),
        T(test_ctrl_c_quits_with_0_and_gives_the_terminal_back),
        T(test_a_resize_redraws_within_the_new_size),
        T(test_a_daemon_that_stops_ends_top_with_69_and_its_message_on_the_restored_screen),
        T(test_in_the_c_locale_the_frame_is_plain_ascii),
        T(test_without_a_terminal_top_refuses_and_once_prints_one_plain_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
