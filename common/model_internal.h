/* model_internal.h - what model.c shares with the per-model files (model_logistic.c,
 * model_softmax.c, model_lsq.c): the ops row each model fills, and the numerically stable
 * primitives of ALGORITHMS.md §6. Internal to common/model*.c and their unit test; not a
 * public interface. */
#ifndef PD_COMMON_MODEL_INTERNAL_H
#define PD_COMMON_MODEL_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cblas.h>

#include "data.h"
#include "error.h"
#include "model.h"

/* One row per pd_model_kind_t. model.c checks everything that depends on the input before
 * calling in: d->p == m->p, every index < d->m, label_ok() for every sample touched, and
 * m->p + m->bias <= INT_MAX (so BLAS int arguments cannot overflow). The functions may
 * therefore assume valid input; they fail only with -ENOMEM. */
typedef struct pd_model_ops {
    /* Whether one label is usable by this model at gradient time (bind checks more). */
    bool (*label_ok)(const pd_model_t *m, double y);
    int (*grad_sum)(const pd_model_t *m, const pd_data_t *d, const double *x,
                    const uint32_t *idx, size_t n, double *grad, double *loss_sum);
    int (*loss_sum)(const pd_model_t *m, const pd_data_t *d, const double *x,
                    const uint32_t *idx, size_t n, double *loss_sum);
    int (*hvp_sum)(const pd_model_t *m, const pd_data_t *d, const double *x, const double *v,
                   const uint32_t *idx, size_t n, double *hv);
    int (*eval_range)(const pd_model_t *m, const pd_data_t *d, const double *x, size_t begin,
                      size_t end, double *loss_sum, uint64_t *correct);
    /* L of the mean loss = lipschitz_scale * lambda_max(A^T A) / m (§6.1-6.3). */
    double lipschitz_scale;
} pd_model_ops_t;

extern const pd_model_ops_t pd_model_logistic_ops;
extern const pd_model_ops_t pd_model_softmax_ops;
extern const pd_model_ops_t pd_model_lsq_ops;
extern const pd_model_ops_t pd_model_quad_ops;
extern const pd_model_ops_t pd_model_mlp_ops;

/* Whether the computation under way was asked to stop (pd_model_t.cancel). The loops check
 * it between blocks of samples and return PD_ECANCELED: a computation that runs to its end
 * sums exactly what it would without the checks. */
static inline bool pd_model_stop(const pd_model_t *m)
{
    return m->cancel != NULL && atomic_load_explicit(m->cancel, memory_order_relaxed) != 0;
}

/* The per-sample loops check every this many samples. */
#define PD_MODEL_STOP_EVERY 1024

/* Rows per dgemm block: big enough to amortise the BLAS call, small enough that a block of
 * Fashion-MNIST rows (256 x 784 doubles, 1.6 MB) stays in L2/L3 between the two products. */
#define PD_MODEL_BLOCK_ROWS 256

/* softplus(t) = log(1 + e^t) without overflow for any finite t (§6). */
static inline double pd_softplus(double t)
{
    return fmax(t, 0.0) + log1p(exp(-fabs(t)));
}

/* sigma(t) = 1 / (1 + e^-t); the branch keeps exp() from overflowing (§6). */
static inline double pd_sigmoid(double t)
{
    if (t >= 0.0) {
        return 1.0 / (1.0 + exp(-t));
    }
    double e = exp(t);
    return e / (1.0 + e);
}

/* Logistic labels arrive as {0,1} or {-1,+1}; the loss is written for +-1 (§6.1). */
static inline double pd_logistic_sign(double y)
{
    return y > 0.0 ? 1.0 : -1.0;
}

/* a_i^T x + bias * x[p] for linear models (x has p + bias entries). CSR rows are walked as
 * stored: the loader guarantees col < p, so no check here (it would cost as much as the dot). */
static inline double pd_model_row_dot(const pd_model_t *m, const pd_data_t *d, size_t i,
                                      const double *x)
{
    double z = 0.0;
    if (d->sparse) {
        for (size_t k = d->row_ptr[i]; k < d->row_ptr[i + 1]; k++) {
            z += d->val[k] * x[d->col[k]];
        }
    } else {
        z = cblas_ddot((int)m->p, pd_data_dense_row(d, i), 1, x, 1);
    }
    if (m->bias) {
        z += x[m->p];
    }
    return z;
}

/* pd_model_row_dot of x and of v at once: a sparse row is read once for both (an HVP's
 * cost is memory traffic), each sum in the same order as pd_model_row_dot's, so the same
 * bits. */
static inline void pd_model_row_dot2(const pd_model_t *m, const pd_data_t *d, size_t i,
                                     const double *x, const double *v, double *zx, double *zv)
{
    if (!d->sparse) {
        *zx = pd_model_row_dot(m, d, i, x);
        *zv = pd_model_row_dot(m, d, i, v);
        return;
    }
    double a = 0.0, b = 0.0;
    for (size_t k = d->row_ptr[i]; k < d->row_ptr[i + 1]; k++) {
        a += d->val[k] * x[d->col[k]];
        b += d->val[k] * v[d->col[k]];
    }
    if (m->bias) {
        a += x[m->p];
        b += v[m->p];
    }
    *zx = a;
    *zv = b;
}

/* g += alpha * (a_i, 1) for linear models. */
static inline void pd_model_row_axpy(const pd_model_t *m, const pd_data_t *d, size_t i,
                                     double alpha, double *g)
{
    if (d->sparse) {
        for (size_t k = d->row_ptr[i]; k < d->row_ptr[i + 1]; k++) {
            g[d->col[k]] += alpha * d->val[k];
        }
    } else {
        cblas_daxpy((int)m->p, alpha, pd_data_dense_row(d, i), 1, g, 1);
    }
    if (m->bias) {
        g[m->p] += alpha;
    }
}

#endif
