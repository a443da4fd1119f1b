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
/* The version went up: answer the PULLs waiting for it (min_version). */
void pd_kv_serve_waiting(pd_daemon_t *d);
/* Once a second: log the PULLs that have waited for their version longer than
 * worker_timeout (each once), with what this server is waiting for. */
void pd_kv_waiting_tick(pd_daemon_t *d, uint64_t now);
/* Free the PULLs still waiting (the daemon's end). */
void pd_kv_release(pd_daemon_t *d);

#endif
