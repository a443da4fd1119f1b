/* method_syncpage.c - synchronous PAGE ("Soviet PAGE", ALGORITHMS.md §1.5), the baseline the
 * Freya PAGE paper beats: the PAGE update of freya-page,
 *   x_{k+1} = x_k - gamma g_k
 *   with probability p:  g_{k+1} = grad f(x_{k+1})                            (a CG phase)
 *   otherwise:           g_{k+1} = g_k + (1/S) sum_{j in J} (grad f_j(x_{k+1}) - grad f_j(x_k))
 * run in a fixed synchronous way: each phase is split into one part per worker ready when it
 * starts, and waits for all of them, so its time is the slowest worker's. A CG phase's parts
 * are consecutive ranges of the training set (the authors' simulator deals the indices out
 * round-robin, j mod n: the same cost per worker, another order of summation); a difference
 * phase's S samples are split the same way, part i drawn i.i.d. from mix(mix(seed, k), i).
 * Part sums are added in part order. A departed worker's part goes to another.
 * S and p are freya-page's keys (freya_s, freya_p) with the same defaults; the coin has its
 * own stream from the job seed. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "error.h"
#include "freya_core.h"
#include "log.h"
#include "method.h"
#include "parts.h"
#include "rng.h"
#include "../scheduler.h"

/* Mixed into the job seed for the coin, so its stream is not freya-page's. */
#define COIN_TAG 0x50414745u /* "PAGE" */

typedef enum { PHASE_NONE = 0, PHASE_CG, PHASE_CBD } page_phase_t;

typedef struct page_state {
    uint64_t m, s;       /* samples, S */
    double p;
    pd_rng_t coin;
    uint64_t k;          /* steps taken */
    page_phase_t phase;
    pd_parts_t parts;
    pd_buf_t *task_x;    /* the phase's point x_k as tasks carry it: the store's snapshot
                          * (on a sharded job shard 0's keys; the workers read the rest from
                          * the shards) */
    pd_buf_t *snap_y;    /* CBD: x_{k-1}, the same way (the shards keep that version) */
    uint64_t version_x, version_y;
    double *g;           /* g_k */
    double *sum;         /* dim: the phase's ordered sum */
    /* g, sum and the parts cover pd_method_estimate_dim keys: every key, or on a sharded job
     * whose results come in parts shard 0's alone (each shard keeps its own estimate) */
    uint64_t phase_started_ms;
    double cg_seconds, cbd_seconds; /* all phases of each kind, for the round_*_mean metrics */
} page_state_t;

pd_sample_set_t pd_method_sync_page_part(uint64_t seed, uint64_t k, uint32_t part,
                                         uint64_t total, uint32_t parts)
{
    uint64_t begin = total * part / parts, end = total * (part + 1) / parts;

    return (pd_sample_set_t){.seed = pd_rng_mix(pd_rng_mix(seed, k), part),
                             .batch = (uint32_t)(end - begin)};
}

uint64_t pd_method_sync_page_coin_seed(uint64_t seed)
{
    return pd_rng_mix(seed, COIN_TAG);
}

static void page_release(pd_daemon_t *d)
{
    page_state_t *st = d->method_state;

    if (st != NULL) {
        pd_parts_free(&st->parts);
        pd_buf_unref(st->task_x);
        pd_buf_unref(st->snap_y);
        free(st->g);
        free(st->sum);
        free(st);
    }
    d->method_state = NULL;
}

static int page_init(pd_daemon_t *d)
{
    const pd_config_t *c = &d->cfg;
    page_state_t *st;

    if (d->train == NULL || d->train->m == 0) {
        pd_log_err("method = sync-page needs a training set (model type = none has no samples)");
        return PD_ECONFIG;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return -ENOMEM;
    }
    d->method_state = st;
    st->m = d->train->m;
    st->s = c->freya_s > 0 ? (uint64_t)c->freya_s : pd_freya_default_s(st->m);
    st->p = c->freya_p > 0 ? c->freya_p : pd_freya_default_p(st->s, st->m);
    if (st->s > UINT32_MAX) {
        pd_log_err("sync-page: freya_s = %" PRIu64 " is too large", st->s);
        return PD_ECONFIG;
    }
    pd_rng_seed(&st->coin, pd_method_sync_page_coin_seed((uint64_t)c->seed));
    pd_log_info("sync-page: m=%" PRIu64 " S=%" PRIu64 " p=%.6g", st->m, st->s, st->p);
    return 0;
}

/* A phase at the current version: one part per ready worker (at most the samples), or
 * [job] sync_parts parts whoever computes them, so that the result is the same bits with
 * any number of workers (the parts are summed in part order). */
static int start_phase(pd_daemon_t *d, page_state_t *st, page_phase_t phase)
{
    uint64_t total = phase == PHASE_CG ? st->m : st->s;
    uint64_t n = d->cfg.sync_parts > 0 ? (uint64_t)d->cfg.sync_parts
                                       : pd_sessions_count_ready(&d->sessions);
    pd_buf_t *task_x = NULL;
    int rc;

    if (st->g == NULL || st->sum == NULL) { /* the first phase: the keys summed are known */
        free(st->g);
        free(st->sum);
        st->g = calloc(pd_method_estimate_dim(d), sizeof(double));
        st->sum = calloc(pd_method_estimate_dim(d), sizeof(double));
        if (st->g == NULL || st->sum == NULL) {
            return -ENOMEM;
        }
    }
    if ((rc = pd_store_snapshot(&d->store, &task_x)) != 0) {
        return rc;
    }
    n = n == 0 ? 1 : n > total ? total : n;
    if (phase == PHASE_CBD) {
        /* x_k, the point the last phase was at, becomes y */
        pd_buf_unref(st->snap_y);
        st->snap_y = st->task_x;
        st->version_y = st->version_x;
    } else {
        pd_buf_unref(st->task_x);
    }
    st->task_x = task_x;
    st->version_x = d->store.version;
    st->phase = phase;
    st->phase_started_ms = pd_daemon_now_ms(d);
    return pd_parts_start(&st->parts, (uint32_t)n, total, pd_method_estimate_dim(d));
}

static void page_fail(pd_daemon_t *d, int rc)
{
    pd_log_err("sync-page: %s", pd_strerror(rc));
    pd_daemon_stop(d, "sync-page failed (see the log)", 1);
}

static void page_on_idle(pd_daemon_t *d, pd_session_t *s)
{
    page_state_t *st = d->method_state;
    pd_task_t t = {0};
    int rc;

    if (st->phase == PHASE_NONE) {
        /* g_0 = grad f(x_0), started by the first ready worker (after a restart too) */
        rc = start_phase(d, st, PHASE_CG);
        if (rc != 0) {
            page_fail(d, rc);
            return;
        }
    }
    int64_t i = pd_parts_take(&st->parts);
    if (i < 0) {
        return; /* every part is out: s waits at the barrier */
    }
    t.id = ++d->next_task_id;
    t.round = st->parts.round;
    t.part = (uint32_t)i;
    t.version = st->version_x;
    if (st->phase == PHASE_CG) {
        t.kind = PD_TASK_GRAD;
        pd_parts_range(&st->parts, (uint32_t)i, &t.range_begin, &t.range_end);
        rc = pd_sched_send_task(d, s, &t, st->task_x, NULL);
    } else {
        pd_sample_set_t set = pd_method_sync_page_part((uint64_t)d->cfg.seed, st->k,
                                                       (uint32_t)i, st->s, st->parts.n);
        t.kind = PD_TASK_GRAD_DIFF;
        t.version_y = st->version_y;
        t.seed = set.seed;
        t.batch = set.batch;
        rc = pd_sched_send_task(d, s, &t, st->task_x, st->snap_y);
    }
    if (rc != 0) {
        pd_parts_untake(&st->parts, (uint32_t)i);
    }
}

/* All parts are in: g_{k+1}, the step, the coin and the next phase. */
static void finish_phase(pd_daemon_t *d, page_state_t *st)
{
    size_t dim = pd_method_estimate_dim(d);
    double secs = (double)(pd_daemon_now_ms(d) - st->phase_started_ms) / 1000.0;
    bool full = st->phase == PHASE_CG;
    pd_metrics_t *mt = &d->metrics;
    uint64_t n;
    int rc;

    pd_parts_sum(&st->parts, st->sum, &n, NULL);
    pd_method_estimate_move(st->g, st->sum, dim, n,
                            full ? PD_ESTIMATE_SET : PD_ESTIMATE_INCREMENT);
    if (full) {
        mt->rounds_cg_total++;
        st->cg_seconds += secs;
        mt->round_cg_seconds_mean = st->cg_seconds / mt->rounds_cg_total;
    } else {
        mt->rounds_cbd_total++;
        st->cbd_seconds += secs;
        mt->round_cbd_seconds_mean = st->cbd_seconds / mt->rounds_cbd_total;
    }
    st->k++;
    /* the shards that keep their own estimate move it as g moved here */
    pd_method_estimate_step(d, st->g, pd_optim_lr(&d->optim),
                            full ? PD_ESTIMATE_SET : PD_ESTIMATE_INCREMENT, st->parts.round,
                            st->parts.n, n);
    if (d->state != PD_STATE_RUNNING) {
        return; /* a stop criterion ended the job */
    }
    rc = start_phase(d, st, pd_rng_uniform(&st->coin) < st->p ? PHASE_CG : PHASE_CBD);
    if (rc != 0) {
        page_fail(d, rc);
        return;
    }
    pd_sched_kick(d);
}

static void page_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t,
                           const pd_msg_t *m, const double *v)
{
    page_state_t *st = d->method_state;

    if (st->phase == PHASE_NONE || !pd_parts_accept(&st->parts, t, v, m->n_samples, 0.0)) {
        d->metrics.results_discarded_total++;
        s->grads_dropped++;
        return;
    }
    pd_method_estimate_take(d, st->parts.round, (int64_t)t->part);
    s->grads_applied++;
    if (pd_parts_complete(&st->parts)) {
        finish_phase(d, st);
    }
}

static void page_on_leave(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t)
{
    page_state_t *st = d->method_state;

    (void)s;
    if (t != NULL && pd_parts_give_back(&st->parts, t)) {
        d->metrics.tasks_rescheduled_total++;
        pd_sched_kick(d);
    }
}

/* Checkpointed state: steps taken and the coin stream. g and y are not kept: a restarted job
 * begins with a full gradient at the restored x, as freya-page's does. */
static int page_save(pd_daemon_t *d, uint8_t **out, size_t *len)
{
    const page_state_t *st = d->method_state;
    const uint64_t v[2] = {st->k, st->coin.state};

    return pd_method_save_words(v, 2, out, len);
}

static int page_load(pd_daemon_t *d, const uint8_t *buf, size_t len)
{
    page_state_t *st = d->method_state;
    uint64_t v[2];
    int rc = pd_method_load_words(buf, len, v, 2);

    if (rc == 0) {
        st->k = v[0];
        st->coin.state = v[1];
    }
    return rc;
}

const pd_method_ops_t pd_method_sync_page = {
    .name = "sync-page",
    .init = page_init,
    .release = page_release,
    .on_idle = page_on_idle,
    .on_result = page_on_result,
    .on_leave = page_on_leave,
    .save = page_save,
    .load = page_load,
};
