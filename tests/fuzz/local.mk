# tests/fuzz/: one target per input parser. In make check each target is linked with
# replay.c and runs its committed corpus (tests/fuzz/corpus/<target>/) and regression inputs
# (tests/fuzz/regress/<target>/); --enable-fuzzers builds libFuzzer binaries instead:
#   CC=clang ./configure --enable-fuzzers && make tests/fuzz/fuzz_wire
#   tests/fuzz/fuzz_wire tests/fuzz/corpus/fuzz_wire
fuzz_targets = tests/fuzz/fuzz_wire tests/fuzz/fuzz_config tests/fuzz/fuzz_data \
	tests/fuzz/fuzz_ckpt tests/fuzz/fuzz_http
check_PROGRAMS += $(fuzz_targets)
if FUZZERS
fuzz_driver =
fuzz_ldflags = -fsanitize=fuzzer
# The protobuf-c runtime compiled into the targets that decode protobuf (wire, ckpt) with
# coverage, so the fuzzer is guided through the decoder too: an object in the program wins over
# the shared library. Its source comes from Debian's pinned tarball (protobuf-c-src.sh).
pbc_dir = tests/fuzz/protobuf-c-src
pbc_source = $(pbc_dir)/protobuf-c/protobuf-c.c
$(pbc_source):
	$(AM_V_GEN)$(SHELL) $(srcdir)/tests/fuzz/protobuf-c-src.sh $(pbc_dir)
fuzz_pbc_sources = $(pbc_source)
fuzz_pbc_cppflags = -I$(builddir)/$(pbc_dir)
else
fuzz_driver = tests/fuzz/replay.c
fuzz_ldflags =
fuzz_pbc_sources =
fuzz_pbc_cppflags =
endif
# compiled once, linked into every target
check_LTLIBRARIES = tests/fuzz/libpdfuzz.la
tests_fuzz_libpdfuzz_la_SOURCES = tests/fuzz/fuzz.h tests/fuzz/fuzz_util.c $(fuzz_driver)
fuzz_common = tests/fuzz/fuzz.h
tests_fuzz_fuzz_wire_SOURCES = tests/fuzz/fuzz_wire.c $(fuzz_common)
nodist_tests_fuzz_fuzz_wire_SOURCES = $(fuzz_pbc_sources)
tests_fuzz_fuzz_wire_CPPFLAGS = $(AM_CPPFLAGS) $(fuzz_pbc_cppflags)
tests_fuzz_fuzz_wire_CFLAGS = $(AM_CFLAGS) $(ZMQ_CFLAGS)
tests_fuzz_fuzz_wire_LDFLAGS = $(AM_LDFLAGS) $(fuzz_ldflags)
tests_fuzz_fuzz_wire_LDADD = tests/fuzz/libpdfuzz.la common/libpdcommon.la
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c $(fuzz_common)
tests_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) $(fuzz_ldflags)
tests_fuzz_fuzz_config_LDADD = tests/fuzz/libpdfuzz.la common/libpdcommon.la
tests_fuzz_fuzz_data_SOURCES = tests/fuzz/fuzz_data.c $(fuzz_common)
tests_fuzz_fuzz_data_LDFLAGS = $(AM_LDFLAGS) $(fuzz_ldflags)
tests_fuzz_fuzz_data_LDADD = tests/fuzz/libpdfuzz.la common/libpdcommon.la
tests_fuzz_fuzz_ckpt_SOURCES = tests/fuzz/fuzz_ckpt.c $(fuzz_common)
nodist_tests_fuzz_fuzz_ckpt_SOURCES = $(fuzz_pbc_sources)
tests_fuzz_fuzz_ckpt_CPPFLAGS = $(AM_CPPFLAGS) $(fuzz_pbc_cppflags)
tests_fuzz_fuzz_ckpt_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS)
tests_fuzz_fuzz_ckpt_LDFLAGS = $(AM_LDFLAGS) $(fuzz_ldflags)
tests_fuzz_fuzz_ckpt_LDADD = tests/fuzz/libpdfuzz.la common/libpdcommon.la $(ZLIB_LIBS)
tests_fuzz_fuzz_http_SOURCES = tests/fuzz/fuzz_http.c $(fuzz_common)
tests_fuzz_fuzz_http_LDFLAGS = $(AM_LDFLAGS) $(fuzz_ldflags)
tests_fuzz_fuzz_http_LDADD = tests/fuzz/libpdfuzz.la server/libpdserver.la
EXTRA_DIST += tests/fuzz/replay.c tests/fuzz/corpus tests/fuzz/regress tests/fuzz/run_all.sh \
	tests/fuzz/protobuf-c-src.sh

clean-local: clean-local-fuzz
clean-local-fuzz:
	rm -rf tests/fuzz/protobuf-c-src fuzz-work fuzz-findings
.PHONY: clean-local-fuzz

# make fuzz [FUZZ_SECONDS=N]: every target for N seconds (default 60) with libFuzzer;
# executions and findings per target; fails if any target found something.
FUZZ_SECONDS = 60
.PHONY: fuzz
if FUZZERS
fuzz: $(fuzz_targets)
	srcdir=$(srcdir) $(SHELL) $(srcdir)/tests/fuzz/run_all.sh $(FUZZ_SECONDS) $(fuzz_targets)
else
fuzz:
	@echo "make fuzz needs libFuzzer binaries: CC=clang ./configure --enable-fuzzers" >&2; exit 1
endif
if !FUZZERS
TESTS += tests/fuzz/replay.test
EXTRA_DIST += tests/fuzz/replay.test
endif
