/* parts.c - see parts.h. */
#include <config.h>
#include "parts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { PART_PENDING = 0, PART_ASSIGNED, PART_DONE };

int pd_parts_start(pd_parts_t *p, uint32_t n, uint64_t total, size_t dim)
{
    if (n == 0 || n > total) {
        return -EINVAL;
    }
    if (n > p->cap || dim != p->dim) {
        uint8_t *state = realloc(p->state, n);
        uint64_t *samples = state != NULL ? realloc(p->samples, n * sizeof(uint64_t)) : NULL;
        double *sums = samples != NULL ? realloc(p->sums, n * dim * sizeof(double)) : NULL;
        /* keep whatever realloc moved, so pd_parts_free frees it */
        p->state = state != NULL ? state : p->state;
        p->samples = samples != NULL ? samples : p->samples;
        p->sums = sums != NULL ? sums : p->sums;
        if (sums == NULL) {
            p->n = p->cap = 0;
            return -ENOMEM;
        }
        p->cap = n;
        p->dim = dim;
    }
    p->round++;
    p->n = n;
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

bool pd_parts_accept(pd_parts_t *p, const pd_task_t *t, const double *v, uint64_t samples)
{
    if (!in_flight(p, t)) {
        return false;
    }
    memcpy(p->sums + (size_t)t->part * p->dim, v, p->dim * sizeof(double));
    p->samples[t->part] = samples;
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

void pd_parts_sum(const pd_parts_t *p, double *out, uint64_t *samples)
{
    memset(out, 0, p->dim * sizeof(double));
    *samples = 0;
    for (uint32_t i = 0; i < p->n; i++) {
        const double *v = p->sums + (size_t)i * p->dim;
        for (size_t j = 0; j < p->dim; j++) {
            out[j] += v[j];
        }
        *samples += p->samples[i];
    }
}

void pd_parts_free(pd_parts_t *p)
{
    free(p->state);
    free(p->samples);
    free(p->sums);
    memset(p, 0, sizeof(*p));
}
