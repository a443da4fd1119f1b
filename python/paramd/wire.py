"""Framing of paramd messages (doc/protocol.md, "Framing"): frame 0 a serialized
``paramd.Header``, frames 1..n raw little-endian arrays whose element counts are listed in
``Header.frame_counts``. Pure: bytes in, objects out; no socket here.

The only module that imports the generated ``paramd_pb2`` directly, so a missing build step
is reported once, with what to do.
"""
import numpy as np

try:
    from . import paramd_pb2 as pb
except ImportError as _e:  # pragma: no cover - depends on the build
    raise ImportError(
        "paramd.paramd_pb2 is missing: it is generated from proto/paramd.proto by `make` "
        "(protoc --python_out) into the build tree; from a build tree set "
        "PYTHONPATH=BUILDDIR/python:SRCDIR/python (%s)" % _e) from None

from .errors import ProtocolError

PROTO_VERSION = 1
MAX_FRAMES = 8
#: bytes per element of each ElemType (F64, F32, U32, U8, BF16)
ELEM_SIZE = {pb.F64: 8, pb.F32: 4, pb.U32: 4, pb.U8: 1, pb.BF16: 2}
#: wire dtype of float64 arrays: little-endian whatever the host
F64 = np.dtype("<f8")
#: wire dtype of float32 arrays (jobs with ``wire_type = float32``)
F32 = np.dtype("<f4")


def header(msg_type, **fields):
    """A new ``Header`` of ``msg_type`` with ``proto_version`` 1 and ``fields`` set."""
    h = pb.Header(proto_version=PROTO_VERSION, type=msg_type)
    for k, v in fields.items():
        if k == "hello":
            h.hello.CopyFrom(v)
        elif k == "local_tr":
            h.local_tr.CopyFrom(v)
        else:
            setattr(h, k, v)
    return h


def f64_frame(array):
    """``array`` as the bytes of an F64 frame (a view when it is already contiguous
    little-endian float64; nothing is copied then)."""
    a = np.ascontiguousarray(array, dtype=F64)
    return memoryview(a).cast("B")


def f32_frame(array):
    """``array`` rounded to float32 (IEEE, to nearest; beyond the float32 range a value
    becomes Inf, as in paramd-worker) as the bytes of an F32 frame."""
    with np.errstate(over="ignore"):
        a = np.ascontiguousarray(array, dtype=F32)
    return memoryview(a).cast("B")


def encode(h, frames=()):
    """The parts of a message: the serialized header, then the frames. The caller has set
    ``elem_type``; ``frame_counts`` is filled here from the frames' byte lengths."""
    size = ELEM_SIZE[h.elem_type]
    del h.frame_counts[:]
    parts = [None]
    for f in frames:
        n = len(f) if isinstance(f, (bytes, bytearray)) else memoryview(f).nbytes
        if n % size:
            raise ValueError("a frame of %d bytes is not a whole number of %d-byte elements"
                             % (n, size))
        h.frame_counts.append(n // size)
        parts.append(f)
    parts[0] = h.SerializeToString()
    return parts


def decode(parts):
    """``(header, frames)`` of a received message (a list of bytes-like parts). Checks what
    the protocol promises: a parseable header of version 1, frames matching
    ``frame_counts`` in number and byte length. Raises :class:`paramd.ProtocolError`."""
    if not parts:
        raise ProtocolError("an empty message")
    h = pb.Header()
    try:
        h.ParseFromString(bytes(parts[0]))
    except Exception as e:  # protobuf raises DecodeError, or others on odd input
        raise ProtocolError("the server's header does not decode: %s" % e) from None
    if h.proto_version != PROTO_VERSION:
        raise ProtocolError("the server speaks protocol version %d, this client %d"
                            % (h.proto_version, PROTO_VERSION))
    frames = parts[1:]
    if len(frames) != len(h.frame_counts) or len(frames) > MAX_FRAMES:
        raise ProtocolError("%d array frames do not match the %d declared counts"
                            % (len(frames), len(h.frame_counts)))
    size = ELEM_SIZE.get(h.elem_type)
    if size is None:
        raise ProtocolError("unknown element type %d" % h.elem_type)
    for i, (f, count) in enumerate(zip(frames, h.frame_counts)):
        if len(f) != count * size:
            raise ProtocolError("frame %d has %d bytes, its count says %d elements of %d"
                                % (i + 1, len(f), count, size))
    return h, frames


def f64_array(frame, h, out=None):
    """An array frame of a decoded message as float64 values, copied once: into ``out`` when
    given (a float64 array of the frame's length), else into a new array (received frames are
    not aligned, and the caller may keep the array)."""
    if h.elem_type not in (pb.F64, pb.F32):
        raise ProtocolError("expected F64 or F32 frames, got element type %d" % h.elem_type)
    values = np.frombuffer(frame, dtype=F64 if h.elem_type == pb.F64 else F32)
    if out is None:
        return values.astype(np.float64, copy=True)
    np.copyto(out, values)
    return out
