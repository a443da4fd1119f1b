/* prox.c - the proximal operators of ALGORITHMS.md §2.3 as a table of function pointers
 * indexed by pd_reg_kind_t, plus the value of each regulariser. Pure and stateless; every
 * operator is elementwise, so out may alias v. */
#include <config.h>
#include "prox.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

typedef void (*prox_fn)(const pd_reg_t *r, double *out, const double *v, double alpha,
                        const double *mask, size_t d);

/* Every operator passes NaN through: the guarded step (server/optim.c) rejects a step by
 * the NaN or Inf it leaves, and a diverged value shrunk or clamped to a finite one would be
 * applied as if it were sound. */

/* sign(v) max(|v| - t, 0), written with comparisons so that |v| <= t gives an exact 0
 * (the L1 support size is a reported metric, §2.8). */
static inline double soft_threshold(double v, double t)
{
    if (v > t) {
        return v - t;
    }
    if (v < -t) {
        return v + t;
    }
    return v == v ? 0.0 : v;
}

static inline double none_1(const pd_reg_t *r, double v, double alpha)
{
    (void)r;
    (void)alpha;
    return v;
}

static inline double l1_1(const pd_reg_t *r, double v, double alpha)
{
    return soft_threshold(v, alpha * r->l1);
}

static inline double l2_1(const pd_reg_t *r, double v, double alpha)
{
    return v / (1.0 + alpha * r->l2);
}

static inline double elastic_net_1(const pd_reg_t *r, double v, double alpha)
{
    return soft_threshold(v, alpha * r->l1) / (1.0 + alpha * r->l2);
}

static inline double box_1(const pd_reg_t *r, double v, double alpha)
{
    (void)alpha;
    return v == v ? fmin(fmax(v, r->lower), r->upper) : v;
}

static inline double nonneg_1(const pd_reg_t *r, double v, double alpha)
{
    (void)r;
    (void)alpha;
    return v > 0.0 || v != v ? v : 0.0;
}

/* One vector loop per operator around its scalar rule, so the mask test and the indirect
 * call happen once per vector, not once per coordinate. Reading v[i] before writing out[i]
 * is what makes out == v safe. */
#define PD_PROX_VECTOR_(name)                                                                 \
    static void prox_##name(const pd_reg_t *r, double *out, const double *v, double alpha,    \
                            const double *mask, size_t d)                                     \
    {                                                                                         \
        if (mask == NULL) {                                                                   \
            for (size_t i = 0; i < d; i++) {                                                  \
                out[i] = name##_1(r, v[i], alpha);                                            \
            }                                                                                 \
            return;                                                                           \
        }                                                                                     \
        for (size_t i = 0; i < d; i++) {                                                      \
            out[i] = mask[i] == 0.0 ? v[i] : name##_1(r, v[i], alpha);                        \
        }                                                                                     \
    }

PD_PROX_VECTOR_(none)
PD_PROX_VECTOR_(l1)
PD_PROX_VECTOR_(l2)
PD_PROX_VECTOR_(elastic_net)
PD_PROX_VECTOR_(box)
PD_PROX_VECTOR_(nonneg)

static const prox_fn prox_table[PD_REG__COUNT] = {
    [PD_REG_NONE] = prox_none,
    [PD_REG_L1] = prox_l1,
    [PD_REG_L2] = prox_l2,
    [PD_REG_ELASTIC_NET] = prox_elastic_net,
    [PD_REG_BOX] = prox_box,
    [PD_REG_NONNEG] = prox_nonneg,
};

static const char *const reg_names[PD_REG__COUNT] = {
    [PD_REG_NONE] = "none",
    [PD_REG_L1] = "l1",
    [PD_REG_L2] = "l2",
    [PD_REG_ELASTIC_NET] = "elastic-net",
    [PD_REG_BOX] = "box",
    [PD_REG_NONNEG] = "nonneg",
};

void pd_prox_apply(const pd_reg_t *r, double *out, const double *v, double alpha,
                   const double *mask, size_t d)
{
    /* kinds come from pd_reg_kind_parse(); anything else is a paramd bug */
    assert((unsigned)r->kind < PD_REG__COUNT);
    prox_table[r->kind](r, out, v, alpha, mask, d);
}

double pd_prox_value(const pd_reg_t *r, const double *x, const double *mask, size_t d)
{
    double s1 = 0.0, s2 = 0.0;
    bool feasible = true;

    assert((unsigned)r->kind < PD_REG__COUNT);
    for (size_t i = 0; i < d; i++) {
        if (mask != NULL && mask[i] == 0.0) {
            continue;
        }
        s1 += fabs(x[i]);
        s2 += x[i] * x[i];
        /* comparisons with NaN are false, so a NaN coordinate counts as infeasible */
        if (r->kind == PD_REG_BOX) {
            feasible = feasible && (x[i] >= r->lower && x[i] <= r->upper);
        } else if (r->kind == PD_REG_NONNEG) {
            feasible = feasible && x[i] >= 0.0;
        }
    }
    switch (r->kind) {
    case PD_REG_L1:
        return r->l1 * s1;
    case PD_REG_L2:
        return 0.5 * r->l2 * s2;
    case PD_REG_ELASTIC_NET:
        return r->l1 * s1 + 0.5 * r->l2 * s2;
    case PD_REG_BOX:
    case PD_REG_NONNEG:
        return feasible ? 0.0 : INFINITY;
    case PD_REG_NONE:
    case PD_REG__COUNT:
        break;
    }
    return 0.0;
}

const char *pd_reg_kind_name(pd_reg_kind_t k)
{
    if ((unsigned)k >= PD_REG__COUNT) {
        return "unknown";
    }
    return reg_names[k];
}

int pd_reg_kind_parse(const char *name)
{
    for (size_t k = 0; k < PD_REG__COUNT; k++) {
        if (strcmp(name, reg_names[k]) == 0) {
            return (int)k;
        }
    }
    return -EINVAL;
}
