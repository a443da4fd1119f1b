"""The job's training and test sets, loaded exactly as paramd-worker loads them.

Mirrors common/data.c, data_libsvm.c, data_csv.c and data_idx.c: the same formats, format
guessing, padding to the job's `features`, IDX pixel scaling, error rules (reported as
DataError "FILE:LINE: problem") and the content fingerprint of pd_data_fingerprint(), which
is compared with the server's before a worker says READY. The text parsers work on the whole
file at once (regular expressions and numpy), never one sample at a time in Python.

The one part that cannot be vectorised is the fingerprint: each of its four lanes is a
sequential non-linear recurrence, so it runs as a tight Python loop (about 0.25 s per
million words here; Fashion-MNIST's 47 M words take about 15 to 25 s on a shared core,
against 0.2 s in C).
"""
import gzip
import itertools
import os
import re
import zlib

import numpy as np

from .errors import DataError

# common/data.h limits, checked before anything is allocated from a size in a file.
MAX_SAMPLES = 1 << 31
MAX_FEATURES = 1 << 31
MAX_LINE = 1 << 24
QUOTE_MAX = 40  # longest token quoted back in a message (data_internal.h)

FORMATS = ("auto", "libsvm", "idx", "csv")


class Dataset:
    """A data set as pd_data_t holds it.

    Dense: x is an (m, p) float64 array. Sparse (LIBSVM): CSR arrays indptr (int64, m + 1),
    indices (uint32, 0-based columns) and values (float64), explicit zeros dropped. y holds
    the labels as read (float64). `fingerprint` is pd_data_fingerprint() of the content,
    computed on first use.
    """

    def __init__(self, m, p, y, x=None, indptr=None, indices=None, values=None):
        self.m = int(m)
        self.p = int(p)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.sparse = x is None
        self.x = None if x is None else np.ascontiguousarray(x, dtype=np.float64)
        self.indptr = None if indptr is None else np.ascontiguousarray(indptr, dtype=np.int64)
        self.indices = None if indices is None else np.ascontiguousarray(indices, np.uint32)
        self.values = None if values is None else np.ascontiguousarray(values, np.float64)
        self._fingerprint = None

    @property
    def nnz(self):
        return int(self.indptr[-1]) if self.sparse else self.m * self.p

    @property
    def fingerprint(self):
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self)
        return self._fingerprint

    def rows(self, idx):
        """The rows idx (int array, repeats allowed) as CSR pieces of a sparse set:
        (row of each entry in 0..len(idx)-1, column, value), entries in row order."""
        idx = np.asarray(idx, dtype=np.int64)
        starts = self.indptr[idx]
        counts = self.indptr[idx + 1] - starts
        total = int(counts.sum())
        row = np.repeat(np.arange(idx.size, dtype=np.int64), counts)
        # Position of each entry: its row's start plus its rank inside the row.
        first = np.cumsum(counts) - counts
        pos = np.repeat(starts - first, counts) + np.arange(total, dtype=np.int64)
        return row, self.indices[pos].astype(np.int64), self.values[pos]

    def dense_rows(self, idx):
        """Rows idx as a dense (len(idx), p) array (CSR rows expanded, as model_mlp.c
        gather_inputs() does)."""
        idx = np.asarray(idx, dtype=np.int64)
        if not self.sparse:
            return self.x[idx]
        out = np.zeros((idx.size, self.p))
        row, col, val = self.rows(idx)
        out[row, col] = val
        return out


# ---- fingerprint (common/data.c "fingerprint") ----

_M64 = (1 << 64) - 1
FP_VERSION = 0x7064667000000001
FP_K1 = 0x9E3779B97F4A7C15
FP_K2 = 0xBF58476D1CE4E5B9
FP_K3 = 0x94D049BB133111EB
_FP_CHUNK = 1 << 20  # words per pass; a multiple of 4 so lanes stay aligned


def _fp_bits(a):
    """Doubles as their IEEE bits, -0.0 folded into 0.0 (fp_bits)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = a.view(np.uint64).copy()
    b[a == 0.0] = 0
    return b


def _fp_step(acc, w):
    acc ^= (w * FP_K1) & _M64
    acc = ((acc << 27) & _M64) | (acc >> 37)
    return (acc * FP_K2) & _M64


def _fp_lanes(lanes, premul):
    """fp_step over the four lanes at once, given words already multiplied by K1 (done in
    numpy) and starting at a stream position that is a multiple of 4, so word k goes to
    lane k % 4. Interleaving the lanes in one loop is about a fifth faster than one loop
    per lane: this loop is the whole cost of fingerprinting a large set."""
    a0, a1, a2, a3 = lanes
    m, k = _M64, FP_K2
    for c0, c1, c2, c3 in zip(premul[0::4].tolist(), premul[1::4].tolist(),
                              premul[2::4].tolist(), premul[3::4].tolist()):
        t = a0 ^ c0
        a0 = ((t << 27 & m | t >> 37) * k) & m
        t = a1 ^ c1
        a1 = ((t << 27 & m | t >> 37) * k) & m
        t = a2 ^ c2
        a2 = ((t << 27 & m | t >> 37) * k) & m
        t = a3 ^ c3
        a3 = ((t << 27 & m | t >> 37) * k) & m
    return [a0, a1, a2, a3]


def fingerprint(d):
    """pd_data_fingerprint(): the word sequence (version, m, p, sparse, labels, then CSR
    arrays or dense values), word n into lane n % 4, lanes folded and avalanched."""
    head = [FP_VERSION, d.m, d.p, 1 if d.sparse else 0]
    parts = [_fp_bits(d.y)]
    if d.sparse:
        parts.append(np.array([d.nnz], dtype=np.uint64))
        parts.append(d.indptr.astype(np.uint64))
        parts.append(d.indices.astype(np.uint64))
        parts.append(_fp_bits(d.values))
    else:
        parts.append(_fp_bits(d.x.reshape(-1)))
    lanes = [FP_K1, FP_K2, FP_K3, FP_K1 ^ FP_K2]
    n = 0
    for w in head:
        lanes[n & 3] = _fp_step(lanes[n & 3], w)
        n += 1
    # The 4 head words and chunks whose length is a multiple of 4 keep the stream position
    # n a multiple of 4 at every chunk start; the last < 4 words are done one by one.
    carry = np.zeros(0, dtype=np.uint64)
    k1 = np.uint64(FP_K1)
    for part in parts:
        for s in range(0, max(part.size, 1), _FP_CHUNK):
            words = np.concatenate([carry, part[s:s + _FP_CHUNK]])
            use = words.size - words.size % 4
            carry = words[use:]
            with np.errstate(over="ignore"):
                pre = words[:use] * k1
            lanes = _fp_lanes(lanes, pre)
            n += use
    for w in carry.tolist():
        lanes[n & 3] = _fp_step(lanes[n & 3], w)
        n += 1
    h = FP_VERSION
    for lane in lanes:
        h = _fp_step(h, lane)
    h = _fp_step(h, n)
    h = ((h ^ (h >> 30)) * FP_K2) & _M64
    h = ((h ^ (h >> 27)) * FP_K3) & _M64
    return h ^ (h >> 31)


# ---- reading files ----

def _quote(tok):
    """A token as the C messages quote it: at most QUOTE_MAX bytes, "..." when cut."""
    if isinstance(tok, (bytes, bytearray)):
        tok = bytes(tok).decode("latin-1")
    return tok[:QUOTE_MAX] + ("..." if len(tok) > QUOTE_MAX else "")


def read_bytes(path):
    """The content of path, gunzipped when it starts with the gzip magic (zlib's gzdopen
    rule); returns (data, direct) with direct true for a plain file."""
    try:
        if os.path.isdir(path):
            raise DataError("%s: is a directory" % path)
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError("%s: %s" % (path, e.strerror or e)) from None
    if raw[:2] != b"\x1f\x8b":
        return raw, True
    try:
        return gzip.decompress(raw), False
    except EOFError:
        raise DataError("%s: truncated gzip stream" % path) from None
    except (OSError, zlib.error):
        raise DataError("%s: corrupt gzip data" % path) from None


def guess_format(path):
    """PD_DATA_AUTO (data.c guess_format): ".gz" ignored, then "-ubyte" or ".idx" in the
    base name means IDX, ".csv" CSV, anything else LIBSVM."""
    base = os.path.basename(path).lower()
    if base.endswith(".gz"):
        base = base[:-3]
    if base.endswith("-ubyte") or ".idx" in base:
        return "idx"
    if base.endswith(".csv"):
        return "csv"
    return "libsvm"


# strtod()'s finite syntax (decimal and hexadecimal); inf and nan parse but are rejected as
# non-finite, exactly as the C loaders do after strtod().
_DEC = rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_HEX = rb"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
_NONFINITE = rb"[+-]?(?:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)"
_DEC_RE = re.compile(_DEC)
_HEX_RE = re.compile(_HEX)
_NONFINITE_RE = re.compile(_NONFINITE, re.IGNORECASE)


def _strtod(tok):
    """strtod() over the whole token: a float (possibly inf/nan), or None when strtod would
    not consume all of it. Python's float() is correctly rounded like glibc's strtod."""
    if _DEC_RE.fullmatch(tok):
        return float(tok)
    if _HEX_RE.fullmatch(tok):
        t = tok.decode("ascii")
        neg = t.startswith("-")
        v = float.fromhex(t.lstrip("+-"))
        return -v if neg else v
    if _NONFINITE_RE.fullmatch(tok):
        return float(tok.split(b"(")[0])
    return None


def _parse_numbers(tokens, leading_space=False):
    """Parse a list of byte tokens like strtod(): returns (values, first_bad, kind) where
    first_bad is the index of the first token that is not a number (kind "bad") or is not
    finite (kind "non-finite"), or None. The common case, all plain decimals, is one
    regular-expression match over the joined tokens and one map(float)."""
    if not tokens:
        return np.zeros(0), None, None
    if leading_space:
        # strtod() itself skips leading white space of every kind.
        tokens = list(map(bytes.lstrip, tokens, itertools.repeat(b" \t\n\v\f\r")))
    joined = b"\n".join(tokens)
    if b"\n\n" not in joined and not joined.startswith(b"\n") and \
            re.fullmatch(rb"(?:" + _DEC + rb"\n)*" + _DEC, joined):
        vals = np.fromiter(map(float, tokens), dtype=np.float64, count=len(tokens))
        bad = ~np.isfinite(vals)
        if bad.any():
            return vals, int(np.argmax(bad)), "non-finite"
        return vals, None, None
    # Rare path (hexadecimal floats, or an error to locate): token by token.
    vals = np.empty(len(tokens))
    for i, t in enumerate(tokens):
        v = _strtod(t)
        if v is None:
            return vals, i, "bad"
        if not np.isfinite(v):
            return vals, i, "non-finite"
        vals[i] = v
    return vals, None, None


def _check_text(path, data):
    """The reader's rules for every text line (data.c pd_data_reader_line): no line over
    MAX_LINE bytes, no NUL byte. Returns the newline positions."""
    arr = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    ends = np.append(nl, arr.size)
    starts = np.concatenate([[0], nl + 1])
    lens = ends - starts
    long_ = np.flatnonzero(lens > MAX_LINE)
    nul = np.flatnonzero(arr == 0)
    bad = []
    if long_.size:
        bad.append((int(long_[0]) + 1, "line longer than %d bytes" % MAX_LINE))
    if nul.size:
        bad.append((int(np.searchsorted(nl, nul[0])) + 1, "NUL byte in a text line"))
    if bad:
        line, what = min(bad)
        raise DataError("%s:%d: %s" % (path, line, what))
    return nl


# Per-line reductions over a file's bytes. Cumulative sums over every byte would be simpler
# but cost a 64-bit array per byte (seconds for a large file); these stay near the bytes.

def _lines(arr):
    """(starts, ends) of the '\n'-separated pieces of a byte array (the last piece may be
    empty)."""
    nl = np.flatnonzero(arr == 10)
    return np.concatenate([[0], nl + 1]), np.append(nl, arr.size)


def _line_any(mask, starts, ends):
    """Whether each line [start, end) has a True in mask; mask must be False at every
    '\n', because a reduceat segment runs on to the next non-empty line's start."""
    out = np.zeros(starts.size, dtype=bool)
    nonempty = np.flatnonzero(ends > starts)
    if nonempty.size:
        out[nonempty] = np.logical_or.reduceat(mask, starts[nonempty])
    return out


def _line_count(mask, starts, ends):
    """How many True entries of mask each line [start, end) holds."""
    pos = np.flatnonzero(mask)
    return np.searchsorted(pos, ends) - np.searchsorted(pos, starts)


# ---- LIBSVM (data_libsvm.c) ----

_LIBSVM_TOKEN = re.compile(rb"(\n)|([^\s:]*):(\S*)|(\S+)")


def load_libsvm(path, n_features=0, max_samples=0, fast=True):
    """The LIBSVM loader. A file whose every line is well-formed takes the fast path
    (structure checked on the bytes with numpy, then bytes.split() and float()); anything else, and any file
    the fast path finds a problem in, goes through the general tokenizer, which locates the
    first problem as the C parser reports it. fast=False forces the general path (tests)."""
    data, _ = read_bytes(path)
    _check_text(path, data)
    # Comments run from '#' to the end of the line; the newline stays, so lines count alike.
    data = re.sub(rb"#[^\n]*", b"", data)
    d = _libsvm_fast(data, n_features, max_samples) if fast else None
    return d if d is not None else _libsvm_general(path, data, n_features, max_samples)


def _libsvm_csr(m, p, labels, rows, idx, vals):
    """The Dataset from per-entry sample numbers, 1-based indices and values (zeros
    dropped, as data_libsvm.c does)."""
    nz = vals != 0.0
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[nz], minlength=m), out=indptr[1:])
    return Dataset(m, p, labels, indptr=indptr, indices=(idx[nz] - 1).astype(np.uint32),
                   values=vals[nz])


def _libsvm_fast(data, n_features, max_samples):
    """A well-formed file without any of the C parser's errors, else None."""
    if b"_" in data:
        return None  # float() would read 1_0 as 10, strtod() stops at the '_'
    arr = np.frombuffer(data, dtype=np.uint8)
    starts, ends = _lines(arr)
    space = (arr == 32) | ((arr >= 9) & (arr <= 13))
    colon = arr == 58
    sep = space | colon
    tok_start = ~sep
    tok_start[1:] &= sep[:-1]
    tok_pos = np.flatnonzero(tok_start)
    keep = _line_any(~space, starts, ends)
    colons = _line_count(colon, starts, ends)
    # Structure without a grammar pass: every line holds 1 + 2k tokens for its k colons,
    # each colon sits between a digit and a token, and the token after it is at an even
    # place in its line (2, 4, ...): so tokens alternate label, index, value, index, ...
    # and no token holds two colons. Anything else is left to the general tokenizer.
    if ((_line_count(tok_start, starts, ends) != 1 + 2 * colons) & keep).any():
        return None
    cpos = np.flatnonzero(colon)
    if cpos.size:
        if cpos[0] == 0 or cpos[-1] + 1 >= arr.size or \
                not ((arr[cpos - 1] >= 48) & (arr[cpos - 1] <= 57)).all() or \
                sep[cpos + 1].any():
            return None
        right = np.searchsorted(tok_pos, cpos + 1)
        line = np.searchsorted(ends, cpos)
        place = right - np.searchsorted(tok_pos, starts[line])
        if ((place < 2) | (place % 2 == 1)).any():
            return None
    nnz_line = colons[keep]
    m_all = nnz_line.size
    tokens = data.replace(b":", b" ").split()
    if len(tokens) != m_all + 2 * int(nnz_line.sum()):
        return None
    if max_samples and m_all > max_samples:
        nnz_line = nnz_line[:max_samples]
    m = nnz_line.size
    if m == 0 or m > MAX_SAMPLES:
        return None
    first = np.cumsum(1 + 2 * nnz_line) - (1 + 2 * nnz_line)  # token of each label
    rows = np.repeat(np.arange(m), nnz_line)
    rank = np.arange(rows.size) - np.repeat(np.cumsum(nnz_line) - nnz_line, nnz_line)
    idx_pos = first[rows] + 1 + 2 * rank
    tok = np.array(tokens, dtype=object)
    # float() and int() are the parsers here. They are correctly rounded like strtod() and
    # refuse what it refuses in a whole token, except that they also take '_' between
    # digits (refused above for the whole file), a sign on an index (each index token must
    # start with a digit) and nan/inf (non-finite, refused below). Whatever they refuse
    # (hexadecimal floats too) goes to the general tokenizer.
    if rows.size and not ((arr[tok_pos[right - 1]] >= 48) &
                          (arr[tok_pos[right - 1]] <= 57)).all():
        return None
    try:
        labels = np.fromiter(map(float, tok[first].tolist()), dtype=np.float64, count=m)
        idx = np.fromiter(map(int, tok[idx_pos].tolist()), dtype=np.int64, count=rows.size)
        vals = np.fromiter(map(float, tok[idx_pos + 1].tolist()), dtype=np.float64,
                           count=rows.size)
    except (ValueError, OverflowError):
        return None
    prev = np.zeros(idx.size, dtype=np.int64)
    if idx.size > 1:
        prev[1:] = np.where(rank[1:] > 0, idx[:-1], 0)
    if not (np.isfinite(labels).all() and np.isfinite(vals).all()) or (idx <= prev).any() or \
            (idx > MAX_FEATURES).any() or (n_features and (idx > n_features).any()):
        return None
    p = n_features if n_features else (int(idx.max()) if idx.size else 0)
    if p == 0:
        return None
    return _libsvm_csr(m, p, labels, rows, idx, vals)


def _libsvm_general(path, data, n_features, max_samples):
    found = _LIBSVM_TOKEN.findall(data)
    # Four parallel token columns: the newline, index and value of "index:value", or any
    # other token. Object arrays let numpy gather them without a Python loop.
    cols = list(zip(*found)) if found else [(), (), (), ()]
    nl_t, idx_t, val_t, other_t = (np.array(c, dtype=object) for c in cols)
    is_nl = np.fromiter(map(len, cols[0]), dtype=np.int64, count=len(cols[0])) > 0
    is_other = np.fromiter(map(len, cols[3]), dtype=np.int64, count=len(cols[3])) > 0
    ntok = is_nl.size
    line_of = np.cumsum(is_nl) - is_nl + 1  # 1-based line of each token
    prev_nl = np.concatenate([[True], is_nl[:-1]]) if ntok else is_nl
    is_label = ~is_nl & prev_nl
    is_feat_pos = ~is_nl & ~prev_nl  # tokens after the label
    sample_of = np.cumsum(is_label) - 1  # sample number of each token's line
    if max_samples:
        keep = sample_of < max_samples
        is_label &= keep
        is_feat_pos &= keep
    errors = []  # (token position, order of the C checks within a token, message)

    def tok_text(i):
        return other_t[i] if other_t[i] else idx_t[i] + b":" + val_t[i]

    lab_pos = np.flatnonzero(is_label)
    lab_ok = is_other[lab_pos]
    if not lab_ok.all():
        # "1:2" where the label should be: strtod() cannot read it.
        i = int(lab_pos[np.argmin(lab_ok)])
        errors.append((i, 0, "%s:%d: bad label '%s'" % (path, line_of[i], _quote(tok_text(i)))))
    lab_tokens = np.where(lab_ok, other_t[lab_pos], b"0").tolist()
    labels, bad, _ = _parse_numbers(lab_tokens)
    if bad is not None:
        i = int(lab_pos[bad])
        errors.append((i, 0, "%s:%d: bad label '%s'" % (path, line_of[i], _quote(tok_text(i)))))

    no_colon = np.flatnonzero(is_feat_pos & is_other)
    if no_colon.size:
        i = int(no_colon[0])
        errors.append((i, 0, "%s:%d: bad feature '%s' (expected index:value)"
                       % (path, line_of[i], _quote(other_t[i]))))
    feat_pos = np.flatnonzero(is_feat_pos & ~is_other)
    idx_raw = idx_t[feat_pos].tolist()
    val_raw = val_t[feat_pos].tolist()
    idx_arr = np.array(idx_raw, dtype=bytes) if idx_raw else np.zeros(0, dtype="S1")
    digits = np.char.isdigit(idx_arr) if idx_raw else np.zeros(0, bool)
    if not digits.all():
        k = int(np.argmin(digits))
        i = int(feat_pos[k])
        errors.append((i, 1, "%s:%d: bad feature index '%s'"
                       % (path, line_of[i], _quote(idx_raw[k]))))
        idx_arr = np.where(digits, idx_arr, b"1")
    # The C loop stops accumulating past MAX_FEATURES, so only the size matters for long
    # numbers: leading zeros are stripped first ("007" is 7).
    stripped = np.char.lstrip(idx_arr, b"0") if idx_raw else idx_arr
    too_long = np.char.str_len(stripped) > 10 if idx_raw else np.zeros(0, bool)
    stripped = np.where(too_long, b"9999999999", stripped)
    stripped = np.where(stripped == b"", b"0", stripped)
    idx = stripped.astype(np.int64) if idx_raw else np.zeros(0, np.int64)
    idx[too_long] = MAX_FEATURES + 1
    checks = [(idx == 0, 2, lambda k: "feature index 0 (indices start at 1)"),
              (idx > MAX_FEATURES, 3,
               lambda k: "feature index over the limit of %d" % MAX_FEATURES)]
    if n_features:
        checks.append((idx > n_features, 4,
                       lambda k: "feature index %d but n_features is %d" % (idx[k], n_features)))
    same_line = np.zeros(idx.size, bool)
    if idx.size > 1:
        same_line[1:] = sample_of[feat_pos[1:]] == sample_of[feat_pos[:-1]]
    prev = np.where(same_line, np.concatenate([[0], idx[:-1]]), 0)
    checks.append((idx <= prev, 5, lambda k: "indices not increasing (%d after %d)"
                   % (idx[k], prev[k])))
    for mask, order, msg in checks:
        if mask.any():
            k = int(np.argmax(mask))
            i = int(feat_pos[k])
            errors.append((i, order, "%s:%d: %s" % (path, line_of[i], msg(k))))
    vals, bad, kind = _parse_numbers(val_raw)
    if bad is not None:
        i = int(feat_pos[bad])
        errors.append((i, 6, "%s:%d: %s value '%s'" % (path, line_of[i], kind,
                                                        _quote(val_raw[bad]))))
    if errors:
        raise DataError(min(errors)[2])

    m = int(lab_pos.size)
    if m == 0:
        raise DataError("%s: no samples" % path)
    if m > MAX_SAMPLES:
        raise DataError("%s: more than %d samples" % (path, MAX_SAMPLES))
    max_index = int(idx.max()) if idx.size else 0
    p = n_features if n_features else max_index
    if p == 0:
        raise DataError("%s: no features in any sample" % path)
    return _libsvm_csr(m, p, labels, sample_of[feat_pos], idx, vals)


# ---- CSV (data_csv.c) ----

def load_csv(path, n_features=0, max_samples=0, label_column=0, header=False):
    if label_column < 0:
        raise DataError("%s: csv_label_column %d is negative" % (path, label_column))
    data, _ = read_bytes(path)
    _check_text(path, data)
    # Lines as the reader returns them: split at '\n', one trailing '\r' removed.
    data = re.sub(rb"\r(?=\n)|\r\Z", b"", data)
    arr = np.frombuffer(data, dtype=np.uint8)
    starts, ends = _lines(arr)
    lineno = np.arange(1, starts.size + 1)
    ncols_all = _line_count(arr == 44, starts, ends) + 1
    # blank lines (spaces and tabs only) are skipped
    keep = _line_any((arr != 32) & (arr != 9) & (arr != 10), starts, ends)
    if header:
        keep[0] = False  # the first line, whatever it holds
    if max_samples:
        keep &= np.cumsum(keep) <= max_samples  # the rest is not even parsed
    lineno, ncols = lineno[keep], ncols_all[keep]
    if lineno.size == 0:
        raise DataError("%s: no samples" % path)
    fields = np.array(re.split(rb"[,\n]", data), dtype=object)
    fields = fields[np.repeat(keep, ncols_all)].tolist()
    fields = list(map(bytes.strip, fields, itertools.repeat(b" \t")))
    field_line = np.repeat(lineno, ncols)
    field_col = np.arange(len(fields)) - np.repeat(np.cumsum(ncols) - ncols, ncols)
    errors = []
    empty = np.fromiter(map(len, fields), dtype=np.int64, count=len(fields)) == 0
    if empty.any():
        k = int(np.argmax(empty))
        errors.append((field_line[k], 0, field_col[k],
                       "%s:%d: bad value '' in column %d" % (path, field_line[k],
                                                             field_col[k] + 1)))
        fields = np.where(empty, b"0", np.array(fields, dtype=object)).tolist()
    vals, bad, kind = _parse_numbers(fields, leading_space=True)
    if bad is not None:
        errors.append((field_line[bad], 0, field_col[bad],
                       "%s:%d: %s value '%s' in column %d" % (path, field_line[bad], kind,
                                                              _quote(fields[bad]),
                                                              field_col[bad] + 1)))
    k = int(ncols[0])
    first = int(lineno[0])
    if label_column >= k:
        errors.append((first, 1, 0, "%s:%d: label column %d but only %d columns"
                       % (path, first, label_column, k)))
    elif k < 2 and not n_features:
        errors.append((first, 1, 0, "%s:%d: no feature columns besides the label"
                       % (path, first)))
    elif n_features and k - 1 > n_features:
        errors.append((first, 1, 0, "%s:%d: %d feature columns but n_features is %d"
                       % (path, first, k - 1, n_features)))
    wrong = np.flatnonzero(ncols != k)
    if wrong.size:
        j = int(wrong[0])
        errors.append((lineno[j], 1, 0, "%s:%d: expected %d columns, found %d"
                       % (path, lineno[j], k, ncols[j])))
    if errors:
        raise DataError(min(errors)[3])
    m = int(lineno.size)
    if m > MAX_SAMPLES:
        raise DataError("%s: more than %d samples" % (path, MAX_SAMPLES))
    table = vals.reshape(m, k)
    p = n_features if n_features else k - 1
    x = np.zeros((m, p))
    x[:, :k - 1] = np.delete(table, label_column, axis=1)
    return Dataset(m, p, table[:, label_column].copy(), x=x)


# ---- IDX (data_idx.c) ----

IDX_MAGIC_IMAGES = 0x00000803
IDX_MAGIC_LABELS = 0x00000801


def _idx_header(path, data, magic, ndim, what):
    if len(data) >= 4 and int.from_bytes(data[:4], "big") != magic:
        raise DataError("%s: not an IDX %s file (magic 0x%08x, expected 0x%08x)"
                        % (path, what, int.from_bytes(data[:4], "big"), magic))
    want = 4 * (1 + ndim)
    if len(data) < want:
        raise DataError("%s: truncated IDX header" % path)
    return [int.from_bytes(data[4 * (i + 1):4 * (i + 2)], "big") for i in range(ndim)]


def load_idx(path, labels_path, n_features=0, max_samples=0, scale=1.0 / 255.0):
    if not labels_path:
        raise DataError("%s: IDX images need a labels file (labels_path)" % path)
    img, img_direct = read_bytes(path)
    idim = _idx_header(path, img, IDX_MAGIC_IMAGES, 3, "images")
    lab, lab_direct = read_bytes(labels_path)
    ldim = _idx_header(labels_path, lab, IDX_MAGIC_LABELS, 1, "labels")
    m = idim[0]
    q = idim[1] * idim[2]
    if m == 0:
        raise DataError("%s: no samples" % path)
    if q == 0:
        raise DataError("%s: images of %d x %d pixels" % (path, idim[1], idim[2]))
    if ldim[0] != m:
        raise DataError("%s: %d labels but %s has %d images" % (labels_path, ldim[0], path, m))
    if m > MAX_SAMPLES:
        raise DataError("%s: %d samples, over the limit of %d" % (path, m, MAX_SAMPLES))
    whole = max_samples == 0 or m <= max_samples
    if not whole:
        m = max_samples
    if q > MAX_FEATURES:
        raise DataError("%s: %d pixels per image, over the limit of %d"
                        % (path, q, MAX_FEATURES))
    if n_features and q > n_features:
        raise DataError("%s: %d pixels per image but n_features is %d" % (path, q, n_features))
    p = n_features if n_features else q
    # A plain file's size is known up front (check_size); a gzip one is found short when
    # its bytes run out (read_u8_rows).
    if img_direct and len(img) < 16 + m * q:
        raise DataError("%s: truncated: expected %d bytes of image data" % (path, m * q))
    if lab_direct and len(lab) < 8 + m:
        raise DataError("%s: truncated: expected %d bytes of label data" % (labels_path, m))
    for name, buf, head, total, what in ((labels_path, lab, 8, m, "label"),
                                         (path, img, 16, m * q, "image")):
        have = len(buf) - head
        if have < total:
            raise DataError("%s: truncated: expected %d bytes of %s data, found %d"
                            % (name, total, what, have))
        if whole and have > total:
            raise DataError("%s: data after the %d bytes of %s data" % (name, total, what))
    y = np.frombuffer(lab, dtype=np.uint8, count=m, offset=8).astype(np.float64)
    pix = np.frombuffer(img, dtype=np.uint8, count=m * q, offset=16).reshape(m, q)
    # chunk[k] * scale in C: the byte converted to double, then one rounded product.
    x = np.zeros((m, p)) if p != q else np.empty((m, p))
    np.multiply(pix, scale, out=x[:, :q], casting="unsafe")
    return Dataset(m, p, y, x=x)


# ---- dispatch ----

def load(path, fmt="auto", labels_path="", n_features=0, max_samples=0, label_column=0,
         header=False):
    """pd_data_load(); a worker uses CSV label column 0, no CSV header, pixels times
    1/255."""
    if n_features > MAX_FEATURES:
        raise DataError("%s: n_features %d is over the limit of %d"
                        % (path, n_features, MAX_FEATURES))
    if max_samples >= MAX_SAMPLES:
        max_samples = 0  # a cap at or above the hard limit caps nothing
    if fmt not in FORMATS:
        fmt = "auto"  # worker.c keeps PD_DATA_AUTO for a name it does not know
    if fmt == "auto":
        fmt = guess_format(path)
    if fmt == "libsvm":
        return load_libsvm(path, n_features, max_samples)
    if fmt == "csv":
        return load_csv(path, n_features, max_samples, label_column, header)
    return load_idx(path, labels_path, n_features, max_samples)


def resolve_path(job_path, is_train, data=None, data_dir=None):
    """worker.c resolve_path(): --data replaces the training set's path, --data-dir keeps
    only the base name of the job's path."""
    if is_train and data:
        return data
    if data_dir and job_path:
        return os.path.join(data_dir, os.path.basename(job_path))
    return job_path


def _load_checked(job, path, labels, want_fp, what, data, data_dir):
    is_train = what == "training"
    p = resolve_path(path, is_train, data, data_dir)
    lp = resolve_path(labels, False, None, data_dir)
    d = load(p, job.data_format or "auto", lp, int(job.features), int(job.max_samples))
    if d.fingerprint != want_fp:
        raise DataError("%s: the %s set's fingerprint %016x is not the job's %016x (not the "
                        "server's data)" % (p, what, d.fingerprint, want_fp))
    return d


def load_job_data(job, data=None, data_dir=None):
    """The job's (train, test) sets, each checked against the job's fingerprint; test is
    None when the job has no test set. `data` and `data_dir` are paramd-worker's --data and
    --data-dir. Raises DataError naming the file and the problem."""
    train = _load_checked(job, job.train_path, job.train_labels_path, job.train_fingerprint,
                          "training", data, data_dir)
    test = None
    if job.test_path:
        test = _load_checked(job, job.test_path, job.test_labels_path, job.test_fingerprint,
                             "test", data, data_dir)
    return train, test
