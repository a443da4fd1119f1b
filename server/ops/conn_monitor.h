/* conn_monitor.h - the worker socket's connections, which libzmq shows only through its socket
 * monitor:
 * - the connection budget: every connection accepted past [server] max_connections is shut
 *   down at once and counted (connections_dropped_total), so a flood of idle connections
 *   cannot take the file descriptors that checkpoints, data and the status socket need (with
 *   ZMQ_HANDSHAKE_IVL, set by the daemon, idle ones that never greet are closed within
 *   seconds);
 * - failed security handshakes: a worker without CURVE at a CURVE server (or the other way
 *   round), or one with a wrong server key, would otherwise fail to join with nothing on the
 *   server's side. Each failure is counted by reason (handshake_failures_*_total) and
 *   logged, rate-limited. Refusals of a key by ZAP stay in auth_failures_total (zap.c). */
#ifndef PD_SERVER_OPS_CONN_MONITOR_H
#define PD_SERVER_OPS_CONN_MONITOR_H

#include <stddef.h>

typedef struct pd_daemon pd_daemon_t;
typedef struct pd_conn_monitor pd_conn_monitor_t;

/* Watch d->zsock (before it binds), allowing max_connections at once (> 0). 0 or a negative
 * errno; *out is set in both cases and is freed by pd_conn_monitor_free after the loop has
 * closed its handles. */
int pd_conn_monitor_start(pd_daemon_t *d, size_t max_connections, pd_conn_monitor_t **out);
/* Close its socket (before zmq_ctx_term; its loop handles are closed by the daemon's walk).
 * Accepts NULL. */
void pd_conn_monitor_free(pd_conn_monitor_t *m);

#endif
