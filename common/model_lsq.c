/* model_lsq.c - least squares f_j = (a_j^T x - b_j)^2 / 2 (ALGORITHMS.md §6.3): loss,
 * gradient and HVP sums over a batch, dense or CSR. The HVP never reads x: the Hessian of
 * a linear model's squared loss is constant. Called through model.c, which has already
 * checked indices and labels. */
#include <config.h>
#include "model_internal.h"

static bool lsq_label_ok(const pd_model_t *m, double y)
{
    (void)m;
    return isfinite(y);
}

static int lsq_grad_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                        const uint32_t *idx, size_t n, double *grad, double *loss_sum)
{
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (i % PD_MODEL_STOP_EVERY == 0 && pd_model_stop(m)) {
            return PD_ECANCELED;
        }
        size_t j = idx[i];
        double r = pd_model_row_dot(m, d, j, x) - d->y[j];
        loss += 0.5 * r * r;
        pd_model_row_axpy(m, d, j, r, grad);
    }
    *loss_sum = loss;
    return 0;
}

static int lsq_loss_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                        const uint32_t *idx, size_t n, double *loss_sum)
{
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (i % PD_MODEL_STOP_EVERY == 0 && pd_model_stop(m)) {
            return PD_ECANCELED;
        }
        size_t j = idx[i];
        double r = pd_model_row_dot(m, d, j, x) - d->y[j];
        loss += 0.5 * r * r;
    }
    *loss_sum = loss;
    return 0;
}

static int lsq_hvp_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                       const double *v, const uint32_t *idx, size_t n, double *hv)
{
    (void)x;
    for (size_t i = 0; i < n; i++) {
        if (i % PD_MODEL_STOP_EVERY == 0 && pd_model_stop(m)) {
            return PD_ECANCELED;
        }
        size_t j = idx[i];
        pd_model_row_axpy(m, d, j, pd_model_row_dot(m, d, j, v), hv);
    }
    return 0;
}

static int lsq_eval_range(const pd_model_t *m, const pd_data_t *d, const double *x,
                          size_t begin, size_t end, double *loss_sum, uint64_t *correct)
{
    double loss = 0.0;
    for (size_t j = begin; j < end; j++) {
        double r = pd_model_row_dot(m, d, j, x) - d->y[j];
        loss += 0.5 * r * r;
    }
    *loss_sum = loss;
    *correct = 0; /* regression: there is no "correct" prediction */
    return 0;
}

const pd_model_ops_t pd_model_lsq_ops = {
    .label_ok = lsq_label_ok,
    .grad_sum = lsq_grad_sum,
    .loss_sum = lsq_loss_sum,
    .hvp_sum = lsq_hvp_sum,
    .eval_range = lsq_eval_range,
    .lipschitz_scale = 1.0,
};
