"""What a paramd worker computes for a TASK: the Python twin of common/task_kind.c,
common/compute.c and worker/worker.c (take_frames, take_lsr1_frame, run_task).

Computer(job, train, test).run(header, frames) checks the task's frames as paramd-worker
does, computes the task kind over its sample set (doc/protocol.md "Sample sets") and returns
the RESULT's header fields and frames. It holds the last parameter frame and its version,
because the server omits x from a later task at the same version. It does no I/O.

LOCAL_TR, the APTS subdomain solve (ALGORITHMS.md §4.2-§4.5), is the second half of this
file: common/apts_task.c, apts_local.c, trust_region.c and the parts of lsr1.c a frozen
block memory uses, ported step for step. It stays in this module because the package's
build installs a fixed list of modules. Its accept/reject decisions compare ratios with
thresholds, so a last-bit difference in a dot product (numpy's BLAS against OpenBLAS) could
in principle flip one decision; the tests have not met such a case.
"""
import math

import numpy as np

from . import models, paramd_pb2 as pb, rng
from .errors import DataError

UINT32_MAX = 0xFFFFFFFF

# task_kind.c rows: the second parameter frame a TASK carries and whether the RESULT
# carries a vector. "block": optional, the LOCAL_TR gradient block.
_NONE, _POINT, _VECTOR, _BLOCK = "none", "point", "vector", "block"
KINDS = {
    pb.GRAD: ("GRAD", _NONE, True),
    pb.EVAL: ("EVAL", _NONE, False),
    pb.GRAD_DIFF: ("GRAD_DIFF", _POINT, True),
    pb.LOSS: ("LOSS", _NONE, False),
    pb.HVP: ("HVP", _VECTOR, True),
    pb.LOCAL_TR: ("LOCAL_TR", _BLOCK, True),
}


class TaskError(ValueError):
    """A TASK paramd-worker would refuse (wrong frames, a sample set outside the data, an
    unknown kind): the message says which. The worker rejoins, as paramd-worker does."""


def sample_indices(seed, batch, begin, end, m):
    """pd_task_samples(): with batch = 0 the training samples [begin, end); with batch > 0
    the batch drawn from seed, or positions [begin, end) of it when end > 0."""
    if batch == 0:
        if begin >= end or end > m or end - begin > UINT32_MAX:
            raise TaskError("sample range [%d, %d) is empty or outside the %d training "
                            "samples" % (begin, end, m))
        return np.arange(begin, end, dtype=np.int64)
    if end > batch or begin > end or (end > 0 and begin == end):
        raise TaskError("positions [%d, %d) are not a non-empty part of a batch of %d"
                        % (begin, end, batch))
    idx = rng.sample(seed, m, batch).astype(np.int64)
    return idx[begin:end] if end > 0 else idx


def _f64(frame, count, what, dtype="<f8"):
    """A frame of `count` little-endian doubles (or floats, dtype "<f4", widened exactly),
    checked as pd_wire_in_doubles does."""
    size = np.dtype(dtype).itemsize
    if len(frame) != count * size:
        raise TaskError("%s has %d bytes, expected %d values (%d bytes)"
                        % (what, len(frame), count, count * size))
    return np.frombuffer(bytes(frame), dtype=dtype).astype(np.float64)


class Computer:
    """The task side of a worker for one job (paramd-worker's load_job result)."""

    #: run() takes GRAD tasks with key lists (doc/protocol.md): the Worker says so in HELLO
    takes_key_lists = True

    def __init__(self, job, train, test=None):
        try:
            self.model = models.bind(job, train)
        except models.ModelError as e:
            raise DataError(str(e)) from None
        self.job = job
        self.train = train
        self.test = test
        self.x = None
        self.x_version = None
        self.key_x = None  # key-list tasks: x at the keys of the tasks so far (dim values)

    # ---- frames (worker.c take_frames / take_lsr1_frame) ----

    def _block_len(self, tr):
        return model_block(self.model, tr.n_blocks, tr.block)[1]

    def take_frames(self, t, frames):
        """(x, y or None, lsr1 memory or None) of TASK t, or TaskError."""
        name, frame2, _ = KINDS[t.kind]
        frames = list(frames)
        n = len(frames)
        # The counts are the wire layer's check; a header without them is a task whose x
        # the server omitted and the protocol loop filled in from its own copy (the Python
        # Worker does so), and then every frame is still checked against its expected length.
        if t.frame_counts and len(t.frame_counts) != n:
            raise TaskError("task %d lists %d frame counts for %d frames"
                            % (t.task_id, len(t.frame_counts), n))
        if n > 0 and t.elem_type not in (pb.F64, pb.F32):
            raise TaskError("task %d frames are neither F64 nor F32" % t.task_id)
        dt = "<f4" if t.elem_type == pb.F32 else "<f8"  # F32: a wire_type = float32 job
        for i, f in enumerate(frames):
            if t.frame_counts and t.frame_counts[i] * np.dtype(dt).itemsize != len(f):
                raise TaskError("task %d frame %d has %d bytes for %d values"
                                % (t.task_id, i + 1, len(f), t.frame_counts[i]))
        lsr1 = None
        if t.kind == pb.LOCAL_TR and t.HasField("local_tr") and t.local_tr.lsr1_pairs > 0:
            # x, [gradient block], memory: x is always sent with a memory frame
            if n not in (2, 3):
                raise TaskError("%s task %d with a memory carries %d frames"
                                % (name, t.task_id, n))
            pairs = t.local_tr.lsr1_pairs
            if pairs > 64:
                raise TaskError("task %d: lsr1_pairs %d is over 64" % (t.task_id, pairs))
            length = 2 * pairs * self._block_len(t.local_tr) + pairs * pairs
            lsr1 = _f64(frames[-1], length, "task %d memory frame" % t.task_id, dt)
            if not np.isfinite(lsr1).all():
                raise TaskError("task %d: non-finite L-SR1 memory" % t.task_id)
            frames = frames[:-1]
            n -= 1
        need = 2 if frame2 != _NONE else 1
        if n != need and not (need == 1 and n == 0) and not (frame2 == _BLOCK and n <= 1):
            raise TaskError("%s task %d carries %d frames, expected %d"
                            % (name, t.task_id, len(t.frame_counts), need))
        y = None
        if n == 2:
            if frame2 == _BLOCK:
                if not t.HasField("local_tr"):
                    raise TaskError("%s task %d: no such parameter block" % (name, t.task_id))
                ylen = self._block_len(t.local_tr)
            else:
                ylen = self.model.dim
            y = _f64(frames[1], ylen, "task %d frame 2" % t.task_id, dt)
        if n == 0:
            if self.x is None or self.x_version != t.version:
                raise TaskError("task %d at version %d without parameters"
                                % (t.task_id, t.version))
            return self.x, y, lsr1
        x = _f64(frames[0], self.model.dim, "task %d frame 1" % t.task_id, dt)
        # The cache holds x, the first frame: the server assumes so for later tasks.
        self.x, self.x_version = x, t.version
        return x, y, lsr1

    def take_keys(self, t, frames):
        """(keys, x) of a GRAD TASK with a key list (worker.c take_keys): x holds the task's
        values at its keys; elsewhere it keeps values the minibatch does not read."""
        n, dim = t.key_count, self.model.dim
        frames = list(frames)
        if (t.kind != pb.GRAD or len(frames) != 2 or t.elem_type != pb.F64 or n > dim
                or any(len(f) != 8 * n for f in frames)):
            raise TaskError("task %d with %d keys: a key list goes with a GRAD task, as frame 1 "
                            "of the keys then frame 2 of as many float64 values"
                            % (t.task_id, n))
        keys = np.frombuffer(bytes(frames[0]), dtype="<u8")
        if keys[-1] >= dim or (n > 1 and not (keys[1:] > keys[:-1]).all()):
            raise TaskError("task %d: its keys are not strictly increasing below %d"
                            % (t.task_id, dim))
        if self.key_x is None:
            self.key_x = np.zeros(dim)
        self.key_x[keys.astype(np.int64)] = np.frombuffer(bytes(frames[1]), dtype="<f8")
        return keys.astype(np.int64), self.key_x

    # ---- the kinds (task_kind.c run_*) ----

    def _set(self, t):
        return sample_indices(t.seed, t.batch, t.range_begin, t.range_end, self.train.m)

    def _grad(self, t, x, y, lsr1):
        idx = self._set(t)
        loss, g = self.model.grad_sum(self.train, x, idx)
        return {"loss_sum": loss, "n_samples": idx.size}, g

    def _grad_diff(self, t, x, y, lsr1):
        # Both sums over the same drawn indices (ALGORITHMS.md §3.5); the range fields are
        # not used by this kind.
        idx = rng.sample(t.seed, self.train.m, t.batch).astype(np.int64)
        loss, gx = self.model.grad_sum(self.train, x, idx)
        _, gy = self.model.grad_sum(self.train, y, idx)
        return {"loss_sum": loss, "n_samples": int(t.batch)}, gx - gy

    def _eval(self, t, x, y, lsr1):
        b, e, tb, te = t.range_begin, t.range_end, t.test_begin, t.test_end
        if e > self.train.m or b > e:
            raise TaskError("EVAL training range [%d, %d) is outside the %d samples"
                            % (b, e, self.train.m))
        loss, _ = self.model.eval_range(self.train, x, b, e)
        correct = 0
        if te != tb:
            if self.test is None or te > self.test.m or tb > te:
                raise TaskError("EVAL test range [%d, %d) is outside the test set" % (tb, te))
            if self.test.p != self.model.p:
                # without the job's `features` a test file may have fewer columns
                raise TaskError("EVAL: the test set has %d features, the model %d"
                                % (self.test.p, self.model.p))
            if not self.model.label_ok(self.test.y[tb:te]).all():
                raise TaskError("EVAL test range [%d, %d) has labels the model cannot use"
                                % (tb, te))
            _, correct = self.model.eval_range(self.test, x, tb, te)
        return {"loss_sum": loss, "n_samples": e - b, "correct": correct}, None

    def _loss(self, t, x, y, lsr1):
        idx = self._set(t)
        return {"loss_sum": self.model.loss_sum(self.train, x, idx), "n_samples": idx.size}, None

    def _hvp(self, t, x, y, lsr1):
        idx = self._set(t)
        hv = self.model.hvp_sum(self.train, x, y, idx)
        return {"loss_sum": 0.0, "n_samples": idx.size}, hv  # an HVP reports no loss

    def _local_tr(self, t, x, y, lsr1):
        if not t.HasField("local_tr"):
            raise TaskError("LOCAL_TR task %d has no local_tr fields" % t.task_id)
        step, report, n = run_local_tr(self, t, x, y, lsr1)
        # The sum form of the local objective, like every other kind's loss_sum.
        return {"loss_sum": report.loss * float(n), "n_samples": n, "local_tr": report}, step

    def run(self, t, frames):
        """Compute TASK header t with its frames (bytes, after the header frame). Returns
        (fields, out_frames): RESULT header field names -> values (with "local_tr" a
        paramd_pb2.LocalTr for LOCAL_TR) and the result frames as bytes. Raises TaskError
        where paramd-worker refuses the task."""
        if t.kind not in KINDS:
            raise TaskError("task %d has kind %d, which this worker does not know"
                            % (t.task_id, t.kind))
        if t.key_count > 0:
            keys, x = self.take_keys(t, frames)
            fields, g = self._grad(t, x, None, None)
            fields.update(key_count=t.key_count, version=t.version,
                          n_samples=int(fields["n_samples"]),
                          loss_sum=float(fields["loss_sum"]))
            return fields, [np.ascontiguousarray(g[keys], dtype="<f8").tobytes()]
        x, y, lsr1 = self.take_frames(t, frames)
        fn = {pb.GRAD: self._grad, pb.EVAL: self._eval, pb.GRAD_DIFF: self._grad_diff,
              pb.LOSS: self._loss, pb.HVP: self._hvp, pb.LOCAL_TR: self._local_tr}[t.kind]
        fields, out = fn(t, x, y, lsr1)
        fields.setdefault("correct", 0)
        fields["n_samples"] = int(fields["n_samples"])
        fields["loss_sum"] = float(fields["loss_sum"])
        fields["version"] = t.version
        fields["version_y"] = t.version_y
        frames_out = []
        if KINDS[t.kind][2]:
            frames_out.append(np.ascontiguousarray(out, dtype="<f8").tobytes())
        return fields, frames_out


# ---- LOCAL_TR: APTS local trust-region solve ----

DBL_EPSILON = 2.220446049250313e-16
TR_DEFAULTS = dict(radius_min=1e-3, radius_max=4.0, eta1=0.25, eta2=0.75, shrink=0.5,
                   grow=2.0, max_retries=10)  # trust_region.c pd_tr_params_default (§4.3)
LSR1_MEM_MAX = 64
LSR1_PIVOT_TOL = 1e-14
LSR1_CG_TOL = 1e-6
LSR1_CG_MAX_ITER = 50


def apts_blocks(lengths, n_blocks):
    """pd_apts_blocks(): group d takes floor(remaining / (n_blocks - d)) tensors, the last
    the rest. Returns [(offset, length)] of each block."""
    if n_blocks == 0 or n_blocks > len(lengths):
        raise TaskError("%d blocks of %d tensors" % (n_blocks, len(lengths)))
    out, t, pos = [], 0, 0
    for d in range(n_blocks):
        remaining = len(lengths) - t
        take = remaining if d + 1 == n_blocks else remaining // (n_blocks - d)
        n = sum(lengths[t:t + take])
        out.append((pos, n))
        pos += n
        t += take
    return out


def model_block(model, n_blocks, d):
    """pd_apts_model_block(): (offset, length) of block d of the model's tensors."""
    lengths = models.tensors(model)
    if n_blocks == 0 or n_blocks > len(lengths) or d >= n_blocks:
        raise TaskError("no such parameter block: %d of %d (the model has %d tensors)"
                        % (d, n_blocks, len(lengths)))
    return apts_blocks(lengths, n_blocks)[d]


def inf_norm(v):
    return float(np.max(np.abs(v))) if v.size else 0.0


class BlockMemory:
    """A frozen L-SR1 block memory B_d = gamma I + Psi_d M Psi_d^T (lsr1.c
    pd_lsr1_block_from): the task's S_d, Y_d and the global M^-1, kept as its LU factors
    with partial pivoting exactly as lu_factor() does."""

    def __init__(self, length, count, gamma, minv, s_d, y_d):
        if length == 0 or count > LSR1_MEM_MAX or not math.isfinite(gamma) or gamma == 0.0:
            raise TaskError("L-SR1 memory: %d pairs of length %d with gamma %r is not valid"
                            % (count, length, gamma))
        self.gamma = gamma if count > 0 else 1.0
        self.count = count
        # column j (oldest first) of S_d, Y_d: the frame is column-major length x count
        self.psi = (y_d.reshape(count, length) - gamma * s_d.reshape(count, length)).T.copy()
        self.lu, self.piv = self._factor(minv.reshape(count, count).copy())

    @staticmethod
    def _factor(a):
        k = a.shape[0]
        scale = float(np.max(np.abs(a))) if k else 0.0
        if k and (not scale > 0.0 or not math.isfinite(scale)):
            raise TaskError("L-SR1 memory: M^-1 is singular")
        piv = [0] * k
        for c in range(k):
            p = c
            for r in range(c + 1, k):  # the first strictly larger pivot wins, as in C
                if abs(a[r, c]) > abs(a[p, c]):
                    p = r
            if abs(a[p, c]) < LSR1_PIVOT_TOL * scale:
                raise TaskError("L-SR1 memory: M^-1 is singular")
            piv[c] = p
            if p != c:
                a[[c, p], :] = a[[p, c], :]
            for r in range(c + 1, k):
                l_ = a[r, c] / a[c, c]
                a[r, c] = l_
                a[r, c + 1:] -= l_ * a[c, c + 1:]
        return a, piv

    def _solve(self, x):
        a, k = self.lu, self.count
        x = x.copy()
        for c in range(k):
            if self.piv[c] != c:
                x[c], x[self.piv[c]] = x[self.piv[c]], x[c]
        for r in range(1, k):
            acc = x[r]
            for j in range(r):
                acc -= a[r, j] * x[j]
            x[r] = acc
        for r in range(k - 1, -1, -1):
            acc = x[r]
            for j in range(r + 1, k):
                acc -= a[r, j] * x[j]
            x[r] = acc / a[r, r]
        return x

    def apply(self, v):
        """B v (pd_lsr1_apply)."""
        out = self.gamma * v
        if self.count > 0:
            out = out + self.psi @ self._solve(self.psi.T @ v)
        return out

    def tr_solve(self, g, radius):
        """Steihaug-Toint CG in the 2-norm ball (pd_lsr1_tr_solve): (s, pred)."""
        s = np.zeros_like(g)
        gn = float(np.sqrt(g @ g))
        if gn == 0.0:
            return s, 0.0
        tol = LSR1_CG_TOL * gn
        r, d = g.copy(), -g
        rr = gn * gn
        for _ in range(LSR1_CG_MAX_ITER):
            bd = self.apply(d)
            kappa, dd = float(d @ bd), float(d @ d)
            if not dd > 0.0:
                break
            if kappa <= 0.0:
                s = s + _boundary_tau(s, d, radius) * d
                break
            alpha = rr / kappa
            t = s + alpha * d
            if math.sqrt(float(t @ t)) >= radius:
                s = s + _boundary_tau(s, d, radius) * d
                break
            s = s + alpha * d
            r = r + alpha * bd
            rr_new = float(r @ r)
            if math.sqrt(rr_new) < tol:
                break
            d = d * (rr_new / rr) - r
            rr = rr_new
        # the boundary step lands on the sphere only up to rounding; never report outside
        sn = float(np.sqrt(s @ s))
        if sn > radius:
            s = s * (radius / sn)
        return s, -(float(g @ s) + 0.5 * float(s @ self.apply(s)))


def _boundary_tau(z, d, radius):
    zz, zd, dd = float(z @ z), float(z @ d), float(d @ d)
    gap = max(radius * radius - zz, 0.0)
    root = math.sqrt(zd * zd + dd * gap)
    return (root - zd) / dd if zd <= 0.0 else gap / (zd + root)


def tr_step(g, radius):
    """pd_tr_step in the infinity norm: s = -radius g / |g|_inf, pred = -g.s."""
    gp = inf_norm(g)
    if gp == 0.0:
        return np.zeros_like(g), 0.0
    s = (-radius / gp) * g
    return s, -float(g @ s)


def tr_decide(p, ared, pred, radius):
    """pd_tr_decide(): (accept, next radius)."""
    rho = ared / pred if pred > 0.0 else 0.0
    accept = pred > 0.0 and ared > 0.0 and rho >= p["eta1"]
    r = radius
    if not accept:
        r = radius * p["shrink"]
    elif rho > p["eta2"]:
        r = radius * p["grow"]
    return accept, min(max(r, p["radius_min"]), p["radius_max"])


def tr_iterate(evalf, p, radius, z, f, g, c, cnt, bd):
    """pd_tr_iterate_with(): one TR iteration from z; returns (z, f, accepted, pred,
    radius_used)."""
    accepted, pred_acc, used = False, 0.0, radius
    for attempt in range(p["max_retries"] + 1):
        s, pred = bd.tr_solve(g, radius) if bd is not None else tr_step(g, radius)
        if pred <= 0.0:
            break  # stationary for the model: no trial would be accepted
        trial = z + s
        ftrial = evalf(trial, False)[0]
        cnt["loss_evals"] += 1
        ared = f - ftrial
        if c is not None:
            ared -= float(c @ s)
        used = radius
        ok, radius_next = tr_decide(p, ared, pred, radius)
        if ok:
            cnt["accepted"] += 1
            z, f, accepted, pred_acc = trial, ftrial, True, pred
            break
        cnt["rejected"] += 1
        radius = radius_next
    return z, f, accepted, pred_acc, used


def local_solve(evalf, theta0, g_global, radius, s_loc, bd):
    """pd_apts_local_solve(): s_loc TR steps on the block objective inside the budget
    radius; returns (s_d, report dict)."""
    p = dict(TR_DEFAULTS, radius_min=0.0)
    p["radius_max"] = radius  # the TR's own growth must not pass Delta_k
    p["radius_min"] = min(p["radius_min"], radius)
    cnt = dict(loss_evals=0, grad_evals=0, accepted=0, rejected=0)
    res = dict(pred=0.0, radius_acc=radius, any_accepted=False)
    z = theta0.copy()
    f, g = evalf(z, True)
    cnt["grad_evals"] += 1
    c = None
    if g_global is not None:
        # c = R_d grad f(theta_k) - grad f_d(R_d theta_k): zero when both use the same samples
        c = g_global - g
    c_norm = inf_norm(c) if c is not None else 0.0
    delta = radius
    for t in range(s_loc):
        gt = g + c if c is not None else g
        z, f, accepted, pred, used = tr_iterate(evalf, p, delta, z, f, gt, c, cnt, bd)
        if not accepted:
            if not res["any_accepted"]:
                res["radius_acc"] = used
            break
        if not res["any_accepted"]:
            res["radius_acc"] = used
            res["any_accepted"] = True
        res["pred"] += pred
        delta = radius - inf_norm(z - theta0)
        if delta < DBL_EPSILON or t + 1 == s_loc:
            break
        f, g = evalf(z, True)
        cnt["grad_evals"] += 1
    # The sum of local steps may pass the budget by an ulp; the server relies on the bound.
    s_d = np.minimum(np.maximum(z - theta0, -radius), radius)
    res.update(loss=f, foc_norm=c_norm, **cnt)
    return s_d, res


def run_local_tr(comp, t, x, g_block, lsr1):
    """pd_apts_run_local_tr(): (step of the block, LocalTr report, samples per pass)."""
    q = t.local_tr
    if not (q.radius > 0.0) or not math.isfinite(q.radius) or q.local_iters == 0 or \
            not (q.l2 >= 0.0):
        raise TaskError("LOCAL_TR task %d: radius %r, local_iters %d, l2 %r are not valid"
                        % (t.task_id, q.radius, q.local_iters, q.l2))
    model, train = comp.model, comp.train
    offset, length = model_block(model, q.n_blocks, q.block)
    idx = comp._set(t)
    n = idx.size
    bd = None
    if q.lsr1_pairs > 0:
        m = q.lsr1_pairs
        if lsr1 is None:
            raise TaskError("LOCAL_TR task %d: no L-SR1 memory frame" % t.task_id)
        bd = BlockMemory(length, m, q.lsr1_gamma, lsr1[2 * m * length:], lsr1[:m * length],
                         lsr1[m * length:2 * m * length])
    mask = models.bias_mask(model)
    full = x.copy()  # every coordinate outside the block stays frozen at theta_k

    def evalf(zd, want_grad):
        """The APTS objective (pd_apts_objective) on the block: mean loss over the task's
        samples plus (l2/2) sum of the masked squares, and its block gradient."""
        full[offset:offset + length] = zd
        sq = full[mask != 0.0]
        reg = 0.5 * q.l2 * models.seqsum(sq * sq)
        if want_grad:
            loss, g = model.grad_sum(train, full, idx)
            g = g / float(n) + q.l2 * mask * full
            return loss / float(n) + reg, g[offset:offset + length]
        return model.loss_sum(train, full, idx) / float(n) + reg, None

    step, res = local_solve(evalf, x[offset:offset + length].copy(), g_block, q.radius,
                            int(q.local_iters), bd)
    report = pb.LocalTr()
    report.CopyFrom(q)
    report.pred = res["pred"]
    report.radius_acc = res["radius_acc"]
    report.any_accepted = res["any_accepted"]
    report.loss = res["loss"]
    report.loss_evals = res["loss_evals"]
    report.grad_evals = res["grad_evals"]
    report.accepted = res["accepted"]
    report.rejected = res["rejected"]
    report.foc_norm = res["foc_norm"]
    return step, report, n
