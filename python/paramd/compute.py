"""What a paramd worker computes for a TASK: the Python twin of common/task_kind.c,
common/compute.c and worker/worker.c (take_frames, take_lsr1_frame, run_task).

Computer(job, train, test).run(header, frames) checks the task's frames as paramd-worker
does, computes the task kind over its sample set (doc/protocol.md "Sample sets") and returns
the RESULT's header fields and frames. It holds the last parameter frame and its version,
because the server omits x from a later task at the same version. It does no I/O.
"""
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


def _f64(frame, count, what):
    """A frame of `count` little-endian doubles, checked as pd_wire_in_doubles does."""
    if len(frame) != count * 8:
        raise TaskError("%s has %d bytes, expected %d values (%d bytes)"
                        % (what, len(frame), count, count * 8))
    return np.frombuffer(bytes(frame), dtype="<f8").astype(np.float64)


class Computer:
    """The task side of a worker for one job (paramd-worker's load_job result)."""

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

    # ---- frames (worker.c take_frames / take_lsr1_frame) ----

    def _block_len(self, tr):
        from . import apts
        return apts.model_block(self.model, tr.n_blocks, tr.block)[1]

    def take_frames(self, t, frames):
        """(x, y or None, lsr1 memory or None) of TASK t, or TaskError."""
        name, frame2, _ = KINDS[t.kind]
        frames = list(frames)
        n = len(frames)
        if len(t.frame_counts) != n:
            raise TaskError("task %d lists %d frame counts for %d frames"
                            % (t.task_id, len(t.frame_counts), n))
        for i, f in enumerate(frames):
            if t.frame_counts[i] * 8 != len(f):
                raise TaskError("task %d frame %d has %d bytes for %d values"
                                % (t.task_id, i + 1, len(f), t.frame_counts[i]))
        if n > 0 and t.elem_type != pb.F64:
            raise TaskError("task %d frames are not F64" % t.task_id)
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
            lsr1 = _f64(frames[-1], length, "task %d memory frame" % t.task_id)
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
            y = _f64(frames[1], ylen, "task %d frame 2" % t.task_id)
        if n == 0:
            if self.x is None or self.x_version != t.version:
                raise TaskError("task %d at version %d without parameters"
                                % (t.task_id, t.version))
            return self.x, y, lsr1
        x = _f64(frames[0], self.model.dim, "task %d frame 1" % t.task_id)
        # The cache holds x, the first frame: the server assumes so for later tasks.
        self.x, self.x_version = x, t.version
        return x, y, lsr1

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
        from . import apts
        if not t.HasField("local_tr"):
            raise TaskError("LOCAL_TR task %d has no local_tr fields" % t.task_id)
        step, report, n = apts.run_local_tr(self, t, x, y, lsr1)
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
