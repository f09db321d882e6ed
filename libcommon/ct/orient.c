#include "ct/orient.h"

#include <math.h>
#include <string.h>

#include "core/err.h"
#include "ct/affine.h"

/* Inverse-transpose of a 3x3 matrix; -1 if singular. */
static int inv_t3(double out[9], const double m[9])
{
    double d = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
               m[2] * (m[3] * m[7] - m[4] * m[6]);
    if (!isfinite(d) || fabs(d) < 1e-300)
        return -1;
    /* inverse[r][c] = cofactor[c][r] / d, so inverse-transpose[r][c] = cofactor[r][c] / d */
    out[0] = (m[4] * m[8] - m[5] * m[7]) / d;
    out[1] = -(m[3] * m[8] - m[5] * m[6]) / d;
    out[2] = (m[3] * m[7] - m[4] * m[6]) / d;
    out[3] = -(m[1] * m[8] - m[2] * m[7]) / d;
    out[4] = (m[0] * m[8] - m[2] * m[6]) / d;
    out[5] = -(m[0] * m[7] - m[1] * m[6]) / d;
    out[6] = (m[1] * m[5] - m[2] * m[4]) / d;
    out[7] = -(m[0] * m[5] - m[2] * m[3]) / d;
    out[8] = (m[0] * m[4] - m[1] * m[3]) / d;
    return 0;
}

int orient_ras(int ornt[3][2], const double affine[16])
{
    double R[9], T[9];
    for (int c = 0; c < 3; c++) {
        double z = sqrt(affine[c] * affine[c] + affine[4 + c] * affine[4 + c] + affine[8 + c] * affine[8 + c]);
        if (!(z > 0) || !isfinite(z))
            return err_set("affine column %d has length %g (zero or non-finite voxel spacing)", c, z);
        for (int r = 0; r < 3; r++)
            R[r * 3 + c] = affine[r * 4 + c] / z;
    }
    /* Polar decomposition by Newton's iteration X <- (X + X^-T) / 2: converges
     * quadratically to the orthogonal factor (nibabel gets it from the SVD). */
    for (int it = 0; it < 100; it++) {
        double diff = 0;
        if (inv_t3(T, R))
            return err_set("affine is singular: cannot determine its orientation");
        for (int i = 0; i < 9; i++) {
            double n = 0.5 * (R[i] + T[i]);
            diff = fmax(diff, fabs(n - R[i]));
            R[i] = n;
        }
        if (diff < 1e-15)
            break;
    }
    for (int a = 0; a < 3; a++) {
        int best = 0;
        for (int r = 1; r < 3; r++)
            if (fabs(R[r * 3 + a]) > fabs(R[best * 3 + a]))
                best = r;
        if (R[best * 3 + a] == 0)
            return err_set("affine is degenerate: voxel axis %d has no direction", a);
        ornt[a][0] = best;
        ornt[a][1] = R[best * 3 + a] < 0 ? -1 : 1;
        for (int c = 0; c < 3; c++)
            R[best * 3 + c] = 0;
    }
    return 0;
}

int orient_is_identity(const int ornt[3][2])
{
    for (int a = 0; a < 3; a++)
        if (ornt[a][0] != a || ornt[a][1] != 1)
            return 0;
    return 1;
}

void orient_code(char code[4], const int ornt[3][2])
{
    static const char pos[] = "RAS", neg[] = "LPI";
    for (int a = 0; a < 3; a++)
        code[a] = ornt[a][1] > 0 ? pos[ornt[a][0]] : neg[ornt[a][0]];
    code[3] = '\0';
}

int orient_apply(tensor *out, double out_aff[16], const tensor *in, const double affine[16],
                 const int ornt[3][2])
{
    int64_t n[3], m[3], instride[3], step[3], base = 0;
    double T[16];
    size_t es = dtype_size(in->dtype);
    int seen[3] = {0, 0, 0};
    if (in->rank != 3)
        return err_set("orient: want a [Z,Y,X] volume, not rank %d", in->rank);
    for (int a = 0; a < 3; a++) {
        if (ornt[a][0] < 0 || ornt[a][0] > 2 || seen[ornt[a][0]]++ || (ornt[a][1] != 1 && ornt[a][1] != -1))
            return err_set("orient: not a permutation with flips");
    }
    /* Voxel axis a is tensor axis 2 - a. */
    n[0] = in->shape[2], n[1] = in->shape[1], n[2] = in->shape[0];
    instride[0] = 1, instride[1] = n[0], instride[2] = n[0] * n[1];
    /* T maps canonical voxel c to input voxel v: v[a] = c[o] or n[a]-1-c[o]. */
    memset(T, 0, sizeof T);
    T[15] = 1;
    for (int a = 0; a < 3; a++) {
        int o = ornt[a][0], f = ornt[a][1];
        m[o] = n[a];
        T[a * 4 + o] = f;
        T[a * 4 + 3] = f < 0 ? (double)(n[a] - 1) : 0;
        step[o] = f * instride[a];
        if (f < 0)
            base += (n[a] - 1) * instride[a];
    }
    affine_mul(out_aff, affine, T);
    if (tensor_init3(out, in->dtype, m[2], m[1], m[0]))
        return -1;
    {
        const char *src = in->data;
        char *dst = out->data;
        int64_t nz = m[2], ny = m[1], nx = m[0];
        #pragma omp parallel for schedule(static)
        for (int64_t k = 0; k < nz; k++)
            for (int64_t j = 0; j < ny; j++) {
                int64_t s = base + k * step[2] + j * step[1];
                char *d = dst + (size_t)((k * ny + j) * nx) * es;
                switch (es) {
                case 1:
                    for (int64_t i = 0; i < nx; i++)
                        ((uint8_t *)d)[i] = ((const uint8_t *)src)[s + i * step[0]];
                    break;
                case 2:
                    for (int64_t i = 0; i < nx; i++)
                        ((uint16_t *)d)[i] = ((const uint16_t *)src)[s + i * step[0]];
                    break;
                case 4:
                    for (int64_t i = 0; i < nx; i++)
                        ((uint32_t *)d)[i] = ((const uint32_t *)src)[s + i * step[0]];
                    break;
                default:
                    for (int64_t i = 0; i < nx; i++)
                        memcpy(d + (size_t)i * es, src + (size_t)(s + i * step[0]) * es, es);
                }
            }
    }
    return 0;
}
