/* compute.h - what a task computes: the gradient sum over a task's minibatch (drawn from the
 * task seed, split over threads), gradient differences, and evaluation over sample ranges.
 * Pure computation on borrowed data; no sockets. Shared by paramd-worker and the simulated
 * workers of paramd-sim (server/sim.c), so both compute the same bits. */
#ifndef PD_COMMON_COMPUTE_H
#define PD_COMMON_COMPUTE_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "model.h"

typedef struct pd_task_ctx {
    const pd_model_t *model;
    const pd_data_t *train;
    const pd_data_t *test;
    unsigned threads;   /* >= 1 */
    uint32_t *idx;      /* scratch for batch indices */
    size_t idx_cap;
    double *partials;   /* (threads - 1) x dim scratch for per-thread sums */
} pd_task_ctx_t;

int pd_task_ctx_init(pd_task_ctx_t *t, const pd_model_t *model, const pd_data_t *train,
                     const pd_data_t *test, unsigned threads);
void pd_task_ctx_release(pd_task_ctx_t *t);

/* grad (dim) = sum of per-sample gradients over `batch` indices drawn by pd_rng_sample(seed);
 * *loss_sum their losses. Threads sum disjoint slices, combined in thread order, so a fixed
 * thread count gives the same bits every time. */
int pd_task_grad(pd_task_ctx_t *t, const double *x, uint64_t seed, uint32_t batch,
                 double *grad, double *loss_sum);

/* As pd_task_grad over the training samples [begin, end) in index order (each once).
 * PD_EDIM for an empty range or one past the data. */
int pd_task_grad_range(pd_task_ctx_t *t, const double *x, uint64_t begin, uint64_t end,
                       double *grad, double *loss_sum);

/* diff (dim) = sum over the `batch` indices drawn by pd_rng_sample(seed) of
 * grad f_j(x) - grad f_j(y); scratch (dim) is overwritten; *loss_sum is the loss sum at x. */
int pd_task_grad_diff(pd_task_ctx_t *t, const double *x, const double *y, uint64_t seed,
                      uint32_t batch, double *diff, double *scratch, double *loss_sum);

/* The samples a task sums over (doc/protocol.md, "Sample sets"): with batch = 0 the
 * training samples [begin, end); with batch > 0 the batch drawn by pd_rng_sample(seed), or,
 * when end > 0, positions [begin, end) of that batch (one fixed batch split over workers). */
typedef struct pd_sample_set {
    uint64_t seed;
    uint32_t batch;
    uint64_t begin, end;
} pd_sample_set_t;

/* t->idx[0 .. *n) = the indices of set. PD_EDIM for an empty set or one past the data. */
int pd_task_samples(pd_task_ctx_t *t, const pd_sample_set_t *set, size_t *n);

/* grad (dim) = sum over set of the per-sample gradients, *loss_sum their losses; *n_samples
 * its size. Same bits as pd_task_grad / pd_task_grad_range for the same samples. */
int pd_task_grad_set(pd_task_ctx_t *t, const double *x, const pd_sample_set_t *set,
                     double *grad, double *loss_sum, size_t *n_samples);

/* pd_task_grad_set for samples that touch only keys[0 .. n_keys) (increasing; each < dim; see
 * pd_model_batch_keys): the sums at those keys, packed in key order into grad[0 .. n_keys),
 * bit for bit the values pd_task_grad_set has there. The rest of grad (dim entries) and of the
 * threads' scratch is neither cleared nor meaningful: O(nonzeros), whatever dim is. */
int pd_task_grad_keys(pd_task_ctx_t *t, const double *x, const pd_sample_set_t *set,
                      const uint64_t *keys, size_t n_keys, double *grad, double *loss_sum,
                      size_t *n_samples);

/* hv (dim) = sum over set of the Hessian of f_j at x times q; *n_samples its size. */
int pd_task_hvp(pd_task_ctx_t *t, const double *x, const double *q, const pd_sample_set_t *set,
                double *hv, size_t *n_samples);

/* *loss_sum = sum over set of f_j(x); *n_samples its size. */
int pd_task_loss(pd_task_ctx_t *t, const double *x, const pd_sample_set_t *set,
                 double *loss_sum, size_t *n_samples);

/* Loss sum over training samples [begin, end) and correct predictions over test [tb, te). */
int pd_task_eval(pd_task_ctx_t *t, const double *x, uint64_t begin, uint64_t end, uint64_t tb,
                 uint64_t te, double *loss_sum, uint64_t *correct);

#endif
