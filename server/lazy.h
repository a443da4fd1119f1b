/* lazy.h - proximal steps deferred for the coordinates a sparse update did not touch.
 *
 * A dense proximal SGD step is x <- prox_{lr Psi}(x - lr g) on every coordinate. When g is
 * zero outside a minibatch's keys, the step on an untouched coordinate is the prox alone, and
 * doing it at once would cost O(dim) per update. Instead each coordinate remembers the step up
 * to which its proxes were applied, and a log keeps, per step, what its prox does; a coordinate
 * is brought up to date (caught up) only when something reads or writes it, in O(1) whatever
 * the number of steps it skipped:
 *
 *   l1, l2, elastic-net: with a_s = 1 + lr_s l2 the prox of step s maps x > 0 to
 *   max(x - lr_s l1, 0) / a_s (and x < 0 symmetrically). With A_t = a_0 ... a_{t-1} and
 *   C_t = sum_{s<t} lr_s l1 A_s, the steps j .. k-1 give x_k A_k = x_j A_j - (C_k - C_j) while
 *   the sign holds, and 0 once it would change (0 then stays 0). Any step sizes (schedules,
 *   staleness scaling) are exact: the log records the ones applied.
 *   box, nonneg: the projection is idempotent, so one projection replaces any number.
 *
 * The log is bounded: before it fills, or before A could lose range, every coordinate is
 * caught up (an O(dim) sweep) and the log starts again; 2^16 steps between sweeps make their
 * cost negligible. Coordinates whose mask is 0 (unregularised bias) have nothing deferred. */
#ifndef PD_SERVER_LAZY_H
#define PD_SERVER_LAZY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prox.h"

typedef struct pd_lazy {
    pd_reg_t reg;
    const double *mask; /* dim entries, or NULL for all regularised (borrowed) */
    size_t dim;
    uint32_t *stamp;    /* per coordinate: the log position its proxes are applied up to */
    double *a;          /* A_t, t = 0 .. len */
    double *c;          /* C_t, t = 0 .. len */
    uint32_t len;       /* steps logged since the last sweep */
    uint32_t cap;
    uint64_t sweeps;    /* full catch-ups so far (for tests and the curious) */
} pd_lazy_t;

/* Deferral for dim coordinates under regulariser reg (copied) and mask (borrowed, may be
 * NULL). cap: steps between sweeps (0: the default 65536). 0 or -ENOMEM. */
int pd_lazy_init(pd_lazy_t *lz, const pd_reg_t *reg, const double *mask, size_t dim,
                 uint32_t cap);
void pd_lazy_release(pd_lazy_t *lz);

/* Whether anything can be pending: some step was logged since the last sweep. */
bool pd_lazy_pending(const pd_lazy_t *lz);

/* Bring x[keys[0]], ..., x[keys[n-1]] (each < dim) up to date. O(n). */
void pd_lazy_catch_up_keys(pd_lazy_t *lz, double *x, const uint64_t *keys, size_t n);
/* Bring x[offset .. offset + len) up to date. O(len). */
void pd_lazy_catch_up_range(pd_lazy_t *lz, double *x, size_t offset, size_t len);
/* Bring every coordinate up to date and empty the log (a sweep). O(dim) when something is
 * pending, O(1) otherwise. */
void pd_lazy_catch_up_all(pd_lazy_t *lz, double *x);

/* out (a copy of x) as every coordinate would be caught up, leaving x and the log as they
 * are: a reading of the whole vector (an evaluation, a pull of it) then does not change when
 * the coordinates' proxes are applied, so the bits of a run do not depend on when it was
 * read. O(dim). */
void pd_lazy_view(const pd_lazy_t *lz, double *out);

/* Before a sparse step: makes room in the log for one more step of size lr (a sweep of x when
 * it is full, or when the step would take A out of range). */
void pd_lazy_reserve(pd_lazy_t *lz, double *x, double lr);
/* After a step of size lr applied, prox included, to the keys (caught up before it) and to
 * them only: every other coordinate owes this step's prox. Call pd_lazy_reserve first. */
void pd_lazy_log_step(pd_lazy_t *lz, const uint64_t *keys, size_t n, double lr);

/* Forget what is pending without applying it: x was replaced wholesale (a restore). */
void pd_lazy_reset(pd_lazy_t *lz);

#endif
