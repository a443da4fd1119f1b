/* model.c - binding a model to a data set, the ops table that dispatches to the per-model
 * files, and the Lipschitz estimate (ALGORITHMS.md §6). It owns no state. Input checks live
 * here, once, so the per-model files can assume indices and labels are valid. */
#include <config.h>
#include "model.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "error.h"
#include "model_internal.h"
#include "quad.h"
#include "rng.h"

/* Indexed by pd_model_kind_t; NONE has no model, so its row is NULL. */
static const pd_model_ops_t *const model_ops[] = {
    [PD_MODEL_NONE] = NULL,
    [PD_MODEL_LOGISTIC] = &pd_model_logistic_ops,
    [PD_MODEL_SOFTMAX] = &pd_model_softmax_ops,
    [PD_MODEL_LSQ] = &pd_model_lsq_ops,
    [PD_MODEL_QUADRATIC] = &pd_model_quad_ops,
    [PD_MODEL_MLP] = &pd_model_mlp_ops,
};
#define N_KINDS (sizeof(model_ops) / sizeof(model_ops[0]))

static const char *const kind_names[] = {
    [PD_MODEL_NONE] = "none",
    [PD_MODEL_LOGISTIC] = "logistic",
    [PD_MODEL_SOFTMAX] = "softmax",
    [PD_MODEL_LSQ] = "least-squares",
    [PD_MODEL_QUADRATIC] = "quadratic",
    [PD_MODEL_MLP] = "mlp",
};

/* A label of 2^24 would already mean a 16M-row weight matrix; larger values are far more
 * likely to be a wrong column than a real class count, and must not size an allocation. */
#define MAX_CLASSES (UINT64_C(1) << 24)

static const pd_model_ops_t *ops_of(pd_model_kind_t k)
{
    if ((size_t)k >= N_KINDS) {
        return NULL;
    }
    return model_ops[k];
}

__attribute__((format(printf, 3, 4))) static void set_err(char *errbuf, size_t errlen,
                                                          const char *fmt, ...)
{
    if (errbuf == NULL || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

static int check_logistic_labels(const pd_data_t *d, char *errbuf, size_t errlen)
{
    bool seen_m1 = false, seen_0 = false, seen_p1 = false;

    for (size_t i = 0; i < d->m; i++) {
        double y = d->y[i];
        if (y == -1.0) {
            seen_m1 = true;
        } else if (y == 0.0) {
            seen_0 = true;
        } else if (y == 1.0) {
            seen_p1 = true;
        } else {
            set_err(errbuf, errlen, "logistic: label %g of sample %zu is not in {0,1} or {-1,+1}",
                    y, i);
            return PD_EDATA;
        }
    }
    /* -1 together with 0 has no reading in either convention. */
    if (seen_m1 && seen_0) {
        set_err(errbuf, errlen, "logistic: labels mix the {0,1} and {-1,+1} conventions");
        return PD_EDATA;
    }
    if (!seen_p1 || !(seen_m1 || seen_0)) {
        set_err(errbuf, errlen, "logistic: need exactly two label values, found only %s",
                seen_p1 ? "1" : (seen_0 ? "0" : "-1"));
        return PD_EDATA;
    }
    return 0;
}

static int check_softmax_labels(const pd_data_t *d, size_t n_classes, size_t *c_out,
                                char *errbuf, size_t errlen)
{
    double max_label = 0.0;

    for (size_t i = 0; i < d->m; i++) {
        double y = d->y[i];
        if (!(y >= 0.0 && y < (double)MAX_CLASSES && y == floor(y))) {
            set_err(errbuf, errlen,
                    "softmax: label %g of sample %zu is not an integer in [0, %" PRIu64 ")", y, i,
                    (uint64_t)MAX_CLASSES);
            return PD_EDATA;
        }
        if (n_classes != 0 && y >= (double)n_classes) {
            set_err(errbuf, errlen, "softmax: label %g of sample %zu is not below n_classes=%zu",
                    y, i, n_classes);
            return PD_EDATA;
        }
        max_label = fmax(max_label, y);
    }
    size_t c = n_classes != 0 ? n_classes : (size_t)max_label + 1;
    if (c < 2 || c > MAX_CLASSES) {
        set_err(errbuf, errlen, "softmax: need between 2 and %" PRIu64 " classes, got %zu",
                (uint64_t)MAX_CLASSES, c);
        return PD_EDATA;
    }
    *c_out = c;
    return 0;
}

int pd_model_bind(pd_model_t *m, pd_model_kind_t kind, const pd_data_t *d, size_t n_classes,
                  bool bias, char *errbuf, size_t errlen)
{
    pd_model_t out = {.kind = kind, .p = d->p, .n_classes = 1, .bias = bias};
    int rc = 0;

    if ((size_t)kind >= N_KINDS) {
        set_err(errbuf, errlen, "unknown model kind %d", (int)kind);
        return -EINVAL;
    }
    if (kind != PD_MODEL_NONE && d->m == 0) {
        set_err(errbuf, errlen, "%s: the data set has no samples", kind_names[kind]);
        return PD_EDATA;
    }
    /* BLAS takes int sizes (LP64 OpenBLAS): a row of W must fit. */
    if (d->p >= (size_t)INT_MAX) {
        set_err(errbuf, errlen, "%s: %zu features is over the BLAS limit of %d",
                kind_names[kind], d->p, INT_MAX - 1);
        return PD_EDATA;
    }
    switch (kind) {
    case PD_MODEL_LOGISTIC:
        rc = check_logistic_labels(d, errbuf, errlen);
        break;
    case PD_MODEL_SOFTMAX:
        rc = check_softmax_labels(d, n_classes, &out.n_classes, errbuf, errlen);
        break;
    case PD_MODEL_LSQ:
        for (size_t i = 0; i < d->m; i++) {
            if (!isfinite(d->y[i])) {
                set_err(errbuf, errlen, "least-squares: label of sample %zu is not finite", i);
                rc = PD_EDATA;
                break;
            }
        }
        break;
    case PD_MODEL_NONE:
        break;
    case PD_MODEL_QUADRATIC:
        /* dim is not a function of the data: pd_model_bind_quadratic() says it. */
        set_err(errbuf, errlen, "quadratic: bind with pd_model_bind_quadratic()");
        return -EINVAL;
    case PD_MODEL_MLP:
        set_err(errbuf, errlen, "mlp: bind with pd_model_bind_mlp()");
        return -EINVAL;
    }
    if (rc != 0) {
        return rc;
    }
    if (__builtin_mul_overflow(out.p + (bias ? 1 : 0), out.n_classes, &out.dim)) {
        set_err(errbuf, errlen, "%s: parameter count overflows", kind_names[kind]);
        return PD_EDATA;
    }
    *m = out;
    return 0;
}

/* A width this large is a typo, not a network this daemon could train. */
#define MAX_WIDTH (UINT64_C(1) << 24)

int pd_mlp_parse_layers(const char *text, pd_mlp_shape_t *shape, char *errbuf, size_t errlen)
{
    pd_mlp_shape_t out = {0};
    const char *p = text;
    size_t n = 0;

    while (*p != '\0') {
        char *end;
        unsigned long long w;
        if (n == PD_MLP_MAX_LAYERS + 1) {
            set_err(errbuf, errlen, "more than %d layer widths", PD_MLP_MAX_LAYERS + 1);
            return -EINVAL;
        }
        errno = 0;
        w = strtoull(p, &end, 10);
        if (end == p || *p == '-' || *p == '+' || errno != 0 || w < 1 || w > MAX_WIDTH) {
            set_err(errbuf, errlen, "width %zu is not an integer in [1, %" PRIu64 "]", n + 1,
                    (uint64_t)MAX_WIDTH);
            return -EINVAL;
        }
        out.width[n++] = (size_t)w;
        p = end;
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                set_err(errbuf, errlen, "trailing comma");
                return -EINVAL;
            }
        } else if (*p != '\0') {
            set_err(errbuf, errlen, "unexpected '%c' after width %zu (expected widths like "
                    "784,128,10)", *p, n);
            return -EINVAL;
        }
    }
    if (n < 2) {
        set_err(errbuf, errlen, "need at least an input and an output width (e.g. 784,128,10)");
        return -EINVAL;
    }
    if (out.width[n - 1] < 2) {
        set_err(errbuf, errlen, "the output width is the number of classes and must be >= 2");
        return -EINVAL;
    }
    shape->n_layers = n - 1;
    memcpy(shape->width, out.width, sizeof(out.width));
    return 0;
}

int pd_model_bind_mlp(pd_model_t *m, const pd_data_t *d, const pd_mlp_shape_t *shape,
                      char *errbuf, size_t errlen)
{
    pd_model_t out = {.kind = PD_MODEL_MLP, .p = d->p, .bias = true, .mlp = *shape};
    size_t classes, dim = 0;
    int rc;

    if (shape->n_layers < 1 || shape->n_layers > PD_MLP_MAX_LAYERS) {
        set_err(errbuf, errlen, "mlp: %zu weight layers, expected 1 to %d", shape->n_layers,
                PD_MLP_MAX_LAYERS);
        return PD_EDATA;
    }
    if (d->m == 0) {
        set_err(errbuf, errlen, "mlp: the data set has no samples");
        return PD_EDATA;
    }
    if (shape->width[0] != d->p) {
        set_err(errbuf, errlen, "mlp: layers start with %zu inputs but the data has %zu features",
                shape->width[0], d->p);
        return PD_EDATA;
    }
    classes = shape->width[shape->n_layers];
    rc = check_softmax_labels(d, classes, &out.n_classes, errbuf, errlen);
    if (rc != 0) {
        return rc;
    }
    for (size_t l = 1; l <= shape->n_layers; l++) {
        size_t nw;
        /* BLAS takes int sizes: every matrix dimension and leading dimension must fit. */
        if (shape->width[l] < 1 || shape->width[l] >= (size_t)INT_MAX ||
            shape->width[l - 1] >= (size_t)INT_MAX ||
            __builtin_mul_overflow(shape->width[l], shape->width[l - 1] + 1, &nw) ||
            __builtin_add_overflow(dim, nw, &dim)) {
            set_err(errbuf, errlen, "mlp: parameter count overflows at layer %zu", l);
            return PD_EDATA;
        }
    }
    out.dim = dim;
    *m = out;
    return 0;
}

void pd_model_init_params(const pd_model_t *m, uint64_t seed, double *x)
{
    pd_rng_t r;
    size_t at = 0;

    memset(x, 0, m->dim * sizeof(*x));
    if (m->kind != PD_MODEL_MLP) {
        return;
    }
    pd_rng_seed(&r, pd_rng_mix(seed, 0x6d6c70696e6974ULL));
    for (size_t l = 1; l <= m->mlp.n_layers; l++) {
        double fan_in = (double)m->mlp.width[l - 1], fan_out = (double)m->mlp.width[l];
        double a = m->mlp.activation == PD_ACT_RELU ? sqrt(6.0 / fan_in)
                                                     : sqrt(6.0 / (fan_in + fan_out));
        size_t nw = m->mlp.width[l] * m->mlp.width[l - 1];
        for (size_t k = 0; k < nw; k++) {
            x[at + k] = a * (2.0 * pd_rng_uniform(&r) - 1.0);
        }
        at += nw + m->mlp.width[l]; /* biases stay 0 */
    }
}

size_t pd_model_tensors(const pd_model_t *m, size_t *lengths, size_t cap)
{
    size_t n = 0;

    if (m->kind != PD_MODEL_MLP) {
        if (cap > 0) {
            lengths[0] = m->dim;
        }
        return 1;
    }
    for (size_t l = 1; l <= m->mlp.n_layers; l++) {
        if (n < cap) {
            lengths[n] = m->mlp.width[l] * m->mlp.width[l - 1];
        }
        if (n + 1 < cap) {
            lengths[n + 1] = m->mlp.width[l];
        }
        n += 2;
    }
    return n;
}

void pd_model_bias_mask(const pd_model_t *m, double *mask)
{
    size_t row = m->p + (m->bias ? 1 : 0);
    size_t rows = m->kind == PD_MODEL_SOFTMAX ? m->n_classes : 1;

    if (m->kind == PD_MODEL_QUADRATIC || m->bias_regularized) {
        for (size_t i = 0; i < m->dim; i++) {
            mask[i] = 1.0; /* no bias coordinate, or one penalised like the weights */
        }
        return;
    }
    if (m->kind == PD_MODEL_MLP) {
        size_t at = 0;
        for (size_t l = 1; l <= m->mlp.n_layers; l++) {
            size_t nw = m->mlp.width[l] * m->mlp.width[l - 1];
            for (size_t k = 0; k < nw + m->mlp.width[l]; k++) {
                mask[at + k] = k < nw ? 1.0 : 0.0;
            }
            at += nw + m->mlp.width[l];
        }
        return;
    }

    for (size_t c = 0; c < rows; c++) {
        for (size_t j = 0; j < m->p; j++) {
            mask[c * row + j] = 1.0;
        }
        if (m->bias) {
            mask[c * row + m->p] = 0.0;
        }
    }
}

/* The checks promised to the per-model files (model_internal.h). Done before any output is
 * touched, so a rejected call leaves grad/hv unchanged. */
static int check_batch(const pd_model_t *m, const pd_data_t *d, const uint32_t *idx, size_t n,
                       const pd_model_ops_t **ops_out)
{
    const pd_model_ops_t *ops = ops_of(m->kind);

    if (ops == NULL) {
        return -EINVAL;
    }
    if (d->p != m->p || m->p >= (size_t)INT_MAX) {
        return PD_EDIM;
    }
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= d->m) {
            return PD_EDIM;
        }
        if (!ops->label_ok(m, d->y[idx[i]])) {
            return PD_EDATA;
        }
    }
    *ops_out = ops;
    return 0;
}

int pd_model_grad_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                      const uint32_t *idx, size_t n, double *grad, double *loss_sum)
{
    const pd_model_ops_t *ops;
    int rc = check_batch(m, d, idx, n, &ops);
    if (rc != 0) {
        return rc;
    }
    return ops->grad_sum(m, d, x, idx, n, grad, loss_sum);
}

int pd_model_loss_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                      const uint32_t *idx, size_t n, double *loss_sum)
{
    const pd_model_ops_t *ops;
    int rc = check_batch(m, d, idx, n, &ops);
    if (rc != 0) {
        return rc;
    }
    return ops->loss_sum(m, d, x, idx, n, loss_sum);
}

int pd_model_hvp_sum(const pd_model_t *m, const pd_data_t *d, const double *x, const double *v,
                     const uint32_t *idx, size_t n, double *hv)
{
    const pd_model_ops_t *ops;
    int rc = check_batch(m, d, idx, n, &ops);
    if (rc != 0) {
        return rc;
    }
    return ops->hvp_sum(m, d, x, v, idx, n, hv);
}

int pd_model_eval_range(const pd_model_t *m, const pd_data_t *d, const double *x, size_t begin,
                        size_t end, double *loss_sum, uint64_t *correct)
{
    const pd_model_ops_t *ops = ops_of(m->kind);

    if (ops == NULL) {
        return -EINVAL;
    }
    if (d->p != m->p || m->p >= (size_t)INT_MAX || begin > end || end > d->m) {
        return PD_EDIM;
    }
    for (size_t i = begin; i < end; i++) {
        if (!ops->label_ok(m, d->y[i])) {
            return PD_EDATA;
        }
    }
    return ops->eval_range(m, d, x, begin, end, loss_sum, correct);
}

/* lambda_max(A^T A) <= trace(A^T A): the fallback when there is no memory for the power
 * iteration. Loose, but still an upper bound, so step sizes stay safe. */
static double trace_bound(const pd_model_t *m, const pd_data_t *d)
{
    double t = 0.0;
    if (d->sparse) {
        for (size_t k = 0; k < d->row_ptr[d->m]; k++) {
            t += d->val[k] * d->val[k];
        }
    } else {
        for (size_t k = 0; k < d->m * d->p; k++) {
            t += d->x[k] * d->x[k];
        }
    }
    return t + (m->bias ? (double)d->m : 0.0);
}

/* u += A_blk^T (A_blk v) over all rows, with the bias column included. Dense rows go through
 * dgemv in blocks so each block is read from memory once and from cache the second time. */
static void gram_apply(const pd_model_t *m, const pd_data_t *d, const double *v, double *u,
                       double *w)
{
    size_t q = m->p + (m->bias ? 1 : 0);
    memset(u, 0, q * sizeof(*u));
    if (d->sparse) {
        for (size_t i = 0; i < d->m; i++) {
            pd_model_row_axpy(m, d, i, pd_model_row_dot(m, d, i, v), u);
        }
        return;
    }
    for (size_t b = 0; b < d->m; b += PD_MODEL_BLOCK_ROWS) {
        size_t nr = d->m - b < PD_MODEL_BLOCK_ROWS ? d->m - b : PD_MODEL_BLOCK_ROWS;
        const double *a = d->x + b * d->p;
        double vb = m->bias ? v[m->p] : 0.0;
        for (size_t i = 0; i < nr; i++) {
            w[i] = vb;
        }
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)nr, (int)m->p, 1.0, a, (int)m->p, v, 1,
                    1.0, w, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)nr, (int)m->p, 1.0, a, (int)m->p, w, 1,
                    1.0, u, 1);
        if (m->bias) {
            for (size_t i = 0; i < nr; i++) {
                u[m->p] += w[i];
            }
        }
    }
}

double pd_model_lipschitz(const pd_model_t *m, const pd_data_t *d)
{
    if (m->kind == PD_MODEL_QUADRATIC) {
        return pd_quad_lipschitz(m, d); /* exact: the spectrum of tridiag(-1, 2, -1) is known */
    }

    const pd_model_ops_t *ops = ops_of(m->kind);
    size_t q = m->p + (m->bias ? 1 : 0);
    double *v = NULL, *u = NULL, *w = NULL;
    double lam = 0.0;

    /* A scale of 0 means the model has no global L (the MLP): do not iterate for nothing. */
    if (ops == NULL || ops->lipschitz_scale == 0.0 || d->m == 0 || q == 0 || d->p != m->p) {
        return 0.0;
    }
    v = malloc(q * sizeof(*v));
    u = malloc(q * sizeof(*u));
    w = malloc(PD_MODEL_BLOCK_ROWS * sizeof(*w));
    if (v == NULL || u == NULL || w == NULL) {
        lam = trace_bound(m, d);
        goto out;
    }
    /* A fixed pseudo-random start: a constant vector can be orthogonal to the top
     * eigenvector (e.g. centred features), and a fixed seed keeps L reproducible. */
    pd_rng_t r;
    pd_rng_seed(&r, 0x6c697073ULL);
    for (size_t j = 0; j < q; j++) {
        v[j] = pd_rng_normal(&r);
    }
    double nv = cblas_dnrm2((int)q, v, 1);
    cblas_dscal((int)q, 1.0 / nv, v, 1);
    for (int it = 0; it < 50; it++) {
        gram_apply(m, d, v, u, w);
        /* ||A^T A v|| with ||v|| = 1; for a PSD matrix it is >= the Rayleigh quotient, so it
         * is the closer of the two lower estimates of lambda_max. */
        lam = cblas_dnrm2((int)q, u, 1);
        if (!(lam > 0.0)) {
            break;
        }
        for (size_t j = 0; j < q; j++) {
            v[j] = u[j] / lam;
        }
    }
out:
    free(w);
    free(u);
    free(v);
    return ops->lipschitz_scale * lam / (double)d->m;
}

bool pd_model_classifies(const pd_model_t *m)
{
    return m->kind == PD_MODEL_LOGISTIC || m->kind == PD_MODEL_SOFTMAX || m->kind == PD_MODEL_MLP;
}

const char *pd_model_kind_name(pd_model_kind_t k)
{
    if ((size_t)k >= N_KINDS) {
        return "unknown";
    }
    return kind_names[k];
}

static const char *const activation_names[] = {[PD_ACT_TANH] = "tanh", [PD_ACT_RELU] = "relu"};

int pd_activation_parse(const char *name)
{
    for (size_t k = 0; k < sizeof(activation_names) / sizeof(activation_names[0]); k++) {
        if (strcmp(name, activation_names[k]) == 0) {
            return (int)k;
        }
    }
    return -EINVAL;
}

const char *pd_activation_name(pd_activation_t a)
{
    return (size_t)a < sizeof(activation_names) / sizeof(activation_names[0])
               ? activation_names[a]
               : "unknown";
}

int pd_model_kind_parse(const char *name)
{
    for (size_t k = 0; k < N_KINDS; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            return (int)k;
        }
    }
    return -EINVAL;
}
