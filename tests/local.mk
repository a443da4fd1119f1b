# tests/: Check unit tests (tests/unit/check_<module>.c) and integration tests
# (tests/integration/*.test, shell scripts that start the real daemon and workers).
TEST_EXTENSIONS = .test
AM_TESTS_ENVIRONMENT = OPENBLAS_NUM_THREADS=1; export OPENBLAS_NUM_THREADS; \
	top_builddir='$(abs_top_builddir)'; top_srcdir='$(abs_top_srcdir)'; \
	export top_builddir top_srcdir;
unit_cflags = $(AM_CFLAGS) $(CHECK_CFLAGS)
unit_ldadd = common/libpdcommon.la $(CHECK_LIBS)

# --- unit: core ---
# --- unit: data ---
# --- unit: model ---
# --- unit: config ---
# --- unit: wire ---
# --- integration ---
