/* store.h - the parameter vector and its version counter. The version goes up by one with
 * every applied update. Workers receive immutable snapshots (pd_buf_t) that are shared by
 * every message of the same version and freed by libzmq's I/O thread when sent. */
#ifndef PD_SERVER_STORE_H
#define PD_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "lazy.h"

/* Keys per change stamp: a key-value push marks the blocks it wrote, so a pull of a range
 * nobody wrote since the client's copy is answered NOT_MODIFIED even though other keys moved. */
#define PD_STORE_BLOCK 512

typedef struct pd_store {
    double *x;
    size_t dim;
    uint64_t version;
    pd_buf_t *snap;           /* snapshot of some version (one reference held here), or NULL */
    pd_buf_t *range;          /* the last range read copied, of range->version, or NULL */
    pd_buf_t *kept;           /* pd_store_keep_version's snapshot (its version), or NULL */
    size_t range_offset;      /* ... its first key */
    uint64_t whole_version;   /* the version of the last change that may have touched any key */
    uint64_t *block_version;  /* per PD_STORE_BLOCK keys: the version of their last change */
    double *bound;            /* per block: an upper bound of |x| there ... */
    uint64_t *bound_at;       /* ... valid while the block's last change is this version */
    pd_lazy_t *lazy;          /* proxes deferred for keys sparse steps skipped, or NULL */
} pd_store_t;

/* x starts at zero. 0 or -ENOMEM. */
int pd_store_init(pd_store_t *st, size_t dim);
void pd_store_release(pd_store_t *st);
/* From now on, GRAD steps at key lists may leave the prox of the other keys pending (lazy.h):
 * the reads below bring what they read up to date first, and direct readers of x call
 * pd_store_catch_up. 0 or -ENOMEM. */
int pd_store_defer_prox(pd_store_t *st, const pd_reg_t *reg, const double *mask);
/* Every pending prox applied: x is the vector of the current version, for readers of st->x. */
void pd_store_catch_up(pd_store_t *st);
/* The vector of the current version into out (dim values), pending proxes applied to the copy
 * alone (pd_lazy_view): reading it changes nothing, so a run's bits do not depend on when. */
void pd_store_copy(const pd_store_t *st, double *out);

/* A reference to a snapshot of the current version (made if the cached one is older).
 * Returned: the caller owns one reference. 0 or -ENOMEM. */
int pd_store_snapshot(pd_store_t *st, pd_buf_t **out);
/* The values [offset, offset + len) of the current version: *out gets one reference to a
 * buffer and *values points at the range in it. The cached snapshot serves it when current;
 * otherwise a range shorter than the vector is copied alone, so pulling k values costs O(k)
 * whatever the model's size, and only a whole-vector read makes (and caches) a snapshot.
 * The last copied range is kept too: readers of the same range at the same version (workers
 * of one shard's keys, a client polling) share it instead of copying it each. 0 or -ENOMEM. */
int pd_store_read_range(pd_store_t *st, size_t offset, size_t len, pd_buf_t **out,
                        const double **values);
/* Keep the values of the current version readable after steps change x, until the next call
 * (a shard of freya-page or sync-page: a GRAD_DIFF task's y is the point before the last
 * step). A reference to the snapshot, which the workers' reads of the whole range have
 * usually made already. 0 or -ENOMEM. */
int pd_store_keep_version(pd_store_t *st);
/* pd_store_read_range of `version`: the current one, or the one kept. -ESTALE when neither. */
int pd_store_read_range_at(pd_store_t *st, uint64_t version, size_t offset, size_t len,
                           pd_buf_t **out, const double **values);
/* The values x[keys[0]], ..., x[keys[n-1]] of the current version, gathered in key order
 * into a new buffer (one reference in *out, n doubles): O(n) whatever the model's size.
 * keys are valid (each < dim); n > 0. 0 or -ENOMEM. */
int pd_store_read_keys(pd_store_t *st, const uint64_t *keys, size_t n, pd_buf_t **out);
/* Mark that x changed: the version goes up by one. */
void pd_store_bump(pd_store_t *st);
/* Mark that only x[offset .. offset + len) changed: the version goes up by one. */
void pd_store_bump_range(pd_store_t *st, size_t offset, size_t len);
/* x was replaced by other values of `version` (a checkpoint restored): every key counts as
 * changed, and the cached snapshot (maybe of the same version number, other values) is
 * dropped so it is never served. */
void pd_store_reset_version(pd_store_t *st, uint64_t version);
/* An upper bound of |x| over the blocks holding [offset, offset + len): kept per block and
 * grown by each bounded step (pd_store_bound_grow), recomputed (a read of the block) only
 * for blocks changed otherwise since. */
double pd_store_bound(pd_store_t *st, size_t offset, size_t len);
/* After a step that moved no value of [offset, offset + len) by more than `by` and its
 * pd_store_bump_range: the bounds of those blocks grow by `by` and stay valid. */
void pd_store_bound_grow(pd_store_t *st, size_t offset, size_t len, double by);

struct pd_optim;
/* One optimiser step of gradient g at step size lr on x[offset .. offset + len), and the
 * version up by one when it is taken. The keys first catch up on proxes they owe. A plain sgd
 * step on a store without deferred proxes reads only g beforehand (pd_optim_apply_bounded with
 * the blocks' bounds, which it keeps valid); anything else is the guarded step. 0, or
 * PD_ENONFINITE with x, the optimiser state and the version as before. */
int pd_store_step_range(pd_store_t *st, struct pd_optim *o, size_t offset, size_t len,
                        const double *g, double lr);
/* The same on the keys of a list (increasing, each < dim; g in key order), O(n). */
int pd_store_step_keys(pd_store_t *st, struct pd_optim *o, const uint64_t *keys, size_t n,
                       const double *g, double lr);
/* An update that changed none of these keys (a shard's share of a push to other shards): the
 * version and the optimiser's step count go up as a step would move them, no block changes. */
void pd_store_step_none(pd_store_t *st, struct pd_optim *o);
/* A key-list GRAD task's step on a store whose proxes are deferred (sparse_tasks): the step of
 * g on the keys, O(n), while every other key owes this step's prox, applied when it is next
 * read (lazy.h). n may be 0: a shard holding none of the task's keys. The same guard and
 * return as pd_store_step_keys. */
int pd_store_step_keys_deferred(pd_store_t *st, struct pd_optim *o, const uint64_t *keys,
                                size_t n, const double *g, double lr);

/* Whether the values of [offset, offset + len) at `held` are still the current ones: held is
 * not ahead of the store, and no change since held touched the range. */
bool pd_store_range_unchanged(const pd_store_t *st, size_t offset, size_t len, uint64_t held);

/* pd_store_range_unchanged for the keys of a list (increasing, each < dim): conservative
 * per block, so a change to another key of a block holding one of them counts as a change. */
bool pd_store_keys_unchanged(const pd_store_t *st, const uint64_t *keys, size_t n,
                             uint64_t held);

#endif
