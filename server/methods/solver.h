/* solver.h - what the full-batch convex solvers (tron_core.c, lbfgs_core.c) ask their driver
 * for next. A solver is a pure state machine over one smooth objective F (mean loss plus the
 * l2 term): it never computes F itself, it names the next evaluation and is fed its result,
 * so the daemon can split each evaluation over workers and a single process can answer it
 * directly (bench/lbfgs). */
#ifndef PD_SERVER_SOLVER_H
#define PD_SERVER_SOLVER_H

#include <stddef.h>

typedef enum pd_solver_need {
    PD_SOLVER_GRAD = 0, /* F and ∇F at the solver's point */
    PD_SOLVER_LOSS,     /* F at the solver's point */
    PD_SOLVER_HVP,      /* ∇²F at the iterate times the solver's direction */
    PD_SOLVER_DONE,     /* finished: the reason is in the solver's `why` */
} pd_solver_need_t;

/* aᵀb summed in index order: the solvers' one inner product, so a run is the same bits
 * wherever its inputs are. */
static inline double pd_solver_dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;

    for (size_t i = 0; i < n; i++) {
        s += a[i] * b[i];
    }
    return s;
}

#endif
