/* buf.c - see buf.h. */
#include <config.h>
#include "buf.h"

#include <errno.h>
#include <stdlib.h>

int pd_buf_new(pd_buf_t **out, size_t len_bytes)
{
    size_t total;
    pd_buf_t *b;

    if (__builtin_add_overflow(sizeof(pd_buf_t), len_bytes, &total)) {
        return -ENOMEM;
    }
    total = (total + 63) & ~(size_t)63; /* aligned_alloc wants a multiple of the alignment */
    b = aligned_alloc(64, total);
    if (b == NULL) {
        return -ENOMEM;
    }
    atomic_init(&b->refs, 1);
    b->len_bytes = len_bytes;
    b->version = 0;
    b->f32 = NULL;
    *out = b;
    return 0;
}

pd_buf_t *pd_buf_ref(pd_buf_t *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void pd_buf_unref(pd_buf_t *b)
{
    if (b != NULL && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
        pd_buf_unref(b->f32);
        free(b);
    }
}

void pd_buf_zmq_free(void *data, void *hint)
{
    (void)data;
    pd_buf_unref(hint);
}
