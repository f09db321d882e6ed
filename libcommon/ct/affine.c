#include "ct/affine.h"

#include <math.h>
#include <string.h>

#include "core/err.h"

void affine_eye(double out[16])
{
    memset(out, 0, 16 * sizeof *out);
    out[0] = out[5] = out[10] = out[15] = 1;
}

void affine_mul(double out[16], const double a[16], const double b[16])
{
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            double s = 0;
            for (int k = 0; k < 4; k++)
                s += a[r * 4 + k] * b[k * 4 + c];
            out[r * 4 + c] = s;
        }
}

static double det3(const double a[16])
{
    return a[0] * (a[5] * a[10] - a[6] * a[9]) - a[1] * (a[4] * a[10] - a[6] * a[8]) +
           a[2] * (a[4] * a[9] - a[5] * a[8]);
}

int affine_inv(double out[16], const double a[16])
{
    double d = det3(a), inv[9];
    double scale = 0;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            scale = fmax(scale, fabs(a[r * 4 + c]));
    if (!isfinite(d) || scale == 0 || fabs(d) <= 1e-12 * scale * scale * scale)
        return err_set("affine is singular (determinant %g)", d);
    /* Adjugate / determinant of the 3x3 part. */
    inv[0] = (a[5] * a[10] - a[6] * a[9]) / d;
    inv[1] = (a[2] * a[9] - a[1] * a[10]) / d;
    inv[2] = (a[1] * a[6] - a[2] * a[5]) / d;
    inv[3] = (a[6] * a[8] - a[4] * a[10]) / d;
    inv[4] = (a[0] * a[10] - a[2] * a[8]) / d;
    inv[5] = (a[2] * a[4] - a[0] * a[6]) / d;
    inv[6] = (a[4] * a[9] - a[5] * a[8]) / d;
    inv[7] = (a[1] * a[8] - a[0] * a[9]) / d;
    inv[8] = (a[0] * a[5] - a[1] * a[4]) / d;
    for (int r = 0; r < 3; r++) {
        double t = 0;
        for (int c = 0; c < 3; c++) {
            out[r * 4 + c] = inv[r * 3 + c];
            t -= inv[r * 3 + c] * a[c * 4 + 3];
        }
        out[r * 4 + 3] = t;
    }
    out[12] = out[13] = out[14] = 0;
    out[15] = 1;
    return 0;
}

void affine_apply(double out[3], const double a[16], const double p[3])
{
    for (int r = 0; r < 3; r++)
        out[r] = a[r * 4 + 0] * p[0] + a[r * 4 + 1] * p[1] + a[r * 4 + 2] * p[2] + a[r * 4 + 3];
}

int affine_close(const double a[16], const double b[16], double tol)
{
    for (int i = 0; i < 16; i++)
        if (!(fabs(a[i] - b[i]) <= tol * (1 + fabs(a[i]))))
            return 0;
    return 1;
}

int affine_check(const double a[16])
{
    double tmp[16];
    for (int i = 0; i < 16; i++)
        if (!isfinite(a[i]))
            return err_set("affine has a non-finite element");
    if (a[12] != 0 || a[13] != 0 || a[14] != 0 || a[15] != 1)
        return err_set("affine's last row is not 0 0 0 1");
    for (int c = 0; c < 3; c++)
        if (a[c] == 0 && a[4 + c] == 0 && a[8 + c] == 0)
            return err_set("affine column %d is zero (zero voxel spacing)", c);
    return affine_inv(tmp, a);
}
