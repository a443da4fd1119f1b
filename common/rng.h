/* rng.h - the one deterministic random stream of paramd (splitmix64).
 * Worker and server must draw the same sample indices from a task seed, and clients in
 * other languages must be able to reproduce them, so the generator is tiny and fixed;
 * doc/protocol.md documents it bit for bit. */
#ifndef PD_COMMON_RNG_H
#define PD_COMMON_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct pd_rng {
    uint64_t state;
} pd_rng_t;

void pd_rng_seed(pd_rng_t *r, uint64_t seed);
uint64_t pd_rng_next(pd_rng_t *r);
/* Uniform integer in [0, n): the high 64 bits of next() * n. n must be > 0. */
uint64_t pd_rng_below(pd_rng_t *r, uint64_t n);
/* Uniform double in [0, 1) from the top 53 bits. */
double pd_rng_uniform(pd_rng_t *r);
/* Standard normal (Box-Muller, two uniforms per value). */
double pd_rng_normal(pd_rng_t *r);
/* Mix two words into a seed (used to derive per-task seeds from the job seed). */
uint64_t pd_rng_mix(uint64_t a, uint64_t b);
/* The minibatch of a task: `count` indices drawn with replacement from [0, m) by a stream
 * seeded with `seed`. */
void pd_rng_sample(uint64_t seed, uint64_t m, uint32_t count, uint32_t *out);

#endif
