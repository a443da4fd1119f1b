"""Helpers of the paramd Python tests: the C reference program and small data sets (a module,
not conftest.py, so it cannot collide with the client tests' conftest).

pd_taskcheck (tests/python/pd_taskcheck.c, built by `make check` or
`make tests/python/pd_taskcheck`) is found through $PD_TASKCHECK, else
$top_builddir/tests/python/pd_taskcheck, else next to this file (in-tree builds). Without
it the comparisons are skipped, never passed.
"""
import gzip
import os
import subprocess

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("top_srcdir", os.path.dirname(os.path.dirname(HERE)))


def taskcheck_path():
    cands = [os.environ.get("PD_TASKCHECK", "")]
    if os.environ.get("top_builddir"):
        cands.append(os.path.join(os.environ["top_builddir"], "tests/python/pd_taskcheck"))
    cands.append(os.path.join(HERE, "pd_taskcheck"))
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    return None


class Ref:
    """Runs pd_taskcheck and parses its "key value" lines (doubles as C99 hex floats)."""

    def __init__(self, exe, tmp):
        self.exe = exe
        self.tmp = tmp

    def __call__(self, **args):
        out = os.path.join(self.tmp, "ref_out.bin")
        argv = [self.exe] + ["%s=%s" % (k, v) for k, v in args.items() if v is not None]
        argv.append("out=" + out)
        p = subprocess.run(argv, capture_output=True, timeout=120)
        p.stdout = p.stdout.decode("latin-1")
        res = {}
        for line in p.stdout.split("\n"):  # not splitlines(): a quoted token may hold \r
            k, _, v = line.partition(" ")
            res[k] = v
        if p.returncode == 2:
            raise RuntimeError("pd_taskcheck failed: %s %s" % (p.stderr, p.stdout))
        for k in ("loss_sum", "pred", "radius_acc", "loss", "foc_norm"):
            if k in res:
                res[k] = float.fromhex(res[k])
        if "out_len" in res:
            res["out"] = np.fromfile(out, dtype="<f8")
        return res


@pytest.fixture(scope="session")
def ref(tmp_path_factory):
    exe = taskcheck_path()
    if exe is None:
        pytest.skip("pd_taskcheck not built (make tests/python/pd_taskcheck, or set "
                    "PD_TASKCHECK)")
    return Ref(exe, str(tmp_path_factory.mktemp("ref")))


def _fmt(v, k):
    """Values spelt in the several ways LIBSVM and CSV files use."""
    style = k % 4
    if style == 0:
        return "%.17g" % v
    if style == 1:
        return "%.6f" % v
    if style == 2:
        return "%.3e" % v
    return repr(float(np.float32(v)))


def write_libsvm(path, y, X, comment=True):
    lines = []
    if comment:
        lines.append("# a comment line, then a blank one")
        lines.append("   ")
    for i in range(X.shape[0]):
        feats = []
        for j in np.flatnonzero(X[i]):
            feats.append("%d:%s" % (j + 1, _fmt(X[i, j], i + j)))
        if i % 7 == 3 and X[i, -1] == 0:
            feats.append("%d:0" % X.shape[1])  # an explicit zero, dropped by the loader
        lab = "%g" % y[i]
        tail = "  # trailing comment" if i % 11 == 5 else ""
        lines.append(" ".join([lab] + feats) + tail)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_csv(path, y, X):
    with open(path, "w", newline="") as f:
        for i in range(X.shape[0]):
            cells = [_fmt(y[i], i)] + [_fmt(v, i + j) for j, v in enumerate(X[i])]
            f.write(", ".join(cells) + ("\r\n" if i % 2 else "\n"))


def write_idx(img_path, lab_path, images, labels, gz):
    m, r, c = images.shape
    img = (0x803).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (m, r, c))
    img += images.astype(np.uint8).tobytes()
    lab = (0x801).to_bytes(4, "big") + m.to_bytes(4, "big") + labels.astype(np.uint8).tobytes()
    for path, buf in ((img_path, img), (lab_path, lab)):
        if gz:
            with gzip.open(path, "wb") as f:
                f.write(buf)
        else:
            with open(path, "wb") as f:
                f.write(buf)


@pytest.fixture(scope="session")
def datasets(tmp_path_factory):
    """Small sets of every format and label kind, written once per session."""
    d = tmp_path_factory.mktemp("data")
    rs = np.random.RandomState(20261207)
    sets = {}

    def sparse(m, p, dens):
        X = rs.randn(m, p) * (rs.rand(m, p) < dens)
        return X

    X = sparse(240, 20, 0.3)
    y = np.where(X @ rs.randn(20) + 0.3 * rs.randn(240) > 0, 1.0, -1.0)
    write_libsvm(str(d / "bin.train.svm"), y[:200], X[:200])
    write_libsvm(str(d / "bin.test.svm"), y[200:], X[200:], comment=False)
    sets["bin"] = dict(train=str(d / "bin.train.svm"), test=str(d / "bin.test.svm"),
                       features=20, format="auto")

    X = sparse(260, 16, 0.4)
    y = np.argmax(X @ rs.randn(16, 4) + 0.5 * rs.randn(260, 4), axis=1).astype(float)
    write_libsvm(str(d / "multi.train.txt"), y[:200], X[:200])
    write_libsvm(str(d / "multi.test.txt"), y[200:], X[200:])
    sets["multi"] = dict(train=str(d / "multi.train.txt"), test=str(d / "multi.test.txt"),
                         features=16, format="libsvm")

    X = rs.randn(150, 12)
    y = X @ rs.randn(12) + 0.1 * rs.randn(150)
    write_csv(str(d / "reg.train.csv"), y[:120], X[:120])
    write_csv(str(d / "reg.test.csv"), y[120:], X[120:])
    sets["reg"] = dict(train=str(d / "reg.train.csv"), test=str(d / "reg.test.csv"),
                       features=12, format="auto")

    imgs = rs.randint(0, 256, size=(300, 6, 7)) * (rs.rand(300, 6, 7) < 0.6)
    labs = rs.randint(0, 5, size=300)
    write_idx(str(d / "img-train-idx3-ubyte.gz"), str(d / "lab-train-idx1-ubyte.gz"),
              imgs[:250], labs[:250], gz=True)
    write_idx(str(d / "img-test-idx3-ubyte"), str(d / "lab-test-idx1-ubyte"),
              imgs[250:], labs[250:], gz=False)
    sets["img"] = dict(train=str(d / "img-train-idx3-ubyte.gz"),
                       train_labels=str(d / "lab-train-idx1-ubyte.gz"),
                       test=str(d / "img-test-idx3-ubyte"),
                       test_labels=str(d / "lab-test-idx1-ubyte"), features=42, format="auto")
    # Padded: the job's features above the file's 42 pixels.
    sets["img_pad"] = dict(sets["img"], features=45)

    bc = os.path.join(SRCDIR, "examples/data/breast-cancer.train.svm")
    if os.path.exists(bc):
        sets["bc"] = dict(train=bc, test=bc.replace(".train.", ".test."), features=30,
                          format="auto")
    return sets


def read_shard_range(c, begin, length, min_version):
    """``(version, values)`` of keys [begin, begin + length) read over connection ``c`` from a
    shard once it has reached ``min_version`` (shard 0's COMMIT and this PULL travel over
    different connections and may arrive in either order)."""
    from paramd import wire
    from paramd.wire import pb

    c.send(wire.header(pb.PULL, key_offset=begin, key_length=length, min_version=min_version))
    got = c.recv(10)
    assert got is not None, "no PARAMS from the shard within 10 s"
    h, frames = got
    assert h.type == pb.PARAMS, h
    return h.version, np.frombuffer(bytes(frames[0]), dtype=wire.F64)
