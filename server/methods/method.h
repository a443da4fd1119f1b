/* method.h - an optimisation method is a table of callbacks the scheduler calls
 * (STYLE.md §2.1: one file per method, server/methods/method.c holds the registry indexed by
 * pd_method_kind_t). Methods decide which GRAD task an idle worker gets, what to do with a
 * gradient, and how to recover a departed worker's task. */
#ifndef PD_SERVER_METHOD_H
#define PD_SERVER_METHOD_H

#include "../daemon.h"
#include "compute.h"

/* One array of a method's own state that a checkpoint keeps beside the parameters
 * (pd_method_ops_t.ckpt_arrays): saved from data, loaded back into it. */
typedef struct pd_method_array {
    const char *name; /* unique in the checkpoint, e.g. "fosi.optim.u" */
    double *data;     /* count values */
    size_t count;
} pd_method_array_t;
#define PD_METHOD_MAX_ARRAYS 2

struct pd_method_ops {
    const char *name;
    /* Allocate d->method_state. 0 or a negative code. */
    int (*init)(pd_daemon_t *d);
    void (*release)(pd_daemon_t *d);
    /* s is ready and has no task: give it one with pd_sched_send_grad(), or leave it parked. */
    void (*on_idle)(pd_daemon_t *d, pd_session_t *s);
    /* A validated GRAD result for task t of s (sum over m->n_samples samples). */
    void (*on_result)(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t, const pd_msg_t *m,
                      const double *grad_sum);
    /* s leaves while GRAD task t is in flight (t NULL when it had none). */
    void (*on_leave)(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t);
    /* Optional (NULL: none): called once a second by the loop (timeouts of the method's own,
     * such as APTS stragglers). Not called by paramd-sim, whose clock is simulated. */
    void (*on_tick)(pd_daemon_t *d);
    /* Optional (NULL: nothing to keep across a restart). save: the method's state as bytes
     * for a checkpoint (Returned: *out, free()). load: restore from those bytes at start,
     * after init; PD_ECORRUPT if they do not parse (the method then starts afresh). */
    int (*save)(pd_daemon_t *d, uint8_t **out, size_t *len);
    int (*load)(pd_daemon_t *d, const uint8_t *buf, size_t len);
    /* Optional (NULL: none): state too large for save's bytes (which a checkpoint's metadata
     * caps), as arrays of any length: out[0 .. returned) of at most PD_METHOD_MAX_ARRAYS, after
     * init. A checkpoint writes them with the parameters (on shard 0), and loads them back
     * before load when its optimiser is the job's (they are optimiser state). */
    size_t (*ckpt_arrays)(pd_daemon_t *d, pd_method_array_t *out);
};

const pd_method_ops_t *pd_method_get(int kind);
/* What shard i > 0 of a sharded job runs: nothing. Its version moves with shard 0's COMMITs
 * (shards.h), so these ops carry the method's name and keep no state: a shard allocates none
 * of the method's vectors, several of which cover the whole model. */
const pd_method_ops_t *pd_method_get_for_shard(int kind);

extern const pd_method_ops_t pd_method_sync_sgd;
extern const pd_method_ops_t pd_method_async_sgd;
extern const pd_method_ops_t pd_method_ssp;
extern const pd_method_ops_t pd_method_rennala_sgd;
extern const pd_method_ops_t pd_method_freya_page;
extern const pd_method_ops_t pd_method_apts;
extern const pd_method_ops_t pd_method_fosi;
extern const pd_method_ops_t pd_method_dho2;
extern const pd_method_ops_t pd_method_newton_cg;
extern const pd_method_ops_t pd_method_lbfgs;
extern const pd_method_ops_t pd_method_sync_page;

/* method_syncpage.c, shared with the tests' single-process replay: the samples of part `part`
 * of `parts` of step k's difference phase (total S samples: that part's share, drawn from its
 * own seed), and the seed of the coin stream. */
pd_sample_set_t pd_method_sync_page_part(uint64_t seed, uint64_t k, uint32_t part,
                                         uint64_t total, uint32_t parts);
uint64_t pd_method_sync_page_coin_seed(uint64_t seed);

/* method_sync.c: a sync-sgd round is in progress (its parts handed out or pending). */
bool pd_method_sync_round_active(const pd_daemon_t *d);

/* method_fosi.c: the FOSI step on the mean gradient g (model.dim values, overwritten: the
 * loss's l2 term is added) at step lr, in place of the optimiser's step; the version counted
 * and, on a sharded job, every shard sent its new values. 0, PD_ENONFINITE, or a negative
 * code (the shards' vector could not be gathered, no memory). */
int pd_method_fosi_step(pd_daemon_t *d, double *g, double lr);
/* The fixed batch fosi's Hessian is taken on: fosi_ese_batch samples (at most the training
 * set) drawn by pd_rng_sample from the job seed mixed with a tag of its own. */
pd_sample_set_t pd_method_fosi_ese_batch(const pd_daemon_t *d);

/* Shared by the methods: apply a mean gradient with step lr (staleness folded in), bump the
 * version and update the metrics, then check the stop criteria. A step that would make a
 * parameter NaN or Inf is not applied (same vector, same version), is counted in
 * updates_rejected_nonfinite_total and reported as a divergence (pd_daemon_diverged). */
void pd_method_apply(pd_daemon_t *d, const double *grad_sum, uint64_t n_samples, double lr,
                     uint64_t staleness);

/* The estimate methods (freya-page, sync-page). A round's results move the gradient estimate
 * g; on a sharded job whose results come in parts (Job.gradient_parts) each shard keeps g
 * for its keys and the method's g, sums and steps cover shard 0's keys only
 * (pd_method_estimate_dim). pd_method_estimate_take: the result the method just took (in its
 * on_result) joins round `round`'s sum on the shards, at slot `slot` of the ordered sum, or
 * with slot < 0 into the compensated one; nothing without shards. pd_method_estimate_step:
 * the round is over and g moved (`how`: PD_ESTIMATE_SET, g = sum * (1 / n); or
 * PD_ESTIMATE_INCREMENT, g += sum / n; the sum over `slots` slots, 0: the compensated one):
 * pd_method_apply(d, g, 1, lr, 0), the shards doing the same on theirs. */
size_t pd_method_estimate_dim(const pd_daemon_t *d);
/* g[0 .. n) moved by a round's sum over n_samples samples: PD_ESTIMATE_SET, g = sum * (1 /
 * n_samples) (pd_method_mean); PD_ESTIMATE_INCREMENT, g += sum / n_samples. Shard 0 and the
 * shards both move theirs through it, so a sharded estimate has a single server's bits. */
void pd_method_estimate_move(double *g, const double *sum, size_t n, uint64_t n_samples,
                             pd_estimate_t how);
void pd_method_estimate_take(pd_daemon_t *d, uint64_t round, int64_t slot);
void pd_method_estimate_step(pd_daemon_t *d, const double *g, double lr, pd_estimate_t how,
                             uint64_t round, uint64_t slots, uint64_t n);

/* g[0 .. n) = grad_sum / n_samples (0 for no samples), the mean every update steps with:
 * shard 0 and the other shards of a sharded job compute it so, to the same bits. */
void pd_method_mean(double *g, const double *grad_sum, size_t n, uint64_t n_samples);

/* pd_method_apply for the GRAD result of task t of s: a task with keys (t->sparse) has its
 * gradient at s->task_keys only, and is applied there in O(keys). */
void pd_method_apply_grad(pd_daemon_t *d, const pd_session_t *s, const pd_task_t *t,
                          const double *grad_sum, uint64_t n_samples, double lr,
                          uint64_t staleness);

/* The methods' checkpointed state is a few 64-bit words, stored little-endian, 8 bytes each.
 * save: *out (free()) and *len for n words; 0 or -ENOMEM. load: the n words of buf, or
 * PD_ECORRUPT when len is not 8 n (v untouched). */
int pd_method_save_words(const uint64_t *v, size_t n, uint8_t **out, size_t *len);
int pd_method_load_words(const uint8_t *buf, size_t len, uint64_t *v, size_t n);

#endif
