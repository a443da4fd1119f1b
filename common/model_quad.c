/* model_quad.c - the quadratic finite sum of quad.h: its generator, its exact minimiser and
 * Lipschitz constant, and the model ops (ALGORITHMS.md §6.3: gradient A_j x - b_j, HVP A_j v).
 * Row j of the data holds (c_j, sigma) with A_j = c_j T + sigma I, and the label is the first
 * entry of b_j. Sums over a batch add the coefficients first and apply T once. */
#include <config.h>
#include "quad.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model_internal.h"
#include "rng.h"

#define QUAD_COLS 2
#define QUAD_S 0.25 /* s = L/4 with L = 1 [C] */
#define QUAD_PI 3.14159265358979323846

/* Sums of the batch's coefficients: A_J = c T + sig I, b_J = b e_1. */
typedef struct quad_sums {
    double c, sig, b;
} quad_sums_t;

static quad_sums_t sums_idx(const pd_data_t *d, const uint32_t *idx, size_t n)
{
    quad_sums_t s = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        const double *r = pd_data_dense_row(d, idx[i]);
        s.c += r[0];
        s.sig += r[1];
        s.b += d->y[idx[i]];
    }
    return s;
}

static quad_sums_t sums_range(const pd_data_t *d, size_t begin, size_t end)
{
    quad_sums_t s = {0, 0, 0};
    for (size_t i = begin; i < end; i++) {
        const double *r = pd_data_dense_row(d, i);
        s.c += r[0];
        s.sig += r[1];
        s.b += d->y[i];
    }
    return s;
}

/* (T x)_k = 2 x_k - x_{k-1} - x_{k+1}, with zeros past the ends. */
static inline double t_apply(const double *x, size_t k, size_t dim)
{
    return 2.0 * x[k] - (k > 0 ? x[k - 1] : 0.0) - (k + 1 < dim ? x[k + 1] : 0.0);
}

/* Loss of the summed component at x; grad (if not NULL) += its gradient. */
static double value_grad(size_t dim, quad_sums_t s, const double *x, double *grad)
{
    double xtx = 0.0, xx = 0.0;

    for (size_t k = 0; k < dim; k++) {
        double t = t_apply(x, k, dim);
        xtx += x[k] * t;
        xx += x[k] * x[k];
        if (grad != NULL) {
            grad[k] += s.c * t + s.sig * x[k];
        }
    }
    if (grad != NULL) {
        grad[0] -= s.b;
    }
    return 0.5 * s.c * xtx + 0.5 * s.sig * xx - s.b * x[0];
}

static bool quad_label_ok(const pd_model_t *m, double y)
{
    (void)m;
    return isfinite(y);
}

static int quad_grad_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                         const uint32_t *idx, size_t n, double *grad, double *loss_sum)
{
    *loss_sum = value_grad(m->dim, sums_idx(d, idx, n), x, grad);
    return 0;
}

static int quad_loss_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                         const uint32_t *idx, size_t n, double *loss_sum)
{
    *loss_sum = value_grad(m->dim, sums_idx(d, idx, n), x, NULL);
    return 0;
}

static int quad_hvp_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                        const double *v, const uint32_t *idx, size_t n, double *hv)
{
    quad_sums_t s = sums_idx(d, idx, n);

    (void)x; /* the Hessian of a quadratic does not depend on x */
    for (size_t k = 0; k < m->dim; k++) {
        hv[k] += s.c * t_apply(v, k, m->dim) + s.sig * v[k];
    }
    return 0;
}

static int quad_eval_range(const pd_model_t *m, const pd_data_t *d, const double *x,
                           size_t begin, size_t end, double *loss_sum, uint64_t *correct)
{
    *loss_sum = value_grad(m->dim, sums_range(d, begin, end), x, NULL);
    *correct = 0; /* not a classifier */
    return 0;
}

const pd_model_ops_t pd_model_quad_ops = {
    .label_ok = quad_label_ok,
    .grad_sum = quad_grad_sum,
    .loss_sum = quad_loss_sum,
    .hvp_sum = quad_hvp_sum,
    .eval_range = quad_eval_range,
    .lipschitz_scale = 1.0, /* unused: pd_model_lipschitz() asks pd_quad_lipschitz() */
};

/* Eigenvalue k (1..dim) of tridiag(-1, 2, -1): 2 - 2 cos(k pi / (dim + 1)). */
static double t_eig(size_t k, size_t dim)
{
    return 2.0 - 2.0 * cos((double)k * QUAD_PI / (double)(dim + 1));
}

int pd_model_bind_quadratic(pd_model_t *m, const pd_data_t *d, size_t dim, char *errbuf,
                            size_t errlen)
{
    if (d->p != QUAD_COLS || d->sparse || d->m == 0 || dim == 0) {
        snprintf(errbuf, errlen, "quadratic: need %d dense columns, samples and dim > 0",
                 QUAD_COLS);
        return PD_EDATA;
    }
    for (size_t i = 0; i < d->m; i++) {
        const double *r = pd_data_dense_row(d, i);
        if (!isfinite(r[0]) || !isfinite(r[1]) || !isfinite(d->y[i])) {
            snprintf(errbuf, errlen, "quadratic: component %zu is not finite", i);
            return PD_EDATA;
        }
    }
    *m = (pd_model_t){.kind = PD_MODEL_QUADRATIC, .p = QUAD_COLS, .n_classes = 1,
                      .bias = false, .dim = dim};
    return 0;
}

int pd_quad_generate(pd_data_t **out, const pd_quad_params_t *q)
{
    pd_data_t *d = NULL;
    pd_rng_t r;
    double mean_c = 0.0, lam_min, sigma;
    int rc = -ENOMEM;

    if (q->dim == 0 || q->m == 0) {
        return -EINVAL;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        goto fail;
    }
    d->m = q->m;
    d->p = QUAD_COLS;
    d->x = malloc(q->m * QUAD_COLS * sizeof(double));
    d->y = malloc(q->m * sizeof(double));
    if (d->x == NULL || d->y == NULL) {
        goto fail;
    }
    pd_rng_seed(&r, q->seed);
    for (size_t j = 0; j < q->m; j++) {
        double a = 1.0 + q->noise * pd_rng_normal(&r);
        double beta = q->noise * pd_rng_normal(&r);
        d->x[j * QUAD_COLS] = a * QUAD_S;
        d->y[j] = (-1.0 + beta) * a * QUAD_S;
        mean_c += a * QUAD_S;
    }
    mean_c /= (double)q->m;
    /* lambda_min of mean_c T: the smallest eigenvalue of T scaled, or the largest if the mean
     * coefficient is negative. */
    lam_min = mean_c >= 0 ? mean_c * t_eig(1, q->dim) : mean_c * t_eig(q->dim, q->dim);
    sigma = q->mu - lam_min;
    for (size_t j = 0; j < q->m; j++) {
        d->x[j * QUAD_COLS + 1] = sigma;
    }
    *out = d;
    return 0;
fail:
    pd_data_free(d);
    return rc;
}

double pd_quad_lipschitz(const pd_model_t *m, const pd_data_t *d)
{
    quad_sums_t s = sums_range(d, 0, d->m);
    double c = s.c / (double)d->m, sig = s.sig / (double)d->m;

    return fmax(fabs(c * t_eig(1, m->dim) + sig), fabs(c * t_eig(m->dim, m->dim) + sig));
}

void pd_quad_start(size_t dim, double *x)
{
    memset(x, 0, dim * sizeof(double));
    x[0] = sqrt((double)dim);
}

int pd_quad_solve(const pd_model_t *m, const pd_data_t *d, double *xstar, double *fstar)
{
    size_t n = m->dim;
    quad_sums_t s = sums_range(d, 0, d->m);
    double c = s.c / (double)d->m, sig = s.sig / (double)d->m, b = s.b / (double)d->m;
    double diag = 2.0 * c + sig, off = -c;
    double *cp = malloc(n * sizeof(double));
    double *x = malloc(n * sizeof(double));
    double loss = 0.0;
    uint64_t correct = 0;
    int rc = 0;

    if (cp == NULL || x == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    /* Thomas forward sweep on (mean A) x = b e_1, then back substitution. The mean is
     * mu-strongly convex by construction, so no pivot vanishes; check anyway. */
    double w = diag;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            w = diag - off * cp[i - 1];
        }
        if (!(fabs(w) > 0.0)) {
            rc = PD_EDATA;
            goto out;
        }
        cp[i] = off / w;
        x[i] = ((i == 0 ? b : 0.0) - (i > 0 ? off * x[i - 1] : 0.0)) / w;
    }
    for (size_t i = n - 1; i-- > 0;) {
        x[i] -= cp[i] * x[i + 1];
    }
    rc = pd_model_eval_range(m, d, x, 0, d->m, &loss, &correct);
    if (rc != 0) {
        goto out;
    }
    *fstar = loss / (double)d->m;
    if (xstar != NULL) {
        memcpy(xstar, x, n * sizeof(double));
    }
out:
    free(cp);
    free(x);
    return rc;
}
