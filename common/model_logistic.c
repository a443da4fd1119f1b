/* model_logistic.c - binary logistic regression (ALGORITHMS.md §6.1): loss, gradient and
 * HVP sums over a batch, dense or CSR. Labels {0,1} and {-1,+1} are both read as +-1, so
 * the loss is softplus(-y z) in either convention. Called through model.c, which has
 * already checked indices and labels. */
#include <config.h>
#include "model_internal.h"

static bool logistic_label_ok(const pd_model_t *m, double y)
{
    (void)m;
    return y == -1.0 || y == 0.0 || y == 1.0;
}

static int logistic_grad_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                             const uint32_t *idx, size_t n, double *grad, double *loss_sum)
{
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (i % PD_MODEL_STOP_EVERY == 0 && pd_model_stop(m)) {
            return PD_ECANCELED;
        }
        size_t j = idx[i];
        double y = pd_logistic_sign(d->y[j]);
        double t = -y * pd_model_row_dot(m, d, j, x);
        loss += pd_softplus(t);
        /* d/dz softplus(-y z) = -y sigma(-y z) */
        pd_model_row_axpy(m, d, j, -y * pd_sigmoid(t), grad);
    }
    *loss_sum = loss;
    return 0;
}

static int logistic_loss_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                             const uint32_t *idx, size_t n, double *loss_sum)
{
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (i % PD_MODEL_STOP_EVERY == 0 && pd_model_stop(m)) {
            return PD_ECANCELED;
        }
        size_t j = idx[i];
        loss += pd_softplus(-pd_logistic_sign(d->y[j]) * pd_model_row_dot(m, d, j, x));
    }
    *loss_sum = loss;
    return 0;
}

static int logistic_hvp_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                            const double *v, const uint32_t *idx, size_t n, double *hv)
{
    for (size_t i = 0; i < n; i++) {
        if (i % PD_MODEL_STOP_EVERY == 0 && pd_model_stop(m)) {
            return PD_ECANCELED;
        }
        size_t j = idx[i];
        double z, zv;
        pd_model_row_dot2(m, d, j, x, v, &z, &zv);
        /* sigma(z) sigma(-z) rather than s(1 - s): no cancellation when s is near 1 */
        double w = pd_sigmoid(z) * pd_sigmoid(-z);
        pd_model_row_axpy(m, d, j, w * zv, hv);
    }
    return 0;
}

static int logistic_eval_range(const pd_model_t *m, const pd_data_t *d, const double *x,
                               size_t begin, size_t end, double *loss_sum, uint64_t *correct)
{
    double loss = 0.0;
    uint64_t ok = 0;
    for (size_t j = begin; j < end; j++) {
        double y = pd_logistic_sign(d->y[j]);
        double z = pd_model_row_dot(m, d, j, x);
        loss += pd_softplus(-y * z);
        /* z == 0 predicts the negative class, matching sigma(0) = 1/2 not being > 1/2 */
        ok += (z > 0.0 ? 1.0 : -1.0) == y;
    }
    *loss_sum = loss;
    *correct = ok;
    return 0;
}

const pd_model_ops_t pd_model_logistic_ops = {
    .label_ok = logistic_label_ok,
    .grad_sum = logistic_grad_sum,
    .loss_sum = logistic_loss_sum,
    .hvp_sum = logistic_hvp_sum,
    .eval_range = logistic_eval_range,
    .lipschitz_scale = 0.25,
};
