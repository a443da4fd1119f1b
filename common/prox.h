/* prox.h - proximal operators of the regularisers (ALGORITHMS.md §2.3), applied by the server
 * after each gradient step: x <- prox_{alpha Psi}(v). A table of function pointers indexed
 * by pd_reg_kind_t. Coordinates where mask[i] == 0 (bias) are copied unregularised. */
#ifndef PD_COMMON_PROX_H
#define PD_COMMON_PROX_H

#include <stddef.h>

typedef enum pd_reg_kind {
    PD_REG_NONE = 0,
    PD_REG_L1,
    PD_REG_L2,
    PD_REG_ELASTIC_NET,
    PD_REG_BOX,
    PD_REG_NONNEG,
    PD_REG__COUNT
} pd_reg_kind_t;

typedef struct pd_reg {
    pd_reg_kind_t kind;
    double l1;    /* lambda_1 (l1, elastic-net) */
    double l2;    /* lambda_2 (l2, elastic-net); Psi = (l2 / 2) ||x||^2 */
    double lower; /* box */
    double upper;
} pd_reg_t;

/* out = prox_{alpha Psi}(v); out may equal v. mask may be NULL (all regularised). */
void pd_prox_apply(const pd_reg_t *r, double *out, const double *v, double alpha,
                   const double *mask, size_t d);
/* Psi(x) (0 for indicators when x is feasible, +inf when not). */
double pd_prox_value(const pd_reg_t *r, const double *x, const double *mask, size_t d);

const char *pd_reg_kind_name(pd_reg_kind_t k);
/* "none", "l1", "l2", "elastic-net", "box", "nonneg"; -EINVAL otherwise. */
int pd_reg_kind_parse(const char *name);

#endif
