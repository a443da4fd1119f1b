"""One DEALER socket to paramd, shared by :class:`paramd.KVClient` and
:class:`paramd.Worker` (what worker/client.c is to the C programs): routing id, socket
options, CURVE, the handshake monitor, HELLO/WELCOME, and sends and receives with deadlines.

Not thread-safe: a connection is used from one thread at a time, like a zmq socket.
"""
import os
import socket
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

from . import curve, wire
from .errors import (AuthError, ClosedError, Error, HandshakeError, JobOver, Timeout,
                     from_wire)
from .wire import pb

ZERO_COPY_BYTES = 65536  # messages at least this large are sent without a copy

SOFTWARE_VERSION = "0.1.0"
_HS_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
              | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


def _check_endpoint(endpoint):
    if not isinstance(endpoint, str) or "://" not in endpoint:
        raise ValueError("endpoint must be a ZeroMQ endpoint such as 'tcp://127.0.0.1:5555', "
                         "not %r" % (endpoint,))


def security_keys(server_key, key_file):
    """``(server_public, client_public, client_secret)`` Z85 strings for CURVE, or ``None``
    for a plain connection. Both arguments or neither, as paramd-worker demands."""
    if server_key is None and key_file is None:
        return None
    if server_key is None or key_file is None:
        raise ValueError("CURVE needs both server_key (the server's public key, or its .pub "
                         "file) and key_file (this client's .key file from paramctl keygen)")
    server_pub = curve.load_public(server_key)
    pub, sec = curve.load_keypair(key_file)
    return server_pub, pub, sec


class Connection:
    """A DEALER socket connected to ``endpoint`` with a fresh random routing id, kept for the
    connection's life so the server recognises a reconnect (doc/protocol.md, Transport)."""

    def __init__(self, endpoint, keys=None, send_timeout=10.0):
        _check_endpoint(endpoint)
        self.endpoint = endpoint
        self.keys = keys
        # 32 hex digits of a random 128-bit value, as the C library: unique, not secret,
        # and never starting with a zero byte (which ZeroMQ reserves).
        self.routing_id = os.urandom(16).hex().encode("ascii")
        self.next_request = 0
        self.worker_id = 0
        self.job = None
        self.welcome_version = 0
        self.hs_failure = None
        self._ctx = zmq.Context()
        self.sock = None
        self._mon = None
        try:
            self.sock = self._ctx.socket(zmq.DEALER)
            self.sock.setsockopt(zmq.ROUTING_ID, self.routing_id)
            # LINGER 0: close() never hangs on a dead server (raised briefly for the BYE).
            # IMMEDIATE: while disconnected a send fails instead of queueing requests for
            # a server that may come back as another process.
            self.sock.setsockopt(zmq.LINGER, 0)
            self.sock.setsockopt(zmq.IMMEDIATE, 1)
            # With IMMEDIATE a send to a lost server would block for ever: bound it.
            self.sock.setsockopt(zmq.SNDTIMEO, max(1, int(send_timeout * 1000)))
            if "[" in endpoint:
                self.sock.setsockopt(zmq.IPV6, 1)
            if keys is not None:
                if not zmq.has("curve"):
                    raise Error("this libzmq has no CURVE support")
                self.sock.curve_serverkey = keys[0].encode("ascii")
                self.sock.curve_publickey = keys[1].encode("ascii")
                self.sock.curve_secretkey = keys[2].encode("ascii")
            # Handshake events, so a refused key reads as such, not as a silent server.
            self._mon = self.sock.get_monitor_socket(_HS_EVENTS)
            self.sock.connect(endpoint)
        except zmq.ZMQError as e:
            self._teardown()
            raise ValueError("cannot connect to %s: %s" % (endpoint, e)) from None
        except BaseException:
            self._teardown()
            raise

    # --- lifetime ---------------------------------------------------------------------

    @property
    def closed(self):
        return self.sock is None

    def _teardown(self):
        if self._mon is not None:
            try:
                self.sock.disable_monitor()
            except zmq.ZMQError:
                pass
            self._mon.close(0)
            self._mon = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None

    def close(self, reason=""):
        """Say BYE (when joined) and close. Safe to call twice."""
        if self.sock is None:
            return
        if self.worker_id:
            try:
                self.send(wire.header(pb.BYE, reason=reason[:255]))
            except Error:
                pass
            # LINGER 0 would drop the BYE: give it a moment to leave.
            self.sock.setsockopt(zmq.LINGER, 200)
        self.worker_id = 0
        self._teardown()

    def _alive(self):
        if self.sock is None:
            raise ClosedError("the client is closed")

    # --- handshake monitor ------------------------------------------------------------

    def _read_monitor(self):
        while self._mon is not None and self._mon.poll(0):
            ev = recv_monitor_message(self._mon)["event"]
            if ev == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.hs_failure = None
            elif ev == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                self.hs_failure = AuthError(
                    "the server refused our CURVE key %s: add its .pub line to the server's "
                    "[security] authorized_workers and reload paramd (SIGHUP)"
                    % (self.keys[1] if self.keys else "(none: plain connection)"))
            elif ev in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                        zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
                self.hs_failure = HandshakeError(
                    "the security handshake with %s failed: %s" % (self.endpoint,
                        "the server probably requires CURVE: give server_key and key_file"
                        if self.keys is None else
                        "check that server_key is the server's public key and that the "
                        "server has [security] server_key_file"))

    def _reconnect(self):
        # libzmq does not retry an endpoint whose handshake failed: connect again, so a key
        # admitted later (SIGHUP) or a fixed server key are picked up.
        try:
            self.sock.disconnect(self.endpoint)
        except zmq.ZMQError:
            pass  # libzmq dropped it already
        self.sock.connect(self.endpoint)

    # --- messages ---------------------------------------------------------------------

    def send(self, h, frames=(), block=True):
        """Send header ``h`` and frames; fills request_id (if 0), worker_id and job_id.
        ``block=False`` raises :class:`zmq.Again` when there is no connection (IMMEDIATE);
        a blocking send raises :class:`paramd.Timeout` after the send timeout. Returns the
        request id."""
        self._alive()
        if h.request_id == 0:
            self.next_request += 1
            h.request_id = self.next_request
        h.worker_id = self.worker_id
        if self.job is not None:
            h.job_id = self.job.job_id
        parts = wire.encode(h, frames)
        # pyzmq's zero-copy send costs tens of microseconds a message (a tracked frame freed
        # through its garbage-collector thread), more than copying a small one: copy what is
        # small, hand large arrays over as they are.
        copy = sum(len(p) for p in parts) < ZERO_COPY_BYTES
        try:
            self.sock.send_multipart(parts, flags=0 if block else zmq.NOBLOCK, copy=copy)
        except zmq.Again:
            if not block:
                raise
            raise Timeout("cannot send to %s: no connection within %.3g s"
                          % (self.endpoint, self.sock.getsockopt(zmq.SNDTIMEO) / 1000.0)) from None
        return h.request_id

    def recv(self, timeout):
        """One message as ``(header, frames)``, waiting at most ``timeout`` seconds (None:
        forever); ``None`` when nothing came."""
        self._alive()
        ms = None if timeout is None else max(0, int(timeout * 1000))
        if not self.sock.poll(ms, zmq.POLLIN):
            return None
        # Not copied out of libzmq's message: the array frames reach numpy as memoryviews, and
        # a pull copies them once, into the caller's array.
        parts = [frame.buffer for frame in self.sock.recv_multipart(copy=False)]
        return wire.decode(parts)

    def hello(self, hello, timeout):
        """HELLO and wait for WELCOME, at most ``timeout`` seconds; sets ``job``,
        ``worker_id`` and ``welcome_version``. Raises :class:`paramd.Timeout` (or, when the
        handshake failed meanwhile, :class:`paramd.AuthError` /
        :class:`paramd.HandshakeError`), :class:`paramd.JobOver` for a BYE, or the server's
        ERROR."""
        self._alive()
        deadline = time.monotonic() + timeout
        self.worker_id = 0
        self._read_monitor()
        if self.hs_failure is not None:
            self._reconnect()
        h = wire.header(pb.HELLO, hello=hello)
        # With IMMEDIATE the HELLO goes out only once the connection is up (for CURVE: once
        # the handshake succeeded): retry until then, and say why if the handshake failed.
        while True:
            try:
                rid = self.send(h, block=False)
                break
            except zmq.Again:
                self._read_monitor()
                if time.monotonic() >= deadline:
                    raise self.hs_failure or Timeout(
                        "no connection to %s within %.3g s" % (self.endpoint, timeout))
                time.sleep(0.01)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._read_monitor()
                raise self.hs_failure or Timeout(
                    "no WELCOME from %s within %.3g s" % (self.endpoint, timeout))
            got = self.recv(left)
            if got is None:
                continue
            r, _ = got
            if r.type == pb.WELCOME and r.HasField("job"):
                self.worker_id = r.worker_id
                self.job = r.job
                self.welcome_version = r.version
                return r
            if r.type == pb.BYE:
                raise JobOver(r.reason, r.request_id, r.job_continues)
            if r.type == pb.ERROR and r.request_id in (rid, 0):
                raise from_wire(r.error, r.reason, r.request_id)
            # anything else is a leftover of an earlier session: skip it


def make_hello(name, kv_only, software):
    """The ``Hello`` of this process: ``name`` (default: the host name), host, cores."""
    host = socket.gethostname()
    if name is None:
        name = host
    if not isinstance(name, str):
        raise TypeError("name must be a string, not %s" % type(name).__name__)
    if len(name.encode("utf-8")) > 255:
        raise ValueError("name is longer than 255 bytes (the protocol's limit)")
    # A task worker widens F32 task frames (wire.f64_array); a key-value client gets none.
    return pb.Hello(name=name, host=host[:255], cores=os.cpu_count() or 0, kv_only=kv_only,
                    software=software, accepts_f32=not kv_only)

