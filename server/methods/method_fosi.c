/* method_fosi.c - FOSI on the parameter server (ALGORITHMS.md §5.3–§5.5): the job's
 * [optimizer] as the base, fed by sync-sgd rounds or bounded-staleness async-sgd
 * (fosi_gradients), with a scaled Newton step on the span of the top-k (and bottom-l) Hessian
 * eigenvectors, refreshed every fosi_period steps after fosi_warmup.
 *
 * The gradient scheme is the sync-sgd or async-sgd method itself, running on
 * d->method_state; this file is a layer over it (d->fosi): every step of the scheme goes
 * through pd_method_fosi_step instead of the plain optimiser step, and while an eigensystem
 * refresh (ESE) runs, idle workers get HVP tasks instead of gradient tasks, so training waits
 * for the curvature (synchronous FOSI; gradients already in flight under async-sgd still land
 * and are applied with the eigensystem in use, §5.5).
 *
 * One ESE is a Lanczos run (common/lanczos.c) at the snapshot x_s of the version it starts at.
 * Each of its products H q is one round of fosi_hvp_parts HVP tasks over fixed positions of
 * the ESE batch (fosi_ese_batch samples drawn once from the job seed, the same batch at every
 * refresh), summed in part order and divided by the batch size, plus the l2 term's l2·q on
 * the weights; so the eigensystem depends on the job and its seed, never on which or how many
 * workers answered. A worker that leaves during a round has its part given to another. */
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
#include "../scheduler.h"

/* Tag mixed into the job seed for the ESE batch, so it is not a batch the gradients draw. */
#define ESE_BATCH_TAG 0x45534542u

struct pd_fosi_run {
    const pd_method_ops_t *scheme; /* sync-sgd or async-sgd */
    pd_fosi_t core;
    double l2;               /* the loss's weight decay (the [optimizer] l2) */
    uint64_t steps;          /* FOSI steps applied */
    uint64_t next_refresh;   /* an ESE starts before the step with this index */
    /* the ESE in progress */
    bool ese_active;
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
    free(st);
}

static int fosi_init(pd_daemon_t *d)
{
    const pd_config_t *c = &d->cfg;
    size_t dim = d->store.dim;
    uint64_t warmup = c->fosi_warmup > 0 ? (uint64_t)c->fosi_warmup : (uint64_t)c->fosi_period;
    pd_fosi_opts_t o = {.alpha = c->fosi_alpha, .clip = c->fosi_clip, .damping = c->fosi_damping};
    size_t pairs = (size_t)(c->fosi_k + c->fosi_l);
    struct pd_fosi_run *st = calloc(1, sizeof(*st));
    int rc;

    if (st == NULL) {
        return -ENOMEM;
    }
    st->scheme = c->fosi_gradients == 0 ? &pd_method_sync_sgd : &pd_method_async_sgd;
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
    if (pairs > dim || (uint64_t)c->fosi_hvp_parts > st->batch) {
        pd_log_err("fosi: fosi_k + fosi_l = %zu eigenpairs of %zu parameters, %" PRId64
                   " HVP parts of a %" PRIu32 "-sample batch: too many",
                   pairs, dim, c->fosi_hvp_parts, st->batch);
        rc = PD_ECONFIG;
        goto fail;
    }
    if ((rc = pd_fosi_init(&st->core, dim, &o)) != 0 || (rc = st->scheme->init(d)) != 0) {
        goto fail;
    }
    d->fosi = st;
    pd_log_info("fosi: base %s fed by %s, k = %" PRId64 ", l = %" PRId64 ", T = %" PRId64
                ", W = %" PRIu64 ", alpha = %g, c = %g, ESE batch %" PRIu32 " in %" PRId64
                " parts", c->optimizer == PD_OPT_ADAM ? "adam" : c->optimizer == PD_OPT_MOMENTUM
                ? "momentum" : "sgd", st->scheme->name, c->fosi_k, c->fosi_l, c->fosi_period,
                warmup, c->fosi_alpha, c->fosi_clip, st->batch, c->fosi_hvp_parts);
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

int pd_method_fosi_step(pd_daemon_t *d, double *g, double lr)
{
    struct pd_fosi_run *st = d->fosi;
    const double *x = d->store.x;
    int rc;

    for (size_t i = 0; i < d->store.dim; i++) {
        g[i] += st->l2 * d->mask[i] * x[i];
    }
    rc = pd_fosi_step(&st->core, &d->optim, d->store.x, g, lr);
    if (rc == 0) {
        st->steps++;
        d->metrics.fosi_g1_ratio = st->core.g1_ratio;
    }
    return rc;
}

/* The next product's round: q is the Lanczos vector, sent with every part. */
static int start_product(pd_daemon_t *d, struct pd_fosi_run *st)
{
    size_t dim = d->store.dim;
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
                           .order = (size_t)c->fosi_lanczos_order, .slices = 1, .seed = 0};
    int rc;

    pd_lanczos_free(&st->lz);
    pd_buf_unref(st->snap);
    st->snap = NULL;
    if ((rc = pd_lanczos_init(&st->lz, d->store.dim, &o)) != 0 ||
        (rc = pd_store_snapshot(&d->store, &st->snap)) != 0 ||
        (rc = start_product(d, st)) != 0) {
        return rc;
    }
    st->snap_version = d->store.version;
    st->ese_start_ms = pd_daemon_now_ms(d);
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
        send_part(d, st, s);
        pd_sched_kick(d); /* the other parts to the workers waiting idle */
        return;
    }
    if (st->ese_active) {
        send_part(d, st, s); /* none pending: s waits for the product to complete */
        return;
    }
    st->scheme->on_idle(d, s);
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
    m->fosi_curvature_staleness = (double)(d->store.version - st->snap_version);
    m->fosi_eigvec_bytes = (double)(8 * count * d->store.dim);
    m->eigen.n = (uint32_t)count; /* count ≤ PD_LANCZOS_MAX_PAIRS = PD_METRICS_MAX_EIGEN */
    memcpy(m->eigen.lambda, st->lambda, count * sizeof(double));
    memcpy(m->eigen.residual, st->resid, count * sizeof(double));
    pd_log_info("fosi: refresh %.0f before step %" PRIu64 " (%.2f s, %zu products%s): "
                "eigenvalues [%s], c_s = %.4g",
                m->fosi_refreshes_total, st->steps, seconds, st->lz.m,
                st->lz.early ? ", invariant subspace" : "", list, st->core.c_s);
    st->ese_active = false;
    st->next_refresh += (uint64_t)d->cfg.fosi_period;
    if (st->next_refresh <= st->steps) { /* async steps landed meanwhile */
        st->next_refresh = st->steps + (uint64_t)d->cfg.fosi_period;
    }
    return 0;
}

static void hvp_result(pd_daemon_t *d, struct pd_fosi_run *st, const pd_task_t *t,
                       const pd_msg_t *m, const double *hv_sum)
{
    size_t dim = d->store.dim;
    const double *q = (const double *)st->q->data;
    uint64_t samples;
    int rc;

    if (!st->ese_active || !pd_parts_accept(&st->parts, t, hv_sum, m->n_samples)) {
        d->metrics.results_discarded_total++;
        return;
    }
    if (!pd_parts_complete(&st->parts)) {
        return;
    }
    pd_parts_sum(&st->parts, st->w, &samples);
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

const pd_method_ops_t pd_method_fosi = {
    .name = "fosi",
    .init = fosi_init,
    .release = fosi_release,
    .on_idle = fosi_on_idle,
    .on_result = fosi_on_result,
    .on_leave = fosi_on_leave,
    .save = fosi_save,
    .load = fosi_load,
};
