/* whole.h - the iterate of the methods whose cores step the whole parameter vector
 * themselves: newton-cg, lbfgs, apts, fosi and dho2. Their trust-region tests, line searches,
 * curvature memories and eigenvector products are reductions over every coordinate, decided
 * in one place; on a sharded job that place is shard 0, which keeps a whole copy of the
 * current version beside its own keys. Each new iterate goes to the store (shard 0's keys)
 * and to every other shard as a COMMIT of its range's values, so the shards serve the
 * iterate to the workers bit for bit as one server would. Alone, the copy is the store's own
 * snapshot: nothing is held twice. */
#ifndef PD_SERVER_METHODS_WHOLE_H
#define PD_SERVER_METHODS_WHOLE_H

#include <stdbool.h>

#include "buf.h"

typedef struct pd_daemon pd_daemon_t;

/* The current version, whole (model.dim values): the store's snapshot, or gathered from the
 * shards (blocking; used once, when the method starts). One reference in *current. */
int pd_whole_open(pd_daemon_t *d, pd_buf_t **current);

/* The parameters of tasks at x (model.dim values): when x may be the iterate and holds the
 * values of current, the store's snapshot (on a sharded job shard 0's keys alone: workers read
 * the rest from the shards at the task's version, and cache it across tasks); else a copy of
 * x, sent whole with every task (*off_version true). One reference in *point, the old one
 * dropped. 0 or -ENOMEM. */
int pd_whole_point(pd_daemon_t *d, const double *x, bool may_be_current,
                   const pd_buf_t *current, pd_buf_t **point, bool *off_version);

/* The values of a pass at `point` (pd_whole_point): the off-version copy, or current's. */
const double *pd_whole_values(const pd_buf_t *point, bool off_version, const pd_buf_t *current);

/* x (model.dim values) becomes the next version: the store takes its keys, every other shard
 * its range (COMMIT of values), *current the whole vector. 0 or -ENOMEM (then *current is
 * NULL and the job must end). */
int pd_whole_publish(pd_daemon_t *d, const double *x, pd_buf_t **current);
/* pd_whole_publish, then the metrics and the stop criteria of an update. */
int pd_whole_commit(pd_daemon_t *d, const double *x, pd_buf_t **current);

#endif
