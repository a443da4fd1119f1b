/* shard.c - shard i > 0 of a sharded job (shards.h): it holds the keys of its range and the
 * optimiser state there, applies the updates shard 0 commits, and serves its keys to workers.
 * It runs no method: its version moves only with shard 0's COMMITs. */
#include <config.h>
#include "shards.h"

#include <inttypes.h>
#include <stdio.h>

#include "daemon.h"
#include "kv.h"
#include "log.h"
#include "methods/method.h"

/* Refuse the COMMIT and end this shard: it can no longer follow shard 0. */
static void fail(pd_daemon_t *d, pd_session_t *s, const pd_msg_t *m, pd_wire_error_t code,
                 const char *why)
{
    pd_daemon_send_error(d, s->rid, s->rid_len, s, m, code, "%s", why);
    pd_daemon_stop(d, why, 1);
}

void pd_shard_commit(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    const double *sum;
    double *g = d->grad_scratch;
    char why[160];

    if (d->opts.shard_index == 0 || !s->coordinator) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_WRONG_STATE,
                             "COMMIT is for the shards of a sharded job, from its shard 0");
        return;
    }
    if (m->version != d->store.version + 1) {
        snprintf(why, sizeof(why), "update %" PRIu64 " after version %" PRIu64 ": this shard "
                 "and shard 0 are out of step", m->version, d->store.version);
        fail(d, s, m, PD_WERR_WRONG_STATE, why);
        return;
    }
    if (m->n_frames != 1 || pd_wire_in_doubles(in, 0, d->store.dim, &sum) != 0) {
        snprintf(why, sizeof(why), "update %" PRIu64 " does not carry the %zu gradient values "
                 "of keys [%zu, %zu)", m->version, d->store.dim, d->key_begin, d->key_end);
        fail(d, s, m, PD_WERR_FRAMES, why);
        return;
    }
    /* shard 0's arithmetic (pd_method_apply), on this range: the same bits */
    pd_method_mean(g, sum, d->store.dim, m->n_samples);
    if (pd_store_step_range(&d->store, &d->optim, 0, d->store.dim, g, m->learning_rate) != 0) {
        d->metrics.updates_rejected_nonfinite_total++;
        snprintf(why, sizeof(why), "update %" PRIu64 " would make a parameter of keys [%zu, "
                 "%zu) NaN or Inf", m->version, d->key_begin, d->key_end);
        fail(d, s, m, PD_WERR_NONFINITE, why);
        return;
    }
    d->metrics.updates_total++;
    d->metrics.version = (double)d->store.version;
    pd_kv_serve_waiting(d);
}
