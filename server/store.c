/* store.c - see store.h. */
#include <config.h>
#include "store.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "optim.h"

/* No block has a valid bound (UINT64_MAX is no block's version). */
static void invalidate_bounds(pd_store_t *st)
{
    for (size_t b = 0; b <= st->dim / PD_STORE_BLOCK; b++) {
        st->bound_at[b] = UINT64_MAX;
    }
}

/* The version of block b's last change: its own stamp, or a change of every key. */
static uint64_t block_changed_at(const pd_store_t *st, size_t b)
{
    return st->block_version[b] > st->whole_version ? st->block_version[b] : st->whole_version;
}

int pd_store_init(pd_store_t *st, size_t dim)
{
    memset(st, 0, sizeof(*st));
    st->x = calloc(dim > 0 ? dim : 1, sizeof(double));
    st->block_version = calloc(dim / PD_STORE_BLOCK + 1, sizeof(uint64_t));
    st->bound = calloc(dim / PD_STORE_BLOCK + 1, sizeof(double));
    st->bound_at = malloc((dim / PD_STORE_BLOCK + 1) * sizeof(uint64_t));
    if (st->x == NULL || st->block_version == NULL || st->bound == NULL || st->bound_at == NULL) {
        pd_store_release(st);
        return -ENOMEM;
    }
    st->dim = dim;
    invalidate_bounds(st);
    return 0;
}

void pd_store_release(pd_store_t *st)
{
    free(st->x);
    st->x = NULL;
    free(st->block_version);
    st->block_version = NULL;
    free(st->bound);
    st->bound = NULL;
    free(st->bound_at);
    st->bound_at = NULL;
    pd_buf_unref(st->snap);
    st->snap = NULL;
    pd_buf_unref(st->range);
    st->range = NULL;
    pd_buf_unref(st->kept);
    st->kept = NULL;
    if (st->lazy != NULL) {
        pd_lazy_release(st->lazy);
        free(st->lazy);
        st->lazy = NULL;
    }
}

int pd_store_defer_prox(pd_store_t *st, const pd_reg_t *reg, const double *mask)
{
    pd_lazy_t *lz = malloc(sizeof(*lz));
    int rc = lz != NULL ? pd_lazy_init(lz, reg, mask, st->dim, 0) : -ENOMEM;

    if (rc != 0) {
        free(lz);
        return rc;
    }
    st->lazy = lz;
    return 0;
}

void pd_store_catch_up(pd_store_t *st)
{
    if (st->lazy != NULL) {
        pd_lazy_catch_up_all(st->lazy, st->x);
    }
}

void pd_store_copy(const pd_store_t *st, double *out)
{
    memcpy(out, st->x, st->dim * sizeof(double));
    if (st->lazy != NULL) {
        pd_lazy_view(st->lazy, out);
    }
}

int pd_store_snapshot(pd_store_t *st, pd_buf_t **out)
{
    if (st->snap == NULL || st->snap->version != st->version) {
        pd_buf_t *b;
        int rc = pd_buf_new(&b, st->dim * sizeof(double));
        if (rc != 0) {
            return rc;
        }
        pd_store_copy(st, (double *)b->data);
        b->version = st->version;
        pd_buf_unref(st->snap);
        st->snap = b;
    }
    *out = pd_buf_ref(st->snap);
    return 0;
}

int pd_store_read_range(pd_store_t *st, size_t offset, size_t len, pd_buf_t **out,
                        const double **values)
{
    pd_buf_t *b;
    int rc;

    if ((st->snap != NULL && st->snap->version == st->version) || len == st->dim) {
        rc = pd_store_snapshot(st, &b);
        if (rc != 0) {
            return rc;
        }
        *out = b;
        *values = (const double *)b->data + offset;
        return 0;
    }
    b = st->range;
    if (b == NULL || b->version != st->version || offset < st->range_offset ||
        offset + len > st->range_offset + b->len_bytes / sizeof(double)) {
        if ((rc = pd_buf_new(&b, len * sizeof(double))) != 0) {
            return rc;
        }
        if (st->lazy != NULL) {
            pd_lazy_catch_up_range(st->lazy, st->x, offset, len);
        }
        memcpy(b->data, st->x + offset, len * sizeof(double));
        b->version = st->version;
        pd_buf_unref(st->range);
        st->range = b;
        st->range_offset = offset;
    }
    *out = pd_buf_ref(b);
    *values = (const double *)b->data + (offset - st->range_offset);
    return 0;
}

int pd_store_keep_version(pd_store_t *st)
{
    pd_buf_t *b;
    int rc = pd_store_snapshot(st, &b);

    if (rc == 0) {
        pd_buf_unref(st->kept);
        st->kept = b;
    }
    return rc;
}

int pd_store_read_range_at(pd_store_t *st, uint64_t version, size_t offset, size_t len,
                           pd_buf_t **out, const double **values)
{
    if (version == st->version) {
        return pd_store_read_range(st, offset, len, out, values);
    }
    if (st->kept == NULL || st->kept->version != version) {
        return -ESTALE;
    }
    *out = pd_buf_ref(st->kept);
    *values = (const double *)st->kept->data + offset;
    return 0;
}

int pd_store_read_keys(pd_store_t *st, const uint64_t *keys, size_t n, pd_buf_t **out)
{
    pd_buf_t *b;
    int rc = pd_buf_new(&b, n * sizeof(double));

    if (rc != 0) {
        return rc;
    }
    if (st->lazy != NULL) {
        pd_lazy_catch_up_keys(st->lazy, st->x, keys, n);
    }
    double *v = (double *)b->data;
    for (size_t i = 0; i < n; i++) {
        v[i] = st->x[keys[i]];
    }
    b->version = st->version;
    *out = b;
    return 0;
}

void pd_store_bump(pd_store_t *st)
{
    st->version++;
    st->whole_version = st->version;
}

void pd_store_bump_range(pd_store_t *st, size_t offset, size_t len)
{
    st->version++;
    for (size_t b = offset / PD_STORE_BLOCK; len > 0 && b <= (offset + len - 1) / PD_STORE_BLOCK;
         b++) {
        st->block_version[b] = st->version;
    }
}

/* The index of the first of the increasing keys[i .. n) that lies past keys[i]'s block, or n.
 * Increasing keys meet each block in one run: galloping to the next one makes a dense list
 * cost O(blocks log) instead of a visit per key. */
static size_t next_block(const uint64_t *keys, size_t n, size_t i)
{
    uint64_t next = (keys[i] / PD_STORE_BLOCK + 1) * PD_STORE_BLOCK;
    size_t step = 1, lo = i, hi;

    while (lo + step < n && keys[lo + step] < next) { /* keys[lo] < next throughout */
        lo += step;
        step *= 2;
    }
    hi = lo + step < n ? lo + step : n; /* keys[hi] >= next, or hi == n */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < next) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return hi;
}

/* Only x[keys[0]], ..., x[keys[n-1]] changed (keys increasing, each < dim): the version goes
 * up by one and only the blocks holding a key are stamped; with moved >= 0 their bounds grow
 * by it (pd_store_bound_grow). One visit per block, found by galloping. */
static void bump_keys(pd_store_t *st, const uint64_t *keys, size_t n, double moved)
{
    st->version++;
    for (size_t i = 0; i < n; i = next_block(keys, n, i)) {
        st->block_version[keys[i] / PD_STORE_BLOCK] = st->version;
        if (moved >= 0) {
            pd_store_bound_grow(st, keys[i], 1, moved);
        }
    }
}

void pd_store_reset_version(pd_store_t *st, uint64_t version)
{
    st->version = version;
    st->whole_version = version;
    pd_buf_unref(st->snap); /* they may hold other values under the same version number */
    st->snap = NULL;
    pd_buf_unref(st->range);
    st->range = NULL;
    pd_buf_unref(st->kept);
    st->kept = NULL;
    invalidate_bounds(st); /* block stamps may be newer than the version restored */
    if (st->lazy != NULL) {
        pd_lazy_reset(st->lazy); /* the restored values owe nothing */
    }
}

bool pd_store_range_unchanged(const pd_store_t *st, size_t offset, size_t len, uint64_t held)
{
    if (held > st->version || held < st->whole_version || len == 0) {
        return false;
    }
    for (size_t b = offset / PD_STORE_BLOCK; b <= (offset + len - 1) / PD_STORE_BLOCK; b++) {
        if (st->block_version[b] > held) {
            return false;
        }
    }
    return true;
}

bool pd_store_keys_unchanged(const pd_store_t *st, const uint64_t *keys, size_t n,
                             uint64_t held)
{
    if (held > st->version || held < st->whole_version || n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (st->block_version[keys[i] / PD_STORE_BLOCK] > held) {
            return false;
        }
    }
    return true;
}

double pd_store_bound(pd_store_t *st, size_t offset, size_t len)
{
    double m = 0.0;

    for (size_t b = offset / PD_STORE_BLOCK; len > 0 && b <= (offset + len - 1) / PD_STORE_BLOCK;
         b++) {
        if (st->bound_at[b] != block_changed_at(st, b)) {
            size_t lo = b * PD_STORE_BLOCK, hi = lo + PD_STORE_BLOCK < st->dim ? lo + PD_STORE_BLOCK
                                                                                : st->dim;
            double bm = 0.0;
            for (size_t i = lo; i < hi; i++) {
                bm = fmax(bm, fabs(st->x[i])); /* NaN never held (the guard), Inf would show */
            }
            st->bound[b] = bm;
            st->bound_at[b] = block_changed_at(st, b);
        }
        m = fmax(m, st->bound[b]);
    }
    return m;
}

void pd_store_bound_grow(pd_store_t *st, size_t offset, size_t len, double by)
{
    for (size_t b = offset / PD_STORE_BLOCK; len > 0 && b <= (offset + len - 1) / PD_STORE_BLOCK;
         b++) {
        /* valid before the step (pd_store_bound ran), so valid after it grown by `by` */
        st->bound[b] += by;
        st->bound_at[b] = block_changed_at(st, b);
    }
}

int pd_store_step_range(pd_store_t *st, pd_optim_t *o, size_t offset, size_t len,
                        const double *g, double lr)
{
    double moved = -1.0, bound = INFINITY; /* no bound: momentum and Adam do not keep one */
    int rc;

    if (st->lazy != NULL) {
        /* catching up moves values behind the bounds' back, so none is used */
        pd_lazy_catch_up_range(st->lazy, st->x, offset, len);
    } else if (o->kind == PD_OPT_SGD) {
        bound = pd_store_bound(st, offset, len);
    }
    rc = pd_optim_apply_bounded(o, st->x, offset, len, g, lr, bound, &moved);
    if (rc != 0) {
        return rc;
    }
    pd_store_bump_range(st, offset, len);
    if (moved >= 0) {
        pd_store_bound_grow(st, offset, len, moved);
    }
    return 0;
}

int pd_store_step_keys(pd_store_t *st, pd_optim_t *o, const uint64_t *keys, size_t n,
                       const double *g, double lr)
{
    double moved = -1.0, bound = INFINITY;
    int rc;

    if (st->lazy != NULL) {
        pd_lazy_catch_up_keys(st->lazy, st->x, keys, n);
    } else if (o->kind == PD_OPT_SGD) {
        /* the blocks holding a key, each once: O(blocks), not O(the range they span) */
        bound = 0.0;
        for (size_t i = 0; i < n; i = next_block(keys, n, i)) {
            bound = fmax(bound, pd_store_bound(st, keys[i], 1));
        }
    }
    rc = pd_optim_apply_keys_bounded(o, st->x, keys, n, g, lr, bound, &moved);
    if (rc != 0) {
        return rc;
    }
    bump_keys(st, keys, n, moved);
    return 0;
}

int pd_store_step_keys_deferred(pd_store_t *st, pd_optim_t *o, const uint64_t *keys, size_t n,
                                const double *g, double lr)
{
    int rc;

    pd_lazy_reserve(st->lazy, st->x, lr);
    pd_lazy_catch_up_keys(st->lazy, st->x, keys, n);
    rc = pd_optim_apply_keys_finite(o, st->x, keys, n, g, lr);
    if (rc != 0) {
        return rc;
    }
    pd_lazy_log_step(st->lazy, keys, n, lr);
    pd_store_bump(st); /* every regularised key moved, if only on paper */
    return 0;
}

void pd_store_step_none(pd_store_t *st, pd_optim_t *o)
{
    o->t++;
    pd_store_bump_range(st, 0, 0);
}
