# common/: shared by the daemon, the worker and the client library. No uv.h here;
# protobuf-c only in wire.c (and the checkpoint format); inih only in config.c.
noinst_LTLIBRARIES += common/libpdcommon.la

common_core_sources = common/error.c common/error.h common/log.c common/log.h \
	common/rng.c common/rng.h common/clock.c common/clock.h common/buf.c common/buf.h \
	common/grow.c common/grow.h
# data loaders (LIBSVM, IDX, CSV)
common_data_sources = common/data.h common/data.c common/data_internal.h \
	common/data_libsvm.c common/data_idx.c common/data_csv.c common/data_job.c
# models and proximal operators
common_model_sources = common/model.h common/prox.h common/model_internal.h common/model.c \
	common/model_keys.c \
	common/model_logistic.c common/model_softmax.c common/model_lsq.c common/model_mlp.c common/prox.c \
	common/model_quad.c common/quad.h common/compute.c common/compute.h \
	common/task_kind.c common/task_kind.h
# optimisation numerics without I/O: trust region and the APTS block/local solve (ALGORITHMS.md §4)
common_opt_sources = common/trust_region.c common/trust_region.h common/apts_blocks.c \
	common/apts_blocks.h common/apts_local.c common/apts_local.h common/apts_task.c \
	common/apts_task.h common/lsr1.c common/lsr1.h \
	common/lanczos.c common/lanczos.h common/blas_threads.c common/blas_threads.h
# configuration table and parser
common_config_sources = common/config.c common/config.h common/config_keys.h
# checkpoint files and data checksums
common_file_sources = common/ckpt.c common/ckpt.h common/filesum.c common/filesum.h

# libpdwire.la: what a client of the wire protocol needs and no more (no OpenBLAS, no inih,
# no zlib), so the installed libparamd-client links only libzmq and libprotobuf-c.
noinst_LTLIBRARIES += common/libpdwire.la
common_libpdwire_la_SOURCES = $(common_core_sources) common/wire.c common/wire.h \
	common/curve.c common/curve.h
common_libpdwire_la_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS) $(PROTOBUF_C_CFLAGS)
common_libpdwire_la_LIBADD = proto/libpdproto.la $(ZMQ_LIBS) $(PROTOBUF_C_LIBS)

common_libpdcommon_la_SOURCES = $(common_data_sources) $(common_model_sources) \
	$(common_opt_sources) $(common_config_sources) $(common_file_sources)
common_libpdcommon_la_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS) $(PROTOBUF_C_CFLAGS) $(OPENBLAS_CFLAGS) \
	$(INIH_CFLAGS) $(ZLIB_CFLAGS)
common_libpdcommon_la_LIBADD = common/libpdwire.la $(ZMQ_LIBS) $(PROTOBUF_C_LIBS) \
	$(OPENBLAS_LIBS) $(INIH_LIBS) $(ZLIB_LIBS) -lpthread -lm
