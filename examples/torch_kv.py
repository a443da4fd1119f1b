#!/usr/bin/python3
"""Train a PyTorch network on Fashion-MNIST with its parameters held by paramd.

paramd runs a key-value job (examples/torch-kv.conf: [model] type = none, dim = the
network's flattened parameter count, method = async-sgd). This script starts PROCESSES
training processes. Each one, in a loop:

    pulls the parameter vector (paramd.KVClient.pull),
    loads it into its own copy of the network,
    computes the loss and gradient of a minibatch of its share of the training set with
    torch autograd,
    pushes the flattened gradient with the version it was computed at (KVClient.push).

The server applies each gradient with its [optimizer] and drops those more than
max_staleness versions old, so the processes never wait for each other. When the time is up
the script pulls the final parameters and prints the test accuracy.

A key-value job starts at zero, where a ReLU network cannot learn (every unit is dead and
every weight gets the same gradient). So paramd holds the displacement x from PyTorch's
starting weights w0, which every process draws from the same seed: the network's weights
are w0 + x, and the gradient with respect to x is the gradient with respect to the weights.

    server/paramd -c examples/torch-kv.conf &
    PYTHONPATH=python examples/torch_kv.py --server tcp://127.0.0.1:5556 --processes 2

Needs Debian's python3-torch and python3-numpy, and the Fashion-MNIST files of Debian's
dataset-fashion-mnist (or --data DIR).
"""

import argparse
import gzip
import multiprocessing
import os
import sys
import time

import numpy as np

FASHION = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """An IDX file (gzipped or not) as a numpy array of its declared shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError("%s: %d bytes of data for shape %s" % (path, body.size, shape))
    return body.reshape(shape)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError("%s: no %s[.gz] (install dataset-fashion-mnist or give --data)"
                            % (data_dir, stem))


def load(data_dir, split):
    images = read_idx(find(data_dir, "%s-images-idx3-ubyte" % split))
    labels = read_idx(find(data_dir, "%s-labels-idx1-ubyte" % split))
    return images.reshape(len(images), -1).astype(np.float32) / 255.0, labels.astype(np.int64)


def network(hidden, seed):
    """The 784-hidden-10 ReLU network with PyTorch's default initialisation from seed: the
    same w0 in every process."""
    import torch
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(784, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, 10))


def parameter_count(hidden):
    return 784 * hidden + hidden + hidden * 10 + 10


def set_weights(net, w0, x):
    """Weights = w0 + x (x: the vector pulled from paramd, float32 or float64)."""
    import torch
    torch.nn.utils.vector_to_parameters(w0 + torch.from_numpy(x).float(), net.parameters())


def train(rank, args, counts):
    import torch
    import paramd

    torch.set_num_threads(1)
    x_train, y_train = load(args.data, "train")
    mine = np.arange(rank, len(x_train), args.processes)   # this process's share
    xs = torch.from_numpy(x_train[mine])
    ys = torch.from_numpy(y_train[mine])
    net = network(args.hidden, args.seed)
    w0 = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
    rng = np.random.default_rng(1000 + rank)
    steps = dropped = 0
    # The clock starts once the data is loaded: on a busy machine importing torch and reading
    # Fashion-MNIST can take longer than the whole training time.
    deadline = time.monotonic() + args.seconds
    with paramd.KVClient(args.server, name="torch-%d" % rank, timeout=args.timeout) as kv:
        while time.monotonic() < deadline:
            x, version = kv.pull(dtype=np.float32)   # float32 both ways: half the bytes
            set_weights(net, w0, x)
            batch = rng.integers(0, len(xs), args.batch)
            net.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xs[batch]), ys[batch])
            loss.backward()
            grad = torch.cat([p.grad.reshape(-1) for p in net.parameters()]).numpy()
            ack = kv.push(grad, version=version)
            steps += 1
            dropped += 0 if ack.applied else 1
    counts[rank] = (steps, dropped)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="tcp://127.0.0.1:5556", help="paramd's worker endpoint")
    ap.add_argument("--processes", type=int, default=2, help="training processes (default 2)")
    ap.add_argument("--seconds", type=float, default=60,
                    help="training time of each process, from when its data is loaded "
                    "(default 60)")
    ap.add_argument("--batch", type=int, default=64, help="minibatch per step (default 64)")
    ap.add_argument("--hidden", type=int, default=128, help="hidden units (default 128)")
    ap.add_argument("--data", default=FASHION, help="directory of the Fashion-MNIST IDX files")
    ap.add_argument("--timeout", type=float, default=10, help="seconds per request (default 10)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the starting weights w0")
    args = ap.parse_args()
    if args.processes < 1 or args.seconds <= 0 or args.batch < 1 or args.hidden < 1:
        ap.error("--processes, --seconds, --batch and --hidden must be positive")

    import paramd
    import torch

    dim = parameter_count(args.hidden)
    with paramd.KVClient(args.server, name="torch-setup", timeout=args.timeout) as kv:
        if kv.dim != dim:
            sys.exit("torch_kv: the server holds %d parameters; a 784-%d-10 network has %d "
                     "(set [model] dim = %d)" % (kv.dim, args.hidden, dim, dim))
    t0 = time.monotonic()
    counts = multiprocessing.Manager().dict()
    procs = [multiprocessing.Process(target=train, args=(r, args, counts))
             for r in range(args.processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.monotonic() - t0
    if any(p.exitcode != 0 for p in procs):
        sys.exit("torch_kv: a training process failed")

    torch.set_num_threads(1)
    x_test, y_test = load(args.data, "t10k")
    net = network(args.hidden, args.seed)
    w0 = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
    with paramd.KVClient(args.server, name="torch-eval", timeout=args.timeout) as kv:
        x, version = kv.pull()
    set_weights(net, w0, x)
    with torch.no_grad():
        predicted = net(torch.from_numpy(x_test)).argmax(dim=1).numpy()
    accuracy = float(np.mean(predicted == y_test))
    steps = sum(c[0] for c in counts.values())
    dropped = sum(c[1] for c in counts.values())
    print("torch_kv: %d processes, %d pushes in %.1f s (%d dropped as stale), parameter "
          "version %d" % (args.processes, steps, elapsed, dropped, version))
    print("torch_kv: test accuracy %.4f after %.1f s" % (accuracy, elapsed))


if __name__ == "__main__":
    main()
