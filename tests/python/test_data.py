"""paramd.data and paramd.rng against common/data*.c and common/rng.c: for small files of
every format, valid ones must give the C fingerprint (so the same doubles, labels and CSR
arrays) and broken ones the C loader's error message, word for word."""
import gzip
import re
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pdref import datasets, ref, write_idx  # noqa: E402,F401  (pytest fixtures)

from paramd import data, paramd_pb2 as pb, rng  # noqa: E402
from paramd.errors import DataError  # noqa: E402

# (name, file name, bytes, n_features): the file is loaded with format auto.
TEXT = [
    ("svm-plain", "a.svm", b"1 1:0.5 3:-2\n-1 2:1e-3\n", 0),
    ("svm-crlf-tabs", "a.svm", b" 1  1:1\t2:2 \r\n-1 2:3\r\n", 0),
    ("svm-signs", "a.svm", b"+1 1:+.5 2:-5. 3:1E+2 4:0.1e-0\n0 4:-0\n", 0),
    ("svm-leading-zeros", "a.svm", b"1 00003:1.5 0004:2\n", 0),
    ("svm-hex-underflow", "a.svm", b"1 1:0x1p3 2:1e-400 3:0X1.8P-1\n", 0),
    ("svm-long-digits", "a.svm", b"1 1:0.30000000000000004441 2:123456789012345678901234\n", 0),
    ("svm-comments", "a.svm", b"# head\n\n1 1:2 # c\n  # only\n-1 2:1#x\n", 0),
    ("svm-padded", "a.svm", b"1 1:1\n-1 2:2\n", 5),
    ("svm-zeros-only", "a.svm", b"1 1:0 2:0.0\n-1 2:0e5\n", 0),
    ("svm-bad-order", "a.svm", b"1 1:1\n1 2:1 1:3\n", 0),
    ("svm-repeat", "a.svm", b"1 1:1 1:2\n", 0),
    ("svm-index-0", "a.svm", b"1 0:1\n", 0),
    ("svm-bad-label", "a.svm", b"1 1:1\nx 1:1\n", 0),
    ("svm-label-pair", "a.svm", b"1:2 3:4\n", 0),
    ("svm-bad-value", "a.svm", b"1 1:abc\n", 0),
    ("svm-empty-value", "a.svm", b"1 1:\n", 0),
    ("svm-underscore", "a.svm", b"1 1:1_0\n", 0),
    ("svm-inf", "a.svm", b"1 1:inf\n", 0),
    ("svm-overflow", "a.svm", b"1 2:1 1:1e400\n", 0),
    ("svm-nan-label", "a.svm", b"nan 1:1\n", 0),
    ("svm-bad-index", "a.svm", b"1 a:1\n", 0),
    ("svm-no-colon", "a.svm", b"1 3\n", 0),
    ("svm-double-colon", "a.svm", b"1 1:2:3\n", 0),
    ("svm-huge-index", "a.svm", b"1 99999999999999999999:1\n", 0),
    ("svm-over-features", "a.svm", b"1 1:1\n2 5:1\n", 3),
    ("svm-no-samples", "a.svm", b"\n\n# only comments\n", 0),
    ("svm-no-features", "a.svm", b"1\n-1\n", 0),
    ("svm-nul", "a.svm", b"1 1:1\n1 2:1\x00\n", 0),
    ("svm-two-errors", "a.svm", b"1 1:x 0:1\n", 0),
    ("csv-plain", "a.csv", b"1,2,3\n0,4.5,-6e-2\n", 0),
    ("csv-spaces-crlf", "a.csv", b"1, 2 ,3\r\n\t0 ,\t4, 5\r\n\n  \n", 0),
    ("csv-padded", "a.csv", b"1,2\n3,4\n", 4),
    ("csv-hex-vt", "a.csv", b"1,0x10\n2,\x0b3\n", 0),
    ("csv-columns", "a.csv", b"1,2,3\n1,2\n", 0),
    ("csv-empty-field", "a.csv", b"1,,3\n", 0),
    ("csv-bad-value", "a.csv", b"1,2\n1,abc\n", 0),
    ("csv-inf", "a.csv", b"1,inf\n", 0),
    ("csv-one-column", "a.csv", b"1\n2\n", 0),
    ("csv-no-samples", "a.csv", b"\n  \n", 0),
    ("csv-too-wide", "a.csv", b"1,2,3,4\n", 2),
    ("csv-trailing-cr", "a.csv", b"1,2\r\r\n", 0),
    ("csv-gz", "a.csv.gz", gzip.compress(b"1,2,3\n4,5,6\n"), 0),
    ("svm-gz-truncated", "a.svm.gz", gzip.compress(b"1 1:1\n" * 100)[:-12], 0),
]


def message(e):
    """The problem as the C loader words it: the client's errors module (merged over this
    branch's) prints a DataError as "DATA: reason" and keeps the words in .reason."""
    return getattr(e, "reason", None) or str(e)


def compare(ref, path, n_features=0, labels=None, max_samples=0):
    r = ref(train=path, features=n_features, train_labels=labels, max_samples=max_samples)
    try:
        d = data.load(path, "auto", labels or "", n_features, max_samples)
    except DataError as e:
        assert "error" in r, "C loads it (fingerprint %s), Python says: %s" % (
            r.get("train_fingerprint"), e)
        assert message(e) == r["error"]
        return None
    assert "error" not in r, "C says %s, Python loads it" % r["error"]
    assert d.fingerprint == int(r["train_fingerprint"])
    assert (d.m, d.p) == (int(r["train_m"]), int(r["train_p"]))
    return d


@pytest.mark.parametrize("case", TEXT, ids=[c[0] for c in TEXT])
def test_text_files(case, ref, tmp_path):
    name, fname, content, n_features = case
    path = tmp_path / fname
    path.write_bytes(content)
    compare(ref, str(path), n_features)


def test_max_samples(ref, tmp_path):
    path = tmp_path / "a.svm"
    path.write_bytes(b"1 1:1\n\n-1 2:2\n1 1:3\nbroken\n")
    d = compare(ref, str(path), max_samples=3)  # the broken line is never parsed
    assert d.m == 3
    csv = tmp_path / "a.csv"
    csv.write_bytes(b"1,2\n3,4\n5,x\n")
    assert compare(ref, str(csv), max_samples=2).m == 2


IDX_CASES = [
    ("ok-gz", True, None),
    ("ok-plain", False, None),
    ("bad-magic", False, lambda img, lab: (b"\x00\x00\x08\x02" + img[4:], lab)),
    ("short-header", False, lambda img, lab: (img[:10], lab)),
    ("count-mismatch", False, lambda img, lab: (img, lab[:7] + b"\x09" + lab[8:])),
    ("truncated", False, lambda img, lab: (img[:-5], lab)),
    ("truncated-gz", True, lambda img, lab: (img[:-5], lab)),
    ("extra", False, lambda img, lab: (img, lab + b"\x01")),
    ("empty", False, lambda img, lab: (img[:4] + b"\0\0\0\0" + img[8:16],
                                       lab[:4] + b"\0\0\0\0")),
]


@pytest.mark.parametrize("case", IDX_CASES, ids=[c[0] for c in IDX_CASES])
def test_idx_files(case, ref, tmp_path):
    name, gz, damage = case
    rs = np.random.RandomState(3)
    imgs = rs.randint(0, 256, size=(9, 3, 4))
    labs = rs.randint(0, 10, size=9)
    ip, lp = str(tmp_path / "i-idx3-ubyte"), str(tmp_path / "l-idx1-ubyte")
    write_idx(ip, lp, imgs, labs, gz=False)
    img, lab = open(ip, "rb").read(), open(lp, "rb").read()
    if damage is not None:
        img, lab = damage(img, lab)
    if gz:
        ip, lp = ip + ".gz", lp + ".gz"
        img, lab = gzip.compress(img), gzip.compress(lab)
    open(ip, "wb").write(img)
    open(lp, "wb").write(lab)
    compare(ref, ip, labels=lp)
    compare(ref, ip, labels=lp, n_features=15)  # padded past the 12 pixels
    compare(ref, ip, labels=lp, n_features=11)  # refused: fewer than the pixels
    compare(ref, ip, labels=lp, max_samples=4)


def test_idx_pixel_scale():
    """b * (1.0/255.0), the C expression, not b / 255.0: they differ in the last bit for
    some bytes, and the fingerprint would then differ."""
    b = np.arange(256, dtype=np.uint8)
    x = np.empty(256)
    np.multiply(b, 1.0 / 255.0, out=x, casting="unsafe")
    assert all(x[i] == i * (1.0 / 255.0) for i in range(256))
    assert any(x[i] != i / 255.0 for i in range(256))


def test_fashion_mnist_test_set(ref):
    base = "/usr/share/datasets/fashion-mnist/"
    ip, lp = base + "t10k-images-idx3-ubyte.gz", base + "t10k-labels-idx1-ubyte.gz"
    if not os.path.exists(ip):
        pytest.skip("no Fashion-MNIST under " + base)
    compare(ref, ip, labels=lp)


def test_load_job_data_checks_fingerprints(datasets):
    spec = datasets["bin"]
    train = data.load(spec["train"], n_features=20)
    test = data.load(spec["test"], n_features=20)
    job = pb.Job(model="logistic", features=20, train_path=spec["train"],
                 test_path=spec["test"], data_format="libsvm",
                 train_fingerprint=train.fingerprint, test_fingerprint=test.fingerprint)
    a, b = data.load_job_data(job)
    assert a.fingerprint == train.fingerprint and b.fingerprint == test.fingerprint
    job.test_fingerprint ^= 1
    with pytest.raises(DataError, match="test set's fingerprint"):
        data.load_job_data(job)
    job.test_path = ""
    assert data.load_job_data(job)[1] is None
    job.train_path = "/nonexistent/x.svm"
    with pytest.raises(DataError, match="/nonexistent/x.svm: No such file"):
        data.load_job_data(job)
    # --data-dir: only the base name of the job's path is kept
    job.train_path = "/elsewhere/" + os.path.basename(spec["train"])
    a, _ = data.load_job_data(job, data_dir=os.path.dirname(spec["train"]))
    assert a.fingerprint == train.fingerprint


def test_rng_sample_matches_scalar_stream():
    """The vectorised draw against the scalar generator (itself rng.c line by line), for a
    small m, one past 2^32 (the 128-bit product's high half) and the largest m."""
    for seed, m in ((0, 1), (12345, 1000), (2 ** 64 - 1, 2 ** 32 + 7), (99, 2 ** 64 - 1)):
        r = rng.Rng(seed)
        want = [r.below(m) & 0xFFFFFFFF for _ in range(500)]
        assert rng.sample(seed, m, 500).tolist() == want
    # splitmix64's published first output for seed 0
    assert rng.Rng(0).next() == 0xE220A8397B1DCDAF
    with pytest.raises(ValueError):
        rng.sample(1, 0, 3)


@pytest.mark.parametrize("case", [c for c in TEXT if c[1].startswith("a.svm")],
                         ids=[c[0] for c in TEXT if c[1].startswith("a.svm")])
def test_libsvm_fast_path_agrees(case, tmp_path):
    """The fast path (well-formed files) and the general tokenizer give the same set, or
    the fast path declines and the general one decides."""
    name, fname, content, n_features = case
    path = tmp_path / fname
    path.write_bytes(content)
    try:
        want = data.load_libsvm(str(path), n_features, fast=False)
    except DataError as e:
        with pytest.raises(DataError) as got:
            data.load_libsvm(str(path), n_features)
        assert message(got.value) == message(e)
        return
    got = data.load_libsvm(str(path), n_features)
    assert got.fingerprint == want.fingerprint


def test_libsvm_fast_path_on_generated_sets(datasets):
    for name in ("bin", "multi", "bc"):
        if name in datasets:
            spec = datasets[name]
            fast = data.load_libsvm(spec["train"], spec["features"])
            slow = data.load_libsvm(spec["train"], spec["features"], fast=False)
            assert fast.fingerprint == slow.fingerprint
            # and the fast path did take these files
            raw = re.sub(rb"#[^\n]*", b"", open(spec["train"], "rb").read())
            assert data._libsvm_fast(raw, spec["features"], 0) is not None
