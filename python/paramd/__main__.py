"""python3 -m paramd: a paramd worker in Python, with paramd-worker's options.

    python3 -m paramd --server tcp://HOST:5555 [--name NAME] [--server-key KEY]
                      [--key-file FILE] [--join-timeout S] [--exit-with-server]

It joins the job, loads the job's data, computes every task with the models of
paramd.compute and leaves when the server ends the job (exit status 0). Exit status 3 when
the server refuses it, 4 when no server answered within --join-timeout, 2 on bad options.
tests/conformance/conformance.py runs it against paramd-worker.
"""

import argparse
import logging
import signal
import sys

from . import errors
from .worker import Worker


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m paramd",
                                 description="A paramd worker in Python (paramd.Worker).")
    ap.add_argument("-s", "--server", required=True, help="the paramd endpoint, e.g. "
                    "tcp://server:5555")
    ap.add_argument("-n", "--name", help="name shown by the server (default: host name)")
    ap.add_argument("--server-key", help="CURVE: the server's public key (Z85, or a file "
                    "holding it)")
    ap.add_argument("--key-file", help="CURVE: this worker's key pair (paramctl keygen's .key)")
    ap.add_argument("--join-timeout", type=float, help="give up after S seconds without a "
                    "server (default: never)")
    ap.add_argument("--exit-with-server", action="store_true", help="exit when the server "
                    "stops before the job is over, instead of waiting to rejoin it")
    ap.add_argument("-l", "--log-level", default="info",
                    choices=["err", "warning", "notice", "info", "debug"])
    args = ap.parse_args(argv)
    if "://" not in args.server:
        ap.error("--server %s: did you mean tcp://HOST:PORT?" % args.server)
    if args.join_timeout is not None and not args.join_timeout > 0:
        ap.error("--join-timeout wants a positive number of seconds")
    level = {"err": logging.ERROR, "warning": logging.WARNING, "notice": logging.INFO,
             "info": logging.INFO, "debug": logging.DEBUG}[args.log_level]
    logging.basicConfig(level=level, format="%(asctime)s paramd-python %(levelname)s: %(message)s")
    try:
        w = Worker(args.server, name=args.name, server_key=args.server_key,
                   key_file=args.key_file, join_timeout=args.join_timeout,
                   exit_with_server=args.exit_with_server)
    except (errors.Error, ValueError) as e:
        print("python3 -m paramd: %s" % e, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: w.stop())
    signal.signal(signal.SIGINT, lambda *_: w.stop())
    try:
        w.run()
    except errors.Timeout as e:
        print("python3 -m paramd: %s" % e, file=sys.stderr)
        return 4
    except errors.Error as e:
        print("python3 -m paramd: %s" % e, file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
