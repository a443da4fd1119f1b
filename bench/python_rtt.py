#!/usr/bin/python3
"""bench/python_rtt.py - `make bench-python`: the Python client's round trips next to the C
client's, against the same paramd in the same run.

For 100 doubles and for 1 MiB (131,072 doubles), one request at a time: a pull of the range
and a push of a gradient for it, each repeated for a fixed time, with paramd.KVClient and with
libparamd-client (called through ctypes, which adds about a microsecond a call). Prints the
mean and median round trip of each and the Python/C ratio.

    PYTHONPATH=python bench/python_rtt.py --paramd server/paramd \\
        --libclient worker/.libs/libparamd-client.so.1
"""

import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

SIZES = [("100 doubles", 100), ("1 MiB", 131072)]


class CAck(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("version", ctypes.c_uint64),
                ("staleness", ctypes.c_uint64), ("learning_rate", ctypes.c_double),
                ("reason", ctypes.c_char * 256)]


def c_client(lib_path, endpoint):
    lib = ctypes.CDLL(lib_path)
    lib.pd_client_connect.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p,
                                      ctypes.c_char_p, ctypes.c_int]
    lib.pd_client_pull.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64,
                                   ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64),
                                   ctypes.c_void_p]
    lib.pd_client_push.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64,
                                   ctypes.c_void_p, ctypes.c_uint64, ctypes.POINTER(CAck)]
    lib.pd_client_free.argtypes = [ctypes.c_void_p]
    lib.pd_client_strerror.restype = ctypes.c_char_p
    handle = ctypes.c_void_p()
    rc = lib.pd_client_connect(ctypes.byref(handle), endpoint.encode(), b"rtt-c", 10000)
    if rc != 0:
        sys.exit("python_rtt: the C client cannot join: %s" % lib.pd_client_strerror(rc).decode())
    return lib, handle


def timed(fn, seconds):
    """Round-trip times of fn() in microseconds, repeated for about `seconds`."""
    fn()   # warm-up: connection and buffers
    out = []
    end = time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        out.append((t1 - t0) * 1e6)
        if t1 > end:
            return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paramd", required=True, help="the daemon to start")
    ap.add_argument("--libclient", required=True, help="libparamd-client.so to compare with")
    ap.add_argument("--seconds", type=float, default=2.0, help="per cell (default 2)")
    args = ap.parse_args()
    import paramd

    dim = max(n for _, n in SIZES)
    work = tempfile.mkdtemp(prefix="paramd-python-rtt.")
    conf = os.path.join(work, "rtt.conf")
    with open(conf, "w") as f:
        f.write("[server]\nlisten = tcp://127.0.0.1:0\nendpoint_file = endpoint\nprogress = no\n"
                "log_level = warning\nworker_timeout = 1h\n[job]\nmethod = async-sgd\n"
                "max_staleness = 1000000\neval_interval = 0\n[model]\ntype = none\n"
                "dim = %d\n[optimizer]\ntype = sgd\nlearning_rate = 1e-12\n" % dim)
    daemon = subprocess.Popen([os.path.abspath(args.paramd), "-c", conf], cwd=work,
                              stderr=open(os.path.join(work, "paramd.log"), "w"))
    try:
        ep_file = os.path.join(work, "endpoint")
        for _ in range(300):
            if os.path.exists(ep_file) and open(ep_file).read().strip():
                break
            if daemon.poll() is not None:
                sys.exit("python_rtt: paramd exited: %s" %
                         open(os.path.join(work, "paramd.log")).read().strip())
            time.sleep(0.05)
        else:
            sys.exit("python_rtt: paramd did not start within 15 s")
        endpoint = open(ep_file).read().strip()
        lib, handle = c_client(args.libclient, endpoint)
        print("bench/python_rtt: one request at a time, %.1f s per cell, loopback TCP; %d CPUs "
              "shared by paramd and both clients" % (args.seconds, os.cpu_count()))
        print("%-12s %-5s | %10s %10s | %10s %10s | %s" % (
            "size", "op", "C mean us", "C p50 us", "Py mean us", "Py p50 us", "Python / C (p50)"))
        with paramd.KVClient(endpoint, name="rtt-python", timeout=10) as py:
            for label, n in SIZES:
                buf = np.zeros(n)
                grad = np.full(n, 1e-3)
                ver = ctypes.c_uint64(0)
                ack = CAck()

                def c_pull():
                    ver.value = 2 ** 64 - 1   # PD_CLIENT_NO_VERSION: send the bytes every time
                    rc = lib.pd_client_pull(handle, 0, n, buf.ctypes.data, ctypes.byref(ver), None)
                    if rc != 0:
                        raise RuntimeError(lib.pd_client_strerror(rc).decode())

                def c_push():
                    rc = lib.pd_client_push(handle, 0, n, grad.ctypes.data, 0, ctypes.byref(ack))
                    if rc != 0 or ack.status != 0:
                        raise RuntimeError("C push: rc %d status %d" % (rc, ack.status))

                def py_pull():
                    py.pull(0, n, out=buf)

                def py_push():
                    if not py.push(grad, offset=0, version=0).applied:
                        raise RuntimeError("Python push not applied")

                for op, cf, pf in (("pull", c_pull, py_pull), ("push", c_push, py_push)):
                    c = timed(cf, args.seconds)
                    p = timed(pf, args.seconds)
                    print("%-12s %-5s | %10.1f %10.1f | %10.1f %10.1f | %.2fx" % (
                        label, op, statistics.fmean(c), statistics.median(c),
                        statistics.fmean(p), statistics.median(p),
                        statistics.median(p) / statistics.median(c)), flush=True)
        lib.pd_client_free(handle)
    finally:
        daemon.terminate()
        daemon.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
