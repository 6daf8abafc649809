/*
 * panicking - a panic that nothing recovers.  The runtime must print Go's
 * report on stderr ("panic: ..." lines, a blank line, then the goroutine
 * dump starting with the panicking goroutine as "goroutine N [running]:")
 * and exit with status 2.  What the program says on stdout lets the test
 * check what ran and what did not; stdout is flushed after every line
 * because the process dies without returning from main.
 *
 *   panicking main        the main goroutine defers a call (prints
 *                         "deferred ran") and panics with "boom"
 *   panicking goroutine   another goroutine prints "panicking goroutine N"
 *                         and panics with "boom in goroutine" while the
 *                         main goroutine sleeps
 *   panicking nested      a deferred call panics with "second" while
 *                         "first" is in flight: both are printed, the
 *                         earlier first, the later one on a line that
 *                         starts with a tab
 *   panicking recovered   as nested, but the deferred call recovers
 *                         "first" before it panics: Go marks it
 *                         " [recovered]"
 *   panicking triple      three panics, each raised by a deferred call
 *                         while the previous one is in flight
 *   panicking goexit      another goroutine ("exiting goroutine N") calls
 *                         gort_goexit; its deferred call panics with
 *                         "boom during goexit": only that panic is printed
 *   panicking closed      a goroutine ("sender goroutine N") blocks sending
 *                         on an unbuffered channel; once the main goroutine
 *                         sees it parked ("sender parked") it closes the
 *                         channel, and the sender dies with
 *                         "send on closed channel"
 *   panicking value       prints "value 0x..." and panics with that pointer
 *
 * One mode recovers, and exits 0:
 *
 *   panicking deferdefer  a deferred call run by a panic defers a call of
 *                         its own; an outer frame recovers.  Prints the
 *                         order of events ("log: d cleanup older
 *                         outer-recover" in Go's order) and
 *                         "recovered: <message>"
 *
 * Lines that must never appear: "after panic", "main survived",
 * "send returned", "gort_main returned".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
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

static void deferred_ran(void *arg)
{
    say("deferred ran\n");
}

static void panic_second(void *arg)
{
    gort_panicf("second");
}

static void recover_then_panic(void *arg)
{
    gort_panic_info *p = gort_recover();
    if (p == NULL)
        say("recover returned NULL\n");
    gort_panicf("second");
}

static void panic_third(void *arg)
{
    gort_panicf("third");
}

static void panic_during_goexit(void *arg)
{
    gort_panicf("boom during goexit");
}

static void goroutine_exits(void *arg)
{
    say("exiting goroutine %" PRIu64 "\n", gort_goid());
    gort_defer(panic_during_goexit, NULL);
    gort_goexit();
}

/* ---- deferdefer ---- */

static char events[128];

static void event(void *what)
{
    size_t n = strlen(events);
    snprintf(events + n, sizeof events - n, "%s%s", n ? " " : "", (const char *)what);
}

static void defers_cleanup(void *arg)
{
    event("d");
    gort_defer(event, "cleanup");
}

static void body_defer_in_defer(void *arg)
{
    gort_defer(event, "older");
    gort_defer(defers_cleanup, NULL);
    gort_panicf("with cleanup");
}

static void outer_recover(void *arg)
{
    gort_panic_info *p = gort_recover();
    event("outer-recover");
    *(gort_panic_info **)arg = p;
}

static void body_outer(void *arg)
{
    gort_defer(outer_recover, arg);
    gort_pcall(body_defer_in_defer, NULL);
    event("outer-after-pcall");
}

static void goroutine_panics(void *arg)
{
    say("panicking goroutine %" PRIu64 "\n", gort_goid());
    gort_panicf("boom in goroutine");
}

/* ---- closed ---- */

static gort_chan *chan;
static atomic_ullong sender_goid;

static void sender(void *arg)
{
    uint64_t goid = gort_goid();
    atomic_store(&sender_goid, goid);
    say("sender goroutine %" PRIu64 "\n", goid);
    int v = 1;
    gort_chan_send(chan, &v);
    say("send returned\n");
}

struct text {
    char *s;
    size_t len;
};

static void collect(void *ctx, const char *s, size_t n)
{
    struct text *t = ctx;
    char *ns = realloc(t->s, t->len + n + 1);
    if (ns == NULL)
        return;
    memcpy(ns + t->len, s, n);
    t->len += n;
    ns[t->len] = '\0';
    t->s = ns;
}

/* Does the goroutine dump show the sender parked in a channel send? */
static int sender_parked(void)
{
    uint64_t goid = atomic_load(&sender_goid);
    if (goid == 0)
        return 0;
    struct text t = { 0 };
    gort_dump_goroutines(collect, &t, NULL);
    char pat[96];
    snprintf(pat, sizeof pat, "^goroutine %" PRIu64 " \\[chan send[],]", goid);
    regex_t re;
    int found = 0;
    if (t.s != NULL && regcomp(&re, pat, REG_EXTENDED | REG_NEWLINE | REG_NOSUB) == 0) {
        found = regexec(&re, t.s, 0, NULL, 0) == 0;
        regfree(&re);
    }
    free(t.s);
    return found;
}

static void entry(void *arg)
{
    const char *mode = arg;
    if (strcmp(mode, "main") == 0) {
        gort_defer(deferred_ran, NULL);
        gort_panicf("boom");
    } else if (strcmp(mode, "goroutine") == 0) {
        if (gort_go(goroutine_panics, NULL) != 0)
            exit(1);
        gort_sleep(10 * GORT_S);
        say("main survived\n");
        return;
    } else if (strcmp(mode, "nested") == 0) {
        gort_defer(panic_second, NULL);
        gort_panicf("first");
    } else if (strcmp(mode, "triple") == 0) {
        gort_defer(panic_third, NULL);
        gort_defer(panic_second, NULL);
        gort_panicf("first");
    } else if (strcmp(mode, "goexit") == 0) {
        if (gort_go(goroutine_exits, NULL) != 0)
            exit(1);
        gort_sleep(10 * GORT_S);
        say("main survived\n");
        return;
    } else if (strcmp(mode, "recovered") == 0) {
        gort_defer(recover_then_panic, NULL);
        gort_panicf("first");
    } else if (strcmp(mode, "closed") == 0) {
        chan = gort_chan_make(sizeof(int), 0);
        if (chan == NULL || gort_go(sender, NULL) != 0)
            exit(1);
        int parked = 0;
        for (int i = 0; i < 5000 && !(parked = sender_parked()); i++)
            gort_sleep(GORT_MS);
        say(parked ? "sender parked\n" : "sender not parked\n");
        gort_chan_close(chan);
        gort_sleep(10 * GORT_S);
        say("main survived\n");
        return;
    } else if (strcmp(mode, "deferdefer") == 0) {
        gort_panic_info *got = NULL;
        gort_panic_info *p = gort_pcall(body_outer, &got);
        say("log: %s\n", events);
        say("recovered: %s\n", p != NULL && p == got ? gort_panic_message(p) : "(nothing)");
        return;
    } else if (strcmp(mode, "value") == 0) {
        static int target;
        say("value %p\n", (void *)&target);
        gort_panic(&target);
    } else {
        fprintf(stderr, "panicking: unknown mode %s\n", mode);
        exit(1);
    }
    say("after panic\n");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: panicking main|goroutine|nested|recovered|triple|goexit|closed|value|deferdefer\n");
        return 1;
    }
    int rc = gort_main(entry, argv[1]);
    say("gort_main returned %d\n", rc);
    return 0;
}
