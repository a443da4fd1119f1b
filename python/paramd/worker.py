"""paramd.Worker: the worker side of the protocol in Python, as paramd-worker runs it
(worker/worker.c; doc/protocol.md, "Worker life cycle"): JOIN (HELLO with backoff until
WELCOME), load and verify the job's data, READY, then TASK -> RESULT with heartbeats while
idle or computing, CANCEL, BYE (with job_continues: wait for the next server and rejoin), and
a rejoin whenever the server forgets us (ERR_UNKNOWN_WORKER) or falls silent for its
worker_timeout.

Two modes, chosen by the ``callback`` argument:

* **Task worker** (no callback): the server schedules what it computes. The numerics come
  from ``paramd.data.load_job_data(job)`` and ``paramd.compute.Computer(job, train,
  test).run(header, frames)``; this module only runs the protocol around them.
* **Callback worker** (``callback=``): for jobs whose model the server does not compute
  (``[model] type = none``: such jobs send no tasks), the worker joins as a key-value client
  and loops pull -> ``callback(params, version)`` -> push, with the same join, heartbeat,
  BYE and rejoin rules. The job's method must be ``async-sgd`` (the only one that accepts
  pushes).
"""
import collections
import functools
import importlib
import logging
import threading
import time

import numpy as np
import zmq

from . import wire
from .connection import SOFTWARE_VERSION, Connection, make_hello, security_keys
from .errors import (AuthError, DataError, Error, HandshakeError, JobOver, ServerError, Timeout,
                     UnknownWorker, VersionGone)
from .kvclient import KVClient
from .wire import pb

_BACKOFF_MIN = 0.1
_BACKOFF_MAX = 5.0
_SAY_EVERY = 60.0          # "still no answer", and security hints, at most once a minute
_BUSY_POLL = 0.01          # how often the socket is looked at while a task computes
_PENDING_MAX = 8           # messages kept while busy; the rest wait in the socket


def _numerical_half():
    """The modules paramd.compute and paramd.data, as sys.modules has them (a program, or
    a test, may put its own there)."""
    return (importlib.import_module(__package__ + ".compute"),
            importlib.import_module(__package__ + ".data"))


def _computer_takes_key_lists():
    try:
        compute, _ = _numerical_half()
    except ImportError:
        return False
    return bool(getattr(compute.Computer, "takes_key_lists", False))


class _ShardReads:
    """The keys of shards 1 .. N-1 of a sharded job (doc/protocol.md "Several servers"), as
    paramd-worker reads them: a key-value client of each shard, and one PULL per shard for
    each task, with the task's version as min_version (all sent before any is read)."""

    def __init__(self, job, keys, timeout):
        self.map = [(s.endpoint, s.key_begin, s.key_end) for s in job.shards]
        self.clients = []
        hello = make_hello("worker reads", True, "paramd-python-worker %s" % SOFTWARE_VERSION)
        try:
            for endpoint, _, _ in self.map[1:]:
                self.clients.append(KVClient._joined_at(endpoint, keys, hello, timeout))
        except Error:
            self.close()
            raise

    def close(self):
        for c in self.clients:
            c.close()
        self.clients = []

    def heartbeat(self):
        """HEARTBEAT to every shard: their sessions evict what stays silent for
        worker_timeout, and a worker talks to them only once per task."""
        for c in self.clients:
            try:
                c._conn.send(wire.header(pb.HEARTBEAT), block=False)
            except (Error, zmq.Again):
                pass  # a lost one: the next goes

    def send_parts(self, t, frame, size):
        """Each shard i > 0 its part of task t's gradient result `frame` (the bytes as the
        RESULT carries them, `size` bytes a value), as paramd-worker sends them
        (doc/protocol.md, "Gradient parts"), and its ACK awaited: shard 0 names the task to
        the shards once it has the RESULT, which must not outrun a part. False, with nothing
        sent to shard 0 yet, when the values are not all finite (shard 0 must see such a
        gradient whole) or a part was not taken."""
        values = np.frombuffer(frame, dtype=wire.F32 if size == 4 else wire.F64)
        if values.shape[0] != self.map[-1][2] or not np.isfinite(values).all():
            return False
        try:
            acks = [c._track("part", c._send(
                wire.header(pb.PART, task_id=t.task_id, version=t.version, key_offset=b,
                            key_length=e - b, elem_type=pb.F32 if size == 4 else pb.F64),
                [frame[b * size:e * size]]), lambda r, frames: r)
                for c, (_, b, e) in zip(self.clients, self.map[1:])]
            for ack in acks:
                ack.result()
        except (Error, zmq.Again):
            return False  # the parts taken already are dropped by their shards in time
        return True

    def pull(self, x, version, elem_type, exact=False):
        """x[b_i:e_i] (float64; float32 values when elem_type is F32) for every shard i > 0,
        at version `version` at least, or with `exact` of that version exactly (a GRAD_DIFF
        task's y: the shards keep the version before their current one)."""
        dtype = np.float32 if elem_type == pb.F32 else np.float64
        self._read_into(x, [(endpoint, b, e, functools.partial(
            c._pull_range_async, b, e - b, None, None, dtype, min_version=version,
            exact_version=exact))
            for c, (endpoint, b, e) in zip(self.clients, self.map[1:])])

    def pull_keys(self, keys, version):
        """The values at `keys` (increasing, none of them shard 0's), float64, from the
        shards holding them, at version `version` at least: one key-list PULL per shard,
        all sent before any is read."""
        values = np.empty(keys.shape[0])
        asks = []
        for c, (endpoint, b, e) in zip(self.clients, self.map[1:]):
            lo, hi = np.searchsorted(keys, b), np.searchsorted(keys, e)
            if hi > lo:
                asks.append((endpoint, lo, hi, functools.partial(
                    c._pull_keys_async, keys[lo:hi], None, None, min_version=version)))
        self._read_into(values, asks)
        return values

    @staticmethod
    def _read_into(out, asks):
        """For each (endpoint, lo, hi, send) of asks, send() a PULL; then, once all are
        out, each answer's values into out[lo:hi]. A shard that fails (sending or
        answering) makes the worker rejoin."""
        reads = []
        endpoint = None
        try:
            for endpoint, lo, hi, send in asks:
                reads.append((send(), endpoint, lo, hi))
            for req, endpoint, lo, hi in reads:
                out[lo:hi] = req.result().params
        except VersionGone:
            raise _TaskOver() from None
        except JobOver as err:
            if not err.job_continues:  # shard 0 ended the job: it tells us too
                raise _Ended(err.reason) from None
            raise _Rejoin("shard at %s: %s" % (endpoint, err)) from None
        except (Error, zmq.Again) as err:
            raise _Rejoin("shard at %s: %s" % (endpoint, err)) from None


class _Rejoin(Exception):
    """Internal: leave this session and say HELLO again."""


class _TaskOver(Exception):
    """Internal: a task's y is gone from the shards (they stepped twice since): its round is
    over, and the server, which cancelled the task, expects nothing for it."""


class _Ended(Exception):
    """Internal: the job is over (or stop() was called); ``args[0]`` is the reason."""


class Worker:
    """A paramd worker.

    ``Worker(endpoint, name=None, server_key=None, key_file=None, callback=None,
    join_timeout=None, exit_with_server=False, logger=None)``

    * ``endpoint``: the server, e.g. ``"tcp://127.0.0.1:5555"``.
    * ``name``: the name the server shows (default: the host name).
    * ``server_key``, ``key_file``: CURVE, the same files as paramd-worker's ``--server-key``
      and ``--key-file`` (see :class:`paramd.KVClient`).
    * ``callback``: makes this a callback worker (module docstring). It is called as
      ``callback(params, version)`` with the parameters (a read-only float64 array of
      ``dim`` values) and their version, and returns the gradient for all ``dim`` keys (a
      1-d array) or ``(gradient, loss)``; the loss is only kept in :attr:`last_loss`. It
      may take as long as it needs: heartbeats go on meanwhile.
    * ``join_timeout``: seconds to keep trying to join before :meth:`run` raises
      :class:`paramd.Timeout` (default: for ever, like paramd-worker).
    * ``exit_with_server``: end :meth:`run` when the server stops before the job is over,
      instead of waiting for it to come back.

    :meth:`run` blocks until the job is over or :meth:`stop` is called.
    """

    def __init__(self, endpoint, name=None, server_key=None, key_file=None, callback=None,
                 join_timeout=None, exit_with_server=False, logger=None):
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable, not %s" % type(callback).__name__)
        if join_timeout is not None and not join_timeout > 0:
            raise ValueError("join_timeout must be a positive number of seconds or None")
        self.endpoint = endpoint
        self.callback = callback
        self.join_timeout = join_timeout
        self.exit_with_server = bool(exit_with_server)
        self.log = logger or logging.getLogger("paramd.worker")
        self._keys = security_keys(server_key, key_file)
        self._hello = make_hello(name, callback is not None,
                                 "paramd-python-worker %s" % SOFTWARE_VERSION)
        # GRAD tasks with key lists only for a Computer that says it runs them
        self._hello.accepts_key_tasks = callback is None and _computer_takes_key_lists()
        self._hello.reads_shard_keys = self._hello.accepts_key_tasks
        self._hello.reads_exact_versions = True
        self._stop = threading.Event()
        self._fail_pause = 0.0  # before rejoining after a failed task; doubles while they fail
        self._conn = None
        self._shards = None  # a sharded job: the other shards' keys (_ShardReads)
        #: tasks answered with a RESULT (task mode) or gradients pushed (callback mode)
        self.steps = 0
        #: tasks abandoned because the server cancelled them
        self.cancelled = 0
        #: times this worker joined (1 + rejoins)
        self.joins = 0
        #: the loss the callback returned last (callback mode), else None
        self.last_loss = None
        #: the Ack of the last push (callback mode)
        self.last_ack = None

    def stop(self):
        """Ask :meth:`run` to end: it says BYE and returns "stopped". Safe from another
        thread or a signal handler."""
        self._stop.set()

    # --- the public loop --------------------------------------------------------------

    def run(self):
        """Join and work until the job is over (returns the server's BYE reason) or
        :meth:`stop` (returns ``"stopped"``). Raises :class:`paramd.Timeout` when
        ``join_timeout`` passes without a WELCOME, :class:`paramd.DataError` when the job's
        data cannot be used (after telling the server with BYE), :class:`paramd.Error` for a
        job this worker cannot serve."""
        self._conn = Connection(self.endpoint, self._keys)
        bye_reason = ""
        try:
            if self.callback is not None:
                return self._run_callback()
            return self._run_tasks()
        except _Ended as e:
            return e.args[0]
        except DataError as e:
            bye_reason = "cannot use the job's data: %s" % e.reason
            raise
        except Error as e:
            bye_reason = str(e)
            raise
        finally:
            if self._shards is not None:
                self._shards.close()
                self._shards = None
            self._conn.close(bye_reason)

    # --- joining ----------------------------------------------------------------------

    def _join(self):
        """HELLO until WELCOME, with backoff (100 ms doubling to 5 s), as paramd-worker."""
        backoff = _BACKOFF_MIN
        started = time.monotonic()
        said = hinted = None
        while True:
            if self._stop.is_set():
                raise _Ended("stopped")
            failure = None
            try:
                self._conn.hello(self._hello, backoff)
                break
            except JobOver as e:
                if not e.job_continues:
                    raise _Ended(e.reason) from None
                # the old server process is draining: no answer yet
            except (AuthError, HandshakeError) as e:
                if hinted is None or time.monotonic() - hinted >= _SAY_EVERY:
                    self.log.warning("cannot get a welcome: %s; retrying", e.reason)
                    hinted = time.monotonic()
                failure = e
            except Timeout as e:
                failure = e
            except ServerError as e:
                self.log.warning("the server refused our HELLO: %s", e)
                failure = e
            now = time.monotonic()
            if self.join_timeout is not None and now - started > self.join_timeout:
                if isinstance(failure, (AuthError, HandshakeError)):
                    raise failure
                raise Timeout("no welcome from %s within the join timeout (%.3g s)"
                              % (self.endpoint, self.join_timeout))
            if said is None or now - said >= _SAY_EVERY:
                self.log.info("waiting for the server at %s (no answer yet; retrying)",
                              self.endpoint)
                said = now
            backoff = min(backoff * 2, _BACKOFF_MAX)
        job = self._conn.job
        self.joins += 1
        self.hb = (job.heartbeat_interval_ms or 1000) / 1000.0
        self.silence = (job.worker_timeout_ms or 10000) / 1000.0
        self.last_sent = self.last_heard = time.monotonic()
        self.log.info("joined %s as worker %d (job %016x, model %s, %d parameters)",
                      self.endpoint, self._conn.worker_id, job.job_id, job.model, job.dim)
        return job

    # --- heartbeats and busy waiting --------------------------------------------------

    def _send(self, h, frames=()):
        # Never blocks, as paramd-worker: with IMMEDIATE a send fails while there is no
        # connection, and the silence rule then rejoins (a blocking send would stall the
        # heartbeats and the CANCEL watch).
        try:
            self._conn.send(h, frames, block=False)
        except zmq.Again:
            return False
        self.last_sent = time.monotonic()
        return True

    def _heartbeat_if_due(self):
        if time.monotonic() - self.last_sent >= self.hb:
            self._send(wire.header(pb.HEARTBEAT))
            if self._shards is not None:
                self._shards.heartbeat()

    def _run_with_heartbeats(self, fn, on_message=None):
        """Run ``fn()`` on a helper thread while this thread, which owns the socket, sends
        heartbeats (a busy worker must not look dead to the server) and hands what arrives
        to ``on_message`` (None: leave it in the socket). Returns fn's value or raises its
        exception."""
        box = {}

        def body():
            try:
                box["value"] = fn()
            except BaseException as e:  # re-raised on the owning thread below
                box["error"] = e

        t = threading.Thread(target=body, name="paramd-worker-compute", daemon=True)
        t.start()
        while True:
            t.join(_BUSY_POLL)
            if not t.is_alive():
                break
            self._heartbeat_if_due()
            if on_message is not None:
                on_message()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    # --- callback mode ----------------------------------------------------------------

    def _run_callback(self):
        kv = KVClient._over(self._conn, 10.0)
        while True:
            job = self._join()
            kv.timeout = self.silence
            kv._joined()
            if job.method != pb.METHOD_ASYNC_SGD:
                raise Error("the job's method is %s: a callback worker pushes gradients, which "
                            "only async-sgd accepts" % pb.Method.Name(job.method))
            try:
                self._callback_session(kv, job)
            except (UnknownWorker, Timeout) as e:
                self.log.info("lost the session (%s); rejoining", e)
            except JobOver as e:
                if not e.job_continues or self.exit_with_server:
                    raise _Ended(e.reason) from None
                self.log.info("%s; waiting for the server to come back", e.reason)

    def _callback_session(self, kv, job):
        x, version = None, None
        while not self._stop.is_set():
            x, version = kv.pull(out=x, version=version)
            x.flags.writeable = False          # the callback must not change our copy
            try:
                got = self._run_with_heartbeats(lambda: self.callback(x, version))
            finally:
                x.flags.writeable = True
            grad, loss = got if isinstance(got, tuple) else (got, None)
            self.last_ack = kv.push(grad, version=version)
            self.last_loss = loss
            self.steps += 1
        raise _Ended("stopped")

    # --- task mode --------------------------------------------------------------------

    def _run_tasks(self):
        self._loaded_job = None
        self._computer = None
        self._pending = collections.deque()
        self._last_seconds = {}
        while True:
            job = self._join()
            try:
                self._load(job)
                self._open_shards(job)
                self._x = None                  # forget any vector of an earlier session
                self._send(wire.header(pb.READY))
                self.last_heard = time.monotonic()
                self._serve()
            except _Rejoin as e:
                self.log.info("rejoining: %s", e)
                self._pending.clear()

    def _open_shards(self, job):
        """Connections to the other shards of a sharded job, opened afresh at every join (a
        worker evicted by shard 0 may be forgotten by the others too)."""
        wanted = [(s.endpoint, s.key_begin, s.key_end) for s in job.shards]
        if self._shards is not None:
            self._shards.close()
            self._shards = None
        if len(wanted) > 1:
            try:
                self._shards = _ShardReads(job, self._keys, job.worker_timeout_ms / 1000.0)
            except Error as e:
                time.sleep(1.0)  # the shards may still be starting
                raise _Rejoin("cannot reach the shards: %s" % e) from None

    def _load(self, job):
        if self._loaded_job == job.job_id:
            return  # a rejoin of the same job keeps the data
        if job.model == "none":
            raise Error("the job's model is 'none': the server sends no tasks for it; a "
                        "callback worker (paramd.Worker(..., callback=...)) serves such jobs")
        try:
            compute, data = _numerical_half()
        except ImportError as e:
            raise Error("paramd.compute/paramd.data are not installed, so this worker cannot "
                        "compute tasks (%s)" % e) from None
        # Loading may outlast worker_timeout: it runs beside the heartbeats.
        train, test = self._run_with_heartbeats(lambda: data.load_job_data(job))
        self._computer = compute.Computer(job, train, test)
        self._loaded_job = job.job_id
        self.log.info("loaded job %016x: %s, %d parameters", job.job_id, job.model, job.dim)

    def _serve(self):
        while True:
            if self._stop.is_set():
                raise _Ended("stopped")
            self._heartbeat_if_due()
            if time.monotonic() - self.last_heard > self.silence:
                raise _Rejoin("no word from the server for %.3g s" % self.silence)
            if self._pending:
                got = self._pending.popleft()
            else:
                try:
                    got = self._conn.recv(self.hb)
                except Error as e:
                    self.log.warning("bad message from the server: %s", e)
                    continue
                if got is None:
                    continue
            self.last_heard = time.monotonic()
            self._handle(*got)

    def _handle(self, h, frames):
        if h.type == pb.TASK:
            try:
                self._run_task(h, frames)
            except _TaskOver:
                self._x = None  # the cache may hold parts of two versions
                self.log.debug("task %d: y (version %d) is gone: its round is over",
                               h.task_id, h.version_y)
        elif h.type == pb.BYE:
            if h.job_continues and not self.exit_with_server:
                self.log.info("%s; waiting for the server to come back", h.reason)
                raise _Rejoin("the server is restarting")
            raise _Ended(h.reason)
        elif h.type == pb.ERROR:
            if h.error == pb.ERR_UNKNOWN_WORKER:
                raise _Rejoin("the server does not know us (it restarted?)")
            self.log.warning("the server refused a message: %s: %s",
                             pb.ErrorCode.Name(h.error) if h.error in pb.ErrorCode.values()
                             else h.error, h.reason)
        # CANCEL of a task no longer computing, HEARTBEAT answers, leftovers: nothing to do

    def _read_while_busy(self, running_task, cancelled):
        """Messages that arrive while a task computes: a CANCEL of it is noted (its result
        is then dropped), a CANCEL of a waiting TASK removes that TASK, heartbeat answers
        only show the server is there, anything else waits in order."""
        while len(self._pending) < _PENDING_MAX:
            try:
                got = self._conn.recv(0)
            except Error:
                continue
            if got is None:
                return
            self.last_heard = time.monotonic()
            h, _ = got
            if h.type == pb.CANCEL:
                if h.task_id == running_task:
                    cancelled.set()
                else:
                    self._pending = collections.deque(
                        m for m in self._pending
                        if not (m[0].type == pb.TASK and m[0].task_id == h.task_id))
            elif h.type != pb.HEARTBEAT:
                self._pending.append(got)

    def _complete(self, frame, version, elem_type, exact):
        """A vector of which `frame` holds shard 0's keys, the rest read from the shards."""
        dtype = wire.F32 if elem_type == pb.F32 else wire.F64
        x = np.empty(self._conn.job.dim)
        x[:self._shards.map[0][2]] = np.frombuffer(bytes(frame), dtype=dtype)
        self._shards.pull(x, version, elem_type, exact)
        return x.astype(dtype).tobytes()

    def _run_task(self, t, frames):
        dim = self._conn.job.dim
        frames = list(frames)
        size = 4 if t.elem_type == pb.F32 else 8
        # A GRAD task with a key list carries all it needs (on a sharded job, with the values
        # of shard 0's keys: the others come from their shards); others may rely on the cache.
        if t.key_count > 0 and self._shards is not None and len(frames) == 2 and \
                len(frames[1]) < 8 * t.key_count:
            if len(frames[0]) != 8 * t.key_count or len(frames[1]) % 8:
                raise _Rejoin("task %d: frames of %d and %d bytes for %d keys"
                              % (t.task_id, len(frames[0]), len(frames[1]), t.key_count))
            keys = np.frombuffer(bytes(frames[0]), dtype="<u8")
            own = len(frames[1]) // 8
            if own != np.searchsorted(keys, self._shards.map[0][2]):
                raise _Rejoin("task %d: %d bytes of values for %d keys"
                              % (t.task_id, len(frames[1]), t.key_count))
            rest = self._shards.pull_keys(keys[own:], t.version)
            frames[1] = bytes(frames[1]) + rest.astype("<f8").tobytes()
        if t.key_count == 0:
            if frames and self._shards is not None and \
                    len(frames[0]) == self._shards.map[0][2] * size != dim * size:
                # shard 0's keys came with the task; the others come from their shards (and
                # so for a GRAD_DIFF's y, exactly of its version)
                frames[0] = self._complete(frames[0], t.version, t.elem_type, False)
                t.frame_counts[0] = dim
                if t.kind == pb.GRAD_DIFF and len(frames) == 2 and \
                        len(frames[1]) == self._shards.map[0][2] * size:
                    frames[1] = self._complete(frames[1], t.version_y, t.elem_type, True)
                    t.frame_counts[1] = dim
            if frames:
                if len(frames[0]) != dim * size:
                    raise _Rejoin("task %d: frame 1 has %d bytes, the job has %d parameters"
                                  % (t.task_id, len(frames[0]), dim))
                # The server omits frame 1 from a later task at the same version (and in the
                # same element type, which it resends otherwise): keep it.
                self._x = (t.version, t.elem_type, bytes(frames[0]))
            elif self._x is not None and self._x[:2] == (t.version, t.elem_type):
                frames = [self._x[2]]
            else:
                raise _Rejoin("task %d at version %d came without parameters we hold"
                              % (t.task_id, t.version))
        cancelled = threading.Event()
        t0 = time.monotonic()
        # As paramd-worker: a helper thread (heartbeats, CANCEL) when the last task of this
        # kind took at least a quarter of the heartbeat interval; short ones run inline.
        try:
            if self._last_seconds.get(t.kind, 0.0) >= self.hb / 4:
                fields, out = self._run_with_heartbeats(
                    lambda: self._computer.run(t, frames),
                    lambda: self._read_while_busy(t.task_id, cancelled))
            else:
                fields, out = self._computer.run(t, frames)
        except (Error, ValueError, ArithmeticError) as e:
            # Tasks that keep failing (a shard out of reach, a broken data file) must not
            # turn into a storm of HELLOs: pause before rejoining, 100 ms doubling to 5 s,
            # as paramd-worker does, until a task succeeds.
            self._fail_pause = min(max(2 * self._fail_pause, _BACKOFF_MIN), _BACKOFF_MAX)
            self.log.error("task %d failed: %s; rejoining in %.3g s", t.task_id, e,
                           self._fail_pause)
            self._stop.wait(self._fail_pause)
            raise _Rejoin("task %d failed" % t.task_id) from None
        self._fail_pause = 0.0
        seconds = time.monotonic() - t0
        self.last_heard = time.monotonic()    # we were computing, not listening
        self._last_seconds[t.kind] = seconds
        if cancelled.is_set():
            self.cancelled += 1
            return  # the server expects nothing for it
        r = wire.header(pb.RESULT, request_id=t.request_id, task_id=t.task_id,
                        round_id=t.round_id, kind=t.kind, version=t.version,
                        version_y=t.version_y, compute_seconds=seconds)
        for name, value in fields.items():
            if name == "local_tr":
                if isinstance(value, dict):
                    value = pb.LocalTr(**value)
                r.local_tr.CopyFrom(value)
            elif name in r.DESCRIPTOR.fields_by_name:
                setattr(r, name, value)
            else:
                raise Error("paramd.compute returned %r, which is no Header field" % name)
        # the job of the last WELCOME says how vectors travel (a restarted server may differ)
        # (a gradient at a key list goes back as float64, as its task came)
        f32 = self._conn.job.wire_type == pb.F32 and t.key_count == 0
        r.elem_type = pb.F32 if f32 else pb.F64
        to_frame = wire.f32_frame if f32 else wire.f64_frame
        frames = [to_frame(np.frombuffer(f, dtype=wire.F64)
                           if isinstance(f, (bytes, bytearray)) else f) for f in out]
        if t.kind in (pb.GRAD, pb.GRAD_DIFF) and t.key_count == 0 and len(frames) == 1 and \
                self._shards is not None and self._conn.job.gradient_parts and \
                self._shards.send_parts(t, frames[0], 4 if f32 else 8):
            frames[0] = frames[0][:self._shards.map[0][2] * (4 if f32 else 8)]
        self._send(r, frames)
        self.steps += 1

