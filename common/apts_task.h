/* apts_task.h - what an APTS LOCAL_TR task computes (ALGORITHMS.md §4.2, §4.5), shared by
 * paramd-worker and paramd-sim through the task table: the model's parameter block d, the
 * objective every APTS evaluation uses (mean loss over the task's samples plus (l2/2)‖x‖²
 * off the bias coordinates; the server adds the same term to its GRAD and LOSS sums), and the
 * local subdomain solve on that block. */
#ifndef PD_COMMON_APTS_TASK_H
#define PD_COMMON_APTS_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "compute.h"
#include "wire.h"

/* Block d of n_blocks of model m: the tensors (pd_model_tensors) split by the rule of
 * pd_apts_blocks. Writes the block's first coordinate and length. 0, or PD_EDIM when
 * n_blocks is 0 or exceeds the model's tensors, or d >= n_blocks. */
int pd_apts_model_block(const pd_model_t *m, uint32_t n_blocks, uint32_t d, size_t *offset,
                        size_t *len);

/* The APTS objective at x from one pass's sums over n samples, the one definition the worker's
 * local solve and the server's passes share: returns loss_sum/n + (l2/2) Σ mask_i x_i² (the
 * l2 term of pd_prox_value), and when g is not NULL turns the gradient sum in g into the
 * objective's gradient, g_i/n + l2 mask_i x_i. mask (pd_model_bias_mask) is 1 for weights and
 * 0 for biases. */
double pd_apts_objective(double l2, const double *mask, const double *x, size_t dim,
                         double loss_sum, uint64_t n, double *g);

/* The APTS objective over one sample set as a pd_tr_objective_t callback (ctx a
 * pd_apts_set_objective_t): *f = pd_apts_objective of a loss (g NULL) or gradient pass. */
typedef struct pd_apts_set_objective {
    pd_task_ctx_t *c;
    pd_sample_set_t set;
    double l2;
    const double *mask;
    size_t dim;
} pd_apts_set_objective_t;
int pd_apts_set_eval(void *ctx, const double *z, double *f, double *g);

/* Runs LOCAL_TR task t (its sample set and t->local_tr) at x: writes the block's step s_d to
 * out (block length, *out_len), the solve's report to *report (the task's LocalTr with the
 * result fields filled) and the samples evaluated per pass to *samples. g_block is the
 * block of the server's gradient (first-order consistency term on) or NULL (off). lsr1 is
 * the memory frame (pd_task_lsr1_len values: S_d, Y_d, M⁻¹) when t->local_tr.lsr1_pairs > 0
 * (second-order local steps with B_d, see pd_apts_local_solve), else ignored.
 * mask is scratch of the model's dim. 0 or a negative code (PD_EDIM for a bad block or
 * sample set, -EINVAL for a bad radius or local_iters or a missing or invalid memory frame,
 * -EDOM for a singular M⁻¹, -ENOMEM). */
int pd_apts_run_local_tr(pd_task_ctx_t *c, const pd_msg_t *t, const double *x,
                         const double *g_block, const double *lsr1, double *out,
                         size_t *out_len, double *mask, pd_local_tr_t *report,
                         size_t *samples);

#endif
