/* method_rennala.c - Rennala SGD (ALGORITHMS.md §1.4): asynchronous in time, synchronous in
 * the iterate. Every worker always computes a gradient at the current x_k; the server sums
 * the results computed at x_k until step_batch samples are in, takes one step, and discards
 * every result that arrives afterwards from an older x (counted as dropped for staleness).
 * Fast workers therefore contribute more samples, and no applied gradient is ever stale. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "method.h"
#include "rng.h"
#include "../scheduler.h"

typedef struct rennala_state {
    double *acc;       /* sum of the gradients computed at the current version */
    uint64_t samples;  /* samples in acc */
    uint64_t *tasks;   /* a job in gradient parts: the tasks summed, in order, whose parts */
    size_t n_tasks;    /* the shards hold until the step (see method_sync.c) */
    size_t tasks_cap;
} rennala_state_t;

static int rennala_init(pd_daemon_t *d)
{
    rennala_state_t *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return -ENOMEM;
    }
    st->acc = calloc(d->model.dim > 0 ? d->model.dim : 1, sizeof(double));
    if (st->acc == NULL) {
        free(st);
        return -ENOMEM;
    }
    d->method_state = st;
    return 0;
}

static void rennala_release(pd_daemon_t *d)
{
    rennala_state_t *st = d->method_state;
    if (st != NULL) {
        free(st->acc);
        free(st->tasks);
        free(st);
    }
    d->method_state = NULL;
}

static void rennala_on_idle(pd_daemon_t *d, pd_session_t *s)
{
    uint64_t seed = pd_rng_mix((uint64_t)d->cfg.seed, ++d->task_seq);
    /* The round is the version: a result from another round is from an older point. */
    pd_sched_send_grad(d, s, d->store.version, seed, (uint32_t)d->cfg.batch_size, 0);
}

static bool at_old_version(const pd_task_t *t, void *arg)
{
    const pd_daemon_t *d = arg;
    return t->version != d->store.version;
}

/* A result whose parts the shards hold (d->part_task) joins the step's list: the shards
 * add the parts in the order shard 0 added the results. False when out of memory. */
static bool note_part(pd_daemon_t *d, rennala_state_t *st)
{
    if (d->part_task == 0) {
        return true;
    }
    if (pd_grow((void **)&st->tasks, &st->tasks_cap, st->n_tasks + 1, sizeof(*st->tasks)) != 0) {
        return false;
    }
    st->tasks[st->n_tasks++] = d->part_task;
    d->part_task = 0;
    return true;
}

static void rennala_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t,
                              const pd_msg_t *m, const double *grad_sum)
{
    rennala_state_t *st = d->method_state;
    /* in gradient parts, shard 0's keys only: the result carries no more */
    size_t dim = d->job.gradient_parts ? d->store.dim : d->model.dim;

    if (t->version != d->store.version) {
        d->metrics.gradients_dropped_stale_total++;
        s->grads_dropped++;
        return;
    }
    if (!note_part(d, st)) {
        pd_daemon_stop(d, "out of memory for the round's list of gradient parts", 1);
        return;
    }
    for (size_t i = 0; i < dim; i++) {
        st->acc[i] += grad_sum[i];
    }
    st->samples += m->n_samples;
    s->grads_applied++;
    if (st->samples < (uint64_t)d->cfg.step_batch) {
        return;
    }
    /* When batch_size does not divide step_batch the last task overshoots: divide by what
     * was actually summed, so the step is still a mean gradient. */
    uint64_t n = st->samples;
    st->samples = 0;
    if (d->job.gradient_parts) {
        d->commit_tasks = st->tasks;
        d->n_commit_tasks = st->n_tasks;
        st->n_tasks = 0;
    }
    pd_method_apply(d, st->acc, n, pd_optim_lr(&d->optim), 0);
    memset(st->acc, 0, dim * sizeof(double));
    /* every gradient still being computed is at the old point, which Rennala never uses */
    if (d->state == PD_STATE_RUNNING && pd_sched_cancel_where(d, at_old_version, d) > 0) {
        pd_sched_kick(d);
    }
}

static void rennala_on_leave(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t)
{
    /* A lost gradient is simply never summed: the step waits for others' samples. */
    (void)d;
    (void)s;
    (void)t;
}

const pd_method_ops_t pd_method_rennala_sgd = {
    .name = "rennala-sgd",
    .init = rennala_init,
    .release = rennala_release,
    .on_idle = rennala_on_idle,
    .on_result = rennala_on_result,
    .on_leave = rennala_on_leave,
};
