/*
 * oom - ask the heap for 64 TiB (1 << 46 bytes) from the main goroutine.
 * No host has that much memory or overcommit to give, so the allocation
 * must end the process with "fatal error: out of memory" naming the size
 * (70368744177664) and exit status 2; gort_alloc never returns NULL.  If it
 * returns anyway, the program prints "survived" with what it got and exits
 * 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>

#include <gort/gort.h>

static void entry(void *arg)
{
    void *p = gort_alloc((size_t)1 << 46);
    printf("survived %p\n", p);
    fflush(stdout);
}

int main(void)
{
    return gort_main(entry, NULL) == 0 ? 0 : 1;
}
