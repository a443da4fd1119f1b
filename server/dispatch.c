/* dispatch.c - one received message: validate everything against the job, then route it.
 * Nothing touches the parameters or the method state before the checks pass, so a bad
 * message changes nothing but a counter (and a rate-limited log line). Loop thread only. */
#include <config.h>

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "kv.h"
#include "log.h"
#include "methods/method.h"
#include "scheduler.h"
#include "shards.h"
#include "serve.h"
#include "task_kind.h"

static void reply_welcome(pd_daemon_t *d, pd_session_t *s, const pd_msg_t *req)
{
    pd_msg_t m;

    pd_msg_init(&m, PD_MSG_WELCOME);
    m.request_id = req->request_id;
    m.worker_id = s->id;
    m.job_id = d->job.job_id;
    m.version = d->store.version;
    m.has_job = true;
    m.job = &d->job;
    pd_daemon_send(d, s->rid, s->rid_len, &m, NULL, 0);
}

static void handle_hello(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    pd_msg_t bye;
    int rc;

    if (!m->has_hello) {
        pd_daemon_send_error(d, in->routing_id, in->routing_id_len, s, m, PD_WERR_MALFORMED,
                             "HELLO without a hello section");
        return;
    }
    if (d->state != PD_STATE_RUNNING && !(d->state == PD_STATE_DONE && m->hello.kv_only)) {
        pd_daemon_init_bye(d, &bye);
        pd_daemon_send(d, in->routing_id, in->routing_id_len, &bye, NULL, 0);
        /* A worker told that the server stops for a restart answers with a HELLO (meant for
         * the next server), not a BYE: that is its goodbye, so the drain need not wait for
         * its deadline and the next paramd can start sooner. */
        if (s != NULL && d->state == PD_STATE_DRAINING) {
            pd_daemon_drop_session(d, s, "gone to wait for the next server");
        }
        return;
    }
    if (d->opts.shard_index > 0 ? m->hello.shard_index != d->opts.shard_index &&
                                      !(m->hello.shard_index == 0 && m->hello.kv_only)
                                : m->hello.shard_index != 0) {
        /* shard i > 0 takes shard 0 (saying "shard_index = i") and key-value readers */
        pd_daemon_send_error(d, in->routing_id, in->routing_id_len, s, m, PD_WERR_WRONG_STATE,
                             d->opts.shard_index > 0
                                 ? "this is shard %u of the job: it serves reads of its keys "
                                   "(kv_only); workers join shard 0"
                                 : "this server is shard %u: no shard registers with it",
                             d->opts.shard_index);
        return;
    }
    if (d->shards != NULL && !m->hello.kv_only && !m->hello.reads_exact_versions &&
        (d->cfg.method == PD_METHOD_FREYA_PAGE || d->cfg.method == PD_METHOD_SYNC_PAGE)) {
        /* its GRAD_DIFF tasks would carry shard 0's keys of y, which it cannot complete */
        pd_daemon_send_error(d, in->routing_id, in->routing_id_len, s, m, PD_WERR_WRONG_STATE,
                             "%s over several servers needs a worker that reads a "
                             "GRAD_DIFF's y from the shards (Hello.reads_exact_versions): "
                             "update this worker", d->method->name);
        return;
    }
    if (s != NULL) {
        /* The same process re-joins (it lost the server, or restarted with the same id):
         * a new incarnation; results of the old one must not count. */
        pd_daemon_drop_session(d, s, "re-joined");
    }
    rc = pd_sessions_add(&d->sessions, in->routing_id, in->routing_id_len, pd_daemon_now_ms(d), &s);
    if (rc != 0) {
        pd_daemon_send_error(d, in->routing_id, in->routing_id_len, NULL, m, PD_WERR_INTERNAL,
                             "cannot add a session: %s", pd_strerror(rc));
        return;
    }
    s->hello = m->hello;
    s->kv_only = m->hello.kv_only;
    s->coordinator = m->hello.shard_index > 0;
    d->coordinator_seen |= s->coordinator;
    s->state = s->kv_only ? PD_SESSION_IDLE : PD_SESSION_JOINED;
    d->metrics.workers_joined_total++;
    pd_log_info("worker joined worker=%" PRIu32 " name=%s host=%s cores=%" PRIu32 "%s", s->id,
                s->hello.name, s->hello.host, s->hello.cores, s->kv_only ? " kv-only" : "");
    reply_welcome(d, s, m);
}

static void handle_ready(pd_daemon_t *d, pd_session_t *s)
{
    uint64_t lo = UINT64_MAX;

    if (s->state != PD_SESSION_JOINED) {
        return; /* a repeated READY changes nothing */
    }
    /* A newcomer starts at the slowest clock, so SSP neither parks it nor lets it race. */
    for (size_t i = 0; i < d->sessions.n; i++) {
        const pd_session_t *o = d->sessions.v[i];
        if (o != s && !o->kv_only && o->state != PD_SESSION_JOINED && o->clock < lo) {
            lo = o->clock;
        }
    }
    s->clock = lo == UINT64_MAX ? 0 : lo;
    d->metrics.workers = (double)pd_sessions_count_ready(&d->sessions) + 1;
    pd_log_info("worker ready worker=%" PRIu32 " name=%s", s->id, s->hello.name);
    pd_sched_idle(d, s);
    d->metrics.workers = (double)pd_sessions_count_ready(&d->sessions);
    if (!d->eval.active && d->metrics.eval_rounds_total == 0) {
        pd_eval_start(d); /* an early reading of the starting objective */
    }
}

/* The task in flight is lost or refused: its work goes back to the method or the eval. */
void pd_dispatch_release_task(pd_daemon_t *d, pd_session_t *s)
{
    pd_task_t t = s->task;

    if (!s->has_task) {
        return;
    }
    s->has_task = false;
    s->state = PD_SESSION_IDLE;
    if (t.kind == PD_TASK_EVAL) {
        pd_eval_on_leave(d, &t);
    } else {
        d->method->on_leave(d, s, &t);
    }
}

/* Whether results of this kind may come in parts: the gradients (a GRAD_DIFF is
 * freya-page's and sync-page's). */
static bool kind_in_parts(pd_task_kind_t kind)
{
    return kind == PD_TASK_GRAD || kind == PD_TASK_GRAD_DIFF;
}

/* A GRAD result of a job whose results may come in parts, holding shard 0's keys alone: the
 * worker sent every other shard its part (PART). */
static bool parts_result(const pd_daemon_t *d, const pd_msg_t *m)
{
    return d->job.gradient_parts && kind_in_parts(m->kind) && m->key_count == 0 &&
           m->n_frames == 1 && m->frame_counts[0] == d->key_end && d->key_end < d->model.dim;
}

/* Checks a RESULT against the task it answers; returns the wire error, or NONE. */
static pd_wire_error_t check_result(pd_daemon_t *d, pd_wire_in_t *in, const pd_task_t *t,
                                    const double **grad, char *why, size_t why_len)
{
    const pd_msg_t *m = &in->msg;
    const pd_task_kind_info_t *info = pd_task_kind_info(t->kind);
    uint64_t want = pd_task_expected_samples(t->kind, t->batch, t->range_begin, t->range_end);
    uint64_t len = parts_result(d, m) ? d->key_end
                   : t->result_len != 0 ? t->result_len
                                        : d->model.dim;
    int rc;

    if (m->kind != t->kind || info == NULL) {
        snprintf(why, why_len, "result kind %d for a task of kind %d", m->kind, t->kind);
        return PD_WERR_MALFORMED;
    }
    if (m->version > d->store.version) {
        snprintf(why, why_len, "version %" PRIu64 " is ahead of the server's %" PRIu64,
                 m->version, d->store.version);
        return PD_WERR_FUTURE_VERSION;
    }
    if (m->version != t->version) {
        snprintf(why, why_len, "computed at version %" PRIu64 " but the task was at %" PRIu64,
                 m->version, t->version);
        return PD_WERR_MALFORMED;
    }
    if (info->result_frames == 0) {
        /* EVAL, LOSS: scalars only */
        if (m->n_frames != 0 || m->n_samples != want || m->correct > t->test_end - t->test_begin) {
            snprintf(why, why_len, "%s result does not match its ranges (%" PRIu64
                     " samples, %" PRIu32 " frames)", info->name, m->n_samples, m->n_frames);
            return PD_WERR_DIMENSION;
        }
        return PD_WERR_NONE;
    }
    if (info->frame2 == PD_FRAME2_POINT && m->version_y != t->version_y) {
        snprintf(why, why_len, "difference against version %" PRIu64 " but the task's y is %" PRIu64,
                 m->version_y, t->version_y);
        return PD_WERR_MALFORMED;
    }
    if (m->key_count != (t->sparse ? len : 0)) {
        snprintf(why, why_len, "%s result says key_count %" PRIu64 ", the task had %" PRIu64
                 " keys", info->name, m->key_count, t->sparse ? len : 0);
        return PD_WERR_MALFORMED;
    }
    if (m->n_frames != 1 || (m->elem_type != PD_ELEM_F64 && m->elem_type != PD_ELEM_F32 &&
                             !(m->elem_type == PD_ELEM_BF16 && d->job.bf16_gradients &&
                               t->kind == PD_TASK_GRAD))) {
        snprintf(why, why_len,
                 "a %s result needs exactly 1 float64 or float32 frame (bfloat16 for GRAD "
                 "with gradient_compression = bf16), got %" PRIu32 " of type %d",
                 info->name, m->n_frames, (int)m->elem_type);
        return PD_WERR_FRAMES;
    }
    if (m->frame_counts[0] != len) {
        snprintf(why, why_len, "%s result has %" PRIu64 " values, the task wants %" PRIu64,
                 info->name, m->frame_counts[0], len);
        return PD_WERR_DIMENSION;
    }
    if (t->has_local_tr &&
        (!m->has_local_tr || m->local_tr.block != t->local_tr.block ||
         m->local_tr.n_blocks != t->local_tr.n_blocks || m->local_tr.radius != t->local_tr.radius ||
         m->local_tr.local_iters != t->local_tr.local_iters)) {
        snprintf(why, why_len, "%s result does not repeat the task's block, radius and local "
                 "iterations", info->name);
        return PD_WERR_MALFORMED;
    }
    if (m->n_samples != want) {
        snprintf(why, why_len, "%s result sums %" PRIu64 " samples, the task asked for %" PRIu64,
                 info->name, m->n_samples, want);
        return PD_WERR_DIMENSION;
    }
    rc = pd_wire_in_doubles(in, 0, len, grad);
    if (rc != 0) {
        snprintf(why, why_len, "%s result frame: %s", info->name, pd_strerror(rc));
        return PD_WERR_FRAMES;
    }
    /* NaN or Inf values are not refused here: they are a diverging model's true answer to a
     * valid task (handle_result counts them and applies on_divergence). */
    return PD_WERR_NONE;
}

/* A refused RESULT must not keep its task: the worker will not answer it again, so the work
 * goes back to the method (or the evaluation) and the worker gets a new task. */
static void give_back_task(pd_daemon_t *d, pd_session_t *s)
{
    if (s->has_task) {
        pd_dispatch_release_task(d, s);
        pd_sched_idle(d, s);
    }
}

/* A result whose loss or gradient is NaN or Inf: counted and reported as a divergence.
 * Returns true when its gradient must not reach the method. */
static bool nonfinite_result(pd_daemon_t *d, const pd_session_t *s, const pd_msg_t *m,
                             const double *grad)
{
    bool bad_grad = grad != NULL && !pd_wire_all_finite(grad, m->frame_counts[0]);

    if (!bad_grad && isfinite(m->loss_sum)) {
        return false;
    }
    d->metrics.results_nonfinite_total++;
    pd_log_warn("non-finite result worker=%" PRIu32 " task=%" PRIu64 " version=%" PRIu64
                " loss_sum=%g%s",
                s->id, m->task_id, m->version, m->loss_sum, bad_grad ? " gradient has NaN/Inf" : "");
    pd_daemon_diverged(d, bad_grad ? "a gradient with NaN or Inf" : "a non-finite loss");
    return bad_grad;
}

static void take_result(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    const pd_msg_t *m = &in->msg;
    const double *grad = NULL;
    char why[PD_WIRE_STR];
    pd_wire_error_t code;
    pd_task_t t;

    if (m->task_id != 0 && m->task_id <= s->cancelled_upto &&
        (!s->has_task || m->task_id != s->task.id)) {
        /* The worker computed on past our CANCEL (it was busy, or predates CANCEL): nothing
         * is wrong, and the task is already forgotten. */
        d->metrics.results_cancelled_late_total++;
        d->metrics.results_discarded_total++;
        pd_log_debug("dropped the late result of cancelled task %" PRIu64 " from worker=%" PRIu32
                     " name=%s", m->task_id, s->id, s->hello.name);
        return;
    }
    if (!s->has_task || m->task_id != s->task.id) {
        /* A result for a task we no longer wait for (reassigned, or duplicated). */
        d->metrics.results_discarded_total++;
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_WRONG_STATE,
                             "no task %" PRIu64 " in flight for this worker", m->task_id);
        if (!s->has_task && s->state != PD_SESSION_JOINED) {
            pd_sched_idle(d, s);
        } else if (s->has_task && m->task_id > s->task.id) {
            /* Task ids only grow, so this is no late copy of an earlier answer: the worker
             * does not know the task it holds (a lost TASK, a confused peer). A smaller id is
             * a late duplicate while the worker computes the current task: that one stays. */
            give_back_task(d, s);
        }
        return;
    }
    t = s->task;
    code = check_result(d, in, &t, &grad, why, sizeof(why));
    if (code != PD_WERR_NONE) {
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, code, "%s", why);
        give_back_task(d, s);
        return;
    }
    s->tasks_done++;
    if (t.kind != PD_TASK_EVAL) {
        /* per-sample gradients computed: a difference is two of them */
        s->samples += m->n_samples * (t.kind == PD_TASK_GRAD_DIFF ? 2 : 1);
        d->metrics.gradients_received_total++;
        d->metrics.gradient_equivalents_total += pd_task_result_cost(m);
    }
    s->compute_seconds += m->compute_seconds;
    if (nonfinite_result(d, s, m, grad)) {
        pd_dispatch_release_task(d, s); /* never applied; its work goes back to the method */
    } else if (t.kind == PD_TASK_EVAL) {
        s->has_task = false;
        pd_eval_on_result(d, s, &t, m);
    } else {
        s->has_task = false;
        if (d->part_task == 0 && d->job.gradient_parts && kind_in_parts(t.kind) && !t.sparse) {
            /* a whole result of a job whose updates are made of parts (a worker that sends
             * none): shard 0 hands the shards their parts itself, ahead of the COMMIT */
            pd_shards_send_parts(d, t.id, grad);
            d->part_task = t.id;
        }
        d->method->on_result(d, s, &t, m, grad);
    }
    /* Outside the method's callback, so a restore may replace the method state. */
    pd_daemon_act_on_divergence(d);
    /* The stop criteria may have ended the job inside on_result, or a restore handed s a
     * task already. */
    if (d->state == PD_STATE_RUNNING && pd_sessions_find(&d->sessions, s->rid, s->rid_len) == s &&
        !s->has_task) {
        pd_sched_idle(d, s);
    }
}

static void handle_result(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s)
{
    d->part_task = parts_result(d, &in->msg) ? in->msg.task_id : 0;
    take_result(d, in, s);
    if (d->part_task != 0) {
        /* refused, stale, late: no update used it, so the shards drop its parts */
        pd_shards_discard(d, d->part_task);
        d->part_task = 0;
    }
}

/* A message from a worker whose header or frames do not decode: when it is (or could be, the
 * type being unreadable) the RESULT of the task the worker holds, that task is given back. */
static void refuse_undecodable(pd_daemon_t *d, pd_session_t *s, const pd_msg_t *m)
{
    if (s != NULL && (m->type == PD_MSG_RESULT || (int)m->type <= 0 ||
                      (int)m->type >= PD_MSG__COUNT)) {
        give_back_task(d, s);
    }
}

void pd_dispatch(pd_daemon_t *d, pd_wire_in_t *in)
{
    pd_session_t *s = pd_sessions_find(&d->sessions, in->routing_id, in->routing_id_len);
    const pd_msg_t *m = &in->msg;

    d->metrics.received_bytes_total += (double)in->total_bytes;
    if (s != NULL) {
        s->last_seen_ms = pd_daemon_now_ms(d);
    }
    if (in->decode_rc == PD_EVERSION) {
        pd_daemon_send_error(d, in->routing_id, in->routing_id_len, s, m,
                             PD_WERR_PROTOCOL_VERSION,
                             "protocol version %" PRIu32 " is not supported (server speaks %u)",
                             m->proto_version, PD_PROTO_VERSION);
        refuse_undecodable(d, s, m);
        return;
    }
    if (in->decode_rc != 0) {
        pd_daemon_send_error(d, in->routing_id, in->routing_id_len, s, m, PD_WERR_MALFORMED,
                             "header frame is not a valid paramd Header");
        refuse_undecodable(d, s, m);
        return;
    }
    if (in->frames_rc != 0) {
        char why[PD_WIRE_STR];
        pd_wire_in_frames_problem(in, why, sizeof(why));
        pd_daemon_send_error(d, in->routing_id, in->routing_id_len, s, m, PD_WERR_FRAMES, "%s",
                             why);
        refuse_undecodable(d, s, m);
        return;
    }
    if (m->type == PD_MSG_HELLO) {
        handle_hello(d, in, s);
        return;
    }
    if (s == NULL) {
        if (m->type != PD_MSG_BYE) {
            pd_daemon_send_error(d, in->routing_id, in->routing_id_len, NULL, m,
                                 PD_WERR_UNKNOWN_WORKER,
                                 "unknown worker (never joined, or evicted): send HELLO");
        }
        return;
    }
    switch (m->type) {
    case PD_MSG_READY:
        handle_ready(d, s);
        break;
    case PD_MSG_RESULT:
        handle_result(d, in, s);
        break;
    case PD_MSG_PULL:
        pd_kv_pull(d, in, s);
        break;
    case PD_MSG_PUSH:
        pd_kv_push(d, in, s);
        break;
    case PD_MSG_FETCH:
        pd_serve_fetch(d, in, s);
        break;
    case PD_MSG_COMMIT:
        pd_shard_commit(d, in, s);
        break;
    case PD_MSG_CHECKPOINT:
        pd_shard_checkpoint(d, in, s);
        break;
    case PD_MSG_RESTORE:
        pd_shard_restore(d, in, s);
        break;
    case PD_MSG_PART:
        pd_shard_part(d, in, s);
        break;
    case PD_MSG_DISCARD:
        pd_shard_discard(d, in, s);
        break;
    case PD_MSG_HEARTBEAT: {
        pd_msg_t pong;
        pd_msg_init(&pong, PD_MSG_HEARTBEAT);
        pong.request_id = m->request_id;
        pong.worker_id = s->id;
        pong.version = d->store.version;
        pd_daemon_send(d, s->rid, s->rid_len, &pong, NULL, 0);
        break;
    }
    case PD_MSG_BYE:
        /* shard 0's BYE behind COMMITs that wait for their parts: after them, so that the
         * final checkpoint is of shard 0's final version */
        if (s->coordinator && pd_shard_parts_waiting(d) && pd_shard_parts_wait(d, in) == 0) {
            break;
        }
        if (m->reason[0] != '\0') {
            pd_log_notice("worker left worker=%" PRIu32 " name=%s reason=\"%s\"", s->id,
                          s->hello.name, m->reason);
        }
        d->metrics.workers_left_total++;
        pd_daemon_drop_session(d, s, "said BYE");
        break;
    default:
        pd_daemon_send_error(d, s->rid, s->rid_len, s, m, PD_WERR_MALFORMED,
                             "a %s message is not accepted by the server", pd_msg_type_name(m->type));
        break;
    }
}
