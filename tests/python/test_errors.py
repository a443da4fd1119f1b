"""paramd.errors: one class per ErrorCode of proto/paramd.proto, with the same numbers and
names as the generated module (so a code added to the .proto without a class fails here),
and from_wire() building the right one, REJECTED pushes included."""
import pytest

import paramd
from paramd import errors
from paramd.wire import pb


def server_classes():
    return [c for c in vars(errors).values()
            if isinstance(c, type) and issubclass(c, errors.ServerError)
            and isinstance(c.code, int)]


def test_every_protocol_code_has_its_class():
    by_code = {c.code: c for c in server_classes()}
    for name, number in pb.ErrorCode.items():
        if number == pb.ERR_NONE:
            continue
        assert number in by_code, "no exception class for %s" % name
        assert by_code[number].name == name
        assert by_code[number].__doc__, name


@pytest.mark.parametrize("code, cls", [
    (pb.ERR_MALFORMED, paramd.MalformedError),
    (pb.ERR_PROTOCOL_VERSION, paramd.ProtocolVersionError),
    (pb.ERR_FRAMES, paramd.FramesError),
    (pb.ERR_DIMENSION, paramd.DimensionError),
    (pb.ERR_NONFINITE, paramd.NonFiniteError),
    (pb.ERR_UNKNOWN_WORKER, paramd.UnknownWorker),
    (pb.ERR_FUTURE_VERSION, paramd.FutureVersion),
    (pb.ERR_TOO_BIG, paramd.TooBig),
    (pb.ERR_WRONG_STATE, paramd.WrongState),
    (pb.ERR_FINGERPRINT, paramd.FingerprintError),
    (pb.ERR_INTERNAL, paramd.InternalError),
    (pb.ERR_VERSION_GONE, paramd.VersionGone),
])
def test_from_wire(code, cls):
    e = errors.from_wire(code, "the server's words", 17)
    assert type(e) is cls
    assert isinstance(e, paramd.ServerError) and isinstance(e, paramd.Error)
    assert (e.code, e.reason, e.request_id) == (code, "the server's words", 17)
    assert str(e) == "%s: the server's words" % pb.ErrorCode.Name(code)


def test_unknown_code_is_kept():
    e = errors.from_wire(99, "new")
    assert isinstance(e, paramd.UnknownServerError) and e.code == 99 and e.name == "ERR_99"


def test_rejected_push_is_both_rejected_and_its_code():
    ack = object()
    e = errors.from_wire(pb.ERR_DIMENSION, "outside", 3, ack=ack)
    assert isinstance(e, paramd.Rejected) and isinstance(e, paramd.DimensionError)
    assert e.ack is ack and e.code == pb.ERR_DIMENSION and e.reason == "outside"
    assert type(e) is type(errors.from_wire(pb.ERR_DIMENSION, "", ack=ack))  # one class per code
    u = errors.from_wire(77, "new", ack=ack)
    assert isinstance(u, paramd.Rejected) and u.code == 77


def test_local_errors():
    assert issubclass(paramd.Timeout, TimeoutError)
    assert issubclass(paramd.KeyFileError, ValueError)
    for cls in (paramd.Timeout, paramd.AuthError, paramd.HandshakeError, paramd.KeyFileError,
                paramd.JobOver, paramd.ProtocolError, paramd.ClosedError, paramd.DataError):
        assert issubclass(cls, paramd.Error) and not issubclass(cls, paramd.ServerError)
        assert cls.code is None and cls.__doc__
    bye = paramd.JobOver("job is over: max_updates", job_continues=False)
    assert bye.reason.startswith("job is over") and bye.job_continues is False
