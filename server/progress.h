/* progress.h - the one-line progress display on a terminal: elapsed time, updates/s,
 * objective, test accuracy, workers and mean staleness, redrawn every tick in place. */
#ifndef PD_SERVER_PROGRESS_H
#define PD_SERVER_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon.h"

/* Format the line (no newline) into buf; pure, for tests. */
void pd_progress_format(const pd_metrics_t *m, double elapsed_s, char *buf, size_t len);
bool pd_progress_wanted(const pd_daemon_t *d);
void pd_progress_draw(pd_daemon_t *d);
/* Erase the line before other output (the summary). */
void pd_progress_clear(pd_daemon_t *d);

#endif
