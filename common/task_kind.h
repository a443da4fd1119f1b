/* task_kind.h - one row per task kind (DESIGN.md "Methods and tasks"): the frames a TASK
 * carries and a RESULT returns, the samples the result sums, its cost on the simulated
 * clock, and its pure computation. paramd-worker, paramd-sim and the daemon's RESULT checks
 * all read this table, so a new kind is a row plus a compute function. */
#ifndef PD_COMMON_TASK_KIND_H
#define PD_COMMON_TASK_KIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compute.h"
#include "wire.h"

/* What the second parameter frame of a TASK is. */
typedef enum pd_task_frame2 {
    PD_FRAME2_NONE = 0, /* one frame (x), omitted when the worker holds that version */
    PD_FRAME2_POINT,    /* a second point y, the snapshot of version_y (GRAD_DIFF) */
    PD_FRAME2_VECTOR,   /* a direction q of dim values (HVP) */
    PD_FRAME2_BLOCK,    /* optional: the server's gradient on the task's parameter block, of
                         * the block's length (LOCAL_TR with the consistency term). A LOCAL_TR
                         * with local_tr.lsr1_pairs = m > 0 carries one more frame, always
                         * last, with x always sent: the block of the server's L-SR1 memory,
                         * pd_task_lsr1_len values (S_d, Y_d, M⁻¹; proto LocalTr) — so its
                         * frames are x, [gradient block], memory block */
} pd_task_frame2_t;

/* Borrowed inputs and outputs of one computation. out has dim entries for kinds with a
 * result frame; scratch has dim entries. */
typedef struct pd_task_io {
    const double *x;
    const double *y; /* frame 2, else NULL */
    const double *lsr1; /* LOCAL_TR with lsr1_pairs > 0: the memory frame, else NULL */
    const uint64_t *keys; /* GRAD with a key list: the keys (x is valid there), else NULL */
    size_t n_keys;
    double *out;
    size_t out_len;  /* values of out the result frame carries: dim, unless run says less */
    double *scratch;
    pd_local_tr_t local_tr; /* LOCAL_TR: the task's fields with the result fields, set by run */
    double loss_sum;   /* set by run */
    uint64_t correct;  /* EVAL */
    uint64_t samples;  /* training samples summed */
    uint64_t touched;  /* samples the cost counts (EVAL: train and test ranges) */
} pd_task_io_t;

typedef struct pd_task_kind_info {
    const char *name;
    pd_task_frame2_t frame2;
    uint32_t result_frames; /* 1: a dim-long vector; 0: scalars only */
    /* Per-sample gradient evaluations one sample costs on the simulated clock
     * (ALGORITHMS.md §0.5: GRAD 1, GRAD_DIFF 2 [C], HVP 2, LOSS and EVAL 1/2 [D]; LOCAL_TR
     * 1 per touched sample, run counting a gradient pass as n and a loss pass as n/2). */
    double cost_per_sample;
    int (*run)(pd_task_ctx_t *c, const pd_msg_t *task, pd_task_io_t *io);
} pd_task_kind_info_t;

/* The row of kind k, or NULL for NONE and unknown kinds. */
const pd_task_kind_info_t *pd_task_kind_info(int k);

/* Gradient-equivalent evaluations (per-sample gradients, cost_per_sample weights) that a
 * training RESULT r reports doing: the unit in which methods' work is compared. 0 for EVAL,
 * which is monitoring, not training. */
double pd_task_result_cost(const pd_msg_t *r);

/* The length frame 2 of task t must have (its kind's frame2 is not NONE): dim, or for
 * PD_FRAME2_BLOCK the length of the task's APTS block. 0 or PD_EDIM (no such block). */
int pd_task_frame2_len(const pd_model_t *m, const pd_msg_t *t, size_t *len);

/* LOCAL_TR task t with t->local_tr.lsr1_pairs = m > 0: *len = 2·m·len_d + m² (the memory
 * frame), with len_d the block's length; 0 when m = 0. 0 or PD_EDIM (no such block). */
int pd_task_lsr1_len(const pd_model_t *m, const pd_msg_t *t, size_t *len);

/* The sample set of a task's header fields (compute.h pd_sample_set_t). */
pd_sample_set_t pd_task_sample_set(uint64_t seed, uint32_t batch, uint64_t range_begin,
                                   uint64_t range_end);

/* Training samples a result of kind k must report for those fields (EVAL: the train range). */
uint64_t pd_task_expected_samples(int k, uint32_t batch, uint64_t range_begin, uint64_t range_end);

#endif
