/* kv.h - the key-value API for users' own training code: PULL a key range or an explicit key
 * list of the parameters (answered not_modified when the client already holds the current
 * values) and PUSH a gradient for a key range or key list, applied by the server-side
 * optimiser with the staleness rule of async-sgd. A key list costs O(its length), whatever
 * the model's size. Loop thread only. */
#ifndef PD_SERVER_KV_H
#define PD_SERVER_KV_H

#include "daemon.h"

void pd_kv_pull(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s);
void pd_kv_push(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s);
/* The key list of a message with key_count > 0: frame 1, followed by `values` frames of
 * key_count doubles (0 for a PULL, 1 for a PUSH or a COMMIT), each key in [lo, hi). On
 * PD_WERR_NONE *keys points into the message (valid until it is released); otherwise why
 * says what is wrong. O(key_count). */
pd_wire_error_t pd_kv_check_keys(pd_wire_in_t *in, uint32_t values, uint64_t lo, uint64_t hi,
                                 const uint64_t **keys, char *why, size_t why_len);
/* Checked keys of the job in this server's own numbering: themselves, or on shard i > 0
 * (whose store counts from its first key) key - key_begin in d->key_scratch. */
const uint64_t *pd_kv_local_keys(pd_daemon_t *d, const uint64_t *keys, size_t n);
/* The version went up: answer the PULLs waiting for it (min_version). */
void pd_kv_serve_waiting(pd_daemon_t *d);
/* Once a second: log the PULLs that have waited for their version longer than
 * worker_timeout (each once), with what this server is waiting for. */
void pd_kv_waiting_tick(pd_daemon_t *d, uint64_t now);
/* Answer every PULL still waiting with ERROR ERR_WRONG_STATE (why) and forget them. */
void pd_kv_fail_waiting(pd_daemon_t *d, const char *why);
/* Free the PULLs still waiting (the daemon's end). */
void pd_kv_release(pd_daemon_t *d);

#endif
