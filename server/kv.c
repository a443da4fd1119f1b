/* kv.c - see kv.h. */
#include <config.h>
#include "kv.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "grow.h"
#include "log.h"
#include "methods/method.h"
#include "shards.h"

/* Resolve (offset, length) against the keys [lo, hi); length 0 means "to the end". */
static bool range_within(uint64_t lo, uint64_t hi, uint64_t offset, uint64_t *length)
{
    uint64_t end;
    if (offset < lo || offset > hi) {
        return false;
    }
    if (*length == 0) {
        *length = hi - offset;
    }
    return !__builtin_add_overflow(offset, *length, &end) && end <= hi && *length > 0;
}

/* A read's range against the keys this server holds (all, or its shard's range). */
static bool range_ok(const pd_daemon_t *d, uint64_t offset, uint64_t *length)
{
    return range_within(d->key_begin, d->key_end, offset, length);
}

/* PULLs waiting for a version (min_version) this server has not reached: answered, in the
 * order they came, by pd_kv_serve_waiting once it has. */
#define WAITING_MAX 4096
typedef struct waiting_pull {
    unsigned char rid[PD_WIRE_MAX_ROUTING_ID];
    size_t rid_len;
    pd_msg_t msg;
    uint64_t *keys; /* a key list's keys (checked, msg.key_count of them, owned), or NULL */
    uint64_t since_ms;
    bool told;      /* its long wait is logged */
} waiting_pull_t;

static void serve_keys(pd_daemon_t *d, pd_session_t *s, const pd_msg_t *m,
                       const uint64_t *keys);

/* Queue the PULL m (with its checked key list, copied, when keys is not NULL). */
static bool wait_for_version(pd_daemon_t *d, const pd_msg_t *m, const uint64_t *keys,
                             pd_session_t *s)
{
    uint64_t *kept = NULL;
    waiting_pull_t *w;

    if (d->n_waiting == WAITING_MAX) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_WRONG_STATE,
                             "%d pulls already wait for versions not reached", WAITING_MAX);
        return false;
    }
    if (keys != NULL && (kept = malloc(m->key_count * sizeof(uint64_t))) == NULL) {
        goto no_memory;
    }
    if (pd_grow(&d->waiting, &d->waiting_cap, d->n_waiting + 1, sizeof(waiting_pull_t)) != 0) {
        goto no_memory;
    }
    w = (waiting_pull_t *)d->waiting + d->n_waiting++;
    memcpy(w->rid, s->rid, s->rid_len);
    w->rid_len = s->rid_len;
    w->msg = *m;
    w->keys = kept;
    w->since_ms = pd_daemon_now_ms(d);
    w->told = false;
    if (kept != NULL) {
        memcpy(kept, keys, m->key_count * sizeof(uint64_t));
    }
    return true;

no_memory:
    free(kept);
    pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_INTERNAL, "out of memory");
    return false;
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
        if (s != NULL && w[i].msg.min_version > d->store.version) {
            w[kept++] = w[i];
            continue;
        }
        if (s != NULL && w[i].keys != NULL) { /* else it left while waiting */
            serve_keys(d, s, &w[i].msg, w[i].keys);
        } else if (s != NULL) {
            pd_wire_in_t in;
            memset(&in, 0, sizeof(in));
            in.msg = w[i].msg;
            pd_kv_pull(d, &in, s); /* reached: it cannot wait again */
        }
        free(w[i].keys);
    }
    d->n_waiting = kept;
}

void pd_kv_waiting_tick(pd_daemon_t *d, uint64_t now)
{
    waiting_pull_t *w = d->waiting;

    for (size_t i = 0; i < d->n_waiting; i++) {
        if (!w[i].told && now - w[i].since_ms > (uint64_t)d->cfg.worker_timeout_ms) {
            /* the reader has given up by now: say what this server is waiting for */
            pd_log_warn("a PULL has waited %.1f s for version %" PRIu64 ", this server is at %"
                        PRIu64 "%s", (double)(now - w[i].since_ms) / 1000.0,
                        w[i].msg.min_version, d->store.version,
                        pd_shard_parts_waiting(d) ? " (updates wait for a gradient part)" : "");
            w[i].told = true;
        }
    }
}

void pd_kv_fail_waiting(pd_daemon_t *d, const char *why)
{
    waiting_pull_t *w = d->waiting;

    for (size_t i = 0; i < d->n_waiting; i++) {
        pd_session_t *s = pd_sessions_find(&d->sessions, w[i].rid, w[i].rid_len);
        if (s != NULL) {
            pd_daemon_send_error(d, w[i].rid, w[i].rid_len, s, &w[i].msg, PD_WERR_WRONG_STATE,
                                 "%s", why);
        }
        free(w[i].keys);
    }
    d->n_waiting = 0;
}

void pd_kv_release(pd_daemon_t *d)
{
    for (size_t i = 0; i < d->n_waiting; i++) {
        free(((waiting_pull_t *)d->waiting)[i].keys);
    }
    free(d->waiting);
    d->waiting = NULL;
    d->n_waiting = d->waiting_cap = 0;
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
    d->reads_for_clients += !s->coordinator;
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

pd_wire_error_t pd_kv_check_keys(pd_wire_in_t *in, uint32_t values, uint64_t lo, uint64_t hi,
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
    if (n > hi - lo) {
        snprintf(why, why_len, "%" PRIu64 " keys, more than the %" PRIu64 " keys [%" PRIu64
                 ", %" PRIu64 ") held here", n, hi - lo, lo, hi);
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
    switch (pd_wire_check_keys(k, (size_t)n, hi, why, why_len)) {
    case 0:
        break;
    case PD_EDIM:
        return PD_WERR_DIMENSION;
    default:
        return PD_WERR_MALFORMED;
    }
    if (k[0] < lo) {
        snprintf(why, why_len, "key %" PRIu64 " is not one of the keys [%" PRIu64 ", %" PRIu64
                 ") this server holds", k[0], lo, hi);
        return PD_WERR_DIMENSION;
    }
    *keys = k;
    return PD_WERR_NONE;
}

const uint64_t *pd_kv_local_keys(pd_daemon_t *d, const uint64_t *keys, size_t n)
{
    if (d->key_begin == 0) {
        return keys;
    }
    for (size_t i = 0; i < n; i++) {
        d->key_scratch[i] = keys[i] - d->key_begin;
    }
    return d->key_scratch;
}

/* PARAMS for the checked key list of m (the job's keys): the values in key order, or
 * NOT_MODIFIED when no block holding one of the keys changed since the version held. */
static void serve_keys(pd_daemon_t *d, pd_session_t *s, const pd_msg_t *m,
                       const uint64_t *keys)
{
    pd_buf_t *vals = NULL;
    pd_msg_t r;
    int rc;

    keys = pd_kv_local_keys(d, keys, m->key_count);
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

/* A key-list PULL: checked against the keys held here, then answered now or, with a
 * min_version not reached, once it is. */
static void pull_keys(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    const uint64_t *keys = NULL;
    char why[PD_WIRE_STR] = "";
    pd_wire_error_t code = pd_kv_check_keys(in, 0, d->key_begin, d->key_end, &keys, why,
                                            sizeof(why));

    if (code != PD_WERR_NONE) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, code, "%s", why);
    } else if (m->min_version > d->store.version) {
        (void)wait_for_version(d, m, keys, s);
    } else {
        serve_keys(d, s, m, keys);
    }
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

    if (m->key_count > 0 && !m->exact_version) {
        pull_keys(d, in, s);
        return;
    }
    if (m->key_count > 0) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_MALFORMED,
                             "exact_version reads a range, not a key list");
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
        (void)wait_for_version(d, m, NULL, s);
        return;
    }
    params_init(d, s, m, &r);
    r.key_offset = m->key_offset;
    r.key_length = length;
    /* a key-value push marks only its blocks, so a range others' pushes missed stays current */
    if (m->not_modified && !m->exact_version &&
        pd_store_range_unchanged(&d->store, m->key_offset - d->key_begin, length, m->version)) {
        send_not_modified(d, s, &r, m->version);
        return;
    }
    r.version = m->exact_version ? m->min_version : d->store.version;
    rc = pd_store_read_range_at(&d->store, r.version, m->key_offset - d->key_begin, length,
                                &snap, &values);
    if (rc == -ESTALE) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_VERSION_GONE,
                             "version %" PRIu64 " is no longer kept (this server is at "
                             "version %" PRIu64 ")", m->min_version, d->store.version);
        return;
    }
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
    if (d->cfg.method != PD_METHOD_ASYNC_SGD) {
        snprintf(why, why_len, "key-value push needs method = async-sgd (this job runs %s)",
                 d->method->name);
        return PD_WERR_WRONG_STATE;
    }
    if (d->opts.shard_index > 0) {
        snprintf(why, why_len, "push to shard 0 of a sharded job, which decides every update "
                 "(this is shard %u)", d->opts.shard_index);
        return PD_WERR_WRONG_STATE;
    }
    /* shard 0 takes pushes for every key of the job: it relays the others' shares */
    if (m->key_count > 0) {
        t->n = m->key_count;
        code = pd_kv_check_keys(in, 1, 0, d->model.dim, &t->keys, why, why_len);
        if (code == PD_WERR_NONE && pd_wire_in_doubles(in, 1, t->n, g) != 0) {
            snprintf(why, why_len, "a key-list push needs frame 2 of key_count = %" PRIu64
                     " float64 values, got %" PRIu64, t->n, m->frame_counts[1]);
            code = PD_WERR_DIMENSION;
        }
    } else if (m->key_length == 0 || !range_within(0, d->model.dim, m->key_offset, &t->n)) {
        snprintf(why, why_len, "key range [%" PRIu64 ", +%" PRIu64 ") is outside the model's "
                 "%zu keys", m->key_offset, m->key_length, d->model.dim);
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

/* How many of a push's keys, the first ones (keys increase), this server holds itself. */
static size_t own_share(const pd_daemon_t *d, const kv_target_t *t)
{
    if (t->keys != NULL) {
        return pd_wire_keys_below(t->keys, t->n, d->key_end);
    }
    if (t->offset >= d->key_end) {
        return 0;
    }
    return t->n < d->key_end - t->offset ? t->n : d->key_end - t->offset;
}

/* The step of a push. On shard 0 of a sharded job, that of its own keys (the first `own` of
 * t), after checking that the rest is finite, and then the other shards' shares relayed in
 * COMMITs: every shard counts the version, even one the push does not touch. */
static int step_push(pd_daemon_t *d, const kv_target_t *t, const double *g, double lr)
{
    size_t own = own_share(d, t);
    int rc;

    if (own < t->n && !pd_wire_all_finite(g + own, t->n - own)) {
        return PD_ENONFINITE; /* a shard would refuse it, ending the job */
    }
    if (own == 0) {
        pd_store_step_none(&d->store, &d->optim);
        rc = 0;
    } else {
        rc = t->keys != NULL ? pd_store_step_keys(&d->store, &d->optim, t->keys, own, g, lr)
                             : pd_store_step_range(&d->store, &d->optim, t->offset, own, g, lr);
    }
    if (rc == 0) {
        pd_shards_commit(d, &(pd_shard_update_t){.offset = t->offset, .keys = t->keys,
                                                 .n = t->n, .g = g, .n_samples = 1, .lr = lr});
    }
    return rc;
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
    rc = step_push(d, &t, g, lr);
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
