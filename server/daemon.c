/* daemon.c - the daemon's life: build (data, model, store, socket, timers), the loop's
 * callbacks (socket readable, tick, evaluation, signals), the orderly stop, and teardown.
 * One thread owns everything here; heavy numeric work stays in vector operations.
 *
 * Order of initialisation matters: data is loaded and the job fixed before the socket is
 * bound, so a worker can never join a job that is not ready to describe itself. */
#include <config.h>
#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "error.h"
#include "kv.h"
#include "ops/checkpoint.h"
#include "ops/local_workers.h"
#include "log.h"
#include "methods/method.h"
#include "progress.h"
#include "ops/reload.h"
#include "scheduler.h"
#include "shards.h"
#include "serve.h"
#include "ops/status_http.h"
#include "ops/conn_monitor.h"
#include "ops/zap.h"

/* Messages handled per wake-up before yielding to timers; the idle handle resumes draining
 * because the edge-triggered ZMQ_FD will not wake us again for messages already queued. */
#define DRAIN_BUDGET 256
#define DRAIN_LOCAL_DEADLINE_MS 10000
#define DRAIN_PEER_DEADLINE_MS 2000

static void on_zmq_idle(uv_idle_t *h);

uint64_t pd_daemon_now_ms(pd_daemon_t *d)
{
    const pd_transport_t *t = d->opts.transport;
    return t != NULL ? t->now_ms(t->ctx) : uv_now(&d->loop);
}

int pd_daemon_send(pd_daemon_t *d, const void *rid, size_t rid_len, const pd_msg_t *m,
                   const pd_wire_frame_t *frames, size_t n_frames)
{
    const pd_transport_t *t = d->opts.transport;
    int rc = t != NULL ? t->send(t->ctx, rid, rid_len, m, frames, n_frames)
                       : pd_wire_send(d->zsock, rid, rid_len, m, frames, n_frames, true);

    /* A send may consume the ZMQ_FD edge, a failed one too (libzmq processes the socket's
     * commands before it routes: a send to a killed worker's routing id does): make sure
     * pending input is not left behind. Inside drain_socket() the receive loop runs to EAGAIN
     * anyway; from timers and signals it does not, so the idle handle checks once more.
     * (Never restart a handle that finish() is closing: the loop would not end.) */
    if (t == NULL && !d->in_drain && !uv_is_closing((uv_handle_t *)&d->zidle)) {
        uv_idle_start(&d->zidle, on_zmq_idle);
    }
    if (rc != 0) {
        d->metrics.send_failures_total++;
        pd_log_debug("send %s failed: %s", pd_msg_type_name(m->type), pd_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < n_frames; i++) {
        d->metrics.sent_bytes_total += (double)frames[i].len_bytes;
    }
    return 0;
}

void pd_daemon_send_error(pd_daemon_t *d, const void *rid, size_t rid_len, pd_session_t *s,
                          const pd_msg_t *req, pd_wire_error_t code, const char *fmt, ...)
{
    pd_msg_t m;
    va_list ap;
    pd_ratelimit_t *rl = s != NULL ? &s->rl_bad : &d->rl_unknown;

    pd_msg_init(&m, PD_MSG_ERROR);
    m.request_id = req != NULL ? req->request_id : 0;
    m.worker_id = s != NULL ? s->id : 0;
    m.error = code;
    va_start(ap, fmt);
    vsnprintf(m.reason, sizeof(m.reason), fmt, ap);
    va_end(ap);
    /* "unknown worker" answers a peer the server evicted or forgot (it restarted): the
     * worker's rejoin, not a bad message; counted by its code only, logged at info */
    bool rejoin = code == PD_WERR_UNKNOWN_WORKER;
    if (!rejoin) {
        d->metrics.bad_messages_total++;
    }
    if ((unsigned)code < 16) {
        d->metrics.errors_by_code[code]++;
    }
    if (rejoin && pd_ratelimit_ok(rl, pd_daemon_now_ms(d))) {
        pd_log_info("told an unknown peer to rejoin: %s", m.reason);
    } else if (!rejoin && pd_ratelimit_ok(rl, pd_daemon_now_ms(d))) {
        if (s != NULL) {
            pd_log_warn("refused message worker=%" PRIu32 " name=%s err=%s: %s", s->id,
                        s->hello.name, pd_wire_error_name(code), m.reason);
        } else {
            pd_log_warn("refused message from unknown peer err=%s: %s", pd_wire_error_name(code),
                        m.reason);
        }
    }
    pd_daemon_send(d, rid, rid_len, &m, NULL, 0);
}

void pd_daemon_drop_session(pd_daemon_t *d, pd_session_t *s, const char *why)
{
    bool had_task = s->has_task;

    /* Giving its task back wakes the idle workers (pd_sched_kick): this one, idle for that
     * moment and still in the table, must not be handed the task it is leaving (the task
     * would go with it and the round would wait for ever). */
    s->leaving = true;
    pd_dispatch_release_task(d, s);
    if (had_task) {
        d->metrics.tasks_rescheduled_total++;
    }
    pd_log_info("worker removed worker=%" PRIu32 " name=%s: %s (applied=%" PRIu64
                " dropped=%" PRIu64 ")",
                s->id, s->hello.name, why, s->grads_applied, s->grads_dropped);
    bool coordinator = s->coordinator;
    pd_sessions_remove(&d->sessions, s);
    d->metrics.workers = (double)pd_sessions_count_ready(&d->sessions);
    if (coordinator) {
        /* a shard follows shard 0: without it there is nothing left to serve */
        char reason[160];
        bool ended = strcmp(why, "said BYE") == 0;
        snprintf(reason, sizeof(reason), ended ? "shard 0 ended the job" : "shard 0 is gone (%s)",
                 why);
        pd_daemon_stop(d, reason, ended ? 0 : 1);
    }
    pd_sched_kick(d);
    pd_daemon_maybe_finish(d);
}

double pd_daemon_objective(const pd_daemon_t *d, const double *x, double loss_sum,
                           uint64_t samples)
{
    double mean = samples > 0 ? loss_sum / (double)samples : NAN;
    return mean + pd_prox_value(&d->optim.reg, x, d->mask, d->model.dim);
}

bool pd_daemon_has_accuracy(const pd_daemon_t *d)
{
    /* Regression has no notion of a correct prediction. */
    return d->test != NULL && d->test->m > 0 &&
           pd_model_classifies(&d->model);
}

void pd_daemon_init_bye(const pd_daemon_t *d, pd_msg_t *bye)
{
    pd_msg_init(bye, PD_MSG_BYE);
    /* A signal stops this process, not the job: systemctl restart, or a stop for
     * maintenance; the next paramd resumes it (from the checkpoint, with a state_dir). */
    bye->job_continues = d->stop_by_signal;
    snprintf(bye->reason, sizeof(bye->reason), "%s: %s",
             d->stop_by_signal ? "the server is stopping, the job is not over" : "job is over",
             d->stop_reason);
}

double pd_daemon_training_seconds(pd_daemon_t *d)
{
    if (!d->training_begun) {
        return 0.0;
    }
    return (double)(pd_daemon_now_ms(d) - d->training_start_ms) / 1000.0;
}

static void write_metrics_line(pd_daemon_t *d, const char *event)
{
    double now = pd_clock_wall_s();

    d->metrics.learning_rate = pd_optim_lr(&d->optim);
    if (event == NULL || strcmp(event, "done") == 0) {
        pd_history_point_t p = {now, d->metrics.evaluated_version, d->metrics.objective,
                                d->metrics.test_accuracy, d->metrics.updates_per_second};
        pd_history_add(&d->history, &p);
    }
    if (d->metrics_log != NULL &&
        pd_metrics_write_jsonl(&d->metrics, d->metrics_log, now, pd_daemon_training_seconds(d),
                               event) != 0) {
        pd_log_err("cannot write the metrics log %s; no more lines will be written",
                   d->cfg.metrics_log);
        fclose(d->metrics_log);
        d->metrics_log = NULL;
    }
}

void pd_daemon_after_update(pd_daemon_t *d)
{
    pd_kv_serve_waiting(d); /* PULLs waiting for this version (min_version) */
    if (d->cfg.max_updates > 0 && d->metrics.updates_total >= (double)d->cfg.max_updates) {
        pd_daemon_stop(d, "max_updates reached", 0);
    }
}

void pd_daemon_diverged(pd_daemon_t *d, const char *what)
{
    if (d->diverged) {
        return;
    }
    d->diverged = true;
    d->diverged_version = d->store.version;
    snprintf(d->diverged_what, sizeof(d->diverged_what), "%s", what);
}

void pd_daemon_act_on_divergence(pd_daemon_t *d)
{
    char reason[sizeof(d->stop_reason)];
    int rc;

    if (!d->diverged) {
        return;
    }
    d->diverged = false;
    if (d->state != PD_STATE_RUNNING) {
        return; /* the job already ended while this message was handled */
    }
    d->metrics.divergence_events_total++;
    snprintf(reason, sizeof(reason), "diverged at version %" PRIu64 " (%s)", d->diverged_version,
             d->diverged_what);
    /* A restore replays the same job from the same parameters, so a divergence that comes
     * back after PD_MAX_DIVERGENCE_RESTORES of them is the configuration's, not bad luck:
     * the job stops instead of looping for ever. */
    if (d->cfg.on_divergence == PD_DIVERGE_RESTORE &&
        d->metrics.divergence_restores_total >= PD_MAX_DIVERGENCE_RESTORES) {
        pd_log_err("%s again after %d checkpoint restores: stopping", reason,
                   PD_MAX_DIVERGENCE_RESTORES);
    } else if (d->cfg.on_divergence == PD_DIVERGE_RESTORE) {
        pd_log_warn("%s: restoring the newest checkpoint (on_divergence = restore-checkpoint)",
                    reason);
        rc = pd_checkpoint_restore_running(d);
        if (rc == 0) {
            d->metrics.divergence_restores_total++;
            return;
        }
        pd_log_err("cannot restore a checkpoint after the divergence: %s; stopping instead",
                   pd_strerror(rc));
    } else {
        pd_log_err("%s: stopping (on_divergence = stop)", reason);
    }
    /* Exit status 1 like every other failed job: the parameters did not reach a stop
     * criterion; the final checkpoint and save_params hold the last finite ones. */
    pd_daemon_stop(d, reason, 1);
}

void pd_daemon_after_eval(pd_daemon_t *d)
{
    write_metrics_line(d, NULL);
    pd_notify_status(d, false);
    pd_log_debug("evaluation version=%.0f objective=%.6g test_accuracy=%.4f",
                 d->metrics.evaluated_version, d->metrics.objective, d->metrics.test_accuracy);
    if (d->cfg.target_loss > 0 && d->metrics.objective <= d->cfg.target_loss) {
        pd_daemon_stop(d, "target_loss reached", 0);
    } else if (d->cfg.target_accuracy > 0 && d->metrics.test_accuracy >= d->cfg.target_accuracy) {
        pd_daemon_stop(d, "target_accuracy reached", 0);
    }
}

/* The final values are computed here, on the final parameters, by the server itself: at the
 * end there may be no worker left to ask, and the loop has nothing else to do. */
static void final_evaluation(pd_daemon_t *d, const double *x)
{
    double loss = 0;
    uint64_t correct = 0;
    int rc;

    if (d->train == NULL) {
        return;
    }
    rc = pd_model_eval_range(&d->model, d->train, x, 0, d->train->m, &loss, &correct);
    if (rc == 0) {
        d->metrics.objective = pd_daemon_objective(d, x, loss, d->train->m);
    }
    if (pd_daemon_has_accuracy(d)) {
        rc = pd_model_eval_range(&d->model, d->test, x, 0, d->test->m, &loss, &correct);
        if (rc == 0) {
            d->metrics.test_accuracy = (double)correct / (double)d->test->m;
        }
    }
    d->metrics.evaluated_version = (double)d->store.version;
}

static int save_params(const pd_daemon_t *d, const double *x)
{
    char tmp[4096];
    FILE *f = NULL;
    int rc = 0;

    if (d->cfg.save_params[0] == '\0') {
        return 0;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", d->cfg.save_params) >= (int)sizeof(tmp)) {
        return -ENAMETOOLONG;
    }
    f = fopen(tmp, "w");
    if (f == NULL) {
        rc = -errno;
        goto out;
    }
    for (size_t i = 0; i < d->model.dim; i++) {
        if (fprintf(f, "%.17g\n", x[i]) < 0) {
            rc = -EIO;
            goto out;
        }
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        rc = -errno;
        goto out;
    }
out:
    if (f != NULL && fclose(f) != 0 && rc == 0) {
        rc = -errno;
    }
    if (rc == 0 && rename(tmp, d->cfg.save_params) != 0) {
        rc = -errno;
    }
    if (rc != 0) {
        unlink(tmp);
    }
    return rc;
}

static void print_summary(pd_daemon_t *d)
{
    double t = pd_daemon_training_seconds(d);
    const pd_metrics_t *m = &d->metrics;
    char acc[32] = "n/a";

    if (isfinite(m->test_accuracy)) {
        snprintf(acc, sizeof(acc), "%.4f", m->test_accuracy);
    }
    /* paramd-sim's clock counts simulated time units, not seconds */
    bool sim = d->opts.transport != NULL;
    double rate = t > 0 ? (m->updates_total - d->updates_at_start) / t : 0;
    char rate_text[48];
    snprintf(rate_text, sizeof(rate_text), sim ? "%.3g/unit" : "%.0f/s", rate);
    /* "job finished (max_updates reached)", but "terminated (SIGTERM)" for a signal: the job
     * did not finish, and a restart resumes it from its checkpoint */
    char head[160];
    snprintf(head, sizeof(head), d->stop_by_signal ? "%s" : "job finished (%s)", d->stop_reason);
    fprintf(stderr,
            "%s: %s after %.1f %s\n"
            "  method %s, model %s, %zu parameters, %zu training samples\n"
            "  updates %.0f (%s), gradients applied %.0f, dropped as stale %.0f, "
            "mean staleness %.2f\n"
            "  final objective %.6g, test accuracy %s, workers joined %.0f, evicted %.0f\n",
            sim ? "paramd-sim" : "paramd", head, t, sim ? "time units" : "s",
            d->method->name, pd_model_kind_name(d->model.kind), d->model.dim,
            d->train != NULL ? d->train->m : 0, m->updates_total,
            rate_text, m->gradients_applied_total, m->gradients_dropped_stale_total, m->staleness_mean,
            m->objective, acc, m->workers_joined_total, m->workers_evicted_total);
    for (size_t i = 0; i < d->sessions.n; i++) {
        const pd_session_t *s = d->sessions.v[i];
        fprintf(stderr,
                "  worker %" PRIu32 " (%s): applied %" PRIu64 ", dropped %" PRIu64
                ", tasks %" PRIu64 ", samples %" PRIu64 ", compute %.2f s",
                s->id, s->hello.name, s->grads_applied, s->grads_dropped, s->tasks_done,
                s->samples, s->compute_seconds);
        if (d->cfg.method == PD_METHOD_SSP) {
            fprintf(stderr, ", clock %" PRIu64, s->clock);
        }
        fputc('\n', stderr);
    }
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void close_all(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, close_cb);
    }
}

/* Everything is done: close every handle so uv_run returns. */
static void finish(pd_daemon_t *d)
{
    d->state = PD_STATE_STOPPED;
    pd_status_close(d->status); /* its handles free their memory: close them before uv_walk */
    d->status = NULL;
    uv_walk(&d->loop, close_all, NULL);
}

static void on_drain_deadline(uv_timer_t *t)
{
    pd_daemon_t *d = t->data;
    if (pd_shards_running(d) > 0) {
        pd_log_warn("shards did not exit in time; they are left to end on their own");
    }
    if (d->n_local_running > 0) {
        pd_log_warn("local workers did not exit in time; stopping them");
        pd_local_workers_kill(d, SIGKILL);
    } else if (d->sessions.n > 0) {
        pd_log_info("%zu peers did not say goodbye; exiting anyway", d->sessions.n);
    }
    finish(d);
}

void pd_daemon_maybe_finish(pd_daemon_t *d)
{
    if (d->state == PD_STATE_DRAINING && d->n_local_running == 0 && d->sessions.n == 0 &&
        pd_shards_running(d) == 0) {
        finish(d);
    }
}

/* The end of the job on shard 0 (or alone): the final evaluation, the done line, the saved
 * parameters and the final checkpoint, on the whole vector (gathered from the shards). */
static void final_outputs(pd_daemon_t *d)
{
    pd_buf_t *whole = NULL;
    const double *x = d->store.x;
    int rc = 0;

    pd_store_catch_up(&d->store); /* the final vector is read directly from here on */
    if (d->shards != NULL && (rc = pd_shards_snapshot(d, &whole)) == 0) {
        x = (const double *)whole->data;
    }
    if (rc == 0) {
        final_evaluation(d, x);
    }
    write_metrics_line(d, "done");
    rc = rc != 0 ? rc : save_params(d, x);
    if (rc != 0) {
        pd_log_err("cannot save parameters to %s: %s", d->cfg.save_params, pd_strerror(rc));
        if (d->exit_code == 0) {
            d->exit_code = 1;
        }
    }
    pd_buf_unref(whole);
    /* Before BYE: a worker told the job is over must find its final state on disk. */
    if (pd_checkpoint_final(d) != 0 && d->exit_code == 0) {
        d->exit_code = 1;
    }
}

void pd_daemon_stop(pd_daemon_t *d, const char *reason, int exit_code)
{
    pd_msg_t bye;

    if (d->state != PD_STATE_RUNNING) {
        return;
    }
    d->state = PD_STATE_DRAINING;
    d->exit_code = exit_code;
    snprintf(d->stop_reason, sizeof(d->stop_reason), "%s", reason);
    pd_log_info("stopping: %s", reason);
    /* Only a process about to exit says STOPPING=1; a service that stays DONE does not. */
    if (d->cfg.exit_when_done || d->opts.local_workers > 0 || d->stop_by_signal) {
        pd_notify_stopping(d, reason);
    }
    uv_timer_stop(&d->eval_timer);
    uv_timer_stop(&d->deadline);
    pd_progress_clear(d);
    if (d->opts.shard_index == 0) {
        final_outputs(d);
    } else if (d->shard_skipped != 0) {
        pd_log_warn("no final checkpoint: this shard did not take update %" PRIu64,
                    d->shard_skipped);
    } else if (pd_checkpoint_final(d) != 0 && d->exit_code == 0) {
        d->exit_code = 1; /* a shard's own keys: at shard 0's final version, when it said BYE */
    }
    pd_daemon_init_bye(d, &bye);
    for (size_t i = 0; i < d->sessions.n; i++) {
        pd_session_t *s = d->sessions.v[i];
        bye.worker_id = s->id;
        pd_daemon_send(d, s->rid, s->rid_len, &bye, NULL, 0);
    }
    pd_shards_bye(d);
    if (d->opts.shard_index > 0) {
        fprintf(stderr, "paramd shard %u: %s; %.0f updates applied to keys [%zu, %zu), %.0f "
                "gradient parts received from workers (%.0f updates waited for theirs), %" PRIu64
                " reads served to workers and clients\n",
                d->opts.shard_index, d->stop_reason, d->metrics.updates_total, d->key_begin,
                d->key_end, d->metrics.gradient_parts_total,
                d->metrics.gradient_parts_late_total, d->reads_for_clients);
    } else {
        print_summary(d);
    }
    if (!d->cfg.exit_when_done && d->opts.local_workers == 0 && !d->stop_by_signal &&
        d->opts.shard_index == 0) {
        /* A service stays up with the final parameters until it is told to go. */
        d->state = PD_STATE_DONE;
        pd_log_info("job done; serving the final parameters to key-value clients until SIGTERM");
        pd_notify_status(d, true);
        return;
    }
    /* Wait for the workers' BYE answers before closing the socket: a worker whose socket
     * drops unread input on disconnect (ZMQ_IMMEDIATE) would otherwise miss our BYE and only
     * notice the end after its timeout. Local workers get longer, since we must reap them. */
    uv_timer_start(&d->drain_timer, on_drain_deadline,
                   d->n_local_running > 0 || pd_shards_running(d) > 0 ? DRAIN_LOCAL_DEADLINE_MS
                                                                     : DRAIN_PEER_DEADLINE_MS,
                   0);
    pd_daemon_maybe_finish(d);
}

/* Receive and dispatch until the socket is empty or the budget is spent; returns the budget
 * left (0: stopped by the budget, more may be waiting). */
static unsigned drain_messages(pd_daemon_t *d, unsigned budget)
{
    for (; budget > 0 && d->state != PD_STATE_STOPPED; budget--) {
        pd_wire_in_t in;
        int rc = pd_wire_recv(d->zsock, true, d->max_msg_bytes, true, &in);
        if (rc == -EAGAIN) {
            break;
        }
        if (rc == PD_ETOOBIG) {
            d->metrics.received_bytes_total += (double)in.total_bytes;
            pd_session_t *s = pd_sessions_find(&d->sessions, in.routing_id, in.routing_id_len);
            if (in.total_bytes > d->max_msg_bytes) {
                pd_daemon_send_error(d, in.routing_id, in.routing_id_len, s, NULL,
                                     PD_WERR_TOO_BIG, "message of %zu bytes is over the limit of %zu",
                                     in.total_bytes, d->max_msg_bytes);
            } else {
                pd_daemon_send_error(d, in.routing_id, in.routing_id_len, s, NULL,
                                     PD_WERR_TOO_BIG, "more than %d array frames",
                                     PD_WIRE_MAX_FRAMES);
            }
            continue;
        }
        if (rc != 0) {
            pd_log_err("receive failed: %s", pd_strerror(rc));
            break;
        }
        if (in.routing_id_len > 0) {
            pd_dispatch(d, &in);
        }
        pd_wire_in_release(&in);
    }
    return budget;
}

static void drain_socket(pd_daemon_t *d)
{
    unsigned left;

    d->in_drain = true;
    left = drain_messages(d, DRAIN_BUDGET);
    d->in_drain = false;
    if (d->state == PD_STATE_STOPPED) {
        return; /* finish() is closing the handles */
    }
    if (left > 0) {
        uv_idle_stop(&d->zidle);
    } else {
        /* Out of budget: more may be queued, and no new edge will announce it. */
        uv_idle_start(&d->zidle, on_zmq_idle);
    }
}

static void on_zmq_readable(uv_poll_t *h, int status, int events)
{
    pd_daemon_t *d = h->data;
    (void)events;
    if (status < 0) {
        pd_log_err("poll on the zmq socket failed: %s", pd_strerror(status));
        return;
    }
    drain_socket(d);
}

static void on_zmq_idle(uv_idle_t *h)
{
    drain_socket(h->data);
}

static void evict_silent(pd_daemon_t *d, uint64_t now)
{
    for (size_t i = 0; i < d->sessions.n;) {
        pd_session_t *s = d->sessions.v[i];
        uint64_t limit = s->coordinator ? pd_shards_silence_ms(d)
                                        : (uint64_t)d->cfg.worker_timeout_ms;
        if (now - s->last_seen_ms > limit) {
            char why[96];
            snprintf(why, sizeof(why), "evicted after %.1f s of silence",
                     (double)(now - s->last_seen_ms) / 1000.0);
            d->metrics.workers_evicted_total++;
            pd_daemon_drop_session(d, s, why);
            continue; /* removal moved another session into slot i */
        }
        i++;
    }
}

static void on_tick(uv_timer_t *t)
{
    pd_daemon_t *d = t->data;
    uint64_t now = pd_daemon_now_ms(d);
    double dt = (double)(now - d->last_tick_ms) / 1000.0;

    if (dt > 0) {
        d->metrics.updates_per_second = (d->metrics.updates_total - d->last_tick_updates) / dt;
    }
    d->last_tick_ms = now;
    d->last_tick_updates = d->metrics.updates_total;
    d->metrics.learning_rate = pd_optim_lr(&d->optim);
    evict_silent(d, now);
    pd_shards_tick(d);
    pd_shard_parts_tick(d, now);
    pd_kv_waiting_tick(d, now);
    if (d->opts.shard_index > 0 && d->state == PD_STATE_RUNNING && !d->coordinator_seen &&
        now - d->start_ms > 2 * (uint64_t)d->cfg.worker_timeout_ms + 30000) {
        pd_daemon_stop(d, "shard 0 never connected", 1);
    }
    if (d->state == PD_STATE_RUNNING && d->training_begun && d->method->on_tick != NULL) {
        d->method->on_tick(d);
    }
    pd_notify_status(d, false);
    pd_progress_draw(d);
}

static void on_deadline(uv_timer_t *t)
{
    pd_daemon_stop(t->data, "max_seconds reached", 0);
}

int pd_daemon_arm_deadline(pd_daemon_t *d)
{
    uint64_t now = pd_daemon_now_ms(d);
    uint64_t end = d->training_start_ms + (uint64_t)d->cfg.max_seconds_ms;

    if (d->cfg.max_seconds_ms <= 0 || !d->training_begun) {
        return uv_timer_stop(&d->deadline);
    }
    return uv_timer_start(&d->deadline, on_deadline, end > now ? end - now : 0, 0);
}

static void on_eval_timer(uv_timer_t *t)
{
    pd_eval_start(t->data);
}

static void on_signal(uv_signal_t *h, int signum)
{
    pd_daemon_t *d = h->data;

    d->signals_seen++;
    if (signum == SIGHUP) {
        pd_reload(d); /* logs what changed, or why nothing did */
        return;
    }
    if (d->state == PD_STATE_RUNNING) {
        d->stop_by_signal = true;
        pd_daemon_stop(d, signum == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)",
                       0);
        return;
    }
    if (d->state == PD_STATE_DONE) {
        pd_log_info("%s: exiting", signum == SIGINT ? "SIGINT" : "SIGTERM");
        pd_notify_stopping(d, signum == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)");
        finish(d);
        return;
    }
    /* A second SIGINT/SIGTERM skips the wait for workers. */
    pd_log_warn("second %s: exiting now", signum == SIGINT ? "SIGINT" : "SIGTERM");
    d->exit_code = 128 + signum;
    pd_local_workers_kill(d, SIGKILL);
    finish(d);
}

/* Write the bound endpoint where a harness that asked for port 0 can read it; renamed into
 * place so a reader never sees half a line. */
static int write_endpoint_file(const char *path, const char *endpoint)
{
    char tmp[4096];
    FILE *f;
    int rc = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        return -ENAMETOOLONG;
    }
    f = fopen(tmp, "w");
    if (f == NULL) {
        return -errno;
    }
    if (fprintf(f, "%s\n", endpoint) < 0) {
        rc = -EIO;
    }
    if (fclose(f) != 0 && rc == 0) {
        rc = -errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -errno;
    }
    if (rc != 0) {
        unlink(tmp);
    }
    return rc;
}

/* File descriptors kept out of the worker port's budget: checkpoints being written, data files
 * served, the status socket and its clients, logs, libzmq's own. */
#define FD_RESERVE 256
#define HANDSHAKE_IVL_MS 5000 /* a connection that has not greeted by then is closed */

/* The open-file limit, raised to the hard limit (a service of ours may hold many worker
 * connections), and the worker port's share of it: max_connections, or all but FD_RESERVE. */
static size_t connection_budget(const pd_config_t *c)
{
    struct rlimit rl;
    rlim_t before;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return c->max_connections > 0 ? (size_t)c->max_connections : 1024;
    }
    before = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
            pd_log_info("open files: limit raised from %llu to %llu", (unsigned long long)before,
                        (unsigned long long)rl.rlim_cur);
        } else {
            rl.rlim_cur = before;
        }
    }
    if (c->max_connections > 0) {
        return (size_t)c->max_connections;
    }
    if (rl.rlim_cur == RLIM_INFINITY) {
        return 65536;
    }
    return rl.rlim_cur > FD_RESERVE + 16 ? (size_t)(rl.rlim_cur - FD_RESERVE) : 16;
}

/* What libzmq is asked to bind for [server] listen: it takes a host name only as the name of
 * an interface (tcp://localhost:0 fails with "No such device"), so localhost becomes
 * 127.0.0.1, and it binds an IPv6 literal only with ZMQ_IPV6 on (*ipv6). */
static void bind_address(const char *listen, char *out, size_t len, int *ipv6)
{
    *ipv6 = strncmp(listen, "tcp://[", 7) == 0;
    if (strncmp(listen, "tcp://localhost:", 16) == 0) {
        snprintf(out, len, "tcp://127.0.0.1:%s", listen + 16);
    } else {
        snprintf(out, len, "%s", listen);
    }
}

static int open_socket(pd_daemon_t *d)
{
    int one = 1;
    int linger_ms = 2000;
    int64_t hard_limit;
    int handshake_ivl = HANDSHAKE_IVL_MS;
    char ep[sizeof(d->endpoint)];
    size_t ep_len = sizeof(ep);
    int fd;
    size_t fd_len = sizeof(fd);
    char *any;
    char bind_ep[sizeof(d->endpoint)];
    int ipv6;

    d->zctx = zmq_ctx_new();
    if (d->zctx == NULL) {
        return -zmq_errno();
    }
    d->zsock = zmq_socket(d->zctx, ZMQ_ROUTER);
    if (d->zsock == NULL) {
        return -zmq_errno();
    }
    /* MANDATORY: a reply to a vanished worker fails (and is counted) instead of vanishing.
     * HANDOVER: a worker reconnecting with its routing id takes over its old pipe.
     * MAXMSGSIZE: a hard ceiling far above the checked limit, so one frame cannot exhaust
     * memory; messages between the two get a TOO_BIG error reply. */
    hard_limit = (int64_t)d->max_msg_bytes * 4;
    if (zmq_setsockopt(d->zsock, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) != 0 ||
        zmq_setsockopt(d->zsock, ZMQ_ROUTER_HANDOVER, &one, sizeof(one)) != 0 ||
        zmq_setsockopt(d->zsock, ZMQ_LINGER, &linger_ms, sizeof(linger_ms)) != 0 ||
        zmq_setsockopt(d->zsock, ZMQ_MAXMSGSIZE, &hard_limit, sizeof(hard_limit)) != 0 ||
        zmq_setsockopt(d->zsock, ZMQ_HANDSHAKE_IVL, &handshake_ivl, sizeof(handshake_ivl)) != 0) {
        return -zmq_errno();
    }
    bind_address(d->cfg.listen, bind_ep, sizeof(bind_ep), &ipv6);
    if (zmq_setsockopt(d->zsock, ZMQ_IPV6, &ipv6, sizeof(ipv6)) != 0) {
        return -zmq_errno();
    }
    int zap_rc = pd_zap_setup(d); /* CURVE and its ZAP handler: before the bind */
    if (zap_rc != 0) {
        return zap_rc;
    }
    size_t budget = connection_budget(&d->cfg);
    pd_log_info("worker port: at most %zu connections at once (max_connections)", budget);
    zap_rc = pd_conn_monitor_start(d, budget, &d->conn_monitor);
    if (zap_rc != 0) {
        return zap_rc;
    }
    if (zmq_bind(d->zsock, bind_ep) != 0) {
        int rc = -zmq_errno();
        pd_log_err("cannot listen on %s: %s", d->cfg.listen, zmq_strerror(-rc));
        return rc;
    }
    if (zmq_getsockopt(d->zsock, ZMQ_LAST_ENDPOINT, ep, &ep_len) != 0) {
        return -zmq_errno();
    }
    /* Local workers connect to what we bound; a wildcard address means "this host". */
    any = strstr(ep, "0.0.0.0");
    if (any != NULL) {
        snprintf(d->endpoint, sizeof(d->endpoint), "%.*s127.0.0.1%s", (int)(any - ep), ep,
                 any + 7);
    } else {
        snprintf(d->endpoint, sizeof(d->endpoint), "%s", ep);
    }
    if (zmq_getsockopt(d->zsock, ZMQ_FD, &fd, &fd_len) != 0) {
        return -zmq_errno();
    }
    return uv_poll_init_socket(&d->loop, &d->zpoll, fd);
}

static int init_loop(pd_daemon_t *d)
{
    int rc;

    d->zpoll.data = d;
    d->zidle.data = d;
    d->tick.data = d;
    d->deadline.data = d;
    d->eval_timer.data = d;
    d->drain_timer.data = d;
    d->sig_int.data = d;
    d->sig_term.data = d;
    d->sig_hup.data = d;
    if ((rc = uv_idle_init(&d->loop, &d->zidle)) != 0 ||
        (rc = uv_timer_init(&d->loop, &d->tick)) != 0 ||
        (rc = uv_timer_init(&d->loop, &d->deadline)) != 0 ||
        (rc = uv_timer_init(&d->loop, &d->eval_timer)) != 0 ||
        (rc = uv_timer_init(&d->loop, &d->drain_timer)) != 0 ||
        (rc = uv_signal_init(&d->loop, &d->sig_int)) != 0 ||
        (rc = uv_signal_init(&d->loop, &d->sig_term)) != 0 ||
        (rc = uv_signal_init(&d->loop, &d->sig_hup)) != 0) {
        return rc;
    }
    if ((rc = uv_signal_start(&d->sig_int, on_signal, SIGINT)) != 0 ||
        (rc = uv_signal_start(&d->sig_term, on_signal, SIGTERM)) != 0 ||
        (rc = uv_signal_start(&d->sig_hup, on_signal, SIGHUP)) != 0) {
        return rc;
    }
    return 0;
}

static int offline_send(void *ctx, const void *rid, size_t rid_len, const pd_msg_t *m,
                        const pd_wire_frame_t *frames, size_t n_frames)
{
    (void)ctx, (void)rid, (void)rid_len, (void)m, (void)frames, (void)n_frames;
    return -ENOTCONN;
}

static uint64_t offline_now_ms(void *ctx)
{
    (void)ctx;
    return pd_clock_mono_ms();
}

int pd_daemon_new_offline(pd_daemon_t **out, pd_config_t *cfg)
{
    static const pd_transport_t offline = {.send = offline_send, .now_ms = offline_now_ms};
    pd_daemon_opts_t opts = {.transport = &offline};

    cfg->metrics_log[0] = '\0';
    cfg->state_dir[0] = '\0';
    cfg->save_params[0] = '\0';
    return pd_daemon_new(out, cfg, &opts);
}

int pd_daemon_new(pd_daemon_t **out, const pd_config_t *cfg, const pd_daemon_opts_t *opts)
{
    pd_daemon_t *d = calloc(1, sizeof(*d));
    bool loop_ready = false;
    int rc;

    if (d == NULL) {
        return -ENOMEM;
    }
    d->opts = *opts;
    pd_sessions_init(&d->sessions);
    pd_metrics_init(&d->metrics);
    pd_history_init(&d->history);
    pd_ratelimit_init(&d->rl_unknown, 10000, 5);
    rc = pd_config_copy(&d->cfg, cfg);
    if (rc != 0) {
        goto fail;
    }
    rc = uv_loop_init(&d->loop);
    if (rc != 0) {
        goto fail;
    }
    loop_ready = true;
    rc = pd_job_load(d);
    if (rc != 0) {
        goto fail;
    }
    if (d->opts.shard_index > 0) {
        pd_log_info("shard %u of %" PRId64 ": keys [%zu, %zu) of %zu", d->opts.shard_index,
                    d->cfg.shards, d->key_begin, d->key_end, d->model.dim);
    }
    /* A shard only serves its keys: data files, status and logs are shard 0's. */
    rc = d->opts.shard_index > 0 ? 0 : pd_serve_open(d);
    if (rc != 0) {
        goto fail;
    }
    /* Restore before binding: no worker may see version 0 of a job that is further on. */
    rc = pd_checkpoint_open(d);
    if (rc != 0) {
        goto fail;
    }
    rc = init_loop(d);
    if (rc != 0) {
        pd_log_err("cannot set up the event loop: %s", pd_strerror(rc));
        goto fail;
    }
    /* Simulated peers (opts.transport, sim.c): no socket to bind or announce. */
    rc = d->opts.transport != NULL ? 0 : open_socket(d);
    if (rc != 0) {
        goto fail;
    }
    rc = d->opts.transport != NULL ? 0 : pd_shards_open(d);
    if (rc != 0) {
        goto fail;
    }
    rc = d->opts.transport != NULL || d->opts.shard_index > 0 ? 0 : pd_status_new(&d->status, d);
    if (rc != 0) {
        goto fail;
    }
    if (d->cfg.metrics_log[0] != '\0' && d->opts.shard_index == 0) {
        /* A job resumed from a checkpoint keeps its history: append, and mark the seam. */
        bool resumed = d->metrics.updates_total > 0;
        FILE *earlier = resumed ? fopen(d->cfg.metrics_log, "re") : NULL;
        if (earlier != NULL) { /* the dashboard's chart starts where the job started */
            pd_metrics_read_history(earlier, &d->history);
            fclose(earlier);
        }
        d->metrics_log = fopen(d->cfg.metrics_log, resumed ? "a" : "w");
        if (d->metrics_log == NULL) {
            rc = -errno;
            pd_log_err("cannot open metrics_log %s: %s", d->cfg.metrics_log, pd_strerror(rc));
            goto fail;
        }
        if (resumed) {
            write_metrics_line(d, "resumed");
        }
    }
    if (d->opts.transport == NULL && d->cfg.endpoint_file[0] != '\0') {
        rc = write_endpoint_file(d->cfg.endpoint_file, d->endpoint);
        if (rc != 0) {
            pd_log_err("cannot write endpoint_file %s: %s", d->cfg.endpoint_file,
                       pd_strerror(rc));
            goto fail;
        }
    }
    *out = d;
    return 0;
fail:
    if (!loop_ready) {
        pd_config_release(&d->cfg);
        free(d);
        return rc;
    }
    pd_daemon_free(d);
    return rc;
}

int pd_daemon_run(pd_daemon_t *d)
{
    int rc;

    d->state = PD_STATE_RUNNING;
    d->start_ms = uv_now(&d->loop);
    d->training_begun = false;
    d->last_tick_ms = d->start_ms;
    /* A restored checkpoint brings its update count; rates count only this run's updates. */
    d->last_tick_updates = d->metrics.updates_total;
    d->updates_at_start = d->metrics.updates_total;
    d->progress_on = pd_progress_wanted(d);
    if ((rc = uv_poll_start(&d->zpoll, UV_READABLE, on_zmq_readable)) != 0 ||
        (rc = uv_timer_start(&d->tick, on_tick, 1000, 1000)) != 0 ||
        (d->cfg.eval_interval_ms > 0 && d->opts.shard_index == 0 &&
         (rc = uv_timer_start(&d->eval_timer, on_eval_timer, (uint64_t)d->cfg.eval_interval_ms,
                              (uint64_t)d->cfg.eval_interval_ms)) != 0)) {
        pd_log_err("cannot start the loop: %s", pd_strerror(rc));
        return 1;
    }
    pd_log_info("listening on %s: job %016" PRIx64 " method=%s model=%s dim=%zu samples=%zu",
                d->endpoint, d->job.job_id, d->method->name, pd_model_kind_name(d->model.kind),
                d->model.dim, d->train != NULL ? d->train->m : 0);
    /* pd_daemon_new bound the socket and loaded any checkpoint: workers may come now. */
    pd_notify_ready(d);
    rc = pd_local_workers_start(d);
    if (rc != 0) {
        pd_daemon_stop(d, "local workers could not be started", 1);
    }
    uv_run(&d->loop, UV_RUN_DEFAULT);
    return d->exit_code;
}

void pd_daemon_free(pd_daemon_t *d)
{
    if (d == NULL) {
        return;
    }
    /* Handles first (the poll handle before its socket), then the socket and the context. */
    pd_status_close(d->status);
    d->status = NULL;
    uv_walk(&d->loop, close_all, NULL);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d->loop) != 0) {
        pd_log_err("event loop still has open handles at exit");
    }
    pd_checkpoint_free(d);
    pd_serve_free(d); /* after uv_run: no read is left on the pool */
    pd_zap_free(d->zap); /* its socket is in zctx: closed before zmq_ctx_term */
    pd_conn_monitor_free(d->conn_monitor);
    if (d->zsock != NULL) {
        zmq_close(d->zsock);
    }
    pd_shards_free(d); /* its sockets, before the context */
    if (d->zctx != NULL) {
        zmq_ctx_term(d->zctx);
    }
    if (d->method != NULL) {
        d->method->release(d);
    }
    pd_eval_release(d);
    pd_sessions_release(&d->sessions);
    pd_optim_release(&d->optim);
    pd_store_release(&d->store);
    free(d->grad_scratch);
    free(d->key_scratch);
    pd_shard_parts_free(d);
    pd_shard_estimate_free(d);
    free(d->batch_idx);
    pd_kv_release(d);
    free(d->mask);
    pd_data_free(d->train);
    pd_data_free(d->test);
    if (d->metrics_log != NULL) {
        fclose(d->metrics_log);
    }
    pd_config_release(&d->cfg);
    free(d);
}
