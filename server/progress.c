/* progress.c - see progress.h. Draws with \r and erase-to-end-of-line only, so it works on
 * any terminal; never drawn when stderr is not a terminal (logs stay one event per line).
 * On a terminal the line is log.c's status line, so log lines go above it, never after it,
 * and it is cut to the terminal's width, so it never wraps (a wrapped line cannot be
 * redrawn with \r). */
#include <config.h>
#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"

void pd_progress_format(const pd_metrics_t *m, double elapsed_s, char *buf, size_t len)
{
    char obj[32] = "-", acc[32] = "-";

    if (isfinite(m->objective)) {
        snprintf(obj, sizeof(obj), "%.5g", m->objective);
    }
    if (isfinite(m->test_accuracy)) {
        snprintf(acc, sizeof(acc), "%.4f", m->test_accuracy);
    }
    /* most telling first: a narrow terminal cuts from the right */
    snprintf(buf, len,
             "%6.1fs  v%.0f  %.0f upd/s  objective %s  acc %s  %.0f workers  staleness %.2f  "
             "dropped %.0f",
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

/* Columns of the terminal on stderr, asked at each draw so a resize takes effect. */
static size_t terminal_columns(void)
{
    struct winsize ws;

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        return ws.ws_col;
    }
    return 80;
}

void pd_progress_draw(pd_daemon_t *d)
{
    char line[256];

    if (!d->progress_on) {
        return;
    }
    pd_progress_format(&d->metrics, pd_daemon_training_seconds(d), line,
                       sizeof(line));
    if (!isatty(STDERR_FILENO)) {
        fprintf(stderr, "%s\n", line); /* progress = yes without a terminal: plain lines */
        fflush(stderr);
        return;
    }
    /* one column spare: writing the last column makes some terminals wrap at once */
    size_t cols = terminal_columns();
    if (cols - 1 < sizeof(line)) {
        line[cols - 1] = '\0';
    }
    pd_log_status_line(line);
}

void pd_progress_clear(pd_daemon_t *d)
{
    if (d->progress_on && isatty(STDERR_FILENO)) {
        pd_log_status_line(NULL);
    }
}
