/* vec_check.h - the small vector helpers the model unit tests share (check_model.c,
 * check_mlp.c, check_task_kind.c): allocation that fails the test, max-norms, differences,
 * dot products and seeded normal vectors. Header-only; include after <check.h>. */
#ifndef PD_TESTS_VEC_CHECK_H
#define PD_TESTS_VEC_CHECK_H

#include <math.h>
#include <stdlib.h>

#include "rng.h"

static inline double *vec_new(size_t n)
{
    double *v = calloc(n > 0 ? n : 1, sizeof(*v));
    ck_assert_ptr_nonnull(v);
    return v;
}

static inline double max_abs(const double *v, size_t n)
{
    double a = 0.0;
    for (size_t i = 0; i < n; i++) {
        a = fmax(a, fabs(v[i]));
    }
    return a;
}

static inline double max_diff(const double *a, const double *b, size_t n)
{
    double e = 0.0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs(a[i] - b[i]));
    }
    return e;
}

static inline double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += a[i] * b[i];
    }
    return s;
}

static inline void random_vec(uint64_t seed, double *v, size_t n, double scale)
{
    pd_rng_t r;
    pd_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        v[i] = scale * pd_rng_normal(&r);
    }
}

#endif
