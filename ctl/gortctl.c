/*
 * gortctl.c - the command line: global options, the command table, help,
 * and the small option parser every command uses.
 *
 * The global options (--socket, --json, --color, --help) may stand
 * anywhere before "--", so that `gortctl memstats --json` and
 * `gortctl --json memstats` both work, as people type them both ways.
 * They are taken out of argv first; what is left is the command and its
 * own words.  A command's usage line and help text live in the table
 * below, which `help` prints, so the two cannot disagree.
 */
#include "ctl.h"

#include <poll.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct gortctl ctl = {.fd = -1};
volatile sig_atomic_t ctl_interrupted;

struct command {
    const char *name;
    const char *args;      /* the usage line after the name */
    const char *summary;   /* one line for the command list */
    const char *help;      /* more, for `help CMD`; may be NULL */
    int (*run)(int argc, char **argv);
};

static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
    {"stats", "", "goroutines, threads, GOGC, memory limit, uptime, plugins, history",
     "The daemon's state at a glance: its pid and uptime, goroutines, threads, Ps,\n"
     "GOGC and the memory limit, control clients, the history database, and one\n"
     "row per plugin with its goroutines, allocation and CPU time.", cmd_stats},
    {"memstats", "", "the runtime's MemStats, one line each",
     "Every MemStats field as \"name: value (exact)\", sizes in binary units.", cmd_memstats},
    {"gc", "", "run a collection and wait for it",
     "Runs a full collection (forced) and prints its numbers once it is swept.", cmd_gc},
    {"freeosmemory", "", "collect, then give free memory back to the OS",
     "debug.FreeOSMemory: a collection, then every free heap page is released.\n"
     "Prints what was released and the daemon's resident set before and after.",
     cmd_freeosmemory},
    {"setgc", "N|off", "set GOGC (a percentage; off disables the collector)",
     "Sets GOGC to N percent (0 to 2147483647) or off, and prints the old value.", cmd_setgc},
    {"memlimit", "SIZE|off", "set the soft memory limit (GOMEMLIMIT)",
     "SIZE is bytes with an optional B, KiB, MiB, GiB or TiB suffix (512MiB, 2GiB),\n"
     "or off.  Prints the old limit.", cmd_memlimit},
    {"gomaxprocs", "[N]", "show or set the number of Ps",
     "Without N, prints GOMAXPROCS; with N (1 or more), resizes the set of Ps.", cmd_gomaxprocs},
    {"gctrace", "on|off|--follow", "switch gctrace logging, or follow the lines",
     "on/off switch the daemon's gctrace lines in its log.  --follow prints every\n"
     "gctrace and scvg line as collections happen, until interrupted (Ctrl-C);\n"
     "it needs only read access and changes nothing.", cmd_gctrace},
    {"schedtrace", "MS [--detail] | --follow [--detail]", "log, or follow, schedtrace lines",
     "MS sets the daemon's schedtrace interval in milliseconds (0: off), with\n"
     "--detail the per-P, per-M and per-G lines too.  --follow prints the lines\n"
     "until interrupted (every MS, or every second when MS is not given).",
     cmd_schedtrace},
    {"goroutines", "[--plugin P]", "dump the goroutines (Go's traceback format)",
     "Every user goroutine's stack, or only those of plugin P.", cmd_goroutines},
    {"plugins", "", "the loaded plugins and their running tasks", NULL, cmd_plugins},
    {"load", "PATH", "load a plugin (.so inside a plugin directory)",
     "PATH may be relative: it is made absolute before it is sent.", cmd_load},
    {"unload", "NAME [--timeout D]", "stop a plugin's tasks and unload it",
     "Waits up to D (250ms, 10s, 1m; default the daemon's unload timeout) for the\n"
     "plugin's goroutines to end.", cmd_unload},
    {"start", "PLUGIN TASK [ARGS...]", "start a task of a plugin", NULL, cmd_start},
    {"stop", "ID [--timeout D]", "stop a running task and wait for it", NULL, cmd_stop},
    {"history", "gc|memstats|sched|scavenger|events|audit [--since T] [--until T] [--limit N] "
                "[--order asc|desc] [--format table|json|csv]",
     "rows from the history database",
     "T is a duration before now (90s, 15m, 1h30m, 7d), \"now\", an RFC 3339 time\n"
     "(2026-11-22T10:00:00Z) or ns since the epoch.  Newest first unless --order\n"
     "asc; at most N rows (default 100, at most 10000).  csv gives every column.",
     cmd_history},
    {"metrics", "", "stats and memstats in Prometheus' text format",
     "For node_exporter's textfile collector or a scrape wrapper.", cmd_metrics},
    {"top", "[--interval D] [--once]", "a live view of heap, GC, goroutines and plugins",
     "Refreshes every second (or every D, 100ms to 1h); q or Ctrl-C quits.  Needs a\n"
     "terminal; --once prints one plain frame (two samples D apart) and exits.",
     cmd_top},
    {"version", "", "gortctl's and the daemon's versions", NULL, cmd_version},
    {"help", "[CMD]", "this list, or one command's help", NULL, cmd_help},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_usage(FILE *f)
{
    fprintf(f,
            "usage: gortctl [--socket PATH] [--json] [--color auto|always|never] COMMAND [ARGS]\n"
            "\n"
            "Talks to gortd over its control socket: --socket, else $GORT_SOCKET, else the\n"
            "first that exists of /run/gortd/gortd.sock, $XDG_RUNTIME_DIR/gortd.sock and\n"
            "./run/gortd.sock.  --json prints the daemon's answer as it is.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`gortctl help COMMAND` says more.  Exit codes: 0 ok, 1 daemon error, 64 usage,\n"
               "69 daemon unreachable, 77 permission denied.\n");
}

static int cmd_help(int argc, char **argv)
{
    int n;
    int rc = parse_opts(argc, argv, (const struct opt[]){{NULL}}, &n);
    if (rc || (rc = want_args(argv[0], n, 0, 1)))
        return rc;
    if (n == 0) {
        print_usage(stdout);
        return 0;
    }
    const struct command *c = find_command(argv[1]);
    if (!c)
        return usage_error("help", "unknown command \"%s\"", argv[1]);
    printf("usage: gortctl %s%s%s\n\n%s.\n", c->name, *c->args ? " " : "", c->args, c->summary);
    if (c->help)
        printf("\n%s\n", c->help);
    return 0;
}

int usage_error(const char *cmd, const char *fmt, ...)
{
    if (strcmp(cmd, "gortctl") == 0)
        fputs("gortctl: ", stderr);
    else
        fprintf(stderr, "gortctl: %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    const struct command *c = find_command(cmd);
    if (c)
        fprintf(stderr, "usage: gortctl %s%s%s\n", c->name, *c->args ? " " : "", c->args);
    else
        fprintf(stderr, "usage: gortctl [options] COMMAND [ARGS]; gortctl help lists the commands\n");
    return EX_USAGE;
}

int want_args(const char *cmd, int npos, int min, int max)
{
    if (npos < min)
        return usage_error(cmd, "missing argument (see the usage below)");
    if (max >= 0 && npos > max)
        return usage_error(cmd, "unexpected argument (takes %s%d)", max == min ? "" : "at most ",
                           max);
    return 0;
}

static bool is_negative_number(const char *s)
{
    return s[0] == '-' && s[1] >= '0' && s[1] <= '9';
}

int parse_opts(int argc, char **argv, const struct opt *specs, int *npos)
{
    const char *cmd = argv[0];
    int n = 0;
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        char *w = argv[i];
        if (opts_done || w[0] != '-' || w[1] == '\0' || is_negative_number(w)) {
            argv[1 + n++] = w;
            continue;
        }
        if (strcmp(w, "--") == 0) {
            opts_done = true;
            continue;
        }
        if (w[1] != '-')
            return usage_error(cmd, "unknown option \"%s\"", w);
        const char *name = w + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = specs;
        while (o->name && !(strlen(o->name) == nlen && strncmp(o->name, name, nlen) == 0))
            o++;
        if (!o->name)
            return usage_error(cmd, "unknown option \"--%.*s\"", (int)nlen, name);
        if (!o->has_arg) {
            if (eq)
                return usage_error(cmd, "option \"--%s\" takes no value", o->name);
            *o->flag = true;
            continue;
        }
        if (eq) {
            *o->value = eq + 1;
        } else {
            if (i + 1 >= argc)
                return usage_error(cmd, "option \"--%s\" needs a value", o->name);
            *o->value = argv[++i];
        }
    }
    *npos = n;
    return 0;
}

static void on_interrupt(int sig)
{
    (void)sig;
    ctl_interrupted = 1;
}

/* The signal mask while ctl_poll waits, once a signal is deferred. */
static sigset_t poll_mask;
static bool poll_masked;

void ctl_deliver_in_poll(int sig)
{
    sigset_t one, old;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_BLOCK, &one, &old);
    if (!poll_masked) {
        poll_mask = old;
        poll_masked = true;
    }
    sigdelset(&poll_mask, sig);
}

int ctl_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    if (!poll_masked)
        return poll(fds, n, timeout_ms);
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    return ppoll(fds, n, timeout_ms < 0 ? NULL : &ts, &poll_mask);
}

void ctl_catch_interrupts(void)
{
    /* No SA_RESTART, and delivered only inside ctl_poll: the wait returns
     * EINTR and the loop around it sees the flag, which can therefore
     * never be set between the loop's check and the wait. */
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    ctl_deliver_in_poll(SIGINT);
    ctl_deliver_in_poll(SIGTERM);
}

/* Take the global options out of argv, wherever they stand before "--".
 * Returns the new argc, or -1 after printing a usage error. */
static int take_global_options(int argc, char **argv, const char **color, bool *help)
{
    int out = 1;
    bool done = false;
    for (int i = 1; i < argc; i++) {
        char *w = argv[i];
        if (done) {
            argv[out++] = w;
            continue;
        }
        if (strcmp(w, "--") == 0) {
            done = true;
            argv[out++] = w;
            continue;
        }
        const char **dst = NULL;
        const char *name = NULL;
        if (strncmp(w, "--socket", 8) == 0 && (w[8] == '\0' || w[8] == '='))
            dst = &ctl.socket_flag, name = "--socket";
        else if (strncmp(w, "--color", 7) == 0 && (w[7] == '\0' || w[7] == '='))
            dst = color, name = "--color";
        if (dst) {
            size_t nl = strlen(name);
            if (w[nl] == '=') {
                *dst = w + nl + 1;
            } else if (i + 1 < argc) {
                *dst = argv[++i];
            } else {
                usage_error("gortctl", "option \"%s\" needs a value", name);
                return -1;
            }
            continue;
        }
        if (strcmp(w, "--json") == 0) {
            ctl.json = true;
            continue;
        }
        if (strcmp(w, "--help") == 0 || strcmp(w, "-h") == 0) {
            *help = true;
            continue;
        }
        argv[out++] = w;
    }
    argv[out] = NULL;
    return out;
}

int main(int argc, char **argv)
{
    const char *color = "auto";
    bool help = false;
    argc = take_global_options(argc, argv, &color, &help);
    if (argc < 0)
        return EX_USAGE;
    if (strcmp(color, "always") == 0)
        ctl.color = true;
    else if (strcmp(color, "never") == 0)
        ctl.color = false;
    else if (strcmp(color, "auto") == 0)
        ctl.color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") &&
                    !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0);
    else
        return usage_error("gortctl", "--color must be auto, always or never, got \"%s\"", color);
    if (ctl.socket_flag && !*ctl.socket_flag)
        return usage_error("gortctl", "--socket needs a path");

    if (help) {
        /* --help anywhere: the command's help, or the list. */
        char *hargv[] = {"help", argc > 1 && find_command(argv[1]) ? argv[1] : NULL, NULL};
        return cmd_help(hargv[1] ? 2 : 1, hargv);
    }
    if (argc < 2) {
        print_usage(stderr);
        return EX_USAGE;
    }
    const struct command *c = find_command(argv[1]);
    if (!c)
        return usage_error("gortctl", "unknown command \"%s\"", argv[1]);
    /* Every word may end up in a JSON string, which must be UTF-8. */
    for (int i = 2; i < argc; i++) {
        json_t *probe = json_string(argv[i]);
        if (!probe)
            return usage_error(c->name, "argument %d is not valid UTF-8", i - 1);
        json_decref(probe);
    }
    ctl.cmd = c->name;
    int rc = c->run(argc - 1, argv + 1);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "gortctl: writing the output: %s\n", strerror(errno));
        rc = EX_IOERR;
    }
    return rc;
}
