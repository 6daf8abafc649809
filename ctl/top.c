/*
 * top.c - `gortctl top`: a live, full-screen view of one daemon.
 *
 * Every interval (1 s, or --interval D between 100ms and 1h) top asks
 * `stats` and `memstats` on its one connection and draws a frame:
 *
 *   gortd 0.1.0 pid 4711 up 1h02m  socket /run/gortd/gortd.sock  10:00:00
 *
 *   heap   12.3 MiB / goal 16.0 MiB (77%)  [███████████████░░░░░]  alloc 3.2 MiB/s
 *          ▁▂▃▄▅▆▇█▇▆▅▄▃                            low 10.1 MiB  high 14.2 MiB
 *   memory sys 40.0 MiB  heap-sys 20.0 MiB  released 2.0 MiB  objects 12,345
 *   GC     cycles 42 (3 forced)  GOGC 100  limit off  gc-cpu 0.31%  last 1.20s ago
 *   pauses 17.5µs 20.1µs 30.0µs ...
 *   sched  goroutines 12  threads 5  gomaxprocs 2  idleprocs 1  runqueue 0 [1 0]
 *
 *   PLUGIN  STATE   GOROUTINES  TASKS  ALLOC/S    CPU  PANICS
 *   hello   loaded           1      1  1.2 KiB/s  0.1%      0
 *   ...
 *   q quit
 *
 * Rates (the allocation rate, each plugin's ALLOC/S and CPU) are the
 * difference between this sample and the previous one over the time
 * between them, so the first frame shows "-" for them.  The sparkline is
 * heap_alloc over the frames drawn so far, as many as the width allows,
 * scaled between their lowest and highest.  The scheduler's idle Ps and
 * run queues come from a schedtrace subscription: its events arrive
 * interleaved with the answers (ctl_call keeps those in ctl.events) and
 * between frames; top keeps the latest.
 *
 * The terminal.  Only what any terminal over SSH understands: the
 * alternate screen (\e[?1049h, \e[?1049l), the cursor hidden and shown,
 * home, erase to the end of the line and of the screen, a cursor move for
 * the footer, and the SGR colours of format.c.  A frame is built in memory
 * and written with one write(): home, each line followed by an erase to
 * its end, then an erase of the rest of the screen, so the screen is
 * cleared without ever flashing blank.  Lines are cut to the width
 * (escape sequences take no column, a UTF-8 character one) and the frame
 * to the height, so nothing wraps or scrolls; SIGWINCH redraws at the new
 * size.  The sparkline and the bar use Unicode blocks when the locale's
 * codeset is UTF-8, else ASCII, and then fmt_ns' "µ" is written "u".
 *
 * Keys are read from stdin with ICANON and ECHO off (ISIG stays on, so
 * Ctrl-C is a SIGINT and Ctrl-Z a SIGTSTP).  One poll() waits for the
 * next frame, a key and the daemon's events at once; q quits, and so do
 * SIGINT and SIGTERM (ctl_catch_interrupts), with exit 0.
 *
 * Invariant: whatever ends top, the terminal is left as it was found:
 * modes restored, cursor shown, the alternate screen left.  term_leave is
 * called on every return path and from atexit (an exit() in format.c's
 * out-of-memory path); Ctrl-Z restores the terminal before stopping and
 * takes it again on SIGCONT.  While the screen is ours, stderr goes to a
 * memory file, so that an error conn.c prints (the daemon gone: exit 69)
 * does not vanish with the alternate screen; it is copied to the real
 * stderr once the screen is left.
 *
 * --once prints one frame without cursor or screen sequences (colour
 * only as --color says) and exits, for scripts: it samples twice, one
 * interval apart, so that the rates are there.  Without --once, stdout
 * must be a terminal.
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL
#define DEFAULT_INTERVAL NS_PER_S
#define MIN_INTERVAL (100 * NS_PER_MS)
#define MAX_INTERVAL (3600 * NS_PER_S)
#define HISTORY 512             /* heap samples kept: wider than any sparkline drawn */
#define BAR_WIDTH 20
#define LABEL "%-7s"            /* the section names' column */
#define LABEL_WIDTH 7
#define EVENT_READ_MS 50        /* for the rest of an event whose first bytes arrived */
#define DEFAULT_COLS 80         /* when stdout is not a terminal (--once) */
#define DEFAULT_ROWS 24

/* One poll of the daemon. */
struct sample {
    json_t *stats, *mem;        /* NULL before the first */
    int64_t at;                 /* CLOCK_MONOTONIC ns, once both answered */
};

/* The terminal as top found it, and what top changed. */
struct term {
    bool keys;                  /* stdin is a terminal: q is read from it */
    bool raw;                   /* saved holds stdin's modes to restore */
    bool screen;                /* the alternate screen is on */
    struct termios saved;
    int held;                   /* the memory file stderr goes to, or -1 */
    int real_stderr;            /* stderr while it is held, or -1 */
};

static struct {
    int64_t interval;           /* ns between samples */
    bool once;
    bool utf8;                  /* the locale's codeset is UTF-8 */
    int rows, cols;
    struct sample cur, prev;
    json_t *sched;              /* the latest schedtrace data, or NULL */
    int64_t heap[HISTORY];      /* heap_alloc of the last samples, a ring */
    int nheap, heap_next;
    struct term term;
} top = {.term = {.held = -1, .real_stderr = -1}};

/* SIGWINCH, SIGCONT (after Ctrl-Z) or Ctrl-L: draw again at the size the
 * terminal has now. */
static volatile sig_atomic_t redraw;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* Columns a UTF-8 string takes: every character top prints is narrow. */
static int columns(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* The terminal                                                         */

#define ENTER_SCREEN "\033[?1049h\033[?25l"   /* alternate screen, cursor hidden */
#define LEAVE_SCREEN "\033[?25h\033[?1049l"   /* cursor shown, primary screen */

/* Take the terminal, or give it back.  Async-signal-safe (write and
 * tcsetattr only): the SIGTSTP handler calls them. */
static void modes_on(void)
{
    if (top.term.raw) {
        struct termios t = top.term.saved;
        t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSADRAIN, &t);
    }
    if (top.term.screen)
        write_all(STDOUT_FILENO, ENTER_SCREEN, sizeof ENTER_SCREEN - 1);
}

static void modes_off(void)
{
    if (top.term.screen)
        write_all(STDOUT_FILENO, LEAVE_SCREEN, sizeof LEAVE_SCREEN - 1);
    if (top.term.raw)
        tcsetattr(STDIN_FILENO, TCSADRAIN, &top.term.saved);
}

static void on_winch(int sig)
{
    (void)sig;
    redraw = 1;
}

static void on_tstp(int sig);

static void catch(int sig, void (*handler)(int))
{
    /* No SA_RESTART: the poll() between frames returns at once. */
    struct sigaction sa = {.sa_handler = handler};
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* Ctrl-Z: give the terminal back, stop, take it again when continued. */
static void on_tstp(int sig)
{
    int saved_errno = errno;
    modes_off();
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);   /* stopped here until SIGCONT */
    catch(sig, on_tstp);
    modes_on();
    redraw = 1;
    errno = saved_errno;
}

/* stderr goes to a memory file while the screen is ours (see the top). */
static void hold_stderr(void)
{
    if (!isatty(STDERR_FILENO))
        return;   /* it goes elsewhere already: nothing would vanish */
    int held = memfd_create("gortctl-top-stderr", MFD_CLOEXEC);
    int real = held >= 0 ? fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3) : -1;
    if (real < 0 || dup2(held, STDERR_FILENO) < 0) {
        if (held >= 0)
            close(held);
        if (real >= 0)
            close(real);
        return;   /* unheld: an error shows on the screen, briefly */
    }
    top.term.held = held;
    top.term.real_stderr = real;
}

static void release_stderr(void)
{
    if (top.term.real_stderr < 0)
        return;
    dup2(top.term.real_stderr, STDERR_FILENO);
    close(top.term.real_stderr);
    top.term.real_stderr = -1;
    char buf[4096];
    ssize_t k;
    lseek(top.term.held, 0, SEEK_SET);
    while ((k = read(top.term.held, buf, sizeof buf)) > 0)
        if (!write_all(STDERR_FILENO, buf, (size_t)k))
            break;
    close(top.term.held);
    top.term.held = -1;
}

static void window_size(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
        top.cols = ws.ws_col;
        top.rows = ws.ws_row;
    } else {
        top.cols = DEFAULT_COLS;
        top.rows = DEFAULT_ROWS;
    }
}

/* Give the terminal back: idempotent, and registered with atexit. */
static void term_leave(void)
{
    signal(SIGTSTP, SIG_DFL);
    modes_off();
    top.term.screen = false;
    top.term.raw = false;
    release_stderr();
}

static void term_enter(void)
{
    top.term.keys = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &top.term.saved) == 0;
    top.term.raw = top.term.keys;
    top.term.screen = true;
    atexit(term_leave);
    hold_stderr();
    modes_on();
    catch(SIGWINCH, on_winch);
    ctl_deliver_in_poll(SIGWINCH);   /* a resize is never missed before a wait */
    catch(SIGTSTP, on_tstp);
    window_size();
}

/* ------------------------------------------------------------------ */
/* Sampling                                                             */

static void sample_free(struct sample *s)
{
    json_decref(s->stats);
    json_decref(s->mem);
    *s = (struct sample){0};
}

/* Ask stats and memstats; the previous sample is kept for the rates.
 * Returns 0 or an exit code (130: interrupted while waiting). */
static int take_sample(void)
{
    json_t *stats, *mem;
    int rc = ctl_call("stats", NULL, &stats);
    if (rc)
        return rc;
    if ((rc = ctl_call("memstats", NULL, &mem))) {
        json_decref(stats);
        return rc;
    }
    sample_free(&top.prev);
    top.prev = top.cur;
    top.cur = (struct sample){stats, mem, mono_ns()};
    top.heap[top.heap_next] = jint(mem, "heap_alloc", 0);
    top.heap_next = (top.heap_next + 1) % HISTORY;
    if (top.nheap < HISTORY)
        top.nheap++;
    return 0;
}

/* Seconds between the two samples, or 0 when there is one only. */
static double elapsed_s(void)
{
    if (!top.prev.stats || top.cur.at <= top.prev.at)
        return 0;
    return (double)(top.cur.at - top.prev.at) / NS_PER_S;
}

/* The per-second rate of a counter between prev and cur, or -1 when there
 * is no previous value or the counter went back (a plugin reloaded). */
static double rate(json_t *prev, json_t *cur, const char *key)
{
    double dt = elapsed_s();
    int64_t a = jint(prev, key, -1), b = jint(cur, key, -1);
    if (dt <= 0 || a < 0 || b < a)
        return -1;
    return (double)(b - a) / dt;
}

/* Keep the latest scheduler summary of a schedtrace event. */
static void take_event(json_t *ev)
{
    json_t *data = json_object_get(ev, "data");
    if (strcmp(jstr(ev, "event", ""), "schedtrace") != 0 || !json_is_object(data) ||
        jbool(data, "detail", false) || !json_object_get(data, "gomaxprocs"))
        return;
    json_decref(top.sched);
    top.sched = json_incref(data);
}

/* Read the events that arrived: waiting up to first_ms for the first, then
 * only those already here.  0, CTL_INTERRUPTED, or an exit code. */
static int read_events(int first_ms)
{
    int wait = first_ms;
    for (;;) {
        json_t *ev;
        int rc = ctl_next_event(&ev, wait);
        if (rc == CTL_TIMEOUT)
            return 0;
        if (rc)
            return rc;
        take_event(ev);
        json_decref(ev);
        wait = 0;
    }
}

/* ------------------------------------------------------------------ */
/* Drawing                                                              */

/* A frame being built: lines past max_lines are dropped. */
struct frame {
    FILE *f;
    int lines, max_lines;
};

/* Copy s to f cut to width columns.  An escape sequence takes none and
 * is always copied; a colour left on by the cut is reset.  Without a
 * UTF-8 locale, "µ" is written "u" and any other non-ASCII character "?". */
static void put_cut(FILE *f, const char *s, int width)
{
    int col = 0;
    bool escaped = false;
    while (*s) {
        if (*s == '\033') {
            const char *e = s + 1;
            if (*e == '[') {
                e++;
                while (*e && !(*e >= 0x40 && *e <= 0x7e))
                    e++;
                if (*e)
                    e++;
            }
            fwrite(s, 1, (size_t)(e - s), f);
            s = e;
            escaped = true;
            continue;
        }
        const char *next = s + 1;
        while (((unsigned char)*next & 0xc0) == 0x80)
            next++;
        if (col < width) {
            if (top.utf8 || (unsigned char)*s < 0x80)
                fwrite(s, 1, (size_t)(next - s), f);
            else
                fputc(strncmp(s, "µ", strlen("µ")) == 0 ? 'u' : '?', f);
            col++;
        }
        s = next;
    }
    if (escaped)
        fputs(col_reset(), f);
}

static void line(struct frame *fr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct frame *fr, const char *fmt, ...)
{
    if (fr->lines >= fr->max_lines)
        return;
    char *s;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    put_cut(fr->f, s, top.cols);
    fputs(top.once ? "\n" : "\033[K\n", fr->f);
    fr->lines++;
    free(s);
}

static const char *rate_text(char *buf, double r)
{
    if (r < 0)
        return strcpy(buf, "-");
    fmt_bytes(buf, r);
    strcat(buf, "/s");
    return buf;
}

static void draw_header(struct frame *fr)
{
    json_t *s = top.cur.stats;
    char up[FMT_SIZE], clock[16];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(clock, sizeof clock, "%H:%M:%S", &tm);
    line(fr, "%sgortd %s%s pid %lld up %s  socket %s  %s", col_bold(),
         jstr(ctl.greeting, "version", "?"), col_reset(), (long long)jint(s, "pid", 0),
         fmt_ns(up, jint(s, "uptime_ns", 0)), ctl.path, clock);
    line(fr, "%s", "");
}

/* "[███████░░░]": frac of BAR_WIDTH filled. */
static const char *bar(char *buf, size_t n, double frac)
{
    int full = frac >= 1 ? BAR_WIDTH : frac <= 0 ? 0 : (int)(frac * BAR_WIDTH + 0.5);
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < BAR_WIDTH; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s",
                              i < full ? (top.utf8 ? "█" : "#") : (top.utf8 ? "░" : "."));
    snprintf(buf + o, n - o, "]");
    return buf;
}

/* heap_alloc over the last frames, as wide as fits beside its range. */
static void draw_sparkline(struct frame *fr)
{
    static const char *const blocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    static const char ascii[] = "_.-=+*#@";
    int count = top.nheap;
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < count; i++) {
        int64_t v = top.heap[(top.heap_next - 1 - i + HISTORY) % HISTORY];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    char range[2 * FMT_SIZE + 16], a[FMT_SIZE], b[FMT_SIZE];
    snprintf(range, sizeof range, "low %s  high %s", fmt_bytes(a, (double)lo), fmt_bytes(b, (double)hi));
    int width = top.cols - LABEL_WIDTH - 2 - columns(range);
    if (count > width)
        count = width;
    if (count <= 0)
        return;
    /* Oldest first; the newest is at the right. */
    char spark[HISTORY * 3 + 1];
    size_t o = 0;
    for (int i = count - 1; i >= 0; i--) {
        int64_t v = top.heap[(top.heap_next - 1 - i + HISTORY) % HISTORY];
        int level = hi > lo ? (int)((double)(v - lo) * 7 / (double)(hi - lo) + 0.5) : 0;
        if (top.utf8)
            o += (size_t)snprintf(spark + o, sizeof spark - o, "%s", blocks[level]);
        else
            spark[o++] = ascii[level];
    }
    spark[o] = '\0';
    line(fr, LABEL "%s%*s  %s%s%s", "", spark, width - count, "", col_dim(), range, col_reset());
}

static void draw_heap(struct frame *fr)
{
    json_t *m = top.cur.mem;
    char a[FMT_SIZE], g[FMT_SIZE], r[FMT_SIZE + 4], b[BAR_WIDTH * 3 + 3];
    int64_t alloc = jint(m, "heap_alloc", 0), goal = jint(m, "next_gc", -1);
    rate_text(r, rate(top.prev.mem, m, "total_alloc"));
    fmt_bytes(a, (double)alloc);
    if (goal > 0) {
        double frac = (double)alloc / (double)goal;
        line(fr, LABEL "%s / goal %s (%.0f%%)  %s  alloc %s", "heap", a, fmt_bytes(g, (double)goal),
             frac * 100, bar(b, sizeof b, frac), r);
    } else {
        line(fr, LABEL "%s, no goal (GOGC off, no memory limit)  alloc %s", "heap", a, r);
    }
    draw_sparkline(fr);
    char sys[FMT_SIZE], hsys[FMT_SIZE], rel[FMT_SIZE], objs[FMT_SIZE];
    line(fr, LABEL "sys %s  heap-sys %s  released %s  objects %s", "memory",
         fmt_bytes(sys, (double)jint(m, "sys", 0)), fmt_bytes(hsys, (double)jint(m, "heap_sys", 0)),
         fmt_bytes(rel, (double)jint(m, "heap_released", 0)), fmt_count(objs, jint(m, "heap_objects", 0)));
}

/* The recent pauses, newest first, as many as fit. */
static void draw_pauses(struct frame *fr)
{
    json_t *pauses = json_object_get(top.cur.mem, "recent_pauses_ns");
    char text[1024] = "-";
    size_t o = 0;
    int col = LABEL_WIDTH;
    size_t i;
    json_t *p;
    json_array_foreach(pauses, i, p) {
        char d[FMT_SIZE];
        fmt_ns(d, json_integer_value(p));
        int w = columns(d) + (o ? 1 : 0);
        if (col + w > top.cols || o + strlen(d) + 2 > sizeof text)
            break;
        o += (size_t)snprintf(text + o, sizeof text - o, "%s%s", o ? " " : "", d);
        col += w;
    }
    line(fr, LABEL "%s", "pauses", text);
}

static void draw_gc(struct frame *fr)
{
    json_t *s = top.cur.stats, *m = top.cur.mem;
    char cycles[FMT_SIZE], forced[FMT_SIZE], gogc[FMT_SIZE], limit[FMT_SIZE], last[FMT_SIZE + 8];
    int64_t g = jint(s, "gogc", 100), lim = jint(s, "memory_limit", INT64_MAX);
    int64_t last_gc = jint(m, "last_gc", 0);
    if (g < 0)
        strcpy(gogc, "off");
    else
        snprintf(gogc, sizeof gogc, "%lld", (long long)g);
    if (lim < 0 || lim == INT64_MAX)
        strcpy(limit, "off");
    else
        fmt_bytes(limit, (double)lim);
    if (last_gc > 0) {
        fmt_ns(last, wall_ns() - last_gc);
        strcat(last, " ago");
    } else {
        strcpy(last, "never");
    }
    line(fr, LABEL "cycles %s (%s forced)  GOGC %s  limit %s  gc-cpu %.2f%%  last %s", "GC",
         fmt_count(cycles, jint(m, "num_gc", 0)), fmt_count(forced, jint(m, "num_forced_gc", 0)),
         gogc, limit, jreal(m, "gc_cpu_fraction", 0) * 100, last);
    draw_pauses(fr);
}

static void draw_sched(struct frame *fr)
{
    json_t *s = top.cur.stats;
    char gs[FMT_SIZE], ts[FMT_SIZE];
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f)
        return;
    fprintf(f, "goroutines %s  threads %s  gomaxprocs %lld", fmt_count(gs, jint(s, "goroutines", 0)),
            fmt_count(ts, jint(s, "threads", 0)), (long long)jint(s, "gomaxprocs", 0));
    if (top.sched) {
        fprintf(f, "  idleprocs %lld  spinning %lld  runqueue %lld [",
                (long long)jint(top.sched, "idleprocs", 0),
                (long long)jint(top.sched, "spinningthreads", 0),
                (long long)jint(top.sched, "runqueue", 0));
        size_t i;
        json_t *q;
        json_array_foreach(json_object_get(top.sched, "runqueues"), i, q)
            fprintf(f, "%s%lld", i ? " " : "", (long long)json_integer_value(q));
        fputc(']', f);
    }
    fclose(f);
    line(fr, LABEL "%s", "sched", text);
    free(text);
}

/* The plugin whose name is name in a stats answer, or NULL. */
static json_t *find_plugin(json_t *stats, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(stats, "plugins"), i, p)
        if (strcmp(jstr(p, "name", ""), name) == 0)
            return p;
    return NULL;
}

static bool failed(json_t *p)
{
    const char *state = jstr(p, "state", "");
    return strcmp(state, "failed") == 0 || strcmp(state, "stuck") == 0;
}

/* One row per plugin, as many as fit, failed ones in red; then why they
 * failed, if there is room. */
static void draw_plugins(struct frame *fr)
{
    json_t *plugins = json_object_get(top.cur.stats, "plugins");
    size_t nplugins = json_array_size(plugins);
    line(fr, "%s", "");
    if (nplugins == 0) {
        line(fr, "%sno plugins loaded%s", col_dim(), col_reset());
        return;
    }
    /* Below the header: the rows that fit, one kept for "... more". */
    int room = fr->max_lines - fr->lines - 1;
    size_t shown = nplugins;
    if (room < 1)
        return;
    if ((int)nplugins > room)
        shown = (size_t)(room - 1);

    struct table t;
    table_init(&t, "PLUGIN STATE >GOROUTINES >TASKS >ALLOC/S >CPU >PANICS");
    double dt = elapsed_s();
    for (size_t i = 0; i < shown; i++) {
        json_t *p = json_array_get(plugins, i);
        json_t *old = find_plugin(top.prev.stats, jstr(p, "name", ""));
        char gs[FMT_SIZE], tasks[FMT_SIZE], alloc[FMT_SIZE + 4], cpu[FMT_SIZE], panics[FMT_SIZE];
        fmt_count(gs, jint(p, "goroutines", 0));
        fmt_count(tasks, jint(p, "tasks_running", 0));
        rate_text(alloc, old ? rate(old, p, "alloc_bytes") : -1);
        double cpu_ns = old ? rate(old, p, "cpu_ns") : -1;
        if (cpu_ns < 0 || dt <= 0)
            strcpy(cpu, "-");
        else
            snprintf(cpu, sizeof cpu, "%.1f%%", cpu_ns / 1e9 * 100);
        fmt_count(panics, jint(p, "panics", 0));
        table_add(&t, jstr(p, "name", "?"), jstr(p, "state", "?"), gs, tasks, alloc, cpu, panics);
    }
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (f) {
        table_print(&t, f, 0);
        fclose(f);
        /* The header, then row i is plugin i. */
        char *save, *row = strtok_r(text, "\n", &save);
        for (int i = -1; row; i++, row = strtok_r(NULL, "\n", &save)) {
            bool red = i >= 0 && failed(json_array_get(plugins, (size_t)i));
            line(fr, "%s%s%s", red ? col_red() : "", row, red ? col_reset() : "");
        }
        free(text);
    }
    table_free(&t);
    if (shown < nplugins)
        line(fr, "%s... and %zu more%s", col_dim(), nplugins - shown, col_reset());
    for (size_t i = 0; i < shown; i++) {
        json_t *p = json_array_get(plugins, i);
        const char *failure = jstr(p, "failure", NULL);
        if (failure)
            line(fr, "%s%s %s: %s%s", col_red(), jstr(p, "name", "?"), jstr(p, "state", "?"),
                 failure, col_reset());
    }
}

static void draw_footer(FILE *f)
{
    char every[FMT_SIZE], text[2 * FMT_SIZE];
    snprintf(text, sizeof text, "q quit   every %s", fmt_ns(every, top.interval));
    fprintf(f, "\033[%d;1H%s", top.rows, col_dim());
    put_cut(f, text, top.cols);
    fprintf(f, "%s\033[K", col_reset());
}

/* Draw the current sample: on the screen, or once to stdout.  Returns 0
 * or EX_IOERR. */
static int draw(void)
{
    char *buf = NULL;
    size_t len = 0;
    struct frame fr = {.f = open_memstream(&buf, &len)};
    if (!fr.f) {
        fprintf(stderr, "gortctl: top: out of memory\n");
        return EX_OSERR;
    }
    fr.max_lines = top.once ? INT_MAX : top.rows - 1;
    if (!top.once)
        fputs("\033[H", fr.f);
    draw_header(&fr);
    draw_heap(&fr);
    draw_gc(&fr);
    draw_sched(&fr);
    draw_plugins(&fr);
    if (!top.once) {
        fputs("\033[J", fr.f);
        draw_footer(fr.f);
    }
    fclose(fr.f);
    bool ok = top.once ? fwrite(buf, 1, len, stdout) == len : write_all(STDOUT_FILENO, buf, len);
    free(buf);
    if (!ok) {
        fprintf(stderr, "gortctl: top: writing to the terminal: %s\n", strerror(errno));
        return EX_IOERR;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The loop                                                             */

/* What ended a wait between frames. */
enum wake { WAKE_DUE, WAKE_QUIT, WAKE_ERROR };

/* Keys typed: true when one says quit. */
static bool read_keys(void)
{
    char keys[64];
    ssize_t k = read(STDIN_FILENO, keys, sizeof keys);
    if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN))
        return true;   /* the terminal is gone */
    for (ssize_t i = 0; i < k; i++) {
        if (keys[i] == 'q' || keys[i] == 'Q' || keys[i] == 3 /* Ctrl-C, should ISIG be off */)
            return true;
        if (keys[i] == 12)   /* Ctrl-L */
            redraw = 1;
    }
    return false;
}

/* Wait until deadline (CLOCK_MONOTONIC ns), reading keys and events and
 * redrawing on a resize.  *rc is set for WAKE_ERROR. */
static enum wake wait_until(int64_t deadline, int *rc)
{
    for (;;) {
        if (ctl_interrupted)
            return WAKE_QUIT;
        if (redraw) {
            redraw = 0;
            window_size();
            if ((*rc = draw()))
                return WAKE_ERROR;
        }
        /* Events ctl_call kept, or whole lines already read. */
        int r = read_events(0);
        if (r == CTL_INTERRUPTED)
            return WAKE_QUIT;
        if (r) {
            *rc = r;
            return WAKE_ERROR;
        }
        int64_t left = deadline - mono_ns();
        if (left <= 0)
            return WAKE_DUE;
        struct pollfd pfd[2] = {{.fd = ctl.fd, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
        int k = ctl_poll(pfd, top.term.keys ? 2 : 1, (int)((left + NS_PER_MS - 1) / NS_PER_MS));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            fprintf(stderr, "gortctl: top: poll: %s\n", strerror(errno));
            *rc = EX_OSERR;
            return WAKE_ERROR;
        }
        if (top.term.keys && pfd[1].revents && read_keys())
            return WAKE_QUIT;
        if (pfd[0].revents) {
            /* An event, or the daemon gone: ctl_next_event says which. */
            r = read_events(EVENT_READ_MS);
            if (r == CTL_INTERRUPTED)
                return WAKE_QUIT;
            if (r) {
                *rc = r;
                return WAKE_ERROR;
            }
        }
    }
}

static int live(void)
{
    for (;;) {
        int rc = take_sample();
        if (rc)
            return rc == 130 ? 0 : rc;
        if ((rc = draw()))
            return rc;
        switch (wait_until(top.cur.at + top.interval, &rc)) {
        case WAKE_DUE:
            break;
        case WAKE_QUIT:
            return 0;
        case WAKE_ERROR:
            return rc;
        }
    }
}

/* --once: two samples an interval apart (the rates need both), one frame. */
static int once(void)
{
    window_size();
    if (!isatty(STDOUT_FILENO))
        top.cols = DEFAULT_COLS;
    int rc = take_sample();
    if (rc)
        return rc;
    int64_t deadline = top.cur.at + top.interval;
    while (!ctl_interrupted && mono_ns() < deadline)
        ctl_poll(NULL, 0, (int)((deadline - mono_ns() + NS_PER_MS - 1) / NS_PER_MS));
    if (!ctl_interrupted && (rc = take_sample()))
        return rc == 130 ? 0 : rc;
    return draw();
}

static int parse_interval(const char *cmd, const char *text)
{
    int64_t ns;
    if (!proto_parse_duration(text, &ns))
        return usage_error(cmd, "--interval \"%s\" is not a duration (e.g. 500ms, 2s)", text);
    if (ns < MIN_INTERVAL || ns > MAX_INTERVAL)
        return usage_error(cmd, "--interval \"%s\" is out of range (100ms to 1h)", text);
    top.interval = ns;
    return 0;
}

int cmd_top(int argc, char **argv)
{
    const char *interval = NULL;
    int n, rc = parse_opts(argc, argv,
                           (const struct opt[]){{"interval", true, &interval, NULL},
                                                {"once", false, NULL, &top.once},
                                                {NULL}},
                           &n);
    if (rc || (rc = want_args(argv[0], n, 0, 0)))
        return rc;
    top.interval = DEFAULT_INTERVAL;
    if (interval && (rc = parse_interval(argv[0], interval)))
        return rc;
    if (ctl.json)
        return usage_error(argv[0], "--json does not apply to top; try stats --json or memstats --json");
    if (!top.once && !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "gortctl: top needs a terminal; use stats, memstats or metrics (or top --once)\n");
        return EX_USAGE;
    }
    setlocale(LC_CTYPE, "");
    top.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    ctl_catch_interrupts();
    if ((rc = ctl_connect()))
        return rc == 130 ? 0 : rc;
    if (top.once)
        return once();
    /* Before the screen is taken, so that a refusal prints plainly. */
    int64_t id;
    if ((rc = ctl_subscribe("schedtrace", &id)))
        return rc == 130 ? 0 : rc;
    term_enter();
    rc = live();
    term_leave();
    return rc;
}
