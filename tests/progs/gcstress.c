/*
 * gcstress.c - mutators relink a graph through GORT_STORE while the
 * collector runs back to back (test_gc.c runs it with GODEBUG=gccheckmark=1
 * and GOMAXPROCS=2).
 *
 * The graph: a heap array of slot pointers (reachable from a global) to
 * typed nodes, each with four child edges.  Mutators, at random: relink an
 * edge; replace a slot's node by a fresh copy (the old one becomes garbage
 * unless an edge still reaches it); and carry a node through their stack:
 * take it out of its slot (the slot is cleared), yield so that the
 * collector can scan the stack and the world can move on, and put it back.
 * Every node carries a tag derived from its address; walking the graph
 * checks every tag, so a node freed while reachable (its memory zeroed or
 * reused) is caught even without gccheckmark, which catches it earlier.
 *
 * usage: gcstress CYCLES [NODES [nobarrier]]
 * prints "cycles=N num_gc=G walks=W nodes_checked=K".  With nobarrier the
 * stack carry stores plainly, the bug gccheckmark exists to catch.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gort/gort.h>

#define NCHILD 4
#define MAGIC 0x5eed5eed5eed5eedull

typedef struct node {
    struct node *child[NCHILD];
    uint64_t tag;
    uint64_t pad[3];
} node;

GORT_TYPE(node_type, node, child[0], child[1], child[2], child[3]);

typedef struct slots {
    node **v;
} slots;

static volatile long nslots;
static node **volatile graph;          /* a global: a root */
static _Atomic int stop;
static _Atomic unsigned cycles;
static _Atomic unsigned long long walks, checked;
static gort_waitgroup wg;
static int nobarrier;

/* The stores of the stack carry, with or without the barrier. */
#define CARRY_STORE(lv, v)       \
    do {                         \
        if (nobarrier)           \
            (lv) = (v);          \
        else                     \
            GORT_STORE(lv, v);   \
    } while (0)

/* Fields other goroutines may be storing to are read with acquire loads
 * (GORT_STORE stores with release). */
#define LD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)

static uint64_t tag_of(const node *n)
{
    return MAGIC ^ (uint64_t)(uintptr_t)n;
}

static node *newnode(void)
{
    node *n = gort_new(&node_type);
    n->tag = tag_of(n);
    return n;
}

static void bad(const node *n, const char *where)
{
    fprintf(stderr, "gcstress: node %p has tag %#llx, want %#llx (%s)\n", (const void *)n,
            (unsigned long long)n->tag, (unsigned long long)tag_of(n), where);
    exit(3);
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void mutator(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    node **g = graph;
    long n = nslots;
    unsigned long ops = 0;
    while (!atomic_load(&stop)) {
        long i = (long)(rnd(&seed) % (uint64_t)n), j = (long)(rnd(&seed) % (uint64_t)n);
        int k = (int)(rnd(&seed) % NCHILD);
        node *a = LD(g[i]), *b = LD(g[j]);
        switch (rnd(&seed) % 4) {
        case 0:
            /* Relink an edge. */
            if (a) {
                if (a->tag != tag_of(a))
                    bad(a, "relink");
                GORT_STORE(a->child[k], b);
            }
            break;
        case 1: {
            /* Replace a node by a copy; the old one lives on if an edge
             * reaches it. */
            if (!a)
                break;
            node *c = newnode();
            for (int e = 0; e < NCHILD; e++)
                GORT_STORE(c->child[e], LD(a->child[e]));
            GORT_STORE(g[i], c);
            break;
        }
        case 2: {
            /* Carry a node on the stack only, across a yield. */
            if (!a)
                break;
            CARRY_STORE(g[i], NULL);
            gort_gosched();
            if (a->tag != tag_of(a))
                bad(a, "carried");
            CARRY_STORE(g[j], a);
            /* j's old node may be gone now; i gets a fresh one. */
            GORT_STORE(g[i], newnode());
            break;
        }
        default: {
            /* Take a grandchild up through a child edge. */
            node *c = a ? LD(a->child[k]) : NULL;
            if (c) {
                if (c->tag != tag_of(c))
                    bad(c, "child");
                node *gc = LD(c->child[(k + 1) % NCHILD]);
                GORT_STORE(c->child[(k + 1) % NCHILD], NULL);
                GORT_STORE(a->child[k], gc);
            }
            break;
        }
        }
        if (++ops % 256 == 0)
            gort_gosched();
    }
    gort_waitgroup_done(&wg);
}

/* Walk everything reachable (depth-limited per slot; tags checked). */
static unsigned long long walk(void)
{
    node **g = graph;
    unsigned long long k = 0;
    for (long i = 0; i < nslots; i++) {
        node *a = LD(g[i]);
        if (!a)
            continue;
        if (a->tag != tag_of(a))
            bad(a, "walk slot");
        k++;
        for (int e = 0; e < NCHILD; e++) {
            node *c = LD(a->child[e]);
            if (!c)
                continue;
            if (c->tag != tag_of(c))
                bad(c, "walk child");
            k++;
            for (int f = 0; f < NCHILD; f++) {
                node *d = LD(c->child[f]);
                if (d && d->tag != tag_of(d))
                    bad(d, "walk grandchild");
            }
        }
    }
    return k;
}

static void walker(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        atomic_fetch_add(&checked, walk());
        atomic_fetch_add(&walks, 1);
        gort_gosched();
    }
    gort_waitgroup_done(&wg);
}

struct args {
    unsigned cycles;
    long nodes;
};

static void body(void *argp)
{
    struct args *a = argp;
    nslots = a->nodes;
    graph = gort_new_array(&(gort_type){"node*", sizeof(node *), 1, (const size_t[]){0}}, (size_t)a->nodes);
    for (long i = 0; i < a->nodes; i++)
        GORT_STORE(graph[i], newnode());
    gort_waitgroup_add(&wg, 3);
    gort_go(mutator, (void *)1);
    gort_go(mutator, (void *)2);
    gort_go(walker, NULL);
    while (atomic_load(&cycles) < a->cycles) {
        gort_gc();
        atomic_fetch_add(&cycles, 1);
    }
    atomic_store(&stop, 1);
    gort_waitgroup_wait(&wg);
    atomic_fetch_add(&checked, walk());
    gort_memstats ms;
    gort_read_memstats(&ms);
    printf("cycles=%u num_gc=%u walks=%llu nodes_checked=%llu\n", atomic_load(&cycles), ms.num_gc,
           (unsigned long long)atomic_load(&walks), (unsigned long long)atomic_load(&checked));
}

int main(int argc, char **argv)
{
    struct args a = {200, 20000};
    if (argc > 1)
        a.cycles = (unsigned)strtoul(argv[1], NULL, 10);
    if (argc > 2)
        a.nodes = strtol(argv[2], NULL, 10);
    if (argc > 3)
        nobarrier = strcmp(argv[3], "nobarrier") == 0;
    if (a.cycles == 0 || a.nodes <= 0) {
        fprintf(stderr, "usage: gcstress CYCLES [NODES]\n");
        return 2;
    }
    return gort_main(body, &a);
}
