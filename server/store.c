/* store.c - see store.h. */
#include <config.h>
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int pd_store_init(pd_store_t *st, size_t dim)
{
    memset(st, 0, sizeof(*st));
    st->x = calloc(dim > 0 ? dim : 1, sizeof(double));
    st->block_version = calloc(dim / PD_STORE_BLOCK + 1, sizeof(uint64_t));
    if (st->x == NULL || st->block_version == NULL) {
        pd_store_release(st);
        return -ENOMEM;
    }
    st->dim = dim;
    return 0;
}

void pd_store_release(pd_store_t *st)
{
    free(st->x);
    st->x = NULL;
    free(st->block_version);
    st->block_version = NULL;
    pd_buf_unref(st->snap);
    st->snap = NULL;
}

int pd_store_snapshot(pd_store_t *st, pd_buf_t **out)
{
    if (st->snap == NULL || st->snap->version != st->version) {
        pd_buf_t *b;
        int rc = pd_buf_new(&b, st->dim * sizeof(double));
        if (rc != 0) {
            return rc;
        }
        memcpy(b->data, st->x, st->dim * sizeof(double));
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
    rc = pd_buf_new(&b, len * sizeof(double));
    if (rc != 0) {
        return rc;
    }
    memcpy(b->data, st->x + offset, len * sizeof(double));
    b->version = st->version;
    *out = b;
    *values = (const double *)b->data;
    return 0;
}

int pd_store_read_keys(const pd_store_t *st, const uint64_t *keys, size_t n, pd_buf_t **out)
{
    pd_buf_t *b;
    int rc = pd_buf_new(&b, n * sizeof(double));

    if (rc != 0) {
        return rc;
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

void pd_store_bump_keys(pd_store_t *st, const uint64_t *keys, size_t n)
{
    st->version++;
    /* O(n): a block holding several of the keys is stamped once per key, with the same value */
    for (size_t i = 0; i < n; i++) {
        st->block_version[keys[i] / PD_STORE_BLOCK] = st->version;
    }
}

void pd_store_reset_version(pd_store_t *st, uint64_t version)
{
    st->version = version;
    st->whole_version = version;
    pd_buf_unref(st->snap); /* it may hold other values under the same version number */
    st->snap = NULL;
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
