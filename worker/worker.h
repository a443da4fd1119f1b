/* worker.h - the paramd-worker process: join the server, load and verify the job's data,
 * run tasks until BYE, and rejoin by itself (with backoff) when the server goes away. */
#ifndef PD_WORKER_WORKER_H
#define PD_WORKER_WORKER_H

#include <signal.h>
#include <stdbool.h>

typedef struct pd_worker_opts {
    const char *server;     /* endpoint */
    const char *name;       /* NULL: host name */
    const char *data;       /* overrides the job's training set path */
    const char *data_dir;   /* look for the job's files (by base name) here */
    const char *cache_dir;  /* copies fetched from the server (NULL: fetch.c's default) */
    unsigned threads;
    double slowdown;        /* >= 1: sleep (slowdown - 1) x compute time after each task */
    bool ignore_cancel;     /* compute on past a CANCEL, as workers from before it did */
    int join_timeout_ms;    /* give up when no server answers for this long (0: never) */
    bool exit_with_server;  /* leave when the server stops, even if the job is not over */
    /* CURVE (all three, Z85) or none: the server's public key and our key pair. */
    const char *server_key;
    const char *public_key;
    const char *secret_key;
    const char *key_file;   /* where public_key came from, for the hint about refused keys */
} pd_worker_opts_t;

/* Exit codes of paramd-worker (documented in paramd-worker(1)). */
enum {
    PD_WORKER_EXIT_OK = 0,        /* the job ended (BYE) or a signal asked us to stop */
    PD_WORKER_EXIT_FAILURE = 1,   /* runtime failure */
    PD_WORKER_EXIT_USAGE = 2,
    PD_WORKER_EXIT_DATA = 3,      /* the data cannot be loaded or is not the job's data */
    PD_WORKER_EXIT_NO_SERVER = 4, /* join_timeout passed without a server */
};

/* Run until the job ends, *stop becomes non-zero, or a fatal error. Returns an exit code. */
int pd_worker_run(const pd_worker_opts_t *o, volatile sig_atomic_t *stop);

#endif
