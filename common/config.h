/* config.h - the daemon's configuration: one struct, filled from one table (config_keys.h).
 * Parsing is all-or-nothing: every problem is reported as "FILE:LINE: [section] key: problem
 * (allowed: ...)" and the struct is only valid when the result is 0. No exit(), no globals. */
#ifndef PD_COMMON_CONFIG_H
#define PD_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* PD_CF_OUTPUT: a PATH the daemon writes; relative to the working directory (paramd.service:
 * /var/lib/paramd), not to the configuration file like the paths it reads. */
enum { PD_CF_RELOADABLE = 1, PD_CF_SECRET = 2, PD_CF_REQUIRED = 4, PD_CF_JOB = 8, PD_CF_OUTPUT = 16 };

typedef enum pd_method_kind {
    PD_METHOD_SYNC_SGD,
    PD_METHOD_ASYNC_SGD,
    PD_METHOD_SSP,
    PD_METHOD_RENNALA_SGD,
    PD_METHOD_FREYA_PAGE,
    PD_METHOD_APTS,
    PD_METHOD_FOSI,
    PD_METHOD_DHO2,
    PD_METHOD_NEWTON_CG,
    PD_METHOD_LBFGS,
    PD_METHOD_SYNC_PAGE,
} pd_method_kind_t;
typedef enum pd_optimizer_kind { PD_OPT_SGD, PD_OPT_MOMENTUM, PD_OPT_ADAM } pd_optimizer_kind_t;
typedef enum pd_schedule_kind { PD_SCHED_CONSTANT, PD_SCHED_INVSQRT, PD_SCHED_STEP } pd_schedule_kind_t;
typedef enum pd_stale_step_kind { PD_STALE_CONSTANT, PD_STALE_INVERSE } pd_stale_step_kind_t;
typedef enum pd_staleness_unit { PD_STALENESS_VERSIONS, PD_STALENESS_RECEIVED } pd_staleness_unit_t;
typedef enum pd_divergence_kind { PD_DIVERGE_STOP, PD_DIVERGE_RESTORE } pd_divergence_kind_t;
typedef enum pd_progress_kind { PD_PROGRESS_AUTO, PD_PROGRESS_YES, PD_PROGRESS_NO } pd_progress_kind_t;
typedef enum pd_wire_type_kind { PD_WIRE_AUTO, PD_WIRE_F32, PD_WIRE_F64 } pd_wire_type_kind_t;
typedef enum pd_compression_kind { PD_COMPRESS_NONE, PD_COMPRESS_BF16 } pd_compression_kind_t;
typedef enum pd_sparse_tasks_kind { PD_SPARSE_AUTO, PD_SPARSE_YES, PD_SPARSE_NO } pd_sparse_tasks_kind_t;

/* Field types by config type: BOOL bool; INT int64_t; DOUBLE double; SIZE uint64_t (bytes);
 * DURATION int64_t (ms); ENUM int (index into the row's values); STRING/PATH/ENDPOINT char *
 * (owned by the struct, never NULL after pd_config_init). */
typedef struct pd_config {
    /* [server] */
    char *listen;
    char *endpoint_file;
    char *save_params;
    char *state_dir;       /* checkpoints; "" = off */
    int64_t checkpoint_interval_ms;
    bool checkpoint_force;
    int64_t worker_timeout_ms;
    int64_t heartbeat_interval_ms;
    char *metrics_log;
    char *status;          /* "unix:PATH" or "" */
    char *metrics_listen;  /* "tcp://HOST:PORT" or "" */
    int64_t max_connections;   /* worker port; 0: from RLIMIT_NOFILE */
    int64_t status_max_clients;
    int log_level; /* index of err|warning|notice|info|debug: syslog level = index + 3 */
    int progress;  /* pd_progress_kind_t */
    bool exit_when_done;
    uint64_t max_message_size;
    bool serve_data;       /* answer FETCH with the job's data files */
    uint64_t data_chunk_size; /* bytes per DATA message */
    bool allow_insecure;
    /* [security] */
    char *server_key_file;    /* CURVE key pair; "" = CURVE off */
    char *authorized_workers; /* worker public keys admitted by the ZAP handler */
    /* [job] */
    int method; /* pd_method_kind_t */
    int64_t seed;
    int64_t min_workers;   /* training waits until this many workers are ready */
    int64_t batch_size;
    int64_t max_staleness;
    int64_t staleness_bound;
    int64_t step_batch;
    int64_t sync_parts;    /* 0: one per ready worker */
    int64_t freya_s;       /* 0: ceil(sqrt(m)) */
    double freya_p;        /* 0: S / (S + m) */
    int64_t block_size;    /* freya-page B_full */
    int64_t diff_chunk;    /* freya-page c */
    bool dedupe_inflight;
    int64_t apts_blocks;   /* 0: ready workers at the first iteration */
    int64_t apts_batch;    /* 0: the whole training set */
    int64_t apts_local_iters;
    double apts_radius, apts_radius_min, apts_radius_max;
    bool apts_global_pass, apts_safeguard, apts_foc;
    bool apts_second_order;
    int64_t apts_memory;
    double apts_straggler_factor;
    int fosi_gradients; /* 0 sync, 1 async */
    int64_t fosi_k, fosi_l, fosi_period, fosi_warmup;
    double fosi_alpha, fosi_clip, fosi_damping;
    int64_t fosi_lanczos_order, fosi_ese_batch, fosi_hvp_parts;
    int64_t dho2_slices;
    double curv_fraction;
    int64_t curv_max_staleness; /* -1: fosi_period */
    int64_t solver_parts;
    double solver_tolerance, cg_tolerance;
    int64_t lbfgs_memory;
    int staleness_unit; /* pd_staleness_unit_t */
    int stale_step; /* pd_stale_step_kind_t */
    int wire_type;  /* pd_wire_type_kind_t; pd_config_wire_f32() resolves auto */
    int gradient_compression; /* pd_compression_kind_t */
    int64_t shards;
    char *shard_endpoints;
    int sparse_tasks; /* pd_sparse_tasks_kind_t; pd_config_sparse_tasks_fit() */
    int64_t eval_interval_ms;
    /* [model] */
    int model_type; /* pd_model_kind_t (same order: none, logistic, softmax, least-squares,
                     * quadratic, mlp) */
    char *mlp_layers;   /* type = mlp: "784,128,10" */
    int mlp_activation; /* pd_activation_t (tanh, relu) */
    int64_t init_seed;
    bool bias;
    bool bias_regularized;
    int64_t classes;
    int64_t dim;
    int64_t quad_samples;  /* type = quadratic: m, lambda_q, mu, generator seed */
    double quad_noise;
    double quad_mu;
    int64_t quad_seed;
    /* [data] */
    char *train_path;
    char *train_labels_path;
    char *test_path;
    char *test_labels_path;
    int data_format; /* pd_data_format_t */
    int64_t features;
    int64_t max_samples;
    /* [optimizer] */
    int optimizer; /* pd_optimizer_kind_t */
    double learning_rate;
    int schedule; /* pd_schedule_kind_t */
    int64_t decay_steps;
    double decay_rate;
    double momentum;
    double beta1;
    double beta2;
    double epsilon;
    int regularizer; /* pd_reg_kind_t */
    double l1;
    double l2;
    double lower;
    double upper;
    /* [stop] */
    int64_t max_updates;
    int64_t max_seconds_ms;
    double target_loss;
    double target_accuracy;
    int on_divergence; /* pd_divergence_kind_t */
    /* [sim] (paramd-sim only) */
    int64_t sim_workers;
    char *sim_speeds;
    int64_t sim_seed;
    double sim_max_time;
    int64_t sim_log_every;
    char *sim_log;
} pd_config_t;

/* Set every field to its default (defaults go through the same parser as user input).
 * Returns 0 or -ENOMEM. */
int pd_config_init(pd_config_t *c);
/* Free the strings; the struct itself belongs to the caller. Accepts a zeroed struct. */
void pd_config_release(pd_config_t *c);
/* Deep copy (for reload: parse into a fresh struct, then swap). */
int pd_config_copy(pd_config_t *dst, const pd_config_t *src);

/* Parse an INI file on top of the current values. Every problem is appended to errbuf as one
 * line "FILE:LINE: [section] key: problem (allowed: ...)"; unknown sections and keys are
 * errors. Returns 0, PD_ECONFIG (errors in errbuf), or -errno if the file cannot be read
 * (message in errbuf too). Relative PATH values are resolved against the file's directory. */
int pd_config_load_file(pd_config_t *c, const char *path, char *errbuf, size_t errlen);
/* The same on an open stream (read to its end, not closed); path names it in messages and
 * gives the directory relative PATH values resolve against. */
int pd_config_load_stream(pd_config_t *c, FILE *fp, const char *path, char *errbuf,
                          size_t errlen);
/* Apply one "section.key=value" override (from -o). Errors as "-o section.key=value: ...". */
int pd_config_set_override(pd_config_t *c, const char *assignment, char *errbuf, size_t errlen);
/* The whole recipe every program uses: defaults, then the file (if path is not NULL), then the
 * NULL-terminated "section.key=value" overrides (may be NULL), then pd_config_validate().
 * c must be zeroed or released; on failure it is released again and errbuf says why. */
int pd_config_build(pd_config_t *c, const char *path, const char *const *overrides,
                    char *errbuf, size_t errlen);

/* Checks across keys (e.g. box lower <= upper, a data set for a model, dim for type = none).
 * Errors appended to errbuf one per line; returns 0 or PD_ECONFIG. */
int pd_config_validate(const pd_config_t *c, char *errbuf, size_t errlen);

/* Whether GRAD tasks can carry their minibatch's keys instead of the whole vector (the
 * method applies each gradient on its own, the optimiser is plain sgd, the model linear):
 * [job] sparse_tasks = auto then turns them on for sparse (LIBSVM) training data. */
bool pd_config_sparse_tasks_fit(const pd_config_t *c);
/* Whether TASK parameters and RESULT gradients travel as float32: [job] wire_type, with auto
 * resolved by the method (float64 for those that need every digit). */
bool pd_config_wire_f32(const pd_config_t *c);

/* True for an endpoint only this machine can reach: tcp:// on 127.x, localhost, [::1] or the
 * lo interface, and ipc:// or inproc://. */
bool pd_endpoint_is_loopback(const char *ep);

/* The configuration against this machine, run by --check-config and by the start alike (so
 * both refuse the same things with exit 3): each data file the job names ([data] train,
 * train_labels, test, test_labels) opens for reading and is a regular file (opened without
 * blocking: a FIFO is reported, not waited on); the directories paramd will write in (that of
 * the status socket, state_dir or its parent, those of metrics_log and save_params) exist and
 * are writable. Errors appended to errbuf one per line, "[section] KEY = PATH: problem";
 * returns 0 or PD_ECONFIG. Binds nothing. */
int pd_config_check_environment(const pd_config_t *c, char *errbuf, size_t errlen);

/* Walk every key: emit(section, name, value-as-text, flags, doc, ctx), secrets redacted as
 * "(redacted)". Used by /status and the reference generator. */
typedef void (*pd_config_emit_fn)(const char *section, const char *name, const char *value,
                                  int flags, const char *doc, void *ctx);
void pd_config_walk(const pd_config_t *c, pd_config_emit_fn emit, void *ctx);
/* Write the reference of every key as Markdown (doc/config.md) to the stream. */
int pd_config_write_reference_md(FILE *out);
/* The same reference as a troff man page, paramd.conf(5) (doc/paramd.conf.5). */
int pd_config_write_reference_man(FILE *out);

/* Reload support (server/ops/reload.c). pd_config_diff calls fn once per key whose value differs
 * between a and b, with both values as text (secrets as "(redacted)"); the strings are
 * borrowed for the call. pd_config_apply_reloadable copies every PD_CF_RELOADABLE field of
 * src into dst: 0, or -ENOMEM with dst unchanged. */
typedef void (*pd_config_diff_fn)(const char *section, const char *name, const char *old_value,
                                  const char *new_value, int flags, void *ctx);
void pd_config_diff(const pd_config_t *a, const pd_config_t *b, pd_config_diff_fn fn, void *ctx);
int pd_config_apply_reloadable(pd_config_t *dst, const pd_config_t *src);

/* 64-bit hash over the values of PD_CF_JOB keys: two configs with the same hash run the same
 * job (used for the job id and to refuse foreign checkpoints). */
uint64_t pd_config_job_hash(const pd_config_t *c);

/* Parse helpers, exposed for tests: "250ms", "10s", "5m", "2h", "1d" or a bare number of
 * seconds; "4096", "64K", "512M", "2G" (powers of 1024). Return 0 or -EINVAL / -ERANGE. */
int pd_config_parse_duration_ms(const char *text, int64_t *out_ms);
int pd_config_parse_size(const char *text, uint64_t *out_bytes);

#endif
