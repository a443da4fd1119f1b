/* check_apts.c - APTS (ALGORITHMS.md §4) against its test oracles (§4.8): the outer
 * iteration of server/methods/apts_core.c driven in-process by the same local solve the
 * workers run (common/apts_local.c), on smooth non-convex test functions; the block rule;
 * and the LOCAL_TR computation of common/apts_task.c on a small MLP.
 *   1. N = 1, s_loc = 1, no global pass, no safeguard = one standard TR step, computed here
 *      by a reference written from the spec (θ and Δ to 1e-12);
 *   2. ‖θ½ − θ_k‖_∞ ≤ Δ_k in every iteration;
 *   3. a block-separable function without the global pass = N independent local solves;
 *   4. full-batch runs with the global pass are monotone;
 *   6. the radius stays in [Δ_min, Δ_max], ρ > 0.75 doubles it (capped), rejection halves it;
 *   7. with the consistency term on and the same samples, the term is zero.
 * (Oracle 5, the L-SR1 secant equation, is check_lsr1.) */
#include <config.h>

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apts_blocks.h"
#include "apts_local.h"
#include "apts_task.h"
#include "error.h"
#include "methods/apts_core.h"
#include "rng.h"
#include "vec_check.h"

#define N_MAX 64

/* f(θ) = Σ_i ½a_i(θ_i − c_i)² + κ cos(θ_i) + β θ_i θ_{i+1}: smooth and, with κ > a_i, not
 * convex. beta = 0 makes it separable in every coordinate. */
typedef struct test_fn {
    size_t n;
    double a[N_MAX], c[N_MAX];
    double kappa, beta;
} test_fn_t;

static int fn_eval(void *ctx, const double *z, double *f, double *g)
{
    const test_fn_t *t = ctx;
    double s = 0.0;

    for (size_t i = 0; i < t->n; i++) {
        double r = z[i] - t->c[i];
        s += 0.5 * t->a[i] * r * r + t->kappa * cos(z[i]);
        if (i + 1 < t->n) {
            s += t->beta * z[i] * z[i + 1];
        }
        if (g != NULL) {
            g[i] = t->a[i] * r - t->kappa * sin(z[i]);
            g[i] += t->beta * ((i + 1 < t->n ? z[i + 1] : 0.0) + (i > 0 ? z[i - 1] : 0.0));
        }
    }
    *f = s;
    return 0;
}

static void fn_init(test_fn_t *t, size_t n, double kappa, double beta, uint64_t seed)
{
    pd_rng_t r;

    pd_rng_seed(&r, seed);
    t->n = n;
    t->kappa = kappa;
    t->beta = beta;
    for (size_t i = 0; i < n; i++) {
        t->a[i] = 0.5 + 2.0 * pd_rng_uniform(&r);
        t->c[i] = 3.0 * pd_rng_normal(&r);
    }
}

static pd_apts_opts_t opts(bool global_pass, bool safeguard, double radius0)
{
    pd_apts_opts_t o;

    pd_tr_params_default(&o.tr);
    o.radius0 = radius0;
    o.global_pass = global_pass;
    o.safeguard = safeguard;
    return o;
}

/* One outer iteration of a, answering its needs with obj and local solves of s_loc steps
 * (with the consistency term when foc). Writes ‖θ½ − θ_k‖_∞ to *half_step if not NULL. */
static void iterate(pd_apts_t *a, const pd_tr_objective_t *obj, int s_loc, bool foc,
                    double *half_step)
{
    double *g = vec_new(a->n), *theta_k = vec_new(a->n), *s_d = vec_new(a->n), f;
    pd_apts_need_t need = pd_apts_begin(a);

    memcpy(theta_k, a->theta, a->n * sizeof(double));
    while (need != PD_APTS_DONE) {
        if (need == PD_APTS_NEED_GRAD) {
            ck_assert_int_eq(obj->eval(obj->ctx, pd_apts_point(a), &f, g), 0);
            need = pd_apts_on_grad(a, f, g);
        } else if (need == PD_APTS_NEED_LOSS) {
            ck_assert_int_eq(obj->eval(obj->ctx, pd_apts_point(a), &f, NULL), 0);
            need = pd_apts_on_loss(a, f);
        } else {
            ck_assert_int_eq(need, PD_APTS_NEED_LOCAL);
            pd_tr_params_t lp;
            pd_tr_params_default(&lp);
            lp.radius_min = 0.0;
            for (size_t d = 0; d < a->n_blocks; d++) {
                pd_apts_block_view_t v;
                pd_tr_objective_t block;
                pd_apts_local_result_t res;
                ck_assert_int_eq(pd_apts_block_view_init(&v, obj, a->theta, a->offset[d],
                                                         a->len[d], &block), 0);
                ck_assert_int_eq(pd_apts_local_solve(&block, a->theta + a->offset[d],
                                                     foc ? a->g + a->offset[d] : NULL,
                                                     a->radius, s_loc, &lp, s_d, &res, NULL),
                                 0);
                pd_apts_block_report_t rep = {res.pred, res.radius_acc, res.any_accepted};
                ck_assert(pd_apts_on_local(a, d, s_d, &rep));
                pd_apts_block_view_free(&v);
            }
            need = pd_apts_locals_done(a);
            if (half_step != NULL) {
                *half_step = max_diff(a->half, theta_k, a->n);
            }
        }
    }
    free(g);
    free(theta_k);
    free(s_d);
}

/* One standard TR step (§4.2), written from the spec alone: s = −Δg/‖g‖_∞, pred = −gᵀs,
 * accept when ared > 0 and ρ ≥ 0.25 (doubling past 0.75, capped at 4), otherwise halve
 * (floor 1e-3) and retry from the same g, at most 10 retries, then stay. Returns false when
 * a retry met the floor Δ_min: the local solve's floor is 0 (§4.3), so from there on the two
 * are different algorithms and oracle 1 does not apply. */
static bool reference_tr_step(const test_fn_t *t, double *theta, double *radius)
{
    double g[N_MAX], trial[N_MAX], f0, ft, r = *radius;

    fn_eval((void *)t, theta, &f0, g);
    double ginf = max_abs(g, t->n);
    for (int attempt = 0; attempt <= 10; attempt++) {
        double pred = 0.0;
        for (size_t i = 0; i < t->n; i++) {
            double s = -r * g[i] / ginf;
            trial[i] = theta[i] + s;
            pred -= g[i] * s;
        }
        fn_eval((void *)t, trial, &ft, NULL);
        double ared = f0 - ft, rho = ared / pred;
        if (ared > 0.0 && rho >= 0.25) {
            memcpy(theta, trial, t->n * sizeof(double));
            *radius = rho > 0.75 ? fmin(2.0 * r, 4.0) : r;
            return true;
        }
        if (r / 2.0 < 1e-3) {
            return false;
        }
        r /= 2.0;
    }
    *radius = r;
    return true;
}

START_TEST(oracle1_one_block_is_a_tr_step)
{
    /* radius0 = 4 on a curved function makes the first trials fail: the retry path counts */
    const double radii[] = {0.25, 1.0, 4.0};
    for (size_t k = 0; k < sizeof(radii) / sizeof(radii[0]); k++) {
        test_fn_t t;
        fn_init(&t, 12, 1.5, 0.2, 7 + k);
        pd_tr_objective_t obj = {fn_eval, &t, t.n};
        double theta0[N_MAX], ref[N_MAX], ref_radius = radii[k];
        size_t off = 0, len = t.n;
        pd_apts_t a;
        pd_rng_t r;
        pd_rng_seed(&r, 100 + k);
        for (size_t i = 0; i < t.n; i++) {
            theta0[i] = ref[i] = pd_rng_normal(&r);
        }
        pd_apts_opts_t o = opts(false, false, radii[k]);
        ck_assert_int_eq(pd_apts_init(&a, &o, t.n, 1, &off, &len, theta0), 0);
        int it;
        for (it = 0; it < 30; it++) {
            iterate(&a, &obj, 1, true, NULL);
            if (!reference_tr_step(&t, ref, &ref_radius)) {
                break;
            }
            ck_assert_msg(max_diff(a.theta, ref, t.n) <= 1e-12, "iteration %d: θ differs by %g",
                          it, max_diff(a.theta, ref, t.n));
            ck_assert_msg(fabs(a.radius - ref_radius) <= 1e-12, "iteration %d: Δ %g vs %g", it,
                          a.radius, ref_radius);
        }
        ck_assert_msg(it >= 10, "only %d iterations before the radius floor", it);
        pd_apts_free(&a);
    }
}
END_TEST

/* Three blocks of unequal length over 24 coordinates. */
static void three_blocks(size_t *off, size_t *len)
{
    const size_t tensors[] = {5, 3, 9, 2, 5};
    ck_assert_int_eq(pd_apts_blocks(tensors, 5, 3, off, len), 0);
}

START_TEST(oracle2_combined_step_in_the_region)
{
    test_fn_t t;
    size_t off[3], len[3];
    double theta0[N_MAX] = {0};
    pd_apts_t a;

    fn_init(&t, 24, 2.0, 0.3, 11);
    pd_tr_objective_t obj = {fn_eval, &t, t.n};
    three_blocks(off, len);
    for (int variant = 0; variant < 4; variant++) {
        pd_apts_opts_t o = opts(variant & 1, variant & 2, 2.0);
        ck_assert_int_eq(pd_apts_init(&a, &o, t.n, 3, off, len, theta0), 0);
        for (int it = 0; it < 25; it++) {
            double radius = a.radius, step = -1.0;
            iterate(&a, &obj, 5, true, &step);
            ck_assert_msg(step >= 0.0 && step <= radius, "iteration %d: ‖θ½ − θ‖ = %.17g > Δ = %g",
                          it, step, radius);
            ck_assert(a.st.step_inf <= radius);
        }
        pd_apts_free(&a);
    }
}
END_TEST

START_TEST(oracle3_separable_is_independent_solves)
{
    test_fn_t t;
    size_t off[3], len[3];
    double theta0[N_MAX], want[N_MAX], s_d[N_MAX];
    pd_apts_t a;
    pd_rng_t r;

    fn_init(&t, 24, 1.5, 0.0, 13);
    pd_tr_objective_t obj = {fn_eval, &t, t.n};
    three_blocks(off, len);
    pd_rng_seed(&r, 3);
    for (size_t i = 0; i < t.n; i++) {
        theta0[i] = pd_rng_normal(&r);
    }
    pd_apts_opts_t o = opts(false, false, 1.0);
    ck_assert_int_eq(pd_apts_init(&a, &o, t.n, 3, off, len, theta0), 0);
    pd_tr_params_t lp;
    pd_tr_params_default(&lp);
    lp.radius_min = 0.0;
    for (int it = 0; it < 8; it++) {
        /* the independent runs: each block its own function f_d, nothing else in it */
        for (size_t d = 0; d < 3; d++) {
            test_fn_t td = t;
            td.n = len[d];
            memmove(td.a, t.a + off[d], len[d] * sizeof(double));
            memmove(td.c, t.c + off[d], len[d] * sizeof(double));
            pd_tr_objective_t od = {fn_eval, &td, len[d]};
            pd_apts_local_result_t res;
            ck_assert_int_eq(pd_apts_local_solve(&od, a.theta + off[d], NULL, a.radius, 5, &lp,
                                                 s_d, &res, NULL), 0);
            for (size_t i = 0; i < len[d]; i++) {
                want[off[d] + i] = a.theta[off[d] + i] + s_d[i];
            }
        }
        iterate(&a, &obj, 5, false, NULL);
        ck_assert_msg(max_diff(a.half, want, t.n) <= 1e-12, "iteration %d: θ½ differs by %g", it,
                      max_diff(a.half, want, t.n));
    }
    pd_apts_free(&a);
}
END_TEST

START_TEST(oracle4_global_pass_is_monotone)
{
    test_fn_t t;
    size_t off[3], len[3];
    double theta0[N_MAX] = {0}, f_prev, f;

    fn_init(&t, 24, 2.5, 0.4, 17);
    pd_tr_objective_t obj = {fn_eval, &t, t.n};
    three_blocks(off, len);
    for (int safeguard = 0; safeguard < 2; safeguard++) {
        pd_apts_t a;
        pd_apts_opts_t o = opts(true, safeguard, 4.0);
        ck_assert_int_eq(pd_apts_init(&a, &o, t.n, 3, off, len, theta0), 0);
        fn_eval(&t, a.theta, &f_prev, NULL);
        double f0 = f_prev;
        for (int it = 0; it < 40; it++) {
            iterate(&a, &obj, 5, true, NULL);
            fn_eval(&t, a.theta, &f, NULL);
            ck_assert_msg(f <= f_prev, "iteration %d: f rose from %.17g to %.17g", it, f_prev, f);
            ck_assert(a.st.f_next == f);
            f_prev = f;
        }
        ck_assert_msg(f_prev < f0 - 1.0, "40 iterations barely moved: %g -> %g", f0, f_prev);
        pd_apts_free(&a);
    }
}
END_TEST

START_TEST(oracle6_radius_rule)
{
    pd_tr_params_t p;
    double r, rho;

    pd_tr_params_default(&p);
    ck_assert(pd_tr_decide(&p, 0.9, 1.0, 1.0, &r, &rho));
    ck_assert(r == 2.0 && rho == 0.9);
    ck_assert(pd_tr_decide(&p, 0.9, 1.0, 3.0, &r, NULL) && r == 4.0); /* capped */
    ck_assert(pd_tr_decide(&p, 0.5, 1.0, 1.0, &r, NULL) && r == 1.0); /* kept */
    ck_assert(!pd_tr_decide(&p, 0.2, 1.0, 1.0, &r, NULL) && r == 0.5); /* ρ < 0.25 */
    ck_assert(!pd_tr_decide(&p, -1.0, 1.0, 1.0, &r, NULL) && r == 0.5); /* no decrease */
    ck_assert(!pd_tr_decide(&p, -1.0, 1.0, 1.5e-3, &r, NULL) && r == 1e-3); /* floor */

    /* Over whole runs: Δ in [Δ_min, Δ_max]; an accepted first trial with ρ > 0.75 doubles
     * Δ_k (capped), and a fully rejected global step leaves Δ below Δ_k. */
    test_fn_t t;
    size_t off[3], len[3];
    double theta0[N_MAX] = {0};
    int doubled = 0;
    fn_init(&t, 24, 3.0, 0.5, 19);
    pd_tr_objective_t obj = {fn_eval, &t, t.n};
    three_blocks(off, len);
    pd_apts_t a;
    pd_apts_opts_t o = opts(true, true, 4.0);
    ck_assert_int_eq(pd_apts_init(&a, &o, t.n, 3, off, len, theta0), 0);
    for (int it = 0; it < 60; it++) {
        double before = a.radius;
        iterate(&a, &obj, 3, true, NULL);
        ck_assert(a.radius >= 1e-3 && a.radius <= 4.0);
        if (a.st.accepted && a.st.retries == 0 && a.st.rho > 0.75) {
            ck_assert_msg(a.radius == fmin(2.0 * before, 4.0), "ρ = %g: Δ %g -> %g", a.st.rho,
                          before, a.radius);
            doubled++;
        }
        if (!a.st.accepted && a.st.retries == 10) {
            ck_assert(a.radius < before || a.radius == 1e-3);
        }
    }
    ck_assert_int_gt(doubled, 0);
    pd_apts_free(&a);
}
END_TEST

START_TEST(missing_block_adds_nothing)
{
    test_fn_t t;
    size_t off[3], len[3];
    double theta0[N_MAX] = {0}, g[N_MAX], f, s_d[N_MAX];
    pd_apts_t a;

    fn_init(&t, 24, 1.0, 0.1, 23);
    three_blocks(off, len);
    pd_apts_opts_t o = opts(true, true, 1.0);
    ck_assert_int_eq(pd_apts_init(&a, &o, t.n, 3, off, len, theta0), 0);
    ck_assert_int_eq(pd_apts_begin(&a), PD_APTS_NEED_GRAD);
    fn_eval(&t, pd_apts_point(&a), &f, g);
    ck_assert_int_eq(pd_apts_on_grad(&a, f, g), PD_APTS_NEED_LOCAL);
    /* block 1 answers with a step 3x too long (a faulty worker): scaled to Δ */
    for (size_t i = 0; i < len[1]; i++) {
        s_d[i] = (i % 2 ? 3.0 : -1.0);
    }
    pd_apts_block_report_t rep = {0.5, 1.0, true};
    ck_assert(pd_apts_on_local(&a, 1, s_d, &rep));
    ck_assert(!pd_apts_on_local(&a, 1, s_d, &rep)); /* a duplicate is ignored */
    ck_assert_int_eq(pd_apts_locals_done(&a), PD_APTS_NEED_LOSS);
    ck_assert_int_eq(a.st.missing_blocks, 2);
    for (size_t d = 0; d < 3; d++) {
        for (size_t i = off[d]; i < off[d] + len[d]; i++) {
            double want = d == 1 ? (((i - off[1]) % 2) ? 1.0 : -1.0 / 3.0) : 0.0;
            ck_assert_msg(fabs(a.half[i] - want) < 1e-15, "θ½[%zu] = %g, want %g", i, a.half[i],
                          want);
        }
    }
    pd_apts_free(&a);
}
END_TEST

/* A 2-hidden-layer MLP on random data: 6 tensors, so up to 6 blocks. */
typedef struct mlp_fixture {
    double xd[60 * 4], yd[60];
    pd_data_t d;
    pd_model_t m;
    pd_task_ctx_t c;
} mlp_fixture_t;

static void mlp_fixture_init(mlp_fixture_t *f)
{
    pd_mlp_shape_t shape = {0};
    char why[100];
    pd_rng_t r;

    memset(f, 0, sizeof(*f));
    pd_rng_seed(&r, 29);
    for (size_t k = 0; k < 60 * 4; k++) {
        f->xd[k] = pd_rng_normal(&r);
    }
    for (size_t i = 0; i < 60; i++) {
        f->yd[i] = (double)(i % 3);
    }
    f->d = (pd_data_t){.m = 60, .p = 4, .x = f->xd, .y = f->yd};
    ck_assert_int_eq(pd_mlp_parse_layers("4,5,3,3", &shape, why, sizeof(why)), 0);
    ck_assert_int_eq(pd_model_bind_mlp(&f->m, &f->d, &shape, why, sizeof(why)), 0);
    ck_assert_int_eq(pd_task_ctx_init(&f->c, &f->m, &f->d, NULL, 1), 0);
}

START_TEST(local_tr_task)
{
    mlp_fixture_t fx;
    mlp_fixture_init(&fx);
    size_t dim = fx.m.dim, n = 0, out_len = 0, off, len;
    double *x = vec_new(dim), *g = vec_new(dim), *mask = vec_new(dim), *out = vec_new(dim);
    double loss, f0, f1;
    pd_sample_set_t set = {.seed = 5, .batch = 40};
    pd_msg_t t;

    pd_model_init_params(&fx.m, 3, x);
    pd_msg_init(&t, PD_MSG_TASK);
    t.kind = PD_TASK_LOCAL_TR;
    t.seed = set.seed;
    t.batch = set.batch;
    t.has_local_tr = true;
    t.local_tr = (pd_local_tr_t){.block = 1, .n_blocks = 3, .radius = 0.05, .local_iters = 5,
                                 .l2 = 1e-3};
    ck_assert_int_eq(pd_apts_model_block(&fx.m, 3, 1, &off, &len), 0);
    ck_assert_int_eq(pd_apts_model_block(&fx.m, 7, 0, &off, &len), PD_EDIM); /* 6 tensors */
    ck_assert_int_eq(pd_apts_model_block(&fx.m, 3, 3, &off, &len), PD_EDIM);
    ck_assert_int_eq(pd_apts_model_block(&fx.m, 3, 1, &off, &len), 0);

    /* the server's gradient on the same samples: consistency term 0 (oracle 7) */
    ck_assert_int_eq(pd_task_grad_set(&fx.c, x, &set, g, &loss, &n), 0);
    pd_model_bias_mask(&fx.m, mask);
    f0 = pd_apts_objective(1e-3, mask, x, dim, loss, n, g);

    pd_local_tr_t rep;
    ck_assert_int_eq(pd_apts_run_local_tr(&fx.c, &t, x, g + off, out, &out_len, mask, &rep, &n),
                     0);
    ck_assert_uint_eq(out_len, len);
    ck_assert_uint_eq(n, 40);
    ck_assert_msg(rep.foc_norm < 1e-12, "consistency term %g with the same samples", rep.foc_norm);
    ck_assert(max_abs(out, len) <= 0.05);
    ck_assert(rep.any_accepted && rep.pred > 0.0 && rep.accepted >= 1);
    ck_assert_uint_eq(rep.block, 1);
    /* the block's step lowers the objective on those samples by what the solve says */
    for (size_t i = 0; i < len; i++) {
        x[off + i] += out[i];
    }
    ck_assert_int_eq(pd_task_loss(&fx.c, x, &set, &loss, &n), 0);
    f1 = pd_apts_objective(1e-3, mask, x, dim, loss, n, NULL);
    ck_assert_msg(f1 < f0, "f %.17g -> %.17g", f0, f1);
    ck_assert_msg(fabs(f1 - rep.loss) <= 1e-12 * fabs(f1), "reported %.17g, evaluated %.17g",
                  rep.loss, f1);

    /* a different batch on the worker: the term is not zero */
    t.seed = 6;
    ck_assert_int_eq(pd_apts_run_local_tr(&fx.c, &t, x, g + off, out, &out_len, mask, &rep, &n),
                     0);
    ck_assert(rep.foc_norm > 1e-6);
    /* bad requests */
    t.local_tr.radius = 0.0;
    ck_assert_int_eq(pd_apts_run_local_tr(&fx.c, &t, x, NULL, out, &out_len, mask, &rep, &n),
                     -EINVAL);
    t.local_tr.radius = 0.05;
    t.local_tr.n_blocks = 9;
    ck_assert_int_eq(pd_apts_run_local_tr(&fx.c, &t, x, NULL, out, &out_len, mask, &rep, &n),
                     PD_EDIM);
    free(x);
    free(g);
    free(mask);
    free(out);
    pd_task_ctx_release(&fx.c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("apts");
    TCase *tc = tcase_create("oracles");

    tcase_add_test(tc, oracle1_one_block_is_a_tr_step);
    tcase_add_test(tc, oracle2_combined_step_in_the_region);
    tcase_add_test(tc, oracle3_separable_is_independent_solves);
    tcase_add_test(tc, oracle4_global_pass_is_monotone);
    tcase_add_test(tc, oracle6_radius_rule);
    tcase_add_test(tc, missing_block_adds_nothing);
    tcase_add_test(tc, local_tr_task);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
