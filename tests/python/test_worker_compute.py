"""End to end: the real server/paramd runs the same job twice, once with paramd-worker and
once with the Python paramd.Worker computing through paramd.data and paramd.compute; the
final objective the server logs (metrics_log) must agree to 1e-12 relative, and the
accuracy exactly. Covers sync-sgd on a
sparse logistic job and APTS (LOCAL_TR) on a small MLP. Skipped where the Python Worker
(the client half of the package) or the built programs are absent."""
import json
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pdref import SRCDIR  # noqa: E402

BUILDDIR = os.environ.get("top_builddir", SRCDIR)
FASHION = "/usr/share/datasets/fashion-mnist/"

JOBS = {
    "logistic-sync": """[job]
method = sync-sgd
batch_size = 64
eval_interval = 20ms
[model]
type = logistic
[data]
train = {src}/examples/data/breast-cancer.train.svm
test = {src}/examples/data/breast-cancer.test.svm
features = 30
[optimizer]
learning_rate = 0.1
schedule = constant
[stop]
max_updates = 30
""",
    "mlp-apts": """[job]
method = apts
apts_blocks = 2
apts_batch = 300
apts_local_iters = 3
seed = 1
eval_interval = 1h
[model]
type = mlp
layers = 784,16,10
activation = tanh
init_seed = 1
[data]
train = {fm}train-images-idx3-ubyte.gz
train_labels = {fm}train-labels-idx1-ubyte.gz
test = {fm}t10k-images-idx3-ubyte.gz
test_labels = {fm}t10k-labels-idx1-ubyte.gz
max_samples = 1500
[optimizer]
regularizer = l2
l2 = 1e-4
[stop]
max_updates = 6
""",
}


def _program(rel):
    path = os.path.join(BUILDDIR, rel)
    if not os.access(path, os.X_OK):
        pytest.skip("%s not built" % rel)
    return path


def _run_job(tmp, name, body, worker):
    """Runs the job with one worker ("c" or "py"); returns the metrics log's records."""
    work = tmp / ("%s-%s" % (name, worker))
    work.mkdir()
    (work / "paramd.conf").write_text(
        "[server]\nlisten = tcp://127.0.0.1:0\nendpoint_file = endpoint\nprogress = no\n"
        "exit_when_done = yes\nmetrics_log = metrics.jsonl\n" + body)
    log = open(work / "paramd.log", "wb")
    server = subprocess.Popen([_program("server/paramd"), "-c", "paramd.conf"], cwd=work,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        ep = work / "endpoint"
        while not (ep.exists() and ep.read_text().strip()):
            assert server.poll() is None, (work / "paramd.log").read_text()
            assert time.monotonic() < deadline, "paramd did not listen"
            time.sleep(0.02)
        endpoint = ep.read_text().strip()
        if worker == "c":
            subprocess.run([_program("worker/paramd-worker"), "--server", endpoint,
                            "--threads", "1"], cwd=work, capture_output=True, timeout=300)
        else:
            import paramd
            w = paramd.Worker(endpoint, name="py", join_timeout=10)
            reason = w.run()
            assert "job is over" in reason, reason
        assert server.wait(60) == 0, (work / "paramd.log").read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
    text = (work / "paramd.log").read_text()
    assert "ERR_" not in text and "refused" not in text, text
    return [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", sorted(JOBS))
def test_python_worker_trains_like_paramd_worker(name, tmp_path):
    try:
        import paramd
        paramd.Worker  # noqa: B018  (the client half of the package)
    except (ImportError, AttributeError):
        pytest.skip("paramd.Worker (the client package) is not on PYTHONPATH")
    if name.startswith("mlp") and not os.path.exists(FASHION + "train-images-idx3-ubyte.gz"):
        pytest.skip("no Fashion-MNIST under " + FASHION)
    body = JOBS[name].format(src=SRCDIR, fm=FASHION)
    want = _run_job(tmp_path, name, body, "c")
    got = _run_job(tmp_path, name, body, "py")
    # Records are sampled in time and the Python worker is slower, so only the last one,
    # written when the job ends (same update count, final evaluation), is comparable.
    assert want[-1]["updates_total"] == got[-1]["updates_total"]
    a, b = want[-1]["objective"], got[-1]["objective"]
    assert a == a and abs(a - b) <= 1e-12 * max(abs(a), 1e-300), (a, b)
    assert want[-1].get("test_accuracy") == got[-1].get("test_accuracy")


def test_python_worker_reaches_the_reference_optimum(tmp_path):
    """The Python worker alone trains a small LIBSVM problem (breast-cancer, L2 logistic
    regression) with newton-cg to the optimum refsolve computes in one process, within 1e-8
    of it (relative)."""
    try:
        import paramd
        paramd.Worker  # noqa: B018
    except (ImportError, AttributeError):
        pytest.skip("paramd.Worker (the client package) is not on PYTHONPATH")
    train = os.path.join(SRCDIR, "examples/data/breast-cancer.train.svm")
    ref = subprocess.run([_program("tests/integration/refsolve"), "optimum", "--train", train,
                          "--features", "30", "--reg", "l2", "--l2", "0.01"],
                         capture_output=True, text=True, timeout=120)
    assert ref.returncode == 0, ref.stderr
    optimum = float(ref.stdout.split()[0])
    body = """[job]
method = newton-cg
solver_tolerance = 1e-10
eval_interval = 0
[model]
type = logistic
[data]
train = {train}
features = 30
[optimizer]
regularizer = l2
l2 = 0.01
[stop]
max_seconds = 120s
""".format(train=train)
    got = _run_job(tmp_path, "optimum", body, "py")[-1]
    assert got["event"] == "done", got
    assert abs(got["objective"] - optimum) <= 1e-8 * abs(optimum), (got["objective"], optimum)
