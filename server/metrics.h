/* metrics.h - every counter and gauge of the daemon, listed once (STYLE.md §2.7).
 * X(name, TYPE, help): the list generates the fields of pd_metrics_t and drives one walk
 * (pd_metrics_walk) that the JSON-lines log and later /status and /metrics attach to.
 * Counters never reset. Names are Prometheus-style without the paramd_ prefix. */
#ifndef PD_SERVER_METRICS_H
#define PD_SERVER_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "history.h"

#define PD_METRICS(X)                                                                        \
    X(updates_total, COUNTER, "Parameter updates applied (each one bumps the version)")      \
    X(gradients_received_total, COUNTER, "Gradient results received from workers")           \
    X(gradient_equivalents_total, COUNTER, "Per-sample gradient evaluations in the training results received (GRAD 1 per sample, GRAD_DIFF and HVP 2, LOSS 1/2, LOCAL_TR its passes)") \
    X(gradients_applied_total, COUNTER, "Gradient results applied to the parameters")        \
    X(gradients_dropped_stale_total, COUNTER, "Gradients dropped for staleness over max_staleness") \
    X(results_discarded_total, COUNTER, "Results of finished, reassigned or unknown tasks discarded") \
    X(results_discarded_round_total, COUNTER, "freya-page: results of a finished round discarded (also in results_discarded_total)") \
    X(duplicate_blocks_total, COUNTER, "freya-page: full-gradient blocks received twice in a round (discarded)") \
    X(rounds_cg_total, COUNTER, "freya-page, sync-page: completed full-gradient (ComputeGradient) rounds") \
    X(rounds_cbd_total, COUNTER, "freya-page, sync-page: completed gradient-difference (ComputeBatchDifference) rounds") \
    X(round_cg_seconds_mean, GAUGE, "freya-page, sync-page: mean wall time of a full-gradient round (simulated units on paramd-sim)")      \
    X(round_cbd_seconds_mean, GAUGE, "freya-page, sync-page: mean wall time of a gradient-difference round (simulated units on paramd-sim)") \
    X(gradient_estimate_norm, GAUGE, "freya-page: norm of the gradient estimate g_k of the last step (over several servers: of shard 0's keys)") \
    X(tasks_sent_total, COUNTER, "Tasks sent to workers")                                     \
    X(tasks_rescheduled_total, COUNTER, "Tasks of evicted or departed workers given to others") \
    X(tasks_cancelled_total, COUNTER, "Tasks the server told their worker to abandon (CANCEL: a round ended, a step was taken, a duplicate came in)") \
    X(cancelled_compute_saved_seconds_total, COUNTER, "Compute time the cancelled tasks probably had left (the worker's mean time per sample; exact on paramd-sim)") \
    X(results_cancelled_late_total, COUNTER, "Results of cancelled tasks that still came (a worker that computed on); dropped") \
    X(gradient_parts_total, COUNTER, "Sharded jobs: gradient parts this shard received from workers") \
    X(gradient_parts_late_total, COUNTER, "Sharded jobs: updates whose COMMIT came before their part, and waited for it") \
    X(eval_rounds_total, COUNTER, "Completed evaluation rounds")                              \
    X(objective_rise_streaks_total, COUNTER, "Times the evaluated objective rose at 3 evaluations in a row (each also logged: the step may be too large)") \
    X(pulls_total, COUNTER, "Key-value pulls answered")                                      \
    X(pulls_not_modified_total, COUNTER, "Pulls answered not_modified")                      \
    X(pushes_applied_total, COUNTER, "Key-value pushes applied")                              \
    X(pushes_dropped_stale_total, COUNTER, "Key-value pushes dropped for staleness")         \
    X(pushes_rejected_total, COUNTER, "Key-value pushes rejected as invalid")                 \
    X(results_nonfinite_total, COUNTER, "Task results with a NaN or Inf loss or gradient (accepted, never applied if the gradient is not finite)") \
    X(updates_rejected_nonfinite_total, COUNTER, "Optimiser steps and key-value pushes not applied because a parameter would become NaN or Inf") \
    X(divergence_events_total, COUNTER, "Divergences acted on by [stop] on_divergence (stop or restore)") \
    X(divergence_restores_total, COUNTER, "Checkpoints reloaded after a divergence (on_divergence = restore-checkpoint)") \
    X(bad_messages_total, COUNTER, "Messages refused with an ERROR reply (any reason but unknown-worker, the answer that makes an evicted or forgotten worker rejoin)") \
    X(auth_failures_total, COUNTER, "Connections refused by CURVE authentication (key not in authorized_workers)") \
    X(handshake_failures_mechanism_total, COUNTER, "Handshakes failed: security mechanism mismatch (CURVE on one side only)") \
    X(handshake_failures_crypto_total, COUNTER, "Handshakes failed: cryptographic error (a wrong server key)") \
    X(handshake_failures_other_total, COUNTER, "Handshakes failed otherwise (protocol error, connection lost)") \
    X(connections, GAUGE, "Connections open on the worker port") \
    X(connections_dropped_total, COUNTER, "Connections to the worker port dropped over max_connections") \
    X(authorized_keys, GAUGE, "Worker public keys in authorized_workers (0 with CURVE off)")  \
    X(send_failures_total, COUNTER, "Replies that could not be sent (peer gone or queue full)") \
    X(received_bytes_total, COUNTER, "Bytes received on the worker socket")                  \
    X(sent_bytes_total, COUNTER, "Bytes sent on the worker socket")                          \
    X(data_chunks_served_total, COUNTER, "Pieces of data files sent to workers (DATA messages)") \
    X(data_bytes_served_total, COUNTER, "Bytes of data files sent to workers")               \
    X(workers_joined_total, COUNTER, "Worker joins (including re-joins)")                    \
    X(workers_evicted_total, COUNTER, "Workers evicted after worker_timeout of silence")     \
    X(workers_left_total, COUNTER, "Workers that said BYE")                                  \
    X(version, GAUGE, "Current parameter version")                                            \
    X(workers, GAUGE, "Workers connected and ready")                                          \
    X(objective, GAUGE, "Training objective at the last evaluation (mean loss + regulariser)") \
    X(test_accuracy, GAUGE, "Test accuracy at the last evaluation")                           \
    X(evaluated_version, GAUGE, "Parameter version of the last evaluation")                   \
    X(staleness_mean, GAUGE, "Mean staleness of applied gradients")                           \
    X(checkpoints_written_total, COUNTER, "Checkpoints written and made durable")            \
    X(checkpoint_failures_total, COUNTER, "Checkpoint writes that failed (the step is logged)") \
    X(checkpoints_rejected_total, COUNTER, "Checkpoints refused at start (corrupt, other job)") \
    X(checkpoint_last_version, GAUGE, "Parameter version of the newest durable checkpoint")  \
    X(checkpoint_last_duration_seconds, GAUGE, "Last checkpoint: snapshot to directory fsync") \
    X(checkpoint_last_time_seconds, GAUGE, "Wall time (Unix s) of the newest durable checkpoint") \
    X(updates_per_second, GAUGE, "Updates per second over the last progress interval")    \
    X(learning_rate, GAUGE, "Step size of the next update (learning_rate after the schedule)") \
    X(apts_iterations_total, COUNTER, "apts: completed outer iterations")                     \
    X(apts_radius, GAUGE, "apts: trust-region radius of the next outer iteration")            \
    X(apts_rho, GAUGE, "apts: rho of the last global step (combined step without the global pass)") \
    X(apts_batch_objective, GAUGE, "apts: objective at the last iterate on its iteration's samples") \
    X(apts_steps_accepted_total, COUNTER, "apts: outer iterations whose global (or combined) step was accepted") \
    X(apts_steps_rejected_total, COUNTER, "apts: outer iterations whose global (or combined) step was rejected") \
    X(apts_tr_retries_total, COUNTER, "apts: global trial steps recomputed after a rejection") \
    X(apts_local_accepted_total, COUNTER, "apts: local trial steps accepted by the subdomain solves") \
    X(apts_local_rejected_total, COUNTER, "apts: local trial steps rejected by the subdomain solves") \
    X(apts_safeguard_backoffs_total, COUNTER, "apts: back-tracking trials of the safeguard")  \
    X(apts_missing_blocks_total, COUNTER, "apts: blocks that contributed 0 (straggler past the timeout)") \
    X(apts_lsr1_pairs_skipped_total, COUNTER, "apts: L-SR1 pairs not stored (too small, or the SR1 denominator test)") \
    X(apts_local_second_order_total, COUNTER, "apts: subdomain solves run with the block of the L-SR1 memory") \
    X(apts_foc_norm_max, GAUGE, "apts: largest first-order consistency term (inf-norm) of the last iteration") \
    X(apts_local_phase_seconds_total, COUNTER, "apts: wall time spent waiting for the subdomain solves") \
    X(apts_local_compute_seconds_total, COUNTER, "apts: compute time the workers reported for subdomain solves") \
    X(apts_eval_phase_seconds_total, COUNTER, "apts: wall time of the server's gradient and loss passes") \
    X(fosi_refreshes_total, COUNTER, "fosi: eigensystem refreshes (Lanczos runs) completed") \
    X(fosi_lambda_max, GAUGE, "fosi: largest eigenvalue of the last refresh")                \
    X(fosi_lambda_k, GAUGE, "fosi: smallest of the top-k eigenvalues of the last refresh")  \
    X(fosi_lambda_min, GAUGE, "fosi: smallest eigenvalue returned by the last refresh (bottom-l, or lambda_k)") \
    X(fosi_base_scale, GAUGE, "fosi: scale c_s of the base step")                                   \
    X(fosi_g1_ratio, GAUGE, "fosi: share of the last gradient in the eigen-subspace, |g1|/|g|") \
    X(fosi_ese_seconds, GAUGE, "fosi: wall time of the last Lanczos run")                    \
    X(fosi_curvature_seconds_total, COUNTER, "fosi: wall time in Lanczos runs (training waits meanwhile)") \
    X(fosi_hvp_products_total, COUNTER, "fosi: Hessian-vector products formed (each split into fosi_hvp_parts tasks)") \
    X(fosi_lanczos_order, GAUGE, "fosi: basis vectors of the last Lanczos run (fewer than the order after an early stop)") \
    X(fosi_orth_loss, GAUGE, "fosi: max |QQ' - I| of the last Lanczos basis")                \
    X(fosi_ritz_residual_max, GAUGE, "fosi: largest Ritz residual |Hv - lambda v| of the last refresh") \
    X(fosi_curvature_staleness, GAUGE, "fosi: steps taken between the Lanczos snapshot and the swap of its eigensystem (tau_c)") \
    X(fosi_overlap_steps_total, COUNTER, "dho2: training steps taken while a refresh ran (the sum of tau_c)") \
    X(fosi_training_held_seconds_total, COUNTER, "fosi: wall time training was held for a refresh (all of it when synchronous)") \
    X(fosi_hvp_compute_seconds_total, COUNTER, "fosi: compute time the workers report for HVP tasks") \
    X(fosi_curvature_workers, GAUGE, "dho2: workers in the curvature pool when the last refresh completed (all of them when synchronous)") \
    X(fosi_slices, GAUGE, "fosi: slices of the Lanczos basis and the eigenvectors (1 for fosi, dho2_slices for dho2)") \
    X(fosi_lanczos_bytes, GAUGE, "fosi: bytes of the Lanczos basis per slice (8 order n_s)") \
    X(fosi_eigvec_bytes, GAUGE, "fosi: bytes of the eigenvectors per slice (8 (k + l) n replicated, 8 (k + l) n_s sliced)") \
    X(solver_objective, GAUGE, "newton-cg, lbfgs: objective at the current iterate (mean loss plus the l2 term, over all training samples)") \
    X(solver_gradient_ratio, GAUGE, "newton-cg, lbfgs: gradient norm at the iterate over its norm at the start (the solver_tolerance test)") \
    X(solver_radius, GAUGE, "newton-cg: trust-region radius") \
    X(solver_cg_iterations_total, COUNTER, "newton-cg: conjugate-gradient iterations (one Hessian-vector product pass each)") \
    X(solver_steps_rejected_total, COUNTER, "newton-cg: trial steps rejected by the trust-region test") \
    X(solver_hvp_products_total, COUNTER, "newton-cg: Hessian-vector products over the training set") \
    X(solver_trial_points_total, COUNTER, "lbfgs: line-search trial points evaluated") \
    X(solver_lbfgs_pairs, GAUGE, "lbfgs: curvature pairs in the memory") \
    X(solver_pass_seconds_total, COUNTER, "newton-cg, lbfgs: wall time of the passes over the workers (gradient, loss, product)")

/* Staleness histogram bucket upper bounds (versions); the last bucket is +Inf. */
#define PD_STALENESS_BUCKETS 9
extern const double pd_staleness_bucket_le[PD_STALENESS_BUCKETS - 1];

typedef enum pd_metric_type { PD_METRIC_COUNTER, PD_METRIC_GAUGE } pd_metric_type_t;

/* apts: per-block figures of the last outer iteration (blocks are groups of whole tensors, at
 * most 2 per MLP layer). */
#define PD_METRICS_MAX_BLOCKS 16
typedef struct pd_block_metrics {
    uint32_t n;                                 /* 0: not apts, or no iteration yet */
    double step_inf[PD_METRICS_MAX_BLOCKS];     /* ‖s_d‖_∞ */
    double pred[PD_METRICS_MAX_BLOCKS];         /* pred_d */
    double seconds[PD_METRICS_MAX_BLOCKS];      /* local solve compute time */
    uint8_t missing[PD_METRICS_MAX_BLOCKS];
} pd_block_metrics_t;

/* fosi: the eigenpairs of the last refresh, bottom-l then top-k ascending. */
#define PD_METRICS_MAX_EIGEN 128
typedef struct pd_eigen_metrics {
    uint32_t n;                              /* 0: not fosi, or no refresh yet */
    double lambda[PD_METRICS_MAX_EIGEN];     /* eigenvalues */
    double residual[PD_METRICS_MAX_EIGEN];   /* Ritz residuals ‖Hv − λv‖ (Lanczos estimate) */
} pd_eigen_metrics_t;

typedef struct pd_metrics {
#define PD_METRIC_FIELD_(name, type, help) double name;
    PD_METRICS(PD_METRIC_FIELD_)
#undef PD_METRIC_FIELD_
    uint64_t staleness_buckets[PD_STALENESS_BUCKETS];
    double staleness_sum;
    uint64_t staleness_count; /* applied gradients and pushes observed */
    uint64_t errors_by_code[16]; /* bad messages by wire error code */
    pd_block_metrics_t blocks;
    pd_eigen_metrics_t eigen;
} pd_metrics_t;

void pd_metrics_init(pd_metrics_t *m);
/* Record the staleness of one applied gradient or push (histogram, sum, staleness_mean). */
void pd_metrics_observe_staleness(pd_metrics_t *m, uint64_t tau);

typedef void (*pd_metrics_emit_fn)(const char *name, pd_metric_type_t type, const char *help,
                                   double value, void *ctx);
void pd_metrics_walk(const pd_metrics_t *m, pd_metrics_emit_fn emit, void *ctx);

/* The per-block figures as a JSON array of {block, step_inf, pred, seconds, missing} objects
 * (a jansson json_t *), or NULL when there are none. */
struct json_t;
struct json_t *pd_metrics_blocks_json(const pd_metrics_t *m);
/* The eigenpairs of fosi's last refresh as a JSON array of {pair, lambda, residual}, or NULL
 * when there are none. */
struct json_t *pd_metrics_eigen_json(const pd_metrics_t *m);

/* Append one JSON line to `out` with time, elapsed, every metric, and `event` when not NULL
 * ("done" for the last line). Non-finite values are written as null. 0 or -EIO/-ENOMEM. */
int pd_metrics_write_jsonl(const pd_metrics_t *m, FILE *out, double wall_time, double elapsed_s,
                           const char *event);

/* Read back the evaluations of a metrics log written by pd_metrics_write_jsonl (a resumed
 * job's earlier runs) into h. Lines that are not such objects (a line cut short by a crash,
 * an event=resumed seam) are skipped. Returns the number of points added. */
size_t pd_metrics_read_history(FILE *in, pd_history_t *h);

#endif
