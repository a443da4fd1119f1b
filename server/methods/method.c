/* method.c - the registry of optimisation methods, the update step they share, and the
 * word format of their checkpointed state. */
#include <config.h>
#include "method.h"

#include <errno.h>
#include <stdlib.h>

#include "common/config.h"
#include "error.h"
#include "log.h"
#include "../shards.h"

static const pd_method_ops_t *const registry[] = {
    [PD_METHOD_SYNC_SGD] = &pd_method_sync_sgd,
    [PD_METHOD_ASYNC_SGD] = &pd_method_async_sgd,
    [PD_METHOD_SSP] = &pd_method_ssp,
    [PD_METHOD_RENNALA_SGD] = &pd_method_rennala_sgd,
    [PD_METHOD_FREYA_PAGE] = &pd_method_freya_page,
    [PD_METHOD_APTS] = &pd_method_apts,
    [PD_METHOD_FOSI] = &pd_method_fosi,
    [PD_METHOD_DHO2] = &pd_method_dho2,
    [PD_METHOD_NEWTON_CG] = &pd_method_newton_cg,
    [PD_METHOD_LBFGS] = &pd_method_lbfgs,
    [PD_METHOD_SYNC_PAGE] = &pd_method_sync_page,
};

const pd_method_ops_t *pd_method_get(int kind)
{
    if (kind < 0 || (size_t)kind >= sizeof(registry) / sizeof(registry[0])) {
        return NULL;
    }
    return registry[kind];
}

static int shard_init(pd_daemon_t *d)
{
    (void)d;
    return 0;
}

static void shard_release(pd_daemon_t *d)
{
    (void)d;
}

static void shard_on_idle(pd_daemon_t *d, pd_session_t *s)
{
    (void)d, (void)s;
}

static void shard_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t,
                            const pd_msg_t *m, const double *grad_sum)
{
    (void)d, (void)s, (void)t, (void)m, (void)grad_sum;
}

static void shard_on_leave(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t)
{
    (void)d, (void)s, (void)t;
}

const pd_method_ops_t *pd_method_get_for_shard(int kind)
{
    static pd_method_ops_t ops[sizeof(registry) / sizeof(registry[0])];
    const pd_method_ops_t *m = pd_method_get(kind);

    if (m == NULL) {
        return NULL;
    }
    ops[kind] = (pd_method_ops_t){.name = m->name, .init = shard_init, .release = shard_release,
                                  .on_idle = shard_on_idle, .on_result = shard_on_result,
                                  .on_leave = shard_on_leave};
    return &ops[kind];
}

/* After a step was applied (x changed, the version not yet): the version, the metrics, the
 * stop criteria. */
static void applied(pd_daemon_t *d, uint64_t staleness)
{
    d->metrics.updates_total++;
    d->metrics.gradients_applied_total++;
    d->metrics.version = (double)d->store.version;
    pd_metrics_observe_staleness(&d->metrics, staleness);
    pd_daemon_after_update(d);
}

/* A step that would make a parameter NaN or Inf: the old vector and version stay; dispatch
 * applies on_divergence once the method's callback has returned. */
static void refused(pd_daemon_t *d)
{
    d->metrics.updates_rejected_nonfinite_total++;
    pd_daemon_diverged(d, "a step would make a parameter non-finite");
    /* the parts of a refused sum are not used (a single result's part_task is discarded by
     * dispatch once the callback returns) */
    for (size_t i = 0; i < d->n_commit_tasks; i++) {
        pd_shards_discard(d, d->commit_tasks[i]);
    }
    d->commit_tasks = NULL;
    d->n_commit_tasks = 0;
}

void pd_method_mean(double *g, const double *grad_sum, size_t n, uint64_t n_samples)
{
    double inv = n_samples > 0 ? 1.0 / (double)n_samples : 0.0;

    for (size_t i = 0; i < n; i++) {
        g[i] = grad_sum[i] * inv;
    }
}

/* The dense step of shard 0's keys (every key without shards) on the mean grad_sum /
 * n_samples, then the other shards' (u says how they take it). */
static void step_dense(pd_daemon_t *d, const double *grad_sum, uint64_t n_samples, double lr,
                       uint64_t staleness, const pd_shard_update_t *u)
{
    double *g = d->grad_scratch;

    pd_method_mean(g, grad_sum, d->store.dim, n_samples);
    pd_store_catch_up(&d->store); /* the dense prox below is the step after the pending ones */
    if (pd_store_step_range(&d->store, &d->optim, 0, d->store.dim, g, lr) != 0) {
        refused(d);
        return;
    }
    pd_shards_commit(d, u);
    d->part_task = 0; /* used: shard 0 need not discard it */
    d->n_commit_tasks = 0;
    applied(d, staleness);
}

void pd_method_apply(pd_daemon_t *d, const double *grad_sum, uint64_t n_samples, double lr,
                     uint64_t staleness)
{
    double *g = d->grad_scratch;

    if (d->fosi != NULL) {
        /* every key (fosi's step is whole, its own on a sharded job: it sends the shards
         * their values itself) */
        pd_method_mean(g, grad_sum, d->model.dim, n_samples);
        int rc = pd_method_fosi_step(d, g, lr);
        if (rc == PD_ENONFINITE) {
            refused(d);
        } else if (rc != 0) { /* no whole vector to step (the shards), or no memory */
            pd_log_err("fosi: cannot take a step: %s", pd_strerror(rc));
            pd_daemon_stop(d, "fosi failed (see the log)", 1);
        } else {
            applied(d, staleness);
        }
        return;
    }
    step_dense(d, grad_sum, n_samples, lr, staleness,
               &(pd_shard_update_t){.n = d->model.dim, .g = grad_sum, .n_samples = n_samples,
                                    .lr = lr,
                                    .task_id = d->n_commit_tasks > 0 ? 0 : d->part_task,
                                    .tasks = d->commit_tasks, .n_tasks = d->n_commit_tasks,
                                    .task_step = true});
}

size_t pd_method_estimate_dim(const pd_daemon_t *d)
{
    return d->job.gradient_parts ? d->store.dim : d->model.dim;
}

void pd_method_estimate_move(double *g, const double *sum, size_t n, uint64_t n_samples,
                             pd_estimate_t how)
{
    if (how == PD_ESTIMATE_SET) {
        pd_method_mean(g, sum, n, n_samples);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        g[i] += sum[i] / (double)n_samples;
    }
}

void pd_method_estimate_take(pd_daemon_t *d, uint64_t round, int64_t slot)
{
    if (d->job.gradient_parts && d->part_task != 0) {
        pd_shards_estimate_add(d, d->part_task, round, slot);
        d->part_task = 0; /* used: shard 0 need not discard it */
    }
}

void pd_method_estimate_step(pd_daemon_t *d, const double *g, double lr, pd_estimate_t how,
                             uint64_t round, uint64_t slots, uint64_t n)
{
    if (!d->job.gradient_parts) { /* g is whole: the shards, if any, get their share */
        pd_method_apply(d, g, 1, lr, 0);
        return;
    }
    step_dense(d, g, 1, lr, 0,
               &(pd_shard_update_t){.n_samples = n, .lr = lr, .task_step = true,
                                    .estimate = how, .round = round, .slots = slots});
}

/* The mean gradient is zero off the keys: the step touches them alone, and the prox every
 * other coordinate owes is deferred (lazy.h), so the update costs O(n) whatever dim is. On a
 * sharded job, shard 0 steps the keys it holds (the first ones: keys increase) and each
 * other shard its share, in the same arithmetic. */
static void apply_keys(pd_daemon_t *d, const uint64_t *keys, size_t n, const double *grad_sum,
                       uint64_t n_samples, double lr, uint64_t staleness)
{
    double *g = d->grad_scratch;
    bool deferred = d->store.lazy != NULL;
    size_t own = pd_wire_keys_below(keys, n, d->key_end);
    int rc;

    pd_method_mean(g, grad_sum, own, n_samples);
    rc = deferred ? pd_store_step_keys_deferred(&d->store, &d->optim, keys, own, g, lr)
                  : pd_store_step_keys(&d->store, &d->optim, keys, own, g, lr);
    if (rc != 0) {
        refused(d);
        return;
    }
    pd_shards_commit(d, &(pd_shard_update_t){.keys = keys, .n = n, .g = grad_sum,
                                             .n_samples = n_samples, .lr = lr,
                                             .task_step = true});
    applied(d, staleness);
}

void pd_method_apply_grad(pd_daemon_t *d, const pd_session_t *s, const pd_task_t *t,
                          const double *grad_sum, uint64_t n_samples, double lr,
                          uint64_t staleness)
{
    if (t->sparse) {
        apply_keys(d, (const uint64_t *)s->task_keys->data, (size_t)t->result_len, grad_sum,
                   n_samples, lr, staleness);
    } else {
        pd_method_apply(d, grad_sum, n_samples, lr, staleness);
    }
}

int pd_method_save_words(const uint64_t *v, size_t n, uint8_t **out, size_t *len)
{
    uint8_t *b = malloc(8 * n > 0 ? 8 * n : 1);

    if (b == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < 8 * n; i++) {
        b[i] = (uint8_t)(v[i / 8] >> (8 * (i % 8)));
    }
    *out = b;
    *len = 8 * n;
    return 0;
}

int pd_method_load_words(const uint8_t *buf, size_t len, uint64_t *v, size_t n)
{
    if (len != 8 * n) {
        return PD_ECORRUPT;
    }
    for (size_t w = 0; w < n; w++) {
        v[w] = 0;
        for (int i = 7; i >= 0; i--) {
            v[w] = (v[w] << 8) | buf[8 * w + (size_t)i];
        }
    }
    return 0;
}
