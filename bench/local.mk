# bench/: `make bench` builds and runs the benchmarks (never part of `make all` or `make check`;
# timing belongs here, not in tests). plot_metrics.py turns a metrics_log into a PNG.
EXTRA_PROGRAMS = bench/wire bench/load
bench_wire_SOURCES = bench/wire.c bench/bench_daemon.c bench/bench_daemon.h
bench_wire_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
bench_wire_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS)
bench_wire_LDADD = worker/libpdclient.la common/libpdcommon.la $(ZMQ_LIBS) -lpthread
CLEANFILES += bench/wire$(EXEEXT)
# bench/load (issue 9): N = 1, 8, 64 clients against one daemon; fails if applied != acked
bench_load_SOURCES = bench/load.c bench/bench_daemon.c bench/bench_daemon.h
bench_load_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
bench_load_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS)
bench_load_LDADD = worker/libpdclient.la common/libpdwire.la $(ZMQ_LIBS) -lpthread -lm
CLEANFILES += bench/load$(EXEEXT)
.PHONY: bench-load
bench-load: bench/load$(EXEEXT) server/paramd$(EXEEXT)
	OPENBLAS_NUM_THREADS=1 ./bench/load$(EXEEXT) --paramd ./server/paramd$(EXEEXT)
# bench/lbfgs: the single-process full-batch L-BFGS that bench/apts compares APTS with (a
# check program too: tests/integration/bench_apts.test runs the bench's driver).
check_PROGRAMS += bench/lbfgs
bench_lbfgs_SOURCES = bench/lbfgs.c
bench_lbfgs_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(ZMQ_CFLAGS) $(OPENBLAS_CFLAGS)
bench_lbfgs_LDADD = server/libpdserver.la $(OPENBLAS_LIBS)
EXTRA_DIST += bench/plot_metrics.py

# The daemon is started by bench/wire itself, from the same build tree.
.PHONY: bench
bench: bench/wire$(EXEEXT) server/paramd$(EXEEXT)
	OPENBLAS_NUM_THREADS=1 ./bench/wire$(EXEEXT) --paramd ./server/paramd$(EXEEXT)

# bench/heterogeneous (issue 5): the Freya PAGE paper's two experiments on paramd-sim's
# simulated clock (about 25 minutes on 2 cores; the -quick target: well under a minute).
# CSV, PNG plots and the time-to-eps table go to bench/results-heterogeneous[-quick]/.
EXTRA_DIST += bench/heterogeneous
.PHONY: bench-heterogeneous bench-heterogeneous-quick
bench-heterogeneous: server/paramd-sim$(EXEEXT)
	OPENBLAS_NUM_THREADS=1 PARAMD_SIM=./server/paramd-sim$(EXEEXT) \
		$(top_srcdir)/bench/heterogeneous --out bench/results-heterogeneous
bench-heterogeneous-quick: server/paramd-sim$(EXEEXT)
	OPENBLAS_NUM_THREADS=1 PARAMD_SIM=./server/paramd-sim$(EXEEXT) \
		$(top_srcdir)/bench/heterogeneous --quick --out bench/results-heterogeneous-quick

# bench/apts (issue 14): APTS with 2, 4, 8 blocks against async-sgd and sync-sgd with Adam and
# the single-process bench/lbfgs, on Fashion-MNIST and a synthetic problem, in wall time and
# gradient equivalents (about 20 minutes; the -quick target: about a minute, synthetic only).
# CSV, table.md and PNG plots go to bench/results-apts[-quick]/.
EXTRA_DIST += bench/apts bench/benchlib.py bench/quadratic_problem.py
.PHONY: bench-apts bench-apts-quick
bench_apts_deps = server/paramd$(EXEEXT) worker/paramd-worker$(EXEEXT) bench/lbfgs$(EXEEXT)
bench-apts: $(bench_apts_deps)
	PARAMD=./server/paramd$(EXEEXT) PARAMD_LBFGS=./bench/lbfgs$(EXEEXT) \
		$(top_srcdir)/bench/apts --out bench/results-apts
bench-apts-quick: $(bench_apts_deps)
	PARAMD=./server/paramd$(EXEEXT) PARAMD_LBFGS=./bench/lbfgs$(EXEEXT) \
		$(top_srcdir)/bench/apts --quick --problems synthetic --out bench/results-apts-quick

# bench/convex (issue 8 item 6): newton-cg and lbfgs over 1 and 2 local workers against
# liblinear-train (Debian liblinear-tools) on Fashion-MNIST even/odd logistic regression, with
# the same objective, in the same run (about 4 minutes, plus a minute to write the LIBSVM
# files the first time). results.csv and table.md go to bench/results-convex/.
EXTRA_DIST += bench/convex
.PHONY: bench-convex
bench-convex: server/paramd$(EXEEXT) worker/paramd-worker$(EXEEXT)
	PARAMD=./server/paramd$(EXEEXT) $(top_srcdir)/bench/convex --out bench/results-convex

# bench/dho2 (issue 8 item 7): fosi, dho2 and MR-DHO2 against their base optimiser and
# async-sgd (and on the convex problem newton-cg, lbfgs, liblinear-train), real processes on
# Fashion-MNIST, and paramd-sim with 4, 16 and 64 heterogeneous workers (about 20 minutes;
# -quick: about 3). CSV, table.md and PNG plots go to bench/results-dho2[-quick]/.
EXTRA_DIST += bench/dho2
.PHONY: bench-dho2 bench-dho2-quick
bench_dho2_deps = server/paramd$(EXEEXT) server/paramd-sim$(EXEEXT) worker/paramd-worker$(EXEEXT)
bench-dho2: $(bench_dho2_deps)
	PARAMD=./server/paramd$(EXEEXT) PARAMD_SIM=./server/paramd-sim$(EXEEXT) \
		$(top_srcdir)/bench/dho2 --out bench/results-dho2
bench-dho2-quick: $(bench_dho2_deps)
	PARAMD=./server/paramd$(EXEEXT) PARAMD_SIM=./server/paramd-sim$(EXEEXT) \
		$(top_srcdir)/bench/dho2 --quick --out bench/results-dho2-quick
# bench/apply (issue 13 item 5): a dense update against memcpy and daxpy of the same size
EXTRA_PROGRAMS += bench/apply
bench_apply_SOURCES = bench/apply.c
bench_apply_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
bench_apply_CFLAGS = $(AM_CFLAGS) $(OPENBLAS_CFLAGS)
bench_apply_LDADD = server/libpdserver.la $(OPENBLAS_LIBS)
CLEANFILES += bench/apply$(EXEEXT)
.PHONY: bench-apply
bench-apply: bench/apply$(EXEEXT)
	OPENBLAS_NUM_THREADS=1 ./bench/apply$(EXEEXT)
# bench/memory (issue 13 item 6): the daemon's RSS at 10^6 and 10^8 parameters against its
# state's bytes (needs about 4 GB of memory for the 10^8 adam row, and a minute or two)
EXTRA_PROGRAMS += bench/memory
bench_memory_SOURCES = bench/memory.c bench/bench_daemon.c bench/bench_daemon.h
bench_memory_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
bench_memory_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS)
bench_memory_LDADD = worker/libpdclient.la $(ZMQ_LIBS) -lm
CLEANFILES += bench/memory$(EXEEXT)
.PHONY: bench-memory
bench-memory: bench/memory$(EXEEXT) server/paramd$(EXEEXT)
	OPENBLAS_NUM_THREADS=1 ./bench/memory$(EXEEXT) --paramd ./server/paramd$(EXEEXT)
# bench/scale (issue 13 item 6): async-sgd with 1, 2, 4, 8, 15 local workers on Fashion-MNIST
# softmax and a sparse spam-like set: updates/s and time to a target objective (about 4
# minutes; -quick: 1, 2, 4 workers, about a minute). results.csv, table.md, scale.png go to
# bench/results-scale[-quick]/.
EXTRA_DIST += bench/scale
.PHONY: bench-scale bench-scale-quick
bench-scale: server/paramd$(EXEEXT) worker/paramd-worker$(EXEEXT)
	PARAMD=./server/paramd$(EXEEXT) $(top_srcdir)/bench/scale --out bench/results-scale
bench-scale-quick: server/paramd$(EXEEXT) worker/paramd-worker$(EXEEXT)
	PARAMD=./server/paramd$(EXEEXT) $(top_srcdir)/bench/scale --quick --out bench/results-scale-quick
# bench/python_rtt.py (issue 10): the Python client's round trips next to the C client's
EXTRA_DIST += bench/python_rtt.py
.PHONY: bench-python
bench-python: server/paramd$(EXEEXT) worker/libparamd-client.la python/paramd/paramd_pb2.py
	PYTHONPATH='$(abs_top_builddir)/python:$(abs_top_srcdir)/python' $(PYTHON3) \
		$(top_srcdir)/bench/python_rtt.py --paramd ./server/paramd$(EXEEXT) \
		--libclient ./worker/.libs/libparamd-client.so.1

# bench/compare-pslite (issue 13 item 6): workloads (i)-(iv) on paramd and on dmlc/ps-lite,
# side by side, interleaved repetitions (about 2 minutes; PSLITE_ARGS=--quick: under one).
# The script builds ps-lite from PSLITE_SRC and bench/pslite/driver.cc into bench/pslite-build/
# with g++, protoc and the system libzmq and protobuf-lite (Debian: libzmq3-dev,
# libprotobuf-dev, protobuf-compiler; bench-only, not in ./bootstrap). bench/pslite/README.md.
EXTRA_PROGRAMS += bench/pslite/paramd-driver
bench_pslite_paramd_driver_SOURCES = bench/pslite/paramd_driver.c bench/pslite/workloads.h \
	bench/bench_daemon.c bench/bench_daemon.h
bench_pslite_paramd_driver_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker -I$(top_srcdir)/bench
bench_pslite_paramd_driver_LDADD = worker/libpdclient.la common/libpdwire.la $(ZMQ_LIBS) -lm
CLEANFILES += bench/pslite/paramd-driver$(EXEEXT)
EXTRA_DIST += bench/compare-pslite bench/pslite/driver.cc bench/pslite/README.md
.PHONY: bench-compare-pslite
bench-compare-pslite: bench/pslite/paramd-driver$(EXEEXT) server/paramd$(EXEEXT)
	@if test -z '$(PSLITE_SRC)'; then \
	    echo 'usage: make bench-compare-pslite PSLITE_SRC=/path/to/ps-lite [PSLITE_ARGS=--quick]'; \
	    exit 2; fi
	OPENBLAS_NUM_THREADS=1 $(PYTHON3) $(top_srcdir)/bench/compare-pslite \
		--pslite-src '$(PSLITE_SRC)' --build-dir bench/pslite-build \
		--paramd ./server/paramd$(EXEEXT) \
		--paramd-driver ./bench/pslite/paramd-driver$(EXEEXT) $(PSLITE_ARGS)
