"""paramd.curve reads the key files of paramctl keygen as common/curve.c does (the same files
serve paramd-worker and the Python client), and names the file and line of every problem."""
import os

import pytest
import zmq

import paramd
from paramd import curve


@pytest.fixture
def keys(tmp_path, paramctl):
    import subprocess
    prefix = tmp_path / "w"
    subprocess.run([paramctl, "keygen", str(prefix)], check=True, capture_output=True)
    return prefix


def test_keygen_files_load(keys):
    pub, sec = curve.load_keypair(str(keys) + ".key")
    listed = open(str(keys) + ".pub").read().split()
    assert pub == [w for w in listed if len(w) == 40][0]
    assert zmq.curve_public(sec.encode()).decode() == pub
    assert curve.load_public(str(keys) + ".pub") == pub
    assert curve.load_public(str(keys) + ".key") == pub   # a key pair's public-key line
    assert curve.load_public(pub) == pub                    # the key itself


def write(tmp_path, text, name="k.key"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_czmq_certificate_and_unquoted(tmp_path):
    pub, sec = (k.decode() for k in zmq.curve_keypair())
    p = write(tmp_path, "#   ZeroMQ CURVE **Secret** Certificate\nmetadata\n    name = \"x\"\n"
                        "curve\n    public-key = \"%s\"\n    secret-key = %s\n" % (pub, sec))
    assert curve.load_keypair(p) == (pub, sec)


def test_problems_are_reported_with_file_and_line(tmp_path):
    pub, sec = (k.decode() for k in zmq.curve_keypair())
    other, _ = (k.decode() for k in zmq.curve_keypair())
    p = write(tmp_path, "# comment\npublic-key = \"%s\"\nsecret-key = \"short\"\nbogus line\n" % pub)
    with pytest.raises(paramd.KeyFileError) as e:
        curve.load_keypair(p)
    msg = str(e.value.reason)
    assert "%s:3: secret-key: not a Z85 key" % p in msg
    assert "%s:4: expected 'public-key" % p in msg
    p = write(tmp_path, "public-key = \"%s\"\nsecret-key = \"%s\"\n" % (other, sec), "m.key")
    with pytest.raises(paramd.KeyFileError, match="does not belong to the secret-key"):
        curve.load_keypair(p)
    p = write(tmp_path, "%s w\n" % pub, "w.pub")
    with pytest.raises(paramd.KeyFileError, match=r"w\.pub:1: a bare public key"):
        curve.load_keypair(p)
    p = write(tmp_path, "public-key = \"%s\"\n" % pub, "n.key")
    with pytest.raises(paramd.KeyFileError, match="no secret-key line"):
        curve.load_keypair(p)
    with pytest.raises(paramd.KeyFileError, match="cannot read"):
        curve.load_keypair(str(tmp_path / "missing.key"))
    with pytest.raises(paramd.KeyFileError, match="not a Z85 public key"):
        curve.load_public(write(tmp_path, "not-a-key\n", "bad.pub"))
    with pytest.raises(paramd.KeyFileError, match="no public key"):
        curve.load_public(write(tmp_path, "# only a comment\n", "empty.pub"))


def test_key_valid():
    pub, _ = (k.decode() for k in zmq.curve_keypair())
    assert curve.key_valid(pub)
    assert not curve.key_valid(pub[:-1])
    assert not curve.key_valid(pub[:-1] + "~")       # outside the alphabet
    assert not curve.key_valid("%" * 40)              # in the alphabet, but over 2**32
    assert not curve.key_valid(None)


def test_systemd_credential_is_preferred(tmp_path, keys, monkeypatch):
    creds = tmp_path / "creds"
    creds.mkdir()
    pub, sec = (k.decode() for k in zmq.curve_keypair())
    (creds / "w.key").write_text("secret-key = \"%s\"\n" % sec)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert curve.load_keypair(str(keys) + ".key") == (pub, sec)
    (creds / "w.key").write_text("\n")               # blank: the unit's "no credential"
    assert curve.load_keypair(str(keys) + ".key")[0] != pub
