"""Fixtures of the Python client tests: the REAL paramd of this build tree, started on an
ephemeral port in a temporary directory, as tests/integration/lib.sh does for the shell
tests (listen on tcp://127.0.0.1:0, read the bound endpoint back from endpoint_file, poll
with a deadline, never sleep-and-hope; stop it at the end and show its log on failure).

make check sets top_builddir (AM_TESTS_ENVIRONMENT) and PYTHONPATH.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

TOP_BUILDDIR = os.environ.get("top_builddir")
TOP_SRCDIR = os.environ.get("top_srcdir")


def _program(rel):
    if not TOP_BUILDDIR:
        pytest.skip("top_builddir is not set: run through make check (or set it to a build "
                    "tree)")
    path = os.path.join(TOP_BUILDDIR, rel)
    if not os.access(path, os.X_OK):
        pytest.fail("%s is not built (run make check)" % path)
    return path


class Daemon:
    """A running paramd: ``endpoint``, ``dir`` (its working directory), ``log()``."""

    def __init__(self, proc, endpoint, workdir, log_path):
        self.proc = proc
        self.endpoint = endpoint
        self.dir = workdir
        self.log_path = log_path

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stop it (SIGTERM, then SIGKILL after ``timeout``); returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def start_paramd(tmp_path, request):
    """``start_paramd(sections, *args)`` starts the daemon with the given configuration text
    (everything after a [server] section that fixes the listen address and endpoint file;
    it may add keys to [server] first) and waits until it listens. ``name`` names its
    working directory (several daemons per test); ``listen`` reuses an endpoint (a restart
    on the same port). Stopped at teardown."""
    exe = _program("server/paramd")
    started = []

    def start(sections, *args, name="paramd", listen="tcp://127.0.0.1:0"):
        workdir = tmp_path / name
        workdir.mkdir()
        conf = workdir / "paramd.conf"
        conf.write_text("[server]\nlisten = %s\nendpoint_file = endpoint\n"
                        "progress = no\nlog_level = info\n" % listen + sections)
        log_path = workdir / "paramd.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([exe, "-c", str(conf)] + list(args), cwd=workdir,
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        d = Daemon(proc, None, workdir, log_path)
        started.append(d)
        deadline = time.monotonic() + 20
        ep_file = workdir / "endpoint"
        while not (ep_file.exists() and ep_file.read_text().strip()):
            if proc.poll() is not None:
                pytest.fail("paramd exited (status %d) before listening:\n%s"
                            % (proc.returncode, d.log()))
            if time.monotonic() > deadline:
                pytest.fail("paramd did not write its endpoint within 20 s:\n%s" % d.log())
            time.sleep(0.02)
        d.endpoint = ep_file.read_text().strip()
        return d

    yield start
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for d in started:
        d.stop()
        if failed:
            sys.stderr.write("===== %s (last 80 lines) =====\n" % d.log_path)
            sys.stderr.write("".join(d.log().splitlines(True)[-80:]))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # keep each phase's report on the test item, so the fixture knows whether to print logs
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def paramctl():
    """Path of this build's paramctl (keygen for the CURVE tests)."""
    return _program("server/paramctl")


#: A key-value job: a plain vector, sgd with a fixed step, as examples/kv.conf.
KV_JOB = """
worker_timeout = 5s
[job]
method = async-sgd
max_staleness = 2
[model]
type = none
dim = %(dim)d
[optimizer]
type = sgd
learning_rate = %(lr)s
schedule = constant
"""


def kv_job(dim=8, lr=0.5):
    """The configuration text of a key-value job of ``dim`` keys and step ``lr``."""
    return KV_JOB % {"dim": dim, "lr": lr}
