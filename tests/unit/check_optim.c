/* check_optim.c - server-side optimisers and schedules (ALGORITHMS.md §1.6 oracles), and the
 * staleness histogram and progress line that report them. */
#include <config.h>

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "error.h"
#include "metrics.h"
#include "lazy.h"
#include "optim.h"
#include "rng.h"
#include "store.h"

#define DIM 5

/* An optimiser of `kind` for dim coordinates with the suite's constants. */
static void setup_dim(pd_optim_t *o, int kind, size_t dim)
{
    memset(o, 0, sizeof(*o));
    ck_assert_int_eq(pd_optim_init(o, dim), 0);
    o->kind = kind;
    o->schedule = PD_SCHED_CONSTANT;
    o->lr = 0.1;
    o->decay_steps = 10;
    o->decay_rate = 0.5;
    o->momentum = 0.9;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->epsilon = 1e-8;
    o->reg.kind = PD_REG_NONE;
}

static void setup(pd_optim_t *o, int kind)
{
    setup_dim(o, kind, DIM);
}

START_TEST(sgd_step)
{
    pd_optim_t o;
    double x[DIM] = {1, 2, 3, 4, 5}, g[DIM] = {1, -1, 0.5, 0, 2};

    setup(&o, PD_OPT_SGD);
    pd_optim_apply(&o, x, 0, DIM, g, 0.1);
    for (int i = 0; i < DIM; i++) {
        ck_assert_double_eq_tol(x[i], (i + 1) - 0.1 * g[i], 1e-15);
    }
    ck_assert_uint_eq(o.t, 1);
    pd_optim_release(&o);
}
END_TEST

START_TEST(momentum_zero_beta_is_sgd)
{
    pd_optim_t a, b;
    double xa[DIM] = {0}, xb[DIM] = {0}, g[DIM] = {1, 2, 3, 4, 5};

    setup(&a, PD_OPT_MOMENTUM);
    setup(&b, PD_OPT_SGD);
    a.momentum = 0;
    for (int k = 0; k < 3; k++) {
        pd_optim_apply(&a, xa, 0, DIM, g, 0.1);
        pd_optim_apply(&b, xb, 0, DIM, g, 0.1);
    }
    for (int i = 0; i < DIM; i++) {
        ck_assert_double_eq(xa[i], xb[i]);
    }
    pd_optim_release(&a);
    pd_optim_release(&b);
}
END_TEST

START_TEST(momentum_accumulates)
{
    pd_optim_t o;
    double x[1] = {0}, g[1] = {1};

    setup(&o, PD_OPT_MOMENTUM);
    pd_optim_apply(&o, x, 0, 1, g, 1.0); /* u = 1 */
    pd_optim_apply(&o, x, 0, 1, g, 1.0); /* u = 1.9 */
    ck_assert_double_eq_tol(x[0], -2.9, 1e-15);
    pd_optim_release(&o);
}
END_TEST

START_TEST(adam_first_step)
{
    pd_optim_t o;
    double x[DIM] = {0}, g[DIM] = {3, -0.5, 1e-3, 0, -7};

    setup(&o, PD_OPT_ADAM);
    pd_optim_apply(&o, x, 0, DIM, g, 0.01);
    /* bias correction makes the first step -lr * g / (|g| + eps) */
    for (int i = 0; i < DIM; i++) {
        ck_assert_double_eq_tol(x[i], -0.01 * g[i] / (fabs(g[i]) + 1e-8), 1e-12);
    }
    pd_optim_release(&o);
}
END_TEST

START_TEST(range_update_leaves_other_keys)
{
    pd_optim_t o;
    double x[DIM] = {1, 1, 1, 1, 1}, g[2] = {1, 1};

    setup(&o, PD_OPT_ADAM);
    pd_optim_apply(&o, x, 2, 2, g, 0.1);
    ck_assert_double_eq(x[0], 1);
    ck_assert_double_eq(x[1], 1);
    ck_assert_double_lt(x[2], 1);
    ck_assert_double_lt(x[3], 1);
    ck_assert_double_eq(x[4], 1);
    ck_assert_double_eq(o.v[0], 0); /* the moments of other keys do not move */
    pd_optim_release(&o);
}
END_TEST

START_TEST(prox_after_step)
{
    pd_optim_t o;
    double x[3] = {0, 0, 0}, g[3] = {-5, 0.5, -0.05}, mask[3] = {1, 1, 0};

    setup(&o, PD_OPT_SGD);
    o.reg.kind = PD_REG_L1;
    o.reg.l1 = 1.0;
    o.mask = mask;
    pd_optim_apply(&o, x, 0, 3, g, 0.1);
    /* v = (0.5, -0.05, 0.005); soft-threshold at 0.1 except the masked bias */
    ck_assert_double_eq_tol(x[0], 0.4, 1e-15);
    ck_assert_double_eq(x[1], 0.0);
    ck_assert_double_eq_tol(x[2], 0.005, 1e-15);
    pd_optim_release(&o);
}
END_TEST

START_TEST(schedules)
{
    pd_optim_t o;

    setup(&o, PD_OPT_SGD);
    o.t = 30;
    ck_assert_double_eq(pd_optim_lr(&o), 0.1);
    o.schedule = PD_SCHED_INVSQRT;
    ck_assert_double_eq_tol(pd_optim_lr(&o), 0.1 / 2.0, 1e-15);
    o.schedule = PD_SCHED_STEP;
    ck_assert_double_eq_tol(pd_optim_lr(&o), 0.1 * 0.125, 1e-15);
    pd_optim_release(&o);
}
END_TEST

/* A step that overflows a parameter is taken back whole: x, momentum state and t as before,
 * bit for bit; a finite step of the same call still applies. */
START_TEST(nonfinite_step_taken_back)
{
    static const int kinds[] = {PD_OPT_SGD, PD_OPT_MOMENTUM, PD_OPT_ADAM};
    double x[DIM], x0[DIM], u0[DIM], v0[DIM], g[DIM] = {1, 1, 1, 1, 1};

    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        pd_optim_t o;
        setup(&o, kinds[k]);
        for (int i = 0; i < DIM; i++) {
            x[i] = i == 3 ? 1.7e308 : (double)i;
        }
        ck_assert_int_eq(pd_optim_apply_finite(&o, x, 0, DIM, g, 0.1), 0);
        memcpy(x0, x, sizeof(x));
        memcpy(u0, o.u, sizeof(u0));
        memcpy(v0, o.v, sizeof(v0));
        uint64_t t0 = o.t;
        g[3] = -1e308; /* -lr * g pushes x[3] past DBL_MAX for every optimiser */
        ck_assert_int_eq(pd_optim_apply_finite(&o, x, 0, DIM, g, 1e10), PD_ENONFINITE);
        ck_assert_mem_eq(x, x0, sizeof(x));
        ck_assert_mem_eq(o.u, u0, sizeof(u0));
        ck_assert_mem_eq(o.v, v0, sizeof(v0));
        ck_assert_uint_eq(o.t, t0);
        g[3] = 1;
        ck_assert_int_eq(pd_optim_apply_finite(&o, x, 1, 2, g, 0.1), 0);
        ck_assert(x[1] != x0[1]);
        pd_optim_release(&o);
    }
}
END_TEST

/* The guarded step goes through a long range in chunks: its steps are pd_optim_apply's bits,
 * and an overflow in the last chunk takes back the earlier chunks too. */
START_TEST(nonfinite_step_taken_back_across_chunks)
{
    static const int kinds[] = {PD_OPT_SGD, PD_OPT_MOMENTUM, PD_OPT_ADAM};
    enum { N = 3 * 4096 + 17, OFF = 5, LEN = N - OFF - 3 };
    double *x = malloc(N * sizeof(double)), *y = malloc(N * sizeof(double));
    double *x0 = malloc(N * sizeof(double)), *u0 = malloc(N * sizeof(double));
    double *v0 = malloc(N * sizeof(double)), *g = malloc(N * sizeof(double));

    ck_assert(x != NULL && y != NULL && x0 != NULL && u0 != NULL && v0 != NULL && g != NULL);
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        pd_optim_t guarded, plain;
        setup_dim(&guarded, kinds[k], N);
        setup_dim(&plain, kinds[k], N);
        for (int i = 0; i < N; i++) {
            x[i] = y[i] = 0.5 + (double)(i % 7);
            g[i] = 0.25 - 0.01 * (double)(i % 11);
        }
        /* two finite steps: the same bits as the unguarded step */
        for (int step = 0; step < 2; step++) {
            ck_assert_int_eq(pd_optim_apply_finite(&guarded, x, OFF, LEN, g, 0.1), 0);
            pd_optim_apply(&plain, y, OFF, LEN, g, 0.1);
        }
        ck_assert_mem_eq(x, y, N * sizeof(double));
        ck_assert_mem_eq(guarded.u, plain.u, N * sizeof(double));
        ck_assert_mem_eq(guarded.v, plain.v, N * sizeof(double));
        /* an overflow at the range's last coordinate: everything back, bit for bit */
        memcpy(x0, x, N * sizeof(double));
        memcpy(u0, guarded.u, N * sizeof(double));
        memcpy(v0, guarded.v, N * sizeof(double));
        uint64_t t0 = guarded.t;
        x[OFF + LEN - 1] = 1.7e308;
        x0[OFF + LEN - 1] = 1.7e308;
        g[LEN - 1] = -1e308;
        ck_assert_int_eq(pd_optim_apply_finite(&guarded, x, OFF, LEN, g, 1e10), PD_ENONFINITE);
        ck_assert_mem_eq(x, x0, N * sizeof(double));
        ck_assert_mem_eq(guarded.u, u0, N * sizeof(double));
        ck_assert_mem_eq(guarded.v, v0, N * sizeof(double));
        ck_assert_uint_eq(guarded.t, t0);
        g[LEN - 1] = 0.25;
        pd_optim_release(&guarded);
        pd_optim_release(&plain);
    }
    free(x);
    free(y);
    free(x0);
    free(u0);
    free(v0);
    free(g);
}
END_TEST

/* Finite steps are predicted, not saved: the undo area is never written, so its pages (three
 * times the model) never become resident; and the steps are pd_optim_apply's bits. */
START_TEST(predicted_steps_leave_undo_alone)
{
    static const int kinds[] = {PD_OPT_SGD, PD_OPT_MOMENTUM, PD_OPT_ADAM};
    enum { N = 2 * 4096 + 9 };

    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        pd_optim_t guarded, plain;
        double *x = malloc(N * sizeof(double)), *y = malloc(N * sizeof(double));
        double *g = malloc(N * sizeof(double));
        ck_assert(x != NULL && y != NULL && g != NULL);
        setup_dim(&guarded, kinds[k], N);
        setup_dim(&plain, kinds[k], N);
        for (int i = 0; i < N; i++) {
            x[i] = y[i] = 1.0 - 0.001 * (double)i;
            g[i] = 0.5 - 0.003 * (double)(i % 17);
        }
        for (size_t i = 0; i < 3 * (size_t)N; i++) {
            guarded.undo[i] = 42.0;
        }
        for (int step = 0; step < 3; step++) {
            ck_assert_int_eq(pd_optim_apply_finite(&guarded, x, 0, N, g, 0.05), 0);
            pd_optim_apply(&plain, y, 0, N, g, 0.05);
        }
        ck_assert_mem_eq(x, y, N * sizeof(double));
        ck_assert_mem_eq(guarded.u, plain.u, N * sizeof(double));
        ck_assert_mem_eq(guarded.v, plain.v, N * sizeof(double));
        for (size_t i = 0; i < 3 * (size_t)N; i++) {
            ck_assert(guarded.undo[i] == 42.0);
        }
        pd_optim_release(&guarded);
        pd_optim_release(&plain);
        free(x);
        free(y);
        free(g);
    }
}
END_TEST

/* A key list is stepped as the range of the same coordinates packed together: same bits for
 * x and the state at the keys, nothing else touched, t counted once; across guard chunks, with
 * the l1 prox and a bias mask; an overflow at the last key takes every key back. */
START_TEST(keys_step_is_packed_range_step)
{
    static const int kinds[] = {PD_OPT_SGD, PD_OPT_MOMENTUM, PD_OPT_ADAM};
    enum { N = 5 * 4096 + 33, K = 2 * 4096 + 7 }; /* keys 0, 2, 4, ...: K of them, in 3 chunks */
    double *x = malloc(N * sizeof(double)), *x0 = malloc(N * sizeof(double));
    double *mask = malloc(N * sizeof(double)), *g = malloc(K * sizeof(double));
    double *xc = malloc(K * sizeof(double)), *mc = malloc(K * sizeof(double));
    uint64_t *keys = malloc(K * sizeof(uint64_t));

    ck_assert(x && x0 && mask && g && xc && mc && keys);
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        pd_optim_t o, packed;
        setup_dim(&o, kinds[k], N);
        setup_dim(&packed, kinds[k], K);
        o.reg.kind = packed.reg.kind = PD_REG_L1;
        o.reg.l1 = packed.reg.l1 = 0.05;
        o.mask = mask;
        packed.mask = mc;
        for (int i = 0; i < N; i++) {
            x[i] = 0.5 + (double)(i % 7) - 3.0;
            mask[i] = i % 5 == 0 ? 0.0 : 1.0;
        }
        for (int i = 0; i < K; i++) {
            keys[i] = 2 * (uint64_t)i;
            xc[i] = x[keys[i]];
            mc[i] = mask[keys[i]];
            g[i] = 0.25 - 0.01 * (double)(i % 11);
        }
        memcpy(x0, x, N * sizeof(double));
        for (int step = 0; step < 2; step++) {
            ck_assert_int_eq(pd_optim_apply_keys_finite(&o, x, keys, K, g, 0.1), 0);
            pd_optim_apply(&packed, xc, 0, K, g, 0.1);
        }
        ck_assert_uint_eq(o.t, 2);
        for (int i = 0; i < K; i++) {
            uint64_t at = keys[i];
            ck_assert_mem_eq(&x[at], &xc[i], sizeof(double));
            ck_assert_mem_eq(&o.u[at], &packed.u[i], sizeof(double));
            ck_assert_mem_eq(&o.v[at], &packed.v[i], sizeof(double));
            ck_assert_mem_eq(&x[at + 1], &x0[at + 1], sizeof(double)); /* odd keys untouched */
            ck_assert(o.u[at + 1] == 0.0 && o.v[at + 1] == 0.0);
        }
        /* an overflow at the last key: every key back, bit for bit */
        memcpy(x0, x, N * sizeof(double));
        memcpy(xc, o.u, K * sizeof(double)); /* u at keys 0 .. K-1 (some unlisted, all kept) */
        x[keys[K - 1]] = x0[keys[K - 1]] = 1.7e308;
        g[K - 1] = -1e308;
        /* with the l1 prox on: it passes Adam's NaN (-inf / inf) through to the guard */
        ck_assert_int_eq(pd_optim_apply_keys_finite(&o, x, keys, K, g, 1e10), PD_ENONFINITE);
        ck_assert_mem_eq(x, x0, N * sizeof(double));
        ck_assert_mem_eq(o.u, xc, K * sizeof(double));
        ck_assert_uint_eq(o.t, 2);
        pd_optim_release(&o);
        pd_optim_release(&packed);
    }
    free(x);
    free(x0);
    free(mask);
    free(g);
    free(xc);
    free(mc);
    free(keys);
}
END_TEST

/* A key-list push of plain sgd through the store takes the bounded path (stepped in place,
 * chunk by chunk) when the blocks' bounds allow: the same bits as the guarded key step, with
 * an l1 prox on a masked vector and steps whose products are not exact; and all or nothing
 * when a value is NaN. */
START_TEST(bounded_key_step_is_the_guarded_one)
{
    enum { N = 20000, K = 9000 }; /* K keys: more than two chunks of 4096 */
    pd_store_t st;
    pd_optim_t a, b;
    double *y = malloc(N * sizeof(double)), *g = malloc(K * sizeof(double));
    double *mask = malloc(N * sizeof(double));
    uint64_t *keys = malloc(K * sizeof(uint64_t));

    ck_assert(y != NULL && g != NULL && mask != NULL && keys != NULL);
    setup_dim(&a, PD_OPT_SGD, N);
    setup_dim(&b, PD_OPT_SGD, N);
    /* _i = 0: no regulariser, the in-place path; 1: l1, the chunks with the prox */
    a.reg.kind = b.reg.kind = _i == 0 ? PD_REG_NONE : PD_REG_L1;
    a.reg.l1 = b.reg.l1 = 0.01;
    a.mask = b.mask = mask;
    ck_assert_int_eq(pd_store_init(&st, N), 0);
    for (int i = 0; i < N; i++) {
        st.x[i] = y[i] = 0.3 - 0.01 * (double)(i % 17);
        mask[i] = i % 5 == 0 ? 0.0 : 1.0;
    }
    for (int i = 0; i < K; i++) {
        keys[i] = (uint64_t)i * 2 + (uint64_t)(i % 3 == 0); /* gaps of 1 to 3 */
        g[i] = 0.7 - 0.013 * (double)(i % 29);
    }
    for (int step = 0; step < 4; step++) {
        ck_assert_int_eq(pd_store_step_keys(&st, &a, keys, K, g, 0.1), 0);
        ck_assert_int_eq(pd_optim_apply_keys_finite(&b, y, keys, K, g, 0.1), 0);
        ck_assert_mem_eq(st.x, y, N * sizeof(double));
        ck_assert_uint_eq(a.t, b.t);
    }
    g[K - 1] = NAN; /* in the last chunk: nothing may move */
    ck_assert_int_eq(pd_store_step_keys(&st, &a, keys, K, g, 0.1), PD_ENONFINITE);
    ck_assert_mem_eq(st.x, y, N * sizeof(double));
    ck_assert_uint_eq(a.t, b.t);
    pd_store_release(&st);
    a.mask = b.mask = NULL;
    pd_optim_release(&a);
    pd_optim_release(&b);
    free(y);
    free(g);
    free(mask);
    free(keys);
}
END_TEST

/* The bounded step's read of g sees every value, wherever it sits: the largest |g_i| and a
 * NaN or Inf in each quarter of g (read side by side) and in the tail past them. */
START_TEST(bounded_step_reads_all_of_g)
{
    enum { N = 3 * PD_STORE_BLOCK + 5 }; /* quarters of 384 values, a tail of 5 */
    static const size_t at[] = {0, 5, 383, 384, 500, 768, 1000, 1152, 1535, 1536, 1540};
    static const double bad[] = {NAN, INFINITY, -INFINITY};
    pd_store_t st;
    pd_optim_t o;
    double *g = malloc(N * sizeof(double)), moved;

    ck_assert(g != NULL);
    setup_dim(&o, PD_OPT_SGD, N);
    ck_assert_int_eq(pd_store_init(&st, N), 0);
    for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
        for (int i = 0; i < N; i++) {
            g[i] = 0.5 - 0.001 * (double)(i % 11);
        }
        g[at[k]] = -7.0;
        ck_assert_int_eq(pd_optim_apply_bounded(&o, st.x, 0, N, g, 0.1,
                                                pd_store_bound(&st, 0, N), &moved), 0);
        ck_assert_msg(moved == 0.1 * 7.0, "largest |g| at %zu: moved %g", at[k], moved);
        pd_store_bump_range(&st, 0, N);
        pd_store_bound_grow(&st, 0, N, moved);
        for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
            g[at[k]] = bad[b];
            ck_assert_int_eq(pd_optim_apply_bounded(&o, st.x, 0, N, g, 0.1,
                                                    pd_store_bound(&st, 0, N), &moved),
                             PD_ENONFINITE);
        }
    }
    pd_store_release(&st);
    pd_optim_release(&o);
    free(g);
}
END_TEST

/* The bounded step (a key-value push of plain sgd) is pd_optim_apply_finite's, bit for bit,
 * return value included: in place after a read of g when the store's bound shows it cannot
 * overflow, the exact guarded path otherwise (momentum, NaN, a bound near overflow). The
 * store's bound covers |x| after every step and is dropped by any other change. */
START_TEST(bounded_step_is_the_guarded_step)
{
    enum { N = 3 * PD_STORE_BLOCK + 5 };
    static const int kinds[] = {PD_OPT_SGD, PD_OPT_MOMENTUM};
    pd_store_t st;
    double *y = malloc(N * sizeof(double)), *g = malloc(N * sizeof(double));

    ck_assert(y != NULL && g != NULL);
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        pd_optim_t a, b;
        setup_dim(&a, kinds[k], N);
        setup_dim(&b, kinds[k], N);
        ck_assert_int_eq(pd_store_init(&st, N), 0);
        for (int i = 0; i < N; i++) {
            st.x[i] = y[i] = 0.5 - 0.01 * (double)(i % 13);
            g[i] = 0.3 - 0.02 * (double)(i % 7);
        }
        for (int step = 0; step < 5; step++) {
            double moved, bound = pd_store_bound(&st, 7, N - 9);
            ck_assert_int_eq(pd_optim_apply_bounded(&a, st.x, 7, N - 9, g, 0.1, bound, &moved),
                             pd_optim_apply_finite(&b, y, 7, N - 9, g, 0.1));
            ck_assert(kinds[k] == PD_OPT_SGD ? moved > 0 : moved < 0);
            pd_store_bump_range(&st, 7, N - 9);
            if (moved >= 0) {
                pd_store_bound_grow(&st, 7, N - 9, moved);
            }
            double real = 0;
            for (int i = 0; i < N; i++) {
                real = fmax(real, fabs(st.x[i]));
            }
            ck_assert(pd_store_bound(&st, 0, N) >= real * (1 - 1e-15));
        }
        ck_assert_mem_eq(st.x, y, N * sizeof(double));
        /* a NaN gradient: refused by both, nothing moved */
        g[40] = NAN;
        double moved;
        ck_assert_int_eq(pd_optim_apply_bounded(&a, st.x, 0, N, g, 0.1,
                                                pd_store_bound(&st, 0, N), &moved),
                         PD_ENONFINITE);
        ck_assert(moved < 0);
        ck_assert_mem_eq(st.x, y, N * sizeof(double));
        g[40] = 0.25;
        /* a change the store did not bound (a whole-vector step) drops every bound */
        st.x[3] = 1e308; /* above the bounded path's limit, 2^1020 */
        pd_store_bump(&st);
        ck_assert(pd_store_bound(&st, 0, 10) == 1e308);
        /* near overflow the exact guarded path decides: finite here, so applied */
        ck_assert_int_eq(pd_optim_apply_bounded(&a, st.x, 0, 10, g, 1e-3,
                                                pd_store_bound(&st, 0, 10), &moved), 0);
        ck_assert(moved < 0);
        pd_store_release(&st);
        pd_optim_release(&a);
        pd_optim_release(&b);
    }
    free(y);
    free(g);
}
END_TEST

START_TEST(staleness_histogram)
{
    pd_metrics_t m;

    pd_metrics_init(&m);
    pd_metrics_observe_staleness(&m, 0);
    pd_metrics_observe_staleness(&m, 1);
    pd_metrics_observe_staleness(&m, 3);
    pd_metrics_observe_staleness(&m, 1000);
    ck_assert_uint_eq(m.staleness_buckets[0], 1);
    ck_assert_uint_eq(m.staleness_buckets[1], 1);
    ck_assert_uint_eq(m.staleness_buckets[3], 1); /* (2, 4] */
    ck_assert_uint_eq(m.staleness_buckets[PD_STALENESS_BUCKETS - 1], 1);
    ck_assert_double_eq(m.staleness_sum, 1004);
    ck_assert(isnan(m.objective));
}
END_TEST

/* Sparse steps with the deferred prox (lazy.h) against dense steps whose gradient is zero off
 * the same keys: the iterates agree to 1e-12 at every read, for each regulariser, with step
 * sizes that change every step (a schedule and staleness scaling), an unregularised bias
 * coordinate, and a log short enough to be swept many times. */
static void lazy_matches_dense(pd_reg_kind_t kind)
{
    enum { D = 40, STEPS = 600 };
    pd_optim_t dense, sparse;
    pd_lazy_t lz;
    double x1[D], x2[D], g[D], gk[D], mask[D];
    uint64_t keys[D];
    pd_rng_t rng;

    pd_rng_seed(&rng, 7 + (uint64_t)kind);
    setup_dim(&dense, PD_OPT_SGD, D);
    setup_dim(&sparse, PD_OPT_SGD, D);
    dense.schedule = sparse.schedule = PD_SCHED_INVSQRT;
    dense.reg = (pd_reg_t){kind, 0.02, 0.3, -0.4, 0.5};
    sparse.reg = dense.reg;
    for (size_t i = 0; i < D; i++) {
        mask[i] = i == D - 1 ? 0.0 : 1.0;
        x1[i] = x2[i] = 2.0 * pd_rng_uniform(&rng) - 1.0;
    }
    dense.mask = sparse.mask = mask;
    ck_assert_int_eq(pd_lazy_init(&lz, &sparse.reg, mask, D, 16), 0);
    for (int step = 0; step < STEPS; step++) {
        size_t n = 0;
        double lr = pd_optim_lr(&dense) / (1.0 + (double)(step % 3));

        memset(g, 0, sizeof(g));
        for (size_t i = 0; i < D; i++) {
            if (pd_rng_uniform(&rng) < 0.08) {
                keys[n] = i;
                gk[n] = g[i] = 4.0 * pd_rng_uniform(&rng) - 2.0;
                n++;
            }
        }
        pd_optim_apply(&dense, x1, 0, D, g, lr);
        pd_lazy_reserve(&lz, x2, lr);
        pd_lazy_catch_up_keys(&lz, x2, keys, n);
        ck_assert_int_eq(pd_optim_apply_keys_finite(&sparse, x2, keys, n, gk, lr), 0);
        pd_lazy_log_step(&lz, keys, n, lr);
        if (step % 7 == 0) {
            size_t i = (size_t)step % D;
            pd_lazy_catch_up_range(&lz, x2, i, 1);
            ck_assert_msg(fabs(x1[i] - x2[i]) <= 1e-12, "%s step %d x[%zu]: %.17g vs %.17g",
                          pd_reg_kind_name(kind), step, i, x1[i], x2[i]);
        }
    }
    pd_lazy_catch_up_all(&lz, x2);
    for (size_t i = 0; i < D; i++) {
        ck_assert_msg(fabs(x1[i] - x2[i]) <= 1e-12, "%s x[%zu]: %.17g vs %.17g",
                      pd_reg_kind_name(kind), i, x1[i], x2[i]);
    }
    ck_assert_uint_gt(lz.sweeps, STEPS / 16 - 1);
    ck_assert(!pd_lazy_pending(&lz));
    pd_lazy_release(&lz);
    pd_optim_release(&dense);
    pd_optim_release(&sparse);
}

START_TEST(lazy_prox_matches_dense)
{
    lazy_matches_dense((pd_reg_kind_t)_i);
}
END_TEST

/* Coordinates shrunk to zero by l1 stay there exactly, as the dense steps leave them. */
START_TEST(lazy_l1_reaches_exact_zero)
{
    pd_reg_t r = {PD_REG_L1, 0.5, 0, 0, 0};
    pd_lazy_t lz;
    double x[3] = {1.0, -0.2, 0.0};
    uint64_t none = 0;

    ck_assert_int_eq(pd_lazy_init(&lz, &r, NULL, 3, 0), 0);
    for (int s = 0; s < 3; s++) {
        pd_lazy_reserve(&lz, x, 0.5);
        pd_lazy_log_step(&lz, &none, 0, 0.5); /* 3 steps of 0.25 each */
    }
    pd_lazy_catch_up_all(&lz, x);
    ck_assert_double_eq(x[0], 0.25);
    ck_assert_double_eq(x[1], 0.0);
    ck_assert_double_eq(x[2], 0.0);
    pd_lazy_release(&lz);
}
END_TEST

/* Range reads: the same range at the same version shares one copy; a read inside it too;
 * a step, a read elsewhere and a restore of another run's version number each give new
 * values, never the kept ones. */
START_TEST(range_reads_share_a_copy_per_version)
{
    enum { N = 2048 };
    pd_store_t st;
    pd_optim_t o = {.kind = PD_OPT_SGD, .lr = 0.5};
    pd_buf_t *a, *b, *c;
    const double *va, *vb, *vc;
    double g[N];

    ck_assert_int_eq(pd_store_init(&st, N), 0);
    ck_assert_int_eq(pd_optim_init(&o, N), 0);
    for (size_t i = 0; i < N; i++) {
        g[i] = (double)i;
    }
    ck_assert_int_eq(pd_store_step_range(&st, &o, 0, N, g, 1.0), 0);
    ck_assert_int_eq(pd_store_read_range(&st, 100, 300, &a, &va), 0);
    ck_assert_int_eq(pd_store_read_range(&st, 150, 100, &b, &vb), 0);
    ck_assert_ptr_eq(a, b); /* inside the kept copy: shared */
    ck_assert(vb == va + 50 && vb[0] == st.x[150] && st.x[150] != 0.0);
    pd_buf_unref(b);
    ck_assert_int_eq(pd_store_read_range(&st, 1000, 10, &b, &vb), 0);
    ck_assert_ptr_ne(a, b); /* elsewhere: its own copy */
    double first = st.x[1000];
    ck_assert(vb[0] == first);
    pd_buf_unref(b);
    ck_assert_int_eq(pd_store_step_range(&st, &o, 0, N, g, 1.0), 0);
    ck_assert_int_eq(pd_store_read_range(&st, 1000, 10, &c, &vc), 0);
    ck_assert(vc[0] == st.x[1000] && vc[0] != first && c->version == st.version);
    ck_assert(va[0] != st.x[100]); /* a held copy keeps its version's values */
    pd_buf_unref(c);
    /* a restore to the version number a copy was made at: that copy is of another run */
    uint64_t v = st.version;
    ck_assert_int_eq(pd_store_read_range(&st, 1000, 10, &c, &vc), 0);
    st.x[1000] = 7.0;
    pd_store_reset_version(&st, v);
    ck_assert_int_eq(pd_store_read_range(&st, 1000, 10, &b, &vb), 0);
    ck_assert_ptr_ne(b, c);
    ck_assert(vb[0] == 7.0);
    pd_buf_unref(a);
    pd_buf_unref(b);
    pd_buf_unref(c);
    pd_optim_release(&o);
    pd_store_release(&st);
}
END_TEST

static Suite *optim_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, sgd_step);
    tcase_add_test(tc, momentum_zero_beta_is_sgd);
    tcase_add_test(tc, momentum_accumulates);
    tcase_add_test(tc, adam_first_step);
    tcase_add_test(tc, range_update_leaves_other_keys);
    tcase_add_test(tc, prox_after_step);
    tcase_add_test(tc, schedules);
    tcase_add_test(tc, nonfinite_step_taken_back);
    tcase_add_test(tc, nonfinite_step_taken_back_across_chunks);
    tcase_add_test(tc, predicted_steps_leave_undo_alone);
    tcase_add_test(tc, keys_step_is_packed_range_step);
    tcase_add_test(tc, bounded_step_is_the_guarded_step);
    tcase_add_test(tc, bounded_step_reads_all_of_g);
    tcase_add_loop_test(tc, bounded_key_step_is_the_guarded_one, 0, 2);
    tcase_add_test(tc, staleness_histogram);
    tcase_add_loop_test(tc, lazy_prox_matches_dense, PD_REG_L1, PD_REG__COUNT);
    tcase_add_test(tc, lazy_l1_reaches_exact_zero);
    tcase_add_test(tc, range_reads_share_a_copy_per_version);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(optim_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
