/* palette — fixed label colours and seeded random colours. */
#include "viz/palette.h"

#include <math.h>

/* tab10 then the lighter halves of tab20, minus its greys (matplotlib). */
static const uint32_t table[20] = {
    0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0xbcbd22, 0x17becf, 0xaec7e8,
    0xffbb78, 0x98df8a, 0xff9896, 0xc5b0d5, 0xc49c94, 0xf7b6d2, 0xdbdb8d, 0x9edae5, 0x393b79, 0xe7ba52,
};

/* HSV (h in [0,1), s, v in [0,1]) to 0xRRGGBB. */
static uint32_t hsv(double h, double s, double v)
{
    double r, g, b, f = h * 6 - floor(h * 6);
    double p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
    switch ((int)floor(h * 6) % 6) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
    }
    return (uint32_t)lround(r * 255) << 16 | (uint32_t)lround(g * 255) << 8 | (uint32_t)lround(b * 255);
}

uint32_t palette_label(int v)
{
    if (v >= 1 && v <= 20)
        return table[v - 1];
    /* Golden-angle hues, alternating two brightness levels. */
    double h = fmod(0.1 + 0.6180339887498949 * (double)v, 1.0);
    return hsv(h, 0.75, v % 2 ? 0.95 : 0.75);
}

static uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

uint32_t palette_random(uint64_t seed, uint64_t stream, int64_t k)
{
    uint64_t x = splitmix(splitmix(seed ^ (stream * 0xD1B54A32D192ED03ULL)) ^ (uint64_t)k);
    double h = (double)(x >> 11) * 0x1p-53;
    double s = 0.55 + 0.45 * (double)((x >> 3) & 0xff) / 255.0;
    double v = 0.7 + 0.3 * (double)(x & 7) / 7.0;
    return hsv(h, s, v);
}
