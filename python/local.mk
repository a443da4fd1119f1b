# python/: the Python client package `paramd` (pure Python; python/README.md). Its protobuf
# module paramd_pb2.py is generated from proto/paramd.proto into the BUILD tree and never
# committed, so a VPATH build keeps the source tree clean and the module always matches the
# .proto. From the build tree: PYTHONPATH=$(abs_top_builddir)/python:$(abs_top_srcdir)/python
# (the package's __init__ joins the two halves; see there).
paramd_python_sources = python/paramd/__init__.py python/paramd/errors.py \
	python/paramd/curve.py python/paramd/wire.py python/paramd/connection.py \
	python/paramd/kvclient.py python/paramd/worker.py python/paramd/__main__.py \
	python/paramd/rng.py python/paramd/data.py python/paramd/models.py python/paramd/compute.py
paramdpydir = $(pythondir_paramd)/paramd
dist_paramdpy_DATA = $(paramd_python_sources)
nodist_paramdpy_DATA = python/paramd/paramd_pb2.py
EXTRA_DIST += python/README.md
BUILT_SOURCES += python/paramd/paramd_pb2.py
CLEANFILES += python/paramd/paramd_pb2.py

python/paramd/paramd_pb2.py: $(top_srcdir)/proto/paramd.proto
	$(AM_V_GEN)$(MKDIR_P) python/paramd && \
	$(PROTOC) --proto_path=$(top_srcdir)/proto --python_out=python/paramd \
		$(top_srcdir)/proto/paramd.proto

# Tests: pytest files run by automake's test driver, so make check's summary counts them.
# Each starts the real server/paramd of this build (tests/python/conftest.py).
TEST_EXTENSIONS += .py
# No cache, no hypothesis database: nothing written into the (maybe read-only) source tree.
PY_LOG_COMPILER = $(PYTHON3) -m pytest -q -p no:cacheprovider -p no:hypothesispytest
python_tests = tests/python/test_errors.py tests/python/test_curve.py \
	tests/python/test_kvclient.py tests/python/test_kvkeys.py tests/python/test_kv_curve.py \
	tests/python/test_worker.py tests/python/test_compute.py tests/python/test_data.py \
	tests/python/test_models_doc.py tests/python/test_worker_compute.py \
	tests/python/test_kvshards.py tests/python/test_shard_commit.py \
	tests/python/test_shard_estimate.py
TESTS += $(python_tests)
EXTRA_DIST += $(python_tests) tests/python/conftest.py tests/python/pdref.py
# PYTHONDONTWRITEBYTECODE: no __pycache__ in the source tree (read-only under distcheck).
AM_TESTS_ENVIRONMENT += PYTHONPATH='$(abs_top_builddir)/python:$(abs_top_srcdir)/python'; \
	PYTHONDONTWRITEBYTECODE=1; export PYTHONPATH PYTHONDONTWRITEBYTECODE;
