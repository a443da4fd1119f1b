/* history.c - see history.h. */
#include <config.h>
#include "history.h"

#include <string.h>

void pd_history_init(pd_history_t *h)
{
    memset(h, 0, sizeof(*h));
    h->stride = 1;
}

/* Keep v[0], v[2], v[4], ...: half the points, still from the first to (about) the last. */
static void halve(pd_history_t *h)
{
    size_t k = 0;

    for (size_t i = 0; i < h->n; i += 2) {
        h->v[k++] = h->v[i];
    }
    h->n = k;
    h->stride *= 2;
}

void pd_history_add(pd_history_t *h, const pd_history_point_t *p)
{
    int kept = h->offered % h->stride == 0;

    h->offered++;
    if (h->tail_is_extra) {
        h->n--; /* the previous newest was only standing in for the newest */
        h->tail_is_extra = 0;
    }
    if (h->n == PD_HISTORY_CAP) {
        halve(h);
        kept = (h->offered - 1) % h->stride == 0;
    }
    h->v[h->n++] = *p;
    h->tail_is_extra = !kept;
}
