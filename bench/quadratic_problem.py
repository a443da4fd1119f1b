#!/usr/bin/python3
"""Write a synthetic quadratic finite sum as the CSV file paramd-sim reads with
[model] type = quadratic and [data] train = FILE (one component per line: b'_j, c_j, sigma_j,
with f_j(x) = 1/2 x'A_j x - b_j'x, A_j = c_j T + sigma_j I, T = tridiag(-1, 2, -1), b_j = b'_j e_1).

The construction is the worst-case one of the Freya PAGE authors' experiments (d = 1000,
m = 10^4, lambda_q = 0.5, mu = 1e-6 by default), computed in float32 with numpy's
default_rng(seed):
    s = L/4 with L = 1
    a_j = 1 + lambda_q N(0,1),  beta_j = lambda_q N(0,1)   (all a_j drawn first, then all beta_j)
    c_j = a_j s,  b'_j = (-1 + beta_j) a_j s
    sigma = mu - lambda_min(mean(c) T),  lambda_min(T) = 2 - 2 cos(pi / (d + 1))
so single f_j may be nonconvex while their mean is mu-strongly convex. Every value is written
with Python's repr of the float32 number widened to float64, which paramd parses back to
exactly that number: the problem paramd-sim runs is the generator's, bit for bit. (The draw
order and the float32 arithmetic are this script's reading of the construction; paramd's own
in-process generator, [model] noise/mu/seed without [data] train, draws from its own stream.)

usage: bench/quadratic_problem.py OUT.csv [--dim 1000] [--samples 10000] [--noise 0.5]
                                          [--mu 1e-6] [--seed 42]
Prints the [model] and [data] lines of a job that reads it.
"""

import argparse
import math

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--dim", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--noise", type=float, default=0.5)
    ap.add_argument("--mu", type=float, default=1e-6)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    if args.dim < 1 or args.samples < 1:
        ap.error("--dim and --samples must be positive")

    f32 = np.float32
    rng = np.random.default_rng(args.seed)
    a = f32(1) + f32(args.noise) * rng.standard_normal(args.samples, dtype=f32)
    beta = f32(args.noise) * rng.standard_normal(args.samples, dtype=f32)
    s = f32(0.25)
    c = (a * s).astype(f32)
    b = ((f32(-1) + beta) * a * s).astype(f32)
    t_min = f32(2 - 2 * math.cos(math.pi / (args.dim + 1)))
    mean_c = c.mean(dtype=f32)
    lam_min = mean_c * t_min if mean_c >= 0 else mean_c * f32(4 - float(t_min))
    sigma = f32(f32(args.mu) - lam_min)
    with open(args.out, "w") as f:
        for bj, cj in zip(b, c):
            f.write("%r,%r,%r\n" % (float(bj), float(cj), float(sigma)))
    print("[model]\ntype = quadratic\ndim = %d\n[data]\ntrain = %s\nformat = csv"
          % (args.dim, args.out))


if __name__ == "__main__":
    main()
