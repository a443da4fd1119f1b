/* model_keys.c - the coordinates a minibatch of sparse samples touches (pd_model_batch_keys):
 * what a GRAD task with a key list carries, and where its gradient can be nonzero. */
#include <config.h>
#include "model.h"

#include <errno.h>
#include <stdlib.h>

#include "error.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* The model's row of weights per class: the feature's key in class c is c * stride + j. */
static bool linear_sparse(const pd_model_t *m, const pd_data_t *d)
{
    return d->sparse && (m->kind == PD_MODEL_LOGISTIC || m->kind == PD_MODEL_SOFTMAX ||
                         m->kind == PD_MODEL_LSQ);
}

size_t pd_model_batch_keys_cap(const pd_model_t *m, const pd_data_t *d, const uint32_t *idx,
                               size_t n)
{
    size_t cols = m->bias ? 1 : 0;

    if (!linear_sparse(m, d)) {
        return 0;
    }
    for (size_t k = 0; k < n; k++) {
        if (idx[k] < d->m) {
            cols += d->row_ptr[idx[k] + 1] - d->row_ptr[idx[k]];
        }
    }
    return cols * m->n_classes;
}

int pd_model_batch_keys(const pd_model_t *m, const pd_data_t *d, const uint32_t *idx, size_t n,
                        uint64_t *keys, size_t cap, size_t *n_keys)
{
    size_t stride = m->p + (m->bias ? 1 : 0), u = 0, cols = 0;

    if (!linear_sparse(m, d)) {
        return -EINVAL;
    }
    for (size_t k = 0; k < n; k++) {
        if (idx[k] >= d->m) {
            return PD_EDIM;
        }
        for (size_t e = d->row_ptr[idx[k]]; e < d->row_ptr[idx[k] + 1]; e++) {
            if (cols == cap) {
                return PD_EDIM;
            }
            keys[cols++] = d->col[e];
        }
    }
    qsort(keys, cols, sizeof(*keys), cmp_u64);
    for (size_t k = 0; k < cols; k++) {
        if (u == 0 || keys[k] != keys[u - 1]) {
            keys[u++] = keys[k];
        }
    }
    if (m->bias) {
        if (u == cap) {
            return PD_EDIM;
        }
        keys[u++] = m->p; /* the bias column follows every feature */
    }
    if (u * m->n_classes > cap) {
        return PD_EDIM;
    }
    /* Class c's copy of the columns goes to [c u, (c + 1) u): from the last class down, so
     * the columns in [0, u) are read before class 0 (unchanged) is reached. */
    for (size_t c = m->n_classes; c-- > 1;) {
        for (size_t j = 0; j < u; j++) {
            keys[c * u + j] = c * stride + keys[j];
        }
    }
    *n_keys = u * m->n_classes;
    return 0;
}
