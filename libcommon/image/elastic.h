/*
 * elastic — Simard's elastic deformation of 2-D slices: the random field,
 * the warp, the intensity jitter, and the bookkeeping of region maps.
 *
 * The field (all lengths in pixels, arrays [Y, X] in C order):
 *
 *   U_r, U_c     uniform noise, one value per pixel in [-1, 1)
 *   d_r, d_c     alpha * G_sigma(U_r), alpha * G_sigma(U_c)
 *   G_sigma      scipy.ndimage.gaussian_filter(mode='reflect', truncate=4):
 *                separable correlation with w[k] = exp(-k^2 / (2 sigma^2)),
 *                |k| <= r = (int)(4 sigma + 0.5), normalised to sum 1;
 *                sigma = 0 means no smoothing
 *   affine       theta (radians), scale s, shift (t_r, t_c) about the centre
 *                (c_r, c_c) = ((Y - 1) / 2, (X - 1) / 2)
 *
 *   for output pixel (y, x):  a = y - c_r + d_r[y, x],  b = x - c_c + d_c[y, x]
 *     row = c_r + ( cos(theta) a + sin(theta) b) / s + t_r
 *     col = c_c + (-sin(theta) a + cos(theta) b) / s + t_c
 *
 * computed in double and stored as float32 in coords[2][Y][X] (row first):
 * exactly the `coordinates` argument of scipy.ndimage.map_coordinates.
 *
 * The warp reproduces scipy 1.10's map_coordinates(mode='reflect') bit for
 * bit: order 1 (bilinear, accumulated in double, rounded to float) for
 * images, order 0 (nearest, ties rounded up) for label and region maps.
 * "reflect" is half-sample symmetric: ... c b a | a b c ... z | z y x ...,
 * period 2n, with scipy's own remapping of the coordinate itself (which
 * matters for order 0 far outside the grid).
 *
 * Not here: frames, options, threads (callers run one slice per thread;
 * nothing here keeps global state).
 */
#ifndef LRC_ELASTIC_H
#define LRC_ELASTIC_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

typedef struct {
    double alpha, sigma;   /* px; alpha = 0 disables the elastic part */
    double alpha_max;      /* > alpha: alpha uniform in [alpha, alpha_max) per field */
    double rotate;         /* theta uniform in [-rotate, rotate] degrees */
    double scale;          /* s uniform in [1 - scale, 1 + scale], scale < 1 */
    double shift;          /* t_r, t_c uniform in [-shift, shift] px */
} elastic_params;

typedef struct {
    double theta_deg, scale, shift_r, shift_c, alpha; /* what one field drew */
} elastic_affine;

typedef struct {
    double brightness;     /* b uniform in [-brightness, brightness] */
    double contrast;       /* c uniform in [1 - contrast, 1 + contrast] */
    double gamma;          /* g = exp(u ln(1 + gamma)), u uniform in [-1, 1) */
    double noise;          /* n uniform in [0, noise): std of Gaussian noise */
} elastic_jitter_params;

typedef struct {
    double b, c, g, n;
} elastic_jitter;

/* Radius of the Gaussian kernel: (int)(4 sigma + 0.5). */
int elastic_gauss_radius(double sigma);
/* w[2r+1], normalised, as scipy's _gaussian_kernel1d (order 0). */
void elastic_gauss_kernel(double *w, double sigma);
/* In-place G_sigma on a [Y, X] float array (reflect borders, any radius).
 * 0, or -1 with err_set() on out-of-memory. */
int elastic_blur(float *a, int64_t Y, int64_t X, double sigma);

/* Half-sample symmetric index into [0, n): the reflect extension. */
int64_t elastic_reflect_index(int64_t i, int64_t n);

/* Draw one field from r (draw order: theta, s, t_r, t_c, alpha when
 * alpha_max > alpha (none otherwise), then Y*X values of U_r row-major,
 * then Y*X of U_c; each u = 2 * rng_uniformf - 1).
 * coords: [2, Y, X]. drawn may be NULL. 0 or -1 (out of memory). */
int elastic_field(float *coords, int64_t Y, int64_t X, const elastic_params *p, rng *r,
                  elastic_affine *drawn);

/* Order-1 warp: out[n_out] from in[Yi, Xi] at coords [2, n_out] (AVX2
 * when the CPU has it; _ref is the portable loop, bit-identical). */
void elastic_warp_linear(float *out, const float *in, int64_t Yi, int64_t Xi, const float *coords,
                         int64_t n_out);
void elastic_warp_linear_ref(float *out, const float *in, int64_t Yi, int64_t Xi, const float *coords,
                             int64_t n_out);
/* Order-0 sampling positions: idx[n_out] (flat indices into [Yi, Xi]). */
void elastic_warp_index(int32_t *idx, int64_t Yi, int64_t Xi, const float *coords, int64_t n_out);
void elastic_warp_index_ref(int32_t *idx, int64_t Yi, int64_t Xi, const float *coords, int64_t n_out);
/* out[i] = in[idx[i]] for elements of elsize bytes (1, 2, 4 or 8). */
void elastic_gather(void *out, const void *in, const int32_t *idx, int64_t n, size_t elsize);

/* Region bookkeeping on a query map rq and its warp rp (values -1..K-1,
 * checked by the caller): a region with fewer than min_pixels pixels in
 * either map becomes -1 in both; the survivors keep their order and are
 * renumbered 0..K'-1 (new id = number of surviving regions with a smaller
 * old id). Returns K', or -1 with err_set() on out-of-memory. */
int64_t elastic_regions_prune(int32_t *rq, int32_t *rp, int64_t n, int64_t K, int64_t min_pixels);

/* Draw b, c, g, n (in that order, four uniforms from r). */
void elastic_jitter_draw(elastic_jitter *j, const elastic_jitter_params *p, rng *r);
/* img[i] = c * gam(img[i]) + b + n * e_i in float, gam(v) = v^g for v > 0
 * else v. v^g is evaluated as 2^(g log2 v) by polynomials in float (relative
 * error about (1 + |g log2 v|) 6e-8: below 2e-6 for results in [2^-20,
 * 2^20]; 0 when the result is below 2^-126). e_i is standard
 * normal, drawn only when n > 0, by Marsaglia's polar method in float: pairs
 * u, v = 2 rng_uniformf(r) - 1 until 0 < q = u^2 + v^2 < 1, giving
 * u sqrt(-2 ln q / q) then v sqrt(-2 ln q / q) (the last pixel of an odd
 * count drops the second). */
void elastic_jitter_apply(float *img, int64_t n, const elastic_jitter *j, rng *r);

#endif
