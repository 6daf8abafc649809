/*
 * hello - the smallest useful task plugin: a periodic task that allocates
 * a little precisely typed garbage and stops as soon as it is asked to.
 *
 * What it shows:
 *   - the plugin descriptor (GORT_PLUGIN) with init, fini and an autostart
 *     task;
 *   - reading and checking a task argument (a bad one panics, which gortd
 *     contains and reports);
 *   - gort_task_sleep, which returns false once the task is asked to stop;
 *   - gort_new with a gort_type built by GORT_TYPE, pointer stores through
 *     GORT_STORE, and a ring of recent structures kept alive by the task's
 *     stack (goroutine stacks are roots) while older ones become garbage.
 *
 * Task "tick" [interval_ms=1000] (autostart, with the default interval):
 * every interval it builds a three-word message ("hello", "tick", N) as a
 * linked list and keeps the last HELLO_RING of them; it checks the oldest
 * one is still intact (a cheap canary for the collector) and prints
 * "hello: tick N" on every tenth tick.  init and fini print one line each;
 * fini says how many ticks all instances made ("hello: fini after N ticks").
 *
 *     {"cmd":"task.start","args":{"plugin":"hello","task":"tick","args":["500"]}}
 *     {"cmd":"task.stop","args":{"id":ID}}
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gort/plugin.h>

#define HELLO_RING 8
#define HELLO_WORDS 3
#define HELLO_MAX_INTERVAL_MS 3600000   /* an hour */

/* One word of a message.  text is a pointer-free copy of the word. */
struct hello_word {
    struct hello_word *next;
    char *text;
    int64_t tick;
};
GORT_TYPE(hello_word_type, struct hello_word, next, text);

/* Ticks made by every instance since load, for fini.  Relaxed: a plain
 * counter, read once after every task has ended. */
static _Atomic uint64_t hello_ticks;

static struct hello_word *hello_word_new(const char *text, int64_t tick, struct hello_word *next)
{
    struct hello_word *w = gort_new(&hello_word_type);
    size_t len = strlen(text);
    char *copy = gort_alloc_noscan(len + 1);
    memcpy(copy, text, len);   /* the terminator is already there: memory comes zeroed */
    w->tick = tick;
    GORT_STORE(w->text, copy);
    GORT_STORE(w->next, next);
    return w;
}

/* The message of tick n, built back to front: "hello" -> "tick" -> "<n>". */
static struct hello_word *hello_message(int64_t n)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, n);
    struct hello_word *w = hello_word_new(num, n, NULL);
    w = hello_word_new("tick", n, w);
    return hello_word_new("hello", n, w);
}

/* A message that the ring kept must read exactly as it was built: a word
 * freed under it and reused would show here. */
static void hello_check(const struct hello_word *m, int64_t n)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, n);
    const char *want[HELLO_WORDS] = {"hello", "tick", num};
    for (int i = 0; i < HELLO_WORDS; i++, m = m->next) {
        if (!m || m->tick != n || strcmp(m->text, want[i]) != 0)
            gort_panicf("hello: tick: the message of tick %" PRId64 " is corrupted at word %d", n, i);
    }
    if (m)
        gort_panicf("hello: tick: the message of tick %" PRId64 " has more than %d words", n, HELLO_WORDS);
}

static void hello_tick(gort_task *t)
{
    if (t->argc > 1)
        gort_panicf("hello: tick takes at most one argument (interval_ms), got %d", t->argc);
    int64_t interval = gort_task_arg_int(t, 0, "interval_ms", 1000, 1, HELLO_MAX_INTERVAL_MS) * GORT_MS;

    /* The ring lives on this goroutine's stack, which the collector scans:
     * the last HELLO_RING messages stay reachable, older ones are garbage. */
    struct hello_word *ring[HELLO_RING] = {0};
    for (int64_t n = 1; gort_task_sleep(t, interval); n++) {
        struct hello_word **slot = &ring[n % HELLO_RING];
        if (*slot)
            hello_check(*slot, n - HELLO_RING);
        *slot = hello_message(n);
        atomic_fetch_add_explicit(&hello_ticks, 1, memory_order_relaxed);
        if (n % 10 == 0)
            fprintf(stderr, "hello: tick %" PRId64 "\n", n);
    }
}

static int hello_init(void)
{
    fprintf(stderr, "hello: init\n");
    return 0;
}

static void hello_fini(void)
{
    fprintf(stderr, "hello: fini after %" PRIu64 " ticks\n",
            atomic_load_explicit(&hello_ticks, memory_order_relaxed));
}

static const gort_task_def hello_tasks[] = {
    {.name = "tick", .run = hello_tick, .summary = "allocate a small message every interval_ms (default 1000)",
     .autostart = true},
    {0},
};

GORT_PLUGIN(.name = "hello", .version = "1.0", .summary = "a periodic task that allocates a little",
            .init = hello_init, .fini = hello_fini, .tasks = hello_tasks);
