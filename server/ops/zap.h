/* zap.h - CURVE on the worker socket (DESIGN.md, Security): the server's key pair, and the ZAP
 * handler (ZeroMQ RFC 27) that admits only the public keys of [security] authorized_workers.
 * The handler is its own component, like czmq's zauth: a REP socket on inproc://zeromq.zap.01
 * in the daemon's zmq context, answered from the loop thread (uv_poll on its ZMQ_FD, drained
 * per ZMQ_EVENTS like the worker socket). libzmq's I/O thread asks it once per connection
 * handshake, never per message, so a lookup costs nothing in the training path.
 *
 * A key removed on SIGHUP is refused from the next handshake on; a worker already connected
 * with it keeps its connection until it reconnects (a ROUTER cannot cut one peer's pipe),
 * or until paramd restarts. */
#ifndef PD_SERVER_ZAP_H
#define PD_SERVER_ZAP_H

#include <stdbool.h>

typedef struct pd_daemon pd_daemon_t;
typedef struct pd_zap pd_zap_t;

/* Called between creating d->zsock and binding it. With [security] server_key_file empty:
 * nothing, d->zap stays NULL. Otherwise: load the key pair and authorized_workers (problems
 * logged as FILE:LINE), bind the ZAP handler, start watching it on d->loop, and make
 * d->zsock a CURVE server. 0, PD_ECONFIG, or -errno; on error pd_daemon_free() cleans up. */
int pd_zap_setup(pd_daemon_t *d);

/* SIGHUP, after the new config was applied: read d->cfg.authorized_workers again and log how
 * many keys were added and removed (with their names); *changed is set when any was. On
 * error (logged) the old list stays. With CURVE off, only notes that authorized_workers has
 * no effect. 0 or an error code. */
int pd_zap_reload(pd_daemon_t *d, bool *changed);

/* After the loop has closed every handle and before zmq_ctx_term(): close the handler's
 * socket and free it. Accepts NULL. */
void pd_zap_free(pd_zap_t *z);

#endif
