/*
 * format.c - how gortctl writes numbers, times and tables for people.
 *
 * Sizes use binary units with one decimal (12.3 MiB), as `gops memstats`
 * and Go's own tools do; durations pick the unit that keeps three
 * significant digits, as Go's time.Duration prints them; wall-clock
 * times are local.  Tables are measured in characters, not bytes, so that
 * a "µs" cell does not push its column out of line.  Colour is a handful
 * of SGR sequences, written only when ctl.color is set (stdout a TTY,
 * NO_COLOR unset, or --color=always).
 */
#include "ctl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *fmt_bytes(char *buf, double b)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    bool neg = b < 0;
    if (neg)
        b = -b;
    int u = 0;
    while (b >= 1024 && u < 6) {
        b /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, FMT_SIZE, "%s%.0f B", neg ? "-" : "", b);
    else
        snprintf(buf, FMT_SIZE, "%s%.1f %s", neg ? "-" : "", b, units[u]);
    return buf;
}

const char *fmt_count(char *buf, int64_t n)
{
    /* The magnitude, without overflowing at INT64_MIN. */
    unsigned long long m = n < 0 ? (unsigned long long)-(n + 1) + 1 : (unsigned long long)n;
    char digits[32];
    snprintf(digits, sizeof digits, "%llu", m);
    size_t len = strlen(digits), o = 0;
    if (n < 0)
        buf[o++] = '-';
    for (size_t i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

const char *fmt_ns(char *buf, int64_t ns)
{
    const char *sign = ns < 0 ? "-" : "";
    double v = ns < 0 ? -(double)ns : (double)ns;
    if (v < 1e3)
        snprintf(buf, FMT_SIZE, "%s%.0fns", sign, v);
    else if (v < 1e6)
        snprintf(buf, FMT_SIZE, "%s%.*fµs", sign, v < 1e4 ? 2 : v < 1e5 ? 1 : 0, v / 1e3);
    else if (v < 1e9)
        snprintf(buf, FMT_SIZE, "%s%.*fms", sign, v < 1e7 ? 2 : v < 1e8 ? 1 : 0, v / 1e6);
    else if (v < 60e9)
        snprintf(buf, FMT_SIZE, "%s%.2fs", sign, v / 1e9);
    else {
        int64_t s = (int64_t)(v / 1e9);
        if (s < 3600)
            snprintf(buf, FMT_SIZE, "%s%lldm%02llds", sign, (long long)s / 60, (long long)s % 60);
        else if (s < 86400)
            snprintf(buf, FMT_SIZE, "%s%lldh%02lldm", sign, (long long)s / 3600,
                     (long long)s / 60 % 60);
        else
            snprintf(buf, FMT_SIZE, "%s%lldd%02lldh", sign, (long long)s / 86400,
                     (long long)s / 3600 % 24);
    }
    return buf;
}

const char *fmt_time(char *buf, int64_t ns)
{
    if (ns <= 0)
        return strcpy(buf, "-");
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    localtime_r(&s, &tm);
    size_t n = strftime(buf, FMT_SIZE, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + n, FMT_SIZE - n, ".%03d", (int)(ns / 1000000 % 1000));
    return buf;
}

static const char *sgr(const char *seq)
{
    return ctl.color ? seq : "";
}
const char *col_bold(void) { return sgr("\033[1m"); }
const char *col_dim(void) { return sgr("\033[2m"); }
const char *col_red(void) { return sgr("\033[31m"); }
const char *col_green(void) { return sgr("\033[32m"); }
const char *col_yellow(void) { return sgr("\033[33m"); }
const char *col_reset(void) { return sgr("\033[0m"); }

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "gortctl: out of memory\n");
        exit(EX_OSERR);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

void table_init(struct table *t, const char *spec)
{
    memset(t, 0, sizeof *t);
    char *copy = xstrdup(spec);
    for (char *w = strtok(copy, " "); w; w = strtok(NULL, " "))
        t->ncols++;
    t->heads = xmalloc(sizeof *t->heads * (size_t)t->ncols);
    t->right = xmalloc(sizeof *t->right * (size_t)t->ncols);
    strcpy(copy, spec);
    int i = 0;
    for (char *w = strtok(copy, " "); w; w = strtok(NULL, " "), i++) {
        t->right[i] = *w == '>';
        t->heads[i] = xstrdup(w + t->right[i]);
    }
    free(copy);
}

void table_add(struct table *t, ...)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, sizeof *c * t->cap * (size_t)t->ncols);
        if (!c) {
            fprintf(stderr, "gortctl: out of memory\n");
            exit(EX_OSERR);
        }
        t->cells = c;
    }
    va_list ap;
    va_start(ap, t);
    for (int i = 0; i < t->ncols; i++) {
        const char *s = va_arg(ap, const char *);
        t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = xstrdup(s ? s : "-");
    }
    va_end(ap);
    t->nrows++;
}

/* Characters in a UTF-8 string: bytes that do not continue one. */
static size_t width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void cell(FILE *f, const char *s, size_t w, bool right, bool last)
{
    size_t pad = w - width(s);
    if (right)
        fprintf(f, "%*s%s", (int)pad, "", s);
    else if (last)
        fputs(s, f);
    else
        fprintf(f, "%s%*s", s, (int)pad, "");
}

void table_print(const struct table *t, FILE *f, int indent)
{
    size_t *w = xmalloc(sizeof *w * (size_t)t->ncols);
    for (int c = 0; c < t->ncols; c++) {
        w[c] = width(t->heads[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t cw = width(t->cells[r * (size_t)t->ncols + (size_t)c]);
            if (cw > w[c])
                w[c] = cw;
        }
    }
    fprintf(f, "%*s%s", indent, "", col_bold());
    for (int c = 0; c < t->ncols; c++) {
        if (c)
            fputs("  ", f);
        cell(f, t->heads[c], w[c], t->right[c], c == t->ncols - 1);
    }
    fprintf(f, "%s\n", col_reset());
    for (size_t r = 0; r < t->nrows; r++) {
        fprintf(f, "%*s", indent, "");
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            bool last = c == t->ncols - 1;
            if (last && !t->right[c] && !*s)
                break;   /* no trailing blanks */
            if (c)
                fputs("  ", f);
            cell(f, s, w[c], t->right[c], last);
        }
        fputc('\n', f);
    }
    free(w);
}

void table_free(struct table *t)
{
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    for (int c = 0; c < t->ncols; c++)
        free(t->heads[c]);
    free(t->cells);
    free(t->heads);
    free(t->right);
    memset(t, 0, sizeof *t);
}

void print_json(json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
}

int64_t jint(json_t *o, const char *key, int64_t fallback)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : fallback;
}

double jreal(json_t *o, const char *key, double fallback)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : fallback;
}

const char *jstr(json_t *o, const char *key, const char *fallback)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : fallback;
}

bool jbool(json_t *o, const char *key, bool fallback)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}
