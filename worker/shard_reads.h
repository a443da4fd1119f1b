/* shard_reads.h - a worker of a sharded job ([server] shards > 1) reads the keys that shards
 * 1 .. N-1 hold from them: one key-value connection to each, opened when the job's WELCOME
 * lists them, and one PULL per shard for each task (shard 0's keys come with the task). */
#ifndef PD_WORKER_SHARD_READS_H
#define PD_WORKER_SHARD_READS_H

#include <stdint.h>

#include "client_internal.h"

typedef struct pd_shard_reads {
    unsigned n;                       /* shards of the job; 0 or 1: not sharded */
    pd_client_t *c[PD_WIRE_MAX_SHARDS]; /* c[i] for shard i > 0 */
    pd_shard_info_t shard[PD_WIRE_MAX_SHARDS];
    uint64_t next_request;
} pd_shard_reads_t;

/* Connect to the shards j lists (nothing when it lists none), keeping connections to a map
 * that did not change. 0, or a negative code (logged) when a shard did not welcome us within
 * timeout_ms. */
int pd_shard_reads_open(pd_shard_reads_t *r, const pd_job_desc_t *j, const pd_client_opts_t *opts,
                        int timeout_ms);
void pd_shard_reads_close(pd_shard_reads_t *r);
/* x[b_i .. e_i) for every shard i > 0, at version `version` at least (a shard answers once it
 * has applied it), as float32 when elem is F32 (the task's own rounding) or float64. All
 * requests go out before any answer is read. 0, or a negative code (logged). */
int pd_shard_reads_pull(pd_shard_reads_t *r, double *x, uint64_t version, pd_elem_type_t elem,
                        int timeout_ms);

#endif
