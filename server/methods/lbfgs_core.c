/* lbfgs_core.c - see lbfgs_core.h. Direction by the two-loop recursion with H₀ = (sᵀy/yᵀy) I
 * of the newest pair; a pair is kept only when sᵀy > 1e-10 ‖s‖‖y‖ (with less curvature H
 * would lose positive definiteness to rounding); the first step of an empty memory is cut to
 * length 1. Plain loops in a fixed order, so a run is the same bits wherever its inputs are. */
#include <config.h>
#include "lbfgs_core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define ARMIJO_C1 1e-4
#define MAX_BACKTRACKS 30

enum { WANT_GRAD = 0, WANT_TRIAL_GRAD, WANT_TRIAL_LOSS, WANT_GRAD_AFTER_LOSS, FINISHED };

int pd_lbfgs_init(pd_lbfgs_t *b, size_t n, const pd_lbfgs_opts_t *o, const double *x0)
{
    pd_lbfgs_t z = {.n = n, .mem = o->memory, .o = *o, .gnorm0 = o->gnorm0};
    size_t pairs;

    if (n == 0 || o->memory == 0 || !(o->tolerance >= 0.0 && o->tolerance < 1.0) ||
        !(o->gnorm0 >= 0.0) || !isfinite(o->gnorm0) ||
        __builtin_mul_overflow(n, o->memory, &pairs)) {
        return -EINVAL;
    }
    z.x = malloc(n * sizeof(double));
    z.g = malloc(n * sizeof(double));
    z.x_prev = malloc(n * sizeof(double));
    z.g_prev = malloc(n * sizeof(double));
    z.dir = malloc(n * sizeof(double));
    z.trial = malloc(n * sizeof(double));
    z.s = malloc(pairs * sizeof(double));
    z.y = malloc(pairs * sizeof(double));
    z.rho = malloc(o->memory * sizeof(double));
    z.alpha = malloc(o->memory * sizeof(double));
    if (z.x == NULL || z.g == NULL || z.x_prev == NULL || z.g_prev == NULL || z.dir == NULL ||
        z.trial == NULL || z.s == NULL || z.y == NULL || z.rho == NULL || z.alpha == NULL) {
        pd_lbfgs_free(&z);
        return -ENOMEM;
    }
    memcpy(z.x, x0, n * sizeof(double));
    *b = z;
    return 0;
}

void pd_lbfgs_free(pd_lbfgs_t *b)
{
    free(b->x);
    free(b->g);
    free(b->x_prev);
    free(b->g_prev);
    free(b->dir);
    free(b->trial);
    free(b->s);
    free(b->y);
    free(b->rho);
    free(b->alpha);
    memset(b, 0, sizeof(*b));
}

static pd_solver_need_t finish(pd_lbfgs_t *b, const char *why)
{
    b->phase = FINISHED;
    b->why = why;
    return PD_SOLVER_DONE;
}

pd_solver_need_t pd_lbfgs_begin(pd_lbfgs_t *b)
{
    b->phase = WANT_GRAD;
    return PD_SOLVER_GRAD;
}

const double *pd_lbfgs_point(const pd_lbfgs_t *b)
{
    return b->phase == WANT_TRIAL_GRAD || b->phase == WANT_TRIAL_LOSS ? b->trial : b->x;
}

/* dir = −H g by the two-loop recursion over the pairs, oldest to newest. */
static void two_loop(pd_lbfgs_t *b)
{
    size_t n = b->n;
    double gamma = 1.0;

    for (size_t i = 0; i < n; i++) {
        b->dir[i] = -b->g[i];
    }
    for (size_t j = b->count; j-- > 0;) {
        size_t c = (b->head + j) % b->mem;
        const double *s = b->s + c * n, *y = b->y + c * n;
        b->alpha[c] = b->rho[c] * pd_solver_dot(s, b->dir, n);
        for (size_t i = 0; i < n; i++) {
            b->dir[i] -= b->alpha[c] * y[i];
        }
    }
    if (b->count > 0) {
        size_t c = (b->head + b->count - 1) % b->mem;
        const double *y = b->y + c * n;
        gamma = 1.0 / (b->rho[c] * pd_solver_dot(y, y, n));
    }
    for (size_t i = 0; i < n; i++) {
        b->dir[i] *= gamma;
    }
    for (size_t j = 0; j < b->count; j++) {
        size_t c = (b->head + j) % b->mem;
        const double *s = b->s + c * n, *y = b->y + c * n;
        double beta = b->rho[c] * pd_solver_dot(y, b->dir, n);
        for (size_t i = 0; i < n; i++) {
            b->dir[i] += (b->alpha[c] - beta) * s[i];
        }
    }
}

/* The pair (x − x_prev, g − g_prev), kept when it shows enough curvature. */
static void push_pair(pd_lbfgs_t *b)
{
    size_t n = b->n;
    size_t c = b->count < b->mem ? (b->head + b->count) % b->mem : b->head;
    double *s = b->s + c * n, *y = b->y + c * n;

    for (size_t i = 0; i < n; i++) {
        s[i] = b->x[i] - b->x_prev[i];
        y[i] = b->g[i] - b->g_prev[i];
    }
    double sy = pd_solver_dot(s, y, n);
    if (!(sy > 1e-10 * sqrt(pd_solver_dot(s, s, n)) * sqrt(pd_solver_dot(y, y, n)))) {
        b->pairs_skipped++;
        return;
    }
    b->rho[c] = 1.0 / sy;
    if (b->count < b->mem) {
        b->count++;
    } else {
        b->head = (b->head + 1) % b->mem;
    }
}

static void set_trial(pd_lbfgs_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        b->trial[i] = b->x[i] + b->step * b->dir[i];
    }
}

/* x and g are the new iterate's: stop, or the next direction's unit step as a GRAD trial. */
static pd_solver_need_t next_iteration(pd_lbfgs_t *b)
{
    b->gnorm = sqrt(pd_solver_dot(b->g, b->g, b->n));
    if (b->gnorm0 == 0.0) {
        b->gnorm0 = b->gnorm;
    }
    if (b->gnorm == 0.0 || b->gnorm <= b->o.tolerance * b->gnorm0) {
        return finish(b, "converged (gradient norm below solver_tolerance)");
    }
    two_loop(b);
    b->slope = pd_solver_dot(b->g, b->dir, b->n);
    if (!(b->slope < 0.0)) {
        /* H lost positive definiteness to rounding: start again from steepest descent */
        b->count = 0;
        two_loop(b);
        b->slope = -b->gnorm * b->gnorm;
    }
    b->step = b->count == 0 ? fmin(1.0, 1.0 / b->gnorm) : 1.0;
    b->backtracks = 0;
    set_trial(b);
    b->trials++;
    b->phase = WANT_TRIAL_GRAD;
    return PD_SOLVER_GRAD;
}

static bool armijo(const pd_lbfgs_t *b, double fnew)
{
    return isfinite(fnew) && fnew <= b->f + ARMIJO_C1 * b->step * b->slope;
}

/* The trial failed: half the step, its value alone next. */
static pd_solver_need_t backtrack(pd_lbfgs_t *b)
{
    if (++b->backtracks > MAX_BACKTRACKS) {
        return finish(b, "no further decrease (the line search found no lower point)");
    }
    b->step *= 0.5;
    set_trial(b);
    b->trials++;
    b->phase = WANT_TRIAL_LOSS;
    return PD_SOLVER_LOSS;
}

/* The trial point becomes the iterate. */
static void accept(pd_lbfgs_t *b, double fnew)
{
    memcpy(b->x_prev, b->x, b->n * sizeof(double));
    memcpy(b->g_prev, b->g, b->n * sizeof(double));
    memcpy(b->x, b->trial, b->n * sizeof(double));
    b->f = fnew;
    b->iters++;
    b->moved = true;
}

pd_solver_need_t pd_lbfgs_on_grad(pd_lbfgs_t *b, double f, const double *g)
{
    bool finite = isfinite(f) && pd_wire_all_finite(g, b->n);

    switch (b->phase) {
    case WANT_GRAD:
    case WANT_GRAD_AFTER_LOSS:
        if (!finite) {
            return finish(b, "the objective or its gradient is not finite at the iterate");
        }
        memcpy(b->g, g, b->n * sizeof(double));
        b->f = f;
        if (b->phase == WANT_GRAD_AFTER_LOSS) {
            push_pair(b);
        }
        return next_iteration(b);
    case WANT_TRIAL_GRAD:
        if (!finite || !armijo(b, f)) {
            return backtrack(b);
        }
        accept(b, f);
        memcpy(b->g, g, b->n * sizeof(double));
        push_pair(b);
        return next_iteration(b);
    default:
        return PD_SOLVER_DONE;
    }
}

pd_solver_need_t pd_lbfgs_on_loss(pd_lbfgs_t *b, double f)
{
    if (b->phase != WANT_TRIAL_LOSS) {
        return PD_SOLVER_DONE;
    }
    if (!armijo(b, f)) {
        return backtrack(b);
    }
    accept(b, f);
    b->phase = WANT_GRAD_AFTER_LOSS;
    return PD_SOLVER_GRAD;
}
