/* wire.h - the paramd wire protocol as plain C (doc/protocol.md).
 * A message is: [routing id (ROUTER side only)] [protobuf Header] [raw array frames...].
 * This module owns the protobuf-c types: the rest of paramd sees pd_msg_t. Decoding validates
 * everything that does not need the job (enums, counts, string lengths, frame lengths against
 * the declared counts); the server checks the rest against the job before touching state. */
#ifndef PD_COMMON_WIRE_H
#define PD_COMMON_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "buf.h"

#define PD_PROTO_VERSION 1u
#define PD_WIRE_MAX_FRAMES 8
#define PD_WIRE_MAX_ROUTING_ID 255
#define PD_WIRE_MAX_HEADER 65536
#define PD_WIRE_STR 256
#define PD_WIRE_PATH 4096
#define PD_WIRE_MAX_WIDTHS 9 /* MLP layer widths in a Job (PD_MLP_MAX_LAYERS + 1) */
#define PD_WIRE_MAX_SHARDS 16 /* servers of one job ([server] shards) */

/* Values equal the .proto enums (checked at compile time in wire.c). */
typedef enum pd_msg_type {
    PD_MSG_NONE = 0, PD_MSG_HELLO, PD_MSG_WELCOME, PD_MSG_READY, PD_MSG_TASK, PD_MSG_RESULT,
    PD_MSG_PULL, PD_MSG_PARAMS, PD_MSG_PUSH, PD_MSG_ACK, PD_MSG_HEARTBEAT, PD_MSG_BYE,
    PD_MSG_ERROR, PD_MSG_FETCH, PD_MSG_DATA, PD_MSG_CANCEL, PD_MSG_COMMIT,
    PD_MSG_CHECKPOINT, PD_MSG_RESTORE, PD_MSG_PART, PD_MSG_DISCARD, PD_MSG__COUNT
} pd_msg_type_t;

/* U8 (raw bytes) is for DATA frames only. */
typedef enum pd_elem_type {
    PD_ELEM_F64 = 0,
    PD_ELEM_F32,
    PD_ELEM_U32,
    PD_ELEM_U8,
    PD_ELEM_BF16,
} pd_elem_type_t;
/* The job's data files a worker may FETCH. */
typedef enum pd_data_file {
    PD_FILE_NONE = 0, PD_FILE_TRAIN, PD_FILE_TRAIN_LABELS, PD_FILE_TEST, PD_FILE_TEST_LABELS,
    PD_FILE__COUNT
} pd_data_file_t;
typedef enum pd_task_kind {
    PD_TASK_NONE = 0, PD_TASK_GRAD, PD_TASK_EVAL, PD_TASK_GRAD_DIFF, PD_TASK_LOSS, PD_TASK_HVP,
    PD_TASK_LOCAL_TR, PD_TASK__COUNT
} pd_task_kind_t;
/* COMMIT: how the estimate a shard keeps moves (freya-page, sync-page over gradient parts). */
typedef enum pd_estimate {
    PD_ESTIMATE_NONE = 0,
    PD_ESTIMATE_SLOT,        /* task_id's part fills slot estimate_slot of the ordered sum */
    PD_ESTIMATE_COMPENSATED, /* task_id's part joins the compensated sum */
    PD_ESTIMATE_SET,         /* step: g = sum * (1 / n_samples) */
    PD_ESTIMATE_INCREMENT,   /* step: g += sum / n_samples */
    PD_ESTIMATE__COUNT
} pd_estimate_t;

typedef enum pd_ack_status { PD_ACK_APPLIED = 0, PD_ACK_STALE_DROPPED, PD_ACK_REJECTED } pd_ack_status_t;

/* Wire error codes (the .proto ErrorCode); never raw errno values, which differ by platform. */
typedef enum pd_wire_error {
    PD_WERR_NONE = 0, PD_WERR_MALFORMED, PD_WERR_PROTOCOL_VERSION, PD_WERR_FRAMES,
    PD_WERR_DIMENSION, PD_WERR_NONFINITE, PD_WERR_UNKNOWN_WORKER, PD_WERR_FUTURE_VERSION,
    PD_WERR_TOO_BIG, PD_WERR_WRONG_STATE, PD_WERR_FINGERPRINT, PD_WERR_INTERNAL, PD_WERR_VERSION_GONE,
    PD_WERR__COUNT
} pd_wire_error_t;

typedef struct pd_hello {
    char name[PD_WIRE_STR];
    char host[PD_WIRE_STR];
    uint32_t cores;
    uint32_t threads;
    bool kv_only;
    double slowdown;
    char software[PD_WIRE_STR];
    bool accepts_f32; /* TASK frames may come as F32 */
    bool accepts_key_tasks; /* GRAD TASKs may carry a key list (key_count > 0) */
    uint32_t shard_index;   /* > 0: shard 0 of a sharded job connecting to its shard i */
    bool reads_shard_keys;  /* a sharded job's key-list TASK may hold shard 0's values alone */
    bool reads_exact_versions; /* ... and a GRAD_DIFF's y (read with exact_version) */
} pd_hello_t;

/* One server of a sharded job: keys [key_begin, key_end) at endpoint ("" for shard 0). */
typedef struct pd_shard_info {
    char endpoint[PD_WIRE_STR];
    uint64_t key_begin, key_end;
} pd_shard_info_t;

/* LocalTr (LOCAL_TR tasks and results): see proto/paramd.proto. */
typedef struct pd_local_tr {
    uint32_t block, n_blocks;
    double radius;
    uint32_t local_iters;
    double l2;
    double pred, radius_acc;
    bool any_accepted;
    double loss;
    uint32_t loss_evals, grad_evals, accepted, rejected;
    double foc_norm;
    uint32_t lsr1_pairs; /* > 0: the last task frame is the L-SR1 block (pd_task_lsr1_len) */
    double lsr1_gamma;
} pd_local_tr_t;

typedef struct pd_job_desc {
    uint64_t job_id;
    int method; /* pd_method_kind_t */
    char model[32];
    uint64_t dim;
    uint64_t features;
    uint32_t classes;
    bool bias;
    bool bias_regularized;
    char train_path[PD_WIRE_PATH];
    char train_labels_path[PD_WIRE_PATH];
    char test_path[PD_WIRE_PATH];
    char test_labels_path[PD_WIRE_PATH];
    char data_format[16];
    uint64_t train_fingerprint;
    uint64_t test_fingerprint;
    uint64_t train_samples;
    uint64_t test_samples;
    uint64_t max_samples;
    uint32_t heartbeat_interval_ms;
    uint32_t worker_timeout_ms;
    size_t n_widths;                      /* mlp: layer widths, input to output */
    uint64_t widths[PD_WIRE_MAX_WIDTHS];
    char activation[16];                  /* mlp: "tanh" or "relu" */
    uint64_t init_seed;
    pd_elem_type_t wire_type; /* F32 or F64: the element type of TASK and RESULT vectors */
    bool bf16_gradients;      /* GRAD results may travel as BF16 (error feedback at the worker) */
    bool gradient_parts;      /* sharded: GRAD results may go in parts, one to each shard */
    size_t n_shards;          /* 0 or 1: one server; else the shards, shard 0 first */
    pd_shard_info_t shards[PD_WIRE_MAX_SHARDS];
} pd_job_desc_t;

typedef struct pd_msg {
    uint32_t proto_version;
    pd_msg_type_t type;
    uint64_t request_id;
    uint32_t worker_id;
    uint64_t job_id;
    uint64_t round_id;
    uint64_t version;
    uint64_t key_offset;
    uint64_t key_length;
    uint64_t key_count; /* PULL/PUSH/PARAMS/ACK: > 0, the keys are a list in frame 1 */
    uint64_t min_version; /* PULL: answer once the version is at least this */
    uint64_t part_tasks;  /* COMMIT: sum the parts of these many tasks (ids in frame 1) */
    bool commit_values;   /* COMMIT: frame 1 holds new parameter values, not a gradient */
    pd_estimate_t estimate;  /* COMMIT: the shard's estimate moves (round_id: its round) */
    uint64_t estimate_slot;  /* SLOT: the part's slot; SET, INCREMENT: slots summed (0:
                              * the compensated sum) */
    bool exact_version;      /* PULL: the values of exactly min_version */
    pd_elem_type_t elem_type;
    uint32_t n_frames;
    uint64_t frame_counts[PD_WIRE_MAX_FRAMES];
    pd_task_kind_t kind;
    uint64_t task_id;
    uint64_t seed;
    uint32_t batch;
    uint64_t range_begin, range_end;
    uint64_t test_begin, test_end;
    double loss_sum;
    uint64_t n_samples;
    uint64_t correct;
    double compute_seconds;
    pd_ack_status_t ack;
    uint64_t staleness;
    pd_wire_error_t error;
    char reason[PD_WIRE_STR];
    bool not_modified;
    bool job_continues; /* BYE from the server: it stops, the job does not (restart) */
    double learning_rate;
    uint64_t version_y; /* GRAD_DIFF: version of the second parameter frame (y) */
    pd_data_file_t data_file; /* FETCH, DATA */
    uint64_t data_offset;     /* FETCH, DATA: first byte */
    uint64_t data_length;     /* FETCH: bytes wanted (0: one chunk) */
    uint64_t data_size;       /* DATA: bytes in the whole file */
    uint32_t data_crc32;      /* DATA: CRC-32 of the whole file */
    bool has_hello;
    pd_hello_t hello;
    bool has_local_tr;
    pd_local_tr_t local_tr;
    bool has_job;
    pd_job_desc_t *job; /* borrowed when sending; owned by pd_wire_in_t when received */
} pd_msg_t;

/* Initialise a message of a type with the current protocol version, everything else zero. */
void pd_msg_init(pd_msg_t *m, pd_msg_type_t type);
const char *pd_msg_type_name(int type);
const char *pd_wire_error_name(int code);

/* Encode the header into a new malloc'd buffer (returned: free()). 0, -ENOMEM or PD_EWIRE. */
int pd_wire_encode(const pd_msg_t *m, void **out, size_t *out_len);
/* Decode and validate a header. On success *m is filled and, if the message has a job,
 * *job_out (caller-provided storage, may be NULL to refuse jobs) holds it and m->job points
 * to it. PD_EWIRE for anything malformed; PD_EVERSION for another protocol version. */
int pd_wire_decode(const void *buf, size_t len, pd_msg_t *m, pd_job_desc_t *job_out);

/* One outgoing array frame: borrowed bytes (copied by zmq), or zero-copy from a pd_buf_t
 * (one reference is taken per send and released by libzmq when done). */
typedef struct pd_wire_frame {
    const void *data;
    size_t len_bytes;
    pd_buf_t *owner; /* non-NULL: zero-copy, data must point inside owner */
} pd_wire_frame_t;

/* Send [routing id] header frames... on a zmq socket. routing_id may be NULL (DEALER).
 * m->n_frames and m->frame_counts must describe the frames (elements, not bytes).
 * Non-blocking when dontwait. Returns 0 or -errno (e.g. -EHOSTUNREACH for a vanished peer
 * with ZMQ_ROUTER_MANDATORY, -EAGAIN). */
int pd_wire_send(void *sock, const void *routing_id, size_t routing_id_len, const pd_msg_t *m,
                 const pd_wire_frame_t *frames, size_t n_frames, bool dontwait);

/* Send header + one data frame that the caller built (e.g. zmq_msg_init_data over a buffer it
 * lends): no routing id (DEALER). On success libzmq owns *part; on failure *part is untouched
 * and still the caller's to close. Once the header is queued the frame is sent through EINTR;
 * another failure then (ETERM) leaves the message incomplete in libzmq, as after a failed
 * part of pd_wire_send. m->n_frames must be 1. */
int pd_wire_send_part(void *sock, const pd_msg_t *m, zmq_msg_t *part, bool dontwait);
/* The same with n data frames parts[0 .. n): those sent are libzmq's (zmq_msg_send empties
 * them, so closing them after is harmless), the others still the caller's to close. */
int pd_wire_send_parts(void *sock, const pd_msg_t *m, zmq_msg_t *parts, size_t n,
                       bool dontwait);

/* A received message. The frames stay zmq_msg_t until pd_wire_in_release(). */
typedef struct pd_wire_in {
    unsigned char routing_id[PD_WIRE_MAX_ROUTING_ID];
    size_t routing_id_len;
    pd_msg_t msg;
    pd_job_desc_t job;
    size_t n_parts;          /* array frames received (after the header) */
    size_t total_bytes;
    zmq_msg_t parts[PD_WIRE_MAX_FRAMES];
    void *aligned[PD_WIRE_MAX_FRAMES]; /* copies made by pd_wire_in_doubles() */
    int decode_rc;           /* result of decoding the header (0 or PD_E*) */
    int frames_rc;           /* PD_EWIRE if the frame lengths disagree with the counts */
} pd_wire_in_t;

/* Receive one whole multipart message (non-blocking when dontwait). router: the first frame
 * is a routing id. Returns 0 when a message was read (check in->decode_rc and in->frames_rc:
 * a malformed message is still returned so the caller can answer it), -EAGAIN when none is
 * waiting, PD_ETOOBIG when it has more than PD_WIRE_MAX_FRAMES frames or max_bytes in
 * total (the rest is drained and discarded), or -errno. */
int pd_wire_recv(void *sock, bool router, size_t max_bytes, bool dontwait, pd_wire_in_t *in);
/* Frame i as doubles: checks it holds expected elements. An F64 frame is used in place (or
 * copied to an aligned buffer when it is not 8-byte aligned); an F32 frame is widened into a
 * new buffer (exactly: every float32 is a double). PD_EDIM (another length, or a U8/U32
 * message) or -ENOMEM. */
int pd_wire_in_doubles(pd_wire_in_t *in, size_t i, size_t expected, const double **out);

/* v[0 .. n) rounded to float32 (to nearest; beyond +-FLT_MAX a value becomes Inf) into out,
 * the payload of an F32 frame. */
void pd_wire_to_f32(const double *v, size_t n, float *out);

/* v[0 .. n) as bfloat16 into out: rounded to float32 as pd_wire_to_f32 does, then to the
 * nearest bfloat16 (ties to even; NaN stays NaN, beyond the range it becomes Inf). */
void pd_wire_to_bf16(const double *v, size_t n, uint16_t *out);
/* A bfloat16 widened (exactly) to a double. */
double pd_wire_bf16_value(uint16_t b);
/* g[0 .. n) as bfloat16 into out, with error feedback: ef (n values, zero at first) holds what
 * earlier roundings dropped; it is added to g before rounding and replaced by what this
 * rounding drops, so over many steps nothing is lost, only delayed. A NaN or Inf value
 * travels as such and leaves no residual. */
void pd_wire_compress_bf16(const double *g, double *ef, uint16_t *out, size_t n);

/* The float32 copy of b, a buffer of doubles: made on the first call and kept with b (a
 * snapshot sent to many workers is converted once). Borrowed: valid while b is. Not
 * thread-safe: one thread (the daemon's loop) calls it. 0 or -ENOMEM. */
int pd_wire_buf_f32(pd_buf_t *b, pd_buf_t **out);
/* Frame i as uint64 keys (little-endian, 8 bytes each, in a message whose elem_type is F64):
 * as pd_wire_in_doubles. PD_EDIM or -ENOMEM. */
int pd_wire_in_u64s(pd_wire_in_t *in, size_t i, size_t expected, const uint64_t **out);
/* The PULL of keys [begin, end) once the server has reached min_version (a shard's range,
 * read by shard 0 and by the workers of a sharded job), answered as elem (F32 or F64). */
void pd_wire_range_pull(pd_msg_t *m, uint64_t request_id, uint64_t begin, uint64_t end,
                        uint64_t min_version, pd_elem_type_t elem);
/* A key list as the protocol wants it: each key below dim, strictly increasing. 0, PD_EDIM
 * (a key outside the model) or PD_EWIRE (out of order, or repeated), with why in words. */
int pd_wire_check_keys(const uint64_t *k, size_t n, uint64_t dim, char *why, size_t why_len);
/* How many of the increasing keys k[0 .. n) are below `bound`, in O(log n): where a key list
 * splits between the shards of a sharded job. */
size_t pd_wire_keys_below(const uint64_t *k, size_t n, uint64_t bound);
/* For a message whose frames_rc is set: what is wrong with its array frames, in words (the
 * counts, or the first frame whose byte length is not its count x the element size). */
void pd_wire_in_frames_problem(const pd_wire_in_t *in, char *why, size_t why_len);
void pd_wire_in_release(pd_wire_in_t *in);
/* Hand a received message to dst (to keep it past the call that received it): its frames move,
 * and src is left with none. */
void pd_wire_in_move(pd_wire_in_t *dst, pd_wire_in_t *src);

/* True when every value is finite. */
bool pd_wire_all_finite(const double *v, size_t n);

#endif
