#include "ct/resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"

int64_t resample_grid_len(int64_t n, double r)
{
    double m;
    int64_t k;
    if (n < 1 || !(r > 0) || !isfinite(r))
        return -1;
    m = floor((double)(n - 1) / r);
    if (!(m < 9e15))
        return -1;
    k = (int64_t)m + 1;
    /* Make (k-1)*r <= n-1 < k*r hold exactly as the samples are computed. */
    while (k > 1 && (double)(k - 1) * r > (double)(n - 1))
        k--;
    while ((double)k * r <= (double)(n - 1))
        k++;
    return k;
}

int64_t resample_fov_len(int64_t n, double r)
{
    double m;
    if (n < 1 || !(r > 0) || !isfinite(r))
        return -1;
    m = floor((double)n / r + 0.5);
    if (!(m < 9e15))
        return -1;
    return m < 1 ? 1 : (int64_t)m;
}

/* Coordinate of output sample j: off + j * r, clamped to [0, n-1] (only the
 * field-of-view grid needs the clamp: it is scipy's mode='nearest'). */
static double coord(int64_t j, double r, double off, int64_t n)
{
    double c = (double)j * r + off;
    return c < 0 ? 0 : c > (double)(n - 1) ? (double)(n - 1) : c;
}

/* Linear index and weight of each output sample: c = i0 + t, i1 = i0 + 1
 * unless i0 is the last sample (t is 0 there). */
static void lin_tab(int64_t *i0, double *t, int64_t m, double r, double off, int64_t n)
{
    for (int64_t j = 0; j < m; j++) {
        double c = coord(j, r, off, n);
        int64_t f = (int64_t)floor(c);
        i0[j] = f;
        t[j] = c - (double)f;
        if (f == n - 1)
            t[j] = 0;
    }
}

static void near_tab(int64_t *idx, int64_t m, double r, double off, int64_t n)
{
    for (int64_t j = 0; j < m; j++) {
        int64_t f = (int64_t)floor(coord(j, r, off, n) + 0.5);
        idx[j] = f > n - 1 ? n - 1 : f;
    }
}

void resample_linear3_f32(float *out, const int64_t os[3], const float *in, const int64_t is[3], const double r[3],
                          const double off[3])
{
    int64_t oz = os[0], oy = os[1], ox = os[2], ny = is[1], nx = is[2];
    int64_t *z0 = malloc(sizeof *z0 * (size_t)(oz + oy + ox));
    double *tz = malloc(sizeof *tz * (size_t)(oz + oy + ox));
    int64_t *y0 = z0 + oz, *x0 = y0 + oy;
    double *ty = tz + oz, *tx = ty + oy;
    if (!z0 || !tz)
        abort(); /* a few KB; out of memory here means nothing else works */
    lin_tab(z0, tz, oz, r[0], off ? off[0] : 0, is[0]);
    lin_tab(y0, ty, oy, r[1], off ? off[1] : 0, ny);
    lin_tab(x0, tx, ox, r[2], off ? off[2] : 0, nx);
    #pragma omp parallel
    {
        /* Per thread: two z-blended input rows (cached by row index) and the
         * y-blended row, all (nx) doubles. */
        double *za = malloc(sizeof *za * (size_t)nx * 3);
        double *zb = za + nx, *yr = zb + nx;
        if (!za)
            abort();
        #pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < oz; k++) {
            const float *p0 = in + (size_t)z0[k] * (size_t)(ny * nx);
            const float *p1 = z0[k] + 1 < is[0] ? p0 + ny * nx : p0;
            double wz = tz[k];
            int64_t ra = -1, rb = -1;
            for (int64_t j = 0; j < oy; j++) {
                int64_t ya = y0[j], yb = ya + 1 < ny ? ya + 1 : ya;
                double wy = ty[j];
                /* Bring rows ya, yb into za, zb, reusing what the previous j had. */
                if (ra != ya) {
                    if (rb == ya) {
                        double *s = za;
                        za = zb, zb = s;
                        ra = ya, rb = -1;
                    } else {
                        const float *a = p0 + ya * nx, *b = p1 + ya * nx;
                        for (int64_t i = 0; i < nx; i++)
                            za[i] = (double)a[i] * (1 - wz) + (double)b[i] * wz;
                        ra = ya;
                    }
                }
                if (rb != yb) {
                    const float *a = p0 + yb * nx, *b = p1 + yb * nx;
                    for (int64_t i = 0; i < nx; i++)
                        zb[i] = (double)a[i] * (1 - wz) + (double)b[i] * wz;
                    rb = yb;
                }
                for (int64_t i = 0; i < nx; i++)
                    yr[i] = za[i] * (1 - wy) + zb[i] * wy;
                {
                    float *o = out + ((size_t)k * (size_t)oy + (size_t)j) * (size_t)ox;
                    for (int64_t i = 0; i < ox; i++) {
                        int64_t xa = x0[i], xb = xa + 1 < nx ? xa + 1 : xa;
                        double w = tx[i];
                        o[i] = (float)(yr[xa] * (1 - w) + yr[xb] * w);
                    }
                }
            }
        }
        /* za/zb may have been swapped; the block starts at the lower one. */
        free(za < zb ? za : zb);
    }
    free(z0);
    free(tz);
}

#define GATHER(T)                                                                         \
    do {                                                                                  \
        const T *s = (const T *)in + ((size_t)iz[k] * (size_t)ny + (size_t)iy[j]) * (size_t)nx; \
        T *d = (T *)out + ((size_t)k * (size_t)oy + (size_t)j) * (size_t)ox;              \
        for (int64_t i = 0; i < ox; i++)                                                  \
            d[i] = s[ix[i]];                                                              \
    } while (0)

void resample_nearest3(void *out, const int64_t os[3], const void *in, const int64_t is[3], const double r[3],
                       const double off[3], size_t elsize)
{
    int64_t oz = os[0], oy = os[1], ox = os[2], ny = is[1], nx = is[2];
    int64_t *iz = malloc(sizeof *iz * (size_t)(oz + oy + ox));
    int64_t *iy = iz + oz, *ix = iy + oy;
    if (!iz)
        abort();
    near_tab(iz, oz, r[0], off ? off[0] : 0, is[0]);
    near_tab(iy, oy, r[1], off ? off[1] : 0, ny);
    near_tab(ix, ox, r[2], off ? off[2] : 0, nx);
    #pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < oz; k++)
        for (int64_t j = 0; j < oy; j++) {
            switch (elsize) {
            case 1: GATHER(uint8_t); break;
            case 2: GATHER(uint16_t); break;
            case 4: GATHER(uint32_t); break;
            default: GATHER(uint64_t); break;
            }
        }
    free(iz);
}

/* Pixel-centre aligned coordinate of output sample u, clamped to [0, n-1]. */
static double centre_coord(int64_t u, double zoom, int64_t n)
{
    double c = ((double)u + 0.5) * zoom - 0.5;
    return c < 0 ? 0 : c > (double)(n - 1) ? (double)(n - 1) : c;
}

void resample_linear2_f32(float *out, int64_t oy, int64_t ox, const float *in, int64_t ny, int64_t nx)
{
    double zy = (double)ny / (double)oy, zx = (double)nx / (double)ox;
    for (int64_t j = 0; j < oy; j++) {
        double cy = centre_coord(j, zy, ny);
        int64_t ya = (int64_t)floor(cy), yb = ya + 1 < ny ? ya + 1 : ya;
        double wy = cy - (double)ya;
        for (int64_t i = 0; i < ox; i++) {
            double cx = centre_coord(i, zx, nx);
            int64_t xa = (int64_t)floor(cx), xb = xa + 1 < nx ? xa + 1 : xa;
            double wx = cx - (double)xa;
            double a = in[ya * nx + xa] * (1 - wx) + (double)in[ya * nx + xb] * wx;
            double b = in[yb * nx + xa] * (1 - wx) + (double)in[yb * nx + xb] * wx;
            out[j * ox + i] = (float)(a * (1 - wy) + b * wy);
        }
    }
}

void resample_nearest2(void *out, int64_t oy, int64_t ox, const void *in, int64_t ny, int64_t nx, size_t elsize)
{
    double zy = (double)ny / (double)oy, zx = (double)nx / (double)ox;
    for (int64_t j = 0; j < oy; j++) {
        int64_t y = (int64_t)floor(centre_coord(j, zy, ny) + 0.5);
        if (y > ny - 1)
            y = ny - 1;
        for (int64_t i = 0; i < ox; i++) {
            int64_t x = (int64_t)floor(centre_coord(i, zx, nx) + 0.5);
            if (x > nx - 1)
                x = nx - 1;
            memcpy((char *)out + (size_t)(j * ox + i) * elsize, (const char *)in + (size_t)(y * nx + x) * elsize,
                   elsize);
        }
    }
}

/* Clamp c to [0, n-1] if it is less than one voxel outside; 0 if farther. */
static int affine_coord(double *c, int64_t n)
{
    if (!(*c >= -1.0) || !(*c <= (double)n))
        return 0;
    if (*c < 0)
        *c = 0;
    if (*c > (double)(n - 1))
        *c = (double)(n - 1);
    return 1;
}

/* Where output voxel (i, j, k) falls in the input of shape is: M times
 * (i, j, k, 1), each coordinate clamped by affine_coord. 1 when it falls
 * inside (or less than a voxel outside), 0 when farther. */
static inline int voxel_to_source(const double M[16], const int64_t is[3], int64_t i, int64_t j, int64_t k,
                                  double *x, double *y, double *z)
{
    *x = M[0] * i + M[1] * j + M[2] * k + M[3];
    *y = M[4] * i + M[5] * j + M[6] * k + M[7];
    *z = M[8] * i + M[9] * j + M[10] * k + M[11];
    return affine_coord(x, is[2]) && affine_coord(y, is[1]) && affine_coord(z, is[0]);
}

/* Each voxel (k, j, i) of an output of shape os, the slices k shared out
 * among the threads. */
#define EACH_OUTPUT_VOXEL(os, k, j, i)                                                                  \
    _Pragma("omp parallel for schedule(static)")                                                        \
    for (int64_t k = 0; k < (os)[0]; k++)                                                               \
        for (int64_t j = 0; j < (os)[1]; j++)                                                           \
            for (int64_t i = 0; i < (os)[2]; i++)

void resample_affine_linear_f32(float *out, const int64_t os[3], const float *in, const int64_t is[3],
                                const double M[16])
{
    int64_t nz = is[0], ny = is[1], nx = is[2];
    EACH_OUTPUT_VOXEL(os, k, j, i) {
        double x, y, z;
        float v = 0;
        if (voxel_to_source(M, is, i, j, k, &x, &y, &z)) {
            int64_t x0 = (int64_t)floor(x), y0 = (int64_t)floor(y), z0 = (int64_t)floor(z);
            int64_t x1 = x0 + 1 < nx ? x0 + 1 : x0, y1 = y0 + 1 < ny ? y0 + 1 : y0;
            int64_t z1 = z0 + 1 < nz ? z0 + 1 : z0;
            double tx = x - (double)x0, ty = y - (double)y0, tz = z - (double)z0;
#define AT(zz, yy, xx) ((double)in[((zz) * ny + (yy)) * nx + (xx)])
            double a = (AT(z0, y0, x0) * (1 - tx) + AT(z0, y0, x1) * tx) * (1 - ty) +
                       (AT(z0, y1, x0) * (1 - tx) + AT(z0, y1, x1) * tx) * ty;
            double b = (AT(z1, y0, x0) * (1 - tx) + AT(z1, y0, x1) * tx) * (1 - ty) +
                       (AT(z1, y1, x0) * (1 - tx) + AT(z1, y1, x1) * tx) * ty;
#undef AT
            v = (float)(a * (1 - tz) + b * tz);
        }
        out[(k * os[1] + j) * os[2] + i] = v;
    }
}

void resample_affine_nearest(void *out, const int64_t os[3], const void *in, const int64_t is[3], const double M[16],
                             size_t elsize)
{
    int64_t nz = is[0], ny = is[1], nx = is[2];
    EACH_OUTPUT_VOXEL(os, k, j, i) {
        double x, y, z;
        char *d = (char *)out + (size_t)((k * os[1] + j) * os[2] + i) * elsize;
        if (voxel_to_source(M, is, i, j, k, &x, &y, &z)) {
            int64_t xi = (int64_t)floor(x + 0.5), yi = (int64_t)floor(y + 0.5), zi = (int64_t)floor(z + 0.5);
            if (xi > nx - 1) xi = nx - 1;
            if (yi > ny - 1) yi = ny - 1;
            if (zi > nz - 1) zi = nz - 1;
            memcpy(d, (const char *)in + (size_t)((zi * ny + yi) * nx + xi) * elsize, elsize);
        } else {
            memset(d, 0, elsize);
        }
    }
}
