/* trust_region.h - the trust-region step, the radius rule and a synchronous TR iteration used by
 * APTS (ALGORITHMS.md §4.2, §4.3). Pure numerics: no I/O, no allocation except in
 * pd_tr_iterate's caller-provided scratch. All vectors are float64 of length n. */
#ifndef PD_COMMON_TRUST_REGION_H
#define PD_COMMON_TRUST_REGION_H

#include <stdbool.h>
#include <stddef.h>

typedef enum pd_tr_norm {
    PD_TR_NORM_INF = 0, /* APTS default (§4.3) */
    PD_TR_NORM_2
} pd_tr_norm_t;

/* Radius rule constants (§4.2, defaults §4.3). */
typedef struct pd_tr_params {
    double radius_min;  /* Δ_min: 1e-3 globally, 0 for local solves */
    double radius_max;  /* Δ_max: 4.0 */
    double eta1;        /* accept if ρ ≥ eta1 (0.25) */
    double eta2;        /* grow if ρ > eta2 (0.75) */
    double shrink;      /* 0.5 */
    double grow;        /* 2.0 */
    int max_retries;    /* 10: after the first trial, at most this many recomputed trials */
    pd_tr_norm_t norm;
} pd_tr_params_t;

/* Fills the §4.3 defaults (global radius rule, ∞-norm). */
void pd_tr_params_default(pd_tr_params_t *p);

/* First-order TR step at gradient g (length n) with radius Δ > 0 in norm p:
 * s = −Δ g/‖g‖_p, *pred = −gᵀs = Δ‖g‖₂²/‖g‖_p (exact linear model, §4.2 [D]).
 * A zero gradient gives s = 0 and *pred = 0. s must not alias g. */
void pd_tr_step(pd_tr_norm_t norm, const double *g, size_t n, double radius, double *s,
                double *pred);

/* ‖v‖_p in the given norm. */
double pd_tr_norm(pd_tr_norm_t norm, const double *v, size_t n);

/* The radius rule of §4.2 as a pure function. Accepts iff ared > 0, pred > 0 and
 * ρ = ared/pred ≥ eta1. On accept *radius_out = min(grow·Δ, Δ_max) if ρ > eta2, else Δ; on
 * reject *radius_out = max(shrink·Δ, Δ_min). The result is always clamped to [Δ_min, Δ_max].
 * *rho_out (may be NULL) receives ρ (0 when pred ≤ 0). Returns true on accept. */
bool pd_tr_decide(const pd_tr_params_t *p, double ared, double pred, double radius,
                  double *radius_out, double *rho_out);

/* An objective given by a callback: eval(ctx, z, &f, g) writes f(z) and, when g != NULL, ∇f(z).
 * Returns 0 or a negative code (which aborts the caller). z and g are borrowed for the call. */
typedef struct pd_tr_objective {
    int (*eval)(void *ctx, const double *z, double *f, double *g);
    void *ctx;
    size_t n;
} pd_tr_objective_t;

/* Counters of TR work. loss_evals: calls with g == NULL; grad_evals: calls with g;
 * accepted/rejected: trial steps decided; retries: trials recomputed after a rejection. */
typedef struct pd_tr_counters {
    size_t loss_evals, grad_evals, accepted, rejected, retries;
} pd_tr_counters_t;

/* Outcome of one TR iteration (a first trial plus at most max_retries retries). */
typedef struct pd_tr_outcome {
    bool accepted;       /* false: every trial rejected (or g = 0); z is unchanged */
    double pred;         /* predicted decrease of the accepted step (0 if none) */
    double radius_used;  /* radius of the accepted trial, or of the last rejected one */
    double radius_next;  /* radius the rule returns after the last decision */
    double rho;          /* ρ of the last decided trial */
} pd_tr_outcome_t;

/* One TR iteration from z (length obj->n, updated in place on accept) with *f = f(z) and g the
 * gradient of the model objective at z (borrowed). When c is not NULL the model objective is
 * f(z') + ⟨c, z' − z⟩ (the APTS first-order consistency term): g must then already include c,
 * and ared = f(z) − f(z + s) − ⟨c, s⟩. On accept *f
 * becomes the objective value at the new z (without the linear term). scratch holds 2n doubles.
 * Returns 0 or the callback's negative code (z then unchanged). */
int pd_tr_iterate(const pd_tr_objective_t *obj, const pd_tr_params_t *p, double radius,
                  double *z, double *f, const double *g, const double *c, double *scratch,
                  pd_tr_outcome_t *out, pd_tr_counters_t *cnt);

/* A model step for pd_tr_iterate_with: writes s (‖s‖_∞ ≤ radius required, so the budget rule
 * of the APTS local solve still holds) and *pred, the model's predicted decrease (> 0 for a
 * useful step). Returns 0 or a negative code (which aborts the iteration). */
typedef int (*pd_tr_step_fn)(void *ctx, const double *g, size_t n, double radius, double *s,
                             double *pred);

/* pd_tr_iterate with the trial steps from step(step_ctx, ...) instead of pd_tr_step (NULL:
 * pd_tr_step in p->norm, i.e. pd_tr_iterate). Used by the second-order local solve. */
int pd_tr_iterate_with(const pd_tr_objective_t *obj, const pd_tr_params_t *p, double radius,
                       double *z, double *f, const double *g, const double *c, double *scratch,
                       pd_tr_outcome_t *out, pd_tr_counters_t *cnt, pd_tr_step_fn step,
                       void *step_ctx);

#endif
