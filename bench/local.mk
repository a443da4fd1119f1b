# bench/: `make bench` builds and runs the benchmarks (never part of `make all` or `make check`;
# timing belongs here, not in tests). plot_metrics.py turns a metrics_log into a PNG.
EXTRA_PROGRAMS = bench/wire
bench_wire_SOURCES = bench/wire.c
bench_wire_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/worker
bench_wire_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS)
bench_wire_LDADD = worker/libpdclient.la common/libpdcommon.la $(ZMQ_LIBS) -lpthread
CLEANFILES += bench/wire$(EXEEXT)
EXTRA_DIST += bench/plot_metrics.py

# The daemon is started by bench/wire itself, from the same build tree.
.PHONY: bench
bench: bench/wire$(EXEEXT) server/paramd$(EXEEXT)
	OPENBLAS_NUM_THREADS=1 ./bench/wire$(EXEEXT) --paramd ./server/paramd$(EXEEXT)
