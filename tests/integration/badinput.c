/* badinput.c - hostile and broken input against a running paramd (bad_input.test).
 *
 * The daemon must answer every bad message with the right ERROR code (or, for a PUSH, an ACK
 * with status REJECTED and the code), change nothing, and keep serving. The daemon is
 * expected to run method = async-sgd, [model] type = none, dim = 1000, max_message_size = 64K,
 * a worker_timeout well above this program's run time (it idles through a rate-limit window).
 *
 *   badinput ENDPOINT [--no-window | --task-worker]
 *
 * --no-window skips the wait for the daemon's 10 s log rate-limit window to end (the .test
 * script then cannot check for the "suppressed" line). Output is TAP-like; exit 0 when every
 * check passed, 1 otherwise, 99 when the daemon could not be reached at all.
 * --task-worker runs task_worker() instead, against a task-mode job (see there). */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "client_internal.h"
#include "clock.h"
#include "error.h"
#include "paramd/client.h"
#include "rng.h"
#include "wire.h"

#define DIM 1000
#define REPLY_TIMEOUT_MS 10000 /* generous: the daemon may run under valgrind */
#define BURST 200
#define FLOOD 20000
#define RATELIMIT_WINDOW_MS 10000 /* pd_ratelimit_init(..., 10000, 5) in daemon.c/session.c */

static int n_checks, n_failed;

static void check(bool ok, const char *fmt, ...)
{
    va_list ap;

    n_checks++;
    if (!ok) {
        n_failed++;
    }
    printf("%s %d - ", ok ? "ok" : "not ok", n_checks);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* Two unanswered requests mean the daemon is gone or stuck: stop rather than wait out
 * every remaining case. */
static void timed_out(void)
{
    static int n_timeouts;
    if (++n_timeouts >= 2) {
        printf("# the daemon stopped answering; giving up after %d checks\n", n_checks);
        exit(1);
    }
}

/* A message from a raw DEALER (raw != NULL) or from the joined key-value client. */
static int recv_one(void *raw, pd_client_t *c, pd_wire_in_t *in)
{
    int rc;

    if (c != NULL) {
        rc = pd_client_recv_msg(c, in, REPLY_TIMEOUT_MS);
        if (rc == -ETIMEDOUT) {
            timed_out();
        }
        return rc;
    }
    zmq_pollitem_t it = {raw, 0, ZMQ_POLLIN, 0};
    int n = zmq_poll(&it, 1, REPLY_TIMEOUT_MS);
    if (n < 0) {
        return -zmq_errno();
    }
    if (n == 0) {
        timed_out();
        return -ETIMEDOUT;
    }
    rc = pd_wire_recv(raw, false, 0, true, in);
    if (rc == 0 && (in->decode_rc != 0 || in->frames_rc != 0)) {
        pd_wire_in_release(in);
        return PD_EWIRE;
    }
    return rc;
}

/* Expect an ERROR with `code`; request_id is checked when want_req != 0. */
static void expect_error(void *raw, pd_client_t *c, pd_wire_error_t code, uint64_t want_req,
                         const char *what)
{
    pd_wire_in_t in;
    int rc = recv_one(raw, c, &in);

    if (rc != 0) {
        check(false, "%s: no reply (%s)", what, pd_strerror(rc));
        return;
    }
    check(in.msg.type == PD_MSG_ERROR && in.msg.error == code &&
              (want_req == 0 || in.msg.request_id == want_req),
          "%s: %s %s (want ERROR %s) req=%" PRIu64 " reason=\"%s\"", what,
          pd_msg_type_name(in.msg.type), pd_wire_error_name(in.msg.error),
          pd_wire_error_name(code), in.msg.request_id, in.msg.reason);
    pd_wire_in_release(&in);
}

static void expect_ack(pd_client_t *c, pd_ack_status_t st, pd_wire_error_t code,
                       uint64_t want_req, uint64_t *version, const char *what)
{
    pd_wire_in_t in;
    int rc = recv_one(NULL, c, &in);

    if (rc != 0) {
        check(false, "%s: no reply (%s)", what, pd_strerror(rc));
        return;
    }
    check(in.msg.type == PD_MSG_ACK && in.msg.ack == st && in.msg.error == code &&
              in.msg.request_id == want_req,
          "%s: %s ack=%d err=%s (want ACK %d %s) reason=\"%s\"", what,
          pd_msg_type_name(in.msg.type), (int)in.msg.ack, pd_wire_error_name(in.msg.error),
          (int)st, pd_wire_error_name(code), in.msg.reason);
    if (version != NULL) {
        *version = in.msg.version;
    }
    pd_wire_in_release(&in);
}

static void send_raw_bytes(void *raw, const void *hdr, size_t len, const void *frame,
                           size_t frame_len)
{
    int rc = zmq_send(raw, hdr, len, frame != NULL ? ZMQ_SNDMORE : 0);
    if (rc >= 0 && frame != NULL) {
        rc = zmq_send(raw, frame, frame_len, 0);
    }
    if (rc < 0) {
        check(false, "send: %s", zmq_strerror(zmq_errno()));
    }
}

static void send_msg(void *raw, pd_client_t *c, pd_msg_t *m, const pd_wire_frame_t *f, size_t n)
{
    int rc = c != NULL ? pd_client_send_msg(c, m, f, n) : pd_wire_send(raw, NULL, 0, m, f, n, false);
    if (rc != 0) {
        check(false, "send %s: %s", pd_msg_type_name(m->type), pd_strerror(rc));
    }
}

/* The code a header that decodes to `rc` locally must draw from the daemon. */
static pd_wire_error_t code_for_decode(int rc)
{
    return rc == PD_EVERSION ? PD_WERR_PROTOCOL_VERSION : PD_WERR_MALFORMED;
}

static void *open_dealer(void *ctx, const char *ep)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    if (s == NULL || zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_connect(s, ep) != 0) {
        fprintf(stderr, "badinput: cannot open a DEALER to %s: %s\n", ep, zmq_strerror(zmq_errno()));
        exit(99);
    }
    return s;
}

/* 1. Many garbage headers in a row: each answered, the log stays bounded (checked by the
 *    .test script). Random bytes with a fixed seed; the expected code comes from decoding
 *    the same bytes locally (random bytes now and then parse as a header of version 0). */
static void garbage_burst(void *raw)
{
    pd_rng_t r;
    unsigned char buf[200];
    pd_msg_t scratch;
    pd_job_desc_t *job = malloc(sizeof(*job));
    int answered = 0, right = 0;

    pd_rng_seed(&r, 4242);
    for (int i = 0; i < BURST; i++) {
        size_t len = 1 + (size_t)pd_rng_below(&r, sizeof(buf));
        for (size_t k = 0; k < len; k++) {
            buf[k] = (unsigned char)pd_rng_next(&r);
        }
        int drc = pd_wire_decode(buf, len, &scratch, job);
        if (drc == 0) {
            continue; /* not garbage after all (never seen with this seed) */
        }
        send_raw_bytes(raw, buf, len, NULL, 0);
        pd_wire_in_t in;
        if (recv_one(raw, NULL, &in) == 0) {
            answered++;
            right += in.msg.type == PD_MSG_ERROR && in.msg.error == code_for_decode(drc);
            pd_wire_in_release(&in);
        }
    }
    free(job);
    check(answered == right && answered > BURST * 9 / 10,
          "garbage burst: %d of %d answered, %d with the right code", answered, BURST, right);
}

static void malformed_headers(void *raw, pd_client_t *c)
{
    static const unsigned char ff[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const char http[] = "GET / HTTP/1.0\r\n\r\n";
    static pd_job_desc_t job;
    pd_msg_t m, scratch;
    void *hdr = NULL;
    size_t len = 0;
    double one = 1.0;

    send_raw_bytes(raw, ff, sizeof(ff), NULL, 0);
    expect_error(raw, NULL, PD_WERR_MALFORMED, 0, "garbage header 0xff x 16");
    send_raw_bytes(raw, ff, sizeof(ff), &one, sizeof(one));
    expect_error(raw, NULL, PD_WERR_MALFORMED, 0, "garbage header + 1 frame");
    send_raw_bytes(raw, http, sizeof(http) - 1, NULL, 0);
    expect_error(raw, NULL, PD_WERR_MALFORMED, 0, "an HTTP request");
    send_raw_bytes(raw, "", 0, NULL, 0);
    expect_error(raw, NULL, PD_WERR_MALFORMED, 0, "empty header frame");

    /* A valid HELLO header cut at every length: a cut inside a field does not parse, a cut
     * between fields is a HELLO without its hello section; both are MALFORMED. */
    pd_msg_init(&m, PD_MSG_HELLO);
    m.request_id = 31337;
    m.has_hello = true;
    snprintf(m.hello.name, sizeof(m.hello.name), "truncated");
    snprintf(m.hello.host, sizeof(m.hello.host), "nowhere");
    snprintf(m.hello.software, sizeof(m.hello.software), "badinput");
    m.hello.kv_only = true;
    if (pd_wire_encode(&m, &hdr, &len) != 0) {
        check(false, "encode HELLO");
        return;
    }
    int cuts = 0, right = 0, mid_field = 0;
    for (size_t cut = 1; cut < len; cut++) {
        if (pd_wire_decode(hdr, cut, &scratch, &job) != 0) {
            mid_field++;
        }
        send_raw_bytes(raw, hdr, cut, NULL, 0);
        pd_wire_in_t in;
        if (recv_one(raw, NULL, &in) == 0) {
            right += in.msg.type == PD_MSG_ERROR && in.msg.error == PD_WERR_MALFORMED;
            pd_wire_in_release(&in);
        }
        cuts++;
    }
    check(right == cuts && mid_field > 0,
          "truncated HELLO header: %d of %d cuts MALFORMED (%d inside a field)", right, cuts,
          mid_field);
    /* And once more the single cut in the middle of the hello section, as its own case. */
    send_raw_bytes(raw, hdr, len - 3, NULL, 0);
    expect_error(raw, NULL, PD_WERR_MALFORMED, 0, "truncated valid header (inside hello)");
    free(hdr);

    /* HELLO without a hello section. */
    pd_msg_init(&m, PD_MSG_HELLO);
    m.request_id = 5;
    send_msg(raw, NULL, &m, NULL, 0);
    expect_error(raw, NULL, PD_WERR_MALFORMED, 5, "HELLO without hello section");

    /* Out-of-range enum values (the encoder casts; the decoder must refuse). */
    pd_msg_init(&m, (pd_msg_type_t)99);
    m.request_id = 6;
    send_msg(raw, NULL, &m, NULL, 0);
    expect_error(raw, NULL, PD_WERR_MALFORMED, 0, "message type 99");
    pd_msg_init(&m, PD_MSG_PUSH);
    m.elem_type = (pd_elem_type_t)7;
    send_msg(raw, c, &m, NULL, 0);
    expect_error(raw, c, PD_WERR_MALFORMED, 0, "elem_type 7 (joined client)");
    pd_msg_init(&m, PD_MSG_PULL);
    m.error = (pd_wire_error_t)-1;
    send_msg(raw, NULL, &m, NULL, 0);
    expect_error(raw, NULL, PD_WERR_MALFORMED, 0, "error code -1");
}

static void wrong_version(void *raw, pd_client_t *c)
{
    pd_msg_t m;

    pd_msg_init(&m, PD_MSG_PULL);
    m.proto_version = 99;
    m.request_id = 99001;
    send_msg(raw, NULL, &m, NULL, 0);
    expect_error(raw, NULL, PD_WERR_PROTOCOL_VERSION, 99001, "proto_version 99 (unknown peer)");
    pd_msg_init(&m, PD_MSG_PUSH);
    m.proto_version = 99;
    m.request_id = 99002;
    send_msg(raw, c, &m, NULL, 0);
    expect_error(raw, c, PD_WERR_PROTOCOL_VERSION, 99002, "proto_version 99 (joined client)");
    pd_msg_init(&m, PD_MSG_HELLO);
    m.proto_version = 0;
    m.has_hello = true;
    send_msg(raw, NULL, &m, NULL, 0);
    expect_error(raw, NULL, PD_WERR_PROTOCOL_VERSION, 0, "HELLO with proto_version 0");
}

static void frame_mismatch(void *raw, pd_client_t *c, const char *who)
{
    double g[4] = {0.1, 0.2, 0.3, 0.4};
    pd_wire_frame_t f = {g, sizeof(g), NULL};
    char what[128];
    pd_msg_t m;

    pd_msg_init(&m, PD_MSG_PUSH);
    m.key_offset = 0;
    m.key_length = 4;
    m.n_frames = 2;
    m.frame_counts[0] = 4;
    m.frame_counts[1] = 4;
    m.request_id = 4001;
    send_msg(raw, c, &m, &f, 1);
    snprintf(what, sizeof(what), "2 frames declared, 1 sent (%s)", who);
    expect_error(raw, c, PD_WERR_FRAMES, 4001, what);

    m.n_frames = 1;
    m.frame_counts[0] = 4;
    m.request_id = 4002;
    f.len_bytes = sizeof(g) - 3;
    send_msg(raw, c, &m, &f, 1);
    snprintf(what, sizeof(what), "frame of 29 bytes for 4 values (%s)", who);
    expect_error(raw, c, PD_WERR_FRAMES, 4002, what);

    m.frame_counts[0] = 3;
    m.request_id = 4003;
    f.len_bytes = sizeof(g);
    send_msg(raw, c, &m, &f, 1);
    snprintf(what, sizeof(what), "frame of 4 values declared as 3 (%s)", who);
    expect_error(raw, c, PD_WERR_FRAMES, 4003, what);

    m.n_frames = 0;
    m.request_id = 4004;
    send_msg(raw, c, &m, &f, 1);
    snprintf(what, sizeof(what), "0 frames declared, 1 sent (%s)", who);
    expect_error(raw, c, PD_WERR_FRAMES, 4004, what);
}

static void unknown_worker(void *raw)
{
    double g[2] = {1, 2};
    pd_wire_frame_t f = {g, sizeof(g), NULL};
    pd_msg_t m;
    const pd_msg_type_t types[] = {PD_MSG_PULL, PD_MSG_PUSH, PD_MSG_HEARTBEAT, PD_MSG_READY,
                                   PD_MSG_RESULT, PD_MSG_WELCOME};

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char what[64];
        pd_msg_init(&m, types[i]);
        m.request_id = 5000 + i;
        if (types[i] == PD_MSG_PUSH || types[i] == PD_MSG_RESULT) {
            m.key_length = 2;
            m.n_frames = 1;
            m.frame_counts[0] = 2;
            send_msg(raw, NULL, &m, &f, 1);
        } else {
            send_msg(raw, NULL, &m, NULL, 0);
        }
        snprintf(what, sizeof(what), "%s before HELLO", pd_msg_type_name(types[i]));
        expect_error(raw, NULL, PD_WERR_UNKNOWN_WORKER, m.request_id, what);
    }
}

/* One PUSH from the joined client with its own header fields and frame. */
static void push_case(pd_client_t *c, uint64_t offset, uint64_t key_length, const double *g,
                      uint64_t count, uint64_t version, pd_wire_error_t code, const char *what)
{
    pd_wire_frame_t f = {g, count * sizeof(double), NULL};
    pd_msg_t m;

    pd_msg_init(&m, PD_MSG_PUSH);
    m.key_offset = offset;
    m.key_length = key_length;
    m.version = version;
    m.n_frames = 1;
    m.frame_counts[0] = count;
    send_msg(NULL, c, &m, &f, 1);
    expect_ack(c, PD_ACK_REJECTED, code, m.request_id, NULL, what);
}

static void bad_pushes(pd_client_t *c, uint64_t version)
{
    static double g[DIM + 10];

    for (size_t i = 0; i < DIM + 10; i++) {
        g[i] = 0.5;
    }
    push_case(c, 990, 20, g, 20, version, PD_WERR_DIMENSION, "PUSH [990,+20) past dim");
    push_case(c, DIM, 1, g, 1, version, PD_WERR_DIMENSION, "PUSH at key dim");
    push_case(c, UINT64_MAX - 1, 4, g, 4, version, PD_WERR_DIMENSION, "PUSH offset overflow");
    push_case(c, 0, DIM + 1, g, DIM + 1, version, PD_WERR_DIMENSION, "PUSH of dim+1 keys");
    push_case(c, 0, 0, g, 0, version, PD_WERR_DIMENSION, "PUSH of 0 keys");
    push_case(c, 10, 10, g, 5, version, PD_WERR_DIMENSION, "PUSH frame shorter than key_length");
    {
        /* Well-formed on the wire (10 U32 values in 40 bytes), but a push is float64 or
         * float32. */
        uint32_t u32[10] = {0};
        pd_wire_frame_t f = {u32, sizeof(u32), NULL};
        pd_msg_t m;
        pd_msg_init(&m, PD_MSG_PUSH);
        m.key_length = 10;
        m.version = version;
        m.elem_type = PD_ELEM_U32;
        m.n_frames = 1;
        m.frame_counts[0] = 10;
        send_msg(NULL, c, &m, &f, 1);
        expect_ack(c, PD_ACK_REJECTED, PD_WERR_DIMENSION, m.request_id, NULL, "PUSH of U32 values");
    }

    g[3] = NAN;
    push_case(c, 0, 10, g, 10, version, PD_WERR_NONFINITE, "PUSH with NaN");
    g[3] = INFINITY;
    push_case(c, 0, 10, g, 10, version, PD_WERR_NONFINITE, "PUSH with +Inf");
    g[3] = 0.5;
    g[DIM - 1] = -INFINITY;
    push_case(c, 0, DIM, g, DIM, version, PD_WERR_NONFINITE, "PUSH with -Inf in the last key");
    g[DIM - 1] = 0.5;

    push_case(c, 0, 10, g, 10, version + 1, PD_WERR_FUTURE_VERSION, "PUSH from version+1");
    push_case(c, 0, 10, g, 10, UINT64_MAX, PD_WERR_FUTURE_VERSION, "PUSH from version 2^64-1");

    /* A PULL out of range is an ERROR (there is no ACK for a pull). */
    pd_msg_t m;
    pd_msg_init(&m, PD_MSG_PULL);
    m.key_offset = DIM + 1;
    m.key_length = 1;
    send_msg(NULL, c, &m, NULL, 0);
    expect_error(NULL, c, PD_WERR_DIMENSION, m.request_id, "PULL past dim");
    pd_msg_init(&m, PD_MSG_PULL);
    m.key_offset = 5;
    m.key_length = UINT64_MAX;
    send_msg(NULL, c, &m, NULL, 0);
    expect_error(NULL, c, PD_WERR_DIMENSION, m.request_id, "PULL length overflow");
}

/* One malformed key list (doc/protocol.md "Key lists"). A PULL is answered ERROR; a PUSH
 * ACK REJECTED, except for frames that fail the generic length checks (ERROR for both). */
typedef struct key_case {
    const char *what;
    pd_msg_type_t type;
    uint64_t key_count;  /* Header.key_count */
    uint64_t key_offset;
    size_t n_keys;       /* keys in frame 1, declared as such; 0: no frames at all */
    uint64_t keys[3];
    size_t key_bytes;    /* bytes of frame 1 sent; 0: n_keys x 8 */
    int n_values;        /* PUSH: values in frame 2; -1: no frame 2 */
    double value;
    bool future;         /* PUSH: claim the version after the server's */
    bool as_error;       /* answered ERROR (generic frame checks), not ACK */
    pd_wire_error_t code;
} key_case_t;

static const key_case_t key_cases[] = {
    {"key PULL, keys frame of 13 bytes", PD_MSG_PULL, 2, 0, 2, {1, 2}, 13, -1, 0, false, true,
     PD_WERR_FRAMES},
    {"key PULL, key_count 3 for 2 keys", PD_MSG_PULL, 3, 0, 2, {1, 2}, 0, -1, 0, false, true,
     PD_WERR_FRAMES},
    {"key PULL, key_count 2 without a keys frame", PD_MSG_PULL, 2, 0, 0, {0}, 0, -1, 0, false,
     true, PD_WERR_FRAMES},
    {"key PULL, keys not increasing", PD_MSG_PULL, 2, 0, 2, {7, 3}, 0, -1, 0, false, true,
     PD_WERR_MALFORMED},
    {"key PULL, a duplicate key", PD_MSG_PULL, 3, 0, 3, {3, 4, 4}, 0, -1, 0, false, true,
     PD_WERR_MALFORMED},
    {"key PULL, key = dim", PD_MSG_PULL, 2, 0, 2, {3, DIM}, 0, -1, 0, false, true,
     PD_WERR_DIMENSION},
    {"key PULL, key 2^64-1", PD_MSG_PULL, 1, 0, 1, {UINT64_MAX}, 0, -1, 0, false, true,
     PD_WERR_DIMENSION},
    {"key PULL with a key_offset too", PD_MSG_PULL, 1, 5, 1, {1}, 0, -1, 0, false, true,
     PD_WERR_MALFORMED},
    {"key PUSH, keys frame of 13 bytes", PD_MSG_PUSH, 2, 0, 2, {1, 2}, 13, 2, 0.5, false, true,
     PD_WERR_FRAMES},
    {"key PUSH without the values frame", PD_MSG_PUSH, 2, 0, 2, {1, 2}, 0, -1, 0, false, false,
     PD_WERR_FRAMES},
    {"key PUSH, 1 value for 2 keys", PD_MSG_PUSH, 2, 0, 2, {1, 2}, 0, 1, 0.5, false, false,
     PD_WERR_DIMENSION},
    {"key PUSH, 3 values for 2 keys", PD_MSG_PUSH, 2, 0, 2, {1, 2}, 0, 3, 0.5, false, false,
     PD_WERR_DIMENSION},
    {"key PUSH, keys not increasing", PD_MSG_PUSH, 2, 0, 2, {9, 2}, 0, 2, 0.5, false, false,
     PD_WERR_MALFORMED},
    {"key PUSH, a duplicate key", PD_MSG_PUSH, 2, 0, 2, {4, 4}, 0, 2, 0.5, false, false,
     PD_WERR_MALFORMED},
    {"key PUSH, key = dim", PD_MSG_PUSH, 2, 0, 2, {1, DIM}, 0, 2, 0.5, false, false,
     PD_WERR_DIMENSION},
    {"key PUSH with NaN", PD_MSG_PUSH, 2, 0, 2, {1, 2}, 0, 2, NAN, false, false,
     PD_WERR_NONFINITE},
    {"key PUSH from version+1", PD_MSG_PUSH, 2, 0, 2, {1, 2}, 0, 2, 0.5, true, false,
     PD_WERR_FUTURE_VERSION},
};

static void send_key_case(pd_client_t *c, const key_case_t *k, uint64_t version)
{
    double values[3] = {k->value, k->value, k->value};
    pd_wire_frame_t f[2] = {{k->keys, k->key_bytes > 0 ? k->key_bytes : k->n_keys * 8, NULL},
                            {values, k->n_values > 0 ? (size_t)k->n_values * 8 : 0, NULL}};
    pd_msg_t m;

    pd_msg_init(&m, k->type);
    m.key_count = k->key_count;
    m.key_offset = k->key_offset;
    m.version = k->future ? version + 1 : version;
    m.n_frames = k->n_keys == 0 ? 0 : k->n_values >= 0 ? 2 : 1;
    m.frame_counts[0] = k->n_keys;
    m.frame_counts[1] = k->n_values >= 0 ? (uint64_t)k->n_values : 0;
    send_msg(NULL, c, &m, f, m.n_frames);
    if (k->as_error) {
        expect_error(NULL, c, k->code, m.request_id, k->what);
    } else {
        expect_ack(c, PD_ACK_REJECTED, k->code, m.request_id, NULL, k->what);
    }
}

static void bad_key_lists(pd_client_t *c, uint64_t version)
{
    static uint64_t many[DIM + 1];
    double x;

    for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
        send_key_case(c, &key_cases[i], version);
    }
    /* More keys than the model has (each one valid on its own but the last). */
    for (size_t i = 0; i <= DIM; i++) {
        many[i] = i;
    }
    pd_wire_frame_t f = {many, sizeof(many), NULL};
    pd_msg_t m;
    pd_msg_init(&m, PD_MSG_PULL);
    m.key_count = DIM + 1;
    m.n_frames = 1;
    m.frame_counts[0] = DIM + 1;
    send_msg(NULL, c, &m, &f, 1);
    expect_error(NULL, c, PD_WERR_DIMENSION, m.request_id, "key PULL of dim+1 keys");
    /* The library refuses an empty list itself: key_count 0 would mean a range. */
    check(pd_client_pull_keys(c, many, 0, &x, NULL, NULL) == -EINVAL,
          "pd_client_pull_keys of 0 keys is -EINVAL");
    check(pd_client_push_keys(c, many, 0, &x, version, NULL) == -EINVAL,
          "pd_client_push_keys of 0 keys is -EINVAL");
}

/* The library's key-list calls on a working daemon: a pull reads x[keys], a push moves the
 * listed keys by one sgd step (default lr 0.1) and no other key; x holds DIM scratch values. */
static void key_lists_work(pd_client_t *c, double *x)
{
    static const uint64_t keys[4] = {0, 511, 512, DIM - 1};
    static double x1[DIM];
    double got[4], g[4] = {1.0, -2.0, 0.5, 4.0};
    uint64_t v = PD_CLIENT_NO_VERSION, vk = PD_CLIENT_NO_VERSION;
    bool nm = true, same = true;
    pd_client_ack_t ack;

    int rc = pd_client_pull(c, 0, DIM, x, &v, NULL);
    int rk = pd_client_pull_keys(c, keys, 4, got, &vk, &nm);
    for (size_t i = 0; i < 4; i++) {
        same = same && memcmp(&got[i], &x[keys[i]], sizeof(double)) == 0;
    }
    check(rc == 0 && rk == 0 && vk == v && !nm && same,
          "pd_client_pull_keys reads x[keys] at version %" PRIu64 ": %s", vk,
          pd_client_strerror(rk));
    rk = pd_client_pull_keys(c, keys, 4, got, &vk, &nm);
    check(rk == 0 && nm && vk == v, "pd_client_pull_keys of a held version: not modified");
    rk = pd_client_push_keys(c, keys, 4, g, v, &ack);
    check(rk == 0 && ack.status == PD_CLIENT_APPLIED && ack.version == v + 1,
          "pd_client_push_keys applied: %s, version %" PRIu64, pd_client_strerror(rk),
          rk == 0 ? ack.version : 0);
    v = PD_CLIENT_NO_VERSION;
    rc = pd_client_pull(c, 0, DIM, x1, &v, NULL);
    size_t moved = 0, wrong = 0;
    for (size_t i = 0, j = 0; i < DIM; i++) {
        bool listed = j < 4 && keys[j] == i;
        if (x1[i] != x[i]) {
            moved++;
        }
        if (listed ? fabs(x1[i] - (x[i] - 0.1 * g[j])) > 1e-12 : x1[i] != x[i]) {
            wrong++;
        }
        j += listed;
    }
    check(rc == 0 && moved == 4 && wrong == 0,
          "the key push moved exactly its 4 keys by one step (%zu moved, %zu wrong)", moved,
          wrong);
}

/* Finite pushes of -1e308 are valid, but repeated they would drive every parameter to +Inf:
 * the push that would do it is REJECTED (NONFINITE, with a reason), the parameters stay
 * finite and unchanged bit for bit, the version too. x holds DIM scratch values. */
static void overflow_pushes(pd_client_t *c, double *x)
{
    static double g[DIM], x1[DIM];
    uint64_t v0 = PD_CLIENT_NO_VERSION, v1 = PD_CLIENT_NO_VERSION;
    pd_wire_in_t in;
    pd_msg_t m;
    int applied = 0;
    bool rejected = false;

    for (size_t i = 0; i < DIM; i++) {
        g[i] = -1e308;
    }
    /* lr 0.1: each push adds 1e307, so DBL_MAX is passed within 20 pushes. */
    while (!rejected && applied < 1000) {
        pd_wire_frame_t f = {g, sizeof(g), NULL};
        pd_msg_init(&m, PD_MSG_PUSH);
        m.key_length = DIM;
        m.version = pd_client_pull(c, 0, DIM, x, &v0, NULL) == 0 ? v0 : 0;
        m.n_frames = 1;
        m.frame_counts[0] = DIM;
        send_msg(NULL, c, &m, &f, 1);
        if (recv_one(NULL, c, &in) != 0) {
            check(false, "PUSH of -1e308: no reply");
            return;
        }
        rejected = in.msg.type == PD_MSG_ACK && in.msg.ack == PD_ACK_REJECTED;
        if (rejected) {
            check(in.msg.error == PD_WERR_NONFINITE && in.msg.reason[0] != '\0',
                  "PUSH that would overflow after %d applied: REJECTED %s \"%s\"", applied,
                  pd_wire_error_name(in.msg.error), in.msg.reason);
        } else if (in.msg.type == PD_MSG_ACK && in.msg.ack == PD_ACK_APPLIED) {
            applied++;
        } else {
            check(false, "PUSH of -1e308: %s ack=%d", pd_msg_type_name(in.msg.type), (int)in.msg.ack);
            pd_wire_in_release(&in);
            return;
        }
        pd_wire_in_release(&in);
    }
    check(rejected, "a PUSH of -1e308 was rejected within 1000 (%d applied)", applied);
    int rc = pd_client_pull(c, 0, DIM, x1, &v1, NULL);
    check(rc == 0 && v1 == v0 && memcmp(x, x1, sizeof(x1)) == 0 && pd_wire_all_finite(x1, DIM),
          "after the rejected PUSH: same version %" PRIu64 " (was %" PRIu64
          "), same finite parameters", v1, v0);
}

static void too_big(void *ctx, const char *ep, void *raw, pd_client_t *c)
{
    static double big[100 * 1024 / 8]; /* 100 KB: over the 64K limit, under the 4x hard one */
    static double huge[320 * 1024 / 8]; /* 320 KB: over the hard limit too */
    pd_wire_frame_t f = {big, sizeof(big), NULL};
    double one = 1.0;
    pd_wire_frame_t nine[PD_WIRE_MAX_FRAMES + 1];
    pd_msg_t m;

    pd_msg_init(&m, PD_MSG_PUSH);
    m.key_length = sizeof(big) / 8;
    m.n_frames = 1;
    m.frame_counts[0] = sizeof(big) / 8;
    send_msg(raw, NULL, &m, &f, 1);
    expect_error(raw, NULL, PD_WERR_TOO_BIG, 0, "100 KB frame (unknown peer)");
    send_msg(NULL, c, &m, &f, 1);
    expect_error(NULL, c, PD_WERR_TOO_BIG, 0, "100 KB frame (joined client)");

    for (size_t i = 0; i < PD_WIRE_MAX_FRAMES + 1; i++) {
        nine[i] = (pd_wire_frame_t){&one, sizeof(one), NULL};
    }
    pd_msg_init(&m, PD_MSG_PUSH);
    send_msg(raw, NULL, &m, nine, PD_WIRE_MAX_FRAMES + 1);
    expect_error(raw, NULL, PD_WERR_TOO_BIG, 0, "9 frames");

    /* Over ZMQ_MAXMSGSIZE libzmq drops the connection before paramd sees the message: no
     * reply is expected, only that nothing else breaks (checked by the later cases). */
    void *s = open_dealer(ctx, ep);
    f = (pd_wire_frame_t){huge, sizeof(huge), NULL};
    m.n_frames = 1;
    m.frame_counts[0] = sizeof(huge) / 8;
    send_msg(s, NULL, &m, &f, 1);
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 300) == 1) {
        pd_wire_in_t in;
        if (pd_wire_recv(s, false, 0, true, &in) == 0) {
            check(in.msg.type == PD_MSG_ERROR && in.msg.error == PD_WERR_TOO_BIG,
                  "320 KB frame: %s %s", pd_msg_type_name(in.msg.type),
                  pd_wire_error_name(in.msg.error));
            pd_wire_in_release(&in);
        }
    } else {
        check(true, "320 KB frame: connection dropped without a reply");
    }
    zmq_close(s);
}

static void heartbeat(pd_client_t *c, const char *what);

/* A peer that floods garbage and does not read the replies: once its queues are full the
 * daemon's non-blocking sends to it fail (and are counted); it must not stall the others.
 * The flooder then reads what reached it until a second of silence, which also means the
 * daemon has worked through the flood before the next case. */
static void flood_without_reading(void *ctx, const char *ep, pd_client_t *c)
{
    static const unsigned char ff[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    void *s = open_dealer(ctx, ep);
    int unlimited = 0, one = 1;
    int sent = 0, got = 0, right = 0;

    zmq_setsockopt(s, ZMQ_SNDHWM, &unlimited, sizeof(unlimited));
    zmq_setsockopt(s, ZMQ_RCVHWM, &one, sizeof(one));
    for (int i = 0; i < FLOOD; i++) {
        sent += zmq_send(s, ff, sizeof(ff), 0) == (int)sizeof(ff);
    }
    check(sent == FLOOD, "flood: %d garbage messages queued", sent);
    heartbeat(c, "during a flood from another peer");
    for (;;) {
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        pd_wire_in_t in;
        if (zmq_poll(&it, 1, 1000) != 1 || pd_wire_recv(s, false, 0, true, &in) != 0) {
            break;
        }
        got++;
        right += in.decode_rc == 0 && in.msg.type == PD_MSG_ERROR &&
                 in.msg.error == PD_WERR_MALFORMED;
        pd_wire_in_release(&in);
    }
    check(got > 0 && right == got,
          "flood: %d of %d replies reached the slow reader, all MALFORMED (the rest were "
          "dropped by the daemon)", got, FLOOD);
    heartbeat(c, "after the flood");
    zmq_close(s);
}

static void unexpected_types(pd_client_t *c)
{
    const pd_msg_type_t types[] = {PD_MSG_WELCOME, PD_MSG_TASK, PD_MSG_PARAMS, PD_MSG_ACK,
                                   PD_MSG_ERROR};
    pd_msg_t m;

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char what[64];
        pd_msg_init(&m, types[i]);
        send_msg(NULL, c, &m, NULL, 0);
        snprintf(what, sizeof(what), "%s sent to the server", pd_msg_type_name(types[i]));
        expect_error(NULL, c, PD_WERR_MALFORMED, m.request_id, what);
    }
    /* A RESULT from a key-value client: it has no task. */
    pd_msg_init(&m, PD_MSG_RESULT);
    m.task_id = 12345;
    send_msg(NULL, c, &m, NULL, 0);
    expect_error(NULL, c, PD_WERR_WRONG_STATE, m.request_id, "RESULT without a task");
}

static void heartbeat(pd_client_t *c, const char *what)
{
    pd_msg_t m;
    pd_wire_in_t in;

    pd_msg_init(&m, PD_MSG_HEARTBEAT);
    send_msg(NULL, c, &m, NULL, 0);
    int rc = recv_one(NULL, c, &in);
    check(rc == 0 && in.msg.type == PD_MSG_HEARTBEAT && in.msg.request_id == m.request_id,
          "%s: heartbeat answered (%s)", what, rc == 0 ? pd_msg_type_name(in.msg.type) : pd_strerror(rc));
    if (rc == 0) {
        pd_wire_in_release(&in);
    }
}

/* ---- --task-worker: refused RESULTs of a busy worker give its task back ----------------- */

/* The task a fake worker holds: what a RESULT must repeat. */
typedef struct held_task {
    uint64_t id, version, range_begin, range_end, batch, test_begin, test_end;
    pd_task_kind_t kind;
} held_task_t;

/* The next message must be a TASK (a new one when not_id != 0); it is kept in *t. */
static bool expect_task(void *raw, held_task_t *t, uint64_t not_id, const char *what)
{
    pd_wire_in_t in;
    int rc = recv_one(raw, NULL, &in);

    if (rc != 0) {
        check(false, "%s: no TASK (%s)", what, pd_strerror(rc));
        return false;
    }
    bool ok = in.msg.type == PD_MSG_TASK && in.msg.task_id != not_id;
    check(ok, "%s: %s task %" PRIu64 " (want a TASK other than %" PRIu64 ")", what,
          pd_msg_type_name(in.msg.type), in.msg.task_id, not_id);
    if (ok) {
        *t = (held_task_t){in.msg.task_id, in.msg.version, in.msg.range_begin, in.msg.range_end,
                           in.msg.batch, in.msg.test_begin, in.msg.test_end, in.msg.kind};
    }
    pd_wire_in_release(&in);
    return ok;
}

/* A RESULT that would be valid for t, with the given loss (zero gradient of dim values). */
static void send_result(void *raw, const held_task_t *t, uint64_t dim, double loss)
{
    static double zeros[4096];
    pd_wire_frame_t f = {zeros, dim * sizeof(double), NULL};
    pd_msg_t m;

    pd_msg_init(&m, PD_MSG_RESULT);
    m.task_id = t->id;
    m.kind = t->kind;
    m.version = t->version;
    m.loss_sum = loss;
    m.compute_seconds = 0.001;
    if (t->kind == PD_TASK_EVAL) {
        m.n_samples = t->range_end - t->range_begin;
        send_msg(raw, NULL, &m, NULL, 0);
        return;
    }
    m.n_samples = t->range_end > t->range_begin ? t->range_end - t->range_begin : t->batch;
    m.elem_type = PD_ELEM_F64;
    m.n_frames = 1;
    m.frame_counts[0] = dim;
    send_msg(raw, NULL, &m, &f, 1);
}

/* Against a task-mode job (a model with data, on_divergence = stop, exit_when_done): join as a
 * worker, get a TASK, answer it wrongly three ways - each must draw an ERROR and a new TASK,
 * or the job would wedge - then with a loss of +Inf, which must be accepted (no ERROR) and
 * end the job with a BYE "diverged at version V". */
static int task_worker(const char *ep)
{
    static const unsigned char ff[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    void *ctx = zmq_ctx_new();
    void *raw = open_dealer(ctx, ep);
    held_task_t t = {0};
    uint64_t dim = 0;
    pd_wire_in_t in;
    pd_msg_t m;

    pd_msg_init(&m, PD_MSG_HELLO);
    m.has_hello = true;
    snprintf(m.hello.name, sizeof(m.hello.name), "badinput-task");
    m.hello.cores = 1;
    m.hello.threads = 1;
    m.hello.slowdown = 1;
    send_msg(raw, NULL, &m, NULL, 0);
    if (recv_one(raw, NULL, &in) == 0) {
        check(in.msg.type == PD_MSG_WELCOME && in.msg.has_job, "HELLO answered by WELCOME: %s",
              pd_msg_type_name(in.msg.type));
        dim = in.msg.has_job ? in.msg.job->dim : 0;
        pd_wire_in_release(&in);
    }
    if (dim == 0 || dim > 4096) {
        check(false, "job has a usable dim (%" PRIu64 ")", dim);
        exit(1);
    }
    pd_msg_init(&m, PD_MSG_READY);
    send_msg(raw, NULL, &m, NULL, 0);
    if (!expect_task(raw, &t, 0, "after READY")) {
        exit(1);
    }

    /* 1. A task id the worker was never given. */
    held_task_t wrong = t;
    wrong.id = t.id + 1000;
    send_result(raw, &wrong, dim, 1.0);
    expect_error(raw, NULL, PD_WERR_WRONG_STATE, 0, "RESULT for an unknown task id");
    expect_task(raw, &t, t.id, "the task held is given back, a new one sent");

    /* 2. compute_seconds = NaN: the header does not decode, yet it is that task's RESULT. */
    pd_msg_init(&m, PD_MSG_RESULT);
    m.task_id = t.id;
    m.kind = t.kind;
    m.version = t.version;
    m.compute_seconds = NAN;
    send_msg(raw, NULL, &m, NULL, 0);
    expect_error(raw, NULL, PD_WERR_MALFORMED, 0, "RESULT with compute_seconds NaN");
    expect_task(raw, &t, t.id, "after a non-finite compute_seconds, a new TASK");

    /* 3. A header that does not parse at all, from a busy worker. */
    send_raw_bytes(raw, ff, sizeof(ff), NULL, 0);
    expect_error(raw, NULL, PD_WERR_MALFORMED, 0, "garbage header from a busy worker");
    expect_task(raw, &t, t.id, "after an unreadable header, a new TASK");

    /* 4. A loss of +Inf: a valid result of a diverged model. No ERROR; the job stops. */
    send_result(raw, &t, dim, INFINITY);
    if (recv_one(raw, NULL, &in) == 0) {
        check(in.msg.type == PD_MSG_BYE && strstr(in.msg.reason, "diverged at version") != NULL,
              "RESULT with loss +Inf accepted, job over: %s \"%s\"",
              pd_msg_type_name(in.msg.type), in.msg.reason);
        pd_wire_in_release(&in);
    } else {
        check(false, "RESULT with loss +Inf: no reply");
    }
    pd_msg_init(&m, PD_MSG_BYE);
    send_msg(raw, NULL, &m, NULL, 0);
    zmq_close(raw);
    zmq_ctx_term(ctx);
    printf("1..%d\n", n_checks);
    return n_failed == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    static double before[DIM], after[DIM], g[DIM];
    const char *ep;
    bool wait_window = true;
    pd_client_t *c = NULL;
    uint64_t v0 = PD_CLIENT_NO_VERSION, v1 = PD_CLIENT_NO_VERSION, v2;
    uint64_t burst_ms;
    void *ctx, *raw;
    int rc;

    if (argc == 3 && strcmp(argv[2], "--task-worker") == 0) {
        return task_worker(argv[1]);
    }
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--no-window") != 0)) {
        fprintf(stderr, "usage: badinput ENDPOINT [--no-window | --task-worker]\n");
        return 2;
    }
    ep = argv[1];
    wait_window = argc == 2;

    rc = pd_client_connect(&c, ep, "badinput-kv", 30000);
    if (rc != 0) {
        fprintf(stderr, "badinput: cannot join %s: %s\n", ep, pd_client_strerror(rc));
        return 99;
    }
    check(pd_client_dim(c) == DIM, "job has dim %" PRIu64, pd_client_dim(c));
    if (pd_client_dim(c) != DIM) {
        pd_client_free(c);
        return 1;
    }
    /* One valid push first, so the parameters to compare are not all zero and the version
     * is not 0 (a wrongly applied bad push of zeros would otherwise go unnoticed). */
    for (size_t i = 0; i < DIM; i++) {
        g[i] = (double)(i % 7) - 3.0 + 1.0 / (double)(i + 1);
    }
    pd_client_ack_t ack;
    rc = pd_client_push(c, 0, DIM, g, 0, &ack);
    check(rc == 0 && ack.status == PD_CLIENT_APPLIED, "preparatory PUSH applied: %s",
          pd_client_strerror(rc));
    rc = pd_client_pull(c, 0, DIM, before, &v0, NULL);
    check(rc == 0, "initial PULL of all keys: %s (version %" PRIu64 ")", pd_client_strerror(rc), v0);
    if (rc != 0) {
        pd_client_free(c);
        return 1;
    }

    ctx = zmq_ctx_new();
    raw = open_dealer(ctx, ep);

    burst_ms = pd_clock_mono_ms();
    garbage_burst(raw);
    malformed_headers(raw, c);
    wrong_version(raw, c);
    frame_mismatch(raw, NULL, "unknown peer");
    frame_mismatch(NULL, c, "joined client");
    unknown_worker(raw);
    bad_pushes(c, v0);
    bad_key_lists(c, v0);
    too_big(ctx, ep, raw, c);
    unexpected_types(c);
    flood_without_reading(ctx, ep, c);
    heartbeat(c, "after the bad input");

    /* Nothing changed: same values bit for bit, same version. */
    rc = pd_client_pull(c, 0, DIM, after, &v1, NULL);
    check(rc == 0 && v1 == v0, "PULL after bad input: %s, version %" PRIu64 " (was %" PRIu64 ")",
          pd_client_strerror(rc), v1, v0);
    check(memcmp(before, after, sizeof(before)) == 0, "parameters unchanged by bad input");

    /* The daemon still works: a valid push is applied. */
    for (size_t i = 0; i < DIM; i++) {
        g[i] = 1.0;
    }
    rc = pd_client_push(c, 0, DIM, g, v0, &ack);
    check(rc == 0 && ack.status == PD_CLIENT_APPLIED && ack.version == v0 + 1,
          "valid PUSH: %s, status %d, version %" PRIu64 " (want %" PRIu64 ")",
          pd_client_strerror(rc), rc == 0 ? (int)ack.status : -1, rc == 0 ? ack.version : 0,
          v0 + 1);
    v2 = PD_CLIENT_NO_VERSION;
    rc = pd_client_pull(c, 0, DIM, after, &v2, NULL);
    check(rc == 0 && v2 == v0 + 1 && memcmp(before, after, sizeof(before)) != 0,
          "PULL after the valid push sees version %" PRIu64 " and new values", v2);

    key_lists_work(c, after);
    overflow_pushes(c, after);

    /* Past the rate-limit window, one more bad message makes the daemon report how many
     * lines it suppressed (the .test script looks for it). */
    if (wait_window) {
        while (pd_clock_mono_ms() < burst_ms + RATELIMIT_WINDOW_MS + 500) {
            zmq_poll(NULL, 0, 100);
        }
        static const unsigned char ff[4] = {0xff, 0xff, 0xff, 0xff};
        send_raw_bytes(raw, ff, sizeof(ff), NULL, 0);
        expect_error(raw, NULL, PD_WERR_MALFORMED, 0, "garbage after the rate-limit window");
        heartbeat(c, "at the end");
    }

    zmq_close(raw);
    zmq_ctx_term(ctx);
    pd_client_free(c);
    printf("1..%d\n", n_checks);
    if (n_failed > 0) {
        printf("# %d of %d checks failed\n", n_failed, n_checks);
    }
    return n_failed == 0 ? 0 : 1;
}
