/* optim.c - see optim.h. */
#include <config.h>
#include "optim.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "error.h"
#include "wire.h"

int pd_optim_init(pd_optim_t *o, size_t dim)
{
    o->dim = dim;
    o->t = 0;
    o->u = calloc(dim > 0 ? dim : 1, sizeof(double));
    o->v = calloc(dim > 0 ? dim : 1, sizeof(double));
    o->undo = calloc(dim > 0 ? 3 * dim : 1, sizeof(double));
    if (o->u == NULL || o->v == NULL || o->undo == NULL) {
        pd_optim_release(o);
        return -ENOMEM;
    }
    return 0;
}

void pd_optim_release(pd_optim_t *o)
{
    free(o->u);
    free(o->v);
    free(o->undo);
    o->u = NULL;
    o->v = NULL;
    o->undo = NULL;
}

double pd_optim_lr(const pd_optim_t *o)
{
    double k = (double)o->t;

    switch (o->schedule) {
    case PD_SCHED_INVSQRT:
        return o->lr / sqrt(1.0 + k / (double)o->decay_steps);
    case PD_SCHED_STEP:
        return o->lr * pow(o->decay_rate, floor(k / (double)o->decay_steps));
    default:
        return o->lr;
    }
}

/* One step of the optimiser on n coordinates (x, u, v, g and mask aligned; mask may be NULL),
 * t already counted, then the prox. */
static void step(const pd_optim_t *o, double *xs, double *u, double *v, const double *g,
                 const double *mask, size_t n, double lr)
{
    switch (o->kind) {
    case PD_OPT_MOMENTUM:
        /* heavy ball: u <- beta u + g; x <- x - lr u */
        for (size_t i = 0; i < n; i++) {
            u[i] = o->momentum * u[i] + g[i];
            xs[i] -= lr * u[i];
        }
        break;
    case PD_OPT_ADAM: {
        double c1 = 1.0 - pow(o->beta1, (double)o->t);
        double c2 = 1.0 - pow(o->beta2, (double)o->t);
        for (size_t i = 0; i < n; i++) {
            u[i] = o->beta1 * u[i] + (1.0 - o->beta1) * g[i];
            v[i] = o->beta2 * v[i] + (1.0 - o->beta2) * g[i] * g[i];
            xs[i] -= lr * (u[i] / c1) / (sqrt(v[i] / c2) + o->epsilon);
        }
        break;
    }
    default:
        /* The hot path of every push: BLAS vectorises it, a plain loop over possibly
         * aliased pointers does not. */
        cblas_daxpy((blasint)n, -lr, g, 1, xs, 1);
        break;
    }
    if (o->reg.kind != PD_REG_NONE) {
        pd_prox_apply(&o->reg, xs, xs, lr, mask, n);
    }
}

void pd_optim_apply(pd_optim_t *o, double *x, size_t offset, size_t len, const double *g,
                    double lr)
{
    o->t++;
    step(o, x + offset, o->u + offset, o->v + offset, g, o->mask != NULL ? o->mask + offset : NULL,
         len, lr);
}

/* The state a step changes in a range: x always, u with momentum and Adam, v with Adam.
 * save = true copies x[at .. at+n) (and u, v) into o->undo from position at - from, false
 * copies undo[0 .. n) back to [at, at+n). */
static void undo_copy(pd_optim_t *o, double *x, size_t from, size_t at, size_t n, bool save)
{
    double *live[3] = {x + at, o->u + at, o->v + at};
    size_t arrays = o->kind == PD_OPT_ADAM ? 3 : o->kind == PD_OPT_MOMENTUM ? 2 : 1;

    for (size_t k = 0; k < arrays; k++) {
        double *kept = o->undo + k * o->dim + (at - from);
        if (save) {
            memcpy(kept, live[k], n * sizeof(double));
        } else {
            memcpy(live[k], kept, n * sizeof(double));
        }
    }
}

/* Coordinates per pass of the guarded step: the range is saved, stepped and checked a chunk
 * at a time, so the step and the check read what the save just brought into the cache (one
 * trip through memory instead of three). 32 KiB of x: within L1 or L2 everywhere. */
#define GUARD_CHUNK 4096

/* A predicted value is "surely finite" below 2^1023 in magnitude: the prediction and the step
 * may round differently (cblas_daxpy fuses the multiply-add, the prediction does not), but by
 * far less than the headroom up to DBL_MAX. The test is on the exponent field: (bits & EXP) +
 * 2^53 carries into bit 63 exactly when the exponent is 0x7fe (2^1023 .. DBL_MAX) or 0x7ff (Inf,
 * NaN), so OR-ing it over many values and testing bit 63 once needs no branch. */
#define EXP_BITS UINT64_C(0x7ff0000000000000)
#define BIG_CARRY (UINT64_C(1) << 53)

static bool surely_finite(double y)
{
    uint64_t b;
    memcpy(&b, &y, sizeof(b));
    return (((b & EXP_BITS) + BIG_CARRY) >> 63) == 0;
}

#if defined(__GNUC__)
/* Perf: the scalar loop does not vectorise at -O2; two lanes at a time it streams x and g at
 * close to memory speed (same idea as pd_wire_all_finite). */
typedef double f64x2_t __attribute__((vector_size(16)));
typedef uint64_t u64x2_t __attribute__((vector_size(16)));

static u64x2_t big_carry(f64x2_t y)
{
    u64x2_t b;
    memcpy(&b, &y, sizeof(b));
    return (b & EXP_BITS) + BIG_CARRY;
}

static f64x2_t load2(const double *p)
{
    f64x2_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}
#endif

/* Predict the sgd or heavy-ball step on [0, n) without writing anything: true when every
 * parameter (and momentum value) it would produce is surely finite. One read-only pass over
 * x, g (and u). The prox cannot turn a finite value into NaN or Inf, so it is not predicted.
 * Adam is not predicted (its division and square root would cost as much as the step): the
 * caller saves and checks instead. */
static bool step_surely_finite(const pd_optim_t *o, const double *x, const double *u,
                               const double *g, size_t n, double lr)
{
    bool momentum = o->kind == PD_OPT_MOMENTUM;
    double beta = o->momentum;
    size_t i = 0;

#if defined(__GNUC__)
    f64x2_t lr2 = {lr, lr}, beta2 = {beta, beta};
    u64x2_t acc = {0, 0};
    if (momentum) {
        for (; i + 2 <= n; i += 2) {
            f64x2_t un = beta2 * load2(u + i) + load2(g + i);
            acc |= big_carry(un) | big_carry(load2(x + i) - lr2 * un);
        }
    } else {
        for (; i + 4 <= n; i += 4) {
            acc |= big_carry(load2(x + i) - lr2 * load2(g + i)) |
                   big_carry(load2(x + i + 2) - lr2 * load2(g + i + 2));
        }
    }
    if (((acc[0] | acc[1]) >> 63) != 0) {
        return false;
    }
#endif
    for (; i < n; i++) {
        double step = momentum ? beta * u[i] + g[i] : g[i];
        if (!surely_finite(step) || !surely_finite(x[i] - lr * step)) {
            return false;
        }
    }
    return true;
}

/* The step with a copy instead of a prediction: each chunk is saved, stepped and checked, and
 * the first non-finite value puts every chunk back. Exact for every optimiser, including the
 * rare steps the prediction cannot vouch for. */
static int apply_saved(pd_optim_t *o, double *x, size_t offset, size_t len, const double *g,
                       double lr)
{
    for (size_t done = 0; done < len;) {
        size_t n = len - done < GUARD_CHUNK ? len - done : GUARD_CHUNK, at = offset + done;
        undo_copy(o, x, offset, at, n, true);
        step(o, x + at, o->u + at, o->v + at, g + done, o->mask != NULL ? o->mask + at : NULL,
             n, lr);
        done += n;
        if (!pd_wire_all_finite(x + at, n)) {
            undo_copy(o, x, offset, offset, done, false);
            return PD_ENONFINITE;
        }
    }
    return 0;
}

int pd_optim_apply_finite(pd_optim_t *o, double *x, size_t offset, size_t len, const double *g,
                          double lr)
{
    int rc;

    o->t++;
    /* sgd and momentum: one read-only pass predicts the step, and a surely finite one is
     * taken in place, with no copy (the copy was an extra trip through memory for x, u and v
     * and kept a second vector resident). */
    if (o->kind != PD_OPT_ADAM && step_surely_finite(o, x + offset, o->u + offset, g, len, lr)) {
        step(o, x + offset, o->u + offset, o->v + offset, g,
             o->mask != NULL ? o->mask + offset : NULL, len, lr);
        return 0;
    }
    rc = apply_saved(o, x, offset, len, g, lr);
    if (rc != 0) {
        o->t--;
    }
    return rc;
}
