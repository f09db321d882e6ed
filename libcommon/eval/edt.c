/* edt — Felzenszwalb-Huttenlocher squared Euclidean distance transform. */
#include "eval/edt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tensor.h"

void edt_line(double *d, const double *f, int64_t n, double w, int64_t *v, double *zb)
{
    double w2 = w * w;
    int64_t k = -1;
    for (int64_t q = 0; q < n; q++) {
        if (f[q] == INFINITY)
            continue;
        /* Drop parabolas of the envelope that the new one at q hides. */
        while (k >= 0) {
            int64_t p = v[k];
            double s = ((f[q] + w2 * (double)q * (double)q) - (f[p] + w2 * (double)p * (double)p)) /
                       (2.0 * w2 * (double)(q - p));
            if (s <= zb[k]) {
                k--;
                continue;
            }
            k++;
            v[k] = q;
            zb[k] = s;
            zb[k + 1] = INFINITY;
            break;
        }
        if (k < 0) {
            k = 0;
            v[0] = q;
            zb[0] = -INFINITY;
            zb[1] = INFINITY;
        }
    }
    if (k < 0) {
        for (int64_t i = 0; i < n; i++)
            d[i] = INFINITY;
        return;
    }
    int64_t j = 0;
    for (int64_t i = 0; i < n; i++) {
        while (zb[j + 1] < (double)i)
            j++;
        double t = (double)(i - v[j]) * w;
        d[i] = t * t + f[v[j]];
    }
}

/* Pass 1 on a binary row: distance to the nearest feature by two sweeps
 * (no envelope needed), written as (w * offset)^2 like edt_line. */
static void edt_row_binary(double *d, const uint8_t *m, int64_t n, double w, int64_t *near)
{
    int64_t last = -1;
    for (int64_t i = 0; i < n; i++) {
        if (m[i])
            last = i;
        near[i] = last;
    }
    if (last < 0) {
        for (int64_t i = 0; i < n; i++)
            d[i] = INFINITY;
        return;
    }
    int64_t next = -1;
    for (int64_t i = n - 1; i >= 0; i--) {
        if (m[i])
            next = i;
        int64_t off = INT64_MAX;
        if (near[i] >= 0)
            off = i - near[i];
        if (next >= 0 && next - i < off)
            off = next - i;
        double t = (double)off * w;
        d[i] = t * t;
    }
}

int edt_sq3(double *out, const uint8_t *mask, int64_t Z, int64_t Y, int64_t X, const double spacing[3])
{
    return edt_sq3_at(out, mask, NULL, Z, Y, X, spacing);
}

int edt_sq3_at(double *out, const uint8_t *mask, const uint8_t *query, int64_t Z, int64_t Y, int64_t X,
               const double spacing[3])
{
    if (Z < 1 || Y < 1 || X < 1 || Z > (1 << 20) || Y > (1 << 20) || X > (1 << 20))
        return err_set("edt: bad grid %lldx%lldx%lld", (long long)Z, (long long)Y, (long long)X);
    const int64_t YX = Y * X;
    int64_t nmax = X > Y ? X : Y;
    if (Z > nmax)
        nmax = Z;
    /* colneed[y*X+x]: the z column (y, x) holds a query voxel; xneed[x]:
     * some column of that x does (pass 2 must then do its lines). Pass 3
     * works on a transposed [ncols, Z] copy of one y slab so that its lines
     * are contiguous. */
    uint8_t *colneed = malloc((size_t)YX), *xneed = malloc((size_t)X);
    int64_t *cols = malloc(sizeof(int64_t) * (size_t)X);
    double *t = malloc(sizeof(double) * (size_t)(X * Z));
    double *f = malloc(sizeof(double) * (size_t)nmax), *d = malloc(sizeof(double) * (size_t)nmax);
    double *zb = malloc(sizeof(double) * (size_t)(nmax + 1));
    int64_t *v = malloc(sizeof(int64_t) * (size_t)nmax);
    int rc = -1;
    if (!colneed || !xneed || !cols || !t || !f || !d || !zb || !v) {
        err_set("edt: out of memory");
        goto done;
    }
    if (query) {
        memset(colneed, 0, (size_t)YX);
        for (int64_t z = 0; z < Z; z++) {
            const uint8_t *q = query + z * YX;
            for (int64_t i = 0; i < YX; i++)
                colneed[i] |= q[i] != 0;
        }
    } else
        memset(colneed, 1, (size_t)YX);
    memset(xneed, 0, (size_t)X);
    for (int64_t i = 0; i < YX; i++)
        xneed[i % X] |= colneed[i];
    const double dz = spacing[0], dy = spacing[1], dx = spacing[2];

    /* Pass 1, along x: the binary mask gives (dx * offset)^2 directly. */
    for (int64_t r = 0; r < Z * Y; r++)
        edt_row_binary(out + r * X, mask + r * X, X, dx, v);
    /* Pass 2, along y (stride X inside one plane, which stays in cache). */
    if (Y > 1)
        for (int64_t z = 0; z < Z; z++)
            for (int64_t x = 0; x < X; x++) {
                if (!xneed[x])
                    continue;
                double *o = out + z * YX + x;
                int any = 0;
                for (int64_t y = 0; y < Y; y++) {
                    f[y] = o[y * X];
                    any |= f[y] != INFINITY;
                }
                if (!any)
                    continue;
                edt_line(d, f, Y, dy, v, zb);
                for (int64_t y = 0; y < Y; y++)
                    o[y * X] = d[y];
            }
    /* Pass 3, along z, for the needed columns of each y slab. */
    if (Z > 1)
        for (int64_t y = 0; y < Y; y++) {
            int64_t nc = 0;
            for (int64_t x = 0; x < X; x++)
                if (colneed[y * X + x])
                    cols[nc++] = x;
            if (!nc)
                continue;
            for (int64_t z = 0; z < Z; z++) {
                const double *row = out + z * YX + y * X;
                for (int64_t k = 0; k < nc; k++)
                    t[k * Z + z] = row[cols[k]];
            }
            for (int64_t k = 0; k < nc; k++) {
                double *line = t + k * Z;
                int any = 0;
                for (int64_t z = 0; z < Z && !any; z++)
                    any = line[z] != INFINITY;
                if (!any)
                    continue;
                edt_line(d, line, Z, dz, v, zb);
                memcpy(line, d, sizeof(double) * (size_t)Z);
            }
            for (int64_t z = 0; z < Z; z++) {
                double *row = out + z * YX + y * X;
                for (int64_t k = 0; k < nc; k++)
                    row[cols[k]] = t[k * Z + z];
            }
        }
    rc = 0;
done:
    free(colneed), free(xneed), free(cols), free(t), free(f), free(d), free(zb), free(v);
    return rc;
}
