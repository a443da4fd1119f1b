/* fosi_core.h - the FOSI step (ALGORITHMS.md §5.3) without the server around it: pure
 * numerics, float64, no I/O. method_fosi.c runs the Lanczos ESE over the workers and feeds
 * the eigenpairs here; every gradient step then goes through pd_fosi_step.
 *
 * State: the eigenvectors V (rows orthonormal, count × n; count = 0 before the first ESE),
 * their eigenvalues λ ordered bottom-l ascending then top-k ascending, r = |1/(λ + σ)|, the
 * Newton velocity u (n), the scale c_s. A step with gradient g:
 *     g1 = Vᵀ(V g); g2 = g − g1
 *     u  = g1 (sgd base) | g1 + βu (momentum) | (1 − β)g1 + βu (adam)
 *     d_N = Vᵀ(r ⊙ (V u))
 *     Δ_b = the base optimiser's step on g2, then Δ_b − Vᵀ(V Δ_b)
 *     x ← x + c_s·Δ_b − α·d_N
 * With count = 0 the base optimiser is applied to x itself, so the step is the base step bit
 * for bit (§5.9 oracle 4). The base optimiser is paramd's own (server/optim.c, no regulariser:
 * FOSI puts weight decay in the loss, §5.3).
 *
 * Replicated or sliced V. FOSI holds V whole (count × n). DHO2 (§5.6) holds it in P slices of
 * n_s = (n + P − n mod P)/P coordinates, zero-padded, as its shards would: slice p keeps the
 * columns [p·n_s, (p+1)·n_s) of every eigenvector. The coordinates V y of a vector are then
 * formed as the shards' reduction, one partial V_p y_p per slice added in slice order, and
 * Vᵀc is computed slice by slice; everything else is per coordinate. So a sliced step differs
 * from the replicated one only in the rounding of the (k + l)-vector reductions (§5.9
 * oracle 9). */
#ifndef PD_SERVER_FOSI_CORE_H
#define PD_SERVER_FOSI_CORE_H

#include <stddef.h>

#include "../optim.h"

#define PD_FOSI_MAX_PAIRS 128

typedef struct pd_fosi_opts {
    double alpha;   /* Newton scale α, (0, 1] */
    double clip;    /* c ≥ 1; forced to 1 with an adam base */
    double damping; /* σ added to the eigenvalues before inverting */
    size_t slices;  /* 0: V replicated (fosi); P ≥ 1: V in P padded slices (dho2) */
} pd_fosi_opts_t;

typedef struct pd_fosi {
    size_t n;
    size_t slices;     /* P (1 when replicated) */
    size_t n_s;        /* columns of V per slice (n when replicated) */
    size_t count;      /* eigenpairs held */
    size_t l;          /* of them, bottom pairs (first in order) */
    pd_fosi_opts_t o;
    double lambda[PD_FOSI_MAX_PAIRS];
    double r[PD_FOSI_MAX_PAIRS];
    double c_s;
    double *v;         /* slice p at v + p·count·n_s: count rows of n_s */
    double *u;         /* n */
    double *g2;        /* n scratch: the projected-off gradient */
    double *delta;     /* n scratch: the base step */
    double coef[PD_FOSI_MAX_PAIRS];
    double cu[PD_FOSI_MAX_PAIRS];      /* V u, kept along with u while V is fixed */
    double partial[PD_FOSI_MAX_PAIRS]; /* one slice's share of a reduction */
    double g1_ratio;   /* ‖g1‖/‖g‖ of the last step (0 before the first ESE) */
} pd_fosi_t;

/* State for n parameters, no eigenpairs yet (c_s = 1). 0, -EINVAL (n = 0, α outside (0, 1],
 * c < 1, σ not finite, more slices than parameters) or -ENOMEM; nothing to free on
 * failure. */
int pd_fosi_init(pd_fosi_t *f, size_t n, const pd_fosi_opts_t *o);
void pd_fosi_free(pd_fosi_t *f);

/* A refresh: count ≤ PD_FOSI_MAX_PAIRS eigenpairs (lambda and the rows of v, count × n, as
 * the Lanczos returns them, l of them bottom ones; sliced here when f is), r = |1/(λ + σ)| (0 where λ + σ = 0: that direction
 * takes no Newton step) and c_s = clip(r[l] / r[count − 1], 1, c) (1 with an adam base,
 * adam_base true). The velocity u is kept (the projection takes it into the new subspace).
 * 0 or -EINVAL (count 0 or too large, l ≥ count, a non-finite value). */
int pd_fosi_set_eigen(pd_fosi_t *f, const double *lambda, const double *v, size_t count,
                      size_t l, int base_kind);

/* Bytes of eigenvectors one slice holds: 8·count·n_s (8·count·n when replicated). */
size_t pd_fosi_slice_bytes(const pd_fosi_t *f);

/* One step on x with the mean gradient g (n values; the loss's l2 term included) and the
 * base optimiser o at step size lr (o's regulariser must be none), the Newton step scaled by
 * damp·α (damp: the factor a stale gradient's step size was cut by, 1 for none, so a stale
 * gradient moves less along the eigenvectors too). The velocity rule is the one of o->kind.
 * 0, or PD_ENONFINITE: the step would make x non-finite and nothing changed (x, u and o's
 * state as before). */
int pd_fosi_step(pd_fosi_t *f, pd_optim_t *o, double *x, const double *g, double lr,
                 double damp);

#endif
