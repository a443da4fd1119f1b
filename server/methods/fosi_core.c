/* fosi_core.c - see fosi_core.h. */
#include <config.h>
#include "fosi_core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "common/config.h"
#include "error.h"
#include "wire.h"

/* Scratch vectors of n values, in one allocation: the projected gradient, the base step, and
 * copies of the state a refused step puts back. */
enum { SCR_G2, SCR_DELTA, SCR_U, SCR_OPT_U, SCR_OPT_V, SCR_COUNT };

static double *scratch(const pd_fosi_t *f, int which)
{
    return f->g2 + (size_t)which * f->n;
}

static void coordinates(pd_fosi_t *f, const double *x);

/* Slice p of V: count rows of n_s values. */
static double *slice(const pd_fosi_t *f, size_t p)
{
    return f->v + p * f->count * f->n_s;
}

/* Real (unpadded) coordinates of slice p: the last slices may be short, or all padding. */
static size_t slice_len(const pd_fosi_t *f, size_t p)
{
    size_t begin = p * f->n_s;

    return begin >= f->n ? 0 : (f->n - begin < f->n_s ? f->n - begin : f->n_s);
}

int pd_fosi_init(pd_fosi_t *f, size_t n, const pd_fosi_opts_t *o)
{
    memset(f, 0, sizeof(*f));
    if (n == 0 || !(o->alpha > 0.0 && o->alpha <= 1.0) || !(o->clip >= 1.0) ||
        !isfinite(o->clip) || !isfinite(o->damping) || o->slices > n) {
        return -EINVAL;
    }
    f->n = n;
    f->o = *o;
    /* §5.6: the reference always pads, even when P divides n */
    f->slices = o->slices > 0 ? o->slices : 1;
    f->n_s = o->slices > 0 ? (n + o->slices - n % o->slices) / o->slices : n;
    f->c_s = 1.0;
    f->u = calloc(n, sizeof(double));
    f->g2 = malloc(SCR_COUNT * n * sizeof(double));
    if (f->u == NULL || f->g2 == NULL) {
        pd_fosi_free(f);
        return -ENOMEM;
    }
    return 0;
}

void pd_fosi_free(pd_fosi_t *f)
{
    free(f->v);
    free(f->u);
    free(f->g2);
    memset(f, 0, sizeof(*f));
}

int pd_fosi_set_eigen(pd_fosi_t *f, const double *lambda, const double *v, size_t count,
                      size_t l, int base_kind)
{
    double *rows;

    if (count == 0 || count > PD_FOSI_MAX_PAIRS || l >= count ||
        !pd_wire_all_finite(lambda, count) || !pd_wire_all_finite(v, count * f->n)) {
        return -EINVAL;
    }
    rows = realloc(f->v, f->slices * count * f->n_s * sizeof(double));
    if (rows == NULL) {
        return -ENOMEM;
    }
    f->v = rows;
    f->count = count;
    for (size_t p = 0; p < f->slices; p++) {
        size_t len = slice_len(f, p);
        for (size_t j = 0; j < count; j++) {
            double *row = slice(f, p) + j * f->n_s;
            if (len > 0) {
                memcpy(row, v + j * f->n + p * f->n_s, len * sizeof(double));
            }
            memset(row + len, 0, (f->n_s - len) * sizeof(double));
        }
    }
    f->l = l;
    for (size_t j = 0; j < count; j++) {
        double shifted = lambda[j] + f->o.damping;
        f->lambda[j] = lambda[j];
        f->r[j] = shifted != 0.0 ? fabs(1.0 / shifted) : 0.0;
    }
    /* λ_max / λ_(k-th largest): r of the smallest top eigenvalue over r of the largest */
    double ratio = f->r[count - 1] > 0.0 ? f->r[l] / f->r[count - 1] : 1.0;
    double c = base_kind == PD_OPT_ADAM ? 1.0 : f->o.clip;
    f->c_s = fmin(fmax(ratio, 1.0), c);
    coordinates(f, f->u); /* the kept velocity in the new subspace */
    memcpy(f->cu, f->coef, count * sizeof(double));
    return 0;
}

size_t pd_fosi_slice_bytes(const pd_fosi_t *f)
{
    return sizeof(double) * f->count * f->n_s;
}

/* out = Vᵀ coef (n values), slice by slice. */
static void span(const pd_fosi_t *f, const double *coef, double *out)
{
    for (size_t p = 0; p < f->slices; p++) {
        size_t len = slice_len(f, p);
        if (len > 0) {
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)f->count, (int)len, 1.0, slice(f, p),
                        (int)f->n_s, coef, 1, 0.0, out + p * f->n_s, 1);
        }
    }
}

/* coef = V x (count values): the slices' partials V_p x_p added in slice order, the shards'
 * reduction (one slice: the product itself, so replicated FOSI is unchanged). */
static void coordinates(pd_fosi_t *f, const double *x)
{
    memset(f->coef, 0, f->count * sizeof(double));
    for (size_t p = 0; p < f->slices; p++) {
        size_t len = slice_len(f, p);
        double *into = p == 0 ? f->coef : f->partial;
        if (len == 0) {
            continue;
        }
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)f->count, (int)len, 1.0, slice(f, p),
                    (int)f->n_s, x + p * f->n_s, 1, 0.0, into, 1);
        for (size_t j = 0; p > 0 && j < f->count; j++) {
            f->coef[j] += f->partial[j];
        }
    }
}

/* The base optimiser's step on g at step size lr, without its regulariser (FOSI's weight
 * decay is in the loss, so its gradient is already in g). */
static int base_step(pd_optim_t *o, double *x, const double *g, size_t n, double lr, bool check)
{
    pd_reg_t reg = o->reg;
    int rc = 0;

    o->reg.kind = PD_REG_NONE;
    if (check) {
        rc = pd_optim_apply_finite(o, x, 0, n, g, lr);
    } else {
        pd_optim_apply(o, x, 0, n, g, lr);
    }
    o->reg = reg;
    return rc;
}

int pd_fosi_step(pd_fosi_t *f, pd_optim_t *o, double *x, const double *g, double lr,
                 double damp)
{
    size_t n = f->n, k = f->count;
    double *g2 = scratch(f, SCR_G2), *delta = scratch(f, SCR_DELTA);
    double beta = o->kind == PD_OPT_ADAM ? o->beta1 : o->momentum;
    double cu[PD_FOSI_MAX_PAIRS];
    uint64_t t = o->t;

    if (k == 0) {
        f->g1_ratio = 0.0;
        return base_step(o, x, g, n, lr, true);
    }
    /* Four passes over V per step: V g, g1 = Vᵀ(V g), V Δ_b, and one Vᵀ for both the base
     * step's projection and the Newton direction. V u needs none: for a fixed V it follows
     * the velocity's own recursion in coordinates (set when V changes, pd_fosi_set_eigen). */
    coordinates(f, g);
    double g1_norm = cblas_dnrm2((int)k, f->coef, 1); /* V's rows are orthonormal */
    double g_norm = cblas_dnrm2((int)n, g, 1);
    f->g1_ratio = g_norm > 0.0 ? g1_norm / g_norm : 0.0;
    for (size_t j = 0; j < k; j++) {
        cu[j] = o->kind == PD_OPT_MOMENTUM ? f->coef[j] + beta * f->cu[j]
                : o->kind == PD_OPT_ADAM   ? (1.0 - beta) * f->coef[j] + beta * f->cu[j]
                                           : f->coef[j];
    }
    span(f, f->coef, delta); /* g1 */
    memcpy(scratch(f, SCR_U), f->u, n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        double g1 = delta[i];
        g2[i] = g[i] - g1;
        f->u[i] = o->kind == PD_OPT_MOMENTUM ? g1 + beta * f->u[i]
                  : o->kind == PD_OPT_ADAM   ? (1.0 - beta) * g1 + beta * f->u[i]
                                             : g1;
    }
    /* the base step Δ_b, taken on a copy of x */
    memcpy(scratch(f, SCR_OPT_U), o->u, n * sizeof(double));
    memcpy(scratch(f, SCR_OPT_V), o->v, n * sizeof(double));
    memcpy(delta, x, n * sizeof(double));
    base_step(o, delta, g2, n, lr, false);
    for (size_t i = 0; i < n; i++) {
        delta[i] -= x[i];
    }
    /* x + c_s(Δ_b − VᵀVΔ_b) − αVᵀ(r ⊙ V u) = x + c_sΔ_b − Vᵀ(c_s·VΔ_b + α·r ⊙ V u) */
    coordinates(f, delta);
    for (size_t j = 0; j < k; j++) {
        f->coef[j] = f->c_s * f->coef[j] + damp * f->o.alpha * f->r[j] * cu[j];
    }
    span(f, f->coef, g2); /* g2 is free now */
    for (size_t i = 0; i < n; i++) {
        g2[i] = x[i] + f->c_s * delta[i] - g2[i];
    }
    if (!pd_wire_all_finite(g2, n)) {
        memcpy(f->u, scratch(f, SCR_U), n * sizeof(double));
        memcpy(o->u, scratch(f, SCR_OPT_U), n * sizeof(double));
        memcpy(o->v, scratch(f, SCR_OPT_V), n * sizeof(double));
        o->t = t;
        return PD_ENONFINITE;
    }
    memcpy(f->cu, cu, k * sizeof(double));
    memcpy(x, g2, n * sizeof(double));
    return 0;
}
