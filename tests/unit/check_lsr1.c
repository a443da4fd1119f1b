/* check_lsr1.c - the compact L-SR1 memory and its trust-region solve (APTS §4.4): the secant
 * equation for the newest pair on a non-quadratic sequence, hereditary secant equations on a
 * quadratic, FIFO order, the skip rules and their counters, the empty memory (B = I), the
 * Steihaug–Toint solve (inside the ball, pred > 0, Newton step for SPD B and a huge radius,
 * boundary for a small radius or negative curvature, g = 0) and the block restriction
 * (B_d = principal block of the global B). float64 throughout. */
#include <config.h>
#include "lsr1.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "vec_check.h"

static double nrm2(const double *v, size_t n)
{
    return sqrt(dot(v, v, n));
}

/* ‖a − b‖₂ / ‖b‖₂ */
static double rel_err2(const double *a, const double *b, size_t n)
{
    double e = 0.0;
    for (size_t i = 0; i < n; i++) {
        e += (a[i] - b[i]) * (a[i] - b[i]);
    }
    return sqrt(e) / fmax(nrm2(b, n), 1e-300);
}

/* symmetric random n×n (row-major) */
static double *random_sym(uint64_t seed, size_t n)
{
    double *a = vec_new(n * n);
    random_vec(seed, a, n * n, 1.0);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            double t = 0.5 * (a[i * n + j] + a[j * n + i]);
            a[i * n + j] = t;
            a[j * n + i] = t;
        }
    }
    return a;
}

static void matvec(const double *a, const double *x, double *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = dot(a + i * n, x, n);
    }
}

/* gradient of ½zᵀAz + 0.075Σz⁴ + Σ sin z: genuinely non-quadratic */
static void grad_nonquad(const double *a, const double *z, double *g, size_t n)
{
    matvec(a, z, g, n);
    for (size_t i = 0; i < n; i++) {
        g[i] += 0.3 * z[i] * z[i] * z[i] + cos(z[i]);
    }
}

/* Feeds `steps` pairs of a random walk on the non-quadratic gradient into b. Returns how many
 * were stored; when check_newest, asserts B s_new = y_new after every stored one. */
static size_t feed_nonquad(pd_lsr1_t *b, const double *a, uint64_t seed, size_t steps,
                           bool check_newest)
{
    size_t n = b->n, stored = 0;
    double *z = vec_new(n), *g = vec_new(n), *z1 = vec_new(n), *g1 = vec_new(n);
    double *s = vec_new(n), *y = vec_new(n), *bs = vec_new(n);
    random_vec(seed, z, n, 1.0);
    grad_nonquad(a, z, g, n);
    for (size_t k = 0; k < steps; k++) {
        random_vec(seed * 1000 + k + 1, s, n, 0.5);
        for (size_t i = 0; i < n; i++) {
            z1[i] = z[i] + s[i];
        }
        grad_nonquad(a, z1, g1, n);
        for (size_t i = 0; i < n; i++) {
            y[i] = g1[i] - g[i];
        }
        int rc = pd_lsr1_update(b, s, y);
        ck_assert_int_ge(rc, 0);
        if (rc == 0) {
            stored++;
            if (check_newest) {
                ck_assert_int_eq(pd_lsr1_apply(b, s, bs), 0);
                double e = rel_err2(bs, y, n);
                ck_assert_msg(e <= 1e-10, "step %zu: |Bs - y|/|y| = %g", k, e);
            }
        }
        memcpy(z, z1, n * sizeof(double));
        memcpy(g, g1, n * sizeof(double));
    }
    free(z);
    free(g);
    free(z1);
    free(g1);
    free(s);
    free(y);
    free(bs);
    return stored;
}

/* max over stored pairs of ‖B s_j − y_j‖/‖y_j‖, pairs [0, upto) */
static double worst_secant(const pd_lsr1_t *b, size_t upto)
{
    double *bs = vec_new(b->n), worst = 0.0;
    for (size_t j = 0; j < upto; j++) {
        ck_assert_int_eq(pd_lsr1_apply(b, pd_lsr1_pair_s(b, j), bs), 0);
        worst = fmax(worst, rel_err2(bs, pd_lsr1_pair_y(b, j), b->n));
    }
    free(bs);
    return worst;
}

START_TEST(test_newest_secant_nonquadratic)
{
    const size_t n = 10;
    double *a = random_sym(11, n);
    pd_lsr1_t b;
    ck_assert_int_eq(pd_lsr1_init(&b, n, 5), 0);
    size_t stored = feed_nonquad(&b, a, 7, 25, true);
    ck_assert_uint_ge(stored, 20);
    ck_assert_uint_eq(b.count, 5);
    /* the sequence really is non-quadratic: the older pairs do not all satisfy the secant
     * equation, so the newest-pair check above is not the hereditary property in disguise */
    ck_assert_double_gt(worst_secant(&b, b.count - 1), 1e-6);
    pd_lsr1_free(&b);
    free(a);
}
END_TEST

START_TEST(test_hereditary_on_quadratic)
{
    const size_t n = 12;
    double *a = random_sym(21, n), *s = vec_new(n), *y = vec_new(n);
    pd_lsr1_t b;
    ck_assert_int_eq(pd_lsr1_init(&b, n, 5), 0);
    for (size_t k = 0; k < 7; k++) {
        random_vec(300 + k, s, n, 1.0);
        matvec(a, s, y, n); /* g(z+s) − g(z) = A s on ½θᵀAθ */
        ck_assert_int_eq(pd_lsr1_update(&b, s, y), 0);
        double e = worst_secant(&b, b.count);
        ck_assert_msg(e <= 1e-10, "after update %zu: worst |Bs_j - y_j|/|y_j| = %g", k, e);
    }
    ck_assert_uint_eq(b.count, 5);
    ck_assert_uint_eq(b.dropped_fifo, 2);
    ck_assert_uint_eq(b.dropped_singular, 0);
    pd_lsr1_free(&b);
    free(a);
    free(s);
    free(y);
}
END_TEST

START_TEST(test_fifo)
{
    const size_t n = 8, mem = 3, total = mem + 2;
    double *s = vec_new(total * n), *y = vec_new(total * n);
    pd_lsr1_t b;
    ck_assert_int_eq(pd_lsr1_init(&b, n, mem), 0);
    for (size_t k = 0; k < total; k++) {
        random_vec(400 + k, s + k * n, n, 1.0);
        random_vec(500 + k, y + k * n, n, 1.0);
        ck_assert_int_eq(pd_lsr1_update(&b, s + k * n, y + k * n), 0);
    }
    ck_assert_uint_eq(b.count, mem);
    ck_assert_uint_eq(b.dropped_fifo, 2);
    ck_assert_uint_eq(b.pairs_stored, total);
    for (size_t j = 0; j < mem; j++) {
        /* oldest first: stored pair j is the input pair j + 2, bit for bit */
        ck_assert_double_eq(max_diff(pd_lsr1_pair_s(&b, j), s + (j + 2) * n, n), 0.0);
        ck_assert_double_eq(max_diff(pd_lsr1_pair_y(&b, j), y + (j + 2) * n, n), 0.0);
    }
    ck_assert_ptr_null(pd_lsr1_pair_s(&b, mem));
    pd_lsr1_free(&b);
    free(s);
    free(y);
}
END_TEST

START_TEST(test_skip_rules)
{
    const size_t n = 6;
    double *s = vec_new(n), *y = vec_new(n), *bs = vec_new(n), *r = vec_new(n);
    pd_lsr1_t b;
    ck_assert_int_eq(pd_lsr1_init(&b, n, 5), 0);

    /* tiny s, then tiny y */
    random_vec(1, s, n, 1.0);
    random_vec(2, y, n, 1.0);
    double ns = nrm2(s, n);
    for (size_t i = 0; i < n; i++) {
        s[i] *= 0.9e-6 / ns;
    }
    ck_assert_int_eq(pd_lsr1_update(&b, s, y), 1);
    ck_assert_uint_eq(b.skipped_small, 1);
    random_vec(1, s, n, 1.0);
    double ny = nrm2(y, n);
    for (size_t i = 0; i < n; i++) {
        y[i] *= 0.9e-6 / ny;
    }
    ck_assert_int_eq(pd_lsr1_update(&b, s, y), 1);
    ck_assert_uint_eq(b.skipped_small, 2);
    ck_assert_uint_eq(b.count, 0);

    /* empty memory, B = I: y = s + r with r ⊥ s gives sᵀ(y − Bs) = 0 */
    memset(s, 0, n * sizeof(double));
    memset(y, 0, n * sizeof(double));
    s[0] = 1.0;
    y[0] = 1.0;
    y[1] = 1.0;
    ck_assert_int_eq(pd_lsr1_update(&b, s, y), 1);
    ck_assert_uint_eq(b.skipped_sr1, 1);
    ck_assert_uint_eq(b.count, 0);
    /* the same with sᵀr = 1e-6‖s‖‖r‖, well above 1e-8: stored */
    y[0] = 1.0 + 1e-6;
    ck_assert_int_eq(pd_lsr1_update(&b, s, y), 0);
    ck_assert_uint_eq(b.count, 1);

    /* non-empty memory: the test must use the current B, not I */
    random_vec(3, s, n, 1.0);
    random_vec(4, r, n, 1.0);
    double c = dot(r, s, n) / dot(s, s, n);
    for (size_t i = 0; i < n; i++) {
        r[i] -= c * s[i]; /* r ⊥ s */
    }
    ck_assert_int_eq(pd_lsr1_apply(&b, s, bs), 0);
    for (size_t i = 0; i < n; i++) {
        y[i] = bs[i] + r[i];
    }
    ck_assert_int_eq(pd_lsr1_update(&b, s, y), 1);
    ck_assert_uint_eq(b.skipped_sr1, 2);
    ck_assert_uint_eq(b.count, 1);
    ck_assert_uint_eq(b.pairs_skipped, 4);
    /* y = s + r is fine against this B (sᵀ(y − Bs) is far from 0) */
    for (size_t i = 0; i < n; i++) {
        y[i] = s[i] + r[i];
    }
    ck_assert_int_eq(pd_lsr1_update(&b, s, y), 0);
    ck_assert_uint_eq(b.count, 2);

    /* non-finite input and a NULL are errors, not skips */
    y[2] = NAN;
    ck_assert_int_eq(pd_lsr1_update(&b, s, y), -EINVAL);
    ck_assert_int_eq(pd_lsr1_update(&b, NULL, y), -EINVAL);
    ck_assert_uint_eq(b.pairs_skipped, 4);
    pd_lsr1_free(&b);
    free(s);
    free(y);
    free(bs);
    free(r);
}
END_TEST

START_TEST(test_empty_is_identity)
{
    const size_t n = 7;
    double *v = vec_new(n), *out = vec_new(n), *s = vec_new(n), *y = vec_new(n);
    pd_lsr1_t b;
    ck_assert_int_eq(pd_lsr1_init(&b, n, 0), 0);
    ck_assert_uint_eq(b.mem, PD_LSR1_MEM_DEFAULT);
    ck_assert_double_eq(b.gamma, 1.0);
    random_vec(5, v, n, 3.0);
    ck_assert_int_eq(pd_lsr1_apply(&b, v, out), 0);
    ck_assert_double_eq(max_diff(out, v, n), 0.0);

    /* y = 2s alone: γ = 2 but M⁻¹ = sᵀy − γsᵀs = 0, so the pair is dropped and the emptied
     * memory must fall back to γ = 1, not keep the γ = 2 of the dropped pair */
    random_vec(6, s, n, 1.0);
    for (size_t i = 0; i < n; i++) {
        y[i] = 2.0 * s[i];
    }
    ck_assert_int_eq(pd_lsr1_update(&b, s, y), 1);
    ck_assert_uint_eq(b.count, 0);
    ck_assert_uint_eq(b.dropped_singular, 1);
    ck_assert_double_eq(b.gamma, 1.0);
    ck_assert_int_eq(pd_lsr1_apply(&b, v, out), 0);
    ck_assert_double_eq(max_diff(out, v, n), 0.0);

    pd_lsr1_free(&b);
    pd_lsr1_free(&b); /* idempotent */
    ck_assert_int_eq(pd_lsr1_init(&b, 0, 5), -EINVAL);
    ck_assert_int_eq(pd_lsr1_init(&b, n, PD_LSR1_MEM_MAX + 1), -EINVAL);
    free(v);
    free(out);
    free(s);
    free(y);
}
END_TEST

/* ‖s‖ ≤ Δ(1+1e-12), pred > 0, pred = −(gᵀs + ½sᵀBs), and at least the decrease of the
 * Cauchy point (the first Steihaug iterate; CG only lowers the model from there), which a
 * solver that ran plain CG and scaled the result back into the ball would not guarantee */
static void check_tr(const pd_lsr1_t *b, const double *g, double radius, double *s,
                     double *pred)
{
    double *bs = vec_new(b->n), *bg = vec_new(b->n);
    size_t n = b->n;
    ck_assert_int_eq(pd_lsr1_apply(b, g, bg), 0);
    double gg = dot(g, g, n), gbg = dot(g, bg, n), gn = sqrt(gg);
    double tau = gbg <= 0.0 ? 1.0 : fmin(gg * gn / (radius * gbg), 1.0);
    double t = tau * radius / gn; /* s_c = −t g */
    double pred_c = t * gg - 0.5 * t * t * gbg;
    free(bg);
    ck_assert_int_eq(pd_lsr1_tr_solve(b, g, radius, s, pred), 0);
    double sn = nrm2(s, b->n);
    ck_assert_msg(sn <= radius * (1.0 + 1e-12), "|s| = %.17g > radius %.17g", sn, radius);
    ck_assert_msg(*pred > 0.0, "pred = %g", *pred);
    ck_assert_int_eq(pd_lsr1_apply(b, s, bs), 0);
    double model = dot(g, s, b->n) + 0.5 * dot(s, bs, b->n);
    ck_assert_double_le(fabs(*pred + model), 1e-12 * fmax(fabs(model), 1e-300));
    ck_assert_msg(*pred >= pred_c * (1.0 - 1e-12), "pred %.17g < Cauchy %.17g", *pred, pred_c);
    free(bs);
}

START_TEST(test_tr_solve)
{
    /* (a) an indefinite-in-general memory from the non-quadratic walk */
    const size_t n = 10;
    double *a = random_sym(31, n), *g = vec_new(n), *s = vec_new(n), pred;
    pd_lsr1_t b;
    ck_assert_int_eq(pd_lsr1_init(&b, n, 5), 0);
    feed_nonquad(&b, a, 9, 12, false);
    static const double radii[] = {1e-4, 1e-2, 1.0, 1e2, 1e4};
    for (uint64_t seed = 0; seed < 4; seed++) {
        random_vec(600 + seed, g, n, 1.0);
        for (size_t k = 0; k < sizeof(radii) / sizeof(radii[0]); k++) {
            check_tr(&b, g, radii[k], s, &pred);
        }
        /* small radius: the step is on the boundary */
        check_tr(&b, g, 1e-3, s, &pred);
        ck_assert_double_le(fabs(nrm2(s, n) - 1e-3), 1e-12 * 1e-3);
        /* tiny radius: already the first CG step leaves the ball, s = −Δ g/‖g‖ */
        check_tr(&b, g, 1e-6, s, &pred);
        double gn = nrm2(g, n);
        for (size_t i = 0; i < n; i++) {
            ck_assert_double_le(fabs(s[i] + 1e-6 * g[i] / gn), 1e-12 * 1e-6);
        }
    }
    /* g = 0 → s = 0, pred = 0 */
    memset(g, 0, n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        s[i] = 7.0;
    }
    ck_assert_int_eq(pd_lsr1_tr_solve(&b, g, 1.0, s, &pred), 0);
    ck_assert_double_eq(max_abs(s, n), 0.0);
    ck_assert_double_eq(pred, 0.0);
    ck_assert_int_eq(pd_lsr1_tr_solve(&b, g, 0.0, s, &pred), -EINVAL);
    ck_assert_int_eq(pd_lsr1_tr_solve(&b, g, 1.0, g, &pred), -EINVAL);
    pd_lsr1_free(&b);
    free(a);
    free(g);
    free(s);
}
END_TEST

START_TEST(test_tr_newton_step_spd)
{
    /* SPD A and mem = n: n independent pairs of a quadratic determine B = A exactly */
    const size_t n = 5;
    double *gm = vec_new(n * n), *a = vec_new(n * n), *s = vec_new(n), *y = vec_new(n);
    double *v = vec_new(n), *av = vec_new(n), *bv = vec_new(n), *g = vec_new(n), pred;
    random_vec(41, gm, n * n, 1.0);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            double t = (i == j) ? 1.0 : 0.0;
            for (size_t k = 0; k < n; k++) {
                t += gm[k * n + i] * gm[k * n + j];
            }
            a[i * n + j] = t; /* GᵀG + I */
        }
    }
    pd_lsr1_t b;
    ck_assert_int_eq(pd_lsr1_init(&b, n, n), 0);
    for (size_t k = 0; k < n; k++) {
        random_vec(700 + k, s, n, 1.0);
        matvec(a, s, y, n);
        ck_assert_int_eq(pd_lsr1_update(&b, s, y), 0);
    }
    ck_assert_uint_eq(b.count, n);
    random_vec(42, v, n, 1.0);
    matvec(a, v, av, n);
    ck_assert_int_eq(pd_lsr1_apply(&b, v, bv), 0);
    ck_assert_double_le(rel_err2(bv, av, n), 1e-8);

    for (uint64_t seed = 0; seed < 3; seed++) {
        random_vec(800 + seed, g, n, 1.0);
        check_tr(&b, g, 1e6, s, &pred);
        /* the unconstrained minimiser: B s = −g */
        ck_assert_int_eq(pd_lsr1_apply(&b, s, bv), 0);
        for (size_t i = 0; i < n; i++) {
            bv[i] += g[i];
        }
        ck_assert_double_le(nrm2(bv, n), 1e-8 * nrm2(g, n));
        ck_assert_double_lt(nrm2(s, n), 1e6);
        /* small radius: on the boundary */
        check_tr(&b, g, 1e-3, s, &pred);
        ck_assert_double_le(fabs(nrm2(s, n) - 1e-3), 1e-12 * 1e-3);
    }
    pd_lsr1_free(&b);
    free(gm);
    free(a);
    free(s);
    free(y);
    free(v);
    free(av);
    free(bv);
    free(g);
}
END_TEST

START_TEST(test_tr_negative_curvature)
{
    /* s = e0, y = −e0 + e1: γ = yᵀy/sᵀy = −2, B = −2I + (e0+e1)(e0+e1)ᵀ is indefinite, so
     * every solve must end on the boundary even for a radius where a PD B would not */
    const size_t n = 4;
    double *s = vec_new(n), *y = vec_new(n), *bs = vec_new(n), *g = vec_new(n), pred;
    s[0] = 1.0;
    y[0] = -1.0;
    y[1] = 1.0;
    pd_lsr1_t b;
    ck_assert_int_eq(pd_lsr1_init(&b, n, 5), 0);
    ck_assert_int_eq(pd_lsr1_update(&b, s, y), 0);
    ck_assert_double_eq_tol(b.gamma, -2.0, 1e-15);
    ck_assert_int_eq(pd_lsr1_apply(&b, s, bs), 0);
    ck_assert_double_le(max_diff(bs, y, n), 1e-15);
    for (uint64_t seed = 0; seed < 3; seed++) {
        random_vec(900 + seed, g, n, 1.0);
        check_tr(&b, g, 10.0, s, &pred);
        ck_assert_double_le(fabs(nrm2(s, n) - 10.0), 1e-12 * 10.0);
    }
    pd_lsr1_free(&b);
    free(s);
    free(y);
    free(bs);
    free(g);
}
END_TEST

START_TEST(test_block_is_principal_submatrix)
{
    const size_t n = 12;
    double *a = random_sym(51, n), *v = vec_new(n), *bv = vec_new(n);
    double *vd = vec_new(n), *bdv = vec_new(n), *g = vec_new(n), *sd = vec_new(n), pred;
    pd_lsr1_t b, bd;
    ck_assert_int_eq(pd_lsr1_init(&b, n, 5), 0);
    feed_nonquad(&b, a, 13, 9, false);
    ck_assert_uint_eq(b.count, 5);
    static const size_t ranges[][2] = {{0, 12}, {3, 5}, {11, 1}, {0, 4}, {8, 4}};
    for (size_t k = 0; k < sizeof(ranges) / sizeof(ranges[0]); k++) {
        size_t off = ranges[k][0], len = ranges[k][1];
        ck_assert_int_eq(pd_lsr1_block(&b, off, len, &bd), 0);
        ck_assert_uint_eq(bd.n, len);
        ck_assert_uint_eq(bd.count, b.count);
        ck_assert_double_eq(bd.gamma, b.gamma);
        random_vec(1000 + k, vd, len, 1.0);
        memset(v, 0, n * sizeof(double));
        memcpy(v + off, vd, len * sizeof(double));
        ck_assert_int_eq(pd_lsr1_apply(&b, v, bv), 0);
        ck_assert_int_eq(pd_lsr1_apply(&bd, vd, bdv), 0);
        double e = max_diff(bdv, bv + off, len) / fmax(max_abs(bv + off, len), 1e-300);
        ck_assert_msg(e <= 1e-12, "block [%zu,+%zu): rel err %g", off, len, e);
        /* a block solve is a TR solve like any other */
        random_vec(1100 + k, g, len, 1.0);
        check_tr(&bd, g, 0.5, sd, &pred);
        /* frozen: updating it would silently switch to the other semantics */
        ck_assert_int_eq(pd_lsr1_update(&bd, vd, bdv), -EINVAL);
        pd_lsr1_free(&bd);
    }
    ck_assert_int_eq(pd_lsr1_block(&b, 0, 0, &bd), -EINVAL);
    ck_assert_int_eq(pd_lsr1_block(&b, 8, 5, &bd), -EINVAL);
    ck_assert_int_eq(pd_lsr1_block(&b, 13, 1, &bd), -EINVAL);
    pd_lsr1_free(&b);
    free(a);
    free(v);
    free(bv);
    free(vd);
    free(bdv);
    free(g);
    free(sd);
}
END_TEST

static Suite *lsr1_suite(void)
{
    Suite *s = suite_create("lsr1");
    TCase *tc = tcase_create("compact");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_newest_secant_nonquadratic);
    tcase_add_test(tc, test_hereditary_on_quadratic);
    tcase_add_test(tc, test_fifo);
    tcase_add_test(tc, test_skip_rules);
    tcase_add_test(tc, test_empty_is_identity);
    tcase_add_test(tc, test_tr_solve);
    tcase_add_test(tc, test_tr_newton_step_spd);
    tcase_add_test(tc, test_tr_negative_curvature);
    tcase_add_test(tc, test_block_is_principal_submatrix);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lsr1_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
