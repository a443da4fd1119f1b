/* method_apts.c - APTS (ALGORITHMS.md §4, Trotti, Cruz Alegría, Kopaničáková and Krause):
 * the outer iteration of apts_core.c driven by workers. The parameters are split into N
 * blocks of whole tensors; per outer iteration k
 *   - the iteration's samples are fixed: the whole training set, or apts_batch samples drawn
 *     from mix(seed, k), so every evaluation of one iteration sees the same objective;
 *   - each GRAD or LOSS the core asks for is split into one part per ready worker (positions
 *     of the sample set) and the part sums are added in part order, so the result does not
 *     depend on who computed what; a departed worker's part is given to another;
 *   - the N local solves are N LOCAL_TR tasks at θ_k (more blocks than workers queue); a lost
 *     worker's block is given to another; once half the blocks are in, a block slower than
 *     apts_straggler_factor times their median contributes 0 and is counted (§4.6);
 *   - θ_{k+1} becomes a new version when it differs from θ_k.
 * Points other than θ_k (θ½, trial points) travel as off-version parameters: always sent,
 * never cached by the worker as that version. There is no learning rate. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apts_core.h"
#include "apts_task.h"
#include "error.h"
#include "log.h"
#include "method.h"
#include "rng.h"
#include "whole.h"
#include "../scheduler.h"

enum { SLOT_PENDING = 0, SLOT_ASSIGNED, SLOT_DONE };

/* A part of a GRAD/LOSS pass, or a block of the local phase. */
typedef struct apts_slot {
    uint8_t state;
    uint64_t begin, end; /* parts: positions of the sample set */
    uint64_t sent_ms;
    double loss_sum;
} apts_slot_t;

typedef struct apts_state {
    pd_apts_t core;
    bool started;
    uint32_t n_blocks;
    size_t offset[PD_METRICS_MAX_BLOCKS], len[PD_METRICS_MAX_BLOCKS];
    uint64_t k;           /* outer iterations done */
    double resume_radius; /* from a checkpoint (0: none): Δ_k of the resumed iteration */
    pd_sample_set_t set;  /* the iteration's samples */
    uint64_t n_samples;
    double l2;

    pd_apts_need_t need;
    uint64_t round;       /* id of the current pass or local phase */
    uint64_t phase_ms;    /* when it started */
    pd_buf_t *current;    /* θ_k, the store's version, whole (whole.h) */
    pd_buf_t *point;      /* the parameters of the pass (θ_k's snapshot, or an off-version point) */
    bool off_version;
    uint32_t n_slots;
    apts_slot_t *slots;   /* max(parts, blocks) */
    uint32_t slots_cap;
    uint32_t n_done;
    double *part_sums;    /* parts x dim: GRAD part sums, kept apart for the ordered sum */
    double *g;            /* dim: the pass's mean gradient */
    pd_buf_t *gblock[PD_METRICS_MAX_BLOCKS]; /* foc: R_d ∇f(θ_k) */
    /* second order: block d of the server's L-SR1 memory, the LOCAL_TR's last frame
     * (S_d, Y_d, M⁻¹; task_kind.h), NULL while the memory is empty */
    pd_buf_t *lsr1block[PD_METRICS_MAX_BLOCKS];
    uint32_t lsr1_pairs;
    double lsr1_gamma;
    double local_seconds[PD_METRICS_MAX_BLOCKS];
    double foc_max;
} apts_state_t;

static void drop_bufs(apts_state_t *st)
{
    pd_buf_unref(st->point);
    st->point = NULL;
    for (uint32_t d = 0; d < PD_METRICS_MAX_BLOCKS; d++) {
        pd_buf_unref(st->gblock[d]);
        st->gblock[d] = NULL;
        pd_buf_unref(st->lsr1block[d]);
        st->lsr1block[d] = NULL;
    }
}

/* Second order: the block rows of the server's memory for every block (the workers' B_d is
 * then exactly the principal block of B, lsr1.h). An empty memory sends nothing, and the
 * blocks take first-order local steps (the first iteration). */
static int make_lsr1_blocks(apts_state_t *st)
{
    const pd_lsr1_t *b = &st->core.mem;
    size_t m = b->count;
    int rc = 0;

    for (uint32_t d = 0; d < st->n_blocks; d++) {
        pd_buf_unref(st->lsr1block[d]);
        st->lsr1block[d] = NULL;
    }
    st->lsr1_pairs = 0;
    if (!st->core.o.second_order || m == 0) {
        return 0;
    }
    for (uint32_t d = 0; rc == 0 && d < st->n_blocks; d++) {
        size_t len = st->len[d];
        rc = pd_buf_new(&st->lsr1block[d], (2 * m * len + m * m) * sizeof(double));
        if (rc != 0) {
            break;
        }
        double *z = (double *)st->lsr1block[d]->data;
        for (size_t j = 0; j < m; j++) {
            memcpy(z + j * len, pd_lsr1_pair_s(b, j) + st->offset[d], len * sizeof(double));
            memcpy(z + (m + j) * len, pd_lsr1_pair_y(b, j) + st->offset[d],
                   len * sizeof(double));
        }
        if (d == 0) {
            rc = pd_lsr1_minv(b, z + 2 * m * len);
        } else {
            memcpy(z + 2 * m * len, (double *)st->lsr1block[0]->data + 2 * m * st->len[0],
                   m * m * sizeof(double));
        }
    }
    if (rc == 0) {
        st->lsr1_pairs = (uint32_t)m;
        st->lsr1_gamma = b->gamma;
    }
    return rc;
}

static void apts_release(pd_daemon_t *d)
{
    apts_state_t *st = d->method_state;

    if (st != NULL) {
        drop_bufs(st);
        pd_apts_free(&st->core);
        pd_buf_unref(st->current);
        free(st->slots);
        free(st->part_sums);
        free(st->g);
        free(st);
    }
    d->method_state = NULL;
}

static int apts_init(pd_daemon_t *d)
{
    const pd_config_t *c = &d->cfg;
    apts_state_t *st;

    if (d->train == NULL || d->train->m == 0) {
        pd_log_err("method = apts needs a training set");
        return PD_ECONFIG;
    }
    if (c->apts_second_order && !c->apts_global_pass) {
        /* the memory's pairs and the second-order step both live in the global pass */
        pd_log_err("[job] apts_second_order = yes needs apts_global_pass = yes");
        return PD_ECONFIG;
    }
    if ((uint64_t)c->apts_batch > d->train->m) {
        pd_log_err("[job] apts_batch = %" PRId64 " is more than the %zu training samples (0 "
                   "takes them all)", c->apts_batch, d->train->m);
        return PD_ECONFIG;
    }
    /* known now, not only when the first iteration splits the blocks: --check-config and the
     * start refuse it before any worker is waited for */
    size_t lengths[PD_METRICS_MAX_BLOCKS];
    size_t n_tensors = pd_model_tensors(&d->model, lengths, PD_METRICS_MAX_BLOCKS);
    if ((size_t)c->apts_blocks > n_tensors) {
        pd_log_err("[job] apts_blocks = %" PRId64 ": the model has only %zu parameter tensors",
                   c->apts_blocks, n_tensors);
        return PD_ECONFIG;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return -ENOMEM;
    }
    d->method_state = st;
    st->g = calloc(d->model.dim, sizeof(double));
    if (st->g == NULL) {
        return -ENOMEM;
    }
    st->l2 = d->optim.reg.kind == PD_REG_L2 ? d->optim.reg.l2 : 0.0;
    return 0;
}

/* The block split, fixed at the first iteration (N = ready workers when apts_blocks = 0). */
static int choose_blocks(pd_daemon_t *d, apts_state_t *st)
{
    size_t lengths[PD_METRICS_MAX_BLOCKS];
    size_t n_tensors = pd_model_tensors(&d->model, lengths, PD_METRICS_MAX_BLOCKS);
    size_t n = d->cfg.apts_blocks > 0 ? (size_t)d->cfg.apts_blocks
                                      : pd_sessions_count_ready(&d->sessions);
    pd_apts_opts_t o = {0};
    int rc;

    if (d->cfg.apts_blocks == 0 && n > n_tensors) {
        n = n_tensors;
    }
    if (n == 0) {
        n = 1;
    }
    if (n > n_tensors) {
        pd_log_err("[job] apts_blocks = %zu: the model has only %zu parameter tensors", n,
                   n_tensors);
        return PD_ECONFIG;
    }
    for (uint32_t b = 0; b < (uint32_t)n; b++) {
        rc = pd_apts_model_block(&d->model, (uint32_t)n, b, &st->offset[b], &st->len[b]);
        if (rc != 0) {
            return rc;
        }
    }
    st->n_blocks = (uint32_t)n;
    pd_tr_params_default(&o.tr);
    o.tr.radius_min = d->cfg.apts_radius_min;
    o.tr.radius_max = d->cfg.apts_radius_max;
    o.radius0 = d->cfg.apts_radius;
    o.global_pass = d->cfg.apts_global_pass;
    o.safeguard = d->cfg.apts_safeguard;
    o.second_order = d->cfg.apts_second_order;
    o.memory = (size_t)d->cfg.apts_memory;
    rc = pd_whole_open(d, &st->current);
    if (rc != 0) {
        return rc;
    }
    rc = pd_apts_init(&st->core, &o, d->model.dim, n, st->offset, st->len,
                      (const double *)st->current->data);
    if (rc == 0) {
        if (st->resume_radius > 0.0) {
            st->core.radius = fmin(fmax(st->resume_radius, o.tr.radius_min), o.tr.radius_max);
        }
        st->started = true;
        d->metrics.blocks.n = st->n_blocks;
        pd_log_info("apts: %" PRIu32 " blocks, %s samples per iteration, s_loc=%" PRId64
                    " radius=%g [%g, %g]%s%s%s%s",
                    st->n_blocks, d->cfg.apts_batch > 0 ? "drawn" : "all",
                    d->cfg.apts_local_iters, o.radius0, o.tr.radius_min, o.tr.radius_max,
                    o.global_pass ? " global-pass" : "", o.safeguard ? " safeguard" : "",
                    d->cfg.apts_foc ? " foc" : "", o.second_order ? " second-order" : "");
    }
    return rc;
}

static int reserve_slots(pd_daemon_t *d, apts_state_t *st, uint32_t n)
{
    if (n <= st->slots_cap) {
        return 0;
    }
    apts_slot_t *s = realloc(st->slots, n * sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    st->slots = s;
    double *p = realloc(st->part_sums, (size_t)n * d->model.dim * sizeof(double));
    if (p == NULL) {
        return -ENOMEM;
    }
    st->part_sums = p;
    st->slots_cap = n;
    return 0;
}

/* A new pass or phase: every slot pending, results of earlier ones recognisably stale. */
static void new_round(pd_daemon_t *d, apts_state_t *st, pd_apts_need_t need, uint32_t n_slots)
{
    st->need = need;
    st->round++;
    st->phase_ms = pd_daemon_now_ms(d);
    st->n_slots = n_slots;
    st->n_done = 0;
    memset(st->slots, 0, n_slots * sizeof(*st->slots));
}

/* The parameters of the next tasks: θ_k's store snapshot, or a copy of the core's point. */
static int set_point(pd_daemon_t *d, apts_state_t *st, const double *x)
{
    return pd_whole_point(d, x, x == st->core.theta, st->current, &st->point,
                          &st->off_version);
}

/* A GRAD or LOSS pass at the core's point: one part per ready worker, or [job] sync_parts
 * parts whoever computes them (summed in part order: the same bits with any workers). */
static int start_pass(pd_daemon_t *d, apts_state_t *st, pd_apts_need_t need)
{
    uint64_t n = st->n_samples;
    uint64_t parts = d->cfg.sync_parts > 0 ? (uint64_t)d->cfg.sync_parts
                                           : pd_sessions_count_ready(&d->sessions);
    int rc;

    parts = parts == 0 ? 1 : parts > n ? n : parts;
    if ((rc = reserve_slots(d, st, (uint32_t)parts)) != 0 ||
        (rc = set_point(d, st, pd_apts_point(&st->core))) != 0) {
        return rc;
    }
    new_round(d, st, need, (uint32_t)parts);
    for (uint64_t i = 0; i < parts; i++) {
        st->slots[i].begin = n * i / parts;
        st->slots[i].end = n * (i + 1) / parts;
    }
    return 0;
}

/* The N local solves at θ_k, with the block gradients when foc is on. */
static int start_local(pd_daemon_t *d, apts_state_t *st)
{
    int rc = reserve_slots(d, st, st->n_blocks);

    if (rc == 0) {
        rc = set_point(d, st, st->core.theta);
    }
    for (uint32_t b = 0; rc == 0 && b < st->n_blocks; b++) {
        pd_buf_unref(st->gblock[b]);
        st->gblock[b] = NULL;
        if (d->cfg.apts_foc) {
            rc = pd_buf_new(&st->gblock[b], st->len[b] * sizeof(double));
            if (rc == 0) {
                memcpy(st->gblock[b]->data, st->core.g + st->offset[b],
                       st->len[b] * sizeof(double));
            }
        }
    }
    if (rc == 0) {
        rc = make_lsr1_blocks(st);
    }
    if (rc == 0) {
        new_round(d, st, PD_APTS_NEED_LOCAL, st->n_blocks);
        memset(st->local_seconds, 0, sizeof(st->local_seconds));
        st->foc_max = 0.0;
    }
    return rc;
}

static void publish_iteration(pd_daemon_t *d, apts_state_t *st)
{
    const pd_apts_stats_t *s = &st->core.st;
    pd_metrics_t *m = &d->metrics;

    m->apts_iterations_total++;
    m->apts_radius = st->core.radius;
    m->apts_rho = s->rho;
    m->apts_batch_objective = s->f_next;
    if (s->accepted) {
        m->apts_steps_accepted_total++;
    } else {
        m->apts_steps_rejected_total++;
    }
    m->apts_tr_retries_total += s->retries;
    m->apts_safeguard_backoffs_total += s->safeguard_backoffs;
    m->apts_missing_blocks_total += s->missing_blocks;
    if (s->pair_offered && !s->pair_stored) {
        m->apts_lsr1_pairs_skipped_total++;
    }
    m->apts_foc_norm_max = st->foc_max;
    for (uint32_t b = 0; b < st->n_blocks; b++) {
        m->blocks.step_inf[b] = st->core.block_step_inf[b];
        m->blocks.pred[b] = st->core.received[b] ? st->core.reports[b].pred : 0.0;
        m->blocks.seconds[b] = st->local_seconds[b];
        m->blocks.missing[b] = !st->core.received[b];
    }
}

static int start_iteration(pd_daemon_t *d, apts_state_t *st);

/* The core moved on: set up what it needs next, or finish the iteration. */
static int advance(pd_daemon_t *d, apts_state_t *st, pd_apts_need_t need)
{
    if (need == PD_APTS_NEED_GRAD || need == PD_APTS_NEED_LOSS) {
        return start_pass(d, st, need);
    }
    if (need == PD_APTS_NEED_LOCAL) {
        return start_local(d, st);
    }
    /* DONE: every outer iteration is one version, moved or not (max_updates counts them) */
    bool moved = memcmp(st->core.theta, st->current->data, d->model.dim * sizeof(double)) != 0;
    bool same_radius = st->core.radius == st->core.st.radius;
    st->k++;
    publish_iteration(d, st);
    int rc = pd_whole_commit(d, st->core.theta, &st->current); /* and the stop criteria */
    if (rc != 0 || d->state != PD_STATE_RUNNING) {
        return rc;
    }
    if (!moved && same_radius && d->cfg.apts_batch == 0) {
        /* Same point, same radius, same samples: the next iteration would repeat this one
         * bit for bit. The trust region cannot shrink further, so this is where it ends. */
        pd_daemon_stop(d, "apts converged (no step is accepted at the smallest radius)", 0);
        return 0;
    }
    return start_iteration(d, st);
}

static int start_iteration(pd_daemon_t *d, apts_state_t *st)
{
    uint64_t m = d->train->m;

    if (d->cfg.apts_batch > 0) {
        st->set = (pd_sample_set_t){pd_rng_mix((uint64_t)d->cfg.seed, st->k),
                                    (uint32_t)d->cfg.apts_batch, 0, 0};
        st->n_samples = (uint64_t)d->cfg.apts_batch;
    } else {
        st->set = (pd_sample_set_t){0, 0, 0, m};
        st->n_samples = m;
    }
    return advance(d, st, pd_apts_begin(&st->core));
}

static void fail(pd_daemon_t *d, int rc)
{
    pd_log_err("apts: %s", pd_strerror(rc));
    pd_daemon_stop(d, "apts failed (see the log)", 1);
}

static int send_slot(pd_daemon_t *d, apts_state_t *st, pd_session_t *s, uint32_t i)
{
    pd_task_t t = {0};
    pd_buf_t *frame2 = NULL, *last = NULL;

    t.id = ++d->next_task_id;
    t.round = st->round;
    t.part = i;
    t.version = d->store.version;
    t.off_version = st->off_version;
    t.seed = st->set.seed;
    t.batch = st->set.batch;
    if (st->need == PD_APTS_NEED_LOCAL) {
        t.kind = PD_TASK_LOCAL_TR;
        t.range_begin = st->set.begin;
        t.range_end = st->set.end;
        t.has_local_tr = true;
        t.local_tr = (pd_local_tr_t){.block = i,
                                     .n_blocks = st->n_blocks,
                                     .radius = st->core.radius,
                                     .local_iters = (uint32_t)d->cfg.apts_local_iters,
                                     .l2 = st->l2,
                                     .lsr1_pairs = st->lsr1block[i] != NULL ? st->lsr1_pairs : 0,
                                     .lsr1_gamma = st->lsr1_gamma};
        t.result_len = st->len[i];
        frame2 = st->gblock[i];
        last = st->lsr1block[i];
    } else {
        t.kind = st->need == PD_APTS_NEED_GRAD ? PD_TASK_GRAD : PD_TASK_LOSS;
        /* positions of the drawn batch, or training samples when the set is all of them */
        t.range_begin = st->set.batch > 0 ? st->slots[i].begin : st->set.begin + st->slots[i].begin;
        t.range_end = st->set.batch > 0 ? st->slots[i].end : st->set.begin + st->slots[i].end;
    }
    int rc = last != NULL ? pd_sched_send_task_last(d, s, &t, st->point, frame2, last)
                          : pd_sched_send_task(d, s, &t, st->point, frame2);
    if (rc == 0) {
        st->slots[i].state = SLOT_ASSIGNED;
        st->slots[i].sent_ms = pd_daemon_now_ms(d);
        pd_log_debug("apts: iteration %" PRIu64 ": %s %" PRIu32 " to worker %" PRIu32, st->k,
                     t.kind == PD_TASK_LOCAL_TR ? "block" : "part", i, s->id);
    }
    return rc;
}

static void apts_on_idle(pd_daemon_t *d, pd_session_t *s)
{
    apts_state_t *st = d->method_state;
    int rc = 0;

    if (!st->started) {
        rc = choose_blocks(d, st);
        if (rc == 0) {
            rc = start_iteration(d, st);
        }
        if (rc != 0) {
            fail(d, rc);
            return;
        }
    }
    for (uint32_t i = 0; i < st->n_slots; i++) {
        if (st->slots[i].state == SLOT_PENDING) {
            send_slot(d, st, s, i); /* on failure s stays idle, the slot pending */
            return;
        }
    }
}

/* All parts of a pass are in: the mean (plus the l2 term) goes to the core. */
static pd_apts_need_t finish_pass(pd_daemon_t *d, apts_state_t *st)
{
    size_t dim = d->model.dim;
    const double *x = pd_whole_values(st->point, st->off_version, st->current);
    double loss = 0.0;

    for (uint32_t i = 0; i < st->n_slots; i++) {
        loss += st->slots[i].loss_sum;
    }
    d->metrics.apts_eval_phase_seconds_total +=
        (double)(pd_daemon_now_ms(d) - st->phase_ms) / 1000.0;
    if (st->need == PD_APTS_NEED_LOSS) {
        return pd_apts_on_loss(&st->core, pd_apts_objective(st->l2, d->mask, x, dim, loss,
                                                            st->n_samples, NULL));
    }
    memset(st->g, 0, dim * sizeof(double));
    for (uint32_t i = 0; i < st->n_slots; i++) {
        const double *p = st->part_sums + (size_t)i * dim;
        for (size_t j = 0; j < dim; j++) {
            st->g[j] += p[j];
        }
    }
    double f = pd_apts_objective(st->l2, d->mask, x, dim, loss, st->n_samples, st->g);
    return pd_apts_on_grad(&st->core, f, st->g);
}

static pd_apts_need_t finish_local(pd_daemon_t *d, apts_state_t *st)
{
    d->metrics.apts_local_phase_seconds_total +=
        (double)(pd_daemon_now_ms(d) - st->phase_ms) / 1000.0;
    return pd_apts_locals_done(&st->core);
}

static void apts_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t,
                           const pd_msg_t *m, const double *vec)
{
    apts_state_t *st = d->method_state;
    pd_apts_need_t next;
    int rc;

    if (!st->started || t->round != st->round || t->part >= st->n_slots ||
        st->slots[t->part].state != SLOT_ASSIGNED) {
        d->metrics.results_discarded_total++;
        return;
    }
    st->slots[t->part].state = SLOT_DONE;
    st->slots[t->part].loss_sum = m->loss_sum;
    s->grads_applied++;
    if (t->kind == PD_TASK_LOCAL_TR) {
        const pd_local_tr_t *r = &m->local_tr;
        pd_apts_block_report_t rep = {r->pred, r->radius_acc, r->any_accepted};
        if (!pd_apts_on_local(&st->core, t->part, vec, &rep)) {
            pd_log_warn("apts: block %" PRIu32 " from worker %" PRIu32 " not usable (non-finite "
                        "step or report); it contributes 0", t->part, s->id);
        }
        st->local_seconds[t->part] = m->compute_seconds;
        st->foc_max = fmax(st->foc_max, r->foc_norm);
        d->metrics.apts_local_compute_seconds_total += m->compute_seconds;
        d->metrics.apts_local_accepted_total += r->accepted;
        d->metrics.apts_local_rejected_total += r->rejected;
        if (r->lsr1_pairs > 0) {
            /* the task fields come back as sent; a worker only runs a task with a memory
             * field when its memory frame built a B_d (apts_task.c refuses it otherwise) */
            d->metrics.apts_local_second_order_total++;
        }
    } else if (t->kind == PD_TASK_GRAD) {
        memcpy(st->part_sums + (size_t)t->part * d->model.dim, vec,
               d->model.dim * sizeof(double));
    }
    if (++st->n_done < st->n_slots) {
        return;
    }
    next = st->need == PD_APTS_NEED_LOCAL ? finish_local(d, st) : finish_pass(d, st);
    rc = advance(d, st, next);
    if (rc != 0) {
        fail(d, rc);
        return;
    }
    pd_sched_kick(d);
}

static void apts_on_leave(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t)
{
    apts_state_t *st = d->method_state;

    if (t != NULL && st->started && t->round == st->round && t->part < st->n_slots &&
        st->slots[t->part].state == SLOT_ASSIGNED) {
        st->slots[t->part].state = SLOT_PENDING;
        d->metrics.tasks_rescheduled_total++;
        pd_log_info("apts: iteration %" PRIu64 ": %s %" PRIu32 " of worker %" PRIu32
                    " given to another (the worker left)", st->k,
                    t->kind == PD_TASK_LOCAL_TR ? "block" : "part", t->part, s->id);
        pd_sched_kick(d);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Once per second: a local phase with at least half its blocks in ends without the blocks
 * slower than factor x the median solve time (§4.6); they contribute 0. */
static void apts_on_tick(pd_daemon_t *d)
{
    apts_state_t *st = d->method_state;
    double done[PD_METRICS_MAX_BLOCKS], factor = d->cfg.apts_straggler_factor;
    uint32_t n = 0;
    int rc;

    if (!st->started || st->need != PD_APTS_NEED_LOCAL || factor <= 0.0 ||
        2 * st->n_done < st->n_slots || st->n_done == st->n_slots) {
        return;
    }
    for (uint32_t b = 0; b < st->n_slots; b++) {
        if (st->slots[b].state == SLOT_DONE) {
            done[n++] = st->local_seconds[b];
        }
    }
    qsort(done, n, sizeof(double), cmp_double);
    double median = n % 2 ? done[n / 2] : 0.5 * (done[n / 2 - 1] + done[n / 2]);
    double waited = (double)(pd_daemon_now_ms(d) - st->phase_ms) / 1000.0;
    if (waited <= factor * median) {
        return;
    }
    pd_log_warn("apts: iteration %" PRIu64 ": %" PRIu32 " of %" PRIu32 " blocks still out after "
                "%.1f s (%.1f x the median solve): they contribute 0",
                st->k, st->n_slots - st->n_done, st->n_slots, waited, factor);
    rc = advance(d, st, finish_local(d, st));
    if (rc != 0) {
        fail(d, rc);
        return;
    }
    pd_sched_kick(d);
}

/* Checkpointed state: the iteration counter and the radius (16 bytes, little-endian). The
 * iteration's samples derive from k, so a restarted server draws what an uninterrupted one
 * would; an iteration in flight starts again from θ_k. */
static int apts_save(pd_daemon_t *d, uint8_t **out, size_t *len)
{
    const apts_state_t *st = d->method_state;
    double radius = st->started ? st->core.radius : d->cfg.apts_radius;
    uint64_t words[2] = {st->k, 0};

    memcpy(&words[1], &radius, sizeof(radius));
    return pd_method_save_words(words, 2, out, len);
}

static int apts_load(pd_daemon_t *d, const uint8_t *buf, size_t len)
{
    apts_state_t *st = d->method_state;
    uint64_t words[2];
    double radius;
    int rc = pd_method_load_words(buf, len, words, 2);

    if (rc != 0) {
        return rc;
    }
    memcpy(&radius, &words[1], sizeof(radius));
    if (!(radius > 0.0) || !isfinite(radius)) {
        return PD_ECORRUPT;
    }
    /* The first idle worker starts iteration k from the store's parameters. */
    st->k = words[0];
    st->resume_radius = radius;
    return 0;
}

const pd_method_ops_t pd_method_apts = {
    .name = "apts",
    .init = apts_init,
    .release = apts_release,
    .on_idle = apts_on_idle,
    .on_result = apts_on_result,
    .on_leave = apts_on_leave,
    .on_tick = apts_on_tick,
    .save = apts_save,
    .load = apts_load,
};
