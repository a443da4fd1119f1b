"""The deterministic random stream of paramd (common/rng.c, splitmix64), bit for bit.

Workers draw a task's sample indices from its seed with sample(), and must draw exactly
the indices the C worker and the server draw, so every operation here is integer
arithmetic modulo 2^64 (doc/protocol.md "Sample sets"). sample() is vectorised: the n-th
output of splitmix64 depends only on seed + n * GAMMA, so a whole batch is one numpy pass.
"""
import math

import numpy as np

_M64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_K2 = 0xBF58476D1CE4E5B9
_K3 = 0x94D049BB133111EB
_MIX = 0xD6E8FEB86659FD93


def _finalize(z):
    """The splitmix64 output function on a Python int in [0, 2^64)."""
    z = ((z ^ (z >> 30)) * _K2) & _M64
    z = ((z ^ (z >> 27)) * _K3) & _M64
    return z ^ (z >> 31)


class Rng:
    """pd_rng_t: one splitmix64 stream."""

    __slots__ = ("state",)

    def __init__(self, seed):
        self.state = _check_u64(seed, "seed")

    def next(self):
        self.state = (self.state + _GAMMA) & _M64
        return _finalize(self.state)

    def below(self, n):
        """Uniform in [0, n): the high 64 bits of next() * n (pd_rng_below)."""
        if not 0 < n <= _M64:
            raise ValueError("below: n must be in [1, 2^64), got %r" % (n,))
        return (self.next() * n) >> 64

    def uniform(self):
        """Uniform double in [0, 1) from the top 53 bits."""
        return float(self.next() >> 11) * 2.0 ** -53

    def normal(self):
        """Box-Muller with the C code's exact expression (libm and Python's math agree on
        log, sqrt and cos for glibc builds; the result is not used by any task)."""
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586476925 * u2)


def _check_u64(v, what):
    v = int(v)
    if not 0 <= v <= _M64:
        raise ValueError("%s %r is not a 64-bit unsigned integer" % (what, v))
    return v


def mix(a, b):
    """pd_rng_mix: a seed from two words."""
    a = _check_u64(a, "a")
    b = _check_u64(b, "b")
    return Rng(a ^ ((b * _MIX) & _M64)).next()


def _u64(v):
    return np.uint64(v)


def sample(seed, m, count):
    """pd_rng_sample: `count` indices drawn with replacement from [0, m), as a uint32 array
    (the C code stores them as uint32_t, so m must be below 2^32 to be meaningful)."""
    seed = _check_u64(seed, "seed")
    m = _check_u64(m, "m")
    count = int(count)
    if count < 0 or count > 0xFFFFFFFF:
        raise ValueError("sample: count %d is not a uint32" % count)
    if count == 0:
        return np.zeros(0, dtype=np.uint32)
    if m == 0:
        raise ValueError("sample: no samples to draw from (m = 0)")
    # numpy uint64 arithmetic wraps modulo 2^64, which is exactly C's unsigned arithmetic.
    with np.errstate(over="ignore"):
        i = np.arange(1, count + 1, dtype=np.uint64)
        z = _u64(seed) + i * _u64(_GAMMA)
        z = (z ^ (z >> _u64(30))) * _u64(_K2)
        z = (z ^ (z >> _u64(27))) * _u64(_K3)
        z = z ^ (z >> _u64(31))
        # High 64 bits of the 128-bit product z * m, from 32-bit halves (no overflow: each
        # partial product is below 2^64 and `mid` below 3 * 2^32).
        lo32 = _u64(0xFFFFFFFF)
        zl, zh = z & lo32, z >> _u64(32)
        ml, mh = _u64(m & 0xFFFFFFFF), _u64(m >> 32)
        ll, lh, hl, hh = zl * ml, zl * mh, zh * ml, zh * mh
        mid = (ll >> _u64(32)) + (lh & lo32) + (hl & lo32)
        hi = hh + (lh >> _u64(32)) + (hl >> _u64(32)) + (mid >> _u64(32))
    # (uint32_t) cast of the C code: keep the low 32 bits.
    return (hi & lo32).astype(np.uint32)
