/* optim.h - server-side optimisers and step-size schedules (ALGORITHMS.md §1.6, §2).
 * Pure: state in, state out, no I/O. The optimiser state advances once per APPLIED gradient,
 * so a dropped gradient leaves momentum and Adam moments untouched. After the optimiser step
 * the proximal operator of the regulariser is applied with the same step size. */
#ifndef PD_SERVER_OPTIM_H
#define PD_SERVER_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "prox.h"

typedef struct pd_optim {
    int kind;          /* pd_optimizer_kind_t */
    int schedule;      /* pd_schedule_kind_t */
    double lr;
    int64_t decay_steps;
    double decay_rate;
    double momentum;
    double beta1, beta2, epsilon;
    pd_reg_t reg;
    const double *mask; /* dim entries: 1 regularised, 0 bias (borrowed) */
    size_t dim;
    uint64_t t;         /* applied updates so far */
    double *u;          /* momentum buffer, or Adam first moment (dim) */
    double *v;          /* Adam second moment (dim) */
    double *undo;       /* 3 x dim: x, u, v of the range being applied, to take a step back;
                         * written only by steps near overflow (pages never written cost
                         * no memory); for a key list, the gathered coordinates being
                         * stepped (as many pages as keys) */
} pd_optim_t;

/* Allocate state for dim parameters. 0 or -ENOMEM. Returned: free with pd_optim_release. */
int pd_optim_init(pd_optim_t *o, size_t dim);
void pd_optim_release(pd_optim_t *o);

/* Step size for the next update under the schedule (before any staleness scaling). */
double pd_optim_lr(const pd_optim_t *o);

/* Apply one mean gradient g to x[offset .. offset+len) with step `lr` (schedule and staleness
 * already folded in), then the prox of the regulariser. The optimiser state of the same
 * coordinates advances and t counts one update (a key-value push of a range is one update). */
void pd_optim_apply(pd_optim_t *o, double *x, size_t offset, size_t len, const double *g,
                    double lr);

/* As pd_optim_apply, but a step that would leave any of x[offset .. offset+len) NaN or Inf is
 * taken back: x and the optimiser state (t included) are as before, bit for bit. 0, or
 * PD_ENONFINITE when the step was not applied (the caller counts it and reports it).
 * The step is predicted in a read-only pass and taken in place when every result is surely
 * finite (below 2^1023; for Adam a bound on its step); the rare steps the prediction cannot
 * vouch for are saved to `undo` chunk by chunk and put back on the first non-finite value. */
int pd_optim_apply_finite(pd_optim_t *o, double *x, size_t offset, size_t len, const double *g,
                          double lr);

/* pd_optim_apply_finite for a caller that knows x_bound >= |x| over the range (the store keeps
 * one per block): a plain sgd step whose gradient is finite and small enough that
 * x_bound + lr max|g| stays far from overflow is taken in place after one read of g alone,
 * and *moved = lr max|g| (no value moved further; the prox only shrinks). Anything else
 * (momentum, Adam, a NaN, a step near overflow) is pd_optim_apply_finite's, with *moved = -1.
 * Same results, bit for bit, and the same return value. */
int pd_optim_apply_bounded(pd_optim_t *o, double *x, size_t offset, size_t len, const double *g,
                           double lr, double x_bound, double *moved);

/* pd_optim_apply_finite on the scattered coordinates x[keys[0]], ..., x[keys[n-1]] (keys
 * strictly increasing, each < dim; g holds n values in key order): the same arithmetic per
 * coordinate as a range push of those values, the optimiser state advancing at those
 * coordinates only, t counting one update, and the prox applied to them alone (coordinates
 * not in the list get no proximal catch-up). O(n) time, no allocation. All or nothing:
 * 0, or PD_ENONFINITE with x and the state (t included) as before, bit for bit. */
int pd_optim_apply_keys_finite(pd_optim_t *o, double *x, const uint64_t *keys, size_t n,
                               const double *g, double lr);
/* pd_optim_apply_bounded for a key list: x_bound >= |x| at the keys, *moved as there. */
int pd_optim_apply_keys_bounded(pd_optim_t *o, double *x, const uint64_t *keys, size_t n,
                                const double *g, double lr, double x_bound, double *moved);

#endif
