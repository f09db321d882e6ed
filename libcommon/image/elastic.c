#include "image/elastic.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ELASTIC_X86 1
/* Hot loops are compiled twice; the loader picks AVX2 where the CPU has it.
 * Neither variant uses FMA, so both give the same bits. */
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ELASTIC_X86 0
#define CLONES
#endif

#include "core/err.h"
#include "core/isa.h"
#include "core/tensor.h"

/* ---------------------------------------------------------------- blur */

int elastic_gauss_radius(double sigma)
{
    return (int)(4.0 * sigma + 0.5);
}

void elastic_gauss_kernel(double *w, double sigma)
{
    int r = elastic_gauss_radius(sigma);
    double sum = 0;
    for (int k = -r; k <= r; k++) {
        w[k + r] = exp(-0.5 / (sigma * sigma) * (double)k * (double)k);
        sum += w[k + r];
    }
    for (int k = 0; k <= 2 * r; k++)
        w[k] /= sum;
}

int64_t elastic_reflect_index(int64_t i, int64_t n)
{
    int64_t p = 2 * n;
    if (n <= 1)
        return 0;
    i %= p;
    if (i < 0)
        i += p;
    return i < n ? i : p - 1 - i;
}

/* The blur is register-blocked: 32 outputs (four 8-float vectors) are
 * accumulated over the whole (folded, symmetric) kernel before they are
 * stored. GCC's vector extensions lower to AVX2 or SSE2 per clone; the
 * arithmetic is the same in both (no FMA), so results do not depend on the
 * CPU. */
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));

#define LOADU(p) (*(const v8u *)(p))
#define STOREU(p, v) (*(v8u *)(p) = (v))

/* out[x] = w[0] in[c + x] + sum_{k=1..r} w[k] (in[lo[k] + x] + in[hi[k] + x])
 * for x in [0, X): the rows y -+ k of the image (vertical pass), or the
 * padded row shifted by -+ k (horizontal pass). */
CLONES
static void blur_row(float *out, const float *in, int64_t X, const int64_t *lo, const int64_t *hi,
                     const float *w, int r, int64_t c)
{
    int64_t x = 0;
    for (; x + 32 <= X; x += 32) {
        v8 w0 = {w[0], w[0], w[0], w[0], w[0], w[0], w[0], w[0]};
        const float *p = in + c + x;
        v8 s0 = w0 * LOADU(p), s1 = w0 * LOADU(p + 8), s2 = w0 * LOADU(p + 16), s3 = w0 * LOADU(p + 24);
        for (int k = 1; k <= r; k++) {
            v8 wk = {w[k], w[k], w[k], w[k], w[k], w[k], w[k], w[k]};
            const float *a = in + lo[k] + x, *b = in + hi[k] + x;
            s0 += wk * (LOADU(a) + LOADU(b));
            s1 += wk * (LOADU(a + 8) + LOADU(b + 8));
            s2 += wk * (LOADU(a + 16) + LOADU(b + 16));
            s3 += wk * (LOADU(a + 24) + LOADU(b + 24));
        }
        STOREU(out + x, s0);
        STOREU(out + x + 8, s1);
        STOREU(out + x + 16, s2);
        STOREU(out + x + 24, s3);
    }
    for (; x < X; x++) {
        float s = w[0] * in[c + x];
        for (int k = 1; k <= r; k++)
            s += w[k] * (in[lo[k] + x] + in[hi[k] + x]);
        out[x] = s;
    }
}

int elastic_blur(float *a, int64_t Y, int64_t X, double sigma)
{
    int r, rc = 0;
    double wd[1 + 2 * 4096];
    float w[4097];
    float *tmp, *pad;
    int64_t *lo, *hi;
    if (sigma <= 0 || Y <= 0 || X <= 0)
        return 0;
    r = elastic_gauss_radius(sigma);
    if (r > 4096)
        return err_set("sigma %g is too large (at most 1024)", sigma);
    if (r == 0)
        return 0;
    elastic_gauss_kernel(wd, sigma);
    for (int k = 0; k <= r; k++)
        w[k] = (float)wd[r + k];
    tmp = lrc_alloc((size_t)(Y * X) * sizeof *tmp);
    pad = lrc_alloc((size_t)(X + 2 * r) * sizeof *pad);
    lo = lrc_alloc((size_t)(r + 1) * sizeof *lo);
    hi = lrc_alloc((size_t)(r + 1) * sizeof *hi);
    if (!tmp || !pad || !lo || !hi) {
        rc = err_set("out of memory");
        goto done;
    }
    /* Along axis 0 (rows) first, then axis 1, as scipy does. */
    for (int64_t y = 0; y < Y; y++) {
        for (int k = 1; k <= r; k++) {
            lo[k] = elastic_reflect_index(y - k, Y) * X;
            hi[k] = elastic_reflect_index(y + k, Y) * X;
        }
        blur_row(tmp + y * X, a, X, lo, hi, w, r, y * X);
    }
    for (int k = 1; k <= r; k++)
        lo[k] = r - k, hi[k] = r + k;
    for (int64_t y = 0; y < Y; y++) {
        const float *row = tmp + y * X;
        for (int64_t i = 0; i < r; i++) {
            pad[i] = row[elastic_reflect_index(i - r, X)];
            pad[X + r + i] = row[elastic_reflect_index(X + i, X)];
        }
        memcpy(pad + r, row, (size_t)X * sizeof *pad);
        blur_row(a + y * X, pad, X, lo, hi, w, r, r);
    }
done:
    lrc_free(tmp);
    lrc_free(pad);
    lrc_free(lo);
    lrc_free(hi);
    return rc;
}

/* ---------------------------------------------------------------- field */

/* 2 * rng_uniformf - 1, on a local copy of the state (rng_step) for the
 * per-pixel loops */
static inline float xo_sym(uint64_t *s)
{
    return 2.0f * ((float)(rng_step(s) >> 40) * 0x1.0p-24f) - 1.0f;
}

static void uniform_fill(float *u, int64_t n, rng *r)
{
    uint64_t s[4];
    memcpy(s, r->s, sizeof s);
    for (int64_t i = 0; i < n; i++)
        u[i] = xo_sym(s);
    memcpy(r->s, s, sizeof s);
}

int elastic_field(float *coords, int64_t Y, int64_t X, const elastic_params *p, rng *r,
                  elastic_affine *drawn)
{
    const int64_t n = Y * X;
    float *dr = coords, *dc = coords + n; /* displacements first, in place */
    double th, s, tr, tc, ct, st, alpha, cr = (double)(Y - 1) / 2, cc = (double)(X - 1) / 2;

    th = p->rotate * (2 * rng_uniform(r) - 1) * (M_PI / 180);
    s = 1 + p->scale * (2 * rng_uniform(r) - 1);
    tr = p->shift * (2 * rng_uniform(r) - 1);
    tc = p->shift * (2 * rng_uniform(r) - 1);
    alpha = p->alpha_max > p->alpha ? p->alpha + (p->alpha_max - p->alpha) * rng_uniform(r) : p->alpha;
    if (drawn)
        *drawn = (elastic_affine){th * (180 / M_PI), s, tr, tc, alpha};
    ct = cos(th) / s;
    st = sin(th) / s;

    uniform_fill(dr, n, r);
    uniform_fill(dc, n, r);
    if (elastic_blur(dr, Y, X, p->sigma) || elastic_blur(dc, Y, X, p->sigma))
        return -1;
    for (int64_t y = 0; y < Y; y++)
        for (int64_t x = 0; x < X; x++) {
            int64_t i = y * X + x;
            double a = (double)y - cr + alpha * (double)dr[i];
            double b = (double)x - cc + alpha * (double)dc[i];
            dr[i] = (float)(cr + ct * a + st * b + tr);
            dc[i] = (float)(cc - st * a + ct * b + tc);
        }
    return 0;
}

/* ---------------------------------------------------------------- warp */

/* scipy 1.10 ni_interpolation.c, mode 'reflect': where a coordinate outside
 * [0, n-1] is moved before the interpolation support is found. */
static double map_reflect(double in, int64_t n)
{
    if (in < 0) {
        int64_t p = 2 * n;
        if (n <= 1)
            return 0;
        if (in < -(double)p)
            in = (double)p * (double)(int64_t)(-in / (double)p) + in;
        in = in < -(double)n ? in + (double)p : (in > -1e-15 ? 1e-15 : -in) - 1;
    } else if (in > (double)(n - 1)) {
        int64_t p = 2 * n;
        if (n <= 1)
            return 0;
        in -= (double)p * (double)(int64_t)(in / (double)p);
        if (in >= (double)n)
            in = (double)p - in - 1;
    }
    return in;
}

/* Support of one axis: index of the samples (order+1 of them) and, for
 * order 1, the weight of the first. Returns 0 if the point is outside
 * (scipy then writes cval = 0; reflect never gets there for finite input). */
static int axis_support(double c, int64_t n, int order, int64_t *i0, int64_t *i1, double *w0)
{
    double cc = map_reflect(c, n);
    int64_t start;
    if (!(cc > -1.0))
        return 0;
    start = order ? (int64_t)floor(cc) : (int64_t)floor(cc + 0.5);
    if (start < 0 || start + order >= n) {
        *i0 = (int64_t)map_reflect((double)start, n);
        *i1 = order ? (int64_t)map_reflect((double)(start + 1), n) : *i0;
    } else {
        *i0 = start;
        *i1 = start + order;
    }
    if (order)
        *w0 = 1.0 - (cc - floor(cc));
    return 1;
}

static float linear_slow(const float *in, int64_t Yi, int64_t Xi, double cy, double cx)
{
    int64_t y0, y1, x0, x1;
    double wy0 = 0, wx0 = 0, wy1, wx1, t = 0;
    if (!axis_support(cy, Yi, 1, &y0, &y1, &wy0) || !axis_support(cx, Xi, 1, &x0, &x1, &wx0))
        return 0.0f;
    wy1 = 1.0 - wy0;
    wx1 = 1.0 - wx0;
    t += (double)in[y0 * Xi + x0] * wy0 * wx0;
    t += (double)in[y0 * Xi + x1] * wy0 * wx1;
    t += (double)in[y1 * Xi + x0] * wy1 * wx0;
    t += (double)in[y1 * Xi + x1] * wy1 * wx1;
    return (float)t;
}

/* The products and sums are in scipy's order, without contraction to FMA
 * (neither baseline x86-64 nor the avx2 target has FMA). */
void elastic_warp_linear_ref(float *out, const float *in, int64_t Yi, int64_t Xi, const float *coords,
                             int64_t n_out)
{
    const float *cr = coords, *cc = coords + n_out;
    const double ylim = (double)(Yi - 1), xlim = (double)(Xi - 1);
    for (int64_t i = 0; i < n_out; i++) {
        double cy = cr[i], cx = cc[i];
        if (cy >= 0 && cy < ylim && cx >= 0 && cx < xlim) {
            /* cy, cx >= 0 here, so truncation is floor */
            int64_t y0 = (int64_t)cy, x0 = (int64_t)cx;
            double fy = (double)y0, fx = (double)x0;
            double wy0 = 1.0 - (cy - fy), wx0 = 1.0 - (cx - fx);
            double wy1 = 1.0 - wy0, wx1 = 1.0 - wx0, t = 0;
            const float *p = in + y0 * Xi + x0;
            t += (double)p[0] * wy0 * wx0;
            t += (double)p[1] * wy0 * wx1;
            t += (double)p[Xi] * wy1 * wx0;
            t += (double)p[Xi + 1] * wy1 * wx1;
            out[i] = (float)t;
        } else {
            out[i] = linear_slow(in, Yi, Xi, cy, cx);
        }
    }
}

#if ELASTIC_X86
/* Four pixels at a time in double lanes, the same operations in the same
 * order as the loop above; a group with any pixel off the interior goes
 * through that loop. Flat indices are int32 (the caller checks). */
__attribute__((target("avx2")))
static void warp_linear_avx2(float *out, const float *in, int64_t Yi, int64_t Xi, const float *coords, int64_t n_out)
{
    const float *cr = coords, *cc = coords + n_out;
    const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0);
    const __m256d ylim = _mm256_set1_pd((double)(Yi - 1)), xlim = _mm256_set1_pd((double)(Xi - 1));
    const __m128i xs = _mm_set1_epi32((int32_t)Xi);
    const float *in01 = in + 1, *in10 = in + Xi, *in11 = in + Xi + 1;
    int64_t i = 0;
    for (; i + 4 <= n_out; i += 4) {
        __m256d cy = _mm256_cvtps_pd(_mm_loadu_ps(cr + i)), cx = _mm256_cvtps_pd(_mm_loadu_ps(cc + i));
        __m256d ok = _mm256_and_pd(_mm256_and_pd(_mm256_cmp_pd(cy, zero, _CMP_GE_OQ), _mm256_cmp_pd(cy, ylim, _CMP_LT_OQ)),
                                   _mm256_and_pd(_mm256_cmp_pd(cx, zero, _CMP_GE_OQ), _mm256_cmp_pd(cx, xlim, _CMP_LT_OQ)));
        __m256d fy, fx, wy0, wx0, wy1, wx1, t;
        __m128i idx;
        if (_mm256_movemask_pd(ok) != 0xf) {
            for (int l = 0; l < 4; l++) {
                float c2[2] = {cr[i + l], cc[i + l]};
                /* one pixel: coords laid out as [2, 1] */
                elastic_warp_linear_ref(out + i + l, in, Yi, Xi, c2, 1);
            }
            continue;
        }
        fy = _mm256_floor_pd(cy);
        fx = _mm256_floor_pd(cx);
        wy0 = _mm256_sub_pd(one, _mm256_sub_pd(cy, fy));
        wx0 = _mm256_sub_pd(one, _mm256_sub_pd(cx, fx));
        wy1 = _mm256_sub_pd(one, wy0);
        wx1 = _mm256_sub_pd(one, wx0);
        idx = _mm_add_epi32(_mm_mullo_epi32(_mm256_cvttpd_epi32(fy), xs), _mm256_cvttpd_epi32(fx));
        t = _mm256_add_pd(zero, _mm256_mul_pd(_mm256_mul_pd(_mm256_cvtps_pd(_mm_i32gather_ps(in, idx, 4)), wy0), wx0));
        t = _mm256_add_pd(t, _mm256_mul_pd(_mm256_mul_pd(_mm256_cvtps_pd(_mm_i32gather_ps(in01, idx, 4)), wy0), wx1));
        t = _mm256_add_pd(t, _mm256_mul_pd(_mm256_mul_pd(_mm256_cvtps_pd(_mm_i32gather_ps(in10, idx, 4)), wy1), wx0));
        t = _mm256_add_pd(t, _mm256_mul_pd(_mm256_mul_pd(_mm256_cvtps_pd(_mm_i32gather_ps(in11, idx, 4)), wy1), wx1));
        _mm_storeu_ps(out + i, _mm256_cvtpd_ps(t));
    }
    for (; i < n_out; i++) {
        float c2[2] = {cr[i], cc[i]};
        elastic_warp_linear_ref(out + i, in, Yi, Xi, c2, 1);
    }
}

#endif

void elastic_warp_linear(float *out, const float *in, int64_t Yi, int64_t Xi, const float *coords,
                         int64_t n_out)
{
#if ELASTIC_X86
    if (Yi * Xi + Xi + 1 <= INT32_MAX && isa_active() >= ISA_AVX2) {
        warp_linear_avx2(out, in, Yi, Xi, coords, n_out);
        return;
    }
#endif
    elastic_warp_linear_ref(out, in, Yi, Xi, coords, n_out);
}

void elastic_warp_index_ref(int32_t *idx, int64_t Yi, int64_t Xi, const float *coords, int64_t n_out)
{
    const float *cr = coords, *cc = coords + n_out;
    const double ylim = (double)(Yi - 1), xlim = (double)(Xi - 1);
    for (int64_t i = 0; i < n_out; i++) {
        double cy = cr[i], cx = cc[i];
        int64_t y, x, dummy;
        if (cy >= 0 && cy <= ylim && cx >= 0 && cx <= xlim) {
            y = (int64_t)(cy + 0.5); /* = floor(cy + 0.5), cy >= 0 */
            x = (int64_t)(cx + 0.5);
        } else if (!axis_support(cy, Yi, 0, &y, &dummy, NULL) || !axis_support(cx, Xi, 0, &x, &dummy, NULL)) {
            /* Not reached for finite coordinates; scipy would write 0. */
            y = x = 0;
        }
        idx[i] = (int32_t)(y * Xi + x);
    }
}

#if ELASTIC_X86
/* Four pixels at a time, as elastic_warp_linear's AVX2 loop. */
__attribute__((target("avx2")))
static void warp_index_avx2(int32_t *idx, int64_t Yi, int64_t Xi, const float *coords, int64_t n_out)
{
    const float *cr = coords, *cc = coords + n_out;
    const __m256d zero = _mm256_setzero_pd(), half = _mm256_set1_pd(0.5);
    const __m256d ylim = _mm256_set1_pd((double)(Yi - 1)), xlim = _mm256_set1_pd((double)(Xi - 1));
    const __m128i xs = _mm_set1_epi32((int32_t)Xi);
    int64_t i = 0;
    for (; i + 4 <= n_out; i += 4) {
        __m256d cy = _mm256_cvtps_pd(_mm_loadu_ps(cr + i)), cx = _mm256_cvtps_pd(_mm_loadu_ps(cc + i));
        __m256d ok = _mm256_and_pd(_mm256_and_pd(_mm256_cmp_pd(cy, zero, _CMP_GE_OQ), _mm256_cmp_pd(cy, ylim, _CMP_LE_OQ)),
                                   _mm256_and_pd(_mm256_cmp_pd(cx, zero, _CMP_GE_OQ), _mm256_cmp_pd(cx, xlim, _CMP_LE_OQ)));
        if (_mm256_movemask_pd(ok) != 0xf) {
            for (int l = 0; l < 4; l++) {
                float c2[2] = {cr[i + l], cc[i + l]};
                elastic_warp_index_ref(idx + i + l, Yi, Xi, c2, 1);
            }
            continue;
        }
        _mm_storeu_si128((__m128i *)(idx + i),
                         _mm_add_epi32(_mm_mullo_epi32(_mm256_cvttpd_epi32(_mm256_floor_pd(_mm256_add_pd(cy, half))), xs),
                                       _mm256_cvttpd_epi32(_mm256_floor_pd(_mm256_add_pd(cx, half)))));
    }
    for (; i < n_out; i++) {
        float c2[2] = {cr[i], cc[i]};
        elastic_warp_index_ref(idx + i, Yi, Xi, c2, 1);
    }
}

#endif

void elastic_warp_index(int32_t *idx, int64_t Yi, int64_t Xi, const float *coords, int64_t n_out)
{
#if ELASTIC_X86
    if (Yi * Xi <= INT32_MAX && isa_active() >= ISA_AVX2) {
        warp_index_avx2(idx, Yi, Xi, coords, n_out);
        return;
    }
#endif
    elastic_warp_index_ref(idx, Yi, Xi, coords, n_out);
}

void elastic_gather(void *out, const void *in, const int32_t *idx, int64_t n, size_t elsize)
{
    switch (elsize) {
    case 1:
        for (int64_t i = 0; i < n; i++)
            ((uint8_t *)out)[i] = ((const uint8_t *)in)[idx[i]];
        break;
    case 2:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)out)[i] = ((const uint16_t *)in)[idx[i]];
        break;
    case 4:
        for (int64_t i = 0; i < n; i++)
            ((uint32_t *)out)[i] = ((const uint32_t *)in)[idx[i]];
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy((char *)out + (size_t)i * elsize, (const char *)in + (size_t)idx[i] * elsize, elsize);
    }
}

/* ---------------------------------------------------------------- regions */

int64_t elastic_regions_prune(int32_t *rq, int32_t *rp, int64_t n, int64_t K, int64_t min_pixels)
{
    int64_t *cq, *cp, Kn = 0;
    int32_t *map;
    if (K <= 0)
        return 0;
    cq = lrc_calloc((size_t)K * sizeof *cq);
    cp = lrc_calloc((size_t)K * sizeof *cp);
    map = lrc_alloc((size_t)(K + 1) * sizeof *map);
    if (!cq || !cp || !map) {
        lrc_free(cq);
        lrc_free(cp);
        lrc_free(map);
        return err_set("out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        if (rq[i] >= 0)
            cq[rq[i]]++;
        if (rp[i] >= 0)
            cp[rp[i]]++;
    }
    /* map[k + 1] is the new id of old region k; map[0] keeps -1 at -1. */
    map[0] = -1;
    for (int64_t k = 0; k < K; k++)
        map[k + 1] = (cq[k] >= min_pixels && cp[k] >= min_pixels && cq[k] > 0 && cp[k] > 0) ? (int32_t)Kn++ : -1;
    for (int64_t i = 0; i < n; i++) {
        rq[i] = map[rq[i] + 1];
        rp[i] = map[rp[i] + 1];
    }
    lrc_free(cq);
    lrc_free(cp);
    lrc_free(map);
    return Kn;
}

/* ---------------------------------------------------------------- jitter */

void elastic_jitter_draw(elastic_jitter *j, const elastic_jitter_params *p, rng *r)
{
    double ub = 2 * rng_uniform(r) - 1, uc = 2 * rng_uniform(r) - 1, ug = 2 * rng_uniform(r) - 1;
    double un = rng_uniform(r);
    j->b = p->brightness * ub;
    j->c = 1 + p->contrast * uc;
    j->g = exp(ug * log1p(p->gamma));
    j->n = p->noise * un;
}

/* v^g for v > 0 as 2^(g log2 v), eight lanes at a time (GCC vector
 * extensions; comparisons give 0 / -1 lane masks, selects are bitwise):
 *   log2: v = m 2^e with m in [sqrt(1/2), sqrt(2)) (subnormals scaled by 2^24
 *         first), t = (m-1)/(m+1), log2 m = 2/ln 2 (t + t^3/3 + ... + t^9/9);
 *         |t| < 0.172, so the series error is below 4e-10
 *   exp2: y = n + f, n = floor(y + 1/2), 2^f by Taylor to degree 7 (error
 *         below 6e-9), 2^n from bits; 0 below 2^-126, inf from 2^128
 * Lanes with v <= 0 (or NaN) keep v. */
typedef int32_t v8i __attribute__((vector_size(32)));

/* These helpers are always inlined into the clones that use them, so the
 * AVX argument-passing ABI never applies. */
#pragma GCC diagnostic ignored "-Wpsabi"

static inline __attribute__((always_inline)) v8 v8_set(float x)
{
    return (v8){x, x, x, x, x, x, x, x};
}

static inline __attribute__((always_inline)) v8 v8_sel(v8i mask, v8 a, v8 b) /* mask ? a : b */
{
    return (v8)(((v8i)a & mask) | ((v8i)b & ~mask));
}

static inline __attribute__((always_inline)) v8 log2_8(v8 v) /* v > 0 */
{
    v8i sub = v < v8_set(0x1.0p-126f), b, e, big;
    v8 x = v8_sel(sub, v * v8_set(0x1.0p24f), v), m, t, t2;
    b = (v8i)x;
    e = ((b >> 23) & 0xff) - 127 - (sub & 24);
    m = (v8)((b & 0x007fffff) | 0x3f800000);
    big = m > v8_set(1.41421356f);
    m = v8_sel(big, m * v8_set(0.5f), m);
    e -= big; /* big is -1 where true */
    t = (m - 1.0f) / (m + 1.0f);
    t2 = t * t;
    return __builtin_convertvector(e, v8) +
           t * (2.8853900818f + t2 * (0.9617966939f + t2 * (0.5770780164f + t2 * (0.4121985831f + t2 * 0.3205988979f))));
}

static inline __attribute__((always_inline)) v8 pow_pos8(v8 v, float g)
{
    v8 y = g * log2_8(v), yc, f, p, nf;
    v8i n;
    yc = v8_sel(y < v8_set(-126.0f), v8_set(-126.0f), v8_sel(y > v8_set(127.0f), v8_set(127.0f), y));
    n = __builtin_convertvector(yc + 0.5f, v8i); /* truncation ... */
    nf = __builtin_convertvector(n, v8);
    n += nf > yc + 0.5f;                         /* ... to floor (adds -1) */
    nf = __builtin_convertvector(n, v8);
    f = (yc - nf) * 0.69314718056f;
    p = 1.0f + f * (1.0f + f * (0.5f + f * (1.0f / 6 + f * (1.0f / 24 + f * (1.0f / 120 + f * (1.0f / 720 + f * (1.0f / 5040)))))));
    p *= (v8)((n + 127) << 23);
    p = v8_sel(y < v8_set(-126.0f), v8_set(0.0f), p);
    p = v8_sel(y >= v8_set(128.0f), v8_set(__builtin_inff()), p);
    return v8_sel(v > v8_set(0.0f), p, v);
}

CLONES
static void gamma_apply(float *img, int64_t n, float g)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        STOREU(img + i, pow_pos8(LOADU(img + i), g));
    if (i < n) {
        v8 t = v8_set(0.0f);
        memcpy(&t, img + i, (size_t)(n - i) * sizeof(float));
        t = pow_pos8(t, g);
        memcpy(img + i, &t, (size_t)(n - i) * sizeof(float));
    }
}

/* Marsaglia's polar method in float: candidate pairs u, v = 2 rng_uniformf
 * - 1 in order, kept when 0 < q = u^2 + v^2 < 1; each kept pair gives
 * u f, v f with f = sqrt(-2 ln q / q), ln q = ln 2 log2_8(q). The pairs are
 * found one by one, f is computed eight pairs at a time. npairs <= 512. */
CLONES
static void normal_pairs(float *e, int npairs, uint64_t *s)
{
    float u[512 + 8], v[512 + 8], q[512 + 8];
    int k = 0;
    while (k < npairs) {
        float a = xo_sym(s), b = xo_sym(s), c = a * a + b * b;
        if (c < 1.0f && c != 0.0f) {
            u[k] = a;
            v[k] = b;
            q[k++] = c;
        }
    }
    for (; k % 8; k++)
        u[k] = v[k] = q[k] = 0.5f; /* padding, never stored */
    for (int i = 0; i < npairs; i += 8) {
        v8 qq = LOADU(q + i), f, fu, fv;
        f = v8_set(-2.0f * 0.69314718056f) * log2_8(qq) / qq;
        for (int l = 0; l < 8; l++)
            f[l] = sqrtf(f[l]);
        fu = LOADU(u + i) * f;
        fv = LOADU(v + i) * f;
        for (int l = 0; l < 8 && i + l < npairs; l++) {
            e[2 * (i + l)] = fu[l];
            e[2 * (i + l) + 1] = fv[l];
        }
    }
}

void elastic_jitter_apply(float *img, int64_t n, const elastic_jitter *j, rng *r)
{
    const float b = (float)j->b, c = (float)j->c, sd = (float)j->n;
    if (j->g != 1.0)
        gamma_apply(img, n, (float)j->g);
    if (j->c != 1.0 || j->b != 0.0)
        for (int64_t i = 0; i < n; i++)
            img[i] = c * img[i] + b;
    if (j->n > 0) {
        float e[1024];
        uint64_t s[4];
        memcpy(s, r->s, sizeof s);
        for (int64_t i0 = 0; i0 < n; i0 += 1024) {
            int64_t m = n - i0 < 1024 ? n - i0 : 1024;
            normal_pairs(e, (int)((m + 1) / 2), s); /* whole pairs: the stream does not depend on the chunking */
            for (int64_t i = 0; i < m; i++)
                img[i0 + i] += sd * e[i];
        }
        memcpy(r->s, s, sizeof s);
    }
}
