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
 * Second order (apts_second_order, §4.4): oracle 5 through the method (the server's memory
 * satisfies B s_j = y_j on a quadratic), fewer outer iterations than first order on that
 * quadratic, and oracles 2 and 4 with the L-SR1 global step; check_lsr1 tests the memory. */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apts_blocks.h"
#include "apts_local.h"
#include "apts_task.h"
#include "error.h"
#include "methods/apts_core.h"
#include "rng.h"
#include "task_kind.h"
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
    pd_apts_opts_t o = {0};

    pd_tr_params_default(&o.tr);
    o.radius0 = radius0;
    o.global_pass = global_pass;
    o.safeguard = safeguard;
    return o;
}

/* Block d of a's L-SR1 memory as method_apts.c sends it and apts_task.c rebuilds it: the
 * block rows of S and Y, γ and M⁻¹ from pd_lsr1_minv, through pd_lsr1_block_from. */
static void block_memory(const pd_apts_t *a, size_t d, pd_lsr1_t *bd)
{
    size_t m = a->mem.count, len = a->len[d];
    double *z = vec_new(2 * m * len + m * m);

    for (size_t j = 0; j < m; j++) {
        memcpy(z + j * len, pd_lsr1_pair_s(&a->mem, j) + a->offset[d], len * sizeof(double));
        memcpy(z + (m + j) * len, pd_lsr1_pair_y(&a->mem, j) + a->offset[d],
               len * sizeof(double));
    }
    ck_assert_int_eq(pd_lsr1_minv(&a->mem, z + 2 * m * len), 0);
    ck_assert_int_eq(pd_lsr1_block_from(bd, len, m, a->mem.gamma, z + 2 * m * len, z,
                                        z + m * len), 0);
    free(z);
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
                /* second order: B_d rebuilt from what the LOCAL_TR task carries */
                pd_lsr1_t bd = {0};
                bool has_bd = a->o.second_order && a->mem.count > 0;
                if (has_bd) {
                    block_memory(a, d, &bd);
                }
                ck_assert_int_eq(pd_apts_local_solve(&block, a->theta + a->offset[d],
                                                     foc ? a->g + a->offset[d] : NULL,
                                                     a->radius, s_loc, &lp,
                                                     has_bd ? &bd : NULL, s_d, &res, NULL),
                                 0);
                pd_lsr1_free(&bd);
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
                                                 NULL, s_d, &res, NULL), 0);
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
    ck_assert_int_eq(pd_apts_run_local_tr(&fx.c, &t, x, g + off, NULL, out, &out_len, mask, &rep, &n),
                     0);
    ck_assert_uint_eq(out_len, len);
    ck_assert_uint_eq(n, 40);
    ck_assert_msg(rep.foc_norm < 1e-12, "consistency term %g with the same samples", rep.foc_norm);
    ck_assert_msg(max_abs(out, len) <= 0.05, "step %.17g > 0.05", max_abs(out, len));
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
    ck_assert_int_eq(pd_apts_run_local_tr(&fx.c, &t, x, g + off, NULL, out, &out_len, mask, &rep, &n),
                     0);
    ck_assert(rep.foc_norm > 1e-6);
    /* bad requests */
    t.local_tr.radius = 0.0;
    ck_assert_int_eq(pd_apts_run_local_tr(&fx.c, &t, x, NULL, NULL, out, &out_len, mask, &rep, &n),
                     -EINVAL);
    t.local_tr.radius = 0.05;
    t.local_tr.n_blocks = 9;
    ck_assert_int_eq(pd_apts_run_local_tr(&fx.c, &t, x, NULL, NULL, out, &out_len, mask, &rep, &n),
                     PD_EDIM);
    free(x);
    free(g);
    free(mask);
    free(out);
    pd_task_ctx_release(&fx.c);
}
END_TEST

/* f(θ) = ½θᵀAθ − bᵀθ with A = QᵀDQ SPD (eigenvalues 0.05 .. 5, Q a product of random
 * Householder reflections): ill-conditioned enough that a first-order step is slow. */
#define QN 12
typedef struct quad_fn {
    double a[QN][QN], b[QN], opt[QN], f_opt;
} quad_fn_t;

static int quad_eval(void *ctx, const double *z, double *f, double *g)
{
    const quad_fn_t *q = ctx;
    double s = 0.0;

    for (size_t i = 0; i < QN; i++) {
        double ai = 0.0;
        for (size_t j = 0; j < QN; j++) {
            ai += q->a[i][j] * z[j];
        }
        s += 0.5 * z[i] * ai - q->b[i] * z[i];
        if (g != NULL) {
            g[i] = ai - q->b[i];
        }
    }
    *f = s;
    return 0;
}

static void quad_init(quad_fn_t *q, uint64_t seed)
{
    double m[QN][QN] = {{0}}, v[QN], work[QN][QN + 1];
    pd_rng_t r;

    pd_rng_seed(&r, seed);
    for (size_t i = 0; i < QN; i++) {
        m[i][i] = 1.0;
    }
    /* m ← H m for three reflections H = I − 2vvᵀ/vᵀv: an orthogonal Q */
    for (int h = 0; h < 3; h++) {
        double vv = 0.0;
        for (size_t i = 0; i < QN; i++) {
            v[i] = pd_rng_normal(&r);
            vv += v[i] * v[i];
        }
        for (size_t j = 0; j < QN; j++) {
            double c = 0.0;
            for (size_t i = 0; i < QN; i++) {
                c += v[i] * m[i][j];
            }
            for (size_t i = 0; i < QN; i++) {
                m[i][j] -= 2.0 * v[i] * c / vv;
            }
        }
    }
    for (size_t i = 0; i < QN; i++) {
        for (size_t j = 0; j < QN; j++) {
            double s = 0.0;
            for (size_t k = 0; k < QN; k++) {
                s += m[k][i] * (0.05 * pow(100.0, (double)k / (QN - 1))) * m[k][j];
            }
            q->a[i][j] = s;
        }
        q->b[i] = pd_rng_normal(&r);
    }
    /* the optimum A θ* = b by Gaussian elimination with partial pivoting */
    for (size_t i = 0; i < QN; i++) {
        memcpy(work[i], q->a[i], QN * sizeof(double));
        work[i][QN] = q->b[i];
    }
    for (size_t c = 0; c < QN; c++) {
        size_t p = c;
        for (size_t i = c + 1; i < QN; i++) {
            if (fabs(work[i][c]) > fabs(work[p][c])) {
                p = i;
            }
        }
        for (size_t j = 0; j <= QN; j++) {
            double t = work[c][j];
            work[c][j] = work[p][j];
            work[p][j] = t;
        }
        for (size_t i = c + 1; i < QN; i++) {
            double l = work[i][c] / work[c][c];
            for (size_t j = c; j <= QN; j++) {
                work[i][j] -= l * work[c][j];
            }
        }
    }
    for (size_t i = QN; i-- > 0;) {
        double s = work[i][QN];
        for (size_t j = i + 1; j < QN; j++) {
            s -= work[i][j] * q->opt[j];
        }
        q->opt[i] = s / work[i][i];
    }
    quad_eval(q, q->opt, &q->f_opt, NULL);
}

/* Three blocks of 4 over the 12 coordinates. */
static void quad_blocks(size_t *off, size_t *len)
{
    for (size_t d = 0; d < 3; d++) {
        off[d] = 4 * d;
        len[d] = 4;
    }
}

static pd_apts_opts_t opts2(bool second_order, double radius0)
{
    pd_apts_opts_t o = opts(true, true, radius0);
    o.second_order = second_order;
    o.memory = 5;
    return o;
}

START_TEST(second_order_needs_the_global_pass)
{
    size_t off[3], len[3];
    double theta0[QN] = {0};
    pd_apts_t a;
    pd_apts_opts_t o = opts2(true, 1.0);

    quad_blocks(off, len);
    o.global_pass = false;
    ck_assert_int_eq(pd_apts_init(&a, &o, QN, 3, off, len, theta0), -EINVAL);
    o.global_pass = true;
    o.memory = PD_LSR1_MEM_MAX + 1;
    ck_assert_int_eq(pd_apts_init(&a, &o, QN, 3, off, len, theta0), -EINVAL);
}
END_TEST

/* Oracle 5 through the method: after some outer iterations on the quadratic, every pair in
 * the server's memory satisfies B s_j = y_j (y_j = A s_j exactly, so the memory's own pairs
 * must be interpolated), and the stored pairs are the iterations' (θ½ − θ_k, g½ − g_k). */
START_TEST(oracle5_server_memory_secant)
{
    quad_fn_t q;
    size_t off[3], len[3];
    double theta0[QN] = {0}, bs[QN], as[QN], theta_k[QN], g_k[QN], f;
    pd_apts_t a;

    quad_init(&q, 5);
    quad_blocks(off, len);
    pd_tr_objective_t obj = {quad_eval, &q, QN};
    pd_apts_opts_t o = opts2(true, 0.5);
    ck_assert_int_eq(pd_apts_init(&a, &o, QN, 3, off, len, theta0), 0);
    size_t stored = 0;
    for (int it = 0; it < 6; it++) {
        memcpy(theta_k, a.theta, sizeof(theta_k));
        quad_eval(&q, theta_k, &f, g_k);
        iterate(&a, &obj, 3, true, NULL);
        ck_assert(a.st.pair_offered);
        if (a.st.pair_stored) {
            stored++;
            /* the newest pair is this iteration's: θ½ − θ_k and the gradient change */
            const double *s = pd_lsr1_pair_s(&a.mem, a.mem.count - 1);
            const double *y = pd_lsr1_pair_y(&a.mem, a.mem.count - 1);
            for (size_t i = 0; i < QN; i++) {
                ck_assert_double_eq_tol(s[i], a.half[i] - theta_k[i], 1e-15);
                ck_assert_double_eq_tol(y[i], a.g_half[i] - g_k[i], 1e-15);
            }
        }
    }
    ck_assert_msg(a.mem.count >= 3, "only %zu pairs in the memory (%zu stored)", a.mem.count,
                  stored);
    for (size_t j = 0; j < a.mem.count; j++) {
        const double *s = pd_lsr1_pair_s(&a.mem, j), *y = pd_lsr1_pair_y(&a.mem, j);
        ck_assert_int_eq(pd_lsr1_apply(&a.mem, s, bs), 0);
        quad_eval(&q, s, &f, as); /* as = A s − b */
        double err = 0.0, ny = 0.0;
        for (size_t i = 0; i < QN; i++) {
            ck_assert_double_eq_tol(y[i], as[i] + q.b[i], 1e-12);
            err = fmax(err, fabs(bs[i] - y[i]));
            ny = fmax(ny, fabs(y[i]));
        }
        ck_assert_msg(err <= 1e-9 * fmax(ny, 1.0), "pair %zu: ‖Bs − y‖_∞ = %g (‖y‖_∞ = %g)",
                      j, err, ny);
    }
    pd_apts_free(&a);
}
END_TEST

/* Outer iterations until f − f* ≤ 1e-8 (at most max_it; returns max_it + 1 if not reached). */
static int iterations_to_reach(const quad_fn_t *q, bool second_order, int max_it)
{
    size_t off[3], len[3];
    double theta0[QN] = {0}, f;
    pd_apts_t a;
    pd_tr_objective_t obj = {quad_eval, (void *)q, QN};
    pd_apts_opts_t o = opts2(second_order, 0.5);

    quad_blocks(off, len);
    ck_assert_int_eq(pd_apts_init(&a, &o, QN, 3, off, len, theta0), 0);
    int it = 0;
    for (; it < max_it; it++) {
        quad_eval((void *)q, a.theta, &f, NULL);
        if (f - q->f_opt <= 1e-8) {
            break;
        }
        iterate(&a, &obj, 3, true, NULL);
    }
    quad_eval((void *)q, a.theta, &f, NULL);
    pd_apts_free(&a);
    return f - q->f_opt <= 1e-8 ? it : max_it + 1;
}

/* Second order reaches f* + 1e-8 on the quadratic in fewer outer iterations than first order.
 * Measured when written (seed 5, 3 blocks of 4, s_loc = 3, Δ_0 = 0.5, memory 5): 43 outer
 * iterations with second order (local steps with B_d and the L-SR1 global step; 32 with the
 * global step alone), 174 with first order. */
START_TEST(second_order_is_faster_on_a_quadratic)
{
    quad_fn_t q;

    quad_init(&q, 5);
    int fo = iterations_to_reach(&q, false, 2000);
    int so = iterations_to_reach(&q, true, 2000);
    fprintf(stderr, "check_apts: quadratic to 1e-8: first order %d, second order %d outer "
                    "iterations\n", fo, so);
    ck_assert_msg(so <= 2000, "second order did not reach f* + 1e-8 in 2000 iterations");
    ck_assert_msg(so < fo, "second order %d iterations, first order %d", so, fo);
}
END_TEST

/* Oracles 2 and 4 with the L-SR1 global step, on the non-convex function (where B is
 * indefinite and the CG goes to the boundary) and on the quadratic: ‖θ½ − θ_k‖_∞ ≤ Δ_k, the
 * global step ‖θ_{k+1} − θ½‖₂ ≤ Δ_k (the 2-norm ball: a first-order ∞-norm step of radius Δ_k
 * would have 2-norm up to √n Δ_k), and the objective never rises. */
START_TEST(second_order_oracles_2_and_4)
{
    test_fn_t t;
    quad_fn_t q;
    size_t off3[3], len3[3], offq[3], lenq[3];
    double theta0[N_MAX] = {0}, f_prev, f;

    fn_init(&t, 24, 2.5, 0.4, 17);
    three_blocks(off3, len3);
    quad_init(&q, 9);
    quad_blocks(offq, lenq);
    for (int problem = 0; problem < 2; problem++) {
        pd_tr_objective_t obj = problem == 0 ? (pd_tr_objective_t){fn_eval, &t, t.n}
                                             : (pd_tr_objective_t){quad_eval, &q, QN};
        pd_apts_t a;
        pd_apts_opts_t o = opts2(true, 2.0);
        ck_assert_int_eq(pd_apts_init(&a, &o, obj.n, 3, problem == 0 ? off3 : offq,
                                      problem == 0 ? len3 : lenq, theta0), 0);
        obj.eval(obj.ctx, a.theta, &f_prev, NULL);
        double f0 = f_prev;
        for (int it = 0; it < 40; it++) {
            double radius = a.radius, step = -1.0, half[N_MAX];
            iterate(&a, &obj, 5, true, &step);
            /* θ½ − θ_k recomputed from the stored points carries the rounding of θ_k + s
             * (a few ulps of |θ|: seen as 1.2e-15 over Δ = 1e-3 on the quadratic); the core's
             * own ‖s‖_∞ is exact */
            double slack = 4.0 * DBL_EPSILON * fmax(max_abs(a.half, obj.n), 1.0);
            ck_assert_msg(step >= 0.0 && step <= radius + slack, "problem %d iteration %d: "
                          "‖θ½ − θ‖ = %.17g > Δ = %g", problem, it, step, radius);
            ck_assert(a.st.step_inf <= radius);
            memcpy(half, a.half, obj.n * sizeof(double));
            double d2 = 0.0;
            for (size_t i = 0; i < obj.n; i++) {
                d2 += (a.theta[i] - half[i]) * (a.theta[i] - half[i]);
            }
            ck_assert_msg(sqrt(d2) <= radius * (1.0 + 1e-12) + slack, "problem %d iteration %d: global "
                          "step ‖·‖₂ = %.17g > Δ = %g", problem, it, sqrt(d2), radius);
            obj.eval(obj.ctx, a.theta, &f, NULL);
            ck_assert_msg(f <= f_prev, "problem %d iteration %d: f rose from %.17g to %.17g",
                          problem, it, f_prev, f);
            f_prev = f;
        }
        ck_assert_msg(a.mem.pairs_stored >= 2, "problem %d: %zu pairs stored", problem,
                      a.mem.pairs_stored);
        ck_assert_msg(f_prev < f0 - 0.5, "problem %d: 40 iterations barely moved: %g -> %g",
                      problem, f0, f_prev);
        pd_apts_free(&a);
    }
}
END_TEST

/* What a worker rebuilds from the LOCAL_TR memory frame (block rows of S and Y, γ, M⁻¹ of
 * pd_lsr1_minv) is the principal block of the server's B: B_d v_d = (B [0; v_d; 0])_d, and
 * the same as pd_lsr1_block. */
START_TEST(block_memory_is_the_principal_block)
{
    quad_fn_t q;
    size_t off[3], len[3];
    double theta0[QN] = {0}, v[QN], bv[QN], vd[QN], bdv[QN], bdv2[QN];
    pd_apts_t a;
    pd_rng_t r;

    quad_init(&q, 7);
    quad_blocks(off, len);
    pd_tr_objective_t obj = {quad_eval, &q, QN};
    pd_apts_opts_t o = opts2(true, 0.5);
    ck_assert_int_eq(pd_apts_init(&a, &o, QN, 3, off, len, theta0), 0);
    for (int it = 0; it < 5; it++) {
        iterate(&a, &obj, 3, true, NULL);
    }
    ck_assert_uint_ge(a.mem.count, 2);
    pd_rng_seed(&r, 1);
    for (size_t d = 0; d < 3; d++) {
        pd_lsr1_t bd, ref;
        block_memory(&a, d, &bd);
        ck_assert_int_eq(pd_lsr1_block(&a.mem, off[d], len[d], &ref), 0);
        memset(v, 0, sizeof(v));
        for (size_t i = 0; i < len[d]; i++) {
            vd[i] = pd_rng_normal(&r);
            v[off[d] + i] = vd[i];
        }
        ck_assert_int_eq(pd_lsr1_apply(&a.mem, v, bv), 0);
        ck_assert_int_eq(pd_lsr1_apply(&bd, vd, bdv), 0);
        ck_assert_int_eq(pd_lsr1_apply(&ref, vd, bdv2), 0);
        double scale = fmax(max_abs(bv, QN), 1.0);
        for (size_t i = 0; i < len[d]; i++) {
            ck_assert_double_eq_tol(bdv[i], bv[off[d] + i], 1e-10 * scale);
            ck_assert_double_eq_tol(bdv[i], bdv2[i], 1e-10 * scale);
        }
        /* and the block memory is not the identity (the test would pass for B = I) */
        ck_assert(max_diff(bdv, vd, len[d]) > 1e-6);
        pd_lsr1_free(&bd);
        pd_lsr1_free(&ref);
    }
    /* bad frames: non-finite data, γ = 0, singular M⁻¹ */
    pd_lsr1_t bad;
    double s2[2] = {1.0, 0.0}, y2[2] = {NAN, 1.0}, minv[1] = {1.0}, zero[1] = {0.0};
    ck_assert_int_eq(pd_lsr1_block_from(&bad, 2, 1, 1.0, minv, s2, y2), -EINVAL);
    y2[0] = 2.0;
    ck_assert_int_eq(pd_lsr1_block_from(&bad, 2, 1, 0.0, minv, s2, y2), -EINVAL);
    ck_assert_int_eq(pd_lsr1_block_from(&bad, 2, 1, 1.0, zero, s2, y2), -EDOM);
    ck_assert_int_eq(pd_lsr1_block_from(&bad, 2, 1, 1.0, minv, s2, y2), 0);
    ck_assert_int_eq(pd_lsr1_update(&bad, s2, y2), -EINVAL); /* frozen */
    pd_lsr1_free(&bad);
    pd_apts_free(&a);
}
END_TEST

/* The LOCAL_TR computation with a memory frame (as paramd-worker and paramd-sim get it):
 * the same step as a local solve with B_d = pd_lsr1_block of the global memory, a different
 * one from the first-order solve, within the radius; a missing frame is refused. The global
 * memory holds two gradient-change pairs of the MLP objective. */
START_TEST(local_tr_task_second_order)
{
    mlp_fixture_t fx;
    mlp_fixture_init(&fx);
    size_t dim = fx.m.dim, n = 0, out_len = 0, off, len;
    double *x = vec_new(dim), *g = vec_new(dim), *g2 = vec_new(dim), *mask = vec_new(dim);
    double *out = vec_new(dim), *out1 = vec_new(dim), *ref = vec_new(dim), *z2 = vec_new(dim);
    double loss;
    pd_sample_set_t set = {.seed = 5, .batch = 40};
    pd_lsr1_t mem, bd;
    pd_msg_t t;
    pd_rng_t r;

    pd_model_init_params(&fx.m, 3, x);
    pd_model_bias_mask(&fx.m, mask);
    ck_assert_int_eq(pd_lsr1_init(&mem, dim, 5), 0);
    pd_rng_seed(&r, 4);
    ck_assert_int_eq(pd_task_grad_set(&fx.c, x, &set, g, &loss, &n), 0);
    for (int p = 0; p < 2; p++) {
        double *s = vec_new(dim);
        for (size_t i = 0; i < dim; i++) {
            s[i] = 0.05 * pd_rng_normal(&r);
            z2[i] = x[i] + s[i];
        }
        ck_assert_int_eq(pd_task_grad_set(&fx.c, z2, &set, g2, &loss, &n), 0);
        for (size_t i = 0; i < dim; i++) {
            g2[i] = (g2[i] - g[i]) / (double)n;
        }
        ck_assert_int_eq(pd_lsr1_update(&mem, s, g2), 0);
        free(s);
    }
    ck_assert_int_eq(pd_apts_model_block(&fx.m, 3, 1, &off, &len), 0);
    size_t m = mem.count;
    double *frame = vec_new(2 * m * len + m * m);
    for (size_t j = 0; j < m; j++) {
        memcpy(frame + j * len, pd_lsr1_pair_s(&mem, j) + off, len * sizeof(double));
        memcpy(frame + (m + j) * len, pd_lsr1_pair_y(&mem, j) + off, len * sizeof(double));
    }
    ck_assert_int_eq(pd_lsr1_minv(&mem, frame + 2 * m * len), 0);

    pd_msg_init(&t, PD_MSG_TASK);
    t.kind = PD_TASK_LOCAL_TR;
    t.seed = set.seed;
    t.batch = set.batch;
    t.has_local_tr = true;
    t.local_tr = (pd_local_tr_t){.block = 1, .n_blocks = 3, .radius = 0.05, .local_iters = 3,
                                 .l2 = 1e-3, .lsr1_pairs = (uint32_t)m,
                                 .lsr1_gamma = mem.gamma};
    size_t flen = 0;
    ck_assert_int_eq(pd_task_lsr1_len(&fx.m, &t, &flen), 0);
    ck_assert_uint_eq(flen, 2 * m * len + m * m);
    pd_local_tr_t rep, rep1;
    ck_assert_int_eq(pd_apts_run_local_tr(&fx.c, &t, x, NULL, frame, out, &out_len, mask, &rep,
                                          &n), 0);
    ck_assert_uint_eq(out_len, len);
    ck_assert(max_abs(out, len) <= 0.05);
    ck_assert(rep.any_accepted && rep.pred > 0.0);

    /* the reference: the block view and the local solve with pd_lsr1_block's B_d */
    {
        pd_apts_set_objective_t full_ctx = {&fx.c, set, 1e-3, mask, dim};
        pd_tr_objective_t full = {pd_apts_set_eval, &full_ctx, dim}, block;
        pd_apts_block_view_t view;
        pd_apts_local_result_t res;
        pd_tr_params_t lp;
        pd_tr_params_default(&lp);
        lp.radius_min = 0.0;
        ck_assert_int_eq(pd_lsr1_block(&mem, off, len, &bd), 0);
        ck_assert_int_eq(pd_apts_block_view_init(&view, &full, x, off, len, &block), 0);
        ck_assert_int_eq(pd_apts_local_solve(&block, x + off, NULL, 0.05, 3, &lp, &bd, ref,
                                             &res, NULL), 0);
        pd_apts_block_view_free(&view);
        pd_lsr1_free(&bd);
        ck_assert_msg(max_diff(out, ref, len) <= 1e-10, "task and reference differ by %g",
                      max_diff(out, ref, len));
        ck_assert_double_eq_tol(rep.pred, res.pred, 1e-10 * fabs(res.pred));
    }
    /* first order on the same task gives another step */
    t.local_tr.lsr1_pairs = 0;
    ck_assert_int_eq(pd_apts_run_local_tr(&fx.c, &t, x, NULL, NULL, out1, &out_len, mask,
                                          &rep1, &n), 0);
    ck_assert_msg(max_diff(out, out1, len) > 1e-8, "second order took the first-order step");
    /* a memory announced but not given, or with a non-finite value */
    t.local_tr.lsr1_pairs = (uint32_t)m;
    ck_assert_int_eq(pd_apts_run_local_tr(&fx.c, &t, x, NULL, NULL, out, &out_len, mask, &rep,
                                          &n), -EINVAL);
    frame[0] = NAN;
    ck_assert_int_eq(pd_apts_run_local_tr(&fx.c, &t, x, NULL, frame, out, &out_len, mask, &rep,
                                          &n), -EINVAL);
    pd_lsr1_free(&mem);
    free(frame);
    free(x);
    free(g);
    free(g2);
    free(mask);
    free(out);
    free(out1);
    free(ref);
    free(z2);
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
    tcase_add_test(tc, second_order_needs_the_global_pass);
    tcase_add_test(tc, oracle5_server_memory_secant);
    tcase_add_test(tc, second_order_is_faster_on_a_quadratic);
    tcase_add_test(tc, second_order_oracles_2_and_4);
    tcase_add_test(tc, block_memory_is_the_principal_block);
    tcase_add_test(tc, local_tr_task_second_order);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
