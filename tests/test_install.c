/*
 * test_install - `make install` the way a packager and an administrator use
 * it, and the README's steps for running the service and writing a first
 * plugin.
 *
 * The suite installs twice, once per group, from the build the suites run
 * against (GORT_TEST_BUILD_DIR picks VARIANT=, so the sanitizer runs
 * install their own binaries):
 *
 *   - a packager's staging install: DESTDIR=<tmp>/stage PREFIX=/usr;
 *   - a direct install into a private prefix (PREFIX=<tmp>/pfx/usr,
 *     SYSCONFDIR=<tmp>/pfx/etc, POST_INSTALL=no so that nothing touches
 *     the host's users or systemd), whose unit names binaries that exist,
 *     which is what `systemd-analyze verify` checks.
 *
 * Then, as systemd and an administrator would: the unit verifies clean and
 * carries the hardening SPEC §8 asks for; sysusers.d and tmpfiles.d create
 * the user and the plugin directory in a scratch root; the example
 * configuration passes --check-config; the installed gortd, run with the
 * unit's ExecStart, loads the installed example plugins; the README's first
 * plugin, built out of tree with the README's own command line against
 * the staged gort.pc, is dropped into plugins.d, picked up by the unit's
 * ExecReload and run with the installed gortctl, printing what the README
 * says it prints; the README's lines for the source tree build the same
 * plugin and load it into the build's gortd; a program links the
 * installed libgort.so through
 * pkg-config and runs; a reinstall keeps an edited configuration and
 * uninstall removes everything else.
 *
 * The suite runs from the source tree (as `make test` does): it reads the
 * Makefile and README.md there.
 */
#include "gortdutil.h"

#include <dirent.h>
#include <glob.h>

#include "proto.h"

static char g_tree[PATH_MAX];     /* the source tree: the suite's directory */
static char g_tmp[64];            /* both installs live here */
static char g_stage[128];         /* DESTDIR of the packaging install */
static char g_pfx[128];           /* the private prefix's root (usr/, etc/) */
static const char *g_variant;     /* "", "asan" or "tsan" */
static char g_build_gortd[PATH_MAX], g_build_gortctl[PATH_MAX];   /* the build's own */

/* ---------------------------------------------------------------------
 * Running commands
 * ------------------------------------------------------------------- */

/* Run cmd with sh -c in cwd (NULL: the tree), stdout and stderr together;
 * the exit status (128 + N when killed by signal N) and, in *out (kept),
 * what it printed.  The make variables of `make test` (MAKEFLAGS carries
 * its jobserver) are not passed on. */
static int run_cmd(const char *cwd, const char **out, const char *cmd)
{
    char log[] = "/tmp/gort-install-out.XXXXXX";
    int fd = mkstemp(log);
    assert_true(fd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || chdir(cwd ? cwd : g_tree) != 0)
            _exit(127);
        dup2(in, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        unsetenv("MAKEFLAGS");
        unsetenv("MFLAGS");
        unsetenv("MAKELEVEL");
        unsetenv("MAKEOVERRIDES");
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        assert_int_equal(errno, EINTR);
    close(fd);
    *out = read_text(log);
    unlink(log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* run_cmd with the command formatted. */
static int sh(const char *cwd, const char **out, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(const char *cwd, const char **out, const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    va_start(ap, fmt);
    assert_true(vasprintf(&cmd, fmt, ap) >= 0);
    va_end(ap);
    int rc = run_cmd(cwd, out, cmd);
    free(cmd);
    return rc;
}

/* What the formatted command printed; the test fails, showing it, unless
 * it exits 0. */
static const char *sh_ok(const char *cwd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *sh_ok(const char *cwd, const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    va_start(ap, fmt);
    assert_true(vasprintf(&cmd, fmt, ap) >= 0);
    va_end(ap);
    const char *out;
    int rc = run_cmd(cwd, &out, cmd);
    const char *kept = kept_string(cmd, strlen(cmd));
    free(cmd);
    if (rc != 0)
        fail_msg("exit status %d from: %s\n%s", rc, kept, out);
    return out;
}

/* The make install of the packaging layout, into DESTDIR dest. */
static int make_install(const char *dest, const char *target, const char **out)
{
    return sh(NULL, out, "make -s VARIANT=%s %s DESTDIR=%s PREFIX=/usr", g_variant, target, dest);
}

static const char *staged(const char *path)
{
    return kept_printf("%s%s", g_stage, path);
}

/* ---------------------------------------------------------------------
 * Reading what was installed
 * ------------------------------------------------------------------- */

/* The value of the first "key=value" line of an installed unit or
 * configuration file (spaces around '=' allowed), or NULL. */
static const char *file_value(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *p = l;
        if (strncmp(p, key, kl) != 0)
            continue;
        p += kl;
        while (*p == ' ')
            p++;
        if (*p != '=')
            continue;
        p++;
        while (*p == ' ')
            p++;
        return kept_string(p, strcspn(p, "\n"));
    }
    return NULL;
}

/* Fail unless path is a file (or with link, a symbolic link to link)
 * with exactly the permission bits mode. */
static void expect_file(const char *path, mode_t mode, const char *link)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        fail_msg("%s: %s", path, strerror(errno));
    if (link) {
        char buf[PATH_MAX];
        ssize_t n = readlink(path, buf, sizeof buf - 1);
        if (!S_ISLNK(st.st_mode) || n < 0)
            fail_msg("%s should be a symbolic link to %s", path, link);
        buf[n] = '\0';
        if (strcmp(buf, link) != 0)
            fail_msg("%s points to %s, %s expected", path, buf, link);
        return;
    }
    if ((mode & S_IFMT) == 0)
        mode |= S_IFREG;
    if (st.st_mode != mode)
        fail_msg("%s has mode %o, %o expected", path, (unsigned)st.st_mode, (unsigned)mode);
}

/* The README, and the text of the block that follows the marker
 * "<!-- tested: name -->": a fenced block without its fences, or an
 * indented block without its indentation. */
static const char *readme_block(const char *name)
{
    const char *readme = read_text(kept_printf("%s/README.md", g_tree));
    const char *m = strstr(readme, kept_printf("<!-- tested: %s -->\n", name));
    if (!m)
        fail_msg("README.md has no block marked \"<!-- tested: %s -->\"", name);
    const char *p = strchr(m, '\n') + 1;
    if (strncmp(p, "```", 3) == 0) {
        p = strchr(p, '\n') + 1;
        const char *end = strstr(p, "\n```");
        assert_non_null(end);
        return kept_printf("%.*s\n", (int)(end - p), p);
    }
    char *text = calloc(1, strlen(p) + 1);
    assert_non_null(text);
    size_t n = 0;
    while (strncmp(p, "    ", 4) == 0) {
        size_t len = strcspn(p + 4, "\n");
        memcpy(text + n, p + 4, len);
        n += len;
        text[n++] = '\n';
        p += 4 + len + (p[4 + len] == '\n');
    }
    const char *kept = kept_string(text, n);
    free(text);
    if (n == 0)
        fail_msg("the README block \"%s\" is empty", name);
    return kept;
}

/* The line of text that starts with prefix, without the prefix. */
static const char *line_after(const char *text, const char *prefix)
{
    const char *p = text;
    size_t pl = strlen(prefix);
    for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, pl) == 0)
            return kept_string(p + pl, strcspn(p + pl, "\n"));
    fail_msg("no line starts with \"%s\" in:\n%s", prefix, text);
    return NULL;
}

/* text with every from replaced by to, kept. */
static const char *replace_all(const char *text, const char *from, const char *to)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    for (const char *p; (p = strstr(text, from)); text = p + strlen(from))
        fprintf(f, "%.*s%s", (int)(p - text), text, to);
    fputs(text, f);
    fclose(f);
    const char *kept = kept_string(out, len);
    free(out);
    return kept;
}

/* Run gortctl with the arguments of a README command line (split at
 * spaces) after the --socket of d. */
static struct ctl_out ctl_line(struct daemon *d, const char *line)
{
    const char *args[16] = {"--socket", d->sock};
    int n = 2;
    char *words = strdup(line), *save = NULL;
    assert_non_null(words);
    for (char *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        assert_true(n < 15);
        args[n++] = kept_printf("%s", w);
    }
    args[n] = NULL;
    free(words);
    return gortctl_wait(gortctl_start(NULL, NULL, -1, args), scaled(WAIT_MS));
}

/* Wait until d's stdout has text. */
static void wait_stdout(struct daemon *d, const char *text)
{
    int64_t end = now_ms() + scaled(WAIT_MS);
    while (!strstr(read_text(d->out), text)) {
        if (now_ms() > end)
            fail_msg("gortd's stdout never showed \"%s\":\n%s", text, read_text(d->out));
        sleep_ms(10);
    }
}

/* The installed configuration made to run here: the socket and state in
 * the fixture, the plugin directories inside the staging root, and (when
 * the host has no group gortd, which only sysusers.d creates) the read
 * group one that exists.  Every other line as installed. */
static const char *local_config(void)
{
    const char *conf = read_text(staged("/etc/gortd/gortd.conf"));
    const char *dirs = file_value(conf, "plugin_dirs");
    assert_non_null(dirs);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    for (const char *l = conf; *l;) {
        size_t n = strcspn(l, "\n");
        const char *line = kept_string(l, n);
        if (strncmp(line, "socket ", 7) == 0) {
            fprintf(f, "socket = %s\n", fx.sock);
        } else if (strncmp(line, "state_dir ", 10) == 0) {
            fprintf(f, "state_dir = %s\n", fx.state);
        } else if (strncmp(line, "plugin_dirs ", 12) == 0) {
            fprintf(f, "plugin_dirs = ");
            for (const char *d = dirs; *d;) {
                size_t dl = strcspn(d, ",");
                fprintf(f, "%s%s%.*s", d == dirs ? "" : ",", g_stage, (int)dl, d);
                d += dl + (d[dl] == ',');
            }
            fprintf(f, "\n");
        } else if (strncmp(line, "read_group ", 11) == 0 && !getgrnam("gortd")) {
            struct group *g = getgrgid(getgid());
            assert_non_null(g);
            fprintf(f, "read_group = %s\n", g->gr_name);
        } else {
            fprintf(f, "%s\n", line);
        }
        l += n + (l[n] == '\n');
    }
    fclose(f);
    const char *path = write_file("gortd.conf", text);
    free(text);
    return path;
}

/* ---------------------------------------------------------------------
 * The group: install once, remove at the end
 * ------------------------------------------------------------------- */

static int install_setup(void **state)
{
    (void)state;
    if (!getcwd(g_tree, sizeof g_tree) || access("Makefile", R_OK) != 0 || access("README.md", R_OK) != 0) {
        fprintf(stderr, "test_install: run it from the source tree (make test does)\n");
        return -1;
    }
    g_variant = g_sanitizer ? g_sanitizer : "";
    snprintf(g_build_gortd, sizeof g_build_gortd, "%s", g_gortd);
    snprintf(g_build_gortctl, sizeof g_build_gortctl, "%s", g_gortctl);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/gort-install.XXXXXX");
    if (!mkdtemp(g_tmp))
        return -1;
    snprintf(g_stage, sizeof g_stage, "%s/stage", g_tmp);
    snprintf(g_pfx, sizeof g_pfx, "%s/pfx", g_tmp);
    /* The helpers keep what they return in the fixture's keep list: one
     * for the setup's own use. */
    fx.keep = json_array();
    const char *out = NULL;
    int rc = make_install(g_stage, "install", &out);
    if (rc == 0)
        rc = sh(NULL, &out, "make -s VARIANT=%s install PREFIX=%s/usr SYSCONFDIR=%s/etc POST_INSTALL=no", g_variant,
                g_pfx, g_pfx);
    if (rc != 0)
        fprintf(stderr, "test_install: make install failed (exit status %d):\n%s\n", rc, out);
    json_decref(fx.keep);
    fx.keep = NULL;
    return rc == 0 ? 0 : -1;
}

static int install_teardown(void **state)
{
    (void)state;
    if (g_tmp[0])
        nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------- */

TEST(test_install_puts_every_file_in_place_with_its_mode)
{
    static const struct {
        const char *path;
        mode_t mode;
        const char *link;
    } files[] = {
        {"/usr/bin/gortctl", 0755, NULL},
        {"/usr/sbin/gortd", 0755, NULL},
        {"/usr/lib/libgort.so." GORT_RELEASE, 0755, NULL},
        {"/usr/lib/libgort.so.0", 0, "libgort.so." GORT_RELEASE},
        {"/usr/lib/libgort.so", 0, "libgort.so.0"},
        {"/usr/lib/libgort.a", 0644, NULL},
        {"/usr/include/gort/gort.h", 0644, NULL},
        {"/usr/include/gort/plugin.h", 0644, NULL},
        {"/usr/lib/pkgconfig/gort.pc", 0644, NULL},
        {"/usr/share/man/man1/gortctl.1", 0644, NULL},
        {"/usr/share/man/man8/gortd.8", 0644, NULL},
        {"/usr/share/bash-completion/completions/gortctl", 0644, NULL},
        {"/usr/share/doc/gort/gortd.conf.example", 0644, NULL},
        {"/usr/share/doc/gort/PROTOCOL.md", 0644, NULL},
        {"/usr/lib/systemd/system/gortd.service", 0644, NULL},
        {"/usr/lib/sysusers.d/gortd.conf", 0644, NULL},
        {"/usr/lib/tmpfiles.d/gortd.conf", 0644, NULL},
        {"/etc/gortd/gortd.conf", 0644, NULL},
        /* gortd refuses plugins in group- or world-writable directories. */
        {"/etc/gortd/plugins.d", S_IFDIR | 0755, NULL},
        {"/usr/lib/gortd/plugins", S_IFDIR | 0755, NULL},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        expect_file(staged(files[i].path), files[i].mode, files[i].link);

    /* Every example plugin of the build. */
    glob_t gl;
    assert_int_equal(glob(kept_printf("%s/plugins/*.so", g_build), 0, NULL, &gl), 0);
    assert_true(gl.gl_pathc >= 5);
    for (size_t i = 0; i < gl.gl_pathc; i++)
        expect_file(staged(kept_printf("/usr/lib/gortd/plugins/%s", strrchr(gl.gl_pathv[i], '/') + 1)), 0644, NULL);
    print_message("%zu example plugins installed\n", gl.gl_pathc);
    globfree(&gl);

    /* The library carries its soname; a program linked against it asks
     * for libgort.so.0. */
    const char *dyn = sh_ok(NULL, "readelf -d %s", staged("/usr/lib/libgort.so." GORT_RELEASE));
    expect_contains(dyn, "Library soname: [libgort.so.0]");

    /* Generated files name the install's directories, with nothing left
     * to substitute. */
    const char *generated[] = {"/usr/lib/systemd/system/gortd.service", "/usr/lib/tmpfiles.d/gortd.conf",
                               "/usr/lib/pkgconfig/gort.pc", "/etc/gortd/gortd.conf"};
    for (size_t i = 0; i < sizeof generated / sizeof generated[0]; i++) {
        const char *text = read_text(staged(generated[i]));
        const char *at = text;
        while ((at = strchr(at, '@')) && !(strspn(at + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") > 0 &&
                                           at[1 + strspn(at + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")] == '@'))
            at++;
        if (at)
            fail_msg("%s still has a placeholder:\n%s", generated[i], text);
    }
    const char *unit = read_text(staged("/usr/lib/systemd/system/gortd.service"));
    assert_string_equal(file_value(unit, "ExecStart"), "/usr/sbin/gortd --config /etc/gortd/gortd.conf");
    const char *pc = read_text(staged("/usr/lib/pkgconfig/gort.pc"));
    assert_string_equal(file_value(pc, "includedir"), "/usr/include");
    expect_contains(pc, "Version: " GORT_RELEASE "\n");
    const char *conf = read_text(staged("/etc/gortd/gortd.conf"));
    assert_string_equal(file_value(conf, "plugin_dirs"), "/usr/lib/gortd/plugins,/etc/gortd/plugins.d");
}

TEST(test_the_unit_passes_systemd_analyze_verify_and_is_hardened)
{
    const char *unit = kept_printf("%s/usr/lib/systemd/system/gortd.service", g_pfx);
    const char *out;
    int rc = sh(fx.dir, &out, "MANPATH=%s/usr/share/man systemd-analyze verify %s", g_pfx, unit);
    if (rc == 127)
        fail_msg("systemd-analyze is missing: scripts/deps.sh installs systemd and man-db\n%s", out);
    if (rc != 0 || *out)
        fail_msg("systemd-analyze verify %s exited %d:\n%s", unit, rc, out);

    /* The check can fail: a unit whose program is missing does. */
    const char *text = read_text(unit);
    const char *exec = file_value(text, "ExecStart");
    const char *bad = write_file("gortd.service", kept_printf("[Unit]\nDescription=broken\n[Service]\nType=notify\n"
                                                              "ExecStart=%s/nowhere/gortd\n",
                                                              fx.dir));
    rc = sh(fx.dir, &out, "systemd-analyze verify %s", bad);
    if (rc == 0)
        fail_msg("systemd-analyze verify passed a unit whose ExecStart does not exist:\n%s", out);
    expect_contains(out, "nowhere/gortd");
    expect_contains(exec, kept_printf("%s/usr/sbin/gortd --config %s/etc/gortd/gortd.conf", g_pfx, g_pfx));

    /* What SPEC §8 names, and systemd's own account of the exposure. */
    static const char *const want[][2] = {
        {"Type", "notify"},          {"NotifyAccess", "main"},       {"WatchdogSec", "30s"},
        {"Restart", "on-failure"},   {"RuntimeDirectory", "gortd"},  {"StateDirectory", "gortd"},
        {"User", "gortd"},           {"Group", "gortd"},             {"NoNewPrivileges", "yes"},
        {"ProtectSystem", "strict"}, {"ProtectHome", "yes"},         {"PrivateTmp", "yes"},
        {"PrivateDevices", "yes"},   {"CapabilityBoundingSet", ""},  {"SystemCallFilter", "@system-service"},
        {"ExecReload", "/bin/kill -HUP $MAINPID"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *v = file_value(text, want[i][0]);
        if (!v || strcmp(v, want[i][1]) != 0)
            fail_msg("the unit has %s=%s, %s=%s expected", want[i][0], v ? v : "(nothing)", want[i][0], want[i][1]);
    }
    out = sh_ok(fx.dir, "systemd-analyze security --offline=yes %s", unit);
    const char *level = line_after(strstr(out, "Overall exposure level"), "Overall exposure level for gortd.service: ");
    double exposure = strtod(level, NULL);
    print_message("systemd-analyze security: %s\n", level);
    if (exposure > 2.5)
        fail_msg("the unit's exposure grew to %s (2.5 at most)", level);
}

TEST(test_sysusers_and_tmpfiles_create_the_user_and_the_plugin_directory)
{
    const char *root = kept_printf("%s/root", fx.dir);
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(mkdir(kept_printf("%s/etc", root), 0755), 0);
    sh_ok(NULL, "systemd-sysusers --root=%s %s", root, staged("/usr/lib/sysusers.d/gortd.conf"));
    const char *passwd = read_text(kept_printf("%s/etc/passwd", root));
    const char *user = line_after(passwd, "gortd:x:");
    /* uid:gid:gecos:home:shell; a system user without a login shell. */
    char *f[5] = {0};
    char *copy = strdup(user), *save = NULL;
    for (int i = 0; i < 5; i++)
        f[i] = strtok_r(i ? NULL : copy, ":", &save);
    assert_non_null(f[4]);
    if (atoi(f[0]) <= 0 || atoi(f[0]) >= 1000)
        fail_msg("gortd should be a system user, got uid %s", f[0]);
    assert_string_equal(f[3], "/var/lib/gortd");
    expect_contains(f[4], "nologin");
    expect_contains(read_text(kept_printf("%s/etc/group", root)), kept_printf("gortd:x:%s:", f[1]));
    free(copy);

    /* Only root may give the directory to root: otherwise the same line
     * with the owner left as is. */
    const char *tmpfiles = staged("/usr/lib/tmpfiles.d/gortd.conf");
    if (geteuid() != 0)
        tmpfiles = write_file("tmpfiles.conf", replace_all(read_text(tmpfiles), " root root ", " - - "));
    sh_ok(NULL, "systemd-tmpfiles --create --root=%s %s", root, tmpfiles);
    struct stat st;
    assert_int_equal(stat(kept_printf("%s/etc/gortd/plugins.d", root), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);
    if (geteuid() == 0)
        assert_int_equal(st.st_uid, 0);
}

TEST(test_the_example_configuration_passes_check_config)
{
    const char *gortd = staged("/usr/sbin/gortd"), *conf = staged("/etc/gortd/gortd.conf");
    const char *out;
    int rc = sh(NULL, &out, "%s --config %s --check-config", gortd, conf);
    if (getgrnam("gortd")) {
        if (rc != 0)
            fail_msg("--check-config of the example exited %d:\n%s", rc, out);
    } else {
        /* Only sysusers.d makes the group: without it, the one error is
         * that, named. */
        assert_int_equal(rc, 78);
        expect_contains(out, "read_group = \"gortd\": no such group");
        print_message("no group gortd here: checking the example with read_group = its own group\n");
        rc = sh(NULL, &out, "%s --config %s --check-config", gortd, local_config());
        if (rc != 0)
            fail_msg("--check-config exited %d:\n%s", rc, out);
    }
    expect_contains(out, "configuration OK");
}

TEST(test_a_first_plugin_builds_out_of_tree_with_pkg_config_and_runs_in_the_installed_gortd)
{
    /* The README's plugin and its own command lines. */
    write_file("first.c", readme_block("first.c"));
    const char *steps = readme_block("first-plugin.sh");
    const char *cc = kept_printf("cc %s", line_after(steps, "cc "));
    const char *copy = line_after(steps, "sudo install ");
    const char *start = line_after(steps, "sudo gortctl ");
    const char *printed = strstr(line_after(steps, "journalctl "), "# ");
    assert_non_null(printed);
    printed += 2;
    assert_non_null(strstr(cc, "$(pkg-config --cflags gort)"));

    /* Built against the staging root's gort.pc: only the headers, no
     * library, and not a warning. */
    const char *out;
    out = sh_ok(fx.dir, "export PKG_CONFIG_SYSROOT_DIR=%s PKG_CONFIG_LIBDIR=%s/usr/lib/pkgconfig; %s", g_stage, g_stage, cc);
    if (*out)
        fail_msg("%s printed:\n%s", cc, out);
    out = sh_ok(fx.dir, "readelf -d first.so");
    if (strstr(out, "libgort"))
        fail_msg("the plugin links libgort: gortd supplies gort's functions\n%s", out);

    /* The service's command line, on the staged binaries, with the
     * configuration pointed at this fixture. */
    const char *unit = read_text(staged("/usr/lib/systemd/system/gortd.service"));
    const char *exec = file_value(unit, "ExecStart");
    assert_string_equal(exec, "/usr/sbin/gortd --config /etc/gortd/gortd.conf");
    snprintf(g_gortd, sizeof g_gortd, "%s", staged("/usr/sbin/gortd"));
    snprintf(g_gortctl, sizeof g_gortctl, "%s", staged("/usr/bin/gortctl"));
    const char *extra[] = {"--config", local_config(), NULL};
    struct daemon *d = start_gortd_env(NULL, extra);

    /* The installed example plugins loaded from the installed directory. */
    struct ctl_out o = ctl_run(d, "plugins", "--json", NULL);
    expect_code(o, 0);
    json_t *list = keep(json_loads(o.out, 0, NULL));
    assert_non_null(list);
    size_t i;
    json_t *p;
    bool hello = false;
    json_array_foreach(get_array(list, "plugins"), i, p) {
        if (strcmp(get_str(p, "name"), "hello") == 0) {
            hello = true;
            expect_contains(get_str(p, "path"), staged("/usr/lib/gortd/plugins/hello.so"));
        }
        assert_string_not_equal(get_str(p, "name"), "first");
    }
    assert_true(hello);

    /* Dropped into the administrator's directory (the README's command,
     * into the staging root), then the unit's ExecReload, as systemd runs
     * it for `systemctl reload`. */
    assert_non_null(strstr(copy, " /etc/gortd/plugins.d/"));
    sh_ok(fx.dir, "install %.*s %s/etc/gortd/plugins.d/", (int)(strstr(copy, " /etc/") - copy), copy,
          g_stage);
    const char *reload = file_value(unit, "ExecReload");
    sh_ok(fx.dir, "MAINPID=%d; %s", (int)d->pid, reload);
    int64_t end = now_ms() + scaled(WAIT_MS);
    for (;;) {
        o = ctl_run(d, "plugins", NULL);
        expect_code(o, 0);
        if (strstr(o.out, "\nfirst "))
            break;
        if (now_ms() > end)
            fail_msg("the plugin did not load after SIGHUP:\n%s\n%s", o.out, read_text(d->log));
        sleep_ms(20);
    }
    expect_contains(o.out, "sum the squares of 1..N on four goroutines");

    /* The README's start command, and what it says the task prints. */
    o = ctl_line(d, start);
    expect_code(o, 0);
    expect_contains(o.out, "(first/squares)");
    wait_stdout(d, printed);
    print_message("%s\n", printed);
    o = ctl_run(d, "plugins", NULL);
    expect_contains(line_after(o.out, "first "), " loaded ");
    assert_true(stop_daemon(d));
}

TEST(test_the_first_plugin_builds_against_the_tree_and_loads_into_the_builds_gortd)
{
    /* The README's lines for the tree, with the plugin directory of
     * `make run` (build/plugins) moved into the fixture. */
    const char *c = write_file("first.c", readme_block("first.c"));
    const char *steps = readme_block("first-plugin-tree.sh");
    const char *dir = kept_printf("%s/plugins", fx.dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(chmod(dir, 0755), 0);
    const char *cc = replace_all(kept_printf("cc %s", line_after(steps, "cc ")), "build/plugins/", kept_printf("%s/", dir));
    cc = replace_all(cc, " first.c", kept_printf(" %s", c));
    snprintf(g_gortd, sizeof g_gortd, "%s", g_build_gortd);
    snprintf(g_gortctl, sizeof g_gortctl, "%s", g_build_gortctl);
    struct daemon *d = start_gortd("--plugin-dir", dir, NULL);
    const char *out = sh_ok(NULL, "%s", cc);
    if (*out)
        fail_msg("%s printed:\n%s", cc, out);
    const char *load = replace_all(line_after(steps, "build/gortctl load "), "build/plugins/", kept_printf("%s/", dir));
    struct ctl_out o = ctl_line(d, kept_printf("load %s", load));
    expect_code(o, 0);
    expect_contains(o.out, "loaded first 1.0");
    o = ctl_line(d, kept_printf("start %s", line_after(steps, "build/gortctl start ")));
    expect_code(o, 0);
    expect_contains(o.out, "(first/squares)");
    wait_stdout(d, "first: the squares of 1..1000 add up to 333833500");
}

TEST(test_a_program_links_the_installed_shared_library_through_pkg_config)
{
    /* A sanitizer's libgort.so wants its runtime in the program too. */
    const char *san = !g_sanitizer ? "" : strcmp(g_sanitizer, "asan") == 0 ? "-fsanitize=address,undefined" : "-fsanitize=thread";
    const char *out;
    out = sh_ok(fx.dir,
          "cc %s -o hello %s/examples/hello.c $(PKG_CONFIG_SYSROOT_DIR=%s PKG_CONFIG_LIBDIR=%s/usr/lib/pkgconfig "
          "pkg-config --cflags --libs gort)",
          san, g_tree, g_stage, g_stage);
    out = sh_ok(fx.dir, "readelf -d hello");
    expect_contains(out, "Shared library: [libgort.so.0]");
    out = sh_ok(fx.dir, "GOMAXPROCS=2 LD_LIBRARY_PATH=%s/usr/lib ./hello", g_stage);
    expect_contains(out, "all workers done on 2 Ps");
    /* Without the library in the path, the loader names it. */
    int rc = sh(fx.dir, &out, "./hello");
    assert_int_not_equal(rc, 0);
    expect_contains(out, "libgort.so.0");
}

TEST(test_a_reinstall_keeps_the_configuration_and_uninstall_removes_the_rest)
{
    const char *dest = kept_printf("%s/again", fx.dir);
    const char *out;
    int rc = make_install(dest, "install", &out);
    if (rc != 0)
        fail_msg("make install exited %d:\n%s", rc, out);
    const char *conf = kept_printf("%s/etc/gortd/gortd.conf", dest);
    const char *mine = kept_printf("%s# edited by the administrator\ngogc = 50\n", read_text(conf));
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fputs(mine, f);
    fclose(f);
    rc = make_install(dest, "install", &out);
    if (rc != 0)
        fail_msg("make install (again) exited %d:\n%s", rc, out);
    expect_contains(out, "keeping");
    assert_string_equal(read_text(conf), mine);

    rc = make_install(dest, "uninstall", &out);
    if (rc != 0)
        fail_msg("make uninstall exited %d:\n%s", rc, out);
    /* Left: the configuration, and directories. */
    out = sh_ok(dest, "find . ! -type d | sort");
    assert_string_equal(out, "./etc/gortd/gortd.conf\n");
    assert_string_equal(read_text(conf), mine);
}

int main(void)
{
    if (gortd_suite_init("test_install"))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_install_puts_every_file_in_place_with_its_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_unit_passes_systemd_analyze_verify_and_is_hardened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sysusers_and_tmpfiles_create_the_user_and_the_plugin_directory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_example_configuration_passes_check_config, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_first_plugin_builds_out_of_tree_with_pkg_config_and_runs_in_the_installed_gortd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_first_plugin_builds_against_the_tree_and_loads_into_the_builds_gortd,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_program_links_the_installed_shared_library_through_pkg_config, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_reinstall_keeps_the_configuration_and_uninstall_removes_the_rest,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, install_setup, install_teardown);
}
