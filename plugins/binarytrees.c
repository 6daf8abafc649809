/*
 * binarytrees - the Computer Language Benchmarks Game's binary-trees, as
 * a task that repeats it until stopped: an allocation-heavy load for the
 * collector, spread over goroutines.
 *
 * What it shows:
 *   - many short-lived precisely typed objects (gort_new) and one
 *     long-lived structure that survives every collection of a round;
 *   - goroutines of a task that watch the task's done channel themselves
 *     and end before the task returns (a WaitGroup);
 *   - a long computation that reaches a safe point (gort_safepoint) and
 *     checks for a stop request every few thousand nodes, so that a stop
 *     takes effect within milliseconds even at a large depth.
 *
 * Task "run" [depth=16], depth in 4..22: each round builds and checks a
 * "stretch" tree of depth+1, builds a long-lived tree of depth, then
 * checks 2^(depth - d + 4) trees of each depth d = 4, 6, ..., depth, one
 * goroutine per d, and finally checks the long-lived tree.  Every check
 * is compared with the node count of a full tree (2^(d+1) - 1 per tree):
 * a mismatch means the heap lost or corrupted a node, and panics.  One
 * line per round; rounds shorter than a second share one, with their
 * average time:
 *
 *     binarytrees: round 3: depth 16, 87376 trees of depth 4..16, stretch 262143, long-lived 131071 nodes, 731 ms a round
 *     binarytrees: rounds 5-291: depth 10, 1360 trees of depth 4..10, stretch 4095, long-lived 2047 nodes, 3 ms a round
 *
 *     {"cmd":"task.start","args":{"plugin":"binarytrees","task":"run","args":["18"]}}
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <gort/plugin.h>

#define BT_MIN_DEPTH 4
#define BT_MAX_DEPTH 22   /* its stretch tree (depth 23) is 16 M nodes, 256 MiB */
#define BT_MAX_WORKERS ((BT_MAX_DEPTH - BT_MIN_DEPTH) / 2 + 1)
/* Nodes built or checked between two looks at the done channel and the
 * scheduler: a few tens of microseconds of work. */
#define BT_CHECK_EVERY 4096
#define BT_REPORT_EVERY GORT_S

struct bt_node {
    struct bt_node *left, *right;
};
GORT_TYPE(bt_node_type, struct bt_node, left, right);

/* One goroutine's share of a round.  budget counts nodes down to the next
 * look at the done channel; stopped latches what it saw. */
struct bt_work {
    gort_task *t;
    int depth;            /* of each tree */
    int64_t iterations;   /* trees to build and check */
    int64_t check;        /* sum of their checks */
    unsigned budget;
    bool stopped;
    gort_waitgroup *wg;
};

/* Called once per node built or checked.  Every BT_CHECK_EVERY nodes it
 * offers a safe point (checking allocates nothing, so it would otherwise
 * reach none) and looks at the done channel.  True once the task has been asked to
 * stop. */
static bool bt_stopping(struct bt_work *w)
{
    if (--w->budget == 0) {
        w->budget = BT_CHECK_EVERY;
        gort_safepoint();
        if (!w->stopped)
            w->stopped = gort_task_stopping(w->t);
    }
    return w->stopped;
}

/* A full tree of the given depth, or, once stopping, whatever part of it
 * was built (its check no longer matters).  Each node is reachable from
 * this goroutine's stack while its children are built. */
static struct bt_node *bt_bottom_up(struct bt_work *w, int depth)
{
    struct bt_node *n = gort_new(&bt_node_type);
    if (depth > 0 && !bt_stopping(w)) {
        GORT_STORE(n->left, bt_bottom_up(w, depth - 1));
        GORT_STORE(n->right, bt_bottom_up(w, depth - 1));
    }
    return n;
}

/* The number of nodes (meaningless once stopping). */
static int64_t bt_check(struct bt_work *w, const struct bt_node *n)
{
    if (!n->left || bt_stopping(w))
        return 1;
    return 1 + bt_check(w, n->left) + bt_check(w, n->right);
}

static int64_t bt_full(int depth)
{
    return ((int64_t)1 << (depth + 1)) - 1;
}

/* What a check that completed must be: anything else is a heap bug. */
static void bt_verify(const struct bt_work *w, const char *what, int64_t got, int64_t want)
{
    if (!w->stopped && got != want)
        gort_panicf("binarytrees: %s of depth %d: check %" PRId64 ", want %" PRId64 " (a heap bug)", what,
                    w->depth, got, want);
}

/* Build and check w->iterations trees of w->depth. */
static void bt_trees(struct bt_work *w)
{
    w->check = 0;
    for (int64_t i = 0; i < w->iterations && !w->stopped; i++)
        w->check += bt_check(w, bt_bottom_up(w, w->depth));
    bt_verify(w, "trees", w->check, w->iterations * bt_full(w->depth));
}

static void bt_worker_done(void *arg)
{
    gort_waitgroup_done(arg);
}

/* Deferred, the WaitGroup is released even if a check panics: the task
 * then returns instead of waiting for good. */
static void bt_worker(void *arg)
{
    struct bt_work *w = arg;
    gort_defer(bt_worker_done, w->wg);
    bt_trees(w);
}

/* What a round's goroutines share.  It lives in the heap, not on the
 * task's stack, so that it outlives the task should the task panic while
 * workers still run (they then see done closed and end). */
struct bt_round {
    gort_waitgroup wg;
    int nworks;
    struct bt_work works[BT_MAX_WORKERS];
};

/* One round: the trees it checked, or -1 when a stop cut it short.  Every
 * check that completed was verified. */
static int64_t bt_round(gort_task *t, int max_depth)
{
    struct bt_work stretch = {.t = t, .depth = max_depth + 1, .budget = BT_CHECK_EVERY};
    struct bt_work longlived = {.t = t, .depth = max_depth, .budget = BT_CHECK_EVERY};

    int64_t got = bt_check(&stretch, bt_bottom_up(&stretch, stretch.depth));
    bt_verify(&stretch, "the stretch tree", got, bt_full(stretch.depth));
    struct bt_node *keep = bt_bottom_up(&longlived, longlived.depth);

    struct bt_round *r = gort_alloc(sizeof *r);   /* scanned: holds t and the WaitGroup's waiters */
    for (int d = BT_MIN_DEPTH; d <= max_depth; d += 2) {
        struct bt_work *w = &r->works[r->nworks++];
        w->depth = d;
        w->iterations = (int64_t)1 << (max_depth - d + BT_MIN_DEPTH);
        w->budget = BT_CHECK_EVERY;
        GORT_STORE(w->t, t);   /* pointers into a heap object: through the barrier */
        GORT_STORE(w->wg, &r->wg);
        gort_waitgroup_add(&r->wg, 1);
        if (gort_go(bt_worker, w) != 0)
            gort_pcall(bt_worker, w);   /* no goroutine to be had: do that share here */
    }
    gort_waitgroup_wait(&r->wg);   /* the workers watch done themselves */

    got = bt_check(&longlived, keep);
    bt_verify(&longlived, "the long-lived tree", got, bt_full(longlived.depth));

    bool stopped = stretch.stopped || longlived.stopped;
    int64_t trees = 0;
    for (int i = 0; i < r->nworks; i++) {
        stopped = stopped || r->works[i].stopped;
        trees += r->works[i].iterations;
    }
    return stopped ? -1 : trees;
}

/* One line per round; rounds shorter than BT_REPORT_EVERY share a line, so
 * that a small depth does not flood the log. */
static void bt_run(gort_task *t)
{
    if (t->argc > 1)
        gort_panicf("binarytrees: run takes at most one argument (depth), got %d", t->argc);
    int depth = (int)gort_task_arg_int(t, 0, "depth", 16, BT_MIN_DEPTH, BT_MAX_DEPTH);
    int64_t first = 1, since = gort_nanotime(), trees;
    for (int64_t round = 1; !gort_task_stopping(t) && (trees = bt_round(t, depth)) >= 0; round++) {
        int64_t now = gort_nanotime();
        if (now - since < BT_REPORT_EVERY)
            continue;
        int64_t n = round - first + 1;
        char rounds[48];
        if (n == 1)
            snprintf(rounds, sizeof rounds, "round %" PRId64, round);
        else
            snprintf(rounds, sizeof rounds, "rounds %" PRId64 "-%" PRId64, first, round);
        fprintf(stderr,
                "binarytrees: %s: depth %d, %" PRId64 " trees of depth %d..%d, stretch %" PRId64
                ", long-lived %" PRId64 " nodes, %" PRId64 " ms a round\n",
                rounds, depth, trees, BT_MIN_DEPTH, depth, bt_full(depth + 1), bt_full(depth),
                (now - since) / n / GORT_MS);
        first = round + 1;
        since = now;
    }
}

static const gort_task_def bt_tasks[] = {
    {.name = "run", .run = bt_run, .summary = "binary-trees rounds until stopped [depth=16]"},
    {0},
};

GORT_PLUGIN(.name = "binarytrees", .version = "1.0",
            .summary = "the benchmarks game's binary-trees, repeated: a load for the collector",
            .tasks = bt_tasks);
