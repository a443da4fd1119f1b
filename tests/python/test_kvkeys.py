"""Key lists (doc/protocol.md "Key lists"): KVClient.pull(keys=...) and push(..., keys=...)
against the real daemon. A key push must leave the parameters bit for bit as the range push
of the same values does, for every optimiser; a key pull reads exactly x[keys]; NOT_MODIFIED
follows the blocks of 512 keys that hold the listed keys; a malformed list changes nothing.

Equivalences used (exact, so the comparisons are of bytes):
- a key push of values g at keys K equals a dense push of the whole vector holding g at K
  and zeros elsewhere when every earlier push used the same K: the coordinates outside K
  are then zero with zero optimiser state, and a zero-gradient step leaves them so (sgd,
  momentum, Adam, l1 prox alike);
- a key push of a run of keys [a, a+m) equals the range push [a, +m), whatever came
  before (both step those coordinates and their state, and count one update).

sgd steps go through OpenBLAS's daxpy, whose vector blocks fuse the multiply-add (one
rounding) while its tail does not (two), so the last bit of x - lr * g depends on where a
value sits in the call, for range pushes as much as for key pushes. The dense comparison
therefore uses binary fractions (lr 1/8, gradients in 1/8 steps), whose products are exact;
the run comparison needs no such care: there both calls see the same positions."""
import numpy as np
import pytest

import paramd

DIM = 3000  # 6 blocks of 512 keys, the last one partial
KEYS = np.array([3, 4, 9, 511, 512, 1500, 2047, 2999], dtype=np.uint64)

OPTIMIZERS = {
    "sgd": "type = sgd\nlearning_rate = 0.125\n",
    "momentum": "type = momentum\nlearning_rate = 0.05\nmomentum = 0.9\n",
    "adam": "type = adam\nlearning_rate = 0.01\n",
    "sgd-l1": "type = sgd\nlearning_rate = 0.125\nregularizer = l1\nl1 = 0.25\n",
}


def job(optimizer, dim=DIM):
    return ("worker_timeout = 30s\n[job]\nmethod = async-sgd\nmax_staleness = 1000\n"
            "[model]\ntype = none\ndim = %d\n[optimizer]\nschedule = constant\n%s"
            % (dim, OPTIMIZERS[optimizer]))


def client(daemon):
    return paramd.KVClient(daemon.endpoint, name="pytest-keys", timeout=10.0)


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_key_push_equals_dense_push(start_paramd, optimizer):
    a = start_paramd(job(optimizer), name="keys")
    b = start_paramd(job(optimizer), name="dense")
    rng = np.random.default_rng(11)
    with client(a) as ca, client(b) as cb:
        for _ in range(5):
            g = rng.integers(-40, 40, size=KEYS.shape[0]) / 8.0
            dense = np.zeros(DIM)
            dense[KEYS] = g
            ka = ca.push(g, keys=KEYS, version=ca.version)
            kb = cb.push(dense, version=cb.version)
            assert ka.applied and kb.applied
            assert (ka.version, ka.learning_rate) == (kb.version, kb.learning_rate)
        xa, va = ca.pull()
        xb, vb = cb.pull()
    assert va == vb == 5
    assert np.any(xa[KEYS] != 0)
    assert same_bits(xa, xb), "differ at keys %s" % np.nonzero(xa != xb)[0][:10]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_key_run_equals_range_push(start_paramd, optimizer):
    """Runs that overlap and move: the state of earlier runs is kept, not decayed."""
    a = start_paramd(job(optimizer), name="keys")
    b = start_paramd(job(optimizer), name="range")
    rng = np.random.default_rng(5)
    with client(a) as ca, client(b) as cb:
        for start, length in ((500, 40), (520, 3), (0, 600), (2990, 10), (510, 1)):
            g = rng.normal(size=length)
            keys = np.arange(start, start + length, dtype=np.uint64)
            assert ca.push(g, keys=keys, version=ca.version).applied
            assert cb.push(g, offset=start, version=cb.version).applied
        xa, va = ca.pull()
        xb, vb = cb.pull()
    assert va == vb
    assert same_bits(xa, xb)


def test_key_push_touches_only_its_keys(start_paramd):
    """Momentum: a key push leaves other coordinates and their momentum alone (a dense push
    with zeros there would keep moving them); l1: the prox shrinks listed keys only."""
    d = start_paramd(job("momentum"), name="momentum")
    with client(d) as c:
        c.push(np.ones(2), keys=[10, 20])
        before, _ = c.pull()
        c.push(np.ones(2), keys=[30, 40])
        after, _ = c.pull()
        assert same_bits(before[[10, 20]], after[[10, 20]])
        # momentum at 10 and 20 is still 1 (not decayed): the next push there moves them by
        # lr * (0.9 * 1 + 1)
        c.push(np.ones(2), keys=[10, 20])
        third, _ = c.pull()
        np.testing.assert_allclose(third[[10, 20]] - after[[10, 20]], -0.05 * 1.9, rtol=1e-12)
    d = start_paramd(job("sgd-l1"), name="l1")
    with client(d) as c:
        c.push(np.array([-8.0]), keys=[7])         # x7 = prox(1) = 1 - lr l1 = 0.96875
        assert c.pull(keys=[7])[0][0] == 0.96875
        c.push(np.array([1.0]), keys=[8])
        assert c.pull(keys=[7])[0][0] == 0.96875    # not shrunk by a push elsewhere
        c.push(np.zeros(DIM))                       # a dense push shrinks every coordinate
        assert c.pull(keys=[7])[0][0] == 0.9375


def test_key_pull_reads_x_at_keys(start_paramd):
    d = start_paramd(job("sgd"))
    rng = np.random.default_rng(3)
    with client(d) as c:
        for _ in range(3):
            c.push(rng.normal(size=DIM))
        x, v = c.pull()
        got, gv = c.pull(keys=KEYS)
        assert gv == v and same_bits(got, x[KEYS])
        out = np.full(KEYS.shape[0], 7.0)
        r = c.pull(keys=KEYS.astype(np.int64), out=out)
        assert r.params is out and same_bits(out, x[KEYS]) and not r.not_modified
        one, _ = c.pull(keys=[DIM - 1])
        assert same_bits(one, x[DIM - 1:])


def test_key_pull_not_modified_follows_blocks(start_paramd):
    d = start_paramd(job("sgd"))
    keys = np.array([1, 600, 2000], dtype=np.uint64)  # blocks 0, 1, 3
    with client(d) as c:
        c.push(np.ones(3), keys=keys)
        x, v = c.pull(keys=keys)
        held = x.copy()
        # other blocks move: the held values are still current
        c.push(np.ones(2), keys=[1100, 1200])             # block 2
        c.push(np.ones(10), offset=2048)                  # block 4
        r = c.pull(keys=keys, out=x, version=v)
        assert r.not_modified and r.version == v and r.params is x and same_bits(x, held)
        # a key of block 1 other than 600 changed: conservative, the data comes again
        c.push(np.ones(1), keys=[700])
        r = c.pull(keys=keys, out=x, version=v)
        assert not r.not_modified and r.version == v + 3 and same_bits(x, held)
        v = r.version
        # and a listed key itself
        c.push(np.ones(1), keys=[2000])
        r = c.pull(keys=keys, out=x, version=v)
        assert not r.not_modified and r.version == v + 1
        assert x[2] == held[2] - 0.125 and same_bits(x[:2], held[:2])
        # a version ahead of the server's is never "not modified"
        r = c.pull(keys=keys, out=x, version=r.version + 5)
        assert not r.not_modified


BAD = [
    ("unsorted", [5, 3], paramd.MalformedError, "increase strictly"),
    ("duplicate", [5, 5], paramd.MalformedError, "duplicate"),
    ("key = dim", [5, DIM], paramd.DimensionError, "outside the model"),
    ("key 2^64-1", [2 ** 64 - 1], paramd.DimensionError, "outside the model"),
]


@pytest.mark.parametrize("what,keys,error,words", BAD, ids=[b[0] for b in BAD])
def test_bad_key_lists_change_nothing(start_paramd, what, keys, error, words):
    d = start_paramd(job("sgd"))
    with client(d) as c:
        c.push(np.arange(DIM, dtype=np.float64))
        before, v = c.pull()
        keys = np.array(keys, dtype=np.uint64)
        with pytest.raises(error, match=words):
            c.pull(keys=keys)
        with pytest.raises(error, match=words):
            c.push(np.ones(keys.shape[0]), keys=keys)
        with pytest.raises(paramd.DimensionError, match="float64 values"):
            c.push(np.ones(3), keys=[1, 2])
        after, va = c.pull()
        assert va == v and same_bits(before, after)
        # the daemon goes on serving
        assert c.push(np.ones(1), keys=[0]).applied


def test_client_refuses_unsendable_keys(start_paramd):
    d = start_paramd(job("sgd", dim=8))
    with client(d) as c:
        with pytest.raises(ValueError):
            c.pull(keys=[])
        with pytest.raises(ValueError):
            c.pull(keys=[-1])
        with pytest.raises(TypeError):
            c.push(np.ones(1), keys=[0.5])
        with pytest.raises(ValueError):
            c.pull(keys=[1], offset=2)
