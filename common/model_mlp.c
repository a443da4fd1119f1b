/* model_mlp.c - a multilayer perceptron with softmax cross-entropy (ALGORITHMS.md §6.4):
 * loss, back-propagation and the exact Hessian-vector product by Pearlmutter's R-operator.
 * Parameters are one flat vector, per layer l = 1..L the weights W_l (width[l] rows of
 * width[l-1], row-major) then the bias b_l (model.h). Samples go through in blocks of
 * PD_MODEL_BLOCK_ROWS rows, each layer of a block one dgemm, so the hot path has no
 * per-sample loops except the elementwise activations and the softmax of the logits.
 * Scratch is malloc'ed per call and freed before return. Called through model.c, which has
 * already checked indices and labels. */
#include <config.h>
#include "model_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Per-call scratch for one block of at most `rows` samples. act[l] holds a_l (act[0] the
 * input rows, act[L] the logits z_L); the HVP adds rz[l] = R{z_l} and ra[l] = R{a_l}. The
 * four `back` buffers carry delta and R{delta} between layers, `tmp` one layer product. */
typedef struct mlp_work {
    double *mem;
    double *act[PD_MLP_MAX_LAYERS + 1];
    double *rz[PD_MLP_MAX_LAYERS + 1];
    double *ra[PD_MLP_MAX_LAYERS + 1];
    double *delta, *delta_next, *rdelta, *rdelta_next, *tmp, *tmp2;
} mlp_work_t;

static const pd_mlp_shape_t *shape_of(const pd_model_t *m)
{
    return &m->mlp;
}

static bool mlp_label_ok(const pd_model_t *m, double y)
{
    return y >= 0.0 && y < (double)m->n_classes && y == floor(y);
}

/* Offset of W_l in the flat vector (l = 1..L); b_l follows at + width[l] * width[l-1]. */
static size_t weight_offset(const pd_mlp_shape_t *s, size_t l)
{
    size_t off = 0;
    for (size_t k = 1; k < l; k++) {
        off += s->width[k] * s->width[k - 1] + s->width[k];
    }
    return off;
}

static int work_alloc(mlp_work_t *w, const pd_mlp_shape_t *s, size_t rows, bool hvp)
{
    size_t L = s->n_layers, wmax = 0, total = 0, at = 0;

    for (size_t l = 0; l <= L; l++) {
        wmax = s->width[l] > wmax ? s->width[l] : wmax;
        total += rows * s->width[l] * (hvp ? 3 : 1);
    }
    total += 6 * rows * wmax;
    memset(w, 0, sizeof(*w));
    w->mem = malloc(total * sizeof(double));
    if (w->mem == NULL) {
        return -ENOMEM;
    }
    for (size_t l = 0; l <= L; l++) {
        size_t n = rows * s->width[l];
        w->act[l] = w->mem + at;
        at += n;
        if (hvp) {
            w->rz[l] = w->mem + at;
            w->ra[l] = w->mem + at + n;
            at += 2 * n;
        }
    }
    double **back[] = {&w->delta, &w->delta_next, &w->rdelta, &w->rdelta_next, &w->tmp, &w->tmp2};
    for (size_t k = 0; k < sizeof(back) / sizeof(back[0]); k++) {
        *back[k] = w->mem + at;
        at += rows * wmax;
    }
    return 0;
}

/* The input rows of a block into act[0] (nr x p, dense). CSR rows are expanded: the first
 * layer is a dense product either way, and a block of 256 rows is small. */
static void gather_inputs(const pd_model_t *m, const pd_data_t *d, const uint32_t *idx,
                          size_t first, size_t nr, double *a0)
{
    size_t p = m->p;

    for (size_t i = 0; i < nr; i++) {
        size_t j = idx != NULL ? idx[i] : first + i;
        double *row = a0 + i * p;
        if (d->sparse) {
            memset(row, 0, p * sizeof(*row));
            for (size_t k = d->row_ptr[j]; k < d->row_ptr[j + 1]; k++) {
                row[d->col[k]] = d->val[k];
            }
        } else {
            memcpy(row, pd_data_dense_row(d, j), p * sizeof(*row));
        }
    }
}

/* out (nr x width[l]) = in W_l^T (+ out when accumulate), for layer l's weights at w. */
static void layer_product(const pd_mlp_shape_t *s, size_t l, size_t nr, const double *in,
                          const double *w, double *out, bool accumulate)
{
    int fan_in = (int)s->width[l - 1], fan_out = (int)s->width[l];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, fan_out, fan_in, 1.0, in,
                fan_in, w, fan_in, accumulate ? 1.0 : 0.0, out, fan_out);
}

static void add_bias(size_t nr, size_t width, const double *b, double *z)
{
    for (size_t i = 0; i < nr; i++) {
        cblas_daxpy((int)width, 1.0, b, 1, z + i * width, 1);
    }
}

/* phi'(z) and phi''(z) written through a = phi(z), which is what the forward pass keeps:
 * tanh' = 1 - a^2, tanh'' = -2a(1 - a^2); relu' = [a > 0] (a > 0 exactly when z > 0),
 * relu'' = 0. */
static inline double act_d1(pd_activation_t f, double a)
{
    return f == PD_ACT_TANH ? 1.0 - a * a : (a > 0.0 ? 1.0 : 0.0);
}

static inline double act_d2(pd_activation_t f, double a)
{
    return f == PD_ACT_TANH ? -2.0 * a * (1.0 - a * a) : 0.0;
}

static void activate(pd_activation_t f, double *z, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        z[k] = f == PD_ACT_TANH ? tanh(z[k]) : fmax(z[k], 0.0);
    }
}

/* a_1 .. a_{L-1} and the logits z_L of a block whose inputs are in act[0]. */
static void forward(const pd_mlp_shape_t *s, const double *x, size_t nr, mlp_work_t *w)
{
    for (size_t l = 1; l <= s->n_layers; l++) {
        size_t off = weight_offset(s, l);
        layer_product(s, l, nr, w->act[l - 1], x + off, w->act[l], false);
        add_bias(nr, s->width[l], x + off + s->width[l] * s->width[l - 1], w->act[l]);
        if (l < s->n_layers) {
            activate(s->activation, w->act[l], nr * s->width[l]);
        }
    }
}

/* Replace logits z (C entries) by softmax(z); returns lse(z) - z_y (§6). */
static double softmax_loss(double *z, size_t C, size_t y, bool *hit)
{
    double zmax = z[0], sum = 0.0, zy = z[y];
    size_t arg = 0;

    for (size_t c = 1; c < C; c++) {
        if (z[c] > zmax) {
            zmax = z[c];
            arg = c;
        }
    }
    for (size_t c = 0; c < C; c++) {
        z[c] = exp(z[c] - zmax);
        sum += z[c];
    }
    for (size_t c = 0; c < C; c++) {
        z[c] /= sum;
    }
    *hit = arg == y;
    return zmax + log(sum) - zy;
}

/* Loss of every row of a block; act[L] becomes the softmax probabilities. */
static double block_loss(const pd_model_t *m, const pd_data_t *d, const uint32_t *idx,
                         size_t first, size_t nr, mlp_work_t *w, uint64_t *correct)
{
    size_t C = m->n_classes;
    double loss = 0.0;

    for (size_t i = 0; i < nr; i++) {
        size_t j = idx != NULL ? idx[i] : first + i;
        bool hit;
        loss += softmax_loss(w->act[m->mlp.n_layers] + i * C, C, (size_t)d->y[j], &hit);
        *correct += hit ? 1 : 0;
    }
    return loss;
}

/* g_W_l += left^T right and (when bias_rows) g_b_l += the column sums of left: the
 * per-layer sum over a block of outer products. left is nr x width[l], right nr x
 * width[l-1]. */
static void accumulate_layer(const pd_mlp_shape_t *s, size_t l, size_t nr, const double *left,
                             const double *right, double *g, bool bias_rows)
{
    int fan_in = (int)s->width[l - 1], fan_out = (int)s->width[l];
    double *gb = g + (size_t)fan_out * (size_t)fan_in;

    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, fan_out, fan_in, (int)nr, 1.0, left,
                fan_out, right, fan_in, 1.0, g, fan_in);
    if (bias_rows) {
        for (size_t i = 0; i < nr; i++) {
            cblas_daxpy(fan_out, 1.0, left + i * (size_t)fan_out, 1, gb, 1);
        }
    }
}

/* out (nr x width[l-1]) = in (nr x width[l]) W_l (+ out when accumulate): a delta taken
 * back through layer l's weights. */
static void back_product(const pd_mlp_shape_t *s, size_t l, size_t nr, const double *in,
                         const double *w, double *out, bool accumulate)
{
    int fan_in = (int)s->width[l - 1], fan_out = (int)s->width[l];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, fan_in, fan_out, 1.0, in,
                fan_out, w, fan_in, accumulate ? 1.0 : 0.0, out, fan_in);
}

/* delta_L = softmax - e_y, from the probabilities block_loss left in act[L]. */
static void output_delta(const pd_model_t *m, const pd_data_t *d, const uint32_t *idx,
                         size_t first, size_t nr, const mlp_work_t *w, double *delta)
{
    size_t C = m->n_classes;

    memcpy(delta, w->act[m->mlp.n_layers], nr * C * sizeof(*delta));
    for (size_t i = 0; i < nr; i++) {
        size_t j = idx != NULL ? idx[i] : first + i;
        delta[i * C + (size_t)d->y[j]] -= 1.0;
    }
}

static void backward(const pd_mlp_shape_t *s, const double *x, size_t nr, mlp_work_t *w,
                     double *grad)
{
    for (size_t l = s->n_layers; l >= 1; l--) {
        size_t off = weight_offset(s, l);
        accumulate_layer(s, l, nr, w->delta, w->act[l - 1], grad + off, true);
        if (l == 1) {
            break;
        }
        back_product(s, l, nr, w->delta, x + off, w->delta_next, false);
        const double *a = w->act[l - 1];
        for (size_t k = 0; k < nr * s->width[l - 1]; k++) {
            w->delta_next[k] *= act_d1(s->activation, a[k]);
        }
        double *t = w->delta;
        w->delta = w->delta_next;
        w->delta_next = t;
    }
}

/* R{z_l}, R{a_l} for l = 1..L along v, after forward() (R{a_0} = 0). */
static void r_forward(const pd_mlp_shape_t *s, const double *x, const double *v, size_t nr,
                      mlp_work_t *w)
{
    for (size_t l = 1; l <= s->n_layers; l++) {
        size_t off = weight_offset(s, l), n = nr * s->width[l];
        layer_product(s, l, nr, w->act[l - 1], v + off, w->rz[l], false);
        if (l > 1) {
            layer_product(s, l, nr, w->ra[l - 1], x + off, w->rz[l], true);
        }
        add_bias(nr, s->width[l], v + off + s->width[l] * s->width[l - 1], w->rz[l]);
        if (l < s->n_layers) {
            for (size_t k = 0; k < n; k++) {
                w->ra[l][k] = act_d1(s->activation, w->act[l][k]) * w->rz[l][k];
            }
        }
    }
}

/* R{delta_L} = p (.) (R{z_L} - p^T R{z_L}) row by row, p the probabilities in act[L]. */
static void r_output_delta(size_t C, size_t nr, const double *p, const double *rz, double *rd)
{
    for (size_t i = 0; i < nr; i++) {
        const double *pi = p + i * C, *ri = rz + i * C;
        double dot = cblas_ddot((int)C, pi, 1, ri, 1);
        for (size_t c = 0; c < C; c++) {
            rd[i * C + c] = pi[c] * (ri[c] - dot);
        }
    }
}

/* One block's Hessian-vector product, ADDED to hv (§6.4):
 *   H[V]_W_l = R{delta_l} a_{l-1}^T + delta_l R{a_{l-1}}^T,  H[V]_b_l = R{delta_l},
 *   e = W_l^T delta_l,
 *   R{delta_{l-1}} = phi'' (.) R{z_{l-1}} (.) e + phi' (.) (V_l^T delta_l + W_l^T R{delta_l}). */
static void hvp_block(const pd_model_t *m, const pd_data_t *d, const double *x, const double *v,
                      const uint32_t *idx, size_t first, size_t nr, mlp_work_t *w, double *hv)
{
    const pd_mlp_shape_t *s = shape_of(m);

    r_forward(s, x, v, nr, w);
    output_delta(m, d, idx, first, nr, w, w->delta);
    r_output_delta(m->n_classes, nr, w->act[s->n_layers], w->rz[s->n_layers], w->rdelta);
    for (size_t l = s->n_layers; l >= 1; l--) {
        size_t off = weight_offset(s, l);
        accumulate_layer(s, l, nr, w->rdelta, w->act[l - 1], hv + off, true);
        if (l == 1) {
            break;
        }
        accumulate_layer(s, l, nr, w->delta, w->ra[l - 1], hv + off, false);
        /* tmp = e = delta_l W_l; tmp2 = delta_l V_l + R{delta_l} W_l */
        back_product(s, l, nr, w->delta, x + off, w->tmp, false);
        back_product(s, l, nr, w->delta, v + off, w->tmp2, false);
        back_product(s, l, nr, w->rdelta, x + off, w->tmp2, true);
        const double *a = w->act[l - 1], *rz = w->rz[l - 1];
        for (size_t k = 0; k < nr * s->width[l - 1]; k++) {
            double d1 = act_d1(s->activation, a[k]);
            w->delta_next[k] = d1 * w->tmp[k];
            w->rdelta_next[k] = act_d2(s->activation, a[k]) * rz[k] * w->tmp[k] + d1 * w->tmp2[k];
        }
        double *t = w->delta;
        w->delta = w->delta_next;
        w->delta_next = t;
        t = w->rdelta;
        w->rdelta = w->rdelta_next;
        w->rdelta_next = t;
    }
}

/* The one driver of every entry point: for each block, inputs, forward, loss; then the
 * gradient (grad non-NULL) or the HVP along v into hv (v non-NULL). */
static int run_blocks(const pd_model_t *m, const pd_data_t *d, const double *x,
                      const double *v, const uint32_t *idx, size_t first, size_t n,
                      double *grad, double *hv, double *loss_sum, uint64_t *correct)
{
    const pd_mlp_shape_t *s = shape_of(m);
    size_t rows = n < PD_MODEL_BLOCK_ROWS ? n : PD_MODEL_BLOCK_ROWS;
    mlp_work_t w;
    double loss = 0.0;
    int rc = 0;

    *loss_sum = 0.0;
    if (n == 0) {
        return 0;
    }
    if (work_alloc(&w, s, rows, hv != NULL) != 0) {
        return -ENOMEM;
    }
    for (size_t b = 0; b < n; b += PD_MODEL_BLOCK_ROWS) {
        size_t nr = n - b < PD_MODEL_BLOCK_ROWS ? n - b : PD_MODEL_BLOCK_ROWS;
        const uint32_t *bidx = idx != NULL ? idx + b : NULL;
        if (pd_model_stop(m)) {
            rc = PD_ECANCELED;
            break;
        }
        gather_inputs(m, d, bidx, first + b, nr, w.act[0]);
        forward(s, x, nr, &w);
        loss += block_loss(m, d, bidx, first + b, nr, &w, correct);
        if (grad != NULL) {
            output_delta(m, d, bidx, first + b, nr, &w, w.delta);
            backward(s, x, nr, &w, grad);
        }
        if (hv != NULL) {
            hvp_block(m, d, x, v, bidx, first + b, nr, &w, hv);
        }
    }
    free(w.mem);
    *loss_sum = loss;
    return rc;
}

static int mlp_grad_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                        const uint32_t *idx, size_t n, double *grad, double *loss_sum)
{
    uint64_t correct = 0;
    return run_blocks(m, d, x, NULL, idx, 0, n, grad, NULL, loss_sum, &correct);
}

static int mlp_loss_sum(const pd_model_t *m, const pd_data_t *d, const double *x,
                        const uint32_t *idx, size_t n, double *loss_sum)
{
    uint64_t correct = 0;
    return run_blocks(m, d, x, NULL, idx, 0, n, NULL, NULL, loss_sum, &correct);
}

static int mlp_hvp_sum(const pd_model_t *m, const pd_data_t *d, const double *x, const double *v,
                       const uint32_t *idx, size_t n, double *hv)
{
    uint64_t correct = 0;
    double loss = 0.0;
    return run_blocks(m, d, x, v, idx, 0, n, NULL, hv, &loss, &correct);
}

static int mlp_eval_range(const pd_model_t *m, const pd_data_t *d, const double *x,
                          size_t begin, size_t end, double *loss_sum, uint64_t *correct)
{
    *correct = 0;
    return run_blocks(m, d, x, NULL, NULL, begin, end - begin, NULL, NULL, loss_sum, correct);
}

const pd_model_ops_t pd_model_mlp_ops = {
    .label_ok = mlp_label_ok,
    .grad_sum = mlp_grad_sum,
    .loss_sum = mlp_loss_sum,
    .hvp_sum = mlp_hvp_sum,
    .eval_range = mlp_eval_range,
    .lipschitz_scale = 0.0, /* no global L for a network: pd_model_lipschitz() returns 0 */
};
