/* tron_core.c - see tron_core.h. The radius rules and constants are TRON's: η₀ = 1e-4,
 * η₁ = 0.25, η₂ = 0.75 for the ratio of actual to predicted decrease, σ₁ = 0.25, σ₂ = 0.5,
 * σ₃ = 4 for the radius, the first radius ‖∇F(x₀)‖, cut to the first step's length. The
 * vector arithmetic is plain loops in a fixed order, so a run is the same bits everywhere
 * its inputs are. */
#include <config.h>
#include "tron_core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define ETA0 1e-4
#define ETA1 0.25
#define ETA2 0.75
#define SIGMA1 0.25
#define SIGMA2 0.5
#define SIGMA3 4.0

enum { WANT_GRAD = 0, WANT_HVP, WANT_LOSS, FINISHED };

int pd_tron_init(pd_tron_t *t, size_t n, const pd_tron_opts_t *o, const double *x0)
{
    pd_tron_t z = {.n = n, .o = *o};

    if (n == 0 || !(o->tolerance >= 0.0 && o->tolerance < 1.0) ||
        !(o->cg_tolerance > 0.0 && o->cg_tolerance < 1.0) || !(o->radius >= 0.0) ||
        !(o->gnorm0 >= 0.0) || !isfinite(o->radius) || !isfinite(o->gnorm0)) {
        return -EINVAL;
    }
    z.x = malloc(n * sizeof(double));
    z.g = malloc(n * sizeof(double));
    z.s = malloc(n * sizeof(double));
    z.r = malloc(n * sizeof(double));
    z.d = malloc(n * sizeof(double));
    z.trial = malloc(n * sizeof(double));
    if (z.x == NULL || z.g == NULL || z.s == NULL || z.r == NULL || z.d == NULL ||
        z.trial == NULL) {
        pd_tron_free(&z);
        return -ENOMEM;
    }
    memcpy(z.x, x0, n * sizeof(double));
    if (z.o.cg_max == 0) {
        z.o.cg_max = n;
    }
    z.radius = o->radius;
    z.gnorm0 = o->gnorm0;
    *t = z;
    return 0;
}

void pd_tron_free(pd_tron_t *t)
{
    free(t->x);
    free(t->g);
    free(t->s);
    free(t->r);
    free(t->d);
    free(t->trial);
    memset(t, 0, sizeof(*t));
}

static pd_solver_need_t finish(pd_tron_t *t, const char *why)
{
    t->phase = FINISHED;
    t->why = why;
    return PD_SOLVER_DONE;
}

pd_solver_need_t pd_tron_begin(pd_tron_t *t)
{
    t->phase = WANT_GRAD;
    return PD_SOLVER_GRAD;
}

const double *pd_tron_point(const pd_tron_t *t)
{
    return t->phase == WANT_LOSS ? t->trial : t->x;
}

const double *pd_tron_direction(const pd_tron_t *t)
{
    return t->d;
}

/* A new CG solve for the step from x within the radius: s = 0, r = d = −∇F. */
static pd_solver_need_t start_cg(pd_tron_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        t->s[i] = 0.0;
        t->r[i] = -t->g[i];
        t->d[i] = t->r[i];
    }
    t->rtr = t->gnorm * t->gnorm;
    t->cg_stop = t->o.cg_tolerance * t->gnorm;
    t->cg_in_step = 0;
    t->phase = WANT_HVP;
    return PD_SOLVER_HVP;
}

pd_solver_need_t pd_tron_on_grad(pd_tron_t *t, double f, const double *g)
{
    if (t->phase != WANT_GRAD) {
        return PD_SOLVER_DONE;
    }
    if (!isfinite(f) || !pd_wire_all_finite(g, t->n)) {
        return finish(t, "the objective or its gradient is not finite at the iterate");
    }
    memcpy(t->g, g, t->n * sizeof(double));
    t->f = f;
    t->gnorm = sqrt(pd_solver_dot(g, g, t->n));
    if (t->gnorm0 == 0.0) {
        t->gnorm0 = t->gnorm;
    }
    if (t->radius == 0.0) {
        t->radius = t->gnorm;
    }
    if (t->gnorm == 0.0 || t->gnorm <= t->o.tolerance * t->gnorm0) {
        return finish(t, "converged (gradient norm below solver_tolerance)");
    }
    return t->stall != NULL ? finish(t, t->stall) : start_cg(t);
}

/* τ ≥ 0 with ‖s + τd‖ = radius, for s inside the ball (TRON's stable form of the root). */
static double to_boundary(const pd_tron_t *t)
{
    double sd = pd_solver_dot(t->s, t->d, t->n), ss = pd_solver_dot(t->s, t->s, t->n);
    double dd = pd_solver_dot(t->d, t->d, t->n);
    double gap = t->radius * t->radius - ss;
    double rad = sqrt(sd * sd + dd * gap);

    return sd >= 0.0 ? gap / (sd + rad) : (rad - sd) / dd;
}

/* The CG solve has its step: the trial point and the model's predicted decrease. */
static pd_solver_need_t end_cg(pd_tron_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        t->trial[i] = t->x[i] + t->s[i];
    }
    t->gs = pd_solver_dot(t->g, t->s, t->n);
    /* q(s) = gᵀs + ½sᵀHs and Hs = −g − r, so −q(s) = −½(gᵀs − sᵀr) */
    t->prered = -0.5 * (t->gs - pd_solver_dot(t->s, t->r, t->n));
    t->snorm = sqrt(pd_solver_dot(t->s, t->s, t->n));
    t->phase = WANT_LOSS;
    return PD_SOLVER_LOSS;
}

pd_solver_need_t pd_tron_on_hvp(pd_tron_t *t, const double *hd)
{
    size_t n = t->n;

    if (t->phase != WANT_HVP) {
        return PD_SOLVER_DONE;
    }
    if (!pd_wire_all_finite(hd, n)) {
        return finish(t, "a Hessian-vector product is not finite");
    }
    t->cg_iters++;
    t->cg_in_step++;
    double dhd = pd_solver_dot(t->d, hd, n);
    double alpha = dhd > 0.0 ? t->rtr / dhd : INFINITY;
    bool outside = !(dhd > 0.0);
    if (!outside) {
        double ss = 0.0;
        for (size_t i = 0; i < n; i++) {
            double si = t->s[i] + alpha * t->d[i];
            ss += si * si;
        }
        outside = sqrt(ss) > t->radius;
    }
    if (outside) {
        /* the step leaves the region (or the curvature along d is not positive, which a
         * convex objective only shows through rounding): stop on its boundary */
        double tau = to_boundary(t);
        for (size_t i = 0; i < n; i++) {
            t->s[i] += tau * t->d[i];
            t->r[i] -= tau * hd[i];
        }
        return end_cg(t);
    }
    for (size_t i = 0; i < n; i++) {
        t->s[i] += alpha * t->d[i];
        t->r[i] -= alpha * hd[i];
    }
    double rnew = pd_solver_dot(t->r, t->r, n);
    if (sqrt(rnew) <= t->cg_stop || t->cg_in_step >= t->o.cg_max) {
        return end_cg(t);
    }
    double beta = rnew / t->rtr;
    for (size_t i = 0; i < n; i++) {
        t->d[i] = t->r[i] + beta * t->d[i];
    }
    t->rtr = rnew;
    return PD_SOLVER_HVP;
}

pd_solver_need_t pd_tron_on_loss(pd_tron_t *t, double fnew)
{
    if (t->phase != WANT_LOSS) {
        return PD_SOLVER_DONE;
    }
    double actred = isfinite(fnew) ? t->f - fnew : -INFINITY;
    double curv = isfinite(fnew) ? fnew - t->f - t->gs : INFINITY;
    double alpha = curv <= 0.0 ? SIGMA3 : fmax(SIGMA1, -0.5 * (t->gs / curv));

    t->newton_iters++;
    if (t->newton_iters == 1) {
        t->radius = fmin(t->radius, t->snorm);
    }
    if (actred < ETA0 * t->prered) {
        t->radius = fmin(alpha * t->snorm, SIGMA2 * t->radius);
    } else if (actred < ETA1 * t->prered) {
        t->radius = fmax(SIGMA1 * t->radius, fmin(alpha * t->snorm, SIGMA2 * t->radius));
    } else if (actred < ETA2 * t->prered) {
        t->radius = fmax(SIGMA1 * t->radius, fmin(alpha * t->snorm, SIGMA3 * t->radius));
    } else {
        t->radius = fmax(t->radius, fmin(alpha * t->snorm, SIGMA3 * t->radius));
    }
    bool accept = actred > ETA0 * t->prered;
    if (accept) {
        memcpy(t->x, t->trial, t->n * sizeof(double));
        t->f = fnew;
        t->moved = true;
    } else {
        t->rejected++;
    }
    /* TRON's two ends besides the gradient test: neither decrease is positive, or both are
     * within rounding of the objective, so no step can make progress. After an accepted
     * step they are judged once its gradient is known (it may pass the gradient test). */
    t->stall = NULL;
    if (actred <= 0.0 && t->prered <= 0.0) {
        t->stall = "no further decrease (actual and predicted decrease not positive)";
    } else if (fabs(actred) <= 1e-12 * fabs(t->f) && fabs(t->prered) <= 1e-12 * fabs(t->f)) {
        t->stall = "no further decrease (below 1e-12 of the objective)";
    } else if (!(t->radius > 0.0)) {
        t->stall = "the trust region shrank to nothing";
    }
    if (accept) {
        t->phase = WANT_GRAD;
        return PD_SOLVER_GRAD;
    }
    return t->stall != NULL ? finish(t, t->stall) : start_cg(t);
}
