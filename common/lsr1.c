/* lsr1.c - compact L-SR1 memory (update, B-products, block restriction) and the Steihaug–Toint
 * trust-region solve (APTS §4.4). The small m×m algebra (m ≤ mem) is hand-written; the n-long
 * work goes through cblas. See lsr1.h for the rules and the storage layout. */
#include <config.h>
#include "lsr1.h"

#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void pd_lsr1_free(pd_lsr1_t *b)
{
    if (b == NULL) {
        return;
    }
    free(b->s);
    free(b->y);
    free(b->psi);
    free(b->lu);
    free(b->piv);
    free(b->sy);
    free(b->ss);
    free(b->work_m);
    free(b->work_n);
    memset(b, 0, sizeof(*b));
}

int pd_lsr1_init(pd_lsr1_t *b, size_t n, size_t mem)
{
    int rc = 0;
    if (b == NULL) {
        return -EINVAL;
    }
    memset(b, 0, sizeof(*b));
    if (mem == 0) {
        mem = PD_LSR1_MEM_DEFAULT;
    }
    /* cblas takes int lengths; 3n must fit for the scratch, mem·n for the columns. */
    if (n == 0 || mem > PD_LSR1_MEM_MAX || n > (size_t)INT_MAX / 3 ||
        n > SIZE_MAX / sizeof(double) / PD_LSR1_MEM_MAX) {
        return -EINVAL;
    }
    b->n = n;
    b->mem = mem;
    b->gamma = 1.0;
    b->s = calloc(mem * n, sizeof(double));
    b->y = calloc(mem * n, sizeof(double));
    b->psi = calloc(mem * n, sizeof(double));
    b->lu = calloc(mem * mem, sizeof(double));
    b->piv = calloc(mem, sizeof(size_t));
    b->sy = calloc(mem * mem, sizeof(double));
    b->ss = calloc(mem * mem, sizeof(double));
    b->work_m = calloc(2 * mem, sizeof(double));
    b->work_n = calloc(3 * n, sizeof(double));
    if (b->s == NULL || b->y == NULL || b->psi == NULL || b->lu == NULL || b->piv == NULL ||
        b->sy == NULL || b->ss == NULL || b->work_m == NULL || b->work_n == NULL) {
        rc = -ENOMEM;
        goto done;
    }
done:
    if (rc != 0) {
        pd_lsr1_free(b);
    }
    return rc;
}

const double *pd_lsr1_pair_s(const pd_lsr1_t *b, size_t j)
{
    return (b != NULL && j < b->count) ? b->s + j * b->n : NULL;
}

const double *pd_lsr1_pair_y(const pd_lsr1_t *b, size_t j)
{
    return (b != NULL && j < b->count) ? b->y + j * b->n : NULL;
}

/* In-place LU with partial pivoting of the k×k row-major matrix a (row stride ld). Refuses a
 * pivot below PD_LSR1_PIVOT_TOL × max|a|: relative to the matrix, because the entries of M⁻¹
 * scale like ‖s‖‖y‖ and an absolute threshold would depend on the units of the problem. */
static int lu_factor(double *a, size_t k, size_t ld, size_t *piv)
{
    double scale = 0.0;
    for (size_t i = 0; i < k; i++) {
        for (size_t j = 0; j < k; j++) {
            scale = fmax(scale, fabs(a[i * ld + j]));
        }
    }
    if (!(scale > 0.0) || !isfinite(scale)) {
        return -EDOM;
    }
    for (size_t c = 0; c < k; c++) {
        size_t p = c;
        for (size_t r = c + 1; r < k; r++) {
            if (fabs(a[r * ld + c]) > fabs(a[p * ld + c])) {
                p = r;
            }
        }
        if (fabs(a[p * ld + c]) < PD_LSR1_PIVOT_TOL * scale) {
            return -EDOM;
        }
        piv[c] = p;
        if (p != c) {
            /* whole rows, LAPACK style: the solve then permutes the right side first */
            for (size_t j = 0; j < k; j++) {
                double t = a[c * ld + j];
                a[c * ld + j] = a[p * ld + j];
                a[p * ld + j] = t;
            }
        }
        for (size_t r = c + 1; r < k; r++) {
            double l = a[r * ld + c] / a[c * ld + c];
            a[r * ld + c] = l;
            for (size_t j = c + 1; j < k; j++) {
                a[r * ld + j] -= l * a[c * ld + j];
            }
        }
    }
    return 0;
}

/* x ← A⁻¹ x with the factors of lu_factor. */
static void lu_solve(const double *a, size_t k, size_t ld, const size_t *piv, double *x)
{
    for (size_t c = 0; c < k; c++) {
        if (piv[c] != c) {
            double t = x[c];
            x[c] = x[piv[c]];
            x[piv[c]] = t;
        }
    }
    for (size_t r = 1; r < k; r++) {
        double acc = x[r];
        for (size_t j = 0; j < r; j++) {
            acc -= a[r * ld + j] * x[j];
        }
        x[r] = acc;
    }
    for (size_t r = k; r-- > 0;) {
        double acc = x[r];
        for (size_t j = r + 1; j < k; j++) {
            acc -= a[r * ld + j] * x[j];
        }
        x[r] = acc / a[r * ld + r];
    }
}

/* Drops the `first` oldest pairs by shifting the columns down. */
static void drop_oldest(pd_lsr1_t *b, size_t first)
{
    if (first == 0) {
        return;
    }
    size_t keep = b->count - first;
    if (keep > 0) {
        memmove(b->s, b->s + first * b->n, keep * b->n * sizeof(double));
        memmove(b->y, b->y + first * b->n, keep * b->n * sizeof(double));
    }
    b->count = keep;
}

/* Recomputes γ, the LU of M⁻¹ and Ψ for the stored pairs, dropping the oldest ones while M⁻¹ is
 * singular. SᵀY and SᵀS are formed once for all pairs: dropping the oldest pairs only removes
 * leading rows and columns, so each retry reads a trailing submatrix. */
static void rebuild(pd_lsr1_t *b)
{
    size_t n = b->n, m = b->count, ld = b->mem;
    if (m == 0) {
        b->gamma = 1.0;
        return;
    }
    const double *s_new = b->s + (m - 1) * n, *y_new = b->y + (m - 1) * n;
    double sty = cblas_ddot((int)n, s_new, 1, y_new, 1);
    double yty = cblas_ddot((int)n, y_new, 1, y_new, 1); /* > 1e-12: ‖y‖ > 1e-6 was checked */
    b->gamma = fabs(sty / yty) < PD_LSR1_GAMMA_TOL ? 1.0 : yty / sty;
    double gamma = b->gamma;

    /* column-major, leading dimension mem: sy[i + j·ld] = s_iᵀy_j, ss[i + j·ld] = s_iᵀs_j */
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)m, (int)m, (int)n, 1.0, b->s,
                (int)n, b->y, (int)n, 0.0, b->sy, (int)ld);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)m, (int)m, (int)n, 1.0, b->s,
                (int)n, b->s, (int)n, 0.0, b->ss, (int)ld);

    size_t first = 0;
    for (; first < m; first++) {
        size_t k = m - first;
        for (size_t i = 0; i < k; i++) {
            for (size_t j = 0; j < k; j++) {
                size_t gi = first + i, gj = first + j;
                /* D + L + Lᵀ: entry (i, j) is s_max(i,j)ᵀ y_min(i,j) */
                size_t hi = gi > gj ? gi : gj, lo = gi > gj ? gj : gi;
                b->lu[i * ld + j] = b->sy[hi + lo * ld] - gamma * b->ss[gi + gj * ld];
            }
        }
        if (lu_factor(b->lu, k, ld, b->piv) == 0) {
            break;
        }
    }
    b->dropped_singular += first;
    drop_oldest(b, first);
    if (b->count == 0) {
        b->gamma = 1.0;
        return;
    }
    for (size_t j = 0; j < b->count; j++) {
        double *p = b->psi + j * n;
        memcpy(p, b->y + j * n, n * sizeof(double));
        cblas_daxpy((int)n, -gamma, b->s + j * n, 1, p, 1);
    }
}

int pd_lsr1_apply(const pd_lsr1_t *b, const double *v, double *out)
{
    if (b == NULL || v == NULL || out == NULL) {
        return -EINVAL;
    }
    int n = (int)b->n, m = (int)b->count;
    double *w = b->work_m;
    /* Ψᵀv first, so that out may alias v */
    if (m > 0) {
        cblas_dgemv(CblasColMajor, CblasTrans, n, m, 1.0, b->psi, n, v, 1, 0.0, w, 1);
        lu_solve(b->lu, b->count, b->mem, b->piv, w);
    }
    if (out != v) {
        memcpy(out, v, b->n * sizeof(double));
    }
    cblas_dscal(n, b->gamma, out, 1);
    if (m > 0) {
        cblas_dgemv(CblasColMajor, CblasNoTrans, n, m, 1.0, b->psi, n, w, 1, 1.0, out, 1);
    }
    return 0;
}

int pd_lsr1_update(pd_lsr1_t *b, const double *s, const double *y)
{
    if (b == NULL || s == NULL || y == NULL || b->frozen) {
        return -EINVAL;
    }
    size_t n = b->n;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(s[i]) || !isfinite(y[i])) {
            return -EINVAL;
        }
    }
    double ns = cblas_dnrm2((int)n, s, 1), ny = cblas_dnrm2((int)n, y, 1);
    if (!(ns > PD_LSR1_MIN_NORM) || !(ny > PD_LSR1_MIN_NORM)) {
        b->skipped_small++;
        b->pairs_skipped++;
        return 1;
    }
    double *r = b->work_n;
    pd_lsr1_apply(b, s, r);
    for (size_t i = 0; i < n; i++) {
        r[i] = y[i] - r[i];
    }
    double sr = cblas_ddot((int)n, s, 1, r, 1), nr = cblas_dnrm2((int)n, r, 1);
    if (fabs(sr) <= PD_LSR1_SKIP_TOL * ns * nr) {
        b->skipped_sr1++;
        b->pairs_skipped++;
        return 1;
    }
    if (b->count == b->mem) {
        drop_oldest(b, 1);
        b->dropped_fifo++;
    }
    memcpy(b->s + b->count * n, s, n * sizeof(double));
    memcpy(b->y + b->count * n, y, n * sizeof(double));
    b->count++;
    b->pairs_stored++;
    rebuild(b);
    /* the newest pair is the last column, so it survives unless everything was dropped */
    return b->count > 0 ? 0 : 1;
}

/* τ ≥ 0 with ‖z + τd‖₂ = radius for ‖z‖ ≤ radius, d ≠ 0; the branch avoids cancellation. */
static double boundary_tau(const double *z, const double *d, int n, double radius)
{
    double zz = cblas_ddot(n, z, 1, z, 1), zd = cblas_ddot(n, z, 1, d, 1);
    double dd = cblas_ddot(n, d, 1, d, 1);
    double gap = fmax(radius * radius - zz, 0.0);
    double root = sqrt(zd * zd + dd * gap);
    return zd <= 0.0 ? (root - zd) / dd : gap / (zd + root);
}

int pd_lsr1_tr_solve(const pd_lsr1_t *b, const double *g, double radius, double *s,
                     double *pred)
{
    if (b == NULL || g == NULL || s == NULL || pred == NULL || s == g || !(radius > 0.0) ||
        !isfinite(radius)) {
        return -EINVAL;
    }
    int n = (int)b->n;
    double *r = b->work_n, *d = b->work_n + b->n, *bd = b->work_n + 2 * b->n;
    memset(s, 0, b->n * sizeof(double));
    double gn = cblas_dnrm2(n, g, 1);
    *pred = 0.0;
    if (gn == 0.0) {
        return 0;
    }
    double tol = PD_LSR1_CG_TOL * gn;
    memcpy(r, g, b->n * sizeof(double));
    memcpy(d, g, b->n * sizeof(double));
    cblas_dscal(n, -1.0, d, 1);
    double rr = gn * gn;
    for (int it = 0; it < PD_LSR1_CG_MAX_ITER; it++) {
        pd_lsr1_apply(b, d, bd);
        double kappa = cblas_ddot(n, d, 1, bd, 1);
        double dd = cblas_ddot(n, d, 1, d, 1);
        if (!(dd > 0.0)) {
            break; /* cannot happen while ‖r‖ ≥ tol; guards the division in boundary_tau */
        }
        if (kappa <= 0.0) {
            /* the model is unbounded below along d (rᵀd = −rᵀr < 0 in CG and κ ≤ 0), so the
             * minimiser on this line is where it leaves the ball */
            cblas_daxpy(n, boundary_tau(s, d, n, radius), d, 1, s, 1);
            break;
        }
        double alpha = rr / kappa;
        double zn2 = 0.0;
        for (int i = 0; i < n; i++) {
            double t = s[i] + alpha * d[i];
            zn2 += t * t;
        }
        if (sqrt(zn2) >= radius) {
            cblas_daxpy(n, boundary_tau(s, d, n, radius), d, 1, s, 1);
            break;
        }
        cblas_daxpy(n, alpha, d, 1, s, 1);
        cblas_daxpy(n, alpha, bd, 1, r, 1);
        double rr_new = cblas_ddot(n, r, 1, r, 1);
        if (sqrt(rr_new) < tol) {
            break;
        }
        cblas_dscal(n, rr_new / rr, d, 1);
        cblas_daxpy(n, -1.0, r, 1, d, 1);
        rr = rr_new;
    }
    /* the boundary step lands on ‖s‖ = radius only up to rounding; never report outside */
    double sn = cblas_dnrm2(n, s, 1);
    if (sn > radius) {
        cblas_dscal(n, radius / sn, s, 1);
    }
    pd_lsr1_apply(b, s, bd);
    *pred = -(cblas_ddot(n, g, 1, s, 1) + 0.5 * cblas_ddot(n, s, 1, bd, 1));
    return 0;
}

int pd_lsr1_block(const pd_lsr1_t *b, size_t offset, size_t len, pd_lsr1_t *out)
{
    if (b == NULL || out == NULL || out == b || len == 0 || offset > b->n ||
        len > b->n - offset) {
        return -EINVAL;
    }
    int rc = pd_lsr1_init(out, len, b->mem);
    if (rc != 0) {
        return rc;
    }
    out->count = b->count;
    out->gamma = b->gamma;
    for (size_t j = 0; j < b->count; j++) {
        size_t src = j * b->n + offset, dst = j * len;
        memcpy(out->s + dst, b->s + src, len * sizeof(double));
        memcpy(out->y + dst, b->y + src, len * sizeof(double));
        memcpy(out->psi + dst, b->psi + src, len * sizeof(double));
    }
    /* the global M: its factors depend on the full vectors, not on the block rows */
    memcpy(out->lu, b->lu, b->mem * b->mem * sizeof(double));
    memcpy(out->piv, b->piv, b->mem * sizeof(size_t));
    out->frozen = true;
    return 0;
}

int pd_lsr1_minv(const pd_lsr1_t *b, double *minv)
{
    if (b == NULL || (minv == NULL && b->count > 0)) {
        return -EINVAL;
    }
    size_t n = b->n, m = b->count;
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < m; j++) {
            /* D + L + Lᵀ: entry (i, j) is s_max(i,j)ᵀ y_min(i,j), as in rebuild */
            size_t hi = i > j ? i : j, lo = i > j ? j : i;
            minv[i * m + j] = cblas_ddot((int)n, b->s + hi * n, 1, b->y + lo * n, 1) -
                              b->gamma * cblas_ddot((int)n, b->s + i * n, 1, b->s + j * n, 1);
        }
    }
    return 0;
}

int pd_lsr1_block_from(pd_lsr1_t *out, size_t len, size_t count, double gamma,
                       const double *minv, const double *s_d, const double *y_d)
{
    int rc;
    if (out == NULL || len == 0 || count > PD_LSR1_MEM_MAX || !isfinite(gamma) ||
        gamma == 0.0 || (count > 0 && (minv == NULL || s_d == NULL || y_d == NULL))) {
        return -EINVAL;
    }
    for (size_t i = 0; i < count * count; i++) {
        if (!isfinite(minv[i])) {
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < count * len; i++) {
        if (!isfinite(s_d[i]) || !isfinite(y_d[i])) {
            return -EINVAL;
        }
    }
    rc = pd_lsr1_init(out, len, count > 0 ? count : 1);
    if (rc != 0) {
        return rc;
    }
    out->frozen = true;
    if (count == 0) {
        goto done;
    }
    out->count = count;
    out->gamma = gamma;
    memcpy(out->s, s_d, count * len * sizeof(double));
    memcpy(out->y, y_d, count * len * sizeof(double));
    for (size_t j = 0; j < count; j++) {
        double *p = out->psi + j * len;
        memcpy(p, y_d + j * len, len * sizeof(double));
        cblas_daxpy((int)len, -gamma, s_d + j * len, 1, p, 1);
    }
    for (size_t i = 0; i < count; i++) {
        memcpy(out->lu + i * out->mem, minv + i * count, count * sizeof(double));
    }
    rc = lu_factor(out->lu, count, out->mem, out->piv);
done:
    if (rc != 0) {
        pd_lsr1_free(out);
    }
    return rc;
}
