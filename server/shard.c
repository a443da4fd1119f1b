/* shard.c - shard i > 0 of a sharded job (shards.h): it holds the keys of its range and the
 * optimiser state there, applies the updates shard 0 commits, and serves its keys to workers.
 * It runs no method: its version moves only with shard 0's COMMITs. */
#include <config.h>
#include "shards.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "error.h"
#include "kv.h"
#include "log.h"
#include "methods/method.h"
#include "ops/checkpoint.h"

/* Refuse the COMMIT and end this shard: it can no longer follow shard 0. */
static void fail(pd_daemon_t *d, pd_session_t *s, const pd_msg_t *m, pd_wire_error_t code,
                 const char *why)
{
    pd_daemon_send_error(d, s->rid, s->rid_len, s, m, code, "%s", why);
    pd_daemon_stop(d, why, 1);
}

/* Whether m is a method's step (COMMIT kind GRAD) on a store whose proxes are deferred. */
static bool task_deferred(const pd_daemon_t *d, const pd_msg_t *m)
{
    return m->kind == PD_TASK_GRAD && d->store.lazy != NULL;
}

/* The step of a COMMIT's mean gradient g on keys (NULL: n keys from local offset `at`):
 * shard 0's arithmetic for the same update (pd_method_apply and its key-list form for a
 * method's step, COMMIT kind GRAD; the key-value push for the others), so the same bits. */
static int step(pd_daemon_t *d, const pd_msg_t *m, const uint64_t *keys, size_t at,
                const double *g, size_t n)
{
    bool deferred = task_deferred(d, m);

    if (deferred && keys != NULL) {
        return pd_store_step_keys_deferred(&d->store, &d->optim, keys, n, g, m->learning_rate);
    }
    if (keys != NULL) {
        return pd_store_step_keys(&d->store, &d->optim, keys, n, g, m->learning_rate);
    }
    if (deferred) {
        pd_store_catch_up(&d->store); /* as pd_method_apply, before a dense step */
    }
    return pd_store_step_range(&d->store, &d->optim, at, n, g, m->learning_rate);
}

/* The shard's mean gradient from sum (n values over n_samples samples) and its step (see
 * step()). */
static int step_sum(pd_daemon_t *d, const pd_msg_t *m, const uint64_t *keys, size_t at,
                    const double *sum, size_t n, uint64_t n_samples, char *why, size_t why_len)
{
    pd_method_mean(d->grad_scratch, sum, n, n_samples);
    if (step(d, m, keys, at, d->grad_scratch, n) != 0) {
        d->metrics.updates_rejected_nonfinite_total++;
        snprintf(why, why_len, "it would make a parameter of keys [%zu, %zu) NaN or Inf",
                 d->key_begin, d->key_end);
        return PD_ENONFINITE;
    }
    return 0;
}

/* The parts of tasks ids[0 .. n) added onto zeros in that order, into sum (the shard's
 * dim); NULL when one of them is not here. */
static const double *add_parts(pd_daemon_t *d, const uint64_t *ids, long n, double *sum)
{
    memset(sum, 0, d->store.dim * sizeof(double));
    for (long i = 0; i < n; i++) {
        const double *part = pd_shard_part_values(d, ids[i]);
        if (part == NULL) {
            return NULL;
        }
        for (size_t j = 0; j < d->store.dim; j++) {
            sum[j] += part[j];
        }
    }
    return sum;
}

/* A COMMIT naming tasks (ids, n of them), each part the shard's whole range. The gradient
 * sum is shard 0's, to the bit: a task_id COMMIT (one result, one update) is that part
 * itself; a list (part_tasks) is the parts added in the order listed onto zeros, as shard 0
 * added its own keys' values (0 + -0 is +0: the two are not the same sum). */
static int step_parts(pd_daemon_t *d, const pd_msg_t *m, const uint64_t *ids, long n,
                      char *why, size_t why_len)
{
    size_t dim = d->store.dim;
    const double *use;
    int rc;

    if (n <= 0 || m->key_offset != d->key_begin || m->key_length != dim) {
        snprintf(why, why_len, "a COMMIT of gradient parts names no task for keys [%zu, %zu)",
                 d->key_begin, d->key_end);
        return PD_EWIRE;
    }
    /* grad_scratch: step_sum's mean may run in place */
    use = m->part_tasks == 0 ? pd_shard_part_values(d, ids[0])
                             : add_parts(d, ids, n, d->grad_scratch);
    if (use == NULL) {
        snprintf(why, why_len, "a part of the tasks this update names is missing");
        return PD_EWIRE;
    }
    rc = step_sum(d, m, NULL, 0, use, dim, m->n_samples, why, why_len);
    for (long i = 0; i < n; i++) {
        pd_shard_part_used(d, ids[i]);
    }
    return rc;
}

/* A COMMIT of values (commit_values): the new parameters of this shard's whole range,
 * which shard 0 computed itself (a method that steps the whole vector); copied as they are,
 * so the shard holds the bits shard 0's method holds. */
static int set_values(pd_daemon_t *d, pd_wire_in_t *in, char *why, size_t why_len)
{
    const pd_msg_t *m = &in->msg;
    size_t dim = d->store.dim;
    const double *v;

    /* float64 only (no narrowing: the bits are shard 0's), and no gradient's fields */
    if (m->key_count != 0 || m->key_offset != d->key_begin || m->key_length != dim ||
        m->n_frames != 1 || m->elem_type != PD_ELEM_F64 || m->task_id != 0 ||
        m->part_tasks != 0 || m->kind != PD_TASK_NONE ||
        pd_wire_in_doubles(in, 0, dim, &v) != 0) {
        snprintf(why, why_len, "a COMMIT of values must hold one float64 frame of keys "
                 "[%zu, %zu) and name no task", d->key_begin, d->key_end);
        return PD_EWIRE;
    }
    if (d->store.lazy != NULL) { /* the values would skip the proxes the keys owe */
        snprintf(why, why_len, "a COMMIT of values on a store whose proxes are deferred");
        return PD_EWIRE;
    }
    if (!pd_wire_all_finite(v, dim)) {
        snprintf(why, why_len, "a value of keys [%zu, %zu) is NaN or Inf", d->key_begin,
                 d->key_end);
        return PD_ENONFINITE;
    }
    memcpy(d->store.x, v, dim * sizeof(double));
    pd_store_bump(&d->store);
    return 0;
}

/* The step of a round of freya-page or sync-page (ESTIMATE_SET, ESTIMATE_INCREMENT): the
 * estimate g of this shard's keys moves by the round's sum (shard_estimate.c), and the step
 * is shard 0's pd_method_apply on g, a mean already (n_samples 1). The round's point stays
 * readable (exact_version): it is the y of the next round's GRAD_DIFF tasks. */
static int estimate_step(pd_daemon_t *d, const pd_msg_t *m, char *why, size_t why_len)
{
    const double *g;
    int rc;

    if (m->key_offset != d->key_begin || m->key_length != d->store.dim || m->n_frames != 0 ||
        m->task_id != 0 || m->part_tasks != 0 || m->commit_values || m->key_count != 0) {
        snprintf(why, why_len, "the step of an estimate names the keys [%zu, %zu), no task "
                 "and no frame", d->key_begin, d->key_end);
        return PD_EWIRE;
    }
    if ((rc = pd_shard_estimate_step(d, m, &g, why, why_len)) != 0) {
        return rc;
    }
    if (pd_store_keep_version(&d->store) != 0) {
        snprintf(why, why_len, "out of memory for the values of version %" PRIu64,
                 d->store.version);
        return -ENOMEM;
    }
    return step_sum(d, m, NULL, 0, g, d->store.dim, 1, why, why_len);
}

/* The step a COMMIT names: a range of this shard's keys, a key list, or none (the update
 * touched other shards' keys: the version and the step count move alone). */
static int take_step(pd_daemon_t *d, pd_wire_in_t *in, char *why, size_t why_len)
{
    const pd_msg_t *m = &in->msg;
    const uint64_t *keys = NULL, *ids = NULL;
    const double *sum;
    uint64_t n = m->key_count > 0 ? m->key_count : m->key_length;
    uint64_t end;
    long tasks = pd_shard_commit_parts(in, &ids);

    if (m->commit_values) {
        return set_values(d, in, why, why_len);
    }
    if (m->estimate != PD_ESTIMATE_NONE) {
        return estimate_step(d, m, why, why_len);
    }
    if (tasks != 0) {
        return step_parts(d, m, ids, tasks, why, why_len);
    }
    if (n == 0 && m->n_frames == 0) {
        if (task_deferred(d, m)) {
            /* none of the task's keys here: still a step whose prox every key owes */
            return pd_store_step_keys_deferred(&d->store, &d->optim, NULL, 0, NULL,
                                               m->learning_rate);
        }
        pd_store_step_none(&d->store, &d->optim);
        return 0;
    }
    if (m->key_count > 0) {
        /* the key-value push's checks: a list of this shard's keys, its values after it */
        if (pd_kv_check_keys(in, 1, d->key_begin, d->key_end, &keys, why, why_len) !=
            PD_WERR_NONE) {
            return PD_EWIRE;
        }
        keys = pd_kv_local_keys(d, keys, (size_t)n);
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
    return step_sum(d, m, keys, keys != NULL ? 0 : m->key_offset - d->key_begin, sum, n,
                    m->n_samples, why, why_len);
}

/* Whether m comes from this shard's shard 0; anyone else gets an ERROR. */
static bool from_shard0(pd_daemon_t *d, pd_session_t *s, const pd_msg_t *m)
{
    if (d->opts.shard_index > 0 && s->coordinator) {
        return true;
    }
    pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_WRONG_STATE,
                         "%s is for the shards of a sharded job, from its shard 0",
                         pd_msg_type_name(m->type));
    return false;
}

/* Whether m adds a result's part to the round's sum (no step). */
static bool adds_part(const pd_msg_t *m)
{
    return m->estimate == PD_ESTIMATE_SLOT || m->estimate == PD_ESTIMATE_COMPENSATED;
}

/* A result shard 0 took in the round of an estimate: its part (here: the queue waited for
 * it) joins the round's sum, at the version the round computes at. */
static int add_part(pd_daemon_t *d, const pd_msg_t *m, char *why, size_t why_len)
{
    const double *part = pd_shard_part_values(d, m->task_id);
    int rc;

    if (m->task_id == 0 || m->n_frames != 0 || part == NULL) {
        snprintf(why, why_len, "a part of the estimate names a task whose part is here, and "
                 "no frame");
        return PD_EWIRE;
    }
    rc = pd_shard_estimate_add(d, m, part, why, why_len);
    pd_shard_part_used(d, m->task_id);
    return rc;
}

void pd_shard_apply_commit(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    char why[PD_WIRE_STR], msg[PD_WIRE_STR + 64];
    int rc;

    if (adds_part(m)) {
        if (m->version != d->store.version) {
            snprintf(msg, sizeof(msg), "a part of round %" PRIu64 " at version %" PRIu64
                     ", this shard is at %" PRIu64 ": it and shard 0 are out of step",
                     m->round_id, m->version, d->store.version);
            fail(d, s, m, PD_WERR_WRONG_STATE, msg);
        } else if ((rc = add_part(d, m, why, sizeof(why))) != 0) {
            fail(d, s, m, rc == -ENOMEM ? PD_WERR_INTERNAL : PD_WERR_FRAMES, why);
        }
        return;
    }
    if (m->version != d->store.version + 1) {
        snprintf(msg, sizeof(msg), "update %" PRIu64 " after version %" PRIu64 ": this shard "
                 "and shard 0 are out of step", m->version, d->store.version);
        fail(d, s, m, PD_WERR_WRONG_STATE, msg);
        return;
    }
    rc = take_step(d, in, why, sizeof(why));
    if (rc == PD_ENONFINITE) {
        /* Shard 0 has taken this update on its keys already, and may be further on: this
         * shard keeps its keys as they were, counts the version to stay in step, and tells
         * shard 0, which acts on [stop] on_divergence (a restore reloads every shard). */
        pd_store_step_none(&d->store, &d->optim);
        d->shard_skipped = d->shard_skipped != 0 ? d->shard_skipped : m->version;
        snprintf(msg, sizeof(msg), "update %" PRIu64 " not applied: %s", m->version, why);
        pd_log_warn("%s", msg);
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_NONFINITE, "%s", msg);
    } else if (rc != 0) {
        snprintf(msg, sizeof(msg), "update %" PRIu64 ": %s", m->version, why);
        fail(d, s, m, rc == -ENOMEM ? PD_WERR_INTERNAL : PD_WERR_FRAMES, msg);
        return;
    }
    d->metrics.updates_total++;
    d->metrics.version = (double)d->store.version;
    pd_kv_serve_waiting(d);
}

void pd_shard_commit(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    if (!from_shard0(d, s, &in->msg)) {
        return;
    }
    d->shard_committed = true; /* a RESTORE now voids later work */
    /* A COMMIT naming a task whose part has not come (the worker's PART and shard 0's COMMIT
     * travel apart) waits for it, and every later COMMIT behind it. */
    if (!pd_shard_parts_waiting(d) && pd_shard_part_ready(d, in)) {
        pd_shard_apply_commit(d, in, s);
    } else if (pd_shard_parts_wait(d, in) != 0) {
        fail(d, s, &in->msg, PD_WERR_INTERNAL, "out of memory for a waiting update");
    }
}

/* Write the checkpoint of version m->version, which this shard has reached. */
static void write_checkpoint(pd_daemon_t *d, const pd_msg_t *m)
{
    int rc;

    if (d->ckpt == NULL) {
        return; /* no state_dir: shard 0 has none either (the same configuration) */
    }
    if (m->version != d->store.version) {
        pd_log_warn("checkpoint of version %" PRIu64 " asked at version %" PRIu64 ": not written",
                    m->version, d->store.version);
        return;
    }
    if (d->shard_skipped != 0) { /* a restore goes back to a version before it */
        pd_log_warn("checkpoint of version %" PRIu64 " not written: this shard did not take "
                    "update %" PRIu64, m->version, d->shard_skipped);
        return;
    }
    rc = pd_checkpoint_request(d);
    if (rc != 0) {
        d->metrics.checkpoint_failures_total++;
        pd_log_err("cannot start a checkpoint: %s", pd_strerror(rc));
    }
}

void pd_shard_checkpoint(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    if (!from_shard0(d, s, &in->msg)) {
        return;
    }
    /* behind COMMITs waiting for their parts, it waits too: its version comes after them */
    if (!pd_shard_parts_waiting(d)) {
        write_checkpoint(d, &in->msg);
    } else if (pd_shard_parts_wait(d, in) != 0) {
        pd_log_err("cannot keep the checkpoint of version %" PRIu64 " for later: out of memory",
                   in->msg.version);
    }
}

void pd_shard_run_queued(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    if (in->msg.type == PD_MSG_CHECKPOINT) {
        write_checkpoint(d, &in->msg);
    } else if (in->msg.type == PD_MSG_BYE) {
        pd_daemon_drop_session(d, s, "said BYE"); /* shard 0 ended the job */
    } else {
        pd_shard_apply_commit(d, in, s);
    }
}

void pd_shard_restore(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    char why[PD_WIRE_STR] = "";
    pd_msg_t r;
    int rc;

    if (!from_shard0(d, s, m)) {
        return;
    }
    if (m->version == 0 && d->store.version != 0) {
        snprintf(why, sizeof(why), "RESTORE of version 0 after this shard took updates (at "
                 "version %" PRIu64 ")", d->store.version);
        rc = PD_ESTATE;
    } else {
        /* Shard 0 restored a checkpoint while the job ran (a divergence): what waits for
         * later versions of the abandoned run goes. Its tasks are forgotten, so updates
         * waiting for their parts would never come, and PULLs waiting for its versions
         * would get values of the new run; their workers are told and rejoin. */
        if (d->shard_committed) {
            pd_shard_parts_free(d);
            pd_shard_estimate_free(d); /* the new run starts with a full gradient */
            pd_kv_fail_waiting(d, "shard 0 restored a checkpoint: the version waited for is "
                                  "void");
        }
        rc = pd_checkpoint_restore_at(d, m->version, why, sizeof(why));
        d->shard_skipped = rc == 0 ? 0 : d->shard_skipped;
    }
    pd_msg_init(&r, PD_MSG_ACK);
    r.request_id = m->request_id;
    r.worker_id = s->id;
    r.version = d->store.version;
    r.ack = rc == 0 ? PD_ACK_APPLIED : PD_ACK_REJECTED;
    /* no error code: "no checkpoint of that version" (shard 0 may try an older one) */
    r.error = rc == 0 || rc == -ENOENT ? PD_WERR_NONE : PD_WERR_WRONG_STATE;
    snprintf(r.reason, sizeof(r.reason), "%s", why);
    pd_daemon_send(d, s->rid, s->rid_len, &r, NULL, 0);
}
