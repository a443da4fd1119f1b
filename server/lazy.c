/* lazy.c - see lazy.h. */
#include <config.h>
#include "lazy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CAP 65536u
/* A_t stays below this, far from overflow, and a product of factors >= 1 that has not reached
 * it loses nothing to range (only to rounding, as the dense steps do). */
#define A_LIMIT 0x1p500

/* The l1 and l2 weights each kind's prox uses (the other may be configured but is unused). */
static double l1_of(const pd_reg_t *r)
{
    return r->kind == PD_REG_L1 || r->kind == PD_REG_ELASTIC_NET ? r->l1 : 0.0;
}

static double l2_of(const pd_reg_t *r)
{
    return r->kind == PD_REG_L2 || r->kind == PD_REG_ELASTIC_NET ? r->l2 : 0.0;
}

int pd_lazy_init(pd_lazy_t *lz, const pd_reg_t *reg, const double *mask, size_t dim,
                 uint32_t cap)
{
    memset(lz, 0, sizeof(*lz));
    lz->reg = *reg;
    lz->mask = mask;
    lz->dim = dim;
    lz->cap = cap > 0 ? cap : DEFAULT_CAP;
    lz->stamp = calloc(dim > 0 ? dim : 1, sizeof(*lz->stamp));
    lz->a = malloc(((size_t)lz->cap + 1) * sizeof(double));
    lz->c = malloc(((size_t)lz->cap + 1) * sizeof(double));
    if (lz->stamp == NULL || lz->a == NULL || lz->c == NULL) {
        pd_lazy_release(lz);
        return -ENOMEM;
    }
    pd_lazy_reset(lz);
    return 0;
}

void pd_lazy_release(pd_lazy_t *lz)
{
    free(lz->stamp);
    free(lz->a);
    free(lz->c);
    lz->stamp = NULL;
    lz->a = NULL;
    lz->c = NULL;
}

void pd_lazy_reset(pd_lazy_t *lz)
{
    /* stamps are positions in the log: with an empty log, every one of them says "current" */
    if (lz->len > 0) {
        memset(lz->stamp, 0, lz->dim * sizeof(*lz->stamp));
    }
    lz->len = 0;
    lz->a[0] = 1.0;
    lz->c[0] = 0.0;
}

bool pd_lazy_pending(const pd_lazy_t *lz)
{
    return lz->len > 0;
}

/* x_i after the proxes of log steps [from, len) with zero gradient (see lazy.h). */
static double caught_up(const pd_lazy_t *lz, double v, uint32_t from)
{
    double dc, y;

    if (lz->reg.kind == PD_REG_BOX || lz->reg.kind == PD_REG_NONNEG) {
        pd_prox_apply(&lz->reg, &v, &v, 0.0, NULL, 1);
        return v;
    }
    dc = lz->c[lz->len] - lz->c[from];
    if (v > 0.0) {
        y = v * lz->a[from] - dc;
        return y > 0.0 ? y / lz->a[lz->len] : 0.0;
    }
    if (v < 0.0) {
        y = v * lz->a[from] + dc;
        return y < 0.0 ? y / lz->a[lz->len] : 0.0;
    }
    return v; /* 0 stays 0; NaN passes through, as the prox lets it */
}

/* Whether coordinate i has proxes pending: steps logged past its stamp, and regularised. */
static bool owes(const pd_lazy_t *lz, size_t i)
{
    return lz->stamp[i] != lz->len && (lz->mask == NULL || lz->mask[i] != 0.0);
}

static void catch_up_one(pd_lazy_t *lz, double *x, size_t i)
{
    if (owes(lz, i)) {
        x[i] = caught_up(lz, x[i], lz->stamp[i]);
    }
    lz->stamp[i] = lz->len;
}

void pd_lazy_view(const pd_lazy_t *lz, double *out)
{
    for (size_t i = 0; lz->len > 0 && i < lz->dim; i++) {
        if (owes(lz, i)) {
            out[i] = caught_up(lz, out[i], lz->stamp[i]);
        }
    }
}

void pd_lazy_catch_up_keys(pd_lazy_t *lz, double *x, const uint64_t *keys, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        catch_up_one(lz, x, (size_t)keys[k]);
    }
}

void pd_lazy_catch_up_range(pd_lazy_t *lz, double *x, size_t offset, size_t len)
{
    if (lz->len == 0) {
        return;
    }
    for (size_t i = offset; i < offset + len; i++) {
        catch_up_one(lz, x, i);
    }
}

void pd_lazy_catch_up_all(pd_lazy_t *lz, double *x)
{
    if (lz->len == 0) {
        return;
    }
    pd_lazy_catch_up_range(lz, x, 0, lz->dim);
    lz->sweeps++;
    pd_lazy_reset(lz);
}

void pd_lazy_reserve(pd_lazy_t *lz, double *x, double lr)
{
    if (lz->len == lz->cap || lz->a[lz->len] * (1.0 + lr * l2_of(&lz->reg)) >= A_LIMIT) {
        pd_lazy_catch_up_all(lz, x);
    }
}

void pd_lazy_log_step(pd_lazy_t *lz, const uint64_t *keys, size_t n, double lr)
{
    uint32_t t = lz->len;

    lz->a[t + 1] = lz->a[t] * (1.0 + lr * l2_of(&lz->reg));
    lz->c[t + 1] = lz->c[t] + lr * l1_of(&lz->reg) * lz->a[t];
    lz->len = t + 1;
    for (size_t k = 0; k < n; k++) {
        lz->stamp[keys[k]] = lz->len;
    }
}
