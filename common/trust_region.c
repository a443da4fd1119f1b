/* trust_region.c - TR step, radius rule and one synchronous TR iteration (ALGORITHMS.md §4.2).
 * Owns no state; every buffer comes from the caller. */
#include <config.h>
#include "trust_region.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void pd_tr_params_default(pd_tr_params_t *p)
{
    p->radius_min = 1e-3;
    p->radius_max = 4.0;
    p->eta1 = 0.25;
    p->eta2 = 0.75;
    p->shrink = 0.5;
    p->grow = 2.0;
    p->max_retries = 10;
    p->norm = PD_TR_NORM_INF;
}

double pd_tr_norm(pd_tr_norm_t norm, const double *v, size_t n)
{
    if (n == 0) {
        return 0.0;
    }
    if (norm == PD_TR_NORM_2) {
        return cblas_dnrm2((int)n, v, 1);
    }
    return fabs(v[cblas_idamax((int)n, v, 1)]);
}

void pd_tr_step(pd_tr_norm_t norm, const double *g, size_t n, double radius, double *s,
                double *pred)
{
    double gp = pd_tr_norm(norm, g, n);
    memset(s, 0, n * sizeof *s);
    if (gp == 0.0) {
        *pred = 0.0;
        return;
    }
    cblas_daxpy((int)n, -radius / gp, g, 1, s, 1);
    /* the exact linear model −gᵀs, not the reference code's Δ‖g‖_p (differs for p = ∞) */
    *pred = -cblas_ddot((int)n, g, 1, s, 1);
}

bool pd_tr_decide(const pd_tr_params_t *p, double ared, double pred, double radius,
                  double *radius_out, double *rho_out)
{
    double rho = pred > 0.0 ? ared / pred : 0.0;
    bool accept = pred > 0.0 && ared > 0.0 && rho >= p->eta1;
    double r = radius;
    if (!accept) {
        r = radius * p->shrink;
    } else if (rho > p->eta2) {
        r = radius * p->grow;
    }
    *radius_out = fmin(fmax(r, p->radius_min), p->radius_max);
    if (rho_out != NULL) {
        *rho_out = rho;
    }
    return accept;
}

int pd_tr_iterate(const pd_tr_objective_t *obj, const pd_tr_params_t *p, double radius,
                  double *z, double *f, const double *g, const double *c, double *scratch,
                  pd_tr_outcome_t *out, pd_tr_counters_t *cnt)
{
    return pd_tr_iterate_with(obj, p, radius, z, f, g, c, scratch, out, cnt, NULL, NULL);
}

int pd_tr_iterate_with(const pd_tr_objective_t *obj, const pd_tr_params_t *p, double radius,
                       double *z, double *f, const double *g, const double *c, double *scratch,
                       pd_tr_outcome_t *out, pd_tr_counters_t *cnt, pd_tr_step_fn step,
                       void *step_ctx)
{
    size_t n = obj->n;
    double *s = scratch, *trial = scratch + n;
    int rc = 0;
    *out = (pd_tr_outcome_t){.accepted = false, .radius_used = radius, .radius_next = radius};
    for (int attempt = 0; attempt <= p->max_retries; attempt++) {
        double pred, ftrial;
        if (step != NULL) {
            rc = step(step_ctx, g, n, radius, s, &pred);
            if (rc < 0) {
                goto out;
            }
        } else {
            pd_tr_step(p->norm, g, n, radius, s, &pred);
        }
        if (pred <= 0.0) {
            /* stationary for the model: no trial would be accepted, so do not spend evaluations */
            break;
        }
        if (attempt > 0) {
            cnt->retries++;
        }
        memcpy(trial, z, n * sizeof *trial);
        cblas_daxpy((int)n, 1.0, s, 1, trial, 1);
        rc = obj->eval(obj->ctx, trial, &ftrial, NULL);
        cnt->loss_evals++;
        if (rc < 0) {
            goto out;
        }
        double ared = *f - ftrial;
        if (c != NULL) {
            ared -= cblas_ddot((int)n, c, 1, s, 1);
        }
        out->radius_used = radius;
        bool ok = pd_tr_decide(p, ared, pred, radius, &out->radius_next, &out->rho);
        if (ok) {
            cnt->accepted++;
            memcpy(z, trial, n * sizeof *z);
            *f = ftrial;
            out->accepted = true;
            out->pred = pred;
            break;
        }
        cnt->rejected++;
        radius = out->radius_next;
    }
out:
    return rc;
}
