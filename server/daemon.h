/* daemon.h - the paramd daemon object: one libuv loop owns all of this state.
 * The server files (dispatch, sched, eval, kv, methods) are parts of one daemon and share
 * this struct; nothing outside server/ sees it. Only main.c calls exit(). */
#ifndef PD_SERVER_DAEMON_H
#define PD_SERVER_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "common/config.h"
#include "data.h"
#include "metrics.h"
#include "model.h"
#include "ops/notify.h"
#include "optim.h"
#include "session.h"
#include "store.h"
#include "wire.h"

typedef struct pd_daemon pd_daemon_t;
typedef struct pd_method_ops pd_method_ops_t;

typedef enum pd_daemon_state {
    PD_STATE_STARTING = 0,
    PD_STATE_RUNNING,
    PD_STATE_DRAINING, /* job over: waiting for local workers to leave, then exit */
    PD_STATE_DONE,     /* job over, exit_when_done = no: kv clients may still pull the result */
    PD_STATE_STOPPED,
} pd_daemon_state_t;

/* Evaluation round: the full objective at one fixed version, split over workers by range. */
#define PD_EVAL_MAX_PIECES 64
typedef struct pd_eval {
    bool active;
    uint64_t round;
    uint64_t version;
    pd_buf_t *snapshot;      /* parameters evaluated (one reference) */
    uint32_t n_pieces;
    uint32_t n_done;
    uint8_t piece_state[PD_EVAL_MAX_PIECES]; /* 0 pending, 1 assigned, 2 done */
    double loss_sum;
    uint64_t samples;
    uint64_t correct;
    uint64_t started_ms;
    double last_objective;   /* of the previous round (when rounds_seen > 0) */
    uint64_t rounds_seen;
    unsigned rises;          /* rounds in a row whose objective rose over the previous one */
} pd_eval_t;

/* Where messages to peers go and what time it is. The daemon uses its ZeroMQ socket and the
 * loop's clock unless opts.transport is set; paramd-sim (sim.c) sets it to deliver TASKs to
 * simulated workers and to read its simulated clock, so the methods, the scheduler and the
 * RESULT checks of dispatch.c run unchanged. With a transport, pd_daemon_new binds no
 * socket (no status socket, no endpoint_file) and the caller drives the daemon instead of
 * pd_daemon_run(). */
typedef struct pd_transport {
    /* As pd_daemon_send(); frames are borrowed for the call. 0 or a negative code. */
    int (*send)(void *ctx, const void *rid, size_t rid_len, const pd_msg_t *m,
                const pd_wire_frame_t *frames, size_t n_frames);
    uint64_t (*now_ms)(void *ctx);
    void *ctx;
} pd_transport_t;

/* Options from the command line that are not configuration keys. */
typedef struct pd_daemon_opts {
    const char *config_path;
    unsigned local_workers;
    const char *worker_program; /* NULL: found next to paramd */
    const char *const *worker_args; /* extra arguments for local workers (NULL-terminated) */
    const char *const *overrides; /* -o assignments (NULL-terminated), applied again on SIGHUP */
    const pd_transport_t *transport; /* NULL: the ZeroMQ socket (see pd_transport_t) */
    unsigned local_shards; /* --local-shards N: start shards 1 .. N-1 here (0: none) */
    unsigned shard_index;  /* --shard I: this process is shard I > 0 (0: shard 0, or alone) */
} pd_daemon_opts_t;

#define PD_MAX_LOCAL_WORKERS 64

struct pd_daemon {
    pd_config_t cfg;
    pd_daemon_opts_t opts;
    pd_daemon_state_t state;
    int exit_code;
    char stop_reason[128];

    uv_loop_t loop;
    uv_poll_t zpoll;
    uv_idle_t zidle;          /* resumes draining when a wake-up ran out of budget */
    uv_timer_t tick;          /* 1 s: eviction, progress line, rates */
    uv_timer_t deadline;      /* max_seconds after training began: stop */
    uv_timer_t eval_timer;    /* every eval_interval: start an evaluation round */
    uv_timer_t drain_timer;   /* bounds the DRAINING phase */
    uv_signal_t sig_int, sig_term, sig_hup;
    uv_process_t local[PD_MAX_LOCAL_WORKERS];
    unsigned n_local;
    unsigned n_local_running;
    int signals_seen;
    bool stop_by_signal;
    bool in_drain;            /* inside drain_socket(): sends need no idle re-check */

    void *zctx;
    void *zsock;
    char endpoint[256];       /* the bound endpoint, as workers should connect to it */
    size_t max_msg_bytes;

    pd_data_t *train;
    pd_data_t *test;
    pd_model_t model;
    double *mask;             /* 1 regularised, 0 bias; NULL (all regularised) for type = none */
    pd_job_desc_t job;

    size_t key_begin, key_end; /* the keys this process holds: all, or its shard's range */
    void *waiting;             /* kv.c: PULLs waiting for a version (min_version) */
    bool coordinator_seen;     /* shard i > 0: shard 0 has registered */
    uint64_t reads_for_clients; /* shard i > 0: PULLs answered to workers and clients (not
                                 * shard 0's gathers), for its exit line */
    bool shard_committed;      /* shard i > 0: a COMMIT came (no RESTORE from then on) */
    uint64_t shard_skipped; /* shard i > 0: the first update it did not take (a non-finite
                             * step), 0 if none since its start or last RESTORE: checkpoints
                             * of that version and later would not be shard 0's state */
    size_t n_waiting, waiting_cap;
    struct pd_shards *shards;  /* shard 0 of a sharded job: its links to the others; else NULL */
    pd_store_t store;
    pd_optim_t optim;
    const pd_method_ops_t *method;
    void *method_state;
    /* method_fosi.c: the curvature layer over the gradient scheme (sync-sgd or async-sgd,
     * whose state is method_state); NULL for every other method. */
    struct pd_fosi_run *fosi;
    pd_sessions_t sessions;
    uint64_t next_task_id;
    uint64_t task_seq;        /* GRAD tasks drawn so far (seeds derive from it) */
    pd_eval_t eval;

    pd_metrics_t metrics;
    pd_history_t history;     /* evaluations of this job, for GET /history (the dashboard) */
    FILE *metrics_log;
    bool progress_on;
    uint64_t start_ms;        /* the daemon began serving (status uptime) */
    bool training_begun;      /* min_workers were ready once: training tasks may go out */
    uint64_t training_start_ms; /* when it began: max_seconds and elapsed_s count from here */
    uint64_t last_tick_ms;
    double last_tick_updates;
    double updates_at_start; /* updates_total when this process started running */
    pd_ratelimit_t rl_unknown; /* bad messages from peers without a session */
    double *grad_scratch;     /* dim: the mean gradient of the update being applied */
    uint64_t *key_scratch;    /* shard i > 0: a key list in its own numbering (its keys) */
    struct pd_shard_parts *parts; /* shard i > 0: gradient parts and the COMMITs they wait for */
    struct pd_shard_estimate *estimate; /* shard i > 0: freya-page's or sync-page's estimate */
    uint64_t part_task;       /* shard 0: the task whose result the shards hold in parts */
    const uint64_t *commit_tasks; /* shard 0: the next update sums these tasks' parts ... */
    size_t n_commit_tasks;        /* ... in this order (0: it is part_task's alone, or none) */
    bool sparse_tasks;        /* GRAD tasks go out with their minibatch's keys ([job]
                               * sparse_tasks) to workers that take them */
    uint32_t *batch_idx;      /* batch_size: the samples of the sparse task being made */
    pd_notify_t notify;       /* notify.c: sd_notify state and the watchdog timer */
    struct pd_status *status; /* status_http.c: status socket and metrics endpoint, or NULL */
    struct pd_checkpoint *ckpt; /* checkpoint.c; NULL without a state_dir */
    struct pd_zap *zap;       /* zap.c: CURVE key list and ZAP handler; NULL with CURVE off */
    struct pd_conn_monitor *conn_monitor; /* failed handshakes on zsock */
    struct pd_serve *serve;   /* serve.c: data files for FETCH; NULL when not served */
    /* A sign of divergence seen while handling the current message, acted on once that
     * message is done (pd_daemon_act_on_divergence): a restore must not free method state
     * under the method callback that is still running. */
    bool diverged;
    uint64_t diverged_version;
    char diverged_what[80];
};

/* Build the daemon from a validated config: loads data, binds the socket, arms timers.
 * Returned: free with pd_daemon_free() after pd_daemon_run(). Errors are logged. */
int pd_daemon_new(pd_daemon_t **out, const pd_config_t *cfg, const pd_daemon_opts_t *opts);
/* The job's daemon object for single-process tools (bench/lbfgs, the tests' eseref): data,
 * model, starting parameters and method state as paramd builds them, but no socket, nothing
 * sent (a transport that refuses), and no files written (metrics_log, state_dir and
 * save_params of cfg are cleared). Never run: the caller reads it. Free with
 * pd_daemon_free(). */
int pd_daemon_new_offline(pd_daemon_t **out, pd_config_t *cfg);
/* Run the loop until the job ends or a signal stops it; returns the exit code for main. */
int pd_daemon_run(pd_daemon_t *d);
void pd_daemon_free(pd_daemon_t *d);

/* Internal API shared by the server files. */
uint64_t pd_daemon_now_ms(pd_daemon_t *d);
/* Seconds of training so far: since min_workers workers were first ready (0 before). Data
 * loading on the workers and waiting for them are not training time. */
double pd_daemon_training_seconds(pd_daemon_t *d);
/* The BYE the server sends when its job ends, or when a signal stops it (job_continues:
 * workers wait and rejoin the next paramd). */
void pd_daemon_init_bye(const pd_daemon_t *d, pd_msg_t *bye);
/* (Re)start the max_seconds timer for the training time left; called when training begins
 * and after a reload (max_seconds is reloadable). 0 on success or a negative errno. */
int pd_daemon_arm_deadline(pd_daemon_t *d);
/* Send to a session; failures are counted (send_failures_total), never fatal. */
int pd_daemon_send(pd_daemon_t *d, const void *rid, size_t rid_len, const pd_msg_t *m,
                   const pd_wire_frame_t *frames, size_t n_frames);
/* Reply ERROR with a wire code and a reason; counts it and logs through the rate limiter. */
void pd_daemon_send_error(pd_daemon_t *d, const void *rid, size_t rid_len, pd_session_t *s,
                          const pd_msg_t *req, pd_wire_error_t code, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* A session leaves (BYE, eviction, re-join): reschedules its task and frees it. */
void pd_daemon_drop_session(pd_daemon_t *d, pd_session_t *s, const char *why);
/* Called after every applied update: checks max_updates. */
void pd_daemon_after_update(pd_daemon_t *d);
/* Called when an evaluation round completes. */
void pd_daemon_after_eval(pd_daemon_t *d);
/* Begin an orderly stop: final evaluation, BYE to workers, metrics "done" line. */
void pd_daemon_stop(pd_daemon_t *d, const char *reason, int exit_code);
/* Record a sign of divergence (a non-finite loss or gradient, a step that would make a
 * parameter non-finite) at the current version; the first one of a message names the cause.
 * Nothing is done until pd_daemon_act_on_divergence. */
void pd_daemon_diverged(pd_daemon_t *d, const char *what);
/* Checkpoint restores after which a further divergence stops the job (on_divergence =
 * restore-checkpoint). */
#define PD_MAX_DIVERGENCE_RESTORES 3
/* Apply [stop] on_divergence to a recorded divergence, if any: stop with "diverged at version
 * V (what)" and exit status 1, or reload the newest checkpoint and go on (falling back to the
 * stop when that fails, and stopping after PD_MAX_DIVERGENCE_RESTORES restores). Called by
 * dispatch after each RESULT, outside any method callback. */
void pd_daemon_act_on_divergence(pd_daemon_t *d);
/* A test set exists and the model classifies, so test accuracy means something. */
bool pd_daemon_has_accuracy(const pd_daemon_t *d);
/* Objective = mean loss + regulariser, from a loss sum over `samples`. */
double pd_daemon_objective(const pd_daemon_t *d, const double *x, double loss_sum,
                           uint64_t samples);

/* job.c: load the data, bind the model, set up the store, optimiser and method, and fill
 * the job description workers receive. Errors are logged with their cause. */
int pd_job_load(pd_daemon_t *d);
/* The job's training set and test set (*test NULL when [data] test is empty; always NULL for
 * the quadratic, whose file holds its components) from the [data] section, as the daemon
 * loads them (pd_data_load_job). Logs what is wrong. 0, PD_ECONFIG (no data: model none or
 * no [data] train), or pd_data_load's codes. Returned: free both with pd_data_free(). */
int pd_job_load_data(const pd_config_t *c, pd_data_t **train, pd_data_t **test);
/* While DRAINING: exit once every local worker has exited and every peer said BYE (called
 * when a local worker exits and when a session leaves). */
void pd_daemon_maybe_finish(pd_daemon_t *d);

/* dispatch.c: handle one received message. */
void pd_dispatch(pd_daemon_t *d, pd_wire_in_t *in);
/* The task in flight on s is lost or refused: hand its work back to the method or eval. */
void pd_dispatch_release_task(pd_daemon_t *d, pd_session_t *s);

#endif
