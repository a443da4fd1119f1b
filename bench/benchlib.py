"""benchlib.py - what the bench drivers (bench/apts, bench/dho2) share: finding the build's
programs, the synthetic teacher-network data set, reading a metrics log, the
time-and-work-to-target table rows, and the objective / accuracy plots."""

import gzip
import json
import math
import os
import sys

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def find_program(explicit, env, rel, who="bench"):
    for cand in [explicit, os.environ.get(env), os.path.join(os.getcwd(), rel),
                 os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), rel)]:
        if cand and os.access(cand, os.X_OK):
            return os.path.abspath(cand)
    sys.exit(who + ": cannot find %s (give --%s or $%s)" % (rel, rel.split("/")[-1], env))


def write_synthetic(work, seed=7, m_train=8000, m_test=2000, p=20, hidden=24, classes=4):
    """The teacher's data set as LIBSVM files (labels 0..classes-1); returns the paths."""
    import numpy as np
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 1.5 / math.sqrt(p), (hidden, p))
    w2 = rng.normal(0, 3.0 / math.sqrt(hidden), (classes, hidden))
    x = rng.normal(0, 1, (m_train + m_test, p))
    y = np.argmax(np.tanh(x @ w1.T) @ w2.T, axis=1)
    paths = {}
    for name, rows in (("train", slice(0, m_train)), ("test", slice(m_train, None))):
        path = os.path.join(work, "synthetic.%s.svm" % name)
        with open(path, "w") as f:
            for xi, yi in zip(x[rows], y[rows]):
                f.write("%d %s\n" % (yi, " ".join("%d:%.6g" % (j + 1, v) for j, v in enumerate(xi))))
        paths[name] = path
    return paths


def read_log(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if r.get("objective") is not None:
                    rows.append(r)
    return rows


def first_reaching(pts, key, reached):
    for p in pts:
        if p[key] is not None and reached(p[key]):
            return p
    return None


def target_rows(runs, key, targets, reached, label):
    """Markdown rows: per method, wall time / epochs at the first point reaching each target."""
    head = "| method | " + " | ".join(label % t + ": s / epochs" for t in targets)
    lines = [head + " | best acc | final objective | epochs done |",
             "|---" * (len(targets) + 4) + "|"]
    for name, pts in runs.items():
        cells = []
        for t in targets:
            p = first_reaching(pts, key, lambda v: reached(v, t))
            cells.append("%.1f / %.2f" % (p["elapsed_s"], p["epochs"]) if p else "-")
        accs = [p["test_accuracy"] for p in pts if p["test_accuracy"] is not None]
        lines.append("| %s | %s | %s | %.4f | %.2f |" % (
            name, " | ".join(cells), "%.4f" % max(accs) if accs else "-",
            pts[-1]["objective"], pts[-1]["epochs"]))
    return lines + [""]


def plot(out, prob_name, runs, style):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for x_key, x_label, suffix in (("elapsed_s", "wall time (s)", "time"),
                                   ("epochs", "gradient equivalents (epochs)", "work")):
        fig, (ax_f, ax_a) = plt.subplots(1, 2, figsize=(11, 4.2))
        for name, pts in runs.items():
            color, ls = style.get(name, ("black", "-"))
            xs = [p[x_key] for p in pts]
            ax_f.plot(xs, [p["objective"] for p in pts], ls, color=color, label=name)
            acc = [(p[x_key], p["test_accuracy"]) for p in pts if p["test_accuracy"] is not None]
            ax_a.plot([a[0] for a in acc], [a[1] for a in acc], ls, color=color, label=name)
        ax_f.set_yscale("log")
        ax_f.set_ylabel("training objective")
        ax_a.set_ylabel("test accuracy")
        for ax in (ax_f, ax_a):
            ax.set_xlabel(x_label)
            ax.grid(True, alpha=0.3)
        if suffix == "work":
            ax_f.set_xscale("symlog", linthresh=1.0)
            ax_a.set_xscale("symlog", linthresh=1.0)
        ax_a.legend(fontsize=8)
        fig.suptitle("%s: objective and test accuracy against %s" % (prob_name, x_label))
        fig.tight_layout()
        fig.savefig(os.path.join(out, "%s_%s.png" % (prob_name, suffix)), dpi=90)
        plt.close(fig)




def write_libsvm_rows(path, x, y):
    """Pixels x (uint8 rows) as LIBSVM text with values b/256 (exact in binary and short in
    decimal, so every reader parses the same doubles), labels y; written aside and renamed."""
    values = ["%r" % (b / 256.0) for b in range(256)]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for row, label in zip(x, y):
            nz = row.nonzero()[0]
            f.write(str(int(label)) + " " +
                    " ".join("%d:%s" % (j + 1, values[row[j]]) for j in nz) + "\n")
    os.rename(tmp, path)


def load_fashion_even_odd(work):
    """Fashion-MNIST as a binary problem, label = class mod 2: ((x_train, y_train), (x_test,
    y_test)) as uint8 pixels and 0/1 labels, with work/train.svm and work/test.svm written
    (once) for the programs that read LIBSVM."""
    import numpy as np
    sets = []
    for name, images, labels in (("train", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                                 ("test", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")):
        with gzip.open(os.path.join(FASHION_DIR, images)) as f:
            x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
        with gzip.open(os.path.join(FASHION_DIR, labels)) as f:
            y = (np.frombuffer(f.read(), np.uint8, offset=8) % 2).astype(np.int64)
        path = os.path.join(work, name + ".svm")
        if not os.path.exists(path):
            print("writing %s" % path, flush=True)
            write_libsvm_rows(path, x, y)
        sets.append((x, y))
    return sets[0], sets[1]
