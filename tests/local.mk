# tests/: Check unit tests (tests/unit/check_<module>.c) and integration tests
# (tests/integration/*.test, shell scripts that start the real daemon and workers).
TEST_EXTENSIONS = .test
if VALGRIND
VALGRIND_TESTS_ENVIRONMENT = CK_FORK=no; export CK_FORK;
# ./configure --enable-valgrind: the unit tests (programs, no extension) under memcheck. Check
# runs each test in the same process (CK_FORK=no) so valgrind sees every allocation.
LOG_COMPILER = $(VALGRIND) --quiet --error-exitcode=101 --leak-check=full \
	--errors-for-leak-kinds=definite --suppressions=$(srcdir)/tests/unit/valgrind.supp
endif
EXTRA_DIST += tests/unit/valgrind.supp
if TSAN
# ./configure --enable-sanitizers=thread: the daemon, workers and clients of every test run
# under ThreadSanitizer; a report fails the test (exit status 66).
TSAN_TESTS_ENVIRONMENT = TSAN_OPTIONS="suppressions=$(abs_top_srcdir)/tests/tsan.supp \
	second_deadlock_stack=1"; export TSAN_OPTIONS; \
	PD_TIMEOUT_SCALE=5; export PD_TIMEOUT_SCALE;
endif
EXTRA_DIST += tests/tsan.supp
AM_TESTS_ENVIRONMENT = OPENBLAS_NUM_THREADS=1; export OPENBLAS_NUM_THREADS; \
	$(VALGRIND_TESTS_ENVIRONMENT) $(TSAN_TESTS_ENVIRONMENT) \
	top_builddir='$(abs_top_builddir)'; top_srcdir='$(abs_top_srcdir)'; \
	export top_builddir top_srcdir;
unit_cflags = $(AM_CFLAGS) $(CHECK_CFLAGS)
unit_ldadd = common/libpdcommon.la $(CHECK_LIBS)

# --- unit: core ---
check_PROGRAMS += tests/unit/check_optim
TESTS += tests/unit/check_optim
tests_unit_check_optim_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_unit_check_optim_CFLAGS = $(unit_cflags) $(UV_CFLAGS) $(ZMQ_CFLAGS)
tests_unit_check_optim_LDADD = server/libpdserver.la $(CHECK_LIBS)
check_PROGRAMS += tests/unit/check_apts
TESTS += tests/unit/check_apts
tests_unit_check_apts_SOURCES = tests/unit/check_apts.c tests/unit/vec_check.h
tests_unit_check_apts_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_unit_check_apts_CFLAGS = $(unit_cflags) $(UV_CFLAGS) $(ZMQ_CFLAGS) $(OPENBLAS_CFLAGS)
tests_unit_check_apts_LDADD = server/libpdserver.la $(CHECK_LIBS)
# --- unit: doc/models.md ---
# Every test vector of doc/models.md against the code; the document is read from the source
# tree (compiled in, so the test also runs by hand from the build tree).
check_PROGRAMS += tests/unit/check_models_doc
TESTS += tests/unit/check_models_doc
tests_unit_check_models_doc_SOURCES = tests/unit/check_models_doc.c tests/unit/doc_vectors.c \
	tests/unit/doc_vectors.h
tests_unit_check_models_doc_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server \
	-DPD_MODELS_DOC='"$(abs_top_srcdir)/doc/models.md"'
tests_unit_check_models_doc_CFLAGS = $(unit_cflags) $(UV_CFLAGS) $(ZMQ_CFLAGS) $(OPENBLAS_CFLAGS)
tests_unit_check_models_doc_LDADD = server/libpdserver.la $(CHECK_LIBS)
# --- unit: data ---
check_PROGRAMS += tests/unit/check_data
TESTS += tests/unit/check_data
tests_unit_check_data_CFLAGS = $(unit_cflags) $(ZLIB_CFLAGS)
tests_unit_check_data_LDADD = $(unit_ldadd) $(ZLIB_LIBS)
# --- unit: model ---
check_PROGRAMS += tests/unit/check_model tests/unit/check_prox
TESTS += tests/unit/check_model tests/unit/check_prox
tests_unit_check_model_SOURCES = tests/unit/check_model.c tests/unit/vec_check.h
tests_unit_check_model_CFLAGS = $(unit_cflags) $(OPENBLAS_CFLAGS)
tests_unit_check_model_LDADD = $(unit_ldadd)
check_PROGRAMS += tests/unit/check_mlp
TESTS += tests/unit/check_mlp
tests_unit_check_mlp_SOURCES = tests/unit/check_mlp.c tests/unit/vec_check.h
tests_unit_check_mlp_CFLAGS = $(unit_cflags) $(OPENBLAS_CFLAGS)
tests_unit_check_mlp_LDADD = $(unit_ldadd)
check_PROGRAMS += tests/unit/check_lsr1
TESTS += tests/unit/check_lsr1
tests_unit_check_lsr1_SOURCES = tests/unit/check_lsr1.c tests/unit/vec_check.h
tests_unit_check_lsr1_CFLAGS = $(unit_cflags) $(OPENBLAS_CFLAGS)
tests_unit_check_lsr1_LDADD = $(unit_ldadd)
check_PROGRAMS += tests/unit/check_lanczos
TESTS += tests/unit/check_lanczos
tests_unit_check_lanczos_SOURCES = tests/unit/check_lanczos.c
tests_unit_check_lanczos_CFLAGS = $(unit_cflags) $(OPENBLAS_CFLAGS)
tests_unit_check_lanczos_LDADD = $(unit_ldadd)
check_PROGRAMS += tests/unit/check_log
TESTS += tests/unit/check_log
tests_unit_check_log_CFLAGS = $(unit_cflags)
tests_unit_check_log_LDADD = $(unit_ldadd)
check_PROGRAMS += tests/unit/check_task_kind
TESTS += tests/unit/check_task_kind
tests_unit_check_task_kind_SOURCES = tests/unit/check_task_kind.c tests/unit/vec_check.h
tests_unit_check_task_kind_CFLAGS = $(unit_cflags) $(OPENBLAS_CFLAGS)
tests_unit_check_task_kind_LDADD = $(unit_ldadd)
tests_unit_check_prox_SOURCES = tests/unit/check_prox.c
tests_unit_check_prox_CFLAGS = $(unit_cflags) $(OPENBLAS_CFLAGS)
tests_unit_check_prox_LDADD = $(unit_ldadd)
# --- unit: config ---
check_PROGRAMS += tests/unit/check_config
TESTS += tests/unit/check_config
tests_unit_check_config_CFLAGS = $(unit_cflags)
tests_unit_check_config_LDADD = $(unit_ldadd)
# --- unit: wire ---
check_PROGRAMS += tests/unit/check_wire
TESTS += tests/unit/check_wire
tests_unit_check_wire_CFLAGS = $(unit_cflags) $(ZMQ_CFLAGS) $(PROTOBUF_C_CFLAGS)
tests_unit_check_wire_LDADD = $(unit_ldadd) $(ZMQ_LIBS)
# --- integration ---
# refsolve: single-process reference (sync-sgd replay, optimum) for the .test scripts; the
# scripts also need examples/paramd-datagen, server/paramd and worker/paramd-worker.
check_PROGRAMS += tests/integration/refsolve
tests_integration_refsolve_SOURCES = tests/integration/refsolve.c
tests_integration_refsolve_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(ZMQ_CFLAGS) $(OPENBLAS_CFLAGS)
tests_integration_refsolve_LDADD = server/libpdserver.la
integration_tests = tests/integration/check_config.test \
	tests/integration/local_workers_demo.test \
	tests/integration/sync_matches_reference.test \
	tests/integration/async_converges.test \
	tests/integration/worker_killed.test \
	tests/integration/worker_stopped.test \
	tests/integration/worker_joins_late.test \
	tests/integration/diverge_stop.test \
	tests/integration/diverge_restore.test \
	tests/integration/apts.test
TESTS += $(integration_tests)
# run through the shell, so a lost executable bit (patch, some tar) does not break them
TEST_LOG_COMPILER = $(SHELL)
EXTRA_DIST += $(integration_tests) tests/integration/lib.sh \
    tests/integration/shards_lib.sh
# --- integration: key-value example (examples/kv-client against examples/kv.conf) ---
TESTS += tests/integration/kv_example.test tests/integration/torch_kv.test
EXTRA_DIST += tests/integration/kv_example.test tests/integration/torch_kv.test
# doc/config.md must match `paramd --config-reference`
TESTS += tests/integration/config_reference.test
EXTRA_DIST += tests/integration/config_reference.test
# bad_input.test: badinput sends hostile and broken messages to a running paramd.
check_PROGRAMS += tests/integration/badinput
tests_integration_badinput_SOURCES = tests/integration/badinput.c
tests_integration_badinput_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
tests_integration_badinput_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS)
tests_integration_badinput_LDADD = worker/libpdclient.la common/libpdcommon.la $(ZMQ_LIBS)
TESTS += tests/integration/bad_input.test
EXTRA_DIST += tests/integration/bad_input.test
# --- integration: reconnect after a server restart, ssp bound ---
TESTS += tests/integration/worker_reconnect.test tests/integration/ssp_bound.test \
	tests/integration/worker_long_task.test
EXTRA_DIST += tests/integration/worker_reconnect.test tests/integration/ssp_bound.test \
	tests/integration/worker_long_task.test
# --- integration: rennala-sgd (issue 5 baseline) ---
TESTS += tests/integration/rennala.test
EXTRA_DIST += tests/integration/rennala.test
# --- source rules: module boundaries and self-contained headers ---
TESTS += tests/integration/source_rules.test
EXTRA_DIST += tests/integration/source_rules.test
# --- checkpoints (issue 4): format unit test, crash and SIGTERM resume ---
check_PROGRAMS += tests/unit/check_ckpt
TESTS += tests/unit/check_ckpt
tests_unit_check_ckpt_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server/ops
tests_unit_check_ckpt_CFLAGS = $(unit_cflags) $(PROTOBUF_C_CFLAGS) $(ZMQ_CFLAGS) $(UV_CFLAGS) $(ZLIB_CFLAGS)
tests_unit_check_ckpt_LDADD = server/libpdserver.la $(unit_ldadd) $(ZLIB_LIBS)
TESTS += tests/integration/checkpoint_crash.test tests/integration/checkpoint_sigterm.test
EXTRA_DIST += tests/integration/checkpoint_crash.test tests/integration/checkpoint_sigterm.test
# --- status socket, /metrics, dashboard, paramctl (issue 4) ---
check_PROGRAMS += tests/unit/check_http
TESTS += tests/unit/check_http
tests_unit_check_http_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server -I$(top_srcdir)/server/ops
tests_unit_check_http_CFLAGS = $(unit_cflags) $(UV_CFLAGS) $(ZMQ_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_check_http_LDADD = server/libpdserver.la $(CHECK_LIBS) $(JANSSON_LIBS)
TESTS += tests/integration/status.test
EXTRA_DIST += tests/integration/status.test
# --- freya-page (issue 5): block pool and canonical sum; p = 1 equals gradient descent (also
# with a killed and a stopped worker), old-round results discarded, convergence with defaults ---
check_PROGRAMS += tests/unit/check_freya
TESTS += tests/unit/check_freya
tests_unit_check_freya_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server/methods
tests_unit_check_freya_CFLAGS = $(unit_cflags) $(UV_CFLAGS) $(ZMQ_CFLAGS)
tests_unit_check_freya_LDADD = server/libpdserver.la $(CHECK_LIBS)
check_PROGRAMS += tests/unit/check_fosi
TESTS += tests/unit/check_fosi
tests_unit_check_fosi_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server/methods
tests_unit_check_fosi_CFLAGS = $(unit_cflags) $(OPENBLAS_CFLAGS)
tests_unit_check_fosi_LDADD = server/libpdserver.la $(CHECK_LIBS)
TESTS += tests/integration/freya_gd.test tests/integration/freya_converges.test
EXTRA_DIST += tests/integration/freya_gd.test tests/integration/freya_converges.test
TESTS += tests/integration/mlp_methods.test
EXTRA_DIST += tests/integration/mlp_methods.test
# --- systemd integration (issue 4): sd_notify, SIGHUP reload, the units, the man pages ---
TESTS += tests/integration/notify.test tests/integration/reload.test \
	tests/integration/systemd_units.test tests/integration/man_reference.test
EXTRA_DIST += tests/integration/notify.test tests/integration/reload.test \
	tests/integration/systemd_units.test tests/integration/man_reference.test \
	tests/integration/notify_listen.py tests/integration/mdwe_exec.py \
	tests/integration/syscalls_allowed.py
# --- data transfer (issue 4 item 7): a worker without the data fetches it, caches it, reuses it ---
check_PROGRAMS += tests/integration/fetchprobe
tests_integration_fetchprobe_SOURCES = tests/integration/fetchprobe.c
tests_integration_fetchprobe_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
tests_integration_fetchprobe_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS)
tests_integration_fetchprobe_LDADD = worker/libpdclient.la common/libpdcommon.la $(ZMQ_LIBS)
TESTS += tests/integration/data_fetch.test
EXTRA_DIST += tests/integration/data_fetch.test
# --- simulated clock (issue 5 item 3): paramd-sim, its timing oracles and repeatability ---
check_PROGRAMS += tests/unit/check_sim
TESTS += tests/unit/check_sim tests/integration/sim.test
tests_unit_check_sim_CFLAGS = $(unit_cflags) $(UV_CFLAGS) $(ZMQ_CFLAGS)
tests_unit_check_sim_LDADD = server/libpdserver.la $(CHECK_LIBS)
EXTRA_DIST += tests/integration/sim.test
# --- CURVE encryption and authentication (issue 4): paramctl keygen, ZAP allowlist, SIGHUP ---
TESTS += tests/integration/curve.test
EXTRA_DIST += tests/integration/curve.test
# --- browser: the dashboard in headless Chromium (make check-browser; not in make check) ---
EXTRA_DIST += tests/browser/dashboard.test
# refsolve and paramd-datagen are check programs the test uses: built here, so the target
# works on a fresh build (it said "refsolve is not built (run make check)", issue 12 item 7)
check-browser: all tests/integration/refsolve$(EXEEXT) examples/paramd-datagen$(EXEEXT)
	top_builddir='$(abs_top_builddir)' top_srcdir='$(abs_top_srcdir)' OPENBLAS_NUM_THREADS=1 \
		$(SHELL) $(srcdir)/tests/browser/dashboard.test
.PHONY: check-browser
# --- bench/heterogeneous --quick (issue 5 item 5): the driver end to end on paramd-sim (~8 s) ---
TESTS += tests/integration/bench_heterogeneous.test
EXTRA_DIST += tests/integration/bench_heterogeneous.test
# eseref: single-process reference of fosi's first refresh (one HVP over the whole batch)
check_PROGRAMS += tests/integration/eseref
tests_integration_eseref_SOURCES = tests/integration/eseref.c
tests_integration_eseref_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(ZMQ_CFLAGS)
tests_integration_eseref_LDADD = server/libpdserver.la
# --- method = fosi: base equivalence, worker-count independence, kill -9 in an ESE (issue 8) ---
TESTS += tests/integration/fosi.test
EXTRA_DIST += tests/integration/fosi.test
# --- sync-sgd with sync_parts: the same bits with 1, 3 and 3 workers of which one is stopped ---
TESTS += tests/integration/sync_parts.test
EXTRA_DIST += tests/integration/sync_parts.test
# --- method = dho2: sliced Lanczos, equal to fosi, MR-DHO2 overlap and its staleness bound ---
TESTS += tests/integration/dho2.test
EXTRA_DIST += tests/integration/dho2.test
# --- bench/apts --quick on the synthetic problem, 3 s per run (issue 14 item 5; ~30 s) ---
TESTS += tests/integration/bench_apts.test
EXTRA_DIST += tests/integration/bench_apts.test

check_PROGRAMS += tests/unit/check_solver
TESTS += tests/unit/check_solver
tests_unit_check_solver_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server/methods
tests_unit_check_solver_CFLAGS = $(unit_cflags)
tests_unit_check_solver_LDADD = server/libpdserver.la $(CHECK_LIBS)
# --- newton-cg and lbfgs (issue 8 item 6): the optimum to 1e-8, the same bits with 1 and 3
# workers, bias_regularized, a killed worker's part given to another ---
TESTS += tests/integration/convex_solvers.test
EXTRA_DIST += tests/integration/convex_solvers.test
# --- CANCEL (issue 11 item 1): Freya PAGE's rounds on paramd-sim's clock follow the event
# rule once stale work is cancelled at round ends ---
TESTS += tests/integration/sim_cancel.test
EXTRA_DIST += tests/integration/sim_cancel.test
# --- CANCEL with real processes (issue 11 item 1): abandoned by paramd-worker, ignored by an
# old worker ---
TESTS += tests/integration/cancel.test
EXTRA_DIST += tests/integration/cancel.test
# --- async-sgd staleness_unit = received (issue 11 item 3) against a replay of the rule ---
TESTS += tests/integration/staleness_unit.test
EXTRA_DIST += tests/integration/staleness_unit.test
# --- method = sync-page (issue 11 item 2): one worker = single-process PAGE; the slowest
# worker sets each phase's time on paramd-sim ---
TESTS += tests/integration/sync_page.test
EXTRA_DIST += tests/integration/sync_page.test
# --- [model] type = quadratic read from a CSV file (issue 11 item 4) ---
TESTS += tests/integration/quadratic_file.test
EXTRA_DIST += tests/integration/quadratic_file.test
# --- the warning when the objective keeps rising (issue 11 item 6) ---
TESTS += tests/integration/objective_rises.test
EXTRA_DIST += tests/integration/objective_rises.test
# --- paramd-worker's command line: --version, the tcp:// hint, options documented ---
TESTS += tests/integration/worker_cli.test
EXTRA_DIST += tests/integration/worker_cli.test
# --- --print-fingerprint of paramd and paramd-worker agree with each other and doc/models.md ---
TESTS += tests/integration/print_fingerprint.test
EXTRA_DIST += tests/integration/print_fingerprint.test
# --- a forgotten (evicted, or the server restarted) worker's rejoin is not a bad message ---
TESTS += tests/integration/forgotten_worker.test
EXTRA_DIST += tests/integration/forgotten_worker.test
TESTS += tests/integration/min_workers.test
EXTRA_DIST += tests/integration/min_workers.test
TESTS += tests/integration/progress_tty.test
EXTRA_DIST += tests/integration/progress_tty.test tests/integration/pty_run.py
TESTS += tests/integration/metrics_log_end.test
EXTRA_DIST += tests/integration/metrics_log_end.test
TESTS += tests/integration/lr_reload.test
EXTRA_DIST += tests/integration/lr_reload.test
TESTS += tests/integration/install.test
EXTRA_DIST += tests/integration/install.test
TESTS += tests/integration/restart.test
EXTRA_DIST += tests/integration/restart.test
TESTS += tests/integration/checkpoint_damage.test
EXTRA_DIST += tests/integration/checkpoint_damage.test
TESTS += tests/integration/fd_budget.test
EXTRA_DIST += tests/integration/fd_budget.test
TESTS += tests/integration/sync_bitwise.test
EXTRA_DIST += tests/integration/sync_bitwise.test
TESTS += tests/integration/state_dir_faults.test
EXTRA_DIST += tests/integration/state_dir_faults.test
TESTS += tests/integration/hostile_bitwise.test
EXTRA_DIST += tests/integration/hostile_bitwise.test tests/integration/hostile_peer.py
TESTS += tests/integration/churn.test
EXTRA_DIST += tests/integration/churn.test
TESTS += tests/integration/kill_loop.test
EXTRA_DIST += tests/integration/kill_loop.test
TESTS += tests/integration/wire_f32.test tests/integration/sparse_tasks.test tests/integration/shards.test
TESTS += tests/integration/shards_checkpoint.test
TESTS += tests/integration/shards_mlp.test tests/integration/shards_diverge.test \
    tests/integration/shards_sparse.test tests/integration/shards_whole.test
EXTRA_DIST += tests/integration/shards_mlp.test tests/integration/shards_diverge.test \
    tests/integration/shards_sparse.test tests/integration/shards_whole.test
EXTRA_DIST += tests/integration/shards_checkpoint.test
EXTRA_DIST += tests/integration/wire_f32.test tests/integration/sparse_tasks.test tests/integration/shards.test
TESTS += tests/integration/bf16.test
EXTRA_DIST += tests/integration/bf16.test
# --- reference runs for the Python package's tests (tests/python/test_*.py) ---
# pd_taskcheck runs one task through libpdcommon as paramd-worker would; it is built with
# the other check programs and only read by the Python tests.
check_PROGRAMS += tests/python/pd_taskcheck
tests_python_pd_taskcheck_CFLAGS = $(AM_CFLAGS) $(OPENBLAS_CFLAGS)
tests_python_pd_taskcheck_LDADD = common/libpdcommon.la
# The conformance kit against the Python worker (issue 10 item 5)
TESTS += tests/conformance/python.test
EXTRA_DIST += tests/conformance/python.test tests/conformance/conformance.py \
	tests/conformance/README.md
# --- integration: zero-copy push of libparamd-client (pd_client_push_send_nocopy) ---
# nocopy links the installed library, as a user's program does: only <paramd/client.h>.
check_PROGRAMS += tests/integration/nocopy
tests_integration_nocopy_SOURCES = tests/integration/nocopy.c tests/integration/client_check.h
tests_integration_nocopy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
tests_integration_nocopy_LDADD = worker/libparamd-client.la
TESTS += tests/integration/nocopy_push.test
EXTRA_DIST += tests/integration/nocopy_push.test
# --- integration: libparamd-client on a job split over several servers, library only ---
check_PROGRAMS += tests/integration/client_shards
tests_integration_client_shards_SOURCES = tests/integration/client_shards.c \
	tests/integration/client_check.h
tests_integration_client_shards_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
tests_integration_client_shards_LDADD = worker/libparamd-client.la -lm
TESTS += tests/integration/client_shards.test
EXTRA_DIST += tests/integration/client_shards.test

# --- integration: float32 pulls and pushes of libparamd-client, through the library only ---
check_PROGRAMS += tests/integration/client_f32
tests_integration_client_f32_SOURCES = tests/integration/client_f32.c \
	tests/integration/client_check.h
tests_integration_client_f32_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
tests_integration_client_f32_LDADD = worker/libparamd-client.la
TESTS += tests/integration/client_f32.test
EXTRA_DIST += tests/integration/client_f32.test
