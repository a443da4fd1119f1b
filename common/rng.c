/* rng.c - splitmix64 (Steele, Lea, Flood 2014); see rng.h for why it is this simple. */
#include <config.h>
#include "rng.h"

#include <math.h>

void pd_rng_seed(pd_rng_t *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t pd_rng_next(pd_rng_t *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t pd_rng_below(pd_rng_t *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)pd_rng_next(r) * n) >> 64);
}

double pd_rng_uniform(pd_rng_t *r)
{
    return (double)(pd_rng_next(r) >> 11) * 0x1.0p-53;
}

double pd_rng_normal(pd_rng_t *r)
{
    double u1 = 1.0 - pd_rng_uniform(r); /* (0, 1]: log() stays finite */
    double u2 = pd_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2) /* 2 pi */;
}

uint64_t pd_rng_mix(uint64_t a, uint64_t b)
{
    pd_rng_t r = {a ^ (b * 0xD6E8FEB86659FD93ULL)};
    return pd_rng_next(&r);
}

void pd_rng_sample(uint64_t seed, uint64_t m, uint32_t count, uint32_t *out)
{
    pd_rng_t r;
    pd_rng_seed(&r, seed);
    for (uint32_t i = 0; i < count; i++) {
        out[i] = (uint32_t)pd_rng_below(&r, m);
    }
}
