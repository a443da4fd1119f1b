/* method_async.c - asynchronous (proximal) minibatch SGD with bounded staleness
 * (ALGORITHMS.md §1.2 and §2): every gradient is applied when it arrives, at whatever version
 * it was computed; a gradient with staleness tau > max_staleness is dropped and counted (the
 * `reject` policy). tau is the versions applied since its task was sent (current version -
 * computed-at version), or with staleness_unit = received the results received since then,
 * dropped ones included, as the Freya PAGE authors' simulator counts it: each task carries
 * the count of results received when it was sent in its round field. The proximal step of
 * the regulariser runs inside pd_optim_apply. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>

#include "common/config.h"
#include "method.h"
#include "rng.h"
#include "../scheduler.h"

typedef struct async_state {
    uint64_t received; /* results received (staleness_unit = received) */
} async_state_t;

static int async_init(pd_daemon_t *d)
{
    d->method_state = calloc(1, sizeof(async_state_t));
    return d->method_state != NULL ? 0 : -ENOMEM;
}

static void async_release(pd_daemon_t *d)
{
    free(d->method_state);
    d->method_state = NULL;
}

static void async_on_idle(pd_daemon_t *d, pd_session_t *s)
{
    const async_state_t *st = d->method_state;
    uint64_t seed = pd_rng_mix((uint64_t)d->cfg.seed, ++d->task_seq);
    pd_sched_send_grad(d, s, st->received, seed, (uint32_t)d->cfg.batch_size, 0);
}

static void async_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t,
                            const pd_msg_t *m, const double *grad_sum)
{
    async_state_t *st = d->method_state;
    uint64_t tau = d->cfg.staleness_unit == PD_STALENESS_RECEIVED ? st->received - t->round
                                                                   : d->store.version - t->version;
    double lr;

    st->received++;

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
    pd_method_apply_grad(d, s, t, grad_sum, m->n_samples, lr, tau);
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
