"""paramd.KVClient against the real daemon: pull/push semantics, NOT_MODIFIED, ranges, the
server's errors mapped to their exceptions (with the server's reason), timeouts, pipelining.
Numbers: sgd with a constant step on a `type = none` job is exactly x <- x - lr * g, and
every value used is a binary fraction, so the comparisons are exact."""
import socket
import time

import numpy as np
import pytest

import paramd
from paramd import wire
from paramd.wire import pb
from conftest import kv_job

DIM = 8
LR = 0.5


@pytest.fixture
def server(start_paramd):
    return start_paramd(kv_job(DIM, LR))


@pytest.fixture
def client(server):
    with paramd.KVClient(server.endpoint, name="pytest", timeout=5.0) as c:
        yield c


def test_join_and_first_pull(client):
    assert client.dim == DIM
    assert client.job.model == "none"
    assert client.worker_id >= 1
    x, version = client.pull()
    assert version == 0
    assert x.dtype == np.float64 and x.shape == (DIM,)
    assert not x.any()


def test_push_moves_pull_by_one_sgd_step(client):
    g = np.arange(DIM, dtype=np.float64) - 3.0
    ack = client.push(g, version=0)
    assert isinstance(ack, paramd.Ack)
    assert ack.applied and ack.accepted and not ack.rejected and not ack.stale_dropped
    assert ack.status == paramd.AckStatus.APPLIED
    assert (ack.version, ack.staleness, ack.learning_rate) == (1, 0, LR)
    assert (ack.key_offset, ack.key_length) == (0, DIM)
    x, version = client.pull()
    assert version == 1
    np.testing.assert_array_equal(x, -LR * g)
    # a second push computed at version 0 is one version stale, still applied
    ack = client.push(np.ones(DIM), version=0)
    assert ack.applied and ack.staleness == 1 and ack.version == 2
    np.testing.assert_array_equal(client.pull()[0], -LR * g - LR)


def test_push_version_defaults_to_last_seen(client):
    client.push(np.ones(DIM))            # at the WELCOME's version 0
    _, v = client.pull()
    assert client.version == v == 1
    ack = client.push(np.ones(DIM))      # at the pulled version: not stale
    assert ack.staleness == 0 and ack.version == 2


def test_range_pull_and_push(client):
    g = np.array([1.0, 2.0, 4.0])
    ack = client.push(g, offset=3)
    assert ack.applied and (ack.key_offset, ack.key_length) == (3, 3)
    part, v = client.pull(offset=2, length=4)
    np.testing.assert_array_equal(part, [0.0, -0.5, -1.0, -2.0])
    tail, _ = client.pull(offset=5)      # length None: to the end
    np.testing.assert_array_equal(tail, [-2.0, 0.0, 0.0])
    assert v == 1


def test_pull_into_out(client):
    client.push(np.full(DIM, 2.0))
    out = np.full(4, 7.0)
    r = client.pull(offset=4, out=out)   # length from out's size: the rest of the keys
    assert r.params is out and r.version == 1 and not r.not_modified
    np.testing.assert_array_equal(out, np.full(4, -1.0))


def test_not_modified(client):
    x, v = client.pull()
    x[:] = 42.0                          # a marker: a not-modified answer must not touch it
    r = client.pull(out=x, version=v)
    assert r.not_modified and r.params is x and r.version == v
    assert (x == 42.0).all()
    client.push(np.ones(DIM))
    r = client.pull(out=x, version=v)    # the server moved on: data comes
    assert not r.not_modified and r.version == v + 1
    np.testing.assert_array_equal(x, np.full(DIM, -LR))
    # a range, as libparamd-client
    part = np.empty(2)
    client.pull(offset=1, length=2, out=part)
    assert client.pull(offset=1, length=2, out=part, version=v + 1).not_modified


def test_not_modified_per_range(start_paramd):
    """A pull of a range no push wrote since the held version is answered not-modified even
    though the version moved on (pushes mark the blocks of 512 keys they write); the answer
    names the version held. A range a push touched gets the data."""
    d = start_paramd(kv_job(dim=2048))
    with paramd.KVClient(d.endpoint, timeout=5) as c:
        far, v = c.pull(offset=1024, length=1024)
        near = np.empty(10)
        c.pull(offset=0, length=10, out=near)
        far[:] = 7.0                                        # a marker
        ack = c.push(np.ones(10), offset=0, version=v)      # writes keys 0..9: block 0 only
        assert ack.applied and ack.version == v + 1
        r = c.pull(offset=1024, length=1024, out=far, version=v)
        assert r.not_modified and r.version == v and (far == 7.0).all()
        r = c.pull(offset=0, length=10, out=near, version=v)
        assert not r.not_modified and r.version == v + 1 and (near < 0).all()
        r = c.pull(offset=500, length=20, out=np.empty(20), version=v)   # spans blocks 0, 1
        assert not r.not_modified
        assert not c.pull(out=np.empty(2048), version=v).not_modified   # the whole vector


def test_pull_out_of_range_raises_with_reason(client):
    with pytest.raises(paramd.DimensionError) as e:
        client.pull(offset=DIM)
    assert e.value.code == pb.ERR_DIMENSION and e.value.name == "ERR_DIMENSION"
    assert "outside" in e.value.reason or str(DIM) in e.value.reason, e.value.reason
    with pytest.raises(paramd.DimensionError):
        client.pull(offset=DIM - 2, length=3)
    assert client.pull(offset=DIM - 2, length=2)[0].shape == (2,)   # still in business


def test_push_out_of_range_is_rejected_with_reason(client):
    with pytest.raises(paramd.DimensionError) as e:
        client.push(np.ones(4), offset=DIM - 2)
    assert isinstance(e.value, paramd.Rejected)
    assert e.value.ack.rejected and e.value.ack.error == pb.ERR_DIMENSION
    assert "outside the model's %d keys" % DIM in e.value.reason, e.value.reason
    ack = client.push(np.ones(4), offset=DIM - 2, raise_on_reject=False)
    assert ack.rejected and ack.reason and ack.version == 0
    assert not client.pull()[0].any()    # nothing changed


def test_push_nonfinite_is_rejected(client):
    g = np.zeros(DIM)
    g[3] = np.nan
    with pytest.raises(paramd.NonFiniteError) as e:
        client.push(g)
    assert isinstance(e.value, paramd.Rejected) and e.value.reason


def test_push_future_version_is_rejected(client):
    with pytest.raises(paramd.FutureVersion) as e:
        client.push(np.ones(DIM), version=1000)
    assert "1000" in e.value.reason or e.value.reason


def test_stale_push_is_dropped_not_raised(client):
    for _ in range(3):
        assert client.push(np.ones(DIM), version=0).applied
    ack = client.push(np.ones(DIM), version=0)   # staleness 3 > max_staleness 2
    assert ack.stale_dropped and ack.staleness == 3 and ack.version == 3


def test_too_big_push(client):
    # over the server's message limit (2 x dim x 8 + 64 KiB): an ERROR, not an ACK
    with pytest.raises(paramd.TooBig) as e:
        client.push(np.ones(20000))
    assert e.value.reason
    assert client.pull()[1] == 0


def test_wrong_state_push_on_sync_job(start_paramd):
    d = start_paramd(kv_job(DIM, LR).replace("method = async-sgd", "method = sync-sgd"))
    with paramd_client(d) as c:
        with pytest.raises(paramd.WrongState) as e:
            c.push(np.ones(DIM))
        assert isinstance(e.value, paramd.Rejected) and e.value.reason
        assert c.pull()[1] == 0           # pulls work under every method


def paramd_client(d, **kw):
    return paramd.KVClient(d.endpoint, timeout=5.0, **kw)


def test_raw_protocol_errors_map_to_their_classes(client):
    """Errors the public API never provokes, sent through the client's own connection."""
    conn = client._conn
    cases = [
        (wire.header(pb.PULL), "proto_version", 2, paramd.ProtocolVersionError),
        (wire.header(pb.PARAMS), None, None, paramd.MalformedError),
    ]
    for h, field, value, cls in cases:
        if field:
            setattr(h, field, value)
        rid = conn.send(h)
        r, _ = conn.recv(5.0)
        assert r.type == pb.ERROR and r.request_id == rid
        e = paramd.errors.from_wire(r.error, r.reason, r.request_id)
        assert type(e) is cls and e.reason, (cls, r)
    # frames that do not match their counts
    h = wire.header(pb.PULL)
    parts = wire.encode(h, [np.zeros(2)])
    conn.sock.send_multipart(parts[:1])    # declares one frame, sends none
    r, _ = conn.recv(5.0)
    assert isinstance(paramd.errors.from_wire(r.error, r.reason), paramd.FramesError)
    assert "frames" in r.reason


def test_float32_pull_and_push_on_the_wire(client):
    """A range PULL whose elem_type is F32 gets an F32 PARAMS frame, the parameters rounded to
    nearest; an F32 PUSH is applied as its values widened (the step here is exact)."""
    conn = client._conn
    g = (np.arange(DIM, dtype=np.float32) - 3) / 8
    h = wire.header(pb.PUSH, key_offset=0, key_length=DIM, version=client.pull()[1],
                    elem_type=pb.F32)
    rid = conn.send(h, [memoryview(g).cast("B")])
    r, _ = conn.recv(5.0)
    assert r.type == pb.ACK and r.request_id == rid and r.ack == pb.APPLIED, r
    x, _ = client.pull()
    assert (x == -LR * g.astype(np.float64)).all(), x
    client.push(np.full(DIM, 1.0 / 3.0), version=r.version)
    x, _ = client.pull()
    rid = conn.send(wire.header(pb.PULL, key_offset=0, key_length=DIM, elem_type=pb.F32))
    r, frames = conn.recv(5.0)
    assert r.type == pb.PARAMS and r.request_id == rid and r.elem_type == pb.F32, r
    got = np.frombuffer(bytes(frames[0]), dtype="<f4")
    assert (got == x.astype(np.float32)).all() and not (got == x).all()


def test_float32_through_the_client(client):
    """pull(dtype=np.float32) gives the parameters rounded to float32 (into a float32 out
    too, and NOT_MODIFIED for a held version); a float32 gradient is pushed as float32."""
    v = client.pull()[1]
    g = (np.arange(DIM, dtype=np.float32) + 1) / 16
    ack = client.push(g, version=v)
    x, v = client.pull()
    assert (x == -LR * g.astype(np.float64)).all()
    client.push(np.full(DIM, 1.0 / 7.0), version=v)
    x, v = client.pull()
    y, v32 = client.pull(dtype=np.float32)
    assert y.dtype == np.float32 and v32 == v and (y == x.astype(np.float32)).all()
    out = np.zeros(3, dtype=np.float32)
    got = client.pull(2, 3, out=out, dtype=np.float32)
    assert got.params is out and (out == x[2:5].astype(np.float32)).all()
    again = client.pull(2, 3, out=out, version=got.version, dtype=np.float32)
    assert again.not_modified and (out == x[2:5].astype(np.float32)).all()
    with pytest.raises(ValueError):
        client.pull(2, 3, out=np.zeros(3), dtype=np.float32)   # out must be float32
    with pytest.raises(ValueError):
        client.pull(keys=[1, 2], dtype=np.float32)
    assert ack.applied


def test_unknown_worker_after_eviction_then_rejoin(start_paramd):
    d = start_paramd(kv_job(DIM, LR).replace("worker_timeout = 5s",
                                      "worker_timeout = 200ms\nheartbeat_interval = 50ms"))
    with paramd_client(d) as c:
        deadline = time.monotonic() + 10
        while True:          # eviction runs on the server's tick, a little after 200 ms
            time.sleep(0.3)
            try:
                c.heartbeat()
            except paramd.UnknownWorker as e:
                assert "HELLO" in e.reason or e.reason
                break
            assert time.monotonic() < deadline, "never evicted"
        c.rejoin()
        assert c.pull()[1] == 0


def _dead_endpoint():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                # nobody listens there now
    return "tcp://127.0.0.1:%d" % port


def test_timeout_against_dead_endpoint():
    t0 = time.monotonic()
    with pytest.raises(paramd.Timeout) as e:
        paramd.KVClient(_dead_endpoint(), timeout=0.5)
    assert isinstance(e.value, TimeoutError) and e.value.reason
    assert time.monotonic() - t0 < 5


def test_timeout_when_server_dies(start_paramd):
    d = start_paramd(kv_job(DIM, LR))
    c = paramd.KVClient(d.endpoint, timeout=0.5)
    d.stop(signal_kill())
    t0 = time.monotonic()
    with pytest.raises((paramd.Timeout, paramd.JobOver)):
        c.pull()
    assert time.monotonic() - t0 < 5
    c.close()


def signal_kill():
    import signal
    return signal.SIGKILL


def test_pipelined_requests(client):
    reqs = [client.push_async(np.full(DIM, 1.0), version=i) for i in range(4)]
    pulls = client.pull_async()
    assert not reqs[0].done()
    acks = [r.result() for r in reversed(reqs)]    # any order of result() calls works
    assert sorted(a.version for a in acks) == [1, 2, 3, 4]
    assert all(a.applied and a.staleness == 0 for a in acks)
    x, v = pulls.result()
    assert v == 4
    np.testing.assert_array_equal(x, np.full(DIM, -4 * LR))
    bad = client.pull_async(offset=DIM)
    good = client.pull_async(offset=0, length=1)
    with pytest.raises(paramd.DimensionError):
        bad.result()
    assert good.result()[1] == 4


def test_close_and_context_manager(server):
    with paramd.KVClient(server.endpoint, timeout=5.0) as c:
        pending = c.pull_async()
    assert c.closed
    with pytest.raises(paramd.ClosedError):
        pending.result()
    with pytest.raises(paramd.ClosedError):
        c.pull()
    c.close()                                      # twice is fine


@pytest.mark.parametrize("kwargs, exc", [
    ({"offset": -1}, ValueError),
    ({"offset": 1.5}, TypeError),
    ({"length": 0}, ValueError),
    ({"out": np.zeros(DIM, dtype=np.float32)}, ValueError),
    ({"out": [0.0] * DIM}, TypeError),
    ({"out": np.zeros(3)}, ValueError),
    ({"version": 0}, ValueError),                  # a held version needs out=
])
def test_pull_argument_checks(client, kwargs, exc):
    with pytest.raises(exc):
        client.pull(**kwargs)


def test_push_argument_checks(client):
    with pytest.raises(ValueError):
        client.push(np.zeros((2, 4)))
    with pytest.raises(TypeError):
        client.push(np.array(["a", "b"]))
    with pytest.raises(ValueError):
        client.push(np.zeros(DIM), version=-1)


@pytest.mark.parametrize("args, kwargs", [
    (("127.0.0.1:5555",), {}),
    (("tcp://127.0.0.1:5555",), {"timeout": 0}),
    (("tcp://127.0.0.1:5555",), {"server_key": "x" * 40}),   # without key_file
])
def test_constructor_checks(args, kwargs):
    with pytest.raises(ValueError):
        paramd.KVClient(*args, **kwargs)


def test_a_long_wait_for_a_version_is_logged(start_paramd):
    """A PULL still waiting for its min_version after worker_timeout (its reader has given
    up) is logged once, with the version it waits for and the server's: what an operator
    needs when a sharded job stalls."""
    d = start_paramd(kv_job(DIM, LR).replace("worker_timeout = 5s",
                                            "worker_timeout = 1s\nheartbeat_interval = 200ms"))
    conn = paramd.connection.Connection(d.endpoint)
    try:
        conn.hello(paramd.connection.make_hello("waiter", True, "pytest"), 5.0)
        conn.send(wire.header(pb.PULL, key_offset=0, key_length=DIM, min_version=7))
        deadline = time.monotonic() + 10
        while "a PULL has waited" not in d.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        lines = [l for l in d.log().splitlines() if "a PULL has waited" in l]
        assert len(lines) == 1, d.log()
        assert "for version 7, this server is at 0" in lines[0], lines[0]
        time.sleep(1.5)  # once only
        assert d.log().count("a PULL has waited") == 1
    finally:
        conn.close()


def test_pull_waits_for_min_version(server, client):
    """A PULL with min_version above the server's version is answered once an update brings
    the server there (doc/protocol.md, min_version), on a server of one shard too."""
    conn = paramd.connection.Connection(server.endpoint)
    try:
        conn.hello(paramd.connection.make_hello("waiter", True, "pytest"), 5.0)
        rid = conn.send(wire.header(pb.PULL, key_offset=0, key_length=DIM, min_version=2))
        assert conn.recv(0.3) is None  # version 0: it waits
        client.push(np.ones(DIM), version=0)
        assert conn.recv(0.3) is None  # version 1: it still waits
        client.push(np.ones(DIM), version=1)
        got = conn.recv(5.0)
        assert got is not None, "the waiting PULL was never answered"
        h, frames = got
        assert h.type == pb.PARAMS and h.request_id == rid and h.version == 2
        x, _ = client.pull()
        assert wire.f64_array(frames[0], h).tobytes() == x.tobytes()
    finally:
        conn.close()

