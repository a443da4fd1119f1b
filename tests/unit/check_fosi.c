/* check_fosi.c - the FOSI step of server/methods/fosi_core.c with eigenpairs from
 * common/lanczos.c (ALGORITHMS.md §5.9 oracles 4, 5, 6, 7 and 9). */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "error.h"
#include "fosi_core.h"
#include "lanczos.h"
#include "rng.h"
#include "server/optim.h"

#define D 12

/* f(x) = ½xᵀAx − bᵀx with A = M diag(h) Mᵀ SPD, distinct eigenvalues (M: one reflection). */
typedef struct quad {
    double a[D * D];
    double b[D];
} quad_t;

static void quad_init(quad_t *q, uint64_t seed)
{
    double u[D], h[D], norm = 0.0;
    pd_rng_t r;

    pd_rng_seed(&r, seed);
    for (int i = 0; i < D; i++) {
        u[i] = pd_rng_normal(&r);
        norm += u[i] * u[i];
        h[i] = 0.5 + 1.5 * (double)i; /* 0.5 .. 17 */
        q->b[i] = pd_rng_normal(&r);
    }
    for (int i = 0; i < D; i++) {
        u[i] /= sqrt(norm);
    }
    /* (I − 2uuᵀ) diag(h) (I − 2uuᵀ) */
    for (int i = 0; i < D; i++) {
        for (int j = 0; j < D; j++) {
            double s = 0.0;
            for (int k = 0; k < D; k++) {
                double mik = (i == k) - 2.0 * u[i] * u[k];
                double mjk = (j == k) - 2.0 * u[j] * u[k];
                s += mik * h[k] * mjk;
            }
            q->a[i * D + j] = s;
        }
    }
}

static void matvec(const double *a, const double *x, double *out)
{
    for (int i = 0; i < D; i++) {
        out[i] = 0.0;
        for (int j = 0; j < D; j++) {
            out[i] += a[i * D + j] * x[j];
        }
    }
}

static void quad_grad(const quad_t *q, const double *x, double *g)
{
    matvec(q->a, x, g);
    for (int i = 0; i < D; i++) {
        g[i] -= q->b[i];
    }
}

/* The top k (and bottom l) eigenpairs of A by the Lanczos run paramd uses. */
static size_t ese(const quad_t *q, size_t k, size_t l, double *lambda, double *v)
{
    pd_lanczos_t lz;
    pd_lanczos_opts_t o = {.k = k, .l = l, .slices = 1};
    const double *vec;
    double w[D];
    size_t count;

    ck_assert_int_eq(pd_lanczos_init(&lz, D, &o), 0);
    while ((vec = pd_lanczos_vector(&lz)) != NULL) {
        matvec(q->a, vec, w);
        ck_assert_int_eq(pd_lanczos_feed(&lz, w), 0);
    }
    ck_assert_int_eq(pd_lanczos_ritz(&lz, lambda, v, NULL, &count), 0);
    pd_lanczos_free(&lz);
    return count;
}

static void optim_setup(pd_optim_t *o, int kind, double lr)
{
    memset(o, 0, sizeof(*o));
    ck_assert_int_eq(pd_optim_init(o, D), 0);
    o->kind = kind;
    o->lr = lr;
    o->momentum = 0.9;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->epsilon = 1e-8;
    o->reg.kind = PD_REG_L2; /* FOSI's base runs without it: weight decay is in the loss */
    o->reg.l2 = 0.5;
}

/* Oracle 4: before the first ESE (V = 0, c_s = 1) FOSI is the base optimiser, bit for bit,
 * over many steps, for sgd, heavy ball and adam. */
START_TEST(before_ese_equals_base)
{
    int kinds[] = {PD_OPT_SGD, PD_OPT_MOMENTUM, PD_OPT_ADAM};
    quad_t q;

    quad_init(&q, 1);
    for (size_t t = 0; t < 3; t++) {
        pd_optim_t of, ob;
        pd_fosi_t f;
        pd_fosi_opts_t fo = {.alpha = 0.1, .clip = 3.0};
        double xf[D], xb[D], g[D];

        optim_setup(&of, kinds[t], 0.01);
        optim_setup(&ob, kinds[t], 0.01);
        ob.reg.kind = PD_REG_NONE;
        for (int i = 0; i < D; i++) {
            xf[i] = xb[i] = (double)i - 3.0;
        }
        ck_assert_int_eq(pd_fosi_init(&f, D, &fo), 0);
        for (int step = 0; step < 50; step++) {
            quad_grad(&q, xf, g);
            ck_assert_int_eq(pd_fosi_step(&f, &of, xf, g, pd_optim_lr(&of), 1.0), 0);
            quad_grad(&q, xb, g);
            pd_optim_apply(&ob, xb, 0, D, g, pd_optim_lr(&ob));
        }
        ck_assert_int_eq(memcmp(xf, xb, sizeof(xf)), 0);
        ck_assert_double_eq(f.c_s, 1.0);
        ck_assert_int_eq(of.reg.kind, PD_REG_L2); /* restored after each step */
        pd_fosi_free(&f);
        pd_optim_release(&of);
        pd_optim_release(&ob);
    }
}
END_TEST

/* Oracle 5: with k = d, α = 1, base sgd, one step after the ESE lands on A⁻¹b: g2 = 0 and
 * d_N = A⁻¹g. Lanczos stops early at d products (the whole space). */
START_TEST(full_subspace_newton_step)
{
    quad_t q;
    double lambda[D], v[D * D], x[D], g[D], ax[D];
    pd_optim_t o;
    pd_fosi_t f;
    pd_fosi_opts_t fo = {.alpha = 1.0, .clip = 3.0};

    quad_init(&q, 2);
    ck_assert_uint_eq(ese(&q, D, 0, lambda, v), D);
    optim_setup(&o, PD_OPT_SGD, 0.05);
    ck_assert_int_eq(pd_fosi_init(&f, D, &fo), 0);
    ck_assert_int_eq(pd_fosi_set_eigen(&f, lambda, v, D, 0, PD_OPT_SGD), 0);
    for (int i = 0; i < D; i++) {
        x[i] = 2.0 - 0.3 * (double)i;
    }
    quad_grad(&q, x, g);
    ck_assert_int_eq(pd_fosi_step(&f, &o, x, g, pd_optim_lr(&o), 1.0), 0);
    matvec(q.a, x, ax); /* A x = b at the solution */
    for (int i = 0; i < D; i++) {
        ck_assert_double_eq_tol(ax[i], q.b[i], 1e-8);
    }
    ck_assert_double_eq_tol(f.g1_ratio, 1.0, 1e-12);
    pd_fosi_free(&f);
    pd_optim_release(&o);
}
END_TEST

/* Oracles 6 and 7: the base step is orthogonal to the subspace, c_s ∈ [1, c] (1 with adam),
 * and with momentum off the step is a descent direction (sgd base). */
START_TEST(orthogonal_base_step_and_descent)
{
    int kinds[] = {PD_OPT_SGD, PD_OPT_MOMENTUM, PD_OPT_ADAM};
    quad_t q;
    double lambda[4], v[4 * D];

    quad_init(&q, 3);
    size_t count = ese(&q, 3, 1, lambda, v);
    ck_assert_uint_eq(count, 4);
    for (size_t t = 0; t < 3; t++) {
        pd_optim_t o;
        pd_fosi_t f;
        pd_fosi_opts_t fo = {.alpha = 0.1, .clip = 3.0};
        double x[D], x0[D], g[D];

        optim_setup(&o, kinds[t], 0.02);
        ck_assert_int_eq(pd_fosi_init(&f, D, &fo), 0);
        ck_assert_int_eq(pd_fosi_set_eigen(&f, lambda, v, count, 1, kinds[t]), 0);
        ck_assert(f.c_s >= 1.0 && f.c_s <= 3.0);
        if (kinds[t] == PD_OPT_ADAM) {
            ck_assert_double_eq(f.c_s, 1.0);
        } else {
            /* λ_max / λ_(3rd largest) = 17 / 14, inside the clip */
            ck_assert_double_eq_tol(f.c_s, 17.0 / 14.0, 1e-8);
        }
        for (int i = 0; i < D; i++) {
            x[i] = 1.0 + 0.25 * (double)i;
        }
        for (int step = 0; step < 5; step++) {
            memcpy(x0, x, sizeof(x));
            quad_grad(&q, x, g);
            ck_assert_int_eq(pd_fosi_step(&f, &o, x, g, pd_optim_lr(&o), 1.0), 0);
            /* Δ_b = Δ − projection: x − x0 = c_sΔ_b − αd_N with d_N in the span, so the
             * component of the step off the span is c_sΔ_b, and V Δ_b = 0 means the span
             * component is exactly −α d_N */
            double dn_coef[4], step_coef[4];
            for (size_t j = 0; j < count; j++) {
                double s = 0.0, u = 0.0;
                for (int i = 0; i < D; i++) {
                    s += v[j * D + i] * (x[i] - x0[i]);
                    u += v[j * D + i] * f.u[i];
                }
                step_coef[j] = s;
                dn_coef[j] = -fo.alpha * f.r[j] * u;
                ck_assert_double_eq_tol(step_coef[j], dn_coef[j], 1e-6);
            }
            if (kinds[t] == PD_OPT_SGD) {
                double dot = 0.0;
                for (int i = 0; i < D; i++) {
                    dot += g[i] * (x[i] - x0[i]);
                }
                ck_assert_msg(dot <= 0.0, "step %d: g'(step) = %g", step, dot);
            }
        }
        pd_fosi_free(&f);
        pd_optim_release(&o);
    }
}
END_TEST

/* Oracle 9: DHO2's sliced update equals the replicated one to 1e-12 over many steps, for
 * every base, with P = 1 (one padded slice), 3 (n_s = 5: the last slice is short)
 * and 5 (n_s = 3: the last slice is all padding); each slice holds 8·count·n_s bytes. */
START_TEST(sliced_update_equals_replicated)
{
    int kinds[] = {PD_OPT_SGD, PD_OPT_MOMENTUM, PD_OPT_ADAM};
    size_t slices[] = {1, 3, 5}, n_s[] = {13, 5, 3};
    quad_t q;
    double lambda[4], v[4 * D];

    quad_init(&q, 5);
    size_t count = ese(&q, 3, 1, lambda, v);
    for (size_t t = 0; t < 3; t++) {
        for (size_t c = 0; c < 3; c++) {
            pd_optim_t or_, os;
            pd_fosi_t fr, fs;
            pd_fosi_opts_t fo = {.alpha = 0.3, .clip = 3.0};
            double xr[D], xs[D], g[D];

            optim_setup(&or_, kinds[t], 0.02);
            optim_setup(&os, kinds[t], 0.02);
            ck_assert_int_eq(pd_fosi_init(&fr, D, &fo), 0);
            fo.slices = slices[c];
            ck_assert_int_eq(pd_fosi_init(&fs, D, &fo), 0);
            ck_assert_int_eq(pd_fosi_set_eigen(&fr, lambda, v, count, 1, kinds[t]), 0);
            ck_assert_int_eq(pd_fosi_set_eigen(&fs, lambda, v, count, 1, kinds[t]), 0);
            ck_assert_uint_eq(fs.n_s, n_s[c]);
            ck_assert_uint_eq(pd_fosi_slice_bytes(&fs), 8 * count * n_s[c]);
            ck_assert_uint_eq(pd_fosi_slice_bytes(&fr), 8 * count * D);
            for (int i = 0; i < D; i++) {
                xr[i] = xs[i] = 0.5 - 0.2 * (double)i;
            }
            for (int step = 0; step < 40; step++) {
                quad_grad(&q, xr, g);
                ck_assert_int_eq(pd_fosi_step(&fr, &or_, xr, g, pd_optim_lr(&or_), 1.0), 0);
                quad_grad(&q, xs, g);
                ck_assert_int_eq(pd_fosi_step(&fs, &os, xs, g, pd_optim_lr(&os), 1.0), 0);
            }
            for (int i = 0; i < D; i++) {
                ck_assert_double_eq_tol(xs[i], xr[i], 1e-12 * fmax(1.0, fabs(xr[i])));
            }
            ck_assert_double_eq_tol(fs.g1_ratio, fr.g1_ratio, 1e-12);
            pd_fosi_free(&fr);
            pd_fosi_free(&fs);
            pd_optim_release(&or_);
            pd_optim_release(&os);
        }
    }
}
END_TEST

/* A step that would overflow changes nothing: x, the velocity and the base state. */
START_TEST(nonfinite_step_refused)
{
    quad_t q;
    double lambda[2], v[2 * D], x[D], g[D], x_before[D], u_before[D];
    pd_optim_t o;
    pd_fosi_t f;
    pd_fosi_opts_t fo = {.alpha = 0.5, .clip = 3.0};

    quad_init(&q, 4);
    ck_assert_uint_eq(ese(&q, 2, 0, lambda, v), 2);
    optim_setup(&o, PD_OPT_MOMENTUM, 0.01);
    ck_assert_int_eq(pd_fosi_init(&f, D, &fo), 0);
    ck_assert_int_eq(pd_fosi_set_eigen(&f, lambda, v, 2, 0, PD_OPT_MOMENTUM), 0);
    for (int i = 0; i < D; i++) {
        x[i] = 0.5;
    }
    quad_grad(&q, x, g);
    ck_assert_int_eq(pd_fosi_step(&f, &o, x, g, 0.01, 1.0), 0);
    memcpy(x_before, x, sizeof(x));
    memcpy(u_before, f.u, sizeof(u_before));
    uint64_t t = o.t;
    for (int i = 0; i < D; i++) {
        g[i] = 1e308;
    }
    ck_assert_int_eq(pd_fosi_step(&f, &o, x, g, 1e10, 1.0), PD_ENONFINITE);
    ck_assert_int_eq(memcmp(x, x_before, sizeof(x)), 0);
    ck_assert_int_eq(memcmp(f.u, u_before, sizeof(u_before)), 0);
    ck_assert_uint_eq(o.t, t);
    pd_fosi_free(&f);
    pd_optim_release(&o);
}
END_TEST

START_TEST(bad_options)
{
    pd_fosi_t f;
    pd_fosi_opts_t bad[] = {{.alpha = 0.0, .clip = 3.0}, {.alpha = 1.5, .clip = 3.0},
                            {.alpha = 0.1, .clip = 0.5}, {.alpha = 0.1, .clip = 3.0, .damping = NAN}};
    pd_fosi_opts_t ok = {.alpha = 0.1, .clip = 3.0};
    double lambda[2] = {1.0, NAN}, v[2 * D] = {0};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(pd_fosi_init(&f, D, &bad[i]), -EINVAL);
    }
    ck_assert_int_eq(pd_fosi_init(&f, 0, &ok), -EINVAL);
    ck_assert_int_eq(pd_fosi_init(&f, D, &ok), 0);
    ck_assert_int_eq(pd_fosi_set_eigen(&f, lambda, v, 2, 0, PD_OPT_SGD), -EINVAL); /* NaN */
    ck_assert_int_eq(pd_fosi_set_eigen(&f, lambda, v, 0, 0, PD_OPT_SGD), -EINVAL);
    ck_assert_int_eq(pd_fosi_set_eigen(&f, lambda, v, 1, 1, PD_OPT_SGD), -EINVAL); /* l ≥ count */
    ck_assert_uint_eq(f.count, 0);
    pd_fosi_free(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fosi");
    TCase *tc = tcase_create("step");
    tcase_add_test(tc, before_ese_equals_base);
    tcase_add_test(tc, full_subspace_newton_step);
    tcase_add_test(tc, orthogonal_base_step_and_descent);
    tcase_add_test(tc, sliced_update_equals_replicated);
    tcase_add_test(tc, nonfinite_step_refused);
    tcase_add_test(tc, bad_options);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
