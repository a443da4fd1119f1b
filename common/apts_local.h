/* apts_local.h - the APTS local subdomain solve of worker d (ALGORITHMS.md §4.2 [C]): s_loc TR
 * steps on the block objective f̃_d with the radius budget Δ_k, so ‖s_d‖_∞ ≤ Δ_k by
 * construction. Also a block view that turns a full objective into the block objective with
 * every other coordinate frozen at θ_k. Pure: no I/O; the callbacks do the evaluations. */
#ifndef PD_COMMON_APTS_LOCAL_H
#define PD_COMMON_APTS_LOCAL_H

#include <stdbool.h>
#include <stddef.h>

#include "lsr1.h"
#include "trust_region.h"

/* What a local solve reports to the server (the LOCAL_TR result of §4.5). */
typedef struct pd_apts_local_result {
    double pred;          /* pred_d: sum of the accepted local predicted decreases (of f̃_d) */
    double radius_acc;    /* δ_d^acc: radius of the first accepted local trial; if none was
                           * accepted, the radius of the last rejected trial (so that the
                           * server's halving matches a standard TR step, oracle 1) */
    bool any_accepted;
    double loss;          /* f_cb at the returned point (without the consistency term) */
    pd_tr_counters_t cnt; /* evaluations and decisions of this solve */
} pd_apts_local_result_t;

/* Runs the local solve on the block objective obj (obj->n = block length; obj->eval gets block
 * coordinates). theta0 = R_dθ_k (borrowed, length n). g_global = R_d∇f(θ_k) (borrowed) turns on
 * the first-order consistency term c = g_global − ∇f_d(R_dθ_k); NULL turns it off. radius = Δ_k
 * > 0, s_loc ≥ 1 steps, p the local radius rule (its radius_max is raised to Δ_k and the budget
 * rule of §4.2 resets the radius after each step). Writes s_d (length n) and *res. If c_norm is
 * not NULL it receives ‖c‖_∞ (0 without foc). bd (may be NULL: first-order steps) is the block
 * B_d of the server's L-SR1 memory (pd_lsr1_block / pd_lsr1_block_from, length obj->n): each
 * local trial step is then pd_lsr1_tr_solve(B_d, g̃, δ) in the 2-norm ball of the budget δ
 * (‖s‖_∞ ≤ ‖s‖₂ ≤ δ, so the budget rule ‖s_d‖_∞ ≤ Δ_k holds) and pred is that model's
 * −(g̃ᵀs + ½sᵀB_d s). bd's scratch is used, so one bd serves one solve at a time.
 * Returns 0, -ENOMEM, -EINVAL, or the callback's code. */
int pd_apts_local_solve(const pd_tr_objective_t *obj, const double *theta0, const double *g_global,
                        double radius, int s_loc, const pd_tr_params_t *p, const pd_lsr1_t *bd,
                        double *s_d, pd_apts_local_result_t *res, double *c_norm);

/* A block view of a full objective: eval(z_d) = full->eval(θ with block d := z_d) and the block
 * rows of the gradient. Owns two full-length scratch vectors; theta is copied at init (the frozen
 * θ_k) and borrowed for the call only. Not thread-safe (the scratch is shared by calls). */
typedef struct pd_apts_block_view {
    const pd_tr_objective_t *full;
    size_t offset, len;
    double *z, *g; /* owned, full->n each */
} pd_apts_block_view_t;

/* Returns 0 or -ENOMEM; on success *obj is the block objective (ctx = v). */
int pd_apts_block_view_init(pd_apts_block_view_t *v, const pd_tr_objective_t *full,
                            const double *theta, size_t offset, size_t len,
                            pd_tr_objective_t *obj);
void pd_apts_block_view_free(pd_apts_block_view_t *v);

#endif
