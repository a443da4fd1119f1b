/* paramd/client.h - the C client library of the paramd parameter server.
 *
 * For users who bring their own training code: connect to a running paramd whose job has
 * `method = async-sgd` (any model, or `[model] type = none` with `dim = N` for a plain
 * vector), pull key ranges of the parameters, and push gradients for key ranges; the server
 * applies them with its optimiser and staleness rule and answers each push with an ACK.
 *
 * A job split over several servers ([server] shards) is used the same way: connect to shard
 * 0, and the library connects to the others from the map in the job's WELCOME, sends each
 * server the part of a pull it holds (all parts before any answer is read) and puts the
 * answers together, while pushes go to shard 0, which relays each shard's share. A pull after
 * a push sees it there too. A pull's *version is then the oldest of the parts' versions.
 *
 * Conventions: functions return 0 or a negative error code (pd_client_strerror() explains
 * it). A pd_client_t is used from one thread at a time. Keys are indices 0..dim-1 of a
 * float64 vector. Link with `pkg-config --libs libparamd-client`. */
#ifndef PARAMD_CLIENT_H
#define PARAMD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PD_CLIENT_API_VERSION 2

#if defined(__GNUC__)
#define PD_EXPORT __attribute__((visibility("default")))
#else
#define PD_EXPORT
#endif

typedef struct pd_client pd_client_t;

/* What the server said about a push. */
typedef enum pd_client_ack_status {
    PD_CLIENT_APPLIED = 0,       /* applied; `version` is the new version */
    PD_CLIENT_STALE_DROPPED = 1, /* computed at a version more than max_staleness behind */
    PD_CLIENT_REJECTED = 2,      /* invalid (range, NaN, ...): see `reason` */
} pd_client_ack_status_t;

typedef struct pd_client_ack {
    pd_client_ack_status_t status;
    uint64_t version;   /* the server's version after the push */
    uint64_t staleness; /* versions between the pushed version and the server's */
    double learning_rate;
    char reason[256];
} pd_client_ack_t;

/* Connect to `endpoint` (e.g. "tcp://127.0.0.1:5555"), join as a key-value client named
 * `name` (NULL: the host name), and wait up to timeout_ms for the server's welcome.
 * Returned: *out, free with pd_client_free(). */
PD_EXPORT int pd_client_connect(pd_client_t **out, const char *endpoint, const char *name,
                                int timeout_ms);
/* Security of pd_client_connect_opts(): with all three keys set, the connection uses CURVE
 * (encrypted; the server admits only public keys listed in its [security]
 * authorized_workers); with all three NULL it is plain, like pd_client_connect(). Keys are
 * libzmq's 40-character Z85 text, as `paramctl keygen` writes them (PREFIX.key holds the
 * client's pair, the server's PREFIX.pub its public key). The strings are copied. */
typedef struct pd_client_opts {
    const char *server_public_key;
    const char *client_public_key;
    const char *client_secret_key;
} pd_client_opts_t;

/* pd_client_connect() with options (opts may be NULL). Beyond its errors: -EINVAL for a key
 * that is not Z85 or only some keys set; PD_CLIENT_EAUTH when the server refused our key;
 * -EPROTO when the security handshake failed (CURVE on one side only, or a wrong server key).
 * pd_client_strerror() says what to check. */
PD_EXPORT int pd_client_connect_opts(pd_client_t **out, const char *endpoint, const char *name,
                                     int timeout_ms, const pd_client_opts_t *opts);
/* The code of a refused key (equal to paramd's PD_EUNAUTH). */
#define PD_CLIENT_EAUTH (-992)

/* Number of keys (parameters) of the job, and its id. */
PD_EXPORT uint64_t pd_client_dim(const pd_client_t *c);
PD_EXPORT uint64_t pd_client_job_id(const pd_client_t *c);

/* Read keys [offset, offset + length) into out (length doubles). *version: on input the
 * version the caller already holds in `out`, or PD_CLIENT_NO_VERSION; on output the version
 * read. When the held version is current the server sends no data, out is left as it is,
 * and *not_modified (if not NULL) is set. */
#define PD_CLIENT_NO_VERSION UINT64_MAX
PD_EXPORT int pd_client_pull(pd_client_t *c, uint64_t offset, uint64_t length, double *out,
                             uint64_t *version, bool *not_modified);

/* Push a gradient for keys [offset, offset + length), computed at parameters of `version`.
 * The server applies x <- prox(x - lr * grad) on that range. ack may be NULL. Returns 0
 * when the server answered (see ack->status), or a negative code. grad is borrowed for the
 * call only; from 128 KiB on it is sent from where it is, without a copy, and the call
 * returns once libzmq no longer reads it (the same holds for the other blocking pushes). */
PD_EXPORT int pd_client_push(pd_client_t *c, uint64_t offset, uint64_t length,
                             const double *grad, uint64_t version, pd_client_ack_t *ack);

/* Explicit key lists, for models whose updates touch few of many keys. keys: n >= 1 keys,
 * strictly increasing, each < dim (the server refuses anything else, naming the problem);
 * values travel in key order. Borrowed: keys, grad (for the call only).
 *
 * pd_client_pull_keys reads x[keys[0]], ..., x[keys[n-1]] into out (n doubles). *version as
 * in pd_client_pull; the answer is NOT_MODIFIED (out untouched) when no block of 512 keys
 * holding one of the keys changed since the held version (a change to another key of such a
 * block counts). pd_client_push_keys pushes grad[i] for key keys[i]: the server steps those
 * coordinates only (their momentum or Adam state too; the prox of the regulariser only at
 * them) as one update. Returns as pd_client_pull / pd_client_push; -EINVAL for n == 0, and
 * PD_EWIRE from a server too old to know key lists (its answer is not used). */
PD_EXPORT int pd_client_pull_keys(pd_client_t *c, const uint64_t *keys, uint64_t n,
                                  double *out, uint64_t *version, bool *not_modified);
PD_EXPORT int pd_client_push_keys(pd_client_t *c, const uint64_t *keys, uint64_t n,
                                  const double *grad, uint64_t version, pd_client_ack_t *ack);

/* Float32 forms: half the bytes on the wire. The server keeps float64: a pull's values are
 * its parameters rounded to the nearest float32 (beyond +-FLT_MAX: +-Inf); a push's values
 * are widened exactly before the step. Otherwise as pd_client_pull and pd_client_push (a
 * server older than float32 answers a pull in float64, which is rounded here alike). */
PD_EXPORT int pd_client_pull_f32(pd_client_t *c, uint64_t offset, uint64_t length, float *out,
                                 uint64_t *version, bool *not_modified);
PD_EXPORT int pd_client_push_f32(pd_client_t *c, uint64_t offset, uint64_t length,
                                 const float *grad, uint64_t version, pd_client_ack_t *ack);

/* Pipelined forms: up to `depth` requests in flight. The *_send functions queue a request;
 * pd_client_pull_recv / pd_client_push_recv take the replies in the order sent. The buffer
 * given to pd_client_push_send may be reused as soon as it returns. */
PD_EXPORT int pd_client_pull_send(pd_client_t *c, uint64_t offset, uint64_t length,
                                  uint64_t held_version);
PD_EXPORT int pd_client_pull_recv(pd_client_t *c, double *out, uint64_t length,
                                  uint64_t *version, bool *not_modified);
PD_EXPORT int pd_client_push_send(pd_client_t *c, uint64_t offset, uint64_t length,
                                  const double *grad, uint64_t version);
PD_EXPORT int pd_client_push_recv(pd_client_t *c, pd_client_ack_t *ack);

/* Zero-copy push: pd_client_push_send() without copying grad. The values frame is sent from
 * grad itself, so the caller lends the buffer: it must not change or free grad[0..length)
 * until done(grad, hint) is called. The reply is taken with pd_client_push_recv() as usual.
 *
 * On success (0), done is called exactly once: when libzmq has no more use for the bytes,
 * typically once they are written to the socket, or at the latest before pd_client_free()
 * returns (unsent messages are dropped then, and released). It runs on a libzmq I/O thread
 * or inside pd_client_free(), possibly before this function returns, never twice: it must
 * be thread-safe and short (post to a queue, decrement an atomic counter) and must not call
 * this library. An ACK from pd_client_push_recv() proves that the server has the values, but
 * not that done has run yet: wait for done itself before reusing the buffer.
 *
 * On failure (< 0), done is NOT called, now or later, and the buffer is the caller's again:
 * -EINVAL when c, grad or done is NULL; PD_CLIENT_EDIM when length is 0 or [offset, offset +
 * length) is not inside 0..dim-1, checked here before anything is sent (the copying calls
 * send such a push, and the server answers PD_CLIENT_REJECTED); -ENOMEM; or the error of the
 * send (-EINTR when a signal interrupted a send waiting for room in the queue).
 *
 * There is no blocking pd_client_push_nocopy(): its ACK would not free the buffer either.
 * Worth it for large pushes (tens of KiB and up), where the copy dominates the client's CPU. */
typedef void (*pd_client_free_fn)(void *grad, void *hint);
/* A key range outside the job (equal to paramd's PD_EDIM). */
#define PD_CLIENT_EDIM (-997)
PD_EXPORT int pd_client_push_send_nocopy(pd_client_t *c, uint64_t offset, uint64_t length,
                                         const double *grad, uint64_t version,
                                         pd_client_free_fn done, void *hint);

/* The server's own words for the last ERROR or BYE it sent this client ("" if none). */
PD_EXPORT const char *pd_client_last_error(const pd_client_t *c);

/* Text for an error code returned by this library. Never NULL. */
PD_EXPORT const char *pd_client_strerror(int rc);

/* Say BYE and close. Accepts NULL. */
PD_EXPORT void pd_client_free(pd_client_t *c);

#ifdef __cplusplus
}
#endif

#endif
