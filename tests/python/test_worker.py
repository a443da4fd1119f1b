"""paramd.Worker against the real daemon.

Callback mode runs on `type = none` jobs (which send no tasks): pull -> callback -> push,
with the protocol's join, heartbeat and BYE rules. Task mode runs TASK -> RESULT with the
numerics of paramd.compute/paramd.data; here those two modules are replaced by small test
doubles (TestComputer below) whose results are exact, so the test checks the protocol loop
itself: READY, frame 1 kept and reused when the server omits it, RESULT fields, BYE."""
import json
import subprocess
import sys
import threading
import time
import types

import numpy as np
import pytest

import paramd
from paramd.wire import pb
from conftest import _program, kv_job

TARGET = np.array([1.0, 2.0, -4.0, 0.5])


def test_callback_worker_trains_until_the_job_ends(start_paramd):
    d = start_paramd("exit_when_done = yes\n" + kv_job(4, 0.5) + "[stop]\nmax_updates = 12\n")
    seen = []

    def gradient(params, version):
        assert not params.flags.writeable
        seen.append((version, params.copy()))
        return params - TARGET, float(0.5 * ((params - TARGET) ** 2).sum())

    w = paramd.Worker(d.endpoint, name="py-callback", callback=gradient, join_timeout=10)
    reason = w.run()
    assert "job is over" in reason, reason
    assert w.joins == 1 and w.steps == 12 and w.last_ack.applied
    assert [v for v, _ in seen] == list(range(12))   # one worker: every push applied at once
    for k, x in seen:                                 # x_k = t (1 - 2^-k), exact in binary
        np.testing.assert_array_equal(x, TARGET * (1 - 0.5 ** k))
    assert w.last_loss == pytest.approx(0.5 * ((seen[-1][1] - TARGET) ** 2).sum())
    assert d.proc.wait(10) == 0
    assert "name=py-callback" in d.log()


def test_heartbeats_keep_a_slow_callback_joined(start_paramd):
    d = start_paramd(kv_job(4, 0.5).replace("worker_timeout = 5s",
                                            "worker_timeout = 400ms\nheartbeat_interval = 50ms"))
    w = None

    def slow(params, version):
        if w.steps == 0:
            time.sleep(1.2)          # three times worker_timeout
        else:
            w.stop()
        return np.ones(4)

    w = paramd.Worker(d.endpoint, callback=slow, join_timeout=10)
    assert w.run() == "stopped"
    assert w.joins == 1, "evicted while the callback ran"
    assert w.steps == 2 and w.last_ack.applied and w.last_ack.version == 2
    assert "evicted" not in d.log()


def test_callback_worker_rejoins_a_restarted_server(start_paramd):
    """SIGTERM: the server says BYE with job_continues; the worker keeps trying and joins the
    next paramd on the same address (if the BYE is lost with the closing socket, the
    worker_timeout of silence leads to the same rejoin)."""
    job = kv_job(4, 0.5).replace("worker_timeout = 5s",
                                 "worker_timeout = 1s\nheartbeat_interval = 100ms")
    first = start_paramd(job, name="first")
    w = paramd.Worker(first.endpoint, callback=lambda x, v: (time.sleep(0.01), np.ones(4))[1],
                      join_timeout=30)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("reason", w.run()), daemon=True)
    t.start()
    wait_until(lambda: w.steps >= 3, "the first steps")
    assert first.stop() == 0
    steps = w.steps
    second = start_paramd(job, name="second", listen=first.endpoint)
    wait_until(lambda: w.joins == 2 and w.steps >= steps + 3, "a rejoin and new steps")
    w.stop()
    t.join(10)
    assert result.get("reason") == "stopped"
    assert w.last_ack.applied
    assert "gone to wait for the next server" in first.log()
    assert "worker joined" in second.log()


def wait_until(cond, what, secs=20):
    deadline = time.monotonic() + secs
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.02)


def test_none_job_without_callback_says_why(start_paramd):
    d = start_paramd(kv_job(4, 0.5))
    w = paramd.Worker(d.endpoint, join_timeout=10)
    with pytest.raises(paramd.Error, match="callback"):
        w.run()
    deadline = time.monotonic() + 5
    while "said BYE" not in d.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "said BYE" in d.log()


def test_callback_needs_async_sgd(start_paramd):
    d = start_paramd(kv_job(4, 0.5).replace("async-sgd", "sync-sgd"))
    w = paramd.Worker(d.endpoint, callback=lambda x, v: x, join_timeout=10)
    with pytest.raises(paramd.Error, match="only async-sgd"):
        w.run()


def test_join_timeout_against_dead_endpoint():
    from test_kvclient import _dead_endpoint
    w = paramd.Worker(_dead_endpoint(), callback=lambda x, v: x, join_timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(paramd.Timeout, match="join timeout"):
        w.run()
    assert time.monotonic() - t0 < 10


def test_argument_checks():
    with pytest.raises(TypeError):
        paramd.Worker("tcp://127.0.0.1:1", callback=42)
    with pytest.raises(ValueError):
        paramd.Worker("tcp://127.0.0.1:1", join_timeout=0)
    with pytest.raises(ValueError):
        paramd.Worker("tcp://127.0.0.1:1", server_key="x" * 40)


# --- task mode, with test doubles for the numerics ------------------------------------

C = 0.25     # the double's gradient: every sample contributes C to every coordinate
LR = 0.5


class TestComputer:
    """A stand-in for paramd.compute.Computer: GRAD returns n_samples * C per coordinate,
    so each applied update moves every parameter by exactly -LR * C; EVAL returns counts.
    It checks that the vector it is given is the one of the task's version."""
    __test__ = False   # not a pytest class
    calls = []
    elem_types = []    # (kind, elem_type) of every task

    def __init__(self, job, train, test):
        assert (train, test) == ("train-double", None)
        self.dim = job.dim

    def run(self, header, frames):
        x = np.frombuffer(frames[0], dtype="<f4" if header.elem_type == pb.F32 else "<f8")
        ok = bool((x == -LR * C * header.version).all())
        TestComputer.calls.append((header.kind, header.version, ok))
        TestComputer.elem_types.append((header.kind, header.elem_type))
        if header.kind == pb.EVAL:
            return {"n_samples": header.range_end - header.range_begin, "loss_sum": 1.0}, []
        time.sleep(0.005)   # slow enough for several evaluations (at versions > 0) per job
        n = header.batch if header.range_end <= header.range_begin else (
            header.range_end - header.range_begin)
        return {"n_samples": n, "loss_sum": 0.5 * n}, [np.full(self.dim, C * n)]


def _computing_with(computer, tmp_path, monkeypatch, samples, seed):
    """A logistic data set in tmp_path/d.* and the worker's numerical half replaced by
    `computer` (it records the tasks, or sets their pace), so these tests see only the
    protocol loop."""
    datagen = _program("examples/paramd-datagen")
    subprocess.run([datagen, "logistic", "--samples", str(samples), "--features", "6",
                    "--seed", str(seed), "--test-fraction", "0", "--out", str(tmp_path / "d")],
                   check=True, capture_output=True)
    data = types.ModuleType("paramd.data")
    data.load_job_data = lambda job: ("train-double", None)
    compute = types.ModuleType("paramd.compute")
    compute.Computer = computer
    monkeypatch.setitem(sys.modules, "paramd.data", data)
    monkeypatch.setitem(sys.modules, "paramd.compute", compute)
    TestComputer.calls = []
    TestComputer.elem_types = []


def _task_job(tmp_path, job, max_updates, server=""):
    """The configuration of a task-mode test: a logistic job on the data set of
    _computing_with, step LR; `job` holds the [job] section's keys, `server` extra
    [server] keys."""
    return ("exit_when_done = yes\nheartbeat_interval = 200ms\n%s[job]\n%s\n"
            "[model]\ntype = logistic\n[data]\ntrain = %s\nfeatures = 6\n"
            "[optimizer]\nlearning_rate = %s\nschedule = constant\n"
            "[stop]\nmax_updates = %d\n" % (server, job, tmp_path / "d.train.svm", LR,
                                             max_updates))


def test_task_worker_protocol_loop(start_paramd, tmp_path, monkeypatch):
    _computing_with(TestComputer, tmp_path, monkeypatch, samples=300, seed=2)
    d = start_paramd(_task_job(tmp_path, "method = async-sgd\nbatch_size = 16\n"
                                         "eval_interval = 30ms", 40))
    w = paramd.Worker(d.endpoint, name="py-task", join_timeout=10)
    reason = w.run()
    assert "job is over" in reason, reason
    grads = [c for c in TestComputer.calls if c[0] == pb.GRAD]
    assert len(grads) >= 40 and w.steps == len(TestComputer.calls)
    assert all(ok for _, _, ok in TestComputer.calls), TestComputer.calls
    assert [v for _, v, _ in grads][:40] == list(range(40))
    # Two tasks in a row at one version v > 0 (an EVAL started while the GRAD at v computed
    # follows it): the server omits frame 1 from the second, since the worker holds v, and
    # the worker must hand the Computer its kept copy (TestComputer checks the values).
    kinds = [(k, v) for k, v, _ in TestComputer.calls]
    assert pb.EVAL in [k for k, _ in kinds], "no EVAL task came"
    assert any(kinds[i][1] == kinds[i + 1][1] > 0 for i in range(len(kinds) - 1)), str(kinds)
    assert d.proc.wait(10) == 0
    assert "results refused" not in d.log() and "ERR_" not in d.log()


@pytest.mark.parametrize("accepts_f32", [True, False])
def test_task_worker_float32_wire(start_paramd, tmp_path, monkeypatch, accepts_f32):
    """A wire_type = float32 job sends GRAD vectors as F32 to a worker that says it reads
    them, and F64 to one that does not (an older worker); EVAL vectors are always F64. The
    values (multiples of 1/8) are exact either way, and the job trains to its end."""
    _computing_with(TestComputer, tmp_path, monkeypatch, samples=300, seed=2)
    d = start_paramd(_task_job(tmp_path, "method = async-sgd\nwire_type = float32\n"
                                         "batch_size = 16\neval_interval = 30ms", 40))
    w = paramd.Worker(d.endpoint, name="py-f32", join_timeout=10)
    w._hello.accepts_f32 = accepts_f32
    reason = w.run()
    assert "job is over" in reason, reason
    assert all(ok for _, _, ok in TestComputer.calls), TestComputer.calls
    grad_types = {t for k, t in TestComputer.elem_types if k == pb.GRAD}
    eval_types = {t for k, t in TestComputer.elem_types if k == pb.EVAL}
    assert grad_types == {pb.F32 if accepts_f32 else pb.F64}, TestComputer.elem_types
    assert eval_types == {pb.F64}, TestComputer.elem_types
    assert d.proc.wait(10) == 0
    assert "results refused" not in d.log() and "ERR_" not in d.log()


class FlakyComputer(TestComputer):
    """TestComputer whose first `failures` GRAD tasks raise, as a broken data file would."""
    __test__ = False
    failures = 0

    def run(self, header, frames):
        if header.kind == pb.GRAD and FlakyComputer.failures > 0:
            FlakyComputer.failures -= 1
            raise ValueError("a task that cannot be computed")
        return super().run(header, frames)


def test_failing_tasks_pause_the_rejoins(start_paramd, tmp_path, monkeypatch):
    """A task that fails sends the worker to rejoin; tasks that keep failing must not make a
    storm of HELLOs: the pause before each rejoin doubles from 100 ms (about six joins in 3 s,
    not thousands), and once a task runs again the job trains to its end."""
    _computing_with(FlakyComputer, tmp_path, monkeypatch, samples=300, seed=2)
    FlakyComputer.failures = 10 ** 9
    d = start_paramd(_task_job(tmp_path, "method = async-sgd\nbatch_size = 16\n"
                                         "eval_interval = 0", 20))
    w = paramd.Worker(d.endpoint, name="flaky", join_timeout=10)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("reason", w.run()), daemon=True)
    t.start()
    time.sleep(3.0)
    joins = w.joins
    assert 3 <= joins <= 7, "%d joins in 3 s of failing tasks" % joins
    FlakyComputer.failures = 0      # the next task runs: the job goes on to its end
    t.join(30)
    assert "job is over" in result.get("reason", ""), result
    assert w.joins <= joins + 1 and w.steps >= 20
    assert d.proc.wait(10) == 0


class DelayComputer(TestComputer):
    """TestComputer whose GRADs take a set time: the first one built (the first worker to
    load) takes DELAYS[0], the next DELAYS[1]."""
    __test__ = False
    delays = []

    def __init__(self, job, train, test):
        super().__init__(job, train, test)
        self.delay = DelayComputer.delays.pop(0)

    def run(self, header, frames):
        time.sleep(self.delay)
        return super().run(header, frames)


def test_task_worker_abandons_cancelled_tasks(start_paramd, tmp_path, monkeypatch):
    """rennala-sgd steps as soon as step_batch samples at the current point are in: the fast
    worker makes every step, and the slow worker's task at the old point is CANCELled. The
    slow worker must drop it (no RESULT: the server would count a late one) and take its
    next task."""
    _computing_with(DelayComputer, tmp_path, monkeypatch, samples=400, seed=3)
    DelayComputer.delays = [0.3, 0.004]
    d = start_paramd(_task_job(tmp_path, "method = rennala-sgd\nbatch_size = 100\n"
                                         "step_batch = 200\neval_interval = 0", 200,
                               server="metrics_log = m.jsonl\n"))
    slow = paramd.Worker(d.endpoint, name="slow", join_timeout=10)
    fast = paramd.Worker(d.endpoint, name="fast", join_timeout=10)
    reasons = {}
    threads = [threading.Thread(target=lambda w=w: reasons.setdefault(w, w.run()), daemon=True)
               for w in (slow, fast)]
    threads[0].start()
    # the slow one first: alone, the fast one could finish the job before the other is ready
    wait_until(lambda: "worker ready" in d.log() and "name=slow" in d.log(), "the slow worker")
    threads[1].start()
    for t in threads:
        t.join(60)
    assert all("job is over" in reasons.get(w, "") for w in (slow, fast)), reasons
    assert slow.cancelled >= 2, "the slow worker abandoned %d tasks" % slow.cancelled
    assert all(ok for _, _, ok in TestComputer.calls)
    assert d.proc.wait(10) == 0
    done = [json.loads(line) for line in (d.dir / "m.jsonl").read_text().splitlines()
            if '"done"' in line][-1]
    assert done["tasks_cancelled_total"] >= slow.cancelled
    # the slow worker's first task ran inline (no helper thread yet), so its result may
    # arrive late; every task abandoned after that sent nothing
    assert done["results_cancelled_late_total"] <= 1, done
    assert "refused" not in d.log() and "ERR_" not in d.log()


def test_join_timeout_while_the_server_drains():
    """Regression: a join that ran out of time while every HELLO got a BYE with
    job_continues (a server going down for a restart) raised NameError, not Timeout. The
    draining server here is a bare ROUTER that answers each HELLO that way."""
    import zmq
    from paramd import wire
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind("tcp://127.0.0.1:*")
    endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
    done = threading.Event()

    def drain():
        while not done.is_set():
            if router.poll(20):
                rid, _ = router.recv_multipart()
                bye = wire.header(pb.BYE, job_continues=True,
                                  reason="the server is stopping, the job is not over: test")
                router.send_multipart([rid] + wire.encode(bye))

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    try:
        w = paramd.Worker(endpoint, callback=lambda x, v: x, join_timeout=0.5)
        with pytest.raises(paramd.Timeout, match="join timeout"):
            w.run()
    finally:
        done.set()
        t.join(5)
        router.close()
        ctx.term()
