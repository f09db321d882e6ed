/*
 * nnref — naive double-precision reference layers for the engine's tests:
 * the plainest loops that say what each layer of nn.h computes, written
 * independently of libcommon (no shared code with the kernels), plus a
 * finite-difference harness. Included by the test programs (static functions).
 */
#ifndef LRC_NNREF_H
#define LRC_NNREF_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "testutil.h" /* dalloc, falloc */

/* Random values exactly representable as float, in d (double) and f (float). */
static void rand_fill(double *d, float *f, size_t n, double scale, rng *r)
{
    for (size_t i = 0; i < n; i++) {
        float v = (float)(scale * rng_normal(r));
        if (f)
            f[i] = v;
        d[i] = v;
    }
}

/* out (B, OC, OH, OW) = conv(cat[in1 (B,C1,H,W), in2 (B,C2,H,W)], w (OC, C1+C2, K, K)) + b */
static void ref_conv(double *out, const double *in1, int C1, const double *in2, int C2,
                     const double *w, const double *bias, int B, int H, int W, int OC, int K,
                     int S, int P)
{
    int OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1, C = C1 + C2;
    for (int b = 0; b < B; b++)
        for (int oc = 0; oc < OC; oc++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double s = bias ? bias[oc] : 0;
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++) {
                                int iy = oy * S - P + ky, ix = ox * S - P + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                    continue;
                                double x = c < C1 ? in1[(((long)b * C1 + c) * H + iy) * W + ix]
                                                  : in2[(((long)b * C2 + c - C1) * H + iy) * W + ix];
                                s += w[(((long)oc * C + c) * K + ky) * K + kx] * x;
                            }
                    out[(((long)b * OC + oc) * OH + oy) * OW + ox] = s;
                }
}

/* Backward of ref_conv: din1/din2 written, dw/db accumulated (any may be NULL). */
static void ref_conv_backward(double *din1, double *din2, double *dw, double *db,
                              const double *dout, const double *in1, int C1, const double *in2,
                              int C2, const double *w, int B, int H, int W, int OC, int K, int S,
                              int P)
{
    int OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1, C = C1 + C2;
    if (din1)
        memset(din1, 0, sizeof(double) * B * C1 * H * W);
    if (din2)
        memset(din2, 0, sizeof(double) * B * C2 * H * W);
    for (int b = 0; b < B; b++)
        for (int oc = 0; oc < OC; oc++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double g = dout[(((long)b * OC + oc) * OH + oy) * OW + ox];
                    if (db)
                        db[oc] += g;
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++) {
                                int iy = oy * S - P + ky, ix = ox * S - P + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                    continue;
                                long wi = (((long)oc * C + c) * K + ky) * K + kx;
                                long i1 = (((long)b * C1 + c) * H + iy) * W + ix;
                                long i2 = (((long)b * C2 + c - C1) * H + iy) * W + ix;
                                double x = c < C1 ? in1[i1] : in2[i2];
                                if (dw)
                                    dw[wi] += g * x;
                                if (c < C1 && din1)
                                    din1[i1] += g * w[wi];
                                if (c >= C1 && din2)
                                    din2[i2] += g * w[wi];
                            }
                }
}

/* ConvTranspose2d(C, OC, 2, 2): out (B, OC, 2H, 2W), w (C, OC, 2, 2) */
static void ref_convt(double *out, const double *in, const double *w, const double *bias, int B,
                      int C, int H, int W, int OC)
{
    for (int b = 0; b < B; b++)
        for (int oc = 0; oc < OC; oc++)
            for (int y = 0; y < 2 * H; y++)
                for (int x = 0; x < 2 * W; x++) {
                    double s = bias ? bias[oc] : 0;
                    for (int c = 0; c < C; c++)
                        s += in[(((long)b * C + c) * H + y / 2) * W + x / 2] *
                             w[(((long)c * OC + oc) * 2 + y % 2) * 2 + x % 2];
                    out[(((long)b * OC + oc) * 2 * H + y) * 2 * W + x] = s;
                }
}

/* BatchNorm2d in training mode (batch statistics, biased variance). */
static void ref_bn(double *out, const double *in, const double *gamma, const double *beta, int B,
                   int C, int HW, double eps, int relu, double *mean_out, double *var_out)
{
    for (int c = 0; c < C; c++) {
        double s = 0, ss = 0, n = (double)B * HW;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++)
                s += in[((long)b * C + c) * HW + i];
        double m = s / n;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) {
                double d = in[((long)b * C + c) * HW + i] - m;
                ss += d * d;
            }
        double var = ss / n;
        if (mean_out)
            mean_out[c] = m;
        if (var_out)
            var_out[c] = var;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) {
                long o = ((long)b * C + c) * HW + i;
                double v = (in[o] - m) / sqrt(var + eps) * gamma[c] + beta[c];
                out[o] = relu && v < 0 ? 0 : v;
            }
    }
}

static void ref_gn(double *out, const double *in, const double *gamma, const double *beta, int B,
                   int C, int HW, int G, double eps, int relu)
{
    int cg = C / G;
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++) {
            double s = 0, ss = 0, n = (double)cg * HW;
            const double *x = in + ((long)b * C + (long)g * cg) * HW;
            for (long i = 0; i < (long)cg * HW; i++)
                s += x[i];
            double m = s / n;
            for (long i = 0; i < (long)cg * HW; i++)
                ss += (x[i] - m) * (x[i] - m);
            double rs = 1 / sqrt(ss / n + eps);
            for (int c = g * cg; c < (g + 1) * cg; c++)
                for (int i = 0; i < HW; i++) {
                    long o = ((long)b * C + c) * HW + i;
                    double v = (in[o] - m) * rs * gamma[c] + beta[c];
                    out[o] = relu && v < 0 ? 0 : v;
                }
        }
}

static void ref_maxpool(double *out, const double *in, int B, int C, int H, int W)
{
    for (long p = 0; p < (long)B * C; p++)
        for (int y = 0; y < H / 2; y++)
            for (int x = 0; x < W / 2; x++) {
                double m = -INFINITY;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        double v = in[(p * H + 2 * y + dy) * W + 2 * x + dx];
                        if (v > m)
                            m = v;
                    }
                out[(p * (H / 2) + y) * (W / 2) + x] = m;
            }
}

static void ref_linear(double *out, const double *in, const double *w, const double *bias, int B,
                       int IN, int OUT)
{
    for (int b = 0; b < B; b++)
        for (int o = 0; o < OUT; o++) {
            double s = bias ? bias[o] : 0;
            for (int i = 0; i < IN; i++)
                s += in[(long)b * IN + i] * w[(long)o * IN + i];
            out[(long)b * OUT + o] = s;
        }
}

/* ---- finite differences ----
 * L(x) = sum_i R_i f(x)_i for a fixed random R; dL/dx by central differences
 * in double on the reference forward, against the library's float gradient
 * (computed with dout = R). */
typedef void (*fd_forward)(void *ctx, double *out);

/* Largest |g - fd| over the elements of x, divided by (max |fd| + 1e-3).
 * Checks every element when n <= max_check, else a deterministic sample. */
static double fd_check(const char *what, fd_forward f, void *ctx, double *out, size_t nout,
                       const double *R, double *x, size_t n, const float *g, size_t max_check)
{
    const double eps = 1e-4;
    double maxfd = 0, maxerr = 0;
    size_t worst = 0, step = n <= max_check ? 1 : n / max_check;
    double *fd = dalloc(n);
    for (size_t i = 0; i < n; i += step) {
        double keep = x[i], lp = 0, lm = 0;
        x[i] = keep + eps;
        f(ctx, out);
        for (size_t j = 0; j < nout; j++)
            lp += R[j] * out[j];
        x[i] = keep - eps;
        f(ctx, out);
        for (size_t j = 0; j < nout; j++)
            lm += R[j] * out[j];
        x[i] = keep;
        fd[i] = (lp - lm) / (2 * eps);
        if (fabs(fd[i]) > maxfd)
            maxfd = fabs(fd[i]);
    }
    for (size_t i = 0; i < n; i += step) {
        double e = fabs(g[i] - fd[i]);
        if (e > maxerr)
            maxerr = e, worst = i;
    }
    double rel = maxerr / (maxfd + 1e-3);
    printf("  %-28s fd: max |grad - fd| = %.3g (%.3g of max |fd| %.3g) at %zu\n", what, maxerr,
           rel, maxfd, worst);
    free(fd);
    return rel;
}

/* Largest |a - b| / (max |b| + 1e-6): a float result against a double reference. */
static double max_rel_diff(const float *a, const double *b, size_t n)
{
    double m = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] != a[i])
            return INFINITY;
        if (fabs(b[i]) > m)
            m = fabs(b[i]);
        if (!(fabs(a[i] - b[i]) <= e))
            e = fabs(a[i] - b[i]);
    }
    return e / (m + 1e-6);
}

#endif
