/* model_softmax.c - multinomial softmax regression (ALGORITHMS.md §6.2): loss, gradient,
 * HVP and evaluation over a batch. W is C rows of (p + bias); z = W a. Work goes in blocks
 * of PD_MODEL_BLOCK_ROWS samples: dense blocks are two dgemm calls (Z = A_J W^T, then
 * G += R^T A_J), which is what makes Fashion-MNIST-sized batches cheap; CSR rows are walked
 * entry by entry and never densified. Scratch is malloc'ed per call and freed before return.
 * Called through model.c, which has already checked indices and labels. */
#include <config.h>
#include "model_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Scratch of one call: gathered rows (dense with an index list only), logits, and the
 * directional logits of the HVP. */
typedef struct softmax_scratch {
    double *mem;
    double *rows; /* PD_MODEL_BLOCK_ROWS x p, or NULL */
    double *z;    /* PD_MODEL_BLOCK_ROWS x C */
    double *zd;   /* PD_MODEL_BLOCK_ROWS x C, HVP only */
} softmax_scratch_t;

static bool softmax_label_ok(const pd_model_t *m, double y)
{
    return y >= 0.0 && y < (double)m->n_classes && y == floor(y);
}

static size_t ld_of(const pd_model_t *m)
{
    return m->p + (m->bias ? 1 : 0);
}

static int scratch_alloc(softmax_scratch_t *s, const pd_model_t *m, const pd_data_t *d,
                         size_t n, bool gather, bool hvp)
{
    size_t block = n < PD_MODEL_BLOCK_ROWS ? n : PD_MODEL_BLOCK_ROWS;
    size_t n_rows = (gather && !d->sparse) ? block * m->p : 0;
    size_t n_z = block * m->n_classes;
    size_t total = n_rows + n_z * (hvp ? 2 : 1);

    memset(s, 0, sizeof(*s));
    s->mem = malloc((total > 0 ? total : 1) * sizeof(double));
    if (s->mem == NULL) {
        return -ENOMEM;
    }
    s->rows = n_rows > 0 ? s->mem : NULL;
    s->z = s->mem + n_rows;
    s->zd = hvp ? s->z + n_z : NULL;
    return 0;
}

static size_t sample_of(const uint32_t *idx, size_t first, size_t i)
{
    return idx != NULL ? idx[i] : first + i;
}

/* The dense rows of a block, contiguous with stride p: a view into d->x for a range (no
 * copy needed), else gathered into s->rows so one dgemm covers the block. NULL for CSR. */
static const double *block_rows(const pd_model_t *m, const pd_data_t *d, const uint32_t *idx,
                                size_t first, size_t nr, softmax_scratch_t *s)
{
    if (d->sparse) {
        return NULL;
    }
    if (idx == NULL) {
        return d->x + first * m->p;
    }
    for (size_t i = 0; i < nr; i++) {
        memcpy(s->rows + i * m->p, pd_data_dense_row(d, idx[i]), m->p * sizeof(double));
    }
    return s->rows;
}

/* z (nr x C) = A_blk W^T + bias, for parameters w laid out as in model.h. */
static void block_logits(const pd_model_t *m, const pd_data_t *d, const double *a,
                         const uint32_t *idx, size_t first, size_t nr, const double *w,
                         double *z)
{
    size_t C = m->n_classes, ld = ld_of(m), p = m->p;

    if (!d->sparse && p > 0) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)C, (int)p, 1.0, a,
                    (int)p, w, (int)ld, 0.0, z, (int)C);
    } else {
        memset(z, 0, nr * C * sizeof(*z));
    }
    for (size_t i = 0; i < nr; i++) {
        double *zi = z + i * C;
        if (d->sparse) {
            size_t j = sample_of(idx, first, i);
            for (size_t k = d->row_ptr[j]; k < d->row_ptr[j + 1]; k++) {
                const double *wc = w + d->col[k];
                double v = d->val[k];
                for (size_t c = 0; c < C; c++) {
                    zi[c] += v * wc[c * ld];
                }
            }
        }
        if (m->bias) {
            for (size_t c = 0; c < C; c++) {
                zi[c] += w[c * ld + p];
            }
        }
    }
}

/* g (C x ld) += R^T (A_blk, 1) for a block's per-class row weights r (nr x C). */
static void block_scatter(const pd_model_t *m, const pd_data_t *d, const double *a,
                          const uint32_t *idx, size_t first, size_t nr, const double *r,
                          double *g)
{
    size_t C = m->n_classes, ld = ld_of(m), p = m->p;

    if (!d->sparse && p > 0) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)C, (int)p, (int)nr, 1.0, r,
                    (int)C, a, (int)p, 1.0, g, (int)ld);
    }
    for (size_t i = 0; i < nr; i++) {
        const double *ri = r + i * C;
        if (d->sparse) {
            size_t j = sample_of(idx, first, i);
            for (size_t k = d->row_ptr[j]; k < d->row_ptr[j + 1]; k++) {
                double *gc = g + d->col[k];
                double v = d->val[k];
                for (size_t c = 0; c < C; c++) {
                    gc[c * ld] += ri[c] * v;
                }
            }
        }
        if (m->bias) {
            for (size_t c = 0; c < C; c++) {
                g[c * ld + p] += ri[c];
            }
        }
    }
}

/* Replace logits z by softmax(z) and return the loss lse(z) - z_y (§6). *hit says whether
 * the first maximal logit is class y. */
static double row_softmax(double *z, size_t C, size_t y, bool *hit)
{
    size_t arg = 0;
    for (size_t c = 1; c < C; c++) {
        if (z[c] > z[arg]) {
            arg = c;
        }
    }
    double zmax = z[arg], zy = z[y], s = 0.0;
    for (size_t c = 0; c < C; c++) {
        z[c] = exp(z[c] - zmax);
        s += z[c];
    }
    double inv = 1.0 / s;
    for (size_t c = 0; c < C; c++) {
        z[c] *= inv;
    }
    *hit = arg == y;
    return zmax + log(s) - zy;
}

/* The shared loop of grad_sum, loss_sum and eval_range: grad == NULL skips the backward
 * product; idx == NULL means the range first .. first + n - 1. */
static int softmax_forward(const pd_model_t *m, const pd_data_t *d, const double *x,
                           const uint32_t *idx, size_t first, size_t n, double *grad,
                           double *loss_sum, uint64_t *correct)
{
    softmax_scratch_t s;
    size_t C = m->n_classes;
    double loss = 0.0;
    uint64_t ok = 0;
    int rc = scratch_alloc(&s, m, d, n, idx != NULL, false);
    if (rc != 0) {
        return rc;
    }
    for (size_t b = 0; b < n; b += PD_MODEL_BLOCK_ROWS) {
        size_t nr = n - b < PD_MODEL_BLOCK_ROWS ? n - b : PD_MODEL_BLOCK_ROWS;
        const uint32_t *bidx = idx != NULL ? idx + b : NULL;
        if (pd_model_stop(m)) {
            rc = PD_ECANCELED;
            break;
        }
        const double *a = block_rows(m, d, bidx, first + b, nr, &s);
        block_logits(m, d, a, bidx, first + b, nr, x, s.z);
        for (size_t i = 0; i < nr; i++) {
            size_t y = (size_t)d->y[sample_of(bidx, first + b, i)];
            bool hit;
            loss += row_softmax(s.z + i * C, C, y, &hit);
            ok += hit;
            s.z[i * C + y] -= 1.0; /* p - e_y: the gradient's row weights */
        }
        if (grad != NULL) {
            block_scatter(m, d, a, bidx, first + b, nr, s.z, grad);
        }
    }
    *loss_sum = loss;
    if (correct != NULL) {
        *correct = ok;
    }
    free(s.mem);
    return rc;
}

static int softmax_grad_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                            const uint32_t *idx, size_t n, double *grad, double *loss_sum)
{
    return softmax_forward(m, d, x, idx, 0, n, grad, loss_sum, NULL);
}

static int softmax_loss_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                            const uint32_t *idx, size_t n, double *loss_sum)
{
    return softmax_forward(m, d, x, idx, 0, n, NULL, loss_sum, NULL);
}

static int softmax_eval_range(const pd_model_t *m, const pd_data_t *d, const double *x,
                              size_t begin, size_t end, double *loss_sum, uint64_t *correct)
{
    return softmax_forward(m, d, x, NULL, begin, end - begin, NULL, loss_sum, correct);
}

static int softmax_hvp_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                           const double *v, const uint32_t *idx, size_t n, double *hv)
{
    softmax_scratch_t s;
    size_t C = m->n_classes;
    int rc = scratch_alloc(&s, m, d, n, true, true);
    if (rc != 0) {
        return rc;
    }
    for (size_t b = 0; b < n; b += PD_MODEL_BLOCK_ROWS) {
        size_t nr = n - b < PD_MODEL_BLOCK_ROWS ? n - b : PD_MODEL_BLOCK_ROWS;
        if (pd_model_stop(m)) {
            rc = PD_ECANCELED;
            break;
        }
        const double *a = block_rows(m, d, idx + b, 0, nr, &s);
        block_logits(m, d, a, idx + b, 0, nr, x, s.z);
        block_logits(m, d, a, idx + b, 0, nr, v, s.zd);
        for (size_t i = 0; i < nr; i++) {
            double *pi = s.z + i * C, *zdi = s.zd + i * C;
            bool hit;
            (void)row_softmax(pi, C, 0, &hit);
            /* pdot = p .* (zdot - p^T zdot), so sum(pdot) = 0 up to rounding (§6.5 #4) */
            double pz = 0.0;
            for (size_t c = 0; c < C; c++) {
                pz += pi[c] * zdi[c];
            }
            for (size_t c = 0; c < C; c++) {
                zdi[c] = pi[c] * (zdi[c] - pz);
            }
        }
        block_scatter(m, d, a, idx + b, 0, nr, s.zd, hv);
    }
    free(s.mem);
    return rc;
}

const pd_model_ops_t pd_model_softmax_ops = {
    .label_ok = softmax_label_ok,
    .grad_sum = softmax_grad_sum,
    .loss_sum = softmax_loss_sum,
    .hvp_sum = softmax_hvp_sum,
    .eval_range = softmax_eval_range,
    .lipschitz_scale = 0.5,
};
