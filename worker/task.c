/* task.c - see task.h. */
#include <config.h>
#include "task.h"

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

typedef struct slice_job {
    const pd_task_ctx_t *t;
    const double *x;
    const uint32_t *idx;
    size_t n;
    double *grad;
    double loss;
    int rc;
} slice_job_t;

static void *run_slice(void *arg)
{
    slice_job_t *j = arg;
    j->rc = pd_model_grad_sum(j->t->model, j->t->train, j->x, j->idx, j->n, j->grad, &j->loss);
    return NULL;
}

int pd_task_grad(pd_task_ctx_t *t, const double *x, uint64_t seed, uint32_t batch,
                 double *grad, double *loss_sum)
{
    size_t dim = t->model->dim;
    unsigned nt = t->threads;
    slice_job_t jobs[64];
    pthread_t tids[64];
    int rc = 0;

    if (batch > t->idx_cap) {
        uint32_t *idx = realloc(t->idx, (size_t)batch * sizeof(*idx));
        if (idx == NULL) {
            return -ENOMEM;
        }
        t->idx = idx;
        t->idx_cap = batch;
    }
    pd_rng_sample(seed, t->train->m, batch, t->idx);
    if (nt > 64) {
        nt = 64;
    }
    if (nt > batch) {
        nt = batch > 0 ? batch : 1;
    }
    memset(grad, 0, dim * sizeof(double));
    /* Thread 0 writes into grad; the others into their own partials, added afterwards in
     * thread order. */
    for (unsigned i = 0; i < nt; i++) {
        size_t lo = (size_t)batch * i / nt, hi = (size_t)batch * (i + 1) / nt;
        jobs[i] = (slice_job_t){t, x, t->idx + lo, hi - lo, i == 0 ? grad : t->partials + (size_t)(i - 1) * dim, 0, 0};
        if (i > 0) {
            memset(jobs[i].grad, 0, dim * sizeof(double));
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
        for (size_t k = 0; k < dim; k++) {
            grad[k] += jobs[i].grad[k];
        }
        *loss_sum += jobs[i].loss;
    }
    return rc;
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
