/*
 * grouppanic - unrecovered panics in goroutine groups that do not contain
 * them.  A goroutine of the group prints "panicking goroutine N" and
 * panics with "boom"; the main goroutine waits (up to 10 s) and, if the
 * process is still alive, prints "main survived" and exits 0.
 *
 *   grouppanic handler-panics   the group's on_panic prints
 *                               "on_panic: <message>" and panics itself with
 *                               "panic in on_panic": that is fatal, and
 *                               both panics are printed, the earlier first,
 *                                 panic: boom
 *                                 	panic: panic in on_panic
 *                               then the dump of goroutine N; exit 2
 *   grouppanic no-handler       the group has no on_panic: the panic is
 *                               fatal as outside any group ("panic: boom",
 *                               the dump of goroutine N, exit 2)
 *
 * stdout is flushed after every line because the process dies without
 * returning from main.  Lines that must never appear: "main survived",
 * "after panic".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gort/gort.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static void on_panic_panics(void *ctx, gort_group *grp, const gort_panic_info *p)
{
    say("on_panic: %s\n", gort_panic_message(p));
    gort_panicf("panic in on_panic");
}

static void panicking(void *arg)
{
    say("panicking goroutine %" PRIu64 "\n", gort_goid());
    gort_panicf("boom");
    say("after panic\n");
}

static void entry(void *arg)
{
    const char *mode = arg;
    gort_group_panic_fn on_panic;
    if (strcmp(mode, "handler-panics") == 0)
        on_panic = on_panic_panics;
    else if (strcmp(mode, "no-handler") == 0)
        on_panic = NULL;
    else {
        fprintf(stderr, "grouppanic: unknown mode %s\n", mode);
        exit(1);
    }
    gort_group *grp = gort_group_new("grouppanic", on_panic, NULL);
    const gort_go_opts opts = { .group = grp };
    if (grp == NULL || gort_go_with(panicking, NULL, &opts) != 0) {
        fprintf(stderr, "grouppanic: cannot start the panicking goroutine\n");
        exit(1);
    }
    gort_sleep(10 * GORT_S);
    say("main survived\n");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: grouppanic handler-panics|no-handler\n");
        return 1;
    }
    return gort_main(entry, argv[1]) == 0 ? 0 : 1;
}
