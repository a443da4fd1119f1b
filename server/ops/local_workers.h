/* local_workers.h - `paramd --local-workers N`: start N paramd-worker processes on this host
 * with uv_spawn (never fork: the daemon holds a zmq context and OpenBLAS threads), connect
 * them to the bound endpoint, and reap them when the job ends. */
#ifndef PD_SERVER_LOCAL_WORKERS_H
#define PD_SERVER_LOCAL_WORKERS_H

#include "../daemon.h"

/* Start d->opts.local_workers processes. 0, or a negative code (already logged). */
int pd_local_workers_start(pd_daemon_t *d);
/* Send a signal to every running local worker. */
void pd_local_workers_kill(pd_daemon_t *d, int signum);

#endif
