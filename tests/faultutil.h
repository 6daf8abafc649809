/*
 * faultutil.h - the faulty test plugin (tests/plugins/faulty.c), loaded
 * with its code registered as a fault range, for test_group and the
 * faultpanic helper program.  Header only; it asserts nothing.
 *
 * The code of a shared object is its executable PT_LOAD segments.
 * dl_iterate_phdr lists every loaded object with its program headers; the
 * plugin's entry is the one whose load bias (dlpi_addr) and name are its
 * link_map's (dlinfo RTLD_DI_LINKMAP).  Each segment [bias + p_vaddr,
 * bias + p_vaddr + p_memsz) is registered, as gortd registers a plugin's.
 */
#ifndef GORT_TESTS_FAULTUTIL_H
#define GORT_TESTS_FAULTUTIL_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before including any header"
#endif

#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <gort/gort.h>

/* The last page of the 47-bit user address space: Linux keeps it out of
 * every mapping (TASK_SIZE, and mmap's default window with 5-level page
 * tables), so a load from it takes SIGSEGV at exactly this address. */
#define FAULTY_UNMAPPED_ADDR ((uintptr_t)0x7ffffffff000ull)

#define FAULTY_MAX_RANGES 4

struct faulty {
    void *dl;
    int (*read_nil)(void);
    int (*read_at)(uintptr_t addr);
    int (*divide_by_zero)(int n);
    int nranges;                       /* executable segments found */
    uintptr_t lo[FAULTY_MAX_RANGES], hi[FAULTY_MAX_RANGES];
    bool registered;
};

struct faulty_seek {
    const struct link_map *lm;
    struct faulty *f;
};

static inline int faulty_phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct faulty_seek *s = data;
    if (info->dlpi_addr != s->lm->l_addr || info->dlpi_name == NULL ||
        strcmp(info->dlpi_name, s->lm->l_name) != 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum && s->f->nranges < FAULTY_MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        s->f->lo[s->f->nranges] = info->dlpi_addr + ph->p_vaddr;
        s->f->hi[s->f->nranges] = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        s->f->nranges++;
    }
    return 1;
}

/* dlopen the plugin at path, resolve its functions and find its code.
 * On failure, says why on stderr and returns false. */
static inline bool faulty_open(const char *path, struct faulty *f)
{
    memset(f, 0, sizeof *f);
    f->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (f->dl == NULL) {
        fprintf(stderr, "faultutil: dlopen %s: %s\n", path, dlerror());
        return false;
    }
    f->read_nil = (int (*)(void))dlsym(f->dl, "faulty_read_nil");
    f->read_at = (int (*)(uintptr_t))dlsym(f->dl, "faulty_read_at");
    f->divide_by_zero = (int (*)(int))dlsym(f->dl, "faulty_divide_by_zero");
    if (f->read_nil == NULL || f->read_at == NULL || f->divide_by_zero == NULL) {
        fprintf(stderr, "faultutil: %s lacks a faulty_* function\n", path);
        return false;
    }
    struct link_map *lm = NULL;
    if (dlinfo(f->dl, RTLD_DI_LINKMAP, &lm) != 0 || lm == NULL) {
        fprintf(stderr, "faultutil: dlinfo %s: %s\n", path, dlerror());
        return false;
    }
    struct faulty_seek s = { .lm = lm, .f = f };
    dl_iterate_phdr(faulty_phdr_cb, &s);
    if (f->nranges == 0) {
        fprintf(stderr, "faultutil: no executable segment of %s found\n", path);
        return false;
    }
    return true;
}

/* Is pc inside the plugin's code? */
static inline bool faulty_owns(const struct faulty *f, uintptr_t pc)
{
    for (int i = 0; i < f->nranges; i++)
        if (pc >= f->lo[i] && pc < f->hi[i])
            return true;
    return false;
}

/* Register (or remove) every executable segment with the runtime; the
 * first error, or 0. */
static inline int faulty_register(struct faulty *f)
{
    for (int i = 0; i < f->nranges; i++) {
        int rc = gort_fault_range_add((const void *)f->lo[i], (const void *)f->hi[i]);
        if (rc != 0)
            return rc;
    }
    f->registered = true;
    return 0;
}

static inline int faulty_unregister(struct faulty *f)
{
    for (int i = 0; i < f->nranges; i++) {
        int rc = gort_fault_range_remove((const void *)f->lo[i]);
        if (rc != 0)
            return rc;
    }
    f->registered = false;
    return 0;
}

#endif /* GORT_TESTS_FAULTUTIL_H */
