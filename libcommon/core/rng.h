/*
 * rng — seeded, reproducible random numbers.
 *
 * Algorithm (stable across versions; changing it is a format change):
 * xoshiro256** 1.0 (Blackman and Vigna, 2018), its four 64-bit words
 * seeded from splitmix64. rng_seed(r, seed, stream) feeds splitmix64 the
 * value seed ^ (stream * 0x9E3779B97F4A7C15) so that independent streams
 * (one per epoch, per worker, per tensor) come from one user seed.
 *
 *   rng_u64      next 64-bit output
 *   rng_uniform  (u64 >> 11) * 2^-53, in [0, 1)
 *   rng_uniformf (u64 >> 40) * 2^-24, in [0, 1) as float
 *   rng_below(n) Lemire's unbiased multiply-shift in [0, n)
 *   rng_normal   Marsaglia's polar method (uses pairs; caches the second)
 *
 * Not here: thread safety; give each thread its own rng.
 */
#ifndef LRC_RNG_H
#define LRC_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
    double spare;
    int has_spare;
} rng;

void rng_seed(rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_u64(rng *r);
uint32_t rng_u32(rng *r);
double rng_uniform(rng *r);
float rng_uniformf(rng *r);
uint64_t rng_below(rng *r, uint64_t n);
double rng_normal(rng *r);

static inline uint64_t rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* One xoshiro256** step on the state words s: rng_u64 is
 * rng_step(r->s); inline for loops that keep a local copy of the state. */
static inline uint64_t rng_step(uint64_t s[4])
{
    uint64_t result = rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

#endif
