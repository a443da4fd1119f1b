/* check_solver.c - the full-batch convex solvers of server/methods (tron_core.c: trust-region
 * Newton-CG; lbfgs_core.c: L-BFGS with back-tracking) driven here as the daemon drives them,
 * one requested evaluation at a time, on objectives whose optimum is known: a quadratic
 * (Newton's step lands on A⁻¹b) and a coupled smooth convex function (the gradient vanishes
 * at the end). Also: the order of requests, failed trials, the stopping rules, bad options. */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbfgs_core.h"
#include "rng.h"
#include "tron_core.h"

#define D 10

/* F(x) = ½xᵀAx − bᵀx + w Σ softplus(x_i), A SPD (tridiagonal, diagonally dominant). w = 0 is a
 * quadratic. */
typedef struct fn {
    double diag[D], off[D - 1], b[D];
    double w;
    unsigned grads, losses, hvps;
    bool inf_next_loss; /* the next F value is +Inf (a trial outside the domain, say) */
} fn_t;

static void fn_init(fn_t *f, double w, uint64_t seed)
{
    pd_rng_t r;

    memset(f, 0, sizeof(*f));
    pd_rng_seed(&r, seed);
    for (int i = 0; i < D; i++) {
        f->diag[i] = 2.5 + (double)i;
        f->b[i] = 3.0 * pd_rng_normal(&r);
    }
    for (int i = 0; i < D - 1; i++) {
        f->off[i] = -1.0;
    }
    f->w = w;
}

static void mul_a(const fn_t *f, const double *x, double *out)
{
    for (int i = 0; i < D; i++) {
        out[i] = f->diag[i] * x[i];
        if (i > 0) {
            out[i] += f->off[i - 1] * x[i - 1];
        }
        if (i < D - 1) {
            out[i] += f->off[i] * x[i + 1];
        }
    }
}

static double sigmoid(double t)
{
    return t >= 0 ? 1.0 / (1.0 + exp(-t)) : exp(t) / (1.0 + exp(t));
}

static double value(fn_t *f, const double *x, double *g)
{
    double ax[D], v = 0.0;

    mul_a(f, x, ax);
    for (int i = 0; i < D; i++) {
        v += 0.5 * x[i] * ax[i] - f->b[i] * x[i] +
             f->w * (fmax(x[i], 0.0) + log1p(exp(-fabs(x[i]))));
        if (g != NULL) {
            g[i] = ax[i] - f->b[i] + f->w * sigmoid(x[i]);
        }
    }
    if (f->inf_next_loss) {
        f->inf_next_loss = false;
        return INFINITY;
    }
    return v;
}

static void hvp(const fn_t *f, const double *x, const double *v, double *out)
{
    mul_a(f, v, out);
    for (int i = 0; i < D; i++) {
        out[i] += f->w * sigmoid(x[i]) * sigmoid(-x[i]) * v[i];
    }
}

/* Runs newton-cg to its end (at most `budget` requests); returns the reason. */
static const char *run_tron(pd_tron_t *t, fn_t *f, unsigned budget)
{
    double g[D], hd[D];
    pd_solver_need_t need = pd_tron_begin(t);

    for (unsigned k = 0; k < budget && need != PD_SOLVER_DONE; k++) {
        if (need == PD_SOLVER_GRAD) {
            double v = value(f, pd_tron_point(t), g);
            f->grads++;
            need = pd_tron_on_grad(t, v, g);
        } else if (need == PD_SOLVER_LOSS) {
            f->losses++;
            need = pd_tron_on_loss(t, value(f, pd_tron_point(t), NULL));
        } else {
            f->hvps++;
            hvp(f, t->x, pd_tron_direction(t), hd);
            need = pd_tron_on_hvp(t, hd);
        }
    }
    return need == PD_SOLVER_DONE ? t->why : "budget spent";
}

static const char *run_lbfgs(pd_lbfgs_t *b, fn_t *f, unsigned budget, double *f_trace,
                             unsigned *n_trace)
{
    double g[D];
    pd_solver_need_t need = pd_lbfgs_begin(b);

    *n_trace = 0;
    for (unsigned k = 0; k < budget && need != PD_SOLVER_DONE; k++) {
        if (b->moved) {
            f_trace[(*n_trace)++] = b->f;
            b->moved = false;
        }
        if (need == PD_SOLVER_GRAD) {
            double v = value(f, pd_lbfgs_point(b), g);
            f->grads++;
            need = pd_lbfgs_on_grad(b, v, g);
        } else {
            ck_assert_int_eq(need, PD_SOLVER_LOSS);
            f->losses++;
            need = pd_lbfgs_on_loss(b, value(f, pd_lbfgs_point(b), NULL));
        }
    }
    return need == PD_SOLVER_DONE ? b->why : "budget spent";
}

static double grad_norm(fn_t *f, const double *x)
{
    double g[D], s = 0.0;

    value(f, x, g);
    for (int i = 0; i < D; i++) {
        s += g[i] * g[i];
    }
    return sqrt(s);
}

/* x* = A⁻¹b by the Thomas algorithm (A tridiagonal). */
static void quad_solution(const fn_t *f, double *x)
{
    double c[D], d[D];

    c[0] = f->off[0] / f->diag[0];
    d[0] = f->b[0] / f->diag[0];
    for (int i = 1; i < D; i++) {
        double den = f->diag[i] - f->off[i - 1] * c[i - 1];
        c[i] = i < D - 1 ? f->off[i] / den : 0.0;
        d[i] = (f->b[i] - f->off[i - 1] * d[i - 1]) / den;
    }
    x[D - 1] = d[D - 1];
    for (int i = D - 2; i >= 0; i--) {
        x[i] = d[i] - c[i] * x[i + 1];
    }
}

START_TEST(tron_quadratic_lands_on_solution)
{
    fn_t f;
    pd_tron_t t;
    double x0[D] = {0}, xs[D];
    /* a tight CG tolerance: each Newton step is the exact solve within the region, so the
     * run reaches A⁻¹b once the radius allows the full step */
    pd_tron_opts_t o = {.tolerance = 1e-12, .cg_tolerance = 1e-12};

    fn_init(&f, 0.0, 7);
    quad_solution(&f, xs);
    ck_assert_int_eq(pd_tron_init(&t, D, &o, x0), 0);
    const char *why = run_tron(&t, &f, 10000);
    ck_assert_msg(strstr(why, "converged") != NULL, "%s", why);
    for (int i = 0; i < D; i++) {
        ck_assert_msg(fabs(t.x[i] - xs[i]) <= 1e-10 * fmax(1.0, fabs(xs[i])), "x[%d] = %.17g, "
                      "want %.17g", i, t.x[i], xs[i]);
    }
    /* CG on a D-dimensional quadratic needs at most D products per Newton step */
    ck_assert_uint_le(t.cg_iters, (uint64_t)D * (t.newton_iters + 1));
    ck_assert(t.moved);
    pd_tron_free(&t);
}
END_TEST

START_TEST(tron_smooth_convex_converges)
{
    fn_t f;
    pd_tron_t t;
    double x0[D] = {0};
    /* 1e-7: TRON's own end (a step changing F by less than 1e-12 of it) comes first below */
    pd_tron_opts_t o = {.tolerance = 1e-7, .cg_tolerance = 0.1};

    fn_init(&f, 4.0, 11);
    double g0 = grad_norm(&f, x0);
    ck_assert_int_eq(pd_tron_init(&t, D, &o, x0), 0);
    const char *why = run_tron(&t, &f, 10000);
    ck_assert_msg(strstr(why, "converged") != NULL, "%s: gradient ratio %g", why,
                  grad_norm(&f, t.x) / g0);
    ck_assert_double_le(grad_norm(&f, t.x), 1e-7 * g0);
    /* one gradient per accepted step plus the first, one loss per trial step */
    ck_assert_uint_eq(f.losses, t.newton_iters);
    ck_assert_uint_eq(f.grads, t.newton_iters - t.rejected + 1);
    ck_assert_uint_eq(f.hvps, t.cg_iters);
    /* Newton: a handful of steps, not hundreds */
    ck_assert_uint_le(t.newton_iters, 20);
    pd_tron_free(&t);
}
END_TEST

START_TEST(tron_infinite_trial_shrinks_radius)
{
    fn_t f;
    pd_tron_t t;
    double x0[D] = {0}, g[D], hd[D];
    pd_tron_opts_t o = {.tolerance = 1e-8, .cg_tolerance = 0.1};

    fn_init(&f, 1.0, 3);
    ck_assert_int_eq(pd_tron_init(&t, D, &o, x0), 0);
    pd_solver_need_t need = pd_tron_begin(&t);
    ck_assert_int_eq(need, PD_SOLVER_GRAD);
    need = pd_tron_on_grad(&t, value(&f, t.x, g), g);
    while (need == PD_SOLVER_HVP) {
        hvp(&f, t.x, pd_tron_direction(&t), hd);
        need = pd_tron_on_hvp(&t, hd);
    }
    ck_assert_int_eq(need, PD_SOLVER_LOSS);
    double radius = t.radius;
    need = pd_tron_on_loss(&t, INFINITY);
    /* rejected: a new CG solve from the same x in a smaller region */
    ck_assert_int_eq(need, PD_SOLVER_HVP);
    ck_assert(!t.moved);
    ck_assert_uint_eq(t.rejected, 1);
    ck_assert_double_lt(t.radius, radius);
    for (int i = 0; i < D; i++) {
        ck_assert_double_eq(t.x[i], 0.0);
    }
    /* and the run still ends at the optimum */
    f.inf_next_loss = false;
    while (need != PD_SOLVER_DONE) {
        if (need == PD_SOLVER_GRAD) {
            double v = value(&f, pd_tron_point(&t), g);
            need = pd_tron_on_grad(&t, v, g);
        } else if (need == PD_SOLVER_LOSS) {
            need = pd_tron_on_loss(&t, value(&f, pd_tron_point(&t), NULL));
        } else {
            hvp(&f, t.x, pd_tron_direction(&t), hd);
            need = pd_tron_on_hvp(&t, hd);
        }
    }
    ck_assert_msg(strstr(t.why, "converged") != NULL, "%s", t.why);
    /* results out of turn are refused without a change */
    ck_assert_int_eq(pd_tron_on_loss(&t, 0.0), PD_SOLVER_DONE);
    pd_tron_free(&t);
}
END_TEST

START_TEST(tron_nonfinite_gradient_ends)
{
    pd_tron_t t;
    double x0[D] = {0}, g[D] = {0};
    pd_tron_opts_t o = {.tolerance = 1e-6, .cg_tolerance = 0.1};

    ck_assert_int_eq(pd_tron_init(&t, D, &o, x0), 0);
    pd_tron_begin(&t);
    g[3] = NAN;
    ck_assert_int_eq(pd_tron_on_grad(&t, 1.0, g), PD_SOLVER_DONE);
    ck_assert_ptr_nonnull(strstr(t.why, "not finite"));
    pd_tron_free(&t);
}
END_TEST

START_TEST(tron_resume_keeps_tolerance_reference)
{
    fn_t f;
    pd_tron_t t;
    double x0[D] = {0}, g[D];
    /* a resumed run near the optimum: the tolerance is relative to the original ‖∇F(x₀)‖,
     * so a gradient 1e-3 of it satisfies tolerance 1e-2 at once */
    pd_tron_opts_t o = {.tolerance = 1e-2, .cg_tolerance = 0.1, .radius = 0.5, .gnorm0 = 0.0};

    fn_init(&f, 0.0, 5);
    quad_solution(&f, x0);
    x0[0] += 1e-3;
    double v = value(&f, x0, g);
    o.gnorm0 = 1e3 * grad_norm(&f, x0);
    ck_assert_int_eq(pd_tron_init(&t, D, &o, x0), 0);
    pd_tron_begin(&t);
    ck_assert_int_eq(pd_tron_on_grad(&t, v, g), PD_SOLVER_DONE);
    ck_assert_double_eq(t.radius, 0.5);
    pd_tron_free(&t);
}
END_TEST

START_TEST(lbfgs_converges_monotonically)
{
    for (int w = 0; w <= 1; w++) {
        fn_t f;
        pd_lbfgs_t b;
        double x0[D] = {0}, trace[4096];
        unsigned n_trace;
        pd_lbfgs_opts_t o = {.memory = 5, .tolerance = 1e-10};

        fn_init(&f, 4.0 * w, 13);
        double g0 = grad_norm(&f, x0);
        ck_assert_int_eq(pd_lbfgs_init(&b, D, &o, x0), 0);
        const char *why = run_lbfgs(&b, &f, 4000, trace, &n_trace);
        ck_assert_msg(strstr(why, "converged") != NULL, "%s", why);
        ck_assert_double_le(grad_norm(&f, b.x), 1e-10 * g0);
        if (w == 0) {
            double xs[D];
            quad_solution(&f, xs);
            for (int i = 0; i < D; i++) {
                ck_assert_double_eq_tol(b.x[i], xs[i], 1e-8);
            }
        }
        /* Armijo: no accepted iterate raises F (near the end the decrease it asks for is
         * below rounding, so F may stay) */
        for (unsigned k = 1; k < n_trace; k++) {
            ck_assert_double_le(trace[k], trace[k - 1]);
        }
        ck_assert_double_lt(trace[n_trace - 1], trace[0]);
        ck_assert_uint_le(b.count, 5);
        /* every evaluation but the first is a trial or the gradient of an accepted one */
        ck_assert_uint_le(b.trials, f.grads + f.losses - 1);
        ck_assert_uint_ge(b.trials, b.iters);
        pd_lbfgs_free(&b);
    }
}
END_TEST

START_TEST(lbfgs_backtracks_after_failed_trial)
{
    fn_t f;
    pd_lbfgs_t b;
    double x0[D] = {0}, g[D];
    pd_lbfgs_opts_t o = {.memory = 3, .tolerance = 1e-8};

    fn_init(&f, 1.0, 17);
    ck_assert_int_eq(pd_lbfgs_init(&b, D, &o, x0), 0);
    ck_assert_int_eq(pd_lbfgs_begin(&b), PD_SOLVER_GRAD);
    double v = value(&f, pd_lbfgs_point(&b), g);
    /* the first trial comes as a GRAD request at a point other than x */
    ck_assert_int_eq(pd_lbfgs_on_grad(&b, v, g), PD_SOLVER_GRAD);
    ck_assert(memcmp(pd_lbfgs_point(&b), b.x, sizeof(x0)) != 0);
    double step = b.step;
    /* it fails (non-finite): half the step, F alone next */
    for (int i = 0; i < D; i++) {
        g[i] = NAN;
    }
    ck_assert_int_eq(pd_lbfgs_on_grad(&b, INFINITY, g), PD_SOLVER_LOSS);
    ck_assert_double_eq(b.step, 0.5 * step);
    ck_assert(!b.moved);
    /* accepted by its value: the gradient at the new iterate next */
    ck_assert_int_eq(pd_lbfgs_on_loss(&b, value(&f, pd_lbfgs_point(&b), NULL)), PD_SOLVER_GRAD);
    ck_assert(b.moved);
    ck_assert(memcmp(pd_lbfgs_point(&b), b.x, sizeof(x0)) == 0);
    pd_lbfgs_free(&b);
}
END_TEST

START_TEST(bad_options)
{
    double x0[D] = {0};
    pd_tron_t t;
    pd_lbfgs_t b;
    pd_tron_opts_t to = {.tolerance = 1e-6, .cg_tolerance = 0.0};
    pd_lbfgs_opts_t lo = {.memory = 0, .tolerance = 1e-6};

    ck_assert_int_eq(pd_tron_init(&t, D, &to, x0), -EINVAL);
    to.cg_tolerance = 0.1;
    to.tolerance = NAN;
    ck_assert_int_eq(pd_tron_init(&t, D, &to, x0), -EINVAL);
    to.tolerance = 1e-6;
    ck_assert_int_eq(pd_tron_init(&t, 0, &to, x0), -EINVAL);
    ck_assert_int_eq(pd_lbfgs_init(&b, D, &lo, x0), -EINVAL);
    lo.memory = 4;
    lo.gnorm0 = INFINITY;
    ck_assert_int_eq(pd_lbfgs_init(&b, D, &lo, x0), -EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("solver");
    TCase *tc = tcase_create("solver");
    tcase_add_test(tc, tron_quadratic_lands_on_solution);
    tcase_add_test(tc, tron_smooth_convex_converges);
    tcase_add_test(tc, tron_infinite_trial_shrinks_radius);
    tcase_add_test(tc, tron_nonfinite_gradient_ends);
    tcase_add_test(tc, tron_resume_keeps_tolerance_reference);
    tcase_add_test(tc, lbfgs_converges_monotonically);
    tcase_add_test(tc, lbfgs_backtracks_after_failed_trial);
    tcase_add_test(tc, bad_options);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
