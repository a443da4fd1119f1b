"""A shard's COMMIT of values (doc/protocol.md "Several servers"): shard 0 of a job whose
method steps the whole vector (newton-cg, lbfgs, apts, fosi, dho2) sends every other shard
its range's new values. Here the test plays shard 0 against a real ``paramd --shard 1``:
  - a well-formed COMMIT of values moves the shard's version by one, and a reader then reads
    exactly those bits from it;
  - a COMMIT of values in float32, one naming a task, or one that does not cover the shard's
    range is refused with an ERROR naming the problem, and the shard, which can no longer
    follow shard 0, stops with status 1 after saying why;
  - one with NaN is not taken: the shard keeps its values, counts the version (it stays in
    step with shard 0) and answers ERR_NONFINITE, which shard 0 treats as a divergence;
  - a COMMIT from a client that did not register as shard 0 is refused and changes nothing."""
import numpy as np
import pytest

import pdref

from paramd import connection, wire
from paramd.wire import pb

DIM = 1500  # 2 servers: shard 1 holds [1024, 1500)
BEGIN, END = 1024, 1500
JOB = ("worker_timeout = 30s\nshards = 2\n[job]\nmethod = async-sgd\n"
       "[model]\ntype = none\ndim = %d\n[optimizer]\nlearning_rate = 0.1\n" % DIM)


def join(endpoint, shard_index):
    """A connection that registered as shard 0 (shard_index 1) or as a reader (0)."""
    c = connection.Connection(endpoint)
    c.hello(pb.Hello(name="shard 0" if shard_index else "reader", kv_only=True,
                     shard_index=shard_index), 10)
    return c


def commit(c, version, frame, elem=pb.F64, offset=BEGIN, length=END - BEGIN, **fields):
    h = wire.header(pb.COMMIT, version=version, commit_values=True, key_offset=offset,
                    key_length=length, elem_type=elem, **fields)
    c.send(h, [frame])


def reply(c, timeout=10):
    got = c.recv(timeout)
    assert got is not None, "no answer from the shard"
    return got[0]


def read_range(c, min_version):
    return pdref.read_shard_range(c, BEGIN, END - BEGIN, min_version)


def shard(start_paramd, name):
    return start_paramd(JOB, "--shard", "1", name=name)


def test_values_are_taken_bit_for_bit(start_paramd):
    d = shard(start_paramd, "good")
    s0, reader = join(d.endpoint, 1), join(d.endpoint, 0)
    values = np.sin(np.arange(END - BEGIN) * 0.7) * 1e-3 + np.pi
    commit(s0, 1, wire.f64_frame(values))
    version, got = read_range(reader, 1)
    assert version == 1
    assert np.array_equal(got.view(np.uint64), values.view(np.uint64))
    # a reader's COMMIT: refused, nothing changed
    commit(reader, 2, wire.f64_frame(np.zeros(END - BEGIN)))
    h = reply(reader)
    assert h.type == pb.ERROR and "from its shard 0" in h.reason, h
    version, got = read_range(reader, 0)
    assert version == 1 and np.array_equal(got.view(np.uint64), values.view(np.uint64))


@pytest.mark.parametrize("case, want", [
    ("float32", "one float64 frame"),
    ("task", "name no task"),
    ("short", "one float64 frame"),
])
def test_bad_values_are_refused(start_paramd, case, want):
    d = shard(start_paramd, case)
    s0 = join(d.endpoint, 1)
    values = np.full(END - BEGIN, 0.5)
    if case == "float32":
        commit(s0, 1, wire.f32_frame(values), elem=pb.F32)
    elif case == "task":
        commit(s0, 1, wire.f64_frame(values), task_id=7)
    else:
        commit(s0, 1, wire.f64_frame(values[1:]), offset=BEGIN + 1, length=END - BEGIN - 1)
    h = reply(s0)
    assert h.type == pb.ERROR and want in h.reason, h
    assert d.proc.wait(10) == 1, "the shard went on after a COMMIT it cannot follow"
    assert want in d.log()


def test_nan_values_are_not_taken_and_reported(start_paramd):
    d = shard(start_paramd, "nan")
    s0, reader = join(d.endpoint, 1), join(d.endpoint, 0)
    values = np.full(END - BEGIN, 0.5)
    values[3] = np.nan
    commit(s0, 1, wire.f64_frame(values))
    h = reply(s0)
    assert h.type == pb.ERROR and h.error == pb.ERR_NONFINITE, h
    assert "update 1 not applied: a value of keys [1024, 1500) is NaN or Inf" in h.reason
    version, got = read_range(reader, 1)
    assert version == 1 and np.array_equal(got, np.zeros(END - BEGIN)), "values taken"
    assert d.proc.poll() is None, "the shard stopped"
