"""paramd.compute against paramd-worker's own code: every model and task kind on small sets
of every format, run once by pd_taskcheck (libpdcommon, one thread) and once by
paramd.compute.Computer. Tolerance: 1e-12 relative (loss sums against |loss|, result
vectors in the infinity norm against the C vector's); n_samples and correct must be equal.
"""
import os
import zlib
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pdref import datasets, ref  # noqa: E402,F401  (pytest fixtures)

from paramd import compute, data, models, paramd_pb2 as pb  # noqa: E402

TOL = 1e-12

# (name, data set, model, bias, classes, layers, activation)
JOBS = [
    ("logistic-svm", "bin", "logistic", True, 0, None, None),
    ("logistic-bc", "bc", "logistic", False, 0, None, None),
    ("lsq-csv", "reg", "least-squares", True, 0, None, None),
    ("lsq-svm", "bin", "least-squares", False, 0, None, None),
    ("softmax-idx", "img", "softmax", True, 0, None, None),
    ("softmax-idx-pad", "img_pad", "softmax", False, 6, None, None),
    ("softmax-svm", "multi", "softmax", True, 4, None, None),
    ("mlp-tanh-idx", "img", "mlp", True, 0, [42, 9, 7, 5], "tanh"),
    ("mlp-relu-svm", "multi", "mlp", True, 0, [16, 8, 4], "relu"),
    ("mlp-tanh-1layer", "multi", "mlp", True, 0, [16, 4], "tanh"),
]

# (name, kind, header fields, second frame)
TASKS = [
    ("grad-batch", pb.GRAD, dict(seed=11, batch=64), None),
    ("grad-range", pb.GRAD, dict(range_begin=5, range_end=150), None),
    ("grad-part", pb.GRAD, dict(seed=12, batch=90, range_begin=30, range_end=75), None),
    ("loss-batch", pb.LOSS, dict(seed=13, batch=40), None),
    ("loss-range", pb.LOSS, dict(range_begin=0, range_end=100), None),
    ("eval", pb.EVAL, dict(range_begin=20, range_end=110, test_begin=3, test_end=40), None),
    ("eval-train-only", pb.EVAL, dict(range_begin=0, range_end=50), None),
    ("hvp-batch", pb.HVP, dict(seed=14, batch=70), "q"),
    ("hvp-range", pb.HVP, dict(range_begin=10, range_end=60), "q"),
    ("grad-diff", pb.GRAD_DIFF, dict(seed=15, batch=55, version_y=3), "y"),
]


def make_job(spec, model, bias, classes, layers, activation, dim=0):
    train = data.load(spec["train"], spec["format"], spec.get("train_labels", ""),
                      spec["features"])
    test = data.load(spec["test"], spec["format"], spec.get("test_labels", ""),
                     spec["features"])
    job = pb.Job(model=model, features=spec["features"], bias=bias, classes=classes,
                 train_path=spec["train"], train_labels_path=spec.get("train_labels", ""),
                 test_path=spec["test"], test_labels_path=spec.get("test_labels", ""),
                 data_format=spec["format"], train_fingerprint=train.fingerprint,
                 test_fingerprint=test.fingerprint, layers=layers or [],
                 activation=activation or "")
    return job, train, test


def ref_args(spec, job):
    return dict(train=spec["train"], train_labels=spec.get("train_labels"), test=spec["test"],
                test_labels=spec.get("test_labels"), features=spec["features"],
                format=spec["format"], model=job.model, bias=int(job.bias),
                classes=job.classes,
                layers=",".join(str(w) for w in job.layers) if job.layers else None,
                activation=job.activation or None)


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(np.max(np.abs(b)) if b.size else 0.0, 1e-300)
    return float(np.max(np.abs(a - b)) / scale) if a.size else 0.0


@pytest.fixture(scope="module")
def computers(datasets, ref, tmp_path_factory):
    """One Computer per job, with the job's dim and fingerprints checked against C."""
    out = {}
    for name, set_name, model, bias, classes, layers, act in JOBS:
        if set_name not in datasets:
            continue
        spec = datasets[set_name]
        job, train, test = make_job(spec, model, bias, classes, layers, act)
        r = ref(**ref_args(spec, job))
        assert "error" not in r, r.get("error")
        # The fingerprints are what the server compares: they must be the C ones exactly.
        assert int(r["train_fingerprint"]) == train.fingerprint
        assert int(r["test_fingerprint"]) == test.fingerprint
        job.dim = int(r["dim"])
        out[name] = (spec, job, compute.Computer(job, train, test))
    return out


@pytest.mark.parametrize("task", TASKS, ids=[t[0] for t in TASKS])
@pytest.mark.parametrize("job", [j[0] for j in JOBS])
def test_task_matches_worker(job, task, computers, ref, tmp_path):
    if job not in computers:
        pytest.skip("data set not available")
    spec, pjob, comp = computers[job]
    tname, kind, fields, frame2 = task
    rs = np.random.RandomState(zlib.crc32(("%s/%s" % (job, tname)).encode()))
    dim = pjob.dim
    scale = 0.3 if pjob.model == "mlp" else 0.05
    x = rs.randn(dim) * scale
    frames = [x.tobytes()]
    xf = tmp_path / "x.bin"
    x.tofile(str(xf))
    args = dict(ref_args(spec, pjob), kind=int(kind), x=str(xf),
                seed=fields.get("seed"), batch=fields.get("batch"),
                begin=fields.get("range_begin"), end=fields.get("range_end"),
                tbegin=fields.get("test_begin"), tend=fields.get("test_end"))
    if frame2 is not None:
        y = rs.randn(dim) * (scale if frame2 == "y" else 1.0)
        yf = tmp_path / "y.bin"
        y.tofile(str(yf))
        args["y"] = str(yf)
        frames.append(y.tobytes())
    r = ref(**args)
    h = pb.Header(type=pb.TASK, kind=kind, version=7, task_id=99, elem_type=pb.F64,
                  frame_counts=[dim] * len(frames), **fields)
    if r.get("rc") != "0":
        # A task the C worker refuses (a range past a small set) must be refused here too.
        assert "error" in r, r
        with pytest.raises(compute.TaskError):
            comp.run(h, frames)
        return
    got, out = comp.run(h, frames)
    assert got["n_samples"] == int(r["n_samples"])
    assert got["correct"] == int(r["correct"])
    assert got["version"] == 7 and got["version_y"] == h.version_y
    want = r["loss_sum"]
    if os.environ.get("PD_SHOW"):
        vec_err = rel(np.frombuffer(out[0]), r["out"]) if "out" in r else 0.0
        print("\nACC", job, tname, abs(got["loss_sum"] - want) / max(abs(want), 1e-300),
              vec_err)
    assert abs(got["loss_sum"] - want) <= TOL * max(abs(want), 1e-300), (got["loss_sum"], want)
    if "out" in r:
        assert len(out) == 1
        vec = np.frombuffer(out[0], dtype="<f8")
        assert vec.size == r["out"].size
        assert rel(vec, r["out"]) <= TOL, rel(vec, r["out"])
    else:
        assert out == []


# ---- the worker's refusals (take_frames, pd_task_samples) ----

@pytest.fixture
def comp(computers):
    if "logistic-svm" not in computers:
        pytest.skip("no data")
    spec, job, c = computers["logistic-svm"]
    return job, c


def header(job, kind=pb.GRAD, n=1, **kw):
    kw.setdefault("seed", 1)
    kw.setdefault("batch", 8)
    return pb.Header(type=pb.TASK, kind=kind, version=kw.pop("version", 1), elem_type=pb.F64,
                     frame_counts=[job.dim] * n, **kw)


def test_frames_checked(comp):
    job, c = comp
    x = np.zeros(job.dim).tobytes()
    with pytest.raises(compute.TaskError, match="carries 2 frames"):
        c.run(header(job, n=2), [x, x])
    with pytest.raises(compute.TaskError, match="bytes"):
        c.run(header(job), [x[:-8]])
    with pytest.raises(compute.TaskError, match="frame counts"):
        c.run(header(job, n=2), [x])
    with pytest.raises(compute.TaskError, match="carries 1 frames, expected 2"):
        c.run(header(job, kind=pb.HVP), [x])
    bad = pb.Header(type=pb.TASK, kind=pb.GRAD, seed=1, batch=8, elem_type=pb.F64,
                    frame_counts=[job.dim + 1])
    with pytest.raises(compute.TaskError, match="frame 1"):
        c.run(bad, [np.zeros(job.dim + 1).tobytes()])
    with pytest.raises(compute.TaskError, match="does not know"):
        c.run(pb.Header(type=pb.TASK, kind=77), [])


def test_cached_parameters(comp):
    job, c = comp
    x = np.random.RandomState(3).randn(job.dim)
    first, out1 = c.run(header(job, version=5), [x.tobytes()])
    # The server omits x at the same version: the cached one is used.
    again, out2 = c.run(header(job, n=0, version=5), [])
    assert out1 == out2 and first["loss_sum"] == again["loss_sum"]
    with pytest.raises(compute.TaskError, match="without parameters"):
        c.run(header(job, n=0, version=6), [])
    # The Worker loop's own copy of x handed in under a header that lists no frames.
    filled, out3 = c.run(header(job, n=0, version=5), [x.tobytes()])
    assert out3 == out1
    with pytest.raises(compute.TaskError, match="frame 1"):
        c.run(header(job, n=0, version=5), [x.tobytes()[:-8]])


def test_key_list_task(comp):
    """A GRAD task with a key list: the gradient at the keys is the dense gradient there
    (to the last bit: the same numpy sums), whatever the computer's copy holds elsewhere;
    broken key lists are refused."""
    job, c = comp
    x = np.random.RandomState(4).randn(job.dim)
    _, (dense,) = c.run(header(job, version=2), [x.tobytes()])
    g = np.frombuffer(dense, dtype="<f8")
    keys = np.flatnonzero(g).astype("<u8")
    assert 0 < keys.size < job.dim
    h = pb.Header(type=pb.TASK, kind=pb.GRAD, seed=1, batch=8, version=2, elem_type=pb.F64,
                  key_count=keys.size, frame_counts=[keys.size, keys.size])
    fields, (packed,) = c.run(h, [keys.tobytes(), x[keys.astype(np.int64)].tobytes()])
    assert fields["key_count"] == keys.size
    assert np.frombuffer(packed, dtype="<f8").tobytes() == g[keys.astype(np.int64)].tobytes()
    with pytest.raises(compute.TaskError, match="strictly increasing"):
        c.run(h, [keys[::-1].copy().tobytes(), x[keys.astype(np.int64)].tobytes()])
    with pytest.raises(compute.TaskError, match="a key list goes with a GRAD task"):
        c.run(h, [keys.tobytes()])


def test_sample_sets_checked(comp):
    job, c = comp
    x = np.zeros(job.dim).tobytes()
    m = c.train.m
    for kw in (dict(batch=0, range_begin=5, range_end=5), dict(batch=0, range_end=m + 1),
               dict(batch=10, range_end=11), dict(batch=10, range_begin=4, range_end=4),
               dict(batch=10, range_begin=6, range_end=5)):
        with pytest.raises(compute.TaskError):
            c.run(header(job, **kw), [x])
    with pytest.raises(compute.TaskError, match="test range"):
        c.run(header(job, kind=pb.EVAL, range_end=5, test_begin=0,
                     test_end=c.test.m + 1), [x])
    with pytest.raises(compute.TaskError, match="training range"):
        c.run(header(job, kind=pb.EVAL, range_end=m + 1), [x])


def test_model_must_fit(datasets):
    spec = datasets["bin"]
    job, train, test = make_job(spec, "logistic", True, 0, None, None)
    job.dim = 20  # the model has 21
    with pytest.raises(data.DataError, match="21 parameters, the job says 20"):
        compute.Computer(job, train, test)
    job.model = "quadratic"
    with pytest.raises(data.DataError, match="cannot run"):
        compute.Computer(job, train, test)
    job, train, test = make_job(spec, "softmax", True, 0, None, None)
    with pytest.raises(data.DataError, match="label -1 of sample"):
        compute.Computer(job, train, test)


def test_mlp_hvp_is_derivative_of_grad(computers):
    """Independent of the C code: the R-operator HVP equals a central difference of the
    gradient (tanh is smooth), so a mistake shared by both sides would still be caught."""
    if "mlp-tanh-idx" not in computers:
        pytest.skip("no data")
    _, job, c = computers["mlp-tanh-idx"]
    rs = np.random.RandomState(5)
    x, v = rs.randn(job.dim) * 0.3, rs.randn(job.dim)
    idx = np.arange(40)
    hv = c.model.hvp_sum(c.train, x, v, idx)
    h = 1e-5
    gp = c.model.grad_sum(c.train, x + h * v, idx)[1]
    gm = c.model.grad_sum(c.train, x - h * v, idx)[1]
    assert rel(hv, (gp - gm) / (2 * h)) < 1e-6


def test_bias_mask():
    m = models.MLP([3, 2, 2], "tanh")
    assert models.bias_mask(m).tolist() == [1] * 6 + [0, 0] + [1] * 4 + [0, 0]
    s = models.Softmax(2, True, 3)
    assert models.bias_mask(s).tolist() == [1, 1, 0] * 3


# ---- LOCAL_TR (apts_task.c, apts_local.c, trust_region.c, lsr1.c) ----

# (job, n_blocks, block, radius, local_iters, l2, gradient block?, L-SR1 pairs, task fields)
LOCAL = [
    ("logistic-svm", 1, 0, 0.5, 3, 1e-3, False, 0, dict(seed=21, batch=80)),
    ("logistic-svm", 1, 0, 0.05, 4, 0.0, True, 0, dict(range_begin=0, range_end=200)),
    ("logistic-bc", 1, 0, 2.0, 5, 1e-2, True, 3, dict(seed=22, batch=150)),
    ("lsq-csv", 1, 0, 0.3, 3, 1e-3, False, 2, dict(range_begin=10, range_end=100)),
    ("softmax-svm", 1, 0, 1.0, 4, 1e-3, True, 2, dict(seed=23, batch=120)),
    ("softmax-idx", 1, 0, 0.1, 2, 0.0, False, 0, dict(seed=24, batch=100)),
    ("mlp-tanh-idx", 3, 0, 0.2, 3, 1e-3, False, 0, dict(seed=25, batch=90)),
    ("mlp-tanh-idx", 3, 1, 0.2, 3, 1e-3, True, 0, dict(seed=25, batch=90)),
    ("mlp-tanh-idx", 3, 2, 0.5, 4, 1e-3, True, 3, dict(seed=26, batch=90, range_begin=10,
                                                     range_end=70)),
    ("mlp-tanh-idx", 6, 5, 0.5, 2, 1e-3, False, 2, dict(range_begin=0, range_end=120)),
    ("mlp-relu-svm", 2, 1, 0.3, 3, 1e-4, True, 4, dict(seed=27, batch=100)),
    ("mlp-relu-svm", 4, 0, 1e-9, 1, 0.0, False, 0, dict(seed=28, batch=10)),
]


def memory_frame(rs, length, m, gamma):
    """A valid block memory: pairs (s_j, y_j) with M^-1 = D + L + L^T - gamma S^T S of the
    pairs themselves, as the server would send for a one-block model."""
    S = rs.randn(length, m) * 0.1
    Y = rs.randn(length, m) * 0.1 + 0.5 * S
    SY = S.T @ Y
    L = np.tril(SY, -1)
    minv = np.diag(np.diag(SY)) + L + L.T - gamma * (S.T @ S)
    return np.concatenate([S.T.ravel(), Y.T.ravel(), minv.ravel()])


@pytest.mark.parametrize("case", LOCAL, ids=["%s-%d/%d-%d" % (c[0], c[2], c[1], k)
                                             for k, c in enumerate(LOCAL)])
def test_local_tr_matches_worker(case, computers, ref, tmp_path):
    job, n_blocks, block, radius, iters, l2, with_g, pairs, fields = case
    if job not in computers:
        pytest.skip("data set not available")
    spec, pjob, comp = computers[job]
    rs = np.random.RandomState(zlib.crc32(repr(case).encode()))
    dim = pjob.dim
    x = rs.randn(dim) * (0.3 if pjob.model == "mlp" else 0.05)
    off, length = compute.model_block(comp.model, n_blocks, block)
    x.tofile(str(tmp_path / "x.bin"))
    tr = pb.LocalTr(block=block, n_blocks=n_blocks, radius=radius, local_iters=iters, l2=l2,
                    lsr1_pairs=pairs, lsr1_gamma=0.7 if pairs else 0.0)
    args = dict(ref_args(spec, pjob), kind=int(pb.LOCAL_TR), x=str(tmp_path / "x.bin"),
                seed=fields.get("seed"), batch=fields.get("batch"),
                begin=fields.get("range_begin"), end=fields.get("range_end"),
                block=block, n_blocks=n_blocks, radius=repr(radius), local_iters=iters,
                l2=repr(l2), lsr1_pairs=pairs, lsr1_gamma=repr(tr.lsr1_gamma))
    frames, counts = [x.tobytes()], [dim]
    if with_g:
        g = rs.randn(length) * 0.1
        g.tofile(str(tmp_path / "g.bin"))
        args["y"] = str(tmp_path / "g.bin")
        frames.append(g.tobytes())
        counts.append(length)
    if pairs:
        mem = memory_frame(rs, length, pairs, tr.lsr1_gamma)
        mem.tofile(str(tmp_path / "m.bin"))
        args["lsr1"] = str(tmp_path / "m.bin")
        frames.append(mem.tobytes())
        counts.append(mem.size)
    r = ref(**args)
    assert r.get("rc") == "0", r
    h = pb.Header(type=pb.TASK, kind=pb.LOCAL_TR, version=4, elem_type=pb.F64,
                  frame_counts=counts, local_tr=tr, **fields)
    got, out = comp.run(h, frames)
    rep = got["local_tr"]
    if os.environ.get("PD_SHOW"):
        print("\nACC", case[0], "local_tr", max(abs(getattr(rep, k) - r[k]) / max(abs(r[k]),
                                                                            1e-300)
                                              for k in ("pred", "loss", "radius_acc")),
              rel(np.frombuffer(out[0]), r["out"]))
    for k in ("loss_evals", "grad_evals", "accepted", "rejected"):
        assert getattr(rep, k) == int(r[k]), k
    assert rep.any_accepted == (r["any_accepted"] == "1")
    for k in ("pred", "radius_acc", "loss", "foc_norm"):
        assert abs(getattr(rep, k) - r[k]) <= TOL * max(abs(r[k]), 1e-300), (k, getattr(rep, k),
                                                                            r[k])
    assert rep.block == block and rep.radius == radius and rep.lsr1_pairs == pairs
    assert got["n_samples"] == int(r["n_samples"])
    assert abs(got["loss_sum"] - r["loss_sum"]) <= TOL * abs(r["loss_sum"])
    vec = np.frombuffer(out[0], dtype="<f8")
    assert vec.size == length == r["out"].size
    assert rel(vec, r["out"]) <= TOL
    assert np.max(np.abs(vec)) <= radius  # the budget rule the server relies on


def test_local_tr_refusals(computers):
    if "mlp-tanh-idx" not in computers:
        pytest.skip("no data")
    _, job, c = computers["mlp-tanh-idx"]
    x = np.zeros(job.dim).tobytes()

    def task(frames, counts, **tr):
        base = dict(block=0, n_blocks=3, radius=0.1, local_iters=2)
        base.update(tr)
        return c.run(pb.Header(type=pb.TASK, kind=pb.LOCAL_TR, version=1, elem_type=pb.F64,
                               frame_counts=counts, seed=1, batch=5,
                               local_tr=pb.LocalTr(**base)), frames)

    with pytest.raises(compute.TaskError, match="no such parameter block"):
        task([x], [job.dim], block=3)
    with pytest.raises(compute.TaskError, match="no such parameter block"):
        task([x], [job.dim], n_blocks=7)
    with pytest.raises(compute.TaskError, match="not valid"):
        task([x], [job.dim], radius=0.0)
    with pytest.raises(compute.TaskError, match="not valid"):
        task([x], [job.dim], local_iters=0)
    with pytest.raises(compute.TaskError, match="memory carries 1 frames"):
        task([x], [job.dim], lsr1_pairs=2, lsr1_gamma=1.0)
    off, length = compute.model_block(c.model, 3, 0)
    bad = np.zeros(2 * 2 * length + 4)  # M^-1 = 0: singular
    with pytest.raises(compute.TaskError, match="singular"):
        task([x, bad.tobytes()], [job.dim, bad.size], lsr1_pairs=2, lsr1_gamma=1.0)
    bad[0] = np.nan
    with pytest.raises(compute.TaskError, match="non-finite"):
        task([x, bad.tobytes()], [job.dim, bad.size], lsr1_pairs=2, lsr1_gamma=1.0)
    with pytest.raises(compute.TaskError, match="frame 2"):
        task([x, np.zeros(length + 1).tobytes()], [job.dim, length + 1])
