#include "elastic.h"

#include <math.h>
#include <string.h>

#include "err.h"
#include "tensor.h"

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

/* One row: out[x] = sum_k w[k] pad[x + r + k - r], pad = the row extended by
 * r reflected values on each side. The kernel is symmetric: fold it. */
__attribute__((target_clones("avx2", "default")))
static void blur_line(float *out, const float *pad, int64_t X, const float *w, int r)
{
#pragma omp simd
    for (int64_t x = 0; x < X; x++)
        out[x] = w[0] * pad[x + r];
    for (int k = 1; k <= r; k++) {
        const float wk = w[k];
        const float *a = pad + r - k, *b = pad + r + k;
#pragma omp simd
        for (int64_t x = 0; x < X; x++)
            out[x] += wk * (a[x] + b[x]);
    }
}

/* Columns: out row y = sum_k w[k] (in row refl(y-k) + in row refl(y+k)). */
__attribute__((target_clones("avx2", "default")))
static void blur_cols_row(float *out, const float *in, int64_t Y, int64_t X, int64_t y, const float *w,
                          int r)
{
    const float *c = in + y * X;
#pragma omp simd
    for (int64_t x = 0; x < X; x++)
        out[x] = w[0] * c[x];
    for (int k = 1; k <= r; k++) {
        const float wk = w[k];
        const float *a = in + elastic_reflect_index(y - k, Y) * X;
        const float *b = in + elastic_reflect_index(y + k, Y) * X;
#pragma omp simd
        for (int64_t x = 0; x < X; x++)
            out[x] += wk * (a[x] + b[x]);
    }
}

int elastic_blur(float *a, int64_t Y, int64_t X, double sigma)
{
    int r;
    double wd[1 + 2 * 4096];
    float w[4097];
    float *tmp, *pad;
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
    if (!tmp || !pad) {
        lrc_free(tmp);
        lrc_free(pad);
        return err_set("out of memory");
    }
    /* Along axis 0 (rows) first, then axis 1, as scipy does. */
    for (int64_t y = 0; y < Y; y++)
        blur_cols_row(tmp + y * X, a, Y, X, y, w, r);
    for (int64_t y = 0; y < Y; y++) {
        const float *row = tmp + y * X;
        for (int64_t i = 0; i < X + 2 * r; i++)
            pad[i] = row[elastic_reflect_index(i - r, X)];
        blur_line(a + y * X, pad, X, w, r);
    }
    lrc_free(tmp);
    lrc_free(pad);
    return 0;
}

/* ---------------------------------------------------------------- field */

static void uniform_fill(float *u, int64_t n, rng *r)
{
    for (int64_t i = 0; i < n; i++)
        u[i] = 2.0f * rng_uniformf(r) - 1.0f;
}

int elastic_field(float *coords, int64_t Y, int64_t X, const elastic_params *p, rng *r,
                  elastic_affine *drawn)
{
    const int64_t n = Y * X;
    float *dr = coords, *dc = coords + n; /* displacements first, in place */
    double th, s, tr, tc, ct, st, cr = (double)(Y - 1) / 2, cc = (double)(X - 1) / 2;

    th = p->rotate * (2 * rng_uniform(r) - 1) * (M_PI / 180);
    s = 1 + p->scale * (2 * rng_uniform(r) - 1);
    tr = p->shift * (2 * rng_uniform(r) - 1);
    tc = p->shift * (2 * rng_uniform(r) - 1);
    if (drawn)
        *drawn = (elastic_affine){th * (180 / M_PI), s, tr, tc};
    ct = cos(th) / s;
    st = sin(th) / s;

    uniform_fill(dr, n, r);
    uniform_fill(dc, n, r);
    if (elastic_blur(dr, Y, X, p->sigma) || elastic_blur(dc, Y, X, p->sigma))
        return -1;
    for (int64_t y = 0; y < Y; y++)
        for (int64_t x = 0; x < X; x++) {
            int64_t i = y * X + x;
            double a = (double)y - cr + p->alpha * (double)dr[i];
            double b = (double)x - cc + p->alpha * (double)dc[i];
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
 * (this file is built for baseline x86-64, which has none). */
void elastic_warp_linear(float *out, const float *in, int64_t Yi, int64_t Xi, const float *coords,
                         int64_t n_out)
{
    const float *cr = coords, *cc = coords + n_out;
    const double ylim = (double)(Yi - 1), xlim = (double)(Xi - 1);
    for (int64_t i = 0; i < n_out; i++) {
        double cy = cr[i], cx = cc[i];
        if (cy >= 0 && cy < ylim && cx >= 0 && cx < xlim) {
            double fy = floor(cy), fx = floor(cx);
            int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
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

void elastic_warp_index(int32_t *idx, int64_t Yi, int64_t Xi, const float *coords, int64_t n_out)
{
    const float *cr = coords, *cc = coords + n_out;
    const double ylim = (double)(Yi - 1), xlim = (double)(Xi - 1);
    for (int64_t i = 0; i < n_out; i++) {
        double cy = cr[i], cx = cc[i];
        int64_t y, x, dummy;
        if (cy >= 0 && cy <= ylim && cx >= 0 && cx <= xlim) {
            y = (int64_t)floor(cy + 0.5);
            x = (int64_t)floor(cx + 0.5);
        } else if (!axis_support(cy, Yi, 0, &y, &dummy, NULL) || !axis_support(cx, Xi, 0, &x, &dummy, NULL)) {
            /* Not reached for finite coordinates; scipy would write 0. */
            y = x = 0;
        }
        idx[i] = (int32_t)(y * Xi + x);
    }
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

void elastic_jitter_apply(float *img, int64_t n, const elastic_jitter *j, rng *r)
{
    const float b = (float)j->b, c = (float)j->c, g = (float)j->g, s = (float)j->n;
    if (j->g != 1.0)
        for (int64_t i = 0; i < n; i++)
            if (img[i] > 0)
                img[i] = powf(img[i], g);
    if (j->c != 1.0 || j->b != 0.0)
        for (int64_t i = 0; i < n; i++)
            img[i] = c * img[i] + b;
    if (j->n > 0)
        for (int64_t i = 0; i < n; i++)
            img[i] += s * (float)rng_normal(r);
}
