/* quad.h - the synthetic quadratic finite sum of ALGORITHMS.md §3.8, as in the Freya PAGE
 * authors' simulation library:
 *   f_j(x) = 1/2 x^T A_j x - b_j^T x,  A_j = a_j s T + sigma I,  b_j = beta'_j e_1,
 * with T = tridiag(-1, 2, -1) in R^{d x d}, s = L/4 (L = 1), a_j = 1 + lambda_q N(0,1),
 * beta'_j = (-1 + lambda_q N(0,1)) a_j s, and one shift sigma = mu - lambda_min(mean of a_j s T)
 * that makes the mean f mu-strongly convex while single f_j may be nonconvex.
 * A component is three numbers, so the components are a pd_data_t of m rows with 2 columns,
 * (a_j s, sigma), and label beta'_j; the model (PD_MODEL_QUADRATIC, model_quad.c) sums the
 * coefficients of a batch first and applies T once, so a batch of n costs O(n + d). */
#ifndef PD_COMMON_QUAD_H
#define PD_COMMON_QUAD_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "model.h"

typedef struct pd_quad_params {
    size_t dim;     /* d */
    size_t m;       /* components */
    double noise;   /* lambda_q */
    double mu;      /* strong convexity of the mean */
    uint64_t seed;
} pd_quad_params_t;

/* Draw the m components (a_j, beta_j in this order from one pd_rng stream seeded with seed).
 * Returned: *out, free with pd_data_free(). 0, -EINVAL (dim or m is 0) or -ENOMEM. */
int pd_quad_generate(pd_data_t **out, const pd_quad_params_t *q);

/* The minimiser of the mean f: solves (mean A) x = (mean b) with the Thomas algorithm, and
 * f* = f(x*) computed through the model (so it matches the logged objective). xstar (dim) may
 * be NULL. 0, -ENOMEM, or PD_EDATA when the mean is not positive definite. */
int pd_quad_solve(const pd_model_t *m, const pd_data_t *d, double *xstar, double *fstar);

/* The starting point of the authors' experiments: x_0 = sqrt(d) e_1. */
void pd_quad_start(size_t dim, double *x);

/* L of the mean f: the largest |eigenvalue| of mean(a_j s) T + sigma I (exact). */
double pd_quad_lipschitz(const pd_model_t *m, const pd_data_t *d);

#endif
