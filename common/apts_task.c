/* apts_task.c - see apts_task.h. Pure: no sockets, no clock. */
#include <config.h>
#include "apts_task.h"

#include <errno.h>
#include <math.h>

#include "apts_blocks.h"
#include "apts_local.h"
#include "lsr1.h"
#include "error.h"
#include "prox.h"

int pd_apts_model_block(const pd_model_t *m, uint32_t n_blocks, uint32_t d, size_t *offset,
                        size_t *len)
{
    size_t lengths[2 * PD_MLP_MAX_LAYERS + 2];
    size_t offs[2 * PD_MLP_MAX_LAYERS + 2], lens[2 * PD_MLP_MAX_LAYERS + 2];
    size_t n_tensors = pd_model_tensors(m, lengths, sizeof(lengths) / sizeof(lengths[0]));

    if (n_blocks == 0 || n_blocks > n_tensors || d >= n_blocks ||
        pd_apts_blocks(lengths, n_tensors, n_blocks, offs, lens) != 0) {
        return PD_EDIM;
    }
    *offset = offs[d];
    *len = lens[d];
    return 0;
}

double pd_apts_objective(double l2, const double *mask, const double *x, size_t dim,
                         double loss_sum, uint64_t n, double *g)
{
    pd_reg_t reg = {.kind = PD_REG_L2, .l2 = l2};

    if (g != NULL) {
        for (size_t i = 0; i < dim; i++) {
            g[i] = g[i] / (double)n + l2 * mask[i] * x[i];
        }
    }
    return loss_sum / (double)n + pd_prox_value(&reg, x, mask, dim);
}

int pd_apts_set_eval(void *ctx, const double *z, double *f, double *g)
{
    pd_apts_set_objective_t *o = ctx;
    double loss = 0.0;
    size_t n = 0;
    int rc;

    if (g != NULL) {
        rc = pd_task_grad_set(o->c, z, &o->set, g, &loss, &n);
    } else {
        rc = pd_task_loss(o->c, z, &o->set, &loss, &n);
    }
    if (rc != 0) {
        return rc;
    }
    *f = pd_apts_objective(o->l2, o->mask, z, o->dim, loss, n, g);
    return 0;
}

int pd_apts_run_local_tr(pd_task_ctx_t *c, const pd_msg_t *t, const double *x,
                         const double *g_block, const double *lsr1, double *out,
                         size_t *out_len, double *mask, pd_local_tr_t *report,
                         size_t *samples)
{
    const pd_local_tr_t *q = &t->local_tr;
    size_t dim = c->model->dim, offset = 0, len = 0;
    pd_apts_set_objective_t full_ctx = {c, {t->seed, t->batch, t->range_begin, t->range_end}, q->l2,
                                mask, dim};
    pd_tr_objective_t full = {pd_apts_set_eval, &full_ctx, dim}, block;
    pd_apts_block_view_t view = {0};
    pd_apts_local_result_t res;
    pd_lsr1_t bd = {0};
    const pd_lsr1_t *bdp = NULL;
    pd_tr_params_t p;
    double c_norm = 0.0;
    int rc;

    if (!t->has_local_tr || !(q->radius > 0.0) || !isfinite(q->radius) || q->local_iters == 0 ||
        !(q->l2 >= 0.0)) {
        return -EINVAL;
    }
    rc = pd_apts_model_block(c->model, q->n_blocks, q->block, &offset, &len);
    if (rc == 0) {
        rc = pd_task_samples(c, &full_ctx.set, samples);
    }
    if (rc != 0) {
        return rc;
    }
    if (q->lsr1_pairs > 0) {
        /* the block B_d of the server's memory: S_d, Y_d (len × m each), then M⁻¹ (m × m) */
        size_t m = q->lsr1_pairs;
        if (lsr1 == NULL) {
            return -EINVAL;
        }
        rc = pd_lsr1_block_from(&bd, len, m, q->lsr1_gamma, lsr1 + 2 * m * len, lsr1,
                                lsr1 + m * len);
        if (rc != 0) {
            return rc;
        }
        bdp = &bd;
    }
    pd_model_bias_mask(c->model, mask);
    rc = pd_apts_block_view_init(&view, &full, x, offset, len, &block);
    if (rc != 0) {
        goto done;
    }
    /* The local radius rule of §4.3: the global constants, local minimum radius 0. */
    pd_tr_params_default(&p);
    p.radius_min = 0.0;
    rc = pd_apts_local_solve(&block, x + offset, g_block, q->radius, (int)q->local_iters, &p,
                             bdp, out, &res, &c_norm);
    if (rc == 0) {
        *out_len = len;
        *report = *q;
        report->pred = res.pred;
        report->radius_acc = res.radius_acc;
        report->any_accepted = res.any_accepted;
        report->loss = res.loss;
        report->loss_evals = (uint32_t)res.cnt.loss_evals;
        report->grad_evals = (uint32_t)res.cnt.grad_evals;
        report->accepted = (uint32_t)res.cnt.accepted;
        report->rejected = (uint32_t)res.cnt.rejected;
        report->foc_norm = c_norm;
    }
    pd_apts_block_view_free(&view);
done:
    pd_lsr1_free(&bd);
    return rc;
}
