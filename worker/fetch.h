/* fetch.h - a worker that lacks the job's data gets it from the server (FETCH/DATA,
 * doc/protocol.md "Data transfer") and keeps it in a cache keyed by the set's fingerprint, so
 * the next start loads the cached copy without any transfer.
 *
 * Runs on the thread that owns the client's socket: the download is the socket's traffic, so
 * heartbeats are interleaved through the idle hook rather than sent from another thread. */
#ifndef PD_WORKER_FETCH_H
#define PD_WORKER_FETCH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "client_internal.h"
#include "data.h"
#include "wire.h"

/* DATA requests a worker keeps in flight: enough to hide the round trip, few enough that the
 * server's per-peer limit (PD_SERVE_MAX_PER_PEER) is never reached. */
#define PD_FETCH_WINDOW 4

typedef struct pd_fetch_env {
    pd_client_t *client;
    const char *cache_dir;        /* --cache-dir, or NULL for the default (pd_fetch_cache_dir) */
    uint32_t hb_ms;               /* the idle hook runs at least this often */
    uint32_t timeout_ms;          /* server silence after which a download gives up */
    volatile sig_atomic_t *stop;  /* set by a signal; also set here when the server says BYE */
    void (*idle)(void *arg);      /* sends a heartbeat when one is due */
    /* Load one set (labels may be NULL) into a new pd_data_t: the caller's loader with the
     * job's format, features and max_samples. Error text in err. 0 or an error code. */
    int (*load)(void *arg, const char *path, const char *labels, pd_data_t **out, char *err,
                size_t errlen);
    void *arg;
} pd_fetch_env_t;

/* One set of the job: its data file and labels file (labels: "" when there is none). */
typedef struct pd_fetch_set {
    const char *what;             /* "training" or "test", for the log */
    pd_data_file_t file, labels_file;
    const char *job_path, *job_labels;     /* the server's paths (base names name the cache) */
    const char *local_path, *local_labels; /* where this worker looks first */
    uint64_t fingerprint;         /* the job's fingerprint of the set */
} pd_fetch_set_t;

/* The cache directory: dir if not NULL, else $CACHE_DIRECTORY (systemd's CacheDirectory=),
 * $XDG_CACHE_HOME/paramd, or $HOME/.cache/paramd. 0, or PD_ECONFIG when none can be named. */
int pd_fetch_cache_dir(const char *dir, char *out, size_t len);

/* Load the set with its fingerprint checked: the local copy if it is there and is the job's
 * data, else the cached copy, else the server's copy fetched into the cache (verified by its
 * CRC-32, one retry) and then loaded. Returned: *out (pd_data_free). Errors are logged; codes:
 * PD_EFINGERPRINT, PD_EDATA, PD_ESTATE (the server refused, e.g. serve_data = no),
 * PD_ECONFIG (no cache directory), PD_ECORRUPT (checksum wrong twice), PD_EUNKNOWN_WORKER or
 * PD_ETIMEOUT (the server forgot us or went silent: rejoin), -ECANCELED (*stop was set),
 * -ENOMEM, -errno (the cache). */
int pd_fetch_set_load(const pd_fetch_env_t *env, const pd_fetch_set_t *set, pd_data_t **out);

#endif
