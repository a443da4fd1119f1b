/* config_keys.h - every configuration key, described once (STYLE.md §2.6).
 * X(section, name, type, field, default, min, max, enum_values, flags, doc)
 *   type:   BOOL INT DOUBLE SIZE DURATION ENUM STRING PATH ENDPOINT
 *   field:  member of pd_config_t (offsetof), so an old and a new config can coexist
 *   min/max apply to INT, DOUBLE, SIZE (bytes) and DURATION (milliseconds)
 *   enum_values: "a|b|c" for ENUM (the field holds the index), NULL otherwise
 *   flags:  PD_CF_RELOADABLE, PD_CF_SECRET, PD_CF_REQUIRED, PD_CF_JOB (part of the job hash)
 * The inih handler, --check-config, -o overrides, the /status config dump and the generated
 * reference (paramd --config-reference) all walk this one table. */
#ifndef PD_COMMON_CONFIG_KEYS_H
#define PD_COMMON_CONFIG_KEYS_H

#define PD_CONFIG_KEYS(X)                                                                       \
    X(server, listen, ENDPOINT, listen, "tcp://127.0.0.1:5555", 0, 0, NULL, 0,                  \
      "ZeroMQ endpoint the daemon binds (ROUTER). tcp://HOST:0 or :* picks a free port.")      \
    X(server, endpoint_file, PATH, endpoint_file, "", 0, 0, NULL, PD_CF_OUTPUT,                    \
      "If set, the bound endpoint is written to this file (atomically) once listening.")      \
    X(server, save_params, PATH, save_params, "", 0, 0, NULL, PD_CF_OUTPUT,                        \
      "If set, the final parameters are written here (one value per line) when the job ends.") \
    X(server, state_dir, PATH, state_dir, "", 0, 0, NULL, PD_CF_OUTPUT,                            \
      "Directory of the checkpoints (ckpt-VERSION.pdckpt, the last two kept; created if "     \
      "missing; a sharded job's shard I uses its subdirectory shard-I and keeps four). "      \
      "Empty: no checkpoints. The systemd unit uses /var/lib/paramd.")                        \
    X(server, checkpoint_interval, DURATION, checkpoint_interval_ms, "60s", 0, 86400000, NULL, \
      0, "How often a checkpoint is written while the version advances (0: only on "         \
      "request and at stop).")                                                                \
    X(server, checkpoint_force, BOOL, checkpoint_force, "no", 0, 0, NULL, 0,                   \
      "Resume from the newest checkpoint even if another job (another job hash) wrote it; "   \
      "otherwise paramd refuses to start.")                                                   \
    X(server, worker_timeout, DURATION, worker_timeout_ms, "10s", 100, 86400000, NULL, 0,       \
      "A worker silent for this long is evicted and its tasks are given to others.")          \
    X(server, heartbeat_interval, DURATION, heartbeat_interval_ms, "1s", 10, 3600000, NULL, 0,  \
      "How often workers send a heartbeat while busy or idle.")                                \
    X(server, metrics_log, PATH, metrics_log, "", 0, 0, NULL, PD_CF_OUTPUT,                        \
      "JSON-lines metrics log (one line per evaluation, last line event=done). A job "        \
      "resumed from a checkpoint appends, after a line with event=resumed. Empty: none.")     \
    X(server, status, STRING, status, "", 0, 0, NULL, 0,                                        \
      "Status socket unix:PATH (HTTP: /status, /workers, /metrics, POST /checkpoint and "     \
      "/workers/ID/evict, and a dashboard at /), mode 0660. Empty: none.")                    \
    X(server, metrics_listen, STRING, metrics_listen, "", 0, 0, NULL, 0,                        \
      "Read-only HTTP endpoint tcp://HOST:PORT serving GET /metrics and /status (PORT 0: "    \
      "any free port). Empty: none.")                                                         \
    X(server, max_connections, INT, max_connections, "0", 0, 1048576, NULL, 0,                   \
      "Most connections open at once on the worker port; more are dropped as they come and "  \
      "counted (connections_dropped_total). 0: the open-file limit (raised to its hard limit " \
      "at start) less 256 kept for checkpoints, data, logs and the status socket.")          \
    X(server, status_max_clients, INT, status_max_clients, "64", 1, 4096, NULL, 0,              \
      "Most connections open at once on each of the status socket and the metrics endpoint "  \
      "(separate budgets). At the limit a new one replaces the oldest that has not sent its " \
      "request; requests must arrive within 10 s (status socket) or 3 s (metrics endpoint).") \
    X(server, log_level, ENUM, log_level, "info", 0, 0, "err|warning|notice|info|debug",      \
      PD_CF_RELOADABLE, "Most verbose log level printed to stderr.")                          \
    X(server, progress, ENUM, progress, "auto", 0, 0, "auto|yes|no", 0,                        \
      "One-line progress display on stderr: auto shows it only on a terminal.")               \
    X(server, exit_when_done, BOOL, exit_when_done, "no", 0, 0, NULL, 0,                        \
      "Exit with status 0 once a stop criterion is met (always on with --local-workers).")    \
    X(server, shards, INT, shards, "1", 1, 16, NULL, 0,                                        \
      "Servers the parameter vector is split over, in contiguous key ranges (multiples of "  \
      "512 keys): this paramd (shard 0) runs the method and serves keys from 0; shards 1 .. " \
      "N-1 hold the rest, apply each update to their range and serve it to workers and "    \
      "key-value clients. For every method on a linear model or an mlp (apts, fosi, dho2, " \
      "newton-cg and lbfgs decide on a whole copy of the iterate in shard 0; for "          \
      "freya-page and sync-page each shard keeps its keys' share of the gradient estimate), " \
      "and async-sgd on type = none (key-value jobs). Workers send each shard its part of "  \
      "every gradient of sync-sgd, async-sgd, ssp, freya-page, sync-page and rennala-sgd "   \
      "(while a step's parts fit a quarter of a shard's room for them). "                     \
      "With "                                                                                \
      "state_dir, shard I keeps its checkpoints in state_dir/shard-I. "                      \
      "--local-shards N starts the others on this host; otherwise list them in "           \
      "shard_endpoints.")                                                                     \
    X(server, shard_endpoints, STRING, shard_endpoints, "", 0, 0, NULL, 0,                    \
      "With shards = N and no --local-shards: the endpoints of shards 1 .. N-1, comma-"       \
      "separated, each a paramd started with --shard I and this configuration.")             \
    X(server, max_message_size, SIZE, max_message_size, "0", 0, 4294967295.0, NULL, 0,          \
      "Largest message accepted from a peer; 0 sizes it from the model (2 x dim x 8 + 64K).") \
    X(server, serve_data, BOOL, serve_data, "yes", 0, 0, NULL, 0,                              \
      "Send the job's data files to workers that lack them (FETCH/DATA), so a worker needs "  \
      "only the server's address; workers cache them.")                                       \
    X(server, data_chunk_size, SIZE, data_chunk_size, "256K", 4096, 1048576, NULL, 0,           \
      "Largest piece of a data file sent in one DATA message (at most 1M).")                 \
    X(server, allow_insecure, BOOL, allow_insecure, "no", 0, 0, NULL, 0,                        \
      "Allow binding a non-loopback endpoint without CURVE encryption.")                      \
    X(security, server_key_file, PATH, server_key_file, "", 0, 0, NULL, 0,                       \
      "CURVE: the server's key pair (the .key file of paramctl keygen, mode 0600). Set: the "   \
      "worker socket is encrypted, only authorized_workers may join, and a non-loopback "      \
      "listen needs no allow_insecure. Empty: CURVE off. Not marked secret: the value is a "  \
      "path, and the key stays in the file. Under systemd a credential of the file's base "   \
      "name ($CREDENTIALS_DIRECTORY/server.key, which paramd.service loads from "             \
      "/etc/paramd/server.key) is read instead, so the file can stay root's.")               \
    X(security, authorized_workers, PATH, authorized_workers, "", 0, 0, NULL, PD_CF_RELOADABLE, \
      "CURVE: the worker public keys admitted, one 'KEY [NAME]' per line ('#' comments; "     \
      "append the .pub files of paramctl keygen). Required with server_key_file. Re-read on " \
      "SIGHUP; a worker whose key is removed stays connected until it reconnects. A path "   \
      "of public keys: nothing secret.")                                                      \
    X(job, method, ENUM, method, "async-sgd", 0, 0, "sync-sgd|async-sgd|ssp|rennala-sgd|freya-page|apts|fosi|dho2|newton-cg|lbfgs|sync-page", \
      PD_CF_JOB, "Optimisation method: the baselines (sync-page is synchronous PAGE, the "  \
      "baseline of the Freya PAGE paper), freya-page, apts (parallel trust "      \
      "region by parameter blocks; no learning rate), fosi (the [optimizer] with a "          \
      "scaled Newton step on the top Hessian eigenvectors), dho2 (fosi with the "            \
      "eigensystem in slices and its refresh overlapped with training), or, for the convex " \
      "models, newton-cg (trust-region Newton with conjugate gradient) and lbfgs, whose "    \
      "full gradients, losses and Hessian-vector products are split over the workers.")     \
    X(job, seed, INT, seed, "1", 0, 9.2e18, NULL, PD_CF_JOB,                                   \
      "Seed of every random choice of the server (minibatches, initialisation).")             \
    X(job, min_workers, INT, min_workers, "1", 1, 65536, NULL, PD_CF_RELOADABLE,               \
      "Training begins when this many workers are ready (evaluation of the starting point "  \
      "may run before); then it goes on with any number. max_seconds and elapsed_s count "    \
      "from that moment. Lowering it with SIGHUP starts a job that is still waiting.")        \
    X(job, batch_size, INT, batch_size, "32", 1, 1048576, NULL, PD_CF_JOB,                     \
      "Samples per gradient task (per worker for sync-sgd and ssp).")                         \
    X(job, sync_parts, INT, sync_parts, "0", 0, 4096, NULL, PD_CF_JOB,                         \
      "sync-sgd (and fosi/dho2 fed by it), sync-page and apts: parts per round (sync-sgd: "   \
      "of batch_size samples; sync-page: of each phase; apts: of each gradient and loss "     \
      "pass). 0: one per worker ready when the round starts; N: always N, whoever computes "  \
      "them, summed in part order, so the result is the same bits with any number of "       \
      "workers (newton-cg and lbfgs have solver_parts).")                                     \
    X(job, max_staleness, INT, max_staleness, "16", 0, 1000000, NULL, 0,                       \
      "async-sgd: gradients more than this many versions old are dropped and counted.")       \
    X(job, staleness_bound, INT, staleness_bound, "3", 0, 1000000, NULL, 0,                    \
      "ssp: a worker this many clocks ahead of the slowest waits.")                           \
    X(job, step_batch, INT, step_batch, "64", 1, 1073741824, NULL, PD_CF_JOB,                   \
      "rennala-sgd: samples collected at one point per update (B); late ones are discarded.") \
    X(job, freya_s, INT, freya_s, "0", 0, 1073741824, NULL, PD_CF_JOB,                          \
      "freya-page and sync-page: samples S of a gradient-difference round (0: "              \
      "ceil(sqrt(m))).")                                                                      \
    X(job, freya_p, DOUBLE, freya_p, "0", 0, 1, NULL, PD_CF_JOB,                                \
      "freya-page and sync-page: probability p of a full-gradient round after a step (0: "   \
      "S/(S+m)).")                                                                            \
    X(job, block_size, INT, block_size, "0", 0, 1073741824, NULL, PD_CF_JOB,                    \
      "freya-page: samples per full-gradient task (B_full; the last block may be shorter). "  \
      "0: m / (4 n) for the n workers ready when a round starts, within 64..8192, so each "   \
      "worker gets about 4 blocks a round and a task's compute outweighs its round trip "     \
      "(a fraction of a millisecond, plus a result of dim doubles to send and add). The "     \
      "authors' simulator uses 1, which only the simulated clock, where tasks cost nothing "  \
      "but their samples, can afford.")                                                      \
    X(job, diff_chunk, INT, diff_chunk, "0", 0, 1048576, NULL, PD_CF_JOB,                       \
      "freya-page: samples per gradient-difference task (c); a round ends once >= S are in. " \
      "0: S / (2 n) for the n ready workers, at least 1 (two tasks per worker per round). "   \
      "Larger chunks mean fewer round trips per round, smaller ones let fast workers take "   \
      "more of the round.")                                                                   \
    X(job, dedupe_inflight, BOOL, dedupe_inflight, "no", 0, 0, NULL, 0,                        \
      "freya-page: give idle workers blocks nobody computes yet before duplicating one.")     \
    X(job, apts_blocks, INT, apts_blocks, "0", 0, 16, NULL, PD_CF_JOB,                          \
      "apts: parameter blocks N, groups of whole tensors (at most the model's tensors: 1 for " \
      "linear models, 2 per MLP layer); 0: the workers ready at the first iteration.")        \
    X(job, apts_batch, INT, apts_batch, "0", 0, 1073741824, NULL, PD_CF_JOB,                    \
      "apts: samples of one outer iteration, drawn afresh each iteration (0: the whole "       \
      "training set, deterministic).")                                                        \
    X(job, apts_local_iters, INT, apts_local_iters, "5", 1, 1000, NULL, PD_CF_JOB,              \
      "apts: local trust-region iterations of one subdomain solve (s_loc).")                 \
    X(job, apts_radius, DOUBLE, apts_radius, "1", 1e-12, 1e12, NULL, PD_CF_JOB,                 \
      "apts: initial trust-region radius (infinity norm).")                                  \
    X(job, apts_radius_min, DOUBLE, apts_radius_min, "0.001", 0, 1e12, NULL, PD_CF_JOB,         \
      "apts: smallest global radius.")                                                       \
    X(job, apts_radius_max, DOUBLE, apts_radius_max, "4", 1e-12, 1e12, NULL, PD_CF_JOB,         \
      "apts: largest global radius.")                                                        \
    X(job, apts_global_pass, BOOL, apts_global_pass, "yes", 0, 0, NULL, PD_CF_JOB,             \
      "apts: one trust-region step on all parameters after the combined local steps.")       \
    X(job, apts_safeguard, BOOL, apts_safeguard, "yes", 0, 0, NULL, PD_CF_JOB,                 \
      "apts: back-track a combined step that raises the objective.")                        \
    X(job, apts_foc, BOOL, apts_foc, "yes", 0, 0, NULL, PD_CF_JOB,                             \
      "apts: send each block the server's gradient for the first-order consistency term.")  \
    X(job, apts_second_order, BOOL, apts_second_order, "no", 0, 0, NULL, PD_CF_JOB,           \
      "apts: trust-region steps minimise the L-SR1 model g's + s'Bs/2 in a 2-norm ball "     \
      "instead of the first-order step: the global pass's step (radius Delta_k) with the "    \
      "server's memory B, one pair per outer iteration, and each local step (radius the "    \
      "remaining budget) with the block B_d of that memory, sent with the LOCAL_TR task "     \
      "(first order while the memory is empty); needs apts_global_pass.")                    \
    X(job, apts_memory, INT, apts_memory, "5", 1, 64, NULL, PD_CF_JOB,                         \
      "apts: pairs the L-SR1 memory keeps (apts_second_order).")                            \
    X(job, apts_straggler_factor, DOUBLE, apts_straggler_factor, "3", 0, 1e6, NULL, 0,         \
      "apts: once half the blocks are in, a block slower than this times their median "       \
      "solve time contributes 0 and is counted (0: wait for every block).")                  \
    X(job, fosi_gradients, ENUM, fosi_gradients, "sync", 0, 0, "sync|async", PD_CF_JOB,        \
      "fosi: where the gradients come from: sync-sgd rounds, or async-sgd with max_staleness.") \
    X(job, fosi_k, INT, fosi_k, "5", 1, 64, NULL, PD_CF_JOB,                                    \
      "fosi: top Hessian eigenpairs k the Newton step uses.")                                \
    X(job, fosi_l, INT, fosi_l, "0", 0, 64, NULL, PD_CF_JOB,                                    \
      "fosi: bottom eigenpairs l (at most k), stepped along -|1/lambda| times the gradient.") \
    X(job, fosi_period, INT, fosi_period, "100", 1, 1000000, NULL, PD_CF_JOB,                   \
      "fosi: steps T between two eigensystem refreshes.")                                    \
    X(job, fosi_warmup, INT, fosi_warmup, "0", 0, 1000000000, NULL, PD_CF_JOB,                  \
      "fosi: steps W of the base optimiser alone before the first refresh (0: T).")          \
    X(job, fosi_alpha, DOUBLE, fosi_alpha, "0.1", 1e-12, 1, NULL, PD_CF_JOB,                    \
      "fosi: scale alpha of the Newton step.")                                               \
    X(job, fosi_clip, DOUBLE, fosi_clip, "3", 1, 1e6, NULL, PD_CF_JOB,                          \
      "fosi: clip c of the base step's scale c_s = lambda_max / lambda_k (1 with adam).")    \
    X(job, fosi_damping, DOUBLE, fosi_damping, "0", 0, 1e6, NULL, PD_CF_JOB,                    \
      "fosi: sigma added to the eigenvalues before inverting them.")                         \
    X(job, fosi_lanczos_order, INT, fosi_lanczos_order, "0", 0, 1024, NULL, PD_CF_JOB,          \
      "fosi: Hessian-vector products of one Lanczos run (0: 4(k + l); at least k + l).")      \
    X(job, fosi_ese_batch, INT, fosi_ese_batch, "1024", 1, 1073741824, NULL, PD_CF_JOB,         \
      "fosi: samples of the fixed batch the Hessian is taken on (at most the training set).") \
    X(job, fosi_hvp_parts, INT, fosi_hvp_parts, "4", 1, 1024, NULL, PD_CF_JOB,                  \
      "fosi: HVP tasks one product is split into, whatever the number of workers, so the "    \
      "eigensystem is the same bits with any workers.")                                      \
    X(job, dho2_slices, INT, dho2_slices, "4", 1, 1024, NULL, PD_CF_JOB,                        \
      "dho2: slices P of the Lanczos basis and the eigenvectors, each reduced on its own as a " \
      "server shard would (n_s = (n + P - n mod P) / P coordinates each).")                  \
    X(job, curv_fraction, DOUBLE, curv_fraction, "0.25", 0, 0.99, NULL, PD_CF_JOB,              \
      "dho2: share of the workers in the curvature pool, which runs the next refresh while "  \
      "the others train with the current eigensystem (MR-DHO2). 0: training waits for the "  \
      "refresh (synchronous DHO2, as fosi).")                                                \
    X(job, curv_max_staleness, INT, curv_max_staleness, "-1", -1, 1000000, NULL, PD_CF_JOB,     \
      "dho2: steps training may take during a refresh (its staleness tau_c); then the "      \
      "training workers help with the refresh. -1: fosi_period; 0: none (as curv_fraction = 0).") \
    X(job, solver_parts, INT, solver_parts, "12", 1, 4096, NULL, PD_CF_JOB,                    \
      "newton-cg, lbfgs: tasks each full pass (gradient, loss, Hessian-vector product) is "  \
      "split into, whatever the number of workers, so the iterates are the same bits with "  \
      "any workers.")                                                                         \
    X(job, solver_tolerance, DOUBLE, solver_tolerance, "1e-6", 0, 1, NULL, PD_CF_JOB,          \
      "newton-cg, lbfgs: the job ends as converged when the objective's gradient norm is at " \
      "most this times its norm at the start (0: run until a [stop] criterion).")            \
    X(job, cg_tolerance, DOUBLE, cg_tolerance, "0.1", 1e-12, 0.99, NULL, PD_CF_JOB,            \
      "newton-cg: the conjugate-gradient solve of one Newton step stops when its residual "  \
      "is at most this times the gradient norm (liblinear's 0.1).")                          \
    X(job, lbfgs_memory, INT, lbfgs_memory, "10", 1, 100, NULL, PD_CF_JOB,                     \
      "lbfgs: curvature pairs kept.")                                                         \
    X(job, staleness_unit, ENUM, staleness_unit, "versions", 0, 0, "versions|received",         \
      PD_CF_JOB,                                                                              \
      "async-sgd: what a gradient's staleness tau counts: the versions applied since its "    \
      "task was sent (versions), or the results received since then, dropped ones included " \
      "(received: the rule of the Freya PAGE authors' simulator). max_staleness and "        \
      "stale_step apply to it either way.")                                                   \
    X(job, stale_step, ENUM, stale_step, "constant", 0, 0, "constant|inverse", 0,              \
      "async-sgd step for a gradient of staleness tau: constant, or divided by max(1, tau).") \
    X(job, wire_type, ENUM, wire_type, "auto", 0, 0, "auto|float32|float64", 0,                \
      "Element type of the parameters sent with tasks and of the gradients workers send "     \
      "back: float32 halves the bytes (the server keeps float64 and rounds on sending); "     \
      "auto is float32 for the first-order methods and float64 for apts, fosi, dho2, "        \
      "newton-cg and lbfgs, which refuse float32 (their trust-region tests, Lanczos and "     \
      "line searches need every digit). Workers too old to read float32 get float64.")       \
    X(job, gradient_compression, ENUM, gradient_compression, "none", 0, 0, "none|bf16", 0,     \
      "bf16: paramd-worker sends GRAD results as bfloat16 (a quarter of float64's bytes) and "  \
      "keeps what the rounding dropped, adding it to its next gradient (error feedback). "    \
      "For sync-sgd, async-sgd, ssp and rennala-sgd; results then depend on which worker "     \
      "computed which task, so sync-sgd is no longer bit-reproducible across worker counts.") \
    X(job, sparse_tasks, ENUM, sparse_tasks, "auto", 0, 0, "auto|yes|no", 0,                   \
      "GRAD tasks carry only the keys their minibatch touches, with the values there, and "   \
      "the gradient comes back at those keys; the server applies it in O(keys), deferring "  \
      "the regulariser's prox of the other keys until they are next read (exact). For "      \
      "async-sgd and ssp with optimizer sgd, a linear model and gradient_compression none; " \
      "auto turns it on for sparse (LIBSVM) training data. Values travel as float64.")       \
    X(job, eval_interval, DURATION, eval_interval_ms, "2s", 0, 86400000, NULL, 0,              \
      "How often the full objective and test accuracy are evaluated (0: only at the end).")  \
    X(model, type, ENUM, model_type, "softmax", 0, 0,                                          \
      "none|logistic|softmax|least-squares|quadratic|mlp", PD_CF_JOB,                         \
      "Model: none is a plain key-value vector of `dim` for user training code; quadratic is " \
      "the synthetic tridiagonal finite sum (paramd-sim only), generated in-process or read " \
      "from [data] train, a CSV file of lines b',c,sigma: f_j(x) = 1/2 x'(c T + sigma I)x - " \
      "b' x_1 with T = tridiag(-1, 2, -1); mlp is "                                          \
      "a multilayer perceptron with softmax cross-entropy (see layers, activation).")        \
    X(model, layers, STRING, mlp_layers, "", 0, 0, NULL, PD_CF_JOB,                            \
      "type = mlp: layer widths from the input to the output, e.g. 784,128,10 (the first "    \
      "is the number of features, the last the number of classes; up to 8 weight layers). "  \
      "Every layer has a bias.")                                                              \
    X(model, activation, ENUM, mlp_activation, "tanh", 0, 0, "tanh|relu", PD_CF_JOB,           \
      "type = mlp: activation of the hidden layers.")                                        \
    X(model, init_seed, INT, init_seed, "1", 0, 9.2e18, NULL, PD_CF_JOB,                        \
      "type = mlp: seed of the starting weights (Glorot-uniform for tanh, He-uniform for "    \
      "relu, biases 0), so every run of a job starts from the same point.")                  \
    X(model, bias, BOOL, bias, "yes", 0, 0, NULL, PD_CF_JOB,                                   \
      "Add an unregularised constant-1 feature.")                                             \
    X(model, bias_regularized, BOOL, bias_regularized, "no", 0, 0, NULL, PD_CF_JOB,          \
      "Penalise the bias coordinates with the l2 (and l1) terms like the weights, as "       \
      "liblinear's -B 1 does; no: biases are never penalised.")                             \
    X(model, classes, INT, classes, "0", 0, 100000, NULL, PD_CF_JOB,                           \
      "softmax: number of classes (0: max label + 1).")                                      \
    X(model, dim, INT, dim, "0", 0, 2147483647.0, NULL, PD_CF_JOB,                             \
      "type = none or quadratic: length of the parameter vector.")                           \
    X(model, samples, INT, quad_samples, "10000", 1, 2147483647.0, NULL, PD_CF_JOB,             \
      "type = quadratic: number of components f_j (m).")                                     \
    X(model, noise, DOUBLE, quad_noise, "0.5", 0, 1e6, NULL, PD_CF_JOB,                          \
      "type = quadratic: component noise lambda_q (a_j = 1 + noise N(0,1)).")                \
    X(model, mu, DOUBLE, quad_mu, "1e-6", 0, 1e6, NULL, PD_CF_JOB,                               \
      "type = quadratic: strong-convexity modulus of the mean f.")                           \
    X(model, data_seed, INT, quad_seed, "1", 0, 9.2e18, NULL, PD_CF_JOB,                        \
      "type = quadratic: seed of the generated components.")                                 \
    X(data, train, PATH, train_path, "", 0, 0, NULL, PD_CF_JOB,                                 \
      "Training set (LIBSVM, IDX images, or CSV; gzip allowed).")                             \
    X(data, train_labels, PATH, train_labels_path, "", 0, 0, NULL, PD_CF_JOB,                   \
      "IDX only: the labels file of the training images.")                                    \
    X(data, test, PATH, test_path, "", 0, 0, NULL, PD_CF_JOB,                                   \
      "Test set for accuracy (optional).")                                                    \
    X(data, test_labels, PATH, test_labels_path, "", 0, 0, NULL, PD_CF_JOB,                     \
      "IDX only: the labels file of the test images.")                                        \
    X(data, format, ENUM, data_format, "auto", 0, 0, "auto|libsvm|idx|csv", PD_CF_JOB,          \
      "File format; auto decides from the file name.")                                        \
    X(data, features, INT, features, "0", 0, 2147483647.0, NULL, PD_CF_JOB,                    \
      "Number of features (0: inferred from the training set).")                              \
    X(data, max_samples, INT, max_samples, "0", 0, 2147483647.0, NULL, PD_CF_JOB,              \
      "Use at most this many samples of each file (0: all).")                                 \
    X(optimizer, type, ENUM, optimizer, "sgd", 0, 0, "sgd|momentum|adam", PD_CF_JOB,           \
      "Server-side optimiser applied to each accepted gradient (exact formulas: "             \
      "doc/optimizers.md).")                                                                  \
    X(optimizer, learning_rate, DOUBLE, learning_rate, "0.1", 0, 1e6, NULL, PD_CF_RELOADABLE, \
      "Base step size gamma. Reloadable, and not part of the job's identity: a job that "     \
      "diverges or stalls can go on from its checkpoint with another step size.")            \
    X(optimizer, schedule, ENUM, schedule, "constant", 0, 0, "constant|inverse-sqrt|step",    \
      PD_CF_JOB, "Step-size schedule over applied updates k: gamma, gamma/sqrt(1+k/decay_steps), " \
      "or gamma*decay_rate^floor(k/decay_steps).")                                            \
    X(optimizer, decay_steps, INT, decay_steps, "1000", 1, 1e12, NULL, PD_CF_JOB,              \
      "Updates per decay period of the schedule.")                                            \
    X(optimizer, decay_rate, DOUBLE, decay_rate, "0.5", 0, 1, NULL, PD_CF_JOB,                 \
      "Factor per period of the step schedule.")                                              \
    X(optimizer, momentum, DOUBLE, momentum, "0.9", 0, 0.999999, NULL, PD_CF_JOB,              \
      "Heavy-ball momentum beta.")                                                            \
    X(optimizer, beta1, DOUBLE, beta1, "0.9", 0, 0.999999, NULL, PD_CF_JOB, "Adam beta1.")    \
    X(optimizer, beta2, DOUBLE, beta2, "0.999", 0, 0.99999999, NULL, PD_CF_JOB, "Adam beta2.") \
    X(optimizer, epsilon, DOUBLE, epsilon, "1e-8", 1e-300, 1, NULL, PD_CF_JOB, "Adam epsilon.") \
    X(optimizer, regularizer, ENUM, regularizer, "none", 0, 0,                                 \
      "none|l1|l2|elastic-net|box|nonneg", PD_CF_JOB,                                         \
      "Regulariser Psi, applied by a server-side proximal step (exact formulas: "            \
      "doc/optimizers.md).")                                                                  \
    X(optimizer, l1, DOUBLE, l1, "0", 0, 1e12, NULL, PD_CF_JOB, "lambda_1 of l1 / elastic-net.") \
    X(optimizer, l2, DOUBLE, l2, "0", 0, 1e12, NULL, PD_CF_JOB,                                \
      "lambda_2 of l2 / elastic-net: Psi includes (l2/2)||x||^2.")                            \
    X(optimizer, lower, DOUBLE, lower, "-1", -1e300, 1e300, NULL, PD_CF_JOB, "box: lower bound.") \
    X(optimizer, upper, DOUBLE, upper, "1", -1e300, 1e300, NULL, PD_CF_JOB, "box: upper bound.") \
    X(stop, max_updates, INT, max_updates, "0", 0, 9.2e18, NULL, PD_CF_RELOADABLE,             \
      "Stop after this many applied updates (0: no limit).")                                  \
    X(stop, max_seconds, DURATION, max_seconds_ms, "0", 0, 31536000000.0, NULL,                \
      PD_CF_RELOADABLE, "Stop after this much training time (0: no limit).")                  \
    X(stop, target_loss, DOUBLE, target_loss, "0", 0, 1e300, NULL, PD_CF_RELOADABLE,           \
      "Stop when the evaluated objective is at or below this (0: off).")                      \
    X(stop, target_accuracy, DOUBLE, target_accuracy, "0", 0, 1, NULL, PD_CF_RELOADABLE,       \
      "Stop when the test accuracy reaches this (0: off).")                                   \
    X(stop, on_divergence, ENUM, on_divergence, "stop", 0, 0, "stop|restore-checkpoint",      \
      PD_CF_RELOADABLE,                                                                       \
      "What to do when training diverges (a non-finite loss or gradient arrives, or a step "  \
      "would make a parameter non-finite; the step is never applied): stop ends the job with "\
      "'diverged at version V' and exit status 1; restore-checkpoint reloads the newest "     \
      "checkpoint of [server] state_dir and goes on (needs state_dir; after 3 restores a "   \
      "further divergence stops the job).")                                                   \
    X(sim, workers, INT, sim_workers, "4", 1, 100000, NULL, 0,                                  \
      "paramd-sim: number of simulated workers n.")                                           \
    X(sim, speeds, STRING, sim_speeds, "sqrt", 0, 0, NULL, 0,                                   \
      "paramd-sim: time per sample gradient tau_i: equal (1), sqrt (sqrt(i)), gamma "         \
      "(Gamma(2, 200)/400, at least 1, sorted), or a comma list of n values.")               \
    X(sim, seed, INT, sim_seed, "1", 0, 9.2e18, NULL, 0,                                        \
      "paramd-sim: seed of the gamma speed profile.")                                        \
    X(sim, max_time, DOUBLE, sim_max_time, "0", 0, 1e300, NULL, 0,                              \
      "paramd-sim: stop at this simulated time (0: no limit).")                              \
    X(sim, log_every, INT, sim_log_every, "10", 1, 9.2e18, NULL, 0,                             \
      "paramd-sim: write a log line every this many updates.")                               \
    X(sim, log, PATH, sim_log, "", 0, 0, NULL, PD_CF_OUTPUT,                                       \
      "paramd-sim: JSON-lines log (sim_time, version, objective, grad_norm2, gap); "          \
      "empty: standard output.")

#endif
