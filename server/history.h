/* history.h - the job's evaluations kept in the daemon, so a dashboard opened late (or after
 * a restart) draws the whole run, not only what happened while it was open.
 *
 * Bounded: PD_HISTORY_CAP points. When full, every other point goes and from then on only
 * every second evaluation is kept (the stride doubles), so the points stay spread evenly over
 * the whole job however long it runs. The newest evaluation is always the last point (it
 * replaces a previous newest that fell between two kept ones). Pure: no I/O, no clock. */
#ifndef PD_SERVER_HISTORY_H
#define PD_SERVER_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define PD_HISTORY_CAP 1024

typedef struct {
    double wall_time;          /* Unix seconds: the chart's time axis spans restarts */
    double version;            /* parameter version evaluated */
    double objective;
    double test_accuracy;      /* NaN: no test set, or not a classifier */
    double updates_per_second;
} pd_history_point_t;

typedef struct {
    pd_history_point_t v[PD_HISTORY_CAP];
    size_t n;
    uint64_t stride;     /* keep every stride-th evaluation */
    uint64_t offered;    /* evaluations offered so far */
    int tail_is_extra;   /* v[n-1] is a newest point between two kept ones */
} pd_history_t;

void pd_history_init(pd_history_t *h);
/* Record one evaluation (copied). */
void pd_history_add(pd_history_t *h, const pd_history_point_t *p);

#endif
