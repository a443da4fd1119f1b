/* check_model.c - the models of ALGORITHMS.md §6 against the oracles of §6.5: finite
 * differences for gradients and HVPs, HVP symmetry, overflow-free logistic loss, partition
 * sums, dense/CSR agreement, evaluation counts, label binding and index checks. Data sets
 * are built by hand from fixed seeds (common/rng.h); each tolerance is stated where used. */
#include <config.h>
#include "model.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compute.h"
#include "error.h"
#include "model_internal.h"
#include "quad.h"
#include "rng.h"
#include "vec_check.h"

enum label_kind { LAB_01, LAB_PM, LAB_CLASS, LAB_REAL };

typedef struct model_case {
    const char *name;
    pd_model_kind_t kind;
    enum label_kind labels;
    size_t n_classes;
} model_case_t;

static const model_case_t cases[] = {
    {"logistic {0,1}", PD_MODEL_LOGISTIC, LAB_01, 0},
    {"logistic +-1", PD_MODEL_LOGISTIC, LAB_PM, 0},
    {"softmax C=3", PD_MODEL_SOFTMAX, LAB_CLASS, 3},
    {"softmax C=10", PD_MODEL_SOFTMAX, LAB_CLASS, 10},
    {"least squares", PD_MODEL_LSQ, LAB_REAL, 0},
};
#define N_CASES ((int)(sizeof(cases) / sizeof(cases[0])))
/* Loop index i covers case i / 4, sparse (i / 2) % 2, bias i % 2. */
#define N_COMBOS (N_CASES * 4)

#define M_SAMPLES 40
#define P_FEATURES 7

/* ---- fixtures ---- */

static void data_clear(pd_data_t *d)
{
    free(d->y);
    free(d->x);
    free(d->row_ptr);
    free(d->col);
    free(d->val);
    memset(d, 0, sizeof(*d));
}

/* Dense m x p with about 40% zeros, so the CSR copy has real structure. Labels cover every
 * value of their kind in the first samples, so bind sees both classes / all C classes. */
static void make_dense(pd_data_t *d, uint64_t seed, size_t m, size_t p, enum label_kind lk,
                       size_t n_classes)
{
    pd_rng_t r;
    pd_rng_seed(&r, seed);
    memset(d, 0, sizeof(*d));
    d->m = m;
    d->p = p;
    d->x = vec_new(m * p);
    d->y = vec_new(m);
    for (size_t k = 0; k < m * p; k++) {
        d->x[k] = pd_rng_uniform(&r) < 0.4 ? 0.0 : pd_rng_normal(&r);
    }
    for (size_t i = 0; i < m; i++) {
        switch (lk) {
        case LAB_01:
            d->y[i] = i < 2 ? (double)i : (double)pd_rng_below(&r, 2);
            break;
        case LAB_PM:
            d->y[i] = (i < 2 ? (double)i : (double)pd_rng_below(&r, 2)) * 2.0 - 1.0;
            break;
        case LAB_CLASS:
            d->y[i] = i < n_classes ? (double)i : (double)pd_rng_below(&r, n_classes);
            break;
        case LAB_REAL:
            d->y[i] = pd_rng_normal(&r);
            break;
        }
    }
}

/* The same samples in CSR, zeros dropped. */
static void to_csr(pd_data_t *s, const pd_data_t *dense)
{
    memset(s, 0, sizeof(*s));
    s->m = dense->m;
    s->p = dense->p;
    s->sparse = true;
    s->y = vec_new(dense->m);
    memcpy(s->y, dense->y, dense->m * sizeof(double));
    s->row_ptr = calloc(dense->m + 1, sizeof(size_t));
    s->col = calloc(dense->m * dense->p + 1, sizeof(uint32_t));
    s->val = vec_new(dense->m * dense->p);
    ck_assert_ptr_nonnull(s->row_ptr);
    ck_assert_ptr_nonnull(s->col);
    size_t nnz = 0;
    for (size_t i = 0; i < dense->m; i++) {
        for (size_t j = 0; j < dense->p; j++) {
            double v = dense->x[i * dense->p + j];
            if (v != 0.0) {
                s->col[nnz] = (uint32_t)j;
                s->val[nnz] = v;
                nnz++;
            }
        }
        s->row_ptr[i + 1] = nnz;
    }
    s->nnz = nnz;
}

typedef struct setup {
    const model_case_t *c;
    pd_data_t d;
    pd_model_t m;
} setup_t;

static void setup_combo(setup_t *s, int i, size_t m, size_t p)
{
    s->c = &cases[i / 4];
    bool sparse = (i / 2) % 2 == 1;
    bool bias = i % 2 == 1;
    pd_data_t dense;
    make_dense(&dense, 1000 + (uint64_t)(i / 4), m, p, s->c->labels, s->c->n_classes);
    if (sparse) {
        to_csr(&s->d, &dense);
        data_clear(&dense);
    } else {
        s->d = dense;
    }
    char err[256] = "";
    int rc = pd_model_bind(&s->m, s->c->kind, &s->d, s->c->n_classes, bias, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s: bind failed: %s", s->c->name, err);
}

/* A batch with repeats: n draws from [0, m). */
static uint32_t *batch_new(uint64_t seed, size_t m, size_t n)
{
    uint32_t *idx = calloc(n, sizeof(*idx));
    ck_assert_ptr_nonnull(idx);
    pd_rng_sample(seed, m, (uint32_t)n, idx);
    return idx;
}

#define BATCH 25

/* ---- §6.5 #1: gradient vs central differences, eps = 1e-6, max error <= 1e-6 relative to
 * max(1, ||g||_inf) ---- */
START_TEST(test_grad_fd)
{
    setup_t s;
    setup_combo(&s, _i, M_SAMPLES, P_FEATURES);
    size_t dim = s.m.dim;
    double *x = vec_new(dim), *g = vec_new(dim), *fd = vec_new(dim), *xe = vec_new(dim);
    uint32_t *idx = batch_new(5, M_SAMPLES, BATCH);
    random_vec(21, x, dim, 0.5);

    double loss, loss2;
    ck_assert_int_eq(pd_model_grad_sum(&s.m, &s.d, x, idx, BATCH, g, &loss), 0);
    ck_assert_int_eq(pd_model_loss_sum(&s.m, &s.d, x, idx, BATCH, &loss2), 0);
    ck_assert_msg(fabs(loss - loss2) <= 1e-14 * fabs(loss), "%s: loss_sum != grad_sum loss",
                  s.c->name);
    const double eps = 1e-6;
    for (size_t k = 0; k < dim; k++) {
        double fp, fm;
        memcpy(xe, x, dim * sizeof(double));
        xe[k] = x[k] + eps;
        ck_assert_int_eq(pd_model_loss_sum(&s.m, &s.d, xe, idx, BATCH, &fp), 0);
        xe[k] = x[k] - eps;
        ck_assert_int_eq(pd_model_loss_sum(&s.m, &s.d, xe, idx, BATCH, &fm), 0);
        fd[k] = (fp - fm) / (2.0 * eps);
    }
    double err = max_diff(g, fd, dim) / fmax(1.0, max_abs(g, dim));
    ck_assert_msg(err <= 1e-6, "%s sparse=%d bias=%d: grad rel err %g", s.c->name,
                  s.d.sparse, s.m.bias, err);

    /* grad is added to, not overwritten */
    ck_assert_int_eq(pd_model_grad_sum(&s.m, &s.d, x, idx, BATCH, g, &loss), 0);
    for (size_t k = 0; k < dim; k++) {
        ck_assert(fabs(g[k] - 2.0 * fd[k]) <= 2e-6 * fmax(1.0, max_abs(fd, dim)));
    }
    free(idx);
    free(xe);
    free(fd);
    free(g);
    free(x);
    data_clear(&s.d);
}
END_TEST

/* ---- §6.5 #1: HVP vs central difference of gradients (eps = 1e-5, 1e-6 relative) and
 * §6.5 #2: u^T H v = v^T H u to 1e-10 relative ---- */
START_TEST(test_hvp_fd_and_symmetry)
{
    setup_t s;
    setup_combo(&s, _i, M_SAMPLES, P_FEATURES);
    size_t dim = s.m.dim;
    double *x = vec_new(dim), *v = vec_new(dim), *u = vec_new(dim), *hv = vec_new(dim);
    double *hu = vec_new(dim), *gp = vec_new(dim), *gm = vec_new(dim), *xe = vec_new(dim);
    uint32_t *idx = batch_new(6, M_SAMPLES, BATCH);
    random_vec(31, x, dim, 0.5);
    random_vec(32, v, dim, 1.0);
    random_vec(33, u, dim, 1.0);

    ck_assert_int_eq(pd_model_hvp_sum(&s.m, &s.d, x, v, idx, BATCH, hv), 0);
    const double eps = 1e-5;
    double loss;
    for (size_t k = 0; k < dim; k++) {
        xe[k] = x[k] + eps * v[k];
    }
    ck_assert_int_eq(pd_model_grad_sum(&s.m, &s.d, xe, idx, BATCH, gp, &loss), 0);
    for (size_t k = 0; k < dim; k++) {
        xe[k] = x[k] - eps * v[k];
    }
    ck_assert_int_eq(pd_model_grad_sum(&s.m, &s.d, xe, idx, BATCH, gm, &loss), 0);
    for (size_t k = 0; k < dim; k++) {
        gp[k] = (gp[k] - gm[k]) / (2.0 * eps);
    }
    double err = max_diff(hv, gp, dim) / fmax(1.0, max_abs(hv, dim));
    ck_assert_msg(err <= 1e-6, "%s sparse=%d bias=%d: hvp rel err %g", s.c->name, s.d.sparse,
                  s.m.bias, err);

    ck_assert_int_eq(pd_model_hvp_sum(&s.m, &s.d, x, u, idx, BATCH, hu), 0);
    double uhv = dot(u, hv, dim), vhu = dot(v, hu, dim);
    ck_assert_msg(fabs(uhv - vhu) <= 1e-10 * fmax(fabs(uhv), fabs(vhu)),
                  "%s: u'Hv=%.17g v'Hu=%.17g", s.c->name, uhv, vhu);
    free(idx);
    free(xe);
    free(gm);
    free(gp);
    free(hu);
    free(hv);
    free(u);
    free(v);
    free(x);
    data_clear(&s.d);
}
END_TEST

/* ---- §6.5 #7: grad_sum over a partition of [m] adds up to the full sum, to 1e-12
 * relative ---- */
START_TEST(test_partition)
{
    setup_t s;
    setup_combo(&s, _i, M_SAMPLES, P_FEATURES);
    size_t dim = s.m.dim;
    double *x = vec_new(dim), *full = vec_new(dim), *parts = vec_new(dim);
    uint32_t all[M_SAMPLES];
    for (uint32_t j = 0; j < M_SAMPLES; j++) {
        all[j] = j;
    }
    random_vec(41, x, dim, 0.5);
    double lfull, lparts = 0.0, l;
    ck_assert_int_eq(pd_model_grad_sum(&s.m, &s.d, x, all, M_SAMPLES, full, &lfull), 0);
    const size_t cuts[] = {0, 7, 8, 20, M_SAMPLES};
    for (size_t k = 0; k + 1 < sizeof(cuts) / sizeof(cuts[0]); k++) {
        double *g = vec_new(dim);
        ck_assert_int_eq(
            pd_model_grad_sum(&s.m, &s.d, x, all + cuts[k], cuts[k + 1] - cuts[k], g, &l), 0);
        for (size_t q = 0; q < dim; q++) {
            parts[q] += g[q];
        }
        lparts += l;
        free(g);
    }
    ck_assert(max_diff(full, parts, dim) <= 1e-12 * fmax(1.0, max_abs(full, dim)));
    ck_assert(fabs(lfull - lparts) <= 1e-12 * fmax(1.0, fabs(lfull)));
    /* empty batch: loss 0, grad untouched */
    ck_assert_int_eq(pd_model_grad_sum(&s.m, &s.d, x, all, 0, parts, &l), 0);
    ck_assert_double_eq(l, 0.0);
    free(parts);
    free(full);
    free(x);
    data_clear(&s.d);
}
END_TEST

/* ---- dense and CSR copies of the same samples give the same loss, gradient and HVP, to
 * 1e-12 relative ---- */
START_TEST(test_dense_vs_sparse)
{
    const model_case_t *c = &cases[_i / 2];
    bool bias = _i % 2 == 1;
    pd_data_t dn, sp;
    pd_model_t md, ms;
    make_dense(&dn, 77, M_SAMPLES, P_FEATURES, c->labels, c->n_classes);
    to_csr(&sp, &dn);
    ck_assert_int_eq(pd_model_bind(&md, c->kind, &dn, c->n_classes, bias, NULL, 0), 0);
    ck_assert_int_eq(pd_model_bind(&ms, c->kind, &sp, c->n_classes, bias, NULL, 0), 0);
    ck_assert_uint_eq(md.dim, ms.dim);
    size_t dim = md.dim;
    double *x = vec_new(dim), *v = vec_new(dim), *gd = vec_new(dim), *gs = vec_new(dim);
    double *hd = vec_new(dim), *hs = vec_new(dim);
    uint32_t *idx = batch_new(8, M_SAMPLES, BATCH);
    random_vec(51, x, dim, 0.5);
    random_vec(52, v, dim, 1.0);
    double ld, ls;
    ck_assert_int_eq(pd_model_grad_sum(&md, &dn, x, idx, BATCH, gd, &ld), 0);
    ck_assert_int_eq(pd_model_grad_sum(&ms, &sp, x, idx, BATCH, gs, &ls), 0);
    ck_assert_int_eq(pd_model_hvp_sum(&md, &dn, x, v, idx, BATCH, hd), 0);
    ck_assert_int_eq(pd_model_hvp_sum(&ms, &sp, x, v, idx, BATCH, hs), 0);
    ck_assert_msg(max_diff(gd, gs, dim) <= 1e-12 * fmax(1.0, max_abs(gd, dim)), "%s grad",
                  c->name);
    ck_assert_msg(max_diff(hd, hs, dim) <= 1e-12 * fmax(1.0, max_abs(hd, dim)), "%s hvp",
                  c->name);
    ck_assert(fabs(ld - ls) <= 1e-12 * fmax(1.0, fabs(ld)));
    uint64_t cd, cs;
    ck_assert_int_eq(pd_model_eval_range(&md, &dn, x, 0, M_SAMPLES, &ld, &cd), 0);
    ck_assert_int_eq(pd_model_eval_range(&ms, &sp, x, 0, M_SAMPLES, &ls, &cs), 0);
    ck_assert(fabs(ld - ls) <= 1e-12 * fmax(1.0, fabs(ld)));
    ck_assert_uint_eq(cd, cs);
    double Ld = pd_model_lipschitz(&md, &dn), Ls = pd_model_lipschitz(&ms, &sp);
    ck_assert(fabs(Ld - Ls) <= 1e-10 * Ld);
    free(idx);
    free(hs);
    free(hd);
    free(gs);
    free(gd);
    free(v);
    free(x);
    data_clear(&sp);
    data_clear(&dn);
}
END_TEST


/* ---- a key-list GRAD task: the keys are exactly where the minibatch's gradient can be
 * nonzero, and the packed sums at them are the dense sums' bits there (2 threads, garbage
 * left in the output outside the keys) ---- */
START_TEST(test_batch_keys)
{
    const model_case_t *c = &cases[_i / 2];
    bool bias = _i % 2 == 1;
    enum { P = 30, M = 60, B = 6 };
    pd_data_t dn, sp;
    pd_model_t m;
    pd_task_ctx_t ctx;
    pd_sample_set_t set = {99, B, 0, 0};
    double loss_d, loss_k;
    size_t n_d, n_k, n_keys;

    make_dense(&dn, 5 + (uint64_t)_i, M, P, c->labels, c->n_classes);
    for (size_t k = 0; k < (size_t)M * P; k++) {
        if (k % 7 != 0) {
            dn.x[k] = 0.0; /* about 4 of 30 features per sample */
        }
    }
    to_csr(&sp, &dn);
    ck_assert_int_eq(pd_model_bind(&m, c->kind, &sp, c->n_classes, bias, NULL, 0), 0);
    size_t dim = m.dim;
    uint32_t *idx = batch_new(set.seed, M, B);
    size_t cap = pd_model_batch_keys_cap(&m, &sp, idx, B);
    uint64_t *keys = calloc(cap + 1, sizeof(*keys));
    double *x = vec_new(dim), *gd = vec_new(dim), *gk = vec_new(dim);
    ck_assert_int_eq(pd_model_batch_keys(&m, &sp, idx, B, keys, cap, &n_keys), 0);
    ck_assert_uint_lt(n_keys, dim); /* a real subset */
    ck_assert_int_eq(pd_model_batch_keys(&m, &sp, idx, B, keys, n_keys - 1, &n_d), PD_EDIM);
    ck_assert_int_eq(pd_model_batch_keys(&m, &sp, idx, B, keys, cap, &n_keys), 0);
    random_vec(3, x, dim, 0.5);
    ck_assert_int_eq(pd_task_ctx_init(&ctx, &m, &sp, NULL, 2), 0);
    ck_assert_int_eq(pd_task_grad_set(&ctx, x, &set, gd, &loss_d, &n_d), 0);
    for (size_t i = 0; i < dim; i++) {
        gk[i] = NAN;
    }
    ck_assert_int_eq(pd_task_grad_keys(&ctx, x, &set, keys, n_keys, gk, &loss_k, &n_k), 0);
    ck_assert_uint_eq(n_d, n_k);
    ck_assert(loss_d == loss_k);
    size_t k = 0;
    for (size_t i = 0; i < dim; i++) {
        bool listed = k < n_keys && keys[k] == i;
        if (listed) {
            ck_assert_msg(memcmp(&gd[i], &gk[k], sizeof(double)) == 0, "%s key %zu: %.17g vs %.17g",
                          c->name, i, gd[i], gk[k]);
            k++;
        } else {
            ck_assert_msg(gd[i] == 0.0, "%s: gradient %.17g at key %zu, not listed", c->name,
                          gd[i], i);
        }
    }
    ck_assert_uint_eq(k, n_keys); /* increasing: every key was met in order */
    pd_task_ctx_release(&ctx);
    free(gk);
    free(gd);
    free(x);
    free(keys);
    free(idx);
    data_clear(&sp);
    data_clear(&dn);
}
END_TEST

/* ---- eval_range's loss equals loss_sum over the same indices (1e-12 relative) ---- */
START_TEST(test_eval_matches_loss)
{
    setup_t s;
    setup_combo(&s, _i, M_SAMPLES, P_FEATURES);
    double *x = vec_new(s.m.dim);
    random_vec(61, x, s.m.dim, 0.5);
    uint32_t idx[M_SAMPLES];
    for (uint32_t j = 0; j < 30; j++) {
        idx[j] = 3 + j;
    }
    double le, ll;
    uint64_t correct = UINT64_MAX;
    ck_assert_int_eq(pd_model_eval_range(&s.m, &s.d, x, 3, 33, &le, &correct), 0);
    ck_assert_int_eq(pd_model_loss_sum(&s.m, &s.d, x, idx, 30, &ll), 0);
    ck_assert(fabs(le - ll) <= 1e-12 * fabs(ll));
    ck_assert(correct <= 30);
    if (s.m.kind == PD_MODEL_LSQ) {
        ck_assert_uint_eq(correct, 0);
    }
    ck_assert_int_eq(pd_model_eval_range(&s.m, &s.d, x, 5, 5, &le, &correct), 0);
    ck_assert_double_eq(le, 0.0);
    ck_assert_uint_eq(correct, 0);
    free(x);
    data_clear(&s.d);
}
END_TEST

/* ---- hand-made evaluation cases with known counts and losses ---- */
START_TEST(test_eval_hand_logistic)
{
    double a[4] = {2.0, -1.0, 3.0, -0.5};
    double y01[4] = {1.0, 0.0, 0.0, 1.0};
    double ypm[4] = {1.0, -1.0, -1.0, 1.0};
    pd_data_t d = {.m = 4, .p = 1, .x = a, .y = y01};
    pd_model_t m;
    double w[1] = {1.0}, loss;
    uint64_t correct;
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_LOGISTIC, &d, 0, false, NULL, 0), 0);
    /* z = 2 (right), -1 (right), 3 (wrong), -0.5 (wrong) */
    double expect = log1p(exp(-2.0)) + log1p(exp(-1.0)) + log1p(exp(3.0)) + log1p(exp(0.5));
    ck_assert_int_eq(pd_model_eval_range(&m, &d, w, 0, 4, &loss, &correct), 0);
    ck_assert_uint_eq(correct, 2);
    ck_assert_double_eq_tol(loss, expect, 1e-14);
    d.y = ypm;
    ck_assert_int_eq(pd_model_eval_range(&m, &d, w, 0, 4, &loss, &correct), 0);
    ck_assert_uint_eq(correct, 2);
    ck_assert_double_eq_tol(loss, expect, 1e-14);
}
END_TEST

START_TEST(test_eval_hand_softmax)
{
    /* W (C=3, p=2, bias): class 0 reads feature 0, class 1 feature 1, class 2 is bias 0.5 */
    double w[9] = {1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.5};
    double a[8] = {2.0, 0.0, 0.0, 3.0, 0.0, 0.0, 1.0, 1.0};
    /* predictions 0, 1, 2 and a 0/1 tie (first maximum: 0) */
    double y[4] = {0.0, 2.0, 2.0, 1.0};
    pd_data_t d = {.m = 4, .p = 2, .x = a, .y = y};
    pd_model_t m;
    double loss;
    uint64_t correct;
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_SOFTMAX, &d, 0, true, NULL, 0), 0);
    ck_assert_uint_eq(m.n_classes, 3);
    ck_assert_uint_eq(m.dim, 9);
    ck_assert_int_eq(pd_model_eval_range(&m, &d, w, 0, 4, &loss, &correct), 0);
    ck_assert_uint_eq(correct, 2);
    double z[4][3] = {{2, 0, 0.5}, {0, 3, 0.5}, {0, 0, 0.5}, {1, 1, 0.5}};
    double expect = 0.0;
    for (int i = 0; i < 4; i++) {
        expect += log(exp(z[i][0]) + exp(z[i][1]) + exp(z[i][2])) - z[i][(int)y[i]];
    }
    ck_assert_double_eq_tol(loss, expect, 1e-14);
}
END_TEST

/* ---- several dgemm blocks (m > PD_MODEL_BLOCK_ROWS): batch sums equal per-sample sums and
 * eval over a range equals loss_sum, to 1e-12 relative ---- */
START_TEST(test_softmax_blocks)
{
    enum { M = 600, P = 13, C = 10 };
    pd_data_t d;
    pd_model_t m;
    make_dense(&d, 91, M, P, LAB_CLASS, C);
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_SOFTMAX, &d, 0, true, NULL, 0), 0);
    ck_assert_uint_eq(m.n_classes, C);
    double *x = vec_new(m.dim), *g = vec_new(m.dim), *g1 = vec_new(m.dim);
    double *v = vec_new(m.dim), *h = vec_new(m.dim), *h1 = vec_new(m.dim);
    random_vec(92, x, m.dim, 0.3);
    random_vec(93, v, m.dim, 1.0);
    uint32_t *idx = batch_new(94, M, M);
    double loss, l1, lsum = 0.0;
    ck_assert_int_eq(pd_model_grad_sum(&m, &d, x, idx, M, g, &loss), 0);
    ck_assert_int_eq(pd_model_hvp_sum(&m, &d, x, v, idx, M, h), 0);
    for (size_t i = 0; i < M; i++) {
        ck_assert_int_eq(pd_model_grad_sum(&m, &d, x, idx + i, 1, g1, &l1), 0);
        ck_assert_int_eq(pd_model_hvp_sum(&m, &d, x, v, idx + i, 1, h1), 0);
        lsum += l1;
    }
    ck_assert(max_diff(g, g1, m.dim) <= 1e-12 * max_abs(g, m.dim));
    ck_assert(max_diff(h, h1, m.dim) <= 1e-12 * max_abs(h, m.dim));
    ck_assert(fabs(loss - lsum) <= 1e-12 * loss);

    uint32_t range[M];
    for (uint32_t j = 0; j < M; j++) {
        range[j] = j;
    }
    uint64_t correct;
    double le;
    ck_assert_int_eq(pd_model_eval_range(&m, &d, x, 37, 555, &le, &correct), 0);
    ck_assert_int_eq(pd_model_loss_sum(&m, &d, x, range + 37, 555 - 37, &loss), 0);
    ck_assert(fabs(le - loss) <= 1e-12 * loss);
    free(idx);
    free(h1);
    free(h);
    free(v);
    free(g1);
    free(g);
    free(x);
    data_clear(&d);
}
END_TEST

/* ---- §6.5 #3: no overflow at |z| = 1000 ---- */
START_TEST(test_logistic_extremes)
{
    ck_assert_double_eq(pd_softplus(1000.0), 1000.0);
    ck_assert_double_eq(pd_softplus(-1000.0), 0.0);
    ck_assert_double_eq(pd_sigmoid(1000.0), 1.0);
    ck_assert_double_eq(pd_sigmoid(-1000.0), 0.0);

    double a[2] = {1000.0, -1000.0}, y[2] = {1.0, 1.0};
    pd_data_t d = {.m = 2, .p = 1, .x = a, .y = y};
    pd_model_t m = {.kind = PD_MODEL_LOGISTIC, .p = 1, .n_classes = 1, .dim = 1};
    double w[1] = {1.0}, g[1] = {0.0}, h[1] = {0.0}, v[1] = {1.0}, loss;
    uint32_t i0 = 0, i1 = 1;
    ck_assert_int_eq(pd_model_grad_sum(&m, &d, w, &i0, 1, g, &loss), 0);
    ck_assert_double_eq(loss, 0.0); /* z = 1000, y = +1 */
    ck_assert_double_eq(g[0], 0.0);
    ck_assert_int_eq(pd_model_grad_sum(&m, &d, w, &i1, 1, g, &loss), 0);
    ck_assert_double_eq(loss, 1000.0); /* z = -1000, y = +1 */
    ck_assert_double_eq(g[0], 1000.0); /* -y sigma(1000) a = -1 * 1 * -1000 */
    ck_assert_int_eq(pd_model_hvp_sum(&m, &d, w, v, &i1, 1, h), 0);
    ck_assert(isfinite(h[0]));

    /* softmax logits (1000, -1000, 0): loss stays finite */
    double as[2] = {1000.0, 0.0}, ys[1] = {1.0};
    double ws[6] = {1.0, 0.0, -1.0, 0.0, 0.0, 0.0};
    pd_data_t ds = {.m = 1, .p = 2, .x = as, .y = ys};
    pd_model_t ms = {.kind = PD_MODEL_SOFTMAX, .p = 2, .n_classes = 3, .dim = 6};
    double gs[6] = {0};
    ck_assert_int_eq(pd_model_grad_sum(&ms, &ds, ws, &i0, 1, gs, &loss), 0);
    ck_assert_double_eq(loss, 2000.0);
    for (int k = 0; k < 6; k++) {
        ck_assert(isfinite(gs[k]));
    }
}
END_TEST

/* ---- §6.5 #4: per sample, sum_c pdot_c = 0; with a bias, pdot_c is the HVP's bias entry of
 * class c, so those entries must sum to 0 (1e-14 absolute, pdot is O(1)) ---- */
START_TEST(test_softmax_pdot_sums_to_zero)
{
    setup_t s;
    setup_combo(&s, _i, M_SAMPLES, P_FEATURES);
    size_t dim = s.m.dim, ld = s.m.p + 1;
    double *x = vec_new(dim), *v = vec_new(dim), *hv = vec_new(dim);
    random_vec(71, x, dim, 1.0);
    random_vec(72, v, dim, 1.0);
    for (uint32_t j = 0; j < M_SAMPLES; j++) {
        memset(hv, 0, dim * sizeof(double));
        ck_assert_int_eq(pd_model_hvp_sum(&s.m, &s.d, x, v, &j, 1, hv), 0);
        double sum = 0.0, mag = 0.0;
        for (size_t c = 0; c < s.m.n_classes; c++) {
            sum += hv[c * ld + s.m.p];
            mag = fmax(mag, fabs(hv[c * ld + s.m.p]));
        }
        ck_assert_msg(fabs(sum) <= 1e-14 * fmax(1.0, mag), "sample %u: sum %g", j, sum);
        ck_assert(mag > 0.0);
    }
    free(hv);
    free(v);
    free(x);
    data_clear(&s.d);
}
END_TEST

/* ---- §6.5 #5: the least-squares HVP does not depend on x (bitwise) ---- */
START_TEST(test_lsq_hvp_independent_of_x)
{
    setup_t s;
    setup_combo(&s, _i, M_SAMPLES, P_FEATURES);
    size_t dim = s.m.dim;
    double *x1 = vec_new(dim), *x2 = vec_new(dim), *v = vec_new(dim);
    double *h1 = vec_new(dim), *h2 = vec_new(dim);
    uint32_t *idx = batch_new(9, M_SAMPLES, BATCH);
    random_vec(81, x1, dim, 1.0);
    random_vec(82, x2, dim, 100.0);
    random_vec(83, v, dim, 1.0);
    ck_assert_int_eq(pd_model_hvp_sum(&s.m, &s.d, x1, v, idx, BATCH, h1), 0);
    ck_assert_int_eq(pd_model_hvp_sum(&s.m, &s.d, x2, v, idx, BATCH, h2), 0);
    ck_assert(memcmp(h1, h2, dim * sizeof(double)) == 0);
    free(idx);
    free(h2);
    free(h1);
    free(v);
    free(x2);
    free(x1);
    data_clear(&s.d);
}
END_TEST

/* ---- binding ---- */
static void expect_bind_fails(pd_model_kind_t kind, const double *y, size_t m, size_t n_classes)
{
    double x[16] = {0};
    pd_data_t d = {.m = m, .p = 1, .x = x, .y = (double *)y};
    pd_model_t mod = {.kind = PD_MODEL_NONE, .p = 12345};
    char err[128] = "";
    int rc = pd_model_bind(&mod, kind, &d, n_classes, true, err, sizeof(err));
    ck_assert_int_eq(rc, PD_EDATA);
    ck_assert_msg(err[0] != '\0', "no message");
    ck_assert_uint_eq(mod.p, 12345); /* untouched on failure */
}

START_TEST(test_bind)
{
    const double l012[3] = {0, 1, 2}, lm10[3] = {-1, 0, 1}, l11[2] = {1, 1}, lm1[2] = {-1, -1};
    const double lhalf[2] = {0, 0.5}, lnan[2] = {0, NAN};
    expect_bind_fails(PD_MODEL_LOGISTIC, l012, 3, 0);
    expect_bind_fails(PD_MODEL_LOGISTIC, lm10, 3, 0);
    expect_bind_fails(PD_MODEL_LOGISTIC, l11, 2, 0);
    expect_bind_fails(PD_MODEL_LOGISTIC, lm1, 2, 0);
    expect_bind_fails(PD_MODEL_LOGISTIC, lhalf, 2, 0);
    expect_bind_fails(PD_MODEL_LOGISTIC, lnan, 2, 0);
    const double lneg[2] = {0, -1}, lzero[2] = {0, 0}, lbig[2] = {0, 1e12};
    expect_bind_fails(PD_MODEL_SOFTMAX, lneg, 2, 0);
    expect_bind_fails(PD_MODEL_SOFTMAX, lhalf, 2, 0);
    expect_bind_fails(PD_MODEL_SOFTMAX, lnan, 2, 0);
    expect_bind_fails(PD_MODEL_SOFTMAX, lzero, 2, 0);    /* C = 1 */
    expect_bind_fails(PD_MODEL_SOFTMAX, l012, 3, 2);     /* label 2 with n_classes = 2 */
    expect_bind_fails(PD_MODEL_SOFTMAX, lzero, 2, 1);    /* n_classes = 1 */
    expect_bind_fails(PD_MODEL_SOFTMAX, lbig, 2, 0);
    const double linf[2] = {0, INFINITY};
    expect_bind_fails(PD_MODEL_LSQ, lnan, 2, 0);
    expect_bind_fails(PD_MODEL_LSQ, linf, 2, 0);
    expect_bind_fails(PD_MODEL_LSQ, l012, 0, 0); /* no samples */

    double x[4] = {0};
    double y01[2] = {1, 0}, ypm[2] = {-1, 1}, y3[4] = {0, 2, 2, 0};
    pd_data_t d = {.m = 2, .p = 2, .x = x, .y = y01};
    pd_model_t m;
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_LOGISTIC, &d, 0, true, NULL, 0), 0);
    ck_assert_uint_eq(m.dim, 3);
    ck_assert_uint_eq(m.n_classes, 1);
    d.y = ypm;
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_LOGISTIC, &d, 0, false, NULL, 0), 0);
    ck_assert_uint_eq(m.dim, 2);
    d.m = 4;
    d.p = 1;
    d.y = y3;
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_SOFTMAX, &d, 0, true, NULL, 0), 0);
    ck_assert_uint_eq(m.n_classes, 3); /* max label + 1, class 1 unseen */
    ck_assert_uint_eq(m.dim, 6);
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_SOFTMAX, &d, 5, false, NULL, 0), 0);
    ck_assert_uint_eq(m.n_classes, 5);
    ck_assert_uint_eq(m.dim, 5);
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_LSQ, &d, 0, true, NULL, 0), 0);
    ck_assert_uint_eq(m.dim, 2);
}
END_TEST

/* ---- indices out of range: PD_EDIM, outputs untouched ---- */
START_TEST(test_bad_index)
{
    setup_t s;
    setup_combo(&s, _i, M_SAMPLES, P_FEATURES);
    size_t dim = s.m.dim;
    double *x = vec_new(dim), *g = vec_new(dim), loss = -1.0;
    uint32_t idx[3] = {0, M_SAMPLES, 1};
    uint64_t correct;
    ck_assert_int_eq(pd_model_grad_sum(&s.m, &s.d, x, idx, 3, g, &loss), PD_EDIM);
    ck_assert_int_eq(pd_model_loss_sum(&s.m, &s.d, x, idx, 3, &loss), PD_EDIM);
    ck_assert_int_eq(pd_model_hvp_sum(&s.m, &s.d, x, x, idx, 3, g), PD_EDIM);
    ck_assert_double_eq(max_abs(g, dim), 0.0);
    ck_assert_double_eq(loss, -1.0);
    idx[1] = UINT32_MAX;
    ck_assert_int_eq(pd_model_grad_sum(&s.m, &s.d, x, idx, 3, g, &loss), PD_EDIM);
    ck_assert_int_eq(pd_model_eval_range(&s.m, &s.d, x, 0, M_SAMPLES + 1, &loss, &correct),
                     PD_EDIM);
    ck_assert_int_eq(pd_model_eval_range(&s.m, &s.d, x, 5, 4, &loss, &correct), PD_EDIM);
    /* a model bound to a different feature count */
    pd_model_t other = s.m;
    other.p = s.m.p + 1;
    ck_assert_int_eq(pd_model_loss_sum(&other, &s.d, x, idx, 1, &loss), PD_EDIM);
    free(g);
    free(x);
    data_clear(&s.d);
}
END_TEST

/* ---- Lipschitz estimate on designs with known spectra ---- */
START_TEST(test_lipschitz)
{
    /* A = 2 I (4 x 4): A^T A / m = I, so L = 1, 1/4, 1/2 for lsq, logistic, softmax */
    double a[16] = {0}, y[4] = {0, 1, 0, 1};
    for (int i = 0; i < 4; i++) {
        a[i * 4 + i] = 2.0;
    }
    pd_data_t d = {.m = 4, .p = 4, .x = a, .y = y};
    pd_model_t m;
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_LSQ, &d, 0, false, NULL, 0), 0);
    ck_assert_double_eq_tol(pd_model_lipschitz(&m, &d), 1.0, 1e-12);
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_LOGISTIC, &d, 0, false, NULL, 0), 0);
    ck_assert_double_eq_tol(pd_model_lipschitz(&m, &d), 0.25, 1e-12);
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_SOFTMAX, &d, 0, false, NULL, 0), 0);
    ck_assert_double_eq_tol(pd_model_lipschitz(&m, &d), 0.5, 1e-12);

    /* the bias column counts: rows (1, 1) twice, A^T A = [[2,2],[2,2]], lambda = 4, m = 2 */
    double a1[2] = {1.0, 1.0}, y1[2] = {0.3, -0.2};
    pd_data_t d1 = {.m = 2, .p = 1, .x = a1, .y = y1};
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_LSQ, &d1, 0, true, NULL, 0), 0);
    ck_assert_double_eq_tol(pd_model_lipschitz(&m, &d1), 2.0, 1e-12);
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_LSQ, &d1, 0, false, NULL, 0), 0);
    ck_assert_double_eq_tol(pd_model_lipschitz(&m, &d1), 1.0, 1e-12);
}
END_TEST

/* on random data, L lies between the Rayleigh quotient of random directions and the trace */
START_TEST(test_lipschitz_bounds)
{
    setup_t s;
    setup_combo(&s, _i, M_SAMPLES, P_FEATURES);
    if (s.m.kind != PD_MODEL_LSQ) {
        data_clear(&s.d);
        return;
    }
    size_t q = s.m.dim;
    double L = pd_model_lipschitz(&s.m, &s.d);
    double *v = vec_new(q), *hv = vec_new(q);
    uint32_t all[M_SAMPLES];
    for (uint32_t j = 0; j < M_SAMPLES; j++) {
        all[j] = j;
    }
    for (uint64_t t = 0; t < 10; t++) {
        random_vec(200 + t, v, q, 1.0);
        memset(hv, 0, q * sizeof(double));
        ck_assert_int_eq(pd_model_hvp_sum(&s.m, &s.d, v, v, all, M_SAMPLES, hv), 0);
        ck_assert(dot(v, hv, q) / dot(v, v, q) / M_SAMPLES <= L * (1.0 + 1e-9));
    }
    double tr = 0.0;
    for (size_t k = 0; k < q; k++) {
        memset(v, 0, q * sizeof(double));
        memset(hv, 0, q * sizeof(double));
        v[k] = 1.0;
        ck_assert_int_eq(pd_model_hvp_sum(&s.m, &s.d, v, v, all, M_SAMPLES, hv), 0);
        tr += hv[k];
    }
    ck_assert(L <= tr / M_SAMPLES * (1.0 + 1e-12));
    free(hv);
    free(v);
    data_clear(&s.d);
}
END_TEST

START_TEST(test_mask_and_names)
{
    pd_model_t m = {.kind = PD_MODEL_SOFTMAX, .p = 2, .n_classes = 3, .bias = true, .dim = 9};
    double mask[9];
    pd_model_bias_mask(&m, mask);
    const double expect[9] = {1, 1, 0, 1, 1, 0, 1, 1, 0};
    for (int k = 0; k < 9; k++) {
        ck_assert_double_eq(mask[k], expect[k]);
    }
    pd_model_t l = {.kind = PD_MODEL_LOGISTIC, .p = 3, .n_classes = 1, .bias = false, .dim = 3};
    pd_model_bias_mask(&l, mask);
    ck_assert(mask[0] == 1.0 && mask[1] == 1.0 && mask[2] == 1.0);
    l.bias = true;
    l.dim = 4;
    pd_model_bias_mask(&l, mask);
    ck_assert(mask[2] == 1.0 && mask[3] == 0.0);
    /* bias_regularized: the bias is penalised like the weights (liblinear's -B 1) */
    m.bias_regularized = true;
    pd_model_bias_mask(&m, mask);
    for (int k = 0; k < 9; k++) {
        ck_assert_double_eq(mask[k], 1.0);
    }

    for (int k = PD_MODEL_NONE; k <= PD_MODEL_LSQ; k++) {
        ck_assert_int_eq(pd_model_kind_parse(pd_model_kind_name((pd_model_kind_t)k)), k);
    }
    ck_assert_str_eq(pd_model_kind_name(PD_MODEL_LSQ), "least-squares");
    ck_assert_int_eq(pd_model_kind_parse("lsq"), -EINVAL);
    ck_assert_str_eq(pd_model_kind_name((pd_model_kind_t)42), "unknown");
}
END_TEST

/* ---- the synthetic quadratic of ALGORITHMS.md §3.8 (quad.h): §6.5 #1, #2, #7 and its exact
 * minimiser. noise = 2 makes many components nonconvex while the mean stays mu-convex. ---- */

static pd_data_t *quad_fixture(pd_model_t *m, size_t dim)
{
    pd_quad_params_t q = {.dim = dim, .m = 30, .noise = 2.0, .mu = 1e-3, .seed = 11};
    pd_data_t *d = NULL;
    char err[128];

    ck_assert_int_eq(pd_quad_generate(&d, &q), 0);
    ck_assert_int_eq(pd_model_bind_quadratic(m, d, dim, err, sizeof(err)), 0);
    ck_assert_uint_eq(m->dim, dim);
    return d;
}

START_TEST(test_quad_grad_hvp_fd)
{
    const size_t dim = 12;
    const uint32_t idx[] = {0, 3, 3, 7, 29, 15};
    const size_t n = sizeof(idx) / sizeof(idx[0]);
    pd_model_t m;
    pd_data_t *d = quad_fixture(&m, dim);
    double *x = vec_new(dim), *g = vec_new(dim), *gp = vec_new(dim), *gm = vec_new(dim);
    double *v = vec_new(dim), *u = vec_new(dim), *hv = vec_new(dim), *hu = vec_new(dim);
    double *fd = vec_new(dim);
    double loss, lp, lm;

    random_vec(5, x, dim, 1.0);
    random_vec(6, v, dim, 1.0);
    random_vec(7, u, dim, 1.0);
    ck_assert_int_eq(pd_model_grad_sum(&m, d, x, idx, n, g, &loss), 0);
    /* Gradient: central differences of the loss, eps = 1e-6, 1e-6 relative to max |g|. */
    for (size_t k = 0; k < dim; k++) {
        double keep = x[k];
        x[k] = keep + 1e-6;
        ck_assert_int_eq(pd_model_loss_sum(&m, d, x, idx, n, &lp), 0);
        x[k] = keep - 1e-6;
        ck_assert_int_eq(pd_model_loss_sum(&m, d, x, idx, n, &lm), 0);
        x[k] = keep;
        fd[k] = (lp - lm) / 2e-6;
    }
    ck_assert_double_le(max_diff(fd, g, dim), 1e-6 * fmax(1.0, max_abs(g, dim)));
    /* HVP: central difference of the gradient along v, eps = 1e-5, 1e-6 relative. */
    for (size_t k = 0; k < dim; k++) {
        u[k] = x[k] + 1e-5 * v[k];
        fd[k] = x[k] - 1e-5 * v[k];
    }
    ck_assert_int_eq(pd_model_grad_sum(&m, d, u, idx, n, gp, &lp), 0);
    ck_assert_int_eq(pd_model_grad_sum(&m, d, fd, idx, n, gm, &lm), 0);
    ck_assert_int_eq(pd_model_hvp_sum(&m, d, x, v, idx, n, hv), 0);
    for (size_t k = 0; k < dim; k++) {
        fd[k] = (gp[k] - gm[k]) / 2e-5;
    }
    ck_assert_double_le(max_diff(fd, hv, dim), 1e-6 * fmax(1.0, max_abs(hv, dim)));
    /* Symmetry: u^T H v = v^T H u to 1e-10 relative. */
    random_vec(7, u, dim, 1.0);
    ck_assert_int_eq(pd_model_hvp_sum(&m, d, x, u, idx, n, hu), 0);
    ck_assert_double_le(fabs(dot(u, hv, dim) - dot(v, hu, dim)),
                        1e-10 * fmax(1.0, fabs(dot(u, hv, dim))));
    free(x), free(g), free(gp), free(gm), free(v), free(u), free(hv), free(hu), free(fd);
    pd_data_free(d);
}
END_TEST

START_TEST(test_quad_partition_and_solve)
{
    const size_t dim = 9;
    pd_model_t m;
    pd_data_t *d = quad_fixture(&m, dim);
    double *x = vec_new(dim), *g = vec_new(dim), *parts = vec_new(dim), *xs = vec_new(dim);
    uint32_t all[30];
    double loss, fstar, f0, L;
    uint64_t correct;

    for (uint32_t j = 0; j < 30; j++) {
        all[j] = j;
    }
    /* §6.5 #7: per-sample gradients sum to the batch gradient (1e-12 relative). */
    random_vec(9, x, dim, 1.0);
    ck_assert_int_eq(pd_model_grad_sum(&m, d, x, all, 30, g, &loss), 0);
    for (uint32_t j = 0; j < 30; j++) {
        ck_assert_int_eq(pd_model_grad_sum(&m, d, x, &all[j], 1, parts, &f0), 0);
    }
    ck_assert_double_le(max_diff(parts, g, dim), 1e-12 * max_abs(g, dim));
    /* The Thomas solve gives a stationary point of the mean and its value is the least seen. */
    ck_assert_int_eq(pd_quad_solve(&m, d, xs, &fstar), 0);
    memset(g, 0, dim * sizeof(double));
    ck_assert_int_eq(pd_model_grad_sum(&m, d, xs, all, 30, g, &loss), 0);
    ck_assert_double_le(max_abs(g, dim) / 30.0, 1e-9);
    ck_assert_double_eq_tol(loss / 30.0, fstar, 1e-12);
    pd_quad_start(dim, x);
    ck_assert_double_eq(x[0], 3.0);
    ck_assert_int_eq(pd_model_eval_range(&m, d, x, 0, 30, &f0, &correct), 0);
    ck_assert_double_lt(fstar, f0 / 30.0);
    ck_assert_uint_eq(correct, 0);
    /* L bounds every Rayleigh quotient of the mean Hessian; mu is its smallest (1e-3). */
    L = pd_model_lipschitz(&m, d);
    random_vec(10, x, dim, 1.0);
    memset(g, 0, dim * sizeof(double));
    ck_assert_int_eq(pd_model_hvp_sum(&m, d, xs, x, all, 30, g), 0);
    ck_assert_double_le(dot(x, g, dim) / 30.0, L * dot(x, x, dim) * (1 + 1e-12));
    ck_assert_double_ge(dot(x, g, dim) / 30.0, 1e-3 * dot(x, x, dim) * (1 - 1e-9));
    /* Bound as a model and masked as one: all coordinates regularised, no bias. */
    pd_model_bias_mask(&m, parts);
    for (size_t k = 0; k < dim; k++) {
        ck_assert_double_eq(parts[k], 1.0);
    }
    ck_assert_str_eq(pd_model_kind_name(PD_MODEL_QUADRATIC), "quadratic");
    ck_assert_int_eq(pd_model_kind_parse("quadratic"), PD_MODEL_QUADRATIC);
    free(x), free(g), free(parts), free(xs);
    pd_data_free(d);
}
END_TEST

START_TEST(test_quad_generate_checks)
{
    pd_quad_params_t q = {.dim = 4, .m = 5, .noise = 0.5, .mu = 1e-6, .seed = 3};
    pd_data_t *a = NULL, *b = NULL;
    pd_model_t m;
    char err[128];

    ck_assert_int_eq(pd_quad_generate(&a, &q), 0);
    ck_assert_int_eq(pd_quad_generate(&b, &q), 0);
    ck_assert_uint_eq(pd_data_fingerprint(a), pd_data_fingerprint(b)); /* same seed, same sum */
    ck_assert_int_eq(pd_model_bind_quadratic(&m, a, 0, err, sizeof(err)), PD_EDATA);
    ck_assert_int_eq(pd_model_bind(&m, PD_MODEL_QUADRATIC, a, 0, false, err, sizeof(err)), -EINVAL);
    q.m = 0;
    ck_assert_int_eq(pd_quad_generate(&b, &q), -EINVAL);
    pd_data_free(a);
    pd_data_free(b);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("oracles");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_grad_fd, 0, N_COMBOS);
    tcase_add_loop_test(tc, test_hvp_fd_and_symmetry, 0, N_COMBOS);
    tcase_add_loop_test(tc, test_partition, 0, N_COMBOS);
    tcase_add_loop_test(tc, test_dense_vs_sparse, 0, N_CASES * 2);
    tcase_add_loop_test(tc, test_batch_keys, 0, N_CASES * 2);
    tcase_add_loop_test(tc, test_eval_matches_loss, 0, N_COMBOS);
    tcase_add_loop_test(tc, test_bad_index, 0, N_COMBOS);
    /* softmax cases with a bias: combos 9, 11 (C=3) and 13, 15 (C=10) */
    tcase_add_loop_test(tc, test_softmax_pdot_sums_to_zero, 9, 10);
    tcase_add_loop_test(tc, test_softmax_pdot_sums_to_zero, 11, 12);
    tcase_add_loop_test(tc, test_softmax_pdot_sums_to_zero, 13, 14);
    tcase_add_loop_test(tc, test_softmax_pdot_sums_to_zero, 15, 16);
    tcase_add_loop_test(tc, test_lsq_hvp_independent_of_x, 16, 20);
    tcase_add_loop_test(tc, test_lipschitz_bounds, 16, 20);
    tcase_add_test(tc, test_eval_hand_logistic);
    tcase_add_test(tc, test_eval_hand_softmax);
    tcase_add_test(tc, test_softmax_blocks);
    tcase_add_test(tc, test_logistic_extremes);
    tcase_add_test(tc, test_bind);
    tcase_add_test(tc, test_lipschitz);
    tcase_add_test(tc, test_mask_and_names);
    tcase_add_test(tc, test_quad_grad_hvp_fd);
    tcase_add_test(tc, test_quad_partition_and_solve);
    tcase_add_test(tc, test_quad_generate_checks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(model_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
