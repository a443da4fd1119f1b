/* check_task_kind.c - the task table (common/task_kind.h) and the LOSS and HVP computations
 * behind it, on a small MLP: the sample-set rule (a training range, a drawn batch, positions
 * of a drawn batch), LOSS and HVP against the model called directly on the same indices,
 * an HVP of one batch split into position ranges and summed in range order equals the whole
 * batch, several threads equal one, and the rows' frames, costs and sample counts. */
#include <config.h>
#include "task_kind.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"
#include "vec_check.h"

#define M 90
#define P 5

typedef struct fixture {
    double x_data[M * P], y_data[M];
    pd_data_t d;
    pd_model_t m;
    double *x, *q;
} fixture_t;

static void fixture_init(fixture_t *f)
{
    pd_mlp_shape_t shape = {0};
    char err[200];
    pd_rng_t r;

    memset(f, 0, sizeof(*f));
    pd_rng_seed(&r, 5);
    for (size_t k = 0; k < M * P; k++) {
        f->x_data[k] = pd_rng_normal(&r);
    }
    for (size_t i = 0; i < M; i++) {
        f->y_data[i] = (double)(i % 3);
    }
    f->d = (pd_data_t){.m = M, .p = P, .x = f->x_data, .y = f->y_data};
    ck_assert_int_eq(pd_mlp_parse_layers("5,6,3", &shape, err, sizeof(err)), 0);
    ck_assert_int_eq(pd_model_bind_mlp(&f->m, &f->d, &shape, err, sizeof(err)), 0);
    f->x = calloc(f->m.dim, sizeof(double));
    f->q = calloc(f->m.dim, sizeof(double));
    ck_assert_ptr_nonnull(f->x);
    ck_assert_ptr_nonnull(f->q);
    pd_model_init_params(&f->m, 3, f->x);
    for (size_t k = 0; k < f->m.dim; k++) {
        f->q[k] = pd_rng_normal(&r);
    }
}

static void fixture_free(fixture_t *f)
{
    free(f->x);
    free(f->q);
}

/* Run kind k through its table row with the given sample fields. */
static int run_kind(pd_task_ctx_t *c, int k, uint64_t seed, uint32_t batch, uint64_t begin,
                    uint64_t end, const double *x, const double *y, double *out,
                    pd_task_io_t *io)
{
    pd_msg_t t;

    pd_msg_init(&t, PD_MSG_TASK);
    t.kind = (pd_task_kind_t)k;
    t.seed = seed;
    t.batch = batch;
    t.range_begin = begin;
    t.range_end = end;
    *io = (pd_task_io_t){.x = x, .y = y, .out = out};
    return pd_task_kind_info(k)->run(c, &t, io);
}

START_TEST(test_loss_matches_model)
{
    fixture_t f;
    pd_task_ctx_t c;
    pd_task_io_t io;
    uint32_t idx[40], drawn[25];
    double want;

    fixture_init(&f);
    ck_assert_int_eq(pd_task_ctx_init(&c, &f.m, &f.d, NULL, 1), 0);
    /* a training range */
    for (uint32_t i = 0; i < 40; i++) {
        idx[i] = 30 + i;
    }
    ck_assert_int_eq(run_kind(&c, PD_TASK_LOSS, 0, 0, 30, 70, f.x, NULL, NULL, &io), 0);
    ck_assert_int_eq(pd_model_loss_sum(&f.m, &f.d, f.x, idx, 40, &want), 0);
    ck_assert_uint_eq(io.samples, 40);
    ck_assert_double_eq(io.loss_sum, want);
    /* a drawn batch, and positions [5, 20) of it */
    pd_rng_sample(77, M, 25, drawn);
    ck_assert_int_eq(run_kind(&c, PD_TASK_LOSS, 77, 25, 0, 0, f.x, NULL, NULL, &io), 0);
    ck_assert_int_eq(pd_model_loss_sum(&f.m, &f.d, f.x, drawn, 25, &want), 0);
    ck_assert_uint_eq(io.samples, 25);
    ck_assert_double_eq(io.loss_sum, want);
    ck_assert_int_eq(run_kind(&c, PD_TASK_LOSS, 77, 25, 5, 20, f.x, NULL, NULL, &io), 0);
    ck_assert_int_eq(pd_model_loss_sum(&f.m, &f.d, f.x, drawn + 5, 15, &want), 0);
    ck_assert_uint_eq(io.samples, 15);
    ck_assert_double_eq(io.loss_sum, want);
    ck_assert_uint_eq(pd_task_expected_samples(PD_TASK_LOSS, 25, 5, 20), 15);
    ck_assert_uint_eq(pd_task_expected_samples(PD_TASK_LOSS, 25, 0, 0), 25);
    ck_assert_uint_eq(pd_task_expected_samples(PD_TASK_LOSS, 0, 30, 70), 40);
    pd_task_ctx_release(&c);
    fixture_free(&f);
}
END_TEST

START_TEST(test_hvp_split_equals_whole)
{
    fixture_t f;
    pd_task_ctx_t c1, c3;
    pd_task_io_t io;
    uint32_t drawn[60];

    fixture_init(&f);
    size_t dim = f.m.dim;
    double *whole = calloc(dim, sizeof(double)), *part = calloc(dim, sizeof(double));
    double *sum = calloc(dim, sizeof(double)), *direct = calloc(dim, sizeof(double));
    double *threaded = calloc(dim, sizeof(double));
    ck_assert_ptr_nonnull(threaded);
    ck_assert_int_eq(pd_task_ctx_init(&c1, &f.m, &f.d, NULL, 1), 0);
    ck_assert_int_eq(pd_task_ctx_init(&c3, &f.m, &f.d, NULL, 3), 0);
    ck_assert_int_eq(run_kind(&c1, PD_TASK_HVP, 9, 60, 0, 0, f.x, f.q, whole, &io), 0);
    ck_assert_uint_eq(io.samples, 60);
    pd_rng_sample(9, M, 60, drawn);
    ck_assert_int_eq(pd_model_hvp_sum(&f.m, &f.d, f.x, f.q, drawn, 60, direct), 0);
    ck_assert_double_eq(max_diff(whole, direct, dim), 0.0);
    /* positions [0,17) [17,40) [40,60) of the same batch, summed in range order */
    const uint64_t cut[] = {0, 17, 40, 60};
    for (size_t r = 0; r < 3; r++) {
        ck_assert_int_eq(run_kind(&c1, PD_TASK_HVP, 9, 60, cut[r], cut[r + 1], f.x, f.q, part, &io),
                         0);
        ck_assert_uint_eq(io.samples, cut[r + 1] - cut[r]);
        for (size_t k = 0; k < dim; k++) {
            sum[k] += part[k];
        }
    }
    ck_assert_double_le(max_diff(sum, whole, dim), 1e-12);
    ck_assert_int_eq(run_kind(&c3, PD_TASK_HVP, 9, 60, 0, 0, f.x, f.q, threaded, &io), 0);
    ck_assert_double_le(max_diff(threaded, whole, dim), 1e-12);
    pd_task_ctx_release(&c1);
    pd_task_ctx_release(&c3);
    free(whole);
    free(part);
    free(sum);
    free(direct);
    free(threaded);
    fixture_free(&f);
}
END_TEST

START_TEST(test_bad_sample_sets)
{
    fixture_t f;
    pd_task_ctx_t c;
    pd_task_io_t io;

    fixture_init(&f);
    double *out = calloc(f.m.dim, sizeof(double));
    ck_assert_int_eq(pd_task_ctx_init(&c, &f.m, &f.d, NULL, 1), 0);
    ck_assert_int_eq(run_kind(&c, PD_TASK_LOSS, 0, 0, 10, 10, f.x, NULL, NULL, &io), PD_EDIM);
    ck_assert_int_eq(run_kind(&c, PD_TASK_LOSS, 0, 0, 0, M + 1, f.x, NULL, NULL, &io), PD_EDIM);
    ck_assert_int_eq(run_kind(&c, PD_TASK_HVP, 1, 20, 10, 21, f.x, f.q, out, &io), PD_EDIM);
    ck_assert_int_eq(run_kind(&c, PD_TASK_HVP, 1, 20, 12, 12, f.x, f.q, out, &io), PD_EDIM);
    pd_task_ctx_release(&c);
    free(out);
    fixture_free(&f);
}
END_TEST

/* The rows the worker, paramd-sim and the daemon's checks rely on. */
START_TEST(test_rows)
{
    ck_assert_ptr_null(pd_task_kind_info(PD_TASK_NONE));
    ck_assert_ptr_null(pd_task_kind_info(PD_TASK__COUNT));
    for (int k = PD_TASK_NONE + 1; k < PD_TASK__COUNT; k++) {
        const pd_task_kind_info_t *r = pd_task_kind_info(k);
        ck_assert_ptr_nonnull(r);
        ck_assert_ptr_nonnull(r->run);
        ck_assert_ptr_nonnull(r->name);
    }
    ck_assert_int_eq(pd_task_kind_info(PD_TASK_HVP)->frame2, PD_FRAME2_VECTOR);
    ck_assert_int_eq(pd_task_kind_info(PD_TASK_GRAD_DIFF)->frame2, PD_FRAME2_POINT);
    ck_assert_int_eq(pd_task_kind_info(PD_TASK_LOSS)->result_frames, 0);
    ck_assert_int_eq(pd_task_kind_info(PD_TASK_HVP)->result_frames, 1);
    /* simulated costs of ALGORITHMS.md §0.5 */
    ck_assert_double_eq(pd_task_kind_info(PD_TASK_GRAD)->cost_per_sample, 1.0);
    ck_assert_double_eq(pd_task_kind_info(PD_TASK_GRAD_DIFF)->cost_per_sample, 2.0);
    ck_assert_double_eq(pd_task_kind_info(PD_TASK_HVP)->cost_per_sample, 2.0);
    ck_assert_double_eq(pd_task_kind_info(PD_TASK_LOSS)->cost_per_sample, 0.5);
}
END_TEST

/* gradient_equivalents_total (the unit bench/apts compares methods in) from a RESULT's kind
 * and sample count; a LOCAL_TR's from its reported passes; monitoring costs nothing. */
START_TEST(test_result_cost)
{
    pd_msg_t r = {.type = PD_MSG_RESULT, .n_samples = 10};

    r.kind = PD_TASK_GRAD;
    ck_assert_double_eq(pd_task_result_cost(&r), 10.0);
    r.kind = PD_TASK_GRAD_DIFF;
    ck_assert_double_eq(pd_task_result_cost(&r), 20.0);
    r.kind = PD_TASK_HVP;
    ck_assert_double_eq(pd_task_result_cost(&r), 20.0);
    r.kind = PD_TASK_LOSS;
    ck_assert_double_eq(pd_task_result_cost(&r), 5.0);
    r.kind = PD_TASK_EVAL;
    ck_assert_double_eq(pd_task_result_cost(&r), 0.0);
    r.kind = PD_TASK_LOCAL_TR;
    ck_assert_double_eq(pd_task_result_cost(&r), 0.0); /* no LocalTr: nothing reported */
    r.has_local_tr = true;
    r.local_tr.grad_evals = 3;
    r.local_tr.loss_evals = 4;
    ck_assert_double_eq(pd_task_result_cost(&r), 50.0);
    r.kind = PD_TASK__COUNT;
    ck_assert_double_eq(pd_task_result_cost(&r), 0.0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("task_kind");
    TCase *tc = tcase_create("kinds");
    tcase_add_test(tc, test_loss_matches_model);
    tcase_add_test(tc, test_hvp_split_equals_whole);
    tcase_add_test(tc, test_bad_sample_sets);
    tcase_add_test(tc, test_rows);
    tcase_add_test(tc, test_result_cost);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
