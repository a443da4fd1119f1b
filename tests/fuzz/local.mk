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
else
fuzz_driver = tests/fuzz/replay.c
fuzz_ldflags =
endif
# compiled once, linked into every target
check_LTLIBRARIES = tests/fuzz/libpdfuzz.la
tests_fuzz_libpdfuzz_la_SOURCES = tests/fuzz/fuzz.h tests/fuzz/fuzz_util.c $(fuzz_driver)
fuzz_common = tests/fuzz/fuzz.h
tests_fuzz_fuzz_wire_SOURCES = tests/fuzz/fuzz_wire.c $(fuzz_common)
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
tests_fuzz_fuzz_ckpt_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS)
tests_fuzz_fuzz_ckpt_LDFLAGS = $(AM_LDFLAGS) $(fuzz_ldflags)
tests_fuzz_fuzz_ckpt_LDADD = tests/fuzz/libpdfuzz.la common/libpdcommon.la $(ZLIB_LIBS)
tests_fuzz_fuzz_http_SOURCES = tests/fuzz/fuzz_http.c $(fuzz_common)
tests_fuzz_fuzz_http_LDFLAGS = $(AM_LDFLAGS) $(fuzz_ldflags)
tests_fuzz_fuzz_http_LDADD = tests/fuzz/libpdfuzz.la server/libpdserver.la
EXTRA_DIST += tests/fuzz/replay.c tests/fuzz/corpus tests/fuzz/regress tests/fuzz/run_all.sh

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
