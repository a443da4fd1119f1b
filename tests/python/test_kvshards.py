"""KVClient on a job split over several servers (doc/protocol.md "Several servers"): the
client reads each server's keys from it and pushes to shard 0, which relays each shard's
share. The same script of pulls and pushes must read and leave the same bits on 2 and 3
servers (paramd --local-shards N) as on one; a pull after a push sees it."""
import time

import numpy as np
import pytest

import paramd

DIM = 1500  # 2 servers: [0, 1024) [1024, 1500); 3: [0, 512) [512, 1024) [1024, 1500)
JOB = ("worker_timeout = 30s\n[job]\nmethod = async-sgd\nmax_staleness = 1000\n"
       "[model]\ntype = none\ndim = %d\n[optimizer]\ntype = momentum\nlearning_rate = 0.05\n"
       "regularizer = l1\nl1 = 0.001\n" % DIM)
KEYS = np.array([1, 511, 1024, 1200, 1499], dtype=np.uint64)  # none in [512, 1024)


def script(kv):
    """Pushes and pulls of every kind; returns what was read, in order."""
    reads = []
    g = np.sin(0.37 * np.arange(DIM)) + 0.01 * np.arange(DIM)
    for offset, length in [(300, 1000), (1100, 100), (0, DIM), (0, 10)]:
        ack = kv.push(g[offset:offset + length], offset=offset)
        x, v = kv.pull()
        assert v >= ack.version, "a pull after a push read an older version"
        reads.append((x.copy(), v, ack.version, ack.staleness))
    held_x, held = kv.pull()
    kv.push(0.5 - 0.125 * np.arange(len(KEYS)), keys=KEYS)
    x, v = kv.pull()
    by_keys, kv_version = kv.pull(keys=KEYS)
    assert np.array_equal(by_keys.view(np.uint64), x[KEYS.astype(np.int64)].view(np.uint64))
    reads.append((x.copy(), v, kv_version, 0))
    # NOT_MODIFIED per block of 512 since `held`: the key push missed [512, 1024)
    out = held_x[600:700].copy()
    assert kv.pull(600, 100, out=out, version=held).not_modified
    out = held_x[1100:1200].copy()
    assert not kv.pull(1100, 100, out=out, version=held).not_modified
    # float32 both ways, and pipelined pulls
    kv.push(np.float32(0.25) * np.cos(0.11 * np.arange(DIM)).astype(np.float32))
    x, v = kv.pull()
    x32, _ = kv.pull(dtype=np.float32)
    assert np.array_equal(x32, x.astype(np.float32))
    a, b = kv.pull_async(500, 600), kv.pull_async(1024, 476)
    assert np.array_equal(b.result().params, x[1024:]) and np.array_equal(a.result()[0],
                                                                         x[500:1100])
    reads.append((x.copy(), v, 0, 0))
    return reads


def run(start_paramd, name, *args):
    d = start_paramd(JOB, *args, name=name)
    with paramd.KVClient(d.endpoint, name="shards") as kv:
        reads = script(kv)
        with pytest.raises(paramd.DimensionError):
            kv.pull(1400, 101)
        with pytest.raises(paramd.NonFiniteError):
            kv.push(np.full(DIM, np.nan))
        assert kv.pull()[1] == reads[-1][1], "a refused push changed the version"
    return reads


def test_sharded_equals_one_server(start_paramd):
    one = run(start_paramd, "one")
    for n in (2, 3):
        split = run(start_paramd, "shards%d" % n, "--local-shards", str(n))
        assert len(split) == len(one)
        for (x1, *rest1), (xn, *restn) in zip(one, split):
            assert rest1 == restn
            assert np.array_equal(x1.view(np.uint64), xn.view(np.uint64)), \
                "%d servers read other bits than one" % n


def test_a_step_only_a_shard_cannot_take_is_a_divergence(start_paramd):
    """A finite push whose step overflows a parameter of shard 1's keys: shard 0 (none of the
    keys) takes it, shard 1 does not, keeps its keys as they were and reports it; shard 0
    acts on on_divergence = stop: the job ends with status 1 naming the shard, and shard 1
    did not stop on its own (it saw shard 0's BYE)."""
    job = JOB.replace("type = momentum", "type = sgd").replace("regularizer = l1\n", "") \
        .replace("learning_rate = 0.05", "learning_rate = 1") + \
        "[stop]\non_divergence = stop\n"
    d = start_paramd("exit_when_done = yes\n" + job, "--local-shards", "2", name="overflow")
    key = np.array([1100], dtype=np.uint64)
    with paramd.KVClient(d.endpoint, name="overflow") as kv:
        kv.push(np.array([-1e308]), keys=key)
        assert kv.pull(keys=key)[0][0] == 1e308
        kv.push(np.array([-1e308]), keys=key)  # shard 0 applies it: its keys are untouched
        assert d.proc.wait(15) == 1, "the job went on after a step its shard could not take"
    log = d.log()
    assert "diverged at version 2 (shard 1: a step would make a parameter non-finite)" in log
    assert "shard 1: update 2 not applied: it would make a parameter of keys [1024, 1500) " \
        "NaN or Inf" in log, log
    assert "paramd shard 1: shard 0 ended the job" in log, log


def test_a_step_only_a_shard_cannot_take_restores_a_checkpoint(start_paramd, tmp_path):
    """The same with on_divergence = restore-checkpoint: every server reloads the newest
    checkpoint (version 1) and the job goes on."""
    job = JOB.replace("type = momentum", "type = sgd").replace("regularizer = l1\n", "") \
        .replace("learning_rate = 0.05", "learning_rate = 1") + \
        "[stop]\non_divergence = restore-checkpoint\n"
    state = tmp_path / "state"
    d = start_paramd("state_dir = %s\ncheckpoint_interval = 100ms\n" % state + job,
                     "--local-shards", "2", name="restore")
    key = np.array([1100], dtype=np.uint64)
    with paramd.KVClient(d.endpoint, name="overflow") as kv:
        kv.push(np.array([-1e308]), keys=key)
        deadline = time.monotonic() + 20
        while not ((state / "ckpt-1.pdckpt").exists() and
                   (state / "shard-1" / "ckpt-1.pdckpt").exists()):
            assert time.monotonic() < deadline, "no checkpoint of version 1 on both servers"
            time.sleep(0.05)
        kv.push(np.array([-1e308]), keys=key)
        # shard 1 wrote no checkpoint of version 2 or later: all go back to version 1
        while "restored checkpoint of version 1 after a divergence" not in d.log():
            assert time.monotonic() < deadline, "no restore: " + d.log()
            time.sleep(0.05)
        # a client that saw version 2 would wait for the new run to reach it: a new one reads
        with paramd.KVClient(d.endpoint, name="after") as after:
            values, version = after.pull(keys=key)
        assert (values[0], version) == (1e308, 1)
    assert d.proc.poll() is None, "the job stopped"
    assert "checkpoint of version 2 not written: this shard did not take update 2" in d.log() \
        or not (state / "ckpt-2.pdckpt").exists(), "no checkpoint after the skip was asked"
