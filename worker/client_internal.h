/* client_internal.h - the parts of libparamd-client that paramd-worker uses but that are not
 * public: raw pd_msg_t send/receive on the client's DEALER socket. */
#ifndef PD_WORKER_CLIENT_INTERNAL_H
#define PD_WORKER_CLIENT_INTERNAL_H

#include "paramd/client.h"
#include "wire.h"

/* Open a DEALER socket with a fresh random routing id (kept for the life of the client, so
 * the server recognises a reconnect) and connect it, with CURVE when opts has keys (opts may
 * be NULL). No message is sent. */
int pd_client_open(pd_client_t **out, const char *endpoint, const pd_client_opts_t *opts);
/* "CURVE" or "NULL": the security mechanism of the connection (ZMQ_MECHANISM). */
const char *pd_client_mechanism(const pd_client_t *c);
int pd_client_send_msg(pd_client_t *c, pd_msg_t *m, const pd_wire_frame_t *frames,
                       size_t n_frames);
/* Wait up to timeout_ms (-1: forever) for one message. -ETIMEDOUT when none came. The
 * caller releases `in` with pd_wire_in_release(). */
int pd_client_recv_msg(pd_client_t *c, pd_wire_in_t *in, int timeout_ms);
/* Send HELLO (kv_only or a task worker) and wait for WELCOME; fills the job and worker id.
 * When no connection came up in time because the security handshake failed, returns
 * PD_EUNAUTH (the server refused our key) or -EPROTO (CURVE mismatch) instead of -ETIMEDOUT. */
int pd_client_hello(pd_client_t *c, const pd_hello_t *hello, int timeout_ms);
const pd_job_desc_t *pd_client_job(const pd_client_t *c);
uint32_t pd_client_worker_id(const pd_client_t *c);
const char *pd_client_routing_id(const pd_client_t *c);
/* A sharded job (its WELCOME lists shards): connect to shards 1 .. N-1 and say `hello` to
 * each, or keep the connections when the map did not change (unless `again`: a worker that
 * rejoins may have been forgotten by the shards too); nothing for one server. 0, or a
 * negative code with the shard named in pd_client_last_reason(). */
int pd_client_open_shards(pd_client_t *c, const pd_client_opts_t *opts, const pd_hello_t *hello,
                          int timeout_ms, bool again);
/* HEARTBEAT to every shard i > 0 (their sessions evict what stays silent for worker_timeout,
 * and a worker talks to them only once per task). */
void pd_client_heartbeat_shards(pd_client_t *c);
/* x[offset .. offset + length) into out as doubles, asked of the servers holding it as `wire`
 * (F32: rounded to float32), shards i > 0 answering once they have reached min_version; all
 * parts are sent before any answer is read. 0 or a negative code. */
int pd_client_read_range(pd_client_t *c, uint64_t offset, uint64_t length, double *out,
                         pd_elem_type_t wire, uint64_t min_version, int timeout_ms);
/* pd_client_read_range of exactly `version` from shards i > 0 (exact_version: their current
 * version or the one before; a GRAD_DIFF task's y). */
int pd_client_read_range_at(pd_client_t *c, uint64_t offset, uint64_t length, double *out,
                            pd_elem_type_t wire, uint64_t version, int timeout_ms);
/* The same for the values at keys[0 .. n) (increasing), float64. */
int pd_client_read_keys(pd_client_t *c, const uint64_t *keys, uint64_t n, double *out,
                        uint64_t min_version, int timeout_ms);
/* Send m with frames f[0 .. n) to shard `shard` > 0 of the job's map as a request (its
 * request_id set), without waiting. -EINVAL when there is no such connection. */
int pd_client_send_to_shard(pd_client_t *c, unsigned shard, pd_msg_t *m,
                            const pd_wire_frame_t *f, size_t n);
/* Wait up to timeout_ms for shard `shard`'s ACK of request request_id: 0, or the code of its
 * ERROR, -ETIMEDOUT, -EINVAL. */
int pd_client_shard_ack(pd_client_t *c, unsigned shard, uint64_t request_id, int timeout_ms);
/* The last ERROR or BYE reason the server sent. */
const char *pd_client_last_reason(const pd_client_t *c);

#endif
