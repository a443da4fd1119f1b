"""The key-value client: pull key ranges of a paramd job's parameters and push gradients for
key ranges, as libparamd-client does for C programs (worker/client.c; doc/protocol.md,
"Key-value clients"). The server applies each push with its optimiser (``async-sgd`` jobs).
"""
import collections
import enum
import numbers
import time

import numpy as np

from . import wire
from .connection import SOFTWARE_VERSION, Connection, make_hello, security_keys
from .errors import (ClosedError, DimensionError, Error, JobOver, MalformedError,
                     ProtocolError, Timeout, from_wire)
from .wire import pb

_U64 = 1 << 64


class AckStatus(enum.IntEnum):
    """What the server did with a push (``Header.ack``)."""
    APPLIED = 0        #: applied; the version went up by one
    STALE_DROPPED = 1  #: computed more than ``max_staleness`` versions ago; nothing changed
    REJECTED = 2       #: invalid; nothing changed (``error`` and ``reason`` say why)


class Ack(collections.namedtuple("Ack", "status version staleness learning_rate error reason "
                                        "key_offset key_length")):
    """The server's answer to a push.

    Fields: ``status`` (:class:`AckStatus`), ``version`` (the server's version after the
    push), ``staleness`` (server version before the push minus the pushed version),
    ``learning_rate`` (the step used, when applied), ``error`` (the ``ErrorCode`` of a
    rejection, else 0), ``reason`` (the server's words for a rejection), ``key_offset`` and
    ``key_length`` (the range, echoed).
    """
    __slots__ = ()

    @property
    def applied(self):
        """True when the server applied the gradient."""
        return self.status == AckStatus.APPLIED

    accepted = applied

    @property
    def stale_dropped(self):
        """True when the gradient was too stale and dropped."""
        return self.status == AckStatus.STALE_DROPPED

    @property
    def rejected(self):
        """True when the push was invalid (only seen with ``raise_on_reject=False``)."""
        return self.status == AckStatus.REJECTED


class Pulled(tuple):
    """What a pull returns: unpacks as ``(params, version)``; ``not_modified`` is True when
    the server said the caller's held version is current (``params`` is then the caller's
    ``out`` array, untouched)."""

    def __new__(cls, params, version, not_modified=False):
        self = super().__new__(cls, (params, version))
        self.not_modified = not_modified
        return self

    @property
    def params(self):
        """The parameters of the range (a float64 array)."""
        return self[0]

    @property
    def version(self):
        """The parameter version they belong to."""
        return self[1]


def _u64(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError("%s must be an integer, not %s" % (what, type(value).__name__))
    if not 0 <= value < _U64:
        raise ValueError("%s must be in [0, 2**64), not %d" % (what, value))
    return int(value)


def _check_out(out, length, dtype=np.float64):
    if not isinstance(out, np.ndarray):
        raise TypeError("out must be a numpy array, not %s" % type(out).__name__)
    if out.dtype != dtype or out.ndim != 1 or not out.flags.writeable:
        raise ValueError("out must be a writable 1-d %s array (got %s, %d-d%s)"
                         % (np.dtype(dtype).name, out.dtype, out.ndim,
                            "" if out.flags.writeable else ", read-only"))
    if length is not None and out.shape[0] != length:
        raise ValueError("out has %d elements, the range %d" % (out.shape[0], length))


#: wire dtype of key lists: little-endian uint64 whatever the host
_KEYS = np.dtype("<u8")


def _keys_frame(keys):
    """``keys`` (1-d, integers) as a contiguous little-endian uint64 array for a key-list
    frame. Order and range are the server's to check (it names what is wrong); only what
    cannot be sent at all is refused here."""
    k = np.asarray(keys)
    if k.ndim != 1:
        raise ValueError("keys must be a 1-d array, not %d-d" % k.ndim)
    if k.shape[0] == 0:
        raise ValueError("keys must hold at least one key")
    if not np.issubdtype(k.dtype, np.integer):
        raise TypeError("keys must be integers, not %s" % k.dtype)
    if np.issubdtype(k.dtype, np.signedinteger) and (k < 0).any():
        raise ValueError("keys must not be negative")
    return np.array(k, dtype=_KEYS, copy=True)


def _claim(h, version, out):
    """The ``version=`` of a pull (None, or the version held in ``out``), claimed in PULL
    header ``h``."""
    if version is None:
        return None
    version = _u64(version, "version")
    if out is None:
        raise ValueError("version= says which version `out` holds: pass out= too "
                         "(a not-modified answer leaves out as it is)")
    h.version = version
    h.not_modified = True
    return version


def _params(r, frames, n, version, out):
    """The :class:`Pulled` of a PARAMS for ``n`` keys: its values (into ``out`` when given),
    or ``out`` untouched when not modified."""
    if r.not_modified:
        if version is None or r.version != version:
            raise ProtocolError("not_modified at version %d, we hold %s" % (r.version, version))
        return Pulled(out, r.version, True)
    if len(frames) != 1 or r.frame_counts[0] != n:
        raise ProtocolError("PARAMS with %d frames of %s values for %d keys"
                            % (len(frames), list(r.frame_counts), n))
    if out is not None and out.shape[0] != n:
        raise ProtocolError("PARAMS has %d keys, out %d" % (n, out.shape[0]))
    if out is not None and out.dtype == np.float32:
        # a float32 pull: F32 values as they are (an older server's F64 ones rounded)
        np.copyto(out, np.frombuffer(frames[0], dtype=wire.F32 if r.elem_type == pb.F32
                                     else wire.F64), casting="same_kind")
        return Pulled(out, r.version)
    return Pulled(wire.f64_array(frames[0], r, out), r.version)


class Request:
    """A request in flight (from :meth:`KVClient.pull_async` / :meth:`KVClient.push_async`).
    Replies come in the order requests were sent; asking for a later one's result first
    collects the earlier ones on the way, so any order of :meth:`result` calls works."""

    def __init__(self, client, kind, request_id, finish):
        self._client = client
        self.kind = kind
        self.request_id = request_id
        self._finish = finish
        self._done = False
        self._value = None
        self._error = None

    def done(self):
        """True once the reply (or a failure) has been received."""
        return self._done

    def result(self):
        """The reply: a :class:`Pulled` for a pull, an :class:`Ack` for a push. Waits up to
        the client's timeout; raises the server's error, :class:`paramd.Timeout`, ..."""
        if not self._done:
            self._client._wait_for(self)
        if self._error is not None:
            raise self._error
        return self._value

    def _set(self, value=None, error=None):
        self._done = True
        self._value, self._error = value, error

    def __repr__(self):
        state = "done" if self._done else "pending"
        return "<paramd.Request %s #%d %s>" % (self.kind, self.request_id, state)


class _Parts:
    """A pull of a sharded job (doc/protocol.md "Several servers"): one request to each
    server holding some of its keys, all sent before any answer is read. Its result puts the
    parts together in one array: the oldest of their versions, not_modified when every part
    was."""

    kind = "pull"

    def __init__(self, parts, out, n, dtype):
        self._parts = parts  # [(Request, first, count)]
        self._out = out
        self._n = n
        self._dtype = dtype

    def done(self):
        """True once every part's answer has been received."""
        return all(r.done() for r, _, _ in self._parts)

    def result(self):
        """A :class:`Pulled`, as for one server; raises the first part's error."""
        got = [(r.result(), first, count) for r, first, count in self._parts]
        out = self._out
        if out is None:  # else every part was read into its slice of out
            out = np.empty(self._n, dtype=self._dtype)
            for pulled, first, count in got:
                out[first:first + count] = pulled.params
        return Pulled(out, min(p.version for p, _, _ in got),
                      all(p.not_modified for p, _, _ in got))

    def __repr__(self):
        return "<paramd.Request pull in %d parts %s>" % (
            len(self._parts), "done" if self.done() else "pending")


class KVClient:
    """A key-value client of a paramd job.

    ``KVClient(endpoint, name=None, timeout=10.0, server_key=None, key_file=None)`` connects
    to ``endpoint`` (e.g. ``"tcp://127.0.0.1:5555"``), joins as a key-value client named
    ``name`` (default: the host name) and waits up to ``timeout`` seconds for the server's
    WELCOME. Every later wait for a reply is bounded by ``timeout`` too: a dead server
    raises :class:`paramd.Timeout`, never hangs.

    CURVE: give both ``server_key`` (the server's public key as 40-character Z85 text, or a
    file holding it, such as ``server.pub``) and ``key_file`` (this client's key pair, the
    ``.key`` file of ``paramctl keygen``); the same files as paramd-worker's
    ``--server-key`` and ``--key-file``. A refused key raises :class:`paramd.AuthError`, a
    mismatch :class:`paramd.HandshakeError`.

    A job split over several servers (``[server] shards``) is used the same way: the client
    connects to the others from the map in the WELCOME, reads each key from the server that
    holds it (a pull's version is then the oldest of its parts') and pushes to shard 0,
    which relays each shard's share; a pull after a push sees it.

    Use it as a context manager, or call :meth:`close` (which says BYE). One thread at a
    time.
    """

    def __init__(self, endpoint, name=None, timeout=10.0, server_key=None, key_file=None):
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds, not %r" % (timeout,))
        self.timeout = float(timeout)
        self._hello = make_hello(name, True, "paramd-python %s" % SOFTWARE_VERSION)
        self._conn = Connection(endpoint, security_keys(server_key, key_file), self.timeout)
        self._pending = collections.deque()
        self._bye = None
        self._shards = []  # a sharded job: [(KVClient of shard i > 0, key_begin, key_end)]
        self._shard_map = []
        try:
            self._conn.hello(self._hello, self.timeout)
            self._open_shards()
        except BaseException:
            self.close()
            raise
        self._version = self._conn.welcome_version

    @classmethod
    def _over(cls, conn, timeout):
        """A client on a connection someone else joins (paramd.Worker's callback mode: it
        says HELLO with its own retry rules, then calls :meth:`_joined`)."""
        self = cls.__new__(cls)
        self.timeout = float(timeout)
        self._hello = None
        self._conn = conn
        self._pending = collections.deque()
        self._bye = None
        self._version = 0
        self._shards = []
        self._shard_map = []
        return self

    @classmethod
    def _joined_at(cls, endpoint, keys, hello, timeout):
        """A client joined to one server of a sharded job with ``hello``."""
        self = cls._over(Connection(endpoint, keys, timeout), timeout)
        try:
            self._conn.hello(hello, timeout)
        except BaseException:
            self._conn.close()
            raise
        return self

    def _joined(self):
        """Forget the previous session's state after a (re-)join."""
        self._fail_pending(Error("the session was replaced by a new HELLO"))
        self._bye = None
        self._version = self._conn.welcome_version
        self._open_shards()

    def _open_shards(self):
        """A sharded job's WELCOME lists its servers: one key-value connection to each of
        shards 1 .. N-1 (kept while the map stays the same)."""
        wanted = [(s.endpoint, s.key_begin, s.key_end) for s in self._conn.job.shards]
        if len(wanted) <= 1:
            wanted = []
        if wanted == self._shard_map and (not wanted or self._shards):
            return
        self._close_shards()
        hello = self._hello or make_hello(None, True, "paramd-python %s" % SOFTWARE_VERSION)
        for endpoint, begin, end in wanted[1:]:
            self._shards.append((KVClient._joined_at(endpoint, self._conn.keys, hello,
                                                     self.timeout), begin, end))
        self._shard_map = wanted

    def _close_shards(self):
        for sub, _, _ in self._shards:
            sub.close()
        self._shards = []
        self._shard_map = []

    # --- properties -------------------------------------------------------------------

    @property
    def dim(self):
        """Number of keys (parameters) of the job: keys are ``0 .. dim-1``."""
        return self._conn.job.dim

    @property
    def job(self):
        """The job description of the WELCOME (a ``paramd_pb2.Job``)."""
        return self._conn.job

    @property
    def job_id(self):
        """The job's id (hash of its configuration)."""
        return self._conn.job.job_id

    @property
    def worker_id(self):
        """The session number the server handed out."""
        return self._conn.worker_id

    @property
    def version(self):
        """The newest parameter version this client has heard of (WELCOME, pulls, pushes,
        heartbeats): the default ``version`` of :meth:`push`."""
        return self._version

    @property
    def closed(self):
        """True after :meth:`close`."""
        return self._conn.closed

    # --- life -------------------------------------------------------------------------

    def close(self):
        """Say BYE and close the connection. Requests still in flight fail with
        :class:`paramd.ClosedError`. Safe to call twice."""
        self._fail_pending(ClosedError("the client was closed"))
        self._close_shards()
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def rejoin(self):
        """HELLO again after :class:`paramd.UnknownWorker` (evicted after the job's
        ``worker_timeout`` of silence, or the server restarted). Requests in flight are
        dropped."""
        self._conn.hello(self._hello, self.timeout)
        self._joined()

    def heartbeat(self):
        """Tell the server we are alive (it evicts a session silent for ``worker_timeout``;
        any request counts as well). Returns the server's current version."""
        h = self._send(wire.header(pb.HEARTBEAT))
        req = self._track("heartbeat", h, lambda r, frames: r.version)
        return req.result()

    # --- pull -------------------------------------------------------------------------

    def pull_async(self, offset=0, length=None, out=None, version=None, keys=None,
                   dtype=np.float64):
        """Send a PULL and return its :class:`Request` at once (pipelining); its
        :meth:`Request.result` is what :meth:`pull` returns."""
        f32 = np.dtype(dtype) == np.float32
        if not f32 and np.dtype(dtype) != np.float64:
            raise ValueError("dtype must be float64 or float32, not %s" % np.dtype(dtype))
        if keys is not None:
            if offset != 0 or length is not None:
                raise ValueError("keys= replaces offset= and length=: give one or the other")
            if f32:
                raise ValueError("a key-list pull is float64 (its keys frame is 8-byte)")
            keys = _keys_frame(keys)
            if self._shards:
                return self._split_pull(None, keys, out, version, dtype)
            return self._pull_keys_async(keys, out, version)
        offset = _u64(offset, "offset")
        if length is not None:
            length = _u64(length, "length")
            if length == 0:
                raise ValueError("length must be at least 1 (None means: to the end)")
        if self._shards:
            return self._split_pull((offset, length), None, out, version, dtype)
        return self._pull_range_async(offset, length, out, version, dtype)

    def _split_pull(self, rng, keys, out, version, dtype):
        """pull_async on a sharded job: each server's part, shards i > 0 answering once they
        have the newest version this client has seen (a pull after a push sees it)."""
        # Split by the client, so checked here (one server checks alone).
        if keys is not None:
            n = keys.shape[0]
            if (keys >= self.dim).any():
                raise DimensionError("key %d is outside the job's %d keys"
                                     % (keys.max(), self.dim))
            if (np.diff(keys) <= 0).any():
                raise MalformedError("keys must increase strictly")
        else:
            offset, length = rng
            n = length if length is not None else self.dim - offset
            if offset >= self.dim or n > self.dim - offset:
                raise DimensionError("key range [%d, +%d) is outside the job's %d keys"
                                     % (offset, n, self.dim))
        if out is not None:
            _check_out(out, n, dtype)
        parts = []
        for i, (endpoint, begin, end) in enumerate(self._shard_map):
            if keys is not None:
                first, stop = np.searchsorted(keys, [begin, end])
            else:
                first = max(begin, offset) - offset
                stop = max(min(end, offset + n) - offset, first)
            if stop == first:
                continue
            client = self if i == 0 else self._shards[i - 1][0]
            part_out = out[first:stop] if out is not None else None
            if keys is not None:
                req = client._pull_keys_async(keys[first:stop], part_out, version,
                                              self._version if i > 0 else 0)
            else:
                req = client._pull_range_async(offset + first, stop - first, part_out, version,
                                               dtype, self._version if i > 0 else 0)
            parts.append((req, int(first), int(stop - first)))
        return _Parts(parts, out, n, dtype)

    def _pull_range_async(self, offset, length, out, version, dtype, min_version=0,
                          exact_version=False):
        f32 = np.dtype(dtype) == np.float32
        expect = length
        if expect is None and out is not None and offset < self.dim:
            expect = self.dim - offset
        if out is not None:
            _check_out(out, expect, dtype)
        h = wire.header(pb.PULL, key_offset=offset, key_length=length or 0,
                        elem_type=pb.F32 if f32 else pb.F64, min_version=min_version,
                        exact_version=exact_version)
        version = _claim(h, version, out)
        if f32 and out is None:   # where the float32 values go
            out = np.empty(expect if expect is not None else max(self.dim - offset, 0),
                           dtype=np.float32)

        def finish(r, frames):
            if r.type != pb.PARAMS:
                raise ProtocolError("a %s in answer to a PULL" % pb.MsgType.Name(r.type))
            if r.key_offset != offset or (length is not None and r.key_length != length):
                raise ProtocolError("PARAMS for [%d, +%d), asked for [%d, +%s)"
                                    % (r.key_offset, r.key_length, offset, length))
            return _params(r, frames, r.key_length, version, out)

        return self._track("pull", self._send(h), finish)

    def _pull_keys_async(self, keys, out, version, min_version=0):
        n = keys.shape[0]
        if out is not None:
            _check_out(out, n)
        h = wire.header(pb.PULL, key_count=n, elem_type=pb.F64, min_version=min_version)
        version = _claim(h, version, out)

        def finish(r, frames):
            if r.type != pb.PARAMS:
                raise ProtocolError("a %s in answer to a PULL" % pb.MsgType.Name(r.type))
            # A server older than key lists ignores key_count and answers a range.
            if r.key_count != n:
                raise ProtocolError("PARAMS for %d listed keys, asked for %d (a server without "
                                    "key lists answers a range)" % (r.key_count, n))
            return _params(r, frames, n, version, out)

        return self._track("pull", self._send(h, [memoryview(np.ascontiguousarray(keys))
                                                  .cast("B")]), finish)

    def pull(self, offset=0, length=None, out=None, version=None, keys=None,
             dtype=np.float64):
        """Read keys ``[offset, offset + length)`` (``length=None``: to the end), or with
        ``keys`` (1-d integers, strictly increasing, each below :attr:`dim`) the values
        ``x[keys]`` in key order.

        ``dtype=np.float32`` (ranges only) has the server send float32 values, the
        parameters rounded to nearest: half the bytes; ``out`` is then a float32 array.

        Returns a :class:`Pulled`, which unpacks as ``(params, version)``: a new float64
        array, or ``out`` filled in place when given (a writable 1-d float64 array of the
        range's length).

        ``version``: the version the caller already holds in ``out`` (as libparamd-client's
        ``*version`` on input). When it is still current the server sends no data, ``out``
        is returned untouched and the result's ``not_modified`` is True.

        For a key list, NOT_MODIFIED means no block of 512 keys holding one of the keys
        changed since ``version`` (a change to another key of such a block counts).

        Raises :class:`paramd.DimensionError` (with the server's reason) for a range outside
        ``[0, dim)`` or a key ``>= dim``, :class:`paramd.MalformedError` for keys that do not
        increase strictly, :class:`paramd.Timeout`, :class:`paramd.UnknownWorker`, ...
        """
        return self.pull_async(offset, length, out, version, keys, dtype).result()

    # --- push -------------------------------------------------------------------------

    def push_async(self, grad, offset=0, version=None, raise_on_reject=True, keys=None):
        """Send a PUSH and return its :class:`Request` at once (pipelining); its
        :meth:`Request.result` is what :meth:`push` returns. ``grad`` is copied (or
        referenced zero-copy when it is contiguous float64) into the message before this
        returns, so the caller may reuse its buffer."""
        if keys is not None and offset != 0:
            raise ValueError("keys= replaces offset=: give one or the other")
        offset = _u64(offset, "offset")
        version = self._version if version is None else _u64(version, "version")
        g = np.asarray(grad)
        if g.ndim != 1:
            raise ValueError("grad must be a 1-d array, not %d-d" % g.ndim)
        if not (np.issubdtype(g.dtype, np.floating) or np.issubdtype(g.dtype, np.integer)):
            raise TypeError("grad must hold numbers, not %s" % g.dtype)
        # A copy: the frame must not change between this call and the send completing. A
        # float32 gradient of a range travels as float32 (half the bytes, widened exactly by
        # the server); key lists are float64 (their keys frame is 8-byte).
        f32 = g.dtype == np.float32 and keys is None
        frame = np.array(g, dtype=wire.F32 if f32 else wire.F64, copy=True)
        frames = [memoryview(frame).cast("B")]
        if keys is None:
            h = wire.header(pb.PUSH, key_offset=offset, key_length=frame.shape[0],
                            version=version, elem_type=pb.F32 if f32 else pb.F64)
        else:
            # key_offset and key_length stay 0: a server older than key lists refuses the
            # empty range instead of applying the values to other keys.
            k = _keys_frame(keys)
            h = wire.header(pb.PUSH, key_count=k.shape[0], version=version, elem_type=pb.F64)
            frames.insert(0, memoryview(k).cast("B"))

        def finish(r, frames):
            if r.type != pb.ACK:
                raise ProtocolError("a %s in answer to a PUSH" % pb.MsgType.Name(r.type))
            try:
                status = AckStatus(r.ack)
            except ValueError:
                raise ProtocolError("unknown ACK status %d" % r.ack) from None
            ack = Ack(status, r.version, r.staleness, r.learning_rate, r.error, r.reason,
                      r.key_offset, r.key_length)
            if status == AckStatus.REJECTED and raise_on_reject:
                raise from_wire(r.error, r.reason, r.request_id, ack=ack)
            return ack

        return self._track("push", self._send(h, frames), finish)

    def push(self, grad, offset=0, version=None, raise_on_reject=True, keys=None):
        """Push gradient ``grad`` (1-d; a float32 array of a range travels as float32, any
        other as float64) for keys ``[offset, offset + len(grad))``,
        or with ``keys`` (1-d integers, strictly increasing, each below :attr:`dim`, as many
        as ``grad`` has values) for those keys, ``grad[i]`` for ``keys[i]``; computed at
        parameters of ``version`` (default: :attr:`version`, the newest this client has
        seen, e.g. of its last pull). The server applies ``x <- prox(x - lr * grad)`` on the
        range or the listed keys (``async-sgd`` jobs only); a key list moves the optimiser
        state and applies the prox at the listed keys only.

        Returns an :class:`Ack`: ``applied`` (then ``version`` is the new version) or
        ``stale_dropped``. A rejected push raises the error of its code (also a
        :class:`paramd.Rejected`, with the Ack in ``.ack``): :class:`paramd.DimensionError`
        for a range outside the model, :class:`paramd.NonFiniteError` for NaN or infinity,
        :class:`paramd.FutureVersion`, :class:`paramd.WrongState` when the method is not
        async-sgd. With ``raise_on_reject=False`` the REJECTED Ack is returned instead.
        """
        return self.push_async(grad, offset, version, raise_on_reject, keys).result()

    # --- plumbing ---------------------------------------------------------------------

    def _send(self, h, frames=()):
        if self._bye is not None:
            raise self._bye
        self._conn.send(h, frames)
        return h

    def _track(self, kind, h, finish):
        req = Request(self, kind, h.request_id, finish)
        self._pending.append(req)
        return req

    def _fail_pending(self, error):
        while self._pending:
            self._pending.popleft()._set(error=error)

    def _wait_for(self, req):
        while not req.done():
            self._complete_oldest()

    def _complete_oldest(self):
        """Receive the reply of the oldest request in flight (replies come in request
        order; older leftovers, e.g. of a request that timed out, are skipped)."""
        req = self._pending[0]
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            got = self._conn.recv(left) if left > 0 else None
            if got is None:
                # Replies come in order: a later request cannot be answered before this one.
                self._fail_pending(Timeout("no reply to the %s (request %d) from %s within "
                                           "%.3g s" % (req.kind, req.request_id,
                                                       self._conn.endpoint, self.timeout)))
                return
            r, frames = got
            if r.type == pb.BYE:
                self._bye = JobOver(r.reason, r.request_id, r.job_continues)
                self._fail_pending(self._bye)
                return
            if r.version > self._version and r.type in (pb.PARAMS, pb.ACK, pb.HEARTBEAT):
                self._version = r.version
            if r.request_id == req.request_id or (r.type == pb.ERROR and r.request_id == 0):
                break
            # an older reply (its request timed out), or an unsolicited message: skip
        self._pending.popleft()
        if r.type == pb.ERROR:
            req._set(error=from_wire(r.error, r.reason, r.request_id))
            return
        try:
            req._set(value=req._finish(r, frames))
        except Error as e:
            req._set(error=e)
