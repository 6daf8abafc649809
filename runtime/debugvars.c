/*
 * debugvars.c - the GODEBUG environment variable.
 *
 * GODEBUG is a comma-separated list of name=value pairs, read once at
 * start, as in Go.  Names gort does not know are reported with a one-line
 * warning and otherwise ignored; so are values that are not integers.
 */
#include "debugvars.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "print.h"
#include "proc.h"

struct debugvars debug = {.madvdontneed = 1};

static const struct {
    const char *name;
    int32_t *value;
} vars[] = {
    {"gctrace", &debug.gctrace},
    {"schedtrace", &debug.schedtrace},
    {"scheddetail", &debug.scheddetail},
    {"gcstoptheworld", &debug.gcstoptheworld},
    {"gccheckmark", &debug.gccheckmark},
    {"madvdontneed", &debug.madvdontneed},
    {"scavenge", &debug.scavenge},
};

static void set_one(const char *kv, size_t len)
{
    const char *eq = memchr(kv, '=', len);
    if (!eq) {
        rt_printf("gort: GODEBUG: ignoring \"%.*s\": want name=value\n", (int)len, kv);
        return;
    }
    size_t nlen = (size_t)(eq - kv);
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        if (strlen(vars[i].name) != nlen || memcmp(vars[i].name, kv, nlen) != 0)
            continue;
        char buf[32];
        size_t vlen = len - nlen - 1;
        if (vlen == 0 || vlen >= sizeof buf) {
            rt_printf("gort: GODEBUG: ignoring %.*s: value must be an integer\n", (int)len, kv);
            return;
        }
        memcpy(buf, eq + 1, vlen);
        buf[vlen] = '\0';
        char *end;
        errno = 0;
        long v = strtol(buf, &end, 10);
        if (errno || *end || v < 0 || v > INT32_MAX) {
            rt_printf("gort: GODEBUG: ignoring %.*s: value must be a non-negative integer\n",
                      (int)len, kv);
            return;
        }
        *vars[i].value = (int32_t)v;
        return;
    }
    rt_printf("gort: GODEBUG: unknown setting \"%.*s\" ignored\n", (int)nlen, kv);
}

void debugvars_parse(const char *s)
{
    while (s && *s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len > 0)
            set_one(s, len);
        s = comma ? comma + 1 : NULL;
    }
}

void debugvars_init(void)
{
    debugvars_parse(getenv("GODEBUG"));
    if (debug.schedtrace > 0)
        atomic_store(&schedtrace_ms, debug.schedtrace);
    atomic_store(&scheddetail, debug.scheddetail != 0);
}

int gort_set_gctrace(int level)
{
    if (level < 0)
        return -EINVAL;
    return __atomic_exchange_n(&debug.gctrace, level, __ATOMIC_RELAXED);
}
