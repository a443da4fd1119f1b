/* client.c - libparamd-client: a DEALER socket to paramd, HELLO/WELCOME, and the key-value
 * pull/push API of paramd/client.h. Exported symbols are the pd_client_* of the public
 * header; everything else stays inside the library (see worker/local.mk). */
#include <config.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "client_impl.h"
#include "curve.h"
#include "error.h"
#include "rng.h"
#include "clock.h"

_Static_assert(PD_CLIENT_EAUTH == PD_EUNAUTH, "paramd/client.h: PD_CLIENT_EAUTH is PD_EUNAUTH");
_Static_assert(PD_CLIENT_EDIM == PD_EDIM, "paramd/client.h: PD_CLIENT_EDIM is PD_EDIM");

static void random_id(char *out, size_t len)
{
    pd_rng_t r;
    uint64_t a, b;
    /* Unique per process and start, not secret: it only names the connection. */
    pd_rng_seed(&r, ((uint64_t)getpid() << 32) ^ (uint64_t)(pd_clock_wall_s() * 1e9));
    a = pd_rng_next(&r);
    b = pd_rng_next(&r);
    snprintf(out, len, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

/* CURVE client options on sock, when opts has keys; -EINVAL for partial or malformed keys. */
static int set_curve(void *sock, const pd_client_opts_t *opts)
{
    const char *k[3];

    if (opts == NULL) {
        return 0;
    }
    k[0] = opts->server_public_key;
    k[1] = opts->client_public_key;
    k[2] = opts->client_secret_key;
    if (k[0] == NULL && k[1] == NULL && k[2] == NULL) {
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        if (k[i] == NULL || !pd_curve_key_valid(k[i], strlen(k[i]))) {
            return -EINVAL;
        }
    }
    if (!zmq_has("curve")) {
        return -ENOTSUP;
    }
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, k[0], PD_CURVE_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, k[1], PD_CURVE_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k[2], PD_CURVE_KEY_LEN + 1) != 0) {
        return -zmq_errno();
    }
    return 0;
}

/* Watch the handshake, so that a refused key reads as such instead of as a silent server.
 * Only handshake events are asked for: a few per connection attempt, read at every HELLO. */
static int open_monitor(pd_client_t *c)
{
    char ep[64];

    snprintf(ep, sizeof(ep), "inproc://pd-client-monitor-%s", c->rid);
    if (zmq_socket_monitor(c->sock, ep,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
        return -zmq_errno();
    }
    c->mon = zmq_socket(c->ctx, ZMQ_PAIR);
    if (c->mon == NULL || zmq_connect(c->mon, ep) != 0) {
        return -zmq_errno();
    }
    return 0;
}

/* libzmq gives up on an endpoint whose handshake failed (a refused key is a protocol error,
 * not a connection error, so there is no automatic reconnect): connect again, so that a key
 * the server admits later (SIGHUP) or a fixed server key are picked up. Called at most once
 * per HELLO attempt, which paces the retries with the caller's backoff. */
static void reconnect(pd_client_t *c)
{
    zmq_disconnect(c->sock, c->endpoint); /* fails harmlessly when libzmq dropped it already */
    if (zmq_connect(c->sock, c->endpoint) != 0) {
        c->hs_failure = -zmq_errno();
    }
}

/* Read the queued monitor events (never blocks) and remember the last verdict. */
static void read_monitor(pd_client_t *c)
{
    for (;;) {
        zmq_msg_t m;
        uint16_t event = 0;
        int more = 0;
        size_t more_len = sizeof(more);

        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        if (zmq_msg_size(&m) >= sizeof(event)) {
            memcpy(&event, zmq_msg_data(&m), sizeof(event));
        }
        /* The second frame (the endpoint) is not needed. */
        while (zmq_getsockopt(c->mon, ZMQ_RCVMORE, &more, &more_len) == 0 && more) {
            zmq_msg_close(&m);
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, c->mon, 0) < 0) {
                break;
            }
        }
        zmq_msg_close(&m);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            c->hs_failure = 0;
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            c->hs_failure = PD_EUNAUTH;
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                   event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            c->hs_failure = -EPROTO;
        }
    }
}

const char *pd_client_mechanism(const pd_client_t *c)
{
    int mech = ZMQ_NULL;
    size_t len = sizeof(mech);

    if (zmq_getsockopt(c->sock, ZMQ_MECHANISM, &mech, &len) != 0) {
        return "unknown";
    }
    return mech == ZMQ_CURVE ? "CURVE" : mech == ZMQ_NULL ? "NULL" : "other";
}

int pd_client_open(pd_client_t **out, const char *endpoint, const pd_client_opts_t *opts)
{
    pd_client_t *c = calloc(1, sizeof(*c));
    int linger = 0, one = 1;
    int rc = -ENOMEM;

    if (c == NULL) {
        return -ENOMEM;
    }
    random_id(c->rid, sizeof(c->rid));
    c->ctx = zmq_ctx_new();
    if (c->ctx == NULL) {
        goto fail;
    }
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    if (c->sock == NULL) {
        rc = -zmq_errno();
        goto fail;
    }
    /* IMMEDIATE: while disconnected, sends fail instead of queueing stale heartbeats and
     * results for a server that may come back as a different process. IPV6: a server at
     * tcp://[::1]:PORT (an IPv6 literal) is reachable only with it on. */
    int ipv6 = strchr(endpoint, '[') != NULL;
    if (zmq_setsockopt(c->sock, ZMQ_ROUTING_ID, c->rid, strlen(c->rid)) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &one, sizeof(one)) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_IPV6, &ipv6, sizeof(ipv6)) != 0) {
        rc = -zmq_errno();
        goto fail;
    }
    if ((rc = set_curve(c->sock, opts)) != 0 || (rc = open_monitor(c)) != 0) {
        goto fail;
    }
    c->endpoint = strdup(endpoint);
    if (c->endpoint == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    if (zmq_connect(c->sock, endpoint) != 0) {
        rc = -zmq_errno();
        goto fail;
    }
    *out = c;
    return 0;
fail:
    if (c->mon != NULL) {
        zmq_close(c->mon);
    }
    if (c->sock != NULL) {
        zmq_close(c->sock);
    }
    if (c->ctx != NULL) {
        zmq_ctx_term(c->ctx);
    }
    free(c->endpoint);
    free(c);
    return rc;
}

int pd_client_send_msg(pd_client_t *c, pd_msg_t *m, const pd_wire_frame_t *frames,
                       size_t n_frames)
{
    m->worker_id = c->worker_id;
    m->job_id = c->job.job_id;
    if (m->request_id == 0) {
        m->request_id = ++c->next_request;
    }
    return pd_wire_send(c->sock, NULL, 0, m, frames, n_frames, true);
}

int pd_client_recv_msg(pd_client_t *c, pd_wire_in_t *in, int timeout_ms)
{
    zmq_pollitem_t item = {c->sock, 0, ZMQ_POLLIN, 0};
    int n = zmq_poll(&item, 1, timeout_ms);
    int rc;

    if (n < 0) {
        return -zmq_errno();
    }
    if (n == 0) {
        return -ETIMEDOUT;
    }
    rc = pd_wire_recv(c->sock, false, 0, true, in);
    if (rc != 0) {
        return rc;
    }
    if (in->decode_rc != 0 || in->frames_rc != 0) {
        pd_wire_in_release(in);
        return PD_EWIRE;
    }
    if (in->msg.type == PD_MSG_ERROR || in->msg.type == PD_MSG_BYE) {
        snprintf(c->last_reason, sizeof(c->last_reason), "%s", in->msg.reason);
    }
    return 0;
}

int pd_client_hello(pd_client_t *c, const pd_hello_t *hello, int timeout_ms)
{
    pd_msg_t m;
    pd_wire_in_t in;
    uint64_t deadline = pd_clock_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    int rc;

    pd_msg_init(&m, PD_MSG_HELLO);
    m.has_hello = true;
    m.hello = *hello;
    c->worker_id = 0;
    read_monitor(c);
    if (c->hs_failure != 0) {
        reconnect(c);
    }
    /* With IMMEDIATE the HELLO can only go out once the connection is up (for CURVE: once
     * the handshake succeeded): retry, and say why if the handshake keeps failing. */
    while ((rc = pd_client_send_msg(c, &m, NULL, 0)) == -EAGAIN) {
        read_monitor(c);
        if (pd_clock_mono_ms() >= deadline) {
            return c->hs_failure != 0 ? c->hs_failure : -ETIMEDOUT;
        }
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    if (rc != 0) {
        return rc;
    }
    for (;;) {
        int64_t left = (int64_t)deadline - (int64_t)pd_clock_mono_ms();
        if (left <= 0) {
            return -ETIMEDOUT;
        }
        rc = pd_client_recv_msg(c, &in, (int)left);
        if (rc != 0) {
            return rc;
        }
        if (in.msg.type == PD_MSG_WELCOME && in.msg.has_job) {
            c->worker_id = in.msg.worker_id;
            c->job = in.job;
            pd_wire_in_release(&in);
            return 0;
        }
        /* A server going down for a restart says so (job_continues): that is no answer yet,
         * the caller keeps trying until the next one is up. */
        rc = in.msg.type == PD_MSG_BYE && !in.msg.job_continues ? -ECONNREFUSED
             : in.msg.type == PD_MSG_ERROR                       ? PD_ESTATE
                                                                  : 0;
        pd_wire_in_release(&in);
        if (rc != 0) {
            return rc; /* the reason is in pd_client_last_reason() */
        }
        /* anything else is a leftover of an earlier incarnation: skip it */
    }
}

const pd_job_desc_t *pd_client_job(const pd_client_t *c)
{
    return &c->job;
}

uint32_t pd_client_worker_id(const pd_client_t *c)
{
    return c->worker_id;
}

const char *pd_client_routing_id(const pd_client_t *c)
{
    return c->rid;
}

const char *pd_client_last_reason(const pd_client_t *c)
{
    return c->last_reason;
}

PD_EXPORT int pd_client_connect(pd_client_t **out, const char *endpoint, const char *name,
                                int timeout_ms)
{
    return pd_client_connect_opts(out, endpoint, name, timeout_ms, NULL);
}

PD_EXPORT int pd_client_connect_opts(pd_client_t **out, const char *endpoint, const char *name,
                                     int timeout_ms, const pd_client_opts_t *opts)
{
    pd_client_t *c = NULL;
    pd_hello_t h = {0};
    int rc;

    rc = pd_client_open(&c, endpoint, opts);
    if (rc != 0) {
        return rc;
    }
    if (name != NULL) {
        snprintf(h.name, sizeof(h.name), "%s", name);
    } else {
        gethostname(h.name, sizeof(h.name) - 1);
    }
    gethostname(h.host, sizeof(h.host) - 1);
    h.kv_only = true;
    snprintf(h.software, sizeof(h.software), "libparamd-client %s", PACKAGE_VERSION);
    rc = pd_client_hello(c, &h, timeout_ms);
    if (rc == 0) {
        rc = pd_client_open_shards(c, opts, &h, timeout_ms, false);
    }
    if (rc != 0) {
        pd_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

PD_EXPORT uint64_t pd_client_dim(const pd_client_t *c)
{
    return c->job.dim;
}

PD_EXPORT uint64_t pd_client_job_id(const pd_client_t *c)
{
    return c->job.job_id;
}

/* A request of this client: its worker, job and next request id. */
static void stamp_request(pd_client_t *c, pd_msg_t *m)
{
    m->worker_id = c->worker_id;
    m->job_id = c->job.job_id;
    m->request_id = ++c->next_request;
}

int pd_client_send_request(pd_client_t *c, pd_msg_t *m, const pd_wire_frame_t *f, size_t n)
{
    stamp_request(c, m);
    return pd_wire_send(c->sock, NULL, 0, m, f, n, false);
}

void pd_client_saw_version(pd_client_t *c, uint64_t version)
{
    c->seen_version = version > c->seen_version ? version : c->seen_version;
}

/* The library's code for a wire ERROR, so callers can tell "rejoin" from "bad request". */
static int error_code(pd_wire_error_t e)
{
    switch (e) {
    case PD_WERR_DIMENSION:
    case PD_WERR_FRAMES:
        return PD_EDIM;
    case PD_WERR_NONFINITE:
        return PD_ENONFINITE;
    case PD_WERR_UNKNOWN_WORKER:
        return PD_EUNKNOWN_WORKER;
    case PD_WERR_FUTURE_VERSION:
        return PD_EFUTURE;
    case PD_WERR_TOO_BIG:
        return PD_ETOOBIG;
    case PD_WERR_PROTOCOL_VERSION:
        return PD_EVERSION;
    case PD_WERR_MALFORMED:
        return PD_EWIRE;
    case PD_WERR_VERSION_GONE:
        return -ESTALE;
    default:
        return PD_ESTATE;
    }
}

int pd_client_recv_reply(pd_client_t *c, pd_wire_in_t *in, pd_msg_type_t want,
                         uint64_t request_id, int timeout_ms)
{
    for (;;) {
        int rc = pd_client_recv_msg(c, in, timeout_ms);
        if (rc != 0) {
            return rc;
        }
        /* id 0: the server's own BYE, or an ERROR about no request, which concern us now */
        bool older = request_id != 0 && in->msg.request_id != 0 &&
                     in->msg.request_id < request_id;
        if (in->msg.type == want && !older) {
            return 0;
        }
        rc = older                            ? 0
             : in->msg.type == PD_MSG_ERROR ? error_code(in->msg.error)
             : in->msg.type == PD_MSG_BYE   ? -ECONNRESET
                                            : 0;
        pd_wire_in_release(in);
        if (rc != 0) {
            return rc;
        }
        /* HEARTBEAT, other unsolicited messages, leftovers: keep waiting */
    }
}

/* The header of a PUSH of one float64 frame. */
static void push_header(pd_msg_t *m, uint64_t offset, uint64_t length, uint64_t version)
{
    pd_msg_init(m, PD_MSG_PUSH);
    m->key_offset = offset;
    m->key_length = length;
    m->version = version;
    m->elem_type = PD_ELEM_F64;
    m->n_frames = 1;
    m->frame_counts[0] = length;
}

PD_EXPORT int pd_client_push_send(pd_client_t *c, uint64_t offset, uint64_t length,
                                  const double *grad, uint64_t version)
{
    pd_msg_t m;
    pd_wire_frame_t f = {grad, length * sizeof(double), NULL};

    push_header(&m, offset, length, version);
    return pd_client_send_request(c, &m, &f, 1);
}

/* The ACK of request request_id (0: the next one). */
static int take_ack(pd_client_t *c, pd_client_ack_t *ack, uint64_t request_id)
{
    pd_wire_in_t in;
    int rc = pd_client_recv_reply(c, &in, PD_MSG_ACK, request_id, PD_CLIENT_REPLY_MS);

    if (rc != 0) {
        return rc;
    }
    pd_client_saw_version(c, in.msg.version);
    if (ack != NULL) {
        ack->status = (pd_client_ack_status_t)in.msg.ack;
        ack->version = in.msg.version;
        ack->staleness = in.msg.staleness;
        ack->learning_rate = in.msg.learning_rate;
        snprintf(ack->reason, sizeof(ack->reason), "%s", in.msg.reason);
    }
    pd_wire_in_release(&in);
    return 0;
}

PD_EXPORT int pd_client_push_recv(pd_client_t *c, pd_client_ack_t *ack)
{
    return take_ack(c, ack, 0);
}

/* From this many bytes on, a blocking push lends its arrays to libzmq instead of copying
 * them into the message (bench/wire: the copy made a 1 MiB push's round trip 1.4x a raw
 * ZeroMQ one's; below it the copy costs less than the wait below). */
#define LEND_BYTES (128 * 1024)

static void on_call_released(void *data, void *hint)
{
    (void)data;
    atomic_fetch_add((atomic_uint *)hint, 1);
}

/* The lent arrays' n messages are released once libzmq has written them, which is before the
 * server can answer, or when the connection goes. Should they still be queued after the
 * reply timeout (a server that stopped reading), the connection is dropped, and with it the
 * queue, and made again. */
static void wait_released(pd_client_t *c, atomic_uint *released, size_t n)
{
    uint64_t deadline = pd_clock_mono_ms() + PD_CLIENT_REPLY_MS;

    while (atomic_load(released) < n) {
        if (pd_clock_mono_ms() >= deadline) {
            reconnect(c);
            deadline = UINT64_MAX;
        }
        nanosleep(&(struct timespec){0, 20000L}, NULL);
    }
}

/* Send m with the arrays f[0 .. n) and take its ACK. Large arrays go from the caller's own
 * memory, which this call returns only once libzmq no longer reads: to the caller a blocking
 * push still borrows its arrays for the call alone. */
static int push_blocking(pd_client_t *c, pd_msg_t *m, const pd_wire_frame_t *f, size_t n,
                         pd_client_ack_t *ack)
{
    zmq_msg_t parts[PD_WIRE_MAX_FRAMES];
    atomic_uint released = 0;
    size_t bytes = 0, made = 0;
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        bytes += f[i].len_bytes;
    }
    if (bytes < LEND_BYTES || n > PD_WIRE_MAX_FRAMES) {
        rc = pd_client_send_request(c, m, f, n);
        return rc != 0 ? rc : take_ack(c, ack, m->request_id);
    }
    for (; made < n; made++) {
        if (zmq_msg_init_data(&parts[made], (void *)f[made].data, f[made].len_bytes,
                              on_call_released, &released) != 0) {
            rc = -zmq_errno(); /* no free function runs for this one */
            break;
        }
    }
    if (rc == 0) {
        stamp_request(c, m);
        rc = pd_wire_send_parts(c->sock, m, parts, n, false);
    }
    for (size_t i = 0; i < made; i++) {
        zmq_msg_close(&parts[i]); /* releases those not sent; the sent ones are empty */
    }
    if (rc == 0) {
        rc = take_ack(c, ack, m->request_id); /* not an ACK a timed-out push left behind */
    }
    wait_released(c, &released, made);
    return rc;
}

PD_EXPORT int pd_client_push(pd_client_t *c, uint64_t offset, uint64_t length,
                             const double *grad, uint64_t version, pd_client_ack_t *ack)
{
    pd_msg_t m;
    pd_wire_frame_t f = {grad, length * sizeof(double), NULL};

    push_header(&m, offset, length, version);
    return push_blocking(c, &m, &f, 1, ack);
}

PD_EXPORT int pd_client_push_f32(pd_client_t *c, uint64_t offset, uint64_t length,
                                 const float *grad, uint64_t version, pd_client_ack_t *ack)
{
    pd_msg_t m;
    pd_wire_frame_t f = {grad, length * sizeof(float), NULL};

    push_header(&m, offset, length, version);
    m.elem_type = PD_ELEM_F32;
    return push_blocking(c, &m, &f, 1, ack);
}

/* The hint libzmq holds for a zero-copy push. `armed` is cleared only on the failure path,
 * where the message never reached libzmq and is closed by the sending thread itself; once a
 * send succeeds libzmq alone reads it, and its queue orders that read after our write. */
typedef struct nocopy_lend {
    pd_client_free_fn done;
    void *hint;
    bool armed;
} nocopy_lend_t;

/* zmq_free_fn of a lent buffer: on a libzmq I/O thread, or in zmq_ctx_term() or
 * zmq_msg_close(). Nothing here may touch the pd_client_t. */
static void on_lend_released(void *data, void *hint)
{
    nocopy_lend_t *lend = hint;

    if (lend->armed) {
        lend->done(data, lend->hint);
    }
    free(lend);
}

/* Everything that makes pd_client_push_send_nocopy fail before the buffer is lent. */
static int nocopy_args_ok(const pd_client_t *c, uint64_t offset, uint64_t length,
                          const double *grad, pd_client_free_fn done)
{
    if (c == NULL || grad == NULL || done == NULL) {
        return -EINVAL;
    }
    /* Refused here, as the server would; but an ACK REJECTED would come after the lend. */
    if (length == 0 || offset >= c->job.dim || length > c->job.dim - offset) {
        return PD_EDIM;
    }
    return 0;
}

PD_EXPORT int pd_client_push_send_nocopy(pd_client_t *c, uint64_t offset, uint64_t length,
                                         const double *grad, uint64_t version,
                                         pd_client_free_fn done, void *hint)
{
    nocopy_lend_t *lend = NULL;
    zmq_msg_t part;
    pd_msg_t m;
    int rc = nocopy_args_ok(c, offset, length, grad, done);

    if (rc != 0) {
        return rc;
    }
    lend = malloc(sizeof(*lend));
    if (lend == NULL) {
        return -ENOMEM;
    }
    *lend = (nocopy_lend_t){done, hint, true};
    /* libzmq calls no free function when zmq_msg_init_data fails: lend is still ours. */
    if (zmq_msg_init_data(&part, (void *)grad, length * sizeof(double), on_lend_released,
                          lend) != 0) {
        rc = -zmq_errno();
        free(lend);
        return rc;
    }
    push_header(&m, offset, length, version);
    stamp_request(c, &m);
    rc = pd_wire_send_part(c->sock, &m, &part, false);
    if (rc != 0) {
        /* The message never reached libzmq, so closing it runs on_lend_released here and
         * now: disarmed, it frees lend without calling done (the header's contract). */
        lend->armed = false;
        zmq_msg_close(&part);
    }
    return rc;
}

/* A PUSH naming its keys by a list: key_count, frame 1 the keys, frame 2 the values.
 * key_offset and key_length stay 0, so a server older than key lists refuses it (an empty
 * range) instead of applying it to other keys. */
PD_EXPORT int pd_client_push_keys(pd_client_t *c, const uint64_t *keys, uint64_t n,
                                  const double *grad, uint64_t version, pd_client_ack_t *ack)
{
    pd_msg_t m;
    pd_wire_frame_t f[2] = {{keys, n * sizeof(uint64_t), NULL},
                            {grad, n * sizeof(double), NULL}};

    if (n == 0 || n > SIZE_MAX / sizeof(double)) {
        return -EINVAL; /* key_count 0 would mean a range; the other cannot be a frame */
    }
    pd_msg_init(&m, PD_MSG_PUSH);
    m.key_count = n;
    m.version = version;
    m.elem_type = PD_ELEM_F64;
    m.n_frames = 2;
    m.frame_counts[0] = n;
    m.frame_counts[1] = n;
    return push_blocking(c, &m, f, 2, ack);
}

PD_EXPORT const char *pd_client_last_error(const pd_client_t *c)
{
    return c->last_reason;
}

PD_EXPORT const char *pd_client_strerror(int rc)
{
    if (rc == -ETIMEDOUT) {
        return "no answer from the server in time";
    }
    if (rc == PD_ESTATE) {
        return "the server refused the request";
    }
    if (rc == PD_EUNAUTH) {
        return "the server refused our CURVE key: its public key is not in the server's "
               "authorized_workers";
    }
    if (rc == -EPROTO) {
        return "the security handshake failed: the server and this client disagree on CURVE "
               "(enabled on one side only, or not the server's public key)";
    }
    if (rc == -EINVAL) {
        return "invalid argument (CURVE keys: all three needed, 40-character Z85 each)";
    }
    return pd_strerror(rc);
}

PD_EXPORT void pd_client_free(pd_client_t *c)
{
    pd_msg_t bye;

    if (c == NULL) {
        return;
    }
    pd_client_close_shards(c);
    free(c->pending);
    if (c->worker_id != 0) {
        pd_msg_init(&bye, PD_MSG_BYE);
        pd_client_send_msg(c, &bye, NULL, 0);
    }
    /* LINGER 0 would drop the BYE: give it a moment to leave. */
    int linger = 200;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_socket_monitor(c->sock, NULL, 0);
    zmq_close(c->mon);
    zmq_close(c->sock);
    zmq_ctx_term(c->ctx);
    free(c->endpoint);
    free(c);
}
