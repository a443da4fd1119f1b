# proto/: paramd.proto is compiled by protoc-c at build time into the build tree.
BUILT_SOURCES += proto/paramd.pb-c.c proto/paramd.pb-c.h
CLEANFILES += proto/paramd.pb-c.c proto/paramd.pb-c.h
EXTRA_DIST += proto/paramd.proto

proto/paramd.pb-c.c proto/paramd.pb-c.h: $(top_srcdir)/proto/paramd.proto
	$(AM_V_GEN)$(MKDIR_P) proto && \
	$(PROTOC_C) --proto_path=$(top_srcdir)/proto --c_out=proto $(top_srcdir)/proto/paramd.proto

noinst_LTLIBRARIES += proto/libpdproto.la
nodist_proto_libpdproto_la_SOURCES = proto/paramd.pb-c.c proto/paramd.pb-c.h
proto_libpdproto_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) -Wno-missing-prototypes
proto_libpdproto_la_LIBADD = $(PROTOBUF_C_LIBS)
# The sources that include the generated header wait for it, also when one program is asked
# for (`make server/paramd` in a fresh build directory): BUILT_SOURCES only orders all,
# check and install.
common/libpdwire_la-wire.lo common/libpdcommon_la-ckpt.lo \
	tests/unit/check_wire-check_wire.o: proto/paramd.pb-c.h
