"""The estimate a shard keeps for freya-page and sync-page (doc/protocol.md "Several servers",
estimates): workers send shard i > 0 its part of each GRAD and GRAD_DIFF result, shard 0
names each result it takes (COMMIT ESTIMATE_SLOT or ESTIMATE_COMPENSATED, no step) and ends
the round with ESTIMATE_SET or ESTIMATE_INCREMENT, the step. The test plays the worker and
shard 0 against a real ``paramd --shard 1``:
  - slots are summed in slot order whatever order they were named in; SET makes g the sum
    over n_samples and the step x - lr g; INCREMENT adds the round's compensated sum over
    n_samples to g, and steps again;
  - a round's point stays readable after its step (PULL with exact_version: a GRAD_DIFF
    task's y), until the next step; an older version is refused with an ERROR;
  - COMMITs that do not fit what the shard holds (a step of a round without parts, an
    increment of an estimate never set, a slot filled twice, a slot count that is not the
    slots that came, ordered and compensated parts in one round, a part at another version)
    are refused with an ERROR naming the problem, and the shard, which can no longer follow
    shard 0, stops with status 1;
  - shard 0 of such a job refuses a worker that does not say it reads y from the shards
    (Hello.reads_exact_versions), naming what it lacks."""
import numpy as np
import pytest

import pdref

from paramd import WrongState, connection, wire
from paramd.wire import pb

FEATURES = 2047  # logistic with a bias: 2048 parameters, shard 1 holds [1024, 2048)
BEGIN, END = 1024, 2048
N = END - BEGIN
LR = 0.5


def job(tmp_path):
    data = tmp_path / "d.svm"
    data.write_text("".join("%d 1:%g %d:1\n" % (i % 2, i * 0.1, 2 + i) for i in range(40)))
    return ("worker_timeout = 30s\nshards = 2\n[job]\nmethod = freya-page\n"
            "[model]\ntype = logistic\n[data]\ntrain = %s\nfeatures = %d\n"
            "[optimizer]\ntype = sgd\nlearning_rate = %g\n" % (data, FEATURES, LR))


def join(endpoint, shard_index):
    """A connection that registered as shard 0 (shard_index 1) or as a reader (0)."""
    c = connection.Connection(endpoint)
    c.hello(pb.Hello(name="shard 0" if shard_index else "worker", kv_only=True,
                     shard_index=shard_index), 10)
    return c


def part(c, task_id, values):
    """A worker's PART, which the shard acknowledges once it holds it."""
    c.send(wire.header(pb.PART, task_id=task_id, key_offset=BEGIN, key_length=N,
                       elem_type=pb.F64), [wire.f64_frame(values)])
    got = c.recv(10)
    assert got is not None and got[0].type == pb.ACK and got[0].task_id == task_id, got


def add(c, version, task_id, rnd, slot=None):
    est = pb.ESTIMATE_COMPENSATED if slot is None else pb.ESTIMATE_SLOT
    c.send(wire.header(pb.COMMIT, version=version, task_id=task_id, round_id=rnd, estimate=est,
                       estimate_slot=slot or 0))


def step(c, version, rnd, how, slots, n):
    c.send(wire.header(pb.COMMIT, version=version, round_id=rnd, estimate=how,
                       estimate_slot=slots, n_samples=n, learning_rate=LR, kind=pb.GRAD,
                       key_offset=BEGIN, key_length=N))


def read_range(c, min_version):
    return pdref.read_shard_range(c, BEGIN, N, min_version)


def read_exact(c, version):
    """The answer to a PULL of exactly `version` (PARAMS or ERROR) and its values."""
    c.send(wire.header(pb.PULL, key_offset=BEGIN, key_length=N, min_version=version,
                       exact_version=True))
    got = c.recv(10)
    assert got is not None, "no answer from the shard within 10 s"
    h, frames = got
    return h, np.frombuffer(bytes(frames[0]), dtype=wire.F64) if frames else None


def neumaier(parts):
    """freya_core's compensated sum of the parts, in this order."""
    s, c = np.zeros(N), np.zeros(N)
    for v in parts:
        t = s + v
        c += np.where(np.abs(s) >= np.abs(v), (s - t) + v, (v - t) + s)
        s = t
    return s + c


def same_bits(a, b):
    return np.array_equal(a.view(np.uint64), b.view(np.uint64))


def test_rounds_move_the_estimate(start_paramd, tmp_path):
    d = start_paramd(job(tmp_path), "--shard", "1", name="good")
    s0, w = join(d.endpoint, 1), join(d.endpoint, 0)
    rng = np.random.default_rng(5)
    # parts whose sums depend on the order they are added in
    big = rng.standard_normal(N) * 1e16
    a, b, c = big, -big, rng.standard_normal(N)  # in slot order: exactly c
    e, f = rng.standard_normal(N) * 1e17, rng.standard_normal(N)
    _, x0 = read_range(w, 0)
    # a full round of three slots, named out of order; a part nobody names stays unused
    for task, v in ((11, a), (12, b), (13, c), (99, np.full(N, 1e6))):
        part(w, task, v)
    add(s0, 0, 13, 1, slot=2)
    add(s0, 0, 11, 1, slot=0)
    add(s0, 0, 12, 1, slot=1)
    step(s0, 1, 1, pb.ESTIMATE_SET, 3, 3)
    version, x1 = read_range(w, 1)
    g1 = (((np.zeros(N) + a) + b) + c) * (1.0 / 3)  # slot order onto zeros, times 1 / n
    assert version == 1
    assert same_bits(x1, x0 - LR * g1)  # LR = 0.5: LR * g is exact, the step one rounding
    # a difference round: the compensated sum in the order named (f, then e)
    part(w, 14, e)
    part(w, 15, f)
    add(s0, 1, 15, 2)
    add(s0, 1, 14, 2)
    step(s0, 2, 2, pb.ESTIMATE_INCREMENT, 0, 3)
    version, x2 = read_range(w, 2)
    assert version == 2
    assert same_bits(x2, x1 - LR * (g1 + neumaier([f, e]) / 3))
    # the point of the last round (y of the next difference round) is still there, exactly
    h, y = read_exact(w, 1)
    assert h.type == pb.PARAMS and h.version == 1, h
    assert same_bits(y, x1)
    h, now = read_exact(w, 2)
    assert h.type == pb.PARAMS and same_bits(now, x2)
    h, _ = read_exact(w, 0)
    assert h.type == pb.ERROR and h.error == pb.ERR_VERSION_GONE, h
    assert "version 0 is no longer kept" in h.reason, h


@pytest.mark.parametrize("case, want", [
    ("no-parts", "before any of its parts"),
    ("never-set", "has not set since it started"),
    ("twice", "filled twice"),
    ("count", "sums 3 slots, 2 came"),
    ("mixed", "mixes an ordered and a compensated sum"),
    ("version", "out of step"),
])
def test_commits_that_do_not_fit_are_refused(start_paramd, tmp_path, case, want):
    d = start_paramd(job(tmp_path), "--shard", "1", name=case)
    s0, w = join(d.endpoint, 1), join(d.endpoint, 0)
    for task in (1, 2, 3):
        part(w, task, np.full(N, 0.25 * task))
    if case == "no-parts":
        step(s0, 1, 1, pb.ESTIMATE_SET, 0, 1)
    elif case == "never-set":
        add(s0, 0, 1, 1)
        step(s0, 1, 1, pb.ESTIMATE_INCREMENT, 0, 1)
    elif case == "twice":
        add(s0, 0, 1, 1, slot=0)
        add(s0, 0, 2, 1, slot=0)
    elif case == "count":
        add(s0, 0, 1, 1, slot=0)
        add(s0, 0, 2, 1, slot=1)
        step(s0, 1, 1, pb.ESTIMATE_SET, 3, 2)
    elif case == "mixed":
        add(s0, 0, 1, 1, slot=0)
        add(s0, 0, 2, 1)
    else:
        add(s0, 3, 1, 1)
    got = s0.recv(10)
    assert got is not None, "no answer from the shard"
    assert got[0].type == pb.ERROR and want in got[0].reason, got[0]
    assert d.proc.wait(10) == 1, "the shard went on after a COMMIT it cannot follow"
    assert want in d.log()


def test_a_worker_that_cannot_read_y_from_the_shards_is_refused(start_paramd, tmp_path):
    d = start_paramd(job(tmp_path), "--local-shards", "2", name="sharded")
    old = connection.Connection(d.endpoint)
    with pytest.raises(WrongState) as refused:
        old.hello(pb.Hello(name="old", reads_shard_keys=True), 10)
    assert "reads_exact_versions" in str(refused.value)
    new = connection.Connection(d.endpoint)
    assert new.hello(pb.Hello(name="new", reads_shard_keys=True, reads_exact_versions=True),
                     10).type == pb.WELCOME
