/*
 * traceback.h - goroutine dumps (see traceback.c).
 */
#ifndef GORT_RUNTIME_TRACEBACK_H
#define GORT_RUNTIME_TRACEBACK_H

#include "gort/gort.h"

/* Dump every user goroutine to fd; used by fatal errors. */
void traceback_all_fd(int fd);
/* Go's name for a wait reason ("chan receive", "sleep", ...). */
const char *waitreason_string(int reason);

#endif
