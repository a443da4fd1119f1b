/* status_http.h - the status socket (`status = unix:PATH`) and the read-only metrics endpoint
 * (`metrics_listen = tcp://HOST:PORT`), served over HTTP/1.1 from the daemon's loop.
 * Parsing and routing are in http.c, the text in status_render.c; this file is the thin
 * libuv glue: listening sockets, connections, timeouts, and the two POST actions.
 * Loop thread only. */
#ifndef PD_SERVER_STATUS_HTTP_H
#define PD_SERVER_STATUS_HTTP_H

#include <stddef.h>

typedef struct pd_daemon pd_daemon_t;
typedef struct pd_status pd_status_t;

/* Every connection is closed this long after it was accepted, whatever it is doing, so slow
 * or idle clients cannot hold slots for ever: on the admin (unix) socket, and, shorter, on the
 * read-only TCP endpoint, which anyone who can reach it may connect to. */
#define PD_STATUS_CONN_TIMEOUT_MS 10000
#define PD_STATUS_TCP_CONN_TIMEOUT_MS 3000

/* Bind the endpoints d->cfg asks for and start accepting (the loop serves them once it
 * runs). *out is NULL when neither is configured. d is borrowed and must outlive the
 * object. The unix socket follows OpenSMTPD's control socket: a live instance on the path
 * is an error (-EADDRINUSE), a stale socket is removed, a non-socket file is left alone
 * (-EEXIST), the socket is bound under umask 0117 and then chmod 0660.
 * Returns 0, or a negative code (logged, nothing left open). */
int pd_status_new(pd_status_t **out, pd_daemon_t *d);

/* Stop accepting, close every connection and listener, and remove the socket file. The
 * object frees itself in its last close callback, so the loop must run afterwards (finish()
 * and pd_daemon_free() do). Call before anything uv_walk()s the loop. Accepts NULL. */
void pd_status_close(pd_status_t *st);

/* The bound read-only endpoint (tcp://HOST:PORT with the real port), or NULL. */
const char *pd_status_metrics_endpoint(const pd_status_t *st);

#endif
