"""CURVE with the real daemon: the Python client joins with the same key files as
paramd-worker (--server-key, --key-file), and every refusal is a clear exception within the
timeout, never a hang: a key not in authorized_workers (AuthError), a wrong server key and a
plain client against a CURVE server (HandshakeError)."""
import subprocess
import time

import numpy as np
import pytest
import zmq

import paramd
from conftest import kv_job


@pytest.fixture
def curve_server(tmp_path, start_paramd, paramctl):
    if not zmq.has("curve"):
        pytest.skip("this libzmq has no CURVE support")
    for k in ("server", "good", "bad"):
        subprocess.run([paramctl, "keygen", str(tmp_path / k)], check=True,
                       capture_output=True)
    authorized = tmp_path / "authorized_workers"
    authorized.write_text("# admitted\n" + (tmp_path / "good.pub").read_text())
    # kv_job() starts inside [server]; [security] goes after it
    d = start_paramd(kv_job(4, 0.5) + "[security]\nserver_key_file = %s\n"
                     "authorized_workers = %s\n" % (tmp_path / "server.key", authorized))
    d.keys = tmp_path
    return d


def test_right_key_is_admitted(curve_server):
    k = curve_server.keys
    with paramd.KVClient(curve_server.endpoint, timeout=5.0, server_key=str(k / "server.pub"),
                         key_file=str(k / "good.key")) as c:
        assert c._conn.sock.getsockopt(zmq.MECHANISM) == zmq.CURVE
        c.push(np.ones(4))
        x, v = c.pull()
        assert v == 1 and (x == -0.5).all()
    # the server's public key may also be given as the Z85 text itself
    pub = paramd.curve.load_public(str(k / "server.pub"))
    with paramd.KVClient(curve_server.endpoint, timeout=5.0, server_key=pub,
                         key_file=str(k / "good.key")) as c:
        assert c.pull()[1] == 1
    assert "admitted" in curve_server.log() or "good" in curve_server.log()


def refused(exc, endpoint, **kw):
    t0 = time.monotonic()
    with pytest.raises(exc) as e:
        paramd.KVClient(endpoint, timeout=2.0, **kw)
    assert time.monotonic() - t0 < 8, "the refusal took too long"
    return e.value


def test_unlisted_key_is_refused(curve_server):
    k = curve_server.keys
    e = refused(paramd.AuthError, curve_server.endpoint, server_key=str(k / "server.pub"),
                key_file=str(k / "bad.key"))
    assert "authorized_workers" in e.reason
    assert paramd.curve.load_keypair(str(k / "bad.key"))[0] in e.reason


def test_wrong_server_key_fails_the_handshake(curve_server):
    k = curve_server.keys
    e = refused(paramd.HandshakeError, curve_server.endpoint,
                server_key=str(k / "bad.pub"), key_file=str(k / "good.key"))
    assert "server_key is the server's public key" in e.reason


def test_plain_client_against_curve_server(curve_server):
    e = refused(paramd.HandshakeError, curve_server.endpoint)
    assert "requires CURVE" in e.reason


def test_bad_key_file_is_a_clear_error(curve_server, tmp_path):
    k = curve_server.keys
    with pytest.raises(paramd.KeyFileError, match="a bare public key"):
        paramd.KVClient(curve_server.endpoint, server_key=str(k / "server.pub"),
                        key_file=str(k / "good.pub"))
