/* compute.c - see compute.h. */
#include <config.h>
#include "compute.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"

int pd_task_ctx_init(pd_task_ctx_t *t, const pd_model_t *model, const pd_data_t *train,
                     const pd_data_t *test, unsigned threads)
{
    memset(t, 0, sizeof(*t));
    t->model = model;
    t->train = train;
    t->test = test;
    t->threads = threads > 0 ? threads : 1;
    if (t->threads > 1) {
        t->partials = calloc((size_t)(t->threads - 1) * model->dim, sizeof(double));
        if (t->partials == NULL) {
            return -ENOMEM;
        }
    }
    return 0;
}

void pd_task_ctx_release(pd_task_ctx_t *t)
{
    free(t->idx);
    free(t->partials);
    t->idx = NULL;
    t->partials = NULL;
}

/* What a slice of a sum computes: gradients (out = the gradient sum, loss set), HVPs along v
 * (out = the HVP sum), or losses only (no out). */
typedef enum slice_op { SLICE_GRAD, SLICE_HVP, SLICE_LOSS } slice_op_t;

typedef struct slice_job {
    const pd_task_ctx_t *t;
    slice_op_t op;
    const double *x;
    const double *v;
    const uint32_t *idx;
    size_t n;
    double *out;
    double loss;
    int rc;
} slice_job_t;

static void *run_slice(void *arg)
{
    slice_job_t *j = arg;
    const pd_model_t *m = j->t->model;

    switch (j->op) {
    case SLICE_GRAD:
        j->rc = pd_model_grad_sum(m, j->t->train, j->x, j->idx, j->n, j->out, &j->loss);
        break;
    case SLICE_HVP:
        j->rc = pd_model_hvp_sum(m, j->t->train, j->x, j->v, j->idx, j->n, j->out);
        break;
    case SLICE_LOSS:
        j->rc = pd_model_loss_sum(m, j->t->train, j->x, j->idx, j->n, &j->loss);
        break;
    }
    return NULL;
}

static int reserve_idx(pd_task_ctx_t *t, size_t n)
{
    if (n > t->idx_cap) {
        uint32_t *idx = realloc(t->idx, (n > 0 ? n : 1) * sizeof(*idx));
        if (idx == NULL) {
            return -ENOMEM;
        }
        t->idx = idx;
        t->idx_cap = n;
    }
    return 0;
}

/* out = the sum over t->idx[0 .. batch) of op's per-sample results, split over the threads.
 * Thread 0 writes into out, the others into their own partials, added afterwards in thread
 * order, so a fixed thread count gives the same bits every time. */
static int sum_slices(pd_task_ctx_t *t, slice_op_t op, const double *x, const double *v,
                      size_t batch, const uint64_t *keys, size_t n_keys, double *out,
                      double *loss_sum)
{
    size_t dim = op == SLICE_LOSS ? 0 : t->model->dim;
    unsigned nt = t->threads;
    slice_job_t jobs[64];
    pthread_t tids[64];
    int rc = 0;

    if (nt > 64) {
        nt = 64;
    }
    if (nt > batch) {
        nt = batch > 0 ? (unsigned)batch : 1;
    }
    for (unsigned i = 0; i < nt; i++) {
        size_t lo = (size_t)batch * i / nt, hi = (size_t)batch * (i + 1) / nt;
        double *o = dim == 0 ? NULL : (i == 0 ? out : t->partials + (size_t)(i - 1) * dim);
        jobs[i] = (slice_job_t){t, op, x, v, t->idx + lo, hi - lo, o, 0, 0};
        if (o != NULL && keys != NULL) {
            for (size_t k = 0; k < n_keys; k++) {
                o[keys[k]] = 0.0; /* nothing else is written, so nothing else is read */
            }
        } else if (o != NULL) {
            memset(o, 0, dim * sizeof(double));
        }
    }
    for (unsigned i = 1; i < nt; i++) {
        if (pthread_create(&tids[i], NULL, run_slice, &jobs[i]) != 0) {
            /* Out of threads: compute this slice here instead. */
            tids[i] = pthread_self();
            run_slice(&jobs[i]);
        }
    }
    run_slice(&jobs[0]);
    *loss_sum = jobs[0].loss;
    rc = jobs[0].rc;
    for (unsigned i = 1; i < nt; i++) {
        if (!pthread_equal(tids[i], pthread_self())) {
            pthread_join(tids[i], NULL);
        }
        if (jobs[i].rc != 0 && rc == 0) {
            rc = jobs[i].rc;
        }
        if (keys != NULL) {
            for (size_t k = 0; k < n_keys; k++) {
                out[keys[k]] += jobs[i].out[keys[k]];
            }
        } else {
            for (size_t k = 0; k < dim; k++) {
                out[k] += jobs[i].out[k];
            }
        }
        *loss_sum += jobs[i].loss;
    }
    /* Packed in key order: keys[k] >= k, so each value is read before anything lands on it. */
    for (size_t k = 0; keys != NULL && k < n_keys; k++) {
        out[k] = out[keys[k]];
    }
    return rc;
}

static int sum_idx(pd_task_ctx_t *t, const double *x, size_t batch, double *grad,
                   double *loss_sum)
{
    return sum_slices(t, SLICE_GRAD, x, NULL, batch, NULL, 0, grad, loss_sum);
}

int pd_task_samples(pd_task_ctx_t *t, const pd_sample_set_t *set, size_t *n_out)
{
    uint64_t m = t->train->m, n;
    int rc;

    if (set->batch == 0) {
        /* training samples [begin, end) */
        if (set->begin >= set->end || set->end > m || set->end - set->begin > UINT32_MAX) {
            return PD_EDIM;
        }
        n = set->end - set->begin;
        if ((rc = reserve_idx(t, (size_t)n)) != 0) {
            return rc;
        }
        for (uint64_t j = 0; j < n; j++) {
            t->idx[j] = (uint32_t)(set->begin + j);
        }
        *n_out = (size_t)n;
        return 0;
    }
    /* the drawn batch, or positions [begin, end) of it (one batch split over workers) */
    if (set->end > set->batch || set->begin > set->end ||
        (set->end > 0 && set->begin == set->end)) {
        return PD_EDIM;
    }
    if ((rc = reserve_idx(t, set->batch)) != 0) {
        return rc;
    }
    pd_rng_sample(set->seed, m, set->batch, t->idx);
    n = set->batch;
    if (set->end > 0) {
        n = set->end - set->begin;
        memmove(t->idx, t->idx + set->begin, (size_t)n * sizeof(*t->idx));
    }
    *n_out = (size_t)n;
    return 0;
}

int pd_task_hvp(pd_task_ctx_t *t, const double *x, const double *q, const pd_sample_set_t *set,
                double *hv, size_t *n_samples)
{
    double unused;
    int rc = pd_task_samples(t, set, n_samples);

    if (rc != 0) {
        return rc;
    }
    return sum_slices(t, SLICE_HVP, x, q, *n_samples, NULL, 0, hv, &unused);
}

int pd_task_grad_set(pd_task_ctx_t *t, const double *x, const pd_sample_set_t *set,
                     double *grad, double *loss_sum, size_t *n_samples)
{
    int rc = pd_task_samples(t, set, n_samples);

    if (rc != 0) {
        return rc;
    }
    return sum_idx(t, x, *n_samples, grad, loss_sum);
}

int pd_task_grad_keys(pd_task_ctx_t *t, const double *x, const pd_sample_set_t *set,
                      const uint64_t *keys, size_t n_keys, double *grad, double *loss_sum,
                      size_t *n_samples)
{
    int rc = pd_task_samples(t, set, n_samples);

    if (rc != 0) {
        return rc;
    }
    return sum_slices(t, SLICE_GRAD, x, NULL, *n_samples, keys, n_keys, grad, loss_sum);
}

int pd_task_loss(pd_task_ctx_t *t, const double *x, const pd_sample_set_t *set,
                 double *loss_sum, size_t *n_samples)
{
    int rc = pd_task_samples(t, set, n_samples);

    if (rc != 0) {
        return rc;
    }
    return sum_slices(t, SLICE_LOSS, x, NULL, *n_samples, NULL, 0, NULL, loss_sum);
}

int pd_task_grad(pd_task_ctx_t *t, const double *x, uint64_t seed, uint32_t batch,
                 double *grad, double *loss_sum)
{
    int rc = reserve_idx(t, batch);

    if (rc != 0) {
        return rc;
    }
    pd_rng_sample(seed, t->train->m, batch, t->idx);
    return sum_idx(t, x, batch, grad, loss_sum);
}

int pd_task_grad_range(pd_task_ctx_t *t, const double *x, uint64_t begin, uint64_t end,
                       double *grad, double *loss_sum)
{
    int rc;

    if (begin >= end || end > t->train->m || end - begin > UINT32_MAX) {
        return PD_EDIM;
    }
    rc = reserve_idx(t, (size_t)(end - begin));
    if (rc != 0) {
        return rc;
    }
    for (uint64_t j = begin; j < end; j++) {
        t->idx[j - begin] = (uint32_t)j;
    }
    return sum_idx(t, x, (size_t)(end - begin), grad, loss_sum);
}

int pd_task_grad_diff(pd_task_ctx_t *t, const double *x, const double *y, uint64_t seed,
                      uint32_t batch, double *diff, double *scratch, double *loss_sum)
{
    size_t dim = t->model->dim;
    double loss_y = 0;
    int rc = reserve_idx(t, batch);

    if (rc != 0) {
        return rc;
    }
    /* Both sums over the same drawn indices: the difference then has the small variance
     * the PAGE estimator relies on (ALGORITHMS.md §3.5). */
    pd_rng_sample(seed, t->train->m, batch, t->idx);
    rc = sum_idx(t, x, batch, diff, loss_sum);
    if (rc == 0) {
        rc = sum_idx(t, y, batch, scratch, &loss_y);
    }
    if (rc != 0) {
        return rc;
    }
    for (size_t k = 0; k < dim; k++) {
        diff[k] -= scratch[k];
    }
    return 0;
}

int pd_task_eval(pd_task_ctx_t *t, const double *x, uint64_t begin, uint64_t end, uint64_t tb,
                 uint64_t te, double *loss_sum, uint64_t *correct)
{
    double test_loss = 0;
    uint64_t train_correct = 0;
    int rc;

    *loss_sum = 0;
    *correct = 0;
    if (end > t->train->m || begin > end) {
        return PD_EDIM;
    }
    rc = pd_model_eval_range(t->model, t->train, x, begin, end, loss_sum, &train_correct);
    if (rc != 0 || te == tb) {
        return rc;
    }
    if (t->test == NULL || te > t->test->m || tb > te) {
        return PD_EDIM;
    }
    return pd_model_eval_range(t->model, t->test, x, tb, te, &test_loss, correct);
}
