/* scheduler.c - see scheduler.h. Loop thread only. */
#include <config.h>
#include "scheduler.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>

#include "error.h"
#include "log.h"
#include "methods/method.h"
#include "rng.h"
#include "task_kind.h"

/* Training begins when min_workers workers are ready for the first time; from then on it
 * goes on with whoever is there. Waiting keeps a synchronous job's first rounds (and a short
 * job altogether) from being run by whichever worker finished loading its data first. */
static bool training_may_run(pd_daemon_t *d)
{
    size_t ready;

    if (d->training_begun) {
        return true;
    }
    ready = pd_sessions_count_ready(&d->sessions);
    if (ready < (size_t)d->cfg.min_workers) {
        return false;
    }
    d->training_begun = true;
    d->training_start_ms = pd_daemon_now_ms(d);
    pd_log_info("training begins: %zu worker%s ready (min_workers = %" PRId64 ")", ready,
                ready == 1 ? "" : "s", d->cfg.min_workers);
    int rc = pd_daemon_arm_deadline(d);
    if (rc != 0) { /* a uv timer does not fail on a live loop; say so if it ever does */
        pd_log_err("cannot start the max_seconds timer: %s", pd_strerror(rc));
    }
    return true;
}

void pd_sched_idle(pd_daemon_t *d, pd_session_t *s)
{
    bool begins;

    s->state = PD_SESSION_IDLE;
    s->has_task = false;
    s->parked = false;
    if (d->state != PD_STATE_RUNNING || s->kv_only) {
        return;
    }
    if (pd_eval_take(d, s)) {
        return;
    }
    begins = !d->training_begun;
    if (!training_may_run(d)) {
        s->parked = true; /* woken by the kick when the last awaited worker is ready */
        return;
    }
    if (begins) {
        pd_sched_kick(d); /* every parked worker, this one included, gets its first task */
        return;
    }
    d->method->on_idle(d, s);
    if (s->state == PD_SESSION_IDLE) {
        s->parked = true;
    }
}

void pd_sched_kick(pd_daemon_t *d)
{
    /* on_idle may add or remove nothing from the table, but index-based iteration stays safe
     * even if it did, since removal swaps in the last entry. */
    for (size_t i = 0; i < d->sessions.n; i++) {
        pd_session_t *s = d->sessions.v[i];
        if (s->state == PD_SESSION_IDLE && !s->kv_only && !s->leaving) {
            pd_sched_idle(d, s);
        }
    }
}

/* The compute time task t of s probably has left: the worker's mean time per sample so far
 * times the task's samples, less the time since it was sent (0 when unknown). */
static double time_left(pd_daemon_t *d, const pd_session_t *s, const pd_task_t *t)
{
    uint64_t samples = pd_task_expected_samples(t->kind, t->batch, t->range_begin, t->range_end) *
                       (t->kind == PD_TASK_GRAD_DIFF ? 2 : 1); /* counted as s->samples is */
    double elapsed = (double)(pd_daemon_now_ms(d) - t->sent_ms) / 1000.0;

    if (s->samples == 0) {
        return 0.0;
    }
    return fmax(0.0, s->compute_seconds / (double)s->samples * (double)samples - elapsed);
}

size_t pd_sched_cancel_where(pd_daemon_t *d, bool (*useless)(const pd_task_t *t, void *arg),
                             void *arg)
{
    size_t n = 0;

    for (size_t i = 0; i < d->sessions.n; i++) {
        pd_session_t *s = d->sessions.v[i];
        pd_msg_t m;

        if (!s->has_task || s->task.kind == PD_TASK_EVAL || !useless(&s->task, arg)) {
            continue;
        }
        pd_msg_init(&m, PD_MSG_CANCEL);
        m.worker_id = s->id;
        m.job_id = d->job.job_id;
        m.task_id = s->task.id;
        m.round_id = s->task.round;
        m.kind = s->task.kind;
        /* Sent or not (a vanished peer), the server stops waiting for the task. */
        (void)pd_daemon_send(d, s->rid, s->rid_len, &m, NULL, 0);
        d->metrics.tasks_cancelled_total++;
        d->metrics.cancelled_compute_saved_seconds_total += time_left(d, s, &s->task);
        s->cancelled_upto = s->task.id;
        s->has_task = false;
        s->state = PD_SESSION_IDLE;
        n++;
    }
    return n;
}

/* The TASK header for t (frames and element type are the caller's). */
static void task_header(const pd_daemon_t *d, const pd_session_t *s, const pd_task_t *t,
                        pd_msg_t *m)
{
    pd_msg_init(m, PD_MSG_TASK);
    m->worker_id = s->id;
    m->job_id = d->job.job_id;
    m->task_id = t->id;
    m->kind = t->kind;
    m->round_id = t->round;
    m->version = t->version;
    m->seed = t->seed;
    m->batch = t->batch;
    m->range_begin = t->range_begin;
    m->range_end = t->range_end;
    m->test_begin = t->test_begin;
    m->test_end = t->test_end;
    m->version_y = t->version_y;
    m->has_local_tr = t->has_local_tr;
    m->local_tr = t->local_tr;
}

/* t went out: s computes it now. */
static void task_sent(pd_daemon_t *d, pd_session_t *s, pd_task_t *t)
{
    t->sent_ms = pd_daemon_now_ms(d);
    s->task = *t;
    s->has_task = true;
    s->state = PD_SESSION_BUSY;
    s->parked = false;
    d->metrics.tasks_sent_total++;
}

/* snap_y non-NULL: a two-frame task, both frames sent. last non-NULL: one more frame after
 * them, with x always sent. Frames go as float32 when the job says so and the worker reads
 * it (every frame of a message has one type; `last` only exists for apts, a float64 job),
 * except for EVAL and LOSS: the objective reported is that of the server's own parameters,
 * not of their rounding. A worker holding the other rounding of the version gets x again, so
 * that every gradient of a float32 job is computed at the same rounded point, whichever
 * worker computes it (sync-sgd stays bit-reproducible). */
static int send_task(pd_daemon_t *d, pd_session_t *s, pd_task_t *t, pd_buf_t *snap,
                     pd_buf_t *snap_y, pd_buf_t *last)
{
    pd_msg_t m;
    pd_wire_frame_t f[3];
    pd_buf_t *vec[3];
    bool exact = t->kind == PD_TASK_EVAL || t->kind == PD_TASK_LOSS;
    bool f32 = d->job.wire_type == PD_ELEM_F32 && s->hello.accepts_f32 && last == NULL && !exact;
    bool send_params = snap_y != NULL || last != NULL || t->off_version || !s->has_params ||
                       s->have_version != t->version || s->params_f32 != f32;
    size_t n = 0;
    int rc;

    task_header(d, s, t, &m);
    m.elem_type = f32 ? PD_ELEM_F32 : PD_ELEM_F64;
    if (send_params) {
        vec[n++] = snap; /* always with snap_y or last: x is frame 0 */
    }
    if (snap_y != NULL) {
        vec[n++] = snap_y;
    }
    if (last != NULL) {
        vec[n++] = last;
    }
    for (size_t i = 0; i < n; i++) {
        pd_buf_t *b = vec[i];
        m.frame_counts[i] = b->len_bytes / sizeof(double);
        if (f32 && (rc = pd_wire_buf_f32(vec[i], &b)) != 0) {
            return rc;
        }
        f[i] = (pd_wire_frame_t){b->data, b->len_bytes, b};
    }
    m.n_frames = (uint32_t)n;
    rc = pd_daemon_send(d, s->rid, s->rid_len, &m, f, m.n_frames);
    if (rc != 0) {
        return rc;
    }
    task_sent(d, s, t);
    s->has_params = !t->off_version;
    s->have_version = t->version;
    if (send_params) {
        s->params_f32 = f32;
    }
    return 0;
}

/* GRAD task t as a key list: frame 1 the keys its minibatch touches (pd_model_batch_keys),
 * frame 2 the current values there, float64 (the keys frame has 8-byte elements); on a
 * sharded job the values of shard 0's keys only (the first ones), the worker reads the rest
 * from their shards. O(the minibatch's nonzeros) whatever the model's size. *sent false with
 * 0: the minibatch touches no key (empty rows, no bias), and the caller sends the task dense. */
static int send_grad_keys(pd_daemon_t *d, pd_session_t *s, pd_task_t *t, bool *sent)
{
    pd_buf_t *keys = NULL, *vals = NULL;
    pd_wire_frame_t f[2];
    pd_msg_t m;
    size_t cap, n = 0, own;
    int rc;

    *sent = false;
    pd_rng_sample(t->seed, d->train->m, t->batch, d->batch_idx);
    cap = pd_model_batch_keys_cap(&d->model, d->train, d->batch_idx, t->batch);
    rc = pd_buf_new(&keys, cap * sizeof(uint64_t));
    if (rc == 0) {
        rc = pd_model_batch_keys(&d->model, d->train, d->batch_idx, t->batch,
                                 (uint64_t *)keys->data, cap, &n);
    }
    if (rc != 0 || n == 0) {
        goto out;
    }
    keys->len_bytes = n * sizeof(uint64_t);
    own = pd_wire_keys_below((const uint64_t *)keys->data, n, d->key_end);
    rc = pd_store_read_keys(&d->store, (const uint64_t *)keys->data, own, &vals);
    if (rc != 0) {
        goto out;
    }
    t->sparse = true;
    t->result_len = n;
    task_header(d, s, t, &m);
    m.key_count = n;
    m.elem_type = PD_ELEM_F64;
    m.n_frames = 2;
    m.frame_counts[0] = n;
    m.frame_counts[1] = own;
    f[0] = (pd_wire_frame_t){keys->data, keys->len_bytes, keys};
    f[1] = (pd_wire_frame_t){vals->data, vals->len_bytes, vals};
    rc = pd_daemon_send(d, s->rid, s->rid_len, &m, f, 2);
    if (rc != 0) {
        goto out;
    }
    task_sent(d, s, t);
    s->has_params = false; /* its vector now holds this version at the keys alone */
    pd_buf_unref(s->task_keys);
    s->task_keys = pd_buf_ref(keys);
    *sent = true;
out:
    pd_buf_unref(keys);
    pd_buf_unref(vals);
    return rc;
}

int pd_sched_send_task(pd_daemon_t *d, pd_session_t *s, pd_task_t *t, pd_buf_t *snap,
                       pd_buf_t *frame2)
{
    return send_task(d, s, t, snap, frame2, NULL);
}

int pd_sched_send_task_last(pd_daemon_t *d, pd_session_t *s, pd_task_t *t, pd_buf_t *snap,
                            pd_buf_t *frame2, pd_buf_t *last)
{
    return last != NULL ? send_task(d, s, t, snap, frame2, last) : -EINVAL;
}

int pd_sched_send_grad(pd_daemon_t *d, pd_session_t *s, uint64_t round, uint64_t seed,
                       uint32_t batch, uint32_t part)
{
    pd_task_t t = {0};
    pd_buf_t *snap = NULL;
    int rc;

    t.id = ++d->next_task_id;
    t.kind = PD_TASK_GRAD;
    t.round = round;
    t.version = d->store.version;
    t.seed = seed;
    t.batch = batch;
    t.part = part;
    /* a sharded job's key-list task holds shard 0's values alone: for workers that read the
     * rest from the other shards (older ones get dense tasks) */
    if (d->sparse_tasks && s->hello.accepts_key_tasks &&
        (d->shards == NULL || s->hello.reads_shard_keys)) {
        bool sent;
        rc = send_grad_keys(d, s, &t, &sent);
        if (rc != 0 || sent) {
            return rc;
        }
    }
    rc = pd_store_snapshot(&d->store, &snap);
    if (rc != 0) {
        return rc;
    }
    rc = pd_sched_send_task(d, s, &t, snap, NULL);
    pd_buf_unref(snap);
    return rc;
}
