"""The models a paramd worker computes (common/model*.c, ALGORITHMS.md §6), vectorised.

Each model gives, over a list of sample indices (repeats allowed), the sum of per-sample
losses and gradients, the sum of Hessian-vector products, and over a contiguous range the
loss sum and the number of correct predictions (EVAL). Parameters are laid out exactly as
in model.h. Nothing here regularises: the server adds that.

Bits: the C code sums per-sample terms one after another and calls OpenBLAS for dense
products; here per-sample terms are summed in the same order (np.add.accumulate), but the
dense products go through numpy's BLAS in blocks of another size, and numpy's exp/log may
differ from glibc's in the last bit. Results agree to about 1e-13 relative, not bit for bit.
The quadratic model of quad.h is here for doc/models.md's vectors only: paramd-worker refuses
it (paramd-sim alone runs it), and so does bind().
"""
import numpy as np

# Samples per vectorised block: bounds the scratch (BLOCK x features doubles) while keeping
# numpy's per-call overhead negligible.
BLOCK = 4096
MAX_CLASSES = 1 << 24
MLP_MAX_LAYERS = 8
MAX_WIDTH = 1 << 24


class ModelError(ValueError):
    """The job's model does not fit its data (pd_model_bind's refusals)."""


def seqsum(a):
    """Sum in index order, as the C loops add per-sample terms (np.sum is pairwise)."""
    a = np.asarray(a, dtype=np.float64)
    return float(np.add.accumulate(a)[-1]) if a.size else 0.0


def _blocks(n, width=0):
    """[begin, end) blocks of n samples. With a row width (the MLP's dense input rows),
    blocks shrink so one block stays near 32 MB, down to model_mlp.c's 256 rows: a wide
    sparse set must not be densified 4096 rows at a time."""
    size = BLOCK if width == 0 else max(256, min(BLOCK, (1 << 22) // max(width, 1)))
    for b in range(0, n, size):
        yield b, min(n, b + size)


def softplus(t):
    """log(1 + e^t) without overflow (model_internal.h pd_softplus)."""
    return np.maximum(t, 0.0) + np.log1p(np.exp(-np.abs(t)))


def sigmoid(t):
    """1 / (1 + e^-t) by the branch of pd_sigmoid: exp() of a non-positive number only."""
    e = np.exp(-np.abs(t))
    return np.where(t >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


class _Linear:
    """Shared by the one-output linear models: z = a_j . w (+ w[p] with a bias) and its
    transpose; the parameters are the p weights, then the bias."""

    classes = 1

    def __init__(self, p, bias):
        self.p = p
        self.bias = bool(bias)
        self.dim = p + (1 if bias else 0)

    def dots(self, d, idx, w):
        """z_i = a_{idx_i} . w[:p] (+ w[p]) for a block of indices."""
        if d.sparse:
            row, col, val = d.rows(idx)
            # bincount adds each row's terms in stored order, as pd_model_row_dot does.
            z = np.bincount(row, weights=val * w[col], minlength=idx.size)
        else:
            z = d.x[idx] @ w[:self.p]
        if self.bias:
            z = z + w[self.p]
        return z

    def scatter(self, d, idx, coef, g):
        """g += sum_i coef_i (a_{idx_i}, 1)."""
        if d.sparse:
            row, col, val = d.rows(idx)
            g[:self.p] += np.bincount(col, weights=coef[row] * val, minlength=self.p)
        else:
            g[:self.p] += d.x[idx].T @ coef
        if self.bias:
            g[self.p] += seqsum(coef)


class Logistic(_Linear):
    """Binary logistic regression, labels {0,1} or {-1,+1} read as +-1 (model_logistic.c)."""

    name = "logistic"

    @staticmethod
    def label_ok(y):
        return (y == -1.0) | (y == 0.0) | (y == 1.0)

    @staticmethod
    def check_labels(y):
        bad = ~Logistic.label_ok(y)
        if bad.any():
            i = int(np.argmax(bad))
            raise ModelError("logistic: label %g of sample %d is not in {0,1} or {-1,+1}"
                             % (y[i], i))
        m1, z0, p1 = (y == -1.0).any(), (y == 0.0).any(), (y == 1.0).any()
        if m1 and z0:
            raise ModelError("logistic: labels mix the {0,1} and {-1,+1} conventions")
        if not p1 or not (m1 or z0):
            raise ModelError("logistic: need exactly two label values, found only %s"
                             % ("1" if p1 else ("0" if z0 else "-1")))

    def grad_sum(self, d, x, idx):
        g = np.zeros(self.dim)
        losses = []
        for b, e in _blocks(idx.size):
            j = idx[b:e]
            y = np.where(d.y[j] > 0.0, 1.0, -1.0)
            t = -y * self.dots(d, j, x)
            losses.append(softplus(t))
            self.scatter(d, j, -y * sigmoid(t), g)
        return seqsum(np.concatenate(losses) if losses else []), g

    def loss_sum(self, d, x, idx):
        losses = []
        for b, e in _blocks(idx.size):
            j = idx[b:e]
            y = np.where(d.y[j] > 0.0, 1.0, -1.0)
            losses.append(softplus(-y * self.dots(d, j, x)))
        return seqsum(np.concatenate(losses) if losses else [])

    def hvp_sum(self, d, x, v, idx):
        hv = np.zeros(self.dim)
        for b, e in _blocks(idx.size):
            j = idx[b:e]
            z, zv = self.dots(d, j, x), self.dots(d, j, v)
            # sigma(z) sigma(-z), not s (1 - s): no cancellation when s is near 1
            self.scatter(d, j, sigmoid(z) * sigmoid(-z) * zv, hv)
        return hv

    def eval_range(self, d, x, begin, end):
        j = np.arange(begin, end, dtype=np.int64)
        if j.size == 0:
            return 0.0, 0
        y = np.where(d.y[j] > 0.0, 1.0, -1.0)
        z = self.dots(d, j, x)
        # z == 0 predicts the negative class (sigma(0) = 1/2 is not > 1/2)
        correct = int(np.count_nonzero(np.where(z > 0.0, 1.0, -1.0) == y))
        return seqsum(softplus(-y * z)), correct


class LeastSquares(_Linear):
    """f_j = (a_j . x - b_j)^2 / 2 (model_lsq.c)."""

    name = "least-squares"

    @staticmethod
    def label_ok(y):
        return np.isfinite(y)

    @staticmethod
    def check_labels(y):
        bad = ~np.isfinite(y)
        if bad.any():
            raise ModelError("least-squares: label of sample %d is not finite"
                             % int(np.argmax(bad)))

    def grad_sum(self, d, x, idx):
        g = np.zeros(self.dim)
        losses = []
        for b, e in _blocks(idx.size):
            j = idx[b:e]
            r = self.dots(d, j, x) - d.y[j]
            losses.append(0.5 * r * r)
            self.scatter(d, j, r, g)
        return seqsum(np.concatenate(losses) if losses else []), g

    def loss_sum(self, d, x, idx):
        losses = []
        for b, e in _blocks(idx.size):
            j = idx[b:e]
            r = self.dots(d, j, x) - d.y[j]
            losses.append(0.5 * r * r)
        return seqsum(np.concatenate(losses) if losses else [])

    def hvp_sum(self, d, x, v, idx):
        hv = np.zeros(self.dim)
        for b, e in _blocks(idx.size):
            j = idx[b:e]
            self.scatter(d, j, self.dots(d, j, v), hv)
        return hv

    def eval_range(self, d, x, begin, end):
        j = np.arange(begin, end, dtype=np.int64)
        if j.size == 0:
            return 0.0, 0
        r = self.dots(d, j, x) - d.y[j]
        return seqsum(0.5 * r * r), 0  # regression: nothing is "correct"


def _class_labels_ok(y, classes):
    return (y >= 0.0) & (y < float(classes)) & (y == np.floor(y))


def _check_class_labels(y, n_classes, who):
    """check_softmax_labels(): integers in [0, 2^24), below n_classes when given; returns C."""
    ok = (y >= 0.0) & (y < float(MAX_CLASSES)) & (y == np.floor(y))
    if not ok.all():
        i = int(np.argmin(ok))
        raise ModelError("%s: label %g of sample %d is not an integer in [0, %d)"
                         % (who, y[i], i, MAX_CLASSES))
    if n_classes:
        over = y >= float(n_classes)
        if over.any():
            i = int(np.argmax(over))
            raise ModelError("%s: label %g of sample %d is not below n_classes=%d"
                             % (who, y[i], i, n_classes))
    c = n_classes if n_classes else int(y.max()) + 1
    if c < 2 or c > MAX_CLASSES:
        raise ModelError("%s: need between 2 and %d classes, got %d" % (who, MAX_CLASSES, c))
    return c


class Softmax:
    """Multinomial softmax regression: W is C rows of (p + bias) (model_softmax.c)."""

    name = "softmax"

    def __init__(self, p, bias, classes):
        self.p = p
        self.bias = bool(bias)
        self.classes = classes
        self.ld = p + (1 if bias else 0)
        self.dim = self.ld * classes

    def label_ok(self, y):
        return _class_labels_ok(y, self.classes)

    def logits(self, d, idx, x):
        W = x.reshape(self.classes, self.ld)
        if d.sparse:
            # One bincount per class (a handful): each row's terms are added in stored
            # order from 0, as block_logits() adds them.
            row, col, val = d.rows(idx)
            z = np.empty((idx.size, self.classes))
            for c in range(self.classes):
                z[:, c] = np.bincount(row, weights=val * W[c, col], minlength=idx.size)
        else:
            z = d.x[idx] @ W[:, :self.p].T
        if self.bias:
            z += W[:, self.p]
        return z

    def scatter(self, d, idx, r, g):
        """g (C x ld) += R^T (A, 1)."""
        G = g.reshape(self.classes, self.ld)
        if d.sparse:
            row, col, val = d.rows(idx)
            for c in range(self.classes):
                G[c, :self.p] += np.bincount(col, weights=r[row, c] * val, minlength=self.p)
        else:
            G[:, :self.p] += r.T @ d.x[idx]
        if self.bias:
            G[:, self.p] += np.add.accumulate(r, axis=0)[-1]

    @staticmethod
    def softmax(z, y):
        """row_softmax(): probabilities (times 1/s, as the C code), losses, hits."""
        arg = np.argmax(z, axis=1)  # the first maximal logit, as the strict > loop
        rows = np.arange(z.shape[0])
        zmax = z[rows, arg]
        zy = z[rows, y]
        e = np.exp(z - zmax[:, None])
        s = np.add.accumulate(e, axis=1)[:, -1]
        return e * (1.0 / s)[:, None], zmax + np.log(s) - zy, arg == y

    def _forward(self, d, x, idx, grad):
        losses, hits = [], 0
        for b, e in _blocks(idx.size):
            j = idx[b:e]
            y = d.y[j].astype(np.int64)
            p, loss, hit = self.softmax(self.logits(d, j, x), y)
            losses.append(loss)
            hits += int(np.count_nonzero(hit))
            if grad is not None:
                p[np.arange(j.size), y] -= 1.0  # p - e_y
                self.scatter(d, j, p, grad)
        return seqsum(np.concatenate(losses) if losses else []), hits

    def grad_sum(self, d, x, idx):
        g = np.zeros(self.dim)
        loss, _ = self._forward(d, x, idx, g)
        return loss, g

    def loss_sum(self, d, x, idx):
        return self._forward(d, x, idx, None)[0]

    def hvp_sum(self, d, x, v, idx):
        hv = np.zeros(self.dim)
        for b, e in _blocks(idx.size):
            j = idx[b:e]
            p, _, _ = self.softmax(self.logits(d, j, x), np.zeros(j.size, np.int64))
            zd = self.logits(d, j, v)
            pz = np.add.accumulate(p * zd, axis=1)[:, -1]
            # pdot = p .* (zdot - p^T zdot) (§6.5 #4)
            self.scatter(d, j, p * (zd - pz[:, None]), hv)
        return hv

    def eval_range(self, d, x, begin, end):
        return self._forward(d, x, np.arange(begin, end, dtype=np.int64), None)


class MLP:
    """Multilayer perceptron with softmax cross-entropy (model_mlp.c): per layer l = 1..L the
    weights W_l (width[l] x width[l-1], row-major) then the bias b_l."""

    name = "mlp"

    def __init__(self, widths, activation):
        self.widths = [int(w) for w in widths]
        self.activation = activation
        self.L = len(self.widths) - 1
        self.p = self.widths[0]
        self.classes = self.widths[-1]
        self.bias = True
        self.offsets = []
        off = 0
        for l in range(1, self.L + 1):
            self.offsets.append(off)
            off += self.widths[l] * self.widths[l - 1] + self.widths[l]
        self.dim = off

    def label_ok(self, y):
        return _class_labels_ok(y, self.classes)

    def layer(self, x, l):
        """(W_l, b_l) as views of the flat vector x."""
        off, fo, fi = self.offsets[l - 1], self.widths[l], self.widths[l - 1]
        return x[off:off + fo * fi].reshape(fo, fi), x[off + fo * fi:off + fo * fi + fo]

    def tensors(self):
        out = []
        for l in range(1, self.L + 1):
            out += [self.widths[l] * self.widths[l - 1], self.widths[l]]
        return out

    def _act(self, z):
        return np.tanh(z) if self.activation == "tanh" else np.maximum(z, 0.0)

    def _d1(self, a):
        return 1.0 - a * a if self.activation == "tanh" else (a > 0.0).astype(np.float64)

    def _d2(self, a):
        return -2.0 * a * (1.0 - a * a) if self.activation == "tanh" else np.zeros_like(a)

    def _forward(self, x, a0):
        acts = [a0]
        for l in range(1, self.L + 1):
            W, b = self.layer(x, l)
            z = acts[-1] @ W.T + b
            acts.append(self._act(z) if l < self.L else z)
        return acts

    @staticmethod
    def _softmax(z, y):
        """softmax_loss() of model_mlp.c: probabilities by division by the sum."""
        arg = np.argmax(z, axis=1)
        rows = np.arange(z.shape[0])
        zmax = z[rows, arg]
        zy = z[rows, y]
        e = np.exp(z - zmax[:, None])
        s = np.add.accumulate(e, axis=1)[:, -1]
        return e / s[:, None], zmax + np.log(s) - zy, arg == y

    def _run(self, d, x, idx, grad=None, v=None, hv=None):
        losses, hits = [], 0
        for b, e in _blocks(idx.size, self.p):
            j = idx[b:e]
            y = d.y[j].astype(np.int64)
            acts = self._forward(x, d.dense_rows(j))
            p, loss, hit = self._softmax(acts[-1], y)
            losses.append(loss)
            hits += int(np.count_nonzero(hit))
            if grad is None and hv is None:
                continue
            delta = p.copy()
            delta[np.arange(j.size), y] -= 1.0
            if grad is not None:
                self._backward(x, acts, delta, grad)
            if hv is not None:
                self._hvp(x, v, acts, p, delta, hv)
        return seqsum(np.concatenate(losses) if losses else []), hits

    def _add(self, g, l, left, right, bias_rows=True):
        """g_W_l += left^T right; g_b_l += column sums of left (accumulate_layer)."""
        gW, gb = self.layer(g, l)
        gW += left.T @ right
        if bias_rows:
            gb += np.add.accumulate(left, axis=0)[-1]

    def _backward(self, x, acts, delta, grad):
        for l in range(self.L, 0, -1):
            self._add(grad, l, delta, acts[l - 1])
            if l == 1:
                break
            W, _ = self.layer(x, l)
            delta = (delta @ W) * self._d1(acts[l - 1])

    def _hvp(self, x, v, acts, p, delta, hv):
        """Pearlmutter's R-operator (hvp_block in model_mlp.c, ALGORITHMS.md §6.4)."""
        rz = [None] * (self.L + 1)
        ra = [None] * (self.L + 1)
        ra[0] = None
        for l in range(1, self.L + 1):
            W, _ = self.layer(x, l)
            V, vb = self.layer(v, l)
            r = acts[l - 1] @ V.T
            if l > 1:
                r = r + ra[l - 1] @ W.T
            rz[l] = r + vb
            if l < self.L:
                ra[l] = self._d1(acts[l]) * rz[l]
        zL = rz[self.L]
        dot = np.add.accumulate(p * zL, axis=1)[:, -1]
        rdelta = p * (zL - dot[:, None])
        for l in range(self.L, 0, -1):
            self._add(hv, l, rdelta, acts[l - 1])
            if l == 1:
                break
            self._add(hv, l, delta, ra[l - 1], bias_rows=False)
            W, _ = self.layer(x, l)
            V, _ = self.layer(v, l)
            tmp = delta @ W
            tmp2 = delta @ V + rdelta @ W
            a = acts[l - 1]
            d1 = self._d1(a)
            delta, rdelta = d1 * tmp, self._d2(a) * rz[l - 1] * tmp + d1 * tmp2

    def grad_sum(self, d, x, idx):
        g = np.zeros(self.dim)
        loss, _ = self._run(d, x, idx, grad=g)
        return loss, g

    def loss_sum(self, d, x, idx):
        return self._run(d, x, idx)[0]

    def hvp_sum(self, d, x, v, idx):
        hv = np.zeros(self.dim)
        self._run(d, x, idx, v=v, hv=hv)
        return hv

    def eval_range(self, d, x, begin, end):
        return self._run(d, x, np.arange(begin, end, dtype=np.int64))


class Quadratic:
    """The quadratic finite sum of quad.h (model_quad.c): row j of the data is (c_j, sigma_j)
    with A_j = c_j T + sigma_j I, T = tridiag(-1, 2, -1), and its label is b_j, the first
    entry of b_j e_1. A batch sums its coefficients first and applies T once."""

    name = "quadratic"

    def __init__(self, dim):
        self.dim = int(dim)
        self.p = 2
        self.bias = False
        self.classes = 1

    @staticmethod
    def label_ok(y):
        return np.isfinite(y)

    @staticmethod
    def _t(x):
        """(T x)_k = 2 x_k - x_{k-1} - x_{k+1}, zeros past the ends (t_apply)."""
        left = np.concatenate([[0.0], x[:-1]])
        right = np.concatenate([x[1:], [0.0]])
        return 2.0 * x - left - right

    @staticmethod
    def _sums(d, idx):
        return seqsum(d.x[idx, 0]), seqsum(d.x[idx, 1]), seqsum(d.y[idx])

    def _value_grad(self, sums, x, grad):
        c, sig, b = sums
        t = self._t(x)
        if grad is not None:
            grad += c * t + sig * x
            grad[0] -= b
        return 0.5 * c * seqsum(x * t) + 0.5 * sig * seqsum(x * x) - b * x[0]

    def grad_sum(self, d, x, idx):
        g = np.zeros(self.dim)
        return self._value_grad(self._sums(d, idx), x, g), g

    def loss_sum(self, d, x, idx):
        return self._value_grad(self._sums(d, idx), x, None)

    def hvp_sum(self, d, x, v, idx):
        c, sig, _ = self._sums(d, idx)
        return c * self._t(v) + sig * v  # the Hessian does not depend on x

    def eval_range(self, d, x, begin, end):
        j = np.arange(begin, end, dtype=np.int64)
        return self._value_grad(self._sums(d, j), x, None), 0  # not a classifier


def tensors(model):
    """pd_model_tensors(): lengths of the parameter tensors in layout order."""
    return model.tensors() if isinstance(model, MLP) else [model.dim]


def make(name, train, bias=False, classes=0, layers=(), activation="", dim=0):
    """The model `name` on the training set `train`, with the label and shape checks of
    pd_model_bind() and pd_model_bind_mlp(); "quadratic" (paramd-sim's model) only with its
    dim. Raises ModelError naming the problem."""
    if name in ("logistic", "least-squares", "softmax"):
        if train.p >= (1 << 31) - 1:
            raise ModelError("%s: %d features is over the BLAS limit" % (name, train.p))
        if name == "logistic":
            Logistic.check_labels(train.y)
            return Logistic(train.p, bias)
        if name == "least-squares":
            LeastSquares.check_labels(train.y)
            return LeastSquares(train.p, bias)
        return Softmax(train.p, bias, _check_class_labels(train.y, int(classes), "softmax"))
    if name == "mlp":
        widths = [int(w) for w in layers]
        if not 2 <= len(widths) <= MLP_MAX_LAYERS + 1 or activation not in ("tanh", "relu"):
            raise ModelError("the job's network (%d widths, activation '%s') is not one this "
                             "worker can run" % (len(widths), activation))
        if any(w < 1 or w > MAX_WIDTH for w in widths) or widths[-1] < 2:
            raise ModelError("mlp: widths %s are not in [1, %d] with at least 2 outputs"
                             % (widths, MAX_WIDTH))
        if widths[0] != train.p:
            raise ModelError("mlp: layers start with %d inputs but the data has %d features"
                             % (widths[0], train.p))
        _check_class_labels(train.y, widths[-1], "mlp")
        return MLP(widths, activation)
    if name == "quadratic" and dim:
        if train.p != 2 or train.sparse or train.m == 0:
            raise ModelError("quadratic: need 2 dense columns, samples and dim > 0")
        if not (np.isfinite(train.x).all() and np.isfinite(train.y).all()):
            raise ModelError("quadratic: a component is not finite")
        return Quadratic(dim)
    raise ModelError("the server's job has model '%s', which a task worker cannot run" % name)


def bind(job, train):
    """The job's model on its training set (make()), with paramd-worker's load_job() check
    that the job's dim is the model's. Raises ModelError naming the problem."""
    m = make(job.model, train, job.bias, job.classes, job.layers, job.activation)
    if m.dim != job.dim:
        raise ModelError("model %s does not fit the data: %d parameters, the job says %d"
                         % (job.model, m.dim, job.dim))
    m.bias_regularized = bool(job.bias_regularized)
    return m


def bias_mask(model):
    """pd_model_bias_mask(): 1.0 for regularised coordinates, 0.0 for bias ones."""
    mask = np.ones(model.dim)
    if getattr(model, "bias_regularized", False):
        return mask
    if isinstance(model, MLP):
        for l in range(1, model.L + 1):
            off = model.offsets[l - 1]
            nw = model.widths[l] * model.widths[l - 1]
            mask[off + nw:off + nw + model.widths[l]] = 0.0
        return mask
    if model.bias:
        ld = model.p + 1
        mask.reshape(-1, ld)[:, model.p] = 0.0
    return mask
