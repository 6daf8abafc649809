/*
 * chanstress - producers and consumers hammering one buffered channel,
 * with an exact account of what went through it.
 *
 * What it shows:
 *   - gort_select with the task's done channel as one case, on both ends:
 *     a producer blocked on a full channel and a consumer blocked on an
 *     empty one both wake when the task is asked to stop;
 *   - a task that makes its goroutines end (a WaitGroup) before it
 *     returns, then settles what is left in the channel;
 *   - per-goroutine counters read for a progress line with relaxed
 *     atomics, and exactly after the WaitGroup.
 *
 * Task "run" [producers=4, consumers=4, cap=64]: producers (1..1000) send
 * the numbers 1, 2, 3, ... over a channel of cap (0..65536) uint64_t
 * slots; consumers (1..1000) receive them.  Every 10 s the task prints the
 * rate.  When stopped it waits for all of them, receives what is still
 * buffered, and prints the totals:
 *
 *     chanstress: stopped: sent 2164482 (sum 597022058314), received 2164482 (sum 597022058314), 3 of them drained from the buffer at stop
 *
 * Sent and received counts and sums (modulo 2^64) must match exactly; if
 * they do not, the channel lost or duplicated a value, and the task
 * panics.
 *
 *     {"cmd":"task.start","args":{"plugin":"chanstress","task":"run","args":["8","2","0"]}}
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <gort/plugin.h>

#define CS_MAX_WORKERS 1000
#define CS_MAX_CAP 65536
#define CS_REPORT_EVERY (10 * GORT_S)

/* What a task's goroutines share.  In the heap rather than on the task's
 * stack, so that it outlives the task however the task ends. */
struct cs_run {
    gort_task *t;
    gort_chan *ch;
    gort_waitgroup wg;
};

/* One producer's or consumer's counts.  Written only by its goroutine;
 * relaxed, because the progress line needs no exact snapshot and the final
 * read happens after gort_waitgroup_wait, which orders it after the last
 * write. */
struct cs_worker {
    struct cs_run *run;
    _Atomic uint64_t n, sum;
};

static void cs_count(struct cs_worker *w, uint64_t v)
{
    atomic_store_explicit(&w->n, atomic_load_explicit(&w->n, memory_order_relaxed) + 1, memory_order_relaxed);
    atomic_store_explicit(&w->sum, atomic_load_explicit(&w->sum, memory_order_relaxed) + v, memory_order_relaxed);
}

static void cs_worker_done(void *arg)
{
    gort_waitgroup_done(arg);
}

/* Send 1, 2, 3, ... until done.  A value counts as sent only when the send
 * case was chosen: a select that picks done sends nothing. */
static void cs_producer(void *arg)
{
    struct cs_worker *w = arg;
    gort_defer(cs_worker_done, &w->run->wg);
    uint64_t next = 1;
    gort_select_case cases[] = {
        {.c = w->run->t->done, .dir = GORT_RECV},
        {.c = w->run->ch, .dir = GORT_SEND, .elem = &next},
    };
    while (gort_select(cases, 2, true) == 1) {
        cs_count(w, next);
        next++;
    }
}

/* Receive until done.  The channel is never closed, so every receive
 * carries a value. */
static void cs_consumer(void *arg)
{
    struct cs_worker *w = arg;
    gort_defer(cs_worker_done, &w->run->wg);
    uint64_t v;
    gort_select_case cases[] = {
        {.c = w->run->t->done, .dir = GORT_RECV},
        {.c = w->run->ch, .dir = GORT_RECV, .elem = &v},
    };
    while (gort_select(cases, 2, true) == 1)
        cs_count(w, v);
}

/* Start n goroutines running fn on ws[0..n); returns how many started. */
static int cs_start(struct cs_run *run, struct cs_worker *ws, int n, gort_fn fn, const char *what)
{
    for (int i = 0; i < n; i++) {
        GORT_STORE(ws[i].run, run);
        gort_waitgroup_add(&run->wg, 1);
        int err = gort_go(fn, &ws[i]);
        if (err) {
            gort_waitgroup_done(&run->wg);
            fprintf(stderr, "chanstress: started %d of %d %s: %s\n", i, n, what, gort_strerror(err));
            return i;
        }
    }
    return n;
}

static void cs_total(const struct cs_worker *ws, int n, uint64_t *count, uint64_t *sum)
{
    *count = *sum = 0;
    for (int i = 0; i < n; i++) {
        *count += atomic_load_explicit(&ws[i].n, memory_order_relaxed);
        *sum += atomic_load_explicit(&ws[i].sum, memory_order_relaxed);
    }
}

static void cs_run(gort_task *t)
{
    if (t->argc > 3)
        gort_panicf("chanstress: run takes at most three arguments (producers, consumers, cap), got %d", t->argc);
    int np = (int)gort_task_arg_int(t, 0, "producers", 4, 1, CS_MAX_WORKERS);
    int nc = (int)gort_task_arg_int(t, 1, "consumers", 4, 1, CS_MAX_WORKERS);
    size_t cap = (size_t)gort_task_arg_int(t, 2, "cap", 64, 0, CS_MAX_CAP);

    gort_chan *ch = gort_chan_make(sizeof(uint64_t), cap);
    if (!ch)
        gort_panicf("chanstress: run: cannot make a channel of %zu slots: %s", cap, gort_strerror(-errno));
    struct cs_run *run = gort_alloc(sizeof *run);
    GORT_STORE(run->t, t);
    GORT_STORE(run->ch, ch);
    struct cs_worker *prod = gort_alloc(np * sizeof *prod);
    struct cs_worker *cons = gort_alloc(nc * sizeof *cons);
    np = cs_start(run, prod, np, cs_producer, "producers");
    nc = cs_start(run, cons, nc, cs_consumer, "consumers");

    uint64_t last = 0;
    while (gort_task_sleep(t, CS_REPORT_EVERY)) {
        uint64_t n, sum;
        cs_total(cons, nc, &n, &sum);
        fprintf(stderr, "chanstress: %" PRIu64 " values/s over %d producers, %d consumers, cap %zu\n",
                (n - last) / (CS_REPORT_EVERY / GORT_S), np, nc, cap);
        last = n;
    }

    gort_waitgroup_wait(&run->wg);   /* every goroutine saw done and ended */
    uint64_t sent, sent_sum, recvd, recvd_sum, left = 0;
    cs_total(prod, np, &sent, &sent_sum);
    cs_total(cons, nc, &recvd, &recvd_sum);
    uint64_t v;
    while (gort_chan_tryrecv(run->ch, &v, NULL)) {
        recvd++;
        recvd_sum += v;
        left++;
    }
    fprintf(stderr,
            "chanstress: stopped: sent %" PRIu64 " (sum %" PRIu64 "), received %" PRIu64 " (sum %" PRIu64
            "), %" PRIu64 " of them drained from the buffer at stop\n",
            sent, sent_sum, recvd, recvd_sum, left);
    if (sent != recvd || sent_sum != recvd_sum)
        gort_panicf("chanstress: sent %" PRIu64 " values (sum %" PRIu64 ") but received %" PRIu64
                    " (sum %" PRIu64 ")",
                    sent, sent_sum, recvd, recvd_sum);
}

static const gort_task_def cs_tasks[] = {
    {.name = "run", .run = cs_run,
     .summary = "producers and consumers on one buffered channel [producers=4, consumers=4, cap=64]"},
    {0},
};

GORT_PLUGIN(.name = "chanstress", .version = "1.0",
            .summary = "channel and select stress with an exact sent/received account", .tasks = cs_tasks);
