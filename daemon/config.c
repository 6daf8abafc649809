/*
 * config.c - gortd's settings: defaults, the key = value file, the
 * environment and the command line, strongest last (SPEC §4).
 *
 * Every setting is described once, in the settings table: its file key,
 * its flag, how to parse it and what values are allowed.  The file and
 * the flags go through the same parser, so a bad value gets the same
 * message wherever it was written, naming the key, the value and what is
 * allowed.  Nothing is clamped: a value out of range is an error.
 *
 * The runtime knobs GOGC, GOMAXPROCS and GOMEMLIMIT are read from the
 * environment by libgort itself; here the environment only decides
 * whether the file's value applies (flag > env > file), and is checked so
 * that --check-config reports a bad GOGC the way it reports a bad key.
 */
#include "gortd.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gort/gort.h"

#define EX_USAGE 64
#define EX_CONFIG 78

enum kind { K_PATH, K_DIRS, K_GROUP, K_INT, K_GOGC, K_SIZE, K_DURATION };

#define NO_SRC ((size_t)-1)

struct setting {
    const char *key;     /* in the file */
    const char *flag;    /* --flag */
    const char *env;     /* environment variable read by libgort, or NULL */
    enum kind kind;
    long min, max;       /* K_INT */
    size_t off;          /* the field in struct config: char * (K_PATH), int (K_INT),
                          * int64_t (K_SIZE, K_DURATION); unused for the others */
    size_t src_off;      /* its enum cfg_src field, or NO_SRC */
    bool reload;         /* SIGHUP re-reads it from the file */
    const char *help;
};

#define F(f) offsetof(struct config, f)
static const struct setting settings[] = {
    {"socket", "socket", NULL, K_PATH, 0, 0, F(socket_path), NO_SRC, false, "control socket path"},
    {"state_dir", "state-dir", NULL, K_PATH, 0, 0, F(state_dir), NO_SRC, false, "directory for the daemon's state"},
    {"plugin_dirs", "plugin-dir", NULL, K_DIRS, 0, 0, 0, NO_SRC, false, "plugin directories (comma-separated in the file; the flag repeats)"},
    {"read_group", "read-group", NULL, K_GROUP, 0, 0, 0, NO_SRC, true, "group allowed the read-only commands"},
    {"admin_group", "admin-group", NULL, K_GROUP, 0, 0, 0, NO_SRC, true, "group allowed every command"},
    {"max_clients", "max-clients", NULL, K_INT, 1, 4096, F(max_clients), NO_SRC, true, "most clients connected at once"},
    {"idle_timeout", "idle-timeout", NULL, K_INT, 0, 86400, F(idle_timeout_s), NO_SRC, true, "seconds a client may stay silent (0: forever)"},
    {"unload_timeout_ms", "unload-timeout", NULL, K_INT, 1, 600000, F(unload_timeout_ms), NO_SRC, true, "ms a plugin gets to stop on unload"},
    {"gogc", "gogc", "GOGC", K_GOGC, 0, 0, F(gogc), F(gogc_src), true, "GOGC percentage, or off"},
    {"gomaxprocs", "gomaxprocs", "GOMAXPROCS", K_INT, 1, INT_MAX, F(gomaxprocs), F(gomaxprocs_src), true, "number of Ps (above 1024: 1024, as Go clamps)"},
    {"memory_limit", "memory-limit", "GOMEMLIMIT", K_SIZE, 0, 0, F(memory_limit), F(memory_limit_src), true, "soft memory limit: bytes with B, KiB, MiB, GiB or TiB, or off"},
    {"history_db", "history-db", NULL, K_PATH, 0, 0, F(history_path), NO_SRC, false, "history database (default STATE_DIR/history.db), or off"},
    {"history_flush_ms", "history-flush", NULL, K_INT, 10, 1000, F(history_flush_ms), NO_SRC, true, "ms between history commits (at most this much is lost in a crash)"},
    {"sample_interval_ms", "sample-interval", NULL, K_INT, 100, 86400000, F(sample_ms), NO_SRC, true, "ms between memstats and scheduler samples in the history"},
    {"history_max_age", "history-max-age", NULL, K_DURATION, 0, 0, F(history_max_age_ns), NO_SRC, true, "history rows older than this are pruned (e.g. 30d, 12h; 0: never)"},
    {"history_max_rows", "history-max-rows", NULL, K_INT, 0, INT_MAX, F(history_max_rows), NO_SRC, true, "rows kept per history table (0: no limit)"},
    {"history_max_size", "history-max-size", NULL, K_SIZE, 0, 0, F(history_max_size), NO_SRC, true, "largest history database: bytes with B, KiB, MiB, GiB or TiB, or off"},
};
#undef F
#define NSETTINGS (sizeof settings / sizeof settings[0])
_Static_assert(NSETTINGS <= 32, "struct config's pinned mask has 32 bits");

static const struct setting *find_key(const char *key)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
    if (!*s || isspace((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool lookup_group(const char *name, gid_t *gid)
{
    struct group grp, *res = NULL;
    char buf[16384];
    if (getgrnam_r(name, &grp, buf, sizeof buf, &res) == 0 && res) {
        *gid = res->gr_gid;
        return true;
    }
    return false;
}

static void set_str(char **dst, const char *v)
{
    char *c = strdup(v);
    if (!c) {
        fprintf(stderr, "gortd: out of memory\n");
        exit(1);
    }
    free(*dst);
    *dst = c;
}

/* Apply one value from src ("flag --x", "file:12" ...: where names it in
 * messages).  Prints the error and returns false on a bad value. */
static bool apply(struct config *cfg, const struct setting *st, const char *v, enum cfg_src src,
                  const char *where)
{
    long n;
    int64_t size;
    switch (st->kind) {
    case K_PATH:
        if (!*v) {
            fprintf(stderr, "gortd: %s: %s = \"\": want a path\n", where, st->key);
            return false;
        }
        set_str((char **)((char *)cfg + st->off), v);
        return true;
    case K_DIRS: {
        /* The file lists them all; each flag adds one (the first flag
         * replaces what the file and the defaults said). */
        if (src != CFG_FLAG || !cfg->plugin_dirs_flagged) {
            for (int i = 0; i < cfg->nplugin_dirs; i++)
                free(cfg->plugin_dirs[i]);
            cfg->nplugin_dirs = 0;
        }
        if (src == CFG_FLAG)
            cfg->plugin_dirs_flagged = true;
        char *copy = strdup(v), *save = NULL;
        for (char *d = strtok_r(copy, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
            while (isspace((unsigned char)*d))
                d++;
            size_t len = strlen(d);
            while (len && isspace((unsigned char)d[len - 1]))
                d[--len] = '\0';
            if (d[0] != '/' && src != CFG_FLAG) {
                fprintf(stderr, "gortd: %s: %s: \"%s\" is not an absolute path\n", where, st->key, d);
                free(copy);
                return false;
            }
            if (cfg->nplugin_dirs == CFG_MAX_PLUGIN_DIRS) {
                fprintf(stderr, "gortd: %s: %s: more than %d directories\n", where, st->key,
                        CFG_MAX_PLUGIN_DIRS);
                free(copy);
                return false;
            }
            cfg->plugin_dirs[cfg->nplugin_dirs] = NULL;
            set_str(&cfg->plugin_dirs[cfg->nplugin_dirs++], d);
        }
        free(copy);
        return true;
    }
    case K_GROUP: {
        gid_t gid;
        if (!lookup_group(v, &gid)) {
            fprintf(stderr, "gortd: %s: %s = \"%s\": no such group\n", where, st->key, v);
            return false;
        }
        bool rd = strcmp(st->key, "read_group") == 0;
        set_str(rd ? &cfg->read_group : &cfg->admin_group, v);
        *(rd ? &cfg->read_gid : &cfg->admin_gid) = gid;
        return true;
    }
    case K_INT:
        if (!parse_long(v, st->min, st->max, &n)) {
            fprintf(stderr, "gortd: %s: %s = \"%s\": want an integer from %ld to %ld\n", where, st->key, v,
                    st->min, st->max);
            return false;
        }
        *(int *)((char *)cfg + st->off) = (int)n;
        break;
    case K_GOGC:
        if (strcmp(v, "off") == 0)
            n = -1;
        else if (!parse_long(v, 0, INT_MAX, &n)) {
            fprintf(stderr, "gortd: %s: %s = \"%s\": want a percentage from 0 to %d, or off\n", where,
                    st->key, v, INT_MAX);
            return false;
        }
        *(int *)((char *)cfg + st->off) = (int)n;
        break;
    case K_SIZE:
    case K_DURATION: {
        bool sz = st->kind == K_SIZE;
        if (!(sz ? proto_parse_size(v, &size) : proto_parse_duration(v, &size))) {
            fprintf(stderr, "gortd: %s: %s = \"%s\": want %s\n", where, st->key, v,
                    sz ? "bytes with an optional B, KiB, MiB, GiB or TiB suffix, or off"
                       : "a duration such as 30d, 12h, 90m or 1h30m (units ms, s, m, h, d, w), or 0");
            return false;
        }
        *(int64_t *)((char *)cfg + st->off) = size;
        break;
    }
    }
    if (st->src_off != NO_SRC)
        *(enum cfg_src *)((char *)cfg + st->src_off) = src;
    if (src >= CFG_ENV)
        cfg->pinned |= 1u << (st - settings);
    return true;
}

/* The file: "key = value" lines, '#' comments, blank lines; a value may be
 * double-quoted.  A key may appear once. */
static bool read_file(struct config *cfg, const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        fprintf(stderr, "gortd: config %s: %s\n", path, strerror(errno));
        return false;
    }
    bool seen[NSETTINGS] = {0};
    char line[4096];
    int lineno = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        char where[PATH_MAX + 32];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            fprintf(stderr, "gortd: %s: line longer than %zu bytes\n", where, sizeof line - 2);
            ok = false;
            break;
        }
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(stderr, "gortd: %s: want key = value, got \"%.*s\"\n", where,
                    (int)strcspn(s, "\r\n"), s);
            ok = false;
            break;
        }
        char *k = s, *ke = eq;
        while (ke > k && isspace((unsigned char)ke[-1]))
            ke--;
        *ke = '\0';
        char *v = eq + 1;
        while (isspace((unsigned char)*v))
            v++;
        char *ve = v + strlen(v);
        while (ve > v && isspace((unsigned char)ve[-1]))
            ve--;
        *ve = '\0';
        if (ve - v >= 2 && v[0] == '"' && ve[-1] == '"') {
            v++;
            ve[-1] = '\0';
        }
        const struct setting *st = find_key(k);
        if (!st) {
            fprintf(stderr, "gortd: %s: unknown key \"%s\" (known:", where, k);
            for (size_t i = 0; i < NSETTINGS; i++)
                fprintf(stderr, " %s", settings[i].key);
            fprintf(stderr, ")\n");
            ok = false;
            break;
        }
        if (seen[st - settings]) {
            fprintf(stderr, "gortd: %s: %s set twice\n", where, k);
            ok = false;
            break;
        }
        seen[st - settings] = true;
        /* The environment beats the file for the runtime knobs. */
        if (st->env && getenv(st->env)) {
            const char *ev = getenv(st->env);
            if (*ev)
                continue;
        }
        ok = apply(cfg, st, v, CFG_FILE, where);
    }
    if (ok && ferror(f)) {
        fprintf(stderr, "gortd: config %s: %s\n", path, strerror(errno));
        ok = false;
    }
    fclose(f);
    return ok;
}

/* The runtime reads these itself; checked here so that a bad one is an
 * error naming it rather than a warning the runtime prints and ignores. */
static bool check_env(struct config *cfg)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *st = &settings[i];
        const char *v = st->env ? getenv(st->env) : NULL;
        if (!v || !*v)
            continue;
        char where[64];
        snprintf(where, sizeof where, "environment %s", st->env);
        if (!apply(cfg, st, v, CFG_ENV, where))
            return false;
    }
    return true;
}

static void defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_clients = 64;
    cfg->idle_timeout_s = 300;
    cfg->unload_timeout_ms = 5000;
    cfg->gogc = 100;
    cfg->memory_limit = INT64_MAX;
    cfg->history_flush_ms = 500;
    cfg->sample_ms = 10000;
    cfg->history_max_age_ns = 30 * 86400 * (int64_t)1000000000;
    cfg->history_max_rows = 1000000;
    cfg->history_max_size = INT64_MAX;
    if (geteuid() == 0) {
        set_str(&cfg->socket_path, "/run/gortd/gortd.sock");
        set_str(&cfg->state_dir, "/var/lib/gortd");
        set_str(&cfg->plugin_dirs[cfg->nplugin_dirs++], "/usr/lib/gortd/plugins");
        cfg->plugin_dirs[cfg->nplugin_dirs] = NULL;
        set_str(&cfg->plugin_dirs[cfg->nplugin_dirs++], "/etc/gortd/plugins.d");
        return;
    }
    const char *rt = getenv("XDG_RUNTIME_DIR");
    char buf[PATH_MAX];
    if (rt && *rt) {
        snprintf(buf, sizeof buf, "%s/gortd.sock", rt);
        set_str(&cfg->socket_path, buf);
    }
    const char *st = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (st && *st)
        snprintf(buf, sizeof buf, "%s/gortd", st);
    else if (home && *home)
        snprintf(buf, sizeof buf, "%s/.local/state/gortd", home);
    else
        return;
    set_str(&cfg->state_dir, buf);
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "/plugins");
    set_str(&cfg->plugin_dirs[cfg->nplugin_dirs++], buf);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: gortd [options]\n\n"
               "  --config FILE         read settings from FILE (default /etc/gortd/gortd.conf when\n"
               "                        running as root and it exists)\n"
               "  --check-config        validate the settings and exit\n"
               "  --version             print the version and exit\n"
               "  --help                this text\n\n"
               "Settings (flag, and key in the file):\n");
    for (size_t i = 0; i < NSETTINGS; i++)
        fprintf(f, "  --%-20s %-18s %s\n", settings[i].flag, settings[i].key, settings[i].help);
    fprintf(f, "\nThe runtime also reads GOGC, GOMAXPROCS, GOMEMLIMIT and GODEBUG from the environment.\n"
               "Precedence: flag > environment > file > default.\n");
}

int config_load(struct config *cfg, int argc, char **argv)
{
    defaults(cfg);
    enum { O_CONFIG = 1000, O_CHECK, O_VERSION, O_HELP, O_SETTING };
    struct option opts[NSETTINGS + 5];
    size_t no = 0;
    opts[no++] = (struct option){"config", required_argument, NULL, O_CONFIG};
    opts[no++] = (struct option){"check-config", no_argument, NULL, O_CHECK};
    opts[no++] = (struct option){"version", no_argument, NULL, O_VERSION};
    opts[no++] = (struct option){"help", no_argument, NULL, O_HELP};
    for (size_t i = 0; i < NSETTINGS; i++)
        opts[no++] = (struct option){settings[i].flag, required_argument, NULL, O_SETTING + (int)i};
    opts[no] = (struct option){0};

    /* First pass: find the file; settings from flags come after it. */
    const char *file = NULL;
    bool explicit_file = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == O_CONFIG) {
            file = optarg;
            explicit_file = true;
        } else if (c == O_HELP) {
            usage(stdout);
            return -1;
        } else if (c == O_VERSION) {
            printf("gortd %s\n", GORTD_VERSION);
            return -1;
        } else if (c == '?') {
            if (optopt > 0 && optopt < 256)
                fprintf(stderr, "gortd: option -%c is unknown\n", optopt);
            else
                fprintf(stderr, "gortd: option %s is unknown\n", argv[optind - 1]);
            usage(stderr);
            return EX_USAGE;
        } else if (c == ':') {
            fprintf(stderr, "gortd: option %s needs a value\n", argv[optind - 1]);
            return EX_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gortd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return EX_USAGE;
    }
    if (!explicit_file && geteuid() == 0 && access("/etc/gortd/gortd.conf", F_OK) == 0)
        file = "/etc/gortd/gortd.conf";
    if (file) {
        set_str(&cfg->config_path, file);
        if (!read_file(cfg, file))
            return EX_CONFIG;
    }
    if (!check_env(cfg))
        return EX_CONFIG;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == O_CHECK)
            cfg->check_only = true;
        if (c < O_SETTING)
            continue;
        const struct setting *st = &settings[c - O_SETTING];
        char where[64];
        snprintf(where, sizeof where, "flag --%s", st->flag);
        if (!apply(cfg, st, optarg, CFG_FLAG, where))
            return EX_USAGE;
    }
    if (!cfg->socket_path) {
        fprintf(stderr, "gortd: no socket path: XDG_RUNTIME_DIR is not set; give --socket PATH\n");
        return EX_CONFIG;
    }
    if (!cfg->state_dir) {
        fprintf(stderr, "gortd: no state directory: neither XDG_STATE_HOME nor HOME is set; give "
                        "--state-dir DIR\n");
        return EX_CONFIG;
    }
    return 0;
}

bool config_reload(struct config *cfg)
{
    if (!cfg->config_path) {
        logmsg(LOG_P_INFO, "reload: no config file; nothing to read");
        return true;
    }
    struct config fresh;
    defaults(&fresh);
    if (!read_file(&fresh, cfg->config_path)) {
        logmsg(LOG_P_ERR, "reload: %s is bad (see above); keeping the running settings",
               cfg->config_path);
        config_free(&fresh);
        return false;
    }
    /* What a flag or the environment set stays; the rest follows the file
     * (or goes back to its default). */
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *st = &settings[i];
        if (!st->reload || (cfg->pinned & (1u << i)))
            continue;
        switch (st->kind) {
        case K_INT:
        case K_GOGC:
            *(int *)((char *)cfg + st->off) = *(int *)((char *)&fresh + st->off);
            break;
        case K_SIZE:
        case K_DURATION:
            *(int64_t *)((char *)cfg + st->off) = *(int64_t *)((char *)&fresh + st->off);
            break;
        case K_GROUP: {
            bool rd = strcmp(st->key, "read_group") == 0;
            char **name = rd ? &cfg->read_group : &cfg->admin_group, **fname = rd ? &fresh.read_group : &fresh.admin_group;
            free(*name);
            *name = *fname;
            *fname = NULL;
            *(rd ? &cfg->read_gid : &cfg->admin_gid) = rd ? fresh.read_gid : fresh.admin_gid;
            break;
        }
        default:
            break;
        }
        if (st->src_off != NO_SRC)
            *(enum cfg_src *)((char *)cfg + st->src_off) = *(enum cfg_src *)((char *)&fresh + st->src_off);
    }
    config_free(&fresh);
    return true;
}

void config_free(struct config *cfg)
{
    free(cfg->config_path);
    free(cfg->socket_path);
    free(cfg->state_dir);
    free(cfg->history_path);
    for (int i = 0; i < cfg->nplugin_dirs; i++)
        free(cfg->plugin_dirs[i]);
    free(cfg->read_group);
    free(cfg->admin_group);
    memset(cfg, 0, sizeof *cfg);
}
