/* handshake_monitor.h - the worker socket's failed security handshakes, which libzmq reports
 * only through its socket monitor: a worker without CURVE at a CURVE server (or the other way
 * round), or one with a wrong server key, would otherwise fail to join with nothing on the
 * server's side. Each failure is counted by reason (handshake_failures_*_total) and logged,
 * rate-limited. Refusals of a key by ZAP stay in auth_failures_total (zap.c). */
#ifndef PD_SERVER_OPS_HANDSHAKE_MONITOR_H
#define PD_SERVER_OPS_HANDSHAKE_MONITOR_H

typedef struct pd_daemon pd_daemon_t;
typedef struct pd_handshake_monitor pd_handshake_monitor_t;

/* Watch d->zsock (before it binds). 0 or a negative errno; *out is set in both cases and is
 * freed by pd_handshake_monitor_free after the loop has closed its handles. */
int pd_handshake_monitor_start(pd_daemon_t *d, pd_handshake_monitor_t **out);
/* Close its socket (before zmq_ctx_term; its loop handles are closed by the daemon's walk).
 * Accepts NULL. */
void pd_handshake_monitor_free(pd_handshake_monitor_t *m);

#endif
