/* progress.c - see progress.h. Draws with \r and erase-to-end-of-line only, so it works on
 * any terminal; never drawn when stderr is not a terminal (logs stay one event per line). */
#include <config.h>
#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

void pd_progress_format(const pd_metrics_t *m, double elapsed_s, char *buf, size_t len)
{
    char obj[32] = "-", acc[32] = "-";

    if (isfinite(m->objective)) {
        snprintf(obj, sizeof(obj), "%.5g", m->objective);
    }
    if (isfinite(m->test_accuracy)) {
        snprintf(acc, sizeof(acc), "%.4f", m->test_accuracy);
    }
    snprintf(buf, len,
             "%6.1fs  version %.0f  %.0f upd/s  objective %s  test acc %s  workers %.0f  "
             "staleness %.2f  dropped %.0f",
             elapsed_s, m->version, m->updates_per_second, obj, acc, m->workers,
             m->staleness_mean, m->gradients_dropped_stale_total);
}

bool pd_progress_wanted(const pd_daemon_t *d)
{
    if (d->cfg.progress == PD_PROGRESS_YES) {
        return true;
    }
    return d->cfg.progress == PD_PROGRESS_AUTO && isatty(STDERR_FILENO);
}

void pd_progress_draw(pd_daemon_t *d)
{
    char line[256];

    if (!d->progress_on) {
        return;
    }
    pd_progress_format(&d->metrics, pd_daemon_training_seconds(d), line,
                       sizeof(line));
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "\r%s\033[K", line);
    } else {
        fprintf(stderr, "%s\n", line); /* progress = yes without a terminal: plain lines */
    }
    fflush(stderr);
}

void pd_progress_clear(pd_daemon_t *d)
{
    if (d->progress_on && isatty(STDERR_FILENO)) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
}
