/* method_async.c - asynchronous (proximal) minibatch SGD with bounded staleness
 * (ALGORITHMS.md §1.2 and §2): every gradient is applied when it arrives, at whatever version
 * it was computed; staleness tau = current version - computed-at version, and a gradient with
 * tau > max_staleness is dropped and counted (the `reject` policy). The proximal step of the
 * regulariser runs inside pd_optim_apply. */
#include <config.h>

#include "method.h"
#include "rng.h"
#include "../scheduler.h"

static int async_init(pd_daemon_t *d)
{
    (void)d;
    return 0;
}

static void async_release(pd_daemon_t *d)
{
    (void)d;
}

static void async_on_idle(pd_daemon_t *d, pd_session_t *s)
{
    uint64_t seed = pd_rng_mix((uint64_t)d->cfg.seed, ++d->task_seq);
    pd_sched_send_grad(d, s, 0, seed, (uint32_t)d->cfg.batch_size, 0);
}

static void async_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t,
                            const pd_msg_t *m, const double *grad_sum)
{
    uint64_t tau = d->store.version - t->version;
    double lr;

    if (tau > (uint64_t)d->cfg.max_staleness) {
        d->metrics.gradients_dropped_stale_total++;
        s->grads_dropped++;
        return;
    }
    lr = pd_optim_lr(&d->optim);
    if (d->cfg.stale_step == PD_STALE_INVERSE && tau > 1) {
        lr /= (double)tau;
    }
    s->grads_applied++;
    s->staleness_sum += (double)tau;
    pd_method_apply(d, grad_sum, m->n_samples, lr, tau);
}

static void async_on_leave(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t)
{
    /* Nothing to recover: the next idle worker draws a fresh minibatch at the newest x
     * (ALGORITHMS.md §2.7), which is what re-issuing the lost task would do anyway. */
    (void)d;
    (void)s;
    (void)t;
}

const pd_method_ops_t pd_method_async_sgd = {
    .name = "async-sgd",
    .init = async_init,
    .release = async_release,
    .on_idle = async_on_idle,
    .on_result = async_on_result,
    .on_leave = async_on_leave,
};
