/* lbfgs_core.h - limited-memory BFGS with a back-tracking (Armijo) line search, as a pure
 * state machine (solver.h). Each iteration's first trial point, the unit step along the
 * two-loop direction, asks for F and ∇F at once (it is accepted nearly always, and its
 * gradient is then the next iteration's); a rejected trial halves the step and asks for F
 * alone, and the point finally accepted for its gradient. No I/O, no allocation after init. */
#ifndef PD_SERVER_LBFGS_CORE_H
#define PD_SERVER_LBFGS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "solver.h"

typedef struct pd_lbfgs_opts {
    size_t memory;     /* pairs kept, ≥ 1 */
    double tolerance;  /* done when ‖∇F‖ ≤ tolerance·‖∇F(x₀)‖ (0: never) */
    double gnorm0;     /* > 0: ‖∇F(x₀)‖ of a resumed run, else the first gradient's */
} pd_lbfgs_opts_t;

typedef struct pd_lbfgs {
    size_t n, mem;
    pd_lbfgs_opts_t o;
    int phase;
    double *x, *g;         /* the iterate, ∇F there */
    double *x_prev, *g_prev; /* the previous iterate, for the pair of an accepted LOSS trial */
    double *dir, *trial;
    double *s, *y, *rho, *alpha; /* the pairs: a ring of mem, oldest at head */
    size_t count, head;
    double f, gnorm, gnorm0, step, slope;
    unsigned backtracks;
    uint64_t iters;        /* accepted steps */
    uint64_t trials;       /* trial points evaluated */
    uint64_t pairs_skipped;
    bool moved;            /* x changed since the driver last cleared it */
    const char *why;       /* PD_SOLVER_DONE: why */
} pd_lbfgs_t;

/* n coordinates starting at x0 (borrowed). 0, -EINVAL or -ENOMEM. */
int pd_lbfgs_init(pd_lbfgs_t *b, size_t n, const pd_lbfgs_opts_t *o, const double *x0);
void pd_lbfgs_free(pd_lbfgs_t *b);

/* The first request: F and ∇F at x₀. */
pd_solver_need_t pd_lbfgs_begin(pd_lbfgs_t *b);

/* Where the next GRAD or LOSS is to be taken. Borrowed, valid until the next call. */
const double *pd_lbfgs_point(const pd_lbfgs_t *b);

/* Results of the request last made; each returns the next one. A non-finite value at a trial
 * point fails the trial (the step halves); at the iterate it ends the run. */
pd_solver_need_t pd_lbfgs_on_grad(pd_lbfgs_t *b, double f, const double *g);
pd_solver_need_t pd_lbfgs_on_loss(pd_lbfgs_t *b, double f);

#endif
