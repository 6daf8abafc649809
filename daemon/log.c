/*
 * log.c - the daemon's one way to say something.
 *
 * Everything goes to stderr, which under systemd is the journal.  When
 * JOURNAL_STREAM names the stream stderr is (systemd sets it), each line
 * starts with "<N>", the syslog priority journald parses; otherwise with
 * "gortd: ", for a terminal.  A line is written with one write(2) so that
 * lines from different threads do not interleave.
 */
#include "gortd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool journal;   /* set once by log_init, before any thread starts */

void log_init(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;
    if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0)
        journal = (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void write_all(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static int prefix(char *buf, size_t size, int prio)
{
    return journal ? snprintf(buf, size, "<%d>", prio) : snprintf(buf, size, "gortd: ");
}

void logmsg(int prio, const char *fmt, ...)
{
    char buf[2048];
    int n = prefix(buf, sizeof buf, prio);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m < (int)sizeof buf - n - 1 ? m : (int)sizeof buf - n - 2;
    buf[n++] = '\n';
    write_all(buf, (size_t)n);
}

void log_lines(int prio, const char *s, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(s, '\n', n);
        size_t len = nl ? (size_t)(nl - s) : n;
        logmsg(prio, "%.*s", (int)len, s);
        if (!nl)
            break;
        n -= len + 1;
        s = nl + 1;
    }
}
