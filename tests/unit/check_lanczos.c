/* check_lanczos.c - the Lanczos ESE of common/lanczos.c against matrices with known spectra
 * (ALGORITHMS.md §5.9 oracles 1, 2, 3, 8 and 10). */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lanczos.h"
#include "rng.h"

/* A symmetric operator: diagonal h, optionally rotated by M = H_3 H_2 H_1 (Householder
 * reflections H_j = I − 2u_ju_jᵀ, each its own inverse), A = M diag(h) Mᵀ, eigenvectors M e_i. */
typedef struct op {
    size_t n;
    double *h;
    double *refl[3]; /* unit vectors of the reflections; NULL: diagonal */
    double *tmp;
} op_t;

static void reflect(const double *u, double *x, size_t n)
{
    double dot = 0.0;
    for (size_t i = 0; i < n; i++) {
        dot += u[i] * x[i];
    }
    for (size_t i = 0; i < n; i++) {
        x[i] -= 2.0 * dot * u[i];
    }
}

static void op_init(op_t *a, size_t n, bool rotated, uint64_t seed)
{
    pd_rng_t r;

    memset(a, 0, sizeof(*a));
    a->n = n;
    a->h = calloc(n, sizeof(double));
    a->tmp = calloc(n, sizeof(double));
    ck_assert_ptr_nonnull(a->h);
    ck_assert_ptr_nonnull(a->tmp);
    pd_rng_seed(&r, seed);
    for (int j = 0; rotated && j < 3; j++) {
        double norm = 0.0;
        a->refl[j] = malloc(n * sizeof(double));
        ck_assert_ptr_nonnull(a->refl[j]);
        for (size_t i = 0; i < n; i++) {
            a->refl[j][i] = pd_rng_normal(&r);
            norm += a->refl[j][i] * a->refl[j][i];
        }
        for (size_t i = 0; i < n; i++) {
            a->refl[j][i] /= sqrt(norm);
        }
    }
}

static void op_free(op_t *a)
{
    free(a->h);
    free(a->tmp);
    for (int j = 0; j < 3; j++) {
        free(a->refl[j]);
    }
}

/* out = A x */
static void op_apply(const op_t *a, const double *x, double *out)
{
    memcpy(a->tmp, x, a->n * sizeof(double));
    for (int j = 2; j >= 0; j--) { /* Mᵀ x = H_1 H_2 H_3 x: H_3 first */
        if (a->refl[j] != NULL) {
            reflect(a->refl[j], a->tmp, a->n);
        }
    }
    for (size_t i = 0; i < a->n; i++) {
        a->tmp[i] *= a->h[i];
    }
    for (int j = 0; j < 3; j++) {
        if (a->refl[j] != NULL) {
            reflect(a->refl[j], a->tmp, a->n);
        }
    }
    memcpy(out, a->tmp, a->n * sizeof(double));
}

/* Eigenvector i of A: M e_i (H_1 first). */
static void op_eigvec(const op_t *a, size_t i, double *out)
{
    memset(out, 0, a->n * sizeof(double));
    out[i] = 1.0;
    for (int j = 0; j < 3; j++) {
        if (a->refl[j] != NULL) {
            reflect(a->refl[j], out, a->n);
        }
    }
}

static void run(pd_lanczos_t *lz, const op_t *a)
{
    double *w = malloc(a->n * sizeof(double));
    const double *q;

    ck_assert_ptr_nonnull(w);
    while ((q = pd_lanczos_vector(lz)) != NULL) {
        op_apply(a, q, w);
        ck_assert_int_eq(pd_lanczos_feed(lz, w), 0);
    }
    free(w);
}

/* |⟨a, b⟩| − 1 measured as min over the sign of ‖a ∓ b‖_∞ */
static double sign_free_dist(const double *a, const double *b, size_t n)
{
    double plus = 0.0, minus = 0.0;
    for (size_t i = 0; i < n; i++) {
        plus = fmax(plus, fabs(a[i] - b[i]));
        minus = fmax(minus, fabs(a[i] + b[i]));
    }
    return fmin(plus, minus);
}

/* Oracle 1, small: n ≤ m_L, so the run ends after n products and every eigenvalue of a
 * diagonal matrix comes back, bottom l then top k, to 1e-10. */
START_TEST(diagonal_small_all_values)
{
    op_t a;
    pd_lanczos_t lz;
    pd_lanczos_opts_t o = {.k = 4, .l = 3, .slices = 1};
    double lambda[7], v[7 * 7], sorted[7] = {-2.5, 0.25, 1.0, 3.0, 4.5, 8.0, 11.0};
    size_t count;

    op_init(&a, 7, false, 1);
    double h[7] = {3.0, -2.5, 11.0, 0.25, 8.0, 1.0, 4.5};
    memcpy(a.h, h, sizeof(h));
    ck_assert_int_eq(pd_lanczos_init(&lz, 7, &o), 0);
    run(&lz, &a);
    ck_assert(lz.m <= 7);
    ck_assert_int_eq(pd_lanczos_ritz(&lz, lambda, v, NULL, &count), 0);
    ck_assert_uint_eq(count, 7);
    for (size_t j = 0; j < 7; j++) {
        ck_assert_double_eq_tol(lambda[j], sorted[j], 1e-10);
    }
    pd_lanczos_free(&lz);
    op_free(&a);
}
END_TEST

/* Oracles 1 and 2, large: h = (100, 90, 80, 70, 60, U[0,1]...), n = 2000, k = 5, m_L = 20:
 * the top five to 1e-8 with eigenvectors ±e_i to 1e-6, and the basis orthonormal to 1e-10. */
START_TEST(diagonal_large_top_five)
{
    op_t a;
    pd_lanczos_t lz;
    pd_lanczos_opts_t o = {.k = 5, .slices = 1};
    size_t n = 2000, count;
    double lambda[5], resid[5], *v = malloc(5 * n * sizeof(double)), *e = malloc(n * sizeof(double));
    pd_rng_t r;

    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_nonnull(e);
    op_init(&a, n, false, 2);
    pd_rng_seed(&r, 3);
    for (size_t i = 0; i < n; i++) {
        a.h[i] = i < 5 ? 100.0 - 10.0 * (double)i : pd_rng_uniform(&r);
    }
    ck_assert_int_eq(pd_lanczos_init(&lz, n, &o), 0);
    ck_assert_uint_eq(lz.order, 20);
    run(&lz, &a);
    ck_assert_uint_eq(lz.m, 20);
    ck_assert(pd_lanczos_orth_loss(&lz) < 1e-10);
    ck_assert_int_eq(pd_lanczos_ritz(&lz, lambda, v, resid, &count), 0);
    ck_assert_uint_eq(count, 5);
    for (size_t j = 0; j < 5; j++) { /* ascending: 60, 70, 80, 90, 100 */
        ck_assert_double_eq_tol(lambda[j], 60.0 + 10.0 * (double)j, 1e-8);
        op_eigvec(&a, 4 - j, e);
        ck_assert(sign_free_dist(v + j * n, e, n) < 1e-6);
    }
    pd_lanczos_free(&lz);
    op_free(&a);
    free(v);
    free(e);
}
END_TEST

/* Oracle 3: on a rotated (dense) matrix with a separated top spectrum, every returned pair
 * satisfies ‖Av − λv‖ ≤ 1e-6·|λ_max|, and the cheap estimate |β_m u_m| agrees with it. */
START_TEST(ritz_residuals)
{
    op_t a;
    pd_lanczos_t lz;
    pd_lanczos_opts_t o = {.k = 4, .slices = 1};
    size_t n = 400, count;
    double lambda[4], resid[4], *v = malloc(4 * n * sizeof(double)), *av = malloc(n * sizeof(double));
    pd_rng_t r;

    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_nonnull(av);
    op_init(&a, n, true, 4);
    pd_rng_seed(&r, 5);
    for (size_t i = 0; i < n; i++) {
        a.h[i] = i < 4 ? 40.0 - 8.0 * (double)i : 2.0 * pd_rng_uniform(&r) - 1.0;
    }
    ck_assert_int_eq(pd_lanczos_init(&lz, n, &o), 0);
    run(&lz, &a);
    ck_assert(pd_lanczos_orth_loss(&lz) < 1e-10);
    ck_assert_int_eq(pd_lanczos_ritz(&lz, lambda, v, resid, &count), 0);
    for (size_t j = 0; j < count; j++) {
        double norm = 0.0;
        op_apply(&a, v + j * n, av);
        for (size_t i = 0; i < n; i++) {
            double d = av[i] - lambda[j] * v[j * n + i];
            norm += d * d;
        }
        norm = sqrt(norm);
        ck_assert_msg(norm <= 1e-6 * 40.0, "pair %zu: residual %g", j, norm);
        ck_assert_double_eq_tol(resid[j], norm, 1e-9 * 40.0);
        ck_assert_double_eq_tol(lambda[j], 16.0 + 8.0 * (double)j, 1e-8);
    }
    pd_lanczos_free(&lz);
    op_free(&a);
    free(v);
    free(av);
}
END_TEST

/* Bottom pairs: with l = 2 the two most negative eigenvalues come first, ascending. */
START_TEST(bottom_pairs)
{
    op_t a;
    pd_lanczos_t lz;
    pd_lanczos_opts_t o = {.k = 2, .l = 2, .order = 40, .slices = 1};
    size_t n = 300, count;
    double lambda[4], *v = malloc(4 * n * sizeof(double));
    pd_rng_t r;

    ck_assert_ptr_nonnull(v);
    op_init(&a, n, true, 6);
    pd_rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++) {
        a.h[i] = 2.0 * pd_rng_uniform(&r) - 1.0;
    }
    a.h[10] = -30.0, a.h[20] = -20.0, a.h[30] = 25.0, a.h[40] = 35.0;
    ck_assert_int_eq(pd_lanczos_init(&lz, n, &o), 0);
    run(&lz, &a);
    ck_assert_int_eq(pd_lanczos_ritz(&lz, lambda, v, NULL, &count), 0);
    ck_assert_uint_eq(count, 4);
    double want[4] = {-30.0, -20.0, 25.0, 35.0};
    for (size_t j = 0; j < 4; j++) {
        ck_assert_double_eq_tol(lambda[j], want[j], 1e-8);
    }
    pd_lanczos_free(&lz);
    op_free(&a);
    free(v);
}
END_TEST

/* Oracle 8: P slices give the single-slice eigenvalues to 1e-10 and Ritz vectors up to sign
 * to 1e-8 (same start vector, same products); the vector to multiply never depends on P
 * beyond rounding. */
START_TEST(slices_match_single)
{
    size_t n = 301, count1, countp;
    op_t a;
    double l1[5], lp[5], *v1 = malloc(5 * n * sizeof(double)), *vp = malloc(5 * n * sizeof(double));
    pd_rng_t r;

    ck_assert_ptr_nonnull(v1);
    ck_assert_ptr_nonnull(vp);
    op_init(&a, n, true, 8);
    pd_rng_seed(&r, 9);
    for (size_t i = 0; i < n; i++) {
        a.h[i] = i < 5 ? 10.0 + 3.0 * (double)i : pd_rng_uniform(&r);
    }
    pd_lanczos_t one;
    pd_lanczos_opts_t o = {.k = 5, .slices = 1};
    ck_assert_int_eq(pd_lanczos_init(&one, n, &o), 0);
    run(&one, &a);
    ck_assert_int_eq(pd_lanczos_ritz(&one, l1, v1, NULL, &count1), 0);
    size_t ps[] = {2, 3, 7, 301};
    for (size_t t = 0; t < sizeof(ps) / sizeof(ps[0]); t++) {
        pd_lanczos_t lz;
        o.slices = ps[t];
        ck_assert_int_eq(pd_lanczos_init(&lz, n, &o), 0);
        run(&lz, &a);
        ck_assert_uint_eq(lz.m, one.m);
        ck_assert(pd_lanczos_orth_loss(&lz) < 1e-10);
        ck_assert_int_eq(pd_lanczos_ritz(&lz, lp, vp, NULL, &countp), 0);
        ck_assert_uint_eq(countp, count1);
        for (size_t j = 0; j < count1; j++) {
            ck_assert_double_eq_tol(lp[j], l1[j], 1e-10);
            ck_assert_msg(sign_free_dist(vp + j * n, v1 + j * n, n) < 1e-8, "P = %zu, pair %zu",
                          ps[t], j);
        }
        pd_lanczos_free(&lz);
    }
    pd_lanczos_free(&one);
    op_free(&a);
    free(v1);
    free(vp);
}
END_TEST

/* Oracle 10 and §5.6's padding rule: n_s = (n + P − n mod P)/P, always padded; the basis of
 * a slice is 8·m_L·n_s bytes. */
START_TEST(slice_memory)
{
    struct {
        size_t n, p, n_s;
    } cases[] = {{10, 5, 3}, {10, 3, 4}, {11, 1, 12}, {1000, 8, 126}};
    pd_lanczos_opts_t o = {.k = 2, .l = 1};

    for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++) {
        pd_lanczos_t lz;
        o.slices = cases[t].p;
        ck_assert_int_eq(pd_lanczos_init(&lz, cases[t].n, &o), 0);
        ck_assert_uint_eq(lz.n_s, cases[t].n_s);
        ck_assert_uint_eq(pd_lanczos_slice_bytes(&lz), 8 * lz.order * cases[t].n_s);
        ck_assert_uint_eq(lz.order, cases[t].n < 12 ? cases[t].n : 12);
        pd_lanczos_free(&lz);
    }
}
END_TEST

START_TEST(bad_use)
{
    pd_lanczos_t lz;
    pd_lanczos_opts_t ok = {.k = 2, .slices = 1};
    double w[8] = {0}, lambda[2], v[16];
    size_t count;

    pd_lanczos_opts_t bad[] = {
        {.k = 0, .slices = 1},  {.k = 2, .l = 3, .slices = 1}, {.k = 5, .l = 4, .slices = 1},
        {.k = 2, .slices = 0},  {.k = 2, .slices = 9},         {.k = 2, .order = 1, .slices = 1},
        {.k = 2, .order = PD_LANCZOS_MAX_ORDER + 1, .slices = 1},
    };
    for (size_t t = 0; t < sizeof(bad) / sizeof(bad[0]); t++) {
        ck_assert_int_eq(pd_lanczos_init(&lz, 8, &bad[t]), -EINVAL);
    }
    ck_assert_int_eq(pd_lanczos_init(&lz, 8, &ok), 0);
    ck_assert_int_eq(pd_lanczos_ritz(&lz, lambda, v, NULL, &count), -EINVAL); /* not done */
    w[3] = NAN;
    ck_assert_int_eq(pd_lanczos_feed(&lz, w), PD_ENONFINITE);
    ck_assert_uint_eq(lz.iter, 0); /* nothing taken */
    ck_assert_int_eq(pd_lanczos_feed(&lz, NULL), -EINVAL);
    w[3] = 0.0; /* H = 0: the space is invariant at once */
    ck_assert_int_eq(pd_lanczos_feed(&lz, w), 0);
    ck_assert(lz.done && lz.early);
    ck_assert_ptr_null(pd_lanczos_vector(&lz));
    ck_assert_int_eq(pd_lanczos_feed(&lz, w), -EINVAL);
    ck_assert_int_eq(pd_lanczos_ritz(&lz, lambda, v, NULL, &count), 0);
    ck_assert_uint_eq(count, 1); /* one basis vector: one pair */
    ck_assert_double_eq_tol(lambda[0], 0.0, 1e-15);
    pd_lanczos_free(&lz);
    pd_lanczos_free(&lz); /* idempotent */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lanczos");
    TCase *tc = tcase_create("ese");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, diagonal_small_all_values);
    tcase_add_test(tc, diagonal_large_top_five);
    tcase_add_test(tc, ritz_residuals);
    tcase_add_test(tc, bottom_pairs);
    tcase_add_test(tc, slices_match_single);
    tcase_add_test(tc, slice_memory);
    tcase_add_test(tc, bad_use);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
