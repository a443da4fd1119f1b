/* method_ssp.c - stale-synchronous parallel (ALGORITHMS.md §1.3): each worker's clock counts
 * its applied gradients; a worker more than staleness_bound clocks ahead of the slowest ready
 * worker is parked until the slowest catches up. Every gradient is applied on arrival. */
#include <config.h>

#include "method.h"
#include "rng.h"
#include "../scheduler.h"

static int ssp_init(pd_daemon_t *d)
{
    (void)d;
    return 0;
}

static void ssp_release(pd_daemon_t *d)
{
    (void)d;
}

static uint64_t min_clock(const pd_daemon_t *d)
{
    uint64_t lo = UINT64_MAX;
    for (size_t i = 0; i < d->sessions.n; i++) {
        const pd_session_t *o = d->sessions.v[i];
        if (!o->kv_only && o->state != PD_SESSION_JOINED && o->clock < lo) {
            lo = o->clock;
        }
    }
    return lo == UINT64_MAX ? 0 : lo;
}

static void ssp_on_idle(pd_daemon_t *d, pd_session_t *s)
{
    uint64_t seed;

    if (s->clock > min_clock(d) + (uint64_t)d->cfg.staleness_bound) {
        return; /* parked: released by the next result of a slower worker */
    }
    seed = pd_rng_mix((uint64_t)d->cfg.seed, ++d->task_seq);
    pd_sched_send_grad(d, s, s->clock, seed, (uint32_t)d->cfg.batch_size, 0);
}

static void ssp_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t,
                          const pd_msg_t *m, const double *grad_sum)
{
    uint64_t tau = d->store.version - t->version;
    uint64_t before = min_clock(d);

    s->clock++;
    s->grads_applied++;
    s->staleness_sum += (double)tau;
    pd_method_apply_grad(d, s, t, grad_sum, m->n_samples, pd_optim_lr(&d->optim), tau);
    if (min_clock(d) != before) {
        pd_sched_kick(d); /* the slowest advanced: parked workers may go on */
    }
}

static void ssp_on_leave(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t)
{
    /* The departed worker no longer counts in the minimum (the caller removes it and kicks). */
    (void)d;
    (void)s;
    (void)t;
}

const pd_method_ops_t pd_method_ssp = {
    .name = "ssp",
    .init = ssp_init,
    .release = ssp_release,
    .on_idle = ssp_on_idle,
    .on_result = ssp_on_result,
    .on_leave = ssp_on_leave,
};
