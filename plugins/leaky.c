/*
 * leaky - a slow memory leak on demand, and its cure.
 *
 * What it shows:
 *   - state shared by a plugin's tasks through a static pointer, guarded
 *     by a gort_mutex (which parks goroutines, never the thread);
 *   - gort_root_add in init and gort_root_remove in fini: fini must undo
 *     what the plugin registered with the runtime, since the plugin's data
 *     is unmapped after it;
 *   - pointer stores into a global and into heap objects through
 *     GORT_STORE;
 *   - what a leak looks like from outside: heap_alloc, RSS and the heap
 *     goal climb while the collector finds everything still reachable,
 *     then fall after "reset" and the next collection.
 *
 * Task "grow" [bytes_per_second=1048576, max_mb=256]: every 10 ms it
 * allocates what the rate asks for in 4 KiB chunks, fills them (so that
 * the pages really are resident) and links them into one list that stays
 * reachable, until everything retained (by every instance of grow) reaches
 * max_mb; then it holds, and grows again once a reset has dropped the
 * list.  bytes_per_second is in 1..4294967296, max_mb in 1..1048576.
 * Task "reset" (no arguments) drops the whole list, prints what it dropped
 * and returns; the memory is freed by the next collection.
 *
 *     {"cmd":"task.start","args":{"plugin":"leaky","task":"grow","args":["4194304","512"]}}
 *     {"cmd":"task.start","args":{"plugin":"leaky","task":"reset"}}
 *     {"cmd":"gc"}
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gort/plugin.h>

#define LEAKY_CHUNK 4096
#define LEAKY_TICK (10 * GORT_MS)
#define LEAKY_MAX_RATE ((long long)1 << 32)
#define LEAKY_MAX_MB (1024 * 1024)
/* Chunks allocated between two looks at the done channel (1 MiB). */
#define LEAKY_STOP_CHECK 256
/* Links cut by reset between two safe points. */
#define LEAKY_CUT_BATCH 4096

/* One retained chunk: the data is pointer-free, the link is not. */
struct leaky_chunk {
    struct leaky_chunk *next;
    unsigned char *data;
};
GORT_TYPE(leaky_chunk_type, struct leaky_chunk, next, data);

/* The retained list, shared by every task of the plugin.  The collector
 * scans the plugin's data and bss anyway; registering the pointer states
 * the intent, and would be needed if it lived in malloc'd memory. */
static struct leaky_chunk *leaky_head;
static uint64_t leaky_bytes, leaky_chunks;
static gort_mutex leaky_mu = GORT_MUTEX_INIT;   /* protects leaky_head, leaky_bytes, leaky_chunks */

static struct leaky_chunk *leaky_chunk_new(uint64_t seq)
{
    struct leaky_chunk *c = gort_new(&leaky_chunk_type);
    unsigned char *data = gort_alloc_noscan(LEAKY_CHUNK);
    memset(data, (int)(seq & 0xff) | 1, LEAKY_CHUNK);   /* nonzero: the pages become resident */
    GORT_STORE(c->data, data);
    return c;
}

/* Bytes retained now, by every instance. */
static uint64_t leaky_retained(void)
{
    gort_mutex_lock(&leaky_mu);
    uint64_t bytes = leaky_bytes;
    gort_mutex_unlock(&leaky_mu);
    return bytes;
}

/* Link c into the list unless that would take it past max bytes (another
 * instance may have grown it since leaky_retained). */
static void leaky_retain(struct leaky_chunk *c, uint64_t max)
{
    gort_mutex_lock(&leaky_mu);
    if (leaky_bytes + LEAKY_CHUNK <= max) {
        GORT_STORE(c->next, leaky_head);
        GORT_STORE(leaky_head, c);
        leaky_bytes += LEAKY_CHUNK;
        leaky_chunks++;
    }
    gort_mutex_unlock(&leaky_mu);
}

static void leaky_grow(gort_task *t)
{
    if (t->argc > 2)
        gort_panicf("leaky: grow takes at most two arguments (bytes_per_second, max_mb), got %d", t->argc);
    uint64_t rate = (uint64_t)gort_task_arg_int(t, 0, "bytes_per_second", 1048576, 1, LEAKY_MAX_RATE);
    uint64_t max = (uint64_t)gort_task_arg_int(t, 1, "max_mb", 256, 1, LEAKY_MAX_MB) << 20;

    /* The rate is kept over time, not per tick: a late tick makes up. */
    int64_t since = gort_nanotime();
    uint64_t allocated = 0;   /* since `since` */
    bool holding = false;
    while (gort_task_sleep(t, LEAKY_TICK)) {
        uint64_t due = (uint64_t)((double)rate * (double)(gort_nanotime() - since) / (double)GORT_S);
        for (uint64_t n = 1; allocated < due; n++) {
            uint64_t retained = leaky_retained();
            if (retained + LEAKY_CHUNK > max) {
                if (!holding)
                    fprintf(stderr, "leaky: grow: holding %" PRIu64 " MiB (max_mb reached)\n", retained >> 20);
                holding = true;
                since = gort_nanotime();   /* no burst to catch up after a reset */
                allocated = 0;
                break;
            }
            holding = false;
            leaky_retain(leaky_chunk_new(n), max);
            allocated += LEAKY_CHUNK;
            if (n % LEAKY_STOP_CHECK == 0 && gort_task_stopping(t))
                return;
        }
    }
}

/* Drop the list.  The collector scans stacks and registers
 * conservatively, so a stale copy of one chunk's address (a grow task's
 * dead local, say) would keep every chunk behind it alive: the links are
 * cut, so that such a copy keeps one chunk at most. */
static void leaky_reset(gort_task *t)
{
    if (t->argc > 0)
        gort_panicf("leaky: reset takes no arguments, got %d", t->argc);
    gort_mutex_lock(&leaky_mu);
    struct leaky_chunk *c = leaky_head;
    uint64_t bytes = leaky_bytes, chunks = leaky_chunks;
    GORT_STORE(leaky_head, NULL);
    leaky_bytes = leaky_chunks = 0;
    gort_mutex_unlock(&leaky_mu);
    for (uint64_t n = 1; c; n++) {
        struct leaky_chunk *next = c->next;
        GORT_STORE(c->next, NULL);
        c = next;
        if (n % LEAKY_CUT_BATCH == 0) {
            gort_safepoint();   /* a long list is milliseconds of pointer chasing */
            if (gort_task_stopping(t))
                break;          /* the rest stays linked: garbage all the same, barring a stale copy */
        }
    }
    fprintf(stderr, "leaky: reset: dropped %" PRIu64 " MiB in %" PRIu64 " chunks\n", bytes >> 20, chunks);
}

static int leaky_init(void)
{
    gort_root_add(&leaky_head, sizeof leaky_head);
    return 0;
}

static void leaky_fini(void)
{
    gort_root_remove(&leaky_head);
}

static const gort_task_def leaky_tasks[] = {
    {.name = "grow", .run = leaky_grow,
     .summary = "allocate and retain memory [bytes_per_second=1048576, max_mb=256]"},
    {.name = "reset", .run = leaky_reset, .summary = "drop everything grow retained"},
    {0},
};

GORT_PLUGIN(.name = "leaky", .version = "1.0", .summary = "a slow memory leak on demand",
            .init = leaky_init, .fini = leaky_fini, .tasks = leaky_tasks);
