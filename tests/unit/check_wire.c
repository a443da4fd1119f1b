/* check_wire.c - the wire module (common/wire.h): header encode/decode round trips of every
 * message type, rejection of malformed, out-of-range and wrong-version headers, and the
 * multipart send/receive path over a real inproc ROUTER/DEALER pair (zero-copy reference
 * counts, frame checks, the frame limit, unaligned frames). Seeds are fixed.
 *
 * Headers that pd_msg_t cannot express (an over-long string, too many frame counts, a
 * negative enum) are built with protobuf-c directly: the decoder must refuse what any peer
 * can send, not only what our encoder produces. */
#include <config.h>
#include "wire.h"

#include <check.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "paramd.pb-c.h"
#include "rng.h"

/* ------------------------------------------------------------------ helpers */

static void fill_str(char *dst, size_t len, char c)
{
    memset(dst, c, len);
    dst[len] = '\0';
}

static void fill_job(pd_job_desc_t *j)
{
    memset(j, 0, sizeof(*j));
    j->job_id = 0x0123456789abcdefULL;
    j->method = 2;
    snprintf(j->model, sizeof(j->model), "least-squares");
    j->dim = 1ULL << 40;
    j->features = 784;
    j->classes = 10;
    j->bias = true;
    /* The longest paths that fit (PD_WIRE_PATH - 1 characters), one per field. */
    fill_str(j->train_path, PD_WIRE_PATH - 1, 'a');
    fill_str(j->train_labels_path, PD_WIRE_PATH - 1, 'b');
    fill_str(j->test_path, PD_WIRE_PATH - 1, 'c');
    fill_str(j->test_labels_path, PD_WIRE_PATH - 2, 'd');
    snprintf(j->data_format, sizeof(j->data_format), "libsvm");
    j->train_fingerprint = UINT64_MAX;
    j->test_fingerprint = 0xfeedfacecafebeefULL;
    j->train_samples = 60000;
    j->test_samples = 10000;
    j->max_samples = 123;
    j->heartbeat_interval_ms = 1000;
    j->worker_timeout_ms = UINT32_MAX;
    j->wire_type = PD_ELEM_F32;
    j->bf16_gradients = true;
}

/* Every field set to a distinct non-default value. */
static void fill_msg(pd_msg_t *m, pd_msg_type_t type, pd_job_desc_t *job)
{
    pd_msg_init(m, type);
    m->request_id = UINT64_MAX - 1;
    m->worker_id = UINT32_MAX;
    m->job_id = 42;
    m->round_id = 7;
    m->version = 1ULL << 50;
    m->key_offset = 3;
    m->key_length = 1000;
    m->elem_type = PD_ELEM_U32;
    m->n_frames = PD_WIRE_MAX_FRAMES;
    for (size_t i = 0; i < PD_WIRE_MAX_FRAMES; i++) {
        m->frame_counts[i] = (i == 3) ? 0 : (UINT64_MAX >> i);
    }
    m->kind = PD_TASK_EVAL;
    m->task_id = 99;
    m->seed = 0x5eed;
    m->batch = 32;
    m->range_begin = 10;
    m->range_end = 20;
    m->test_begin = 30;
    m->test_end = 40;
    m->loss_sum = -1.25e300;
    m->n_samples = 1ULL << 33;
    m->correct = 17;
    m->compute_seconds = 0.5;
    m->ack = PD_ACK_REJECTED;
    m->staleness = 5;
    m->error = PD_WERR_INTERNAL;
    fill_str(m->reason, PD_WIRE_STR - 1, 'r');
    m->not_modified = true;
    m->learning_rate = 1e-3;
    m->data_file = PD_FILE_TEST_LABELS;
    m->data_offset = UINT64_MAX - 3;
    m->data_length = 1u << 20;
    m->data_size = 1ULL << 40;
    m->data_crc32 = 0xdeadbeefu;
    m->has_hello = true;
    fill_str(m->hello.name, PD_WIRE_STR - 1, 'n');
    snprintf(m->hello.host, sizeof(m->hello.host), "host.example");
    m->hello.cores = 64;
    m->hello.threads = 128;
    m->hello.kv_only = true;
    m->hello.slowdown = 2.5;
    m->hello.accepts_f32 = true;
    snprintf(m->hello.software, sizeof(m->hello.software), "paramd-worker 0.1.0");
    if (job != NULL) {
        m->has_job = true;
        m->job = job;
    }
}

static void *encode_ok(const pd_msg_t *m, size_t *len)
{
    void *buf = NULL;
    ck_assert_int_eq(pd_wire_encode(m, &buf, len), 0);
    ck_assert_ptr_nonnull(buf);
    return buf;
}

/* Pack a hand-built protobuf header into a malloc'd buffer. */
static void *pack_raw(const Paramd__Header *h, size_t *len)
{
    void *buf;
    *len = paramd__header__get_packed_size(h);
    buf = malloc(*len > 0 ? *len : 1);
    ck_assert_ptr_nonnull(buf);
    paramd__header__pack(h, buf);
    return buf;
}

/* Decode a packed raw header into *m. */
static int decode_raw_msg(const Paramd__Header *h, pd_msg_t *m, pd_job_desc_t *job)
{
    size_t len;
    void *buf = pack_raw(h, &len);
    int rc = pd_wire_decode(buf, len, m, job);
    free(buf);
    return rc;
}

static int decode_raw(const Paramd__Header *h, pd_job_desc_t *job)
{
    pd_msg_t m;
    return decode_raw_msg(h, &m, job);
}

/* A minimal valid header as protobuf-c sees it. */
static Paramd__Header raw_header(void)
{
    Paramd__Header h = PARAMD__HEADER__INIT;
    h.proto_version = PD_PROTO_VERSION;
    h.type = PARAMD__MSG_TYPE__PULL;
    return h;
}

/* ------------------------------------------------------------------ encode/decode */

START_TEST(test_round_trip_every_type)
{
    static pd_job_desc_t job, job_in;
    fill_job(&job);
    for (int t = PD_MSG_HELLO; t < PD_MSG__COUNT; t++) {
        pd_msg_t m, back;
        size_t len;
        void *buf;

        fill_msg(&m, (pd_msg_type_t)t, &job);
        buf = encode_ok(&m, &len);
        ck_assert_uint_le(len, PD_WIRE_MAX_HEADER);
        memset(&job_in, 0x5a, sizeof(job_in));
        ck_assert_int_eq(pd_wire_decode(buf, len, &back, &job_in), 0);
        free(buf);

        ck_assert_int_eq(back.type, t);
        ck_assert_uint_eq(back.proto_version, PD_PROTO_VERSION);
        ck_assert_uint_eq(back.request_id, m.request_id);
        ck_assert_uint_eq(back.worker_id, m.worker_id);
        ck_assert_uint_eq(back.version, m.version);
        ck_assert_uint_eq(back.n_frames, PD_WIRE_MAX_FRAMES);
        for (size_t i = 0; i < PD_WIRE_MAX_FRAMES; i++) {
            ck_assert_uint_eq(back.frame_counts[i], m.frame_counts[i]);
        }
        ck_assert_double_eq(back.loss_sum, m.loss_sum);
        ck_assert_str_eq(back.reason, m.reason);
        ck_assert(back.has_hello);
        ck_assert_str_eq(back.hello.name, m.hello.name);
        ck_assert_str_eq(back.hello.software, m.hello.software);
        ck_assert(back.has_job);
        ck_assert_ptr_eq(back.job, &job_in);
        ck_assert_str_eq(job_in.train_path, job.train_path);
        ck_assert_str_eq(job_in.test_labels_path, job.test_labels_path);
        ck_assert_uint_eq(job_in.worker_timeout_ms, job.worker_timeout_ms);
        /* Everything else, field by field: both structs were zeroed before filling, so a
         * byte comparison (with the job pointers set aside) covers every member. */
        back.job = NULL;
        m.job = NULL;
        ck_assert_int_eq(memcmp(&back, &m, sizeof(m)), 0);
        ck_assert_int_eq(memcmp(&job_in, &job, sizeof(job)), 0);
    }
}
END_TEST

START_TEST(test_round_trip_defaults)
{
    /* A message with every optional part absent: proto3 sends nothing for zeros. */
    pd_msg_t m, back;
    size_t len;
    void *buf;

    pd_msg_init(&m, PD_MSG_HEARTBEAT);
    buf = encode_ok(&m, &len);
    ck_assert_int_eq(pd_wire_decode(buf, len, &back, NULL), 0);
    free(buf);
    ck_assert_int_eq(memcmp(&back, &m, sizeof(m)), 0);
    ck_assert(!back.has_hello);
    ck_assert(!back.has_job);
    ck_assert_ptr_null(back.job);
}
END_TEST

START_TEST(test_job_refused_without_storage)
{
    static pd_job_desc_t job;
    pd_msg_t m, back;
    size_t len;
    void *buf;

    fill_job(&job);
    pd_msg_init(&m, PD_MSG_WELCOME);
    m.has_job = true;
    m.job = &job;
    buf = encode_ok(&m, &len);
    ck_assert_int_eq(pd_wire_decode(buf, len, &back, NULL), PD_EWIRE);
    free(buf);
}
END_TEST

START_TEST(test_encode_refuses_too_many_frames)
{
    pd_msg_t m;
    void *buf = NULL;
    size_t len = 0;

    pd_msg_init(&m, PD_MSG_PUSH);
    m.n_frames = PD_WIRE_MAX_FRAMES + 1;
    ck_assert_int_eq(pd_wire_encode(&m, &buf, &len), PD_EWIRE);
    ck_assert_ptr_null(buf);
}
END_TEST

START_TEST(test_wrong_version)
{
    pd_msg_t m, back;
    size_t len;
    void *buf;
    const uint32_t versions[] = {0, 2, 99, UINT32_MAX};

    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        pd_msg_init(&m, PD_MSG_PULL);
        m.proto_version = versions[i];
        m.request_id = 77;
        buf = encode_ok(&m, &len);
        ck_assert_int_eq(pd_wire_decode(buf, len, &back, NULL), PD_EVERSION);
        free(buf);
        /* The type, version and request id survive so the server can answer in kind. */
        ck_assert_uint_eq(back.proto_version, versions[i]);
        ck_assert_int_eq(back.type, PD_MSG_PULL);
        ck_assert_uint_eq(back.request_id, 77);
    }
}
END_TEST

START_TEST(test_enum_out_of_range)
{
    static pd_job_desc_t job;
    Paramd__Header h;
    /* Each open proto3 enum: just past the end, far past it, and negative. */
    const int bad_types[] = {0, PD_MSG__COUNT, 1000, -1};
    const int bad_kinds[] = {PD_TASK__COUNT, 77, -1};
    const int bad_elems[] = {PD_ELEM_BF16 + 1, -2};
    const int bad_files[] = {PD_FILE__COUNT, 99, -1};
    const int bad_acks[] = {PD_ACK_REJECTED + 1, -1};
    const int bad_errors[] = {PD_WERR__COUNT, 1 << 20, -5};

    for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
        h = raw_header();
        h.type = (Paramd__MsgType)bad_types[i];
        ck_assert_int_eq(decode_raw(&h, &job), PD_EWIRE);
    }
    for (size_t i = 0; i < sizeof(bad_kinds) / sizeof(bad_kinds[0]); i++) {
        h = raw_header();
        h.kind = (Paramd__TaskKind)bad_kinds[i];
        ck_assert_int_eq(decode_raw(&h, &job), PD_EWIRE);
    }
    for (size_t i = 0; i < sizeof(bad_elems) / sizeof(bad_elems[0]); i++) {
        h = raw_header();
        h.elem_type = (Paramd__ElemType)bad_elems[i];
        ck_assert_int_eq(decode_raw(&h, &job), PD_EWIRE);
    }
    for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
        h = raw_header();
        h.data_file = (Paramd__DataFile)bad_files[i];
        ck_assert_int_eq(decode_raw(&h, &job), PD_EWIRE);
    }
    for (size_t i = 0; i < sizeof(bad_acks) / sizeof(bad_acks[0]); i++) {
        h = raw_header();
        h.ack = (Paramd__AckStatus)bad_acks[i];
        ck_assert_int_eq(decode_raw(&h, &job), PD_EWIRE);
    }
    for (size_t i = 0; i < sizeof(bad_errors) / sizeof(bad_errors[0]); i++) {
        h = raw_header();
        h.error = (Paramd__ErrorCode)bad_errors[i];
        ck_assert_int_eq(decode_raw(&h, &job), PD_EWIRE);
    }
    /* The last valid value of each is accepted (the checks are not off by one). */
    h = raw_header();
    h.type = (Paramd__MsgType)(PD_MSG__COUNT - 1);
    h.kind = (Paramd__TaskKind)(PD_TASK__COUNT - 1);
    h.elem_type = (Paramd__ElemType)PD_ELEM_U8;
    h.data_file = (Paramd__DataFile)(PD_FILE__COUNT - 1);
    h.ack = (Paramd__AckStatus)PD_ACK_REJECTED;
    h.error = (Paramd__ErrorCode)(PD_WERR__COUNT - 1);
    ck_assert_int_eq(decode_raw(&h, &job), 0);
}
END_TEST

START_TEST(test_too_many_frame_counts)
{
    uint64_t counts[PD_WIRE_MAX_FRAMES + 1] = {0};
    Paramd__Header h = raw_header();

    h.frame_counts = counts;
    h.n_frame_counts = PD_WIRE_MAX_FRAMES;
    ck_assert_int_eq(decode_raw(&h, NULL), 0);
    h.n_frame_counts = PD_WIRE_MAX_FRAMES + 1;
    ck_assert_int_eq(decode_raw(&h, NULL), PD_EWIRE);
}
END_TEST

START_TEST(test_strings_too_long)
{
    static char big[PD_WIRE_PATH + 2];
    static pd_job_desc_t job;
    Paramd__Header h;
    Paramd__Hello hello = PARAMD__HELLO__INIT;
    Paramd__Job pj = PARAMD__JOB__INIT;

    /* reason: PD_WIRE_STR - 1 characters fit, PD_WIRE_STR do not (no silent cut). */
    h = raw_header();
    fill_str(big, PD_WIRE_STR - 1, 'x');
    h.reason = big;
    ck_assert_int_eq(decode_raw(&h, NULL), 0);
    fill_str(big, PD_WIRE_STR, 'x');
    ck_assert_int_eq(decode_raw(&h, NULL), PD_EWIRE);

    /* Each hello string. */
    char **fields[] = {&hello.name, &hello.host, &hello.software};
    for (size_t i = 0; i < 3; i++) {
        hello = (Paramd__Hello)PARAMD__HELLO__INIT;
        *fields[i] = big;
        h = raw_header();
        h.type = PARAMD__MSG_TYPE__HELLO;
        h.hello = &hello;
        fill_str(big, PD_WIRE_STR - 1, 'h');
        ck_assert_int_eq(decode_raw(&h, NULL), 0);
        fill_str(big, PD_WIRE_STR, 'h');
        ck_assert_int_eq(decode_raw(&h, NULL), PD_EWIRE);
    }

    /* Each job path, and the short job strings. */
    char **paths[] = {&pj.train_path, &pj.train_labels_path, &pj.test_path, &pj.test_labels_path};
    for (size_t i = 0; i < 4; i++) {
        pj = (Paramd__Job)PARAMD__JOB__INIT;
        *paths[i] = big;
        h = raw_header();
        h.type = PARAMD__MSG_TYPE__WELCOME;
        h.job = &pj;
        fill_str(big, PD_WIRE_PATH - 1, 'p');
        ck_assert_int_eq(decode_raw(&h, &job), 0);
        ck_assert_uint_eq(strlen(i == 0 ? job.train_path : i == 1 ? job.train_labels_path
                                 : i == 2 ? job.test_path : job.test_labels_path),
                          PD_WIRE_PATH - 1);
        fill_str(big, PD_WIRE_PATH, 'p');
        ck_assert_int_eq(decode_raw(&h, &job), PD_EWIRE);
    }
    pj = (Paramd__Job)PARAMD__JOB__INIT;
    h = raw_header();
    h.type = PARAMD__MSG_TYPE__WELCOME;
    h.job = &pj;
    fill_str(big, sizeof(job.model), 'm');
    pj.model = big;
    ck_assert_int_eq(decode_raw(&h, &job), PD_EWIRE);
    pj.model = NULL;
    fill_str(big, sizeof(job.data_format), 'f');
    pj.data_format = big;
    ck_assert_int_eq(decode_raw(&h, &job), PD_EWIRE);
}
END_TEST

/* loss_sum may be non-finite; the other header doubles may not. */
START_TEST(test_nonfinite_header_doubles)
{
    Paramd__Header h;
    Paramd__Hello hello = PARAMD__HELLO__INIT;
    const double bad[] = {NAN, INFINITY, -INFINITY};

    for (size_t i = 0; i < 3; i++) {
        pd_msg_t m;
        h = raw_header();
        h.loss_sum = bad[i];
        /* A diverging worker's loss is reported as it is, not refused as a broken header. */
        ck_assert_int_eq(decode_raw_msg(&h, &m, NULL), 0);
        ck_assert(i == 0 ? isnan(m.loss_sum) : m.loss_sum == bad[i]);
        h = raw_header();
        h.compute_seconds = bad[i];
        ck_assert_int_eq(decode_raw(&h, NULL), PD_EWIRE);
        h = raw_header();
        h.learning_rate = bad[i];
        ck_assert_int_eq(decode_raw(&h, NULL), PD_EWIRE);
        h = raw_header();
        hello.slowdown = bad[i];
        h.hello = &hello;
        ck_assert_int_eq(decode_raw(&h, NULL), PD_EWIRE);
    }
}
END_TEST

/* LocalTr's L-SR1 fields (APTS second order) survive the trip; a memory of more than 64
 * pairs, a non-finite γ or γ = 0 with pairs is refused. */
START_TEST(test_local_tr_lsr1_fields)
{
    pd_msg_t m, back;
    size_t len;

    pd_msg_init(&m, PD_MSG_TASK);
    m.kind = PD_TASK_LOCAL_TR;
    m.has_local_tr = true;
    m.local_tr = (pd_local_tr_t){.block = 2, .n_blocks = 3, .radius = 0.5, .local_iters = 4,
                                 .l2 = 1e-3, .lsr1_pairs = 5, .lsr1_gamma = -2.25};
    void *buf = encode_ok(&m, &len);
    ck_assert_int_eq(pd_wire_decode(buf, len, &back, NULL), 0);
    free(buf);
    ck_assert(back.has_local_tr);
    ck_assert_uint_eq(back.local_tr.lsr1_pairs, 5);
    ck_assert(back.local_tr.lsr1_gamma == -2.25);
    ck_assert_uint_eq(back.local_tr.block, 2);

    Paramd__Header h = raw_header();
    Paramd__LocalTr ltr = PARAMD__LOCAL_TR__INIT;
    h.type = PARAMD__MSG_TYPE__TASK;
    h.local_tr = &ltr;
    ltr.radius = 0.5;
    ltr.local_iters = 1;
    ltr.lsr1_pairs = 64;
    ltr.lsr1_gamma = 1.0;
    ck_assert_int_eq(decode_raw(&h, NULL), 0);
    ltr.lsr1_pairs = 65;
    ck_assert_int_eq(decode_raw(&h, NULL), PD_EWIRE);
    ltr.lsr1_pairs = 3;
    ltr.lsr1_gamma = 0.0;
    ck_assert_int_eq(decode_raw(&h, NULL), PD_EWIRE);
    ltr.lsr1_pairs = 0; /* no memory: γ is unused */
    ck_assert_int_eq(decode_raw(&h, NULL), 0);
    ltr.lsr1_gamma = NAN;
    ck_assert_int_eq(decode_raw(&h, NULL), PD_EWIRE);
    ltr.lsr1_gamma = INFINITY;
    ltr.lsr1_pairs = 2;
    ck_assert_int_eq(decode_raw(&h, NULL), PD_EWIRE);
}
END_TEST

START_TEST(test_empty_and_oversized)
{
    pd_msg_t m;
    unsigned char one = 0;
    size_t big_len = PD_WIRE_MAX_HEADER + 1;
    unsigned char *big = calloc(1, big_len);

    ck_assert_int_eq(pd_wire_decode(&one, 0, &m, NULL), PD_EWIRE);
    ck_assert_int_eq(pd_wire_decode(&one, 1, &m, NULL), PD_EWIRE);
    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(pd_wire_decode(big, big_len, &m, NULL), PD_EWIRE);
    free(big);
}
END_TEST

/* Random bytes: a fixed seed so a failure reproduces. Protobuf has no magic number, so a
 * buffer of random bytes occasionally parses as a header with unknown fields; it then
 * lacks proto_version 1 and is refused as another version. Either way: never accepted. */
START_TEST(test_random_garbage)
{
    pd_rng_t r;
    unsigned char buf[512];
    pd_msg_t m;
    static pd_job_desc_t job;
    int n_wire = 0, n_version = 0;

    pd_rng_seed(&r, 20240601);
    for (int trial = 0; trial < 20000; trial++) {
        size_t len = 1 + (size_t)pd_rng_below(&r, sizeof(buf));
        for (size_t i = 0; i < len; i++) {
            buf[i] = (unsigned char)pd_rng_next(&r);
        }
        int rc = pd_wire_decode(buf, len, &m, &job);
        ck_assert_msg(rc == PD_EWIRE || rc == PD_EVERSION, "trial %d: garbage decoded (rc %d)",
                      trial, rc);
        if (rc == PD_EVERSION) {
            ck_assert_uint_ne(m.proto_version, PD_PROTO_VERSION);
            n_version++;
        } else {
            n_wire++;
        }
    }
    /* Most garbage fails to parse at all. */
    ck_assert_int_gt(n_wire, 19 * n_version);
}
END_TEST

/* A valid header with a random byte flipped (the nastier kind of garbage): never a crash,
 * and a decode that succeeds still holds only in-range values. */
START_TEST(test_bit_flips)
{
    static pd_job_desc_t job, job_in;
    pd_rng_t r;
    pd_msg_t m, back;
    size_t len;
    unsigned char *buf;

    fill_job(&job);
    fill_msg(&m, PD_MSG_WELCOME, &job);
    buf = encode_ok(&m, &len);
    pd_rng_seed(&r, 7);
    for (int trial = 0; trial < 5000; trial++) {
        size_t at = (size_t)pd_rng_below(&r, len);
        unsigned char old = buf[at];
        buf[at] ^= (unsigned char)(1u << pd_rng_below(&r, 8));
        int rc = pd_wire_decode(buf, len, &back, &job_in);
        ck_assert(rc == 0 || rc == PD_EWIRE || rc == PD_EVERSION);
        if (rc == 0) {
            ck_assert_int_gt(back.type, PD_MSG_NONE);
            ck_assert_int_lt(back.type, PD_MSG__COUNT);
            ck_assert_uint_le(back.n_frames, PD_WIRE_MAX_FRAMES);
            ck_assert_uint_lt(strlen(back.reason), PD_WIRE_STR);
        }
        buf[at] = old;
    }
    free(buf);
}
END_TEST

/* Truncating a header at every length. Protobuf cannot tell a cut that falls between two
 * top-level fields from a shorter message, so those prefixes decode; every other cut (inside
 * a varint, a fixed64, a string or a sub-message) must be refused with PD_EWIRE. A prefix
 * that decodes must be exactly the encoding of what it decoded to (no field half-read). */
START_TEST(test_truncations)
{
    static pd_job_desc_t job, job_in;
    pd_msg_t m, back;
    size_t len, n_ok = 0, n_bad = 0;
    unsigned char *buf;

    fill_job(&job);
    for (int t = PD_MSG_HELLO; t < PD_MSG__COUNT; t++) {
        fill_msg(&m, (pd_msg_type_t)t, &job);
        buf = encode_ok(&m, &len);
        ck_assert_int_eq(pd_wire_decode(buf, 0, &back, &job_in), PD_EWIRE);
        for (size_t cut = 1; cut < len; cut++) {
            int rc = pd_wire_decode(buf, cut, &back, &job_in);
            if (rc == 0) {
                void *again;
                size_t again_len;
                ck_assert_int_eq(pd_wire_encode(&back, &again, &again_len), 0);
                ck_assert_uint_eq(again_len, cut);
                ck_assert_int_eq(memcmp(again, buf, cut), 0);
                free(again);
                n_ok++;
            } else {
                /* A prefix holding only proto_version (or nothing valid) is EWIRE as well:
                 * version 1 is on the wire first, so no cut can turn into PD_EVERSION. */
                ck_assert_int_eq(rc, PD_EWIRE);
                n_bad++;
            }
        }
        free(buf);
    }
    /* Field boundaries are few next to the bytes inside fields. */
    ck_assert_uint_gt(n_bad, 20 * n_ok);
}
END_TEST

START_TEST(test_names)
{
    ck_assert_str_eq(pd_msg_type_name(PD_MSG_PUSH), "PUSH");
    ck_assert_str_eq(pd_msg_type_name(PD_MSG_ERROR), "ERROR");
    ck_assert_str_eq(pd_msg_type_name(-1), "UNKNOWN");
    ck_assert_str_eq(pd_msg_type_name(PD_MSG__COUNT), "UNKNOWN");
    ck_assert_str_eq(pd_wire_error_name(PD_WERR_TOO_BIG), "too-big");
    ck_assert_str_eq(pd_wire_error_name(PD_WERR__COUNT), "unknown");
    ck_assert_str_eq(pd_wire_error_name(-3), "unknown");
}
END_TEST

START_TEST(test_all_finite)
{
    double v[5] = {0, -1, 1e308, -0.0, 5e-324};
    ck_assert(pd_wire_all_finite(v, 5));
    ck_assert(pd_wire_all_finite(v, 0));
    v[4] = NAN;
    ck_assert(!pd_wire_all_finite(v, 5));
    ck_assert(pd_wire_all_finite(v, 4));
    v[0] = -INFINITY;
    ck_assert(!pd_wire_all_finite(v, 1));
}
END_TEST

/* ------------------------------------------------------------------ sockets */

static void *g_ctx, *g_router, *g_dealer;

static void setup_pair(void)
{
    int linger = 0;
    g_ctx = zmq_ctx_new();
    ck_assert_ptr_nonnull(g_ctx);
    g_router = zmq_socket(g_ctx, ZMQ_ROUTER);
    g_dealer = zmq_socket(g_ctx, ZMQ_DEALER);
    ck_assert_ptr_nonnull(g_router);
    ck_assert_ptr_nonnull(g_dealer);
    zmq_setsockopt(g_router, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(g_dealer, ZMQ_LINGER, &linger, sizeof(linger));
    ck_assert_int_eq(zmq_setsockopt(g_dealer, ZMQ_ROUTING_ID, "dealer-1", 8), 0);
    ck_assert_int_eq(zmq_bind(g_router, "inproc://check-wire"), 0);
    ck_assert_int_eq(zmq_connect(g_dealer, "inproc://check-wire"), 0);
}

static void teardown_pair(void)
{
    zmq_close(g_dealer);
    zmq_close(g_router);
    zmq_ctx_term(g_ctx);
}

/* Blocking receive on the router with a 5 s guard so a lost message fails, not hangs. */
static int recv_router(pd_wire_in_t *in, size_t max_bytes)
{
    zmq_pollitem_t it = {g_router, 0, ZMQ_POLLIN, 0};
    ck_assert_int_eq(zmq_poll(&it, 1, 5000), 1);
    return pd_wire_recv(g_router, true, max_bytes, true, in);
}

START_TEST(test_send_recv_round_trip)
{
    static pd_job_desc_t job;
    static pd_wire_in_t in, back;
    double a[3] = {1.5, -2.5, 3.25};
    uint32_t u[2] = {7, 9};
    pd_msg_t m;
    const double *v;

    fill_job(&job);
    fill_msg(&m, PD_MSG_WELCOME, &job);
    m.elem_type = PD_ELEM_F64;
    m.n_frames = 2;
    m.frame_counts[0] = 3;
    m.frame_counts[1] = 1; /* the second frame is 8 bytes: one F64 */
    pd_wire_frame_t f[2] = {{a, sizeof(a), NULL}, {u, sizeof(u), NULL}};
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, f, 2, false), 0);
    ck_assert_int_eq(recv_router(&in, 0), 0);
    ck_assert_int_eq(in.decode_rc, 0);
    ck_assert_int_eq(in.frames_rc, 0);
    ck_assert_uint_eq(in.routing_id_len, 8);
    ck_assert_int_eq(memcmp(in.routing_id, "dealer-1", 8), 0);
    ck_assert_uint_eq(in.n_parts, 2);
    ck_assert(in.msg.has_job);
    ck_assert_ptr_eq(in.msg.job, &in.job);
    ck_assert_str_eq(in.job.train_path, job.train_path);
    ck_assert_int_eq(pd_wire_in_doubles(&in, 0, 3, &v), 0);
    ck_assert_double_eq(v[0], 1.5);
    ck_assert_double_eq(v[2], 3.25);
    ck_assert_int_eq(pd_wire_in_doubles(&in, 0, 2, &v), PD_EDIM);  /* wrong expectation */
    ck_assert_int_eq(pd_wire_in_doubles(&in, 2, 1, &v), PD_EDIM);  /* no such frame */

    /* And back through the router to the same dealer, by routing id. */
    pd_msg_init(&m, PD_MSG_ACK);
    m.request_id = 5;
    ck_assert_int_eq(pd_wire_send(g_router, in.routing_id, in.routing_id_len, &m, NULL, 0, false),
                     0);
    pd_wire_in_release(&in);
    zmq_pollitem_t it = {g_dealer, 0, ZMQ_POLLIN, 0};
    ck_assert_int_eq(zmq_poll(&it, 1, 5000), 1);
    ck_assert_int_eq(pd_wire_recv(g_dealer, false, 0, true, &back), 0);
    ck_assert_int_eq(back.decode_rc, 0);
    ck_assert_int_eq(back.frames_rc, 0);
    ck_assert_int_eq(back.msg.type, PD_MSG_ACK);
    ck_assert_uint_eq(back.msg.request_id, 5);
    ck_assert_uint_eq(back.n_parts, 0);
    pd_wire_in_release(&back);

    /* Nothing waiting: -EAGAIN, not a block. */
    ck_assert_int_eq(pd_wire_recv(g_router, true, 0, true, &in), -EAGAIN);
}
END_TEST

START_TEST(test_zero_copy_refcount)
{
    static pd_wire_in_t in;
    const size_t n = 1000;
    pd_buf_t *b = NULL;
    pd_msg_t m;
    const double *v;

    ck_assert_int_eq(pd_buf_new(&b, n * sizeof(double)), 0);
    double *x = (double *)(void *)b->data;
    for (size_t i = 0; i < n; i++) {
        x[i] = (double)i * 0.5;
    }
    /* Two frames from one buffer (a window into it, like a PULL of a key range). */
    pd_wire_frame_t f[2] = {{b->data, n * sizeof(double), b},
                            {b->data + 10 * sizeof(double), 5 * sizeof(double), b}};
    pd_msg_init(&m, PD_MSG_PARAMS);
    m.n_frames = 2;
    m.frame_counts[0] = n;
    m.frame_counts[1] = 5;
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, f, 2, false), 0);
    ck_assert_int_eq(recv_router(&in, 0), 0);
    ck_assert_int_eq(in.decode_rc, 0);
    ck_assert_int_eq(in.frames_rc, 0);
    /* inproc hands the same zmq content over: the receiver now holds both references. */
    ck_assert_uint_eq(atomic_load(&b->refs), 3);
    ck_assert_int_eq(pd_wire_in_doubles(&in, 0, n, &v), 0);
    ck_assert_double_eq(v[999], 499.5);
    ck_assert_int_eq(pd_wire_in_doubles(&in, 1, 5, &v), 0);
    ck_assert_double_eq(v[0], 5.0);
    ck_assert_double_eq(v[4], 7.0);
    pd_wire_in_release(&in);
    ck_assert_uint_eq(atomic_load(&b->refs), 1);
    pd_wire_in_release(&in); /* releasing twice is harmless */
    ck_assert_uint_eq(atomic_load(&b->refs), 1);
    pd_buf_unref(b);
}
END_TEST

START_TEST(test_frames_mismatch)
{
    static pd_wire_in_t in;
    double a[4] = {1, 2, 3, 4};
    pd_msg_t m;

    /* Declares 2 frames, sends 1. */
    pd_msg_init(&m, PD_MSG_PUSH);
    m.n_frames = 2;
    m.frame_counts[0] = 4;
    m.frame_counts[1] = 4;
    pd_wire_frame_t f = {a, sizeof(a), NULL};
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, &f, 1, false), 0);
    ck_assert_int_eq(recv_router(&in, 0), 0);
    ck_assert_int_eq(in.decode_rc, 0);
    ck_assert_int_eq(in.frames_rc, PD_EWIRE);
    pd_wire_in_release(&in);

    /* Declares 0 frames, sends 1. */
    m.n_frames = 0;
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, &f, 1, false), 0);
    ck_assert_int_eq(recv_router(&in, 0), 0);
    ck_assert_int_eq(in.frames_rc, PD_EWIRE);
    pd_wire_in_release(&in);

    /* Byte length not count x 8: 3 declared, 4 sent; and 4 declared, 31 bytes sent. */
    m.n_frames = 1;
    m.frame_counts[0] = 3;
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, &f, 1, false), 0);
    ck_assert_int_eq(recv_router(&in, 0), 0);
    ck_assert_int_eq(in.frames_rc, PD_EWIRE);
    pd_wire_in_release(&in);
    m.frame_counts[0] = 4;
    f.len_bytes = sizeof(a) - 1;
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, &f, 1, false), 0);
    ck_assert_int_eq(recv_router(&in, 0), 0);
    ck_assert_int_eq(in.frames_rc, PD_EWIRE);
    pd_wire_in_release(&in);

    /* F32 / U32 frames are 4 bytes an element: 8 elements in 32 bytes is right. */
    m.elem_type = PD_ELEM_F32;
    m.frame_counts[0] = 8;
    f.len_bytes = sizeof(a);
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, &f, 1, false), 0);
    ck_assert_int_eq(recv_router(&in, 0), 0);
    ck_assert_int_eq(in.frames_rc, 0);
    const double *v;
    ck_assert_int_eq(pd_wire_in_doubles(&in, 0, 4, &v), PD_EDIM); /* not F64 */
    pd_wire_in_release(&in);

    /* A count whose byte size overflows 64 bits. */
    m.elem_type = PD_ELEM_F64;
    m.frame_counts[0] = UINT64_MAX / 4;
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, &f, 1, false), 0);
    ck_assert_int_eq(recv_router(&in, 0), 0);
    ck_assert_int_eq(in.frames_rc, PD_EWIRE);
    pd_wire_in_release(&in);
}
END_TEST

START_TEST(test_bad_header_still_returned)
{
    static pd_wire_in_t in;
    unsigned char junk[16];

    /* A header that is not protobuf, followed by a frame: returned with decode_rc set so the
     * caller can answer; frames are not judged against a header that did not decode. */
    memset(junk, 0xff, sizeof(junk));
    ck_assert_int_eq(zmq_send(g_dealer, junk, sizeof(junk), ZMQ_SNDMORE), (int)sizeof(junk));
    ck_assert_int_eq(zmq_send(g_dealer, junk, 8, 0), 8);
    ck_assert_int_eq(recv_router(&in, 0), 0);
    ck_assert_int_eq(in.decode_rc, PD_EWIRE);
    ck_assert_uint_eq(in.n_parts, 1);
    pd_wire_in_release(&in);

    /* An empty header frame. */
    ck_assert_int_eq(zmq_send(g_dealer, "", 0, 0), 0);
    ck_assert_int_eq(recv_router(&in, 0), 0);
    ck_assert_int_eq(in.decode_rc, PD_EWIRE);
    pd_wire_in_release(&in);
}
END_TEST

START_TEST(test_too_many_frames)
{
    static pd_wire_in_t in;
    double one = 1.0;
    pd_wire_frame_t f[PD_WIRE_MAX_FRAMES + 1];
    pd_msg_t m;

    for (size_t i = 0; i < PD_WIRE_MAX_FRAMES + 1; i++) {
        f[i] = (pd_wire_frame_t){&one, sizeof(one), NULL};
    }
    pd_msg_init(&m, PD_MSG_PUSH);
    m.request_id = 1;
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, f, PD_WIRE_MAX_FRAMES + 1, false), 0);
    /* Exactly the limit is fine; the next message must start cleanly after the drained one. */
    m.request_id = 2;
    m.n_frames = PD_WIRE_MAX_FRAMES;
    for (size_t i = 0; i < PD_WIRE_MAX_FRAMES; i++) {
        m.frame_counts[i] = 1;
    }
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, f, PD_WIRE_MAX_FRAMES, false), 0);

    ck_assert_int_eq(recv_router(&in, 0), PD_ETOOBIG);
    /* The routing id is kept so the caller can answer TOO_BIG. */
    ck_assert_uint_eq(in.routing_id_len, 8);
    ck_assert_uint_eq(in.n_parts, 0);
    ck_assert_int_eq(recv_router(&in, 0), 0);
    ck_assert_int_eq(in.decode_rc, 0);
    ck_assert_int_eq(in.frames_rc, 0);
    ck_assert_uint_eq(in.msg.request_id, 2);
    ck_assert_uint_eq(in.n_parts, PD_WIRE_MAX_FRAMES);
    pd_wire_in_release(&in);
}
END_TEST

START_TEST(test_max_bytes)
{
    static pd_wire_in_t in;
    static double big[2048];
    pd_msg_t m;

    pd_msg_init(&m, PD_MSG_PUSH);
    m.n_frames = 1;
    m.frame_counts[0] = 2048;
    pd_wire_frame_t f = {big, sizeof(big), NULL};
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, &f, 1, false), 0);
    ck_assert_int_eq(recv_router(&in, 4096), PD_ETOOBIG);
    ck_assert_uint_gt(in.total_bytes, sizeof(big));
    ck_assert_uint_eq(in.n_parts, 0);
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, &f, 1, false), 0);
    ck_assert_int_eq(recv_router(&in, sizeof(big) + 1024), 0);
    ck_assert_int_eq(in.frames_rc, 0);
    pd_wire_in_release(&in);
}
END_TEST

static void noop_free(void *data, void *hint)
{
    (void)data;
    (void)hint;
}

/* A frame that starts at an odd address: pd_wire_in_doubles must copy, not misread. Built
 * on a zmq_msg_t pointing into a byte buffer at offset 1, so it is unaligned for sure. */
START_TEST(test_unaligned_frame_direct)
{
    static pd_wire_in_t in;
    static unsigned char raw[1 + 16 * sizeof(double)];
    double want[16];
    const double *v;

    for (size_t i = 0; i < 16; i++) {
        want[i] = 1.0 / (double)(i + 1);
    }
    memcpy(raw + 1, want, sizeof(want));
    memset(&in, 0, sizeof(in));
    in.msg.elem_type = PD_ELEM_F64;
    ck_assert_int_eq(zmq_msg_init_data(&in.parts[0], raw + 1, sizeof(want), noop_free, NULL), 0);
    in.n_parts = 1;
    ck_assert_int_eq(pd_wire_in_doubles(&in, 0, 16, &v), 0);
    ck_assert_ptr_ne(v, (const void *)(raw + 1));
    ck_assert_uint_eq((uintptr_t)v % _Alignof(double), 0);
    for (size_t i = 0; i < 16; i++) {
        ck_assert_double_eq(v[i], want[i]);
    }
    /* A second call reuses the copy. */
    const double *v2;
    ck_assert_int_eq(pd_wire_in_doubles(&in, 0, 16, &v2), 0);
    ck_assert_ptr_eq(v2, v);
    pd_wire_in_release(&in);
    ck_assert_ptr_null(in.aligned[0]);
}
END_TEST

/* The same through a socket: small frames live inside zmq_msg_t (at whatever offset libzmq
 * chose), and frames of every byte offset from an odd-aligned zero-copy source. */
/* Float32 on the wire: rounding to nearest as IEEE does, Inf exactly from FLT_MAX plus half
 * its last unit on, NaN kept; an F32 frame read as doubles is widened exactly; a Job whose
 * wire_type is neither F32 nor F64 is refused. */
START_TEST(test_f32_frames)
{
    static pd_wire_in_t in;
    const double half_ulp_above = 0x1.ffffffp+127; /* FLT_MAX + 2^103 */
    double v[8] = {1.0 / 3.0, -2.5e-40, half_ulp_above, nextafter(half_ulp_above, 0),
                   -half_ulp_above, NAN, 1e300, -0.0};
    float f[8];
    const double *back;

    pd_wire_to_f32(v, 8, f);
    ck_assert(f[0] == (float)(1.0 / 3.0) && f[1] == (float)-2.5e-40);
    ck_assert(isinf(f[2]) && f[2] > 0);
    ck_assert(f[3] == FLT_MAX);
    ck_assert(isinf(f[4]) && f[4] < 0);
    ck_assert(isnan(f[5]));
    ck_assert(isinf(f[6]));
    ck_assert(f[7] == 0.0f && signbit(f[7]));

    memset(&in, 0, sizeof(in));
    in.msg.elem_type = PD_ELEM_F32;
    ck_assert_int_eq(zmq_msg_init_size(&in.parts[0], sizeof(f)), 0);
    memcpy(zmq_msg_data(&in.parts[0]), f, sizeof(f));
    in.n_parts = 1;
    ck_assert_int_eq(pd_wire_in_doubles(&in, 0, 7, &back), PD_EDIM); /* 28 of 32 bytes */
    ck_assert_int_eq(pd_wire_in_doubles(&in, 0, 8, &back), 0);
    for (size_t i = 0; i < 8; i++) {
        ck_assert(isnan(f[i]) ? isnan(back[i]) : back[i] == (double)f[i]);
    }
    pd_wire_in_release(&in);
    in.msg.elem_type = PD_ELEM_U32; /* same size, not a number type */
    ck_assert_int_eq(zmq_msg_init_size(&in.parts[0], sizeof(f)), 0);
    in.n_parts = 1;
    ck_assert_int_eq(pd_wire_in_doubles(&in, 0, 8, &back), PD_EDIM);
    pd_wire_in_release(&in);

    Paramd__Header h = raw_header();
    Paramd__Job job = PARAMD__JOB__INIT;
    pd_job_desc_t out;
    h.type = PARAMD__MSG_TYPE__WELCOME;
    h.job = &job;
    job.wire_type = PARAMD__ELEM_TYPE__F32;
    ck_assert_int_eq(decode_raw(&h, &out), 0);
    ck_assert_int_eq(out.wire_type, PD_ELEM_F32);
    job.wire_type = PARAMD__ELEM_TYPE__U8;
    ck_assert_int_eq(decode_raw(&h, &out), PD_EWIRE);
}
END_TEST

/* bfloat16: the float32 rounding, then to nearest with ties to even on the top 16 bits; NaN
 * stays NaN, FLT_MAX becomes Inf; a BF16 frame widens exactly. */

/* pd_wire_check_keys: every key below dim, strictly increasing; the first bad key is named
 * (the scan runs two keys at a time, so odd and even positions and both ends are tried). */
START_TEST(test_check_keys)
{
    uint64_t k[7] = {0, 3, 4, 9, 10, 11, 19};
    char why[160];

    ck_assert_int_eq(pd_wire_check_keys(k, 7, 20, why, sizeof(why)), 0);
    ck_assert_int_eq(pd_wire_check_keys(k, 0, 20, why, sizeof(why)), 0);
    ck_assert_int_eq(pd_wire_check_keys(k + 6, 1, 20, why, sizeof(why)), 0);
    ck_assert_int_eq(pd_wire_check_keys(k, 7, 19, why, sizeof(why)), PD_EDIM);
    ck_assert_msg(strstr(why, "key 19 (position 6)") != NULL, "%s", why);
    ck_assert_int_eq(pd_wire_check_keys(k + 6, 1, 19, why, sizeof(why)), PD_EDIM);
    for (size_t at = 1; at < 7; at++) {
        uint64_t c[7];
        memcpy(c, k, sizeof(c));
        c[at] = c[at - 1]; /* a duplicate at each position */
        ck_assert_int_eq(pd_wire_check_keys(c, 7, 20, why, sizeof(why)), PD_EWIRE);
        ck_assert_msg(strstr(why, "(a duplicate)") != NULL, "%s", why);
        c[at] = c[at - 1] - (c[at - 1] > 0 ? 1 : 0) ; /* or smaller */
        ck_assert_int_ne(pd_wire_check_keys(c, 7, 20, why, sizeof(why)), 0);
    }
    k[3] = UINT64_MAX; /* far past any dim, and past 2^62 */
    ck_assert_int_eq(pd_wire_check_keys(k, 7, 20, why, sizeof(why)), PD_EDIM);
}
END_TEST

START_TEST(test_bf16_frames)
{
    static pd_wire_in_t in;
    double v[7] = {1.0, 1.0 + 0x1p-8, 1.0 + 0x3p-9, -2.5, NAN, FLT_MAX, 1e-3};
    uint16_t b[7];
    const double *back;

    pd_wire_to_bf16(v, 7, b);
    ck_assert_uint_eq(b[0], 0x3f80);
    ck_assert_uint_eq(b[1], 0x3f80); /* a tie: to the even 1.0 */
    ck_assert_uint_eq(b[2], 0x3f81); /* above the tie: up */
    ck_assert_uint_eq(b[3], 0xc020);
    ck_assert(isnan(pd_wire_bf16_value(b[4])));
    ck_assert(isinf(pd_wire_bf16_value(b[5])));
    ck_assert(fabs(pd_wire_bf16_value(b[6]) - 1e-3) <= 1e-3 * 0x1p-8);

    memset(&in, 0, sizeof(in));
    in.msg.elem_type = PD_ELEM_BF16;
    ck_assert_int_eq(zmq_msg_init_size(&in.parts[0], sizeof(b)), 0);
    memcpy(zmq_msg_data(&in.parts[0]), b, sizeof(b));
    in.n_parts = 1;
    ck_assert_int_eq(pd_wire_in_doubles(&in, 0, 7, &back), 0);
    ck_assert(back[0] == 1.0 && back[2] == 1.0 + 0x1p-7 && back[3] == -2.5);
    pd_wire_in_release(&in);

    /* Error feedback: 1000 steps of a gradient bfloat16 cannot hold deliver its sum to within
     * one rounding; without the feedback the same rounding error would add up 1000 times. */
    double g[2] = {1.0 / 3.0, -1e-3 / 7.0}, ef[2] = {0, 0}, sum[2] = {0, 0}, plain = 0;
    uint16_t q[2];
    for (int k = 0; k < 1000; k++) {
        pd_wire_compress_bf16(g, ef, q, 2);
        sum[0] += pd_wire_bf16_value(q[0]);
        sum[1] += pd_wire_bf16_value(q[1]);
        pd_wire_to_bf16(g, 1, q);
        plain += pd_wire_bf16_value(q[0]);
    }
    ck_assert(fabs(sum[0] - 1000 * g[0]) <= 0x1p-9);
    ck_assert(fabs(sum[1] - 1000 * g[1]) <= fabs(g[1]) * 0x1p-8); /* a unit at its scale */
    ck_assert(fabs(plain - 1000 * g[0]) > 100 * 0x1p-9);
    double bad[1] = {NAN}, efn[1] = {0.5};
    pd_wire_compress_bf16(bad, efn, q, 1);
    ck_assert(isnan(pd_wire_bf16_value(q[0])) && efn[0] == 0.0);
}
END_TEST

START_TEST(test_unaligned_frame_socket)
{
    static pd_wire_in_t in;
    static unsigned char raw[8 + 64 * sizeof(double)];
    double want[64];
    pd_msg_t m;
    const double *v;

    for (size_t i = 0; i < 64; i++) {
        want[i] = -3.0 * (double)i + 0.125;
    }
    for (size_t off = 0; off < 8; off++) {
        for (size_t count = 1; count <= 64; count *= 4) {
            memcpy(raw + off, want, count * sizeof(double));
            pd_msg_init(&m, PD_MSG_PUSH);
            m.n_frames = 1;
            m.frame_counts[0] = count;
            pd_wire_frame_t f = {raw + off, count * sizeof(double), NULL};
            ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, &f, 1, false), 0);
            ck_assert_int_eq(recv_router(&in, 0), 0);
            ck_assert_int_eq(in.frames_rc, 0);
            ck_assert_int_eq(pd_wire_in_doubles(&in, 0, count, &v), 0);
            ck_assert_uint_eq((uintptr_t)v % _Alignof(double), 0);
            ck_assert_int_eq(memcmp(v, want, count * sizeof(double)), 0);
            pd_wire_in_release(&in);
        }
    }
}
END_TEST

START_TEST(test_send_refuses_bad_header)
{
    pd_msg_t m;

    pd_msg_init(&m, PD_MSG_PUSH);
    m.n_frames = PD_WIRE_MAX_FRAMES + 1;
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, NULL, 0, false), PD_EWIRE);
}
END_TEST

static void count_release(void *data, void *hint)
{
    (void)data;
    (*(int *)hint)++;
}

/* pd_wire_send_part: the caller's frame goes out as built; when the send fails it is left
 * intact to the caller (its free function not run), whether the header or the frame failed. */
START_TEST(test_send_part)
{
    static pd_wire_in_t in;
    static double a[64];
    void *lone = zmq_socket(g_ctx, ZMQ_DEALER);
    int released = 0, linger = 0;
    zmq_msg_t part;
    pd_msg_t m;
    const double *v;

    a[63] = 2.5;
    pd_msg_init(&m, PD_MSG_PUSH);
    m.n_frames = 1;
    m.frame_counts[0] = 64;
    ck_assert_int_eq(zmq_msg_init_data(&part, a, sizeof(a), count_release, &released), 0);
    ck_assert_int_eq(pd_wire_send_part(g_dealer, &m, &part, false), 0);
    ck_assert_int_eq(recv_router(&in, 0), 0);
    ck_assert_int_eq(in.frames_rc, 0);
    ck_assert_int_eq(pd_wire_in_doubles(&in, 0, 64, &v), 0);
    ck_assert_double_eq(v[63], 2.5);
    pd_wire_in_release(&in); /* inproc: the receiver held the last reference */
    ck_assert_int_eq(released, 1);

    /* No peer: the header fails (EAGAIN); then a header that cannot be encoded. */
    zmq_setsockopt(lone, ZMQ_LINGER, &linger, sizeof(linger));
    ck_assert_int_eq(zmq_msg_init_data(&part, a, sizeof(a), count_release, &released), 0);
    ck_assert_int_eq(pd_wire_send_part(lone, &m, &part, true), -EAGAIN);
    m.n_frames = PD_WIRE_MAX_FRAMES + 1;
    ck_assert_int_eq(pd_wire_send_part(g_dealer, &m, &part, false), PD_EWIRE);
    ck_assert_uint_eq(zmq_msg_size(&part), sizeof(a));
    ck_assert_int_eq(released, 1);
    zmq_msg_close(&part);
    ck_assert_int_eq(released, 2);
    zmq_close(lone);
}
END_TEST

/* Over TCP the bytes are copied by libzmq's I/O thread; the buffer reference is released
 * once they are written, asynchronously. Poll for it with a deadline. */
START_TEST(test_tcp_zero_copy)
{
    void *ctx = zmq_ctx_new();
    void *r = zmq_socket(ctx, ZMQ_ROUTER), *dl = zmq_socket(ctx, ZMQ_DEALER);
    char ep[256];
    size_t ep_len = sizeof(ep);
    int linger = 0;
    static pd_wire_in_t in;
    pd_buf_t *b = NULL;
    pd_msg_t m;
    const double *v;

    zmq_setsockopt(r, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(dl, ZMQ_LINGER, &linger, sizeof(linger));
    ck_assert_int_eq(zmq_bind(r, "tcp://127.0.0.1:*"), 0);
    ck_assert_int_eq(zmq_getsockopt(r, ZMQ_LAST_ENDPOINT, ep, &ep_len), 0);
    ck_assert_int_eq(zmq_connect(dl, ep), 0);
    ck_assert_int_eq(pd_buf_new(&b, 4096 * sizeof(double)), 0);
    for (size_t i = 0; i < 4096; i++) {
        ((double *)(void *)b->data)[i] = (double)i;
    }
    pd_wire_frame_t f = {b->data + 8, 4095 * sizeof(double), b};
    pd_msg_init(&m, PD_MSG_PUSH);
    m.n_frames = 1;
    m.frame_counts[0] = 4095;
    ck_assert_int_eq(pd_wire_send(dl, NULL, 0, &m, &f, 1, false), 0);
    zmq_pollitem_t it = {r, 0, ZMQ_POLLIN, 0};
    ck_assert_int_eq(zmq_poll(&it, 1, 5000), 1);
    ck_assert_int_eq(pd_wire_recv(r, true, 0, true, &in), 0);
    ck_assert_int_eq(in.frames_rc, 0);
    ck_assert_int_eq(pd_wire_in_doubles(&in, 0, 4095, &v), 0);
    ck_assert_double_eq(v[0], 1.0);
    ck_assert_double_eq(v[4094], 4095.0);
    pd_wire_in_release(&in);
    for (int i = 0; i < 500 && atomic_load(&b->refs) != 1; i++) {
        zmq_poll(NULL, 0, 10);
    }
    ck_assert_uint_eq(atomic_load(&b->refs), 1);
    pd_buf_unref(b);
    zmq_close(dl);
    zmq_close(r);
    zmq_ctx_term(ctx);
}
END_TEST

/* Long vectors: every position of a non-finite value, in blocks and in the tail, among
 * values with every kind of finite bit pattern (negative, zero, -0, subnormal, the largest). */
START_TEST(test_all_finite_long)
{
    static double v[1027];
    const double finite[] = {0.0, -0.0, 1.0, -2.5, 5e-324, -5e-324, 2.2250738585072014e-308,
                             1.7976931348623157e308, -1.7976931348623157e308, 1e-300};
    const double bad[] = {NAN, -NAN, INFINITY, -INFINITY};
    const size_t lens[] = {1, 7, 8, 9, 16, 17, 64, 1027};

    for (size_t i = 0; i < 1027; i++) {
        v[i] = finite[i % (sizeof(finite) / sizeof(finite[0]))];
    }
    for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
        size_t n = lens[li];
        ck_assert(pd_wire_all_finite(v, n));
        for (size_t at = 0; at < n; at++) {
            for (size_t b = 0; b < 4; b++) {
                double keep = v[at];
                v[at] = bad[b];
                ck_assert_msg(!pd_wire_all_finite(v, n), "n %zu: value %zu missed at %zu", n, b, at);
                /* Just outside the range checked: not seen. */
                ck_assert(at == 0 || pd_wire_all_finite(v, at));
                v[at] = keep;
            }
        }
    }
    /* A NaN with payload bits only in the low mantissa, and the smallest Inf-adjacent value. */
    uint64_t bits = UINT64_C(0x7ff0000000000001);
    memcpy(&v[5], &bits, sizeof(bits));
    ck_assert(!pd_wire_all_finite(v, 64));
    bits = UINT64_C(0x7fefffffffffffff);
    memcpy(&v[5], &bits, sizeof(bits));
    ck_assert(pd_wire_all_finite(v, 64));
    /* A start that is not a multiple of the 8-value block. */
    ck_assert(pd_wire_all_finite(v + 1, 63));
}
END_TEST

/* The data transfer: FETCH names a file and a byte range; DATA carries raw bytes (U8, any
 * length, odd included) with the file's size and CRC-32, and a frame whose length is not
 * the declared byte count is flagged like any other. */
START_TEST(test_fetch_data_round_trip)
{
    static pd_wire_in_t in, back;
    static unsigned char bytes[4097];
    pd_msg_t m;

    for (size_t i = 0; i < sizeof(bytes); i++) {
        bytes[i] = (unsigned char)(i * 7 + 1);
    }
    pd_msg_init(&m, PD_MSG_FETCH);
    m.request_id = 12;
    m.data_file = PD_FILE_TRAIN_LABELS;
    m.data_offset = 1ULL << 33;
    m.data_length = 262144;
    ck_assert_int_eq(pd_wire_send(g_dealer, NULL, 0, &m, NULL, 0, false), 0);
    ck_assert_int_eq(recv_router(&in, 0), 0);
    ck_assert_int_eq(in.decode_rc, 0);
    ck_assert_int_eq(in.msg.type, PD_MSG_FETCH);
    ck_assert_int_eq(in.msg.data_file, PD_FILE_TRAIN_LABELS);
    ck_assert_uint_eq(in.msg.data_offset, 1ULL << 33);
    ck_assert_uint_eq(in.msg.data_length, 262144);

    pd_msg_init(&m, PD_MSG_DATA);
    m.request_id = 12;
    m.data_file = PD_FILE_TRAIN_LABELS;
    m.data_offset = 1ULL << 33;
    m.data_size = (1ULL << 33) + sizeof(bytes);
    m.data_crc32 = 0x89abcdefu;
    m.elem_type = PD_ELEM_U8;
    m.n_frames = 1;
    m.frame_counts[0] = sizeof(bytes);
    pd_wire_frame_t f = {bytes, sizeof(bytes), NULL};
    ck_assert_int_eq(pd_wire_send(g_router, in.routing_id, in.routing_id_len, &m, &f, 1, false), 0);
    zmq_pollitem_t it = {g_dealer, 0, ZMQ_POLLIN, 0};
    ck_assert_int_eq(zmq_poll(&it, 1, 5000), 1);
    ck_assert_int_eq(pd_wire_recv(g_dealer, false, 0, true, &back), 0);
    ck_assert_int_eq(back.decode_rc, 0);
    ck_assert_int_eq(back.frames_rc, 0);
    ck_assert_int_eq(back.msg.type, PD_MSG_DATA);
    ck_assert_int_eq(back.msg.elem_type, PD_ELEM_U8);
    ck_assert_uint_eq(back.msg.data_size, (1ULL << 33) + sizeof(bytes));
    ck_assert_uint_eq(back.msg.data_crc32, 0x89abcdefu);
    ck_assert_uint_eq(zmq_msg_size(&back.parts[0]), sizeof(bytes));
    ck_assert_int_eq(memcmp(zmq_msg_data(&back.parts[0]), bytes, sizeof(bytes)), 0);
    pd_wire_in_release(&back);

    /* One byte more than declared. */
    f.len_bytes = sizeof(bytes);
    m.frame_counts[0] = sizeof(bytes) - 1;
    ck_assert_int_eq(pd_wire_send(g_router, in.routing_id, in.routing_id_len, &m, &f, 1, false), 0);
    pd_wire_in_release(&in);
    ck_assert_int_eq(zmq_poll(&it, 1, 5000), 1);
    ck_assert_int_eq(pd_wire_recv(g_dealer, false, 0, true, &back), 0);
    ck_assert_int_eq(back.frames_rc, PD_EWIRE);
    pd_wire_in_release(&back);
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");

    TCase *codec = tcase_create("codec");
    tcase_set_timeout(codec, 30);
    tcase_add_test(codec, test_check_keys);
    tcase_add_test(codec, test_round_trip_every_type);
    tcase_add_test(codec, test_round_trip_defaults);
    tcase_add_test(codec, test_job_refused_without_storage);
    tcase_add_test(codec, test_encode_refuses_too_many_frames);
    tcase_add_test(codec, test_wrong_version);
    tcase_add_test(codec, test_enum_out_of_range);
    tcase_add_test(codec, test_too_many_frame_counts);
    tcase_add_test(codec, test_strings_too_long);
    tcase_add_test(codec, test_nonfinite_header_doubles);
    tcase_add_test(codec, test_local_tr_lsr1_fields);
    tcase_add_test(codec, test_empty_and_oversized);
    tcase_add_test(codec, test_random_garbage);
    tcase_add_test(codec, test_bit_flips);
    tcase_add_test(codec, test_truncations);
    tcase_add_test(codec, test_names);
    tcase_add_test(codec, test_all_finite);
    tcase_add_test(codec, test_all_finite_long);
    suite_add_tcase(s, codec);

    TCase *sock = tcase_create("socket");
    tcase_set_timeout(sock, 30);
    tcase_add_checked_fixture(sock, setup_pair, teardown_pair);
    tcase_add_test(sock, test_send_recv_round_trip);
    tcase_add_test(sock, test_zero_copy_refcount);
    tcase_add_test(sock, test_frames_mismatch);
    tcase_add_test(sock, test_bad_header_still_returned);
    tcase_add_test(sock, test_too_many_frames);
    tcase_add_test(sock, test_max_bytes);
    tcase_add_test(sock, test_unaligned_frame_direct);
    tcase_add_test(sock, test_f32_frames);
    tcase_add_test(sock, test_bf16_frames);
    tcase_add_test(sock, test_unaligned_frame_socket);
    tcase_add_test(sock, test_send_refuses_bad_header);
    tcase_add_test(sock, test_tcp_zero_copy);
    tcase_add_test(sock, test_send_part);
    tcase_add_test(sock, test_fetch_data_round_trip);
    suite_add_tcase(s, sock);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wire_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
