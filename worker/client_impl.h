/* client_impl.h - inside libparamd-client: the client's state, and what its reads
 * (client_reads.c) share with the rest of the library (client.c). Not for paramd-worker. */
#ifndef PD_WORKER_CLIENT_IMPL_H
#define PD_WORKER_CLIENT_IMPL_H

#include "client_internal.h"

/* A read in flight: the requests of its parts, one per server holding some of its keys, and
 * where each part's values go in the caller's array. */
typedef struct pd_client_read_part {
    unsigned shard;
    uint64_t request_id;
    uint64_t first, count; /* values out[first .. first + count) */
    bool keys;             /* a key list: its answer names count keys */
} pd_client_read_part_t;

typedef struct pd_client_pending {
    unsigned n_parts;
    uint64_t length;
    pd_client_read_part_t part[PD_WIRE_MAX_SHARDS];
} pd_client_pending_t;

struct pd_client {
    void *ctx;
    void *sock;
    void *mon;          /* PAIR receiving the DEALER's handshake events (ZMQ monitor) */
    int hs_failure;     /* last handshake failure seen: 0, PD_EUNAUTH or -EPROTO */
    char *endpoint;     /* to connect again after a failed handshake */
    char rid[33];
    uint64_t next_request;
    uint32_t worker_id;
    pd_job_desc_t job;
    char last_reason[PD_WIRE_STR];
    /* A sharded job (job.n_shards > 1): connections to shards 1 .. N-1 (shard[0] unused: it
     * is this one), and the highest version shard 0 has shown us, which their reads wait
     * for so that a pull after a push sees it. */
    pd_client_t *shard[PD_WIRE_MAX_SHARDS];
    pd_shard_info_t shard_map[PD_WIRE_MAX_SHARDS];
    unsigned n_shards;
    uint64_t seen_version;
    /* Range pulls sent by pd_client_pull_send and not yet received: a ring. */
    pd_client_pending_t *pending;
    size_t pending_head, pending_len, pending_cap;
};

/* How long a call waits for an answer. */
#define PD_CLIENT_REPLY_MS 30000

/* A request on c: its worker, job and next request id; sent even when the queue is full
 * (blocking), so that a pipelined caller never sees EAGAIN. */
int pd_client_send_request(pd_client_t *c, pd_msg_t *m, const pd_wire_frame_t *f, size_t n);
/* The answer of type `want` to request request_id (0: the next of that type); older answers
 * (left by an earlier failed call) and heartbeats are passed over. An ERROR becomes its
 * library code, kept for pd_client_last_error(), a BYE -ECONNRESET. */
int pd_client_recv_reply(pd_client_t *c, pd_wire_in_t *in, pd_msg_type_t want,
                         uint64_t request_id, int timeout_ms);
/* Track the version shard 0 reported (an ACK's, a PARAMS'). */
void pd_client_saw_version(pd_client_t *c, uint64_t version);
/* Drop the connections to the shards. */
void pd_client_close_shards(pd_client_t *c);

#endif
