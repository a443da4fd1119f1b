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
check_PROGRAMS += tests/unit/check_data
TESTS += tests/unit/check_data
tests_unit_check_data_CFLAGS = $(unit_cflags) $(ZLIB_CFLAGS)
tests_unit_check_data_LDADD = $(unit_ldadd) $(ZLIB_LIBS)
# --- unit: model ---
check_PROGRAMS += tests/unit/check_model tests/unit/check_prox
TESTS += tests/unit/check_model tests/unit/check_prox
tests_unit_check_model_SOURCES = tests/unit/check_model.c
tests_unit_check_model_CFLAGS = $(unit_cflags) $(OPENBLAS_CFLAGS)
tests_unit_check_model_LDADD = $(unit_ldadd)
tests_unit_check_prox_SOURCES = tests/unit/check_prox.c
tests_unit_check_prox_CFLAGS = $(unit_cflags) $(OPENBLAS_CFLAGS)
tests_unit_check_prox_LDADD = $(unit_ldadd)
# --- unit: config ---
check_PROGRAMS += tests/unit/check_config
TESTS += tests/unit/check_config
tests_unit_check_config_CFLAGS = $(unit_cflags)
tests_unit_check_config_LDADD = $(unit_ldadd)
# --- unit: wire ---
# --- integration ---
