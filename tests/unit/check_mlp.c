/* check_mlp.c - the MLP model (ALGORITHMS.md §6.4) against the oracles of §6.5, for both
 * activations and several shapes (no hidden layer, a single hidden unit, one wide hidden
 * layer, three hidden layers): gradients against central differences of the loss, HVPs
 * against central differences of the gradient, HVP symmetry, batch = sum of per-sample
 * results, dense = CSR, block boundaries, ReLU with no active unit, layout and mask, the
 * seeded initialisation, the layers parser and binding errors. float64 throughout. */
#include <config.h>
#include "model.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"
#include "vec_check.h"

typedef struct shape_case {
    const char *layers;
    pd_activation_t act;
} shape_case_t;

static const shape_case_t shapes[] = {
    {"6,3", PD_ACT_TANH},        {"6,1,3", PD_ACT_TANH},     {"6,5,3", PD_ACT_TANH},
    {"6,4,3,5,3", PD_ACT_TANH},  {"6,1,3", PD_ACT_RELU},     {"6,5,3", PD_ACT_RELU},
    {"6,4,3,5,3", PD_ACT_RELU},  {"6,8,2", PD_ACT_RELU},
};
#define N_SHAPES ((int)(sizeof(shapes) / sizeof(shapes[0])))

#define M_SAMPLES 30
#define P_FEATURES 6

typedef struct fixture {
    pd_data_t d;
    pd_model_t m;
    double *x;
} fixture_t;

/* Dense samples (about 30% zeros, so the CSR copy differs) with class labels covering every
 * class in the first samples; the model bound and started from a random point. */
static void fixture_init(fixture_t *f, const shape_case_t *sc, size_t m, uint64_t seed)
{
    pd_mlp_shape_t shape = {0};
    char err[256] = "";
    pd_rng_t r;

    memset(f, 0, sizeof(*f));
    ck_assert_int_eq(pd_mlp_parse_layers(sc->layers, &shape, err, sizeof(err)), 0);
    shape.activation = sc->act;
    size_t C = shape.width[shape.n_layers];
    pd_rng_seed(&r, seed);
    f->d.m = m;
    f->d.p = P_FEATURES;
    f->d.x = vec_new(m * P_FEATURES);
    f->d.y = vec_new(m);
    for (size_t k = 0; k < m * P_FEATURES; k++) {
        f->d.x[k] = pd_rng_uniform(&r) < 0.3 ? 0.0 : pd_rng_normal(&r);
    }
    for (size_t i = 0; i < m; i++) {
        f->d.y[i] = i < C ? (double)i : (double)pd_rng_below(&r, C);
    }
    ck_assert_msg(pd_model_bind_mlp(&f->m, &f->d, &shape, err, sizeof(err)) == 0, "%s", err);
    f->x = vec_new(f->m.dim);
    random_vec(seed + 1, f->x, f->m.dim, 0.7);
}

static void fixture_free(fixture_t *f)
{
    free(f->d.x);
    free(f->d.y);
    free(f->x);
}

static uint32_t *all_indices(size_t m)
{
    uint32_t *idx = calloc(m, sizeof(*idx));
    ck_assert_ptr_nonnull(idx);
    for (size_t i = 0; i < m; i++) {
        idx[i] = (uint32_t)i;
    }
    return idx;
}

static double loss_at(const fixture_t *f, const uint32_t *idx, size_t n, const double *x)
{
    double l = 0.0;
    ck_assert_int_eq(pd_model_loss_sum(&f->m, &f->d, x, idx, n, &l), 0);
    return l;
}

static void grad_at(const fixture_t *f, const uint32_t *idx, size_t n, const double *x,
                    double *g)
{
    double l;
    memset(g, 0, f->m.dim * sizeof(*g));
    ck_assert_int_eq(pd_model_grad_sum(&f->m, &f->d, x, idx, n, g, &l), 0);
}

/* §6.5 oracle 1: every coordinate of the gradient against (f(x+e) - f(x-e)) / 2e. */
START_TEST(test_grad_fd)
{
    fixture_t f;
    fixture_init(&f, &shapes[_i], M_SAMPLES, 100 + (uint64_t)_i);
    uint32_t *idx = all_indices(M_SAMPLES);
    size_t dim = f.m.dim;
    double *g = vec_new(dim), *xp = vec_new(dim);
    const double eps = 1e-6;

    grad_at(&f, idx, M_SAMPLES, f.x, g);
    double scale = fmax(1.0, max_abs(g, dim));
    for (size_t k = 0; k < dim; k++) {
        memcpy(xp, f.x, dim * sizeof(*xp));
        xp[k] += eps;
        double up = loss_at(&f, idx, M_SAMPLES, xp);
        xp[k] -= 2 * eps;
        double down = loss_at(&f, idx, M_SAMPLES, xp);
        double fd = (up - down) / (2 * eps);
        ck_assert_msg(fabs(fd - g[k]) <= 1e-6 * scale, "%s: coordinate %zu grad %.12g fd %.12g",
                      shapes[_i].layers, k, g[k], fd);
    }
    free(g);
    free(xp);
    free(idx);
    fixture_free(&f);
}
END_TEST

/* §6.5 oracles 1 and 2: Hv against (g(x+ev) - g(x-ev)) / 2e, and u^T(Hv) = v^T(Hu). */
START_TEST(test_hvp_fd_and_symmetry)
{
    fixture_t f;
    fixture_init(&f, &shapes[_i], M_SAMPLES, 200 + (uint64_t)_i);
    uint32_t *idx = all_indices(M_SAMPLES);
    size_t dim = f.m.dim;
    double *v = vec_new(dim), *u = vec_new(dim), *hv = vec_new(dim), *hu = vec_new(dim);
    double *gp = vec_new(dim), *gm = vec_new(dim), *xp = vec_new(dim);
    const double eps = 1e-5;

    random_vec(7, v, dim, 1.0);
    random_vec(8, u, dim, 1.0);
    ck_assert_int_eq(pd_model_hvp_sum(&f.m, &f.d, f.x, v, idx, M_SAMPLES, hv), 0);
    ck_assert_int_eq(pd_model_hvp_sum(&f.m, &f.d, f.x, u, idx, M_SAMPLES, hu), 0);
    for (size_t k = 0; k < dim; k++) {
        xp[k] = f.x[k] + eps * v[k];
    }
    grad_at(&f, idx, M_SAMPLES, xp, gp);
    for (size_t k = 0; k < dim; k++) {
        xp[k] = f.x[k] - eps * v[k];
    }
    grad_at(&f, idx, M_SAMPLES, xp, gm);
    double scale = fmax(1.0, max_abs(hv, dim));
    for (size_t k = 0; k < dim; k++) {
        double fd = (gp[k] - gm[k]) / (2 * eps);
        ck_assert_msg(fabs(fd - hv[k]) <= 1e-6 * scale, "%s: coordinate %zu Hv %.12g fd %.12g",
                      shapes[_i].layers, k, hv[k], fd);
    }
    double a = dot(u, hv, dim), b = dot(v, hu, dim);
    ck_assert_msg(fabs(a - b) <= 1e-10 * fmax(1.0, fabs(a)), "u.Hv %.17g v.Hu %.17g", a, b);
    free(v);
    free(u);
    free(hv);
    free(hu);
    free(gp);
    free(gm);
    free(xp);
    free(idx);
    fixture_free(&f);
}
END_TEST

/* A batch result is the sum of the per-sample results (gradient, loss and HVP), with
 * repeated indices counted each time. */
START_TEST(test_batch_is_sum_of_samples)
{
    fixture_t f;
    fixture_init(&f, &shapes[_i], M_SAMPLES, 300 + (uint64_t)_i);
    size_t dim = f.m.dim;
    uint32_t idx[12];
    double *g = vec_new(dim), *gs = vec_new(dim), *hv = vec_new(dim), *hs = vec_new(dim);
    double *v = vec_new(dim), loss, ls = 0.0;

    for (size_t i = 0; i < 12; i++) {
        idx[i] = (uint32_t)((i * 7) % M_SAMPLES);
    }
    idx[11] = idx[3]; /* a repeat */
    random_vec(9, v, dim, 1.0);
    ck_assert_int_eq(pd_model_grad_sum(&f.m, &f.d, f.x, idx, 12, g, &loss), 0);
    ck_assert_int_eq(pd_model_hvp_sum(&f.m, &f.d, f.x, v, idx, 12, hv), 0);
    for (size_t i = 0; i < 12; i++) {
        double l;
        ck_assert_int_eq(pd_model_grad_sum(&f.m, &f.d, f.x, &idx[i], 1, gs, &l), 0);
        ck_assert_int_eq(pd_model_hvp_sum(&f.m, &f.d, f.x, v, &idx[i], 1, hs), 0);
        ls += l;
    }
    ck_assert_double_eq_tol(loss, ls, 1e-12 * fmax(1.0, fabs(ls)));
    ck_assert_double_le(max_diff(g, gs, dim), 1e-12 * fmax(1.0, max_abs(g, dim)));
    ck_assert_double_le(max_diff(hv, hs, dim), 1e-12 * fmax(1.0, max_abs(hv, dim)));
    free(g);
    free(gs);
    free(hv);
    free(hs);
    free(v);
    fixture_free(&f);
}
END_TEST

/* More samples than one block (PD_MODEL_BLOCK_ROWS = 256), as CSR and dense: the same
 * gradient, loss and HVP, and eval over a range equals the loss over those indices. */
START_TEST(test_blocks_sparse_and_eval)
{
    const size_t m = 600;
    fixture_t f;
    fixture_init(&f, &shapes[3], m, 400);
    size_t dim = f.m.dim, nnz = 0;
    uint32_t *idx = all_indices(m);
    pd_data_t sp = {.m = m, .p = P_FEATURES, .sparse = true, .y = f.d.y};
    double *g = vec_new(dim), *gs = vec_new(dim), *hv = vec_new(dim), *hs = vec_new(dim);
    double *v = vec_new(dim), l1, l2, le;
    uint64_t correct = 0;

    sp.row_ptr = calloc(m + 1, sizeof(size_t));
    sp.col = calloc(m * P_FEATURES, sizeof(uint32_t));
    sp.val = vec_new(m * P_FEATURES);
    ck_assert_ptr_nonnull(sp.row_ptr);
    ck_assert_ptr_nonnull(sp.col);
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < P_FEATURES; j++) {
            double a = f.d.x[i * P_FEATURES + j];
            if (a != 0.0) {
                sp.col[nnz] = (uint32_t)j;
                sp.val[nnz++] = a;
            }
        }
        sp.row_ptr[i + 1] = nnz;
    }
    sp.nnz = nnz;
    random_vec(10, v, dim, 1.0);
    ck_assert_int_eq(pd_model_grad_sum(&f.m, &f.d, f.x, idx, m, g, &l1), 0);
    ck_assert_int_eq(pd_model_grad_sum(&f.m, &sp, f.x, idx, m, gs, &l2), 0);
    ck_assert_int_eq(pd_model_hvp_sum(&f.m, &f.d, f.x, v, idx, m, hv), 0);
    ck_assert_int_eq(pd_model_hvp_sum(&f.m, &sp, f.x, v, idx, m, hs), 0);
    ck_assert_double_eq_tol(l1, l2, 1e-12 * fabs(l1));
    ck_assert_double_le(max_diff(g, gs, dim), 1e-12 * fmax(1.0, max_abs(g, dim)));
    ck_assert_double_le(max_diff(hv, hs, dim), 1e-12 * fmax(1.0, max_abs(hv, dim)));
    ck_assert_int_eq(pd_model_eval_range(&f.m, &f.d, f.x, 100, 500, &le, &correct), 0);
    ck_assert_double_eq_tol(le, loss_at(&f, idx + 100, 400, f.x), 1e-12 * fabs(le));
    ck_assert_uint_le(correct, 400);
    free(sp.row_ptr);
    free(sp.col);
    free(sp.val);
    free(g);
    free(gs);
    free(hv);
    free(hs);
    free(v);
    free(idx);
    fixture_free(&f);
}
END_TEST

/* §6.5 oracle 6: ReLU with every hidden pre-activation negative - the hidden units are off,
 * so the HVP on the hidden layers' weights and biases is exactly 0. */
START_TEST(test_relu_inactive_hvp_zero)
{
    fixture_t f;
    fixture_init(&f, &shapes[5], M_SAMPLES, 500);
    size_t dim = f.m.dim, hidden = 5 * (6 + 1);
    uint32_t *idx = all_indices(M_SAMPLES);
    double *v = vec_new(dim), *hv = vec_new(dim);

    for (size_t k = 0; k < 5 * 6; k++) {
        f.x[k] = 0.0;
    }
    for (size_t k = 5 * 6; k < hidden; k++) {
        f.x[k] = -1.0; /* b_1 < 0 with W_1 = 0: z_1 = -1 for every sample */
    }
    random_vec(11, v, dim, 1.0);
    ck_assert_int_eq(pd_model_hvp_sum(&f.m, &f.d, f.x, v, idx, M_SAMPLES, hv), 0);
    ck_assert_double_eq(max_abs(hv, hidden), 0.0);
    free(v);
    free(hv);
    free(idx);
    fixture_free(&f);
}
END_TEST

/* With no hidden layer the MLP is softmax regression with a bias: the same loss and the
 * same gradient once the layouts (W then b, against rows of (w, b)) are matched. */
START_TEST(test_no_hidden_layer_is_softmax)
{
    fixture_t f;
    fixture_init(&f, &shapes[0], M_SAMPLES, 600);
    pd_model_t sm;
    char err[256];
    size_t C = 3, p = P_FEATURES, dim = f.m.dim;
    uint32_t *idx = all_indices(M_SAMPLES);
    double *xs = vec_new(dim), *g = vec_new(dim), *gs = vec_new(dim), l, ls;

    ck_assert_int_eq(pd_model_bind(&sm, PD_MODEL_SOFTMAX, &f.d, C, true, err, sizeof(err)), 0);
    ck_assert_uint_eq(sm.dim, dim);
    for (size_t c = 0; c < C; c++) {
        memcpy(xs + c * (p + 1), f.x + c * p, p * sizeof(double));
        xs[c * (p + 1) + p] = f.x[C * p + c];
    }
    ck_assert_int_eq(pd_model_grad_sum(&f.m, &f.d, f.x, idx, M_SAMPLES, g, &l), 0);
    ck_assert_int_eq(pd_model_grad_sum(&sm, &f.d, xs, idx, M_SAMPLES, gs, &ls), 0);
    ck_assert_double_eq_tol(l, ls, 1e-12 * fabs(l));
    for (size_t c = 0; c < C; c++) {
        for (size_t j = 0; j < p; j++) {
            ck_assert_double_eq_tol(g[c * p + j], gs[c * (p + 1) + j], 1e-12);
        }
        ck_assert_double_eq_tol(g[C * p + c], gs[c * (p + 1) + p], 1e-12);
    }
    free(xs);
    free(g);
    free(gs);
    free(idx);
    fixture_free(&f);
}
END_TEST

/* Layout: dim, the tensor list (W_1, b_1, W_2, b_2, ...), the mask (1 on weights, 0 on
 * biases); initialisation: a function of the seed, zero biases, weights inside the
 * Glorot / He bound. */
START_TEST(test_layout_mask_init)
{
    fixture_t f;
    fixture_init(&f, &shapes[3], M_SAMPLES, 700); /* 6,4,3,5,3 tanh */
    size_t dim = f.m.dim, len[16];
    double *mask = vec_new(dim), *a = vec_new(dim), *b = vec_new(dim);

    ck_assert_uint_eq(dim, 4 * 7 + 3 * 5 + 5 * 4 + 3 * 6);
    ck_assert_uint_eq(pd_model_tensors(&f.m, len, 16), 8);
    ck_assert_uint_eq(len[0], 24);
    ck_assert_uint_eq(len[1], 4);
    ck_assert_uint_eq(len[6], 15);
    ck_assert_uint_eq(len[7], 3);
    pd_model_bias_mask(&f.m, mask);
    ck_assert_double_eq(mask[23], 1.0);
    ck_assert_double_eq(mask[24], 0.0);
    ck_assert_double_eq(mask[27], 0.0);
    ck_assert_double_eq(mask[28], 1.0);
    ck_assert_double_eq(mask[dim - 1], 0.0);
    pd_model_init_params(&f.m, 42, a);
    pd_model_init_params(&f.m, 42, b);
    ck_assert_int_eq(memcmp(a, b, dim * sizeof(double)), 0);
    pd_model_init_params(&f.m, 43, b);
    ck_assert_int_ne(memcmp(a, b, dim * sizeof(double)), 0);
    double bound1 = sqrt(6.0 / (6 + 4));
    for (size_t k = 0; k < dim; k++) {
        if (mask[k] == 0.0) {
            ck_assert_double_eq(a[k], 0.0);
        }
    }
    ck_assert_double_le(max_abs(a, 24), bound1);
    ck_assert_double_gt(max_abs(a, 24), 0.5 * bound1);
    free(mask);
    free(a);
    free(b);
    fixture_free(&f);
}
END_TEST

START_TEST(test_parse_and_bind_errors)
{
    pd_mlp_shape_t s;
    pd_model_t m;
    char err[256];
    double x[4] = {0, 1, 2, 3}, y[2] = {0, 1}, ybad[2] = {0, 5};
    pd_data_t d = {.m = 2, .p = 2, .x = x, .y = y};

    ck_assert_int_eq(pd_mlp_parse_layers("784,128,10", &s, err, sizeof(err)), 0);
    ck_assert_uint_eq(s.n_layers, 2);
    ck_assert_uint_eq(s.width[1], 128);
    ck_assert_int_eq(pd_mlp_parse_layers("784", &s, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(pd_mlp_parse_layers("784,,10", &s, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(pd_mlp_parse_layers("784,0,10", &s, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(pd_mlp_parse_layers("784,-3,10", &s, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(pd_mlp_parse_layers("784,128,10,", &s, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(pd_mlp_parse_layers("784,128x,10", &s, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(pd_mlp_parse_layers("784,128,1", &s, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(pd_mlp_parse_layers("1,1,1,1,1,1,1,1,1,2", &s, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(pd_mlp_parse_layers("2,99999999999,2", &s, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(pd_mlp_parse_layers("3,4,2", &s, err, sizeof(err)), 0);
    ck_assert_int_eq(pd_model_bind_mlp(&m, &d, &s, err, sizeof(err)), PD_EDATA);
    ck_assert_ptr_nonnull(strstr(err, "features"));
    ck_assert_int_eq(pd_mlp_parse_layers("2,4,2", &s, err, sizeof(err)), 0);
    ck_assert_int_eq(pd_model_bind_mlp(&m, &d, &s, err, sizeof(err)), 0);
    ck_assert_uint_eq(m.dim, 4 * 3 + 2 * 5);
    d.y = ybad;
    ck_assert_int_eq(pd_model_bind_mlp(&m, &d, &s, err, sizeof(err)), PD_EDATA);
    ck_assert_int_eq(pd_model_kind_parse("mlp"), PD_MODEL_MLP);
}
END_TEST

static Suite *mlp_suite(void)
{
    Suite *s = suite_create("mlp");
    TCase *tc = tcase_create("oracles");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_grad_fd, 0, N_SHAPES);
    tcase_add_loop_test(tc, test_hvp_fd_and_symmetry, 0, N_SHAPES);
    tcase_add_loop_test(tc, test_batch_is_sum_of_samples, 0, N_SHAPES);
    tcase_add_test(tc, test_blocks_sparse_and_eval);
    tcase_add_test(tc, test_relu_inactive_hvp_zero);
    tcase_add_test(tc, test_no_hidden_layer_is_softmax);
    tcase_add_test(tc, test_layout_mask_init);
    tcase_add_test(tc, test_parse_and_bind_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mlp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
