#!/usr/bin/python3
"""paramd's conformance kit: does a worker compute what paramd-worker computes?

For every method and model paramd serves, this runs one small job twice on a real paramd:
once with one paramd-worker (the reference) and once with one worker started by the
command under test, and compares the final parameters the server saves. A worker written
in any language conforms when every pair agrees within --tolerance (relative to the
largest parameter; default 1e-12), which leaves room for a different summation order but
not for a different model, sample draw or task rule.

    tests/conformance/conformance.py --paramd server/paramd \\
        --reference worker/paramd-worker --client 'python3 -m paramd.worker'

The client command gets `--server ENDPOINT --name NAME` appended, the options paramd-worker
takes. One worker at a time and eval_interval = 0 make every job's iterates depend only on
what the worker computes, not on its speed (the APTS straggler rule is off). A combination
paramd refuses (for example newton-cg on a network) is listed as not applicable.

Prints one line per (method, model) and a summary; exits 0 when every applicable pair
conforms, 1 otherwise, 2 on a usage or set-up error.
"""

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

METHODS = ["sync-sgd", "async-sgd", "ssp", "rennala-sgd", "freya-page", "sync-page", "apts",
           "fosi", "dho2", "newton-cg", "lbfgs"]
MODELS = ["logistic", "softmax", "least-squares", "mlp"]
FEATURES = 12
CLASSES = 3

# Per method: the [job] lines and the update count of a short run (each method's own
# unit of one update: a step, an outer iteration, a Newton step).
METHOD_JOB = {
    "sync-sgd": ("batch_size = 16\nsync_parts = 3\n", 25),
    "async-sgd": ("batch_size = 16\nmax_staleness = 4\n", 25),
    "ssp": ("batch_size = 16\nstaleness_bound = 2\n", 25),
    "rennala-sgd": ("batch_size = 8\nstep_batch = 24\n", 20),
    "freya-page": ("block_size = 32\ndiff_chunk = 4\n", 20),
    "sync-page": ("block_size = 32\ndiff_chunk = 4\nsync_parts = 3\n", 20),
    "apts": ("apts_batch = 0\napts_local_iters = 3\napts_straggler_factor = 0\n"
             "sync_parts = 3\n", 4),
    "fosi": ("batch_size = 16\nsync_parts = 3\nfosi_k = 3\nfosi_period = 10\n"
             "fosi_ese_batch = 64\nfosi_hvp_parts = 3\n", 25),
    "dho2": ("batch_size = 16\nsync_parts = 3\nfosi_k = 3\nfosi_period = 10\n"
             "fosi_ese_batch = 64\nfosi_hvp_parts = 3\ndho2_slices = 2\ncurv_fraction = 0\n",
             25),
    "newton-cg": ("solver_parts = 3\nsolver_tolerance = 1e-10\n", 6),
    "lbfgs": ("solver_parts = 3\nsolver_tolerance = 1e-10\n", 15),
}


def write_data(work, binary):
    """A small LIBSVM training and test set from a fixed seed: sparse rows (about a third of
    the entries are dropped), labels 0..CLASSES-1, or 0 and 1 when binary (for logistic)."""
    rng = np.random.default_rng(20261207)
    paths = {}
    for split, m in (("train", 240), ("test", 60)):
        x = rng.normal(0.0, 1.0, (m, FEATURES))
        x[rng.random((m, FEATURES)) < 0.35] = 0.0
        w = np.linspace(-1.0, 1.0, FEATURES * CLASSES).reshape(CLASSES, FEATURES)
        y = np.argmax(x @ w.T + 0.3 * rng.normal(size=(m, CLASSES)), axis=1)
        if binary:
            y = (y == CLASSES - 1).astype(int)
        path = os.path.join(work, "data%s.%s.svm" % (".binary" if binary else "", split))
        with open(path, "w") as f:
            for row, label in zip(x, y):
                items = " ".join("%d:%r" % (j + 1, float(v)) for j, v in enumerate(row) if v != 0)
                f.write("%d %s\n" % (label, items))
        paths[split] = path
    return paths


def model_lines(model):
    if model == "mlp":
        return "type = mlp\nlayers = %d,6,%d\nactivation = tanh\ninit_seed = 3\n" % (
            FEATURES, CLASSES)
    if model == "softmax":
        return "type = softmax\nclasses = %d\n" % CLASSES
    return "type = %s\n" % model


def write_config(work, name, method, model, data, endpoint_file, params_file):
    job, updates = METHOD_JOB[method]
    path = os.path.join(work, name + ".conf")
    with open(path, "w") as f:
        f.write("[server]\nlisten = tcp://127.0.0.1:0\nendpoint_file = %s\nsave_params = %s\n"
                "exit_when_done = yes\nlog_level = warning\nprogress = no\n"
                "heartbeat_interval = 200ms\nworker_timeout = 30s\n"
                "[job]\nmethod = %s\nseed = 5\neval_interval = 0\n%s"
                "[model]\n%s"
                "[data]\ntrain = %s\ntest = %s\nformat = libsvm\nfeatures = %d\n"
                "[optimizer]\ntype = sgd\nlearning_rate = 0.05\nregularizer = l2\nl2 = 0.01\n"
                "[stop]\nmax_updates = %d\n" % (
                    endpoint_file, params_file, method, job, model_lines(model),
                    data["train"], data["test"], FEATURES, updates))
    return path


def wait_for(path, proc, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path) as f:
                text = f.read().strip()
            if text:
                return text
        if proc.poll() is not None:
            return None
        time.sleep(0.02)
    return None


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_job(args, work, tag, method, model, data, worker_cmd):
    """Runs one job with one worker; returns (parameters, None) or (None, why)."""
    name = "%s-%s-%s" % (tag, method, model)
    endpoint_file = os.path.join(work, name + ".endpoint")
    params_file = os.path.join(work, name + ".params")
    conf = write_config(work, name, method, model, data, endpoint_file, params_file)
    log = open(os.path.join(work, name + ".log"), "w")
    daemon = subprocess.Popen([args.paramd, "-c", conf], stdout=log, stderr=subprocess.STDOUT,
                              cwd=work)
    worker = None
    try:
        endpoint = wait_for(endpoint_file, daemon, 30)
        if endpoint is None:
            return None, "paramd did not start (see %s.log)" % name
        wlog = open(os.path.join(work, name + ".worker.log"), "w")
        worker = subprocess.Popen(worker_cmd + ["--server", endpoint, "--name", tag],
                                  stdout=wlog, stderr=subprocess.STDOUT, cwd=work)
        try:
            rc = daemon.wait(args.timeout)
        except subprocess.TimeoutExpired:
            return None, "the job did not end within %g s (see %s.log)" % (args.timeout, name)
        if rc != 0:
            return None, "paramd exited with status %d (see %s.log)" % (rc, name)
        return np.loadtxt(params_file, dtype=np.float64, ndmin=1), None
    finally:
        stop(daemon)
        if worker is not None:
            stop(worker)
        log.close()


def refused(args, work, method, model, data):
    """paramd's own verdict on the combination: None if valid, else its first message."""
    name = "check-%s-%s" % (method, model)
    conf = write_config(work, name, method, model, data, os.path.join(work, name + ".ep"),
                        os.path.join(work, name + ".params"))
    r = subprocess.run([args.paramd, "--check-config", "-c", conf], capture_output=True,
                       text=True, cwd=work)
    if r.returncode == 0:
        return None
    lines = (r.stderr or r.stdout).strip().splitlines()
    return lines[0] if lines else "refused (exit %d)" % r.returncode


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paramd", required=True, help="the paramd daemon to run")
    ap.add_argument("--reference", required=True, help="the reference worker (paramd-worker)")
    ap.add_argument("--client", required=True,
                    help="command starting the worker under test (split like a shell line; "
                    "--server EP --name NAME are appended)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma list (default: all)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma list (default: all)")
    ap.add_argument("--tolerance", type=float, default=1e-12,
                    help="largest |a - b| / max|a| accepted (default 1e-12)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per job (default 120)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    for prog in (args.paramd, args.reference):
        if not (os.path.isfile(prog) and os.access(prog, os.X_OK)):
            ap.error("%s is not an executable file" % prog)
    args.paramd = os.path.abspath(args.paramd)   # the jobs run in the work directory
    args.reference = os.path.abspath(args.reference)
    methods = [m for m in args.methods.split(",") if m]
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in methods if m not in METHODS] + [m for m in models if m not in MODELS]
    if unknown:
        ap.error("unknown method or model: %s" % ", ".join(unknown))
    client = shlex.split(args.client)
    if not client:
        ap.error("--client is empty")

    work = tempfile.mkdtemp(prefix="paramd-conformance.")
    datasets = {"binary": write_data(work, True), "classes": write_data(work, False)}
    failures = 0
    checked = 0
    print("%-12s %-14s %-12s %s" % ("method", "model", "max rel diff", "verdict"))
    for method in methods:
        for model in models:
            data = datasets["binary" if model == "logistic" else "classes"]
            why = refused(args, work, method, model, data)
            if why is not None:
                print("%-12s %-14s %-12s n/a (%s)" % (method, model, "-", why))
                continue
            ref, err = run_job(args, work, "reference", method, model, data,
                               [args.reference])
            if err is None:
                got, err = run_job(args, work, "client", method, model, data, client)
            if err is not None:
                failures += 1
                print("%-12s %-14s %-12s FAIL: %s" % (method, model, "-", err), flush=True)
                continue
            checked += 1
            if ref.shape != got.shape:
                failures += 1
                print("%-12s %-14s %-12s FAIL: %d parameters against %d" % (
                    method, model, "-", got.size, ref.size), flush=True)
                continue
            scale = max(float(np.max(np.abs(ref))), np.finfo(float).tiny)
            diff = float(np.max(np.abs(ref - got))) / scale
            ok = diff <= args.tolerance and np.all(np.isfinite(got))
            failures += 0 if ok else 1
            print("%-12s %-14s %-12.3g %s" % (method, model, diff, "ok" if ok else "FAIL"),
                  flush=True)
    print("%d pairs compared, %d failed; work directory %s" % (
        checked, failures, work if args.keep or failures else "removed"))
    if not args.keep and failures == 0:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
