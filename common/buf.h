/* buf.h - immutable, reference-counted byte buffers for zero-copy zmq sends.
 * A snapshot of the parameters is sent to many workers at once; libzmq releases each
 * message's reference from its I/O thread, so the count is atomic and the release function
 * touches nothing else (no logging, no loop state). Nobody writes into a buffer whose
 * count is above one. */
#ifndef PD_COMMON_BUF_H
#define PD_COMMON_BUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pd_buf {
    atomic_uint refs;
    size_t len_bytes;
    uint64_t version; /* parameter version the bytes hold, for snapshot caches */
    struct pd_buf *f32; /* the payload rounded to float32, made on first use by the loop
                         * thread (pd_wire_buf_f32); released with this buffer */
    /* 64-byte aligned payload follows */
    _Alignas(64) unsigned char data[];
} pd_buf_t;

/* New buffer of len_bytes with one reference; contents uninitialised. 0 or -ENOMEM. */
int pd_buf_new(pd_buf_t **out, size_t len_bytes);
pd_buf_t *pd_buf_ref(pd_buf_t *b);
/* Drop one reference; frees at zero. Accepts NULL. Thread-safe. */
void pd_buf_unref(pd_buf_t *b);
/* zmq_free_fn-compatible release: `hint` is the pd_buf_t. */
void pd_buf_zmq_free(void *data, void *hint);

#endif
