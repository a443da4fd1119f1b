/* method_freya.c - Freya PAGE (ALGORITHMS.md §3, Tyurin, Gruntkowska and Richtárik):
 *   g_0 = ComputeGradient(x_0)
 *   x_{k+1} = x_k - gamma g_k                 (the server optimiser, prox included)
 *   with probability p:  g_{k+1} = ComputeGradient(x_{k+1})
 *   otherwise:           g_{k+1} = g_k + ComputeBatchDifference(S, x_{k+1}, x_k)
 * Both collection routines are rounds with a unique id carried by every task; a result of any
 * other round is discarded and counted, so nothing computed at an old point is ever used and
 * nobody is waited for.
 * ComputeGradient (CG) splits [0, m) into blocks of block_size samples (the last one may be
 * shorter). An idle worker draws a block uniformly from those not received yet (dedupe_inflight:
 * from those nobody computes, first); a block of a slow, stopped or dead worker therefore stays
 * drawable and the round always ends with every sample counted exactly once. Duplicates are
 * discarded and counted. The block sums are added in block order (freya_core.h), so the full
 * gradient is the same bits whoever computed what. block_size defaults to 64, not the paper's
 * 1 (ALGORITHMS.md §3.3): with real workers one task's round trip costs far more than one
 * sample's gradient; the simulated clock, where tasks cost nothing but their samples, uses 1.
 * ComputeBatchDifference (CBD) hands each idle worker GRAD_DIFF(x_{k+1}, x_k) over diff_chunk
 * fresh i.i.d. indices until at least S samples are in, and divides by the count received.
 * The coin comes from a stream seeded with the job seed, so the sequence of round kinds is a
 * function of the job, not of timing. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "freya_core.h"
#include "log.h"
#include "method.h"
#include "rng.h"
#include "../scheduler.h"

typedef enum { PHASE_NONE = 0, PHASE_CG, PHASE_CBD } freya_phase_t;

typedef struct freya_state {
    uint64_t m;          /* training samples */
    uint64_t s;          /* S */
    double p;
    uint64_t block;      /* B_full */
    uint32_t chunk;      /* c */
    bool dedupe;
    uint32_t n_blocks;

    freya_phase_t phase;
    uint64_t round;      /* id of the active round; every call gets a new one */
    uint64_t round_started_ms;
    uint64_t k;          /* steps taken */
    pd_buf_t *task_x;    /* the point of the active round (the current version) as tasks
                          * carry it: the store's snapshot (on a sharded job shard 0's keys;
                          * the workers read the rest from the shards, which stay at this
                          * version until the round's step) */
    pd_buf_t *snap_y;    /* CBD: the previous point x_k (version of task_x minus one), the
                          * same way (the shards keep that version readable) */
    uint64_t version_x, version_y;
    double *g;           /* g_k, the gradient estimate (a mean) */
    double *tmp;         /* dim scratch */
    /* g, tmp and the sums cover pd_method_estimate_dim keys: every key, or on a sharded job
     * whose results come in parts shard 0's alone (each shard keeps its own estimate) */

    pd_freya_pool_t pool;   /* CG */
    pd_freya_sum_t full;    /* CG */
    uint64_t cg_samples;    /* CG: samples in the received blocks */
    pd_neumaier_t diff;     /* CBD */
    uint64_t cbd_samples;   /* CBD: cnt */

    pd_rng_t coin;
    pd_rng_t draw;       /* block draws: apart from the coin, whose sequence must not depend
                          * on how many blocks timing made us draw */
    double cg_seconds, cbd_seconds;
} freya_state_t;

static void freya_release(pd_daemon_t *d)
{
    freya_state_t *st = d->method_state;

    if (st != NULL) {
        pd_buf_unref(st->task_x);
        pd_buf_unref(st->snap_y);
        free(st->g);
        free(st->tmp);
        pd_freya_pool_release(&st->pool);
        pd_freya_sum_release(&st->full);
        pd_neumaier_release(&st->diff);
        free(st);
    }
    d->method_state = NULL;
}

/* block_size and diff_chunk, or, where they are 0, the sizes for n workers
 * (pd_freya_auto_block, pd_freya_auto_chunk), and the number of blocks. */
static int plan_tasks(const pd_daemon_t *d, const freya_state_t *st, uint64_t n,
                      uint64_t *block, uint32_t *chunk, uint32_t *n_blocks)
{
    const pd_config_t *c = &d->cfg;
    uint64_t b = c->block_size > 0 ? (uint64_t)c->block_size : pd_freya_auto_block(st->m, n);
    uint64_t blocks;

    b = b < st->m ? b : st->m;
    blocks = (st->m + b - 1) / b;
    if (blocks > UINT32_MAX) {
        pd_log_err("freya-page: %" PRIu64 " blocks of %" PRIu64 " samples are too many; raise "
                   "[job] block_size", blocks, b);
        return PD_ECONFIG;
    }
    *block = b;
    *n_blocks = (uint32_t)blocks;
    *chunk = c->diff_chunk > 0 ? (uint32_t)c->diff_chunk : pd_freya_auto_chunk(st->s, n);
    return 0;
}

/* Whether the full gradient sums its blocks in block order: decided on the whole model, as
 * one server decides, whatever share of it this server sums. */
static bool canonical(const pd_daemon_t *d, uint32_t n_blocks)
{
    return pd_freya_sum_canonical(d->model.dim, n_blocks, PD_FREYA_CANONICAL_MAX_BYTES);
}

/* The task sizes for n workers (plan_tasks), the block pool, the sums and g: of the keys
 * summed, known once the shards are open. Called when a round starts. */
static int size_tasks(pd_daemon_t *d, freya_state_t *st, uint64_t n)
{
    size_t own = pd_method_estimate_dim(d);
    uint64_t block;
    uint32_t n_blocks;
    int rc = plan_tasks(d, st, n, &block, &st->chunk, &n_blocks);

    if (rc != 0) {
        return rc;
    }
    if (st->diff.dim != own || st->diff.s == NULL) { /* the first round */
        pd_neumaier_release(&st->diff);
        free(st->g);
        free(st->tmp);
        st->g = calloc(own, sizeof(double));
        st->tmp = calloc(own, sizeof(double));
        if (st->g == NULL || st->tmp == NULL) {
            return -ENOMEM;
        }
        if ((rc = pd_neumaier_init(&st->diff, own)) != 0) {
            return rc;
        }
    }
    if (block == st->block && st->n_blocks > 0 && st->full.dim == own) {
        return 0;
    }
    pd_freya_pool_release(&st->pool);
    pd_freya_sum_release(&st->full);
    st->block = block;
    st->n_blocks = n_blocks;
    if ((rc = pd_freya_pool_init(&st->pool, st->n_blocks)) != 0 ||
        (rc = pd_freya_sum_init(&st->full, own, st->n_blocks, canonical(d, n_blocks))) != 0) {
        st->n_blocks = 0;
        return rc;
    }
    pd_log_debug("freya-page: block_size %" PRIu64 " (%" PRIu32 " blocks), diff_chunk %" PRIu32
                 " for %" PRIu64 " workers", st->block, st->n_blocks, st->chunk, n);
    return 0;
}

static int freya_init(pd_daemon_t *d)
{
    const pd_config_t *c = &d->cfg;
    freya_state_t *st;
    uint64_t block;
    uint32_t chunk, n_blocks;
    int rc;

    if (d->train == NULL || d->train->m == 0) {
        pd_log_err("method = freya-page needs a training set (model type = none has no samples)");
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
    st->dedupe = c->dedupe_inflight;
    /* the pool and the sums wait for the first round: their keys are known once the shards
     * are open */
    if ((rc = plan_tasks(d, st, 1, &block, &chunk, &n_blocks)) != 0) {
        return rc;
    }
    pd_rng_seed(&st->coin, (uint64_t)c->seed);
    pd_rng_seed(&st->draw, pd_rng_mix((uint64_t)c->seed, 0x46524559u)); /* "FREY" */
    pd_log_info("freya-page: m=%" PRIu64 " S=%" PRIu64 " p=%.6g block_size=%" PRIu64
                " (%" PRIu32 " blocks, %s reduction) diff_chunk=%" PRIu32 "%s%s",
                st->m, st->s, st->p, block, n_blocks,
                canonical(d, n_blocks) ? "canonical" : "compensated", chunk,
                st->dedupe ? " dedupe_inflight" : "",
                c->block_size == 0 || c->diff_chunk == 0 ? " (sized for 1 worker; resized "
                                                           "for the workers at each round)" : "");
    return 0;
}

/* A new round of the given kind at the current version; y (CBD) is the snapshot taken
 * before the last step. */
static int start_round(pd_daemon_t *d, freya_state_t *st, freya_phase_t phase)
{
    pd_buf_t *task_x = NULL;
    size_t ready = pd_sessions_count_ready(&d->sessions);
    int rc = size_tasks(d, st, ready > 0 ? ready : 1);

    if (rc == 0) {
        rc = pd_store_snapshot(&d->store, &task_x);
    }
    if (rc != 0) {
        pd_log_err("freya-page: cannot snapshot the parameters: %s", pd_strerror(rc));
        return rc;
    }
    pd_buf_unref(st->task_x);
    st->task_x = task_x;
    st->version_x = d->store.version;
    st->phase = phase;
    st->round++;
    st->round_started_ms = pd_daemon_now_ms(d);
    if (phase == PHASE_CG) {
        pd_freya_pool_reset(&st->pool);
        pd_freya_sum_reset(&st->full);
        st->cg_samples = 0;
    } else {
        pd_neumaier_reset(&st->diff);
        st->cbd_samples = 0;
    }
    return 0;
}

static void assign(pd_daemon_t *d, freya_state_t *st, pd_session_t *s)
{
    pd_task_t t = {0};
    int64_t b;

    t.id = ++d->next_task_id;
    t.round = st->round;
    t.version = st->version_x;
    if (st->phase == PHASE_CG) {
        b = pd_freya_pool_draw(&st->pool, &st->draw, st->dedupe);
        if (b < 0) {
            return; /* all received: the round is over (cannot happen while active) */
        }
        t.kind = PD_TASK_GRAD;
        t.part = (uint32_t)b;
        t.range_begin = pd_freya_block_begin((uint64_t)b, st->block);
        t.range_end = pd_freya_block_end((uint64_t)b, st->block, st->m);
        if (pd_sched_send_task(d, s, &t, st->task_x, NULL) == 0) {
            pd_freya_pool_assign(&st->pool, (uint32_t)b);
        }
        return;
    }
    t.kind = PD_TASK_GRAD_DIFF;
    t.version_y = st->version_y;
    t.seed = pd_rng_mix((uint64_t)d->cfg.seed, ++d->task_seq);
    t.batch = st->chunk;
    pd_sched_send_task(d, s, &t, st->task_x, st->snap_y);
}

static double norm2(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        s += v[i] * v[i];
    }
    return sqrt(s);
}

static bool of_other_round(const pd_task_t *t, void *arg)
{
    const freya_state_t *st = arg;
    return t->round != st->round;
}

/* g_k is complete: take the step x_{k+1} = x_k - gamma g_k, flip the coin and start the
 * round that computes g_{k+1}. */
static void step_and_continue(pd_daemon_t *d, freya_state_t *st)
{
    double secs = (double)(pd_daemon_now_ms(d) - st->round_started_ms) / 1000.0;
    size_t dim = pd_method_estimate_dim(d);
    bool full = st->phase == PHASE_CG;
    uint64_t round = st->round;
    freya_phase_t next;

    if (full) {
        d->metrics.rounds_cg_total++;
        st->cg_seconds += secs;
        d->metrics.round_cg_seconds_mean = st->cg_seconds / d->metrics.rounds_cg_total;
    } else {
        d->metrics.rounds_cbd_total++;
        st->cbd_seconds += secs;
        d->metrics.round_cbd_seconds_mean = st->cbd_seconds / d->metrics.rounds_cbd_total;
    }
    d->metrics.gradient_estimate_norm = norm2(st->g, dim);
    pd_log_debug("freya-page: k=%" PRIu64 " round %" PRIu64 " %s done in %.3f s (%" PRIu64
                 " samples), |g|=%.6g",
                 st->k, st->round, full ? "CG" : "CBD", secs,
                 full ? st->cg_samples : st->cbd_samples, d->metrics.gradient_estimate_norm);
    /* x_k becomes y of the next difference round: keep its snapshot (the active round's). */
    pd_buf_unref(st->snap_y);
    st->snap_y = pd_buf_ref(st->task_x);
    st->version_y = st->version_x;
    st->phase = PHASE_NONE;
    st->k++;
    /* Through the server optimiser: with sgd this is exactly the PAGE step, and the prox of
     * the regulariser follows. g is a mean already (n = 1 multiplies by exactly 1). The
     * shards that keep their own estimate move it as g moved here. */
    pd_method_estimate_step(d, st->g, pd_optim_lr(&d->optim),
                            full ? PD_ESTIMATE_SET : PD_ESTIMATE_INCREMENT, round,
                            full && st->full.canonical ? st->n_blocks : 0,
                            full ? st->m : st->cbd_samples);
    if (d->state != PD_STATE_RUNNING) {
        return; /* a stop criterion ended the job */
    }
    next = pd_rng_uniform(&st->coin) < st->p ? PHASE_CG : PHASE_CBD;
    if (start_round(d, st, next) == 0) {
        /* ALGORITHMS.md §3.4, §3.5: the calculations of the finished round stop at once, so
         * its workers start on the new one now rather than when they would have finished */
        pd_sched_cancel_where(d, of_other_round, st);
        pd_sched_kick(d);
    }
}

static void freya_on_idle(pd_daemon_t *d, pd_session_t *s)
{
    freya_state_t *st = d->method_state;

    if (st->phase == PHASE_NONE) {
        /* g_0 = ComputeGradient(x_0), started by the first ready worker (after a restart from
         * a checkpoint too: the previous point y is gone, so the estimate starts afresh). */
        if (start_round(d, st, PHASE_CG) != 0) {
            return;
        }
    }
    if (st->phase != PHASE_NONE) {
        assign(d, st, s);
    }
}

static void discard(pd_daemon_t *d, freya_state_t *st, pd_session_t *s, const pd_task_t *t)
{
    pd_log_debug("freya-page: discarded a result of round %" PRIu64 " from worker=%" PRIu32
                 " name=%s (active round %" PRIu64 ")",
                 t->round, s->id, s->hello.name, st->round);
    d->metrics.results_discarded_total++;
    d->metrics.results_discarded_round_total++;
    s->grads_dropped++;
}

static void freya_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t,
                            const pd_msg_t *m, const double *v)
{
    freya_state_t *st = d->method_state;
    size_t dim = pd_method_estimate_dim(d);

    if (st->phase == PHASE_NONE || t->round != st->round) {
        discard(d, st, s, t); /* from a finished round: computed at an old point, or not needed */
        return;
    }
    if (st->phase == PHASE_CG) {
        uint32_t b = t->part;
        if (t->kind != PD_TASK_GRAD || b >= st->n_blocks) {
            discard(d, st, s, t);
            return;
        }
        pd_freya_pool_unassign(&st->pool, b);
        if (!pd_freya_pool_receive(&st->pool, b)) {
            d->metrics.duplicate_blocks_total++;
            d->metrics.results_discarded_total++;
            s->grads_dropped++;
            return;
        }
        pd_freya_sum_add(&st->full, b, v);
        pd_method_estimate_take(d, st->round, st->full.canonical ? (int64_t)b : -1);
        st->cg_samples += m->n_samples;
        s->grads_applied++;
        if (!pd_freya_pool_complete(&st->pool)) {
            return;
        }
        if (st->cg_samples != st->m) {
            /* Blocks partition [0, m) and the pool takes each once: cannot happen. */
            pd_log_err("freya-page: full gradient over %" PRIu64 " samples, expected %" PRIu64,
                       st->cg_samples, st->m);
        }
        pd_freya_sum_result(&st->full, st->tmp);
        pd_method_estimate_move(st->g, st->tmp, dim, st->m, PD_ESTIMATE_SET);
        step_and_continue(d, st);
        return;
    }
    if (t->kind != PD_TASK_GRAD_DIFF) {
        discard(d, st, s, t);
        return;
    }
    pd_neumaier_add(&st->diff, v);
    pd_method_estimate_take(d, st->round, -1);
    st->cbd_samples += m->n_samples;
    s->grads_applied++;
    if (st->cbd_samples < st->s) {
        return;
    }
    /* cnt is in [S, S + c - 1]: divide by what was summed (§3.5). */
    pd_neumaier_result(&st->diff, st->tmp);
    pd_method_estimate_move(st->g, st->tmp, dim, st->cbd_samples, PD_ESTIMATE_INCREMENT);
    step_and_continue(d, st);
}

static void freya_on_leave(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t)
{
    freya_state_t *st = d->method_state;

    (void)s;
    /* CG: the block never left the pool; it just is no longer in flight here, so
     * dedupe_inflight hands it out again. CBD: fresh indices replace it anyway. */
    if (t != NULL && st->phase == PHASE_CG && t->round == st->round && t->kind == PD_TASK_GRAD) {
        pd_freya_pool_unassign(&st->pool, t->part);
        d->metrics.tasks_rescheduled_total++;
    }
}

/* Checkpointed state, little-endian u64s: steps taken, the coin stream, the block-draw stream.
 * The estimate g and the point y are not kept: a restarted job begins with a full gradient at
 * the restored x, and the coin sequence continues where it was. */
static int freya_save(pd_daemon_t *d, uint8_t **out, size_t *len)
{
    const freya_state_t *st = d->method_state;
    const uint64_t v[3] = {st->k, st->coin.state, st->draw.state};

    return pd_method_save_words(v, 3, out, len);
}

static int freya_load(pd_daemon_t *d, const uint8_t *buf, size_t len)
{
    freya_state_t *st = d->method_state;
    uint64_t v[3];
    int rc = pd_method_load_words(buf, len, v, 3);

    if (rc == 0) {
        st->k = v[0];
        st->coin.state = v[1];
        st->draw.state = v[2];
    }
    return rc;
}

const pd_method_ops_t pd_method_freya_page = {
    .name = "freya-page",
    .init = freya_init,
    .release = freya_release,
    .on_idle = freya_on_idle,
    .on_result = freya_on_result,
    .on_leave = freya_on_leave,
    .save = freya_save,
    .load = freya_load,
};
