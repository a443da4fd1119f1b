/* method.c - the registry of optimisation methods and the update step they share. */
#include <config.h>
#include "method.h"

#include "common/config.h"

static const pd_method_ops_t *const registry[] = {
    [PD_METHOD_SYNC_SGD] = &pd_method_sync_sgd,
    [PD_METHOD_ASYNC_SGD] = &pd_method_async_sgd,
    [PD_METHOD_SSP] = &pd_method_ssp,
    [PD_METHOD_RENNALA_SGD] = &pd_method_rennala_sgd,
    [PD_METHOD_FREYA_PAGE] = &pd_method_freya_page,
    [PD_METHOD_APTS] = &pd_method_apts,
};

const pd_method_ops_t *pd_method_get(int kind)
{
    if (kind < 0 || (size_t)kind >= sizeof(registry) / sizeof(registry[0])) {
        return NULL;
    }
    return registry[kind];
}

void pd_method_apply(pd_daemon_t *d, const double *grad_sum, uint64_t n_samples, double lr,
                     uint64_t staleness)
{
    double inv = n_samples > 0 ? 1.0 / (double)n_samples : 0.0;
    double *g = d->grad_scratch;

    for (size_t i = 0; i < d->store.dim; i++) {
        g[i] = grad_sum[i] * inv;
    }
    if (pd_optim_apply_finite(&d->optim, d->store.x, 0, d->store.dim, g, lr) != 0) {
        /* The old vector and version stay; dispatch applies on_divergence once the method's
         * callback has returned. */
        d->metrics.updates_rejected_nonfinite_total++;
        pd_daemon_diverged(d, "a step would make a parameter non-finite");
        return;
    }
    pd_store_bump(&d->store);
    d->metrics.updates_total++;
    d->metrics.gradients_applied_total++;
    d->metrics.version = (double)d->store.version;
    pd_metrics_observe_staleness(&d->metrics, staleness);
    pd_daemon_after_update(d);
}
