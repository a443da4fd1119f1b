/* shard.c - shard i > 0 of a sharded job (shards.h): it holds the keys of its range and the
 * optimiser state there, applies the updates shard 0 commits, and serves its keys to workers.
 * It runs no method: its version moves only with shard 0's COMMITs. */
#include <config.h>
#include "shards.h"

#include <inttypes.h>
#include <stdio.h>

#include "daemon.h"
#include "error.h"
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

/* The keys of a COMMIT's key list, in this shard's own numbering (key - key_begin) in
 * d->key_scratch; why says what is wrong otherwise. */
static int local_keys(pd_daemon_t *d, pd_wire_in_t *in, const uint64_t **out, char *why,
                      size_t why_len)
{
    uint64_t n = in->msg.key_count;
    const uint64_t *k;

    if (n > d->store.dim || pd_wire_in_u64s(in, 0, n, &k) != 0) {
        snprintf(why, why_len, "a key list of %" PRIu64 " keys without its keys frame", n);
        return PD_EWIRE;
    }
    if (pd_wire_check_keys(k, n, d->key_end, why, why_len) != 0) {
        return PD_EWIRE;
    }
    if (k[0] < d->key_begin) {
        snprintf(why, why_len, "key %" PRIu64 " is not one of this shard's [%zu, %zu)", k[0],
                 d->key_begin, d->key_end);
        return PD_EWIRE;
    }
    for (uint64_t i = 0; i < n; i++) {
        d->key_scratch[i] = k[i] - d->key_begin;
    }
    *out = d->key_scratch;
    return 0;
}

/* The step a COMMIT names: a range of this shard's keys, a key list, or none (the update
 * touched other shards' keys: the version and the step count move alone). */
static int take_step(pd_daemon_t *d, pd_wire_in_t *in, char *why, size_t why_len)
{
    const pd_msg_t *m = &in->msg;
    const uint64_t *keys = NULL;
    const double *sum;
    uint64_t n = m->key_count > 0 ? m->key_count : m->key_length;
    uint64_t end;

    if (n == 0 && m->n_frames == 0) {
        pd_store_step_none(&d->store, &d->optim);
        return 0;
    }
    if (m->key_count > 0 && m->key_length > 0) {
        snprintf(why, why_len, "both a key list and a range");
        return PD_EWIRE;
    }
    if (m->key_count > 0) {
        if (local_keys(d, in, &keys, why, why_len) != 0) {
            return PD_EWIRE;
        }
    } else if (m->key_offset < d->key_begin ||
               __builtin_add_overflow(m->key_offset, n, &end) || end > d->key_end) {
        snprintf(why, why_len, "keys [%" PRIu64 ", +%" PRIu64 ") are not all this shard's "
                 "[%zu, %zu)", m->key_offset, n, d->key_begin, d->key_end);
        return PD_EWIRE;
    }
    if (m->n_frames != (keys != NULL ? 2u : 1u) ||
        pd_wire_in_doubles(in, keys != NULL ? 1 : 0, n, &sum) != 0) {
        snprintf(why, why_len, "no frame of the %" PRIu64 " gradient values", n);
        return PD_EWIRE;
    }
    /* shard 0's arithmetic (pd_method_apply, the key-value push), here: the same bits */
    pd_method_mean(d->grad_scratch, sum, n, m->n_samples);
    if ((keys != NULL ? pd_store_step_keys(&d->store, &d->optim, keys, n, d->grad_scratch,
                                           m->learning_rate)
                      : pd_store_step_range(&d->store, &d->optim, m->key_offset - d->key_begin,
                                            n, d->grad_scratch, m->learning_rate)) != 0) {
        d->metrics.updates_rejected_nonfinite_total++;
        snprintf(why, why_len, "it would make a parameter of keys [%zu, %zu) NaN or Inf",
                 d->key_begin, d->key_end);
        return PD_ENONFINITE;
    }
    return 0;
}

void pd_shard_commit(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    char why[PD_WIRE_STR], msg[PD_WIRE_STR + 64];
    int rc;

    if (d->opts.shard_index == 0 || !s->coordinator) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_WRONG_STATE,
                             "COMMIT is for the shards of a sharded job, from its shard 0");
        return;
    }
    if (m->version != d->store.version + 1) {
        snprintf(msg, sizeof(msg), "update %" PRIu64 " after version %" PRIu64 ": this shard "
                 "and shard 0 are out of step", m->version, d->store.version);
        fail(d, s, m, PD_WERR_WRONG_STATE, msg);
        return;
    }
    rc = take_step(d, in, why, sizeof(why));
    if (rc != 0) {
        snprintf(msg, sizeof(msg), "update %" PRIu64 ": %s", m->version, why);
        fail(d, s, m, rc == PD_ENONFINITE ? PD_WERR_NONFINITE : PD_WERR_FRAMES, msg);
        return;
    }
    d->metrics.updates_total++;
    d->metrics.version = (double)d->store.version;
    pd_kv_serve_waiting(d);
}
