#!/usr/bin/python3
"""Export one of scikit-learn's bundled data sets as LIBSVM text (1-based indices, labels as
given, zero features omitted), split into train and test parts with a fixed seed.

usage: examples/export_sklearn.py breast_cancer OUT_PREFIX [--test-fraction 0.2] [--seed 1]

Needs Debian's python3-sklearn (run with /usr/bin/python3). The committed files
examples/data/breast-cancer.{train,test}.svm were made with:
    examples/export_sklearn.py breast_cancer examples/data/breast-cancer
Features are standardised with the training part's mean and deviation, so one step size
fits every coordinate; labels are 0 (malignant) and 1 (benign) as scikit-learn gives them.
"""
import argparse
import sys

import numpy as np

LOADERS = {"breast_cancer": "load_breast_cancer", "iris": "load_iris", "wine": "load_wine",
           "digits": "load_digits"}


def write_svm(path, X, y):
    with open(path, "w") as f:
        for row, label in zip(X, y):
            feats = " ".join(f"{j + 1}:{v:.6g}" for j, v in enumerate(row) if v != 0.0)
            f.write(f"{int(label)} {feats}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", choices=sorted(LOADERS))
    ap.add_argument("prefix")
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if not 0.0 < a.test_fraction < 1.0:
        sys.exit("--test-fraction must be between 0 and 1")
    try:
        import sklearn.datasets as ds
    except ImportError:
        sys.exit("scikit-learn is missing: apt-get install python3-sklearn, run with /usr/bin/python3")
    X, y = getattr(ds, LOADERS[a.name])(return_X_y=True)
    order = np.random.default_rng(a.seed).permutation(len(y))
    n_test = int(round(len(y) * a.test_fraction))
    test, train = order[:n_test], order[n_test:]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    std[std == 0] = 1.0
    X = (X - mean) / std
    write_svm(a.prefix + ".train.svm", X[train], y[train])
    write_svm(a.prefix + ".test.svm", X[test], y[test])
    print(f"{a.prefix}.train.svm: {len(train)} samples, {a.prefix}.test.svm: {len(test)} samples, "
          f"{X.shape[1]} features")


if __name__ == "__main__":
    main()
