/* lanczos.c - see lanczos.h.
 *
 * The eigenvectors stay float64, where the FOSI reference casts them to float32: the FOSI
 * step on a quadratic with k = d must land on A⁻¹b to 1e-8 (ALGORITHMS.md §5.9 oracle 5),
 * which float32 rows (orthonormal to 1e-7 only) cannot give; they cost (k + l)·n_s doubles
 * a slice against the basis's 4(k + l)·n_s. */
#include <config.h>
#include "lanczos.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "error.h"
#include "rng.h"

/* LAPACK's symmetric tridiagonal eigensolver, from OpenBLAS (Fortran calling convention). */
extern void dstev_(const char *jobz, const int *n, double *d, double *e, double *z,
                   const int *ldz, double *work, int *info);

#define EARLY_STOP_TOL 1e-10

static double *slice_row(const pd_lanczos_t *lz, size_t p, size_t i)
{
    return lz->basis + (p * lz->order + i) * lz->n_s;
}

/* Length of slice p's real (unpadded) coordinates. */
static size_t slice_len(const pd_lanczos_t *lz, size_t p)
{
    size_t begin = p * lz->n_s;

    if (begin >= lz->n) {
        return 0;
    }
    return lz->n - begin < lz->n_s ? lz->n - begin : lz->n_s;
}

/* Stores the padded vector src (P·n_s) as basis vector i and assembles it into lz->q. */
static void set_vector(pd_lanczos_t *lz, size_t i, const double *src, double scale)
{
    for (size_t p = 0; p < lz->slices; p++) {
        double *row = slice_row(lz, p, i);
        for (size_t j = 0; j < lz->n_s; j++) {
            row[j] = src[p * lz->n_s + j] * scale;
        }
        memcpy(lz->q + p * lz->n_s, row, slice_len(lz, p) * sizeof(double));
    }
}

void pd_lanczos_free(pd_lanczos_t *lz)
{
    free(lz->basis);
    free(lz->q);
    free(lz->w);
    free(lz->c);
    free(lz->part);
    free(lz->alpha);
    free(lz->beta);
    memset(lz, 0, sizeof(*lz));
}

int pd_lanczos_init(pd_lanczos_t *lz, size_t n, const pd_lanczos_opts_t *o)
{
    size_t pairs = o->k + o->l;
    size_t order = o->order != 0 ? o->order : 4 * pairs;
    pd_rng_t r;

    memset(lz, 0, sizeof(*lz));
    if (n == 0 || o->k == 0 || o->l > o->k || pairs > n || pairs > PD_LANCZOS_MAX_PAIRS ||
        order < pairs || order > PD_LANCZOS_MAX_ORDER || o->slices == 0 || o->slices > n) {
        return -EINVAL;
    }
    lz->n = n;
    lz->k = o->k;
    lz->l = o->l;
    lz->order = order < n ? order : n;
    lz->slices = o->slices;
    lz->n_s = (n + (o->slices - n % o->slices)) / o->slices;
    size_t padded = lz->slices * lz->n_s;
    lz->basis = calloc(lz->order * padded, sizeof(double));
    lz->q = malloc(n * sizeof(double));
    lz->w = calloc(padded, sizeof(double));
    lz->c = malloc(lz->order * sizeof(double));
    lz->part = malloc(lz->order * sizeof(double));
    lz->alpha = calloc(lz->order, sizeof(double));
    lz->beta = calloc(lz->order, sizeof(double));
    if (lz->basis == NULL || lz->q == NULL || lz->w == NULL || lz->c == NULL ||
        lz->part == NULL || lz->alpha == NULL || lz->beta == NULL) {
        pd_lanczos_free(lz);
        return -ENOMEM;
    }
    pd_rng_seed(&r, o->seed);
    for (size_t j = 0; j < n; j++) {
        lz->w[j] = pd_rng_normal(&r);
    }
    set_vector(lz, 0, lz->w, 1.0 / cblas_dnrm2((int)n, lz->w, 1));
    lz->m = lz->order;
    return 0;
}

const double *pd_lanczos_vector(const pd_lanczos_t *lz)
{
    return lz->done ? NULL : lz->q;
}

/* w ← w − Qᵀ(Q w) over basis vectors 0..rows−1, the product reduced over the slices in
 * slice order (DHO2 §5.6 step 4). */
static void orthogonalise(pd_lanczos_t *lz, size_t rows)
{
    int nr = (int)rows, ns = (int)lz->n_s;

    memset(lz->c, 0, rows * sizeof(double));
    for (size_t p = 0; p < lz->slices; p++) {
        cblas_dgemv(CblasRowMajor, CblasNoTrans, nr, ns, 1.0, slice_row(lz, p, 0), ns,
                    lz->w + p * lz->n_s, 1, 0.0, lz->part, 1);
        for (size_t i = 0; i < rows; i++) {
            lz->c[i] += lz->part[i];
        }
    }
    for (size_t p = 0; p < lz->slices; p++) {
        cblas_dgemv(CblasRowMajor, CblasTrans, nr, ns, -1.0, slice_row(lz, p, 0), ns, lz->c, 1,
                    1.0, lz->w + p * lz->n_s, 1);
    }
}

int pd_lanczos_feed(pd_lanczos_t *lz, const double *w)
{
    size_t i = lz->iter;
    double alpha, beta;

    if (lz->done || w == NULL) {
        return -EINVAL;
    }
    for (size_t j = 0; j < lz->n; j++) {
        if (!isfinite(w[j])) {
            return PD_ENONFINITE;
        }
    }
    memcpy(lz->w, w, lz->n * sizeof(double)); /* the padding stays 0 */
    alpha = cblas_ddot((int)lz->n, lz->w, 1, lz->q, 1);
    orthogonalise(lz, i + 1);
    orthogonalise(lz, i + 1);
    beta = cblas_dnrm2((int)(lz->slices * lz->n_s), lz->w, 1);
    lz->alpha[i] = alpha;
    lz->beta[i] = beta; /* off-diagonal T[i, i+1], or the residual norm of the last vector */
    lz->iter = i + 1;
    if (beta < EARLY_STOP_TOL * fmax(1.0, fabs(alpha))) {
        lz->early = true;
        lz->done = true;
        lz->m = i + 1;
    } else if (i + 1 == lz->order) {
        lz->done = true;
        lz->m = i + 1;
    } else {
        set_vector(lz, i + 1, lz->w, 1.0 / beta);
    }
    return 0;
}

void pd_lanczos_pairs(const pd_lanczos_t *lz, size_t *k, size_t *l)
{
    *k = lz->k < lz->m ? lz->k : lz->m;
    *l = lz->l < lz->m - *k ? lz->l : lz->m - *k;
}

int pd_lanczos_ritz(const pd_lanczos_t *lz, double *lambda, double *v, double *resid,
                    size_t *count)
{
    int m = (int)lz->m, info = 0;
    size_t k, l, sel[PD_LANCZOS_MAX_PAIRS];
    double *d = NULL, *e = NULL, *z = NULL, *work = NULL, *coef = NULL;
    int rc = 0;

    if (!lz->done) {
        return -EINVAL;
    }
    pd_lanczos_pairs(lz, &k, &l);
    d = malloc((size_t)m * sizeof(double));
    e = malloc((size_t)m * sizeof(double));
    z = malloc((size_t)m * (size_t)m * sizeof(double));
    work = malloc((size_t)(2 * m) * sizeof(double));
    coef = malloc((size_t)m * sizeof(double));
    if (d == NULL || e == NULL || z == NULL || work == NULL || coef == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(d, lz->alpha, (size_t)m * sizeof(double));
    memcpy(e, lz->beta, (size_t)m * sizeof(double)); /* dstev reads the first m − 1 */
    dstev_("V", &m, d, e, z, &m, work, &info);
    if (info != 0) {
        rc = PD_ECONFIG;
        goto out;
    }
    /* ascending eigenvalues: bottom l' first, then top k' */
    for (size_t j = 0; j < l; j++) {
        sel[j] = j;
    }
    for (size_t j = 0; j < k; j++) {
        sel[l + j] = lz->m - k + j;
    }
    for (size_t s = 0; s < k + l; s++) {
        const double *u = z + sel[s] * lz->m; /* column sel[s] of the column-major z */
        lambda[s] = d[sel[s]];
        if (resid != NULL) {
            resid[s] = fabs(lz->beta[lz->m - 1] * u[lz->m - 1]);
        }
        memcpy(coef, u, lz->m * sizeof(double));
        /* V_p = U_selᵀ Q_p, slice by slice (§5.6 step 6) */
        for (size_t p = 0; p < lz->slices; p++) {
            size_t len = slice_len(lz, p);
            if (len > 0) {
                cblas_dgemv(CblasRowMajor, CblasTrans, m, (int)len, 1.0, slice_row(lz, p, 0),
                            (int)lz->n_s, coef, 1, 0.0, v + s * lz->n + p * lz->n_s, 1);
            }
        }
    }
    *count = k + l;
out:
    free(d);
    free(e);
    free(z);
    free(work);
    free(coef);
    return rc;
}

double pd_lanczos_orth_loss(const pd_lanczos_t *lz)
{
    size_t built = lz->done ? lz->m : lz->iter + 1;
    double worst = 0.0;

    for (size_t a = 0; a < built; a++) {
        for (size_t b = a; b < built; b++) {
            double dot = 0.0;
            for (size_t p = 0; p < lz->slices; p++) {
                dot += cblas_ddot((int)lz->n_s, slice_row(lz, p, a), 1, slice_row(lz, p, b), 1);
            }
            worst = fmax(worst, fabs(dot - (a == b ? 1.0 : 0.0)));
        }
    }
    return worst;
}

size_t pd_lanczos_slice_bytes(const pd_lanczos_t *lz)
{
    return 8 * lz->order * lz->n_s;
}
