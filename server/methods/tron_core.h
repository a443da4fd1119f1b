/* tron_core.h - trust-region Newton with conjugate gradient for a smooth convex objective,
 * the algorithm of liblinear's TRON (Lin, Weng and Keerthi, "Trust region Newton method for
 * large-scale logistic regression", JMLR 2008), as a pure state machine (solver.h): every
 * conjugate-gradient iteration asks for one Hessian-vector product at the iterate, every
 * trial point for one objective value, every accepted point for one gradient. No I/O, no
 * allocation after init. */
#ifndef PD_SERVER_TRON_CORE_H
#define PD_SERVER_TRON_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "solver.h"

typedef struct pd_tron_opts {
    double tolerance;    /* done when ‖∇F‖ ≤ tolerance·‖∇F(x₀)‖ (0: never) */
    double cg_tolerance; /* a CG solve ends when ‖r‖ ≤ cg_tolerance·‖∇F‖ */
    size_t cg_max;       /* CG iterations per Newton step (0: n) */
    double radius;       /* > 0: the starting radius (a resumed run), else ‖∇F(x₀)‖ */
    double gnorm0;       /* > 0: ‖∇F(x₀)‖ of a resumed run, else the first gradient's */
} pd_tron_opts_t;

typedef struct pd_tron {
    size_t n;
    pd_tron_opts_t o;
    int phase;
    double *x, *g;       /* the iterate and ∇F there */
    double *s, *r, *d;   /* CG: step, residual −∇F − Hs, search direction */
    double *trial;       /* x + s */
    double f, gnorm, gnorm0, radius;
    double rtr, cg_stop; /* CG: rᵀr, the residual norm that ends the solve */
    double gs, prered, snorm; /* of the trial step */
    uint64_t newton_iters; /* trial steps judged (accepted or not) */
    uint64_t cg_iters;   /* CG iterations, all Newton steps */
    uint64_t rejected;   /* trial steps rejected */
    size_t cg_in_step;
    bool moved;          /* x changed since the driver last cleared it */
    const char *stall;   /* the last trial showed no progress is possible: end after the
                          * gradient of its point (unless that converged) */
    const char *why;     /* PD_SOLVER_DONE: why */
} pd_tron_t;

/* n coordinates starting at x0 (borrowed). 0, -EINVAL (a bad option) or -ENOMEM. */
int pd_tron_init(pd_tron_t *t, size_t n, const pd_tron_opts_t *o, const double *x0);
void pd_tron_free(pd_tron_t *t);

/* The first request: F and ∇F at x₀. */
pd_solver_need_t pd_tron_begin(pd_tron_t *t);

/* Where the next GRAD or LOSS is to be taken (the iterate or the trial point) and the
 * direction of the next HVP (taken at the iterate). Borrowed, valid until the next call. */
const double *pd_tron_point(const pd_tron_t *t);
const double *pd_tron_direction(const pd_tron_t *t);

/* Results of the request last made; each returns the next one. A non-finite objective at a
 * trial point is a failed trial (the radius shrinks); at the iterate, or a non-finite
 * gradient or product, it ends the run (DONE, why says so). */
pd_solver_need_t pd_tron_on_grad(pd_tron_t *t, double f, const double *g);
pd_solver_need_t pd_tron_on_loss(pd_tron_t *t, double f);
pd_solver_need_t pd_tron_on_hvp(pd_tron_t *t, const double *hd);

#endif
