/* kv.c - see kv.h. */
#include <config.h>
#include "kv.h"

#include <inttypes.h>
#include <stdio.h>

#include "error.h"
#include "log.h"
#include "methods/method.h"

/* Resolve (offset, length) against the model; length 0 means "to the end". */
static bool range_ok(const pd_daemon_t *d, uint64_t offset, uint64_t *length)
{
    uint64_t end;
    if (offset > d->store.dim) {
        return false;
    }
    if (*length == 0) {
        *length = d->store.dim - offset;
    }
    return !__builtin_add_overflow(offset, *length, &end) && end <= d->store.dim && *length > 0;
}

void pd_kv_pull(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    uint64_t length = m->key_length;
    pd_buf_t *snap = NULL;
    const double *values;
    pd_msg_t r;
    int rc;

    if (!range_ok(d, m->key_offset, &length)) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_DIMENSION,
                             "key range [%" PRIu64 ", +%" PRIu64 ") is outside the model's %zu keys",
                             m->key_offset, m->key_length, d->store.dim);
        return;
    }
    pd_msg_init(&r, PD_MSG_PARAMS);
    r.request_id = m->request_id;
    r.worker_id = s->id;
    r.version = d->store.version;
    r.key_offset = m->key_offset;
    r.key_length = length;
    r.elem_type = PD_ELEM_F64;
    d->metrics.pulls_total++;
    /* In a PULL, not_modified = "I hold `version`": skip the bytes when no key of the range
     * changed since then (a key-value push marks only its blocks); the answer names the
     * version held, which the client keeps. */
    if (m->not_modified &&
        pd_store_range_unchanged(&d->store, m->key_offset, length, m->version)) {
        r.version = m->version;
        r.not_modified = true;
        d->metrics.pulls_not_modified_total++;
        pd_daemon_send(d, s->rid, s->rid_len, &r, NULL, 0);
        return;
    }
    rc = pd_store_read_range(&d->store, m->key_offset, length, &snap, &values);
    if (rc != 0) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_INTERNAL, "snapshot: %s",
                             pd_strerror(rc));
        return;
    }
    pd_wire_frame_t f = {values, length * sizeof(double), snap};
    r.n_frames = 1;
    r.frame_counts[0] = length;
    pd_daemon_send(d, s->rid, s->rid_len, &r, &f, 1);
    pd_buf_unref(snap);
}

/* version: the server's version as the client should see it after this push. */
static void send_ack(pd_daemon_t *d, pd_session_t *s, const pd_msg_t *req, pd_ack_status_t st,
                     uint64_t version, uint64_t staleness, double lr, pd_wire_error_t code,
                     const char *why)
{
    pd_msg_t r;

    pd_msg_init(&r, PD_MSG_ACK);
    r.request_id = req->request_id;
    r.worker_id = s->id;
    r.version = version;
    r.key_offset = req->key_offset;
    r.key_length = req->key_length;
    r.ack = st;
    r.staleness = staleness;
    r.learning_rate = lr;
    r.error = code;
    if (why != NULL) {
        snprintf(r.reason, sizeof(r.reason), "%s", why);
    }
    pd_daemon_send(d, s->rid, s->rid_len, &r, NULL, 0);
}

/* ACK REJECTED with the reason, counted and logged through the session's rate limiter. */
static void reject(pd_daemon_t *d, pd_session_t *s, const pd_msg_t *m, pd_wire_error_t code,
                   const char *why)
{
    d->metrics.pushes_rejected_total++;
    d->metrics.bad_messages_total++;
    if (code < 16) {
        d->metrics.errors_by_code[code]++;
    }
    if (pd_ratelimit_ok(&s->rl_bad, pd_daemon_now_ms(d))) {
        pd_log_warn("push rejected worker=%" PRIu32 " err=%s: %s", s->id,
                    pd_wire_error_name(code), why);
    }
    send_ack(d, s, m, PD_ACK_REJECTED, d->store.version, 0, 0, code, why);
}

void pd_kv_push(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    uint64_t length = m->key_length;
    const double *g = NULL;
    char why[PD_WIRE_STR] = "";
    pd_wire_error_t code = PD_WERR_NONE;
    uint64_t tau;
    double lr;

    if (d->state != PD_STATE_RUNNING) {
        code = PD_WERR_WRONG_STATE;
        snprintf(why, sizeof(why), "the job is over (%s): parameters are final", d->stop_reason);
    } else if (d->cfg.method != PD_METHOD_ASYNC_SGD) {
        code = PD_WERR_WRONG_STATE;
        snprintf(why, sizeof(why), "key-value push needs method = async-sgd (this job runs %s)",
                 d->method->name);
    } else if (m->key_length == 0 || !range_ok(d, m->key_offset, &length)) {
        code = PD_WERR_DIMENSION;
        snprintf(why, sizeof(why), "key range [%" PRIu64 ", +%" PRIu64 ") is outside the model's %zu keys",
                 m->key_offset, m->key_length, d->store.dim);
    } else if (m->n_frames != 1 || m->frame_counts[0] != length ||
               pd_wire_in_doubles(in, 0, length, &g) != 0) {
        code = PD_WERR_DIMENSION;
        snprintf(why, sizeof(why),
                 "a push needs one float64 or float32 frame of key_length values");
    } else if (m->version > d->store.version) {
        code = PD_WERR_FUTURE_VERSION;
        snprintf(why, sizeof(why), "version %" PRIu64 " is ahead of the server's %" PRIu64,
                 m->version, d->store.version);
    }
    if (code != PD_WERR_NONE) {
        reject(d, s, m, code, why);
        return;
    }
    tau = d->store.version - m->version;
    if (tau > (uint64_t)d->cfg.max_staleness) {
        d->metrics.pushes_dropped_stale_total++;
        send_ack(d, s, m, PD_ACK_STALE_DROPPED, d->store.version, tau, 0, PD_WERR_NONE, NULL);
        return;
    }
    lr = pd_optim_lr(&d->optim);
    if (d->cfg.stale_step == PD_STALE_INVERSE && tau > 1) {
        lr /= (double)tau;
    }
    /* Applied before the ACK: a push whose step would make a parameter non-finite is taken
     * back (parameters bit for bit as before) and answered REJECTED instead. A NaN or Inf in
     * the gradient always does that, so the gradient is only scanned then, for the reason:
     * no separate pass over every push. */
    if (pd_optim_apply_finite(&d->optim, d->store.x, m->key_offset, length, g, lr) != 0) {
        if (!pd_wire_all_finite(g, length)) {
            reject(d, s, m, PD_WERR_NONFINITE, "gradient contains NaN or Inf");
            return;
        }
        d->metrics.updates_rejected_nonfinite_total++;
        reject(d, s, m, PD_WERR_NONFINITE,
               "the step would make a parameter NaN or Inf (diverging): not applied");
        return;
    }
    send_ack(d, s, m, PD_ACK_APPLIED, d->store.version + 1, tau, lr, PD_WERR_NONE, NULL);
    pd_store_bump_range(&d->store, m->key_offset, length);
    d->metrics.pushes_applied_total++;
    d->metrics.updates_total++;
    d->metrics.version = (double)d->store.version;
    pd_metrics_observe_staleness(&d->metrics, tau);
    s->grads_applied++;
    s->staleness_sum += (double)tau;
    pd_daemon_after_update(d);
}
