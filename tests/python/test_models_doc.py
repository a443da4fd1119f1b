"""The test vectors of doc/models.md (fenced ```vector blocks, format in its "Test vectors"
section) checked against the Python package: kinds model, rng and data. A block that breaks
the format is a failure, and so is any output that differs (bit for bit, or within the
vector's `tolerance` as |got - want| <= T max(1, |want|)). Kinds prox and optim describe the
server's optimiser, which the package does not implement; their blocks are parsed and
reported as skipped. The document is $top_srcdir/doc/models.md (or $PD_MODELS_DOC)."""
import os
import re

import numpy as np
import pytest

from paramd import data, models, rng

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("top_srcdir", os.path.dirname(os.path.dirname(HERE)))
DOC = os.environ.get("PD_MODELS_DOC", os.path.join(SRCDIR, "doc", "models.md"))

STRING_KEYS = {"kind", "model", "activation", "format", "file", "regularizer", "type",
               "schedule", "fingerprint", "text"}
INT_KEYS = {"m", "p", "count", "seed", "classes", "layers", "dim", "bias", "indices",
            "correct", "draws", "row_ptr", "col", "features", "label_column", "header",
            "idx_dims", "idx_pixels", "idx_labels", "t", "decay_steps"}

# kind -> (required keys, optional keys); the rules of the format section.
KEYS = {
    "model": ({"model", "m", "p", "y", "params", "indices"},
              {"x", "row_ptr", "col", "val", "bias", "classes", "layers", "activation", "dim",
               "direction", "tolerance", "loss", "grad", "hvp", "eval_loss", "correct"}),
    "rng": ({"seed", "m", "count", "draws"}, set()),
    "data": ({"format"}, {"file", "features", "label_column", "header", "text", "idx_dims",
                          "idx_pixels", "idx_labels", "m", "p", "y", "x", "row_ptr", "col",
                          "val", "fingerprint", "tolerance"}),
    "prox": ({"regularizer", "alpha", "v"},
             {"l1", "l2", "lower", "upper", "mask", "out", "value", "tolerance"}),
    "optim": ({"type", "schedule", "regularizer", "t", "x", "g"},
              {"learning_rate", "decay_steps", "decay_rate", "momentum", "beta1", "beta2",
               "epsilon", "l1", "l2", "lower", "upper", "mask", "u", "v", "lr", "x_out",
               "u_out", "v_out", "tolerance"}),
}

_KEY_LINE = re.compile(r"([a-z0-9_]+): ?(.*)")


class FormatError(Exception):
    pass


def parse_blocks(text):
    """[(first line number, {key: value})] of every ```vector block."""
    out, block, start = [], None, 0
    for n, line in enumerate(text.split("\n"), 1):
        if block is None:
            # exactly "```vector" at the start of the line, nothing after (the format's
            # rule); the indented example in the format section is not a vector
            if line == "```vector":
                block, start = [], n
            continue
        if line == "```":
            out.append((start, parse_block(block, start)))
            block = None
            continue
        block.append((n, line))
    if block is not None:
        raise FormatError("line %d: vector block never closed" % start)
    return out


def _number(tok, key, n):
    if key in INT_KEYS and re.fullmatch(r"-?[0-9]+", tok):
        return int(tok)
    try:
        return float(tok)
    except ValueError:
        raise FormatError("line %d: %s: '%s' is not a number" % (n, key, tok)) from None


def parse_block(lines, start):
    vec = {}
    for n, line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        mt = _KEY_LINE.fullmatch(line)
        if mt is None:
            raise FormatError("line %d: not 'key: value': %r" % (n, line))
        key, value = mt.group(1), mt.group(2)
        if key == "text":
            vec.setdefault("text", []).append(value if line.startswith("text: ") else "")
            continue
        if not line.startswith(key + ": ") or value != value.strip(" ") and key not in \
                STRING_KEYS:
            raise FormatError("line %d: '%s' needs exactly one space after the colon" % (n, key))
        if key in vec:
            raise FormatError("line %d: key '%s' repeated" % (n, key))
        if not vec and key != "kind":
            raise FormatError("line %d: 'kind' must come first" % n)
        if key in STRING_KEYS:
            vec[key] = value
        else:
            toks = value.split(" ")
            if not value or any(t == "" for t in toks):
                raise FormatError("line %d: %s: numbers must be separated by single spaces"
                                  % (n, key))
            vec[key] = [_number(t, key, n) for t in toks]
    kind = vec.get("kind")
    if kind not in KEYS:
        raise FormatError("line %d: unknown kind %r" % (start, kind))
    required, optional = KEYS[kind]
    missing = required - set(vec)
    unknown = set(vec) - required - optional - {"kind"}
    if missing or unknown:
        raise FormatError("line %d: %s vector: missing %s, unknown %s"
                          % (start, kind, sorted(missing), sorted(unknown)))
    return vec


def scalar(vec, key, default=None):
    v = vec.get(key, default)
    if isinstance(v, list):
        if len(v) != 1:
            raise FormatError("%s: expected one number, got %d" % (key, len(v)))
        return v[0]
    return v


def expect_len(vec, key, n):
    if key in vec and len(vec[key]) != n:
        raise FormatError("%s: expected %d numbers, got %d" % (key, n, len(vec[key])))


def same(got, want, tol, what):
    got = np.atleast_1d(np.asarray(got, dtype=np.float64))
    want = np.atleast_1d(np.asarray(want, dtype=np.float64))
    assert got.shape == want.shape, "%s: %d values, the vector has %d" % (what, got.size,
                                                                         want.size)
    if tol is None:
        bad = got != want  # -0.0 == 0.0
    else:
        bad = np.abs(got - want) > tol * np.maximum(1.0, np.abs(want))
    assert not bad.any(), "%s[%d]: got %r, the vector says %r" % (
        what, int(np.argmax(bad)), got[bad][0], want[bad][0])


def check_model(vec):
    m, p = scalar(vec, "m"), scalar(vec, "p")
    expect_len(vec, "y", m)
    name = vec["model"]
    if "x" in vec:
        expect_len(vec, "x", m * p)
        d = data.Dataset(m, p, vec["y"], x=np.array(vec["x"], float).reshape(m, p))
    else:
        if not {"row_ptr", "col", "val"} <= set(vec):
            raise FormatError("model vector without x or the three CSR keys")
        expect_len(vec, "row_ptr", m + 1)
        nnz = vec["row_ptr"][-1]
        expect_len(vec, "col", nnz)
        expect_len(vec, "val", nnz)
        d = data.Dataset(m, p, vec["y"], indptr=vec["row_ptr"], indices=vec["col"],
                         values=vec["val"])
    for key in ("bias", "classes"):
        if key in vec and name not in (("logistic", "softmax", "least-squares")
                                       if key == "bias" else ("softmax",)):
            raise FormatError("'%s' is not allowed for %s" % (key, name))
    model = models.make(name, d, bool(scalar(vec, "bias", 0)), scalar(vec, "classes", 0),
                        vec.get("layers", ()), vec.get("activation", ""),
                        scalar(vec, "dim", 0) if name == "quadratic" else 0)
    dim = model.dim
    for key in ("params", "direction", "grad", "hvp"):
        expect_len(vec, key, dim)
    x = np.array(vec["params"], float)
    idx = np.array(vec["indices"], dtype=np.int64)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= m:
        raise FormatError("indices must be in [0, %d), at least one" % m)
    tol = scalar(vec, "tolerance")
    checked = 0
    if "loss" in vec or "grad" in vec:
        loss, g = model.grad_sum(d, x, idx)
        if "loss" in vec:
            same(loss, vec["loss"], tol, "loss")
            same(model.loss_sum(d, x, idx), vec["loss"], tol, "loss (loss pass)")
        if "grad" in vec:
            same(g, vec["grad"], tol, "grad")
        checked += 1
    if "hvp" in vec:
        if "direction" not in vec:
            raise FormatError("hvp without direction")
        same(model.hvp_sum(d, x, np.array(vec["direction"], float), idx), vec["hvp"], tol,
             "hvp")
        checked += 1
    if "eval_loss" in vec or "correct" in vec:
        loss, correct = model.eval_range(d, x, 0, m)
        if "eval_loss" in vec:
            same(loss, vec["eval_loss"], tol, "eval_loss")
        if "correct" in vec:
            assert correct == scalar(vec, "correct"), "correct: got %d" % correct
        checked += 1
    assert checked, "model vector with no output to check"


def check_rng(vec):
    count = scalar(vec, "count")
    expect_len(vec, "draws", count)
    got = rng.sample(scalar(vec, "seed"), scalar(vec, "m"), count)
    assert got.tolist() == vec["draws"], "draws differ"


def check_data(vec, tmp_path):
    fmt = vec["format"]
    default = {"libsvm": "data.libsvm", "csv": "data.csv", "idx": "data.idx",
               "auto": "data.libsvm"}
    if fmt not in default:
        raise FormatError("unknown format %r" % fmt)
    path = str(tmp_path / vec.get("file", default[fmt]))
    labels = ""
    if "idx_dims" in vec:
        dims = vec["idx_dims"]
        img = bytes([0, 0, 8, len(dims)]) + b"".join(int(v).to_bytes(4, "big") for v in dims)
        img += bytes(vec.get("idx_pixels", []))
        lab = bytes([0, 0, 8, 1]) + int(dims[0]).to_bytes(4, "big")
        lab += bytes(vec.get("idx_labels", []))
        labels = path + ".labels"
        open(path, "wb").write(img)
        open(labels, "wb").write(lab)
    else:
        open(path, "wb").write("".join(t + "\n" for t in vec.get("text", [])).encode())
    d = data.load(path, fmt, labels, scalar(vec, "features", 0), 0,
                  scalar(vec, "label_column", 0), bool(scalar(vec, "header", 0)))
    tol = scalar(vec, "tolerance")
    if "m" in vec:
        assert d.m == scalar(vec, "m")
    if "p" in vec:
        assert d.p == scalar(vec, "p")
    if "y" in vec:
        same(d.y, vec["y"], tol, "y")
    if "x" in vec:
        assert not d.sparse, "the vector has dense x, the loader made a sparse set"
        same(d.x.reshape(-1), vec["x"], tol, "x")
    if "row_ptr" in vec:
        assert d.sparse, "the vector has CSR arrays, the loader made a dense set"
        assert d.indptr.tolist() == vec["row_ptr"]
        assert d.indices.tolist() == vec.get("col", [])
        same(d.values, vec.get("val", []), tol, "val")
    if "fingerprint" in vec:
        assert "%016x" % d.fingerprint == vec["fingerprint"]


def _vectors():
    if not os.path.exists(DOC):
        return []
    with open(DOC, encoding="utf-8") as f:
        return parse_blocks(f.read())


VECTORS = _vectors()


def test_document_present():
    if not os.path.exists(DOC):
        pytest.skip("%s does not exist (doc/models.md not merged yet)" % DOC)
    assert VECTORS, "%s has no ```vector blocks" % DOC


@pytest.mark.parametrize("vec", [v for _, v in VECTORS],
                         ids=["line%d-%s" % (n, v["kind"]) for n, v in VECTORS])
def test_vector(vec, tmp_path):
    kind = vec["kind"]
    if kind in ("prox", "optim"):
        pytest.skip("%s vectors check the server's optimiser, not this package" % kind)
    {"model": check_model, "rng": check_rng}.get(kind, lambda v: check_data(v, tmp_path))(vec)


def test_parser_rejects_bad_blocks():
    good = "```vector\nkind: rng\nseed: 1\nm: 5\ncount: 2\ndraws: 0 1\n```\n"
    assert parse_blocks(good)[0][1]["draws"] == [0, 1]
    for bad in (good.replace("m: 5", "m:5"), good.replace("m: 5", "m:  5"),
                good.replace("m: 5\n", ""), good.replace("kind: rng", "kind: nope"),
                good.replace("draws: 0 1", "draws: 0  1"), good + "```vector\nkind: rng\n",
                good.replace("count: 2", "count: 2\nbogus: 1"),
                good.replace("seed: 1\n", "") .replace("kind: rng\n", "seed: 1\nkind: rng\n")):
        with pytest.raises(FormatError):
            parse_blocks(bad)
