/* check_prox.c - the proximal operators against ALGORITHMS.md §2.9: closed forms, the
 * optimality condition, Moreau decomposition, bounds, masks and in-place use. Seeds are
 * fixed; tolerances are stated per test. */
#include <config.h>
#include "prox.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "rng.h"

#define N_RAND 1000

static void random_vec(uint64_t seed, double *v, size_t d, double scale)
{
    pd_rng_t r;
    pd_rng_seed(&r, seed);
    for (size_t i = 0; i < d; i++) {
        v[i] = scale * pd_rng_normal(&r);
    }
}

/* §2.9 #1 */
START_TEST(test_l1_oracle)
{
    pd_reg_t r = {.kind = PD_REG_L1, .l1 = 1.0};
    double v[3] = {3.0, -0.5, 1.0}, out[3];
    pd_prox_apply(&r, out, v, 1.0, NULL, 3);
    ck_assert_double_eq(out[0], 2.0);
    ck_assert_double_eq(out[1], 0.0);
    ck_assert_double_eq(out[2], 0.0);
}
END_TEST

/* §2.9 #2: (v - u)/alpha in the subdifferential of lambda |u|, to 1e-14. */
START_TEST(test_l1_optimality)
{
    double v[N_RAND], u[N_RAND];
    for (int trial = 0; trial < 5; trial++) {
        double alpha = 0.1 + 0.4 * trial, lambda = 0.3 + 0.2 * trial;
        pd_reg_t r = {.kind = PD_REG_L1, .l1 = lambda};
        random_vec(100 + (uint64_t)trial, v, N_RAND, 1.0);
        pd_prox_apply(&r, u, v, alpha, NULL, N_RAND);
        for (size_t i = 0; i < N_RAND; i++) {
            if (u[i] == 0.0) {
                ck_assert(fabs(v[i]) <= alpha * lambda + 1e-14);
            } else {
                double sign = u[i] > 0.0 ? 1.0 : -1.0;
                ck_assert(fabs((v[i] - u[i]) - alpha * lambda * sign) <= 1e-14);
                ck_assert(sign * v[i] > 0.0); /* shrinkage never flips the sign */
            }
        }
    }
}
END_TEST

/* §2.9 #3: prox_{alpha Psi}(v) + alpha prox_{Psi^* / alpha}(v / alpha) = v; for L1 the conjugate
 * is the indicator of ||.||_inf <= lambda, whose prox is clipping to [-lambda, lambda]. */
START_TEST(test_l1_moreau)
{
    double v[N_RAND], u[N_RAND], w[N_RAND];
    double alpha = 0.7, lambda = 0.4;
    pd_reg_t r = {.kind = PD_REG_L1, .l1 = lambda};
    pd_reg_t clip = {.kind = PD_REG_BOX, .lower = -lambda, .upper = lambda};
    random_vec(7, v, N_RAND, 1.0);
    pd_prox_apply(&r, u, v, alpha, NULL, N_RAND);
    for (size_t i = 0; i < N_RAND; i++) {
        w[i] = v[i] / alpha;
    }
    pd_prox_apply(&clip, w, w, 1.0, NULL, N_RAND);
    for (size_t i = 0; i < N_RAND; i++) {
        ck_assert(fabs(u[i] + alpha * w[i] - v[i]) <= 1e-14 * fmax(1.0, fabs(v[i])));
    }
}
END_TEST

START_TEST(test_l2_and_elastic_closed_form)
{
    double v[N_RAND], u[N_RAND];
    double alpha = 0.5, l1 = 0.3, l2 = 2.0;
    random_vec(11, v, N_RAND, 1.0);

    pd_reg_t r2 = {.kind = PD_REG_L2, .l2 = l2};
    pd_prox_apply(&r2, u, v, alpha, NULL, N_RAND);
    for (size_t i = 0; i < N_RAND; i++) {
        ck_assert(fabs(u[i] - v[i] / (1.0 + alpha * l2)) <= 1e-15);
        /* optimality: (v - u)/alpha = l2 u */
        ck_assert(fabs((v[i] - u[i]) / alpha - l2 * u[i]) <= 1e-14);
    }

    pd_reg_t en = {.kind = PD_REG_ELASTIC_NET, .l1 = l1, .l2 = l2};
    pd_prox_apply(&en, u, v, alpha, NULL, N_RAND);
    for (size_t i = 0; i < N_RAND; i++) {
        double a = fabs(v[i]) - alpha * l1;
        double expect = a > 0.0 ? copysign(a, v[i]) / (1.0 + alpha * l2) : 0.0;
        ck_assert(fabs(u[i] - expect) <= 1e-15);
    }

    /* elastic net with l2 = 0 is L1, with l1 = 0 is L2 */
    double u1[N_RAND];
    pd_reg_t en1 = {.kind = PD_REG_ELASTIC_NET, .l1 = l1};
    pd_reg_t r1 = {.kind = PD_REG_L1, .l1 = l1};
    pd_prox_apply(&en1, u, v, alpha, NULL, N_RAND);
    pd_prox_apply(&r1, u1, v, alpha, NULL, N_RAND);
    for (size_t i = 0; i < N_RAND; i++) {
        ck_assert_double_eq(u[i], u1[i]);
    }
}
END_TEST

/* §2.9 #4 */
START_TEST(test_box_nonneg)
{
    double v[N_RAND], u[N_RAND], u2[N_RAND];
    pd_reg_t box = {.kind = PD_REG_BOX, .lower = -0.25, .upper = 0.5};
    random_vec(13, v, N_RAND, 1.0);
    pd_prox_apply(&box, u, v, 3.0, NULL, N_RAND);
    pd_prox_apply(&box, u2, u, 3.0, NULL, N_RAND);
    for (size_t i = 0; i < N_RAND; i++) {
        ck_assert(u[i] >= -0.25 && u[i] <= 0.5);
        ck_assert_double_eq(u2[i], u[i]);
        if (v[i] >= -0.25 && v[i] <= 0.5) {
            ck_assert_double_eq(u[i], v[i]);
        }
    }
    ck_assert_double_eq(pd_prox_value(&box, u, NULL, N_RAND), 0.0);
    ck_assert(isinf(pd_prox_value(&box, v, NULL, N_RAND)));

    pd_reg_t nn = {.kind = PD_REG_NONNEG};
    pd_prox_apply(&nn, u, v, 1.0, NULL, N_RAND);
    for (size_t i = 0; i < N_RAND; i++) {
        ck_assert(u[i] >= 0.0);
        ck_assert_double_eq(u[i], v[i] > 0.0 ? v[i] : 0.0);
    }
    ck_assert_double_eq(pd_prox_value(&nn, u, NULL, N_RAND), 0.0);
    ck_assert(isinf(pd_prox_value(&nn, v, NULL, N_RAND)));
}
END_TEST

START_TEST(test_mask_and_in_place)
{
    enum { D = 12 };
    double v[D], mask[D], u[D], w[D];
    const pd_reg_t regs[] = {
        {.kind = PD_REG_NONE},
        {.kind = PD_REG_L1, .l1 = 10.0},
        {.kind = PD_REG_L2, .l2 = 3.0},
        {.kind = PD_REG_ELASTIC_NET, .l1 = 10.0, .l2 = 3.0},
        {.kind = PD_REG_BOX, .lower = 0.0, .upper = 0.01},
        {.kind = PD_REG_NONNEG},
    };
    random_vec(17, v, D, 2.0);
    for (size_t i = 0; i < D; i++) {
        mask[i] = (i % 4 == 3) ? 0.0 : 1.0; /* every 4th coordinate is a bias */
    }
    for (size_t k = 0; k < sizeof(regs) / sizeof(regs[0]); k++) {
        pd_prox_apply(&regs[k], u, v, 0.5, mask, D);
        for (size_t i = 0; i < D; i++) {
            w[i] = v[i];
        }
        pd_prox_apply(&regs[k], w, w, 0.5, mask, D); /* out == v */
        double unmasked[D];
        pd_prox_apply(&regs[k], unmasked, v, 0.5, NULL, D);
        for (size_t i = 0; i < D; i++) {
            ck_assert_double_eq(w[i], u[i]);
            if (mask[i] == 0.0) {
                ck_assert_double_eq(u[i], v[i]);
            } else {
                ck_assert_double_eq(u[i], unmasked[i]);
            }
        }
    }
}
END_TEST

START_TEST(test_value)
{
    double x[4] = {1.0, -2.0, 0.5, 3.0};
    double mask[4] = {1.0, 1.0, 1.0, 0.0};
    pd_reg_t none = {.kind = PD_REG_NONE};
    pd_reg_t l1 = {.kind = PD_REG_L1, .l1 = 0.5};
    pd_reg_t l2 = {.kind = PD_REG_L2, .l2 = 0.5};
    pd_reg_t en = {.kind = PD_REG_ELASTIC_NET, .l1 = 0.5, .l2 = 0.5};
    pd_reg_t box = {.kind = PD_REG_BOX, .lower = -2.0, .upper = 1.0};
    pd_reg_t nn = {.kind = PD_REG_NONNEG};

    ck_assert_double_eq(pd_prox_value(&none, x, NULL, 4), 0.0);
    ck_assert_double_eq_tol(pd_prox_value(&l1, x, NULL, 4), 0.5 * 6.5, 1e-15);
    ck_assert_double_eq_tol(pd_prox_value(&l1, x, mask, 4), 0.5 * 3.5, 1e-15);
    ck_assert_double_eq_tol(pd_prox_value(&l2, x, NULL, 4), 0.25 * 14.25, 1e-15);
    ck_assert_double_eq_tol(pd_prox_value(&l2, x, mask, 4), 0.25 * 5.25, 1e-15);
    ck_assert_double_eq_tol(pd_prox_value(&en, x, mask, 4), 0.5 * 3.5 + 0.25 * 5.25, 1e-15);
    /* x[3] = 3 is out of the box but masked */
    ck_assert_double_eq(pd_prox_value(&box, x, mask, 4), 0.0);
    ck_assert(isinf(pd_prox_value(&box, x, NULL, 4)) && pd_prox_value(&box, x, NULL, 4) > 0);
    ck_assert(isinf(pd_prox_value(&nn, x, mask, 4)));
    double nan_x[1] = {NAN};
    ck_assert(isinf(pd_prox_value(&box, nan_x, NULL, 1)));
}
END_TEST

/* NaN goes through every operator: a step that diverged must not be shrunk or clamped into
 * a finite value the guard would then accept. Inf stays non-finite too. */
START_TEST(test_nonfinite_passes_through)
{
    static const int kinds[] = {PD_REG_NONE, PD_REG_L1, PD_REG_L2, PD_REG_ELASTIC_NET,
                                PD_REG_BOX, PD_REG_NONNEG};
    pd_reg_t r;

    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        double v[3] = {NAN, INFINITY, -INFINITY}, out[3];
        memset(&r, 0, sizeof(r));
        r.kind = kinds[k];
        r.l1 = 0.5;
        r.l2 = 0.25;
        r.lower = -1.0;
        r.upper = 1.0;
        pd_prox_apply(&r, out, v, 0.1, NULL, 3);
        ck_assert_msg(isnan(out[0]), "%s maps NaN to %g", pd_reg_kind_name(kinds[k]), out[0]);
        if (kinds[k] != PD_REG_BOX && kinds[k] != PD_REG_NONNEG) {
            ck_assert(!isfinite(out[1]) && !isfinite(out[2]));
        }
    }
}
END_TEST

START_TEST(test_names)
{
    for (int k = 0; k < PD_REG__COUNT; k++) {
        ck_assert_int_eq(pd_reg_kind_parse(pd_reg_kind_name((pd_reg_kind_t)k)), k);
    }
    ck_assert_str_eq(pd_reg_kind_name(PD_REG_ELASTIC_NET), "elastic-net");
    ck_assert_int_eq(pd_reg_kind_parse("lasso"), -EINVAL);
    ck_assert_int_eq(pd_reg_kind_parse(""), -EINVAL);
    ck_assert_str_eq(pd_reg_kind_name(PD_REG__COUNT), "unknown");
}
END_TEST

static Suite *prox_suite(void)
{
    Suite *s = suite_create("prox");
    TCase *tc = tcase_create("prox");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_l1_oracle);
    tcase_add_test(tc, test_l1_optimality);
    tcase_add_test(tc, test_l1_moreau);
    tcase_add_test(tc, test_l2_and_elastic_closed_form);
    tcase_add_test(tc, test_box_nonneg);
    tcase_add_test(tc, test_mask_and_in_place);
    tcase_add_test(tc, test_value);
    tcase_add_test(tc, test_nonfinite_passes_through);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(prox_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
