/* apts_core.c - see apts_core.h. No I/O, no daemon state. */
#include <config.h>
#include "apts_core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    PH_GRAD_K = 0,    /* waiting for f(θ_k), ∇f(θ_k) */
    PH_LOCAL,         /* waiting for the local solves */
    PH_LOSS_HALF,     /* waiting for f(θ½) (safeguard, or no global pass) */
    PH_SAFEGUARD,     /* waiting for f at a back-tracked θ½ */
    PH_GRAD_HALF,     /* waiting for f(θ½), ∇f(θ½) (global pass) */
    PH_GLOBAL_TRIAL,  /* waiting for f at a global trial point */
    PH_DONE,
};

int pd_apts_init(pd_apts_t *a, const pd_apts_opts_t *o, size_t n, size_t n_blocks,
                 const size_t *offset, const size_t *len, const double *theta0)
{
    memset(a, 0, sizeof(*a));
    if (n == 0 || n_blocks == 0 || !(o->radius0 > 0.0) ||
        (o->second_order && (!o->global_pass || o->memory > PD_LSR1_MEM_MAX))) {
        return -EINVAL;
    }
    for (size_t d = 0; d < n_blocks; d++) {
        if (offset[d] > n || len[d] > n - offset[d]) {
            return -EINVAL;
        }
    }
    a->o = *o;
    a->n = n;
    a->n_blocks = n_blocks;
    a->offset = calloc(2 * n_blocks, sizeof(size_t));
    a->theta = calloc((o->second_order ? 9 : 7) * n, sizeof(double));
    a->received = calloc(n_blocks, 1);
    a->reports = calloc(n_blocks, sizeof(*a->reports));
    a->block_step_inf = calloc(n_blocks, sizeof(double));
    if (a->offset == NULL || a->theta == NULL || a->received == NULL || a->reports == NULL ||
        a->block_step_inf == NULL) {
        pd_apts_free(a);
        return -ENOMEM;
    }
    a->len = a->offset + n_blocks;
    memcpy(a->offset, offset, n_blocks * sizeof(size_t));
    memcpy(a->len, len, n_blocks * sizeof(size_t));
    a->g = a->theta + n;
    a->half = a->theta + 2 * n;
    a->step = a->theta + 3 * n;
    a->g_half = a->theta + 4 * n;
    a->trial = a->theta + 5 * n;
    a->s_tr = a->theta + 6 * n;
    if (o->second_order) {
        a->pair_s = a->theta + 7 * n;
        a->pair_y = a->theta + 8 * n;
        int rc = pd_lsr1_init(&a->mem, n, o->memory);
        if (rc != 0) {
            pd_apts_free(a);
            return rc;
        }
    }
    memcpy(a->theta, theta0, n * sizeof(double));
    a->radius = fmin(fmax(o->radius0, o->tr.radius_min), o->tr.radius_max);
    a->phase = PH_DONE;
    a->need = PD_APTS_DONE;
    return 0;
}

void pd_apts_free(pd_apts_t *a)
{
    free(a->offset);
    free(a->theta);
    free(a->received);
    free(a->reports);
    free(a->block_step_inf);
    pd_lsr1_free(&a->mem);
    memset(a, 0, sizeof(*a));
}

static pd_apts_need_t ask(pd_apts_t *a, int phase, const double *point, pd_apts_need_t need)
{
    a->phase = phase;
    a->point = point;
    a->need = need;
    return need;
}

pd_apts_need_t pd_apts_begin(pd_apts_t *a)
{
    memset(&a->st, 0, sizeof(a->st));
    a->st.radius = a->radius;
    return ask(a, PH_GRAD_K, a->theta, PD_APTS_NEED_GRAD);
}

const double *pd_apts_point(const pd_apts_t *a)
{
    return a->point;
}

static pd_apts_need_t finish(pd_apts_t *a, const double *x, double f, double radius)
{
    if (x != a->theta) {
        memcpy(a->theta, x, a->n * sizeof(double));
    }
    a->st.f_next = f;
    a->radius = radius;
    a->phase = PH_DONE;
    a->need = PD_APTS_DONE;
    return PD_APTS_DONE;
}


/* One trial of the global TR step from θ½ with radius a->trial_radius. */
static pd_apts_need_t global_trial(pd_apts_t *a)
{
    if (a->o.second_order) {
        /* cannot fail: the memory, g½ and s_tr exist and the radius is ≥ Δ_min > 0 or the
         * halving of a positive radius; a failure would leave pred = 0 and stop below */
        if (pd_lsr1_tr_solve(&a->mem, a->g_half, a->trial_radius, a->s_tr,
                             &a->trial_pred) != 0) {
            a->trial_pred = 0.0;
        }
    } else {
        pd_tr_step(a->o.tr.norm, a->g_half, a->n, a->trial_radius, a->s_tr, &a->trial_pred);
    }
    if (!(a->trial_pred > 0.0)) {
        /* θ½ is stationary for the model: no trial can be accepted */
        return finish(a, a->half, a->st.f_half, a->trial_radius);
    }
    for (size_t i = 0; i < a->n; i++) {
        a->trial[i] = a->half[i] + a->s_tr[i];
    }
    return ask(a, PH_GLOBAL_TRIAL, a->trial, PD_APTS_NEED_LOSS);
}

/* Second order: the pair (θ½ − θ_k, ∇f(θ½) − ∇f(θ_k)) of this iteration (see apts_core.h). */
static void offer_pair(pd_apts_t *a)
{
    if (!a->o.second_order) {
        return;
    }
    for (size_t i = 0; i < a->n; i++) {
        a->pair_s[i] = a->half[i] - a->theta[i];
        a->pair_y[i] = a->g_half[i] - a->g[i];
    }
    a->st.pair_offered = true;
    /* -EINVAL only for a non-finite entry: such a pair is not stored either */
    a->st.pair_stored = pd_lsr1_update(&a->mem, a->pair_s, a->pair_y) == 0;
}

static pd_apts_need_t start_global(pd_apts_t *a)
{
    offer_pair(a);
    a->trial_radius = a->radius;
    a->trials = 0;
    return global_trial(a);
}

/* Without the global pass: the combined-ρ rule on Δ' = min_d δ_d^acc (§4.2). */
static pd_apts_need_t combined_rule(pd_apts_t *a)
{
    double r = a->radius, next, rho = 0.0;
    bool any = false, ok;

    for (size_t d = 0; d < a->n_blocks; d++) {
        if (a->received[d] && (!any || a->reports[d].radius_acc < r)) {
            r = a->reports[d].radius_acc;
            any = true;
        }
    }
    ok = pd_tr_decide(&a->o.tr, a->st.f_k - a->st.f_half, a->st.pred_sum, r, &next, &rho);
    a->st.rho = rho;
    a->st.accepted = ok;
    return ok ? finish(a, a->half, a->st.f_half, next) : finish(a, a->theta, a->st.f_k, next);
}

/* θ½ and f(θ½) are settled: the global pass or the combined rule. */
static pd_apts_need_t after_half(pd_apts_t *a)
{
    if (!a->o.global_pass) {
        return combined_rule(a);
    }
    if (a->st.safeguard_failed) {
        /* θ½ = θ_k: the gradient there is known */
        memcpy(a->g_half, a->g, a->n * sizeof(double));
        return start_global(a);
    }
    return ask(a, PH_GRAD_HALF, a->half, PD_APTS_NEED_GRAD);
}

/* The next back-tracked θ½ = θ_k + s' (§4.2 safeguard), or give up after the last trial. */
static pd_apts_need_t safeguard_trial(pd_apts_t *a)
{
    double s_inf = pd_tr_norm(PD_TR_NORM_INF, a->step, a->n);
    double g_inf = pd_tr_norm(PD_TR_NORM_INF, a->g, a->n);
    double scale = g_inf > 0.0 ? s_inf / g_inf : 0.0, sp_inf;

    if (a->st.safeguard_backoffs >= PD_APTS_SAFEGUARD_TRIALS) {
        a->st.safeguard_failed = true;
        memcpy(a->half, a->theta, a->n * sizeof(double));
        a->st.f_half = a->st.f_k;
        return after_half(a);
    }
    a->st.safeguard_backoffs++;
    a->sg_r /= 2.0;
    a->sg_w = fmin(a->sg_w + 0.2, 1.0);
    for (size_t i = 0; i < a->n; i++) {
        a->s_tr[i] = (1.0 - a->sg_w) * a->step[i] - a->sg_w * scale * a->g[i];
    }
    sp_inf = pd_tr_norm(PD_TR_NORM_INF, a->s_tr, a->n);
    for (size_t i = 0; i < a->n; i++) {
        a->trial[i] = a->theta[i] + (sp_inf > 0.0 ? a->sg_r * a->s_tr[i] / sp_inf : 0.0);
    }
    return ask(a, PH_SAFEGUARD, a->trial, PD_APTS_NEED_LOSS);
}

/* f(θ½) known (from a LOSS or the global pass's GRAD): does the safeguard step in? */
static pd_apts_need_t check_half(pd_apts_t *a)
{
    if (a->o.safeguard && !(a->st.f_half <= a->st.f_k)) {
        a->sg_r = a->radius;
        a->sg_w = 0.0;
        return safeguard_trial(a);
    }
    return after_half(a);
}

pd_apts_need_t pd_apts_on_grad(pd_apts_t *a, double f, const double *g)
{
    switch (a->phase) {
    case PH_GRAD_K:
        a->st.evals_grad++;
        a->st.f_k = f;
        memcpy(a->g, g, a->n * sizeof(double));
        memset(a->received, 0, a->n_blocks);
        memset(a->step, 0, a->n * sizeof(double));
        memset(a->block_step_inf, 0, a->n_blocks * sizeof(double));
        return ask(a, PH_LOCAL, a->theta, PD_APTS_NEED_LOCAL);
    case PH_GRAD_HALF:
        a->st.evals_grad++;
        a->st.f_half = f;
        memcpy(a->g_half, g, a->n * sizeof(double));
        return start_global(a);
    default:
        return a->need; /* not what is being waited for: ignored */
    }
}

pd_apts_need_t pd_apts_on_loss(pd_apts_t *a, double f)
{
    double next, rho;
    bool ok;

    switch (a->phase) {
    case PH_LOSS_HALF:
        a->st.evals_loss++;
        a->st.f_half = f;
        return check_half(a);
    case PH_SAFEGUARD:
        a->st.evals_loss++;
        if (f < a->st.f_k) {
            memcpy(a->half, a->trial, a->n * sizeof(double));
            a->st.f_half = f;
            a->st.step_inf = pd_tr_norm(PD_TR_NORM_INF, a->s_tr, a->n) > 0.0 ? a->sg_r : 0.0;
            return after_half(a);
        }
        return safeguard_trial(a);
    case PH_GLOBAL_TRIAL:
        a->st.evals_loss++;
        if (!isfinite(f)) {
            f = INFINITY; /* no decrease */
        }
        ok = pd_tr_decide(&a->o.tr, a->st.f_half - f, a->trial_pred, a->trial_radius,
                               &next, &rho);
        a->st.rho = rho;
        if (ok) {
            a->st.accepted = true;
            return finish(a, a->trial, f, next);
        }
        if (++a->trials > (uint32_t)a->o.tr.max_retries) {
            /* every trial rejected: θ_{k+1} = θ½ (the spec's revert, §4.2 [D]) */
            return finish(a, a->half, a->st.f_half, next);
        }
        a->st.retries++;
        a->trial_radius = next;
        return global_trial(a);
    default:
        return a->need; /* not what is being waited for: ignored */
    }
}

bool pd_apts_on_local(pd_apts_t *a, size_t d, const double *s_d,
                      const pd_apts_block_report_t *rep)
{
    double norm;
    size_t len;

    if (a->phase != PH_LOCAL || d >= a->n_blocks || a->received[d] || !isfinite(rep->pred) ||
        !isfinite(rep->radius_acc)) {
        return false;
    }
    len = a->len[d];
    norm = pd_tr_norm(PD_TR_NORM_INF, s_d, len);
    if (!isfinite(norm)) {
        return false;
    }
    double *out = a->step + a->offset[d];
    /* The local budget rule keeps ‖s_d‖_∞ ≤ Δ_k; a longer step (rounding, a faulty worker) is
     * scaled back so the combined step stays in the trust region (oracle 2). */
    double scale = norm > a->radius ? a->radius / norm : 1.0;
    for (size_t i = 0; i < len; i++) {
        out[i] = scale * s_d[i];
    }
    a->received[d] = 1;
    a->reports[d] = *rep;
    a->block_step_inf[d] = fmin(norm, a->radius);
    return true;
}

pd_apts_need_t pd_apts_locals_done(pd_apts_t *a)
{
    if (a->phase != PH_LOCAL) {
        return a->need;
    }
    for (size_t d = 0; d < a->n_blocks; d++) {
        if (!a->received[d]) {
            memset(a->step + a->offset[d], 0, a->len[d] * sizeof(double));
            a->st.missing_blocks++;
        } else {
            a->st.pred_sum += a->reports[d].pred;
        }
    }
    /* Coordinates in no block (none with the tensor split, but the core does not assume it)
     * do not move. */
    for (size_t i = 0; i < a->n; i++) {
        a->half[i] = a->theta[i];
    }
    for (size_t d = 0; d < a->n_blocks; d++) {
        for (size_t i = a->offset[d]; i < a->offset[d] + a->len[d]; i++) {
            a->half[i] += a->step[i];
        }
    }
    a->st.step_inf = 0.0;
    for (size_t d = 0; d < a->n_blocks; d++) {
        a->st.step_inf = fmax(a->st.step_inf, a->block_step_inf[d]);
    }
    if (a->o.safeguard || !a->o.global_pass) {
        return ask(a, PH_LOSS_HALF, a->half, PD_APTS_NEED_LOSS);
    }
    return ask(a, PH_GRAD_HALF, a->half, PD_APTS_NEED_GRAD);
}
