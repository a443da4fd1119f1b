/* method_fosi.c - FOSI and DHO2 on the parameter server (ALGORITHMS.md §5.3–§5.7): the job's
 * [optimizer] as the base, fed by sync-sgd rounds or bounded-staleness async-sgd
 * (fosi_gradients), with a scaled Newton step on the span of the top-k (and bottom-l) Hessian
 * eigenvectors, refreshed every fosi_period steps after fosi_warmup.
 *
 * The gradient scheme is the sync-sgd or async-sgd method itself, running on
 * d->method_state; this file is a layer over it (d->fosi): every step of the scheme goes
 * through pd_method_fosi_step instead of the plain optimiser step, and while an eigensystem
 * refresh (ESE) runs, idle workers get HVP tasks instead of gradient tasks.
 *
 * One ESE is a Lanczos run (common/lanczos.c) at the snapshot x_s of the version it starts at.
 * Each of its products H q is one round of fosi_hvp_parts HVP tasks over fixed positions of
 * the ESE batch (fosi_ese_batch samples drawn once from the job seed, the same batch at every
 * refresh), summed in part order and divided by the batch size, plus the l2 term's l2·q on
 * the weights; so the eigensystem depends on the job and its seed, never on which or how many
 * workers answered. A worker that leaves during a round has its part given to another.
 *
 * fosi: the refresh is synchronous (training waits; gradients already in flight under
 * async-sgd still land and are applied with the eigensystem in use, §5.5), V is replicated.
 *
 * dho2 (§5.6): the Lanczos basis and V are held in dho2_slices slices with per-slice
 * reductions, and the refresh overlaps training (MR-DHO2). During an ESE the first idle
 * workers, curv_fraction of those ready (at least one, and at most all but one), form the
 * curvature pool and compute only HVP parts; the others go on training with the current
 * eigensystem, whose replacement is swapped in between two steps when the run completes. The
 * curvature staleness τ_c (steps taken between the snapshot and the swap) is bounded by
 * curv_max_staleness: no gradient task is issued that could take it past the bound, and a
 * training worker held back by it helps with the HVP parts instead (so τ_c ≤ bound always,
 * and no refresh is thrown away, where §5.6 would discard and restart an ESE that went over;
 * the bound 0 is synchronous DHO2, as is curv_fraction = 0).
 *
 * On a sharded job shard 0 runs all of it on whole vectors (whole.h): a copy of the iterate,
 * gathered from the shards before the first step or refresh, and a base optimiser of its own
 * over every key (d->optim holds shard 0's keys alone), whose arrays shard 0's checkpoints
 * keep (fosi_ckpt_arrays). Each step sends every shard its range's new values. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "common/config.h"
#include "error.h"
#include "fosi_core.h"
#include "lanczos.h"
#include "log.h"
#include "method.h"
#include "parts.h"
#include "rng.h"
#include "whole.h"
#include "../scheduler.h"

/* Tag mixed into the job seed for the ESE batch, so it is not a batch the gradients draw. */
#define ESE_BATCH_TAG 0x45534542u

struct pd_fosi_run {
    const pd_method_ops_t *scheme; /* sync-sgd or async-sgd */
    pd_fosi_t core;
    double l2;               /* the loss's weight decay (the [optimizer] l2) */
    uint64_t steps;          /* FOSI steps applied */
    uint64_t next_refresh;   /* an ESE starts before the step with this index */
    size_t slices;           /* 0: fosi (replicated); P: dho2 */
    double curv_fraction;    /* 0: synchronous refreshes */
    uint64_t curv_bound;     /* steps training may take during an ESE */
    /* the ESE in progress */
    bool ese_active;
    uint64_t snap_steps;     /* steps when x_s was taken */
    uint64_t held_since_ms;  /* training held for the curvature since (0: not held) */
    pd_lanczos_t lz;
    pd_parts_t parts;
    pd_buf_t *snap;          /* x_s */
    uint64_t snap_version;
    pd_buf_t *q;             /* the Lanczos vector of the current product */
    uint64_t batch_seed;
    uint32_t batch;          /* ESE batch size */
    uint64_t ese_start_ms;
    double *w;               /* dim: H q being assembled */
    double lambda[PD_LANCZOS_MAX_PAIRS];
    double resid[PD_LANCZOS_MAX_PAIRS];
    double *v;               /* (k + l) × dim: Ritz vectors */
    /* a sharded job (shard 0): the iterate x (dim, NULL until gathered) and its published
     * copy, and the base optimiser over every key */
    bool sharded;
    double *x;
    pd_buf_t *current;
    pd_optim_t optim;
};

pd_sample_set_t pd_method_fosi_ese_batch(const pd_daemon_t *d)
{
    uint64_t want = (uint64_t)d->cfg.fosi_ese_batch;

    return (pd_sample_set_t){.seed = pd_rng_mix((uint64_t)d->cfg.seed, ESE_BATCH_TAG),
                             .batch = (uint32_t)(want < d->train->m ? want : d->train->m)};
}

static void fail(pd_daemon_t *d, int rc)
{
    pd_log_err("fosi: %s", pd_strerror(rc));
    pd_daemon_stop(d, "fosi failed (see the log)", 1);
}

static void free_run(struct pd_fosi_run *st)
{
    pd_fosi_free(&st->core);
    pd_lanczos_free(&st->lz);
    pd_parts_free(&st->parts);
    pd_buf_unref(st->snap);
    pd_buf_unref(st->q);
    free(st->w);
    free(st->v);
    free(st->x);
    pd_buf_unref(st->current);
    pd_optim_release(&st->optim);
    free(st);
}

static int fosi_init(pd_daemon_t *d)
{
    const pd_config_t *c = &d->cfg;
    size_t dim = d->model.dim;
    uint64_t warmup = c->fosi_warmup > 0 ? (uint64_t)c->fosi_warmup : (uint64_t)c->fosi_period;
    bool dho2 = c->method == PD_METHOD_DHO2;
    pd_fosi_opts_t o = {.alpha = c->fosi_alpha, .clip = c->fosi_clip, .damping = c->fosi_damping,
                        .slices = dho2 ? (size_t)c->dho2_slices : 0};
    size_t pairs = (size_t)(c->fosi_k + c->fosi_l);
    struct pd_fosi_run *st = calloc(1, sizeof(*st));
    int rc;

    if (st == NULL) {
        return -ENOMEM;
    }
    st->scheme = c->fosi_gradients == 0 ? &pd_method_sync_sgd : &pd_method_async_sgd;
    st->slices = o.slices;
    st->curv_fraction = dho2 ? c->curv_fraction : 0.0;
    st->curv_bound = !dho2                       ? 0
                     : c->curv_max_staleness < 0 ? (uint64_t)c->fosi_period
                                                 : (uint64_t)c->curv_max_staleness;
    st->l2 = d->optim.reg.kind == PD_REG_L2 ? d->optim.reg.l2 : 0.0;
    st->next_refresh = warmup - 1; /* §5.3: refresh when t + 1 ≥ W and (t + 1 − W) mod T = 0 */
    pd_sample_set_t ese = pd_method_fosi_ese_batch(d);
    st->batch_seed = ese.seed;
    st->batch = ese.batch;
    st->w = malloc(dim * sizeof(double));
    st->v = malloc(pairs * dim * sizeof(double));
    if (st->w == NULL || st->v == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    if (pairs > dim || (uint64_t)c->fosi_hvp_parts > st->batch || o.slices > dim) {
        pd_log_err("fosi: fosi_k + fosi_l = %zu eigenpairs of %zu parameters, %" PRId64
                   " HVP parts of a %" PRIu32 "-sample batch, %zu slices: too many",
                   pairs, dim, c->fosi_hvp_parts, st->batch, o.slices);
        rc = PD_ECONFIG;
        goto fail;
    }
    st->sharded = c->shards > 1; /* (shards i > 0 run no method) */
    if (st->sharded) {
        st->optim = d->optim; /* the job's settings; then arrays of every key */
        st->optim.mask = d->mask;
        st->optim.u = st->optim.v = st->optim.undo = NULL;
        if ((rc = pd_optim_init(&st->optim, dim)) != 0) {
            goto fail;
        }
    }
    if ((rc = pd_fosi_init(&st->core, dim, &o)) != 0 || (rc = st->scheme->init(d)) != 0) {
        goto fail;
    }
    d->fosi = st;
    d->metrics.fosi_slices = (double)st->core.slices;
    pd_log_info("fosi: base %s fed by %s, k = %" PRId64 ", l = %" PRId64 ", T = %" PRId64
                ", W = %" PRIu64 ", alpha = %g, c = %g, ESE batch %" PRIu32 " in %" PRId64
                " parts", c->optimizer == PD_OPT_ADAM ? "adam" : c->optimizer == PD_OPT_MOMENTUM
                ? "momentum" : "sgd", st->scheme->name, c->fosi_k, c->fosi_l, c->fosi_period,
                warmup, c->fosi_alpha, c->fosi_clip, st->batch, c->fosi_hvp_parts);
    if (dho2) {
        pd_log_info("dho2: %zu slices of %zu coordinates, curvature pool %g of the workers, "
                    "at most %" PRIu64 " training steps per refresh",
                    st->core.slices, st->core.n_s, st->curv_fraction, st->curv_bound);
    }
    return 0;
fail:
    free_run(st);
    return rc;
}

static void fosi_release(pd_daemon_t *d)
{
    if (d->fosi != NULL) {
        d->fosi->scheme->release(d);
        free_run(d->fosi);
        d->fosi = NULL;
    }
}

/* A sharded job's whole iterate, gathered from the shards the first time it is needed (the
 * shards hold their keys at start and after a restore). 0 or a negative code. */
static int gather_whole(pd_daemon_t *d, struct pd_fosi_run *st)
{
    size_t bytes = d->model.dim * sizeof(double);
    int rc;

    if (!st->sharded || st->x != NULL) {
        return 0;
    }
    if ((rc = pd_whole_open(d, &st->current)) != 0) {
        return rc;
    }
    st->x = malloc(bytes);
    if (st->x == NULL) {
        return -ENOMEM;
    }
    memcpy(st->x, st->current->data, bytes);
    return 0;
}

int pd_method_fosi_step(pd_daemon_t *d, double *g, double lr)
{
    struct pd_fosi_run *st = d->fosi;
    pd_optim_t *o = st->sharded ? &st->optim : &d->optim;
    int rc = gather_whole(d, st);

    if (rc != 0) {
        return rc;
    }
    double *x = st->sharded ? st->x : d->store.x;
    for (size_t i = 0; i < d->model.dim; i++) {
        g[i] += st->l2 * d->mask[i] * x[i];
    }
    /* a stale gradient's step is cut by the scheme's rule (stale_step); so is its Newton step */
    o->t = d->optim.t; /* the job's step count (learning-rate schedules, Adam's correction) */
    double base_lr = pd_optim_lr(o);
    rc = pd_fosi_step(&st->core, o, x, g, lr, base_lr > 0.0 ? lr / base_lr : 1.0);
    d->optim.t = o->t;
    if (rc != 0) {
        return rc;
    }
    st->steps++;
    d->metrics.fosi_g1_ratio = st->core.g1_ratio;
    if (st->sharded) {
        return pd_whole_publish(d, x, &st->current);
    }
    pd_store_bump(&d->store);
    return 0;
}

/* The next product's round: q is the Lanczos vector, sent with every part. */
static int start_product(pd_daemon_t *d, struct pd_fosi_run *st)
{
    size_t dim = d->model.dim;
    int rc;

    pd_buf_unref(st->q);
    st->q = NULL;
    if ((rc = pd_buf_new(&st->q, dim * sizeof(double))) != 0) {
        return rc;
    }
    memcpy(st->q->data, pd_lanczos_vector(&st->lz), dim * sizeof(double));
    return pd_parts_start(&st->parts, (uint32_t)d->cfg.fosi_hvp_parts, st->batch, dim);
}

static int start_ese(pd_daemon_t *d, struct pd_fosi_run *st)
{
    const pd_config_t *c = &d->cfg;
    pd_lanczos_opts_t o = {.k = (size_t)c->fosi_k, .l = (size_t)c->fosi_l,
                           .order = (size_t)c->fosi_lanczos_order,
                           .slices = st->slices > 0 ? st->slices : 1, .seed = 0};
    int rc;

    pd_lanczos_free(&st->lz);
    pd_buf_unref(st->snap);
    st->snap = NULL;
    if ((rc = pd_lanczos_init(&st->lz, d->model.dim, &o)) != 0 ||
        (rc = gather_whole(d, st)) != 0) {
        return rc;
    }
    /* x_s whole: on a sharded job the HVP tasks carry it (the shards move on meanwhile) */
    if (st->sharded) {
        st->snap = pd_buf_ref(st->current);
    } else if ((rc = pd_store_snapshot(&d->store, &st->snap)) != 0) {
        return rc;
    }
    if ((rc = start_product(d, st)) != 0) {
        return rc;
    }
    st->snap_version = d->store.version;
    st->snap_steps = st->steps;
    st->ese_start_ms = pd_daemon_now_ms(d);
    st->held_since_ms = st->curv_fraction == 0.0 || st->curv_bound == 0 ? st->ese_start_ms : 0;
    st->ese_active = true;
    d->metrics.fosi_lanczos_bytes = (double)pd_lanczos_slice_bytes(&st->lz);
    pd_log_debug("fosi: refresh before step %" PRIu64 " at version %" PRIu64 ": %zu products",
                 st->steps, st->snap_version, st->lz.order);
    return 0;
}

/* Gives s a pending HVP part; false when none is pending (or the send failed). */
static bool send_part(pd_daemon_t *d, struct pd_fosi_run *st, pd_session_t *s)
{
    int64_t i = pd_parts_take(&st->parts);
    pd_task_t t = {0};

    if (i < 0) {
        return false;
    }
    t.id = ++d->next_task_id;
    t.kind = PD_TASK_HVP;
    t.round = st->parts.round;
    t.part = (uint32_t)i;
    t.version = st->snap_version;
    t.seed = st->batch_seed;
    t.batch = st->batch;
    pd_parts_range(&st->parts, (uint32_t)i, &t.range_begin, &t.range_end);
    if (pd_sched_send_task(d, s, &t, st->snap, st->q) != 0) {
        pd_parts_untake(&st->parts, (uint32_t)i);
        return false;
    }
    pd_log_debug("fosi: product %zu: HVP part %" PRId64 " to worker %" PRIu32, st->lz.iter, i,
                 s->id);
    return true;
}

/* Training work s could be given during the ESE without taking τ_c past the bound: a new
 * sync-sgd round is one step (the parts of the round in progress are within it), each async
 * gradient in flight may be one. */
static bool training_allowed(pd_daemon_t *d, const struct pd_fosi_run *st)
{
    uint64_t ahead = st->steps - st->snap_steps, in_flight = 0;

    if (st->curv_fraction == 0.0 || ahead >= st->curv_bound) {
        return false;
    }
    if (st->scheme == &pd_method_sync_sgd) {
        return pd_method_sync_round_active(d) || ahead + 1 <= st->curv_bound;
    }
    for (size_t i = 0; i < d->sessions.n; i++) {
        const pd_session_t *o = d->sessions.v[i];
        in_flight += o->state == PD_SESSION_BUSY && o->task.kind == PD_TASK_GRAD;
    }
    return ahead + in_flight + 1 <= st->curv_bound;
}

/* s belongs to the curvature pool of this ESE, or joins it while the pool is short:
 * curv_fraction of the ready workers, rounded, at least one and at most all but one (all of
 * them for a synchronous refresh). */
static bool in_curvature_pool(pd_daemon_t *d, const struct pd_fosi_run *st, pd_session_t *s)
{
    size_t ready = pd_sessions_count_ready(&d->sessions), members = 0, want = ready;

    if (s->curv_pool) {
        return true;
    }
    if (st->curv_fraction > 0.0 && ready >= 2) {
        want = (size_t)lround(st->curv_fraction * (double)ready);
        want = want < 1 ? 1 : want > ready - 1 ? ready - 1 : want;
    }
    for (size_t i = 0; i < d->sessions.n; i++) {
        members += d->sessions.v[i]->curv_pool;
    }
    s->curv_pool = members < want;
    return s->curv_pool;
}

static void fosi_on_idle(pd_daemon_t *d, pd_session_t *s)
{
    struct pd_fosi_run *st = d->fosi;
    int rc;

    if (!st->ese_active && st->steps >= st->next_refresh) {
        rc = start_ese(d, st);
        if (rc != 0) {
            fail(d, rc);
            return;
        }
        pd_sched_kick(d); /* the parts to the workers waiting idle, s among them */
        return;
    }
    if (!st->ese_active) {
        st->scheme->on_idle(d, s);
        return;
    }
    if (!in_curvature_pool(d, st, s) && training_allowed(d, st)) {
        st->scheme->on_idle(d, s);
        return;
    }
    if (!s->curv_pool && st->held_since_ms == 0) {
        st->held_since_ms = pd_daemon_now_ms(d); /* the bound is reached: s helps instead */
    }
    send_part(d, st, s); /* none pending: s waits for the product to complete */
}

/* The run is complete: the new eigensystem replaces the old one between two steps. */
static int finish_ese(pd_daemon_t *d, struct pd_fosi_run *st)
{
    pd_metrics_t *m = &d->metrics;
    size_t count, k, l;
    double worst = 0.0;
    char list[PD_LANCZOS_MAX_PAIRS * 26]; /* %.17g: exact, so runs can be compared */
    int rc = pd_lanczos_ritz(&st->lz, st->lambda, st->v, st->resid, &count);

    if (rc != 0) {
        return rc;
    }
    /* an early stop may return fewer bottom pairs than fosi_l asks for */
    pd_lanczos_pairs(&st->lz, &k, &l);
    rc = pd_fosi_set_eigen(&st->core, st->lambda, st->v, count, l, d->cfg.optimizer);
    if (rc != 0) {
        return rc;
    }
    size_t used = 0;
    list[0] = '\0';
    for (size_t j = 0; j < count; j++) {
        worst = fmax(worst, st->resid[j]);
        if (used < sizeof(list)) {
            used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%.17g", j ? " " : "",
                                     st->lambda[j]);
        }
    }
    double seconds = (double)(pd_daemon_now_ms(d) - st->ese_start_ms) / 1000.0;
    m->fosi_refreshes_total++;
    m->fosi_lambda_max = st->lambda[count - 1];
    m->fosi_lambda_k = st->lambda[l];
    m->fosi_lambda_min = st->lambda[0];
    m->fosi_base_scale = st->core.c_s;
    m->fosi_ese_seconds = seconds;
    m->fosi_curvature_seconds_total += seconds;
    m->fosi_lanczos_order = (double)st->lz.m;
    m->fosi_orth_loss = pd_lanczos_orth_loss(&st->lz);
    m->fosi_ritz_residual_max = worst;
    m->fosi_curvature_staleness = (double)(st->steps - st->snap_steps);
    m->fosi_overlap_steps_total += (double)(st->steps - st->snap_steps);
    if (st->held_since_ms != 0) {
        m->fosi_training_held_seconds_total +=
            (double)(pd_daemon_now_ms(d) - st->held_since_ms) / 1000.0;
    }
    m->fosi_eigvec_bytes = (double)pd_fosi_slice_bytes(&st->core);
    m->eigen.n = (uint32_t)count; /* count ≤ PD_LANCZOS_MAX_PAIRS = PD_METRICS_MAX_EIGEN */
    memcpy(m->eigen.lambda, st->lambda, count * sizeof(double));
    memcpy(m->eigen.residual, st->resid, count * sizeof(double));
    pd_log_info("fosi: refresh %.0f before step %" PRIu64 " (%.2f s, %zu products%s, tau_c %"
                PRIu64 "): eigenvalues [%s], c_s = %.4g",
                m->fosi_refreshes_total, st->steps, seconds, st->lz.m,
                st->lz.early ? ", invariant subspace" : "", st->steps - st->snap_steps, list,
                st->core.c_s);
    st->ese_active = false;
    m->fosi_curvature_workers = 0;
    for (size_t i = 0; i < d->sessions.n; i++) {
        m->fosi_curvature_workers += d->sessions.v[i]->curv_pool;
        d->sessions.v[i]->curv_pool = false;
    }
    /* the next one fosi_period steps after this one started, or at once when training went
     * that far meanwhile (MR-DHO2: the curvature pool then works without a pause) */
    st->next_refresh += (uint64_t)d->cfg.fosi_period;
    return 0;
}

static void hvp_result(pd_daemon_t *d, struct pd_fosi_run *st, const pd_task_t *t,
                       const pd_msg_t *m, const double *hv_sum)
{
    size_t dim = d->model.dim;
    const double *q = (const double *)st->q->data;
    uint64_t samples;
    int rc;

    if (!st->ese_active || !pd_parts_accept(&st->parts, t, hv_sum, m->n_samples, 0.0)) {
        d->metrics.results_discarded_total++;
        return;
    }
    d->metrics.fosi_hvp_compute_seconds_total += m->compute_seconds;
    if (!pd_parts_complete(&st->parts)) {
        return;
    }
    pd_parts_sum(&st->parts, st->w, &samples, NULL);
    for (size_t i = 0; i < dim; i++) {
        st->w[i] = st->w[i] / (double)samples + st->l2 * d->mask[i] * q[i];
    }
    d->metrics.fosi_hvp_products_total++;
    rc = pd_lanczos_feed(&st->lz, st->w);
    if (rc == 0) {
        rc = st->lz.done ? finish_ese(d, st) : start_product(d, st);
    }
    if (rc != 0) {
        fail(d, rc);
        return;
    }
    pd_sched_kick(d); /* the next product's parts, or training again */
}

static void fosi_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t,
                           const pd_msg_t *m, const double *vec)
{
    if (t->kind == PD_TASK_HVP) {
        hvp_result(d, d->fosi, t, m, vec);
    } else {
        d->fosi->scheme->on_result(d, s, t, m, vec);
    }
}

static void fosi_on_leave(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t)
{
    struct pd_fosi_run *st = d->fosi;

    if (t == NULL || t->kind != PD_TASK_HVP) {
        st->scheme->on_leave(d, s, t);
        return;
    }
    if (st->ese_active && pd_parts_give_back(&st->parts, t)) {
        d->metrics.tasks_rescheduled_total++;
        pd_log_info("fosi: HVP part %" PRIu32 " of worker %" PRIu32
                    " given to another (the worker left)", t->part, s->id);
        pd_sched_kick(d);
    }
}

/* Checkpointed state: FOSI's step count, then the scheme's own words. The eigensystem is not
 * kept: a resumed job refreshes it before its first step (its curvature is of the restored
 * parameters), then every fosi_period steps as before. */
static int fosi_save(pd_daemon_t *d, uint8_t **out, size_t *len)
{
    struct pd_fosi_run *st = d->fosi;
    uint8_t *base = NULL, *all;
    size_t base_len = 0;
    int rc = st->scheme->save != NULL ? st->scheme->save(d, &base, &base_len) : 0;

    if (rc != 0) {
        return rc;
    }
    rc = pd_method_save_words(&st->steps, 1, &all, len);
    if (rc == 0) {
        uint8_t *grown = realloc(all, *len + base_len + 1);
        if (grown == NULL) {
            free(all);
            rc = -ENOMEM;
        } else {
            memcpy(grown + *len, base, base_len);
            *len += base_len;
            *out = grown;
        }
    }
    free(base);
    return rc;
}

static int fosi_load(pd_daemon_t *d, const uint8_t *buf, size_t len)
{
    struct pd_fosi_run *st = d->fosi;
    uint64_t steps;
    int rc;

    if (len < 8) {
        return PD_ECORRUPT;
    }
    rc = pd_method_load_words(buf, 8, &steps, 1);
    if (rc == 0 && st->scheme->load != NULL) {
        rc = st->scheme->load(d, buf + 8, len - 8);
    } else if (rc == 0 && len != 8) {
        rc = PD_ECORRUPT;
    }
    if (rc == 0) {
        st->steps = steps;
        st->next_refresh = steps;
    }
    return rc;
}

/* A sharded job's base optimiser over every key (the job's optim.u and optim.v hold shard 0's
 * keys alone): its arrays, as the job's optimiser keeps them (u for momentum and Adam, v for
 * Adam). Alone, none: the job's optimiser is the base. */
static size_t fosi_ckpt_arrays(pd_daemon_t *d, pd_method_array_t *out)
{
    struct pd_fosi_run *st = d->fosi;
    pd_optim_t *o = &st->optim;
    size_t n = 0;

    if (st->sharded && (o->kind == PD_OPT_MOMENTUM || o->kind == PD_OPT_ADAM)) {
        out[n++] = (pd_method_array_t){"fosi.optim.u", o->u, o->dim};
    }
    if (st->sharded && o->kind == PD_OPT_ADAM) {
        out[n++] = (pd_method_array_t){"fosi.optim.v", o->v, o->dim};
    }
    return n;
}

const pd_method_ops_t pd_method_fosi = {
    .name = "fosi",
    .init = fosi_init,
    .release = fosi_release,
    .on_idle = fosi_on_idle,
    .on_result = fosi_on_result,
    .on_leave = fosi_on_leave,
    .save = fosi_save,
    .load = fosi_load,
    .ckpt_arrays = fosi_ckpt_arrays,
};

/* The same layer: fosi_init reads the method and sets the slices and the overlap. */
const pd_method_ops_t pd_method_dho2 = {
    .name = "dho2",
    .init = fosi_init,
    .release = fosi_release,
    .on_idle = fosi_on_idle,
    .on_result = fosi_on_result,
    .on_leave = fosi_on_leave,
    .save = fosi_save,
    .load = fosi_load,
    .ckpt_arrays = fosi_ckpt_arrays,
};
