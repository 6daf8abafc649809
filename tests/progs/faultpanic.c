/*
 * faultpanic - faults in the faulty test plugin, whose code the program
 * registers with gort_fault_range_add (tests/faultutil.h).  The second
 * argument is the path of libfaulty.so.
 *
 *   faultpanic uncontained PLUGIN
 *                      the main goroutine prints "faulting function 0x..."
 *                      (the address of faulty_read_nil) and calls it;
 *                      nothing recovers the panic, so the process prints
 *                      Go's report with its signal line,
 *                        panic: runtime error: invalid memory address or nil pointer dereference
 *                        [signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x...]
 *                      then the goroutine dump, and exits 2
 *   faultpanic removed PLUGIN
 *                      a null dereference under gort_pcall is recovered
 *                      ("recovered: <message>"); the ranges are removed
 *                      ("removed") and the same fault then kills the
 *                      process with SIGSEGV, as it would without the
 *                      runtime (no core file: RLIMIT_CORE is 0)
 *
 * stdout is flushed after every line because the process dies without
 * returning from main.  A line that must never appear: "survived".  A
 * setup error is printed on stderr and exits 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <gort/gort.h>

#include "../faultutil.h"

static struct {
    const char *mode;
    const char *plugin;
    struct faulty f;
} fp;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static void recover_into(void *arg)
{
    *(gort_panic_info **)arg = gort_recover();
}

static void read_nil_recovering(void *arg)
{
    gort_defer(recover_into, arg);
    fp.f.read_nil();
}

static void uncontained(void)
{
    say("faulting function %p\n", (void *)fp.f.read_nil);
    fp.f.read_nil();
}

static void removed(void)
{
    gort_panic_info *got = NULL;
    gort_panic_info *p = gort_pcall(read_nil_recovering, &got);
    say("recovered: %s\n", p != NULL && p == got ? gort_panic_message(p) : "(nothing)");
    int rc = faulty_unregister(&fp.f);
    if (rc != 0) {
        fprintf(stderr, "faultpanic: gort_fault_range_remove: %s\n", gort_strerror(rc));
        exit(1);
    }
    say("removed\n");
    struct rlimit none = { 0, 0 };
    setrlimit(RLIMIT_CORE, &none);
    fp.f.read_nil();
}

static void entry(void *arg)
{
    if (!faulty_open(fp.plugin, &fp.f))
        exit(1);
    int rc = faulty_register(&fp.f);
    if (rc != 0) {
        fprintf(stderr, "faultpanic: gort_fault_range_add: %s\n", gort_strerror(rc));
        exit(1);
    }
    if (strcmp(fp.mode, "uncontained") == 0)
        uncontained();
    else if (strcmp(fp.mode, "removed") == 0)
        removed();
    else {
        fprintf(stderr, "faultpanic: unknown mode %s\n", fp.mode);
        exit(1);
    }
    say("survived\n");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: faultpanic uncontained|removed PLUGIN\n");
        return 1;
    }
    fp.mode = argv[1];
    fp.plugin = argv[2];
    return gort_main(entry, NULL) == 0 ? 0 : 1;
}
