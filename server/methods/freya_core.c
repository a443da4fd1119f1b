/* freya_core.c - see freya_core.h. */
#include <config.h>
#include "freya_core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int pd_freya_pool_init(pd_freya_pool_t *p, uint32_t n_blocks)
{
    size_t n = n_blocks > 0 ? n_blocks : 1;

    memset(p, 0, sizeof(*p));
    p->n_blocks = n_blocks;
    p->free_ids = malloc(n * sizeof(uint32_t));
    p->busy_ids = malloc(n * sizeof(uint32_t));
    p->pos = malloc(n * sizeof(uint32_t));
    p->inflight = malloc(n * sizeof(uint32_t));
    p->received = malloc(n);
    if (p->free_ids == NULL || p->busy_ids == NULL || p->pos == NULL || p->inflight == NULL ||
        p->received == NULL) {
        pd_freya_pool_release(p);
        return -ENOMEM;
    }
    pd_freya_pool_reset(p);
    return 0;
}

void pd_freya_pool_release(pd_freya_pool_t *p)
{
    free(p->free_ids);
    free(p->busy_ids);
    free(p->pos);
    free(p->inflight);
    free(p->received);
    memset(p, 0, sizeof(*p));
}

void pd_freya_pool_reset(pd_freya_pool_t *p)
{
    for (uint32_t b = 0; b < p->n_blocks; b++) {
        p->free_ids[b] = b;
        p->pos[b] = b;
    }
    memset(p->inflight, 0, (size_t)p->n_blocks * sizeof(uint32_t));
    memset(p->received, 0, p->n_blocks);
    p->n_free = p->n_blocks;
    p->n_busy = 0;
    p->n_received = 0;
}

int64_t pd_freya_pool_draw(const pd_freya_pool_t *p, pd_rng_t *rng, bool dedupe)
{
    uint64_t r;

    if (p->n_free + p->n_busy == 0) {
        return -1;
    }
    if (dedupe && p->n_free > 0) {
        return p->free_ids[pd_rng_below(rng, p->n_free)];
    }
    if (dedupe) {
        return p->busy_ids[pd_rng_below(rng, p->n_busy)];
    }
    /* Uniform over the union: every block not yet received is equally likely (§3.4). */
    r = pd_rng_below(rng, (uint64_t)p->n_free + p->n_busy);
    return r < p->n_free ? p->free_ids[r] : p->busy_ids[r - p->n_free];
}

/* Remove b from the unordered set ids (swap in the last entry). */
static void set_remove(uint32_t *ids, uint32_t *n, uint32_t *pos, uint32_t b)
{
    uint32_t i = pos[b], last = ids[--*n];
    ids[i] = last;
    pos[last] = i;
}

static void set_add(uint32_t *ids, uint32_t *n, uint32_t *pos, uint32_t b)
{
    ids[*n] = b;
    pos[b] = (*n)++;
}

void pd_freya_pool_assign(pd_freya_pool_t *p, uint32_t b)
{
    if (b >= p->n_blocks) {
        return;
    }
    if (p->inflight[b]++ == 0 && !p->received[b]) {
        set_remove(p->free_ids, &p->n_free, p->pos, b);
        set_add(p->busy_ids, &p->n_busy, p->pos, b);
    }
}

void pd_freya_pool_unassign(pd_freya_pool_t *p, uint32_t b)
{
    if (b >= p->n_blocks || p->inflight[b] == 0) {
        return;
    }
    if (--p->inflight[b] == 0 && !p->received[b]) {
        set_remove(p->busy_ids, &p->n_busy, p->pos, b);
        set_add(p->free_ids, &p->n_free, p->pos, b);
    }
}

bool pd_freya_pool_receive(pd_freya_pool_t *p, uint32_t b)
{
    if (b >= p->n_blocks || p->received[b]) {
        return false;
    }
    if (p->inflight[b] > 0) {
        set_remove(p->busy_ids, &p->n_busy, p->pos, b);
    } else {
        set_remove(p->free_ids, &p->n_free, p->pos, b);
    }
    p->received[b] = 1;
    p->n_received++;
    return true;
}

int pd_neumaier_init(pd_neumaier_t *a, size_t dim)
{
    a->dim = dim;
    a->s = calloc(dim > 0 ? dim : 1, sizeof(double));
    a->c = calloc(dim > 0 ? dim : 1, sizeof(double));
    if (a->s == NULL || a->c == NULL) {
        pd_neumaier_release(a);
        return -ENOMEM;
    }
    return 0;
}

void pd_neumaier_release(pd_neumaier_t *a)
{
    free(a->s);
    free(a->c);
    a->s = a->c = NULL;
}

void pd_neumaier_reset(pd_neumaier_t *a)
{
    memset(a->s, 0, a->dim * sizeof(double));
    memset(a->c, 0, a->dim * sizeof(double));
}

void pd_neumaier_add(pd_neumaier_t *a, const double *v)
{
    for (size_t i = 0; i < a->dim; i++) {
        double s = a->s[i], t = s + v[i];
        /* The rounding error of s + v, whichever of the two is larger in magnitude. */
        a->c[i] += fabs(s) >= fabs(v[i]) ? (s - t) + v[i] : (v[i] - t) + s;
        a->s[i] = t;
    }
}

void pd_neumaier_result(const pd_neumaier_t *a, double *out)
{
    for (size_t i = 0; i < a->dim; i++) {
        out[i] = a->s[i] + a->c[i];
    }
}

bool pd_freya_sum_canonical(size_t dim, uint32_t n_blocks, size_t max_bytes)
{
    return dim > 0 && n_blocks > 0 && (size_t)n_blocks <= max_bytes / sizeof(double) / dim;
}

int pd_freya_sum_init(pd_freya_sum_t *r, size_t dim, uint32_t n_blocks, bool canonical)
{
    memset(r, 0, sizeof(*r));
    r->dim = dim;
    r->n_blocks = n_blocks;
    r->canonical = canonical && dim > 0 && n_blocks > 0;
    if (r->canonical) {
        r->blocks = malloc((size_t)n_blocks * dim * sizeof(double));
        if (r->blocks == NULL) {
            return -ENOMEM;
        }
        return 0;
    }
    return pd_neumaier_init(&r->acc, dim);
}

void pd_freya_sum_release(pd_freya_sum_t *r)
{
    free(r->blocks);
    r->blocks = NULL;
    pd_neumaier_release(&r->acc);
}

void pd_freya_sum_reset(pd_freya_sum_t *r)
{
    /* Canonical: every block is overwritten before the result is read. */
    if (!r->canonical) {
        pd_neumaier_reset(&r->acc);
    }
}

void pd_freya_sum_add(pd_freya_sum_t *r, uint32_t b, const double *v)
{
    if (b >= r->n_blocks) {
        return;
    }
    if (r->canonical) {
        memcpy(r->blocks + (size_t)b * r->dim, v, r->dim * sizeof(double));
    } else {
        pd_neumaier_add(&r->acc, v);
    }
}

void pd_freya_sum_result(const pd_freya_sum_t *r, double *out)
{
    if (!r->canonical) {
        pd_neumaier_result(&r->acc, out);
        return;
    }
    memset(out, 0, r->dim * sizeof(double));
    for (uint32_t b = 0; b < r->n_blocks; b++) {
        const double *v = r->blocks + (size_t)b * r->dim;
        for (size_t i = 0; i < r->dim; i++) {
            out[i] += v[i];
        }
    }
}

uint64_t pd_freya_auto_block(uint64_t m, uint64_t n)
{
    uint64_t b = m / (4 * (n > 0 ? n : 1));

    b = b < 64 ? 64 : b > 8192 ? 8192 : b;
    return b < m ? b : (m > 0 ? m : 1);
}

uint32_t pd_freya_auto_chunk(uint64_t s, uint64_t n)
{
    uint64_t c = (s + 2 * (n > 0 ? n : 1) - 1) / (2 * (n > 0 ? n : 1));

    return c < 1 ? 1 : c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
}

uint64_t pd_freya_default_s(uint64_t m)
{
    uint64_t s = (uint64_t)ceil(sqrt((double)m));

    /* sqrt in doubles can be one off for large m: settle on the least s with s*s >= m. */
    while (s > 0 && (s - 1) * (s - 1) >= m) {
        s--;
    }
    while (s * s < m) {
        s++;
    }
    return s > 0 ? s : 1;
}

double pd_freya_default_p(uint64_t s, uint64_t m)
{
    return (double)s / ((double)s + (double)m);
}
