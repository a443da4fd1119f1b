#!/usr/bin/python3
"""Plot a paramd metrics log (server.metrics_log, JSON lines) into a PNG.

usage: bench/plot_metrics.py METRICS.jsonl OUT.png

Three panels against elapsed time: the objective (log scale when it stays positive), the test
accuracy, and updates per second. Lines without a number for a field (null, NaN, or no
evaluation yet) are skipped for that field only. The last line (event "done") holds the final
values computed by the server and is marked. Exit status: 0 written, 1 bad input, 2 usage.
"""
import json
import math
import sys


def die(msg, code=1):
    sys.stderr.write("plot_metrics: %s\n" % msg)
    sys.exit(code)


def number(v):
    """A finite float, or None (JSON null, NaN/Infinity, strings, missing)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def load(path):
    rows = []
    try:
        f = open(path, "r", encoding="utf-8")
    except OSError as e:
        die("cannot open %s: %s" % (path, e.strerror))
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                die("%s:%d: not a JSON line (%s); is this a paramd metrics_log?"
                    % (path, lineno, e))
            if not isinstance(row, dict):
                die("%s:%d: expected a JSON object per line" % (path, lineno))
            rows.append(row)
    if not rows:
        die("%s is empty: no metrics lines (the daemon writes one per evaluation; "
            "is eval_interval 0, or did the job end at once?)" % path)
    if not any(number(r.get("elapsed_s")) is not None for r in rows):
        die("%s: no line has an elapsed_s field; is this a paramd metrics_log?" % path)
    return rows


def series(rows, key):
    xs, ys = [], []
    for r in rows:
        x, y = number(r.get("elapsed_s")), number(r.get(key))
        if x is not None and y is not None:
            xs.append(x)
            ys.append(y)
    return xs, ys


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: %s METRICS.jsonl OUT.png\n" % argv[0])
        return 0 if len(argv) == 2 and argv[1] in ("-h", "--help") else 2
    src, out = argv[1], argv[2]
    rows = load(src)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r.get("event") == "done"]
    last = rows[-1]
    fig, axes = plt.subplots(3, 1, figsize=(8, 9), sharex=True,
                             gridspec_kw={"height_ratios": [3, 3, 2]})
    panels = [
        ("objective", "objective (train loss + regulariser)", "tab:blue"),
        ("test_accuracy", "test accuracy", "tab:green"),
        ("updates_per_s", "updates / s", "tab:gray"),
    ]
    for ax, (key, label, color) in zip(axes, panels):
        xs, ys = series(rows, key)
        if xs:
            ax.plot(xs, ys, marker="o", markersize=3, color=color, linewidth=1.5)
            if key == "objective" and min(ys) > 0 and max(ys) / min(ys) > 20:
                ax.set_yscale("log")
            fx, fy = series(done, key)
            if fx:
                ax.plot(fx, fy, marker="*", markersize=12, color="tab:red", linestyle="none",
                        label="final (%.4g)" % fy[-1])
                ax.legend(loc="best", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no %s in this log" % key, transform=ax.transAxes,
                    ha="center", va="center", color="0.4")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("elapsed time (s)")

    title = "paramd: %s" % src
    bits = []
    if number(last.get("version")) is not None:
        bits.append("version %d" % int(number(last.get("version"))))
    if number(last.get("workers")) is not None:
        bits.append("%d workers" % int(number(last.get("workers"))))
    if number(last.get("staleness_mean")) is not None:
        bits.append("mean staleness %.2f" % number(last.get("staleness_mean")))
    if number(last.get("gradients_dropped_stale_total")) is not None:
        bits.append("dropped stale %d" % int(number(last.get("gradients_dropped_stale_total"))))
    if bits:
        title += "\n" + ", ".join(bits)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=110)
    except OSError as e:
        die("cannot write %s: %s" % (out, e.strerror))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
