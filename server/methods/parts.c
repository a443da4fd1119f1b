/* parts.c - see parts.h. */
#include <config.h>
#include "parts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { PART_PENDING = 0, PART_ASSIGNED, PART_DONE };

/* Grows *v to n elements of size `size`; on failure *v is kept (pd_parts_free frees it). */
static int grow(void *v, size_t n, size_t size)
{
    void *g = realloc(*(void **)v, n > 0 ? n * size : 1);

    if (g == NULL) {
        return -ENOMEM;
    }
    *(void **)v = g;
    return 0;
}

int pd_parts_start(pd_parts_t *p, uint32_t n, uint64_t total, size_t dim)
{
    if (n == 0 || n > total) {
        return -EINVAL;
    }
    if (n > p->cap) {
        if (grow(&p->state, n, 1) != 0 || grow(&p->samples, n, sizeof(uint64_t)) != 0 ||
            grow(&p->loss, n, sizeof(double)) != 0) {
            p->n = 0;
            return -ENOMEM;
        }
        p->cap = n;
    }
    if ((size_t)n * dim > p->sums_cap) {
        if (grow(&p->sums, (size_t)n * dim, sizeof(double)) != 0) {
            p->n = 0;
            return -ENOMEM;
        }
        p->sums_cap = (size_t)n * dim;
    }
    p->round++;
    p->n = n;
    p->dim = dim;
    p->done = 0;
    p->total = total;
    memset(p->state, PART_PENDING, n);
    return 0;
}

void pd_parts_range(const pd_parts_t *p, uint32_t i, uint64_t *begin, uint64_t *end)
{
    *begin = p->total * i / p->n;
    *end = p->total * (i + 1) / p->n;
}

int64_t pd_parts_take(pd_parts_t *p)
{
    for (uint32_t i = 0; i < p->n; i++) {
        if (p->state[i] == PART_PENDING) {
            p->state[i] = PART_ASSIGNED;
            return i;
        }
    }
    return -1;
}

void pd_parts_untake(pd_parts_t *p, uint32_t i)
{
    if (i < p->n && p->state[i] == PART_ASSIGNED) {
        p->state[i] = PART_PENDING;
    }
}

static bool in_flight(const pd_parts_t *p, const pd_task_t *t)
{
    return t->round == p->round && t->part < p->n && p->state[t->part] == PART_ASSIGNED;
}

bool pd_parts_accept(pd_parts_t *p, const pd_task_t *t, const double *v, uint64_t samples,
                     double loss)
{
    if (!in_flight(p, t)) {
        return false;
    }
    if (p->dim > 0) {
        memcpy(p->sums + (size_t)t->part * p->dim, v, p->dim * sizeof(double));
    }
    p->samples[t->part] = samples;
    p->loss[t->part] = loss;
    p->state[t->part] = PART_DONE;
    p->done++;
    return true;
}

bool pd_parts_give_back(pd_parts_t *p, const pd_task_t *t)
{
    if (!in_flight(p, t)) {
        return false;
    }
    p->state[t->part] = PART_PENDING;
    return true;
}

bool pd_parts_complete(const pd_parts_t *p)
{
    return p->n > 0 && p->done == p->n;
}

void pd_parts_sum(const pd_parts_t *p, double *out, uint64_t *samples, double *loss)
{
    double l = 0.0;

    if (p->dim > 0) {
        memset(out, 0, p->dim * sizeof(double));
    }
    *samples = 0;
    for (uint32_t i = 0; i < p->n; i++) {
        const double *v = p->sums + (size_t)i * p->dim;
        for (size_t j = 0; j < p->dim; j++) {
            out[j] += v[j];
        }
        *samples += p->samples[i];
        l += p->loss[i];
    }
    if (loss != NULL) {
        *loss = l;
    }
}

void pd_parts_free(pd_parts_t *p)
{
    free(p->state);
    free(p->samples);
    free(p->loss);
    free(p->sums);
    memset(p, 0, sizeof(*p));
}
