/* lsr1.h - limited-memory SR1 secant memory in compact form and its trust-region subproblem
 * (ALGORITHMS.md / APTS §4.4). Pure numerics, float64, no I/O.
 *
 * The memory keeps at most `mem` pairs (s_j, y_j), oldest first, and represents
 *     B = γI + Ψ M Ψᵀ,   Ψ = Y − γS (n×m),   M⁻¹ = D + L + Lᵀ − γSᵀS,
 * with D = diag(SᵀY), L = the strictly lower triangle of SᵀY and γ = yᵀy/sᵀy of the newest
 * pair (1 when |sᵀy/yᵀy| < 1e-15 or when the memory is empty). M is never formed: the LU
 * factors of M⁻¹ (partial pivoting) are kept and solved against in every product, because
 * M⁻¹ is small (m ≤ mem) and indefinite in general, and a solve is as cheap as a multiply.
 *
 * Update rules: a pair is kept only if ‖s‖₂ > 1e-6 and ‖y‖₂ > 1e-6, and skipped when
 * |sᵀ(y − Bs)| ≤ 1e-8·‖s‖·‖y − Bs‖ with B the matrix before the update (≤ rather than <, so that
 * a pair B already satisfies exactly, y = Bs, is skipped: its SR1 correction is 0/0). When the
 * memory is full the oldest pair is dropped (FIFO). If M⁻¹ of the new set is singular (a pivot
 * below 1e-14 × max|M⁻¹|), the oldest pairs are dropped one by one until it is not, or until the
 * memory is empty (B = I). After every accepted update B s_new = y_new up to rounding; on a
 * quadratic every stored pair satisfies B s_j = y_j.
 *
 * Storage: column j (0 = oldest) of S, Y and Ψ starts at s + j·n, y + j·n, psi + j·n (column-
 * major n×count, leading dimension n); dropping the oldest pair shifts the columns. The struct
 * also owns scratch used by pd_lsr1_apply, pd_lsr1_update and pd_lsr1_tr_solve, so those never
 * allocate, and so ONE memory must not be used from two threads at once (not even for apply).
 *
 * Block restriction (pd_lsr1_block): the block memory for coordinates [offset, offset+len)
 * keeps the GLOBAL γ and the GLOBAL M (its LU factors, computed from the full vectors) and the
 * block rows of S, Y and Ψ, so B_d = γI + Ψ_d M Ψ_dᵀ is exactly the principal (diagonal) block
 * of the global B: B_d v_d = (B v)[block] for v equal to v_d on the block and zero elsewhere.
 * We chose this over rebuilding a memory from the restricted pairs (S_d, Y_d) because y_d is not
 * the gradient change the step s_d alone produced (the other blocks moved too), so a rebuilt M_d
 * and γ_d would describe no model of f at all, could be singular when the global one is not,
 * and would make the local solvers' models disagree with the global model on block-supported
 * steps. A block memory is frozen: pd_lsr1_update on it returns -EINVAL. */
#ifndef PD_COMMON_LSR1_H
#define PD_COMMON_LSR1_H

#include <stdbool.h>
#include <stddef.h>

#define PD_LSR1_MEM_DEFAULT 5 /* §4.4 */
#define PD_LSR1_MEM_MAX 64    /* the dense solves are hand-written O(m³); keep m small */

#define PD_LSR1_MIN_NORM 1e-6    /* ‖s‖, ‖y‖ must exceed this */
#define PD_LSR1_SKIP_TOL 1e-8    /* SR1 denominator test */
#define PD_LSR1_GAMMA_TOL 1e-15  /* |sᵀy/yᵀy| below this → γ = 1 */
#define PD_LSR1_PIVOT_TOL 1e-14  /* relative pivot threshold of the M⁻¹ solve */
#define PD_LSR1_CG_TOL 1e-6      /* Steihaug–Toint CG stops at ‖r‖ < tol·‖g‖ */
#define PD_LSR1_CG_MAX_ITER 50

typedef struct pd_lsr1 {
    size_t n;     /* vector length */
    size_t mem;   /* capacity (pairs) */
    size_t count; /* pairs stored, ≤ mem */
    double gamma; /* γ of the current B */
    double *s, *y, *psi; /* mem·n each, column-major, oldest column first */
    double *lu;          /* mem·mem: LU factors of M⁻¹ (count×count, row-major, stride mem) */
    size_t *piv;         /* mem: row permutation of the LU */
    double *sy, *ss;     /* mem·mem scratch: SᵀY and SᵀS while rebuilding */
    double *work_m;      /* 2·mem scratch for products */
    double *work_n;      /* 3·n scratch for update and the CG */
    bool frozen;         /* a block memory: no updates */
    /* counters */
    size_t pairs_stored;     /* updates that entered the memory */
    size_t pairs_skipped;    /* skipped_small + skipped_sr1 */
    size_t skipped_small;    /* ‖s‖ or ‖y‖ ≤ 1e-6 */
    size_t skipped_sr1;      /* |sᵀ(y − Bs)| ≤ 1e-8‖s‖‖y − Bs‖ */
    size_t dropped_fifo;     /* oldest pair dropped because the memory was full */
    size_t dropped_singular; /* pairs dropped because M⁻¹ was singular */
} pd_lsr1_t;

/* Empty memory for vectors of length n ≥ 1 and capacity mem (0 selects PD_LSR1_MEM_DEFAULT,
 * at most PD_LSR1_MEM_MAX). B = I. Returns 0, -EINVAL or -ENOMEM (then *b needs no free). */
int pd_lsr1_init(pd_lsr1_t *b, size_t n, size_t mem);

/* Frees what pd_lsr1_init or pd_lsr1_block allocated; safe on a zeroed struct, idempotent. */
void pd_lsr1_free(pd_lsr1_t *b);

/* Offers the pair s = z_{k+1} − z_k, y = g_{k+1} − g_k (length n, copied). Returns 0 when the
 * pair is in the memory afterwards, 1 when it is not (skipped by a rule above, or dropped
 * because even alone it made M⁻¹ singular; the counters say which), -EINVAL on NULL, a
 * non-finite entry or a frozen (block) memory. */
int pd_lsr1_update(pd_lsr1_t *b, const double *s, const double *y);

/* out = B v (length n). out may alias v. Uses b's scratch. Returns 0 or -EINVAL (NULL). */
int pd_lsr1_apply(const pd_lsr1_t *b, const double *v, double *out);

/* Steihaug–Toint truncated CG for s = argmin_{‖s‖₂ ≤ radius} gᵀs + ½sᵀBs with B-products,
 * stopping at ‖r‖₂ < 1e-6‖g‖₂ or after 50 iterations; negative (or zero) curvature and a step
 * leaving the ball go to the boundary along the current direction. *pred = −(gᵀs + ½sᵀBs),
 * recomputed from the final s (> 0 whenever g ≠ 0; g = 0 gives s = 0 and *pred = 0).
 * ‖s‖₂ ≤ radius always. s must not alias g. radius must be finite and > 0.
 * Returns 0 or -EINVAL. Uses b's scratch. */
int pd_lsr1_tr_solve(const pd_lsr1_t *b, const double *g, double radius, double *s,
                     double *pred);

/* *out = the frozen block memory of coordinates [offset, offset+len) (see the header comment:
 * global γ and M, block rows of S, Y, Ψ; B_d is the principal block of B). *out owns copies and
 * stays valid after later updates of b (it then describes the old B). Free it with
 * pd_lsr1_free. Returns 0, -EINVAL (len = 0 or the range outside [0, n)) or -ENOMEM. */
int pd_lsr1_block(const pd_lsr1_t *b, size_t offset, size_t len, pd_lsr1_t *out);

/* The memory as data another process can rebuild a block memory from (the LOCAL_TR task's
 * third frame, ALGORITHMS.md §4.4): writes M⁻¹ = D + L + Lᵀ − γSᵀS of the stored pairs,
 * count×count row-major, to minv (count² values; nothing when count = 0). It is recomputed
 * from S and Y because the struct keeps only its LU factors. Returns 0 or -EINVAL. */
int pd_lsr1_minv(const pd_lsr1_t *b, double *minv);

/* *out = the frozen block memory of length len from count ≤ PD_LSR1_MEM_MAX pairs: the block
 * rows s_d and y_d (column-major len×count, column j of s_d at s_d + j·len), the global γ and
 * the global M⁻¹ (count×count row-major, from pd_lsr1_minv). Ψ_d = Y_d − γS_d and the LU of
 * M⁻¹ are formed here; with the data of pd_lsr1_minv and the block rows of b this gives the
 * same B_d as pd_lsr1_block(b, ...) (same factorisation of the same matrix). count = 0 gives
 * B = I. Returns 0, -EINVAL (len = 0, count too large, a non-finite value, γ = 0 or, with
 * count > 0, not finite), -EDOM (M⁻¹ singular: it cannot be the matrix of a valid memory) or
 * -ENOMEM; on failure *out needs no free. */
int pd_lsr1_block_from(pd_lsr1_t *out, size_t len, size_t count, double gamma,
                       const double *minv, const double *s_d, const double *y_d);

/* Stored pair j (0 = oldest, j < count); NULL when out of range. */
const double *pd_lsr1_pair_s(const pd_lsr1_t *b, size_t j);
const double *pd_lsr1_pair_y(const pd_lsr1_t *b, size_t j);

#endif
