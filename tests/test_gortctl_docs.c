/*
 * test_gortctl_docs.c - gortctl's help, man pages and bash completion
 * agree with the program.
 *
 * The list of commands is what `gortctl help` prints; everything else is
 * checked against it: each command has a help text (`help CMD` and
 * `CMD --help`), an entry in man/gortctl.1 naming every option its usage
 * line names, and a place in the completion.  Both man pages render with
 * groff's warnings on and none printed.  The completion is run the way
 * bash runs it (COMP_WORDS, COMP_CWORD, the _gortctl function) in a bash
 * without any startup file, and for plugin names it asks a real gortd.
 *
 * groff (groff-base) and bash are declared dependencies (scripts/deps.sh):
 * without them these tests fail and say so.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gortdutil.h"

#include <spawn.h>

extern char **environ;

#define MAX_COMMANDS 64

/* The source tree: the tests run from it (make test). */
#define MAN_GORTCTL "man/gortctl.1"
#define MAN_GORTD "man/gortd.8"
#define COMPLETION "completion/gortctl.bash"

/* What a helper program gave. */
struct run {
    int code;
    const char *out, *err;
};

/* Run argv (argv[0] looked up in PATH) with env entries added
 * ("NAME=value", replacing the variable), stdin /dev/null; wait for it. */
static struct run run(const char *const *argv, const char *const *env)
{
    const char *out = dir_path("run.out"), *err = dir_path("run.err");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const char *envp[256];
    int n = 0;
    for (; env && *env; env++)
        envp[n++] = *env;
    int added = n;
    for (char **e = environ; *e && n < 255; e++) {
        bool replaced = false;   /* by an entry of env, which comes first */
        for (int i = 0; i < added && !replaced; i++)
            replaced = strncmp(*e, envp[i], strcspn(envp[i], "=") + 1) == 0;
        if (!replaced)
            envp[n++] = *e;
    }
    envp[n] = NULL;
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, (char *const *)envp);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        fail_msg("cannot run %s: %s (scripts/deps.sh installs the test dependencies)", argv[0],
                 strerror(rc));
    int st;
    while (waitpid(pid, &st, 0) < 0)
        assert_int_equal(errno, EINTR);
    struct run r = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), read_text(out), read_text(err)};
    return r;
}

/* The commands `gortctl help` lists, in its order; their number. */
static int commands(const char **names)
{
    struct run r = run((const char *[]){g_gortctl, "help", NULL}, NULL);
    assert_int_equal(r.code, 0);
    const char *p = strstr(r.out, "\ncommands:\n");
    assert_non_null(p);
    p += strlen("\ncommands:\n");
    int n = 0;
    while (strncmp(p, "  ", 2) == 0) {
        p += 2;
        size_t len = strcspn(p, " \n");
        assert_true(n < MAX_COMMANDS);
        names[n++] = kept_string(p, len);
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    if (n < 10)
        fail_msg("`gortctl help` lists %d commands:\n%s", n, r.out);
    return n;
}

/* s with every "-" written as the man page writes it, "\-". */
static const char *roff_dashes(const char *s)
{
    char buf[256];
    size_t o = 0;
    for (; *s && o + 3 < sizeof buf; s++) {
        if (*s == '-')
            buf[o++] = '\\';
        buf[o++] = *s;
    }
    return kept_string(buf, o);
}

TEST(test_every_command_has_help_and_its_usage_line)
{
    const char *names[MAX_COMMANDS];
    int n = commands(names);
    for (int i = 0; i < n; i++) {
        const char *usage = kept_printf("usage: gortctl %s", names[i]);
        struct run h = run((const char *[]){g_gortctl, "help", names[i], NULL}, NULL);
        if (h.code != 0 || strncmp(h.out, usage, strlen(usage)) != 0)
            fail_msg("`gortctl help %s` exited %d and printed:\n%s%s", names[i], h.code, h.out, h.err);
        if (strcmp(names[i], "help") == 0)
            continue;
        struct run f = run((const char *[]){g_gortctl, names[i], "--help", NULL}, NULL);
        if (f.code != 0 || strcmp(f.out, h.out) != 0)
            fail_msg("`gortctl %s --help` exited %d and printed:\n%s\nnot what help %s prints:\n%s",
                     names[i], f.code, f.out, names[i], h.out);
    }
    struct run bad = run((const char *[]){g_gortctl, "help", "nosuch", NULL}, NULL);
    assert_int_equal(bad.code, 64);
    expect_contains(bad.err, "unknown command \"nosuch\"");
}

TEST(test_the_man_page_describes_every_command_and_every_option_it_takes)
{
    const char *man = read_text(MAN_GORTCTL);
    const char *names[MAX_COMMANDS];
    int n = commands(names);
    for (int i = 0; i < n; i++) {
        /* A tagged paragraph whose tag starts with the command's name. */
        const char *b = kept_printf("\n.B %s", names[i]), *bi = kept_printf("\n.BI %s", names[i]),
                   *biq = kept_printf("\n.BI \"%s", names[i]), *br = kept_printf("\n.BR %s", names[i]);
        bool found = false;
        for (const char *tags[] = {b, bi, biq, br}, **t = tags; t < tags + 4 && !found; t++) {
            for (const char *p = man; (p = strstr(p, *t)); p++) {
                char next = p[strlen(*t)];
                if (next == '\n' || next == ' ' || next == '"') {
                    found = true;
                    break;
                }
            }
        }
        if (!found)
            fail_msg("%s has no entry for the command %s", MAN_GORTCTL, names[i]);
        /* Every --option of its usage line. */
        struct run h = run((const char *[]){g_gortctl, "help", names[i], NULL}, NULL);
        const char *line = kept_string(h.out, strcspn(h.out, "\n"));
        for (const char *p = line; (p = strstr(p, "--")); p += 2) {
            const char *opt = kept_string(p, strspn(p, "-abcdefghijklmnopqrstuvwxyz"));
            if (!strstr(man, roff_dashes(opt)))
                fail_msg("%s does not mention %s (gortctl %s takes it)", MAN_GORTCTL, opt, names[i]);
        }
    }
    /* The global options, the exit codes and the environment. */
    for (const char *const *w = (const char *[]){"\\-\\-socket", "\\-\\-json", "\\-\\-color", "GORT_SOCKET",
                                                 "XDG_RUNTIME_DIR", "NO_COLOR", ".B 64", ".B 69",
                                                 ".B 77", NULL};
         *w; w++)
        if (!strstr(man, *w))
            fail_msg("%s does not mention %s", MAN_GORTCTL, *w);
    expect_contains(read_text(MAN_GORTD), ".BR gortctl (1)");
}

TEST(test_both_man_pages_render_without_a_warning)
{
    for (const char *const *page = (const char *[]){MAN_GORTCTL, MAN_GORTD, NULL}; *page; page++) {
        struct run r = run((const char *[]){"groff", "-man", "-ww", "-z", *page, NULL}, NULL);
        if (r.code != 0 || *r.err || *r.out)
            fail_msg("groff -man -ww -z %s exited %d:\n%s%s", *page, r.code, r.out, r.err);
    }
}

/* What the completion offers for the words of a command line, the last
 * one being completed (""), one per line, sorted. */
static const char *complete(const char *const *words)
{
    char script[2048];
    size_t o = (size_t)snprintf(script, sizeof script, ". %s || exit 3; COMP_WORDS=(", COMPLETION);
    int n = 0;
    for (; words[n]; n++)
        o += (size_t)snprintf(script + o, sizeof script - o, "%s'%s'", n ? " " : "", words[n]);
    snprintf(script + o, sizeof script - o,
             "); COMP_CWORD=%d; COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}; "
             "_gortctl gortctl \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"; "
             "printf '%%s\\n' \"${COMPREPLY[@]}\" | LC_ALL=C sort",
             n - 1);
    /* The gortctl under test first in PATH, as the completion calls it. */
    const char *bin = kept_string(g_gortctl, (size_t)(strrchr(g_gortctl, '/') - g_gortctl));
    const char *path = kept_printf("PATH=%s:%s", bin, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    struct run r = run((const char *[]){"bash", "--norc", "--noprofile", "-c", script, NULL},
                       (const char *[]){path, NULL});
    if (r.code != 0)
        fail_msg("the completion script failed (%d): %s", r.code, r.err);
    return r.out;
}

/* The completions as one space-separated line, for messages and
 * comparisons. */
static const char *joined(const char *lines)
{
    char *s = (char *)kept_string(lines, strlen(lines));
    for (char *p = s; *p; p++)
        if (*p == '\n')
            *p = p[1] ? ' ' : '\0';
    return s;
}

TEST(test_the_completion_offers_every_command_and_each_ones_words)
{
    const char *names[MAX_COMMANDS];
    int n = commands(names);
    const char *all = complete((const char *[]){"gortctl", "", NULL});
    const char *lines = kept_printf("\n%s", all);
    for (int i = 0; i < n; i++)
        if (!strstr(lines, kept_printf("\n%s\n", names[i])))
            fail_msg("the completion does not offer the command %s; it offers: %s", names[i], joined(all));
    int offered = 0;
    for (const char *p = all; *p; p++)
        offered += *p == '\n';
    assert_int_equal(offered, n);

    assert_string_equal(joined(complete((const char *[]){"gortctl", "hist", NULL})), "history");
    assert_string_equal(joined(complete((const char *[]){"gortctl", "--json", "me", NULL})),
                        "memlimit memstats metrics");
    assert_string_equal(joined(complete((const char *[]){"gortctl", "--color", "", NULL})),
                        "always auto never");
    assert_string_equal(joined(complete((const char *[]){"gortctl", "history", "", NULL})),
                        "audit events gc memstats scavenger sched");
    assert_string_equal(joined(complete((const char *[]){"gortctl", "history", "gc", "--f", NULL})),
                        "--format");
    assert_string_equal(joined(complete((const char *[]){"gortctl", "history", "gc", "--format", "", NULL})),
                        "csv json table");
    assert_string_equal(joined(complete((const char *[]){"gortctl", "gctrace", "o", NULL})), "off on");
    assert_string_equal(joined(complete((const char *[]){"gortctl", "top", "--", NULL})),
                        "--color --help --interval --json --once --socket");
    assert_string_equal(joined(complete((const char *[]){"gortctl", "help", "sto", NULL})), "stop");

    /* load offers directories and .so files. */
    assert_int_equal(mkdir(dir_path("plugs"), 0755), 0);
    assert_int_equal(mkdir(dir_path("plugs/sub"), 0755), 0);
    write_file("plugs/a.so", "");
    write_file("plugs/notes.txt", "");
    const char *files = complete((const char *[]){"gortctl", "load", dir_path("plugs/"), NULL});
    assert_string_equal(joined(files), kept_printf("%s %s", dir_path("plugs/a.so"), dir_path("plugs/sub")));
}

TEST(test_the_completion_asks_the_daemon_for_plugin_names)
{
    struct daemon *d = start_gortd("--plugin-dir", kept_printf("%s/plugins", g_build), NULL);
    const char *names = complete((const char *[]){"gortctl", "--socket", d->sock, "unload", "", NULL});
    assert_string_equal(joined(names), "binarytrees chanstress crashy hello leaky panicky spinner");
    names = complete((const char *[]){"gortctl", "--socket", d->sock, "start", "h", NULL});
    assert_string_equal(joined(names), "hello");
    names = complete((const char *[]){"gortctl", "--socket", d->sock, "goroutines", "--plugin", "sp", NULL});
    assert_string_equal(joined(names), "spinner");
    /* No daemon there: nothing offered, nothing printed. */
    names = complete((const char *[]){"gortctl", "--socket", dir_path("none.sock"), "unload", "", NULL});
    assert_string_equal(joined(names), "");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    if (gortd_suite_init("test_gortctl_docs") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        T(test_every_command_has_help_and_its_usage_line),
        T(test_the_man_page_describes_every_command_and_every_option_it_takes),
        T(test_both_man_pages_render_without_a_warning),
        T(test_the_completion_offers_every_command_and_each_ones_words),
        T(test_the_completion_asks_the_daemon_for_plugin_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
