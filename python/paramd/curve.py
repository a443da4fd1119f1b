"""CURVE key files, read exactly as paramd-worker reads them (common/curve.c), so the same
files serve the C and the Python clients.

Formats, as ``paramctl keygen PREFIX`` writes them:

* ``PREFIX.key`` (a key pair, mode 0600): ``#`` comment lines, then
  ``public-key = "Z85"`` and ``secret-key = "Z85"`` (quotes optional). The secret key is
  required; the public key, when present, must belong to it. czmq secret certificates load
  too (their ``metadata``/``curve`` section words and other ``name = value`` lines are
  skipped).
* ``PREFIX.pub`` (a public key): ``#`` comment lines, then ``Z85 NAME``.

Keys are libzmq's 40-character Z85 text. Z85 has ``#`` in its alphabet, so a line is a
comment only when its first word is not a valid key. Errors are reported as
``FILE:LINE: problem``, one line each, all of a file's problems at once.
"""
import os
import stat
import struct

import zmq
from zmq.utils import z85

from .errors import KeyFileError

KEY_LEN = 40
_LINE_MAX = 1024


def key_valid(text):
    """True when ``text`` is exactly one Z85 key (40 characters that decode to 32 bytes)."""
    if not isinstance(text, str) or len(text) != KEY_LEN:
        return False
    try:
        return len(z85.decode(text.encode("ascii"))) == 32
    except (ValueError, KeyError, struct.error):
        # KeyError: a character outside the alphabet; struct.error: a group of five
        # characters whose value exceeds 2**32 (the alphabet check alone is not enough)
        return False


def _first_word(s):
    return s.split(None, 1)[0] if s.split() else ""


def _is_comment(s):
    return s == "" or (s.startswith("#") and not key_valid(_first_word(s)))


def _lines(path):
    """(line number, text without newline and leading blanks) of a key file; problems with
    over-long lines go to the list returned second."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            raw = f.read().split("\n")
    except OSError as e:
        raise KeyFileError("%s: cannot read: %s" % (path, e.strerror or e)) from None
    if raw and raw[-1] == "":
        raw.pop()
    out, problems = [], []
    for n, line in enumerate(raw, 1):
        if line.endswith("\r"):
            line = line[:-1]
        if len(line) > _LINE_MAX:
            problems.append("%s:%d: line longer than %d characters" % (path, n, _LINE_MAX))
            continue
        out.append((n, line.lstrip(" \t")))
    return out, problems


def _assignment(s):
    """``name = value`` (value optionally in double quotes), or None."""
    if "=" not in s:
        return None
    name, value = s.split("=", 1)
    name, value = name.rstrip(" \t"), value.strip(" \t")
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = value[1:-1]
    return name, value


def _blank_file(path):
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return len(head) < 64 and head.strip(b" \t\r\n") == b""


def keypair_source(path):
    """Where the key pair of ``path`` is read from: under systemd, the service credential
    named after its base name when there is a non-blank one (``LoadCredential=``), else
    ``path`` itself, as pd_curve_keypair_source() decides."""
    creds = os.environ.get("CREDENTIALS_DIRECTORY", "")
    base = os.path.basename(path)
    if not creds or not base:
        return path
    cand = os.path.join(creds, base)
    try:
        if stat.S_ISREG(os.stat(cand).st_mode) and not _blank_file(cand):
            return cand
    except OSError:
        pass
    return path


def load_keypair(path):
    """Read a key-pair file; returns ``(public, secret)`` Z85 strings. The public key is
    derived from the secret key (and checked against the file's, if it has one). Raises
    :class:`paramd.KeyFileError` naming every problem as ``FILE:LINE: problem``."""
    path = keypair_source(os.fspath(path))
    lines, problems = _lines(path)
    pub = sec = None
    last = 0
    for n, s in lines:
        last = n
        if _is_comment(s) or s in ("metadata", "curve"):
            continue
        if key_valid(_first_word(s)):
            problems.append("%s:%d: a bare public key: this is a .pub file, but a key pair is "
                            "needed (the .key file written by paramctl keygen)" % (path, n))
            continue
        kv = _assignment(s)
        if kv is None:
            problems.append("%s:%d: expected 'public-key = \"KEY\"' or 'secret-key = \"KEY\"' "
                            "(a key-pair file from paramctl keygen)" % (path, n))
            continue
        name, value = kv
        if name not in ("public-key", "secret-key"):
            continue  # czmq metadata such as name = "..."
        if (name == "public-key" and pub is not None) or (name == "secret-key" and sec is not None):
            problems.append("%s:%d: %s given twice" % (path, n, name))
        elif not key_valid(value):
            problems.append("%s:%d: %s: not a Z85 key (40 characters of the Z85 alphabet)"
                            % (path, n, name))
        elif name == "public-key":
            pub = value
        else:
            sec = value
    if not problems and sec is None:
        problems.append("%s:%d: no secret-key line: this is not a key-pair file (a .pub file "
                        "holds only the public key; use the .key file written by paramctl "
                        "keygen)" % (path, last))
    if not problems:
        derived = zmq.curve_public(sec.encode("ascii")).decode("ascii")
        if pub is not None and pub != derived:
            problems.append("%s: the public-key does not belong to the secret-key" % path)
        pub = derived
    if problems:
        raise KeyFileError("\n".join(problems))
    return pub, sec


def load_public(key_or_path):
    """A public key given as Z85 text, or as a file holding it (a ``.pub`` file, or a key-pair
    file's public-key line). Returns the Z85 string; raises :class:`paramd.KeyFileError`."""
    if isinstance(key_or_path, str) and key_valid(key_or_path):
        return key_or_path
    path = os.fspath(key_or_path)
    lines, problems = _lines(path)
    if problems:
        raise KeyFileError("\n".join(problems))
    for n, s in lines:
        if _is_comment(s) or s in ("metadata", "curve"):
            continue
        word = _first_word(s)
        if key_valid(word):
            return word
        kv = _assignment(s)
        if kv is not None:
            if kv[0] == "public-key" and key_valid(kv[1]):
                return kv[1]
            if kv[0] != "public-key":
                continue  # the secret-key line of a key-pair file, czmq metadata
        raise KeyFileError("%s:%d: not a Z85 public key (40 characters of the Z85 alphabet)"
                           % (path, n))
    raise KeyFileError("%s: no public key in the file (nor is it a 40-character Z85 key)" % path)
