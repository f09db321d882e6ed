/* The kernels of ct-resample against naive loops: separable trilinear and
 * nearest on the j*r grid and the field-of-view grid (random sizes from 1
 * voxel, random ratios both ways), slice resizing, the any-grid resampler, and reorientation to RAS+
 * under all 48 axis permutations and flips. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ct/affine.h"
#include "ct/orient.h"
#include "ct/resample.h"
#include "testutil.h"

static double urand(rng *r)
{
    return (rng_u32(r) + 0.5) / 4294967296.0;
}

/* Trilinear at (z,y,x) as scipy's order-1 spline sums its 8 corners. */
static double naive_lin(const float *v, const int64_t *n, double z, double y, double x)
{
    double c[3] = {z, y, x}, s = 0;
    int64_t i0[3];
    double t[3];
    for (int d = 0; d < 3; d++) {
        i0[d] = (int64_t)floor(c[d]);
        t[d] = c[d] - (double)i0[d];
    }
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int e = 0; e < 2; e++) {
                int64_t k = i0[0] + a, j = i0[1] + b, i = i0[2] + e;
                double w = (a ? t[0] : 1 - t[0]) * (b ? t[1] : 1 - t[1]) * (e ? t[2] : 1 - t[2]);
                if (w == 0)
                    continue;
                assert_true(k < n[0] && j < n[1] && i < n[2]);
                s += w * v[(k * n[1] + j) * n[2] + i];
            }
    return s;
}

static void test_grid_len(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 1, 0);
    for (int it = 0; it < 100000; it++) {
        int64_t n = 1 + (int64_t)(rng_u32(&r) % 600);
        double ratio = 0.05 + 4 * urand(&r);
        int64_t m = resample_grid_len(n, ratio);
        assert_true(m >= 1);
        assert_true((double)(m - 1) * ratio <= (double)(n - 1));
        assert_true((double)m * ratio > (double)(n - 1));
    }
    /* the examples: 128 voxels of 3.906 mm to 1 mm, 2.5 mm to 2.5 mm */
    assert_int_equal(resample_grid_len(128, 1 / 3.906), 497);
    assert_int_equal(resample_grid_len(128, 2.5 / 2.5), 128);
    assert_int_equal(resample_grid_len(128, 2.5 / 2.0), 102);
    assert_int_equal(resample_grid_len(0, 1), -1);
    assert_int_equal(resample_grid_len(5, 0), -1);
    assert_int_equal(resample_grid_len(5, NAN), -1);
    assert_int_equal(resample_fov_len(128, 1 / 3.906), 500);
    assert_int_equal(resample_fov_len(128, 2.5 / 2.0), 102);
    assert_int_equal(resample_fov_len(3, 10), 1);
}

static void test_linear_nearest_vs_naive(void **state)
{
    (void)state;
    rng r;
    double worst = 0;
    rng_seed(&r, 2, 0);
    for (int it = 0; it < 300; it++) {
        int64_t n[3], m[3];
        double ratio[3], off[3];
        int fov = it % 2; /* odd: the field-of-view grid */
        float *v, *o;
        uint8_t *lab, *lo;
        int16_t *l16, *o16;
        for (int d = 0; d < 3; d++) {
            n[d] = 1 + (int64_t)(rng_u32(&r) % 9);
            ratio[d] = it % 7 == 0 ? 1.0 : 0.2 + 2.3 * urand(&r);
            off[d] = (ratio[d] - 1) / 2;
            m[d] = fov ? resample_fov_len(n[d], ratio[d]) : resample_grid_len(n[d], ratio[d]);
        }
        v = malloc(sizeof *v * (size_t)(n[0] * n[1] * n[2]));
        lab = malloc((size_t)(n[0] * n[1] * n[2]));
        l16 = malloc(2 * (size_t)(n[0] * n[1] * n[2]));
        o = malloc(sizeof *o * (size_t)(m[0] * m[1] * m[2]));
        lo = malloc((size_t)(m[0] * m[1] * m[2]));
        o16 = malloc(2 * (size_t)(m[0] * m[1] * m[2]));
        for (int64_t i = 0; i < n[0] * n[1] * n[2]; i++) {
            v[i] = (float)(4000 * urand(&r) - 1024);
            lab[i] = (uint8_t)(rng_u32(&r) % 8);
            l16[i] = (int16_t)(rng_u32(&r) % 60000 - 30000);
        }
        resample_linear3_f32(o, m, v, n, ratio, fov ? off : NULL);
        resample_nearest3(lo, m, lab, n, ratio, fov ? off : NULL, 1);
        resample_nearest3(o16, m, l16, n, ratio, fov ? off : NULL, 2);
        for (int64_t k = 0; k < m[0]; k++)
            for (int64_t j = 0; j < m[1]; j++)
                for (int64_t i = 0; i < m[2]; i++) {
                    double z = (double)k * ratio[0] + (fov ? off[0] : 0);
                    double y = (double)j * ratio[1] + (fov ? off[1] : 0);
                    double x = (double)i * ratio[2] + (fov ? off[2] : 0);
                    double want;
                    z = fmin(fmax(z, 0), n[0] - 1), y = fmin(fmax(y, 0), n[1] - 1), x = fmin(fmax(x, 0), n[2] - 1);
                    want = naive_lin(v, n, z, y, x);
                    int64_t p = (k * m[1] + j) * m[2] + i;
                    int64_t q = ((int64_t)floor(z + 0.5) * n[1] + (int64_t)floor(y + 0.5)) * n[2] +
                                (int64_t)floor(x + 0.5);
                    double d = fabs(o[p] - want);
                    worst = fmax(worst, d);
                    /* rounding once to float: half an ulp at 4096 is 2.4e-4 */
                    if (d > 2.5e-4)
                        fail_msg("linear (%lld,%lld,%lld) of [%lld,%lld,%lld]: %g vs %g", (long long)k,
                                 (long long)j, (long long)i, (long long)n[0], (long long)n[1], (long long)n[2],
                                 o[p], want);
                    assert_int_equal(lo[p], lab[q]);
                    assert_int_equal(o16[p], l16[q]);
                }
        free(v), free(lab), free(l16), free(o), free(lo), free(o16);
    }
    print_message("trilinear vs naive 8-corner sum: max |diff| %.3g HU (tolerance 2.5e-4)\n", worst);
}

static void test_resize2_vs_naive(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 3, 0);
    for (int it = 0; it < 200; it++) {
        int64_t ny = 1 + rng_u32(&r) % 12, nx = 1 + rng_u32(&r) % 12;
        int64_t oy = 1 + rng_u32(&r) % 20, ox = 1 + rng_u32(&r) % 20;
        float in[144], out[400];
        int32_t lin[144], lout[400];
        for (int i = 0; i < ny * nx; i++)
            in[i] = (float)urand(&r), lin[i] = (int32_t)rng_u32(&r);
        resample_linear2_f32(out, oy, ox, in, ny, nx);
        resample_nearest2(lout, oy, ox, lin, ny, nx, 4);
        for (int64_t u = 0; u < oy; u++)
            for (int64_t w = 0; w < ox; w++) {
                double cy = fmin(fmax((u + 0.5) * ny / (double)oy - 0.5, 0), ny - 1);
                double cx = fmin(fmax((w + 0.5) * nx / (double)ox - 0.5, 0), nx - 1);
                int64_t y0 = (int64_t)floor(cy), x0 = (int64_t)floor(cx);
                int64_t y1 = y0 + 1 < ny ? y0 + 1 : y0, x1 = x0 + 1 < nx ? x0 + 1 : x0;
                double ty = cy - y0, tx = cx - x0;
                double want = (in[y0 * nx + x0] * (1 - tx) + in[y0 * nx + x1] * tx) * (1 - ty) +
                              (in[y1 * nx + x0] * (1 - tx) + in[y1 * nx + x1] * tx) * ty;
                int64_t yn = (int64_t)floor(cy + 0.5), xn = (int64_t)floor(cx + 0.5);
                assert_true(fabs(out[u * ox + w] - want) < 1e-6);
                assert_int_equal(lout[u * ox + w], lin[(yn < ny ? yn : ny - 1) * nx + (xn < nx ? xn : nx - 1)]);
            }
    }
}

/* All 48 signed permutations: the volume reoriented to RAS+ has a positive
 * diagonal-dominant affine, and every voxel keeps its value and its world
 * position. */
static void test_orient_all(void **state)
{
    (void)state;
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    rng r;
    rng_seed(&r, 4, 0);
    for (int p = 0; p < 6; p++)
        for (int s = 0; s < 8; s++) {
            double A[16], C[16], rot = 0.2 * (urand(&r) - 0.5);
            int ornt[3][2];
            char code[4];
            tensor t, c;
            int64_t n[3] = {3 + p, 4 + s % 3, 5}; /* [Z,Y,X] */
            memset(A, 0, sizeof A);
            A[15] = 1;
            /* voxel axis a moves along world axis perms[p][a], sign from s */
            for (int a = 0; a < 3; a++) {
                int w = perms[p][a];
                A[w * 4 + a] = ((s >> a) & 1 ? -1 : 1) * (1.0 + a);
                A[w * 4 + 3] = 10.0 * w - 7;
            }
            /* a small rotation about z keeps the closest axes */
            {
                double R[16];
                affine_eye(R);
                R[0] = cos(rot), R[1] = -sin(rot), R[4] = sin(rot), R[5] = cos(rot);
                affine_mul(C, R, A);
                memcpy(A, C, sizeof A);
            }
            assert_int_equal(orient_ras(ornt, A), 0);
            orient_code(code, ornt);
            assert_int_equal(tensor_init(&t, DT_I32, 3, n), 0);
            for (size_t i = 0; i < tensor_numel(&t); i++)
                ((int32_t *)t.data)[i] = (int32_t)i;
            assert_int_equal(orient_apply(&c, C, &t, A, ornt), 0);
            for (int a = 0; a < 3; a++)
                assert_true(C[a * 4 + a] > 0 && fabs(C[a * 4 + a]) >= fabs(C[a * 4 + (a + 1) % 3]));
            assert_int_equal(tensor_numel(&c), tensor_numel(&t));
            for (int64_t k = 0; k < c.shape[0]; k++)
                for (int64_t j = 0; j < c.shape[1]; j++)
                    for (int64_t i = 0; i < c.shape[2]; i++) {
                        int32_t v = ((int32_t *)c.data)[(k * c.shape[1] + j) * c.shape[2] + i];
                        double vi = v % n[2], vj = (v / n[2]) % n[1], vk = v / (n[1] * n[2]);
                        double pc[3] = {(double)i, (double)j, (double)k}, po[3] = {vi, vj, vk}, wc[3], wo[3];
                        affine_apply(wc, C, pc);
                        affine_apply(wo, A, po);
                        for (int d = 0; d < 3; d++)
                            if (fabs(wc[d] - wo[d]) > 1e-9)
                                fail_msg("orientation %s: voxel moved in world space", code);
                    }
            tensor_free(&t);
            tensor_free(&c);
        }
}

/* The any-grid resampler: identity returns the input; a permuted grid
 * equals orient_apply; points beyond one voxel outside are 0. */
static void test_affine_resampler(void **state)
{
    (void)state;
    int64_t n[3] = {4, 5, 6}, m[3] = {6, 5, 4};
    float in[120], out[120];
    uint8_t lin[120], lout[120];
    double M[16];
    for (int i = 0; i < 120; i++)
        in[i] = (float)i * 0.5f, lin[i] = (uint8_t)i;
    affine_eye(M);
    resample_affine_linear_f32(out, n, in, n, M);
    resample_affine_nearest(lout, n, lin, n, M, 1);
    assert_memory_equal(out, in, sizeof in);
    assert_memory_equal(lout, lin, sizeof lin);
    /* out voxel (i,j,k) <- in voxel (x = k, y = j, z = i): swap x and z */
    memset(M, 0, sizeof M);
    M[2] = 1, M[5] = 1, M[8] = 1, M[15] = 1;
    resample_affine_nearest(lout, m, lin, n, M, 1);
    for (int64_t k = 0; k < m[0]; k++)
        for (int64_t j = 0; j < m[1]; j++)
            for (int64_t i = 0; i < m[2]; i++)
                assert_int_equal(lout[(k * m[1] + j) * m[2] + i], lin[(i * n[1] + j) * n[2] + k]);
    /* shifted by 1.5 voxels in x: the last column is 0, the one before clamps */
    affine_eye(M);
    M[3] = 1.5;
    resample_affine_nearest(lout, n, lin, n, M, 1);
    assert_int_equal(lout[5], 0);        /* x = 6.5: beyond the edge */
    assert_int_equal(lout[4], lin[5]);   /* x = 5.5: half a voxel out, edge value */
    assert_int_equal(lout[0], lin[2]);   /* x = 1.5 rounds up */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_len),
        cmocka_unit_test(test_linear_nearest_vs_naive),
        cmocka_unit_test(test_resize2_vs_naive),
        cmocka_unit_test(test_orient_all),
        cmocka_unit_test(test_affine_resampler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
