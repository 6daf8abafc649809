/*
 * bssroot - a test plugin whose bss holds the only reference to a heap
 * object, for test_gcc: the collector must scan the writable segments of
 * every loaded shared object, not only the executable's.
 *
 * Built as $(B)/tests/plugins/libbssroot.so against nothing: gort's
 * symbols (the write barrier behind GORT_STORE) come from the test
 * executable, which is linked -rdynamic.  The test dlopen()s it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <gort/gort.h>

/* Zero-initialised, so in .bss.  Read by bssroot_get and exposed by
 * bssroot_where, so its stores cannot be optimised away. */
static void *bssroot_slot;

/* Store p in the plugin's bss (through the write barrier: the collector
 * may be marking). */
__attribute__((visibility("default"))) void bssroot_set(void *p)
{
    GORT_STORE(bssroot_slot, p);
}

__attribute__((visibility("default"))) void *bssroot_get(void)
{
    return bssroot_slot;
}

/* Where the variable lives, so that the test can check it is the
 * plugin's (dladdr) and not the executable's. */
__attribute__((visibility("default"))) void **bssroot_where(void)
{
    return &bssroot_slot;
}
