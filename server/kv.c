/* kv.c - see kv.h. */
#include <config.h>
#include "kv.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "methods/method.h"

/* Resolve (offset, length) against the keys this server holds (all of them, or its shard's
 * range); length 0 means "to the end". */
static bool range_ok(const pd_daemon_t *d, uint64_t offset, uint64_t *length)
{
    uint64_t end;
    if (offset < d->key_begin || offset > d->key_end) {
        return false;
    }
    if (*length == 0) {
        *length = d->key_end - offset;
    }
    return !__builtin_add_overflow(offset, *length, &end) && end <= d->key_end && *length > 0;
}

/* PULLs waiting for a version (min_version) this server has not reached: answered, in the
 * order they came, by pd_kv_serve_waiting once it has. */
#define WAITING_MAX 4096
typedef struct waiting_pull {
    unsigned char rid[PD_WIRE_MAX_ROUTING_ID];
    size_t rid_len;
    pd_msg_t msg;
} waiting_pull_t;

static bool wait_for_version(pd_daemon_t *d, const pd_wire_in_t *in, pd_session_t *s)
{
    waiting_pull_t *w;

    if (d->n_waiting == WAITING_MAX) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, &in->msg, PD_WERR_WRONG_STATE,
                             "%d pulls already wait for versions not reached", WAITING_MAX);
        return false;
    }
    if (d->n_waiting == d->waiting_cap) {
        size_t cap = d->waiting_cap > 0 ? 2 * d->waiting_cap : 16;
        void *p = realloc(d->waiting, cap * sizeof(waiting_pull_t));
        if (p == NULL) {
            pd_daemon_send_error(d, s->rid, s->rid_len, s, &in->msg, PD_WERR_INTERNAL,
                                 "out of memory");
            return false;
        }
        d->waiting = p;
        d->waiting_cap = cap;
    }
    w = (waiting_pull_t *)d->waiting + d->n_waiting++;
    memcpy(w->rid, s->rid, s->rid_len);
    w->rid_len = s->rid_len;
    w->msg = in->msg;
    return true;
}

void pd_kv_serve_waiting(pd_daemon_t *d)
{
    waiting_pull_t *w = d->waiting;
    size_t kept = 0, n = d->n_waiting;

    if (n == 0) {
        return; /* after every update: no pass over an empty list */
    }
    d->n_waiting = 0; /* pd_kv_pull may queue again: it appends after `kept` */
    for (size_t i = 0; i < n; i++) {
        pd_session_t *s = pd_sessions_find(&d->sessions, w[i].rid, w[i].rid_len);
        if (s == NULL) {
            continue; /* it left while waiting */
        }
        if (w[i].msg.min_version > d->store.version) {
            w[kept++] = w[i];
            continue;
        }
        pd_wire_in_t in;
        memset(&in, 0, sizeof(in));
        in.msg = w[i].msg;
        pd_kv_pull(d, &in, s);
    }
    d->n_waiting = kept;
}

/* A PARAMS answering m at the current version, counted; the caller adds the keys. */
static void params_init(pd_daemon_t *d, const pd_session_t *s, const pd_msg_t *m, pd_msg_t *r)
{
    pd_msg_init(r, PD_MSG_PARAMS);
    r->request_id = m->request_id;
    r->worker_id = s->id;
    r->version = d->store.version;
    r->elem_type = PD_ELEM_F64;
    d->metrics.pulls_total++;
}

/* In a PULL, not_modified = "I hold `version`": when nothing the client asked for changed
 * since then, the answer skips the bytes and names the version held, which the client keeps. */
static void send_not_modified(pd_daemon_t *d, pd_session_t *s, pd_msg_t *r, uint64_t held)
{
    r->version = held;
    r->not_modified = true;
    d->metrics.pulls_not_modified_total++;
    pd_daemon_send(d, s->rid, s->rid_len, r, NULL, 0);
}

/* The n values of r in one frame (doubles, or floats when r->elem_type is F32), zero-copy;
 * takes the caller's reference to owner. */
static void send_values(pd_daemon_t *d, pd_session_t *s, pd_msg_t *r, pd_buf_t *owner,
                        const void *values, uint64_t n)
{
    size_t size = r->elem_type == PD_ELEM_F32 ? sizeof(float) : sizeof(double);
    pd_wire_frame_t f = {values, n * size, owner};

    r->n_frames = 1;
    r->frame_counts[0] = n;
    pd_daemon_send(d, s->rid, s->rid_len, r, &f, 1);
    pd_buf_unref(owner);
}

/* The key list of a PULL or PUSH with key_count > 0: frame 1, followed by `values` frames of
 * key_count doubles (0 for a PULL, 1 for a PUSH). On PD_WERR_NONE *keys points into the
 * message (valid until it is released); otherwise why says what is wrong. O(key_count). */
static pd_wire_error_t check_keys(const pd_daemon_t *d, pd_wire_in_t *in, uint32_t values,
                                  const uint64_t **keys, char *why, size_t why_len)
{
    const pd_msg_t *m = &in->msg;
    uint64_t n = m->key_count;
    const uint64_t *k;

    if (m->key_offset != 0 || m->key_length != 0) {
        snprintf(why, why_len, "a key list (key_count %" PRIu64 ") goes without key_offset and "
                 "key_length, got [%" PRIu64 ", +%" PRIu64 ")", n, m->key_offset, m->key_length);
        return PD_WERR_MALFORMED;
    }
    if (n > d->store.dim) {
        snprintf(why, why_len, "%" PRIu64 " keys, more than the model's %zu", n, d->store.dim);
        return PD_WERR_DIMENSION;
    }
    if (m->n_frames != 1 + values || m->frame_counts[0] != n ||
        pd_wire_in_u64s(in, 0, n, &k) != 0) {
        snprintf(why, why_len, "a key list needs frame 1 of key_count = %" PRIu64 " uint64 keys "
                 "(8 bytes each)%s; got %" PRIu32 " frames, the first of %" PRIu64 " elements",
                 n, values > 0 ? " then one float64 frame of as many values" : " and no other",
                 m->n_frames, m->n_frames > 0 ? m->frame_counts[0] : 0);
        return PD_WERR_FRAMES;
    }
    switch (pd_wire_check_keys(k, (size_t)n, d->store.dim, why, why_len)) {
    case 0:
        break;
    case PD_EDIM:
        return PD_WERR_DIMENSION;
    default:
        return PD_WERR_MALFORMED;
    }
    *keys = k;
    return PD_WERR_NONE;
}

/* PARAMS for a key list: the values in key order, or NOT_MODIFIED when no block holding one
 * of the keys changed since the version held. */
static void pull_keys(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    const uint64_t *keys = NULL;
    char why[PD_WIRE_STR] = "";
    pd_buf_t *vals = NULL;
    pd_msg_t r;
    pd_wire_error_t code = check_keys(d, in, 0, &keys, why, sizeof(why));
    int rc;

    if (code != PD_WERR_NONE) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, code, "%s", why);
        return;
    }
    params_init(d, s, m, &r);
    r.key_count = m->key_count;
    if (m->not_modified && pd_store_keys_unchanged(&d->store, keys, m->key_count, m->version)) {
        send_not_modified(d, s, &r, m->version);
        return;
    }
    rc = pd_store_read_keys(&d->store, keys, m->key_count, &vals);
    if (rc != 0) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_INTERNAL, "gather: %s",
                             pd_strerror(rc));
        return;
    }
    send_values(d, s, &r, vals, (const double *)vals->data, m->key_count);
}

/* A range PULL whose elem_type is F32 asks for float32 values: *owner (the snapshot or range
 * copy holding `values`) is replaced by a buffer of them rounded, O(n); a whole-vector
 * snapshot keeps its rounding for the next such pull. */
static int round_values(pd_buf_t **owner, const float **out, const double *values, uint64_t n)
{
    pd_buf_t *f;
    int rc;

    if (values == (const double *)(*owner)->data && n * sizeof(double) == (*owner)->len_bytes) {
        rc = pd_wire_buf_f32(*owner, &f);
        f = rc == 0 ? pd_buf_ref(f) : NULL;
    } else {
        rc = pd_buf_new(&f, n * sizeof(float));
        if (rc == 0) {
            pd_wire_to_f32(values, n, (float *)f->data);
        }
    }
    pd_buf_unref(*owner);
    *owner = f;
    *out = f != NULL ? (const float *)f->data : NULL;
    return rc;
}

void pd_kv_pull(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    uint64_t length = m->key_length;
    pd_buf_t *snap = NULL;
    const double *values;
    const float *values32 = NULL;
    pd_msg_t r;
    int rc;

    if (m->key_count > 0 && (m->min_version > 0 || d->cfg.shards > 1)) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_MALFORMED,
                             "a key list is read now and from an unsharded job: no min_version, "
                             "no shards");
        return;
    }
    if (m->key_count > 0) {
        pull_keys(d, in, s);
        return;
    }
    if (!range_ok(d, m->key_offset, &length)) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_DIMENSION,
                             "key range [%" PRIu64 ", +%" PRIu64 ") is outside the keys [%zu, "
                             "%zu) this server holds", m->key_offset, m->key_length,
                             d->key_begin, d->key_end);
        return;
    }
    if (m->min_version > d->store.version) {
        (void)wait_for_version(d, in, s);
        return;
    }
    params_init(d, s, m, &r);
    r.key_offset = m->key_offset;
    r.key_length = length;
    /* a key-value push marks only its blocks, so a range others' pushes missed stays current */
    if (m->not_modified &&
        pd_store_range_unchanged(&d->store, m->key_offset - d->key_begin, length, m->version)) {
        send_not_modified(d, s, &r, m->version);
        return;
    }
    rc = pd_store_read_range(&d->store, m->key_offset - d->key_begin, length, &snap, &values);
    if (rc == 0 && m->elem_type == PD_ELEM_F32) {
        rc = round_values(&snap, &values32, values, length);
        r.elem_type = PD_ELEM_F32;
    }
    if (rc != 0) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_INTERNAL, "snapshot: %s",
                             pd_strerror(rc));
        return;
    }
    send_values(d, s, &r, snap, r.elem_type == PD_ELEM_F32 ? (const void *)values32 : values,
                length);
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
    r.key_count = req->key_count;
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

/* The coordinates a push writes: [offset, offset + n), or keys[0 .. n) when keys != NULL. */
typedef struct kv_target {
    uint64_t offset;
    uint64_t n;
    const uint64_t *keys;
} kv_target_t;

/* The checks of a push in the documented order; on PD_WERR_NONE *t and *g are set. */
static pd_wire_error_t check_push(const pd_daemon_t *d, pd_wire_in_t *in, kv_target_t *t,
                                  const double **g, char *why, size_t why_len)
{
    const pd_msg_t *m = &in->msg;
    pd_wire_error_t code = PD_WERR_NONE;

    t->offset = m->key_offset;
    t->n = m->key_length;
    t->keys = NULL;
    if (d->state != PD_STATE_RUNNING) {
        snprintf(why, why_len, "the job is over (%s): parameters are final", d->stop_reason);
        return PD_WERR_WRONG_STATE;
    }
    if (d->cfg.method != PD_METHOD_ASYNC_SGD || d->cfg.shards > 1) {
        snprintf(why, why_len, "key-value push needs method = async-sgd on one server (this "
                 "job runs %s on %" PRId64 ")", d->method->name, d->cfg.shards);
        return PD_WERR_WRONG_STATE;
    }
    if (m->key_count > 0) {
        t->n = m->key_count;
        code = check_keys(d, in, 1, &t->keys, why, why_len);
        if (code == PD_WERR_NONE && pd_wire_in_doubles(in, 1, t->n, g) != 0) {
            snprintf(why, why_len, "a key-list push needs frame 2 of key_count = %" PRIu64
                     " float64 values, got %" PRIu64, t->n, m->frame_counts[1]);
            code = PD_WERR_DIMENSION;
        }
    } else if (m->key_length == 0 || !range_ok(d, m->key_offset, &t->n)) {
        snprintf(why, why_len, "key range [%" PRIu64 ", +%" PRIu64 ") is outside the model's "
                 "%zu keys", m->key_offset, m->key_length, d->store.dim);
        code = PD_WERR_DIMENSION;
    } else if (m->n_frames != 1 || m->frame_counts[0] != t->n ||
               pd_wire_in_doubles(in, 0, t->n, g) != 0) {
        snprintf(why, why_len,
                 "a push needs one float64 or float32 frame of key_length values");
        code = PD_WERR_DIMENSION;
    }
    if (code == PD_WERR_NONE && m->version > d->store.version) {
        snprintf(why, why_len, "version %" PRIu64 " is ahead of the server's %" PRIu64,
                 m->version, d->store.version);
        code = PD_WERR_FUTURE_VERSION;
    }
    return code;
}

void pd_kv_push(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    const double *g = NULL;
    char why[PD_WIRE_STR] = "";
    kv_target_t t;
    uint64_t tau;
    double lr;
    int rc;

    pd_wire_error_t code = check_push(d, in, &t, &g, why, sizeof(why));
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
     * no separate pass over every push. A range push of plain sgd reads only g before the
     * step: the store's per-block bound of |x| shows it cannot overflow. */
    rc = t.keys != NULL ? pd_store_step_keys(&d->store, &d->optim, t.keys, t.n, g, lr)
                        : pd_store_step_range(&d->store, &d->optim, t.offset, t.n, g, lr);
    if (rc != 0) {
        if (!pd_wire_all_finite(g, t.n)) {
            reject(d, s, m, PD_WERR_NONFINITE, "gradient contains NaN or Inf");
            return;
        }
        d->metrics.updates_rejected_nonfinite_total++;
        reject(d, s, m, PD_WERR_NONFINITE,
               "the step would make a parameter NaN or Inf (diverging): not applied");
        return;
    }
    send_ack(d, s, m, PD_ACK_APPLIED, d->store.version, tau, lr, PD_WERR_NONE, NULL);
    d->metrics.pushes_applied_total++;
    d->metrics.updates_total++;
    d->metrics.version = (double)d->store.version;
    pd_metrics_observe_staleness(&d->metrics, tau);
    s->grads_applied++;
    s->staleness_sum += (double)tau;
    pd_daemon_after_update(d);
}
