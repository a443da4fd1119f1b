/* method_solver.c - newton-cg and lbfgs: the full-batch convex solvers of tron_core.c and
 * lbfgs_core.c driven by workers (issue 8, item 6). Every evaluation a solver asks for is a
 * pass over the whole training set split into solver_parts fixed parts of sample positions:
 *   GRAD  at the iterate (a version of the store) or at an L-BFGS trial point;
 *   LOSS  at a trial point (newton-cg: every trial; lbfgs: a back-tracked one);
 *   HVP   at the iterate along the conjugate-gradient direction (newton-cg).
 * The parts are summed in part order and the l2 term added by the server, so every value the
 * solver sees, and so every iterate, is the same bits with any number of workers. A departed
 * worker's part is given to another. Each accepted step is one version; points other than the
 * iterate travel as off-version parameters (always sent, never cached by the worker). The job
 * ends as converged when the solver says so; [stop] criteria apply as for any method. There
 * is no learning rate. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apts_task.h"
#include "common/config.h"
#include "error.h"
#include "lbfgs_core.h"
#include "log.h"
#include "method.h"
#include "parts.h"
#include "tron_core.h"
#include "whole.h"
#include "../scheduler.h"

typedef struct solver_state {
    bool newton;         /* newton-cg, else lbfgs */
    bool started;
    pd_tron_t tron;
    pd_lbfgs_t lbfgs;
    pd_solver_need_t need;
    pd_parts_t parts;
    pd_buf_t *current;   /* the store's version, whole (whole.h) */
    pd_buf_t *point;     /* parameters of the pass (on a version: the store's snapshot) */
    bool off_version;
    pd_buf_t *dir;       /* HVP: the direction */
    double *sum;         /* dim: the pass's ordered sum, then the objective's gradient or Hv */
    double l2;
    uint64_t pass_ms;
    /* from a checkpoint (0: none) */
    double resume_radius, resume_gnorm0;
} solver_state_t;

static const char *name_of(const solver_state_t *st)
{
    return st->newton ? "newton-cg" : "lbfgs";
}

static void solver_release(pd_daemon_t *d)
{
    solver_state_t *st = d->method_state;

    if (st != NULL) {
        pd_tron_free(&st->tron);
        pd_lbfgs_free(&st->lbfgs);
        pd_parts_free(&st->parts);
        pd_buf_unref(st->current);
        pd_buf_unref(st->point);
        pd_buf_unref(st->dir);
        free(st->sum);
        free(st);
    }
    d->method_state = NULL;
}

static int solver_init(pd_daemon_t *d)
{
    const pd_config_t *c = &d->cfg;
    solver_state_t *st;

    if (d->train == NULL || (uint64_t)c->solver_parts > d->train->m) {
        pd_log_err("[job] solver_parts = %" PRId64 ": more parts than the %zu training samples",
                   c->solver_parts, d->train != NULL ? d->train->m : (size_t)0);
        return PD_ECONFIG;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return -ENOMEM;
    }
    d->method_state = st;
    st->newton = c->method == PD_METHOD_NEWTON_CG;
    st->l2 = d->optim.reg.kind == PD_REG_L2 ? d->optim.reg.l2 : 0.0;
    st->sum = calloc(d->model.dim, sizeof(double));
    return st->sum != NULL ? 0 : -ENOMEM;
}

/* The solvers start at the first idle worker, from the store's parameters (a checkpoint's,
 * when one was loaded after init), whole. */
static int start_solver(pd_daemon_t *d, solver_state_t *st)
{
    const pd_config_t *c = &d->cfg;
    size_t dim = d->model.dim;
    int rc = pd_whole_open(d, &st->current);

    if (rc != 0) {
        return rc;
    }
    const double *x0 = (const double *)st->current->data;
    if (st->newton) {
        pd_tron_opts_t o = {.tolerance = c->solver_tolerance, .cg_tolerance = c->cg_tolerance,
                            .radius = st->resume_radius, .gnorm0 = st->resume_gnorm0};
        rc = pd_tron_init(&st->tron, dim, &o, x0);
        st->need = rc == 0 ? pd_tron_begin(&st->tron) : PD_SOLVER_DONE;
    } else {
        pd_lbfgs_opts_t o = {.memory = (size_t)c->lbfgs_memory,
                             .tolerance = c->solver_tolerance, .gnorm0 = st->resume_gnorm0};
        rc = pd_lbfgs_init(&st->lbfgs, dim, &o, x0);
        st->need = rc == 0 ? pd_lbfgs_begin(&st->lbfgs) : PD_SOLVER_DONE;
    }
    if (rc == 0) {
        st->started = true;
        pd_log_info("%s: %" PRId64 " parts per pass over %zu samples, solver_tolerance %g%s",
                    name_of(st), c->solver_parts, d->train->m, c->solver_tolerance,
                    st->resume_gnorm0 > 0.0 ? " (resumed)" : "");
    }
    return rc;
}

/* The solver's accepted iterate becomes the store's next version (the stop criteria run). */
static int commit(pd_daemon_t *d, solver_state_t *st)
{
    bool *moved = st->newton ? &st->tron.moved : &st->lbfgs.moved;

    if (!*moved) {
        return 0;
    }
    *moved = false;
    return pd_whole_commit(d, st->newton ? st->tron.x : st->lbfgs.x, &st->current);
}

static void publish(pd_daemon_t *d, const solver_state_t *st)
{
    pd_metrics_t *m = &d->metrics;

    if (st->newton) {
        m->solver_objective = st->tron.f;
        m->solver_gradient_ratio = st->tron.gnorm0 > 0 ? st->tron.gnorm / st->tron.gnorm0 : 1.0;
        m->solver_radius = st->tron.radius;
        m->solver_cg_iterations_total = (double)st->tron.cg_iters;
        m->solver_steps_rejected_total = (double)st->tron.rejected;
    } else {
        m->solver_objective = st->lbfgs.f;
        m->solver_gradient_ratio =
            st->lbfgs.gnorm0 > 0 ? st->lbfgs.gnorm / st->lbfgs.gnorm0 : 1.0;
        m->solver_trial_points_total = (double)st->lbfgs.trials;
        m->solver_lbfgs_pairs = (double)st->lbfgs.count;
    }
}

/* What the solver asked for next: a new pass, or the end of the job. */
static int advance(pd_daemon_t *d, solver_state_t *st)
{
    size_t dim = d->model.dim;
    int rc = commit(d, st);

    if (rc != 0) {
        return rc;
    }
    publish(d, st);
    if (d->state != PD_STATE_RUNNING) {
        return 0; /* a [stop] criterion was met */
    }
    if (st->need == PD_SOLVER_DONE) {
        const char *why = st->newton ? st->tron.why : st->lbfgs.why;
        pd_log_info("%s: %s after %" PRIu64 " steps", name_of(st), why, d->store.version);
        pd_daemon_stop(d, why, 0);
        return 0;
    }
    const double *x = st->newton ? pd_tron_point(&st->tron) : pd_lbfgs_point(&st->lbfgs);
    /* the iterate's passes go as the store's version (workers cache it), trials whole */
    if ((rc = pd_whole_point(d, x, true, st->current, &st->point, &st->off_version)) != 0) {
        return rc;
    }
    if (st->need == PD_SOLVER_HVP) {
        pd_buf_unref(st->dir);
        st->dir = NULL;
        if ((rc = pd_buf_new(&st->dir, dim * sizeof(double))) != 0) {
            return rc;
        }
        memcpy(st->dir->data, pd_tron_direction(&st->tron), dim * sizeof(double));
    }
    st->pass_ms = pd_daemon_now_ms(d);
    return pd_parts_start(&st->parts, (uint32_t)d->cfg.solver_parts, d->train->m,
                          st->need == PD_SOLVER_LOSS ? 0 : dim);
}

static void fail(pd_daemon_t *d, const solver_state_t *st, int rc)
{
    pd_log_err("%s: %s", name_of(st), pd_strerror(rc));
    pd_daemon_stop(d, "the solver failed (see the log)", 1);
}

static void send_part(pd_daemon_t *d, solver_state_t *st, pd_session_t *s)
{
    int64_t i = pd_parts_take(&st->parts);
    pd_task_t t = {0};

    if (i < 0) {
        return; /* every part is out: s waits for the pass to complete */
    }
    t.id = ++d->next_task_id;
    t.kind = st->need == PD_SOLVER_GRAD ? PD_TASK_GRAD
             : st->need == PD_SOLVER_LOSS ? PD_TASK_LOSS
                                          : PD_TASK_HVP;
    t.round = st->parts.round;
    t.part = (uint32_t)i;
    t.version = d->store.version;
    t.off_version = st->off_version;
    pd_parts_range(&st->parts, (uint32_t)i, &t.range_begin, &t.range_end);
    if (pd_sched_send_task(d, s, &t, st->point, t.kind == PD_TASK_HVP ? st->dir : NULL) != 0) {
        pd_parts_untake(&st->parts, (uint32_t)i); /* s stays idle, the part pending */
    }
}

static void solver_on_idle(pd_daemon_t *d, pd_session_t *s)
{
    solver_state_t *st = d->method_state;
    int rc;

    if (!st->started) {
        rc = start_solver(d, st);
        if (rc == 0) {
            rc = advance(d, st);
        }
        if (rc != 0) {
            fail(d, st, rc);
            return;
        }
        if (d->state != PD_STATE_RUNNING) {
            return;
        }
        pd_sched_kick(d); /* the first pass to every idle worker, s among them */
        return;
    }
    send_part(d, st, s);
}

/* Every part of the pass is in: the objective's value (and gradient or product) to the
 * solver. */
static pd_solver_need_t finish_pass(pd_daemon_t *d, solver_state_t *st)
{
    size_t dim = d->model.dim;
    const double *x = pd_whole_values(st->point, st->off_version, st->current);
    uint64_t n;
    double loss;

    pd_parts_sum(&st->parts, st->parts.dim > 0 ? st->sum : NULL, &n, &loss);
    d->metrics.solver_pass_seconds_total += (double)(pd_daemon_now_ms(d) - st->pass_ms) / 1000.0;
    switch (st->need) {
    case PD_SOLVER_GRAD: {
        double f = pd_apts_objective(st->l2, d->mask, x, dim, loss, n, st->sum);
        return st->newton ? pd_tron_on_grad(&st->tron, f, st->sum)
                          : pd_lbfgs_on_grad(&st->lbfgs, f, st->sum);
    }
    case PD_SOLVER_LOSS: {
        double f = pd_apts_objective(st->l2, d->mask, x, dim, loss, n, NULL);
        return st->newton ? pd_tron_on_loss(&st->tron, f) : pd_lbfgs_on_loss(&st->lbfgs, f);
    }
    default: {
        /* ∇²F q = (Σ_j ∇²f_j q)/m + l2·mask⊙q */
        const double *q = (const double *)st->dir->data;
        for (size_t i = 0; i < dim; i++) {
            st->sum[i] = st->sum[i] / (double)n + st->l2 * d->mask[i] * q[i];
        }
        d->metrics.solver_hvp_products_total++;
        return pd_tron_on_hvp(&st->tron, st->sum);
    }
    }
}

static void solver_on_result(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t,
                             const pd_msg_t *m, const double *vec)
{
    solver_state_t *st = d->method_state;
    int rc;

    if (!st->started || st->need == PD_SOLVER_DONE ||
        !pd_parts_accept(&st->parts, t, st->parts.dim > 0 ? vec : NULL, m->n_samples,
                         m->loss_sum)) {
        d->metrics.results_discarded_total++;
        return;
    }
    s->grads_applied++;
    if (!pd_parts_complete(&st->parts)) {
        return;
    }
    st->need = finish_pass(d, st);
    rc = advance(d, st);
    if (rc != 0) {
        fail(d, st, rc);
        return;
    }
    pd_sched_kick(d);
}

static void solver_on_leave(pd_daemon_t *d, pd_session_t *s, const pd_task_t *t)
{
    solver_state_t *st = d->method_state;

    if (t != NULL && st->started && pd_parts_give_back(&st->parts, t)) {
        d->metrics.tasks_rescheduled_total++;
        pd_log_info("%s: part %" PRIu32 " of worker %" PRIu32 " given to another (the worker "
                    "left)", name_of(st), t->part, s->id);
        pd_sched_kick(d);
    }
}

/* Checkpointed state: newton-cg's radius and the first gradient norm (the tolerance's
 * reference), as two words of double bits. A resumed run starts again at the store's
 * parameters with that radius; lbfgs rebuilds its pairs, which are not kept. */
static int solver_save(pd_daemon_t *d, uint8_t **out, size_t *len)
{
    const solver_state_t *st = d->method_state;
    double v[2] = {st->newton ? st->tron.radius : 0.0,
                   st->newton ? st->tron.gnorm0 : st->lbfgs.gnorm0};
    uint64_t words[2];

    if (!st->started) {
        v[0] = st->resume_radius;
        v[1] = st->resume_gnorm0;
    }
    memcpy(words, v, sizeof(words));
    return pd_method_save_words(words, 2, out, len);
}

static int solver_load(pd_daemon_t *d, const uint8_t *buf, size_t len)
{
    solver_state_t *st = d->method_state;
    uint64_t words[2];
    double v[2];
    int rc = pd_method_load_words(buf, len, words, 2);

    if (rc != 0) {
        return rc;
    }
    memcpy(v, words, sizeof(v));
    if (!(v[0] >= 0.0) || !(v[1] >= 0.0) || !isfinite(v[0]) || !isfinite(v[1])) {
        return PD_ECORRUPT;
    }
    st->resume_radius = v[0];
    st->resume_gnorm0 = v[1];
    return 0;
}

const pd_method_ops_t pd_method_newton_cg = {
    .name = "newton-cg",
    .init = solver_init,
    .release = solver_release,
    .on_idle = solver_on_idle,
    .on_result = solver_on_result,
    .on_leave = solver_on_leave,
    .save = solver_save,
    .load = solver_load,
};

/* The same driver: solver_init reads the method. */
const pd_method_ops_t pd_method_lbfgs = {
    .name = "lbfgs",
    .init = solver_init,
    .release = solver_release,
    .on_idle = solver_on_idle,
    .on_result = solver_on_result,
    .on_leave = solver_on_leave,
    .save = solver_save,
    .load = solver_load,
};
