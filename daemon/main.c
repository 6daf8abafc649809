/*
 * main.c - gortd: read the settings, start the runtime, serve the control
 * socket until told to stop.
 *
 * The runtime starts in embedded mode (gort_start): this thread is not one
 * of its Ms and never gets a P, so the event loop it runs answers while
 * every P is busy or the world is stopped (SPEC §4).
 */
#include "gortd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "gort/gort.h"

int main(int argc, char **argv)
{
    log_init();
    struct config cfg;
    int rc = config_load(&cfg, argc, argv);
    if (rc != 0) {
        config_free(&cfg);
        return rc == -1 ? 0 : rc;
    }
    if (cfg.check_only) {
        printf("gortd: configuration OK (%s)\n", cfg.config_path ? cfg.config_path : "no config file");
        config_free(&cfg);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!control_block_signals())
        return 1;
    int err = gort_start();
    if (err) {
        logmsg(LOG_P_ERR, "cannot start the runtime: %s", gort_strerror(err));
        return 1;
    }
    if (evthread_use_pthreads() != 0) {
        logmsg(LOG_P_ERR, "libevent has no pthreads support");
        return 1;
    }
    struct event_base *base = event_base_new();
    if (!base) {
        logmsg(LOG_P_ERR, "cannot create the event loop");
        return 1;
    }
    control_apply_knobs(&cfg);
    plugins_init(&cfg);
    if (!control_start(base, &cfg))
        return 1;
    if (!control_start_history()) {
        control_stop();
        return 1;
    }
    plugins_load_dirs();
    logmsg(LOG_P_INFO, "gortd %s listening on %s (pid %d, GOMAXPROCS %d, GOGC %d)", GORTD_VERSION,
           cfg.socket_path, (int)getpid(), gort_gomaxprocs(0), gort_gc_percent());
    notify_ready(cfg.socket_path, "Serving");
    notify_watchdog_start();
    event_base_dispatch(base);
    control_stop();
    history_stop();
    event_base_free(base);
    logmsg(LOG_P_INFO, "stopped");
    config_free(&cfg);
    return 0;
}
