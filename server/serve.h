/* serve.h - the job's data files for workers that lack them (FETCH -> DATA; doc/protocol.md
 * "Data transfer"), so a worker needs nothing but the server's address.
 *
 * The files are opened and check-summed once, when the daemon starts, and stay open: a file
 * replaced on disk later is still served as it was loaded. Chunks are read on libuv's thread
 * pool, never on the loop, so a cold page cache or a slow disk cannot hold up training; at
 * most PD_SERVE_MAX_READS reads run at once and at most PD_SERVE_MAX_WAITING requests wait
 * (PD_SERVE_MAX_PER_PEER of one peer), beyond which FETCH is refused. A DATA frame is the
 * read buffer itself (zero-copy), so the loop's cost per chunk is a few microseconds. */
#ifndef PD_SERVER_SERVE_H
#define PD_SERVER_SERVE_H

#include "daemon.h"

#define PD_SERVE_MAX_READS 2
#define PD_SERVE_MAX_WAITING 256
#define PD_SERVE_MAX_PER_PEER 16

/* Open and checksum the job's data files (d->job paths) when [server] serve_data is on; sets
 * d->serve. Call after pd_job_load(). 0 or -ENOMEM; a file that cannot be opened is logged
 * and then refused to workers, it does not stop the daemon. */
int pd_serve_open(pd_daemon_t *d);
/* Answer one FETCH from session s: queue the read, or refuse with ERROR. */
void pd_serve_fetch(pd_daemon_t *d, pd_wire_in_t *in, pd_session_t *s);
/* Close the files. Only once the loop has no reads left (after uv_run returned). Accepts a
 * daemon without d->serve. */
void pd_serve_free(pd_daemon_t *d);

#endif
