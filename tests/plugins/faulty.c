/*
 * faulty - a test plugin whose functions fault, for test_group and the
 * faultpanic helper program: a fault at an instruction inside a range
 * registered with gort_fault_range_add (this object's code, see
 * tests/faultutil.h) must become a panic in the faulting goroutine.
 *
 * Each function makes one faulting access in its own code, so that the
 * faulting instruction lies inside this object.  The operands come from
 * volatile objects: the compiler can neither fold the access away nor,
 * seeing a constant NULL or zero, replace it with a trap instruction
 * (-fisolate-erroneous-paths-dereference).  The sanitizers' instrumentation
 * is off in these functions: UBSan would report the null dereference and
 * the division before they happen, and ASan's and TSan's checks of the
 * address would run (and could fault) in the sanitizer's code, outside
 * the registered range.
 *
 * Built as $(B)/tests/plugins/libfaulty.so against nothing: it calls no
 * gort function.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>

#define FAULTY_API __attribute__((visibility("default"), noinline, \
                                  no_sanitize("address", "thread", "undefined")))

/* Zero-initialised and volatile: NULL and 0 as far as the compiler can
 * tell only at run time. */
static volatile int *volatile faulty_nil;
static volatile int faulty_zero;

/* Load through a null pointer: SIGSEGV, code SEGV_MAPERR, address 0. */
FAULTY_API int faulty_read_nil(void)
{
    return *faulty_nil;
}

/* Load from addr, which the caller knows is not mapped: SIGSEGV at addr. */
FAULTY_API int faulty_read_at(uintptr_t addr)
{
    return *(volatile int *)addr;
}

/* n / 0 with an integer division: SIGFPE, code FPE_INTDIV. */
FAULTY_API int faulty_divide_by_zero(int n)
{
    return n / faulty_zero;
}
