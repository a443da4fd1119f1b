"""The Python client of the paramd parameter server.

A key-value client pulls key ranges of a running job's parameters and pushes gradients for
key ranges; the server applies them with its optimiser and staleness rule (jobs with
``method = async-sgd``; ``[model] type = none`` with ``dim = N`` serves a plain vector)::

    import numpy as np
    import paramd

    with paramd.KVClient("tcp://127.0.0.1:5555", timeout=5.0) as c:
        x, version = c.pull()                # all keys, and their version
        grad = 2.0 * x - 1.0                 # your gradient at x
        ack = c.push(grad, version=version)  # x <- x - lr * grad on the server
        print(ack.applied, ack.version, ack.staleness)
        x, version = c.pull(out=x, version=version)  # no data sent if still current

Pipelining (several requests in flight, as libparamd-client's _send/_recv pairs)::

    reqs = [c.push_async(g, offset=o) for o, g in parts]
    acks = [r.result() for r in reqs]

Errors are exceptions carrying the server's ``reason``: one class per protocol error code
(:class:`DimensionError`, :class:`NonFiniteError`, :class:`UnknownWorker`, ...; all derive
from :class:`ServerError` and :class:`Error`), :class:`Timeout` when the server does not
answer in time (the client never hangs), :class:`AuthError` / :class:`HandshakeError` for
CURVE failures, :class:`JobOver` when the server says BYE.

:class:`Worker` runs the worker side of the protocol as paramd-worker does (join, READY,
TASK/RESULT, heartbeats, CANCEL, BYE, rejoin). For a ``type = none`` job it calls your
function instead of computing tasks::

    def gradient(params, version):
        return params - target, loss          # or just the gradient

    paramd.Worker("tcp://127.0.0.1:5555", callback=gradient).run()   # until the job ends

The protocol is doc/protocol.md of the paramd sources; ``paramd.paramd_pb2`` is generated
from proto/paramd.proto at build time. From a build tree, without installing::

    PYTHONPATH=$builddir/python:$srcdir/python python3 -c 'import paramd'
"""
# The package's sources live in SRCDIR/python/paramd and the generated paramd_pb2.py in
# BUILDDIR/python/paramd (a VPATH build keeps generated files out of the source tree):
# extend_path makes both directories on sys.path one package. Installed, they are one
# directory and this changes nothing.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

from .errors import (AuthError, ClosedError, DataError, DimensionError, Error,  # noqa: E402
                     FingerprintError, FramesError, FutureVersion, HandshakeError,
                     InternalError, JobOver, KeyFileError, MalformedError, NonFiniteError,
                     ProtocolError, ProtocolVersionError, Rejected, ServerError, Timeout,
                     TooBig, UnknownServerError, UnknownWorker, VersionGone, WrongState)
from .kvclient import Ack, AckStatus, KVClient, Pulled, Request  # noqa: E402
from .worker import Worker  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "KVClient", "Ack", "AckStatus", "Pulled", "Request", "Worker",
    "Error", "ServerError", "MalformedError", "ProtocolVersionError", "FramesError",
    "DimensionError", "NonFiniteError", "UnknownWorker", "FutureVersion", "TooBig",
    "WrongState", "FingerprintError", "InternalError", "UnknownServerError", "Rejected",
    "Timeout", "AuthError", "HandshakeError", "KeyFileError", "JobOver", "ProtocolError",
    "ClosedError", "DataError", "VersionGone",
]
