/* whole.c - the whole-vector iterate of newton-cg, lbfgs, apts, fosi and dho2 (whole.h). */
#include <config.h>
#include "whole.h"

#include <errno.h>
#include <string.h>

#include "../daemon.h"
#include "../shards.h"

int pd_whole_open(pd_daemon_t *d, pd_buf_t **current)
{
    pd_buf_unref(*current);
    *current = NULL;
    return pd_shards_whole_snapshot(d, current);
}

/* A new buffer holding x (n values). */
static int copy_of(const double *x, size_t n, pd_buf_t **out)
{
    int rc = pd_buf_new(out, n * sizeof(double));

    if (rc == 0) {
        memcpy((*out)->data, x, n * sizeof(double));
    }
    return rc;
}

int pd_whole_point(pd_daemon_t *d, const double *x, bool may_be_current,
                   const pd_buf_t *current, pd_buf_t **point, bool *off_version)
{
    size_t dim = d->model.dim;

    pd_buf_unref(*point);
    *point = NULL;
    *off_version = !may_be_current || memcmp(x, current->data, dim * sizeof(double)) != 0;
    return *off_version ? copy_of(x, dim, point) : pd_store_snapshot(&d->store, point);
}

const double *pd_whole_values(const pd_buf_t *point, bool off_version, const pd_buf_t *current)
{
    return (const double *)(off_version ? point : current)->data;
}

int pd_whole_publish(pd_daemon_t *d, const double *x, pd_buf_t **current)
{
    size_t dim = d->model.dim;

    memcpy(d->store.x, x, d->store.dim * sizeof(double)); /* shard 0's keys come first */
    pd_store_bump(&d->store);
    pd_shards_commit(d, &(pd_shard_update_t){.n = dim, .g = x, .values = true});
    pd_buf_unref(*current);
    *current = NULL;
    /* alone the store's snapshot is the whole vector; shard 0 keeps its own copy */
    if (d->shards == NULL) {
        return pd_store_snapshot(&d->store, current);
    }
    int rc = copy_of(x, dim, current);
    if (rc == 0) {
        (*current)->version = d->store.version;
    }
    return rc;
}

int pd_whole_commit(pd_daemon_t *d, const double *x, pd_buf_t **current)
{
    int rc = pd_whole_publish(d, x, current);

    d->metrics.updates_total++;
    d->metrics.version = (double)d->store.version;
    pd_daemon_after_update(d);
    return rc;
}
