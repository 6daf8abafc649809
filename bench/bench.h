/*
 * bench.h - what every benchmark program (bench/PROGRAM.c) shares: the
 * result line, error exits, argument parsing, readings of
 * /proc/self/status and the run of one workload on a fresh runtime.  A
 * program defines its workload table and calls bench_main from main().
 *
 * A program runs as `PROGRAM WORKLOAD [N]` (or `PROGRAM WORKLOAD PROCS [N]`
 * for a workload that takes a GOMAXPROCS) and prints exactly one line,
 * "WORKLOAD key=value ...", on stdout.  Errors go to stderr with exit
 * status 1 (2 for usage), and no result line is printed.
 */
#ifndef GORT_BENCH_BENCH_H
#define GORT_BENCH_BENCH_H

#include <gort/gort.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The program's name in messages, set by bench_main. */
static const char *bench_prog = "bench";

/* The result line, written by the main goroutine, printed by bench_main. */
static char result[256];

static int64_t n_ops;   /* N */
static int n_procs;     /* PROCS, for workloads that take one */

static _Noreturn void die(const char *what, int err)
{
    fprintf(stderr, "%s: %s: %s\n", bench_prog, what, gort_strerror(err));
    exit(1);
}

/* A check failed: the runtime gave a wrong value or count. */
static _Noreturn __attribute__((unused)) void wrong(const char *workload, const char *what, long long got,
                                                   long long want)
{
    fprintf(stderr, "%s: %s: %s is %lld, want %lld\n", bench_prog, workload, what, got, want);
    exit(1);
}

static __attribute__((unused)) void spawn(gort_fn fn, void *arg)
{
    int err = gort_go(fn, arg);
    if (err < 0)
        die("gort_go", err);
}

/* The usual result: wall time per operation over ops operations. */
static __attribute__((unused)) void set_result(const char *workload, int64_t t0, int64_t t1, int64_t ops)
{
    snprintf(result, sizeof result, "%s ns_per_op=%.1f", workload, (double)(t1 - t0) / (double)ops);
}

/* The value of a "Key:  1234 kB" line of /proc/self/status (VmRSS, VmHWM,
 * VmPTE, ...), in bytes. */
static __attribute__((unused)) int64_t proc_status_bytes(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        fprintf(stderr, "%s: /proc/self/status: %s\n", bench_prog, strerror(errno));
        exit(1);
    }
    size_t keylen = strlen(key);
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, keylen) == 0 && line[keylen] == ':') {
            kb = strtoll(line + keylen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    if (kb < 0) {
        fprintf(stderr, "%s: /proc/self/status has no %s line\n", bench_prog, key);
        exit(1);
    }
    return (int64_t)kb * 1024;
}

struct bench_workload {
    const char *name;
    void (*run)(void);
    int64_t default_n;
    bool takes_procs;   /* WORKLOAD PROCS [N] rather than WORKLOAD [N] */
};

static _Noreturn void bench_usage(const struct bench_workload *w, size_t n)
{
    fprintf(stderr, "usage: %s WORKLOAD [N]\n", bench_prog);
    for (size_t i = 0; i < n; i++)
        if (w[i].takes_procs)
            fprintf(stderr, "       %s %s PROCS [N]\n", bench_prog, w[i].name);
    fprintf(stderr, "workloads:");
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %s (N=%lld)", w[i].name, (long long)w[i].default_n);
    fputc('\n', stderr);
    exit(2);
}

static long long parse_count(const char *what, const char *s, long long max)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || n <= 0 || n > max) {
        fprintf(stderr, "%s: %s must be an integer from 1 to %lld, not \"%s\"\n", bench_prog, what, max, s);
        exit(2);
    }
    return n;
}

static void bench_entry(void *arg)
{
    const struct bench_workload *w = arg;
    w->run();
}

/* Parse the arguments, run the chosen workload as the main goroutine of a
 * fresh runtime and print its result line.  Returns the exit status. */
static int bench_main(const char *prog, const struct bench_workload *table, size_t n, int argc, char **argv)
{
    bench_prog = prog;
    if (argc < 2)
        bench_usage(table, n);
    const struct bench_workload *w = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[1], table[i].name) == 0)
            w = &table[i];
    if (w == NULL)
        bench_usage(table, n);
    int arg = 2;
    if (w->takes_procs) {
        if (argc < 3)
            bench_usage(table, n);
        n_procs = (int)parse_count("PROCS", argv[arg++], GORT_MAX_PROCS);
    }
    if (argc > arg + 1)
        bench_usage(table, n);
    n_ops = w->default_n;
    /* 2^40 is far beyond any run that fits in time or memory, and keeps
     * 2N from overflowing. */
    if (argc == arg + 1)
        n_ops = parse_count("N", argv[arg], (long long)1 << 40);

    int err = gort_main(bench_entry, (void *)w);
    if (err < 0)
        die("gort_main", err);
    if (result[0] == '\0') {
        fprintf(stderr, "%s: %s produced no result\n", prog, w->name);
        return 1;
    }
    printf("%s\n", result);
    return 0;
}

#endif
