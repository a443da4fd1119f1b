/* task_kind.c - see task_kind.h. Pure: no sockets, no clock. */
#include <config.h>
#include "task_kind.h"

#include <string.h>

#include "apts_task.h"
#include "error.h"

pd_sample_set_t pd_task_sample_set(uint64_t seed, uint32_t batch, uint64_t range_begin,
                                   uint64_t range_end)
{
    return (pd_sample_set_t){.seed = seed, .batch = batch, .begin = range_begin, .end = range_end};
}

uint64_t pd_task_expected_samples(int k, uint32_t batch, uint64_t range_begin, uint64_t range_end)
{
    uint64_t range = range_end > range_begin ? range_end - range_begin : 0;

    if (k == PD_TASK_EVAL) {
        return range;
    }
    return batch == 0 || range_end > 0 ? range : batch;
}

static pd_sample_set_t set_of(const pd_msg_t *t)
{
    return pd_task_sample_set(t->seed, t->batch, t->range_begin, t->range_end);
}

static int run_grad(pd_task_ctx_t *c, const pd_msg_t *t, pd_task_io_t *io)
{
    pd_sample_set_t set = set_of(t);
    size_t n = 0;
    int rc;

    if (io->keys != NULL) {
        rc = pd_task_grad_keys(c, io->x, &set, io->keys, io->n_keys, io->out, &io->loss_sum, &n);
        io->out_len = io->n_keys;
    } else {
        rc = pd_task_grad_set(c, io->x, &set, io->out, &io->loss_sum, &n);
    }
    io->samples = io->touched = n;
    return rc;
}

static int run_grad_diff(pd_task_ctx_t *c, const pd_msg_t *t, pd_task_io_t *io)
{
    io->samples = t->batch;
    io->touched = io->samples;
    return pd_task_grad_diff(c, io->x, io->y, t->seed, t->batch, io->out, io->scratch,
                             &io->loss_sum);
}

static int run_eval(pd_task_ctx_t *c, const pd_msg_t *t, pd_task_io_t *io)
{
    io->samples = t->range_end - t->range_begin;
    io->touched = io->samples + (t->test_end - t->test_begin);
    return pd_task_eval(c, io->x, t->range_begin, t->range_end, t->test_begin, t->test_end,
                        &io->loss_sum, &io->correct);
}

static int run_loss(pd_task_ctx_t *c, const pd_msg_t *t, pd_task_io_t *io)
{
    pd_sample_set_t set = set_of(t);
    size_t n = 0;
    int rc = pd_task_loss(c, io->x, &set, &io->loss_sum, &n);

    io->samples = io->touched = n;
    return rc;
}

static int run_hvp(pd_task_ctx_t *c, const pd_msg_t *t, pd_task_io_t *io)
{
    pd_sample_set_t set = set_of(t);
    size_t n = 0;
    int rc = pd_task_hvp(c, io->x, io->y, &set, io->out, &n);

    io->samples = io->touched = n;
    io->loss_sum = 0.0; /* an HVP reports no loss */
    return rc;
}

/* A local solve's passes, a loss pass counting half a gradient pass (cost_per_sample 1). */
static uint64_t local_tr_touched(uint64_t n, const pd_local_tr_t *r)
{
    return n * r->grad_evals + n * r->loss_evals / 2;
}

static int run_local_tr(pd_task_ctx_t *c, const pd_msg_t *t, pd_task_io_t *io)
{
    size_t n = 0;
    int rc = pd_apts_run_local_tr(c, t, io->x, io->y, io->lsr1, io->out, &io->out_len,
                                  io->scratch, &io->local_tr, &n);

    if (rc != 0) {
        return rc;
    }
    io->samples = n;
    io->touched = local_tr_touched(n, &io->local_tr);
    /* The sum form of the local objective, like every other kind's loss_sum, so that a
     * diverging block shows as a non-finite loss_sum in the server's checks. */
    io->loss_sum = io->local_tr.loss * (double)n;
    return 0;
}

int pd_task_frame2_len(const pd_model_t *m, const pd_msg_t *t, size_t *len)
{
    const pd_task_kind_info_t *k = pd_task_kind_info(t->kind);
    size_t offset;

    if (k != NULL && k->frame2 == PD_FRAME2_BLOCK) {
        if (!t->has_local_tr) {
            return PD_EDIM;
        }
        return pd_apts_model_block(m, t->local_tr.n_blocks, t->local_tr.block, &offset, len);
    }
    *len = m->dim;
    return 0;
}

int pd_task_lsr1_len(const pd_model_t *m, const pd_msg_t *t, size_t *len)
{
    size_t offset, len_d, pairs;
    int rc;

    *len = 0;
    if (t->kind != PD_TASK_LOCAL_TR || !t->has_local_tr || t->local_tr.lsr1_pairs == 0) {
        return 0;
    }
    rc = pd_apts_model_block(m, t->local_tr.n_blocks, t->local_tr.block, &offset, &len_d);
    if (rc == 0) {
        pairs = t->local_tr.lsr1_pairs; /* ≤ 64 (wire.c) */
        *len = 2 * pairs * len_d + pairs * pairs;
    }
    return rc;
}

/* Indexed by pd_task_kind_t. LOCAL_TR: frames x, the optional gradient block and, with
 * local_tr.lsr1_pairs > 0, the L-SR1 memory block last (see pd_task_frame2_t). */
static const pd_task_kind_info_t rows[PD_TASK__COUNT] = {
    [PD_TASK_GRAD] = {"GRAD", PD_FRAME2_NONE, 1, 1.0, run_grad},
    [PD_TASK_EVAL] = {"EVAL", PD_FRAME2_NONE, 0, 0.5, run_eval},
    [PD_TASK_GRAD_DIFF] = {"GRAD_DIFF", PD_FRAME2_POINT, 1, 2.0, run_grad_diff},
    [PD_TASK_LOSS] = {"LOSS", PD_FRAME2_NONE, 0, 0.5, run_loss},
    [PD_TASK_HVP] = {"HVP", PD_FRAME2_VECTOR, 1, 2.0, run_hvp},
    [PD_TASK_LOCAL_TR] = {"LOCAL_TR", PD_FRAME2_BLOCK, 1, 1.0, run_local_tr},
};

const pd_task_kind_info_t *pd_task_kind_info(int k)
{
    if (k <= PD_TASK_NONE || k >= PD_TASK__COUNT) {
        return NULL;
    }
    return &rows[k];
}

double pd_task_result_cost(const pd_msg_t *r)
{
    const pd_task_kind_info_t *k = pd_task_kind_info(r->kind);

    if (k == NULL || r->kind == PD_TASK_EVAL) {
        return 0.0;
    }
    if (r->kind == PD_TASK_LOCAL_TR) {
        return r->has_local_tr ? (double)local_tr_touched(r->n_samples, &r->local_tr) : 0.0;
    }
    return k->cost_per_sample * (double)r->n_samples;
}
