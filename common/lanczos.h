/* lanczos.h - Lanczos extreme-spectrum estimation (ALGORITHMS.md §5.2, sliced as DHO2 §5.6).
 * Pure numerics, float64, no I/O, no clock.
 *
 * The caller owns the operator: it asks for the vector to multiply (pd_lanczos_vector), has
 * H q computed however it likes (paramd: HVP tasks over the workers), and feeds the product
 * back (pd_lanczos_feed). One run of `order` products (4(k + l) by default) builds the basis
 * Q with full re-orthogonalisation done twice, stops early when the Krylov space becomes
 * invariant, and yields the top-k and bottom-l Ritz pairs of the tridiagonal T = QᵀHQ.
 *
 * Slices. The coordinates are split into P slices of n_s = (n + spare)/P values, spare =
 * P − (n mod P) (always padded, as the DHO2 reference does), slice p owning [p·n_s,
 * (p+1)·n_s) of every basis vector; the padding is zero. Every inner product with the basis
 * is formed as the DHO2 shards form it, one partial per slice added in slice order (an
 * m-vector reduction), so a run with P slices is the distributed arithmetic on one machine
 * and P = 1 is plain Lanczos. Memory per slice: 8·order·n_s bytes of basis
 * (pd_lanczos_slice_bytes). The eigenvectors are returned in float64 (see lanczos.c).
 *
 * The start vector is z/‖z‖ with z ~ N(0, I_n) from pd_rng seeded with opts.seed (§5.2: 0),
 * drawn over the n real coordinates, so it does not depend on P. */
#ifndef PD_COMMON_LANCZOS_H
#define PD_COMMON_LANCZOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PD_LANCZOS_MAX_PAIRS 128 /* k + l */
#define PD_LANCZOS_MAX_ORDER 1024

typedef struct pd_lanczos_opts {
    size_t k;      /* top eigenpairs wanted, ≥ 1 */
    size_t l;      /* bottom eigenpairs wanted, ≥ 0 */
    size_t order;  /* products at most (m_L); 0 = 4(k + l); ≥ k + l */
    size_t slices; /* P ≥ 1 */
    uint64_t seed; /* start vector */
} pd_lanczos_opts_t;

typedef struct pd_lanczos {
    size_t n, k, l, order, slices, n_s;
    size_t iter;    /* products fed so far */
    size_t m;       /* basis vectors: order, or fewer after an early stop */
    bool done;
    bool early;     /* stopped on an invariant subspace */
    double *basis;  /* slice p, vector i at basis + (p·order + i)·n_s */
    double *q;      /* n: the current vector, assembled from the slices */
    double *w;      /* P·n_s: the product being orthogonalised, zero-padded */
    double *c;      /* order: the reduced coefficients Σ_p Q_p w_p */
    double *part;   /* order: one slice's partial */
    double *alpha;  /* order: diagonal of T */
    double *beta;   /* order: off-diagonal of T; beta[m−1] is the residual norm β_m */
} pd_lanczos_t;

/* A run for vectors of length n ≥ 1. 0, -EINVAL (bad option: k = 0, l > k, k + l > n or
 * > PD_LANCZOS_MAX_PAIRS, order < k + l or > PD_LANCZOS_MAX_ORDER, slices 0 or > n) or
 * -ENOMEM; on failure nothing needs freeing. order is capped at n (n products span R^n). */
int pd_lanczos_init(pd_lanczos_t *lz, size_t n, const pd_lanczos_opts_t *o);

/* Frees the run; safe on a zeroed struct, idempotent. */
void pd_lanczos_free(pd_lanczos_t *lz);

/* The vector q_i whose product H q_i is wanted next (n values), or NULL once done. */
const double *pd_lanczos_vector(const pd_lanczos_t *lz);

/* Takes w = H q_i (n values, not kept): α_i, the two re-orthogonalisations, β and the next
 * vector, or the end of the run (order reached, or β < 1e-10·max(1, |α_i|)). 0, -EINVAL
 * (done already, NULL) or PD_ENONFINITE (w not finite: the run is left as it was). */
int pd_lanczos_feed(pd_lanczos_t *lz, const double *w);

/* Eigen-decomposition of T once done: *count = k' + l' pairs with k' = min(k, m) and l' =
 * min(l, m − k'), eigenvalues ordered bottom-l' ascending then top-k' ascending in lambda,
 * their Ritz vectors as rows of v (count × n, unit length), and when resid is not NULL the
 * residual estimates |β_m·u_{m−1,j}| = ‖H v_j − λ_j v_j‖ of exact arithmetic. 0, -EINVAL
 * (not done), -ENOMEM or PD_ECONFIG (LAPACK dstev failed). */
int pd_lanczos_ritz(const pd_lanczos_t *lz, double *lambda, double *v, double *resid,
                    size_t *count);

/* The pairs pd_lanczos_ritz returns: *k = min(k, m) top and *l = min(l, m − *k) bottom. */
void pd_lanczos_pairs(const pd_lanczos_t *lz, size_t *k, size_t *l);

/* max |QQᵀ − I| over the basis built so far (the orthogonality loss metric). */
double pd_lanczos_orth_loss(const pd_lanczos_t *lz);

/* Bytes of basis one slice holds: 8·order·n_s. */
size_t pd_lanczos_slice_bytes(const pd_lanczos_t *lz);

#endif
