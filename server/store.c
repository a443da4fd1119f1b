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
    if (st->x == NULL) {
        return -ENOMEM;
    }
    st->dim = dim;
    return 0;
}

void pd_store_release(pd_store_t *st)
{
    free(st->x);
    st->x = NULL;
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

void pd_store_bump(pd_store_t *st)
{
    st->version++;
}
