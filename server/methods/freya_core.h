/* freya_core.h - the pure parts of Freya PAGE (ALGORITHMS.md §3), kept apart from the loop so
 * unit tests can drive them: the pool of full-gradient blocks a ComputeGradient round still
 * needs, the canonical (block-ordered) reduction of the block sums, a Neumaier-compensated
 * accumulator, and the default S and p. No I/O, no daemon state. */
#ifndef PD_SERVER_FREYA_CORE_H
#define PD_SERVER_FREYA_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rng.h"

/* Above this many bytes of per-block sums (n_blocks x dim doubles) the reduction falls back
 * to Neumaier-compensated summation in arrival order: accurate to a few ulps, but no longer
 * bitwise independent of who computed what. 256 MiB holds, for example, 1000 blocks of a
 * 33 000-parameter model. */
#define PD_FREYA_CANONICAL_MAX_BYTES ((size_t)256 << 20)

/* The blocks of one ComputeGradient round. A block is "received" once its sum is in; until
 * then it stays drawable, whether or not some worker computes it ("in flight"), so a slow or
 * dead worker's block is simply drawn again by another (§3.4). */
typedef struct pd_freya_pool {
    uint32_t n_blocks;
    uint32_t n_received;
    uint32_t n_free;     /* not received, nobody computes it */
    uint32_t n_busy;     /* not received, in flight on one or more workers */
    uint32_t *free_ids;  /* n_free block ids, unordered */
    uint32_t *busy_ids;  /* n_busy block ids, unordered */
    uint32_t *pos;       /* block -> index in free_ids or busy_ids */
    uint32_t *inflight;  /* block -> workers computing it */
    uint8_t *received;   /* block -> 1 once received */
} pd_freya_pool_t;

/* 0 or -ENOMEM. Every block starts free. */
int pd_freya_pool_init(pd_freya_pool_t *p, uint32_t n_blocks);
void pd_freya_pool_release(pd_freya_pool_t *p);
/* A new round: every block free, none received. */
void pd_freya_pool_reset(pd_freya_pool_t *p);
/* Draw a block uniformly from the blocks not yet received. dedupe: from the free ones when
 * there are any, else from those in flight. Returns the id, or -1 when all are received.
 * Drawing does not assign: call pd_freya_pool_assign() when the task is sent. */
int64_t pd_freya_pool_draw(const pd_freya_pool_t *p, pd_rng_t *rng, bool dedupe);
/* Block b was handed to a worker / its worker no longer computes it (result in, or gone). */
void pd_freya_pool_assign(pd_freya_pool_t *p, uint32_t b);
void pd_freya_pool_unassign(pd_freya_pool_t *p, uint32_t b);
/* Block b's sum arrived: true the first time, false for a duplicate. */
bool pd_freya_pool_receive(pd_freya_pool_t *p, uint32_t b);
static inline bool pd_freya_pool_complete(const pd_freya_pool_t *p)
{
    return p->n_received == p->n_blocks;
}

/* Compensated sum of vectors (Neumaier): s + c is the sum to about one rounding. */
typedef struct pd_neumaier {
    size_t dim;
    double *s;
    double *c;
} pd_neumaier_t;

int pd_neumaier_init(pd_neumaier_t *a, size_t dim);
void pd_neumaier_release(pd_neumaier_t *a);
void pd_neumaier_reset(pd_neumaier_t *a);
void pd_neumaier_add(pd_neumaier_t *a, const double *v);
/* out (dim) = s + c. */
void pd_neumaier_result(const pd_neumaier_t *a, double *out);

/* The full-gradient reduction: canonical (block sums kept, added in block order 0, 1, ...
 * starting from zero, so the result is the same bits whoever computed which block), else
 * Neumaier in arrival order. */
typedef struct pd_freya_sum {
    size_t dim;
    uint32_t n_blocks;
    bool canonical;
    double *blocks;      /* canonical: n_blocks x dim */
    pd_neumaier_t acc;   /* otherwise */
} pd_freya_sum_t;

/* Whether a model of dim parameters sums n_blocks canonically: n_blocks x dim x 8 <=
 * max_bytes. A sharded job decides on the whole model, as one server, and sums its keys. */
bool pd_freya_sum_canonical(size_t dim, uint32_t n_blocks, size_t max_bytes);
int pd_freya_sum_init(pd_freya_sum_t *r, size_t dim, uint32_t n_blocks, bool canonical);
void pd_freya_sum_release(pd_freya_sum_t *r);
void pd_freya_sum_reset(pd_freya_sum_t *r);
/* Block b's sum (each block exactly once per round: the pool filters duplicates). */
void pd_freya_sum_add(pd_freya_sum_t *r, uint32_t b, const double *v);
/* out (dim) = the sum of all blocks. */
void pd_freya_sum_result(const pd_freya_sum_t *r, double *out);

/* Block b of size `block` over m samples: [begin, end); the last block may be shorter. */
static inline uint64_t pd_freya_block_begin(uint64_t b, uint64_t block)
{
    return b * block;
}
static inline uint64_t pd_freya_block_end(uint64_t b, uint64_t block, uint64_t m)
{
    return (b + 1) * block < m ? (b + 1) * block : m;
}

/* Defaults of §3.3: S = ceil(sqrt(m)) and p = S / (S + m). */
uint64_t pd_freya_default_s(uint64_t m);
double pd_freya_default_p(uint64_t s, uint64_t m);

/* The task sizes block_size = 0 and diff_chunk = 0 choose for m samples, S and n workers
 * (doc/config.md). With real workers a task's round trip costs a fraction of a millisecond
 * whatever its size, and a full-gradient block also costs a dim-long result to send and add;
 * one sample's gradient costs microseconds. So: blocks of m / (4n) samples (each worker gets
 * about 4 per round, enough for a slow one not to hold the round up), between 64 and 8192;
 * differences in chunks of S / (2n) (two tasks per worker per round), at least 1. */
uint64_t pd_freya_auto_block(uint64_t m, uint64_t n);
uint32_t pd_freya_auto_chunk(uint64_t s, uint64_t n);

#endif
