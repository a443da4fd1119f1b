/* apts_local.c - APTS local subdomain solve and the block view (ALGORITHMS.md §4.2); see
 * apts_local.h. Owns only the scratch it allocates per call. */
#include <config.h>
#include "apts_local.h"

#include <cblas.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The second-order local trial step: the L-SR1 model of B_d in the 2-norm ball. */
static int lsr1_step(void *ctx, const double *g, size_t n, double radius, double *s,
                     double *pred)
{
    (void)n; /* the memory has the block's length (checked by pd_apts_local_solve) */
    return pd_lsr1_tr_solve(ctx, g, radius, s, pred);
}

int pd_apts_local_solve(const pd_tr_objective_t *obj, const double *theta0, const double *g_global,
                        double radius, int s_loc, const pd_tr_params_t *p, const pd_lsr1_t *bd,
                        double *s_d, pd_apts_local_result_t *res, double *c_norm)
{
    size_t n = obj->n;
    int rc = 0;
    double *buf = NULL;
    if (!(radius > 0.0) || s_loc < 1 || (bd != NULL && bd->n != n)) {
        return -EINVAL;
    }
    buf = malloc(6 * (n ? n : 1) * sizeof *buf);
    if (buf == NULL) {
        return -ENOMEM;
    }
    double *z = buf, *g = buf + n, *gt = buf + 2 * n, *c = buf + 3 * n, *scratch = buf + 4 * n;
    *res = (pd_apts_local_result_t){.radius_acc = radius};
    pd_tr_params_t lp = *p;
    /* the budget rule below sets the radius of every step; the TR's own growth must not pass Δ_k */
    lp.radius_max = radius;
    lp.radius_min = fmin(lp.radius_min, radius);

    memcpy(z, theta0, n * sizeof *z);
    double f;
    rc = obj->eval(obj->ctx, z, &f, g);
    res->cnt.grad_evals++;
    if (rc < 0) {
        goto out;
    }
    const double *cp = NULL;
    if (g_global != NULL) {
        /* c = R_d∇f(θ_k) − ∇f_d(R_dθ_k): zero when both gradients use the same samples */
        memcpy(c, g_global, n * sizeof *c);
        cblas_daxpy((int)n, -1.0, g, 1, c, 1);
        cp = c;
    }
    if (c_norm != NULL) {
        *c_norm = cp != NULL ? pd_tr_norm(PD_TR_NORM_INF, c, n) : 0.0;
    }
    double delta = radius;
    for (int t = 0; t < s_loc; t++) {
        memcpy(gt, g, n * sizeof *gt);
        if (cp != NULL) {
            cblas_daxpy((int)n, 1.0, cp, 1, gt, 1);
        }
        pd_tr_outcome_t o;
        rc = pd_tr_iterate_with(obj, &lp, delta, z, &f, gt, cp, scratch, &o, &res->cnt,
                                bd != NULL ? lsr1_step : NULL, (void *)bd);
        if (rc < 0) {
            goto out;
        }
        if (!o.accepted) {
            /* z did not move, so a further step would repeat the same rejected trials */
            if (!res->any_accepted) {
                res->radius_acc = o.radius_used;
            }
            break;
        }
        if (!res->any_accepted) {
            res->radius_acc = o.radius_used;
            res->any_accepted = true;
        }
        res->pred += o.pred;
        for (size_t i = 0; i < n; i++) {
            s_d[i] = z[i] - theta0[i];
        }
        delta = radius - pd_tr_norm(PD_TR_NORM_INF, s_d, n);
        if (delta < DBL_EPSILON || t + 1 == s_loc) {
            break;
        }
        rc = obj->eval(obj->ctx, z, &f, g);
        res->cnt.grad_evals++;
        if (rc < 0) {
            goto out;
        }
    }
    /* The budget rule keeps ‖s_d‖_∞ ≤ Δ_k in exact arithmetic; the sum of the local steps
     * may pass it by an ulp, so the bound the server relies on is enforced here. */
    for (size_t i = 0; i < n; i++) {
        s_d[i] = fmin(fmax(z[i] - theta0[i], -radius), radius);
    }
    res->loss = f;
out:
    free(buf);
    return rc;
}

static int block_eval(void *ctx, const double *zd, double *f, double *gd)
{
    pd_apts_block_view_t *v = ctx;
    memcpy(v->z + v->offset, zd, v->len * sizeof *zd);
    int rc = v->full->eval(v->full->ctx, v->z, f, gd != NULL ? v->g : NULL);
    if (rc == 0 && gd != NULL) {
        memcpy(gd, v->g + v->offset, v->len * sizeof *gd);
    }
    return rc;
}

int pd_apts_block_view_init(pd_apts_block_view_t *v, const pd_tr_objective_t *full,
                            const double *theta, size_t offset, size_t len,
                            pd_tr_objective_t *obj)
{
    size_t n = full->n;
    if (offset > n || len > n - offset) {
        return -EINVAL;
    }
    double *z = malloc(2 * (n ? n : 1) * sizeof *z);
    if (z == NULL) {
        return -ENOMEM;
    }
    memcpy(z, theta, n * sizeof *z);
    *v = (pd_apts_block_view_t){.full = full, .offset = offset, .len = len, .z = z, .g = z + n};
    *obj = (pd_tr_objective_t){.eval = block_eval, .ctx = v, .n = len};
    return 0;
}

void pd_apts_block_view_free(pd_apts_block_view_t *v)
{
    if (v != NULL) {
        free(v->z);
        v->z = v->g = NULL;
    }
}
