/* apts_core.h - one APTS outer iteration (ALGORITHMS.md §4.2) as a pure state machine, kept
 * apart from the loop like freya_core: it says what it needs next (a gradient or a loss at a
 * point, or the N local solves) and takes the answers, so method_apts.c drives it with
 * workers and tests/unit/check_apts.c drives it with a function in the same process.
 *
 * Iteration k from θ_k with radius Δ_k:
 *   GRAD at θ_k → N local solves (LOCAL_TR) → θ½ = θ_k + Σ_d R_dᵀ s_d (a missing block adds 0)
 *   → [safeguard] LOSS at θ½, back-tracking LOSSes while f(θ½) > f(θ_k)
 *   → global pass: GRAD at θ½, trial LOSSes of one TR step of radius Δ_k → θ_{k+1}, Δ_{k+1}
 *     or without it: the combined-ρ rule on Δ' = min_d δ_d^acc → θ_{k+1}, Δ_{k+1}.
 * If all five safeguard trials fail, θ½ = θ_k (a choice of this implementation, [D]: it keeps
 * full-batch runs monotone, §4.8 oracle 4; the global pass then starts from θ_k with g_k).
 *
 * Second order (opts.second_order, §4.4): the core owns an L-SR1 memory of the whole vector
 * (common/lsr1.h), offered one pair per outer iteration when ∇f(θ½) is in:
 *     s = θ½ − θ_k,  y = ∇f(θ½) − ∇f(θ_k).
 * We chose this pair, rather than (θ_{k+1} − θ_k, ∇f(θ_{k+1}) − ∇f(θ_k)), because both of its
 * gradients are computed in the same iteration on the same samples (the iteration's batch),
 * so y is the change of ONE function's gradient along s — a pair across two iterations would
 * mix two batches and, with apts_batch > 0, measure sampling noise as curvature. It also costs
 * nothing extra: ∇f(θ_{k+1}) is never computed. The pair enters before the trial step, so the
 * step of iteration k already uses the curvature along θ½ − θ_k. With safeguard_failed the pair
 * is zero and is counted as skipped (the memory's ‖s‖ rule). Each global trial is then
 *     s = argmin_{‖s‖₂ ≤ Δ} g½ᵀs + ½sᵀBs  (pd_lsr1_tr_solve), pred = −(g½ᵀs + ½sᵀBs),
 * recomputed with the halved radius after a rejection; ‖s‖_∞ ≤ ‖s‖₂ ≤ Δ, so the step stays in
 * the ∞-norm region of the first-order pass. Second order needs the global pass (there is no
 * ∇f(θ½) without it): pd_apts_init refuses second_order without global_pass. The core does no
 * local solves; the driver sends each block the rows of this memory (a->mem, with
 * pd_lsr1_minv; method_apts.c, common/apts_task.c) so the local steps use B_d, the principal
 * block of B. The memory is not checkpointed: a resumed run starts it empty. */
#ifndef PD_SERVER_APTS_CORE_H
#define PD_SERVER_APTS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsr1.h"
#include "trust_region.h"

#define PD_APTS_SAFEGUARD_TRIALS 5

typedef enum pd_apts_need {
    PD_APTS_NEED_GRAD = 0, /* f and ∇f at pd_apts_point() */
    PD_APTS_NEED_LOSS,     /* f at pd_apts_point() */
    PD_APTS_NEED_LOCAL,    /* the local solves of every block at θ_k (pd_apts_on_local) */
    PD_APTS_DONE,          /* θ_{k+1} and Δ_{k+1} are in place; pd_apts_begin starts k+1 */
} pd_apts_need_t;

typedef struct pd_apts_opts {
    pd_tr_params_t tr;   /* global radius rule (§4.3) */
    double radius0;      /* Δ_0 */
    bool global_pass;
    bool safeguard;
    bool second_order;   /* L-SR1 model in the global pass (needs global_pass) */
    size_t memory;       /* L-SR1 pairs kept (0: PD_LSR1_MEM_DEFAULT) */
} pd_apts_opts_t;

/* What one iteration did (reset by pd_apts_begin). */
typedef struct pd_apts_stats {
    double f_k, f_half, f_next; /* f(θ_k), f(θ½), f(θ_{k+1}) on the iteration's samples */
    double radius;              /* Δ_k */
    double rho;                 /* ρ of the global step, or ρ_comb without the global pass */
    bool accepted;              /* the global step (or the combined step) was accepted */
    uint32_t retries;           /* global trials recomputed after a rejection */
    uint32_t safeguard_backoffs;
    bool safeguard_failed;      /* all trials failed: θ½ = θ_k */
    uint32_t missing_blocks;
    double step_inf;            /* ‖θ½ − θ_k‖_∞ */
    double pred_sum;            /* Σ_d pred_d */
    uint32_t evals_grad, evals_loss; /* server-side passes over the samples */
    bool pair_offered;          /* second order: a pair was offered to the memory */
    bool pair_stored;           /* ... and entered it (otherwise it was skipped) */
} pd_apts_stats_t;

/* A block's report (the LOCAL_TR result fields the outer iteration uses). */
typedef struct pd_apts_block_report {
    double pred;
    double radius_acc;
    bool any_accepted;
} pd_apts_block_report_t;

typedef struct pd_apts {
    pd_apts_opts_t o;
    size_t n, n_blocks;
    size_t *offset, *len;   /* n_blocks each */
    double *theta;          /* θ_k, then θ_{k+1} */
    double *g;              /* ∇f(θ_k) */
    double *half;           /* θ½ */
    double *step;           /* Σ_d R_dᵀ s_d */
    double *g_half;         /* ∇f(θ½) */
    double *trial;          /* the point being evaluated */
    double *s_tr;           /* a TR step */
    uint8_t *received;      /* n_blocks */
    pd_apts_block_report_t *reports;
    double *block_step_inf; /* ‖s_d‖_∞ */
    double radius;          /* Δ_k */
    int phase;
    pd_apts_need_t need;    /* what the current phase waits for */
    const double *point;    /* where the next GRAD or LOSS is wanted */
    /* safeguard and global step bookkeeping */
    double sg_r, sg_w, trial_radius, trial_pred;
    uint32_t trials;
    pd_apts_stats_t st;
    pd_lsr1_t mem;          /* second order: the L-SR1 memory of the whole vector (n) */
    double *pair_s, *pair_y; /* second order: scratch for the pair (n each) */
} pd_apts_t;

/* n parameters, n_blocks blocks (offset/len copied), θ_0 copied. 0, -EINVAL or -ENOMEM. */
int pd_apts_init(pd_apts_t *a, const pd_apts_opts_t *o, size_t n, size_t n_blocks,
                 const size_t *offset, const size_t *len, const double *theta0);
void pd_apts_free(pd_apts_t *a);

/* Starts iteration k at a->theta with a->radius: returns NEED_GRAD. */
pd_apts_need_t pd_apts_begin(pd_apts_t *a);
/* The point the pending GRAD or LOSS is wanted at (n values, valid until the next call). */
const double *pd_apts_point(const pd_apts_t *a);
/* Answers to NEED_GRAD (f, g of n values) and NEED_LOSS; each returns what comes next (an
 * answer nobody asked for is ignored and returns the current need). A non-finite f counts
 * as no decrease. */
pd_apts_need_t pd_apts_on_grad(pd_apts_t *a, double f, const double *g);
pd_apts_need_t pd_apts_on_loss(pd_apts_t *a, double f);
/* During NEED_LOCAL: block d's step (len[d] values, ‖s_d‖_∞ ≤ Δ_k is enforced by scaling
 * a step that is longer, so a faulty worker cannot break oracle 2) and report. A second
 * answer for d is ignored. Returns true if it was taken. */
bool pd_apts_on_local(pd_apts_t *a, size_t d, const double *s_d,
                      const pd_apts_block_report_t *rep);
/* Ends NEED_LOCAL with the blocks received so far (the others contribute 0 and count as
 * missing); returns what comes next. */
pd_apts_need_t pd_apts_locals_done(pd_apts_t *a);

#endif
