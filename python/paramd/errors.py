"""Exceptions of the paramd client: one class per error code of the wire protocol, plus the
failures that happen on the client's side (timeouts, refused CURVE keys, bad key files).

Every exception derives from :class:`Error`, which carries ``code`` (the protocol's
``ErrorCode`` number for errors the server sent, ``None`` for local ones), ``name`` (the
protocol's symbolic name, e.g. ``"ERR_DIMENSION"``, or a local one such as ``"TIMEOUT"``)
and ``reason`` (the server's own words when it sent them).

The numbers below are those of ``enum ErrorCode`` in proto/paramd.proto and of the table in
doc/protocol.md ("Errors"); tests/python/test_errors.py checks them against the generated
module, so the two cannot drift apart silently.
"""


class Error(Exception):
    """Base class of every paramd error.

    Attributes:
        code: the protocol's ``ErrorCode`` number, or ``None`` for a client-side error.
        name: symbolic name (``"ERR_DIMENSION"``, ``"TIMEOUT"``, ...).
        reason: human text; for server errors the server's ``reason`` field.
    """

    code = None
    name = "ERROR"

    def __init__(self, reason="", request_id=0):
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id

    def __str__(self):
        return "%s: %s" % (self.name, self.reason) if self.reason else self.name


class ServerError(Error):
    """The server refused a request with an ERROR message (or a REJECTED ACK)."""


class MalformedError(ServerError):
    """ERR_MALFORMED: the server could not decode our header, or the message type is not one
    it accepts."""
    code, name = 1, "ERR_MALFORMED"


class ProtocolVersionError(ServerError):
    """ERR_PROTOCOL_VERSION: the server speaks another protocol version."""
    code, name = 2, "ERR_PROTOCOL_VERSION"


class FramesError(ServerError):
    """ERR_FRAMES: the array frames do not match the header's frame counts."""
    code, name = 3, "ERR_FRAMES"


class DimensionError(ServerError):
    """ERR_DIMENSION: a key range or vector length outside the job's model."""
    code, name = 4, "ERR_DIMENSION"


class NonFiniteError(ServerError):
    """ERR_NONFINITE: NaN or infinity in a pushed gradient, or a step that would make a
    parameter non-finite."""
    code, name = 5, "ERR_NONFINITE"


class UnknownWorker(ServerError):
    """ERR_UNKNOWN_WORKER: the server has no session for us (never joined, evicted after
    worker_timeout of silence, or the server restarted). Join again (``rejoin()``)."""
    code, name = 6, "ERR_UNKNOWN_WORKER"


class FutureVersion(ServerError):
    """ERR_FUTURE_VERSION: we claimed a parameter version the server has not reached."""
    code, name = 7, "ERR_FUTURE_VERSION"


class TooBig(ServerError):
    """ERR_TOO_BIG: the message exceeds the server's size limit."""
    code, name = 8, "ERR_TOO_BIG"


class WrongState(ServerError):
    """ERR_WRONG_STATE: not allowed now (e.g. a push when the job's method is not
    async-sgd)."""
    code, name = 9, "ERR_WRONG_STATE"


class FingerprintError(ServerError):
    """ERR_FINGERPRINT: reserved by protocol version 1 (a worker whose data does not match
    says BYE instead)."""
    code, name = 10, "ERR_FINGERPRINT"


class InternalError(ServerError):
    """ERR_INTERNAL: the server could not allocate what the request needed."""
    code, name = 11, "ERR_INTERNAL"


class VersionGone(ServerError):
    """ERR_VERSION_GONE: a read of exactly a version (a GRAD_DIFF task's y from a shard) the
    server no longer keeps: the task it was for is over."""
    code, name = 12, "ERR_VERSION_GONE"


_BY_CODE = {cls.code: cls for cls in (
    MalformedError, ProtocolVersionError, FramesError, DimensionError, NonFiniteError,
    UnknownWorker, FutureVersion, TooBig, WrongState, FingerprintError, InternalError,
    VersionGone)}


class UnknownServerError(ServerError):
    """An ERROR whose code this client does not know (a newer server)."""
    name = "ERR_UNKNOWN"

    def __init__(self, code, reason="", request_id=0):
        super().__init__(reason, request_id)
        self.code = code
        self.name = "ERR_%d" % code


class Rejected(ServerError):
    """A push the server answered with ACK ``REJECTED``. Raised as a class that also derives
    from the error code's class (``except paramd.DimensionError`` catches a push outside the
    model as well as a pull outside it). ``ack`` holds the :class:`paramd.Ack`."""

    ack = None


_REJECTED = {}


def rejected_class(code):
    """The exception class of a push rejected with ``code``: derives from both
    :class:`Rejected` and the code's own class (created once per code)."""
    base = _BY_CODE.get(code, UnknownServerError)
    cls = _REJECTED.get(code)
    if cls is None:
        cls = type("Rejected" + base.__name__, (Rejected, base),
                   {"__doc__": "A push rejected with %s." % base.name,
                    "__module__": __name__})
        _REJECTED[code] = cls
    return cls


def from_wire(code, reason="", request_id=0, ack=None):
    """The exception for a server ERROR (or, with ``ack``, a REJECTED push) of ``code``."""
    if ack is not None:
        cls = rejected_class(code)
        e = cls(code, reason, request_id) if cls.code is None else cls(reason, request_id)
        e.ack = ack
        return e
    cls = _BY_CODE.get(code)
    if cls is None:
        return UnknownServerError(code, reason, request_id)
    return cls(reason, request_id)


class Timeout(Error, TimeoutError):
    """No answer from the server within the timeout. The client never waits longer."""
    name = "TIMEOUT"


class AuthError(Error):
    """The server refused our CURVE public key (it is not in its ``authorized_workers``)."""
    name = "AUTH_REFUSED"


class HandshakeError(Error):
    """The security handshake failed: CURVE on one side only, or not the server's public
    key."""
    name = "HANDSHAKE_FAILED"


class KeyFileError(Error, ValueError):
    """A CURVE key or key file that cannot be used; the reason names the file and line."""
    name = "KEY_FILE"


class JobOver(Error):
    """The server said BYE: the job is over (``job_continues`` false) or the server is
    stopping and the job will go on with the next one (``job_continues`` true)."""
    name = "BYE"

    def __init__(self, reason="", request_id=0, job_continues=False):
        super().__init__(reason, request_id)
        self.job_continues = job_continues


class ProtocolError(Error):
    """The server's reply makes no sense to this client (undecodable header, frames that do
    not match their counts, a reply of the wrong type or length)."""
    name = "PROTOCOL"


class ClosedError(Error):
    """The client was closed."""
    name = "CLOSED"


class DataError(Error):
    """A worker cannot use the job's data (unreadable, or its fingerprint differs from the
    server's); the reason names the file and the problem."""
    name = "DATA"
